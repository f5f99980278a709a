//! After a contact, through the shared handlers against the embedded
//! store: the visitor downloads the transcript (text, HTML with every
//! message escaped) and rates the contact once; the refusals.

mod common;

use bytes::Bytes;
use common::advisor;
use common::harness::*;
use http::{Method, StatusCode};
use serde_json::{Value, json};

const XSS: &str = "<img src=x onerror=alert(1)>";

/// A visitor endpoint from another site, as the widget calls it.
async fn call(h: &Harness, uri: &str, body: Value) -> (StatusCode, http::HeaderMap, Bytes) {
    let request = http::Request::builder()
        .method(Method::POST)
        .uri(uri)
        .header("host", "livecard.test")
        .header("origin", "https://shop.example")
        .header("content-type", "application/json")
        .body(Bytes::from(body.to_string()))
        .expect("request");
    let response = h.app.handle(request).await;
    let (parts, body) = response.into_parts();
    (parts.status, parts.headers, body)
}

fn parse(body: &Bytes) -> Value {
    serde_json::from_slice(body).unwrap_or(Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_visitor_downloads_the_transcript_and_rates_the_contact_once() {
    let h = harness(&[advisor("anna", &["sales"], 2)]).await;
    let (session, token, mut anna, mut visitor) =
        h.connected(json!({ "advisor": "anna" }), "anna").await;
    h.say(
        &mut visitor,
        json!({"v":1,"type":"chat","session":session,"id":"m1","text":XSS}),
    )
    .await;
    h.clock.advance(1_000);
    h.say(
        &mut anna,
        json!({"v":1,"type":"chat","session":session,"id":"a1","text":"Hello & welcome"}),
    )
    .await;
    let transcript = format!("/api/v1/contacts/{session}/transcript");
    let rating = format!("/api/v1/contacts/{session}/rating");

    // Rating waits for the end.
    let (status, _, body) = call(&h, &rating, json!({ "token": token, "rating": 5 })).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(parse(&body)["error"]["code"], "not_ended");
    h.say(&mut anna, json!({"v":1,"type":"hangup","session":session}))
        .await;

    // The transcript as text: who said what, when.
    let (status, headers, body) = call(&h, &transcript, json!({ "token": token })).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "text/plain; charset=utf-8");
    assert_eq!(headers["access-control-allow-origin"], "*");
    assert_eq!(
        headers["content-disposition"],
        format!("attachment; filename=\"livecard-{session}.txt\"").as_str()
    );
    let text = String::from_utf8(body.to_vec()).expect("utf-8");
    assert!(
        text.starts_with("Conversation with Advisor anna\nStarted "),
        "{text}"
    );
    assert!(text.contains(&format!("] You: {XSS}\n")), "{text}");
    assert!(text.contains("] Advisor anna: Hello & welcome\n"), "{text}");
    let you = text.find("You:").expect("visitor line");
    let anna_line = text.find("Advisor anna:").expect("advisor line");
    assert!(you < anna_line, "in order: {text}");

    // As HTML, in German: every message escaped, never markup.
    let (status, headers, body) = call(
        &h,
        &transcript,
        json!({ "token": token, "format": "html", "lang": "de" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    let html = String::from_utf8(body.to_vec()).expect("utf-8");
    assert!(html.contains("<html lang=\"de\">"), "{html}");
    assert!(html.contains("Gespräch mit Advisor anna"), "{html}");
    assert!(!html.contains("<img"), "{html}");
    assert!(
        html.contains("&lt;img src=x onerror=alert(1)&gt;"),
        "{html}"
    );
    assert!(html.contains("Hello &amp; welcome"), "{html}");

    // Refusals: a wrong token, a format or field that does not exist.
    for body in [
        json!({ "token": "AAAAAAAAAAAAAAAAAAAAAA" }),
        json!({ "token": token, "format": "pdf" }),
        json!({ "token": token, "lang": "fr" }),
        json!({ "token": token, "extra": 1 }),
    ] {
        let (status, _, _) = call(&h, &transcript, body.clone()).await;
        assert!(
            status == StatusCode::NOT_FOUND || status == StatusCode::BAD_REQUEST,
            "{body}: {status}"
        );
    }

    // The rating: 1 to 5, once; an event for the reports, with the advisor.
    for bad in [json!(0), json!(6), json!("5"), json!(-1)] {
        let (status, _, _) = call(&h, &rating, json!({ "token": token, "rating": bad })).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
    }
    let (status, _, _) = call(
        &h,
        &rating,
        json!({ "token": "AAAAAAAAAAAAAAAAAAAAAA", "rating": 4 }),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, body) = call(&h, &rating, json!({ "token": token, "rating": 4 })).await;
    assert_eq!(status, StatusCode::CREATED, "{}", parse(&body));
    let (status, _, body) = call(&h, &rating, json!({ "token": token, "rating": 1 })).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(parse(&body)["error"]["code"], "already_rated");
    let rated = h.events_named("contact_rated").await;
    assert_eq!(rated.len(), 1);
    assert_eq!(rated[0].props["rating"], 4);
    assert_eq!(rated[0].advisor.as_ref().map(|a| a.as_str()), Some("anna"));
    assert_eq!(rated[0].session.as_deref(), Some(session.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contact_nobody_took_cannot_be_rated() {
    let h = harness(&[advisor("anna", &["sales"], 1)]).await;
    let (session, token, _) = h.start(json!({ "advisor": "anna" })).await;
    let mut visitor = h.visitor_conn();
    h.say(
        &mut visitor,
        json!({"v":1,"type":"join","session":session,"token":token}),
    )
    .await;
    h.say(
        &mut visitor,
        json!({"v":1,"type":"hangup","session":session}),
    )
    .await;
    let (status, _, body) = call(
        &h,
        &format!("/api/v1/contacts/{session}/rating"),
        json!({ "token": token, "rating": 5 }),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(parse(&body)["error"]["code"], "not_connected");
}
