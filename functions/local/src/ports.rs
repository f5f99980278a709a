//! The real clock and randomness the handlers get on this host (shared with
//! the Lambda host, in `livecard_app::system`).

pub use livecard_app::system::{OsRandom, SystemClock};

/// Random bytes for bootstrap code outside the handlers.
pub fn random_bytes<const N: usize>() -> anyhow::Result<[u8; N]> {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf)
        .map_err(|e| anyhow::anyhow!("the operating system's random generator failed: {e}"))?;
    Ok(buf)
}
