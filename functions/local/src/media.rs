//! The media node inside `livecard up`: TURN on 127.0.0.1 (3478, or a free
//! port when that is taken), registered in the embedded store like any
//! node, so calls get ICE servers with no other process running.

use anyhow::Context;
use livecard_app::Secrets;
use livecard_media::config::FileConfig;
use livecard_media::ops::Node;
use livecard_store::dynamo::{DynamoStore, local_client};
use livecard_store::embedded::EmbeddedDynamo;
use std::net::SocketAddr;
use std::sync::Arc;

/// Starts the node. While it listens on loopback, the local stack's peers
/// are on this machine, so the relay may reach loopback (and says so); on
/// any other address loopback stays denied like every other denied range
/// (a relay on a reachable address must not open this machine's own
/// services to its clients).
pub async fn start(
    secrets: &Secrets,
    embedded: &EmbeddedDynamo,
    addr: SocketAddr,
) -> anyhow::Result<Node> {
    let secret = secrets
        .turn_secret
        .as_ref()
        .context("secrets.json has no turn_secret")?;
    let loopback = addr.ip().is_loopback();
    let allow_peers = loopback.then(|| vec!["127.0.0.0/8".into(), "::1/128".into()]);
    let file = |port: u16| FileConfig {
        node_id: Some("local".into()),
        listen: Some(SocketAddr::new(addr.ip(), port).to_string()),
        http: Some(SocketAddr::new(addr.ip(), 0).to_string()),
        allow_peers: allow_peers.clone(),
        heartbeat_s: Some(5),
        ..FileConfig::default()
    };
    let store = Arc::new(DynamoStore::new(
        local_client(embedded.endpoint()),
        crate::TABLE,
    ));
    let mut nonce_key = [0u8; 32];
    getrandom::fill(&mut nonce_key).map_err(|err| anyhow::anyhow!("no randomness: {err}"))?;
    let config = file(addr.port()).check_with_secret(secret.clone())?;
    let node = match Node::start(&config, Some(store.clone()), nonce_key).await {
        Ok(node) => node,
        Err(livecard_media::ops::StartError::Listen { .. }) if addr.port() != 0 => {
            let config = file(0).check_with_secret(secret.clone())?;
            Node::start(&config, Some(store), nonce_key).await?
        }
        Err(err) => return Err(err.into()),
    };
    println!(
        "media node (TURN) on {} udp/tcp; metrics on http://{}/metrics",
        node.net.udp_addr, node.http_addr
    );
    if loopback {
        println!("media node relays to loopback peers (it listens on loopback)");
    } else {
        println!(
            "media node relays to no loopback or private peers (it listens on {})",
            addr.ip()
        );
    }
    Ok(node)
}
