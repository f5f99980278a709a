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

pub mod engine;
pub mod http;
pub mod ws;

use livecard_core::UnixMillis;
use livecard_core::encoding::{b64url, b64url_decode, hmac_sha256};
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
/// connection and saves it again when [`Connection::changed`] says so.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Connection {
    pub id: String,
    /// The signed-in advisor, decided once when the connection opened.
    pub advisor: Option<AdvisorId>,
    /// Sessions this connection joined as their visitor (proved by token).
    pub sessions: Vec<String>,
    pub limiter: RateLimit,
    /// Set by a handler that changed the fields above.
    #[serde(skip)]
    pub changed: bool,
}

impl Connection {
    pub fn new(id: impl Into<String>, advisor: Option<AdvisorId>, now: UnixMillis) -> Self {
        Self {
            id: id.into(),
            advisor,
            sessions: Vec::new(),
            limiter: RateLimit::new(now),
            changed: false,
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

/// The visitor's proof for one session: HMAC-SHA256 under the session key
/// over the session id, 128 bits, base64url.
pub fn session_token(key: &[u8], session: &str) -> String {
    let mac = hmac_sha256(key, format!("contact|{session}").as_bytes());
    b64url(&mac[..16])
}

pub fn verify_session_token(key: &[u8], session: &str, token: &str) -> bool {
    if token.len() > 64 {
        return false;
    }
    let Some(tag) = b64url_decode(token) else {
        return false;
    };
    let expected = hmac_sha256(key, format!("contact|{session}").as_bytes());
    tag.len() == 16 && livecard_core::encoding::constant_time_eq(&expected[..16], &tag)
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

    #[test]
    fn session_tokens_are_bound_to_their_session() {
        let token = session_token(b"k", "s1");
        assert!(verify_session_token(b"k", "s1", &token));
        assert!(!verify_session_token(b"k", "s2", &token));
        assert!(!verify_session_token(b"other", "s1", &token));
        assert!(!verify_session_token(b"k", "s1", "AAAA"));
        assert!(!verify_session_token(b"k", "s1", &"A".repeat(200)));
    }
}
