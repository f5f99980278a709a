//! Media nodes on this machine.
//!
//! - [`start`]: the node inside `livecard up`: TURN on 127.0.0.1 (3478, or
//!   a free port when that is taken), registered in the embedded store like
//!   any node, so calls get ICE servers with no other process running.
//! - [`join`]: `livecard media-node`, another node in its own process that
//!   joins a running `livecard up` (its store and its API, from the data
//!   directory): several nodes on one machine, to see a call move when one
//!   is stopped or killed.

use anyhow::Context;
use livecard_app::Secrets;
use livecard_media::config::FileConfig;
use livecard_media::ops::Node;
use livecard_store::dynamo::{DynamoStore, local_client};
use livecard_store::embedded::EmbeddedDynamo;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// The node's settings on this machine. While it listens on loopback, the
/// local stack's peers are on this machine, so the relay may reach
/// loopback (and says so); on any other address loopback stays denied like
/// every other denied range (a relay on a reachable address must not open
/// this machine's own services to its clients).
fn local_config(id: &str, addr: SocketAddr, notify_url: &str) -> FileConfig {
    let allow_peers = addr
        .ip()
        .is_loopback()
        .then(|| vec!["127.0.0.0/8".into(), "::1/128".into()]);
    FileConfig {
        node_id: Some(id.into()),
        listen: Some(addr.to_string()),
        http: Some(SocketAddr::new(addr.ip(), 0).to_string()),
        allow_peers,
        heartbeat_s: Some(5),
        notify_url: Some(notify_url.into()),
        ..FileConfig::default()
    }
}

fn say_where(node: &Node, id: &str, addr: SocketAddr) {
    println!(
        "media node {id} (TURN) on {} udp/tcp; metrics on http://{}/metrics",
        node.net.udp_addr, node.http_addr
    );
    if addr.ip().is_loopback() {
        println!("media node relays to loopback peers (it listens on loopback)");
    } else {
        println!(
            "media node relays to no loopback or private peers (it listens on {})",
            addr.ip()
        );
    }
}

fn nonce_key() -> anyhow::Result<[u8; 32]> {
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).map_err(|err| anyhow::anyhow!("no randomness: {err}"))?;
    Ok(key)
}

/// Starts the node of `livecard up` (or `livecard edge`); a draining node
/// tells the API at `notify_url` which calls to move.
pub async fn start(
    secrets: &Secrets,
    embedded: &EmbeddedDynamo,
    addr: SocketAddr,
    notify_url: &str,
) -> anyhow::Result<Node> {
    let secret = secrets
        .turn_secret
        .as_ref()
        .context("secrets.json has no turn_secret")?;
    let store = Arc::new(DynamoStore::new(
        local_client(embedded.endpoint()),
        crate::TABLE,
    ));
    let nonce_key = nonce_key()?;
    let config = local_config("local", addr, notify_url).check_with_secret(secret.clone())?;
    let node = match Node::start(&config, Some(store.clone()), nonce_key).await {
        Ok(node) => node,
        Err(livecard_media::ops::StartError::Listen { .. }) if addr.port() != 0 => {
            let config = local_config("local", SocketAddr::new(addr.ip(), 0), notify_url)
                .check_with_secret(secret.clone())?;
            Node::start(&config, Some(store), nonce_key).await?
        }
        Err(err) => return Err(err.into()),
    };
    say_where(&node, "local", addr);
    Ok(node)
}

/// `livecard media-node`: a node in its own process, joined to the
/// `livecard up` of `data_dir`, until Ctrl-C or SIGTERM, which drain it
/// (its calls are told to move, then it waits for them up to
/// `drain_deadline`).
pub async fn join(
    data_dir: &std::path::Path,
    id: &str,
    addr: SocketAddr,
    drain_deadline: Duration,
) -> anyhow::Result<()> {
    let data = crate::datadir::DataDir::open(data_dir)?;
    let running = data.read_running()?;
    let (secrets, _) = data.secrets()?;
    let secret = secrets
        .turn_secret
        .as_ref()
        .context("secrets.json has no turn_secret")?;
    let config = local_config(id, addr, &running.url).check_with_secret(secret.clone())?;
    let store = Arc::new(DynamoStore::new(
        local_client(&running.store_endpoint),
        crate::TABLE,
    ));
    let node = Node::start(&config, Some(store), nonce_key()?).await?;
    say_where(&node, id, addr);
    crate::server::shutdown_signal().await;
    println!("media node {id} drains");
    let left = node.drain(drain_deadline).await;
    println!("media node {id} stopped ({left} allocations left at the end)");
    Ok(())
}
