//! The Lambda functions as real processes under a Lambda runtime API on
//! loopback, driven with API Gateway event payloads (HTTP API 2.0 and
//! WebSocket), against the embedded DynamoDB-compatible server, with the
//! Management API and Secrets Manager answered by loopback endpoints that
//! record what the functions did.

#[path = "../../app/tests/common/mod.rs"]
mod common;

/// When the sessions and messages written here may expire.
const KEEP: u64 = u64::MAX / 2;
use livecard_app::secrets::SecretsDocument;
use livecard_app::system::{OsRandom, SystemClock};
use livecard_app::{App, Config};
use livecard_core::advisor::Advisor;
use livecard_core::card::CardRequest;
use livecard_core::channel::Channel;
use livecard_core::event::{Event, EventName};
use livecard_core::ids::AdvisorId;
use livecard_core::ids::EventId;
use livecard_core::presence::PresenceState;
use livecard_core::session::Side;
use livecard_lambda::emulator::aws::{AwsEndpoints, ManagementCall, ThrottlingProxy};
use livecard_lambda::emulator::events;
use livecard_lambda::emulator::runtime::{Outcome, RuntimeApi};
use livecard_store::dynamo::{DynamoStore, local_client};
use livecard_store::embedded::EmbeddedDynamo;
use livecard_store::prelude::*;
use livecard_store::{Appended, PageRequest};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio::process::{Child, Command};

const TABLE: &str = "livecard";
const SECRET_ARN: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:livecard-AbCdEf";
const PUBLIC_URL: &str = "https://contact.example.com";
const WS_URL: &str = "wss://abc123defg.execute-api.us-east-1.amazonaws.com/live";
const LIMIT: Duration = Duration::from_secs(30);

struct Stack {
    _db: EmbeddedDynamo,
    db_endpoint: String,
    /// The test's own view of the same table, for seeding and checking.
    seed: App<DynamoStore>,
    aws: AwsEndpoints,
    secrets_json: String,
    children: Vec<Child>,
}

fn advisor(id: &str, capacity: u16) -> Advisor {
    common::advisor(id, &["sales"], capacity)
}

fn aid(id: &str) -> AdvisorId {
    common::id(id)
}

impl Stack {
    async fn new(advisors: &[Advisor]) -> Self {
        let db = EmbeddedDynamo::start(None).await.expect("embedded store");
        let db_endpoint = db.endpoint().to_owned();
        let store = DynamoStore::new(local_client(&db_endpoint), TABLE);
        store.ensure_table().await.expect("table");
        let document = SecretsDocument::generate(&OsRandom);
        let secrets_json = serde_json::to_string(&document).expect("json");
        let secrets = document.into_secrets().expect("secrets");
        let seed = App::new(
            store,
            Arc::new(SystemClock),
            Arc::new(OsRandom),
            Config::new(PUBLIC_URL),
            secrets,
        );
        for a in advisors {
            seed.save_advisor(a).await.expect("advisor");
            let now = seed.now();
            let update = seed
                .config
                .presence
                .manual_update(
                    vec![(Channel::Chat, PresenceState::Available)],
                    now,
                    now + livecard_core::presence::MAX_MANUAL_MS,
                )
                .expect("update");
            seed.set_presence(&a.id, &update).await.expect("presence");
            // Their console stays open while the test runs.
            livecard_store::AdvisorStore::heartbeat(&seed.store, &a.id, u64::MAX / 2)
                .await
                .expect("heartbeat");
        }
        let aws = AwsEndpoints::start().await.expect("aws endpoints");
        aws.put_secret(SECRET_ARN, &secrets_json);
        Self {
            _db: db,
            db_endpoint,
            seed,
            aws,
            secrets_json,
            children: Vec::new(),
        }
    }

    /// Starts `instances` processes of a function polling a new runtime API.
    async fn function(&mut self, binary: &str, instances: usize) -> RuntimeApiHandle {
        let db = self.db_endpoint.clone();
        self.function_with(binary, instances, &db, SECRET_ARN).await
    }

    /// The table behind a `ThrottlingProxy`, and a store that goes through it.
    async fn store_behind_proxy(&self) -> (ThrottlingProxy, DynamoStore) {
        let proxy = ThrottlingProxy::start(&self.db_endpoint)
            .await
            .expect("proxy");
        let store = DynamoStore::new(local_client(&proxy.endpoint()), TABLE);
        (proxy, store)
    }

    /// One instance of the HTTP function whose store goes through a
    /// `ThrottlingProxy`.
    async fn http_behind_proxy(&mut self) -> (ThrottlingProxy, RuntimeApiHandle) {
        let proxy = ThrottlingProxy::start(&self.db_endpoint)
            .await
            .expect("proxy");
        let http = self
            .function_with(
                env!("CARGO_BIN_EXE_livecard-http"),
                1,
                &proxy.endpoint(),
                SECRET_ARN,
            )
            .await;
        (proxy, http)
    }

    async fn function_with(
        &mut self,
        binary: &str,
        instances: usize,
        dynamodb: &str,
        secret: &str,
    ) -> RuntimeApiHandle {
        let runtime = RuntimeApi::start().await.expect("runtime api");
        for _ in 0..instances {
            let child = Command::new(binary)
                .env_clear()
                .env("PATH", std::env::var("PATH").unwrap_or_default())
                .env("AWS_LAMBDA_RUNTIME_API", runtime.endpoint())
                .env("AWS_LAMBDA_FUNCTION_NAME", "livecard")
                .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
                .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
                .env("AWS_REGION", "us-east-1")
                .env("AWS_ACCESS_KEY_ID", "livecard-test")
                .env("AWS_SECRET_ACCESS_KEY", "livecard-test")
                .env("AWS_EC2_METADATA_DISABLED", "true")
                .env("AWS_ENDPOINT_URL_DYNAMODB", dynamodb)
                .env(
                    "AWS_ENDPOINT_URL_SECRETS_MANAGER",
                    self.aws.secrets_endpoint(),
                )
                .env("LIVECARD_TABLE", TABLE)
                .env("LIVECARD_PUBLIC_URL", PUBLIC_URL)
                .env("LIVECARD_WS_URL", WS_URL)
                .env("LIVECARD_WS_CALLBACK_URL", self.aws.management_endpoint())
                .env("LIVECARD_SECRETS_ARN", secret)
                .env("AWS_LAMBDA_LOG_LEVEL", "warn")
                // The sweep function keeps sweeping for 2 s, every second.
                .env("LIVECARD_SWEEP_SECONDS", "2")
                .env("LIVECARD_SWEEP_EVERY_SECONDS", "1")
                // The capture server of the forwarding test is on loopback.
                .env("LIVECARD_FORWARD_ALLOW", "127.0.0.1/32")
                .kill_on_drop(true)
                .spawn()
                .expect("spawn the function");
            self.children.push(child);
        }
        RuntimeApiHandle(runtime)
    }

    fn advisor_cookie(&self, who: &str) -> String {
        let cookie = livecard_core::auth::sign_session(
            &self.seed.secrets.session_key,
            &livecard_core::auth::AdvisorSession {
                advisor: aid(who),
                epoch: 0,
            },
            self.seed.now(),
            livecard_core::auth::SESSION_TTL_MS,
        );
        format!("lc_session={cookie}")
    }
}

struct RuntimeApiHandle(RuntimeApi);

impl RuntimeApiHandle {
    async fn call(&self, event: Value) -> Value {
        match self.0.invoke_within(event, LIMIT).await {
            Some(Outcome::Response(value)) => value,
            Some(Outcome::Error(err)) => panic!("the function failed: {err}"),
            None => panic!("the function did not answer in time"),
        }
    }

    /// An HTTP API request: (status, parsed JSON body, the whole result).
    async fn http(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        cookies: &[&str],
        body: Option<Value>,
    ) -> (u16, Value, Value) {
        let body = body.map(|b| b.to_string());
        let out = self
            .call(events::http(
                method,
                path,
                headers,
                cookies,
                body.as_deref(),
            ))
            .await;
        let status = out["statusCode"].as_u64().expect("statusCode") as u16;
        let parsed = out["body"]
            .as_str()
            .and_then(|b| serde_json::from_str(b).ok())
            .unwrap_or(Value::Null);
        (status, parsed, out)
    }

    /// `POST /api/v1/contacts` with a JSON body.
    async fn contact(&self, body: Value) -> (u16, Value, Value) {
        let json = [("content-type", "application/json")];
        self.http("POST", "/api/v1/contacts", &json, &[], Some(body))
            .await
    }

    async fn ws(&self, connection: &str, message: Value) {
        let out = self
            .call(events::ws_message(connection, &message.to_string()))
            .await;
        assert_eq!(out["statusCode"], 200, "{out}");
    }
}

fn of_type<'a>(messages: &'a [Value], kind: &str) -> Vec<&'a Value> {
    messages.iter().filter(|m| m["type"] == kind).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_through_api_gateway_events_with_gone_cleanup_and_resume() {
    let mut stack = Stack::new(&[advisor("anna", 2)]).await;
    let http = stack.function(env!("CARGO_BIN_EXE_livecard-http"), 1).await;
    let ws = stack.function(env!("CARGO_BIN_EXE_livecard-ws"), 1).await;
    let sweep = stack
        .function(env!("CARGO_BIN_EXE_livecard-sweep"), 1)
        .await;

    // Pages allow the WebSocket API's origin, and only it.
    let (status, _, page) = http.http("GET", "/", &[], &[], None).await;
    assert_eq!(status, 200);
    let csp = page["headers"]["content-security-policy"]
        .as_str()
        .expect("csp");
    assert!(
        csp.contains("connect-src 'self' wss://abc123defg.execute-api.us-east-1.amazonaws.com;"),
        "{csp}"
    );

    // The console asks for a ticket (same origin, session cookie) and
    // opens the socket on the WebSocket API with it.
    let cookie = stack.advisor_cookie("anna");
    let (status, ticket, _) = http
        .http(
            "POST",
            "/api/v1/me/ws-ticket",
            &[("sec-fetch-site", "same-origin")],
            &[&cookie],
            None,
        )
        .await;
    assert_eq!(status, 200, "{ticket}");
    assert_eq!(ticket["ws"], WS_URL);
    let ticket = ticket["ticket"].as_str().expect("ticket").to_owned();
    let origin = [("Origin", PUBLIC_URL)];
    let out = ws
        .call(events::ws_connect("A1", &origin, &[("ticket", &ticket)]))
        .await;
    assert_eq!(out["statusCode"], 200);
    // The same ticket again gives no advisor: it is single-use.
    ws.call(events::ws_connect("A2", &origin, &[("ticket", &ticket)]))
        .await;
    ws.ws("A2", json!({"v":1,"type":"ping"})).await;
    let a2 = stack.aws.posted_to("A2");
    assert_eq!(a2[0]["type"], "hello");
    assert!(a2[0].get("advisor").is_none(), "{a2:?}");
    // A console's first message gets the greeting first.
    ws.ws("A1", json!({"v":1,"type":"ping"})).await;
    let a1 = stack.aws.posted_to("A1");
    assert_eq!(a1[0]["type"], "hello");
    assert_eq!(a1[0]["advisor"], "anna");
    assert_eq!(a1.last().expect("pong")["type"], "pong");

    // A visitor asks through the HTTP function; once their socket joins
    // (not before), the ring reaches the console through PostToConnection.
    let (status, contact, _) = http.contact(json!({"topic": "sales"})).await;
    assert_eq!(status, 201, "{contact}");
    assert_eq!(contact["ws"], WS_URL);
    let session = contact["session"].as_str().expect("session").to_owned();
    let token = contact["token"].as_str().expect("token").to_owned();
    let rings = stack.aws.posted_to("A1");
    assert_eq!(of_type(&rings, "ring").len(), 0, "{rings:?}");

    ws.call(events::ws_connect("V1", &[], &[])).await;
    ws.ws(
        "V1",
        json!({"v":1,"type":"join","session":session,"token":token}),
    )
    .await;
    let rings = stack.aws.posted_to("A1");
    assert_eq!(of_type(&rings, "ring").len(), 1, "{rings:?}");
    ws.ws("A1", json!({"v":1,"type":"accept","session":session}))
        .await;
    let v1 = stack.aws.posted_to("V1");
    assert!(
        v1.iter()
            .any(|m| m["type"] == "session" && m["state"] == "connected"),
        "{v1:?}"
    );

    // Once connected, the ICE-server endpoint answers the session's
    // visitor, with the media node that registered in the store.
    stack
        .seed
        .store
        .put_media_node(&livecard_core::media::MediaNode {
            id: "node-1".into(),
            host: "203.0.113.20".into(),
            turn_port: 3478,
            tls_port: Some(5349),
            capacity: 100,
            load: 3,
            heartbeat_until: stack.seed.now() + 30_000,
            sessions: Vec::new(),
        })
        .await
        .expect("node");
    let (status, ice, _) = http
        .http(
            "POST",
            &format!("/api/v1/contacts/{session}/ice-servers"),
            &[("content-type", "application/json")],
            &[],
            Some(json!({ "token": token })),
        )
        .await;
    assert_eq!(status, 200, "{ice}");
    assert_eq!(
        ice["ice_servers"][1]["urls"][2],
        "turns:203.0.113.20:5349?transport=tcp"
    );

    ws.ws(
        "V1",
        json!({"v":1,"type":"chat","session":session,"id":"v-1","text":"Hello Anna"}),
    )
    .await;
    let v1 = stack.aws.posted_to("V1");
    let ack = of_type(&v1, "ack");
    assert_eq!(ack.len(), 1, "{v1:?}");
    let first_key = ack[0]["key"].as_str().expect("key").to_owned();
    let a1 = stack.aws.posted_to("A1");
    assert_eq!(of_type(&a1, "chat")[0]["text"], "Hello Anna");

    // The visitor's socket is gone (410): the push finds out and forgets it.
    stack.aws.mark_gone("V1");
    ws.ws(
        "A1",
        json!({"v":1,"type":"chat","session":session,"id":"a-1","text":"Hi, how can I help?"}),
    )
    .await;
    let store = &stack.seed.store;
    let now = stack.seed.now();
    assert_eq!(store.get_connection("V1", now).await.expect("read"), None);
    assert!(
        !store
            .subscribers(&format!("visitor:{session}"), now, 10)
            .await
            .expect("subs")
            .contains(&"V1".to_owned())
    );

    // It reconnects and resumes after the last message it saw: it gets
    // exactly what it missed.
    ws.call(events::ws_connect("V2", &[], &[])).await;
    ws.ws(
        "V2",
        json!({"v":1,"type":"join","session":session,"token":token,"after":first_key}),
    )
    .await;
    let v2 = stack.aws.posted_to("V2");
    let chats = of_type(&v2, "chat");
    assert_eq!(chats.len(), 1, "{v2:?}");
    assert_eq!(chats[0]["text"], "Hi, how can I help?");
    assert_eq!(of_type(&v2, "joined").len(), 1);
    // A resend of the visitor's first message is stored once.
    ws.ws(
        "V2",
        json!({"v":1,"type":"chat","session":session,"id":"v-1","text":"Hello Anna"}),
    )
    .await;
    let stored = store
        .messages_after(&session, None, 100)
        .await
        .expect("messages");
    assert_eq!(stored.len(), 2);

    // The visitor hangs up; both sides hear it; $disconnect forgets V2.
    ws.ws("V2", json!({"v":1,"type":"hangup","session":session}))
        .await;
    assert!(
        stack
            .aws
            .posted_to("A1")
            .iter()
            .any(|m| m["type"] == "session" && m["state"] == "ended")
    );
    let out = ws.call(events::ws_disconnect("V2")).await;
    assert_eq!(out["statusCode"], 200);
    assert_eq!(store.get_connection("V2", now).await.expect("read"), None);

    // A message on a connection nobody knows closes it (the client
    // reconnects), rather than acting for an unknown sender.
    ws.ws("ghost", json!({"v":1,"type":"ping"})).await;
    assert!(stack.aws.calls().contains(&ManagementCall::Delete {
        connection: "ghost".into()
    }));

    // The scheduled sweep runs against the same table.
    let report = sweep.call(events::scheduled()).await;
    assert!(
        report["passes"].as_u64().is_some_and(|p| p >= 2),
        "{report}"
    );
    // Secrets were read once per cold start, never per request.
    assert_eq!(stack.aws.secret_reads(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_events_get_a_clear_4xx_and_bad_messages_an_error_frame() {
    let mut stack = Stack::new(&[advisor("anna", 1)]).await;
    let http = stack.function(env!("CARGO_BIN_EXE_livecard-http"), 1).await;
    let ws = stack.function(env!("CARGO_BIN_EXE_livecard-ws"), 1).await;

    let out = http.call(json!({})).await;
    assert_eq!(out["statusCode"], 400);
    assert!(out["body"].as_str().expect("body").contains("bad_event"));
    let out = http
        .call(json!({"requestContext": {"http": {"method": 42}}, "rawPath": "/"}))
        .await;
    assert_eq!(out["statusCode"], 400, "{out}");
    let mut large = events::http("POST", "/api/v1/contacts", &[], &[], None);
    large["body"] = Value::from("x".repeat(70 * 1024));
    assert_eq!(http.call(large).await["statusCode"], 413);
    // The function is still there after the refusals.
    let (status, _, _) = http.http("GET", "/healthz", &[], &[], None).await;
    assert_eq!(status, 200);

    assert_eq!(
        ws.call(json!({"requestContext": {}})).await["statusCode"],
        400
    );
    let mut odd = events::ws_message("X", "{}");
    odd["requestContext"]["eventType"] = Value::from("SOMETHING");
    assert_eq!(ws.call(odd).await["statusCode"], 400);

    ws.call(events::ws_connect("V1", &[], &[])).await;
    let big = json!({"v":1,"type":"chat","session":"s","id":"1","text":"x".repeat(20_000)});
    ws.ws("V1", big).await;
    let mut binary = events::ws_message("V1", "AAEC");
    binary["isBase64Encoded"] = Value::from(true);
    ws.call(binary).await;
    ws.ws("V1", json!({"v":9,"type":"ping"})).await;
    let posted = stack.aws.posted_to("V1");
    let codes: Vec<&str> = of_type(&posted, "error")
        .iter()
        .filter_map(|m| m["code"].as_str())
        .collect();
    assert_eq!(
        codes,
        ["too_large", "malformed", "unsupported_version"],
        "{posted:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_contact_requests_across_instances_never_exceed_capacity() {
    let advisors = common::capacity_advisors();
    let mut stack = Stack::new(&advisors).await;
    // Four instances of each function, as Lambda scales out; the scenario
    // is the one the in-process handler test runs.
    let http = Arc::new(stack.function(env!("CARGO_BIN_EXE_livecard-http"), 4).await);
    let ws = Arc::new(stack.function(env!("CARGO_BIN_EXE_livecard-ws"), 4).await);
    common::concurrent_requests_never_exceed_capacity(&stack.seed.store, |n| {
        let http = http.clone();
        let ws = ws.clone();
        async move {
            let mut event = events::http(
                "POST",
                "/api/v1/contacts",
                &[("content-type", "application/json")],
                &[],
                Some(&json!({"topic": "sales"}).to_string()),
            );
            // Distinct addresses: the per-client limit is not what is tested.
            event["requestContext"]["http"]["sourceIp"] =
                Value::from(format!("198.51.100.{}-{n}", n % 250));
            let out = http.call(event).await;
            assert_eq!(out["statusCode"], 201, "{out}");
            let body: Value =
                serde_json::from_str(out["body"].as_str().expect("body")).expect("json");
            // The visitor's socket joins (as the pages do): routing starts.
            let connection = format!("V{n}");
            ws.call(events::ws_connect(&connection, &[], &[])).await;
            ws.ws(
                &connection,
                json!({"v":1,"type":"join","session":body["session"],"token":body["token"]}),
            )
            .await;
            body["session"].as_str().expect("session").to_owned()
        }
    })
    .await;
    assert!(http.0.polled() >= 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_is_retried_with_backoff_then_reported() {
    let mut stack = Stack::new(&[advisor("anna", 1)]).await;
    let (proxy, http) = stack.http_behind_proxy().await;
    let (status, _, _) = http.http("GET", "/api/v1/advisors", &[], &[], None).await;
    assert_eq!(status, 200);
    // Two throttles: retried, and the caller never notices.
    proxy.throttle_next(2);
    let (status, body, _) = http
        .http("GET", "/api/v1/advisors/anna", &[], &[], None)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(proxy.throttled(), 2);
    // Throttled for longer than the retries: a clear 503, nothing written.
    proxy.throttle_next(50);
    let (status, body, _) = http.contact(json!({"topic": "sales"})).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "unavailable", "{body}");
    let attempts = proxy.throttled();
    assert_eq!(attempts, 2 + livecard_lambda::aws::MAX_ATTEMPTS);
    proxy.throttle_next(0);
    let anna = stack
        .seed
        .store
        .get_advisor(&aid("anna"))
        .await
        .expect("read")
        .expect("anna");
    assert_eq!(
        anna.load.active, 0,
        "no slot was taken by the failed request"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_card_page_asks_again_for_unprocessed_keys_then_reports_them() {
    let mut stack = Stack::new(&[advisor("anna", 1)]).await;
    let card = stack
        .seed
        .create_card(CardRequest {
            advisor: aid("anna"),
            campaign: None,
            channels: None,
            expires_in_ms: None,
        })
        .await
        .expect("card");
    let path = card
        .url
        .strip_prefix(PUBLIC_URL)
        .expect("a card path")
        .to_owned();
    let (proxy, http) = stack.http_behind_proxy().await;
    // The card and its advisor come back unprocessed twice: asked for
    // again, and the visitor never notices.
    proxy.leave_unprocessed_next(2);
    let (status, _, out) = http.http("GET", &path, &[], &[], None).await;
    assert_eq!(status, 200, "{out}");
    let page = out["body"].as_str().unwrap_or_default();
    assert!(page.contains("Advisor anna"), "{page}");
    assert_eq!(proxy.left_unprocessed(), 2);
    // Past the function's read cache (1 s), and unprocessed for longer
    // than the retries: the page says the service is unavailable.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    proxy.leave_unprocessed_next(50);
    let (status, _, out) = http.http("GET", &path, &[], &[], None).await;
    assert_eq!(status, 503, "{out}");
    assert_eq!(
        proxy.left_unprocessed(),
        2 + livecard_lambda::aws::MAX_ATTEMPTS
    );
    proxy.leave_unprocessed_next(0);
    let (status, _, _) = http.http("GET", &path, &[], &[], None).await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_batches_left_unprocessed_are_handed_back_to_the_one_retry_loop() {
    let stack = Stack::new(&[]).await;
    let (proxy, through_proxy) = stack.store_behind_proxy().await;
    let now = stack.seed.now();
    let events: Vec<_> = (0..30u8)
        .map(|i| {
            let event = Event::new(EventId::from_bytes([i; 16]), EventName::CardOpened, now);
            (event, now + 3_600_000)
        })
        .collect();
    proxy.leave_unprocessed_next(2);
    // One attempt per call, no resends inside the store (and no SDK
    // retries): what came back unprocessed is handed back to the caller,
    // whose loop (the event writer's) is the only retry.
    let unwritten = through_proxy.put_events(&events).await.expect("one pass");
    assert_eq!(unwritten.len(), 30, "handed back, not resent");
    assert_eq!(proxy.left_unprocessed(), 1);
    let unwritten = through_proxy.put_events(&unwritten).await.expect("again");
    assert_eq!(unwritten.len(), 30);
    let unwritten = through_proxy.put_events(&unwritten).await.expect("again");
    assert!(unwritten.is_empty(), "written on the third call");
    assert_eq!(proxy.left_unprocessed(), 2);
    let page = stack
        .seed
        .store
        .list_events(&events[0].0.day(), &PageRequest::first(100))
        .await
        .expect("listed");
    assert_eq!(page.items.len(), 30, "every event once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_message_whose_transaction_conflicts_is_tried_again_then_reported() {
    let stack = Stack::new(&[]).await;
    let (proxy, through_proxy) = stack.store_behind_proxy().await;
    let now = stack.seed.now();
    // Two conflicts: tried again after a backoff, stored once.
    proxy.conflict_next(2);
    let appended = through_proxy
        .append_message(
            "s1",
            livecard_store::NewMessage::new(Side::Visitor, "m1", "Hello", now),
            KEEP,
        )
        .await
        .expect("stored");
    assert!(matches!(appended, Appended::New(_)), "{appended:?}");
    assert_eq!(proxy.conflicted(), 2);
    // Conflicting for longer than the tries: an error, nothing written.
    proxy.conflict_next(50);
    let refused = through_proxy
        .append_message(
            "s1",
            livecard_store::NewMessage::new(Side::Visitor, "m2", "Again", now + 1),
            KEEP,
        )
        .await;
    assert!(refused.is_err(), "{refused:?}");
    assert_eq!(proxy.conflicted(), 2 + livecard_lambda::aws::MAX_ATTEMPTS);
    proxy.conflict_next(0);
    let stored = stack
        .seed
        .store
        .messages_after("s1", None, 10)
        .await
        .expect("read");
    let ids: Vec<&str> = stored.iter().map(|m| m.client_id.as_str()).collect();
    assert_eq!(ids, ["m1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cold_start_without_its_secret_reports_an_init_error() {
    let mut stack = Stack::new(&[]).await;
    let missing = "arn:aws:secretsmanager:us-east-1:123456789012:secret:nope";
    let db = stack.db_endpoint.clone();
    let http = stack
        .function_with(env!("CARGO_BIN_EXE_livecard-http"), 1, &db, missing)
        .await;
    let child = stack.children.last_mut().expect("child");
    let status = tokio::time::timeout(LIMIT, child.wait())
        .await
        .expect("exits")
        .expect("status");
    assert!(!status.success());
    // The secret's value is never what a failure prints.
    assert!(!stack.secrets_json.is_empty());
    let errors = http.0.init_errors();
    assert_eq!(errors.len(), 1, "{errors:?}");
    let text = errors[0].to_string();
    assert!(text.contains("ResourceNotFoundException"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_forwarder_runs_on_the_tables_stream_and_in_the_sweep() {
    use livecard_core::forward::{Destination, DestinationState, Secret, Target, hooks::Webhook};
    let mut stack = Stack::new(&[advisor("anna", 2)]).await;
    let capture = common::capture::Capture::start(stack.seed.now() / 1000).await;
    let key = [21u8; 32];
    let destination = Destination {
        id: livecard_core::ids::DestinationId::parse("crm").expect("id"),
        target: Target::Webhook(Webhook {
            url: format!("{}/hooks/crm", capture.url),
            secrets: vec![Secret(livecard_core::webhook::encode_secret(&key))],
            events: None,
        }),
        state: DestinationState::Active,
    };
    let sealed = stack.seed.seal_destination(&destination).expect("seal");
    stack
        .seed
        .store
        .put_destination(&sealed)
        .await
        .expect("destination");
    let http = stack.function(env!("CARGO_BIN_EXE_livecard-http"), 1).await;
    let forward = stack
        .function(env!("CARGO_BIN_EXE_livecard-forward"), 1)
        .await;
    let sweep = stack
        .function(env!("CARGO_BIN_EXE_livecard-sweep"), 1)
        .await;

    // A contact request makes a delivery; the stream's INSERT runs the forwarder.
    let (status, contact, _) = http.contact(json!({"topic": "sales"})).await;
    assert_eq!(status, 201, "{contact}");
    assert!(
        capture.with(|c| c.hooks.is_empty()),
        "nothing is sent inline"
    );
    let out = forward
        .call(events::dynamodb_insert("DELIVERY#crm#x", "DELIVERY"))
        .await;
    assert_eq!(out["batchItemFailures"], json!([]), "{out}");
    assert_eq!(out["delivered"], 1, "{out}");
    let first = capture.with(|c| c.hooks.clone());
    assert_eq!(first.len(), 1);
    let body: Value = serde_json::from_str(&first[0].body).expect("json");
    assert_eq!(body["type"], "livecard.contact.requested");
    assert_eq!(body["data"]["session"], contact["session"]);
    let header = |name: &str| {
        first[0]
            .headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let ts: u64 = header("webhook-timestamp")
        .and_then(|t| t.parse().ok())
        .expect("ts");
    assert_eq!(
        livecard_core::webhook::verify(
            &key,
            header("webhook-id").as_deref(),
            header("webhook-timestamp").as_deref(),
            header("webhook-signature").as_deref(),
            first[0].body.as_bytes(),
            ts * 1000,
        ),
        Ok(())
    );

    // A retry that comes due is sent by the scheduled sweep.
    capture.fail("/hooks/crm", [common::capture::Fault::Status(503)]);
    let (status, _, _) = http.contact(json!({"topic": "sales"})).await;
    assert_eq!(status, 201);
    let out = forward
        .call(events::dynamodb_insert("DELIVERY#crm#y", "DELIVERY"))
        .await;
    assert_eq!(out["retried"], 1, "{out}");
    tokio::time::sleep(Duration::from_secs(6)).await;
    sweep.call(events::scheduled()).await;
    assert_eq!(capture.with(|c| c.hooks.len()), 2, "the retry went out");
}
