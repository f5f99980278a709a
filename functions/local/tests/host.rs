//! The axum host in-process (`tower::ServiceExt::oneshot`, no socket): it
//! hands requests to the shared handlers with the peer address and refuses
//! oversized bodies before reading them whole; behind a trusted proxy the
//! client is the one it forwards.

use axum::body::Body;
use axum::extract::ConnectInfo;
use futures_util::StreamExt;
use http::{Request, StatusCode};
use livecard_app::{Config, Secrets};
use livecard_core::card::Keyring;
use livecard_local::server::router;
use livecard_store::dynamo::{DynamoStore, local_client};
use livecard_store::embedded::EmbeddedDynamo;
use std::net::SocketAddr;
use std::sync::Arc;
use tower::ServiceExt;

async fn app() -> (EmbeddedDynamo, Arc<livecard_local::LocalApp>) {
    app_with(Config::new("http://127.0.0.1:1")).await
}

async fn app_with(config: Config) -> (EmbeddedDynamo, Arc<livecard_local::LocalApp>) {
    let server = EmbeddedDynamo::start(None).await.expect("store");
    let store = DynamoStore::new(local_client(server.endpoint()), "livecard");
    store.ensure_table().await.expect("table");
    let secrets = Secrets {
        cards: Keyring::new("k1", vec![("k1".into(), vec![1; 32])]).expect("keyring"),
        session_key: vec![2; 32],
        visitor_key: vec![3; 32],
        presence_webhook_key: vec![5; 32],
        turn_secret: None,
        teams_push: None,
        turn_provider: None,
        identity_image_key: None,
        admin_key_sha256: None,
    };
    (
        server,
        Arc::new(livecard_local::local_app(store, config, secrets)),
    )
}

fn request(method: &str, uri: &str, body: Vec<u8>) -> Request<Body> {
    let mut request = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json")
        .body(Body::from(body))
        .expect("request");
    request
        .extensions_mut()
        .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40000))));
    request
}

#[tokio::test]
async fn serves_the_shared_handlers() {
    let (_server, app) = app().await;
    let response = router(app.clone())
        .oneshot(request("GET", "/healthz", vec![]))
        .await
        .expect("response");
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().contains_key("content-security-policy"));
    let response = router(app)
        .oneshot(request("GET", "/", vec![]))
        .await
        .expect("response");
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn refuses_oversized_bodies() {
    let (_server, app) = app().await;
    // A 16 MiB body, streamed: the host must stop reading it just past the
    // limit (the handlers' own check would only see it after it was read
    // whole).
    const CHUNK: usize = 16 * 1024;
    let pulled = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = pulled.clone();
    let chunks = futures_util::stream::iter(0..1024).map(move |_| {
        counter.fetch_add(CHUNK, std::sync::atomic::Ordering::SeqCst);
        Ok::<_, std::io::Error>(bytes::Bytes::from(vec![b'{'; CHUNK]))
    });
    let mut big = request("POST", "/api/v1/cards", Vec::new());
    *big.body_mut() = Body::from_stream(chunks);
    let response = router(app).oneshot(big).await.expect("response");
    let read = pulled.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        read <= livecard_app::MAX_BODY_BYTES + CHUNK,
        "the host read {read} bytes of an oversized body"
    );
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body = axum::body::to_bytes(response.into_body(), 4096)
        .await
        .expect("body");
    let json: serde_json::Value = serde_json::from_slice(&body).expect("json error");
    assert_eq!(json["error"]["code"], "payload_too_large");
}

#[tokio::test]
async fn the_identity_image_route_alone_takes_a_larger_body() {
    let (_server, app) = app().await;
    let upload = "/api/v1/me/conversations/s1/identity-images?kind=document";
    // A 1 MB image reaches the handlers (which want a signed-in advisor).
    let response = router(app.clone())
        .oneshot(request("POST", upload, vec![0xFF; 1_000_000]))
        .await
        .expect("response");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    // Past its limit it is refused as too large, like 1 MB anywhere else.
    let over = livecard_core::identity_images::MAX_IMAGE_BYTES + 1;
    let response = router(app.clone())
        .oneshot(request("POST", upload, vec![0xFF; over]))
        .await
        .expect("response");
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let response = router(app)
        .oneshot(request("POST", "/api/v1/cards", vec![b'{'; 1_000_000]))
        .await
        .expect("response");
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

/// A contact request through the host from `peer`, forwarded for `client`.
async fn contact(app: &Arc<livecard_local::LocalApp>, peer: [u8; 4], client: &str) -> StatusCode {
    let mut request = request("POST", "/api/v1/contacts", br#"{"topic":"sales"}"#.to_vec());
    request
        .extensions_mut()
        .insert(ConnectInfo(SocketAddr::from((peer, 40000))));
    request
        .headers_mut()
        .insert("x-forwarded-for", client.parse().expect("header"));
    router(app.clone())
        .oneshot(request)
        .await
        .expect("response")
        .status()
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_visitor_has_their_own_limit() {
    let mut config = Config::new("http://127.0.0.1:1");
    config.contacts_per_window = 3;
    config.trusted_proxies = vec!["10.0.0.0/8".parse().expect("net")];
    let (_server, app) = app_with(config).await;
    // Many visitors through the proxy: none is limited by the others.
    for n in 0..10 {
        let status = contact(&app, [10, 0, 0, 1], &format!("203.0.113.{n}")).await;
        assert_eq!(status, StatusCode::CREATED, "visitor {n}");
    }
    // One visitor through the proxy is limited like any.
    let statuses: Vec<StatusCode> = futures_collect(&app, [10, 0, 0, 1], "198.51.100.9", 4).await;
    assert_eq!(
        statuses.last(),
        Some(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    // A peer that is not a trusted proxy cannot pick its own address: its
    // forwarded header is ignored, and all its requests share its limit.
    let mut last = StatusCode::CREATED;
    for n in 0..4 {
        last = contact(&app, [192, 0, 2, 1], &format!("203.0.113.{}", 100 + n)).await;
    }
    assert_eq!(last, StatusCode::TOO_MANY_REQUESTS);
}

async fn futures_collect(
    app: &Arc<livecard_local::LocalApp>,
    peer: [u8; 4],
    client: &str,
    n: usize,
) -> Vec<StatusCode> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(contact(app, peer, client).await);
    }
    out
}
