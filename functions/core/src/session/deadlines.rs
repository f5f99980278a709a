//! When a session needs the host's attention: the policy's times, the next
//! deadline, and what happens when one passes.

use super::{Effect, EndReason, Phase, Session};
use crate::UnixMillis;
use crate::event::EventName;

/// Times a deployment runs sessions with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPolicy {
    /// How long an advisor rings before the next one is tried.
    pub ring_ms: u64,
    /// How long a visitor may wait in the queue.
    pub queue_ms: u64,
    /// A connected session with no message for this long ends.
    pub inactivity_ms: u64,
    /// A contact request whose visitor never joins with their socket ends
    /// after this (nobody was rung for it).
    pub join_ms: u64,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        Self {
            ring_ms: 30_000,
            queue_ms: 10 * 60_000,
            inactivity_ms: 15 * 60_000,
            join_ms: 60_000,
        }
    }
}

impl Session {
    /// When the host must call [`Session::tick`] at the latest.
    pub fn next_deadline(&self, policy: &SessionPolicy) -> Option<UnixMillis> {
        match &self.phase {
            Phase::Ringing { until, .. } | Phase::Queued { until, .. } => Some(*until),
            Phase::Connected { .. } => {
                Some(self.last_activity.saturating_add(policy.inactivity_ms))
            }
            Phase::Routing if !self.visitor_joined => {
                Some(self.created_at.saturating_add(policy.join_ms))
            }
            // A visitor shown "nobody is free" has the queue time to choose.
            Phase::Routing => Some(self.last_activity.saturating_add(policy.queue_ms)),
            Phase::Ended { .. } => None,
        }
    }

    /// Time passed: ring timeouts, queue timeouts and inactivity.
    pub(super) fn tick(&mut self, policy: &SessionPolicy, now: UnixMillis) -> Vec<Effect> {
        match &self.phase {
            Phase::Ringing { advisor, until } if now >= *until => {
                let advisor = advisor.clone();
                self.unring(advisor, EventName::Missed)
            }
            Phase::Queued { until, .. } if now >= *until => {
                self.end(EndReason::QueueTimeout, now).unwrap_or_default()
            }
            Phase::Connected { .. }
                if now >= self.last_activity.saturating_add(policy.inactivity_ms) =>
            {
                self.end(EndReason::Inactivity, now).unwrap_or_default()
            }
            Phase::Routing
                if !self.visitor_joined
                    && now >= self.created_at.saturating_add(policy.join_ms) =>
            {
                self.end(EndReason::Abandoned, now).unwrap_or_default()
            }
            Phase::Routing
                if self.visitor_joined
                    && now >= self.last_activity.saturating_add(policy.queue_ms) =>
            {
                self.end(EndReason::Abandoned, now).unwrap_or_default()
            }
            _ => Vec::new(),
        }
    }
}
