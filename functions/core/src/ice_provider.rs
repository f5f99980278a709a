//! A TURN provider that mints credentials through an HTTP API (Cloudflare
//! Realtime TURN's "generate ICE servers" call is the model): the request,
//! the answer's checks, and when to ask again. Sans-IO: the host sends the
//! request ([`ProviderSettings::request`]) and hands the answer back.
//!
//! The provider's credentials are shared by every participant until they
//! are refreshed, at half their lifetime: one call per deployment instance
//! and half-TTL, never one per call. A failed call is retried after 5 s,
//! then 10, 20… up to 5 minutes; meanwhile the ICE-servers endpoint answers
//! with what it has (the cached servers while they are valid, and always
//! the deployment's other servers).

use crate::UnixMillis;
use crate::forward::OutRequest;
use crate::media::IceServer;
use serde::Deserialize;

/// The longest URL, token and credential field accepted.
pub const MAX_URL_LEN: usize = 512;
pub const MAX_TOKEN_LEN: usize = 1024;
const MAX_FIELD_LEN: usize = 512;
/// The most ICE servers, and URLs per server, taken from an answer.
pub const MAX_SERVERS: usize = 8;
pub const MAX_URLS: usize = 16;
/// The credential lifetime asked for: at least 10 minutes, at most 2 days
/// (default 4 hours).
pub const MIN_TTL_S: u64 = 600;
pub const MAX_TTL_S: u64 = 172_800;
pub const DEFAULT_TTL_S: u64 = 14_400;
/// How long the provider may take: 200 ms to 10 s (default 2 s).
pub const MIN_TIMEOUT_MS: u64 = 200;
pub const MAX_TIMEOUT_MS: u64 = 10_000;
pub const DEFAULT_TIMEOUT_MS: u64 = 2_000;
/// Backoff after failures: 5 s, doubling, at most 5 minutes.
const FIRST_RETRY_MS: u64 = 5_000;
const MAX_RETRY_MS: u64 = 300_000;

/// A configured provider. The token is secret: never in `Debug` output or
/// an error.
#[derive(Clone, PartialEq, Eq)]
pub struct ProviderSettings {
    url: String,
    token: String,
    pub ttl_s: u64,
    pub timeout_ms: u64,
}

impl std::fmt::Debug for ProviderSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderSettings")
            .field("host", &self.host())
            .field("ttl_s", &self.ttl_s)
            .field("timeout_ms", &self.timeout_ms)
            .finish_non_exhaustive()
    }
}

/// Why provider settings are refused; names the field, never its value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    #[error(
        "url must be an https:// URL (http:// only to a loopback host), at most 512 characters"
    )]
    Url,
    #[error("token must be 8 to 1024 printable characters without spaces")]
    Token,
    #[error("ttl_s must be from 600 to 172800 seconds")]
    Ttl,
    #[error("timeout_ms must be from 200 to 10000")]
    Timeout,
}

impl SettingsError {
    /// The field the error is about.
    pub fn field(&self) -> &'static str {
        match self {
            Self::Url => "url",
            Self::Token => "token",
            Self::Ttl => "ttl_s",
            Self::Timeout => "timeout_ms",
        }
    }
}

impl ProviderSettings {
    pub fn new(
        url: &str,
        token: &str,
        ttl_s: Option<u64>,
        timeout_ms: Option<u64>,
    ) -> Result<Self, SettingsError> {
        let host = url_host(url).ok_or(SettingsError::Url)?;
        let loopback = host == "localhost"
            || host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        if url.len() > MAX_URL_LEN || !(url.starts_with("https://") || loopback) {
            return Err(SettingsError::Url);
        }
        if !(8..=MAX_TOKEN_LEN).contains(&token.len())
            || !token.bytes().all(|b| (0x21..0x7f).contains(&b))
        {
            return Err(SettingsError::Token);
        }
        let ttl_s = ttl_s.unwrap_or(DEFAULT_TTL_S);
        if !(MIN_TTL_S..=MAX_TTL_S).contains(&ttl_s) {
            return Err(SettingsError::Ttl);
        }
        let timeout_ms = timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS);
        if !(MIN_TIMEOUT_MS..=MAX_TIMEOUT_MS).contains(&timeout_ms) {
            return Err(SettingsError::Timeout);
        }
        Ok(Self {
            url: url.to_owned(),
            token: token.to_owned(),
            ttl_s,
            timeout_ms,
        })
    }

    /// The provider's host, for logs (the URL's path may name a key).
    pub fn host(&self) -> &str {
        url_host(&self.url).unwrap_or("")
    }

    /// `POST <url>` with `Authorization: Bearer <token>` and
    /// `{"ttl": <seconds>}`.
    pub fn request(&self) -> OutRequest {
        OutRequest {
            url: self.url.clone(),
            headers: vec![
                ("authorization".into(), format!("Bearer {}", self.token)),
                ("content-type".into(), "application/json".into()),
            ],
            body: format!("{{\"ttl\":{}}}", self.ttl_s).into_bytes(),
        }
    }
}

/// The host of an `http(s)://host[:port]/…` URL without user info, spaces
/// or control characters.
fn url_host(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    if url.bytes().any(|b| b <= 0x20 || b == 0x7f) {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next()?;
    if authority.contains('@') {
        return None;
    }
    let host = if authority.starts_with('[') {
        authority.split_inclusive(']').next()?
    } else {
        authority.split(':').next()?
    };
    (!host.is_empty()).then_some(host)
}

/// Why an answer was not used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnswerError {
    #[error("the provider answered {0}")]
    Status(u16),
    #[error("the answer is not the expected JSON (iceServers)")]
    Shape,
    #[error("the answer names no usable server")]
    Empty,
    #[error("the answer has more than 8 servers or 16 URLs in one")]
    TooMany,
    #[error("the answer has a URL that is not turn:, turns:, stun: or stuns:")]
    Url,
    #[error("a TURN server in the answer has no username and credential")]
    Credential,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany<T> {
    One(T),
    Many(Vec<T>),
}

impl<T> OneOrMany<T> {
    fn into_vec(self) -> Vec<T> {
        match self {
            Self::One(one) => vec![one],
            Self::Many(many) => many,
        }
    }
}

#[derive(Deserialize)]
struct Answer {
    #[serde(rename = "iceServers")]
    ice_servers: OneOrMany<AnswerServer>,
}

#[derive(Deserialize)]
struct AnswerServer {
    urls: OneOrMany<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    credential: Option<String>,
}

fn text_ok(text: &str) -> bool {
    !text.is_empty() && text.len() <= MAX_FIELD_LEN && !text.chars().any(char::is_control)
}

/// Reads a provider's answer (`200` or `201` with `{"iceServers": …}`, an
/// array or one object, `urls` a string or an array). Every URL must be a
/// STUN or TURN URL of at most 256 characters; TURN URLs need a username
/// and credential. Under `relay_only`, STUN URLs are left out.
pub fn parse_answer(
    status: u16,
    body: &[u8],
    relay_only: bool,
) -> Result<Vec<IceServer>, AnswerError> {
    if status != 200 && status != 201 {
        return Err(AnswerError::Status(status));
    }
    let answer: Answer = serde_json::from_slice(body).map_err(|_| AnswerError::Shape)?;
    let answer = answer.ice_servers.into_vec();
    if answer.len() > MAX_SERVERS {
        return Err(AnswerError::TooMany);
    }
    let mut servers = Vec::new();
    for server in answer {
        let urls = server.urls.into_vec();
        if urls.len() > MAX_URLS {
            return Err(AnswerError::TooMany);
        }
        let mut kept = Vec::new();
        let mut turn = false;
        for url in urls {
            let scheme = ["turn:", "turns:", "stun:", "stuns:"]
                .into_iter()
                .find(|s| url.starts_with(s))
                .ok_or(AnswerError::Url)?;
            if url.len() > 256
                || url.len() == scheme.len()
                || url.chars().any(|c| c.is_whitespace() || c.is_control())
            {
                return Err(AnswerError::Url);
            }
            let is_turn = scheme.starts_with("turn");
            turn |= is_turn;
            if is_turn || !relay_only {
                kept.push(url);
            }
        }
        let credentials = match (server.username, server.credential) {
            (Some(u), Some(c)) if text_ok(&u) && text_ok(&c) => Some((u, c)),
            (None, None) => None,
            _ => return Err(AnswerError::Credential),
        };
        if turn && credentials.is_none() {
            return Err(AnswerError::Credential);
        }
        if kept.is_empty() {
            continue;
        }
        let (username, credential) = credentials.unzip();
        servers.push(IceServer {
            urls: kept,
            username,
            credential,
        });
    }
    if servers.is_empty() {
        return Err(AnswerError::Empty);
    }
    Ok(servers)
}

/// The provider's servers as last fetched, and when to fetch again.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProviderCache {
    servers: Vec<IceServer>,
    /// The servers' credentials expire then (fetched + TTL).
    expires_at: UnixMillis,
    /// Fetched again from then on (fetched + TTL / 2).
    refresh_at: UnixMillis,
    /// After a failure: not asked before then.
    retry_at: UnixMillis,
    /// A fetch is under way until then (others use the cached servers).
    busy_until: UnixMillis,
    failures: u32,
}

/// A margin before expiry: servers about to expire are not handed out.
const EXPIRY_MARGIN_MS: u64 = 60_000;

impl ProviderCache {
    /// The cached servers, while their credentials are valid for a minute
    /// more.
    pub fn servers(&self, now: UnixMillis) -> &[IceServer] {
        if now.saturating_add(EXPIRY_MARGIN_MS) < self.expires_at {
            &self.servers
        } else {
            &[]
        }
    }

    /// When the cached servers' credentials expire (`None`: none cached).
    pub fn expires_at(&self, now: UnixMillis) -> Option<UnixMillis> {
        (!self.servers(now).is_empty()).then_some(self.expires_at)
    }

    /// Whether to call the provider now; if so, the call is marked as under
    /// way for `timeout_ms`, so concurrent requests use the cached servers
    /// meanwhile (or also ask, when there are none).
    pub fn start(&mut self, now: UnixMillis, timeout_ms: u64) -> bool {
        let due = now >= self.refresh_at && now >= self.retry_at;
        let busy = now < self.busy_until && !self.servers(now).is_empty();
        if due && !busy {
            self.busy_until = now.saturating_add(timeout_ms);
            true
        } else {
            false
        }
    }

    /// The provider answered with `servers`, valid for `ttl_s`.
    pub fn answered(&mut self, now: UnixMillis, servers: Vec<IceServer>, ttl_s: u64) {
        let ttl_ms = ttl_s.saturating_mul(1000);
        self.servers = servers;
        self.expires_at = now.saturating_add(ttl_ms);
        self.refresh_at = now.saturating_add(ttl_ms / 2);
        self.retry_at = 0;
        self.busy_until = 0;
        self.failures = 0;
    }

    /// The call failed (no answer in time, an error, garbage): asked again
    /// after a backoff; the cached servers stay until they expire.
    pub fn failed(&mut self, now: UnixMillis) {
        self.failures = self.failures.saturating_add(1);
        let backoff = FIRST_RETRY_MS
            .saturating_mul(1 << (self.failures - 1).min(16))
            .min(MAX_RETRY_MS);
        self.retry_at = now.saturating_add(backoff);
        self.busy_until = 0;
    }

    /// Failures in a row.
    pub fn failures(&self) -> u32 {
        self.failures
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> ProviderSettings {
        ProviderSettings::new(
            "https://rtc.example.com/v1/turn/keys/k/credentials/generate-ice-servers",
            "token-123456",
            None,
            None,
        )
        .expect("settings")
    }

    #[test]
    fn settings_are_checked_and_never_show_the_token() {
        let s = settings();
        assert_eq!(s.ttl_s, DEFAULT_TTL_S);
        assert_eq!(s.host(), "rtc.example.com");
        assert!(!format!("{s:?}").contains("token-123456"));
        let request = s.request();
        assert_eq!(request.body, br#"{"ttl":14400}"#);
        assert!(
            request
                .headers
                .contains(&("authorization".into(), "Bearer token-123456".into()))
        );
        assert!(ProviderSettings::new("http://127.0.0.1:9/x", "token-123456", None, None).is_ok());
        assert!(ProviderSettings::new("http://[::1]:9/x", "token-123456", None, None).is_ok());
        for bad in [
            "http://example.com/x",
            "ftp://example.com",
            "https://",
            "https://user@example.com/",
            "https://exa mple.com/",
            "https://example.com/\n",
        ] {
            assert_eq!(
                ProviderSettings::new(bad, "token-123456", None, None),
                Err(SettingsError::Url),
                "{bad}"
            );
        }
        let url = "https://example.com/";
        for token in ["short", "has space in it", &"x".repeat(1025)] {
            assert_eq!(
                ProviderSettings::new(url, token, None, None),
                Err(SettingsError::Token)
            );
        }
        let err = ProviderSettings::new(url, "token-123456", Some(10), None).expect_err("ttl");
        assert_eq!(err.field(), "ttl_s");
        let err =
            ProviderSettings::new(url, "token-123456", None, Some(60_000)).expect_err("timeout");
        assert_eq!(err.field(), "timeout_ms");
    }

    const CLOUDFLARE: &str = r#"{"iceServers":[
        {"urls":["stun:stun.cloudflare.com:3478","stun:stun.cloudflare.com:53"]},
        {"urls":["turn:turn.cloudflare.com:3478?transport=udp","turns:turn.cloudflare.com:443?transport=tcp"],
         "username":"u1","credential":"c1"}]}"#;

    #[test]
    fn a_cloudflare_answer_is_read_and_stun_left_out_under_relay_only() {
        let all = parse_answer(201, CLOUDFLARE.as_bytes(), false).expect("answer");
        assert_eq!(all.len(), 2);
        assert_eq!(all[1].username.as_deref(), Some("u1"));
        let relay = parse_answer(201, CLOUDFLARE.as_bytes(), true).expect("answer");
        assert_eq!(relay.len(), 1);
        assert_eq!(relay[0].urls.len(), 2);
        // The older form: one object, urls a string.
        let one =
            br#"{"iceServers":{"urls":"turn:t.example:3478","username":"u","credential":"c"}}"#;
        assert_eq!(parse_answer(200, one, true).expect("answer").len(), 1);
    }

    #[test]
    fn garbage_and_errors_are_refused() {
        assert_eq!(
            parse_answer(500, CLOUDFLARE.as_bytes(), false),
            Err(AnswerError::Status(500))
        );
        for (body, error) in [
            (&b"not json"[..], AnswerError::Shape),
            (br#"{"ice":[]}"#, AnswerError::Shape),
            (br#"{"iceServers":[]}"#, AnswerError::Empty),
            (
                br#"{"iceServers":[{"urls":"http://evil.example"}]}"#,
                AnswerError::Url,
            ),
            (br#"{"iceServers":[{"urls":"stun:"}]}"#, AnswerError::Url),
            (
                br#"{"iceServers":[{"urls":"turn:t.example"}]}"#,
                AnswerError::Credential,
            ),
            (
                br#"{"iceServers":[{"urls":"turn:t.example","username":"u"}]}"#,
                AnswerError::Credential,
            ),
            (
                br#"{"iceServers":[{"urls":"turn:t.example","username":"u\u0000","credential":"c"}]}"#,
                AnswerError::Credential,
            ),
        ] {
            assert_eq!(parse_answer(200, body, false), Err(error), "{body:?}");
        }
        let many = format!(
            r#"{{"iceServers":[{}]}}"#,
            [r#"{"urls":"stun:s.example"}"#; 9].join(",")
        );
        assert_eq!(
            parse_answer(200, many.as_bytes(), false),
            Err(AnswerError::TooMany)
        );
        // Only STUN, under relay-only: nothing to use.
        let stun = br#"{"iceServers":[{"urls":"stun:s.example"}]}"#;
        assert_eq!(parse_answer(200, stun, true), Err(AnswerError::Empty));
    }

    fn servers() -> Vec<IceServer> {
        parse_answer(200, CLOUDFLARE.as_bytes(), false).expect("answer")
    }

    #[test]
    fn the_cache_refreshes_at_half_the_ttl_and_backs_off_after_failures() {
        let mut cache = ProviderCache::default();
        assert!(cache.servers(0).is_empty());
        assert!(cache.start(1_000, 2_000));
        // While the first call is under way and nothing is cached, another
        // request asks too.
        assert!(cache.start(1_500, 2_000));
        cache.answered(2_000, servers(), 3_600);
        assert_eq!(cache.servers(2_000).len(), 2);
        assert_eq!(cache.expires_at(2_000), Some(3_602_000));
        assert!(!cache.start(1_000_000, 2_000));
        // At half the TTL: one request asks, the others use the cache.
        assert!(cache.start(1_802_000, 2_000));
        assert!(!cache.start(1_802_500, 2_000));
        // It fails: the cached servers stay, and nobody asks for 5 s.
        cache.failed(1_803_000);
        assert_eq!(cache.failures(), 1);
        assert_eq!(cache.servers(1_803_000).len(), 2);
        assert!(!cache.start(1_807_999, 2_000));
        assert!(cache.start(1_808_000, 2_000));
        cache.failed(1_808_000);
        assert!(!cache.start(1_817_999, 2_000), "10 s after the second");
        // Until a minute before expiry.
        assert!(cache.servers(3_542_000).is_empty());
        assert_eq!(cache.expires_at(3_542_000), None);
        for _ in 0..20 {
            cache.failed(4_000_000);
        }
        assert!(!cache.start(4_299_999, 2_000), "at most 5 minutes");
        assert!(cache.start(4_300_000, 2_000));
    }
}
