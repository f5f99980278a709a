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
    var pc = null, callId = null, offerer = false, channel = "chat", stream = null, pendingOffer = null;
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
  LivecardCall.texts = T;
  window.LivecardCall = LivecardCall;
})();
