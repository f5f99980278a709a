//! TURN rules shared by the ICE-server endpoint (which issues credentials)
//! and the media node (which checks them and decides where it may relay):
//!
//! - [`issue`] / [`password_for`] / [`check_username`]: short-lived
//!   credentials in the TURN REST API scheme: username `<expiry>:<participant>`
//!   (expiry in Unix seconds), password base64 of HMAC-SHA1 under a secret
//!   shared with the media nodes. Nothing is stored: a node recomputes the
//!   password from the username.
//! - [`PeerPolicy`]: which peer addresses a relay may reach. Secure by
//!   default: loopback, private, CGNAT, link-local (cloud metadata),
//!   multicast, reserved and documentation ranges are denied, in IPv4 and
//!   IPv6, and so is every IPv6 form that embeds a denied IPv4 address
//!   (IPv4-mapped, IPv4-compatible, NAT64, 6to4). An allow-list in the
//!   configuration overrides.

use crate::UnixMillis;
use crate::encoding::hmac_sha1;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// How long credentials are valid unless configured otherwise.
pub const DEFAULT_TTL_MS: u64 = 5 * 60_000;
/// The longest participant name in a username.
pub const MAX_PARTICIPANT_LEN: usize = 96;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TurnError {
    #[error("the participant name must be 1 to 96 of A-Z a-z 0-9 _ - . @")]
    BadParticipant,
    #[error("the username is not <expiry>:<participant>")]
    Malformed,
    #[error("the credentials expired")]
    Expired,
}

/// Credentials for one participant, as the ICE-server endpoint hands them out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnCredential {
    pub username: String,
    pub password: String,
    /// When they stop working.
    pub expires_at: UnixMillis,
}

fn valid_participant(participant: &str) -> bool {
    (1..=MAX_PARTICIPANT_LEN).contains(&participant.len())
        && participant
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.@".contains(&b))
}

/// The shortest TURN secret accepted, in bytes of key.
pub const MIN_SECRET_BYTES: usize = 32;

/// How a configured TURN secret that is the key text itself begins.
pub const TEXT_SECRET_PREFIX: &str = "text:";

/// The HMAC key of a configured TURN secret. `text:<secret>` is the key
/// as written, as coturn uses its `static-auth-secret` (so coturn and
/// livecard's nodes can share one secret); anything else is base64 of the
/// key (livecard's first form, kept for existing deployments). At least
/// [`MIN_SECRET_BYTES`] of key either way.
pub fn secret_key(configured: &str) -> Result<Vec<u8>, InvalidSecret> {
    let key = match configured.strip_prefix(TEXT_SECRET_PREFIX) {
        Some(text) => {
            if text.chars().any(|c| c.is_control() || c.is_whitespace()) {
                return Err(InvalidSecret::Text);
            }
            text.as_bytes().to_vec()
        }
        None => STANDARD
            .decode(configured.trim())
            .map_err(|_| InvalidSecret::NotBase64)?,
    };
    if key.len() < MIN_SECRET_BYTES {
        return Err(InvalidSecret::TooShort);
    }
    Ok(key)
}

/// How far a media node's notice may be from the server's clock.
pub const NOTICE_WINDOW_MS: u64 = 5 * 60_000;

/// The notice key: the TURN secret is shared with the nodes anyway, and a
/// key of its own keeps a notice from ever being a TURN password.
fn notice_key(secret: &[u8]) -> [u8; 32] {
    crate::encoding::hmac_sha256(secret, b"livecard media-node notice v1")
}

fn notice_message(node: &str, at: UnixMillis, body: &[u8]) -> Vec<u8> {
    let mut message = format!("{node}\n{at}\n").into_bytes();
    message.extend_from_slice(body);
    message
}

/// The signature of a media node's notice to the signaling server (its
/// drain, with the calls it relays): base64url of HMAC-SHA256 of
/// `<node>\n<at>\n<body>` under a key derived from the TURN secret.
pub fn notice_signature(secret: &[u8], node: &str, at: UnixMillis, body: &[u8]) -> String {
    crate::encoding::b64url(&crate::encoding::hmac_sha256(
        &notice_key(secret),
        &notice_message(node, at, body),
    ))
}

/// Whether a notice is signed under `secret` and was sent within
/// [`NOTICE_WINDOW_MS`] of `now` (checked in constant time).
pub fn check_notice(
    secret: &[u8],
    node: &str,
    at: UnixMillis,
    body: &[u8],
    signature: &str,
    now: UnixMillis,
) -> bool {
    if now.abs_diff(at) > NOTICE_WINDOW_MS {
        return false;
    }
    let Some(tag) = crate::encoding::b64url_decode(signature) else {
        return false;
    };
    crate::encoding::hmac_sha256_verify(&notice_key(secret), &notice_message(node, at, body), &tag)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InvalidSecret {
    #[error("not base64 (write text:<secret> for a secret used as written, as coturn does)")]
    NotBase64,
    #[error("a text: secret has no spaces or control characters")]
    Text,
    #[error("must be at least 32 bytes of key (32 characters after text:)")]
    TooShort,
}

/// The password for `username`: base64 of HMAC-SHA1(secret, username).
pub fn password_for(secret: &[u8], username: &str) -> String {
    STANDARD.encode(hmac_sha1(secret, username.as_bytes()))
}

/// Issues credentials for `participant`, valid for `ttl_ms` from `now`
/// (rounded up to a whole second).
pub fn issue(
    secret: &[u8],
    participant: &str,
    now: UnixMillis,
    ttl_ms: u64,
) -> Result<TurnCredential, TurnError> {
    if !valid_participant(participant) {
        return Err(TurnError::BadParticipant);
    }
    let expiry_s = now.saturating_add(ttl_ms).div_ceil(1000);
    let username = format!("{expiry_s}:{participant}");
    Ok(TurnCredential {
        password: password_for(secret, &username),
        username,
        expires_at: expiry_s * 1000,
    })
}

/// The participant a username names, when it is well formed and not expired
/// at `now`. The caller then checks the password (or the long-term key
/// derived from it) against [`password_for`].
pub fn check_username(username: &str, now: UnixMillis) -> Result<&str, TurnError> {
    let (expiry, participant) = username.split_once(':').ok_or(TurnError::Malformed)?;
    if expiry.is_empty() || expiry.len() > 12 || !expiry.bytes().all(|b| b.is_ascii_digit()) {
        return Err(TurnError::Malformed);
    }
    if !valid_participant(participant) {
        return Err(TurnError::Malformed);
    }
    let expiry_s: u64 = expiry.parse().map_err(|_| TurnError::Malformed)?;
    if now / 1000 >= expiry_s {
        return Err(TurnError::Expired);
    }
    Ok(participant)
}

/// Why a peer address is refused (a label for logs and metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    Unspecified,
    Loopback,
    Private,
    SharedAddressSpace,
    LinkLocal,
    Multicast,
    Reserved,
    Documentation,
    UniqueLocal,
}

impl Denied {
    pub fn as_str(self) -> &'static str {
        match self {
            Denied::Unspecified => "unspecified",
            Denied::Loopback => "loopback",
            Denied::Private => "private",
            Denied::SharedAddressSpace => "cgnat",
            Denied::LinkLocal => "link_local",
            Denied::Multicast => "multicast",
            Denied::Reserved => "reserved",
            Denied::Documentation => "documentation",
            Denied::UniqueLocal => "unique_local",
        }
    }
}

fn v4(a: u8, b: u8, c: u8, d: u8, len: u8) -> Ipv4Net {
    Ipv4Net::new_assert(Ipv4Addr::new(a, b, c, d), len)
}

const V4_DENIED: &[([u8; 4], u8, Denied)] = &[
    ([0, 0, 0, 0], 8, Denied::Unspecified),
    ([10, 0, 0, 0], 8, Denied::Private),
    ([100, 64, 0, 0], 10, Denied::SharedAddressSpace),
    ([127, 0, 0, 0], 8, Denied::Loopback),
    ([169, 254, 0, 0], 16, Denied::LinkLocal),
    ([172, 16, 0, 0], 12, Denied::Private),
    ([192, 0, 0, 0], 24, Denied::Reserved),
    ([192, 0, 2, 0], 24, Denied::Documentation),
    ([192, 88, 99, 0], 24, Denied::Reserved),
    ([192, 168, 0, 0], 16, Denied::Private),
    ([198, 18, 0, 0], 15, Denied::Reserved),
    ([198, 51, 100, 0], 24, Denied::Documentation),
    ([203, 0, 113, 0], 24, Denied::Documentation),
    ([224, 0, 0, 0], 4, Denied::Multicast),
    ([240, 0, 0, 0], 4, Denied::Reserved),
];

const V6_DENIED: &[(u128, u8, Denied)] = &[
    (0, 128, Denied::Unspecified),
    (1, 128, Denied::Loopback),
    (
        0x0100_0000_0000_0000_0000_0000_0000_0000,
        64,
        Denied::Reserved,
    ), // discard-only
    (
        0x0064_ff9b_0001_0000_0000_0000_0000_0000,
        48,
        Denied::Private,
    ), // local-use NAT64
    (
        0x2001_0db8_0000_0000_0000_0000_0000_0000,
        32,
        Denied::Documentation,
    ),
    (
        0xfc00_0000_0000_0000_0000_0000_0000_0000,
        7,
        Denied::UniqueLocal,
    ),
    (
        0xfe80_0000_0000_0000_0000_0000_0000_0000,
        10,
        Denied::LinkLocal,
    ),
    (
        0xfec0_0000_0000_0000_0000_0000_0000_0000,
        10,
        Denied::LinkLocal,
    ), // site-local, deprecated
    (
        0xff00_0000_0000_0000_0000_0000_0000_0000,
        8,
        Denied::Multicast,
    ),
];

fn v4_denied(ip: Ipv4Addr) -> Option<Denied> {
    V4_DENIED
        .iter()
        .find(|([a, b, c, d], len, _)| v4(*a, *b, *c, *d, *len).contains(&ip))
        .map(|(_, _, why)| *why)
}

/// The IPv4 address an IPv6 address carries, in the forms a relay could be
/// tricked with: IPv4-mapped `::ffff:a.b.c.d`, IPv4-compatible `::a.b.c.d`,
/// NAT64 `64:ff9b::a.b.c.d` and 6to4 `2002:AABB:CCDD::/48`.
pub fn embedded_ipv4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let bits = u128::from(ip);
    let low = Ipv4Addr::from((bits & 0xffff_ffff) as u32);
    match bits >> 32 {
        0xffff | 0 => Some(low),
        0x0064_ff9b_0000_0000_0000_0000 => Some(low),
        _ if bits >> 112 == 0x2002 => Some(Ipv4Addr::from(((bits >> 80) & 0xffff_ffff) as u32)),
        _ => None,
    }
}

fn v6_denied(ip: Ipv6Addr) -> Option<Denied> {
    let bits = u128::from(ip);
    if let Some((_, _, why)) = V6_DENIED.iter().find(|(net, len, _)| {
        Ipv6Net::new(Ipv6Addr::from(*net), *len).is_ok_and(|n| n.contains(&Ipv6Addr::from(bits)))
    }) {
        return Some(*why);
    }
    embedded_ipv4(ip).and_then(v4_denied)
}

/// Where a relay may send: everything public, unless denied; the allow-list
/// overrides the denials (the local stack allows loopback).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerPolicy {
    pub allow: Vec<IpNet>,
}

impl PeerPolicy {
    /// Parses an allow-list (`127.0.0.0/8`, `::1/128`, or a bare address).
    pub fn with_allowed(list: &[&str]) -> Result<Self, String> {
        let mut allow = Vec::new();
        for item in list {
            let net = match item.parse::<IpNet>() {
                Ok(net) => net,
                Err(_) => match item.parse::<IpAddr>() {
                    Ok(ip) => IpNet::from(ip),
                    Err(_) => return Err(format!("{item} is not an address or CIDR range")),
                },
            };
            allow.push(net.trunc());
        }
        Ok(Self { allow })
    }

    fn allowed(&self, ip: IpAddr) -> bool {
        self.allow.iter().any(|net| net.contains(&ip))
            || match ip {
                IpAddr::V6(v6) => embedded_ipv4(v6)
                    .is_some_and(|v4| self.allow.iter().any(|net| net.contains(&IpAddr::V4(v4)))),
                IpAddr::V4(_) => false,
            }
    }

    /// `Ok` when a relay may reach `ip`, else why not.
    pub fn check(&self, ip: IpAddr) -> Result<(), Denied> {
        if self.allowed(ip) {
            return Ok(());
        }
        let denied = match ip {
            IpAddr::V4(v4) => v4_denied(v4),
            IpAddr::V6(v6) => v6_denied(v6),
        };
        denied.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn node_notices_are_signed_and_expire() {
        let secret = [9u8; 32];
        let at = 1_700_000_000_000;
        let sig = notice_signature(&secret, "node-a", at, b"{}");
        assert!(check_notice(&secret, "node-a", at, b"{}", &sig, at + 1_000));
        assert!(!check_notice(&secret, "node-b", at, b"{}", &sig, at));
        assert!(!check_notice(&secret, "node-a", at, b"{ }", &sig, at));
        assert!(!check_notice(&[8u8; 32], "node-a", at, b"{}", &sig, at));
        assert!(!check_notice(
            &secret,
            "node-a",
            at,
            b"{}",
            &sig,
            at + NOTICE_WINDOW_MS + 1
        ));
        assert!(!check_notice(
            &secret,
            "node-a",
            at,
            b"{}",
            "not base64!",
            at
        ));
        // Never a TURN password of the same text.
        assert_ne!(sig, password_for(&secret, "node-a"));
    }

    use super::*;

    #[test]
    fn secrets_as_coturn_writes_them_or_as_base64() {
        let text = "livecard-interop-shared-secret-0123456789";
        let key = secret_key(&format!("text:{text}")).expect("text");
        assert_eq!(key, text.as_bytes(), "used as written, as coturn does");
        let encoded = STANDARD.encode(text);
        assert_eq!(secret_key(&encoded), Ok(key), "the same key, base64");
        assert_eq!(secret_key("text:short"), Err(InvalidSecret::TooShort));
        assert_eq!(secret_key("not base64!"), Err(InvalidSecret::NotBase64));
        assert_eq!(
            secret_key("text:with a space in it that is long enough ok"),
            Err(InvalidSecret::Text)
        );
        assert_eq!(
            secret_key(&STANDARD.encode([1u8; 31])),
            Err(InvalidSecret::TooShort)
        );
    }

    const SECRET: &[u8] = b"shared-with-the-media-nodes";

    #[test]
    fn credentials_follow_the_turn_rest_scheme() {
        let c = issue(SECRET, "s1-visitor", 1_000_000_000_500, DEFAULT_TTL_MS).expect("issue");
        assert_eq!(c.username, "1000000301:s1-visitor");
        assert_eq!(c.expires_at, 1_000_000_301_000);
        assert_eq!(c.password, password_for(SECRET, &c.username));
        // base64 of 20 bytes.
        assert_eq!(c.password.len(), 28);
        assert_eq!(
            check_username(&c.username, 1_000_000_000_500),
            Ok("s1-visitor")
        );
        assert_eq!(
            check_username(&c.username, c.expires_at),
            Err(TurnError::Expired)
        );
        assert_ne!(password_for(b"another secret", &c.username), c.password);
        for bad in ["", "nocolon", ":x", "12:", "1x:p", "12:a:b", "12:has space"] {
            assert_eq!(check_username(bad, 0), Err(TurnError::Malformed), "{bad}");
        }
        assert_eq!(issue(SECRET, "a:b", 0, 1), Err(TurnError::BadParticipant));
        assert_eq!(issue(SECRET, "", 0, 1), Err(TurnError::BadParticipant));
    }

    #[test]
    fn the_password_is_rfc_2104_hmac_sha1() {
        // RFC 2202, test case 2.
        assert_eq!(
            hmac_sha1(b"Jefe", b"what do ya want for nothing?"),
            [
                0xef, 0xfc, 0xdf, 0x6a, 0xe5, 0xeb, 0x2f, 0xa2, 0xd2, 0x74, 0x16, 0xd5, 0xf1, 0x84,
                0xdf, 0x9c, 0x25, 0x9a, 0x7c, 0x79
            ]
        );
    }

    fn check(policy: &PeerPolicy, ip: &str) -> Result<(), Denied> {
        policy.check(ip.parse().expect("ip"))
    }

    #[test]
    fn denied_ranges_in_every_form() {
        let p = PeerPolicy::default();
        let cases = [
            ("0.0.0.0", Denied::Unspecified),
            ("0.1.2.3", Denied::Unspecified),
            ("10.1.2.3", Denied::Private),
            ("100.64.0.1", Denied::SharedAddressSpace),
            ("100.127.255.254", Denied::SharedAddressSpace),
            ("127.0.0.1", Denied::Loopback),
            ("127.255.255.255", Denied::Loopback),
            ("169.254.169.254", Denied::LinkLocal),
            ("172.16.0.1", Denied::Private),
            ("172.31.255.255", Denied::Private),
            ("192.0.0.8", Denied::Reserved),
            ("192.0.2.1", Denied::Documentation),
            ("192.168.1.1", Denied::Private),
            ("198.18.0.1", Denied::Reserved),
            ("198.51.100.7", Denied::Documentation),
            ("203.0.113.9", Denied::Documentation),
            ("224.0.0.1", Denied::Multicast),
            ("239.255.255.250", Denied::Multicast),
            ("240.0.0.1", Denied::Reserved),
            ("255.255.255.255", Denied::Reserved),
            ("::", Denied::Unspecified),
            ("::1", Denied::Loopback),
            ("fc00::1", Denied::UniqueLocal),
            ("fd12:3456::1", Denied::UniqueLocal),
            ("fe80::1", Denied::LinkLocal),
            ("ff02::1", Denied::Multicast),
            ("2001:db8::1", Denied::Documentation),
            ("100::1", Denied::Reserved),
            // IPv4-mapped, IPv4-compatible, NAT64 and 6to4 forms.
            ("::ffff:127.0.0.1", Denied::Loopback),
            ("::ffff:169.254.169.254", Denied::LinkLocal),
            ("::ffff:10.0.0.1", Denied::Private),
            ("::127.0.0.1", Denied::Loopback),
            ("::10.0.0.1", Denied::Private),
            ("64:ff9b::192.168.0.1", Denied::Private),
            ("64:ff9b::a9fe:a9fe", Denied::LinkLocal),
            ("2002:7f00:1::1", Denied::Loopback),
            ("2002:a9fe:a9fe::", Denied::LinkLocal),
        ];
        for (ip, why) in cases {
            assert_eq!(check(&p, ip), Err(why), "{ip}");
        }
        for public in [
            "8.8.8.8",
            "1.1.1.1",
            "100.128.0.1",
            "172.32.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::8.8.8.8",
            "2002:0808:0808::1",
        ] {
            assert_eq!(check(&p, public), Ok(()), "{public}");
        }
    }

    #[test]
    fn the_allow_list_overrides() {
        let p = PeerPolicy::with_allowed(&["127.0.0.0/8", "::1", "10.1.0.0/16"]).expect("valid");
        assert_eq!(check(&p, "127.0.0.1"), Ok(()));
        assert_eq!(check(&p, "::1"), Ok(()));
        assert_eq!(check(&p, "::ffff:127.0.0.1"), Ok(()));
        assert_eq!(check(&p, "10.1.2.3"), Ok(()));
        assert_eq!(check(&p, "10.2.0.1"), Err(Denied::Private));
        assert_eq!(check(&p, "169.254.169.254"), Err(Denied::LinkLocal));
        assert!(PeerPolicy::with_allowed(&["not-an-ip"]).is_err());
    }
}
