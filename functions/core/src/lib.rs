//! The livecard domain, free of I/O.
//!
//! Every rule lives here: identifiers, advisors, presence, card tokens, sign-in
//! and session tokens, analytics events. Nothing here reads a clock, draws
//! randomness or touches the network: the current time (`now`, Unix
//! milliseconds) and random bytes are arguments, and the results are values
//! that a host stores, sends or shows. That keeps it buildable for every target
//! (native, Lambda, wasm32 for the Worker) and testable with simulated time.

pub mod advisor;
pub mod auth;
pub mod card;
pub mod channel;
pub mod duration;
pub mod encoding;
pub mod event;
pub mod files;
pub mod forward;
pub mod ice_provider;
pub mod identity_images;
pub mod ids;
pub mod media;
pub mod offline;
pub mod presence;
pub mod replies;
pub mod report;
pub mod routing;
pub mod session;
pub mod signaling;
pub mod turn;
pub mod visitor;
pub mod webhook;

/// Milliseconds since the Unix epoch. The only notion of time in the core.
pub type UnixMillis = u64;
