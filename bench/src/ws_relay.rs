//! Signaling relay benchmark: pairs of WebSocket clients exchanging chat
//! messages through a server, closed loop (each side answers what it
//! receives), against livecard or the PeerJS server. Prints one JSON line.
//!
//! livecard: each pair is an advisor (capacity 1, console socket signed in
//! with a session cookie made from the data directory's key) and a visitor
//! who started a contact with them; every message is a real `chat` (stored,
//! de-duplicated, pushed to both sides). PeerJS: each pair is two peers
//! sending each other `OFFER` messages, which the server relays by `dst`.
//!
//! `idle` mode opens connections and holds them, for memory per connection.

use anyhow::{Context, bail};
use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Socket = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

#[derive(Parser, Debug)]
struct Args {
    /// `livecard` or `peerjs`.
    #[arg(long)]
    target: String,
    /// livecard: http://host:port; peerjs: ws://host:port (the server's path root).
    #[arg(long)]
    url: String,
    /// livecard's data directory (admin key, session key).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Number of client pairs (clients = 2 x pairs).
    #[arg(long, default_value_t = 500)]
    pairs: usize,
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Offset for ids, so that runs against one server do not collide.
    #[arg(long, default_value_t = 0)]
    first: usize,
    /// Only open the connections and hold them for `seconds` (memory).
    #[arg(long)]
    idle: bool,
    /// With --idle: plain connections (livecard: a socket that said hello,
    /// no session; peerjs: an open peer), so only the connection is counted.
    #[arg(long)]
    bare: bool,
    /// livecard: `chat` (stored, de-duplicated, acknowledged) or `signal`
    /// (relayed only, like typing, read and the call messages).
    #[arg(long, default_value = "chat")]
    kind: String,
    /// The server's process id: report its CPU time per message beside
    /// this client's (what each side spends on the same traffic).
    #[arg(long)]
    server_pid: Option<u32>,
}

struct Pair {
    visitor: Socket,
    advisor: Socket,
    info: PairInfo,
}

struct PairInfo {
    /// livecard: the session id.
    session: String,
    /// peerjs: the peer ids.
    ids: (String, String),
}

fn micros(base: Instant) -> u64 {
    base.elapsed().as_micros() as u64
}

async fn next_json(socket: &mut Socket) -> anyhow::Result<Value> {
    loop {
        match socket.next().await {
            Some(Ok(Message::Text(text))) => return Ok(serde_json::from_str(text.as_str())?),
            Some(Ok(_)) => continue,
            Some(Err(err)) => return Err(err.into()),
            None => bail!("socket closed"),
        }
    }
}

async fn wait_for(socket: &mut Socket, kind: &str) -> anyhow::Result<Value> {
    loop {
        let value = tokio::time::timeout(Duration::from_secs(30), next_json(socket))
            .await
            .with_context(|| format!("no {kind} within 30 s"))??;
        if value["type"] == kind {
            return Ok(value);
        }
        if value["type"] == "error" || value["type"] == "ERROR" {
            bail!("server error: {value}");
        }
    }
}

async fn livecard_pair(
    http: &reqwest::Client,
    url: &str,
    admin: &str,
    session_key: &[u8],
    n: usize,
) -> anyhow::Result<Pair> {
    let id = format!("bench-{n}");
    let advisor = json!({"id": id, "display_name": format!("Bench {n}"), "languages": ["en"], "topics": ["bench"], "channels": ["chat"], "capacity": 1});
    let ok = http
        .post(format!("{url}/api/v1/advisors"))
        .bearer_auth(admin)
        .json(&advisor)
        .send()
        .await?;
    if !ok.status().is_success() {
        bail!("advisor not created: {}", ok.text().await?);
    }
    let ok = http
        .put(format!("{url}/api/v1/advisors/{id}/presence"))
        .bearer_auth(admin)
        .json(&json!({"states": {"chat": "available"}}))
        .send()
        .await?;
    if !ok.status().is_success() {
        bail!("presence not set: {}", ok.text().await?);
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as u64;
    let advisor_id = livecard_core::ids::AdvisorId::parse(&id).context("bench id")?;
    // A new advisor's session epoch is 0.
    let session = livecard_core::auth::AdvisorSession {
        advisor: advisor_id,
        epoch: 0,
    };
    let cookie = livecard_core::auth::sign_session(session_key, &session, now, 3_600_000);
    // An open console: its heartbeat makes the advisor routable.
    let ok = http
        .post(format!("{url}/api/v1/me/heartbeat"))
        .header("cookie", format!("lc_session={cookie}"))
        .header("origin", url)
        .send()
        .await?;
    if !ok.status().is_success() {
        bail!("console heartbeat refused: {}", ok.text().await?);
    }
    let ws_url = format!("{}/ws", url.replacen("http", "ws", 1));
    let mut request = ws_url.as_str().into_client_request()?;
    request
        .headers_mut()
        .insert("cookie", format!("lc_session={cookie}").parse()?);
    request.headers_mut().insert("origin", url.parse()?);
    let (mut advisor_ws, _) = tokio_tungstenite::connect_async(request).await?;
    wait_for(&mut advisor_ws, "hello").await?;
    let started: Value = http
        .post(format!("{url}/api/v1/contacts"))
        .json(&json!({"advisor": id}))
        .send()
        .await?
        .json()
        .await?;
    let session = started["session"]
        .as_str()
        .context("no session")?
        .to_owned();
    let token = started["token"].as_str().context("no token")?.to_owned();
    // The visitor's socket joins (that starts routing: the advisor rings).
    let (mut visitor_ws, _) = tokio_tungstenite::connect_async(ws_url.as_str()).await?;
    visitor_ws
        .send(Message::text(
            json!({"v":1,"type":"join","session":session,"token":token}).to_string(),
        ))
        .await?;
    wait_for(&mut visitor_ws, "joined").await?;
    wait_for(&mut advisor_ws, "ring").await?;
    advisor_ws
        .send(Message::text(
            json!({"v":1,"type":"accept","session":session}).to_string(),
        ))
        .await?;
    loop {
        let state = wait_for(&mut visitor_ws, "session").await?;
        if state["state"] == "connected" {
            break;
        }
    }
    Ok(Pair {
        visitor: visitor_ws,
        advisor: advisor_ws,
        info: PairInfo {
            session,
            ids: (String::new(), String::new()),
        },
    })
}

async fn peerjs_pair(url: &str, n: usize) -> anyhow::Result<Pair> {
    let connect = |id: String| async move {
        let (mut ws, _) = tokio_tungstenite::connect_async(format!(
            "{url}/peerjs?key=peerjs&id={id}&token=t{id}"
        ))
        .await?;
        wait_for(&mut ws, "OPEN").await?;
        anyhow::Ok(ws)
    };
    let a = format!("v{n}");
    let b = format!("a{n}");
    Ok(Pair {
        visitor: connect(a.clone()).await?,
        advisor: connect(b.clone()).await?,
        info: PairInfo {
            session: String::new(),
            ids: (a, b),
        },
    })
}

/// A message from one side of a pair carrying a send time.
fn outgoing(target: &str, pair: &PairInfo, from_visitor: bool, seq: u64, sent: u64) -> String {
    if target == "livecard-signal" {
        json!({"v":1,"type":"read","session":pair.session,"key":format!("t{sent}")}).to_string()
    } else if target == "livecard" {
        let side = if from_visitor { "v" } else { "a" };
        json!({"v":1,"type":"chat","session":pair.session,"id":format!("{side}{seq}"),"text":format!("bench message {sent}")}).to_string()
    } else {
        let dst = if from_visitor {
            &pair.ids.1
        } else {
            &pair.ids.0
        };
        json!({"type":"OFFER","dst":dst,"payload":{"text":format!("bench message {sent}")}})
            .to_string()
    }
}

/// The send time of a message from the other side, if it is one.
fn incoming(target: &str, value: &Value, to_visitor: bool) -> Option<u64> {
    if target == "livecard-signal" {
        if value["type"] != "read" {
            return None;
        }
        return value["key"].as_str()?.strip_prefix('t')?.parse().ok();
    }
    let text = if target == "livecard" {
        if value["type"] != "chat" {
            return None;
        }
        let from = if to_visitor { "advisor" } else { "visitor" };
        if value["side"] != from {
            return None;
        }
        value["text"].as_str()?
    } else {
        if value["type"] != "OFFER" {
            return None;
        }
        value["payload"]["text"].as_str()?
    };
    text.strip_prefix("bench message ")?.parse().ok()
}

struct Tally {
    latencies: Vec<u32>,
    delivered: u64,
}

/// One side: answers every message from the other side with a new one.
async fn side(
    target: Arc<str>,
    pair: Arc<PairInfo>,
    mut sink: futures_util::stream::SplitSink<Socket, Message>,
    mut stream: futures_util::stream::SplitStream<Socket>,
    is_visitor: bool,
    base: Instant,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<Tally> {
    let mut tally = Tally {
        latencies: Vec::new(),
        delivered: 0,
    };
    let mut seq = 0u64;
    if is_visitor {
        sink.send(Message::text(outgoing(
            &target,
            &pair,
            true,
            seq,
            micros(base),
        )))
        .await?;
    }
    loop {
        let frame = tokio::select! {
            frame = stream.next() => frame,
            _ = stop.changed() => break,
        };
        let Some(frame) = frame else { break };
        let Message::Text(text) = frame? else {
            continue;
        };
        let value: Value = serde_json::from_str(text.as_str())?;
        if value["type"] == "error" {
            bail!("server refused: {value}");
        }
        let Some(sent) = incoming(&target, &value, is_visitor) else {
            continue;
        };
        let now = micros(base);
        if *stop.borrow() {
            break;
        }
        tally.latencies.push(now.saturating_sub(sent) as u32);
        tally.delivered += 1;
        seq += 1;
        sink.send(Message::text(outgoing(
            &target, &pair, is_visitor, seq, now,
        )))
        .await?;
    }
    Ok(tally)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let http = reqwest::Client::new();
    let setup = Instant::now();
    if args.idle && args.bare {
        let mut sockets = Vec::with_capacity(args.pairs * 2);
        for n in 0..args.pairs * 2 {
            let socket = if args.target == "livecard" {
                let url = format!("{}/ws", args.url.replacen("http", "ws", 1));
                let (mut ws, _) = tokio_tungstenite::connect_async(url.as_str()).await?;
                wait_for(&mut ws, "hello").await?;
                ws
            } else {
                let (mut ws, _) = tokio_tungstenite::connect_async(format!(
                    "{}/peerjs?key=peerjs&id=idle{n}&token=t{n}",
                    args.url
                ))
                .await?;
                wait_for(&mut ws, "OPEN").await?;
                ws
            };
            sockets.push(socket);
        }
        println!(
            "{}",
            json!({"target": args.target, "mode": "idle-bare", "clients": sockets.len(), "setup_s": setup.elapsed().as_secs_f64()})
        );
        tokio::time::sleep(Duration::from_secs(args.seconds)).await;
        return Ok(());
    }
    let mut pairs = Vec::with_capacity(args.pairs);
    let (admin, session_key) = if args.target == "livecard" {
        let dir = args
            .data_dir
            .clone()
            .context("--data-dir is needed for livecard")?;
        let data = livecard_local::datadir::DataDir::open(&dir)?;
        let admin = data
            .read_admin_key()
            .context("no admin key in the data directory")?;
        let (secrets, _) = data.secrets()?;
        (admin, secrets.session_key)
    } else {
        (String::new(), Vec::new())
    };
    // Set up in parallel batches.
    let batch = 50;
    let mut n = args.first;
    while pairs.len() < args.pairs {
        let mut tasks = Vec::new();
        for _ in 0..batch.min(args.pairs - pairs.len()) {
            let (http, url, admin, key, target) = (
                http.clone(),
                args.url.clone(),
                admin.clone(),
                session_key.clone(),
                args.target.clone(),
            );
            let i = n;
            n += 1;
            tasks.push(tokio::spawn(async move {
                if target == "livecard" {
                    livecard_pair(&http, &url, &admin, &key, i).await
                } else {
                    peerjs_pair(&url, i).await
                }
            }));
        }
        for task in tasks {
            pairs.push(task.await??);
        }
    }
    let setup_s = setup.elapsed().as_secs_f64();
    if args.idle {
        println!(
            "{}",
            json!({"target": args.target, "mode": "idle", "clients": pairs.len() * 2, "setup_s": setup_s})
        );
        tokio::time::sleep(Duration::from_secs(args.seconds)).await;
        return Ok(());
    }
    let base = Instant::now();
    let cpu_before = cpu_pair(args.server_pid);
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let mode = if args.target == "livecard" && args.kind == "signal" {
        "livecard-signal"
    } else {
        args.target.as_str()
    };
    let target: Arc<str> = Arc::from(mode);
    let mut tasks = Vec::new();
    for Pair {
        visitor,
        advisor,
        info,
    } in pairs
    {
        let pair = Arc::new(info);
        let (vs, vr) = visitor.split();
        let (as_, ar) = advisor.split();
        tasks.push(tokio::spawn(side(
            target.clone(),
            pair.clone(),
            as_,
            ar,
            false,
            base,
            stop.clone(),
        )));
        tasks.push(tokio::spawn(side(
            target.clone(),
            pair,
            vs,
            vr,
            true,
            base,
            stop.clone(),
        )));
    }
    tokio::time::sleep(Duration::from_secs(args.seconds)).await;
    let _ = stop_tx.send(true);
    let elapsed = base.elapsed().as_secs_f64();
    let cpu_after = cpu_pair(args.server_pid);
    let mut latencies = Vec::new();
    let mut delivered = 0;
    for task in tasks {
        let tally = task.await??;
        delivered += tally.delivered;
        latencies.extend(tally.latencies);
    }
    latencies.sort_unstable();
    let ms: Vec<f64> = latencies.iter().map(|&us| f64::from(us) / 1000.0).collect();
    let pct = |p: f64| livecard_bench::percentile(&ms, p * 100.0);
    // CPU time per delivered message (microseconds), user and system.
    let per_message = |before: CpuSeconds, after: CpuSeconds| match (before, after) {
        (Some(b), Some(a)) if delivered > 0 => {
            let us = |s: f64| (s * 1e6 / delivered as f64 * 10.0).round() / 10.0;
            json!({"user": us(a.0 - b.0), "sys": us(a.1 - b.1)})
        }
        _ => Value::Null,
    };
    let mut report = json!({
        "target": args.target,
        "kind": if args.target == "livecard" { args.kind.as_str() } else { "relay" },
        "clients": args.pairs * 2,
        "setup_s": (setup_s * 10.0).round() / 10.0,
        "seconds": (elapsed * 10.0).round() / 10.0,
        "delivered": delivered,
        "msgs_per_s": (delivered as f64 / elapsed).round(),
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "client_cpu_us_per_msg": per_message(cpu_before.0, cpu_after.0),
    });
    if args.server_pid.is_some() {
        report["server_cpu_us_per_msg"] = per_message(cpu_before.1, cpu_after.1);
    }
    println!("{report}");
    Ok(())
}

/// User and system CPU seconds of a process, when readable.
type CpuSeconds = Option<(f64, f64)>;

/// This process's CPU time and the server's (when its pid was given).
fn cpu_pair(server: Option<u32>) -> (CpuSeconds, CpuSeconds) {
    (
        livecard_bench::cpu_seconds(std::process::id()),
        server.and_then(livecard_bench::cpu_seconds),
    )
}
