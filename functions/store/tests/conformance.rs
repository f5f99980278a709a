//! The store conformance suite against a DynamoDB-compatible server: the
//! embedded one by default, or the one at `LIVECARD_TEST_DYNAMODB_ENDPOINT`
//! (for example Amazon's DynamoDB Local).

/// When the sessions and messages written here may expire.
const KEEP: u64 = u64::MAX / 2;
use aws_sdk_dynamodb::types::AttributeValue;
use livecard_core::card::{Card, CardRequest, Keyring};
use livecard_core::channel::ChannelSet;
use livecard_core::event::{Event, EventName};
use livecard_core::ids::{AdvisorId, EventId};
use livecard_store::conformance;
use livecard_store::dynamo::{DynamoStore, TTL_ATTRIBUTE, local_client};
use livecard_store::embedded::EmbeddedDynamo;
use livecard_store::prelude::*;
use std::sync::atomic::{AtomicU32, Ordering};

static TABLES: AtomicU32 = AtomicU32::new(0);

/// A store on a new, empty table, and the embedded server when one is used.
async fn fresh_store() -> (Option<EmbeddedDynamo>, DynamoStore) {
    let n = TABLES.fetch_add(1, Ordering::Relaxed);
    let table = format!("conformance-{}-{n}", std::process::id());
    let (server, endpoint) = match std::env::var("LIVECARD_TEST_DYNAMODB_ENDPOINT") {
        Ok(endpoint) if !endpoint.is_empty() => (None, endpoint),
        _ => {
            let server = EmbeddedDynamo::start(None)
                .await
                .expect("embedded server starts");
            let endpoint = server.endpoint().to_owned();
            (Some(server), endpoint)
        }
    };
    let store = DynamoStore::new(local_client(&endpoint), table);
    store.ensure_table().await.expect("table created");
    (server, store)
}

macro_rules! checks {
    ($($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let (_server, store) = fresh_store().await;
                conformance::run(stringify!($name), &store).await;
            }
        )*

        #[test]
        fn every_check_is_run() {
            let here = [$(stringify!($name)),*];
            assert_eq!(here.as_slice(), conformance::CHECKS);
        }
    };
}

checks!(
    advisor_profile_keeps_presence,
    presence_versions,
    presence_version_race,
    heartbeat_extends_never_shortens,
    card_revocation,
    card_revocation_race,
    idempotent_events,
    batched_events,
    pagination,
    signin_single_use,
    api_keys,
    claim_once,
    capacity_claims,
    session_versions,
    session_deadlines,
    chat_messages,
    visitor_affinity,
    attendance,
    identity_images,
    offline_inbox,
    queues,
    connections,
    graph_subscriptions,
    media_nodes,
    destinations,
    forwarding_outbox,
    forwarding_parcels,
    privacy,
    saved_replies,
);

/// DynamoDB specifics: TTL is enabled on the table and the items that expire
/// carry it in Unix seconds.
#[tokio::test]
async fn ttl_attributes() {
    let (_server, store) = fresh_store().await;
    let ttl = store
        .client()
        .describe_time_to_live()
        .table_name(store.table())
        .send()
        .await
        .expect("describe TTL");
    let description = ttl.time_to_live_description().expect("TTL description");
    assert_eq!(description.attribute_name(), Some(TTL_ATTRIBUTE));
    assert_eq!(
        description.time_to_live_status().map(|s| s.as_str()),
        Some("ENABLED")
    );

    let now = 1_795_392_000_000;
    let ring = Keyring::new("k1", vec![("k1".into(), vec![7; 32])]).expect("keyring");
    let request = CardRequest {
        advisor: AdvisorId::parse("anna").expect("id"),
        campaign: None,
        channels: None,
        expires_in_ms: Some(86_400_000),
    };
    let card = Card::issue(&ring, request, ChannelSet::ALL, [1; 16], now).expect("card");
    store.put_card(&card).await.expect("put card");
    let event = Event::new(EventId::from_bytes([2; 16]), EventName::PortalViewed, now);
    store
        .put_event(&event, now + 3_600_000)
        .await
        .expect("put event");
    store
        .put_signin(
            "hash",
            &AdvisorId::parse("anna").expect("id"),
            now + 900_000,
        )
        .await
        .expect("put sign-in");
    // Sessions and their chat go with the transcript retention.
    let keep = now + 90 * 86_400_000;
    let session = livecard_store::StoredSession {
        id: "ttl-session".into(),
        visitor: "vis_ttl".into(),
        session: livecard_core::session::Session::new(livecard_core::channel::Channel::Chat, now),
        version: 1,
    };
    store
        .create_session(&session, None, keep)
        .await
        .expect("create session");
    store
        .append_message(
            "ttl-session",
            livecard_store::NewMessage::new(
                livecard_core::session::Side::Visitor,
                "m1",
                "hello",
                now + 1,
            ),
            keep,
        )
        .await
        .expect("append");
    let side = livecard_core::session::Side::Visitor;
    let transcript = [
        livecard_store::keys::META.to_owned(),
        livecard_store::keys::message(now + 1, side, None, "m1"),
        livecard_store::keys::client_id(side, None, "m1"),
    ];

    let mut cases = vec![
        (
            format!("CARD#{}", card.claims.card_id),
            "CARD".to_owned(),
            (now + 86_400_000 + 30 * 86_400_000) / 1000,
        ),
        (
            format!("EVENT#{}", event.id),
            "EVENT".to_owned(),
            (now + 3_600_000) / 1000,
        ),
        (
            "SIGNIN#hash".to_owned(),
            "SIGNIN".to_owned(),
            (now + 900_000) / 1000,
        ),
    ];
    for sk in transcript {
        cases.push(("SESSION#ttl-session".to_owned(), sk, keep / 1000));
    }
    for (pk, sk, expected) in cases {
        let item = store
            .client()
            .get_item()
            .table_name(store.table())
            .key("pk", AttributeValue::S(pk.clone()))
            .key("sk", AttributeValue::S(sk.clone()))
            .send()
            .await
            .expect("get item")
            .item
            .unwrap_or_else(|| panic!("{pk} {sk} exists"));
        assert_eq!(
            item.get(TTL_ATTRIBUTE),
            Some(&AttributeValue::N(expected.to_string())),
            "{pk} {sk}"
        );
    }
}

/// Expired items go when the embedded server sweeps, as DynamoDB's TTL does.
#[tokio::test]
async fn embedded_sweep_deletes_expired_items() {
    if std::env::var("LIVECARD_TEST_DYNAMODB_ENDPOINT").is_ok_and(|e| !e.is_empty()) {
        return; // only the embedded server can be told to sweep
    }
    let (server, store) = fresh_store().await;
    let server = server.expect("embedded");
    let event = Event::new(EventId::from_bytes([3; 16]), EventName::PortalViewed, 1_000);
    store.put_event(&event, 2_000).await.expect("put event");
    assert!(server.sweep_ttl() >= 1);
    let page = store
        .list_events(&event.day(), &livecard_store::PageRequest::first(10))
        .await
        .expect("list");
    assert!(page.items.is_empty());
}

/// The group commit of chat messages keeps the contract: each message once
/// per sender id (resends, and twins inside one group), in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_messages_with_group_commit() {
    let (_server, store) = fresh_store().await;
    let store = store.with_group_commit();
    conformance::run("chat_messages", &store).await;
    // Many senders at once land in few transactions, each answered alone.
    use livecard_core::session::Side;
    use livecard_store::Appended;
    let appends = (0..300u64).map(|i| {
        let store = store.clone();
        async move {
            store
                .append_message(
                    "burst",
                    livecard_store::NewMessage::new(
                        Side::Visitor,
                        &format!("m{}", i % 200),
                        "x",
                        1_000 + i,
                    ),
                    KEEP,
                )
                .await
                .expect("append")
        }
    });
    let results = futures_util::future::join_all(appends).await;
    let new = results
        .iter()
        .filter(|r| matches!(r, Appended::New(_)))
        .count();
    assert_eq!(new, 200, "each sender id once");
    assert_eq!(store.message_stats("burst").await.expect("stats").0, 200);

    // Many sessions at once (spread over the writers), each sending in
    // turn and resending everything: every message once, in order.
    let sessions = (0..24u64).map(|s| {
        let store = store.clone();
        async move {
            let session = format!("many-{s}");
            for round in 0..2 {
                for i in 0..15u64 {
                    let appended = store
                        .append_message(
                            &session,
                            livecard_store::NewMessage::new(
                                Side::Advisor,
                                &format!("c{i}"),
                                &format!("text {i}"),
                                10_000 + i * 10 + round,
                            ),
                            KEEP,
                        )
                        .await
                        .expect("append");
                    assert_eq!(
                        matches!(appended, Appended::New(_)),
                        round == 0,
                        "{session} c{i} round {round}"
                    );
                }
            }
            session
        }
    });
    for session in futures_util::future::join_all(sessions).await {
        let stored = store
            .messages_after(&session, None, 100)
            .await
            .expect("messages");
        let ids: Vec<&str> = stored.iter().map(|m| m.client_id.as_str()).collect();
        let expected: Vec<String> = (0..15).map(|i| format!("c{i}")).collect();
        assert_eq!(ids, expected, "{session}");
    }
}
