//! A small TURN client (UDP, TCP or any byte stream such as TLS): what the
//! tests, the container check and the bench use to talk to a node, and to
//! see its refusals as protocol answers (403, 486, 401...).

use crate::wire::{self, Attr};
use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;
use stun::attributes::{ATTR_ERROR_CODE, ATTR_NONCE, ATTR_REALM, ATTR_XOR_RELAYED_ADDRESS};
use stun::message::{
    CLASS_ERROR_RESPONSE, CLASS_INDICATION, CLASS_REQUEST, CLASS_SUCCESS_RESPONSE, METHOD_ALLOCATE,
    METHOD_CHANNEL_BIND, METHOD_CREATE_PERMISSION, METHOD_DATA, METHOD_REFRESH, METHOD_SEND,
    Message, MessageType, Method,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("refused: {code} {reason}")]
    Refused { code: u16, reason: String },
    #[error("no answer in time")]
    Timeout,
    #[error("i/o: {0}")]
    Io(#[from] io::Error),
    #[error("protocol: {0}")]
    Protocol(String),
}

impl ClientError {
    /// The error code of a refusal.
    pub fn code(&self) -> Option<u16> {
        match self {
            ClientError::Refused { code, .. } => Some(*code),
            _ => None,
        }
    }
}

pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

enum Link {
    Udp(UdpSocket, SocketAddr),
    Stream(Box<dyn Stream>),
}

/// Data that arrived from a peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    Channel(u16, Vec<u8>),
    Indication(SocketAddr, Vec<u8>),
}

pub struct TurnClient {
    link: Link,
    username: String,
    password: String,
    realm: Option<String>,
    nonce: Option<String>,
    inbox: VecDeque<Received>,
    pub timeout: Duration,
}

fn txn() -> [u8; 12] {
    let mut t = [0u8; 12];
    let _ = getrandom::fill(&mut t);
    t
}

impl TurnClient {
    pub async fn udp(server: SocketAddr, username: &str, password: &str) -> io::Result<Self> {
        let bind: SocketAddr = if server.is_ipv4() {
            "127.0.0.1:0".parse().map_err(io::Error::other)?
        } else {
            "[::1]:0".parse().map_err(io::Error::other)?
        };
        let socket = UdpSocket::bind(bind).await?;
        Ok(Self::with_link(
            Link::Udp(socket, server),
            username,
            password,
        ))
    }

    pub async fn tcp(server: SocketAddr, username: &str, password: &str) -> io::Result<Self> {
        let stream = TcpStream::connect(server).await?;
        stream.set_nodelay(true)?;
        Ok(Self::with_link(
            Link::Stream(Box::new(stream)),
            username,
            password,
        ))
    }

    /// Over any established byte stream (TLS, for instance).
    pub fn stream(stream: impl Stream + 'static, username: &str, password: &str) -> Self {
        Self::with_link(Link::Stream(Box::new(stream)), username, password)
    }

    fn with_link(link: Link, username: &str, password: &str) -> Self {
        Self {
            link,
            username: username.into(),
            password: password.into(),
            realm: None,
            nonce: None,
            inbox: VecDeque::new(),
            timeout: Duration::from_secs(3),
        }
    }

    /// The client's own address (UDP), for tests.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        match &self.link {
            Link::Udp(socket, _) => socket.local_addr().ok(),
            Link::Stream(_) => None,
        }
    }

    pub async fn send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        match &mut self.link {
            Link::Udp(socket, server) => socket.send_to(bytes, *server).await.map(|_| ()),
            Link::Stream(stream) => stream.write_all(bytes).await,
        }
    }

    async fn recv_raw(&mut self) -> io::Result<Vec<u8>> {
        match &mut self.link {
            Link::Udp(socket, _) => {
                let mut buf = vec![0u8; wire::MAX_PACKET];
                let (n, _) = socket.recv_from(&mut buf).await?;
                buf.truncate(n);
                Ok(buf)
            }
            Link::Stream(stream) => {
                let mut head = [0u8; 4];
                stream.read_exact(&mut head).await?;
                let len =
                    wire::stream_frame_len(&head).ok_or_else(|| io::Error::other("bad frame"))?;
                let mut buf = vec![0u8; len];
                buf[..4].copy_from_slice(&head);
                stream.read_exact(&mut buf[4..]).await?;
                Ok(buf)
            }
        }
    }

    /// Files data packets; returns a STUN response or error response.
    fn file(&mut self, packet: Vec<u8>) -> Option<Message> {
        if wire::is_channel_data(&packet) {
            if let Some((number, data)) = wire::channel_data(&packet) {
                self.inbox
                    .push_back(Received::Channel(number, data.to_vec()));
            }
            return None;
        }
        let m = wire::parse(&packet)?;
        if m.typ.class == CLASS_INDICATION && m.typ.method == METHOD_DATA {
            let peer = wire::peer_addresses(&m).ok()?.first().copied()?;
            let range = wire::data_range(&packet)?;
            self.inbox
                .push_back(Received::Indication(peer, packet[range].to_vec()));
            return None;
        }
        Some(m)
    }

    fn key(&self) -> Option<[u8; 16]> {
        let realm = self.realm.as_ref()?;
        Some(crate::turn::long_term_key(
            &self.username,
            realm,
            &self.password,
        ))
    }

    /// One request/answer; with UDP the request is resent every 500 ms.
    async fn exchange(
        &mut self,
        method: Method,
        attrs: &[Attr<'_>],
    ) -> Result<Message, ClientError> {
        let id = txn();
        let mut all: Vec<Attr<'_>> = Vec::new();
        let username = self.username.clone();
        let realm = self.realm.clone();
        let nonce = self.nonce.clone();
        if let (Some(realm), Some(nonce)) = (&realm, &nonce) {
            all.push(Attr::Username(&username));
            all.push(Attr::Realm(realm));
            all.push(Attr::Nonce(nonce));
        }
        for a in attrs {
            all.push(a.clone());
        }
        let key = self.key();
        let request = wire::build(
            MessageType::new(method, CLASS_REQUEST),
            id,
            &all,
            key.as_ref(),
        );
        let deadline = tokio::time::Instant::now() + self.timeout;
        let udp = matches!(self.link, Link::Udp(..));
        self.send_raw(&request).await?;
        loop {
            let wait = if udp {
                Duration::from_millis(500)
            } else {
                self.timeout
            };
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Err(ClientError::Timeout);
            }
            match tokio::time::timeout(wait.min(deadline - now), self.recv_raw()).await {
                Err(_) if udp => self.send_raw(&request).await?,
                Err(_) => return Err(ClientError::Timeout),
                Ok(Err(err)) => return Err(err.into()),
                Ok(Ok(packet)) => {
                    if let Some(m) = self.file(packet)
                        && m.transaction_id.0 == id
                        && m.typ.method == method
                    {
                        return Ok(m);
                    }
                }
            }
        }
    }

    /// A request with long-term credentials: answers a 401 or 438 challenge
    /// once with the realm and nonce it gives.
    async fn request(
        &mut self,
        method: Method,
        attrs: &[Attr<'_>],
    ) -> Result<Message, ClientError> {
        for attempt in 0..2 {
            let m = self.exchange(method, attrs).await?;
            if m.typ.class == CLASS_SUCCESS_RESPONSE {
                return Ok(m);
            }
            if m.typ.class != CLASS_ERROR_RESPONSE {
                return Err(ClientError::Protocol("not a response".into()));
            }
            let (code, reason) = error_code(&m);
            let nonce = wire::text(&m, ATTR_NONCE);
            if attempt == 0 && (code == 401 || code == 438) && nonce.is_some() {
                self.realm = wire::text(&m, ATTR_REALM).or(self.realm.take());
                self.nonce = nonce;
                continue;
            }
            return Err(ClientError::Refused { code, reason });
        }
        Err(ClientError::Protocol("challenged twice".into()))
    }

    /// Allocates a UDP relay; returns its address.
    pub async fn allocate(&mut self) -> Result<SocketAddr, ClientError> {
        self.allocate_with(&[]).await
    }

    pub async fn allocate_with(&mut self, extra: &[Attr<'_>]) -> Result<SocketAddr, ClientError> {
        let mut attrs = vec![Attr::RequestedTransport(17)];
        attrs.extend(extra.iter().cloned());
        let m = self.request(METHOD_ALLOCATE, &attrs).await?;
        let value = m
            .get(ATTR_XOR_RELAYED_ADDRESS)
            .map_err(|_| ClientError::Protocol("no XOR-RELAYED-ADDRESS".into()))?;
        wire::decode_xor_address(&value, &m.transaction_id.0)
            .ok_or_else(|| ClientError::Protocol("bad relay address".into()))
    }

    /// Allocates an IPv4 and an IPv6 relay (ADDITIONAL-ADDRESS-FAMILY);
    /// returns the relay addresses granted and, when the IPv6 one was not,
    /// ADDRESS-ERROR-CODE (family, code).
    pub async fn allocate_dual(
        &mut self,
    ) -> Result<(Vec<SocketAddr>, Option<(u8, u16)>), ClientError> {
        let attrs = [Attr::RequestedTransport(17), Attr::AdditionalFamily(2)];
        let m = self.request(METHOD_ALLOCATE, &attrs).await?;
        let relays = wire::relayed_addresses(&m);
        if relays.is_empty() {
            return Err(ClientError::Protocol("no XOR-RELAYED-ADDRESS".into()));
        }
        Ok((relays, wire::address_error(&m)))
    }

    /// Refreshes; returns the lifetime granted.
    pub async fn refresh(&mut self, lifetime_s: u32) -> Result<u32, ClientError> {
        let m = self
            .request(METHOD_REFRESH, &[Attr::Lifetime(lifetime_s)])
            .await?;
        wire::lifetime(&m).ok_or_else(|| ClientError::Protocol("no LIFETIME".into()))
    }

    pub async fn create_permission(&mut self, peers: &[SocketAddr]) -> Result<(), ClientError> {
        let attrs: Vec<Attr<'_>> = peers.iter().map(|p| Attr::XorPeer(*p)).collect();
        self.request(METHOD_CREATE_PERMISSION, &attrs)
            .await
            .map(|_| ())
    }

    pub async fn channel_bind(&mut self, number: u16, peer: SocketAddr) -> Result<(), ClientError> {
        self.request(
            METHOD_CHANNEL_BIND,
            &[Attr::ChannelNumber(number), Attr::XorPeer(peer)],
        )
        .await
        .map(|_| ())
    }

    pub async fn send_indication(&mut self, peer: SocketAddr, data: &[u8]) -> io::Result<()> {
        let m = wire::build(
            MessageType::new(METHOD_SEND, CLASS_INDICATION),
            txn(),
            &[Attr::XorPeer(peer), Attr::Data(data)],
            None,
        );
        self.send_raw(&m).await
    }

    pub async fn send_channel(&mut self, number: u16, data: &[u8]) -> io::Result<()> {
        let mut packet = Vec::with_capacity(4 + data.len() + 3);
        packet.extend_from_slice(&number.to_be_bytes());
        packet.extend_from_slice(&(data.len() as u16).to_be_bytes());
        packet.extend_from_slice(data);
        if matches!(self.link, Link::Stream(_)) {
            while packet.len() % 4 != 0 {
                packet.push(0);
            }
        }
        self.send_raw(&packet).await
    }

    /// The next data from a peer, if one arrives within `wait`.
    pub async fn recv_data(&mut self, wait: Duration) -> Option<Received> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(got) = self.inbox.pop_front() {
                return Some(got);
            }
            let left = deadline.checked_duration_since(tokio::time::Instant::now())?;
            match tokio::time::timeout(left, self.recv_raw()).await {
                Ok(Ok(packet)) => {
                    let _ = self.file(packet);
                }
                _ => return None,
            }
        }
    }

    /// Replaces the credentials (to try forged or expired ones).
    pub fn set_credentials(&mut self, username: &str, password: &str) {
        self.username = username.into();
        self.password = password.into();
    }

    /// Forgets the realm and nonce, so the next request is unauthenticated.
    pub fn forget_nonce(&mut self) {
        self.realm = None;
        self.nonce = None;
    }
}

/// The code and reason of an error response.
pub fn error_code(m: &Message) -> (u16, String) {
    match m.get(ATTR_ERROR_CODE) {
        Ok(v) if v.len() >= 4 => (
            u16::from(v[2] & 0x7) * 100 + u16::from(v[3]),
            String::from_utf8_lossy(&v[4..]).into_owned(),
        ),
        _ => (0, String::new()),
    }
}
