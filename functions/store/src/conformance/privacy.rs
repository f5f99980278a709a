//! The privacy role: a visitor's sessions by index, and erasing what hangs
//! off them without touching anyone else's.

use super::*;
use livecard_core::forward::{Delivery, Job, Subject};
use livecard_core::ids::{DestinationId, RandomId};
use livecard_core::offline::{Inbox, OfflineMessage};
use livecard_core::session::{Session, Side};
use std::collections::HashSet;

fn session(n: u8, visitor: &str) -> StoredSession {
    StoredSession {
        id: RandomId::from_bytes([n; 16]).as_str().to_owned(),
        visitor: visitor.to_owned(),
        session: Session::new(Channel::Chat, T0),
        version: 1,
    }
}

fn event_of(n: u8, session: Option<&str>) -> Event {
    let mut event = Event::new(
        EventId::from_bytes([100 + n; 16]),
        EventName::ChatMessage,
        T0 + u64::from(n),
    );
    event.session = session.map(str::to_owned);
    event
}

pub async fn privacy<S: Store>(store: &S) {
    let (a, b, c) = (
        session(1, "v_alice"),
        session(2, "v_alice"),
        session(3, "v_bob"),
    );
    for s in [&a, &b, &c] {
        ok(store.create_session(s, None, KEEP).await, "create");
    }
    for s in [&a, &c] {
        ok(
            store
                .append_message(
                    &s.id,
                    crate::NewMessage::new(Side::Visitor, "m1", "hello", T0 + 1),
                    KEEP,
                )
                .await,
            "message",
        );
    }
    let offline = OfflineMessage::new(
        RandomId::from_bytes([2; 16]),
        Inbox::Advisor(aid("anna")),
        "Eva",
        "eva@example.com",
        "Call me",
        T0 + 2,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    ok(store.put_offline_message(&offline, KEEP).await, "offline");
    ok(
        store
            .remember_advisor("v_alice", &aid("anna"), T0, KEEP)
            .await,
        "affinity",
    );
    let batch: Vec<(Event, u64)> = [
        event_of(1, Some(&a.id)),
        event_of(2, Some(&a.id)),
        event_of(3, Some(&c.id)),
        event_of(4, None),
    ]
    .into_iter()
    .map(|e| (e, KEEP))
    .collect();
    let mut left = batch;
    while !left.is_empty() {
        left = ok(store.put_events(&left).await, "events");
    }
    ok(
        store.put_event(&event_of(5, Some(&b.id)), KEEP).await,
        "event",
    );
    let destination = DestinationId::parse("crm").unwrap_or_else(|e| panic!("{e}"));
    let job = |e: Event| Job {
        event: e,
        subject: Subject::default(),
    };
    let deliveries = [
        Delivery::new(destination.clone(), job(event_of(1, Some(&a.id))), T0),
        Delivery::new(destination.clone(), job(event_of(3, Some(&c.id))), T0),
    ];
    ok(store.put_deliveries(&deliveries, KEEP).await, "deliveries");

    let mut sessions = ok(store.visitor_sessions("v_alice").await, "index");
    sessions.sort();
    let mut expected = vec![a.id.clone(), b.id.clone()];
    expected.sort();
    assert_eq!(sessions, expected, "a visitor's sessions are indexed");
    assert_eq!(
        ok(store.visitor_sessions("v_bob").await, "index"),
        vec![c.id.clone()]
    );
    assert!(ok(store.get_offline_message(&b.id).await, "offline").is_some());

    // Erase alice: her sessions, their chat, her offline message, events
    // and deliveries; bob keeps everything.
    for s in [&a, &b] {
        ok(
            store.erase_session(&s.id, &s.visitor).await,
            "erase session",
        );
    }
    let day = livecard_core::event::utc_day(T0);
    let gone: HashSet<String> = [a.id.clone(), b.id.clone()].into();
    let mut erased = ok(store.erase_events(&day, &gone).await, "erase events");
    erased.sort();
    assert_eq!(
        erased,
        vec![
            event_of(1, None).id,
            event_of(2, None).id,
            event_of(5, None).id
        ],
        "the events of the erased sessions, from a batch and alone"
    );
    let erased_deliveries = ok(
        store.erase_deliveries(&destination, &erased).await,
        "erase deliveries",
    );
    assert_eq!(erased_deliveries, 1);
    ok(
        store.mark_erased(&[a.id.clone(), b.id.clone()], KEEP).await,
        "mark",
    );
    ok(store.forget_visitor("v_alice").await, "forget");

    assert!(ok(store.get_session(&a.id).await, "read").is_none());
    assert!(ok(store.messages_after(&a.id, None, 10).await, "read").is_empty());
    assert_eq!(
        ok(store.messages_after(&c.id, None, 10).await, "read").len(),
        1
    );
    assert!(ok(store.get_session(&c.id).await, "read").is_some());
    assert!(ok(store.visitor_sessions("v_alice").await, "index").is_empty());
    assert!(ok(store.get_offline_message(&b.id).await, "offline").is_none());
    assert!(ok(store.last_advisor("v_alice", T0).await, "affinity").is_none());
    let left = ok(
        store.list_events(&day, &PageRequest::first(100)).await,
        "events",
    );
    let ids: HashSet<EventId> = left.items.into_iter().map(|e| e.id).collect();
    assert_eq!(
        ids,
        [event_of(3, None).id, event_of(4, None).id].into(),
        "bob's and the page's events stay"
    );
    assert!(
        ok(
            store
                .get_delivery(&destination, &event_of(1, None).id)
                .await,
            "read"
        )
        .is_none()
    );
    assert!(
        ok(
            store
                .get_delivery(&destination, &event_of(3, None).id)
                .await,
            "read"
        )
        .is_some()
    );
    let marked = ok(
        store
            .erased_sessions(&[a.id.clone(), c.id.clone(), a.id.clone()])
            .await,
        "erased",
    );
    assert_eq!(marked, [a.id.clone()].into());
}
