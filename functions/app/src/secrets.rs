//! The deployment's secrets as one JSON document: `secrets.json` in the
//! local data directory, or one Secrets Manager secret on AWS. Both hosts
//! read it with [`SecretsDocument::parse`], so the format is defined once.
//!
//! ```json
//! { "card_signing_key": "k1", "card_keys": {"k1": "<base64, 32 bytes>"},
//!   "session_key": "<base64>", "visitor_key": "<base64>",
//!   "presence_webhook_secret": "whsec_<base64>", "turn_secret": "<base64>" }
//! ```

use crate::Secrets;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use livecard_core::card::Keyring;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// The largest secrets document accepted.
pub const MAX_DOCUMENT_BYTES: usize = 64 * 1024;

#[derive(Serialize, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct SecretsDocument {
    /// Which card key signs new cards.
    pub card_signing_key: String,
    /// Every card key that verifies (base64), by key id.
    pub card_keys: BTreeMap<String, String>,
    pub session_key: String,
    pub visitor_key: String,
    /// `whsec_…`: the company presence system signs its pushes with it.
    #[serde(default)]
    pub presence_webhook_secret: Option<String>,
    /// Shared with the media nodes (base64, at least 32 bytes): signs TURN
    /// credentials.
    #[serde(default)]
    pub turn_secret: Option<String>,
}

impl fmt::Debug for SecretsDocument {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretsDocument")
            .field("card_signing_key", &self.card_signing_key)
            .finish_non_exhaustive()
    }
}

/// Why a secrets document cannot be used. Never carries a secret value.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error("the secrets document is larger than {MAX_DOCUMENT_BYTES} bytes")]
    TooLarge,
    #[error("the secrets document is not valid JSON of the expected shape: {0}")]
    Shape(String),
    #[error("{0}")]
    Invalid(String),
}

impl SecretsDocument {
    /// A fresh document: one card key (`k1`) and new keys, from `random`.
    pub fn generate(random: &dyn crate::Random) -> Self {
        let key = || {
            let mut bytes = [0u8; 32];
            random.fill(&mut bytes);
            bytes
        };
        Self {
            card_signing_key: "k1".into(),
            card_keys: BTreeMap::from([("k1".to_owned(), STANDARD.encode(key()))]),
            session_key: STANDARD.encode(key()),
            visitor_key: STANDARD.encode(key()),
            presence_webhook_secret: Some(livecard_core::webhook::encode_secret(&key())),
            turn_secret: Some(STANDARD.encode(key())),
        }
    }

    pub fn from_json(text: &str) -> Result<Self, SecretsError> {
        if text.len() > MAX_DOCUMENT_BYTES {
            return Err(SecretsError::TooLarge);
        }
        // serde's message names the field, never its value.
        serde_json::from_str(text).map_err(|err| {
            SecretsError::Shape(format!("line {} column {}", err.line(), err.column()))
        })
    }

    /// Reads and checks a document in one step.
    pub fn parse(text: &str) -> Result<Secrets, SecretsError> {
        Self::from_json(text)?.into_secrets()
    }

    pub fn into_secrets(self) -> Result<Secrets, SecretsError> {
        let decode = |name: &str, text: &str| {
            STANDARD
                .decode(text)
                .map_err(|_| SecretsError::Invalid(format!("{name} is not base64")))
        };
        let mut keys = Vec::new();
        for (kid, text) in &self.card_keys {
            keys.push((kid.clone(), decode(&format!("card key {kid}"), text)?));
        }
        let cards = Keyring::new(&self.card_signing_key, keys)
            .map_err(|err| SecretsError::Invalid(err.to_string()))?;
        let session_key = decode("session_key", &self.session_key)?;
        let visitor_key = decode("visitor_key", &self.visitor_key)?;
        if session_key.len() < 32 || visitor_key.len() < 32 {
            return Err(SecretsError::Invalid(
                "session_key and visitor_key must be at least 32 bytes".into(),
            ));
        }
        let presence_webhook_key = self
            .presence_webhook_secret
            .as_deref()
            .and_then(livecard_core::webhook::decode_secret)
            .ok_or_else(|| {
                SecretsError::Invalid(
                    "presence_webhook_secret must be whsec_ followed by base64 of at least 24 bytes"
                        .into(),
                )
            })?;
        let turn_secret = match &self.turn_secret {
            None => None,
            Some(text) => {
                let secret = decode("turn_secret", text)?;
                if secret.len() < 32 {
                    return Err(SecretsError::Invalid(
                        "turn_secret must be at least 32 bytes".into(),
                    ));
                }
                Some(secret)
            }
        };
        Ok(Secrets {
            cards,
            session_key,
            visitor_key,
            presence_webhook_key,
            turn_secret,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Counting;
    impl crate::Random for Counting {
        fn fill(&self, buf: &mut [u8]) {
            for (i, b) in buf.iter_mut().enumerate() {
                *b = i as u8;
            }
        }
    }

    #[test]
    fn a_generated_document_reads_back() {
        let doc = SecretsDocument::generate(&Counting);
        let text = serde_json::to_string(&doc).expect("json");
        let secrets = SecretsDocument::parse(&text).expect("valid");
        assert_eq!(secrets.session_key.len(), 32);
    }

    #[test]
    fn bad_documents_are_refused_without_echoing_values() {
        let mut doc = SecretsDocument::generate(&Counting);
        doc.session_key = "c2hvcnQ=".into(); // "short"
        let err = doc.into_secrets().expect_err("too short");
        assert!(err.to_string().contains("at least 32 bytes"));
        let err = SecretsDocument::parse(r#"{"card_signing_key":"k1","secret_value_here":1}"#)
            .expect_err("unknown field");
        assert!(!err.to_string().contains("secret_value_here"), "{err}");
        assert!(matches!(
            SecretsDocument::parse(&" ".repeat(MAX_DOCUMENT_BYTES + 1)),
            Err(SecretsError::TooLarge)
        ));
    }
}
