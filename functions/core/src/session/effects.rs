//! What the host must do after a transition.

use super::QueueKey;
use crate::UnixMillis;
use crate::event::EventName;
use crate::ids::AdvisorId;

/// What the host must do after [`super::Session::handle`], in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Ring this advisor until `until`.
    Ring {
        advisor: AdvisorId,
        until: UnixMillis,
    },
    /// Stop ringing this advisor (accepted, declined, missed, or the visitor left).
    StopRinging { advisor: AdvisorId },
    /// Give back the capacity claim the host made for this advisor.
    Release { advisor: AdvisorId },
    /// The session waits in `queue` from `since` (its place) until `until`.
    Enqueue {
        queue: QueueKey,
        since: UnixMillis,
        until: UnixMillis,
    },
    /// The session left `queue` (rung, ended or offered choices); the
    /// others in it move up.
    Dequeue { queue: QueueKey, since: UnixMillis },
    /// The visitor reached this advisor: remember them for the visitor's
    /// next contact (affinity).
    Remember { advisor: AdvisorId },
    /// This advisor is in the conversation from now on (took it, was handed
    /// it, or came in as a guest): a console they open lists it.
    Attend { advisor: AdvisorId },
    /// This advisor is no longer in it (it ended, was handed on, or they
    /// left as a guest).
    Unattend { advisor: AdvisorId },
    /// The session changed: tell its visitor and these advisors (rung or
    /// connected, before or after the change) its new state.
    Announce { advisors: Vec<AdvisorId> },
    /// Record an analytics event about `advisor`, with these props.
    Event {
        name: EventName,
        advisor: Option<AdvisorId>,
        props: Vec<(&'static str, Prop)>,
    },
}

impl Effect {
    /// An event whose advisor [`super::Session::handle`] fills in (the one
    /// rung or connected after the change).
    pub(crate) fn event(name: EventName, props: Vec<(&'static str, Prop)>) -> Effect {
        Effect::Event {
            name,
            advisor: None,
            props,
        }
    }
}

/// An event property: a count or duration, or a label from a fixed set
/// (never free text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prop {
    Num(u64),
    Label(&'static str),
}

impl From<u64> for Prop {
    fn from(value: u64) -> Self {
        Prop::Num(value)
    }
}

impl From<&'static str> for Prop {
    fn from(value: &'static str) -> Self {
        Prop::Label(value)
    }
}

impl From<Prop> for serde_json::Value {
    fn from(value: Prop) -> Self {
        match value {
            Prop::Num(n) => n.into(),
            Prop::Label(s) => s.into(),
        }
    }
}
