/* livecard advisor console: the conversation list (ringing, active, waiting,
   recent, messages left), the open conversation, and the visitor's context
   with saved replies. Presence and the heartbeat are in app.js (shared with
   the presence bar). Protocol: docs/protocol.md; console API: docs/api.md. */
(function () {
  "use strict";
  var root = document.getElementById("console");
  if (!root) return;
  var de = document.documentElement.lang === "de";
  var t = de
    ? { ring: "Neue Anfrage", accept: "Annehmen", decline: "Ablehnen", from: { card: "über die Visitenkarte", portal: "über das Portal", widget: "über das Website-Widget" },
        ended: "Beendet", connected: "Verbunden", hangup: "Beenden", send: "Senden", visitor: "Besucher", you: "Sie", typing: "schreibt…", empty: "Keine Nachrichten.", more: "Ältere Nachrichten", message: "Nachricht",
        audio: "Audioanruf", video: "Videoanruf", unread: "ungelesen", came: "Kommt", page: "Seite", topic: "Thema", language: "Sprache", started: "Begonnen", campaign: "Kampagne", card: "Visitenkarte",
        earlier: "Frühere Kontakte", none: "Keine früheren Kontakte.", transcript: "Verlauf zeigen", with: "mit", messages: "Nachrichten", oneMessage: "Nachricht", nobody: "Niemand wartet.", waiting: "wartet seit", position: "Platz",
        del: "Löschen", mine: "nur ich", shared: "Team", saved: "Gespeichert.", failed: "Fehlgeschlagen: ", noReplies: "Noch keine Textbausteine.", min: "min",
        share: "Bildschirm teilen", askShare: "Bildschirm des Besuchers erbitten", asked: "Gebeten…", declined: "Der Besucher möchte den Bildschirm nicht teilen.",
        file: "Datei senden", more: "Mehr", handOver: "Übergeben", handTo: "An", handNote: "Notiz für Ihre Kollegin oder Ihren Kollegen", handGo: "Jetzt übergeben", anyone: "Wer frei ist in",
        handedTo: "An {n} übergeben.", handedToYou: "Von {n} an Sie übergeben", handRefused: { at_capacity: "Diese Person hat keinen freien Platz.", offline: "Diese Person ist für diesen Kanal nicht erreichbar.", nobody_free: "In diesem Thema ist niemand frei.", unknown_advisor: "Diese Person gibt es nicht." },
        idAsk: "Identität prüfen", idFace: "mit Foto des Gesichts", idAsked: "Identitätsprüfung: Der Besucher muss zustimmen.",
        idConsented: "Der Besucher hat zugestimmt; seine Fotos erscheinen hier.", idNote: "Notiz (nur für Sie und Ihre Kollegen)", idVerified: "Bestätigt", idNotVerified: "Nicht bestätigt", idAbort: "Abbrechen",
        idDone: { verified: "Identität bestätigt.", not_verified: "Identität nicht bestätigt.", aborted: "Identitätsprüfung abgebrochen.", declined: "Der Besucher hat die Identitätsprüfung abgelehnt." }, idPhoto: "Identitätsfoto",
        invite: "Kollegin oder Kollegen einladen", inviteGo: "Einladen", leave: "Gespräch verlassen", guest: "Gast", colleague: "Kollege", asGuest: "Sie sind als Gast dabei; {n} führt das Gespräch.",
        left: "Sie haben das Gespräch verlassen.", joinedChat: "{n} ist dem Gespräch beigetreten.", leftChat: "{n} hat das Gespräch verlassen.", withGuests: "mit",
        idKeep: "Die Fotos werden verschlüsselt {d} Tage aufbewahrt, wenn Sie entscheiden.", idKept: "Identitätsfotos (verschlüsselt aufbewahrt)", idKeeping: "Fotos werden aufbewahrt…" }
    : { ring: "New request", accept: "Accept", decline: "Decline", from: { card: "from the business card", portal: "from the portal", widget: "from the website widget" },
        ended: "Ended", connected: "Connected", hangup: "End chat", send: "Send", visitor: "Visitor", you: "You", typing: "is typing…", empty: "No messages.", more: "Older messages", message: "Message",
        audio: "Audio call", video: "Video call", unread: "unread", came: "Came", page: "Page", topic: "Topic", language: "Language", started: "Started", campaign: "Campaign", card: "Card",
        earlier: "Earlier contacts", none: "No earlier contacts.", transcript: "Show transcript", with: "with", messages: "messages", oneMessage: "message", nobody: "Nobody is waiting.", waiting: "waiting for", position: "place",
        del: "Delete", mine: "only me", shared: "team", saved: "Saved.", failed: "Failed: ", noReplies: "No saved replies yet.", min: "min",
        share: "Share screen", askShare: "Ask to see their screen", asked: "Asked…", declined: "The visitor chose not to share their screen.",
        file: "Send a file", more: "More", handOver: "Hand over", handTo: "To", handNote: "Note for your colleague", handGo: "Hand over now", anyone: "Anyone free in",
        handedTo: "Handed over to {n}.", handedToYou: "Handed over to you by {n}", handRefused: { at_capacity: "That colleague has no free slot.", offline: "That colleague is not available for this channel.", nobody_free: "Nobody in that topic is free.", unknown_advisor: "There is no such colleague." },
        idAsk: "Check identity", idFace: "with a photo of the face", idAsked: "Identity check: waiting for the visitor to agree.",
        idConsented: "The visitor agreed; their photos come here.", idNote: "Note (only for you and your colleagues)", idVerified: "Verified", idNotVerified: "Not verified", idAbort: "Abort",
        idDone: { verified: "Identity verified.", not_verified: "Identity not verified.", aborted: "Identity check aborted.", declined: "The visitor declined the identity check." }, idPhoto: "Identity photo",
        invite: "Invite a colleague", inviteGo: "Invite", leave: "Leave the conversation", guest: "guest", colleague: "Colleague", asGuest: "You are a guest; {n} has the conversation.",
        left: "You left the conversation.", joinedChat: "{n} joined the conversation.", leftChat: "{n} left the conversation.", withGuests: "with",
        idKeep: "The photos are kept, encrypted, for {d} days when you decide.", idKept: "Identity photos (kept encrypted)", idKeeping: "Keeping the photos…" };
  var ringsEl = document.getElementById("rings");
  var chatsEl = document.getElementById("chats");
  var activeEl = document.getElementById("active");
  var recentEl = document.getElementById("recent");
  var queuedEl = document.getElementById("queued");
  var contextEl = document.getElementById("context");
  var emptyEl = document.getElementById("conversation-empty");
  var alertEl = document.getElementById("ring-alert");
  var notifyB = document.getElementById("notify");
  var saved = {};
  try { saved = JSON.parse(localStorage.getItem("livecard.console") || "{}"); } catch (e) { saved = {}; }
  saved = { open: saved.open && typeof saved.open === "object" ? saved.open : {}, recent: Array.isArray(saved.recent) ? saved.recent : [] };
  var replaying = {}; // sessions joined whose replay has not ended
  var chats = {}; // session -> conversation (its pane, list item, transcript state)
  var rings = {}; // session -> {li, m, note}
  var selected = null;
  var replies = { mine: [], shared: [] };
  var ws = null, retry = 0, audio = null, beepTimer = null, blinkTimer = null;
  var greeting = false; // between hello and the first pong: the server's greeting
  var baseTitle = document.title;
  var me = null, keepDays = 0;
  try {
    var extra = JSON.parse(document.getElementById("main").getAttribute("data-extra") || "{}");
    me = extra.advisor || null;
    // The deployment keeps identity photos (sealed, for this many days).
    keepDays = parseInt(extra.identity_keep_days || "0", 10) || 0;
  } catch (e) { me = null; }
  window.livecardConsole = {
    get ws() { return ws; },
    get selected() { return selected; },
    unread: function (s) { return chats[s] ? chats[s].unread : 0; },
    notification: function (s) { return rings[s] ? rings[s].note : null; },
    /* Conversations joined whose transcript replay has not ended. */
    get replaying() { return Object.keys(replaying).length; }
  };

  function el(tag, cls, text) { var e = document.createElement(tag); if (cls) e.className = cls; if (text != null) e.textContent = text; return e; }
  function button(text, cls, attr, value) { var b = el("button", cls, text); b.type = "button"; if (attr) b.setAttribute(attr, value == null ? "" : value); return b; }
  function persist() { try { localStorage.setItem("livecard.console", JSON.stringify(saved)); } catch (e) {} }
  /* Joins asked for in one go (a reload, a reconnect, the greeting's
     list) are gathered and go out as one `rejoin` frame of up to 50
     conversations (docs/protocol.md): one frame of the rate limit, however
     many conversations the console reopens. */
  var joinQueue = [], joinTimer = null, REJOIN_MAX = 50, JOIN_EVERY_MS = 55;
  function join(m) {
    replaying[m.session] = true;
    joinQueue.push(m);
    if (!joinTimer) joinTimer = setTimeout(pumpJoins, 0);
  }
  function pumpJoins() {
    joinTimer = null;
    var batch = joinQueue.splice(0, REJOIN_MAX);
    if (batch.length === 1) wire(batch[0]);
    else if (batch.length) wire({ v: 1, type: "rejoin", sessions: batch.map(function (j) { return j.after ? { session: j.session, after: j.after } : { session: j.session }; }) });
    if (joinQueue.length) joinTimer = setTimeout(pumpJoins, JOIN_EVERY_MS);
  }
  function wire(m) { if (ws && ws.readyState === 1) { ws.send(JSON.stringify(m)); return true; } return false; }
  function newId() { var b = new Uint8Array(12); crypto.getRandomValues(b); return Array.prototype.map.call(b, function (x) { return ("0" + x.toString(16)).slice(-2); }).join(""); }
  function api(method, url, body) {
    return fetch(url, { method: method, credentials: "same-origin", cache: "no-store",
      headers: body ? { "content-type": "application/json" } : {}, body: body ? JSON.stringify(body) : undefined })
      .then(function (r) {
        if (r.status === 204) return null;
        return r.json().catch(function () { return {}; }).then(function (j) {
          if (!r.ok) throw new Error((j.error && j.error.message) || ("HTTP " + r.status));
          return j;
        });
      });
  }
  function label(m) {
    return [t.from[m.origin] || "", m.topic || "", m.language || ""].filter(Boolean).join(" · ");
  }
  function clock(ms) { return new Date(ms).toLocaleString(de ? "de" : "en"); }

  /* Ringing that cannot be missed: the list's alert, a beep every 1.5 s,
     the title blinking, and a desktop notification (when allowed) that
     accepts the contact when clicked. */
  document.addEventListener("click", function () { if (!audio && window.AudioContext) audio = new AudioContext(); }, { once: true });
  function beep() {
    if (!audio) return;
    var o = audio.createOscillator(), g = audio.createGain();
    o.frequency.value = 880; g.gain.value = 0.08; o.connect(g); g.connect(audio.destination);
    o.start(); o.stop(audio.currentTime + 0.25);
  }
  function unreadTotal() { return Object.keys(chats).reduce(function (n, s) { return n + chats[s].unread; }, 0); }
  function updateTitle(blinkOn) {
    var n = Object.keys(rings).length, u = unreadTotal();
    var prefix = n ? (blinkOn ? "🔔 " + t.ring + " (" + n + ") · " : "(" + n + ") ") : (u ? "(" + u + ") " : "");
    document.title = prefix + baseTitle;
  }
  function updateAlert() {
    var n = Object.keys(rings).length;
    alertEl.textContent = n ? t.ring + " (" + n + ")" : "";
    root.setAttribute("data-ringing", String(n));
    clearInterval(beepTimer); clearInterval(blinkTimer);
    var on = true;
    updateTitle(n > 0);
    if (n) {
      beep(); beepTimer = setInterval(beep, 1500);
      blinkTimer = setInterval(function () { on = !on; updateTitle(on); }, 1000);
    }
  }
  function canNotify() { return "Notification" in window; }
  function showNotifyButton() { notifyB.hidden = !(canNotify() && Notification.permission === "default"); }
  notifyB.addEventListener("click", function () {
    Notification.requestPermission().then(showNotifyButton, showNotifyButton);
  });
  showNotifyButton();
  function notify(m) {
    if (!canNotify() || Notification.permission !== "granted") return null;
    try {
      var n = new Notification(t.ring + (m.channel === "audio" || m.channel === "video" ? " · " + t[m.channel] : ""),
        { body: label(m), tag: "livecard-" + m.session, requireInteraction: true, lang: de ? "de" : "en" });
      n.onclick = function () { window.focus(); accept(m.session); n.close(); };
      return n;
    } catch (e) { return null; }
  }
  function accept(session) { if (rings[session]) { rings[session].accepted = true; wire({ v: 1, type: "accept", session: session }); } }
  function decline(session) { if (rings[session]) { wire({ v: 1, type: "decline", session: session }); stopRing(session); } }
  function ring(m) {
    if (rings[m.session]) return;
    var li = el("li", "ring");
    li.setAttribute("data-session", m.session);
    li.appendChild(el("strong", null, t.ring + (m.channel === "audio" || m.channel === "video" ? " · " + t[m.channel] : "")));
    li.appendChild(el("span", null, " " + label(m)));
    var a = button(t.accept, null, "data-accept", m.session);
    a.setAttribute("aria-keyshortcuts", "Alt+A");
    var d = button(t.decline, "secondary", "data-decline", m.session);
    d.setAttribute("aria-keyshortcuts", "Alt+D");
    a.addEventListener("click", function () { accept(m.session); });
    d.addEventListener("click", function () { decline(m.session); });
    li.appendChild(a); li.appendChild(d);
    ringsEl.appendChild(li);
    rings[m.session] = { li: li, m: m, note: notify(m), at: Date.now() };
    saved.open[m.session] = saved.open[m.session] || { meta: m };
    persist();
    updateAlert();
    a.focus();
  }
  function stopRing(session) {
    var r = rings[session];
    if (!r) return;
    ringsEl.removeChild(r.li);
    if (r.note) r.note.close();
    delete rings[session];
    updateAlert();
  }
  function oldestRing() {
    var keys = Object.keys(rings);
    keys.sort(function (a, b) { return rings[a].at - rings[b].at; });
    return keys[0];
  }

  /* A conversation: its entry in the list and its pane (only the selected
     pane is shown; the others stay in the page, so a call in one goes on). */
  function chat(session) {
    if (chats[session]) return chats[session];
    var meta = (saved.open[session] && saved.open[session].meta) || (rings[session] && rings[session].m) || {};
    var title = t.visitor + " " + session.slice(0, 6);
    var box = el("section", "chat"); box.setAttribute("data-session", session); box.setAttribute("aria-label", title); box.hidden = true;
    var head = el("div", "chat-head");
    var h = el("h3", null, title);
    var state = el("p", "chat-state"); state.setAttribute("role", "status");
    var calls = el("div", "lcw-choices");
    var hang = button(t.hangup, "secondary", "data-hangup");
    ["audio", "video"].forEach(function (ch) {
      var b = button(t[ch], "call-start", "data-call-start", ch);
      b.addEventListener("click", function () { ensureCall(c).start(ch); });
      calls.appendChild(b);
    });
    var shareB = button(t.share, "call-start", "data-share-start");
    shareB.addEventListener("click", function () {
      // Asked for in the click itself: browsers allow capture only then.
      if (!navigator.mediaDevices || !navigator.mediaDevices.getDisplayMedia) return;
      navigator.mediaDevices.getDisplayMedia({ video: true, audio: false })
        .then(function (s) { return ensureCall(c).share(s); })
        .catch(function (e) { state.textContent = t.failed + (e && e.message); });
    });
    var askB = button(t.askShare, "secondary", "data-share-ask");
    askB.addEventListener("click", function () { wire({ v: 1, type: "share", session: session, action: "ask" }); });
    calls.appendChild(shareB);
    // Less frequent actions behind "More" (a disclosure: keyboard and
    // screen readers know it).
    var more = el("details", "more"), moreS = el("summary", null, t.more), moreBox = el("div", "more-box");
    more.appendChild(moreS); more.appendChild(moreBox);
    moreBox.appendChild(askB);
    // The identity check: asked here, answered by the visitor, decided in
    // the panel below (photos come over the data link, never the server).
    var idB = button(t.idAsk, "secondary", "data-id-ask");
    var faceL = el("label", "id-face"), faceC = el("input"); faceC.type = "checkbox"; faceC.setAttribute("data-id-face", "");
    faceL.appendChild(faceC); faceL.appendChild(document.createTextNode(" " + t.idFace));
    idB.addEventListener("click", function () { wire({ v: 1, type: "identity", session: session, action: "ask", face: faceC.checked }); });
    moreBox.appendChild(idB); moreBox.appendChild(faceL);
    // Hand-over: to a named colleague or to whoever is free in a topic.
    var handB = button(t.handOver, "secondary", "data-transfer-open");
    moreBox.appendChild(handB);
    // A colleague into the chat (a guest, who can leave again).
    var invB = button(t.invite, "secondary", "data-invite-open");
    moreBox.appendChild(invB);
    calls.appendChild(more);
    var invForm = el("form", "handover invite"); invForm.hidden = true;
    var invL = el("label", null, t.handTo), invSel = el("select"); invSel.name = "to"; invSel.setAttribute("data-invite-to", ""); invL.appendChild(invSel);
    var invGo = el("button", null, t.inviteGo); invGo.type = "submit"; invGo.setAttribute("data-invite-go", "");
    invForm.appendChild(invL); invForm.appendChild(invGo);
    invB.addEventListener("click", function () {
      more.open = false;
      invForm.hidden = !invForm.hidden;
      if (!invForm.hidden) colleagues(invSel, true);
    });
    invForm.addEventListener("submit", function (e) {
      e.preventDefault();
      var v = invSel.value;
      if (v.indexOf("advisor:") !== 0) return;
      handStatus.textContent = "";
      wire({ v: 1, type: "invite", session: session, to: v.slice(8) });
      invForm.hidden = true;
    });
    // A guest's way out.
    var leaveB = button(t.leave, "secondary", "data-leave"); leaveB.hidden = true;
    leaveB.addEventListener("click", function () { wire({ v: 1, type: "leave", session: session }); });
    var handForm = el("form", "handover"); handForm.hidden = true;
    var toL = el("label", null, t.handTo), toSel = el("select"); toSel.name = "to"; toSel.setAttribute("data-transfer-to", ""); toL.appendChild(toSel);
    var noteL = el("label", null, t.handNote), noteT = el("textarea"); noteT.rows = 2; noteT.maxLength = 500; noteT.name = "note"; noteL.appendChild(noteT);
    var goB = el("button", null, t.handGo); goB.type = "submit"; goB.setAttribute("data-transfer-go", "");
    var handStatus = el("p", "handover-status"); handStatus.setAttribute("role", "status");
    handForm.appendChild(toL); handForm.appendChild(noteL); handForm.appendChild(goB); handForm.appendChild(handStatus);
    handB.addEventListener("click", function () {
      more.open = false;
      handForm.hidden = !handForm.hidden;
      if (!handForm.hidden) colleagues(toSel);
    });
    handForm.addEventListener("submit", function (e) {
      e.preventDefault();
      var v = toSel.value, msg = { v: 1, type: "transfer", session: session };
      if (!v) return;
      if (v.indexOf("topic:") === 0) msg.topic = v.slice(6); else msg.to = v.slice(8);
      if (noteT.value.trim()) msg.note = noteT.value.trim();
      handStatus.textContent = "";
      wire(msg);
    });
    calls.appendChild(hang);
    head.appendChild(h); head.appendChild(state); head.appendChild(calls); head.appendChild(leaveB);
    var callArea = el("div", "lcw-call");
    var idPanel = el("div", "id-panel"); idPanel.hidden = true; idPanel.setAttribute("aria-live", "polite");
    var log = el("ol", "lcw-log"); log.setAttribute("aria-live", "polite"); log.setAttribute("tabindex", "0"); log.setAttribute("aria-label", t.message + " · " + title);
    var typing = el("p", "lcw-typing");
    var picker = el("ul", "reply-picker"); picker.setAttribute("role", "listbox"); picker.hidden = true; picker.id = "picker-" + session;
    var form = el("form", "lcw-form");
    var input = el("textarea"); input.rows = 2; input.maxLength = 4000; input.setAttribute("aria-label", t.message);
    input.setAttribute("aria-controls", picker.id); input.setAttribute("aria-autocomplete", "list");
    var send = el("button", null, t.send); send.type = "submit";
    // Files go peer to peer over the data link (call.js, LivecardLink).
    var fileIn = el("input"); fileIn.type = "file"; fileIn.hidden = true; fileIn.setAttribute("data-file-input", ""); fileIn.setAttribute("aria-label", t.file);
    var fileB = button(t.file, "secondary", "data-file-send");
    fileB.addEventListener("click", function () { fileIn.click(); });
    fileIn.addEventListener("change", function () {
      var f = fileIn.files && fileIn.files[0];
      if (f) ensureLink(c).send(f);
      fileIn.value = "";
    });
    form.appendChild(input); form.appendChild(send); form.appendChild(fileB); form.appendChild(fileIn);
    box.appendChild(head); box.appendChild(handForm); box.appendChild(invForm); box.appendChild(idPanel); box.appendChild(callArea); box.appendChild(log); box.appendChild(typing); box.appendChild(picker); box.appendChild(form);
    chatsEl.appendChild(box);
    var item = el("li", "conv");
    var open = button("", null, "data-open", session);
    var name = el("span"); name.appendChild(document.createTextNode(title)); name.appendChild(el("span", "sub", label(meta)));
    var badge = el("span", "unread");
    open.appendChild(name); open.appendChild(badge);
    open.addEventListener("click", function () { select(session, true); });
    item.appendChild(open);
    var c = { session: session, box: box, log: log, state: state, typing: typing, form: form, input: input, picker: picker, calls: calls, callArea: callArea,
      call: null, shown: {}, pending: {}, item: item, open: open, badge: badge, unread: 0, meta: meta, status: null, shareB: shareB, askB: askB, asked: false,
      idB: idB, faceL: faceL, idPanel: idPanel, idState: null, idKey: null, handForm: handForm, handStatus: handStatus, handB: handB,
      invForm: invForm, leaveB: leaveB, fileB: fileB, guest: false, names: {}, guests: null };
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      var text = input.value.trim(); if (!text) return;
      var id = newId(), li = el("li", "lcw-msg lcw-me lcw-pending");
      li.appendChild(el("span", "lcw-who", t.you)); li.appendChild(el("span", "lcw-text", text)); log.appendChild(li);
      c.pending[id] = { text: text, li: li };
      wire({ v: 1, type: "chat", session: session, id: id, text: text });
      input.value = ""; closePicker(c); input.focus();
      log.scrollTop = log.scrollHeight;
    });
    input.addEventListener("keydown", function (e) {
      if (!picker.hidden && pickerKey(c, e)) return;
      if (e.key === "Enter" && !e.shiftKey && !e.altKey) { e.preventDefault(); form.requestSubmit(); }
      else if (e.key.length === 1) wire({ v: 1, type: "typing", session: session });
    });
    input.addEventListener("input", function () { offerReplies(c); });
    hang.addEventListener("click", function () { wire({ v: 1, type: "hangup", session: session }); });
    chats[session] = c;
    place(c);
    return c;
  }
  /* The list entry goes under Active or Recent by the state. */
  function place(c) {
    var ended = c.status === "ended";
    var list = ended ? recentEl : activeEl;
    if (c.item.parentNode !== list) {
      if (ended) list.insertBefore(c.item, list.firstChild); else list.appendChild(c.item);
    }
    if (ended) remember(c);
  }
  function remember(c) {
    saved.recent = saved.recent.filter(function (r) { return r.session !== c.session; });
    saved.recent.unshift({ session: c.session, at: Date.now(), meta: c.meta });
    saved.recent = saved.recent.slice(0, 50);
    persist();
  }
  function setUnread(c, n) {
    c.unread = n;
    c.badge.textContent = n ? String(n) : "";
    c.open.setAttribute("aria-label", c.open.firstChild.firstChild.textContent + (n ? ", " + n + " " + t.unread : ""));
    c.item.setAttribute("data-unread", String(n));
    updateTitle(false);
  }
  function select(session, focus) {
    var c = chats[session];
    if (!c) return;
    selected = session;
    Object.keys(chats).forEach(function (s) {
      chats[s].box.hidden = s !== session;
      if (s === session) chats[s].open.setAttribute("aria-current", "true"); else chats[s].open.removeAttribute("aria-current");
    });
    emptyEl.hidden = true;
    setUnread(c, 0);
    c.log.scrollTop = c.log.scrollHeight;
    if (focus && !c.form.hidden) c.input.focus();
    loadContext(session);
  }
  function order() {
    return Array.prototype.map.call(document.querySelectorAll("#active [data-open], #recent [data-open]"), function (b) { return b.getAttribute("data-open"); });
  }
  function step(by) {
    var list = order();
    if (!list.length) return;
    var i = list.indexOf(selected);
    select(list[(i + by + list.length) % list.length], true);
  }

  /* The session's call (call.js): created on the first need. */
  function ensureCall(c) {
    if (!c.call) {
      c.call = window.LivecardCall({ side: "advisor", session: c.session, lang: de ? "de" : "en", mount: c.callArea, send: wire,
        iceServers: function (exclude) {
          return api("POST", "/api/v1/contacts/" + c.session + "/ice-servers", { exclude: exclude || [] });
        } });
    }
    return c.call;
  }
  /* Colleagues to hand over to: every advisor but this one (with their
     chat presence), then "anyone free" per topic. */
  function colleagues(select, peopleOnly) {
    return api("GET", "/api/v1/advisors?limit=100").then(function (j) {
      while (select.firstChild) select.removeChild(select.firstChild);
      var topics = {};
      (j.advisors || []).forEach(function (a) {
        (a.topics || []).forEach(function (tp) { topics[tp] = true; });
        if (a.id === me) return;
        var o = el("option", null, a.display_name + " (" + (document.body.getAttribute("data-l-" + (a.presence && a.presence.chat)) || "") + ")");
        o.value = "advisor:" + a.id; select.appendChild(o);
      });
      if (peopleOnly) return;
      Object.keys(topics).sort().forEach(function (tp) {
        var o = el("option", null, t.anyone + " " + tp); o.value = "topic:" + tp; select.appendChild(o);
      });
    }).catch(function () {});
  }
  /* The identity check's panel: where it stands, the photos as they come,
     and the decision with a note. */
  function identity(c, m) {
    var check = m.identity || null;
    c.idState = check && m.state === "connected" ? check.state : null;
    var busy = check && check.state !== "done";
    c.idB.hidden = c.faceL.hidden = m.state !== "connected" || !!busy;
    var key = check ? check.state + (check.outcome || "") : "";
    if (key === c.idKey) return;
    c.idKey = key;
    var panel = c.idPanel;
    Array.prototype.forEach.call(panel.querySelectorAll(".id-status, .id-decide"), function (e) { panel.removeChild(e); });
    panel.hidden = !check;
    if (!check) return;
    var status = el("p", "id-status", check.state === "asked" ? t.idAsked : check.state === "consented" ? t.idConsented : t.idDone[check.outcome] || "");
    status.setAttribute("role", "status");
    panel.insertBefore(status, panel.firstChild);
    if (check.state === "done") {
      // The photos leave the page once the check is decided (a deployment
      // that keeps them has them sealed on the server by then).
      c.idPhotos = [];
      Array.prototype.forEach.call(panel.querySelectorAll("img"), function (img) { URL.revokeObjectURL(img.src); panel.removeChild(img); });
      return;
    }
    var decide = el("div", "id-decide");
    var noteL = el("label", null, t.idNote), note = el("textarea"); note.rows = 2; note.maxLength = 500; note.setAttribute("data-id-note", "");
    noteL.appendChild(note); decide.appendChild(noteL);
    [["verified", t.idVerified, check.state === "consented"], ["not_verified", t.idNotVerified, check.state === "consented"], ["aborted", t.idAbort, true]].forEach(function (x) {
      if (!x[2]) return;
      var b = button(x[1], x[0] === "aborted" ? "secondary" : null, "data-id-outcome", x[0]);
      b.addEventListener("click", function () {
        var msg = { v: 1, type: "identity", session: c.session, action: "result", outcome: x[0] };
        if (note.value.trim()) msg.note = note.value.trim();
        // A deployment that keeps the photos gets them before the decision
        // (sealed by the server); an aborted check keeps none.
        var photos = keepDays && x[0] !== "aborted" ? (c.idPhotos || []).slice() : [];
        if (!photos.length) { wire(msg); return; }
        Array.prototype.forEach.call(decide.querySelectorAll("button"), function (d) { d.disabled = true; });
        keepStatus.textContent = t.idKeeping;
        photos.reduce(function (p, photo) { return p.then(function () { return keepPhoto(c.session, photo); }); }, Promise.resolve())
          .then(function () { c.idPhotos = []; wire(msg); }, function (err) {
            keepStatus.textContent = t.failed + (err && err.message);
            Array.prototype.forEach.call(decide.querySelectorAll("button"), function (d) { d.disabled = false; });
          });
      });
      decide.appendChild(b);
    });
    var keepStatus = el("p", "id-keep", keepDays ? t.idKeep.replace("{d}", keepDays) : "");
    keepStatus.setAttribute("role", "status");
    decide.appendChild(keepStatus);
    panel.appendChild(decide);
  }
  /* The session's data link (files): created on the first need. */
  function ensureLink(c) {
    if (!c.link) {
      c.link = window.LivecardLink({ side: "advisor", session: c.session, lang: de ? "de" : "en", mount: c.log, send: wire,
        identity: function () { return c.idState === "consented"; },
        onIdentity: function (tr, blob) {
          var img = el("img", "id-photo"); img.alt = t.idPhoto + " " + (tr.name.indexOf("face") >= 0 ? "2" : "1");
          img.src = URL.createObjectURL(blob); img.setAttribute("data-id-photo", tr.name);
          c.idPanel.insertBefore(img, c.idPanel.querySelector(".id-decide"));
          (c.idPhotos = c.idPhotos || []).push({ kind: tr.name.indexOf("face") >= 0 ? "face" : "document", blob: blob });
        },
        iceServers: function () { return api("POST", "/api/v1/contacts/" + c.session + "/ice-servers", { exclude: [] }); } });
    }
    return c.link;
  }
  function message(m) {
    var c = chat(m.session);
    if (c.shown[m.key]) return;
    // Advisor-side messages name their author: with a colleague in the
    // chat, not every one is ours.
    var mine = m.side === "advisor" && (!m.author || !me || m.author === me);
    var li = mine && c.pending[m.id] ? c.pending[m.id].li : el("li");
    li.className = "lcw-msg " + (mine ? "lcw-me" : m.side === "advisor" ? "lcw-them lcw-colleague" : "lcw-them");
    var who = mine ? t.you : m.side === "advisor" ? c.names[m.author] || t.colleague : t.visitor;
    if (!li.firstChild) { li.appendChild(el("span", "lcw-who", who)); li.appendChild(el("span", "lcw-text", m.text)); c.log.appendChild(li); }
    li.setAttribute("data-key", m.key);
    c.shown[m.key] = true; if (mine) delete c.pending[m.id];
    c.typing.textContent = "";
    var fresh = !c.last || m.key > c.last;
    if (fresh) c.last = m.key; // a reconnect resumes after it
    // A new message from the visitor in a conversation not in view counts
    // as unread (replays after a reload do not).
    if (!mine && fresh && !replaying[m.session] && (selected !== m.session || document.hidden)) setUnread(c, c.unread + 1);
    c.log.scrollTop = c.log.scrollHeight;
  }
  function onState(m) {
    var guests = m.guests || [];
    var asGuest = !!me && guests.some(function (g) { return g.id === me; });
    var wasGuest = !!(chats[m.session] && chats[m.session].guest);
    // The session's end reaches its guests too (without them in it).
    var mineNow = !m.advisor || !me || m.advisor.id === me || asGuest || (wasGuest && m.state === "ended");
    // Handed over to a colleague, or left as a guest: the conversation
    // leaves this console.
    if (chats[m.session] && !mineNow && m.state === "connected") {
      var gone = chats[m.session];
      gone.status = "ended";
      gone.box.setAttribute("data-state", gone.guest ? "left" : "handed_over");
      gone.state.textContent = gone.guest ? t.left : t.handedTo.replace("{n}", (m.advisor && m.advisor.display_name) || m.advisor.id);
      gone.form.hidden = true; gone.calls.hidden = true; gone.handForm.hidden = true; gone.invForm.hidden = true; gone.leaveB.hidden = true;
      if (gone.call) gone.call.state({ state: "ended" });
      if (gone.link) gone.link.close();
      place(gone);
      delete saved.open[m.session]; persist();
      return;
    }
    if (!mineNow) return;
    // Handed over to this advisor: the transcript comes with a join.
    var arriving = !chats[m.session] && !rings[m.session] && !replaying[m.session] && m.state === "connected";
    if (arriving) {
      saved.open[m.session] = { meta: m };
      setTimeout(function () { join({ v: 1, type: "join", session: m.session }); }, 0);
      // The greeting lists the conversations this advisor is in (a console
      // opened in another browser); only one handed over now is news.
      if (!greeting) beep();
    }
    if (m.state !== "ringing") {
      var mine = rings[m.session] && rings[m.session].accepted;
      stopRing(m.session);
    }
    if (m.state === "connected" || (m.state === "ended" && (chats[m.session] || saved.open[m.session]))) {
      if (saved.open[m.session] && !saved.open[m.session].meta.origin) saved.open[m.session].meta = m;
      var c = chat(m.session);
      if (!c.meta.origin) { c.meta = m; c.open.querySelector(".sub").textContent = label(m); }
      c.status = m.state;
      c.box.setAttribute("data-state", m.state);
      people(c, m, asGuest);
      c.form.hidden = m.state === "ended";
      if (m.state === "ended" && c.link) c.link.close();
      // A guest only chats: the call, sharing, files, identity and
      // hand-over stay with the advisor who has the conversation.
      c.calls.hidden = m.state === "ended" || asGuest;
      c.fileB.hidden = asGuest;
      c.leaveB.hidden = !asGuest || m.state !== "connected";
      c.box.setAttribute("data-role", asGuest ? "guest" : "advisor");
      // A card's channels: no call button for the ones it does not offer.
      Array.prototype.forEach.call(c.calls.querySelectorAll("[data-call-start]"), function (b) {
        b.hidden = !!(m.channels && m.channels.indexOf(b.getAttribute("data-call-start")) < 0);
      });
      if (c.call || m.channel === "audio" || m.channel === "video") ensureCall(c).state(m);
      // Screen sharing: one at a time; an ask waits for the visitor.
      c.shareB.hidden = c.askB.hidden = !!m.share || m.state !== "connected";
      c.askB.disabled = !!m.share_asked;
      c.askB.textContent = m.share_asked ? t.asked : t.askShare;
      if (c.asked && !m.share_asked && !m.share) c.state.textContent = t.declined;
      c.asked = !!m.share_asked;
      identity(c, m);
      place(c);
      if (mine || !selected) select(m.session, !!mine);
      else if (selected === m.session) loadContext(m.session);
    }
    if (m.state === "connected") saved.open[m.session] = saved.open[m.session] || { meta: m };
    else if (m.state !== "ringing") delete saved.open[m.session];
    persist();
  }
  /* Who is in the conversation: the names messages are shown with, the
     state line, and a line in the log when a colleague comes or goes. */
  function people(c, m, asGuest) {
    var names = {};
    if (m.advisor) names[m.advisor.id] = m.advisor.display_name || m.advisor.id;
    (m.guests || []).forEach(function (g) { names[g.id] = g.display_name || g.id; });
    Object.keys(names).forEach(function (id) { c.names[id] = names[id]; });
    var ids = (m.guests || []).map(function (g) { return g.id; });
    if (c.guests && m.state === "connected" && !replaying[m.session]) {
      ids.filter(function (id) { return c.guests.indexOf(id) < 0 && id !== me; }).forEach(function (id) { system(c, t.joinedChat.replace("{n}", names[id])); });
      c.guests.filter(function (id) { return ids.indexOf(id) < 0 && id !== me; }).forEach(function (id) { system(c, t.leftChat.replace("{n}", c.names[id] || id)); });
    }
    c.guests = ids;
    c.guest = asGuest;
    var others = ids.filter(function (id) { return id !== me; }).map(function (id) { return names[id]; });
    if (m.state === "ended") c.state.textContent = t.ended;
    else if (asGuest) c.state.textContent = t.asGuest.replace("{n}", names[m.advisor.id]);
    else c.state.textContent = t.connected + (others.length ? " · " + t.withGuests + " " + others.join(", ") + " (" + t.guest + ")" : "");
  }
  function system(c, text) { var li = el("li", "lcw-system", text); c.log.appendChild(li); c.log.scrollTop = c.log.scrollHeight; }
  function onMessage(event) {
    var m; try { m = JSON.parse(event.data); } catch (e) { return; }
    switch (m.type) {
      case "pong": greeting = false; break;
      case "hello":
        retry = 0; greeting = true;
        joinQueue = []; clearTimeout(joinTimer); joinTimer = null; // a new socket: join anew
        Object.keys(saved.open).forEach(function (s) { var j = { v: 1, type: "join", session: s }; if (chats[s] && chats[s].last) j.after = chats[s].last; join(j); });
        break;
      case "ring": ring(m); break;
      case "presence": root.setAttribute("data-presence", m.status); break;
      case "ring_stop": stopRing(m.session); break;
      case "session": onState(m); break;
      case "chat": message(m); break;
      // The server relays a session's signals to its advisor only: one that
      // comes before the session's state still finds its call.
      case "signal":
        if (!m.session) break;
        if (typeof m.call === "string" && m.call.indexOf("data-") === 0) ensureLink(chat(m.session)).signal(m);
        else ensureCall(chat(m.session)).signal(m);
        break;
      case "media_move": if (chats[m.session] && chats[m.session].call) chats[m.session].call.mediaMove(m); break;
      case "ack": var c = chats[m.session]; if (c && c.pending[m.id] && m.key) message({ session: m.session, key: m.key, id: m.id, side: "advisor", author: me, text: c.pending[m.id].text }); break;
      case "typing": if (chats[m.session]) chats[m.session].typing.textContent = t.visitor + " " + t.typing; break;
      case "joined":
        var cj = chats[m.session];
        delete replaying[m.session];
        if (cj) Object.keys(cj.pending).forEach(function (id) { wire({ v: 1, type: "chat", session: m.session, id: id, text: cj.pending[id].text }); });
        break;
      case "error":
        if (m.session && m.code === "not_found") { delete saved.open[m.session]; delete replaying[m.session]; persist(); stopRing(m.session); }
        if (m.session && chats[m.session] && t.handRefused[m.code]) chats[m.session].handStatus.textContent = t.handRefused[m.code];
        break;
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

  /* Recent conversations (this browser's, the last 50): opening one joins
     it, which replays its transcript. */
  saved.recent.forEach(function (r) {
    if (!r || typeof r.session !== "string" || chats[r.session]) return;
    var c = chat(r.session);
    c.meta = r.meta || {}; c.status = "ended";
    c.open.querySelector(".sub").textContent = label(c.meta);
    recentEl.appendChild(c.item);
    c.open.addEventListener("click", function () { if (!c.joined) { c.joined = true; join({ v: 1, type: "join", session: r.session }); } });
  });

  /* One identity photo to keep: the JPEG as it came over the data link. */
  function keepPhoto(session, photo) {
    return fetch("/api/v1/me/conversations/" + encodeURIComponent(session) + "/identity-images?kind=" + photo.kind,
      { method: "POST", credentials: "same-origin", headers: { "content-type": "image/jpeg" }, body: photo.blob })
      .then(function (r) {
        if (r.ok) return r.json();
        return r.json().catch(function () { return {}; }).then(function (j) { throw new Error((j.error && j.error.message) || r.status); });
      });
  }
  /* The identity photos kept of a conversation (a promise of the list),
     each opened on demand. */
  function keptPhotos(session) {
    if (!keepDays) return Promise.resolve([]);
    return api("GET", "/api/v1/me/conversations/" + encodeURIComponent(session) + "/identity-images")
      .then(function (j) { return j.images || []; }, function () { return []; });
  }
  function showKept(session, images, box) {
    if (!images.length) return;
    box.appendChild(el("h3", null, t.idKept));
    var ul = el("ul", "kept-photos");
    images.forEach(function (img) {
      var a = el("a", null, t.idPhoto + " " + img.check + " · " + img.kind + " · " + clock(img.at));
      a.href = "/api/v1/me/conversations/" + encodeURIComponent(session) + "/identity-images/" + encodeURIComponent(img.id);
      a.target = "_blank"; a.rel = "noopener noreferrer"; a.setAttribute("data-kept-photo", img.id);
      var li = el("li"); li.appendChild(a); ul.appendChild(li);
    });
    box.appendChild(ul);
  }

  /* The visitor's context: where they came from and their earlier contacts
     with this company (inside the affinity window), each transcript on
     demand. Everything from the server is shown as text. */
  function loadContext(session) {
    // Both reads first, then the pane is drawn at once (no flicker of a
    // half-drawn context).
    Promise.all([api("GET", "/api/v1/me/conversations/" + encodeURIComponent(session)), keptPhotos(session)]).then(function (both) {
      var j = both[0];
      if (selected !== session) return;
      while (contextEl.firstChild) contextEl.removeChild(contextEl.firstChild);
      var dl = el("dl"), box = el("div", "context");
      if (j.handover && j.handover.from && j.handover.from.id !== me) {
        var h = el("p", "handover-note", t.handedToYou.replace("{n}", j.handover.from.display_name) + (j.handover.note ? ": " + j.handover.note : "."));
        h.setAttribute("data-handover", "");
        box.appendChild(h);
      }
      function row(k, v) { if (v == null || v === "") return; dl.appendChild(el("dt", null, k)); var dd = el("dd"); if (v.nodeType) dd.appendChild(v); else dd.textContent = v; dl.appendChild(dd); }
      row(t.came, t.from[j.origin] || j.origin);
      if (j.card) row(t.card, j.card);
      row(t.campaign, j.campaign);
      if (j.page) {
        var a = el("a", null, j.page);
        if (/^https?:\/\//.test(j.page)) { a.href = j.page; a.rel = "noopener noreferrer"; a.target = "_blank"; }
        row(t.page, a);
      }
      row(t.topic, j.topic);
      row(t.language, j.language);
      row(t.started, clock(j.started_at));
      box.appendChild(dl);
      box.appendChild(el("h3", null, t.earlier));
      if (!j.earlier.length) box.appendChild(el("p", "note", t.none));
      var ul = el("ul", "earlier");
      j.earlier.forEach(function (e) {
        var li = el("li"); li.setAttribute("data-earlier", e.session);
        li.appendChild(el("span", null, clock(e.at) + (e.advisor ? " · " + t.with + " " + e.advisor.display_name : "") + " · " + e.messages + " " + (e.messages === 1 ? t.oneMessage : t.messages)));
        if (e.messages) {
          var b = button(t.transcript, "secondary", "data-transcript", e.session);
          b.addEventListener("click", function () {
            b.disabled = true;
            api("GET", "/api/v1/me/conversations/" + encodeURIComponent(session) + "/earlier/" + encodeURIComponent(e.session)).then(function (x) {
              var ol = el("ol");
              x.messages.forEach(function (msg) { ol.appendChild(el("li", null, (msg.side === "advisor" ? (e.advisor ? e.advisor.display_name : t.you) : t.visitor) + ": " + msg.text)); });
              li.replaceChild(ol, b);
            }, function () { b.disabled = false; });
          });
          li.appendChild(document.createTextNode(" "));
          li.appendChild(b);
        }
        ul.appendChild(li);
      });
      box.appendChild(ul);
      showKept(session, both[1], box);
      contextEl.appendChild(box);
    }, function () {});
  }

  /* Who waits in the queues this advisor serves (read only: routing hands
     them out as slots free up). */
  function loadQueue() {
    return api("GET", "/api/v1/me/queue").then(function (j) {
      while (queuedEl.firstChild) queuedEl.removeChild(queuedEl.firstChild);
      if (!j.items.length) { queuedEl.appendChild(el("li", "note", t.nobody)); return; }
      j.items.forEach(function (q) {
        var mins = Math.max(0, Math.round((Date.now() - q.since) / 60000));
        var li = el("li", "queued-item", t.position + " " + q.position + " · " + t.waiting + " " + mins + " " + t.min + (label(q) ? " · " + label(q) : ""));
        li.setAttribute("data-session", q.session);
        queuedEl.appendChild(li);
      });
    }).catch(function () {});
  }

  /* Saved replies: managed in the side panel, inserted with "/" and their
     shortcut in any conversation (arrows choose, Tab or Enter insert,
     Escape closes). */
  var repliesEl = document.getElementById("replies");
  var replyForm = document.getElementById("reply-form");
  var replyStatus = document.getElementById("reply-status");
  function allReplies() {
    return replies.mine.map(function (r) { return { r: r, scope: "mine" }; })
      .concat(replies.shared.map(function (r) { return { r: r, scope: "shared" }; }));
  }
  function loadReplies() {
    return api("GET", "/api/v1/me/replies").then(function (j) {
      replies = { mine: j.mine || [], shared: j.shared || [] };
      while (repliesEl.firstChild) repliesEl.removeChild(repliesEl.firstChild);
      var all = allReplies();
      if (!all.length) repliesEl.appendChild(el("li", "note", t.noReplies));
      all.forEach(function (x) {
        var li = el("li"); li.setAttribute("data-reply", x.scope + "/" + x.r.shortcut);
        li.appendChild(el("span", null, "/" + x.r.shortcut + " (" + t[x.scope] + "): " + x.r.text));
        var d = button(t.del, "secondary", "data-reply-delete", x.scope + "/" + x.r.shortcut);
        d.setAttribute("aria-label", t.del + " /" + x.r.shortcut);
        d.addEventListener("click", function () {
          api("DELETE", "/api/v1/me/replies/" + x.scope + "/" + encodeURIComponent(x.r.shortcut)).then(loadReplies, function (e) { replyStatus.textContent = t.failed + e.message; });
        });
        li.appendChild(d);
        repliesEl.appendChild(li);
      });
    }).catch(function () {});
  }
  replyForm.addEventListener("submit", function (e) {
    e.preventDefault();
    var f = replyForm.elements;
    api("PUT", "/api/v1/me/replies/" + f.scope.value + "/" + encodeURIComponent(f.shortcut.value.trim()), { text: f.text.value })
      .then(function () { replyStatus.textContent = t.saved; f.shortcut.value = ""; f.text.value = ""; return loadReplies(); },
        function (err) { replyStatus.textContent = t.failed + err.message; });
  });
  function closePicker(c) { c.picker.hidden = true; c.picking = null; c.input.removeAttribute("aria-activedescendant"); }
  function offerReplies(c) {
    var before = c.input.value.slice(0, c.input.selectionStart);
    var m = /(^|\s)\/([a-z0-9-]*)$/.exec(before);
    if (!m) { closePicker(c); return; }
    var found = allReplies().filter(function (x) { return x.r.shortcut.indexOf(m[2]) === 0; }).slice(0, 8);
    if (!found.length) { closePicker(c); return; }
    while (c.picker.firstChild) c.picker.removeChild(c.picker.firstChild);
    found.forEach(function (x, i) {
      var li = el("li", null, "/" + x.r.shortcut + " — " + x.r.text);
      li.id = c.picker.id + "-" + i; li.setAttribute("role", "option");
      li.addEventListener("mousedown", function (e) { e.preventDefault(); c.picking.index = i; insertReply(c); });
      c.picker.appendChild(li);
    });
    c.picking = { found: found, index: 0, from: before.length - m[2].length - 1 };
    c.picker.hidden = false;
    mark(c);
  }
  function mark(c) {
    Array.prototype.forEach.call(c.picker.children, function (li, i) { li.setAttribute("aria-selected", String(i === c.picking.index)); });
    c.input.setAttribute("aria-activedescendant", c.picker.id + "-" + c.picking.index);
  }
  function insertReply(c) {
    var p = c.picking, text = p.found[p.index].r.text, v = c.input.value, end = c.input.selectionStart;
    c.input.value = v.slice(0, p.from) + text + v.slice(end);
    var at = p.from + text.length;
    c.input.setSelectionRange(at, at);
    closePicker(c);
    c.input.focus();
  }
  function pickerKey(c, e) {
    if (!c.picking) return false;
    var n = c.picking.found.length;
    if (e.key === "ArrowDown" || e.key === "ArrowUp") { e.preventDefault(); c.picking.index = (c.picking.index + (e.key === "ArrowDown" ? 1 : n - 1)) % n; mark(c); return true; }
    if (e.key === "Enter" || e.key === "Tab") { e.preventDefault(); insertReply(c); return true; }
    if (e.key === "Escape") { e.preventDefault(); closePicker(c); return true; }
    return false;
  }

  /* Keyboard shortcuts (also listed in the side panel). `code` keeps them
     on the same keys whatever the layout. */
  document.addEventListener("keydown", function (e) {
    if (!e.altKey || e.ctrlKey || e.metaKey) return;
    var first = oldestRing();
    switch (e.code) {
      case "KeyA": if (first) { e.preventDefault(); accept(first); } break;
      case "KeyD": if (first) { e.preventDefault(); decline(first); } break;
      case "KeyN": e.preventDefault(); step(1); break;
      case "KeyP": e.preventDefault(); step(-1); break;
    }
  });
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden && selected && chats[selected]) setUnread(chats[selected], 0);
  });

  connect();
  setInterval(function () { wire({ v: 1, type: "ping" }); }, 300000);
  loadReplies();
  loadQueue();
  setInterval(loadQueue, 10000);

  /* The inbox, newest first, a page at a time: the 30 s refresh reloads
     the first page unless older pages are open; "Older messages" follows
     the cursor. */
  var inboxEl = document.getElementById("inbox"), inboxNext = null, inboxPages = 0;
  var moreB = button(t.more, "secondary", "data-inbox-more"); moreB.hidden = true;
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
        li.appendChild(el("span", null, " <" + m.email + "> · " + clock(m.at)));
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
