//! Admin API keys, advisor sign-in links and advisor sessions.
//!
//! - An admin API key is `lck_` + 32 random bytes (URL-safe base64). Only its
//!   SHA-256 is stored.
//! - A sign-in token is 32 random bytes (URL-safe base64), single use and
//!   short-lived; only its SHA-256 is stored.
//! - An advisor session cookie is `2.<advisor>.<epoch>.<expiry s>.<mac>`
//!   with an HMAC-SHA256 under the session key over the text before the
//!   last dot. The epoch is the advisor's session epoch when it was signed:
//!   raising the stored epoch (sign-out, an admin) ends every session
//!   signed before, on every host. (Version 1 had no epoch; it is refused,
//!   so such advisors sign in again.)

use crate::UnixMillis;
use crate::encoding::{b64url, b64url_decode, hmac_sha256, hmac_sha256_verify, sha256_hex};
use crate::ids::AdvisorId;

pub const API_KEY_PREFIX: &str = "lck_";
/// Anything longer is not a key; refused before hashing.
pub const MAX_SECRET_LEN: usize = 128;
pub const SIGNIN_TTL_MS: u64 = 15 * 60_000;
pub const SESSION_TTL_MS: u64 = 12 * 3_600_000;

/// A new admin API key from 32 random bytes.
pub fn new_api_key(random: [u8; 32]) -> String {
    format!("{API_KEY_PREFIX}{}", b64url(&random))
}

/// The stored form of an API key, or `None` when it cannot be one.
pub fn api_key_hash(key: &str) -> Option<String> {
    let body = key.strip_prefix(API_KEY_PREFIX)?;
    if key.len() > MAX_SECRET_LEN || b64url_decode(body).is_none_or(|b| b.len() != 32) {
        return None;
    }
    Some(sha256_hex(key.as_bytes()))
}

/// A new sign-in token from 32 random bytes.
pub fn new_signin_token(random: [u8; 32]) -> String {
    b64url(&random)
}

/// The stored form of a sign-in token, or `None` when it cannot be one.
pub fn signin_token_hash(token: &str) -> Option<String> {
    if token.len() > MAX_SECRET_LEN || b64url_decode(token).is_none_or(|b| b.len() != 32) {
        return None;
    }
    Some(sha256_hex(token.as_bytes()))
}

/// What a session cookie (or a WebSocket ticket) proves: the advisor and
/// the session epoch it was signed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdvisorSession {
    pub advisor: AdvisorId,
    pub epoch: u64,
}

/// Signs an advisor session valid until `now + ttl`.
pub fn sign_session(key: &[u8], session: &AdvisorSession, now: UnixMillis, ttl_ms: u64) -> String {
    let expires_s = (now + ttl_ms) / 1000;
    let signed = format!("2.{}.{}.{expires_s}", session.advisor, session.epoch);
    let mac = hmac_sha256(key, signed.as_bytes());
    format!("{signed}.{}", b64url(&mac))
}

/// The session a cookie names, when it is genuine and current. The caller
/// still compares its epoch with the advisor's stored one.
pub fn verify_session(key: &[u8], cookie: &str, now: UnixMillis) -> Option<AdvisorSession> {
    let signed = genuine(key, cookie)?;
    let ["2", advisor, epoch, expires] = crate::encoding::split_exact(signed, '.')? else {
        return None;
    };
    current_session(advisor, epoch, expires, now)
}

/// The signed part of `<signed>.<mac>` (at most 256 bytes) when its
/// HMAC-SHA256 under `key` is right.
fn genuine<'a>(key: &[u8], text: &'a str) -> Option<&'a str> {
    if text.len() > 256 {
        return None;
    }
    let (signed, mac) = text.rsplit_once('.')?;
    let mac = b64url_decode(mac)?;
    hmac_sha256_verify(key, signed.as_bytes(), &mac).then_some(signed)
}

/// The session these fields name, unless it expired (`expires`: seconds).
fn current_session(
    advisor: &str,
    epoch: &str,
    expires: &str,
    now: UnixMillis,
) -> Option<AdvisorSession> {
    let expires_s: u64 = expires.parse().ok()?;
    if now / 1000 >= expires_s {
        return None;
    }
    Some(AdvisorSession {
        advisor: AdvisorId::parse(advisor).ok()?,
        epoch: epoch.parse().ok()?,
    })
}

/// How long a WebSocket ticket is valid: a console fetches one right before
/// it connects.
pub const WS_TICKET_TTL_MS: u64 = 60_000;

/// Tickets are signed under a key derived from the session key, so a ticket
/// is never a valid session cookie and a cookie never a ticket.
fn ws_ticket_key(session_key: &[u8]) -> [u8; 32] {
    hmac_sha256(session_key, b"livecard websocket ticket v1")
}

/// A short-lived proof that lets a signed-in advisor's console open a
/// WebSocket on another origin (API Gateway's WebSocket API), where their
/// session cookie is not sent. `nonce` (random, from the host) makes every
/// ticket its own: tickets are single-use, and two asked for in the same
/// second (a console reloaded at once) must both work.
/// `t1.<advisor>.<epoch>.<expires, s>.<nonce>.<mac>`.
pub fn sign_ws_ticket(
    session_key: &[u8],
    session: &AdvisorSession,
    now: UnixMillis,
    nonce: [u8; 16],
) -> String {
    let expires_s = (now + WS_TICKET_TTL_MS) / 1000;
    let signed = format!(
        "t1.{}.{}.{expires_s}.{}",
        session.advisor,
        session.epoch,
        b64url(&nonce)
    );
    let mac = hmac_sha256(&ws_ticket_key(session_key), signed.as_bytes());
    format!("{signed}.{}", b64url(&mac))
}

/// The session a ticket names, when it is genuine and current. The caller
/// makes it single-use (`Store::claim_once`) and checks the epoch.
pub fn verify_ws_ticket(
    session_key: &[u8],
    ticket: &str,
    now: UnixMillis,
) -> Option<AdvisorSession> {
    let signed = genuine(&ws_ticket_key(session_key), ticket)?;
    let ["t1", advisor, epoch, expires, _nonce] = crate::encoding::split_exact(signed, '.')? else {
        return None;
    };
    current_session(advisor, epoch, expires, now)
}

/// How long an admin stays signed in on the reports page.
pub const ADMIN_SESSION_TTL_MS: u64 = 8 * 3_600_000;

fn admin_session_key(session_key: &[u8]) -> [u8; 32] {
    hmac_sha256(session_key, b"livecard admin page session v1")
}

/// A cookie for the admin pages, naming the API key it was signed in with
/// by the key's hash (`kind`: which hash it is), so revoking the key ends
/// it. Signed under its own key: never an advisor session or a ticket.
pub fn sign_admin_session(session_key: &[u8], kind: char, hash: &str, now: UnixMillis) -> String {
    let expires_s = (now + ADMIN_SESSION_TTL_MS) / 1000;
    let signed = format!("a1.{kind}.{hash}.{expires_s}");
    let mac = hmac_sha256(&admin_session_key(session_key), signed.as_bytes());
    format!("{signed}.{}", b64url(&mac))
}

/// The key hash an admin cookie names, when it is genuine and current.
pub fn verify_admin_session(
    session_key: &[u8],
    cookie: &str,
    now: UnixMillis,
) -> Option<(char, String)> {
    if cookie.len() > 256 {
        return None;
    }
    let (signed, mac) = cookie.rsplit_once('.')?;
    let mac = b64url_decode(mac)?;
    if !hmac_sha256_verify(&admin_session_key(session_key), signed.as_bytes(), &mac) {
        return None;
    }
    let ["a1", kind, hash, expires] = crate::encoding::split_exact(signed, '.')? else {
        return None;
    };
    let expires_s: u64 = expires.parse().ok()?;
    let mut kinds = kind.chars();
    let (Some(kind), None) = (kinds.next(), kinds.next()) else {
        return None;
    };
    (now / 1000 < expires_s).then(|| (kind, hash.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_sessions_expire_and_are_nothing_else() {
        let key = [7u8; 32];
        let cookie = sign_admin_session(&key, 'k', "abc123", 1_000);
        assert_eq!(
            verify_admin_session(&key, &cookie, 2_000),
            Some(('k', "abc123".into()))
        );
        assert_eq!(
            verify_admin_session(&key, &cookie, 1_000 + ADMIN_SESSION_TTL_MS),
            None
        );
        assert_eq!(verify_admin_session(&[8u8; 32], &cookie, 2_000), None);
        assert_eq!(verify_session(&key, &cookie, 2_000), None);
        let anna = AdvisorSession {
            advisor: AdvisorId::parse("anna").expect("id"),
            epoch: 1,
        };
        let advisor = sign_session(&key, &anna, 1_000, 60_000);
        assert_eq!(verify_admin_session(&key, &advisor, 2_000), None);
    }

    #[test]
    fn ws_tickets_are_short_lived_and_never_cookies() {
        let anna = AdvisorSession {
            advisor: AdvisorId::parse("anna").expect("id"),
            epoch: 3,
        };
        let ticket = sign_ws_ticket(b"session-key", &anna, 1_000_000, [7; 16]);
        // Two in the same second differ (each is single-use).
        assert_ne!(
            ticket,
            sign_ws_ticket(b"session-key", &anna, 1_000_000, [8; 16])
        );
        assert_eq!(
            verify_ws_ticket(b"session-key", &ticket, 1_000_000),
            Some(anna.clone())
        );
        assert_eq!(
            verify_ws_ticket(b"session-key", &ticket, 1_000_000 + WS_TICKET_TTL_MS),
            None
        );
        assert_eq!(verify_ws_ticket(b"other-key", &ticket, 1_000_000), None);
        // A ticket is not a session cookie, and a cookie is not a ticket.
        assert_eq!(verify_session(b"session-key", &ticket, 1_000_000), None);
        let cookie = sign_session(b"session-key", &anna, 1_000_000, SESSION_TTL_MS);
        assert_eq!(verify_ws_ticket(b"session-key", &cookie, 1_000_000), None);
    }

    #[test]
    fn api_keys_hash_only_when_well_formed() {
        let key = new_api_key([5; 32]);
        assert!(key.starts_with("lck_"));
        let hash = api_key_hash(&key).expect("well formed");
        assert_eq!(hash.len(), 64);
        assert_ne!(
            hash,
            api_key_hash(&new_api_key([6; 32])).expect("well formed")
        );
        assert_eq!(api_key_hash("lck_short"), None);
        assert_eq!(api_key_hash(&key[4..]), None);
        assert_eq!(api_key_hash(&format!("{key}{}", "A".repeat(200))), None);
    }

    #[test]
    fn sessions_verify_until_expiry_and_reject_tampering() {
        let key = [3u8; 32];
        let anna = AdvisorSession {
            advisor: AdvisorId::parse("anna").expect("valid"),
            epoch: 7,
        };
        let cookie = sign_session(&key, &anna, 1_000_000, 60_000);
        assert_eq!(verify_session(&key, &cookie, 1_000_000), Some(anna));
        let other_epoch = cookie.replacen(".7.", ".8.", 1);
        assert_eq!(
            verify_session(&key, &other_epoch, 1_000_000),
            None,
            "the epoch is signed"
        );
        // Version 1 (no epoch) is no longer taken.
        let v1 = "1.anna.99999999999";
        let v1 = format!("{v1}.{}", b64url(&hmac_sha256(&key, v1.as_bytes())));
        assert_eq!(verify_session(&key, &v1, 1_000_000), None);
        assert_eq!(verify_session(&key, &cookie, 1_060_000), None);
        assert_eq!(verify_session(&[4u8; 32], &cookie, 1_000_000), None);
        let tampered = cookie.replacen("anna", "boss", 1);
        assert_eq!(verify_session(&key, &tampered, 1_000_000), None);
        assert_eq!(verify_session(&key, "garbage", 1_000_000), None);
    }

    #[test]
    fn signin_tokens() {
        let token = new_signin_token([1; 32]);
        assert!(signin_token_hash(&token).is_some());
        assert!(signin_token_hash("nope").is_none());
    }
}
