//! File transfer through livecard's own pages: a visitor on a card page in
//! a chat with the advisor's console (signed in, in another Chromium) sends
//! a file over the data link (call.js, `LivecardLink`); each transfer is
//! timed from `send()` to the sender learning that the receiver checked it
//! (the sender's SHA-256, the bytes, the receiver's SHA-256 and its answer).
//! The floor beside it, in the same run: one `RTCDataChannel` between two
//! peer connections in one page through the same media node (or peer to
//! peer), the same bytes paced the same way, with no checksum, no
//! signaling server and no product page.
//!
//!   file-transfer --card <card link> --signin <sign-in link> --mb 20 --runs 5 \
//!     [--turn 127.0.0.1:3478 --secret-file secrets.json]
//!
//! `scripts/bench-files.sh` starts `livecard up` relay-only and then peer to
//! peer, and runs this against each.

use anyhow::bail;
use clap::Parser;
use livecard_bench::chromium::{run, wait_for};
use livecard_bench::{chromium, percentile};

#[derive(Parser)]
struct Args {
    #[command(flatten)]
    pages: chromium::PageArgs,
    /// The file's size in MB (the deployment allows 25 by default).
    #[arg(long, default_value_t = 20)]
    mb: u64,
    #[arg(long, default_value_t = 5)]
    runs: usize,
}

/// One file of `bytes` random bytes from the visitor's page over the data
/// link: `{ms, path}` or `{error}`.
const SEND: &str = r#"
const done = arguments[arguments.length - 1];
const bytes = arguments[0], name = arguments[1];
const link = (window.livecard.links || []).filter(l => l.pc).pop() || window.livecard.links[0];
const data = new Uint8Array(bytes);
for (let i = 0; i < bytes; i += 65536) crypto.getRandomValues(data.subarray(i, Math.min(i + 65536, bytes)));
const file = new File([data], name);
const t0 = performance.now();
link.send(file).then(tr => {
  if (!tr) { done({ error: "refused" }); return; }
  const look = () => {
    if (tr.state === "sent") {
      const ms = performance.now() - t0;
      link.pc.getStats().then(stats => {
        let path = null;
        stats.forEach(s => {
          if (s.type === "transport" && s.selectedCandidatePairId) {
            const pair = stats.get(s.selectedCandidatePairId);
            const local = pair && stats.get(pair.localCandidateId);
            path = local && local.candidateType;
          }
        });
        done({ ms, path });
      });
    } else if (tr.state === "sending" || tr.state === "checking") setTimeout(look, 5);
    else done({ error: tr.state });
  };
  look();
}, e => done({ error: String(e) }));
"#;

fn report(label: &str, mb: u64, times: &mut [f64]) -> f64 {
    times.sort_by(f64::total_cmp);
    let p50 = percentile(times, 50.0);
    println!(
        "{label}\t{}\t{:.0}\t{:.1}",
        times.len(),
        p50,
        mb as f64 / (p50 / 1000.0)
    );
    p50
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let secret = match (&args.pages.turn, &args.pages.secret_file) {
        (Some(_), Some(file)) => Some(chromium::turn_secret(file)?),
        (Some(_), None) => bail!("--turn needs --secret-file"),
        _ => None,
    };
    let bytes = args.mb * 1_000_000;
    let floor_port = chromium::serve_floor_page()?;
    let mut driver = chromium::Driver::start().await?;
    let visitor = driver.browser().await?;
    let advisor = driver.browser().await?;
    let floor = driver.browser().await?;
    let result = async {
        chromium::sign_in_accepting(&advisor, &args.pages.signin).await?;
        visitor.goto(&args.pages.card).await?;
        wait_for(
            &visitor,
            "document.querySelector('[data-start=\"chat\"]') && !document.querySelector('[data-start=\"chat\"]').disabled",
            "the chat button",
        )
        .await?;
        run(
            &visitor,
            "document.querySelector('[data-start=\"chat\"]').click(); return true;",
        )
        .await?;
        wait_for(
            &visitor,
            "document.querySelector('.lcw').dataset.state === 'connected'",
            "the chat",
        )
        .await?;
        // The data link is made with the first file (through the widget's
        // file input): a warm-up, not counted; so is the floor's first run.
        let mut pages = Vec::new();
        let mut floors = Vec::new();
        let (mut receive, mut check) = (Vec::new(), Vec::new());
        let mut paths = std::collections::BTreeMap::<String, usize>::new();
        for round in 0..=args.runs {
            if round == 0 {
                // The widget makes its link on the first file it sends.
                run(
                    &visitor,
                    "const i = document.querySelector('[data-file-input]'); const dt = new DataTransfer(); dt.items.add(new File([new Uint8Array(1000)], 'warm.pdf')); i.files = dt.files; i.dispatchEvent(new Event('change')); return true;",
                )
                .await?;
                wait_for(
                    &advisor,
                    "(window.livecard.links || []).some(l => Object.values(l.transfers).some(t => t.name === 'warm.pdf' && t.state === 'received'))",
                    "the warm-up file",
                )
                .await?;
            }
            let name = format!("bench-{round}.pdf");
            let page = visitor
                .execute_async(SEND, vec![bytes.into(), name.clone().into()])
                .await?;
            let Some(ms) = page["ms"].as_f64() else {
                bail!("page: {page}");
            };
            // The receiver's side of it: the bytes, then the checksum.
            let times = run(
                &advisor,
                &format!("return (window.livecard.links || []).map(l => l.transfers).map(t => Object.values(t).find(x => x.name === {name:?})).filter(Boolean).map(t => t.times)[0] || null;"),
            )
            .await?;
            let relay = chromium::floor_relay(args.pages.turn.as_deref(), secret.as_deref())?;
            let relay = relay
                .as_ref()
                .map(|(a, u, p)| (a.as_str(), u.as_str(), p.as_str()));
            floor
                .goto(&format!("http://127.0.0.1:{floor_port}/data"))
                .await?;
            let value = chromium::measure_data_floor(&floor, relay, bytes).await?;
            let Some(floor_ms) = value["ms"].as_f64() else {
                bail!("floor: {value}");
            };
            if round > 0 {
                let at = |k: &str| times[k].as_f64().unwrap_or(0.0);
                receive.push(at("bytes") - at("offer"));
                check.push(at("checked") - at("bytes"));
                pages.push(ms);
                floors.push(floor_ms);
                *paths
                    .entry(page["path"].as_str().unwrap_or("?").to_owned())
                    .or_default() += 1;
            }
        }
        println!("what\tfiles\tp50_ms\tMB/s (p50)");
        let page = report(&format!("{} pages", args.pages.label), args.mb, &mut pages);
        let floor = report(&format!("{} floor", args.pages.label), args.mb, &mut floors);
        println!("paths (visitor's data link): {paths:?}");
        receive.sort_by(f64::total_cmp);
        check.sort_by(f64::total_cmp);
        println!(
            "receiver (p50): offer to last byte {:.0} ms, last byte to checked (reassembly and SHA-256) {:.0} ms",
            percentile(&receive, 50.0),
            percentile(&check, 50.0)
        );
        println!(
            "{} pages / floor (time, p50): {:.2}",
            args.pages.label,
            page / floor.max(1.0)
        );
        anyhow::Ok(())
    }
    .await;
    for client in [visitor, advisor, floor] {
        let _ = client.close().await;
    }
    driver.stop();
    result
}
