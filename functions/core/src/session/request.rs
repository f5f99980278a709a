//! What the visitor asked for, and where a request waits when nobody is free.

use crate::UnixMillis;
use crate::advisor::Advisor;
use crate::channel::{Channel, ChannelSet};
use crate::ids::AdvisorId;
use crate::offline::Inbox;
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
/// Every field may be missing in what is stored (older sessions).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Wanted {
    pub origin: Origin,
    pub topic: Option<String>,
    pub language: Option<String>,
    /// A card's advisor: asked first and only, until the visitor chooses a
    /// colleague.
    pub advisor: Option<AdvisorId>,
    /// The visitor accepts a colleague of the card's advisor.
    pub colleague: bool,
    /// The advisor this visitor last spoke with (affinity), tried first.
    pub preferred: Option<AdvisorId>,
    /// Since when the visitor chose to wait in the queue: their place in it.
    pub waiting_since: Option<UnixMillis>,
    /// The channels a card link offers: a call on any other is refused,
    /// whoever asks for it. `None`: every channel (portal, widget).
    pub channels: Option<ChannelSet>,
    /// The card link the request came through, and its campaign: the
    /// contact's events carry them (reports' funnel per campaign).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub card: Option<crate::ids::CardId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub campaign: Option<String>,
    /// The page the website widget was on (scheme, host and path; the
    /// query and fragment are dropped), shown to the advisor.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page: Option<String>,
    /// What the visitor's page said about analytics consent.
    #[serde(skip_serializing_if = "crate::forward::Consent::is_unset")]
    pub consent: crate::forward::Consent,
}

impl Wanted {
    /// Is `channel` offered to this contact? Chat always is (a call ends
    /// back in chat).
    pub fn offers(&self, channel: Channel) -> bool {
        channel == Channel::Chat || self.channels.is_none_or(|set| set.contains(channel))
    }

    /// The queue this request waits in: the card advisor's own, the
    /// topic's, or the general one.
    pub fn queue_key(&self) -> QueueKey {
        match (&self.advisor, &self.topic) {
            (Some(advisor), _) if !self.colleague => QueueKey::Advisor(advisor.clone()),
            (_, Some(topic)) => QueueKey::Topic(topic.clone()),
            _ => QueueKey::Any,
        }
    }

    /// Whose inbox an offline message for this request lands in: the card
    /// advisor's (unless the visitor asked for a colleague), else the
    /// topic's, else the card advisor's, else the general topic's.
    pub fn inbox(&self) -> Inbox {
        match (self.queue_key(), &self.advisor) {
            (QueueKey::Advisor(advisor), _) => Inbox::Advisor(advisor),
            (QueueKey::Topic(topic), _) => Inbox::Topic(topic),
            (QueueKey::Any, Some(advisor)) => Inbox::Advisor(advisor.clone()),
            (QueueKey::Any, None) => Inbox::Topic(GENERAL_TOPIC.to_owned()),
        }
    }
}

/// The longest page address kept for a contact.
pub const MAX_PAGE_URL: usize = 512;

/// The address of the page a contact came from, as kept: an `http` or
/// `https` URL of printable ASCII without quotes, angle brackets and the
/// like (browsers percent-encode all of these), cut
/// before its query and fragment (they may carry a visitor's tokens).
/// `None` for anything else.
pub fn page_url(text: &str) -> Option<String> {
    let rest = text
        .strip_prefix("https://")
        .or_else(|| text.strip_prefix("http://"))?;
    let end = text.len() - rest.len() + rest.find(['?', '#']).unwrap_or(rest.len());
    let kept = &text[..end];
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    (!host.is_empty()
        && kept.len() <= MAX_PAGE_URL
        && kept
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b"<>\"'`{}|\\^".contains(&b)))
    .then(|| kept.to_owned())
}

/// The inbox of requests that named neither an advisor nor a topic.
pub const GENERAL_TOPIC: &str = "general";

/// A queue of visitors waiting for an advisor: one advisor's (card links),
/// one topic's, or the general one. Stored as `advisor:<id>`,
/// `topic:<slug>` or `any`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum QueueKey {
    Advisor(AdvisorId),
    Topic(String),
    Any,
}

impl QueueKey {
    /// Reads a stored key; `None` for text that is not one.
    pub fn parse(text: &str) -> Option<QueueKey> {
        if let Some(id) = text.strip_prefix("advisor:") {
            return AdvisorId::parse(id).ok().map(QueueKey::Advisor);
        }
        if let Some(topic) = text.strip_prefix("topic:") {
            return crate::advisor::valid_topic(topic).then(|| QueueKey::Topic(topic.to_owned()));
        }
        (text == "any").then_some(QueueKey::Any)
    }

    /// Can this advisor take the contacts waiting here?
    pub fn served_by(&self, advisor: &Advisor) -> bool {
        match self {
            QueueKey::Advisor(id) => advisor.id == *id,
            QueueKey::Topic(topic) => advisor.topics.iter().any(|t| t == topic),
            QueueKey::Any => true,
        }
    }

    /// The queues an advisor serves, in the order they are served: their
    /// own, their topics', the general one.
    pub fn served_by_advisor(advisor: &Advisor) -> Vec<QueueKey> {
        let mut keys = vec![QueueKey::Advisor(advisor.id.clone())];
        keys.extend(advisor.topics.iter().cloned().map(QueueKey::Topic));
        keys.push(QueueKey::Any);
        keys
    }
}

impl std::fmt::Display for QueueKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            QueueKey::Advisor(id) => write!(f, "advisor:{id}"),
            QueueKey::Topic(topic) => write!(f, "topic:{topic}"),
            QueueKey::Any => f.write_str("any"),
        }
    }
}

#[cfg(test)]
mod page_tests {
    use super::*;

    #[test]
    fn a_page_keeps_scheme_host_and_path_only() {
        assert_eq!(
            page_url("https://shop.example/offers/a%C3%A4?token=secret#top").as_deref(),
            Some("https://shop.example/offers/a%C3%A4")
        );
        assert_eq!(
            page_url("http://localhost:8080#x").as_deref(),
            Some("http://localhost:8080")
        );
        for bad in [
            "javascript:alert(1)",
            "data:text/html,x",
            "https://",
            "https:///path",
            "https://a b/",
            "ftp://x/",
            "https://x/\u{7f}",
            "https://x/ü",
            "https://x/<script>",
            "https://x/\"onload",
        ] {
            assert_eq!(page_url(bad), None, "{bad:?}");
        }
        let long = format!("https://x/{}", "a".repeat(MAX_PAGE_URL));
        assert_eq!(page_url(&long), None);
        let long_query = format!("https://x/p?{}", "a".repeat(4 * MAX_PAGE_URL));
        assert_eq!(page_url(&long_query).as_deref(), Some("https://x/p"));
    }
}
