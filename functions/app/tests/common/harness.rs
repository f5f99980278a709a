//! A contact harness over the shared handlers: simulated time, the
//! embedded store, and a push port that records what everyone was sent.
#![allow(dead_code)]

use super::{SimClock, id, set_available};
use bytes::Bytes;
use http::{Method, StatusCode};
use livecard_app::contact::{Connection, Participant, Push};
use livecard_app::{App, ClientAddr, Config, Request};
use livecard_core::advisor::Advisor;
use livecard_core::channel::Channel;
use livecard_core::presence::PresenceState;
use livecard_store::dynamo::DynamoStore;
use livecard_store::embedded::EmbeddedDynamo;
use livecard_store::prelude::*;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

/// A push port that records what each participant was sent.
#[derive(Clone, Default)]
pub struct Recorder {
    pub sent: Arc<Mutex<Vec<(Participant, Value)>>>,
}

impl Push for Recorder {
    async fn send(&self, to: &Participant, message: &str) {
        let value: Value = serde_json::from_str(message).expect("pushed messages are JSON");
        self.sent.lock().expect("lock").push((to.clone(), value));
    }
    async fn subscribe(&self, _connection: &str, _to: &Participant) {}
    async fn disconnect(&self, to: &Participant) {
        let closed = serde_json::json!({"disconnected": true});
        self.sent.lock().expect("lock").push((to.clone(), closed));
    }
}

impl Recorder {
    /// Takes what was sent to `to`.
    pub fn take(&self, to: &Participant) -> Vec<Value> {
        let mut sent = self.sent.lock().expect("lock");
        let (mine, rest): (Vec<_>, Vec<_>) = sent.drain(..).partition(|(p, _)| p == to);
        *sent = rest;
        mine.into_iter().map(|(_, v)| v).collect()
    }
}

pub fn of_type<'a>(messages: &'a [Value], kind: &str) -> Vec<&'a Value> {
    messages.iter().filter(|m| m["type"] == kind).collect()
}

pub struct Harness {
    pub _server: EmbeddedDynamo,
    pub app: App<DynamoStore, Recorder>,
    pub clock: Arc<SimClock>,
    pub push: Recorder,
}

/// An advisor's session cookie (epoch 0: never ended), as the sign-in
/// page sets it, valid a minute from `now`.
pub fn advisor_cookie(who: &str, now: u64) -> String {
    let session = livecard_core::auth::AdvisorSession {
        advisor: id(who),
        epoch: 0,
    };
    format!(
        "lc_session={}",
        livecard_core::auth::sign_session(&[3; 32], &session, now, 60_000)
    )
}

pub async fn harness(advisors: &[Advisor]) -> Harness {
    harness_with(advisors, |_| {}).await
}

/// [`harness`] with the configuration changed by `configure`.
pub async fn harness_with(advisors: &[Advisor], configure: impl FnOnce(&mut Config)) -> Harness {
    let (server, store) = super::embedded_store("livecard").await;
    let mut config = Config::new("http://livecard.test");
    config.read_cache_ms = 0;
    configure(&mut config);
    let push = Recorder::default();
    let (app, clock) = super::sim_app(store, config);
    let app = app.with_push(push.clone());
    for a in advisors {
        app.save_advisor(a).await.expect("advisor");
        set_available(&app, &a.id).await;
    }
    Harness {
        _server: server,
        app,
        clock,
        push,
    }
}

/// A manual presence update for chat at the app's now.
pub fn manual(h: &Harness, state: PresenceState) -> livecard_core::presence::PresenceUpdate {
    h.app
        .config
        .presence
        .manual_update(
            vec![(Channel::Chat, state)],
            h.app.now(),
            h.app.now() + livecard_core::presence::MAX_MANUAL_MS,
        )
        .expect("update")
}

impl Harness {
    pub async fn post(&self, uri: &str, body: Value, addr: &str) -> (StatusCode, Value) {
        let mut request: Request = http::Request::builder()
            .method(Method::POST)
            .uri(uri)
            .header("host", "livecard.test")
            .header("content-type", "application/json")
            .body(Bytes::from(body.to_string()))
            .expect("request");
        request.extensions_mut().insert(ClientAddr(addr.to_owned()));
        let response = self.app.handle(request).await;
        let status = response.status();
        assert_eq!(
            response
                .headers()
                .get("access-control-allow-origin")
                .map(|v| v.as_bytes()),
            Some(&b"*"[..]),
            "visitor endpoints allow any origin"
        );
        let value = serde_json::from_slice(response.body()).unwrap_or(Value::Null);
        (status, value)
    }

    /// A visitor asks for contact as the pages do: the request, then their
    /// socket joins (which starts routing). The answer's state is the one
    /// the join reports.
    pub async fn start(&self, body: Value) -> (String, String, Value) {
        let (status, answer) = self.post("/api/v1/contacts", body, "203.0.113.7").await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
        let session = answer["session"].as_str().expect("session").to_owned();
        let token = answer["token"].as_str().expect("token").to_owned();
        let answer = self.join(answer).await;
        (session, token, answer)
    }

    /// A contact `advisor` accepted, with the visitor's socket joined: the
    /// session, its token, and both sides' connections.
    pub async fn connected(
        &self,
        body: Value,
        advisor: &str,
    ) -> (String, String, Connection, Connection) {
        let (session, token, _) = self.start(body).await;
        let mut advisor = self.advisor_conn(advisor);
        self.say(
            &mut advisor,
            json!({"v":1,"type":"accept","session":session}),
        )
        .await;
        let mut visitor = self.visitor_conn();
        self.say(
            &mut visitor,
            json!({"v":1,"type":"join","session":session,"token":token}),
        )
        .await;
        (session, token, advisor, visitor)
    }

    /// The visitor's socket joins the session of a contact answer.
    pub async fn join(&self, mut answer: Value) -> Value {
        let join = json!({"v":1,"type":"join","session":answer["session"],"token":answer["token"]});
        let replies = self.say(&mut self.visitor_conn(), join).await;
        answer["state"] = of_type(&replies, "session")
            .first()
            .map(|s| (*s).clone())
            .expect("the join reports the state");
        answer
    }

    pub fn advisor_conn(&self, who: &str) -> Connection {
        Connection::new(format!("conn-{who}"), Some(id(who)), self.app.now())
    }

    pub fn visitor_conn(&self) -> Connection {
        Connection::new("conn-visitor", None, self.app.now())
    }

    pub async fn say(&self, conn: &mut Connection, message: Value) -> Vec<Value> {
        let replies = self.app.ws_message(conn, &message.to_string()).await;
        replies
            .messages
            .iter()
            .map(|m| serde_json::from_str(m).expect("json reply"))
            .collect()
    }

    /// The events named `name` recorded on the test's first day.
    pub async fn events_named(&self, name: &str) -> Vec<livecard_core::event::Event> {
        let page = self
            .app
            .store
            .list_events(
                &livecard_core::event::utc_day(super::T0),
                &livecard_store::PageRequest::first(100),
            )
            .await
            .expect("events");
        page.items
            .into_iter()
            .filter(|e| e.name.as_str() == name)
            .collect()
    }

    pub async fn active(&self, who: &str) -> u16 {
        self.app
            .store
            .get_advisor(&id(who))
            .await
            .expect("read")
            .expect("advisor")
            .load
            .active
    }
}
