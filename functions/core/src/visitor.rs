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
