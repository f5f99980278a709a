//! The conformance suite of the store contract.
//!
//! Every implementation of [`Store`] must pass every check here, including
//! the concurrent ones: a check panics with a message when the store breaks
//! the contract. Each check expects a store of its own (an empty table).
//! `functions/store/tests/conformance.rs` runs them against the embedded
//! server, or any DynamoDB-compatible server named by
//! `LIVECARD_TEST_DYNAMODB_ENDPOINT`.

use crate::{
    Appended, Claim, Created, EventWrite, PageRequest, PresenceWrite, Revocation, Store,
    StoreError, StoredSession,
};
use futures_util::future::join_all;
use livecard_core::advisor::{Advisor, AdvisorInput};
use livecard_core::card::{Card, CardRequest, Keyring};
use livecard_core::channel::{Channel, ChannelSet};
use livecard_core::event::{Event, EventName};
use livecard_core::ids::{AdvisorId, CardId, EventId};
use livecard_core::presence::{PresencePolicy, PresenceSource, PresenceState};

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
    "offline_inbox",
    "queues",
    "connections",
    "media_nodes",
];

const T0: u64 = 1_795_392_000_000;

fn advisor(id: &str) -> Advisor {
    AdvisorInput {
        id: id.into(),
        display_name: format!("Advisor {id}"),
        title: "Support".into(),
        photo_url: None,
        languages: vec!["en".into()],
        topics: vec!["support".into()],
        channels: ChannelSet::ALL,
        capacity: 2,
    }
    .validate()
    .unwrap_or_else(|e| panic!("test advisor is invalid: {e}"))
}

fn aid(id: &str) -> AdvisorId {
    AdvisorId::parse(id).unwrap_or_else(|e| panic!("{e}"))
}

fn card(n: u8, created_at: u64) -> Card {
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

fn ok<T>(result: Result<T, StoreError>, what: &str) -> T {
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
        "offline_inbox" => offline_inbox(store).await,
        "queues" => queues(store).await,
        "connections" => connections(store).await,
        "media_nodes" => media_nodes(store).await,
        other => panic!("no conformance check named {other}"),
    }
}

pub async fn advisor_profile_keeps_presence<S: Store>(store: &S) {
    let policy = PresencePolicy::default();
    assert_eq!(
        ok(store.get_advisor(&aid("nobody")).await, "get unknown"),
        None
    );
    ok(store.put_advisor(&advisor("anna")).await, "put advisor");
    let update = policy
        .manual_update(vec![(Channel::Chat, PresenceState::Available)], T0)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        ok(
            store.update_presence(&aid("anna"), &update).await,
            "presence"
        ),
        PresenceWrite::Applied
    );
    let mut changed = advisor("anna");
    changed.title = "Head of support".into();
    ok(store.put_advisor(&changed).await, "put advisor again");
    let record =
        ok(store.get_advisor(&aid("anna")).await, "get").unwrap_or_else(|| panic!("advisor lost"));
    assert_eq!(record.advisor, changed, "profile replaced");
    let chat = record
        .presence
        .chat
        .unwrap_or_else(|| panic!("presence lost when the profile changed"));
    assert_eq!(
        (chat.state, chat.version, chat.source),
        (PresenceState::Available, T0, PresenceSource::Manual)
    );
}

pub async fn presence_versions<S: Store>(store: &S) {
    let policy = PresencePolicy::default();
    let anna = aid("anna");
    ok(store.put_advisor(&advisor("anna")).await, "put advisor");
    let update = |states: Vec<(Channel, PresenceState)>, v| {
        policy
            .sync_update(states, v, u64::MAX / 2)
            .unwrap_or_else(|e| panic!("{e}"))
    };
    let write = |u| async move { ok(store.update_presence(&aid("anna"), &u).await, "update") };
    assert_eq!(
        write(update(vec![(Channel::Chat, PresenceState::Busy)], 20)).await,
        PresenceWrite::Applied
    );
    assert_eq!(
        write(update(vec![(Channel::Chat, PresenceState::Available)], 10)).await,
        PresenceWrite::Stale,
        "older overwrote newer"
    );
    assert_eq!(
        write(update(vec![(Channel::Chat, PresenceState::Away)], 20)).await,
        PresenceWrite::Stale,
        "a tie overwrote"
    );
    // All or nothing: audio would be new, chat is stale.
    let mixed = update(
        vec![
            (Channel::Chat, PresenceState::Available),
            (Channel::Audio, PresenceState::Available),
        ],
        15,
    );
    assert_eq!(write(mixed).await, PresenceWrite::Stale);
    let both = update(
        vec![
            (Channel::Chat, PresenceState::Available),
            (Channel::Audio, PresenceState::Away),
        ],
        30,
    );
    assert_eq!(write(both).await, PresenceWrite::Applied);
    let record =
        ok(store.get_advisor(&anna).await, "get").unwrap_or_else(|| panic!("advisor lost"));
    assert_eq!(
        record.presence.chat.map(|p| (p.state, p.version)),
        Some((PresenceState::Available, 30))
    );
    assert_eq!(
        record.presence.audio.map(|p| (p.state, p.version)),
        Some((PresenceState::Away, 30))
    );
    assert_eq!(record.presence.video, None);
    let console = policy
        .console_update(vec![(Channel::Video, PresenceState::Available)], T0)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(write(console).await, PresenceWrite::Applied);
    let record =
        ok(store.get_advisor(&anna).await, "get").unwrap_or_else(|| panic!("advisor lost"));
    assert_eq!(
        record.presence.heartbeat_until,
        Some(T0 + policy.heartbeat_ttl_ms)
    );
    // A far-future version would freeze the channel: an admin's reset
    // forgets every version, and the next update of any source applies.
    let frozen = update(vec![(Channel::Chat, PresenceState::Busy)], u64::MAX / 4);
    assert_eq!(write(frozen).await, PresenceWrite::Applied);
    let manual = policy
        .manual_update(vec![(Channel::Chat, PresenceState::Available)], T0)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(write(manual.clone()).await, PresenceWrite::Stale);
    assert!(ok(store.reset_presence(&anna).await, "reset"));
    let record =
        ok(store.get_advisor(&anna).await, "get").unwrap_or_else(|| panic!("advisor lost"));
    assert_eq!(record.presence, Default::default(), "reset forgets it all");
    assert_eq!(record.advisor, advisor("anna"), "the profile stays");
    assert_eq!(write(manual).await, PresenceWrite::Applied);
    assert!(
        !ok(store.reset_presence(&aid("ghost")).await, "reset ghost"),
        "no such advisor"
    );
    // Ending an advisor's sessions raises the epoch, one step per call even
    // when calls race, and keeps everything else.
    let record = ok(store.get_advisor(&anna).await, "get").unwrap_or_else(|| panic!("lost"));
    assert_eq!(record.session_epoch, 0);
    let raised = join_all((0..4).map(|_| store.end_sessions(&anna))).await;
    let mut epochs: Vec<u64> = raised
        .into_iter()
        .map(|r| ok(r, "end sessions").unwrap_or_else(|| panic!("anna exists")))
        .collect();
    epochs.sort_unstable();
    assert_eq!(epochs, vec![1, 2, 3, 4]);
    let after = ok(store.get_advisor(&anna).await, "get").unwrap_or_else(|| panic!("lost"));
    assert_eq!(after.session_epoch, 4);
    assert_eq!(
        (after.advisor, after.presence),
        (record.advisor.clone(), record.presence.clone())
    );
    ok(
        store.put_advisor(&advisor("anna")).await,
        "profile saved again",
    );
    let saved = ok(store.get_advisor(&anna).await, "get").unwrap_or_else(|| panic!("lost"));
    assert_eq!(saved.session_epoch, 4, "a profile write keeps the epoch");
    assert_eq!(ok(store.end_sessions(&aid("ghost")).await, "ghost"), None);
    let ghost = update(vec![(Channel::Chat, PresenceState::Busy)], 99);
    assert_eq!(
        ok(store.update_presence(&aid("ghost"), &ghost).await, "ghost"),
        PresenceWrite::UnknownAdvisor
    );
    assert_eq!(
        ok(store.get_advisor(&aid("ghost")).await, "get ghost"),
        None,
        "an update or a reset created an advisor"
    );
}

pub async fn presence_version_race<S: Store>(store: &S) {
    let policy = PresencePolicy::default();
    ok(store.put_advisor(&advisor("anna")).await, "put advisor");
    // 40 updates in a scrambled order, all at once; the highest must win.
    let versions: Vec<u64> = (0..40u64).map(|i| (i * 17) % 40 + 1).collect();
    let states = [
        PresenceState::Available,
        PresenceState::Busy,
        PresenceState::Away,
    ];
    let writes = versions.iter().map(|v| {
        let state = states[(*v % 3) as usize];
        let update = policy
            .sync_update(
                vec![(Channel::Chat, state), (Channel::Video, state)],
                *v,
                u64::MAX / 2,
            )
            .unwrap_or_else(|e| panic!("{e}"));
        async move {
            ok(
                store.update_presence(&aid("anna"), &update).await,
                "racing update",
            )
        }
    });
    let results = join_all(writes).await;
    assert!(results.contains(&PresenceWrite::Applied));
    let record =
        ok(store.get_advisor(&aid("anna")).await, "get").unwrap_or_else(|| panic!("advisor lost"));
    let expected = states[(40 % 3) as usize];
    for p in [record.presence.chat, record.presence.video] {
        assert_eq!(
            p.map(|p| (p.state, p.version)),
            Some((expected, 40)),
            "an older racing update won"
        );
    }
}

pub async fn heartbeat_extends_never_shortens<S: Store>(store: &S) {
    ok(store.put_advisor(&advisor("anna")).await, "put advisor");
    assert!(ok(
        store.heartbeat(&aid("anna"), T0 + 100).await,
        "heartbeat"
    ));
    assert!(ok(
        store.heartbeat(&aid("anna"), T0 + 50).await,
        "earlier heartbeat"
    ));
    let record =
        ok(store.get_advisor(&aid("anna")).await, "get").unwrap_or_else(|| panic!("advisor lost"));
    assert_eq!(
        record.presence.heartbeat_until,
        Some(T0 + 100),
        "a heartbeat shortened the deadline"
    );
    assert!(!ok(
        store.heartbeat(&aid("ghost"), T0).await,
        "ghost heartbeat"
    ));
    assert_eq!(
        ok(store.get_advisor(&aid("ghost")).await, "get ghost"),
        None
    );
}

pub async fn card_revocation<S: Store>(store: &S) {
    let c = card(1, T0);
    assert_eq!(ok(store.put_card(&c).await, "put card"), Created::Created);
    assert_eq!(
        ok(store.put_card(&c).await, "put card again"),
        Created::AlreadyExists
    );
    assert_eq!(
        ok(store.get_card(&c.claims.card_id).await, "get card"),
        Some(c.clone())
    );
    // A card page reads the card and its advisor together.
    let both = |card: CardId| async move {
        ok(
            store.get_card_and_advisor(&card, &aid("anna")).await,
            "get card and advisor",
        )
    };
    let (card, record) = both(c.claims.card_id.clone()).await;
    assert_eq!((card, record.is_none()), (Some(c.clone()), true));
    ok(store.put_advisor(&advisor("anna")).await, "put advisor");
    let (card, record) = both(c.claims.card_id.clone()).await;
    assert_eq!(card, Some(c.clone()));
    let record = record.unwrap_or_else(|| panic!("the advisor was not read with the card"));
    assert_eq!(record.advisor, advisor("anna"));
    let (card, record) = both(CardId::from_bytes([98; 16])).await;
    assert_eq!((card, record.is_some()), (None, true), "an unknown card");
    let revoked = ok(store.revoke_card(&c.claims.card_id, T0 + 5).await, "revoke");
    let Revocation::Revoked(card) = revoked else {
        panic!("first revocation gave {revoked:?}")
    };
    assert_eq!(card.revoked_at, Some(T0 + 5));
    let again = ok(
        store.revoke_card(&c.claims.card_id, T0 + 9).await,
        "revoke again",
    );
    assert!(
        matches!(&again, Revocation::AlreadyRevoked(card) if card.revoked_at == Some(T0 + 5)),
        "{again:?}"
    );
    let stored =
        ok(store.get_card(&c.claims.card_id).await, "get").unwrap_or_else(|| panic!("card lost"));
    assert_eq!(stored.revoked_at, Some(T0 + 5));
    let (card, _) = both(c.claims.card_id.clone()).await;
    assert_eq!(
        card.and_then(|c| c.revoked_at),
        Some(T0 + 5),
        "read with its advisor"
    );
    let unknown = CardId::from_bytes([99; 16]);
    assert_eq!(
        ok(store.revoke_card(&unknown, T0).await, "revoke unknown"),
        Revocation::NotFound
    );
    assert_eq!(
        ok(store.get_card(&unknown).await, "get unknown"),
        None,
        "revocation created a card"
    );
}

pub async fn card_revocation_race<S: Store>(store: &S) {
    let c = card(2, T0);
    ok(store.put_card(&c).await, "put card");
    let revokes = (0..20u64).map(|i| {
        let id = c.claims.card_id.clone();
        async move { ok(store.revoke_card(&id, T0 + i).await, "racing revoke") }
    });
    let results = join_all(revokes).await;
    let winners = results
        .iter()
        .filter(|r| matches!(r, Revocation::Revoked(_)))
        .count();
    assert_eq!(winners, 1, "{winners} concurrent revocations succeeded");
}

pub async fn idempotent_events<S: Store>(store: &S) {
    let event = Event::new(EventId::from_bytes([5; 16]), EventName::CardOpened, T0 + 10)
        .with_prop("page", "card");
    let writes =
        (0..25).map(|_| async { ok(store.put_event(&event, T0 + 1000).await, "racing event") });
    let results = join_all(writes).await;
    let stored = results.iter().filter(|r| **r == EventWrite::Stored).count();
    assert_eq!(stored, 1, "an event with one id was stored {stored} times");
    let earlier = Event::new(
        EventId::from_bytes([6; 16]),
        EventName::PortalViewed,
        T0 + 5,
    );
    assert_eq!(
        ok(store.put_event(&earlier, T0 + 1000).await, "event"),
        EventWrite::Stored
    );
    let page = ok(
        store
            .list_events(&event.day(), &PageRequest::first(50))
            .await,
        "list events",
    );
    assert_eq!(
        page.items,
        vec![earlier, event],
        "events of the day, oldest first, once each"
    );
    let other_day = ok(
        store
            .list_events("2001-01-01", &PageRequest::first(50))
            .await,
        "list other day",
    );
    assert!(other_day.items.is_empty());
}

pub async fn batched_events<S: Store>(store: &S) {
    let single = Event::new(EventId::from_bytes([200; 16]), EventName::PortalViewed, T0);
    assert_eq!(
        ok(store.put_event(&single, T0 + 1000).await, "event"),
        EventWrite::Stored
    );
    // 60 events (more than one batch), one of them stored before and one
    // named twice in the same call.
    let mut batch: Vec<(Event, u64)> = (0..60u8)
        .map(|i| {
            (
                Event::new(
                    EventId::from_bytes([i; 16]),
                    EventName::CardOpened,
                    T0 + u64::from(i),
                ),
                T0 + 1000,
            )
        })
        .collect();
    batch.push((single.clone(), T0 + 1000));
    batch.push(batch[3].clone());
    ok(store.put_events(&batch).await, "batch");
    ok(store.put_events(&batch).await, "the same batch again");
    let mut seen = Vec::new();
    let mut request = PageRequest::first(100);
    loop {
        let page = ok(
            store.list_events(&single.day(), &request).await,
            "list events",
        );
        seen.extend(page.items);
        match page.next {
            Some(next) => request.cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(seen.len(), 61, "every event once");
    assert!(
        seen.contains(&single),
        "the event stored before is still there, unchanged"
    );
    assert!(seen.windows(2).all(|w| w[0].at <= w[1].at), "oldest first");
    ok(store.put_events(&[]).await, "an empty batch");
}

pub async fn pagination<S: Store>(store: &S) {
    for i in 0..23 {
        ok(
            store.put_advisor(&advisor(&format!("a{i:02}"))).await,
            "put advisor",
        );
    }
    let mut seen = Vec::new();
    let mut request = PageRequest::first(10);
    let mut pages = 0;
    loop {
        let page = ok(store.list_advisors(&request).await, "list advisors");
        pages += 1;
        assert!(page.items.len() <= 10, "page larger than its limit");
        seen.extend(page.items.into_iter().map(|r| r.advisor.id.to_string()));
        match page.next {
            Some(next) => request.cursor = Some(next),
            None => break,
        }
        assert!(pages < 10, "pagination does not end");
    }
    let expected: Vec<String> = (0..23).map(|i| format!("a{i:02}")).collect();
    assert_eq!(seen, expected, "every advisor once, in id order");

    for i in 0..5u8 {
        ok(
            store.put_card(&card(10 + i, T0 + u64::from(i))).await,
            "put card",
        );
    }
    let first = ok(store.list_cards(&PageRequest::first(3)).await, "list cards");
    let created: Vec<u64> = first.items.iter().map(|c| c.created_at).collect();
    assert_eq!(created, vec![T0 + 4, T0 + 3, T0 + 2], "cards newest first");
    let cursor = first
        .next
        .unwrap_or_else(|| panic!("no cursor after a full page"));
    let second = ok(
        store
            .list_cards(&PageRequest {
                limit: 3,
                cursor: Some(cursor.clone()),
            })
            .await,
        "page 2",
    );
    let created: Vec<u64> = second.items.iter().map(|c| c.created_at).collect();
    assert_eq!(created, vec![T0 + 1, T0]);

    // A cursor is only good for the listing it came from.
    let advisors_cursor = ok(store.list_advisors(&PageRequest::first(1)).await, "list").next;
    let wrong = store
        .list_cards(&PageRequest {
            limit: 3,
            cursor: advisors_cursor,
        })
        .await;
    assert!(
        matches!(wrong, Err(StoreError::BadCursor)),
        "foreign cursor accepted: {wrong:?}"
    );
    for bad in ["", "!!!", "eyJ4IjoxfQ", &"A".repeat(2000)] {
        let result = store
            .list_advisors(&PageRequest {
                limit: 3,
                cursor: Some(bad.to_owned()),
            })
            .await;
        assert!(
            matches!(result, Err(StoreError::BadCursor)),
            "bad cursor {bad:?} accepted"
        );
    }
}

pub async fn signin_single_use<S: Store>(store: &S) {
    ok(
        store.put_signin("h1", &aid("anna"), T0 + 1000).await,
        "put sign-in",
    );
    let takes = (0..10).map(|_| async { ok(store.take_signin("h1", T0).await, "racing take") });
    let results = join_all(takes).await;
    let winners: Vec<_> = results.into_iter().flatten().collect();
    assert_eq!(
        winners,
        vec![aid("anna")],
        "a sign-in link worked more than once"
    );
    ok(
        store.put_signin("h2", &aid("anna"), T0 + 1000).await,
        "put sign-in",
    );
    assert_eq!(
        ok(store.take_signin("h2", T0 + 1000).await, "take expired"),
        None,
        "an expired link worked"
    );
    assert_eq!(
        ok(store.take_signin("nope", T0).await, "take unknown"),
        None
    );
}

pub async fn api_keys<S: Store>(store: &S) {
    assert!(!ok(store.api_key_exists("abc").await, "unknown key"));
    assert_eq!(
        ok(store.put_api_key("abc", "first", T0).await, "put key"),
        Created::Created
    );
    assert_eq!(
        ok(store.put_api_key("abc", "again", T0).await, "put key again"),
        Created::AlreadyExists
    );
    assert!(ok(store.api_key_exists("abc").await, "known key"));
}

pub async fn claim_once<S: Store>(store: &S) {
    let claims = (0..10).map(|_| async {
        ok(
            store.claim_once("webhook:msg_1", T0 + 1000).await,
            "racing claim",
        )
    });
    let results = join_all(claims).await;
    assert_eq!(
        results.iter().filter(|c| **c).count(),
        1,
        "one id was claimed more than once"
    );
    assert!(ok(
        store.claim_once("webhook:msg_2", T0 + 1000).await,
        "another id"
    ));
}

pub async fn capacity_claims<S: Store>(store: &S) {
    // Three advisors with capacities 2, 3 and 1; 210 claims at once.
    let capacities = [("cap-a", 2u16), ("cap-b", 3), ("cap-c", 1)];
    for (id, capacity) in capacities {
        let mut a = advisor(id);
        a.capacity = capacity;
        ok(store.put_advisor(&a).await, "put advisor");
    }
    let claims = (0..210usize).map(|i| {
        let id = aid(capacities[i % 3].0);
        async move {
            (
                id.clone(),
                ok(store.claim_capacity(&id).await, "racing claim"),
            )
        }
    });
    let results = join_all(claims).await;
    for (id, capacity) in capacities {
        let won = results
            .iter()
            .filter(|(a, c)| a.as_str() == id && *c == Claim::Claimed)
            .count();
        assert_eq!(
            won,
            usize::from(capacity),
            "{id} got {won} sessions with capacity {capacity}"
        );
        let record =
            ok(store.get_advisor(&aid(id)).await, "get").unwrap_or_else(|| panic!("advisor lost"));
        assert_eq!(record.load.active, capacity);
    }
    assert!(results.iter().any(|(_, c)| *c == Claim::Full));
    // A profile change keeps the load.
    ok(
        store.put_advisor(&advisor("cap-c")).await,
        "put advisor again",
    );
    assert_eq!(
        ok(store.get_advisor(&aid("cap-c")).await, "get").map(|r| r.load.active),
        Some(1)
    );
    // Releases give slots back, never below zero.
    assert!(ok(
        store.release_capacity(&aid("cap-c"), T0 + 7).await,
        "release"
    ));
    assert!(!ok(
        store.release_capacity(&aid("cap-c"), T0 + 8).await,
        "release below zero"
    ));
    let record =
        ok(store.get_advisor(&aid("cap-c")).await, "get").unwrap_or_else(|| panic!("advisor lost"));
    assert_eq!((record.load.active, record.load.idle_since), (0, T0 + 7));
    assert_eq!(
        ok(store.claim_capacity(&aid("cap-c")).await, "claim again"),
        Claim::Claimed
    );
    assert_eq!(
        ok(store.claim_capacity(&aid("nobody")).await, "claim unknown"),
        Claim::UnknownAdvisor
    );
    assert_eq!(
        ok(store.get_advisor(&aid("nobody")).await, "get unknown"),
        None,
        "a claim created an advisor"
    );
}

/// A stored contact session whose visitor has joined (so it can be rung).
fn stored(id: &str, at: u64) -> StoredSession {
    let mut session = livecard_core::session::Session::new(Channel::Chat, at);
    session
        .visitor_joins(at)
        .unwrap_or_else(|e| panic!("join: {e}"));
    StoredSession {
        id: id.to_owned(),
        visitor: "v_visitor".to_owned(),
        session,
        version: 1,
    }
}

pub async fn session_versions<S: Store>(store: &S) {
    use livecard_core::session::SessionPolicy;
    let first = stored("s-1", T0);
    assert_eq!(
        ok(store.create_session(&first, None).await, "create"),
        Created::Created
    );
    assert_eq!(
        ok(store.create_session(&first, None).await, "create again"),
        Created::AlreadyExists
    );
    assert_eq!(
        ok(store.get_session("s-1").await, "get"),
        Some(first.clone())
    );
    assert_eq!(ok(store.get_session("nope").await, "get unknown"), None);
    // Ten writers read version 1 and each try to ring someone: one wins.
    let writers = (0..10u8).map(|i| {
        let mut next = first.clone();
        let advisor = aid(&format!("a{i}"));
        async move {
            let _ = next
                .session
                .ring(advisor, &SessionPolicy::default(), T0 + 1);
            next.version = 2;
            ok(store.replace_session(&next, None).await, "racing replace")
        }
    });
    let results = join_all(writers).await;
    assert_eq!(
        results.iter().filter(|w| **w).count(),
        1,
        "two writers replaced the same version"
    );
    let now = ok(store.get_session("s-1").await, "get").unwrap_or_else(|| panic!("session lost"));
    assert_eq!(now.version, 2);
    assert!(matches!(
        now.session.phase,
        livecard_core::session::Phase::Ringing { .. }
    ));
    let mut stale = first.clone();
    stale.version = 2;
    assert!(
        !ok(store.replace_session(&stale, None).await, "stale replace"),
        "a stale read replaced a newer session"
    );
}

pub async fn session_deadlines<S: Store>(store: &S) {
    ok(
        store
            .create_session(&stored("due-early", T0), Some(T0 + 1_000))
            .await,
        "create",
    );
    ok(
        store
            .create_session(&stored("due-late", T0), Some(T0 + 60_000))
            .await,
        "create",
    );
    ok(
        store.create_session(&stored("no-deadline", T0), None).await,
        "create",
    );
    // Due across midnight: yesterday's partition is swept too.
    let midnight = T0 + 86_400_000;
    ok(
        store
            .create_session(&stored("due-yesterday", T0), Some(midnight - 1))
            .await,
        "create",
    );
    let mut due = ok(store.due_sessions(T0 + 1_000, 50).await, "due");
    due.sort();
    assert_eq!(due, vec!["due-early".to_owned()]);
    let mut due = ok(
        store.due_sessions(midnight + 5, 50).await,
        "due after midnight",
    );
    due.sort();
    assert_eq!(due, vec!["due-early", "due-late", "due-yesterday"]);
    // A window of deadlines (a console looking for rings in progress).
    let window = ok(
        store
            .sessions_due_between(T0 + 1_000, T0 + 60_000, 50)
            .await,
        "window",
    );
    assert_eq!(
        window,
        vec!["due-late".to_owned()],
        "after from, up to until"
    );
    let across = ok(
        store
            .sessions_due_between(midnight - 10, midnight + 10, 50)
            .await,
        "window across midnight",
    );
    assert_eq!(across, vec!["due-yesterday".to_owned()]);
    // A replace without a deadline takes the session out of the sweep.
    let mut done = stored("due-early", T0);
    done.version = 2;
    assert!(ok(store.replace_session(&done, None).await, "replace"));
    let due = ok(store.due_sessions(T0 + 70_000, 50).await, "due");
    assert_eq!(due, vec!["due-late".to_owned()]);
}

pub async fn chat_messages<S: Store>(store: &S) {
    use livecard_core::session::Side;
    ok(
        store.create_session(&stored("chat-1", T0), None).await,
        "create",
    );
    let text = "<script>alert(1)</script> Grüße";
    let first = ok(
        store
            .append_message("chat-1", Side::Visitor, "m1", text, T0 + 1)
            .await,
        "append",
    );
    let Appended::New(first) = first else {
        panic!("first append was a duplicate")
    };
    assert_eq!(first.text, text);
    ok(
        store
            .append_message("chat-1", Side::Advisor, "m1", "hello", T0 + 2)
            .await,
        "append",
    );
    // The visitor resends m1 after a reconnect, later: not stored twice.
    let resend = ok(
        store
            .append_message("chat-1", Side::Visitor, "m1", text, T0 + 3)
            .await,
        "resend",
    );
    assert_eq!(resend, Appended::Duplicate);
    let racing = (0..10).map(|_| async {
        ok(
            store
                .append_message("chat-1", Side::Visitor, "m2", "again", T0 + 4)
                .await,
            "racing",
        )
    });
    let results = join_all(racing).await;
    assert_eq!(
        results
            .iter()
            .filter(|r| matches!(r, Appended::New(_)))
            .count(),
        1,
        "one message stored twice"
    );
    let all = ok(store.messages_after("chat-1", None, 50).await, "list");
    let texts: Vec<&str> = all.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(
        texts,
        vec![text, "hello", "again"],
        "each message once, in order"
    );
    assert_eq!(
        ok(store.message_stats("chat-1").await, "stats"),
        (3, Some(T0 + 4))
    );
    assert_eq!(ok(store.message_stats("other").await, "stats"), (0, None));
    let rest = ok(
        store.messages_after("chat-1", Some(&first.key), 50).await,
        "after first",
    );
    assert_eq!(rest.len(), 2, "resume after a key");
    assert!(matches!(
        store.messages_after("chat-1", Some("CID#x"), 50).await,
        Err(StoreError::BadCursor)
    ));
    assert!(
        ok(
            store.messages_after("other", None, 50).await,
            "other session"
        )
        .is_empty()
    );
}

pub async fn visitor_affinity<S: Store>(store: &S) {
    assert_eq!(
        ok(store.last_advisor("vis_a", T0).await, "unknown visitor"),
        None
    );
    ok(
        store
            .remember_advisor("vis_a", &aid("anna"), T0, T0 + 1000)
            .await,
        "remember",
    );
    ok(
        store
            .remember_advisor("vis_a", &aid("ben"), T0 + 10, T0 + 1010)
            .await,
        "remember newer",
    );
    assert_eq!(
        ok(store.last_advisor("vis_a", T0 + 500).await, "last"),
        Some((aid("ben"), T0 + 10))
    );
    assert_eq!(
        ok(store.last_advisor("vis_a", T0 + 1010).await, "expired"),
        None,
        "affinity outlived its window"
    );
}

pub async fn offline_inbox<S: Store>(store: &S) {
    use livecard_core::ids::RandomId;
    use livecard_core::offline::{Inbox, InboxPosition, OfflineMessage};
    let message = |n: u8, inbox: Inbox| {
        OfflineMessage::new(
            RandomId::from_bytes([n; 16]),
            inbox,
            "Eva",
            "eva@example.com",
            "Call me",
            T0 + u64::from(n),
        )
        .unwrap_or_else(|e| panic!("{e}"))
    };
    let anna = Inbox::Advisor(aid("anna"));
    for n in 0..3 {
        assert_eq!(
            ok(
                store
                    .put_offline_message(&message(n, anna.clone()), T0 + 9999)
                    .await,
                "put"
            ),
            Created::Created
        );
    }
    assert_eq!(
        ok(
            store
                .put_offline_message(&message(0, anna.clone()), T0 + 9999)
                .await,
            "again"
        ),
        Created::AlreadyExists
    );
    ok(
        store
            .put_offline_message(&message(9, Inbox::Topic("billing".into())), T0 + 9999)
            .await,
        "topic",
    );
    let page = ok(store.list_inbox(&anna.key(), None, 2).await, "inbox");
    let at: Vec<u64> = page.iter().map(|m| m.at).collect();
    assert_eq!(at, vec![T0 + 2, T0 + 1], "newest first");
    let last = page.last().map(InboxPosition::of);
    let rest = ok(
        store.list_inbox(&anna.key(), last.as_ref(), 2).await,
        "after the first page",
    );
    let at: Vec<u64> = rest.iter().map(|m| m.at).collect();
    assert_eq!(at, vec![T0], "the rest, after the position");
    // Same time, different ids: the id orders them, and none is lost.
    let mut same = Vec::new();
    for n in [20u8, 30, 40] {
        let m = OfflineMessage {
            at: T0 + 50,
            ..message(n, anna.clone())
        };
        ok(store.put_offline_message(&m, T0 + 9999).await, "same time");
        same.push(m);
    }
    let first = ok(store.list_inbox(&anna.key(), None, 2).await, "same 1");
    let second = ok(
        store
            .list_inbox(&anna.key(), first.last().map(InboxPosition::of).as_ref(), 2)
            .await,
        "same 2",
    );
    let mut seen: Vec<OfflineMessage> = first.into_iter().chain(second).collect();
    seen.truncate(3);
    seen.sort_by_key(|m| m.id.to_string());
    same.sort_by_key(|m| m.id.to_string());
    assert_eq!(seen, same, "paged through messages of one instant");
    let topic = ok(
        store.list_inbox("topic:billing", None, 10).await,
        "topic inbox",
    );
    assert_eq!(topic, vec![message(9, Inbox::Topic("billing".into()))]);
}

/// Queues keep their order by place, forget what is taken out or expired,
/// and do not mix.
pub async fn queues<S: Store>(store: &S) {
    let t = 1_795_392_000_000;
    ok(
        store.enqueue("topic:q1", "s-b", t + 20, t + 60_000).await,
        "enqueue",
    );
    ok(
        store.enqueue("topic:q1", "s-a", t + 10, t + 60_000).await,
        "enqueue",
    );
    ok(
        store.enqueue("topic:q1", "s-c", t + 30, t + 100).await,
        "enqueue",
    );
    ok(
        store.enqueue("topic:q2", "s-d", t, t + 60_000).await,
        "enqueue",
    );
    let q1 = ok(store.list_queue("topic:q1", t, 10).await, "list");
    assert_eq!(
        q1,
        vec![
            ("s-a".to_owned(), t + 10),
            ("s-b".to_owned(), t + 20),
            ("s-c".to_owned(), t + 30)
        ]
    );
    let later = ok(store.list_queue("topic:q1", t + 100, 10).await, "list");
    assert_eq!(later.len(), 2, "an expired entry is not listed");
    ok(store.dequeue("topic:q1", "s-a", t + 10).await, "dequeue");
    ok(
        store.dequeue("topic:q1", "s-a", t + 10).await,
        "dequeue twice",
    );
    let q1 = ok(store.list_queue("topic:q1", t, 1).await, "list");
    assert_eq!(q1, vec![("s-b".to_owned(), t + 20)]);
    let q2 = ok(store.list_queue("topic:q2", t, 10).await, "list");
    assert_eq!(q2, vec![("s-d".to_owned(), t)]);
    assert!(ok(store.list_queue("topic:none", t, 10).await, "list").is_empty());
    // The sweep finds the queues with someone waiting (an index: it may lag).
    let mut waiting = Vec::new();
    for _ in 0..50 {
        waiting = ok(store.waiting_queues(100).await, "waiting");
        if waiting.len() == 2 {
            break;
        }
    }
    assert_eq!(waiting, vec!["topic:q2".to_owned(), "topic:q1".to_owned()]);
}

/// Connections of a serverless host: their state survives between
/// invocations, subscriptions find them, and deleting a connection removes
/// every subscription it had.
pub async fn connections<S: Store>(store: &S) {
    let until = T0 + 7_200_000;
    // Subscribed before its state is first saved (as on `$connect`).
    ok(
        store.subscribe("c1", "advisor:anna", until).await,
        "subscribe",
    );
    ok(store.put_connection("c1", r#"{"n":1}"#, until).await, "put");
    ok(
        store.put_connection("c2", r#"{"n":2}"#, until).await,
        "put c2",
    );
    ok(
        store.subscribe("c1", "visitor:s1", until).await,
        "subscribe",
    );
    ok(
        store.subscribe("c2", "visitor:s1", until).await,
        "subscribe c2",
    );
    ok(
        store.subscribe("c2", "visitor:s1", until).await,
        "subscribe twice",
    );
    assert_eq!(
        ok(store.get_connection("c1", T0).await, "get").as_deref(),
        Some(r#"{"n":1}"#)
    );
    assert_eq!(ok(store.get_connection("c1", until).await, "expired"), None);
    assert_eq!(
        ok(store.get_connection("nobody", T0).await, "missing"),
        None
    );
    let mut subs = ok(store.subscribers("visitor:s1", T0, 10).await, "subs");
    subs.sort();
    assert_eq!(subs, vec!["c1".to_owned(), "c2".to_owned()]);
    assert!(
        ok(
            store.subscribers("visitor:s1", until, 10).await,
            "expired subs"
        )
        .is_empty()
    );
    // Saving the state again keeps the subscriptions.
    ok(
        store.put_connection("c1", r#"{"n":3}"#, until).await,
        "put again",
    );
    assert_eq!(
        ok(
            store.subscribers("advisor:anna", T0, 10).await,
            "advisor subs"
        ),
        vec!["c1".to_owned()]
    );
    ok(store.unsubscribe("c2", "visitor:s1").await, "unsubscribe");
    ok(
        store.unsubscribe("c2", "visitor:none").await,
        "unsubscribe nothing",
    );
    assert_eq!(
        ok(
            store.subscribers("visitor:s1", T0, 10).await,
            "after unsubscribe"
        ),
        vec!["c1".to_owned()]
    );
    ok(store.delete_connection("c1").await, "delete");
    ok(store.delete_connection("c1").await, "delete twice");
    assert_eq!(ok(store.get_connection("c1", T0).await, "deleted"), None);
    assert!(ok(store.subscribers("visitor:s1", T0, 10).await, "gone").is_empty());
    assert!(ok(store.subscribers("advisor:anna", T0, 10).await, "gone").is_empty());
    assert_eq!(
        ok(store.get_connection("c2", T0).await, "c2 kept").as_deref(),
        Some(r#"{"n":2}"#)
    );
}

/// Media nodes register and renew; only those with a current heartbeat are
/// listed.
pub async fn media_nodes<S: Store>(store: &S) {
    use livecard_core::media::MediaNode;
    let node = |id: &str, load: u32, hb: u64| MediaNode {
        id: id.into(),
        host: "203.0.113.10".into(),
        turn_port: 3478,
        tls_port: Some(5349),
        capacity: 100,
        load,
        heartbeat_until: hb,
    };
    ok(
        store.put_media_node(&node("n1", 5, T0 + 30_000)).await,
        "n1",
    );
    ok(
        store.put_media_node(&node("n2", 1, T0 + 10_000)).await,
        "n2",
    );
    ok(
        store.put_media_node(&node("n3", 0, T0 - 1)).await,
        "n3 stopped",
    );
    let live = ok(store.live_media_nodes(T0, 10).await, "live");
    assert_eq!(
        live,
        vec![node("n1", 5, T0 + 30_000), node("n2", 1, T0 + 10_000)]
    );
    // A heartbeat renews the node and its load.
    ok(
        store.put_media_node(&node("n2", 7, T0 + 40_000)).await,
        "renew",
    );
    let live = ok(store.live_media_nodes(T0 + 20_000, 10).await, "later");
    assert_eq!(
        live,
        vec![node("n1", 5, T0 + 30_000), node("n2", 7, T0 + 40_000)]
    );
    assert!(ok(store.live_media_nodes(T0 + 40_000, 10).await, "all stopped").is_empty());
}
