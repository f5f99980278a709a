//! Media nodes and the ICE servers a call is given.
//!
//! Media nodes register themselves in the store and renew a heartbeat; a
//! call gets the healthy, least-loaded ones ([`pick`]) as ICE servers with
//! short-lived TURN credentials ([`ice_servers`], `crate::turn`).

use crate::UnixMillis;
use crate::turn::TurnCredential;
use serde::{Deserialize, Serialize};

/// How many nodes one call is offered.
pub const NODES_PER_CALL: usize = 2;
/// A node whose heartbeat is older than this is not offered.
pub const HEARTBEAT_TTL_MS: u64 = 30_000;

/// A media node as it registers itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaNode {
    /// 1 to 64 of `A-Za-z0-9-_.`.
    pub id: String,
    /// Its public address or DNS name, as clients reach it.
    pub host: String,
    /// TURN over UDP and TCP.
    pub turn_port: u16,
    /// TURN over TLS, when the node has a certificate.
    pub tls_port: Option<u16>,
    /// Allocations it takes at most.
    pub capacity: u32,
    /// Allocations it holds now.
    pub load: u32,
    /// It counts as healthy until then.
    pub heartbeat_until: UnixMillis,
    /// The sessions whose calls it relays (at most [`MAX_NODE_SESSIONS`]),
    /// as of its last heartbeat: told to move when the heartbeat lapses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sessions: Vec<String>,
}

/// The most sessions a node's record names.
pub const MAX_NODE_SESSIONS: usize = 1_000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NodeError {
    #[error("the node id must be 1 to 64 of A-Z a-z 0-9 - _ .")]
    Id,
    #[error("the host must be an IP address or a DNS name")]
    Host,
    #[error("the ports must not be 0")]
    Port,
}

impl MediaNode {
    pub fn validate(&self) -> Result<(), NodeError> {
        let id_ok = (1..=64).contains(&self.id.len())
            && self
                .id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
        if !id_ok {
            return Err(NodeError::Id);
        }
        let host_ok = self.host.parse::<std::net::IpAddr>().is_ok()
            || ((1..=253).contains(&self.host.len())
                && self.host.split('.').all(|label| {
                    (1..=63).contains(&label.len())
                        && label
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                        && !label.starts_with('-')
                        && !label.ends_with('-')
                }));
        if !host_ok {
            return Err(NodeError::Host);
        }
        if self.turn_port == 0 || self.tls_port == Some(0) {
            return Err(NodeError::Port);
        }
        Ok(())
    }

    fn healthy(&self, now: UnixMillis) -> bool {
        self.heartbeat_until > now && self.load < self.capacity
    }

    /// Load as a fraction of capacity, in millionths (for ordering).
    fn load_ppm(&self) -> u64 {
        u64::from(self.load) * 1_000_000 / u64::from(self.capacity.max(1))
    }

    /// Where clients reach its TURN service, `host:port` as in its URLs
    /// (what a client names to leave a node out, what `media_move` names).
    pub fn relay(&self) -> String {
        format!("{}:{}", self.url_host(), self.turn_port)
    }

    /// Whether `relay` (`host:port`, from a TURN URL) is this node, on its
    /// UDP/TCP or its TLS port.
    pub fn is_at(&self, relay: &str) -> bool {
        let Some((host, port)) = relay.rsplit_once(':') else {
            return false;
        };
        let Ok(port) = port.parse::<u16>() else {
            return false;
        };
        host.eq_ignore_ascii_case(&self.url_host())
            && (port == self.turn_port || Some(port) == self.tls_port)
    }

    /// `host` as it goes in a URL (IPv6 in brackets).
    fn url_host(&self) -> String {
        match self.host.parse::<std::net::IpAddr>() {
            Ok(std::net::IpAddr::V6(v6)) => format!("[{v6}]"),
            _ => self.host.clone(),
        }
    }
}

/// The nodes to offer: healthy ones (heartbeat current, below capacity),
/// least loaded first (then most free allocations, then the latest
/// heartbeat: a node that died lingers until its heartbeat ends, and its
/// last one is the oldest; then id), at most `n`.
pub fn pick(nodes: &[MediaNode], now: UnixMillis, n: usize) -> Vec<&MediaNode> {
    let mut healthy: Vec<&MediaNode> = nodes.iter().filter(|node| node.healthy(now)).collect();
    healthy.sort_by(|a, b| {
        a.load_ppm()
            .cmp(&b.load_ppm())
            .then((b.capacity - b.load).cmp(&(a.capacity - a.load)))
            .then(b.heartbeat_until.cmp(&a.heartbeat_until))
            .then(a.id.cmp(&b.id))
    });
    healthy.truncate(n);
    healthy
}

/// One entry of `RTCConfiguration.iceServers`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IceServer {
    pub urls: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

/// The ICE servers for one participant: per node, STUN (unless relay-only,
/// where it would be of no use) and TURN over UDP, TCP and (when offered)
/// TLS, all with the same credential.
pub fn ice_servers(
    nodes: &[&MediaNode],
    credential: &TurnCredential,
    relay_only: bool,
) -> Vec<IceServer> {
    let mut servers = Vec::new();
    for node in nodes {
        let host = node.url_host();
        if !relay_only {
            servers.push(IceServer {
                urls: vec![format!("stun:{host}:{}", node.turn_port)],
                username: None,
                credential: None,
            });
        }
        let mut urls = vec![
            format!("turn:{host}:{}?transport=udp", node.turn_port),
            format!("turn:{host}:{}?transport=tcp", node.turn_port),
        ];
        if let Some(tls) = node.tls_port {
            urls.push(format!("turns:{host}:{tls}?transport=tcp"));
        }
        servers.push(IceServer {
            urls,
            username: Some(credential.username.clone()),
            credential: Some(credential.password.clone()),
        });
    }
    servers
}

/// ICE servers a deployment names besides its media nodes: standard TURN
/// servers sharing the TURN secret (coturn with `use-auth-secret`), and
/// plain STUN servers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OtherServers {
    /// `turn:` / `turns:` URLs, given the participant's credential.
    pub turn: Vec<String>,
    /// `stun:` URLs, offered unless calls are relay-only.
    pub stun: Vec<String>,
}

/// The most URLs of each kind a deployment may name.
pub const MAX_OTHER_SERVERS: usize = 8;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidServerUrl {
    #[error("{0:?} is not a {1} URL (at most 256 characters, no spaces)")]
    Url(String, &'static str),
    #[error("at most 8 URLs")]
    TooMany,
}

impl OtherServers {
    /// Checks `turn` (`turn:`/`turns:`) and `stun` (`stun:`/`stuns:`) URLs.
    pub fn new(turn: Vec<String>, stun: Vec<String>) -> Result<Self, InvalidServerUrl> {
        fn check(
            urls: &[String],
            schemes: &[&str],
            kind: &'static str,
        ) -> Result<(), InvalidServerUrl> {
            if urls.len() > MAX_OTHER_SERVERS {
                return Err(InvalidServerUrl::TooMany);
            }
            for url in urls {
                let host = schemes.iter().find_map(|s| url.strip_prefix(s));
                if url.len() > 256
                    || host.is_none_or(str::is_empty)
                    || url.chars().any(|c| c.is_whitespace() || c.is_control())
                {
                    return Err(InvalidServerUrl::Url(url.chars().take(64).collect(), kind));
                }
            }
            Ok(())
        }
        check(&turn, &["turn:", "turns:"], "turn:")?;
        check(&stun, &["stun:", "stuns:"], "stun:")?;
        Ok(Self { turn, stun })
    }

    /// These servers followed by `more`'s not already among them (the
    /// deployment's settings, then the ones set through the admin API).
    pub fn merged(&self, more: &OtherServers) -> OtherServers {
        let join = |mine: &[String], theirs: &[String]| {
            let mut all = mine.to_vec();
            all.extend(theirs.iter().filter(|u| !mine.contains(u)).cloned());
            all
        };
        OtherServers {
            turn: join(&self.turn, &more.turn),
            stun: join(&self.stun, &more.stun),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.turn.is_empty() && self.stun.is_empty()
    }

    /// These servers as ICE servers for one participant.
    pub fn ice_servers(
        &self,
        credential: Option<&TurnCredential>,
        relay_only: bool,
    ) -> Vec<IceServer> {
        let mut servers = Vec::new();
        if let Some(credential) = credential
            && !self.turn.is_empty()
        {
            servers.push(IceServer {
                urls: self.turn.clone(),
                username: Some(credential.username.clone()),
                credential: Some(credential.password.clone()),
            });
        }
        if !relay_only && !self.stun.is_empty() {
            servers.push(IceServer {
                urls: self.stun.clone(),
                username: None,
                credential: None,
            });
        }
        servers
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_node_is_named_by_its_relay_address() {
        let mut n = node("a", 10, 0, 1);
        n.host = "::1".into();
        n.tls_port = Some(5349);
        assert_eq!(n.relay(), "[::1]:3478");
        assert!(n.is_at("[::1]:3478"));
        assert!(n.is_at("[::1]:5349"));
        assert!(!n.is_at("[::1]:3479"));
        assert!(!n.is_at("::1"));
        assert!(!n.is_at("127.0.0.1:3478"));
    }

    use super::*;

    #[test]
    fn other_servers_are_checked_and_offered_per_policy() {
        let servers = OtherServers::new(
            vec!["turn:coturn.example.com:3478?transport=udp".into()],
            vec!["stun:stun.example.com:3478".into()],
        )
        .expect("valid");
        let credential = TurnCredential {
            username: "1:p".into(),
            password: "pw".into(),
            expires_at: 1000,
        };
        let all = servers.ice_servers(Some(&credential), false);
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].credential.as_deref(), Some("pw"));
        assert_eq!(all[1].username, None, "STUN needs no credential");
        let relay = servers.ice_servers(Some(&credential), true);
        assert_eq!(relay.len(), 1, "relay-only: no STUN");
        assert!(
            servers.ice_servers(None, true).is_empty(),
            "no secret: no TURN"
        );
        for (turn, stun) in [
            (vec!["http://x".to_owned()], vec![]),
            (vec![], vec!["turn:x".to_owned()]),
            (vec!["turn:".to_owned()], vec![]),
            (vec!["turn:a b".to_owned()], vec![]),
            (vec!["turn:x".to_owned(); 9], vec![]),
        ] {
            assert!(OtherServers::new(turn, stun).is_err());
        }
    }

    fn node(id: &str, capacity: u32, load: u32, hb: UnixMillis) -> MediaNode {
        MediaNode {
            id: id.into(),
            host: "203.0.113.10".into(),
            turn_port: 3478,
            tls_port: None,
            capacity,
            load,
            heartbeat_until: hb,
            sessions: Vec::new(),
        }
    }

    #[test]
    fn healthy_least_loaded_nodes_are_picked() {
        let nodes = [
            node("a", 100, 50, 2_000),
            node("b", 100, 10, 2_000),
            node("c", 100, 0, 999),    // heartbeat stopped
            node("d", 10, 10, 2_000),  // full
            node("e", 400, 40, 2_000), // 10 %, more room than b
        ];
        let picked: Vec<&str> = pick(&nodes, 1_000, 2)
            .iter()
            .map(|n| n.id.as_str())
            .collect();
        assert_eq!(picked, ["e", "b"]);
        assert!(pick(&nodes, 5_000, 2).is_empty(), "every heartbeat stopped");
    }

    #[test]
    fn ice_servers_per_policy() {
        let mut n = node("a", 10, 0, 1);
        n.tls_port = Some(5349);
        let credential = TurnCredential {
            username: "1:p".into(),
            password: "pw".into(),
            expires_at: 1000,
        };
        let all = ice_servers(&[&n], &credential, false);
        assert_eq!(all[0].urls, ["stun:203.0.113.10:3478"]);
        assert_eq!(
            all[1].urls,
            [
                "turn:203.0.113.10:3478?transport=udp",
                "turn:203.0.113.10:3478?transport=tcp",
                "turns:203.0.113.10:5349?transport=tcp"
            ]
        );
        let relay = ice_servers(&[&n], &credential, true);
        assert_eq!(relay.len(), 1);
        assert_eq!(relay[0].username.as_deref(), Some("1:p"));
        n.host = "2001:db8::5".into();
        assert_eq!(
            ice_servers(&[&n], &credential, true)[0].urls[0],
            "turn:[2001:db8::5]:3478?transport=udp"
        );
    }

    #[test]
    fn nodes_are_validated() {
        let mut n = node("a", 1, 0, 0);
        assert_eq!(n.validate(), Ok(()));
        n.host = "turn-1.example.com".into();
        assert_eq!(n.validate(), Ok(()));
        n.host = "bad host".into();
        assert_eq!(n.validate(), Err(NodeError::Host));
        n.host = "::1".into();
        n.id = "a/b".into();
        assert_eq!(n.validate(), Err(NodeError::Id));
        n.id = "a".into();
        n.turn_port = 0;
        assert_eq!(n.validate(), Err(NodeError::Port));
    }
}
