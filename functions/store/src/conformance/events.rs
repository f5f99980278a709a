//! Events, one by one and batched.

use super::*;

pub async fn idempotent_events<S: EventStore>(store: &S) {
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

pub async fn batched_events<S: EventStore>(store: &S) {
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
    assert!(ok(store.put_events(&batch).await, "batch").is_empty());
    assert!(
        ok(store.put_events(&batch).await, "the same batch again").is_empty(),
        "nothing left unwritten"
    );
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
    // The same events as stored JSON, for readers that parse them themselves.
    let mut raw: std::collections::BTreeSet<EventId> = std::collections::BTreeSet::new();
    let mut request = PageRequest::first(100);
    loop {
        let page = ok(
            store.list_event_json(&single.day(), &request).await,
            "list event json",
        );
        for array in page.items {
            let events: Vec<Event> = serde_json::from_str(&array)
                .unwrap_or_else(|e| panic!("stored JSON is an array of events: {e}"));
            raw.extend(events.into_iter().map(|e| e.id));
        }
        match page.next {
            Some(next) => request.cursor = Some(next),
            None => break,
        }
    }
    let ids: std::collections::BTreeSet<EventId> = seen.iter().map(|e| e.id.clone()).collect();
    assert_eq!(raw, ids, "the stored JSON holds the same events");
    assert!(ok(store.put_events(&[]).await, "an empty batch").is_empty());
}
