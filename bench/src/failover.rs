//! Failover through livecard's own pages: a visitor's card page starts a
//! video call, the advisor's console accepts, relay-only through a media
//! node in its own process (`livecard media-node`). Then, again and again,
//! a fresh node joins and the node the call relays through is killed
//! (SIGKILL) or drained (SIGTERM); the times are from the signal to both
//! sides receiving audio, and decoding video frames, through the new node.
//!
//!   failover --bin target/release/livecard --data-dir <dir of livecard up> \
//!     --card <card link> --signin <sign-in link> --drains 10 --kills 10
//!
//! `scripts/bench-failover.sh` starts `livecard up --relay-only
//! --no-media-node` and runs this.

use anyhow::{Context, bail};
use clap::Parser;
use fantoccini::Client;
use livecard_bench::chromium::{run, wait_for};
use livecard_bench::{chromium, percentile};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Parser)]
struct Args {
    /// The livecard binary (its `media-node` command).
    #[arg(long)]
    bin: PathBuf,
    /// The data directory of the running `livecard up`.
    #[arg(long)]
    data_dir: PathBuf,
    /// The card link of an advisor who offers video.
    #[arg(long)]
    card: String,
    /// A one-time sign-in link of the same advisor.
    #[arg(long)]
    signin: String,
    #[arg(long, default_value_t = 10)]
    kills: usize,
    #[arg(long, default_value_t = 10)]
    drains: usize,
}

struct Node {
    child: Child,
    turn: String,
    metrics: String,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn node(args: &Args, id: &str) -> anyhow::Result<Node> {
    let mut child = Command::new(&args.bin)
        .arg("--data-dir")
        .arg(&args.data_dir)
        .args(["media-node", "--id", id, "--drain-deadline", "30s"])
        .env("RUST_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("livecard media-node")?;
    let stdout = child.stdout.take().context("stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let prefix = format!("media node {id} (TURN) on ");
    let turn = loop {
        let line = lines.next().context("the node exited")??;
        if let Some(rest) = line.strip_prefix(&prefix) {
            break rest.to_owned();
        }
    };
    let metrics = turn.rsplit(' ').next().unwrap_or_default().to_owned();
    let turn = turn
        .split_whitespace()
        .next()
        .context("address")?
        .to_owned();
    std::thread::spawn(move || for _ in lines.map_while(Result::ok) {});
    Ok(Node {
        child,
        turn,
        metrics,
    })
}

/// One side's call: frames decoded and the selected pair's relay URL.
const STATE: &str = r#"
const done = arguments[arguments.length - 1];
const call = ((window.livecard && window.livecard.calls) || []).filter(c => c.pc).pop();
if (!call) { done(null); return; }
call.pc.getStats().then(stats => {
  const out = { frames: 0, relay: null, reasons: call.restartReasons, trail: call.trail, waiting: call.waiting,
    ufrags: [call.pc.localDescription && (/a=ice-ufrag:(\S+)/.exec(call.pc.localDescription.sdp) || [])[1], call.pc.remoteDescription && (/a=ice-ufrag:(\S+)/.exec(call.pc.remoteDescription.sdp) || [])[1]],
    servers: (call.pc.getConfiguration().iceServers || []).map(s => [].concat(s.urls)[0]), pairs: [] };
  stats.forEach(s => { if (s.type === "candidate-pair") { const l = stats.get(s.localCandidateId), r = stats.get(s.remoteCandidateId);
    out.pairs.push([s.state, s.nominated, (l && (l.url||"").replace("turn:127.0.0.1:","") + ">" + l.port), (r && r.port), s.requestsSent, s.responsesReceived, s.requestsReceived, s.bytesReceived]); } });
  stats.forEach(s => {
    if (s.type === "inbound-rtp" && s.kind === "video") out.frames += s.framesDecoded || 0;
    if (s.type === "inbound-rtp" && s.kind === "audio") out.audio = (out.audio || 0) + (s.bytesReceived || 0);
    if (s.type === "transport" && s.selectedCandidatePairId) {
      const pair = stats.get(s.selectedCandidatePairId);
      const local = pair && stats.get(pair.localCandidateId);
      out.relay = local && local.url;
      const remote = pair && stats.get(pair.remoteCandidateId);
      out.remote = remote && (remote.address + ":" + remote.port);
    }
  });
  done(out);
}, () => done(null));
"#;

async fn state(client: &Client) -> anyhow::Result<Value> {
    Ok(client.execute_async(STATE, vec![]).await?)
}

/// From `since` until both sides receive audio, and until both decode
/// video, through `turn`: a side counts once its path is on `turn` and the
/// count rose after that (the later side is the time).
async fn moved(
    visitor: &Client,
    advisor: &Client,
    turn: &str,
    since: Instant,
) -> anyhow::Result<(Duration, Duration)> {
    // [side][audio, video]: the count when the path got there, and when it rose.
    let mut first = [[None::<f64>; 2]; 2];
    let mut done = [[None::<Duration>; 2]; 2];
    loop {
        for (i, client) in [visitor, advisor].into_iter().enumerate() {
            let now = state(client).await?;
            if !now["relay"].as_str().unwrap_or("").contains(turn) {
                continue;
            }
            for (k, key) in ["audio", "frames"].into_iter().enumerate() {
                let count = now[key].as_f64().unwrap_or(0.0);
                match first[i][k] {
                    None => first[i][k] = Some(count),
                    Some(f) if count > f && done[i][k].is_none() => {
                        done[i][k] = Some(since.elapsed())
                    }
                    Some(_) => {}
                }
            }
        }
        if let [[Some(a1), Some(v1)], [Some(a2), Some(v2)]] = done {
            return Ok((a1.max(a2), v1.max(v2)));
        }
        if since.elapsed() > Duration::from_secs(30) {
            let (v, a) = (state(visitor).await?, state(advisor).await?);
            bail!("no media through {turn} within 30 s ({done:?}): visitor {v}, advisor {a}");
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
}

fn report(what: &str, times: &mut [f64]) {
    times.sort_by(f64::total_cmp);
    println!(
        "{what}\t{}\t{:.0}\t{:.0}\t{:.0}",
        times.len(),
        percentile(times, 50.0),
        times.first().copied().unwrap_or(0.0),
        times.last().copied().unwrap_or(0.0),
    );
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut driver = chromium::Driver::start().await?;
    let visitor = driver.browser().await?;
    let advisor = driver.browser().await?;
    let result = async {
        let mut current = node(&args, "bench-0")?;
        advisor.goto(&args.signin).await?;
        wait_for(&advisor, "document.getElementById('signin')", "the sign-in page").await?;
        run(&advisor, "document.getElementById('signin').click(); return true;").await?;
        wait_for(&advisor, "window.livecardConsole && window.livecardConsole.ws && window.livecardConsole.ws.readyState === 1", "the console").await?;
        visitor.goto(&args.card).await?;
        wait_for(
            &visitor,
            "document.querySelector('[data-start=\"video\"]') && !document.querySelector('[data-start=\"video\"]').disabled",
            "the video button",
        )
        .await?;
        run(&visitor, "document.querySelector('[data-start=\"video\"]').click(); return true;").await?;
        wait_for(&advisor, "document.querySelector('#rings [data-accept]')", "the ring").await?;
        run(&advisor, "document.querySelector('#rings [data-accept]').click(); return true;").await?;
        moved(&visitor, &advisor, &current.turn, Instant::now()).await?;
        let (mut kills, mut kills_video) = (Vec::new(), Vec::new());
        let (mut drains, mut drains_video) = (Vec::new(), Vec::new());
        for round in 0..args.kills + args.drains {
            // A killed node stays listed until its heartbeat ends (three
            // periods, 15 s on this machine): each move starts with only
            // live nodes listed, as a death on its own would.
            if round > 0 {
                tokio::time::sleep(Duration::from_secs(16)).await;
            }
            let next = node(&args, &format!("bench-{}", round + 1))?;
            // Its first heartbeat (the store must list it for the restart).
            tokio::time::sleep(Duration::from_millis(700)).await;
            // Drains first: after a death, Chromium's answering side may
            // keep its allocation on a draining node (docs/benchmarks.md).
            let drain = round < args.drains;
            let signal = if drain { "-TERM" } else { "-KILL" };
            Command::new("kill")
                .args([signal, &current.child.id().to_string()])
                .status()?;
            let signalled = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)?
                .as_millis() as i64;
            let (audio, video) = match moved(&visitor, &advisor, &next.turn, Instant::now()).await {
                Ok(times) => times,
                Err(err) => {
                    let metrics = reqwest::get(&next.metrics).await?.text().await?;
                    let lines: Vec<&str> = metrics
                        .lines()
                        .filter(|l| !l.starts_with('#') && !l.ends_with(" 0"))
                        .collect();
                    bail!("{err}\nthe new node's metrics: {lines:?}");
                }
            };
            let ms = audio.as_secs_f64() * 1000.0;
            let video_ms = video.as_secs_f64() * 1000.0;
            eprintln!(
                "{}\taudio {ms:.0} ms\tvideo {video_ms:.0} ms",
                if drain { "drain" } else { "kill" }
            );
            // A slow move: what each side's call went through (ms from the signal).
            if video_ms > 3000.0 {
                for (who, client) in [("visitor", &visitor), ("advisor", &advisor)] {
                    let trail = state(client).await?["trail"].clone();
                    let steps: Vec<String> = trail
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|e| Some((e[0].as_i64()? - signalled, e[1].as_str()?.to_owned())))
                        .filter(|(t, _)| *t >= 0)
                        .map(|(t, what)| format!("{t} {what}"))
                        .collect();
                    eprintln!("  {who}: {}", steps.join(", "));
                }
            }
            if drain {
                drains.push(ms);
                drains_video.push(video_ms);
            } else {
                kills.push(ms);
                kills_video.push(video_ms);
            }
            current = next;
        }
        let reasons = state(&visitor).await?["reasons"].clone();
        println!("what\tmoves\tp50_ms\tmin_ms\tmax_ms");
        report("kill (SIGKILL): audio", &mut kills);
        report("kill (SIGKILL): video", &mut kills_video);
        report("drain (SIGTERM): audio", &mut drains);
        report("drain (SIGTERM): video", &mut drains_video);
        println!("the visitor's restart reasons: {reasons}");
        drop(current);
        anyhow::Ok(())
    }
    .await;
    for client in [visitor, advisor] {
        let _ = client.close().await;
    }
    driver.stop();
    result
}
