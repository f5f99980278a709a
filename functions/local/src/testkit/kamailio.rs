//! Kamailio (Debian's `kamailio` with `kamailio-presence-modules`) and
//! SIPp phones, for tests and benches of the SIP watcher.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A free UDP port on loopback.
pub fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Kamailio on a loopback UDP port with the presence modules (dialog
/// package published from calls through it), its configuration and db_text
/// database in a temporary directory.
pub struct Kamailio {
    pub dir: PathBuf,
    pub port: u16,
    child: Child,
}

impl Kamailio {
    /// A PBX that offers the dialog package only (a presence SUBSCRIBE is
    /// refused with 489 Bad Event).
    pub fn start(name: &str) -> Self {
        Self::start_with(name, false)
    }

    /// A PBX that also offers the presence package (`presence_xml`:
    /// PIDF documents PUBLISHed by phones, every watcher authorised).
    pub fn with_presence(name: &str) -> Self {
        Self::start_with(name, true)
    }

    fn start_with(name: &str, presence: bool) -> Self {
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
        let presence_xml = if presence {
            format!(
                "loadmodule \"presence_xml.so\"\nmodparam(\"presence_xml\", \"db_url\", \"text://{d}/db\")\nmodparam(\"presence_xml\", \"force_active\", 1)\n"
            )
        } else {
            String::new()
        };
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
{presence_xml}request_route {{
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
            // Its own process group: its workers are stopped with it.
            .process_group(0)
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

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("kamailio.log")).unwrap_or_default()
    }
}

impl Drop for Kamailio {
    fn drop(&mut self) {
        // SIGTERM lets the main process stop its workers; then whatever is
        // left of the group (a worker that outlived it) is killed.
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A phone's PUBLISH of a PIDF document for extension `ext` (RFC 3903):
/// `etag` refreshes the phone's earlier publication; answers the new
/// entity tag.
pub fn publish(kamailio: &Kamailio, ext: &str, etag: Option<&str>, pidf: &str) -> String {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("socket");
    socket
        .set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    let local = socket.local_addr().expect("addr");
    let server = kamailio.port;
    let n = PUBLISHED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let if_match = etag
        .map(|e| format!("SIP-If-Match: {e}\r\n"))
        .unwrap_or_default();
    let publish = format!(
        "PUBLISH sip:{ext}@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bKpub{n}\r\nMax-Forwards: 70\r\nFrom: <sip:{ext}@127.0.0.1>;tag=pub{n}\r\nTo: <sip:{ext}@127.0.0.1>\r\nCall-ID: publish-{ext}-{n}\r\nCSeq: 1 PUBLISH\r\nEvent: presence\r\nExpires: 600\r\n{if_match}Content-Type: application/pidf+xml\r\nContent-Length: {len}\r\n\r\n{pidf}",
        len = pidf.len()
    );
    socket
        .send_to(publish.as_bytes(), ("127.0.0.1", server))
        .expect("send");
    let mut buf = [0u8; 4096];
    let (n, _) = socket.recv_from(&mut buf).expect("a PUBLISH answer");
    let answer = String::from_utf8_lossy(&buf[..n]);
    assert!(
        answer.starts_with("SIP/2.0 200"),
        "{answer}\n{}",
        kamailio.log()
    );
    answer
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.trim()
                .eq_ignore_ascii_case("sip-etag")
                .then(|| value.trim().to_owned())
        })
        .expect("a SIP-ETag")
}

static PUBLISHED: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// A PIDF document as a phone publishes it: `basic` open or closed, and
/// RPID activities (`on-the-phone`, `busy`, `away`, …).
pub fn pidf(ext: &str, basic: &str, activities: &[&str]) -> String {
    let activities: String = activities.iter().map(|a| format!("<rpid:{a}/>")).collect();
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model" xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid" entity="sip:{ext}@127.0.0.1">
<tuple id="desk"><status><basic>{basic}</basic></status></tuple>
<dm:person id="p{ext}"><rpid:activities>{activities}</rpid:activities></dm:person>
</presence>"#
    )
}

/// A SIPp process, killed when dropped.
pub struct Sipp(Child);

impl Drop for Sipp {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs SIPp (Debian's `sip-tester`) with `args`, its errors in `log`.
pub fn sipp(args: &[&str], log: &std::path::Path) -> Sipp {
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
pub fn register(server: u16, ext: &str, contact_port: u16) {
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

/// A phone for extension `ext`: SIPp answering one call, registered.
pub fn phone(kamailio: &Kamailio, ext: &str) -> Sipp {
    phone_for(kamailio, ext, 1)
}

/// A phone for extension `ext` that answers `calls` calls.
pub fn phone_for(kamailio: &Kamailio, ext: &str, calls: u32) -> Sipp {
    let port = free_udp_port();
    let port_s = port.to_string();
    let calls = calls.to_string();
    let sipp = sipp(
        &["-sn", "uas", "-i", "127.0.0.1", "-p", &port_s, "-m", &calls],
        &kamailio.dir.join(format!("phone-{ext}.log")),
    );
    // The phone answers once SIPp holds its port.
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok() {
        assert!(Instant::now() < deadline, "SIPp did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    register(kamailio.port, ext, port);
    sipp
}

/// A call to extension `ext` that hangs up after `hold_ms`.
pub fn call(kamailio: &Kamailio, ext: &str, hold_ms: u64) -> Sipp {
    let port = free_udp_port().to_string();
    let server = format!("127.0.0.1:{}", kamailio.port);
    let hold = hold_ms.to_string();
    sipp(
        &[
            "-sn",
            "uac",
            "-s",
            ext,
            &server,
            "-i",
            "127.0.0.1",
            "-p",
            &port,
            "-m",
            "1",
            "-d",
            &hold,
        ],
        &kamailio.dir.join(format!("caller-{ext}.log")),
    )
}
