//! Identifiers. Each is validated once, at the edge, and is then known good.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} must be 1 to {max} characters of a-z, 0-9, '-' and '_'")]
pub struct InvalidId {
    pub what: &'static str,
    pub max: usize,
}

fn valid_slug(text: &str, max: usize) -> bool {
    !text.is_empty()
        && text.len() <= max
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

macro_rules! slug_id {
    ($(#[$doc:meta])* $name:ident, $what:literal, $max:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub const MAX_LEN: usize = $max;

            pub fn parse(text: &str) -> Result<Self, InvalidId> {
                if valid_slug(text, Self::MAX_LEN) {
                    Ok(Self(text.to_owned()))
                } else {
                    Err(InvalidId { what: $what, max: Self::MAX_LEN })
                }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidId;
            fn try_from(text: String) -> Result<Self, InvalidId> {
                Self::parse(&text)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

slug_id!(
    /// An advisor's id, chosen by the admin (`anna-schmidt`).
    AdvisorId, "an advisor id", 64
);

slug_id!(
    /// An analytics destination's id, chosen by the admin (`ga4`, `crm-hook`).
    DestinationId, "a destination id", 32
);

/// A random identifier (card ids, event ids): 16 random bytes, URL-safe base64.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RandomId(String);

impl RandomId {
    /// The encoded length of 16 bytes.
    pub const LEN: usize = 22;

    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(crate::encoding::b64url(&bytes))
    }

    pub fn parse(text: &str) -> Result<Self, InvalidId> {
        Self::try_from(text.to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The 16 bytes it encodes.
    pub fn to_bytes(&self) -> Option<[u8; 16]> {
        crate::encoding::b64url_decode_16(&self.0)
    }
}

impl TryFrom<String> for RandomId {
    type Error = InvalidId;
    /// Keeps the string it checked (ids are read by the million).
    fn try_from(text: String) -> Result<Self, InvalidId> {
        if text.len() == Self::LEN && crate::encoding::b64url_decode_16(&text).is_some() {
            Ok(Self(text))
        } else {
            Err(InvalidId {
                what: "a random id",
                max: Self::LEN,
            })
        }
    }
}

impl From<RandomId> for String {
    fn from(id: RandomId) -> String {
        id.0
    }
}

impl fmt::Display for RandomId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A card's id.
pub type CardId = RandomId;
/// An analytics event's id (its idempotency key).
pub type EventId = RandomId;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advisor_ids_are_slugs() {
        assert!(AdvisorId::parse("anna-schmidt_2").is_ok());
        for bad in ["", "Anna", "a b", "a/b", "ä", &"x".repeat(65)] {
            assert!(AdvisorId::parse(bad).is_err(), "{bad:?} accepted");
        }
        let parsed: Result<AdvisorId, _> = serde_json::from_str("\"../etc\"");
        assert!(parsed.is_err());
    }

    #[test]
    fn random_ids_are_22_url_safe_chars() {
        let id = RandomId::from_bytes([7; 16]);
        assert_eq!(id.as_str().len(), RandomId::LEN);
        assert_eq!(RandomId::parse(id.as_str()), Ok(id));
        assert!(RandomId::parse("short").is_err());
        assert!(RandomId::parse("++++++++++++++++++++++").is_err());
    }
}
