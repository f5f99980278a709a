//! Call set-up time through a TURN relay, in headless Chromium with a fake
//! camera: from `getUserMedia` to the first decoded video frame on the
//! receiving side, with `iceTransportPolicy: "relay"` so the media must go
//! through the server under test. Two peer connections in one page, the
//! offer and answer exchanged in the page (no signaling server in the
//! measurement). Runs the servers named on the command line in turn,
//! interleaved, and prints the median and p90 per server.
//!
//!   call-setup --server livecard=127.0.0.1:3478 --server coturn=127.0.0.1:3479 \
//!     --secret <shared secret> --runs 20
//!
//! `scripts/bench-turn.sh` starts both servers and runs this after the
//! relay load.

use anyhow::{Context, bail};
use clap::Parser;
use fantoccini::{Client, ClientBuilder};
use livecard_bench::percentile;
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[derive(Parser)]
struct Args {
    /// `name=host:port` of a TURN server (repeat).
    #[arg(long = "server", required = true)]
    servers: Vec<String>,
    /// The TURN REST API shared secret (as text) both servers use.
    #[arg(long)]
    secret: String,
    #[arg(long, default_value_t = 20)]
    runs: usize,
}

const PAGE: &str = r#"<!doctype html><meta charset="utf-8"><title>call setup</title>
<video id="v" autoplay playsinline muted></video>
<script>
window.measure = async function (turn, username, credential) {
  const config = { iceServers: [{ urls: ["turn:" + turn + "?transport=udp"], username, credential }], iceTransportPolicy: "relay" };
  const a = new RTCPeerConnection(config), b = new RTCPeerConnection(config);
  a.onicecandidate = e => e.candidate && b.addIceCandidate(e.candidate);
  b.onicecandidate = e => e.candidate && a.addIceCandidate(e.candidate);
  const v = document.getElementById("v");
  const t0 = performance.now();
  const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
  const firstFrame = new Promise(resolve => {
    b.ontrack = e => {
      if (e.track.kind !== "video") return;
      v.srcObject = new MediaStream([e.track]);
      v.requestVideoFrameCallback(() => resolve(performance.now()));
    };
  });
  stream.getTracks().forEach(t => a.addTrack(t, stream));
  const offer = await a.createOffer();
  await a.setLocalDescription(offer);
  await b.setRemoteDescription(offer);
  const answer = await b.createAnswer();
  await b.setLocalDescription(answer);
  await a.setRemoteDescription(answer);
  const timeout = new Promise((_, reject) => setTimeout(() => reject(new Error("no frame in 20 s")), 20000));
  const t1 = await Promise.race([firstFrame, timeout]);
  let local = null;
  const stats = await b.getStats();
  stats.forEach(s => {
    if (s.type === "transport" && s.selectedCandidatePairId) {
      const pair = stats.get(s.selectedCandidatePairId);
      local = pair && stats.get(pair.localCandidateId);
    }
  });
  stream.getTracks().forEach(t => t.stop());
  a.close(); b.close();
  return { ms: t1 - t0, path: local && local.candidateType };
};
</script>"#;

/// Serves the page on a loopback port (a secure context for getUserMedia).
fn serve_page() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut stream = stream;
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                PAGE.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(PAGE.as_bytes());
        }
    });
    Ok(port)
}

async fn browser(driver_url: &str, profile: &std::path::Path) -> anyhow::Result<Client> {
    let args = [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
        "--autoplay-policy=no-user-gesture-required",
    ];
    let mut list: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    list.push(format!("--user-data-dir={}", profile.display()));
    let mut caps = serde_json::Map::new();
    caps.insert("goog:chromeOptions".into(), json!({ "args": list }));
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(driver_url)
        .await
        .context("a Chromium session")
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut servers = Vec::new();
    for s in &args.servers {
        let Some((name, addr)) = s.split_once('=') else {
            bail!("--server is name=host:port, not {s}");
        };
        servers.push((name.to_owned(), addr.to_owned(), Vec::<f64>::new()));
    }
    let page_port = serve_page()?;
    let driver_port = {
        let probe = TcpListener::bind("127.0.0.1:0")?;
        probe.local_addr()?.port()
    };
    let mut driver = Command::new("chromedriver")
        .arg(format!("--port={driver_port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("chromedriver (Debian chromium-driver)")?;
    let driver_url = format!("http://127.0.0.1:{driver_port}");
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", driver_port)).is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let profile = std::env::temp_dir().join(format!("livecard-call-setup-{}", std::process::id()));
    let client = browser(&driver_url, &profile).await?;
    client
        .goto(&format!("http://127.0.0.1:{page_port}/"))
        .await?;
    let result = async {
        // One warm-up per server, not counted (Chromium's first getUserMedia
        // starts the fake devices).
        for round in 0..=args.runs {
            for (name, addr, times) in servers.iter_mut() {
                let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() as u64;
                let cred = livecard_core::turn::issue(args.secret.as_bytes(), "bench", now, 300_000)
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                let value: Value = client
                    .execute_async(
                        "const done = arguments[arguments.length - 1]; window.measure(arguments[0], arguments[1], arguments[2]).then(done, e => done({ error: String(e) }));",
                        vec![json!(addr), json!(cred.username), json!(cred.password)],
                    )
                    .await?;
                let Some(ms) = value["ms"].as_f64() else {
                    bail!("{name}: {value}");
                };
                if value["path"] != "relay" {
                    bail!("{name}: the media did not go through the relay: {value}");
                }
                if round > 0 {
                    times.push(ms);
                }
            }
        }
        Ok(())
    }
    .await;
    let _ = client.close().await;
    let _ = driver.kill();
    let _ = std::fs::remove_dir_all(&profile);
    result?;
    println!("server\truns\tp50_ms\tp90_ms");
    for (name, _, times) in &mut servers {
        times.sort_by(f64::total_cmp);
        println!(
            "{name}\t{}\t{:.1}\t{:.1}",
            times.len(),
            percentile(times, 50.0),
            percentile(times, 90.0)
        );
    }
    Ok(())
}
