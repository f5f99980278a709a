//! Forwarding analytics events (`docs/analytics.md`) through the shared
//! handlers with simulated time, the embedded store, real HTTP on loopback
//! and capture servers that apply GA4's and Matomo's documented rules:
//! consent, batches, faults (5xx, `Retry-After`, timeouts, a forwarder that
//! dies mid-batch, a destination that commits and then stalls), expiry at
//! the cut-offs, dead letters and replays, pausing and disabling, and the
//! refusals of bad settings. Webhook signatures are checked by the
//! `standardwebhooks` package from PyPI, an independent implementation.

mod common;

use bytes::Bytes;
use common::capture::{Capture, Fault};
use common::{SimClock, T0, advisor, id, set_available};
use http::{Method, StatusCode};
use livecard_app::contact::Connection;
use livecard_app::forward_native::NativeFetch;
use livecard_app::{App, ClientAddr, Config, Request};
use livecard_core::forward::DeliveryState;
use livecard_core::ids::DestinationId;
use livecard_store::PageRequest;
use livecard_store::dynamo::DynamoStore;
use livecard_store::embedded::EmbeddedDynamo;
use livecard_store::prelude::*;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

const ADMIN: &str = common::DOCUMENT_ADMIN_KEY;
const HOOK_SECRET: [u8; 32] = [42; 32];
const NEXT_SECRET: [u8; 32] = [43; 32];

struct Harness {
    _server: EmbeddedDynamo,
    app: App<DynamoStore>,
    clock: Arc<SimClock>,
    capture: Capture,
    fetch: NativeFetch,
}

async fn harness() -> Harness {
    let (server, store) = common::embedded_store("livecard").await;
    let mut config = Config::new("http://livecard.test");
    config.read_cache_ms = 0;
    config.destinations_cache_ms = 0;
    config.forward_timeout_ms = 1_000;
    config.forward_allow = vec!["127.0.0.1/32".parse().expect("net")];
    let (app, clock) = common::sim_app(store, config);
    app.save_advisor(&advisor("anna", &["sales"], 3))
        .await
        .expect("advisor");
    set_available(&app, &id("anna")).await;
    let capture = Capture::start(T0 / 1000).await;
    let fetch = NativeFetch::new(app.forward_policy()).expect("client");
    Harness {
        _server: server,
        app,
        clock,
        capture,
        fetch,
    }
}

impl Harness {
    async fn call(&self, method: Method, uri: &str, body: Option<Value>) -> (StatusCode, Value) {
        let request = common::bearer_request(method, uri, ADMIN, body);
        let response = self.app.handle(request).await;
        let status = response.status();
        (
            status,
            serde_json::from_slice(response.body()).unwrap_or(Value::Null),
        )
    }

    async fn set_destination(&self, id: &str, settings: Value) -> (StatusCode, Value) {
        self.call(
            Method::PUT,
            &format!("/api/v1/destinations/{id}"),
            Some(settings),
        )
        .await
    }

    async fn all_destinations(&self) {
        let url = &self.capture.url;
        let (s, b) = self
            .set_destination(
                "ga4",
                json!({"kind":"ga4","measurement_id":"G-LIVECARD1","api_secret":"mp-secret-value","endpoint":url}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        let (s, b) = self
            .set_destination(
                "matomo",
                json!({"kind":"matomo","url":url,"site_id":3,"dimensions":{"event_id":4}}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        let (s, b) = self
            .set_destination(
                "crm",
                json!({"kind":"webhook","url":format!("{url}/hooks/crm"),
                    "secrets":[livecard_core::webhook::encode_secret(&HOOK_SECRET),
                               livecard_core::webhook::encode_secret(&NEXT_SECRET)]}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
    }

    /// A whole contact: asked for (with `consent`), accepted by anna, a
    /// minute of chat, hung up. Returns the session id.
    async fn contact(&self, consent: Value) -> String {
        let (status, answer) = self
            .call(
                Method::POST,
                "/api/v1/contacts",
                Some(json!({"topic":"sales","consent":consent})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
        let session = answer["session"].as_str().expect("session").to_owned();
        let token = answer["token"].as_str().expect("token");
        let mut visitor = Connection::new("conn-v", None, self.app.now());
        let join = json!({"v":1,"type":"join","session":session,"token":token});
        self.app.ws_message(&mut visitor, &join.to_string()).await;
        self.clock.advance(3_000);
        let mut anna = Connection::new("conn-a", Some(id("anna")), self.app.now());
        let accept = json!({"v":1,"type":"accept","session":session});
        self.app.ws_message(&mut anna, &accept.to_string()).await;
        self.clock.advance(60_000);
        let hangup = json!({"v":1,"type":"hangup","session":session});
        self.app.ws_message(&mut visitor, &hangup.to_string()).await;
        session
    }

    async fn forward(&self) -> livecard_app::forward::ForwardReport {
        self.app.forward(&self.fetch).await.expect("forward")
    }

    /// Runs the forwarder, moving simulated time on, until nothing is due.
    async fn forward_until_idle(&self) {
        for _ in 0..40 {
            let report = self.forward().await;
            if report.requests == 0 && self.pending().await == 0 {
                return;
            }
            self.clock.advance(3_600_000);
        }
        panic!("the outbox did not drain");
    }

    async fn pending(&self) -> u64 {
        let mut n = 0;
        for d in ["ga4", "matomo", "crm"] {
            n += self.count(d, DeliveryState::Pending).await;
        }
        n
    }

    async fn count(&self, destination: &str, state: DeliveryState) -> u64 {
        self.app
            .store
            .count_deliveries(&DestinationId::parse(destination).expect("id"), state)
            .await
            .expect("count")
    }

    /// The ids of the events of a session that leave livecard, from the store.
    async fn forwarded_events(&self, day_of: u64) -> Vec<(String, String)> {
        let day = livecard_core::event::utc_day(day_of);
        let page = self
            .app
            .store
            .list_events(&day, &PageRequest::first(100))
            .await
            .expect("events");
        page.items
            .iter()
            .filter(|e| livecard_core::forward::forwarded(e.name))
            .map(|e| (e.id.to_string(), e.session.clone().unwrap_or_default()))
            .collect()
    }
}

fn counts<'a>(ids: impl Iterator<Item = &'a str>) -> HashMap<String, usize> {
    let mut map = HashMap::new();
    for id in ids {
        *map.entry(id.to_owned()).or_insert(0) += 1;
    }
    map
}

/// Verifies every captured webhook with PyPI's `standardwebhooks` (both
/// secrets, as a receiver mid-rotation would).
fn verify_with_standardwebhooks(calls: &[common::capture::HookCall]) {
    let payload: Vec<Value> = calls
        .iter()
        .map(|c| {
            let headers: serde_json::Map<String, Value> = c
                .headers
                .iter()
                .filter(|(k, _)| k.starts_with("webhook-"))
                .map(|(k, v)| (k.clone(), json!(v)))
                .collect();
            json!({"headers": headers, "body": c.body})
        })
        .collect();
    let script = r#"
import json, sys
from datetime import datetime, timezone
from standardwebhooks.webhooks import Webhook
calls = json.load(sys.stdin)
for secret in sys.argv[1:]:
    hook = Webhook(secret)
    # The forwarder ran on simulated time: take the timestamp as sent (the
    # signature over it is still checked).
    hook._Webhook__verify_timestamp = lambda header: datetime.fromtimestamp(int(header), tz=timezone.utc)
    for call in calls:
        hook.verify(call["body"], call["headers"])
print(len(calls))
"#;
    // scripts/test.sh installs standardwebhooks into a venv and names its python.
    let python = std::env::var("LIVECARD_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let mut child = std::process::Command::new(python)
        .arg("-c")
        .arg(script)
        .arg(livecard_core::webhook::encode_secret(&HOOK_SECRET))
        .arg(livecard_core::webhook::encode_secret(&NEXT_SECRET))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs (scripts/test.sh installs standardwebhooks)");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin
            .write_all(serde_json::to_string(&payload).expect("json").as_bytes())
            .expect("write");
    }
    let out = child.wait_with_output().expect("python3");
    assert!(
        out.status.success(),
        "standardwebhooks refused a signature (install it with scripts/test.sh): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        calls.len().to_string()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consent_decides_what_reaches_ga4_and_matomo_and_webhooks_get_ids_signed() {
    let h = harness().await;
    h.all_destinations().await;
    let granted = h
        .contact(json!({"analytics":true,"ga_client_id":"111.222","ga_session_id":"1795392000"}))
        .await;
    let denied = h
        .contact(json!({"analytics":false,"ga_client_id":"999.999"}))
        .await;
    // Events reach the outbox only through the store: nothing was sent yet.
    assert!(h.capture.with(|c| c.requests.is_empty()));
    h.forward_until_idle().await;

    let events = h.forwarded_events(T0).await;
    let of = |session: &str| -> Vec<String> {
        events
            .iter()
            .filter(|(_, s)| s == session)
            .map(|(id, _)| id.clone())
            .collect()
    };
    let (yes, no) = (of(&granted), of(&denied));
    assert!(yes.len() >= 3, "requested, accepted, ended: {yes:?}");
    h.capture.with(|c| {
        assert_eq!(c.ga4_messages, Vec::<String>::new(), "GA4 validation");
        assert_eq!(c.matomo_messages, Vec::<String>::new(), "Matomo validation");
        // GA4: the consenting visitor's events, each once, with the page's client id.
        let ga4 = counts(c.ga4.iter().map(|h| h.event_id.as_str()));
        assert_eq!(ga4.len(), yes.len());
        assert!(yes.iter().all(|id| ga4.get(id) == Some(&1)), "{ga4:?}");
        assert!(c.ga4.iter().all(|h| h.client_id == "111.222"));
        assert!(c.ga4.iter().all(|h| h.params["session_id"] == "1795392000"));
        assert!(c.ga4.iter().any(|h| h.name == "lc_contact_accept"));
        // Matomo: the same events, never the other visitor's.
        let matomo = counts(c.matomo.iter().filter_map(|h| h.get("dimension4")));
        assert_eq!(matomo.len(), yes.len());
        assert!(yes.iter().all(|id| matomo.get(id) == Some(&1)));
        assert!(
            no.iter()
                .all(|id| !ga4.contains_key(id) && !matomo.contains_key(id))
        );
        // Webhooks: both visitors' events (ids only, the company's own systems).
        let hooks: Vec<Value> = c
            .hooks
            .iter()
            .map(|h| serde_json::from_str(&h.body).expect("json"))
            .collect();
        let hooked = counts(hooks.iter().filter_map(|b| b["data"]["event_id"].as_str()));
        assert!(
            yes.iter().chain(&no).all(|id| hooked.get(id) == Some(&1)),
            "{hooked:?}"
        );
        for body in &hooks {
            let text = body.to_string();
            assert!(!text.contains("203.0.113.7"), "never an address");
        }
        verify_with_standardwebhooks(&c.hooks);
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_lose_nothing_and_resend_nothing_that_was_acknowledged() {
    let h = harness().await;
    h.all_destinations().await;
    let consent = json!({"analytics":true,"ga_client_id":"5.6"});
    for _ in 0..3 {
        h.contact(consent.clone()).await;
    }
    // The forwarder dies mid-batch: its run is dropped while GA4 stalls.
    h.capture
        .fail("/mp/collect", [Fault::Stall(Duration::from_secs(3))]);
    let killed = tokio::time::timeout(Duration::from_millis(300), h.forward()).await;
    assert!(killed.is_err(), "the run was cut off mid-batch");
    let ga4 = DestinationId::parse("ga4").expect("id");
    assert!(
        h.count("ga4", DeliveryState::Pending).await >= 9,
        "nothing lost"
    );
    let due = h
        .app
        .store
        .due_deliveries(&ga4, h.app.now(), 100)
        .await
        .expect("due");
    assert!(
        due.is_empty(),
        "claimed by the dead run until its lease ends"
    );
    h.clock.advance(61_000);

    for _ in 0..3 {
        h.contact(consent.clone()).await;
    }
    // GA4 fails three ways; Matomo commits a batch and stalls past the
    // timeout (a duplicate to come); the webhook answers 429 Retry-After.
    h.capture.fail(
        "/mp/collect",
        [
            Fault::Status(500),
            Fault::RetryAfter(503, 120),
            Fault::Stall(Duration::from_millis(1_500)),
        ],
    );
    h.capture.fail(
        "/matomo.php",
        [Fault::CommitThenStall(Duration::from_millis(1_500))],
    );
    h.capture.fail("/hooks/crm", [Fault::RetryAfter(429, 600)]);
    let pending_after = |d: &'static str| {
        let h = &h;
        async move {
            h.app
                .store
                .list_deliveries(
                    &DestinationId::parse(d).expect("id"),
                    DeliveryState::Pending,
                    &PageRequest::first(100),
                )
                .await
                .expect("list")
                .items
        }
    };
    // One run meets them all (the outbox is read in rounds of parcels).
    h.forward().await;
    let now = h.app.now();
    let told = |list: &[livecard_core::forward::Delivery], status: &str| -> Vec<u64> {
        list.iter()
            .filter(|d| d.last_status.as_deref() == Some(status))
            .map(|d| d.next_at.saturating_sub(now))
            .collect()
    };
    let hooks = told(&pending_after("crm").await, "HTTP 429");
    assert_eq!(hooks.len(), 1, "one webhook was told to wait");
    assert!(hooks[0] >= 600_000, "Retry-After honoured: {hooks:?}");
    let ga4 = told(&pending_after("ga4").await, "HTTP 503");
    assert!(!ga4.is_empty(), "GA4 answered 503 to a request");
    assert!(
        ga4.iter().all(|after| *after >= 120_000),
        "Retry-After honoured: {ga4:?}"
    );
    h.clock.advance(10_000);
    h.forward().await;
    h.clock.advance(121_000);
    h.forward().await;
    h.forward_until_idle().await;

    let events = h.forwarded_events(T0).await;
    assert!(events.len() >= 18, "{}", events.len());
    h.capture.with(|c| {
        assert_eq!(c.ga4_messages, Vec::<String>::new());
        assert_eq!(c.matomo_messages, Vec::<String>::new());
        let ga4 = counts(c.ga4.iter().map(|h| h.event_id.as_str()));
        let matomo = counts(c.matomo.iter().filter_map(|h| h.get("dimension4")));
        let hooks: Vec<Value> = c
            .hooks
            .iter()
            .map(|h| serde_json::from_str(&h.body).expect("json"))
            .collect();
        let hooked = counts(hooks.iter().filter_map(|b| b["data"]["event_id"].as_str()));
        for (id, _) in &events {
            assert_eq!(ga4.get(id), Some(&1), "GA4: {id} lost or sent twice");
            assert!(matomo.get(id).is_some_and(|n| *n >= 1), "Matomo lost {id}");
            assert_eq!(hooked.get(id), Some(&1), "webhook: {id} lost or sent twice");
        }
        // Matomo's duplicates are the batch it committed without answering;
        // that batch was never acknowledged, so it was sent again.
        let twice = matomo.values().filter(|n| **n == 2).count();
        assert!(twice >= 1, "the commit-then-stall batch came again");
        assert!(matomo.values().all(|n| *n <= 2));
    });
    for d in ["ga4", "matomo", "crm"] {
        assert_eq!(h.count(d, DeliveryState::Dead).await, 0, "{d}");
        assert_eq!(h.count(d, DeliveryState::Expired).await, 0, "{d}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_offs_expire_dead_letters_replay_and_bad_answers_pause() {
    let h = harness().await;
    h.all_destinations().await;
    let consent = json!({"analytics":true,"ga_client_id":"7.8"});
    h.contact(consent.clone()).await;
    // Matomo (no token) is down for a day: its deliveries expire at the
    // cut-off and are counted, never sent late (Matomo would ignore them).
    h.capture.with(|c| c.matomo_failing = Some(500));
    for _ in 0..30 {
        h.forward().await;
        h.clock.advance(3_600_000);
    }
    h.capture.with(|c| c.matomo_failing = None);
    let expired = h.count("matomo", DeliveryState::Expired).await;
    assert!(expired >= 3, "expired, counted: {expired}");
    assert_eq!(h.count("matomo", DeliveryState::Pending).await, 0);
    assert!(
        h.capture
            .with(|c| c.matomo.is_empty() && c.matomo_ignored.is_empty())
    );
    let (s, list) = h
        .call(
            Method::GET,
            "/api/v1/destinations/matomo/deliveries?state=expired",
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        list["deliveries"].as_array().map(Vec::len),
        Some(expired as usize)
    );
    h.capture.with(|c| c.requests.clear());

    // A refusal (400) is dead-lettered with its reason; after the fix an
    // admin replays it and it is delivered.
    h.contact(consent.clone()).await;
    h.capture.fail("/matomo.php", [Fault::Status(400)]);
    h.forward().await;
    let dead = h.count("matomo", DeliveryState::Dead).await;
    assert!(dead >= 3, "dead letters: {dead}");
    let (_, list) = h
        .call(
            Method::GET,
            "/api/v1/destinations/matomo/deliveries?state=dead",
            None,
        )
        .await;
    assert!(
        list["deliveries"][0]["last_status"]
            .as_str()
            .unwrap_or("")
            .contains("400")
    );
    let (s, replayed) = h
        .call(
            Method::POST,
            "/api/v1/destinations/matomo/replay",
            Some(json!({"all":true})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{replayed}");
    assert_eq!(replayed["replayed"], dead);
    h.forward().await;
    assert_eq!(h.count("matomo", DeliveryState::Dead).await, 0);
    assert_eq!(h.capture.with(|c| c.matomo.len()) as u64, dead);

    // Tracking switched off (503): the destination pauses, events wait,
    // and it resumes by itself once Matomo takes hits again.
    h.capture.with(|c| c.matomo_disabled = true);
    h.contact(consent.clone()).await;
    h.forward().await;
    let (_, d) = h
        .call(Method::GET, "/api/v1/destinations/matomo", None)
        .await;
    assert_eq!(d["state"]["status"], "paused", "{d}");
    let waiting = h.count("matomo", DeliveryState::Pending).await;
    assert!(waiting >= 3);
    h.capture.with(|c| c.matomo_disabled = false);
    h.forward().await;
    assert_eq!(
        h.count("matomo", DeliveryState::Pending).await,
        waiting,
        "still paused"
    );
    h.clock.advance(16 * 60_000);
    h.forward().await;
    assert_eq!(h.count("matomo", DeliveryState::Pending).await, 0);
    let (_, d) = h
        .call(Method::GET, "/api/v1/destinations/matomo", None)
        .await;
    assert_eq!(d["state"]["status"], "active");

    // 410 Gone disables a webhook until an admin resumes it.
    h.forward_until_idle().await;
    h.capture.fail("/hooks/crm", [Fault::Status(410)]);
    h.contact(consent).await;
    h.forward().await;
    let (_, d) = h.call(Method::GET, "/api/v1/destinations/crm", None).await;
    assert_eq!(d["state"]["status"], "disabled", "{d}");
    let before = h.capture.with(|c| c.hooks.len());
    h.clock.advance(3_600_000);
    h.forward().await;
    assert_eq!(h.capture.with(|c| c.hooks.len()), before, "disabled");
    let (s, _) = h
        .call(Method::POST, "/api/v1/destinations/crm/resume", None)
        .await;
    assert_eq!(s, StatusCode::OK);
    h.forward().await;
    assert!(h.capture.with(|c| c.hooks.len()) > before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_settings_are_refused_naming_the_field_and_secrets_never_shown() {
    let h = harness().await;
    let url = h.capture.url.clone();
    for (body, field) in [
        (
            json!({"kind":"ga4","measurement_id":"UA-123","api_secret":"abcdefgh"}),
            "measurement_id",
        ),
        (
            json!({"kind":"ga4","measurement_id":"G-ABCDEF"}),
            "api_secret",
        ),
        (
            json!({"kind":"matomo","url":"https://m.example.com","site_id":0}),
            "site_id",
        ),
        (
            json!({"kind":"matomo","url":"ftp://m.example.com","site_id":1}),
            "url",
        ),
        (
            json!({"kind":"webhook","url":"https://crm.example.com/h","secrets":["nope"]}),
            "secrets",
        ),
        (
            json!({"kind":"webhook","url":"http://169.254.169.254/latest","secrets":[livecard_core::webhook::encode_secret(&HOOK_SECRET)]}),
            "url",
        ),
        (
            json!({"kind":"webhook","url":"http://10.1.2.3/h","secrets":[livecard_core::webhook::encode_secret(&HOOK_SECRET)]}),
            "url",
        ),
        (
            json!({"kind":"webhook","url":"http://[::ffff:127.0.0.2]/h","secrets":[livecard_core::webhook::encode_secret(&HOOK_SECRET)]}),
            "url",
        ),
        (json!({"kind":"carrier-pigeon"}), "kind"),
    ] {
        let (s, b) = h.set_destination("x", body.clone()).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
        assert!(
            b["error"]["message"].as_str().unwrap_or("").contains(field),
            "{field}: {b}"
        );
    }
    // A page's consent with bad ids is refused, naming the field.
    for (consent, field) in [
        (
            json!({"analytics":true,"ga_client_id":"<img src=x>"}),
            "consent.ga_client_id",
        ),
        (
            json!({"analytics":true,"ga_session_id":"yesterday"}),
            "consent.ga_session_id",
        ),
        (
            json!({"analytics":true,"matomo_visitor":"not-hex"}),
            "consent.matomo_visitor",
        ),
        (json!({"analytics":"maybe"}), "expected a boolean"),
    ] {
        let (s, b) = h
            .call(
                Method::POST,
                "/api/v1/contacts",
                Some(json!({"topic":"sales","consent":consent})),
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
        assert!(
            b["error"]["message"].as_str().unwrap_or("").contains(field),
            "{field}: {b}"
        );
    }
    let (s, _) = h.set_destination("BAD-ID", json!({"kind":"ga4"})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, b) = h
        .set_destination(
            "ga4",
            json!({"kind":"ga4","measurement_id":"G-LIVECARD1","api_secret":"mp-secret-value","endpoint":url}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert!(!b.to_string().contains("mp-secret-value"));
    let (_, list) = h.call(Method::GET, "/api/v1/destinations", None).await;
    assert!(!list.to_string().contains("mp-secret-value"), "{list}");
    assert_eq!(
        list["destinations"][0]["settings"]["measurement_id"],
        "G-LIVECARD1"
    );
    // The sealed settings in the store do not show the secret either.
    let stored = h.app.store.list_destinations().await.expect("list");
    assert!(!stored[0].sealed.contains("mp-secret-value"));
    // Without an admin key: no destinations.
    let mut request: Request = http::Request::builder()
        .uri("/api/v1/destinations")
        .body(Bytes::new())
        .expect("request");
    request
        .extensions_mut()
        .insert(ClientAddr("203.0.113.7".into()));
    assert_eq!(
        h.app.handle(request).await.status(),
        StatusCode::UNAUTHORIZED
    );

    // A name that resolves to a denied address: the forwarder refuses to
    // connect and pauses the destination with the reason.
    let port = url.rsplit(':').next().expect("port");
    let (s, b) = h
        .set_destination(
            "local",
            json!({"kind":"webhook","url":format!("https://localhost:{port}/hooks/x"),
                   "secrets":[livecard_core::webhook::encode_secret(&HOOK_SECRET)]}),
        )
        .await;
    assert_eq!(
        s,
        StatusCode::OK,
        "names are checked when they are resolved: {b}"
    );
    let strict =
        NativeFetch::new(livecard_core::turn::PeerPolicy { allow: vec![] }).expect("client");
    h.contact(json!({"analytics":false})).await;
    h.app.forward(&strict).await.expect("forward");
    let (_, d) = h
        .call(Method::GET, "/api/v1/destinations/local", None)
        .await;
    assert_eq!(d["state"]["status"], "paused", "{d}");
    assert!(
        d["state"]["reason"]
            .as_str()
            .unwrap_or("")
            .contains("loopback"),
        "{d}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_card_page_asks_for_consent_and_forwards_its_view_only_with_it() {
    let h = harness().await;
    h.all_destinations().await;
    let (s, card) = h
        .call(
            Method::POST,
            "/api/v1/cards",
            Some(json!({"advisor":"anna","campaign":"spring"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{card}");
    let path = card["url"]
        .as_str()
        .expect("url")
        .trim_start_matches("http://livecard.test")
        .to_owned();
    let view = |html: &str| -> String {
        let start = html.find("&quot;view&quot;:&quot;").expect("a view token") + 23;
        html[start..]
            .split("&quot;")
            .next()
            .expect("token")
            .to_owned()
    };
    let html = card_page(&h, &path).await;
    assert!(html.contains("id=\"consent\""), "the banner is on the page");
    let declined = view(&html);
    let (s, _) = h
        .call(
            Method::POST,
            "/api/v1/consent",
            Some(json!({"view":declined,"consent":{"analytics":false}})),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let granted = view(&card_page(&h, &path).await);
    let (s, _) = h
        .call(
            Method::POST,
            "/api/v1/consent",
            Some(json!({"view":granted,"consent":{"analytics":true,"ga_client_id":"31.41","ga_session_id":"1795392001"}})),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, b) = h
        .call(
            Method::POST,
            "/api/v1/consent",
            Some(json!({"view":"forged.token","consent":{"analytics":true}})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    h.forward_until_idle().await;
    h.capture.with(|c| {
        let opens: Vec<_> = c.ga4.iter().filter(|h| h.name == "lc_card_open").collect();
        assert_eq!(opens.len(), 1, "only the consenting view");
        assert_eq!(opens[0].client_id, "31.41");
        assert_eq!(opens[0].params["lc_campaign"], "spring");
        assert_eq!(
            c.matomo
                .iter()
                .filter(|h| h.get("e_a") == Some("card_open"))
                .count(),
            1
        );
        let hooks = c
            .hooks
            .iter()
            .filter(|h| h.body.contains("livecard.card.opened"))
            .count();
        assert_eq!(hooks, 2, "the company's webhook hears of both views");
        assert!(c.ga4_messages.is_empty() && c.matomo_messages.is_empty());
    });
}

async fn card_page(h: &Harness, path: &str) -> String {
    let mut request: Request = http::Request::builder()
        .uri(path)
        .header("host", "livecard.test")
        .body(Bytes::new())
        .expect("request");
    request
        .extensions_mut()
        .insert(ClientAddr("203.0.113.9".into()));
    let response = h.app.handle(request).await;
    assert_eq!(response.status(), StatusCode::OK);
    String::from_utf8(response.body().to_vec()).expect("html")
}

/// A visitor's rights: an admin exports everything stored about a contact
/// session, then erases it. The erased session's chat, events and
/// deliveries are gone, what was still in the outbox is never sent, and
/// another visitor's contact is untouched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_and_erasure_of_one_visitor_stop_their_pending_deliveries() {
    let h = harness().await;
    let url = h.capture.url.clone();
    let (s, b) = h
        .set_destination(
            "crm",
            json!({"kind":"webhook","url":format!("{url}/hooks/crm"),
                "secrets":[livecard_core::webhook::encode_secret(&HOOK_SECRET)]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    // Paused: the deliveries wait in the outbox.
    let (s, _) = h
        .call(Method::POST, "/api/v1/destinations/crm/pause", None)
        .await;
    assert_eq!(s, StatusCode::OK);
    let erased = h.contact(Value::Null).await;
    let kept = h.contact(Value::Null).await;

    // The export: the session, its events and its deliveries.
    let (s, export) = h
        .call(
            Method::GET,
            &format!("/api/v1/privacy?session={erased}"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{export}");
    let session = &export["sessions"][0];
    assert_eq!(session["id"], erased.as_str());
    let visitor_id = session["visitor"].as_str().expect("visitor").to_owned();
    assert!(visitor_id.starts_with("vis_"), "{visitor_id}");
    let events = session["events"].as_array().expect("events").len();
    assert!(events >= 4, "request, ring, accept, end: {events}");
    // By visitor: the same visitor (one address, one cookie-less client)
    // made both contacts here, so both are theirs.
    let (s, by_visitor) = h
        .call(
            Method::GET,
            &format!("/api/v1/privacy?visitor={visitor_id}"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{by_visitor}");
    assert!(
        !by_visitor["sessions"]
            .as_array()
            .expect("sessions")
            .is_empty()
    );

    // Bad requests name the field; no admin key, no data.
    for (query, says) in [
        ("", "give session or visitor"),
        ("session=../x", "session must be"),
        ("visitor=anna", "visitor must be"),
        (
            &format!("session={erased}&visitor={visitor_id}"),
            "one of them",
        ),
    ] {
        let (s, body) = h
            .call(Method::GET, &format!("/api/v1/privacy?{query}"), None)
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{query}");
        assert!(body.to_string().contains(says), "{query}: {body}");
    }
    let unauthorized: Request = http::Request::builder()
        .method(Method::DELETE)
        .uri(format!("/api/v1/privacy?session={erased}"))
        .header("host", "livecard.test")
        .body(Bytes::new())
        .expect("request");
    assert_eq!(
        h.app.handle(unauthorized).await.status(),
        StatusCode::UNAUTHORIZED
    );

    // The erasure.
    let (s, answer) = h
        .call(
            Method::DELETE,
            &format!("/api/v1/privacy?session={erased}"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{answer}");
    assert_eq!(answer["erased"]["sessions"], 1);
    assert_eq!(answer["erased"]["events"].as_u64(), Some(events as u64));
    assert!(answer["erased"]["transcript_items"].as_u64() >= Some(1));
    let (s, _) = h
        .call(
            Method::GET,
            &format!("/api/v1/privacy?session={erased}"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "nothing is left");
    let left = h.forwarded_events(T0).await;
    assert!(
        left.iter().all(|(_, s)| s != &erased),
        "its events are gone"
    );
    assert!(
        left.iter().any(|(_, s)| s == &kept),
        "the other contact's stay"
    );

    // Resumed: the outbox sends the other contact's events, never the erased one's.
    let (s, _) = h
        .call(Method::POST, "/api/v1/destinations/crm/resume", None)
        .await;
    assert_eq!(s, StatusCode::OK);
    h.forward_until_idle().await;
    let bodies: Vec<String> = h
        .capture
        .with(|c| c.hooks.iter().map(|c| c.body.clone()).collect());
    assert!(
        bodies.iter().any(|b| b.contains(&kept)),
        "the kept contact's events went out"
    );
    assert!(
        bodies.iter().all(|b| !b.contains(&erased)),
        "nothing of the erased session was sent"
    );
}
