//! Advisors, presence, heartbeats and capacity claims.

use super::*;

fn manual(state: PresenceState) -> PresenceUpdate {
    PresencePolicy::default()
        .console_update(vec![(Channel::Chat, state)], T0, T0 + HOUR)
        .unwrap_or_else(|e| panic!("{e}"))
}

fn from(source: PresenceSource, states: Vec<(Channel, Signal)>, version: u64) -> PresenceUpdate {
    PresencePolicy::default()
        .source_update(source, states, version, None, u64::MAX / 2)
        .unwrap_or_else(|e| panic!("{e}"))
}

const HOUR: u64 = 3_600_000;

async fn write<S: AdvisorStore>(store: &S, id: &str, update: &PresenceUpdate) -> PresenceWrite {
    ok(
        store
            .update_presence(&aid(id), update, &PresencePolicy::default(), T0)
            .await,
        "presence update",
    )
}

fn applied(write: PresenceWrite) -> PresenceChange {
    match write {
        PresenceWrite::Applied(change) => change,
        other => panic!("expected the update to apply: {other:?}"),
    }
}

pub async fn advisor_profile_keeps_presence<S: AdvisorStore>(store: &S) {
    assert_eq!(
        ok(store.get_advisor(&aid("nobody")).await, "get unknown"),
        None
    );
    ok(store.put_advisor(&advisor("anna")).await, "put advisor");
    let change = applied(write(store, "anna", &manual(PresenceState::Available)).await);
    assert_eq!(change.before.chat, PresenceState::Offline);
    assert_eq!(
        change.after.chat,
        PresenceState::Available,
        "console open, manual available"
    );
    let mut changed = advisor("anna");
    changed.title = "Head of support".into();
    ok(store.put_advisor(&changed).await, "put advisor again");
    let record =
        ok(store.get_advisor(&aid("anna")).await, "get").unwrap_or_else(|| panic!("advisor lost"));
    assert_eq!(record.advisor, changed, "profile replaced");
    let chat = record
        .presence
        .entry(PresenceSource::Manual, Channel::Chat)
        .copied()
        .unwrap_or_else(|| panic!("presence lost when the profile changed"));
    assert_eq!(
        (chat.signal, chat.version, chat.expires_at),
        (Signal::Available, T0, Some(T0 + HOUR))
    );
    assert_eq!(
        record.presence.heartbeat_until,
        Some(T0 + PresencePolicy::default().heartbeat_ttl_ms),
        "a console update is a heartbeat too"
    );
    assert_eq!(
        record.effective.map(|e| e.chat),
        Some(PresenceState::Available),
        "the effective presence is stored"
    );
}

pub async fn presence_versions<S: AdvisorStore>(store: &S) {
    let anna = aid("anna");
    ok(store.put_advisor(&advisor("anna")).await, "put advisor");
    let teams = |signal, v| from(PresenceSource::Teams, vec![(Channel::Chat, signal)], v);
    assert!(matches!(
        write(store, "anna", &teams(Signal::Busy, 20)).await,
        PresenceWrite::Applied(_)
    ));
    assert_eq!(
        write(store, "anna", &teams(Signal::Available, 10)).await,
        PresenceWrite::Stale,
        "older overwrote newer"
    );
    assert_eq!(
        write(store, "anna", &teams(Signal::Away, 20)).await,
        PresenceWrite::Stale,
        "a tie overwrote"
    );
    // Another source keeps its own versions: a lower one still applies.
    let xmpp = from(PresenceSource::Xmpp, vec![(Channel::Chat, Signal::Away)], 5);
    assert!(matches!(
        write(store, "anna", &xmpp).await,
        PresenceWrite::Applied(_)
    ));
    // All or nothing: audio would be new, chat is stale.
    let mixed = from(
        PresenceSource::Teams,
        vec![
            (Channel::Chat, Signal::Available),
            (Channel::Audio, Signal::Available),
        ],
        15,
    );
    assert_eq!(write(store, "anna", &mixed).await, PresenceWrite::Stale);
    // An expiry is kept with the entry, and dropped by an update without one.
    let expiring = PresencePolicy::default()
        .source_update(
            PresenceSource::Teams,
            vec![
                (Channel::Chat, Signal::DoNotDisturb),
                (Channel::Audio, Signal::OnCall),
            ],
            30,
            Some(T0 + 15_000),
            T0,
        )
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(
        write(store, "anna", &expiring).await,
        PresenceWrite::Applied(_)
    ));
    let record = ok(store.get_advisor(&anna).await, "get").unwrap_or_else(|| panic!("lost"));
    let entry = |r: &AdvisorRecord, source, channel| r.presence.entry(source, channel).copied();
    assert_eq!(
        entry(&record, PresenceSource::Teams, Channel::Audio),
        Some(Entry {
            signal: Signal::OnCall,
            version: 30,
            expires_at: Some(T0 + 15_000)
        })
    );
    assert_eq!(
        entry(&record, PresenceSource::Xmpp, Channel::Chat).map(|e| (e.signal, e.version)),
        Some((Signal::Away, 5))
    );
    assert_eq!(entry(&record, PresenceSource::Teams, Channel::Video), None);
    let lasting = teams(Signal::Available, 31);
    assert!(matches!(
        write(store, "anna", &lasting).await,
        PresenceWrite::Applied(_)
    ));
    let record = ok(store.get_advisor(&anna).await, "get").unwrap_or_else(|| panic!("lost"));
    assert_eq!(
        entry(&record, PresenceSource::Teams, Channel::Chat),
        Some(Entry {
            signal: Signal::Available,
            version: 31,
            expires_at: None
        })
    );
    // A far-future version would freeze the source: an admin's reset
    // forgets every source and version, and the next update applies.
    let frozen = teams(Signal::Busy, u64::MAX / 4);
    assert!(matches!(
        write(store, "anna", &frozen).await,
        PresenceWrite::Applied(_)
    ));
    assert_eq!(
        write(store, "anna", &teams(Signal::Available, 40)).await,
        PresenceWrite::Stale
    );
    assert!(ok(store.reset_presence(&anna).await, "reset"));
    let record = ok(store.get_advisor(&anna).await, "get").unwrap_or_else(|| panic!("lost"));
    assert_eq!(record.presence, Default::default(), "reset forgets it all");
    assert_eq!(record.effective, None, "and the stored effective presence");
    assert_eq!(record.advisor, advisor("anna"), "the profile stays");
    assert!(matches!(
        write(store, "anna", &teams(Signal::Available, 40)).await,
        PresenceWrite::Applied(_)
    ));
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
    assert_eq!(
        write(store, "ghost", &teams(Signal::Busy, 99)).await,
        PresenceWrite::UnknownAdvisor
    );
    assert_eq!(
        ok(store.get_advisor(&aid("ghost")).await, "get ghost"),
        None,
        "an update or a reset created an advisor"
    );
}

pub async fn presence_version_race<S: AdvisorStore>(store: &S) {
    ok(store.put_advisor(&advisor("anna")).await, "put advisor");
    // The console is open and manual available; then 40 updates of two
    // sources in a scrambled order, all at once: per source the highest
    // version must win, and the stored effective presence must be the one
    // after the last write.
    write(store, "anna", &manual(PresenceState::Available)).await;
    let versions: Vec<u64> = (0..40u64).map(|i| (i * 17) % 40 + 1).collect();
    let signals = [Signal::Available, Signal::Busy, Signal::Away];
    let writes = versions.iter().map(|v| {
        let signal = signals[(*v % 3) as usize];
        let source = if v % 2 == 0 {
            PresenceSource::Teams
        } else {
            PresenceSource::Xmpp
        };
        let update = from(
            source,
            vec![(Channel::Chat, signal), (Channel::Video, signal)],
            *v,
        );
        async move { write(store, "anna", &update).await }
    });
    let results = join_all(writes).await;
    assert!(
        results
            .iter()
            .any(|r| matches!(r, PresenceWrite::Applied(_)))
    );
    let record =
        ok(store.get_advisor(&aid("anna")).await, "get").unwrap_or_else(|| panic!("advisor lost"));
    for (source, top) in [(PresenceSource::Teams, 40), (PresenceSource::Xmpp, 39)] {
        for channel in [Channel::Chat, Channel::Video] {
            assert_eq!(
                record
                    .presence
                    .entry(source, channel)
                    .map(|e| (e.signal, e.version)),
                Some((signals[(top % 3) as usize], top)),
                "an older racing update of {source} won"
            );
        }
    }
    let policy = PresencePolicy::default();
    assert_eq!(
        record.effective,
        Some(PresenceView::of(
            &record.advisor,
            &record.presence,
            &policy,
            T0
        )),
        "the stored effective presence is not the one after the last write"
    );
}

pub async fn heartbeat_extends_never_shortens<S: AdvisorStore>(store: &S) {
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

pub async fn capacity_claims<S: AdvisorStore>(store: &S) {
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

pub async fn pagination<S: AdvisorStore + CardStore>(store: &S) {
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
