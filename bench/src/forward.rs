//! Forwarding throughput: events per second that livecard's forwarder
//! (`App::forward`, the same code every host runs) takes from the outbox in
//! the embedded store, batches, sends over HTTP on loopback to capture
//! servers, and settles, until the outbox is empty. One destination of each
//! kind (GA4: 25 events a request; Matomo: 100 hits a request; a webhook:
//! one event a request), then all three at once.
//!
//!   cargo run --release -p livecard-bench --bin forward -- [events, default 20000]

use axum::Router;
use axum::routing::post;
use livecard_app::Config;
use livecard_app::forward_native::NativeFetch;
use livecard_core::event::{Event, EventName};
use livecard_core::forward::{
    Delivery, DeliveryState, Destination, DestinationState, Job, Secret, Subject, Target, ga4,
    hooks, matomo,
};
use livecard_core::ids::{DestinationId, EventId};
use livecard_store::dynamo::{DynamoStore, local_client};
use livecard_store::embedded::EmbeddedDynamo;
use livecard_store::prelude::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

async fn capture(hits: Arc<AtomicU64>) -> String {
    let (g, m, w) = (hits.clone(), hits.clone(), hits);
    let app = Router::new()
        .route(
            "/mp/collect",
            post(move |body: bytes::Bytes| async move {
                let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                let n = v["events"].as_array().map_or(0, Vec::len) as u64;
                g.fetch_add(n, Ordering::Relaxed);
                http::StatusCode::NO_CONTENT
            }),
        )
        .route(
            "/matomo.php",
            post(move |body: bytes::Bytes| async move {
                let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                let n = v["requests"].as_array().map_or(0, Vec::len) as u64;
                m.fetch_add(n, Ordering::Relaxed);
                axum::Json(serde_json::json!({"status":"success","tracked":n,"invalid":0}))
            }),
        )
        .route(
            "/hooks/bench",
            post(move || async move {
                w.fetch_add(1, Ordering::Relaxed);
                http::StatusCode::NO_CONTENT
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    url
}

fn targets(url: &str) -> Vec<(&'static str, Target)> {
    vec![
        (
            "ga4",
            Target::Ga4(ga4::Ga4 {
                measurement_id: "G-BENCH123".into(),
                api_secret: Secret("bench-secret".into()),
                eu: false,
                endpoint: Some(url.to_owned()),
                ad_consent: false,
                advisors: false,
            }),
        ),
        (
            "matomo",
            Target::Matomo(matomo::Matomo {
                url: url.to_owned(),
                site_id: 1,
                token_auth: None,
                cookieless: true,
                dimensions: Default::default(),
                advisors: false,
            }),
        ),
        (
            "webhook",
            Target::Webhook(hooks::Webhook {
                url: format!("{url}/hooks/bench"),
                secrets: vec![Secret(livecard_core::webhook::encode_secret(&[7; 32]))],
                events: None,
            }),
        ),
    ]
}

#[tokio::main]
async fn main() {
    let events: u64 = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(20_000);
    let server = EmbeddedDynamo::start(None).await.expect("store");
    let store = DynamoStore::new(local_client(server.endpoint()), "livecard");
    store.ensure_table().await.expect("table");
    let mut config = Config::new("http://127.0.0.1:1");
    config.forward_allow = vec!["127.0.0.1/32".parse().expect("net")];
    let app = livecard_bench::bench_app(store, config);
    let hits = Arc::new(AtomicU64::new(0));
    let url = capture(hits.clone()).await;
    let fetch = NativeFetch::new(app.forward_policy()).expect("client");
    let now = app.now();
    let mut rows = Vec::new();
    let all = targets(&url);
    let mut runs: Vec<(String, Vec<(&'static str, Target)>)> = all
        .iter()
        .map(|(n, t)| ((*n).to_owned(), vec![(*n, t.clone())]))
        .collect();
    runs.push(("all three at once".into(), all.clone()));
    for (round, (label, destinations)) in runs.into_iter().enumerate() {
        for d in app.store.list_destinations().await.expect("list") {
            app.store.delete_destination(&d.id).await.expect("delete");
        }
        let mut ids = Vec::new();
        for (name, target) in &destinations {
            let id = DestinationId::parse(&format!("{name}-{round}")).expect("id");
            let destination = Destination {
                id: id.clone(),
                target: target.clone(),
                state: DestinationState::Active,
            };
            app.store
                .put_destination(&app.seal_destination(&destination).expect("seal"))
                .await
                .expect("destination");
            ids.push(id);
        }
        // The backlog: `events` deliveries per destination, made as the
        // handlers make them (written 100 at a time, concurrently).
        let per = events / destinations.len() as u64;
        for id in &ids {
            let mut batch = Vec::new();
            for n in 0..per {
                let mut bytes = [0u8; 16];
                bytes[..8].copy_from_slice(&n.to_le_bytes());
                bytes[8] = round as u8;
                let mut event = Event::new(EventId::from_bytes(bytes), EventName::Accepted, now);
                event.channel = Some(livecard_core::channel::Channel::Chat);
                event.session = Some(format!("s{}", n % 500));
                let job = Job {
                    event,
                    subject: Subject {
                        ga_client_id: Some(format!("{}.1795392000", n % 50)),
                        ga_session_id: Some("1795392000".into()),
                        matomo_visitor: Some(format!("{:016x}", n % 500)),
                        ..Subject::default()
                    },
                };
                batch.push(Delivery::new(id.clone(), job, now));
                if batch.len() == 100 {
                    app.store
                        .put_parcels(&batch, now + 86_400_000)
                        .await
                        .expect("deliveries");
                    batch.clear();
                }
            }
            if !batch.is_empty() {
                app.store
                    .put_parcels(&batch, now + 86_400_000)
                    .await
                    .expect("deliveries");
            }
        }
        let before = hits.load(Ordering::Relaxed);
        let started = Instant::now();
        let mut requests = 0;
        loop {
            let report = app.forward(&fetch).await.expect("forward");
            requests += report.requests;
            if report.requests == 0 {
                break;
            }
        }
        let secs = started.elapsed().as_secs_f64();
        let delivered = hits.load(Ordering::Relaxed) - before;
        let mut done = 0;
        for id in &ids {
            assert_eq!(
                app.store
                    .count_deliveries(id, DeliveryState::Pending)
                    .await
                    .expect("count"),
                0,
                "{id}: the outbox drained"
            );
            done += per;
        }
        assert_eq!(delivered, done, "{label}: every event arrived once");
        rows.push(format!(
            "| {label} | {done} | {requests} | {secs:.2} s | {:.0} |",
            done as f64 / secs
        ));
    }
    println!("| destination | events | requests | time to drain | events/s |");
    println!("|---|---|---|---|---|");
    for row in rows {
        println!("{row}");
    }
    println!(
        "\nforwarder on the embedded store, capture servers in the same process, {} cores",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
}
