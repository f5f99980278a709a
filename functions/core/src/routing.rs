//! Routing: which advisor a contact request goes to.
//!
//! Pure: the host reads the candidates (advisor, effective presence, open
//! sessions, idle time) from the store, asks [`rank`] for the order to try
//! them in, and claims the first with an atomic conditional write (so that
//! under any concurrency nobody holds more sessions than their capacity).
//!
//! The order: the preferred advisor first (the card's advisor, or the one a
//! returning visitor last spoke with) when eligible; then the most free
//! capacity; then the one idle longest; then by id, so the order is total.

use crate::UnixMillis;
use crate::advisor::Advisor;
use crate::channel::Channel;
use crate::ids::AdvisorId;
use crate::presence::{PresenceState, PresenceView};
use std::cmp::Reverse;

/// How long a returning visitor is sent back to the advisor they last spoke
/// with, by default.
pub const DEFAULT_AFFINITY_MS: u64 = 30 * 86_400_000;

/// One advisor as routing sees them.
#[derive(Debug, Clone)]
pub struct Candidate<'a> {
    pub advisor: &'a Advisor,
    pub presence: PresenceView,
    /// Sessions the advisor holds now (ringing or connected).
    pub active: u16,
    /// When their last session ended (or they came online).
    pub idle_since: UnixMillis,
}

impl Candidate<'_> {
    pub fn free(&self) -> u16 {
        self.advisor.capacity.saturating_sub(self.active)
    }
}

/// What a visitor asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteRequest {
    pub channel: Channel,
    pub topic: Option<String>,
    pub language: Option<String>,
    /// Tried first when eligible (affinity, or a card's advisor).
    pub preferred: Option<AdvisorId>,
    /// A card link asks for its advisor only, until the visitor chooses a
    /// colleague.
    pub only: Option<AdvisorId>,
    /// Advisors already tried for this contact (declined or missed).
    pub exclude: Vec<AdvisorId>,
}

impl RouteRequest {
    pub fn new(channel: Channel) -> Self {
        Self {
            channel,
            topic: None,
            language: None,
            preferred: None,
            only: None,
            exclude: Vec::new(),
        }
    }
}

/// Can this candidate take this request now?
pub fn eligible(candidate: &Candidate<'_>, request: &RouteRequest) -> bool {
    let a = candidate.advisor;
    request.only.as_ref().is_none_or(|only| *only == a.id)
        && !request.exclude.contains(&a.id)
        && a.channels.contains(request.channel)
        && candidate.presence.get(request.channel) == PresenceState::Available
        && candidate.free() > 0
        && a.matches(request.topic.as_deref(), request.language.as_deref())
}

/// Why a colleague cannot take a conversation handed over to them for
/// `channel` now: `offline` (not available on it), `at_capacity` (no free
/// slot), or `None` when they can.
pub fn handover_refusal(candidate: &Candidate<'_>, channel: Channel) -> Option<&'static str> {
    if !candidate.advisor.channels.contains(channel)
        || candidate.presence.get(channel) != PresenceState::Available
    {
        Some("offline")
    } else if candidate.free() == 0 {
        Some("at_capacity")
    } else {
        None
    }
}

/// The eligible advisors in the order to try them.
pub fn rank(candidates: &[Candidate<'_>], request: &RouteRequest) -> Vec<AdvisorId> {
    let mut eligible: Vec<&Candidate<'_>> =
        candidates.iter().filter(|c| eligible(c, request)).collect();
    eligible.sort_by_key(|c| {
        let preferred = request.preferred.as_ref() == Some(&c.advisor.id);
        (
            Reverse(preferred),
            Reverse(c.free()),
            c.idle_since,
            c.advisor.id.clone(),
        )
    });
    eligible.into_iter().map(|c| c.advisor.id.clone()).collect()
}

/// A visitor's place in the queue and a rough wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueEstimate {
    /// 1 for the next to be served.
    pub position: u32,
    pub estimated_wait_ms: u64,
}

/// Estimates the wait of the visitor at `position` when `serving` session
/// slots match their request and a session lasts `average_session_ms`.
pub fn queue_estimate(position: u32, serving: u32, average_session_ms: u64) -> QueueEstimate {
    let rounds = u64::from(position).div_ceil(u64::from(serving.max(1)));
    QueueEstimate {
        position,
        estimated_wait_ms: rounds.saturating_mul(average_session_ms),
    }
}

/// Is the visitor's last advisor still the one to prefer?
pub fn affinity_applies(last_contact_at: UnixMillis, now: UnixMillis, window_ms: u64) -> bool {
    now.saturating_sub(last_contact_at) < window_ms
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::advisor::AdvisorInput;
    use crate::channel::ChannelSet;
    use PresenceState::*;

    fn advisor(id: &str, capacity: u16, topics: &[&str]) -> Advisor {
        AdvisorInput {
            id: id.into(),
            display_name: id.into(),
            title: String::new(),
            photo_url: None,
            languages: vec!["de".into(), "en".into()],
            topics: topics.iter().map(|t| (*t).to_owned()).collect(),
            channels: ChannelSet::ALL,
            capacity,
            identities: Default::default(),
        }
        .validate()
        .expect("valid")
    }

    fn view(state: PresenceState) -> PresenceView {
        PresenceView {
            chat: state,
            audio: state,
            video: Offline,
        }
    }

    fn id(text: &str) -> AdvisorId {
        AdvisorId::parse(text).expect("valid")
    }

    #[test]
    fn most_free_capacity_then_longest_idle() {
        let (a, b, c, d) = (
            advisor("a", 3, &["billing"]),
            advisor("b", 3, &["billing"]),
            advisor("c", 3, &["billing"]),
            advisor("d", 3, &["sales"]),
        );
        let candidates = [
            Candidate {
                advisor: &a,
                presence: view(Available),
                active: 2,
                idle_since: 0,
            },
            Candidate {
                advisor: &b,
                presence: view(Available),
                active: 0,
                idle_since: 500,
            },
            Candidate {
                advisor: &c,
                presence: view(Available),
                active: 0,
                idle_since: 100,
            },
            Candidate {
                advisor: &d,
                presence: view(Available),
                active: 0,
                idle_since: 0,
            },
        ];
        let mut request = RouteRequest::new(Channel::Chat);
        request.topic = Some("billing".into());
        assert_eq!(rank(&candidates, &request), vec![id("c"), id("b"), id("a")]);
    }

    #[test]
    fn preferred_first_when_eligible_and_only_restricts() {
        let (a, b) = (advisor("a", 1, &[]), advisor("b", 5, &[]));
        let mut candidates = vec![
            Candidate {
                advisor: &a,
                presence: view(Available),
                active: 0,
                idle_since: 0,
            },
            Candidate {
                advisor: &b,
                presence: view(Available),
                active: 0,
                idle_since: 0,
            },
        ];
        let mut request = RouteRequest::new(Channel::Chat);
        request.preferred = Some(id("a"));
        assert_eq!(rank(&candidates, &request), vec![id("a"), id("b")]);
        candidates[0].active = 1; // full: affinity does not override capacity
        assert_eq!(rank(&candidates, &request), vec![id("b")]);
        request.only = Some(id("a"));
        assert!(
            rank(&candidates, &request).is_empty(),
            "a card's advisor only"
        );
    }

    #[test]
    fn excludes_unavailable_channel_mismatch_and_tried() {
        let (a, b, c) = (
            advisor("a", 2, &[]),
            advisor("b", 2, &[]),
            advisor("c", 2, &[]),
        );
        let candidates = [
            Candidate {
                advisor: &a,
                presence: view(Busy),
                active: 0,
                idle_since: 0,
            },
            Candidate {
                advisor: &b,
                presence: view(Available),
                active: 0,
                idle_since: 0,
            },
            Candidate {
                advisor: &c,
                presence: view(Available),
                active: 0,
                idle_since: 0,
            },
        ];
        let mut request = RouteRequest::new(Channel::Video);
        assert!(
            rank(&candidates, &request).is_empty(),
            "video is offline for all"
        );
        request.channel = Channel::Chat;
        request.exclude = vec![id("b")];
        assert_eq!(rank(&candidates, &request), vec![id("c")]);
        request.language = Some("fr".into());
        assert!(rank(&candidates, &request).is_empty());
    }

    #[test]
    fn queue_estimates_and_affinity_window() {
        assert_eq!(queue_estimate(1, 2, 300_000).estimated_wait_ms, 300_000);
        assert_eq!(queue_estimate(3, 2, 300_000).estimated_wait_ms, 600_000);
        assert_eq!(queue_estimate(3, 0, 1000).estimated_wait_ms, 3000);
        assert!(affinity_applies(
            0,
            DEFAULT_AFFINITY_MS - 1,
            DEFAULT_AFFINITY_MS
        ));
        assert!(!affinity_applies(
            0,
            DEFAULT_AFFINITY_MS,
            DEFAULT_AFFINITY_MS
        ));
    }
}
