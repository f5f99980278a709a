//! Offline messages: what a visitor leaves when nobody can take the contact.
//! They land in the advisor's inbox (card links) or the topic's inbox.

use crate::UnixMillis;
use crate::advisor::valid_topic;
use crate::ids::{AdvisorId, RandomId};
use serde::{Deserialize, Serialize};

pub const MAX_NAME_CHARS: usize = 100;
pub const MAX_EMAIL_LEN: usize = 254;
pub const MAX_TEXT_CHARS: usize = 4000;

/// Whose inbox a message lands in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Inbox {
    Advisor(AdvisorId),
    Topic(String),
}

impl Inbox {
    /// A stable key for storage (`advisor:<id>`, `topic:<slug>`).
    pub fn key(&self) -> String {
        match self {
            Inbox::Advisor(id) => format!("advisor:{id}"),
            Inbox::Topic(topic) => format!("topic:{topic}"),
        }
    }
}

/// A validated offline message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfflineMessage {
    pub id: RandomId,
    pub inbox: Inbox,
    pub name: String,
    pub email: String,
    pub text: String,
    pub at: UnixMillis,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InvalidOfflineMessage {
    #[error("name must be 1 to 100 characters without control characters")]
    Name,
    #[error("email must look like name@example.com (at most 254 characters)")]
    Email,
    #[error("the message must be 1 to 4000 characters")]
    Text,
    #[error("the topic must be a slug of 1 to 32 characters")]
    Topic,
}

impl OfflineMessage {
    pub fn new(
        id: RandomId,
        inbox: Inbox,
        name: &str,
        email: &str,
        text: &str,
        at: UnixMillis,
    ) -> Result<Self, InvalidOfflineMessage> {
        let name = name.trim();
        let count = name.chars().count();
        if count == 0 || count > MAX_NAME_CHARS || name.chars().any(char::is_control) {
            return Err(InvalidOfflineMessage::Name);
        }
        let email = email.trim();
        let shape = email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        });
        if !shape
            || email.len() > MAX_EMAIL_LEN
            || email.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(InvalidOfflineMessage::Email);
        }
        let text = text.trim();
        let count = text.chars().count();
        if count == 0 || count > MAX_TEXT_CHARS {
            return Err(InvalidOfflineMessage::Text);
        }
        if matches!(&inbox, Inbox::Topic(topic) if !valid_topic(topic)) {
            return Err(InvalidOfflineMessage::Topic);
        }
        Ok(Self {
            id,
            inbox,
            name: name.to_owned(),
            email: email.to_owned(),
            text: text.to_owned(),
            at,
        })
    }
}

/// A place in an inbox listing, newest first: the next page holds the
/// messages after it (older, or as old with a smaller id). One order for
/// every inbox, so a listing of several inboxes merges by it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxPosition {
    pub at: UnixMillis,
    pub id: RandomId,
}

impl InboxPosition {
    pub fn of(message: &OfflineMessage) -> Self {
        Self {
            at: message.at,
            id: message.id.clone(),
        }
    }

    /// The key messages are ordered by (the store's index sort key): time,
    /// then id; a greater key is newer.
    pub fn sort_key(&self) -> String {
        format!("{:013}#{}", self.at, self.id)
    }

    /// The cursor a client hands back: `<at>.<id>`.
    pub fn cursor(&self) -> String {
        format!("{}.{}", self.at, self.id)
    }

    pub fn parse_cursor(text: &str) -> Option<Self> {
        let (at, id) = text.split_once('.')?;
        if at.is_empty() || at.len() > 13 || !at.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(Self {
            at: at.parse().ok()?,
            id: RandomId::parse(id).ok()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn make(name: &str, email: &str, text: &str) -> Result<OfflineMessage, InvalidOfflineMessage> {
        let inbox = Inbox::Advisor(AdvisorId::parse("anna").expect("valid"));
        OfflineMessage::new(RandomId::from_bytes([1; 16]), inbox, name, email, text, 5)
    }

    #[test]
    fn validates_fields() {
        let ok = make(" Eva ", "eva@example.com", "Please call me <b>back</b>").expect("valid");
        assert_eq!(ok.name, "Eva");
        assert_eq!(ok.inbox.key(), "advisor:anna");
        assert_eq!(
            make("", "eva@example.com", "x"),
            Err(InvalidOfflineMessage::Name)
        );
        assert_eq!(make("Eva", "eva", "x"), Err(InvalidOfflineMessage::Email));
        assert_eq!(
            make("Eva", "eva@localhost", "x"),
            Err(InvalidOfflineMessage::Email)
        );
        assert_eq!(
            make("Eva", "e va@example.com", "x"),
            Err(InvalidOfflineMessage::Email)
        );
        assert_eq!(
            make("Eva", "eva@example.com", "  "),
            Err(InvalidOfflineMessage::Text)
        );
        assert_eq!(
            make("Eva", "eva@example.com", &"x".repeat(4001)),
            Err(InvalidOfflineMessage::Text)
        );
        let bad_topic = OfflineMessage::new(
            RandomId::from_bytes([1; 16]),
            Inbox::Topic("A B".into()),
            "Eva",
            "eva@example.com",
            "x",
            5,
        );
        assert_eq!(bad_topic, Err(InvalidOfflineMessage::Topic));
    }

    #[test]
    fn positions_order_and_round_trip() {
        let a = make("Eva", "eva@example.com", "x").expect("valid");
        let position = InboxPosition::of(&a);
        assert_eq!(
            InboxPosition::parse_cursor(&position.cursor()),
            Some(position.clone())
        );
        let later = InboxPosition {
            at: 10,
            ..position.clone()
        };
        assert!(
            later.sort_key() > position.sort_key(),
            "newer sorts greater"
        );
        for bad in [
            "",
            "5",
            "x.AAAAAAAAAAAAAAAAAAAAAA",
            "5.short",
            "99999999999999.AAAAAAAAAAAAAAAAAAAAAA",
        ] {
            assert_eq!(InboxPosition::parse_cursor(bad), None, "{bad}");
        }
    }
}
