//! Media nodes.

use super::*;

/// Media nodes register and renew; only those with a current heartbeat are
/// listed.
pub async fn media_nodes<S: MediaNodeStore>(store: &S) {
    use livecard_core::media::MediaNode;
    let node = |id: &str, load: u32, hb: u64| MediaNode {
        id: id.into(),
        host: "203.0.113.10".into(),
        turn_port: 3478,
        tls_port: Some(5349),
        capacity: 100,
        load,
        heartbeat_until: hb,
        sessions: Vec::new(),
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
    // A node whose heartbeat lapsed while it relayed calls is lost until it
    // is put again without them; one without calls never is.
    assert!(ok(store.lost_media_nodes(T0 + 40_000, 10).await, "none lost").is_empty());
    let mut relaying = node("n4", 2, T0 + 30_000);
    relaying.sessions = vec!["s1".into(), "s2".into()];
    ok(store.put_media_node(&relaying).await, "n4");
    assert!(ok(store.lost_media_nodes(T0 + 20_000, 10).await, "alive").is_empty());
    let lost = ok(store.lost_media_nodes(T0 + 30_000, 10).await, "lost");
    assert_eq!(lost, vec![relaying.clone()]);
    relaying.sessions.clear();
    ok(store.put_media_node(&relaying).await, "handled");
    assert!(ok(store.lost_media_nodes(T0 + 40_000, 10).await, "handled").is_empty());

    // The TURN and STUN servers an admin set: none, then replaced whole.
    assert_eq!(ok(store.ice_servers().await, "none set"), None);
    let servers = livecard_core::media::OtherServers::new(
        vec!["turn:coturn.example.com:3478".into()],
        vec!["stun:stun.example.com:3478".into()],
    )
    .expect("servers");
    ok(store.put_ice_servers(&servers).await, "set");
    assert_eq!(ok(store.ice_servers().await, "read"), Some(servers));
    let cleared = livecard_core::media::OtherServers::default();
    ok(store.put_ice_servers(&cleared).await, "cleared");
    assert_eq!(ok(store.ice_servers().await, "read"), Some(cleared));
}
