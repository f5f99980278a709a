//! A DynamoDB-compatible server (Dynoxide on SQLite) inside the process.
//!
//! `livecard up` runs the same [`crate::dynamo::DynamoStore`] as the cloud,
//! talking HTTP to this server on a loopback port, so the local stack
//! exercises the real DynamoDB code path.

use std::path::Path;
use std::time::Duration;
use tokio::sync::oneshot;

#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    #[error("could not open the database {path}: {reason}")]
    Open { path: String, reason: String },
    #[error("could not listen on loopback: {0}")]
    Listen(std::io::Error),
    #[error("could not start the server's thread: {0}")]
    Start(std::io::Error),
}

/// A running embedded server; it stops when this is dropped.
pub struct EmbeddedDynamo {
    endpoint: String,
    db: dynoxide::Database,
    stop: Option<oneshot::Sender<()>>,
}

impl EmbeddedDynamo {
    /// Starts a server on `127.0.0.1` on a free port, keeping its data in the
    /// SQLite file at `path`, or in memory when `path` is `None`.
    pub async fn start(path: Option<&Path>) -> Result<Self, EmbeddedError> {
        let db = match path {
            Some(path) => {
                let text = path.to_string_lossy().into_owned();
                dynoxide::Database::new(&text).map_err(|e| EmbeddedError::Open {
                    path: text,
                    reason: e.to_string(),
                })?
            }
            None => dynoxide::Database::memory().map_err(|e| EmbeddedError::Open {
                path: ":memory:".into(),
                reason: e.to_string(),
            })?,
        };
        let listener =
            std::net::TcpListener::bind(("127.0.0.1", 0)).map_err(EmbeddedError::Listen)?;
        listener
            .set_nonblocking(true)
            .map_err(EmbeddedError::Listen)?;
        let addr = listener.local_addr().map_err(EmbeddedError::Listen)?;
        // The server gets a thread and runtime of its own. Dynoxide answers a
        // request synchronously (SQLite, one writer at a time): on the host's
        // runtime, a large transaction would hold a worker that the
        // WebSocket traffic needs, and requests waiting for the database's
        // lock would hold the others.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(EmbeddedError::Start)?;
        let listener = {
            let _entered = runtime.enter();
            tokio::net::TcpListener::from_std(listener).map_err(EmbeddedError::Listen)?
        };
        let (stop, stopped) = oneshot::channel::<()>();
        let server_db = db.clone();
        std::thread::Builder::new()
            .name("embedded-dynamodb".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let shutdown = async move {
                        let _ = stopped.await;
                    };
                    if let Err(err) =
                        dynoxide::server::serve_with_shutdown(listener, server_db, shutdown).await
                    {
                        tracing::error!(error = %err, "embedded DynamoDB server stopped");
                    }
                });
            })
            .map_err(EmbeddedError::Start)?;
        Ok(Self {
            endpoint: format!("http://{addr}"),
            db,
            stop: Some(stop),
        })
    }

    /// The URL to give a DynamoDB client.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Deletes items whose TTL has passed (DynamoDB does this by itself; the
    /// embedded server does it when asked). Returns how many went.
    pub fn sweep_ttl(&self) -> usize {
        self.db.sweep_ttl().unwrap_or(0)
    }

    /// Runs [`Self::sweep_ttl`] every `every` until the server stops.
    pub fn spawn_ttl_sweeper(&self, every: Duration) {
        let db = self.db.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                let db = db.clone();
                match tokio::task::spawn_blocking(move || db.sweep_ttl()).await {
                    Ok(Ok(n)) if n > 0 => tracing::debug!(deleted = n, "TTL sweep"),
                    Ok(Err(err)) => tracing::warn!(error = %err, "TTL sweep failed"),
                    _ => {}
                }
            }
        });
    }
}

impl Drop for EmbeddedDynamo {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
