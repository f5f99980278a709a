//! The real clock and randomness the handlers get on this host (shared with
//! the Lambda host, in `livecard_app::system`).

pub use livecard_app::system::{OsRandom, SystemClock};
