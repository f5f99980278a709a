//! The functions' settings, the same on every host: read from a TOML file
//! (`LIVECARD_CONFIG`, or `livecard up --config`), then from the
//! environment, which wins (the local CLI's flags win over both). Every
//! value is checked when the host starts; a bad one stops it with an error
//! that names the key. The keys are listed once, in [`KEYS`], and written
//! down in `docs/configuration.md`.

use crate::{Config, contact};
use livecard_core::duration::parse_duration_ms;
use std::collections::BTreeMap;

/// One setting: its environment variable and its key in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    pub env: &'static str,
    pub file: &'static str,
}

const fn key(env: &'static str, file: &'static str) -> Key {
    Key { env, file }
}

pub const PUBLIC_URL: Key = key("LIVECARD_PUBLIC_URL", "public_url");
pub const WS_URL: Key = key("LIVECARD_WS_URL", "ws_url");
pub const HEARTBEAT_TTL: Key = key("LIVECARD_HEARTBEAT_TTL", "heartbeat_ttl");
pub const CHAT_WITHOUT_CONSOLE: Key = key("LIVECARD_CHAT_WITHOUT_CONSOLE", "chat_without_console");
pub const WORKING_DAY_END: Key = key("LIVECARD_WORKING_DAY_END", "working_day_end");
pub const CONTACT_LIMIT: Key = key("LIVECARD_CONTACT_LIMIT", "contact_limit");
pub const MESSAGE_RATE: Key = key("LIVECARD_MESSAGE_RATE", "message_rate");
pub const RELAY_ONLY: Key = key("LIVECARD_RELAY_ONLY", "relay_only");
pub const TRUSTED_PROXIES: Key = key("LIVECARD_TRUSTED_PROXIES", "trusted_proxies");
pub const TURN_SERVERS: Key = key("LIVECARD_TURN_SERVERS", "turn_servers");
pub const STUN_SERVERS: Key = key("LIVECARD_STUN_SERVERS", "stun_servers");
pub const FORWARD_ALLOW: Key = key("LIVECARD_FORWARD_ALLOW", "forward_allow");
pub const TIME_ZONE: Key = key("LIVECARD_TIME_ZONE", "time_zone");
pub const SERVICE_LEVEL: Key = key("LIVECARD_SERVICE_LEVEL", "service_level");
pub const RETAIN_EVENTS: Key = key("LIVECARD_RETAIN_EVENTS", "retain_events");
pub const RETAIN_TRANSCRIPTS: Key = key("LIVECARD_RETAIN_TRANSCRIPTS", "retain_transcripts");
pub const RETAIN_OFFLINE: Key = key("LIVECARD_RETAIN_OFFLINE", "retain_offline");
pub const RETAIN_DELIVERIES: Key = key("LIVECARD_RETAIN_DELIVERIES", "retain_deliveries");
pub const RETAIN_IDENTITY_IMAGES: Key =
    key("LIVECARD_RETAIN_IDENTITY_IMAGES", "retain_identity_images");
pub const FILE_MAX_MB: Key = key("LIVECARD_FILE_MAX_MB", "file_max_mb");
pub const FILE_TYPES: Key = key("LIVECARD_FILE_TYPES", "file_types");

/// Every setting of the functions.
pub const KEYS: &[Key] = &[
    PUBLIC_URL,
    WS_URL,
    HEARTBEAT_TTL,
    CHAT_WITHOUT_CONSOLE,
    WORKING_DAY_END,
    CONTACT_LIMIT,
    MESSAGE_RATE,
    RELAY_ONLY,
    TRUSTED_PROXIES,
    TURN_SERVERS,
    STUN_SERVERS,
    FORWARD_ALLOW,
    TIME_ZONE,
    SERVICE_LEVEL,
    RETAIN_EVENTS,
    RETAIN_TRANSCRIPTS,
    RETAIN_OFFLINE,
    RETAIN_DELIVERIES,
    RETAIN_IDENTITY_IMAGES,
    FILE_MAX_MB,
    FILE_TYPES,
];

/// The environment variable naming the settings file.
pub const CONFIG_FILE_ENV: &str = "LIVECARD_CONFIG";
/// The largest settings file read.
const MAX_FILE_BYTES: usize = 64 * 1024;

/// The checked settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Where the portal is; links are built on it. The local host defaults
    /// to its own address.
    pub public_url: Option<String>,
    /// Where clients open the signaling socket when it is not this
    /// origin's `/ws` (API Gateway's WebSocket API).
    pub ws_url: Option<String>,
    /// How long console presence lasts without a heartbeat (`60s`).
    pub heartbeat_ttl_ms: u64,
    /// Chat may show available without an open console.
    pub chat_without_console: bool,
    /// Where a manual presence state ends by default, in minutes after
    /// local midnight (`18:00`).
    pub working_day_end_min: u16,
    /// Contact requests one client may make per 10 minutes.
    pub contact_limit: u32,
    /// Signaling messages one connection may send per second (sustained;
    /// twice that at once).
    pub message_rate: u64,
    /// Calls only ever use the relay.
    pub relay_only: bool,
    /// Reverse proxies whose `Forwarded` / `X-Forwarded-For` name the client.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// TURN servers sharing the TURN secret (coturn) and STUN servers,
    /// handed out besides the media nodes.
    pub other_servers: livecard_core::media::OtherServers,
    /// Networks analytics destinations may be reached in although the
    /// relay's deny rules refuse them (a Matomo on the company network).
    pub forward_allow: Vec<ipnet::IpNet>,
    /// The IANA time zone reports count days and hours in.
    pub time_zone: String,
    /// Accepted within this many seconds counts toward the service level.
    pub service_level_s: u64,
    /// How long each class of data is kept (`docs/privacy.md`).
    pub retention: Retention,
    /// The files visitors and advisors may pass each other.
    pub files: livecard_core::files::FilePolicy,
}

/// How long each class of personal data is kept, in milliseconds: the
/// store deletes it by TTL afterwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    pub events_ms: u64,
    pub transcripts_ms: u64,
    pub offline_ms: u64,
    pub deliveries_ms: u64,
    /// Identity images: never kept unless set.
    pub identity_images_ms: Option<u64>,
}

impl Default for Retention {
    fn default() -> Self {
        let config = Config::new("http://localhost");
        Self {
            events_ms: config.event_retention_ms,
            transcripts_ms: config.transcript_retention_ms,
            offline_ms: config.offline_retention_ms,
            deliveries_ms: config.delivery_retention_ms,
            identity_images_ms: None,
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            public_url: None,
            ws_url: None,
            heartbeat_ttl_ms: livecard_core::presence::PresencePolicy::default().heartbeat_ttl_ms,
            chat_without_console: false,
            working_day_end_min: livecard_core::presence::PresencePolicy::default()
                .working_day_end_min,
            contact_limit: contact::http::CONTACTS_PER_WINDOW,
            message_rate: contact::RateLimit::PER_SECOND,
            relay_only: false,
            trusted_proxies: Vec::new(),
            other_servers: livecard_core::media::OtherServers::default(),
            forward_allow: Vec::new(),
            time_zone: "UTC".into(),
            service_level_s: livecard_core::report::DEFAULT_SERVICE_LEVEL_S,
            retention: Retention::default(),
            files: livecard_core::files::FilePolicy::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    #[error("the settings file {path} is not valid: {reason}")]
    File { path: String, reason: String },
    #[error("{key} is not valid: {expected}")]
    Invalid { key: String, expected: &'static str },
}

fn invalid(key: Key, from_file: bool, expected: &'static str) -> SettingsError {
    SettingsError::Invalid {
        key: if from_file {
            format!("{} (in the settings file)", key.file)
        } else {
            key.env.to_owned()
        },
        expected,
    }
}

/// A URL from the settings: at most 2,048 bytes, one of `schemes`, no
/// whitespace or control characters; without a trailing slash.
pub fn checked_url(value: &str, schemes: &[&str]) -> Option<String> {
    (value.len() <= 2048
        && schemes.iter().any(|s| value.starts_with(s))
        && !value.chars().any(|c| c.is_whitespace() || c.is_control()))
    .then(|| value.trim_end_matches('/').to_owned())
}

/// An AWS region name (`eu-central-1`), as the hosts that sign their own
/// requests take it from their environment.
pub fn checked_region(value: &str) -> Option<String> {
    (!value.is_empty()
        && value.len() <= 64
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'))
    .then(|| value.to_owned())
}

/// A whole number in `range`.
fn number<T: std::str::FromStr + PartialOrd>(
    text: &str,
    range: std::ops::RangeInclusive<T>,
) -> Option<T> {
    text.trim().parse().ok().filter(|n| range.contains(n))
}

/// `192.0.2.7`, `10.0.0.0/8`, `2001:db8::/32`.
fn boolean(value: &str) -> Option<bool> {
    match value.trim() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

pub fn parse_network(text: &str) -> Option<ipnet::IpNet> {
    let text = text.trim();
    text.parse::<ipnet::IpNet>().ok().or_else(|| {
        text.parse::<std::net::IpAddr>()
            .ok()
            .map(ipnet::IpNet::from)
    })
}

impl Settings {
    /// Reads the settings: `file` (its path and text, if there is one),
    /// then `get` (the environment, or the CLI's flags over it), which wins.
    pub fn load(
        file: Option<(&str, &str)>,
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<Settings, SettingsError> {
        let from_file = match file {
            Some((path, text)) => file_values(path, text)?,
            None => BTreeMap::new(),
        };
        // The environment wins; empty values count as unset.
        let value = |key: Key| -> Option<(String, bool)> {
            match get(key.env).filter(|v| !v.trim().is_empty()) {
                Some(v) => Some((v, false)),
                None => from_file.get(key.file).map(|v| (v.clone(), true)),
            }
        };
        let mut settings = Settings::default();
        if let Some((v, f)) = value(PUBLIC_URL) {
            settings.public_url = Some(
                checked_url(&v, &["https://", "http://"])
                    .ok_or_else(|| invalid(PUBLIC_URL, f, "an http(s) URL"))?,
            );
        }
        if let Some((v, f)) = value(WS_URL) {
            settings.ws_url = Some(
                checked_url(&v, &["wss://", "ws://"])
                    .ok_or_else(|| invalid(WS_URL, f, "a ws(s) URL"))?,
            );
        }
        if let Some((v, f)) = value(HEARTBEAT_TTL) {
            settings.heartbeat_ttl_ms = parse_duration_ms(&v)
                .ok()
                .filter(|ms| (10_000..=3_600_000).contains(ms))
                .ok_or_else(|| invalid(HEARTBEAT_TTL, f, "a duration from 10s to 1h (60s)"))?;
        }
        if let Some((v, f)) = value(CHAT_WITHOUT_CONSOLE) {
            settings.chat_without_console =
                boolean(&v).ok_or_else(|| invalid(CHAT_WITHOUT_CONSOLE, f, "true or false"))?;
        }
        if let Some((v, f)) = value(WORKING_DAY_END) {
            settings.working_day_end_min = v
                .trim()
                .split_once(':')
                .and_then(|(h, m)| Some((h.parse::<u16>().ok()?, m.parse::<u16>().ok()?)))
                .filter(|(h, m)| *h < 24 && *m < 60)
                .map(|(h, m)| h * 60 + m)
                .ok_or_else(|| invalid(WORKING_DAY_END, f, "a local time HH:MM (18:00)"))?;
        }
        if let Some((v, f)) = value(CONTACT_LIMIT) {
            settings.contact_limit = number(&v, 1..=100_000)
                .ok_or_else(|| invalid(CONTACT_LIMIT, f, "requests, 1 to 100000"))?;
        }
        if let Some((v, f)) = value(MESSAGE_RATE) {
            settings.message_rate = number(&v, 1..=10_000)
                .ok_or_else(|| invalid(MESSAGE_RATE, f, "messages per second, 1 to 10000"))?;
        }
        if let Some((v, f)) = value(RELAY_ONLY) {
            settings.relay_only =
                boolean(&v).ok_or_else(|| invalid(RELAY_ONLY, f, "true or false"))?;
        }
        // Comma-separated addresses or networks.
        let networks =
            |key: Key, example: &'static str| -> Result<Vec<ipnet::IpNet>, SettingsError> {
                match value(key) {
                    None => Ok(Vec::new()),
                    Some((v, f)) => v
                        .split(',')
                        .filter(|p| !p.trim().is_empty())
                        .map(parse_network)
                        .collect::<Option<Vec<_>>>()
                        .ok_or_else(|| invalid(key, f, example)),
                }
            };
        settings.trusted_proxies = networks(
            TRUSTED_PROXIES,
            "IP addresses or networks, comma-separated (10.0.0.0/8)",
        )?;
        settings.forward_allow = networks(
            FORWARD_ALLOW,
            "IP addresses or networks, comma-separated (10.20.0.0/16)",
        )?;
        if let Some((v, f)) = value(TIME_ZONE) {
            livecard_core::report::time_zone(v.trim())
                .map_err(|_| invalid(TIME_ZONE, f, "an IANA time zone name (Europe/Berlin)"))?;
            settings.time_zone = v.trim().to_owned();
        }
        if let Some((v, f)) = value(SERVICE_LEVEL) {
            settings.service_level_s = parse_duration_ms(&v)
                .ok()
                .filter(|ms| (1_000..=3_600_000).contains(ms) && ms % 1000 == 0)
                .map(|ms| ms / 1000)
                .ok_or_else(|| invalid(SERVICE_LEVEL, f, "whole seconds from 1s to 1h (20s)"))?;
        }
        // Retention per data class: a day to ten years (deliveries: a year).
        let days = |key: Key, max_days: u64, expected: &'static str, into: &mut u64| {
            if let Some((v, f)) = value(key) {
                *into = parse_duration_ms(&v)
                    .ok()
                    .filter(|ms| (86_400_000..=max_days * 86_400_000).contains(ms))
                    .ok_or_else(|| invalid(key, f, expected))?;
            }
            Ok::<(), SettingsError>(())
        };
        let r = &mut settings.retention;
        days(
            RETAIN_EVENTS,
            3650,
            "a duration from 1d to 3650d (180d)",
            &mut r.events_ms,
        )?;
        days(
            RETAIN_TRANSCRIPTS,
            3650,
            "a duration from 1d to 3650d (90d)",
            &mut r.transcripts_ms,
        )?;
        days(
            RETAIN_OFFLINE,
            3650,
            "a duration from 1d to 3650d (90d)",
            &mut r.offline_ms,
        )?;
        days(
            RETAIN_DELIVERIES,
            365,
            "a duration from 1d to 365d (30d)",
            &mut r.deliveries_ms,
        )?;
        if value(RETAIN_IDENTITY_IMAGES).is_some() {
            let mut ms = 0;
            days(
                RETAIN_IDENTITY_IMAGES,
                3650,
                "a duration from 1d to 3650d (unset: identity images are never kept)",
                &mut ms,
            )?;
            settings.retention.identity_images_ms = Some(ms);
        }
        if value(FILE_MAX_MB).is_some() || value(FILE_TYPES).is_some() {
            let max_mb = match value(FILE_MAX_MB) {
                Some((v, f)) => number(&v, 1..=500)
                    .ok_or_else(|| invalid(FILE_MAX_MB, f, "megabytes, 1 to 500 (25)"))?,
                None => settings.files.max_bytes / 1_000_000,
            };
            let types = match value(FILE_TYPES) {
                Some((v, f)) => {
                    let types: Vec<String> = v
                        .split(',')
                        .map(|t| t.trim().trim_start_matches('.').to_ascii_lowercase())
                        .filter(|t| !t.is_empty())
                        .collect();
                    livecard_core::files::FilePolicy::new(max_mb, types.clone()).ok_or_else(
                        || {
                            invalid(
                                FILE_TYPES,
                                f,
                                "file name extensions, comma-separated, at most 50 (pdf,png,jpg)",
                            )
                        },
                    )?;
                    types
                }
                None => settings.files.types.clone(),
            };
            settings.files = livecard_core::files::FilePolicy::new(max_mb, types)
                .ok_or_else(|| invalid(FILE_MAX_MB, false, "megabytes, 1 to 500 (25)"))?;
        }
        let list = |key: Key| -> (Vec<String>, bool) {
            match value(key) {
                Some((v, f)) => (
                    v.split(',')
                        .map(str::trim)
                        .filter(|u| !u.is_empty())
                        .map(str::to_owned)
                        .collect(),
                    f,
                ),
                None => (Vec::new(), false),
            }
        };
        let ((turn, turn_file), (stun, stun_file)) = (list(TURN_SERVERS), list(STUN_SERVERS));
        settings.other_servers = livecard_core::media::OtherServers::new(turn.clone(), Vec::new())
            .map_err(|_| invalid(TURN_SERVERS, turn_file, "turn: or turns: URLs, at most 8"))
            .and_then(|_| {
                livecard_core::media::OtherServers::new(turn, stun).map_err(|_| {
                    invalid(STUN_SERVERS, stun_file, "stun: or stuns: URLs, at most 8")
                })
            })?;
        Ok(settings)
    }

    /// [`Settings::load`] from the process: the file `LIVECARD_CONFIG`
    /// names (if any), then the environment.
    pub fn from_process() -> Result<Settings, SettingsError> {
        let path = std::env::var(CONFIG_FILE_ENV)
            .ok()
            .filter(|p| !p.is_empty());
        let text = match &path {
            Some(path) => Some(read_file(path)?),
            None => None,
        };
        Settings::load(path.as_deref().zip(text.as_deref()), |key| {
            std::env::var(key).ok()
        })
    }

    /// The handlers' configuration for these settings; `public_url` is
    /// used when the settings name none.
    pub fn config(&self, public_url: &str) -> Config {
        let mut config = Config::new(self.public_url.as_deref().unwrap_or(public_url));
        config.ws_url = self.ws_url.clone();
        config.presence.heartbeat_ttl_ms = self.heartbeat_ttl_ms;
        config.presence.chat_without_console = self.chat_without_console;
        config.presence.working_day_end_min = self.working_day_end_min;
        config.contacts_per_window = self.contact_limit;
        config.signaling_rate = contact::RatePolicy {
            burst: self.message_rate.saturating_mul(2).max(1),
            per_second: self.message_rate,
        };
        config.relay_only = self.relay_only;
        config.trusted_proxies = self.trusted_proxies.clone();
        config.other_servers = self.other_servers.clone();
        config.forward_allow = self.forward_allow.clone();
        if let Ok(zone) = livecard_core::report::time_zone(&self.time_zone) {
            config.time_zone = zone;
        }
        config.service_level_s = self.service_level_s;
        config.event_retention_ms = self.retention.events_ms;
        config.transcript_retention_ms = self.retention.transcripts_ms;
        config.offline_retention_ms = self.retention.offline_ms;
        config.delivery_retention_ms = self.retention.deliveries_ms;
        config.identity_image_retention_ms = self.retention.identity_images_ms;
        config.files = self.files.clone();
        config
    }
}

/// Reads a settings file (at most 64 KiB).
pub fn read_file(path: &str) -> Result<String, SettingsError> {
    let error = |reason: String| SettingsError::File {
        path: path.to_owned(),
        reason,
    };
    let bytes = std::fs::read(path).map_err(|e| error(e.to_string()))?;
    if bytes.len() > MAX_FILE_BYTES {
        return Err(error(format!("larger than {MAX_FILE_BYTES} bytes")));
    }
    String::from_utf8(bytes).map_err(|_| error("not UTF-8".into()))
}

/// The file's values as text, by key; unknown keys are refused.
fn file_values(path: &str, text: &str) -> Result<BTreeMap<String, String>, SettingsError> {
    let error = |reason: String| SettingsError::File {
        path: path.to_owned(),
        reason,
    };
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| error(e.to_string()))?;
    let mut values = BTreeMap::new();
    for (key, value) in table {
        if !KEYS.iter().any(|k| k.file == key) {
            return Err(error(format!("unknown key {key:?}")));
        }
        let text = match value {
            toml::Value::String(s) => s,
            toml::Value::Integer(n) => n.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            toml::Value::Array(items) => items
                .iter()
                .map(|i| i.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| error(format!("{key} must be a list of strings")))?
                .join(","),
            _ => return Err(error(format!("{key} has a type it cannot have"))),
        };
        values.insert(key, text);
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn the_environment_wins_over_the_file_and_defaults_fill_the_rest() {
        let file =
            "heartbeat_ttl = \"90s\"\ncontact_limit = 5\ntrusted_proxies = [\"10.0.0.0/8\"]\n";
        let settings = Settings::load(
            Some(("livecard.toml", file)),
            env(&[("LIVECARD_HEARTBEAT_TTL", "2m")]),
        )
        .expect("valid");
        assert_eq!(settings.heartbeat_ttl_ms, 120_000, "the environment wins");
        assert_eq!(settings.contact_limit, 5, "the file fills in");
        assert_eq!(settings.trusted_proxies.len(), 1);
        assert_eq!(
            settings.message_rate,
            contact::RateLimit::PER_SECOND,
            "a default"
        );
        let config = settings.config("http://127.0.0.1:8080");
        assert_eq!(config.presence.heartbeat_ttl_ms, 120_000);
        assert_eq!(config.public_url, "http://127.0.0.1:8080");
        assert_eq!(Settings::load(None, env(&[])), Ok(Settings::default()));
        let file = "turn_servers = [\"turn:coturn.example.com:3478?transport=udp\"]\n";
        let settings = Settings::load(
            Some(("livecard.toml", file)),
            env(&[(
                "LIVECARD_STUN_SERVERS",
                "stun:a.example:3478, stun:b.example:3478",
            )]),
        )
        .expect("servers");
        assert_eq!(settings.other_servers.turn.len(), 1);
        assert_eq!(settings.other_servers.stun.len(), 2);
        let file = "retain_transcripts = \"30d\"\ntime_zone = \"Europe/Berlin\"\n";
        let settings = Settings::load(
            Some(("livecard.toml", file)),
            env(&[
                ("LIVECARD_RETAIN_EVENTS", "400d"),
                ("LIVECARD_SERVICE_LEVEL", "30s"),
            ]),
        )
        .expect("retention");
        let config = settings.config("http://127.0.0.1:8080");
        assert_eq!(config.transcript_retention_ms, 30 * 86_400_000);
        assert_eq!(config.event_retention_ms, 400 * 86_400_000);
        assert_eq!(config.offline_retention_ms, 90 * 86_400_000, "a default");
        assert_eq!(config.service_level_s, 30);
        let settings = Settings::load(
            None,
            env(&[
                ("LIVECARD_CHAT_WITHOUT_CONSOLE", "yes"),
                ("LIVECARD_WORKING_DAY_END", "17:30"),
            ]),
        )
        .expect("presence settings");
        let presence = settings.config("http://127.0.0.1:8080").presence;
        assert!(presence.chat_without_console);
        assert_eq!(presence.working_day_end_min, 17 * 60 + 30);
        assert_eq!(config.time_zone.iana_name(), Some("Europe/Berlin"));
    }

    #[test]
    fn file_settings_set_the_policy() {
        let settings = Settings::load(
            None,
            env(&[
                ("LIVECARD_FILE_MAX_MB", "6"),
                ("LIVECARD_FILE_TYPES", " PDF, .png ,jpg"),
            ]),
        )
        .expect("file settings");
        let files = settings.config("http://127.0.0.1:8080").files;
        assert_eq!(files.max_bytes, 6_000_000);
        assert_eq!(files.types, ["pdf", "png", "jpg"]);
        assert_eq!(
            settings.retention.identity_images_ms, None,
            "never kept unless set"
        );
        let kept =
            Settings::load(None, env(&[("LIVECARD_RETAIN_IDENTITY_IMAGES", "30d")])).expect("kept");
        assert_eq!(
            kept.config("http://127.0.0.1:8080")
                .identity_image_retention_ms,
            Some(30 * 86_400_000)
        );
        let only_size = Settings::load(None, env(&[("LIVECARD_FILE_MAX_MB", "2")])).expect("size");
        assert_eq!(
            only_size.files.types,
            livecard_core::files::FilePolicy::default().types
        );
    }

    #[test]
    fn bad_values_are_refused_naming_their_key() {
        for (key, value) in [
            ("LIVECARD_HEARTBEAT_TTL", "5s"),
            ("LIVECARD_PUBLIC_URL", "ftp://x"),
            ("LIVECARD_WS_URL", "https://not-a-socket"),
            ("LIVECARD_CONTACT_LIMIT", "0"),
            ("LIVECARD_MESSAGE_RATE", "fast"),
            ("LIVECARD_RELAY_ONLY", "maybe"),
            ("LIVECARD_CHAT_WITHOUT_CONSOLE", "sometimes"),
            ("LIVECARD_WORKING_DAY_END", "25:00"),
            ("LIVECARD_TRUSTED_PROXIES", "10.0.0.0/8,nope"),
            ("LIVECARD_TURN_SERVERS", "stun:wrong.example"),
            ("LIVECARD_STUN_SERVERS", "turn:wrong.example"),
            ("LIVECARD_FORWARD_ALLOW", "10.0.0.0/8,loopback"),
            ("LIVECARD_TIME_ZONE", "Mars/Olympus"),
            ("LIVECARD_SERVICE_LEVEL", "0s"),
            ("LIVECARD_RETAIN_EVENTS", "12h"),
            ("LIVECARD_RETAIN_TRANSCRIPTS", "forever"),
            ("LIVECARD_RETAIN_OFFLINE", "3651d"),
            ("LIVECARD_RETAIN_DELIVERIES", "400d"),
            ("LIVECARD_RETAIN_IDENTITY_IMAGES", "0d"),
            ("LIVECARD_FILE_MAX_MB", "0"),
            ("LIVECARD_FILE_MAX_MB", "501"),
            ("LIVECARD_FILE_TYPES", "pdf,../exe"),
            ("LIVECARD_FILE_TYPES", ","),
        ] {
            let err = Settings::load(None, env(&[(key, value)])).expect_err(key);
            assert!(err.to_string().contains(key), "{err}");
        }
        let err = Settings::load(Some(("f.toml", "contact_limit = 0")), env(&[]))
            .expect_err("file value");
        assert!(err.to_string().contains("contact_limit"), "{err}");
        let err = Settings::load(Some(("f.toml", "heartbeat = \"60s\"")), env(&[]))
            .expect_err("unknown key");
        assert!(err.to_string().contains("unknown key"), "{err}");
        assert!(Settings::load(Some(("f.toml", "not toml [")), env(&[])).is_err());
    }
}
