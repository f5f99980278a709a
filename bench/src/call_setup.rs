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

use anyhow::bail;
use clap::Parser;
use livecard_bench::{chromium, percentile};
use std::time::{SystemTime, UNIX_EPOCH};

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
    let page_port = chromium::serve_floor_page()?;
    let mut driver = chromium::Driver::start().await?;
    let client = driver.browser().await?;
    client
        .goto(&format!("http://127.0.0.1:{page_port}/"))
        .await?;
    let result = async {
        // One warm-up per server, not counted (Chromium's first getUserMedia
        // starts the fake devices).
        for round in 0..=args.runs {
            for (name, addr, times) in servers.iter_mut() {
                let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() as u64;
                let cred =
                    livecard_core::turn::issue(args.secret.as_bytes(), "bench", now, 300_000)
                        .map_err(|e| anyhow::anyhow!("{e}"))?;
                let value = chromium::measure_floor(
                    &client,
                    Some((
                        addr.as_str(),
                        cred.username.as_str(),
                        cred.password.as_str(),
                    )),
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
    driver.stop();
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
