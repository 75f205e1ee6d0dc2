// The lineage graph: every program of the run (failed and rejected too, toggleable) laid out as
// a tree (d3-hierarchy's tidy tree, linear time: 10,000 programs lay out in ~0.1 s) and drawn on
// a canvas, only what is in view; coloured by score, island or status; the path to the best
// program highlighted. Wheel or +/- zoom, drag or arrows pan, click selects, double-click or
// Enter opens; with a selection the arrows walk the tree (parent, child, siblings).
import { stratify, tree } from "d3-hierarchy";
import { badge, el, fmt, get, listen, palette, ramp, short, statusColour, throttle } from "./lib.js";

const DX = 12, DY = 56, ROOT = "\u0000root";

function layout(nodes, showFailed, onPath) {
  const kept = showFailed ? nodes : nodes.filter((n) => n.status === "evaluated" || n.status === "pending" || onPath.has(n.id));
  const ids = new Set(kept.map((n) => n.id));
  const rows = [{ id: ROOT, parentId: null }].concat(kept.map((n) => ({ id: n.id, parentId: n.parentId !== null && ids.has(n.parentId) ? n.parentId : ROOT })));
  const root = tree().nodeSize([DX, DY]).separation((a, b) => (a.parent === b.parent ? 1 : 1.6))(stratify().id((d) => d.id).parentId((d) => d.parentId)(rows));
  const index = new Map(kept.map((n, i) => [n.id, i]));
  const n = kept.length, x = new Float64Array(n), y = new Float64Array(n), parent = new Int32Array(n).fill(-1);
  const children = Array.from({ length: n }, () => []);
  root.each((d) => {
    if (d.id === ROOT) return;
    const i = index.get(d.id);
    x[i] = d.x;
    y[i] = (d.depth - 1) * DY;
    if (d.parent && d.parent.id !== ROOT) parent[i] = index.get(d.parent.id);
  });
  for (let i = 0; i < n; i++) if (parent[i] >= 0) children[parent[i]].push(i);
  for (const c of children) c.sort((a, b) => x[a] - x[b]);
  let x0 = Infinity, x1 = -Infinity, y1 = 0;
  for (let i = 0; i < n; i++) { x0 = Math.min(x0, x[i]); x1 = Math.max(x1, x[i]); y1 = Math.max(y1, y[i]); }
  // A coarse grid of node indices, for hit tests.
  const cell = DX * 4, grid = new Map();
  for (let i = 0; i < n; i++) {
    const key = Math.floor(x[i] / cell) + ":" + Math.floor(y[i] / cell);
    (grid.get(key) || grid.set(key, []).get(key)).push(i);
  }
  return { nodes: kept, index, x, y, parent, children, grid, cell, box: n ? [x0, 0, x1, y1] : [0, 0, 0, 0] };
}

function colours(g, mode) {
  const scores = g.nodes.filter((n) => n.score !== null).map((n) => n.score);
  const lo = Math.min(...scores), hi = Math.max(...scores);
  const of = (n) => {
    if (mode === "island") return palette[n.island % palette.length];
    if (mode === "status" || n.score === null) return statusColour[n.status] || "#9ca3af";
    return ramp(hi > lo ? Math.round(((n.score - lo) / (hi - lo)) * 15) / 15 : 1);
  };
  const buckets = new Map();
  g.nodes.forEach((n, i) => { const c = of(n); (buckets.get(c) || buckets.set(c, []).get(c)).push(i); });
  return { buckets, lo, hi };
}

export async function lineageTab(body, ctx) {
  const colourBy = el("select", { id: "lineage-colour", "aria-label": "Colour by" }, ["score", "island", "status"].map((m) => el("option", { value: m, text: "colour: " + m })));
  const showFailed = el("input", { type: "checkbox", id: "lineage-failed", checked: true });
  const find = el("input", { type: "search", id: "lineage-find", placeholder: "find program id", "aria-label": "Find a program", class: "narrow-wide" });
  const canvas = el("canvas", { id: "lineage-canvas", tabindex: "0", role: "img", "aria-label": "Lineage graph: arrows to walk or pan, + and - to zoom, f to fit, b for the best program, Enter to open" });
  const tip = el("div", { class: "tip", hidden: true });
  const panel = el("div", { class: "lineage-panel", id: "lineage-panel" }, [el("p", { class: "muted", text: "Click a program (or press b for the best one)." })]);
  const legend = el("div", { class: "legend", id: "lineage-legend" });
  const status = el("span", { class: "muted", id: "lineage-count" });
  const wrap = el("div", { class: "canvas-wrap" }, [canvas, tip]);
  body.replaceChildren(
    el("div", { class: "toolbar" }, [colourBy, el("label", { class: "check" }, [showFailed, " failed and rejected"]), find,
      el("button", { type: "button", id: "lineage-fit", text: "Fit", onclick: () => { fit(); schedule(); } }),
      el("button", { type: "button", id: "lineage-best", text: "Best", onclick: () => select(state.bestIndex(), true) }), status]),
    el("div", { class: "lineage" }, [wrap, panel]), legend
  );

  const state = { data: null, g: null, colours: null, onPath: new Set(), k: 1, tx: 0, ty: 0, selected: -1, touched: false, drawMax: 0, draws: 0,
    bestIndex() { return state.g && state.data.bestId !== null ? state.g.index.get(state.data.bestId) ?? -1 : -1; } };
  const c2d = canvas.getContext("2d");
  let W = 0, H = 0, frame = 0;

  function size() {
    const dpr = window.devicePixelRatio || 1;
    W = wrap.clientWidth; H = Math.max(360, Math.min(720, window.innerHeight - 260));
    canvas.width = Math.round(W * dpr); canvas.height = Math.round(H * dpr);
    canvas.style.width = W + "px"; canvas.style.height = H + "px";
    c2d.setTransform(dpr, 0, 0, dpr, 0, 0);
  }
  function fit() {
    const [x0, y0, x1, y1] = state.g.box;
    state.k = Math.min(2, (W - 40) / Math.max(1, x1 - x0 + DX), (H - 40) / Math.max(1, y1 - y0 + DY));
    state.tx = W / 2 - ((x0 + x1) / 2) * state.k;
    state.ty = 20 - y0 * state.k;
  }
  const schedule = () => { if (!frame) frame = requestAnimationFrame(draw); };

  function draw() {
    frame = 0;
    const t0 = performance.now();
    const { g, k, tx, ty } = state;
    c2d.clearRect(0, 0, W, H);
    if (!g) return;
    const { x, y, parent } = g, n = g.nodes.length;
    const X = (i) => x[i] * k + tx, Y = (i) => y[i] * k + ty;
    const vis = (sx, sy) => sx > -8 && sx < W + 8 && sy > -8 && sy < H + 8;
    const mid = (DY / 2) * k;
    c2d.lineWidth = k > 0.5 ? 1 : 0.6;
    c2d.strokeStyle = "#c7ced9";
    c2d.beginPath();
    for (let i = 0; i < n; i++) {
      const p = parent[i];
      if (p < 0) continue;
      const cx = X(i), cy = Y(i), px = X(p), py = Y(p);
      if ((cx < 0 && px < 0) || (cx > W && px > W) || cy < 0 || py > H) continue;
      c2d.moveTo(px, py); c2d.lineTo(px, cy - mid); c2d.lineTo(cx, cy - mid); c2d.lineTo(cx, cy);
    }
    c2d.stroke();
    const r = Math.max(1.2, Math.min(5, k * 3.2));
    for (const [colour, members] of state.colours.buckets) {
      c2d.fillStyle = colour;
      c2d.beginPath();
      for (const i of members) {
        const sx = X(i), sy = Y(i);
        if (!vis(sx, sy)) continue;
        if (r > 2.5) { c2d.moveTo(sx + r, sy); c2d.arc(sx, sy, r, 0, 2 * Math.PI); } else c2d.rect(sx - r, sy - r, 2 * r, 2 * r);
      }
      c2d.fill();
    }
    // The path to the best program, on top.
    const path = state.data.bestPath.map((id) => g.index.get(id)).filter((i) => i !== undefined);
    if (path.length) {
      c2d.strokeStyle = "#f97316"; c2d.lineWidth = 2.5;
      c2d.beginPath();
      path.forEach((i, j) => { if (j) { const p = path[j - 1]; c2d.moveTo(X(p), Y(p)); c2d.lineTo(X(p), Y(i) - mid); c2d.lineTo(X(i), Y(i) - mid); c2d.lineTo(X(i), Y(i)); } });
      c2d.stroke();
      const b = path[path.length - 1];
      c2d.beginPath(); c2d.arc(X(b), Y(b), r + 4, 0, 2 * Math.PI); c2d.stroke();
    }
    if (state.selected >= 0) {
      c2d.strokeStyle = "#111827"; c2d.lineWidth = 2;
      c2d.beginPath(); c2d.arc(X(state.selected), Y(state.selected), r + 3, 0, 2 * Math.PI); c2d.stroke();
    }
    const ms = performance.now() - t0;
    state.draws++;
    state.drawMax = Math.max(state.drawMax, ms);
    Object.assign(canvas.dataset, { drawMs: ms.toFixed(2), drawMaxMs: state.drawMax.toFixed(2), draws: String(state.draws) });
  }

  function hit(sx, sy) {
    const { g, k, tx, ty } = state;
    if (!g) return -1;
    const wx = (sx - tx) / k, wy = (sy - ty) / k, reach = Math.max(7, 3.2 * k + 4) / k;
    let best = -1, bestD = reach * reach;
    const c0 = Math.floor((wx - reach) / g.cell), c1 = Math.floor((wx + reach) / g.cell);
    const r0 = Math.floor((wy - reach) / g.cell), r1 = Math.floor((wy + reach) / g.cell);
    for (let cx = c0; cx <= c1; cx++) for (let cy = r0; cy <= r1; cy++) {
      for (const i of g.grid.get(cx + ":" + cy) || []) {
        const d = (g.x[i] - wx) ** 2 + (g.y[i] - wy) ** 2;
        if (d < bestD) { bestD = d; best = i; }
      }
    }
    return best;
  }

  const open = (i) => { if (i >= 0) location.hash = "#/programs/" + state.g.nodes[i].id; };
  function select(i, reveal) {
    state.selected = i;
    if (i < 0) return schedule();
    const n = state.g.nodes[i];
    if (reveal) {
      const sx = state.g.x[i] * state.k + state.tx, sy = state.g.y[i] * state.k + state.ty;
      if (sx < 20 || sx > W - 20 || sy < 20 || sy > H - 20) { if (state.k < 0.6) state.k = 1; state.tx = W / 2 - state.g.x[i] * state.k; state.ty = H / 2 - state.g.y[i] * state.k; }
    }
    const best = state.data.bestId;
    panel.replaceChildren(
      el("h3", null, [el("a", { href: "#/programs/" + n.id, class: "mono", text: short(n.id), title: n.id })]),
      el("div", { class: "kv" }, [
        el("div", { text: "status" }), el("div", null, [badge(n.status)]),
        el("div", { text: "score" }), el("div", { text: fmt(n.score) }),
        el("div", { text: "generation" }), el("div", { text: String(n.generation) }),
        el("div", { text: "island" }), el("div", { text: String(n.island) }),
        el("div", { text: "children" }), el("div", { text: String(state.g.children[i].length) }),
        n.failureKind ? el("div", { text: "failure" }) : null, n.failureKind ? el("div", { text: n.failureKind }) : null
      ]),
      el("div", { class: "toolbar" }, [
        el("button", { type: "button", class: "primary", id: "lineage-open", text: "Open program", onclick: () => open(i) }),
        best && best !== n.id ? el("a", { href: "#/compare/" + best + "/" + n.id, text: "compare with best" }) : null
      ])
    );
    panel.dataset.id = n.id;
    schedule();
  }

  function keys(e) {
    const g = state.g, s = state.selected;
    let handled = true;
    const pan = (dx, dy) => { state.tx += dx; state.ty += dy; schedule(); };
    const zoom = (f) => { state.k *= f; state.tx = W / 2 - (W / 2 - state.tx) * f; state.ty = H / 2 - (H / 2 - state.ty) * f; state.touched = true; schedule(); };
    if (e.key === "+" || e.key === "=") zoom(1.25);
    else if (e.key === "-") zoom(0.8);
    else if (e.key === "f" || e.key === "0") { fit(); schedule(); }
    else if (e.key === "b") select(state.bestIndex(), true);
    else if (e.key === "Enter") open(s);
    else if (e.key === "Escape") select(-1);
    else if (s >= 0 && e.key === "ArrowUp") { if (g.parent[s] >= 0) select(g.parent[s], true); }
    else if (s >= 0 && e.key === "ArrowDown") { if (g.children[s].length) select(g.children[s][0], true); }
    else if (s >= 0 && (e.key === "ArrowLeft" || e.key === "ArrowRight")) {
      const sibs = g.parent[s] >= 0 ? g.children[g.parent[s]] : [s];
      const j = sibs.indexOf(s) + (e.key === "ArrowLeft" ? -1 : 1);
      if (j >= 0 && j < sibs.length) select(sibs[j], true);
    } else if (e.key === "ArrowLeft") pan(60, 0);
    else if (e.key === "ArrowRight") pan(-60, 0);
    else if (e.key === "ArrowUp") pan(0, 60);
    else if (e.key === "ArrowDown") pan(0, -60);
    else handled = false;
    if (handled) { e.preventDefault(); e.stopPropagation(); }
  }

  canvas.addEventListener("keydown", keys);
  canvas.addEventListener("wheel", (e) => {
    e.preventDefault();
    const f = Math.exp(-e.deltaY * 0.0015), rect = canvas.getBoundingClientRect();
    const mx = e.clientX - rect.left, my = e.clientY - rect.top;
    state.k *= f; state.tx = mx - (mx - state.tx) * f; state.ty = my - (my - state.ty) * f; state.touched = true;
    schedule();
  }, { passive: false });
  let drag = null;
  canvas.addEventListener("pointerdown", (e) => { drag = { x: e.clientX, y: e.clientY, tx: state.tx, ty: state.ty, moved: false }; canvas.setPointerCapture(e.pointerId); });
  canvas.addEventListener("pointermove", (e) => {
    const rect = canvas.getBoundingClientRect();
    if (drag) {
      const dx = e.clientX - drag.x, dy = e.clientY - drag.y;
      if (Math.abs(dx) + Math.abs(dy) > 3) drag.moved = true;
      if (drag.moved) { state.tx = drag.tx + dx; state.ty = drag.ty + dy; state.touched = true; tip.hidden = true; schedule(); return; }
    }
    const i = hit(e.clientX - rect.left, e.clientY - rect.top);
    if (i < 0) { tip.hidden = true; canvas.style.cursor = "grab"; return; }
    const n = state.g.nodes[i];
    canvas.style.cursor = "pointer";
    tip.hidden = false;
    tip.textContent = short(n.id) + " · " + n.status + (n.score !== null ? " · " + fmt(n.score) : "") + " · gen " + n.generation + " · island " + n.island + (n.failureKind ? " · " + n.failureKind : "");
    tip.style.left = Math.min(W - 200, e.clientX - rect.left + 12) + "px";
    tip.style.top = e.clientY - rect.top + 12 + "px";
  });
  canvas.addEventListener("pointerup", (e) => {
    const wasDrag = drag && drag.moved;
    drag = null;
    if (wasDrag) return;
    const rect = canvas.getBoundingClientRect();
    select(hit(e.clientX - rect.left, e.clientY - rect.top), false);
  });
  canvas.addEventListener("pointerleave", () => { tip.hidden = true; });
  canvas.addEventListener("dblclick", (e) => { const rect = canvas.getBoundingClientRect(); open(hit(e.clientX - rect.left, e.clientY - rect.top)); });
  find.addEventListener("change", () => {
    const q = find.value.trim();
    const i = state.g ? state.g.nodes.findIndex((n) => n.id === q || n.id.endsWith(q)) : -1;
    if (i >= 0) { select(i, true); canvas.focus(); } else find.setCustomValidity("no such program in this graph");
    find.reportValidity();
    find.setCustomValidity("");
  });
  listen(window, "resize", () => { if (state.g) { size(); schedule(); } });

  function relayout() {
    const selectedId = state.selected >= 0 ? state.g.nodes[state.selected].id : null;
    const t0 = performance.now();
    state.onPath = new Set(state.data.bestPath);
    state.g = layout(state.data.nodes, showFailed.checked, state.onPath);
    state.colours = colours(state.g, colourBy.value);
    canvas.dataset.layoutMs = (performance.now() - t0).toFixed(1);
    canvas.dataset.nodes = String(state.g.nodes.length);
    canvas.dataset.total = String(state.data.nodes.length);
    canvas.dataset.best = state.data.bestId || "";
    status.textContent = fmt(state.g.nodes.length) + " of " + fmt(state.data.nodes.length) + " programs shown";
    if (!state.touched) fit();
    state.selected = selectedId === null ? -1 : state.g.index.get(selectedId) ?? -1;
    renderLegend();
    schedule();
  }
  function renderLegend() {
    const mode = colourBy.value;
    const chip = (colour, label) => el("span", { class: "chip" }, [el("i", { style: "background:" + colour }), label]);
    const items = mode === "island"
      ? [...new Set(state.data.nodes.map((n) => n.island))].sort((a, b) => a - b).map((i) => chip(palette[i % palette.length], "island " + i))
      : mode === "status" ? Object.entries(statusColour).map(([s, c]) => chip(c, s))
      : [chip(ramp(0), "score " + fmt(state.colours.lo, 4)), chip(ramp(0.5), "…"), chip(ramp(1), fmt(state.colours.hi, 4)), chip(statusColour.failed, "failed"), chip(statusColour.rejected, "rejected")];
    legend.replaceChildren(...items, chip("#f97316", "path to the best"));
  }
  colourBy.addEventListener("change", () => { state.colours = colours(state.g, colourBy.value); renderLegend(); schedule(); });
  showFailed.addEventListener("change", relayout);

  async function load() {
    const l = await get("/api/runs/" + encodeURIComponent(ctx.id) + "/lineage");
    // The API sends columns; the graph works on one object per program.
    const nodes = l.id.map((id, i) => ({
      id, parentId: l.parent[i] >= 0 ? l.id[l.parent[i]] : null, status: l.status[i], score: l.score[i],
      island: l.island[i], generation: l.generation[i], failureKind: l.failureKind[i]
    }));
    state.data = { bestId: l.bestId, bestPath: l.bestPath, nodes };
    relayout();
  }
  const reload = throttle(3000, () => load().catch(() => {}));
  for (const type of ["CandidateProposed", "CandidateEvaluated", "CandidateFailed", "RunStatusChanged"]) ctx.on(type, reload);
  size();
  await load();
}
