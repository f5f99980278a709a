//! Contact sessions: a visitor asks, routing picks an advisor, the advisor
//! is rung, and both chat. The rules are in `livecard_core::session` and
//! `livecard_core::routing`; this module carries them out against the store
//! and the push port, once for every host.
//!
//! - [`engine`]: routing with atomic claims, session updates with optimistic
//!   versions, effects (ring, release, events), queues and the sweep.
//! - [`ws`]: the WebSocket side of the signaling protocol (`docs/protocol.md`).
//! - [`http`]: the JSON endpoints that start a contact, leave an offline
//!   message, find the best advisor for the widget, and read an inbox.
//! - [`after`]: the transcript download and the rating after a contact.

pub mod after;
pub mod engine;
pub mod http;
pub mod moves;
pub mod provider;
pub mod push;
pub mod ws;

use livecard_core::UnixMillis;
use livecard_core::ids::AdvisorId;
use std::fmt;

/// Who a pushed message is for: the visitor of one session (every page or
/// widget that joined it), or an advisor (every console they have open).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Participant {
    Visitor(String),
    Advisor(AdvisorId),
}

impl fmt::Display for Participant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Participant::Visitor(session) => write!(f, "visitor:{session}"),
            Participant::Advisor(id) => write!(f, "advisor:{id}"),
        }
    }
}

/// The push port: how handlers reach participants' open connections. The
/// local host keeps connections in memory; the Lambda host records them in
/// the store and posts through API Gateway's connection API.
///
/// Sending to a participant with no open connection is not an error: what
/// matters is stored, and a client that (re)joins gets it then.
#[allow(async_fn_in_trait)] // like `Store`: Send-ness follows the concrete type
pub trait Push {
    /// Sends `message` (one protocol message) to every connection of `to`.
    async fn send(&self, to: &Participant, message: &str);
    /// From now on `connection` also receives what is sent to `to`.
    async fn subscribe(&self, connection: &str, to: &Participant);
    /// Closes every connection of `to` (an advisor whose sessions ended:
    /// their open consoles must sign in again).
    async fn disconnect(&self, to: &Participant);
}

/// A push port that reaches nobody (hosts that serve no WebSockets, tests
/// of plain HTTP handlers).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoPush;

impl Push for NoPush {
    async fn send(&self, _to: &Participant, _message: &str) {}
    async fn subscribe(&self, _connection: &str, _to: &Participant) {}
    async fn disconnect(&self, _to: &Participant) {}
}

/// The most sessions one visitor connection may join.
pub const MAX_JOINED: usize = 8;

/// What the server knows about one WebSocket connection. The local host
/// keeps it in the connection's task; a serverless host stores it with the
/// connection and saves it after every message that changed it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Connection {
    pub id: String,
    /// The signed-in advisor, decided once when the connection opened.
    pub advisor: Option<AdvisorId>,
    /// Sessions this connection joined as their visitor (proved by token).
    pub sessions: Vec<String>,
    pub limiter: RateLimit,
}

impl Connection {
    pub fn new(id: impl Into<String>, advisor: Option<AdvisorId>, now: UnixMillis) -> Self {
        Self {
            id: id.into(),
            advisor,
            sessions: Vec::new(),
            limiter: RateLimit::new(now),
        }
    }
}

/// The per-connection message rate a deployment allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RatePolicy {
    pub burst: u64,
    pub per_second: u64,
}

impl Default for RatePolicy {
    fn default() -> Self {
        Self {
            burst: RateLimit::BURST,
            per_second: RateLimit::PER_SECOND,
        }
    }
}

/// A token bucket per connection: a burst of [`RateLimit::BURST`] messages,
/// refilled at [`RateLimit::PER_SECOND`] (by default; see [`RatePolicy`]). A
/// client that keeps flooding after [`RateLimit::MAX_REFUSED`] refusals in a
/// row is disconnected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RateLimit {
    /// Tokens, in thousandths.
    milli_tokens: u64,
    last: UnixMillis,
    pub refused_in_a_row: u32,
}

impl RateLimit {
    pub const BURST: u64 = 40;
    pub const PER_SECOND: u64 = 20;
    pub const MAX_REFUSED: u32 = 200;

    pub fn new(now: UnixMillis) -> Self {
        Self {
            milli_tokens: Self::BURST * 1000,
            last: now,
            refused_in_a_row: 0,
        }
    }

    /// Takes a token for one message at `now`; false when there is none.
    pub fn take(&mut self, now: UnixMillis) -> bool {
        self.take_with(RatePolicy::default(), now)
    }

    /// [`RateLimit::take`] under a deployment's policy.
    pub fn take_with(&mut self, policy: RatePolicy, now: UnixMillis) -> bool {
        let elapsed = now.saturating_sub(self.last);
        self.last = self.last.max(now);
        self.milli_tokens = self
            .milli_tokens
            .saturating_add(elapsed.saturating_mul(policy.per_second))
            .min(policy.burst.saturating_mul(1000));
        if self.milli_tokens >= 1000 {
            self.milli_tokens -= 1000;
            self.refused_in_a_row = 0;
            true
        } else {
            self.refused_in_a_row = self.refused_in_a_row.saturating_add(1);
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limit_allows_a_burst_then_the_refill_rate() {
        let mut limit = RateLimit::new(0);
        let burst = (0..100).filter(|_| limit.take(0)).count();
        assert_eq!(burst as u64, RateLimit::BURST);
        assert_eq!(limit.refused_in_a_row, 60);
        // One second later: PER_SECOND more.
        let refill = (0..100).filter(|_| limit.take(1000)).count();
        assert_eq!(refill as u64, RateLimit::PER_SECOND);
        // A clock that goes backwards gives nothing.
        assert!(!limit.take(500));
    }
}
