//! Visitor pseudonyms: raw IP addresses are never stored.
//!
//! A visitor is counted as `v_` + the first 12 bytes of HMAC-SHA256 under a
//! server secret over the day number and the address, so the same visitor is
//! recognisable within a day for analytics and unlinkable across days.

use crate::UnixMillis;
use crate::encoding::{b64url, hmac_sha256};

pub fn pseudonym(secret: &[u8], address: &str, now: UnixMillis) -> String {
    let day = now / 86_400_000;
    let mac = hmac_sha256(secret, format!("{day}|{address}").as_bytes());
    format!("v_{}", b64url(&mac[..12]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_within_a_day_and_hides_the_address() {
        let a = pseudonym(b"secret", "203.0.113.9", 10);
        assert_eq!(a, pseudonym(b"secret", "203.0.113.9", 86_399_999));
        assert_ne!(a, pseudonym(b"secret", "203.0.113.9", 86_400_000));
        assert_ne!(a, pseudonym(b"secret", "203.0.113.10", 10));
        assert!(!a.contains("203"));
    }
}

/// A new visitor id (kept in a signed cookie so a returning visitor can be
/// sent to the advisor they last spoke with).
pub fn new_visitor_id(random: [u8; 16]) -> String {
    format!("vis_{}", b64url(&random))
}

/// The visitor cookie: `1.<visitor id>.<mac>`, HMAC-SHA256 under the
/// visitor key over the text before the last dot.
pub fn sign_visitor_cookie(key: &[u8], visitor: &str) -> String {
    let signed = format!("1.{visitor}");
    format!("{signed}.{}", b64url(&hmac_sha256(key, signed.as_bytes())))
}

/// The visitor id of a genuine cookie.
pub fn verify_visitor_cookie(key: &[u8], cookie: &str) -> Option<String> {
    if cookie.len() > 128 {
        return None;
    }
    let (signed, mac) = cookie.rsplit_once('.')?;
    let visitor = signed.strip_prefix("1.")?;
    let mac = crate::encoding::b64url_decode(mac)?;
    let valid_id = visitor
        .strip_prefix("vis_")
        .and_then(crate::encoding::b64url_decode)
        .is_some_and(|b| b.len() == 16);
    (valid_id && crate::encoding::hmac_sha256_verify(key, signed.as_bytes(), &mac))
        .then(|| visitor.to_owned())
}

#[cfg(test)]
mod cookie_tests {
    use super::*;

    #[test]
    fn visitor_cookies_verify_only_when_genuine() {
        let id = new_visitor_id([3; 16]);
        let cookie = sign_visitor_cookie(b"key", &id);
        assert_eq!(verify_visitor_cookie(b"key", &cookie), Some(id.clone()));
        assert_eq!(verify_visitor_cookie(b"other", &cookie), None);
        let forged = sign_visitor_cookie(b"key", "vis_x").replacen("vis_x", &id, 1);
        assert_eq!(verify_visitor_cookie(b"key", &forged), None);
        assert_eq!(verify_visitor_cookie(b"key", "1.vis_short.AAAA"), None);
    }
}
