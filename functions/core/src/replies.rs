//! Saved replies: texts an advisor inserts into a chat by typing `/` and
//! their shortcut. Each advisor has their own; the shared ones are the
//! team's, and every advisor may edit them (the console shows who changed
//! one last).

use crate::UnixMillis;
use crate::ids::AdvisorId;
use serde::{Deserialize, Serialize};

/// Longest reply text, in characters (a chat message may be 4000).
pub const MAX_REPLY_CHARS: usize = 2000;
/// Most replies in one scope (an advisor's own, or the shared ones).
pub const MAX_REPLIES: usize = 100;
/// Longest shortcut, in characters.
pub const MAX_SHORTCUT_CHARS: usize = 32;

/// Whose replies.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ReplyScope {
    /// One advisor's own.
    Advisor(AdvisorId),
    /// The team's.
    Shared,
}

impl ReplyScope {
    /// The scope a signed-in advisor means by `mine` or `shared`.
    pub fn parse(text: &str, me: &AdvisorId) -> Option<ReplyScope> {
        match text {
            "mine" => Some(ReplyScope::Advisor(me.clone())),
            "shared" => Some(ReplyScope::Shared),
            _ => None,
        }
    }

    /// How the store names it: `advisor:<id>` or `shared`.
    pub fn key(&self) -> String {
        match self {
            ReplyScope::Advisor(id) => format!("advisor:{id}"),
            ReplyScope::Shared => "shared".to_owned(),
        }
    }
}

/// One saved reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedReply {
    /// 1 to 32 of `a-z0-9-`, unique in its scope: typed after `/`.
    pub shortcut: String,
    /// 1 to 2000 characters, shown and sent as text, never markup.
    pub text: String,
    pub updated_at: UnixMillis,
    /// Who saved it last.
    pub updated_by: AdvisorId,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplyError {
    #[error("shortcut must be 1 to 32 characters of a-z, 0-9 and '-'")]
    Shortcut,
    #[error("text must be 1 to 2000 characters")]
    Text,
}

/// Is `shortcut` a valid shortcut?
pub fn valid_shortcut(shortcut: &str) -> bool {
    !shortcut.is_empty()
        && shortcut.len() <= MAX_SHORTCUT_CHARS
        && shortcut
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

impl SavedReply {
    /// A reply from what an advisor typed: the text is trimmed at its ends
    /// (inner line breaks stay); control characters other than line breaks
    /// and tabs are refused.
    pub fn new(
        shortcut: &str,
        text: &str,
        by: &AdvisorId,
        now: UnixMillis,
    ) -> Result<SavedReply, ReplyError> {
        if !valid_shortcut(shortcut) {
            return Err(ReplyError::Shortcut);
        }
        let text = text.trim();
        let chars = text.chars().count();
        if chars == 0
            || chars > MAX_REPLY_CHARS
            || text
                .chars()
                .any(|c| c.is_control() && c != '\n' && c != '\t')
        {
            return Err(ReplyError::Text);
        }
        Ok(SavedReply {
            shortcut: shortcut.to_owned(),
            text: text.to_owned(),
            updated_at: now,
            updated_by: by.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn anna() -> AdvisorId {
        AdvisorId::parse("anna").expect("id")
    }

    #[test]
    fn shortcuts_are_slugs_and_texts_are_bounded() {
        assert!(SavedReply::new("greeting", "  Hello!\nHow can I help? ", &anna(), 5).is_ok());
        assert_eq!(
            SavedReply::new("greeting", " Hi ", &anna(), 5)
                .map(|r| r.text)
                .as_deref(),
            Ok("Hi")
        );
        for bad in ["", "Greeting", "a b", "a/b", &"x".repeat(33), "ü"] {
            assert_eq!(
                SavedReply::new(bad, "Hi", &anna(), 5),
                Err(ReplyError::Shortcut),
                "{bad:?}"
            );
        }
        for bad in ["", "   ", "a\u{0}b", "a\u{1b}[31m"] {
            assert_eq!(
                SavedReply::new("x", bad, &anna(), 5),
                Err(ReplyError::Text),
                "{bad:?}"
            );
        }
        assert!(SavedReply::new("x", &"é".repeat(MAX_REPLY_CHARS), &anna(), 5).is_ok());
        assert_eq!(
            SavedReply::new("x", &"é".repeat(MAX_REPLY_CHARS + 1), &anna(), 5),
            Err(ReplyError::Text)
        );
    }

    #[test]
    fn scopes_are_mine_or_shared() {
        assert_eq!(
            ReplyScope::parse("mine", &anna()),
            Some(ReplyScope::Advisor(anna()))
        );
        assert_eq!(
            ReplyScope::parse("shared", &anna()),
            Some(ReplyScope::Shared)
        );
        assert_eq!(ReplyScope::parse("ben", &anna()), None);
        assert_eq!(ReplyScope::Advisor(anna()).key(), "advisor:anna");
    }
}
