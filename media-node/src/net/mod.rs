//! The network shell around [`crate::turn::TurnServer`]: the UDP data path
//! ([`udp`]: one thread per core, batched system calls), the TCP and TLS
//! listeners, one relay socket per allocation, and a timer that ends
//! expired allocations. Every decision is the server's; this module moves
//! bytes.

mod udp;

use crate::metrics::Metrics;
use crate::turn::{
    AllocId, ClientOut, FiveTuple, PendingAllocation, Settings, Transport, TurnServer,
};
use crate::wire;
/// A fast hash map with a per-process random seed (keys come from the network).
type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
use std::io;
use std::net::UdpSocket;
use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Frames queued for one stream client before newer ones are dropped.
const STREAM_QUEUE: usize = 512;
/// A TLS handshake must finish within this.
const TLS_HANDSHAKE: Duration = Duration::from_secs(10);
/// A stream connection that holds no allocation is closed after this.
const STREAM_IDLE: Duration = Duration::from_secs(60);

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Where the node listens and relays.
#[derive(Clone)]
pub struct NetOptions {
    /// The address the UDP and TCP listeners bind (port 3478 in production,
    /// 0 for any free port: UDP and TCP then share the one UDP got).
    pub listen: SocketAddr,
    /// TURN over TLS, when a certificate and key are configured.
    pub tls: Option<(SocketAddr, Arc<tokio_rustls::rustls::ServerConfig>)>,
    /// The address relay sockets bind.
    pub relay_ip: IpAddr,
    /// A dual-stack node's IPv6 relay address (`relay_ip` is then IPv4):
    /// allocations of either family, or both (ADDITIONAL-ADDRESS-FAMILY).
    pub relay_ip6: Option<IpAddr>,
    /// The address clients are told for their relay (XOR-RELAYED-ADDRESS):
    /// the public address when the node is behind a 1:1 NAT (an ECS task
    /// with a public IP), else `relay_ip`.
    pub external_ip: Option<IpAddr>,
    /// Relay ports (the firewall opens this range).
    pub relay_ports: RangeInclusive<u16>,
    /// Concurrent TCP/TLS connections at most.
    pub max_streams: u32,
}

/// An allocation's relay sockets, read by one UDP worker.
struct Relay {
    socket: Arc<UdpSocket>,
    /// A dual-stack allocation's IPv6 socket (its IPv6 peers' traffic).
    socket6: Option<Arc<UdpSocket>>,
    worker: usize,
}

impl Relay {
    /// The socket that reaches `peer`.
    fn toward(&self, peer: SocketAddr) -> &Arc<UdpSocket> {
        match &self.socket6 {
            Some(socket6) if peer.is_ipv6() => socket6,
            _ => &self.socket,
        }
    }
}

struct State {
    server: TurnServer,
    relays: HashMap<AllocId, Relay>,
    streams: HashMap<FiveTuple, mpsc::Sender<Vec<u8>>>,
}

struct Shared {
    state: Mutex<State>,
    /// The UDP workers (one per listening socket).
    workers: Vec<Arc<udp::Worker>>,
    /// Where a stream client's relay goes next (round robin).
    next_worker: AtomicUsize,
    opts: NetOptions,
    metrics: Arc<Metrics>,
    next_port: AtomicU32,
    streams_open: AtomicU32,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere must not stop relaying.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Closes the relays of allocations their clients released (a Refresh
    /// of lifetime 0) while the server handled what came in.
    fn end_released(&self, state: &mut State) {
        let released = state.server.take_released();
        if !released.is_empty() {
            self.end(state, &released);
        }
    }

    fn end(&self, state: &mut State, ids: &[AllocId]) {
        for id in ids {
            if let Some(relay) = state.relays.remove(id)
                && let Some(worker) = self.workers.get(relay.worker)
            {
                worker.forget(udp::relay_key(*id, false), &relay.socket);
                if let Some(socket6) = &relay.socket6 {
                    worker.forget(udp::relay_key(*id, true), socket6);
                }
            }
        }
    }
}

/// A running node's sockets.
pub struct Net {
    shared: Arc<Shared>,
    pub udp_addr: SocketAddr,
    pub tcp_addr: SocketAddr,
    pub tls_addr: Option<SocketAddr>,
    tasks: Vec<JoinHandle<()>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Drop for Net {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
        {
            let mut state = self.shared.lock();
            let ids: Vec<AllocId> = state.relays.keys().copied().collect();
            self.shared.end(&mut state, &ids);
        }
        for worker in &self.shared.workers {
            worker.stop();
        }
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

impl Net {
    pub async fn start(
        opts: NetOptions,
        settings: Settings,
        metrics: Arc<Metrics>,
    ) -> io::Result<Net> {
        let (udps, tcp) = bind_pair(opts.listen).await?;
        let udps: Vec<Arc<UdpSocket>> = udps.into_iter().map(Arc::new).collect();
        let udp_addr = udps
            .first()
            .ok_or_else(|| io::Error::other("no UDP socket"))?
            .local_addr()?;
        let workers = udps
            .iter()
            .map(|_| udp::Worker::new().map(Arc::new))
            .collect::<io::Result<Vec<_>>>()?;
        let tcp_addr = tcp.local_addr()?;
        let tls = match &opts.tls {
            Some((addr, config)) => Some((
                TcpListener::bind(addr).await?,
                tokio_rustls::TlsAcceptor::from(config.clone()),
            )),
            None => None,
        };
        let tls_addr = match &tls {
            Some((listener, _)) => Some(listener.local_addr()?),
            None => None,
        };
        let first_port = {
            let span = u32::from(*opts.relay_ports.end() - *opts.relay_ports.start()) + 1;
            let mut seed = [0u8; 4];
            let _ = getrandom::fill(&mut seed);
            u32::from_le_bytes(seed) % span
        };
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                server: TurnServer::new(settings, metrics.clone()),
                relays: HashMap::default(),
                streams: HashMap::default(),
            }),
            workers: workers.clone(),
            next_worker: AtomicUsize::new(0),
            opts,
            metrics,
            next_port: AtomicU32::new(first_port),
            streams_open: AtomicU32::new(0),
        });
        let mut tasks = vec![
            tokio::spawn(tcp_loop(shared.clone(), tcp, None)),
            tokio::spawn(timer(shared.clone())),
        ];
        let mut threads = Vec::new();
        for (index, (socket, worker)) in udps.into_iter().zip(workers).enumerate() {
            let for_worker = shared.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("livecard-udp-{index}"))
                .spawn(move || udp::run(for_worker, worker, index, socket, udp_addr));
            match spawned {
                Ok(thread) => threads.push(thread),
                Err(err) => {
                    for worker in &shared.workers {
                        worker.stop();
                    }
                    for task in &tasks {
                        task.abort();
                    }
                    return Err(err);
                }
            }
        }
        if let Some((listener, acceptor)) = tls {
            tasks.push(tokio::spawn(tcp_loop(
                shared.clone(),
                listener,
                Some(acceptor),
            )));
        }
        Ok(Net {
            shared,
            udp_addr,
            tcp_addr,
            tls_addr,
            tasks,
            threads,
        })
    }

    pub fn allocations(&self) -> usize {
        self.shared.lock().server.allocation_count()
    }

    pub fn capacity(&self) -> u32 {
        self.shared.lock().server.limits().allocations
    }

    /// Who its allocations were issued to (`TurnServer::participants`).
    pub fn participants(&self) -> Vec<String> {
        self.shared.lock().server.participants()
    }

    /// Stops taking allocations; held ones keep relaying.
    pub fn drain(&self) {
        self.shared.lock().server.drain();
    }

    pub fn is_draining(&self) -> bool {
        self.shared.lock().server.is_draining()
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.shared.metrics
    }
}

/// Socket buffers of the listening UDP sockets: a burst of every client's
/// packet at once must not overflow them (the kernel caps this at
/// `net.core.rmem_max`/`wmem_max`).
const LISTEN_BUFFER: usize = 4 << 20;
/// Socket buffers of each relay socket (one peer's traffic).
const RELAY_BUFFER: usize = 1 << 20;

/// A UDP socket with `SO_REUSEPORT`, so that several share the port and the
/// kernel spreads clients over them (each client stays on one).
fn reuseport_udp(addr: SocketAddr) -> io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    #[cfg(unix)]
    socket.set_reuse_port(true)?;
    let _ = socket.set_recv_buffer_size(LISTEN_BUFFER);
    let _ = socket.set_send_buffer_size(LISTEN_BUFFER);
    socket.bind(&addr.into())?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

/// Binds the UDP sockets (one per core, sharing the port) and TCP on the
/// same port (any free one when the port is 0).
async fn bind_pair(listen: SocketAddr) -> io::Result<(Vec<UdpSocket>, TcpListener)> {
    let workers = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(1, 16);
    let mut last = None;
    for _ in 0..20 {
        let first = reuseport_udp(listen)?;
        let port = first.local_addr()?.port();
        match TcpListener::bind(SocketAddr::new(listen.ip(), port)).await {
            Ok(tcp) => {
                let mut all = vec![first];
                for _ in 1..workers {
                    all.push(reuseport_udp(SocketAddr::new(listen.ip(), port))?);
                }
                return Ok((all, tcp));
            }
            Err(err) if listen.port() == 0 => last = Some(err),
            Err(err) => return Err(err),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("no port for UDP and TCP")))
}

/// Queues a frame for a stream client (dropped and counted when its queue
/// is full: a slow connection must not hold up the relay).
fn to_stream(state: &State, metrics: &Metrics, five: &FiveTuple, frame: Vec<u8>) {
    if let Some(tx) = state.streams.get(five)
        && tx.try_send(frame).is_err()
    {
        metrics.drop_packet("stream_backpressure");
    }
}

/// Handles one framed packet from a stream (TCP or TLS) client; UDP
/// clients are the workers' (`udp`).
fn from_stream_client(
    shared: &Arc<Shared>,
    five: FiveTuple,
    packet: &[u8],
    tx: &mpsc::Sender<Vec<u8>>,
) {
    let now = now_ms();
    enum Then<'a> {
        Nothing,
        Reply(Vec<u8>),
        Forward(Arc<UdpSocket>, SocketAddr, &'a [u8]),
        Bind(PendingAllocation),
    }
    let then = {
        let mut state = shared.lock();
        let out = state.server.on_client(now, five, packet);
        shared.end_released(&mut state);
        match out {
            ClientOut::None => Then::Nothing,
            ClientOut::Reply(bytes) => Then::Reply(bytes),
            ClientOut::ToPeer { alloc, peer, data } => match state.relays.get(&alloc) {
                Some(relay) => Then::Forward(relay.toward(peer).clone(), peer, data),
                None => Then::Nothing,
            },
            ClientOut::Allocate(pending) => Then::Bind(pending),
        }
    };
    let reply = match then {
        Then::Nothing => return,
        Then::Reply(bytes) => bytes,
        Then::Forward(relay, peer, data) => {
            udp::send_one(&relay, peer, data, &shared.metrics);
            return;
        }
        Then::Bind(pending) => {
            // A stream client's relay goes to the workers in turn.
            let worker =
                shared.next_worker.fetch_add(1, Ordering::Relaxed) % shared.workers.len().max(1);
            allocate(shared, pending, worker)
        }
    };
    if tx.try_send(reply).is_err() {
        shared.metrics.drop_packet("stream_backpressure");
    }
}

/// Binds a relay socket of a family in the configured range.
fn bind_relay(shared: &Shared, v6: bool, even: bool) -> io::Result<std::net::UdpSocket> {
    let opts = &shared.opts;
    let ip = match opts.relay_ip6 {
        Some(ip6) if v6 => ip6,
        _ => opts.relay_ip,
    };
    if ip.is_ipv6() != v6 {
        return Err(io::Error::new(io::ErrorKind::Unsupported, "address family"));
    }
    let start = u32::from(*opts.relay_ports.start());
    let span = u32::from(*opts.relay_ports.end()) - start + 1;
    // Try up to 64 ports from a moving start; a busy range fails fast.
    for _ in 0..span.min(64) {
        let offset = shared.next_port.fetch_add(1, Ordering::Relaxed) % span;
        let Ok(mut port) = u16::try_from(start + offset) else {
            continue;
        };
        if even && port % 2 == 1 {
            if port == u16::MAX || u32::from(port) + 1 > start + span - 1 {
                continue;
            }
            port += 1;
        }
        if let Ok(socket) = std::net::UdpSocket::bind(SocketAddr::new(ip, port)) {
            socket.set_nonblocking(true)?;
            let tuned = socket2::SockRef::from(&socket);
            let _ = tuned.set_recv_buffer_size(RELAY_BUFFER);
            let _ = tuned.set_send_buffer_size(RELAY_BUFFER);
            return Ok(socket);
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AddrInUse,
        "no free relay port",
    ))
}

/// Binds an allocation's relay sockets and hands them to UDP worker
/// `worker`; the server's answer (a success, or 508 when no relay socket
/// could be had).
fn allocate(shared: &Arc<Shared>, pending: PendingAllocation, worker: usize) -> Vec<u8> {
    let Some(reader) = shared.workers.get(worker) else {
        return shared.lock().server.allocation_failed(pending);
    };
    let socket = match bind_relay(shared, pending.family_v6, pending.even_port) {
        Ok(socket) => Arc::new(socket),
        Err(err) => {
            tracing::warn!(error = %err, "no relay socket");
            return shared.lock().server.allocation_failed(pending);
        }
    };
    let local = match socket.local_addr() {
        Ok(local) => local,
        Err(_) => return shared.lock().server.allocation_failed(pending),
    };
    let advertised = SocketAddr::new(shared.opts.external_ip.unwrap_or(local.ip()), local.port());
    // A dual-stack allocation's IPv6 relay: when it cannot be bound, the
    // IPv4 one is granted alone (the answer says 508 for IPv6).
    let mut socket6 = if pending.also_v6 {
        match bind_relay(shared, true, false) {
            Ok(socket6) => socket6
                .local_addr()
                .ok()
                .map(|local6| (Arc::new(socket6), local6)),
            Err(err) => {
                tracing::warn!(error = %err, "no IPv6 relay socket");
                None
            }
        }
    } else {
        None
    };
    let five = pending.five;
    let mut state = shared.lock();
    // The id `allocated` gives (under this lock): the worker knows the
    // sockets by it before their first packet.
    let id = state.server.next_allocation_id();
    if let Err(err) = reader.watch(udp::relay_key(id, false), &socket) {
        tracing::warn!(error = %err, "a relay socket cannot be watched");
        return state.server.allocation_failed(pending);
    }
    if let Some((s6, _)) = &socket6
        && let Err(err) = reader.watch(udp::relay_key(id, true), s6)
    {
        tracing::warn!(error = %err, "an IPv6 relay socket cannot be watched");
        socket6 = None;
    }
    let (id, reply) = state.server.allocated(
        now_ms(),
        pending,
        advertised,
        socket6.as_ref().map(|(_, local6)| *local6),
    );
    state.relays.insert(
        id,
        Relay {
            socket,
            socket6: socket6.map(|(socket6, _)| socket6),
            worker,
        },
    );
    tracing::debug!(allocation = id, transport = five.transport.as_str(), relay = %advertised, "allocated");
    reply
}

async fn tcp_loop(
    shared: Arc<Shared>,
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
) {
    loop {
        let (stream, from) = match listener.accept().await {
            Ok(got) => got,
            Err(err) => {
                tracing::warn!(error = %err, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let max = shared.opts.max_streams;
        if shared.streams_open.fetch_add(1, Ordering::AcqRel) >= max {
            shared.streams_open.fetch_sub(1, Ordering::AcqRel);
            shared.metrics.refuse("too_many_connections");
            continue;
        }
        let local = match stream.local_addr() {
            Ok(local) => local,
            Err(_) => {
                shared.streams_open.fetch_sub(1, Ordering::AcqRel);
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        let acceptor = tls.clone();
        tokio::spawn(async move {
            match acceptor {
                None => {
                    let five = FiveTuple {
                        transport: Transport::Tcp,
                        client: from,
                        server: local,
                    };
                    serve_stream(&shared, five, stream).await;
                }
                Some(acceptor) => {
                    let five = FiveTuple {
                        transport: Transport::Tls,
                        client: from,
                        server: local,
                    };
                    match tokio::time::timeout(TLS_HANDSHAKE, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => serve_stream(&shared, five, tls).await,
                        _ => shared.metrics.drop_packet("tls_handshake"),
                    }
                }
            }
            shared.streams_open.fetch_sub(1, Ordering::AcqRel);
        });
    }
}

/// One TCP or TLS client: framed STUN and ChannelData both ways. The
/// allocation ends with the connection.
async fn serve_stream<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
    shared: &Arc<Shared>,
    five: FiveTuple,
    stream: S,
) {
    let (mut reader, mut writer) = tokio::io::split(stream);
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(STREAM_QUEUE);
    shared.lock().streams.insert(five, tx.clone());
    let write_task = tokio::spawn(async move {
        while let Some(frame) = rx.recv().await {
            if writer.write_all(&frame).await.is_err() {
                break;
            }
        }
        let _ = writer.shutdown().await;
    });
    let mut buf = vec![0u8; 4 + wire::MAX_PACKET + 3];
    loop {
        let has_allocation = shared.lock().server.has_allocation(&five);
        let read_head = reader.read_exact(&mut buf[..4]);
        let head = if has_allocation {
            read_head.await.map(|_| ())
        } else {
            match tokio::time::timeout(STREAM_IDLE, read_head).await {
                Ok(result) => result.map(|_| ()),
                Err(_) => break,
            }
        };
        if head.is_err() {
            break;
        }
        let head4 = [buf[0], buf[1], buf[2], buf[3]];
        let Some(len) = wire::stream_frame_len(&head4) else {
            // A stream cannot resynchronise after garbage.
            shared
                .metrics
                .malformed
                .get_or_create(&crate::metrics::TransportLabel {
                    transport: five.transport.as_str(),
                })
                .inc();
            break;
        };
        if len > buf.len() || reader.read_exact(&mut buf[4..len]).await.is_err() {
            break;
        }
        from_stream_client(shared, five, &buf[..len], &tx);
    }
    {
        let mut state = shared.lock();
        state.streams.remove(&five);
        if let Some(id) = state.server.client_gone(&five) {
            shared.end(&mut state, &[id]);
        }
    }
    drop(tx);
    let _ = write_task.await;
}

/// Ends expired allocations every second.
async fn timer(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let mut state = shared.lock();
        let expired = state.server.expire(now_ms());
        shared.end(&mut state, &expired);
    }
}
