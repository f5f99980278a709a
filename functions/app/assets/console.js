/* livecard advisor console: rings, several chats, inbox. Presence and the
   heartbeat are in app.js (shared with the presence page). Protocol:
   docs/protocol.md */
(function () {
  "use strict";
  var root = document.getElementById("console");
  if (!root) return;
  var de = document.documentElement.lang === "de";
  var t = de
    ? { ring: "Neue Anfrage", accept: "Annehmen", decline: "Ablehnen", from: { card: "über die Visitenkarte", portal: "über das Portal", widget: "über das Website-Widget" },
        ended: "Beendet", connected: "Verbunden", hangup: "Beenden", send: "Senden", visitor: "Besucher", you: "Sie", typing: "schreibt…", empty: "Keine Nachrichten.", more: "Ältere Nachrichten", message: "Nachricht",
        audio: "Audioanruf", video: "Videoanruf" }
    : { ring: "New request", accept: "Accept", decline: "Decline", from: { card: "from the business card", portal: "from the portal", widget: "from the website widget" },
        ended: "Ended", connected: "Connected", hangup: "End chat", send: "Send", visitor: "Visitor", you: "You", typing: "is typing…", empty: "No messages.", more: "Older messages", message: "Message",
        audio: "Audio call", video: "Video call" };
  var ringsEl = document.getElementById("rings");
  var chatsEl = document.getElementById("chats");
  var alertEl = document.getElementById("ring-alert");
  var saved = {};
  try { saved = JSON.parse(localStorage.getItem("livecard.console") || "{}"); } catch (e) { saved = {}; }
  var chats = {}; // session -> {box, log, form, shown, pending, last}
  var rings = {};
  var ws = null, retry = 0, audio = null, beepTimer = null;
  window.livecardConsole = { get ws() { return ws; } };

  function el(tag, cls, text) { var e = document.createElement(tag); if (cls) e.className = cls; if (text != null) e.textContent = text; return e; }
  function persist() { try { localStorage.setItem("livecard.console", JSON.stringify(saved)); } catch (e) {} }
  function wire(m) { if (ws && ws.readyState === 1) { ws.send(JSON.stringify(m)); return true; } return false; }
  function newId() { var b = new Uint8Array(12); crypto.getRandomValues(b); return Array.prototype.map.call(b, function (x) { return ("0" + x.toString(16)).slice(-2); }).join(""); }

  document.addEventListener("click", function () { if (!audio && window.AudioContext) audio = new AudioContext(); }, { once: true });
  function beep() {
    if (!audio) return;
    var o = audio.createOscillator(), g = audio.createGain();
    o.frequency.value = 880; g.gain.value = 0.08; o.connect(g); g.connect(audio.destination);
    o.start(); o.stop(audio.currentTime + 0.25);
  }
  function updateAlert() {
    var n = Object.keys(rings).length;
    alertEl.textContent = n ? t.ring + " (" + n + ")" : "";
    root.setAttribute("data-ringing", String(n));
    document.title = (n ? "(" + n + ") " : "") + document.title.replace(/^\(\d+\) /, "");
    clearInterval(beepTimer);
    if (n) { beep(); beepTimer = setInterval(beep, 1500); }
  }
  function ring(m) {
    if (rings[m.session]) return;
    var li = el("li", "ring");
    li.setAttribute("data-session", m.session);
    li.appendChild(el("strong", null, t.ring + (m.channel === "audio" || m.channel === "video" ? " · " + t[m.channel] : "")));
    li.appendChild(el("span", null, " " + (t.from[m.origin] || "") + (m.topic ? " · " + m.topic : "") + (m.language ? " · " + m.language : "")));
    var a = el("button", null, t.accept); a.type = "button"; a.setAttribute("data-accept", m.session);
    var d = el("button", "secondary", t.decline); d.type = "button"; d.setAttribute("data-decline", m.session);
    a.addEventListener("click", function () { wire({ v: 1, type: "accept", session: m.session }); });
    d.addEventListener("click", function () { wire({ v: 1, type: "decline", session: m.session }); stopRing(m.session); });
    li.appendChild(a); li.appendChild(d);
    ringsEl.appendChild(li);
    rings[m.session] = li;
    saved[m.session] = saved[m.session] || {};
    persist();
    updateAlert();
    a.focus();
  }
  function stopRing(session) {
    if (!rings[session]) return;
    ringsEl.removeChild(rings[session]);
    delete rings[session];
    updateAlert();
  }
  function chat(session) {
    if (chats[session]) return chats[session];
    var box = el("section", "chat"); box.setAttribute("data-session", session); box.setAttribute("aria-label", t.visitor + " " + session.slice(0, 6));
    var head = el("h3", null, t.visitor + " " + session.slice(0, 6));
    var state = el("p", "chat-state"); state.setAttribute("role", "status");
    var log = el("ol", "lcw-log"); log.setAttribute("aria-live", "polite");
    var typing = el("p", "lcw-typing");
    var form = el("form", "lcw-form");
    var input = el("textarea"); input.rows = 2; input.maxLength = 4000; input.setAttribute("aria-label", t.message);
    var send = el("button", null, t.send); send.type = "submit";
    var hang = el("button", "secondary", t.hangup); hang.type = "button"; hang.setAttribute("data-hangup", "");
    var callArea = el("div", "lcw-call");
    var calls = el("div", "lcw-choices");
    ["audio", "video"].forEach(function (ch) {
      var b = el("button", "call-start", t[ch]); b.type = "button"; b.setAttribute("data-call-start", ch);
      b.addEventListener("click", function () { ensureCall(c).start(ch); });
      calls.appendChild(b);
    });
    form.appendChild(input); form.appendChild(send); form.appendChild(hang);
    box.appendChild(head); box.appendChild(state); box.appendChild(callArea); box.appendChild(calls); box.appendChild(log); box.appendChild(typing); box.appendChild(form);
    chatsEl.appendChild(box);
    var c = { session: session, box: box, log: log, state: state, typing: typing, form: form, calls: calls, callArea: callArea, call: null, shown: {}, pending: {} };
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      var text = input.value.trim(); if (!text) return;
      var id = newId(), li = el("li", "lcw-msg lcw-me lcw-pending");
      li.appendChild(el("span", "lcw-who", t.you)); li.appendChild(el("span", "lcw-text", text)); log.appendChild(li);
      c.pending[id] = { text: text, li: li };
      wire({ v: 1, type: "chat", session: session, id: id, text: text });
      input.value = ""; input.focus();
    });
    input.addEventListener("keydown", function (e) {
      if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); form.requestSubmit(); }
      else wire({ v: 1, type: "typing", session: session });
    });
    hang.addEventListener("click", function () { wire({ v: 1, type: "hangup", session: session }); });
    chats[session] = c;
    return c;
  }
  /* The session's call (call.js): created on the first need. */
  function ensureCall(c) {
    if (!c.call) {
      c.call = window.LivecardCall({ side: "advisor", session: c.session, lang: de ? "de" : "en", mount: c.callArea, send: wire,
        iceServers: function (exclude) {
          return fetch("/api/v1/contacts/" + c.session + "/ice-servers", { method: "POST", credentials: "same-origin", cache: "no-store",
            headers: { "content-type": "application/json" }, body: JSON.stringify({ exclude: exclude || [] }) })
            .then(function (r) { return r.json().then(function (j) { if (!r.ok) throw new Error((j.error && j.error.message) || r.status); return j; }); });
        } });
    }
    return c.call;
  }
  function message(m) {
    var c = chat(m.session);
    if (c.shown[m.key]) return;
    var mine = m.side === "advisor";
    var li = mine && c.pending[m.id] ? c.pending[m.id].li : el("li");
    li.className = "lcw-msg " + (mine ? "lcw-me" : "lcw-them");
    if (!li.firstChild) { li.appendChild(el("span", "lcw-who", mine ? t.you : t.visitor)); li.appendChild(el("span", "lcw-text", m.text)); c.log.appendChild(li); }
    li.setAttribute("data-key", m.key);
    c.shown[m.key] = true; if (mine) delete c.pending[m.id];
    c.typing.textContent = "";
    if (!c.last || m.key > c.last) c.last = m.key; // a reconnect resumes after it
    c.log.scrollTop = c.log.scrollHeight;
  }
  function onState(m) {
    if (m.state !== "ringing") stopRing(m.session);
    if (m.state === "connected" || (m.state === "ended" && chats[m.session])) {
      var c = chat(m.session);
      c.box.setAttribute("data-state", m.state);
      c.state.textContent = m.state === "ended" ? t.ended : t.connected;
      c.form.hidden = m.state === "ended";
      c.calls.hidden = m.state === "ended";
      // A card's channels: no call button for the ones it does not offer.
      Array.prototype.forEach.call(c.calls.querySelectorAll("[data-call-start]"), function (b) {
        b.hidden = !!(m.channels && m.channels.indexOf(b.getAttribute("data-call-start")) < 0);
      });
      if (c.call || m.channel === "audio" || m.channel === "video") ensureCall(c).state(m);
      saved[m.session] = saved[m.session] || {};
    }
    if (m.state === "ended" || (m.state !== "connected" && m.state !== "ringing")) { delete saved[m.session]; }
    persist();
  }
  function onMessage(event) {
    var m; try { m = JSON.parse(event.data); } catch (e) { return; }
    switch (m.type) {
      case "hello": retry = 0; Object.keys(saved).forEach(function (s) { var j = { v: 1, type: "join", session: s }; if (chats[s] && chats[s].last) j.after = chats[s].last; wire(j); }); break;
      case "ring": ring(m); break;
      case "presence": root.setAttribute("data-presence", m.status); break;
      case "ring_stop": stopRing(m.session); break;
      case "session": onState(m); break;
      case "chat": message(m); break;
      // The server relays a session's signals to its advisor only: one that
      // comes before the session's state still finds its call.
      case "signal": if (m.session) ensureCall(chat(m.session)).signal(m); break;
      case "media_move": if (chats[m.session] && chats[m.session].call) chats[m.session].call.mediaMove(m); break;
      case "ack": var c = chats[m.session]; if (c && c.pending[m.id] && m.key) message({ session: m.session, key: m.key, id: m.id, side: "advisor", text: c.pending[m.id].text }); break;
      case "typing": if (chats[m.session]) chats[m.session].typing.textContent = t.visitor + " " + t.typing; break;
      case "joined": var cj = chats[m.session]; if (cj) Object.keys(cj.pending).forEach(function (id) { wire({ v: 1, type: "chat", session: m.session, id: id, text: cj.pending[id].text }); }); break;
      case "error": if (m.session && m.code === "not_found") { delete saved[m.session]; persist(); stopRing(m.session); } break;
    }
  }
  // A single-use ticket proves who we are to the signaling socket, which may
  // live on another origin (API Gateway); the first message is a ping, since
  // a serverless host greets a connection when it first hears from it.
  function reconnect() { retry = Math.min(retry + 1, 6); setTimeout(connect, Math.min(8000, 250 * Math.pow(2, retry))); }
  function connect() {
    fetch("/api/v1/me/ws-ticket", { method: "POST", credentials: "same-origin", cache: "no-store" })
      .then(function (r) {
        // Signed out (here or elsewhere, or by an admin): show the sign-in page.
        if (r.status === 401) { location.href = "/me"; throw new Error("signed out"); }
        if (!r.ok) throw new Error(r.status);
        return r.json();
      })
      .then(function (j) {
        var sock = new WebSocket(j.ws + (j.ws.indexOf("?") < 0 ? "?" : "&") + "ticket=" + encodeURIComponent(j.ticket));
        ws = sock;
        ws.onopen = function () { wire({ v: 1, type: "ping" }); };
        ws.onmessage = onMessage;
        ws.onclose = function () { if (ws === sock) reconnect(); };
      }, reconnect);
  }
  connect();
  setInterval(function () { wire({ v: 1, type: "ping" }); }, 300000);

  /* The inbox, newest first, a page at a time: the 30 s refresh reloads
     the first page unless older pages are open; "Older messages" follows
     the cursor. */
  var inboxEl = document.getElementById("inbox"), inboxNext = null, inboxPages = 0;
  var moreB = el("button", "secondary", t.more); moreB.type = "button"; moreB.hidden = true; moreB.setAttribute("data-inbox-more", "");
  inboxEl.parentNode.appendChild(moreB);
  function inboxPage(cursor) {
    var url = "/api/v1/me/inbox" + (cursor ? "?cursor=" + encodeURIComponent(cursor) : "");
    return fetch(url, { credentials: "same-origin", cache: "no-cache" }).then(function (r) { return r.json(); }).then(function (j) {
      if (!cursor) { while (inboxEl.firstChild) inboxEl.removeChild(inboxEl.firstChild); inboxPages = 0; }
      inboxPages += 1;
      inboxNext = j.next || null; moreB.hidden = !inboxNext;
      if (!cursor && (!j.items || !j.items.length)) { inboxEl.appendChild(el("li", "note", t.empty)); return; }
      (j.items || []).forEach(function (m) {
        var li = el("li", "inbox-item"); li.setAttribute("data-id", m.id);
        li.appendChild(el("strong", null, m.name));
        li.appendChild(el("span", null, " <" + m.email + "> · " + new Date(m.at).toLocaleString()));
        li.appendChild(el("p", null, m.text));
        inboxEl.appendChild(li);
      });
    });
  }
  function loadInbox() { if (inboxPages <= 1) inboxPage(null).catch(function () {}); }
  moreB.addEventListener("click", function () { if (inboxNext) inboxPage(inboxNext).catch(function () {}); });
  loadInbox();
  setInterval(loadInbox, 30000);
})();
