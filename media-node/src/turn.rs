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
}

pub type AllocId = u64;

/// An Allocate that passed every check: the shell binds a relay socket and
/// calls [`TurnServer::allocated`] (or [`TurnServer::allocation_failed`]).
#[derive(Debug, Clone)]
pub struct PendingAllocation {
    pub five: FiveTuple,
    pub family_v6: bool,
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
    /// Send `data` from the allocation's relay socket to `peer`.
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
}

/// Who an authenticated request came from.
struct Authed {
    username: String,
    key: [u8; 16],
}

/// The STUN long-term credential key: MD5(username:realm:password).
pub fn long_term_key(username: &str, realm: &str, password: &str) -> [u8; 16] {
    let mut h = Md5::new();
    h.update(username.as_bytes());
    h.update(b":");
    h.update(realm.as_bytes());
    h.update(b":");
    h.update(password.as_bytes());
    h.finalize().into()
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

    // ---- nonces -------------------------------------------------------

    fn nonce_mac(&self, expiry_s: u32, client: IpAddr) -> [u8; 8] {
        let mut message = expiry_s.to_be_bytes().to_vec();
        match client {
            IpAddr::V4(ip) => message.extend_from_slice(&ip.octets()),
            IpAddr::V6(ip) => message.extend_from_slice(&ip.octets()),
        }
        let full = hmac_sha256(&self.settings.nonce_key, &message);
        let mut out = [0; 8];
        out.copy_from_slice(&full[..8]);
        out
    }

    /// A nonce bound to the client's address, valid for [`NONCE_TTL_MS`]:
    /// base64url of the expiry (Unix seconds) and a MAC of it and the address.
    fn nonce(&self, now: UnixMillis, client: IpAddr) -> String {
        let expiry_s = u32::try_from((now + NONCE_TTL_MS) / 1000).unwrap_or(u32::MAX);
        let mut bytes = expiry_s.to_be_bytes().to_vec();
        bytes.extend_from_slice(&self.nonce_mac(expiry_s, client));
        b64url(&bytes)
    }

    /// `Ok(true)` fresh, `Ok(false)` stale, `Err` not ours.
    fn check_nonce(&self, nonce: &str, now: UnixMillis, client: IpAddr) -> Result<bool, ()> {
        if nonce.len() > 32 {
            return Err(());
        }
        let bytes = b64url_decode(nonce).filter(|b| b.len() == 12).ok_or(())?;
        let expiry_s = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        if !constant_time_eq(&self.nonce_mac(expiry_s, client), &bytes[4..]) {
            return Err(());
        }
        Ok(u64::from(expiry_s) * 1000 > now)
    }

    // ---- answers ------------------------------------------------------

    fn challenge(&self, m: &Message, now: UnixMillis, five: &FiveTuple, code: u16) -> Vec<u8> {
        let nonce = self.nonce(now, five.client.ip());
        wire::error(
            m,
            ErrorReply::new(code),
            &[
                Attr::Realm(&self.settings.realm),
                Attr::Nonce(&nonce),
                Attr::Software(&self.settings.software),
            ],
            None,
        )
    }

    fn refuse(
        &self,
        m: &Message,
        code: u16,
        reason: &'static str,
        key: Option<&[u8; 16]>,
    ) -> Vec<u8> {
        self.metrics.refuse(reason);
        wire::error(
            m,
            ErrorReply::new(code),
            &[Attr::Software(&self.settings.software)],
            key,
        )
    }

    /// Checks the long-term credentials of a request. `Err` is the answer.
    fn authenticate(
        &self,
        m: &Message,
        now: UnixMillis,
        five: &FiveTuple,
        allocation: Option<&Allocation>,
    ) -> Result<Authed, Vec<u8>> {
        let Some(integrity) = wire::integrity_value(m) else {
            // The usual first request: tell the client the realm and a nonce.
            return Err(self.challenge(m, now, five, 401));
        };
        let (Some(username), Some(realm), Some(nonce)) = (
            wire::text(m, stun::attributes::ATTR_USERNAME),
            wire::text(m, stun::attributes::ATTR_REALM),
            wire::text(m, stun::attributes::ATTR_NONCE),
        ) else {
            self.metrics.auth_failed("incomplete");
            return Err(wire::error(m, ErrorReply::new(400), &[], None));
        };
        match self.check_nonce(&nonce, now, five.client.ip()) {
            Ok(true) => {}
            Ok(false) => {
                self.metrics.auth_failed("stale_nonce");
                return Err(self.challenge(m, now, five, 438));
            }
            Err(()) => {
                self.metrics.auth_failed("bad_nonce");
                return Err(self.challenge(m, now, five, 438));
            }
        }
        if realm != self.settings.realm {
            self.metrics.auth_failed("wrong_realm");
            return Err(self.challenge(m, now, five, 401));
        }
        // Requests on an allocation must use its username (441); its key is
        // known, so the password is not recomputed.
        let key = match allocation {
            Some(existing) => {
                if existing.username != username {
                    self.metrics.auth_failed("wrong_credentials");
                    self.metrics.refuse("wrong_credentials");
                    return Err(wire::error(m, ErrorReply::new(441), &[], None));
                }
                if !wire::integrity_ok(&m.raw, &integrity, &existing.key) {
                    self.metrics.auth_failed("bad_integrity");
                    return Err(self.challenge(m, now, five, 401));
                }
                return Ok(Authed {
                    username,
                    key: existing.key,
                });
            }
            None => {
                // New allocations need unexpired credentials. An allocation
                // outlives them (refreshes and permissions go on with the
                // same username), so a call does not drop when its
                // five-minute credentials expire.
                match check_username(&username, now) {
                    Ok(_) => {}
                    Err(TurnError::Expired) => {
                        self.metrics.auth_failed("expired");
                        return Err(self.challenge(m, now, five, 401));
                    }
                    Err(_) => {
                        self.metrics.auth_failed("malformed_username");
                        return Err(self.challenge(m, now, five, 401));
                    }
                }
                // The current secret, then the previous one (rotation).
                let settings = &self.settings;
                std::iter::once(&settings.secret)
                    .chain(settings.previous_secret.as_ref())
                    .map(|secret| {
                        let password = password_for(secret, &username);
                        long_term_key(&username, &settings.realm, &password)
                    })
                    .find(|key| wire::integrity_ok(&m.raw, &integrity, key))
            }
        };
        match key {
            Some(key) => Ok(Authed { username, key }),
            None => {
                self.metrics.auth_failed("bad_integrity");
                Err(self.challenge(m, now, five, 401))
            }
        }
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

    fn allocate(&mut self, now: UnixMillis, five: FiveTuple, m: &Message) -> ClientOut<'static> {
        if let Some(id) = self.by_five.get(&five) {
            if let Some(a) = self.allocations.get(id)
                && a.allocate_txn == m.transaction_id.0
            {
                // A retransmission: the same answer again.
                return ClientOut::Reply(a.allocate_reply.clone());
            }
            let existing = self
                .by_five
                .get(&five)
                .and_then(|id| self.allocations.get(id));
            return match self.authenticate(m, now, &five, existing) {
                Ok(auth) => {
                    ClientOut::Reply(self.refuse(m, 437, "allocation_mismatch", Some(&auth.key)))
                }
                Err(reply) => ClientOut::Reply(reply),
            };
        }
        if let Some(txn) = self.pending.get(&five) {
            // Still binding: a retransmission waits for the first answer.
            if *txn == m.transaction_id.0 {
                return ClientOut::None;
            }
        }
        let auth = match self.authenticate(m, now, &five, None) {
            Ok(auth) => auth,
            Err(reply) => return ClientOut::Reply(reply),
        };
        let key = Some(&auth.key);
        match wire::requested_transport(m) {
            Some(17) => {}
            Some(_) => return ClientOut::Reply(self.refuse(m, 442, "unsupported_transport", key)),
            None => return ClientOut::Reply(self.refuse(m, 400, "no_transport", key)),
        }
        let family_v6 = match wire::requested_family(m) {
            Ok(None) | Ok(Some(1)) => false,
            Ok(Some(2)) => true,
            _ => return ClientOut::Reply(self.refuse(m, 440, "address_family", key)),
        };
        // EVEN-PORT is honoured; reserving the next port (R bit, RFC 8656
        // §7.2) is not offered, which the RFC answers with 508.
        let even_port = match wire::even_port(m) {
            Ok(None) => false,
            Ok(Some(false)) => true,
            Ok(Some(true)) => return ClientOut::Reply(self.refuse(m, 508, "reservation", key)),
            Err(_) => return ClientOut::Reply(self.refuse(m, 400, "bad_request", key)),
        };
        if m.contains(stun::attributes::ATTR_RESERVATION_TOKEN) {
            return ClientOut::Reply(self.refuse(m, 508, "reservation", key));
        }
        if self.draining {
            return ClientOut::Reply(self.refuse(m, 508, "draining", key));
        }
        let held = self.allocations.len() + self.pending.len();
        if held >= self.settings.limits.allocations as usize {
            return ClientOut::Reply(self.refuse(m, 508, "capacity", key));
        }
        let mine = self.per_user.get(&auth.username).copied().unwrap_or(0);
        if mine >= self.settings.limits.allocations_per_user {
            return ClientOut::Reply(self.refuse(m, 486, "quota_user", key));
        }
        let lifetime_s = self.granted_lifetime(wire::lifetime(m));
        *self.per_user.entry(auth.username.clone()).or_insert(0) += 1;
        self.pending.insert(five, m.transaction_id.0);
        ClientOut::Allocate(PendingAllocation {
            five,
            family_v6,
            even_port,
            username: auth.username,
            key: auth.key,
            lifetime_s,
            transaction_id: m.transaction_id.0,
        })
    }

    fn granted_lifetime(&self, requested: Option<u32>) -> u32 {
        let limits = &self.settings.limits;
        requested
            .unwrap_or(limits.default_lifetime_s)
            .min(limits.max_lifetime_s)
            .max(limits.default_lifetime_s.min(limits.max_lifetime_s))
    }

    /// The relay socket is bound (`relay` is the address clients are told):
    /// the allocation exists, and this is the answer.
    pub fn allocated(
        &mut self,
        now: UnixMillis,
        pending: PendingAllocation,
        relay: SocketAddr,
    ) -> (AllocId, Vec<u8>) {
        self.pending.remove(&pending.five);
        let id = self.next_id;
        self.next_id += 1;
        let mut m = Message::new();
        m.typ = stun::message::MessageType::new(METHOD_ALLOCATE, CLASS_REQUEST);
        m.transaction_id = stun::agent::TransactionId(pending.transaction_id);
        let reply = wire::success(
            &m,
            &[
                Attr::XorRelayed(relay),
                Attr::Lifetime(pending.lifetime_s),
                Attr::XorMapped(pending.five.client),
                Attr::Software(&self.settings.software),
            ],
            Some(&pending.key),
        );
        let rate = self.settings.limits.bandwidth_bytes_per_s;
        let bucket = || {
            rate.map(|rate| Bucket {
                tokens: rate as f64,
                at: now,
            })
        };
        self.allocations.insert(
            id,
            Allocation {
                five: pending.five,
                username: pending.username,
                key: pending.key,
                relay,
                expires: now + u64::from(pending.lifetime_s) * 1000,
                permissions: HashMap::default(),
                channel_peer: HashMap::default(),
                peer_channel: HashMap::default(),
                to_peer: bucket(),
                to_client: bucket(),
                allocate_txn: pending.transaction_id,
                allocate_reply: reply.clone(),
            },
        );
        self.by_five.insert(pending.five, id);
        self.metrics.allocations_created.inc();
        self.metrics.allocations.set(self.allocations.len() as i64);
        (id, reply)
    }

    /// No relay socket could be bound: the slot is given back, and this is
    /// the answer (508).
    pub fn allocation_failed(&mut self, pending: PendingAllocation) -> Vec<u8> {
        self.pending.remove(&pending.five);
        self.release_user(&pending.username);
        self.metrics.refuse("no_relay_port");
        let mut m = Message::new();
        m.typ = stun::message::MessageType::new(METHOD_ALLOCATE, CLASS_REQUEST);
        m.transaction_id = stun::agent::TransactionId(pending.transaction_id);
        wire::error(&m, ErrorReply::new(508), &[], Some(&pending.key))
    }

    fn release_user(&mut self, username: &str) {
        if let Some(count) = self.per_user.get_mut(username) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                self.per_user.remove(username);
            }
        }
    }

    fn remove(&mut self, id: AllocId) -> Option<Allocation> {
        let a = self.allocations.remove(&id)?;
        self.by_five.remove(&a.five);
        let username = a.username.clone();
        self.release_user(&username);
        self.metrics.allocations.set(self.allocations.len() as i64);
        Some(a)
    }

    /// The client's allocation and its checked credentials, or the answer:
    /// 437 when it has none (once the credentials check out), else the
    /// authentication's refusal.
    fn on_allocation(
        &self,
        now: UnixMillis,
        five: &FiveTuple,
        m: &Message,
    ) -> Result<(AllocId, Authed), Vec<u8>> {
        let Some(id) = self.by_five.get(five).copied() else {
            return Err(match self.authenticate(m, now, five, None) {
                Ok(auth) => self.refuse(m, 437, "allocation_mismatch", Some(&auth.key)),
                Err(reply) => reply,
            });
        };
        let auth = self.authenticate(m, now, five, self.allocations.get(&id))?;
        Ok((id, auth))
    }

    fn refresh(&mut self, now: UnixMillis, five: FiveTuple, m: &Message) -> Vec<u8> {
        let (id, auth) = match self.on_allocation(now, &five, m) {
            Ok(found) => found,
            Err(reply) => return reply,
        };
        let requested = wire::lifetime(m);
        let granted = if requested == Some(0) {
            self.remove(id);
            0
        } else {
            let granted = self.granted_lifetime(requested);
            if let Some(a) = self.allocations.get_mut(&id) {
                a.expires = now + u64::from(granted) * 1000;
            }
            granted
        };
        wire::success(
            m,
            &[
                Attr::Lifetime(granted),
                Attr::Software(&self.settings.software),
            ],
            Some(&auth.key),
        )
    }

    fn check_peer(&self, peer: SocketAddr) -> Result<(), &'static str> {
        self.settings
            .policy
            .check(peer.ip())
            .map_err(|denied| denied_reason(denied.as_str()))
    }

    fn create_permission(&mut self, now: UnixMillis, five: FiveTuple, m: &Message) -> Vec<u8> {
        let (id, auth) = match self.on_allocation(now, &five, m) {
            Ok(found) => found,
            Err(reply) => return reply,
        };
        let peers = match wire::peer_addresses(m) {
            Ok(peers) if !peers.is_empty() => peers,
            _ => return self.refuse(m, 400, "no_peer", Some(&auth.key)),
        };
        let relay_v6 = self.allocations.get(&id).is_some_and(|a| a.relay.is_ipv6());
        // All or nothing: one refused address refuses the request. The
        // policy comes first, so a denied address is always a 403.
        for peer in &peers {
            if let Err(reason) = self.check_peer(*peer) {
                return self.refuse(m, 403, reason, Some(&auth.key));
            }
        }
        if peers.iter().any(|peer| peer.is_ipv6() != relay_v6) {
            return self.refuse(m, 443, "peer_family", Some(&auth.key));
        }
        if let Some(a) = self.allocations.get_mut(&id) {
            for peer in peers {
                a.permissions
                    .insert(peer.ip(), now + PERMISSION_LIFETIME_MS);
            }
        }
        wire::success(
            m,
            &[Attr::Software(&self.settings.software)],
            Some(&auth.key),
        )
    }

    fn channel_bind(&mut self, now: UnixMillis, five: FiveTuple, m: &Message) -> Vec<u8> {
        let (id, auth) = match self.on_allocation(now, &five, m) {
            Ok(found) => found,
            Err(reply) => return reply,
        };
        let key = Some(&auth.key);
        let Some(number) = wire::channel_number(m) else {
            return self.refuse(m, 400, "no_channel", key);
        };
        if !CHANNELS.contains(&number) {
            return self.refuse(m, 400, "bad_channel", key);
        }
        let peer = match wire::peer_addresses(m) {
            Ok(peers) if peers.len() == 1 => peers[0],
            _ => return self.refuse(m, 400, "no_peer", key),
        };
        if let Err(reason) = self.check_peer(peer) {
            return self.refuse(m, 403, reason, key);
        }
        let relay_v6 = self.allocations.get(&id).is_some_and(|a| a.relay.is_ipv6());
        if peer.is_ipv6() != relay_v6 {
            return self.refuse(m, 443, "peer_family", key);
        }
        let Some(a) = self.allocations.get_mut(&id) else {
            return wire::error(m, ErrorReply::new(437), &[], key);
        };
        // A channel is bound to one peer and a peer to one channel, until
        // the binding expires.
        let live = |until: UnixMillis| until > now;
        if let Some((bound, until)) = a.channel_peer.get(&number)
            && *bound != peer
            && live(*until)
        {
            self.metrics.refuse("channel_in_use");
            return wire::error(m, ErrorReply::new(400), &[], key);
        }
        if let Some(other) = a.peer_channel.get(&peer) {
            let other_live = a
                .channel_peer
                .get(other)
                .is_some_and(|(_, until)| live(*until));
            if *other != number && other_live {
                self.metrics.refuse("peer_has_channel");
                return wire::error(m, ErrorReply::new(400), &[], key);
            }
        }
        if let Some((old_peer, _)) = a
            .channel_peer
            .insert(number, (peer, now + CHANNEL_LIFETIME_MS))
            && old_peer != peer
        {
            a.peer_channel.remove(&old_peer);
        }
        a.peer_channel.insert(peer, number);
        a.permissions
            .insert(peer.ip(), now + PERMISSION_LIFETIME_MS);
        wire::success(m, &[Attr::Software(&self.settings.software)], key)
    }

    fn send_indication<'a>(
        &mut self,
        now: UnixMillis,
        five: FiveTuple,
        m: &Message,
        packet: &'a [u8],
    ) -> ClientOut<'a> {
        let Some(id) = self.by_five.get(&five).copied() else {
            self.metrics.drop_packet("no_allocation");
            return ClientOut::None;
        };
        let (Ok(peers), Some(range)) = (wire::peer_addresses(m), wire::data_range(packet)) else {
            self.metrics.drop_packet("bad_indication");
            return ClientOut::None;
        };
        let Some(peer) = peers.first().copied() else {
            self.metrics.drop_packet("bad_indication");
            return ClientOut::None;
        };
        self.forward_to_peer(now, id, peer, &packet[range])
    }

    fn channel_data_from_client<'a>(
        &mut self,
        now: UnixMillis,
        five: FiveTuple,
        packet: &'a [u8],
    ) -> ClientOut<'a> {
        let Some((number, data)) = wire::channel_data(packet) else {
            self.metrics.drop_packet("bad_channel_data");
            return ClientOut::None;
        };
        let Some(id) = self.by_five.get(&five).copied() else {
            self.metrics.drop_packet("no_allocation");
            return ClientOut::None;
        };
        let peer = match self
            .allocations
            .get(&id)
            .and_then(|a| a.channel_peer.get(&number))
        {
            Some((peer, until)) if *until > now => *peer,
            _ => {
                self.metrics.drop_packet("no_channel");
                return ClientOut::None;
            }
        };
        self.forward_to_peer(now, id, peer, data)
    }

    fn forward_to_peer<'a>(
        &mut self,
        now: UnixMillis,
        id: AllocId,
        peer: SocketAddr,
        data: &'a [u8],
    ) -> ClientOut<'a> {
        let rate = self.settings.limits.bandwidth_bytes_per_s;
        let Some(a) = self.allocations.get_mut(&id) else {
            return ClientOut::None;
        };
        if !a.permitted(peer.ip(), now) {
            self.metrics.drop_packet("no_permission");
            return ClientOut::None;
        }
        if let (Some(rate), Some(bucket)) = (rate, a.to_peer.as_mut())
            && !bucket.take(now, rate, data.len())
        {
            self.metrics.drop_packet("bandwidth");
            return ClientOut::None;
        }
        self.metrics.relayed("to_peer", data.len());
        ClientOut::ToPeer {
            alloc: id,
            peer,
            data,
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Attr;
    use livecard_core::turn::issue;
    use stun::message::{CLASS_ERROR_RESPONSE, CLASS_SUCCESS_RESPONSE, MessageType, Method};

    const SECRET: &[u8] = b"a secret shared with the ice-server endpoint";
    const PREVIOUS: &[u8] = b"the secret before the last rotation";
    const T0: u64 = 1_800_000_000_000;

    fn server(limits: Limits, allow: &[&str]) -> TurnServer {
        TurnServer::new(
            Settings {
                realm: "livecard".into(),
                secret: SECRET.to_vec(),
                previous_secret: Some(PREVIOUS.to_vec()),
                nonce_key: [5; 32],
                policy: PeerPolicy::with_allowed(allow).expect("policy"),
                limits,
                software: "test".into(),
            },
            Arc::new(Metrics::new()),
        )
    }

    fn five(port: u16) -> FiveTuple {
        FiveTuple {
            transport: Transport::Udp,
            client: SocketAddr::from(([198, 51, 100, 7], port)),
            server: SocketAddr::from(([203, 0, 113, 1], 3478)),
        }
    }

    /// A client's view: its credentials and the nonce it was given.
    struct Client {
        five: FiveTuple,
        username: String,
        key: [u8; 16],
        nonce: String,
        n: u8,
    }

    impl Client {
        fn new(s: &mut TurnServer, port: u16, participant: &str, now: u64) -> Client {
            let cred = issue(SECRET, participant, now, 300_000).expect("issue");
            Self::with(s, port, &cred.username, &cred.password, now)
        }

        fn with(s: &mut TurnServer, port: u16, username: &str, password: &str, now: u64) -> Client {
            let mut c = Client {
                five: five(port),
                username: username.into(),
                key: long_term_key(username, "livecard", password),
                nonce: String::new(),
                n: 0,
            };
            // The unauthenticated first request is challenged.
            let reply = c.raw(
                s,
                now,
                METHOD_ALLOCATE,
                &[Attr::RequestedTransport(17)],
                false,
            );
            let m = wire::parse(&reply).expect("reply");
            assert_eq!(m.typ.class, CLASS_ERROR_RESPONSE);
            assert_eq!(crate::client::error_code(&m).0, 401);
            c.nonce = wire::text(&m, stun::attributes::ATTR_NONCE).expect("nonce");
            assert_eq!(
                wire::text(&m, stun::attributes::ATTR_REALM).as_deref(),
                Some("livecard")
            );
            c
        }

        fn request(&mut self, method: Method, attrs: &[Attr<'_>]) -> Vec<u8> {
            self.n += 1;
            let mut all = vec![
                Attr::Username(&self.username),
                Attr::Realm("livecard"),
                Attr::Nonce(&self.nonce),
            ];
            all.extend(attrs.iter().cloned());
            wire::build(
                MessageType::new(method, CLASS_REQUEST),
                [self.n; 12],
                &all,
                Some(&self.key),
            )
        }

        fn raw(
            &mut self,
            s: &mut TurnServer,
            now: u64,
            method: Method,
            attrs: &[Attr<'_>],
            auth: bool,
        ) -> Vec<u8> {
            let packet = if auth {
                self.request(method, attrs)
            } else {
                self.n += 1;
                wire::build(
                    MessageType::new(method, CLASS_REQUEST),
                    [self.n; 12],
                    attrs,
                    None,
                )
            };
            match s.on_client(now, self.five, &packet) {
                ClientOut::Reply(bytes) => bytes,
                other => panic!("expected a reply, got {other:?}"),
            }
        }

        /// Sends an authenticated request; returns the answer's code (0 = success).
        fn code(
            &mut self,
            s: &mut TurnServer,
            now: u64,
            method: Method,
            attrs: &[Attr<'_>],
        ) -> u16 {
            let reply = self.raw(s, now, method, attrs, true);
            answer_code(&reply)
        }

        fn allocate(
            &mut self,
            s: &mut TurnServer,
            now: u64,
            relay_port: u16,
        ) -> Result<AllocId, u16> {
            let packet = self.request(METHOD_ALLOCATE, &[Attr::RequestedTransport(17)]);
            match s.on_client(now, self.five, &packet) {
                ClientOut::Allocate(pending) => {
                    let (id, reply) = s.allocated(
                        now,
                        pending,
                        SocketAddr::from(([203, 0, 113, 1], relay_port)),
                    );
                    assert_eq!(answer_code(&reply), 0);
                    let m = wire::parse(&reply).expect("reply");
                    let value = wire::integrity_value(&m).expect("signed");
                    assert!(wire::integrity_ok(&m.raw, &value, &self.key));
                    Ok(id)
                }
                ClientOut::Reply(reply) => Err(answer_code(&reply)),
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    fn answer_code(reply: &[u8]) -> u16 {
        let m = wire::parse(reply).expect("a STUN answer");
        if m.typ.class == CLASS_SUCCESS_RESPONSE {
            0
        } else {
            crate::client::error_code(&m).0
        }
    }

    fn peer(s: &str) -> SocketAddr {
        s.parse().expect("addr")
    }

    #[test]
    fn allocation_permission_channel_and_relay_both_ways() {
        let mut s = server(Limits::default(), &[]);
        let mut c = Client::new(&mut s, 5000, "s1-visitor", T0);
        let id = c.allocate(&mut s, T0, 50000).expect("allocated");
        let p = peer("8.8.4.4:6000");
        // Nothing passes before a permission.
        let mut buf = vec![0u8; 4 + 10 + 3];
        buf[4..14].copy_from_slice(b"from peer!");
        assert!(matches!(s.on_peer(T0, id, p, &mut buf, 10), PeerOut::Drop));
        assert_eq!(
            c.code(&mut s, T0, METHOD_CREATE_PERMISSION, &[Attr::XorPeer(p)]),
            0
        );
        // Without a channel: a Data indication.
        match s.on_peer(T0, id, p, &mut buf, 10) {
            PeerOut::Indication { five, message } => {
                assert_eq!(five, c.five);
                let m = wire::parse(&message).expect("indication");
                assert_eq!(wire::peer_addresses(&m), Ok(vec![p]));
                assert_eq!(
                    &message[wire::data_range(&message).expect("data")],
                    b"from peer!"
                );
            }
            other => panic!("{other:?}"),
        }
        // A Send indication goes out.
        let send = wire::build(
            MessageType::new(METHOD_SEND, CLASS_INDICATION),
            [9; 12],
            &[Attr::XorPeer(p), Attr::Data(b"to peer")],
            None,
        );
        match s.on_client(T0, c.five, &send) {
            ClientOut::ToPeer { alloc, peer, data } => {
                assert_eq!((alloc, peer, data), (id, p, &b"to peer"[..]));
            }
            other => panic!("{other:?}"),
        }
        // With a channel: ChannelData written in place, both ways.
        assert_eq!(
            c.code(
                &mut s,
                T0,
                METHOD_CHANNEL_BIND,
                &[Attr::ChannelNumber(0x4001), Attr::XorPeer(p)]
            ),
            0
        );
        match s.on_peer(T0, id, p, &mut buf, 10) {
            PeerOut::Channel { len, .. } => {
                assert_eq!(len, 14);
                assert_eq!(&buf[..4], &[0x40, 0x01, 0, 10]);
            }
            other => panic!("{other:?}"),
        }
        let data = [0x40, 0x01, 0, 3, b'a', b'b', b'c', 0];
        match s.on_client(T0, c.five, &data) {
            ClientOut::ToPeer { peer, data, .. } => assert_eq!((peer, data), (p, &b"abc"[..])),
            other => panic!("{other:?}"),
        }
        // An unbound channel is dropped and counted.
        assert!(matches!(
            s.on_client(T0, c.five, &[0x40, 0x02, 0, 1, b'x']),
            ClientOut::None
        ));
        assert_eq!(s.metrics().count("dropped", "no_channel"), 1);
        // A channel is one peer's: binding it to another is refused.
        assert_eq!(
            c.code(
                &mut s,
                T0,
                METHOD_CHANNEL_BIND,
                &[
                    Attr::ChannelNumber(0x4001),
                    Attr::XorPeer(peer("8.8.4.5:1"))
                ]
            ),
            400
        );
        assert_eq!(
            c.code(
                &mut s,
                T0,
                METHOD_CHANNEL_BIND,
                &[Attr::ChannelNumber(0x3FFF), Attr::XorPeer(p)]
            ),
            400
        );
        // Permissions expire after five minutes without a refresh.
        s.expire(T0 + PERMISSION_LIFETIME_MS + 1);
        assert!(matches!(
            s.on_peer(T0 + PERMISSION_LIFETIME_MS + 1, id, p, &mut buf, 10),
            PeerOut::Drop
        ));
    }

    #[test]
    fn every_denied_range_is_a_403_and_counted() {
        let mut s = server(Limits::default(), &[]);
        let mut c = Client::new(&mut s, 5000, "s1-advisor", T0);
        c.allocate(&mut s, T0, 50000).expect("allocated");
        let denied = [
            "127.0.0.1:1",
            "0.1.2.3:1",
            "10.0.0.1:1",
            "172.16.5.4:1",
            "192.168.1.1:1",
            "100.64.0.1:1",
            "169.254.169.254:80",
            "224.0.0.1:1",
            "240.0.0.1:1",
            "255.255.255.255:1",
            "192.0.2.1:1",
            "198.51.100.255:1",
            "203.0.113.1:1",
            "[::1]:1",
            "[::]:1",
            "[fc00::1]:1",
            "[fd12::1]:1",
            "[fe80::1]:1",
            "[ff02::1]:1",
            "[::ffff:127.0.0.1]:1",
            "[::ffff:169.254.169.254]:80",
            "[::10.0.0.1]:1",
            "[64:ff9b::c0a8:101]:1",
            "[2002:a00:1::]:1",
            "[2001:db8::1]:1",
        ];
        // 198.51.100.0/24 is documentation too: only ranges that must pass are used below.
        for (i, p) in denied.iter().enumerate() {
            let p = peer(p);
            assert_eq!(
                c.code(&mut s, T0, METHOD_CREATE_PERMISSION, &[Attr::XorPeer(p)]),
                403,
                "{p}"
            );
            let number = 0x4000 + i as u16;
            assert_eq!(
                c.code(
                    &mut s,
                    T0,
                    METHOD_CHANNEL_BIND,
                    &[Attr::ChannelNumber(number), Attr::XorPeer(p)]
                ),
                403,
                "{p}"
            );
        }
        assert_eq!(s.metrics().count("refusals", "forbidden_loopback"), 6);
        assert_eq!(s.metrics().count("refusals", "forbidden_link_local"), 6);
        // One denied address in a list refuses the whole request.
        assert_eq!(
            c.code(
                &mut s,
                T0,
                METHOD_CREATE_PERMISSION,
                &[
                    Attr::XorPeer(peer("8.8.8.8:1")),
                    Attr::XorPeer(peer("10.0.0.1:1"))
                ]
            ),
            403
        );
        assert_eq!(
            c.code(
                &mut s,
                T0,
                METHOD_CREATE_PERMISSION,
                &[Attr::XorPeer(peer("8.8.8.8:1"))]
            ),
            0
        );
        // The allow-list overrides, for the mapped form too.
        let mut s = server(Limits::default(), &["127.0.0.0/8"]);
        let mut c = Client::new(&mut s, 5000, "s1-advisor", T0);
        c.allocate(&mut s, T0, 50000).expect("allocated");
        assert_eq!(
            c.code(
                &mut s,
                T0,
                METHOD_CREATE_PERMISSION,
                &[Attr::XorPeer(peer("127.0.0.1:9"))]
            ),
            0
        );
        assert_eq!(
            c.code(
                &mut s,
                T0,
                METHOD_CREATE_PERMISSION,
                &[Attr::XorPeer(peer("10.0.0.1:9"))]
            ),
            403
        );
    }

    #[test]
    fn quotas_per_user_and_in_all_and_the_drain() {
        let limits = Limits {
            allocations: 6,
            ..Limits::default()
        };
        let mut s = server(limits, &[]);
        for port in 0..4 {
            let mut c = Client::new(&mut s, 5000 + port, "s1-visitor", T0);
            c.allocate(&mut s, T0, 50000 + port)
                .expect("within the quota");
        }
        let mut fifth = Client::new(&mut s, 5010, "s1-visitor", T0);
        assert_eq!(fifth.allocate(&mut s, T0, 50010), Err(486));
        assert_eq!(s.metrics().count("refusals", "quota_user"), 1);
        // Other users are limited by the node's total.
        for port in 0..2 {
            let mut c = Client::new(&mut s, 6000 + port, "s2-visitor", T0);
            c.allocate(&mut s, T0, 51000 + port)
                .expect("within capacity");
        }
        let mut full = Client::new(&mut s, 7000, "s3-visitor", T0);
        assert_eq!(full.allocate(&mut s, T0, 52000), Err(508));
        // An allocation's end gives its slot back.
        assert_eq!(
            fifth.code(&mut s, T0, METHOD_REFRESH, &[Attr::Lifetime(0)]),
            437
        );
        let mut first = Client::new(&mut s, 5000, "s1-visitor", T0);
        first.n = 50;
        assert_eq!(
            first.code(&mut s, T0, METHOD_REFRESH, &[Attr::Lifetime(0)]),
            0
        );
        assert_eq!(s.allocation_count(), 5);
        assert!(fifth.allocate(&mut s, T0, 50010).is_ok());
        // Draining: no new allocations, the held ones stay.
        s.drain();
        let mut late = Client::new(&mut s, 8000, "s4-visitor", T0);
        assert_eq!(late.allocate(&mut s, T0, 53000), Err(508));
        assert_eq!(s.allocation_count(), 6);
    }

    #[test]
    fn credentials_expired_forged_malformed_and_stale_nonces() {
        let mut s = server(Limits::default(), &[]);
        // Expired: a correct password for a username whose time has passed.
        let old = issue(SECRET, "s1-visitor", T0 - 600_000, 300_000).expect("issue");
        let mut c = Client::with(&mut s, 5000, &old.username, &old.password, T0);
        assert_eq!(c.allocate(&mut s, T0, 50000), Err(401));
        assert_eq!(s.metrics().count("auth_failures", "expired"), 1);
        // Forged: a password under another secret.
        let forged = issue(
            b"not the shared secret at all, no",
            "s1-visitor",
            T0,
            300_000,
        )
        .expect("issue");
        let mut c = Client::with(&mut s, 5001, &forged.username, &forged.password, T0);
        assert_eq!(c.allocate(&mut s, T0, 50001), Err(401));
        assert_eq!(s.metrics().count("auth_failures", "bad_integrity"), 1);
        // Credentials signed with the previous secret still work (rotation).
        let rotated = issue(PREVIOUS, "s2-visitor", T0, 300_000).expect("issue");
        let mut c = Client::with(&mut s, 5009, &rotated.username, &rotated.password, T0);
        assert!(c.allocate(&mut s, T0, 50009).is_ok());
        // Malformed usernames.
        let mut c = Client::with(&mut s, 5002, "alice", "whatever", T0);
        assert_eq!(c.allocate(&mut s, T0, 50002), Err(401));
        assert_eq!(s.metrics().count("auth_failures", "malformed_username"), 1);
        // A nonce from another address, or an old one, is answered 438 with a fresh one.
        let mut c = Client::new(&mut s, 5003, "s1-visitor", T0);
        c.five.client = SocketAddr::from(([198, 51, 100, 8], 5003));
        assert_eq!(c.allocate(&mut s, T0, 50003), Err(438));
        let mut c = Client::new(&mut s, 5004, "s1-visitor", T0);
        assert_eq!(
            c.allocate(&mut s, T0 + NONCE_TTL_MS + 1_000, 50004),
            Err(438)
        );
        // Good credentials still work, and keep working on the allocation
        // after they expire: a call does not drop at five minutes.
        let mut c = Client::new(&mut s, 5005, "s1-visitor", T0);
        c.allocate(&mut s, T0, 50005).expect("allocated");
        let later = T0 + 400_000;
        c.nonce = s.nonce(later, c.five.client.ip());
        assert_eq!(
            c.code(&mut s, later, METHOD_REFRESH, &[Attr::Lifetime(600)]),
            0
        );
        assert_eq!(
            c.code(
                &mut s,
                later,
                METHOD_CREATE_PERMISSION,
                &[Attr::XorPeer(peer("8.8.8.8:1"))]
            ),
            0
        );
        // Another username on the same allocation: 441.
        let other = issue(SECRET, "s9-visitor", later, 300_000).expect("issue");
        c.username = other.username.clone();
        c.key = long_term_key(&other.username, "livecard", &other.password);
        assert_eq!(
            c.code(&mut s, later, METHOD_REFRESH, &[Attr::Lifetime(600)]),
            441
        );
    }

    #[test]
    fn lifetimes_are_bounded_and_allocations_expire() {
        let mut s = server(Limits::default(), &[]);
        let mut c = Client::new(&mut s, 5000, "s1-visitor", T0);
        let id = c.allocate(&mut s, T0, 50000).expect("allocated");
        let reply = c.raw(
            &mut s,
            T0,
            METHOD_REFRESH,
            &[Attr::Lifetime(1_000_000)],
            true,
        );
        assert_eq!(
            wire::lifetime(&wire::parse(&reply).expect("reply")),
            Some(3_600)
        );
        let reply = c.raw(&mut s, T0, METHOD_REFRESH, &[Attr::Lifetime(5)], true);
        assert_eq!(
            wire::lifetime(&wire::parse(&reply).expect("reply")),
            Some(600)
        );
        assert!(s.expire(T0 + 599_000).is_empty());
        assert_eq!(s.expire(T0 + 600_000), vec![id]);
        assert_eq!(s.allocation_count(), 0);
        // Without the allocation, its (expired) credentials count again.
        c.nonce = s.nonce(T0 + 600_000, c.five.client.ip());
        assert_eq!(
            c.code(&mut s, T0 + 600_000, METHOD_REFRESH, &[Attr::Lifetime(600)]),
            401
        );
    }

    #[test]
    fn the_bandwidth_cap_drops_what_is_over_it() {
        let limits = Limits {
            bandwidth_bytes_per_s: Some(10_000),
            ..Limits::default()
        };
        let mut s = server(limits, &[]);
        let mut c = Client::new(&mut s, 5000, "s1-visitor", T0);
        let id = c.allocate(&mut s, T0, 50000).expect("allocated");
        let p = peer("8.8.8.8:5000");
        assert_eq!(
            c.code(
                &mut s,
                T0,
                METHOD_CHANNEL_BIND,
                &[Attr::ChannelNumber(0x4000), Attr::XorPeer(p)]
            ),
            0
        );
        let mut packet = vec![0x40, 0x00, 0x03, 0xE8];
        packet.resize(4 + 1000, 7);
        let passed = (0..50)
            .filter(|_| matches!(s.on_client(T0, c.five, &packet), ClientOut::ToPeer { .. }))
            .count();
        assert_eq!(passed, 10);
        // A second later, another second's worth.
        let passed = (0..50)
            .filter(|_| {
                matches!(
                    s.on_client(T0 + 1_000, c.five, &packet),
                    ClientOut::ToPeer { .. }
                )
            })
            .count();
        assert_eq!(passed, 10);
        let mut buf = vec![0u8; 4 + 1000 + 3];
        let passed = (0..50)
            .filter(|_| {
                matches!(
                    s.on_peer(T0 + 1_000, id, p, &mut buf, 1000),
                    PeerOut::Channel { .. }
                )
            })
            .count();
        assert_eq!(passed, 10);
        assert_eq!(s.metrics().count("dropped", "bandwidth"), 120);
    }

    #[test]
    fn bad_requests_get_protocol_answers() {
        let mut s = server(Limits::default(), &[]);
        let mut c = Client::new(&mut s, 5000, "s1-visitor", T0);
        // TCP relays are not offered (RFC 6062): 442.
        assert_eq!(
            c.code(&mut s, T0, METHOD_ALLOCATE, &[Attr::RequestedTransport(6)]),
            442
        );
        assert_eq!(c.code(&mut s, T0, METHOD_ALLOCATE, &[]), 400);
        // An unknown comprehension-required attribute: 420.
        assert_eq!(
            c.code(
                &mut s,
                T0,
                METHOD_ALLOCATE,
                &[
                    Attr::RequestedTransport(17),
                    Attr::Raw(0x7FFE, &[1, 2, 3, 4])
                ]
            ),
            420
        );
        // EVEN-PORT asking for a reservation: 508 (an even port alone is served).
        assert_eq!(
            c.code(
                &mut s,
                T0,
                METHOD_ALLOCATE,
                &[Attr::RequestedTransport(17), Attr::Raw(0x0018, &[0x80])]
            ),
            508
        );
        // A request on no allocation: 437.
        assert_eq!(
            c.code(
                &mut s,
                T0,
                METHOD_CREATE_PERMISSION,
                &[Attr::XorPeer(peer("8.8.8.8:1"))]
            ),
            437
        );
        // Binding needs no credentials.
        let reply = c.raw(&mut s, T0, METHOD_BINDING, &[], false);
        assert_eq!(answer_code(&reply), 0);
        // A retransmitted Allocate gets the same answer; a new one on the
        // same 5-tuple gets 437.
        let packet = c.request(METHOD_ALLOCATE, &[Attr::RequestedTransport(17)]);
        let ClientOut::Allocate(pending) = s.on_client(T0, c.five, &packet) else {
            panic!("allocate")
        };
        assert!(matches!(s.on_client(T0, c.five, &packet), ClientOut::None));
        let (_, first) = s.allocated(T0, pending, peer("203.0.113.1:50000"));
        match s.on_client(T0, c.five, &packet) {
            ClientOut::Reply(again) => assert_eq!(again, first),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            c.code(&mut s, T0, METHOD_ALLOCATE, &[Attr::RequestedTransport(17)]),
            437
        );
        // Garbage is dropped and counted.
        assert!(matches!(
            s.on_client(T0, c.five, b"\x00\x01\x00\x04garbage-garbage-garbage"),
            ClientOut::None
        ));
        assert!(matches!(s.on_client(T0, c.five, b"\xff"), ClientOut::None));
        assert_eq!(
            s.metrics()
                .malformed
                .get_or_create(&crate::metrics::TransportLabel { transport: "udp" })
                .get(),
            2
        );
    }
}
