//! A TURN provider that mints credentials over HTTP (the Cloudflare model),
//! on loopback: the ICE-servers endpoint hands out its servers, asks again
//! at half their lifetime, and answers with what it has when the provider
//! errs, answers garbage or is slow (within the provider's timeout).

mod common;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use common::advisor;
use common::harness::*;
use http::StatusCode;
use livecard_app::forward_native::NativeFetch;
use livecard_core::ice_provider::ProviderSettings;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicU8, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const ANSWER: u8 = 0;
const ERROR: u8 = 1;
const SLOW: u8 = 2;
const GARBAGE: u8 = 3;

#[derive(Default)]
struct Provider {
    mode: AtomicU8,
    requests: AtomicU32,
    /// The last request's authorization header and body.
    last: Mutex<(String, String)>,
}

async fn generate(
    State(provider): State<Arc<Provider>>,
    headers: HeaderMap,
    body: String,
) -> axum::response::Response {
    let n = provider.requests.fetch_add(1, Ordering::SeqCst) + 1;
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    *provider.last.lock().expect("lock") = (auth, body);
    match provider.mode.load(Ordering::SeqCst) {
        ANSWER => (
            StatusCode::CREATED,
            axum::Json(json!({"iceServers": [
                {"urls": ["stun:stun.provider.example:3478"]},
                {"urls": ["turn:turn.provider.example:3478?transport=udp",
                          "turns:turn.provider.example:443?transport=tcp"],
                 "username": format!("u{n}"), "credential": format!("c{n}")}
            ]})),
        )
            .into_response(),
        ERROR => (StatusCode::INTERNAL_SERVER_ERROR, "down").into_response(),
        SLOW => {
            tokio::time::sleep(Duration::from_secs(5)).await;
            (StatusCode::CREATED, "{}").into_response()
        }
        _ => (
            StatusCode::CREATED,
            axum::Json(json!({"iceServers": [{"urls": "http://evil.example/"}]})),
        )
            .into_response(),
    }
}

/// The servers' URLs and usernames, as the endpoint answered.
fn urls(ice: &Value) -> Vec<(String, Option<String>)> {
    ice["ice_servers"]
        .as_array()
        .expect("servers")
        .iter()
        .flat_map(|s| {
            let user = s["username"].as_str().map(str::to_owned);
            s["urls"]
                .as_array()
                .expect("urls")
                .iter()
                .map(move |u| (u.as_str().expect("url").to_owned(), user.clone()))
                .collect::<Vec<_>>()
        })
        .collect()
}

fn provider_user(ice: &Value) -> Option<String> {
    urls(ice)
        .into_iter()
        .find(|(u, _)| u.starts_with("turn:turn.provider.example"))
        .and_then(|(_, user)| user)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_turn_provider_is_asked_cached_and_never_breaks_the_endpoint() {
    let provider = Arc::new(Provider::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let router = axum::Router::new()
        .route(
            "/v1/turn/keys/k1/credentials/generate-ice-servers",
            axum::routing::post(generate),
        )
        .with_state(provider.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });

    let mut h = harness(&[advisor("anna", &["sales"], 1)]).await;
    h.app.config.forward_allow = vec!["127.0.0.1/32".parse().expect("net")];
    h.app.config.other_servers = livecard_core::media::OtherServers::new(
        vec!["turn:coturn.example.com:3478".into()],
        vec!["stun:stun.example.com:3478".into()],
    )
    .expect("servers");
    h.app.secrets.turn_provider = Some(
        ProviderSettings::new(
            &format!("http://127.0.0.1:{port}/v1/turn/keys/k1/credentials/generate-ice-servers"),
            "provider-token-1",
            Some(600),
            Some(300),
        )
        .expect("settings"),
    );
    let (session, token, _, _) = h.connected(json!({ "topic": "sales" }), "anna").await;
    let path = format!("/api/v1/contacts/{session}/ice-servers");
    macro_rules! ask {
        () => {{
            let started = Instant::now();
            let (status, ice) = h
                .post(&path, json!({ "token": token }), "203.0.113.7")
                .await;
            assert_eq!(status, StatusCode::OK, "{ice}");
            (ice, started.elapsed())
        }};
    }
    let requests = || provider.requests.load(Ordering::SeqCst);

    // A host without outgoing HTTP does not ask (and says so in its log).
    let (ice, _) = ask!();
    assert_eq!(requests(), 0);
    assert_eq!(provider_user(&ice), None);

    // It answers: its servers come after the deployment's own.
    h.app.fetch = Some(Arc::new(
        NativeFetch::new(h.app.forward_policy()).expect("client"),
    ));
    let (ice, _) = ask!();
    assert_eq!(requests(), 1);
    assert_eq!(
        *provider.last.lock().expect("lock"),
        (
            "Bearer provider-token-1".to_owned(),
            r#"{"ttl":600}"#.to_owned()
        )
    );
    let all = urls(&ice);
    assert_eq!(all[0].0, "turn:coturn.example.com:3478", "{ice}");
    assert_eq!(all[1].0, "stun:stun.example.com:3478");
    assert!(all.contains(&("stun:stun.provider.example:3478".into(), None)));
    assert_eq!(provider_user(&ice).as_deref(), Some("u1"));
    // The answer expires with the earlier of the two credentials.
    let expires = ice["expires_at"].as_u64().expect("expires_at");
    assert!(expires <= h.app.now() + 600_000, "{ice}");

    // Cached: the next call does not ask.
    let (ice, _) = ask!();
    assert_eq!(requests(), 1);
    assert_eq!(provider_user(&ice).as_deref(), Some("u1"));

    // At half the lifetime it is asked again.
    h.clock.advance(300_000);
    let (ice, _) = ask!();
    assert_eq!(requests(), 2);
    assert_eq!(provider_user(&ice).as_deref(), Some("u2"));

    // It fails: the cached servers are still valid and handed out, and it
    // is not asked again before its backoff (5 s).
    h.clock.advance(300_000);
    provider.mode.store(ERROR, Ordering::SeqCst);
    let (ice, _) = ask!();
    assert_eq!(requests(), 3);
    assert_eq!(provider_user(&ice).as_deref(), Some("u2"));
    let (_, _) = ask!();
    assert_eq!(requests(), 3, "backing off");

    // Slow: the endpoint answers within the provider's timeout (300 ms),
    // with what it has.
    h.clock.advance(5_000);
    provider.mode.store(SLOW, Ordering::SeqCst);
    let (ice, took) = ask!();
    assert_eq!(requests(), 4);
    assert_eq!(provider_user(&ice).as_deref(), Some("u2"));
    assert!(took < Duration::from_secs(2), "took {took:?}");

    // Garbage (a URL that is no STUN or TURN URL): refused, cache kept.
    h.clock.advance(10_000);
    provider.mode.store(GARBAGE, Ordering::SeqCst);
    let (ice, _) = ask!();
    assert_eq!(requests(), 5);
    assert_eq!(provider_user(&ice).as_deref(), Some("u2"));

    // Once the cached credentials are within a minute of expiry, failing
    // leaves only the deployment's own servers.
    h.clock.advance(300_000);
    provider.mode.store(ERROR, Ordering::SeqCst);
    let (ice, _) = ask!();
    assert_eq!(requests(), 6);
    assert_eq!(provider_user(&ice), None);
    assert_eq!(urls(&ice).len(), 2, "{ice}");

    // Relay-only, and the provider the only relay: its TURN servers, no
    // STUN from anyone.
    h.app.config.relay_only = true;
    h.app.config.other_servers = livecard_core::media::OtherServers::default();
    provider.mode.store(ANSWER, Ordering::SeqCst);
    h.clock.advance(60_000);
    let (ice, _) = ask!();
    assert_eq!(requests(), 7);
    let all = urls(&ice);
    assert_eq!(all.len(), 2, "{ice}");
    assert!(
        all.iter()
            .all(|(u, user)| u.starts_with("turn") && user.as_deref() == Some("u7"))
    );
    assert_eq!(ice["ice_transport_policy"], "relay");
}
