//! The phases of a contact: routing, ringing, queued, connected, ended, and
//! the transitions between them.

use super::calls::call_over;
use super::{Effect, EndReason, Phase, Session, SessionError, SessionPolicy, Wanted};
use crate::UnixMillis;
use crate::channel::Channel;
use crate::event::EventName;
use crate::ids::AdvisorId;
use crate::routing::RouteRequest;

impl Session {
    pub fn new(channel: Channel, now: UnixMillis) -> Self {
        Self {
            channel,
            request: Wanted::default(),
            advisor: None,
            phase: Phase::Routing,
            tried: Vec::new(),
            created_at: now,
            last_activity: now,
            messages: 0,
            call: None,
            visitor_joined: false,
            share_asked: false,
            identity: None,
            identity_history: Vec::new(),
            handover: None,
            guests: Vec::new(),
        }
    }

    /// The visitor's socket joined: from now on the session is routed
    /// (the host routes it when this changed something).
    pub(super) fn visitor_joins(&mut self, now: UnixMillis) -> Result<Vec<Effect>, SessionError> {
        if self.visitor_joined || self.is_ended() {
            return Ok(Vec::new());
        }
        self.visitor_joined = true;
        self.last_activity = now;
        Ok(Vec::new())
    }

    pub fn is_ended(&self) -> bool {
        matches!(self.phase, Phase::Ended { .. })
    }

    /// The advisor rung now, if any.
    pub fn ringing_advisor(&self) -> Option<&AdvisorId> {
        match &self.phase {
            Phase::Ringing { advisor, .. } => Some(advisor),
            _ => None,
        }
    }

    /// The advisor talking with the visitor now, if any.
    pub fn connected_advisor(&self) -> Option<&AdvisorId> {
        match &self.phase {
            Phase::Connected { advisor, .. } => Some(advisor),
            _ => None,
        }
    }

    /// The advisor rung or connected now, if any.
    pub fn current_advisor(&self) -> Option<&AdvisorId> {
        match &self.phase {
            Phase::Ringing { advisor, .. } | Phase::Connected { advisor, .. } => Some(advisor),
            _ => None,
        }
    }

    /// The routing question for the next attempt.
    pub fn route_request(&self) -> RouteRequest {
        let wanted = &self.request;
        let mut request = RouteRequest::new(self.channel);
        request.topic = wanted.topic.clone();
        request.language = wanted.language.clone();
        request.exclude = self.tried.clone();
        if wanted.colleague {
            request.preferred = wanted.preferred.clone();
            if let Some(advisor) = &wanted.advisor {
                request.exclude.push(advisor.clone());
            }
        } else if let Some(advisor) = &wanted.advisor {
            request.only = Some(advisor.clone());
            request.preferred = Some(advisor.clone());
        } else {
            request.preferred = wanted.preferred.clone();
        }
        request
    }

    /// What a visitor who is not being served may choose now.
    pub fn options(&self) -> Vec<&'static str> {
        if !matches!(self.phase, Phase::Routing) || !self.visitor_joined {
            return Vec::new();
        }
        let mut options = Vec::new();
        if self.can_wait() {
            options.push("wait");
        }
        if self.request.advisor.is_some() && !self.request.colleague {
            options.push("colleague");
        }
        options.push("offline");
        options
    }

    /// Waiting makes sense unless the only advisor asked for already said no.
    pub(super) fn can_wait(&self) -> bool {
        let request = self.route_request();
        request
            .only
            .as_ref()
            .is_none_or(|only| !request.exclude.contains(only))
    }

    /// The visitor of a card link accepts a colleague of its advisor.
    pub(super) fn choose_colleague(&mut self, now: UnixMillis) -> Result<(), SessionError> {
        if !self.options().contains(&"colleague") {
            return Err(SessionError::NotOffered);
        }
        self.request.colleague = true;
        self.request.waiting_since = None;
        self.last_activity = now;
        Ok(())
    }

    /// The visitor chooses to wait in the queue.
    pub(super) fn choose_wait(&mut self, now: UnixMillis) -> Result<(), SessionError> {
        if !self.options().contains(&"wait") {
            return Err(SessionError::NotOffered);
        }
        self.request.waiting_since.get_or_insert(now);
        self.last_activity = now;
        Ok(())
    }

    /// The host claimed `advisor`: ring them.
    pub(super) fn ring(
        &mut self,
        advisor: AdvisorId,
        policy: &SessionPolicy,
        now: UnixMillis,
    ) -> Result<Vec<Effect>, SessionError> {
        self.require_routable()?;
        let until = now.saturating_add(policy.ring_ms);
        self.phase = Phase::Ringing {
            advisor: advisor.clone(),
            until,
        };
        Ok(vec![
            Effect::event(
                EventName::Routed,
                vec![("tried", (self.tried.len() as u64).into())],
            ),
            Effect::Ring {
                advisor: advisor.clone(),
                until,
            },
            Effect::event(EventName::Ringing, vec![]),
        ])
    }

    /// Nobody eligible was free; with `queue` the visitor waits in line.
    pub(super) fn nobody_free(
        &mut self,
        queue: bool,
        policy: &SessionPolicy,
        now: UnixMillis,
    ) -> Result<Vec<Effect>, SessionError> {
        self.require_routable()?;
        if !queue || !self.can_wait() {
            self.request.waiting_since = None;
            self.phase = Phase::Routing;
            self.last_activity = now;
            return Ok(Vec::new());
        }
        if let Phase::Queued { .. } = self.phase {
            return Ok(vec![]);
        }
        let since = *self.request.waiting_since.get_or_insert(now);
        self.phase = Phase::Queued {
            since,
            until: since.saturating_add(policy.queue_ms).max(now),
        };
        Ok(vec![Effect::event(EventName::Queued, vec![])])
    }

    /// `advisor` accepts the contact rung to them.
    pub(super) fn accept(
        &mut self,
        advisor: &AdvisorId,
        now: UnixMillis,
    ) -> Result<Vec<Effect>, SessionError> {
        match &self.phase {
            Phase::Ringing {
                advisor: rung,
                until,
            } if rung == advisor && now < *until => {}
            Phase::Ringing { advisor: rung, .. } if rung != advisor => {
                return Err(SessionError::NotYours);
            }
            Phase::Ended { .. } => return Err(SessionError::Ended),
            _ => return Err(SessionError::NotRinging),
        }
        let wait = now.saturating_sub(self.created_at);
        self.advisor = Some(advisor.clone());
        self.phase = Phase::Connected {
            advisor: advisor.clone(),
            since: now,
        };
        self.last_activity = now;
        // A contact asked for as a call starts as one.
        let call = self.start_call(self.channel, now);
        Ok(vec![
            Effect::StopRinging {
                advisor: advisor.clone(),
            },
            Effect::event(EventName::Accepted, vec![("wait_ms", wait.into())]),
        ]
        .into_iter()
        .chain(call)
        .collect())
    }

    /// `advisor` declines the contact rung to them: the next one is tried.
    pub(super) fn decline(&mut self, advisor: &AdvisorId) -> Result<Vec<Effect>, SessionError> {
        match &self.phase {
            Phase::Ringing { advisor: rung, .. } if rung == advisor => {}
            Phase::Ringing { .. } => return Err(SessionError::NotYours),
            Phase::Ended { .. } => return Err(SessionError::Ended),
            _ => return Err(SessionError::NotRinging),
        }
        Ok(self.unring(advisor.clone(), EventName::Declined))
    }

    pub(super) fn unring(&mut self, advisor: AdvisorId, name: EventName) -> Vec<Effect> {
        self.tried.push(advisor.clone());
        self.phase = Phase::Routing;
        vec![
            Effect::StopRinging {
                advisor: advisor.clone(),
            },
            Effect::Release {
                advisor: advisor.clone(),
            },
            // About the advisor who did not answer, not whoever is next.
            Effect::Event {
                name,
                advisor: Some(advisor),
                props: vec![],
            },
        ]
    }

    /// Chat messages are stored apart from the session (one write each, no
    /// session write per message). Before the session is judged idle or
    /// ended, the host reads how many there are and when the last came, and
    /// passes them here: activity moves on, and one `chat_message` event
    /// counts the messages since the last such event (never their text).
    pub(super) fn messages_seen(&mut self, total: u32, last_at: Option<UnixMillis>) -> Vec<Effect> {
        if let Some(at) = last_at {
            self.last_activity = self.last_activity.max(at);
        }
        if total <= self.messages {
            return Vec::new();
        }
        let count = total - self.messages;
        self.messages = total;
        vec![Effect::event(
            EventName::ChatMessage,
            vec![
                ("count", u64::from(count).into()),
                ("total", u64::from(total).into()),
            ],
        )]
    }

    /// Can chat messages be sent in this session now? (While connected.)
    pub fn can_chat(&self) -> Result<(), SessionError> {
        self.require_connected()
    }

    /// Connected now, or why not.
    pub(super) fn require_connected(&self) -> Result<(), SessionError> {
        match self.phase {
            Phase::Connected { .. } => Ok(()),
            Phase::Ended { .. } => Err(SessionError::Ended),
            _ => Err(SessionError::NotConnected),
        }
    }

    /// Waiting for routing (or in the queue) with the visitor joined, or
    /// not routable.
    fn require_routable(&self) -> Result<(), SessionError> {
        if matches!(self.phase, Phase::Routing | Phase::Queued { .. }) && self.visitor_joined {
            Ok(())
        } else {
            Err(SessionError::NotRoutable)
        }
    }

    /// One side leaves (or the visitor leaves an offline message instead).
    pub(super) fn end(
        &mut self,
        reason: EndReason,
        now: UnixMillis,
    ) -> Result<Vec<Effect>, SessionError> {
        let mut effects = Vec::new();
        match std::mem::replace(&mut self.phase, Phase::Ended { reason, at: now }) {
            Phase::Ended { reason, at } => {
                self.phase = Phase::Ended { reason, at };
                return Err(SessionError::Ended);
            }
            Phase::Ringing { advisor, .. } => {
                effects.push(Effect::StopRinging {
                    advisor: advisor.clone(),
                });
                effects.push(Effect::Release { advisor });
            }
            Phase::Connected { advisor, since } => {
                effects.push(Effect::Release { advisor });
                effects.extend(self.guests_leave(now));
                if let Some(call) = self.call.take() {
                    effects.extend(call_over(&call, now));
                }
                self.share_asked = false;
                effects.extend(self.abort_identity(now));
                let talk = now.saturating_sub(since);
                let wait = since.saturating_sub(self.created_at);
                effects.push(Effect::event(
                    EventName::SessionEnded,
                    vec![
                        ("wait_ms", wait.into()),
                        ("talk_ms", talk.into()),
                        ("messages", u64::from(self.messages).into()),
                        ("reason", reason.as_str().into()),
                    ],
                ));
                return Ok(effects);
            }
            Phase::Routing | Phase::Queued { .. } => {}
        }
        if reason == EndReason::OfflineMessage {
            effects.push(Effect::event(EventName::OfflineMessage, vec![]));
        }
        let wait = now.saturating_sub(self.created_at);
        effects.push(Effect::event(
            EventName::SessionEnded,
            vec![
                ("wait_ms", wait.into()),
                ("talk_ms", 0u64.into()),
                ("reason", reason.as_str().into()),
            ],
        ));
        Ok(effects)
    }
}
