//! The local host: everything on one machine.
//!
//! `livecard up` runs the shared handlers of `livecard-app` in axum, with the
//! DynamoDB store talking to a DynamoDB-compatible server embedded in the
//! process (Dynoxide, an SQLite file in the data directory). The other
//! subcommands are the admin CLI, a client of the JSON API, so they work the
//! same against `livecard up` and a deployed API.

pub mod bootstrap;
pub mod cli;
pub mod client;
pub mod datadir;
pub mod demo_site;
pub mod edge;
pub mod listener;
pub mod media;
pub mod outbox;
pub mod ports;
pub mod registry;
pub mod server;
#[cfg(feature = "testkit")]
pub mod testkit;

/// The table of the embedded store.
pub const TABLE: &str = "livecard";

/// The handlers as this host runs them: the embedded store, and the
/// in-memory registry of open sockets as the push port.
pub type LocalApp = livecard_app::App<livecard_store::dynamo::DynamoStore, registry::Registry>;

/// The presence connectors' view of this host's handlers.
pub struct LocalPresence(pub std::sync::Arc<LocalApp>);
livecard_connectors::presence_host!(LocalPresence);

/// The handlers on `store` with the real clock and randomness and an empty
/// registry of sockets.
pub fn local_app(
    store: livecard_store::dynamo::DynamoStore,
    config: livecard_app::Config,
    secrets: livecard_app::Secrets,
) -> LocalApp {
    let app = livecard_app::App::new(
        store,
        std::sync::Arc::new(ports::SystemClock),
        std::sync::Arc::new(ports::OsRandom),
        config,
        secrets,
    )
    .with_push(registry::Registry::default());
    // The handlers' outgoing HTTP (a TURN credentials provider).
    match livecard_app::forward_native::NativeFetch::new(app.forward_policy()) {
        Ok(fetch) => app.with_fetch(std::sync::Arc::new(fetch)),
        Err(err) => {
            tracing::error!(error = %err, "no HTTP client: a TURN provider is not asked");
            app
        }
    }
}
