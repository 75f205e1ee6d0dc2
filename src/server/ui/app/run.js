// The run page: status, controls (pause, resume, stop, extend), live figures, and tabs — overview
// (any metric over evaluations or time, throughput timeline), lineage graph, programs table,
// search state (islands, MAP-Elites, Pareto), LLM (models over time, bandit) and steering
// (guidance, pinned and banned parents, injected programs, concurrency and model weights).
import { lineageTab } from "./lineage.js";
import { api, ApiError, badge, el, every, fmt, get, loading, notFound, runEvents, secs, short, throttle, usd, view } from "./lib.js";
import { overviewTab } from "./overview.js";
import { programsTab } from "./programs.js";
import { llmTab, searchTab } from "./search.js";
import { steeringTab } from "./steering.js";

const tabs = [["overview", "Overview"], ["lineage", "Lineage"], ["programs", "Programs"], ["search", "Search"], ["llm", "LLM"], ["steering", "Steering"]];

export async function runPage(id, tab, onConnection) {
  // The page draws into this route's view; a later route swaps in another (see main.js).
  const root = view();
  root.replaceChildren(loading("run " + id));
  let run;
  try { run = await get("/api/runs/" + encodeURIComponent(id)); }
  catch (e) {
    if (e instanceof ApiError && e.status === 404) return notFound("Run", id, root);
    return root.replaceChildren(el("h1", { text: "Run " + id }), el("div", { class: "error-box", role: "alert", text: e.message }));
  }
  if (!tabs.some(([t]) => t === tab)) tab = "overview";

  const ctx = { id, run, listeners: {}, onRun: [], on(type, f) { (this.listeners[type] = this.listeners[type] || []).push(f); } };
  const status = el("span", { id: "run-status" });
  const pause = el("button", { type: "button", id: "pause-button", text: "Pause" });
  const resume = el("button", { type: "button", id: "resume-button", text: "Resume" });
  const stop = el("button", { type: "button", class: "danger", id: "stop-button", text: "Stop" });
  const more = el("input", { type: "number", min: "1", id: "extend-by", "aria-label": "More evaluations", class: "narrow" });
  const extend = el("button", { type: "button", id: "extend-button", text: "Extend" });
  const actionError = el("span", { class: "error", role: "alert", id: "action-error" });
  const info = el("div", { class: "muted run-info", id: "run-info" });
  const waiting = el("div", { class: "error-box", role: "status", id: "run-waiting", hidden: true });
  const stats = el("div", { class: "grid", id: "run-stats" });
  const body = el("div", { id: "tab-body" });
  more.value = String(Math.max(10, Math.round(run.maxEvaluations / 4)));

  async function act(path, payload) {
    actionError.textContent = "";
    for (const b of [pause, resume, stop, extend]) b.disabled = true;
    try { render(await api("POST", "/api/runs/" + encodeURIComponent(id) + "/" + path, payload)); }
    catch (e) { actionError.textContent = e.message; render(ctx.run); }
  }
  pause.addEventListener("click", () => act("pause"));
  stop.addEventListener("click", () => act("stop"));
  resume.addEventListener("click", () => act("resume"));
  extend.addEventListener("click", () => {
    const n = Math.floor(Number(more.value));
    if (!(n >= 1)) { actionError.textContent = "Extend by how many evaluations? (a whole number ≥ 1)"; return; }
    act("extend", { max_evaluations: ctx.run.maxEvaluations + n });
  });

  const stat = (k, v, sid) => el("div", { class: "stat" }, [el("div", { class: "v", id: sid || null, text: v }), el("div", { class: "k", text: k })]);
  function render(r) {
    ctx.run = r;
    const shown = r.paused ? "paused" : r.status;
    status.replaceChildren(badge(shown));
    const running = r.active && r.status === "running";
    pause.disabled = !running || r.paused;
    stop.disabled = !running;
    // A finished run has nothing to resume: it gets more evaluations instead.
    resume.hidden = r.status === "completed";
    resume.disabled = r.active || r.status === "completed";
    extend.disabled = r.status === "stopping";
    extend.classList.toggle("primary", r.status === "completed");
    info.replaceChildren(
      el("span", { class: "mono", title: r.program, text: r.program.split("/").slice(-2).join("/") }), " · evaluator ",
      el("span", { class: "mono", title: r.evaluator, text: r.evaluator.split("/").slice(-2).join("/") }),
      " · " + r.provider + " · " + r.modelNames.join(", "), " · started " + new Date(r.createdAt).toLocaleString(),
      r.stopReason ? " · stopped: " + r.stopReason : "", r.archived ? " · archived" : ""
    );
    const live = r.live;
    // In a cluster: candidates wait because no evaluation worker is alive.
    waiting.hidden = !(live && live.waitingFor);
    waiting.textContent = live && live.waitingFor ? "Waiting: " + live.waitingFor : "";
    const elapsed = live ? live.elapsedMs : r.updatedAt - r.createdAt;
    stats.replaceChildren(
      stat("evaluations", fmt(r.evaluations) + " / " + fmt(r.maxEvaluations), "eval-count"),
      stat("scored / failed", fmt(r.evaluated) + " / " + fmt(r.failed), "success-rate"),
      stat("best score", fmt(r.bestScore), "best-score"),
      stat("in flight llm / eval", live ? live.inFlightProposals + " / " + live.inFlightEvaluations : "—"),
      stat("queued", live ? fmt(live.queued) : fmt(r.pending)),
      stat("tokens", fmt(r.inputTokens + r.outputTokens)),
      stat("cost", usd(r.usd)),
      stat("elapsed", secs(elapsed), "elapsed")
    );
    for (const f of ctx.onRun) f(r);
  }

  root.replaceChildren(
    el("div", { class: "title-row" }, [el("h1", null, ["Run ", el("span", { class: "mono", title: id, text: short(id) })]), status]),
    el("p", { class: "goal", text: run.goal }),
    el("div", { class: "toolbar", id: "run-controls" }, [pause, resume, stop, el("span", { class: "sep" }), more, extend, actionError]),
    info, waiting, stats,
    el("nav", { class: "tabs", "aria-label": "Run views" }, tabs.map(([t, label]) =>
      el("a", { href: "#/runs/" + id + "/" + t, class: t === tab ? "on" : null, "aria-current": t === tab ? "page" : null, id: "tab-" + t, text: label }))),
    body
  );
  render(run);

  const refresh = throttle(1000, () => get("/api/runs/" + encodeURIComponent(id)).then(render, () => {}));
  every(2000, () => { if (ctx.run.active || ctx.run.status === "running") refresh(); });
  const dispatch = (type) => (e) => { for (const f of ctx.listeners[type] || []) f(e); };
  runEvents(id, run.lastEventId, {
    CandidateProposed: dispatch("CandidateProposed"),
    CandidateEvaluated: dispatch("CandidateEvaluated"),
    CandidateFailed: dispatch("CandidateFailed"),
    NewBest: (e) => { ctx.run.bestScore = e.score; ctx.run.bestProgramId = e.programId; dispatch("NewBest")(e); },
    RunStatusChanged: (e) => { refresh(); dispatch("RunStatusChanged")(e); },
    RunStarted: () => refresh(),
    RunSteered: dispatch("RunSteered"),
    SearchAdapted: dispatch("SearchAdapted")
  }, onConnection);

  const start = performance.now();
  const open = { overview: overviewTab, lineage: lineageTab, programs: programsTab, search: searchTab, llm: llmTab, steering: steeringTab }[tab];
  try { await open(body, ctx); }
  catch (e) { body.replaceChildren(el("div", { class: "error-box", role: "alert", text: e.message })); }
  // For the browser test's timing figures: when the tab's first data was on screen.
  root.dataset.ready = tab;
  root.dataset.readyMs = String(Math.round(performance.now()));
  root.dataset.tabMs = String(Math.round(performance.now() - start));
}

