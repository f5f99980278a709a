//! The `livecard` command line.

use crate::client::ApiClient;
use crate::datadir::DataDir;
use crate::listener::ConnectionLimits;
use crate::server::{UpOptions, up};
use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use livecard_app::Settings;
use livecard_core::channel::ChannelSet;
use livecard_core::duration::parse_duration_ms;
use reqwest::Method;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser, Debug)]
#[command(
    name = "livecard",
    version,
    about = "Live business cards: visitors reach the right employee by chat, audio or video."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// `up`'s flags and environment, for `livecard` with no subcommand
    /// (which runs `up`): the same parser, so no default is written twice
    /// and the environment applies either way. Ignored with a subcommand.
    #[command(flatten)]
    pub up: UpArgs,
    /// The data directory (store, secrets, admin key).
    #[arg(
        long,
        global = true,
        env = "LIVECARD_DATA_DIR",
        default_value = "./livecard-data"
    )]
    pub data_dir: PathBuf,
    /// Log as JSON lines (for production log pipelines).
    #[arg(long, global = true, env = "LIVECARD_LOG_JSON")]
    pub log_json: bool,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run everything on this machine (the default command).
    Up(UpArgs),
    /// Create, list and revoke card links.
    #[command(subcommand)]
    Card(CardCommand),
    /// Add and list advisors, and make sign-in links for them.
    #[command(subcommand)]
    Advisor(AdvisorCommand),
    /// Where analytics events are forwarded (GA4, Matomo, signed webhooks),
    /// their dead letters and replays (docs/analytics.md).
    #[command(subcommand)]
    Destination(DestinationCommand),
    /// Reports from the stored events (docs/reports.md): a summary, the
    /// reports page as HTML, or every table as CSV.
    Report(ReportArgs),
    /// A visitor's rights (docs/privacy.md): export or erase everything
    /// stored about a contact session or a visitor.
    #[command(subcommand)]
    Privacy(PrivacyCommand),
    /// Run the edge host (the Cloudflare Worker, built by
    /// scripts/build-worker.sh) under `wrangler dev --local`, on this
    /// machine's store and media node.
    Edge(EdgeArgs),
    /// Run another media node (TURN relay) in its own process, joined to the
    /// `livecard up` of this data directory (its store and API): calls can
    /// then use several nodes, and move off one that stops (Ctrl-C or
    /// SIGTERM drain it) or dies (docs/media-node.md, "Failover").
    MediaNode(MediaNodeArgs),
}

#[derive(Args, Debug, Clone)]
pub struct MediaNodeArgs {
    /// Its id in the store (1 to 64 of A-Z a-z 0-9 - _ .).
    #[arg(long)]
    pub id: String,
    /// Its TURN address (UDP and TCP); port 0 takes a free one.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// How long a drain waits for the calls it relays to move.
    #[arg(long, default_value = "30s")]
    pub drain_deadline: String,
}

#[derive(Args, Debug, Clone)]
pub struct EdgeArgs {
    /// Where the Worker listens.
    #[arg(long, env = "LIVECARD_ADDR", default_value = "127.0.0.1:8787")]
    pub addr: SocketAddr,
    /// The Worker's directory (its build/, wrangler.toml, node_modules/).
    #[arg(long, default_value = "functions/worker")]
    pub worker_dir: PathBuf,
    /// The media node's TURN address (UDP and TCP).
    #[arg(long, env = "LIVECARD_TURN_ADDR", default_value = "127.0.0.1:3478")]
    pub turn_addr: SocketAddr,
    /// Where to serve the widget demo site (another origin).
    #[arg(long, env = "LIVECARD_DEMO_ADDR", default_value = "127.0.0.1:8081")]
    pub demo_addr: SocketAddr,
    /// Calls always go through the media node's relay
    /// (LIVECARD_RELAY_ONLY=true, given to the Worker).
    #[arg(long)]
    pub relay_only: bool,
}

#[derive(Args, Debug, Clone)]
pub struct UpArgs {
    /// The address to serve on.
    #[arg(long, env = "LIVECARD_ADDR", default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    /// A settings file (TOML; `docs/configuration.md`). The environment
    /// wins over it, and these flags over both.
    #[arg(long, env = "LIVECARD_CONFIG")]
    pub config: Option<PathBuf>,
    /// The public base URL for links (default: http://<addr>;
    /// LIVECARD_PUBLIC_URL).
    #[arg(long)]
    pub public_url: Option<String>,
    /// How long console presence lasts without a heartbeat (default 60s;
    /// LIVECARD_HEARTBEAT_TTL).
    #[arg(long)]
    pub heartbeat_ttl: Option<String>,
    /// Where to serve the widget demo site (another origin that embeds the
    /// widget); when the port is taken, a free one is used.
    #[arg(long, env = "LIVECARD_DEMO_ADDR", default_value = "127.0.0.1:8081")]
    pub demo_addr: SocketAddr,
    /// Contact requests one visitor address may make per 10 minutes
    /// (LIVECARD_CONTACT_LIMIT).
    #[arg(long)]
    pub contact_limit: Option<String>,
    /// Signaling messages one connection may send per second (sustained;
    /// twice that at once; LIVECARD_MESSAGE_RATE).
    #[arg(long)]
    pub message_rate: Option<String>,
    /// The in-process media node's TURN address (UDP and TCP); when the
    /// port is taken, a free one is used.
    #[arg(long, env = "LIVECARD_TURN_ADDR", default_value = "127.0.0.1:3478")]
    pub turn_addr: SocketAddr,
    /// Run no media node in this process (nodes started with `livecard
    /// media-node`, or none).
    #[arg(long)]
    pub no_media_node: bool,
    /// Calls always go through the media node's relay (hides both sides'
    /// addresses); otherwise peer to peer when ICE finds a path
    /// (LIVECARD_RELAY_ONLY=true).
    #[arg(long)]
    pub relay_only: bool,
    /// Reverse proxies (addresses or networks, repeatable or
    /// comma-separated) whose `Forwarded` / `X-Forwarded-For` headers name
    /// the client; any other peer is the client itself
    /// (LIVECARD_TRUSTED_PROXIES).
    #[arg(long = "trusted-proxy", value_delimiter = ',')]
    pub trusted_proxies: Vec<String>,
    /// A request's headers must arrive within this.
    #[arg(long, env = "LIVECARD_HEADER_TIMEOUT", default_value = "10s")]
    pub header_timeout: String,
    /// A request's body must arrive within this.
    #[arg(long, env = "LIVECARD_BODY_TIMEOUT", default_value = "30s")]
    pub body_timeout: String,
    /// An HTTP connection that sends nothing for this long is closed
    /// (signaling sockets: 10 minutes; clients ping every 5).
    #[arg(long, env = "LIVECARD_IDLE_TIMEOUT", default_value = "60s")]
    pub idle_timeout: String,
    /// Open connections one client address may hold (IPv6: per /64;
    /// trusted proxies are not capped).
    #[arg(long, env = "LIVECARD_MAX_CONNECTIONS_PER_CLIENT", default_value_t = ConnectionLimits::default().per_client)]
    pub max_connections_per_client: usize,
    /// Open connections in all.
    #[arg(long, env = "LIVECARD_MAX_CONNECTIONS", default_value_t = ConnectionLimits::default().total)]
    pub max_connections: usize,
}

/// The functions' settings: these flags, over the environment, over the
/// settings file; the same loader and names as every other host.
pub fn settings(args: &UpArgs) -> anyhow::Result<Settings> {
    use livecard_app::settings as keys;
    let file = match &args.config {
        Some(path) => {
            let path = path.display().to_string();
            let text = keys::read_file(&path)?;
            Some((path, text))
        }
        None => None,
    };
    let flag = |key: &str| -> Option<String> {
        match key {
            k if k == keys::PUBLIC_URL.env => args.public_url.clone(),
            k if k == keys::HEARTBEAT_TTL.env => args.heartbeat_ttl.clone(),
            k if k == keys::CONTACT_LIMIT.env => args.contact_limit.clone(),
            k if k == keys::MESSAGE_RATE.env => args.message_rate.clone(),
            k if k == keys::RELAY_ONLY.env => args.relay_only.then(|| "true".to_owned()),
            k if k == keys::TRUSTED_PROXIES.env => {
                (!args.trusted_proxies.is_empty()).then(|| args.trusted_proxies.join(","))
            }
            _ => None,
        }
    };
    Ok(Settings::load(
        file.as_ref().map(|(p, t)| (p.as_str(), t.as_str())),
        |key| flag(key).or_else(|| std::env::var(key).ok()),
    )?)
}

#[derive(Args, Debug)]
pub struct Remote {
    /// The livecard API to talk to.
    #[arg(long, env = "LIVECARD_API", default_value = "http://127.0.0.1:8080")]
    pub api: String,
    /// An admin API key (default: the one in the data directory).
    #[arg(long, env = "LIVECARD_ADMIN_KEY", hide_env_values = true)]
    pub admin_key: Option<String>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Subcommand, Debug)]
pub enum CardCommand {
    /// Create a card link.
    Create {
        #[arg(long)]
        advisor: String,
        /// A campaign tag for analytics.
        #[arg(long)]
        campaign: Option<String>,
        /// How long the link works (e.g. 30d, 12h).
        #[arg(long, default_value = "90d")]
        expires: String,
        /// Channels the card offers (default: all the advisor offers).
        #[arg(long)]
        channels: Option<String>,
        #[command(flatten)]
        remote: Remote,
    },
    /// List card links, newest first.
    List {
        #[command(flatten)]
        remote: Remote,
    },
    /// Revoke a card link.
    Revoke {
        #[arg(allow_hyphen_values = true)]
        id: String,
        #[command(flatten)]
        remote: Remote,
    },
}

// Parsed once per run; boxing the larger variant would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
pub enum AdvisorCommand {
    /// Add (or replace) an advisor.
    Add {
        #[arg(long)]
        id: String,
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "")]
        title: String,
        /// Comma-separated language codes (de,en).
        #[arg(long, default_value = "")]
        languages: String,
        /// Comma-separated topics (billing,sales).
        #[arg(long, default_value = "")]
        topics: String,
        #[arg(long, default_value = "chat,audio,video")]
        channels: String,
        #[arg(long, default_value_t = 3)]
        capacity: u16,
        #[arg(long)]
        photo_url: Option<String>,
        /// Their Microsoft Teams user id (a GUID) or user principal name,
        /// for presence from Teams.
        #[arg(long)]
        teams: Option<String>,
        /// Their bare XMPP JID, for presence from the XMPP server.
        #[arg(long)]
        xmpp: Option<String>,
        /// Their phone extension or SIP URI, for presence and calls from
        /// the phone system.
        #[arg(long)]
        sip: Option<String>,
        #[command(flatten)]
        remote: Remote,
    },
    /// List advisors with their presence.
    List {
        #[command(flatten)]
        remote: Remote,
    },
    /// Make a one-time sign-in link for an advisor.
    SigninLink {
        #[arg(allow_hyphen_values = true)]
        id: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// End every session of an advisor (their consoles must sign in again).
    EndSessions {
        #[arg(allow_hyphen_values = true)]
        id: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Forget an advisor's presence and its versions (they read offline
    /// until any source updates them again).
    PresenceReset {
        #[arg(allow_hyphen_values = true)]
        id: String,
        #[command(flatten)]
        remote: Remote,
    },
}

#[derive(Args, Debug)]
pub struct DataSubjectArgs {
    /// A contact session's id.
    #[arg(
        long,
        allow_hyphen_values = true,
        conflicts_with = "visitor",
        required_unless_present = "visitor"
    )]
    pub session: Option<String>,
    /// A visitor's id (`vis_…`, in a session's export): all their sessions.
    #[arg(long)]
    pub visitor: Option<String>,
}

impl DataSubjectArgs {
    fn query(&self) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        if let Some(session) = &self.session {
            query.append_pair("session", session);
        }
        if let Some(visitor) = &self.visitor {
            query.append_pair("visitor", visitor);
        }
        query.finish()
    }
}

#[derive(Subcommand, Debug)]
pub enum PrivacyCommand {
    /// Everything stored about them, as one JSON document.
    Export {
        #[command(flatten)]
        who: DataSubjectArgs,
        /// Write the document here (default: standard output).
        #[arg(long)]
        out: Option<PathBuf>,
        #[command(flatten)]
        remote: Remote,
    },
    /// Erase everything stored about them (cannot be undone).
    Erase {
        #[command(flatten)]
        who: DataSubjectArgs,
        #[command(flatten)]
        remote: Remote,
    },
}

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// The first day (YYYY-MM-DD, local time; default: six days ago).
    #[arg(long)]
    pub from: Option<String>,
    /// The last day, included (default: today).
    #[arg(long)]
    pub to: Option<String>,
    /// Rows per `day` or `week`.
    #[arg(long, default_value = "day")]
    pub by: String,
    /// Accepted within this many seconds counts toward the service level
    /// (default: the deployment's).
    #[arg(long)]
    pub service_level: Option<u64>,
    /// The IANA time zone days and hours are counted in (default: the
    /// deployment's).
    #[arg(long)]
    pub time_zone: Option<String>,
    /// `text` (a summary), `html` (the reports page) or `csv` (every table).
    #[arg(long, default_value = "text")]
    pub format: String,
    /// Where to write: the HTML file (default: standard output), or the
    /// directory for the CSV files (default: ./livecard-report).
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub remote: Remote,
}

#[derive(Subcommand, Debug)]
pub enum DestinationCommand {
    /// Create or replace a destination. Secrets are read from files (`-`:
    /// standard input), never from the command line.
    Set {
        /// The destination's id (a-z, 0-9, '-', '_'), e.g. ga4, crm.
        #[arg(allow_hyphen_values = true)]
        id: String,
        #[command(flatten)]
        settings: Box<DestinationArgs>,
        #[command(flatten)]
        remote: Remote,
    },
    /// List destinations with their state and delivery counts.
    List {
        #[command(flatten)]
        remote: Remote,
    },
    /// Remove a destination.
    Delete {
        #[arg(allow_hyphen_values = true)]
        id: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Stop sending to a destination until it is resumed (events wait).
    Pause {
        #[arg(allow_hyphen_values = true)]
        id: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Send to a paused or disabled destination again.
    Resume {
        #[arg(allow_hyphen_values = true)]
        id: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// The dead-letter list of a destination (or its expired deliveries).
    Dead {
        #[arg(allow_hyphen_values = true)]
        id: String,
        #[arg(long)]
        expired: bool,
        #[command(flatten)]
        remote: Remote,
    },
    /// Put dead (or expired) deliveries back in the outbox: the events
    /// named, or all of them.
    Replay {
        #[arg(allow_hyphen_values = true)]
        id: String,
        #[arg(long = "event")]
        events: Vec<String>,
        #[arg(long)]
        all: bool,
        #[arg(long)]
        expired: bool,
        #[command(flatten)]
        remote: Remote,
    },
}

#[derive(Args, Debug, Clone)]
pub struct DestinationArgs {
    /// ga4, matomo or webhook.
    #[arg(long)]
    pub kind: String,
    /// GA4: the web data stream's measurement id (G-…).
    #[arg(long)]
    pub measurement_id: Option<String>,
    /// GA4: a file holding the Measurement Protocol API secret.
    #[arg(long)]
    pub api_secret_file: Option<PathBuf>,
    /// GA4: collect in the EU (region1.google-analytics.com).
    #[arg(long)]
    pub eu: bool,
    /// GA4: another collection host (a server-side tagging server).
    #[arg(long)]
    pub endpoint: Option<String>,
    /// GA4: send advertising consent as granted (default: always denied).
    #[arg(long)]
    pub ad_consent: bool,
    /// Matomo, webhook: the URL (Matomo's base URL or matomo.php).
    #[arg(long)]
    pub url: Option<String>,
    /// Matomo: idsite.
    #[arg(long)]
    pub site_id: Option<u32>,
    /// Matomo: a file holding a write-access token_auth (lets late hits in).
    #[arg(long)]
    pub token_auth_file: Option<PathBuf>,
    /// Matomo: track without consent in the cookieless way (only where
    /// your legal basis allows it).
    #[arg(long)]
    pub cookieless: bool,
    /// Matomo: a custom dimension, name=id (entry, channel, event_id,
    /// advisor, topic, campaign); repeatable.
    #[arg(long = "dimension")]
    pub dimensions: Vec<String>,
    /// GA4, Matomo: advisors appear as a keyed pseudonym.
    #[arg(long)]
    pub advisors: bool,
    /// Webhook: files holding whsec_ secrets (one or two: rotation).
    #[arg(long = "secret-file")]
    pub secret_files: Vec<PathBuf>,
    /// Webhook: make a new whsec_ secret (printed once) instead.
    #[arg(long)]
    pub generate_secret: bool,
    /// Webhook: the events it takes, comma-separated (default: all
    /// forwarded ones).
    #[arg(long)]
    pub events: Option<String>,
}

fn read_secret(path: &std::path::Path) -> anyhow::Result<String> {
    let text = if path == std::path::Path::new("-") {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::Read::take(std::io::stdin(), 4096), &mut text)?;
        text
    } else {
        let meta = std::fs::metadata(path).with_context(|| format!("{}", path.display()))?;
        if meta.len() > 4096 {
            bail!("{} is larger than 4 KiB", path.display());
        }
        std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?
    };
    Ok(text.trim().to_owned())
}

/// The destination's settings as the admin API takes them, and a secret
/// this command generated (to print once).
fn destination_settings(args: &DestinationArgs) -> anyhow::Result<(Value, Option<String>)> {
    let mut generated = None;
    let settings = match args.kind.as_str() {
        "ga4" => {
            let secret = args
                .api_secret_file
                .as_deref()
                .context("--api-secret-file is required for ga4")?;
            json!({
                "kind": "ga4",
                "measurement_id": args.measurement_id.as_deref().context("--measurement-id is required for ga4")?,
                "api_secret": read_secret(secret)?,
                "eu": args.eu,
                "endpoint": args.endpoint,
                "ad_consent": args.ad_consent,
                "advisors": args.advisors,
            })
        }
        "matomo" => {
            let mut dimensions = serde_json::Map::new();
            for d in &args.dimensions {
                let (name, id) = d
                    .split_once('=')
                    .context("--dimension is name=id (event_id=4)")?;
                let id: u32 = id.parse().context("--dimension id must be a number")?;
                dimensions.insert(name.to_owned(), json!(id));
            }
            let token = args
                .token_auth_file
                .as_deref()
                .map(read_secret)
                .transpose()?;
            json!({
                "kind": "matomo",
                "url": args.url.as_deref().context("--url is required for matomo")?,
                "site_id": args.site_id.context("--site-id is required for matomo")?,
                "token_auth": token,
                "cookieless": args.cookieless,
                "dimensions": dimensions,
                "advisors": args.advisors,
            })
        }
        "webhook" => {
            let mut secrets = args
                .secret_files
                .iter()
                .map(|p| read_secret(p))
                .collect::<anyhow::Result<Vec<_>>>()?;
            if args.generate_secret {
                let mut key = [0u8; 32];
                getrandom::fill(&mut key).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
                let secret = livecard_core::webhook::encode_secret(&key);
                secrets.insert(0, secret.clone());
                generated = Some(secret);
            }
            if secrets.is_empty() {
                bail!("--secret-file or --generate-secret is required for webhook");
            }
            let events = args.events.as_deref().map(list);
            json!({
                "kind": "webhook",
                "url": args.url.as_deref().context("--url is required for webhook")?,
                "secrets": secrets,
                "events": events,
            })
        }
        other => bail!("--kind must be ga4, matomo or webhook, not {other}"),
    };
    // Unset options are left out, not sent as null.
    let settings = match settings {
        Value::Object(map) => {
            Value::Object(map.into_iter().filter(|(_, v)| !v.is_null()).collect())
        }
        other => other,
    };
    Ok((settings, generated))
}

async fn privacy(command: PrivacyCommand, data_dir: &std::path::Path) -> anyhow::Result<()> {
    match command {
        PrivacyCommand::Export { who, out, remote } => {
            let document: Value = client(&remote, data_dir)?
                .call(
                    Method::GET,
                    &format!("/api/v1/privacy?{}", who.query()),
                    None,
                )
                .await?;
            let text = serde_json::to_string_pretty(&document)?;
            match out {
                Some(path) => {
                    std::fs::write(&path, text)
                        .with_context(|| format!("cannot write {}", path.display()))?;
                    println!("wrote {}", path.display());
                }
                None => println!("{text}"),
            }
            Ok(())
        }
        PrivacyCommand::Erase { who, remote } => {
            let answer: Value = client(&remote, data_dir)?
                .call(
                    Method::DELETE,
                    &format!("/api/v1/privacy?{}", who.query()),
                    None,
                )
                .await?;
            if remote.json {
                return print_json(&answer);
            }
            let e = &answer["erased"];
            println!(
                "erased {} session(s): {} transcript items, {} offline message(s), {} events, {} deliveries",
                e["sessions"],
                e["transcript_items"],
                e["offline_messages"],
                e["events"],
                e["deliveries"]
            );
            Ok(())
        }
    }
}

async fn report(args: ReportArgs, data_dir: &std::path::Path) -> anyhow::Result<()> {
    if !matches!(args.format.as_str(), "text" | "html" | "csv") {
        bail!("--format must be text, html or csv");
    }
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (key, value) in [
        ("from", args.from.clone()),
        ("to", args.to.clone()),
        ("by", Some(args.by.clone())),
        ("service_level", args.service_level.map(|s| s.to_string())),
        ("time_zone", args.time_zone.clone()),
    ] {
        if let Some(value) = value {
            query.append_pair(key, &value);
        }
    }
    let query = query.finish();
    let api = client(&args.remote, data_dir)?;
    match args.format.as_str() {
        "html" => {
            let page = api
                .get_text(&format!("/api/v1/reports?{query}&format=html"))
                .await?;
            match &args.out {
                Some(path) => {
                    std::fs::write(path, page)
                        .with_context(|| format!("cannot write {}", path.display()))?;
                    println!("wrote {}", path.display());
                }
                None => print!("{page}"),
            }
            Ok(())
        }
        "csv" => {
            let dir = args
                .out
                .clone()
                .unwrap_or_else(|| PathBuf::from("livecard-report"));
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            for table in livecard_core::report::TABLES {
                let csv = api
                    .get_text(&format!("/api/v1/reports?{query}&format=csv&table={table}"))
                    .await?;
                let path = dir.join(format!("{table}.csv"));
                std::fs::write(&path, csv)
                    .with_context(|| format!("cannot write {}", path.display()))?;
                println!("wrote {}", path.display());
            }
            Ok(())
        }
        _ => {
            let report: Value = api
                .call(Method::GET, &format!("/api/v1/reports?{query}"), None)
                .await?;
            if args.remote.json {
                return print_json(&report);
            }
            println!(
                "{} to {} ({}), {} events",
                report["from"].as_str().unwrap_or("?"),
                report["to"].as_str().unwrap_or("?"),
                report["time_zone"].as_str().unwrap_or("?"),
                report["events"]
            );
            let tables = report["tables"].as_array().cloned().unwrap_or_default();
            for name in ["contacts", "answer"] {
                let Some(table) = tables.iter().find(|t| t["name"] == name) else {
                    continue;
                };
                let columns: Vec<&str> = table["columns"]
                    .as_array()
                    .map(|c| c.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                println!("\n{}", columns.join("  "));
                for row in table["rows"].as_array().cloned().unwrap_or_default() {
                    let cells: Vec<&str> = row
                        .as_array()
                        .map(|c| c.iter().filter_map(Value::as_str).collect())
                        .unwrap_or_default();
                    println!("{}", cells.join("  "));
                }
            }
            Ok(())
        }
    }
}

async fn destination(
    command: DestinationCommand,
    data_dir: &std::path::Path,
) -> anyhow::Result<()> {
    let id = match &command {
        DestinationCommand::Set { id, .. }
        | DestinationCommand::Delete { id, .. }
        | DestinationCommand::Resume { id, .. }
        | DestinationCommand::Pause { id, .. }
        | DestinationCommand::Dead { id, .. }
        | DestinationCommand::Replay { id, .. } => Some(id),
        DestinationCommand::List { .. } => None,
    };
    let paused = matches!(command, DestinationCommand::Pause { .. });
    if let Some(id) = id {
        livecard_core::ids::DestinationId::parse(id).map_err(|_| {
            anyhow::anyhow!("{id:?} is not a destination id (a-z, 0-9, '-', '_', at most 32)")
        })?;
    }
    let show = |d: &Value| {
        let state = d["state"]["status"].as_str().unwrap_or("?");
        let reason = d["state"]["reason"]
            .as_str()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default();
        println!(
            "{}  {}  {state}{reason}  pending {}, dead {}, expired {}",
            d["id"].as_str().unwrap_or("?"),
            d["settings"]["kind"].as_str().unwrap_or("?"),
            d["deliveries"]["pending"],
            d["deliveries"]["dead"],
            d["deliveries"]["expired"],
        );
    };
    match command {
        DestinationCommand::Set {
            id,
            settings,
            remote,
        } => {
            let (body, generated) = destination_settings(&settings)?;
            let d: Value = client(&remote, data_dir)?
                .call(
                    Method::PUT,
                    &format!("/api/v1/destinations/{id}"),
                    Some(&body),
                )
                .await?;
            if remote.json {
                let mut out = d;
                if let Some(secret) = generated {
                    out["generated_secret"] = json!(secret);
                }
                return print_json(&out);
            }
            show(&d);
            if let Some(secret) = generated {
                println!(
                    "\nthe endpoint's signing secret (shown once; give it to the receiver):\n  {secret}"
                );
            }
            Ok(())
        }
        DestinationCommand::List { remote } => {
            let out: Value = client(&remote, data_dir)?
                .call(Method::GET, "/api/v1/destinations", None)
                .await?;
            if remote.json {
                return print_json(&out);
            }
            let list = out["destinations"].as_array().cloned().unwrap_or_default();
            if list.is_empty() {
                println!("no destinations: events stay in livecard's own reports");
            }
            list.iter().for_each(show);
            Ok(())
        }
        DestinationCommand::Delete { id, remote } => {
            client(&remote, data_dir)?
                .call_empty(Method::DELETE, &format!("/api/v1/destinations/{id}"))
                .await?;
            if !remote.json {
                println!("destination {id} removed");
            }
            Ok(())
        }
        DestinationCommand::Pause { id, remote } | DestinationCommand::Resume { id, remote } => {
            let action = if paused { "pause" } else { "resume" };
            let d: Value = client(&remote, data_dir)?
                .call(
                    Method::POST,
                    &format!("/api/v1/destinations/{id}/{action}"),
                    None,
                )
                .await?;
            if remote.json {
                return print_json(&d);
            }
            show(&d);
            Ok(())
        }
        DestinationCommand::Dead {
            id,
            expired,
            remote,
        } => {
            let state = if expired { "expired" } else { "dead" };
            let items = client(&remote, data_dir)?
                .list_all(
                    &format!("/api/v1/destinations/{id}/deliveries?state={state}"),
                    "deliveries",
                )
                .await?;
            if remote.json {
                return print_json(&json!({ "deliveries": items }));
            }
            if items.is_empty() {
                println!("no {state} deliveries");
            }
            for d in items {
                println!(
                    "{}  {}  {} attempts  {}",
                    d["event"]["id"].as_str().unwrap_or("?"),
                    d["event"]["name"].as_str().unwrap_or("?"),
                    d["attempts"],
                    d["last_status"].as_str().unwrap_or("")
                );
            }
            Ok(())
        }
        DestinationCommand::Replay {
            id,
            events,
            all,
            expired,
            remote,
        } => {
            let body = json!({ "events": events, "all": all, "expired": expired });
            let out: Value = client(&remote, data_dir)?
                .call(
                    Method::POST,
                    &format!("/api/v1/destinations/{id}/replay"),
                    Some(&body),
                )
                .await?;
            if remote.json {
                return print_json(&out);
            }
            println!("{} deliveries put back in the outbox", out["replayed"]);
            Ok(())
        }
    }
}

fn init_logs(json: bool) {
    use tracing_subscriber::EnvFilter;
    let directives = std::env::var("LIVECARD_LOG").unwrap_or_else(|_| "info".into());
    // The embedded store logs every expected miss (a table not there yet) as
    // a warning; keep it quiet unless asked for by name.
    let directives = if directives.contains("dynoxide") {
        directives
    } else {
        format!("{directives},dynoxide=error")
    };
    let filter =
        EnvFilter::try_new(&directives).unwrap_or_else(|_| EnvFilter::new("info,dynoxide=error"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    init_logs(cli.log_json);
    match cli.command.unwrap_or(Command::Up(cli.up)) {
        Command::Up(args) => {
            let settings = settings(&args)?;
            let duration = |text: &str, flag: &str| {
                parse_duration_ms(text)
                    .ok()
                    .filter(|ms| *ms > 0)
                    .map(Duration::from_millis)
                    .with_context(|| format!("{flag} must be a duration such as 30s"))
            };
            if args.max_connections_per_client == 0 || args.max_connections == 0 {
                bail!("--max-connections and --max-connections-per-client must be at least 1");
            }
            let limits = ConnectionLimits {
                header_read: duration(&args.header_timeout, "--header-timeout")?,
                body_read: duration(&args.body_timeout, "--body-timeout")?,
                idle_http: duration(&args.idle_timeout, "--idle-timeout")?,
                per_client: args.max_connections_per_client,
                total: args.max_connections,
                ..ConnectionLimits::default()
            };
            up(UpOptions {
                addr: args.addr,
                data_dir: cli.data_dir,
                settings,
                demo_addr: args.demo_addr,
                turn_addr: (!args.no_media_node).then_some(args.turn_addr),
                limits,
            })
            .await
        }
        Command::Card(command) => card(command, &cli.data_dir).await,
        Command::Advisor(command) => advisor(command, &cli.data_dir).await,
        Command::Destination(command) => destination(command, &cli.data_dir).await,
        Command::Report(args) => report(args, &cli.data_dir).await,
        Command::Privacy(command) => privacy(command, &cli.data_dir).await,
        Command::Edge(args) => {
            crate::edge::run(
                &cli.data_dir,
                args.worker_dir,
                args.addr,
                args.turn_addr,
                args.demo_addr,
                args.relay_only,
            )
            .await
        }
        Command::MediaNode(args) => {
            let deadline = parse_duration_ms(&args.drain_deadline)
                .ok()
                .filter(|ms| *ms > 0)
                .context("--drain-deadline must be a duration such as 30s")?;
            crate::media::join(
                &cli.data_dir,
                &args.id,
                args.listen,
                Duration::from_millis(deadline),
            )
            .await
        }
    }
}

fn client(remote: &Remote, data_dir: &std::path::Path) -> anyhow::Result<ApiClient> {
    let key = remote.admin_key.clone().or_else(|| {
        data_dir
            .is_dir()
            .then(|| {
                DataDir {
                    path: data_dir.to_owned(),
                }
                .read_admin_key()
            })
            .flatten()
    });
    ApiClient::new(&remote.api, key)
}

fn list(values: &str) -> Vec<String> {
    values
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn print_json(value: &Value) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string(value)?);
    Ok(())
}

/// The link as a QR code for a terminal (two rows per character).
pub fn qr_text(url: &str) -> anyhow::Result<String> {
    use qrcode::render::unicode::Dense1x2;
    let code = qrcode::QrCode::new(url.as_bytes()).context("the link is too long for a QR code")?;
    Ok(code
        .render::<Dense1x2>()
        .dark_color(Dense1x2::Light)
        .light_color(Dense1x2::Dark)
        .quiet_zone(true)
        .build())
}

async fn card(command: CardCommand, data_dir: &std::path::Path) -> anyhow::Result<()> {
    match command {
        CardCommand::Create {
            advisor,
            campaign,
            expires,
            channels,
            remote,
        } => {
            let expires_in_ms = parse_duration_ms(&expires).context("--expires")?;
            let channels = channels
                .map(|c| c.parse::<ChannelSet>())
                .transpose()
                .context("--channels")?;
            let body = json!({
                "advisor": advisor,
                "campaign": campaign,
                "channels": channels,
                "expires_in_ms": expires_in_ms,
            });
            let card: Value = client(&remote, data_dir)?
                .call(Method::POST, "/api/v1/cards", Some(&body))
                .await?;
            if remote.json {
                return print_json(&card);
            }
            let url = card["url"].as_str().context("no url in the answer")?;
            println!(
                "card {} for {}",
                card["id"].as_str().unwrap_or("?"),
                card["advisor"].as_str().unwrap_or("?")
            );
            println!("\nlink:\n  {url}");
            println!(
                "\nHTML for an e-mail signature:\n  {}",
                card["html_snippet"].as_str().unwrap_or("")
            );
            println!("\nQR code:\n{}", qr_text(url)?);
            Ok(())
        }
        CardCommand::List { remote } => {
            let all = client(&remote, data_dir)?
                .list_all("/api/v1/cards", "cards")
                .await?;
            if remote.json {
                return print_json(&json!({ "cards": all }));
            }
            for card in &all {
                let state = if card["revoked_at"].is_null() {
                    "active"
                } else {
                    "revoked"
                };
                println!(
                    "{}  {:<16} {:<8} {:<12} {}",
                    card["id"].as_str().unwrap_or("?"),
                    card["advisor"].as_str().unwrap_or("?"),
                    state,
                    card["campaign"].as_str().unwrap_or("-"),
                    card["url"].as_str().unwrap_or("")
                );
            }
            Ok(())
        }
        CardCommand::Revoke { id, remote } => {
            if id.is_empty()
                || id.len() > 64
                || !id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                bail!("{id:?} is not a card id");
            }
            let card: Value = client(&remote, data_dir)?
                .call(Method::DELETE, &format!("/api/v1/cards/{id}"), None)
                .await?;
            if remote.json {
                return print_json(&card);
            }
            println!("card {id} is revoked");
            Ok(())
        }
    }
}

async fn advisor(command: AdvisorCommand, data_dir: &std::path::Path) -> anyhow::Result<()> {
    match command {
        AdvisorCommand::Add {
            id,
            name,
            title,
            languages,
            topics,
            channels,
            capacity,
            photo_url,
            teams,
            xmpp,
            sip,
            remote,
        } => {
            let channels: ChannelSet = channels.parse().context("--channels")?;
            let body = json!({
                "id": id,
                "display_name": name,
                "title": title,
                "photo_url": photo_url,
                "languages": list(&languages),
                "topics": list(&topics),
                "channels": channels,
                "capacity": capacity,
                "identities": { "teams": teams, "xmpp": xmpp, "sip": sip },
            });
            let advisor: Value = client(&remote, data_dir)?
                .call(Method::POST, "/api/v1/advisors", Some(&body))
                .await?;
            if remote.json {
                return print_json(&advisor);
            }
            println!("advisor {id} saved");
            Ok(())
        }
        AdvisorCommand::List { remote } => {
            let all = client(&remote, data_dir)?
                .list_all("/api/v1/admin/advisors", "advisors")
                .await?;
            if remote.json {
                return print_json(&json!({ "advisors": all }));
            }
            for entry in &all {
                let a = &entry["advisor"];
                let p = &entry["presence"];
                println!(
                    "{:<16} {:<24} chat={:<9} audio={:<9} video={:<9}",
                    a["id"].as_str().unwrap_or("?"),
                    a["display_name"].as_str().unwrap_or("?"),
                    p["chat"].as_str().unwrap_or("?"),
                    p["audio"].as_str().unwrap_or("?"),
                    p["video"].as_str().unwrap_or("?")
                );
            }
            Ok(())
        }
        AdvisorCommand::SigninLink { id, remote } => {
            if livecard_core::ids::AdvisorId::parse(&id).is_err() {
                bail!("{id:?} is not an advisor id");
            }
            let link: Value = client(&remote, data_dir)?
                .call(
                    Method::POST,
                    &format!("/api/v1/advisors/{id}/signin-links"),
                    None,
                )
                .await?;
            if remote.json {
                return print_json(&link);
            }
            println!("{}", link["url"].as_str().unwrap_or(""));
            Ok(())
        }
        AdvisorCommand::EndSessions { id, remote } => {
            let done = format!("every session of {id} has ended");
            advisor_delete(&id, "sessions", &remote, data_dir, &done).await
        }
        AdvisorCommand::PresenceReset { id, remote } => {
            let done = format!("presence of {id} is reset");
            advisor_delete(&id, "presence", &remote, data_dir, &done).await
        }
    }
}

/// `DELETE /api/v1/advisors/<id>/<what>`: prints `done`, or the answer
/// with `--json`.
async fn advisor_delete(
    id: &str,
    what: &str,
    remote: &Remote,
    data_dir: &std::path::Path,
    done: &str,
) -> anyhow::Result<()> {
    if livecard_core::ids::AdvisorId::parse(id).is_err() {
        bail!("{id:?} is not an advisor id");
    }
    let result: Value = client(remote, data_dir)?
        .call(
            Method::DELETE,
            &format!("/api/v1/advisors/{id}/{what}"),
            None,
        )
        .await?;
    if remote.json {
        return print_json(&result);
    }
    println!("{done}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `livecard` alone runs `up` with `up`'s own flags and defaults.
    #[test]
    fn no_subcommand_is_up_with_its_flags() {
        let bare = Cli::try_parse_from(["livecard", "--relay-only", "--idle-timeout", "5s"])
            .expect("parse");
        assert!(bare.command.is_none());
        let Some(Command::Up(up)) =
            Cli::try_parse_from(["livecard", "up", "--relay-only", "--idle-timeout", "5s"])
                .expect("parse")
                .command
        else {
            panic!("up expected");
        };
        assert_eq!(format!("{:?}", bare.up), format!("{up:?}"));
        // Global flags still go before a subcommand.
        let cli = Cli::try_parse_from(["livecard", "--data-dir", "/tmp/x", "up", "--relay-only"])
            .expect("parse");
        assert!(matches!(cli.command, Some(Command::Up(ref up)) if up.relay_only));
    }

    #[test]
    fn trusted_proxies_take_addresses_and_networks() {
        let cli = Cli::try_parse_from([
            "livecard",
            "up",
            "--trusted-proxy",
            "127.0.0.1,10.0.0.0/8",
            "--trusted-proxy",
            "2001:db8::/32",
        ])
        .expect("parse");
        let Some(Command::Up(parsed)) = cli.command else {
            panic!("up expected");
        };
        let shown: Vec<String> = settings(&parsed)
            .expect("settings")
            .trusted_proxies
            .iter()
            .map(|n| n.to_string())
            .collect();
        assert_eq!(shown, ["127.0.0.1/32", "10.0.0.0/8", "2001:db8::/32"]);
        let cli = Cli::try_parse_from(["livecard", "up", "--trusted-proxy", "proxy.example"])
            .expect("parse");
        let Some(Command::Up(parsed)) = cli.command else {
            panic!("up expected");
        };
        let err = settings(&parsed).expect_err("not an address");
        assert!(
            err.to_string().contains("LIVECARD_TRUSTED_PROXIES"),
            "{err}"
        );
    }
}
