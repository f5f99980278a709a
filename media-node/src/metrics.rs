//! The node's Prometheus metrics (`/metrics`, text exposition format).
//!
//! Counters are atomics, so the relay updates them without a lock and the
//! scrape reads them while traffic flows.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Reason {
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Direction {
    /// `to_peer` or `to_client`.
    pub direction: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TransportLabel {
    pub transport: &'static str,
}

pub struct Metrics {
    registry: Registry,
    pub allocations: Gauge,
    pub allocations_created: Counter,
    pub relayed_bytes: Family<Direction, Counter>,
    pub relayed_packets: Family<Direction, Counter>,
    /// Requests answered with an error, by reason (`forbidden_loopback`,
    /// `quota_user`, `capacity`, `draining`, ...).
    pub refusals: Family<Reason, Counter>,
    /// Authenticated requests that failed authentication, by reason.
    pub auth_failures: Family<Reason, Counter>,
    /// Packets dropped without an answer (malformed, no permission, over
    /// the bandwidth cap, ...).
    pub dropped: Family<Reason, Counter>,
    pub malformed: Family<TransportLabel, Counter>,
    pub draining: Gauge,
    /// The relayed counters, fetched once: the relay path updates them
    /// without a lookup.
    to_peer: (Counter, Counter),
    to_client: (Counter, Counter),
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("livecard_turn");
        let allocations = Gauge::default();
        let allocations_created = Counter::default();
        let relayed_bytes = Family::<Direction, Counter>::default();
        let relayed_packets = Family::<Direction, Counter>::default();
        let refusals = Family::<Reason, Counter>::default();
        let auth_failures = Family::<Reason, Counter>::default();
        let dropped = Family::<Reason, Counter>::default();
        let malformed = Family::<TransportLabel, Counter>::default();
        let draining = Gauge::default();
        registry.register("allocations", "Allocations held now", allocations.clone());
        registry.register(
            "allocations_created",
            "Allocations created since start",
            allocations_created.clone(),
        );
        registry.register(
            "relayed_bytes",
            "Application bytes relayed, by direction",
            relayed_bytes.clone(),
        );
        registry.register(
            "relayed_packets",
            "Packets relayed, by direction",
            relayed_packets.clone(),
        );
        registry.register(
            "refusals",
            "Requests refused with an error response, by reason",
            refusals.clone(),
        );
        registry.register(
            "auth_failures",
            "Requests whose credentials failed, by reason",
            auth_failures.clone(),
        );
        registry.register(
            "dropped_packets",
            "Packets dropped without an answer, by reason",
            dropped.clone(),
        );
        registry.register(
            "malformed_packets",
            "Packets that were neither STUN nor ChannelData, by transport",
            malformed.clone(),
        );
        registry.register(
            "draining",
            "1 while the node drains (takes no new allocations)",
            draining.clone(),
        );
        let handles = |direction: &'static str| {
            let label = Direction { direction };
            (
                relayed_packets.get_or_create(&label).clone(),
                relayed_bytes.get_or_create(&label).clone(),
            )
        };
        let to_peer = handles("to_peer");
        let to_client = handles("to_client");
        Self {
            to_peer,
            to_client,
            registry,
            allocations,
            allocations_created,
            relayed_bytes,
            relayed_packets,
            refusals,
            auth_failures,
            dropped,
            malformed,
            draining,
        }
    }

    pub fn refuse(&self, reason: &'static str) {
        self.refusals.get_or_create(&Reason { reason }).inc();
    }

    pub fn auth_failed(&self, reason: &'static str) {
        self.auth_failures.get_or_create(&Reason { reason }).inc();
    }

    pub fn drop_packet(&self, reason: &'static str) {
        self.dropped.get_or_create(&Reason { reason }).inc();
    }

    pub fn relayed(&self, direction: &'static str, bytes: usize) {
        let (packets, total) = if direction == "to_peer" {
            &self.to_peer
        } else {
            &self.to_client
        };
        packets.inc();
        total.inc_by(bytes as u64);
    }

    /// The text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }

    /// One counter's value, for tests and logs: `name` is the family
    /// (`refusals`, `auth_failures`, `dropped`) and `reason` its label.
    pub fn count(&self, name: &str, reason: &'static str) -> u64 {
        let family = match name {
            "refusals" => &self.refusals,
            "auth_failures" => &self.auth_failures,
            "dropped" => &self.dropped,
            _ => return 0,
        };
        family.get_or_create(&Reason { reason }).get()
    }
}
