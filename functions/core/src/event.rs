//! Analytics events: one versioned schema for every step of a contact.
//!
//! An event is stored once per `id` (its idempotency key: a second write of
//! the same id is a no-op), kept for a retention time, and later forwarded at
//! least once to GA4, Matomo and signed webhooks with the same id, so that the
//! receivers can drop duplicates. Events never carry message text, names,
//! e-mail addresses or raw IP addresses: a visitor is a daily pseudonym.

use crate::UnixMillis;
use crate::channel::Channel;
use crate::ids::{AdvisorId, CardId, EventId};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The schema version written into every event.
pub const EVENT_SCHEMA: u32 = 1;
/// The largest serialized `props` object accepted.
pub const MAX_PROPS_BYTES: usize = 2048;
/// How long events are kept when the deployment does not say.
pub const DEFAULT_RETENTION_MS: u64 = 180 * 86_400_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventName {
    // Cards, portal, presence.
    CardCreated,
    CardRevoked,
    CardOpened,
    PortalViewed,
    PresenceChanged,
    // Contact sessions.
    ContactRequested,
    Routed,
    Ringing,
    Accepted,
    Declined,
    Missed,
    Queued,
    ChatMessage,
    OfflineMessage,
    SessionEnded,
    // Calls.
    CallStarted,
    CallUpgraded,
    CallEnded,
    IcePath,
    IceRestart,
    // Consultation.
    ScreenShareStarted,
    ScreenShareEnded,
    FileSent,
    IdentityCheck,
    Transferred,
    GuestJoined,
    GuestLeft,
    // After the contact.
    ContactRated,
}

impl EventName {
    pub fn as_str(self) -> &'static str {
        match self {
            EventName::CardCreated => "card_created",
            EventName::CardRevoked => "card_revoked",
            EventName::CardOpened => "card_opened",
            EventName::PortalViewed => "portal_viewed",
            EventName::PresenceChanged => "presence_changed",
            EventName::ContactRequested => "contact_requested",
            EventName::Routed => "routed",
            EventName::Ringing => "ringing",
            EventName::Accepted => "accepted",
            EventName::Declined => "declined",
            EventName::Missed => "missed",
            EventName::Queued => "queued",
            EventName::ChatMessage => "chat_message",
            EventName::OfflineMessage => "offline_message",
            EventName::SessionEnded => "session_ended",
            EventName::CallStarted => "call_started",
            EventName::CallUpgraded => "call_upgraded",
            EventName::CallEnded => "call_ended",
            EventName::IcePath => "ice_path",
            EventName::IceRestart => "ice_restart",
            EventName::ScreenShareStarted => "screen_share_started",
            EventName::ScreenShareEnded => "screen_share_ended",
            EventName::FileSent => "file_sent",
            EventName::IdentityCheck => "identity_check",
            EventName::Transferred => "transferred",
            EventName::GuestJoined => "guest_joined",
            EventName::GuestLeft => "guest_left",
            EventName::ContactRated => "contact_rated",
        }
    }
}

/// One analytics event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub schema: u32,
    pub id: EventId,
    pub name: EventName,
    pub at: UnixMillis,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advisor: Option<AdvisorId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub card: Option<CardId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<Channel>,
    /// The contact session, once there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// The visitor's daily pseudonym (see [`crate::visitor`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visitor: Option<String>,
    /// Name-specific details: counts, durations, states. Never free text.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub props: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidEvent {
    #[error("event props are larger than {MAX_PROPS_BYTES} bytes")]
    PropsTooLarge,
    #[error("event schema {0} is not supported")]
    Schema(u32),
}

impl Event {
    /// A new event with only its identity; set the other fields as needed.
    pub fn new(id: EventId, name: EventName, at: UnixMillis) -> Self {
        Self {
            schema: EVENT_SCHEMA,
            id,
            name,
            at,
            advisor: None,
            card: None,
            campaign: None,
            channel: None,
            session: None,
            visitor: None,
            props: Map::new(),
        }
    }

    pub fn with_prop(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.props.insert(key.to_owned(), value.into());
        self
    }

    pub fn validate(&self) -> Result<(), InvalidEvent> {
        if self.schema != EVENT_SCHEMA {
            return Err(InvalidEvent::Schema(self.schema));
        }
        let size = serde_json::to_vec(&self.props)
            .map(|v| v.len())
            .unwrap_or(usize::MAX);
        if size > MAX_PROPS_BYTES {
            return Err(InvalidEvent::PropsTooLarge);
        }
        Ok(())
    }

    /// When the stored event may be deleted.
    pub fn expires_at(&self, retention_ms: u64) -> UnixMillis {
        self.at.saturating_add(retention_ms)
    }

    /// The UTC day (`YYYY-MM-DD`) of the event, the partition for reports.
    pub fn day(&self) -> String {
        utc_day(self.at)
    }
}

/// `YYYY-MM-DD` of a Unix millisecond timestamp (proleptic Gregorian, UTC).
pub fn utc_day(at: UnixMillis) -> String {
    // Days since 1970-01-01 to civil date (Howard Hinnant's algorithm).
    let z = (at / 86_400_000) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` of a Unix millisecond timestamp (UTC).
pub fn utc_rfc3339(at: UnixMillis) -> String {
    let ms = at % 86_400_000;
    format!(
        "{}T{:02}:{:02}:{:02}.{:03}Z",
        utc_day(at),
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_compactly_with_snake_case_names() {
        let event = Event::new(EventId::from_bytes([1; 16]), EventName::CardOpened, 5)
            .with_prop("page", "card");
        let json = serde_json::to_value(&event).expect("serializable");
        assert_eq!(json["name"], "card_opened");
        assert_eq!(json["schema"], 1);
        assert!(json.get("advisor").is_none());
        let back: Event = serde_json::from_value(json).expect("round trip");
        assert_eq!(back, event);
        assert_eq!(EventName::SessionEnded.as_str(), "session_ended");
    }

    #[test]
    fn refuses_large_props() {
        let event = Event::new(EventId::from_bytes([1; 16]), EventName::PortalViewed, 5)
            .with_prop("x", "y".repeat(MAX_PROPS_BYTES));
        assert_eq!(event.validate(), Err(InvalidEvent::PropsTooLarge));
    }

    #[test]
    fn utc_days() {
        assert_eq!(utc_day(0), "1970-01-01");
        assert_eq!(utc_day(951_782_400_000), "2000-02-29");
        assert_eq!(utc_day(1_795_392_000_000), "2026-11-23");
        assert_eq!(
            utc_rfc3339(1_795_392_000_123 + 3_723_000),
            "2026-11-23T01:02:03.123Z"
        );
    }
}
