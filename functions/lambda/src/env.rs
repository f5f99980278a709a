//! The Lambda functions' configuration, from the environment (Terraform
//! sets it): what only this host has (the table, the WebSocket API's
//! callback, the secrets' ARN, the sweep's schedule), and the functions'
//! settings every host shares, read by the same loader with the same names
//! ([`livecard_app::Settings`]; `LIVECARD_PUBLIC_URL` and `LIVECARD_WS_URL`
//! are required here).

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
    /// The settings every host shares (`LIVECARD_HEARTBEAT_TTL`,
    /// `LIVECARD_CONTACT_LIMIT`, …; from `LIVECARD_CONFIG` and the
    /// environment).
    pub functions: livecard_app::Settings,
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
    #[error(transparent)]
    Functions(#[from] livecard_app::settings::SettingsError),
    #[error("{name} is not valid: {expected}")]
    Invalid {
        name: &'static str,
        expected: &'static str,
    },
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
        let file = match get(livecard_app::settings::CONFIG_FILE_ENV) {
            Some(path) if !path.is_empty() => {
                let text = livecard_app::settings::read_file(&path)?;
                Some((path, text))
            }
            _ => None,
        };
        let functions = livecard_app::Settings::load(
            file.as_ref().map(|(p, t)| (p.as_str(), t.as_str())),
            &get,
        )?;
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
        let ws_callback_url = livecard_app::settings::checked_url(
            &required("LIVECARD_WS_CALLBACK_URL")?,
            &["https://", "http://"],
        )
        .ok_or(SettingsError::Invalid {
            name: "LIVECARD_WS_CALLBACK_URL",
            expected: "the WebSocket API's https endpoint with its stage",
        })?;
        Ok(Self {
            table,
            public_url: functions
                .public_url
                .clone()
                .ok_or(SettingsError::Missing("LIVECARD_PUBLIC_URL"))?,
            ws_url: functions
                .ws_url
                .clone()
                .ok_or(SettingsError::Missing("LIVECARD_WS_URL"))?,
            ws_callback_url,
            secrets_arn,
            functions,
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
        assert_eq!(settings.functions.heartbeat_ttl_ms, 60_000);
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
        // The shared settings, by the same names as on every host.
        let map = vars(&[("LIVECARD_HEARTBEAT_TTL", "5s")]);
        let err = Settings::from_lookup(|k| map.get(k).cloned()).expect_err("too short");
        assert!(err.to_string().contains("LIVECARD_HEARTBEAT_TTL"), "{err}");
        let map = vars(&[("LIVECARD_HEARTBEAT_TTL", "2m")]);
        let settings = Settings::from_lookup(|k| map.get(k).cloned()).expect("valid");
        assert_eq!(settings.functions.heartbeat_ttl_ms, 120_000);
        let map = vars(&[("LIVECARD_SWEEP_SECONDS", "900")]);
        assert!(Settings::from_lookup(|k| map.get(k).cloned()).is_err());
        let map = vars(&[("LIVECARD_TABLE", "bad table")]);
        assert!(Settings::from_lookup(|k| map.get(k).cloned()).is_err());
    }
}
