//! Identity images a deployment chose to keep, through the shared handlers
//! against the embedded store: kept only while the visitor's consent holds,
//! only JPEGs of the right kind, at most four per check, sealed in the
//! store, opened for the advisor who took the conversation, listed in the
//! visitor's access export and erased with their data; a deployment that
//! keeps none refuses them.

mod common;

use bytes::Bytes;
use common::advisor;
use common::harness::*;
use http::{Method, StatusCode};
use livecard_app::privacy::DataSubject;
use livecard_store::prelude::*;
use serde_json::{Value, json};

const DAY: u64 = 86_400_000;

/// A small JPEG (its start-of-image marker and some bytes).
fn jpeg(fill: u8, len: usize) -> Vec<u8> {
    let mut bytes = vec![0xFF, 0xD8, 0xFF, 0xE0];
    bytes.resize(len, fill);
    bytes
}

/// A request from an advisor's console.
async fn send(
    h: &Harness,
    who: &str,
    method: Method,
    uri: &str,
    content_type: &str,
    body: Vec<u8>,
    site: &str,
) -> (StatusCode, http::HeaderMap, Bytes) {
    let request = http::Request::builder()
        .method(method)
        .uri(uri)
        .header("host", "livecard.test")
        .header("sec-fetch-site", site)
        .header("content-type", content_type)
        .header("cookie", advisor_cookie(who, h.app.now()))
        .body(Bytes::from(body))
        .expect("request");
    let response = h.app.handle(request).await;
    let (parts, body) = response.into_parts();
    (parts.status, parts.headers, body)
}

async fn keep(
    h: &Harness,
    who: &str,
    session: &str,
    kind: &str,
    image: Vec<u8>,
) -> (StatusCode, Value) {
    let (status, _, body) = send(
        h,
        who,
        Method::POST,
        &format!("/api/v1/me/conversations/{session}/identity-images?kind={kind}"),
        "image/jpeg",
        image,
        "same-origin",
    )
    .await;
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

fn code(answer: &Value) -> &str {
    answer["error"]["code"].as_str().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kept_identity_images_are_sealed_opened_for_their_advisor_and_erased() {
    let h = harness_with(
        &[
            advisor("anna", &["sales"], 2),
            advisor("ben", &["sales"], 2),
        ],
        |config| config.identity_image_retention_ms = Some(30 * DAY),
    )
    .await;
    let (session, _, mut anna, mut visitor) =
        h.connected(json!({ "advisor": "anna" }), "anna").await;
    let identity = |action: &str| json!({"v":1,"type":"identity","session":session,"action":action,"face":action == "ask"});
    // Before the visitor consents: nothing is kept.
    assert_eq!(
        code(
            &keep(&h, "anna", &session, "document", jpeg(1, 1000))
                .await
                .1
        ),
        "not_consented"
    );
    h.say(&mut anna, identity("ask")).await;
    assert_eq!(
        code(
            &keep(&h, "anna", &session, "document", jpeg(1, 1000))
                .await
                .1
        ),
        "not_consented",
        "asked is not consented"
    );
    h.say(&mut visitor, identity("consent")).await;

    // The refusals.
    let document = jpeg(1, 300_000);
    assert_eq!(
        keep(&h, "ben", &session, "document", document.clone())
            .await
            .0,
        StatusCode::NOT_FOUND,
        "not Ben's conversation"
    );
    let (status, _, _) = send(
        &h,
        "anna",
        Method::POST,
        &format!("/api/v1/me/conversations/{session}/identity-images?kind=document"),
        "image/jpeg",
        document.clone(),
        "cross-site",
    )
    .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "another site cannot post one"
    );
    let (status, _, _) = send(
        &h,
        "anna",
        Method::POST,
        &format!("/api/v1/me/conversations/{session}/identity-images?kind=document"),
        "image/png",
        document.clone(),
        "same-origin",
    )
    .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(
        keep(
            &h,
            "anna",
            &session,
            "document",
            b"\x89PNG\r\n\x1a\nxxxx".to_vec()
        )
        .await
        .0,
        StatusCode::BAD_REQUEST,
        "a PNG is not a JPEG"
    );
    assert_eq!(
        keep(&h, "anna", &session, "passport", document.clone())
            .await
            .0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        keep(
            &h,
            "anna",
            &session,
            "document",
            jpeg(1, livecard_core::identity_images::MAX_IMAGE_BYTES + 1)
        )
        .await
        .0,
        StatusCode::PAYLOAD_TOO_LARGE
    );

    // Kept: the document and the face.
    let (status, kept) = keep(&h, "anna", &session, "document", document.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{kept}");
    assert_eq!(kept["check"], 1);
    assert_eq!(kept["bytes"], 300_000);
    assert_eq!(kept["expires_at"], h.app.now() + 30 * DAY);
    let document_id = kept["id"].as_str().expect("id").to_owned();
    h.clock.advance(1_000);
    let face = jpeg(2, 5_000);
    assert_eq!(
        keep(&h, "anna", &session, "face", face.clone()).await.0,
        StatusCode::CREATED
    );
    for _ in 0..2 {
        h.clock.advance(1_000);
        assert_eq!(
            keep(&h, "anna", &session, "document", jpeg(3, 100)).await.0,
            StatusCode::CREATED
        );
    }
    assert_eq!(
        code(&keep(&h, "anna", &session, "document", jpeg(3, 100)).await.1),
        "too_many"
    );

    // In the store they are sealed: the image's bytes are not there.
    let (_, sealed) = h
        .app
        .store
        .identity_image(&session, &document_id, h.app.now())
        .await
        .expect("read")
        .expect("kept");
    assert!(
        !sealed.windows(64).any(|w| w == &document[1_000..1_064]),
        "stored in the clear"
    );
    // Listed and opened for Anna; not for Ben.
    let (status, _, list) = send(
        &h,
        "anna",
        Method::GET,
        &format!("/api/v1/me/conversations/{session}/identity-images"),
        "application/json",
        Vec::new(),
        "same-origin",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let list: Value = serde_json::from_slice(&list).expect("json");
    assert_eq!(list["images"].as_array().map(Vec::len), Some(4));
    assert_eq!(list["images"][1]["kind"], "face");
    let image_uri = format!("/api/v1/me/conversations/{session}/identity-images/{document_id}");
    let (status, headers, body) = send(
        &h,
        "anna",
        Method::GET,
        &image_uri,
        "application/json",
        Vec::new(),
        "same-origin",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "image/jpeg");
    assert_eq!(headers["cache-control"], "no-store");
    assert!(body.as_ref() == document.as_slice(), "opened as it was");
    for (who, uri) in [
        ("ben", image_uri.clone()),
        (
            "anna",
            format!("/api/v1/me/conversations/{session}/identity-images/AAAAAAAAAAAAAAAAAAAAAA"),
        ),
        (
            "anna",
            format!("/api/v1/me/conversations/{session}/identity-images/..%2Fx"),
        ),
    ] {
        let (status, _, _) = send(
            &h,
            who,
            Method::GET,
            &uri,
            "application/json",
            Vec::new(),
            "same-origin",
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{who} {uri}");
    }

    // The check is decided: no more images for it.
    h.say(
        &mut anna,
        json!({"v":1,"type":"identity","session":session,"action":"result","outcome":"verified"}),
    )
    .await;
    assert_eq!(
        code(&keep(&h, "anna", &session, "document", jpeg(4, 100)).await.1),
        "not_consented"
    );

    // The visitor's access export lists them; erasure takes them with the rest.
    let subject = DataSubject::Session(session.clone());
    let export = h.app.privacy_export(&subject).await.expect("export");
    let listed = export["sessions"][0]["identity_images"]
        .as_array()
        .map(Vec::len);
    assert_eq!(listed, Some(4), "{export}");
    assert!(
        !export.to_string().contains("data"),
        "the export names the images, without their bytes"
    );
    h.app.privacy_erase(&subject).await.expect("erase");
    assert!(
        h.app
            .store
            .identity_images(&session, h.app.now())
            .await
            .expect("list")
            .is_empty()
    );
    assert!(
        h.app
            .store
            .identity_image(&session, &document_id, h.app.now())
            .await
            .expect("read")
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployment_that_keeps_no_identity_images_refuses_them() {
    let h = harness(&[advisor("anna", &["sales"], 2)]).await;
    let (session, _, mut anna, mut visitor) =
        h.connected(json!({ "advisor": "anna" }), "anna").await;
    h.say(
        &mut anna,
        json!({"v":1,"type":"identity","session":session,"action":"ask"}),
    )
    .await;
    h.say(
        &mut visitor,
        json!({"v":1,"type":"identity","session":session,"action":"consent"}),
    )
    .await;
    let (status, answer) = keep(&h, "anna", &session, "document", jpeg(1, 1000)).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(code(&answer), "not_kept");
    assert!(
        h.app
            .store
            .identity_images(&session, h.app.now())
            .await
            .expect("list")
            .is_empty()
    );
}
