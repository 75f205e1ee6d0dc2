// The runs dashboard: every run with its goal, model(s), status, best score, cost and start;
// filter, archive / delete (with confirmation), and pick runs to compare.
import { api, badge, confirmDialog, el, every, failure, fmt, get, loading, put, short, table, usd, view, when } from "./lib.js";

export function dashboard() {
  const state = { runs: null, selected: new Set(), showArchived: false, text: "", status: "" };
  const filter = el("input", { type: "search", id: "runs-filter", "data-filter": true, placeholder: "Filter: id, goal, program, model  ( / )", "aria-label": "Filter runs" });
  const statusSelect = el("select", { id: "runs-status", "aria-label": "Status" },
    ["", "running", "stopping", "completed", "interrupted", "failed"].map((s) => el("option", { value: s, text: s || "any status" })));
  const archived = el("input", { type: "checkbox", id: "show-archived" });
  const compare = el("button", { type: "button", id: "compare-runs", disabled: true, text: "Compare selected" });
  const message = el("span", { class: "error", role: "status" });
  const box = el("div", { class: "card" }, [loading("runs")]);

  filter.addEventListener("input", () => { state.text = filter.value.trim().toLowerCase(); render(); });
  statusSelect.addEventListener("change", () => { state.status = statusSelect.value; render(); });
  archived.addEventListener("change", () => { state.showArchived = archived.checked; render(); });
  compare.addEventListener("click", () => { location.hash = "#/compare-runs/" + [...state.selected].join(","); });

  view().replaceChildren(
    el("div", { class: "title-row" }, [el("h1", { text: "Runs" }), el("a", { class: "button primary", href: "#/new", id: "new-run-link", text: "New run" })]),
    el("div", { class: "toolbar" }, [filter, statusSelect, el("label", { class: "check" }, [archived, " show archived"]), compare, message]),
    box
  );

  const matches = (r) => {
    if (r.archived && !state.showArchived) return false;
    if (state.status && (r.paused ? "paused" : r.status) !== state.status && r.status !== state.status) return false;
    if (!state.text) return true;
    return [r.id, r.goal, r.program, r.evaluator, r.modelNames.join(" ")].some((s) => s.toLowerCase().includes(state.text));
  };

  async function act(r, what) {
    message.textContent = "";
    try {
      if (what === "delete") {
        const ok = await confirmDialog("Delete run " + r.id + " with its " + fmt(r.evaluated + r.failed + r.pending) + " programs? This cannot be undone.", "Delete run");
        if (!ok) return;
        await api("DELETE", "/api/runs/" + encodeURIComponent(r.id));
        state.selected.delete(r.id);
      } else await api("POST", "/api/runs/" + encodeURIComponent(r.id) + "/archive", { archived: what === "archive" });
      await refresh();
    } catch (e) { message.textContent = e.message; }
  }

  function render() {
    if (!state.runs) return;
    const rows = state.runs.filter(matches);
    compare.disabled = state.selected.size < 2;
    const hidden = state.runs.filter((r) => r.archived).length;
    put(box, table([
      { label: "", cell: (r) => el("input", { type: "checkbox", class: "pick", "aria-label": "Select " + r.id, checked: state.selected.has(r.id), onchange: (e) => { if (e.target.checked) state.selected.add(r.id); else state.selected.delete(r.id); compare.disabled = state.selected.size < 2; } }) },
      { label: "Run", cls: "mono", cell: (r) => el("a", { href: "#/runs/" + r.id, text: short(r.id) + (r.archived ? " (archived)" : ""), title: r.id }) },
      { label: "Goal", cls: "goal", cell: (r) => el("span", { title: r.goal, text: r.goal }) },
      { label: "Model(s)", cls: "mono", cell: (r) => r.modelNames.join(", ") },
      { label: "Status", cell: (r) => badge(r.paused ? "paused" : r.status) },
      { label: "Evaluations", num: true, cell: (r) => fmt(r.evaluations) + " / " + fmt(r.maxEvaluations) },
      { label: "Best", num: true, cell: (r) => fmt(r.bestScore) },
      { label: "Cost", num: true, cell: (r) => usd(r.usd) },
      { label: "Started", cell: (r) => when(r.createdAt) },
      { label: "", cell: (r) => el("span", { class: "row-actions" }, [
        el("button", { type: "button", class: "small archive", text: r.archived ? "Unarchive" : "Archive", onclick: () => act(r, r.archived ? "unarchive" : "archive") }),
        el("button", { type: "button", class: "small danger delete", text: "Delete", disabled: r.active, title: r.active ? "stop the run first" : null, onclick: () => act(r, "delete") })
      ]) }
    ], rows, {
      id: "runs-table",
      rowAttrs: (r) => ({ class: "run-row", "data-id": r.id }),
      onOpen: (r) => { location.hash = "#/runs/" + r.id; },
      empty: state.runs.length === 0 ? "No runs yet: start one with New run." : "No run matches the filter."
    }), hidden > 0 && !state.showArchived ? el("p", { class: "muted small", text: hidden + " archived run(s) hidden." }) : null);
  }

  async function refresh() {
    try {
      const runs = await get("/api/runs");
      // Re-render only on a change, so focus and selection survive the polling.
      if (JSON.stringify(runs) === JSON.stringify(state.runs)) return;
      state.runs = runs;
      render();
    } catch (e) {
      if (!state.runs) box.replaceChildren(failure(e, refresh));
    }
  }
  refresh();
  every(3000, refresh);
}
