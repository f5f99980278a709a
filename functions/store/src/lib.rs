//! The store contract: everything livecard's handlers persist, with the
//! races settled by conditional writes. It is split by role (advisors,
//! cards, events, contact sessions, auth, connections, media nodes; one
//! trait each, in the manner of LiveKit's service stores), and [`Store`]
//! is every role at once: a store implements the roles, a host names the
//! ones it uses. Every key of the table is defined once, in [`keys`].
//!
//! Implementations: [`dynamo::DynamoStore`] (DynamoDB through
//! `aws-sdk-dynamodb`, in the cloud or against the embedded server of
//! [`embedded`]). Any other implementation must pass [`conformance`].
//!
//! The trait uses `async fn` without a `Send` bound on purpose: the Worker
//! host (wasm32) has futures that are not `Send`, while the native hosts use a
//! concrete store whose futures are `Send`, which the compiler sees through
//! the concrete type. So one contract serves both; no host needs a second.

use livecard_core::UnixMillis;
use livecard_core::advisor::Advisor;
use livecard_core::card::Card;
use livecard_core::event::Event;
use livecard_core::forward::{Delivery, DeliveryState, DestinationState, Parcel};
use livecard_core::ids::{AdvisorId, CardId};
use livecard_core::ids::{DestinationId, EventId};
use livecard_core::media::MediaNode;
use livecard_core::offline::{InboxPosition, OfflineMessage};
use livecard_core::presence::{Presence, PresencePolicy, PresenceUpdate, PresenceView};
use livecard_core::session::{QueueKey, Session, Side};

#[cfg(feature = "dynamodb")]
pub mod aws;
#[cfg(feature = "conformance")]
pub mod conformance;
#[cfg(feature = "dynamodb")]
pub mod dynamo;
#[cfg(feature = "embedded")]
pub mod embedded;
pub mod keys;

/// The role traits and [`Store`], for code that calls a concrete store
/// (`use livecard_store::prelude::*;`).
pub mod prelude {
    pub use crate::{
        AdvisorStore, AuthStore, CardStore, ConnectionStore, EventStore, ForwardStore,
        GraphSubscriptionStore, MediaNodeStore, PrivacyStore, ReplyStore, SessionStore, Store,
    };
}

/// The most items one page may ask for.
pub const MAX_PAGE: u16 = 100;
/// The longest cursor accepted from a client.
pub const MAX_CURSOR_LEN: usize = 512;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The pagination cursor was not one this store handed out.
    #[error("the cursor is not valid")]
    BadCursor,
    /// The store could not be reached or kept failing after retries.
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    /// A stored item could not be read back (a bug or a foreign writer).
    #[error("a stored item is corrupt: {0}")]
    Corrupt(String),
}

/// Which page of a listing to read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageRequest {
    /// 1 to [`MAX_PAGE`]; larger values are clamped.
    pub limit: u16,
    /// The `next` of the previous page.
    pub cursor: Option<String>,
}

impl PageRequest {
    pub fn first(limit: u16) -> Self {
        Self {
            limit,
            cursor: None,
        }
    }

    pub fn clamped_limit(&self) -> u16 {
        self.limit.clamp(1, MAX_PAGE)
    }
}

/// One page of a listing; `next` is set when there may be more.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

/// An advisor with their presence as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdvisorRecord {
    pub advisor: Advisor,
    pub presence: Presence,
    /// The effective presence stored after the latest source write, for
    /// systems that read the table; pages compute it at their own instant
    /// from `presence`, since entries and heartbeats run out by themselves.
    pub effective: Option<PresenceView>,
    pub load: Load,
    /// Session cookies signed in an older epoch are void
    /// (`Store::end_sessions`); 0 until the first.
    pub session_epoch: u64,
}

/// How busy an advisor is, for routing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Load {
    /// Contact sessions held now (ringing or connected).
    pub active: u16,
    /// When a session was last released (0: never).
    pub idle_since: UnixMillis,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    Claimed,
    /// The advisor holds as many sessions as their capacity.
    Full,
    UnknownAdvisor,
}

/// What a visitor sees before and after a presence write, at its instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PresenceChange {
    pub before: PresenceView,
    pub after: PresenceView,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PresenceWrite {
    Applied(PresenceChange),
    /// A newer (or equal) version is stored for a channel the update names.
    Stale,
    UnknownAdvisor,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revocation {
    Revoked(Card),
    AlreadyRevoked(Card),
    NotFound,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventWrite {
    Stored,
    /// An event with this id was stored before; nothing changed.
    Duplicate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    Created,
    AlreadyExists,
}

/// A contact session as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSession {
    /// 1 to 64 of `A-Za-z0-9-_`.
    pub id: String,
    /// Who the visitor is (their signed visitor id).
    pub visitor: String,
    pub session: Session,
    /// Bumped by every replace: a replace made from a stale read is refused.
    pub version: u64,
}

/// A chat message to append: who sent it and what.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewMessage<'a> {
    pub side: Side,
    /// The advisor who wrote an advisor-side message (several may write in
    /// one session: a guest in the chat). Message ids are de-duplicated per
    /// author.
    pub author: Option<&'a AdvisorId>,
    /// The sender's own id for the message.
    pub client_id: &'a str,
    pub text: &'a str,
    pub at: UnixMillis,
}

impl<'a> NewMessage<'a> {
    /// A message without an author (a visitor's).
    pub fn new(side: Side, client_id: &'a str, text: &'a str, at: UnixMillis) -> Self {
        Self {
            side,
            author: None,
            client_id,
            text,
            at,
        }
    }

    /// Written by `author` (an advisor).
    pub fn by(self, author: &'a AdvisorId) -> Self {
        Self {
            author: Some(author),
            ..self
        }
    }
}

/// An identity image a deployment keeps (only when it configured that,
/// `docs/privacy.md`): what it is; its bytes are stored sealed
/// (`livecard_core::identity_images`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IdentityImage {
    /// The record's own id (random): what the seal is bound to.
    pub id: String,
    /// Which identity check of the session (1 for the first).
    pub check: u32,
    pub kind: livecard_core::identity_images::ImageKind,
    /// The image's size, in bytes.
    pub bytes: u64,
    /// The advisor who received it and kept it.
    pub advisor: AdvisorId,
    pub at: UnixMillis,
    /// Gone after this (the deployment's retention for identity images).
    pub expires_at: UnixMillis,
}

/// One chat message as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatMessage {
    /// Orders the messages of a session; clients resume after a key.
    pub key: String,
    pub side: Side,
    /// The advisor who wrote it (advisor side; `None` in messages stored
    /// before authors were).
    pub author: Option<AdvisorId>,
    /// The sender's own id for the message (de-duplicates resends).
    pub client_id: String,
    pub text: String,
    pub at: UnixMillis,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Appended {
    New(ChatMessage),
    /// The sender sent this message id before; nothing was stored.
    Duplicate,
}

/// Advisors: profiles, presence per channel, load (capacity claims) and the sign-in epoch.
#[allow(async_fn_in_trait)] // see the crate docs: Send-ness follows the concrete store
pub trait AdvisorStore {
    /// Creates or replaces an advisor's profile; their presence is kept.
    async fn put_advisor(&self, advisor: &Advisor) -> Result<(), StoreError>;
    async fn get_advisor(&self, id: &AdvisorId) -> Result<Option<AdvisorRecord>, StoreError>;
    /// Advisors in id order.
    async fn list_advisors(&self, page: &PageRequest) -> Result<Page<AdvisorRecord>, StoreError>;
    /// Takes one session slot of an advisor, atomically: never more than
    /// their capacity, however many claims race.
    async fn claim_capacity(&self, id: &AdvisorId) -> Result<Claim, StoreError>;
    /// Gives a slot back (the session ended, or the ring was declined or
    /// missed) and marks the advisor idle from `now`; false when they held none.
    async fn release_capacity(&self, id: &AdvisorId, now: UnixMillis) -> Result<bool, StoreError>;
    /// Applies one source's presence update when it is newer than that
    /// source's stored entry for every channel it names, and stores the
    /// effective presence that follows (computed by the core with `policy`
    /// at `now`) unless one computed after a later write is there.
    async fn update_presence(
        &self,
        id: &AdvisorId,
        update: &PresenceUpdate,
        policy: &PresencePolicy,
        now: UnixMillis,
    ) -> Result<PresenceWrite, StoreError>;
    /// Extends the console heartbeat to `until` (never shortens it); false
    /// when the advisor does not exist.
    async fn heartbeat(&self, id: &AdvisorId, until: UnixMillis) -> Result<bool, StoreError>;
    /// Forgets an advisor's presence (every channel, its versions and the
    /// heartbeat): the next update of any source applies, whatever version
    /// was stored. False when the advisor does not exist.
    async fn reset_presence(&self, id: &AdvisorId) -> Result<bool, StoreError>;
    /// Ends every session of an advisor signed so far: raises their
    /// session epoch, atomically, and returns the new one (`None` for an
    /// unknown advisor). The profile and presence are kept.
    async fn end_sessions(&self, id: &AdvisorId) -> Result<Option<u64>, StoreError>;
}

/// Live business cards.
#[allow(async_fn_in_trait)] // see the crate docs: Send-ness follows the concrete store
pub trait CardStore {
    /// Stores a new card; `AlreadyExists` when its id is taken.
    async fn put_card(&self, card: &Card) -> Result<Created, StoreError>;
    async fn get_card(&self, id: &CardId) -> Result<Option<Card>, StoreError>;
    /// A card and an advisor in one round trip (a card page: the signed
    /// link names both), each `None` when unknown.
    async fn get_card_and_advisor(
        &self,
        card: &CardId,
        advisor: &AdvisorId,
    ) -> Result<(Option<Card>, Option<AdvisorRecord>), StoreError>;
    /// Cards, newest first.
    async fn list_cards(&self, page: &PageRequest) -> Result<Page<Card>, StoreError>;
    /// Revokes a card once; later calls report `AlreadyRevoked`.
    async fn revoke_card(&self, id: &CardId, now: UnixMillis) -> Result<Revocation, StoreError>;
}

/// Analytics events, idempotent by event id.
#[allow(async_fn_in_trait)] // see the crate docs: Send-ness follows the concrete store
pub trait EventStore {
    /// Stores an event once per id, kept until `expires_at`.
    async fn put_event(
        &self,
        event: &Event,
        expires_at: UnixMillis,
    ) -> Result<EventWrite, StoreError>;
    /// Stores many events at once (packed into few writes), in one attempt
    /// without retries: it returns the events it could not write this time
    /// (the service left them unprocessed), and an error when it wrote
    /// none. The caller's loop is the only retry (the local host's event
    /// writer). Idempotent: the same events written again store nothing
    /// new, and listings show each event id once.
    async fn put_events(
        &self,
        events: &[(Event, UnixMillis)],
    ) -> Result<Vec<(Event, UnixMillis)>, StoreError>;
    /// The events of one UTC day (`YYYY-MM-DD`), oldest first within a
    /// page. `limit` counts stored items, and an item written by
    /// `put_events` holds many events.
    async fn list_events(&self, day: &str, page: &PageRequest) -> Result<Page<Event>, StoreError>;
    /// [`EventStore::list_events`] as the stored JSON: one array of events
    /// per item, unparsed and in store order, duplicates included (for
    /// readers of many events, such as reports, that parse and de-duplicate
    /// them their own way).
    async fn list_event_json(
        &self,
        day: &str,
        page: &PageRequest,
    ) -> Result<Page<String>, StoreError>;
}

/// Contact sessions and what hangs off them: chat, queues, the visitor's last advisor, offline messages.
#[allow(async_fn_in_trait)] // see the crate docs: Send-ness follows the concrete store
pub trait SessionStore {
    /// Stores a new session, due at `deadline` (see `Session::next_deadline`),
    /// kept until `expires_at` (the deployment's transcript retention).
    async fn create_session(
        &self,
        session: &StoredSession,
        deadline: Option<UnixMillis>,
        expires_at: UnixMillis,
    ) -> Result<Created, StoreError>;
    async fn get_session(&self, id: &str) -> Result<Option<StoredSession>, StoreError>;
    /// Replaces a session read at `session.version - 1` with `session`; false
    /// when somebody changed it since (read again and retry).
    async fn replace_session(
        &self,
        session: &StoredSession,
        deadline: Option<UnixMillis>,
    ) -> Result<bool, StoreError>;
    /// Ids of sessions whose deadline is at or before `now` (up to a day
    /// overdue), for the periodic sweep.
    async fn due_sessions(&self, now: UnixMillis, limit: u16) -> Result<Vec<String>, StoreError>;
    /// Ids of sessions whose deadline is after `from` and at or before
    /// `until` (ringing ones among them, for a console that just opened).
    /// An index read: it may lag a write by a moment.
    async fn sessions_due_between(
        &self,
        from: UnixMillis,
        until: UnixMillis,
        limit: u16,
    ) -> Result<Vec<String>, StoreError>;
    /// Appends a chat message once per (side, author, client id), kept
    /// until `expires_at` (with its session).
    async fn append_message(
        &self,
        session: &str,
        message: NewMessage<'_>,
        expires_at: UnixMillis,
    ) -> Result<Appended, StoreError>;
    /// How many messages a session has and when the last was stored.
    async fn message_stats(&self, session: &str) -> Result<(u32, Option<UnixMillis>), StoreError>;
    /// A session's messages after `after` (a message key), oldest first.
    async fn messages_after(
        &self,
        session: &str,
        after: Option<&str>,
        limit: u16,
    ) -> Result<Vec<ChatMessage>, StoreError>;
    /// Keeps a sealed identity image of a session (in pieces under the
    /// store's item size), until `image.expires_at`.
    async fn put_identity_image(
        &self,
        session: &str,
        image: &IdentityImage,
        sealed: &[u8],
    ) -> Result<(), StoreError>;
    /// The identity images a session keeps, oldest first (expired ones by
    /// `now` left out).
    async fn identity_images(
        &self,
        session: &str,
        now: UnixMillis,
    ) -> Result<Vec<IdentityImage>, StoreError>;
    /// One of them with its sealed bytes.
    async fn identity_image(
        &self,
        session: &str,
        id: &str,
        now: UnixMillis,
    ) -> Result<Option<(IdentityImage, Vec<u8>)>, StoreError>;
    /// Records that `advisor` is in `session` (took it, was handed it, or
    /// is a guest in its chat), until `expires_at` at the latest.
    async fn attend(
        &self,
        advisor: &AdvisorId,
        session: &str,
        expires_at: UnixMillis,
    ) -> Result<(), StoreError>;
    /// Forgets it (no error when there was nothing).
    async fn unattend(&self, advisor: &AdvisorId, session: &str) -> Result<(), StoreError>;
    /// The sessions `advisor` is in (up to `limit`, in session id order),
    /// for a console that opens; records expired by `now` are left out.
    async fn attending(
        &self,
        advisor: &AdvisorId,
        now: UnixMillis,
        limit: u16,
    ) -> Result<Vec<String>, StoreError>;
    /// Puts a waiting session in a queue; `since` is its place (earlier
    /// first, ties by session id). Kept until `expires_at` at the latest.
    async fn enqueue(
        &self,
        queue: &QueueKey,
        session: &str,
        since: UnixMillis,
        expires_at: UnixMillis,
    ) -> Result<(), StoreError>;
    /// Takes a session out of a queue (no error when it is not in it).
    async fn dequeue(
        &self,
        queue: &QueueKey,
        session: &str,
        since: UnixMillis,
    ) -> Result<(), StoreError>;
    /// The first `limit` entries of a queue, in order: (session, since).
    /// Entries expired by `now` are left out.
    async fn list_queue(
        &self,
        queue: &QueueKey,
        now: UnixMillis,
        limit: u16,
    ) -> Result<Vec<(String, UnixMillis)>, StoreError>;
    /// Queues that have someone waiting (each key once, oldest wait first),
    /// for the sweep. May lag a write by a moment (an index read).
    async fn waiting_queues(&self, limit: u16) -> Result<Vec<QueueKey>, StoreError>;
    /// Remembers the advisor a visitor spoke with, until `expires_at` (the
    /// affinity window).
    async fn remember_advisor(
        &self,
        visitor: &str,
        advisor: &AdvisorId,
        at: UnixMillis,
        expires_at: UnixMillis,
    ) -> Result<(), StoreError>;
    /// The advisor a visitor last spoke with and when, unless it expired by `now`.
    async fn last_advisor(
        &self,
        visitor: &str,
        now: UnixMillis,
    ) -> Result<Option<(AdvisorId, UnixMillis)>, StoreError>;
    /// Files an offline message in its inbox, kept until `expires_at`.
    async fn put_offline_message(
        &self,
        message: &OfflineMessage,
        expires_at: UnixMillis,
    ) -> Result<Created, StoreError>;
    /// Up to `limit` messages of an inbox (`Inbox::key`), newest first,
    /// after `after` (older than it, in `InboxPosition` order) when given.
    async fn list_inbox(
        &self,
        inbox: &str,
        after: Option<&InboxPosition>,
        limit: u16,
    ) -> Result<Vec<OfflineMessage>, StoreError>;
}

/// Secrets by their hash, and ids claimed once.
#[allow(async_fn_in_trait)] // see the crate docs: Send-ness follows the concrete store
pub trait AuthStore {
    /// Records that `key` (a webhook id, say) was seen, until `expires_at`:
    /// true for the first caller, false for every later one (replays).
    async fn claim_once(&self, key: &str, expires_at: UnixMillis) -> Result<bool, StoreError>;
    /// Records an admin API key by its hash.
    async fn put_api_key(
        &self,
        hash: &str,
        name: &str,
        now: UnixMillis,
    ) -> Result<Created, StoreError>;
    async fn api_key_exists(&self, hash: &str) -> Result<bool, StoreError>;
    /// Records a sign-in token by its hash.
    async fn put_signin(
        &self,
        hash: &str,
        advisor: &AdvisorId,
        expires_at: UnixMillis,
    ) -> Result<(), StoreError>;
    /// Consumes a sign-in token: the first caller before expiry gets the
    /// advisor, every other caller `None`.
    async fn take_signin(
        &self,
        hash: &str,
        now: UnixMillis,
    ) -> Result<Option<AdvisorId>, StoreError>;
}

/// WebSocket connections of a serverless host (the Lambda host; the local host keeps them in memory) and their subscriptions.
#[allow(async_fn_in_trait)] // see the crate docs: Send-ness follows the concrete store
pub trait ConnectionStore {
    /// Saves what a serverless host knows about one WebSocket connection
    /// (`state`, the host's own JSON), kept until `expires_at`. Its
    /// subscriptions are kept.
    async fn put_connection(
        &self,
        id: &str,
        state: &str,
        expires_at: UnixMillis,
    ) -> Result<(), StoreError>;
    /// A connection's saved state, unless it expired by `now`.
    async fn get_connection(&self, id: &str, now: UnixMillis)
    -> Result<Option<String>, StoreError>;
    /// Forgets a connection and every subscription it had.
    async fn delete_connection(&self, id: &str) -> Result<(), StoreError>;
    /// From now on (until `expires_at`) `connection` receives what is pushed
    /// to `topic` (a participant: `visitor:<session>`, `advisor:<id>`).
    async fn subscribe(
        &self,
        connection: &str,
        topic: &str,
        expires_at: UnixMillis,
    ) -> Result<(), StoreError>;
    /// Ends one subscription (no error when there is none).
    async fn unsubscribe(&self, connection: &str, topic: &str) -> Result<(), StoreError>;
    /// The connections subscribed to `topic`, unless expired by `now`.
    async fn subscribers(
        &self,
        topic: &str,
        now: UnixMillis,
        limit: u16,
    ) -> Result<Vec<String>, StoreError>;
}

/// Microsoft Graph subscriptions a presence connector made (Teams push,
/// `docs/presence.md`): the host that receives Graph's notifications
/// checks that a notification's subscription is one of them, still
/// current, and maps the Graph user ids it covers to advisors.
#[allow(async_fn_in_trait)] // see the crate docs: Send-ness follows the concrete store
pub trait GraphSubscriptionStore {
    /// Records (or renews) a subscription covering `users` (Graph user id,
    /// lower case → advisor) until `expires_at`.
    async fn put_graph_subscription(
        &self,
        id: &str,
        users: &std::collections::BTreeMap<String, AdvisorId>,
        expires_at: UnixMillis,
    ) -> Result<(), StoreError>;
    /// The users of a subscription, unless it is unknown or ended by `now`.
    async fn get_graph_subscription(
        &self,
        id: &str,
        now: UnixMillis,
    ) -> Result<Option<std::collections::BTreeMap<String, AdvisorId>>, StoreError>;
}

/// Media nodes (TURN relays) and their heartbeats.
#[allow(async_fn_in_trait)] // see the crate docs: Send-ness follows the concrete store
pub trait MediaNodeStore {
    /// Registers a media node or renews its heartbeat (and load); kept
    /// until a while after its heartbeat ends.
    async fn put_media_node(&self, node: &MediaNode) -> Result<(), StoreError>;
    /// Media nodes whose heartbeat is after `now`, in id order.
    async fn live_media_nodes(
        &self,
        now: UnixMillis,
        limit: u16,
    ) -> Result<Vec<MediaNode>, StoreError>;
    /// Media nodes whose heartbeat lapsed by `now` while they named
    /// sessions (calls that must move), in id order. A node is listed
    /// until it is put again without sessions.
    async fn lost_media_nodes(
        &self,
        now: UnixMillis,
        limit: u16,
    ) -> Result<Vec<MediaNode>, StoreError>;
    /// The TURN and STUN servers set through the admin API (`None`: never
    /// set).
    async fn ice_servers(&self) -> Result<Option<livecard_core::media::OtherServers>, StoreError>;
    /// Replaces them (checked by the caller).
    async fn put_ice_servers(
        &self,
        servers: &livecard_core::media::OtherServers,
    ) -> Result<(), StoreError>;
}

/// A forwarding destination as stored. Its settings hold secrets, so the
/// handlers seal them before they reach the store (`sealed`, opaque here).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredDestination {
    pub id: DestinationId,
    /// `ga4`, `matomo`, `webhook`.
    pub kind: String,
    pub sealed: String,
    pub state: DestinationState,
}

/// The forwarding outbox: destinations and one delivery per (event,
/// destination), settled only after the destination acknowledged it.
#[allow(async_fn_in_trait)] // see the crate docs: Send-ness follows the concrete store
pub trait ForwardStore {
    /// Creates or replaces a destination (its deliveries are kept).
    async fn put_destination(&self, destination: &StoredDestination) -> Result<(), StoreError>;
    /// Sets a destination's state; false when it does not exist.
    async fn set_destination_state(
        &self,
        id: &DestinationId,
        state: &DestinationState,
    ) -> Result<bool, StoreError>;
    /// Removes a destination; false when there was none. Its deliveries
    /// stay until their TTL (nothing sends them).
    async fn delete_destination(&self, id: &DestinationId) -> Result<bool, StoreError>;
    /// Every destination, in id order.
    async fn list_destinations(&self) -> Result<Vec<StoredDestination>, StoreError>;
    /// Records new deliveries in the outbox as parcels (one item per
    /// destination and up to 100 deliveries: [`livecard_core::forward::parcels`]),
    /// kept until `expires_at`. A parcel written again (same destination,
    /// same first event) is made once.
    async fn put_parcels(
        &self,
        deliveries: &[Delivery],
        expires_at: UnixMillis,
    ) -> Result<(), StoreError>;
    /// Pending parcels of a destination due at or before `now`, the earliest first.
    async fn due_parcels(
        &self,
        destination: &DestinationId,
        now: UnixMillis,
        limit: u16,
    ) -> Result<Vec<Parcel>, StoreError>;
    /// Writes each parcel's attempts, due time and whether it is done, if it
    /// still has the attempts it was read with: true for each one written.
    async fn update_parcels(&self, updates: &[(Parcel, u32)]) -> Result<Vec<bool>, StoreError>;
    /// Adds single deliveries to the outbox (a parcel's retries, dead
    /// letters, expired ones), kept until `expires_at`. One that exists
    /// (same destination and event) is left as it is, whatever its state:
    /// a delivery is made once.
    async fn put_deliveries(
        &self,
        deliveries: &[Delivery],
        expires_at: UnixMillis,
    ) -> Result<(), StoreError>;
    /// Pending deliveries of a destination due at or before `now`, the
    /// earliest due first. An index read: it may lag a write by a moment.
    async fn due_deliveries(
        &self,
        destination: &DestinationId,
        now: UnixMillis,
        limit: u16,
    ) -> Result<Vec<Delivery>, StoreError>;
    /// Writes a delivery's new state, attempts, due time and status, if it
    /// still has `read_attempts` attempts: false when another forwarder
    /// moved it on since it was read (then leave it to that one).
    async fn update_delivery(
        &self,
        delivery: &Delivery,
        read_attempts: u32,
    ) -> Result<bool, StoreError>;
    /// [`ForwardStore::update_delivery`] for many at once (few round
    /// trips): true for each one written.
    async fn update_deliveries(&self, updates: &[(Delivery, u32)])
    -> Result<Vec<bool>, StoreError>;
    async fn get_delivery(
        &self,
        destination: &DestinationId,
        event: &EventId,
    ) -> Result<Option<Delivery>, StoreError>;
    /// A destination's deliveries in `state` (`Pending`, `Dead`,
    /// `Expired`), pending by due time, the others newest first.
    async fn list_deliveries(
        &self,
        destination: &DestinationId,
        state: DeliveryState,
        page: &PageRequest,
    ) -> Result<Page<Delivery>, StoreError>;
    /// How many of a destination's deliveries are in `state` (not `Done`);
    /// pending ones include those in pending parcels.
    async fn count_deliveries(
        &self,
        destination: &DestinationId,
        state: DeliveryState,
    ) -> Result<u64, StoreError>;
}

/// What a visitor's right to access and erasure needs (`docs/privacy.md`):
/// finding a visitor's sessions, reading and deleting what hangs off them.
#[allow(async_fn_in_trait)] // see the crate docs: Send-ness follows the concrete store
pub trait PrivacyStore {
    /// The sessions of a visitor (their signed visitor id), from the index
    /// entry each session gets when it is created.
    async fn visitor_sessions(&self, visitor: &str) -> Result<Vec<String>, StoreError>;
    /// The offline message a session left, if any.
    async fn get_offline_message(
        &self,
        session: &str,
    ) -> Result<Option<livecard_core::offline::OfflineMessage>, StoreError>;
    /// Deletes a session with everything in its partition (chat messages,
    /// their markers), its offline message and its visitor index entry.
    /// Returns how many items went.
    async fn erase_session(&self, session: &str, visitor: &str) -> Result<u64, StoreError>;
    /// Removes the events of `sessions` from one UTC day's event items
    /// (rewriting the batches they were in); returns their ids.
    async fn erase_events(
        &self,
        day: &str,
        sessions: &std::collections::HashSet<String>,
    ) -> Result<Vec<EventId>, StoreError>;
    /// Deletes these events' single deliveries to a destination (pending,
    /// dead or expired); returns how many there were.
    async fn erase_deliveries(
        &self,
        destination: &DestinationId,
        events: &[EventId],
    ) -> Result<u64, StoreError>;
    /// Marks sessions as erased until `expires_at`: deliveries of theirs
    /// still in the outbox are dropped, never sent.
    async fn mark_erased(
        &self,
        sessions: &[String],
        expires_at: UnixMillis,
    ) -> Result<(), StoreError>;
    /// Which of `sessions` were erased.
    async fn erased_sessions(
        &self,
        sessions: &[String],
    ) -> Result<std::collections::HashSet<String>, StoreError>;
    /// Forgets the advisor a visitor last spoke with.
    async fn forget_visitor(&self, visitor: &str) -> Result<(), StoreError>;
}

/// Saved replies (`livecard_core::replies`): an advisor's own and the
/// shared ones, each scope a partition keyed by shortcut.
#[allow(async_fn_in_trait)] // see the crate docs: Send-ness follows the concrete store
pub trait ReplyStore {
    /// A scope's replies, by shortcut.
    async fn list_replies(
        &self,
        scope: &livecard_core::replies::ReplyScope,
    ) -> Result<Vec<livecard_core::replies::SavedReply>, StoreError>;
    /// Saves a reply under its shortcut, replacing one there. A new
    /// shortcut in a scope that already holds
    /// [`livecard_core::replies::MAX_REPLIES`] is refused (`Ok(false)`; the
    /// count is read before the write, so racing writers may pass it by
    /// one each).
    async fn put_reply(
        &self,
        scope: &livecard_core::replies::ReplyScope,
        reply: &livecard_core::replies::SavedReply,
    ) -> Result<bool, StoreError>;
    /// Deletes a reply; false when there was none.
    async fn delete_reply(
        &self,
        scope: &livecard_core::replies::ReplyScope,
        shortcut: &str,
    ) -> Result<bool, StoreError>;
}

/// Every role at once: what the handlers use. A store implements the
/// roles; this follows. A host (or a future store) that needs fewer roles
/// names only those.
pub trait Store:
    AdvisorStore
    + CardStore
    + EventStore
    + SessionStore
    + AuthStore
    + ConnectionStore
    + GraphSubscriptionStore
    + MediaNodeStore
    + ForwardStore
    + PrivacyStore
    + ReplyStore
{
}

impl<
    T: AdvisorStore
        + CardStore
        + EventStore
        + SessionStore
        + AuthStore
        + ConnectionStore
        + GraphSubscriptionStore
        + MediaNodeStore
        + ForwardStore
        + PrivacyStore
        + ReplyStore,
> Store for T
{
}
