//! Contact sessions through the shared handlers, with simulated time,
//! against the embedded DynamoDB-compatible store: routing, ringing,
//! accept/decline/timeout, chat with resume and de-duplication, queue,
//! offline messages, the refusals, and capacity under 200 concurrent
//! contact requests.

mod common;

use bytes::Bytes;
use common::harness::*;
use common::{T0, advisor, id, set_available};
use http::{Method, StatusCode};
use livecard_app::contact::{Connection, Participant};
use livecard_app::{ClientAddr, Request, Response};
use livecard_core::card::CardRequest;
use livecard_core::channel::{Channel, ChannelSet};
use livecard_core::presence::PresenceState;
use livecard_core::session::Side;
use livecard_store::prelude::*;
use serde_json::{Value, json};
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn card_contact_rings_accepts_chats_resumes_and_ends() {
    let h = harness(&[
        advisor("anna", &["sales"], 2),
        advisor("ben", &["sales"], 2),
    ])
    .await;
    let card = h
        .app
        .create_card(CardRequest {
            advisor: id("anna"),
            campaign: None,
            channels: None,
            expires_in_ms: None,
        })
        .await
        .expect("card");
    let token = card.url.rsplit('/').next().expect("token").to_owned();
    let (session, visitor_token, answer) = h.start(json!({ "card": token })).await;
    assert_eq!(answer["state"]["state"], "ringing");
    assert_eq!(answer["state"]["advisor"]["id"], "anna");
    assert!(
        answer["visitor"]
            .as_str()
            .expect("visitor")
            .starts_with("1.vis_")
    );
    let told = h.push.take(&Participant::Advisor(id("anna")));
    let rings = of_type(&told, "ring");
    assert_eq!(rings.len(), 1);
    assert_eq!(rings[0]["session"], session.as_str());
    assert_eq!(h.active("anna").await, 1, "the ring holds a slot");

    // A console Anna opens now (or reloads) shows the ring in progress.
    let opened: http::Request<Bytes> = http::Request::builder()
        .uri("/ws")
        .header("host", "livecard.test")
        .header("sec-fetch-site", "same-origin")
        .header("cookie", advisor_cookie("anna", h.app.now()))
        .body(Bytes::new())
        .expect("request");
    let (console, hello) = h.app.ws_open("conn-late", &opened).await;
    assert_eq!(console.advisor, Some(id("anna")));
    let hello: Vec<Value> = hello
        .iter()
        .map(|m| serde_json::from_str(m).expect("json"))
        .collect();
    let late_rings = of_type(&hello, "ring");
    assert_eq!(late_rings.len(), 1, "{hello:?}");
    assert_eq!(late_rings[0]["session"], session.as_str());

    // Ben cannot take Anna's ring; Anna can.
    let mut ben = h.advisor_conn("ben");
    let refused = h
        .say(&mut ben, json!({"v":1,"type":"accept","session":session}))
        .await;
    assert_eq!(refused[0]["type"], "error");
    assert_eq!(refused[0]["code"], "not_yours");
    let mut anna = h.advisor_conn("anna");
    let accepted = h
        .say(&mut anna, json!({"v":1,"type":"accept","session":session}))
        .await;
    assert_eq!(accepted[0]["state"], "connected");
    let told = h.push.take(&Participant::Visitor(session.clone()));
    assert!(told.iter().any(|m| m["state"] == "connected"));

    // The visitor joins with the token, and only with it.
    let mut visitor = h.visitor_conn();
    let wrong = h
        .say(
            &mut visitor,
            json!({"v":1,"type":"join","session":session,"token":"AAAAAAAAAAAAAAAAAAAAAA"}),
        )
        .await;
    assert_eq!(wrong[0]["code"], "not_found");
    let chat = json!({"v":1,"type":"chat","session":session,"id":"m1","text":"<img src=x onerror=alert(1)>"});
    assert_eq!(
        h.say(&mut visitor, chat.clone()).await[0]["code"],
        "not_found"
    );
    let joined = h
        .say(
            &mut visitor,
            json!({"v":1,"type":"join","session":session,"token":visitor_token}),
        )
        .await;
    assert_eq!(joined[0]["type"], "session", "{joined:?}");
    assert_eq!(joined.last().expect("joined")["type"], "joined");

    // Chat both ways; a resend of the same id is acknowledged, not stored twice.
    let ack = h.say(&mut visitor, chat.clone()).await;
    assert_eq!(ack[0]["type"], "ack");
    let first_key = ack[0]["key"].as_str().expect("key").to_owned();
    let resend = h.say(&mut visitor, chat).await;
    assert_eq!(resend[0]["type"], "ack");
    assert!(resend[0].get("key").is_none());
    // Past the replay margin (a join replays from a little before its key).
    h.clock
        .advance(livecard_app::contact::ws::REPLAY_MARGIN_MS + 1000);
    h.say(
        &mut anna,
        json!({"v":1,"type":"chat","session":session,"id":"a1","text":"Hello!"}),
    )
    .await;
    let to_anna = h.push.take(&Participant::Advisor(id("anna")));
    let chats = of_type(&to_anna, "chat");
    assert_eq!(chats.len(), 2, "each message once");
    assert_eq!(chats[0]["text"], "<img src=x onerror=alert(1)>");

    // A rejoin after the first message gets only what came after it (and
    // what was stored within the margin before it: nothing here).
    let mut reloaded = h.visitor_conn();
    let resumed = h
        .say(
            &mut reloaded,
            json!({"v":1,"type":"join","session":session,"token":visitor_token,"after":first_key}),
        )
        .await;
    let replayed = of_type(&resumed, "chat");
    assert_eq!(replayed.len(), 1);
    assert_eq!(replayed[0]["text"], "Hello!");
    let all = h
        .say(
            &mut reloaded,
            json!({"v":1,"type":"join","session":session,"token":visitor_token}),
        )
        .await;
    assert_eq!(of_type(&all, "chat").len(), 2);

    // Typing goes to the other side only.
    h.push.take(&Participant::Visitor(session.clone()));
    h.say(&mut anna, json!({"v":1,"type":"typing","session":session}))
        .await;
    let typing = h.push.take(&Participant::Visitor(session.clone()));
    assert_eq!(typing[0]["type"], "typing");
    assert_eq!(typing[0]["side"], "advisor");

    // The visitor hangs up: the slot is free again, the session ended.
    h.clock.advance(60_000);
    h.say(
        &mut visitor,
        json!({"v":1,"type":"hangup","session":session}),
    )
    .await;
    assert_eq!(h.active("anna").await, 0);
    let late = h
        .say(
            &mut anna,
            json!({"v":1,"type":"chat","session":session,"id":"a2","text":"still there?"}),
        )
        .await;
    assert_eq!(late[0]["code"], "ended");

    // Events: every step, never the text.
    h.app.sweep().await.expect("sweep");
    let day = livecard_core::event::utc_day(T0);
    let events = h
        .app
        .store
        .list_events(&day, &livecard_store::PageRequest::first(100))
        .await
        .expect("events");
    let names: Vec<&str> = events.items.iter().map(|e| e.name.as_str()).collect();
    for expected in [
        "contact_requested",
        "routed",
        "ringing",
        "accepted",
        "chat_message",
        "session_ended",
    ] {
        assert!(names.contains(&expected), "{expected} in {names:?}");
    }
    let ended = events
        .items
        .iter()
        .find(|e| e.name.as_str() == "session_ended")
        .expect("ended");
    assert_eq!(ended.props["talk_ms"], 91_000);
    assert_eq!(ended.props["messages"], 2);
    let text = serde_json::to_string(&events.items).expect("json");
    assert!(!text.contains("onerror") && !text.contains("Hello!"));

    // Affinity: the same visitor, back through the portal, goes to Anna
    // although Ben has more room.
    let signed = answer["visitor"].as_str().expect("visitor");
    let (_, _, again) = h
        .start(json!({ "topic": "sales", "visitor": signed }))
        .await;
    assert_eq!(again["state"]["advisor"]["id"], "anna");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decline_and_timeout_move_on_and_nobody_free_offers_choices() {
    let h = harness(&[
        advisor("anna", &["sales"], 1),
        advisor("ben", &["sales"], 1),
    ])
    .await;
    let (session, token, answer) = h.start(json!({ "advisor": "anna" })).await;
    assert_eq!(answer["state"]["advisor"]["id"], "anna");
    let mut visitor = h.visitor_conn();
    h.say(
        &mut visitor,
        json!({"v":1,"type":"join","session":session,"token":token}),
    )
    .await;
    // Anna declines: a card/advisor request offers a colleague or a message.
    let mut anna = h.advisor_conn("anna");
    h.say(&mut anna, json!({"v":1,"type":"decline","session":session}))
        .await;
    let told = h.push.take(&Participant::Visitor(session.clone()));
    let last = of_type(&told, "session").pop().expect("state");
    assert_eq!(last["state"], "routing");
    assert_eq!(last["options"], json!(["colleague", "offline"]));
    assert_eq!(h.active("anna").await, 0);
    let stop = h.push.take(&Participant::Advisor(id("anna")));
    assert!(stop.iter().any(|m| m["type"] == "ring_stop"));

    // The visitor takes a colleague: Ben rings; his ring times out (sweep),
    // and with nobody else, the visitor is offered the queue or a message.
    h.say(
        &mut visitor,
        json!({"v":1,"type":"colleague","session":session}),
    )
    .await;
    let rings = h.push.take(&Participant::Advisor(id("ben")));
    assert_eq!(of_type(&rings, "ring").len(), 1);
    h.clock.advance(30_000);
    let report = h.app.sweep().await.expect("sweep");
    assert_eq!(report.due, 1);
    assert_eq!(h.active("ben").await, 0);
    let told = h.push.take(&Participant::Visitor(session.clone()));
    let last = of_type(&told, "session").pop().expect("state");
    assert_eq!(last["options"], json!(["wait", "offline"]));

    // The visitor leaves an offline message: it lands in the topic's inbox.
    let (status, _) = h
        .post(
            &format!("/api/v1/contacts/{session}/offline"),
            json!({"token": "AAAAAAAAAAAAAAAAAAAAAA", "name": "Eve", "email": "e@example.com", "text": "hi"}),
            "203.0.113.7",
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a wrong token");
    let (status, error) = h
        .post(
            &format!("/api/v1/contacts/{session}/offline"),
            json!({"token": token, "name": "Eve", "email": "not-an-email", "text": "hi"}),
            "203.0.113.7",
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        error["error"]["message"]
            .as_str()
            .expect("message")
            .contains("email")
    );
    let (status, filed) = h
        .post(
            &format!("/api/v1/contacts/{session}/offline"),
            json!({"token": token, "name": "Eve", "email": "eve@example.com", "text": "Please call me"}),
            "203.0.113.7",
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(filed["inbox"], "topic:sales");
    let inbox = h
        .app
        .store
        .list_inbox("topic:sales", None, 10)
        .await
        .expect("inbox");
    assert_eq!(inbox[0].text, "Please call me");
    let told = h.push.take(&Participant::Visitor(session.clone()));
    assert_eq!(
        of_type(&told, "session").pop().expect("state")["reason"],
        "offline_message"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_serves_in_order_with_live_positions() {
    let h = harness(&[advisor("anna", &["sales"], 1)]).await;
    let (first, first_token, a) = h.start(json!({ "topic": "sales" })).await;
    assert_eq!(a["state"]["state"], "ringing");
    let mut anna = h.advisor_conn("anna");
    h.say(&mut anna, json!({"v":1,"type":"accept","session":first}))
        .await;
    let mut waiting = Vec::new();
    for _ in 0..3 {
        let (session, token, answer) = h.start(json!({ "topic": "sales" })).await;
        assert_eq!(answer["state"]["state"], "routing");
        assert_eq!(answer["state"]["options"], json!(["wait", "offline"]));
        let mut conn = h.visitor_conn();
        conn.id = format!("conn-{session}");
        h.say(
            &mut conn,
            json!({"v":1,"type":"join","session":session,"token":token}),
        )
        .await;
        h.clock.advance(10);
        h.say(&mut conn, json!({"v":1,"type":"wait","session":session}))
            .await;
        waiting.push((session, conn));
    }
    let positions: Vec<u64> = waiting
        .iter()
        .map(|(s, _)| {
            let told = h.push.take(&Participant::Visitor(s.clone()));
            of_type(&told, "queue")
                .last()
                .map(|m| m["position"].as_u64().expect("position"))
                .expect("a position")
        })
        .collect();
    assert_eq!(positions, vec![1, 2, 3]);
    // A rejoin shows the place too.
    let (second, conn) = &mut waiting[1];
    let rejoin = h
        .say(
            conn,
            json!({"v":1,"type":"join","session":second.clone(),"token":livecard_core::session::session_token(&[3; 32], second)}),
        )
        .await;
    assert_eq!(of_type(&rejoin, "queue")[0]["position"], 2);

    // Anna ends her chat: the first in line is rung, the others move up.
    let mut visitor = h.visitor_conn();
    h.say(
        &mut visitor,
        json!({"v":1,"type":"join","session":first,"token":first_token}),
    )
    .await;
    h.say(&mut anna, json!({"v":1,"type":"hangup","session":first}))
        .await;
    let told = h.push.take(&Participant::Visitor(waiting[0].0.clone()));
    assert_eq!(
        of_type(&told, "session").pop().expect("state")["state"],
        "ringing"
    );
    let told = h.push.take(&Participant::Visitor(waiting[2].0.clone()));
    assert_eq!(of_type(&told, "queue").pop().expect("queue")["position"], 2);

    // Queue timeout ends the wait.
    h.clock.advance(10 * 60_000 + 1);
    h.app.sweep().await.expect("sweep");
    let told = h.push.take(&Participant::Visitor(waiting[2].0.clone()));
    let ended = of_type(&told, "session").pop().expect("state").clone();
    assert_eq!(ended["state"], "ended");
    assert_eq!(ended["reason"], "queue_timeout");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_leave_the_connection_usable() {
    let h = harness(&[advisor("anna", &["sales"], 1)]).await;
    let mut conn = h.visitor_conn();
    let cases = [
        ("{\"v\":1,\"type\":\"fax\"}".to_owned(), "unknown_type"),
        (
            "{\"v\":9,\"type\":\"ping\"}".to_owned(),
            "unsupported_version",
        ),
        ("not json".to_owned(), "malformed"),
        ("x".repeat(20_000), "too_large"),
        (
            "{\"v\":1,\"type\":\"join\",\"session\":\"nope\",\"token\":\"t\"}".to_owned(),
            "not_found",
        ),
        (
            "{\"v\":1,\"type\":\"accept\",\"session\":\"nope\"}".to_owned(),
            "not_found",
        ),
    ];
    for (text, code) in cases {
        let replies = h.app.ws_message(&mut conn, &text).await;
        let reply: Value = serde_json::from_str(&replies.messages[0]).expect("json");
        assert_eq!(reply["type"], "error");
        assert_eq!(reply["code"], code, "{}", &text[..text.len().min(40)]);
        assert!(replies.close.is_none());
    }
    let not_an_advisor = h
        .say(
            &mut conn,
            json!({"v":1,"type":"presence","states":{"chat":"busy"}}),
        )
        .await;
    assert_eq!(not_an_advisor[0]["code"], "not_found");
    // An advisor's console sets presence over the socket; every console of
    // theirs hears the result.
    let mut anna = h.advisor_conn("anna");
    h.clock.advance(1); // newer than the seeded presence (ties are stale)
    h.say(
        &mut anna,
        json!({"v":1,"type":"presence","states":{"chat":"busy"}}),
    )
    .await;
    let told = h.push.take(&Participant::Advisor(id("anna")));
    let presence = of_type(&told, "presence");
    assert_eq!(
        presence.last().map(|p| p["presence"]["chat"].clone()),
        Some(json!("busy"))
    );
    let pong = h.say(&mut conn, json!({"v":1,"type":"ping"})).await;
    assert_eq!(pong[0]["type"], "pong", "still usable");

    // A flood is rate-limited, then cut off.
    let mut limited = 0;
    let mut closed = false;
    for _ in 0..400 {
        let replies = h
            .app
            .ws_message(&mut conn, "{\"v\":1,\"type\":\"ping\"}")
            .await;
        if replies.messages[0].contains("rate_limited") {
            limited += 1;
        }
        if let Some(reason) = replies.close {
            assert_eq!(reason.code(), 1008, "a policy violation");
            closed = true;
            break;
        }
    }
    assert!(limited > 100);
    assert!(closed, "a client that keeps flooding is disconnected");

    // Bad contact requests get clear answers.
    let bad = [
        (json!({"topic": "Not A Slug"}), StatusCode::BAD_REQUEST),
        (json!({"card": "1.k1.garbage.x"}), StatusCode::NOT_FOUND),
        (json!({"advisor": "nobody"}), StatusCode::NOT_FOUND),
        (json!({"channel": "fax"}), StatusCode::BAD_REQUEST),
        (json!({"surprise": 1}), StatusCode::BAD_REQUEST),
    ];
    for (body, status) in bad {
        let (got, answer) = h
            .post("/api/v1/contacts", body.clone(), "198.51.100.1")
            .await;
        assert_eq!(got, status, "{body} → {answer}");
        assert!(answer["error"]["message"].is_string());
    }
    // Junk is refused without counting: it locks nobody out, not even
    // the address that sent it.
    for _ in 0..100 {
        let (status, _) = h
            .post(
                "/api/v1/contacts",
                json!({"topic": "Not A Slug"}),
                "198.51.100.2",
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }
    // One client cannot open contacts without end: its whole allowance,
    // then 429 (the junk above did not use any of it). IPv6 counts per /64.
    for addr in ["198.51.100.2", "2001:db8:1:2::1"] {
        let mut created = 0;
        let mut last = StatusCode::CREATED;
        for n in 0..40 {
            // Each request from another address of the same /64.
            let addr = if addr.contains(':') {
                format!("2001:db8:1:2::{n:x}")
            } else {
                addr.to_owned()
            };
            let (status, _) = h
                .post("/api/v1/contacts", json!({"topic": "sales"}), &addr)
                .await;
            created += u32::from(status == StatusCode::CREATED);
            last = status;
        }
        assert_eq!(
            created,
            livecard_app::contact::http::CONTACTS_PER_WINDOW,
            "{addr}"
        );
        assert_eq!(last, StatusCode::TOO_MANY_REQUESTS, "{addr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_contact_requests_never_exceed_capacity() {
    let advisors = common::capacity_advisors();
    let h = Arc::new(harness(&advisors).await);
    // Bare requests (no socket joins) ring nobody and hold no slot.
    for n in 0..50u32 {
        let (status, answer) = h
            .post(
                "/api/v1/contacts",
                json!({"topic": "sales"}),
                &format!("192.0.2.{n}"),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
        assert_eq!(answer["state"]["state"], "routing");
        assert_eq!(answer["state"]["options"], json!([]), "nothing offered yet");
    }
    for a in &advisors {
        assert_eq!(
            h.active(a.id.as_str()).await,
            0,
            "{} rung by a bare request",
            a.id
        );
    }
    // Visitors whose sockets join at once, as the pages do (the scenario
    // the Lambda test runs too).
    let store = h.app.store.clone();
    common::concurrent_requests_never_exceed_capacity(&store, |n| {
        let h = h.clone();
        async move {
            // Distinct addresses: the per-client limit is not what is tested.
            let addr = format!("198.51.{}.{}", n / 200, n % 200);
            let (status, answer) = h
                .post("/api/v1/contacts", json!({"topic": "sales"}), &addr)
                .await;
            assert_eq!(status, StatusCode::CREATED, "{answer}");
            let session = answer["session"].as_str().expect("session").to_owned();
            h.join(answer).await;
            session
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inactivity_counts_chat_messages_stored_apart_from_the_session() {
    let h = harness(&[advisor("anna", &["sales"], 1)]).await;
    let (session, _, _anna, mut visitor) = h.connected(json!({ "topic": "sales" }), "anna").await;
    // A message 14 minutes in keeps the session alive past the 15 minutes
    // counted from the accept.
    h.clock.advance(14 * 60_000);
    h.say(
        &mut visitor,
        json!({"v":1,"type":"chat","session":session,"id":"late","text":"still here"}),
    )
    .await;
    h.clock.advance(60_000 + 1);
    h.app.sweep().await.expect("sweep");
    let stored = h
        .app
        .store
        .get_session(&session)
        .await
        .expect("read")
        .expect("session");
    assert!(
        matches!(
            stored.session.phase,
            livecard_core::session::Phase::Connected { .. }
        ),
        "a recent message keeps it open"
    );
    assert_eq!(stored.session.messages, 1);
    // Quiet for 15 minutes after that message: ended, slot released.
    h.clock.advance(14 * 60_000);
    h.app.sweep().await.expect("sweep");
    let stored = h
        .app
        .store
        .get_session(&session)
        .await
        .expect("read")
        .expect("session");
    assert!(matches!(
        stored.session.phase,
        livecard_core::session::Phase::Ended {
            reason: livecard_core::session::EndReason::Inactivity,
            ..
        }
    ));
    assert_eq!(h.active("anna").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweep_serves_a_queue_when_someone_comes_online() {
    let h = harness(&[advisor("anna", &["sales"], 1)]).await;
    h.clock.advance(1);
    let away = manual(&h, PresenceState::Away);
    h.app.set_presence(&id("anna"), &away).await.expect("away");
    let (session, token, answer) = h.start(json!({ "topic": "sales" })).await;
    assert_eq!(answer["state"]["options"], json!(["wait", "offline"]));
    let mut visitor = h.visitor_conn();
    h.say(
        &mut visitor,
        json!({"v":1,"type":"join","session":session,"token":token}),
    )
    .await;
    h.say(&mut visitor, json!({"v":1,"type":"wait","session":session}))
        .await;
    // Anna comes back in the store without this instance serving the
    // queue (another instance set it and stopped): the sweep serves it.
    h.clock.advance(1);
    let back = manual(&h, PresenceState::Available);
    h.app
        .store
        .update_presence(&id("anna"), &back, &h.app.config.presence, h.app.now())
        .await
        .expect("presence");
    let report = h.app.sweep().await.expect("sweep");
    assert_eq!(report.routed, 1);
    let rings = h.push.take(&Participant::Advisor(id("anna")));
    assert_eq!(of_type(&rings, "ring").len(), 1);
    h.app
        .end_session(&session, livecard_core::session::EndReason::VisitorLeft)
        .await
        .expect("end");

    // Every source sets presence through one path: a company system (an
    // admin update here) that brings Anna back serves the queue at once,
    // and her consoles hear it.
    h.clock.advance(1);
    let away = manual(&h, PresenceState::Away);
    h.app.set_presence(&id("anna"), &away).await.expect("away");
    let (second, token, _) = h.start(json!({ "topic": "sales" })).await;
    let mut visitor = h.visitor_conn();
    h.say(
        &mut visitor,
        json!({"v":1,"type":"join","session":second,"token":token}),
    )
    .await;
    h.say(&mut visitor, json!({"v":1,"type":"wait","session":second}))
        .await;
    h.push.take(&Participant::Advisor(id("anna")));
    h.clock.advance(1);
    set_available(&h.app, &id("anna")).await;
    let told = h.push.take(&Participant::Advisor(id("anna")));
    assert_eq!(of_type(&told, "presence").len(), 1, "the console hears it");
    assert_eq!(of_type(&told, "ring").len(), 1, "rung without a sweep");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ice_servers_go_to_the_sessions_participants_only() {
    use livecard_core::media::MediaNode;
    let h = harness(&[
        advisor("anna", &["sales"], 1),
        advisor("ben", &["sales"], 1),
    ])
    .await;
    let now = h.app.now();
    let node = |id: &str, load: u32, hb: u64| MediaNode {
        id: id.into(),
        host: "203.0.113.10".into(),
        turn_port: 3478,
        tls_port: None,
        capacity: 100,
        load,
        heartbeat_until: hb,
        sessions: Vec::new(),
    };
    for n in [
        node("busy", 90, now + 30_000),
        node("idle", 5, now + 30_000),
        node("calm", 20, now + 30_000),
        node("stopped", 0, now - 1),
    ] {
        h.app.store.put_media_node(&n).await.expect("node");
    }
    let (session, token, answer) = h.start(json!({ "advisor": "anna" })).await;
    assert_eq!(answer["state"]["advisor"]["id"], "anna");
    let path = format!("/api/v1/contacts/{session}/ice-servers");

    // While it only rings, nobody gets relay credentials: a bare contact
    // request cannot borrow the relay.
    let (status, refused) = h
        .post(&path, json!({ "token": token }), "203.0.113.7")
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    assert_eq!(refused["error"]["code"], "not_connected");
    let mut anna = h.advisor_conn("anna");
    let accepted = h
        .say(&mut anna, json!({"v":1,"type":"accept","session":session}))
        .await;
    assert_eq!(accepted[0]["state"], "connected", "{accepted:?}");

    // The visitor, with the session token.
    let (status, ice) = h
        .post(&path, json!({ "token": token }), "203.0.113.7")
        .await;
    assert_eq!(status, StatusCode::OK, "{ice}");
    assert_eq!(ice["ice_transport_policy"], "all");
    let servers = ice["ice_servers"].as_array().expect("servers");
    // Two nodes, least loaded first (the stopped one never), STUN + TURN each.
    assert_eq!(servers.len(), 4, "{ice}");
    let turn = &servers[1];
    let username = turn["username"].as_str().expect("username");
    assert_eq!(
        livecard_core::turn::check_username(username, now),
        Ok(format!("{session}-visitor").as_str())
    );
    assert_eq!(
        turn["credential"].as_str(),
        Some(livecard_core::turn::password_for(&[9; 32], username).as_str())
    );
    assert_eq!(
        ice["expires_at"].as_u64(),
        Some((now + livecard_core::turn::DEFAULT_TTL_MS).div_ceil(1000) * 1000)
    );

    // The advisor it rings, by cookie from our own pages.
    let cookie = |who: &str| advisor_cookie(who, now);
    let ask = |who: &str, same_origin: bool| {
        let mut builder = http::Request::builder()
            .method(Method::POST)
            .uri(&path)
            .header("host", "livecard.test")
            .header("cookie", cookie(who));
        let site = if same_origin {
            "same-origin"
        } else {
            "cross-site"
        };
        builder = builder.header("sec-fetch-site", site);
        builder.body(Bytes::new()).expect("request")
    };
    let response = h.app.handle(ask("anna", true)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = serde_json::from_slice(response.body()).expect("json");
    let username = body["ice_servers"][1]["username"]
        .as_str()
        .expect("username");
    assert!(
        username.ends_with(&format!(":{session}-anna")),
        "{username}"
    );

    // Nobody else: another advisor, a cross-site request, a wrong token.
    assert_eq!(
        h.app.handle(ask("ben", true)).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        h.app.handle(ask("anna", false)).await.status(),
        StatusCode::NOT_FOUND
    );
    let (status, _) = h
        .post(
            &path,
            json!({ "token": "AAAAAAAAAAAAAAAAAAAAAA" }),
            "203.0.113.7",
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = h
        .post(&path, json!({ "token": token, "extra": 1 }), "203.0.113.7")
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Once the session has ended, nothing new.
    h.say(&mut anna, json!({"v":1,"type":"hangup","session":session}))
        .await;
    let (status, refused) = h
        .post(&path, json!({ "token": token }), "203.0.113.7")
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    assert_eq!(refused["error"]["code"], "ended");
    // An ended session has no current advisor: to Anna it is gone.
    assert_eq!(
        h.app.handle(ask("anna", true)).await.status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_signals_pass_between_the_sessions_sides_only_during_a_call() {
    let h = harness(&[
        advisor("anna", &["sales"], 2),
        advisor("ben", &["sales"], 2),
    ])
    .await;
    let update = h
        .app
        .config
        .presence
        .manual_update(
            vec![(Channel::Video, PresenceState::Available)],
            h.app.now(),
            h.app.now() + livecard_core::presence::MAX_MANUAL_MS,
        )
        .expect("update");
    h.app
        .set_presence(&id("anna"), &update)
        .await
        .expect("presence");
    let (session, token, answer) = h
        .start(json!({ "advisor": "anna", "channel": "video" }))
        .await;
    assert_eq!(answer["state"]["state"], "ringing", "{answer}");
    let mut visitor = h.visitor_conn();
    let mut anna = h.advisor_conn("anna");
    let mut ben = h.advisor_conn("ben");
    h.say(
        &mut visitor,
        json!({"v":1,"type":"join","session":session,"token":token}),
    )
    .await;
    let offer = json!({"v":1,"type":"signal","session":session,"call":"c1","kind":"offer","sdp":"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n"});
    // Not connected yet: no call to signal in.
    let replies = h.say(&mut visitor, offer.clone()).await;
    assert_eq!(replies[0]["code"], "not_connected", "{replies:?}");
    h.say(&mut anna, json!({"v":1,"type":"accept","session":session}))
        .await;
    h.push.take(&Participant::Visitor(session.clone()));
    h.push.take(&Participant::Advisor(id("anna")));
    // Connected as a video contact: the call is on; the offer reaches Anna as it was.
    let replies = h.say(&mut visitor, offer.clone()).await;
    assert!(replies.is_empty(), "{replies:?}");
    let to_anna = h.push.take(&Participant::Advisor(id("anna")));
    let signals = of_type(&to_anna, "signal");
    assert_eq!(signals.len(), 1, "{to_anna:?}");
    assert_eq!(signals[0]["side"], "visitor");
    assert_eq!(signals[0]["sdp"], offer["sdp"]);
    assert_eq!(signals[0]["call"], "c1");
    // Anna's candidate reaches the visitor.
    let candidate = json!({"v":1,"type":"signal","session":session,"call":"c1","kind":"candidate","candidate":{"candidate":"candidate:1 1 udp 41885439 127.0.0.1 50000 typ relay raddr 0.0.0.0 rport 0","sdpMid":"0","sdpMLineIndex":0}});
    assert!(h.say(&mut anna, candidate).await.is_empty());
    let to_visitor = h.push.take(&Participant::Visitor(session.clone()));
    assert_eq!(
        of_type(&to_visitor, "signal")[0]["candidate"]["sdpMid"],
        "0"
    );
    // Another advisor cannot signal into it (answered like a missing session).
    let replies = h.say(&mut ben, offer.clone()).await;
    assert_eq!(replies[0]["code"], "not_found");
    assert!(
        h.push
            .take(&Participant::Visitor(session.clone()))
            .is_empty()
    );
    // Bad SDP is refused with an error; the connection stays usable.
    let replies = h
        .say(&mut visitor, json!({"v":1,"type":"signal","session":session,"call":"c1","kind":"offer","sdp":"<html>"}))
        .await;
    assert_eq!(replies[0]["code"], "invalid_field");
    // In the call, Anna's audio and video are busy (the `call` source),
    // over her manual "available"; chat is not.
    let decision = |channel| {
        let h = &h;
        async move {
            let record = h
                .app
                .store
                .get_advisor(&id("anna"))
                .await
                .expect("get")
                .expect("anna");
            record.presence.decide(
                channel,
                record.advisor.channels,
                &h.app.config.presence,
                h.app.now(),
            )
        }
    };
    let video = decision(Channel::Video).await;
    assert_eq!(
        (video.state, video.rule, video.source),
        (
            PresenceState::Busy,
            livecard_core::presence::Rule::OnCall,
            Some(livecard_core::presence::PresenceSource::Call)
        )
    );
    assert_eq!(
        decision(Channel::Chat).await.state,
        PresenceState::Available
    );
    // A report names the path once (an event); back to chat ends the call
    // and signals are refused.
    h.say(
        &mut visitor,
        json!({"v":1,"type":"call_report","session":session,"path":"relay"}),
    )
    .await;
    h.clock.advance(1000);
    h.say(
        &mut anna,
        json!({"v":1,"type":"upgrade","session":session,"channel":"chat"}),
    )
    .await;
    assert_eq!(
        decision(Channel::Video).await.state,
        PresenceState::Available,
        "the call ended: video is free again"
    );
    let replies = h.say(&mut visitor, offer).await;
    assert_eq!(replies[0]["code"], "no_call");
    let replies = h
        .say(
            &mut visitor,
            json!({"v":1,"type":"call_report","session":session,"path":"relay"}),
        )
        .await;
    assert_eq!(replies[0]["code"], "no_call");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_messages_one_per_session_limited_per_address_and_paged() {
    // Nobody available: every contact is offered an offline message.
    let h = harness(&[]).await;
    h.app
        .save_advisor(&advisor("anna", &["sales"], 1))
        .await
        .expect("advisor");
    let leave = |session: String, token: String, addr: &'static str| {
        let h = &h;
        async move {
            let message = json!({"token": token, "name": "Eve", "email": "eve@example.com", "text": "Call me"});
            h.post(
                &format!("/api/v1/contacts/{session}/offline"),
                message,
                addr,
            )
            .await
        }
    };
    let contact = |addr: &'static str| {
        let h = &h;
        async move {
            let (status, answer) = h
                .post("/api/v1/contacts", json!({"topic": "sales"}), addr)
                .await;
            assert_eq!(status, StatusCode::CREATED, "{answer}");
            (
                answer["session"].as_str().expect("session").to_owned(),
                answer["token"].as_str().expect("token").to_owned(),
            )
        }
    };

    // Two messages racing for one session: one lands, one is refused.
    let (session, token) = contact("192.0.2.1").await;
    let (a, b) = tokio::join!(
        leave(session.clone(), token.clone(), "192.0.2.1"),
        leave(session.clone(), token.clone(), "192.0.2.1")
    );
    let mut statuses = [a.0, b.0];
    statuses.sort();
    assert_eq!(
        statuses,
        [StatusCode::CREATED, StatusCode::CONFLICT],
        "{a:?} {b:?}"
    );
    // The session has ended with it: nothing more is taken.
    let (status, answer) = leave(session, token, "192.0.2.1").await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(answer["error"]["code"], "ended", "{answer}");

    // A session the visitor ended takes no message either.
    let (session, token) = contact("192.0.2.1").await;
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
    let (status, answer) = leave(session, token, "192.0.2.1").await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("ended"))
    );

    // One address cannot bury an inbox: after a few, 429 with Retry-After.
    let mut last = None;
    for _ in 0..10 {
        let (session, token) = contact("192.0.2.2").await;
        let message =
            json!({"token": token, "name": "Eve", "email": "eve@example.com", "text": "spam"});
        let mut request: Request = http::Request::builder()
            .method(Method::POST)
            .uri(format!("/api/v1/contacts/{session}/offline"))
            .header("host", "livecard.test")
            .header("content-type", "application/json")
            .body(Bytes::from(message.to_string()))
            .expect("request");
        request
            .extensions_mut()
            .insert(ClientAddr("192.0.2.2".to_owned()));
        let response = h.app.handle(request).await;
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            last = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            break;
        }
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    let retry = last.expect("the per-address limit refused one");
    assert!((1..=3600).contains(&retry), "Retry-After {retry}");

    // The console's inbox pages through all of them, newest first: 70
    // messages in Anna's own and her topic's inboxes, pages of 20.
    for n in 0..70u64 {
        let inbox = if n % 2 == 0 {
            livecard_core::offline::Inbox::Advisor(id("anna"))
        } else {
            livecard_core::offline::Inbox::Topic("sales".into())
        };
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&n.to_le_bytes());
        let message = livecard_core::offline::OfflineMessage::new(
            livecard_core::ids::RandomId::from_bytes(bytes),
            inbox,
            "Eve",
            "eve@example.com",
            &format!("message {n}"),
            // Pairs share an instant: the id orders them.
            T0 + n / 2,
        )
        .expect("message");
        h.app
            .store
            .put_offline_message(&message, T0 + 86_400_000)
            .await
            .expect("put");
    }
    let cookie = advisor_cookie("anna", h.app.now());
    let mut cursor: Option<String> = None;
    let mut seen: Vec<(u64, String)> = Vec::new();
    let mut pages = 0;
    loop {
        let uri = match &cursor {
            Some(c) => format!("/api/v1/me/inbox?limit=20&cursor={c}"),
            None => "/api/v1/me/inbox?limit=20".to_owned(),
        };
        let request: Request = http::Request::builder()
            .uri(uri)
            .header("host", "livecard.test")
            .header("cookie", &cookie)
            .body(Bytes::new())
            .expect("request");
        let response = h.app.handle(request).await;
        assert_eq!(response.status(), StatusCode::OK);
        let page: Value = serde_json::from_slice(response.body()).expect("json");
        let items = page["items"].as_array().expect("items");
        assert!(items.len() <= 20);
        seen.extend(items.iter().map(|m| {
            (
                m["at"].as_u64().expect("at"),
                m["id"].as_str().expect("id").to_owned(),
            )
        }));
        pages += 1;
        match page["next"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
        assert!(pages < 10, "the cursor moves on");
    }
    // 70 put here, plus the two messages of 192.0.2.1 and the ones of
    // 192.0.2.2 before its limit: all in Anna's topic inbox.
    let filed = 1 + livecard_app::contact::http::OFFLINE_PER_WINDOW as usize;
    assert_eq!(seen.len(), 70 + filed, "every message once");
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), seen.len(), "no message twice");
    assert!(
        seen.windows(2).all(|w| w[0].0 >= w[1].0),
        "newest first across pages"
    );
    let bad: Request = http::Request::builder()
        .uri("/api/v1/me/inbox?cursor=garbage")
        .header("host", "livecard.test")
        .header("cookie", &cookie)
        .body(Bytes::new())
        .expect("request");
    assert_eq!(h.app.handle(bad).await.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cards_channels_are_enforced_not_only_hidden() {
    let h = harness(&[advisor("anna", &["sales"], 2)]).await;
    let card = h
        .app
        .create_card(CardRequest {
            advisor: id("anna"),
            campaign: None,
            channels: Some(ChannelSet::NONE.with(Channel::Chat)),
            expires_in_ms: None,
        })
        .await
        .expect("card");
    let token = card.url.rsplit('/').next().expect("token").to_owned();
    // A chat-only card cannot ring a video call...
    let (status, refused) = h
        .post(
            "/api/v1/contacts",
            json!({ "card": token, "channel": "video" }),
            "203.0.113.7",
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    assert_eq!(refused["error"]["code"], "channel_not_offered");
    // ...nor turn its chat into one, from either side.
    let (session, _, mut anna, mut visitor) = h.connected(json!({ "card": token }), "anna").await;
    for conn in [&mut visitor, &mut anna] {
        let replies = h
            .say(
                conn,
                json!({"v":1,"type":"upgrade","session":session,"channel":"video"}),
            )
            .await;
        assert_eq!(replies[0]["code"], "channel_not_offered", "{replies:?}");
    }
    let stored = h
        .app
        .store
        .get_session(&session)
        .await
        .expect("read")
        .expect("session");
    assert_eq!(stored.session.channel, Channel::Chat);
    assert!(stored.session.call.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ending_an_advisors_sessions_closes_their_open_consoles() {
    let h = harness(&[advisor("anna", &["sales"], 1)]).await;
    assert!(h.app.end_advisor_sessions(&id("anna")).await.expect("end"));
    let told = h.push.take(&Participant::Advisor(id("anna")));
    assert!(
        told.iter().any(|m| m["disconnected"] == true),
        "the consoles were closed: {told:?}"
    );
    assert!(
        !h.app
            .end_advisor_sessions(&id("nobody"))
            .await
            .expect("end")
    );
    assert!(h.push.take(&Participant::Advisor(id("nobody"))).is_empty());
}

/// One step of the chat property below.
#[derive(Debug, Clone)]
enum ChatStep {
    /// A side sends a new message.
    Send(Side),
    /// A side sends one of its messages again (a client that did not see
    /// the ack).
    Resend(Side, usize),
    /// A side's socket drops: what is pushed to it is lost.
    Drop(Side),
    /// A side reconnects and joins with the last key it saw.
    Reconnect(Side),
    /// Time passes (0: the next message in the same millisecond).
    Tick(u64),
}

/// A client as the pages are: shows each key once, remembers the largest.
struct ChatClient {
    conn: Connection,
    online: bool,
    shown: Vec<String>,
    last: Option<String>,
    sent: Vec<String>,
}

impl ChatClient {
    fn show(&mut self, messages: &[Value]) {
        for m in of_type(messages, "chat") {
            let key = m["key"].as_str().expect("key").to_owned();
            if !self.shown.contains(&key) {
                self.shown.push(key.clone());
            }
            if self.last.as_ref().is_none_or(|last| key > *last) {
                self.last = Some(key);
            }
        }
    }
}

/// No chat message is lost or shown twice, whatever the interleaving of
/// sends, resends, dropped sockets and reconnects, including messages of
/// both sides in the same millisecond: run through the handlers and the
/// real store. Cases: `PROPTEST_CASES` (default 64).
async fn chat_survives_reconnects(steps: Vec<ChatStep>) {
    let h = harness(&[advisor("anna", &["sales"], 1)]).await;
    let (session, token, advisor_conn, visitor_conn) =
        h.connected(json!({ "topic": "sales" }), "anna").await;
    h.push.take(&Participant::Advisor(id("anna")));
    h.push.take(&Participant::Visitor(session.clone()));
    let client = |conn| ChatClient {
        conn,
        online: true,
        shown: Vec::new(),
        last: None,
        sent: Vec::new(),
    };
    let mut clients = [client(visitor_conn), client(advisor_conn)];
    let participant = |side: Side| match side {
        Side::Visitor => Participant::Visitor(session.clone()),
        Side::Advisor => Participant::Advisor(id("anna")),
    };
    let index = |side: Side| usize::from(side == Side::Advisor);
    let mut sent = 0u32;
    let steps = steps.into_iter().chain([
        ChatStep::Reconnect(Side::Visitor),
        ChatStep::Reconnect(Side::Advisor),
    ]);
    for step in steps {
        match step {
            ChatStep::Send(side) => {
                sent += 1;
                let message_id = format!("m{sent}");
                let chat =
                    json!({"v":1,"type":"chat","session":session,"id":message_id,"text":"hi"});
                let c = &mut clients[index(side)];
                let replies = h.say(&mut c.conn, chat).await;
                assert!(
                    of_type(&replies, "ack")[0]["key"].is_string(),
                    "{replies:?}"
                );
                c.sent.push(message_id);
            }
            ChatStep::Resend(side, n) => {
                let c = &mut clients[index(side)];
                if let Some(message_id) = c.sent.get(n % c.sent.len().max(1)).cloned() {
                    let chat =
                        json!({"v":1,"type":"chat","session":session,"id":message_id,"text":"hi"});
                    let replies = h.say(&mut c.conn, chat).await;
                    assert!(
                        of_type(&replies, "ack")[0]["key"].is_null(),
                        "a resend is no new message"
                    );
                }
            }
            ChatStep::Drop(side) => clients[index(side)].online = false,
            ChatStep::Reconnect(side) => {
                // What was pushed while the socket was down never arrived.
                if !clients[index(side)].online {
                    h.push.take(&participant(side));
                }
                let c = &mut clients[index(side)];
                c.conn = match side {
                    Side::Visitor => h.visitor_conn(),
                    Side::Advisor => h.advisor_conn("anna"),
                };
                let mut join = json!({"v":1,"type":"join","session":session});
                if side == Side::Visitor {
                    join["token"] = token.clone().into();
                }
                if let Some(last) = &c.last {
                    join["after"] = last.clone().into();
                }
                let replies = h.say(&mut c.conn, join).await;
                c.show(&replies);
                c.online = true;
            }
            ChatStep::Tick(ms) => h.clock.advance(ms),
        }
        for side in [Side::Visitor, Side::Advisor] {
            let pushed = h.push.take(&participant(side));
            if clients[index(side)].online {
                clients[index(side)].show(&pushed);
            }
        }
    }
    let stored: Vec<String> = h
        .app
        .store
        .messages_after(&session, None, 1000)
        .await
        .expect("messages")
        .into_iter()
        .map(|m| m.key)
        .collect();
    assert_eq!(stored.len(), sent as usize, "each message stored once");
    for (c, name) in clients.iter().zip(["visitor", "advisor"]) {
        let mut shown = c.shown.clone();
        shown.sort();
        assert_eq!(shown, stored, "the {name} saw every message once");
    }
}

fn chat_step() -> impl proptest::strategy::Strategy<Value = ChatStep> {
    use proptest::prelude::*;
    let side = prop_oneof![Just(Side::Visitor), Just(Side::Advisor)];
    prop_oneof![
        4 => side.clone().prop_map(ChatStep::Send),
        1 => (side.clone(), 0usize..8).prop_map(|(s, n)| ChatStep::Resend(s, n)),
        2 => side.clone().prop_map(ChatStep::Drop),
        2 => side.prop_map(ChatStep::Reconnect),
        2 => (0u64..3).prop_map(ChatStep::Tick),
    ]
}

#[test]
fn chat_messages_are_never_lost_or_shown_twice_across_reconnects() {
    use proptest::prelude::*;
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    proptest!(ProptestConfig::with_cases(cases), |(steps in prop::collection::vec(chat_step(), 1..40))| {
        runtime.block_on(chat_survives_reconnects(steps));
    });
}

/// The loss the chat property found (kept as a named case): the visitor
/// has seen its own message; the advisor's, sent in the same millisecond,
/// sorts before it, and its push is lost with the visitor's socket. The
/// resume must still bring it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_brings_a_message_keyed_before_the_last_one_seen() {
    chat_survives_reconnects(vec![
        ChatStep::Send(Side::Visitor),
        ChatStep::Drop(Side::Visitor),
        ChatStep::Send(Side::Advisor),
        ChatStep::Reconnect(Side::Visitor),
    ])
    .await;
}

/// TURN servers that share the secret (coturn) and STUN servers a
/// deployment names are handed out beside the media nodes, with the same
/// credential; with none of livecard's nodes up, they are all there is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_turn_and_stun_servers_are_handed_out() {
    let mut h = harness(&[advisor("anna", &["sales"], 1)]).await;
    h.app.config.other_servers = livecard_core::media::OtherServers::new(
        vec!["turn:coturn.example.com:3478?transport=udp".into()],
        vec!["stun:stun.example.com:3478".into()],
    )
    .expect("servers");
    let (session, token, _, _) = h.connected(json!({ "topic": "sales" }), "anna").await;
    let path = format!("/api/v1/contacts/{session}/ice-servers");
    let (status, ice) = h
        .post(&path, json!({ "token": token }), "203.0.113.7")
        .await;
    assert_eq!(status, StatusCode::OK, "{ice}");
    let servers = ice["ice_servers"].as_array().expect("servers");
    assert_eq!(servers.len(), 2, "{ice}");
    assert_eq!(
        servers[0]["urls"][0],
        "turn:coturn.example.com:3478?transport=udp"
    );
    let username = servers[0]["username"].as_str().expect("username");
    assert_eq!(
        servers[0]["credential"].as_str(),
        Some(livecard_core::turn::password_for(&[9; 32], username).as_str()),
        "coturn's credential comes from the shared secret"
    );
    assert_eq!(servers[1]["urls"][0], "stun:stun.example.com:3478");
    assert!(servers[1].get("username").is_none());
    assert!(ice["expires_at"].is_u64());
    // Relay-only: no STUN.
    h.app.config.relay_only = true;
    let (status, ice) = h
        .post(&path, json!({ "token": token }), "203.0.113.7")
        .await;
    assert_eq!(status, StatusCode::OK, "{ice}");
    assert_eq!(ice["ice_servers"].as_array().map(Vec::len), Some(1));
    assert_eq!(ice["ice_transport_policy"], "relay");
    h.app.config.relay_only = false;

    // An admin adds servers at run time (PUT /api/v1/ice-servers): handed
    // out after the settings' ones, a URL in both only once.
    let admin = |method: Method, body: Option<Value>, key: &str| {
        common::bearer_request(method, "/api/v1/ice-servers", key, body)
    };
    let key = common::DOCUMENT_ADMIN_KEY;
    let answer = |response: Response| {
        let status = response.status();
        (
            status,
            serde_json::from_slice::<Value>(response.body()).unwrap_or(Value::Null),
        )
    };
    let (status, shown) = answer(h.app.handle(admin(Method::GET, None, key)).await);
    assert_eq!(status, StatusCode::OK, "{shown}");
    assert_eq!(shown["turn"], json!([]));
    assert_eq!(
        shown["configured"]["turn"],
        json!(["turn:coturn.example.com:3478?transport=udp"])
    );
    let set = json!({
        "turn": ["turns:turn2.example.com:5349?transport=tcp", "turn:coturn.example.com:3478?transport=udp"],
        "stun": ["stun:stun2.example.com:3478"],
    });
    let (status, shown) = answer(h.app.handle(admin(Method::PUT, Some(set), key)).await);
    assert_eq!(status, StatusCode::OK, "{shown}");
    let (status, ice) = h
        .post(&path, json!({ "token": token }), "203.0.113.7")
        .await;
    assert_eq!(status, StatusCode::OK, "{ice}");
    assert_eq!(
        ice["ice_servers"][0]["urls"],
        json!([
            "turn:coturn.example.com:3478?transport=udp",
            "turns:turn2.example.com:5349?transport=tcp"
        ]),
        "{ice}"
    );
    assert_eq!(
        ice["ice_servers"][1]["urls"],
        json!(["stun:stun.example.com:3478", "stun:stun2.example.com:3478"])
    );
    // Refused: not an admin, a URL of another scheme, more than 8, an
    // unknown field.
    let response = h
        .app
        .handle(admin(Method::PUT, Some(json!({"turn": []})), "lck_wrong"))
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let nine: Vec<String> = (0..9).map(|i| format!("stun:s{i}.example.com")).collect();
    for bad in [
        json!({"turn": ["http://coturn.example.com"]}),
        json!({"stun": ["turn:t.example.com"]}),
        json!({"stun": nine}),
        json!({"turn": [], "secret": "x"}),
    ] {
        let (status, refused) = answer(
            h.app
                .handle(admin(Method::PUT, Some(bad.clone()), key))
                .await,
        );
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {refused}");
    }
    // Cleared: the settings' servers alone again.
    let (status, _) = answer(
        h.app
            .handle(admin(
                Method::PUT,
                Some(json!({"turn": [], "stun": []})),
                key,
            ))
            .await,
    );
    assert_eq!(status, StatusCode::OK);
    let (_, ice) = h
        .post(&path, json!({ "token": token }), "203.0.113.7")
        .await;
    assert_eq!(ice["ice_servers"].as_array().map(Vec::len), Some(2));
}

/// Both sides of `session`'s call were told once to move off `(node,
/// relay)` for `reason`.
fn told_to_move(h: &Harness, session: &str, (node, relay, reason): (&str, &str, &str)) {
    for to in [
        Participant::Visitor(session.to_owned()),
        Participant::Advisor(id("anna")),
    ] {
        let pushed = h.push.take(&to);
        let moves = of_type(&pushed, "media_move");
        assert_eq!(moves.len(), 1, "{to}: {pushed:?}");
        assert_eq!(moves[0]["relay"], relay);
        assert_eq!(moves[0]["reason"], reason);
        assert_eq!(moves[0]["node"], node);
    }
}

/// Failover: a client leaves a lost node out of fresh ICE servers; a
/// draining node's signed notice tells both sides of its live calls to
/// move (`media_move`), and nobody without the TURN secret can send one;
/// an ICE restart offer is relayed and recorded with its reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_move_off_a_lost_or_draining_media_node() {
    use livecard_core::media::MediaNode;
    let h = harness(&[advisor("anna", &["sales"], 1)]).await;
    let now = h.app.now();
    for (id, host, load) in [("a", "203.0.113.10", 1), ("b", "203.0.113.11", 2)] {
        let node = MediaNode {
            id: id.into(),
            host: host.into(),
            turn_port: 3478,
            tls_port: Some(5349),
            capacity: 100,
            load,
            heartbeat_until: now + 30_000,
            sessions: Vec::new(),
        };
        h.app.store.put_media_node(&node).await.expect("node");
    }
    let (session, token, mut anna, mut visitor) =
        h.connected(json!({ "topic": "sales" }), "anna").await;
    // A call: the advisor turns the chat into audio.
    h.say(
        &mut anna,
        json!({"v":1,"type":"upgrade","session":session,"channel":"audio"}),
    )
    .await;
    let path = format!("/api/v1/contacts/{session}/ice-servers");
    let urls = |ice: &Value| -> Vec<String> {
        ice["ice_servers"]
            .as_array()
            .expect("servers")
            .iter()
            .flat_map(|s| s["urls"].as_array().cloned().unwrap_or_default())
            .filter_map(|u| u.as_str().map(str::to_owned))
            .collect()
    };
    let (status, ice) = h
        .post(&path, json!({ "token": token }), "203.0.113.7")
        .await;
    assert_eq!(status, StatusCode::OK, "{ice}");
    assert!(urls(&ice).iter().any(|u| u.contains("203.0.113.10")));
    // The node the call lost is left out (by its UDP or its TLS port).
    for lost in ["203.0.113.10:3478", "203.0.113.10:5349"] {
        let (status, ice) = h
            .post(
                &path,
                json!({ "token": token, "exclude": [lost] }),
                "203.0.113.7",
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{ice}");
        let urls = urls(&ice);
        assert!(urls.iter().all(|u| !u.contains("203.0.113.10")), "{urls:?}");
        assert!(urls.iter().any(|u| u.contains("203.0.113.11")), "{urls:?}");
    }
    let (status, refused) = h
        .post(
            &path,
            json!({ "token": token, "exclude": ["a:1", "b:1", "c:1", "d:1", "e:1"] }),
            "203.0.113.7",
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");

    // Node a drains and names its participants (and one that is no session).
    let notice = |body: &Value, at: u64, secret: &[u8]| -> Request {
        let body = body.to_string();
        let signature = livecard_core::turn::notice_signature(secret, "a", at, body.as_bytes());
        http::Request::builder()
            .method(Method::POST)
            .uri("/api/v1/media-nodes/a/moves")
            .header("host", "livecard.test")
            .header("content-type", "application/json")
            .header("x-livecard-timestamp", at.to_string())
            .header("x-livecard-signature", signature)
            .body(Bytes::from(body))
            .expect("request")
    };
    let body = json!({
        "reason": "drain",
        "relay": "203.0.113.10:3478",
        "deadline": now + 300_000,
        "participants": [format!("{session}-visitor"), format!("{session}-anna"), "nobody-visitor"],
    });
    h.push.take(&Participant::Visitor(session.clone()));
    h.push.take(&Participant::Advisor(id("anna")));
    // Refused: another secret, an old notice, no signature.
    for (request, why) in [
        (notice(&body, now, &[1; 32]), "another secret"),
        (
            notice(
                &body,
                now - livecard_core::turn::NOTICE_WINDOW_MS - 1,
                &[9; 32],
            ),
            "too old",
        ),
    ] {
        let response = h.app.handle(request).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{why}");
    }
    let mut unsigned = notice(&body, now, &[9; 32]);
    unsigned.headers_mut().remove("x-livecard-signature");
    assert_eq!(
        h.app.handle(unsigned).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert!(
        h.push
            .take(&Participant::Visitor(session.clone()))
            .is_empty()
    );
    // Signed: both sides are told.
    let response = h.app.handle(notice(&body, now, &[9; 32])).await;
    assert_eq!(response.status(), StatusCode::OK);
    let answer: Value = serde_json::from_slice(response.body()).expect("json");
    assert_eq!(answer["calls"], 1);
    told_to_move(&h, &session, ("a", "203.0.113.10:3478", "drain"));
    // Too many participants.
    let many: Vec<String> = (0..1001).map(|i| format!("p{i}-visitor")).collect();
    let response = h
        .app
        .handle(notice(
            &json!({ "reason": "drain", "relay": "x:1", "participants": many }),
            now,
            &[9; 32],
        ))
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    // The visitor (who offers) restarts ICE: relayed with its reason, and
    // recorded; a restart request goes the other way.
    let offer = json!({"v":1,"type":"signal","session":session,"call":"c1","kind":"offer",
        "sdp":"v=0\r\n","restart":"drain"});
    h.say(&mut visitor, offer).await;
    let relayed = h.push.take(&Participant::Advisor(id("anna")));
    let signal = of_type(&relayed, "signal");
    assert_eq!(signal[0]["restart"], "drain", "{relayed:?}");
    let ask = json!({"v":1,"type":"signal","session":session,"call":"c1","kind":"restart","restart":"stalled"});
    h.say(&mut anna, ask).await;
    let asked = h.push.take(&Participant::Visitor(session.clone()));
    assert_eq!(of_type(&asked, "signal")[0]["kind"], "restart", "{asked:?}");
    // A restart signal with an SDP, or without a reason, is refused.
    for bad in [
        json!({"v":1,"type":"signal","session":session,"call":"c1","kind":"restart","restart":"drain","sdp":"v=0\r\n"}),
        json!({"v":1,"type":"signal","session":session,"call":"c1","kind":"restart"}),
        json!({"v":1,"type":"signal","session":session,"call":"c1","kind":"answer","sdp":"v=0\r\n","restart":"drain"}),
    ] {
        let replies = h.say(&mut anna, bad).await;
        assert_eq!(of_type(&replies, "error")[0]["code"], "invalid_field");
    }
    h.app.sweep().await.expect("sweep");
    let events = h
        .app
        .store
        .list_events(
            &livecard_core::event::utc_day(T0),
            &livecard_store::PageRequest::first(100),
        )
        .await
        .expect("events");
    let restarts: Vec<&Value> = events
        .items
        .iter()
        .filter(|e| e.name.as_str() == "ice_restart")
        .filter_map(|e| e.props.get("reason"))
        .collect();
    assert_eq!(restarts, vec![&json!("drain")]);

    // Node b relays the call (its heartbeat names the session) and stops
    // without a word: once its heartbeat has lapsed, the sweep tells both
    // sides to move (node_lost), once.
    let relaying = MediaNode {
        id: "b".into(),
        host: "203.0.113.11".into(),
        turn_port: 3478,
        tls_port: None,
        capacity: 100,
        load: 2,
        heartbeat_until: h.app.now() + 30_000,
        sessions: vec![session.clone(), "nobody".into()],
    };
    h.app.store.put_media_node(&relaying).await.expect("node");
    h.push.take(&Participant::Visitor(session.clone()));
    h.push.take(&Participant::Advisor(id("anna")));
    let report = h.app.sweep().await.expect("sweep");
    assert_eq!(report.moved, 0, "its heartbeat is current");
    h.clock.advance(30_000);
    let report = h.app.sweep().await.expect("sweep");
    assert_eq!(report.moved, 1);
    told_to_move(&h, &session, ("b", "203.0.113.11:3478", "node_lost"));
    let report = h.app.sweep().await.expect("sweep");
    assert_eq!(report.moved, 0, "told once");
    assert!(
        h.push
            .take(&Participant::Visitor(session.clone()))
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn screen_sharing_is_checked_and_told_to_both_sides() {
    let h = harness(&[
        advisor("anna", &["sales"], 2),
        advisor("ben", &["sales"], 2),
    ])
    .await;
    let (session, _, mut anna, mut visitor) =
        h.connected(json!({ "advisor": "anna" }), "anna").await;
    let share = |action: &str, stream: Option<&str>| {
        let mut m = json!({"v":1,"type":"share","session":session,"action":action});
        if let Some(s) = stream {
            m["stream"] = json!(s);
        }
        m
    };
    // Bad input: a start without a stream or with a hostile one, a stream
    // on another action, an unknown action.
    for bad in [
        share("start", None),
        share("start", Some("<script>")),
        share("start", Some(&"a".repeat(65))),
        share("ask", Some("abc")),
        share("show", None),
    ] {
        let refused = h.say(&mut anna, bad.clone()).await;
        assert_eq!(refused[0]["code"], "invalid_field", "{bad}: {refused:?}");
    }
    // No call yet; the visitor may neither ask nor share unasked; a third
    // advisor is not in the session.
    assert_eq!(
        h.say(&mut anna, share("start", Some("s1"))).await[0]["code"],
        "no_call"
    );
    h.say(
        &mut anna,
        json!({"v":1,"type":"upgrade","session":session,"channel":"audio"}),
    )
    .await;
    h.push.take(&Participant::Visitor(session.clone()));
    assert_eq!(
        h.say(&mut visitor, share("ask", None)).await[0]["code"],
        "not_allowed"
    );
    assert_eq!(
        h.say(&mut visitor, share("start", Some("s1"))).await[0]["code"],
        "not_allowed"
    );
    let mut ben = h.advisor_conn("ben");
    assert_eq!(
        h.say(&mut ben, share("start", Some("s1"))).await[0]["code"],
        "not_found"
    );
    // Anna shares: both sides are told who shares and in which stream.
    assert!(
        h.say(&mut anna, share("start", Some("s1")))
            .await
            .is_empty()
    );
    let told = h.push.take(&Participant::Visitor(session.clone()));
    let state = of_type(&told, "session");
    assert_eq!(
        state.last().map(|s| s["share"].clone()),
        Some(json!({"side":"advisor","stream":"s1"})),
        "{told:?}"
    );
    // The visitor stops it; then Anna asks, and the visitor is told so.
    assert!(h.say(&mut visitor, share("stop", None)).await.is_empty());
    h.say(&mut anna, share("ask", None)).await;
    let told = h.push.take(&Participant::Visitor(session.clone()));
    let last = of_type(&told, "session").last().map(|s| (*s).clone());
    let last = last.expect("a state");
    assert_eq!(last["share_asked"], true, "{last}");
    assert!(last.get("share").is_none(), "{last}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_data_link_needs_no_call_and_files_are_counted_never_named() {
    let h = harness(&[
        advisor("anna", &["sales"], 2),
        advisor("ben", &["sales"], 2),
    ])
    .await;
    let (session, _, mut anna, mut visitor) =
        h.connected(json!({ "advisor": "anna" }), "anna").await;
    let offer = |call: &str| json!({"v":1,"type":"signal","session":session,"call":call,"kind":"offer","sdp":"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n"});
    // A chat without a call: a call's offer is refused, the data link's
    // goes to the other side.
    assert_eq!(h.say(&mut visitor, offer("c1")).await[0]["code"], "no_call");
    assert!(h.say(&mut visitor, offer("data-l1")).await.is_empty());
    let told = h.push.take(&Participant::Advisor(id("anna")));
    let signals = of_type(&told, "signal");
    assert_eq!(signals.len(), 1, "{told:?}");
    assert_eq!(signals[0]["call"], "data-l1");
    // Nobody else's: Ben is not in the session.
    let mut ben = h.advisor_conn("ben");
    assert_eq!(
        h.say(&mut ben, offer("data-l1")).await[0]["code"],
        "not_found"
    );

    // Files: counted with their bytes within the deployment's limit.
    let file = |bytes: Value| json!({"v":1,"type":"file","session":session,"bytes":bytes});
    for bad in [json!(0), json!(-1), json!("5"), json!(1.5)] {
        assert_eq!(
            h.say(&mut anna, file(bad.clone())).await[0]["code"],
            "invalid_field",
            "{bad}"
        );
    }
    let too_big = h.app.config.files.max_bytes + 1;
    assert_eq!(
        h.say(&mut anna, file(json!(too_big))).await[0]["code"],
        "not_offered"
    );
    assert_eq!(
        h.say(&mut ben, file(json!(1000))).await[0]["code"],
        "not_found"
    );
    assert!(h.say(&mut anna, file(json!(5_000_000))).await.is_empty());
    let sent = h.events_named("file_sent").await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].props["bytes"], 5_000_000);
    assert_eq!(sent[0].props["by"], "advisor");
    assert_eq!(
        sent[0].props.len(),
        2,
        "bytes and side only: {:?}",
        sent[0].props
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_checks_are_checked_and_the_note_stays_with_the_advisor() {
    let h = harness(&[
        advisor("anna", &["sales"], 2),
        advisor("ben", &["sales"], 2),
    ])
    .await;
    let (session, _, mut anna, mut visitor) =
        h.connected(json!({ "advisor": "anna" }), "anna").await;
    let id_msg = |extra: Value| {
        let mut m = json!({"v":1,"type":"identity","session":session});
        for (k, v) in extra.as_object().expect("object") {
            m[k] = v.clone();
        }
        m
    };
    for bad in [
        json!({"action":"ask","outcome":"verified"}),
        json!({"action":"consent","face":true}),
        json!({"action":"result"}),
        json!({"action":"result","outcome":"declined"}),
        json!({"action":"result","outcome":"verified","note":"x".repeat(501)}),
        json!({"action":"result","outcome":"verified","note":"a\u{0}b"}),
        json!({"action":"ask","note":"hi"}),
        json!({"action":"photo"}),
    ] {
        let refused = h.say(&mut anna, id_msg(bad.clone())).await;
        assert_eq!(refused[0]["code"], "invalid_field", "{bad}: {refused:?}");
    }
    // The visitor can neither ask nor decide; Ben is not in the session.
    assert_eq!(
        h.say(&mut visitor, id_msg(json!({"action":"ask"}))).await[0]["code"],
        "not_allowed"
    );
    let mut ben = h.advisor_conn("ben");
    assert_eq!(
        h.say(&mut ben, id_msg(json!({"action":"ask"}))).await[0]["code"],
        "not_found"
    );
    h.say(&mut anna, id_msg(json!({"action":"ask","face":true})))
        .await;
    h.say(&mut visitor, id_msg(json!({"action":"consent"})))
        .await;
    assert_eq!(
        h.say(
            &mut visitor,
            id_msg(json!({"action":"result","outcome":"verified"}))
        )
        .await[0]["code"],
        "not_allowed"
    );
    h.push.take(&Participant::Visitor(session.clone()));
    assert!(
        h.say(
            &mut anna,
            id_msg(json!({"action":"result","outcome":"not_verified","note":"photo too dark"}))
        )
        .await
        .is_empty()
    );
    // Both sides learn the outcome; nobody's state carries the note.
    let told = h.push.take(&Participant::Visitor(session.clone()));
    let state = of_type(&told, "session")
        .last()
        .map(|s| (*s).clone())
        .expect("state");
    assert_eq!(
        state["identity"],
        json!({"state":"done","face":true,"outcome":"not_verified"})
    );
    assert!(
        !told.iter().any(|m| m.to_string().contains("too dark")),
        "{told:?}"
    );
    let stored = h
        .app
        .store
        .get_session(&session)
        .await
        .expect("read")
        .expect("session");
    let check = stored.session.identity.expect("check");
    assert_eq!(check.note.as_deref(), Some("photo too dark"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conversation_is_handed_over_within_capacity_and_the_visitor_sees_who() {
    let h = harness(&[
        advisor("anna", &["sales"], 2),
        advisor("ben", &["sales"], 1),
        advisor("clara", &["billing"], 2),
        advisor("dora", &["billing"], 2),
    ])
    .await;
    h.clock.advance(1_000);
    h.app
        .set_presence(&id("dora"), &manual(&h, PresenceState::Offline))
        .await
        .expect("dora offline");
    let (session, _, mut anna, mut visitor) =
        h.connected(json!({ "advisor": "anna" }), "anna").await;
    h.say(
        &mut visitor,
        json!({"v":1,"type":"chat","session":session,"id":"m1","text":"I have a billing question"}),
    )
    .await;
    // Ben is full with a contact of his own.
    h.connected(json!({ "advisor": "ben" }), "ben").await;
    let transfer = |to: Value| {
        let mut m = json!({"v":1,"type":"transfer","session":session,"note":"Wants a refund"});
        for (k, v) in to.as_object().expect("object") {
            m[k] = v.clone();
        }
        m
    };
    // Bad input, then the refusals with their reasons.
    for bad in [
        json!({}),
        json!({"to":"ben","topic":"billing"}),
        json!({"topic":"Not A Slug"}),
        json!({"to":"ben","note":"x".repeat(501)}),
    ] {
        let refused = h.say(&mut anna, transfer(bad.clone())).await;
        assert_eq!(refused[0]["code"], "invalid_field", "{bad}: {refused:?}");
    }
    for (to, code) in [
        (json!({"to":"ben"}), "at_capacity"),
        (json!({"to":"dora"}), "offline"),
        (json!({"to":"zed"}), "unknown_advisor"),
        (json!({"to":"anna"}), "unknown_advisor"),
        (json!({"topic":"legal"}), "nobody_free"),
    ] {
        let refused = h.say(&mut anna, transfer(to.clone())).await;
        assert_eq!(
            refused.first().map(|r| r["code"].clone()),
            Some(json!(code)),
            "{to}: {refused:?}"
        );
    }
    assert_eq!(
        h.say(&mut visitor, transfer(json!({"to":"clara"}))).await[0]["code"],
        "not_allowed",
        "a visitor cannot hand over"
    );
    let mut clara = h.advisor_conn("clara");
    assert_eq!(
        h.say(&mut clara, transfer(json!({"to":"clara"}))).await[0]["code"],
        "not_found",
        "nor can anyone but the session's advisor"
    );
    assert_eq!(h.active("anna").await, 1);
    assert_eq!(h.active("clara").await, 0);
    h.push.take(&Participant::Visitor(session.clone()));

    // By topic: Clara (billing) takes it; the slots move with it.
    assert!(
        h.say(&mut anna, transfer(json!({"topic":"billing"})))
            .await
            .is_empty()
    );
    assert_eq!(h.active("anna").await, 0);
    assert_eq!(h.active("clara").await, 1);
    // A console that opens now lists it for Clara, not for Anna.
    for (who, listed) in [("anna", false), ("clara", true)] {
        let greeting = Box::pin(h.app.ws_greeting(&h.advisor_conn(who))).await;
        assert_eq!(
            greeting.iter().any(|m| m.contains(&session)),
            listed,
            "{who}: {greeting:?}"
        );
    }
    let told = h.push.take(&Participant::Visitor(session.clone()));
    let state = of_type(&told, "session")
        .last()
        .map(|s| (*s).clone())
        .expect("state");
    assert_eq!(state["state"], "connected");
    assert_eq!(
        state["advisor"]["id"], "clara",
        "the visitor sees who took over"
    );
    assert!(
        !told.iter().any(|m| m.to_string().contains("refund")),
        "the note is not the visitor's"
    );
    let told = h.push.take(&Participant::Advisor(id("clara")));
    assert!(
        of_type(&told, "session")
            .iter()
            .any(|s| s["advisor"]["id"] == "clara")
    );
    // Clara reads the whole transcript and writes; Anna is out.
    let replay = h
        .say(&mut clara, json!({"v":1,"type":"join","session":session}))
        .await;
    assert!(
        of_type(&replay, "chat")
            .iter()
            .any(|m| m["text"] == "I have a billing question")
    );
    assert_eq!(
        h.say(
            &mut clara,
            json!({"v":1,"type":"chat","session":session,"id":"c1","text":"Clara here"})
        )
        .await[0]["type"],
        "ack"
    );
    assert_eq!(
        h.say(
            &mut anna,
            json!({"v":1,"type":"chat","session":session,"id":"a9","text":"still me?"})
        )
        .await[0]["code"],
        "not_found"
    );
    // The note waits for Clara in the conversation's context.
    let stored = h
        .app
        .store
        .get_session(&session)
        .await
        .expect("read")
        .expect("session");
    let handover = stored.session.handover.expect("handover");
    assert_eq!(
        (handover.from.as_str(), handover.note.as_deref()),
        ("anna", Some("Wants a refund"))
    );
}

#[tokio::test]
async fn a_colleague_joins_the_chat_as_a_guest_within_capacity_and_leaves() {
    let h = harness(&[
        advisor("anna", &["sales"], 2),
        advisor("ben", &["sales"], 1),
        advisor("clara", &["billing"], 2),
        advisor("dora", &["billing"], 2),
    ])
    .await;
    h.clock.advance(1_000);
    h.app
        .set_presence(&id("dora"), &manual(&h, PresenceState::Offline))
        .await
        .expect("dora offline");
    let (session, token, mut anna, mut visitor) =
        h.connected(json!({ "advisor": "anna" }), "anna").await;
    let invite = |to: &str| json!({"v":1,"type":"invite","session":session,"to":to});
    // Ben is full with a contact of his own.
    h.connected(json!({ "advisor": "ben" }), "ben").await;
    for (to, code) in [
        ("ben", "at_capacity"),
        ("dora", "offline"),
        ("zed", "unknown_advisor"),
        ("anna", "not_offered"),
    ] {
        let refused = h.say(&mut anna, invite(to)).await;
        assert_eq!(refused[0]["code"], code, "{to}: {refused:?}");
    }
    assert_eq!(
        h.say(&mut visitor, invite("clara")).await[0]["code"],
        "not_allowed",
        "a visitor cannot bring anyone in"
    );
    let mut clara = h.advisor_conn("clara");
    assert_eq!(
        h.say(&mut clara, invite("clara")).await[0]["code"],
        "not_found",
        "nor can anyone but the session's advisor"
    );
    assert_eq!(h.active("clara").await, 0, "no refusal kept a slot");
    h.push.take(&Participant::Visitor(session.clone()));

    // Clara comes in: her slot is taken; everyone hears it.
    assert!(h.say(&mut anna, invite("clara")).await.is_empty());
    assert_eq!(h.active("clara").await, 1);
    assert_eq!(
        h.say(&mut anna, invite("clara")).await[0]["code"],
        "not_offered",
        "not twice"
    );
    let told = h.push.take(&Participant::Visitor(session.clone()));
    let state = of_type(&told, "session")
        .last()
        .map(|s| (*s).clone())
        .expect("state");
    assert_eq!(state["advisor"]["id"], "anna", "Anna keeps the contact");
    assert_eq!(state["guests"][0]["id"], "clara");
    assert_eq!(state["guests"][0]["display_name"], "Advisor clara");
    assert!(
        of_type(&h.push.take(&Participant::Advisor(id("clara"))), "session")
            .iter()
            .any(|s| s["guests"][0]["id"] == "clara"),
        "the guest's console hears of it"
    );
    // A console opened anywhere lists the conversations its advisor is in.
    let listed = |who: &'static str| {
        let h = &h;
        async move {
            Box::pin(h.app.ws_greeting(&h.advisor_conn(who)))
                .await
                .iter()
                .filter_map(|m| serde_json::from_str::<Value>(m).ok())
                .filter(|m| m["type"] == "session")
                .map(|m| m["session"].as_str().unwrap_or_default().to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(listed("anna").await, vec![session.clone()]);
    assert_eq!(listed("clara").await, vec![session.clone()]);
    assert_eq!(listed("dora").await, Vec::<String>::new());
    // Three people write; each message reaches the other two with its author.
    let replay = h
        .say(&mut clara, json!({"v":1,"type":"join","session":session}))
        .await;
    assert_eq!(of_type(&replay, "joined")[0]["side"], "advisor");
    for (conn, id_, text) in [
        (&mut visitor, "v1", "Hello both"),
        (&mut anna, "m1", "Clara knows billing"),
        (&mut clara, "m1", "Hi, Clara here"),
    ] {
        let ack = h
            .say(
                conn,
                json!({"v":1,"type":"chat","session":session,"id":id_,"text":text}),
            )
            .await;
        assert_eq!(ack[0]["type"], "ack", "{text}: {ack:?}");
        assert!(ack[0]["key"].is_string(), "{text}: stored, not a duplicate");
    }
    let seen = |p: Participant| {
        of_type(&h.push.take(&p), "chat")
            .iter()
            .map(|m| {
                (
                    m["author"].as_str().map(str::to_owned),
                    m["text"].to_string(),
                )
            })
            .collect::<Vec<_>>()
    };
    let all = vec![
        (None, "\"Hello both\"".to_owned()),
        (
            Some("anna".to_owned()),
            "\"Clara knows billing\"".to_owned(),
        ),
        (Some("clara".to_owned()), "\"Hi, Clara here\"".to_owned()),
    ];
    assert_eq!(seen(Participant::Visitor(session.clone())), all);
    assert_eq!(seen(Participant::Advisor(id("anna"))), all);
    assert_eq!(seen(Participant::Advisor(id("clara"))), all);
    // The visitor's typing reaches both advisors.
    h.say(
        &mut visitor,
        json!({"v":1,"type":"typing","session":session}),
    )
    .await;
    for who in ["anna", "clara"] {
        assert_eq!(
            of_type(&h.push.take(&Participant::Advisor(id(who))), "typing").len(),
            1,
            "{who}"
        );
    }
    // A guest only chats: no call, share, identity check, hand-over, or end.
    for (message, code) in [
        (
            json!({"v":1,"type":"upgrade","session":session,"channel":"audio"}),
            "not_found",
        ),
        (
            json!({"v":1,"type":"share","session":session,"action":"ask"}),
            "not_found",
        ),
        (
            json!({"v":1,"type":"identity","session":session,"action":"ask"}),
            "not_found",
        ),
        (
            json!({"v":1,"type":"transfer","session":session,"to":"ben"}),
            "not_found",
        ),
        (
            json!({"v":1,"type":"invite","session":session,"to":"ben"}),
            "not_found",
        ),
        (
            json!({"v":1,"type":"hangup","session":session}),
            "not_found",
        ),
        (
            json!({"v":1,"type":"signal","session":session,"call":"data-1","kind":"offer","sdp":"v=0\r\n"}),
            "not_found",
        ),
    ] {
        let refused = h.say(&mut clara, message.clone()).await;
        assert_eq!(refused[0]["code"], code, "{message}: {refused:?}");
    }
    assert_eq!(
        h.say(&mut anna, json!({"v":1,"type":"leave","session":session}))
            .await[0]["code"],
        "not_allowed",
        "the advisor who has it ends it, not leaves"
    );
    // Clara leaves: her slot comes back; the chat goes on for two.
    assert!(
        h.say(&mut clara, json!({"v":1,"type":"leave","session":session}))
            .await
            .is_empty()
    );
    assert_eq!(h.active("clara").await, 0);
    assert_eq!(h.active("anna").await, 1);
    assert!(listed("clara").await.is_empty(), "she left");
    assert_eq!(listed("anna").await, vec![session.clone()]);
    assert_eq!(
        h.say(
            &mut clara,
            json!({"v":1,"type":"chat","session":session,"id":"m2","text":"still here?"})
        )
        .await[0]["code"],
        "not_found"
    );
    let events = h.events_named("guest_left").await;
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0].advisor.as_ref().map(|a| a.as_str()),
        Some("clara")
    );
    assert_eq!(h.events_named("guest_joined").await.len(), 1);

    // Invited again, then the visitor leaves: both slots come back.
    assert!(h.say(&mut anna, invite("clara")).await.is_empty());
    assert_eq!(h.active("clara").await, 1);
    h.say(
        &mut visitor,
        json!({"v":1,"type":"hangup","session":session}),
    )
    .await;
    assert_eq!(h.active("clara").await, 0);
    assert_eq!(h.active("anna").await, 0);
    assert!(listed("anna").await.is_empty(), "ended");
    assert!(listed("clara").await.is_empty(), "ended");
    // The visitor's transcript names each advisor who wrote.
    let request = http::Request::builder()
        .method(Method::POST)
        .uri(format!("/api/v1/contacts/{session}/transcript"))
        .header("host", "livecard.test")
        .header("content-type", "application/json")
        .body(Bytes::from(json!({ "token": token }).to_string()))
        .expect("request");
    let response = h.app.handle(request).await;
    assert_eq!(response.status(), StatusCode::OK);
    let transcript = String::from_utf8_lossy(response.body()).into_owned();
    assert!(
        transcript.contains("Advisor clara: Hi, Clara here"),
        "{transcript}"
    );
    assert!(
        transcript.contains("Advisor anna: Clara knows billing"),
        "{transcript}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_console_rejoins_its_conversations_in_one_frame() {
    let h = harness(&[
        advisor("anna", &["sales"], 3),
        advisor("ben", &["sales"], 1),
    ])
    .await;
    let (one, _, mut anna, _) = h.connected(json!({ "advisor": "anna" }), "anna").await;
    let (two, _, _, _) = h.connected(json!({ "advisor": "anna" }), "anna").await;
    let (bens, _, _, mut visitor) = h.connected(json!({ "advisor": "ben" }), "ben").await;
    let said = h
        .say(
            &mut anna,
            json!({"v":1,"type":"chat","session":one,"id":"m1","text":"Hello"}),
        )
        .await;
    let key = said[0]["key"].as_str().expect("key").to_owned();
    h.say(
        &mut anna,
        json!({"v":1,"type":"chat","session":one,"id":"m2","text":"Are you there?"}),
    )
    .await;
    // A reloaded console: each conversation as its own join would answer,
    // in order; Ben's is refused on its own, the rest still joined.
    let mut console = h.advisor_conn("anna");
    let replies = h
        .say(
            &mut console,
            json!({"v":1,"type":"rejoin","sessions":[
                {"session": one, "after": key},
                {"session": bens},
                {"session": two}
            ]}),
        )
        .await;
    let joined: Vec<&str> = of_type(&replies, "joined")
        .iter()
        .filter_map(|m| m["session"].as_str())
        .collect();
    assert_eq!(joined, vec![one.as_str(), two.as_str()]);
    let refused = of_type(&replies, "error");
    assert_eq!(refused.len(), 1);
    assert_eq!(
        (refused[0]["session"].as_str(), refused[0]["code"].as_str()),
        (Some(bens.as_str()), Some("not_found"))
    );
    let texts: Vec<&str> = of_type(&replies, "chat")
        .iter()
        .filter_map(|m| m["text"].as_str())
        .collect();
    assert!(texts.contains(&"Are you there?"), "{texts:?}");
    // One frame of the rate limit, not three.
    assert_eq!(console.limiter, {
        let mut fresh = h.advisor_conn("anna").limiter;
        assert!(fresh.take(h.app.now()));
        fresh
    });
    // A visitor proves each session with its token instead.
    assert_eq!(
        h.say(
            &mut visitor,
            json!({"v":1,"type":"rejoin","sessions":[{"session": bens}]})
        )
        .await[0]["code"],
        "not_allowed"
    );
}
