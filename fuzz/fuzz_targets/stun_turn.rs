//! The TURN server (sans-IO) fed a sequence of operations: raw packets,
//! packets the harness signs with valid credentials and nonce (so the
//! fuzzer reaches allocations, permissions and channels), packets from
//! peers to a relay, and time passing. Never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use livecard_core::turn::PeerPolicy;
use livecard_media::metrics::Metrics;
use livecard_media::turn::{
    ClientOut, Families, FiveTuple, Limits, Settings, Transport, TurnServer, long_term_key,
};
use livecard_media::wire::{self, Attr};
use std::net::SocketAddr;
use std::sync::Arc;
use stun::attributes::{
    ATTR_FINGERPRINT, ATTR_MESSAGE_INTEGRITY, ATTR_NONCE, ATTR_REALM, ATTR_USERNAME,
};
use stun::message::{CLASS_REQUEST, METHOD_ALLOCATE, MessageType};

const T0: u64 = 1_795_392_000_000;
const SECRET: [u8; 32] = [9; 32];
const REALM: &str = "livecard";

fuzz_target!(|data: &[u8]| {
    let Ok(policy) = PeerPolicy::with_allowed(&["198.51.100.0/24"]) else {
        return;
    };
    let mut server = TurnServer::new(
        Settings {
            realm: REALM.into(),
            secret: SECRET.to_vec(),
            previous_secret: None,
            nonce_key: [5; 32],
            policy,
            limits: Limits::default(),
            software: "fuzz".into(),
            families: Families {
                v4: true,
                v6: false,
            },
        },
        Arc::new(Metrics::new()),
    );
    let mut now = T0;
    let five = FiveTuple {
        transport: if data.first().is_some_and(|b| b & 1 == 1) {
            Transport::Tcp
        } else {
            Transport::Udp
        },
        client: SocketAddr::from(([198, 51, 100, 7], 40_000)),
        server: SocketAddr::from(([203, 0, 113, 1], 3478)),
    };
    let Ok(credential) = livecard_core::turn::issue(&SECRET, "fuzz-visitor", now, 300_000) else {
        return;
    };
    let key = long_term_key(&credential.username, REALM, &credential.password);
    // An unauthenticated Allocate: the 401 carries the nonce.
    let probe = wire::build(
        MessageType::new(METHOD_ALLOCATE, CLASS_REQUEST),
        [1; 12],
        &[Attr::RequestedTransport(17)],
        None,
    );
    let nonce = match server.on_client(now, five, &probe) {
        ClientOut::Reply(reply) => wire::parse(&reply)
            .and_then(|m| m.get(ATTR_NONCE).ok())
            .and_then(|v| String::from_utf8(v).ok()),
        _ => None,
    };
    let Some(nonce) = nonce else { return };

    let mut allocations = Vec::new();
    let mut rest = data.get(1..).unwrap_or_default();
    while rest.len() >= 3 {
        let kind = rest[0];
        let len = usize::from(u16::from_be_bytes([rest[1], rest[2]])).min(rest.len() - 3);
        let payload = &rest[3..3 + len];
        rest = &rest[3 + len..];
        let packet = match kind % 4 {
            0 => payload.to_vec(),
            1 => {
                // The fuzzer's message, signed: its attributes, then ours.
                let Some(m) = wire::parse(payload) else {
                    continue;
                };
                let skip = [
                    ATTR_USERNAME,
                    ATTR_REALM,
                    ATTR_NONCE,
                    ATTR_MESSAGE_INTEGRITY,
                    ATTR_FINGERPRINT,
                ];
                let mut attrs: Vec<Attr<'_>> = m
                    .attributes
                    .0
                    .iter()
                    .filter(|a| !skip.contains(&a.typ))
                    .map(|a| Attr::Raw(a.typ.0, &a.value))
                    .collect();
                attrs.extend([
                    Attr::Username(&credential.username),
                    Attr::Realm(REALM),
                    Attr::Nonce(&nonce),
                ]);
                wire::build(m.typ, m.transaction_id.0, &attrs, Some(&key))
            }
            2 => {
                // From a peer to a relay: the first bytes pick the peer.
                let Some(&id) = allocations.get(
                    usize::from(payload.first().copied().unwrap_or(0)) % allocations.len().max(1),
                ) else {
                    continue;
                };
                let peer =
                    SocketAddr::from(([198, 51, 100, payload.get(1).copied().unwrap_or(9)], 5000));
                let mut buf = vec![0u8; payload.len() + 8];
                buf[4..4 + payload.len()].copy_from_slice(payload);
                let _ = server.on_peer(now, id, peer, &mut buf, payload.len());
                continue;
            }
            _ => {
                now += u64::from(payload.first().copied().unwrap_or(1)) * 10_000;
                for gone in server.expire(now) {
                    allocations.retain(|a| *a != gone);
                }
                continue;
            }
        };
        if let ClientOut::Allocate(pending) = server.on_client(now, five, &packet) {
            let port = 49_152 + allocations.len() as u16;
            let relay = SocketAddr::from(([203, 0, 113, 1], port));
            // A dual-stack allocation gets its IPv6 relay too.
            let relay6 = pending
                .also_v6
                .then(|| SocketAddr::from(([0x2001, 0xdb8, 0, 0, 0, 0, 0, 1], port)));
            let (id, _reply) = server.allocated(now, pending, relay, relay6);
            allocations.push(id);
        }
    }
    let _ = server.client_gone(&five);
});
