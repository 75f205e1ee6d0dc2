// The run's programs table: paged, sorted and filtered on the server (status, island, model,
// failure kind, text in the code), a column for every metric; pick two rows to compare them.
import { badge, debounce, el, failure, fmt, get, loading, secs, short, table, throttle, usd } from "./lib.js";
import { steerButtons } from "./steering.js";

const failureKinds = ["llm", "patch", "invalid", "duplicate", "evaluator_error", "timeout", "output_limit", "bad_metrics"];
const pageSize = 50;

export async function programsTab(body, ctx) {
  const q = { sort: "score", order: "desc", offset: 0, status: "", island: "", model: "", failure: "", text: "" };
  const select = (id, label, options, key) => {
    const s = el("select", { id, "aria-label": label }, [el("option", { value: "", text: label + ": any" })].concat(options.map((o) => el("option", { value: String(o), text: String(o) }))));
    s.addEventListener("change", () => { q[key] = s.value; q.offset = 0; load(); });
    return s;
  };
  const text = el("input", { type: "search", id: "programs-text", "data-filter": true, placeholder: "text in the code  ( / )", "aria-label": "Text in the code" });
  text.addEventListener("input", debounce(300, () => { q.text = text.value.trim(); q.offset = 0; load(); }));
  const islands = Math.max(1, ctx.run.config.population.islands);
  const compare = el("button", { type: "button", id: "compare-programs", text: "Compare selected", disabled: true });
  const picked = [];
  compare.addEventListener("click", () => { location.hash = "#/compare/" + picked[0] + "/" + picked[1]; });
  const pager = el("div", { class: "toolbar pager" });
  const steered = el("span", { class: "muted", role: "status", id: "steer-status" });
  const box = el("div", { class: "card", id: "programs-box" }, [loading("programs")]);
  body.replaceChildren(
    el("div", { class: "toolbar" }, [
      select("programs-status", "status", ["evaluated", "failed", "rejected", "pending"], "status"),
      islands > 1 ? select("programs-island", "island", Array.from({ length: islands }, (_, i) => i), "island") : null,
      ctx.run.modelNames.length > 1 ? select("programs-model", "model", ctx.run.modelNames, "model") : null,
      select("programs-failure", "failure", failureKinds, "failure"),
      text, compare, steered
    ]),
    box, pager
  );

  const onSort = (key) => {
    if (q.sort === key) q.order = q.order === "desc" ? "asc" : "desc";
    else { q.sort = key; q.order = key === "time" || key === "generation" ? "asc" : "desc"; }
    q.offset = 0;
    load();
  };
  const pick = (id, on) => {
    const i = picked.indexOf(id);
    if (on && i < 0) { picked.push(id); if (picked.length > 2) picked.shift(); }
    if (!on && i >= 0) picked.splice(i, 1);
    compare.disabled = picked.length !== 2;
    for (const c of box.querySelectorAll("input.pick")) c.checked = picked.includes(c.dataset.id);
  };

  function render(page) {
    const columns = [
      { label: "", cell: (p) => el("input", { type: "checkbox", class: "pick", "data-id": p.id, "aria-label": "Select " + p.id, checked: picked.includes(p.id), onchange: (e) => pick(p.id, e.target.checked) }) },
      { label: "Program", cls: "mono", sort: "time", cell: (p) => el("a", { href: "#/programs/" + p.id, text: short(p.id), title: p.id }) },
      { label: "Status", cell: (p) => badge(p.status) },
      { label: "Score", num: true, sort: "score", cell: (p) => fmt(p.score) },
      { label: "Gen", num: true, sort: "generation", cell: (p) => String(p.generation) },
      { label: "Island", num: true, sort: "island", cell: (p) => String(p.island) },
      { label: "Parent", cls: "mono", cell: (p) => (p.parentId ? el("a", { href: "#/programs/" + p.parentId, text: short(p.parentId) }) : "—") },
      { label: "Model", cls: "mono", cell: (p) => (p.llm ? p.llm.model : "") },
      { label: "LLM", num: true, sort: "llm_ms", cell: (p) => (p.llm ? secs(p.llm.latencyMs) : "") },
      { label: "Eval", num: true, sort: "eval_ms", cell: (p) => (p.evalMs === null ? "" : secs(p.evalMs)) },
      { label: "Cost", num: true, sort: "cost", cell: (p) => (p.llm ? usd(p.llm.usd) : "") },
      { label: "Failure", cls: "muted", cell: (p) => (p.failure ? el("span", { title: p.failure.message, text: p.failure.kind }) : "") },
      { label: "Steer", cell: (p) => steerButtons(ctx, p, (message) => { steered.textContent = message; }) }
    ].concat(page.metrics.map((m) => ({ label: m, num: true, sort: "metric:" + m, cell: (p) => fmt(p.metrics ? p.metrics[m] : null) })));
    box.replaceChildren(table(columns, page.items, {
      id: "programs-table", sort: q.sort, order: q.order, onSort,
      rowAttrs: (p) => ({ class: "program-row", "data-id": p.id }),
      onOpen: (p) => { location.hash = "#/programs/" + p.id; },
      empty: "No program matches."
    }));
    const last = Math.min(page.total, q.offset + page.items.length);
    pager.replaceChildren(
      el("span", { class: "muted", id: "programs-range", text: page.total === 0 ? "0 programs" : fmt(q.offset + 1) + "–" + fmt(last) + " of " + fmt(page.total) }),
      el("button", { type: "button", id: "programs-prev", text: "← Previous", disabled: q.offset === 0, onclick: () => { q.offset = Math.max(0, q.offset - pageSize); load(); } }),
      el("button", { type: "button", id: "programs-next", text: "Next →", disabled: last >= page.total, onclick: () => { q.offset += pageSize; load(); } })
    );
    box.dataset.total = String(page.total);
  }

  function url() {
    const params = new URLSearchParams({ limit: String(pageSize), offset: String(q.offset), sort: q.sort, order: q.order });
    for (const k of ["status", "island", "model", "failure"]) if (q[k] !== "") params.set(k, q[k]);
    if (q.text) params.set("q", q.text);
    return "/api/runs/" + encodeURIComponent(ctx.id) + "/programs?" + params;
  }
  let seq = 0;
  // Answers can arrive out of order while typing: only the latest request renders. The table
  // stays while the next page loads; a sort button keeps the focus.
  const load = async () => {
    const mine = ++seq;
    const sorting = document.activeElement && document.activeElement.classList.contains("sort");
    box.classList.add("busy");
    try {
      const page = await get(url());
      if (mine !== seq) return;
      render(page);
      if (sorting) { const b = box.querySelector('button.sort[data-sort="' + q.sort + '"]'); if (b) b.focus(); }
    } catch (e) { if (mine === seq) box.replaceChildren(failure(e, load)); }
    finally { if (mine === seq) box.classList.remove("busy"); }
  };
  const live = throttle(4000, () => get(url()).then((page) => { if (document.activeElement === document.body || !box.contains(document.activeElement)) render(page); }, () => {}));
  for (const type of ["CandidateEvaluated", "CandidateFailed"]) ctx.on(type, live);
  await load();
}
