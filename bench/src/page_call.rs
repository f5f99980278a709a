//! Call set-up through livecard's own pages: a visitor on a card page
//! presses "Start video call", the advisor's console (signed in, in another
//! Chromium) accepts at once, and the call counts as set up when both sides
//! have shown a first decoded frame of the other's video. Each call is
//! timed from the click to the later of the two frames; the visitor page is
//! fresh for every call (a new contact). The floor beside it, in the same
//! run: two peer connections in one page through the same media node (or
//! peer to peer), from getUserMedia to the first frame, with no signaling
//! server and no product page.
//!
//!   page-call --url http://127.0.0.1:8080 --card <card link> \
//!     --signin <sign-in link> --runs 20 [--turn 127.0.0.1:3478 --secret-file secrets.json]
//!
//! `scripts/bench-call-setup.sh` starts `livecard up` relay-only and then
//! peer to peer, and runs this against each.

use anyhow::{Context, bail};
use clap::Parser;
use fantoccini::Client;
use livecard_bench::chromium::{run, wait_for};
use livecard_bench::{chromium, percentile};

use std::time::{Duration, Instant};

#[derive(Parser)]
struct Args {
    #[command(flatten)]
    pages: chromium::PageArgs,
    #[arg(long, default_value_t = 20)]
    runs: usize,
}

/// Installed in both pages: the time each `video.lc-remote` first shows a
/// frame, and (visitor) the click.
const WATCH: &str = r#"
window.__bench = { t0: 0, frame: 0 };
if (!window.__benchTimer) window.__benchTimer = setInterval(function () {
  document.querySelectorAll("video.lc-remote").forEach(function (v) {
    if (v.dataset.benchHooked) return;
    v.dataset.benchHooked = "1";
    var hook = function () {
      v.requestVideoFrameCallback(function () {
        if (window.__bench.t0 && !window.__bench.frame && v.srcObject) window.__bench.frame = Date.now();
        else hook();
      });
    };
    hook();
  });
}, 5);
return true;
"#;

/// The live call's state on one side.
const STATE: &str = r#"
const done = arguments[arguments.length - 1];
const call = ((window.livecard && window.livecard.calls) || []).filter(c => c.pc).pop();
if (!call) { done({ frame: window.__bench.frame }); return; }
call.pc.getStats().then(stats => {
  let path = null;
  stats.forEach(s => {
    if (s.type === "transport" && s.selectedCandidatePairId) {
      const pair = stats.get(s.selectedCandidatePairId);
      const local = pair && stats.get(pair.localCandidateId);
      path = local && local.candidateType;
    }
  });
  done({ frame: window.__bench.frame, restarts: call.restarts, path });
}, () => done({ frame: window.__bench.frame }));
"#;

/// One call through the pages; its set-up time in milliseconds.
async fn page_call(
    visitor: &Client,
    advisor: &Client,
    card: &str,
) -> anyhow::Result<(f64, String)> {
    // A fresh visitor page: no contact kept from the last call.
    visitor.goto(card).await?;
    run(
        visitor,
        "localStorage.clear(); sessionStorage.clear(); return true;",
    )
    .await?;
    visitor.goto(card).await?;
    wait_for(
        visitor,
        "document.querySelector('[data-start=\"video\"]') && !document.querySelector('[data-start=\"video\"]').disabled",
        "the video button",
    )
    .await?;
    run(visitor, WATCH).await?;
    run(advisor, WATCH).await?;
    let t0: u64 = run(
        advisor,
        "const t = Date.now(); window.__bench.t0 = t; return t;",
    )
    .await?
    .as_u64()
    .context("t0")?;
    run(
        visitor,
        &format!("window.__bench.t0 = {t0}; document.querySelector('[data-start=\"video\"]').click(); return true;"),
    )
    .await?;
    let deadline = Instant::now() + Duration::from_secs(30);
    let (v, a) = loop {
        let v = visitor.execute_async(STATE, vec![]).await?;
        let a = advisor.execute_async(STATE, vec![]).await?;
        if v["frame"].as_u64().unwrap_or(0) > 0 && a["frame"].as_u64().unwrap_or(0) > 0 {
            break (v, a);
        }
        if Instant::now() > deadline {
            bail!("no frames on both sides within 30 s: visitor {v}, advisor {a}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let done = v["frame"]
        .as_u64()
        .unwrap_or(0)
        .max(a["frame"].as_u64().unwrap_or(0));
    for (side, state) in [("visitor", &v), ("advisor", &a)] {
        if state["restarts"].as_u64().unwrap_or(0) != 0 {
            bail!("{side}: the call needed an ICE restart: {state}");
        }
    }
    let path = v["path"].as_str().unwrap_or("?").to_owned();
    // Hang up: the advisor ends the contact, so their slot is free again.
    run(
        advisor,
        "document.querySelectorAll('.chat[data-state=\"connected\"] [data-hangup]').forEach(b => b.click()); return true;",
    )
    .await?;
    wait_for(
        advisor,
        "!document.querySelector('.chat[data-state=\"connected\"]')",
        "the contact ends",
    )
    .await?;
    Ok((done.saturating_sub(t0) as f64, path))
}

fn report(label: &str, times: &mut [f64]) {
    times.sort_by(f64::total_cmp);
    println!(
        "{label}\t{}\t{:.0}\t{:.0}",
        times.len(),
        percentile(times, 50.0),
        percentile(times, 90.0)
    );
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let secret = match (&args.pages.turn, &args.pages.secret_file) {
        (Some(_), Some(file)) => Some(chromium::turn_secret(file)?),
        (Some(_), None) => bail!("--turn needs --secret-file"),
        _ => None,
    };
    let floor_port = chromium::serve_floor_page()?;
    let mut driver = chromium::Driver::start().await?;
    let visitor = driver.browser().await?;
    let advisor = driver.browser().await?;
    let floor = driver.browser().await?;
    let result = async {
        chromium::sign_in_accepting(&advisor, &args.pages.signin).await?;
        floor
            .goto(&format!("http://127.0.0.1:{floor_port}/"))
            .await?;
        let mut pages = Vec::new();
        let mut floors = Vec::new();
        let mut paths = std::collections::BTreeMap::<String, usize>::new();
        // One warm-up of each, not counted (Chromium's first getUserMedia
        // starts the fake devices), then the two interleaved.
        for round in 0..=args.runs {
            let (ms, path) = page_call(&visitor, &advisor, &args.pages.card).await?;
            let relay = chromium::floor_relay(args.pages.turn.as_deref(), secret.as_deref())?;
            let relay = relay
                .as_ref()
                .map(|(a, u, p)| (a.as_str(), u.as_str(), p.as_str()));
            let value = chromium::measure_floor(&floor, relay).await?;
            let Some(floor_ms) = value["ms"].as_f64() else {
                bail!("floor: {value}");
            };
            if round > 0 {
                pages.push(ms);
                floors.push(floor_ms);
                *paths.entry(path).or_default() += 1;
            }
        }
        println!("what\tcalls\tp50_ms\tp90_ms");
        report(&format!("{} pages", args.pages.label), &mut pages);
        report(&format!("{} floor", args.pages.label), &mut floors);
        println!("paths (visitor's selected candidate): {paths:?}");
        let ratio = percentile(&pages, 50.0) / percentile(&floors, 50.0).max(1.0);
        println!("{} pages / floor (p50): {ratio:.2}", args.pages.label);
        anyhow::Ok(())
    }
    .await;
    for client in [visitor, advisor, floor] {
        let _ = client.close().await;
    }
    driver.stop();
    result
}
