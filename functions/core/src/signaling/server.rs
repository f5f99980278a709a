//! What the server sends: every message a client can receive, as a typed
//! value. Hosts and handlers build these and serialise them with
//! [`ServerMessage::to_json`]; nobody writes a message's JSON by hand.

use super::{IceCandidate, PROTOCOL_VERSION, SignalKind};
use crate::UnixMillis;
use crate::channel::{Channel, ChannelSet};
use crate::ids::AdvisorId;
use crate::presence::{PresenceState, PresenceView};
use crate::session::{EndReason, Origin, Phase, RestartReason, Session, Side};
use serde::Serialize;

/// One message to a client. Serialised as a JSON object with `"v"` and
/// `"type"` (the variant's name in snake case) and the variant's fields.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// The first message on every connection; names the signed-in advisor.
    Hello {
        #[serde(skip_serializing_if = "Option::is_none")]
        advisor: Option<AdvisorId>,
    },
    Pong {},
    /// Where a session stands, for both sides (after every change).
    Session(SessionState),
    /// A contact rings this advisor until `until`.
    Ring {
        session: String,
        channel: Channel,
        origin: Origin,
        topic: Option<String>,
        language: Option<String>,
        until: UnixMillis,
    },
    /// The ring is over (accepted, declined, missed, or the visitor left).
    RingStop {
        session: String,
    },
    /// The visitor's place in the queue and a rough wait.
    Queue {
        session: String,
        position: u32,
        wait_ms: u64,
    },
    /// A chat message as stored: `key` orders it, `id` is the sender's;
    /// `author`: the advisor who wrote an advisor-side message (several
    /// may, with a guest in the chat).
    Chat {
        session: String,
        key: String,
        id: String,
        side: Side,
        #[serde(skip_serializing_if = "Option::is_none")]
        author: Option<AdvisorId>,
        text: String,
        at: UnixMillis,
    },
    /// A chat message of this connection was stored (`key`), or had been
    /// already (no `key`: a resend).
    Ack {
        session: String,
        id: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        key: Option<String>,
    },
    Typing {
        session: String,
        side: Side,
    },
    Read {
        session: String,
        side: Side,
        key: String,
    },
    /// WebRTC signaling from the other side, relayed as it came.
    Signal {
        session: String,
        side: Side,
        call: String,
        kind: SignalKind,
        #[serde(skip_serializing_if = "Option::is_none")]
        sdp: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        candidate: Option<IceCandidate>,
        #[serde(skip_serializing_if = "Option::is_none")]
        restart: Option<RestartReason>,
    },
    /// The media node at `relay` (`host:port`, as in the TURN URLs) that
    /// this session's call may relay through drains (until `deadline`) or
    /// stopped: move the call elsewhere (an ICE restart with fresh ICE
    /// servers) before then.
    MediaMove {
        session: String,
        node: String,
        relay: String,
        reason: RestartReason,
        #[serde(skip_serializing_if = "Option::is_none")]
        deadline: Option<UnixMillis>,
    },
    /// The join is complete: everything it replays came before this.
    Joined {
        session: String,
        side: Side,
    },
    /// An advisor's presence as visitors see it (to their own consoles).
    Presence {
        advisor: AdvisorId,
        presence: PresenceView,
        status: PresenceState,
    },
    /// A message was refused; the connection stays usable.
    Error {
        code: String,
        message: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        session: Option<String>,
    },
}

#[derive(Serialize)]
struct Versioned<'a> {
    v: u32,
    #[serde(flatten)]
    message: &'a ServerMessage,
}

/// The `session` message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionState {
    pub session: String,
    /// `routing`, `ringing`, `queued`, `connected` or `ended`.
    pub state: &'static str,
    pub channel: Channel,
    pub origin: Origin,
    pub topic: Option<String>,
    /// What the visitor may choose now (`wait`, `colleague`, `offline`).
    pub options: Vec<&'static str>,
    /// When the ring or the wait in the queue ends.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<UnixMillis>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<EndReason>,
    /// A card's channels: the pages offer no call on the others.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channels: Option<ChannelSet>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub advisor: Option<ShownAdvisor>,
    /// The screen being shared in the call: who shares, and the id of the
    /// stream its track comes in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub share: Option<SharedScreen>,
    /// The advisor asked the visitor to share their screen.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub share_asked: bool,
    /// The identity check: where it stands, and its outcome (never the
    /// advisor's note: both sides get this message).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity: Option<IdentityView>,
    /// Colleagues in the chat as guests, with their names (the host looks
    /// them up, like the advisor's).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub guests: Vec<ShownAdvisor>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IdentityView {
    pub state: crate::session::IdentityState,
    pub face: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<crate::session::IdentityOutcome>,
    /// The deployment keeps the check's photos (sealed) for this many days
    /// (the host fills it in; absent: never kept).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_days: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SharedScreen {
    pub side: crate::session::Side,
    pub stream: String,
}

/// The advisor a session shows: their name and title when the directory
/// has them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ShownAdvisor {
    pub id: AdvisorId,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub card: Option<AdvisorCard>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AdvisorCard {
    pub display_name: String,
    pub title: String,
}

impl Session {
    /// The advisor the `session` message names: the one rung or connected,
    /// else the one who took the contact (kept after it ended).
    pub fn shown_advisor(&self) -> Option<&AdvisorId> {
        self.current_advisor().or(self.advisor.as_ref())
    }

    /// The `session` message for this session; `card` is the shown
    /// advisor's name and title, looked up by the host.
    pub fn state(&self, id: &str, card: Option<AdvisorCard>) -> ServerMessage {
        let (state, until) = match &self.phase {
            Phase::Routing => ("routing", None),
            Phase::Ringing { until, .. } => ("ringing", Some(*until)),
            Phase::Queued { until, .. } => ("queued", Some(*until)),
            Phase::Connected { .. } => ("connected", None),
            Phase::Ended { .. } => ("ended", None),
        };
        ServerMessage::Session(SessionState {
            session: id.to_owned(),
            state,
            channel: self.channel,
            origin: self.request.origin,
            topic: self.request.topic.clone(),
            options: self.options(),
            until,
            reason: match self.phase {
                Phase::Ended { reason, .. } => Some(reason),
                _ => None,
            },
            channels: self.request.channels,
            advisor: self.shown_advisor().map(|id| ShownAdvisor {
                id: id.clone(),
                card,
            }),
            share: self
                .call
                .as_ref()
                .and_then(|c| c.share.as_ref())
                .map(|s| SharedScreen {
                    side: s.side,
                    stream: s.stream.clone(),
                }),
            share_asked: self.share_asked,
            identity: self.identity.as_ref().map(|c| IdentityView {
                state: c.state,
                face: c.face,
                outcome: c.outcome,
                keep_days: None,
            }),
            guests: self
                .guests
                .iter()
                .map(|g| ShownAdvisor {
                    id: g.advisor.clone(),
                    card: None,
                })
                .collect(),
        })
    }

    /// The `ring` message for the advisor rung until `until`.
    pub fn ring_message(&self, id: &str, until: UnixMillis) -> ServerMessage {
        ServerMessage::Ring {
            session: id.to_owned(),
            channel: self.channel,
            origin: self.request.origin,
            topic: self.request.topic.clone(),
            language: self.request.language.clone(),
            until,
        }
    }
}

impl ServerMessage {
    /// A client's call signal as the other side gets it, with the sender's
    /// side; `None` for any other message.
    pub fn relayed_signal(message: super::ClientMessage, side: Side) -> Option<ServerMessage> {
        match message {
            super::ClientMessage::Signal {
                session,
                call,
                kind,
                sdp,
                candidate,
                restart,
                ..
            } => Some(ServerMessage::Signal {
                session,
                side,
                call,
                kind,
                sdp,
                candidate,
                restart,
            }),
            _ => None,
        }
    }

    /// A refusal of a client's message (`error`), about `session` if given.
    pub fn refusal(code: &str, message: &str, session: Option<&str>) -> ServerMessage {
        ServerMessage::Error {
            code: code.to_owned(),
            message: message.to_owned(),
            session: session.map(str::to_owned),
        }
    }

    /// The message with the protocol version, as serialised.
    fn versioned(&self) -> Versioned<'_> {
        Versioned {
            v: PROTOCOL_VERSION,
            message: self,
        }
    }

    /// The message's JSON text, with the protocol version.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.versioned()).unwrap_or_else(|err| {
            // Every field is plain data; this cannot fail, but a message is
            // never silently empty.
            format!(r#"{{"v":1,"type":"error","code":"internal","message":"{err}"}}"#)
        })
    }

    /// The message as a JSON value (for HTTP answers that embed one),
    /// serialised once, not through text.
    pub fn to_value(&self) -> serde_json::Value {
        serde_json::to_value(self.versioned()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn json_of(message: &ServerMessage) -> serde_json::Value {
        serde_json::from_str(&message.to_json()).expect("json")
    }

    #[test]
    fn messages_serialise_as_the_protocol_says() {
        assert_eq!(
            json_of(&ServerMessage::Hello { advisor: None }),
            json!({"v": 1, "type": "hello"})
        );
        assert_eq!(
            json_of(&ServerMessage::Pong {}),
            json!({"v": 1, "type": "pong"})
        );
        assert_eq!(
            json_of(&ServerMessage::Ack {
                session: "s1".into(),
                id: "m1".into(),
                key: None
            }),
            json!({"v": 1, "type": "ack", "session": "s1", "id": "m1"})
        );
        assert_eq!(
            json_of(&ServerMessage::refusal("busy", "try again", Some("s1"))),
            json!({"v": 1, "type": "error", "code": "busy", "message": "try again", "session": "s1"})
        );
        assert_eq!(
            json_of(&ServerMessage::Chat {
                session: "s1".into(),
                key: "k1".into(),
                id: "m1".into(),
                side: Side::Visitor,
                author: None,
                text: "Hallo".into(),
                at: 5
            }),
            json!({"v": 1, "type": "chat", "session": "s1", "key": "k1", "id": "m1",
                   "side": "visitor", "text": "Hallo", "at": 5})
        );
    }

    #[test]
    fn the_session_message_names_the_state_and_the_advisor() {
        let mut s = Session::new(Channel::Chat, 10);
        s.request.origin = Origin::Card;
        assert_eq!(
            json_of(&s.state("s1", None)),
            json!({"v": 1, "type": "session", "session": "s1", "state": "routing",
                   "channel": "chat", "origin": "card", "topic": null, "options": []})
        );
        let anna = AdvisorId::parse("anna").expect("id");
        s.phase = Phase::Ended {
            reason: EndReason::AdvisorLeft,
            at: 20,
        };
        s.advisor = Some(anna.clone());
        let card = AdvisorCard {
            display_name: "Anna".into(),
            title: "Beraterin".into(),
        };
        assert_eq!(
            json_of(&s.state("s1", Some(card))),
            json!({"v": 1, "type": "session", "session": "s1", "state": "ended",
                   "channel": "chat", "origin": "card", "topic": null, "options": [],
                   "reason": "advisor_left",
                   "advisor": {"id": "anna", "display_name": "Anna", "title": "Beraterin"}})
        );
        let ShownAdvisor { id, .. } = ShownAdvisor {
            id: anna.clone(),
            card: None,
        };
        assert_eq!(id, anna);
    }
}
