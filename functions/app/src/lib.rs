//! livecard's handlers, written once.
//!
//! [`App::handle`] turns an `http::Request` into an `http::Response` using
//! only the ports it is given: a [`Store`], a [`Clock`] and a source of
//! [`Random`] bytes. It needs no async runtime and no web framework, so the
//! local host (axum), the Lambda host and the Worker host all call the same
//! code; each host only converts its own request type and fills in
//! [`ClientAddr`].

mod analytics;
pub mod api;
pub mod assets;
pub mod auth;
pub mod cache;
pub mod cards;
mod client_addr;
pub mod connectors;
pub mod contact;
pub mod demo;
mod directory;
pub mod forward;
#[cfg(feature = "native")]
pub mod forward_native;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod http_util;
pub mod i18n;
pub mod pages;
mod presence;
pub mod privacy;
pub mod reports;
mod routes;
pub mod secrets;
pub mod settings;
pub mod system;
pub mod teams_push;

pub use client_addr::{ClientAddr, client_network};
pub use contact::{NoPush, Push};
use livecard_core::UnixMillis;
use livecard_core::card::{Card, Keyring};
use livecard_core::event::Event;
use livecard_core::ids::{AdvisorId, CardId};
use livecard_core::presence::PresencePolicy;
use livecard_core::session::SessionPolicy;
use livecard_store::{AdvisorRecord, Store};
pub use settings::Settings;
use std::fmt;
use std::sync::Arc;

pub use routes::route_name;

/// The request type every host converts to.
pub type Request = http::Request<bytes::Bytes>;
/// The response type every host converts from.
pub type Response = http::Response<bytes::Bytes>;

/// The largest request body any handler accepts; hosts refuse larger bodies
/// before reading them whole.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The largest body a request to `path` may carry: [`MAX_BODY_BYTES`], and
/// more only for the route that takes an identity image to keep
/// (`api::identity`). Every host reads bodies up to this.
pub fn body_limit(path: &str) -> usize {
    if api::identity::is_upload(path) {
        api::identity::MAX_UPLOAD_BYTES
    } else {
        MAX_BODY_BYTES
    }
}
/// The longest path plus query accepted.
pub const MAX_URI_BYTES: usize = 2048;

/// The time, from the host.
pub trait Clock: Send + Sync {
    fn now_ms(&self) -> UnixMillis;
}

/// Random bytes, from the host (the OS generator in production).
pub trait Random: Send + Sync {
    fn fill(&self, buf: &mut [u8]);
}

/// Where analytics events go when the host batches them: an in-process
/// writer (local host), or a queue (Lambda). Without one, events are stored
/// at once, one write each.
pub trait Outbox: Send + Sync {
    /// Takes the event for a later write (`None`), or hands it back when it
    /// cannot (full, or shutting down); the caller then stores it itself.
    fn offer(&self, event: Event, expires_at: UnixMillis) -> Option<Event>;

    /// Takes forwarding deliveries for a later write (`None`), or hands
    /// them back (the caller writes them itself). By default it takes none.
    fn offer_deliveries(
        &self,
        deliveries: Vec<livecard_core::forward::Delivery>,
        expires_at: UnixMillis,
    ) -> Option<Vec<livecard_core::forward::Delivery>> {
        let _ = expires_at;
        Some(deliveries)
    }
}

/// How a deployment runs.
#[derive(Debug, Clone)]
pub struct Config {
    /// The public base URL links are built on (`https://contact.example.com`),
    /// without a trailing slash.
    pub public_url: String,
    pub presence: PresencePolicy,
    /// How long analytics events are kept.
    pub event_retention_ms: u64,
    /// How long contact sessions and their chat transcripts are kept.
    pub transcript_retention_ms: u64,
    /// How long offline messages are kept.
    pub offline_retention_ms: u64,
    /// How often pages poll for presence, in milliseconds.
    pub presence_poll_ms: u64,
    /// How long visitor pages may reuse a card or advisor read (0: never).
    pub read_cache_ms: u64,
    /// How long a cache shared by many instances may answer the public
    /// presence reads ([`App::shared_read_ttl_ms`]; 0: no such cache).
    /// Those reads never use the instance's read cache, so an answer is
    /// never reused twice over.
    pub shared_read_ms: u64,
    /// Ring, queue and inactivity times of contact sessions.
    pub session: SessionPolicy,
    /// How long a returning visitor is sent to the advisor they last spoke with.
    pub affinity_ms: u64,
    /// Contact requests one client may make per 10 minutes (per instance).
    pub contacts_per_window: u32,
    /// Signaling messages one connection may send.
    pub signaling_rate: contact::RatePolicy,
    /// How long the chat path may reuse a session this instance read or
    /// wrote. Every write through this instance refreshes it, so a host
    /// that is the only writer (the local host) can keep it long.
    pub session_cache_ms: u64,
    /// Where clients open the signaling WebSocket: `None` is this origin's
    /// `/ws` (the local host); on AWS, the WebSocket API's URL
    /// (`wss://…execute-api…/live`).
    pub ws_url: Option<String>,
    /// How long TURN credentials are valid.
    pub turn_ttl_ms: u64,
    /// Calls only ever use the relay (hides both sides' addresses).
    pub relay_only: bool,
    /// The files visitors and advisors may pass each other (peer to peer).
    pub files: livecard_core::files::FilePolicy,
    /// TURN servers sharing the TURN secret (coturn) and STUN servers,
    /// handed out besides the media nodes.
    pub other_servers: livecard_core::media::OtherServers,
    /// Reverse proxies whose `Forwarded` / `X-Forwarded-For` name the
    /// client (see [`ClientAddr::resolve`]); empty: the peer is the client.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Networks forwarded events may be sent to although the relay's deny
    /// rules refuse them (a Matomo on the company network; capture servers
    /// on loopback in tests).
    pub forward_allow: Vec<ipnet::IpNet>,
    /// How long delivery records are kept after their event.
    pub delivery_retention_ms: u64,
    /// How long identity images are kept; `None`: never (the default).
    pub identity_image_retention_ms: Option<u64>,
    /// How long recording reuses the destinations it read (0: never).
    pub destinations_cache_ms: u64,
    /// How long a forwarded request may take.
    pub forward_timeout_ms: u64,
    /// The time zone reports count days and hours in.
    pub time_zone: livecard_core::report::TimeZone,
    /// Accepted within this many seconds counts toward the service level.
    pub service_level_s: u64,
}

impl Config {
    pub fn new(public_url: &str) -> Self {
        Self {
            public_url: public_url.trim_end_matches('/').to_owned(),
            presence: PresencePolicy::default(),
            event_retention_ms: livecard_core::event::DEFAULT_RETENTION_MS,
            transcript_retention_ms: 90 * 86_400_000,
            offline_retention_ms: 90 * 86_400_000,
            presence_poll_ms: 2_000,
            read_cache_ms: 1_000,
            shared_read_ms: 0,
            session: SessionPolicy::default(),
            affinity_ms: livecard_core::routing::DEFAULT_AFFINITY_MS,
            contacts_per_window: contact::http::CONTACTS_PER_WINDOW,
            signaling_rate: contact::RatePolicy::default(),
            session_cache_ms: 1_000,
            ws_url: None,
            turn_ttl_ms: livecard_core::turn::DEFAULT_TTL_MS,
            relay_only: false,
            files: livecard_core::files::FilePolicy::default(),
            other_servers: livecard_core::media::OtherServers::default(),
            trusted_proxies: Vec::new(),
            forward_allow: Vec::new(),
            delivery_retention_ms: 30 * 86_400_000,
            identity_image_retention_ms: None,
            destinations_cache_ms: 10_000,
            forward_timeout_ms: forward::REQUEST_TIMEOUT_MS,
            time_zone: livecard_core::report::TimeZone::UTC,
            service_level_s: livecard_core::report::DEFAULT_SERVICE_LEVEL_S,
        }
    }

    /// The signaling WebSocket URL clients connect to.
    pub fn websocket_url(&self) -> String {
        match &self.ws_url {
            Some(url) => url.clone(),
            None => format!("{}/ws", self.public_url.replacen("http", "ws", 1)),
        }
    }

    /// The pages' Content-Security-Policy: scripts and connections to this
    /// origin only, plus the WebSocket API when it lives on another origin.
    pub fn content_security_policy(&self) -> String {
        let ws = match &self.ws_url {
            Some(url) => {
                let origin: String = match url.split_once("://") {
                    Some((scheme, rest)) => {
                        let host = rest.split(['/', '?', '#']).next().unwrap_or("");
                        format!("{scheme}://{host}")
                    }
                    None => String::new(),
                };
                // Only what a URL origin may hold: no way to widen the policy.
                if origin
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || ":/.-[]".contains(c))
                {
                    format!(" {origin}")
                } else {
                    String::new()
                }
            }
            None => String::new(),
        };
        http_util::CSP.replace("connect-src 'self'", &format!("connect-src 'self'{ws}"))
    }

    /// Cookies are `Secure` whenever the site is served over HTTPS.
    pub fn secure_cookies(&self) -> bool {
        self.public_url.starts_with("https://")
    }
}

/// The deployment's secrets.
#[derive(Clone)]
pub struct Secrets {
    /// Card signing and verification keys.
    pub cards: Keyring,
    /// Signs advisor session cookies.
    pub session_key: Vec<u8>,
    /// Keys visitor pseudonyms.
    pub visitor_key: Vec<u8>,
    /// Verifies presence pushed by the company's presence system.
    pub presence_webhook_key: Vec<u8>,
    /// Shared with the media nodes: signs TURN credentials (`None`: no
    /// relay is offered, calls get STUN only).
    pub turn_secret: Option<Vec<u8>>,
    /// SHA-256 (hex) of an admin API key kept in the secrets document
    /// rather than the store: the first key of a deployment made by
    /// Terraform. Rotated with the document.
    pub admin_key_sha256: Option<String>,
    /// Teams presence pushed by Microsoft Graph (`docs/presence.md`), when
    /// configured.
    pub teams_push: Option<TeamsPushKeys>,
    /// A TURN provider whose credentials come from an HTTP call, when
    /// configured (`docs/turn.md`).
    pub turn_provider: Option<livecard_core::ice_provider::ProviderSettings>,
    /// Seals the identity images a deployment keeps (`docs/privacy.md`).
    pub identity_image_key: Option<[u8; livecard_core::identity_images::KEY_LEN]>,
}

/// What Microsoft Graph's presence notifications are checked and opened
/// with: the client state every notification must carry, and the
/// certificate (given to Graph) whose private key unwraps each
/// notification's data key.
#[derive(Clone)]
pub struct TeamsPushKeys {
    pub client_state: String,
    pub certificate_id: String,
    /// The certificate, DER.
    pub certificate: Vec<u8>,
    /// Its RSA private key, PKCS#8 DER.
    pub private_key: Vec<u8>,
}

impl fmt::Debug for TeamsPushKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TeamsPushKeys")
            .field("certificate_id", &self.certificate_id)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Secrets")
            .field("cards", &self.cards)
            .finish_non_exhaustive()
    }
}

/// The handlers with their ports.
pub struct App<S, P = NoPush> {
    pub store: S,
    pub push: P,
    pub clock: Arc<dyn Clock>,
    pub random: Arc<dyn Random>,
    pub config: Config,
    pub secrets: Secrets,
    pub outbox: Option<std::sync::Arc<dyn Outbox>>,
    /// The presence connectors this host runs, and their health.
    pub connectors: Arc<connectors::Connectors>,
    pub(crate) cards: cache::TtlCache<CardId, Option<Card>>,
    pub(crate) advisors: cache::TtlCache<AdvisorId, Option<AdvisorRecord>>,
    pub(crate) contact_limiter: cache::RateWindow,
    pub(crate) offline_limiter: cache::RateWindow,
    /// Sessions as this instance last wrote or read them, for the chat path.
    pub(crate) sessions: cache::TtlCache<String, Arc<livecard_store::StoredSession>>,
    pub(crate) csp: http::HeaderValue,
    pub(crate) destinations: cache::TtlCache<(), Arc<Vec<livecard_core::forward::Destination>>>,
    /// The host's outgoing HTTP for the handlers (`None`: the host has
    /// none, and a TURN provider is not asked).
    pub fetch: Option<Arc<dyn forward::SharedFetch>>,
    /// The TURN and STUN servers handed out besides the media nodes.
    pub(crate) ice_servers: cache::TtlCache<(), Arc<livecard_core::media::OtherServers>>,
    /// The TURN provider's servers as last fetched.
    pub(crate) ice_provider: std::sync::Mutex<livecard_core::ice_provider::ProviderCache>,
}

impl<S: Store> App<S, NoPush> {
    pub fn new(
        store: S,
        clock: Arc<dyn Clock>,
        random: Arc<dyn Random>,
        config: Config,
        secrets: Secrets,
    ) -> Self {
        let ttl = config.read_cache_ms;
        let per_window = config.contacts_per_window;
        let session_ttl = config.session_cache_ms;
        let destinations_ttl = config.destinations_cache_ms;
        let csp = http::HeaderValue::from_str(&config.content_security_policy())
            .unwrap_or(http::HeaderValue::from_static(http_util::CSP));
        Self {
            store,
            push: NoPush,
            clock,
            random,
            config,
            secrets,
            outbox: None,
            connectors: Arc::default(),
            cards: cache::TtlCache::new(ttl, 10_000),
            advisors: cache::TtlCache::new(ttl, 10_000),
            contact_limiter: cache::RateWindow::new(
                per_window,
                contact::http::CONTACT_WINDOW_MS,
                100_000,
            ),
            offline_limiter: cache::RateWindow::new(
                contact::http::OFFLINE_PER_WINDOW,
                contact::http::OFFLINE_WINDOW_MS,
                100_000,
            ),
            sessions: cache::TtlCache::new(session_ttl, 100_000),
            csp,
            destinations: cache::TtlCache::new(destinations_ttl, 1),
            fetch: None,
            ice_servers: cache::TtlCache::new(ttl, 1),
            ice_provider: std::sync::Mutex::default(),
        }
    }
}

impl<S: Store, P: Push> App<S, P> {
    /// Sends pushed messages through `push` (the host's connections).
    pub fn with_push<Q: Push>(self, push: Q) -> App<S, Q> {
        App {
            store: self.store,
            push,
            clock: self.clock,
            random: self.random,
            config: self.config,
            secrets: self.secrets,
            outbox: self.outbox,
            connectors: self.connectors,
            cards: self.cards,
            advisors: self.advisors,
            contact_limiter: self.contact_limiter,
            offline_limiter: self.offline_limiter,
            sessions: self.sessions,
            csp: self.csp,
            destinations: self.destinations,
            fetch: self.fetch,
            ice_servers: self.ice_servers,
            ice_provider: self.ice_provider,
        }
    }

    /// Gives the handlers the host's outgoing HTTP (a TURN provider is
    /// asked through it).
    pub fn with_fetch(mut self, fetch: Arc<dyn forward::SharedFetch>) -> Self {
        self.fetch = Some(fetch);
        self
    }

    /// Hands analytics events to `outbox` instead of storing each at once.
    pub fn with_outbox(mut self, outbox: Arc<dyn Outbox>) -> Self {
        self.outbox = Some(outbox);
        self
    }

    pub fn now(&self) -> UnixMillis {
        self.clock.now_ms()
    }

    pub fn random_bytes<const N: usize>(&self) -> [u8; N] {
        let mut buf = [0u8; N];
        self.random.fill(&mut buf);
        buf
    }

    /// How long a host's cache shared by many visitors (the Worker's Cache
    /// API, per data centre) may answer this request without the handlers,
    /// in milliseconds; 0: never. Only the public presence reads qualify
    /// (the directory and one advisor, without credentials), for
    /// [`Config::shared_read_ms`]: a host with a shared cache gives it the
    /// bound the others give their own reads ([`Config::read_cache_ms`]), so
    /// a presence change shows within the same bound on every host.
    pub fn shared_read_ttl_ms(&self, request: &Request) -> u64 {
        let public = request.method() == http::Method::GET
            && !request.headers().contains_key(http::header::COOKIE)
            && !request.headers().contains_key(http::header::AUTHORIZATION)
            && matches!(
                route_name(request.uri().path()),
                "api_advisors" | "api_advisor"
            );
        if public {
            self.config.shared_read_ms
        } else {
            0
        }
    }

    /// Handles one request. Never panics on input; every refusal is a 4xx.
    pub async fn handle(&self, request: Request) -> Response {
        // Boxed: the handlers' future is large (every route's in one); a
        // host that awaits this inline (a test's block_on) would carry all of
        // it on its stack. One allocation per request.
        let mut response = Box::pin(routes::dispatch(self, request)).await;
        if !response
            .headers()
            .contains_key(http::header::CONTENT_SECURITY_POLICY)
        {
            response
                .headers_mut()
                .insert(http::header::CONTENT_SECURITY_POLICY, self.csp.clone());
        }
        http_util::security_headers(&mut response);
        response
    }
}
