//! A loopback Microsoft Graph for tests and benches of the Teams
//! connector: the token endpoint (client credentials, and the refresh-token
//! grant of a delegated sync user), `getPresencesByUserId`, user look-ups,
//! `setPresence`/`clearPresence`, and presence subscriptions with their
//! validation handshake and encrypted change notifications, built as
//! Microsoft documents them.

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
/// The delegated sync user's first refresh token (rotated on each use).
pub const SYNC_REFRESH: &str = "sync-refresh-1";
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
    /// Presence subscriptions made (validated) and still held.
    pub subscriptions: Vec<GraphSubscription>,
    /// Renewals (PATCH) received.
    pub renewals: usize,
    /// Grant subscriptions this long (Graph may grant less than asked).
    pub grant_ms: Option<u64>,
    /// Refresh tokens handed out; the latest is valid (and the first).
    pub refresh_tokens: Vec<String>,
}

/// A subscription as Graph holds it.
#[derive(Debug, Clone)]
pub struct GraphSubscription {
    pub id: String,
    pub users: Vec<String>,
    pub notification_url: String,
    pub client_state: String,
    pub certificate_id: String,
    /// The encryption certificate (DER).
    pub certificate: Vec<u8>,
    pub expires_ms: u64,
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
    if form.get("grant_type").map(String::as_str) == Some("refresh_token") {
        let mut g = g.lock().expect("graph");
        let given = form.get("refresh_token").cloned().unwrap_or_default();
        let valid = given == SYNC_REFRESH || g.refresh_tokens.last() == Some(&given);
        let scope_ok = form
            .get("scope")
            .is_some_and(|s| s.split(' ').any(|p| p.ends_with("Presence.Read.All")));
        if tenant != TENANT
            || form.get("client_id").map(String::as_str) != Some(CLIENT)
            || !valid
            || !scope_ok
        {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({"error": "invalid_grant"})),
            )
                .into_response();
        }
        let next = format!("sync-refresh-{}", g.refresh_tokens.len() + 2);
        g.refresh_tokens.push(next.clone());
        return Json(json!({"token_type": "Bearer", "expires_in": 3599, "access_token": "token-sync", "refresh_token": next}))
            .into_response();
    }
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

fn delegated(headers: &HeaderMap) -> bool {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == "Bearer token-sync")
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// `POST /subscriptions`: presence subscriptions need the delegated user;
/// the notification URL must answer the validation handshake (the token
/// back as plain text) before the subscription exists.
async fn subscribe(
    State(g): State<Shared>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    use base64::Engine;
    if !delegated(&headers) {
        return graph_error(StatusCode::FORBIDDEN, "ExtensionError");
    }
    let resource = body["resource"].as_str().unwrap_or_default();
    let users: Vec<String> = resource
        .strip_prefix("/communications/presences?$filter=id in (")
        .and_then(|r| r.strip_suffix(')'))
        .map(|ids| {
            ids.split(',')
                .map(|i| i.trim_matches('\'').to_owned())
                .collect()
        })
        .unwrap_or_default();
    let certificate = body["encryptionCertificate"]
        .as_str()
        .and_then(|c| base64::engine::general_purpose::STANDARD.decode(c).ok());
    let requested = body["expirationDateTime"]
        .as_str()
        .and_then(livecard_core::presence::teams_push::parse_time);
    let url = body["notificationUrl"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let (Some(certificate), Some(requested)) = (certificate, requested) else {
        return graph_error(StatusCode::BAD_REQUEST, "InvalidRequest");
    };
    if body["changeType"] != "updated"
        || body["includeResourceData"] != true
        || users.is_empty()
        || users.len() > 650
        || body["clientState"]
            .as_str()
            .is_none_or(|c| c.is_empty() || c.len() > 128)
        || body["encryptionCertificateId"]
            .as_str()
            .is_none_or(str::is_empty)
        || requested > now_ms() + 3_600_000 + 60_000
    {
        return graph_error(StatusCode::BAD_REQUEST, "InvalidRequest");
    }
    // The validation handshake, within Graph's 10 s.
    let token = format!("validation-{}", now_ms());
    let check = reqwest::Client::new()
        .post(format!("{url}?validationToken={token}"))
        .header("content-type", "text/plain; charset=utf-8")
        .timeout(std::time::Duration::from_secs(10))
        .send()
        .await;
    let echoed = match check {
        Ok(r) if r.status() == reqwest::StatusCode::OK => r.text().await.unwrap_or_default(),
        _ => String::new(),
    };
    if echoed != token {
        return graph_error(StatusCode::BAD_REQUEST, "ValidationError");
    }
    let mut g = g.lock().expect("graph");
    let expires_ms = g
        .grant_ms
        .map_or(requested, |ms| requested.min(now_ms() + ms));
    let id = format!("sub-{}", g.subscriptions.len() + g.renewals + 1);
    g.subscriptions.push(GraphSubscription {
        id: id.clone(),
        users,
        notification_url: url,
        client_state: body["clientState"].as_str().unwrap_or_default().to_owned(),
        certificate_id: body["encryptionCertificateId"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        certificate,
        expires_ms,
    });
    (
        StatusCode::CREATED,
        Json(json!({"id": id, "resource": resource, "expirationDateTime": iso(expires_ms)})),
    )
        .into_response()
}

fn iso(ms: u64) -> String {
    jiff::Timestamp::from_millisecond(ms as i64)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%S%.3f0000Z").to_string())
        .unwrap_or_default()
}

/// `PATCH /subscriptions/{id}`: a renewal.
async fn renew(
    Path(id): Path<String>,
    State(g): State<Shared>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if !delegated(&headers) {
        return graph_error(StatusCode::FORBIDDEN, "ExtensionError");
    }
    let mut g = g.lock().expect("graph");
    let grant = g.grant_ms;
    let Some(requested) = body["expirationDateTime"]
        .as_str()
        .and_then(livecard_core::presence::teams_push::parse_time)
    else {
        return graph_error(StatusCode::BAD_REQUEST, "InvalidRequest");
    };
    let now = now_ms();
    let Some(s) = g
        .subscriptions
        .iter_mut()
        .find(|s| s.id == id && s.expires_ms > now)
    else {
        return graph_error(StatusCode::NOT_FOUND, "ResourceNotFound");
    };
    s.expires_ms = grant.map_or(requested, |ms| requested.min(now + ms));
    let expires = s.expires_ms;
    g.renewals += 1;
    Json(json!({"id": id, "expirationDateTime": iso(expires)})).into_response()
}

/// `DELETE /subscriptions/{id}`.
async fn unsubscribe(
    Path(id): Path<String>,
    State(g): State<Shared>,
    headers: HeaderMap,
) -> Response {
    if !delegated(&headers) {
        return graph_error(StatusCode::FORBIDDEN, "ExtensionError");
    }
    g.lock()
        .expect("graph")
        .subscriptions
        .retain(|s| s.id != id);
    StatusCode::NO_CONTENT.into_response()
}

/// How a test's notification differs from Graph's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forgery {
    /// As Graph sends it.
    None,
    /// Another client state.
    ClientState,
    /// The ciphertext changed after signing.
    Signature,
    /// A subscription id nobody made.
    Subscription,
}

/// Graph's notification that `user`'s presence changed, encrypted to the
/// subscription's certificate as documented (a fresh AES-256 key; data
/// AES-CBC with the key's first 16 bytes as IV, HMAC-SHA256 signature;
/// the key RSA-OAEP-SHA1 encrypted with the certificate's public key),
/// posted to the subscription's URL. Returns the HTTP status and the body
/// posted (to replay it).
pub async fn notify(
    g: &Shared,
    user: &str,
    availability: &str,
    activity: &str,
    forgery: Forgery,
) -> (u16, Vec<u8>) {
    use base64::Engine;
    let subscription = g
        .lock()
        .expect("graph")
        .subscriptions
        .iter()
        .find(|s| s.users.iter().any(|u| u == user))
        .cloned()
        .expect("a subscription covering the user");
    let plain = json!({"@odata.type": "#Microsoft.Graph.presence", "@odata.id": format!("communications/presences('{user}')"),
                       "id": user, "availability": availability, "activity": activity});
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).expect("random");
    let wrapped = rsa_oaep_sha1(&subscription.certificate, &key);
    let mut content = livecard_core::presence::teams_push::seal(
        &key,
        plain.to_string().as_bytes(),
        &wrapped,
        &subscription.certificate_id,
    );
    if forgery == Forgery::Signature {
        let mut data = base64::engine::general_purpose::STANDARD
            .decode(&content.data)
            .expect("b64");
        data[3] ^= 0x40;
        content.data = base64::engine::general_purpose::STANDARD.encode(data);
    }
    let body = json!({"value": [{
        "subscriptionId": if forgery == Forgery::Subscription { "sub-forged".to_owned() } else { subscription.id.clone() },
        "subscriptionExpirationDateTime": iso(subscription.expires_ms),
        "changeType": "updated",
        "resource": format!("communications/presences('{user}')"),
        "resourceData": {"@odata.type": "#Microsoft.Graph.presence", "@odata.id": format!("communications/presences('{user}')"), "id": user},
        "clientState": if forgery == Forgery::ClientState { "not-the-state-0123456789".to_owned() } else { subscription.client_state.clone() },
        "tenantId": "11111111-0000-0000-0000-000000000000",
        "encryptedContent": {
            "data": content.data,
            "dataSignature": content.data_signature,
            "dataKey": content.data_key,
            "encryptionCertificateId": content.encryption_certificate_id,
            "encryptionCertificateThumbprint": "00",
        },
    }], "validationTokens": ["eyJ0eXAiOiJKV1QifQ.e30.sig"]})
    .to_string()
    .into_bytes();
    let status = post_notifications(&subscription.notification_url, body.clone()).await;
    (status, body)
}

/// Posts a notification body as Graph does; the HTTP status.
pub async fn post_notifications(url: &str, body: Vec<u8>) -> u16 {
    reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

/// RSA-OAEP (SHA-1, MGF1-SHA-1) with the public key of a DER certificate.
fn rsa_oaep_sha1(certificate: &[u8], plain: &[u8]) -> Vec<u8> {
    use aws_lc_rs::rsa::{OAEP_SHA1_MGF1SHA1, OaepPublicEncryptingKey, PublicEncryptingKey};
    let (_, cert) = x509_parser::parse_x509_certificate(certificate).expect("a certificate");
    let key = PublicEncryptingKey::from_der(cert.public_key().raw).expect("an RSA public key");
    let key = OaepPublicEncryptingKey::new(key).expect("OAEP");
    let mut out = vec![0u8; key.ciphertext_size()];
    key.encrypt(&OAEP_SHA1_MGF1SHA1, plain, &mut out, None)
        .expect("encrypts")
        .to_vec()
}

/// A certificate and its key for Teams push, made with OpenSSL (RSA 2048,
/// self-signed): the secrets document's `teams_notifications`.
pub fn push_keys(client_state: &str) -> livecard_app::TeamsPushKeys {
    let dir = std::env::temp_dir().join(format!("livecard-graph-keys-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let run = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .current_dir(&dir)
            .output()
            .expect("openssl runs");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "key.pem",
        "-out",
        "cert.pem",
        "-days",
        "2",
        "-subj",
        "/CN=livecard-teams-push",
    ]);
    run(&[
        "pkcs8", "-topk8", "-nocrypt", "-in", "key.pem", "-outform", "DER", "-out", "key.der",
    ]);
    run(&[
        "x509", "-in", "cert.pem", "-outform", "DER", "-out", "cert.der",
    ]);
    let keys = livecard_app::TeamsPushKeys {
        client_state: client_state.to_owned(),
        certificate_id: "livecard-1".into(),
        certificate: std::fs::read(dir.join("cert.der")).expect("cert"),
        private_key: std::fs::read(dir.join("key.der")).expect("key"),
    };
    let _ = std::fs::remove_dir_all(&dir);
    keys
}

/// Starts the loopback Graph; its base URL (`{url}/login`, `{url}/v1.0`).
pub async fn fake_graph() -> (String, Shared) {
    let g: Shared = Arc::default();
    let app = Router::new()
        .route("/login/{tenant}/oauth2/v2.0/token", post(token))
        .route("/v1.0/communications/getPresencesByUserId", post(presences))
        .route("/v1.0/users/{name}", get(user))
        .route("/v1.0/users/{user}/presence/{action}", post(session))
        .route("/v1.0/subscriptions", post(subscribe))
        .route(
            "/v1.0/subscriptions/{id}",
            axum::routing::patch(renew).delete(unsubscribe),
        )
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
