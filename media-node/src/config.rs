//! The node's configuration: a TOML file (`--config`, or
//! `LIVECARD_MEDIA_CONFIG`), then environment variables, which win. Every
//! value is checked at start and a bad one stops the node with a message
//! that names it. See `docs/media-node.md` for the full list.

use crate::turn::Limits;
use livecard_core::turn::PeerPolicy;
use serde::Deserialize;
use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};

/// The file, as written. Every key is optional; unknown keys are refused.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub node_id: Option<String>,
    pub realm: Option<String>,
    pub listen: Option<String>,
    pub relay_ip: Option<String>,
    pub relay_ip6: Option<String>,
    pub external_ip: Option<String>,
    pub public_host: Option<String>,
    pub relay_ports: Option<String>,
    pub turn_secret: Option<String>,
    pub turn_secret_file: Option<String>,
    pub turn_secret_previous: Option<String>,
    pub allow_peers: Option<Vec<String>>,
    pub http: Option<String>,
    pub tls_port: Option<u16>,
    pub tls_cert: Option<String>,
    pub tls_key: Option<String>,
    pub allocations_per_user: Option<u32>,
    pub max_allocations: Option<u32>,
    pub default_lifetime_s: Option<u32>,
    pub max_lifetime_s: Option<u32>,
    pub bandwidth_bytes_per_s: Option<u64>,
    pub max_connections: Option<u32>,
    pub drain_deadline_s: Option<u64>,
    pub store_table: Option<String>,
    pub store_endpoint: Option<String>,
    pub heartbeat_s: Option<u64>,
    pub imds_endpoint: Option<String>,
    pub notify_url: Option<String>,
}

/// The checked configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub node_id: String,
    pub realm: String,
    pub listen: SocketAddr,
    pub relay_ip: IpAddr,
    /// A dual-stack node's IPv6 relay address (`relay_ip` is IPv4).
    pub relay_ip6: Option<IpAddr>,
    pub external_ip: Option<IpAddr>,
    /// How clients reach the node (registered in the store).
    pub public_host: String,
    pub relay_ports: RangeInclusive<u16>,
    pub turn_secret: Vec<u8>,
    pub turn_secret_previous: Option<Vec<u8>>,
    pub policy: PeerPolicy,
    /// The allow-list as written, for the start-up log.
    pub allowed: Vec<String>,
    pub http: SocketAddr,
    pub tls: Option<TlsFiles>,
    pub limits: Limits,
    pub max_connections: u32,
    pub drain_deadline_s: u64,
    pub store: Option<StoreConfig>,
    pub heartbeat_s: u64,
    /// `external_ip = "imds"`: the public address (and, unless given, the
    /// node id and public host) come from the EC2 metadata service at this
    /// address, before the node starts ([`Config::apply_instance`]).
    pub imds: Option<String>,
    /// The signaling server's API base URL: a draining node tells it which
    /// calls it relays, so they move before the deadline.
    pub notify_url: Option<String>,
    node_id_given: bool,
    public_host_given: bool,
}

impl Config {
    /// Takes the instance's public address and id (from the metadata
    /// service) where the configuration left them open.
    pub fn apply_instance(&mut self, public_ip: IpAddr, instance_id: &str) {
        self.external_ip = Some(public_ip);
        if !self.public_host_given {
            self.public_host = public_ip.to_string();
        }
        if !self.node_id_given {
            self.node_id = instance_id.to_owned();
        }
    }
}

#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub port: u16,
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub table: String,
    /// A DynamoDB-compatible endpoint; `None` for AWS itself.
    pub endpoint: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the configuration file {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("the configuration file {path} is not valid: {reason}")]
    Parse { path: String, reason: String },
    #[error("{key}: {reason}")]
    Invalid { key: &'static str, reason: String },
}

fn invalid(key: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        reason: reason.into(),
    }
}

/// The environment variable for each key.
pub const ENV: &[(&str, &str)] = &[
    ("node_id", "LIVECARD_MEDIA_NODE_ID"),
    ("realm", "LIVECARD_MEDIA_REALM"),
    ("listen", "LIVECARD_MEDIA_LISTEN"),
    ("relay_ip", "LIVECARD_MEDIA_RELAY_IP"),
    ("relay_ip6", "LIVECARD_MEDIA_RELAY_IP6"),
    ("external_ip", "LIVECARD_MEDIA_EXTERNAL_IP"),
    ("public_host", "LIVECARD_MEDIA_PUBLIC_HOST"),
    ("relay_ports", "LIVECARD_MEDIA_RELAY_PORTS"),
    ("turn_secret", "LIVECARD_TURN_SECRET"),
    ("turn_secret_file", "LIVECARD_TURN_SECRET_FILE"),
    ("turn_secret_previous", "LIVECARD_TURN_SECRET_PREVIOUS"),
    ("allow_peers", "LIVECARD_MEDIA_ALLOW_PEERS"),
    ("http", "LIVECARD_MEDIA_HTTP"),
    ("tls_port", "LIVECARD_MEDIA_TLS_PORT"),
    ("tls_cert", "LIVECARD_MEDIA_TLS_CERT"),
    ("tls_key", "LIVECARD_MEDIA_TLS_KEY"),
    (
        "allocations_per_user",
        "LIVECARD_MEDIA_ALLOCATIONS_PER_USER",
    ),
    ("max_allocations", "LIVECARD_MEDIA_MAX_ALLOCATIONS"),
    ("default_lifetime_s", "LIVECARD_MEDIA_DEFAULT_LIFETIME_S"),
    ("max_lifetime_s", "LIVECARD_MEDIA_MAX_LIFETIME_S"),
    (
        "bandwidth_bytes_per_s",
        "LIVECARD_MEDIA_BANDWIDTH_BYTES_PER_S",
    ),
    ("max_connections", "LIVECARD_MEDIA_MAX_CONNECTIONS"),
    ("drain_deadline_s", "LIVECARD_MEDIA_DRAIN_DEADLINE_S"),
    ("store_table", "LIVECARD_TABLE"),
    ("store_endpoint", "LIVECARD_MEDIA_STORE_ENDPOINT"),
    ("heartbeat_s", "LIVECARD_MEDIA_HEARTBEAT_S"),
    ("imds_endpoint", "LIVECARD_MEDIA_IMDS_ENDPOINT"),
    ("notify_url", "LIVECARD_MEDIA_NOTIFY_URL"),
];

fn number<T: std::str::FromStr>(key: &'static str, value: &str) -> Result<T, ConfigError> {
    value
        .trim()
        .parse()
        .map_err(|_| invalid(key, format!("{value:?} is not a whole number in range")))
}

impl FileConfig {
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|err| ConfigError::Read {
            path: path.display().to_string(),
            reason: err.to_string(),
        })?;
        toml::from_str(&text).map_err(|err| ConfigError::Parse {
            path: path.display().to_string(),
            reason: err.message().to_string(),
        })
    }

    /// Applies environment variables (`get` reads one; tests pass a map).
    pub fn with_env(mut self, get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        for (key, var) in ENV {
            let Some(value) = get(var) else { continue };
            let key: &'static str = key;
            match key {
                "node_id" => self.node_id = Some(value),
                "realm" => self.realm = Some(value),
                "listen" => self.listen = Some(value),
                "relay_ip" => self.relay_ip = Some(value),
                "relay_ip6" => self.relay_ip6 = Some(value),
                "external_ip" => self.external_ip = Some(value),
                "public_host" => self.public_host = Some(value),
                "relay_ports" => self.relay_ports = Some(value),
                "turn_secret" => self.turn_secret = Some(value),
                "turn_secret_file" => self.turn_secret_file = Some(value),
                "turn_secret_previous" => self.turn_secret_previous = Some(value),
                "allow_peers" => {
                    self.allow_peers = Some(
                        value
                            .split(',')
                            .map(str::trim)
                            .filter(|s| !s.is_empty())
                            .map(String::from)
                            .collect(),
                    )
                }
                "http" => self.http = Some(value),
                "tls_port" => self.tls_port = Some(number(key, &value)?),
                "tls_cert" => self.tls_cert = Some(value),
                "tls_key" => self.tls_key = Some(value),
                "allocations_per_user" => self.allocations_per_user = Some(number(key, &value)?),
                "max_allocations" => self.max_allocations = Some(number(key, &value)?),
                "default_lifetime_s" => self.default_lifetime_s = Some(number(key, &value)?),
                "max_lifetime_s" => self.max_lifetime_s = Some(number(key, &value)?),
                "bandwidth_bytes_per_s" => self.bandwidth_bytes_per_s = Some(number(key, &value)?),
                "max_connections" => self.max_connections = Some(number(key, &value)?),
                "drain_deadline_s" => self.drain_deadline_s = Some(number(key, &value)?),
                "store_table" => self.store_table = Some(value),
                "store_endpoint" => self.store_endpoint = Some(value),
                "heartbeat_s" => self.heartbeat_s = Some(number(key, &value)?),
                "imds_endpoint" => self.imds_endpoint = Some(value),
                "notify_url" => self.notify_url = Some(value),
                _ => {}
            }
        }
        Ok(self)
    }

    /// Checks everything and fills in defaults.
    pub fn check(mut self) -> Result<Config, ConfigError> {
        let secret_text = match (self.turn_secret.take(), self.turn_secret_file.take()) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "turn_secret",
                    "give turn_secret or turn_secret_file, not both",
                ));
            }
            (Some(text), None) => text,
            (None, Some(path)) => std::fs::read_to_string(&path)
                .map_err(|err| invalid("turn_secret_file", format!("cannot read {path}: {err}")))?,
            (None, None) => {
                return Err(invalid(
                    "turn_secret",
                    "required (base64, the secret shared with the ICE-server endpoint)",
                ));
            }
        };
        let turn_secret = livecard_core::turn::secret_key(secret_text.trim())
            .map_err(|e| invalid("turn_secret", e.to_string()))?;
        self.checked(turn_secret)
    }

    /// [`FileConfig::check`] with the TURN secret as bytes, for a host that
    /// embeds the node and holds the secret already (`livecard up`): no
    /// trip through base64 text.
    pub fn check_with_secret(self, turn_secret: Vec<u8>) -> Result<Config, ConfigError> {
        if self.turn_secret.is_some() || self.turn_secret_file.is_some() {
            return Err(invalid("turn_secret", "given twice"));
        }
        self.checked(turn_secret)
    }

    fn checked(self, turn_secret: Vec<u8>) -> Result<Config, ConfigError> {
        let node_id_given = self.node_id.is_some();
        let public_host_given = self.public_host.is_some();
        let from_imds = self.external_ip.as_deref() == Some("imds");
        let imds = from_imds.then(|| {
            self.imds_endpoint
                .clone()
                .unwrap_or_else(|| crate::imds::DEFAULT_ENDPOINT.into())
        });
        let node_id = self.node_id.unwrap_or_else(|| "media-1".into());
        if !(1..=64).contains(&node_id.len())
            || !node_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        {
            return Err(invalid("node_id", "1 to 64 of A-Z a-z 0-9 - _ ."));
        }
        let realm = self.realm.unwrap_or_else(|| "livecard".into());
        if realm.is_empty() || realm.len() > 127 || !realm.is_ascii() {
            return Err(invalid("realm", "1 to 127 ASCII characters"));
        }
        if turn_secret.len() < 32 {
            return Err(invalid("turn_secret", "must be at least 32 bytes"));
        }
        let turn_secret_previous = match self.turn_secret_previous.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(text) => Some(
                livecard_core::turn::secret_key(text)
                    .map_err(|e| invalid("turn_secret_previous", e.to_string()))?,
            ),
        };
        let listen: SocketAddr = self
            .listen
            .as_deref()
            .unwrap_or("0.0.0.0:3478")
            .parse()
            .map_err(|_| invalid("listen", "an address and port, such as 0.0.0.0:3478"))?;
        let relay_ip: IpAddr = match &self.relay_ip {
            Some(ip) => ip
                .parse()
                .map_err(|_| invalid("relay_ip", "an IP address"))?,
            None => listen.ip(),
        };
        // A second relay address makes the node dual-stack: IPv6 beside an
        // IPv4 relay_ip, a specific address (clients are told it as it is).
        let relay_ip6: Option<IpAddr> = match &self.relay_ip6 {
            None => None,
            Some(ip) => match ip.parse::<IpAddr>() {
                Ok(ip) if ip.is_ipv6() && !ip.is_unspecified() && relay_ip.is_ipv4() => Some(ip),
                _ => {
                    return Err(invalid(
                        "relay_ip6",
                        "a specific IPv6 address, beside an IPv4 relay_ip",
                    ));
                }
            },
        };
        let external_ip: Option<IpAddr> = match &self.external_ip {
            Some(_) if from_imds => None,
            Some(ip) => Some(
                ip.parse()
                    .map_err(|_| invalid("external_ip", "an IP address, or imds"))?,
            ),
            None => None,
        };
        if relay_ip.is_unspecified() && external_ip.is_none() && !from_imds {
            return Err(invalid(
                "external_ip",
                "required when relay_ip is unspecified (0.0.0.0 or ::): the address clients are told for their relay",
            ));
        }
        if let Some(ip) = external_ip
            && (ip.is_unspecified() || ip.is_ipv6() != relay_ip.is_ipv6())
        {
            return Err(invalid(
                "external_ip",
                "a specific address of the relay's family",
            ));
        }
        let public_host = self
            .public_host
            .or_else(|| external_ip.map(|ip| ip.to_string()))
            .unwrap_or_else(|| relay_ip.to_string());
        let relay_ports = parse_ports(self.relay_ports.as_deref().unwrap_or("49152-65535"))?;
        let allowed = self.allow_peers.unwrap_or_default();
        let refs: Vec<&str> = allowed.iter().map(String::as_str).collect();
        let policy =
            PeerPolicy::with_allowed(&refs).map_err(|reason| invalid("allow_peers", reason))?;
        let http: SocketAddr = self
            .http
            .as_deref()
            .unwrap_or("0.0.0.0:9090")
            .parse()
            .map_err(|_| invalid("http", "an address and port, such as 0.0.0.0:9090"))?;
        let tls = match (self.tls_cert, self.tls_key) {
            (Some(cert), Some(key)) => {
                let port = self.tls_port.unwrap_or(5349);
                if port == 0 && listen.port() != 0 {
                    return Err(invalid("tls_port", "must not be 0"));
                }
                Some(TlsFiles {
                    port,
                    cert: cert.into(),
                    key: key.into(),
                })
            }
            (None, None) => None,
            _ => return Err(invalid("tls_cert", "TLS needs both tls_cert and tls_key")),
        };
        let defaults = Limits::default();
        let limits = Limits {
            allocations_per_user: self
                .allocations_per_user
                .unwrap_or(defaults.allocations_per_user),
            allocations: self.max_allocations.unwrap_or(defaults.allocations),
            default_lifetime_s: self
                .default_lifetime_s
                .unwrap_or(defaults.default_lifetime_s),
            max_lifetime_s: self.max_lifetime_s.unwrap_or(defaults.max_lifetime_s),
            bandwidth_bytes_per_s: self.bandwidth_bytes_per_s,
        };
        if limits.allocations_per_user == 0 || limits.allocations == 0 {
            return Err(invalid(
                "max_allocations",
                "the allocation quotas must be at least 1",
            ));
        }
        if !(60..=86_400).contains(&limits.max_lifetime_s)
            || !(60..=limits.max_lifetime_s).contains(&limits.default_lifetime_s)
        {
            return Err(invalid(
                "max_lifetime_s",
                "lifetimes are 60 s to 24 h, the default no longer than the maximum",
            ));
        }
        if limits.bandwidth_bytes_per_s == Some(0) {
            return Err(invalid(
                "bandwidth_bytes_per_s",
                "leave it out for no cap; 0 would relay nothing",
            ));
        }
        let store = match self.store_table {
            Some(table) if !table.is_empty() => Some(StoreConfig {
                table,
                endpoint: self.store_endpoint,
            }),
            _ => None,
        };
        let heartbeat_s = self.heartbeat_s.unwrap_or(10);
        if !(1..=60).contains(&heartbeat_s) {
            return Err(invalid("heartbeat_s", "1 to 60"));
        }
        let notify_url = match self.notify_url {
            None => None,
            Some(url) => {
                let url = url.trim().trim_end_matches('/').to_owned();
                let scheme_ok = url.starts_with("https://") || url.starts_with("http://");
                if !scheme_ok
                    || url.len() > 512
                    || url.chars().any(|c| c.is_whitespace() || c.is_control())
                {
                    return Err(invalid(
                        "notify_url",
                        "the API's base URL, such as https://api.example.com",
                    ));
                }
                Some(url)
            }
        };
        Ok(Config {
            node_id,
            realm,
            listen,
            relay_ip,
            relay_ip6,
            external_ip,
            public_host,
            relay_ports,
            turn_secret,
            turn_secret_previous,
            policy,
            allowed,
            http,
            tls,
            limits,
            max_connections: self.max_connections.unwrap_or(10_000).max(1),
            drain_deadline_s: self.drain_deadline_s.unwrap_or(300),
            store,
            heartbeat_s,
            imds,
            notify_url,
            node_id_given,
            public_host_given,
        })
    }
}

fn parse_ports(text: &str) -> Result<RangeInclusive<u16>, ConfigError> {
    let bad = || {
        invalid(
            "relay_ports",
            format!("{text:?} is not a range such as 49152-65535"),
        )
    };
    let (low, high) = text.split_once('-').ok_or_else(bad)?;
    let low: u16 = low.trim().parse().map_err(|_| bad())?;
    let high: u16 = high.trim().parse().map_err(|_| bad())?;
    if low == 0 || high < low {
        return Err(bad());
    }
    Ok(low..=high)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const SECRET: &str = "c2hhcmVkLXdpdGgtdGhlLWljZS1zZXJ2ZXItZW5kcG9pbnQ=";

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn file_then_environment() {
        let file: FileConfig = toml::from_str(
            r#"
            listen = "127.0.0.1:3478"
            turn_secret = "c2hhcmVkLXdpdGgtdGhlLWljZS1zZXJ2ZXItZW5kcG9pbnQ="
            allow_peers = ["127.0.0.0/8"]
            max_allocations = 50
            "#,
        )
        .expect("toml");
        let config = file
            .with_env(env(&[
                ("LIVECARD_MEDIA_MAX_ALLOCATIONS", "80"),
                ("LIVECARD_TABLE", "livecard"),
            ]))
            .expect("env")
            .check()
            .expect("valid");
        assert_eq!(config.listen.to_string(), "127.0.0.1:3478");
        assert_eq!(config.relay_ip.to_string(), "127.0.0.1");
        assert_eq!(config.public_host, "127.0.0.1");
        assert_eq!(config.limits.allocations, 80);
        assert_eq!(config.limits.allocations_per_user, 4);
        assert_eq!(config.relay_ports, 49152..=65535);
        assert!(
            config
                .policy
                .check("127.0.0.1".parse().expect("ip"))
                .is_ok()
        );
        assert_eq!(config.store.map(|s| s.table), Some("livecard".into()));
    }

    #[test]
    fn bad_values_name_their_key() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[], "turn_secret"),
            (&[("LIVECARD_TURN_SECRET", "c2hvcnQ=")], "turn_secret"),
            (
                &[
                    ("LIVECARD_TURN_SECRET", SECRET),
                    ("LIVECARD_MEDIA_LISTEN", "nowhere"),
                ],
                "listen",
            ),
            (
                &[
                    ("LIVECARD_TURN_SECRET", SECRET),
                    ("LIVECARD_MEDIA_LISTEN", "0.0.0.0:3478"),
                ],
                "external_ip",
            ),
            (
                &[
                    ("LIVECARD_TURN_SECRET", SECRET),
                    ("LIVECARD_MEDIA_LISTEN", "127.0.0.1:0"),
                    ("LIVECARD_MEDIA_RELAY_PORTS", "9-2"),
                ],
                "relay_ports",
            ),
            (
                &[
                    ("LIVECARD_TURN_SECRET", SECRET),
                    ("LIVECARD_MEDIA_LISTEN", "127.0.0.1:0"),
                    ("LIVECARD_MEDIA_RELAY_IP6", "127.0.0.2"),
                ],
                "relay_ip6",
            ),
            (
                &[
                    ("LIVECARD_TURN_SECRET", SECRET),
                    ("LIVECARD_MEDIA_LISTEN", "127.0.0.1:0"),
                    ("LIVECARD_MEDIA_RELAY_IP6", "::"),
                ],
                "relay_ip6",
            ),
            (
                &[
                    ("LIVECARD_TURN_SECRET", SECRET),
                    ("LIVECARD_MEDIA_LISTEN", "[::1]:0"),
                    ("LIVECARD_MEDIA_RELAY_IP6", "::1"),
                ],
                "relay_ip6",
            ),
            (
                &[
                    ("LIVECARD_TURN_SECRET", SECRET),
                    ("LIVECARD_MEDIA_LISTEN", "127.0.0.1:0"),
                    ("LIVECARD_MEDIA_ALLOW_PEERS", "127.0.0.0/8,banana"),
                ],
                "allow_peers",
            ),
            (
                &[
                    ("LIVECARD_TURN_SECRET", SECRET),
                    ("LIVECARD_MEDIA_LISTEN", "127.0.0.1:0"),
                    ("LIVECARD_MEDIA_MAX_LIFETIME_S", "5"),
                ],
                "max_lifetime_s",
            ),
            (
                &[
                    ("LIVECARD_TURN_SECRET", SECRET),
                    ("LIVECARD_MEDIA_LISTEN", "127.0.0.1:0"),
                    ("LIVECARD_MEDIA_TLS_CERT", "/x"),
                ],
                "tls_cert",
            ),
            (
                &[
                    ("LIVECARD_TURN_SECRET", SECRET),
                    ("LIVECARD_MEDIA_LISTEN", "127.0.0.1:0"),
                    ("LIVECARD_MEDIA_NODE_ID", "no spaces"),
                ],
                "node_id",
            ),
            (
                &[
                    ("LIVECARD_TURN_SECRET", SECRET),
                    ("LIVECARD_MEDIA_LISTEN", "127.0.0.1:0"),
                    ("LIVECARD_MEDIA_NOTIFY_URL", "ftp://api.example.com"),
                ],
                "notify_url",
            ),
        ];
        for (pairs, key) in cases {
            let err = FileConfig::default()
                .with_env(env(pairs))
                .and_then(FileConfig::check)
                .expect_err("refused");
            assert!(err.to_string().starts_with(key), "{pairs:?}: {err}");
        }
        let err = FileConfig::default()
            .with_env(env(&[("LIVECARD_MEDIA_MAX_ALLOCATIONS", "lots")]))
            .expect_err("not a number");
        assert!(err.to_string().starts_with("max_allocations"), "{err}");
        let mut imds = FileConfig::default()
            .with_env(env(&[
                ("LIVECARD_TURN_SECRET", SECRET),
                ("LIVECARD_MEDIA_EXTERNAL_IP", "imds"),
                ("LIVECARD_MEDIA_IMDS_ENDPOINT", "127.0.0.1:9"),
            ]))
            .expect("env")
            .check()
            .expect("imds needs no address at start");
        assert_eq!(imds.imds.as_deref(), Some("127.0.0.1:9"));
        imds.apply_instance("198.51.100.77".parse().expect("ip"), "i-0abc");
        assert_eq!(
            (imds.node_id.as_str(), imds.public_host.as_str()),
            ("i-0abc", "198.51.100.77")
        );
        let err = toml::from_str::<FileConfig>("listn = \"x\"").expect_err("unknown key");
        assert!(err.to_string().contains("listn"), "{err}");
    }

    #[test]
    fn an_embedding_host_gives_the_secret_as_bytes() {
        let file = || FileConfig {
            listen: Some("127.0.0.1:0".into()),
            http: Some("127.0.0.1:0".into()),
            ..FileConfig::default()
        };
        let config = file().check_with_secret(vec![7; 32]).expect("valid");
        assert_eq!(config.turn_secret, vec![7; 32]);
        assert!(file().check_with_secret(vec![7; 31]).is_err(), "too short");
        let twice = FileConfig {
            turn_secret: Some(SECRET.into()),
            ..file()
        };
        let err = twice.check_with_secret(vec![7; 32]).expect_err("twice");
        assert!(err.to_string().contains("turn_secret"), "{err}");
    }
}
