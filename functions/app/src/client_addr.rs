//! Who the client is: the peer address, or, when the peer is a trusted
//! reverse proxy, the address it forwarded (`Forwarded`, RFC 7239, else
//! `X-Forwarded-For`). Every host resolves it here, so the contact limiter
//! and the analytics pseudonym see the visitor, not the proxy.

use http::HeaderMap;
use ipnet::IpNet;
use std::net::IpAddr;

/// The client's address as the host resolved it. Used only for the
/// limiter's key and the daily pseudonym; never stored or logged raw.
#[derive(Debug, Clone)]
pub struct ClientAddr(pub String);

/// The most forwarded hops read from a request's headers.
const MAX_HOPS: usize = 32;

impl ClientAddr {
    /// The client behind `peer`: the peer itself unless it is one of
    /// `trusted`; then the forwarded hops are read from the right (the hop
    /// the trusted proxy added) and the first one that is not a trusted
    /// proxy is the client. A hop that cannot be read ends the walk: the
    /// last trusted hop is then taken as the client (a client cannot
    /// inject a hop to the right of what the proxy appended).
    pub fn resolve(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> Self {
        let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(&canonical(*ip)));
        let mut client = canonical(peer);
        if is_trusted(&client) {
            for hop in forwarded_hops(headers).into_iter().rev() {
                let Some(ip) = hop else { break };
                client = canonical(ip);
                if !is_trusted(&client) {
                    break;
                }
            }
        }
        ClientAddr(client.to_string())
    }

    /// The key a per-client limit counts under: see [`client_network`].
    pub fn network(&self) -> String {
        match self.0.parse::<IpAddr>() {
            Ok(ip) => match client_network(ip) {
                IpAddr::V6(v6) => format!("{v6}/64"),
                v4 => v4.to_string(),
            },
            Err(_) => self.0.clone(),
        }
    }
}

/// What per-client limits count under: an IPv4 address (IPv4-mapped IPv6
/// taken as IPv4), or an IPv6 address's /64 (one household or host usually
/// holds a whole /64), as its first address.
pub fn client_network(ip: IpAddr) -> IpAddr {
    match canonical(ip) {
        IpAddr::V6(v6) => IpNet::new(IpAddr::V6(v6), 64).map_or(ip, |net| net.trunc().addr()),
        v4 => v4,
    }
}

/// IPv4-mapped IPv6 addresses (a dual-stack socket's view of IPv4) as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// The forwarded hops, oldest (the original client) first; `None` for a
/// hop that is not an address (`unknown`, an obfuscated name, garbage).
/// `Forwarded` is read when present, else `X-Forwarded-For`.
fn forwarded_hops(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let values = |name| {
        headers
            .get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap_or(""))
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .take(MAX_HOPS)
            .collect::<Vec<_>>()
    };
    let forwarded = values(http::header::FORWARDED);
    if !forwarded.is_empty() {
        return forwarded
            .into_iter()
            .map(|element| {
                let node = element.split(';').find_map(|pair| {
                    let (key, value) = pair.trim().split_once('=')?;
                    key.trim()
                        .eq_ignore_ascii_case("for")
                        .then_some(value.trim())
                })?;
                parse_node(node.trim_matches('"'))
            })
            .collect();
    }
    values(http::HeaderName::from_static("x-forwarded-for"))
        .into_iter()
        .map(parse_node)
        .collect()
}

/// `192.0.2.1`, `192.0.2.1:4711`, `2001:db8::1`, `[2001:db8::1]:4711`.
fn parse_node(node: &str) -> Option<IpAddr> {
    if let Some(rest) = node.strip_prefix('[') {
        return rest.split_once(']')?.0.parse().ok();
    }
    if let Ok(ip) = node.parse() {
        return Some(ip);
    }
    let (host, port) = node.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    host.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(
                http::HeaderName::from_bytes(k.as_bytes()).expect("name"),
                v.parse().expect("value"),
            );
        }
        map
    }

    fn resolve(peer: &str, pairs: &[(&str, &str)], trusted: &[&str]) -> String {
        let trusted: Vec<IpNet> = trusted.iter().map(|t| t.parse().expect("net")).collect();
        ClientAddr::resolve(peer.parse().expect("peer"), &headers(pairs), &trusted).0
    }

    #[test]
    fn forwarded_headers_count_only_from_trusted_proxies() {
        let xff = [("x-forwarded-for", "203.0.113.9")];
        assert_eq!(resolve("198.51.100.1", &xff, &[]), "198.51.100.1");
        assert_eq!(
            resolve("198.51.100.1", &xff, &["10.0.0.0/8"]),
            "198.51.100.1",
            "an untrusted peer's header is ignored"
        );
        assert_eq!(resolve("10.0.0.2", &xff, &["10.0.0.0/8"]), "203.0.113.9");
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client() {
        // The client put a fake hop first; the proxies appended the truth.
        let xff = [("x-forwarded-for", "1.2.3.4, 203.0.113.9, 10.0.0.5")];
        assert_eq!(resolve("10.0.0.2", &xff, &["10.0.0.0/8"]), "203.0.113.9");
        let split = [
            ("x-forwarded-for", "1.2.3.4"),
            ("x-forwarded-for", "203.0.113.9"),
        ];
        assert_eq!(resolve("10.0.0.2", &split, &["10.0.0.0/8"]), "203.0.113.9");
        let garbage = [("x-forwarded-for", "203.0.113.9, junk")];
        assert_eq!(
            resolve("10.0.0.2", &garbage, &["10.0.0.0/8"]),
            "10.0.0.2",
            "an unreadable hop ends the walk at the proxy"
        );
        assert_eq!(resolve("10.0.0.2", &[], &["10.0.0.0/8"]), "10.0.0.2");
    }

    #[test]
    fn forwarded_is_preferred_and_parsed() {
        let both = [
            (
                "forwarded",
                "for=192.0.2.60;proto=https, for=\"[2001:db8:cafe::17]:4711\"",
            ),
            ("x-forwarded-for", "198.51.100.77"),
        ];
        assert_eq!(
            resolve("127.0.0.1", &both, &["127.0.0.0/8"]),
            "2001:db8:cafe::17"
        );
        let v4_port = [("forwarded", "For=\"192.0.2.43:47011\"")];
        assert_eq!(
            resolve("127.0.0.1", &v4_port, &["127.0.0.0/8"]),
            "192.0.2.43"
        );
        let unknown = [("forwarded", "for=unknown")];
        assert_eq!(
            resolve("127.0.0.1", &unknown, &["127.0.0.0/8"]),
            "127.0.0.1"
        );
    }

    #[test]
    fn mapped_addresses_and_ipv6_networks() {
        assert_eq!(resolve("::ffff:192.0.2.1", &[], &[]), "192.0.2.1");
        let a = ClientAddr("2001:db8:1:2:aaaa::1".into());
        let b = ClientAddr("2001:db8:1:2:bbbb::2".into());
        let c = ClientAddr("2001:db8:1:3::1".into());
        assert_eq!(a.network(), "2001:db8:1:2::/64");
        assert_eq!(a.network(), b.network(), "one /64, one key");
        assert_ne!(a.network(), c.network());
        assert_eq!(ClientAddr("192.0.2.1".into()).network(), "192.0.2.1");
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().expect("ip");
        assert_eq!(
            client_network(mapped),
            "192.0.2.1".parse::<IpAddr>().expect("ip")
        );
    }
}
