// evolve serve's web UI: a hash router over the pages. Plain browser modules, bundled into one
// script at build time (scripts/embed-assets.mjs); uPlot and diff2html come through /assets,
// code is highlighted on the server. Everything shown comes from the documented /api endpoints.
import { compareProgramsPage, compareRunsPage } from "./compare.js";
import { dashboard } from "./dashboard.js";
import { leave, view } from "./lib.js";
import { newRunPage } from "./newrun.js";
import { programPage } from "./program.js";
import { runPage } from "./run.js";
import { workersPage } from "./workers.js";

const conn = document.getElementById("conn");

function route() {
  leave();
  // A fresh view per route: a page still loading for the previous route draws into the old,
  // detached one instead of over this page.
  const old = view();
  old.replaceWith(old.cloneNode(false));
  conn.textContent = "";
  const hash = decodeURIComponent(location.hash.replace(/^#/, "")) || "/";
  const parts = hash.split("/").filter((p) => p !== "");
  const [page, a, b] = parts;
  window.scrollTo(0, 0);
  if (page === "runs" && a) runPage(a, b || "overview", (state) => (conn.textContent = state));
  else if (page === "programs" && a) programPage(a);
  else if (page === "compare" && a && b) compareProgramsPage(a, b);
  else if (page === "compare-runs" && a) compareRunsPage(a.split(","));
  else if (page === "new") newRunPage();
  else if (page === "workers") workersPage();
  else dashboard();
  const title = view().querySelector("h1");
  document.title = title ? title.textContent + " · evolve" : "evolve";
}

// Keyboard: "/" focuses the page's filter, "g" then "r" goes to the runs, "n" starts a new run.
let pendingG = false;
document.addEventListener("keydown", (e) => {
  if (e.target.closest("input, textarea, select, [contenteditable]") || e.ctrlKey || e.metaKey || e.altKey) return;
  if (e.key === "/") {
    const filter = view().querySelector("[data-filter]");
    if (filter) { e.preventDefault(); filter.focus(); }
  } else if (pendingG && e.key === "r") location.hash = "#/";
  else if (e.key === "n" && !document.querySelector(".overlay")) location.hash = "#/new";
  pendingG = e.key === "g";
});

window.addEventListener("hashchange", route);
route();
