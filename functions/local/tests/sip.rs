//! The SIP watcher against a real SIP server: Debian's Kamailio with its
//! presence modules (presence, presence_dialoginfo, pua, pua_dialoginfo,
//! dialog) on loopback, started here with a generated configuration and a
//! db_text database in a temporary directory. SIPp registers a phone and
//! calls it; the advisor of that extension turns busy for audio and video
//! while the call is up, and free after the BYE. A PBX that offers the
//! presence package (presence_xml) passes on the PIDF documents its phones
//! PUBLISH; they decide when nothing manual does.

use livecard_connectors::sip::{SipConfig, spawn};
use livecard_core::advisor::Identities;
use livecard_core::channel::Channel;
use livecard_core::ids::AdvisorId;
use livecard_core::presence::{PresenceSource, PresenceState, Rule};
use livecard_local::testkit::kamailio::{Kamailio, call, phone, pidf, publish};
use livecard_local::testkit::{advisor, local_app, presence};
use livecard_store::prelude::*;
use std::time::{Duration, Instant};

async fn decision(
    app: &livecard_local::LocalApp,
    channel: Channel,
) -> livecard_core::presence::Decision {
    let record = app
        .store
        .get_advisor(&AdvisorId::parse("anna").expect("id"))
        .await
        .expect("get")
        .expect("anna");
    record.presence.decide(
        channel,
        record.advisor.channels,
        &app.config.presence,
        app.now(),
    )
}

async fn until(
    app: &livecard_local::LocalApp,
    what: &str,
    check: impl Fn(&livecard_core::presence::Decision) -> bool,
    kamailio: &Kamailio,
) {
    until_on(app, Channel::Video, what, check, kamailio).await
}

async fn until_on(
    app: &livecard_local::LocalApp,
    channel: Channel,
    what: &str,
    check: impl Fn(&livecard_core::presence::Decision) -> bool,
    kamailio: &Kamailio,
) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let d = decision(app, channel).await;
        if check(&d) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: {d:?} {:?}\n{}\nphone: {}\ncaller: {}",
            app.connectors.snapshot(),
            kamailio.log(),
            std::fs::read_to_string(kamailio.dir.join("phone.log")).unwrap_or_default(),
            std::fs::read_to_string(kamailio.dir.join("caller.log")).unwrap_or_default(),
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A local app with Anna, her desk phone extension `ext`, her console
/// open; the watcher's debug log on.
async fn anna_at(
    ext: &str,
) -> (
    livecard_store::embedded::EmbeddedDynamo,
    std::sync::Arc<livecard_local::LocalApp>,
) {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("livecard_connectors::sip=debug")
        .with_test_writer()
        .try_init();
    let (db, app) = local_app().await;
    let identities = Identities {
        sip: Some(ext.into()),
        ..Identities::default()
    };
    app.save_advisor(&advisor("anna", identities))
        .await
        .expect("advisor");
    app.store
        .heartbeat(&AdvisorId::parse("anna").expect("id"), u64::MAX / 2)
        .await
        .expect("heartbeat");
    (db, app)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_call_makes_audio_and_video_busy_until_the_bye() {
    let kamailio = Kamailio::start("sip");
    // Anna's console is open and she is available.
    let (_db, app) = anna_at("200").await;
    let id = AdvisorId::parse("anna").expect("id");
    let now = app.now();
    let manual = app
        .config
        .presence
        .manual_update(
            Channel::ALL
                .iter()
                .map(|c| (*c, PresenceState::Available))
                .collect(),
            now,
            now + 3_600_000,
        )
        .expect("manual");
    app.set_presence(&id, &manual).await.expect("presence");

    let mut config = SipConfig::new(
        format!("127.0.0.1:{}", kamailio.port)
            .parse()
            .expect("addr"),
    );
    config.domain = "127.0.0.1".into();
    let watcher = spawn(presence(&app), config);
    subscribed(&app, &kamailio).await;
    assert_eq!(
        decision(&app, Channel::Video).await.state,
        PresenceState::Available
    );

    // Anna's desk phone (extension 200) is a SIPp answering machine; a
    // second SIPp calls it and hangs up after three seconds.
    let _phone = phone(&kamailio, "200");
    let _caller = call(&kamailio, "200", 3000);
    until(
        &app,
        "busy on the phone",
        |d| {
            d.state == PresenceState::Busy
                && d.rule == Rule::OnCall
                && d.source == Some(PresenceSource::SipDialog)
        },
        &kamailio,
    )
    .await;
    assert_eq!(
        decision(&app, Channel::Chat).await.state,
        PresenceState::Available,
        "chat is not the phone's"
    );
    let health = app.connectors.snapshot().get("sip").cloned().expect("sip");
    assert_eq!(
        (health.errors, health.ok),
        (0, true),
        "a PBX without the presence package is no error: {health:?}"
    );
    until(
        &app,
        "free after the BYE",
        |d| d.state == PresenceState::Available,
        &kamailio,
    )
    .await;
    watcher.abort();
}

/// The subscriptions are up once the server's first NOTIFY arrived.
async fn subscribed(app: &livecard_local::LocalApp, kamailio: &Kamailio) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !app
        .connectors
        .snapshot()
        .get("sip")
        .is_some_and(|h| h.ok && h.last_success.is_some())
    {
        assert!(
            Instant::now() < deadline,
            "no subscription: {:?}\n{}",
            app.connectors.snapshot(),
            kamailio.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_documents_of_the_phone_decide_when_nothing_manual_does() {
    let kamailio = Kamailio::with_presence("sip-presence");
    // Anna's console is open; no manual state: the automatic sources decide.
    let (_db, app) = anna_at("201").await;
    let mut config = SipConfig::new(
        format!("127.0.0.1:{}", kamailio.port)
            .parse()
            .expect("addr"),
    );
    config.domain = "127.0.0.1".into();
    let watcher = spawn(presence(&app), config);
    subscribed(&app, &kamailio).await;
    let first = decision(&app, Channel::Chat).await;
    assert_eq!(
        (first.state, first.rule),
        (PresenceState::Offline, Rule::NoSource),
        "nothing published yet says nothing"
    );

    // The desk phone publishes: open, then away, then on the phone, then closed.
    let from_phone = |state: PresenceState| {
        move |d: &livecard_core::presence::Decision| {
            d.state == state && d.source == Some(PresenceSource::SipPresence)
        }
    };
    let etag = publish(&kamailio, "201", None, &pidf("201", "open", &[]));
    until_on(
        &app,
        Channel::Chat,
        "open is available",
        from_phone(PresenceState::Available),
        &kamailio,
    )
    .await;
    let etag = publish(
        &kamailio,
        "201",
        Some(&etag),
        &pidf("201", "open", &["away"]),
    );
    until_on(
        &app,
        Channel::Chat,
        "an away activity",
        from_phone(PresenceState::Away),
        &kamailio,
    )
    .await;
    let etag = publish(
        &kamailio,
        "201",
        Some(&etag),
        &pidf("201", "open", &["on-the-phone"]),
    );
    until(
        &app,
        "on the phone",
        |d| {
            d.state == PresenceState::Busy
                && d.rule == Rule::OnCall
                && d.source == Some(PresenceSource::SipPresence)
        },
        &kamailio,
    )
    .await;
    assert_eq!(
        decision(&app, Channel::Chat).await.state,
        PresenceState::Available,
        "chat stays with the status"
    );
    publish(&kamailio, "201", Some(&etag), &pidf("201", "closed", &[]));
    until_on(
        &app,
        Channel::Chat,
        "closed is offline",
        from_phone(PresenceState::Offline),
        &kamailio,
    )
    .await;
    let health = app.connectors.snapshot().get("sip").cloned().expect("sip");
    assert_eq!(health.errors, 0, "{health:?}");
    watcher.abort();
}
