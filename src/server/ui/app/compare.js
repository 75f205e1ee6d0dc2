// Comparisons: two programs (their figures side by side and the diff from one to the other), and
// several runs (their score curves on one plot, against evaluation number or time).
import { chart } from "./charts.js";
import { ApiError, badge, el, fmt, get, loading, notFound, palette, short, table, view } from "./lib.js";
import { drawDiff } from "./program.js";

export async function compareProgramsPage(a, b) {
  // The page draws into this route's view; a later route swaps in another (see main.js).
  const root = view();
  root.replaceChildren(el("h1", { text: "Compare programs" }), loading("programs"));
  let from, to, diff;
  try {
    [from, to, diff] = await Promise.all([
      get("/api/programs/" + encodeURIComponent(a)), get("/api/programs/" + encodeURIComponent(b)),
      get("/api/programs/" + encodeURIComponent(b) + "/diff?against=" + encodeURIComponent(a))
    ]);
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) return notFound("Program", e.data && e.data.programId ? e.data.programId : a + " or " + b, root);
    return root.replaceChildren(el("h1", { text: "Compare programs" }), el("div", { class: "error-box", role: "alert", text: e.message }));
  }
  const names = [...new Set(Object.keys(from.metrics || {}).concat(Object.keys(to.metrics || {})))].sort();
  const rows = [{ name: "score", a: from.score, b: to.score }, { name: "generation", a: from.generation, b: to.generation }, { name: "island", a: from.island, b: to.island }]
    .concat(names.map((n) => ({ name: n, a: from.metrics ? from.metrics[n] : null, b: to.metrics ? to.metrics[n] : null })));
  const head = (p) => el("span", null, [el("a", { href: "#/programs/" + p.id, class: "mono", text: short(p.id), title: p.id }), " ", badge(p.status)]);
  const diffBox = el("div", { id: "compare-diff" });
  root.replaceChildren(
    el("h1", { text: "Compare programs" }),
    el("div", { class: "toolbar" }, [head(from), " → ", head(to), el("a", { href: "#/compare/" + b + "/" + a, text: "swap" })]),
    el("div", { class: "card" }, [table([
      { label: "", cls: "mono", cell: (r) => r.name },
      { label: short(from.id), num: true, cell: (r) => fmt(r.a) },
      { label: short(to.id), num: true, cell: (r) => fmt(r.b) },
      { label: "change", num: true, cell: (r) => (typeof r.a === "number" && typeof r.b === "number" ? (r.b - r.a >= 0 ? "+" : "") + fmt(r.b - r.a) : "") }
    ], rows, { id: "compare-table" })]),
    el("h2", { text: "Diff" }), diffBox
  );
  if (diff.diff.includes("@@")) await drawDiff(diffBox, diff.diff);
  else diffBox.append(el("p", { class: "muted", id: "same-code", text: "The two programs have the same code." }));
}

export async function compareRunsPage(ids) {
  // The page draws into this route's view; a later route swaps in another (see main.js).
  const root = view();
  root.replaceChildren(el("h1", { text: "Compare runs" }), loading("runs"));
  let runs;
  try { runs = await get("/api/compare?runs=" + ids.map(encodeURIComponent).join(",")); }
  catch (e) {
    if (e instanceof ApiError && e.status === 404) return notFound("Run", e.data && e.data.runId ? e.data.runId : ids.join(", "), root);
    return root.replaceChildren(el("h1", { text: "Compare runs" }), el("div", { class: "error-box", role: "alert", text: e.message }));
  }
  const xAxis = el("select", { id: "compare-x", "aria-label": "X axis" }, [el("option", { value: "n", text: "evaluation #" }), el("option", { value: "time", text: "time" })]);
  const plotBox = el("div", { id: "compare-plot", class: "plot" });
  root.replaceChildren(
    el("h1", { text: "Compare runs" }),
    el("div", { class: "card" }, [el("div", { class: "title-row" }, [el("h2", { text: "Best score so far" }), el("div", { class: "toolbar" }, [el("label", { text: "against" }), xAxis])]), plotBox]),
    el("div", { class: "card" }, [table([
      { label: "", cell: (r) => el("i", { class: "swatch", style: "background:" + palette[runs.indexOf(r) % palette.length] }) },
      { label: "Run", cls: "mono", cell: (r) => el("a", { href: "#/runs/" + r.runId, text: short(r.runId), title: r.runId }) },
      { label: "Goal", cls: "goal", cell: (r) => el("span", { title: r.goal, text: r.goal }) },
      { label: "Status", cell: (r) => badge(r.status) },
      { label: "Evaluations", num: true, cell: (r) => fmt(r.points.length) },
      { label: "Best", num: true, cell: (r) => fmt(r.points.length ? r.points[r.points.length - 1].best : null) }
    ], runs, { id: "compare-runs-table" })])
  );
  let plot = null;
  const draw = () => {
    const time = xAxis.value === "time";
    // One x axis for all runs: the union of their x values, each run's best carried forward.
    const xs = [...new Set(runs.flatMap((r) => r.points.map((p) => (time ? p.t / 1000 : p.n))))].sort((p, q) => p - q);
    const ys = runs.map((r) => {
      const at = new Map(r.points.map((p) => [time ? p.t / 1000 : p.n, p.best]));
      let last = null;
      return xs.map((x) => { if (at.has(x)) last = at.get(x); return x > (time ? r.points.at(-1)?.t / 1000 : r.points.length) ? null : last; });
    });
    if (plot) plot.destroy();
    plotBox.replaceChildren();
    plot = chart(plotBox, { label: time ? "seconds since start" : "evaluation #" }, runs.map((r, i) => ({ label: short(r.runId), color: palette[i % palette.length], kind: "step" })), [xs].concat(ys), { yLabel: "best score", height: 320 });
    plotBox.dataset.runs = String(runs.length);
  };
  xAxis.addEventListener("change", draw);
  draw();
}
