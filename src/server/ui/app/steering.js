// The run's steering tab (issue 17): prompts of `human` models waiting for an answer, guidance
// with its history, pinned and banned parents, an editor to inject a hand-written program,
// sliders for the concurrency and model weights. Each
// control is one request to the steering API; the panel redraws from the answer and from the
// run's RunSteered events (another user, the CLI).
import { api, el, every, failure, get, loading, put, short, when } from "./lib.js";

export async function steeringTab(body, ctx) {
  const base = "/api/runs/" + encodeURIComponent(ctx.id);
  const status = el("span", { class: "error", role: "alert", id: "steer-error" });
  const box = el("div", { id: "steering-box" }, [loading("steering")]);
  body.replaceChildren(status, box);

  async function act(method, path, payload) {
    status.textContent = "";
    try {
      const answer = await api(method, base + path, payload);
      render(answer && answer.steering ? answer.steering : answer && answer.guidance ? answer : await get(base + "/steering"));
      return answer;
    } catch (e) { status.textContent = e.message; return null; }
  }

  function guidanceCard(s) {
    const text = el("textarea", { id: "hint-text", rows: "3", "aria-label": "Guidance", placeholder: "Guidance for every later prompt, e.g. “try a lookup table”" });
    const add = el("button", { type: "button", id: "hint-add", class: "primary", text: "Add hint" });
    const replace = el("button", { type: "button", id: "hint-replace", text: "Replace guidance" });
    const send = (replacing) => { if (text.value.trim() !== "") act("POST", "/hints", { text: text.value.trim(), replace: replacing }).then((a) => { if (a) text.value = ""; }); };
    add.addEventListener("click", () => send(false));
    replace.addEventListener("click", () => send(true));
    const history = s.guidance.length === 0 ? el("p", { class: "muted", text: "No guidance yet." }) : el("ol", { id: "hint-history", class: "history" },
      s.guidance.slice().reverse().map((h) => el("li", { class: h.clearedAt === null ? "hint on" : "hint off", "data-version": String(h.version) }, [
        el("span", { class: "mono", text: "v" + h.version + " " }),
        el("span", { text: h.text }),
        el("span", { class: "muted", text: " · " + when(h.at) + (h.clearedAt === null ? "" : " · cleared " + when(h.clearedAt)) }),
        h.clearedAt === null ? el("button", { type: "button", class: "small", text: "Clear", onclick: () => act("DELETE", "/hints/" + h.version) }) : null
      ])));
    return el("section", { class: "card", id: "guidance-card" }, [el("h3", { text: "Guidance" }), text, el("div", { class: "toolbar" }, [add, replace]), history]);
  }

  function parentsCard(s) {
    const ids = (list) => list.length === 0 ? "none" : null;
    const link = (id) => el("a", { href: "#/programs/" + id, class: "mono", title: id, text: short(id) });
    return el("section", { class: "card", id: "parents-card" }, [
      el("h3", { text: "Parents" }),
      el("p", { id: "pinned-list" }, ["Pinned: ", ids(s.pinned)].concat(s.pinned.flatMap((id) => [link(id), " "])).concat(
        s.pinned.length > 0 ? [el("button", { type: "button", id: "unpin-button", class: "small", text: "Unpin", onclick: () => act("POST", "/unpin") })] : [])),
      el("p", { id: "banned-list" }, ["Banned: ", ids(s.banned)].concat(s.banned.flatMap((id) => [link(id), " "]))),
      el("p", { class: "muted", text: "Pin or ban programs from the Programs tab." })
    ]);
  }

  function injectCard(s) {
    const code = el("textarea", { id: "inject-code", rows: "10", class: "mono", spellcheck: "false", "aria-label": "Program to inject", placeholder: "A complete program, evaluated like any other" });
    const note = el("input", { type: "text", id: "inject-note", placeholder: "note (optional)", "aria-label": "Note" });
    const go = el("button", { type: "button", id: "inject-button", class: "primary", text: "Inject" });
    go.addEventListener("click", () => {
      if (code.value.trim() === "") return;
      act("POST", "/inject", note.value.trim() === "" ? { code: code.value } : { code: code.value, note: note.value.trim() })
        .then((a) => { if (a) { code.value = ""; note.value = ""; status.textContent = ""; location.hash = "#/programs/" + a.programId; } });
    });
    return el("section", { class: "card", id: "inject-card" }, [el("h3", { text: "Inject a program" }), code, el("div", { class: "toolbar" }, [note, go]),
      el("p", { class: "muted", text: s.injected.length + " injected so far; their lineage is marked “human”." })]);
  }

  function slider(id, label, value, max, onSet) {
    const input = el("input", { type: "range", id, min: "1", max: String(max), value: String(value), "aria-label": label });
    const shown = el("span", { class: "mono", text: String(value) });
    input.addEventListener("input", () => { shown.textContent = input.value; });
    input.addEventListener("change", () => onSet(Number(input.value)));
    return el("label", { class: "slider" }, [label + " ", input, " ", shown]);
  }

  function tuningCard(s) {
    const c = ctx.run.config.concurrency;
    const setConcurrency = (key) => (n) => api("POST", base + "/concurrency", { [key]: n }).then(() => { status.textContent = ""; }, (e) => { status.textContent = e.message; });
    const models = ctx.run.modelNames.map((m) => {
      const configured = (ctx.run.config.llm.models || []).find((x) => x.model === m);
      const weight = s.modelWeights[m] !== undefined ? s.modelWeights[m] : configured && configured.weight !== undefined ? configured.weight : 1;
      const input = el("input", { type: "number", min: "0", step: "0.1", value: String(weight), class: "narrow", "aria-label": "Weight of " + m, "data-model": m });
      input.addEventListener("change", () => act("POST", "/model-weight", { model: m, weight: Number(input.value) }));
      return el("label", null, [el("span", { class: "mono", text: m + " " }), input]);
    });
    return el("section", { class: "card", id: "tuning-card" }, [
      el("h3", { text: "Concurrency and models" }),
      slider("proposals-slider", "LLM proposals in flight", c.proposals, Math.max(64, c.proposals * 2), setConcurrency("proposals")),
      slider("evaluations-slider", "evaluations in flight", c.evaluations, Math.max(32, c.evaluations * 2), setConcurrency("evaluations")),
      el("div", { class: "toolbar" }, models)
    ]);
  }

  // provider: human — prompts waiting for a person's answer (SEARCH/REPLACE blocks or the whole program, fenced).
  const promptsCard = el("section", { class: "card", id: "prompts-card", hidden: true });
  async function loadPrompts() {
    const prompts = await get(base + "/prompts").catch(() => []);
    const llm = ctx.run.config.llm;
    promptsCard.hidden = prompts.length === 0 && llm.provider !== "human" && !(llm.models || []).some((m) => m.provider === "human");
    put(promptsCard, el("h3", { text: "Prompts waiting for you (" + prompts.length + ")" }),
      ...prompts.map((p) => {
        const answer = el("textarea", { rows: "8", class: "mono", spellcheck: "false", "aria-label": "Answer to " + p.id, placeholder: "SEARCH/REPLACE blocks, or the whole program in a ``` code block" });
        const send = el("button", { type: "button", class: "primary", text: "Answer", onclick: () =>
          api("POST", "/api/prompts/" + encodeURIComponent(p.id) + "/answer", { text: answer.value }).then(loadPrompts, (e) => { status.textContent = e.message; }) });
        return el("details", { class: "prompt", "data-id": p.id }, [
          el("summary", { text: p.id + " · " + p.model + " · " + when(p.at) }),
          el("pre", { class: "mono prompt-text", text: p.user }), answer, el("div", { class: "toolbar" }, [send])
        ]);
      }));
  }

  function render(s) {
    const running = ctx.run.active && ctx.run.status === "running";
    put(box,
      running ? null : el("p", { class: "muted", id: "steer-inactive", text: "The run is not running: steering takes effect only on a running run (extend or resume it first)." }),
      promptsCard,
      el("div", { class: "steer-grid" }, [guidanceCard(s), parentsCard(s), injectCard(s), tuningCard(s)])
    );
    for (const b of box.querySelectorAll("button, input, textarea")) if (!running) b.disabled = true;
    loadPrompts();
  }

  const load = () => get(base + "/steering").then(render, (e) => box.replaceChildren(failure(e, load)));
  ctx.on("RunSteered", () => { if (!box.contains(document.activeElement)) load(); });
  every(3000, () => { if (!promptsCard.contains(document.activeElement)) loadPrompts(); });
  await load();
}

/** Pin and Ban buttons for a program row (the Programs tab), while the run runs. */
export function steerButtons(ctx, program, onDone) {
  if (!(ctx.run.active && ctx.run.status === "running") || program.status !== "evaluated") return "";
  const base = "/api/runs/" + encodeURIComponent(ctx.id);
  const send = (path, payload, label) => (e) => {
    e.stopPropagation();
    api("POST", base + path, payload).then(() => onDone(label + " " + short(program.id)), (err) => onDone(err.message));
  };
  return el("span", { class: "steer-buttons" }, [
    el("button", { type: "button", class: "small pin", text: "Pin", title: "Draw parents only from this program", onclick: send("/pin", { programIds: [program.id] }, "pinned") }),
    el("button", { type: "button", class: "small ban", text: "Ban", title: "Never a parent again", onclick: send("/ban", { programId: program.id }, "banned") })
  ]);
}
