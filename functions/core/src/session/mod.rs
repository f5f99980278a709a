//! The contact session: from a visitor's request to the end of the contact.
//!
//! A state machine in the manner of str0m: the host feeds it one [`Input`]
//! at a time with [`Session::handle`], always with `now`; every call returns
//! the [`Effect`]s for the host to carry out (ring an advisor, give a
//! capacity claim back, enter or leave a queue, remember the advisor for the
//! visitor, tell both sides, record an event), and
//! [`Session::next_deadline`] says when the host must feed it
//! [`Input::Tick`] at the latest. The host stores the session (with its
//! deadline, so a scheduled sweep finds it) and needs no process that stays
//! up.
//!
//! ```text
//! Routing --ring--> Ringing --accept--> Connected --hangup/inactivity--> Ended
//!    ^  \             | decline / ring timeout (advisor tried, claim released)
//!    |   \------------+--> Routing (next candidate)
//!    |    --queue--> Queued --ring--> Ringing     Queued --timeout--> Ended
//!    +--- nobody free: the visitor chooses to queue, a colleague, or an offline message
//! ```
//!
//! The medium can change while connected (chat, then audio, then video and
//! back), so calls slot into the same session.
//!
//! Where a rule lives:
//! - [`request`]: what the visitor asked for, its queue and its inbox;
//! - [`phases`]: routing, ringing, queueing, accepting, declining, ending;
//! - [`calls`]: audio and video inside a connected session;
//! - [`guests`]: colleagues invited into the chat, and leaving it;
//! - [`deadlines`]: the policy's times, the next deadline and the tick;
//! - [`effects`]: what a host carries out;
//! - this module: the session itself and [`Session::handle`], which adds the
//!   effects every transition implies (queue, affinity, telling both sides).

pub mod calls;
pub mod deadlines;
pub mod effects;
pub mod guests;
pub mod handover;
pub mod identity;
pub mod phases;
pub mod request;
pub mod share;
#[cfg(test)]
mod tests;
pub mod token;

pub use calls::{Call, IcePath, MAX_RESTART_EVENTS, RestartReason};
pub use deadlines::SessionPolicy;
pub use effects::{Effect, Prop};
pub use guests::{Guest, MAX_GUESTS};
pub use handover::Handover;
pub use identity::{IdentityAction, IdentityCheck, IdentityOutcome, IdentityState};
pub use request::{GENERAL_TOPIC, MAX_PAGE_URL, Origin, QueueKey, Wanted, page_url};
pub use share::{Share, ShareAction, valid_stream_id};
pub use token::{session_token, verify_session_token};

use crate::UnixMillis;
use crate::channel::Channel;
use crate::ids::AdvisorId;
use serde::{Deserialize, Serialize};

/// What happens to a session: the one way a host changes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// The visitor's socket joined (routing starts with the first join).
    VisitorJoins,
    /// The visitor chooses to wait in the queue (nobody was free).
    ChooseWait,
    /// The visitor of a card link accepts a colleague of its advisor.
    ChooseColleague,
    /// The host claimed capacity of `advisor`: ring them.
    Ring(AdvisorId),
    /// Nobody eligible had room; with `queue` the visitor waits in line.
    NobodyFree {
        queue: bool,
    },
    Accept(AdvisorId),
    Decline(AdvisorId),
    /// The chat store holds `total` messages, the last at `last_at`.
    MessagesSeen {
        total: u32,
        last_at: Option<UnixMillis>,
    },
    /// A connected session changes medium.
    Upgrade(Channel),
    /// A side reports its call is up, with the path its media takes.
    CallReport(Option<IcePath>),
    /// A side restarted ICE on the live call.
    IceRestart(RestartReason),
    /// A side's screen-sharing action (`stream`: its screen's stream id,
    /// for `Start`).
    Share {
        side: Side,
        action: ShareAction,
        stream: Option<String>,
    },
    /// The connected advisor `from` gives the session to `to` (the host
    /// claimed `to`'s capacity); `by_topic`: routing chose `to`.
    Transfer {
        from: AdvisorId,
        to: AdvisorId,
        by_topic: bool,
        note: Option<String>,
    },
    /// The connected advisor `by` invites `guest` into the chat (the host
    /// claimed `guest`'s capacity).
    Invite {
        by: AdvisorId,
        guest: AdvisorId,
    },
    /// A guest leaves the conversation.
    Leave(AdvisorId),
    /// A side's identity-check action.
    Identity {
        side: Side,
        action: IdentityAction,
        face: bool,
        outcome: Option<IdentityOutcome>,
        note: Option<String>,
    },
    /// One side leaves (or the visitor leaves an offline message).
    End(EndReason),
    /// Time passed (the host calls this at [`Session::next_deadline`]).
    Tick,
}

impl Session {
    /// Applies one input at `now` and returns everything the host must do:
    /// the transition's own effects, then those every change implies
    /// (leaving or entering a queue, remembering the advisor a visitor
    /// reached, telling both sides the new state). A refused input changes
    /// nothing.
    pub fn handle(
        &mut self,
        input: Input,
        policy: &SessionPolicy,
        now: UnixMillis,
    ) -> Result<Vec<Effect>, SessionError> {
        let before = self.clone();
        let effects = match input {
            Input::VisitorJoins => self.visitor_joins(now),
            Input::ChooseWait => self
                .choose_wait(now)
                .and_then(|()| self.nobody_free(true, policy, now)),
            Input::ChooseColleague => self.choose_colleague(now).map(|()| Vec::new()),
            Input::Ring(advisor) => self.ring(advisor, policy, now),
            Input::NobodyFree { queue } => self.nobody_free(queue, policy, now),
            Input::Accept(advisor) => self.accept(&advisor, now),
            Input::Decline(advisor) => self.decline(&advisor),
            Input::MessagesSeen { total, last_at } => Ok(self.messages_seen(total, last_at)),
            Input::Upgrade(channel) => self.upgrade(channel, now),
            Input::CallReport(path) => self.call_report(path, now),
            Input::IceRestart(reason) => self.ice_restart(reason, now),
            Input::Share {
                side,
                action,
                stream,
            } => self.share(side, action, stream, now),
            Input::Transfer {
                from,
                to,
                by_topic,
                note,
            } => self.transfer(&from, &to, by_topic, note, now),
            Input::Invite { by, guest } => self.invite(&by, &guest, now),
            Input::Leave(guest) => self.leave(&guest, now),
            Input::Identity {
                side,
                action,
                face,
                outcome,
                note,
            } => self.identity(side, action, face, outcome, note, now),
            Input::End(reason) => self.end(reason, now),
            Input::Tick => Ok(self.tick(policy, now)),
        };
        match effects {
            Ok(effects) => Ok(self.implied(&before, effects)),
            Err(err) => {
                *self = before;
                Err(err)
            }
        }
    }

    /// Applies several inputs as one change (all or none): the effects of
    /// each, with the sides told once, at the end.
    pub fn handle_all(
        &mut self,
        inputs: impl IntoIterator<Item = Input>,
        policy: &SessionPolicy,
        now: UnixMillis,
    ) -> Result<Vec<Effect>, SessionError> {
        let before = self.clone();
        let mut effects = Vec::new();
        let mut told: Option<Vec<AdvisorId>> = None;
        for input in inputs {
            let step = match self.handle(input, policy, now) {
                Ok(step) => step,
                Err(err) => {
                    *self = before;
                    return Err(err);
                }
            };
            for effect in step {
                match effect {
                    Effect::Announce { advisors } => {
                        let all = told.get_or_insert_with(Vec::new);
                        for advisor in advisors {
                            if !all.contains(&advisor) {
                                all.push(advisor);
                            }
                        }
                    }
                    other => effects.push(other),
                }
            }
        }
        if let Some(advisors) = told {
            effects.push(Effect::Announce { advisors });
        }
        Ok(effects)
    }

    /// The effects a change implies, around the transition's own.
    fn implied(&self, before: &Session, own: Vec<Effect>) -> Vec<Effect> {
        if *self == *before {
            return own;
        }
        let mut effects = Vec::with_capacity(own.len() + 3);
        match (&before.phase, &self.phase) {
            (Phase::Queued { since, .. }, after) if !matches!(after, Phase::Queued { .. }) => {
                effects.push(Effect::Dequeue {
                    queue: before.request.queue_key(),
                    since: *since,
                });
            }
            (before_phase, Phase::Queued { since, until })
                if !matches!(before_phase, Phase::Queued { .. }) =>
            {
                effects.push(Effect::Enqueue {
                    queue: self.request.queue_key(),
                    since: *since,
                    until: *until,
                });
            }
            _ => {}
        }
        let current = self.current_advisor();
        effects.extend(own.into_iter().map(|effect| match effect {
            // An event is about the advisor rung or connected after the
            // change, unless the transition named one (declined, missed).
            Effect::Event {
                name,
                advisor: None,
                props,
            } => Effect::Event {
                name,
                advisor: current.cloned(),
                props,
            },
            other => other,
        }));
        // Who is in the conversation (the advisor who has it, the guests):
        // each one who came or went.
        let (now_in, was_in) = (self.attendees(), before.attendees());
        effects.extend(
            was_in
                .iter()
                .filter(|a| !now_in.contains(a))
                .map(|&a| Effect::Unattend { advisor: a.clone() }),
        );
        effects.extend(
            now_in
                .iter()
                .filter(|a| !was_in.contains(a))
                .map(|&a| Effect::Attend { advisor: a.clone() }),
        );
        if let Phase::Connected { advisor, .. } = &self.phase
            && !matches!(before.phase, Phase::Connected { .. })
        {
            effects.push(Effect::Remember {
                advisor: advisor.clone(),
            });
        }
        // Everyone in the conversation before or after the change is told:
        // a guest who left learns it too.
        let mut advisors: Vec<AdvisorId> = Vec::new();
        for advisor in [self.current_advisor(), before.current_advisor()]
            .into_iter()
            .flatten()
            .chain(self.guests.iter().map(|g| &g.advisor))
            .chain(before.guests.iter().map(|g| &g.advisor))
        {
            if !advisors.contains(advisor) {
                advisors.push(advisor.clone());
            }
        }
        effects.push(Effect::Announce { advisors });
        effects
    }
}

impl Session {
    /// The advisors in the conversation now: the one connected and the
    /// guests (nobody before it is taken or after it ended).
    pub fn attendees(&self) -> Vec<&AdvisorId> {
        match &self.phase {
            Phase::Connected { advisor, .. } => std::iter::once(advisor)
                .chain(self.guests.iter().map(|g| &g.advisor))
                .collect(),
            _ => Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    VisitorLeft,
    AdvisorLeft,
    Inactivity,
    QueueTimeout,
    OfflineMessage,
    /// Nobody was free and the visitor chose nothing in time.
    Abandoned,
}

impl EndReason {
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::VisitorLeft => "visitor_left",
            EndReason::AdvisorLeft => "advisor_left",
            EndReason::Inactivity => "inactivity",
            EndReason::QueueTimeout => "queue_timeout",
            EndReason::OfflineMessage => "offline_message",
            EndReason::Abandoned => "abandoned",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum Phase {
    /// Waiting for the host to rank candidates and claim one.
    Routing,
    Ringing {
        advisor: AdvisorId,
        until: UnixMillis,
    },
    Queued {
        since: UnixMillis,
        until: UnixMillis,
    },
    Connected {
        advisor: AdvisorId,
        since: UnixMillis,
    },
    Ended {
        reason: EndReason,
        at: UnixMillis,
    },
}

/// Which side of the contact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Visitor,
    Advisor,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Visitor => "visitor",
            Side::Advisor => "advisor",
        }
    }

    pub fn parse(text: &str) -> Option<Side> {
        match text {
            "visitor" => Some(Side::Visitor),
            "advisor" => Some(Side::Advisor),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    #[error("the session is not ringing")]
    NotRinging,
    #[error("this session is ringing for another advisor")]
    NotYours,
    #[error("the session is not connected")]
    NotConnected,
    #[error("the session has ended")]
    Ended,
    #[error("the session cannot be routed now")]
    NotRoutable,
    #[error("this choice is not offered now")]
    NotOffered,
    #[error("there is no call in this session")]
    NoCall,
    #[error("this contact does not offer that channel")]
    ChannelNotOffered,
    #[error("this side may not do that")]
    NotAllowed,
}

/// One contact session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub channel: Channel,
    #[serde(default)]
    pub request: Wanted,
    /// The advisor who took the contact (kept after it ended).
    #[serde(default)]
    pub advisor: Option<AdvisorId>,
    pub phase: Phase,
    /// Advisors rung and not connected (declined or missed), in order.
    pub tried: Vec<AdvisorId>,
    pub created_at: UnixMillis,
    pub last_activity: UnixMillis,
    pub messages: u32,
    /// The call going on, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call: Option<Call>,
    /// The visitor's socket has joined. Until then nobody is rung and no
    /// choice is offered: a bare contact request holds no advisor's slot.
    /// (Sessions stored before this existed were routed at once.)
    #[serde(default = "routed_before_joins_existed")]
    pub visitor_joined: bool,
    /// The advisor asked the visitor to share their screen, and the visitor
    /// has not answered.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub share_asked: bool,
    /// The last identity check of this session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<IdentityCheck>,
    /// The checks decided before it, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub identity_history: Vec<IdentityCheck>,
    /// The last hand-over to the advisor now connected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handover: Option<Handover>,
    /// Colleagues in the chat as guests (at most [`MAX_GUESTS`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub guests: Vec<Guest>,
}

fn routed_before_joins_existed() -> bool {
    true
}
