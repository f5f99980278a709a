// livecard pages: live presence without reloads, and the advisor's presence
// page. No framework; loaded with `defer` from our own origin.
(function () {
  "use strict";
  var body = document.body;
  var page = body.getAttribute("data-page");
  var main = document.getElementById("main");
  var extra = {};
  try { extra = JSON.parse(main.getAttribute("data-extra") || "{}"); } catch (e) { extra = {}; }
  var pollMs = Math.max(1000, parseInt(body.getAttribute("data-poll-ms"), 10) || 2000);
  // Analytics consent (docs/analytics.md): asked on our own pages only when
  // a destination needs it; remembered in this browser; sent back with the
  // page view's signed token, and handed to the chat for the contact.
  var lc = window.livecard = window.livecard || {};
  lc.consent = lc.consent || function (c) { lc._consent = c; };
  function randomDigits(n) {
    var b = new Uint32Array(1); crypto.getRandomValues(b);
    return String(b[0]).padStart(10, "0").slice(0, n);
  }
  function applyConsent(decision, view) {
    var c = { analytics: decision === "granted" };
    if (c.analytics) {
      try {
        var id = localStorage.getItem("livecard.ga_client_id");
        if (!id) { id = randomDigits(10) + "." + Math.floor(Date.now() / 1000); localStorage.setItem("livecard.ga_client_id", id); }
        var sid = sessionStorage.getItem("livecard.ga_session_id");
        if (!sid) { sid = String(Math.floor(Date.now() / 1000)); sessionStorage.setItem("livecard.ga_session_id", sid); }
        c.ga_client_id = id; c.ga_session_id = sid;
      } catch (e) {}
    } else {
      try { localStorage.removeItem("livecard.ga_client_id"); } catch (e) {}
    }
    lc.consent(c);
    if (view) {
      fetch("/api/v1/consent", { method: "POST", credentials: "same-origin", headers: { "content-type": "application/json" },
        body: JSON.stringify({ view: view, consent: c }) }).catch(function () {});
    }
  }
  var banner = document.getElementById("consent");
  if (extra.view && banner) {
    var decided = null;
    try { decided = localStorage.getItem("livecard.consent"); } catch (e) {}
    if (decided === "granted" || decided === "denied") applyConsent(decided, extra.view);
    else {
      banner.hidden = false;
      banner.addEventListener("click", function (e) {
        var d = e.target.getAttribute && e.target.getAttribute("data-consent");
        if (!d) return;
        try { localStorage.setItem("livecard.consent", d); } catch (err) {}
        banner.hidden = true;
        applyConsent(d, extra.view);
      });
    }
  }

  var labels = {
    available: body.getAttribute("data-l-available"),
    busy: body.getAttribute("data-l-busy"),
    away: body.getAttribute("data-l-away"),
    offline: body.getAttribute("data-l-offline")
  };

  // Shows an advisor's presence in every element that carries their id.
  function show(advisor) {
    var roots = document.querySelectorAll("[data-advisor]");
    for (var i = 0; i < roots.length; i++) {
      var root = roots[i];
      if (root.getAttribute("data-advisor") !== advisor.id) continue;
      root.setAttribute("data-status", advisor.status);
      var items = root.querySelectorAll("[data-channel]");
      for (var j = 0; j < items.length; j++) {
        var state = advisor.presence[items[j].getAttribute("data-channel")];
        if (!state || items[j].getAttribute("data-state") === state) continue;
        items[j].setAttribute("data-state", state);
        items[j].querySelector(".state").textContent = labels[state] || state;
      }
    }
  }

  function getJson(url) {
    // `no-cache` revalidates with the ETag, so an unchanged list costs a 304.
    return fetch(url, { cache: "no-cache", credentials: "same-origin" }).then(function (r) {
      if (!r.ok) throw new Error("HTTP " + r.status);
      return r.json();
    });
  }

  function every(ms, task) {
    function run() {
      Promise.resolve().then(task).catch(function () {}).then(function () { setTimeout(run, ms); });
    }
    setTimeout(run, ms);
  }

  function pollDirectory() {
    var params = new URLSearchParams();
    if (extra.topic) params.set("topic", extra.topic);
    if (extra.language) params.set("language", extra.language);
    params.set("limit", "100");
    function fetchPage(cursor) {
      var p = new URLSearchParams(params);
      if (cursor) p.set("cursor", cursor);
      return getJson("/api/v1/advisors?" + p.toString()).then(function (data) {
        data.advisors.forEach(show);
        if (data.next) return fetchPage(data.next);
      });
    }
    every(pollMs, function () { return fetchPage(null); });
  }

  function pollAdvisor(id) {
    every(pollMs, function () {
      return getJson("/api/v1/advisors/" + encodeURIComponent(id)).then(show);
    });
  }

  function advisorPage() {
    var status = document.getElementById("me-status");
    function send(method, url, payload) {
      return fetch(url, {
        method: method,
        credentials: "same-origin",
        headers: { "Content-Type": "application/json" },
        body: payload === undefined ? undefined : JSON.stringify(payload)
      }).then(function (r) {
        if (!r.ok) throw new Error("HTTP " + r.status);
        return r.json();
      });
    }
    // How long the state set here lasts (it always ends, by default with
    // the working day), kept current every minute.
    var untilEl = document.getElementById("presence-until");
    function span(ms) {
      var m = Math.ceil(ms / 60000), d = Math.floor(m / 1440), h = Math.floor(m / 60) % 24, mm = m % 60;
      if (d) return d + " d" + (h ? " " + h + " h" : "");
      if (h) return h + " h" + (mm ? " " + mm + " min" : "");
      return mm + " min";
    }
    function showUntil(until) {
      if (!untilEl) return;
      if (until) untilEl.setAttribute("data-until", String(until));
      var at = Number(untilEl.getAttribute("data-until"));
      if (!at) return;
      var left = at - Date.now();
      if (left <= 0) {
        untilEl.removeAttribute("data-until");
        untilEl.textContent = body.getAttribute("data-l-no-state");
        return;
      }
      var lang = document.documentElement.lang, d = new Date(at);
      var clock = d.toLocaleTimeString(lang, { hour: "2-digit", minute: "2-digit" });
      if (d.toDateString() !== new Date().toDateString()) clock = d.toLocaleDateString(lang) + " " + clock;
      untilEl.textContent = body.getAttribute("data-l-until").replace("{until}", clock).replace("{left}", span(left));
    }
    every(60000, function () { showUntil(); });
    function save(states) {
      return send("PUT", "/api/v1/me/presence", { states: states }).then(function (r) {
        if (r && r.until) showUntil(r.until);
        Object.keys(states).forEach(function (channel) {
          var select = document.getElementById("presence-" + channel);
          if (select) select.value = states[channel];
        });
        status.textContent = body.getAttribute("data-l-saved");
      }, function () {
        status.textContent = body.getAttribute("data-l-failed");
      });
    }
    var form = document.getElementById("presence-form");
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var states = {};
      var selects = form.querySelectorAll("select");
      for (var i = 0; i < selects.length; i++) states[selects[i].name] = selects[i].value;
      save(states);
    });
    var buttons = document.querySelectorAll("[data-set-all]");
    for (var i = 0; i < buttons.length; i++) {
      buttons[i].addEventListener("click", function (event) {
        var state = event.currentTarget.getAttribute("data-set-all");
        var states = {};
        var selects = form.querySelectorAll("select");
        for (var j = 0; j < selects.length; j++) states[selects[j].name] = state;
        save(states);
      });
    }
    // The heartbeat keeps console presence alive while this page is open.
    var beat = function () { return send("POST", "/api/v1/me/heartbeat"); };
    beat().catch(function () {});
    every(20000, beat);
  }

  if (page === "portal") pollDirectory();
  if (page === "card" && extra.advisor) pollAdvisor(extra.advisor);
  if (page === "me") advisorPage();
})();
