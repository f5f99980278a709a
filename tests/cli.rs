//! The `livecard` CLI against a running `livecard up`: advisors, cards,
//! sign-in links, JSON output, and clear errors for bad input.

mod support;

use support::{Livecard, http_get};

#[test]
fn cli_manages_advisors_and_cards() {
    let server = Livecard::start("cli");
    assert_eq!(server.card_links.len(), 3, "one card link per demo advisor");
    assert_eq!(
        server.signin_links.len(),
        3,
        "one sign-in link per demo advisor"
    );

    let added = server
        .cli(&[
            "advisor",
            "add",
            "--id",
            "dora",
            "--name",
            "Dora Diaz",
            "--languages",
            "es,en",
            "--topics",
            "sales",
            "--teams",
            "dora@Example.com",
            "--xmpp",
            "dora@chat.example.com",
            "--sip",
            "2041",
            "--json",
        ])
        .expect("advisor add");
    let added: serde_json::Value = serde_json::from_str(&added).expect("json");
    assert_eq!(added["display_name"], "Dora Diaz");
    assert_eq!(
        added["identities"],
        serde_json::json!({"teams": "dora@example.com", "xmpp": "dora@chat.example.com", "sip": "2041"}),
        "linked to her identities, the domain in lower case"
    );
    let refused = server
        .cli(&[
            "advisor",
            "add",
            "--id",
            "dora",
            "--name",
            "Dora Diaz",
            "--xmpp",
            "dora@chat.example.com/desk",
        ])
        .expect_err("a full JID");
    assert!(refused.contains("bare JID"), "{refused}");
    let public = http_get(&format!("{}/api/v1/advisors/dora", server.url), "none");
    assert!(
        public.contains("Dora Diaz") && !public.contains("identities"),
        "never shown to visitors: {public}"
    );
    let listed = server.cli(&["advisor", "list"]).expect("advisor list");
    assert!(
        listed.contains("dora") && listed.contains("anna-schmidt"),
        "{listed}"
    );
    let link = server
        .cli(&["advisor", "signin-link", "dora"])
        .expect("signin link");
    assert!(
        link.trim().starts_with(&format!("{}/signin/", server.url)),
        "{link}"
    );

    let text = server
        .cli(&[
            "card",
            "create",
            "--advisor",
            "dora",
            "--campaign",
            "q1",
            "--channels",
            "chat,video",
            "--expires",
            "7d",
        ])
        .expect("card create");
    assert!(
        text.contains("link:")
            && text.contains("HTML for an e-mail signature")
            && text.contains("QR code")
    );
    assert!(text.contains("Talk to Dora Diaz live"));
    assert!(text.contains('█'), "a QR code is drawn");
    let json = server.cli(&["card", "list", "--json"]).expect("card list");
    let cards: serde_json::Value = serde_json::from_str(&json).expect("json");
    let cards = cards["cards"].as_array().expect("cards");
    assert_eq!(cards.len(), 4);
    assert_eq!(cards[0]["advisor"], "dora", "newest first");
    assert_eq!(cards[0]["channels"], serde_json::json!(["chat", "video"]));
    // The list's snippet names the advisor as the one made at creation did.
    let snippet = cards[0]["html_snippet"].as_str().expect("snippet");
    assert!(snippet.contains("Talk to Dora Diaz live"), "{snippet}");
    let id = cards[0]["id"].as_str().expect("id");
    // Card ids are random and may begin with '-': the CLI takes them as ids.
    let unknown = server
        .cli(&["card", "revoke", "-AAAAAAAAAAAAAAAAAAAAA"])
        .expect_err("an unknown card");
    assert!(!unknown.contains("unexpected argument"), "{unknown}");
    assert!(unknown.contains("404"), "{unknown}");
    let revoked = server.cli(&["card", "revoke", id]).expect("revoke");
    assert!(revoked.contains("revoked"));
    let listed = server.cli(&["card", "list"]).expect("list");
    assert!(
        listed.lines().next().is_some_and(|l| l.contains("revoked")),
        "{listed}"
    );

    // An admin resets presence and ends sessions.
    let reset = server
        .cli(&["advisor", "presence-reset", "dora"])
        .expect("presence reset");
    assert!(reset.contains("reset"), "{reset}");
    let ended = server
        .cli(&["advisor", "end-sessions", "dora"])
        .expect("end sessions");
    assert!(ended.contains("ended"), "{ended}");
    let err = server
        .cli(&["advisor", "end-sessions", "nobody"])
        .expect_err("unknown advisor");
    assert!(err.contains("no advisor nobody"), "{err}");

    // Clear errors.
    let err = server
        .cli(&["card", "create", "--advisor", "nobody"])
        .expect_err("unknown advisor");
    assert!(err.contains("no advisor nobody"), "{err}");
    let err = server
        .cli(&[
            "card",
            "create",
            "--advisor",
            "dora",
            "--expires",
            "forever",
        ])
        .expect_err("bad expiry");
    assert!(err.contains("invalid duration"), "{err}");
    let err = server
        .cli(&["card", "create", "--advisor", "dora", "--channels", "fax"])
        .expect_err("bad channel");
    assert!(err.contains("unknown channel"), "{err}");
    let err = server
        .cli(&["card", "revoke", "../../etc"])
        .expect_err("bad id");
    assert!(err.contains("not a card id"), "{err}");
    let err = server
        .cli(&[
            "card",
            "list",
            "--admin-key",
            "lck_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        ])
        .expect_err("wrong key");
    assert!(err.contains("admin API key"), "{err}");
    server.stop();
}

#[test]
fn data_directory_survives_restarts_and_broken_ones_are_reported() {
    let dir = support::temp_dir("restart");
    // A data directory made open to others (say, by mkdir) is closed.
    set_mode(&dir, 0o755);
    let first = Livecard::start_in(dir.to_path_buf(), &[]);
    // Transcripts and offline messages live here: owner only.
    assert_eq!(mode(&dir), 0o700, "the data directory");
    for file in [
        "store.sqlite",
        "store.sqlite-wal",
        "secrets.json",
        "admin.key",
    ] {
        let path = dir.join(file);
        if file.ends_with("-wal") && !path.exists() {
            continue;
        }
        assert_eq!(mode(&path), 0o600, "{file}");
    }
    first
        .cli(&["advisor", "add", "--id", "erik", "--name", "Erik Berg"])
        .expect("add");
    let links = first.card_links.clone();
    first.stop();
    let second = Livecard::start_in(dir.to_path_buf(), &[]);
    assert!(
        second
            .cli(&["advisor", "list"])
            .expect("list")
            .contains("erik"),
        "data kept across restarts"
    );
    let old: Vec<&str> = links
        .iter()
        .map(|(_, l)| l.rsplit('/').next().unwrap_or(""))
        .collect();
    let new: Vec<&str> = second
        .card_links
        .iter()
        .map(|(_, l)| l.rsplit('/').next().unwrap_or(""))
        .collect();
    assert_eq!(old, new, "the same card links after a restart (keys kept)");
    assert!(
        second.signin_links.is_empty(),
        "sign-in links are not printed into a log at a restart"
    );
    // The events of the first run were written before it stopped.
    let key = std::fs::read_to_string(dir.join("admin.key")).expect("admin key");
    let day = livecard_core::event::utc_day(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_millis() as u64,
    );
    let events = http_get(
        &format!("{}/api/v1/events?day={day}", second.url),
        key.trim(),
    );
    let created = events.matches("\"card_created\"").count();
    assert!(
        created >= 3,
        "card_created events of the first run: {created}"
    );
    second.stop();

    // A broken store file, a broken secrets file and a data directory that
    // is a file each give a clear message, not a panic.
    let store = dir.join("store.sqlite");
    let saved = std::fs::read(&store).expect("store file");
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(dir.join(format!("store.sqlite{suffix}")));
    }
    std::fs::write(&store, b"not a database, not at all").expect("write");
    up_fails_with(&dir, "cannot open the store");
    std::fs::write(&store, saved).expect("restore");

    std::fs::write(dir.join("secrets.json"), b"{ not json").expect("write");
    up_fails_with(&dir, "secrets.json is not valid");

    let notadir = support::temp_dir("notadir");
    let file = notadir.join("file");
    std::fs::write(&file, b"x").expect("write");
    up_fails_with(&file, "is not a directory");
}

/// `livecard up` on `data_dir` exits with an error that says `expected`.
fn up_fails_with(data_dir: &std::path::Path, expected: &str) {
    let output = std::process::Command::new(support::BIN)
        .arg("--data-dir")
        .arg(data_dir)
        .args(["up", "--addr", "127.0.0.1:0"])
        .output()
        .expect("runs");
    assert!(
        !output.status.success(),
        "started on a broken data directory"
    );
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(err.contains(expected), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o777
}

fn set_mode(path: &std::path::Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// `livecard` with no subcommand is `livecard up`, environment included
/// (`cargo run --release` in the README is this).
#[test]
fn no_subcommand_runs_up_with_its_environment() {
    let dir = support::temp_dir("bare-up");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let running = running_line(|command| {
        command
            .arg("--data-dir")
            .arg(&*dir)
            .env("LIVECARD_ADDR", format!("127.0.0.1:{port}"));
    });
    assert_eq!(
        running.as_deref(),
        Some(format!("livecard is running on http://127.0.0.1:{port}").as_str()),
        "LIVECARD_ADDR applies without `up`"
    );
}

/// The functions' settings come from a file, then the environment, which
/// wins, by the same names as on every host; a bad one stops `up` with its
/// name.
#[test]
fn settings_come_from_a_file_and_the_environment() {
    let dir = support::temp_dir("settings");
    let file = dir.join("livecard.toml");
    std::fs::write(
        &file,
        "public_url = \"http://portal.example\"\nheartbeat_ttl = \"5s\"\n",
    )
    .expect("write");
    let with_file = |command: &mut std::process::Command| {
        command
            .arg("--data-dir")
            .arg(dir.join("data"))
            .args(["up", "--addr", "127.0.0.1:0", "--config"])
            .arg(&file)
            .env_remove("LIVECARD_HEARTBEAT_TTL");
    };
    let mut refused = std::process::Command::new(support::BIN);
    with_file(&mut refused);
    let output = refused
        .env("LIVECARD_DEMO_ADDR", "127.0.0.1:0")
        .env("LIVECARD_TURN_ADDR", "127.0.0.1:0")
        .output()
        .expect("runs");
    assert!(!output.status.success(), "started with a 5 s heartbeat");
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(
        err.contains("heartbeat_ttl (in the settings file)"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    // The environment wins over the file; the file's URL is used.
    let running = running_line(|command| {
        with_file(command);
        command.env("LIVECARD_HEARTBEAT_TTL", "90s");
    });
    assert_eq!(
        running.as_deref(),
        Some("livecard is running on http://portal.example")
    );
}

/// `livecard` run with quiet side services on free ports (`command` adds
/// its flags and environment): its "livecard is running on" line, then it
/// is stopped.
fn running_line(configure: impl FnOnce(&mut std::process::Command)) -> Option<String> {
    use std::io::BufRead;
    let mut command = std::process::Command::new(support::BIN);
    command
        .env("LIVECARD_DEMO_ADDR", "127.0.0.1:0")
        .env("LIVECARD_TURN_ADDR", "127.0.0.1:0")
        .env("LIVECARD_LOG", "warn")
        .stdout(std::process::Stdio::piped());
    configure(&mut command);
    let mut child = command.spawn().expect("livecard starts");
    let stdout = child.stdout.take().expect("stdout");
    let running = std::io::BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .find(|line| line.starts_with("livecard is running on "));
    let _ = child.kill();
    let _ = child.wait();
    running
}

/// A webhook receiver on loopback (plain HTTP/1.1, keep-alive): records
/// each request's headers and body, answers 204.
/// What the receiver got: (request head, body) per request.
type Received = std::sync::Arc<std::sync::Mutex<Vec<(String, String)>>>;

fn webhook_receiver() -> (String, Received) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = got.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().map_while(Result::ok) {
            let seen = seen.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let mut stream = stream;
                loop {
                    let mut head = String::new();
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        if line == "\r\n" {
                            break;
                        }
                        head.push_str(&line);
                    }
                    let length = head
                        .lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case("content-length")
                                .then(|| v.trim().parse::<usize>().ok())
                                .flatten()
                        })
                        .unwrap_or(0);
                    let mut body = vec![0; length];
                    if reader.read_exact(&mut body).is_err() {
                        return;
                    }
                    seen.lock()
                        .expect("lock")
                        .push((head, String::from_utf8_lossy(&body).into_owned()));
                    if stream
                        .write_all(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
                        .is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    (url, got)
}

#[test]
fn cli_sets_a_webhook_destination_and_the_local_forwarder_delivers_signed_events() {
    let (receiver, got) = webhook_receiver();
    let scratch = std::env::temp_dir().join(format!("livecard-cli-forward-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch).expect("dir");
    let config = scratch.join("livecard.toml");
    std::fs::write(&config, "forward_allow = [\"127.0.0.1/32\"]\n").expect("config");
    let server = Livecard::start_in(
        scratch.join("data"),
        &["--config", config.to_str().expect("utf-8")],
    );

    let refused = server
        .cli(&[
            "destination",
            "set",
            "bad",
            "--kind",
            "webhook",
            "--url",
            "http://10.0.0.1/hooks",
            "--generate-secret",
        ])
        .expect_err("a private address is refused");
    assert!(refused.contains("url"), "{refused}");
    let refused = server
        .cli(&["destination", "set", "../x", "--kind", "webhook"])
        .expect_err("a bad id is refused");
    assert!(refused.contains("destination id"), "{refused}");

    let set = server
        .cli(&[
            "destination",
            "set",
            "crm",
            "--kind",
            "webhook",
            "--url",
            &format!("{receiver}/hooks"),
            "--generate-secret",
            "--json",
        ])
        .expect("destination set");
    let set: serde_json::Value = serde_json::from_str(&set).expect("json");
    let secret = set["generated_secret"]
        .as_str()
        .expect("a generated secret")
        .to_owned();
    assert!(
        !set["settings"].to_string().contains(&secret),
        "never shown again"
    );
    let listed = server.cli(&["destination", "list"]).expect("list");
    assert!(
        listed.contains("crm") && listed.contains("active"),
        "{listed}"
    );

    // A card page view becomes a signed webhook, sent by `livecard up`'s forwarder.
    let (_, link) = server.card_links[0].clone();
    http_get(&link, "");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let call = loop {
        let calls = got.lock().expect("lock").clone();
        if let Some(call) = calls
            .into_iter()
            .find(|(_, b)| b.contains("livecard.card.opened"))
        {
            break call;
        }
        assert!(std::time::Instant::now() < deadline, "no webhook arrived");
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let header = |name: &str| {
        call.0.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    };
    let key = livecard_core::webhook::decode_secret(&secret).expect("whsec");
    support::assert_signed(
        &key,
        header("webhook-id").as_deref(),
        header("webhook-timestamp").as_deref(),
        header("webhook-signature").as_deref(),
        &call.1,
    );
    let paused = server.cli(&["destination", "pause", "crm"]).expect("pause");
    assert!(paused.contains("paused by an admin"), "{paused}");
    let resumed = server
        .cli(&["destination", "resume", "crm"])
        .expect("resume");
    assert!(resumed.contains("active"), "{resumed}");
    let dead = server.cli(&["destination", "dead", "crm"]).expect("dead");
    assert!(dead.contains("no dead deliveries"), "{dead}");
    server
        .cli(&["destination", "delete", "crm"])
        .expect("delete");
    let listed = server.cli(&["destination", "list"]).expect("list");
    assert!(listed.contains("no destinations"), "{listed}");
    server.stop();
    let _ = std::fs::remove_dir_all(&scratch);
}

#[test]
fn cli_writes_reports_as_text_csv_and_html() {
    let server = Livecard::start("cli-report");
    let (_, link) = server.card_links[0].clone();
    http_get(&link, "");
    let out = std::env::temp_dir().join(format!("livecard-report-out-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let dir = out.join("csv");
    // The local host writes events in batches: the view shows up within moments.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let funnel = loop {
        server
            .cli(&[
                "report",
                "--format",
                "csv",
                "--out",
                dir.to_str().expect("utf-8"),
            ])
            .expect("report csv");
        let funnel = std::fs::read_to_string(dir.join("funnel.csv")).expect("funnel.csv");
        if funnel.lines().count() > 1 {
            break funnel;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the card view never counted: {funnel}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    let row: Vec<&str> = funnel.lines().nth(1).expect("row").split(',').collect();
    assert_eq!(row[1], "1", "one card opened: {funnel}");
    for table in livecard_core::report::TABLES {
        assert!(dir.join(format!("{table}.csv")).exists(), "{table}.csv");
    }
    let page = out.join("report.html");
    server
        .cli(&[
            "report",
            "--format",
            "html",
            "--out",
            page.to_str().expect("utf-8"),
        ])
        .expect("report html");
    let html = std::fs::read_to_string(&page).expect("html");
    assert!(html.contains("<svg role=\"img\""), "charts are inline SVG");
    let text = server.cli(&["report"]).expect("report text");
    assert!(
        text.contains("requested") && text.contains("service_level"),
        "{text}"
    );
    let refused = server
        .cli(&["report", "--by", "month"])
        .expect_err("a bad grouping is refused");
    assert!(refused.contains("by must be day or week"), "{refused}");
    let refused = server
        .cli(&["report", "--from", "01.12.2026"])
        .expect_err("a bad date is refused");
    assert!(refused.contains("from must be a date"), "{refused}");
    server.stop();
    let _ = std::fs::remove_dir_all(&out);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_exports_and_erases_a_contact_session() {
    let server = Livecard::start("cli-privacy");
    let answer: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/api/v1/contacts", server.url))
        .json(&serde_json::json!({ "channel": "chat" }))
        .send()
        .await
        .expect("contact request")
        .json()
        .await
        .expect("json");
    let session = answer["session"].as_str().expect("session").to_owned();
    let export = server
        .cli(&["privacy", "export", "--session", &session])
        .expect("export");
    let export: serde_json::Value = serde_json::from_str(&export).expect("json");
    assert_eq!(export["sessions"][0]["id"], session.as_str());
    let erased = server
        .cli(&["privacy", "erase", "--session", &session])
        .expect("erase");
    assert!(erased.contains("erased 1 session(s)"), "{erased}");
    let gone = server
        .cli(&["privacy", "export", "--session", &session])
        .expect_err("nothing left");
    assert!(gone.contains("nothing is stored"), "{gone}");
    let refused = server
        .cli(&["privacy", "erase"])
        .expect_err("whom is required");
    assert!(refused.contains("--session"), "{refused}");
    server.stop();
}
