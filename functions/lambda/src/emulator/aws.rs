//! AWS endpoints on loopback: the API Gateway Management API (recording),
//! Secrets Manager (one secret), and a DynamoDB pass-through that can
//! throttle.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

/// One call the functions made to the Management API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManagementCall {
    Post { connection: String, data: String },
    Delete { connection: String },
}

#[derive(Default)]
struct Inner {
    calls: Mutex<Vec<ManagementCall>>,
    gone: Mutex<HashSet<String>>,
    secrets: Mutex<HashMap<String, String>>,
    secret_reads: AtomicU32,
}

/// The Management API and Secrets Manager; clone freely.
#[derive(Clone)]
pub struct AwsEndpoints {
    inner: Arc<Inner>,
    pub addr: SocketAddr,
}

/// The stage in the Management API's URL.
pub const STAGE: &str = "live";

impl AwsEndpoints {
    pub async fn start() -> std::io::Result<Self> {
        let inner = Arc::new(Inner::default());
        let router = Router::new()
            .route("/", post(secrets_manager))
            .route(
                "/{stage}/@connections/{id}",
                post(post_to_connection)
                    .delete(delete_connection)
                    .get(get_connection),
            )
            .with_state(inner.clone());
        let addr = super::serve_loopback(router).await?;
        Ok(Self { inner, addr })
    }

    /// `LIVECARD_WS_CALLBACK_URL`.
    pub fn management_endpoint(&self) -> String {
        format!("http://{}/{STAGE}", self.addr)
    }

    /// `AWS_ENDPOINT_URL_SECRETS_MANAGER`.
    pub fn secrets_endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stores a secret `GetSecretValue` answers for `arn`.
    pub fn put_secret(&self, arn: &str, value: &str) {
        if let Ok(mut secrets) = self.inner.secrets.lock() {
            secrets.insert(arn.to_owned(), value.to_owned());
        }
    }

    pub fn secret_reads(&self) -> u32 {
        self.inner.secret_reads.load(Ordering::Relaxed)
    }

    /// From now on, calls for `connection` answer 410 GoneException.
    pub fn mark_gone(&self, connection: &str) {
        if let Ok(mut gone) = self.inner.gone.lock() {
            gone.insert(connection.to_owned());
        }
    }

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<ManagementCall> {
        self.inner
            .calls
            .lock()
            .map(|c| c.clone())
            .unwrap_or_default()
    }

    /// The messages posted to `connection` so far, parsed.
    pub fn posted_to(&self, connection: &str) -> Vec<Value> {
        self.calls()
            .into_iter()
            .filter_map(|call| match call {
                ManagementCall::Post {
                    connection: c,
                    data,
                } if c == connection => serde_json::from_str(&data).ok(),
                _ => None,
            })
            .collect()
    }
}

fn is_gone(inner: &Inner, connection: &str) -> bool {
    inner.gone.lock().is_ok_and(|g| g.contains(connection))
}

fn gone() -> Response {
    (
        StatusCode::GONE,
        [("x-amzn-errortype", "GoneException")],
        json!({"message": null}).to_string(),
    )
        .into_response()
}

async fn post_to_connection(
    State(inner): State<Arc<Inner>>,
    Path((_stage, id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    if is_gone(&inner, &id) {
        return gone();
    }
    if let Ok(mut calls) = inner.calls.lock() {
        calls.push(ManagementCall::Post {
            connection: id,
            data: String::from_utf8_lossy(&body).into_owned(),
        });
    }
    StatusCode::OK.into_response()
}

async fn delete_connection(
    State(inner): State<Arc<Inner>>,
    Path((_stage, id)): Path<(String, String)>,
) -> Response {
    if is_gone(&inner, &id) {
        return gone();
    }
    if let Ok(mut calls) = inner.calls.lock() {
        calls.push(ManagementCall::Delete {
            connection: id.clone(),
        });
    }
    if let Ok(mut g) = inner.gone.lock() {
        g.insert(id);
    }
    StatusCode::NO_CONTENT.into_response()
}

async fn get_connection(
    State(inner): State<Arc<Inner>>,
    Path((_stage, id)): Path<(String, String)>,
) -> Response {
    if is_gone(&inner, &id) {
        return gone();
    }
    (
        StatusCode::OK,
        json!({"connectedAt": "2026-01-01T00:00:00Z"}).to_string(),
    )
        .into_response()
}

async fn secrets_manager(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let error = |kind: &str, message: &str| {
        (
            StatusCode::BAD_REQUEST,
            [("content-type", "application/x-amz-json-1.1")],
            json!({"__type": kind, "message": message}).to_string(),
        )
            .into_response()
    };
    if target != "secretsmanager.GetSecretValue" {
        return error("UnknownOperationException", "not emulated");
    }
    inner.secret_reads.fetch_add(1, Ordering::Relaxed);
    let id = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v.get("SecretId").and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_default();
    let secret = inner.secrets.lock().ok().and_then(|s| s.get(&id).cloned());
    match secret {
        Some(value) => (
            StatusCode::OK,
            [("content-type", "application/x-amz-json-1.1")],
            json!({"ARN": id, "Name": "livecard", "SecretString": value, "VersionId": "v1",
                   "VersionStages": ["AWSCURRENT"], "CreatedDate": 1.7e9})
            .to_string(),
        )
            .into_response(),
        None => error(
            "ResourceNotFoundException",
            "Secrets Manager can't find the specified secret.",
        ),
    }
}

/// A DynamoDB endpoint that forwards to a real DynamoDB-compatible server
/// and, on demand, answers `ThrottlingException` to the next N requests,
/// leaves everything of the next N batch requests unprocessed (what
/// DynamoDB does to a throttled BatchGetItem or BatchWriteItem), or cancels
/// the next N transactions for a conflict with another one.
#[derive(Clone)]
pub struct ThrottlingProxy {
    state: Arc<ProxyState>,
    pub addr: SocketAddr,
}

struct ProxyState {
    throttle: AtomicU32,
    throttled: AtomicU32,
    unprocess: AtomicU32,
    unprocessed: AtomicU32,
    conflict: AtomicU32,
    conflicted: AtomicU32,
    client: reqwest::Client,
    upstream: String,
}

impl ThrottlingProxy {
    pub async fn start(upstream: &str) -> std::io::Result<Self> {
        let state = Arc::new(ProxyState {
            throttle: AtomicU32::new(0),
            throttled: AtomicU32::new(0),
            unprocess: AtomicU32::new(0),
            unprocessed: AtomicU32::new(0),
            conflict: AtomicU32::new(0),
            conflicted: AtomicU32::new(0),
            client: reqwest::Client::new(),
            upstream: upstream.to_owned(),
        });
        let router = Router::new()
            .route("/", post(proxy))
            .with_state(state.clone());
        let addr = super::serve_loopback(router).await?;
        Ok(Self { state, addr })
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The next `n` requests are throttled.
    pub fn throttle_next(&self, n: u32) {
        self.state.throttle.store(n, Ordering::SeqCst);
    }

    /// Requests throttled so far.
    pub fn throttled(&self) -> u32 {
        self.state.throttled.load(Ordering::SeqCst)
    }

    /// The next `n` BatchGetItem / BatchWriteItem requests get all their
    /// keys or items back unprocessed, nothing read or written.
    pub fn leave_unprocessed_next(&self, n: u32) {
        self.state.unprocess.store(n, Ordering::SeqCst);
    }

    /// Batch requests left unprocessed so far.
    pub fn left_unprocessed(&self) -> u32 {
        self.state.unprocessed.load(Ordering::SeqCst)
    }

    /// The next `n` TransactWriteItems requests are cancelled for a
    /// conflict with another transaction on their first item, nothing
    /// written.
    pub fn conflict_next(&self, n: u32) {
        self.state.conflict.store(n, Ordering::SeqCst);
    }

    /// Transactions cancelled so far.
    pub fn conflicted(&self) -> u32 {
        self.state.conflicted.load(Ordering::SeqCst)
    }
}

/// A transaction's cancellation for a conflict on its first item (one
/// reason per item, as DynamoDB gives them).
fn conflict(body: &[u8]) -> Option<Response> {
    let request: Value = serde_json::from_slice(body).ok()?;
    let items = request.get("TransactItems")?.as_array()?.len();
    let reasons: Vec<Value> = (0..items)
        .map(|i| match i {
            0 => json!({"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"}),
            _ => json!({"Code": "None"}),
        })
        .collect();
    Some(
        (
            StatusCode::BAD_REQUEST,
            [("content-type", "application/x-amz-json-1.0")],
            json!({
                "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
                "message": "Transaction cancelled, please refer cancellation reasons for specific reasons",
                "CancellationReasons": reasons,
            })
            .to_string(),
        )
            .into_response(),
    )
}

fn take_one(counter: &AtomicU32) -> bool {
    counter
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
}

/// A batch request's answer with every key or item of it unprocessed.
fn all_unprocessed(target: &str, body: &[u8]) -> Option<Response> {
    let field = match target.rsplit('.').next() {
        Some("BatchGetItem") => "UnprocessedKeys",
        Some("BatchWriteItem") => "UnprocessedItems",
        _ => return None,
    };
    let request: Value = serde_json::from_slice(body).ok()?;
    let mut answer = json!({ field: request.get("RequestItems")? });
    if field == "UnprocessedKeys" {
        answer["Responses"] = json!({});
    }
    Some(
        (
            StatusCode::OK,
            [("content-type", "application/x-amz-json-1.0")],
            answer.to_string(),
        )
            .into_response(),
    )
}

async fn proxy(State(state): State<Arc<ProxyState>>, headers: HeaderMap, body: Bytes) -> Response {
    let ProxyState {
        throttle,
        throttled,
        unprocess,
        unprocessed,
        conflict: conflicts,
        conflicted,
        client,
        upstream,
    } = &*state;
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if target.contains(".Batch")
        && unprocess.load(Ordering::SeqCst) > 0
        && let Some(answer) = all_unprocessed(target, &body)
        && take_one(unprocess)
    {
        unprocessed.fetch_add(1, Ordering::SeqCst);
        return answer;
    }
    if target.ends_with(".TransactWriteItems")
        && conflicts.load(Ordering::SeqCst) > 0
        && let Some(answer) = conflict(&body)
        && take_one(conflicts)
    {
        conflicted.fetch_add(1, Ordering::SeqCst);
        return answer;
    }
    if take_one(throttle) {
        throttled.fetch_add(1, Ordering::SeqCst);
        return (
            StatusCode::BAD_REQUEST,
            [("content-type", "application/x-amz-json-1.0")],
            json!({"__type": "com.amazonaws.dynamodb.v20120810#ThrottlingException",
                   "message": "Rate of requests exceeds the allowed throughput."})
            .to_string(),
        )
            .into_response();
    }
    let mut request = client.post(upstream.as_str()).body(body);
    for (name, value) in &headers {
        if name != "host" && name != "content-length" {
            request = request.header(name.as_str(), value.as_bytes());
        }
    }
    match request.send().await {
        Ok(response) => {
            let status =
                StatusCode::from_u16(response.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
            let content_type = response
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("application/x-amz-json-1.0")
                .to_owned();
            let bytes = response.bytes().await.unwrap_or_default();
            (status, [("content-type", content_type)], bytes).into_response()
        }
        Err(_) => StatusCode::BAD_GATEWAY.into_response(),
    }
}
