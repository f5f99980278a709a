//! The local host's connection limits, against the real binary: slow and
//! idle clients are cut off by the header-read, body-read and idle
//! timeouts; one client address cannot hold more than its share of
//! connections; everybody else is served meanwhile.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};
use support::Livecard;

fn server_addr(server: &Livecard) -> SocketAddr {
    server
        .url
        .trim_start_matches("http://")
        .parse()
        .expect("the server's address")
}

/// A connection from `from` (any 127.0.0.0/8 address is this machine).
fn connect_from(from: [u8; 4], to: SocketAddr) -> TcpStream {
    // std has no bind-then-connect; tokio's TcpSocket does.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let stream = rt.block_on(async {
        let s = tokio::net::TcpSocket::new_v4().expect("socket");
        s.bind(SocketAddr::from((from, 0))).expect("bind");
        s.connect(to).await.expect("connect")
    });
    let stream = stream.into_std().expect("std stream");
    stream.set_nonblocking(false).expect("blocking");
    stream
        .set_read_timeout(Some(Duration::from_secs(8)))
        .expect("timeout");
    stream
}

/// Reads until the server closes (or the read times out); what it sent.
fn read_until_closed(stream: &mut TcpStream) -> (String, bool) {
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return (String::from_utf8_lossy(&all).into_owned(), true),
            Ok(n) => all.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                return (String::from_utf8_lossy(&all).into_owned(), true);
            }
            Err(_) => return (String::from_utf8_lossy(&all).into_owned(), false),
        }
    }
}

fn get_healthz(from: [u8; 4], to: SocketAddr) -> String {
    let mut stream = connect_from(from, to);
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: livecard.test\r\nconnection: close\r\n\r\n")
        .expect("request");
    read_until_closed(&mut stream).0
}

#[test]
fn slow_and_idle_connections_are_closed_and_capped_per_client() {
    let dir = support::temp_dir("connections");
    let server = Livecard::start_in(
        dir.to_path_buf(),
        &[
            "--header-timeout",
            "1s",
            "--body-timeout",
            "1s",
            "--idle-timeout",
            "2s",
            "--max-connections-per-client",
            "4",
        ],
    );
    let addr = server_addr(&server);
    let me = [127, 0, 0, 1];

    // Four connections from one address: one says nothing, one trickles
    // its headers, one sends half its body, one is a kept-alive connection
    // that went quiet after its request.
    let started = Instant::now();
    let mut silent = connect_from(me, addr);
    let mut trickle = connect_from(me, addr);
    trickle
        .write_all(b"GET /healthz HTTP/1.1\r\n")
        .expect("write");
    let mut half_body = connect_from(me, addr);
    half_body
        .write_all(b"POST /api/v1/contacts HTTP/1.1\r\nhost: livecard.test\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"topic\":")
        .expect("write");
    let mut kept = connect_from(me, addr);
    kept.write_all(b"GET /healthz HTTP/1.1\r\nhost: livecard.test\r\n\r\n")
        .expect("write");
    let mut first = [0u8; 12];
    kept.read_exact(&mut first).expect("a response");
    assert_eq!(&first, b"HTTP/1.1 200", "kept-alive request served");

    // A fifth from the same address is refused at once, with a reason.
    let mut fifth = connect_from(me, addr);
    let (answer, closed) = read_until_closed(&mut fifth);
    assert!(closed, "the refused connection is closed");
    assert!(answer.starts_with("HTTP/1.1 429"), "{answer:?}");
    assert!(answer.contains("retry-after"), "{answer:?}");

    // Another client is served meanwhile.
    let other = get_healthz([127, 0, 0, 2], addr);
    assert!(other.starts_with("HTTP/1.1 200"), "{other:?}");

    // Trickling keeps bytes coming, but not the whole header in time.
    let trickler = std::thread::spawn(move || {
        for _ in 0..20 {
            std::thread::sleep(Duration::from_millis(200));
            if trickle.write_all(b"x").is_err() {
                break;
            }
        }
        read_until_closed(&mut trickle)
    });

    let (_, silent_closed) = read_until_closed(&mut silent);
    assert!(silent_closed, "a silent connection is closed");
    let (answer, body_closed) = read_until_closed(&mut half_body);
    assert!(body_closed, "a half-sent body's connection is closed");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?}");
    let (_, kept_closed) = read_until_closed(&mut kept);
    assert!(kept_closed, "an idle kept-alive connection is closed");
    let (_, trickle_closed) = trickler.join().expect("trickler");
    assert!(trickle_closed, "a trickled header's connection is closed");
    // Closed by the limits (1 to 2 s), not by the test's own read timeout.
    let took = started.elapsed();
    assert!(took < Duration::from_secs(6), "closed after {took:?}");

    // Their places are free again: the same address is served.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let again = get_healthz(me, addr);
        if again.starts_with("HTTP/1.1 200") {
            break;
        }
        assert!(Instant::now() < deadline, "still refused: {again:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    server.stop();
}

/// Reads frames until the server's close frame; its code.
async fn close_code<S>(socket: &mut S) -> Option<u16>
where
    S: futures_util::Stream<
            Item = Result<
                tokio_tungstenite::tungstenite::Message,
                tokio_tungstenite::tungstenite::Error,
            >,
        > + Unpin,
{
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let frame = tokio::time::timeout_at(deadline, socket.next())
            .await
            .ok()??;
        match frame {
            Ok(Message::Close(frame)) => return frame.map(|f| u16::from(f.code)),
            Ok(_) => continue,
            Err(_) => return None,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signaling_closes_carry_a_close_code() {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::Message;
    let server = Livecard::start("ws-close");
    let url = format!("{}/ws", server.url.replacen("http", "ws", 1));

    // A frame larger than the host takes: 1009 (message too big).
    let (mut socket, _) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .expect("connect");
    socket
        .send(Message::text("x".repeat(200 * 1024)))
        .await
        .expect("send");
    assert_eq!(close_code(&mut socket).await, Some(1009));

    // A client that keeps flooding past its refusals: 1008 (policy). It
    // sends and reads at once, as a browser would.
    let (socket, _) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .expect("connect");
    let (mut sink, mut stream) = futures_util::StreamExt::split(socket);
    let flood = tokio::spawn(async move {
        for _ in 0..2_000 {
            if sink
                .send(Message::text(r#"{"v":1,"type":"ping"}"#))
                .await
                .is_err()
            {
                break;
            }
        }
    });
    assert_eq!(close_code(&mut stream).await, Some(1008));
    flood.abort();
    server.stop();
}
