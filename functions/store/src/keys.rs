//! Every key of the table, defined once: the partition (`pk`) and sort
//! (`sk`) keys of each item and the partitions of the index (`gsi1pk`), as
//! `docs/store.md` lists them. Nothing else in the store writes a key
//! prefix.

use livecard_core::UnixMillis;
use livecard_core::ids::{AdvisorId, CardId};
use livecard_core::session::{QueueKey, Side};

// Sort keys of single-item partitions.
pub const PROFILE: &str = "PROFILE";
pub const META: &str = "META";
pub const LAST: &str = "LAST";
pub const OFFLINE: &str = "OFFLINE";
pub const CARD: &str = "CARD";
pub const EVENT: &str = "EVENT";
pub const BATCH: &str = "BATCH";
pub const APIKEY: &str = "APIKEY";
pub const SEEN: &str = "SEEN";
pub const SIGNIN: &str = "SIGNIN";
pub const CONN: &str = "CONN";
pub const NODE: &str = "NODE";
pub const DEST: &str = "DEST";
pub const DELIVERY: &str = "DELIVERY";
pub const PARCEL: &str = "PARCEL";
pub const CONFIG: &str = "CONFIG";

/// The TURN and STUN servers set through the admin API (one item).
pub const ICE_SERVERS: &str = "ICESERVERS";

// Index partitions that list one kind of item.
pub const ADVISORS: &str = "ADVISORS";
pub const CARDS: &str = "CARDS";
pub const WAITING: &str = "WAITING";
pub const MEDIANODES: &str = "MEDIANODES";
pub const DESTINATIONS: &str = "DESTINATIONS";

const SESSION_PREFIX: &str = "SESSION#";
/// The sort keys of a session's chat messages begin with this.
pub const MESSAGE_PREFIX: &str = "MSG#";

pub fn advisor(id: &AdvisorId) -> String {
    format!("ADVISOR#{id}")
}

pub fn session(id: &str) -> String {
    format!("{SESSION_PREFIX}{id}")
}

/// The session id of a session partition key.
pub fn session_id(pk: &str) -> Option<&str> {
    pk.strip_prefix(SESSION_PREFIX)
}

/// Sessions are found by the sweep in one index partition per UTC day of
/// their deadline.
pub fn due(at: UnixMillis) -> String {
    format!("DUE#{}", livecard_core::event::utc_day(at))
}

/// Who sent a message, in its keys: the side, and for an advisor's message
/// with an author, `advisor#<author>` (advisor ids have no `#`).
fn sender(side: Side, author: Option<&AdvisorId>) -> String {
    match author {
        Some(author) => format!("{}#{author}", side.as_str()),
        None => side.as_str().to_owned(),
    }
}

/// Orders a session's messages: `MSG#<ms, 13 digits>#<sender>#<sender id>`.
pub fn message(at: UnixMillis, side: Side, author: Option<&AdvisorId>, client_id: &str) -> String {
    format!(
        "{MESSAGE_PREFIX}{at:013}#{}#{client_id}",
        sender(side, author)
    )
}

/// A message key `by_ms` earlier than `key`: resuming after it replays
/// what was stored out of key order around `key` (two messages in one
/// millisecond sort by side and sender id, not by arrival; a write that
/// took a moment keeps the time it started). `None` when `key` is not a
/// message key.
pub fn rewound(key: &str, by_ms: u64) -> Option<String> {
    let digits = key.strip_prefix(MESSAGE_PREFIX)?.get(..13)?;
    let at: UnixMillis = digits.parse().ok()?;
    Some(format!("{MESSAGE_PREFIX}{:013}", at.saturating_sub(by_ms)))
}

/// Marks a sender's message id as used in its session.
pub fn client_id(side: Side, author: Option<&AdvisorId>, client_id: &str) -> String {
    format!("CID#{}#{client_id}", sender(side, author))
}

/// An identity image's record in its session's partition.
pub const IDENTITY_IMAGE_PREFIX: &str = "IDIMG#";

pub fn identity_image(id: &str) -> String {
    format!("{IDENTITY_IMAGE_PREFIX}{id}")
}

/// The sealed bytes of an identity image, piece by piece.
pub fn identity_image_piece(id: &str, piece: usize) -> String {
    format!("IDIMGDATA#{id}#{piece:03}")
}

pub fn identity_image_pieces(id: &str) -> String {
    format!("IDIMGDATA#{id}#")
}

/// The sessions an advisor is in: one item per session (sort key: its id).
pub fn attending(advisor: &AdvisorId) -> String {
    format!("ATTENDS#{advisor}")
}

pub fn queue(queue: &QueueKey) -> String {
    format!("QUEUE#{queue}")
}

/// A queue entry: its place (`since`), ties broken by session id.
pub fn queue_entry(since: UnixMillis, session: &str) -> String {
    format!("{since:013}#{session}")
}

pub fn visitor(visitor: &str) -> String {
    format!("VISITOR#{visitor}")
}

/// A visitor's index entry for one of their sessions (in `visitor()`).
pub fn visitor_session(session: &str) -> String {
    format!("{VISITOR_SESSION_PREFIX}{session}")
}

pub const VISITOR_SESSION_PREFIX: &str = "SESSION#";

/// The mark of an erased session (its outbox deliveries are dropped).
pub fn erased(session: &str) -> String {
    format!("ERASED#{session}")
}

pub fn offline(id: &impl std::fmt::Display) -> String {
    format!("OFFLINE#{id}")
}

/// The index partition of an inbox (`Inbox::key`).
pub fn inbox(inbox: &str) -> String {
    format!("INBOX#{inbox}")
}

/// A scope's saved replies (`ReplyScope::key`).
pub fn replies(scope: &str) -> String {
    format!("REPLIES#{scope}")
}

/// One saved reply in its scope's partition.
pub fn reply(shortcut: &str) -> String {
    format!("{REPLY_PREFIX}{shortcut}")
}

pub const REPLY_PREFIX: &str = "REPLY#";

pub fn card(id: &CardId) -> String {
    format!("CARD#{id}")
}

pub fn event(id: &impl std::fmt::Display) -> String {
    format!("EVENT#{id}")
}

pub fn event_batch(first: &impl std::fmt::Display) -> String {
    format!("EVENTBATCH#{first}")
}

/// The index partition of a day's events (`YYYY-MM-DD`).
pub fn events_of(day: &str) -> String {
    format!("EVENTS#{day}")
}

pub fn api_key(hash: &str) -> String {
    format!("APIKEY#{hash}")
}

pub fn seen(key: &str) -> String {
    format!("SEEN#{key}")
}

pub fn signin(hash: &str) -> String {
    format!("SIGNIN#{hash}")
}

pub fn connection(id: &str) -> String {
    format!("CONN#{id}")
}

/// A Microsoft Graph subscription of the Teams connector.
pub fn graph_subscription(id: &str) -> String {
    format!("GRAPHSUB#{id}")
}

/// The subscribers of a topic (`advisor:<id>`, `visitor:<session>`).
pub fn subscribers(topic: &str) -> String {
    format!("SUBS#{topic}")
}

pub fn media_node(id: &impl std::fmt::Display) -> String {
    format!("MEDIANODE#{id}")
}

pub fn destination(id: &impl std::fmt::Display) -> String {
    format!("DEST#{id}")
}

/// One (event, destination) delivery of the forwarding outbox.
pub fn delivery(destination: &impl std::fmt::Display, event: &impl std::fmt::Display) -> String {
    format!("DELIVERY#{destination}#{event}")
}

/// Deliveries to one destination recorded together.
pub fn parcel(destination: &impl std::fmt::Display, first: &impl std::fmt::Display) -> String {
    format!("PARCEL#{destination}#{first}")
}

/// The index partition of a destination's pending parcels.
pub fn parcels(destination: &impl std::fmt::Display) -> String {
    format!("PARCELS#{destination}")
}

/// The index partition of a destination's deliveries in one state:
/// `OUTBOX#<id>` (pending, by due time), `DEAD#<id>`, `EXPIRED#<id>`
/// (by the time they were settled). Done deliveries are in none.
pub fn deliveries(
    state: livecard_core::forward::DeliveryState,
    destination: &impl std::fmt::Display,
) -> Option<String> {
    use livecard_core::forward::DeliveryState;
    let prefix = match state {
        DeliveryState::Pending => "OUTBOX",
        DeliveryState::Dead => "DEAD",
        DeliveryState::Expired => "EXPIRED",
        DeliveryState::Done => return None,
    };
    Some(format!("{prefix}#{destination}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rewound_key_sorts_before_every_message_of_the_margin() {
        let key = message(10_000, Side::Visitor, None, "m1");
        let rewound = rewound(&key, 3_000).expect("a message key");
        assert!(rewound < message(7_000, Side::Advisor, None, "a"));
        assert!(rewound > message(6_999, Side::Visitor, None, "z"));
        assert_eq!(super::rewound("MSG#12", 5), None);
        assert_eq!(super::rewound("CARD#x", 5), None);
    }
}
