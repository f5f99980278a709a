//! The real clock and randomness, for every native host.

use crate::{Clock, Random};
use livecard_core::UnixMillis;
use std::time::{SystemTime, UNIX_EPOCH};

pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> UnixMillis {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as UnixMillis)
            .unwrap_or(0)
    }
}

pub struct OsRandom;

impl Random for OsRandom {
    fn fill(&self, buf: &mut [u8]) {
        // The OS generator failing is unrecoverable: nothing secure can be
        // issued without it.
        if let Err(err) = getrandom::fill(buf) {
            panic!("the operating system's random generator failed: {err}");
        }
    }
}
