//! Signed webhooks (the Standard Webhooks scheme), used for presence pushed
//! by a company's presence system and, later, for outgoing event webhooks.
//!
//! A request carries `webhook-id`, `webhook-timestamp` (Unix seconds) and
//! `webhook-signature`: one or more space-separated `v1,<base64>` entries,
//! each HMAC-SHA256 under the shared secret over `<id>.<timestamp>.<body>`.
//! The secret is written `whsec_<base64 of at least 24 bytes>`. A request is
//! accepted within five minutes of its timestamp, and each id only once (the
//! caller records ids it has seen).

use crate::UnixMillis;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

pub const SECRET_PREFIX: &str = "whsec_";
/// How far a timestamp may be from now, either way.
pub const TOLERANCE_S: u64 = 300;
pub const MAX_ID_LEN: usize = 128;
pub const MAX_SIGNATURE_HEADER_LEN: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("webhook-id, webhook-timestamp and webhook-signature headers are required")]
    MissingHeaders,
    #[error("webhook-id must be 1 to 128 printable ASCII characters")]
    BadId,
    #[error("webhook-timestamp is not within five minutes of now")]
    Timestamp,
    #[error("no webhook-signature entry matches")]
    Signature,
}

/// Decodes a `whsec_…` secret into key bytes.
pub fn decode_secret(secret: &str) -> Option<Vec<u8>> {
    let key = STANDARD.decode(secret.strip_prefix(SECRET_PREFIX)?).ok()?;
    (key.len() >= 24).then_some(key)
}

/// Encodes key bytes as a `whsec_…` secret.
pub fn encode_secret(key: &[u8]) -> String {
    format!("{SECRET_PREFIX}{}", STANDARD.encode(key))
}

/// The `v1,<base64>` signature of a message.
pub fn sign(key: &[u8], id: &str, timestamp_s: u64, body: &[u8]) -> String {
    let mut message = format!("{id}.{timestamp_s}.").into_bytes();
    message.extend_from_slice(body);
    format!(
        "v1,{}",
        STANDARD.encode(crate::encoding::hmac_sha256(key, &message))
    )
}

/// Verifies a webhook request at `now`.
pub fn verify(
    key: &[u8],
    id: Option<&str>,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now: UnixMillis,
) -> Result<(), WebhookError> {
    let (Some(id), Some(timestamp), Some(signature)) = (id, timestamp, signature) else {
        return Err(WebhookError::MissingHeaders);
    };
    if id.is_empty() || id.len() > MAX_ID_LEN || !id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(WebhookError::BadId);
    }
    let timestamp_s: u64 = timestamp
        .trim()
        .parse()
        .map_err(|_| WebhookError::Timestamp)?;
    if timestamp_s.abs_diff(now / 1000) > TOLERANCE_S {
        return Err(WebhookError::Timestamp);
    }
    if signature.len() > MAX_SIGNATURE_HEADER_LEN {
        return Err(WebhookError::Signature);
    }
    let mut message = format!("{id}.{timestamp_s}.").into_bytes();
    message.extend_from_slice(body);
    let matches = signature
        .split(' ')
        .filter_map(|entry| entry.strip_prefix("v1,"))
        .filter_map(|sig| STANDARD.decode(sig).ok())
        .any(|sig| crate::encoding::hmac_sha256_verify(key, &message, &sig));
    if matches {
        Ok(())
    } else {
        Err(WebhookError::Signature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: UnixMillis = 1_795_392_000_000;

    #[test]
    fn signs_and_verifies_with_rotation_and_tolerance() {
        let key = [7u8; 32];
        let secret = encode_secret(&key);
        assert_eq!(decode_secret(&secret), Some(key.to_vec()));
        assert_eq!(decode_secret("whsec_c2hvcnQ="), None);
        let ts = NOW / 1000;
        let body = br#"{"advisor":"anna"}"#;
        let sig = sign(&key, "msg_1", ts, body);
        let ok = |sig: &str, ts: u64, now| {
            verify(
                &key,
                Some("msg_1"),
                Some(&ts.to_string()),
                Some(sig),
                body,
                now,
            )
        };
        assert_eq!(ok(&sig, ts, NOW), Ok(()));
        // Several signatures (during a secret rotation): any one matching is enough.
        let both = format!("v1,AAAA {sig}");
        assert_eq!(ok(&both, ts, NOW), Ok(()));
        assert_eq!(ok(&sig, ts, NOW + 301_000), Err(WebhookError::Timestamp));
        assert_eq!(ok(&sig, ts, NOW - 301_000), Err(WebhookError::Timestamp));
        assert_eq!(ok(&sig, ts + 1, NOW), Err(WebhookError::Signature));
        let other = sign(&[8u8; 32], "msg_1", ts, body);
        assert_eq!(ok(&other, ts, NOW), Err(WebhookError::Signature));
        assert_eq!(
            verify(
                &key,
                Some("msg_1"),
                Some(&ts.to_string()),
                Some(&sig),
                b"{}",
                NOW
            ),
            Err(WebhookError::Signature)
        );
        assert_eq!(
            verify(&key, None, Some("1"), Some(&sig), body, NOW),
            Err(WebhookError::MissingHeaders)
        );
        assert_eq!(
            verify(&key, Some("a b"), Some("1"), Some(&sig), body, NOW),
            Err(WebhookError::BadId)
        );
    }
}
