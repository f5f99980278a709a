//! The axum host in-process (`tower::ServiceExt::oneshot`, no socket): it
//! hands requests to the shared handlers with the peer address and refuses
//! oversized bodies before reading them whole.

use axum::body::Body;
use axum::extract::ConnectInfo;
use http::{Request, StatusCode};
use livecard_app::{App, Config, Secrets};
use livecard_core::card::Keyring;
use livecard_local::ports::{OsRandom, SystemClock};
use livecard_local::server::router;
use livecard_store::dynamo::{DynamoStore, local_client};
use livecard_store::embedded::EmbeddedDynamo;
use std::net::SocketAddr;
use std::sync::Arc;
use tower::ServiceExt;

async fn app() -> (EmbeddedDynamo, Arc<livecard_local::server::LocalApp>) {
    let server = EmbeddedDynamo::start(None).await.expect("store");
    let store = DynamoStore::new(local_client(server.endpoint()), "livecard");
    store.ensure_table().await.expect("table");
    let secrets = Secrets {
        cards: Keyring::new("k1", vec![("k1".into(), vec![1; 32])]).expect("keyring"),
        session_key: vec![2; 32],
        visitor_key: vec![3; 32],
        presence_webhook_key: vec![5; 32],
        turn_secret: None,
        admin_key_sha256: None,
    };
    let app = App::new(
        store,
        Arc::new(SystemClock),
        Arc::new(OsRandom),
        Config::new("http://127.0.0.1:1"),
        secrets,
    );
    (
        server,
        Arc::new(app.with_push(livecard_local::registry::Registry::default())),
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
    let big = vec![b'{'; livecard_app::MAX_BODY_BYTES + 1];
    let response = router(app)
        .oneshot(request("POST", "/api/v1/cards", big))
        .await
        .expect("response");
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body = axum::body::to_bytes(response.into_body(), 4096)
        .await
        .expect("body");
    let json: serde_json::Value = serde_json::from_slice(&body).expect("json error");
    assert_eq!(json["error"]["code"], "payload_too_large");
}
