// Charts: uPlot (served from /assets) for series over time, small SVG drawings for the
// MAP-Elites heat-map and the Pareto scatter. Every chart is sized to its box and follows it.
/* global uPlot */
import { el, listen, onLeave, palette, ramp } from "./lib.js";

const axis = (label) => ({ label, stroke: "#6b7385", grid: { stroke: "#eef0f4" }, ticks: { stroke: "#dfe3ea" } });

/**
 * A uPlot chart in `box`: `x` the x axis ({ label, time? }), `series` of { label, color, kind:
 * "points" | "line" | "step" | "area", scale? }, `data` [xs, ...ys]. Returns { set(data), plot }.
 */
export function chart(box, x, series, data, options) {
  const o = options || {};
  const width = () => Math.max(280, box.clientWidth - 4);
  const scales = { x: { time: !!x.time } };
  const axes = [axis(x.label), axis(o.yLabel || "")];
  if (series.some((s) => s.scale === "y2")) {
    scales.y2 = { range: o.y2Range };
    axes.push(Object.assign(axis(o.y2Label || ""), { scale: "y2", side: 1, grid: { show: false } }));
  }
  if (o.yRange) scales.y = { range: o.yRange };
  const plot = new uPlot({
    width: width(),
    height: o.height || 280,
    scales,
    axes,
    legend: { live: true },
    cursor: { drag: { x: true, y: false } },
    series: [{ label: x.label, value: x.format || ((u, v) => (v === null ? "—" : String(Math.round(v * 100) / 100))) }].concat(series.map((s) => {
      const base = { label: s.label, stroke: s.color, scale: s.scale || "y", width: s.kind === "points" ? 0 : 2, spanGaps: s.kind !== "points" };
      if (s.kind === "points") return Object.assign(base, { paths: () => null, points: { show: true, size: 5, stroke: s.color, fill: s.fill || s.color } });
      if (s.kind === "step") return Object.assign(base, { paths: uPlot.paths.stepped({ align: 1 }), points: { show: false } });
      if (s.kind === "area") return Object.assign(base, { fill: s.fill || s.color + "33", points: { show: false }, paths: uPlot.paths.stepped({ align: 1 }) });
      return Object.assign(base, { points: { show: false }, dash: s.dash });
    }))
  }, data, box);
  let alive = true;
  const destroy = () => { if (alive) { alive = false; plot.destroy(); } };
  listen(window, "resize", () => { if (alive) plot.setSize({ width: width(), height: o.height || 280 }); });
  onLeave(destroy);
  return { plot, destroy, set: (d) => plot.setData(d) };
}

const svgNs = "http://www.w3.org/2000/svg";
function svg(tag, attrs, children) {
  const node = document.createElementNS(svgNs, tag);
  for (const k of Object.keys(attrs || {})) node.setAttribute(k, attrs[k]);
  for (const c of children || []) if (c) node.append(c);
  return node;
}
const title = (text) => { const t = svg("title"); t.textContent = text; return t; };

/**
 * A heat-map of MAP-Elites cells: `cells` of { x, y, score, programId }, `bins` [nx, ny], the
 * axis names; each cell links to its elite. Score colours run from the worst to the best elite.
 */
export function heatmap(cells, bins, names, onOpen) {
  const [nx, ny] = bins;
  const size = Math.max(14, Math.min(48, Math.floor(520 / Math.max(nx, ny))));
  const pad = 44;
  const scores = cells.map((c) => c.score);
  const lo = Math.min(...scores), hi = Math.max(...scores);
  const root = svg("svg", { width: pad + nx * size + 8, height: ny * size + pad, role: "img", "aria-label": "MAP-Elites grid", class: "heatmap" });
  for (let i = 0; i < nx; i++) for (let j = 0; j < ny; j++) {
    root.append(svg("rect", { x: pad + i * size, y: (ny - 1 - j) * size, width: size - 1, height: size - 1, fill: "#f3f4f6" }));
  }
  for (const c of cells) {
    const rect = svg("rect", {
      x: pad + c.x * size, y: (ny - 1 - c.y) * size, width: size - 1, height: size - 1,
      fill: ramp(hi > lo ? (c.score - lo) / (hi - lo) : 1), class: "cell", tabindex: "0", "data-program": c.programId
    }, [title(names[0] + " bin " + c.x + ", " + names[1] + " bin " + c.y + ": " + c.score + " (" + c.programId + ")")]);
    rect.addEventListener("click", () => onOpen(c.programId));
    rect.addEventListener("keydown", (e) => { if (e.key === "Enter") onOpen(c.programId); });
    root.append(rect);
  }
  const label = (x, y, text, anchor, rotate) => {
    const t = svg("text", { x, y, "text-anchor": anchor, class: "axis-label", transform: rotate ? "rotate(-90 " + x + " " + y + ")" : "" });
    t.textContent = text;
    return t;
  };
  root.append(label(pad + (nx * size) / 2, ny * size + 30, names[0] + " →", "middle"), label(14, (ny * size) / 2, names[1] + " →", "middle", true));
  return root;
}

/** A scatter of two objectives; front points are joined and emphasised; each point links to its program. */
export function scatter(points, front, names, onOpen) {
  const w = 560, h = 350, pad = 48;
  const xs = points.map((p) => p.x), ys = points.map((p) => p.y);
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const sx = (v) => pad + (x1 > x0 ? (v - x0) / (x1 - x0) : 0.5) * (w - pad - 12);
  const sy = (v) => h - pad + 8 - (y1 > y0 ? (v - y0) / (y1 - y0) : 0.5) * (h - pad - 24);
  const root = svg("svg", { width: w, height: h, role: "img", "aria-label": "Pareto front", class: "scatter" });
  root.append(svg("line", { x1: pad, y1: h - pad + 8, x2: w - 8, y2: h - pad + 8, stroke: "#cbd5e1" }), svg("line", { x1: pad, y1: 4, x2: pad, y2: h - pad + 8, stroke: "#cbd5e1" }));
  const onFront = new Set(front);
  const frontPts = points.filter((p) => onFront.has(p.programId)).sort((a, b) => a.x - b.x);
  if (frontPts.length > 1) root.append(svg("polyline", { points: frontPts.map((p) => sx(p.x) + "," + sy(p.y)).join(" "), fill: "none", stroke: palette[1], "stroke-width": 1.5 }));
  for (const p of points) {
    const f = onFront.has(p.programId);
    const dot = svg("circle", { cx: sx(p.x), cy: sy(p.y), r: f ? 5 : 3, fill: f ? palette[1] : "#93c5fd", class: f ? "front" : "", tabindex: f ? "0" : "-1", "data-program": p.programId },
      [title(names[0] + " " + p.x + ", " + names[1] + " " + p.y + " (" + p.programId + ")")]);
    dot.addEventListener("click", () => onOpen(p.programId));
    dot.addEventListener("keydown", (e) => { if (e.key === "Enter") onOpen(p.programId); });
    root.append(dot);
  }
  const text = (x, y, s, anchor) => { const t = svg("text", { x, y, "text-anchor": anchor, class: "axis-label" }); t.textContent = s; return t; };
  root.append(text((w + pad) / 2, h - 10, names[0] + " (" + x0.toPrecision(3) + " … " + x1.toPrecision(3) + ")", "middle"),
    text(4, 12, "↑ " + names[1] + " (" + y0.toPrecision(3) + " … " + y1.toPrecision(3) + ")", "start"));
  return el("div", { class: "scroll" }, [root]);
}
