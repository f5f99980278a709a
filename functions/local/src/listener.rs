//! The local host's connection handling: what API Gateway does on AWS.
//!
//! Every accepted connection gets a header-read timeout (hyper's, from the
//! first byte it waits for), an idle timeout (no byte read for that long
//! closes it; a WebSocket, which clients ping every five minutes, gets the
//! longer [`ConnectionLimits::idle_websocket`]), and counts against a cap
//! per client address (IPv6: per /64) and a cap for the whole process, so
//! slow or idle clients cannot use up the file descriptors. Trusted proxies
//! are not capped per address (every visitor behind them shares it); the
//! process cap still holds. The body-read timeout is applied where the body
//! is read (`server::handle`).

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use ipnet::IpNet;
use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, Sleep};
use tower::ServiceExt;

/// How long and how many connections are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// A request's headers must arrive within this.
    pub header_read: Duration,
    /// A request's body must arrive within this.
    pub body_read: Duration,
    /// An HTTP connection that sends nothing for this long is closed.
    pub idle_http: Duration,
    /// A signaling WebSocket that sends nothing for this long is closed
    /// (clients ping every 5 minutes; API Gateway's limit is 10).
    pub idle_websocket: Duration,
    /// Open connections per client address (IPv6: per /64).
    pub per_client: usize,
    /// Open connections of the whole listener.
    pub total: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            header_read: Duration::from_secs(10),
            body_read: Duration::from_secs(30),
            idle_http: Duration::from_secs(60),
            idle_websocket: Duration::from_secs(600),
            per_client: 64,
            total: 8192,
        }
    }
}

/// Refused connections get this and are closed (best effort, never waits).
const REFUSAL: &[u8] = b"HTTP/1.1 429 Too Many Requests\r\nretry-after: 10\r\nconnection: close\r\ncontent-length: 0\r\n\r\n";

/// Open connections per client key and in all.
#[derive(Default)]
struct Counts {
    per_client: Mutex<HashMap<IpAddr, usize>>,
    total: AtomicUsize,
}

/// One admitted connection; gives its place back when dropped (when the
/// socket closes, whichever task holds it: hyper's or a WebSocket's).
struct Slot {
    counts: Arc<Counts>,
    key: Option<IpAddr>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.counts.total.fetch_sub(1, Ordering::AcqRel);
        if let Some(key) = self.key {
            let mut map = self
                .counts
                .per_client
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if let Some(n) = map.get_mut(&key) {
                *n -= 1;
                if *n == 0 {
                    map.remove(&key);
                }
            }
        }
    }
}

impl Counts {
    fn admit(
        self: &Arc<Self>,
        peer: IpAddr,
        limits: &ConnectionLimits,
        exempt: bool,
    ) -> Option<Slot> {
        if self.total.fetch_add(1, Ordering::AcqRel) >= limits.total {
            self.total.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        let mut slot = Slot {
            counts: self.clone(),
            key: None,
        };
        if !exempt {
            let key = livecard_app::client_network(peer);
            let mut map = self.per_client.lock().unwrap_or_else(|e| e.into_inner());
            let n = map.entry(key).or_insert(0);
            if *n >= limits.per_client {
                drop(map);
                return None; // `slot` gives the total back
            }
            *n += 1;
            slot.key = Some(key);
        }
        Some(slot)
    }
}

/// The idle limit of one connection, in milliseconds; the WebSocket
/// handler raises it when the connection is upgraded (request extension).
#[derive(Clone, Debug)]
pub struct IdleLimit(Arc<AtomicU64>);

impl IdleLimit {
    fn new(limit: Duration) -> Self {
        Self(Arc::new(AtomicU64::new(millis(limit))))
    }

    pub fn set(&self, limit: Duration) {
        self.0.store(millis(limit), Ordering::Relaxed);
    }

    fn get(&self) -> Duration {
        Duration::from_millis(self.0.load(Ordering::Relaxed))
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// A TCP stream that fails its reads once nothing was read for the idle
/// limit (hyper and the WebSocket then close it), and holds the
/// connection's slot for as long as it lives.
struct Watched {
    inner: TcpStream,
    limit: IdleLimit,
    deadline: Pin<Box<Sleep>>,
    _slot: Slot,
}

impl Watched {
    fn new(inner: TcpStream, limit: IdleLimit, slot: Slot) -> Self {
        let deadline = Box::pin(tokio::time::sleep(limit.get()));
        Self {
            inner,
            limit,
            deadline,
            _slot: slot,
        }
    }
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(result) => {
                let next = Instant::now() + this.limit.get();
                this.deadline.as_mut().reset(next);
                Poll::Ready(result)
            }
            Poll::Pending => {
                ready!(this.deadline.as_mut().poll(cx));
                Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "idle connection closed",
                )))
            }
        }
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Serves `router` on `listener` until `shutdown` completes, then lets the
/// open HTTP requests finish (at most `grace`). Requests carry
/// `ConnectInfo<SocketAddr>` and the connection's [`IdleLimit`].
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    trusted_proxies: Vec<IpNet>,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) {
    let counts = Arc::new(Counts::default());
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder = Builder::new(TokioExecutor::new()).http1_only();
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(err) => {
                    // Out of descriptors (or a connection reset before it
                    // was taken): wait a moment rather than spin.
                    tracing::warn!(error = %err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let exempt = trusted_proxies.iter().any(|net| net.contains(&peer.ip()));
        let Some(slot) = counts.admit(peer.ip(), &limits, exempt) else {
            tracing::debug!("connection refused: over the connection limit");
            let _ = tcp.try_write(REFUSAL);
            continue;
        };
        // Small frames go out at once (replies and pushes are separate
        // writes; with Nagle's algorithm the second waits for a delayed ACK).
        if let Err(err) = tcp.set_nodelay(true) {
            tracing::debug!(error = %err, "TCP_NODELAY not set");
        }
        let idle = IdleLimit::new(limits.idle_http);
        let io = TokioIo::new(Watched::new(tcp, idle.clone(), slot));
        let router = router.clone();
        let service = hyper::service::service_fn(
            move |mut request: hyper::Request<hyper::body::Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                request.extensions_mut().insert(idle.clone());
                router.clone().oneshot(request.map(axum::body::Body::new))
            },
        );
        let connection = builder.serve_connection_with_upgrades(io, service);
        let connection = graceful.watch(connection.into_owned());
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(error = %err, "connection closed with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::info!("open requests did not finish within the grace time");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_per_client_network_and_in_all() {
        let limits = ConnectionLimits {
            per_client: 2,
            total: 3,
            ..ConnectionLimits::default()
        };
        let counts = Arc::new(Counts::default());
        let a: IpAddr = "2001:db8:1:2::1".parse().expect("ip");
        let a2: IpAddr = "2001:db8:1:2::ffff".parse().expect("ip");
        let b: IpAddr = "192.0.2.1".parse().expect("ip");
        let first = counts.admit(a, &limits, false).expect("first");
        let second = counts.admit(a2, &limits, false).expect("same /64");
        assert!(counts.admit(a, &limits, false).is_none(), "per /64");
        let third = counts.admit(b, &limits, false).expect("another client");
        assert!(counts.admit(b, &limits, true).is_none(), "in all");
        drop(first);
        assert!(
            counts.admit(a, &limits, false).is_some(),
            "a closed one gives its place back"
        );
        drop((second, third));
        assert_eq!(counts.total.load(Ordering::Acquire), 0);
        assert!(
            counts
                .per_client
                .lock()
                .map(|m| m.is_empty())
                .unwrap_or(false)
        );
    }
}
