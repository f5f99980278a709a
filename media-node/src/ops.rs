//! Running a node: sockets, `/healthz` and `/metrics`, self-registration
//! and heartbeat in the store, and the graceful drain.

use crate::config::Config;
use crate::metrics::Metrics;
use crate::net::{Net, NetOptions, now_ms};
use crate::turn::Settings;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use livecard_core::media::MediaNode;
use livecard_store::MediaNodeStore;
use livecard_store::dynamo::DynamoStore;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_rustls::rustls;

/// A running media node.
pub struct Node {
    pub net: Arc<Net>,
    /// Where `/healthz` and `/metrics` answer.
    pub http_addr: SocketAddr,
    template: MediaNode,
    store: Option<Arc<DynamoStore>>,
    notifier: Option<Notifier>,
    tasks: Vec<JoinHandle<()>>,
}

/// Tells the signaling server which calls must move (`notify_url`).
struct Notifier {
    url: String,
    secret: Vec<u8>,
    client: reqwest::Client,
}

impl Drop for Node {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("the TLS certificate or key cannot be used: {0}")]
    Tls(String),
    #[error("cannot listen for TURN on {addr}: {reason}")]
    Listen { addr: SocketAddr, reason: String },
    #[error("cannot listen for /healthz and /metrics on {addr}: {reason}")]
    Http { addr: SocketAddr, reason: String },
}

/// Loads a PEM certificate chain and key into a TLS server configuration.
pub fn tls_config(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> Result<Arc<rustls::ServerConfig>, StartError> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|err| StartError::Tls(format!("{}: {err}", cert.display())))?
        .collect::<Result<_, _>>()
        .map_err(|err| StartError::Tls(format!("{}: {err}", cert.display())))?;
    if certs.is_empty() {
        return Err(StartError::Tls(format!(
            "{}: no certificate",
            cert.display()
        )));
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|err| StartError::Tls(format!("{}: {err}", key.display())))?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|err| StartError::Tls(err.to_string()))?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .map_err(|err| StartError::Tls(err.to_string()))?;
    Ok(Arc::new(config))
}

impl Node {
    /// Starts the listeners, the ops endpoint and (with a store) the
    /// heartbeat. `nonce_key` signs nonces; pass random bytes.
    pub async fn start(
        config: &Config,
        store: Option<Arc<DynamoStore>>,
        nonce_key: [u8; 32],
    ) -> Result<Node, StartError> {
        let tls = match &config.tls {
            Some(files) => Some((
                SocketAddr::new(config.listen.ip(), files.port),
                tls_config(&files.cert, &files.key)?,
            )),
            None => None,
        };
        let settings = Settings {
            realm: config.realm.clone(),
            secret: config.turn_secret.clone(),
            previous_secret: config.turn_secret_previous.clone(),
            nonce_key,
            policy: config.policy.clone(),
            limits: config.limits.clone(),
            software: concat!("livecard-media-node/", env!("CARGO_PKG_VERSION")).into(),
            families: crate::turn::Families {
                v4: config.relay_ip.is_ipv4(),
                v6: config.relay_ip.is_ipv6() || config.relay_ip6.is_some(),
            },
        };
        let opts = NetOptions {
            listen: config.listen,
            tls,
            relay_ip: config.relay_ip,
            relay_ip6: config.relay_ip6,
            external_ip: config.external_ip,
            relay_ports: config.relay_ports.clone(),
            max_streams: config.max_connections,
        };
        let metrics = Arc::new(Metrics::new());
        let net = Net::start(opts, settings, metrics)
            .await
            .map_err(|err| StartError::Listen {
                addr: config.listen,
                reason: err.to_string(),
            })?;
        let net = Arc::new(net);
        let listener = tokio::net::TcpListener::bind(config.http)
            .await
            .map_err(|err| StartError::Http {
                addr: config.http,
                reason: err.to_string(),
            })?;
        let http_addr = listener.local_addr().map_err(|err| StartError::Http {
            addr: config.http,
            reason: err.to_string(),
        })?;
        let app = Router::new()
            .route("/healthz", get(healthz))
            .route("/metrics", get(metrics_text))
            .with_state(net.clone());
        let mut tasks = vec![tokio::spawn(async move {
            if let Err(err) = axum::serve(listener, app).await {
                tracing::error!(error = %err, "the ops endpoint stopped");
            }
        })];
        if !config.allowed.is_empty() {
            tracing::warn!(
                allowed = ?config.allowed,
                "the relay may reach these peer ranges although the secure default denies them"
            );
        }
        let template = record_template(&config.node_id, &config.public_host, &net);
        if let Some(store) = store.clone() {
            let every = Duration::from_secs(config.heartbeat_s);
            tasks.push(tokio::spawn(heartbeat(
                store,
                net.clone(),
                template.clone(),
                every,
            )));
        }
        tracing::info!(
            node = %config.node_id,
            udp = %net.udp_addr,
            tcp = %net.tcp_addr,
            tls = ?net.tls_addr,
            http = %http_addr,
            relay_ports = ?config.relay_ports,
            "media node listening"
        );
        let notifier = config.notify_url.as_ref().map(|url| Notifier {
            url: url.clone(),
            secret: config.turn_secret.clone(),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .unwrap_or_default(),
        });
        Ok(Node {
            net,
            http_addr,
            template,
            store,
            notifier,
            tasks,
        })
    }

    /// What the node registers in the store.
    pub fn record(&self) -> MediaNode {
        MediaNode {
            load: self.net.allocations() as u32,
            ..self.template.clone()
        }
    }

    /// Stops taking allocations, withdraws the node from the store, and
    /// waits until the allocations end or `deadline` passes. Returns the
    /// allocations still held at the end.
    pub async fn drain(&self, deadline: Duration) -> usize {
        self.net.drain();
        tracing::info!(allocations = self.net.allocations(), "draining");
        if let Some(store) = &self.store {
            let mut record = self.record();
            // A heartbeat that has already ended: no new call is sent here.
            record.heartbeat_until = now_ms();
            if let Err(err) = store.put_media_node(&record).await {
                tracing::warn!(error = %err, "could not withdraw the node from the store");
            }
        }
        let until = tokio::time::Instant::now() + deadline;
        self.tell_moves(now_ms().saturating_add(deadline.as_millis() as u64))
            .await;
        loop {
            let left = self.net.allocations();
            if left == 0 || tokio::time::Instant::now() >= until {
                tracing::info!(allocations = left, "drain finished");
                return left;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

impl Node {
    /// Tells the signaling server (`notify_url`) which calls relay here, so
    /// both sides move them before `deadline`: signed notices of at most
    /// 1,000 participants each. A failure is logged; the calls then move
    /// when the relay stops (their clients notice the stall).
    async fn tell_moves(&self, deadline: u64) {
        let Some(notifier) = &self.notifier else {
            return;
        };
        let participants = self.net.participants();
        if participants.is_empty() {
            return;
        }
        let node = &self.template.id;
        let url = format!("{}/api/v1/media-nodes/{node}/moves", notifier.url);
        for chunk in participants.chunks(1_000) {
            let body = serde_json::json!({
                "reason": "drain",
                "relay": self.template.relay(),
                "deadline": deadline,
                "participants": chunk,
            })
            .to_string();
            let at = now_ms();
            let signature =
                livecard_core::turn::notice_signature(&notifier.secret, node, at, body.as_bytes());
            let sent = notifier
                .client
                .post(&url)
                .header("content-type", "application/json")
                .header("x-livecard-timestamp", at.to_string())
                .header("x-livecard-signature", signature)
                .body(body)
                .send()
                .await;
            match sent {
                Ok(response) if response.status().is_success() => {
                    tracing::info!(
                        participants = chunk.len(),
                        "told the signaling server to move the calls"
                    );
                }
                Ok(response) => {
                    tracing::warn!(status = %response.status(), "the signaling server refused the drain notice");
                }
                Err(err) => {
                    tracing::warn!(error = %err, "could not reach the signaling server with the drain notice");
                }
            }
        }
    }
}

fn record_template(id: &str, host: &str, net: &Net) -> MediaNode {
    MediaNode {
        id: id.to_string(),
        host: host.to_string(),
        turn_port: net.udp_addr.port(),
        tls_port: net.tls_addr.map(|a| a.port()),
        capacity: net.capacity(),
        load: 0,
        heartbeat_until: 0,
        sessions: Vec::new(),
    }
}

/// The sessions whose calls the node relays, from its allocations'
/// participants (`<session>-visitor`, `<session>-<advisor>`): named in its
/// heartbeat, so the signaling server can tell them to move if it stops.
fn relayed_sessions(participants: Vec<String>) -> Vec<String> {
    let len = livecard_core::ids::RandomId::LEN;
    let sessions: std::collections::BTreeSet<String> = participants
        .iter()
        .filter_map(|p| p.get(..len))
        .filter(|id| livecard_core::ids::RandomId::parse(id).is_ok())
        .map(str::to_owned)
        .collect();
    sessions
        .into_iter()
        .take(livecard_core::media::MAX_NODE_SESSIONS)
        .collect()
}

/// Renews the node's record every `every` (healthy for three periods);
/// stops once the node drains.
async fn heartbeat(store: Arc<DynamoStore>, net: Arc<Net>, template: MediaNode, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        tick.tick().await;
        if net.is_draining() {
            return;
        }
        let record = MediaNode {
            load: net.allocations() as u32,
            heartbeat_until: now_ms() + 3 * every.as_millis() as u64,
            sessions: relayed_sessions(net.participants()),
            ..template.clone()
        };
        match store.put_media_node(&record).await {
            Ok(()) if failing => {
                failing = false;
                tracing::info!("heartbeat restored");
            }
            Ok(()) => {}
            Err(err) if !failing => {
                failing = true;
                tracing::warn!(error = %err, "heartbeat failed; retrying");
            }
            Err(_) => {}
        }
    }
}

async fn healthz(State(net): State<Arc<Net>>) -> impl IntoResponse {
    let body = serde_json::json!({
        "status": if net.is_draining() { "draining" } else { "ok" },
        "allocations": net.allocations(),
        "capacity": net.capacity(),
    });
    let status = if net.is_draining() {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    (
        status,
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::CONTENT_TYPE, "application/json"),
        ],
        body.to_string(),
    )
}

async fn metrics_text(State(net): State<Arc<Net>>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        net.metrics().encode(),
    )
}
