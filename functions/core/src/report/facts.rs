//! What the events of one contact session say about it. Every event adds
//! to the facts whatever order they arrive in (events of one millisecond
//! have no order), so the result never depends on how the store pages.

use super::SessionRow;
use super::view::EventView;
use crate::UnixMillis;
use crate::event::EventName;

/// How a contact session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Outcome {
    /// An advisor accepted it.
    Accepted,
    /// Nobody answered: rings and the queue ran out.
    Missed,
    /// The visitor left while it rang or waited.
    Abandoned,
    /// The visitor left an offline message instead.
    Offline,
    /// Not ended yet.
    Open,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Accepted => "accepted",
            Outcome::Missed => "missed",
            Outcome::Abandoned => "abandoned",
            Outcome::Offline => "offline",
            Outcome::Open => "open",
        }
    }
}

#[derive(Debug, Default)]
pub(super) struct Facts {
    pub requested_at: Option<UnixMillis>,
    entry: Option<String>,
    topic: Option<String>,
    campaign: Option<String>,
    card: Option<String>,
    channel: Option<String>,
    asked: Option<String>,
    accepted: Option<(u64, Option<String>)>,
    offline: bool,
    missed_rings: u32,
    ended: Option<Ended>,
    chat_total: u64,
    audio: bool,
    video: bool,
    calls: u32,
    call_ms: u64,
    relayed: u32,
    direct: u32,
    failed: u32,
    rating: Option<u8>,
}

#[derive(Debug)]
struct Ended {
    reason: Option<String>,
    wait_ms: Option<u64>,
    talk_ms: u64,
    messages: Option<u64>,
}

impl Facts {
    pub fn add(&mut self, event: &EventView<'_>) {
        match event.name {
            EventName::ContactRequested => {
                self.requested_at = Some(event.at);
                self.entry = event.props.origin.as_ref().map(|t| t.to_string());
                self.topic = event.props.topic.as_ref().map(|t| t.to_string());
                self.campaign = event.campaign.as_ref().map(|t| t.to_string());
                self.card = event.card.as_ref().map(|t| t.to_string());
                self.channel = event.channel.map(|c| c.as_str().to_owned());
                self.asked = event.advisor.as_ref().map(|t| t.to_string());
            }
            EventName::Accepted => {
                let wait = event.props.wait_ms.unwrap_or(0);
                let advisor = event.advisor.as_ref().map(|t| t.to_string());
                self.accepted = Some((wait, advisor));
            }
            EventName::Missed => self.missed_rings += 1,
            EventName::OfflineMessage => self.offline = true,
            EventName::ChatMessage => {
                self.chat_total = self.chat_total.max(event.props.total.unwrap_or(0));
            }
            EventName::CallStarted | EventName::CallUpgraded => {
                let media = event.props.media.as_ref().or(event.props.to.as_ref());
                match media.map(|m| m.as_ref()) {
                    Some("video") => self.video = true,
                    Some("audio") => self.audio = true,
                    _ => {}
                }
            }
            EventName::CallEnded => {
                self.calls += 1;
                self.call_ms += event.props.duration_ms.unwrap_or(0);
                match event.props.path.as_deref() {
                    Some("relay") => self.relayed += 1,
                    Some(_) => self.direct += 1,
                    None => self.failed += 1,
                }
            }
            EventName::SessionEnded => {
                self.ended = Some(Ended {
                    reason: event.props.reason.as_ref().map(|t| t.to_string()),
                    wait_ms: event.props.wait_ms,
                    talk_ms: event.props.talk_ms.unwrap_or(0),
                    messages: event.props.messages,
                });
            }
            EventName::ContactRated => {
                self.rating = event
                    .props
                    .rating
                    .filter(|r| (1..=5).contains(r))
                    .and_then(|r| u8::try_from(r).ok());
            }
            _ => {}
        }
    }

    fn outcome(&self) -> Outcome {
        if self.accepted.is_some() {
            return Outcome::Accepted;
        }
        if self.offline {
            return Outcome::Offline;
        }
        let Some(ended) = &self.ended else {
            return Outcome::Open;
        };
        match ended.reason.as_deref() {
            Some("visitor_left" | "abandoned") => Outcome::Abandoned,
            Some("offline_message") => Outcome::Offline,
            Some(_) => Outcome::Missed,
            // Events from before the reason was recorded.
            None if self.missed_rings > 0 => Outcome::Missed,
            None => Outcome::Abandoned,
        }
    }

    pub fn row(self, id: String, requested_at: UnixMillis) -> SessionRow {
        let outcome = self.outcome();
        let ended = self.ended.as_ref();
        let wait_ms = match &self.accepted {
            Some((wait, _)) => Some(*wait),
            None => ended.and_then(|e| e.wait_ms),
        };
        let talk_ms = match outcome {
            Outcome::Accepted => ended.map(|e| e.talk_ms),
            _ => None,
        };
        let messages = ended
            .and_then(|e| e.messages)
            .unwrap_or(0)
            .max(self.chat_total);
        let media = if self.video {
            "video"
        } else if self.audio {
            "audio"
        } else {
            "chat"
        };
        let channel = self.channel.unwrap_or_else(|| "chat".into());
        let media = match (media, channel.as_str()) {
            ("chat", "video") if outcome == Outcome::Accepted => "video",
            ("chat", "audio") if outcome == Outcome::Accepted => "audio",
            (media, _) => media,
        };
        SessionRow {
            id,
            requested_at,
            entry: self.entry.unwrap_or_else(|| "portal".into()),
            campaign: self.campaign,
            card: self.card,
            topic: self.topic,
            channel,
            advisor: self.accepted.and_then(|(_, a)| a).or(self.asked),
            outcome,
            wait_ms,
            talk_ms,
            messages,
            media: media.to_owned(),
            calls: self.calls,
            call_ms: self.call_ms,
            relayed_calls: self.relayed,
            direct_calls: self.direct,
            failed_calls: self.failed,
            end_reason: ended.and_then(|e| e.reason.clone()),
            missed_rings: self.missed_rings,
            rating: self.rating,
        }
    }
}
