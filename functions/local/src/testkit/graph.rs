//! A loopback Microsoft Graph for tests and benches of the Teams
//! connector: the token endpoint, `getPresencesByUserId`, user look-ups and
//! `setPresence`/`clearPresence`, answering as Microsoft documents them.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// The tenant, client and secret the loopback Graph accepts.
pub const TENANT: &str = "contoso.example";
pub const CLIENT: &str = "11111111-2222-3333-4444-555555555555";
pub const SECRET: &str = "s3cret-value";
/// Ben's user id, resolved from `ben@contoso.example`.
pub const BEN: &str = "9b0f6c2a-6d3e-4e4f-8a4b-2c1d0e9f8a7b";

/// What the loopback Graph holds and has seen.
#[derive(Default)]
pub struct Graph {
    /// user id → (availability, activity)
    pub presence: HashMap<String, (String, String)>,
    /// Answer the next presence read with 429 and this Retry-After.
    pub throttle_next: Option<u64>,
    /// Answer the next presence read with something that is not Graph's.
    pub garbage_next: bool,
    /// Add a user nobody asked about to every answer.
    pub stranger: bool,
    /// When presence reads came, and whether each was throttled.
    pub reads: Vec<(Instant, bool)>,
    /// setPresence / clearPresence calls: (user, action, body).
    pub sessions: Vec<(String, String, Value)>,
    pub tokens: usize,
}

pub type Shared = Arc<Mutex<Graph>>;

fn graph_error(status: StatusCode, code: &str) -> Response {
    (
        status,
        Json(json!({"error": {"code": code, "message": code}})),
    )
        .into_response()
}

fn authorised(headers: &HeaderMap) -> bool {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == "Bearer token-1")
}

async fn token(
    Path(tenant): Path<String>,
    State(g): State<Shared>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let ok = tenant == TENANT
        && form.get("client_id").map(String::as_str) == Some(CLIENT)
        && form.get("client_secret").map(String::as_str) == Some(SECRET)
        && form.get("grant_type").map(String::as_str) == Some("client_credentials")
        && form.get("scope").map(String::as_str) == Some("https://graph.microsoft.com/.default");
    if !ok {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "invalid_client"})),
        )
            .into_response();
    }
    g.lock().expect("graph").tokens += 1;
    Json(json!({"token_type": "Bearer", "expires_in": 3599, "access_token": "token-1"}))
        .into_response()
}

async fn presences(
    State(g): State<Shared>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if !authorised(&headers) {
        return graph_error(StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken");
    }
    let mut g = g.lock().expect("graph");
    if let Some(after) = g.throttle_next.take() {
        g.reads.push((Instant::now(), true));
        let mut response = graph_error(StatusCode::TOO_MANY_REQUESTS, "TooManyRequests");
        response
            .headers_mut()
            .insert("retry-after", after.to_string().parse().expect("header"));
        return response;
    }
    g.reads.push((Instant::now(), false));
    if std::mem::take(&mut g.garbage_next) {
        return (StatusCode::OK, "<html>maintenance</html>").into_response();
    }
    let ids: Vec<String> = body["ids"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    if ids.is_empty() || ids.len() > 650 {
        return graph_error(StatusCode::BAD_REQUEST, "BadRequest");
    }
    let mut ids = ids;
    if g.stranger {
        ids.push("00000000-0000-0000-0000-000000000000".into());
        g.presence
            .entry("00000000-0000-0000-0000-000000000000".into())
            .or_insert(("DoNotDisturb".into(), "DoNotDisturb".into()));
    }
    let value: Vec<Value> = ids
        .iter()
        .map(|id| {
            let (availability, activity) = g
                .presence
                .get(id)
                .cloned()
                .unwrap_or(("PresenceUnknown".into(), "PresenceUnknown".into()));
            json!({"id": id, "availability": availability, "activity": activity,
                   "statusMessage": null, "outOfOfficeSettings": {"message": null, "isOutOfOffice": false}})
        })
        .collect();
    Json(json!({"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#Collection(presence)", "value": value})).into_response()
}

async fn user(Path(name): Path<String>, headers: HeaderMap) -> Response {
    if !authorised(&headers) {
        return graph_error(StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken");
    }
    match name.as_str() {
        "ben@contoso.example" => Json(json!({"id": BEN})).into_response(),
        _ => graph_error(StatusCode::NOT_FOUND, "Request_ResourceNotFound"),
    }
}

async fn session(
    Path((user, action)): Path<(String, String)>,
    State(g): State<Shared>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if !authorised(&headers) {
        return graph_error(StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken");
    }
    if body["sessionId"] != CLIENT {
        return graph_error(StatusCode::BAD_REQUEST, "BadRequest");
    }
    g.lock().expect("graph").sessions.push((user, action, body));
    StatusCode::OK.into_response()
}

/// Starts the loopback Graph; its base URL (`{url}/login`, `{url}/v1.0`).
pub async fn fake_graph() -> (String, Shared) {
    let g: Shared = Arc::default();
    let app = Router::new()
        .route("/login/{tenant}/oauth2/v2.0/token", post(token))
        .route("/v1.0/communications/getPresencesByUserId", post(presences))
        .route("/v1.0/users/{name}", get(user))
        .route("/v1.0/users/{user}/presence/{action}", post(session))
        .with_state(g.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, g)
}
