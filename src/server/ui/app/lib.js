// Shared helpers of the web UI: DOM building (text only, never HTML from data), formatting, the
// API client, the page's lifetime (timers, streams and plots ended on navigation) and common states.

export const view = () => document.getElementById("view");

/** An element: attrs (text, on*, class, data-*, …) and children (nodes or strings). */
export function el(tag, attrs, children) {
  const node = document.createElement(tag);
  if (attrs) for (const k of Object.keys(attrs)) {
    const v = attrs[k];
    if (v === null || v === undefined || v === false) continue;
    if (k === "text") node.textContent = v;
    else if (k === "html") node.innerHTML = v; // only for server-rendered, escaped HTML (highlight.js)
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children || []) if (c !== null && c !== undefined && c !== false) node.append(typeof c === "string" ? document.createTextNode(c) : c);
  return node;
}

/** Replaces `node`'s children, skipping null, undefined and false ones. */
export const put = (node, ...children) => node.replaceChildren(...children.filter((c) => c !== null && c !== undefined && c !== false));

export function fmt(n, digits) {
  if (n === null || n === undefined || Number.isNaN(n)) return "—";
  if (typeof n !== "number") return String(n);
  if (Number.isInteger(n) && Math.abs(n) < 1e9) return n.toLocaleString("en-US");
  return Number(n.toPrecision(digits || 6)).toString();
}
export const usd = (n) => "$" + (n || 0).toFixed(4);
export const short = (id) => (id ? id.replace(/^(run|p)_/, "").slice(-8) : "");
export const when = (ms) => new Date(ms).toLocaleString(undefined, { dateStyle: "short", timeStyle: "short" });
export function secs(ms) {
  if (ms === null || ms === undefined) return "—";
  if (ms < 1000) return Math.round(ms) + " ms";
  if (ms < 60000) return (ms / 1000).toFixed(1) + " s";
  if (ms < 3600000) return (ms / 60000).toFixed(1) + " min";
  return (ms / 3600000).toFixed(1) + " h";
}
export const badge = (status) => el("span", { class: "badge " + status, text: status });

export class ApiError extends Error {
  constructor(message, status, data) { super(message); this.status = status; this.data = data; }
}

/** JSON API call; a 401 means the session is gone (server restarted): log in again. */
export async function api(method, path, body) {
  const init = { method, headers: {} };
  if (body !== undefined) { init.headers["content-type"] = "application/json"; init.body = JSON.stringify(body); }
  const r = await fetch(path, init);
  const text = await r.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = { message: text }; }
  if (r.status === 401) window.location.assign("/login");
  if (!r.ok) throw new ApiError((data && data.message) || "HTTP " + r.status, r.status, data);
  return data;
}
export const get = (path) => api("GET", path);

const scripts = new Map();
/** Loads a script of /assets once, when a page first needs it (diff2html: 300 kB most pages never use). */
export function loadScript(src) {
  if (!scripts.has(src)) {
    scripts.set(src, new Promise((resolve, reject) => {
      const tag = el("script", { src });
      tag.addEventListener("load", resolve);
      tag.addEventListener("error", () => { scripts.delete(src); reject(new Error("cannot load " + src)); });
      document.head.append(tag);
    }));
  }
  return scripts.get(src);
}

// ---- page lifetime ----------------------------------------------------------------------------

let disposers = [];
/** Runs `f` when the page is left. */
export function onLeave(f) { disposers.push(f); }
export function leave() {
  const all = disposers;
  disposers = [];
  for (const f of all) { try { f(); } catch (e) { console.warn(e); } }
}
export function every(ms, f) { const t = setInterval(f, ms); onLeave(() => clearInterval(t)); }
export function listen(target, type, f) { target.addEventListener(type, f); onLeave(() => target.removeEventListener(type, f)); }

/** A Server-Sent Events stream of a run, closed on leaving; `handlers` by event type. */
export function runEvents(runId, since, handlers, onState) {
  const source = new EventSource("/api/runs/" + encodeURIComponent(runId) + "/events?lastEventId=" + since);
  source.onopen = () => onState && onState("live");
  source.onerror = () => onState && onState("reconnecting…");
  for (const type of Object.keys(handlers)) source.addEventListener(type, (m) => handlers[type](JSON.parse(m.data)));
  onLeave(() => source.close());
  return source;
}

/** Calls `f` at most once per `ms` while it keeps being asked for (trailing call kept). */
export function throttle(ms, f) {
  let timer = null, wanted = false;
  const run = () => { timer = null; if (wanted) { wanted = false; f(); timer = setTimeout(run, ms); } };
  onLeave(() => clearTimeout(timer));
  return () => { wanted = true; if (timer === null) run(); };
}
export function debounce(ms, f) {
  let timer = null;
  onLeave(() => clearTimeout(timer));
  return (...args) => { clearTimeout(timer); timer = setTimeout(() => f(...args), ms); };
}

// ---- states ---------------------------------------------------------------------------------

export const loading = (what) => el("p", { class: "muted loading", role: "status", text: "Loading " + (what || "") + "…" });

/** An error box with a retry button. */
export function failure(e, retry) {
  return el("div", { class: "error-box", role: "alert" }, [
    el("span", { text: (e && e.message) || String(e) }),
    retry ? el("button", { type: "button", text: "Retry", onclick: retry }) : null
  ]);
}

/** Fills `box` from `load()`: a loading line (unless it shows data already), then `render(data)`, or an error with retry. */
export async function fill(box, load, render, what) {
  if (!box.firstChild || box.querySelector(".error-box")) box.replaceChildren(loading(what));
  try {
    const data = await load();
    box.replaceChildren();
    render(data, box);
  } catch (e) {
    box.replaceChildren(failure(e, () => fill(box, load, render, what)));
  }
}

export function notFound(kind, id, root = view()) {
  root.replaceChildren(el("section", { class: "not-found", id: "not-found" }, [
    el("h1", { text: kind + " not found" }),
    el("p", null, ["There is no " + kind.toLowerCase() + " ", el("span", { class: "mono", text: id }), " on this server. It may have been deleted."]),
    el("p", null, [el("a", { href: "#/", text: "← All runs" })])
  ]));
}

// ---- small widgets --------------------------------------------------------------------------

/** A modal confirmation (keyboard: Enter confirms, Escape cancels); resolves true or false. */
export function confirmDialog(message, confirmLabel) {
  return new Promise((resolve) => {
    const done = (ok) => { overlay.remove(); resolve(ok); };
    const yes = el("button", { class: "danger", id: "confirm-yes", type: "button", text: confirmLabel, onclick: () => done(true) });
    const no = el("button", { type: "button", id: "confirm-no", text: "Cancel", onclick: () => done(false) });
    const overlay = el("div", { class: "overlay", role: "dialog", "aria-modal": "true" }, [
      el("div", { class: "dialog" }, [el("p", { text: message }), el("div", { class: "toolbar end" }, [no, yes])])
    ]);
    overlay.addEventListener("keydown", (e) => { if (e.key === "Escape") done(false); });
    document.body.append(overlay);
    no.focus();
  });
}

/** Copies text to the clipboard (falls back to a selection when the Clipboard API is refused). */
export async function copyText(text, button) {
  try { await navigator.clipboard.writeText(text); }
  catch {
    const area = el("textarea", { class: "offscreen" });
    area.value = text;
    document.body.append(area);
    area.select();
    document.execCommand("copy");
    area.remove();
  }
  if (button) { const label = button.textContent; button.textContent = "Copied"; setTimeout(() => (button.textContent = label), 1200); }
}

/** A table: `columns` of { label, num?, sort?, cell(row) → node|string }; rows get `rowAttrs(row)`. */
export function table(columns, rows, options) {
  const o = options || {};
  const head = el("tr", null, columns.map((c) => {
    const th = el("th", { class: c.num ? "num" : null, scope: "col" });
    if (c.sort && o.onSort) {
      const on = o.sort === c.sort;
      th.setAttribute("aria-sort", on ? (o.order === "asc" ? "ascending" : "descending") : "none");
      th.append(el("button", { class: "sort" + (on ? " on" : ""), type: "button", "data-sort": c.sort, text: c.label + (on ? (o.order === "asc" ? " ▲" : " ▼") : ""), onclick: () => o.onSort(c.sort) }));
    } else th.textContent = c.label;
    return th;
  }));
  const body = rows.map((r) => {
    const tr = el("tr", o.rowAttrs ? o.rowAttrs(r) : null, columns.map((c) => {
      const v = c.cell(r);
      return el("td", { class: (c.num ? "num " : "") + (c.cls || "") }, [typeof v === "string" || typeof v === "number" ? String(v) : v]);
    }));
    if (o.onOpen) {
      tr.tabIndex = 0;
      tr.classList.add("click");
      tr.addEventListener("click", (e) => { if (!e.target.closest("a, button, input, label")) o.onOpen(r); });
      tr.addEventListener("keydown", (e) => { if (e.key === "Enter" && e.target === tr) o.onOpen(r); });
    }
    return tr;
  });
  if (body.length === 0) body.push(el("tr", null, [el("td", { colspan: String(columns.length), class: "muted", text: o.empty || "Nothing yet." })]));
  return el("div", { class: "scroll" }, [el("table", { id: o.id || null }, [el("thead", null, [head]), el("tbody", null, body)])]);
}

/** Colour for a value in [0, 1]: a perceptual ramp from dark blue through teal to yellow (viridis-like). */
export function ramp(t) {
  const stops = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
  const x = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0)) * (stops.length - 1);
  const i = Math.min(stops.length - 2, Math.floor(x)), f = x - i;
  const c = stops[i].map((a, k) => Math.round(a + (stops[i + 1][k] - a) * f));
  return "rgb(" + c.join(",") + ")";
}
export const palette = ["#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#65a30d", "#4b5563", "#ea580c"];
export const statusColour = { evaluated: "#16a34a", failed: "#dc2626", rejected: "#a855f7", pending: "#9ca3af" };
