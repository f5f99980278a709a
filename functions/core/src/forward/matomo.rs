//! Matomo HTTP Tracking API: bulk POSTs of event hits (oldest first),
//! each with `cdt` (the event's own time), a 16-hex visitor id and never
//! a raw IP address (livecard keeps none, so `cip` is never sent).

use super::{
    Dimensions, FieldError, Job, OutRequest, Plan, Secret, field_error, numeric_prop, text_prop,
};
use crate::UnixMillis;
use crate::event::EventName;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// Hits per bulk request.
pub const MAX_HITS: usize = 100;
/// Matomo ignores a hit whose `cdt` is older than this unless the request
/// carries a `token_auth` with write access.
pub const UNAUTHENTICATED_AGE_MS: u64 = 24 * 3_600_000;
/// Deliveries without a token stop a little before that.
pub const MAX_AGE_WITHOUT_TOKEN_MS: u64 = 23 * 3_600_000;
/// With a token, old hits are taken (they need Matomo's archives
/// re-processed): deliveries stop after three days, like GA4's.
pub const MAX_AGE_WITH_TOKEN_MS: u64 = 71 * 3_600_000;
/// The custom dimensions a site may map (`dimension{ID}`).
pub const DIMENSIONS: &[&str] = &[
    "entry", "channel", "event_id", "advisor", "topic", "campaign",
];

/// A Matomo site.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Matomo {
    /// The Matomo base URL (`https://matomo.example.com`), or its tracker
    /// endpoint (`…/matomo.php`).
    pub url: String,
    /// `idsite`.
    pub site_id: u32,
    /// A write-access token (a dedicated user's): lets late hits in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_auth: Option<Secret>,
    /// Track without consent, in Matomo's consent-free (cookieless) way: a
    /// random visitor id per contact session, unlinkable across contacts.
    /// Only where the operator's legal basis allows it.
    #[serde(default)]
    pub cookieless: bool,
    /// Custom dimension ids by what they carry (see [`DIMENSIONS`]).
    #[serde(default, skip_serializing_if = "Dimensions::is_empty")]
    pub dimensions: Dimensions,
    /// Advisors appear as a keyed pseudonym (`advisor` dimension).
    #[serde(default)]
    pub advisors: bool,
}

/// `_id`: exactly 16 hex digits.
pub fn is_visitor_id(id: &str) -> bool {
    id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

impl Matomo {
    pub fn check(&self) -> Result<(), FieldError> {
        let url = super::checked_url("url", &self.url)?;
        if url.query().is_some() {
            return Err(field_error("url", "must not have a query"));
        }
        if !(1..=1_000_000_000).contains(&self.site_id) {
            return Err(field_error("site_id", "a site id from 1"));
        }
        if let Some(token) = &self.token_auth {
            super::checked_token("token_auth", &token.0, 16..=128)?;
            if !token.0.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(field_error("token_auth", "letters and digits only"));
            }
        }
        for (name, id) in &self.dimensions {
            if !DIMENSIONS.contains(&name.as_str()) {
                return Err(field_error(
                    "dimensions",
                    "names are entry, channel, event_id, advisor, topic, campaign",
                ));
            }
            if !(1..=999).contains(id) {
                return Err(field_error("dimensions", "ids from 1 to 999"));
            }
        }
        Ok(())
    }

    /// The tracker endpoint.
    pub fn tracker_url(&self) -> String {
        let base = self.url.trim_end_matches('/');
        if base.ends_with(".php") {
            base.to_owned()
        } else {
            format!("{base}/matomo.php")
        }
    }

    pub fn max_age_ms(&self) -> u64 {
        if self.token_auth.is_some() {
            MAX_AGE_WITH_TOKEN_MS
        } else {
            MAX_AGE_WITHOUT_TOKEN_MS
        }
    }

    /// One query string per hit.
    pub fn hit(&self, job: &Job, public_url: &str) -> Result<String, String> {
        let event = &job.event;
        let (action, name, value) = action(job)
            .ok_or_else(|| format!("{} is not forwarded to Matomo", event.name.as_str()))?;
        let visitor = job
            .subject
            .matomo_visitor
            .as_deref()
            .filter(|v| is_visitor_id(v))
            .ok_or_else(|| "no Matomo visitor id (no consent)".to_owned())?;
        let entry = job.subject.entry.map(|o| o.as_str()).unwrap_or("portal");
        let mut q = form_urlencoded::Serializer::new(String::new());
        q.append_pair("idsite", &self.site_id.to_string())
            .append_pair("rec", "1")
            .append_pair("apiv", "1")
            .append_pair("send_image", "0")
            .append_pair("ca", "1")
            .append_pair("_id", visitor)
            .append_pair(
                "url",
                &format!("{}/#{entry}", public_url.trim_end_matches('/')),
            )
            .append_pair("e_c", "livecard")
            .append_pair("e_a", action)
            .append_pair("cdt", &(event.at / 1000).to_string())
            // Matomo's cache buster: the event id keeps it the same on a resend.
            .append_pair("rand", event.id.as_str());
        if let Some(name) = name.filter(|n| !n.is_empty()) {
            q.append_pair("e_n", &name);
        }
        if let Some(value) = value {
            q.append_pair("e_v", &value.to_string());
        }
        for (dimension, id) in &self.dimensions {
            let value = match dimension.as_str() {
                "entry" => Some(entry.to_owned()),
                "channel" => event.channel.map(|c| c.as_str().to_owned()),
                "event_id" => Some(event.id.to_string()),
                "advisor" => event.advisor.as_ref().map(|a| a.to_string()),
                "topic" => job.subject.topic.clone(),
                "campaign" => event.campaign.clone(),
                _ => None,
            };
            if let Some(value) = value {
                q.append_pair(&format!("dimension{id}"), &value);
            }
        }
        Ok(format!("?{}", q.finish()))
    }

    /// Bulk requests of at most [`MAX_HITS`], in the order given (oldest
    /// first). The token goes along only when a hit is late enough to
    /// need it.
    pub fn plan(&self, jobs: &[&Job], now: UnixMillis, public_url: &str) -> Plan {
        let mut plan = Plan::default();
        let mut hits: Vec<(usize, String, bool)> = Vec::new();
        for (i, job) in jobs.iter().enumerate() {
            match self.hit(job, public_url) {
                Ok(hit) => {
                    let late =
                        now.saturating_sub(job.event.at) >= UNAUTHENTICATED_AGE_MS - 3_600_000;
                    hits.push((i, hit, late));
                }
                Err(reason) => plan.unmappable.push((i, reason)),
            }
        }
        for chunk in hits.chunks(MAX_HITS) {
            let mut body = json!({
                "requests": chunk.iter().map(|(_, h, _)| h.clone()).collect::<Vec<_>>(),
            });
            if chunk.iter().any(|(_, _, late)| *late)
                && let Some(token) = &self.token_auth
            {
                body["token_auth"] = json!(token.0);
            }
            plan.requests.push((
                OutRequest {
                    url: self.tracker_url(),
                    headers: vec![("content-type".into(), "application/json".into())],
                    body: serde_json::to_vec(&body).unwrap_or_default(),
                },
                chunk.iter().map(|(i, _, _)| *i).collect(),
            ));
        }
        plan
    }
}

/// Matomo's event action, name and value for a forwarded event.
fn action(job: &Job) -> Option<(&'static str, Option<String>, Option<u64>)> {
    let event = &job.event;
    let channel = event.channel.map(|c| c.as_str().to_owned());
    let secs = |key: &str| numeric_prop(event, key).map(|ms| ms / 1000);
    Some(match event.name {
        EventName::CardOpened => ("card_open", event.campaign.clone(), None),
        EventName::PortalViewed => ("portal_view", job.subject.topic.clone(), None),
        EventName::ContactRequested => ("contact_request", channel, None),
        EventName::Queued => ("contact_queue", channel, None),
        EventName::Accepted => ("contact_accept", channel, secs("wait_ms")),
        EventName::Missed => ("contact_missed", channel, None),
        EventName::OfflineMessage => (
            "offline_message",
            job.subject.entry.map(|o| o.as_str().to_owned()),
            None,
        ),
        EventName::CallStarted => (
            "call_start",
            text_prop(event, "media").map(str::to_owned),
            None,
        ),
        EventName::CallUpgraded => (
            "call_upgrade",
            Some(format!(
                "{}>{}",
                text_prop(event, "from").unwrap_or("chat"),
                text_prop(event, "to").unwrap_or("chat")
            )),
            None,
        ),
        EventName::CallEnded => (
            "call_end",
            text_prop(event, "media").map(str::to_owned),
            secs("duration_ms"),
        ),
        EventName::SessionEnded => {
            let outcome = if numeric_prop(event, "talk_ms").unwrap_or(0) > 0 {
                "talked"
            } else {
                "not_connected"
            };
            ("session_end", Some(outcome.to_owned()), secs("talk_ms"))
        }
        _ => return None,
    })
}

/// What a bulk answer said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkAnswer {
    pub tracked: u64,
    pub invalid: u64,
    /// Which hits were invalid (only for a super user's token).
    pub invalid_indices: Option<Vec<usize>>,
}

/// Reads a bulk answer (`{"status":"success","tracked":N,"invalid":M}`);
/// an empty body (204) means all tracked.
pub fn bulk_answer(body: &[u8], sent: usize) -> Option<BulkAnswer> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Some(BulkAnswer {
            tracked: sent as u64,
            invalid: 0,
            invalid_indices: None,
        });
    }
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    if value.get("status")?.as_str()? != "success" {
        return None;
    }
    Some(BulkAnswer {
        tracked: value.get("tracked").and_then(|v| v.as_u64()).unwrap_or(0),
        invalid: value.get("invalid").and_then(|v| v.as_u64()).unwrap_or(0),
        invalid_indices: value.get("invalid_indices").and_then(|v| {
            v.as_array()?
                .iter()
                .map(|i| i.as_u64().map(|i| i as usize))
                .collect()
        }),
    })
}
