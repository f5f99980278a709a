//! The UDP data path: one thread per core, each with its own epoll set, its
//! listening socket (`SO_REUSEPORT`: the kernel keeps each client on one)
//! and the relay sockets of the allocations made through it.
//!
//! A pass of a worker:
//!
//! 1. waits for sockets that got packets (edge-triggered, read interest
//!    only: a sent packet being consumed never wakes the worker);
//! 2. reads each with one `recvmmsg`, up to [`BATCH`] packets in all, into
//!    slots it owns (no allocation). A socket that filled what it was
//!    offered may hold more: it is read again in the next pass, which then
//!    does not wait;
//! 3. hands the whole batch to the server under **one** lock;
//! 4. writes the answers: everything bound for UDP clients in one
//!    `sendmmsg` on its listening socket, each peer's packet from its
//!    relay socket, stream clients' frames to their connection's queue.
//!
//! Nothing is dropped to save work: a full send buffer is waited on
//! (briefly) before a packet is given up and counted.

use super::{Shared, now_ms};
use crate::turn::{AllocId, ClientOut, FiveTuple, PeerOut, PendingAllocation, Transport};
use crate::wire;
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use nix::sys::eventfd::{EfdFlags, EventFd};
use nix::sys::socket::{MsgFlags, MultiHeaders, SockaddrStorage, recvmmsg, sendmmsg};
use std::io::{self, IoSlice, IoSliceMut};
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsFd, AsRawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// Packets one pass of a worker reads at most.
pub(super) const BATCH: usize = 64;
/// One packet's slot: four bytes before it, where a ChannelData header is
/// written in place, and three after it (a stream's padding).
const SLOT: usize = 4 + wire::MAX_PACKET + 3;
/// The worker's wake-up event (stop, or relay sockets to forget).
const WAKE: u64 = u64::MAX;
/// The worker's listening socket.
const LISTEN: u64 = u64::MAX - 1;
/// Read interest, edge-triggered: every packet that arrives after a socket
/// was reported reports it again, so one read per report suffices unless
/// it filled the slots it was offered.
const READ: EpollFlags = EpollFlags::EPOLLIN.union(EpollFlags::EPOLLET);
/// How long a full send buffer is waited on before packets are given up.
const SEND_WAIT_MS: u8 = 5;

/// The epoll key of an allocation's relay socket of a family. Allocation
/// ids are never reused, so a key outlives its socket harmlessly.
pub(super) fn relay_key(id: AllocId, v6: bool) -> u64 {
    (id << 1) | u64::from(v6)
}

/// What other threads tell a worker.
enum Change {
    Watch {
        key: u64,
        socket: Arc<UdpSocket>,
        v6: bool,
    },
    Forget(u64),
}

/// A worker as other threads see it: they add relay sockets to its epoll
/// set, and tell it to forget them or to stop.
pub(super) struct Worker {
    epoll: Epoll,
    wake: EventFd,
    changes: Mutex<Vec<Change>>,
    stop: AtomicBool,
}

impl Worker {
    pub(super) fn new() -> io::Result<Worker> {
        let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?;
        let wake = EventFd::from_flags(EfdFlags::EFD_CLOEXEC | EfdFlags::EFD_NONBLOCK)?;
        epoll.add(wake.as_fd(), EpollEvent::new(EpollFlags::EPOLLIN, WAKE))?;
        Ok(Worker {
            epoll,
            wake,
            changes: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
        })
    }

    fn changes(&self) -> std::sync::MutexGuard<'_, Vec<Change>> {
        self.changes
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Relays what arrives at `socket` as allocation `key`'s traffic.
    pub(super) fn watch(&self, key: u64, socket: &Arc<UdpSocket>) -> io::Result<()> {
        let v6 = socket.local_addr()?.is_ipv6();
        // Known to the worker before its first report (the worker reads
        // its changes when a report names a key it does not know).
        self.changes().push(Change::Watch {
            key,
            socket: socket.clone(),
            v6,
        });
        if let Err(err) = self.epoll.add(socket.as_fd(), EpollEvent::new(READ, key)) {
            self.changes().push(Change::Forget(key));
            let _ = self.wake.write(1);
            return Err(err.into());
        }
        Ok(())
    }

    /// Stops relaying `socket`; the worker closes it (freeing its port)
    /// when the allocation's other handles are gone.
    pub(super) fn forget(&self, key: u64, socket: &UdpSocket) {
        let _ = self.epoll.delete(socket.as_fd());
        self.changes().push(Change::Forget(key));
        let _ = self.wake.write(1);
    }

    pub(super) fn stop(&self) {
        self.stop.store(true, Ordering::Release);
        let _ = self.wake.write(1);
    }
}

/// A received packet: which socket, which slot, its length, its sender.
#[derive(Clone, Copy)]
struct Got {
    key: u64,
    len: usize,
    /// None when the kernel named no sender we can answer (never for
    /// IPv4 or IPv6 UDP; the slot is skipped).
    from: Option<SocketAddr>,
}

/// Where an answer's bytes are.
enum Bytes {
    /// `slots[slot][..len]` (ChannelData written in place).
    Slot {
        slot: usize,
        start: usize,
        len: usize,
    },
    Owned(Vec<u8>),
}

/// A worker's own state: its sockets, slots and queues, reused every pass.
struct Pass {
    listen: Arc<UdpSocket>,
    local: SocketAddr,
    index: usize,
    /// Relay sockets by key, and whether each is IPv6.
    sockets: super::HashMap<u64, (Arc<UdpSocket>, bool)>,
    events: Vec<EpollEvent>,
    /// Sockets to read in the next pass without a report (they filled what
    /// they were offered, or were not reached), and this pass's.
    again: Vec<u64>,
    now_again: Vec<u64>,
    slots: Vec<u8>,
    got: Vec<Got>,
    /// Headers for IPv4 and for IPv6 sockets: the kernel shortens a
    /// header's address length to what it wrote, and the headers are
    /// reused, so one family's header must never hold the other's.
    recv_headers: [MultiHeaders<SockaddrStorage>; 2],
    send_headers: MultiHeaders<SockaddrStorage>,
    to_clients: Vec<(SocketAddr, Bytes)>,
    to_peers: Vec<(Arc<UdpSocket>, SocketAddr, Bytes)>,
    addresses: Vec<Option<SockaddrStorage>>,
    allocations: Vec<(SocketAddr, PendingAllocation)>,
}

/// Runs worker `index` until it is told to stop.
pub(super) fn run(
    shared: Arc<Shared>,
    me: Arc<Worker>,
    index: usize,
    listen: Arc<UdpSocket>,
    local: SocketAddr,
) {
    if let Err(err) = me.epoll.add(listen.as_fd(), EpollEvent::new(READ, LISTEN)) {
        tracing::error!(error = %err, "the UDP listener cannot be watched");
        return;
    }
    let mut pass = Pass::new(listen, local, index);
    while !me.stop.load(Ordering::Acquire) {
        let ready = match pass.wait(&me, EpollTimeout::NONE) {
            Ok(ready) => ready,
            Err(Errno::EINTR) => continue,
            Err(err) => {
                tracing::error!(error = %err, "the UDP worker's epoll failed");
                return;
            }
        };
        pass.read(&me, ready);
        pass.handle(&shared);
        pass.write(&shared);
    }
}

impl Pass {
    fn new(listen: Arc<UdpSocket>, local: SocketAddr, index: usize) -> Pass {
        Pass {
            listen,
            local,
            index,
            sockets: super::HashMap::default(),
            events: vec![EpollEvent::empty(); BATCH],
            again: Vec::with_capacity(BATCH),
            now_again: Vec::with_capacity(BATCH),
            // Untouched pages of a slot are never made resident: a slot
            // costs what its largest packet used.
            slots: vec![0u8; BATCH * SLOT],
            got: Vec::with_capacity(BATCH),
            recv_headers: [
                MultiHeaders::preallocate(BATCH, None),
                MultiHeaders::preallocate(BATCH, None),
            ],
            send_headers: MultiHeaders::preallocate(BATCH, None),
            to_clients: Vec::with_capacity(BATCH),
            to_peers: Vec::with_capacity(BATCH),
            addresses: Vec::with_capacity(BATCH),
            allocations: Vec::new(),
        }
    }

    /// Waits for reports, at most `idle` when no socket is left to read,
    /// and not at all when one is.
    fn wait(&mut self, me: &Worker, idle: EpollTimeout) -> nix::Result<usize> {
        let timeout = if self.again.is_empty() {
            idle
        } else {
            EpollTimeout::ZERO
        };
        me.epoll.wait(&mut self.events, timeout)
    }

    fn apply_changes(&mut self, me: &Worker) {
        let changes = std::mem::take(&mut *me.changes());
        for change in changes {
            match change {
                Change::Watch { key, socket, v6 } => {
                    self.sockets.insert(key, (socket, v6));
                }
                Change::Forget(key) => {
                    self.sockets.remove(&key);
                }
            }
        }
    }

    /// Reads the sockets left from the last pass, then every reported one
    /// (one `recvmmsg` each), into the slots.
    fn read(&mut self, me: &Worker, ready: usize) {
        self.got.clear();
        std::mem::swap(&mut self.again, &mut self.now_again);
        self.again.clear();
        for i in 0..self.now_again.len() {
            let key = self.now_again[i];
            self.read_one(me, key);
        }
        for i in 0..ready.min(self.events.len()) {
            let key = self.events[i].data();
            if key == WAKE {
                let _ = me.wake.read();
                self.apply_changes(me);
            } else if !self.now_again.contains(&key) {
                self.read_one(me, key);
            }
        }
    }

    fn read_one(&mut self, me: &Worker, key: u64) {
        let free = BATCH - self.got.len();
        if free == 0 {
            // Reported but not reached: the next pass reads it.
            self.again.push(key);
            return;
        }
        let (fd, v6) = if key == LISTEN {
            (self.listen.as_raw_fd(), self.local.is_ipv6())
        } else {
            if !self.sockets.contains_key(&key) {
                self.apply_changes(me);
            }
            match self.sockets.get(&key) {
                Some((socket, v6)) => (socket.as_raw_fd(), *v6),
                // Forgotten: its allocation ended.
                None => return,
            }
        };
        let first = self.got.len();
        let filled = receive(
            fd,
            &mut self.recv_headers[usize::from(v6)],
            &mut self.slots[first * SLOT..],
            free,
            key,
            &mut self.got,
        );
        if filled {
            self.again.push(key);
        }
    }

    /// The server's word on every packet read, under one lock.
    fn handle(&mut self, shared: &Shared) {
        if self.got.is_empty() {
            return;
        }
        let now = now_ms();
        let mut state = shared.lock();
        let state = &mut *state;
        for (slot, got) in self.got.iter().enumerate() {
            let Some(from) = got.from else { continue };
            let buf = &mut self.slots[slot * SLOT..(slot + 1) * SLOT];
            if got.key == LISTEN {
                let five = FiveTuple {
                    transport: Transport::Udp,
                    client: from,
                    server: self.local,
                };
                let packet = &buf[4..4 + got.len];
                match state.server.on_client(now, five, packet) {
                    ClientOut::None => {}
                    ClientOut::Reply(bytes) => {
                        self.to_clients.push((from, Bytes::Owned(bytes)));
                    }
                    ClientOut::ToPeer { alloc, peer, data } => {
                        // `data` lies inside the slot: keep where, not a copy.
                        let start = (data.as_ptr() as usize).saturating_sub(buf.as_ptr() as usize);
                        let len = data.len();
                        if let Some(relay) = state.relays.get(&alloc) {
                            self.to_peers.push((
                                relay.toward(peer).clone(),
                                peer,
                                Bytes::Slot { slot, start, len },
                            ));
                        }
                    }
                    ClientOut::Allocate(pending) => self.allocations.push((from, pending)),
                }
            } else {
                let id: AllocId = got.key >> 1;
                match state.server.on_peer(now, id, from, buf, got.len) {
                    PeerOut::Drop => {}
                    PeerOut::Channel { five, len } => match five.transport {
                        Transport::Udp => self.to_clients.push((
                            five.client,
                            Bytes::Slot {
                                slot,
                                start: 0,
                                len,
                            },
                        )),
                        _ => super::to_stream(state, &shared.metrics, &five, buf[..len].to_vec()),
                    },
                    PeerOut::Indication { five, message } => match five.transport {
                        Transport::Udp => {
                            self.to_clients.push((five.client, Bytes::Owned(message)))
                        }
                        _ => super::to_stream(state, &shared.metrics, &five, message),
                    },
                }
            }
        }
        // Relays their clients released in this batch close now.
        shared.end_released(state);
    }

    fn bytes<'a>(slots: &'a [u8], bytes: &'a Bytes) -> &'a [u8] {
        match bytes {
            Bytes::Slot { slot, start, len } => {
                let at = slot * SLOT + start;
                slots.get(at..at + len).unwrap_or_default()
            }
            Bytes::Owned(bytes) => bytes,
        }
    }

    /// Sends what the pass produced, then binds the relays it asked for.
    fn write(&mut self, shared: &Arc<Shared>) {
        for (relay, peer, bytes) in self.to_peers.drain(..) {
            let data = Self::bytes(&self.slots, &bytes);
            send_one(&relay, peer, data, &shared.metrics);
        }
        if !self.to_clients.is_empty() {
            self.addresses.clear();
            self.addresses.extend(
                self.to_clients
                    .iter()
                    .map(|(to, _)| Some(SockaddrStorage::from(*to))),
            );
            let mut iovs: [[IoSlice<'_>; 1]; BATCH] = std::array::from_fn(|_| [IoSlice::new(&[])]);
            let mut sent = 0;
            while sent < self.to_clients.len() {
                let chunk = (self.to_clients.len() - sent).min(BATCH);
                for (iov, (_, bytes)) in iovs.iter_mut().zip(&self.to_clients[sent..sent + chunk]) {
                    *iov = [IoSlice::new(Self::bytes(&self.slots, bytes))];
                }
                sent += send_many(
                    &self.listen,
                    &mut self.send_headers,
                    &iovs[..chunk],
                    &self.addresses[sent..sent + chunk],
                    &shared.metrics,
                );
            }
            self.to_clients.clear();
        }
        for (client, pending) in std::mem::take(&mut self.allocations) {
            let reply = super::allocate(shared, pending, self.index);
            send_one(&self.listen, client, &reply, &shared.metrics);
        }
    }
}

/// One `recvmmsg` on `fd` into up to `free` slots; appends what came.
/// Whether it filled them all (the socket may hold more).
fn receive(
    fd: i32,
    headers: &mut MultiHeaders<SockaddrStorage>,
    slots: &mut [u8],
    free: usize,
    key: u64,
    got: &mut Vec<Got>,
) -> bool {
    let mut iovs: [[IoSliceMut<'_>; 1]; BATCH] =
        std::array::from_fn(|_| [IoSliceMut::new(&mut [])]);
    let mut count = 0;
    for (iov, slot) in iovs.iter_mut().zip(slots.chunks_exact_mut(SLOT)).take(free) {
        *iov = [IoSliceMut::new(&mut slot[4..4 + wire::MAX_PACKET])];
        count += 1;
    }
    let received = match recvmmsg(
        fd,
        headers,
        iovs[..count].iter_mut(),
        MsgFlags::MSG_DONTWAIT,
        None,
    ) {
        Ok(received) => received,
        // Nothing (a report for what an earlier read took), or an error
        // reported on the socket: its next packet reports it again.
        Err(_) => return false,
    };
    let before = got.len();
    for message in received {
        // Slots and packets stay in step: one entry per message.
        got.push(Got {
            key,
            len: message.bytes,
            from: message.address.as_ref().and_then(socket_addr),
        });
    }
    got.len() - before == count
}

fn socket_addr(storage: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = storage.as_sockaddr_in() {
        return Some(SocketAddr::V4((*v4).into()));
    }
    storage
        .as_sockaddr_in6()
        .map(|v6| SocketAddr::V6((*v6).into()))
}

/// Waits briefly until `socket` can send again.
fn wait_writable(socket: &UdpSocket) -> bool {
    let mut fds = [PollFd::new(socket.as_fd(), PollFlags::POLLOUT)];
    matches!(poll(&mut fds, PollTimeout::from(SEND_WAIT_MS)), Ok(n) if n > 0)
}

/// Sends one datagram; a full buffer is waited on once.
pub(super) fn send_one(
    socket: &UdpSocket,
    to: SocketAddr,
    data: &[u8],
    metrics: &crate::metrics::Metrics,
) {
    for attempt in 0..2 {
        match socket.send_to(data, to) {
            Ok(_) => return,
            Err(err) if err.kind() == io::ErrorKind::WouldBlock && attempt == 0 => {
                if !wait_writable(socket) {
                    break;
                }
            }
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    metrics.drop_packet("send_failed");
}

/// One `sendmmsg` (more when the buffer fills); returns how many of the
/// messages were dealt with (sent, or given up and counted).
fn send_many(
    socket: &UdpSocket,
    headers: &mut MultiHeaders<SockaddrStorage>,
    iovs: &[[IoSlice<'_>; 1]],
    addresses: &[Option<SockaddrStorage>],
    metrics: &crate::metrics::Metrics,
) -> usize {
    let mut done = 0;
    let mut waited = false;
    while done < iovs.len() {
        let result = sendmmsg(
            socket.as_raw_fd(),
            headers,
            iovs[done..].iter(),
            &addresses[done..],
            [],
            MsgFlags::MSG_DONTWAIT,
        );
        match result {
            Ok(results) => done += results.count().max(1),
            Err(Errno::EINTR) => {}
            Err(Errno::EAGAIN) if !waited => {
                waited = true;
                if !wait_writable(socket) {
                    metrics.drop_packet("send_failed");
                    done += 1;
                }
            }
            Err(_) => {
                // This message cannot go (the address, or a full buffer
                // after the wait): count it and send the rest.
                metrics.drop_packet("send_failed");
                done += 1;
            }
        }
    }
    done
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (Arc<UdpSocket>, SocketAddr, UdpSocket) {
        let listen = UdpSocket::bind("127.0.0.1:0").expect("bind");
        listen.set_nonblocking(true).expect("nonblocking");
        let local = listen.local_addr().expect("addr");
        let sender = UdpSocket::bind("127.0.0.1:0").expect("bind");
        (Arc::new(listen), local, sender)
    }

    /// Packets read pass by pass: `(how many, whether the pass left the
    /// socket to read again)`, until a pass reads nothing.
    fn passes(me: &Worker, pass: &mut Pass) -> Vec<(usize, bool)> {
        let mut seen = Vec::new();
        for _ in 0..10 {
            let ready = pass.wait(me, EpollTimeout::from(1_000u16)).expect("wait");
            pass.read(me, ready);
            if pass.got.is_empty() {
                break;
            }
            seen.push((pass.got.len(), !pass.again.is_empty()));
        }
        seen
    }

    #[test]
    fn a_burst_larger_than_a_pass_is_read_whole_over_several_passes() {
        let me = Worker::new().expect("worker");
        let (listen, local, sender) = pair();
        me.epoll
            .add(listen.as_fd(), EpollEvent::new(READ, LISTEN))
            .expect("watch");
        let mut pass = Pass::new(listen, local, 0);
        // 150 packets queued before the worker looks: one report only
        // (edge-triggered), so the passes after the first must read on
        // without one.
        for i in 0..150u16 {
            sender.send_to(&i.to_be_bytes(), local).expect("send");
        }
        assert_eq!(
            passes(&me, &mut pass),
            vec![(BATCH, true), (BATCH, true), (150 - 2 * BATCH, false)]
        );
    }

    #[test]
    fn relay_sockets_are_read_by_key_in_their_family_and_forgotten() {
        let me = Worker::new().expect("worker");
        let (listen, local, _) = pair();
        let mut pass = Pass::new(listen, local, 0);
        let v4 = Arc::new(UdpSocket::bind("127.0.0.1:0").expect("v4"));
        let v6 = Arc::new(UdpSocket::bind("[::1]:0").expect("v6"));
        for socket in [&v4, &v6] {
            socket.set_nonblocking(true).expect("nonblocking");
        }
        me.watch(relay_key(7, false), &v4).expect("watch v4");
        me.watch(relay_key(7, true), &v6).expect("watch v6");
        let peer4 = UdpSocket::bind("127.0.0.1:0").expect("peer4");
        let peer6 = UdpSocket::bind("[::1]:0").expect("peer6");
        // Alternating families through the same worker: each family's
        // headers keep their full address length.
        for round in 0..3u8 {
            peer4
                .send_to(&[round], v4.local_addr().expect("addr"))
                .expect("send4");
            peer6
                .send_to(&[round], v6.local_addr().expect("addr"))
                .expect("send6");
            let mut from = Vec::new();
            while from.len() < 2 {
                let ready = pass.wait(&me, EpollTimeout::from(1_000u16)).expect("wait");
                assert!(ready > 0, "round {round}: both packets reported");
                pass.read(&me, ready);
                from.extend(pass.got.iter().map(|g| (g.key, g.from, g.len)));
            }
            from.sort_by_key(|(key, _, _)| *key);
            assert_eq!(
                from,
                vec![
                    (relay_key(7, false), peer4.local_addr().ok(), 1),
                    (relay_key(7, true), peer6.local_addr().ok(), 1),
                ],
                "round {round}"
            );
        }
        // Forgotten: the worker lets go of the socket (its port is freed
        // when the allocation's own handle is dropped too).
        me.forget(relay_key(7, false), &v4);
        let ready = pass.wait(&me, EpollTimeout::from(1_000u16)).expect("wait");
        pass.read(&me, ready);
        assert!(!pass.sockets.contains_key(&relay_key(7, false)));
        assert_eq!(Arc::strong_count(&v4), 1);
        assert!(pass.sockets.contains_key(&relay_key(7, true)));
    }
}
