//! The functions' configuration, from the environment (Terraform sets it).

use std::fmt;

/// What every livecard function reads at a cold start.
#[derive(Clone, PartialEq, Eq)]
pub struct Settings {
    /// `LIVECARD_TABLE`: the DynamoDB table.
    pub table: String,
    /// `LIVECARD_PUBLIC_URL`: where the portal is (`https://contact.example.com`).
    pub public_url: String,
    /// `LIVECARD_WS_URL`: where clients open the signaling socket
    /// (`wss://abc123.execute-api.eu-central-1.amazonaws.com/live`).
    pub ws_url: String,
    /// `LIVECARD_WS_CALLBACK_URL`: the WebSocket API's Management API
    /// endpoint (`https://abc123.execute-api.eu-central-1.amazonaws.com/live`).
    pub ws_callback_url: String,
    /// `LIVECARD_SECRETS_ARN`: the Secrets Manager secret holding the secrets
    /// document (`livecard_app::secrets`).
    pub secrets_arn: String,
    /// `LIVECARD_PRESENCE_TTL_SECONDS` (optional): console heartbeat lifetime.
    pub presence_ttl_ms: Option<u64>,
    /// `LIVECARD_SWEEP_SECONDS` (sweep function; default 0): how long one
    /// invocation keeps sweeping, every `LIVECARD_SWEEP_EVERY_SECONDS`
    /// (default 5). EventBridge fires at most once a minute; sweeping for
    /// 55 s of each minute keeps ring deadlines (30 s) to the second-ish.
    pub sweep_ms: u64,
    pub sweep_every_ms: u64,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("table", &self.table)
            .field("public_url", &self.public_url)
            .field("ws_url", &self.ws_url)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SettingsError {
    #[error("{0} is not set")]
    Missing(&'static str),
    #[error("{name} is not valid: {expected}")]
    Invalid {
        name: &'static str,
        expected: &'static str,
    },
}

/// A URL from the environment: at most 2,048 bytes, one of `schemes`, no
/// whitespace or control characters; else the variable is named.
pub(crate) fn checked_url(
    name: &'static str,
    value: String,
    schemes: &[&str],
    expected: &'static str,
) -> Result<String, SettingsError> {
    if value.len() > 2048
        || !schemes.iter().any(|s| value.starts_with(s))
        || value.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(SettingsError::Invalid { name, expected });
    }
    Ok(value)
}

impl Settings {
    pub fn from_env() -> Result<Self, SettingsError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// The same, from any source of variables (tests).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let required = |name: &'static str| {
            get(name)
                .filter(|v| !v.trim().is_empty())
                .ok_or(SettingsError::Missing(name))
        };
        let url = |name: &'static str, schemes: &[&str], expected: &'static str| {
            let value = checked_url(name, required(name)?, schemes, expected)?;
            Ok(value.trim_end_matches('/').to_owned())
        };
        let table = required("LIVECARD_TABLE")?;
        if !(3..=255).contains(&table.len())
            || !table
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
        {
            return Err(SettingsError::Invalid {
                name: "LIVECARD_TABLE",
                expected: "a DynamoDB table name (3 to 255 of A-Z a-z 0-9 _ - .)",
            });
        }
        let presence_ttl_ms = match get("LIVECARD_PRESENCE_TTL_SECONDS") {
            None => None,
            Some(v) => Some(
                v.parse::<u64>()
                    .ok()
                    .filter(|s| (10..=3600).contains(s))
                    .ok_or(SettingsError::Invalid {
                        name: "LIVECARD_PRESENCE_TTL_SECONDS",
                        expected: "seconds, 10 to 3600",
                    })?
                    * 1000,
            ),
        };
        let seconds = |name: &'static str, default: u64, range: std::ops::RangeInclusive<u64>| {
            match get(name) {
                None => Ok(default * 1000),
                Some(v) => v
                    .parse::<u64>()
                    .ok()
                    .filter(|s| range.contains(s))
                    .map(|s| s * 1000)
                    .ok_or(SettingsError::Invalid {
                        name,
                        expected: "whole seconds in the documented range",
                    }),
            }
        };
        let sweep_ms = seconds("LIVECARD_SWEEP_SECONDS", 0, 0..=840)?;
        let sweep_every_ms = seconds("LIVECARD_SWEEP_EVERY_SECONDS", 5, 1..=60)?;
        let secrets_arn = required("LIVECARD_SECRETS_ARN")?;
        if !secrets_arn.starts_with("arn:") || secrets_arn.len() > 2048 {
            return Err(SettingsError::Invalid {
                name: "LIVECARD_SECRETS_ARN",
                expected: "a Secrets Manager secret ARN (arn:aws:secretsmanager:…)",
            });
        }
        Ok(Self {
            table,
            public_url: url(
                "LIVECARD_PUBLIC_URL",
                &["https://", "http://"],
                "an http(s) URL",
            )?,
            ws_url: url("LIVECARD_WS_URL", &["wss://", "ws://"], "a ws(s) URL")?,
            ws_callback_url: url(
                "LIVECARD_WS_CALLBACK_URL",
                &["https://", "http://"],
                "the WebSocket API's https endpoint with its stage",
            )?,
            secrets_arn,
            presence_ttl_ms,
            sweep_ms,
            sweep_every_ms,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn vars(extra: &[(&str, &str)]) -> HashMap<String, String> {
        let mut map: HashMap<String, String> = [
            ("LIVECARD_TABLE", "livecard"),
            ("LIVECARD_PUBLIC_URL", "https://contact.example.com/"),
            (
                "LIVECARD_WS_URL",
                "wss://abc.execute-api.eu-central-1.amazonaws.com/live",
            ),
            (
                "LIVECARD_WS_CALLBACK_URL",
                "https://abc.execute-api.eu-central-1.amazonaws.com/live",
            ),
            (
                "LIVECARD_SECRETS_ARN",
                "arn:aws:secretsmanager:eu-central-1:123456789012:secret:livecard",
            ),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        for (k, v) in extra {
            map.insert((*k).to_owned(), (*v).to_owned());
        }
        map
    }

    #[test]
    fn settings_are_read_and_checked() {
        let map = vars(&[]);
        let settings = Settings::from_lookup(|k| map.get(k).cloned()).expect("valid");
        assert_eq!(settings.public_url, "https://contact.example.com");
        assert_eq!(settings.presence_ttl_ms, None);
        // The secret ARN is not printed.
        assert!(!format!("{settings:?}").contains("secretsmanager"));

        let mut map = vars(&[]);
        map.remove("LIVECARD_TABLE");
        assert_eq!(
            Settings::from_lookup(|k| map.get(k).cloned()),
            Err(SettingsError::Missing("LIVECARD_TABLE"))
        );
        let map = vars(&[("LIVECARD_WS_URL", "https://not-a-socket")]);
        let err = Settings::from_lookup(|k| map.get(k).cloned()).expect_err("invalid");
        assert!(err.to_string().contains("LIVECARD_WS_URL"), "{err}");
        let map = vars(&[("LIVECARD_PRESENCE_TTL_SECONDS", "5")]);
        assert!(Settings::from_lookup(|k| map.get(k).cloned()).is_err());
        let map = vars(&[("LIVECARD_SWEEP_SECONDS", "900")]);
        assert!(Settings::from_lookup(|k| map.get(k).cloned()).is_err());
        let map = vars(&[("LIVECARD_TABLE", "bad table")]);
        assert!(Settings::from_lookup(|k| map.get(k).cloned()).is_err());
    }
}
