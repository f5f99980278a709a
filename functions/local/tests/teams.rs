//! The Teams connector against a loopback Graph: a server that implements
//! the token endpoint, `getPresencesByUserId`, user look-ups and
//! `setPresence`/`clearPresence` as Microsoft documents them (answers
//! shaped like Graph's, 429 with `Retry-After`, 401 for a wrong secret).
//! No Graph service is reachable here; the connector and the store are
//! the real ones. Push: the same server makes presence subscriptions (after
//! the validation handshake against livecard's notification endpoint,
//! served here by the local host) and sends change notifications encrypted
//! as documented, to a certificate made with OpenSSL; forged, tampered,
//! unknown and replayed ones change nothing.

use livecard_connectors::teams::PushConfig;
use livecard_connectors::teams::{TeamsConfig, spawn};
use livecard_core::advisor::Identities;
use livecard_core::channel::Channel;
use livecard_core::ids::AdvisorId;
use livecard_core::presence::PresenceSource;
use livecard_core::presence::{PresenceState, Rule};
use livecard_local::testkit::graph::{
    self, BEN, CLIENT, Forgery, SECRET, SYNC_REFRESH, TENANT, fake_graph,
};
use livecard_local::testkit::{local_app, local_app_with, presence, serve};
use livecard_store::prelude::*;
use std::time::{Duration, Instant};

fn advisor(id: &str, teams: Option<&str>) -> livecard_core::advisor::Advisor {
    let identities = Identities {
        teams: teams.map(str::to_owned),
        ..Identities::default()
    };
    livecard_local::testkit::advisor(id, identities)
}

const ANNA: &str = "3f2504e0-4f89-11d3-9a0c-0305e82c3301";
fn config(url: &str, secret: &str) -> TeamsConfig {
    let mut config = TeamsConfig::new(TENANT, CLIENT, secret);
    config.login_url = format!("{url}/login");
    config.graph_url = format!("{url}/v1.0");
    config.poll_ms = 200;
    config
}

/// What decides `id`'s presence on `channel` now.
async fn decision(
    app: &livecard_local::LocalApp,
    id: &str,
    channel: Channel,
) -> livecard_core::presence::Decision {
    let record = app
        .store
        .get_advisor(&AdvisorId::parse(id).expect("id"))
        .await
        .expect("get")
        .expect("advisor");
    record.presence.decide(
        channel,
        record.advisor.channels,
        &app.config.presence,
        app.now(),
    )
}

async fn wait_for(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn teams_presence_is_read_throttling_honoured_and_livecard_calls_shown() {
    let (_server, app) = local_app().await;
    let (url, graph) = fake_graph().await;
    for (id, teams) in [
        ("anna", Some(ANNA)),
        ("ben", Some("ben@contoso.example")),
        ("cleo", None),
    ] {
        app.save_advisor(&advisor(id, teams))
            .await
            .expect("advisor");
        // Their consoles are open.
        app.store
            .heartbeat(&AdvisorId::parse(id).expect("id"), u64::MAX / 2)
            .await
            .expect("heartbeat");
    }
    {
        let mut g = graph.lock().expect("graph");
        g.presence
            .insert(ANNA.into(), ("Busy".into(), "InAMeeting".into()));
        g.presence
            .insert(BEN.into(), ("Away".into(), "Away".into()));
        g.throttle_next = Some(1);
    }
    let connector = spawn(presence(&app), config(&url, SECRET));
    let view = |id: &'static str| decision(&app, id, Channel::Chat);
    wait_for("Anna busy from Teams", async || {
        view("anna").await.state == PresenceState::Busy
    })
    .await;
    let anna = view("anna").await;
    assert_eq!(anna.rule, Rule::Automatic);
    // Ben's user principal name is resolved and his presence written in
    // the same round, just after Anna's.
    wait_for("Ben away: a user principal name resolved", async || {
        view("ben").await.state == PresenceState::Away
    })
    .await;
    assert_eq!(
        view("cleo").await.state,
        PresenceState::Offline,
        "not linked: nothing from Teams"
    );
    {
        // The 429 was honoured: the next read waited its Retry-After.
        let g = graph.lock().expect("graph");
        let throttled = g
            .reads
            .iter()
            .position(|(_, t)| *t)
            .expect("a throttled read");
        let next = g.reads.get(throttled + 1).expect("a read after it");
        assert!(
            next.0.duration_since(g.reads[throttled].0) >= Duration::from_millis(950),
            "read again {:?} after a 429 with Retry-After: 1",
            next.0.duration_since(g.reads[throttled].0)
        );
        assert_eq!(g.tokens, 1, "the token is reused");
    }
    // A change in Teams shows within a few polls.
    graph
        .lock()
        .expect("graph")
        .presence
        .insert(ANNA.into(), ("Available".into(), "Available".into()));
    wait_for("Anna available again", async || {
        view("anna").await.state == PresenceState::Available
    })
    .await;

    // Bad answers: something that is not a presence list is an error
    // counted, changes nothing and the connector goes on; a user nobody
    // asked about is ignored.
    let errors_before = app.connectors.snapshot()["teams"].errors;
    {
        let mut g = graph.lock().expect("graph");
        g.garbage_next = true;
        g.stranger = true;
    }
    wait_for("the bad answer counted", async || {
        app.connectors.snapshot()["teams"].errors > errors_before
    })
    .await;
    let said = app.connectors.snapshot()["teams"]
        .last_error
        .clone()
        .unwrap_or_default();
    assert!(said.contains("getPresencesByUserId"), "{said}");
    assert_eq!(
        view("anna").await.state,
        PresenceState::Available,
        "nothing changed"
    );
    wait_for("reading again", async || {
        app.connectors.snapshot()["teams"].ok
    })
    .await;
    assert_eq!(
        view("cleo").await.state,
        PresenceState::Offline,
        "the stranger is nobody's"
    );

    // Anna is in a livecard call: Teams shows her Busy / In a call under
    // livecard's session; at hang-up the session is cleared.
    let anna_id = AdvisorId::parse("anna").expect("id");
    app.call_presence(&anna_id, true, app.now()).await;
    wait_for("setPresence for Anna", async || {
        graph
            .lock()
            .expect("graph")
            .sessions
            .iter()
            .any(|(u, a, _)| u == ANNA && a == "setPresence")
    })
    .await;
    {
        let g = graph.lock().expect("graph");
        let (_, _, body) = g
            .sessions
            .iter()
            .find(|(_, a, _)| a == "setPresence")
            .expect("set");
        assert_eq!(body["availability"], "Busy");
        assert_eq!(body["activity"], "InACall");
        assert_eq!(body["expirationDuration"], "PT15M");
        assert!(
            g.sessions.iter().all(|(u, _, _)| u == ANNA),
            "only Anna's presence is set"
        );
    }
    tokio::time::sleep(Duration::from_millis(10)).await;
    app.call_presence(&anna_id, false, app.now()).await;
    wait_for("clearPresence for Anna", async || {
        graph
            .lock()
            .expect("graph")
            .sessions
            .iter()
            .any(|(u, a, _)| u == ANNA && a == "clearPresence")
    })
    .await;
    let sets = graph
        .lock()
        .expect("graph")
        .sessions
        .iter()
        .filter(|(_, a, _)| a == "setPresence")
        .count();
    assert_eq!(sets, 1, "one session for one short call");
    let health = app.connectors.snapshot();
    let teams = health.get("teams").expect("teams health");
    assert!(
        teams.ok && teams.last_success.is_some() && teams.advisors == 2,
        "{teams:?}"
    );
    assert!(teams.errors >= 1, "the 429 was counted: {teams:?}");
    connector.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_credentials_change_nothing_and_say_so_without_the_secret() {
    let (_server, app) = local_app().await;
    app.save_advisor(&advisor("anna", Some(ANNA)))
        .await
        .expect("advisor");
    let (url, graph) = fake_graph().await;
    graph
        .lock()
        .expect("graph")
        .presence
        .insert(ANNA.into(), ("Busy".into(), "Busy".into()));
    let wrong = "not-the-secret";
    let connector = spawn(presence(&app), config(&url, wrong));
    wait_for("an error counted", async || {
        app.connectors
            .snapshot()
            .get("teams")
            .is_some_and(|h| h.errors >= 2)
    })
    .await;
    let health = app.connectors.snapshot()["teams"].clone();
    let said = health.last_error.clone().unwrap_or_default();
    assert!(
        !health.ok && said.contains("401") && said.contains("invalid_client"),
        "{said}"
    );
    assert!(!said.contains(wrong), "the secret is never told");
    let record = app
        .store
        .get_advisor(&AdvisorId::parse("anna").expect("id"))
        .await
        .expect("get")
        .expect("anna");
    assert!(record.presence.sources.is_empty(), "no presence changed");
    assert!(
        graph.lock().expect("graph").reads.is_empty(),
        "no read without a token"
    );
    connector.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn teams_push_subscribes_renews_and_believes_only_genuine_notifications() {
    let keys = graph::push_keys("client-state-0123456789abcdef");
    let (_server, app) = local_app_with(Some(keys.clone())).await;
    let (url, graph) = fake_graph().await;
    // Graph grants 20 s: the connector renews at half of that.
    graph.lock().expect("graph").grant_ms = Some(20_000);
    for (id, teams) in [("anna", ANNA), ("ben", "ben@contoso.example")] {
        app.save_advisor(&advisor(id, Some(teams)))
            .await
            .expect("advisor");
        app.store
            .heartbeat(&AdvisorId::parse(id).expect("id"), u64::MAX / 2)
            .await
            .expect("heartbeat");
    }
    let base = serve(&app).await;
    let notify_url = format!("{base}/api/v1/connectors/teams/notifications");
    let mut config = config(&url, SECRET);
    // Polls are a minute apart: what changes within the test came by push.
    config.poll_ms = 60_000;
    config.push = Some(PushConfig::new(&notify_url, SYNC_REFRESH));
    let connector = spawn(presence(&app), config);
    // The subscription exists once Graph's validation handshake passed.
    wait_for("a validated subscription", async || {
        !graph.lock().expect("graph").subscriptions.is_empty()
    })
    .await;
    let subscription = graph.lock().expect("graph").subscriptions[0].clone();
    let mut users = subscription.users.clone();
    users.sort();
    let mut expected = vec![ANNA.to_owned(), BEN.to_owned()];
    expected.sort();
    assert_eq!(users, expected, "both, Ben's name resolved");
    assert_eq!(subscription.client_state, keys.client_state);
    assert_eq!(subscription.certificate, keys.certificate);

    let view = |id: &'static str, channel: Channel| decision(&app, id, channel);
    // Anna starts a Teams call: pushed, decrypted, applied.
    let (status, in_a_call) = graph::notify(&graph, ANNA, "Busy", "InACall", Forgery::None).await;
    assert_eq!(status, 202);
    let d = view("anna", Channel::Video).await;
    assert_eq!(
        (d.state, d.rule, d.source),
        (
            PresenceState::Busy,
            Rule::OnCall,
            Some(PresenceSource::Teams)
        )
    );
    assert_eq!(
        view("anna", Channel::Chat).await.state,
        PresenceState::Available
    );
    // Ben (linked by his user principal name) turns do-not-disturb.
    let (status, _) = graph::notify(&graph, BEN, "DoNotDisturb", "Presenting", Forgery::None).await;
    assert_eq!(status, 202);
    assert_eq!(view("ben", Channel::Chat).await.state, PresenceState::Busy);

    // Forgeries change nothing: each would have made Anna offline.
    for forgery in [
        Forgery::ClientState,
        Forgery::Signature,
        Forgery::Subscription,
    ] {
        let before = app
            .connectors
            .snapshot()
            .get("teams_push")
            .map_or(0, |h| h.errors);
        let (status, _) = graph::notify(&graph, ANNA, "Offline", "OffWork", forgery).await;
        assert_eq!(
            status, 202,
            "{forgery:?}: answered, so Graph does not retry it"
        );
        assert_eq!(
            view("anna", Channel::Video).await.state,
            PresenceState::Busy,
            "{forgery:?} changed nothing"
        );
        let health = app.connectors.snapshot()["teams_push"].clone();
        assert_eq!(health.errors, before + 1, "{forgery:?} counted: {health:?}");
    }
    // A subscription past its end (as the store holds it) is not believed.
    let ended = graph::GraphSubscription {
        id: "sub-ended".into(),
        users: vec!["0ld-0000".into()],
        ..subscription.clone()
    };
    graph.lock().expect("graph").subscriptions.push(ended);
    app.store
        .put_graph_subscription(
            "sub-ended",
            &std::collections::BTreeMap::from([(
                "0ld-0000".to_owned(),
                AdvisorId::parse("anna").expect("id"),
            )]),
            app.now() - 1,
        )
        .await
        .expect("ended");
    let (status, _) = graph::notify(&graph, "0ld-0000", "Offline", "OffWork", Forgery::None).await;
    assert_eq!(status, 202);
    assert_eq!(
        view("anna", Channel::Video).await.state,
        PresenceState::Busy,
        "an ended subscription changed nothing"
    );
    graph
        .lock()
        .expect("graph")
        .subscriptions
        .retain(|s| s.id != "sub-ended");
    // The call ends; a replay of the old notification changes nothing.
    graph::notify(&graph, ANNA, "Available", "Available", Forgery::None).await;
    assert_eq!(
        view("anna", Channel::Video).await.state,
        PresenceState::Available
    );
    assert_eq!(graph::post_notifications(&notify_url, in_a_call).await, 202);
    assert_eq!(
        view("anna", Channel::Video).await.state,
        PresenceState::Available,
        "a replay changed nothing"
    );
    let said = app.connectors.snapshot()["teams_push"]
        .last_error
        .clone()
        .unwrap_or_default();
    assert!(said.contains("replay"), "{said}");
    assert!(
        !said.contains(&keys.client_state),
        "the client state is never told"
    );

    // Not a notification list: refused; a validation token too long: refused.
    assert_eq!(
        graph::post_notifications(&notify_url, b"{\"x\":1}".to_vec()).await,
        400
    );
    let long = "a".repeat(1100);
    let response = reqwest::Client::new()
        .post(format!("{notify_url}?validationToken={long}"))
        .send()
        .await
        .expect("answer");
    assert_eq!(response.status(), 400);

    // The subscription is renewed before it ends, and the endpoint still
    // believes it after its first end.
    wait_for("a renewal", async || {
        graph.lock().expect("graph").renewals >= 1
    })
    .await;
    tokio::time::sleep(Duration::from_secs(12)).await;
    let (status, _) = graph::notify(&graph, ANNA, "Away", "Away", Forgery::None).await;
    assert_eq!(status, 202);
    assert_eq!(view("anna", Channel::Chat).await.state, PresenceState::Away);
    assert_eq!(
        graph.lock().expect("graph").subscriptions.len(),
        1,
        "renewed, not made again"
    );
    connector.abort();
}
