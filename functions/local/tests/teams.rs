//! The Teams connector against a loopback Graph: a server that implements
//! the token endpoint, `getPresencesByUserId`, user look-ups and
//! `setPresence`/`clearPresence` as Microsoft documents them (answers
//! shaped like Graph's, 429 with `Retry-After`, 401 for a wrong secret).
//! No Graph service is reachable here; the connector and the store are
//! the real ones.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use livecard_core::advisor::{AdvisorInput, Identities};
use livecard_core::card::Keyring;
use livecard_core::channel::{Channel, ChannelSet};
use livecard_core::ids::AdvisorId;
use livecard_core::presence::{PresenceState, Rule};
use livecard_local::teams::{TeamsConfig, spawn};
use livecard_store::dynamo::{DynamoStore, local_client};
use livecard_store::embedded::EmbeddedDynamo;
use livecard_store::prelude::*;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const TENANT: &str = "contoso.example";
const CLIENT: &str = "11111111-2222-3333-4444-555555555555";
const SECRET: &str = "s3cret-value";
const ANNA: &str = "3f2504e0-4f89-11d3-9a0c-0305e82c3301";
const BEN: &str = "9b0f6c2a-6d3e-4e4f-8a4b-2c1d0e9f8a7b";

#[derive(Default)]
struct Graph {
    /// user id → (availability, activity)
    presence: HashMap<String, (String, String)>,
    /// Answer the next presence read with 429 and this Retry-After.
    throttle_next: Option<u64>,
    /// Answer the next presence read with something that is not Graph's.
    garbage_next: bool,
    /// Add a user nobody asked about to every answer.
    stranger: bool,
    /// When presence reads came, and whether each was throttled.
    reads: Vec<(Instant, bool)>,
    /// setPresence / clearPresence calls: (user, action, body).
    sessions: Vec<(String, String, Value)>,
    tokens: usize,
}

type Shared = Arc<Mutex<Graph>>;

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

async fn fake_graph() -> (String, Shared) {
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

fn advisor(id: &str, teams: Option<&str>) -> livecard_core::advisor::Advisor {
    AdvisorInput {
        id: id.into(),
        display_name: id.into(),
        title: String::new(),
        photo_url: None,
        languages: vec![],
        topics: vec![],
        channels: ChannelSet::ALL,
        capacity: 2,
        identities: Identities {
            teams: teams.map(str::to_owned),
            ..Identities::default()
        },
    }
    .validate()
    .expect("advisor")
}

async fn app() -> (EmbeddedDynamo, Arc<livecard_local::LocalApp>) {
    let server = EmbeddedDynamo::start(None).await.expect("embedded store");
    let store = DynamoStore::new(local_client(server.endpoint()), "livecard");
    store.ensure_table().await.expect("table");
    let secrets = livecard_app::Secrets {
        cards: Keyring::new("k1", vec![("k1".into(), vec![1; 32])]).expect("keyring"),
        session_key: vec![2; 32],
        visitor_key: vec![3; 32],
        presence_webhook_key: vec![5; 32],
        turn_secret: None,
        admin_key_sha256: None,
    };
    let config = livecard_app::Config::new("http://livecard.test");
    (
        server,
        Arc::new(livecard_local::local_app(store, config, secrets)),
    )
}

fn config(url: &str, secret: &str) -> TeamsConfig {
    let mut config = TeamsConfig::new(TENANT, CLIENT, secret);
    config.login_url = format!("{url}/login");
    config.graph_url = format!("{url}/v1.0");
    config.poll_ms = 200;
    config
}

async fn wait_for(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn teams_presence_is_read_throttling_honoured_and_livecard_calls_shown() {
    let (_server, app) = app().await;
    let (url, graph) = fake_graph().await;
    for (id, teams) in [
        ("anna", Some(ANNA)),
        ("ben", Some("ben@contoso.example")),
        ("cleo", None),
    ] {
        app.save_advisor(&advisor(id, teams))
            .await
            .expect("advisor");
        // Their consoles are open.
        app.store
            .heartbeat(&AdvisorId::parse(id).expect("id"), u64::MAX / 2)
            .await
            .expect("heartbeat");
    }
    {
        let mut g = graph.lock().expect("graph");
        g.presence
            .insert(ANNA.into(), ("Busy".into(), "InAMeeting".into()));
        g.presence
            .insert(BEN.into(), ("Away".into(), "Away".into()));
        g.throttle_next = Some(1);
    }
    let connector = spawn(app.clone(), config(&url, SECRET));
    let view = |id: &'static str| {
        let app = app.clone();
        async move {
            let record = app
                .store
                .get_advisor(&AdvisorId::parse(id).expect("id"))
                .await
                .expect("get")
                .expect("advisor");
            record.presence.decide(
                Channel::Chat,
                record.advisor.channels,
                &app.config.presence,
                app.now(),
            )
        }
    };
    wait_for("Anna busy from Teams", async || {
        view("anna").await.state == PresenceState::Busy
    })
    .await;
    let anna = view("anna").await;
    assert_eq!(anna.rule, Rule::Automatic);
    // Ben's user principal name is resolved and his presence written in
    // the same round, just after Anna's.
    wait_for("Ben away: a user principal name resolved", async || {
        view("ben").await.state == PresenceState::Away
    })
    .await;
    assert_eq!(
        view("cleo").await.state,
        PresenceState::Offline,
        "not linked: nothing from Teams"
    );
    {
        // The 429 was honoured: the next read waited its Retry-After.
        let g = graph.lock().expect("graph");
        let throttled = g
            .reads
            .iter()
            .position(|(_, t)| *t)
            .expect("a throttled read");
        let next = g.reads.get(throttled + 1).expect("a read after it");
        assert!(
            next.0.duration_since(g.reads[throttled].0) >= Duration::from_millis(950),
            "read again {:?} after a 429 with Retry-After: 1",
            next.0.duration_since(g.reads[throttled].0)
        );
        assert_eq!(g.tokens, 1, "the token is reused");
    }
    // A change in Teams shows within a few polls.
    graph
        .lock()
        .expect("graph")
        .presence
        .insert(ANNA.into(), ("Available".into(), "Available".into()));
    wait_for("Anna available again", async || {
        view("anna").await.state == PresenceState::Available
    })
    .await;

    // Bad answers: something that is not a presence list is an error
    // counted, changes nothing and the connector goes on; a user nobody
    // asked about is ignored.
    let errors_before = app.connectors.snapshot()["teams"].errors;
    {
        let mut g = graph.lock().expect("graph");
        g.garbage_next = true;
        g.stranger = true;
    }
    wait_for("the bad answer counted", async || {
        app.connectors.snapshot()["teams"].errors > errors_before
    })
    .await;
    let said = app.connectors.snapshot()["teams"]
        .last_error
        .clone()
        .unwrap_or_default();
    assert!(said.contains("getPresencesByUserId"), "{said}");
    assert_eq!(
        view("anna").await.state,
        PresenceState::Available,
        "nothing changed"
    );
    wait_for("reading again", async || {
        app.connectors.snapshot()["teams"].ok
    })
    .await;
    assert_eq!(
        view("cleo").await.state,
        PresenceState::Offline,
        "the stranger is nobody's"
    );

    // Anna is in a livecard call: Teams shows her Busy / In a call under
    // livecard's session; at hang-up the session is cleared.
    let anna_id = AdvisorId::parse("anna").expect("id");
    app.call_presence(&anna_id, true, app.now()).await;
    wait_for("setPresence for Anna", async || {
        graph
            .lock()
            .expect("graph")
            .sessions
            .iter()
            .any(|(u, a, _)| u == ANNA && a == "setPresence")
    })
    .await;
    {
        let g = graph.lock().expect("graph");
        let (_, _, body) = g
            .sessions
            .iter()
            .find(|(_, a, _)| a == "setPresence")
            .expect("set");
        assert_eq!(body["availability"], "Busy");
        assert_eq!(body["activity"], "InACall");
        assert_eq!(body["expirationDuration"], "PT15M");
        assert!(
            g.sessions.iter().all(|(u, _, _)| u == ANNA),
            "only Anna's presence is set"
        );
    }
    tokio::time::sleep(Duration::from_millis(10)).await;
    app.call_presence(&anna_id, false, app.now()).await;
    wait_for("clearPresence for Anna", async || {
        graph
            .lock()
            .expect("graph")
            .sessions
            .iter()
            .any(|(u, a, _)| u == ANNA && a == "clearPresence")
    })
    .await;
    let sets = graph
        .lock()
        .expect("graph")
        .sessions
        .iter()
        .filter(|(_, a, _)| a == "setPresence")
        .count();
    assert_eq!(sets, 1, "one session for one short call");
    let health = app.connectors.snapshot();
    let teams = health.get("teams").expect("teams health");
    assert!(
        teams.ok && teams.last_success.is_some() && teams.advisors == 2,
        "{teams:?}"
    );
    assert!(teams.errors >= 1, "the 429 was counted: {teams:?}");
    connector.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_credentials_change_nothing_and_say_so_without_the_secret() {
    let (_server, app) = app().await;
    app.save_advisor(&advisor("anna", Some(ANNA)))
        .await
        .expect("advisor");
    let (url, graph) = fake_graph().await;
    graph
        .lock()
        .expect("graph")
        .presence
        .insert(ANNA.into(), ("Busy".into(), "Busy".into()));
    let wrong = "not-the-secret";
    let connector = spawn(app.clone(), config(&url, wrong));
    wait_for("an error counted", async || {
        app.connectors
            .snapshot()
            .get("teams")
            .is_some_and(|h| h.errors >= 2)
    })
    .await;
    let health = app.connectors.snapshot()["teams"].clone();
    let said = health.last_error.clone().unwrap_or_default();
    assert!(
        !health.ok && said.contains("401") && said.contains("invalid_client"),
        "{said}"
    );
    assert!(!said.contains(wrong), "the secret is never told");
    let record = app
        .store
        .get_advisor(&AdvisorId::parse("anna").expect("id"))
        .await
        .expect("get")
        .expect("anna");
    assert!(record.presence.sources.is_empty(), "no presence changed");
    assert!(
        graph.lock().expect("graph").reads.is_empty(),
        "no read without a token"
    );
    connector.abort();
}
