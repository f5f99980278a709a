//! `livecard-media-node`: the TURN relay as its own process (ECS, or any
//! host with a public address). Configuration by file and environment
//! (`docs/media-node.md`); JSON logs; SIGTERM drains.

use clap::{Parser, Subcommand};
use livecard_media::config::FileConfig;
use livecard_media::ops::Node;
use livecard_store::dynamo::{DynamoStore, local_client};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "livecard-media-node",
    version,
    about = "The livecard TURN relay"
)]
struct Cli {
    /// A TOML configuration file; environment variables override it.
    #[arg(long, env = "LIVECARD_MEDIA_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve (the default).
    Serve,
    /// Ask a running node's /healthz (for container health checks): exit 0
    /// when it answers 200.
    Healthcheck {
        #[arg(long, default_value = "127.0.0.1:9090")]
        addr: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Healthcheck { addr }) = &cli.command {
        return healthcheck(addr);
    }
    tracing_subscriber::fmt()
        .json()
        .with_current_span(false)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("livecard-media-node: cannot start the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(cli.config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = %err, "the media node stopped");
            eprintln!("livecard-media-node: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config_path: Option<PathBuf>) -> anyhow::Result<()> {
    let file = match &config_path {
        Some(path) => FileConfig::from_file(path)?,
        None => FileConfig::default(),
    };
    let mut config = file.with_env(|var| std::env::var(var).ok())?.check()?;
    if let Some(endpoint) = config.imds.clone() {
        let (ip, instance) = livecard_media::imds::discover(&endpoint).await?;
        tracing::info!(public_ip = %ip, instance = %instance, "address from the instance metadata");
        config.apply_instance(ip, &instance);
    }
    let store = match &config.store {
        Some(store) => {
            let client = match &store.endpoint {
                Some(endpoint) => local_client(endpoint),
                None => aws_sdk_dynamodb_client().await,
            };
            Some(Arc::new(DynamoStore::new(client, store.table.clone())))
        }
        None => {
            tracing::warn!("no store table (LIVECARD_TABLE): the node does not register itself");
            None
        }
    };
    let mut nonce_key = [0u8; 32];
    getrandom::fill(&mut nonce_key).map_err(|err| anyhow::anyhow!("no randomness: {err}"))?;
    let node = Node::start(&config, store, nonce_key).await?;
    wait_for_stop().await;
    let left = node
        .drain(Duration::from_secs(config.drain_deadline_s))
        .await;
    if left > 0 {
        tracing::warn!(
            allocations = left,
            "the drain deadline passed; closing the remaining allocations"
        );
    }
    Ok(())
}

async fn aws_sdk_dynamodb_client() -> livecard_store::dynamo::Client {
    let sdk = livecard_store::aws::sdk_config().await;
    livecard_store::dynamo::Client::new(&sdk)
}

async fn wait_for_stop() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => tracing::info!("SIGTERM"),
                    _ = tokio::signal::ctrl_c() => tracing::info!("interrupted"),
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// A plain HTTP/1.0 GET of /healthz: the image has no shell or curl.
fn healthcheck(addr: &str) -> ExitCode {
    let attempt = || -> std::io::Result<bool> {
        let target = addr
            .parse::<std::net::SocketAddr>()
            .map_err(|_| std::io::Error::other("not an address"))?;
        let mut stream = std::net::TcpStream::connect_timeout(&target, Duration::from_secs(2))?;
        stream.set_read_timeout(Some(Duration::from_secs(2)))?;
        stream.write_all(b"GET /healthz HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
        let mut head = [0u8; 12];
        stream.read_exact(&mut head)?;
        Ok(head.starts_with(b"HTTP/1.1 200") || head.starts_with(b"HTTP/1.0 200"))
    };
    match attempt() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("unhealthy");
            ExitCode::FAILURE
        }
        Err(err) => {
            eprintln!("unreachable: {err}");
            ExitCode::FAILURE
        }
    }
}
