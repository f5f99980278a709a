//! Microsoft Teams presence through Microsoft Graph, without I/O: the
//! requests a connector makes, what the answers mean, and when livecard
//! tells Teams that an advisor is in a livecard call. The connector that
//! sends them lives with the long-running host.

use super::Signal;
use super::mapping::{self, Signals};
use crate::UnixMillis;
use serde::Deserialize;
use std::collections::BTreeMap;

/// Graph takes at most this many user ids per `getPresencesByUserId`.
pub const MAX_IDS_PER_REQUEST: usize = 650;
/// How often presence is read by default.
pub const DEFAULT_POLL_MS: u64 = 15_000;
/// A poll's answer counts for this many intervals: a connector that stops
/// polling (Graph down, wrong credentials) drops out by itself.
pub const LIFETIME_POLLS: u64 = 4;
/// How long a `setPresence` session lasts (Graph allows 5 min to 4 h) and
/// how long before its end it is renewed.
pub const SESSION_EXPIRATION: &str = "PT15M";
const SESSION_MS: u64 = 15 * 60_000;
const RENEW_BEFORE_MS: u64 = 5 * 60_000;
/// The largest Graph answer read.
pub const MAX_ANSWER_BYTES: usize = 4 * 1024 * 1024;

/// One user's presence as Graph answers it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct GraphPresence {
    pub id: String,
    #[serde(default)]
    pub availability: String,
    #[serde(default)]
    pub activity: String,
}

impl GraphPresence {
    pub fn signals(&self) -> Signals {
        mapping::teams(&self.availability, &self.activity)
    }
}

#[derive(Debug, Deserialize)]
struct PresenceList {
    value: Vec<GraphPresence>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    #[error("the answer is larger than {MAX_ANSWER_BYTES} bytes")]
    TooLarge,
    #[error("the answer is not a Graph presence list: {0}")]
    Shape(String),
}

/// The body of `POST /communications/getPresencesByUserId`.
pub fn presences_request(ids: &[&str]) -> serde_json::Value {
    serde_json::json!({ "ids": ids })
}

/// Reads a `getPresencesByUserId` answer.
pub fn parse_presences(body: &[u8]) -> Result<Vec<GraphPresence>, GraphError> {
    if body.len() > MAX_ANSWER_BYTES {
        return Err(GraphError::TooLarge);
    }
    serde_json::from_slice::<PresenceList>(body)
        .map(|l| l.value)
        .map_err(|e| GraphError::Shape(e.to_string()))
}

/// How long to wait after a 429 or 503: Graph's `Retry-After` in seconds
/// (kept within 1 s and 10 min), else 30 s.
pub fn retry_after_ms(header: Option<&str>) -> u64 {
    header
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map_or(30_000, |s| s.clamp(1, 600) * 1000)
}

/// Whether a polled presence should be written: it changed, or what is
/// stored runs out within two polls (so a steady state is written once
/// every couple of polls, not every time).
pub fn worth_writing(
    last: Option<(Signals, UnixMillis)>,
    now: Signals,
    at: UnixMillis,
    poll_ms: u64,
) -> bool {
    match last {
        None => true,
        Some((signals, expires_at)) => {
            signals != now || expires_at.saturating_sub(at) <= poll_ms.saturating_mul(2)
        }
    }
}

/// When a written poll result stops counting.
pub fn poll_expiry(at: UnixMillis, poll_ms: u64) -> UnixMillis {
    at.saturating_add(poll_ms.saturating_mul(LIFETIME_POLLS))
}

/// A call to Graph's presence sessions for livecard's own calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionCall {
    /// `POST /users/{id}/presence/setPresence` Busy / InACall.
    Set { user: String },
    /// `POST /users/{id}/presence/clearPresence`.
    Clear { user: String },
}

/// The body of a `setPresence` under livecard's application session.
pub fn set_presence_body(app_id: &str) -> serde_json::Value {
    serde_json::json!({
        "sessionId": app_id,
        "availability": "Busy",
        "activity": "InACall",
        "expirationDuration": SESSION_EXPIRATION,
    })
}

/// The body of a `clearPresence` of livecard's application session.
pub fn clear_presence_body(app_id: &str) -> serde_json::Value {
    serde_json::json!({ "sessionId": app_id })
}

/// Livecard's presence sessions in Teams: set while an advisor is in a
/// livecard call, renewed before they expire, cleared at hang-up. Never the
/// user's preferred presence (that is theirs).
#[derive(Debug, Default)]
pub struct CallSessions {
    /// Teams user id → when the session must be renewed.
    set: BTreeMap<String, UnixMillis>,
}

impl CallSessions {
    /// The calls to make, given who is in a livecard call now.
    pub fn plan<'a>(
        &mut self,
        in_call: impl IntoIterator<Item = &'a str>,
        now: UnixMillis,
    ) -> Vec<SessionCall> {
        let mut calls = Vec::new();
        let mut current = BTreeMap::new();
        for user in in_call {
            let renew_at = self.set.get(user).copied();
            if renew_at.is_none_or(|r| now >= r) {
                calls.push(SessionCall::Set {
                    user: user.to_owned(),
                });
                current.insert(user.to_owned(), now + SESSION_MS - RENEW_BEFORE_MS);
            } else if let Some(r) = renew_at {
                current.insert(user.to_owned(), r);
            }
        }
        for user in self.set.keys() {
            if !current.contains_key(user) {
                calls.push(SessionCall::Clear { user: user.clone() });
            }
        }
        self.set = current;
        calls
    }

    /// A call failed: a `Set` is tried again at the next plan; a failed
    /// `Clear` expires in Teams by itself.
    pub fn failed(&mut self, call: &SessionCall) {
        if let SessionCall::Set { user } = call {
            self.set.remove(user);
        }
    }

    pub fn is_set(&self, user: &str) -> bool {
        self.set.contains_key(user)
    }
}

/// Is this an advisor in a livecard call, as their `call` entries say?
pub fn in_livecard_call(presence: &super::Presence, now: UnixMillis) -> bool {
    [
        crate::channel::Channel::Audio,
        crate::channel::Channel::Video,
    ]
    .into_iter()
    .any(|c| {
        presence
            .entry(super::PresenceSource::Call, c)
            .is_some_and(|e| e.signal == Signal::OnCall && e.live(now))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_graphs_answer_and_refuses_what_is_not_one() {
        let body = br#"{"value":[{"id":"u1","availability":"Busy","activity":"InACall"},
            {"id":"u2","availability":"Available","activity":"Available","statusMessage":null}]}"#;
        let list = parse_presences(body).expect("list");
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].signals(), Signals::on_call(Signal::Available));
        assert!(matches!(
            parse_presences(b"<html>"),
            Err(GraphError::Shape(_))
        ));
        let huge = vec![b' '; MAX_ANSWER_BYTES + 1];
        assert_eq!(parse_presences(&huge), Err(GraphError::TooLarge));
        assert_eq!(presences_request(&["a", "b"])["ids"][1], "b");
    }

    #[test]
    fn retry_after_is_bounded() {
        assert_eq!(retry_after_ms(Some("7")), 7_000);
        assert_eq!(retry_after_ms(Some("0")), 1_000);
        assert_eq!(retry_after_ms(Some("99999")), 600_000);
        assert_eq!(
            retry_after_ms(Some("Wed, 21 Oct 2015 07:28:00 GMT")),
            30_000
        );
        assert_eq!(retry_after_ms(None), 30_000);
    }

    #[test]
    fn steady_presence_is_written_only_to_keep_it_alive() {
        let poll = DEFAULT_POLL_MS;
        let busy = Signals::all(Signal::Busy);
        let at = 1_000_000;
        assert!(worth_writing(None, busy, at, poll));
        let stored = Some((busy, poll_expiry(at, poll)));
        assert!(!worth_writing(stored, busy, at + poll, poll));
        assert!(
            worth_writing(stored, busy, at + 2 * poll, poll),
            "renewed in time"
        );
        assert!(worth_writing(
            stored,
            Signals::all(Signal::Away),
            at + poll,
            poll
        ));
    }

    #[test]
    fn call_sessions_are_set_renewed_and_cleared() {
        let mut s = CallSessions::default();
        let t = 1_000_000;
        assert_eq!(
            s.plan(["u1"], t),
            vec![SessionCall::Set { user: "u1".into() }]
        );
        assert!(s.plan(["u1"], t + 60_000).is_empty(), "still fresh");
        assert_eq!(
            s.plan(["u1"], t + SESSION_MS - RENEW_BEFORE_MS),
            vec![SessionCall::Set { user: "u1".into() }],
            "renewed before Teams lets it expire"
        );
        assert_eq!(
            s.plan([], t + SESSION_MS),
            vec![SessionCall::Clear { user: "u1".into() }]
        );
        assert!(s.plan([], t + SESSION_MS).is_empty());
        // A failed set is tried again.
        let calls = s.plan(["u2"], t);
        s.failed(&calls[0]);
        assert!(!s.is_set("u2"));
        assert_eq!(s.plan(["u2"], t + 1).len(), 1);
        let body = set_presence_body("app");
        assert_eq!(
            (body["availability"].as_str(), body["activity"].as_str()),
            (Some("Busy"), Some("InACall"))
        );
    }
}
