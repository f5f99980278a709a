//! Contact sessions, chat, affinity, inboxes and queues.

use super::*;
use livecard_core::session::{Input, QueueKey, SessionPolicy};

fn queue(name: &str) -> QueueKey {
    QueueKey::Topic(name.to_owned())
}

/// A stored contact session whose visitor has joined (so it can be rung).
fn stored(id: &str, at: u64) -> StoredSession {
    let mut session = livecard_core::session::Session::new(Channel::Chat, at);
    session
        .handle(Input::VisitorJoins, &SessionPolicy::default(), at)
        .unwrap_or_else(|e| panic!("join: {e}"));
    StoredSession {
        id: id.to_owned(),
        visitor: "v_visitor".to_owned(),
        session,
        version: 1,
    }
}

pub async fn session_versions<S: SessionStore>(store: &S) {
    let first = stored("s-1", T0);
    assert_eq!(
        ok(store.create_session(&first, None, KEEP).await, "create"),
        Created::Created
    );
    assert_eq!(
        ok(
            store.create_session(&first, None, KEEP).await,
            "create again"
        ),
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
                .handle(Input::Ring(advisor), &SessionPolicy::default(), T0 + 1);
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

pub async fn session_deadlines<S: SessionStore>(store: &S) {
    ok(
        store
            .create_session(&stored("due-early", T0), Some(T0 + 1_000), KEEP)
            .await,
        "create",
    );
    ok(
        store
            .create_session(&stored("due-late", T0), Some(T0 + 60_000), KEEP)
            .await,
        "create",
    );
    ok(
        store
            .create_session(&stored("no-deadline", T0), None, KEEP)
            .await,
        "create",
    );
    // Due across midnight: yesterday's partition is swept too.
    let midnight = T0 + 86_400_000;
    ok(
        store
            .create_session(&stored("due-yesterday", T0), Some(midnight - 1), KEEP)
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

pub async fn chat_messages<S: SessionStore>(store: &S) {
    use livecard_core::session::Side;
    ok(
        store
            .create_session(&stored("chat-1", T0), None, KEEP)
            .await,
        "create",
    );
    let text = "<script>alert(1)</script> Grüße";
    let first = ok(
        store
            .append_message(
                "chat-1",
                crate::NewMessage::new(Side::Visitor, "m1", text, T0 + 1),
                KEEP,
            )
            .await,
        "append",
    );
    let Appended::New(first) = first else {
        panic!("first append was a duplicate")
    };
    assert_eq!(first.text, text);
    ok(
        store
            .append_message(
                "chat-1",
                crate::NewMessage::new(Side::Advisor, "m1", "hello", T0 + 2),
                KEEP,
            )
            .await,
        "append",
    );
    // The visitor resends m1 after a reconnect, later: not stored twice.
    let resend = ok(
        store
            .append_message(
                "chat-1",
                crate::NewMessage::new(Side::Visitor, "m1", text, T0 + 3),
                KEEP,
            )
            .await,
        "resend",
    );
    assert_eq!(resend, Appended::Duplicate);
    let racing = (0..10).map(|_| async {
        ok(
            store
                .append_message(
                    "chat-1",
                    crate::NewMessage::new(Side::Visitor, "m2", "again", T0 + 4),
                    KEEP,
                )
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
    // Two advisors in one chat (a guest): each message keeps its author, and
    // the same message id from each, in the same millisecond, is two
    // messages; a resend by its author is still one.
    let (anna, ben) = (aid("anna"), aid("ben"));
    for (author, text) in [(&anna, "from anna"), (&ben, "from ben"), (&anna, "again")] {
        ok(
            store
                .append_message(
                    "chat-2",
                    crate::NewMessage::new(Side::Advisor, "m1", text, T0 + 10).by(author),
                    KEEP,
                )
                .await,
            "authored append",
        );
    }
    let authored = ok(store.messages_after("chat-2", None, 50).await, "authored");
    let mut seen: Vec<(Option<&str>, &str)> = authored
        .iter()
        .map(|m| (m.author.as_ref().map(|a| a.as_str()), m.text.as_str()))
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        vec![(Some("anna"), "from anna"), (Some("ben"), "from ben")],
        "one message per author and id, with its author"
    );
    assert_eq!(all[0].author, None, "a visitor's message has no author");
}

/// Who is in which conversation: recorded, listed per advisor (expired
/// records left out), forgotten, and forgetting twice is no error.
pub async fn attendance<S: SessionStore>(store: &S) {
    let (anna, ben) = (aid("anna"), aid("ben"));
    for (advisor, session, until) in [
        (&anna, "s-2", KEEP),
        (&anna, "s-1", KEEP),
        (&anna, "s-old", T0 + 10),
        (&ben, "s-1", KEEP),
    ] {
        ok(store.attend(advisor, session, until).await, "attend");
    }
    // Recorded again: still once.
    ok(store.attend(&anna, "s-1", KEEP).await, "attend again");
    assert_eq!(
        ok(store.attending(&anna, T0 + 100, 50).await, "anna's"),
        vec!["s-1".to_owned(), "s-2".to_owned()]
    );
    assert_eq!(
        ok(store.attending(&ben, T0 + 100, 50).await, "ben's"),
        vec!["s-1".to_owned()]
    );
    ok(store.unattend(&anna, "s-1").await, "unattend");
    ok(store.unattend(&anna, "s-1").await, "unattend twice");
    assert_eq!(
        ok(store.attending(&anna, T0 + 100, 50).await, "after"),
        vec!["s-2".to_owned()]
    );
    assert_eq!(
        ok(store.attending(&ben, T0 + 100, 50).await, "ben keeps his"),
        vec!["s-1".to_owned()]
    );
    assert!(ok(store.attending(&aid("clara"), T0, 50).await, "nobody's").is_empty());
}

/// Identity images: kept in pieces (larger than one item holds), read back
/// whole, listed oldest first, expired ones left out.
pub async fn identity_images<S: SessionStore>(store: &S) {
    use livecard_core::identity_images::ImageKind;
    let image = |id: &str, kind, bytes: usize, at, expires_at| crate::IdentityImage {
        id: id.to_owned(),
        check: 1,
        kind,
        bytes: bytes as u64,
        advisor: aid("anna"),
        at,
        expires_at,
    };
    // 1.2 MB of bytes that are not all alike (pieces must not be swapped).
    let large: Vec<u8> = (0..1_200_000u32).map(|i| (i % 251) as u8).collect();
    let face = image("img-b", ImageKind::Face, 3, T0 + 2, KEEP);
    let document = image("img-a", ImageKind::Document, large.len(), T0 + 1, KEEP);
    let old = image("img-c", ImageKind::Document, 3, T0, T0 + 50);
    ok(
        store.put_identity_image("id-1", &face, b"abc").await,
        "face",
    );
    ok(
        store.put_identity_image("id-1", &document, &large).await,
        "document",
    );
    ok(store.put_identity_image("id-1", &old, b"old").await, "old");
    assert_eq!(
        ok(store.identity_images("id-1", T0 + 100).await, "list"),
        vec![document.clone(), face.clone()],
        "oldest first, the expired one left out"
    );
    let (read, bytes) = ok(
        store.identity_image("id-1", "img-a", T0 + 100).await,
        "read",
    )
    .expect("the document");
    assert_eq!(read, document);
    assert!(bytes == large, "read back whole and in order");
    assert_eq!(
        ok(
            store.identity_image("id-1", "img-c", T0 + 100).await,
            "expired"
        ),
        None
    );
    assert_eq!(
        ok(store.identity_image("id-1", "img-z", T0).await, "unknown"),
        None
    );
    assert!(ok(store.identity_images("id-2", T0).await, "other session").is_empty());
    // An id is used once.
    assert!(
        store
            .put_identity_image("id-1", &face, b"xyz")
            .await
            .is_err()
    );
}

pub async fn visitor_affinity<S: SessionStore>(store: &S) {
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

pub async fn offline_inbox<S: SessionStore>(store: &S) {
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
pub async fn queues<S: SessionStore>(store: &S) {
    let t = 1_795_392_000_000;
    ok(
        store.enqueue(&queue("q1"), "s-b", t + 20, t + 60_000).await,
        "enqueue",
    );
    ok(
        store.enqueue(&queue("q1"), "s-a", t + 10, t + 60_000).await,
        "enqueue",
    );
    ok(
        store.enqueue(&queue("q1"), "s-c", t + 30, t + 100).await,
        "enqueue",
    );
    ok(
        store.enqueue(&queue("q2"), "s-d", t, t + 60_000).await,
        "enqueue",
    );
    let q1 = ok(store.list_queue(&queue("q1"), t, 10).await, "list");
    assert_eq!(
        q1,
        vec![
            ("s-a".to_owned(), t + 10),
            ("s-b".to_owned(), t + 20),
            ("s-c".to_owned(), t + 30)
        ]
    );
    let later = ok(store.list_queue(&queue("q1"), t + 100, 10).await, "list");
    assert_eq!(later.len(), 2, "an expired entry is not listed");
    ok(store.dequeue(&queue("q1"), "s-a", t + 10).await, "dequeue");
    ok(
        store.dequeue(&queue("q1"), "s-a", t + 10).await,
        "dequeue twice",
    );
    let q1 = ok(store.list_queue(&queue("q1"), t, 1).await, "list");
    assert_eq!(q1, vec![("s-b".to_owned(), t + 20)]);
    let q2 = ok(store.list_queue(&queue("q2"), t, 10).await, "list");
    assert_eq!(q2, vec![("s-d".to_owned(), t)]);
    assert!(ok(store.list_queue(&queue("none"), t, 10).await, "list").is_empty());
    // The sweep finds the queues with someone waiting (an index: it may lag).
    let mut waiting = Vec::new();
    for _ in 0..50 {
        waiting = ok(store.waiting_queues(100).await, "waiting");
        if waiting.len() == 2 {
            break;
        }
    }
    assert_eq!(waiting, vec![queue("q2"), queue("q1")]);
}
