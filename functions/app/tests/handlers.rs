//! The shared handlers driven in-process, with simulated time and
//! deterministic randomness, against the embedded DynamoDB-compatible store.

use bytes::Bytes;
use http::{Method, StatusCode};
use livecard_app::{App, ClientAddr, Config, Request, Response};
use livecard_store::dynamo::DynamoStore;
use livecard_store::embedded::EmbeddedDynamo;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::Ordering;

mod common;
use common::{SimClock, T0, secrets};

struct Harness {
    _server: EmbeddedDynamo,
    app: App<DynamoStore>,
    clock: Arc<SimClock>,
    admin: String,
}

async fn harness() -> Harness {
    let (server, store) = common::embedded_store("livecard").await;
    let (app, clock) = common::sim_app(store, Config::new("http://livecard.test"));
    let admin = app.create_api_key("test").await.expect("api key");
    for advisor in livecard_app::demo::advisors() {
        app.save_advisor(&advisor).await.expect("advisor");
    }
    Harness {
        _server: server,
        app,
        clock,
        admin,
    }
}

impl Harness {
    /// The advisor's console is open (a heartbeat lasting the test).
    async fn console_open(&self, advisor: &str) {
        let id = livecard_core::ids::AdvisorId::parse(advisor).expect("advisor id");
        assert!(
            livecard_store::AdvisorStore::heartbeat(&self.app.store, &id, u64::MAX / 2)
                .await
                .expect("heartbeat")
        );
    }

    async fn send(
        &self,
        method: Method,
        uri: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Response {
        let mut builder = http::Request::builder()
            .method(method)
            .uri(uri)
            .header("host", "livecard.test");
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        let mut request: Request = builder.body(Bytes::copy_from_slice(body)).expect("request");
        request
            .extensions_mut()
            .insert(ClientAddr("203.0.113.7".into()));
        self.app.handle(request).await
    }

    async fn admin_json(
        &self,
        method: Method,
        uri: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let auth = format!("Bearer {}", self.admin);
        let bytes = body.map(|b| b.to_string()).unwrap_or_default();
        let response = self
            .send(
                method,
                uri,
                &[
                    ("authorization", &auth),
                    ("content-type", "application/json"),
                ],
                bytes.as_bytes(),
            )
            .await;
        (response.status(), parse(&response))
    }

    fn advance(&self, ms: u64) {
        self.clock.0.fetch_add(ms, Ordering::SeqCst);
    }
}

fn parse(response: &Response) -> Value {
    serde_json::from_slice(response.body()).unwrap_or(Value::Null)
}

fn text(response: &Response) -> String {
    String::from_utf8_lossy(response.body()).into_owned()
}

#[tokio::test]
async fn card_links_open_and_every_bad_link_gets_the_same_neutral_page() {
    let h = harness().await;
    let (status, card) = h
        .admin_json(Method::POST, "/api/v1/cards", Some(json!({"advisor": "anna-schmidt", "campaign": "spring", "expires_in_ms": 3_600_000})))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{card}");
    let url = card["url"].as_str().expect("url");
    assert!(
        card["html_snippet"]
            .as_str()
            .expect("snippet")
            .contains(url)
    );
    let path = url
        .strip_prefix("http://livecard.test")
        .expect("public url");
    let token = path.strip_prefix("/c/").expect("card path");

    let ok = h.send(Method::GET, path, &[], b"").await;
    assert_eq!(ok.status(), StatusCode::OK);
    assert!(text(&ok).contains("Anna Schmidt"));

    // The neutral page, whatever is wrong with the link.
    // Only the language switch (which links to the same address) differs.
    let page = |response: &Response, path: &str| text(response).replace(path, "PATH");
    let neutral = page(
        &h.send(Method::GET, "/c/nonsense", &[], b"").await,
        "/c/nonsense",
    );
    assert!(neutral.contains("This link does not work"));
    let mut changed = token.to_owned().into_bytes();
    let i = changed.len() - 5;
    changed[i] = if changed[i] == b'A' { b'B' } else { b'A' };
    let forged = format!("/c/{}", String::from_utf8(changed).expect("ascii"));
    let unknown_key = path.replacen(".k1.", ".k7.", 1);
    for bad in [&forged, &unknown_key] {
        let response = h.send(Method::GET, bad, &[], b"").await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert_eq!(page(&response, bad), neutral);
    }
    // Revoked.
    let id = card["id"].as_str().expect("id");
    let (status, revoked) = h
        .admin_json(Method::DELETE, &format!("/api/v1/cards/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(revoked["revoked_at"].is_u64());
    let response = h.send(Method::GET, path, &[], b"").await;
    assert_eq!(
        (response.status(), page(&response, path)),
        (StatusCode::NOT_FOUND, neutral.clone())
    );
    let (status, _) = h
        .admin_json(Method::DELETE, &format!("/api/v1/cards/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "revoking twice is not an error");
    // Expired.
    let (_, card) = h
        .admin_json(
            Method::POST,
            "/api/v1/cards",
            Some(json!({"advisor": "ben-okafor", "expires_in_ms": 60_000})),
        )
        .await;
    let path = card["url"]
        .as_str()
        .expect("url")
        .strip_prefix("http://livecard.test")
        .expect("url")
        .to_owned();
    assert_eq!(
        h.send(Method::GET, &path, &[], b"").await.status(),
        StatusCode::OK
    );
    h.advance(61_000);
    let response = h.send(Method::GET, &path, &[], b"").await;
    assert_eq!(
        (response.status(), page(&response, &path)),
        (StatusCode::NOT_FOUND, neutral)
    );

    // Events were recorded, without raw addresses.
    let (status, events) = h
        .admin_json(Method::GET, "/api/v1/events?day=2026-11-23", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<&str> = events["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["name"].as_str())
        .collect();
    for name in ["card_created", "card_opened", "card_revoked"] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }
    assert!(
        !events.to_string().contains("203.0.113.7"),
        "a raw IP was stored"
    );
}

#[tokio::test]
async fn keys_rotate_old_links_keep_working() {
    let h = harness().await;
    let (_, card) = h
        .admin_json(
            Method::POST,
            "/api/v1/cards",
            Some(json!({"advisor": "anna-schmidt"})),
        )
        .await;
    let path = card["url"]
        .as_str()
        .expect("url")
        .strip_prefix("http://livecard.test")
        .expect("url")
        .to_owned();
    let rotated = App::new(
        h.app.store.clone(),
        h.clock.clone(),
        h.app.random.clone(),
        h.app.config.clone(),
        secrets("k2"),
    );
    let mut request: Request = http::Request::builder()
        .uri(&path)
        .body(Bytes::new())
        .expect("request");
    request.extensions_mut().insert(ClientAddr("::1".into()));
    assert_eq!(rotated.handle(request).await.status(), StatusCode::OK);
    let new = rotated
        .create_card(livecard_core::card::CardRequest {
            advisor: livecard_core::ids::AdvisorId::parse("anna-schmidt").expect("id"),
            campaign: None,
            channels: None,
            expires_in_ms: None,
        })
        .await
        .expect("card");
    assert!(new.url.contains("/c/1.k2."));
}

#[tokio::test]
async fn admin_api_refusals() {
    let h = harness().await;
    let card = json!({"advisor": "anna-schmidt"}).to_string();
    let response = h
        .send(
            Method::POST,
            "/api/v1/cards",
            &[("content-type", "application/json")],
            card.as_bytes(),
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(parse(&response)["error"]["code"], "unauthorized");
    let wrong = format!("Bearer {}", livecard_core::auth::new_api_key([9; 32]));
    let response = h
        .send(
            Method::POST,
            "/api/v1/cards",
            &[
                ("authorization", &wrong),
                ("content-type", "application/json"),
            ],
            card.as_bytes(),
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    let cases = [
        (json!({"advisor": "nobody"}), StatusCode::NOT_FOUND),
        (json!({"advisor": "Not An Id"}), StatusCode::BAD_REQUEST),
        (
            json!({"advisor": "anna-schmidt", "campaign": "a b"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"advisor": "anna-schmidt", "expires_in_ms": 1}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"advisor": "anna-schmidt", "channels": ["fax"]}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"advisor": "anna-schmidt", "extra": 1}),
            StatusCode::BAD_REQUEST,
        ),
    ];
    for (body, expected) in cases {
        let (status, error) = h
            .admin_json(Method::POST, "/api/v1/cards", Some(body.clone()))
            .await;
        assert_eq!(status, expected, "{body} -> {error}");
        assert!(
            error["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{error}"
        );
    }
    let auth = format!("Bearer {}", h.admin);
    let response = h
        .send(
            Method::POST,
            "/api/v1/cards",
            &[("authorization", &auth)],
            card.as_bytes(),
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let big = vec![b'x'; livecard_app::MAX_BODY_BYTES + 1];
    let response = h
        .send(
            Method::POST,
            "/api/v1/cards",
            &[("authorization", &auth)],
            &big,
        )
        .await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let long = format!("/api/v1/advisors?topic={}", "a".repeat(3000));
    let refusals = [
        (Method::GET, long.as_str(), StatusCode::URI_TOO_LONG),
        (
            Method::GET,
            "/api/v1/advisors?cursor=garbage",
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::GET,
            "/api/v1/advisors?limit=0",
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::GET,
            "/api/v1/advisors?topic=%3Cx%3E",
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::PATCH,
            "/api/v1/cards",
            StatusCode::METHOD_NOT_ALLOWED,
        ),
        (Method::GET, "/api/v2/cards", StatusCode::NOT_FOUND),
    ];
    for (method, uri, expected) in refusals {
        let response = h.send(method.clone(), uri, &[], b"").await;
        assert_eq!(
            response.status(),
            expected,
            "{method} {}",
            &uri[..uri.len().min(60)]
        );
        assert!(
            parse(&response)["error"]["code"].is_string(),
            "a JSON error for {method}"
        );
    }
    let (status, _) = h
        .admin_json(
            Method::POST,
            "/api/v1/advisors",
            Some(json!({"id": "x", "display_name": ""})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // Nothing half-written: the refused advisor does not exist.
    assert_eq!(
        h.send(Method::GET, "/api/v1/advisors/x", &[], b"")
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn presence_sync_versions_and_portal_filters() {
    let h = harness().await;
    let put = |v: Value| h.admin_json(Method::PUT, "/api/v1/advisors/ben-okafor/presence", Some(v));
    let (status, body) = put(json!({"states": {"chat": "busy"}, "version": 200})).await;
    assert_eq!(
        (status, body["result"].as_str()),
        (StatusCode::OK, Some("applied"))
    );
    let (_, body) = put(json!({"states": {"chat": "available"}, "version": 100})).await;
    assert_eq!(body["result"], "stale");
    let (status, _) = put(json!({"states": {}})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = put(json!({"states": {"chat": "dancing"}})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, body) = put(json!({"states": {"chat": "on_call"}})).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "a manual state is one of four"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("not on_call"))
    );
    let (status, _) = put(json!({"states": {"chat": "busy"}, "until": T0 + 8 * 86_400_000})).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "a manual state lasts at most 7 days"
    );
    let (status, _) =
        put(json!({"states": {"chat": "busy"}, "version": 300, "until": T0 + 1})).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "until is for manual states"
    );
    let (status, _) = h
        .admin_json(
            Method::PUT,
            "/api/v1/advisors/nobody/presence",
            Some(json!({"states": {"chat": "busy"}})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Without an open console nothing shows available or busy: nobody
    // could answer in the browser.
    let closed = parse(
        &h.send(Method::GET, "/api/v1/advisors/ben-okafor", &[], b"")
            .await,
    );
    assert_eq!(closed["presence"]["chat"], "offline");
    h.console_open("ben-okafor").await;
    // Admins see which source and rule decided each channel.
    let (status, why) = h
        .admin_json(Method::GET, "/api/v1/advisors/ben-okafor/presence", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{why}");
    assert_eq!(why["decisions"]["chat"]["state"], "busy", "{why}");
    assert_eq!(why["decisions"]["chat"]["rule"], "automatic", "{why}");
    assert_eq!(why["decisions"]["chat"]["source"], "webhook", "{why}");
    assert_eq!(why["sources"]["webhook"]["chat"]["version"], 200, "{why}");
    assert_eq!(why["console"]["live"], true, "{why}");
    let refused = h
        .send(
            Method::GET,
            "/api/v1/advisors/ben-okafor/presence",
            &[],
            b"",
        )
        .await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let response = h
        .send(Method::GET, "/api/v1/advisors/ben-okafor", &[], b"")
        .await;
    let body = parse(&response);
    assert_eq!(body["presence"]["chat"], "busy");
    assert_eq!(body["presence"]["video"], "offline");
    let etag = response
        .headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .expect("etag")
        .to_owned();
    let again = h
        .send(
            Method::GET,
            "/api/v1/advisors/ben-okafor",
            &[("if-none-match", &etag)],
            b"",
        )
        .await;
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);

    let list = parse(
        &h.send(
            Method::GET,
            "/api/v1/advisors?topic=billing&language=de",
            &[],
            b"",
        )
        .await,
    );
    let ids: Vec<&str> = list["advisors"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|a| a["id"].as_str())
        .collect();
    assert_eq!(ids, vec!["anna-schmidt"]);

    let portal = h
        .send(
            Method::GET,
            "/?topic=sales",
            &[("accept-language", "de-DE,de;q=0.9")],
            b"",
        )
        .await;
    let html = text(&portal);
    assert!(html.contains("lang=\"de\"") && html.contains("Sprechen Sie live mit uns"));
    assert!(html.contains("Ben Okafor") && !html.contains("Clara"));
    assert!(html.contains("Beschäftigt"), "busy is shown in German");
    let english = text(
        &h.send(Method::GET, "/?lang=en", &[("accept-language", "de")], b"")
            .await,
    );
    assert!(english.contains("Talk to us live"));
}

#[tokio::test]
async fn far_future_presence_versions_are_refused_and_an_admin_can_reset() {
    let h = harness().await;
    let uri = "/api/v1/advisors/ben-okafor/presence";
    // Microseconds sent as milliseconds would freeze the channel for good.
    let (status, body) = h
        .admin_json(
            Method::PUT,
            uri,
            Some(json!({"states": {"chat": "busy"}, "version": T0 * 1000})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("ahead of the server's clock")),
        "{body}"
    );
    let manual = json!({"states": {"chat": "available"}});
    let (_, body) = h.admin_json(Method::PUT, uri, Some(manual.clone())).await;
    assert_eq!(body["result"], "applied", "manual updates still apply");

    // A version a little ahead (clock skew) applies, and holds the source
    // until the clock passes it; other sources keep their own versions, and
    // an admin's reset lets the source's next update in.
    let ahead = T0 + 4 * 60_000;
    let (_, body) = h
        .admin_json(
            Method::PUT,
            uri,
            Some(json!({"states": {"chat": "busy"}, "version": ahead})),
        )
        .await;
    assert_eq!(body["result"], "applied", "{body}");
    h.advance(1000);
    let synced = json!({"states": {"chat": "available"}, "version": T0 + 1000});
    let (_, body) = h.admin_json(Method::PUT, uri, Some(synced.clone())).await;
    assert_eq!(body["result"], "stale");
    let (_, body) = h.admin_json(Method::PUT, uri, Some(manual.clone())).await;
    assert_eq!(body["result"], "applied", "another source is not held");
    let (status, body) = h.admin_json(Method::DELETE, uri, None).await;
    assert_eq!(
        (status, body["result"].as_str()),
        (StatusCode::OK, Some("reset"))
    );
    let page = parse(
        &h.send(Method::GET, "/api/v1/advisors/ben-okafor", &[], b"")
            .await,
    );
    assert_eq!(page["presence"]["chat"], "offline", "reset reads offline");
    let (_, body) = h.admin_json(Method::PUT, uri, Some(synced)).await;
    assert_eq!(body["result"], "applied", "the next update applies");

    // Only admins reset, and only known advisors.
    let refused = h.send(Method::DELETE, uri, &[], b"").await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let (status, _) = h
        .admin_json(Method::DELETE, "/api/v1/advisors/nobody/presence", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn advisor_signs_in_once_and_console_presence_expires() {
    let h = harness().await;
    let (status, link) = h
        .admin_json(
            Method::POST,
            "/api/v1/advisors/clara-weiss/signin-links",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let token = link["url"]
        .as_str()
        .expect("url")
        .rsplit('/')
        .next()
        .expect("token")
        .to_owned();
    let page = h
        .send(Method::GET, &format!("/signin/{token}"), &[], b"")
        .await;
    assert_eq!(
        page.status(),
        StatusCode::OK,
        "showing the page does not use the link"
    );
    let form = format!("token={token}");
    let ct = ("content-type", "application/x-www-form-urlencoded");
    let evil = h
        .send(
            Method::POST,
            "/signin",
            &[ct, ("origin", "https://evil.example")],
            form.as_bytes(),
        )
        .await;
    assert_eq!(
        evil.status(),
        StatusCode::BAD_REQUEST,
        "cross-site sign-in refused"
    );
    let signed = h
        .send(Method::POST, "/signin", &[ct], form.as_bytes())
        .await;
    assert_eq!(signed.status(), StatusCode::SEE_OTHER);
    let cookie = signed
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .expect("cookie")
        .to_owned();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"));
    let session = cookie.split(';').next().expect("pair").to_owned();
    let again = h
        .send(Method::POST, "/signin", &[ct], form.as_bytes())
        .await;
    assert_eq!(
        again.status(),
        StatusCode::BAD_REQUEST,
        "a sign-in link works once"
    );

    let me = h
        .send(Method::GET, "/me", &[("cookie", &session)], b"")
        .await;
    assert_eq!(me.status(), StatusCode::OK);
    assert!(text(&me).contains("Clara Weiß"));
    assert_eq!(
        h.send(Method::GET, "/me", &[], b"").await.status(),
        StatusCode::UNAUTHORIZED
    );

    let busy = json!({"states": {"chat": "busy", "video": "busy"}}).to_string();
    let json_ct = ("content-type", "application/json");
    let cross = h
        .send(
            Method::PUT,
            "/api/v1/me/presence",
            &[
                ("cookie", &session),
                json_ct,
                ("origin", "https://evil.example"),
            ],
            busy.as_bytes(),
        )
        .await;
    assert_eq!(cross.status(), StatusCode::FORBIDDEN);
    let anonymous = h
        .send(
            Method::PUT,
            "/api/v1/me/presence",
            &[json_ct],
            busy.as_bytes(),
        )
        .await;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let forged = h
        .send(
            Method::PUT,
            "/api/v1/me/presence",
            &[
                ("cookie", "lc_session=1.anna-schmidt.9999999999.AAAA"),
                json_ct,
            ],
            busy.as_bytes(),
        )
        .await;
    assert_eq!(forged.status(), StatusCode::UNAUTHORIZED);
    let ok = h
        .send(
            Method::PUT,
            "/api/v1/me/presence",
            &[("cookie", &session), json_ct],
            busy.as_bytes(),
        )
        .await;
    assert_eq!(parse(&ok)["result"], "applied");

    assert_eq!(chat_state(&h).await, "busy");
    h.advance(50_000);
    let beat = h
        .send(
            Method::POST,
            "/api/v1/me/heartbeat",
            &[("cookie", &session)],
            b"",
        )
        .await;
    assert_eq!(beat.status(), StatusCode::OK);
    h.advance(50_000);
    assert_eq!(
        chat_state(&h).await,
        "busy",
        "the heartbeat kept presence alive"
    );
    h.advance(11_000);
    assert_eq!(
        chat_state(&h).await,
        "offline",
        "presence expired after the heartbeat stopped"
    );

    // The session itself expires.
    h.advance(livecard_core::auth::SESSION_TTL_MS);
    assert_eq!(
        h.send(Method::GET, "/api/v1/me", &[("cookie", &session)], b"")
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
}

/// Signs Clara in through a fresh one-time link; her session cookie.
async fn sign_in_clara(h: &Harness) -> String {
    let (_, link) = h
        .admin_json(
            Method::POST,
            "/api/v1/advisors/clara-weiss/signin-links",
            None,
        )
        .await;
    let token = link["url"]
        .as_str()
        .and_then(|u| u.rsplit('/').next())
        .expect("token")
        .to_owned();
    let signed = h
        .send(
            Method::POST,
            "/signin",
            &[("content-type", "application/x-www-form-urlencoded")],
            format!("token={token}").as_bytes(),
        )
        .await;
    assert_eq!(signed.status(), StatusCode::SEE_OTHER);
    signed
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .expect("cookie")
        .to_owned()
}

#[tokio::test]
async fn sign_out_and_an_admin_end_sessions_on_the_server() {
    let h = harness().await;
    let me = |cookie: String| {
        let h = &h;
        async move {
            h.send(Method::GET, "/api/v1/me", &[("cookie", &cookie)], b"")
                .await
                .status()
        }
    };
    let laptop = sign_in_clara(&h).await;
    let phone = sign_in_clara(&h).await;
    assert_eq!(me(laptop.clone()).await, StatusCode::OK);

    // Another site cannot sign Clara out.
    let cross = h
        .send(
            Method::POST,
            "/signout",
            &[("cookie", &laptop), ("origin", "https://evil.example")],
            b"",
        )
        .await;
    assert_eq!(cross.status(), StatusCode::FORBIDDEN);
    assert_eq!(me(laptop.clone()).await, StatusCode::OK);

    // Signing out ends the session on the server: the cookie, kept by
    // someone, no longer works (nor does the other device's).
    let out = h
        .send(Method::POST, "/signout", &[("cookie", &laptop)], b"")
        .await;
    assert_eq!(out.status(), StatusCode::OK);
    assert_eq!(me(laptop.clone()).await, StatusCode::UNAUTHORIZED);
    assert_eq!(me(phone).await, StatusCode::UNAUTHORIZED);
    let ticket = h
        .send(
            Method::POST,
            "/api/v1/me/ws-ticket",
            &[("cookie", &laptop)],
            b"",
        )
        .await;
    assert_eq!(ticket.status(), StatusCode::UNAUTHORIZED);

    // A new sign-in works; an admin can end it too.
    let fresh = sign_in_clara(&h).await;
    assert_eq!(me(fresh.clone()).await, StatusCode::OK);
    // Two tickets asked for in the same instant (a console reloaded at
    // once) each open the console once; a ticket used again opens none.
    let mut tickets = Vec::new();
    for _ in 0..2 {
        let answer = h
            .send(
                Method::POST,
                "/api/v1/me/ws-ticket",
                &[("cookie", &fresh)],
                b"",
            )
            .await;
        tickets.push(
            parse(&answer)["ticket"]
                .as_str()
                .expect("ticket")
                .to_owned(),
        );
    }
    assert_ne!(tickets[0], tickets[1]);
    for (n, ticket) in tickets.iter().chain(tickets.first()).enumerate() {
        let upgrade: Request = http::Request::builder()
            .uri(format!("/ws?ticket={ticket}"))
            .header("host", "livecard.test")
            .body(Bytes::new())
            .expect("request");
        let (connection, _) = h.app.ws_open(&format!("conn-t{n}"), &upgrade).await;
        let expected =
            (n < 2).then(|| livecard_core::ids::AdvisorId::parse("clara-weiss").expect("id"));
        assert_eq!(connection.advisor, expected, "ticket use {n}");
    }
    let ticket = parse(
        &h.send(
            Method::POST,
            "/api/v1/me/ws-ticket",
            &[("cookie", &fresh)],
            b"",
        )
        .await,
    )["ticket"]
        .as_str()
        .expect("ticket")
        .to_owned();
    let refused = h
        .send(
            Method::DELETE,
            "/api/v1/advisors/clara-weiss/sessions",
            &[],
            b"",
        )
        .await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED, "admins only");
    let (status, body) = h
        .admin_json(
            Method::DELETE,
            "/api/v1/advisors/clara-weiss/sessions",
            None,
        )
        .await;
    assert_eq!(
        (status, body["result"].as_str()),
        (StatusCode::OK, Some("ended"))
    );
    assert_eq!(me(fresh).await, StatusCode::UNAUTHORIZED);
    // A WebSocket ticket minted before opens no console now.
    let upgrade: Request = http::Request::builder()
        .uri(format!("/ws?ticket={ticket}"))
        .header("host", "livecard.test")
        .body(Bytes::new())
        .expect("request");
    let (connection, _) = h.app.ws_open("conn-1", &upgrade).await;
    assert_eq!(connection.advisor, None);
    let (status, _) = h
        .admin_json(Method::DELETE, "/api/v1/advisors/nobody/sessions", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn chat_state(h: &Harness) -> Value {
    parse(
        &h.send(Method::GET, "/api/v1/advisors/clara-weiss", &[], b"")
            .await,
    )["presence"]["chat"]
        .clone()
}

#[tokio::test]
async fn pages_carry_security_headers_and_escape_content() {
    let h = harness().await;
    let (status, _) = h
        .admin_json(
            Method::POST,
            "/api/v1/advisors",
            Some(json!({"id": "mallory", "display_name": "<script>alert(1)</script>", "title": "\"><img src=x onerror=alert(1)>"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let portal = h.send(Method::GET, "/", &[], b"").await;
    let csp = portal
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .expect("csp");
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"));
    assert_eq!(
        portal
            .headers()
            .get("x-content-type-options")
            .map(|v| v.as_bytes()),
        Some(&b"nosniff"[..])
    );
    assert_eq!(
        portal
            .headers()
            .get("referrer-policy")
            .map(|v| v.as_bytes()),
        Some(&b"same-origin"[..])
    );
    let html = text(&portal);
    assert!(
        !html.contains("<script>alert(1)</script>")
            && html.contains("&lt;script&gt;alert(1)&lt;/script&gt;")
    );
    assert!(!html.contains("<img src=x"));
    let health = h.send(Method::GET, "/healthz", &[], b"").await;
    assert_eq!(parse(&health)["status"], "ok");
    let missing = h.send(Method::GET, "/nope", &[], b"").await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert!(text(&missing).contains("Page not found"));
    let css = h
        .send(Method::GET, livecard_app::assets::css_url(), &[], b"")
        .await;
    assert_eq!(css.status(), StatusCode::OK);
    assert!(
        css.headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("immutable"))
    );
}

#[tokio::test]
async fn presence_webhook_is_signed_and_replay_protected() {
    use livecard_core::webhook::sign;
    let h = harness().await;
    let key = [5u8; 32];
    let post = |id: &'static str, ts: u64, body: String, signature: Option<String>| {
        let h = &h;
        async move {
            let signature = signature.unwrap_or_else(|| sign(&key, id, ts, body.as_bytes()));
            let ts = ts.to_string();
            let headers = [
                ("content-type", "application/json"),
                ("webhook-id", id),
                ("webhook-timestamp", ts.as_str()),
                ("webhook-signature", signature.as_str()),
            ];
            let response = h
                .send(
                    Method::POST,
                    "/api/v1/presence/webhook",
                    &headers,
                    body.as_bytes(),
                )
                .await;
            (response.status(), parse(&response))
        }
    };
    h.console_open("anna-schmidt").await;
    let now_s = T0 / 1000;
    let busy = json!({"advisor": "anna-schmidt", "states": {"chat": "busy"}, "version": T0 - 5})
        .to_string();
    let (status, body) = post("msg_1", now_s, busy.clone(), None).await;
    assert_eq!(
        (status, body["result"].as_str()),
        (StatusCode::OK, Some("applied")),
        "{body}"
    );
    let (status, body) = post("msg_1", now_s, busy.clone(), None).await;
    assert_eq!(
        (status, body["result"].as_str()),
        (StatusCode::OK, Some("duplicate")),
        "a replay"
    );
    let older =
        json!({"advisor": "anna-schmidt", "states": {"chat": "available"}, "version": T0 - 10})
            .to_string();
    let (_, body) = post("msg_2", now_s, older, None).await;
    assert_eq!(body["result"], "stale", "an older push does not win");
    let (status, body) = post("msg_3", now_s, busy.clone(), Some("v1,AAAA".into())).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("bad_signature"))
    );
    let (status, _) = post("msg_4", now_s - 600, busy.clone(), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "an old timestamp");
    let ghost = json!({"advisor": "nobody", "states": {"chat": "busy"}, "version": T0}).to_string();
    let (status, _) = post("msg_5", now_s, ghost, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = post("msg_6", now_s, "{\"advisor\": 1}".into(), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let state = parse(
        &h.send(Method::GET, "/api/v1/advisors/anna-schmidt", &[], b"")
            .await,
    );
    assert_eq!(state["presence"]["chat"], "busy");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_secrets_documents_admin_key_works_without_a_store_item() {
    let h = harness().await;
    let good = format!("Bearer {}", common::DOCUMENT_ADMIN_KEY);
    let response = h
        .send(
            Method::GET,
            "/api/v1/cards",
            &[("authorization", &good)],
            b"",
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let mut near = common::DOCUMENT_ADMIN_KEY.to_string();
    near.pop();
    near.push('x');
    for wrong in [near.as_str(), "", "lck_", &"a".repeat(300)] {
        let auth = format!("Bearer {wrong}");
        let response = h
            .send(
                Method::GET,
                "/api/v1/cards",
                &[("authorization", &auth)],
                b"",
            )
            .await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{wrong}");
    }
}

#[tokio::test]
async fn only_public_presence_reads_may_be_shared_and_only_where_a_host_says_so() {
    let (_server, store) = common::embedded_store("shared-reads").await;
    let request = |method: &str, uri: &str, header: Option<(&str, &str)>| {
        let mut builder = http::Request::builder().method(method).uri(uri);
        if let Some((name, value)) = header {
            builder = builder.header(name, value);
        }
        builder.body(bytes::Bytes::new()).expect("request")
    };
    let mut config = livecard_app::Config::new("http://127.0.0.1");
    let (app, _clock) = common::sim_app(store.clone(), config.clone());
    let directory = request("GET", "/api/v1/advisors?topic=billing", None);
    assert_eq!(
        app.shared_read_ttl_ms(&directory),
        0,
        "no shared cache by default"
    );

    config.shared_read_ms = 1_000;
    let (app, _clock) = common::sim_app(store, config);
    assert_eq!(app.shared_read_ttl_ms(&directory), 1_000);
    assert_eq!(
        app.shared_read_ttl_ms(&request("GET", "/api/v1/advisors/anna", None)),
        1_000
    );
    for refused in [
        request("GET", "/api/v1/advisors", Some(("cookie", "lc_session=x"))),
        request(
            "GET",
            "/api/v1/advisors",
            Some(("authorization", "Bearer k")),
        ),
        request("POST", "/api/v1/advisors", None),
        request("GET", "/api/v1/advisors/anna/presence", None),
        request("GET", "/api/v1/me", None),
        request("GET", "/c/token", None),
    ] {
        assert_eq!(
            app.shared_read_ttl_ms(&refused),
            0,
            "{} {}",
            refused.method(),
            refused.uri()
        );
    }
}
