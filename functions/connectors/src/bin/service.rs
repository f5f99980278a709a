//! `livecard-connectors`: the presence connectors as a service on AWS (an
//! ECS task beside the media nodes, `infra/modules/connectors`).
//!
//! It runs the connectors configured in its environment (Teams, XMPP, SIP;
//! `docs/presence.md`) on the same handlers as the Lambda functions: the
//! deployment's DynamoDB table and secrets, and API Gateway's Management
//! API to push presence changes to open consoles. Credentials come from the
//! container's standard chain (the task role). `/healthz` and `/metrics`
//! (Prometheus) are served on `LIVECARD_CONNECTORS_HTTP` (`0.0.0.0:9091`).
//!
//!   livecard-connectors [serve]
//!   livecard-connectors healthcheck [--addr 127.0.0.1:9091]

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use livecard_app::connectors::Connectors;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use std::io::{Read, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// The handlers as the Lambda functions run them.
struct AwsPresence(Arc<livecard_lambda::host::LambdaApp>);
livecard_connectors::presence_host!(AwsPresence);

const DEFAULT_HTTP: &str = "0.0.0.0:9091";
const USAGE: &str = "usage: livecard-connectors [serve] | healthcheck [--addr 127.0.0.1:9091]";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        [] | ["serve"] => {}
        ["healthcheck"] => return healthcheck("127.0.0.1:9091"),
        ["healthcheck", "--addr", addr] => return healthcheck(addr),
        ["-h" | "--help"] => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: no async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = %err, "the connectors service stopped");
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve() -> anyhow::Result<()> {
    livecard_lambda::host::init_logging();
    let env = |k: &str| std::env::var(k).ok();
    let config = livecard_connectors::Config::from_env(env)?;
    if !config.any() {
        anyhow::bail!(
            "no connector is configured: set LIVECARD_TEAMS_TENANT, LIVECARD_XMPP_COMPONENT or LIVECARD_SIP_SERVER (docs/presence.md)"
        );
    }
    let addr = env("LIVECARD_CONNECTORS_HTTP").unwrap_or_else(|| DEFAULT_HTTP.into());
    let addr: std::net::SocketAddr = addr.trim().parse().map_err(|_| {
        anyhow::anyhow!("LIVECARD_CONNECTORS_HTTP is not valid: an address and port (0.0.0.0:9091)")
    })?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
    let sdk = livecard_store::aws::sdk_config().await;
    let aws = livecard_lambda::aws::Aws::from_sdk(sdk, env)?;
    let host = livecard_lambda::host::Host::with_aws(aws)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let app = Arc::new(host.app);
    let health = app.connectors.clone();
    let tasks = config.spawn(Arc::new(AwsPresence(app)));
    tracing::info!(%addr, connectors = tasks.len(), "connectors service running");
    let router = axum::Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .with_state(health);
    tokio::select! {
        served = axum::serve(listener, router) => served?,
        () = stopped() => {}
    }
    // What the connectors wrote lasts until its expiry; a successor task
    // takes over from there.
    for task in tasks {
        task.abort();
    }
    Ok(())
}

async fn healthz(State(health): State<Arc<Connectors>>) -> impl IntoResponse {
    let body = serde_json::json!({ "status": "ok", "connectors": health.public() });
    (
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Name {
    connector: &'static str,
}

/// Each connector's health as Prometheus metrics (`livecard_connector_*`).
async fn metrics(State(health): State<Arc<Connectors>>) -> impl IntoResponse {
    let mut registry = prometheus_client::registry::Registry::with_prefix("livecard_connector");
    let up = Family::<Name, Gauge>::default();
    let errors = Family::<Name, Counter>::default();
    let last = Family::<Name, Gauge>::default();
    let advisors = Family::<Name, Gauge>::default();
    for (connector, h) in health.snapshot() {
        let name = Name { connector };
        up.get_or_create(&name).set(i64::from(h.ok));
        errors.get_or_create(&name).inc_by(h.errors);
        let seconds = h.last_success.map_or(0, |ms| ms / 1000);
        last.get_or_create(&name)
            .set(i64::try_from(seconds).unwrap_or(i64::MAX));
        advisors
            .get_or_create(&name)
            .set(i64::try_from(h.advisors).unwrap_or(i64::MAX));
    }
    registry.register("up", "Whether the connector's last round succeeded", up);
    registry.register("errors", "Errors since the service started", errors);
    registry.register(
        "last_success_seconds",
        "When the last round succeeded (Unix seconds; 0: never)",
        last,
    );
    registry.register("advisors", "Advisors linked to the system", advisors);
    let mut text = String::new();
    match prometheus_client::encoding::text::encode(&mut text, &registry) {
        Ok(()) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

async fn stopped() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => tracing::info!("SIGTERM"),
                _ = tokio::signal::ctrl_c() => tracing::info!("interrupted"),
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// The container's health check (the image has no shell or curl): `/healthz`
/// answers 200.
fn healthcheck(addr: &str) -> ExitCode {
    let answer = || -> std::io::Result<bool> {
        let target: std::net::SocketAddr = addr
            .parse()
            .map_err(|_| std::io::Error::other("not an address"))?;
        let mut stream = std::net::TcpStream::connect_timeout(&target, Duration::from_secs(2))?;
        stream.set_read_timeout(Some(Duration::from_secs(2)))?;
        stream.write_all(b"GET /healthz HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
        let mut status = [0u8; 12];
        stream.read_exact(&mut status)?;
        Ok(status.ends_with(b" 200"))
    };
    match answer() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("unhealthy");
            ExitCode::FAILURE
        }
        Err(err) => {
            eprintln!("unreachable: {err}");
            ExitCode::FAILURE
        }
    }
}
