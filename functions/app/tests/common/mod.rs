//! Test support shared by the handler tests: simulated time, repeatable
//! randomness, fixed secrets.
#![allow(dead_code)]

pub mod capture;
pub mod harness;

use livecard_app::{Clock, Random, Secrets};
use livecard_core::card::Keyring;
use std::sync::atomic::{AtomicU64, Ordering};

pub const T0: u64 = 1_795_392_000_000;

pub struct SimClock(pub AtomicU64);

impl Clock for SimClock {
    fn now_ms(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// Distinct, repeatable bytes.
pub struct CountingRandom(pub AtomicU64);

impl Random for CountingRandom {
    fn fill(&self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let n = self
                .0
                .fetch_add(1, Ordering::SeqCst)
                .wrapping_mul(0x9E37_79B9_7F4A_7C15);
            let bytes = n.to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }
}

/// The admin key of the secrets document (as Terraform makes one).
pub const DOCUMENT_ADMIN_KEY: &str = "lck_generated-by-terraform-0123456789abcdef";

/// A request to `uri` with `key` as its bearer token (an admin API key),
/// from 203.0.113.7, with `body` as JSON when given.
pub fn bearer_request(
    method: http::Method,
    uri: &str,
    key: &str,
    body: Option<serde_json::Value>,
) -> livecard_app::Request {
    let mut builder = http::Request::builder()
        .method(method)
        .uri(uri)
        .header("host", "livecard.test")
        .header("authorization", format!("Bearer {key}"));
    if body.is_some() {
        builder = builder.header("content-type", "application/json");
    }
    let mut request: livecard_app::Request = builder
        .body(bytes::Bytes::from(
            body.map(|b| b.to_string()).unwrap_or_default(),
        ))
        .expect("request");
    request
        .extensions_mut()
        .insert(livecard_app::ClientAddr("203.0.113.7".into()));
    request
}

pub fn secrets(signing: &str) -> Secrets {
    Secrets {
        cards: Keyring::new(
            signing,
            vec![("k1".into(), vec![1; 32]), ("k2".into(), vec![2; 32])],
        )
        .expect("keyring"),
        session_key: vec![3; 32],
        visitor_key: vec![4; 32],
        presence_webhook_key: vec![5; 32],
        turn_secret: Some(vec![9; 32]),
        teams_push: None,
        turn_provider: None,
        identity_image_key: Some([6; 32]),
        admin_key_sha256: Some(livecard_core::encoding::sha256_hex(
            DOCUMENT_ADMIN_KEY.as_bytes(),
        )),
    }
}

impl SimClock {
    pub fn advance(&self, ms: u64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

/// A test advisor: English, the given topics and capacity, every channel.
pub fn advisor(id: &str, topics: &[&str], capacity: u16) -> livecard_core::advisor::Advisor {
    livecard_core::advisor::AdvisorInput {
        id: id.into(),
        display_name: format!("Advisor {id}"),
        title: String::new(),
        photo_url: None,
        languages: vec!["en".into()],
        topics: topics.iter().map(|t| (*t).to_owned()).collect(),
        channels: livecard_core::channel::ChannelSet::ALL,
        capacity,
        identities: Default::default(),
    }
    .validate()
    .expect("valid advisor")
}

pub fn id(text: &str) -> livecard_core::ids::AdvisorId {
    livecard_core::ids::AdvisorId::parse(text).expect("id")
}

/// The embedded DynamoDB-compatible server with an empty table.
pub async fn embedded_store(
    table: &str,
) -> (
    livecard_store::embedded::EmbeddedDynamo,
    livecard_store::dynamo::DynamoStore,
) {
    let server = livecard_store::embedded::EmbeddedDynamo::start(None)
        .await
        .expect("embedded store");
    let store = livecard_store::dynamo::DynamoStore::new(
        livecard_store::dynamo::local_client(server.endpoint()),
        table,
    );
    store.ensure_table().await.expect("table");
    (server, store)
}

/// The handlers on `store` with simulated time, repeatable randomness and
/// the fixed secrets.
pub fn sim_app(
    store: livecard_store::dynamo::DynamoStore,
    config: livecard_app::Config,
) -> (
    livecard_app::App<livecard_store::dynamo::DynamoStore>,
    std::sync::Arc<SimClock>,
) {
    let clock = std::sync::Arc::new(SimClock(AtomicU64::new(T0)));
    let app = livecard_app::App::new(
        store,
        clock.clone(),
        std::sync::Arc::new(CountingRandom(AtomicU64::new(1))),
        config,
        secrets("k1"),
    );
    (app, clock)
}

/// Makes `advisor` available for chat: their console is open (for as long
/// as the test runs) and they set chat available in it.
pub async fn set_available<P: livecard_app::Push>(
    app: &livecard_app::App<livecard_store::dynamo::DynamoStore, P>,
    advisor: &livecard_core::ids::AdvisorId,
) {
    use livecard_store::AdvisorStore;
    let now = app.now();
    let update = app
        .config
        .presence
        .console_update(
            vec![(
                livecard_core::channel::Channel::Chat,
                livecard_core::presence::PresenceState::Available,
            )],
            now,
            now + livecard_core::presence::MAX_MANUAL_MS,
        )
        .expect("update");
    app.set_presence(advisor, &update).await.expect("presence");
    app.store
        .heartbeat(advisor, u64::MAX / 2)
        .await
        .expect("heartbeat");
}

/// The advisors of the capacity scenario: nine slots for `sales`.
pub fn capacity_advisors() -> Vec<livecard_core::advisor::Advisor> {
    vec![
        advisor("anna", &["sales"], 3),
        advisor("ben", &["sales"], 2),
        advisor("cara", &["sales"], 4),
    ]
}

/// The capacity scenario, written once and run against every host: 200
/// visitors ask for `sales` at once and their sockets join (`contact(n)`
/// does both the host's way and returns the session id). Every slot of
/// [`capacity_advisors`] is rung exactly once, no advisor holds more than
/// their capacity, and everyone else is offered choices.
pub async fn concurrent_requests_never_exceed_capacity<F, Fut>(
    store: &livecard_store::dynamo::DynamoStore,
    contact: F,
) where
    F: Fn(u32) -> Fut,
    Fut: std::future::Future<Output = String> + Send + 'static,
{
    use livecard_core::session::Phase;
    use livecard_store::prelude::*;
    let advisors = capacity_advisors();
    let tasks: Vec<_> = (0..200u32).map(|n| tokio::spawn(contact(n))).collect();
    let mut ringing: std::collections::HashMap<String, u16> = Default::default();
    let mut offered = 0;
    for task in tasks {
        let session = task.await.expect("task");
        let stored = store
            .get_session(&session)
            .await
            .expect("read")
            .expect("session");
        match stored.session.phase {
            Phase::Ringing { advisor, .. } => *ringing.entry(advisor.to_string()).or_default() += 1,
            Phase::Routing => {
                assert_eq!(stored.session.options(), ["wait", "offline"]);
                offered += 1;
            }
            other => panic!("unexpected phase {other:?}"),
        }
    }
    let mut slots = 0;
    for a in &advisors {
        let rung = ringing.get(a.id.as_str()).copied().unwrap_or(0);
        assert_eq!(rung, a.capacity, "{}: every slot used, none twice", a.id);
        let record = store
            .get_advisor(&a.id)
            .await
            .expect("read")
            .expect("advisor");
        assert_eq!(record.load.active, a.capacity, "{}: claims held", a.id);
        slots += u32::from(a.capacity);
    }
    assert_eq!(offered, 200 - slots);
}
