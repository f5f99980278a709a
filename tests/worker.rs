//! The edge host's own checks, against the Worker under `wrangler dev
//! --local` (workerd). The Worker must be built with its test route
//! (`scripts/build-worker.sh --features conformance`); `scripts/test-worker.sh`
//! builds it and runs these (they are ignored by a plain `cargo test`).
//!
//! - The store conformance suite runs inside workerd, on the DynamoDB
//!   store over `fetch`: against the embedded server, or the server at
//!   `LIVECARD_TEST_DYNAMODB_ENDPOINT` (DynamoDB Local).
//! - Bad input gets the other hosts' answers, and the Worker keeps serving.

mod support;

use futures_util::{SinkExt, StreamExt};
use livecard_app::Random;
use livecard_local::edge::{EdgeOptions, Wrangler, tail};
use livecard_store::embedded::EmbeddedDynamo;
use serde_json::Value;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

/// The deployment's first admin key (in the secrets document).
const ADMIN_KEY: &str = "worker-test-admin-key-0123456789abcdefghij";

struct Os;

impl Random for Os {
    fn fill(&self, buf: &mut [u8]) {
        getrandom::fill(buf).expect("random bytes");
    }
}

/// A Worker on a fresh table of `endpoint` (or of a new embedded server).
async fn worker(
    name: &str,
    vars: &[(&str, &str)],
) -> (Wrangler, Option<EmbeddedDynamo>, support::Scratch) {
    let (wrangler, server, dir, _store) = worker_with(name, vars, |_| {}).await;
    (wrangler, server, dir)
}

/// The same with a change to its secrets document; also the store it uses.
async fn worker_with(
    name: &str,
    vars: &[(&str, &str)],
    secrets: impl FnOnce(&mut livecard_app::secrets::SecretsDocument),
) -> (
    Wrangler,
    Option<EmbeddedDynamo>,
    support::Scratch,
    livecard_store::dynamo::DynamoStore,
) {
    let (server, endpoint) = match std::env::var("LIVECARD_TEST_DYNAMODB_ENDPOINT") {
        Ok(endpoint) if !endpoint.is_empty() => (None, endpoint),
        _ => {
            let server = EmbeddedDynamo::start(None).await.expect("embedded store");
            let endpoint = server.endpoint().to_owned();
            (Some(server), endpoint)
        }
    };
    let dir = support::temp_dir(name);
    let table = format!("worker-{name}-{}", std::process::id());
    let store = livecard_store::dynamo::DynamoStore::new(
        livecard_store::dynamo::local_client(&endpoint),
        &table,
    );
    store.ensure_table().await.expect("table");
    let mut document = livecard_app::secrets::SecretsDocument::generate(&Os);
    document.admin_api_key = Some(ADMIN_KEY.to_owned());
    secrets(&mut document);
    let mut options = EdgeOptions {
        worker_dir: support::repo_root().join("functions/worker"),
        addr: format!("127.0.0.1:{}", support::free_port())
            .parse()
            .expect("address"),
        store_endpoint: endpoint,
        table,
        public_url: None,
        secrets_json: serde_json::to_string(&document).expect("JSON"),
        vars: vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        state_dir: dir.to_path_buf(),
    };
    // The port is found free, then given to wrangler: another process may
    // take it in between (wrangler exits, "Address already in use"). That
    // is the test's port choice, not the product: it is said, and another
    // port is tried (at most three times).
    let mut attempt = 1;
    let wrangler = loop {
        match Wrangler::start(&options).await {
            Ok(wrangler) => break wrangler,
            Err(err) if attempt < 3 && format!("{err:#}").contains("Address already in use") => {
                eprintln!(
                    "wrangler did not start on {} (taken); trying another port",
                    options.addr
                );
                options.addr = format!("127.0.0.1:{}", support::free_port())
                    .parse()
                    .expect("address");
                attempt += 1;
            }
            Err(err) => panic!("wrangler dev starts: {err:?}"),
        }
    };
    (wrangler, server, dir, store)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the Worker built with --features conformance; scripts/test-worker.sh runs it"]
async fn the_store_conformance_suite_passes_inside_workerd() {
    let (wrangler, _server, _dir) = worker("conformance", &[]).await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .expect("client");
    let mut failed = Vec::new();
    for check in livecard_store::conformance::CHECKS {
        let answer = client
            .get(format!("{}/__conformance/{check}", wrangler.url))
            .send()
            .await;
        let (status, body) = match answer {
            Ok(response) => (
                response.status().as_u16(),
                response.text().await.unwrap_or_default(),
            ),
            Err(err) => (0, err.to_string()),
        };
        if status != 200 || body != format!("ok {check}") {
            failed.push(format!("{check}: {status} {body}"));
        }
    }
    assert!(
        failed.is_empty(),
        "checks failed inside workerd: {failed:#?}\n{}",
        tail(&wrangler.log).unwrap_or_default()
    );
}

async fn status(client: &reqwest::Client, request: reqwest::RequestBuilder) -> (u16, Value) {
    let _ = client;
    let response = request.send().await.expect("an answer");
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

/// POSTs `size` bytes chunked (no length declared); the status answered.
async fn streamed_status(url: &str, size: usize) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = url.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "POST /api/v1/contacts HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.expect("head");
    let chunk = vec![b'x'; 16 * 1024];
    for _ in 0..size / chunk.len() {
        let mut frame = format!("{:x}\r\n", chunk.len()).into_bytes();
        frame.extend_from_slice(&chunk);
        frame.extend_from_slice(b"\r\n");
        // The server may answer and stop reading before the end.
        if stream.write_all(&frame).await.is_err() {
            break;
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let mut answer = vec![0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(20), stream.read(&mut answer))
        .await
        .expect("an answer in time")
        .expect("read");
    let line = String::from_utf8_lossy(&answer[..n]);
    line.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {line}"))
}

/// Reads frames until one of `type`; the first such frame.
async fn frame_of<S>(socket: &mut S, kind: &str) -> Value
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let frame = tokio::time::timeout_at(deadline, socket.next())
            .await
            .unwrap_or_else(|_| panic!("no {kind} frame within 10 s"))
            .unwrap_or_else(|| panic!("closed before a {kind} frame"))
            .expect("a frame");
        if let Message::Text(text) = frame {
            let value: Value = serde_json::from_str(&text).expect("JSON frames");
            if value["type"] == kind {
                return value;
            }
        }
    }
}

/// Reads frames until the close frame; its code.
async fn close_code<S>(socket: &mut S) -> Option<u16>
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match tokio::time::timeout_at(deadline, socket.next())
            .await
            .ok()??
        {
            Ok(Message::Close(frame)) => return frame.map(|f| u16::from(f.code)),
            Ok(_) => continue,
            Err(_) => return None,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the Worker built; scripts/test-worker.sh runs it"]
async fn bad_input_is_refused_as_on_the_other_hosts_and_the_worker_keeps_serving() {
    let (wrangler, _server, _dir) = worker("bad-input", &[]).await;
    let url = &wrangler.url;
    let client = reqwest::Client::new();
    let contacts = format!("{url}/api/v1/contacts");

    // Bodies: declared too large, streamed too large, malformed JSON, the
    // wrong type; then the Worker still answers.
    let big = vec![b'x'; 1024 * 1024];
    let (code, body) = status(
        &client,
        client
            .post(&contacts)
            .header("content-type", "application/json")
            .body(big.clone()),
    )
    .await;
    assert_eq!(
        (code, body["error"]["code"].as_str()),
        (413, Some("payload_too_large")),
        "{body}"
    );
    assert_eq!(
        streamed_status(url, 1024 * 1024).await,
        413,
        "a streamed body is cut at the limit"
    );
    let (code, body) = status(
        &client,
        client
            .post(&contacts)
            .header("content-type", "application/json")
            .body("{\"channel\": "),
    )
    .await;
    assert_eq!(code, 400, "{body}");
    let (code, _) = status(
        &client,
        client
            .post(&contacts)
            .header("content-type", "text/plain")
            .body("hi"),
    )
    .await;
    assert_eq!(code, 415);
    let (code, _) = status(&client, client.get(format!("{url}/{}", "a".repeat(4096)))).await;
    assert_eq!(code, 414);
    let (code, _) = status(&client, client.get(format!("{url}/ws"))).await;
    assert_eq!(code, 426, "a plain GET of the socket asks for an upgrade");
    let (code, body) = status(&client, client.get(format!("{url}/healthz"))).await;
    assert_eq!((code, body["status"].as_str()), (200, Some("ok")));

    // Signaling frames.
    let ws = format!("{}/ws", url.replacen("http", "ws", 1));
    let (mut socket, _) = tokio_tungstenite::connect_async(ws.as_str())
        .await
        .expect("connect");
    frame_of(&mut socket, "hello").await;
    for (frame, code) in [
        (
            Message::text(r#"{"v":1,"type":"teleport"}"#),
            "unknown_type",
        ),
        (Message::text("not json"), "malformed"),
        (Message::binary(vec![1u8, 2, 3]), "malformed"),
        (
            Message::text(r#"{"v":2,"type":"ping"}"#),
            "unsupported_version",
        ),
        (
            Message::text(format!(
                r#"{{"v":1,"type":"chat","session":"s","id":"a","text":"{}"}}"#,
                "x".repeat(20 * 1024)
            )),
            "too_large",
        ),
        // A session that is not this connection's looks like none at all.
        (
            Message::text(r#"{"v":1,"type":"join","session":"someone-else","token":"forged"}"#),
            "not_found",
        ),
        (
            Message::text(r#"{"v":1,"type":"chat","session":"someone-else","id":"a","text":"hi"}"#),
            "not_found",
        ),
    ] {
        socket.send(frame).await.expect("send");
        let error = frame_of(&mut socket, "error").await;
        assert_eq!(error["code"], code, "{error}");
    }
    // The runtime answers pings without waking the object.
    socket
        .send(Message::text(r#"{"v":1,"type":"ping"}"#))
        .await
        .expect("send");
    frame_of(&mut socket, "pong").await;
    // A frame over 64 KiB closes the connection (1009).
    socket
        .send(Message::text("x".repeat(70 * 1024)))
        .await
        .expect("send");
    assert_eq!(close_code(&mut socket).await, Some(1009));

    // A client that keeps flooding past its refusals: 1008 (policy).
    let (socket, _) = tokio_tungstenite::connect_async(ws.as_str())
        .await
        .expect("connect");
    let (mut sink, mut stream) = socket.split();
    let flood = tokio::spawn(async move {
        for _ in 0..2_000 {
            let frame = Message::text(r#"{"v":1,"type":"typing","session":"s"}"#);
            if sink.send(frame).await.is_err() {
                break;
            }
        }
    });
    let mut limited = false;
    let code = loop {
        match tokio::time::timeout(Duration::from_secs(30), stream.next()).await {
            Ok(Some(Ok(Message::Text(text)))) => {
                limited |= text.contains("rate_limited");
            }
            Ok(Some(Ok(Message::Close(frame)))) => break frame.map(|f| u16::from(f.code)),
            Ok(Some(Ok(_))) => {}
            other => panic!(
                "no close for a flooding client: {other:?}\n{}",
                tail(&wrangler.log).unwrap_or_default()
            ),
        }
    };
    flood.abort();
    assert!(limited, "refused as rate_limited first");
    assert_eq!(code, Some(1008));

    // Still serving.
    let (code, _) = status(&client, client.get(format!("{url}/api/v1/advisors"))).await;
    assert_eq!(code, 200);

    // Even a panic (none of the above may cause one) does not poison the
    // Worker: that request fails, the next one is served.
    let panicked = client.get(format!("{url}/__panic")).send().await;
    assert!(
        panicked.map_or(true, |r| r.status().is_server_error()),
        "a panic is an error"
    );
    for _ in 0..3 {
        let (code, body) = status(&client, client.get(format!("{url}/healthz"))).await;
        assert_eq!(
            (code, body["status"].as_str()),
            (200, Some("ok")),
            "after a panic"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the Worker built; scripts/test-worker.sh runs it"]
async fn presence_reads_are_shared_briefly_and_a_change_shows_within_the_bound() {
    // Dana answers chats without a console in this deployment, so an
    // admin's change is what visitors see (`docs/presence.md`).
    let (wrangler, _server, _dir) =
        worker("shared-reads", &[("LIVECARD_CHAT_WITHOUT_CONSOLE", "true")]).await;
    let url = &wrangler.url;
    let client = reqwest::Client::new();
    let admin = |request: reqwest::RequestBuilder| request.bearer_auth(ADMIN_KEY);
    let (code, body) = status(
        &client,
        admin(client.post(format!("{url}/api/v1/advisors"))).json(&serde_json::json!({
            "id": "dana", "display_name": "Dana", "channels": ["chat"]
        })),
    )
    .await;
    assert!(code == 201 || code == 200, "{code} {body}");
    let presence = |state: &str| {
        admin(client.put(format!("{url}/api/v1/advisors/dana/presence")))
            .json(&serde_json::json!({ "states": { "chat": state } }))
    };
    assert_eq!(status(&client, presence("available")).await.0, 200);

    let read = || client.get(format!("{url}/api/v1/advisors/dana"));
    let first = read().send().await.expect("read");
    assert_eq!(first.headers()["x-livecard-cache"], "miss");
    let etag = first.headers()["etag"].clone();
    let second = read().send().await.expect("read");
    assert_eq!(
        second.headers()["x-livecard-cache"],
        "hit",
        "shared within the second"
    );
    assert_eq!(second.headers()["etag"], etag);
    assert_eq!(
        second.headers()["cache-control"],
        "no-cache",
        "visitors revalidate"
    );
    let again = read()
        .header("if-none-match", etag.clone())
        .send()
        .await
        .expect("read");
    assert_eq!(again.status().as_u16(), 304);
    // Credentials are never answered from the shared cache.
    let private = read()
        .header("cookie", "lc_session=x")
        .send()
        .await
        .expect("read");
    assert!(private.headers().get("x-livecard-cache").is_none());

    // A change shows within the bound the other hosts have (the instance
    // read cache, 1 s), plus a request's time.
    assert_eq!(status(&client, presence("busy")).await.0, 200);
    let changed = std::time::Instant::now();
    loop {
        let body: Value = read()
            .send()
            .await
            .expect("read")
            .json()
            .await
            .expect("JSON");
        if body["presence"]["chat"] == "busy" {
            break;
        }
        assert!(
            changed.elapsed() < Duration::from_millis(1_500),
            "the change did not show within the bound: {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the Worker built; scripts/test-worker.sh runs it"]
async fn the_worker_forwards_analytics_on_its_cron_trigger() {
    use std::sync::{Arc, Mutex};
    // A webhook receiver on loopback.
    let got: Arc<Mutex<Vec<(axum::http::HeaderMap, String)>>> = Arc::default();
    let seen = got.clone();
    let receiver = axum::Router::new().route(
        "/hooks/edge",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
            let seen = seen.clone();
            async move {
                seen.lock().expect("lock").push((headers, body));
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let hook_url = format!("http://{}/hooks/edge", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, receiver).await;
    });

    let (wrangler, _server, _dir) =
        worker("forward", &[("LIVECARD_FORWARD_ALLOW", "127.0.0.1/32")]).await;
    let url = &wrangler.url;
    let client = reqwest::Client::new();
    let key = [5u8; 32];
    let secret = livecard_core::webhook::encode_secret(&key);
    let (code, body) = status(
        &client,
        client
            .put(format!("{url}/api/v1/destinations/crm"))
            .bearer_auth(ADMIN_KEY)
            .json(&serde_json::json!({"kind":"webhook","url":hook_url,"secrets":[secret]})),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    // A private address is refused at the edge too.
    let (code, body) = status(
        &client,
        client
            .put(format!("{url}/api/v1/destinations/bad"))
            .bearer_auth(ADMIN_KEY)
            .json(&serde_json::json!({"kind":"webhook","url":"http://10.1.2.3/x","secrets":[livecard_core::webhook::encode_secret(&key)]})),
    )
    .await;
    assert_eq!(code, 400, "{body}");

    let (code, contact) = status(
        &client,
        client
            .post(format!("{url}/api/v1/contacts"))
            .json(&serde_json::json!({"topic":"sales"})),
    )
    .await;
    assert_eq!(code, 201, "{contact}");
    assert!(
        got.lock().expect("lock").is_empty(),
        "nothing is sent inline"
    );
    // The cron trigger, as the platform fires it.
    let scheduled = client
        .get(format!("{url}/__scheduled?cron=*+*+*+*+*"))
        .send()
        .await
        .expect("scheduled");
    assert!(scheduled.status().is_success());
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let (headers, body) = loop {
        let found = got
            .lock()
            .expect("lock")
            .iter()
            .find(|(_, b)| b.contains("livecard.contact.requested"))
            .cloned();
        if let Some(found) = found {
            break found;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the cron trigger forwarded nothing"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    support::assert_signed(
        &key,
        header("webhook-id"),
        header("webhook-timestamp"),
        header("webhook-signature"),
        &body,
    );
    let parsed: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(parsed["data"]["session"], contact["session"]);
}

/// Teams push at the edge: Graph's validation handshake is answered, a
/// notification encrypted as Graph encrypts it (to a certificate made with
/// OpenSSL) is unwrapped with WebCrypto and applied; a tampered one, one
/// with another client state and a replay change nothing.
#[cfg(feature = "testkit")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the Worker built; scripts/test-worker.sh runs it"]
async fn teams_notifications_are_believed_at_the_edge_only_when_genuine() {
    use base64::Engine;
    use livecard_core::ids::AdvisorId;
    use livecard_core::presence::{PresenceSource, PresenceState};
    use livecard_local::testkit::graph::{self, Forgery, GraphSubscription};
    use livecard_store::prelude::*;
    const ANNA: &str = "3f2504e0-4f89-11d3-9a0c-0305e82c3301";
    let keys = graph::push_keys("edge-client-state-0123456789");
    let b64 = |der: &[u8]| base64::engine::general_purpose::STANDARD.encode(der);
    let document = livecard_app::secrets::TeamsNotificationsDocument {
        client_state: keys.client_state.clone(),
        certificate_id: keys.certificate_id.clone(),
        certificate: b64(&keys.certificate),
        private_key: b64(&keys.private_key),
    };
    let (wrangler, _server, _dir, store) =
        worker_with("teams", &[], |doc| doc.teams_notifications = Some(document)).await;
    let url = wrangler.url.clone();
    let notify_url = format!("{url}/api/v1/connectors/teams/notifications");
    let client = reqwest::Client::new();

    // Graph's handshake.
    let answer = client
        .post(format!("{notify_url}?validationToken=edge-check-123"))
        .send()
        .await
        .expect("answer");
    assert_eq!(answer.status(), 200);
    assert!(
        answer.headers()["content-type"]
            .to_str()
            .unwrap_or_default()
            .starts_with("text/plain")
    );
    assert_eq!(answer.text().await.expect("text"), "edge-check-123");

    // Anna, her console open, covered by a subscription the connector made.
    let anna = AdvisorId::parse("anna").expect("id");
    let identities = livecard_core::advisor::Identities {
        teams: Some(ANNA.into()),
        ..Default::default()
    };
    store
        .put_advisor(&livecard_local::testkit::advisor("anna", identities))
        .await
        .expect("advisor");
    store
        .heartbeat(&anna, u64::MAX / 2)
        .await
        .expect("heartbeat");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .expect("clock");
    store
        .put_graph_subscription(
            "sub-edge",
            &std::collections::BTreeMap::from([(ANNA.to_owned(), anna.clone())]),
            now + 3_600_000,
        )
        .await
        .expect("subscription");
    let fake: graph::Shared = Default::default();
    fake.lock()
        .expect("graph")
        .subscriptions
        .push(GraphSubscription {
            id: "sub-edge".into(),
            users: vec![ANNA.into()],
            notification_url: notify_url.clone(),
            client_state: keys.client_state.clone(),
            certificate_id: keys.certificate_id.clone(),
            certificate: keys.certificate.clone(),
            expires_ms: now + 3_600_000,
        });
    let video = || async {
        let record = store.get_advisor(&anna).await.expect("get").expect("anna");
        let policy = livecard_core::presence::PresencePolicy::default();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .expect("clock");
        record.presence.decide(
            livecard_core::channel::Channel::Video,
            record.advisor.channels,
            &policy,
            now,
        )
    };

    let (status, in_a_call) = graph::notify(&fake, ANNA, "Busy", "InACall", Forgery::None).await;
    assert_eq!(status, 202);
    let d = video().await;
    assert_eq!(
        (d.state, d.source),
        (PresenceState::Busy, Some(PresenceSource::Teams)),
        "unwrapped with WebCrypto, applied"
    );
    for forgery in [
        Forgery::Signature,
        Forgery::ClientState,
        Forgery::Subscription,
    ] {
        let (status, _) = graph::notify(&fake, ANNA, "Offline", "OffWork", forgery).await;
        assert_eq!(status, 202, "{forgery:?}");
        assert_eq!(
            video().await.state,
            PresenceState::Busy,
            "{forgery:?} changed nothing"
        );
    }
    graph::notify(&fake, ANNA, "Available", "Available", Forgery::None).await;
    assert_eq!(video().await.state, PresenceState::Available);
    assert_eq!(graph::post_notifications(&notify_url, in_a_call).await, 202);
    assert_eq!(
        video().await.state,
        PresenceState::Available,
        "a replay changed nothing"
    );
}
