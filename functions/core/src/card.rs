//! Live business card links.
//!
//! A card token is `1.<kid>.<claims>.<mac>`, all URL-safe:
//! - `1` is the format version;
//! - `kid` names the key that signed it (1 to 16 of a-z, 0-9), so that several
//!   keys verify while one signs, and keys can rotate;
//! - `claims` is URL-safe base64 (no padding) of a compact binary record:
//!   card id (16 bytes), expiry (Unix seconds, u32 big-endian), channels
//!   (1 byte: 1 chat, 2 audio, 4 video), advisor id (1 length byte + ASCII),
//!   campaign tag (1 length byte, 0 for none, + ASCII); nothing may follow;
//! - `mac` is URL-safe base64 of the first 16 bytes (128 bits) of
//!   HMAC-SHA256 under the key over `1.<kid>.<claims>` (the ASCII text
//!   before the last dot).
//!
//! The binary record keeps links short enough for e-mail signatures and
//! small QR codes (about 90 characters for a typical card).
//!
//! Verification tells apart malformed, unsupported-version, unknown-key,
//! forged and expired tokens (revocation is checked against the store by the
//! caller); the pages show one neutral error for all of them.

use crate::UnixMillis;
use crate::channel::{Channel, ChannelSet};
use crate::encoding::{b64url, b64url_decode, hmac_sha256};
use crate::ids::{AdvisorId, CardId};
use serde::{Deserialize, Serialize};
use std::fmt;

pub const TOKEN_VERSION: &str = "1";
/// Longer tokens are refused before any work is done.
pub const MAX_TOKEN_LEN: usize = 512;
/// The longest a card may live.
pub const MAX_LIFETIME_MS: u64 = 2 * 366 * 86_400_000;
/// The lifetime when none is asked for.
pub const DEFAULT_LIFETIME_MS: u64 = 90 * 86_400_000;
/// Signing keys must have at least this many bytes.
pub const MIN_KEY_LEN: usize = 32;

/// What a card grants, signed into its token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardClaims {
    pub card_id: CardId,
    pub advisor: AdvisorId,
    pub campaign: Option<String>,
    pub channels: ChannelSet,
    /// Unix seconds.
    pub expires_at_s: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CardError {
    #[error("the card token is malformed")]
    Malformed,
    #[error("the card token has an unsupported version")]
    UnsupportedVersion,
    #[error("the card token names an unknown key")]
    UnknownKey,
    #[error("the card token's signature does not match")]
    Forged,
    #[error("the card has expired")]
    Expired,
    #[error("the card has been revoked")]
    Revoked,
}

impl CardError {
    /// A stable name for logs and metrics.
    pub fn reason(self) -> &'static str {
        match self {
            CardError::Malformed => "malformed",
            CardError::UnsupportedVersion => "unsupported_version",
            CardError::UnknownKey => "unknown_key",
            CardError::Forged => "forged",
            CardError::Expired => "expired",
            CardError::Revoked => "revoked",
        }
    }
}

/// A key id: 1 to 16 of a-z and 0-9.
pub fn valid_kid(kid: &str) -> bool {
    (1..=16).contains(&kid.len())
        && kid
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// A campaign tag: 1 to 64 of a-z, A-Z, 0-9, '-', '_', '.'.
pub fn valid_campaign(tag: &str) -> bool {
    (1..=64).contains(&tag.len())
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyringError {
    #[error("key id {0:?} must be 1 to 16 of a-z and 0-9")]
    Kid(String),
    #[error("key {0:?} is shorter than {MIN_KEY_LEN} bytes")]
    Short(String),
    #[error("the signing key {0:?} is not among the keys")]
    NoSigningKey(String),
    #[error("key id {0:?} appears twice")]
    Duplicate(String),
}

/// The card keys: every key verifies, one signs.
#[derive(Clone)]
pub struct Keyring {
    signing: String,
    keys: Vec<(String, Vec<u8>)>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print key material.
        let kids: Vec<&str> = self.keys.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("Keyring")
            .field("signing", &self.signing)
            .field("kids", &kids)
            .finish()
    }
}

impl Keyring {
    pub fn new(signing: &str, keys: Vec<(String, Vec<u8>)>) -> Result<Self, KeyringError> {
        for (i, (kid, key)) in keys.iter().enumerate() {
            if !valid_kid(kid) {
                return Err(KeyringError::Kid(kid.clone()));
            }
            if key.len() < MIN_KEY_LEN {
                return Err(KeyringError::Short(kid.clone()));
            }
            if keys[..i].iter().any(|(k, _)| k == kid) {
                return Err(KeyringError::Duplicate(kid.clone()));
            }
        }
        if !keys.iter().any(|(k, _)| k == signing) {
            return Err(KeyringError::NoSigningKey(signing.to_owned()));
        }
        Ok(Self {
            signing: signing.to_owned(),
            keys,
        })
    }

    pub fn signing_kid(&self) -> &str {
        &self.signing
    }

    fn key(&self, kid: &str) -> Option<&[u8]> {
        self.keys
            .iter()
            .find(|(k, _)| k == kid)
            .map(|(_, v)| v.as_slice())
    }

    /// Signs `claims` with the signing key.
    pub fn sign(&self, claims: &CardClaims) -> String {
        let signed = format!(
            "{TOKEN_VERSION}.{}.{}",
            self.signing,
            b64url(&encode_claims(claims))
        );
        let key = self.key(&self.signing).unwrap_or_default();
        let mac = hmac_sha256(key, signed.as_bytes());
        format!("{signed}.{}", b64url(&mac[..MAC_LEN]))
    }

    /// Verifies a token at `now`. Revocation is the caller's to check.
    pub fn verify(&self, token: &str, now: UnixMillis) -> Result<CardClaims, CardError> {
        if token.is_empty() || token.len() > MAX_TOKEN_LEN || !token.is_ascii() {
            return Err(CardError::Malformed);
        }
        let [version, kid, payload, mac] =
            crate::encoding::split_exact(token, '.').ok_or(CardError::Malformed)?;
        if version != TOKEN_VERSION {
            return if !version.is_empty() && version.bytes().all(|b| b.is_ascii_digit()) {
                Err(CardError::UnsupportedVersion)
            } else {
                Err(CardError::Malformed)
            };
        }
        if !valid_kid(kid) {
            return Err(CardError::Malformed);
        }
        let mac = b64url_decode(mac)
            .filter(|m| m.len() == MAC_LEN)
            .ok_or(CardError::Malformed)?;
        let bytes = b64url_decode(payload).ok_or(CardError::Malformed)?;
        let key = self.key(kid).ok_or(CardError::UnknownKey)?;
        let signed = &token[..version.len() + kid.len() + payload.len() + 2];
        let expected = hmac_sha256(key, signed.as_bytes());
        if !crate::encoding::constant_time_eq(&expected[..MAC_LEN], &mac) {
            return Err(CardError::Forged);
        }
        let claims = decode_claims(&bytes).ok_or(CardError::Malformed)?;
        if now / 1000 >= claims.expires_at_s {
            return Err(CardError::Expired);
        }
        Ok(claims)
    }
}

/// Bytes of the MAC kept in a token.
pub const MAC_LEN: usize = 16;

fn channel_bits(set: ChannelSet) -> u8 {
    set.iter()
        .map(|c| match c {
            Channel::Chat => 1,
            Channel::Audio => 2,
            Channel::Video => 4,
        })
        .sum()
}

fn encode_claims(claims: &CardClaims) -> Vec<u8> {
    let id = b64url_decode(claims.card_id.as_str()).unwrap_or_default();
    let advisor = claims.advisor.as_str().as_bytes();
    let campaign = claims.campaign.as_deref().unwrap_or("").as_bytes();
    let mut out = Vec::with_capacity(24 + advisor.len() + campaign.len());
    out.extend_from_slice(&id);
    out.extend_from_slice(
        &u32::try_from(claims.expires_at_s)
            .unwrap_or(u32::MAX)
            .to_be_bytes(),
    );
    out.push(channel_bits(claims.channels));
    // Both are at most 64 bytes by validation.
    out.push(advisor.len() as u8);
    out.extend_from_slice(advisor);
    out.push(campaign.len() as u8);
    out.extend_from_slice(campaign);
    out
}

fn decode_claims(bytes: &[u8]) -> Option<CardClaims> {
    let (id, rest) = bytes.split_at_checked(16)?;
    let (exp, rest) = rest.split_at_checked(4)?;
    let (&bits, rest) = rest.split_first()?;
    let (&advisor_len, rest) = rest.split_first()?;
    let (advisor, rest) = rest.split_at_checked(usize::from(advisor_len))?;
    let (&campaign_len, rest) = rest.split_first()?;
    let (campaign, rest) = rest.split_at_checked(usize::from(campaign_len))?;
    if !rest.is_empty() || bits == 0 || bits > 7 {
        return None;
    }
    let channels = Channel::ALL
        .into_iter()
        .filter(|c| bits & channel_bits(ChannelSet::NONE.with(*c)) != 0)
        .fold(ChannelSet::NONE, ChannelSet::with);
    let campaign = match campaign_len {
        0 => None,
        _ => Some(
            std::str::from_utf8(campaign)
                .ok()
                .filter(|c| valid_campaign(c))?
                .to_owned(),
        ),
    };
    Some(CardClaims {
        card_id: CardId::from_bytes(id.try_into().ok()?),
        advisor: AdvisorId::parse(std::str::from_utf8(advisor).ok()?).ok()?,
        campaign,
        channels,
        expires_at_s: u64::from(u32::from_be_bytes(exp.try_into().ok()?)),
    })
}

/// A request to create a card, as the admin API and CLI send it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardRequest {
    pub advisor: AdvisorId,
    #[serde(default)]
    pub campaign: Option<String>,
    /// Defaults to the advisor's channels.
    #[serde(default)]
    pub channels: Option<ChannelSet>,
    /// Lifetime in milliseconds; defaults to [`DEFAULT_LIFETIME_MS`].
    #[serde(default)]
    pub expires_in_ms: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidCardRequest {
    #[error("campaign must be 1 to 64 of a-z, A-Z, 0-9, '-', '_', '.'")]
    Campaign,
    #[error("channels must name at least one channel the advisor offers")]
    Channels,
    #[error("expiry must be between 1 minute and 2 years")]
    Lifetime,
}

/// A card as stored: its claims, its token and its life.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Card {
    pub claims: CardClaims,
    pub token: String,
    pub created_at: UnixMillis,
    pub revoked_at: Option<UnixMillis>,
    /// The advisor's display name when the card was made (its e-mail
    /// snippet says it); cards made before this was kept have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advisor_name: Option<String>,
}

impl Card {
    /// Issues a new card for an advisor offering `offered` channels.
    pub fn issue(
        keyring: &Keyring,
        request: CardRequest,
        offered: ChannelSet,
        id_bytes: [u8; 16],
        now: UnixMillis,
    ) -> Result<Card, InvalidCardRequest> {
        if request
            .campaign
            .as_deref()
            .is_some_and(|c| !valid_campaign(c))
        {
            return Err(InvalidCardRequest::Campaign);
        }
        let channels = request.channels.unwrap_or(offered);
        if channels.is_empty() || channels.intersect(offered) != channels {
            return Err(InvalidCardRequest::Channels);
        }
        let lifetime = request.expires_in_ms.unwrap_or(DEFAULT_LIFETIME_MS);
        if !(60_000..=MAX_LIFETIME_MS).contains(&lifetime) {
            return Err(InvalidCardRequest::Lifetime);
        }
        let claims = CardClaims {
            card_id: CardId::from_bytes(id_bytes),
            advisor: request.advisor,
            campaign: request.campaign,
            channels,
            expires_at_s: (now + lifetime).div_ceil(1000),
        };
        let token = keyring.sign(&claims);
        Ok(Card {
            claims,
            token,
            created_at: now,
            revoked_at: None,
            advisor_name: None,
        })
    }

    pub fn expires_at_ms(&self) -> UnixMillis {
        self.claims.expires_at_s.saturating_mul(1000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: UnixMillis = 1_700_000_000_000;

    fn keyring(signing: &str) -> Keyring {
        Keyring::new(
            signing,
            vec![("k1".into(), vec![1; 32]), ("k2".into(), vec![2; 32])],
        )
        .expect("valid keyring")
    }

    fn card(ring: &Keyring) -> Card {
        let request = CardRequest {
            advisor: AdvisorId::parse("anna").expect("valid"),
            campaign: Some("spring-25".into()),
            channels: Some("chat,video".parse().expect("valid")),
            expires_in_ms: Some(86_400_000),
        };
        Card::issue(ring, request, ChannelSet::ALL, [9; 16], NOW).expect("valid")
    }

    #[test]
    fn round_trips_and_is_url_safe() {
        let ring = keyring("k1");
        let card = card(&ring);
        assert!(card.token.starts_with("1.k1."));
        assert!(
            card.token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        );
        let claims = ring.verify(&card.token, NOW + 1).expect("valid");
        assert_eq!(claims, card.claims);
        assert_eq!(claims.campaign.as_deref(), Some("spring-25"));
    }

    #[test]
    fn rotation_old_key_still_verifies_new_key_signs() {
        let old = card(&keyring("k1"));
        let rotated = keyring("k2");
        assert!(rotated.verify(&old.token, NOW).is_ok());
        assert!(card(&rotated).token.starts_with("1.k2."));
        let retired = Keyring::new("k2", vec![("k2".into(), vec![2; 32])]).expect("valid");
        assert_eq!(retired.verify(&old.token, NOW), Err(CardError::UnknownKey));
    }

    #[test]
    fn distinct_errors() {
        let ring = keyring("k1");
        let token = card(&ring).token;
        assert_eq!(
            ring.verify(&token, NOW + 86_400_000),
            Err(CardError::Expired)
        );
        // One character changed anywhere gives a forgery or a malformed token.
        for i in 0..token.len() {
            let mut bytes = token.clone().into_bytes();
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            let changed = String::from_utf8(bytes).expect("ascii");
            if changed == token {
                continue;
            }
            let err = ring
                .verify(&changed, NOW)
                .expect_err("changed token accepted");
            assert!(
                matches!(
                    err,
                    CardError::Forged
                        | CardError::Malformed
                        | CardError::UnknownKey
                        | CardError::UnsupportedVersion
                ),
                "position {i}: {err:?}"
            );
        }
        let forged_payload = {
            let parts: Vec<&str> = token.split('.').collect();
            let evil = b64url(
                br#"{"id":"CQkJCQkJCQkJCQkJCQkJCQ","adv":"boss","ch":"cav","exp":9999999999}"#,
            );
            format!("{}.{}.{}.{}", parts[0], parts[1], evil, parts[3])
        };
        assert_eq!(ring.verify(&forged_payload, NOW), Err(CardError::Forged));
        assert_eq!(
            ring.verify(&token.replacen("1.", "2.", 1), NOW),
            Err(CardError::UnsupportedVersion)
        );
        assert_eq!(
            ring.verify(&token.replacen(".k1.", ".k9.", 1), NOW),
            Err(CardError::UnknownKey)
        );
        for bad in [
            "",
            "1.k1",
            "a.b.c.d.e",
            "1.K1.x.y",
            &"x".repeat(600),
            "1.k1.!!.??",
            "1.k1.e30.AAAA",
        ] {
            assert_eq!(ring.verify(bad, NOW), Err(CardError::Malformed), "{bad:?}");
        }
    }

    #[test]
    fn refuses_bad_requests_and_keyrings() {
        let ring = keyring("k1");
        let advisor = AdvisorId::parse("anna").expect("valid");
        let base = CardRequest {
            advisor,
            campaign: None,
            channels: None,
            expires_in_ms: None,
        };
        let only_chat = ChannelSet::NONE.with(crate::channel::Channel::Chat);
        let video = Some("video".parse().expect("valid"));
        assert_eq!(
            Card::issue(
                &ring,
                CardRequest {
                    channels: video,
                    ..base.clone()
                },
                only_chat,
                [0; 16],
                NOW
            ),
            Err(InvalidCardRequest::Channels)
        );
        assert_eq!(
            Card::issue(
                &ring,
                CardRequest {
                    campaign: Some("a b".into()),
                    ..base.clone()
                },
                only_chat,
                [0; 16],
                NOW
            ),
            Err(InvalidCardRequest::Campaign)
        );
        assert_eq!(
            Card::issue(
                &ring,
                CardRequest {
                    expires_in_ms: Some(MAX_LIFETIME_MS + 1),
                    ..base.clone()
                },
                only_chat,
                [0; 16],
                NOW
            ),
            Err(InvalidCardRequest::Lifetime)
        );
        let default = Card::issue(&ring, base, only_chat, [0; 16], NOW).expect("valid");
        assert_eq!(default.claims.channels, only_chat);
        assert_eq!(default.expires_at_ms(), NOW + DEFAULT_LIFETIME_MS);
        assert!(matches!(
            Keyring::new("k1", vec![("k1".into(), vec![0; 8])]),
            Err(KeyringError::Short(_))
        ));
        assert!(matches!(
            Keyring::new("k3", vec![("k1".into(), vec![0; 32])]),
            Err(KeyringError::NoSigningKey(_))
        ));
        assert!(!format!("{ring:?}").contains("[1, 1"));
    }

    #[test]
    fn signed_garbage_is_malformed_and_short_links() {
        let ring = keyring("k1");
        let signed = format!("1.k1.{}", b64url(b"short"));
        let mac = hmac_sha256(&[1; 32], signed.as_bytes());
        let token = format!("{signed}.{}", b64url(&mac[..MAC_LEN]));
        assert_eq!(ring.verify(&token, NOW), Err(CardError::Malformed));
        assert_eq!(
            ring.verify("1.k1.AAAA.AAAAAAAAAAAAAAAAAAAAAA", NOW),
            Err(CardError::Forged)
        );
        // Short enough for a signature line and a small QR code.
        assert!(card(&ring).token.len() < 100, "{}", card(&ring).token.len());
    }
}
