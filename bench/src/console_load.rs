//! The advisor console's first load with many conversations open: an
//! advisor has N chats connected (each with a few messages; N is at most an
//! advisor's capacity, 50) and M more under Recent (ended ones);
//! their console (headless Chromium) is loaded afresh, and the load is
//! timed from navigation (the browser's cache emptied: a first load) to
//! interactive: the socket open, every
//! conversation listed and every transcript replayed. What the load moved
//! is counted too: the page, its assets and API calls (Resource Timing's
//! transfer sizes) and the signaling socket's frames (counted by a wrapper
//! installed before the page's scripts run, through Chromium's DevTools
//! protocol). Beside it, in the same run, an advisor with one conversation.
//!
//!   console-load --url http://127.0.0.1:8080 --data-dir <livecard data dir> \
//!     --active 50 --recent 50 --messages 5 --runs 5
//!
//! The server must allow the contact requests (`LIVECARD_CONTACT_LIMIT`);
//! `scripts/bench-console.sh` starts it so.

use anyhow::{Context, bail};
use clap::Parser;
use fantoccini::Client;
use futures_util::{SinkExt, StreamExt};
use livecard_bench::chromium::{run, wait_for};
use livecard_bench::{chromium, percentile};
use serde_json::{Value, json};
use std::time::Duration;

#[derive(Parser)]
struct Args {
    #[arg(long)]
    url: String,
    /// The data directory of the `livecard up` at `url` (its admin key).
    #[arg(long)]
    data_dir: std::path::PathBuf,
    /// Connected conversations (at most 50, an advisor's largest capacity).
    #[arg(long, default_value_t = 50)]
    active: usize,
    /// Ended conversations under Recent.
    #[arg(long, default_value_t = 50)]
    recent: usize,
    /// Chat messages the visitor sent in each conversation.
    #[arg(long, default_value_t = 5)]
    messages: usize,
    #[arg(long, default_value_t = 5)]
    runs: usize,
}

/// A DevTools protocol command through chromedriver.
#[derive(Debug)]
struct Cdp(&'static str, Value);

impl fantoccini::wd::WebDriverCompatibleCommand for Cdp {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/goog/cdp/execute",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        let body = json!({ "cmd": self.0, "params": self.1 });
        (http::Method::POST, Some(body.to_string()))
    }
}

/// Counts the bytes of every frame the page's WebSockets receive.
const COUNT_WS: &str = r#"
window.__wsBytes = 0;
(function () {
  const Native = window.WebSocket;
  window.WebSocket = function (url, protocols) {
    const socket = protocols === undefined ? new Native(url) : new Native(url, protocols);
    socket.addEventListener("message", function (e) {
      window.__wsBytes += typeof e.data === "string" ? new TextEncoder().encode(e.data).length : (e.data.byteLength || e.data.size || 0);
      if (typeof e.data === "string" && e.data.indexOf('"error"') >= 0) (window.__wsErrors = window.__wsErrors || []).push(e.data.slice(0, 300));
    });
    return socket;
  };
  window.WebSocket.prototype = Native.prototype;
  window.WebSocket.OPEN = Native.OPEN;
})();
"#;

/// Whether the console is interactive, with the time and bytes so far.
const STATE: &str = r#"
const c = window.livecardConsole;
const listed = document.querySelectorAll('#active [data-open]').length;
const recent = document.querySelectorAll('#recent [data-open]').length;
const open = !!(c && c.ws && c.ws.readyState === 1);
let http = 0;
performance.getEntriesByType('navigation').concat(performance.getEntriesByType('resource')).forEach(e => { http += e.transferSize || 0; });
return { listed, recent, open, replaying: c ? c.replaying : -1, at: performance.now(), http, ws: window.__wsBytes || 0 };
"#;

async fn admin(url: &str, key: &str, path: &str, body: Value) -> anyhow::Result<Value> {
    let response = reqwest::Client::new()
        .post(format!("{url}{path}"))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await?;
    let status = response.status();
    let value: Value = response.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        bail!("{path}: {status} {value}");
    }
    Ok(value)
}

/// An advisor signed in in `browser` (accepting every ring) with `ended`
/// chats that ended (under Recent) and then `n` connected; the visitors'
/// sockets stay open.
async fn advisor_with(
    args: &Args,
    key: &str,
    browser: &Client,
    id: &str,
    n: usize,
    ended: usize,
) -> anyhow::Result<Vec<tokio::task::JoinHandle<()>>> {
    admin(
        &args.url,
        key,
        "/api/v1/advisors",
        json!({ "id": id, "display_name": format!("Bench {id}"), "title": "Bench", "languages": ["en"],
                "topics": ["bench"], "channels": ["chat"], "capacity": n.max(1) }),
    )
    .await?;
    let link = admin(
        &args.url,
        key,
        &format!("/api/v1/advisors/{id}/signin-links"),
        json!({}),
    )
    .await?;
    let link = link["url"].as_str().context("sign-in url")?.to_owned();
    chromium::sign_in_accepting(browser, &link).await?;
    // A new advisor starts offline: they say they are available.
    run(
        browser,
        "document.querySelector('[data-set-all=\"available\"]').click(); return true;",
    )
    .await?;
    wait_for(
        browser,
        "document.getElementById('me-status').textContent.length > 0",
        "available",
    )
    .await?;
    let http = reqwest::Client::new();
    let mut visitors = Vec::new();
    for i in 0..ended + n {
        let answer: Value = http
            .post(format!("{}/api/v1/contacts", args.url))
            .json(
                &json!({ "advisor": id, "origin": "widget", "page": "https://shop.example/bench" }),
            )
            .send()
            .await?
            .json()
            .await?;
        let session = answer["session"].as_str().context("session")?.to_owned();
        let token = answer["token"].as_str().context("token")?.to_owned();
        let ws = answer["ws"].as_str().context("ws")?.to_owned();
        let (mut socket, _) = tokio_tungstenite::connect_async(ws.as_str()).await?;
        socket
            .send(
                json!({"v":1,"type":"join","session":session,"token":token})
                    .to_string()
                    .into(),
            )
            .await?;
        // Wait until the console accepted (connected), then write.
        loop {
            let Some(frame) = socket.next().await else {
                bail!("visitor {i}: socket closed");
            };
            let text = frame?.into_text().unwrap_or_default();
            if text.contains("\"state\":\"connected\"") {
                break;
            }
        }
        for m in 0..args.messages {
            socket
                .send(
                    json!({"v":1,"type":"chat","session":session,"id":format!("m{m}"),
                           "text":format!("Question {m} of visitor {i}: is the offer still valid?")})
                    .to_string()
                    .into(),
                )
                .await?;
        }
        if i < ended {
            socket
                .send(
                    json!({"v":1,"type":"hangup","session":session})
                        .to_string()
                        .into(),
                )
                .await?;
            wait_for(
                browser,
                &format!(
                    "document.querySelectorAll('#recent [data-open]').length === {}",
                    i + 1
                ),
                "the ended conversation under Recent",
            )
            .await?;
            continue;
        }
        // Keep the socket (and so the visitor) there, reading what comes.
        visitors.push(tokio::spawn(async move {
            while let Some(Ok(_)) = socket.next().await {}
        }));
    }
    wait_for(
        browser,
        &format!("document.querySelectorAll('#active [data-open]').length === {n}"),
        "every conversation in the console",
    )
    .await?;
    Ok(visitors)
}

/// One first load of the console (the browser's cache emptied first): (ms
/// to interactive, HTTP bytes, WS bytes).
async fn load(
    browser: &Client,
    url: &str,
    n: usize,
    ended: usize,
) -> anyhow::Result<(f64, f64, f64)> {
    browser
        .issue_cmd(Cdp("Network.clearBrowserCache", json!({})))
        .await?;
    browser.goto(&format!("{url}/me")).await?;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let s = run(browser, STATE).await?;
        if s["listed"].as_u64() == Some(n as u64)
            && s["recent"].as_u64() == Some(ended as u64)
            && s["open"] == json!(true)
            && s["replaying"] == json!(0)
        {
            return Ok((
                s["at"].as_f64().unwrap_or(0.0),
                s["http"].as_f64().unwrap_or(0.0),
                s["ws"].as_f64().unwrap_or(0.0),
            ));
        }
        if std::time::Instant::now() > deadline {
            // What the socket refused says why (a rate limit, a session).
            let refused = run(browser, "return window.__wsErrors || [];").await?;
            bail!("not interactive within 60 s: {s}; refused: {refused}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let key = std::fs::read_to_string(args.data_dir.join("admin.key"))
        .context("admin.key in the data directory")?;
    let key = key.trim().to_owned();
    let mut driver = chromium::Driver::start().await?;
    let many = driver.browser().await?;
    let one = driver.browser().await?;
    let result = async {
        for browser in [&many, &one] {
            // Before the page's own scripts, on every load.
            browser
                .issue_cmd(Cdp(
                    "Page.addScriptToEvaluateOnNewDocument",
                    json!({ "source": COUNT_WS }),
                ))
                .await?;
        }
        let _many =
            advisor_with(&args, &key, &many, "bench-many", args.active, args.recent).await?;
        let _one = advisor_with(&args, &key, &one, "bench-one", 1, 0).await?;
        let (mut t_many, mut t_one) = (Vec::new(), Vec::new());
        let (mut bytes_many, mut bytes_one) = ((0.0, 0.0), (0.0, 0.0));
        // One load of each first, not counted (Chromium warms up).
        for round in 0..=args.runs {
            let m = load(&many, &args.url, args.active, args.recent).await?;
            let o = load(&one, &args.url, 1, 0).await?;
            if round > 0 {
                t_many.push(m.0);
                t_one.push(o.0);
                bytes_many = (m.1, m.2);
                bytes_one = (o.1, o.2);
            }
        }
        t_many.sort_by(f64::total_cmp);
        t_one.sort_by(f64::total_cmp);
        println!("conversations (active+recent)\tloads\tp50_ms\tp90_ms\thttp_bytes\tws_bytes");
        let many_label = format!("{}+{}", args.active, args.recent);
        for (n, times, bytes) in [
            (many_label.as_str(), &t_many, bytes_many),
            ("1+0", &t_one, bytes_one),
        ] {
            println!(
                "{n}\t{}\t{:.0}\t{:.0}\t{:.0}\t{:.0}",
                times.len(),
                percentile(times, 50.0),
                percentile(times, 90.0),
                bytes.0,
                bytes.1
            );
        }
        println!(
            "{many_label} / 1 conversation (p50): {:.2}",
            percentile(&t_many, 50.0) / percentile(&t_one, 50.0).max(1.0)
        );
        anyhow::Ok(())
    }
    .await;
    for client in [many, one] {
        let _ = client.close().await;
    }
    driver.stop();
    result
}
