// The run's overview: any metric against evaluation number or time (live from the event stream),
// and the throughput timeline — LLM and evaluation slots busy and the queue over time, with the
// bottleneck named.
import { chart } from "./charts.js";
import { el, every, failure, fmt, get, loading, palette, throttle } from "./lib.js";

const verdicts = {
  llm: "The LLM is the bottleneck: its slots stay busy while evaluators wait for candidates. More LLM calls in flight (or a faster model) would help.",
  evaluator: "The evaluator is the bottleneck: its slots stay busy and candidates queue up. More evaluations in flight (or a faster evaluator) would help.",
  neither: "Neither pool is saturated: the run is limited by its stop rules, the shared server limits, or its size.",
  unknown: "Not enough finished evaluations yet to tell."
};

export async function overviewTab(body, ctx) {
  const id = encodeURIComponent(ctx.id);
  const metric = el("select", { id: "metric-select", "aria-label": "Metric" });
  const xAxis = el("select", { id: "x-select", "aria-label": "X axis" }, [el("option", { value: "n", text: "evaluation #" }), el("option", { value: "time", text: "time" })]);
  const plotBox = el("div", { id: "plot", class: "plot" }, [loading("evaluations")]);
  const timelineBox = el("div", { id: "timeline", class: "plot" }, [loading("timeline")]);
  const verdict = el("p", { id: "bottleneck", class: "verdict" });
  body.replaceChildren(
    el("div", { class: "card" }, [
      el("div", { class: "title-row" }, [el("h2", { text: "Evaluations" }), el("div", { class: "toolbar" }, [el("label", { text: "plot" }), metric, el("label", { text: "against" }), xAxis])]),
      plotBox
    ]),
    el("div", { class: "card" }, [el("h2", { text: "Throughput: slots busy and queue over time" }), verdict, timelineBox])
  );

  const state = { series: null, seen: new Set(), plot: null, plotKey: "" };
  const valueOf = (e) => (metric.value === "score" ? e.score : e.metrics ? e.metrics[metric.value] : null);

  function data() {
    const pts = state.series.points;
    const time = xAxis.value === "time";
    const xs = [], ys = [], best = [];
    let top = null;
    for (const p of pts) {
      xs.push(time ? (p.at - state.series.createdAt) / 1000 : p.n);
      ys.push(p.value);
      if (p.value !== null && (top === null || p.value > top)) top = p.value;
      best.push(top);
    }
    return metric.value === "score" ? [xs, ys, best] : [xs, ys];
  }
  function draw() {
    if (!state.series) return;
    const key = metric.value + "|" + xAxis.value;
    plotBox.setAttribute("data-points", String(state.series.points.length));
    if (state.plot && state.plotKey === key) return state.plot.set(data());
    if (state.plot) state.plot.destroy();
    plotBox.replaceChildren();
    const series = [{ label: metric.value, color: palette[0], fill: "#93c5fd", kind: "points" }];
    if (metric.value === "score") series.push({ label: "best so far", color: "#15803d", kind: "step" });
    const time = xAxis.value === "time";
    state.plot = chart(plotBox, { label: time ? "seconds since start" : "evaluation #" }, series, data(), { yLabel: metric.value, height: 300 });
    state.plotKey = key;
  }
  const redraw = throttle(500, draw);

  async function load() {
    try {
      const s = await get("/api/runs/" + id + "/series?metric=" + encodeURIComponent(metric.value || "score"));
      const points = s.programId.map((programId, i) => ({ programId, n: i + 1, at: s.at[i], value: s.value[i], status: s.status[i] }));
      state.series = { metrics: s.metrics, createdAt: s.createdAt, points };
      state.seen = new Set(state.series.points.map((p) => p.programId));
      const chosen = metric.value || "score";
      metric.replaceChildren(...state.series.metrics.map((m) => el("option", { value: m, text: m, selected: m === chosen })));
      draw();
    } catch (e) { plotBox.replaceChildren(failure(e, load)); }
  }
  metric.addEventListener("change", load);
  xAxis.addEventListener("change", draw);

  const add = (programId, at, value, status) => {
    if (!state.series || state.seen.has(programId)) return;
    state.seen.add(programId);
    const points = state.series.points;
    points.push({ programId, n: points.length + 1, at, value, status });
    redraw();
  };
  ctx.on("CandidateEvaluated", (e) => {
    add(e.programId, e.at, valueOf(e) ?? null, "evaluated");
    // Metrics first reported after the page loaded join the choice.
    const known = new Set([...metric.options].map((o) => o.value));
    for (const m of Object.keys(e.metrics || {}).sort()) if (!known.has(m)) metric.append(el("option", { value: m, text: m }));
  });
  ctx.on("CandidateFailed", (e) => { if (e.stage === "evaluate") add(e.programId, e.at, null, "failed"); });

  let timelinePlot = null;
  async function loadTimeline() {
    try {
      const t = await get("/api/runs/" + id + "/timeline?buckets=200");
      verdict.replaceChildren(
        el("strong", { text: t.bottleneck === "unknown" ? "" : "Bottleneck: " + t.bottleneck + ". " }),
        verdicts[t.bottleneck] + "  LLM slots " + Math.round(100 * t.utilization.llm) + "% busy (P = " + t.limits.proposals + "), evaluation slots " +
          Math.round(100 * t.utilization.evaluation) + "% busy (W = " + t.limits.evaluations + "), " + fmt(t.meanQueued, 2) + " candidates queued on average."
      );
      verdict.dataset.bottleneck = t.bottleneck;
      const xs = t.llm.map((_, i) => ((i + 0.5) * t.bucketMs) / 1000);
      const d = [xs, t.llm, t.evaluation, t.queued];
      if (timelinePlot) return timelinePlot.set(d);
      timelineBox.replaceChildren();
      if (xs.length === 0) return timelineBox.append(el("p", { class: "muted", text: "Nothing has run yet." }));
      timelinePlot = chart(timelineBox, { label: "seconds since the first call" }, [
        { label: "LLM calls in flight", color: palette[0], kind: "area" },
        { label: "evaluations in flight", color: palette[2], kind: "area" },
        { label: "queued candidates", color: palette[3], kind: "line" }
      ], d, { yLabel: "busy slots / queued", height: 240 });
    } catch (e) { timelineBox.replaceChildren(failure(e, loadTimeline)); }
  }
  every(5000, () => { if (ctx.run.active) loadTimeline(); });
  await Promise.all([load(), loadTimeline()]);
}
