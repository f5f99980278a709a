//! Reports from a seeded event log: real contacts driven through the
//! handlers with simulated time, then the report's CSVs checked against
//! golden files (`tests/golden/reports/`) and their key numbers by hand.
//! `LIVECARD_UPDATE_GOLDEN=1` rewrites the golden files.

mod common;

use bytes::Bytes;
use common::harness::*;
use common::{DOCUMENT_ADMIN_KEY, T0, advisor, id, set_available};
use http::{Method, StatusCode};
use livecard_app::{ClientAddr, Request};
use livecard_core::card::CardRequest;
use serde_json::{Value, json};

/// Nine in the morning, Berlin, on T0's day.
const MORNING: u64 = T0 + 8 * 3_600_000;

impl Harness {
    async fn admin_get(&self, uri: &str) -> (StatusCode, String) {
        let request: Request = http::Request::builder()
            .method(Method::GET)
            .uri(uri)
            .header("host", "livecard.test")
            .header("authorization", format!("Bearer {DOCUMENT_ADMIN_KEY}"))
            .body(Bytes::new())
            .expect("request");
        let response = self.app.handle(request).await;
        let status = response.status();
        (
            status,
            String::from_utf8(response.body().to_vec()).expect("utf-8"),
        )
    }

    async fn open_card(&self, token: &str) {
        let mut request: Request = http::Request::builder()
            .uri(format!("/c/{token}"))
            .header("host", "livecard.test")
            .body(Bytes::new())
            .expect("request");
        request
            .extensions_mut()
            .insert(ClientAddr("198.51.100.4".into()));
        assert_eq!(self.app.handle(request).await.status(), StatusCode::OK);
    }

    async fn accept(&self, who: &str, session: &str) {
        let mut conn = self.advisor_conn(who);
        let answer = self
            .say(&mut conn, json!({"v":1,"type":"accept","session":session}))
            .await;
        assert_eq!(answer[0]["state"], "connected", "{answer:?}");
    }

    async fn visitor_says(&self, session: &str, token: &str, messages: &[Value]) {
        let mut visitor = self.visitor_conn();
        self.say(
            &mut visitor,
            json!({"v":1,"type":"join","session":session,"token":token}),
        )
        .await;
        for message in messages {
            self.say(&mut visitor, message.clone()).await;
        }
    }

    fn at(&self, at: u64) {
        let now = self.app.now();
        assert!(at >= now, "time runs forward");
        self.clock.advance(at - now);
    }
}

/// The seeded day: five contacts, a card campaign, a call through the
/// relay, one missed ring, one abandoned, one offline message.
async fn seeded() -> Harness {
    let h = harness(&[
        advisor("anna", &["sales"], 2),
        advisor("ben", &["sales"], 2),
    ])
    .await;
    h.at(MORNING);
    set_available(&h.app, &id("anna")).await;
    set_available(&h.app, &id("ben")).await;
    let card = h
        .app
        .create_card(CardRequest {
            advisor: id("anna"),
            campaign: Some("winter".into()),
            channels: None,
            expires_in_ms: None,
        })
        .await
        .expect("card");
    let token = card.url.rsplit('/').next().expect("token").to_owned();
    for _ in 0..4 {
        h.open_card(&token).await;
    }

    // 1. Through the card: anna accepts after 5 s, they chat, move to
    //    video through the relay for a minute, and the visitor leaves.
    let (s1, t1, _) = h.start(json!({ "card": token })).await;
    h.at(MORNING + 5_000);
    h.accept("anna", &s1).await;
    h.visitor_says(
        &s1,
        &t1,
        &[
            json!({"v":1,"type":"chat","session":s1,"id":"m1","text":"Hello"}),
            json!({"v":1,"type":"chat","session":s1,"id":"m2","text":"A question"}),
            json!({"v":1,"type":"upgrade","session":s1,"channel":"video"}),
        ],
    )
    .await;
    h.at(MORNING + 20_000);
    h.visitor_says(
        &s1,
        &t1,
        &[json!({"v":1,"type":"call_report","session":s1,"path":"relay"})],
    )
    .await;
    h.at(MORNING + 80_000);
    h.visitor_says(&s1, &t1, &[json!({"v":1,"type":"hangup","session":s1})])
        .await;

    // 2. From the portal at 10:00: the ring times out on one advisor, the
    //    other accepts 40 s after the request; two minutes of chat.
    h.at(MORNING + 3_600_000);
    let (s2, t2, state) = h
        .start(json!({ "topic": "sales", "origin": "portal" }))
        .await;
    let first = state["state"]["advisor"]["id"]
        .as_str()
        .expect("rung")
        .to_owned();
    h.at(MORNING + 3_600_000 + 31_000);
    h.app.sweep().await.expect("sweep");
    h.at(MORNING + 3_600_000 + 40_000);
    let second = if first == "anna" { "ben" } else { "anna" };
    h.accept(second, &s2).await;
    h.at(MORNING + 3_600_000 + 160_000);
    h.visitor_says(&s2, &t2, &[json!({"v":1,"type":"hangup","session":s2})])
        .await;

    // 3. From a widget at 14:00: the visitor leaves after 3 s of ringing.
    h.at(MORNING + 5 * 3_600_000);
    let (s3, t3, _) = h.start(json!({ "origin": "widget" })).await;
    h.at(MORNING + 5 * 3_600_000 + 3_000);
    h.visitor_says(&s3, &t3, &[json!({"v":1,"type":"hangup","session":s3})])
        .await;

    // 4. At 18:00 nobody is available: an offline message.
    h.at(MORNING + 9 * 3_600_000);
    for who in ["anna", "ben"] {
        let update = manual(&h, livecard_core::presence::PresenceState::Offline);
        h.app
            .set_presence(&id(who), &update)
            .await
            .expect("offline");
    }
    let (s4, t4, _) = h.start(json!({ "topic": "sales" })).await;
    let (status, answer) = h
        .post(
            &format!("/api/v1/contacts/{s4}/offline"),
            json!({"token": t4, "name": "Eve", "email": "eve@example.com", "text": "Call me"}),
            "203.0.113.7",
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    h.at(MORNING + 10 * 3_600_000);
    h.app.sweep().await.expect("sweep");
    h
}

fn golden(name: &str, actual: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden/reports")
        .join(format!("{name}.csv"));
    if std::env::var_os("LIVECARD_UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().expect("dir")).expect("dir");
        std::fs::write(&path, actual).expect("write golden");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (LIVECARD_UPDATE_GOLDEN=1 writes it)",
            path.display()
        )
    });
    assert_eq!(actual, expected, "{name}.csv differs from its golden file");
}

fn cell<'a>(csv: &'a str, row: usize, column: &str) -> &'a str {
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().expect("header").split(',').collect();
    let index = header
        .iter()
        .position(|c| *c == column)
        .unwrap_or_else(|| panic!("no column {column}"));
    lines
        .nth(row)
        .expect("row")
        .split(',')
        .nth(index)
        .expect("cell")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seeded_day_gives_known_numbers_in_every_csv() {
    let mut h = seeded().await;
    let _ = &mut h;
    let day = "2026-11-23";
    let base = format!("/api/v1/reports?from={day}&to={day}&time_zone=Europe/Berlin");
    let mut tables = Vec::new();
    for name in livecard_core::report::TABLES {
        let (status, csv) = h
            .admin_get(&format!("{base}&format=csv&table={name}"))
            .await;
        assert_eq!(status, StatusCode::OK, "{name}: {csv}");
        golden(name, &csv);
        tables.push((name, csv));
    }
    let table = |name: &str| {
        tables
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, csv)| csv.as_str())
            .expect("table")
    };
    // The numbers the golden files hold, checked by hand.
    let funnel = table("funnel");
    assert_eq!(cell(funnel, 0, "campaign"), "winter");
    assert_eq!(cell(funnel, 0, "cards_opened"), "4");
    assert_eq!(cell(funnel, 0, "contact_requests"), "1");
    assert_eq!(cell(funnel, 0, "accepted"), "1");
    let contacts = table("contacts");
    assert_eq!(cell(contacts, 0, "day"), day);
    for (column, value) in [
        ("requested", "4"),
        ("accepted", "2"),
        ("abandoned", "1"),
        ("offline", "1"),
        ("missed_rings", "1"),
    ] {
        assert_eq!(cell(contacts, 0, column), value, "{column}");
    }
    let answer = table("answer");
    assert_eq!(cell(answer, 0, "answered"), "2");
    assert_eq!(cell(answer, 0, "answer_median_s"), "5.0");
    assert_eq!(cell(answer, 0, "answer_p90_s"), "40.0");
    // Offered: 4 less the short abandon; within 20 s: the card contact.
    assert_eq!(cell(answer, 0, "service_level"), "0.333");
    let calls = table("calls");
    assert_eq!(cell(calls, 0, "relayed"), "1");
    assert_eq!(cell(calls, 0, "relayed_share"), "1.000");
    let talk = table("talk");
    assert_eq!(cell(talk, 0, "to_video"), "1");
    let hours = table("hours");
    // 2026-11-23 is a Monday; contacts at 9, 10, 14 and 18 Berlin time.
    for hour in ["h09", "h10", "h14", "h18"] {
        assert_eq!(cell(hours, 0, hour), "1", "{hour}");
    }
    let sessions = table("sessions");
    assert_eq!(sessions.lines().count(), 5);
    assert!(!sessions.contains("Eve") && !sessions.contains("Call me"));

    // JSON and HTML come from the same report.
    let (status, body) = h.admin_get(&format!("{base}&format=json")).await;
    assert_eq!(status, StatusCode::OK);
    let json: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(json["tables"].as_array().map(Vec::len), Some(8));
    let (status, page) = h.admin_get(&format!("{base}&format=html")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page.matches("<svg role=\"img\"").count(), 5, "five charts");
    assert!(
        page.contains("<style>") && !page.contains("/assets/app."),
        "the file stands alone: its stylesheet inlined, no script"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_report_requests_are_refused_naming_the_field() {
    let h = harness(&[]).await;
    for (query, says) in [
        ("from=2026-02-30", "from must be a date"),
        (
            "from=2026-12-02&to=2026-12-01",
            "to must not be before from",
        ),
        ("from=2024-01-01&to=2026-01-01", "at most 366 days"),
        ("by=month", "by must be day or week"),
        ("service_level=0", "service_level must be"),
        ("format=pdf", "format must be"),
        ("format=csv", "needs table"),
        ("format=csv&table=nope", "table must be one of"),
    ] {
        let (status, body) = h.admin_get(&format!("/api/v1/reports?{query}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
        assert!(body.contains(says), "{query}: {body}");
    }
    let request: Request = http::Request::builder()
        .uri("/api/v1/reports")
        .header("host", "livecard.test")
        .body(Bytes::new())
        .expect("request");
    assert_eq!(
        h.app.handle(request).await.status(),
        StatusCode::UNAUTHORIZED
    );
}
