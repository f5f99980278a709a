//! Microsoft Teams presence pushed by Graph (change notifications with
//! resource data), without I/O: the subscription a connector asks for, and
//! what a notification must satisfy before livecard believes it.
//!
//! Graph encrypts each notification's resource data: a fresh 32-byte key
//! encrypts the presence JSON with AES-256-CBC (PKCS#7 padding, the key's
//! first 16 bytes as IV), signs the ciphertext with HMAC-SHA256 under the
//! same key, and encrypts the key with RSA-OAEP (SHA-1) to the certificate
//! livecard gave in the subscription. The RSA step needs the private key
//! and is the host's (`KeyUnwrap`); the rest is here. A notification is
//! refused unless its `clientState` is the deployment's (compared in
//! constant time, before anything is decrypted), its subscription is one
//! livecard made and still current, its certificate id is the current one,
//! it was not seen before, and its signature checks.

use super::mapping::Signals;
use crate::UnixMillis;
use aes::cipher::{BlockDecryptMut, KeyIvInit, block_padding::Pkcs7};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// Graph keeps a presence subscription at most an hour.
pub const MAX_SUBSCRIPTION_MS: u64 = 60 * 60_000;
/// A subscription is renewed this long before it ends (or at half its
/// life, when Graph granted less).
pub const RENEW_BEFORE_MS: u64 = 10 * 60_000;
/// The largest notification body read (Graph batches up to 1,000).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// The most notifications one body may carry.
pub const MAX_NOTIFICATIONS: usize = 1000;
/// The longest validation token echoed back.
pub const MAX_VALIDATION_TOKEN: usize = 1024;
/// A pushed presence counts this long unless a newer word replaces it
/// (the poller rewrites it well before).
pub const PUSH_LIFETIME_MS: u64 = 5 * 60_000;

/// The body of `POST /subscriptions`: presence of `users` (Graph user ids,
/// at most 650), pushed with its data encrypted to the certificate.
pub fn subscription_request(
    notification_url: &str,
    users: &[&str],
    certificate_b64: &str,
    certificate_id: &str,
    client_state: &str,
    expires: UnixMillis,
) -> serde_json::Value {
    let ids: Vec<String> = users.iter().map(|u| format!("'{u}'")).collect();
    serde_json::json!({
        "changeType": "updated",
        "notificationUrl": notification_url,
        "lifecycleNotificationUrl": notification_url,
        "resource": format!("/communications/presences?$filter=id in ({})", ids.join(",")),
        "includeResourceData": true,
        "encryptionCertificate": certificate_b64,
        "encryptionCertificateId": certificate_id,
        "expirationDateTime": iso(expires),
        "clientState": client_state,
    })
}

/// The body of `PATCH /subscriptions/{id}` that renews it.
pub fn renewal_request(expires: UnixMillis) -> serde_json::Value {
    serde_json::json!({ "expirationDateTime": iso(expires) })
}

/// When to renew a subscription granted until `expires` at `granted_at`.
pub fn renew_at(granted_at: UnixMillis, expires: UnixMillis) -> UnixMillis {
    let life = expires.saturating_sub(granted_at);
    expires.saturating_sub(RENEW_BEFORE_MS.min(life / 2))
}

fn iso(ms: UnixMillis) -> String {
    i64::try_from(ms)
        .ok()
        .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_default()
}

/// A Graph time (`2026-12-07T10:00:00.0000000Z`) in Unix milliseconds.
pub fn parse_time(text: &str) -> Option<UnixMillis> {
    let t: jiff::Timestamp = text.parse().ok()?;
    u64::try_from(t.as_millisecond()).ok()
}

/// A subscription Graph created or renewed: its id and end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Granted {
    pub id: String,
    pub expires: UnixMillis,
}

/// Reads Graph's answer to a subscription request.
pub fn parse_granted(body: &[u8]) -> Result<Granted, PushError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Answer {
        id: String,
        expiration_date_time: String,
    }
    let a: Answer = serde_json::from_slice(body).map_err(|e| PushError::Shape(e.to_string()))?;
    let expires = parse_time(&a.expiration_date_time)
        .ok_or_else(|| PushError::Shape("expirationDateTime is not a time".into()))?;
    if a.id.is_empty() || a.id.len() > 128 {
        return Err(PushError::Shape("the subscription id is not usable".into()));
    }
    Ok(Granted { id: a.id, expires })
}

/// Why a notification (or a body of them) is not believed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    #[error(
        "the body is larger than {MAX_BODY_BYTES} bytes or holds more than {MAX_NOTIFICATIONS} notifications"
    )]
    TooLarge,
    #[error("not a Graph notification: {0}")]
    Shape(String),
    #[error("wrong clientState")]
    ClientState,
    #[error("a subscription livecard does not hold (unknown or expired)")]
    Subscription,
    #[error("encrypted for another certificate")]
    Certificate,
    #[error("seen before (a replay)")]
    Replay,
    #[error("the signature does not check")]
    Signature,
    #[error("the content cannot be decrypted")]
    Decrypt,
    #[error("no resource data")]
    NoData,
}

impl PushError {
    /// A short name for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            PushError::TooLarge => "too_large",
            PushError::Shape(_) => "shape",
            PushError::ClientState => "client_state",
            PushError::Subscription => "subscription",
            PushError::Certificate => "certificate",
            PushError::Replay => "replay",
            PushError::Signature => "signature",
            PushError::Decrypt => "decrypt",
            PushError::NoData => "no_data",
        }
    }
}

/// One change notification as Graph posts it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    #[serde(default)]
    pub subscription_id: String,
    #[serde(default)]
    pub client_state: Option<String>,
    #[serde(default)]
    pub tenant_id: Option<String>,
    /// `reauthorizationRequired`, `subscriptionRemoved`, `missed` for a
    /// lifecycle notification.
    #[serde(default)]
    pub lifecycle_event: Option<String>,
    #[serde(default)]
    pub encrypted_content: Option<EncryptedContent>,
}

/// `encryptedContent`, its fields still base64.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EncryptedContent {
    pub data: String,
    pub data_signature: String,
    pub data_key: String,
    #[serde(default)]
    pub encryption_certificate_id: String,
}

/// Reads a body of notifications (`{"value": [...]}`).
pub fn parse_notifications(body: &[u8]) -> Result<Vec<Notification>, PushError> {
    #[derive(Deserialize)]
    struct Body {
        value: Vec<Notification>,
    }
    if body.len() > MAX_BODY_BYTES {
        return Err(PushError::TooLarge);
    }
    let b: Body = serde_json::from_slice(body).map_err(|e| PushError::Shape(e.to_string()))?;
    if b.value.len() > MAX_NOTIFICATIONS {
        return Err(PushError::TooLarge);
    }
    Ok(b.value)
}

/// Whether `given` is the deployment's client state, in constant time.
pub fn client_state_matches(expected: &str, given: Option<&str>) -> bool {
    let Some(given) = given else { return false };
    let (a, b) = (
        <Sha256 as sha2::Digest>::digest(expected.as_bytes()),
        <Sha256 as sha2::Digest>::digest(given.as_bytes()),
    );
    !expected.is_empty() && bool::from(a.ct_eq(&b))
}

impl EncryptedContent {
    /// The RSA-encrypted data key, for the host to unwrap.
    pub fn wrapped_key(&self) -> Result<Vec<u8>, PushError> {
        STANDARD
            .decode(&self.data_key)
            .map_err(|_| PushError::Shape("dataKey is not base64".into()))
    }

    /// What identifies this notification's content (its signature): a
    /// second delivery of the same content is a replay.
    pub fn fingerprint(&self) -> &str {
        &self.data_signature
    }

    /// Checks the signature under the unwrapped `key` and decrypts.
    pub fn open(&self, key: &[u8]) -> Result<Vec<u8>, PushError> {
        if key.len() != 32 {
            return Err(PushError::Decrypt);
        }
        let data = STANDARD
            .decode(&self.data)
            .map_err(|_| PushError::Shape("data is not base64".into()))?;
        let signature = STANDARD
            .decode(&self.data_signature)
            .map_err(|_| PushError::Shape("dataSignature is not base64".into()))?;
        let mut mac = Hmac::<Sha256>::new_from_slice(key).map_err(|_| PushError::Decrypt)?;
        mac.update(&data);
        mac.verify_slice(&signature)
            .map_err(|_| PushError::Signature)?;
        cbc::Decryptor::<aes::Aes256>::new_from_slices(key, &key[..16])
            .map_err(|_| PushError::Decrypt)?
            .decrypt_padded_vec_mut::<Pkcs7>(&data)
            .map_err(|_| PushError::Decrypt)
    }
}

/// Graph's side of the encryption, as documented (the RSA step given as
/// `wrapped_key`): for tests and benches that play Graph.
pub fn seal(
    key: &[u8; 32],
    plain: &[u8],
    wrapped_key: &[u8],
    certificate_id: &str,
) -> EncryptedContent {
    use aes::cipher::BlockEncryptMut;
    let data = cbc::Encryptor::<aes::Aes256>::new_from_slices(key, &key[..16])
        .map(|e| e.encrypt_padded_vec_mut::<Pkcs7>(plain))
        .unwrap_or_default();
    let signature = Hmac::<Sha256>::new_from_slice(key)
        .map(|mut mac| {
            mac.update(&data);
            mac.finalize().into_bytes().to_vec()
        })
        .unwrap_or_default();
    EncryptedContent {
        data: STANDARD.encode(&data),
        data_signature: STANDARD.encode(signature),
        data_key: STANDARD.encode(wrapped_key),
        encryption_certificate_id: certificate_id.to_owned(),
    }
}

/// The presence a decrypted notification carries: the user id and what it
/// means for livecard.
pub fn presence_of(plain: &[u8]) -> Result<(String, Signals), PushError> {
    let p: super::teams::GraphPresence =
        serde_json::from_slice(plain).map_err(|e| PushError::Shape(e.to_string()))?;
    if p.id.is_empty() || p.id.len() > 64 {
        return Err(PushError::Shape("the presence has no usable id".into()));
    }
    Ok((p.id.to_ascii_lowercase(), p.signals()))
}

/// Notification contents already applied, so a replay changes nothing: a
/// bounded set per host instance (Graph's own retries of one delivery are
/// minutes apart at most).
#[derive(Debug, Default)]
pub struct SeenNotifications {
    seen: std::collections::HashSet<String>,
    older: std::collections::HashSet<String>,
}

impl SeenNotifications {
    const GENERATION: usize = 10_000;

    /// Records `fingerprint`; false when it was seen already.
    pub fn first_time(&mut self, fingerprint: &str) -> bool {
        if self.seen.contains(fingerprint) || self.older.contains(fingerprint) {
            return false;
        }
        if self.seen.len() >= Self::GENERATION {
            self.older = std::mem::take(&mut self.seen);
        }
        self.seen.insert(fingerprint.to_owned());
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_content_opens_and_tampering_is_refused() {
        let key = [7u8; 32];
        let plain = br##"{"@odata.type":"#Microsoft.Graph.presence","id":"AB-12","availability":"Busy","activity":"InACall"}"##;
        let sealed = seal(&key, plain, b"wrapped", "c1");
        let opened = sealed.open(&key).expect("opens");
        assert_eq!(opened, plain);
        let (id, signals) = presence_of(&opened).expect("presence");
        assert_eq!(id, "ab-12");
        assert_eq!(signals, super::super::mapping::teams("Busy", "InACall"));

        let mut tampered = sealed.clone();
        let mut data = STANDARD.decode(&tampered.data).expect("b64");
        data[0] ^= 1;
        tampered.data = STANDARD.encode(&data);
        assert_eq!(tampered.open(&key), Err(PushError::Signature));
        assert_eq!(
            sealed.open(&[8u8; 32]),
            Err(PushError::Signature),
            "another key"
        );
        assert_eq!(sealed.open(&[7u8; 16]), Err(PushError::Decrypt));
    }

    #[test]
    fn client_state_is_compared_whole() {
        assert!(client_state_matches("s3cret-state", Some("s3cret-state")));
        assert!(!client_state_matches("s3cret-state", Some("s3cret-stat")));
        assert!(!client_state_matches("s3cret-state", None));
        assert!(!client_state_matches("", Some("")), "no state configured");
    }

    #[test]
    fn notifications_parse_with_limits() {
        let body = br#"{"value":[{"subscriptionId":"s1","clientState":"x","tenantId":"t","changeType":"updated","resource":"communications/presences('a')","encryptedContent":{"data":"AA==","dataSignature":"AA==","dataKey":"AA==","encryptionCertificateId":"c1","encryptionCertificateThumbprint":"x"}}],"validationTokens":["jwt"]}"#;
        let n = parse_notifications(body).expect("parses");
        assert_eq!(n.len(), 1);
        assert_eq!(n[0].subscription_id, "s1");
        assert_eq!(
            n[0].encrypted_content
                .as_ref()
                .map(|c| c.encryption_certificate_id.as_str()),
            Some("c1")
        );
        assert!(matches!(
            parse_notifications(b"{}"),
            Err(PushError::Shape(_))
        ));
        let many = format!(
            "{{\"value\":[{}]}}",
            vec!["{}"; MAX_NOTIFICATIONS + 1].join(",")
        );
        assert_eq!(
            parse_notifications(many.as_bytes()),
            Err(PushError::TooLarge)
        );
    }

    #[test]
    fn subscriptions_ask_for_encrypted_presence_and_renew_in_time() {
        let body = subscription_request("https://x/n", &["a", "b"], "CERT", "c1", "st", 3_600_000);
        assert_eq!(
            body["resource"],
            "/communications/presences?$filter=id in ('a','b')"
        );
        assert_eq!(body["includeResourceData"], true);
        assert_eq!(body["expirationDateTime"], "1970-01-01T01:00:00.000Z");
        assert_eq!(parse_time("1970-01-01T01:00:00.0000000Z"), Some(3_600_000));
        assert_eq!(
            renew_at(0, MAX_SUBSCRIPTION_MS),
            MAX_SUBSCRIPTION_MS - RENEW_BEFORE_MS
        );
        assert_eq!(renew_at(0, 20_000), 10_000, "half its life when short");
        let granted =
            parse_granted(br#"{"id":"sub-1","expirationDateTime":"1970-01-01T00:00:20Z"}"#)
                .expect("granted");
        assert_eq!(
            granted,
            Granted {
                id: "sub-1".into(),
                expires: 20_000
            }
        );
    }

    #[test]
    fn a_replay_is_seen() {
        let mut seen = SeenNotifications::default();
        assert!(seen.first_time("a"));
        assert!(!seen.first_time("a"));
        for i in 0..SeenNotifications::GENERATION {
            seen.first_time(&i.to_string());
        }
        assert!(!seen.first_time("a"), "kept for a generation more");
    }
}
