//! STUN/TURN messages on the wire: parsing with the webrtc-rs `stun`
//! crate, the TURN attributes it leaves to callers, ChannelData, and the
//! MESSAGE-INTEGRITY check done over the raw bytes (so a crafted length
//! can never make it read out of bounds).

use livecard_core::encoding::{constant_time_eq, hmac_sha1};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use stun::attributes::*;
use stun::fingerprint::FingerprintAttr;
use stun::integrity::MessageIntegrity;
use stun::message::{
    CLASS_ERROR_RESPONSE, CLASS_INDICATION, CLASS_SUCCESS_RESPONSE, MAGIC_COOKIE,
    MESSAGE_HEADER_SIZE, METHOD_DATA, Message, MessageType, Setter,
};

/// The largest packet the node reads (a UDP datagram, or a framed message
/// on a stream). Anything longer is malformed.
pub const MAX_PACKET: usize = 65_535;

/// An error answer: the code and its reason phrase.
pub struct ErrorReply {
    pub code: u16,
}

impl ErrorReply {
    pub fn new(code: u16) -> Self {
        Self { code }
    }
    pub fn reason(&self) -> &'static str {
        match self.code {
            400 => "Bad Request",
            401 => "Unauthorized",
            403 => "Forbidden",
            420 => "Unknown Attribute",
            437 => "Allocation Mismatch",
            438 => "Stale Nonce",
            440 => "Address Family not Supported",
            441 => "Wrong Credentials",
            442 => "Unsupported Transport Protocol",
            443 => "Peer Address Family Mismatch",
            486 => "Allocation Quota Reached",
            508 => "Insufficient Capacity",
            _ => "Server Error",
        }
    }
}

/// ADDITIONAL-ADDRESS-FAMILY and ADDRESS-ERROR-CODE (RFC 8656 §18.11,
/// §18.12): a dual-stack allocation, and why its second family was not
/// allocated. Both comprehension-optional.
pub const ATTR_ADDITIONAL_ADDRESS_FAMILY: AttrType = AttrType(0x8000);
pub const ATTR_ADDRESS_ERROR_CODE: AttrType = AttrType(0x8001);

/// Attributes the node (and the test client) writes.
#[derive(Clone)]
pub enum Attr<'a> {
    Username(&'a str),
    Realm(&'a str),
    Nonce(&'a str),
    Software(&'a str),
    XorMapped(SocketAddr),
    XorRelayed(SocketAddr),
    XorPeer(SocketAddr),
    Lifetime(u32),
    Data(&'a [u8]),
    Unknown(&'a [u16]),
    RequestedTransport(u8),
    RequestedFamily(u8),
    AdditionalFamily(u8),
    /// The family (1 IPv4, 2 IPv6) and the error code.
    AddressError(u8, u16),
    ChannelNumber(u16),
    /// Any attribute, as given (tests send unknown ones).
    Raw(u16, &'a [u8]),
}

fn xor_address(addr: SocketAddr, txn: &[u8; 12]) -> Vec<u8> {
    let cookie = MAGIC_COOKIE.to_be_bytes();
    let port = addr.port() ^ (MAGIC_COOKIE >> 16) as u16;
    let mut v = Vec::with_capacity(20);
    match addr.ip() {
        IpAddr::V4(ip) => {
            v.extend_from_slice(&[0, 1]);
            v.extend_from_slice(&port.to_be_bytes());
            for (i, b) in ip.octets().iter().enumerate() {
                v.push(b ^ cookie[i]);
            }
        }
        IpAddr::V6(ip) => {
            v.extend_from_slice(&[0, 2]);
            v.extend_from_slice(&port.to_be_bytes());
            let mut mask = [0u8; 16];
            mask[..4].copy_from_slice(&cookie);
            mask[4..].copy_from_slice(txn);
            for (i, b) in ip.octets().iter().enumerate() {
                v.push(b ^ mask[i]);
            }
        }
    }
    v
}

/// Decodes an XOR-*-ADDRESS value; `None` when malformed.
pub fn decode_xor_address(v: &[u8], txn: &[u8; 12]) -> Option<SocketAddr> {
    if v.len() < 4 {
        return None;
    }
    let cookie = MAGIC_COOKIE.to_be_bytes();
    let port = u16::from_be_bytes([v[2], v[3]]) ^ (MAGIC_COOKIE >> 16) as u16;
    match (u16::from_be_bytes([v[0], v[1]]), v.len()) {
        (1, 8) => {
            let mut ip = [0u8; 4];
            for i in 0..4 {
                ip[i] = v[4 + i] ^ cookie[i];
            }
            Some(SocketAddr::new(IpAddr::V4(Ipv4Addr::from(ip)), port))
        }
        (2, 20) => {
            let mut mask = [0u8; 16];
            mask[..4].copy_from_slice(&cookie);
            mask[4..].copy_from_slice(txn);
            let mut ip = [0u8; 16];
            for i in 0..16 {
                ip[i] = v[4 + i] ^ mask[i];
            }
            Some(SocketAddr::new(IpAddr::V6(Ipv6Addr::from(ip)), port))
        }
        _ => None,
    }
}

fn put(m: &mut Message, attr: &Attr<'_>) {
    let txn = m.transaction_id.0;
    match attr {
        Attr::Username(s) => m.add(ATTR_USERNAME, s.as_bytes()),
        Attr::Realm(s) => m.add(ATTR_REALM, s.as_bytes()),
        Attr::Nonce(s) => m.add(ATTR_NONCE, s.as_bytes()),
        Attr::Software(s) => m.add(ATTR_SOFTWARE, s.as_bytes()),
        Attr::XorMapped(a) => m.add(ATTR_XORMAPPED_ADDRESS, &xor_address(*a, &txn)),
        Attr::XorRelayed(a) => m.add(ATTR_XOR_RELAYED_ADDRESS, &xor_address(*a, &txn)),
        Attr::XorPeer(a) => m.add(ATTR_XOR_PEER_ADDRESS, &xor_address(*a, &txn)),
        Attr::Lifetime(s) => m.add(ATTR_LIFETIME, &s.to_be_bytes()),
        Attr::Data(d) => m.add(ATTR_DATA, d),
        Attr::Unknown(types) => {
            let v: Vec<u8> = types.iter().flat_map(|t| t.to_be_bytes()).collect();
            m.add(ATTR_UNKNOWN_ATTRIBUTES, &v)
        }
        Attr::RequestedTransport(p) => m.add(ATTR_REQUESTED_TRANSPORT, &[*p, 0, 0, 0]),
        Attr::RequestedFamily(f) => m.add(ATTR_REQUESTED_ADDRESS_FAMILY, &[*f, 0, 0, 0]),
        Attr::AdditionalFamily(f) => m.add(ATTR_ADDITIONAL_ADDRESS_FAMILY, &[*f, 0, 0, 0]),
        Attr::AddressError(family, code) => {
            let mut v = vec![*family, 0, (code / 100) as u8, (code % 100) as u8];
            v.extend_from_slice(ErrorReply::new(*code).reason().as_bytes());
            m.add(ATTR_ADDRESS_ERROR_CODE, &v)
        }
        Attr::ChannelNumber(n) => {
            let b = n.to_be_bytes();
            m.add(ATTR_CHANNEL_NUMBER, &[b[0], b[1], 0, 0])
        }
        Attr::Raw(t, v) => m.add(AttrType(*t), v),
    }
}

/// Builds a message: header, attributes, MESSAGE-INTEGRITY under `key`
/// when given, FINGERPRINT.
pub fn build(
    typ: MessageType,
    txn: [u8; 12],
    attrs: &[Attr<'_>],
    key: Option<&[u8; 16]>,
) -> Vec<u8> {
    let mut m = Message::new();
    m.typ = typ;
    m.transaction_id = stun::agent::TransactionId(txn);
    m.write_header();
    for attr in attrs {
        put(&mut m, attr);
    }
    if let Some(key) = key {
        // Cannot fail: no FINGERPRINT precedes it.
        let _ = MessageIntegrity(key.to_vec()).add_to(&mut m);
    }
    let _ = FingerprintAttr.add_to(&mut m);
    m.raw
}

/// The success response to `request`.
pub fn success(request: &Message, attrs: &[Attr<'_>], key: Option<&[u8; 16]>) -> Vec<u8> {
    build(
        MessageType::new(request.typ.method, CLASS_SUCCESS_RESPONSE),
        request.transaction_id.0,
        attrs,
        key,
    )
}

/// The error response to `request`: ERROR-CODE first, then `attrs`.
pub fn error(
    request: &Message,
    error: ErrorReply,
    attrs: &[Attr<'_>],
    key: Option<&[u8; 16]>,
) -> Vec<u8> {
    let mut value = vec![0, 0, (error.code / 100) as u8, (error.code % 100) as u8];
    value.extend_from_slice(error.reason().as_bytes());
    let mut all = vec![Attr::Raw(ATTR_ERROR_CODE.0, &value)];
    all.extend(attrs.iter().cloned());
    build(
        MessageType::new(request.typ.method, CLASS_ERROR_RESPONSE),
        request.transaction_id.0,
        &all,
        key,
    )
}

/// A Data indication carrying `data` from `peer`.
pub fn data_indication(peer: SocketAddr, data: &[u8], txn: [u8; 12]) -> Vec<u8> {
    let mut m = Message::new();
    m.typ = MessageType::new(METHOD_DATA, CLASS_INDICATION);
    m.transaction_id = stun::agent::TransactionId(txn);
    m.write_header();
    put(&mut m, &Attr::XorPeer(peer));
    put(&mut m, &Attr::Data(data));
    m.raw
}

/// ChannelData starts with 0b01.
pub fn is_channel_data(packet: &[u8]) -> bool {
    packet.first().is_some_and(|b| b & 0xC0 == 0x40)
}

/// The channel number and payload of a ChannelData packet.
pub fn channel_data(packet: &[u8]) -> Option<(u16, &[u8])> {
    if packet.len() < 4 {
        return None;
    }
    let number = u16::from_be_bytes([packet[0], packet[1]]);
    let len = usize::from(u16::from_be_bytes([packet[2], packet[3]]));
    packet.get(4..4 + len).map(|data| (number, data))
}

/// How long the framed message at the start of a stream buffer is, once
/// its first four bytes are there: STUN is 20 + length, ChannelData 4 +
/// length padded to four. `None` when the bytes are neither.
pub fn stream_frame_len(head: &[u8; 4]) -> Option<usize> {
    let len = usize::from(u16::from_be_bytes([head[2], head[3]]));
    match head[0] & 0xC0 {
        0x00 if len % 4 == 0 => Some(MESSAGE_HEADER_SIZE + len),
        0x40 => Some((4 + len).div_ceil(4) * 4),
        _ => None,
    }
}

/// Parses a STUN message. `None` for anything malformed, including a wrong
/// FINGERPRINT.
pub fn parse(packet: &[u8]) -> Option<Message> {
    if packet.len() < MESSAGE_HEADER_SIZE || packet.len() > MAX_PACKET || packet[0] & 0xC0 != 0 {
        return None;
    }
    if !stun::message::is_message(packet) {
        return None;
    }
    let len = usize::from(u16::from_be_bytes([packet[2], packet[3]]));
    if len % 4 != 0 || MESSAGE_HEADER_SIZE + len > packet.len() {
        return None;
    }
    let mut m = Message::new();
    m.raw = packet[..MESSAGE_HEADER_SIZE + len].to_vec();
    m.decode().ok()?;
    if m.contains(ATTR_FINGERPRINT) && FingerprintAttr.check(&m).is_err() {
        return None;
    }
    Some(m)
}

/// Walks the attributes of a raw message: (type, value offset, value length).
fn attributes(raw: &[u8]) -> impl Iterator<Item = (u16, usize, usize)> + '_ {
    let end = if raw.len() >= MESSAGE_HEADER_SIZE {
        (MESSAGE_HEADER_SIZE + usize::from(u16::from_be_bytes([raw[2], raw[3]]))).min(raw.len())
    } else {
        0
    };
    let mut off = MESSAGE_HEADER_SIZE;
    std::iter::from_fn(move || {
        if off + 4 > end {
            return None;
        }
        let typ = u16::from_be_bytes([raw[off], raw[off + 1]]);
        let len = usize::from(u16::from_be_bytes([raw[off + 2], raw[off + 3]]));
        let start = off + 4;
        if start + len > end {
            return None;
        }
        off = start + len.div_ceil(4) * 4;
        Some((typ, start, len))
    })
}

/// The MESSAGE-INTEGRITY value, when the message has one.
pub fn integrity_value(m: &Message) -> Option<Vec<u8>> {
    m.get(ATTR_MESSAGE_INTEGRITY).ok()
}

/// Checks MESSAGE-INTEGRITY (HMAC-SHA1 over the message up to it, with the
/// length field covering it) in constant time.
pub fn integrity_ok(raw: &[u8], value: &[u8], key: &[u8; 16]) -> bool {
    if value.len() != 20 {
        return false;
    }
    for (typ, start, _) in attributes(raw) {
        if typ == ATTR_MESSAGE_INTEGRITY.0 {
            let header_end = start - 4;
            let Ok(covered) = u16::try_from(header_end - MESSAGE_HEADER_SIZE + 24) else {
                return false;
            };
            let mut signed = raw[..header_end].to_vec();
            signed[2..4].copy_from_slice(&covered.to_be_bytes());
            return constant_time_eq(&hmac_sha1(key, &signed), value);
        }
    }
    false
}

/// The value range of the DATA attribute in a raw message.
pub fn data_range(raw: &[u8]) -> Option<std::ops::Range<usize>> {
    attributes(raw)
        .find(|(typ, _, _)| *typ == ATTR_DATA.0)
        .map(|(_, start, len)| start..start + len)
}

pub fn text(m: &Message, attr: AttrType) -> Option<String> {
    let v = m.get(attr).ok()?;
    if v.len() > 763 {
        return None;
    }
    String::from_utf8(v).ok()
}

/// An attribute whose value cannot be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed;

/// Every XOR-PEER-ADDRESS; `Err` if one is malformed.
pub fn peer_addresses(m: &Message) -> Result<Vec<SocketAddr>, Malformed> {
    m.attributes
        .0
        .iter()
        .filter(|a| a.typ == ATTR_XOR_PEER_ADDRESS)
        .map(|a| decode_xor_address(&a.value, &m.transaction_id.0).ok_or(Malformed))
        .collect()
}

pub fn lifetime(m: &Message) -> Option<u32> {
    let v = m.get(ATTR_LIFETIME).ok()?;
    (v.len() == 4).then(|| u32::from_be_bytes([v[0], v[1], v[2], v[3]]))
}

pub fn requested_transport(m: &Message) -> Option<u8> {
    let v = m.get(ATTR_REQUESTED_TRANSPORT).ok()?;
    (v.len() == 4).then(|| v[0])
}

/// `Ok(None)` absent, `Ok(Some(family))`, `Err` malformed.
pub fn requested_family(m: &Message) -> Result<Option<u8>, Malformed> {
    match m.get(ATTR_REQUESTED_ADDRESS_FAMILY) {
        Err(_) => Ok(None),
        Ok(v) if v.len() == 4 => Ok(Some(v[0])),
        Ok(_) => Err(Malformed),
    }
}

/// ADDITIONAL-ADDRESS-FAMILY: `Ok(None)` absent, `Ok(Some(family))`,
/// `Err` malformed.
pub fn additional_family(m: &Message) -> Result<Option<u8>, Malformed> {
    match m.get(ATTR_ADDITIONAL_ADDRESS_FAMILY) {
        Err(_) => Ok(None),
        Ok(v) if v.len() == 4 => Ok(Some(v[0])),
        Ok(_) => Err(Malformed),
    }
}

/// ADDRESS-ERROR-CODE: the family and the code.
pub fn address_error(m: &Message) -> Option<(u8, u16)> {
    let v = m.get(ATTR_ADDRESS_ERROR_CODE).ok()?;
    (v.len() >= 4).then(|| (v[0], u16::from(v[2] & 0x7) * 100 + u16::from(v[3])))
}

/// Every XOR-RELAYED-ADDRESS of an answer (two for a dual-stack
/// allocation), in order.
pub fn relayed_addresses(m: &Message) -> Vec<SocketAddr> {
    m.attributes
        .0
        .iter()
        .filter(|a| a.typ == ATTR_XOR_RELAYED_ADDRESS)
        .filter_map(|a| decode_xor_address(&a.value, &m.transaction_id.0))
        .collect()
}

/// EVEN-PORT: `Ok(None)` absent, `Ok(Some(reserve))` present with its R
/// bit, `Err` malformed.
pub fn even_port(m: &Message) -> Result<Option<bool>, Malformed> {
    match m.get(ATTR_EVEN_PORT) {
        Err(_) => Ok(None),
        Ok(v) if v.len() == 1 => Ok(Some(v[0] & 0x80 != 0)),
        Ok(_) => Err(Malformed),
    }
}

pub fn channel_number(m: &Message) -> Option<u16> {
    let v = m.get(ATTR_CHANNEL_NUMBER).ok()?;
    (v.len() == 4).then(|| u16::from_be_bytes([v[0], v[1]]))
}

/// Comprehension-required attributes (below 0x8000) the node does not
/// implement, for a 420 answer.
pub fn unknown_required(m: &Message) -> Option<Vec<u16>> {
    const KNOWN: &[AttrType] = &[
        ATTR_MAPPED_ADDRESS,
        ATTR_USERNAME,
        ATTR_MESSAGE_INTEGRITY,
        ATTR_ERROR_CODE,
        ATTR_UNKNOWN_ATTRIBUTES,
        ATTR_REALM,
        ATTR_NONCE,
        ATTR_XORMAPPED_ADDRESS,
        ATTR_CHANNEL_NUMBER,
        ATTR_LIFETIME,
        ATTR_XOR_PEER_ADDRESS,
        ATTR_DATA,
        ATTR_XOR_RELAYED_ADDRESS,
        ATTR_REQUESTED_ADDRESS_FAMILY,
        ATTR_REQUESTED_TRANSPORT,
        ATTR_DONT_FRAGMENT,
        ATTR_EVEN_PORT,
        ATTR_PRIORITY,
        ATTR_USE_CANDIDATE,
    ];
    let unknown: Vec<u16> = m
        .attributes
        .0
        .iter()
        .map(|a| a.typ.0)
        .filter(|t| *t < 0x8000 && !KNOWN.iter().any(|k| k.0 == *t))
        .collect();
    (!unknown.is_empty()).then_some(unknown)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xor_addresses_round_trip_in_both_families() {
        let txn = [7u8; 12];
        for addr in ["203.0.113.9:3478", "[2001:db8::1]:49152"] {
            let addr: SocketAddr = addr.parse().expect("addr");
            assert_eq!(
                decode_xor_address(&xor_address(addr, &txn), &txn),
                Some(addr)
            );
        }
        assert_eq!(decode_xor_address(&[0, 1, 0], &txn), None);
        assert_eq!(decode_xor_address(&[0, 3, 0, 0, 1, 2, 3, 4], &txn), None);
        assert_eq!(decode_xor_address(&[0, 1, 0, 0, 1, 2, 3], &txn), None);
    }

    #[test]
    fn integrity_matches_the_stun_crate_and_catches_changes() {
        let key = [9u8; 16];
        let raw = build(
            stun::message::BINDING_REQUEST,
            [1; 12],
            &[Attr::Software("x"), Attr::Realm("livecard")],
            Some(&key),
        );
        let mut m = parse(&raw).expect("parse");
        let value = integrity_value(&m).expect("mi");
        assert!(integrity_ok(&m.raw, &value, &key));
        // The stun crate agrees.
        assert!(MessageIntegrity(key.to_vec()).check(&mut m).is_ok());
        assert!(!integrity_ok(&m.raw, &value, &[8u8; 16]));
        let mut tampered = raw.clone();
        tampered[MESSAGE_HEADER_SIZE + 5] ^= 1;
        // The fingerprint catches it first; without it, the integrity does.
        assert!(parse(&tampered).is_none());
        assert!(!integrity_ok(&tampered, &value, &key));
    }

    #[test]
    fn stream_frames_are_measured_from_their_header() {
        assert_eq!(stream_frame_len(&[0x00, 0x01, 0x00, 0x08]), Some(28));
        assert_eq!(stream_frame_len(&[0x00, 0x01, 0x00, 0x07]), None);
        assert_eq!(stream_frame_len(&[0x40, 0x00, 0x00, 0x05]), Some(12));
        assert_eq!(stream_frame_len(&[0x40, 0x00, 0x00, 0x04]), Some(8));
        assert_eq!(stream_frame_len(&[0x80, 0x00, 0x00, 0x04]), None);
    }

    #[test]
    fn garbage_never_panics() {
        // A small deterministic generator; every prefix and mutation of a
        // valid message, and random bytes, go through the parsers.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let valid = build(
            MessageType::new(stun::message::METHOD_ALLOCATE, stun::message::CLASS_REQUEST),
            [3; 12],
            &[
                Attr::XorPeer("198.51.100.1:5000".parse().expect("addr")),
                Attr::Lifetime(600),
                Attr::Data(b"hello"),
            ],
            Some(&[1; 16]),
        );
        for cut in 0..valid.len() {
            let _ = parse(&valid[..cut]);
            let _ = data_range(&valid[..cut]);
            let _ = integrity_ok(&valid[..cut], &[0; 20], &[0; 16]);
        }
        for _ in 0..20_000 {
            let mut p = valid.clone();
            let flips = (next() % 6) as usize + 1;
            for _ in 0..flips {
                let i = (next() as usize) % p.len();
                p[i] = next() as u8;
            }
            if let Some(m) = parse(&p) {
                let _ = peer_addresses(&m);
                let _ = lifetime(&m);
                let _ = text(&m, ATTR_USERNAME);
                let _ = unknown_required(&m);
                if let Some(v) = integrity_value(&m) {
                    let _ = integrity_ok(&m.raw, &v, &[1; 16]);
                }
            }
            let _ = data_range(&p);
            let _ = channel_data(&p);
            let random: Vec<u8> = (0..(next() % 80)).map(|_| next() as u8).collect();
            let _ = parse(&random);
            let _ = channel_data(&random);
        }
    }
}
