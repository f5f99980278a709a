//! The store conformance suite inside workerd (test builds only): one
//! check per request, on a table of its own, against the DynamoDB endpoint
//! the Worker is configured with. A failing check panics, which fails the
//! request (the runtime logs the panic and starts a fresh instance).

use crate::Out;
use crate::host::EdgeApp;
use bytes::Bytes;
use http_body_util::Full;
use livecard_store::conformance;
use livecard_store::dynamo::DynamoStore;

pub async fn run(app: &EdgeApp, check: &str) -> Out {
    let respond = |status: u16, text: String| {
        let mut response = http::Response::new(Full::new(Bytes::from(text)));
        *response.status_mut() = http::StatusCode::from_u16(status).unwrap_or_default();
        response
    };
    if !conformance::CHECKS.contains(&check) {
        return respond(404, format!("no check named {check}"));
    }
    let table = format!("conformance-{check}-{}", crate::platform::now_ms());
    let store = DynamoStore::new(app.store.client().clone(), table);
    if let Err(err) = store.ensure_table().await {
        return respond(503, format!("the table could not be created: {err}"));
    }
    conformance::run(check, &store).await;
    respond(200, format!("ok {check}"))
}
