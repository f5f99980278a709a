//! Calls end to end in two real headless Chromium instances with a fake
//! camera and microphone, through the media node `livecard up` runs, under
//! the relay-only policy: a visitor starts a video call from a card link,
//! the advisor accepts, both sides receive audio and video (getStats: bytes
//! received and frames decoded rising) over a relay pair through our node;
//! hanging up ends both sides; chat -> audio -> video works; the events are
//! recorded. A browser that refuses the camera gets a clear message. A call
//! moves to another media node when its node is killed or drains.

mod support;

use fantoccini::Client;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use support::{Driver, Livecard, http_get, run, sign_in, wait_until};

/// The two tests run one after the other: four Chromium instances with
/// fake cameras at once are too many for a 2-core machine.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The live call's media as getStats tells it: inbound audio bytes, video
/// frames decoded, and the selected pair's candidate types and relay URL.
const STATS: &str = r#"
const done = arguments[arguments.length - 1];
const calls = (window.livecard && window.livecard.calls) || [];
const call = calls.filter(c => c.pc).pop();
if (!call) { done(null); return; }
call.pc.getStats().then(stats => {
  const out = { audioBytes: 0, framesDecoded: 0, videoBytes: 0, state: call.pc.iceConnectionState, channel: call.channel };
  let pair = null;
  stats.forEach(s => {
    if (s.type === 'inbound-rtp' && s.kind === 'audio') out.audioBytes += s.bytesReceived || 0;
    if (s.type === 'inbound-rtp' && s.kind === 'video') { out.framesDecoded += s.framesDecoded || 0; out.videoBytes += s.bytesReceived || 0; }
    if (s.type === 'transport' && s.selectedCandidatePairId) pair = stats.get(s.selectedCandidatePairId);
  });
  if (pair) {
    const local = stats.get(pair.localCandidateId), remote = stats.get(pair.remoteCandidateId);
    out.local = local && local.candidateType;
    out.remote = remote && remote.candidateType;
    out.relayUrl = local && local.url;
    out.relayProtocol = local && local.relayProtocol;
  }
  done(out);
}, e => done({ error: String(e) }));
"#;

async fn stats(browser: &Client) -> Value {
    browser
        .execute_async(STATS, vec![])
        .await
        .expect("getStats")
}

async fn wait_connected(browser: &Client, who: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let s = stats(browser).await;
        if s["state"] == "connected" || s["state"] == "completed" {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{who}: the call did not connect: {s}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Media flows in: audio bytes (and, for video, decoded frames) rise.
async fn media_rises(browser: &Client, who: &str, video: bool) -> Value {
    let first = stats(browser).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        tokio::time::sleep(Duration::from_millis(700)).await;
        let now = stats(browser).await;
        let audio_up = now["audioBytes"].as_f64() > first["audioBytes"].as_f64();
        let video_up = now["framesDecoded"].as_f64() > first["framesDecoded"].as_f64()
            && now["framesDecoded"].as_f64().unwrap_or(0.0) > 0.0;
        if audio_up && (!video || video_up) {
            return now;
        }
        assert!(
            Instant::now() < deadline,
            "{who}: media did not rise: {first} -> {now}"
        );
    }
}

/// The call connected on its first ICE attempt (no restart on either
/// side rescued it) with the other side's candidates added: a side that
/// dropped them connects only when the other direction happens to suffice,
/// and never under relay-only.
async fn assert_first_attempt(browser: &Client, who: &str) {
    let counts = run(
        browser,
        "const c = window.livecard.calls.filter(c => c.pc).pop(); return c ? { restarts: c.restarts, remote: c.remoteCandidates } : null;",
    )
    .await;
    assert_eq!(
        counts["restarts"], 0,
        "{who}: connected only after an ICE restart: {counts}"
    );
    assert!(
        counts["remote"].as_u64().unwrap_or(0) > 0,
        "{who}: added none of the other side's candidates: {counts}"
    );
}

fn assert_relayed(s: &Value, who: &str, turn_port: &str) {
    assert_eq!(s["local"], "relay", "{who}: {s}");
    assert_eq!(s["remote"], "relay", "{who}: {s}");
    let url = s["relayUrl"].as_str().unwrap_or("");
    assert!(
        url.contains(&format!("127.0.0.1:{turn_port}")),
        "{who}: relayed through our node: {s}"
    );
}

async fn click(browser: &Client, selector: &str) {
    browser
        .execute(
            "const e = document.querySelector(arguments[0]); if (!e) return false; e.click(); return true;",
            vec![json!(selector)],
        )
        .await
        .expect("click");
}

/// The visitor opens Ben's card and starts a video call; the console rings
/// for a video call and Ben accepts.
async fn video_call_accepted(server: &Livecard, visitor: &Client, advisor: &Client) {
    visitor
        .goto(&format!("{}?lang=en", server.card_link("Ben Okafor")))
        .await
        .expect("card page");
    wait_until(
        visitor,
        "document.querySelector('[data-start=\"video\"]') && !document.querySelector('[data-start=\"video\"]').disabled",
        "the video button is switched on",
    )
    .await;
    click(visitor, "[data-start=\"video\"]").await;
    wait_until(
        advisor,
        "document.querySelectorAll('#rings .ring').length === 1",
        "a ring",
    )
    .await;
    let ring = support::text_of(advisor, "#rings .ring strong").await;
    assert!(ring.contains("Video call"), "{ring}");
    click(advisor, "[data-accept]").await;
}

/// Two Chromium instances: Ben signs in to his console, a visitor starts a
/// video call from his card and he accepts; both sides connect on the first
/// ICE attempt.
async fn connected_video_call(server: &Livecard) -> (Driver, Client, Client) {
    let mut driver = Driver::start().await;
    let visitor = driver.browser().await;
    let advisor = driver.browser().await;
    sign_in(&advisor, server.signin_link("Ben Okafor")).await;
    video_call_accepted(server, &visitor, &advisor).await;
    wait_connected(&visitor, "visitor").await;
    wait_connected(&advisor, "advisor").await;
    assert_first_attempt(&visitor, "visitor").await;
    assert_first_attempt(&advisor, "advisor").await;
    (driver, visitor, advisor)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn video_call_from_a_card_relayed_by_our_node_then_chat_audio_video() {
    let _serial = SERIAL.lock().await;
    let dir = support::temp_dir("e2e-call");
    let server = Livecard::start_in(
        dir.to_path_buf(),
        &["--relay-only", "--turn-addr", "127.0.0.1:0"],
    );
    call_scenario(server).await;
}

/// The same on the edge host: the Worker's ICE-servers endpoint finds the
/// media node (started by `livecard edge`) in the store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the Worker built; scripts/test-worker.sh runs it"]
async fn on_the_worker_video_call_relayed_by_our_node_then_chat_audio_video() {
    let _serial = SERIAL.lock().await;
    let server = Livecard::start_edge(
        "e2e-call-edge",
        &["--relay-only", "--turn-addr", "127.0.0.1:0"],
    );
    call_scenario(server).await;
}

async fn call_scenario(server: Livecard) {
    let turn_addr = server
        .turn_addr
        .clone()
        .expect("the media node runs in livecard up");
    let turn_port = turn_addr.rsplit(':').next().expect("port").to_owned();
    // Both sides connect through the relay and receive audio and video.
    let (_driver, visitor, advisor) = connected_video_call(&server).await;
    let v = media_rises(&visitor, "visitor", true).await;
    let a = media_rises(&advisor, "advisor", true).await;
    assert_relayed(&v, "visitor", &turn_port);
    assert_relayed(&a, "advisor", &turn_port);

    // An ICE restart (what a failed or lost connection triggers) renegotiates
    // the same call with new ICE credentials and fresh TURN credentials.
    let ufrag = "(() => { const c = window.livecard.calls.filter(c => c.pc).pop(); const m = /a=ice-ufrag:(\\S+)/.exec(c.pc.localDescription.sdp); return m && m[1]; })()";
    let before = run(&visitor, &format!("return {ufrag};")).await;
    run(
        &visitor,
        "window.livecard.calls.filter(c => c.pc).pop().restart(); return true;",
    )
    .await;
    wait_until(
        &visitor,
        &format!("{ufrag} !== {before}"),
        "new ICE credentials",
    )
    .await;
    wait_connected(&visitor, "visitor (after the ICE restart)").await;
    // Each side counted it: the visitor restarted, the advisor answered a
    // restart (so the first-attempt checks above can see one).
    for (browser, who) in [(&visitor, "visitor"), (&advisor, "advisor")] {
        // The advisor counts it when the restart offer reaches it.
        wait_until(
            browser,
            "window.livecard.calls.filter(c => c.pc).pop().restarts > 0",
            &format!("{who} counts the restart"),
        )
        .await;
        let restarts = run(
            browser,
            "return window.livecard.calls.filter(c => c.pc).pop().restarts;",
        )
        .await;
        assert_eq!(restarts, 1, "{who}: the restart is counted once");
    }
    media_rises(&visitor, "visitor (after the ICE restart)", true).await;
    media_rises(&advisor, "advisor (after the ICE restart)", true).await;

    // A dropped signaling socket does not end the call: media keeps flowing
    // while the page reconnects.
    run(
        &visitor,
        "window.livecard.instances[0].ws.close(); return true;",
    )
    .await;
    media_rises(&visitor, "visitor (socket dropped)", true).await;
    media_rises(&advisor, "advisor (visitor's socket dropped)", true).await;
    wait_until(
        &visitor,
        "window.livecard.instances[0].ws.readyState === 1",
        "the socket is back",
    )
    .await;

    // The node relayed it (its metrics count the packets).
    let metrics_url = server.media_metrics.clone().expect("metrics URL");
    let metrics = http_get(&metrics_url, "");
    let relayed: f64 = metrics
        .lines()
        .find(|l| l.starts_with("livecard_turn_relayed_packets_total{direction=\"to_client\"}"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0.0);
    assert!(relayed > 100.0, "the node relayed the call: {metrics}");

    // Hanging up ends the call on both sides; the chat stays.
    click(&visitor, "[data-call-end]").await;
    wait_until(
        &visitor,
        "window.livecard.calls.every(c => !c.pc)",
        "the visitor's call ends",
    )
    .await;
    wait_until(
        &advisor,
        "window.livecard.calls.every(c => !c.pc)",
        "the advisor's call ends",
    )
    .await;
    wait_until(
        &advisor,
        "document.querySelector('.lc-call').dataset.call === 'ended'",
        "the console shows the end",
    )
    .await;
    wait_until(
        &visitor,
        "document.querySelector('.lcw').dataset.state === 'connected'",
        "the chat goes on",
    )
    .await;

    // chat -> audio (the advisor starts it) -> video (the visitor upgrades).
    click(&advisor, ".chat [data-call-start=\"audio\"]").await;
    wait_connected(&visitor, "visitor (audio)").await;
    wait_connected(&advisor, "advisor (audio)").await;
    assert_first_attempt(&visitor, "visitor (audio)").await;
    assert_first_attempt(&advisor, "advisor (audio)").await;
    let v = media_rises(&visitor, "visitor (audio)", false).await;
    assert_eq!(v["channel"], "audio", "{v}");
    assert_eq!(v["framesDecoded"], 0, "an audio call has no video: {v}");
    assert_relayed(&v, "visitor (audio)", &turn_port);
    click(&visitor, ".lcw [data-call-start=\"video\"]").await;
    wait_until(
        &visitor,
        "window.livecard.calls.some(c => c.pc && c.channel === 'video')",
        "the video call",
    )
    .await;
    wait_connected(&visitor, "visitor (video)").await;
    wait_connected(&advisor, "advisor (video)").await;
    assert_first_attempt(&visitor, "visitor (video)").await;
    assert_first_attempt(&advisor, "advisor (video)").await;
    media_rises(&visitor, "visitor (video)", true).await;
    media_rises(&advisor, "advisor (video)", true).await;

    // Mute and camera off act on the local tracks.
    click(&visitor, "[data-call-mute]").await;
    click(&visitor, "[data-call-camera]").await;
    let tracks = run(
        &visitor,
        "const c = window.livecard.calls.filter(c => c.pc).pop(); return c.pc.getSenders().filter(s => s.track).map(s => s.track.kind + ':' + s.track.enabled).sort();",
    )
    .await;
    assert_eq!(tracks, json!(["audio:false", "video:false"]));

    // The session ends with the hangup of the chat: the call ends with it.
    click(&advisor, ".chat [data-hangup]").await;
    wait_until(
        &visitor,
        "window.livecard.calls.every(c => !c.pc)",
        "the visitor's call ends with the session",
    )
    .await;
    wait_until(
        &visitor,
        "document.querySelector('.lcw').dataset.state === 'ended'",
        "the session ended",
    )
    .await;

    // Events: the call's start, upgrade, end and its relay path.
    let key = std::fs::read_to_string(server.data_dir.join("admin.key")).expect("admin key");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let events = http_get(
            &format!("{}/api/v1/events?limit=100", server.url),
            key.trim(),
        );
        let has = |name: &str| events.contains(&format!("\"name\":\"{name}\""));
        if has("call_started")
            && has("call_upgraded")
            && has("call_ended")
            && events.contains("\"path\":\"relay\"")
        {
            assert!(events.contains("\"duration_ms\""), "{events}");
            break;
        }
        assert!(Instant::now() < deadline, "call events missing: {events}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The goal for a call to have media again after its media node dies.
const FAILOVER_GOAL: Duration = Duration::from_secs(5);
/// Video after a death: the path is back within the goal, then Chromium's
/// bandwidth estimate (collapsed by the outage) paces the next key frame.
const VIDEO_BACK: Duration = Duration::from_secs(15);

/// Both sides receive `what` (`audioBytes`, `framesDecoded`) through
/// `turn_addr`: the selected pair's local relay candidate is on it, and the
/// count rises after that. When, after `since` (the later side), or the
/// failure with the last stats.
async fn media_through(
    visitor: &Client,
    advisor: &Client,
    turn_addr: &str,
    what: &str,
    since: Instant,
    within: Duration,
) -> Result<Duration, String> {
    let mut on_it: [Option<f64>; 2] = [None, None];
    let mut done: [Option<Duration>; 2] = [None, None];
    loop {
        let mut last = Vec::new();
        for (i, browser) in [visitor, advisor].into_iter().enumerate() {
            let now = stats(browser).await;
            if done[i].is_none() && now["relayUrl"].as_str().unwrap_or("").contains(turn_addr) {
                let count = now[what].as_f64().unwrap_or(0.0);
                match on_it[i] {
                    None => on_it[i] = Some(count),
                    Some(first) if count > first => done[i] = Some(since.elapsed()),
                    Some(_) => {}
                }
            }
            last.push(now);
        }
        if let [Some(a), Some(b)] = done {
            return Ok(a.max(b));
        }
        if since.elapsed() > within {
            return Err(format!(
                "no {what} through {turn_addr} after {:?}: visitor {}, advisor {}",
                since.elapsed(),
                last[0],
                last[1]
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn restart_reasons(browser: &Client) -> Value {
    run(
        browser,
        "const c = window.livecard.calls.filter(c => c.pc).pop(); return c ? c.restartReasons : null;",
    )
    .await
}

/// Failover, relay-only, with media nodes in their own processes: a video
/// call relays through node A; A is stopped (SIGTERM, a drain) and the
/// call moves to node B before A's drain deadline, told by the signaling
/// server, without a stall (A still relayed); then B is killed (SIGKILL)
/// and the call's media flows through node C within the goal (the clients
/// saw the media stall and restarted ICE without B). Events record both
/// restarts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_moves_to_another_media_node_when_its_node_dies_or_drains() {
    let _serial = SERIAL.lock().await;
    let dir = support::temp_dir("e2e-failover");
    let server = Livecard::start_in(dir.to_path_buf(), &["--relay-only", "--no-media-node"]);
    let node_a = server.media_node("node-a", "20s");
    let (_driver, visitor, advisor) = connected_video_call(&server).await;
    let started = Instant::now();
    media_through(
        &visitor,
        &advisor,
        &node_a.turn_addr,
        "framesDecoded",
        started,
        Duration::from_secs(20),
    )
    .await
    .expect("the call relays through node A");

    // Node B joins; node A drains (SIGTERM): the server tells both sides,
    // and the call moves before the deadline, with no stall on the way.
    let node_b = server.media_node("node-b", "20s");
    tokio::time::sleep(Duration::from_millis(500)).await; // its first heartbeat
    node_a.signal("-TERM");
    let drained = Instant::now();
    let took = media_through(
        &visitor,
        &advisor,
        &node_b.turn_addr,
        "framesDecoded",
        drained,
        FAILOVER_GOAL,
    )
    .await
    .expect("video through node B after node A began to drain");
    eprintln!("move on drain: {took:?}");
    assert_eq!(
        restart_reasons(&visitor).await,
        json!(["drain"]),
        "the drain moved the call (a stall would mean A stopped relaying first)"
    );

    // Node C joins; node B dies.
    let node_c = server.media_node("node-c", "20s");
    tokio::time::sleep(Duration::from_millis(500)).await;
    node_b.signal("-KILL");
    let killed = Instant::now();
    let took = media_through(
        &visitor,
        &advisor,
        &node_c.turn_addr,
        "audioBytes",
        killed,
        FAILOVER_GOAL,
    )
    .await
    .expect("media through node C within the goal after node B was killed");
    // Video follows once Chromium's bandwidth estimate, collapsed by the
    // outage, lets the next key frame through (docs/benchmarks.md).
    let video = media_through(
        &visitor,
        &advisor,
        &node_c.turn_addr,
        "framesDecoded",
        killed,
        VIDEO_BACK,
    )
    .await
    .expect("video through node C after node B was killed");
    eprintln!("failover after SIGKILL: audio {took:?}, video {video:?}");
    // The visitor offers: after the drain, it restarted because the media
    // stopped (or ICE failed), not for any other reason.
    let reasons = restart_reasons(&visitor).await;
    assert!(
        reasons.as_array().is_some_and(
            |r| r.len() >= 2 && r.iter().skip(1).all(|x| x == "stalled" || x == "failed")
        ),
        "visitor's restarts: {reasons}"
    );
    drop(node_a);

    // The events say why each restart happened.
    let key = std::fs::read_to_string(server.data_dir.join("admin.key")).expect("admin key");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let events = http_get(
            &format!("{}/api/v1/events?limit=100", server.url),
            key.trim(),
        );
        let body = events.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        let restarts: Vec<String> = serde_json::from_str::<Value>(body)
            .ok()
            .and_then(|v| v["events"].as_array().cloned())
            .unwrap_or_default()
            .iter()
            .filter(|e| e["name"] == "ice_restart")
            .filter_map(|e| e["props"]["reason"].as_str().map(str::to_owned))
            .collect();
        if restarts.iter().any(|r| r == "drain")
            && restarts.iter().any(|r| r == "stalled" || r == "failed")
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "ice_restart events missing: {restarts:?} in {events}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    drop(node_c);
}

/// A standard TURN server beside livecard: Debian's coturn with
/// `use-auth-secret` and the same secret text as the deployment
/// (`turn_secret = "text:…"`), named in `LIVECARD_TURN_SERVERS`, with no
/// livecard node running. A relay-only video call connects through coturn,
/// on its first ICE attempt, with the credentials livecard's ICE-servers
/// endpoint minted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_only_call_goes_through_coturn_with_livecards_credentials() {
    const SECRET_TEXT: &str = "livecard-and-coturn-share-this-secret-0123456789";
    let _serial = SERIAL.lock().await;
    let dir = support::temp_dir("e2e-coturn");
    // A first start writes the secrets; the deployment then takes coturn's
    // form of the TURN secret.
    // Its links stay good: same signing keys, sign-in links not yet used.
    let first = Livecard::start_in(dir.to_path_buf(), &[]);
    let links = (first.card_links.clone(), first.signin_links.clone());
    let first_url = first.url.clone();
    first.stop();
    let secrets_file = dir.join("secrets.json");
    let mut secrets: Value =
        serde_json::from_str(&std::fs::read_to_string(&secrets_file).expect("secrets"))
            .expect("json");
    secrets["turn_secret"] = json!(format!("text:{SECRET_TEXT}"));
    std::fs::write(&secrets_file, secrets.to_string()).expect("write secrets");

    let port = support::free_port();
    let _coturn = support::KillOnDrop(
        std::process::Command::new("turnserver")
            .args([
                "-n",
                "--listening-ip",
                "127.0.0.1",
                "--relay-ip",
                "127.0.0.1",
            ])
            .args(["--listening-port", &port.to_string()])
            .args([
                "--min-port",
                "51000",
                "--max-port",
                "51999",
                "--realm",
                "livecard",
            ])
            .args(["--use-auth-secret", "--static-auth-secret", SECRET_TEXT])
            .args([
                "--allow-loopback-peers",
                "--no-tls",
                "--no-dtls",
                "--no-cli",
            ])
            .arg("--pidfile")
            .arg(dir.join("turnserver.pid"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run turnserver ({e}): scripts/test.sh installs Debian's coturn")
            }),
    );
    let turn = format!("turn:127.0.0.1:{port}?transport=udp");
    let mut server = Livecard::start_in_with_env(
        dir.to_path_buf(),
        &["--relay-only", "--no-media-node"],
        &[("LIVECARD_TURN_SERVERS", &turn)],
    );
    // On this start's address.
    let moved = |list: Vec<(String, String)>| -> Vec<(String, String)> {
        list.into_iter()
            .map(|(name, link)| (name, link.replace(&first_url, &server.url)))
            .collect()
    };
    (server.card_links, server.signin_links) = (moved(links.0), moved(links.1));
    let (_driver, visitor, advisor) = connected_video_call(&server).await;
    for (browser, who) in [(&visitor, "visitor"), (&advisor, "advisor")] {
        let s = media_rises(browser, who, true).await;
        assert_relayed(&s, who, &port.to_string());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_camera_gets_a_clear_message() {
    let _serial = SERIAL.lock().await;
    let server = Livecard::start("e2e-call-refused");
    let mut driver = Driver::start().await;
    // No fake UI: headless Chromium denies the permission prompt.
    let visitor = driver.browser_with(&["--deny-permission-prompts"]).await;
    let advisor = driver.browser().await;
    sign_in(&advisor, server.signin_link("Clara Weiß")).await;
    visitor
        .goto(&format!("{}?lang=en", server.card_link("Clara Weiß")))
        .await
        .expect("card page");
    wait_until(
        &visitor,
        "document.querySelector('[data-start=\"chat\"]') && !document.querySelector('[data-start=\"chat\"]').disabled",
        "the chat button",
    )
    .await;
    click(&visitor, "[data-start=\"chat\"]").await;
    wait_until(
        &advisor,
        "document.querySelectorAll('#rings .ring').length === 1",
        "a ring",
    )
    .await;
    click(&advisor, "[data-accept]").await;
    wait_until(
        &visitor,
        "document.querySelector('.lcw').dataset.state === 'connected'",
        "connected",
    )
    .await;
    click(&visitor, ".lcw [data-call-start=\"video\"]").await;
    wait_until(
        &visitor,
        "(document.querySelector('.lc-call-status') || {}).textContent && document.querySelector('.lc-call-status').textContent.includes('did not allow the camera or microphone')",
        "the refusal is explained",
    )
    .await;
    // The chat goes on; nothing was sent to the advisor as a call.
    wait_until(&advisor, "!document.querySelector('.chat .lc-call') || document.querySelector('.chat .lc-call').hidden", "no call on the console").await;
}

/// Presence end to end, through the connectors `livecard up` runs: Ben is
/// available in his console; his desk phone (extension 300 at a Kamailio
/// started here) takes a call and the portal's API turns his audio and
/// video busy (chat stays available) until the BYE; then a visitor's video
/// call in Chromium makes livecard set his Teams presence to Busy/InACall
/// on the loopback Microsoft Graph, and the hang-up clears it.
#[cfg(feature = "testkit")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_call_turns_the_portal_busy_and_a_video_call_sets_teams_in_a_call() {
    use livecard_local::testkit::{graph, kamailio};
    let _serial = SERIAL.lock().await;
    let pbx = kamailio::Kamailio::start("e2e-presence");
    let (graph_url, graph) = graph::fake_graph().await;
    let dir = support::temp_dir("e2e-presence");
    let sip_server = format!("127.0.0.1:{}", pbx.port);
    let login_url = format!("{graph_url}/login");
    let graph_api = format!("{graph_url}/v1.0");
    let server = Livecard::start_in_with_env(
        dir.to_path_buf(),
        &["--relay-only", "--turn-addr", "127.0.0.1:0"],
        &[
            ("LIVECARD_SIP_SERVER", &sip_server),
            ("LIVECARD_SIP_DOMAIN", "127.0.0.1"),
            ("LIVECARD_TEAMS_TENANT", graph::TENANT),
            ("LIVECARD_TEAMS_CLIENT_ID", graph::CLIENT),
            ("LIVECARD_TEAMS_CLIENT_SECRET", graph::SECRET),
            ("LIVECARD_TEAMS_POLL", "5s"),
            ("LIVECARD_TEAMS_LOGIN_URL", &login_url),
            ("LIVECARD_TEAMS_GRAPH_URL", &graph_api),
        ],
    );
    // An admin links Ben to his desk phone and his Teams account.
    server
        .cli(&[
            "advisor",
            "add",
            "--id",
            "ben-okafor",
            "--name",
            "Ben Okafor",
            "--title",
            "Sales advisor",
            "--languages",
            "en",
            "--topics",
            "sales",
            "--capacity",
            "2",
            "--sip",
            "300",
            "--teams",
            "ben@contoso.example",
        ])
        .expect("advisor linked");
    let portal = format!("{}/api/v1/advisors/ben-okafor", server.url);
    let shown = async || -> Value {
        reqwest::get(&portal)
            .await
            .expect("portal API")
            .json::<Value>()
            .await
            .expect("JSON")["presence"]
            .clone()
    };
    let until_shown = async |what: &str, expected: Value| {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let presence = shown().await;
            if presence == expected {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: the portal shows {presence}\n{}",
                pbx.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };

    let mut driver = Driver::start().await;
    let advisor = driver.browser().await;
    sign_in(&advisor, server.signin_link("Ben Okafor")).await;
    let free = json!({"chat": "available", "audio": "available", "video": "available"});
    until_shown("Ben's console is open", free.clone()).await;

    // Ben's desk phone rings and he talks for four seconds.
    let _phone = kamailio::phone(&pbx, "300");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let _caller = kamailio::call(&pbx, "300", 4000);
    until_shown(
        "on the phone",
        json!({"chat": "available", "audio": "busy", "video": "busy"}),
    )
    .await;
    until_shown("free after the BYE", free.clone()).await;
    assert!(
        graph.lock().expect("graph").sessions.is_empty(),
        "a phone call is not livecard's to tell Teams"
    );

    // A visitor's video call from Ben's card: Teams hears of it.
    let visitor = driver.browser().await;
    video_call_accepted(&server, &visitor, &advisor).await;
    wait_connected(&visitor, "visitor").await;
    media_rises(&visitor, "visitor", true).await;
    let sessions = |action: &'static str| {
        let graph = graph.clone();
        move || {
            graph
                .lock()
                .expect("graph")
                .sessions
                .iter()
                .filter(|(u, a, _)| u == graph::BEN && a == action)
                .map(|(_, _, body)| body.clone())
                .collect::<Vec<Value>>()
        }
    };
    let sets = sessions("setPresence");
    let deadline = Instant::now() + Duration::from_secs(15);
    while sets().is_empty() {
        assert!(Instant::now() < deadline, "no setPresence for Ben");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let set = &sets()[0];
    assert_eq!(
        (&set["availability"], &set["activity"]),
        (&json!("Busy"), &json!("InACall"))
    );
    assert_eq!(
        shown().await,
        json!({"chat": "available", "audio": "busy", "video": "busy"}),
        "in a livecard call"
    );

    // Ben hangs up: the session is cleared.
    click(&advisor, ".chat [data-hangup]").await;
    let clears = sessions("clearPresence");
    let deadline = Instant::now() + Duration::from_secs(15);
    while clears().is_empty() {
        assert!(Instant::now() < deadline, "no clearPresence for Ben");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(sets().len(), 1, "one session for one call");
    until_shown("free after the call", free).await;
}

/// A real click (user activation: browsers allow screen capture only in
/// answer to one).
async fn press(browser: &Client, selector: &str) {
    browser
        .find(fantoccini::Locator::Css(selector))
        .await
        .unwrap_or_else(|e| panic!("{selector}: {e}"))
        .click()
        .await
        .unwrap_or_else(|e| panic!("click {selector}: {e}"));
}

/// The screen this side receives: the screen element shows decoded frames
/// (its size is known) and the inbound video's frames decoded rise.
async fn screen_arrives(browser: &Client, who: &str) {
    wait_until(
        browser,
        "(() => { const c = window.livecard.calls.filter(c => c.pc).pop(); return c && c.sharing === 'theirs' && !c.screenElement.hidden && c.screenElement.videoWidth > 0; })()",
        &format!("{who}: the shared screen shows"),
    )
    .await;
    let first = stats(browser).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = stats(browser).await;
        if now["framesDecoded"].as_f64() > first["framesDecoded"].as_f64() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{who}: the screen's frames did not rise: {first} -> {now}"
        );
    }
}

/// Screen sharing both ways, relay-only: the advisor shares a screen from a
/// chat (a call without camera starts with it), the visitor sees it as a
/// new video track with frames decoded and stops it; then the advisor asks,
/// the visitor agrees and shares, and the advisor sees it. Each share is
/// recorded with its duration.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn screens_are_shared_either_way_and_stopped_by_either_side() {
    let _serial = SERIAL.lock().await;
    let dir = support::temp_dir("e2e-share");
    let server = Livecard::start_in(
        dir.to_path_buf(),
        &["--relay-only", "--turn-addr", "127.0.0.1:0"],
    );
    let mut driver = Driver::start().await;
    // The fake capture device stands in for a screen; the fake UI picks it.
    let visitor = driver.browser().await;
    let advisor = driver.browser().await;
    sign_in(&advisor, server.signin_link("Ben Okafor")).await;
    chat_with_ben(&server, &visitor, &advisor).await;
    wait_until(
        &advisor,
        "document.querySelector('.chat[data-state=\"connected\"] [data-share-start]') && !document.querySelector('.chat[data-state=\"connected\"]').hidden",
        "the conversation is open",
    )
    .await;

    // The advisor shares from a chat: an audio call starts with the screen.
    press(&advisor, ".chat:not([hidden]) [data-share-start]").await;
    wait_connected(&visitor, "visitor").await;
    wait_connected(&advisor, "advisor").await;
    screen_arrives(&visitor, "visitor").await;
    assert_first_attempt(&visitor, "visitor").await;
    assert_eq!(
        run(
            &advisor,
            "return window.livecard.calls.filter(c => c.pc).pop().sharing;"
        )
        .await,
        "mine"
    );
    // The visitor stops it: gone on both sides, the call goes on.
    click(&visitor, "[data-share-stop]").await;
    wait_until(
        &advisor,
        "window.livecard.calls.filter(c => c.pc).pop().sharing === null",
        "the advisor's share stopped",
    )
    .await;
    wait_until(
        &visitor,
        "(() => { const c = window.livecard.calls.filter(c => c.pc).pop(); return c.sharing === null && c.screenElement.hidden; })()",
        "the visitor no longer shows it",
    )
    .await;

    // The advisor asks to see the visitor's screen; the visitor is told
    // what happens and agrees.
    run(
        &advisor,
        "document.querySelector('.chat:not([hidden]) details.more').open = true; return true;",
    )
    .await;
    press(&advisor, ".chat:not([hidden]) [data-share-ask]").await;
    wait_until(
        &visitor,
        "document.querySelector('[data-share-accept]') !== null && document.querySelector('.lcw-ask').textContent.includes('asks you to share your screen')",
        "the visitor is asked",
    )
    .await;
    let violations = support::axe_violations(&visitor).await;
    assert!(violations.is_empty(), "axe on the ask: {violations:#?}");
    press(&visitor, "[data-share-accept]").await;
    screen_arrives(&advisor, "advisor").await;
    assert_eq!(
        run(
            &visitor,
            "return window.livecard.calls.filter(c => c.pc).pop().sharing;"
        )
        .await,
        "mine"
    );
    for (browser, who) in [(&visitor, "visitor"), (&advisor, "advisor")] {
        let restarts = run(
            browser,
            "return window.livecard.calls.filter(c => c.pc).pop().restarts;",
        )
        .await;
        assert_eq!(restarts, 0, "{who}: no ICE restart rescued the call");
    }
    // The advisor stops it.
    click(&advisor, ".chat:not([hidden]) [data-share-stop]").await;
    wait_until(
        &visitor,
        "window.livecard.calls.filter(c => c.pc).pop().sharing === null",
        "the visitor's share stopped",
    )
    .await;

    // Both shares were recorded, with their durations.
    let key = std::fs::read_to_string(server.data_dir.join("admin.key")).expect("admin key");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let events = http_get(
            &format!("{}/api/v1/events?limit=100", server.url),
            key.trim(),
        );
        let count = |name: &str| events.matches(&format!("\"name\":\"{name}\"")).count();
        if count("screen_share_started") == 2 && count("screen_share_ended") == 2 {
            assert!(events.contains("\"stopped_by\":\"visitor\""), "{events}");
            assert!(events.contains("\"stopped_by\":\"advisor\""), "{events}");
            break;
        }
        assert!(Instant::now() < deadline, "share events missing: {events}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    drop(driver);
    server.stop();
}

/// The data link's selected pair, as getStats tells it.
const LINK_PATH: &str = r#"
const done = arguments[arguments.length - 1];
const link = (window.livecard.links || []).filter(l => l.pc).pop();
if (!link) { done(null); return; }
link.pc.getStats().then(stats => {
  let pair = null;
  stats.forEach(s => { if (s.type === 'transport' && s.selectedCandidatePairId) pair = stats.get(s.selectedCandidatePairId); });
  const local = pair && stats.get(pair.localCandidateId), remote = pair && stats.get(pair.remoteCandidateId);
  done({ local: local && local.candidateType, remote: remote && remote.candidateType, relayUrl: local && local.url });
}, e => done({ error: String(e) }));
"#;

/// A file of `len` pseudo-random bytes (the same every run).
fn random_file(dir: &std::path::Path, name: &str, len: usize) -> (std::path::PathBuf, String) {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let bytes: Vec<u8> = (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect();
    let path = dir.join(name);
    std::fs::write(&path, &bytes).expect("test file");
    (path, livecard_core::encoding::sha256_hex(&bytes))
}

/// Picks a file in a page's file input, as a user would.
async fn pick_file(browser: &Client, input: &str, path: &std::path::Path) {
    browser
        .find(fantoccini::Locator::Css(input))
        .await
        .unwrap_or_else(|e| panic!("{input}: {e}"))
        .send_keys(&path.to_string_lossy())
        .await
        .unwrap_or_else(|e| panic!("pick {}: {e}", path.display()));
}

/// The transfer of `name` on this side once it is `state`, with the
/// checksums each side computed.
async fn transfer(browser: &Client, name: &str, state: &str, who: &str) -> Value {
    let script = format!(
        "return (window.livecard.links || []).map(l => Object.values(l.transfers)).flat().filter(t => t.name === {name:?}).map(t => ({{ state: t.state, size: t.size, sha256: t.sha256, received: t.received || null }}));"
    );
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let found = run(browser, &script).await;
        if let Some(t) = found.as_array().and_then(|a| a.last())
            && t["state"] == state
        {
            return t.clone();
        }
        if Instant::now() >= deadline {
            let all = run(
                browser,
                "return (window.livecard.links || []).map(l => Object.values(l.transfers)).flat().map(t => [t.name, t.state]);",
            )
            .await;
            panic!("{who}: {name} did not reach {state}: {found}; all transfers: {all}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Files peer to peer, relay-only: a 5 MB file each way in a chat (no
/// call), the checksum the receiver computed equal to the file's; a file
/// over the deployment's limit refused before a byte goes; a transfer
/// cancelled by its sender stops on both sides. The events count files and
/// bytes, never names.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_go_peer_to_peer_through_the_relay_checked_limited_and_cancellable() {
    let _serial = SERIAL.lock().await;
    let dir = support::temp_dir("e2e-files");
    let server = Livecard::start_in_with_env(
        dir.join("data"),
        &["--relay-only", "--turn-addr", "127.0.0.1:0"],
        &[("LIVECARD_FILE_MAX_MB", "6")],
    );
    let turn_addr = server.turn_addr.clone().expect("the media node");
    let turn_port = turn_addr.rsplit(':').next().expect("port").to_owned();
    let (offer, offer_sum) = random_file(&dir, "offer.pdf", 5_000_000);
    let (scan, scan_sum) = random_file(&dir, "scan.png", 5_000_000);
    let (huge, _) = random_file(&dir, "huge.pdf", 7_000_000);
    let mut driver = Driver::start().await;
    let visitor = driver.browser().await;
    let advisor = driver.browser().await;
    sign_in(&advisor, server.signin_link("Ben Okafor")).await;
    chat_with_ben(&server, &visitor, &advisor).await;

    // The advisor sends a 5 MB file from the chat; the visitor receives it
    // and its checksum matches.
    pick_file(&advisor, ".chat:not([hidden]) [data-file-input]", &offer).await;
    let received = transfer(&visitor, "offer.pdf", "received", "visitor").await;
    assert_eq!(received["received"], offer_sum.as_str(), "{received}");
    let sent = transfer(&advisor, "offer.pdf", "sent", "advisor").await;
    assert_eq!(sent["sha256"], offer_sum.as_str(), "{sent}");
    for (browser, who) in [(&visitor, "visitor"), (&advisor, "advisor")] {
        let path = browser
            .execute_async(LINK_PATH, vec![])
            .await
            .expect("link stats");
        assert_relayed(&path, &format!("{who} (data link)"), &turn_port);
    }
    assert!(
        run(
            &visitor,
            "return document.querySelector('[data-file-save]') !== null;"
        )
        .await
            == Value::Bool(true),
        "the visitor can save it"
    );

    // The visitor sends one back the same way.
    pick_file(&visitor, ".lcw [data-file-input]", &scan).await;
    let received = transfer(&advisor, "scan.png", "received", "advisor").await;
    assert_eq!(received["received"], scan_sum.as_str(), "{received}");
    transfer(&visitor, "scan.png", "sent", "visitor").await;

    // Over the limit: refused before a byte goes, with the reason.
    let before = run(
        &visitor,
        "return Object.keys(window.livecard.links[0].transfers).length;",
    )
    .await;
    pick_file(&visitor, ".lcw [data-file-input]", &huge).await;
    wait_until(
        &visitor,
        "Array.from(document.querySelectorAll('.lcw-file[data-state=\"refused\"]')).some(e => e.textContent.includes('larger than 6 MB'))",
        "the file over the limit is refused",
    )
    .await;
    assert_eq!(
        run(
            &visitor,
            "return Object.keys(window.livecard.links[0].transfers).length;"
        )
        .await,
        before,
        "no transfer for it"
    );
    assert_eq!(
        run(&advisor, "return Object.values(window.livecard.links[0].transfers).some(t => t.name === 'huge.pdf');").await,
        Value::Bool(false),
        "the advisor never heard of it"
    );

    // A transfer its sender cancels stops on both sides.
    run(&advisor, "const l = window.livecard.links.filter(l => l.pc).pop(); l.send(new File([new Uint8Array(5000000)], 'later.pdf')).then(t => document.querySelector('[data-file-cancel=\"' + t.id + '\"]').click()); return true;").await;
    transfer(&advisor, "later.pdf", "cancelled", "advisor").await;
    transfer(&visitor, "later.pdf", "cancelled", "visitor").await;

    // A hostile name is text: no markup, no path; a missing one is "file".
    run(&advisor, "const l = window.livecard.links.filter(l => l.pc).pop(); l.send(new File([new Uint8Array(1000)], 'x'), '<img src=x onerror=\"window.__pwned=1\">/../..\\\\evil.pdf'); return true;").await;
    let hostile = transfer(
        &visitor,
        "_img src=x onerror=_window.__pwned=1___.._.._evil.pdf",
        "received",
        "visitor",
    )
    .await;
    assert_eq!(hostile["size"], 1000);
    assert_eq!(
        run(
            &visitor,
            "return window.__pwned === 1 || document.querySelector('.lcw-log img') !== null;"
        )
        .await,
        Value::Bool(false),
        "a file name never becomes markup"
    );
    assert_eq!(
        run(&visitor, "return [window.LivecardLink.safeName(undefined), window.LivecardLink.safeName('...hidden.pdf'), window.LivecardLink.safeName('a\\u0000b/c.pdf')];").await,
        json!(["file", "hidden.pdf", "a_b_c.pdf"])
    );

    // Events: two files, their bytes, never a name.
    let key = std::fs::read_to_string(server.data_dir.join("admin.key")).expect("admin key");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let events = http_get(
            &format!("{}/api/v1/events?limit=100", server.url),
            key.trim(),
        );
        if events.matches("\"name\":\"file_sent\"").count() == 3 {
            assert_eq!(events.matches("\"bytes\":5000000").count(), 2, "{events}");
            for name in ["offer", "scan", "huge", "later", "evil"] {
                assert!(!events.contains(name), "no file name in events: {events}");
            }
            break;
        }
        assert!(Instant::now() < deadline, "file events missing: {events}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    drop(driver);
    server.stop();
}

/// A chat from Ben's card, accepted; both pages are ready.
async fn chat_with_ben(server: &Livecard, visitor: &Client, advisor: &Client) {
    visitor
        .goto(&format!("{}?lang=en", server.card_link("Ben Okafor")))
        .await
        .expect("card page");
    wait_until(
        visitor,
        "document.querySelector('[data-start=\"chat\"]') && !document.querySelector('[data-start=\"chat\"]').disabled",
        "the chat button",
    )
    .await;
    click(visitor, "[data-start=\"chat\"]").await;
    wait_until(
        advisor,
        "document.querySelectorAll('#rings .ring').length === 1",
        "a ring",
    )
    .await;
    click(advisor, "[data-accept]").await;
    wait_until(
        visitor,
        "document.querySelector('.lcw').dataset.state === 'connected'",
        "connected",
    )
    .await;
}

/// The visitor consents to an identity check; their camera shows. Returns
/// its frame size.
async fn consent_with_camera(visitor: &Client) -> Value {
    click(visitor, "[data-id-consent]").await;
    wait_until(
        visitor,
        "document.querySelector('.lcw-id-video') && document.querySelector('.lcw-id-video').videoWidth > 0 && !document.querySelector('[data-id-capture=\"document\"]').disabled",
        "the camera shows",
    )
    .await;
    run(
        visitor,
        "const s = document.querySelector('.lcw-id-video').srcObject.getVideoTracks()[0].getSettings(); return [s.width, s.height];",
    )
    .await
}

/// The identity check, relay-only: asked with a face photo, consented, the
/// advisor receives stills at the visitor camera's own size and verifies
/// with a note; asked again and refused; asked again and aborted. No image
/// reaches the server: the session's data holds the steps and the note.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_identity_check_sends_stills_to_the_advisor_only() {
    let _serial = SERIAL.lock().await;
    let dir = support::temp_dir("e2e-identity");
    let server = Livecard::start_in(
        dir.to_path_buf(),
        &["--relay-only", "--turn-addr", "127.0.0.1:0"],
    );
    let mut driver = Driver::start().await;
    let visitor = driver.browser().await;
    let advisor = driver.browser().await;
    sign_in(&advisor, server.signin_link("Ben Okafor")).await;
    chat_with_ben(&server, &visitor, &advisor).await;
    let session = run(&visitor, "return window.livecard.instances[0].session;")
        .await
        .as_str()
        .expect("session")
        .to_owned();

    // Ben asks, with a face photo; the visitor is told what happens.
    run(&advisor, "document.querySelector('.chat:not([hidden]) [data-id-face]').checked = true; document.querySelector('.chat:not([hidden]) [data-id-ask]').click(); return true;").await;
    wait_until(
        &visitor,
        "document.querySelector('[data-id-consent]') !== null && document.querySelector('.lcw-identity').textContent.includes('livecard does not keep it')",
        "the visitor is asked",
    )
    .await;
    let violations = support::axe_violations(&visitor).await;
    assert!(violations.is_empty(), "axe on the ask: {violations:#?}");
    let size = consent_with_camera(&visitor).await;
    click(&visitor, "[data-id-capture=\"document\"]").await;
    click(&visitor, "[data-id-capture=\"face\"]").await;
    wait_until(
        &advisor,
        "document.querySelectorAll('.chat:not([hidden]) .id-panel img[data-id-photo]').length === 2 && Array.from(document.querySelectorAll('.id-panel img')).every(i => i.naturalWidth > 0)",
        "both photos arrive",
    )
    .await;
    let got = run(
        &advisor,
        "return Array.from(document.querySelectorAll('.id-panel img')).map(i => [i.naturalWidth, i.naturalHeight]);",
    )
    .await;
    assert_eq!(
        got,
        json!([size.clone(), size.clone()]),
        "stills at the camera's size"
    );
    let violations = support::axe_violations(&advisor).await;
    assert!(
        violations.is_empty(),
        "axe on the console with photos: {violations:#?}"
    );
    // Ben verifies with a note; the photos go, the visitor is told.
    run(&advisor, "document.querySelector('.chat:not([hidden]) [data-id-note]').value = 'ID card checked, valid until 2031'; document.querySelector('.chat:not([hidden]) [data-id-outcome=\"verified\"]').click(); return true;").await;
    wait_until(
        &visitor,
        "document.querySelector('.lcw-identity').textContent === 'Your identity was confirmed.' && !document.querySelector('.lcw-id-video')",
        "the visitor learns the outcome, the camera is off",
    )
    .await;
    wait_until(
        &advisor,
        "document.querySelectorAll('.id-panel img').length === 0 && document.querySelector('.chat:not([hidden]) .id-status').textContent === 'Identity verified.'",
        "the console keeps no photo",
    )
    .await;

    // Asked again: the visitor declines.
    click(&advisor, ".chat:not([hidden]) [data-id-ask]").await;
    wait_until(
        &visitor,
        "document.querySelector('[data-id-decline]') !== null",
        "asked again",
    )
    .await;
    click(&visitor, "[data-id-decline]").await;
    wait_until(
        &advisor,
        "document.querySelector('.chat:not([hidden]) .id-status').textContent === 'The visitor declined the identity check.'",
        "declined",
    )
    .await;
    // Asked again: Ben aborts before the visitor answers.
    click(&advisor, ".chat:not([hidden]) [data-id-ask]").await;
    wait_until(
        &visitor,
        "document.querySelector('[data-id-consent]') !== null",
        "asked a third time",
    )
    .await;
    click(
        &advisor,
        ".chat:not([hidden]) [data-id-outcome=\"aborted\"]",
    )
    .await;
    wait_until(
        &visitor,
        "document.querySelector('.lcw-identity').textContent === 'The identity check was stopped.'",
        "aborted",
    )
    .await;

    // The server has the steps, never an image: the session's data (an
    // admin's access export) holds the outcome and the note, and is small.
    let key = std::fs::read_to_string(server.data_dir.join("admin.key")).expect("admin key");
    let export = http_get(
        &format!("{}/api/v1/privacy?session={session}", server.url),
        key.trim(),
    );
    assert!(
        export.contains("ID card checked, valid until 2031"),
        "{export}"
    );
    assert!(
        export.len() < 20_000,
        "no image in the session's data: {} bytes",
        export.len()
    );
    for marker in ["data:image", "/9j/", "JFIF"] {
        assert!(!export.contains(marker), "no image data: {export}");
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let events = http_get(
            &format!("{}/api/v1/events?limit=100", server.url),
            key.trim(),
        );
        if events.matches("\"name\":\"identity_check\"").count() == 3 {
            for outcome in ["verified", "declined", "aborted"] {
                assert!(
                    events.contains(&format!("\"outcome\":\"{outcome}\"")),
                    "{events}"
                );
            }
            assert!(
                !events.contains("ID card checked"),
                "no note in events: {events}"
            );
            assert!(
                !events.contains("file_sent"),
                "identity photos are not files: {events}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "identity events missing: {events}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    drop(driver);
    server.stop();
}

/// Hands the open conversation over from the console, as an advisor does.
async fn hand_over(advisor: &Client, to: &str, note: &str) {
    click(advisor, ".chat:not([hidden]) [data-transfer-open]").await;
    wait_until(
        advisor,
        &format!("Array.from(document.querySelectorAll('.chat:not([hidden]) [data-transfer-to] option')).some(o => o.value === 'advisor:{to}')"),
        "the colleagues are listed",
    )
    .await;
    advisor
        .execute(
            "const f = document.querySelector('.chat:not([hidden]) form.handover'); f.elements.to.value = 'advisor:' + arguments[0]; f.elements.note.value = arguments[1]; f.requestSubmit(); return true;",
            vec![json!(to), json!(note)],
        )
        .await
        .expect("hand over");
}

/// Hand-over in three browsers, relay-only: Ben hands a chat over to Clara
/// (she gets the whole transcript and his note; the visitor sees who took
/// over); Clara starts a video call and hands it back to Ben mid-call: the
/// visitor's call goes on with Ben, set up anew on its first ICE attempt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conversation_is_handed_over_mid_chat_and_mid_call() {
    let _serial = SERIAL.lock().await;
    let dir = support::temp_dir("e2e-handover");
    let server = Livecard::start_in(
        dir.to_path_buf(),
        &["--relay-only", "--turn-addr", "127.0.0.1:0"],
    );
    let mut driver = Driver::start().await;
    let visitor = driver.browser().await;
    let ben = driver.browser().await;
    let clara = driver.browser().await;
    sign_in(&ben, server.signin_link("Ben Okafor")).await;
    sign_in(&clara, server.signin_link("Clara Weiß")).await;
    chat_with_ben(&server, &visitor, &ben).await;
    run(&visitor, "const f = document.querySelector('.lcw-form'); f.querySelector('textarea').value = 'My invoice is wrong'; f.requestSubmit(); return true;").await;
    wait_until(
        &ben,
        "Array.from(document.querySelectorAll('.chat .lcw-text')).some(e => e.textContent === 'My invoice is wrong')",
        "Ben reads it",
    )
    .await;

    // Mid-chat: Ben hands over to Clara with a note.
    hand_over(&ben, "clara-weiss", "Invoice 4711, please check the VAT").await;
    wait_until(
        &visitor,
        "Array.from(document.querySelectorAll('.lcw-system')).some(e => e.textContent === 'Clara Weiß has taken over the conversation.')",
        "the visitor sees who took over",
    )
    .await;
    wait_until(
        &clara,
        "Array.from(document.querySelectorAll('.chat .lcw-text')).some(e => e.textContent === 'My invoice is wrong') && document.querySelector('#context [data-handover]') && document.querySelector('#context [data-handover]').textContent.includes('Invoice 4711, please check the VAT')",
        "Clara has the transcript and the note",
    )
    .await;
    wait_until(
        &ben,
        "document.querySelector('.chat[data-state=\"handed_over\"]') !== null && document.querySelector('.chat[data-state=\"handed_over\"] .chat-state').textContent === 'Handed over to Clara Weiß.'",
        "Ben's console lets it go",
    )
    .await;
    let violations = support::axe_violations(&clara).await;
    assert!(
        violations.is_empty(),
        "axe on the handed-over console: {violations:#?}"
    );
    run(&clara, "const f = document.querySelector('.chat:not([hidden]) .lcw-form'); f.querySelector('textarea').value = 'Clara here, I am on it'; f.requestSubmit(); return true;").await;
    wait_until(
        &visitor,
        "Array.from(document.querySelectorAll('.lcw-text')).some(e => e.textContent === 'Clara here, I am on it')",
        "the visitor chats with Clara",
    )
    .await;

    // Mid-call: Clara starts a video call, then hands it back to Ben.
    click(&clara, ".chat:not([hidden]) [data-call-start=\"video\"]").await;
    wait_connected(&visitor, "visitor (Clara's call)").await;
    wait_connected(&clara, "Clara").await;
    media_rises(&visitor, "visitor (Clara's call)", true).await;
    hand_over(&clara, "ben-okafor", "Back to you for the contract").await;
    wait_until(
        &clara,
        "document.querySelector('.chat[data-state=\"handed_over\"]') !== null && window.livecard.calls.every(c => !c.pc)",
        "Clara's call ends on her side",
    )
    .await;
    wait_connected(&ben, "Ben (the handed-over call)").await;
    wait_connected(&visitor, "visitor (Ben's call)").await;
    media_rises(&ben, "Ben", true).await;
    media_rises(&visitor, "visitor (Ben's call)", true).await;
    assert_first_attempt(&ben, "Ben").await;
    assert_first_attempt(&visitor, "visitor").await;
    let violations = support::axe_violations(&visitor).await;
    assert!(
        violations.is_empty(),
        "axe on the visitor after hand-overs: {violations:#?}"
    );
    drop(driver);
    server.stop();
}

/// The texts of the chat log's messages as `who: text`, in a console's
/// open conversation or on the visitor's page.
const LOG_LINES: &str = "return Array.from(document.querySelectorAll(arguments[0] + ' .lcw-msg')).map(li => li.querySelector('.lcw-who').textContent + ': ' + li.querySelector('.lcw-text').textContent);";

async fn say_in_console(advisor: &Client, text: &str) {
    advisor
        .execute(
            "const f = document.querySelector('.chat:not([hidden]) .lcw-form'); f.querySelector('textarea').value = arguments[0]; f.requestSubmit(); return true;",
            vec![json!(text)],
        )
        .await
        .expect("say");
}

async fn wait_line(browser: &Client, scope: &str, line: &str, what: &str) {
    let script = format!(
        "Array.from(document.querySelectorAll({scope:?} + ' .lcw-msg')).some(li => li.querySelector('.lcw-who').textContent + ': ' + li.querySelector('.lcw-text').textContent === {line:?})"
    );
    wait_until(browser, &script, what).await;
}

/// A three-person chat in three browsers: Ben invites Clara into his chat
/// with a visitor; she gets the transcript, the three write and each sees
/// who wrote what; Clara, a guest, has no call or hand-over buttons; she
/// leaves and the chat goes on for two, everyone told.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_colleague_is_invited_into_the_chat_and_leaves_again() {
    let _serial = SERIAL.lock().await;
    let server = Livecard::start("e2e-guest");
    let mut driver = Driver::start().await;
    let visitor = driver.browser().await;
    let ben = driver.browser().await;
    let clara = driver.browser().await;
    sign_in(&ben, server.signin_link("Ben Okafor")).await;
    sign_in(&clara, server.signin_link("Clara Weiß")).await;
    chat_with_ben(&server, &visitor, &ben).await;
    run(&visitor, "const f = document.querySelector('.lcw-form'); f.querySelector('textarea').value = 'Can someone explain the VAT?'; f.requestSubmit(); return true;").await;
    wait_line(
        &ben,
        ".chat:not([hidden])",
        "Visitor: Can someone explain the VAT?",
        "Ben reads it",
    )
    .await;

    // Ben invites Clara from the "More" menu.
    click(&ben, ".chat:not([hidden]) [data-invite-open]").await;
    wait_until(
        &ben,
        "Array.from(document.querySelectorAll('.chat:not([hidden]) [data-invite-to] option')).some(o => o.value === 'advisor:clara-weiss') && !Array.from(document.querySelectorAll('.chat:not([hidden]) [data-invite-to] option')).some(o => o.value.startsWith('topic:'))",
        "colleagues to invite (people, not topics)",
    )
    .await;
    run(&ben, "const f = document.querySelector('.chat:not([hidden]) form.invite'); f.elements.to.value = 'advisor:clara-weiss'; f.requestSubmit(); return true;").await;
    wait_until(
        &visitor,
        "Array.from(document.querySelectorAll('.lcw-system')).some(e => e.textContent === 'Clara Weiß has joined the conversation.')",
        "the visitor is told who joined",
    )
    .await;
    wait_line(
        &clara,
        ".chat:not([hidden])",
        "Visitor: Can someone explain the VAT?",
        "Clara gets the transcript",
    )
    .await;
    wait_until(
        &clara,
        "(() => { const c = document.querySelector('.chat:not([hidden])'); return c !== null && c.dataset.role === 'guest' && c.querySelector('.chat-state').textContent === 'You are a guest; Ben Okafor has the conversation.' && c.querySelector('.lcw-choices').hidden && !c.querySelector('[data-leave]').hidden && c.querySelector('[data-file-send]').hidden; })()",
        "Clara is a guest: she chats, and may leave",
    )
    .await;
    wait_until(
        &ben,
        "document.querySelector('.chat:not([hidden]) .chat-state').textContent === 'Connected · with Clara Weiß (guest)' && Array.from(document.querySelectorAll('.chat:not([hidden]) .lcw-system')).some(e => e.textContent === 'Clara Weiß joined the conversation.')",
        "Ben sees Clara in the chat",
    )
    .await;

    // Three people write; each sees who wrote what.
    say_in_console(&clara, "Clara here, I do the VAT").await;
    say_in_console(&ben, "Clara knows it best").await;
    run(&visitor, "const f = document.querySelector('.lcw-form'); f.querySelector('textarea').value = 'Thank you both'; f.requestSubmit(); return true;").await;
    for line in [
        "Clara Weiß: Clara here, I do the VAT",
        "Ben Okafor: Clara knows it best",
        "You: Thank you both",
    ] {
        wait_line(&visitor, ".lcw", line, "the visitor's log").await;
    }
    for line in [
        "You: Clara here, I do the VAT",
        "Ben Okafor: Clara knows it best",
        "Visitor: Thank you both",
    ] {
        wait_line(&clara, ".chat:not([hidden])", line, "Clara's log").await;
    }
    for line in [
        "Clara Weiß: Clara here, I do the VAT",
        "You: Clara knows it best",
        "Visitor: Thank you both",
    ] {
        wait_line(&ben, ".chat:not([hidden])", line, "Ben's log").await;
    }
    let lines = ben
        .execute(LOG_LINES, vec![json!(".chat:not([hidden])")])
        .await
        .expect("Ben's log");
    assert_eq!(
        lines.as_array().map(Vec::len),
        Some(4),
        "each message once: {lines}"
    );
    let violations = support::axe_violations(&clara).await;
    assert!(
        violations.is_empty(),
        "axe on a guest's console: {violations:#?}"
    );

    // Clara leaves; Ben and the visitor go on.
    click(&clara, ".chat:not([hidden]) [data-leave]").await;
    wait_until(
        &clara,
        "(() => { const c = document.querySelector('.chat[data-state=\"left\"]'); return c !== null && c.querySelector('.chat-state').textContent === 'You left the conversation.' && c.querySelector('.lcw-form').hidden; })()",
        "Clara's console lets it go",
    )
    .await;
    wait_until(
        &visitor,
        "Array.from(document.querySelectorAll('.lcw-system')).some(e => e.textContent === 'Clara Weiß has left the conversation.')",
        "the visitor is told Clara left",
    )
    .await;
    wait_until(
        &ben,
        "document.querySelector('.chat:not([hidden]) .chat-state').textContent === 'Connected' && Array.from(document.querySelectorAll('.chat:not([hidden]) .lcw-system')).some(e => e.textContent === 'Clara Weiß left the conversation.')",
        "Ben is told Clara left",
    )
    .await;
    say_in_console(&ben, "Anything else?").await;
    wait_line(
        &visitor,
        ".lcw",
        "Ben Okafor: Anything else?",
        "the chat goes on",
    )
    .await;
    // Events: who joined and left (the guest is the event's advisor).
    let key = std::fs::read_to_string(server.data_dir.join("admin.key")).expect("admin key");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let events = http_get(
            &format!("{}/api/v1/events?limit=100", server.url),
            key.trim(),
        );
        if events.contains("\"name\":\"guest_joined\"")
            && events.contains("\"name\":\"guest_left\"")
        {
            break;
        }
        assert!(Instant::now() < deadline, "guest events missing: {events}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    drop(driver);
    server.stop();
}

/// A deployment that keeps identity photos (`LIVECARD_RETAIN_IDENTITY_IMAGES`):
/// the visitor is told so before consenting; when Ben verifies, the console
/// sends the still to the server, which keeps it sealed; the conversation's
/// context lists it and it opens at the camera's size for Ben; the visitor's
/// access export names it, and erasure takes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployment_keeps_identity_photos_sealed_when_it_chose_to() {
    let _serial = SERIAL.lock().await;
    let dir = support::temp_dir("e2e-identity-kept");
    let server = Livecard::start_in_with_env(
        dir.to_path_buf(),
        &[],
        &[("LIVECARD_RETAIN_IDENTITY_IMAGES", "30d")],
    );
    let mut driver = Driver::start().await;
    let visitor = driver.browser().await;
    let advisor = driver.browser().await;
    sign_in(&advisor, server.signin_link("Ben Okafor")).await;
    chat_with_ben(&server, &visitor, &advisor).await;
    let session = run(&visitor, "return window.livecard.instances[0].session;")
        .await
        .as_str()
        .expect("session")
        .to_owned();
    click(&advisor, ".chat:not([hidden]) [data-id-ask]").await;
    wait_until(
        &visitor,
        "document.querySelector('[data-id-consent]') !== null && document.querySelector('.lcw-identity').textContent.includes('it is kept encrypted for 30 days and then deleted')",
        "the visitor is told the photo is kept",
    )
    .await;
    let size = consent_with_camera(&visitor).await;
    click(&visitor, "[data-id-capture=\"document\"]").await;
    wait_until(
        &advisor,
        "document.querySelectorAll('.chat:not([hidden]) .id-panel img[data-id-photo]').length === 1 && document.querySelector('.chat:not([hidden]) .id-keep').textContent === 'The photos are kept, encrypted, for 30 days when you decide.'",
        "the photo arrives, and Ben is told it will be kept",
    )
    .await;
    click(
        &advisor,
        ".chat:not([hidden]) [data-id-outcome=\"verified\"]",
    )
    .await;
    wait_until(
        &advisor,
        "document.querySelector('.chat:not([hidden]) .id-status').textContent === 'Identity verified.' && document.querySelectorAll('.id-panel img').length === 0",
        "decided; the page lets the photo go",
    )
    .await;
    // The context lists the kept photo; it opens for Ben at its size.
    run(
        &advisor,
        &format!("document.querySelector('#active [data-open={session:?}]').click(); return true;"),
    )
    .await;
    wait_until(
        &advisor,
        "document.querySelectorAll('#context [data-kept-photo]').length === 1",
        "the kept photo is listed",
    )
    .await;
    let opened = advisor
        .execute_async(
            "const done = arguments[arguments.length - 1]; fetch(document.querySelector('#context [data-kept-photo]').href, { credentials: 'same-origin' }).then(r => r.blob().then(b => createImageBitmap(b)).then(i => done([r.status, r.headers.get('cache-control'), i.width, i.height]))).catch(e => done(String(e)));",
            vec![],
        )
        .await
        .expect("open the photo");
    assert_eq!(
        opened,
        json!([200, "no-store", size[0], size[1]]),
        "the photo opens whole, at the camera's size"
    );
    // The visitor's access export names it (the handler tests check it is
    // sealed in the store).
    let key = std::fs::read_to_string(server.data_dir.join("admin.key")).expect("admin key");
    let export = http_get(
        &format!("{}/api/v1/privacy?session={session}", server.url),
        key.trim(),
    );
    assert!(
        export.contains("\"identity_images\":[{") && export.contains("\"kind\":\"document\""),
        "the access export names it: {export}"
    );
    drop(driver);
    server.stop();
}
