//! The signaling protocol: versioned JSON messages over WebSocket.
//!
//! Every message is one JSON object with `"v"` (the protocol version, 1) and
//! `"type"`. A message is refused, with an `error` answer and the connection
//! left usable, when it is larger than [`MAX_MESSAGE_BYTES`], is not a JSON
//! object, names another version, names an unknown type, or has missing,
//! extra or out-of-range fields. Written down in `docs/protocol.md`.

use crate::channel::Channel;
use serde::{Deserialize, Serialize};

mod server;
pub use server::{AdvisorCard, ServerMessage, SessionState, ShownAdvisor};

pub const PROTOCOL_VERSION: u32 = 1;
/// Larger frames are refused before they are parsed (API Gateway's frame
/// limit is 32 KB; this stays well below it).
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024;
/// The longest chat message, in characters.
pub const MAX_CHAT_CHARS: usize = 4000;
/// Client-chosen ids (message ids for de-duplication): 1 to 64 of
/// `A-Za-z0-9-_`.
pub const MAX_CLIENT_ID_LEN: usize = 64;

/// A `signal`'s `call` id that begins with this names the session's data
/// link (files, identity images; `RTCDataChannel`s only): it may be set up
/// in any connected session, with a call on or not, and is never a call.
pub const DATA_LINK_PREFIX: &str = "data-";

/// What a client (visitor page, widget, advisor console) may send.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientMessage {
    /// (Re)join a session. A visitor proves it with the session's `token`;
    /// an advisor's connection is signed in already. The server answers with
    /// the session's state and every chat message after the key `after`.
    Join {
        v: u32,
        session: String,
        #[serde(default)]
        token: Option<String>,
        #[serde(default)]
        after: Option<String>,
    },
    /// An advisor's console (re)joins many conversations at once (after a
    /// reload or reconnect): each answered as its own `join` would be, in
    /// order, for one frame of the rate limit.
    Rejoin {
        v: u32,
        sessions: Vec<Rejoin>,
    },
    /// The advisor takes the contact rung to them.
    Accept {
        v: u32,
        session: String,
    },
    /// The advisor declines it.
    Decline {
        v: u32,
        session: String,
    },
    /// A chat message; `id` is the sender's, so a resend is not shown twice.
    Chat {
        v: u32,
        session: String,
        id: String,
        text: String,
    },
    Typing {
        v: u32,
        session: String,
    },
    /// Everything up to the message `key` has been read.
    Read {
        v: u32,
        session: String,
        key: String,
    },
    /// Change the medium of a connected session.
    Upgrade {
        v: u32,
        session: String,
        channel: Channel,
    },
    /// The visitor waits in the queue (offered when nobody is free).
    Wait {
        v: u32,
        session: String,
    },
    /// The visitor of a card link accepts a colleague.
    Colleague {
        v: u32,
        session: String,
    },
    Hangup {
        v: u32,
        session: String,
    },
    /// WebRTC signaling for the session's call (an offer, an answer or an
    /// ICE candidate), relayed to the other side as it is. `call` names the
    /// peer connection: a new one replaces the old, the same one
    /// renegotiates (an ICE restart). An offer that restarts ICE says why
    /// (`restart`, an `ice_restart` event); a `restart` signal (with its
    /// reason, no SDP) asks the side that offers to restart.
    Signal {
        v: u32,
        session: String,
        call: String,
        kind: SignalKind,
        #[serde(default)]
        sdp: Option<String>,
        #[serde(default)]
        candidate: Option<IceCandidate>,
        #[serde(default)]
        restart: Option<crate::session::RestartReason>,
    },
    /// A side's call is up (sent every 30 s while it lasts), with the path
    /// its media takes.
    CallReport {
        v: u32,
        session: String,
        #[serde(default)]
        path: Option<crate::session::IcePath>,
    },
    /// Screen sharing in the call: the advisor asks the visitor, the
    /// visitor declines, a side starts sharing (its screen's `stream` id),
    /// either side stops it. Every change comes back in the `session`
    /// message (`share`, `share_asked`).
    Share {
        v: u32,
        session: String,
        action: crate::session::ShareAction,
        #[serde(default)]
        stream: Option<String>,
    },
    /// The connected advisor hands the session over to a colleague: `to`
    /// (an advisor id) or the best free one for `topic`, with a `note` for
    /// them (at most 500 characters).
    Transfer {
        v: u32,
        session: String,
        #[serde(default)]
        to: Option<crate::ids::AdvisorId>,
        #[serde(default)]
        topic: Option<String>,
        #[serde(default)]
        note: Option<String>,
    },
    /// The connected advisor invites a colleague (`to`, an advisor id) into
    /// the chat as a guest.
    Invite {
        v: u32,
        session: String,
        to: crate::ids::AdvisorId,
    },
    /// A guest leaves the conversation (the others go on).
    Leave {
        v: u32,
        session: String,
    },
    /// The identity check: the advisor asks (`face`: a photo of the face
    /// too), the visitor consents or declines, the advisor records the
    /// `outcome` with a `note` (at most 500 characters). The images go over
    /// the data link, never through the server.
    Identity {
        v: u32,
        session: String,
        action: crate::session::IdentityAction,
        #[serde(default)]
        face: bool,
        #[serde(default)]
        outcome: Option<crate::session::IdentityOutcome>,
        #[serde(default)]
        note: Option<String>,
    },
    /// A file went over the data link and the other side checked it: the
    /// sender says how many bytes (never its name or content), for the
    /// `file_sent` event.
    File {
        v: u32,
        session: String,
        bytes: u64,
    },
    /// An advisor's console sets their presence (per channel).
    Presence {
        v: u32,
        states: std::collections::BTreeMap<Channel, crate::presence::PresenceState>,
    },
    Ping {
        v: u32,
    },
}

impl ClientMessage {
    /// The protocol version the message names.
    pub fn version(&self) -> u32 {
        match self {
            ClientMessage::Join { v, .. }
            | ClientMessage::Rejoin { v, .. }
            | ClientMessage::Accept { v, .. }
            | ClientMessage::Decline { v, .. }
            | ClientMessage::Chat { v, .. }
            | ClientMessage::Typing { v, .. }
            | ClientMessage::Read { v, .. }
            | ClientMessage::Upgrade { v, .. }
            | ClientMessage::Wait { v, .. }
            | ClientMessage::Colleague { v, .. }
            | ClientMessage::Hangup { v, .. }
            | ClientMessage::Signal { v, .. }
            | ClientMessage::CallReport { v, .. }
            | ClientMessage::Share { v, .. }
            | ClientMessage::File { v, .. }
            | ClientMessage::Identity { v, .. }
            | ClientMessage::Transfer { v, .. }
            | ClientMessage::Invite { v, .. }
            | ClientMessage::Leave { v, .. }
            | ClientMessage::Presence { v, .. }
            | ClientMessage::Ping { v } => *v,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            ClientMessage::Join { .. } => "join",
            ClientMessage::Rejoin { .. } => "rejoin",
            ClientMessage::Accept { .. } => "accept",
            ClientMessage::Decline { .. } => "decline",
            ClientMessage::Chat { .. } => "chat",
            ClientMessage::Typing { .. } => "typing",
            ClientMessage::Read { .. } => "read",
            ClientMessage::Upgrade { .. } => "upgrade",
            ClientMessage::Wait { .. } => "wait",
            ClientMessage::Colleague { .. } => "colleague",
            ClientMessage::Hangup { .. } => "hangup",
            ClientMessage::Signal { .. } => "signal",
            ClientMessage::CallReport { .. } => "call_report",
            ClientMessage::Share { .. } => "share",
            ClientMessage::File { .. } => "file",
            ClientMessage::Identity { .. } => "identity",
            ClientMessage::Transfer { .. } => "transfer",
            ClientMessage::Invite { .. } => "invite",
            ClientMessage::Leave { .. } => "leave",
            ClientMessage::Presence { .. } => "presence",
            ClientMessage::Ping { .. } => "ping",
        }
    }

    /// The session a message is about.
    pub fn session(&self) -> Option<&str> {
        match self {
            ClientMessage::Join { session, .. }
            | ClientMessage::Accept { session, .. }
            | ClientMessage::Decline { session, .. }
            | ClientMessage::Chat { session, .. }
            | ClientMessage::Typing { session, .. }
            | ClientMessage::Read { session, .. }
            | ClientMessage::Upgrade { session, .. }
            | ClientMessage::Wait { session, .. }
            | ClientMessage::Colleague { session, .. }
            | ClientMessage::Hangup { session, .. }
            | ClientMessage::Signal { session, .. }
            | ClientMessage::Share { session, .. }
            | ClientMessage::File { session, .. }
            | ClientMessage::Identity { session, .. }
            | ClientMessage::Transfer { session, .. }
            | ClientMessage::Invite { session, .. }
            | ClientMessage::Leave { session, .. }
            | ClientMessage::CallReport { session, .. } => Some(session),
            ClientMessage::Rejoin { .. }
            | ClientMessage::Presence { .. }
            | ClientMessage::Ping { .. } => None,
        }
    }
}

/// One conversation of a `rejoin`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Rejoin {
    pub session: String,
    #[serde(default)]
    pub after: Option<String>,
}

/// The most conversations one `rejoin` names (an advisor's largest
/// capacity).
pub const MAX_REJOIN: usize = 50;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SignalKind {
    Offer,
    Answer,
    Candidate,
    /// Asks the side that offers for an ICE restart.
    Restart,
}

/// An ICE candidate as `RTCIceCandidate.toJSON()` gives it; an empty
/// `candidate` marks the end of candidates.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IceCandidate {
    pub candidate: String,
    #[serde(default, rename = "sdpMid")]
    pub sdp_mid: Option<String>,
    #[serde(default, rename = "sdpMLineIndex")]
    pub sdp_m_line_index: Option<u16>,
    #[serde(default, rename = "usernameFragment")]
    pub username_fragment: Option<String>,
}

/// The largest SDP accepted (an audio and video offer is 4 to 8 KB).
pub const MAX_SDP_BYTES: usize = 12 * 1024;
/// The longest candidate line.
pub const MAX_CANDIDATE_BYTES: usize = 512;

/// SDP is printable ASCII in CRLF-separated lines starting `v=0`.
fn valid_sdp(sdp: &str) -> bool {
    sdp.len() <= MAX_SDP_BYTES
        && sdp.starts_with("v=0")
        && sdp
            .bytes()
            .all(|b| (0x20..0x7f).contains(&b) || b == b'\r' || b == b'\n')
}

fn valid_candidate(c: &IceCandidate) -> bool {
    let printable = |s: &str| s.bytes().all(|b| (0x20..0x7f).contains(&b));
    (c.candidate.is_empty()
        || (c.candidate.len() <= MAX_CANDIDATE_BYTES
            && c.candidate.starts_with("candidate:")
            && printable(&c.candidate)))
        && c.sdp_mid.as_deref().is_none_or(|m| {
            (1..=32).contains(&m.len())
                && m.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
        })
        && c.sdp_m_line_index.is_none_or(|i| i < 64)
        && c.username_fragment
            .as_deref()
            .is_none_or(|u| (1..=256).contains(&u.len()) && printable(u))
}

/// The longest message key a client may send back (`after`, `read`).
pub const MAX_KEY_LEN: usize = 160;

/// Why the server closes a signaling socket, with its RFC 6455 close code:
/// clients tell a refusal from a lost connection (and need not reconnect at
/// once after one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The client kept sending past its rate limit (1008, policy violation).
    Flooding,
    /// A frame larger than the host accepts (1009, message too big).
    TooLarge,
    /// A frame that breaks the WebSocket protocol (1002).
    ProtocolViolation,
}

impl CloseReason {
    pub fn code(self) -> u16 {
        match self {
            CloseReason::Flooding => 1008,
            CloseReason::TooLarge => 1009,
            CloseReason::ProtocolViolation => 1002,
        }
    }

    /// The close frame's reason text (at most 123 bytes).
    pub fn text(self) -> &'static str {
        match self {
            CloseReason::Flooding => "too many messages",
            CloseReason::TooLarge => "message too big",
            CloseReason::ProtocolViolation => "websocket protocol error",
        }
    }
}

/// Why a client message was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    #[error("the message is larger than {MAX_MESSAGE_BYTES} bytes")]
    TooLarge,
    #[error("the message is not a JSON object with \"v\" and \"type\"")]
    Malformed,
    #[error("protocol version not supported; this server speaks version 1")]
    UnsupportedVersion,
    #[error("unknown message type")]
    UnknownType,
    #[error("a field is missing, unknown or out of range")]
    InvalidField,
}

impl ProtocolError {
    pub fn code(self) -> &'static str {
        match self {
            ProtocolError::TooLarge => "too_large",
            ProtocolError::Malformed => "malformed",
            ProtocolError::UnsupportedVersion => "unsupported_version",
            ProtocolError::UnknownType => "unknown_type",
            ProtocolError::InvalidField => "invalid_field",
        }
    }
}

const CLIENT_TYPES: &[&str] = &[
    "join",
    "rejoin",
    "accept",
    "decline",
    "chat",
    "typing",
    "read",
    "upgrade",
    "wait",
    "colleague",
    "hangup",
    "signal",
    "call_report",
    "share",
    "file",
    "identity",
    "transfer",
    "invite",
    "leave",
    "presence",
    "ping",
];

#[derive(Deserialize)]
struct Envelope {
    v: serde_json::Value,
    #[serde(rename = "type")]
    kind: serde_json::Value,
}

fn valid_client_id(id: &str) -> bool {
    (1..=MAX_CLIENT_ID_LEN).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn valid_key(key: &str) -> bool {
    (1..=MAX_KEY_LEN).contains(&key.len())
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"#-_".contains(&b))
}

/// Is `id` a session id (1 to 64 of `A-Za-z0-9-_`)?
pub fn valid_session(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Parses and validates one client message.
pub fn parse_client(text: &str) -> Result<ClientMessage, ProtocolError> {
    if text.len() > MAX_MESSAGE_BYTES {
        return Err(ProtocolError::TooLarge);
    }
    // One parse on the happy path; only a refusal reads the envelope to
    // say precisely what is wrong.
    let message: ClientMessage = match serde_json::from_str(text) {
        Ok(message) => message,
        Err(_) => return Err(classify(text)),
    };
    if message.version() != PROTOCOL_VERSION {
        return Err(ProtocolError::UnsupportedVersion);
    }
    let ok = match &message {
        ClientMessage::Join {
            session,
            token,
            after,
            ..
        } => {
            valid_session(session)
                && token
                    .as_deref()
                    .is_none_or(|t| !t.is_empty() && t.len() <= 512)
                && after.as_deref().is_none_or(valid_key)
        }
        ClientMessage::Rejoin { sessions, .. } => {
            (1..=MAX_REJOIN).contains(&sessions.len())
                && sessions
                    .iter()
                    .all(|r| valid_session(&r.session) && r.after.as_deref().is_none_or(valid_key))
        }
        ClientMessage::Read { session, key, .. } => valid_session(session) && valid_key(key),
        ClientMessage::Chat {
            session, id, text, ..
        } => {
            valid_session(session)
                && valid_client_id(id)
                && !text.trim().is_empty()
                && text.chars().count() <= MAX_CHAT_CHARS
        }
        ClientMessage::Accept { session, .. }
        | ClientMessage::Decline { session, .. }
        | ClientMessage::Typing { session, .. }
        | ClientMessage::Upgrade { session, .. }
        | ClientMessage::Wait { session, .. }
        | ClientMessage::Colleague { session, .. }
        | ClientMessage::Hangup { session, .. }
        | ClientMessage::Invite { session, .. }
        | ClientMessage::Leave { session, .. }
        | ClientMessage::CallReport { session, .. } => valid_session(session),
        ClientMessage::File { session, bytes, .. } => valid_session(session) && *bytes > 0,
        ClientMessage::Transfer {
            session,
            to,
            topic,
            note,
            ..
        } => {
            valid_session(session)
                && (to.is_some() != topic.is_some())
                && topic.as_deref().is_none_or(crate::advisor::valid_topic)
                && note
                    .as_deref()
                    .is_none_or(crate::session::identity::valid_note)
        }
        ClientMessage::Identity {
            session,
            action,
            face,
            outcome,
            note,
            ..
        } => {
            use crate::session::IdentityAction;
            valid_session(session)
                && (!*face || *action == IdentityAction::Ask)
                && (outcome.is_some() == (*action == IdentityAction::Result))
                && outcome != &Some(crate::session::IdentityOutcome::Declined)
                && note.as_deref().is_none_or(|n| {
                    *action == IdentityAction::Result && crate::session::identity::valid_note(n)
                })
        }
        ClientMessage::Share {
            session,
            action,
            stream,
            ..
        } => {
            valid_session(session)
                && match (action, stream) {
                    (crate::session::ShareAction::Start, Some(stream)) => {
                        crate::session::valid_stream_id(stream)
                    }
                    (_, None) => *action != crate::session::ShareAction::Start,
                    _ => false,
                }
        }
        ClientMessage::Signal {
            session,
            call,
            kind,
            sdp,
            candidate,
            restart,
            ..
        } => {
            valid_session(session)
                && valid_client_id(call)
                && match (kind, sdp, candidate, restart) {
                    (SignalKind::Offer, Some(sdp), None, _)
                    | (SignalKind::Answer, Some(sdp), None, None) => valid_sdp(sdp),
                    (SignalKind::Candidate, None, Some(candidate), None) => {
                        valid_candidate(candidate)
                    }
                    (SignalKind::Restart, None, None, Some(_)) => true,
                    _ => false,
                }
        }
        ClientMessage::Presence { states, .. } => !states.is_empty(),
        ClientMessage::Ping { .. } => true,
    };
    if ok {
        Ok(message)
    } else {
        Err(ProtocolError::InvalidField)
    }
}

/// Why a frame that is not a valid message was refused.
fn classify(text: &str) -> ProtocolError {
    let Ok(envelope) = serde_json::from_str::<Envelope>(text) else {
        return ProtocolError::Malformed;
    };
    match envelope.v.as_u64() {
        Some(v) if v == u64::from(PROTOCOL_VERSION) => {}
        Some(_) => return ProtocolError::UnsupportedVersion,
        None => return ProtocolError::Malformed,
    }
    match envelope.kind.as_str() {
        None => ProtocolError::Malformed,
        Some(kind) if CLIENT_TYPES.contains(&kind) => ProtocolError::InvalidField,
        Some(_) => ProtocolError::UnknownType,
    }
}

/// The `error` answer to a refused message.
pub fn error_message(error: ProtocolError) -> String {
    refusal(error.code(), &error.to_string(), None)
}

/// An `error` message with a code, a human sentence and the session it is
/// about, if any.
pub fn refusal(code: &str, message: &str, session: Option<&str>) -> String {
    let mut value = serde_json::json!({ "v": PROTOCOL_VERSION, "type": "error", "code": code, "message": message });
    if let Some(session) = session {
        value["session"] = session.into();
    }
    value.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_valid_messages() {
        let chat =
            parse_client(r#"{"v":1,"type":"chat","session":"s1","id":"m-1","text":"Hallo <b>"}"#);
        assert_eq!(
            chat,
            Ok(ClientMessage::Chat {
                v: 1,
                session: "s1".into(),
                id: "m-1".into(),
                text: "Hallo <b>".into()
            })
        );
        assert_eq!(
            parse_client(r#"{"v":1,"type":"ping"}"#),
            Ok(ClientMessage::Ping { v: 1 })
        );
        let join = parse_client(r#"{"type":"join","v":1,"session":"s1","token":"t"}"#);
        assert_eq!(
            join,
            Ok(ClientMessage::Join {
                v: 1,
                session: "s1".into(),
                token: Some("t".into()),
                after: None
            })
        );
        let presence = parse_client(r#"{"v":1,"type":"presence","states":{"chat":"busy"}}"#);
        assert!(
            matches!(presence, Ok(ClientMessage::Presence { ref states, .. }) if states.len() == 1)
        );
        let up = parse_client(r#"{"v":1,"type":"upgrade","session":"s1","channel":"video"}"#);
        assert!(matches!(
            up,
            Ok(ClientMessage::Upgrade {
                channel: Channel::Video,
                ..
            })
        ));
        let invite = parse_client(r#"{"v":1,"type":"invite","session":"s1","to":"ben"}"#);
        assert!(matches!(invite, Ok(ClientMessage::Invite { ref to, .. }) if to.as_str() == "ben"));
        let rejoin = parse_client(
            r#"{"v":1,"type":"rejoin","sessions":[{"session":"s1"},{"session":"s2","after":"MSG#1"}]}"#,
        );
        assert!(
            matches!(rejoin, Ok(ClientMessage::Rejoin { ref sessions, .. }) if sessions.len() == 2 && sessions[1].after.as_deref() == Some("MSG#1"))
        );
        let leave = parse_client(r#"{"v":1,"type":"leave","session":"s1"}"#);
        assert!(matches!(leave, Ok(ClientMessage::Leave { .. })));
    }

    #[test]
    fn refuses_with_distinct_errors() {
        let cases = [
            ("not json", ProtocolError::Malformed),
            ("[1,2]", ProtocolError::Malformed),
            (r#"{"type":"ping"}"#, ProtocolError::Malformed),
            (r#"{"v":"1","type":"ping"}"#, ProtocolError::Malformed),
            (
                r#"{"v":2,"type":"ping"}"#,
                ProtocolError::UnsupportedVersion,
            ),
            (r#"{"v":1,"type":"fax"}"#, ProtocolError::UnknownType),
            (r#"{"v":1,"type":"ring"}"#, ProtocolError::UnknownType),
            (
                r#"{"v":1,"type":"chat","session":"s1","id":"m1"}"#,
                ProtocolError::InvalidField,
            ),
            (
                r#"{"v":1,"type":"chat","session":"s1","id":"m1","text":"x","extra":1}"#,
                ProtocolError::InvalidField,
            ),
            (
                r#"{"v":1,"type":"chat","session":"s1","id":"m 1","text":"x"}"#,
                ProtocolError::InvalidField,
            ),
            (
                r#"{"v":1,"type":"chat","session":"s1","id":"m1","text":"   "}"#,
                ProtocolError::InvalidField,
            ),
            (
                r#"{"v":1,"type":"hangup","session":"../x"}"#,
                ProtocolError::InvalidField,
            ),
            (
                r#"{"v":1,"type":"upgrade","session":"s1","channel":"fax"}"#,
                ProtocolError::InvalidField,
            ),
            (
                r#"{"v":1,"type":"invite","session":"s1"}"#,
                ProtocolError::InvalidField,
            ),
            (
                r#"{"v":1,"type":"invite","session":"s1","to":"Ben Hur"}"#,
                ProtocolError::InvalidField,
            ),
            (
                r#"{"v":1,"type":"leave","session":"s1","guest":"ben"}"#,
                ProtocolError::InvalidField,
            ),
            (
                r#"{"v":1,"type":"rejoin","sessions":[]}"#,
                ProtocolError::InvalidField,
            ),
            (
                r#"{"v":1,"type":"rejoin","sessions":[{"session":"../x"}]}"#,
                ProtocolError::InvalidField,
            ),
            (
                r#"{"v":1,"type":"rejoin","sessions":[{"session":"s1","token":"t"}]}"#,
                ProtocolError::InvalidField,
            ),
            (
                r#"{"v":1,"type":"presence","states":{}}"#,
                ProtocolError::InvalidField,
            ),
            (
                r#"{"v":1,"type":"presence","states":{"chat":"sleepy"}}"#,
                ProtocolError::InvalidField,
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_client(text), Err(expected), "{text}");
        }
        let long = format!(
            r#"{{"v":1,"type":"chat","session":"s1","id":"m1","text":"{}"}}"#,
            "x".repeat(MAX_CHAT_CHARS + 1)
        );
        assert_eq!(parse_client(&long), Err(ProtocolError::InvalidField));
        let many = format!(
            r#"{{"v":1,"type":"rejoin","sessions":[{}]}}"#,
            vec![r#"{"session":"s1"}"#; MAX_REJOIN + 1].join(",")
        );
        assert_eq!(parse_client(&many), Err(ProtocolError::InvalidField));
        let huge = "x".repeat(MAX_MESSAGE_BYTES + 1);
        assert_eq!(parse_client(&huge), Err(ProtocolError::TooLarge));
        let answer: serde_json::Value =
            serde_json::from_str(&error_message(ProtocolError::UnknownType)).expect("json");
        assert_eq!(answer["type"], "error");
        assert_eq!(answer["code"], "unknown_type");
    }

    #[test]
    fn call_signals_are_validated() {
        let offer = r#"{"v":1,"type":"signal","session":"s1","call":"c1","kind":"offer","sdp":"v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n"}"#;
        assert!(matches!(
            parse_client(offer),
            Ok(ClientMessage::Signal {
                kind: SignalKind::Offer,
                ..
            })
        ));
        let cand = r#"{"v":1,"type":"signal","session":"s1","call":"c1","kind":"candidate","candidate":{"candidate":"candidate:1 1 udp 2122260223 192.0.2.1 54321 typ host","sdpMid":"0","sdpMLineIndex":0,"usernameFragment":"abcd"}}"#;
        assert!(matches!(
            parse_client(cand),
            Ok(ClientMessage::Signal {
                kind: SignalKind::Candidate,
                ..
            })
        ));
        let end = r#"{"v":1,"type":"signal","session":"s1","call":"c1","kind":"candidate","candidate":{"candidate":""}}"#;
        assert!(parse_client(end).is_ok());
        let report = r#"{"v":1,"type":"call_report","session":"s1","path":"relay"}"#;
        assert!(matches!(
            parse_client(report),
            Ok(ClientMessage::CallReport {
                path: Some(crate::session::IcePath::Relay),
                ..
            })
        ));
        let refused = [
            // An offer without SDP, with a candidate, or with SDP that is not SDP.
            r#"{"v":1,"type":"signal","session":"s1","call":"c1","kind":"offer"}"#.to_string(),
            r#"{"v":1,"type":"signal","session":"s1","call":"c1","kind":"offer","sdp":"v=0\r\n","candidate":{"candidate":""}}"#.to_string(),
            r#"{"v":1,"type":"signal","session":"s1","call":"c1","kind":"answer","sdp":"<script>"}"#.to_string(),
            r#"{"v":1,"type":"signal","session":"s1","call":"c1","kind":"answer","sdp":"v=0\r\n\u0000"}"#.to_string(),
            // Candidates that are not candidate lines, or too long, or odd fields.
            r#"{"v":1,"type":"signal","session":"s1","call":"c1","kind":"candidate","candidate":{"candidate":"hello"}}"#.to_string(),
            format!(r#"{{"v":1,"type":"signal","session":"s1","call":"c1","kind":"candidate","candidate":{{"candidate":"candidate:{}"}}}}"#, "1".repeat(600)),
            r#"{"v":1,"type":"signal","session":"s1","call":"c1","kind":"candidate","candidate":{"candidate":"","sdpMid":"a b"}}"#.to_string(),
            r#"{"v":1,"type":"signal","session":"s1","call":"c1","kind":"candidate","candidate":{"candidate":"","extra":1}}"#.to_string(),
            r#"{"v":1,"type":"signal","session":"s1","call":"c 1","kind":"offer","sdp":"v=0\r\n"}"#.to_string(),
            r#"{"v":1,"type":"signal","session":"s1","call":"c1","kind":"hello","sdp":"v=0\r\n"}"#.to_string(),
            r#"{"v":1,"type":"call_report","session":"s1","path":"moon"}"#.to_string(),
            // SDP over its own limit (inside the message limit).
            format!(r#"{{"v":1,"type":"signal","session":"s1","call":"c1","kind":"offer","sdp":"v=0\r\n{}"}}"#, "a".repeat(13_000)),
        ];
        for text in &refused {
            assert_eq!(
                parse_client(text),
                Err(ProtocolError::InvalidField),
                "{text}"
            );
        }
        let huge = format!(
            r#"{{"v":1,"type":"signal","session":"s1","call":"c1","kind":"offer","sdp":"v=0\r\n{}"}}"#,
            "a".repeat(20_000)
        );
        assert_eq!(parse_client(&huge), Err(ProtocolError::TooLarge));
    }
}
