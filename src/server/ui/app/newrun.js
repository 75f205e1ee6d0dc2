// The new-run form: program and evaluator picked from the server's workspace (a file picker over
// /api/workspace/files), provider / model / limits prefilled with the server's defaults, and any
// other evolve.yaml settings as YAML (the fields win over the same keys there).
import { api, el, failure, get, loading, view } from "./lib.js";

/** A modal listing the workspace, starting in `start`; resolves the picked file's path (relative to the workspace) or null. */
function pickFile(title, start) {
  return new Promise((resolve) => {
    const list = el("div", { class: "picker-list", role: "listbox", "aria-label": title });
    const where = el("div", { class: "mono muted picker-where" });
    const close = (value) => { overlay.remove(); resolve(value); };
    const overlay = el("div", { class: "overlay", role: "dialog", "aria-modal": "true", "aria-label": title }, [
      el("div", { class: "dialog wide", id: "file-picker" }, [
        el("div", { class: "title-row" }, [el("h2", { text: title }), el("button", { type: "button", text: "Cancel", onclick: () => close(null) })]),
        where, list
      ])
    ]);
    overlay.addEventListener("keydown", (e) => {
      if (e.key === "Escape") close(null);
      const items = [...list.querySelectorAll("button")];
      const i = items.indexOf(document.activeElement);
      if (e.key === "ArrowDown" && i < items.length - 1) { e.preventDefault(); items[i + 1].focus(); }
      if (e.key === "ArrowUp" && i > 0) { e.preventDefault(); items[i - 1].focus(); }
    });
    async function open(dir) {
      list.replaceChildren(loading("files"));
      try {
        const listing = await get("/api/workspace/files?dir=" + encodeURIComponent(dir));
        where.textContent = listing.root + (listing.dir ? "/" + listing.dir : "");
        const items = [];
        if (listing.dir !== "") {
          const up = listing.dir.split("/").slice(0, -1).join("/");
          items.push(el("button", { type: "button", class: "entry dir", text: "↑ ..", onclick: () => open(up) }));
        }
        for (const e of listing.entries) {
          items.push(el("button", {
            type: "button", class: "entry " + (e.kind === "directory" ? "dir" : "file"), "data-path": e.path,
            text: (e.kind === "directory" ? "▸ " : "") + e.name, onclick: () => (e.kind === "directory" ? open(e.path) : close(e.path))
          }));
        }
        if (listing.entries.length === 0) items.push(el("p", { class: "muted", text: "Empty directory." }));
        if (listing.truncated) items.push(el("p", { class: "muted", text: "More entries than shown: type the path instead." }));
        list.replaceChildren(...items);
        const first = list.querySelector("button");
        if (first) first.focus();
      } catch (e) { list.replaceChildren(failure(e, () => open(""))); }
    }
    document.body.append(overlay);
    open(start);
  });
}

const field = (label, input, hint) =>
  [el("label", { for: input.id, text: label }), el("div", null, [input, hint ? el("div", { class: "muted small", text: hint }) : null])];

export function newRunPage() {
  const box = el("div", { class: "card" }, [loading("the server's defaults")]);
  view().replaceChildren(el("h1", { text: "New run" }), box);
  get("/api/defaults").then((d) => form(box, d), (e) => box.replaceChildren(failure(e, newRunPage)));
}

function form(box, d) {
  const input = (id, value, attrs) => el("input", Object.assign({ id, name: id, value: value === undefined ? "" : String(value) }, attrs || {}));
  const program = input("program-input", "", { required: true, placeholder: "path in the workspace", autocomplete: "off" });
  const evaluator = input("evaluator-input", "", { required: true, placeholder: "path in the workspace", autocomplete: "off" });
  const browse = (target, title) => el("button", { type: "button", class: "browse", id: target.id.replace("-input", "-browse"), text: "Browse…",
    onclick: async () => {
      // Opens where the field's file is, else beside the program.
      const near = target.value || program.value;
      const start = near.includes("/") ? near.split("/").slice(0, -1).join("/") : "";
      const picked = await pickFile(title, start).catch(() => pickFile(title, ""));
      if (picked !== null) target.value = picked;
      target.focus();
    } });
  const goal = el("textarea", { id: "goal-input", rows: "2" });
  goal.value = d.goal;
  const provider = el("select", { id: "provider-input" }, d.providers.map((p) => el("option", { value: p, text: p, selected: p === d.provider })));
  const model = input("model-input", d.model);
  const baseUrl = input("base-url-input", d.baseUrl, { type: "url" });
  const maxEvals = input("max-evaluations-input", d.maxEvaluations, { type: "number", min: "1" });
  const proposals = input("proposals-input", d.concurrency.proposals, { type: "number", min: "1" });
  const evaluations = input("evaluations-input", d.concurrency.evaluations, { type: "number", min: "1" });
  const extra = el("textarea", { id: "config-input", placeholder: "More evolve.yaml settings, e.g.\nseed: 3\npopulation:\n  islands: 2" });
  const error = el("div", { class: "error", id: "new-run-error", role: "alert" });
  const start = el("button", { class: "primary", id: "start-button", type: "submit", text: "Start run" });
  const networked = () => provider.value === "openai-chat" || provider.value === "openai-responses";
  const llmRows = [...field("Model", model), ...field("Base URL", baseUrl, "Where the model is served (an OpenAI-compatible API)")];
  const showLlm = () => llmRows.forEach((n) => n.classList.toggle("hidden", !networked()));
  provider.addEventListener("change", showLlm);

  const f = el("form", { class: "new-run", id: "new-run-form" }, [
    el("label", { for: "program-input", text: "Program" }), el("div", { class: "with-button" }, [program, browse(program, "Pick the initial program")]),
    el("label", { for: "evaluator-input", text: "Evaluator" }), el("div", { class: "with-button" }, [evaluator, browse(evaluator, "Pick the evaluator")]),
    ...field("Goal", goal),
    ...field("Provider", provider),
    ...llmRows,
    ...field("Max evaluations", maxEvals),
    ...field("LLM calls in flight", proposals),
    ...field("Evaluations in flight", evaluations),
    ...field("More settings", extra, "YAML, the keys of evolve.yaml; the fields above win over the same keys here"),
    el("span"), el("div", { class: "toolbar" }, [start, el("a", { href: "#/", text: "Cancel" })]),
    el("span"), error
  ]);
  showLlm();
  f.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    error.textContent = "";
    start.disabled = true;
    const llm = { provider: provider.value };
    if (networked()) { llm.model = model.value.trim(); llm.base_url = baseUrl.value.trim(); }
    const config = {
      goal: goal.value.trim() || d.goal,
      max_evaluations: Number(maxEvals.value),
      concurrency: { proposals: Number(proposals.value), evaluations: Number(evaluations.value) },
      llm
    };
    const body = { program: program.value.trim(), evaluator: evaluator.value.trim(), config };
    if (extra.value.trim() !== "") body.config_yaml = extra.value;
    try {
      const run = await api("POST", "/api/runs", body);
      location.hash = "#/runs/" + run.id;
    } catch (e) {
      error.textContent = e.message + (e.data && e.data.path ? "  (" + e.data.path + ")" : "");
    } finally { start.disabled = false; }
  });
  box.replaceChildren(el("p", { class: "muted" }, ["Files come from the server's workspace ", el("span", { class: "mono", text: d.workspace }), "."]), f);
  program.focus();
}
