//! Loopback stand-ins for the destinations that cannot run here (GA4,
//! Matomo) and a webhook receiver. Each applies the destination's
//! documented rules on its own (not livecard's code): GA4's limits and
//! reserved names, answered in the shape of GA4's validation server;
//! Matomo's bulk answers, its 400/503 behaviour and its 24-hour `cdt`
//! rule; and scripted faults (5xx with `Retry-After`, a stall past the
//! client's timeout, "commit, then stall" for a duplicate).

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How the next request to a path is answered.
#[derive(Debug, Clone)]
pub enum Fault {
    Status(u16),
    /// 503/429 with `Retry-After: <seconds>`.
    RetryAfter(u16, u64),
    /// No answer for this long (past the client's timeout).
    Stall(Duration),
    /// Record what arrived, then stall (the client never hears it worked).
    CommitThenStall(Duration),
}

#[derive(Debug, Clone)]
pub struct Ga4Hit {
    pub client_id: String,
    pub name: String,
    pub event_id: String,
    pub params: Value,
}

#[derive(Debug, Clone)]
pub struct MatomoHit {
    pub params: Vec<(String, String)>,
}

impl MatomoHit {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Clone)]
pub struct HookCall {
    pub headers: Vec<(String, String)>,
    pub body: String,
}

#[derive(Default)]
pub struct Captured {
    pub ga4: Vec<Ga4Hit>,
    /// Every validation message GA4 would have given.
    pub ga4_messages: Vec<String>,
    pub matomo: Vec<MatomoHit>,
    /// Hits Matomo would have ignored (late `cdt` without a token).
    pub matomo_ignored: Vec<MatomoHit>,
    pub matomo_messages: Vec<String>,
    pub hooks: Vec<HookCall>,
    /// Requests answered, per path.
    pub requests: Vec<String>,
    faults: std::collections::HashMap<String, VecDeque<Fault>>,
    /// Matomo's tracking switched off (503) until switched on.
    pub matomo_disabled: bool,
    /// Matomo answers this status to everything until cleared.
    pub matomo_failing: Option<u16>,
    /// The site ids Matomo knows.
    pub matomo_sites: Vec<u32>,
    /// "now" for Matomo's 24-hour rule (Unix seconds).
    pub now_s: u64,
}

#[derive(Clone)]
pub struct Capture {
    pub state: Arc<Mutex<Captured>>,
    pub url: String,
}

impl Capture {
    pub async fn start(now_s: u64) -> Capture {
        let state = Arc::new(Mutex::new(Captured {
            matomo_sites: vec![3],
            now_s,
            ..Captured::default()
        }));
        let app = Router::new()
            .route("/mp/collect", post(ga4))
            .route("/debug/mp/collect", post(ga4_debug))
            .route("/matomo.php", post(matomo))
            .route("/hooks/{name}", post(hook))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Capture { state, url }
    }

    pub fn fail(&self, path: &str, faults: impl IntoIterator<Item = Fault>) {
        let mut s = self.state.lock().expect("lock");
        s.faults.entry(path.to_owned()).or_default().extend(faults);
    }

    pub fn with<T>(&self, f: impl FnOnce(&mut Captured) -> T) -> T {
        f(&mut self.state.lock().expect("lock"))
    }
}

/// Takes the next fault for `path`: an answer to give instead, or after
/// recording (commit then stall).
async fn fault(state: &Arc<Mutex<Captured>>, path: &str) -> (Option<Response>, Option<Duration>) {
    let next = {
        let mut s = state.lock().expect("lock");
        s.requests.push(path.to_owned());
        s.faults.get_mut(path).and_then(VecDeque::pop_front)
    };
    match next {
        None => (None, None),
        Some(Fault::Status(code)) => (
            Some(StatusCode::from_u16(code).expect("status").into_response()),
            None,
        ),
        Some(Fault::RetryAfter(code, secs)) => (
            Some(
                (
                    StatusCode::from_u16(code).expect("status"),
                    [("retry-after", secs.to_string())],
                )
                    .into_response(),
            ),
            None,
        ),
        Some(Fault::Stall(d)) => {
            tokio::time::sleep(d).await;
            (Some(StatusCode::GATEWAY_TIMEOUT.into_response()), None)
        }
        Some(Fault::CommitThenStall(d)) => (None, Some(d)),
    }
}

const RESERVED_EVENTS: &[&str] = &[
    "ad_activeview",
    "ad_click",
    "ad_exposure",
    "ad_query",
    "adunit_exposure",
    "app_clear_data",
    "app_install",
    "app_update",
    "app_remove",
    "error",
    "first_open",
    "first_visit",
    "in_app_purchase",
    "notification_dismiss",
    "notification_foreground",
    "notification_open",
    "notification_receive",
    "os_update",
    "screen_view",
    "session_start",
    "user_engagement",
    "page_view",
    "click",
    "scroll",
    "file_download",
    "form_start",
    "form_submit",
    "view_search_results",
    "video_start",
    "video_progress",
    "video_complete",
];

fn ga4_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= 40
        && chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn ga4_reserved_prefix(name: &str) -> bool {
    ["_", "ga_", "google_", "firebase_", "gtag."]
        .iter()
        .any(|p| name.starts_with(p))
}

/// GA4's documented rules, applied to one request body.
fn ga4_rules(body: &[u8]) -> (Vec<String>, Vec<Ga4Hit>) {
    let mut messages = Vec::new();
    let mut hits = Vec::new();
    if body.len() >= 130_000 {
        messages.push("VALUE_OUT_OF_BOUNDS: body over 130 kB".to_owned());
    }
    let Ok(root) = serde_json::from_slice::<Value>(body) else {
        messages.push("VALUE_INVALID: not JSON".into());
        return (messages, hits);
    };
    let client = root["client_id"].as_str().unwrap_or("").to_owned();
    if client.is_empty() {
        messages.push("VALUE_REQUIRED: client_id".into());
    }
    if root.get("ip_override").is_some() {
        messages.push("ip_override sent".into());
    }
    for key in ["ad_user_data", "ad_personalization"] {
        if let Some(v) = root["consent"].get(key)
            && v != "GRANTED"
            && v != "DENIED"
        {
            messages.push(format!("VALUE_INVALID: consent.{key}"));
        }
    }
    let events = root["events"].as_array().cloned().unwrap_or_default();
    if events.is_empty() || events.len() > 25 {
        messages.push(format!("EXCEEDED_MAX_ENTITIES: {} events", events.len()));
    }
    for (i, e) in events.iter().enumerate() {
        let name = e["name"].as_str().unwrap_or("");
        if !ga4_name(name) {
            messages.push(format!("NAME_INVALID: events[{i}].name {name}"));
        }
        if RESERVED_EVENTS.contains(&name) || ga4_reserved_prefix(name) {
            messages.push(format!("NAME_RESERVED: events[{i}].name {name}"));
        }
        let params = e["params"].as_object().cloned().unwrap_or_default();
        if params.len() > 25 {
            messages.push(format!("EXCEEDED_MAX_ENTITIES: events[{i}].params"));
        }
        if !params.contains_key("session_id") || !params.contains_key("engagement_time_msec") {
            messages.push(format!(
                "events[{i}]: session_id and engagement_time_msec are needed"
            ));
        }
        for (k, v) in &params {
            if !ga4_name(k) || ga4_reserved_prefix(k) || k == "gclid" || k == "session_number" {
                messages.push(format!("NAME_INVALID: events[{i}].params.{k}"));
            }
            match v {
                Value::String(s) if s.chars().count() > 100 => {
                    messages.push(format!("VALUE_OUT_OF_BOUNDS: events[{i}].params.{k}"))
                }
                Value::String(_) | Value::Number(_) => {}
                _ => messages.push(format!("VALUE_INVALID: events[{i}].params.{k}")),
            }
        }
        if e.get("timestamp_micros").is_some_and(|t| !t.is_u64()) {
            messages.push(format!("VALUE_INVALID: events[{i}].timestamp_micros"));
        }
        hits.push(Ga4Hit {
            client_id: client.clone(),
            name: name.to_owned(),
            event_id: params
                .get("lc_event_id")
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_owned(),
            params: Value::Object(params),
        });
    }
    (messages, hits)
}

async fn ga4(State(state): State<Arc<Mutex<Captured>>>, body: Bytes) -> Response {
    let (answer, stall) = fault(&state, "/mp/collect").await;
    if let Some(answer) = answer {
        return answer;
    }
    let (messages, hits) = ga4_rules(&body);
    {
        let mut s = state.lock().expect("lock");
        s.ga4_messages.extend(messages);
        s.ga4.extend(hits);
    }
    if let Some(d) = stall {
        tokio::time::sleep(d).await;
    }
    // GA4 answers 2xx to anything that arrives.
    StatusCode::NO_CONTENT.into_response()
}

async fn ga4_debug(body: Bytes) -> Response {
    let (messages, _) = ga4_rules(&body);
    let messages: Vec<Value> = messages
        .iter()
        .map(|m| json!({"fieldPath": "", "description": m, "validationCode": m.split(':').next()}))
        .collect();
    axum::Json(json!({ "validationMessages": messages })).into_response()
}

async fn matomo(State(state): State<Arc<Mutex<Captured>>>, body: Bytes) -> Response {
    let (answer, stall) = fault(&state, "/matomo.php").await;
    if let Some(answer) = answer {
        return answer;
    }
    if state.lock().expect("lock").matomo_disabled {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    if let Some(code) = state.lock().expect("lock").matomo_failing {
        return StatusCode::from_u16(code).expect("status").into_response();
    }
    let Ok(root) = serde_json::from_slice::<Value>(&body) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let requests = root["requests"].as_array().cloned().unwrap_or_default();
    if requests.is_empty() {
        return StatusCode::BAD_REQUEST.into_response();
    }
    let token = root["token_auth"].as_str().is_some();
    let (mut tracked, mut invalid) = (0u64, 0u64);
    let mut invalid_indices = Vec::new();
    {
        let mut s = state.lock().expect("lock");
        for (i, r) in requests.iter().enumerate() {
            let query = r.as_str().unwrap_or("").trim_start_matches('?');
            let params: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            let hit = MatomoHit { params };
            let site_ok = hit
                .get("idsite")
                .and_then(|v| v.parse::<u32>().ok())
                .is_some_and(|id| s.matomo_sites.contains(&id));
            let mut problems = Vec::new();
            if !site_ok {
                problems.push("unknown idsite");
            }
            if hit.get("rec") != Some("1") {
                problems.push("rec=1 missing");
            }
            if hit.get("e_c").is_none_or(str::is_empty) || hit.get("e_a").is_none_or(str::is_empty)
            {
                problems.push("e_c and e_a are required");
            }
            if !hit
                .get("_id")
                .is_some_and(|v| v.len() == 16 && v.bytes().all(|b| b.is_ascii_hexdigit()))
            {
                problems.push("_id must be 16 hex digits");
            }
            if hit.get("cip").is_some() {
                problems.push("cip sent");
            }
            if hit.get("e_v").is_some_and(|v| v.parse::<f64>().is_err()) {
                problems.push("e_v is not a number");
            }
            if !problems.is_empty() {
                s.matomo_messages
                    .push(format!("hit {i}: {}", problems.join(", ")));
                invalid += 1;
                invalid_indices.push(i);
                continue;
            }
            let cdt: u64 = hit
                .get("cdt")
                .and_then(|v| v.parse().ok())
                .unwrap_or(s.now_s);
            if s.now_s.saturating_sub(cdt) > 86_400 && !token {
                // Matomo ignores the whole hit, silently.
                s.matomo_ignored.push(hit);
                tracked += 1;
                continue;
            }
            s.matomo.push(hit);
            tracked += 1;
        }
    }
    if let Some(d) = stall {
        tokio::time::sleep(d).await;
    }
    axum::Json(json!({"status": "success", "tracked": tracked, "invalid": invalid, "invalid_indices": invalid_indices}))
        .into_response()
}

async fn hook(
    State(state): State<Arc<Mutex<Captured>>>,
    axum::extract::Path(name): axum::extract::Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = format!("/hooks/{name}");
    let (answer, stall) = fault(&state, &path).await;
    if let Some(answer) = answer {
        return answer;
    }
    let headers = headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    state.lock().expect("lock").hooks.push(HookCall {
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    if let Some(d) = stall {
        tokio::time::sleep(d).await;
    }
    StatusCode::NO_CONTENT.into_response()
}
