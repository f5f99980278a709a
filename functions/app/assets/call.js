/* livecard calls: audio and video over WebRTC inside a contact session,
   shared by the visitor client (widget.js) and the advisor console.
   Signaling goes over the session's socket (docs/protocol.md, "Calls"):
   the side that starts or changes a call offers; the other answers. A new
   call id means a new peer connection; the same id renegotiates (ICE
   restart). Media is DTLS-SRTP (WebRTC has no other mode).
   A call moves off a media node that dies or drains (docs/media-node.md,
   "Failover"): a watchdog sees media stop on the selected path, ICE may say
   failed, or the server says the node drains (media_move); the side that
   offers then restarts ICE with fresh ICE servers that leave that node out,
   and the other side asks it to (a restart signal). */
(function () {
  "use strict";
  if (window.LivecardCall) return;
  var T = {
    en: { audio: "Audio call", video: "Video call", end: "End call", mute: "Mute", unmute: "Unmute", camOff: "Camera off", camOn: "Camera on",
      mic: "Microphone", cam: "Camera", connecting: "Connecting the call…", inCall: "In a call", reconnecting: "Connection lost; reconnecting…",
      ended: "The call has ended.", refused: "The browser did not allow the camera or microphone. Allow them for this site (the icon in the address bar) and try again.",
      missing: "No camera or microphone was found.", busy: "The camera or microphone is in use by another program.",
      failed: "The call could not be set up: ", unsupported: "This browser cannot make calls.", remote: "The other side", self: "You",
      screen: "Shared screen", stopShare: "Stop screen sharing", sharing: "You are sharing your screen.", shared: "The other side is sharing their screen.",
      noShare: "This browser cannot share the screen." },
    de: { audio: "Audioanruf", video: "Videoanruf", end: "Anruf beenden", mute: "Stumm", unmute: "Ton an", camOff: "Kamera aus", camOn: "Kamera an",
      mic: "Mikrofon", cam: "Kamera", connecting: "Der Anruf wird verbunden…", inCall: "Im Gespräch", reconnecting: "Verbindung unterbrochen, neuer Versuch…",
      ended: "Der Anruf ist beendet.", refused: "Der Browser hat Kamera oder Mikrofon nicht freigegeben. Erlauben Sie sie für diese Seite (Symbol in der Adresszeile) und versuchen Sie es erneut.",
      missing: "Keine Kamera und kein Mikrofon gefunden.", busy: "Kamera oder Mikrofon werden von einem anderen Programm benutzt.",
      failed: "Der Anruf konnte nicht aufgebaut werden: ", unsupported: "Dieser Browser kann keine Anrufe führen.", remote: "Gegenüber", self: "Sie",
      screen: "Geteilter Bildschirm", stopShare: "Bildschirmfreigabe beenden", sharing: "Sie teilen Ihren Bildschirm.", shared: "Ihr Gegenüber teilt den Bildschirm.",
      noShare: "Dieser Browser kann den Bildschirm nicht teilen." }
  };
  var REPORT_MS = 30000;
  /* No media on the selected path for STALL_MS (checked every WATCH_MS)
     means the path is lost: a live call carries 50 audio packets a second
     even muted. Restarts back off from RESTART_MS while none helps. */
  var STALL_MS = 1500, WATCH_MS = 250, RESTART_MS = 2000, RESTART_MAX_MS = 30000;
  /* "turn:host:port?transport=udp" -> "host:port" (as media_move names it). */
  function relayOf(url) { var m = /^turns?:([^?]+)/.exec(url || ""); return m ? m[1] : null; }

  function el(tag, cls, text) { var e = document.createElement(tag); if (cls) e.className = cls; if (text != null) e.textContent = text; return e; }
  function newId() { var b = new Uint8Array(12); crypto.getRandomValues(b); return Array.prototype.map.call(b, function (x) { return ("0" + x.toString(16)).slice(-2); }).join(""); }

  /* o: { side: "visitor"|"advisor", session: id, lang, mount: element,
          send(msg) -> bool, iceServers() -> Promise<{ice_servers, ice_transport_policy}> } */
  function LivecardCall(o) {
    var t = T[o.lang] || T.en;
    var pc = null, callId = null, offerer = false, channel = "chat", stream = null, pendingOffer = null, peer = null;
    /* Screen sharing (docs/protocol.md, "Screen sharing"): this side's
       screen (its stream, the sender of its track, whether the server has
       it yet), and the other side's streams by id with the id of the one
       that is their screen. */
    var screen = null, screenSender = null, screenKnown = false, remoteStreams = {}, sharedStream = null;
    var reportTimer = null, downTimer = null, devices = { audio: null, video: null };
    /* The other side's ICE candidates wait here until the peer connection
       has its remote description: `queued` for the current call (the answer
       side is still in getUserMedia and the ICE-server fetch when they
       come), `early` for a call whose offer has not come yet (on a
       serverless host, messages of one socket may overtake each other). */
    var queued = [], early = { call: null, list: [] }, MAX_QUEUED = 200;
    /* What the tests and the console read: ICE restarts of this call and
       the other side's candidates added to it. */
    var counts = { restarts: 0, remoteCandidates: 0, reasons: [] };
    /* What happened to the call's path, for chrome://webrtc-internals-like
       diagnosis (the tests and benches print it): [ms, what] pairs. */
    var trail = [];
    function mark(what) { if (trail.length < 100) trail.push([Date.now(), what]); }
    /* The watchdog: the selected pair's bytes received, since when they have
       not changed, and the relay (host:port) the path goes through. */
    var watch = { timer: null, pair: null, bytes: 0, since: 0, relay: null, flowing: false };
    /* A move: when this side last restarted or asked for it (until media
       flows on another pair than `from`), how many in a row did not bring
       media back, the relays to leave out, and whether a restart offer is
       being applied (candidates wait for it). */
    var moving = { at: 0, from: null, tries: 0, avoid: [], applying: false };
    var box = el("div", "lc-call"); box.hidden = true; box.setAttribute("data-call", "idle");
    var status = el("p", "lc-call-status"); status.setAttribute("role", "status");
    var videos = el("div", "lc-call-videos");
    var remote = el("video", "lc-remote"); remote.autoplay = true; remote.playsInline = true; remote.setAttribute("aria-label", t.remote);
    var self = el("video", "lc-self"); self.autoplay = true; self.playsInline = true; self.muted = true; self.setAttribute("aria-label", t.self);
    var screenVid = el("video", "lc-screen"); screenVid.autoplay = true; screenVid.playsInline = true; screenVid.muted = true; screenVid.hidden = true;
    screenVid.setAttribute("aria-label", t.screen);
    var shareNote = el("p", "lc-share-note"); shareNote.hidden = true;
    var stopShareB = el("button", "secondary", t.stopShare); stopShareB.type = "button"; stopShareB.hidden = true; stopShareB.setAttribute("data-share-stop", "");
    videos.appendChild(remote); videos.appendChild(self);
    var bar = el("div", "lc-call-bar");
    var muteB = el("button", "secondary", t.mute); muteB.type = "button"; muteB.setAttribute("aria-pressed", "false"); muteB.setAttribute("data-call-mute", "");
    var camB = el("button", "secondary", t.camOff); camB.type = "button"; camB.setAttribute("aria-pressed", "false"); camB.setAttribute("data-call-camera", "");
    var micSel = el("select"); micSel.setAttribute("aria-label", t.mic); micSel.setAttribute("data-call-mic", "");
    var camSel = el("select"); camSel.setAttribute("aria-label", t.cam); camSel.setAttribute("data-call-cam", "");
    var endB = el("button", null, t.end); endB.type = "button"; endB.setAttribute("data-call-end", "");
    [muteB, camB, micSel, camSel, endB].forEach(function (x) { bar.appendChild(x); });
    box.appendChild(status); box.appendChild(shareNote); box.appendChild(screenVid); box.appendChild(videos); box.appendChild(bar);
    bar.insertBefore(stopShareB, endB);
    o.mount.appendChild(box);

    function say(text) { status.textContent = text; }
    function phase(p) { box.setAttribute("data-call", p); }
    function signal(kind, extra) {
      var m = { v: 1, type: "signal", session: o.session, call: callId, kind: kind };
      for (var k in extra) m[k] = extra[k];
      return o.send(m);
    }
    function mediaError(err) {
      var name = err && err.name;
      if (name === "NotAllowedError" || name === "SecurityError") return t.refused;
      if (name === "NotFoundError" || name === "OverconstrainedError") return t.missing;
      if (name === "NotReadableError") return t.busy;
      return t.failed + ((err && err.message) || err);
    }
    function constraints(kind, on) {
      if (!on) return false;
      return devices[kind] ? { deviceId: { exact: devices[kind] } } : true;
    }
    function getMedia(ch) {
      if (!navigator.mediaDevices || !window.RTCPeerConnection) return Promise.reject(new Error(t.unsupported));
      return navigator.mediaDevices.getUserMedia({ audio: constraints("audio", true), video: constraints("video", ch === "video") });
    }
    function fillDevices() {
      if (!navigator.mediaDevices || !navigator.mediaDevices.enumerateDevices) return;
      navigator.mediaDevices.enumerateDevices().then(function (list) {
        [[micSel, "audioinput", "audio"], [camSel, "videoinput", "video"]].forEach(function (x) {
          var sel = x[0]; while (sel.firstChild) sel.removeChild(sel.firstChild);
          var current = stream && stream.getTracks().filter(function (tr) { return tr.kind === x[2]; })[0];
          var currentId = current && current.getSettings ? current.getSettings().deviceId : null;
          list.filter(function (d) { return d.kind === x[1]; }).forEach(function (d, i) {
            var opt = el("option", null, d.label || (x[2] === "audio" ? t.mic : t.cam) + " " + (i + 1)); opt.value = d.deviceId;
            if (d.deviceId === currentId) opt.selected = true;
            sel.appendChild(opt);
          });
          sel.hidden = sel.options.length < 2;
        });
      }).catch(function () {});
    }
    function switchDevice(kind, id) {
      devices[kind] = id;
      if (!pc || !stream) return;
      var c = {}; c[kind] = { deviceId: { exact: id } };
      navigator.mediaDevices.getUserMedia(c).then(function (s) {
        var track = s.getTracks()[0];
        var sender = pc.getSenders().filter(function (x) { return x.track && x.track.kind === kind; })[0];
        var old = stream.getTracks().filter(function (x) { return x.kind === kind; })[0];
        if (old) { track.enabled = old.enabled; stream.removeTrack(old); old.stop(); }
        stream.addTrack(track);
        if (sender) sender.replaceTrack(track);
      }, function (err) { say(mediaError(err)); });
    }
    micSel.addEventListener("change", function () { switchDevice("audio", micSel.value); });
    camSel.addEventListener("change", function () { switchDevice("video", camSel.value); });
    muteB.addEventListener("click", function () {
      if (!stream) return;
      var on = muteB.getAttribute("aria-pressed") !== "true";
      stream.getAudioTracks().forEach(function (tr) { tr.enabled = !on; });
      muteB.setAttribute("aria-pressed", String(on)); muteB.textContent = on ? t.unmute : t.mute;
    });
    camB.addEventListener("click", function () {
      if (!stream) return;
      var off = camB.getAttribute("aria-pressed") !== "true";
      stream.getVideoTracks().forEach(function (tr) { tr.enabled = !off; });
      camB.setAttribute("aria-pressed", String(off)); camB.textContent = off ? t.camOn : t.camOff;
    });
    endB.addEventListener("click", function () { api.end(); });
    stopShareB.addEventListener("click", function () { api.stopShare(); });

    /* The other side's streams: the screen (the stream the server names)
       in its own element, the rest (camera and microphone) in the call's. */
    function render() {
      var ids = Object.keys(remoteStreams);
      var main = ids.filter(function (id) { return id !== sharedStream; })[0];
      if (main && remote.srcObject !== remoteStreams[main]) remote.srcObject = remoteStreams[main];
      var shown = sharedStream && remoteStreams[sharedStream];
      if (shown && screenVid.srcObject !== shown) screenVid.srcObject = shown;
      if (!shown && screenVid.srcObject) screenVid.srcObject = null;
      screenVid.hidden = !shown;
      box.setAttribute("data-share", screen ? "mine" : shown ? "theirs" : "");
      shareNote.hidden = !screen && !shown;
      shareNote.textContent = screen ? t.sharing : shown ? t.shared : "";
      stopShareB.hidden = !screen && !sharedStream;
    }
    /* Offers again on the live connection (a track came or went); the
       other side answers as to any offer of this call. */
    function renegotiate() {
      if (!pc) return Promise.resolve();
      if (pc.signalingState !== "stable") {
        return new Promise(function (resolve) { setTimeout(resolve, 200); }).then(renegotiate);
      }
      return offer();
    }
    function addScreen() {
      if (!pc || !screen || screenSender) return;
      screenSender = pc.addTrack(screen.getVideoTracks()[0], screen);
    }
    function announceShare() {
      if (screen) o.send({ v: 1, type: "share", session: o.session, action: "start", stream: screen.id });
    }
    /* This side's screen goes; `tell`: the server does not know yet. */
    function dropScreen(tell) {
      if (!screen) return;
      var had = screen; screen = null; screenKnown = false;
      had.getTracks().forEach(function (tr) { tr.onended = null; tr.stop(); });
      if (pc && screenSender) { try { pc.removeTrack(screenSender); } catch (e) {} screenSender = null; renegotiate().catch(function () {}); }
      screenSender = null;
      if (tell) o.send({ v: 1, type: "share", session: o.session, action: "stop" });
      render();
    }

    function stop(note) {
      clearInterval(reportTimer); reportTimer = null; clearTimeout(downTimer);
      clearInterval(watch.timer); watch = { timer: null, pair: null, bytes: 0, since: 0, relay: null, flowing: false };
      moving = { at: 0, from: null, tries: 0, avoid: [], applying: false };
      if (pc) { try { pc.close(); } catch (e) {} pc = null; }
      if (stream) { stream.getTracks().forEach(function (tr) { tr.stop(); }); stream = null; }
      remote.srcObject = null; self.srcObject = null;
      if (screen) { screen.getTracks().forEach(function (tr) { tr.onended = null; tr.stop(); }); }
      screen = null; screenSender = null; screenKnown = false; remoteStreams = {}; sharedStream = null;
      screenVid.srcObject = null; screenVid.hidden = true; render();
      callId = null; pendingOffer = null; queued = [];
      counts = { restarts: 0, remoteCandidates: 0, reasons: [] }; trail = [];
      if (note) { say(note); phase("ended"); } else { box.hidden = true; phase("idle"); }
    }
    function report() {
      if (!pc) return;
      pc.getStats().then(function (stats) {
        var pair = null, local = {};
        stats.forEach(function (s) {
          if (s.type === "transport" && s.selectedCandidatePairId) pair = stats.get(s.selectedCandidatePairId);
          if (s.type === "local-candidate") local[s.id] = s;
        });
        if (!pair) stats.forEach(function (s) { if (s.type === "candidate-pair" && s.nominated && s.state === "succeeded") pair = s; });
        var cand = pair && local[pair.localCandidateId];
        var path = cand && cand.candidateType;
        var m = { v: 1, type: "call_report", session: o.session };
        if (path === "host" || path === "srflx" || path === "prflx" || path === "relay") m.path = path;
        box.setAttribute("data-path", m.path || "");
        o.send(m);
      }).catch(function () {});
    }
    function restart(reason) {
      if (!pc || !offerer) return;
      counts.restarts += 1; counts.reasons.push(reason);
      moving.at = Date.now(); mark("restart " + reason);
      say(t.reconnecting);
      // Fresh credentials without the lost relay, then an offer with new
      // ICE credentials that says why.
      o.iceServers(moving.avoid.slice()).then(function (servers) {
        if (!pc) return;
        try { pc.setConfiguration({ iceServers: servers.ice_servers, iceTransportPolicy: servers.ice_transport_policy }); } catch (e) {}
        return pc.createOffer({ iceRestart: true }).then(function (offer) {
          mark("servers " + servers.ice_servers.length);
          return pc.setLocalDescription(offer).then(function () { mark("offer sent"); signal("offer", { sdp: offer.sdp, restart: reason }); });
        });
      }).catch(function (err) { say(t.failed + err.message); });
    }
    /* The path through `relay` (or the current one) is lost or going:
       restart (the offering side) or ask the other side to; at most once per
       back-off. */
    function moveOff(reason, relay) {
      if (!pc) return;
      if (relay && moving.avoid.indexOf(relay) < 0) { moving.avoid.push(relay); if (moving.avoid.length > 4) moving.avoid.shift(); }
      // One move at a time; one that brings no media is retried, backing off.
      // The server's word (a drain) waits only for a move that just began.
      var wait = reason === "drain" || reason === "node_lost" ? RESTART_MS : Math.min(RESTART_MS * Math.pow(2, Math.max(0, moving.tries - 1)), RESTART_MAX_MS);
      if (moving.at && Date.now() - moving.at < wait) return;
      moving.tries += 1; moving.from = watch.pair;
      if (offerer) restart(reason);
      else { moving.at = Date.now(); counts.reasons.push(reason); mark("ask " + reason); signal("restart", { restart: reason }); }
    }
    function watchdog() {
      var p = pc;
      if (!p) return;
      p.getStats().then(function (stats) {
        if (p !== pc) return;
        // The transport's bytes: a switch between candidate pairs does not
        // restart the count. The pair says which relay carries the media.
        var transport = null;
        stats.forEach(function (x) { if (x.type === "transport" && x.selectedCandidatePairId) transport = x; });
        if (!transport) return;
        var pair = stats.get(transport.selectedCandidatePairId);
        var now = Date.now(), bytes = transport.bytesReceived || 0;
        if (bytes > watch.bytes) {
          watch.bytes = bytes; watch.since = now; watch.flowing = true;
          if (pair) {
            var local = stats.get(pair.localCandidateId);
            watch.relay = local && local.candidateType === "relay" ? relayOf(local.url) : null;
            // Media on another pair than the one the move left: it is done.
            if (moving.at && pair.id !== moving.from) { moving.at = 0; moving.tries = 0; mark("moved " + watch.relay); }
            watch.pair = pair.id;
          }
          return;
        }
        // Only a call that carried media can stall (not one still in its
        // DTLS handshake).
        if (watch.flowing && now - watch.since >= STALL_MS) { watch.since = now; mark("stall " + watch.relay); moveOff("stalled", watch.relay); }
      }).catch(function () {});
    }
    function newPc(servers) {
      var p = new RTCPeerConnection({ iceServers: servers.ice_servers, iceTransportPolicy: servers.ice_transport_policy || "all" });
      p.onicecandidate = function (e) {
        signal("candidate", { candidate: e.candidate ? e.candidate.toJSON() : { candidate: "" } });
      };
      p.ontrack = function (e) {
        var s = (e.streams && e.streams[0]) || new MediaStream([e.track]);
        remoteStreams[s.id] = s;
        render();
      };
      p.oniceconnectionstatechange = function () {
        if (p !== pc) return;
        var s = p.iceConnectionState;
        mark("ice " + s);
        if (s === "connected" || s === "completed") {
          clearTimeout(downTimer); say(t.inCall); phase("connected");
          report();
          if (!reportTimer) reportTimer = setInterval(report, REPORT_MS);
          if (!watch.timer) watch.timer = setInterval(watchdog, WATCH_MS);
        } else if (s === "failed") {
          moveOff("failed", watch.relay);
        } else if (s === "disconnected") {
          say(t.reconnecting);
          clearTimeout(downTimer);
          downTimer = setTimeout(function () { if (pc === p && p.iceConnectionState === "disconnected") moveOff("disconnected", watch.relay); }, 4000);
        }
      };
      return p;
    }
    function prepare(ch) {
      box.hidden = false; phase("connecting"); say(t.connecting);
      box.setAttribute("data-media", ch);
      camB.hidden = ch !== "video";
      return Promise.all([getMedia(ch), o.iceServers()]).then(function (got) {
        stream = got[0];
        self.srcObject = ch === "video" ? stream : null;
        self.hidden = ch !== "video";
        pc = newPc(got[1]);
        stream.getTracks().forEach(function (tr) { pc.addTrack(tr, stream); });
        addScreen();
        fillDevices();
      });
    }
    function addCandidate(c) {
      if (c.candidate) counts.remoteCandidates += 1;
      pc.addIceCandidate(c.candidate ? c : null).catch(function (e) { mark("candidate refused: " + (e && e.message)); });
    }
    /* Whether a candidate belongs to the remote description applied now:
       after an ICE restart the other side's new candidates may come before
       its new description (its answer), and would be refused (and lost). */
    function current(c) {
      var remoteUfrag = pc && pc.remoteDescription ? ufrag(pc.remoteDescription.sdp) : null;
      return !!remoteUfrag && !moving.applying && (!c.usernameFragment || c.usernameFragment === remoteUfrag);
    }
    function flush() {
      var list = queued; queued = [];
      list.forEach(function (c) { if (current(c)) addCandidate(c); else queue(queued, c); });
    }
    function ufrag(sdp) { var u = /a=ice-ufrag:(\S+)/.exec(sdp || ""); return u && u[1]; }
    function queue(list, c) { if (list.length < MAX_QUEUED) list.push(c); }
    function offer() {
      return pc.createOffer().then(function (d) {
        return pc.setLocalDescription(d).then(function () { signal("offer", { sdp: d.sdp }); });
      });
    }
    var api = {
      box: box,
      /* An ICE restart now, for `reason` (what a lost path triggers). */
      restart: function (reason) { moveOff(reason || "failed", null); },
      /* The server says the media node at m.relay drains or stopped. A
         lost node's word comes after its heartbeat lapsed, long after the
         stall check moved a call it carried: only this side's relay
         moves then (the other side's own word moves its relay). */
      mediaMove: function (m) {
        if (!pc || !m || typeof m.relay !== "string") return;
        if (m.reason === "node_lost") { if (watch.relay === m.relay) moveOff("node_lost", m.relay); return; }
        moveOff("drain", m.relay);
      },
      get pc() { return pc; },
      get channel() { return channel; },
      get restarts() { return counts.restarts; },
      get restartReasons() { return counts.reasons.slice(); },
      get trail() { return trail.slice(); },
      /* The other side's candidates waiting for their description. */
      get waiting() { return queued.map(function (c) { return c.usernameFragment || ""; }).concat(moving.applying ? ["(applying)"] : []); },
      get remoteCandidates() { return counts.remoteCandidates; },
      /* This side starts a call or changes its medium: the server is told
         (upgrade), and the offer follows once it says the session changed. */
      start: function (ch, withScreen) {
        if (ch === channel && pc) return;
        stop();
        if (withScreen) screen = withScreen;
        channel = ch; offerer = true; callId = newId();
        var id = callId;
        return prepare(ch).then(function () {
          if (callId !== id) return;
          pendingOffer = id;
          o.send({ v: 1, type: "upgrade", session: o.session, channel: ch });
        }, function (err) {
          stop(mediaError(err));
          channel = "chat";
        });
      },
      /* This side shares its screen (`s`: a stream from getDisplayMedia,
         asked for in the click that wanted it): added to the call, or a
         call without camera (audio) starts with it. */
      share: function (s) {
        if (!s || !s.getVideoTracks().length) return;
        if (screen) dropScreen(true);
        var track = s.getVideoTracks()[0];
        track.onended = function () { if (screen === s) dropScreen(true); }; // the browser's own "Stop sharing"
        if (!pc) { box.hidden = false; return api.start(channel === "video" ? "video" : "audio", s); }
        screen = s; screenKnown = false;
        addScreen();
        announceShare();
        render();
        return renegotiate().catch(function (err) { say(t.failed + err.message); });
      },
      /* Stops the screen sharing: this side's, or asks the server to end
         the other side's. */
      stopShare: function () {
        if (screen) dropScreen(true);
        else if (sharedStream) o.send({ v: 1, type: "share", session: o.session, action: "stop" });
      },
      get sharing() { return screen ? "mine" : sharedStream ? "theirs" : null; },
      get screenElement() { return screenVid; },
      /* The visitor of a contact asked for as a call offers once connected. */
      startDirect: function (ch) {
        stop();
        channel = ch; offerer = true; callId = newId();
        var id = callId;
        return prepare(ch).then(function () { if (callId === id) return offer(); }, function (err) { stop(mediaError(err)); });
      },
      end: function () {
        if (channel === "chat" && !pc) return;
        channel = "chat";
        stop(t.ended);
        o.send({ v: 1, type: "upgrade", session: o.session, channel: "chat" });
      },
      /* The session's state: its medium, or its end. */
      state: function (s) {
        if (s.state !== "connected") { if (pc || channel !== "chat") stop(s.state === "ended" ? t.ended : null); channel = "chat"; return; }
        // A hand-over: the call goes on with the colleague, whom the
        // visitor's side offers it to anew.
        var now = s.advisor && s.advisor.id;
        var handedOver = peer && now && now !== peer;
        if (now) peer = now;
        if (handedOver && o.side === "visitor" && s.channel !== "chat" && (pc || channel !== "chat")) {
          api.startDirect(s.channel);
          return;
        }
        if (s.channel === "chat") {
          if (pc || channel !== "chat") { channel = "chat"; stop(t.ended); }
          return;
        }
        // The screen being shared: this side's (the server has it now, or
        // the other side stopped it), or the other side's (its stream).
        var sh = s.share || null;
        if (sh && sh.side === o.side) screenKnown = true;
        else if (screen && screenKnown) dropScreen(false);
        sharedStream = sh && sh.side !== o.side ? sh.stream : null;
        render();
        if (pendingOffer && pendingOffer === callId && s.channel === channel && pc) {
          pendingOffer = null;
          offer().then(function () { if (screen && !screenKnown) announceShare(); }).catch(function (err) { say(t.failed + err.message); });
          return;
        }
        if (s.channel !== channel && !pendingOffer) {
          channel = s.channel; // the other side changed it; its offer follows
        }
      },
      /* A relayed signal from the other side. */
      signal: function (m) {
        if (m.kind === "offer") {
          var fresh = m.call !== callId || !pc;
          var ch = /\nm=video /.test(m.sdp) ? "video" : "audio";
          var ready = Promise.resolve();
          if (fresh) {
            stop();
            callId = m.call; offerer = false; channel = ch;
            if (early.call === m.call) queued = early.list;
            early = { call: null, list: [] };
            ready = prepare(ch);
          } else if (pc.signalingState === "have-local-offer") {
            // Both sides offered at once (a screen came while the other
            // side renegotiated): the advisor's offer wins; the visitor
            // takes it back and offers again after answering.
            if (o.side === "advisor") return;
            ready = pc.setLocalDescription({ type: "rollback" }).then(function () {
              setTimeout(function () { renegotiate().catch(function () {}); }, 0);
            });
          } else if (pc.remoteDescription && ufrag(m.sdp) !== ufrag(pc.remoteDescription.sdp)) {
            // The other side restarted ICE: gather anew on fresh ICE servers
            // (without the relays this side lost); its candidates wait.
            counts.restarts += 1;
            moving.applying = true; moving.at = Date.now(); moving.from = watch.pair; mark("restart offer");
            ready = o.iceServers(moving.avoid.slice()).then(function (servers) {
              if (!pc) return;
              try { pc.setConfiguration({ iceServers: servers.ice_servers, iceTransportPolicy: servers.ice_transport_policy }); } catch (e) {}
            }, function () {});
          }
          ready.then(function () {
            return pc.setRemoteDescription({ type: "offer", sdp: m.sdp });
          }).then(function () {
            moving.applying = false;
            flush();
            return pc.createAnswer();
          }).then(function (d) {
            return pc.setLocalDescription(d).then(function () { if (!fresh) mark("answer sent"); signal("answer", { sdp: d.sdp }); });
          }).catch(function (err) {
            stop(fresh ? mediaError(err) : t.failed + err.message);
            // Tell the other side there is no call from here.
            o.send({ v: 1, type: "upgrade", session: o.session, channel: "chat" });
          });
        } else if (m.kind === "candidate") {
          if (!m.candidate || typeof m.candidate !== "object") return;
          if (m.call === callId && pc && current(m.candidate)) addCandidate(m.candidate);
          else if (m.call === callId) queue(queued, m.candidate); // the call is still being prepared
          else if (m.call) {
            // A candidate that overtook its offer.
            if (early.call !== m.call) early = { call: m.call, list: [] };
            queue(early.list, m.candidate);
          }
        } else if (m.call !== callId || !pc) {
          return;
        } else if (m.kind === "restart") {
          if (offerer) moveOff(m.restart || "failed", null);
        } else if (m.kind === "answer") {
          if (moving.at) mark("answer");
          pc.setRemoteDescription({ type: "answer", sdp: m.sdp }).then(flush).catch(function (err) { say(t.failed + err.message); });
        }
      }
    };
    (window.livecard = window.livecard || { instances: [] });
    (window.livecard.calls = window.livecard.calls || []).push(api);
    return api;
  }

  /* The data link: files (and identity images) peer to peer over
     RTCDataChannels, on a peer connection of its own (docs/protocol.md,
     "Files"), set up on demand in any connected session, with or without a
     call, on the same ICE servers (relay-only when the policy says so).
     Its signals carry a call id that begins "data-". A control channel
     (negotiated, id 0) carries JSON; each file has a channel of its own.
     o: { side, session, lang, mount (a list to show transfers in),
          send(msg), iceServers() -> Promise<{ice_servers, ice_transport_policy, files}> } */
  var LT = {
    en: { tooLarge: "This file is larger than {max} MB and cannot be sent.", badType: "Files of this type cannot be sent here. Allowed: {types}.",
      sending: "Sending", receiving: "Receiving", sent: "Sent. The other side checked it.", received: "Received and checked.", save: "Save",
      cancel: "Cancel", cancelled: "Cancelled.", cancelledThem: "The other side cancelled it.", gone: "The other side is gone; the transfer stopped.",
      corrupt: "The file arrived damaged (its checksum differs). Ask to send it again.", refused: "The other side cannot take this file.",
      you: "You", them: "The other side", failed: "The file could not be sent: " },
    de: { tooLarge: "Diese Datei ist größer als {max} MB und kann nicht gesendet werden.", badType: "Dateien dieser Art können hier nicht gesendet werden. Erlaubt: {types}.",
      sending: "Wird gesendet", receiving: "Wird empfangen", sent: "Gesendet. Die Gegenseite hat sie geprüft.", received: "Empfangen und geprüft.", save: "Speichern",
      cancel: "Abbrechen", cancelled: "Abgebrochen.", cancelledThem: "Die Gegenseite hat abgebrochen.", gone: "Die Gegenseite ist nicht mehr da; die Übertragung wurde beendet.",
      corrupt: "Die Datei kam beschädigt an (Prüfsumme weicht ab). Bitten Sie, sie erneut zu senden.", refused: "Die Gegenseite kann diese Datei nicht annehmen.",
      you: "Sie", them: "Gegenseite", failed: "Die Datei konnte nicht gesendet werden: " }
  };
  var CHUNK = 16384, HIGH_WATER = 1048576, LOW_WATER = 262144;
  function hex(buf) { return Array.prototype.map.call(new Uint8Array(buf), function (x) { return ("0" + x.toString(16)).slice(-2); }).join(""); }
  function sha256(buf) { return crypto.subtle.digest("SHA-256", buf).then(hex); }
  /* A name from the other side is text, never a path: no separators, no
     control characters, no leading dots, at most 120 characters. */
  function safeName(name) {
    var n = String(name == null ? "" : name).replace(/[\u0000-\u001f\u007f-\u009f\/\\:*?"<>|]/g, "_").replace(/^[.\s]+/, "").trim().slice(0, 120);
    return n || "file";
  }
  function extOf(name) { var m = /\.([A-Za-z0-9]{1,10})$/.exec(name); return m ? m[1].toLowerCase() : ""; }
  function sizeText(n) { return n >= 1e6 ? (n / 1e6).toFixed(1) + " MB" : n >= 1e3 ? Math.round(n / 1e3) + " kB" : n + " B"; }

  function LivecardLink(o) {
    var t = LT[o.lang] || LT.en;
    var pc = null, id = null, control = null, policy = null, opening = null, ready = null;
    var queued = [], early = { call: null, list: [] }, transfers = {}, channels = {};
    function signal(kind, extra) {
      var m = { v: 1, type: "signal", session: o.session, call: id, kind: kind };
      for (var k in extra) m[k] = extra[k];
      return o.send(m);
    }
    function item(tr, mine) {
      var li = el("li", "lcw-msg lcw-file " + (mine ? "lcw-me" : "lcw-them"));
      li.setAttribute("data-transfer", tr.id);
      li.appendChild(el("span", "lcw-who", mine ? t.you : t.them));
      var name = el("span", "lcw-text lcw-file-name", tr.name); // text, never markup
      li.appendChild(name);
      li.appendChild(el("span", "lcw-file-size", " (" + sizeText(tr.size) + ")"));
      var bar = el("progress"); bar.max = tr.size || 1; bar.value = 0; bar.setAttribute("aria-label", tr.name);
      var status = el("span", "lcw-file-status"); status.setAttribute("role", "status");
      var cancel = el("button", "secondary", t.cancel); cancel.type = "button"; cancel.setAttribute("data-file-cancel", tr.id);
      cancel.addEventListener("click", function () { api.cancel(tr.id); });
      li.appendChild(bar); li.appendChild(status); li.appendChild(cancel);
      o.mount.appendChild(li);
      o.mount.scrollTop = o.mount.scrollHeight;
      tr.li = li; tr.bar = bar; tr.status = status; tr.cancelB = cancel;
      return li;
    }
    function set(tr, state, text) {
      tr.state = state;
      if (tr.li) { tr.li.setAttribute("data-state", state); tr.status.textContent = text || ""; tr.cancelB.hidden = state !== "sending" && state !== "receiving"; }
    }
    /* The bar moves at most every 100 ms (a DOM write per 16 KiB message
       costs the transfer time). */
    function progress(tr, n) {
      tr.done = n;
      var now = Date.now();
      if (tr.bar && (n >= tr.size || !tr.drawn || now - tr.drawn >= 100)) { tr.drawn = now; tr.bar.value = n; }
    }
    function refusal(text) {
      var li = el("li", "lcw-msg lcw-file lcw-me"); li.setAttribute("data-state", "refused");
      li.appendChild(el("span", "lcw-file-status", text)); li.setAttribute("role", "alert");
      o.mount.appendChild(li);
    }
    /* Identity photos are pictures this page takes (JPEG), not files the
       user picks: only the size limit applies to them. */
    function allowed(name, size, kind) {
      if (!policy) return t.failed + "?";
      if (size > policy.max_bytes) return t.tooLarge.replace("{max}", String(Math.round(policy.max_bytes / 1e6)));
      if (kind === "identity") return extOf(name) === "jpg" ? null : t.refused;
      if (policy.types.indexOf(extOf(name)) < 0) return t.badType.replace("{types}", policy.types.join(", "));
      return null;
    }
    function gone(why) {
      Object.keys(transfers).forEach(function (k) {
        var tr = transfers[k];
        if (tr.state === "sending" || tr.state === "receiving" || tr.state === "checking" || tr.state === "waiting") set(tr, "gone", why || t.gone);
      });
    }
    function servers() {
      return o.iceServers().then(function (s) { if (s.files) policy = s.files; return s; });
    }
    function newPc(s) {
      var p = new RTCPeerConnection({ iceServers: s.ice_servers, iceTransportPolicy: s.ice_transport_policy || "all" });
      p.onicecandidate = function (e) { if (p === pc) signal("candidate", { candidate: e.candidate ? e.candidate.toJSON() : { candidate: "" } }); };
      p.onconnectionstatechange = function () { if (p === pc && (p.connectionState === "failed" || p.connectionState === "closed")) gone(); };
      p.ondatachannel = function (e) { incoming(e.channel); };
      control = p.createDataChannel("control", { negotiated: true, id: 0, ordered: true });
      var c = control;
      ready = new Promise(function (resolve) { c.onopen = function () { resolve(); }; });
      c.onmessage = function (e) { onControl(e.data); };
      c.onclose = function () { if (c === control) gone(); };
      return p;
    }
    function flush() {
      var list = queued; queued = [];
      list.forEach(function (c) { pc.addIceCandidate(c.candidate ? c : null).catch(function () {}); });
    }
    /* Until the link's control channel is open (whichever side opened it). */
    function whenReady() {
      return new Promise(function (resolve, reject) {
        var waited = 0;
        (function look() {
          if (control && control.readyState === "open") return resolve();
          if ((waited += 100) > 30000) return reject(new Error("timeout"));
          setTimeout(look, 100);
        })();
      });
    }
    /* The link, opened by this side (the first file) or already there. */
    function open() {
      if (opening) return opening;
      id = "data-" + newId();
      var mine = id;
      opening = servers().then(function (s) {
        if (id !== mine) return ready; // the other side's link won meanwhile
        pc = newPc(s);
        return pc.createOffer().then(function (d) { return pc.setLocalDescription(d); })
          .then(function () { signal("offer", { sdp: pc.localDescription.sdp }); return ready; });
      });
      opening.catch(function () { opening = null; });
      return opening;
    }
    function close() {
      if (pc) { try { pc.close(); } catch (e) {} }
      pc = null; control = null; opening = null; ready = null; queued = []; channels = {};
    }
    function onControl(text) {
      var m; try { m = JSON.parse(text); } catch (e) { return; }
      if (!m || typeof m.id !== "string" || !/^[A-Za-z0-9]{1,40}$/.test(m.id)) return;
      var tr = transfers[m.id];
      if (m.t === "offer") {
        if (tr) return;
        var name = safeName(m.name), size = Number(m.size);
        var kind = m.kind === "identity" ? "identity" : "file";
        tr = transfers[m.id] = { id: m.id, name: name, size: size, sha256: String(m.sha256 || ""), chunks: [], got: 0, mine: false, kind: kind,
          times: { offer: performance.now() } }; // where the time goes (the bench reads it)
        item(tr, false);
        // An identity photo only while this side asked for one (o.identity).
        var why = !(size > 0) || (tr.sha256 && !/^[0-9a-f]{64}$/.test(tr.sha256)) ? t.refused
          : kind === "identity" && !(o.identity && o.identity()) ? t.refused : allowed(name, size, kind);
        if (why) { set(tr, "refused", why); control.send(JSON.stringify({ t: "cancel", id: m.id, reason: "refused" })); return; }
        set(tr, "receiving", t.receiving + "…");
        if (channels[m.id]) attach(tr, channels[m.id]);
      } else if (m.t === "sum" && tr && !tr.mine) {
        // The sender's checksum, computed while the bytes were on their way.
        if (!/^[0-9a-f]{64}$/.test(String(m.sha256 || ""))) { api.cancel(tr.id); return; }
        tr.sha256 = String(m.sha256);
        if (tr.state === "waiting") check(tr);
      } else if (m.t === "cancel" && tr) {
        if (tr.channel) try { tr.channel.close(); } catch (e) {}
        if (tr.state === "sending" || tr.state === "receiving") set(tr, m.reason === "refused" ? "refused" : "cancelled", m.reason === "refused" ? t.refused : t.cancelledThem);
      } else if (m.t === "ack" && tr && tr.mine && tr.state === "sending") {
        if (m.ok) {
          set(tr, "sent", t.sent); progress(tr, tr.size);
          if (tr.kind !== "identity") o.send({ v: 1, type: "file", session: o.session, bytes: tr.size });
        } else set(tr, "corrupt", t.corrupt);
      }
    }
    /* A file channel the other side opened: its bytes, then the check. */
    function incoming(ch) {
      var m = /^file:([A-Za-z0-9]{1,40})$/.exec(ch.label);
      if (!m) { ch.close(); return; }
      ch.binaryType = "arraybuffer";
      channels[m[1]] = ch;
      if (transfers[m[1]] && !transfers[m[1]].mine) attach(transfers[m[1]], ch);
      else ch.onmessage = function (e) { (ch.early = ch.early || []).push(e.data); };
    }
    function attach(tr, ch) {
      tr.channel = ch;
      var take = function (data) {
        if (tr.state !== "receiving" || !(data instanceof ArrayBuffer)) return;
        tr.chunks.push(data); tr.got += data.byteLength; progress(tr, tr.got);
        if (tr.got > tr.size) { api.cancel(tr.id); return; }
        if (tr.got === tr.size) { tr.times.bytes = performance.now(); if (tr.sha256) check(tr); else set(tr, "waiting", "…"); }
      };
      (ch.early || []).forEach(take); ch.early = null;
      ch.onmessage = function (e) { take(e.data); };
    }
    function check(tr) {
      set(tr, "checking", "…");
      var blob = tr.blob || new Blob(tr.chunks, { type: "application/octet-stream" });
      tr.chunks = [];
      blob.arrayBuffer().then(sha256).then(function (sum) {
        var ok = sum === tr.sha256;
        tr.received = sum; tr.times.checked = performance.now();
        if (control) control.send(JSON.stringify({ t: "ack", id: tr.id, ok: ok }));
        if (!ok) { set(tr, "corrupt", t.corrupt); return; }
        set(tr, "received", t.received);
        if (tr.kind === "identity") { if (o.onIdentity) o.onIdentity(tr, blob); return; }
        var a = el("a", "lcw-file-save", t.save);
        a.href = URL.createObjectURL(blob); a.download = tr.name; a.setAttribute("data-file-save", tr.id);
        tr.li.appendChild(a);
      });
    }
    function pump(tr, file) {
      var ch = tr.channel, offset = 0, reading = false, SLICE = CHUNK * 64;
      // The next slice is read while the last one goes out: the channel
      // never waits for the file.
      var ahead = null;
      function read(from) {
        var end = Math.min(from + SLICE, file.size);
        return { end: end, buf: file.slice(from, end).arrayBuffer() };
      }
      function next() {
        if (tr.state !== "sending" || reading) return;
        if (offset >= file.size) return;
        if (ch.bufferedAmount > HIGH_WATER) return; // bufferedamountlow calls again
        var slice = ahead || read(offset);
        ahead = null;
        reading = true; // one slice at a time: the chunks go in order, once
        slice.buf.then(function (buf) {
          reading = false;
          if (tr.state !== "sending" || ch.readyState !== "open") return;
          if (slice.end < file.size) ahead = read(slice.end);
          for (var at = 0; at < buf.byteLength; at += CHUNK) ch.send(new Uint8Array(buf, at, Math.min(CHUNK, buf.byteLength - at)));
          offset = slice.end;
          progress(tr, Math.max(0, offset - ch.bufferedAmount));
          next();
        });
      }
      ch.bufferedAmountLowThreshold = LOW_WATER;
      ch.onbufferedamountlow = function () { progress(tr, Math.max(0, offset - ch.bufferedAmount)); next(); };
      ch.onclose = function () { if (tr.state === "sending" && offset < file.size) set(tr, "gone", t.gone); };
      next();
    }
    var api = {
      get pc() { return pc; },
      get id() { return id; },
      get policy() { return policy; },
      transfers: transfers,
      /* Sends a file (a File or Blob with a name): checked against the
         deployment's policy before a byte goes. */
      send: function (file, name, kind) {
        name = safeName(name || file.name);
        kind = kind === "identity" ? "identity" : "file";
        return (policy ? Promise.resolve() : servers()).then(function () {
          var why = allowed(name, file.size, kind);
          if (why) { refusal(why); return null; }
          var tr = { id: newId().slice(0, 20), name: name, size: file.size, mine: true, kind: kind };
          transfers[tr.id] = tr;
          item(tr, true); set(tr, "sending", t.sending + "…");
          if (!opening) open();
          // The bytes start at once; the checksum follows when computed
          // (hashing overlaps the transfer instead of delaying it).
          var sum = file.arrayBuffer().then(sha256);
          return whenReady().then(function () {
            if (tr.state !== "sending") return tr;
            control.send(JSON.stringify({ t: "offer", id: tr.id, name: name, size: file.size, type: file.type || "", kind: kind }));
            tr.channel = pc.createDataChannel("file:" + tr.id, { ordered: true });
            tr.channel.binaryType = "arraybuffer";
            tr.channel.onopen = function () { pump(tr, file); };
            sum.then(function (digest) {
              tr.sha256 = digest;
              if (tr.state === "sending" && control && control.readyState === "open") control.send(JSON.stringify({ t: "sum", id: tr.id, sha256: digest }));
            });
            return tr;
          }).catch(function (err) { set(tr, "failed", t.failed + (err && err.message)); return tr; });
        });
      },
      cancel: function (tid) {
        var tr = transfers[tid];
        if (!tr || (tr.state !== "sending" && tr.state !== "receiving")) return;
        set(tr, "cancelled", t.cancelled);
        if (tr.channel) try { tr.channel.close(); } catch (e) {}
        if (control && control.readyState === "open") control.send(JSON.stringify({ t: "cancel", id: tid }));
      },
      /* The conversation ended: whatever is under way stops. */
      close: function (why) { gone(why); close(); },
      /* A relayed signal whose call id names a data link. */
      signal: function (m) {
        if (m.kind === "offer") {
          if (pc && m.call !== id && pc.signalingState === "have-local-offer" && o.side === "advisor") return; // ours wins
          if (m.call !== id || !pc) {
            // The other side's link: take it (ours, if any, gives way; its
            // files wait for the new link).
            if (pc) close();
            id = m.call;
            if (early.call === m.call) queued = early.list;
            early = { call: null, list: [] };
            var mine = id;
            opening = servers().then(function (s) {
              if (id !== mine) return ready;
              pc = newPc(s);
              return pc.setRemoteDescription({ type: "offer", sdp: m.sdp })
                .then(function () { flush(); return pc.createAnswer(); })
                .then(function (d) { return pc.setLocalDescription(d).then(function () { signal("answer", { sdp: d.sdp }); }); })
                .then(function () { return ready; });
            });
            opening.catch(function () { opening = null; });
          }
        } else if (m.kind === "answer") {
          if (pc && m.call === id) pc.setRemoteDescription({ type: "answer", sdp: m.sdp }).then(flush).catch(function () {});
        } else if (m.kind === "candidate" && m.candidate && typeof m.candidate === "object") {
          if (pc && m.call === id && pc.remoteDescription) pc.addIceCandidate(m.candidate.candidate ? m.candidate : null).catch(function () {});
          else if (m.call === id) { if (queued.length < 200) queued.push(m.candidate); }
          else { if (early.call !== m.call) early = { call: m.call, list: [] }; if (early.list.length < 200) early.list.push(m.candidate); }
        }
      }
    };
    (window.livecard = window.livecard || { instances: [] });
    (window.livecard.links = window.livecard.links || []).push(api);
    return api;
  }
  LivecardLink.safeName = safeName;
  window.LivecardLink = LivecardLink;
  LivecardCall.texts = T;
  window.LivecardCall = LivecardCall;
})();
