//! What the advisor console reads besides its socket, through the shared
//! handlers against the embedded store: a conversation's context and the
//! visitor's earlier contacts (theirs only, inside the affinity window),
//! the queue, and saved replies, with the refusals.

mod common;

use bytes::Bytes;
use common::harness::*;
use common::{advisor, id};
use http::{Method, StatusCode};
use livecard_store::prelude::*;
use serde_json::{Value, json};

/// A request from Anna's (or another advisor's) console.
async fn console(
    h: &Harness,
    who: &str,
    method: Method,
    uri: &str,
    body: Option<Value>,
    site: &str,
) -> (StatusCode, Value) {
    let request = http::Request::builder()
        .method(method)
        .uri(uri)
        .header("host", "livecard.test")
        .header("sec-fetch-site", site)
        .header("content-type", "application/json")
        .header("cookie", advisor_cookie(who, h.app.now()))
        .body(body.map_or_else(Bytes::new, |b| Bytes::from(b.to_string())))
        .expect("request");
    let response = h.app.handle(request).await;
    let status = response.status();
    (
        status,
        serde_json::from_slice(response.body()).unwrap_or(Value::Null),
    )
}

async fn get(h: &Harness, who: &str, uri: &str) -> (StatusCode, Value) {
    console(h, who, Method::GET, uri, None, "same-origin").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conversation_shows_where_the_visitor_came_from_and_their_earlier_contacts() {
    let h = harness(&[
        advisor("anna", &["sales"], 2),
        advisor("ben", &["sales"], 2),
    ])
    .await;
    // A first contact through the widget with Ben: one message each way.
    let (status, first) = h
        .post(
            "/api/v1/contacts",
            json!({ "advisor": "ben", "origin": "widget", "language": "en",
                    "page": "https://shop.example/offers/tv?utm_source=x&token=secret#buy" }),
            "203.0.113.7",
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let visitor = first["visitor"].as_str().expect("visitor").to_owned();
    let earlier = first["session"].as_str().expect("session").to_owned();
    let first = h.join(first).await;
    assert_eq!(first["state"]["state"], "ringing");
    let mut ben = h.advisor_conn("ben");
    h.say(&mut ben, json!({"v":1,"type":"accept","session":earlier}))
        .await;
    let mut v = h.visitor_conn();
    h.say(
        &mut v,
        json!({"v":1,"type":"join","session":earlier,"token":first["token"]}),
    )
    .await;
    h.say(
        &mut v,
        json!({"v":1,"type":"chat","session":earlier,"id":"m1","text":"Is the TV in stock?"}),
    )
    .await;
    h.clock.advance(1_000);
    h.say(
        &mut ben,
        json!({"v":1,"type":"chat","session":earlier,"id":"a1","text":"Yes, two left."}),
    )
    .await;
    h.say(&mut ben, json!({"v":1,"type":"hangup","session":earlier}))
        .await;

    // A day later the same visitor asks Anna.
    h.clock.advance(86_400_000);
    let (session, _, answer) = h
        .start(
            json!({ "advisor": "anna", "origin": "widget", "visitor": visitor,
                       "page": "https://shop.example/cart" }),
        )
        .await;
    assert_eq!(answer["state"]["state"], "ringing");
    let path = format!("/api/v1/me/conversations/{session}");

    // Anna, whom it rings, sees the context; the page lost its query.
    let (status, context) = get(&h, "anna", &path).await;
    assert_eq!(status, StatusCode::OK, "{context}");
    assert_eq!(context["state"], "ringing");
    assert_eq!(context["origin"], "widget");
    assert_eq!(context["page"], "https://shop.example/cart");
    let listed = context["earlier"].as_array().expect("earlier");
    assert_eq!(listed.len(), 1, "{context}");
    assert_eq!(listed[0]["session"], earlier.as_str());
    assert_eq!(listed[0]["advisor"]["display_name"], "Advisor ben");
    assert_eq!(listed[0]["messages"], 2);
    assert_eq!(listed[0]["reason"], "advisor_left");

    let (status, transcript) = get(&h, "anna", &format!("{path}/earlier/{earlier}")).await;
    assert_eq!(status, StatusCode::OK, "{transcript}");
    let texts: Vec<&str> = transcript["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter_map(|m| m["text"].as_str())
        .collect();
    assert_eq!(texts, ["Is the TV in stock?", "Yes, two left."]);

    // Ben's earlier session as seen from it: the first had the page
    // without its query and fragment.
    let (status, his) = get(&h, "ben", &format!("/api/v1/me/conversations/{earlier}")).await;
    assert_eq!(status, StatusCode::OK, "{his}");
    assert_eq!(his["page"], "https://shop.example/offers/tv");
    assert_eq!(his["language"], "en");
    assert_eq!(his["state"], "ended");

    // Nobody else: Ben does not see Anna's ring, a foreign or malformed id
    // is not found, an earlier id must be the same visitor's.
    assert_eq!(get(&h, "ben", &path).await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        get(&h, "anna", "/api/v1/me/conversations/nope").await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get(&h, "anna", "/api/v1/me/conversations/a%20b").await.0,
        StatusCode::NOT_FOUND
    );
    let (_, other, _) = h.start(json!({ "advisor": "ben" })).await;
    assert_eq!(
        get(&h, "anna", &format!("{path}/earlier/{other}")).await.0,
        StatusCode::NOT_FOUND,
        "another visitor's contact"
    );
    assert_eq!(
        get(&h, "anna", &format!("{path}/earlier/{session}"))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    let request = http::Request::builder()
        .uri(&path)
        .header("host", "livecard.test")
        .body(Bytes::new())
        .expect("request");
    assert_eq!(
        h.app.handle(request).await.status(),
        StatusCode::UNAUTHORIZED,
        "signed out"
    );

    // Past the affinity window the earlier contact is neither listed nor
    // readable.
    h.clock.advance(h.app.config.affinity_ms);
    let (_, context) = get(&h, "anna", &path).await;
    assert_eq!(context["earlier"], json!([]), "{context}");
    assert_eq!(
        get(&h, "anna", &format!("{path}/earlier/{earlier}"))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_page_address_is_refused() {
    let h = harness(&[advisor("anna", &["sales"], 2)]).await;
    for page in [
        json!("javascript:alert(1)"),
        json!("https://shop.example/<script>"),
        json!(format!("https://x/{}", "a".repeat(3000))),
        json!(7),
    ] {
        let (status, answer) = h
            .post(
                "/api/v1/contacts",
                json!({ "origin": "widget", "page": page }),
                "203.0.113.7",
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{page}: {answer}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_queue_lists_who_waits_for_the_advisor() {
    let h = harness(&[advisor("anna", &["sales"], 1)]).await;
    let (busy, _, _) = h.start(json!({ "topic": "sales" })).await;
    let mut anna = h.advisor_conn("anna");
    h.say(&mut anna, json!({"v":1,"type":"accept","session":busy}))
        .await;
    // Anna is full: the next visitor chooses to wait.
    let (waiting, token, answer) = h.start(json!({ "topic": "sales", "language": "en" })).await;
    assert_eq!(answer["state"]["options"], json!(["wait", "offline"]));
    let mut v = h.visitor_conn();
    h.say(
        &mut v,
        json!({"v":1,"type":"join","session":waiting,"token":token}),
    )
    .await;
    h.say(&mut v, json!({"v":1,"type":"wait","session":waiting}))
        .await;
    let (status, queue) = get(&h, "anna", "/api/v1/me/queue").await;
    assert_eq!(status, StatusCode::OK, "{queue}");
    let items = queue["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{queue}");
    assert_eq!(items[0]["session"], waiting.as_str());
    assert_eq!(items[0]["position"], 1);
    assert_eq!(items[0]["queue"], "topic:sales");
    assert_eq!(items[0]["language"], "en");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saved_replies_are_the_advisors_own_or_shared() {
    let h = harness(&[
        advisor("anna", &["sales"], 2),
        advisor("ben", &["sales"], 2),
    ])
    .await;
    let put = |who: &'static str, path: &str, text: Value, site: &'static str| {
        let uri = format!("/api/v1/me/replies/{path}");
        let h = &h;
        async move {
            console(
                h,
                who,
                Method::PUT,
                &uri,
                Some(json!({ "text": text })),
                site,
            )
            .await
        }
    };
    let (status, saved) = put(
        "anna",
        "mine/greeting",
        json!("  Hello, I am Anna.\nHow can I help? "),
        "same-origin",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert_eq!(saved["text"], "Hello, I am Anna.\nHow can I help?");
    assert_eq!(saved["updated_by"], "anna");
    let (status, _) = put(
        "ben",
        "shared/opening-hours",
        json!("We are open 9–17."),
        "same-origin",
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    let (_, anna) = get(&h, "anna", "/api/v1/me/replies").await;
    assert_eq!(anna["mine"][0]["shortcut"], "greeting");
    assert_eq!(anna["shared"][0]["shortcut"], "opening-hours");
    assert_eq!(anna["shared"][0]["updated_by"], "ben");
    let (_, ben) = get(&h, "ben", "/api/v1/me/replies").await;
    assert_eq!(ben["mine"], json!([]), "Anna's own are hers");

    // Refusals: another site, a bad shortcut or scope, bad text, extra fields.
    assert_eq!(
        put("anna", "mine/x", json!("Hi"), "cross-site").await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        put("anna", "mine/Bad%20One", json!("Hi"), "same-origin")
            .await
            .0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        put("anna", "ben/x", json!("Hi"), "same-origin").await.0,
        StatusCode::NOT_FOUND
    );
    for text in [
        json!(""),
        json!("x".repeat(2001)),
        json!("a\u{0}"),
        json!(5),
    ] {
        assert_eq!(
            put("anna", "mine/x", text.clone(), "same-origin").await.0,
            StatusCode::BAD_REQUEST,
            "{text}"
        );
    }
    let (status, _) = console(
        &h,
        "anna",
        Method::PUT,
        "/api/v1/me/replies/mine/x",
        Some(json!({ "text": "Hi", "html": "<b>" })),
        "same-origin",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Delete: once, then not found; a cross-site delete is refused.
    let delete = |site: &'static str| {
        console(
            &h,
            "anna",
            Method::DELETE,
            "/api/v1/me/replies/mine/greeting",
            None,
            site,
        )
    };
    assert_eq!(delete("cross-site").await.0, StatusCode::FORBIDDEN);
    assert_eq!(delete("same-origin").await.0, StatusCode::NO_CONTENT);
    assert_eq!(delete("same-origin").await.0, StatusCode::NOT_FOUND);

    // A full scope refuses a new shortcut with a reason.
    for i in 0..livecard_core::replies::MAX_REPLIES {
        let reply = livecard_core::replies::SavedReply::new(&format!("r{i}"), "x", &id("anna"), 1)
            .expect("reply");
        h.app
            .store
            .put_reply(&livecard_core::replies::ReplyScope::Shared, &reply)
            .await
            .expect("put");
    }
    let (status, refused) = put("anna", "shared/one-more", json!("Hi"), "same-origin").await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(refused["error"]["code"], "too_many");
}
