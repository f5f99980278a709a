//! Prosody (Debian's `prosody` with `prosody-modules`) for tests and
//! benches of the XMPP connector, and a plain c2s client to play users.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The component secret of the generated configuration.
pub const SECRET: &str = "component-secret";

/// A free TCP port on loopback.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Prosody on loopback ports, with a generated configuration and its data in
/// a temporary directory; users `anna` and `ben` (password `<name>-password`)
/// and the component `presence.localhost` with [`SECRET`], privileged for
/// presence (XEP-0356).
pub struct Prosody {
    dir: PathBuf,
    config: PathBuf,
    pub c2s: u16,
    pub component: u16,
    child: Option<Child>,
}

impl Prosody {
    pub fn new(name: &str) -> Self {
        Self::with_users(name, &["anna", "ben"])
    }

    /// With these users registered.
    pub fn with_users(name: &str, users: &[&str]) -> Self {
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
        for user in users {
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

    pub fn start(&mut self) {
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

    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn log(&self) -> String {
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
pub struct User {
    stream: TcpStream,
}

impl User {
    pub fn read(&mut self) -> String {
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

    pub fn say(&mut self, xml: &str) {
        self.stream.write_all(xml.as_bytes()).expect("write");
    }

    pub fn expect(&mut self, what: &str) -> String {
        let got = self.read();
        assert!(got.contains(what), "expected {what}, got {got}");
        got
    }

    pub fn login(port: u16, user: &str, resource: &str) -> Self {
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

    pub fn presence(&mut self, inner: &str) {
        self.say(&format!("<presence>{inner}</presence>"));
    }
}
