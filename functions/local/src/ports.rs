//! The real clock and randomness the handlers get on this host.

use livecard_app::{Clock, Random};
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

/// Random bytes for bootstrap code outside the handlers.
pub fn random_bytes<const N: usize>() -> anyhow::Result<[u8; N]> {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf)
        .map_err(|e| anyhow::anyhow!("the operating system's random generator failed: {e}"))?;
    Ok(buf)
}
