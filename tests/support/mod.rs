//! Shared pieces of the end-to-end tests: the real `livecard` binary, a
//! chromedriver, headless Chromium sessions and axe-core.

#![allow(dead_code)] // each test file uses a different part

use fantoccini::{Client, ClientBuilder};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_livecard");

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// An empty directory of this test process under the system's temp dir.
fn fresh_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("livecard-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// A test's scratch directory (a data directory holds the store, the admin
/// key and the signing keys), removed when dropped. A failing test's is
/// kept, and its path printed, to look into.
pub struct Scratch(PathBuf);

pub fn temp_dir(name: &str) -> Scratch {
    Scratch(fresh_dir(name))
}

impl std::ops::Deref for Scratch {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("kept the failing test's files in {}", self.0.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// `livecard up` on a free loopback port, stopped on drop.
pub struct Livecard {
    child: Child,
    pub url: String,
    /// The widget demo site (another origin), when it was served.
    pub demo_url: Option<String>,
    pub data_dir: PathBuf,
    pub card_links: Vec<(String, String)>,
    pub signin_links: Vec<(String, String)>,
    /// The in-process media node's TURN address and metrics URL.
    pub turn_addr: Option<String>,
    pub media_metrics: Option<String>,
    /// The data directory, when this server made it (dropped after the
    /// server stops).
    scratch: Option<Scratch>,
}

impl Livecard {
    pub fn start(name: &str) -> Self {
        let scratch = temp_dir(name);
        let mut server = Self::start_in(scratch.to_path_buf(), &[]);
        server.scratch = Some(scratch);
        server
    }

    pub fn start_in(data_dir: PathBuf, extra: &[&str]) -> Self {
        Self::start_in_with_env(data_dir, extra, &[])
    }

    /// `livecard up` with settings from the environment (the presence
    /// connectors').
    pub fn start_in_with_env(data_dir: PathBuf, extra: &[&str], env: &[(&str, &str)]) -> Self {
        let mut args = vec!["up", "--addr", "127.0.0.1:0"];
        args.extend_from_slice(extra);
        Self::try_spawn(data_dir, &args, env).unwrap_or_else(|err| panic!("{err}"))
    }

    /// The edge host: the Worker (built by `scripts/build-worker.sh`) under
    /// `wrangler dev --local`, on the data directory's store (`livecard edge`).
    ///
    /// The port is found free, then given to wrangler: another process may
    /// take it in between (wrangler then exits, "address already in use").
    /// That is the test's port choice, not the product: it is said, and
    /// another port is tried (at most three).
    /// Each attempt starts on a fresh data directory: a second start on the
    /// first's would be a restart, which prints no links.
    pub fn start_edge(name: &str, extra: &[&str]) -> Self {
        for attempt in 1..=3 {
            let scratch = temp_dir(name);
            match Self::try_start_edge_in(scratch.to_path_buf(), free_port(), extra) {
                Ok(mut server) => {
                    server.scratch = Some(scratch);
                    return server;
                }
                Err(err) if attempt < 3 => {
                    eprintln!("livecard edge did not start ({err}); trying another port");
                }
                Err(err) => panic!("{err}"),
            }
        }
        unreachable!("three attempts return or panic")
    }

    /// The same on a data directory and port of the caller's (a restart).
    pub fn start_edge_in(data_dir: PathBuf, port: u16, extra: &[&str]) -> Self {
        Self::try_start_edge_in(data_dir, port, extra).unwrap_or_else(|err| panic!("{err}"))
    }

    fn try_start_edge_in(data_dir: PathBuf, port: u16, extra: &[&str]) -> Result<Self, String> {
        let addr = format!("127.0.0.1:{port}");
        let worker = repo_root().join("functions/worker");
        let worker = worker.to_str().expect("a UTF-8 path");
        let mut args = vec!["edge", "--addr", &addr, "--worker-dir", worker];
        args.extend_from_slice(extra);
        Self::try_spawn(data_dir, &args, &[])
    }

    fn try_spawn(data_dir: PathBuf, args: &[&str], env: &[(&str, &str)]) -> Result<Self, String> {
        let mut child = Command::new(BIN)
            .arg("--data-dir")
            .arg(&data_dir)
            .args(args)
            .env("LIVECARD_LOG", "warn")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("livecard starts");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut url = None;
        let mut demo_url = None;
        let mut turn_addr = None;
        let mut media_metrics = None;
        let mut card_links = Vec::new();
        let mut signin_links = Vec::new();
        let mut section = "";
        // The Worker host starts wrangler and workerd first.
        let deadline = Instant::now() + Duration::from_secs(120);
        while Instant::now() < deadline {
            let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) else {
                if let Ok(Some(status)) = child.try_wait() {
                    return Err(format!("livecard exited early: {status}"));
                }
                continue;
            };
            if let Some((_, rest)) = line
                .strip_prefix("media node ")
                .and_then(|l| l.split_once("(TURN) on "))
            {
                // "<addr> udp/tcp; metrics on <url>"
                turn_addr = rest.split_whitespace().next().map(str::to_owned);
                media_metrics = rest.rsplit(' ').next().map(str::to_owned);
            } else if let Some(rest) = line.strip_prefix("widget demo on another origin: ") {
                demo_url = Some(rest.trim().to_owned());
            } else if let Some(rest) = line.strip_prefix("livecard is running on ") {
                url = Some(rest.trim().to_owned());
            } else if line.starts_with("advisor sign-in links:") {
                break; // none printed (a restart, not to a terminal)
            } else if line.starts_with("card links") {
                section = "cards";
            } else if line.starts_with("advisor sign-in links") {
                section = "signins";
            } else if let Some((name, link)) = line.trim().rsplit_once(' ') {
                let entry = (name.trim().to_owned(), link.to_owned());
                match section {
                    "cards" => card_links.push(entry),
                    "signins" => {
                        signin_links.push(entry);
                        if signin_links.len() == card_links.len() {
                            break;
                        }
                    }
                    _ => {}
                }
            }
        }
        let url = url.expect("livecard printed its URL");
        Ok(Self {
            child,
            url,
            demo_url,
            data_dir,
            card_links,
            signin_links,
            turn_addr,
            media_metrics,
            scratch: None,
        })
    }

    pub fn card_link(&self, name: &str) -> &str {
        &self
            .card_links
            .iter()
            .find(|(n, _)| n == name)
            .expect("card link")
            .1
    }

    pub fn signin_link(&self, name: &str) -> &str {
        &self
            .signin_links
            .iter()
            .find(|(n, _)| n == name)
            .expect("sign-in link")
            .1
    }

    /// Runs a CLI command against this server; returns stdout.
    pub fn cli(&self, args: &[&str]) -> Result<String, String> {
        let output = Command::new(BIN)
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(args)
            .args(["--api", &self.url])
            .output()
            .expect("CLI runs");
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&output.stderr).into_owned())
        }
    }

    /// Another media node in its own process (`livecard media-node`),
    /// joined to this server; killed when dropped.
    pub fn media_node(&self, id: &str, drain_deadline: &str) -> MediaNodeProcess {
        let mut child = Command::new(BIN)
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(["media-node", "--id", id, "--drain-deadline", drain_deadline])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("livecard media-node starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let prefix = format!("media node {id} (TURN) on ");
        let turn_addr = loop {
            let line = lines
                .next()
                .and_then(Result::ok)
                .unwrap_or_else(|| panic!("media node {id} exited before it listened"));
            if let Some(rest) = line.strip_prefix(&prefix) {
                break rest.split_whitespace().next().expect("address").to_owned();
            }
        };
        // Keep reading (the node prints its drain), so it never blocks.
        let printed = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = printed.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                if let Ok(mut all) = sink.lock() {
                    all.push(line);
                }
            }
        });
        MediaNodeProcess {
            child,
            turn_addr,
            printed,
        }
    }

    /// Stops the server as an operator would (SIGTERM) and checks that it
    /// shut down cleanly (queued events written) within a few seconds.
    pub fn stop(mut self) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill runs");
        assert!(sent.success(), "SIGTERM sent");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                assert!(status.success(), "livecard did not stop cleanly: {status}");
                return;
            }
            assert!(
                Instant::now() < deadline,
                "livecard did not stop after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Livecard {
    fn drop(&mut self) {
        // SIGTERM first, so what it started (the edge host's wrangler and
        // workerd) stops with it even when a test fails; then SIGKILL.
        if let Ok(None) = self.child.try_wait() {
            let _ = Command::new("kill")
                .args(["-TERM", &self.child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Checks a received webhook's Standard Webhooks signature under `key`,
/// now (the receiver's check: id, timestamp within tolerance, signature).
#[allow(dead_code)] // not every test binary receives webhooks
pub fn assert_signed(
    key: &[u8],
    id: Option<&str>,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &str,
) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_millis() as u64;
    assert_eq!(
        livecard_core::webhook::verify(key, id, timestamp, signature, body.as_bytes(), now),
        Ok(()),
        "the webhook's signature"
    );
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A chromedriver on loopback, stopped on drop.
pub struct Driver {
    child: Child,
    pub url: String,
    profiles: Vec<PathBuf>,
}

impl Driver {
    pub async fn start() -> Self {
        let chromedriver = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into());
        let port = free_port();
        let mut command = Command::new(&chromedriver);
        // Its own process group, so that the browsers it starts go with it
        // even when a test fails before closing them.
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let child = command
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {chromedriver} ({e}): run scripts/test.sh, which installs chromium-driver"));
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Self {
            child,
            url,
            profiles: Vec::new(),
        }
    }

    /// A new headless Chromium with its own profile, a fake camera and
    /// microphone, and camera and microphone allowed.
    pub async fn browser(&mut self) -> Client {
        self.browser_with(&["--use-fake-ui-for-media-stream"]).await
    }

    /// A new headless Chromium with its own profile, a fake camera and
    /// microphone, and these extra flags.
    pub async fn browser_with(&mut self, extra: &[&str]) -> Client {
        self.browser_with_prefs(extra, None).await
    }

    /// A new headless Chromium with these flags and profile preferences
    /// (for example a permission granted, as a user would have).
    pub async fn browser_with_prefs(&mut self, extra: &[&str], prefs: Option<Value>) -> Client {
        // Unique in the process: tests of one file run at once.
        static PROFILES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = PROFILES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let profile = fresh_dir(&format!("chrome-{n}"));
        let mut args = vec![
            "--headless=new".to_owned(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--window-size=1280,900".into(),
            "--use-fake-device-for-media-stream".into(),
            "--autoplay-policy=no-user-gesture-required".into(),
            format!("--user-data-dir={}", profile.display()),
        ];
        args.extend(extra.iter().map(|a| a.to_string()));
        if let Ok(lang) = std::env::var("LIVECARD_TEST_BROWSER_LANG") {
            args.push(format!("--lang={lang}"));
        }
        self.profiles.push(profile);
        let mut caps = serde_json::Map::new();
        let mut options = json!({ "args": args });
        if let Some(prefs) = prefs {
            options["prefs"] = prefs;
        }
        if let Ok(binary) = std::env::var("CHROMIUM") {
            options["binary"] = json!(binary);
        }
        caps.insert("goog:chromeOptions".into(), options);
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&self.url)
            .await
            .expect("a Chromium session starts")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
        for profile in &self.profiles {
            let _ = std::fs::remove_dir_all(profile);
        }
    }
}

/// Evaluates `condition` (a JS expression) until it is true.
pub async fn wait_until(client: &Client, condition: &str, what: &str) {
    let script = format!("return Boolean({condition});");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if client.execute(&script, vec![]).await.ok() == Some(Value::Bool(true)) {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub async fn text_of(client: &Client, selector: &str) -> String {
    let script =
        "const e = document.querySelector(arguments[0]); return e ? e.textContent.trim() : null;";
    match client.execute(script, vec![json!(selector)]).await {
        Ok(Value::String(text)) => text,
        _ => String::new(),
    }
}

/// Runs axe-core on the current page; returns the violations, one line each.
pub async fn axe_violations(client: &Client) -> Vec<String> {
    let path = std::env::var("AXE_CORE_JS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| repo_root().join("tests/node_modules/axe-core/axe.min.js"));
    let source = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read axe-core at {} ({e}): run scripts/test.sh, which installs it",
            path.display()
        )
    });
    client
        .execute(&format!("{source}\nreturn true;"), vec![])
        .await
        .expect("axe-core loads");
    let run = r#"
        const done = arguments[arguments.length - 1];
        axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] } })
          .then(r => done(r.violations.map(v => v.id + ' (' + v.impact + '): ' + v.nodes.map(n => n.target.join(' ')).join(', '))))
          .catch(e => done(['axe failed: ' + e]));
    "#;
    let result = client
        .execute_async(run, vec![])
        .await
        .expect("axe-core runs");
    serde_json::from_value(result).expect("a list of violations")
}

/// A GET with an admin key, with nothing but std (the tests need no HTTP
/// client of their own).
pub fn http_get(url: &str, key: &str) -> String {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").expect("http URL");
    let (host, path) = rest.split_once('/').expect("path");
    let mut stream = std::net::TcpStream::connect(host).expect("connect");
    write!(stream, "GET /{path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {key}\r\nConnection: close\r\n\r\n")
        .expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    response
}

/// Runs a script in the page; a script error fails the test.
pub async fn run(client: &Client, script: &str) -> Value {
    client
        .execute(script, vec![])
        .await
        .unwrap_or_else(|e| panic!("script failed: {script}: {e}"))
}

/// Signs an advisor in with their link and waits for the console's socket.
pub async fn sign_in(browser: &Client, link: &str) {
    browser.goto(link).await.expect("sign-in page");
    wait_until(
        browser,
        "document.getElementById('signin') !== null",
        "sign-in button",
    )
    .await;
    run(
        browser,
        "document.getElementById('signin').click(); return true;",
    )
    .await;
    wait_until(
        browser,
        "document.getElementById('console') !== null",
        "the console",
    )
    .await;
    // A click gives the page the right to play the ring sound.
    run(browser, "document.body.click(); return true;").await;
    wait_until(
        browser,
        "window.livecardConsole.ws && window.livecardConsole.ws.readyState === 1",
        "the console socket",
    )
    .await;
}

/// A `livecard media-node` process.
pub struct MediaNodeProcess {
    pub child: Child,
    /// Its TURN address, `127.0.0.1:<port>`.
    pub turn_addr: String,
    printed: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl MediaNodeProcess {
    pub fn signal(&self, signal: &str) {
        let sent = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success(), "{signal} sent");
    }

    /// What it printed so far.
    pub fn printed(&self) -> Vec<String> {
        self.printed.lock().map(|p| p.clone()).unwrap_or_default()
    }
}

impl Drop for MediaNodeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A child process killed (and reaped) when dropped, also when a test
/// fails: a helper server never outlives its test.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Types into a chat form and submits it.
pub async fn say(browser: &Client, form: &str, text: &str) {
    browser
        .execute(
            "const f = document.querySelector(arguments[0]); f.querySelector('textarea').value = arguments[1]; f.requestSubmit(); return true;",
            vec![Value::from(form), Value::from(text)],
        )
        .await
        .expect("send a chat message");
}

/// The visitor opens the advisor's card link and starts a chat.
pub async fn start_chat_from_card(visitor: &Client, server: &Livecard, advisor: &str) {
    let card = format!("{}?lang=en", server.card_link(advisor));
    visitor.goto(&card).await.expect("card page");
    wait_until(
        visitor,
        "document.querySelector('[data-start=\"chat\"]') && !document.querySelector('[data-start=\"chat\"]').disabled",
        "the chat button is switched on",
    )
    .await;
    run(
        visitor,
        "document.querySelector('[data-start=\"chat\"]').click(); return true;",
    )
    .await;
}

/// Waits until the chat message `text` shows under `root`.
pub async fn wait_for_message(browser: &Client, root: &str, text: &str) {
    let check = format!(
        "Array.from(document.querySelectorAll({root:?} + ' .lcw-msg .lcw-text')).some(e => e.textContent === {text:?})"
    );
    wait_until(browser, &check, &format!("message {text:?} in {root}")).await;
}
