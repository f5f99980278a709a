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
            families: Families { v4: true, v6: true },
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
    fn code(&mut self, s: &mut TurnServer, now: u64, method: Method, attrs: &[Attr<'_>]) -> u16 {
        let reply = self.raw(s, now, method, attrs, true);
        answer_code(&reply)
    }

    fn allocate(&mut self, s: &mut TurnServer, now: u64, relay_port: u16) -> Result<AllocId, u16> {
        let packet = self.request(METHOD_ALLOCATE, &[Attr::RequestedTransport(17)]);
        match s.on_client(now, self.five, &packet) {
            ClientOut::Allocate(pending) => {
                let (id, reply) = s.allocated(
                    now,
                    pending,
                    SocketAddr::from(([203, 0, 113, 1], relay_port)),
                    None,
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
    let (_, first) = s.allocated(T0, pending, peer("203.0.113.1:50000"), None);
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

#[test]
fn a_family_the_node_cannot_relay_is_440_not_508() {
    let mut s = server(Limits::default(), &[]);
    s.settings.families = Families {
        v4: false,
        v6: true,
    };
    let mut c = Client::new(&mut s, 54000, "p1", T0);
    // No REQUESTED-ADDRESS-FAMILY asks for IPv4, which this node lacks.
    assert_eq!(c.allocate(&mut s, T0, 55000), Err(440));
    let v4 = c.request(
        METHOD_ALLOCATE,
        &[Attr::RequestedTransport(17), Attr::RequestedFamily(1)],
    );
    match s.on_client(T0, c.five, &v4) {
        ClientOut::Reply(reply) => assert_eq!(answer_code(&reply), 440),
        other => panic!("unexpected {other:?}"),
    }
    // IPv6, which it has, is allocated.
    let v6 = c.request(
        METHOD_ALLOCATE,
        &[Attr::RequestedTransport(17), Attr::RequestedFamily(2)],
    );
    match s.on_client(T0, c.five, &v6) {
        ClientOut::Allocate(pending) => assert!(pending.family_v6),
        other => panic!("unexpected {other:?}"),
    }
    // Nothing was counted against the user for the refusals.
    assert_eq!(s.allocation_count(), 0, "pending, not yet bound");
}

/// RFC 8656 §7.2: ADDITIONAL-ADDRESS-FAMILY asks for an IPv6 relay beside
/// the IPv4 one; peers of both families are then reachable, each through
/// its relay. A node without IPv6 grants IPv4 with ADDRESS-ERROR-CODE 440;
/// one whose IPv6 socket could not be bound, 508.
#[test]
fn a_dual_stack_allocation_relays_both_families() {
    let mut s = server(Limits::default(), &[]);
    let mut c = Client::new(&mut s, 54100, "p1", T0);
    // Both family attributes, or IPv4 as the additional one: 400.
    for attrs in [
        &[
            Attr::RequestedTransport(17),
            Attr::RequestedFamily(1),
            Attr::AdditionalFamily(2),
        ][..],
        &[Attr::RequestedTransport(17), Attr::AdditionalFamily(1)][..],
    ] {
        let packet = c.request(METHOD_ALLOCATE, attrs);
        match s.on_client(T0, c.five, &packet) {
            ClientOut::Reply(reply) => assert_eq!(answer_code(&reply), 400),
            other => panic!("unexpected {other:?}"),
        }
    }
    let packet = c.request(
        METHOD_ALLOCATE,
        &[Attr::RequestedTransport(17), Attr::AdditionalFamily(2)],
    );
    let ClientOut::Allocate(pending) = s.on_client(T0, c.five, &packet) else {
        panic!("allocate")
    };
    assert!(!pending.family_v6 && pending.also_v6);
    let (relay4, relay6) = (peer("203.0.113.1:50000"), peer("[2001:db8::1]:50002"));
    let (id, reply) = s.allocated(T0, pending, relay4, Some(relay6));
    let m = wire::parse(&reply).expect("reply");
    assert_eq!(wire::relayed_addresses(&m), vec![relay4, relay6]);
    assert_eq!(wire::address_error(&m), None);
    assert_eq!(s.relay6_of(id), Some(relay6));
    // Permissions for peers of both families, in one request; the policy
    // still applies to each.
    let (p4, p6) = (peer("8.8.8.8:4000"), peer("[2001:4860::8888]:4000"));
    let code = c.code(
        &mut s,
        T0,
        METHOD_CREATE_PERMISSION,
        &[Attr::XorPeer(p4), Attr::XorPeer(p6)],
    );
    assert_eq!(code, 0);
    for denied in ["10.0.0.1:1", "[fd00::1]:1", "[::1]:1"] {
        let code = c.code(
            &mut s,
            T0,
            METHOD_CREATE_PERMISSION,
            &[Attr::XorPeer(peer(denied))],
        );
        assert_eq!(code, 403, "{denied}");
    }
    assert_eq!(
        c.code(
            &mut s,
            T0,
            METHOD_CHANNEL_BIND,
            &[Attr::ChannelNumber(0x4001), Attr::XorPeer(p6)]
        ),
        0
    );
    // Data to either peer leaves (the shell picks the socket by family).
    for to in [p4, p6] {
        let send = wire::build(
            stun::message::MessageType::new(METHOD_SEND, CLASS_INDICATION),
            [7; 12],
            &[Attr::XorPeer(to), Attr::Data(b"hi")],
            None,
        );
        match s.on_client(T0, c.five, &send) {
            ClientOut::ToPeer { peer, data, .. } => assert_eq!((peer, data), (to, &b"hi"[..])),
            other => panic!("unexpected {other:?}"),
        }
    }

    // An IPv4-only node grants IPv4 and says why IPv6 is missing (440).
    s.settings.families = Families {
        v4: true,
        v6: false,
    };
    let mut c = Client::new(&mut s, 54101, "p2", T0);
    let packet = c.request(
        METHOD_ALLOCATE,
        &[Attr::RequestedTransport(17), Attr::AdditionalFamily(2)],
    );
    let ClientOut::Allocate(pending) = s.on_client(T0, c.five, &packet) else {
        panic!("allocate")
    };
    assert!(!pending.also_v6);
    let (id, reply) = s.allocated(T0, pending, relay4, None);
    let m = wire::parse(&reply).expect("reply");
    assert_eq!(wire::relayed_addresses(&m), vec![relay4]);
    assert_eq!(wire::address_error(&m), Some((2, 440)));
    // Its allocation has no IPv6 relay: an IPv6 peer is 443.
    assert_eq!(s.relay6_of(id), None);
    let code = c.code(&mut s, T0, METHOD_CREATE_PERMISSION, &[Attr::XorPeer(p6)]);
    assert_eq!(code, 443);

    // A dual-stack node whose IPv6 socket could not be bound: 508.
    s.settings.families = Families { v4: true, v6: true };
    let mut c = Client::new(&mut s, 54102, "p3", T0);
    let packet = c.request(
        METHOD_ALLOCATE,
        &[Attr::RequestedTransport(17), Attr::AdditionalFamily(2)],
    );
    let ClientOut::Allocate(pending) = s.on_client(T0, c.five, &packet) else {
        panic!("allocate")
    };
    let (_, reply) = s.allocated(T0, pending, relay4, None);
    let m = wire::parse(&reply).expect("reply");
    assert_eq!(wire::address_error(&m), Some((2, 508)));
}
