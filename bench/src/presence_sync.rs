//! Presence sync, measured: how long a change in the company's system takes
//! to reach the portal's API (`GET /api/v1/advisors/{id}`), for the signed
//! webhook, XMPP (Prosody), the phone system (Kamailio) and Teams (the
//! loopback Graph), p50/p99 over `--changes` changes; and what the
//! connectors cost per change at `--advisors` advisors, beside the webhook
//! in the same run (process CPU, which includes the embedded store every
//! path writes to).
//!
//! `cargo run --release -p livecard-bench --bin presence-sync -- [--changes 100] [--advisors 5000]`
//! Needs Debian's prosody, prosody-modules, kamailio,
//! kamailio-presence-modules and sip-tester (scripts/test.sh installs them).

use anyhow::{Context, anyhow};
use bytes::Bytes;
use livecard_core::advisor::Identities;
use livecard_core::channel::Channel;
use livecard_core::ids::AdvisorId;
use livecard_core::presence::{PresenceSource, PresenceState};
use livecard_local::LocalApp;
use livecard_local::testkit::{advisor, graph, kamailio, local_app, presence, prosody};
use livecard_store::prelude::*;
use std::net::UdpSocket;
use std::time::{Duration, Instant};

struct Args {
    changes: usize,
    advisors: usize,
}

fn args() -> anyhow::Result<Args> {
    let mut args = Args {
        changes: 100,
        advisors: 5000,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--changes" => args.changes = value.parse().context("--changes")?,
            "--advisors" => args.advisors = value.parse().context("--advisors")?,
            other => return Err(anyhow!("unknown flag {other}")),
        }
    }
    Ok(args)
}

/// What the portal's API says of `id` on `channel`.
async fn shown(app: &LocalApp, id: &str, channel: Channel) -> String {
    let request: livecard_app::Request = http::Request::builder()
        .uri(format!("/api/v1/advisors/{id}"))
        .header("host", "livecard.test")
        .body(Bytes::new())
        .unwrap_or_default();
    let response = app.handle(request).await;
    let body: serde_json::Value =
        serde_json::from_slice(response.body()).unwrap_or(serde_json::Value::Null);
    body["presence"][channel.as_str()]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Waits (polling the API every millisecond) until `id` shows `state`;
/// the time since `since`.
async fn reached(
    app: &LocalApp,
    id: &str,
    channel: Channel,
    state: &str,
    since: Instant,
) -> anyhow::Result<Duration> {
    let deadline = since + Duration::from_secs(60);
    loop {
        if shown(app, id, channel).await == state {
            return Ok(since.elapsed());
        }
        if Instant::now() > deadline {
            return Err(anyhow!("{id} never showed {state} on {channel:?}"));
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort();
    let rank = ((p / 100.0) * samples.len() as f64).ceil() as usize;
    samples[rank.clamp(1, samples.len()) - 1]
}

fn line(what: &str, samples: &mut [Duration]) {
    println!(
        "| {what} | {} | {:.1} ms | {:.1} ms |",
        samples.len(),
        percentile(samples, 50.0).as_secs_f64() * 1000.0,
        percentile(samples, 99.0).as_secs_f64() * 1000.0
    );
}

/// Process CPU time so far (user + system), from /proc.
fn cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, r)| r.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15; after the name, 12 and 13.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

/// Resident memory so far, in KiB.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

async fn console_open(app: &LocalApp, id: &str) -> anyhow::Result<()> {
    let id = AdvisorId::parse(id)?;
    app.store.heartbeat(&id, u64::MAX / 2).await?;
    Ok(())
}

fn webhook_request(
    id: &str,
    advisor: &str,
    state: &str,
    version: u64,
    now_s: u64,
) -> livecard_app::Request {
    let body =
        serde_json::json!({"advisor": advisor, "states": {"chat": state}, "version": version})
            .to_string();
    let signature = livecard_core::webhook::sign(&[5u8; 32], id, now_s, body.as_bytes());
    http::Request::builder()
        .method("POST")
        .uri("/api/v1/presence/webhook")
        .header("host", "livecard.test")
        .header("content-type", "application/json")
        .header("webhook-id", id)
        .header("webhook-timestamp", now_s.to_string())
        .header("webhook-signature", signature)
        .body(Bytes::from(body))
        .unwrap_or_default()
}

async fn webhook(changes: usize) -> anyhow::Result<Vec<Duration>> {
    let (_db, app) = local_app().await;
    app.save_advisor(&advisor("anna", Identities::default()))
        .await
        .map_err(|e| anyhow!("{}", e.message))?;
    console_open(&app, "anna").await?;
    let mut samples = Vec::new();
    for i in 0..changes {
        let state = if i % 2 == 0 { "busy" } else { "available" };
        let now = app.now();
        let request = webhook_request(&format!("msg_{i}"), "anna", state, now, now / 1000);
        let t0 = Instant::now();
        let response = app.handle(request).await;
        if !response.status().is_success() {
            return Err(anyhow!("webhook answered {}", response.status()));
        }
        samples.push(reached(&app, "anna", Channel::Chat, state, t0).await?);
    }
    Ok(samples)
}

async fn xmpp(changes: usize) -> anyhow::Result<(Vec<Duration>, Duration)> {
    let mut server = prosody::Prosody::new("bench-xmpp");
    server.start();
    let (_db, app) = local_app().await;
    let identities = Identities {
        xmpp: Some("anna@localhost".into()),
        ..Identities::default()
    };
    app.save_advisor(&advisor("anna", identities))
        .await
        .map_err(|e| anyhow!("{}", e.message))?;
    console_open(&app, "anna").await?;
    let connector = livecard_connectors::xmpp::spawn(
        presence(&app),
        livecard_connectors::xmpp::XmppConfig::new(
            "presence.localhost",
            prosody::SECRET,
            &format!("127.0.0.1:{}", server.component),
        ),
    );
    let mut user = prosody::User::login(server.c2s, "anna", "desk");
    user.presence("");
    reached(&app, "anna", Channel::Chat, "available", Instant::now()).await?;
    let mut samples = Vec::new();
    let cpu0 = cpu();
    for i in 0..changes {
        let (stanza, state) = if i % 2 == 0 {
            ("<show>dnd</show>", "busy")
        } else {
            ("", "available")
        };
        let t0 = Instant::now();
        user.presence(stanza);
        samples.push(reached(&app, "anna", Channel::Chat, state, t0).await?);
    }
    let spent = cpu().saturating_sub(cpu0);
    connector.abort();
    Ok((samples, spent))
}

/// A phone call placed by hand (so the instant it is answered is known):
/// INVITE to the proxy, 200 OK, ACK; later BYE and its 200.
struct Call {
    socket: UdpSocket,
    proxy: String,
    call_id: String,
    to_tag: String,
}

fn sip_header<'a>(message: &'a str, name: &str) -> Option<&'a str> {
    message.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then_some(v.trim())
    })
}

impl Call {
    fn request(&self, method: &str, cseq: u32, to_tag: Option<&str>) -> String {
        let local = self
            .socket
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        let to = match to_tag {
            Some(tag) => format!("<sip:200@{}>;tag={tag}", self.proxy),
            None => format!("<sip:200@{}>", self.proxy),
        };
        format!(
            "{method} sip:200@{proxy} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK{method}{cseq}{id}\r\nMax-Forwards: 70\r\nFrom: <sip:bench@127.0.0.1>;tag=b{id}\r\nTo: {to}\r\nCall-ID: {id}\r\nCSeq: {cseq} {m}\r\nContact: <sip:bench@{local}>\r\nContent-Length: 0\r\n\r\n",
            proxy = self.proxy,
            id = self.call_id,
            m = if method == "ACK" { "ACK" } else { method },
        )
    }

    /// Waits for the final answer to `method`; its text.
    fn final_answer(&self, method: &str) -> anyhow::Result<String> {
        let mut buf = [0u8; 8192];
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (n, _) = self.socket.recv_from(&mut buf).context("no SIP answer")?;
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            let is_final = text.starts_with("SIP/2.0 2")
                || text.starts_with("SIP/2.0 4")
                || text.starts_with("SIP/2.0 5")
                || text.starts_with("SIP/2.0 6");
            if is_final && sip_header(&text, "cseq").is_some_and(|c| c.ends_with(method)) {
                return Ok(text);
            }
            if Instant::now() > deadline {
                return Err(anyhow!("no final answer to {method}"));
            }
        }
    }

    fn answered(proxy: &str, n: usize) -> anyhow::Result<Self> {
        let socket = UdpSocket::bind("127.0.0.1:0")?;
        socket.set_read_timeout(Some(Duration::from_secs(10)))?;
        let mut call = Self {
            socket,
            proxy: proxy.to_owned(),
            call_id: format!("bench{n}x{}", std::process::id()),
            to_tag: String::new(),
        };
        let invite = call.request("INVITE", 1, None);
        call.socket.send_to(invite.as_bytes(), proxy)?;
        let ok = call.final_answer("INVITE")?;
        if !ok.starts_with("SIP/2.0 200") {
            return Err(anyhow!(
                "the call was refused: {}",
                ok.lines().next().unwrap_or("")
            ));
        }
        call.to_tag = sip_header(&ok, "to")
            .and_then(|t| t.split(";tag=").nth(1))
            .unwrap_or_default()
            .to_owned();
        let ack = call.request("ACK", 1, Some(&call.to_tag));
        call.socket.send_to(ack.as_bytes(), proxy)?;
        Ok(call)
    }

    fn hang_up(&self) -> anyhow::Result<()> {
        let bye = self.request("BYE", 2, Some(&self.to_tag));
        self.socket.send_to(bye.as_bytes(), &self.proxy)?;
        self.final_answer("BYE")?;
        Ok(())
    }
}

async fn sip(changes: usize) -> anyhow::Result<(Vec<Duration>, Duration)> {
    let server = kamailio::Kamailio::start("bench-sip");
    let (_db, app) = local_app().await;
    let identities = Identities {
        sip: Some("200".into()),
        ..Identities::default()
    };
    app.save_advisor(&advisor("anna", identities))
        .await
        .map_err(|e| anyhow!("{}", e.message))?;
    console_open(&app, "anna").await?;
    let now = app.now();
    let manual = app.config.presence.manual_update(
        Channel::ALL
            .iter()
            .map(|c| (*c, PresenceState::Available))
            .collect(),
        now,
        now + 3_600_000,
    )?;
    app.set_presence(&AdvisorId::parse("anna")?, &manual)
        .await
        .map_err(|e| anyhow!("{}", e.message))?;
    let mut config =
        livecard_connectors::sip::SipConfig::new(format!("127.0.0.1:{}", server.port).parse()?);
    config.domain = "127.0.0.1".into();
    let watcher = livecard_connectors::sip::spawn(presence(&app), config);
    let calls = changes.div_ceil(2);
    let _phone = kamailio::phone_for(&server, "200", u32::try_from(calls)?);
    // The subscription is up once the watcher said it is well.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !app.connectors.snapshot().get("sip").is_some_and(|h| h.ok) {
        if Instant::now() > deadline {
            return Err(anyhow!("no SIP subscription"));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let proxy = format!("127.0.0.1:{}", server.port);
    let mut samples = Vec::new();
    let cpu0 = cpu();
    for n in 0..calls {
        let call = Call::answered(&proxy, n)?;
        let t0 = Instant::now();
        samples.push(reached(&app, "anna", Channel::Audio, "busy", t0).await?);
        call.hang_up()?;
        let t1 = Instant::now();
        samples.push(reached(&app, "anna", Channel::Audio, "available", t1).await?);
    }
    let spent = cpu().saturating_sub(cpu0);
    watcher.abort();
    Ok((samples, spent))
}

async fn teams(changes: usize, poll_ms: u64) -> anyhow::Result<Vec<Duration>> {
    let (url, fake) = graph::fake_graph().await;
    let (_db, app) = local_app().await;
    let anna = "3f2504e0-4f89-11d3-9a0c-0305e82c3301";
    let identities = Identities {
        teams: Some(anna.into()),
        ..Identities::default()
    };
    app.save_advisor(&advisor("anna", identities))
        .await
        .map_err(|e| anyhow!("{}", e.message))?;
    console_open(&app, "anna").await?;
    let set = |availability: &str| {
        if let Ok(mut g) = fake.lock() {
            g.presence
                .insert(anna.into(), (availability.into(), availability.into()));
        }
    };
    set("Available");
    let mut config =
        livecard_connectors::teams::TeamsConfig::new(graph::TENANT, graph::CLIENT, graph::SECRET);
    config.login_url = format!("{url}/login");
    config.graph_url = format!("{url}/v1.0");
    config.poll_ms = poll_ms;
    let connector = livecard_connectors::teams::spawn(presence(&app), config);
    reached(&app, "anna", Channel::Chat, "available", Instant::now()).await?;
    let mut samples = Vec::new();
    for i in 0..changes {
        let (availability, state) = if i % 2 == 0 {
            ("Busy", "busy")
        } else {
            ("Available", "available")
        };
        // Changes come at any point of the poll cycle.
        tokio::time::sleep(Duration::from_millis((i as u64 * 37) % poll_ms)).await;
        let t0 = Instant::now();
        set(availability);
        samples.push(reached(&app, "anna", Channel::Chat, state, t0).await?);
    }
    connector.abort();
    Ok(samples)
}

/// Teams push: Graph notifies livecard's endpoint (served over HTTP on
/// loopback, as `livecard up` serves it) with the change encrypted as
/// Graph encrypts it; polls are a minute apart, so the change comes by push.
/// The time from the change to the portal's API showing it.
async fn teams_push(changes: usize) -> anyhow::Result<Vec<Duration>> {
    let (url, fake) = graph::fake_graph().await;
    let keys = graph::push_keys("bench-client-state-0123456789");
    let (_db, app) = livecard_local::testkit::local_app_with(Some(keys)).await;
    let anna = "3f2504e0-4f89-11d3-9a0c-0305e82c3301";
    let identities = Identities {
        teams: Some(anna.into()),
        ..Identities::default()
    };
    app.save_advisor(&advisor("anna", identities))
        .await
        .map_err(|e| anyhow!("{}", e.message))?;
    console_open(&app, "anna").await?;
    if let Ok(mut g) = fake.lock() {
        g.presence
            .insert(anna.into(), ("Available".into(), "Available".into()));
    }
    let base = livecard_local::testkit::serve(&app).await;
    let mut config =
        livecard_connectors::teams::TeamsConfig::new(graph::TENANT, graph::CLIENT, graph::SECRET);
    config.login_url = format!("{url}/login");
    config.graph_url = format!("{url}/v1.0");
    config.poll_ms = 60_000;
    config.push = Some(livecard_connectors::teams::PushConfig::new(
        &format!("{base}/api/v1/connectors/teams/notifications"),
        graph::SYNC_REFRESH,
    ));
    let connector = livecard_connectors::teams::spawn(presence(&app), config);
    reached(&app, "anna", Channel::Chat, "available", Instant::now()).await?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while fake
        .lock()
        .map(|g| g.subscriptions.is_empty())
        .unwrap_or(true)
    {
        if Instant::now() > deadline {
            return Err(anyhow!("no subscription"));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut samples = Vec::new();
    for i in 0..changes {
        let (availability, state) = if i % 2 == 0 {
            ("Busy", "busy")
        } else {
            ("Available", "available")
        };
        let t0 = Instant::now();
        let (status, _) = graph::notify(
            &fake,
            anna,
            availability,
            availability,
            graph::Forgery::None,
        )
        .await;
        if status != 202 {
            return Err(anyhow!("the notification was answered {status}"));
        }
        samples.push(reached(&app, "anna", Channel::Chat, state, t0).await?);
    }
    connector.abort();
    Ok(samples)
}

/// Waits until this process has been idle (under 5 % of a core) for a
/// second; the CPU and wall time spent since `cpu0`/`t0`.
async fn until_idle(cpu0: Duration, t0: Instant) -> (Duration, Duration) {
    let mut quiet = 0;
    let mut last = cpu();
    while quiet < 5 && t0.elapsed() < Duration::from_secs(300) {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = cpu();
        if now.saturating_sub(last) < Duration::from_millis(10) {
            quiet += 1;
        } else {
            quiet = 0;
        }
        last = now;
    }
    // The quiet second is not part of the work.
    (
        cpu().saturating_sub(cpu0),
        t0.elapsed().saturating_sub(Duration::from_secs(1)),
    )
}

/// The XMPP component and the SIP watcher at `advisors` linked advisors:
/// the first round (every account or extension followed, every entry
/// written), memory, and CPU per change of one advisor among them.
async fn connector_cost(advisors: usize, changes: usize) -> anyhow::Result<()> {
    // XMPP: accounts u0..u{n} (only Anna's exists and logs in: an account
    // that never logs in costs the connector the same).
    let mut server = prosody::Prosody::new("bench-xmpp-cost");
    server.start();
    let (_db, app) = local_app().await;
    for i in 0..advisors {
        let identities = Identities {
            xmpp: Some(format!("u{i}@localhost")),
            sip: Some(format!("{}", 10_000 + i)),
            ..Identities::default()
        };
        app.save_advisor(&advisor(&format!("a{i}"), identities))
            .await
            .map_err(|e| anyhow!("{}", e.message))?;
    }
    let identities = Identities {
        xmpp: Some("anna@localhost".into()),
        sip: Some("200".into()),
        ..Identities::default()
    };
    app.save_advisor(&advisor("anna", identities))
        .await
        .map_err(|e| anyhow!("{}", e.message))?;
    console_open(&app, "anna").await?;
    let rss0 = rss_kib();
    let (cpu0, t0) = (cpu(), Instant::now());
    let connector = livecard_connectors::xmpp::spawn(
        presence(&app),
        livecard_connectors::xmpp::XmppConfig::new(
            "presence.localhost",
            prosody::SECRET,
            &format!("127.0.0.1:{}", server.component),
        ),
    );
    // The first round is done once every account was written (the
    // component settles two seconds after connecting) and all is quiet.
    let last = AdvisorId::parse(&format!("a{}", advisors - 1))?;
    let first = AdvisorId::parse("a0")?;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let mut written = 0;
        for id in [&first, &last] {
            let record = app.store.get_advisor(id).await?;
            if record.is_some_and(|r| {
                r.presence
                    .entry(PresenceSource::Xmpp, Channel::Chat)
                    .is_some()
            }) {
                written += 1;
            }
        }
        if written == 2 {
            break;
        }
        if Instant::now() > deadline {
            return Err(anyhow!("the XMPP component never wrote every account"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (first_cpu, first_wall) = until_idle(cpu0, t0).await;
    let rss1 = rss_kib();
    let mut user = prosody::User::login(server.c2s, "anna", "desk");
    user.presence("");
    reached(&app, "anna", Channel::Chat, "available", Instant::now()).await?;
    let cpu1 = cpu();
    for i in 0..changes {
        let (stanza, state) = if i % 2 == 0 {
            ("<show>dnd</show>", "busy")
        } else {
            ("", "available")
        };
        user.presence(stanza);
        reached(&app, "anna", Channel::Chat, state, Instant::now()).await?;
    }
    let per_change = cpu().saturating_sub(cpu1) / u32::try_from(changes.max(1))?;
    println!(
        "| XMPP component | {} | {:.2} s, {:.0} ms CPU | {:+.1} MiB | {:.2} ms |",
        advisors + 1,
        first_wall.as_secs_f64(),
        first_cpu.as_secs_f64() * 1000.0,
        (rss1 as f64 - rss0 as f64) / 1024.0,
        per_change.as_secs_f64() * 1000.0,
    );
    connector.abort();
    drop(user);
    drop(server);

    // SIP: every advisor's extension subscribed at Kamailio (dialog and,
    // refused by this PBX, presence).
    let pbx = kamailio::Kamailio::start("bench-sip-cost");
    let mut config =
        livecard_connectors::sip::SipConfig::new(format!("127.0.0.1:{}", pbx.port).parse()?);
    config.domain = "127.0.0.1".into();
    let rss0 = rss_kib();
    let (cpu0, t0) = (cpu(), Instant::now());
    let watcher = livecard_connectors::sip::spawn(presence(&app), config);
    // Every extension's dialog subscription accepted (the health counts
    // them), then quiet.
    let deadline = Instant::now() + Duration::from_secs(240);
    while app
        .connectors
        .snapshot()
        .get("sip")
        .is_none_or(|h| h.advisors < advisors + 1)
    {
        if Instant::now() > deadline {
            return Err(anyhow!(
                "not every extension was subscribed: {:?}",
                app.connectors.snapshot().get("sip")
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (first_cpu, first_wall) = until_idle(cpu0, t0).await;
    let rss1 = rss_kib();
    let calls = changes.div_ceil(2);
    let _phone = kamailio::phone_for(&pbx, "200", u32::try_from(calls)?);
    let proxy = format!("127.0.0.1:{}", pbx.port);
    let cpu1 = cpu();
    for n in 0..calls {
        let call = Call::answered(&proxy, n)?;
        reached(&app, "anna", Channel::Audio, "busy", Instant::now()).await?;
        call.hang_up()?;
        reached(&app, "anna", Channel::Audio, "available", Instant::now()).await?;
    }
    let per_change = cpu().saturating_sub(cpu1) / u32::try_from((calls * 2).max(1))?;
    println!(
        "| SIP watcher (Kamailio, one worker) | {} | {:.2} s, {:.0} ms CPU | {:+.1} MiB | {:.2} ms |",
        advisors + 1,
        first_wall.as_secs_f64(),
        first_cpu.as_secs_f64() * 1000.0,
        (rss1 as f64 - rss0 as f64) / 1024.0,
        per_change.as_secs_f64() * 1000.0,
    );
    let health = app.connectors.snapshot();
    if let Some(sip) = health.get("sip") {
        println!(
            "\nSIP watcher health after the run: ok={}, errors={}, last error: {}",
            sip.ok,
            sip.errors,
            sip.last_error.as_deref().unwrap_or("none")
        );
    }
    watcher.abort();
    Ok(())
}

/// CPU per change and memory at `advisors` advisors: Teams (one poll round
/// in which every advisor changes) beside the webhook (one push each).
async fn cost(advisors: usize) -> anyhow::Result<()> {
    let (url, fake) = graph::fake_graph().await;
    let (_db, app) = local_app().await;
    let ids: Vec<String> = (0..advisors)
        .map(|i| format!("00000000-0000-4000-8000-{i:012}"))
        .collect();
    for (i, teams) in ids.iter().enumerate() {
        let identities = Identities {
            teams: Some(teams.clone()),
            ..Identities::default()
        };
        app.save_advisor(&advisor(&format!("a{i}"), identities))
            .await
            .map_err(|e| anyhow!("{}", e.message))?;
    }
    let set_all = |availability: &str| {
        if let Ok(mut g) = fake.lock() {
            for id in &ids {
                g.presence
                    .insert(id.clone(), (availability.into(), availability.into()));
            }
        }
    };
    set_all("Available");
    let last = format!("a{}", advisors - 1);
    // The webhook first: one signed push per advisor.
    let rss0 = rss_kib();
    let cpu0 = cpu();
    let t0 = Instant::now();
    for i in 0..advisors {
        let now = app.now();
        let request = webhook_request(
            &format!("cost_{i}"),
            &format!("a{i}"),
            "busy",
            now,
            now / 1000,
        );
        let response = app.handle(request).await;
        if !response.status().is_success() {
            return Err(anyhow!("webhook answered {}", response.status()));
        }
    }
    let webhook_cpu = cpu().saturating_sub(cpu0);
    let webhook_wall = t0.elapsed();
    // Teams: the first round writes every advisor, then all change again.
    let mut config =
        livecard_connectors::teams::TeamsConfig::new(graph::TENANT, graph::CLIENT, graph::SECRET);
    config.login_url = format!("{url}/login");
    config.graph_url = format!("{url}/v1.0");
    config.poll_ms = 3_600_000; // one round per measurement, driven below
    let before_teams = rss_kib();
    let cpu1 = cpu();
    let t1 = Instant::now();
    let connector = livecard_connectors::teams::spawn(presence(&app), config);
    let wait_written = |expected: &'static str| {
        let app = app.clone();
        let last = last.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(600);
            loop {
                let record = app.store.get_advisor(&AdvisorId::parse(&last)?).await?;
                let done = record.is_some_and(|r| {
                    r.presence
                        .entry(
                            livecard_core::presence::PresenceSource::Teams,
                            Channel::Chat,
                        )
                        .is_some_and(|e| e.signal.as_str() == expected)
                });
                if done {
                    return Ok::<(), anyhow::Error>(());
                }
                if Instant::now() > deadline {
                    return Err(anyhow!("the Teams round never finished"));
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    };
    wait_written("available").await?;
    let teams_cpu = cpu().saturating_sub(cpu1);
    let teams_wall = t1.elapsed();
    let after_teams = rss_kib();
    connector.abort();
    let per = |d: Duration| d.as_secs_f64() * 1e6 / advisors as f64;
    println!(
        "| path at {advisors} advisors | CPU per change | wall per change | process RSS growth |"
    );
    println!("|---|---|---|---|");
    println!(
        "| signed webhook, one push per change | {:.0} µs | {:.0} µs | (RSS {} MiB before) |",
        per(webhook_cpu),
        per(webhook_wall),
        rss0 / 1024
    );
    println!(
        "| Teams connector, one poll round ({} Graph calls of up to 650) | {:.0} µs | {:.0} µs | +{} KiB, the store's growth included ({} KiB per 1,000 advisors) |",
        advisors.div_ceil(650),
        per(teams_cpu),
        per(teams_wall),
        after_teams.saturating_sub(before_teams),
        after_teams.saturating_sub(before_teams) * 1000 / advisors as u64
    );
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args = args()?;
    println!("## Propagation: a change in the source system to the portal's API\n");
    println!("| path | changes | p50 | p99 |");
    println!("|---|---|---|---|");
    line(
        "signed webhook (in-process request)",
        &mut webhook(args.changes).await?,
    );
    let (mut samples, xmpp_cpu) = xmpp(args.changes).await?;
    line("XMPP: a `<show/>` change at Prosody", &mut samples);
    let (mut samples, sip_cpu) = sip(args.changes).await?;
    line("SIP: a call answered or hung up at Kamailio", &mut samples);
    line(
        "Teams: a change at the loopback Graph, polled every 1 s",
        &mut teams(args.changes, 1000).await?,
    );
    line(
        "Teams push: a notification from the loopback Graph, encrypted as documented, over HTTP",
        &mut teams_push(args.changes).await?,
    );
    println!(
        "\nCPU per change in the loops above (the connector, the store and the API reads polled every millisecond): XMPP {:.1} ms, SIP {:.1} ms\n",
        xmpp_cpu.as_secs_f64() * 1000.0 / args.changes as f64,
        sip_cpu.as_secs_f64() * 1000.0 / args.changes as f64,
    );
    println!("## Cost\n");
    cost(args.advisors).await?;
    println!(
        "\n## The XMPP and SIP connectors at {} advisors\n",
        args.advisors
    );
    println!(
        "| connector | advisors linked | first round (until idle) | memory | CPU per change |"
    );
    println!("|---|---|---|---|---|");
    connector_cost(args.advisors, 20).await?;
    Ok(())
}
