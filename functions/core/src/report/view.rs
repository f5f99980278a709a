//! An event as a report reads it: borrowed from the stored JSON where it
//! can be, with only the properties reports use. Reading a million events
//! this way allocates little (an owned [`Event`] is a dozen allocations).

use crate::UnixMillis;
use crate::channel::Channel;
use crate::event::{EVENT_SCHEMA, Event, EventName};
use serde::Deserialize;
use serde_json::Value;
use std::borrow::Cow;

type Text<'a> = Option<Cow<'a, str>>;

#[derive(Debug, Deserialize)]
pub(super) struct EventView<'a> {
    pub schema: u32,
    #[serde(borrow)]
    pub id: Cow<'a, str>,
    pub name: EventName,
    pub at: UnixMillis,
    #[serde(borrow, default)]
    pub advisor: Text<'a>,
    #[serde(borrow, default)]
    pub card: Text<'a>,
    #[serde(borrow, default)]
    pub campaign: Text<'a>,
    #[serde(default)]
    pub channel: Option<Channel>,
    #[serde(borrow, default)]
    pub session: Text<'a>,
    #[serde(borrow, default)]
    pub props: Props<'a>,
}

/// The properties reports read (`events.md`); others are skipped.
#[derive(Debug, Default, Deserialize)]
pub(super) struct Props<'a> {
    #[serde(borrow, default)]
    pub origin: Text<'a>,
    #[serde(borrow, default)]
    pub topic: Text<'a>,
    #[serde(borrow, default)]
    pub media: Text<'a>,
    #[serde(borrow, default)]
    pub to: Text<'a>,
    #[serde(borrow, default)]
    pub path: Text<'a>,
    #[serde(borrow, default)]
    pub reason: Text<'a>,
    #[serde(default)]
    pub wait_ms: Option<u64>,
    #[serde(default)]
    pub talk_ms: Option<u64>,
    #[serde(default)]
    pub messages: Option<u64>,
    #[serde(default)]
    pub total: Option<u64>,
    #[serde(default)]
    pub duration_ms: Option<u64>,
    /// `contact_rated`: 1 to 5.
    #[serde(default)]
    pub rating: Option<u64>,
}

impl<'a> EventView<'a> {
    /// The view of an owned event.
    pub fn of(event: &'a Event) -> Self {
        let text = |key: &str| {
            event
                .props
                .get(key)
                .and_then(Value::as_str)
                .map(Cow::Borrowed)
        };
        let number = |key: &str| event.props.get(key).and_then(Value::as_u64);
        Self {
            schema: event.schema,
            id: Cow::Borrowed(event.id.as_str()),
            name: event.name,
            at: event.at,
            advisor: event.advisor.as_ref().map(|a| Cow::Borrowed(a.as_str())),
            card: event.card.as_ref().map(|c| Cow::Borrowed(c.as_str())),
            campaign: event.campaign.as_deref().map(Cow::Borrowed),
            channel: event.channel,
            session: event.session.as_deref().map(Cow::Borrowed),
            props: Props {
                origin: text("origin"),
                topic: text("topic"),
                media: text("media"),
                to: text("to"),
                path: text("path"),
                reason: text("reason"),
                wait_ms: number("wait_ms"),
                talk_ms: number("talk_ms"),
                messages: number("messages"),
                total: number("total"),
                duration_ms: number("duration_ms"),
                rating: number("rating"),
            },
        }
    }

    pub fn supported(&self) -> bool {
        self.schema == EVENT_SCHEMA
    }
}
