//! The forwarding outbox.

use super::*;
use crate::{ForwardStore, StoredDestination};
use livecard_core::forward::{Delivery, DeliveryState, DestinationState, Job, Subject};
use livecard_core::ids::DestinationId;

fn did(id: &str) -> DestinationId {
    DestinationId::parse(id).unwrap_or_else(|e| panic!("{e}"))
}

fn delivery(destination: &str, n: u8, due: u64) -> Delivery {
    let event = Event::new(
        EventId::from_bytes([n; 16]),
        EventName::Accepted,
        T0 + u64::from(n),
    );
    let job = Job {
        event,
        subject: Subject::default(),
    };
    Delivery::new(did(destination), job, due)
}

/// Destinations are stored, listed in id order, paused and removed.
pub async fn destinations<S: ForwardStore>(store: &S) {
    let d = |id: &str| StoredDestination {
        id: did(id),
        kind: "webhook".into(),
        sealed: format!("sealed-{id}"),
        state: DestinationState::Active,
    };
    ok(store.put_destination(&d("hooks")).await, "put");
    ok(store.put_destination(&d("ga4")).await, "put");
    let list = ok(store.list_destinations().await, "list");
    assert_eq!(list, vec![d("ga4"), d("hooks")], "in id order");
    let paused = DestinationState::Paused {
        reason: "HTTP 503".into(),
        since: T0,
        until: Some(T0 + 900_000),
    };
    assert!(ok(
        store.set_destination_state(&did("ga4"), &paused).await,
        "pause"
    ));
    assert!(!ok(
        store.set_destination_state(&did("nope"), &paused).await,
        "unknown"
    ));
    let list = ok(store.list_destinations().await, "list");
    assert_eq!(list[0].state, paused);
    // Replacing the settings keeps nothing but what is given.
    ok(store.put_destination(&d("ga4")).await, "replace");
    assert_eq!(
        ok(store.list_destinations().await, "list")[0].state,
        DestinationState::Active
    );
    assert!(ok(store.delete_destination(&did("ga4")).await, "delete"));
    assert!(!ok(store.delete_destination(&did("ga4")).await, "again"));
    assert_eq!(
        ok(store.list_destinations().await, "list"),
        vec![d("hooks")]
    );
}

/// Deliveries are made once, found when due, claimed by one forwarder of
/// many, and leave the due list when settled.
pub async fn forwarding_outbox<S: ForwardStore>(store: &S) {
    let keep = T0 + 86_400_000;
    let first: Vec<Delivery> = (1..=5)
        .map(|n| delivery("ga4", n, T0 + u64::from(n) * 10))
        .collect();
    ok(store.put_deliveries(&first, keep).await, "put");
    ok(
        store
            .put_deliveries(&[delivery("other", 1, T0)], keep)
            .await,
        "put other",
    );
    // Made again (a retried write): the stored one is kept, whatever it says now.
    let mut again = delivery("ga4", 1, T0 + 10);
    again.state = DeliveryState::Dead;
    ok(store.put_deliveries(&[again], keep).await, "again");
    let due = ok(store.due_deliveries(&did("ga4"), T0 + 30, 10).await, "due");
    let ats: Vec<u64> = due.iter().map(|d| d.job.event.at - T0).collect();
    assert_eq!(ats, [1, 2, 3], "due ones, earliest first");
    assert_eq!(due[0], first[0], "read back as written");
    assert_eq!(
        ok(
            store
                .count_deliveries(&did("ga4"), DeliveryState::Pending)
                .await,
            "count"
        ),
        5
    );

    // Eight forwarders race to claim the first delivery: one wins.
    let mut lease = first[0].clone();
    lease.attempts = 1;
    lease.next_at = T0 + 60_000;
    let racing = (0..8).map(|_| store.update_delivery(&lease, 0));
    let won = join_all(racing)
        .await
        .into_iter()
        .filter(|r| matches!(r, Ok(true)))
        .count();
    assert_eq!(won, 1, "exactly one claim wins");
    let due = ok(store.due_deliveries(&did("ga4"), T0 + 30, 10).await, "due");
    assert_eq!(
        due.len(),
        2,
        "a claimed delivery is not due until its lease ends"
    );

    // Settled: done leaves every list; dead and expired are listed.
    let mut done = lease.clone();
    done.state = DeliveryState::Done;
    done.last_status = Some("HTTP 204".into());
    assert!(ok(store.update_delivery(&done, 1).await, "done"));
    assert!(
        !ok(store.update_delivery(&done, 0).await, "stale"),
        "a stale settle is refused"
    );
    let mut dead = first[1].clone();
    dead.state = DeliveryState::Dead;
    dead.attempts = 1;
    dead.next_at = T0 + 100;
    dead.last_status = Some("HTTP 400".into());
    assert!(ok(store.update_delivery(&dead, 0).await, "dead"));
    let mut expired = first[2].clone();
    expired.state = DeliveryState::Expired;
    expired.next_at = T0 + 200;
    assert!(ok(store.update_delivery(&expired, 0).await, "expired"));
    let due = ok(
        store.due_deliveries(&did("ga4"), T0 + 1_000_000, 10).await,
        "due",
    );
    assert_eq!(due.len(), 2, "only the two still pending");
    let listed = ok(
        store
            .list_deliveries(&did("ga4"), DeliveryState::Dead, &PageRequest::first(10))
            .await,
        "dead",
    );
    assert_eq!(listed.items, vec![dead.clone()]);
    assert_eq!(
        ok(
            store
                .count_deliveries(&did("ga4"), DeliveryState::Expired)
                .await,
            "n"
        ),
        1
    );
    assert_eq!(
        ok(
            store
                .count_deliveries(&did("ga4"), DeliveryState::Pending)
                .await,
            "n"
        ),
        2
    );
    let got = ok(
        store.get_delivery(&did("ga4"), first[0].event_id()).await,
        "get",
    );
    assert_eq!(got, Some(done));
    // Many at once: each write whose read still holds is made, the stale
    // ones are refused, and racing batch claims win each delivery once.
    let batch: Vec<Delivery> = (10..=14).map(|n| delivery("batch", n, T0)).collect();
    ok(store.put_deliveries(&batch, keep).await, "batch");
    let claims = |from: usize| -> Vec<(Delivery, u32)> {
        batch[from..]
            .iter()
            .map(|d| {
                let mut leased = d.clone();
                leased.attempts = 1;
                leased.next_at = T0 + 60_000;
                (leased, 0)
            })
            .collect()
    };
    let (a, b, c) = (claims(0), claims(2), claims(1));
    let results = join_all([
        store.update_deliveries(&a),
        store.update_deliveries(&b),
        store.update_deliveries(&c),
    ])
    .await;
    let mut won = [0usize; 5];
    for (result, from) in results.into_iter().zip([0, 2, 1]) {
        let made = ok(result, "batch claims");
        assert_eq!(made.len(), 5 - from);
        for (i, m) in made.into_iter().enumerate() {
            won[from + i] += usize::from(m);
        }
    }
    assert_eq!(won, [1; 5], "every delivery claimed exactly once");
    let stale = ok(store.update_deliveries(&claims(0)).await, "stale");
    assert_eq!(stale, vec![false; 5], "stale reads are refused");
    // A batch repeating a delivery, and one made before: made once.
    let again = [
        delivery("batch", 10, T0),
        delivery("batch", 15, T0),
        delivery("batch", 15, T0),
    ];
    ok(store.put_deliveries(&again, keep).await, "again");
    let got = ok(
        store.get_delivery(&did("batch"), batch[0].event_id()).await,
        "get",
    );
    assert_eq!(got.map(|d| d.attempts), Some(1), "the claimed one was kept");
    assert_eq!(
        ok(
            store
                .count_deliveries(&did("batch"), DeliveryState::Pending)
                .await,
            "n"
        ),
        6
    );

    // Replayed from the dead-letter list: pending again, due now.
    let mut replay = dead.clone();
    replay.state = DeliveryState::Pending;
    replay.next_at = T0 + 300;
    assert!(ok(store.update_delivery(&replay, 1).await, "replay"));
    assert_eq!(
        ok(
            store
                .count_deliveries(&did("ga4"), DeliveryState::Dead)
                .await,
            "n"
        ),
        0
    );
    assert_eq!(
        ok(store.due_deliveries(&did("ga4"), T0 + 300, 10).await, "due").len(),
        3,
        "the replayed one with the two pending"
    );
    assert_eq!(
        ok(store.due_deliveries(&did("other"), T0, 10).await, "other").len(),
        1
    );
}

/// Deliveries recorded together are parcels: one per destination and up to
/// 100, made once, claimed by one forwarder, counted as pending, and out of
/// the due list once done.
pub async fn forwarding_parcels<S: ForwardStore>(store: &S) {
    let keep = T0 + 86_400_000;
    let mut made: Vec<Delivery> = (0..150).map(|n| delivery("ga4", n as u8, T0)).collect();
    made.extend((0..10).map(|n| delivery("hooks", n, T0)));
    ok(store.put_parcels(&made, keep).await, "parcels");
    ok(store.put_parcels(&made, keep).await, "the same again");
    let ga4 = ok(store.due_parcels(&did("ga4"), T0, 10).await, "due");
    assert_eq!(
        ga4.iter().map(|p| p.jobs.len()).collect::<Vec<_>>(),
        [100, 50]
    );
    assert_eq!(ga4[0].jobs[0], made[0].job, "jobs read back as written");
    assert_eq!(
        ok(store.due_parcels(&did("hooks"), T0, 10).await, "due").len(),
        1
    );
    assert_eq!(
        ok(
            store
                .count_deliveries(&did("ga4"), DeliveryState::Pending)
                .await,
            "n"
        ),
        150
    );
    assert!(ok(store.due_parcels(&did("ga4"), T0 - 1, 10).await, "not yet").is_empty());

    // Three forwarders race to claim them: each parcel is won once.
    let lease = |p: &livecard_core::forward::Parcel| {
        let mut leased = p.clone();
        leased.attempts = 1;
        leased.next_at = T0 + 60_000;
        (leased, 0)
    };
    let claims: Vec<_> = ga4.iter().map(lease).collect();
    let results = join_all([
        store.update_parcels(&claims),
        store.update_parcels(&claims),
        store.update_parcels(&claims),
    ])
    .await;
    let mut won = [0; 2];
    for result in results {
        for (i, w) in ok(result, "claims").into_iter().enumerate() {
            won[i] += usize::from(w);
        }
    }
    assert_eq!(won, [1, 1], "each parcel claimed once");
    assert!(
        ok(
            store.due_parcels(&did("ga4"), T0 + 59_999, 10).await,
            "leased"
        )
        .is_empty()
    );
    assert_eq!(
        ok(
            store.due_parcels(&did("ga4"), T0 + 60_000, 10).await,
            "lease over"
        )
        .len(),
        2
    );

    // Done: out of the due list and the pending count.
    let mut done = claims[0].0.clone();
    done.done = true;
    done.jobs = Vec::new();
    assert_eq!(
        ok(store.update_parcels(&[(done, 1)]).await, "done"),
        vec![true]
    );
    assert_eq!(
        ok(store.due_parcels(&did("ga4"), T0 + 60_000, 10).await, "due").len(),
        1
    );
    assert_eq!(
        ok(
            store
                .count_deliveries(&did("ga4"), DeliveryState::Pending)
                .await,
            "n"
        ),
        50
    );
}
