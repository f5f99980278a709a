//! The XMPP connector against a real XMPP server: Debian's Prosody with
//! `mod_privilege` (prosody-modules), started here with a generated
//! configuration on loopback ports in a temporary directory. Advisors log
//! in as XMPP users (a plain c2s client written here, SASL PLAIN without
//! TLS as the test server allows), change `<show/>`, use two resources, go
//! on the phone and go away; the server is killed and started again.

use livecard_connectors::xmpp::{XmppConfig, spawn};
use livecard_core::advisor::Identities;
use livecard_core::channel::Channel;
use livecard_core::ids::AdvisorId;
use livecard_core::presence::{PresenceSource, PresenceState, Rule};
use livecard_local::testkit::prosody::{Prosody, SECRET, User};
use livecard_local::testkit::{advisor, local_app, presence};
use livecard_store::prelude::*;
use std::time::{Duration, Instant};

/// What visitors see of `id` on `channel`, with the deciding rule.
async fn shown(
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

/// Waits until `id` shows `state` on `channel`; the bound is a couple of
/// seconds (presence is pushed, not polled).
async fn until_shown(
    app: &livecard_local::LocalApp,
    id: &str,
    channel: Channel,
    state: PresenceState,
) {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let d = shown(app, id, channel).await;
        if d.state == state {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{id} {channel:?} is {d:?}, not {state:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xmpp_presence_follows_show_resources_the_phone_and_a_server_restart() {
    let mut prosody = Prosody::new("xmpp");
    prosody.start();
    let (_db, app) = local_app().await;
    for id in ["anna", "ben"] {
        // Ben is linked to his account later, while the connector runs.
        let identities = Identities {
            xmpp: (id == "anna").then(|| format!("{id}@localhost")),
            ..Identities::default()
        };
        app.save_advisor(&advisor(id, identities))
            .await
            .expect("advisor");
        app.store
            .heartbeat(&AdvisorId::parse(id).expect("id"), u64::MAX / 2)
            .await
            .expect("heartbeat");
    }
    let connector = spawn(
        presence(&app),
        XmppConfig::new(
            "presence.localhost",
            SECRET,
            &format!("127.0.0.1:{}", prosody.component),
        ),
    );
    // Nobody is online: once the connector has settled, both are offline
    // by the XMPP source (not merely for want of a source).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let record = app
            .store
            .get_advisor(&AdvisorId::parse("anna").expect("id"))
            .await
            .expect("get")
            .expect("anna");
        if record
            .presence
            .entry(PresenceSource::Xmpp, Channel::Chat)
            .is_some()
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the connector never connected: {}",
            prosody.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    until_shown(&app, "anna", Channel::Chat, PresenceState::Offline).await;

    let mut desk = User::login(prosody.c2s, "anna", "desk");
    desk.presence("");
    until_shown(&app, "anna", Channel::Chat, PresenceState::Available).await;
    let d = shown(&app, "anna", Channel::Video).await;
    assert_eq!(
        (d.rule, d.source),
        (Rule::Automatic, Some(PresenceSource::Xmpp))
    );
    desk.presence("<show>dnd</show>");
    until_shown(&app, "anna", Channel::Chat, PresenceState::Busy).await;
    // A second resource: the phone away, the desk available: available.
    let mut phone = User::login(prosody.c2s, "anna", "phone");
    phone.presence("<show>away</show><priority>-1</priority>");
    desk.presence("<show>chat</show>");
    until_shown(&app, "anna", Channel::Chat, PresenceState::Available).await;
    // On the phone (XEP-0108): audio and video busy, chat still available.
    phone.presence("<show>away</show><activity xmlns='http://jabber.org/protocol/activity'><talking><on_the_phone/></talking></activity>");
    until_shown(&app, "anna", Channel::Audio, PresenceState::Busy).await;
    assert_eq!(
        shown(&app, "anna", Channel::Chat).await.state,
        PresenceState::Available
    );
    phone.presence("<show>away</show>");
    until_shown(&app, "anna", Channel::Audio, PresenceState::Available).await;
    // The desk goes: only the phone, away.
    desk.say("<presence type='unavailable'/>");
    until_shown(&app, "anna", Channel::Chat, PresenceState::Away).await;
    phone.say("<presence type='unavailable'/>");
    until_shown(&app, "anna", Channel::Chat, PresenceState::Offline).await;
    // Ben's account is another advisor's: untouched by Anna's changes.
    assert_eq!(
        shown(&app, "ben", Channel::Chat).await.state,
        PresenceState::Offline
    );
    // Ben's link is saved now: the connector follows it at once, not at
    // its next periodic look (two minutes).
    let identities = Identities {
        xmpp: Some("ben@localhost".into()),
        ..Identities::default()
    };
    app.save_advisor(&advisor("ben", identities))
        .await
        .expect("link ben");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut ben = User::login(prosody.c2s, "ben", "desk");
    ben.presence("<show>xa</show>");
    until_shown(&app, "ben", Channel::Chat, PresenceState::Away).await;

    // The server goes away: what it said is withdrawn, the health says so.
    prosody.kill();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let health = app.connectors.snapshot();
        let gone = shown(&app, "ben", Channel::Chat).await;
        if health.get("xmpp").is_some_and(|h| !h.ok) && gone.rule == Rule::NoSource {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not withdrawn: {gone:?} {health:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // It comes back: the connector reconnects by itself.
    prosody.start();
    let mut ben = User::login(prosody.c2s, "ben", "desk");
    ben.presence("");
    let deadline = Instant::now() + Duration::from_secs(40);
    while shown(&app, "ben", Channel::Chat).await.state != PresenceState::Available {
        assert!(Instant::now() < deadline, "no reconnect: {}", prosody.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(app.connectors.snapshot()["xmpp"].ok);
    connector.abort();
}
