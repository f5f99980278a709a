//! The conformance suite of the store contract.
//!
//! Every implementation of the store roles must pass every check here, including
//! the concurrent ones: a check panics with a message when the store breaks
//! the contract. Each check expects a store of its own (an empty table).
//! `functions/store/tests/conformance.rs` runs them against the embedded
//! server, or any DynamoDB-compatible server named by
//! `LIVECARD_TEST_DYNAMODB_ENDPOINT`.

use crate::{
    AdvisorRecord, AdvisorStore, Appended, AuthStore, CardStore, Claim, ConnectionStore, Created,
    EventStore, EventWrite, MediaNodeStore, PageRequest, PresenceChange, PresenceWrite, Revocation,
    SessionStore, Store, StoreError, StoredSession,
};
use futures_util::future::join_all;
use livecard_core::advisor::{Advisor, AdvisorInput};
use livecard_core::card::{Card, CardRequest, Keyring};
use livecard_core::channel::{Channel, ChannelSet};
use livecard_core::event::{Event, EventName};
use livecard_core::ids::{AdvisorId, CardId, EventId};
use livecard_core::presence::{
    Entry, PresencePolicy, PresenceSource, PresenceState, PresenceUpdate, PresenceView, Signal,
};

/// The names of all checks, for hosts that run them one by one.
pub const CHECKS: &[&str] = &[
    "advisor_profile_keeps_presence",
    "presence_versions",
    "presence_version_race",
    "heartbeat_extends_never_shortens",
    "card_revocation",
    "card_revocation_race",
    "idempotent_events",
    "batched_events",
    "pagination",
    "signin_single_use",
    "api_keys",
    "claim_once",
    "capacity_claims",
    "session_versions",
    "session_deadlines",
    "chat_messages",
    "visitor_affinity",
    "attendance",
    "identity_images",
    "offline_inbox",
    "queues",
    "connections",
    "graph_subscriptions",
    "media_nodes",
    "destinations",
    "forwarding_outbox",
    "forwarding_parcels",
    "privacy",
    "saved_replies",
];

const T0: u64 = 1_795_392_000_000;
/// When what the checks store may expire (a transcript retention).
const KEEP: u64 = T0 + 90 * 86_400_000;

mod advisors;
mod auth;
mod cards;
mod connections;
mod events;
mod forward;
mod media;
mod privacy;
mod replies;
mod sessions;

pub use advisors::*;
pub use auth::*;
pub use cards::*;
pub use connections::*;
pub use events::*;
pub use forward::*;
pub use media::*;
pub use privacy::*;
pub use replies::*;
pub use sessions::*;

pub(crate) fn advisor(id: &str) -> Advisor {
    AdvisorInput {
        id: id.into(),
        display_name: format!("Advisor {id}"),
        title: "Support".into(),
        photo_url: None,
        languages: vec!["en".into()],
        topics: vec!["support".into()],
        channels: ChannelSet::ALL,
        capacity: 2,
        identities: Default::default(),
    }
    .validate()
    .unwrap_or_else(|e| panic!("test advisor is invalid: {e}"))
}
pub(crate) fn aid(id: &str) -> AdvisorId {
    AdvisorId::parse(id).unwrap_or_else(|e| panic!("{e}"))
}
pub(crate) fn card(n: u8, created_at: u64) -> Card {
    let ring =
        Keyring::new("k1", vec![("k1".into(), vec![7; 32])]).unwrap_or_else(|e| panic!("{e}"));
    let request = CardRequest {
        advisor: aid("anna"),
        campaign: Some("c".into()),
        channels: None,
        expires_in_ms: None,
    };
    Card::issue(&ring, request, ChannelSet::ALL, [n; 16], created_at)
        .unwrap_or_else(|e| panic!("{e}"))
}
pub(crate) fn ok<T>(result: Result<T, StoreError>, what: &str) -> T {
    result.unwrap_or_else(|e| panic!("{what}: {e}"))
}

/// Runs one check by name.
pub async fn run<S: Store>(name: &str, store: &S) {
    match name {
        "advisor_profile_keeps_presence" => advisor_profile_keeps_presence(store).await,
        "presence_versions" => presence_versions(store).await,
        "presence_version_race" => presence_version_race(store).await,
        "heartbeat_extends_never_shortens" => heartbeat_extends_never_shortens(store).await,
        "card_revocation" => card_revocation(store).await,
        "card_revocation_race" => card_revocation_race(store).await,
        "idempotent_events" => idempotent_events(store).await,
        "batched_events" => batched_events(store).await,
        "pagination" => pagination(store).await,
        "signin_single_use" => signin_single_use(store).await,
        "api_keys" => api_keys(store).await,
        "claim_once" => claim_once(store).await,
        "capacity_claims" => capacity_claims(store).await,
        "session_versions" => session_versions(store).await,
        "session_deadlines" => session_deadlines(store).await,
        "chat_messages" => chat_messages(store).await,
        "visitor_affinity" => visitor_affinity(store).await,
        "attendance" => attendance(store).await,
        "identity_images" => identity_images(store).await,
        "offline_inbox" => offline_inbox(store).await,
        "queues" => queues(store).await,
        "connections" => connections(store).await,
        "graph_subscriptions" => graph_subscriptions(store).await,
        "media_nodes" => media_nodes(store).await,
        "destinations" => destinations(store).await,
        "forwarding_outbox" => forwarding_outbox(store).await,
        "forwarding_parcels" => forwarding_parcels(store).await,
        "privacy" => privacy(store).await,
        "saved_replies" => saved_replies(store).await,
        other => panic!("no conformance check named {other}"),
    }
}
