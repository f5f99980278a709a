//! Entry points for the fuzz targets (`fuzz/`, feature `fuzzing`): every
//! JSON body the public API takes, read and checked exactly as its handler
//! does, without a store. A panic here is a bug the fuzzer found.

use crate::api::PresenceBody;
use crate::api::advisors::WebhookBody;
use crate::contact::http::{IceBody, OfflineBody, StartBody};
use crate::http_util::parse_json;
use crate::{MAX_BODY_BYTES, Request};
use livecard_core::advisor::AdvisorInput;
use livecard_core::card::CardRequest;
use livecard_core::ids::RandomId;
use livecard_core::offline::{Inbox, OfflineMessage};
use livecard_core::presence::{PresencePolicy, PresenceSource};

/// A time inside the range the handlers see.
const NOW: u64 = 1_795_392_000_000;

fn request(body: &[u8]) -> Request {
    let mut request = http::Request::new(bytes::Bytes::copy_from_slice(body));
    request.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    request
}

/// Reads `body` as each endpoint's JSON body and, where it parses, runs
/// the checks its handler runs next.
pub fn api_bodies(body: &[u8]) {
    if body.len() > MAX_BODY_BYTES {
        return;
    }
    let request = request(body);
    let policy = PresencePolicy::default();
    if let Ok(start) = parse_json::<StartBody>(&request) {
        let _ = start.check();
    }
    if let Ok(offline) = parse_json::<OfflineBody>(&request) {
        let inbox = Inbox::Topic("general".into());
        let id = RandomId::from_bytes([7; 16]);
        let _ = OfflineMessage::new(id, inbox, &offline.name, &offline.email, &offline.text, NOW);
    }
    let _ = parse_json::<IceBody>(&request);
    if let Ok(presence) = parse_json::<PresenceBody>(&request) {
        let until = presence.until.unwrap_or(NOW + 1);
        if let Some(version) = presence.version {
            let _ = policy.source_update(
                PresenceSource::Webhook,
                presence.signals(),
                version,
                presence.expires_at,
                NOW,
            );
        }
        if let Ok(states) = presence.manual_states() {
            let _ = policy.manual_update(states.clone(), NOW, until);
            let _ = policy.console_update(states, NOW, until);
        }
    }
    if let Ok(input) = parse_json::<AdvisorInput>(&request) {
        let _ = input.validate();
    }
    let _ = parse_json::<CardRequest>(&request);
}

/// A presence push's body, as the webhook handler reads it once the
/// signature matched.
pub fn presence_webhook_body(body: &[u8]) {
    if let Ok(push) = parse_json::<WebhookBody>(&request(body)) {
        let _ = crate::api::advisors::parse_id(&push.advisor);
        let _ = PresencePolicy::default().source_update(
            PresenceSource::Webhook,
            push.states.into_iter().collect(),
            push.version,
            push.expires_at,
            NOW,
        );
    }
}
