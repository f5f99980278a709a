//! GA4 Measurement Protocol: `POST /mp/collect?measurement_id=…&api_secret=…`
//! with a JSON body per client id. GA4 answers 2xx to anything, so every
//! payload is checked here against GA4's documented limits before it
//! leaves ([`validate`]); what fails is dead-lettered with its reason.

use super::{FieldError, Job, OutRequest, Plan, Secret, field_error, numeric_prop, text_prop};
use crate::event::{Event, EventName};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// At most this many events per request.
pub const MAX_EVENTS: usize = 25;
/// A request body stays below this many bytes.
pub const MAX_BODY_BYTES: usize = 130_000;
/// Parameters per event.
pub const MAX_PARAMS: usize = 25;
/// Event and parameter names.
pub const MAX_NAME_LEN: usize = 40;
/// Parameter values (standard properties).
pub const MAX_VALUE_LEN: usize = 100;
/// GA4 takes events up to three days old (72 hours): later ones are
/// silently dropped, so deliveries stop a little before.
pub const MAX_AGE_MS: u64 = 71 * 3_600_000;
/// The default collection host, and the one that keeps data in the EU.
pub const GLOBAL_ENDPOINT: &str = "https://www.google-analytics.com";
pub const EU_ENDPOINT: &str = "https://region1.google-analytics.com";

/// Event names GA4 reserves for the web.
pub const RESERVED_EVENTS: &[&str] = &[
    "ad_activeview",
    "ad_click",
    "ad_exposure",
    "ad_query",
    "ad_reward",
    "adunit_exposure",
    "app_background",
    "app_clear_data",
    "app_exception",
    "app_remove",
    "app_store_refund",
    "app_store_subscription_cancel",
    "app_store_subscription_convert",
    "app_store_subscription_renew",
    "app_update",
    "app_upgrade",
    "click",
    "dynamic_link_app_open",
    "dynamic_link_app_update",
    "dynamic_link_first_open",
    "error",
    "file_download",
    "firebase_campaign",
    "firebase_in_app_message_action",
    "firebase_in_app_message_dismiss",
    "firebase_in_app_message_impression",
    "first_open",
    "first_visit",
    "form_start",
    "form_submit",
    "in_app_purchase",
    "notification_dismiss",
    "notification_foreground",
    "notification_open",
    "notification_receive",
    "os_update",
    "page_view",
    "screen_view",
    "scroll",
    "session_start",
    "user_engagement",
    "video_complete",
    "video_progress",
    "video_start",
    "view_search_results",
];
/// Parameter names GA4 reserves (the first ones are sent with their GA
/// meaning, so they are allowed where that meaning is meant).
pub const RESERVED_PARAMS: &[&str] = &["firebase_conversion", "gclid", "session_number"];
/// Prefixes no event or parameter name may have.
pub const RESERVED_PREFIXES: &[&str] = &["_", "firebase_", "ga_", "google_", "gtag."];

/// A GA4 web data stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ga4 {
    /// `G-XXXXXXX` of the web data stream.
    pub measurement_id: String,
    /// The stream's Measurement Protocol API secret.
    pub api_secret: Secret,
    /// Collect in the EU (`region1.google-analytics.com`).
    #[serde(default)]
    pub eu: bool,
    /// Another collection host (a tagging server, or a capture server in
    /// tests) instead of Google's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Advertising consent (`ad_user_data`, `ad_personalization`) is sent
    /// as granted. Off: always `DENIED`.
    #[serde(default)]
    pub ad_consent: bool,
    /// Advisors appear as a keyed pseudonym (`lc_advisor`).
    #[serde(default)]
    pub advisors: bool,
}

impl Ga4 {
    pub fn check(&self) -> Result<(), FieldError> {
        let id = &self.measurement_id;
        let ok = id.len() <= 24
            && id.strip_prefix("G-").is_some_and(|rest| {
                rest.len() >= 4
                    && rest
                        .bytes()
                        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
            });
        if !ok {
            return Err(field_error(
                "measurement_id",
                "G- and 4 to 22 capital letters or digits",
            ));
        }
        super::checked_token("api_secret", &self.api_secret.0, 8..=128)?;
        if let Some(endpoint) = &self.endpoint {
            let url = super::checked_url("endpoint", endpoint)?;
            if url.path() != "/" || url.query().is_some() {
                return Err(field_error("endpoint", "must be a scheme and host only"));
            }
        }
        Ok(())
    }

    fn base(&self) -> String {
        match &self.endpoint {
            Some(endpoint) => endpoint.trim_end_matches('/').to_owned(),
            None if self.eu => EU_ENDPOINT.to_owned(),
            None => GLOBAL_ENDPOINT.to_owned(),
        }
    }

    /// Where events go, without the secret.
    pub fn collect_url(&self) -> String {
        format!("{}/mp/collect", self.base())
    }

    fn request_url(&self) -> String {
        let query: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("measurement_id", &self.measurement_id)
            .append_pair("api_secret", &self.api_secret.0)
            .finish();
        format!("{}?{query}", self.collect_url())
    }

    /// Requests of at most 25 events and 130 kB, one client id each, in
    /// the order given.
    pub fn plan(&self, jobs: &[&Job]) -> Plan {
        let mut plan = Plan::default();
        // Group by client id, keeping the order of first appearance.
        let mut groups: Vec<(String, Vec<(usize, Value)>)> = Vec::new();
        for (i, job) in jobs.iter().enumerate() {
            let Some(client) = job.subject.ga_client_id.clone() else {
                plan.unmappable
                    .push((i, "no GA client id (no consent)".into()));
                continue;
            };
            let event = match event_json(job) {
                Ok(event) => event,
                Err(reason) => {
                    plan.unmappable.push((i, reason));
                    continue;
                }
            };
            match groups.iter_mut().find(|(c, _)| *c == client) {
                Some((_, events)) => events.push((i, event)),
                None => groups.push((client, vec![(i, event)])),
            }
        }
        let consent = if self.ad_consent { "GRANTED" } else { "DENIED" };
        for (client, events) in groups {
            let mut batch: Vec<(usize, Value)> = Vec::new();
            let body_of = |batch: &[(usize, Value)]| -> Vec<u8> {
                let body = json!({
                    "client_id": client,
                    "consent": {"ad_user_data": consent, "ad_personalization": consent},
                    "events": batch.iter().map(|(_, e)| e.clone()).collect::<Vec<_>>(),
                });
                serde_json::to_vec(&body).unwrap_or_default()
            };
            let flush = |batch: &mut Vec<(usize, Value)>, plan: &mut Plan| {
                if batch.is_empty() {
                    return;
                }
                let body = body_of(batch);
                let request = OutRequest {
                    url: self.request_url(),
                    headers: vec![("content-type".into(), "application/json".into())],
                    body,
                };
                plan.requests
                    .push((request, batch.iter().map(|(i, _)| *i).collect()));
                batch.clear();
            };
            for item in events {
                batch.push(item);
                let too_big = body_of(&batch).len() >= MAX_BODY_BYTES;
                if too_big || batch.len() > MAX_EVENTS {
                    let last = batch.pop();
                    flush(&mut batch, &mut plan);
                    batch.extend(last);
                }
            }
            flush(&mut batch, &mut plan);
        }
        plan
    }
}

/// The GA4 name of a forwarded event.
pub fn event_name(name: EventName) -> Option<&'static str> {
    Some(match name {
        EventName::CardOpened => "lc_card_open",
        EventName::PortalViewed => "lc_portal_view",
        EventName::ContactRequested => "lc_contact_request",
        EventName::Queued => "lc_contact_queue",
        EventName::Accepted => "lc_contact_accept",
        EventName::Missed => "lc_contact_miss",
        EventName::OfflineMessage => "lc_offline_message",
        EventName::CallStarted => "lc_call_start",
        EventName::CallUpgraded => "lc_call_upgrade",
        EventName::CallEnded => "lc_call_end",
        EventName::SessionEnded => "lc_session_end",
        _ => return None,
    })
}

fn truncated(text: &str) -> String {
    text.chars().take(MAX_VALUE_LEN).collect()
}

/// One event of a GA4 request: `{name, params, timestamp_micros}`.
pub fn event_json(job: &Job) -> Result<Value, String> {
    let event: &Event = &job.event;
    let name = event_name(event.name)
        .ok_or_else(|| format!("{} is not forwarded to GA4", event.name.as_str()))?;
    let mut params = Map::new();
    // A session for GA4's reports: the page's, else one per contact.
    let session = job
        .subject
        .ga_session_id
        .clone()
        .ok_or_else(|| "no GA session id".to_owned())?;
    params.insert("session_id".into(), Value::String(session));
    let engaged = numeric_prop(event, "talk_ms")
        .or_else(|| numeric_prop(event, "duration_ms"))
        .unwrap_or(1)
        .max(1);
    params.insert("engagement_time_msec".into(), Value::from(engaged));
    params.insert("lc_event_id".into(), Value::String(event.id.to_string()));
    let mut text = |key: &str, value: Option<&str>| {
        if let Some(value) = value.filter(|v| !v.is_empty()) {
            params.insert(key.into(), Value::String(truncated(value)));
        }
    };
    text("lc_channel", event.channel.map(|c| c.as_str()));
    text("lc_entry", job.subject.entry.map(|o| o.as_str()));
    text("lc_topic", job.subject.topic.as_deref());
    text("lc_campaign", event.campaign.as_deref());
    text("lc_card", event.card.as_ref().map(|c| c.as_str()));
    text("lc_advisor", event.advisor.as_ref().map(|a| a.as_str()));
    for key in ["media", "from", "to", "outcome", "reason"] {
        text(&format!("lc_{key}"), text_prop(event, key));
    }
    for key in ["wait_ms", "talk_ms", "duration_ms", "messages", "shown"] {
        if let Some(n) = numeric_prop(event, key) {
            params.insert(format!("lc_{key}"), Value::from(n));
        }
    }
    Ok(json!({
        "name": name,
        "params": params,
        "timestamp_micros": event.at.saturating_mul(1000),
    }))
}

/// One validation message, in the shape of GA4's validation server
/// (`/debug/mp/collect`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ValidationMessage {
    pub field_path: String,
    pub description: String,
    pub validation_code: &'static str,
}

fn reserved_name(name: &str) -> bool {
    RESERVED_PREFIXES.iter().any(|p| name.starts_with(p))
}

fn valid_name(name: &str) -> bool {
    (1..=MAX_NAME_LEN).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Checks a request body against GA4's documented rules (limits, names,
/// reserved names and prefixes); empty when GA4 would take all of it.
pub fn validate(body: &[u8]) -> Vec<ValidationMessage> {
    let mut messages = Vec::new();
    let mut say = |path: String, description: String, code: &'static str| {
        messages.push(ValidationMessage {
            field_path: path,
            description,
            validation_code: code,
        })
    };
    if body.len() >= MAX_BODY_BYTES {
        say(
            String::new(),
            format!("the body is {} bytes", body.len()),
            "VALUE_OUT_OF_BOUNDS",
        );
    }
    let Ok(Value::Object(root)) = serde_json::from_slice::<Value>(body) else {
        say(
            String::new(),
            "the body is not a JSON object".into(),
            "VALUE_INVALID",
        );
        return messages;
    };
    match root.get("client_id") {
        Some(Value::String(id)) if !id.is_empty() => {}
        _ => say(
            "client_id".into(),
            "client_id is required".into(),
            "VALUE_REQUIRED",
        ),
    }
    if root.contains_key("ip_override") {
        say(
            "ip_override".into(),
            "livecard never sends ip_override".into(),
            "VALUE_INVALID",
        );
    }
    if let Some(consent) = root.get("consent") {
        for key in ["ad_user_data", "ad_personalization"] {
            match consent.get(key).and_then(Value::as_str) {
                Some("GRANTED" | "DENIED") | None => {}
                Some(_) => say(
                    format!("consent.{key}"),
                    "GRANTED or DENIED".into(),
                    "VALUE_INVALID",
                ),
            }
        }
    }
    let events = match root.get("events") {
        Some(Value::Array(events)) if !events.is_empty() => events,
        _ => {
            say(
                "events".into(),
                "events are required".into(),
                "VALUE_REQUIRED",
            );
            return messages;
        }
    };
    if events.len() > MAX_EVENTS {
        say(
            "events".into(),
            format!("{} events", events.len()),
            "EXCEEDED_MAX_ENTITIES",
        );
    }
    for (i, event) in events.iter().enumerate() {
        let path = format!("events[{i}]");
        let name = event.get("name").and_then(Value::as_str).unwrap_or("");
        if !valid_name(name) {
            say(
                format!("{path}.name"),
                format!("{name:?} is not a valid event name"),
                "NAME_INVALID",
            );
        }
        if RESERVED_EVENTS.contains(&name) || reserved_name(name) {
            say(
                format!("{path}.name"),
                format!("{name} is reserved"),
                "NAME_RESERVED",
            );
        }
        let Some(params) = event.get("params").and_then(Value::as_object) else {
            say(
                format!("{path}.params"),
                "params are required".into(),
                "VALUE_REQUIRED",
            );
            continue;
        };
        if params.len() > MAX_PARAMS {
            say(
                format!("{path}.params"),
                format!("{} params", params.len()),
                "EXCEEDED_MAX_ENTITIES",
            );
        }
        for key in ["session_id", "engagement_time_msec"] {
            if !params.contains_key(key) {
                say(
                    format!("{path}.params.{key}"),
                    format!("{key} is needed for reports"),
                    "VALUE_REQUIRED",
                );
            }
        }
        for (key, value) in params {
            let at = format!("{path}.params.{key}");
            if !valid_name(key) {
                say(
                    at.clone(),
                    format!("{key:?} is not a valid parameter name"),
                    "NAME_INVALID",
                );
            }
            if reserved_name(key) || RESERVED_PARAMS.contains(&key.as_str()) {
                say(at.clone(), format!("{key} is reserved"), "NAME_RESERVED");
            }
            match value {
                Value::String(s) if s.chars().count() > MAX_VALUE_LEN => say(
                    at,
                    format!("{} characters", s.chars().count()),
                    "VALUE_OUT_OF_BOUNDS",
                ),
                Value::String(_) | Value::Number(_) => {}
                _ => say(at, "a string or a number".into(), "VALUE_INVALID"),
            }
        }
        if let Some(ts) = event.get("timestamp_micros")
            && !ts.is_u64()
        {
            say(
                format!("{path}.timestamp_micros"),
                "microseconds".into(),
                "VALUE_INVALID",
            );
        }
    }
    messages
}
