/* livecard visitor chat: the website widget, also used by the card page
   and the portal. No framework, no cookies needed (works cross-origin).
   <script src="https://contact.example.com/widget.js" data-topic="sales" data-lang="de"></script>
   Configuration: defaults, then data-* attributes, then the host page's
   URL parameters livecard-topic / livecard-lang. Protocol: docs/protocol.md */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script) return;
  var base = new URL(script.src, location.href).origin;
  var T = {
    en: { chat: "Chat", with: "Chat with ", leave: "Leave a message", ringing: "Calling {n}…", routing: "Finding someone for you…",
      queued: "You are number {p} in line (about {m} min).", connected: "You are chatting with {n}.", ended: "The chat has ended.",
      nobody: "Nobody can take your chat right now.", wait: "Wait in line", colleague: "Talk to a colleague", offline: "Leave a message",
      send: "Send", message: "Message", name: "Name", email: "Email", sent: "Thank you, your message was sent.", again: "Start a new chat",
      close: "Close", typing: "is typing…", you: "You", failed: "Could not connect. Retrying…", available: "available", away: "not available",
      error: "Something went wrong: ", audio: "Audio call", video: "Video call",
      save: "Save the conversation:", asText: "As text", asHtml: "As web page", rate: "How was your conversation?", stars: "{n} of 5",
      poor: "poor", great: "great", thanks: "Thank you for your rating.",
      shareAsk: "{n} asks you to share your screen. You choose a window, a tab or the whole screen; {n} sees only that, until you stop.",
      shareYes: "Share my screen", shareNo: "No, thanks", file: "Send a file", tookOver: "{n} has taken over the conversation.", guestIn: "{n} has joined the conversation.", guestOut: "{n} has left the conversation.",
      idAsk: "{n} asks to check your identity. If you agree, your camera shows here; you hold your ID document up to it and take a photo{face}. The photo goes straight to {n} and nobody else; livecard does not keep it.", idAskKept: "{n} asks to check your identity. If you agree, your camera shows here; you hold your ID document up to it and take a photo{face}. The photo goes straight to {n}; when {n} has checked it, it is kept encrypted for {d} days and then deleted.",
      idFace: ", then one of your face", idYes: "I agree", idNo: "No, thanks", idDoc: "Take photo of my ID document", idSelf: "Take photo of my face",
      idSent: "Photo sent to {n}.", idWait: "Waiting for {n}'s decision.", idDone: { verified: "Your identity was confirmed.", not_verified: "Your identity could not be confirmed.", aborted: "The identity check was stopped.", declined: "You declined the identity check." } },
    de: { chat: "Chat", with: "Chat mit ", leave: "Nachricht hinterlassen", ringing: "{n} wird angerufen…", routing: "Wir suchen jemanden für Sie…",
      queued: "Sie sind Nummer {p} in der Warteschlange (etwa {m} Min.).", connected: "Sie chatten mit {n}.", ended: "Der Chat ist beendet.",
      nobody: "Gerade kann niemand Ihren Chat annehmen.", wait: "Warten", colleague: "Mit Kollegin oder Kollege sprechen", offline: "Nachricht hinterlassen",
      send: "Senden", message: "Nachricht", name: "Name", email: "E-Mail", sent: "Danke, Ihre Nachricht wurde gesendet.", again: "Neuen Chat starten",
      close: "Schließen", typing: "schreibt…", you: "Sie", failed: "Keine Verbindung. Neuer Versuch…", available: "verfügbar", away: "nicht verfügbar",
      error: "Etwas ist schiefgegangen: ", audio: "Audioanruf", video: "Videoanruf",
      save: "Gespräch speichern:", asText: "Als Text", asHtml: "Als Webseite", rate: "Wie war Ihr Gespräch?", stars: "{n} von 5",
      poor: "schlecht", great: "sehr gut", thanks: "Danke für Ihre Bewertung.",
      shareAsk: "{n} bittet Sie, Ihren Bildschirm zu teilen. Sie wählen ein Fenster, einen Tab oder den ganzen Bildschirm; {n} sieht nur das, bis Sie beenden.",
      shareYes: "Bildschirm teilen", shareNo: "Nein, danke", file: "Datei senden", tookOver: "{n} hat das Gespräch übernommen.", guestIn: "{n} ist dem Gespräch beigetreten.", guestOut: "{n} hat das Gespräch verlassen.",
      idAsk: "{n} möchte Ihre Identität prüfen. Wenn Sie zustimmen, erscheint hier Ihre Kamera; Sie halten Ihren Ausweis davor und machen ein Foto{face}. Das Foto geht direkt an {n} und niemanden sonst; livecard speichert es nicht.", idAskKept: "{n} möchte Ihre Identität prüfen. Wenn Sie zustimmen, erscheint hier Ihre Kamera; Sie halten Ihren Ausweis davor und machen ein Foto{face}. Das Foto geht direkt an {n}; nach der Prüfung wird es verschlüsselt {d} Tage aufbewahrt und dann gelöscht.",
      idFace: ", danach eines Ihres Gesichts", idYes: "Ich stimme zu", idNo: "Nein, danke", idDoc: "Foto des Ausweises aufnehmen", idSelf: "Foto des Gesichts aufnehmen",
      idSent: "Foto an {n} gesendet.", idWait: "{n} entscheidet.", idDone: { verified: "Ihre Identität wurde bestätigt.", not_verified: "Ihre Identität konnte nicht bestätigt werden.", aborted: "Die Identitätsprüfung wurde beendet.", declined: "Sie haben die Identitätsprüfung abgelehnt." } }
  };
  var cfg = { topic: null, lang: null, card: null, advisor: null, mount: null, origin: "widget" };
  ["topic", "lang", "card", "advisor", "mount", "origin"].forEach(function (k) {
    var v = script.getAttribute("data-" + k);
    if (v) cfg[k] = v;
  });
  // Analytics consent from the host page: data-consent="granted|denied"
  // (with data-ga-client-id, data-ga-session-id, data-matomo-visitor-id), or
  // window.livecard.consent({analytics, gaClientId, gaSessionId,
  // matomoVisitorId}) from a consent manager, any time before a contact.
  var lc = window.livecard = window.livecard || {};
  function consentOf(c) {
    if (!c) return null;
    var out = { analytics: c.analytics === true };
    if (out.analytics) {
      var ga = c.gaClientId || c.ga_client_id, gs = c.gaSessionId || c.ga_session_id, mv = c.matomoVisitorId || c.matomo_visitor;
      if (ga) out.ga_client_id = String(ga);
      if (gs) out.ga_session_id = String(gs);
      if (mv) out.matomo_visitor = String(mv);
    }
    return out;
  }
  if (script.getAttribute("data-consent")) {
    lc._consent = consentOf({ analytics: script.getAttribute("data-consent") === "granted",
      gaClientId: script.getAttribute("data-ga-client-id"), gaSessionId: script.getAttribute("data-ga-session-id"),
      matomoVisitorId: script.getAttribute("data-matomo-visitor-id") });
  }
  lc.consent = function (c) { lc._consent = consentOf(c); };
  var params = new URLSearchParams(location.search);
  ["topic", "lang"].forEach(function (k) {
    var v = params.get("livecard-" + k);
    if (v) cfg[k] = v;
  });
  var lang = cfg.lang || (document.documentElement.lang || navigator.language || "en").slice(0, 2);
  var t = T[lang] || T.en;
  var scope = cfg.card || cfg.advisor || cfg.topic || "any";
  var storeKey = "livecard.session." + scope.slice(-40);

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text; // chat text is data, never markup
    return e;
  }
  function fill(s, v) { return s.replace(/\{(\w)\}/g, function (_, k) { return v[k] == null ? "" : v[k]; }); }
  function store(k, v) { try { v == null ? sessionStorage.removeItem(k) : sessionStorage.setItem(k, JSON.stringify(v)); } catch (e) {} }
  function load(k) { try { return JSON.parse(sessionStorage.getItem(k) || "null"); } catch (e) { return null; } }
  function visitor(v) { try { if (v) localStorage.setItem("livecard.visitor", v); return localStorage.getItem("livecard.visitor"); } catch (e) { return v || null; } }
  function newId() {
    var b = new Uint8Array(12); crypto.getRandomValues(b);
    return Array.prototype.map.call(b, function (x) { return ("0" + x.toString(16)).slice(-2); }).join("");
  }
  function api(method, path, body) {
    return fetch(base + path, { method: method, credentials: "omit", headers: body ? { "content-type": "application/json" } : {},
      body: body ? JSON.stringify(body) : undefined }).then(function (r) {
      return r.json().then(function (j) { if (!r.ok) throw new Error((j.error && j.error.message) || r.status); return j; });
    });
  }

  if (!document.querySelector('link[data-livecard]')) {
    var css = el("link"); css.rel = "stylesheet"; css.href = base + "/widget.css"; css.setAttribute("data-livecard", "");
    document.head.appendChild(css);
  }
  var root = el("section", "lcw" + (cfg.mount ? " lcw-inline" : " lcw-floating"));
  root.setAttribute("aria-label", t.chat);
  root.setAttribute("lang", lang);
  var launcher = el("button", "lcw-launch", t.chat); launcher.type = "button"; launcher.setAttribute("aria-expanded", "false");
  var panel = el("div", "lcw-panel"); panel.hidden = !!cfg.mount ? false : true;
  var status = el("p", "lcw-status"); status.setAttribute("role", "status"); status.setAttribute("aria-live", "polite");
  var choices = el("div", "lcw-choices");
  var log = el("ol", "lcw-log"); log.setAttribute("aria-live", "polite");
  var typing = el("p", "lcw-typing");
  var after = el("div", "lcw-after"); after.hidden = true;
  var idBox = el("div", "lcw-identity"); idBox.hidden = true;
  var form = el("form", "lcw-form");
  var input = el("textarea"); input.rows = 2; input.maxLength = 4000; input.setAttribute("aria-label", t.message); input.name = "message";
  var send = el("button", null, t.send); send.type = "submit";
  var fileIn = el("input"); fileIn.type = "file"; fileIn.hidden = true; fileIn.setAttribute("data-file-input", ""); fileIn.setAttribute("aria-label", t.file);
  var fileB = el("button", "lcw-file-button", t.file); fileB.type = "button"; fileB.setAttribute("data-file-send", "");
  fileB.addEventListener("click", function () { fileIn.click(); });
  fileIn.addEventListener("change", function () {
    var f = fileIn.files && fileIn.files[0];
    if (f) ensureLink().then(function (l) { l.send(f); });
    fileIn.value = "";
  });
  form.appendChild(input); form.appendChild(send); form.appendChild(fileB); form.appendChild(fileIn); form.hidden = true;
  panel.appendChild(status); panel.appendChild(choices); panel.appendChild(log); panel.appendChild(typing); panel.appendChild(idBox); panel.appendChild(form); panel.appendChild(after);
  if (!cfg.mount) root.appendChild(launcher);
  // Calls straight from the floating widget, when the best advisor takes them.
  var callStarters = {};
  if (!cfg.mount) ["audio", "video"].forEach(function (ch) {
    var b = el("button", "lcw-launch lcw-launch-call", t[ch]); b.type = "button"; b.hidden = true; b.setAttribute("data-start", ch);
    b.addEventListener("click", function () {
      panel.hidden = false; launcher.setAttribute("aria-expanded", "true");
      if (!state) start(ch); else ensureCall().then(function (c) { c.start(ch); });
    });
    callStarters[ch] = b; root.appendChild(b);
  });
  root.appendChild(panel);
  var mount = cfg.mount ? document.querySelector(cfg.mount) : null;
  (mount || document.body).appendChild(root);

  var state = load(storeKey); // {session, token, ws, last, requested, direct}
  var call = null, callLoad = null;
  // Calls live in call.js (WebRTC), loaded from this origin when needed.
  function callModule() {
    if (window.LivecardCall) return Promise.resolve(window.LivecardCall);
    if (!callLoad) callLoad = new Promise(function (resolve, reject) {
      var s = el("script"); s.src = base + "/call.js"; s.async = true;
      s.onload = function () { resolve(window.LivecardCall); }; s.onerror = reject;
      document.head.appendChild(s);
    });
    return callLoad;
  }
  function ensureCall() {
    if (call && call.session === state.session) return Promise.resolve(call.api);
    return callModule().then(function (LivecardCall) {
      if (call && call.session === state.session) return call.api;
      var mountAt = el("div", "lcw-call"); panel.insertBefore(mountAt, log);
      var session = state.session, token = state.token;
      call = { session: session, api: LivecardCall({ side: "visitor", session: session, lang: lang, mount: mountAt, send: wire,
        iceServers: function (exclude) { return api("POST", "/api/v1/contacts/" + session + "/ice-servers", { token: token, exclude: exclude || [] }); } }) };
      return call.api;
    });
  }
  /* The data link (files, peer to peer): call.js's LivecardLink, made on
     the first need. */
  var link = null;
  function ensureLink() {
    if (link && link.session === state.session) return Promise.resolve(link.api);
    return callModule().then(function () {
      if (link && link.session === state.session) return link.api;
      var session = state.session, token = state.token;
      link = { session: session, api: window.LivecardLink({ side: "visitor", session: session, lang: lang, mount: log, send: wire,
        iceServers: function () { return api("POST", "/api/v1/contacts/" + session + "/ice-servers", { token: token, exclude: [] }); } }) };
      return link.api;
    });
  }
  // A fresh page shows nothing yet: its first join asks for the whole
  // transcript; reconnects of this page ask only for what came after.
  if (state) state.last = null;
  var shown = {}; // message keys on screen
  var pending = {}; // our message id -> {text, li}
  var names = {}, guests = null; // advisors by id (the one who has the chat, colleagues invited)
  var ws = null, retry = 0, advisorName = "", lastAdvisor = null, pingTimer = null, typingTimer = null, lastTyping = 0;
  var instance = { root: root, get ws() { return ws; }, get session() { return state && state.session; } };
  (lc.instances = lc.instances || []).push(instance);

  function setStatus(text) { status.textContent = text; }
  function clearChoices() { while (choices.firstChild) choices.removeChild(choices.firstChild); }
  function button(text, action) {
    var b = el("button", null, text); b.type = "button"; b.addEventListener("click", action); choices.appendChild(b); return b;
  }
  function addMessage(m) {
    if (m.key && shown[m.key]) return;
    var mine = m.side === "visitor";
    var li = mine && pending[m.id] ? pending[m.id].li : el("li");
    li.className = "lcw-msg lcw-" + (mine ? "me" : "them");
    if (!li.firstChild) {
      li.appendChild(el("span", "lcw-who", mine ? t.you : (m.author && names[m.author]) || advisorName));
      li.appendChild(el("span", "lcw-text", m.text));
      log.appendChild(li);
    }
    if (m.key) { shown[m.key] = true; li.setAttribute("data-key", m.key); if (!state.last || m.key > state.last) { state.last = m.key; store(storeKey, state); } }
    if (mine) delete pending[m.id];
    log.scrollTop = log.scrollHeight;
  }
  function system(text) { log.appendChild(el("li", "lcw-system", text)); log.scrollTop = log.scrollHeight; } // the log is a live region
  function wire(msg) { if (ws && ws.readyState === 1) { ws.send(JSON.stringify(msg)); return true; } return false; }

  function onState(s) {
    // A colleague took over (a hand-over): the visitor is told who.
    var advisorId = s.advisor && s.advisor.id;
    if (s.state === "connected" && lastAdvisor && advisorId && advisorId !== lastAdvisor) {
      system(fill(t.tookOver, { n: (s.advisor && s.advisor.display_name) || advisorId }));
    }
    if (advisorId && s.state === "connected") lastAdvisor = advisorId;
    // Colleagues invited into the chat: each message names who wrote it,
    // and the log says who came and went.
    if (advisorId) names[advisorId] = (s.advisor && s.advisor.display_name) || names[advisorId] || advisorId;
    var now = (s.guests || []).map(function (g) { names[g.id] = g.display_name || g.id; return g.id; });
    if (guests && s.state === "connected") {
      now.filter(function (g) { return guests.indexOf(g) < 0; }).forEach(function (g) { system(fill(t.guestIn, { n: names[g] })); });
      guests.filter(function (g) { return now.indexOf(g) < 0 && g !== advisorId; }).forEach(function (g) { system(fill(t.guestOut, { n: names[g] })); });
    }
    guests = now;
    advisorName = (s.advisor && s.advisor.display_name) || advisorName;
    clearChoices();
    form.hidden = s.state !== "connected";
    root.setAttribute("data-state", s.state);
    identity(s);
    if (s.state === "ringing") setStatus(fill(t.ringing, { n: advisorName }));
    else if (s.state === "queued") setStatus(fill(t.queued, { p: "…", m: "…" }));
    else if (s.state === "connected") {
      setStatus(fill(t.connected, { n: advisorName }));
      ["audio", "video"].forEach(function (ch) {
        if (s.channels && s.channels.indexOf(ch) < 0) return; // the card does not offer it
        button(t[ch], function () { ensureCall().then(function (c) { c.start(ch); }); }).setAttribute("data-call-start", ch);
      });
      // The advisor asks to see the visitor's screen: the visitor decides.
      if (s.share_asked) {
        var ask = el("p", "lcw-ask", fill(t.shareAsk, { n: advisorName })); ask.setAttribute("role", "alert");
        choices.appendChild(ask);
        button(t.shareYes, function () {
          // Asked for in the click itself: browsers allow screen capture
          // only in answer to the user.
          if (!navigator.mediaDevices || !navigator.mediaDevices.getDisplayMedia) { setStatus(t.error + "getDisplayMedia"); return; }
          navigator.mediaDevices.getDisplayMedia({ video: true, audio: false }).then(function (screen) {
            return ensureCall().then(function (c) { return c.share(screen); });
          }, function () { wire({ v: 1, type: "share", session: state.session, action: "decline" }); });
        }).setAttribute("data-share-accept", "");
        button(t.shareNo, function () { wire({ v: 1, type: "share", session: state.session, action: "decline" }); }).setAttribute("data-share-decline", "");
      }
    }
    else if (s.state === "ended") {
      setStatus(t.ended);
      if (link) link.api.close();
      button(t.again, function () { store(storeKey, null); state = null; call = null; shown = {}; clearAfter(); while (log.firstChild) log.removeChild(log.firstChild); if (ws) ws.close(); ws = null; start(); });
      afterContact(!!s.advisor);
    } else if (s.options && s.options.length) {
      setStatus(t.nobody);
      s.options.forEach(function (o) {
        if (o === "offline") button(t.offline, offlineForm);
        else button(t[o], function () { wire({ v: 1, type: o, session: state.session }); });
      });
    } else setStatus(t.routing);
  }
  /* After the contact: the transcript to keep (text or a web page, made
     by the server, every message escaped) and an optional rating, 1 to 5. */
  function clearAfter() { while (after.firstChild) after.removeChild(after.firstChild); after.hidden = true; }
  function afterContact(talked) {
    clearAfter();
    if (!state || !log.firstChild && !talked) return;
    var session = state.session, token = state.token;
    var save = el("p", "lcw-save", t.save + " ");
    [["text", t.asText, "txt"], ["html", t.asHtml, "html"]].forEach(function (f) {
      var b = el("button", null, f[1]); b.type = "button"; b.setAttribute("data-transcript", f[0]);
      b.addEventListener("click", function () {
        fetch(base + "/api/v1/contacts/" + session + "/transcript", { method: "POST", credentials: "omit",
          headers: { "content-type": "application/json" }, body: JSON.stringify({ token: token, format: f[0], lang: lang === "de" ? "de" : "en" }) })
          .then(function (r) { if (!r.ok) throw new Error(r.status); return r.blob(); })
          .then(function (blob) {
            var a = el("a"); a.href = URL.createObjectURL(blob); a.download = "livecard-" + session + "." + f[2];
            document.body.appendChild(a); a.click(); document.body.removeChild(a);
            setTimeout(function () { URL.revokeObjectURL(a.href); }, 10000);
          })
          .catch(function (e) { setStatus(t.error + e.message); });
      });
      save.appendChild(b); save.appendChild(document.createTextNode(" "));
    });
    after.appendChild(save);
    if (talked && !state.rated) {
      var box = el("fieldset", "lcw-rate");
      box.appendChild(el("legend", null, t.rate));
      var note = el("p", "lcw-note"); note.setAttribute("role", "status");
      [1, 2, 3, 4, 5].forEach(function (n) {
        var b = el("button", null, String(n)); b.type = "button"; b.setAttribute("data-rate", String(n));
        b.setAttribute("aria-label", fill(t.stars, { n: n }) + (n === 1 ? " (" + t.poor + ")" : n === 5 ? " (" + t.great + ")" : ""));
        b.addEventListener("click", function () {
          api("POST", "/api/v1/contacts/" + session + "/rating", { token: token, rating: n }).then(function () {
            if (state) { state.rated = n; store(storeKey, state); }
            while (box.firstChild) box.removeChild(box.firstChild);
            box.appendChild(el("p", "lcw-note", t.thanks));
          }, function (e) { note.textContent = t.error + e.message; });
        });
        box.appendChild(b);
      });
      box.appendChild(note);
      after.appendChild(box);
    }
    after.hidden = false;
  }
  /* The identity check (docs/protocol.md, "Identity check"): the visitor
     is told what happens and decides; with consent, the camera shows here
     at its full resolution and each photo goes to the advisor over the
     data link, never to livecard's servers. */
  var idCam = null, idShown = null;
  function stopCam() { if (idCam) { idCam.getTracks().forEach(function (tr) { tr.stop(); }); idCam = null; } }
  function clearId() { while (idBox.firstChild) idBox.removeChild(idBox.firstChild); }
  function identity(s) {
    var check = s.state === "connected" ? s.identity : null;
    var key = check ? check.state + (check.outcome || "") : "";
    if (key === idShown) return;
    idShown = key;
    clearId();
    idBox.hidden = !check;
    if (!check || check.state !== "consented") stopCam();
    if (!check) return;
    var n = advisorName;
    if (check.state === "asked") {
      // What happens to the photo: never kept, or kept (sealed) for the
      // deployment's retention, as the server says.
      var ask = check.keep_days ? t.idAskKept.replace("{d}", String(check.keep_days)) : t.idAsk;
      var p = el("p", "lcw-ask", fill(ask, { n: n }).replace("{face}", check.face ? t.idFace : "")); p.setAttribute("role", "alert");
      idBox.appendChild(p);
      var yes = el("button", null, t.idYes); yes.type = "button"; yes.setAttribute("data-id-consent", "");
      var no = el("button", null, t.idNo); no.type = "button"; no.setAttribute("data-id-decline", "");
      yes.addEventListener("click", function () { wire({ v: 1, type: "identity", session: state.session, action: "consent" }); });
      no.addEventListener("click", function () { wire({ v: 1, type: "identity", session: state.session, action: "decline" }); });
      idBox.appendChild(yes); idBox.appendChild(no);
    } else if (check.state === "consented") {
      var video = el("video", "lcw-id-video"); video.autoplay = true; video.muted = true; video.playsInline = true; video.setAttribute("aria-label", t.idDoc);
      var note = el("p", "lcw-note"); note.setAttribute("role", "status");
      idBox.appendChild(video); idBox.appendChild(note);
      var shots = [["document", t.idDoc]].concat(check.face ? [["face", t.idSelf]] : []);
      shots.forEach(function (shot) {
        var b = el("button", null, shot[1]); b.type = "button"; b.setAttribute("data-id-capture", shot[0]); b.disabled = true;
        b.addEventListener("click", function () {
          var track = idCam && idCam.getVideoTracks()[0];
          if (!track) return;
          // A still at the camera's own resolution.
          var set = track.getSettings(), canvas = document.createElement("canvas");
          canvas.width = set.width || video.videoWidth; canvas.height = set.height || video.videoHeight;
          canvas.getContext("2d").drawImage(video, 0, 0, canvas.width, canvas.height);
          canvas.toBlob(function (blob) {
            if (!blob) return;
            ensureLink().then(function (l) { return l.send(blob, "identity-" + shot[0] + ".jpg", "identity"); })
              .then(function () { b.disabled = true; note.textContent = fill(t.idSent, { n: n }); });
          }, "image/jpeg", 0.92);
        });
        idBox.appendChild(b);
      });
      // The camera at the largest size it offers.
      navigator.mediaDevices.getUserMedia({ audio: false, video: { width: { ideal: 4096 }, height: { ideal: 2160 } } }).then(function (cam) {
        if (idShown !== key) { cam.getTracks().forEach(function (tr) { tr.stop(); }); return; }
        idCam = cam; video.srcObject = cam;
        Array.prototype.forEach.call(idBox.querySelectorAll("[data-id-capture]"), function (b) { b.disabled = false; });
      }, function (err) { note.textContent = t.error + (err && err.name); });
    } else if (check.state === "done") {
      idBox.appendChild(el("p", "lcw-note", (check.outcome && t.idDone[check.outcome]) || ""));
    }
  }
  function offlineForm() {
    clearChoices();
    var f = el("form", "lcw-offline");
    [["name", t.name, "text"], ["email", t.email, "email"]].forEach(function (x) {
      var l = el("label", null, x[1]); var i = el("input"); i.name = x[0]; i.type = x[2]; i.required = true; i.maxLength = x[0] === "email" ? 254 : 100;
      l.appendChild(i); f.appendChild(l);
    });
    var l = el("label", null, t.message); var ta = el("textarea"); ta.name = "text"; ta.required = true; ta.maxLength = 4000; l.appendChild(ta); f.appendChild(l);
    var b = el("button", null, t.send); b.type = "submit"; f.appendChild(b);
    f.addEventListener("submit", function (e) {
      e.preventDefault();
      api("POST", "/api/v1/contacts/" + state.session + "/offline", { token: state.token, name: f.elements.name.value, email: f.elements.email.value, text: ta.value })
        .then(function () { clearChoices(); setStatus(t.sent); }, function (err) { setStatus(t.error + err.message); });
    });
    choices.appendChild(f);
    f.elements.name.focus();
  }

  function callState(s) {
    var wanted = state && state.requested;
    var direct = s.state === "connected" && (wanted === "audio" || wanted === "video") && !state.direct;
    if (!call && !direct && s.channel === "chat") return;
    ensureCall().then(function (c) {
      c.state(s);
      // A contact asked for as a call: the visitor offers once connected.
      if (direct && !state.direct) { state.direct = true; store(storeKey, state); c.startDirect(wanted); }
    });
  }
  function onMessage(event) {
    var m; try { m = JSON.parse(event.data); } catch (e) { return; }
    if (m.session && state && m.session !== state.session) return;
    switch (m.type) {
      case "session": onState(m); callState(m); break;
      case "signal":
        if (typeof m.call === "string" && m.call.indexOf("data-") === 0) ensureLink().then(function (l) { l.signal(m); });
        else ensureCall().then(function (c) { c.signal(m); });
        break;
      case "media_move": if (call) call.api.mediaMove(m); break;
      case "queue": setStatus(fill(t.queued, { p: m.position, m: Math.max(1, Math.round(m.wait_ms / 60000)) })); break;
      case "chat": addMessage(m); typing.textContent = ""; break;
      case "ack": if (pending[m.id]) { pending[m.id].li.classList.remove("lcw-pending"); if (m.key) addMessage({ key: m.key, id: m.id, side: "visitor", text: pending[m.id].text }); } break;
      case "typing": typing.textContent = advisorName + " " + t.typing; clearTimeout(typingTimer); typingTimer = setTimeout(function () { typing.textContent = ""; }, 4000); break;
      case "joined": retry = 0; Object.keys(pending).forEach(function (id) { wire({ v: 1, type: "chat", session: state.session, id: id, text: pending[id].text }); }); break;
      case "error": if (m.code === "not_found" && m.session) { store(storeKey, null); state = null; setStatus(t.ended); } else if (m.code !== "rate_limited") setStatus(t.error + m.message); break;
    }
  }
  function connect() {
    if (!state) return;
    var sock = new WebSocket(state.ws || base.replace(/^http/, "ws") + "/ws");
    ws = sock;
    ws.onopen = function () {
      var join = { v: 1, type: "join", session: state.session, token: state.token };
      if (state.last) join.after = state.last;
      wire(join);
      clearInterval(pingTimer);
      pingTimer = setInterval(function () { wire({ v: 1, type: "ping" }); }, 300000); // API Gateway closes idle sockets after 10 min
    };
    ws.onmessage = onMessage;
    ws.onclose = function () {
      if (ws !== sock) return; // replaced by a newer socket
      clearInterval(pingTimer);
      if (!state) return;
      retry = Math.min(retry + 1, 6);
      setTimeout(connect, Math.min(8000, 250 * Math.pow(2, retry)));
    };
  }
  function start(channel) {
    var body = { origin: cfg.origin === "portal" ? "portal" : "widget" };
    if (cfg.card) { body = {}; body.card = cfg.card; }
    if (channel && channel !== "chat") body.channel = channel;
    else if (cfg.advisor) body.advisor = cfg.advisor;
    if (!cfg.card && cfg.topic) body.topic = cfg.topic;
    if (!cfg.card && cfg.lang && !cfg.advisor) body.language = cfg.lang;
    var v = visitor(); if (v) body.visitor = v;
    // The page the widget is on, for the advisor: without its query and
    // fragment, which may carry the visitor's tokens.
    var page = location.href.split(/[?#]/)[0];
    if (body.origin === "widget" && /^https?:\/\//.test(page) && page.length <= 512) body.page = page;
    if (lc._consent) body.consent = lc._consent;
    panel.hidden = false;
    setStatus(t.routing);
    return api("POST", "/api/v1/contacts", body).then(function (r) {
      visitor(r.visitor);
      state = { session: r.session, token: r.token, ws: r.ws, last: null, requested: channel || "chat" };
      store(storeKey, state);
      onState(r.state);
      connect();
    }, function (err) { setStatus(t.error + err.message); });
  }

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    var text = input.value.trim();
    if (!text || !state) return;
    var id = newId(), li = el("li", "lcw-msg lcw-me lcw-pending");
    li.appendChild(el("span", "lcw-who", t.you)); li.appendChild(el("span", "lcw-text", text));
    log.appendChild(li);
    pending[id] = { text: text, li: li };
    wire({ v: 1, type: "chat", session: state.session, id: id, text: text });
    input.value = "";
    input.focus();
  });
  input.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); form.requestSubmit(); }
    else if (state && Date.now() - lastTyping > 2000) { lastTyping = Date.now(); wire({ v: 1, type: "typing", session: state.session }); }
  });
  launcher.addEventListener("click", function () {
    var open = panel.hidden;
    panel.hidden = !open;
    launcher.setAttribute("aria-expanded", String(open));
    if (open && !state) start();
  });
  root.addEventListener("keydown", function (e) { if (e.key === "Escape" && !cfg.mount) { panel.hidden = true; launcher.setAttribute("aria-expanded", "false"); launcher.focus(); } });

  if (cfg.mount) {
    var starters = document.querySelectorAll("[data-start]");
    for (var i = 0; i < starters.length; i++) {
      starters[i].disabled = false;
      starters[i].addEventListener("click", function (e) {
        var ch = e.currentTarget.getAttribute("data-start");
        if (!state) start(ch);
        else if (ch !== "chat" && call) call.api.start(ch);
        input.focus();
      });
    }
  } else {
    var q = new URLSearchParams();
    if (cfg.topic) q.set("topic", cfg.topic);
    if (cfg.lang) q.set("language", cfg.lang);
    api("GET", "/api/v1/contacts/best?" + q.toString()).then(function (r) {
      if (r.advisor) {
        launcher.textContent = t.with + r.advisor.display_name + " (" + t.available + ")"; root.setAttribute("data-advisor", r.advisor.id);
        ["audio", "video"].forEach(function (ch) { callStarters[ch].hidden = !(r.advisor.presence && r.advisor.presence[ch] === "available"); });
      }
      else launcher.textContent = t.leave;
    }, function () {});
  }
  if (state) { panel.hidden = false; launcher.setAttribute("aria-expanded", "true"); connect(); }
})();
