//! The AWS Lambda hosts: the shared handlers of `livecard-app` behind API
//! Gateway, with DynamoDB and API Gateway's Management API.
//!
//! - `livecard-http` ([`http_api`]): an HTTP API (payload v2) in front of
//!   [`livecard_app::App::handle`]: pages, widget, JSON API.
//! - `livecard-ws` ([`ws_api`]): a WebSocket API (`$connect`, `$default`,
//!   `$disconnect`) in front of the same signaling handlers the local host
//!   serves. Connections and what they subscribed to live in DynamoDB;
//!   messages go out with `PostToConnection` ([`push::ApiGatewayConnections`]).
//! - `livecard-sweep` ([`host::sweep`]): the scheduled sweep (EventBridge)
//!   for ring deadlines, queue timeouts and inactivity.
//!
//! Nothing is kept between invocations that another instance could
//! contradict: sessions are read from the store every time
//! (`session_cache_ms` is 0), and a connection's state is saved after every
//! message. The SDK clients, the configuration and the secrets are built
//! once per cold start ([`host::Host::from_env`]).

pub mod aws;
#[cfg(feature = "emulator")]
pub mod emulator;
pub mod env;
pub mod host;
pub mod http_api;
pub mod push;
pub mod ws_api;

pub use host::Host;
