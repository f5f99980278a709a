//! The livecard media node: a TURN relay built on the webrtc-rs `stun`
//! crate.
//!
//! - [`turn`]: the server, sans-IO (allocations, permissions, channels,
//!   credentials, peer policy, quotas), tested with simulated time;
//! - [`wire`]: STUN/TURN messages and ChannelData;
//! - [`net`]: the tokio shell (UDP, TCP and TLS listeners, relay sockets);
//! - [`config`]: the configuration file and environment;
//! - [`ops`]: `/healthz`, `/metrics`, self-registration in the store and
//!   the graceful drain;
//! - [`metrics`]: the Prometheus counters;
//! - [`client`]: a small TURN client for tests, checks and the bench.

#[cfg(feature = "shell")]
pub mod client;
#[cfg(feature = "shell")]
pub mod config;
#[cfg(feature = "shell")]
pub mod imds;
pub mod metrics;
#[cfg(feature = "shell")]
pub mod net;
#[cfg(feature = "shell")]
pub mod ops;
pub mod turn;
pub mod wire;
