//! Forwarding analytics events to the company's own tools (GA4, Matomo,
//! signed webhooks), at least once and only with consent
//! (`docs/analytics.md`).
//!
//! The hosts keep an outbox in the store: one *delivery* per (event,
//! destination), created when the event is recorded and the visitor's
//! consent allows it ([`Subject`]), and settled only after the destination
//! acknowledged it. Everything here is pure: what is forwarded where
//! ([`forwarded`], [`Target::wants`]), the payloads ([`ga4`], [`matomo`],
//! [`hooks`]), the batches, what an answer means and when to try again
//! ([`retry`]). The hosts do the sending and the storing.

pub mod ga4;
pub mod hooks;
pub mod matomo;
pub mod retry;

use crate::UnixMillis;
use crate::event::{Event, EventName};
use crate::ids::DestinationId;
use crate::session::Origin;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// The most destinations one deployment may configure.
pub const MAX_DESTINATIONS: usize = 16;
/// The longest `last_status` kept on a delivery.
pub const MAX_STATUS_LEN: usize = 300;

/// The events that leave livecard. Presence, routing, rings, declines,
/// ICE paths and single chat messages stay internal (workforce and
/// operations data); the chat is counted at `session_ended`.
pub fn forwarded(name: EventName) -> bool {
    matches!(
        name,
        EventName::CardOpened
            | EventName::PortalViewed
            | EventName::ContactRequested
            | EventName::Queued
            | EventName::Accepted
            | EventName::Missed
            | EventName::OfflineMessage
            | EventName::CallStarted
            | EventName::CallUpgraded
            | EventName::CallEnded
            | EventName::SessionEnded
    )
}

/// Every forwarded event name, in the order of the docs.
pub const FORWARDED: [EventName; 11] = [
    EventName::CardOpened,
    EventName::PortalViewed,
    EventName::ContactRequested,
    EventName::Queued,
    EventName::Accepted,
    EventName::Missed,
    EventName::OfflineMessage,
    EventName::CallStarted,
    EventName::CallUpgraded,
    EventName::CallEnded,
    EventName::SessionEnded,
];

/// A secret value of a destination: never printed, never listed.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(…)")
    }
}

/// What the page told us about the visitor's consent (the card page's and
/// portal's banner, or the widget's host page through its consent
/// manager). Kept on the contact session.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Consent {
    /// Analytics (statistics) consent was granted.
    pub analytics: bool,
    /// GA4's client id from the page (gtag `client_id`, `_ga` cookie),
    /// only with consent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ga_client_id: Option<String>,
    /// GA4's session id from the page (gtag `session_id`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ga_session_id: Option<String>,
    /// Matomo's visitor id from the page (16 hex), only with consent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matomo_visitor: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct FieldError {
    pub field: String,
    pub reason: &'static str,
}

pub(crate) fn field_error(field: &str, reason: &'static str) -> FieldError {
    FieldError {
        field: field.to_owned(),
        reason,
    }
}

impl Consent {
    /// Nothing granted (the default, stored as nothing).
    pub fn is_unset(&self) -> bool {
        *self == Consent::default()
    }

    /// Checks what a page sent; ids sent without consent are dropped.
    pub fn checked(mut self) -> Result<Consent, FieldError> {
        if !self.analytics {
            return Ok(Consent::default());
        }
        if let Some(id) = &self.ga_client_id
            && !(1..=64).contains(&id.len())
        {
            return Err(field_error("consent.ga_client_id", "1 to 64 characters"));
        }
        if let Some(id) = &self.ga_client_id
            && !id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        {
            return Err(field_error(
                "consent.ga_client_id",
                "letters, digits, dots, dashes and underscores only",
            ));
        }
        if let Some(id) = &self.ga_session_id
            && !((1..=20).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(field_error("consent.ga_session_id", "1 to 20 digits"));
        }
        if let Some(id) = &self.matomo_visitor {
            if !matomo::is_visitor_id(id) {
                return Err(field_error("consent.matomo_visitor", "16 hex digits"));
            }
            self.matomo_visitor = Some(id.to_ascii_lowercase());
        }
        Ok(self)
    }
}

/// Who an event is about, as far as a destination may know: resolved by
/// the host from the visitor's consent when the delivery is made, so a
/// retry sends the same ids.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Subject {
    /// GA4's `client_id` (only with consent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ga_client_id: Option<String>,
    /// GA4's `session_id`: the page's, or one for the contact session.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ga_session_id: Option<String>,
    /// Matomo's `_id` (16 hex): the page's, a pseudonym of the visitor
    /// (with consent), or one per contact session (cookieless mode).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matomo_visitor: Option<String>,
    /// Where the contact began.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entry: Option<Origin>,
    /// The topic asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
}

/// One event on its way to one destination.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// The event as it leaves: the visitor pseudonym removed, the advisor
    /// a keyed pseudonym (or removed), as the destination allows.
    pub event: Event,
    pub subject: Subject,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Not acknowledged yet: due at `next_at`.
    Pending,
    /// The destination acknowledged it.
    Done,
    /// Refused for good, or out of attempts: in the dead-letter list until
    /// an admin replays it.
    Dead,
    /// Too old for the destination to accept it any more.
    Expired,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Done => "done",
            DeliveryState::Dead => "dead",
            DeliveryState::Expired => "expired",
        }
    }
}

/// One (event, destination) pair in the outbox.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub destination: DestinationId,
    pub job: Job,
    pub state: DeliveryState,
    /// Attempts started so far (a started attempt counts even if the host
    /// died during it).
    pub attempts: u32,
    /// When it is due (pending), or when it was settled.
    pub next_at: UnixMillis,
    pub last_status: Option<String>,
}

impl Delivery {
    pub fn new(destination: DestinationId, job: Job, now: UnixMillis) -> Self {
        Self {
            destination,
            job,
            state: DeliveryState::Pending,
            attempts: 0,
            next_at: now,
            last_status: None,
        }
    }

    pub fn event_id(&self) -> &crate::ids::EventId {
        &self.job.event.id
    }
}

/// Deliveries to one destination made together (a batch of the host's
/// writer, or one event's): stored as one item so that recording costs one
/// write per batch. The forwarder takes a parcel whole; what the
/// destination does not acknowledge becomes single deliveries (retries,
/// dead letters, expired), and the parcel is done.
#[derive(Debug, Clone, PartialEq)]
pub struct Parcel {
    pub destination: DestinationId,
    /// The first job's event id: a parcel written again is made once.
    pub id: crate::ids::EventId,
    pub jobs: Vec<Job>,
    /// Attempts started (claims).
    pub attempts: u32,
    /// When it is due (the end of a claim's lease while one holds it).
    pub next_at: UnixMillis,
    pub done: bool,
}

/// The most jobs in one parcel.
pub const MAX_PARCEL: usize = 100;

/// Parcels of `deliveries`: per destination, in order, at most
/// [`MAX_PARCEL`] jobs each, due at `now`.
pub fn parcels(deliveries: &[Delivery], now: UnixMillis) -> Vec<Parcel> {
    let mut by_destination: Vec<(DestinationId, Vec<Job>)> = Vec::new();
    for d in deliveries {
        match by_destination
            .iter_mut()
            .find(|(id, _)| *id == d.destination)
        {
            Some((_, jobs)) => jobs.push(d.job.clone()),
            None => by_destination.push((d.destination.clone(), vec![d.job.clone()])),
        }
    }
    let mut out = Vec::new();
    for (destination, jobs) in by_destination {
        for chunk in jobs.chunks(MAX_PARCEL) {
            out.push(Parcel {
                destination: destination.clone(),
                id: chunk[0].event.id.clone(),
                jobs: chunk.to_vec(),
                attempts: 0,
                next_at: now,
                done: false,
            });
        }
    }
    out
}

/// A destination: where forwarded events go, and whether it takes them now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Destination {
    pub id: DestinationId,
    pub target: Target,
    #[serde(default)]
    pub state: DestinationState,
}

/// Whether a destination is sent to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum DestinationState {
    #[default]
    Active,
    /// Not sent to until `until` (automatic, e.g. Matomo's tracking is
    /// switched off) or until an admin resumes it (`until` unset).
    Paused {
        reason: String,
        since: UnixMillis,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        until: Option<UnixMillis>,
    },
    /// The endpoint asked to be left alone (a webhook's 410): an admin
    /// resumes it.
    Disabled { reason: String, since: UnixMillis },
}

impl DestinationState {
    /// Is the destination sent to at `now`?
    pub fn sends_at(&self, now: UnixMillis) -> bool {
        match self {
            DestinationState::Active => true,
            DestinationState::Paused { until, .. } => until.is_some_and(|until| now >= until),
            DestinationState::Disabled { .. } => false,
        }
    }
}

/// The kinds of destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Target {
    Ga4(ga4::Ga4),
    Matomo(matomo::Matomo),
    Webhook(hooks::Webhook),
}

/// Checks an http(s) URL of a destination: at most 2,048 bytes, a host,
/// no credentials or fragment. `http` only for an address literal (a
/// loopback capture server in tests, allowed by the forwarding allow-list
/// the host checks on every request).
pub fn checked_url(field: &str, value: &str) -> Result<url::Url, FieldError> {
    if value.len() > 2048 {
        return Err(field_error(field, "at most 2048 bytes"));
    }
    let url = url::Url::parse(value).map_err(|_| field_error(field, "not a URL"))?;
    let literal = matches!(
        url.host(),
        Some(url::Host::Ipv4(_)) | Some(url::Host::Ipv6(_))
    );
    match url.scheme() {
        "https" => {}
        "http" if literal => {}
        _ => return Err(field_error(field, "must be an https URL")),
    }
    if url.host().is_none() {
        return Err(field_error(field, "has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(field_error(field, "must not carry credentials"));
    }
    if url.fragment().is_some() {
        return Err(field_error(field, "must not have a fragment"));
    }
    Ok(url)
}

/// A secret typed by an admin: printable ASCII without spaces, within
/// `len`.
pub(crate) fn checked_token(
    field: &str,
    value: &str,
    len: std::ops::RangeInclusive<usize>,
) -> Result<(), FieldError> {
    if !len.contains(&value.len()) {
        return Err(field_error(field, "has the wrong length"));
    }
    if !value.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(field_error(field, "must be printable ASCII without spaces"));
    }
    Ok(())
}

impl Target {
    pub fn kind(&self) -> &'static str {
        match self {
            Target::Ga4(_) => "ga4",
            Target::Matomo(_) => "matomo",
            Target::Webhook(_) => "webhook",
        }
    }

    /// Checks every field; the error names the first bad one.
    pub fn check(&self) -> Result<(), FieldError> {
        match self {
            Target::Ga4(t) => t.check(),
            Target::Matomo(t) => t.check(),
            Target::Webhook(t) => t.check(),
        }
    }

    /// The URL requests go to (for the host's address checks).
    pub fn url(&self) -> String {
        match self {
            Target::Ga4(t) => t.collect_url(),
            Target::Matomo(t) => t.tracker_url(),
            Target::Webhook(t) => t.url.clone(),
        }
    }

    /// Does this destination take `name` for a visitor with `consent`?
    /// GA4: only with analytics consent and the page's client id. Matomo:
    /// with consent, or in its cookieless mode. Webhooks (the company's
    /// own systems, ids only): the events they subscribed to.
    pub fn wants(&self, name: EventName, consent: &Consent) -> bool {
        if !forwarded(name) {
            return false;
        }
        match self {
            Target::Ga4(_) => consent.analytics && consent.ga_client_id.is_some(),
            Target::Matomo(t) => consent.analytics || t.cookieless,
            Target::Webhook(t) => t.events.as_ref().is_none_or(|e| e.contains(&name)),
        }
    }

    /// Whether advisors may appear (as a keyed pseudonym).
    pub fn per_advisor(&self) -> bool {
        match self {
            Target::Ga4(t) => t.advisors,
            Target::Matomo(t) => t.advisors,
            Target::Webhook(_) => true,
        }
    }

    /// Events older than this are no longer accepted by the destination:
    /// deliveries stop then and count as expired.
    pub fn max_age_ms(&self) -> u64 {
        match self {
            Target::Ga4(_) => ga4::MAX_AGE_MS,
            Target::Matomo(t) => t.max_age_ms(),
            Target::Webhook(_) => hooks::MAX_AGE_MS,
        }
    }

    /// How many deliveries one request carries at most.
    pub fn max_batch(&self) -> usize {
        match self {
            Target::Ga4(_) => ga4::MAX_EVENTS,
            Target::Matomo(_) => matomo::MAX_HITS,
            Target::Webhook(_) => 1,
        }
    }

    /// The same target with its secrets blanked, for listings.
    pub fn redacted(&self) -> Target {
        let hide = |s: &Secret| Secret(format!("…{} characters", s.0.len()));
        match self {
            Target::Ga4(t) => Target::Ga4(ga4::Ga4 {
                api_secret: hide(&t.api_secret),
                ..t.clone()
            }),
            Target::Matomo(t) => Target::Matomo(matomo::Matomo {
                token_auth: t.token_auth.as_ref().map(hide),
                ..t.clone()
            }),
            Target::Webhook(t) => Target::Webhook(hooks::Webhook {
                secrets: t.secrets.iter().map(hide).collect(),
                ..t.clone()
            }),
        }
    }
}

/// One request to a destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutRequest {
    /// Always a POST.
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// A batch planned for one request: the deliveries it carries (indices
/// into what was given) and the ones that could not be mapped (index and
/// reason), which go to the dead-letter list.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    pub requests: Vec<(OutRequest, Vec<usize>)>,
    pub unmappable: Vec<(usize, String)>,
}

/// Builds the requests for `jobs` (oldest first) to `target` at `now`.
/// `public_url` is the deployment's (Matomo's `url` of each hit).
pub fn plan(target: &Target, jobs: &[&Job], now: UnixMillis, public_url: &str) -> Plan {
    match target {
        Target::Ga4(t) => t.plan(jobs),
        Target::Matomo(t) => t.plan(jobs, now, public_url),
        Target::Webhook(t) => t.plan(jobs, now),
    }
}

/// The readable parameters of an event that destinations may receive:
/// counts, durations and states from `props`, never free text.
pub(crate) fn numeric_prop(event: &Event, key: &str) -> Option<u64> {
    event.props.get(key).and_then(|v| v.as_u64())
}

pub(crate) fn text_prop<'a>(event: &'a Event, key: &str) -> Option<&'a str> {
    event.props.get(key).and_then(|v| v.as_str())
}

/// Custom dimensions and mapped parameters have names the docs list.
pub(crate) type Dimensions = BTreeMap<String, u32>;

#[cfg(test)]
mod tests;
