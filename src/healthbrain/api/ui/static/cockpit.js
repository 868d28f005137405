/* HealthBrain cockpit: draws the server-built ECharts options, sends the CSRF token with htmx requests,
   runs escalation timers and listens to the live stream (SSE). No inline script: the page's CSP forbids it. */
(function () {
  "use strict";
  var body = document.body;
  var charts = [];

  function drawCharts(root) {
    var nodes = (root || document).querySelectorAll("[data-chart]");
    nodes.forEach(function (el) {
      if (el.dataset.drawn) { return; }
      var src = document.getElementById(el.dataset.chart);
      if (!src) { return; }
      if (typeof window.echarts === "undefined") {
        el.textContent = body.dataset.tNochart || "";
        el.classList.add("empty");
        return;
      }
      var chart = window.echarts.init(el, null, { renderer: "canvas" });
      chart.setOption(JSON.parse(src.textContent));
      el.dataset.drawn = "1";
      charts.push(chart);
      setTimeout(function () { chart.resize(); }, 50);  // the panel may get its final width after the swap
    });
  }

  function clock(seconds) {
    var s = Math.max(0, Math.round(Math.abs(seconds)));
    var m = Math.floor(s / 60), r = s % 60;
    return (m >= 60 ? Math.floor(m / 60) + ":" + String(m % 60).padStart(2, "0") : String(m)) + ":" + String(r).padStart(2, "0");
  }

  function tick() {
    var now = Date.now() / 1000;
    document.querySelectorAll("[data-due]").forEach(function (el) {
      var left = parseFloat(el.dataset.due) - now;
      var tpl = left >= 0 ? body.dataset.tLeft : body.dataset.tOverdue;
      el.textContent = (tpl || "%s").replace("%s", clock(left));
      el.classList.toggle("overdue", left < 0);
    });
  }

  function toast(text, kind) {
    var box = document.getElementById("toasts");
    if (!box || !text) { return; }
    var div = document.createElement("div");
    div.className = "toast " + (kind || "");
    div.textContent = text;
    box.appendChild(div);
    setTimeout(function () { div.remove(); }, 8000);
  }

  function bump(id) {
    var badge = document.getElementById(id);
    if (badge) { badge.textContent = String((parseInt(badge.textContent || "0", 10) || 0) + 1); }
  }

  function listen() {
    if (!body.dataset.live || typeof window.EventSource === "undefined") { return; }
    var source = new EventSource("/ui/live");
    ["alert", "escalation"].forEach(function (name) {
      source.addEventListener(name, function (e) {
        var data = JSON.parse(e.data);
        toast(data.title, data.priority === "critical" ? "critical" : "");
        bump("alerts-badge");
        body.dispatchEvent(new CustomEvent("hb-alert"));
      });
    });
    ["acknowledged", "completed"].forEach(function (name) {
      source.addEventListener(name, function () { body.dispatchEvent(new CustomEvent("hb-alert")); });
    });
    source.addEventListener("signal", function (e) {
      var data = JSON.parse(e.data);
      toast(data.title, "");
      bump("signals-badge");
      body.dispatchEvent(new CustomEvent("hb-signal"));
    });
    window.addEventListener("beforeunload", function () { source.close(); });
  }

  document.addEventListener("htmx:configRequest", function (e) {
    var meta = document.querySelector('meta[name="csrf-token"]');
    if (meta) { e.detail.headers["X-CSRF-Token"] = meta.content; }
  });
  document.addEventListener("htmx:afterSwap", function (e) { drawCharts(e.target); tick(); });
  document.addEventListener("htmx:responseError", function (e) {
    // the server answers errors with a translated fragment: show it where the result would go
    if (e.detail.xhr && e.detail.xhr.responseText && e.detail.target) { e.detail.target.innerHTML = e.detail.xhr.responseText; }
  });
  window.addEventListener("resize", function () { charts.forEach(function (c) { c.resize(); }); });
  drawCharts(document);
  tick();
  setInterval(tick, 1000);
  listen();
})();
