// Progressive enhancement of the console's pages: every link and form works without this file.
(function () {
  "use strict";

  function escapeHtml(text) {
    return String(text).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  // Filters and pickers apply as soon as they change.
  document.addEventListener("change", function (event) {
    var field = event.target;
    if (field.matches && field.matches("[data-autosubmit]") && field.form) {
      field.form.requestSubmit();
    }
    if (field.name === "mode") showModePanels(field.form);
    if (field.matches && field.matches("[data-eval-type]")) showEvalPanels(field.form);
  });

  // "Go back" on the error pages: the previous page when there is one (the link itself goes home).
  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("a[data-back]");
    if (link && window.history.length > 1) {
      event.preventDefault();
      window.history.back();
    }
  });

  // Review items from the keyboard (form[data-shortcuts]): p / f pass or fail, 1-5 an int score,
  // Enter (Ctrl+Enter inside the comment) submits and takes the next one, s skips, b goes back.
  // Letters and digits typed into the comment or a number field stay text.
  document.addEventListener("keydown", function (event) {
    var form = document.querySelector("form[data-shortcuts]");
    if (!form || event.altKey || event.isComposing) return;
    var target = event.target;
    var typing = target.matches && target.matches("textarea, input[type=text], input[type=number], input:not([type])");
    var press = function (action) {
      var button = form.querySelector("button[value=" + action + "]");
      if (button && !button.disabled) { event.preventDefault(); form.requestSubmit(button); }
    };
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey || !typing) && !(target.matches && target.matches("button, a"))) {
      return press("submit");
    }
    if (typing || event.ctrlKey || event.metaKey) return;
    var key = event.key.toLowerCase();
    var radio = { p: "pass", f: "fail" }[key] && form.querySelector("input[name=value][value=" + { p: "pass", f: "fail" }[key] + "]");
    var select = form.querySelector("select[name=value]");
    if (radio) { event.preventDefault(); radio.checked = true; radio.focus(); }
    else if (select && /^[1-5]$/.test(key)) { event.preventDefault(); select.value = key; }
    else if (key === "s") press("skip");
    else if (key === "b") press("back");
  });

  // A link with data-shortcut="j" follows on that key (the previous / next testcase side by side),
  // unless one is typing.
  document.addEventListener("keydown", function (event) {
    if (event.altKey || event.ctrlKey || event.metaKey || event.isComposing || event.key.length !== 1) return;
    var target = event.target;
    if (target.matches && target.matches("textarea, input, select, [contenteditable]")) return;
    var link = document.querySelector('a[data-shortcut="' + event.key.toLowerCase() + '"]');
    if (link) { event.preventDefault(); window.location.href = link.href; }
  });

  // Kickoff: show the fields of the chosen system mode only.
  function showModePanels(form) {
    if (!form) return;
    var chosen = form.querySelector("input[name=mode]:checked");
    form.querySelectorAll(".mode-panel").forEach(function (panel) {
      panel.hidden = !!chosen && panel.dataset.mode !== chosen.value;
    });
  }

  // Metric form: show the configuration of the chosen evaluation type only.
  function showEvalPanels(form) {
    if (!form) return;
    var select = form.querySelector("[data-eval-type]");
    if (!select) return;
    form.querySelectorAll(".eval-panel").forEach(function (panel) {
      panel.hidden = panel.dataset.eval !== select.value;
    });
  }

  function enhance(root) {
    root.querySelectorAll("form").forEach(function (form) {
      if (form.querySelector(".mode-panel")) showModePanels(form);
      if (form.querySelector("[data-eval-type]")) showEvalPanels(form);
    });
  }

  // Dialogs: a dialog's page is fetched into the modal instead of replacing this page.
  var modal = null;
  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("a[data-dialog]");
    if (link && window.htmx && modal && !event.ctrlKey && !event.metaKey && !event.shiftKey) {
      event.preventDefault();
      htmx.ajax("GET", link.getAttribute("href"), { target: "#modal-body", swap: "innerHTML" }).then(function () {
        enhance(modal);
        postInto(modal);
        if (!modal.open) modal.showModal();
        var first = modal.querySelector("select, input:not([type=hidden]), textarea");
        if (first) first.focus();
      });
      return;
    }
    var close = event.target.closest && event.target.closest("[data-close]");
    if (close && modal && modal.open && modal.contains(close)) {
      event.preventDefault();
      modal.close();
    }
  });

  // A dialog's form posts into the dialog: a refusal (400) comes back there with what was typed,
  // success moves the page on (the console answers htmx with HX-Redirect).
  function postInto(root) {
    root.querySelectorAll("form[method=post]:not([hx-post])").forEach(function (form) {
      form.setAttribute("hx-post", form.getAttribute("action"));
      form.setAttribute("hx-target", "#modal-body");
      form.setAttribute("hx-swap", "innerHTML");
      htmx.process(form);
    });
  }
  document.addEventListener("htmx:afterSwap", function (event) {
    if (modal && event.target && event.target.id === "modal-body") {
      enhance(modal);
      postInto(modal);
      var alert = modal.querySelector("[role=alert]");
      if (alert) alert.scrollIntoView({ block: "nearest" });
    }
  });

  // Live regions keep the <details> a visitor opened while they refresh.
  var openDetails = new Set();
  document.addEventListener("htmx:beforeSwap", function () {
    openDetails = new Set();
    document.querySelectorAll("details[id][open]").forEach(function (d) { openDetails.add(d.id); });
  });
  document.addEventListener("htmx:afterSettle", function () {
    openDetails.forEach(function (id) {
      var d = document.getElementById(id);
      if (d) d.open = true;
    });
  });

  // A live run's records table (_run_records.html) is stale when the counts its progress polls
  // report (run-progressed) differ from the ones it was drawn with; it is told so (records-stale,
  // which it reloads on at most every 3 s) unless the reader is in it. Decided here: the console's
  // Content-Security-Policy forbids hx-trigger's filters, which htmx evaluates from strings.
  document.addEventListener("run-progressed", function (event) {
    var table = document.getElementById("records");
    var counts = event.detail || {};
    if (!table) return;
    if (String(counts.records) === table.dataset.records && String(counts.scores) === table.dataset.scores) return;
    if (document.activeElement && document.activeElement.closest("#records")) return;
    htmx.trigger(table, "records-stale");
  });

  // Run history: one chart per metric over the same runs, hover synchronised (echarts.connect).
  var charts = [];
  function drawHistory() {
    var source = document.getElementById("history-data");
    if (!source || !window.echarts) return;
    var data = JSON.parse(source.textContent);
    // Runs (run history), or hours / days (a feedback trend: each point names itself in `head`).
    var runs = data.points || data.runs;
    var labels = runs.map(function (r) { return r.label || r.created_at.slice(5, 16).replace("T", " "); });
    function formatted(c, v) {
      // A traffic chart's own format (calls, %, ms, USD), else a pass rate in % or a mean.
      if (c.format === "count") return Math.round(v).toLocaleString("en-US");
      if (c.format === "percent") return v.toFixed(1) + "%";
      if (c.format === "ms") return Math.round(v).toLocaleString("en-US") + " ms";
      if (c.format === "usd") return "$" + v.toFixed(4);
      return c.unit === "%" ? v.toFixed(1) + "%" : v.toFixed(2);
    }
    function tooltip(params) {
      var list = Array.isArray(params) ? params : [params];
      if (!list.length) return "";
      var i = list[0].dataIndex;
      var run = runs[i];
      var lines = run.head ? ["<div class='tip-head'><b>" + escapeHtml(run.head) + "</b></div>"] : [
        "<div class='tip-head'><b>Run " + escapeHtml(run.id.slice(0, 8)) + "</b> · " + escapeHtml(run.source) +
          " · " + escapeHtml(run.status.replace(/_/g, " ")) + "</div>",
        "<div class='tip-time'>" + escapeHtml(run.created_at.replace("T", " ").slice(0, 19)) + "</div>",
      ];
      data.charts.forEach(function (c) {
        var v = c.values[i];
        var shown = v === null ? "—" : formatted(c, v);
        lines.push("<div class='tip-row'><span>" + escapeHtml(c.name) + "</span> <b>" + shown + "</b>" +
          (c.counts[i] ? " <small>" + escapeHtml(c.counts[i]) + "</small>" : "") + "</div>");
      });
      return lines.join("");
    }
    // The page's theme (Pico's color-scheme: the visitor's choice, or their system's).
    var dark = getComputedStyle(document.documentElement).colorScheme === "dark";
    var ink = dark
      ? { label: "#9ba5b4", split: "#2d3545", line: "#74c0fc", tip: "#181d27", tipBorder: "#2d3545", text: "#e8edf4" }
      : { label: "#667", split: "#e3e7ee", line: "#1971c2", tip: "#fff", tipBorder: "#e3e7ee", text: "#1e293b" };
    document.querySelectorAll("[data-chart]").forEach(function (el) {
      var c = data.charts[Number(el.dataset.chart)];
      // [min, max, step]: even steps, so no label crowds the top one (echarts' own split gave 0, 30, 60, 90, 100).
      var range = c.output_type === "boolean" ? [0, 100, 25] : (c.output_type === "int" ? [1, 5, 1] : [0, 1, 0.25]);
      if (c.output_type === "count") range = [0, undefined, undefined];  // a traffic chart: from 0, scaled to fit
      var chart = echarts.init(el, null, { renderer: "canvas" });
      chart.group = "run-history";
      chart.setOption({
        animation: false,
        grid: { left: 44, right: 14, top: 12, bottom: 26 },
        xAxis: {
          type: "category", data: labels, boundaryGap: false, axisLabel: { hideOverlap: true, color: ink.label },
          axisLine: { lineStyle: { color: ink.label } },
        },
        yAxis: {
          type: "value", min: range[0], max: range[1], interval: range[2],
          axisLabel: { formatter: c.unit === "%" || c.format === "percent" ? "{value}%" : "{value}", color: ink.label },
          splitLine: { lineStyle: { color: ink.split } },
        },
        tooltip: {
          trigger: "axis", formatter: tooltip, confine: true, className: "history-tip",
          backgroundColor: ink.tip, borderColor: ink.tipBorder, textStyle: { color: ink.text },
        },
        axisPointer: { link: [{ xAxisIndex: "all" }] },
        series: [{
          name: c.name, type: "line", data: c.values, connectNulls: true, showAllSymbol: true,
          symbol: "circle", symbolSize: 7, lineStyle: { width: 2 }, emphasis: { focus: "series", scale: 1.8 },
        }],
        color: [ink.line],
      });
      chart.on("click", function (p) { if (runs[p.dataIndex] && runs[p.dataIndex].url) window.location.href = runs[p.dataIndex].url; });
      charts.push(chart);
    });
    echarts.connect("run-history");
    window.addEventListener("resize", function () { charts.forEach(function (ch) { ch.resize(); }); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    modal = document.getElementById("modal");
    if (modal) {
      modal.addEventListener("click", function (event) { if (event.target === modal) modal.close(); });
    }
    enhance(document);
    drawHistory();
  });
})();
