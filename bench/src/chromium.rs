//! Headless Chromium for the call benches: chromedriver, sessions with a
//! fake camera and microphone, and the floor page (two peer connections in
//! one page, the offer and answer passed in the page: what a call costs
//! with no signaling server and no product page around it).

use anyhow::Context;
use fantoccini::{Client, ClientBuilder};
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// chromedriver on a free loopback port, and the profiles of its sessions.
pub struct Driver {
    child: Child,
    url: String,
    profiles: Vec<PathBuf>,
}

impl Driver {
    pub async fn start() -> anyhow::Result<Self> {
        let port = {
            let probe = TcpListener::bind("127.0.0.1:0")?;
            probe.local_addr()?.port()
        };
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("chromedriver (Debian chromium-driver)")?;
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
            profiles: Vec::new(),
        })
    }

    /// A new headless Chromium with fake media devices and a fresh profile.
    pub async fn browser(&mut self) -> anyhow::Result<Client> {
        let profile = std::env::temp_dir().join(format!(
            "livecard-bench-{}-{}",
            std::process::id(),
            self.profiles.len()
        ));
        let mut args: Vec<String> = [
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
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.push(format!("--user-data-dir={}", profile.display()));
        self.profiles.push(profile);
        let mut caps = serde_json::Map::new();
        caps.insert("goog:chromeOptions".into(), json!({ "args": args }));
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&self.url)
            .await
            .context("a Chromium session")
    }

    pub fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        for profile in &self.profiles {
            let _ = std::fs::remove_dir_all(profile);
        }
    }
}

const FLOOR_PAGE: &str = r#"<!doctype html><meta charset="utf-8"><title>call setup floor</title>
<video id="v" autoplay playsinline muted></video>
<script>
window.measure = async function (turn, username, credential) {
  const config = turn
    ? { iceServers: [{ urls: ["turn:" + turn + "?transport=udp"], username, credential }], iceTransportPolicy: "relay" }
    : { iceServers: [] };
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

/// The floor of a file transfer: two peer connections in one page, one
/// `RTCDataChannel`, the bytes sent in 16 KiB messages paced by
/// `bufferedAmount` as livecard's data link paces them, and nothing else
/// (no checksum, no signaling server, no product page).
const DATA_FLOOR_PAGE: &str = r#"<!doctype html><meta charset="utf-8"><title>data channel floor</title>
<script>
window.measureData = async function (turn, username, credential, bytes) {
  const config = turn
    ? { iceServers: [{ urls: ["turn:" + turn + "?transport=udp"], username, credential }], iceTransportPolicy: "relay" }
    : { iceServers: [] };
  const a = new RTCPeerConnection(config), b = new RTCPeerConnection(config);
  a.onicecandidate = e => e.candidate && b.addIceCandidate(e.candidate);
  b.onicecandidate = e => e.candidate && a.addIceCandidate(e.candidate);
  const ch = a.createDataChannel("bench", { ordered: true });
  ch.binaryType = "arraybuffer";
  const got = new Promise(resolve => {
    b.ondatachannel = e => {
      let n = 0;
      e.channel.binaryType = "arraybuffer";
      e.channel.onmessage = m => { n += m.data.byteLength; if (n >= bytes) resolve(performance.now()); };
    };
  });
  const open = new Promise(resolve => { ch.onopen = resolve; });
  const offer = await a.createOffer();
  await a.setLocalDescription(offer);
  await b.setRemoteDescription(offer);
  const answer = await b.createAnswer();
  await b.setLocalDescription(answer);
  await a.setRemoteDescription(answer);
  await open;
  const data = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i += 65536) crypto.getRandomValues(data.subarray(i, Math.min(i + 65536, bytes)));
  const t0 = performance.now();
  ch.bufferedAmountLowThreshold = 262144;
  await new Promise(resolve => {
    let offset = 0;
    const next = () => {
      while (offset < bytes && ch.bufferedAmount <= 1048576) {
        ch.send(data.subarray(offset, Math.min(offset + 16384, bytes)));
        offset += 16384;
      }
      if (offset >= bytes) resolve();
    };
    ch.onbufferedamountlow = next;
    next();
  });
  const t1 = await Promise.race([got, new Promise((_, reject) => setTimeout(() => reject(new Error("not all bytes in 60 s")), 60000))]);
  let local = null;
  const stats = await b.getStats();
  stats.forEach(s => {
    if (s.type === "transport" && s.selectedCandidatePairId) {
      const pair = stats.get(s.selectedCandidatePairId);
      local = pair && stats.get(pair.localCandidateId);
    }
  });
  a.close(); b.close();
  return { ms: t1 - t0, path: local && local.candidateType };
};
</script>"#;

/// Serves the floor pages on a loopback port (a secure context for
/// getUserMedia): the call's at `/`, the data channel's at `/data`;
/// returns the port.
pub fn serve_floor_page() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut stream = stream;
            let mut buf = [0u8; 4096];
            let n = stream.read(&mut buf).unwrap_or(0);
            let page = if buf[..n].starts_with(b"GET /data ") {
                DATA_FLOOR_PAGE
            } else {
                FLOOR_PAGE
            };
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                page.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(page.as_bytes());
        }
    });
    Ok(port)
}

/// One transfer of `bytes` on the data channel floor page, through `relay`
/// (`host:port`, username, credential) or peer to peer. `{ms, path}` or
/// `{error}`.
pub async fn measure_data_floor(
    client: &Client,
    relay: Option<(&str, &str, &str)>,
    bytes: u64,
) -> anyhow::Result<Value> {
    let mut args = match relay {
        Some((addr, username, credential)) => vec![json!(addr), json!(username), json!(credential)],
        None => vec![Value::Null, Value::Null, Value::Null],
    };
    args.push(json!(bytes));
    Ok(client
        .execute_async(
            "const done = arguments[arguments.length - 1]; window.measureData(arguments[0], arguments[1], arguments[2], arguments[3]).then(done, e => done({ error: String(e) }));",
            args,
        )
        .await?)
}

/// One call on the floor page: from getUserMedia to the receiver's first
/// decoded frame, through `relay` (`host:port`, username, credential) or
/// peer to peer. `{ms, path}` or `{error}`.
pub async fn measure_floor(
    client: &Client,
    relay: Option<(&str, &str, &str)>,
) -> anyhow::Result<Value> {
    let args = match relay {
        Some((addr, username, credential)) => vec![json!(addr), json!(username), json!(credential)],
        None => vec![Value::Null, Value::Null, Value::Null],
    };
    Ok(client
        .execute_async(
            "const done = arguments[arguments.length - 1]; window.measure(arguments[0], arguments[1], arguments[2]).then(done, e => done({ error: String(e) }));",
            args,
        )
        .await?)
}

/// Runs `script` in the page; its value.
pub async fn run(client: &Client, script: &str) -> anyhow::Result<Value> {
    Ok(client.execute(script, vec![]).await?)
}

/// Waits (up to 30 s) until `condition` holds in the page.
pub async fn wait_for(client: &Client, condition: &str, what: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if run(client, &format!("return !!({condition});")).await? == json!(true) {
            return Ok(());
        }
        if Instant::now() > deadline {
            anyhow::bail!("{what}: not within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The console accepts every ring the moment it shows (a person's reaction
/// time is not the product's).
pub const AUTO_ACCEPT: &str = r##"
if (!window.__benchAccept) {
  window.__benchAccept = new MutationObserver(function () {
    document.querySelectorAll("#rings [data-accept]").forEach(function (b) { if (!b.dataset.benchClicked) { b.dataset.benchClicked = "1"; b.click(); } });
  });
  window.__benchAccept.observe(document.body, { childList: true, subtree: true });
}
return true;
"##;

/// Signs an advisor in with their one-time link and waits for the
/// console's socket; then the console accepts every ring at once.
pub async fn sign_in_accepting(advisor: &Client, link: &str) -> anyhow::Result<()> {
    advisor.goto(link).await?;
    wait_for(
        advisor,
        "document.getElementById('signin')",
        "the sign-in page",
    )
    .await?;
    run(
        advisor,
        "document.getElementById('signin').click(); return true;",
    )
    .await?;
    wait_for(advisor, "document.getElementById('console')", "the console").await?;
    wait_for(
        advisor,
        "window.livecardConsole.ws && window.livecardConsole.ws.readyState === 1",
        "the console socket",
    )
    .await?;
    run(advisor, AUTO_ACCEPT).await?;
    Ok(())
}

/// The TURN secret of a `livecard up` data directory's `secrets.json`, for
/// the floors' relayed connections.
pub fn turn_secret(path: &std::path::Path) -> anyhow::Result<Vec<u8>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
    let document = livecard_app::secrets::SecretsDocument::from_json(&text)?;
    let secrets = document.into_secrets()?;
    secrets.turn_secret.context("no turn_secret")
}

/// Credentials for a floor through the media node at `turn` (none: the
/// floor is peer to peer): (`host:port`, username, password), five minutes.
pub fn floor_relay(
    turn: Option<&str>,
    secret: Option<&[u8]>,
) -> anyhow::Result<Option<(String, String, String)>> {
    let (Some(addr), Some(secret)) = (turn, secret) else {
        return Ok(None);
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as u64;
    let c = livecard_core::turn::issue(secret, "bench", now, 300_000)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(Some((addr.to_owned(), c.username, c.password)))
}

/// What the page benches are told: the advisor's links, and the media node
/// for the floor.
#[derive(clap::Args)]
pub struct PageArgs {
    /// The card link of an advisor (who offers video, for calls).
    #[arg(long)]
    pub card: String,
    /// A one-time sign-in link of the same advisor.
    #[arg(long)]
    pub signin: String,
    /// The media node's TURN address for the floor's relayed runs (none:
    /// the floor is peer to peer).
    #[arg(long)]
    pub turn: Option<String>,
    /// The data directory's secrets.json (the TURN secret, for the floor).
    #[arg(long)]
    pub secret_file: Option<std::path::PathBuf>,
    /// A label for the output (relay-only, p2p).
    #[arg(long, default_value = "livecard")]
    pub label: String,
}
