//! The contact session: from a visitor's request to the end of the contact.
//!
//! A state machine in the manner of str0m: every input carries `now`, every
//! call returns the [`Effect`]s for the host to carry out (ring an advisor,
//! give a capacity claim back, tell a participant, record an event), and
//! [`Session::next_deadline`] says when the host must call [`Session::tick`]
//! at the latest. The host stores the session (with its deadline, so a
//! scheduled sweep finds it) and needs no process that stays up.
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

use crate::UnixMillis;
use crate::channel::{Channel, ChannelSet};
use crate::event::EventName;
use crate::ids::AdvisorId;
use crate::routing::RouteRequest;
use serde::{Deserialize, Serialize};

/// Where a contact request came from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    Card,
    #[default]
    Portal,
    Widget,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Card => "card",
            Origin::Portal => "portal",
            Origin::Widget => "widget",
        }
    }
}

/// What the visitor asked for, kept with the session so that every
/// re-routing (after a decline, a missed ring, or from the queue) asks the
/// same question.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Wanted {
    pub origin: Origin,
    #[serde(default)]
    pub topic: Option<String>,
    #[serde(default)]
    pub language: Option<String>,
    /// A card's advisor: asked first and only, until the visitor chooses a
    /// colleague.
    #[serde(default)]
    pub advisor: Option<AdvisorId>,
    /// The visitor accepts a colleague of the card's advisor.
    #[serde(default)]
    pub colleague: bool,
    /// The advisor this visitor last spoke with (affinity), tried first.
    #[serde(default)]
    pub preferred: Option<AdvisorId>,
    /// Since when the visitor chose to wait in the queue: their place in it.
    #[serde(default)]
    pub waiting_since: Option<UnixMillis>,
    /// The channels a card link offers: a call on any other is refused,
    /// whoever asks for it. `None`: every channel (portal, widget).
    #[serde(default)]
    pub channels: Option<ChannelSet>,
}

impl Wanted {
    /// Is `channel` offered to this contact? Chat always is (a call ends
    /// back in chat).
    pub fn offers(&self, channel: Channel) -> bool {
        channel == Channel::Chat || self.channels.is_none_or(|set| set.contains(channel))
    }
}

impl Wanted {
    /// The queue this request waits in: the card advisor's own, the
    /// topic's, or the general one.
    pub fn queue_key(&self) -> String {
        match (&self.advisor, &self.topic) {
            (Some(advisor), _) if !self.colleague => format!("advisor:{advisor}"),
            (_, Some(topic)) => format!("topic:{topic}"),
            _ => "any".to_owned(),
        }
    }
}

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

/// What the host must do after a call.
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
    /// Tell the visitor where things stand.
    Visitor(VisitorNotice),
    /// Record an analytics event with these props.
    Event {
        name: EventName,
        props: Vec<(&'static str, Prop)>,
    },
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

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VisitorNotice {
    Ringing {
        advisor: AdvisorId,
    },
    Connected {
        advisor: AdvisorId,
    },
    /// Nobody can take the contact now: wait in the queue, ask for a
    /// colleague, or leave an offline message.
    NobodyFree,
    Queued,
    Ended {
        reason: EndReason,
    },
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
}

/// How a call's media flows, from the selected ICE candidate pair: on a
/// host or server-reflexive path it goes peer to peer, on a relay path
/// through a media node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IcePath {
    Host,
    Srflx,
    Prflx,
    Relay,
}

impl IcePath {
    pub fn as_str(self) -> &'static str {
        match self {
            IcePath::Host => "host",
            IcePath::Srflx => "srflx",
            IcePath::Prflx => "prflx",
            IcePath::Relay => "relay",
        }
    }
}

/// An audio or video call in a connected session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Call {
    /// Audio or video.
    pub channel: Channel,
    pub since: UnixMillis,
    /// The path last reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<IcePath>,
}

fn call_ended(call: &Call, now: UnixMillis) -> Effect {
    Effect::Event {
        name: EventName::CallEnded,
        props: vec![
            ("media", call.channel.as_str().into()),
            ("duration_ms", now.saturating_sub(call.since).into()),
        ],
    }
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
}

fn routed_before_joins_existed() -> bool {
    true
}

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
        }
    }

    /// The visitor's socket joined: from now on the session is routed
    /// (the host routes it when this changed something).
    pub fn visitor_joins(&mut self, now: UnixMillis) -> Result<Vec<Effect>, SessionError> {
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
    fn can_wait(&self) -> bool {
        let request = self.route_request();
        request
            .only
            .as_ref()
            .is_none_or(|only| !request.exclude.contains(only))
    }

    /// The visitor of a card link accepts a colleague of its advisor.
    pub fn choose_colleague(&mut self, now: UnixMillis) -> Result<(), SessionError> {
        if !self.options().contains(&"colleague") {
            return Err(SessionError::NotOffered);
        }
        self.request.colleague = true;
        self.request.waiting_since = None;
        self.last_activity = now;
        Ok(())
    }

    /// The visitor chooses to wait in the queue.
    pub fn choose_wait(&mut self, now: UnixMillis) -> Result<(), SessionError> {
        if !self.options().contains(&"wait") {
            return Err(SessionError::NotOffered);
        }
        self.request.waiting_since.get_or_insert(now);
        self.last_activity = now;
        Ok(())
    }

    /// The host claimed `advisor`: ring them.
    pub fn ring(
        &mut self,
        advisor: AdvisorId,
        policy: &SessionPolicy,
        now: UnixMillis,
    ) -> Result<Vec<Effect>, SessionError> {
        if !matches!(self.phase, Phase::Routing | Phase::Queued { .. }) || !self.visitor_joined {
            return Err(SessionError::NotRoutable);
        }
        let until = now.saturating_add(policy.ring_ms);
        self.phase = Phase::Ringing {
            advisor: advisor.clone(),
            until,
        };
        Ok(vec![
            Effect::Event {
                name: EventName::Routed,
                props: vec![("tried", (self.tried.len() as u64).into())],
            },
            Effect::Ring {
                advisor: advisor.clone(),
                until,
            },
            Effect::Event {
                name: EventName::Ringing,
                props: vec![],
            },
            Effect::Visitor(VisitorNotice::Ringing { advisor }),
        ])
    }

    /// Nobody eligible was free; with `queue` the visitor waits in line.
    pub fn nobody_free(
        &mut self,
        queue: bool,
        policy: &SessionPolicy,
        now: UnixMillis,
    ) -> Result<Vec<Effect>, SessionError> {
        if !matches!(self.phase, Phase::Routing | Phase::Queued { .. }) || !self.visitor_joined {
            return Err(SessionError::NotRoutable);
        }
        if !queue || !self.can_wait() {
            self.request.waiting_since = None;
            self.phase = Phase::Routing;
            self.last_activity = now;
            return Ok(vec![Effect::Visitor(VisitorNotice::NobodyFree)]);
        }
        if let Phase::Queued { .. } = self.phase {
            return Ok(vec![]);
        }
        let since = *self.request.waiting_since.get_or_insert(now);
        self.phase = Phase::Queued {
            since,
            until: since.saturating_add(policy.queue_ms).max(now),
        };
        Ok(vec![
            Effect::Event {
                name: EventName::Queued,
                props: vec![],
            },
            Effect::Visitor(VisitorNotice::Queued),
        ])
    }

    /// `advisor` accepts the contact rung to them.
    pub fn accept(
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
            Effect::Event {
                name: EventName::Accepted,
                props: vec![("wait_ms", wait.into())],
            },
        ]
        .into_iter()
        .chain(call)
        .chain([Effect::Visitor(VisitorNotice::Connected {
            advisor: advisor.clone(),
        })])
        .collect())
    }

    /// `advisor` declines the contact rung to them: the next one is tried.
    pub fn decline(&mut self, advisor: &AdvisorId) -> Result<Vec<Effect>, SessionError> {
        match &self.phase {
            Phase::Ringing { advisor: rung, .. } if rung == advisor => {}
            Phase::Ringing { .. } => return Err(SessionError::NotYours),
            Phase::Ended { .. } => return Err(SessionError::Ended),
            _ => return Err(SessionError::NotRinging),
        }
        Ok(self.unring(advisor.clone(), EventName::Declined))
    }

    fn unring(&mut self, advisor: AdvisorId, name: EventName) -> Vec<Effect> {
        self.tried.push(advisor.clone());
        self.phase = Phase::Routing;
        vec![
            Effect::StopRinging {
                advisor: advisor.clone(),
            },
            Effect::Release { advisor },
            Effect::Event {
                name,
                props: vec![],
            },
        ]
    }

    /// Chat messages are stored apart from the session (one write each, no
    /// session write per message). Before the session is judged idle or
    /// ended, the host reads how many there are and when the last came, and
    /// passes them here: activity moves on, and one `chat_message` event
    /// counts the messages since the last such event (never their text).
    pub fn messages_seen(&mut self, total: u32, last_at: Option<UnixMillis>) -> Vec<Effect> {
        if let Some(at) = last_at {
            self.last_activity = self.last_activity.max(at);
        }
        if total <= self.messages {
            return Vec::new();
        }
        let count = total - self.messages;
        self.messages = total;
        vec![Effect::Event {
            name: EventName::ChatMessage,
            props: vec![
                ("count", u64::from(count).into()),
                ("total", u64::from(total).into()),
            ],
        }]
    }

    /// Can chat messages be sent in this session now?
    pub fn can_chat(&self) -> Result<(), SessionError> {
        match self.phase {
            Phase::Connected { .. } => Ok(()),
            Phase::Ended { .. } => Err(SessionError::Ended),
            _ => Err(SessionError::NotConnected),
        }
    }

    /// Changes the medium of a connected session (chat, audio, video).
    pub fn upgrade(
        &mut self,
        channel: Channel,
        now: UnixMillis,
    ) -> Result<Vec<Effect>, SessionError> {
        match self.phase {
            Phase::Connected { .. } => {}
            Phase::Ended { .. } => return Err(SessionError::Ended),
            _ => return Err(SessionError::NotConnected),
        }
        if !self.request.offers(channel) {
            return Err(SessionError::ChannelNotOffered);
        }
        self.channel = channel;
        self.last_activity = now;
        let effects = match (self.call.take(), channel) {
            (None, Channel::Chat) => Vec::new(),
            (None, media) => self.start_call(media, now),
            (Some(call), Channel::Chat) => vec![call_ended(&call, now)],
            (Some(mut call), media) => {
                let from = call.channel;
                call.channel = media;
                self.call = Some(call);
                if from == media {
                    Vec::new()
                } else {
                    vec![Effect::Event {
                        name: EventName::CallUpgraded,
                        props: vec![
                            ("from", from.as_str().into()),
                            ("to", media.as_str().into()),
                        ],
                    }]
                }
            }
        };
        Ok(effects)
    }

    fn start_call(&mut self, channel: Channel, now: UnixMillis) -> Vec<Effect> {
        if channel == Channel::Chat {
            return Vec::new();
        }
        self.call = Some(Call {
            channel,
            since: now,
            path: None,
        });
        vec![Effect::Event {
            name: EventName::CallStarted,
            props: vec![("media", channel.as_str().into())],
        }]
    }

    /// A side reports its call is up (periodically while it lasts, which
    /// also keeps the session from ending as inactive), with the path its
    /// media takes. A new path is an `ice_path` event.
    pub fn call_report(
        &mut self,
        path: Option<IcePath>,
        now: UnixMillis,
    ) -> Result<Vec<Effect>, SessionError> {
        match self.phase {
            Phase::Connected { .. } => {}
            Phase::Ended { .. } => return Err(SessionError::Ended),
            _ => return Err(SessionError::NotConnected),
        }
        let call = self.call.as_mut().ok_or(SessionError::NoCall)?;
        self.last_activity = now;
        match path {
            Some(path) if call.path != Some(path) => {
                call.path = Some(path);
                Ok(vec![Effect::Event {
                    name: EventName::IcePath,
                    props: vec![("path", path.as_str().into())],
                }])
            }
            _ => Ok(Vec::new()),
        }
    }

    /// One side leaves (or the visitor leaves an offline message instead).
    pub fn end(&mut self, reason: EndReason, now: UnixMillis) -> Result<Vec<Effect>, SessionError> {
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
                if let Some(call) = self.call.take() {
                    effects.push(call_ended(&call, now));
                }
                let talk = now.saturating_sub(since);
                let wait = since.saturating_sub(self.created_at);
                effects.push(Effect::Event {
                    name: EventName::SessionEnded,
                    props: vec![
                        ("wait_ms", wait.into()),
                        ("talk_ms", talk.into()),
                        ("messages", u64::from(self.messages).into()),
                    ],
                });
                effects.push(Effect::Visitor(VisitorNotice::Ended { reason }));
                return Ok(effects);
            }
            Phase::Routing | Phase::Queued { .. } => {}
        }
        if reason == EndReason::OfflineMessage {
            effects.push(Effect::Event {
                name: EventName::OfflineMessage,
                props: vec![],
            });
        }
        let wait = now.saturating_sub(self.created_at);
        effects.push(Effect::Event {
            name: EventName::SessionEnded,
            props: vec![("wait_ms", wait.into()), ("talk_ms", 0u64.into())],
        });
        effects.push(Effect::Visitor(VisitorNotice::Ended { reason }));
        Ok(effects)
    }

    /// Time passed: ring timeouts, queue timeouts and inactivity.
    pub fn tick(&mut self, policy: &SessionPolicy, now: UnixMillis) -> Vec<Effect> {
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

#[cfg(test)]
mod tests {
    use super::*;

    const T0: UnixMillis = 1_795_392_000_000;

    fn id(text: &str) -> AdvisorId {
        AdvisorId::parse(text).expect("valid")
    }

    /// A new session whose visitor has joined (so it can be routed).
    fn joined_session(channel: Channel, now: UnixMillis) -> Session {
        let mut s = Session::new(channel, now);
        s.visitor_joins(now).expect("join");
        s
    }

    fn names(effects: &[Effect]) -> Vec<EventName> {
        effects
            .iter()
            .filter_map(|e| match e {
                Effect::Event { name, .. } => Some(*name),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn nobody_is_rung_before_the_visitor_joins() {
        let policy = SessionPolicy::default();
        let mut s = Session::new(Channel::Chat, T0);
        assert_eq!(
            s.ring(id("anna"), &policy, T0),
            Err(SessionError::NotRoutable),
            "a bare contact request rings nobody"
        );
        assert_eq!(
            s.nobody_free(false, &policy, T0),
            Err(SessionError::NotRoutable)
        );
        assert!(s.options().is_empty(), "and offers nothing yet");
        assert_eq!(s.next_deadline(&policy), Some(T0 + policy.join_ms));
        // Never joined: it ends when the join time is up.
        let mut lost = s.clone();
        assert!(lost.tick(&policy, T0 + policy.join_ms - 1).is_empty());
        lost.tick(&policy, T0 + policy.join_ms);
        assert!(matches!(
            lost.phase,
            Phase::Ended {
                reason: EndReason::Abandoned,
                ..
            }
        ));
        // Joined: routed as before; joining again changes nothing.
        s.visitor_joins(T0 + 1_000).expect("join");
        let joined = s.clone();
        assert!(s.visitor_joins(T0 + 2_000).expect("again").is_empty());
        assert_eq!(s, joined);
        s.ring(id("anna"), &policy, T0 + 1_000).expect("ring");
        // A session stored before joins existed was routed at once.
        let mut old = serde_json::to_value(&joined).expect("json");
        old.as_object_mut()
            .expect("object")
            .remove("visitor_joined");
        let old: Session = serde_json::from_value(old).expect("read");
        assert!(old.visitor_joined);
    }

    #[test]
    fn ring_timeout_moves_on_then_accept_chat_and_end() {
        let policy = SessionPolicy::default();
        let mut s = joined_session(Channel::Chat, T0);
        s.ring(id("anna"), &policy, T0 + 100).expect("ring");
        assert_eq!(s.next_deadline(&policy), Some(T0 + 100 + 30_000));
        assert!(s.tick(&policy, T0 + 30_099).is_empty(), "still ringing");
        let missed = s.tick(&policy, T0 + 30_100);
        assert!(missed.contains(&Effect::Release {
            advisor: id("anna")
        }));
        assert_eq!(names(&missed), vec![EventName::Missed]);
        assert_eq!(s.phase, Phase::Routing);
        assert_eq!(s.tried, vec![id("anna")]);
        assert_eq!(
            s.accept(&id("anna"), T0 + 30_200),
            Err(SessionError::NotRinging),
            "too late"
        );

        s.ring(id("ben"), &policy, T0 + 31_000).expect("ring");
        assert_eq!(
            s.accept(&id("anna"), T0 + 31_500),
            Err(SessionError::NotYours)
        );
        let accepted = s.accept(&id("ben"), T0 + 32_000).expect("accept");
        assert_eq!(names(&accepted), vec![EventName::Accepted]);
        assert!(
            matches!(accepted.iter().find(|e| matches!(e, Effect::Event { .. })), Some(Effect::Event { props, .. }) if props == &vec![("wait_ms", Prop::Num(32_000))])
        );
        assert_eq!(s.can_chat(), Ok(()));
        let counted = s.messages_seen(2, Some(T0 + 50_000));
        assert_eq!(names(&counted), vec![EventName::ChatMessage]);
        assert!(
            s.messages_seen(2, Some(T0 + 50_000)).is_empty(),
            "counted once"
        );
        s.upgrade(Channel::Video, T0 + 60_000).expect("upgrade");
        assert_eq!(s.channel, Channel::Video);
        let ended = s.end(EndReason::VisitorLeft, T0 + 92_000).expect("end");
        assert!(ended.contains(&Effect::Release { advisor: id("ben") }));
        assert!(ended.contains(&Effect::Event {
            name: EventName::SessionEnded,
            props: vec![
                ("wait_ms", Prop::Num(32_000)),
                ("talk_ms", Prop::Num(60_000)),
                ("messages", Prop::Num(2))
            ]
        }));
        assert_eq!(
            s.end(EndReason::AdvisorLeft, T0 + 93_000),
            Err(SessionError::Ended)
        );
        assert_eq!(s.can_chat(), Err(SessionError::Ended));
    }

    #[test]
    fn decline_queue_timeout_and_inactivity() {
        let policy = SessionPolicy::default();
        let mut s = joined_session(Channel::Chat, T0);
        s.ring(id("anna"), &policy, T0).expect("ring");
        assert_eq!(s.decline(&id("ben")), Err(SessionError::NotYours));
        let declined = s.decline(&id("anna")).expect("decline");
        assert_eq!(names(&declined), vec![EventName::Declined]);
        assert!(declined.contains(&Effect::Release {
            advisor: id("anna")
        }));
        assert_eq!(
            s.nobody_free(false, &policy, T0 + 1000).expect("nobody"),
            vec![Effect::Visitor(VisitorNotice::NobodyFree)]
        );
        let queued = s.nobody_free(true, &policy, T0 + 2000).expect("queue");
        assert_eq!(names(&queued), vec![EventName::Queued]);
        assert_eq!(s.next_deadline(&policy), Some(T0 + 2000 + policy.queue_ms));
        let timeout = s.tick(&policy, T0 + 2000 + policy.queue_ms);
        assert!(matches!(
            s.phase,
            Phase::Ended {
                reason: EndReason::QueueTimeout,
                ..
            }
        ));
        assert_eq!(names(&timeout), vec![EventName::SessionEnded]);

        let mut s = joined_session(Channel::Chat, T0);
        s.ring(id("anna"), &policy, T0).expect("ring");
        s.accept(&id("anna"), T0 + 1).expect("accept");
        s.messages_seen(1, Some(T0 + 10_000));
        assert!(
            s.tick(&policy, T0 + 10_000 + policy.inactivity_ms - 1)
                .is_empty()
        );
        let idle = s.tick(&policy, T0 + 10_000 + policy.inactivity_ms);
        assert!(idle.contains(&Effect::Release {
            advisor: id("anna")
        }));
        assert!(matches!(
            s.phase,
            Phase::Ended {
                reason: EndReason::Inactivity,
                ..
            }
        ));
    }

    #[test]
    fn visitor_leaving_while_ringing_releases_and_offline_message_is_recorded() {
        let policy = SessionPolicy::default();
        let mut s = joined_session(Channel::Audio, T0);
        s.ring(id("anna"), &policy, T0).expect("ring");
        let left = s.end(EndReason::VisitorLeft, T0 + 5000).expect("end");
        assert!(left.contains(&Effect::StopRinging {
            advisor: id("anna")
        }));
        assert!(left.contains(&Effect::Release {
            advisor: id("anna")
        }));
        let mut s = joined_session(Channel::Chat, T0);
        let offline = s
            .end(EndReason::OfflineMessage, T0 + 9000)
            .expect("offline");
        assert_eq!(
            names(&offline),
            vec![EventName::OfflineMessage, EventName::SessionEnded]
        );
        assert_eq!(
            s.ring(id("anna"), &policy, T0 + 9001),
            Err(SessionError::NotRoutable)
        );
    }

    #[test]
    fn card_request_asks_its_advisor_then_offers_a_colleague_or_the_queue() {
        let policy = SessionPolicy::default();
        let mut s = joined_session(Channel::Chat, T0);
        s.request = Wanted {
            origin: Origin::Card,
            topic: Some("sales".into()),
            advisor: Some(id("anna")),
            ..Wanted::default()
        };
        let request = s.route_request();
        assert_eq!(request.only, Some(id("anna")));
        assert_eq!(s.request.queue_key(), "advisor:anna");
        s.ring(id("anna"), &policy, T0).expect("ring");
        s.decline(&id("anna")).expect("decline");
        // Anna said no: waiting for her makes no sense; a colleague does.
        assert_eq!(
            s.nobody_free(true, &policy, T0 + 10).expect("offer"),
            vec![Effect::Visitor(VisitorNotice::NobodyFree)]
        );
        assert_eq!(s.options(), vec!["colleague", "offline"]);
        assert_eq!(s.choose_wait(T0 + 20), Err(SessionError::NotOffered));
        s.choose_colleague(T0 + 20).expect("colleague");
        let request = s.route_request();
        assert_eq!(request.only, None);
        assert!(request.exclude.contains(&id("anna")));
        assert_eq!(request.topic.as_deref(), Some("sales"));
        assert_eq!(s.request.queue_key(), "topic:sales");
        assert_eq!(s.choose_colleague(T0 + 30), Err(SessionError::NotOffered));
        // Nobody else is free either: the visitor waits, keeping their place
        // when a ring from the queue is missed.
        s.choose_wait(T0 + 1_000).expect("wait");
        s.nobody_free(true, &policy, T0 + 1_000).expect("queue");
        s.ring(id("ben"), &policy, T0 + 5_000)
            .expect("ring from queue");
        s.tick(&policy, T0 + 35_000);
        s.nobody_free(true, &policy, T0 + 35_001)
            .expect("back in line");
        assert_eq!(
            s.phase,
            Phase::Queued {
                since: T0 + 1_000,
                until: T0 + 1_000 + policy.queue_ms
            }
        );
        // An unanswered offer ends the session after the queue time.
        let mut s = joined_session(Channel::Chat, T0);
        s.nobody_free(false, &policy, T0).expect("offer");
        assert_eq!(s.next_deadline(&policy), Some(T0 + policy.queue_ms));
        s.tick(&policy, T0 + policy.queue_ms);
        assert!(matches!(
            s.phase,
            Phase::Ended {
                reason: EndReason::Abandoned,
                ..
            }
        ));
    }

    #[test]
    fn serializes_for_the_store() {
        let policy = SessionPolicy::default();
        let mut s = joined_session(Channel::Chat, T0);
        s.ring(id("anna"), &policy, T0).expect("ring");
        let json = serde_json::to_value(&s).expect("json");
        assert_eq!(json["phase"]["phase"], "ringing");
        let back: Session = serde_json::from_value(json).expect("round trip");
        assert_eq!(back, s);
    }

    fn props_of(effects: &[Effect], wanted: EventName) -> Vec<(&'static str, Prop)> {
        effects
            .iter()
            .find_map(|e| match e {
                Effect::Event { name, props } if *name == wanted => Some(props.clone()),
                _ => None,
            })
            .unwrap_or_default()
    }

    #[test]
    fn calls_start_change_medium_report_their_path_and_end() {
        let policy = SessionPolicy::default();
        let mut s = joined_session(Channel::Chat, T0);
        s.ring(id("anna"), &policy, T0).expect("ring");
        assert!(
            names(&s.accept(&id("anna"), T0 + 1_000).expect("accept"))
                .iter()
                .all(|n| *n != EventName::CallStarted)
        );
        assert_eq!(
            s.call_report(Some(IcePath::Relay), T0 + 2_000),
            Err(SessionError::NoCall)
        );
        // chat -> audio: the call starts.
        let up = s.upgrade(Channel::Audio, T0 + 10_000).expect("audio");
        assert_eq!(
            props_of(&up, EventName::CallStarted),
            vec![("media", Prop::Label("audio"))]
        );
        // audio -> video -> audio: upgraded each way; the same medium is no event.
        let up = s.upgrade(Channel::Video, T0 + 20_000).expect("video");
        assert_eq!(
            props_of(&up, EventName::CallUpgraded),
            vec![("from", Prop::Label("audio")), ("to", Prop::Label("video"))]
        );
        assert!(
            s.upgrade(Channel::Video, T0 + 21_000)
                .expect("same")
                .is_empty()
        );
        assert_eq!(
            names(&s.upgrade(Channel::Audio, T0 + 25_000).expect("down")),
            vec![EventName::CallUpgraded]
        );
        // Reports keep the session alive and name each new path once.
        let report = s
            .call_report(Some(IcePath::Relay), T0 + 30_000)
            .expect("report");
        assert_eq!(
            props_of(&report, EventName::IcePath),
            vec![("path", Prop::Label("relay"))]
        );
        assert!(
            s.call_report(Some(IcePath::Relay), T0 + 14 * 60_000)
                .expect("again")
                .is_empty()
        );
        assert!(
            s.tick(&policy, T0 + 16 * 60_000).is_empty(),
            "a reported call is activity"
        );
        // audio -> chat: the call ends with its duration; the session goes on.
        let down = s.upgrade(Channel::Chat, T0 + 16 * 60_000).expect("chat");
        assert_eq!(
            props_of(&down, EventName::CallEnded),
            vec![
                ("media", Prop::Label("audio")),
                ("duration_ms", Prop::Num(16 * 60_000 - 10_000))
            ]
        );
        assert_eq!(s.call, None);
        assert!(!s.is_ended());

        // A card that offers chat and audio only: no side can start video.
        let mut s = joined_session(Channel::Chat, T0);
        s.request.channels = Some(ChannelSet::NONE.with(Channel::Chat).with(Channel::Audio));
        s.ring(id("anna"), &policy, T0).expect("ring");
        s.accept(&id("anna"), T0 + 1_000).expect("accept");
        assert_eq!(
            s.upgrade(Channel::Video, T0 + 2_000),
            Err(SessionError::ChannelNotOffered)
        );
        assert_eq!(
            (s.channel, s.call.is_none()),
            (Channel::Chat, true),
            "nothing changed"
        );
        s.upgrade(Channel::Audio, T0 + 3_000)
            .expect("audio is offered");
        s.upgrade(Channel::Chat, T0 + 4_000)
            .expect("back to chat, always");

        // A contact asked for as video starts as a call, and hanging up ends both.
        let mut s = joined_session(Channel::Video, T0);
        s.ring(id("ben"), &policy, T0).expect("ring");
        let accepted = s.accept(&id("ben"), T0 + 5_000).expect("accept");
        assert_eq!(
            props_of(&accepted, EventName::CallStarted),
            vec![("media", Prop::Label("video"))]
        );
        let ended = s.end(EndReason::VisitorLeft, T0 + 65_000).expect("end");
        assert_eq!(
            props_of(&ended, EventName::CallEnded),
            vec![
                ("media", Prop::Label("video")),
                ("duration_ms", Prop::Num(60_000))
            ]
        );
        assert!(names(&ended).contains(&EventName::SessionEnded));
        assert_eq!(s.call_report(None, T0 + 70_000), Err(SessionError::Ended));
    }
}
