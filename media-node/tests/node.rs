//! The media node on real loopback sockets: relaying over UDP, TCP and
//! TLS; the refusals as protocol answers (403 for every denied range, 486,
//! 508, 401) and in /metrics; malformed packets; the drain; and
//! self-registration in the store (the embedded DynamoDB-compatible server).

use base64::Engine;
use livecard_core::turn::issue;
use livecard_media::client::{Received, TurnClient};
use livecard_media::config::{Config, FileConfig};
use livecard_media::ops::Node;
use livecard_store::dynamo::{DynamoStore, local_client};
use livecard_store::embedded::EmbeddedDynamo;
use livecard_store::prelude::*;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::net::UdpSocket;

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef-media";

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_millis() as u64
}

fn config(edit: impl FnOnce(&mut FileConfig)) -> Config {
    let mut file = FileConfig {
        listen: Some("127.0.0.1:0".into()),
        http: Some("127.0.0.1:0".into()),
        relay_ports: Some("40000-49999".into()),
        turn_secret: Some(base64::engine::general_purpose::STANDARD.encode(SECRET)),
        ..FileConfig::default()
    };
    edit(&mut file);
    file.check().expect("valid configuration")
}

async fn start(config: &Config, store: Option<Arc<DynamoStore>>) -> Node {
    Node::start(config, store, [7; 32])
        .await
        .expect("node starts")
}

fn creds(participant: &str) -> (String, String) {
    let c = issue(SECRET, participant, now_ms(), 300_000).expect("issue");
    (c.username, c.password)
}

async fn udp_client(node: &Node, participant: &str) -> TurnClient {
    let (u, p) = creds(participant);
    TurnClient::udp(node.net.udp_addr, &u, &p)
        .await
        .expect("client")
}

async fn peer_socket() -> UdpSocket {
    UdpSocket::bind("127.0.0.1:0").await.expect("peer")
}

async fn recv_at(peer: &UdpSocket) -> Option<(Vec<u8>, SocketAddr)> {
    let mut buf = vec![0u8; 2048];
    let (n, from) = tokio::time::timeout(Duration::from_secs(2), peer.recv_from(&mut buf))
        .await
        .ok()?
        .ok()?;
    buf.truncate(n);
    Some((buf, from))
}

/// Allocates, permits the peer, and relays both ways with indications,
/// then with a channel.
async fn relay_round_trip(client: &mut TurnClient) {
    let relay = client.allocate().await.expect("allocate");
    assert_eq!(relay.ip().to_string(), "127.0.0.1");
    let peer = peer_socket().await;
    let peer_addr = peer.local_addr().expect("addr");
    client
        .create_permission(&[peer_addr])
        .await
        .expect("permission");
    client
        .send_indication(peer_addr, b"hello peer")
        .await
        .expect("send");
    let (got, from) = recv_at(&peer).await.expect("the peer receives");
    assert_eq!((got.as_slice(), from), (&b"hello peer"[..], relay));
    peer.send_to(b"hello client", relay)
        .await
        .expect("peer sends");
    assert_eq!(
        client.recv_data(Duration::from_secs(2)).await,
        Some(Received::Indication(peer_addr, b"hello client".to_vec()))
    );
    client
        .channel_bind(0x4000, peer_addr)
        .await
        .expect("channel");
    client.send_channel(0x4000, b"odd").await.expect("send");
    assert_eq!(recv_at(&peer).await.map(|(d, _)| d), Some(b"odd".to_vec()));
    peer.send_to(b"back on the channel", relay)
        .await
        .expect("peer sends");
    assert_eq!(
        client.recv_data(Duration::from_secs(2)).await,
        Some(Received::Channel(0x4000, b"back on the channel".to_vec()))
    );
    // A stranger without a permission (permissions are per IP address) is
    // not relayed.
    let stranger = UdpSocket::bind("127.0.0.2:0").await.expect("stranger");
    stranger.send_to(b"let me in", relay).await.expect("send");
    assert_eq!(client.recv_data(Duration::from_millis(300)).await, None);
}

fn self_signed(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf, Vec<u8>) {
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("certificate");
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    std::fs::write(&cert, certified.cert.pem()).expect("write cert");
    std::fs::write(&key, certified.signing_key.serialize_pem()).expect("write key");
    (cert, key, certified.cert.der().to_vec())
}

#[tokio::test]
async fn relays_over_udp_tcp_and_tls() {
    let dir = std::env::temp_dir().join(format!("livecard-media-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let (cert, key, der) = self_signed(&dir);
    let config = config(|f| {
        f.allow_peers = Some(vec!["127.0.0.0/8".into()]);
        f.tls_cert = Some(cert.display().to_string());
        f.tls_key = Some(key.display().to_string());
        f.tls_port = Some(0);
    });
    let node = start(&config, None).await;

    let mut udp = udp_client(&node, "s1-visitor").await;
    relay_round_trip(&mut udp).await;

    let (u, p) = creds("s1-advisor");
    let mut tcp = TurnClient::tcp(node.net.tcp_addr, &u, &p)
        .await
        .expect("tcp");
    relay_round_trip(&mut tcp).await;
    assert_eq!(node.net.allocations(), 2);
    drop(tcp);
    // The TCP allocation ends with its connection.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(node.net.allocations(), 1);

    use tokio_rustls::rustls;
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls_pki_types::CertificateDer::from(der))
        .expect("root");
    let client_config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client_config));
    let tls_addr = node.net.tls_addr.expect("tls listener");
    let stream = tokio::net::TcpStream::connect(tls_addr)
        .await
        .expect("connect");
    let name = rustls_pki_types::ServerName::try_from("localhost").expect("name");
    let stream = connector
        .connect(name, stream)
        .await
        .expect("tls handshake");
    let (u, p) = creds("s2-visitor");
    let mut tls = TurnClient::stream(stream, &u, &p);
    relay_round_trip(&mut tls).await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn refusals_are_protocol_answers_and_metrics() {
    let config = config(|f| {
        f.max_allocations = Some(6);
    });
    let node = start(&config, None).await;
    let mut c = udp_client(&node, "s1-visitor").await;
    c.allocate().await.expect("allocate");
    let denied = [
        "127.0.0.1:9",
        "0.0.0.1:9",
        "10.1.2.3:9",
        "172.31.255.1:9",
        "192.168.0.1:9",
        "100.100.100.100:9",
        "169.254.169.254:80",
        "224.0.0.251:5353",
        "239.255.255.250:1900",
        "240.0.0.1:9",
        "255.255.255.255:9",
        "192.0.2.10:9",
        "198.51.100.10:9",
        "203.0.113.10:9",
        "192.0.0.8:9",
        "198.18.0.1:9",
        "[::1]:9",
        "[::]:9",
        "[fc00::1]:9",
        "[fdff::1]:9",
        "[fe80::1]:9",
        "[ff02::1]:9",
        "[::ffff:127.0.0.1]:9",
        "[::ffff:10.0.0.1]:9",
        "[::ffff:169.254.169.254]:80",
        "[::127.0.0.1]:9",
        "[::192.168.0.1]:9",
        "[64:ff9b::a9fe:a9fe]:80",
        "[2002:7f00:1::]:9",
        "[2001:db8::1]:9",
    ];
    for (i, peer) in denied.iter().enumerate() {
        let peer: SocketAddr = peer.parse().expect("addr");
        let err = c.create_permission(&[peer]).await.expect_err("denied");
        assert_eq!(err.code(), Some(403), "CreatePermission {peer}: {err}");
        let err = c
            .channel_bind(0x4000 + i as u16, peer)
            .await
            .expect_err("denied");
        assert_eq!(err.code(), Some(403), "ChannelBind {peer}: {err}");
    }
    // A public peer is allowed.
    c.create_permission(&["8.8.8.8:53".parse().expect("addr")])
        .await
        .expect("public peer");

    // Four allocations per username, then 486.
    let (u, p) = creds("s2-visitor");
    let mut held = Vec::new();
    for _ in 0..4 {
        let mut c = TurnClient::udp(node.net.udp_addr, &u, &p)
            .await
            .expect("client");
        c.allocate().await.expect("within the quota");
        held.push(c);
    }
    let mut fifth = TurnClient::udp(node.net.udp_addr, &u, &p)
        .await
        .expect("client");
    assert_eq!(fifth.allocate().await.expect_err("quota").code(), Some(486));
    // The node's total (6): then 508.
    let mut sixth = udp_client(&node, "s3-visitor").await;
    sixth.allocate().await.expect("the sixth");
    let mut seventh = udp_client(&node, "s4-visitor").await;
    assert_eq!(
        seventh.allocate().await.expect_err("capacity").code(),
        Some(508)
    );

    // Expired and forged credentials: 401.
    let old = issue(SECRET, "s5-visitor", now_ms() - 3_600_000, 300_000).expect("issue");
    let mut expired = TurnClient::udp(node.net.udp_addr, &old.username, &old.password)
        .await
        .expect("client");
    assert_eq!(
        expired.allocate().await.expect_err("expired").code(),
        Some(401)
    );
    let forged = issue(
        b"some other secret of enough length!!",
        "s5-visitor",
        now_ms(),
        300_000,
    )
    .expect("issue");
    let mut forger = TurnClient::udp(node.net.udp_addr, &forged.username, &forged.password)
        .await
        .expect("client");
    assert_eq!(
        forger.allocate().await.expect_err("forged").code(),
        Some(401)
    );

    // Malformed packets are dropped and counted; the node goes on.
    let junk = UdpSocket::bind("127.0.0.1:0").await.expect("junk");
    for packet in [
        &b""[..],
        b"\x00",
        b"\x00\x01\x00\x08\x21\x12\xa4\x42short",
        &[0xffu8; 600][..],
    ] {
        junk.send_to(packet, node.net.udp_addr).await.expect("send");
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut still = udp_client(&node, "s6-visitor").await;
    assert_eq!(
        still.allocate().await.expect_err("still full").code(),
        Some(508)
    );

    let body = reqwest::get(format!("http://{}/metrics", node.http_addr))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("body");
    for line in [
        "livecard_turn_allocations 6",
        "livecard_turn_refusals_total{reason=\"forbidden_loopback\"} 10",
        "livecard_turn_refusals_total{reason=\"forbidden_link_local\"} 8",
        "livecard_turn_refusals_total{reason=\"quota_user\"} 1",
        "livecard_turn_refusals_total{reason=\"capacity\"} 2",
        "livecard_turn_auth_failures_total{reason=\"expired\"} 1",
        "livecard_turn_auth_failures_total{reason=\"bad_integrity\"} 1",
        "livecard_turn_malformed_packets_total{transport=\"udp\"} 4",
    ] {
        assert!(body.contains(line), "{line} missing from\n{body}");
    }
    drop(held);
}

#[tokio::test]
async fn drains_and_registers_itself_in_the_store() {
    let embedded = EmbeddedDynamo::start(None).await.expect("embedded store");
    let store = Arc::new(DynamoStore::new(
        local_client(embedded.endpoint()),
        "livecard",
    ));
    store.ensure_table().await.expect("table");
    // The signaling server's API: it records the notices it gets.
    let notices = Arc::new(std::sync::Mutex::new(Vec::new()));
    let api = {
        let notices = notices.clone();
        axum::Router::new().route(
            "/api/v1/media-nodes/{id}/moves",
            axum::routing::post(
                move |axum::extract::Path(id): axum::extract::Path<String>,
                      headers: axum::http::HeaderMap,
                      body: axum::body::Bytes| {
                    let notices = notices.clone();
                    async move {
                        let header = |n: &str| {
                            headers
                                .get(n)
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or_default()
                                .to_owned()
                        };
                        notices.lock().expect("lock").push((
                            id,
                            header("x-livecard-timestamp"),
                            header("x-livecard-signature"),
                            body.to_vec(),
                        ));
                        "{}"
                    }
                },
            ),
        )
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("api");
    let api_url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, api).await });
    let config = config(|f| {
        f.allow_peers = Some(vec!["127.0.0.0/8".into()]);
        f.node_id = Some("media-test".into());
        f.heartbeat_s = Some(1);
        f.notify_url = Some(format!("{api_url}/"));
    });
    let node = start(&config, Some(store.clone())).await;
    let mut registered = Vec::new();
    for _ in 0..50 {
        registered = store.live_media_nodes(now_ms(), 10).await.expect("nodes");
        if !registered.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(registered.len(), 1, "the node registered itself");
    assert_eq!(registered[0].id, "media-test");
    assert_eq!(registered[0].host, "127.0.0.1");
    assert_eq!(registered[0].turn_port, node.net.udp_addr.port());

    let mut c = udp_client(&node, "s1-visitor").await;
    let relay = c.allocate().await.expect("allocate");
    let peer = peer_socket().await;
    let peer_addr = peer.local_addr().expect("addr");
    c.channel_bind(0x4000, peer_addr).await.expect("channel");
    // A call's participant: the session it names is a random id.
    let session = livecard_core::ids::RandomId::from_bytes([7; 16]);
    let mut call = udp_client(&node, &format!("{}-visitor", session.as_str())).await;
    let call_relay = call.allocate().await.expect("allocate");
    // The heartbeat reports the load, and the sessions whose calls the
    // node relays (what the signaling server tells to move if the node
    // stops without a word).
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let nodes = store.live_media_nodes(now_ms(), 10).await.expect("nodes");
    assert_eq!(nodes.first().map(|n| n.load), Some(2));
    assert_eq!(
        nodes.first().map(|n| n.sessions.clone()),
        Some(vec![session.as_str().to_owned()])
    );
    assert_eq!(call.refresh(0).await.expect("released"), 0);
    // Its relay socket is closed (the UDP worker let go of it): the port
    // can be bound again.
    let mut freed = false;
    for _ in 0..50 {
        if std::net::UdpSocket::bind(call_relay).is_ok() {
            freed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(freed, "the relay port {call_relay} is free again");

    let health = reqwest::get(format!("http://{}/healthz", node.http_addr))
        .await
        .expect("healthz");
    assert_eq!(health.status(), 200);

    // Drain: withdrawn from the store, no new allocations, held ones relay
    // until they end.
    let node = Arc::new(node);
    let draining = {
        let node = node.clone();
        tokio::spawn(async move { node.drain(Duration::from_secs(20)).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        store
            .live_media_nodes(now_ms(), 10)
            .await
            .expect("nodes")
            .is_empty()
    );
    // Its withdrawn record names no calls: the drain's notice moves them,
    // not a lost heartbeat.
    assert!(
        store
            .lost_media_nodes(now_ms() + 60_000, 10)
            .await
            .expect("nodes")
            .is_empty()
    );
    let health = reqwest::get(format!("http://{}/healthz", node.http_addr))
        .await
        .expect("healthz");
    assert_eq!(health.status(), 503);
    let mut late = udp_client(&node, "s2-visitor").await;
    assert_eq!(
        late.allocate().await.expect_err("draining").code(),
        Some(508)
    );
    c.send_channel(0x4000, b"still here").await.expect("send");
    assert_eq!(recv_at(&peer).await, Some((b"still here".to_vec(), relay)));
    assert!(!draining.is_finished());
    // The signaling server was told, signed, which calls relay here.
    let notice = notices.lock().expect("lock").pop().expect("a notice");
    assert_eq!(notice.0, "media-test");
    let at: u64 = notice.1.parse().expect("timestamp");
    assert!(livecard_core::turn::check_notice(
        SECRET,
        "media-test",
        at,
        &notice.3,
        &notice.2,
        now_ms()
    ));
    let body: serde_json::Value = serde_json::from_slice(&notice.3).expect("json");
    assert_eq!(body["reason"], "drain");
    assert_eq!(body["participants"], serde_json::json!(["s1-visitor"]));
    assert_eq!(
        body["relay"],
        format!("127.0.0.1:{}", node.net.udp_addr.port())
    );
    // The call ends: the drain finishes with nothing left.
    assert_eq!(c.refresh(0).await.expect("refresh"), 0);
    let left = tokio::time::timeout(Duration::from_secs(5), draining)
        .await
        .expect("drain finishes")
        .expect("task");
    assert_eq!(left, 0);
}

/// coturn's own test client (`turnutils_uclient`, Debian `coturn`) relays
/// through the node to coturn's UDP echo peer (`turnutils_peer`), with the
/// TURN REST API credentials it computes from the shared secret itself
/// (the node is given the same secret text, `text:<secret>`).
#[tokio::test]
async fn coturn_clients_relay_through_the_node() {
    const ASCII_SECRET: &str = "livecard-interop-shared-secret-0123456789";
    let config = {
        let mut file = FileConfig {
            listen: Some("127.0.0.1:0".into()),
            http: Some("127.0.0.1:0".into()),
            relay_ports: Some("40000-49999".into()),
            // The secret as coturn's clients and servers write it.
            turn_secret: Some(format!("text:{ASCII_SECRET}")),
            allow_peers: Some(vec!["127.0.0.0/8".into()]),
            ..FileConfig::default()
        };
        file.max_allocations = Some(100);
        // uclient opens two allocations per client, all under one username.
        file.allocations_per_user = Some(8);
        file.check().expect("config")
    };
    let node = start(&config, None).await;
    let peer_port = {
        let probe = std::net::UdpSocket::bind("127.0.0.1:0").expect("probe");
        probe.local_addr().expect("addr").port()
    };
    let missing = |tool: &str, err: std::io::Error| -> ! {
        panic!("cannot run {tool} ({err}): run scripts/test.sh, which installs Debian's coturn")
    };
    let mut peer = tokio::process::Command::new("turnutils_peer")
        .args(["-L", "127.0.0.1", "-p", &peer_port.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| missing("turnutils_peer", e));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let output = tokio::process::Command::new("turnutils_uclient")
        .args([
            "-c", // no RTCP allocations (reserved ports are not offered)
            "-m",
            "4",
            "-n",
            "50",
            "-l",
            "400",
            "-z",
            "5",
            "-e",
            "127.0.0.1",
            "-r",
            &peer_port.to_string(),
            "-p",
            &node.net.udp_addr.port().to_string(),
            "-W",
            ASCII_SECRET,
            "-u",
            "interop",
            "127.0.0.1",
        ])
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(60), output)
        .await
        .expect("uclient finishes")
        .unwrap_or_else(|e| missing("turnutils_uclient", e));
    let _ = peer.kill().await;
    let text = String::from_utf8_lossy(&output.stdout).to_string()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(
        text.contains("tot_send_msgs=200, tot_recv_msgs=200"),
        "every message came back:\n{text}"
    );
    assert!(text.contains("Total lost packets 0 (0.000000%)"), "{text}");
    assert!(
        node.net
            .metrics()
            .encode()
            .contains("livecard_turn_relayed_packets_total{direction=\"to_client\"} 200")
    );
}

/// A node whose relay is IPv6 (on ::1) answers an IPv4 allocation with 440
/// Address Family not Supported, and relays IPv6.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ipv6_relay_answers_an_ipv4_allocation_with_440() {
    if std::net::UdpSocket::bind("[::1]:0").is_err() {
        panic!("this test needs IPv6 loopback (::1)");
    }
    let node = start(
        &config(|f| {
            f.listen = Some("[::1]:0".into());
            f.allow_peers = Some(vec!["::1/128".into()]);
        }),
        None,
    )
    .await;
    let (u, p) = creds("v6");
    let mut client = TurnClient::udp(node.net.udp_addr, &u, &p)
        .await
        .expect("client");
    let refused = client.allocate().await.expect_err("IPv4 asked by default");
    assert_eq!(refused.code(), Some(440), "{refused:?}");
    let relay = client
        .allocate_with(&[livecard_media::wire::Attr::RequestedFamily(2)])
        .await
        .expect("an IPv6 relay");
    assert!(relay.ip().is_ipv6(), "{relay}");
    drop(node);
}

/// A dual-stack node (relay_ip 127.0.0.1, relay_ip6 ::1): one allocation
/// with ADDITIONAL-ADDRESS-FAMILY gets an IPv4 and an IPv6 relay, and
/// relays to a peer of each family through the relay of its family, both
/// ways, by indication and by channel. The peer policy applies to both
/// families: a peer outside the allow-list is 403 in either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dual_stack_node_relays_ipv4_and_ipv6_in_one_allocation() {
    if std::net::UdpSocket::bind("[::1]:0").is_err() {
        panic!("this test needs IPv6 loopback (::1)");
    }
    let node = start(
        &config(|f| {
            f.relay_ip6 = Some("::1".into());
            f.allow_peers = Some(vec!["127.0.0.1/32".into(), "::1/128".into()]);
        }),
        None,
    )
    .await;
    let mut client = udp_client(&node, "dual").await;
    let (relays, error) = client.allocate_dual().await.expect("allocate");
    assert_eq!(error, None, "both families granted");
    let [relay4, relay6] = relays[..] else {
        panic!("two relays: {relays:?}")
    };
    assert_eq!(relay4.ip().to_string(), "127.0.0.1");
    assert_eq!(relay6.ip().to_string(), "::1");
    let peer4 = peer_socket().await;
    let peer6 = UdpSocket::bind("[::1]:0").await.expect("IPv6 peer");
    let (addr4, addr6) = (
        peer4.local_addr().expect("addr"),
        peer6.local_addr().expect("addr"),
    );
    client
        .create_permission(&[addr4, addr6])
        .await
        .expect("permissions for both families");
    for (peer, addr, relay) in [(&peer4, addr4, relay4), (&peer6, addr6, relay6)] {
        client.send_indication(addr, b"hello").await.expect("send");
        let (got, from) = recv_at(peer).await.expect("the peer receives");
        assert_eq!((got.as_slice(), from), (&b"hello"[..], relay), "{addr}");
        peer.send_to(b"hello back", relay)
            .await
            .expect("peer sends");
        assert_eq!(
            client.recv_data(Duration::from_secs(2)).await,
            Some(Received::Indication(addr, b"hello back".to_vec())),
            "{addr}"
        );
    }
    client.channel_bind(0x4001, addr6).await.expect("channel");
    client
        .send_channel(0x4001, b"v6 channel")
        .await
        .expect("send");
    assert_eq!(
        recv_at(&peer6).await,
        Some((b"v6 channel".to_vec(), relay6))
    );
    peer6.send_to(b"back", relay6).await.expect("peer sends");
    assert_eq!(
        client.recv_data(Duration::from_secs(2)).await,
        Some(Received::Channel(0x4001, b"back".to_vec()))
    );
    // The policy on both families: 127.0.0.2, a link-local and a unique
    // local IPv6 address are outside the allow-list.
    for denied in ["127.0.0.2:9", "[fe80::1]:9", "[fd00::1]:9"] {
        let refused = client
            .create_permission(&[denied.parse().expect("addr")])
            .await
            .expect_err("denied");
        assert_eq!(refused.code(), Some(403), "{denied}: {refused:?}");
    }
    drop(node);

    // An IPv4-only node grants the IPv4 relay and says 440 for IPv6; an
    // IPv6 peer is then 443.
    let node = start(
        &config(|f| f.allow_peers = Some(vec!["127.0.0.1/32".into(), "::1/128".into()])),
        None,
    )
    .await;
    let mut client = udp_client(&node, "v4only").await;
    let (relays, error) = client.allocate_dual().await.expect("allocate");
    assert_eq!(relays.len(), 1);
    assert!(relays[0].is_ipv4());
    assert_eq!(error, Some((2, 440)));
    let refused = client
        .create_permission(&[addr6])
        .await
        .expect_err("no IPv6 relay");
    assert_eq!(refused.code(), Some(443));
}

/// The other way round: coturn (`turnserver`, Debian `coturn`) with
/// `use-auth-secret` and a secret text accepts the credentials livecard
/// mints from `text:<the same text>`, so coturn and livecard's nodes can
/// serve one deployment behind one secret.
#[tokio::test]
async fn coturn_accepts_the_credentials_livecard_mints() {
    const ASCII_SECRET: &str = "livecard-interop-shared-secret-0123456789";
    let port = {
        let probe = std::net::UdpSocket::bind("127.0.0.1:0").expect("probe");
        probe.local_addr().expect("addr").port()
    };
    let dir = std::env::temp_dir().join(format!("livecard-coturn-{port}"));
    std::fs::create_dir_all(&dir).expect("dir");
    let mut coturn = tokio::process::Command::new("turnserver")
        .args([
            "-n", // no configuration file
            "--listening-ip",
            "127.0.0.1",
            "--relay-ip",
            "127.0.0.1",
            "--listening-port",
            &port.to_string(),
            "--min-port",
            "50000",
            "--max-port",
            "50999",
            "--realm",
            "livecard",
            "--use-auth-secret",
            "--static-auth-secret",
            ASCII_SECRET,
            "--no-tls",
            "--no-dtls",
            "--no-cli",
            "--log-file",
            "stdout",
        ])
        .arg("--pidfile")
        .arg(dir.join("turnserver.pid"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run turnserver ({e}): run scripts/test.sh, which installs Debian's coturn"
            )
        });
    let key = livecard_core::turn::secret_key(&format!("text:{ASCII_SECRET}")).expect("secret");
    let credential =
        livecard_core::turn::issue(&key, "s1-visitor", now_ms(), 300_000).expect("issue");
    let server = SocketAddr::from(([127, 0, 0, 1], port));
    // coturn takes a moment to listen.
    let mut relay = None;
    for _ in 0..50 {
        let mut client = TurnClient::udp(server, &credential.username, &credential.password)
            .await
            .expect("client");
        match tokio::time::timeout(Duration::from_millis(500), client.allocate()).await {
            Ok(Ok(address)) => {
                relay = Some(address);
                break;
            }
            Ok(Err(err)) if err.code().is_some() => panic!("coturn refused: {err:?}"),
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    let relay = relay.expect("coturn allocated with livecard's credentials");
    assert_eq!(relay.ip().to_string(), "127.0.0.1");
    // Credentials from another secret are refused: the allocation above
    // was the secret's doing.
    let wrong =
        livecard_core::turn::issue(&[7; 32], "s2-visitor", now_ms(), 300_000).expect("issue");
    let mut client = TurnClient::udp(server, &wrong.username, &wrong.password)
        .await
        .expect("client");
    let refused = tokio::time::timeout(Duration::from_secs(5), client.allocate())
        .await
        .expect("coturn answers");
    let _ = coturn.kill().await;
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(
        refused.expect_err("another secret").code(),
        Some(401),
        "coturn checks the secret"
    );
}
