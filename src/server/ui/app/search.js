// The search's state: islands (size, best, stall), the MAP-Elites grid as a heat-map, the Pareto
// front when the run has several objectives; and the LLM side: calls per model over time, usage,
// and the model bandit's record.
import { chart, heatmap, scatter } from "./charts.js";
import { el, every, fill, fmt, get, palette, short, table, throttle, usd } from "./lib.js";

const openProgram = (id) => { location.hash = "#/programs/" + id; };

export async function searchTab(body, ctx) {
  const id = encodeURIComponent(ctx.id);
  const islandsBox = el("div", { class: "card", id: "islands" });
  const gridBox = el("div", { class: "card", id: "map-elites" });
  const paretoBox = el("div", { class: "card", id: "pareto" });
  const adaptiveBox = el("div", { class: "card", id: "adaptive" });
  body.replaceChildren(el("h2", { text: "Islands" }), islandsBox, el("h2", { text: "Adaptive search" }), adaptiveBox,
    el("h2", { text: "MAP-Elites grid" }), gridBox, el("h2", { text: "Pareto front" }), paretoBox);

  // Adaptive search (issue 17): the latest meta-note, and every decision with its reason, newest first.
  const adaptive = () => fill(adaptiveBox, () => get("/api/runs/" + id + "/decisions"), (rows) => {
    const note = rows.filter((d) => d.kind === "note_written").at(-1);
    adaptiveBox.dataset.decisions = String(rows.length);
    adaptiveBox.append(
      note ? el("div", { id: "meta-note" }, [el("p", { class: "muted", text: "Meta-note after " + fmt(note.evaluations) + " evaluations (it goes into later prompts):" }), el("pre", { class: "note", text: note.note })])
        : el("p", { class: "muted", id: "meta-note", text: "No meta-note yet (every search.meta_note_every evaluations; none with search.adaptive: false)." }),
      table([
        { label: "Evaluations", num: true, cell: (d) => fmt(d.evaluations) },
        { label: "Decision", cell: (d) => d.kind.replace(/_/g, " ") },
        { label: "Island", num: true, cell: (d) => (d.island === null ? "all" : String(d.island)) },
        { label: "Why", cell: (d) => d.reason }
      ], rows.slice().reverse(), { id: "decisions-table", empty: "No decision yet: no island has stalled." })
    );
  }, "adaptive search");
  ctx.on("SearchAdapted", throttle(1000, adaptive));

  const islands = () => fill(islandsBox, () => get("/api/runs/" + id + "/islands"), (rows) => {
    islandsBox.replaceChildren(table([
      { label: "Island", num: true, cell: (i) => String(i.island) },
      { label: "Programs", num: true, cell: (i) => fmt(i.programs) },
      { label: "Scored", num: true, cell: (i) => fmt(i.evaluated) },
      { label: "Failed", num: true, cell: (i) => fmt(i.failed) },
      { label: "Pending", num: true, cell: (i) => fmt(i.pending) },
      { label: "Best", num: true, cell: (i) => fmt(i.best) },
      { label: "Best program", cls: "mono", cell: (i) => (i.bestProgramId ? el("a", { href: "#/programs/" + i.bestProgramId, text: short(i.bestProgramId) }) : "—") },
      { label: "Evaluations since its best", num: true, cell: (i) => fmt(i.sinceImprovement) },
      { label: "Migrants in", num: true, cell: (i) => fmt(i.migrantsIn) }
    ], rows, { id: "islands-table", empty: "No programs yet." }));
  }, "islands");

  const grid = () => fill(gridBox, () => get("/api/runs/" + id + "/map-elites"), (g) => {
    if (g.features.length === 0) return gridBox.append(el("p", { class: "muted", text: "This run has no MAP-Elites grid (population.map_elites)." }));
    const names = g.features.map((f) => f.name);
    const pick = (sid, label, index) => el("select", { id: sid, "aria-label": label }, names.map((n, i) => el("option", { value: String(i), text: label + ": " + n, selected: i === index })));
    const fx = pick("grid-x", "x", 0), fy = pick("grid-y", "y", Math.min(1, names.length - 1));
    const islandsOf = [...new Set(g.cells.map((c) => c.island))].sort((a, b) => a - b);
    const island = el("select", { id: "grid-island", "aria-label": "Island" }, [el("option", { value: "", text: "all islands (best)" })].concat(islandsOf.map((i) => el("option", { value: String(i), text: "island " + i }))));
    const canvas = el("div", { class: "scroll" });
    const draw = () => {
      const x = Number(fx.value), y = Number(fy.value), only = island.value === "" ? null : Number(island.value);
      // Cells projected onto the two chosen features: each keeps its best elite.
      const best = new Map();
      for (const c of g.cells) {
        if (only !== null && c.island !== only) continue;
        const key = c.coordinates[x] + ":" + (names.length > 1 ? c.coordinates[y] : 0);
        const cur = best.get(key);
        if (!cur || c.score > cur.score) best.set(key, { x: c.coordinates[x], y: names.length > 1 ? c.coordinates[y] : 0, score: c.score, programId: c.programId });
      }
      const bins = [g.features[x].bins, names.length > 1 ? g.features[y].bins : 1];
      canvas.replaceChildren(heatmap([...best.values()], bins, [names[x], names.length > 1 ? names[y] : ""], openProgram));
      gridBox.dataset.cells = String(best.size);
    };
    for (const s of [fx, fy, island]) s.addEventListener("change", draw);
    gridBox.append(el("div", { class: "toolbar" }, [fx, names.length > 1 ? fy : null, islandsOf.length > 1 ? island : null,
      el("span", { class: "muted", text: g.cells.length + " occupied cells; colour: elite score; click a cell for its elite" })]), canvas);
    draw();
  }, "the grid");

  const pareto = () => fill(paretoBox, () => get("/api/runs/" + id + "/pareto"), (columns) => {
    const p = { objectives: columns.objectives, front: columns.front, points: columns.programId.map((programId, i) => ({ programId, score: columns.score[i], values: columns.values.map((v) => v[i]) })) };
    if (p.objectives.length < 2) return paretoBox.append(el("p", { class: "muted", text: "A Pareto front needs several objectives (population.objectives)." }));
    const names = p.objectives.map((o) => o.metric + (o.direction === "minimize" ? " (min)" : " (max)"));
    const pick = (sid, index) => el("select", { id: sid, "aria-label": "objective" }, names.map((n, i) => el("option", { value: String(i), text: n, selected: i === index })));
    const ox = pick("pareto-x", 0), oy = pick("pareto-y", 1);
    const plot = el("div");
    const draw = () => {
      const a = Number(ox.value), b = Number(oy.value);
      const pts = p.points.filter((q) => q.values[a] !== null && q.values[b] !== null).map((q) => ({ programId: q.programId, x: q.values[a], y: q.values[b] }));
      plot.replaceChildren(pts.length ? scatter(pts, p.front, [names[a], names[b]], openProgram) : el("p", { class: "muted", text: "No program reported both objectives." }));
    };
    for (const s of [ox, oy]) s.addEventListener("change", draw);
    paretoBox.dataset.front = String(p.front.length);
    paretoBox.append(el("div", { class: "toolbar" }, [ox, oy, el("span", { class: "muted", text: p.front.length + (p.front.length === 1 ? " program" : " programs") + " on the front (red), over all objectives" })]), plot,
      table([
        { label: "Front program", cls: "mono", cell: (q) => el("a", { href: "#/programs/" + q.programId, text: short(q.programId) }) },
        { label: "Score", num: true, cell: (q) => fmt(q.score) }
      ].concat(names.map((n, i) => ({ label: n, num: true, cell: (q) => fmt(q.values[i]) }))), p.points.filter((q) => p.front.includes(q.programId)), { id: "pareto-table" }));
    draw();
  }, "the front");

  every(10000, () => { if (ctx.run.active) islands(); });
  await Promise.all([islands(), adaptive(), grid(), pareto()]);
}

export async function llmTab(body, ctx) {
  const id = encodeURIComponent(ctx.id);
  const usageBox = el("div", { class: "card", id: "models-usage" });
  const timeBox = el("div", { class: "card" });
  const armsBox = el("div", { class: "card", id: "bandit" });
  body.replaceChildren(el("h2", { text: "Usage per model" }), usageBox, el("h2", { text: "Calls per model over time" }), timeBox, el("h2", { text: "Model selection" }), armsBox);
  usageBox.append(table([
    { label: "Model", cls: "mono", cell: (m) => m.model },
    { label: "Calls", num: true, cell: (m) => fmt(m.calls) },
    { label: "Errors", num: true, cell: (m) => fmt(m.errors) },
    { label: "Input tokens", num: true, cell: (m) => fmt(m.inputTokens) },
    { label: "Output tokens", num: true, cell: (m) => fmt(m.outputTokens) },
    { label: "USD", num: true, cell: (m) => usd(m.usd) }
  ], ctx.run.models, { id: "models-table", empty: "No LLM calls yet." }));

  const plotBox = el("div", { class: "plot", id: "models-plot" });
  await fill(armsBox, () => get("/api/runs/" + id + "/models?buckets=60"), (m) => {
    timeBox.replaceChildren(plotBox);
    const xs = m.models.length ? m.models[0].calls.map((_, i) => ((i + 0.5) * m.bucketMs) / 1000) : [];
    if (xs.length) chart(plotBox, { label: "seconds since start" }, m.models.map((s, i) => ({ label: s.model, color: palette[i % palette.length], kind: "line" })),
      [xs].concat(m.models.map((s) => s.calls)), { yLabel: "calls per " + Math.max(1, Math.round(m.bucketMs / 1000)) + " s", height: 220 });
    else plotBox.append(el("p", { class: "muted", text: "No LLM calls yet." }));
    armsBox.append(
      el("p", { class: "muted", text: m.selection === "bandit"
        ? "Cost-aware UCB bandit: the index is (mean improvement + exploration bonus) / relative cost; the highest is picked next."
        : "Weighted selection: each call picks a model in proportion to its weight. The record below is what a bandit would learn from." }),
      table([
        { label: "Model", cls: "mono", cell: (a) => a.model },
        { label: "Weight", num: true, cell: (a) => fmt(a.weight) },
        { label: "Outcomes", num: true, cell: (a) => fmt(a.outcomes) },
        { label: "Mean improvement", num: true, cell: (a) => fmt(a.meanImprovement, 4) },
        { label: "Mean USD", num: true, cell: (a) => usd(a.meanUsd) },
        { label: "Index", num: true, cell: (a) => fmt(a.index, 4) }
      ], m.arms, { id: "bandit-table" })
    );
  }, "models");
}
