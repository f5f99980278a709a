//! WebSocket connections and subscriptions.

use super::*;

/// Connections of a serverless host: their state survives between
/// invocations, subscriptions find them, and deleting a connection removes
/// every subscription it had.
pub async fn connections<S: ConnectionStore>(store: &S) {
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

/// Graph subscriptions of the Teams connector: found by id with the users
/// they cover until they end; a renewal replaces the users and the end;
/// an unknown one is none.
pub async fn graph_subscriptions<S: crate::GraphSubscriptionStore>(store: &S) {
    use livecard_core::ids::AdvisorId;
    let id = |s: &str| AdvisorId::parse(s).expect("id");
    let users = std::collections::BTreeMap::from([
        ("9b0f6c2a-6d3e-4e4f-8a4b-2c1d0e9f8a7b".to_owned(), id("ben")),
        (
            "3f2504e0-4f89-11d3-9a0c-0305e82c3301".to_owned(),
            id("anna"),
        ),
    ]);
    ok(
        store
            .put_graph_subscription("sub-1", &users, T0 + 60_000)
            .await,
        "put",
    );
    assert_eq!(
        ok(store.get_graph_subscription("sub-1", T0).await, "get"),
        Some(users.clone())
    );
    assert_eq!(
        ok(
            store.get_graph_subscription("sub-1", T0 + 60_000).await,
            "get at its end"
        ),
        None,
        "an ended subscription is none"
    );
    assert_eq!(
        ok(store.get_graph_subscription("sub-2", T0).await, "unknown"),
        None
    );
    // Renewed with one user fewer.
    let fewer = std::collections::BTreeMap::from([(
        "3f2504e0-4f89-11d3-9a0c-0305e82c3301".to_owned(),
        id("anna"),
    )]);
    ok(
        store
            .put_graph_subscription("sub-1", &fewer, T0 + 120_000)
            .await,
        "renew",
    );
    assert_eq!(
        ok(
            store.get_graph_subscription("sub-1", T0 + 90_000).await,
            "get renewed"
        ),
        Some(fewer)
    );
}
