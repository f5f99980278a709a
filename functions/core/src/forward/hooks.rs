//! Signed outgoing webhooks (Standard Webhooks) for a company's own
//! systems: one thin JSON payload per event (ids, counts, durations),
//! signed with every configured secret so a secret can be rotated without
//! a gap.

use super::{FieldError, Job, OutRequest, Plan, Secret, field_error};
use crate::UnixMillis;
use crate::event::{EventName, utc_rfc3339};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// Retries stop about a day after the event; the delivery then goes to
/// the dead-letter list (an admin may replay it).
pub const MAX_AGE_MS: u64 = 26 * 3_600_000;
/// The most secrets an endpoint has at once (the current and the next).
pub const MAX_SECRETS: usize = 2;

/// A company endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Webhook {
    /// Where events are posted (https).
    pub url: String,
    /// `whsec_…` secrets; every one signs (rotation: add the new one,
    /// switch the receiver, remove the old one).
    pub secrets: Vec<Secret>,
    /// The events this endpoint takes (all forwarded events when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<EventName>>,
}

impl Webhook {
    pub fn check(&self) -> Result<(), FieldError> {
        super::checked_url("url", &self.url)?;
        if self.secrets.is_empty() || self.secrets.len() > MAX_SECRETS {
            return Err(field_error("secrets", "one or two whsec_ secrets"));
        }
        if self
            .secrets
            .iter()
            .any(|s| crate::webhook::decode_secret(&s.0).is_none() || s.0.len() > 200)
        {
            return Err(field_error(
                "secrets",
                "whsec_ and base64 of 24 to 64 random bytes",
            ));
        }
        if let Some(events) = &self.events
            && (events.is_empty() || events.iter().any(|e| !super::forwarded(*e)))
        {
            return Err(field_error("events", "names of forwarded events"));
        }
        Ok(())
    }

    /// One request per job (webhooks are not batched).
    pub fn plan(&self, jobs: &[&Job], now: UnixMillis) -> Plan {
        let mut plan = Plan::default();
        for (i, job) in jobs.iter().enumerate() {
            match self.request(job, now) {
                Ok(request) => plan.requests.push((request, vec![i])),
                Err(reason) => plan.unmappable.push((i, reason)),
            }
        }
        plan
    }

    fn request(&self, job: &Job, now: UnixMillis) -> Result<OutRequest, String> {
        let body = serde_json::to_vec(&payload(job)?).map_err(|e| e.to_string())?;
        let id = format!("msg_{}", job.event.id);
        let timestamp = now / 1000;
        let signatures: Vec<String> = self
            .secrets
            .iter()
            .filter_map(|s| crate::webhook::decode_secret(&s.0))
            .map(|key| crate::webhook::sign(&key, &id, timestamp, &body))
            .collect();
        if signatures.is_empty() {
            return Err("no usable secret".into());
        }
        Ok(OutRequest {
            url: self.url.clone(),
            headers: vec![
                ("content-type".into(), "application/json".into()),
                ("webhook-id".into(), id),
                ("webhook-timestamp".into(), timestamp.to_string()),
                ("webhook-signature".into(), signatures.join(" ")),
            ],
            body,
        })
    }
}

/// The webhook type of a forwarded event (`livecard.contact.accepted`).
pub fn event_type(name: EventName) -> Option<&'static str> {
    Some(match name {
        EventName::CardOpened => "livecard.card.opened",
        EventName::PortalViewed => "livecard.portal.viewed",
        EventName::ContactRequested => "livecard.contact.requested",
        EventName::Queued => "livecard.contact.queued",
        EventName::Accepted => "livecard.contact.accepted",
        EventName::Missed => "livecard.contact.missed",
        EventName::OfflineMessage => "livecard.offline_message.received",
        EventName::CallStarted => "livecard.call.started",
        EventName::CallUpgraded => "livecard.call.upgraded",
        EventName::CallEnded => "livecard.call.ended",
        EventName::SessionEnded => "livecard.session.ended",
        _ => return None,
    })
}

/// `{type, timestamp, data}`: ids and numbers only; the receiver fetches
/// more through the admin API if it needs it.
pub fn payload(job: &Job) -> Result<Value, String> {
    let event = &job.event;
    let kind = event_type(event.name)
        .ok_or_else(|| format!("{} is not forwarded to webhooks", event.name.as_str()))?;
    let mut data = Map::new();
    data.insert("event_id".into(), json!(event.id));
    let mut put = |key: &str, value: Option<Value>| {
        if let Some(value) = value {
            data.insert(key.into(), value);
        }
    };
    put("session", event.session.as_ref().map(|s| json!(s)));
    put("advisor", event.advisor.as_ref().map(|a| json!(a)));
    put("card", event.card.as_ref().map(|c| json!(c)));
    put("campaign", event.campaign.as_ref().map(|c| json!(c)));
    put("channel", event.channel.map(|c| json!(c.as_str())));
    put("entry", job.subject.entry.map(|o| json!(o.as_str())));
    put("topic", job.subject.topic.as_ref().map(|t| json!(t)));
    for (key, value) in &event.props {
        if value.is_number() || value.is_boolean() || value.as_str().is_some_and(|s| s.len() <= 64)
        {
            data.entry(key.clone()).or_insert_with(|| value.clone());
        }
    }
    Ok(json!({
        "type": kind,
        "timestamp": utc_rfc3339(event.at),
        "data": data,
    }))
}
