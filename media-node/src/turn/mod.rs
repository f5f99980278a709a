//! The TURN server, sans-IO: packets and the time come in, answers and
//! relay instructions go out. The network shell (`crate::net`) owns the
//! sockets; this module owns every decision (RFC 8656 allocations,
//! permissions, channels, refresh; long-term credentials in the TURN REST
//! API scheme; the peer policy; quotas and the bandwidth cap).
//!
//! Time is milliseconds since the Unix epoch, passed in by the caller.

use crate::metrics::Metrics;
use crate::wire::{self, Attr, ErrorReply};
use livecard_core::UnixMillis;
use livecard_core::encoding::{b64url, b64url_decode, constant_time_eq, hmac_sha256};
use livecard_core::turn::{PeerPolicy, TurnError, check_username, password_for};
use md5::{Digest, Md5};
/// A fast hash map with a per-process random seed (keys come from the network).
type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use stun::message::{
    CLASS_INDICATION, CLASS_REQUEST, METHOD_ALLOCATE, METHOD_BINDING, METHOD_CHANNEL_BIND,
    METHOD_CREATE_PERMISSION, METHOD_REFRESH, METHOD_SEND, Message,
};

mod allocations;
mod auth;
mod relay;
#[cfg(test)]
mod tests;

pub use auth::long_term_key;

/// How long a nonce is accepted (then 438 Stale Nonce with a fresh one).
pub const NONCE_TTL_MS: u64 = 10 * 60_000;
/// Permissions last five minutes (RFC 8656 §9).
pub const PERMISSION_LIFETIME_MS: u64 = 300_000;
/// Channel bindings last ten minutes (RFC 8656 §12).
pub const CHANNEL_LIFETIME_MS: u64 = 600_000;
/// The default allocation lifetime (RFC 8656 §3.2).
pub const DEFAULT_LIFETIME_S: u32 = 600;
/// Channel numbers taken: RFC 8656 allots 0x4000-0x4FFF; RFC 5766's
/// 0x4000-0x7FFF is accepted too, as clients of that RFC (coturn's among
/// them) use it and no other protocol on the path starts with 0x50-0x7F.
pub const CHANNELS: std::ops::RangeInclusive<u16> = 0x4000..=0x7FFF;

/// How a client reaches the node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    Udp,
    Tcp,
    Tls,
}

impl Transport {
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
            Transport::Tls => "tls",
        }
    }
    /// Stream transports pad ChannelData to a multiple of four.
    pub fn is_stream(self) -> bool {
        !matches!(self, Transport::Udp)
    }
}

/// A client's 5-tuple: transport, its address, the node's address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FiveTuple {
    pub transport: Transport,
    pub client: SocketAddr,
    pub server: SocketAddr,
}

/// Quotas and bounds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Allocations one username may hold (above: 486 Allocation Quota Reached).
    pub allocations_per_user: u32,
    /// Allocations the node holds at most (above: 508 Insufficient Capacity).
    pub allocations: u32,
    /// The lifetime of an allocation when the client asks for none or less.
    pub default_lifetime_s: u32,
    /// The longest lifetime one Allocate or Refresh grants.
    pub max_lifetime_s: u32,
    /// Bytes per second one allocation may relay in each direction; `None`
    /// for no cap. Packets over it are dropped and counted.
    pub bandwidth_bytes_per_s: Option<u64>,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            allocations_per_user: 4,
            allocations: 10_000,
            default_lifetime_s: DEFAULT_LIFETIME_S,
            max_lifetime_s: 3_600,
            bandwidth_bytes_per_s: None,
        }
    }
}

/// What the server needs to know, fixed at start.
#[derive(Debug, Clone)]
pub struct Settings {
    pub realm: String,
    /// The secret shared with the ICE-server endpoint.
    pub secret: Vec<u8>,
    /// The secret before the last rotation, accepted too until every
    /// credential it signed has expired.
    pub previous_secret: Option<Vec<u8>>,
    /// Signs nonces; random per process.
    pub nonce_key: [u8; 32],
    pub policy: PeerPolicy,
    pub limits: Limits,
    /// Put in SOFTWARE of every response.
    pub software: String,
    /// The address families the node relays: an allocation of another
    /// family is answered 440 (RFC 8656 §7.2).
    pub families: Families,
}

/// Which address families a node can relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Families {
    pub v4: bool,
    pub v6: bool,
}

impl Families {
    pub fn relays(self, v6: bool) -> bool {
        if v6 { self.v6 } else { self.v4 }
    }
}

pub type AllocId = u64;

/// An Allocate that passed every check: the shell binds a relay socket and
/// calls [`TurnServer::allocated`] (or [`TurnServer::allocation_failed`]).
#[derive(Debug, Clone)]
pub struct PendingAllocation {
    pub five: FiveTuple,
    /// The relay's family (REQUESTED-ADDRESS-FAMILY; IPv4 by default).
    pub family_v6: bool,
    /// ADDITIONAL-ADDRESS-FAMILY asked for an IPv6 relay besides the IPv4
    /// one, and the node has one: the shell binds both (RFC 8656 §7.2).
    pub also_v6: bool,
    /// ADDITIONAL-ADDRESS-FAMILY asked for a family the node cannot relay:
    /// the IPv4 relay alone, with ADDRESS-ERROR-CODE 440.
    additional_refused: bool,
    /// EVEN-PORT: the relay port must be even.
    pub even_port: bool,
    username: String,
    key: [u8; 16],
    lifetime_s: u32,
    transaction_id: [u8; 12],
}

/// What to do with a packet a client sent.
#[derive(Debug)]
pub enum ClientOut<'a> {
    /// Nothing (dropped or an indication with no answer).
    None,
    /// Send these bytes back to the client on its 5-tuple.
    Reply(Vec<u8>),
    /// Send `data` from the allocation's relay socket of `peer`'s family
    /// to `peer`.
    ToPeer {
        alloc: AllocId,
        peer: SocketAddr,
        data: &'a [u8],
    },
    /// Bind a relay socket for this allocation.
    Allocate(PendingAllocation),
}

/// What to do with a packet a peer sent to a relay socket.
#[derive(Debug)]
pub enum PeerOut {
    Drop,
    /// The buffer now holds ChannelData: send its first `len` bytes.
    Channel {
        five: FiveTuple,
        len: usize,
    },
    /// Send this Data indication.
    Indication {
        five: FiveTuple,
        message: Vec<u8>,
    },
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: UnixMillis,
}

impl Bucket {
    fn take(&mut self, now: UnixMillis, rate: u64, bytes: usize) -> bool {
        let elapsed = now.saturating_sub(self.at) as f64 / 1000.0;
        self.at = now;
        // Burst: one second's worth.
        self.tokens = (self.tokens + elapsed * rate as f64).min(rate as f64);
        if self.tokens >= bytes as f64 {
            self.tokens -= bytes as f64;
            true
        } else {
            false
        }
    }
}

#[derive(Debug)]
struct Allocation {
    five: FiveTuple,
    username: String,
    key: [u8; 16],
    relay: SocketAddr,
    /// A dual-stack allocation's IPv6 relay.
    relay6: Option<SocketAddr>,
    expires: UnixMillis,
    permissions: HashMap<IpAddr, UnixMillis>,
    channel_peer: HashMap<u16, (SocketAddr, UnixMillis)>,
    peer_channel: HashMap<SocketAddr, u16>,
    to_peer: Option<Bucket>,
    to_client: Option<Bucket>,
    /// The Allocate's transaction and answer, for a retransmitted request.
    allocate_txn: [u8; 12],
    allocate_reply: Vec<u8>,
}

impl Allocation {
    /// Whether the allocation has a relay of `peer`'s family.
    fn relays_to(&self, peer: SocketAddr) -> bool {
        self.relay.is_ipv6() == peer.is_ipv6() || (peer.is_ipv6() && self.relay6.is_some())
    }

    fn permitted(&self, ip: IpAddr, now: UnixMillis) -> bool {
        self.permissions.get(&ip).is_some_and(|until| *until > now)
    }
}

/// The server's state.
pub struct TurnServer {
    settings: Settings,
    metrics: Arc<Metrics>,
    next_id: AllocId,
    by_five: HashMap<FiveTuple, AllocId>,
    allocations: HashMap<AllocId, Allocation>,
    /// Allocations (held and pending) per username.
    per_user: HashMap<String, u32>,
    pending: HashMap<FiveTuple, [u8; 12]>,
    draining: bool,
    /// Numbers Data indications' transactions (they are never answered).
    indications: u64,
    /// Allocations their clients released (a Refresh of lifetime 0) whose
    /// relay sockets the shell has not yet closed.
    released: Vec<AllocId>,
}

/// Who an authenticated request came from.
struct Authed {
    username: String,
    key: [u8; 16],
}

impl TurnServer {
    pub fn new(settings: Settings, metrics: Arc<Metrics>) -> Self {
        Self {
            settings,
            metrics,
            next_id: 1,
            by_five: HashMap::default(),
            allocations: HashMap::default(),
            per_user: HashMap::default(),
            pending: HashMap::default(),
            draining: false,
            indications: 0,
            released: Vec::new(),
        }
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    pub fn has_allocation(&self, five: &FiveTuple) -> bool {
        self.by_five.contains_key(five)
    }

    pub fn allocation_count(&self) -> usize {
        self.allocations.len()
    }

    /// The participants its allocations (held and pending) were issued
    /// to: each username after its expiry.
    pub fn participants(&self) -> Vec<String> {
        self.per_user
            .keys()
            .filter_map(|username| username.split_once(':'))
            .map(|(_, participant)| participant.to_owned())
            .collect()
    }

    /// Stop taking allocations; the ones held keep relaying.
    pub fn drain(&mut self) {
        self.draining = true;
        self.metrics.draining.set(1);
    }

    pub fn is_draining(&self) -> bool {
        self.draining
    }

    pub fn limits(&self) -> &Limits {
        &self.settings.limits
    }

    // ---- clients ------------------------------------------------------

    /// A packet from a client (one datagram, or one framed message on a
    /// stream).
    pub fn on_client<'a>(
        &mut self,
        now: UnixMillis,
        five: FiveTuple,
        packet: &'a [u8],
    ) -> ClientOut<'a> {
        if wire::is_channel_data(packet) {
            return self.channel_data_from_client(now, five, packet);
        }
        let Some(m) = wire::parse(packet) else {
            self.metrics
                .malformed
                .get_or_create(&crate::metrics::TransportLabel {
                    transport: five.transport.as_str(),
                })
                .inc();
            return ClientOut::None;
        };
        let class = m.typ.class;
        let method = m.typ.method;
        if class == CLASS_INDICATION {
            if method == METHOD_SEND {
                return self.send_indication(now, five, &m, packet);
            }
            return ClientOut::None;
        }
        if class != CLASS_REQUEST {
            // Responses are never expected from a client.
            self.metrics.drop_packet("unexpected_response");
            return ClientOut::None;
        }
        if let Some(unknown) = wire::unknown_required(&m) {
            self.metrics.refuse("unknown_attribute");
            return ClientOut::Reply(wire::error(
                &m,
                ErrorReply::new(420),
                &[Attr::Unknown(&unknown)],
                None,
            ));
        }
        let reply = match method {
            METHOD_BINDING => wire::success(
                &m,
                &[
                    Attr::XorMapped(five.client),
                    Attr::Software(&self.settings.software),
                ],
                None,
            ),
            METHOD_ALLOCATE => return self.allocate(now, five, &m),
            METHOD_REFRESH => self.refresh(now, five, &m),
            METHOD_CREATE_PERMISSION => self.create_permission(now, five, &m),
            METHOD_CHANNEL_BIND => self.channel_bind(now, five, &m),
            _ => self.refuse(&m, 400, "bad_method", None),
        };
        ClientOut::Reply(reply)
    }

    // ---- peers --------------------------------------------------------

    /// A packet `peer` sent to allocation `id`'s relay socket. `buf` holds
    /// it at `buf[4..4 + len]`, with at least three spare bytes after it:
    /// for a channel the ChannelData header (and stream padding) is written
    /// in place.
    pub fn on_peer(
        &mut self,
        now: UnixMillis,
        id: AllocId,
        peer: SocketAddr,
        buf: &mut [u8],
        len: usize,
    ) -> PeerOut {
        let rate = self.settings.limits.bandwidth_bytes_per_s;
        let Some(a) = self.allocations.get_mut(&id) else {
            return PeerOut::Drop;
        };
        if buf.len() < 4 + len {
            return PeerOut::Drop;
        }
        if !a.permitted(peer.ip(), now) {
            self.metrics.drop_packet("no_permission");
            return PeerOut::Drop;
        }
        if let (Some(rate), Some(bucket)) = (rate, a.to_client.as_mut())
            && !bucket.take(now, rate, len)
        {
            self.metrics.drop_packet("bandwidth");
            return PeerOut::Drop;
        }
        self.metrics.relayed("to_client", len);
        let five = a.five;
        let channel = a
            .peer_channel
            .get(&peer)
            .and_then(|number| {
                a.channel_peer
                    .get(number)
                    .map(|(_, until)| (*number, *until))
            })
            .filter(|(_, until)| *until > now)
            .map(|(number, _)| number);
        match channel {
            Some(number) => {
                let Ok(length) = u16::try_from(len) else {
                    return PeerOut::Drop;
                };
                buf[0..2].copy_from_slice(&number.to_be_bytes());
                buf[2..4].copy_from_slice(&length.to_be_bytes());
                let mut total = 4 + len;
                if five.transport.is_stream() {
                    let padded = total.div_ceil(4) * 4;
                    if buf.len() < padded {
                        return PeerOut::Drop;
                    }
                    buf[total..padded].fill(0);
                    total = padded;
                }
                PeerOut::Channel { five, len: total }
            }
            None => {
                self.indications += 1;
                let mut txn = [0u8; 12];
                txn[4..].copy_from_slice(&self.indications.to_be_bytes());
                PeerOut::Indication {
                    five,
                    message: wire::data_indication(peer, &buf[4..4 + len], txn),
                }
            }
        }
    }

    // ---- time and connections -----------------------------------------

    /// Allocations released by their clients since the last call (their
    /// relay sockets are to be closed). No allocation when there are none.
    pub fn take_released(&mut self) -> Vec<AllocId> {
        std::mem::take(&mut self.released)
    }

    /// Ends expired allocations; returns them so their sockets close.
    pub fn expire(&mut self, now: UnixMillis) -> Vec<AllocId> {
        let expired: Vec<AllocId> = self
            .allocations
            .iter()
            .filter(|(_, a)| a.expires <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in &expired {
            self.remove(*id);
        }
        for a in self.allocations.values_mut() {
            a.permissions.retain(|_, until| *until > now);
            let stale: Vec<u16> = a
                .channel_peer
                .iter()
                .filter(|(_, (_, until))| *until <= now)
                .map(|(number, _)| *number)
                .collect();
            for number in stale {
                if let Some((peer, _)) = a.channel_peer.remove(&number)
                    && a.peer_channel.get(&peer) == Some(&number)
                {
                    a.peer_channel.remove(&peer);
                }
            }
        }
        expired
    }

    /// A stream connection closed: its allocation ends with it (RFC 8656 §3.1).
    pub fn client_gone(&mut self, five: &FiveTuple) -> Option<AllocId> {
        self.pending.remove(five);
        let id = self.by_five.get(five).copied()?;
        self.remove(id).map(|_| id)
    }

    /// The relay address of an allocation (for logs and tests).
    pub fn relay_of(&self, id: AllocId) -> Option<SocketAddr> {
        self.allocations.get(&id).map(|a| a.relay)
    }

    /// A dual-stack allocation's IPv6 relay address.
    pub fn relay6_of(&self, id: AllocId) -> Option<SocketAddr> {
        self.allocations.get(&id).and_then(|a| a.relay6)
    }
}

/// The metric label of a policy refusal.
fn denied_reason(reason: &str) -> &'static str {
    match reason {
        "unspecified" => "forbidden_unspecified",
        "loopback" => "forbidden_loopback",
        "private" => "forbidden_private",
        "cgnat" => "forbidden_cgnat",
        "link_local" => "forbidden_link_local",
        "multicast" => "forbidden_multicast",
        "reserved" => "forbidden_reserved",
        "documentation" => "forbidden_documentation",
        "unique_local" => "forbidden_unique_local",
        _ => "forbidden",
    }
}
