// evolve serve's web UI, plain browser JavaScript; uPlot and diff2html come through /assets, code is highlighted on the server.
"use strict";
(function () {
  var view = document.getElementById("view");
  var conn = document.getElementById("conn");
  var current = { source: null, timers: [], plot: null, onResize: null };

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    if (attrs) for (var k in attrs) {
      if (k === "text") node.textContent = attrs[k];
      else if (k === "html") node.innerHTML = attrs[k];
      else if (k.slice(0, 2) === "on") node.addEventListener(k.slice(2), attrs[k]);
      else if (attrs[k] !== null && attrs[k] !== undefined) node.setAttribute(k, attrs[k]);
    }
    (children || []).forEach(function (c) { if (c !== null && c !== undefined) node.appendChild(typeof c === "string" ? document.createTextNode(c) : c); });
    return node;
  }
  function fmt(n, digits) {
    if (n === null || n === undefined) return "—";
    if (typeof n !== "number") return String(n);
    if (Number.isInteger(n) && Math.abs(n) < 1e6) return String(n);
    return Number(n.toPrecision(digits || 6)).toString();
  }
  function usd(n) { return "$" + (n || 0).toFixed(4); }
  function short(id) { return id ? id.replace(/^(run|p)_/, "").slice(-8) : ""; }
  function when(ms) { return new Date(ms).toLocaleString(); }
  function secs(ms) { return ms < 60000 ? (ms / 1000).toFixed(1) + " s" : (ms / 60000).toFixed(1) + " min"; }
  function badge(status) { return el("span", { "class": "badge " + status, text: status }); }

  function api(method, path, body) {
    var init = { method: method, headers: {} };
    if (body !== undefined) { init.headers["content-type"] = "application/json"; init.body = JSON.stringify(body); }
    return fetch(path, init).then(function (r) {
      return r.text().then(function (t) {
        var data = null;
        try { data = t ? JSON.parse(t) : null; } catch (e) { data = { message: t }; }
        if (r.status === 401) { window.location.assign("/login"); } // session gone (server restarted): log in again
        if (!r.ok) { var err = new Error((data && data.message) || ("HTTP " + r.status)); err.status = r.status; err.data = data; throw err; }
        return data;
      });
    });
  }

  function cleanup() {
    if (current.source) current.source.close();
    current.timers.forEach(function (t) { clearInterval(t); });
    if (current.plot) current.plot.destroy();
    if (current.onResize) window.removeEventListener("resize", current.onResize);
    current = { source: null, timers: [], plot: null, onResize: null };
    conn.textContent = "";
  }
  function every(ms, f) { current.timers.push(setInterval(f, ms)); }
  function fail(e) { view.appendChild(el("p", { "class": "error", text: String(e.message || e) })); }

  // ---- runs list ------------------------------------------------------------------------------

  function runsPage() {
    var table = el("table", { id: "runs-table" });
    var error = el("div", { "class": "error", id: "new-run-error" });
    var program = el("input", { id: "program-input", name: "program", placeholder: "path/to/initial_program.py", required: "required" });
    var evaluator = el("input", { id: "evaluator-input", name: "evaluator", placeholder: "path/to/evaluator.py", required: "required" });
    var config = el("textarea", { id: "config-input", name: "config", placeholder: "evolve.yaml settings (YAML or JSON), e.g.\nmax_evaluations: 100\nllm:\n  provider: offline" });
    var start = el("button", { "class": "primary", id: "start-button", type: "submit", text: "Start run" });
    var form = el("form", { "class": "new-run", id: "new-run-form" }, [
      el("label", { "for": "program-input", text: "Program" }), program,
      el("label", { "for": "evaluator-input", text: "Evaluator" }), evaluator,
      el("label", { "for": "config-input", text: "Config" }), config,
      el("span"), el("div", null, [start, error])
    ]);
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      error.textContent = "";
      start.disabled = true;
      var body = { program: program.value.trim(), evaluator: evaluator.value.trim() };
      if (config.value.trim() !== "") body.config_yaml = config.value;
      api("POST", "/api/runs", body).then(function (run) { location.hash = "#/runs/" + run.id; })
        .catch(function (e) { error.textContent = e.message + (e.data && e.data.path ? "  (" + e.data.path + ")" : ""); })
        .then(function () { start.disabled = false; });
    });
    view.replaceChildren(
      el("h1", { text: "Runs" }),
      el("div", { "class": "card" }, [table]),
      el("h2", { text: "New run" }),
      el("div", { "class": "card" }, [form])
    );
    function refresh() {
      return api("GET", "/api/runs").then(function (runs) {
        var head = el("tr", null, ["Run", "Status", "Program", "Evaluated", "Failed", "Pending", "Best", "Tokens", "USD", "Created"].map(function (h, i) {
          return el("th", { "class": i >= 3 && i <= 8 ? "num" : null, text: h });
        }));
        var rows = runs.map(function (r) {
          return el("tr", { "class": "click run-row", "data-id": r.id, onclick: function () { location.hash = "#/runs/" + r.id; } }, [
            el("td", { "class": "mono", text: r.id }),
            el("td", null, [badge(r.paused ? "paused" : r.status)]),
            el("td", { "class": "mono", title: r.program, text: r.program.split("/").slice(-2).join("/") }),
            el("td", { "class": "num", text: fmt(r.evaluated) }),
            el("td", { "class": "num", text: fmt(r.failed) }),
            el("td", { "class": "num", text: fmt(r.pending) }),
            el("td", { "class": "num", text: fmt(r.bestScore) }),
            el("td", { "class": "num", text: fmt(r.inputTokens + r.outputTokens) }),
            el("td", { "class": "num", text: usd(r.usd) }),
            el("td", { text: when(r.createdAt) })
          ]);
        });
        if (rows.length === 0) rows = [el("tr", null, [el("td", { colspan: "10", "class": "muted", text: "No runs yet: start one below." })])];
        table.replaceChildren.apply(table, [head].concat(rows));
      });
    }
    refresh().catch(fail);
    every(3000, function () { refresh().catch(function () {}); });
  }

  // ---- run page -------------------------------------------------------------------------------

  function runPage(id) {
    var state = { run: null, points: [], seen: {}, best: null, failedEvals: 0, lineageFor: null };
    var title = el("h1", null, ["Run ", el("span", { "class": "mono", text: id })]);
    var status = el("span", { id: "run-status" });
    var pause = el("button", { id: "pause-button", text: "Pause" });
    var resume = el("button", { id: "resume-button", text: "Resume" });
    var stop = el("button", { "class": "danger", id: "stop-button", text: "Stop" });
    var actionError = el("span", { "class": "error" });
    var stats = el("div", { "class": "grid", id: "run-stats" });
    var plotBox = el("div", { id: "plot" });
    var models = el("table", { id: "models-table" });
    var lineage = el("div", { id: "lineage" }, [el("p", { "class": "muted", text: "No scored program yet." })]);
    var programs = el("table", { id: "programs-table" });
    var info = el("div", { "class": "muted", id: "run-info" });

    function act(path) {
      actionError.textContent = "";
      api("POST", "/api/runs/" + id + "/" + path).then(render).catch(function (e) { actionError.textContent = e.message; });
    }
    pause.addEventListener("click", function () { act("pause"); });
    stop.addEventListener("click", function () { act("stop"); });
    resume.addEventListener("click", function () { act("resume"); });

    view.replaceChildren(
      title,
      el("div", { "class": "toolbar" }, [status, pause, resume, stop, actionError]),
      info,
      stats,
      el("div", { "class": "cols" }, [
        el("div", null, [el("h2", { text: "Score over time" }), el("div", { "class": "card" }, [plotBox])]),
        el("div", null, [el("h2", { text: "Lineage of the best program" }), el("div", { "class": "card" }, [lineage])])
      ]),
      el("h2", { text: "LLM per model" }),
      el("div", { "class": "card" }, [models]),
      el("h2", { text: "Latest programs" }),
      el("div", { "class": "card" }, [programs])
    );

    // uPlot: x = seconds since the run started; each evaluation as a point, the best so far as steps.
    function plotData() {
      var xs = [], ys = [], best = [], top = null;
      state.points.forEach(function (p) {
        xs.push((p.at - state.run.createdAt) / 1000);
        ys.push(p.score);
        if (p.score !== null && (top === null || p.score > top)) top = p.score;
        best.push(top);
      });
      return [xs, ys, best];
    }
    function drawPlot() {
      if (!state.run) return;
      var data = plotData();
      if (current.plot) { current.plot.setData(data); return; }
      var width = Math.max(300, plotBox.clientWidth - 4);
      current.plot = new uPlot({
        width: width, height: 300,
        scales: { x: { time: false } },
        axes: [{ label: "seconds", stroke: "#6b7385" }, { label: "score", stroke: "#6b7385" }],
        series: [
          { label: "t (s)", value: function (u, v) { return v === null ? "—" : v.toFixed(1); } },
          { label: "evaluation", stroke: "#93c5fd", fill: null, width: 0, paths: function () { return null; }, points: { show: true, size: 5, stroke: "#2563eb", fill: "#93c5fd" } },
          { label: "best", stroke: "#15803d", width: 2, paths: uPlot.paths.stepped({ align: 1 }), points: { show: false } }
        ]
      }, data, plotBox);
      plotBox.setAttribute("data-points", String(data[0].length));
      current.onResize = function () { if (current.plot) current.plot.setSize({ width: Math.max(300, plotBox.clientWidth - 4), height: 300 }); };
      window.addEventListener("resize", current.onResize);
    }
    function addPoint(p) {
      if (state.seen[p.programId]) return;
      state.seen[p.programId] = true;
      var i = state.points.length;
      while (i > 0 && state.points[i - 1].at > p.at) i--;
      state.points.splice(i, 0, p);
    }
    var plotDirty = false;
    every(500, function () {
      if (!plotDirty) return;
      plotDirty = false;
      drawPlot();
      plotBox.setAttribute("data-points", String(state.points.length));
      renderStats();
    });

    function stat(k, v, id) { return el("div", { "class": "stat" }, [el("div", { "class": "v", id: id || null, text: v }), el("div", { "class": "k", text: k })]); }
    function renderStats() {
      var r = state.run;
      if (!r) return;
      var scored = 0, failed = 0;
      state.points.forEach(function (p) { if (p.score === null) failed++; else scored++; });
      var total = scored + failed;
      var lastAt = state.points.length ? state.points[state.points.length - 1].at : r.createdAt;
      var recent = state.points.filter(function (p) { return p.at >= lastAt - 60000; }).length;
      var spanMs = Math.max(1, Math.min(60000, lastAt - (state.points.length ? state.points[0].at : lastAt)));
      var live = r.live;
      stats.replaceChildren(
        stat("evaluations", fmt(total) + " / " + fmt(r.maxEvaluations), "eval-count"),
        stat("success rate", total === 0 ? "—" : Math.round(100 * scored / total) + "%", "success-rate"),
        stat("throughput", total < 2 ? "—" : (recent * 60000 / spanMs).toFixed(1) + " /min", "throughput"),
        stat("best score", fmt(r.bestScore), "best-score"),
        stat("in flight llm / eval", live ? live.inFlightProposals + " / " + live.inFlightEvaluations : "—"),
        stat("queued", live ? fmt(live.queued) : "—"),
        stat("tokens", fmt(r.inputTokens + r.outputTokens)),
        stat("cost", usd(r.usd)),
        stat("elapsed", live ? secs(live.elapsedMs) : "—")
      );
    }

    function render(r) {
      state.run = r;
      status.replaceChildren(badge(r.paused ? "paused" : r.status));
      pause.disabled = !r.active || r.status !== "running";
      stop.disabled = !r.active || r.status !== "running";
      resume.disabled = r.active;
      info.replaceChildren(
        el("span", { "class": "mono", text: r.program }), " · evaluator ", el("span", { "class": "mono", text: r.evaluator }),
        " · " + r.provider + (r.provider === "offline" ? "" : " " + r.model),
        r.stopReason ? " · stopped: " + r.stopReason : ""
      );
      var head = el("tr", null, ["Model", "Calls", "Errors", "Input tokens", "Output tokens", "USD"].map(function (h, i) { return el("th", { "class": i ? "num" : null, text: h }); }));
      var rows = r.models.map(function (m) {
        return el("tr", null, [el("td", { "class": "mono", text: m.model }), el("td", { "class": "num", text: fmt(m.calls) }), el("td", { "class": "num", text: fmt(m.errors) }),
          el("td", { "class": "num", text: fmt(m.inputTokens) }), el("td", { "class": "num", text: fmt(m.outputTokens) }), el("td", { "class": "num", text: usd(m.usd) })]);
      });
      if (rows.length === 0) rows = [el("tr", null, [el("td", { colspan: "6", "class": "muted", text: "No LLM calls yet." })])];
      models.replaceChildren.apply(models, [head].concat(rows));
      renderStats();
      if (r.bestProgramId && r.bestProgramId !== state.lineageFor) loadLineage(r.bestProgramId);
    }

    function node(p, me) {
      return el("li", { "class": me ? "me" : null }, [
        el("a", { href: "#/programs/" + p.id, "class": "program-link mono", text: short(p.id) }),
        " ", el("span", { "class": "muted", text: "gen " + p.generation + " · " }), el("span", { text: p.score === null ? p.status : fmt(p.score) })
      ]);
    }
    function loadLineage(programId) {
      state.lineageFor = programId;
      api("GET", "/api/programs/" + programId + "/lineage").then(function (l) {
        // A chain from the root down to the best program, whose children hang below it.
        var root = el("ul", { "class": "tree" });
        var parent = root;
        l.ancestors.concat([l.program]).forEach(function (p, i, all) {
          var li = node(p, i === all.length - 1);
          parent.appendChild(li);
          var ul = el("ul");
          li.appendChild(ul);
          parent = ul;
        });
        l.children.slice(0, 12).forEach(function (c) { parent.appendChild(node(c, false)); });
        if (l.children.length > 12) parent.appendChild(el("li", { "class": "muted", text: "+" + (l.children.length - 12) + " more children" }));
        lineage.replaceChildren(root);
      }).catch(function () {});
    }

    function loadPrograms() {
      return api("GET", "/api/runs/" + id + "/programs?sort=time&order=desc&limit=15").then(function (page) {
        var head = el("tr", null, ["Program", "Status", "Score", "Parent", "Gen", "Model", "Eval", "Failure"].map(function (h, i) { return el("th", { "class": i === 2 || i === 4 || i === 6 ? "num" : null, text: h }); }));
        var rows = page.items.map(function (p) {
          return el("tr", { "class": "click program-row", "data-id": p.id, onclick: function () { location.hash = "#/programs/" + p.id; } }, [
            el("td", { "class": "mono", text: p.id }), el("td", null, [badge(p.status)]), el("td", { "class": "num", text: fmt(p.score) }),
            el("td", { "class": "mono", text: short(p.parentId) }), el("td", { "class": "num", text: fmt(p.generation) }),
            el("td", { "class": "mono", text: p.llm ? p.llm.model : "" }), el("td", { "class": "num", text: p.evalMs === null ? "" : secs(p.evalMs) }),
            el("td", { "class": "muted", text: p.failure ? p.failure.kind : "" })
          ]);
        });
        programs.replaceChildren.apply(programs, [head].concat(rows));
      });
    }

    function refresh() { return api("GET", "/api/runs/" + id).then(render); }

    refresh().then(function () {
      var since = state.run.lastEventId;
      return api("GET", "/api/runs/" + id + "/scores").then(function (t) {
        t.points.forEach(function (p) { addPoint({ programId: p.programId, at: p.at, score: p.status === "evaluated" ? p.score : null }); });
        drawPlot();
        renderStats();
        listen(since);
      });
    }).catch(fail);
    loadPrograms().catch(function () {});
    every(2000, function () {
      if (state.run && (state.run.active || state.run.status === "running")) { refresh().catch(function () {}); loadPrograms().catch(function () {}); }
    });

    function listen(since) {
      var source = new EventSource("/api/runs/" + id + "/events?lastEventId=" + since);
      current.source = source;
      source.onopen = function () { conn.textContent = "live"; };
      source.onerror = function () { conn.textContent = "reconnecting…"; };
      source.addEventListener("CandidateEvaluated", function (m) {
        var e = JSON.parse(m.data);
        addPoint({ programId: e.programId, at: e.at, score: e.score });
        plotDirty = true;
      });
      source.addEventListener("CandidateFailed", function (m) {
        var e = JSON.parse(m.data);
        if (e.stage === "evaluate") { addPoint({ programId: e.programId, at: e.at, score: null }); plotDirty = true; }
      });
      source.addEventListener("NewBest", function (m) {
        var e = JSON.parse(m.data);
        if (state.run) { state.run.bestScore = e.score; state.run.bestProgramId = e.programId; }
        loadLineage(e.programId);
      });
      source.addEventListener("RunStatusChanged", function () { refresh().catch(function () {}); loadPrograms().catch(function () {}); });
      source.addEventListener("RunStarted", function () { refresh().catch(function () {}); });
    }
  }

  // ---- program page ---------------------------------------------------------------------------

  function programPage(id) {
    api("GET", "/api/programs/" + id + "?highlight=true").then(function (p) {
      var diffBox = el("div", { id: "diff-view" });
      var codeBox = el("pre", { "class": "code hljs", id: "code-view" }, [el("code", { html: p.highlighted || "" })]);
      var showDiff = el("button", { id: "show-diff", text: "Diff vs parent" });
      var showCode = el("button", { id: "show-code", text: "Code" });
      function tab(which) {
        var diff = which === "diff";
        showDiff.className = diff ? "on" : ""; showCode.className = diff ? "" : "on";
        diffBox.style.display = diff ? "" : "none"; codeBox.style.display = diff ? "none" : "";
      }
      showDiff.addEventListener("click", function () { tab("diff"); });
      showCode.addEventListener("click", function () { tab("code"); });
      if (p.diff) {
        var ui = new Diff2HtmlUI(diffBox, p.diff, { drawFileList: false, matching: "lines", outputFormat: "side-by-side", highlight: true, fileContentToggle: false });
        ui.draw();
        ui.highlightCode();
      } else {
        diffBox.appendChild(el("p", { "class": "muted", text: p.parentId ? "No diff (the candidate has no code)." : "The initial program has no parent." }));
        showDiff.disabled = !p.parentId;
      }
      var kv = el("div", { "class": "kv" }, [
        el("div", { text: "run" }), el("div", null, [el("a", { href: "#/runs/" + p.runId, "class": "mono", text: p.runId })]),
        el("div", { text: "status" }), el("div", null, [badge(p.status)]),
        el("div", { text: "score" }), el("div", { text: fmt(p.score) + (p.parentScore !== null ? "  (parent " + fmt(p.parentScore) + ")" : "") }),
        el("div", { text: "parent" }), el("div", null, [p.parentId ? el("a", { href: "#/programs/" + p.parentId, "class": "mono", text: p.parentId }) : "—"]),
        el("div", { text: "generation · island" }), el("div", { text: p.generation + " · " + p.island }),
        el("div", { text: "evaluation" }), el("div", { text: p.evalMs === null ? "—" : secs(p.evalMs) }),
        el("div", { text: "LLM" }), el("div", { text: p.llm ? p.llm.model + " · " + p.llm.inputTokens + " in / " + p.llm.outputTokens + " out · " + secs(p.llm.latencyMs) + " · " + p.llm.attempts + " attempt(s) · " + usd(p.llm.usd) : "—" })
      ]);
      var metrics = el("table", null, [el("tr", null, [el("th", { text: "Metric" }), el("th", { "class": "num", text: "Value" })])].concat(
        Object.keys(p.metrics || {}).map(function (k) { return el("tr", null, [el("td", { "class": "mono", text: k }), el("td", { "class": "num", text: fmt(p.metrics[k]) })]); })));
      var extra = [];
      if (p.failure) extra.push(el("h2", { text: "Failure" }), el("pre", { "class": "code error", text: p.failure.kind + ": " + p.failure.message }));
      if (p.feedback) extra.push(el("h2", { text: "Evaluator feedback" }), el("pre", { "class": "code", text: p.feedback }));
      var lineage = el("div", { id: "program-lineage", "class": "muted", text: "…" });
      view.replaceChildren.apply(view, [
        el("h1", null, ["Program ", el("span", { "class": "mono", text: p.id })]),
        el("div", { "class": "cols" }, [el("div", { "class": "card" }, [kv]), el("div", { "class": "card" }, [metrics])])
      ].concat(extra, [
        el("h2", { text: "Lineage" }), el("div", { "class": "card" }, [lineage]),
        el("div", { "class": "toolbar tabs" }, [showDiff, showCode]),
        diffBox, codeBox
      ]));
      tab(p.diff ? "diff" : "code");
      api("GET", "/api/programs/" + id + "/lineage").then(function (l) {
        var chain = l.ancestors.map(function (a) { return el("a", { href: "#/programs/" + a.id, "class": "mono", text: short(a.id) + " (" + fmt(a.score) + ")" }); });
        var parts = [];
        chain.forEach(function (c) { parts.push(c, " → "); });
        parts.push(el("strong", { "class": "mono", text: short(l.program.id) }));
        if (l.children.length) {
          parts.push(" → children: ");
          l.children.slice(0, 10).forEach(function (c, i) { if (i) parts.push(", "); parts.push(el("a", { href: "#/programs/" + c.id, "class": "mono", text: short(c.id) + " (" + fmt(c.score) + ")" })); });
        }
        lineage.replaceChildren.apply(lineage, parts);
      }).catch(function () { lineage.textContent = ""; });
    }).catch(fail);
  }

  // ---- routing --------------------------------------------------------------------------------

  function route() {
    cleanup();
    var hash = location.hash.replace(/^#/, "") || "/";
    var m;
    if ((m = /^\/runs\/([^/]+)$/.exec(hash))) runPage(decodeURIComponent(m[1]));
    else if ((m = /^\/programs\/([^/]+)$/.exec(hash))) programPage(decodeURIComponent(m[1]));
    else runsPage();
  }
  window.addEventListener("hashchange", route);
  route();
})();
