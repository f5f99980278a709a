//! The Lambda runtime API, on loopback.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{Mutex, mpsc, oneshot};

/// How an invocation ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The function's response payload.
    Response(Value),
    /// The function reported an error (`/error`), with its payload.
    Error(Value),
}

struct Pending {
    id: String,
    payload: Value,
}

struct Inner {
    queue_tx: mpsc::UnboundedSender<Pending>,
    queue_rx: Mutex<mpsc::UnboundedReceiver<Pending>>,
    waiting: std::sync::Mutex<HashMap<String, oneshot::Sender<Outcome>>>,
    init_errors: std::sync::Mutex<Vec<Value>>,
    next_id: AtomicU64,
    /// Invocations handed to a function (`/next` answered).
    pub polled: AtomicU64,
}

/// A runtime API server; clone freely.
#[derive(Clone)]
pub struct RuntimeApi {
    inner: Arc<Inner>,
    pub addr: SocketAddr,
}

impl RuntimeApi {
    /// Serves on a free loopback port.
    pub async fn start() -> std::io::Result<Self> {
        let (queue_tx, queue_rx) = mpsc::unbounded_channel();
        let inner = Arc::new(Inner {
            queue_tx,
            queue_rx: Mutex::new(queue_rx),
            waiting: std::sync::Mutex::new(HashMap::new()),
            init_errors: std::sync::Mutex::new(Vec::new()),
            next_id: AtomicU64::new(1),
            polled: AtomicU64::new(0),
        });
        let router = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(response),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(inner.clone());
        let addr = super::serve_loopback(router).await?;
        Ok(Self { inner, addr })
    }

    /// `AWS_LAMBDA_RUNTIME_API` for a function process.
    pub fn endpoint(&self) -> String {
        self.addr.to_string()
    }

    /// Invokes the function with `payload` and waits for its outcome.
    pub async fn invoke(&self, payload: Value) -> Outcome {
        let id = format!(
            "req-{:08}",
            self.inner.next_id.fetch_add(1, Ordering::Relaxed)
        );
        let (tx, rx) = oneshot::channel();
        if let Ok(mut waiting) = self.inner.waiting.lock() {
            waiting.insert(id.clone(), tx);
        }
        let _ = self.inner.queue_tx.send(Pending { id, payload });
        rx.await
            .unwrap_or_else(|_| Outcome::Error(Value::from("the runtime API stopped")))
    }

    /// Like [`RuntimeApi::invoke`], but gives up after `limit`.
    pub async fn invoke_within(&self, payload: Value, limit: Duration) -> Option<Outcome> {
        tokio::time::timeout(limit, self.invoke(payload)).await.ok()
    }

    /// What functions reported from a failed cold start.
    pub fn init_errors(&self) -> Vec<Value> {
        self.inner
            .init_errors
            .lock()
            .map(|e| e.clone())
            .unwrap_or_default()
    }

    /// Invocations handed out so far.
    pub fn polled(&self) -> u64 {
        self.inner.polled.load(Ordering::Relaxed)
    }
}

async fn next(State(inner): State<Arc<Inner>>) -> Response {
    let pending = {
        let mut queue = inner.queue_rx.lock().await;
        queue.recv().await
    };
    let Some(pending) = pending else {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    inner.polled.fetch_add(1, Ordering::Relaxed);
    let deadline = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64 + 30_000)
        .unwrap_or(0);
    let mut headers = HeaderMap::new();
    let values = [
        ("lambda-runtime-aws-request-id", pending.id.clone()),
        ("lambda-runtime-deadline-ms", deadline.to_string()),
        (
            "lambda-runtime-invoked-function-arn",
            "arn:aws:lambda:us-east-1:000000000000:function:livecard".to_owned(),
        ),
        (
            "lambda-runtime-trace-id",
            "Root=1-00000000-000000000000000000000000;Sampled=0".to_owned(),
        ),
        ("content-type", "application/json".to_owned()),
    ];
    for (name, value) in values {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    (headers, pending.payload.to_string()).into_response()
}

fn finish(inner: &Inner, id: &str, outcome: Outcome) -> StatusCode {
    let sender = inner.waiting.lock().ok().and_then(|mut w| w.remove(id));
    match sender {
        Some(sender) => {
            let _ = sender.send(outcome);
            StatusCode::ACCEPTED
        }
        None => StatusCode::BAD_REQUEST,
    }
}

fn parse(body: &Bytes) -> Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|_| Value::from(String::from_utf8_lossy(body).into_owned()))
}

async fn response(
    State(inner): State<Arc<Inner>>,
    Path(id): Path<String>,
    body: Bytes,
) -> StatusCode {
    finish(&inner, &id, Outcome::Response(parse(&body)))
}

async fn error(State(inner): State<Arc<Inner>>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    finish(&inner, &id, Outcome::Error(parse(&body)))
}

async fn init_error(State(inner): State<Arc<Inner>>, body: Bytes) -> StatusCode {
    if let Ok(mut errors) = inner.init_errors.lock() {
        errors.push(parse(&body));
    }
    StatusCode::ACCEPTED
}
