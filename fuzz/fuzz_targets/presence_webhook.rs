//! The presence webhook: any headers and body are verified or refused, and
//! a correctly signed body is read as the handler reads it.
#![no_main]

use base64::Engine;
use libfuzzer_sys::fuzz_target;
use livecard_core::encoding::hmac_sha256;
use livecard_core::webhook;

const NOW: u64 = 1_795_392_000_000;
const KEY: [u8; 32] = [5; 32];

fuzz_target!(|data: &[u8]| {
    // id \0 timestamp \0 signature \0 body
    fn text(part: Option<&[u8]>) -> Option<&str> {
        part.and_then(|b| std::str::from_utf8(b).ok())
    }
    let mut parts = data.splitn(4, |b| *b == 0);
    let (id, timestamp, signature) = (text(parts.next()), text(parts.next()), text(parts.next()));
    let body = parts.next().unwrap_or_default();
    let _ = webhook::verify(&KEY, id, timestamp, signature, body, NOW);

    // Signed as a sender would: verification passes, then the body.
    let timestamp = (NOW / 1000).to_string();
    let mut message = format!("msg_fuzz.{timestamp}.").into_bytes();
    message.extend_from_slice(body);
    let signature = format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(hmac_sha256(&KEY, &message))
    );
    let verified = webhook::verify(
        &KEY,
        Some("msg_fuzz"),
        Some(&timestamp),
        Some(&signature),
        body,
        NOW,
    );
    assert!(verified.is_ok(), "{verified:?}");
    livecard_app::fuzzing::presence_webhook_body(body);
});
