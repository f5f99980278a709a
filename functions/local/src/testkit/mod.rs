//! What the connectors' tests and benches run against: real servers
//! started on loopback with generated configurations (Prosody, Kamailio
//! with SIPp phones), a loopback Microsoft Graph, and a local app on the
//! embedded store. Only with the `testkit` feature; not part of the product.

pub mod graph;
pub mod kamailio;
pub mod prosody;

use livecard_core::advisor::{Advisor, AdvisorInput, Identities};
use livecard_core::card::Keyring;
use livecard_core::channel::ChannelSet;
use livecard_store::dynamo::{DynamoStore, local_client};
use livecard_store::embedded::EmbeddedDynamo;
use std::sync::Arc;

/// The connectors' view of `app` (what `livecard up` hands them).
pub fn presence(app: &Arc<crate::LocalApp>) -> Arc<crate::LocalPresence> {
    Arc::new(crate::LocalPresence(app.clone()))
}

/// A local app on a fresh embedded store (kept alive by the first value).
pub async fn local_app() -> (EmbeddedDynamo, Arc<crate::LocalApp>) {
    local_app_with(None).await
}

/// The same with Teams push keys in its secrets.
pub async fn local_app_with(
    teams_push: Option<livecard_app::TeamsPushKeys>,
) -> (EmbeddedDynamo, Arc<crate::LocalApp>) {
    let server = EmbeddedDynamo::start(None).await.expect("embedded store");
    let store = DynamoStore::new(local_client(server.endpoint()), "livecard");
    store.ensure_table().await.expect("table");
    let secrets = livecard_app::Secrets {
        cards: Keyring::new("k1", vec![("k1".into(), vec![1; 32])]).expect("keyring"),
        session_key: vec![2; 32],
        visitor_key: vec![3; 32],
        presence_webhook_key: vec![5; 32],
        turn_secret: None,
        teams_push,
        admin_key_sha256: None,
        turn_provider: None,
        identity_image_key: None,
    };
    let config = livecard_app::Config::new("http://livecard.test");
    (server, Arc::new(crate::local_app(store, config, secrets)))
}

/// An advisor offering every channel, linked to `identities`.
pub fn advisor(id: &str, identities: Identities) -> Advisor {
    AdvisorInput {
        id: id.into(),
        display_name: id.into(),
        title: String::new(),
        photo_url: None,
        languages: vec![],
        topics: vec![],
        channels: ChannelSet::ALL,
        capacity: 2,
        identities,
    }
    .validate()
    .expect("advisor")
}

/// Serves `app`'s router on a loopback port (as `livecard up` does); its
/// base URL.
pub async fn serve(app: &Arc<crate::LocalApp>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let router = crate::server::router(app.clone());
    tokio::spawn(async move {
        let _ = axum::serve(
            listener,
            router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await;
    });
    format!("http://{addr}")
}
