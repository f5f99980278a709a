//! One cold start: configuration, SDK clients, secrets and the handlers,
//! built once and shared by every invocation of the instance.

use crate::env::Settings;
use crate::push::{ApiGatewayConnections, ApiGatewayPush, CONNECTION_TTL_MS};
use livecard_app::App;
use livecard_app::system::{OsRandom, SystemClock};
use livecard_store::dynamo::DynamoStore;
use std::sync::Arc;

/// The handlers as every Lambda function runs them.
pub type LambdaApp = App<DynamoStore, ApiGatewayPush>;

pub struct Host {
    pub app: LambdaApp,
    pub settings: Settings,
    /// Outgoing HTTP for the forwarder (analytics destinations).
    pub fetch: livecard_app::forward_native::NativeFetch,
}

/// Why a cold start failed (reported to the runtime API as an init error).
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("configuration: {0}")]
    Settings(#[from] crate::env::SettingsError),
    #[error("secrets: {0}")]
    Secrets(#[from] crate::aws::SecretsLoadError),
    #[error("HTTP client: {0}")]
    Http(String),
}

impl Host {
    /// Reads the environment and Secrets Manager and builds the handlers.
    pub async fn from_env() -> Result<Self, InitError> {
        Self::with_aws(crate::aws::Aws::from_env()?).await
    }

    /// The same with SDK clients made by the caller (the connectors service
    /// on ECS, with container credentials).
    pub async fn with_aws(aws: crate::aws::Aws) -> Result<Self, InitError> {
        let started = std::time::Instant::now();
        let settings = Settings::from_env()?;
        let dynamodb = aws.dynamodb();
        let sdk_ms = started.elapsed().as_secs_f64() * 1000.0;
        // The first request should not pay for the store's first connection:
        // open it while the secret is read.
        let (secrets, ()) = tokio::join!(
            crate::aws::load_secrets(&aws, &settings.secrets_arn),
            crate::aws::warm_up(&dynamodb, &settings.table)
        );
        let secrets = secrets?;
        let secrets_ms = started.elapsed().as_secs_f64() * 1000.0 - sdk_ms;
        let store = DynamoStore::new(dynamodb, &settings.table);
        let clock: Arc<dyn livecard_app::Clock> = Arc::new(SystemClock);
        let (push_aws, callback_url) = (aws.clone(), settings.ws_callback_url.clone());
        let push = ApiGatewayPush::new(
            store.clone(),
            ApiGatewayConnections::new(move || push_aws.management(&callback_url)),
            clock.clone(),
            CONNECTION_TTL_MS,
        );
        let mut config = settings.functions.config(&settings.public_url);
        // Many instances write the same sessions: never reuse a read.
        config.session_cache_ms = 0;
        let app = App::new(store, clock, Arc::new(OsRandom), config, secrets).with_push(push);
        let fetch = livecard_app::forward_native::NativeFetch::new(app.forward_policy())
            .map_err(InitError::Http)?;
        // The handlers ask a TURN credentials provider through it.
        let app = app.with_fetch(Arc::new(fetch.clone()));
        tracing::info!(
            sdk_ms,
            secrets_ms,
            total_ms = started.elapsed().as_secs_f64() * 1000.0,
            "cold start"
        );
        Ok(Self {
            app,
            settings,
            fetch,
        })
    }
}

/// JSON logs on stdout (CloudWatch), filtered by `AWS_LAMBDA_LOG_LEVEL` or
/// `RUST_LOG` (default `info`).
pub fn init_logging() {
    let filter = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "info".into())
        .to_ascii_lowercase();
    let format = tracing_subscriber::fmt()
        .json()
        .with_ansi(false)
        .with_current_span(false)
        .with_target(false);
    // A plain level (what Lambda's log-level setting gives) needs no
    // directive parser at a cold start; anything else is `RUST_LOG` syntax.
    match filter.parse::<tracing_subscriber::filter::LevelFilter>() {
        Ok(level) => {
            let _ = format.with_max_level(level).try_init();
        }
        Err(_) => {
            let _ = format
                .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
                .try_init();
        }
    }
}

/// The scheduled sweep (EventBridge): ring deadlines, queue timeouts,
/// inactivity and waiting queues. One invocation sweeps once, or keeps
/// sweeping for `LIVECARD_SWEEP_SECONDS` (never past the invocation's own
/// deadline, `deadline_ms`). Presence needs no sweep: a console's presence
/// lapses at its stored heartbeat deadline whenever it is read.
pub async fn sweep(host: &Host, deadline_ms: u64) -> Result<serde_json::Value, SweepError> {
    let started = host.app.now();
    // Stop a little before the invocation's deadline (and the window).
    let until = started
        .saturating_add(host.settings.sweep_ms)
        .min(deadline_ms.saturating_sub(2_000));
    let (mut passes, mut due, mut changed, mut routed) = (0u64, 0usize, 0usize, 0usize);
    loop {
        match host.app.sweep().await {
            Ok(report) => {
                due += report.due;
                changed += report.changed;
                routed += report.routed;
            }
            Err(err) => {
                let err = SweepError::from(err);
                tracing::error!(error = %err, kind = err.kind(), "sweep failed");
                // An error lets EventBridge's retry policy and the DLQ see it,
                // with its kind as the error type.
                return Err(err);
            }
        }
        // Retries that came due, and whatever the stream trigger missed.
        if let Err(err) = host.app.forward(&host.fetch).await {
            tracing::warn!(error = %err, "forwarding failed in the sweep; the next pass tries again");
        }
        passes += 1;
        let next = host.app.now() + host.settings.sweep_every_ms;
        if next >= until {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(
            host.settings.sweep_every_ms,
        ))
        .await;
    }
    tracing::info!(passes, due, changed, routed, "sweep");
    Ok(serde_json::json!({
        "passes": passes, "due": due, "changed": changed, "routed": routed
    }))
}

/// The forwarder (`docs/analytics.md`), triggered by the table's stream
/// when deliveries are made: sends what is due until nothing is, or until
/// shortly before the invocation's deadline. A store failure fails the
/// invocation, so the stream delivers the trigger again; what was due is
/// still in the outbox either way.
pub async fn forward(host: &Host, deadline_ms: u64) -> Result<serde_json::Value, SweepError> {
    let until = deadline_ms.saturating_sub(3_000);
    let mut total = livecard_app::forward::ForwardReport::default();
    let mut runs = 0u64;
    loop {
        let report = host.app.forward(&host.fetch).await.map_err(|e| {
            let err = SweepError::from(livecard_app::contact::engine::ContactError::Store(e));
            tracing::error!(error = %err, kind = err.kind(), "forwarding failed");
            err
        })?;
        runs += 1;
        let idle = report.requests == 0;
        total.requests += report.requests;
        total.delivered += report.delivered;
        total.retried += report.retried;
        total.dead += report.dead;
        total.expired += report.expired;
        total.paused.extend(report.paused);
        if idle || host.app.now() >= until {
            break;
        }
    }
    tracing::info!(runs, ?total, "forwarded");
    Ok(serde_json::json!({
        "batchItemFailures": [],
        "runs": runs,
        "requests": total.requests,
        "delivered": total.delivered,
        "retried": total.retried,
        "dead": total.dead,
        "expired": total.expired,
    }))
}

/// Why a sweep failed, kept typed up to the runtime: Lambda reports the
/// kind as the error type, so a store that was unavailable (retry later)
/// is told apart from a bug (look at it now).
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    /// The store could not be reached, or kept throttling: retryable.
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    /// Sessions kept changing under the sweep: retryable.
    #[error("sessions kept changing; try again")]
    Busy,
    /// Anything else: a corrupt item or a broken rule.
    #[error("{0}")]
    Bug(String),
}

impl SweepError {
    /// The error type Lambda reports.
    pub fn kind(&self) -> &'static str {
        match self {
            SweepError::Unavailable(_) => "Livecard.StoreUnavailable",
            SweepError::Busy => "Livecard.Busy",
            SweepError::Bug(_) => "Livecard.Bug",
        }
    }
}

impl From<livecard_app::contact::engine::ContactError> for SweepError {
    fn from(err: livecard_app::contact::engine::ContactError) -> Self {
        use livecard_app::contact::engine::ContactError;
        match err {
            ContactError::Store(livecard_store::StoreError::Unavailable(reason)) => {
                SweepError::Unavailable(reason)
            }
            ContactError::Busy => SweepError::Busy,
            other => SweepError::Bug(other.to_string()),
        }
    }
}

impl From<SweepError> for lambda_runtime::Diagnostic {
    fn from(err: SweepError) -> Self {
        lambda_runtime::Diagnostic {
            error_type: err.kind().to_owned(),
            error_message: err.to_string(),
        }
    }
}

/// Runs a function's handler under the Lambda runtime API, after a cold
/// start that failed is reported as such. A handler's error reaches the
/// runtime as its own type (its `Diagnostic`).
pub async fn serve<F, Fut, E>(handler: F) -> Result<(), lambda_runtime::Error>
where
    F: Fn(Arc<Host>, serde_json::Value, lambda_runtime::Context) -> Fut,
    Fut: std::future::Future<Output = Result<serde_json::Value, E>>,
    E: Into<lambda_runtime::Diagnostic> + std::fmt::Debug,
{
    init_logging();
    let host = match Host::from_env().await {
        Ok(host) => Arc::new(host),
        Err(err) => {
            tracing::error!(error = %err, "cold start failed");
            report_init_error(&err).await;
            return Err(err.to_string().into());
        }
    };
    let handler = &handler;
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<serde_json::Value>| {
            let host = host.clone();
            async move { handler(host, event.payload, event.context).await }
        },
    ))
    .await
}

/// Tells the runtime API why the cold start failed (`/init/error`), so that
/// Lambda reports it as an init error with its reason.
async fn report_init_error(err: &InitError) {
    let Ok(endpoint) = std::env::var("AWS_LAMBDA_RUNTIME_API") else {
        return;
    };
    let Ok(base) = format!("http://{endpoint}").parse::<http::Uri>() else {
        return;
    };
    let client = lambda_runtime_api_client::PooledClient::builder()
        .with_endpoint(base)
        .build();
    let body = serde_json::json!({
        "errorType": "Runtime.InitError",
        "errorMessage": err.to_string(),
    })
    .to_string();
    let Ok(request) = lambda_runtime_api_client::build_request()
        .method(http::Method::POST)
        .uri("/2018-06-01/runtime/init/error")
        .header("lambda-runtime-function-error-type", "Runtime.InitError")
        .header("content-type", "application/json")
        .body(lambda_runtime_api_client::body::Body::from(body))
    else {
        return;
    };
    if let Err(err) = client.call(request).await {
        tracing::warn!(error = %err, "could not report the init error");
    }
}

#[cfg(test)]
mod tests {
    use super::SweepError;
    use livecard_app::contact::engine::ContactError;
    use livecard_store::StoreError;

    #[test]
    fn a_sweep_error_keeps_its_kind_up_to_the_runtime() {
        let unavailable = SweepError::from(ContactError::Store(StoreError::Unavailable(
            "ThrottlingException".into(),
        )));
        let diagnostic = lambda_runtime::Diagnostic::from(unavailable);
        assert_eq!(diagnostic.error_type, "Livecard.StoreUnavailable");
        assert!(diagnostic.error_message.contains("ThrottlingException"));
        let corrupt = SweepError::from(ContactError::Store(StoreError::Corrupt("x".into())));
        assert_eq!(
            corrupt.kind(),
            "Livecard.Bug",
            "a corrupt item is not retried away"
        );
        assert_eq!(SweepError::from(ContactError::Busy).kind(), "Livecard.Busy");
    }
}
