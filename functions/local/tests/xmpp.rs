//! The XMPP connector against a real XMPP server: Debian's Prosody with
//! `mod_privilege` (prosody-modules), started here with a generated
//! configuration on loopback ports in a temporary directory. Advisors log
//! in as XMPP users (a plain c2s client written here, SASL PLAIN without
//! TLS as the test server allows), change `<show/>`, use two resources, go
//! on the phone and go away; the server is killed and started again.

use livecard_core::advisor::{AdvisorInput, Identities};
use livecard_core::card::Keyring;
use livecard_core::channel::{Channel, ChannelSet};
use livecard_core::ids::AdvisorId;
use livecard_core::presence::{PresenceSource, PresenceState, Rule};
use livecard_local::xmpp::{XmppConfig, spawn};
use livecard_store::dynamo::{DynamoStore, local_client};
use livecard_store::embedded::EmbeddedDynamo;
use livecard_store::prelude::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const SECRET: &str = "component-secret";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

struct Prosody {
    dir: PathBuf,
    config: PathBuf,
    c2s: u16,
    component: u16,
    child: Option<Child>,
}

impl Prosody {
    fn new(name: &str) -> Self {
        assert!(
            Command::new("prosody").arg("--help").output().is_ok(),
            "prosody is not installed: the test command installs Debian's prosody and prosody-modules"
        );
        let dir = std::env::temp_dir().join(format!("livecard-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("data")).expect("dir");
        let (c2s, component) = (free_port(), free_port());
        let d = dir.display();
        let config = dir.join("prosody.cfg.lua");
        std::fs::write(
            &config,
            format!(
                r#"pidfile = "{d}/prosody.pid"
data_path = "{d}/data"
run_as_root = true
daemonize = false
interfaces = {{ "127.0.0.1" }}
c2s_ports = {{ {c2s} }}
component_ports = {{ {component} }}
component_interface = "127.0.0.1"
s2s_ports = {{ }}
http_ports = {{ }}
https_ports = {{ }}
modules_disabled = {{ "s2s" }}
authentication = "internal_plain"
c2s_require_encryption = false
allow_unencrypted_plain_auth = true
log = {{ {{ levels = {{ min = "info" }}, to = "file", filename = "{d}/prosody.log" }} }}
modules_enabled = {{ "roster", "saslauth", "disco", "posix" }}
VirtualHost "localhost"
  modules_enabled = {{ "privilege" }}
  privileged_entities = {{ ["presence.localhost"] = {{ presence = "managed_entity" }} }}
Component "presence.localhost"
  component_secret = "{SECRET}"
  modules_enabled = {{ "privilege" }}
"#
            ),
        )
        .expect("config");
        let prosody = Self {
            dir,
            config,
            c2s,
            component,
            child: None,
        };
        for user in ["anna", "ben"] {
            let status = Command::new("prosodyctl")
                .arg("--config")
                .arg(&prosody.config)
                .args(["register", user, "localhost", &format!("{user}-password")])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .expect("prosodyctl");
            assert!(status.success(), "registering {user}");
        }
        prosody
    }

    fn start(&mut self) {
        let child = Command::new("prosody")
            .arg("--config")
            .arg(&self.config)
            .arg("-F")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prosody starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", self.c2s)).is_err()
            || TcpStream::connect(("127.0.0.1", self.component)).is_err()
        {
            assert!(
                Instant::now() < deadline,
                "prosody did not listen: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("prosody.log")).unwrap_or_default()
    }
}

impl Drop for Prosody {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A user's c2s connection: SASL PLAIN, a bound resource, presence.
struct User {
    stream: TcpStream,
}

impl User {
    fn read(&mut self) -> String {
        let mut out = Vec::new();
        let mut buf = [0u8; 8192];
        let deadline = Instant::now() + Duration::from_secs(5);
        self.stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .expect("timeout");
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(_) if !out.is_empty() => break,
                Err(_) => {}
            }
            if Instant::now() > deadline {
                break;
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    fn say(&mut self, xml: &str) {
        self.stream.write_all(xml.as_bytes()).expect("write");
    }

    fn expect(&mut self, what: &str) -> String {
        let got = self.read();
        assert!(got.contains(what), "expected {what}, got {got}");
        got
    }

    fn login(port: u16, user: &str, resource: &str) -> Self {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("c2s");
        let mut u = Self { stream };
        let open = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>";
        u.say(open);
        u.expect("PLAIN");
        use base64::Engine as _;
        let auth =
            base64::engine::general_purpose::STANDARD.encode(format!("\0{user}\0{user}-password"));
        u.say(&format!(
            "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{auth}</auth>"
        ));
        u.expect("success");
        u.say(open);
        u.expect("bind");
        u.say(&format!("<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>{resource}</resource></bind></iq>"));
        u.expect("result");
        u
    }

    fn presence(&mut self, inner: &str) {
        self.say(&format!("<presence>{inner}</presence>"));
    }
}

fn advisor(id: &str, xmpp: &str) -> livecard_core::advisor::Advisor {
    AdvisorInput {
        id: id.into(),
        display_name: id.into(),
        title: String::new(),
        photo_url: None,
        languages: vec![],
        topics: vec![],
        channels: ChannelSet::ALL,
        capacity: 2,
        identities: Identities {
            xmpp: Some(xmpp.into()),
            ..Identities::default()
        },
    }
    .validate()
    .expect("advisor")
}

async fn app() -> (EmbeddedDynamo, Arc<livecard_local::LocalApp>) {
    let server = EmbeddedDynamo::start(None).await.expect("embedded store");
    let store = DynamoStore::new(local_client(server.endpoint()), "livecard");
    store.ensure_table().await.expect("table");
    let secrets = livecard_app::Secrets {
        cards: Keyring::new("k1", vec![("k1".into(), vec![1; 32])]).expect("keyring"),
        session_key: vec![2; 32],
        visitor_key: vec![3; 32],
        presence_webhook_key: vec![5; 32],
        turn_secret: None,
        admin_key_sha256: None,
    };
    let config = livecard_app::Config::new("http://livecard.test");
    (
        server,
        Arc::new(livecard_local::local_app(store, config, secrets)),
    )
}

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
    let (_db, app) = app().await;
    for id in ["anna", "ben"] {
        app.save_advisor(&advisor(id, &format!("{id}@localhost")))
            .await
            .expect("advisor");
        app.store
            .heartbeat(&AdvisorId::parse(id).expect("id"), u64::MAX / 2)
            .await
            .expect("heartbeat");
    }
    let connector = spawn(
        app.clone(),
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
