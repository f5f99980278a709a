//! The visitor's proof for one session: HMAC-SHA256 under the session key
//! over `contact|<session id>`, the first 128 bits, base64url. The contact
//! request answers it; the visitor's socket joins with it, and the offline
//! message and the ICE servers ask for it.

use crate::encoding::{b64url, b64url_decode, constant_time_eq, hmac_sha256};

/// Longer tokens are refused unread.
const MAX_TOKEN_LEN: usize = 64;

pub fn session_token(key: &[u8], session: &str) -> String {
    b64url(&mac(key, session)[..16])
}

pub fn verify_session_token(key: &[u8], session: &str, token: &str) -> bool {
    if token.len() > MAX_TOKEN_LEN {
        return false;
    }
    let Some(tag) = b64url_decode(token) else {
        return false;
    };
    tag.len() == 16 && constant_time_eq(&mac(key, session)[..16], &tag)
}

fn mac(key: &[u8], session: &str) -> [u8; 32] {
    hmac_sha256(key, format!("contact|{session}").as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_tokens_are_bound_to_their_session() {
        let token = session_token(b"k", "s1");
        assert!(verify_session_token(b"k", "s1", &token));
        assert!(!verify_session_token(b"k", "s2", &token));
        assert!(!verify_session_token(b"other", "s1", &token));
        assert!(!verify_session_token(b"k", "s1", "AAAA"));
        assert!(!verify_session_token(b"k", "s1", &"A".repeat(200)));
    }
}
