// A program: its figures and metrics, the diff against its parent, its code, the patch as the
// model wrote it, the prompt and the raw LLM response, the evaluator's feedback and artifacts;
// copy, download, and compare it with any other program.
/* global Diff2HtmlUI */
import { ApiError, badge, copyText, el, fmt, get, loading, loadScript, notFound, put, secs, short, usd, view } from "./lib.js";

/** Draws a unified diff with diff2html: side by side on wide screens, line by line on narrow ones. */
export async function drawDiff(box, diff) {
  await loadScript("/assets/diff2html.js");
  const ui = new Diff2HtmlUI(box, diff, {
    drawFileList: false, matching: "lines", highlight: true, fileContentToggle: false,
    outputFormat: window.innerWidth < 900 ? "line-by-line" : "side-by-side"
  });
  ui.draw();
  ui.highlightCode();
}

/** Feedback as stored: the evaluator's own words first, then `[label]` sections (artifacts, stderr, …). */
function feedbackSections(text) {
  const sections = [];
  let current = { label: "feedback", lines: [] };
  for (const line of text.split("\n")) {
    const m = /^\[([^\]\n]{1,80})\]$/.exec(line.trim());
    if (m) { if (current.lines.join("").trim()) sections.push(current); current = { label: m[1], lines: [] }; }
    else current.lines.push(line);
  }
  if (current.lines.join("").trim()) sections.push(current);
  return sections.map((s) => ({ label: s.label, text: s.lines.join("\n").trim() }));
}

const pre = (text, id) => el("pre", { class: "code", id: id || null, text });
const copyButton = (text, label) => el("button", { type: "button", class: "small", text: label || "Copy", onclick: (e) => copyText(text, e.target) });

function transcriptView(p) {
  if (p.transcripts.length > 0) {
    return p.transcripts.map((t) => el("div", { class: "exchange" }, [
      el("h3", { text: "Attempt " + (t.attempt + 1) + (t.model ? " · " + t.model : "") }),
      el("details", null, [el("summary", { text: "System prompt (" + t.system.length + " characters)" }), pre(t.system)]),
      el("div", { class: "title-row" }, [el("h4", { text: "Prompt" }), copyButton(t.user)]), pre(t.user, "prompt-text"),
      el("div", { class: "title-row" }, [el("h4", { text: "Response" }), t.response === null ? null : copyButton(t.response)]),
      t.response === null ? el("p", { class: "muted", text: "The call failed: no answer." }) : pre(t.response, "response-text")
    ]));
  }
  const parts = [el("p", { class: "muted", id: "no-transcript", text: "This run did not record the prompt of this proposal." })];
  // A proposal that failed to apply keeps the model's raw answer as its patch.
  if (p.status === "failed" && p.patch) parts.push(el("h4", { text: "The model's raw answer" }), pre(p.patch, "response-text"));
  return parts;
}

export async function programPage(id) {
  // The page draws into this route's view; a later route swaps in another (see main.js).
  const root = view();
  root.replaceChildren(loading("program " + id));
  let p;
  try { p = await get("/api/programs/" + encodeURIComponent(id) + "?highlight=true"); }
  catch (e) {
    if (e instanceof ApiError && e.status === 404) return notFound("Program", id, root);
    return root.replaceChildren(el("div", { class: "error-box", role: "alert", text: e.message }));
  }
  const panes = {
    diff: el("div", { id: "diff-view" }),
    code: el("pre", { class: "code hljs", id: "code-view" }, [el("code", { html: p.highlighted || "" })]),
    patch: el("div", { id: "patch-view" }, p.patch ? [el("div", { class: "toolbar" }, [copyButton(p.patch, "Copy patch")]), pre(p.patch)] : [el("p", { class: "muted", text: p.parentId ? "No patch: the model rewrote the whole program, or its answer is kept as the response." : "The initial program has no patch." })]),
    prompt: el("div", { id: "prompt-view" }, transcriptView(p)),
    feedback: el("div", { id: "feedback-view" }, p.feedback
      ? feedbackSections(p.feedback).map((s) => el("div", { class: "artifact" }, [el("h4", { text: s.label }), pre(s.text)]))
      : [el("p", { class: "muted", text: "The evaluator gave no feedback." })])
  };
  if (p.diff) drawDiff(panes.diff, p.diff).catch((e) => panes.diff.append(el("p", { class: "error", text: e.message })));
  else panes.diff.append(el("p", { class: "muted", text: p.parentId ? "No diff: the candidate has no code." : "The initial program has no parent." }));
  const labels = { diff: "Diff vs parent", code: "Code", patch: "Patch", prompt: "Prompt & response", feedback: "Feedback & artifacts" };
  const buttons = {};
  const tab = (which) => {
    for (const k of Object.keys(panes)) {
      panes[k].hidden = k !== which;
      buttons[k].classList.toggle("on", k === which);
      buttons[k].setAttribute("aria-selected", String(k === which));
    }
  };
  for (const k of Object.keys(panes)) buttons[k] = el("button", { type: "button", role: "tab", id: "show-" + k, text: labels[k], onclick: () => tab(k) });

  const other = el("input", { id: "compare-with", placeholder: "program id", "aria-label": "Program to compare with", class: "narrow-wide" });
  const compareTo = (otherId) => { if (otherId) location.hash = "#/compare/" + otherId + "/" + p.id; };
  other.addEventListener("keydown", (e) => { if (e.key === "Enter") compareTo(other.value.trim()); });
  const kv = el("div", { class: "kv" }, [
    el("div", { text: "run" }), el("div", null, [el("a", { href: "#/runs/" + p.runId, class: "mono", text: p.runId })]),
    el("div", { text: "status" }), el("div", null, [badge(p.status)]),
    el("div", { text: "score" }), el("div", { text: fmt(p.score) + (p.parentScore !== null ? "  (parent " + fmt(p.parentScore) + ")" : "") }),
    el("div", { text: "parent" }), el("div", null, [p.parentId ? el("a", { href: "#/programs/" + p.parentId, class: "mono", text: p.parentId }) : "—"]),
    el("div", { text: "generation · island" }), el("div", { text: p.generation + " · " + p.island }),
    el("div", { text: "created" }), el("div", { text: new Date(p.createdAt).toLocaleString() }),
    el("div", { text: "evaluation" }), el("div", { text: p.evalMs === null ? "—" : secs(p.evalMs) }),
    el("div", { text: "LLM" }), el("div", { text: p.llm ? p.llm.model + " · " + fmt(p.llm.inputTokens) + " in / " + fmt(p.llm.outputTokens) + " out · " + secs(p.llm.latencyMs) + " · " + p.llm.attempts + " attempt(s) · " + usd(p.llm.usd) : "—" })
  ]);
  const metrics = el("table", { id: "metrics-table" }, [el("tr", null, [el("th", { text: "Metric" }), el("th", { class: "num", text: "Value" })])].concat(
    Object.keys(p.metrics || {}).map((k) => el("tr", null, [el("td", { class: "mono", text: k }), el("td", { class: "num", text: fmt(p.metrics[k]) })]))));
  const chain = el("div", { id: "program-lineage", class: "muted" }, [loading("lineage")]);
  put(root,
    el("div", { class: "title-row" }, [el("h1", null, ["Program ", el("span", { class: "mono", title: p.id, text: short(p.id) })]), badge(p.status)]),
    el("div", { class: "toolbar" }, [
      el("button", { type: "button", id: "copy-code", text: "Copy code", onclick: (e) => copyText(p.code, e.target) }),
      el("a", { class: "button", id: "download-code", href: "/api/programs/" + encodeURIComponent(p.id) + "/code?download=true", download: p.id + "-" + p.fileName, text: "Download" }),
      el("span", { class: "sep" }),
      p.parentId ? el("a", { class: "button", href: "#/compare/" + p.parentId + "/" + p.id, text: "Compare with parent" }) : null,
      other, el("button", { type: "button", id: "compare-go", text: "Compare", onclick: () => compareTo(other.value.trim()) })
    ]),
    el("div", { class: "cols" }, [el("div", { class: "card" }, [kv]), el("div", { class: "card scroll" }, [metrics])]),
    p.failure ? el("div", { class: "card failure" }, [el("h2", { text: "Failure: " + p.failure.kind }), pre(p.failure.message)]) : null,
    el("h2", { text: "Lineage" }), el("div", { class: "card" }, [chain]),
    el("div", { class: "toolbar tabs", role: "tablist" }, Object.values(buttons)),
    ...Object.values(panes)
  );
  tab(p.diff ? "diff" : "code");
  try {
    const l = await get("/api/programs/" + encodeURIComponent(id) + "/lineage");
    const link = (q) => el("a", { href: "#/programs/" + q.id, class: "mono", text: short(q.id) + " (" + fmt(q.score) + ")" });
    const parts = [];
    for (const a of l.ancestors) parts.push(link(a), " → ");
    parts.push(el("strong", { class: "mono", text: short(l.program.id) }));
    if (l.children.length) {
      parts.push(" → children: ");
      l.children.slice(0, 12).forEach((c, i) => { if (i) parts.push(", "); parts.push(link(c)); });
      if (l.children.length > 12) parts.push(" … +" + (l.children.length - 12));
    }
    chain.replaceChildren(...parts);
  } catch (e) { chain.textContent = e.message; }
}
