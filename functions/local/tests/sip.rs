//! The SIP watcher against a real SIP server: Debian's Kamailio with its
//! presence modules (presence, presence_dialoginfo, pua, pua_dialoginfo,
//! dialog) on loopback, started here with a generated configuration and a
//! db_text database in a temporary directory. SIPp registers a phone and
//! calls it; the advisor of that extension turns busy for audio and video
//! while the call is up, and free after the BYE.

use livecard_core::advisor::{AdvisorInput, Identities};
use livecard_core::card::Keyring;
use livecard_core::channel::{Channel, ChannelSet};
use livecard_core::ids::AdvisorId;
use livecard_core::presence::{PresenceSource, PresenceState, Rule};
use livecard_local::sip::{SipConfig, spawn};
use livecard_store::dynamo::{DynamoStore, local_client};
use livecard_store::embedded::EmbeddedDynamo;
use livecard_store::prelude::*;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

struct Kamailio {
    dir: PathBuf,
    port: u16,
    child: Child,
}

impl Kamailio {
    fn start(name: &str) -> Self {
        let modules = "/usr/lib/x86_64-linux-gnu/kamailio/modules";
        let schema = "/usr/share/kamailio/dbtext/kamailio";
        assert!(
            std::path::Path::new(&format!("{modules}/presence_dialoginfo.so")).exists()
                && std::path::Path::new(schema).exists(),
            "kamailio and its presence modules are not installed: the test command installs Debian's kamailio and kamailio-presence-modules"
        );
        let dir = std::env::temp_dir().join(format!("livecard-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("db")).expect("dir");
        for entry in std::fs::read_dir(schema).expect("schema") {
            let entry = entry.expect("entry");
            std::fs::copy(entry.path(), dir.join("db").join(entry.file_name())).expect("copy");
        }
        let port = free_udp_port();
        let d = dir.display();
        let config = dir.join("kamailio.cfg");
        std::fs::write(
            &config,
            format!(
                r#"#!KAMAILIO
debug=1
log_stderror=yes
# One worker: the dialog's PUBLISHes are handled in the order they come
# (with two, "early" can overtake "confirmed" inside the server).
children=1
auto_aliases=no
listen=udp:127.0.0.1:{port}
alias="127.0.0.1:{port}"
mpath="{modules}/"
loadmodule "kex.so"
loadmodule "tm.so"
loadmodule "tmx.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "xlog.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "db_text.so"
loadmodule "dialog.so"
loadmodule "presence.so"
loadmodule "presence_dialoginfo.so"
loadmodule "pua.so"
loadmodule "pua_dialoginfo.so"
modparam("usrloc", "db_mode", 0)
modparam("dialog", "dlg_flag", 4)
modparam("presence", "db_url", "text://{d}/db")
modparam("presence", "server_address", "sip:127.0.0.1:{port}")
modparam("presence", "subs_db_mode", 0)
modparam("pua", "db_url", "text://{d}/db")
modparam("pua", "db_mode", 0)
modparam("pua", "outbound_proxy", "sip:127.0.0.1:{port}")
modparam("pua_dialoginfo", "send_publish_flag", -1)
modparam("pua_dialoginfo", "caller_confirmed", 1)
request_route {{
    xlog("L_NOTICE", "$rm $ru from $si:$sp\n");
    if (!mf_process_maxfwd_header("10")) {{ sl_send_reply("483", "Too Many Hops"); exit; }}
    if (is_method("REGISTER")) {{ save("location"); exit; }}
    if (is_method("PUBLISH|SUBSCRIBE")) {{
        if (!t_newtran()) {{ sl_reply_error(); exit; }}
        if (is_method("PUBLISH")) {{ handle_publish(); }} else {{ handle_subscribe(); }}
        t_release();
        exit;
    }}
    if (has_totag()) {{
        if (loose_route()) {{ t_relay(); exit; }}
        # SIPp sends in-dialog requests to the proxy without a Route.
        dlg_manage();
        if (is_method("ACK|BYE") && lookup("location")) {{ t_relay(); exit; }}
        sl_send_reply("404", "Not here");
        exit;
    }}
    if (is_method("INVITE")) {{ setflag(4); record_route(); }}
    if (!lookup("location")) {{ sl_send_reply("404", "Not Found"); exit; }}
    t_relay();
}}
"#
            ),
        )
        .expect("config");
        let log = std::fs::File::create(dir.join("kamailio.log")).expect("log");
        let child = Command::new("kamailio")
            .args(["-DD", "-E", "-f"])
            .arg(&config)
            .arg("-P")
            .arg(dir.join("kamailio.pid"))
            .arg("-w")
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("kamailio starts");
        let k = Self { dir, port, child };
        // Listening once an OPTIONS is answered (any answer).
        let probe = std::net::UdpSocket::bind("127.0.0.1:0").expect("probe");
        probe
            .set_read_timeout(Some(Duration::from_millis(200)))
            .expect("timeout");
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut buf = [0u8; 2048];
        loop {
            let options = format!(
                "OPTIONS sip:127.0.0.1:{port} SIP/2.0\r\nVia: SIP/2.0/UDP {};branch=z9hG4bKprobe\r\nMax-Forwards: 70\r\nFrom: <sip:probe@127.0.0.1>;tag=p\r\nTo: <sip:127.0.0.1:{port}>\r\nCall-ID: probe\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
                probe.local_addr().expect("addr")
            );
            let _ = probe.send_to(options.as_bytes(), ("127.0.0.1", port));
            if probe.recv_from(&mut buf).is_ok() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "kamailio did not answer: {}",
                k.log()
            );
        }
        k
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("kamailio.log")).unwrap_or_default()
    }
}

impl Drop for Kamailio {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A SIPp process, killed when dropped.
struct Sipp(Child);

impl Drop for Sipp {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn sipp(args: &[&str], log: &std::path::Path) -> Sipp {
    Sipp(
        Command::new("sipp")
            .args(args)
            .args(["-trace_err", "-error_file"])
            .arg(log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("sipp (Debian's sip-tester) runs"),
    )
}

/// Registers extension `ext` at the server with a contact on `contact_port`.
fn register(server: u16, ext: &str, contact_port: u16) {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("socket");
    socket
        .set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    let local = socket.local_addr().expect("addr");
    let register = format!(
        "REGISTER sip:127.0.0.1:{server} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bKreg{ext}\r\nMax-Forwards: 70\r\nFrom: <sip:{ext}@127.0.0.1>;tag=r{ext}\r\nTo: <sip:{ext}@127.0.0.1>\r\nCall-ID: reg-{ext}\r\nCSeq: 1 REGISTER\r\nContact: <sip:{ext}@127.0.0.1:{contact_port}>\r\nExpires: 600\r\nContent-Length: 0\r\n\r\n"
    );
    socket
        .send_to(register.as_bytes(), ("127.0.0.1", server))
        .expect("send");
    let mut buf = [0u8; 4096];
    let (n, _) = socket.recv_from(&mut buf).expect("a REGISTER answer");
    let answer = String::from_utf8_lossy(&buf[..n]);
    assert!(answer.starts_with("SIP/2.0 200"), "{answer}");
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
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let d = decision(app, Channel::Video).await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_call_makes_audio_and_video_busy_until_the_bye() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("livecard_local::sip=debug")
        .with_test_writer()
        .try_init();
    let kamailio = Kamailio::start("sip");
    let (_db, app) = app().await;
    app.save_advisor(
        &AdvisorInput {
            id: "anna".into(),
            display_name: "Anna".into(),
            title: String::new(),
            photo_url: None,
            languages: vec![],
            topics: vec![],
            channels: ChannelSet::ALL,
            capacity: 2,
            identities: Identities {
                sip: Some("200".into()),
                ..Identities::default()
            },
        }
        .validate()
        .expect("advisor"),
    )
    .await
    .expect("advisor");
    // Anna's console is open and she is available.
    let id = AdvisorId::parse("anna").expect("id");
    app.store
        .heartbeat(&id, u64::MAX / 2)
        .await
        .expect("heartbeat");
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
    let watcher = spawn(app.clone(), config);
    // The subscription is up once the server's first NOTIFY arrived.
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
    assert_eq!(
        decision(&app, Channel::Video).await.state,
        PresenceState::Available
    );

    // Anna's desk phone (extension 200) is a SIPp answering machine; a
    // second SIPp calls it and hangs up after three seconds.
    let phone_port = free_udp_port();
    let phone_port_s = phone_port.to_string();
    let _phone = sipp(
        &[
            "-sn",
            "uas",
            "-i",
            "127.0.0.1",
            "-p",
            &phone_port_s,
            "-m",
            "1",
        ],
        &kamailio.dir.join("phone.log"),
    );
    // The phone answers once SIPp holds its port.
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::UdpSocket::bind(("127.0.0.1", phone_port)).is_ok() {
        assert!(Instant::now() < deadline, "SIPp did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    register(kamailio.port, "200", phone_port);
    let caller_port = free_udp_port().to_string();
    let server = format!("127.0.0.1:{}", kamailio.port);
    let _caller = sipp(
        &[
            "-sn",
            "uac",
            "-s",
            "200",
            &server,
            "-i",
            "127.0.0.1",
            "-p",
            &caller_port,
            "-m",
            "1",
            "-d",
            "3000",
        ],
        &kamailio.dir.join("caller.log"),
    );
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
    until(
        &app,
        "free after the BYE",
        |d| d.state == PresenceState::Available,
        &kamailio,
    )
    .await;
    watcher.abort();
}
