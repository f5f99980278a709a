//! Report generation for a million events (goal: under 5 s on the bench
//! machine). Two figures:
//!
//! 1. The core alone: a `ReportBuilder` fed one million events from memory,
//!    finished, and every table written as CSV.
//! 2. The product's path: the same events stored in the embedded store (as
//!    the local host's event writer stores them: items of many events), then
//!    `App::report` (what `/api/v1/reports` and `/reports` run: every UTC day
//!    paged from the store, parsed, counted) and every table as CSV.
//!
//!   cargo run --release -p livecard-bench --bin report -- [events, default 1000000] [days, default 30]

use livecard_app::Config;
use livecard_app::system::SystemClock;
use livecard_core::channel::Channel;
use livecard_core::event::{Event, EventName};
use livecard_core::ids::{AdvisorId, CardId, EventId};
use livecard_core::report::{ReportBuilder, ReportRequest};
use livecard_store::dynamo::{DynamoStore, local_client};
use livecard_store::embedded::EmbeddedDynamo;
use livecard_store::prelude::*;
use std::time::Instant;

/// A repeatable stream of numbers (xorshift), so every run reads the same log.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// About `target` events over `days` days before `now`: card views and
/// contact sessions as the handlers record them (request, routing, ring,
/// accept or not, chat counts, calls with their path, the end).
fn event_log(target: usize, days: u64, now: u64) -> Vec<Event> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut events = Vec::with_capacity(target + 16);
    let advisors: Vec<AdvisorId> = ["anna", "ben", "clara", "dora", "emil", "fritz"]
        .iter()
        .map(|a| AdvisorId::parse(a).expect("id"))
        .collect();
    let campaigns = ["winter", "spring", "fair-2026", "newsletter"];
    let mut n: u64 = 0;
    let mut new = |name: EventName, at: u64| {
        n += 1;
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&n.to_le_bytes());
        Event::new(EventId::from_bytes(id), name, at)
    };
    let start = now - days * 86_400_000;
    let mut session_n = 0u64;
    while events.len() < target {
        let at = start + rng.below(days * 86_400_000 - 3_600_000);
        let campaign = campaigns[rng.below(4) as usize].to_owned();
        let card = CardId::from_bytes([rng.below(200) as u8; 16]);
        // Three views for every contact through a card.
        for _ in 0..3 {
            let mut e = new(EventName::CardOpened, at.saturating_sub(rng.below(600_000)));
            e.campaign = Some(campaign.clone());
            e.card = Some(card.clone());
            events.push(e);
        }
        session_n += 1;
        let session = format!("s{session_n}");
        let advisor = advisors[rng.below(6) as usize].clone();
        let origin = ["card", "portal", "widget"][rng.below(3) as usize];
        let mut base = |name: EventName, at: u64| {
            let mut e = new(name, at);
            e.session = Some(session.clone());
            e.channel = Some(Channel::Chat);
            e.visitor = Some("v_AAAAAAAAAAAAAAAA".into());
            if origin == "card" {
                e.campaign = Some(campaign.clone());
                e.card = Some(card.clone());
            }
            e
        };
        events.push(
            base(EventName::ContactRequested, at)
                .with_prop("origin", origin)
                .with_prop("topic", "sales"),
        );
        let mut routed = base(EventName::Routed, at + 50);
        routed.advisor = Some(advisor.clone());
        events.push(routed.with_prop("tried", 0));
        events.push(base(EventName::Ringing, at + 60));
        let roll = rng.below(100);
        if roll < 75 {
            let wait = 2_000 + rng.below(60_000);
            let mut accepted = base(EventName::Accepted, at + wait);
            accepted.advisor = Some(advisor.clone());
            events.push(accepted.with_prop("wait_ms", wait));
            let talk = 30_000 + rng.below(900_000);
            let messages = rng.below(30);
            events.push(
                base(EventName::ChatMessage, at + wait + talk)
                    .with_prop("count", messages)
                    .with_prop("total", messages),
            );
            if rng.below(3) == 0 {
                let media = if rng.below(2) == 0 { "audio" } else { "video" };
                events.push(
                    base(EventName::CallStarted, at + wait + 1_000).with_prop("media", media),
                );
                let path = ["host", "srflx", "relay"][rng.below(3) as usize];
                events.push(base(EventName::IcePath, at + wait + 2_000).with_prop("path", path));
                events.push(
                    base(EventName::CallEnded, at + wait + talk - 1_000)
                        .with_prop("media", media)
                        .with_prop("duration_ms", talk - 2_000)
                        .with_prop("path", path),
                );
            }
            events.push(
                base(EventName::SessionEnded, at + wait + talk)
                    .with_prop("wait_ms", wait)
                    .with_prop("talk_ms", talk)
                    .with_prop("messages", messages)
                    .with_prop("reason", "visitor_left"),
            );
        } else if roll < 85 {
            let mut missed = base(EventName::Missed, at + 30_000);
            missed.advisor = Some(advisor.clone());
            events.push(missed);
            events.push(
                base(EventName::SessionEnded, at + 300_000)
                    .with_prop("wait_ms", 300_000)
                    .with_prop("talk_ms", 0)
                    .with_prop("reason", "queue_timeout"),
            );
        } else if roll < 95 {
            let wait = rng.below(40_000);
            events.push(
                base(EventName::SessionEnded, at + wait)
                    .with_prop("wait_ms", wait)
                    .with_prop("talk_ms", 0)
                    .with_prop("reason", "visitor_left"),
            );
        } else {
            events.push(base(EventName::OfflineMessage, at + 5_000));
            events.push(
                base(EventName::SessionEnded, at + 5_000)
                    .with_prop("wait_ms", 5_000)
                    .with_prop("talk_ms", 0)
                    .with_prop("reason", "offline_message"),
            );
        }
    }
    events
}

fn request(now: u64, days: i64) -> ReportRequest {
    let zone = livecard_core::report::time_zone("Europe/Berlin").expect("zone");
    let (from, to) = livecard_core::report::last_days(now, &zone, days + 1);
    ReportRequest::parse(&from, &to, zone, None, None, 20).expect("request")
}

fn csv_bytes(report: &livecard_core::report::Report) -> usize {
    livecard_core::report::TABLES
        .iter()
        .filter_map(|name| report.csv(name))
        .map(|csv| csv.len())
        .sum()
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let target: usize = args
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000);
    let days: u64 = args.next().and_then(|n| n.parse().ok()).unwrap_or(30);
    let now = livecard_app::Clock::now_ms(&SystemClock);
    let events = event_log(target, days, now);
    let count = events.len();
    let wanted = request(now, days as i64);

    // 1. The core alone.
    let started = Instant::now();
    let mut builder = ReportBuilder::new(wanted.clone()).expect("builder");
    for event in events.iter().cloned() {
        builder.add(event);
    }
    let report = builder.finish();
    let bytes = csv_bytes(&report);
    let core = started.elapsed();
    println!(
        "core: {count} events, {} sessions -> {bytes} bytes of CSV in {:.2} s",
        report.sessions.len(),
        core.as_secs_f64()
    );

    // 2. Through the store.
    let server = EmbeddedDynamo::start(None).await.expect("store");
    let store = DynamoStore::new(local_client(server.endpoint()), "livecard");
    store.ensure_table().await.expect("table");
    let loading = Instant::now();
    let expires = now + 86_400_000 * 200;
    let mut pending: Vec<(Event, u64)> = events.into_iter().map(|e| (e, expires)).collect();
    let mut sorted = Vec::with_capacity(pending.len());
    pending.sort_by_key(|(e, _)| e.at);
    sorted.append(&mut pending);
    for chunk in sorted.chunks(5_000) {
        let mut left = chunk.to_vec();
        while !left.is_empty() {
            left = store.put_events(&left).await.expect("store events");
        }
    }
    println!(
        "stored in the embedded store in {:.1} s (setup, not timed)",
        loading.elapsed().as_secs_f64()
    );
    let app = livecard_bench::bench_app(store, Config::new("http://127.0.0.1:1"));
    for run in 1..=3 {
        let started = Instant::now();
        let report = app.report(wanted.clone()).await.expect("report");
        let bytes = csv_bytes(&report);
        println!(
            "App::report, run {run}: {} events, {} sessions -> {bytes} bytes of CSV in {:.2} s",
            report.events,
            report.sessions.len(),
            started.elapsed().as_secs_f64()
        );
    }
}
