//! The store contract on DynamoDB (one table, one global secondary index).
//!
//! The key schema, the index, the TTL attribute and every access pattern are
//! written down in `docs/store.md`; keep the two in step.

use crate::{
    AdvisorRecord, Appended, ChatMessage, Claim, Created, EventWrite, Load, MAX_CURSOR_LEN, Page,
    PageRequest, PresenceWrite, Revocation, Store, StoreError, StoredSession,
};
pub use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, GlobalSecondaryIndex, KeySchemaElement,
    KeyType, Projection, ProjectionType, ReturnValue, ScalarAttributeType, TimeToLiveSpecification,
};
use livecard_core::UnixMillis;
use livecard_core::advisor::Advisor;
use livecard_core::card::Card;
use livecard_core::channel::Channel;
use livecard_core::encoding::{b64url, b64url_decode};
use livecard_core::event::Event;
use livecard_core::ids::{AdvisorId, CardId};
use livecard_core::media::MediaNode;
use livecard_core::offline::{InboxPosition, OfflineMessage};
use livecard_core::presence::{ChannelPresence, Presence, PresenceUpdate};
use livecard_core::session::{Session, Side};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

pub const GSI1: &str = "gsi1";
pub const TTL_ATTRIBUTE: &str = "ttl";
/// Cards stay in the table this long after they expire, so that an expired
/// link can still be listed and audited.
pub const CARD_GRACE_MS: u64 = 30 * 86_400_000;

type Item = HashMap<String, AttributeValue>;

/// A DynamoDB client for a DynamoDB-compatible server at `endpoint` (the
/// embedded server, DynamoDB Local) with fixed local credentials. Requests
/// are retried with backoff and jitter on throttling and transient errors.
pub fn local_client(endpoint: &str) -> Client {
    use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new(
            "livecard",
            "local",
            None,
            None,
            "livecard-local",
        ))
        .http_client(http)
        .retry_config(RetryConfig::standard().with_max_attempts(crate::aws::MAX_ATTEMPTS))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(3))
                .operation_attempt_timeout(Duration::from_secs(10))
                .build(),
        )
        .build();
    Client::from_conf(config)
}

/// Resends of event batches left unprocessed: nobody waits for these, so
/// more than a visitor's page gets.
const EVENT_BATCH_RESENDS: u32 = 8;

/// How long to wait before resend number `attempt` (1, 2, …) of what a
/// batch request left unprocessed, or of a transaction that failed: full
/// jitter (`jitter` in 0..1) over 25 ms doubling up to 2 s, the SDK's
/// standard retry backoff.
fn resend_backoff(attempt: u32, jitter: f64) -> Duration {
    let ceiling = Duration::from_millis(25u64 << (attempt.saturating_sub(1)).min(7))
        .min(Duration::from_secs(2));
    ceiling.mul_f64(jitter.clamp(0.0, 1.0))
}

/// A number in 0..1 that differs from call to call (std's hasher keys are
/// random per process and change per `RandomState`): spreads out the
/// resends of instances throttled at the same moment.
fn jitter() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let bits = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

/// The store on one DynamoDB table.
#[derive(Clone, Debug)]
pub struct DynamoStore {
    client: Client,
    table: String,
    /// When set, chat messages are committed in groups by writer tasks.
    batcher: Option<GroupWriters>,
}

/// A chat message waiting for the group commit, with its caller.
#[derive(Debug)]
struct PendingMessage {
    session: String,
    side: Side,
    client_id: String,
    text: String,
    at: UnixMillis,
    reply: tokio::sync::oneshot::Sender<Result<Appended, StoreError>>,
}

/// Messages per group commit: a transaction holds at most 100 items, and a
/// message takes two (the message and its sender-id marker).
const GROUP_COMMIT: usize = 50;

/// Group-commit writers, each with its own queue; a session's messages
/// always go to the same one.
const GROUP_WRITERS: usize = 4;

/// The queues of the group-commit writers. A session is served by one
/// writer, so its messages commit in the order they were taken (a later
/// message never becomes readable before an earlier one), while different
/// sessions' groups are in flight at once: the store works on one group
/// while the next is being encoded, sent and answered.
#[derive(Clone, Debug)]
struct GroupWriters(std::sync::Arc<[tokio::sync::mpsc::Sender<PendingMessage>]>);

impl GroupWriters {
    fn for_session(&self, session: &str) -> Option<&tokio::sync::mpsc::Sender<PendingMessage>> {
        // FNV-1a: stable and cheap; the spread only needs to be even.
        let hash = session.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        let index = usize::try_from(hash % self.0.len().max(1) as u64).unwrap_or(0);
        self.0.get(index)
    }
}

fn unavailable<E: ProvideErrorMetadata + std::fmt::Debug, R: std::fmt::Debug>(
    err: SdkError<E, R>,
) -> StoreError {
    // Only the code and message: the raw error may carry request details.
    let code = err.code().unwrap_or("unknown").to_owned();
    let message = err
        .message()
        .map(str::to_owned)
        .unwrap_or_else(|| match &err {
            SdkError::DispatchFailure(_) => "could not reach the store".to_owned(),
            SdkError::TimeoutError(_) => "the store did not answer in time".to_owned(),
            _ => "request failed".to_owned(),
        });
    StoreError::Unavailable(format!("{code}: {message}"))
}

fn is_condition_failure<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> bool {
    err.code() == Some("ConditionalCheckFailedException")
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: u64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn get_s<'a>(item: &'a Item, name: &str) -> Result<&'a str, StoreError> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Ok(v),
        _ => Err(StoreError::Corrupt(format!(
            "attribute {name} is missing or not a string"
        ))),
    }
}

fn get_n(item: &Item, name: &str) -> Result<Option<u64>, StoreError> {
    match item.get(name) {
        None => Ok(None),
        Some(AttributeValue::N(v)) => v
            .parse()
            .map(Some)
            .map_err(|_| StoreError::Corrupt(format!("attribute {name} is not a whole number"))),
        Some(_) => Err(StoreError::Corrupt(format!(
            "attribute {name} is not a number"
        ))),
    }
}

fn json<T: serde::de::DeserializeOwned>(item: &Item, name: &str) -> Result<T, StoreError> {
    serde_json::from_str(get_s(item, name)?)
        .map_err(|e| StoreError::Corrupt(format!("attribute {name}: {e}")))
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn ttl_seconds(at: UnixMillis) -> u64 {
    at.div_ceil(1000)
}

fn advisor_pk(id: &AdvisorId) -> String {
    format!("ADVISOR#{id}")
}

/// Orders a session's messages: `MSG#<ms, 13 digits>#<side>#<sender id>`.
fn message_key(at: UnixMillis, side: Side, client_id: &str) -> String {
    format!("MSG#{at:013}#{}#{client_id}", side.as_str())
}

fn session_pk(id: &str) -> String {
    format!("SESSION#{id}")
}

/// Sessions are found by the sweep in one partition per UTC day of their
/// deadline.
fn due_partition(at: UnixMillis) -> String {
    format!("DUE#{}", livecard_core::event::utc_day(at))
}

fn card_pk(id: &CardId) -> String {
    format!("CARD#{id}")
}

fn presence_attrs(channel: Channel) -> (String, String, String) {
    let c = channel.as_str();
    (format!("pst_{c}"), format!("pver_{c}"), format!("psrc_{c}"))
}

fn advisor_record(item: &Item) -> Result<AdvisorRecord, StoreError> {
    let advisor: Advisor = json(item, "profile")?;
    let load = Load {
        active: u16::try_from(get_n(item, "active")?.unwrap_or(0)).unwrap_or(u16::MAX),
        idle_since: get_n(item, "idle_since")?.unwrap_or(0),
    };
    let mut presence = Presence {
        heartbeat_until: get_n(item, "hb_until")?,
        ..Presence::default()
    };
    for channel in Channel::ALL {
        let (st, ver, src) = presence_attrs(channel);
        if item.contains_key(&st) {
            let state = get_s(item, &st)?.parse().map_err(|()| {
                StoreError::Corrupt(format!("attribute {st} is not a presence state"))
            })?;
            let source = get_s(item, &src)?.parse().map_err(|()| {
                StoreError::Corrupt(format!("attribute {src} is not a presence source"))
            })?;
            let version = get_n(item, &ver)?.unwrap_or(0);
            *presence.slot(channel) = Some(ChannelPresence {
                state,
                version,
                source,
            });
        }
    }
    Ok(AdvisorRecord {
        advisor,
        presence,
        load,
        session_epoch: get_n(item, "session_epoch")?.unwrap_or(0),
    })
}

fn event_item(event: &Event, expires_at: UnixMillis) -> Result<Item, StoreError> {
    Ok(Item::from([
        ("pk".to_owned(), s(format!("EVENT#{}", event.id))),
        ("sk".to_owned(), s("EVENT")),
        ("gsi1pk".to_owned(), s(format!("EVENTS#{}", event.day()))),
        (
            "gsi1sk".to_owned(),
            s(format!("{:013}#{}", event.at, event.id)),
        ),
        ("name".to_owned(), s(event.name.as_str())),
        ("body".to_owned(), s(to_json(event)?)),
        (TTL_ATTRIBUTE.to_owned(), n(ttl_seconds(expires_at))),
    ]))
}

/// Events packed into one batch item: well under DynamoDB's 400 KB item
/// limit, as an event's props are at most 2 KB.
pub const EVENTS_PER_ITEM: usize = 100;

fn event_batch_item(day: &str, events: &[&(Event, UnixMillis)]) -> Result<Item, StoreError> {
    let first = events
        .first()
        .ok_or_else(|| StoreError::Corrupt("empty event batch".into()))?;
    let at = events.iter().map(|(e, _)| e.at).min().unwrap_or(first.0.at);
    let expires = events.iter().map(|(_, x)| *x).max().unwrap_or(first.1);
    let list: Vec<&Event> = events.iter().map(|(e, _)| e).collect();
    Ok(Item::from([
        ("pk".to_owned(), s(format!("EVENTBATCH#{}", first.0.id))),
        ("sk".to_owned(), s("BATCH")),
        ("gsi1pk".to_owned(), s(format!("EVENTS#{day}"))),
        ("gsi1sk".to_owned(), s(format!("{at:013}#{}", first.0.id))),
        ("count".to_owned(), n(list.len() as u64)),
        ("events".to_owned(), s(to_json(&list)?)),
        (TTL_ATTRIBUTE.to_owned(), n(ttl_seconds(expires))),
    ]))
}

fn card_from(item: &Item) -> Result<Card, StoreError> {
    let mut card: Card = json(item, "card")?;
    card.revoked_at = get_n(item, "revoked_at")?;
    Ok(card)
}

/// Cursors are URL-safe base64 of the last key read, and are only accepted
/// back for the same index partition they came from.
fn encode_cursor(key: Option<&Item>) -> Option<String> {
    let key = key?;
    let map: BTreeMap<&str, &str> = key
        .iter()
        .filter_map(|(k, v)| v.as_s().ok().map(|v| (k.as_str(), v.as_str())))
        .collect();
    serde_json::to_vec(&map).ok().map(|bytes| b64url(&bytes))
}

fn decode_cursor(cursor: Option<&str>, partition: &str) -> Result<Option<Item>, StoreError> {
    let Some(cursor) = cursor else {
        return Ok(None);
    };
    if cursor.len() > MAX_CURSOR_LEN {
        return Err(StoreError::BadCursor);
    }
    let bytes = b64url_decode(cursor).ok_or(StoreError::BadCursor)?;
    let map: BTreeMap<String, String> =
        serde_json::from_slice(&bytes).map_err(|_| StoreError::BadCursor)?;
    let allowed = ["pk", "sk", "gsi1pk", "gsi1sk"];
    if map.len() != allowed.len()
        || !map.keys().all(|k| allowed.contains(&k.as_str()))
        || map.get("gsi1pk").map(String::as_str) != Some(partition)
    {
        return Err(StoreError::BadCursor);
    }
    Ok(Some(
        map.into_iter()
            .map(|(k, v)| (k, AttributeValue::S(v)))
            .collect(),
    ))
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            batcher: None,
        }
    }

    /// Commits chat messages in groups: concurrent appends wait for one
    /// transaction that stores them all (each still only once per sender
    /// id, and each caller learns its own result after the write), with a
    /// few groups (of different sessions) in flight at once. Needs a Tokio
    /// runtime; for long-running hosts with many chats at once.
    pub fn with_group_commit(mut self) -> Self {
        let writer = Self {
            batcher: None,
            ..self.clone()
        };
        let writers: Vec<_> = (0..GROUP_WRITERS)
            .map(|_| {
                let (sender, receiver) = tokio::sync::mpsc::channel(GROUP_COMMIT * 64);
                tokio::spawn(writer.clone().group_commit(receiver));
                sender
            })
            .collect();
        self.batcher = Some(GroupWriters(writers.into()));
        self
    }

    async fn group_commit(self, mut receiver: tokio::sync::mpsc::Receiver<PendingMessage>) {
        while let Some(first) = receiver.recv().await {
            let mut batch = vec![first];
            while batch.len() < GROUP_COMMIT {
                match receiver.try_recv() {
                    Ok(next) => batch.push(next),
                    Err(_) => break,
                }
            }
            self.commit_messages(batch).await;
        }
    }

    /// One group: duplicates inside it are answered at once; the rest go in
    /// one transaction. When markers already exist (resends), those are
    /// answered `Duplicate` and the others are committed again.
    async fn commit_messages(&self, batch: Vec<PendingMessage>) {
        use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
        let mut pending: Vec<PendingMessage> = Vec::with_capacity(batch.len());
        for message in batch {
            let twin = pending.iter().any(|p| {
                p.session == message.session
                    && p.side == message.side
                    && p.client_id == message.client_id
            });
            if twin {
                let _ = message.reply.send(Ok(Appended::Duplicate));
            } else {
                pending.push(message);
            }
        }
        let mut attempts = 0;
        while !pending.is_empty() {
            attempts += 1;
            let mut request = self.client.transact_write_items();
            for message in &pending {
                match self.message_items(
                    &message.session,
                    message.side,
                    &message.client_id,
                    &message.text,
                    message.at,
                ) {
                    Ok((marker, item)) => {
                        request = request.transact_items(marker).transact_items(item);
                    }
                    Err(err) => {
                        for message in pending.drain(..) {
                            let _ = message
                                .reply
                                .send(Err(StoreError::Unavailable(err.to_string())));
                        }
                        return;
                    }
                }
            }
            match request.send().await {
                Ok(_) => {
                    for message in pending.drain(..) {
                        let stored = ChatMessage {
                            key: message_key(message.at, message.side, &message.client_id),
                            side: message.side,
                            client_id: message.client_id,
                            text: message.text,
                            at: message.at,
                        };
                        let _ = message.reply.send(Ok(Appended::New(stored)));
                    }
                }
                Err(err) => {
                    let reasons: Vec<bool> = match err.as_service_error() {
                        Some(TransactWriteItemsError::TransactionCanceledException(e)) => e
                            .cancellation_reasons()
                            .iter()
                            .map(|r| r.code() == Some("ConditionalCheckFailed"))
                            .collect(),
                        _ => Vec::new(),
                    };
                    if reasons.iter().any(|failed| *failed) {
                        // Markers come first in each pair.
                        let mut kept = Vec::with_capacity(pending.len());
                        for (index, message) in pending.drain(..).enumerate() {
                            if reasons.get(index * 2).copied().unwrap_or(false) {
                                let _ = message.reply.send(Ok(Appended::Duplicate));
                            } else {
                                kept.push(message);
                            }
                        }
                        pending = kept;
                    } else if attempts >= crate::aws::MAX_ATTEMPTS {
                        let error = unavailable(err);
                        for message in pending.drain(..) {
                            let _ = message
                                .reply
                                .send(Err(StoreError::Unavailable(error.to_string())));
                        }
                    } else {
                        // A conflict with another transaction, or throttling
                        // the SDK's own retries did not outlast: wait before
                        // the next try, apart from other writers.
                        tokio::time::sleep(resend_backoff(attempts, jitter())).await;
                    }
                }
            }
        }
    }

    /// The two items of one message: its sender-id marker (written only if
    /// absent) and the message.
    fn message_items(
        &self,
        session: &str,
        side: Side,
        client_id: &str,
        text: &str,
        at: UnixMillis,
    ) -> Result<
        (
            aws_sdk_dynamodb::types::TransactWriteItem,
            aws_sdk_dynamodb::types::TransactWriteItem,
        ),
        StoreError,
    > {
        use aws_sdk_dynamodb::types::{Put, TransactWriteItem};
        let built = |e: aws_sdk_dynamodb::error::BuildError| StoreError::Unavailable(e.to_string());
        let marker = Put::builder()
            .table_name(&self.table)
            .item("pk", s(session_pk(session)))
            .item("sk", s(format!("CID#{}#{client_id}", side.as_str())))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", "pk")
            .build()
            .map_err(built)?;
        let message = Put::builder()
            .table_name(&self.table)
            .item("pk", s(session_pk(session)))
            .item("sk", s(message_key(at, side, client_id)))
            .item("side", s(side.as_str()))
            .item("client_id", s(client_id))
            .item("text", s(text))
            .item("at", n(at))
            .build()
            .map_err(built)?;
        Ok((
            TransactWriteItem::builder().put(marker).build(),
            TransactWriteItem::builder().put(message).build(),
        ))
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Creates the table (on demand, with its index and TTL) when it does not
    /// exist yet. In the cloud, Terraform creates it; locally, this does.
    pub async fn ensure_table(&self) -> Result<(), StoreError> {
        match self
            .client
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
        {
            Ok(_) => return Ok(()),
            Err(err) if err.code() == Some("ResourceNotFoundException") => {}
            Err(err) => return Err(unavailable(err)),
        }
        let key = |name: &str, kind: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
                .map_err(|e| StoreError::Unavailable(e.to_string()))
        };
        let attr = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(|e| StoreError::Unavailable(e.to_string()))
        };
        let gsi = GlobalSecondaryIndex::builder()
            .index_name(GSI1)
            .key_schema(key("gsi1pk", KeyType::Hash)?)
            .key_schema(key("gsi1sk", KeyType::Range)?)
            .projection(
                Projection::builder()
                    .projection_type(ProjectionType::All)
                    .build(),
            )
            .build()
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let created = self
            .client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(key("pk", KeyType::Hash)?)
            .key_schema(key("sk", KeyType::Range)?)
            .attribute_definitions(attr("pk")?)
            .attribute_definitions(attr("sk")?)
            .attribute_definitions(attr("gsi1pk")?)
            .attribute_definitions(attr("gsi1sk")?)
            .global_secondary_indexes(gsi)
            .send()
            .await;
        match created {
            Ok(_) => {}
            // Another process created it meanwhile.
            Err(err) if err.code() == Some("ResourceInUseException") => return Ok(()),
            Err(err) => return Err(unavailable(err)),
        }
        for _ in 0..100 {
            let table = self
                .client
                .describe_table()
                .table_name(&self.table)
                .send()
                .await
                .map_err(unavailable)?;
            let active = table
                .table()
                .and_then(|t| t.table_status())
                .is_some_and(|s| s.as_str() == "ACTIVE");
            if active {
                break;
            }
            tokio_free_sleep().await;
        }
        self.client
            .update_time_to_live()
            .table_name(&self.table)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .enabled(true)
                    .attribute_name(TTL_ATTRIBUTE)
                    .build()
                    .map_err(|e| StoreError::Unavailable(e.to_string()))?,
            )
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn get_item(&self, pk: String, sk: &str) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(out.item)
    }

    /// Items by key (`pk`, `sk`; at most 100) in one BatchGetItem of
    /// consistent reads; keys that come back unprocessed (throttling) are
    /// asked for again after a backoff, as often as the SDK retries a
    /// throttled request (someone is waiting for the page). The items
    /// found, in no order.
    async fn batch_get(&self, keys: &[(String, &str)]) -> Result<Vec<Item>, StoreError> {
        use aws_sdk_dynamodb::types::KeysAndAttributes;
        let keys = keys
            .iter()
            .map(|(pk, sk)| HashMap::from([("pk".to_owned(), s(pk)), ("sk".to_owned(), s(*sk))]))
            .collect();
        let request = KeysAndAttributes::builder()
            .set_keys(Some(keys))
            .consistent_read(true)
            .build()
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let mut pending = HashMap::from([(self.table.clone(), request)]);
        let mut found = Vec::new();
        let resends = crate::aws::MAX_ATTEMPTS - 1;
        let mut attempt = 0u32;
        while !pending.is_empty() {
            self.back_off_unprocessed(attempt, resends, "batch reads")
                .await?;
            let out = self
                .client
                .batch_get_item()
                .set_request_items(Some(pending))
                .send()
                .await
                .map_err(unavailable)?;
            if let Some(items) = out.responses.and_then(|mut r| r.remove(&self.table)) {
                found.extend(items);
            }
            pending = out.unprocessed_keys.unwrap_or_default();
            pending.retain(|_, v| !v.keys.is_empty());
            attempt += 1;
        }
        Ok(found)
    }

    /// Before resending what a batch request left unprocessed (throttling):
    /// nothing on the first attempt, then exponential backoff with full
    /// jitter (like the SDK's own retries); an error once `resends` were not
    /// enough.
    async fn back_off_unprocessed(
        &self,
        attempt: u32,
        resends: u32,
        what: &str,
    ) -> Result<(), StoreError> {
        if attempt == 0 {
            return Ok(());
        }
        if attempt > resends {
            return Err(StoreError::Unavailable(format!(
                "{what} kept coming back unprocessed"
            )));
        }
        tokio::time::sleep(resend_backoff(attempt, jitter())).await;
        Ok(())
    }

    /// An UpdateItem on one item of the table.
    fn update_item(
        &self,
        pk: String,
        sk: &str,
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
    }

    /// The items of one partition (consistent) whose `expires_at` is after
    /// `now`, up to `limit`.
    async fn query_unexpired(
        &self,
        pk: String,
        now: UnixMillis,
        limit: u16,
    ) -> Result<Vec<Item>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk")
            .filter_expression("#exp > :now")
            .expression_attribute_names("#pk", "pk")
            .expression_attribute_names("#exp", "expires_at")
            .expression_attribute_values(":pk", s(pk))
            .expression_attribute_values(":now", n(now))
            .consistent_read(true)
            .limit(i32::from(limit.clamp(1, crate::MAX_PAGE)))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(out.items.unwrap_or_default())
    }

    async fn unsubscribe_item(&self, connection: &str, topic: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(format!("SUBS#{topic}")))
            .key("sk", s(connection))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn advisor_exists(&self, id: &AdvisorId) -> Result<bool, StoreError> {
        Ok(self.get_item(advisor_pk(id), "PROFILE").await?.is_some())
    }

    /// Puts an item unless one with its key exists; false when it did.
    async fn put_if_absent(&self, item: Item) -> Result<bool, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", "pk")
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err) if is_condition_failure(&err) => Ok(false),
            Err(err) => Err(unavailable(err)),
        }
    }

    async fn query_gsi(
        &self,
        partition: &str,
        page: &PageRequest,
        forward: bool,
    ) -> Result<(Vec<Item>, Option<String>), StoreError> {
        let start = decode_cursor(page.cursor.as_deref(), partition)?;
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(GSI1)
            .key_condition_expression("#p = :p")
            .expression_attribute_names("#p", "gsi1pk")
            .expression_attribute_values(":p", s(partition))
            .scan_index_forward(forward)
            .limit(i32::from(page.clamped_limit()))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(unavailable)?;
        let next = encode_cursor(out.last_evaluated_key());
        Ok((out.items.unwrap_or_default(), next))
    }
}

/// A short pause between table-status polls without naming a runtime.
async fn tokio_free_sleep() {
    #[cfg(feature = "embedded")]
    tokio::time::sleep(Duration::from_millis(100)).await;
}

impl Store for DynamoStore {
    async fn put_advisor(&self, advisor: &Advisor) -> Result<(), StoreError> {
        self.update_item(advisor_pk(&advisor.id), "PROFILE")
            .update_expression("SET #profile = :profile, #g = :g, #gs = :gs, #cap = :cap")
            .expression_attribute_names("#profile", "profile")
            .expression_attribute_names("#cap", "capacity")
            .expression_attribute_values(":cap", n(u64::from(advisor.capacity)))
            .expression_attribute_names("#g", "gsi1pk")
            .expression_attribute_names("#gs", "gsi1sk")
            .expression_attribute_values(":profile", s(to_json(advisor)?))
            .expression_attribute_values(":g", s("ADVISORS"))
            .expression_attribute_values(":gs", s(advisor.id.as_str()))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn get_advisor(&self, id: &AdvisorId) -> Result<Option<AdvisorRecord>, StoreError> {
        self.get_item(advisor_pk(id), "PROFILE")
            .await?
            .map(|item| advisor_record(&item))
            .transpose()
    }

    async fn list_advisors(&self, page: &PageRequest) -> Result<Page<AdvisorRecord>, StoreError> {
        let (items, next) = self.query_gsi("ADVISORS", page, true).await?;
        let items = items.iter().map(advisor_record).collect::<Result<_, _>>()?;
        Ok(Page { items, next })
    }

    async fn claim_capacity(&self, id: &AdvisorId) -> Result<Claim, StoreError> {
        let result = self
            .update_item(advisor_pk(id), "PROFILE")
            .update_expression("SET #active = if_not_exists(#active, :zero) + :one")
            .condition_expression(
                "attribute_exists(#pk) AND (attribute_not_exists(#active) OR #active < #cap)",
            )
            .expression_attribute_names("#pk", "pk")
            .expression_attribute_names("#active", "active")
            .expression_attribute_names("#cap", "capacity")
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .send()
            .await;
        match result {
            Ok(_) => Ok(Claim::Claimed),
            Err(err) if is_condition_failure(&err) => Ok(if self.advisor_exists(id).await? {
                Claim::Full
            } else {
                Claim::UnknownAdvisor
            }),
            Err(err) => Err(unavailable(err)),
        }
    }

    async fn release_capacity(&self, id: &AdvisorId, now: UnixMillis) -> Result<bool, StoreError> {
        let result = self
            .update_item(advisor_pk(id), "PROFILE")
            .update_expression("SET #active = #active - :one, #idle = :now")
            .condition_expression("#active > :zero")
            .expression_attribute_names("#active", "active")
            .expression_attribute_names("#idle", "idle_since")
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":now", n(now))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err) if is_condition_failure(&err) => Ok(false),
            Err(err) => Err(unavailable(err)),
        }
    }

    async fn update_presence(
        &self,
        id: &AdvisorId,
        update: &PresenceUpdate,
    ) -> Result<PresenceWrite, StoreError> {
        let mut sets = Vec::new();
        let mut conditions = vec!["attribute_exists(#pk)".to_owned()];
        let mut request = self
            .update_item(advisor_pk(id), "PROFILE")
            .expression_attribute_names("#pk", "pk")
            .expression_attribute_values(":v", n(update.version))
            .expression_attribute_values(":src", s(update.source.as_str()));
        for (i, (channel, state)) in update.states.iter().enumerate() {
            let (st, ver, src) = presence_attrs(*channel);
            sets.push(format!("#st{i} = :st{i}, #ver{i} = :v, #src{i} = :src"));
            conditions.push(format!("(attribute_not_exists(#ver{i}) OR #ver{i} < :v)"));
            request = request
                .expression_attribute_names(format!("#st{i}"), st)
                .expression_attribute_names(format!("#ver{i}"), ver)
                .expression_attribute_names(format!("#src{i}"), src)
                .expression_attribute_values(format!(":st{i}"), s(state.as_str()));
        }
        if let Some(until) = update.heartbeat_until {
            sets.push("#hb = :hb".to_owned());
            request = request
                .expression_attribute_names("#hb", "hb_until")
                .expression_attribute_values(":hb", n(until));
        }
        let result = request
            .update_expression(format!("SET {}", sets.join(", ")))
            .condition_expression(conditions.join(" AND "))
            .send()
            .await;
        match result {
            Ok(_) => Ok(PresenceWrite::Applied),
            Err(err) if is_condition_failure(&err) => Ok(if self.advisor_exists(id).await? {
                PresenceWrite::Stale
            } else {
                PresenceWrite::UnknownAdvisor
            }),
            Err(err) => Err(unavailable(err)),
        }
    }

    async fn heartbeat(&self, id: &AdvisorId, until: UnixMillis) -> Result<bool, StoreError> {
        let result = self
            .update_item(advisor_pk(id), "PROFILE")
            .update_expression("SET #hb = :hb")
            .condition_expression(
                "attribute_exists(#pk) AND (attribute_not_exists(#hb) OR #hb < :hb)",
            )
            .expression_attribute_names("#pk", "pk")
            .expression_attribute_names("#hb", "hb_until")
            .expression_attribute_values(":hb", n(until))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err) if is_condition_failure(&err) => self.advisor_exists(id).await,
            Err(err) => Err(unavailable(err)),
        }
    }

    async fn reset_presence(&self, id: &AdvisorId) -> Result<bool, StoreError> {
        let mut request = self
            .update_item(advisor_pk(id), "PROFILE")
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#pk", "pk")
            .expression_attribute_names("#hb", "hb_until");
        let mut removed = vec!["#hb".to_owned()];
        for (i, channel) in Channel::ALL.iter().enumerate() {
            let (st, ver, src) = presence_attrs(*channel);
            removed.extend([format!("#st{i}"), format!("#ver{i}"), format!("#src{i}")]);
            request = request
                .expression_attribute_names(format!("#st{i}"), st)
                .expression_attribute_names(format!("#ver{i}"), ver)
                .expression_attribute_names(format!("#src{i}"), src);
        }
        let result = request
            .update_expression(format!("REMOVE {}", removed.join(", ")))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err) if is_condition_failure(&err) => Ok(false),
            Err(err) => Err(unavailable(err)),
        }
    }

    async fn end_sessions(&self, id: &AdvisorId) -> Result<Option<u64>, StoreError> {
        let result = self
            .update_item(advisor_pk(id), "PROFILE")
            .update_expression("ADD #epoch :one")
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#pk", "pk")
            .expression_attribute_names("#epoch", "session_epoch")
            .expression_attribute_values(":one", n(1))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::UpdatedNew)
            .send()
            .await;
        match result {
            Ok(out) => {
                let epoch = out
                    .attributes
                    .as_ref()
                    .map(|item| get_n(item, "session_epoch"))
                    .transpose()?
                    .flatten()
                    .ok_or_else(|| StoreError::Corrupt("no session epoch came back".into()))?;
                Ok(Some(epoch))
            }
            Err(err) if is_condition_failure(&err) => Ok(None),
            Err(err) => Err(unavailable(err)),
        }
    }

    async fn put_card(&self, card: &Card) -> Result<Created, StoreError> {
        let id = &card.claims.card_id;
        let stored = Card {
            revoked_at: None,
            ..card.clone()
        };
        let grace = card.expires_at_ms().saturating_add(CARD_GRACE_MS);
        let mut item = Item::from([
            ("pk".to_owned(), s(card_pk(id))),
            ("sk".to_owned(), s("CARD")),
            ("gsi1pk".to_owned(), s("CARDS")),
            (
                "gsi1sk".to_owned(),
                s(format!("{:013}#{id}", card.created_at)),
            ),
            ("card".to_owned(), s(to_json(&stored)?)),
            ("advisor".to_owned(), s(card.claims.advisor.as_str())),
            (TTL_ATTRIBUTE.to_owned(), n(ttl_seconds(grace))),
        ]);
        if let Some(at) = card.revoked_at {
            item.insert("revoked_at".to_owned(), n(at));
        }
        Ok(if self.put_if_absent(item).await? {
            Created::Created
        } else {
            Created::AlreadyExists
        })
    }

    async fn get_card(&self, id: &CardId) -> Result<Option<Card>, StoreError> {
        self.get_item(card_pk(id), "CARD")
            .await?
            .map(|item| card_from(&item))
            .transpose()
    }

    async fn get_card_and_advisor(
        &self,
        card: &CardId,
        advisor: &AdvisorId,
    ) -> Result<(Option<Card>, Option<AdvisorRecord>), StoreError> {
        let (card_key, advisor_key) = (card_pk(card), advisor_pk(advisor));
        let items = self
            .batch_get(&[(card_key.clone(), "CARD"), (advisor_key.clone(), "PROFILE")])
            .await?;
        let (mut card, mut advisor) = (None, None);
        for item in &items {
            let pk = get_s(item, "pk")?;
            if pk == card_key {
                card = Some(card_from(item)?);
            } else if pk == advisor_key {
                advisor = Some(advisor_record(item)?);
            }
        }
        Ok((card, advisor))
    }

    async fn list_cards(&self, page: &PageRequest) -> Result<Page<Card>, StoreError> {
        let (items, next) = self.query_gsi("CARDS", page, false).await?;
        let items = items.iter().map(card_from).collect::<Result<_, _>>()?;
        Ok(Page { items, next })
    }

    async fn revoke_card(&self, id: &CardId, now: UnixMillis) -> Result<Revocation, StoreError> {
        let result = self
            .update_item(card_pk(id), "CARD")
            .update_expression("SET #r = :now")
            .condition_expression("attribute_exists(#pk) AND attribute_not_exists(#r)")
            .expression_attribute_names("#pk", "pk")
            .expression_attribute_names("#r", "revoked_at")
            .expression_attribute_values(":now", n(now))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(out) => {
                let item = out
                    .attributes
                    .ok_or_else(|| StoreError::Corrupt("no attributes returned".into()))?;
                Ok(Revocation::Revoked(card_from(&item)?))
            }
            Err(err) if is_condition_failure(&err) => match self.get_card(id).await? {
                Some(card) => Ok(Revocation::AlreadyRevoked(card)),
                None => Ok(Revocation::NotFound),
            },
            Err(err) => Err(unavailable(err)),
        }
    }

    async fn put_event(
        &self,
        event: &Event,
        expires_at: UnixMillis,
    ) -> Result<EventWrite, StoreError> {
        let item = event_item(event, expires_at)?;
        Ok(if self.put_if_absent(item).await? {
            EventWrite::Stored
        } else {
            EventWrite::Duplicate
        })
    }

    async fn put_events(&self, events: &[(Event, UnixMillis)]) -> Result<(), StoreError> {
        use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
        // Events are packed into batch items of up to EVENTS_PER_ITEM, one
        // UTC day each, keyed by their first event's id: writing the same
        // batch again overwrites the same item, so retries add nothing.
        let mut seen = std::collections::HashSet::new();
        let mut by_day: BTreeMap<String, Vec<&(Event, UnixMillis)>> = BTreeMap::new();
        for entry in events {
            if seen.insert(&entry.0.id) {
                by_day.entry(entry.0.day()).or_default().push(entry);
            }
        }
        let mut requests = Vec::new();
        for (day, entries) in &by_day {
            for chunk in entries.chunks(EVENTS_PER_ITEM) {
                let put = PutRequest::builder()
                    .set_item(Some(event_batch_item(day, chunk)?))
                    .build()
                    .map_err(|e| StoreError::Unavailable(e.to_string()))?;
                requests.push(WriteRequest::builder().put_request(put).build());
            }
        }
        for chunk in requests.chunks(25) {
            let mut pending = HashMap::from([(self.table.clone(), chunk.to_vec())]);
            let mut attempt = 0u32;
            while !pending.is_empty() {
                self.back_off_unprocessed(attempt, EVENT_BATCH_RESENDS, "batch writes")
                    .await?;
                let out = self
                    .client
                    .batch_write_item()
                    .set_request_items(Some(pending))
                    .send()
                    .await
                    .map_err(unavailable)?;
                pending = out.unprocessed_items.unwrap_or_default();
                pending.retain(|_, v| !v.is_empty());
                attempt += 1;
            }
        }
        Ok(())
    }

    async fn list_events(&self, day: &str, page: &PageRequest) -> Result<Page<Event>, StoreError> {
        let (items, next) = self.query_gsi(&format!("EVENTS#{day}"), page, true).await?;
        let mut events: Vec<Event> = Vec::new();
        for item in &items {
            if item.contains_key("events") {
                events.extend(json::<Vec<Event>>(item, "events")?);
            } else {
                events.push(json(item, "body")?);
            }
        }
        events.sort_by(|a, b| (a.at, a.id.as_str()).cmp(&(b.at, b.id.as_str())));
        events.dedup_by(|a, b| a.id == b.id);
        Ok(Page {
            items: events,
            next,
        })
    }

    async fn create_session(
        &self,
        session: &StoredSession,
        deadline: Option<UnixMillis>,
    ) -> Result<Created, StoreError> {
        let mut item = Item::from([
            ("pk".to_owned(), s(session_pk(&session.id))),
            ("sk".to_owned(), s("META")),
            ("visitor".to_owned(), s(session.visitor.as_str())),
            ("session".to_owned(), s(to_json(&session.session)?)),
            ("version".to_owned(), n(session.version)),
        ]);
        if let Some(at) = deadline {
            item.insert("gsi1pk".to_owned(), s(due_partition(at)));
            item.insert("gsi1sk".to_owned(), s(format!("{at:013}#{}", session.id)));
        }
        Ok(if self.put_if_absent(item).await? {
            Created::Created
        } else {
            Created::AlreadyExists
        })
    }

    async fn get_session(&self, id: &str) -> Result<Option<StoredSession>, StoreError> {
        let Some(item) = self.get_item(session_pk(id), "META").await? else {
            return Ok(None);
        };
        Ok(Some(StoredSession {
            id: id.to_owned(),
            visitor: get_s(&item, "visitor")?.to_owned(),
            session: json::<Session>(&item, "session")?,
            version: get_n(&item, "version")?.unwrap_or(0),
        }))
    }

    async fn replace_session(
        &self,
        session: &StoredSession,
        deadline: Option<UnixMillis>,
    ) -> Result<bool, StoreError> {
        let expected = session
            .version
            .checked_sub(1)
            .ok_or_else(|| StoreError::Corrupt("version 0 cannot replace".into()))?;
        let mut request = self
            .update_item(session_pk(&session.id), "META")
            .condition_expression("#version = :expected")
            .expression_attribute_names("#version", "version")
            .expression_attribute_names("#session", "session")
            .expression_attribute_names("#g", "gsi1pk")
            .expression_attribute_names("#gs", "gsi1sk")
            .expression_attribute_values(":expected", n(expected))
            .expression_attribute_values(":version", n(session.version))
            .expression_attribute_values(":session", s(to_json(&session.session)?));
        request = match deadline {
            Some(at) => request
                .update_expression(
                    "SET #session = :session, #version = :version, #g = :g, #gs = :gs",
                )
                .expression_attribute_values(":g", s(due_partition(at)))
                .expression_attribute_values(":gs", s(format!("{at:013}#{}", session.id))),
            None => request
                .update_expression("SET #session = :session, #version = :version REMOVE #g, #gs"),
        };
        match request.send().await {
            Ok(_) => Ok(true),
            Err(err) if is_condition_failure(&err) => Ok(false),
            Err(err) => Err(unavailable(err)),
        }
    }

    async fn due_sessions(&self, now: UnixMillis, limit: u16) -> Result<Vec<String>, StoreError> {
        // Yesterday's partition and today's: up to a day overdue.
        self.sessions_due_between(now.saturating_sub(86_400_000), now, limit)
            .await
    }

    async fn sessions_due_between(
        &self,
        from: UnixMillis,
        until: UnixMillis,
        limit: u16,
    ) -> Result<Vec<String>, StoreError> {
        let mut ids = Vec::new();
        let mut days = vec![from];
        if livecard_core::event::utc_day(from) != livecard_core::event::utc_day(until) {
            days.push(until);
        }
        for day in days {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(GSI1)
                .key_condition_expression("#p = :p AND #s BETWEEN :from AND :until")
                .expression_attribute_names("#p", "gsi1pk")
                .expression_attribute_names("#s", "gsi1sk")
                .expression_attribute_values(":p", s(due_partition(day)))
                // '~' sorts after every id character.
                .expression_attribute_values(":from", s(format!("{from:013}#~")))
                .expression_attribute_values(":until", s(format!("{until:013}#~")))
                .limit(i32::from(limit.clamp(1, crate::MAX_PAGE)))
                .send()
                .await
                .map_err(unavailable)?;
            for item in out.items.unwrap_or_default() {
                if let Some(id) = get_s(&item, "pk")?.strip_prefix("SESSION#") {
                    ids.push(id.to_owned());
                }
            }
        }
        ids.truncate(usize::from(limit));
        Ok(ids)
    }

    async fn append_message(
        &self,
        session: &str,
        side: Side,
        client_id: &str,
        text: &str,
        at: UnixMillis,
    ) -> Result<Appended, StoreError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let pending = PendingMessage {
            session: session.to_owned(),
            side,
            client_id: client_id.to_owned(),
            text: text.to_owned(),
            at,
            reply,
        };
        // With group commit the writer task takes it; otherwise (or when
        // the writer is gone) it is a group of one, committed here.
        match self.batcher.as_ref().and_then(|w| w.for_session(session)) {
            Some(batcher) => {
                if let Err(refused) = batcher.send(pending).await {
                    self.commit_messages(vec![refused.0]).await;
                }
            }
            None => self.commit_messages(vec![pending]).await,
        }
        answer
            .await
            .unwrap_or_else(|_| Err(StoreError::Unavailable("the message writer stopped".into())))
    }

    async fn message_stats(&self, session: &str) -> Result<(u32, Option<UnixMillis>), StoreError> {
        use aws_sdk_dynamodb::types::Select;
        let messages = || {
            self.client
                .query()
                .table_name(&self.table)
                .key_condition_expression("#pk = :pk AND begins_with(#sk, :msg)")
                .expression_attribute_names("#pk", "pk")
                .expression_attribute_names("#sk", "sk")
                .expression_attribute_values(":pk", s(session_pk(session)))
                .expression_attribute_values(":msg", s("MSG#"))
                .consistent_read(true)
        };
        let mut count = 0u32;
        let mut start = None;
        loop {
            let out = messages()
                .select(Select::Count)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(unavailable)?;
            count = count.saturating_add(u32::try_from(out.count).unwrap_or(0));
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => break,
            }
        }
        let last = messages()
            .scan_index_forward(false)
            .limit(1)
            .send()
            .await
            .map_err(unavailable)?;
        let last_at = match last.items.unwrap_or_default().first() {
            Some(item) => get_n(item, "at")?,
            None => None,
        };
        Ok((count, last_at))
    }

    async fn messages_after(
        &self,
        session: &str,
        after: Option<&str>,
        limit: u16,
    ) -> Result<Vec<ChatMessage>, StoreError> {
        let from = match after {
            Some(key) if key.starts_with("MSG#") && key.len() <= 200 => key.to_owned(),
            Some(_) => return Err(StoreError::BadCursor),
            None => "MSG#".to_owned(),
        };
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk AND #sk > :from")
            .expression_attribute_names("#pk", "pk")
            .expression_attribute_names("#sk", "sk")
            .expression_attribute_values(":pk", s(session_pk(session)))
            .expression_attribute_values(":from", s(from))
            .consistent_read(true)
            .limit(i32::from(limit.clamp(1, crate::MAX_PAGE)))
            .send()
            .await
            .map_err(unavailable)?;
        let mut messages = Vec::new();
        for item in out.items.unwrap_or_default() {
            let key = get_s(&item, "sk")?;
            if !key.starts_with("MSG#") {
                continue;
            }
            messages.push(ChatMessage {
                key: key.to_owned(),
                side: Side::parse(get_s(&item, "side")?)
                    .ok_or_else(|| StoreError::Corrupt("message side".into()))?,
                client_id: get_s(&item, "client_id")?.to_owned(),
                text: get_s(&item, "text")?.to_owned(),
                at: get_n(&item, "at")?.unwrap_or(0),
            });
        }
        Ok(messages)
    }

    async fn enqueue(
        &self,
        queue: &str,
        session: &str,
        since: UnixMillis,
        expires_at: UnixMillis,
    ) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(format!("QUEUE#{queue}")))
            .item("sk", s(format!("{since:013}#{session}")))
            .item("session", s(session))
            .item("queue", s(queue))
            .item("since", n(since))
            .item("expires_at", n(expires_at))
            .item("gsi1pk", s("WAITING"))
            .item("gsi1sk", s(format!("{since:013}#{queue}#{session}")))
            .item(TTL_ATTRIBUTE, n(ttl_seconds(expires_at)))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn dequeue(
        &self,
        queue: &str,
        session: &str,
        since: UnixMillis,
    ) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(format!("QUEUE#{queue}")))
            .key("sk", s(format!("{since:013}#{session}")))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn list_queue(
        &self,
        queue: &str,
        now: UnixMillis,
        limit: u16,
    ) -> Result<Vec<(String, UnixMillis)>, StoreError> {
        self.query_unexpired(format!("QUEUE#{queue}"), now, limit)
            .await?
            .iter()
            .map(|item| {
                Ok((
                    get_s(item, "session")?.to_owned(),
                    get_n(item, "since")?.unwrap_or(0),
                ))
            })
            .collect()
    }

    async fn waiting_queues(&self, limit: u16) -> Result<Vec<String>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(GSI1)
            .key_condition_expression("#p = :p")
            .expression_attribute_names("#p", "gsi1pk")
            .expression_attribute_values(":p", s("WAITING"))
            .limit(i32::from(limit.clamp(1, crate::MAX_PAGE)))
            .send()
            .await
            .map_err(unavailable)?;
        let mut queues: Vec<String> = Vec::new();
        for item in out.items.unwrap_or_default() {
            let queue = get_s(&item, "queue")?;
            if !queues.iter().any(|q| q == queue) {
                queues.push(queue.to_owned());
            }
        }
        Ok(queues)
    }

    async fn remember_advisor(
        &self,
        visitor: &str,
        advisor: &AdvisorId,
        at: UnixMillis,
        expires_at: UnixMillis,
    ) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(format!("VISITOR#{visitor}")))
            .item("sk", s("LAST"))
            .item("advisor", s(advisor.as_str()))
            .item("at", n(at))
            .item("expires_at", n(expires_at))
            .item(TTL_ATTRIBUTE, n(ttl_seconds(expires_at)))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn last_advisor(
        &self,
        visitor: &str,
        now: UnixMillis,
    ) -> Result<Option<(AdvisorId, UnixMillis)>, StoreError> {
        let Some(item) = self.get_item(format!("VISITOR#{visitor}"), "LAST").await? else {
            return Ok(None);
        };
        if get_n(&item, "expires_at")?.unwrap_or(0) <= now {
            return Ok(None);
        }
        let advisor = AdvisorId::parse(get_s(&item, "advisor")?)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        Ok(Some((advisor, get_n(&item, "at")?.unwrap_or(0))))
    }

    async fn put_offline_message(
        &self,
        message: &OfflineMessage,
        expires_at: UnixMillis,
    ) -> Result<Created, StoreError> {
        let item = Item::from([
            ("pk".to_owned(), s(format!("OFFLINE#{}", message.id))),
            ("sk".to_owned(), s("OFFLINE")),
            (
                "gsi1pk".to_owned(),
                s(format!("INBOX#{}", message.inbox.key())),
            ),
            (
                "gsi1sk".to_owned(),
                s(InboxPosition::of(message).sort_key()),
            ),
            ("message".to_owned(), s(to_json(message)?)),
            (TTL_ATTRIBUTE.to_owned(), n(ttl_seconds(expires_at))),
        ]);
        Ok(if self.put_if_absent(item).await? {
            Created::Created
        } else {
            Created::AlreadyExists
        })
    }

    async fn list_inbox(
        &self,
        inbox: &str,
        after: Option<&InboxPosition>,
        limit: u16,
    ) -> Result<Vec<OfflineMessage>, StoreError> {
        let limit = limit.clamp(1, crate::MAX_PAGE);
        let mut query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(GSI1)
            .expression_attribute_names("#p", "gsi1pk")
            .expression_attribute_values(":p", s(format!("INBOX#{inbox}")))
            .scan_index_forward(false)
            .limit(i32::from(limit));
        query = match after {
            Some(position) => query
                .key_condition_expression("#p = :p AND #s < :s")
                .expression_attribute_names("#s", "gsi1sk")
                .expression_attribute_values(":s", s(position.sort_key())),
            None => query.key_condition_expression("#p = :p"),
        };
        let out = query.send().await.map_err(unavailable)?;
        out.items
            .unwrap_or_default()
            .iter()
            .map(|item| json(item, "message"))
            .collect()
    }

    async fn put_api_key(
        &self,
        hash: &str,
        name: &str,
        now: UnixMillis,
    ) -> Result<Created, StoreError> {
        let item = Item::from([
            ("pk".to_owned(), s(format!("APIKEY#{hash}"))),
            ("sk".to_owned(), s("APIKEY")),
            ("name".to_owned(), s(name)),
            ("created_at".to_owned(), n(now)),
        ]);
        Ok(if self.put_if_absent(item).await? {
            Created::Created
        } else {
            Created::AlreadyExists
        })
    }

    async fn claim_once(&self, key: &str, expires_at: UnixMillis) -> Result<bool, StoreError> {
        let item = Item::from([
            ("pk".to_owned(), s(format!("SEEN#{key}"))),
            ("sk".to_owned(), s("SEEN")),
            (TTL_ATTRIBUTE.to_owned(), n(ttl_seconds(expires_at))),
        ]);
        self.put_if_absent(item).await
    }

    async fn put_connection(
        &self,
        id: &str,
        state: &str,
        expires_at: UnixMillis,
    ) -> Result<(), StoreError> {
        // An update, not a put: subscriptions recorded before keep their list.
        self.update_item(format!("CONN#{id}"), "CONN")
            .update_expression("SET #state = :state, #exp = :exp, #ttl = :ttl")
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#exp", "expires_at")
            .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
            .expression_attribute_values(":state", s(state))
            .expression_attribute_values(":exp", n(expires_at))
            .expression_attribute_values(":ttl", n(ttl_seconds(expires_at)))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn get_connection(
        &self,
        id: &str,
        now: UnixMillis,
    ) -> Result<Option<String>, StoreError> {
        let Some(item) = self.get_item(format!("CONN#{id}"), "CONN").await? else {
            return Ok(None);
        };
        if get_n(&item, "expires_at")?.unwrap_or(0) <= now || !item.contains_key("state") {
            return Ok(None);
        }
        Ok(Some(get_s(&item, "state")?.to_owned()))
    }

    async fn delete_connection(&self, id: &str) -> Result<(), StoreError> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(format!("CONN#{id}")))
            .key("sk", s("CONN"))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await
            .map_err(unavailable)?;
        let topics = match out.attributes.as_ref().and_then(|item| item.get("topics")) {
            Some(AttributeValue::Ss(topics)) => topics.clone(),
            _ => Vec::new(),
        };
        for topic in topics {
            self.unsubscribe_item(id, &topic).await?;
        }
        Ok(())
    }

    async fn subscribe(
        &self,
        connection: &str,
        topic: &str,
        expires_at: UnixMillis,
    ) -> Result<(), StoreError> {
        // The connection lists its topics first, so that a delete that sees
        // the connection also finds this subscription.
        self.update_item(format!("CONN#{connection}"), "CONN")
            .update_expression("ADD #topics :topic SET #ttl = if_not_exists(#ttl, :ttl)")
            .expression_attribute_names("#topics", "topics")
            .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
            .expression_attribute_values(":topic", AttributeValue::Ss(vec![topic.to_owned()]))
            .expression_attribute_values(":ttl", n(ttl_seconds(expires_at)))
            .send()
            .await
            .map_err(unavailable)?;
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(format!("SUBS#{topic}")))
            .item("sk", s(connection))
            .item("expires_at", n(expires_at))
            .item(TTL_ATTRIBUTE, n(ttl_seconds(expires_at)))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn unsubscribe(&self, connection: &str, topic: &str) -> Result<(), StoreError> {
        self.unsubscribe_item(connection, topic).await?;
        self.update_item(format!("CONN#{connection}"), "CONN")
            .update_expression("DELETE #topics :topic")
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#topics", "topics")
            .expression_attribute_names("#pk", "pk")
            .expression_attribute_values(":topic", AttributeValue::Ss(vec![topic.to_owned()]))
            .send()
            .await
            .map(|_| ())
            .or_else(|err| {
                if is_condition_failure(&err) {
                    Ok(())
                } else {
                    Err(unavailable(err))
                }
            })
    }

    async fn subscribers(
        &self,
        topic: &str,
        now: UnixMillis,
        limit: u16,
    ) -> Result<Vec<String>, StoreError> {
        self.query_unexpired(format!("SUBS#{topic}"), now, limit)
            .await?
            .iter()
            .map(|item| Ok(get_s(item, "sk")?.to_owned()))
            .collect()
    }

    async fn put_media_node(&self, node: &MediaNode) -> Result<(), StoreError> {
        let json = serde_json::to_string(node)
            .map_err(|e| StoreError::Corrupt(format!("media node: {e}")))?;
        // Kept an hour past its heartbeat for operators; never offered then.
        let keep = node.heartbeat_until.saturating_add(3_600_000);
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(format!("MEDIANODE#{}", node.id)))
            .item("sk", s("NODE"))
            .item("gsi1pk", s("MEDIANODES"))
            .item("gsi1sk", s(&node.id))
            .item("node", s(json))
            .item("hb_until", n(node.heartbeat_until))
            .item(TTL_ATTRIBUTE, n(ttl_seconds(keep)))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn live_media_nodes(
        &self,
        now: UnixMillis,
        limit: u16,
    ) -> Result<Vec<MediaNode>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(GSI1)
            .key_condition_expression("#p = :p")
            .filter_expression("#hb > :now")
            .expression_attribute_names("#p", "gsi1pk")
            .expression_attribute_names("#hb", "hb_until")
            .expression_attribute_values(":p", s("MEDIANODES"))
            .expression_attribute_values(":now", n(now))
            .limit(i32::from(limit.clamp(1, crate::MAX_PAGE)))
            .send()
            .await
            .map_err(unavailable)?;
        out.items
            .unwrap_or_default()
            .iter()
            .map(|item| {
                serde_json::from_str(get_s(item, "node")?)
                    .map_err(|e| StoreError::Corrupt(format!("media node: {e}")))
            })
            .collect()
    }

    async fn api_key_exists(&self, hash: &str) -> Result<bool, StoreError> {
        Ok(self
            .get_item(format!("APIKEY#{hash}"), "APIKEY")
            .await?
            .is_some())
    }

    async fn put_signin(
        &self,
        hash: &str,
        advisor: &AdvisorId,
        expires_at: UnixMillis,
    ) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(format!("SIGNIN#{hash}")))
            .item("sk", s("SIGNIN"))
            .item("advisor", s(advisor.as_str()))
            .item("expires_at", n(expires_at))
            .item(TTL_ATTRIBUTE, n(ttl_seconds(expires_at)))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn take_signin(
        &self,
        hash: &str,
        now: UnixMillis,
    ) -> Result<Option<AdvisorId>, StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(format!("SIGNIN#{hash}")))
            .key("sk", s("SIGNIN"))
            .condition_expression("attribute_exists(#pk) AND #e > :now")
            .expression_attribute_names("#pk", "pk")
            .expression_attribute_names("#e", "expires_at")
            .expression_attribute_values(":now", n(now))
            .return_values(ReturnValue::AllOld)
            .send()
            .await;
        match result {
            Ok(out) => {
                let item = out
                    .attributes
                    .ok_or_else(|| StoreError::Corrupt("no attributes returned".into()))?;
                let advisor = AdvisorId::parse(get_s(&item, "advisor")?)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                Ok(Some(advisor))
            }
            Err(err) if is_condition_failure(&err) => Ok(None),
            Err(err) => Err(unavailable(err)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unprocessed_batches_back_off_with_full_jitter() {
        let ms = |attempt, jitter| resend_backoff(attempt, jitter).as_millis();
        assert_eq!(ms(1, 1.0), 25);
        assert_eq!(ms(2, 1.0), 50);
        assert_eq!(ms(4, 1.0), 200);
        assert_eq!(ms(7, 1.0), 1600);
        assert_eq!(ms(8, 1.0), 2000, "capped at 2 s");
        assert_eq!(ms(40, 1.0), 2000);
        assert_eq!(ms(3, 0.5), 50);
        assert_eq!(ms(3, 0.0), 0);
        let draws: Vec<f64> = (0..64).map(|_| jitter()).collect();
        assert!(draws.iter().all(|j| (0.0..1.0).contains(j)), "{draws:?}");
        let mean = draws.iter().sum::<f64>() / 64.0;
        assert!((0.2..0.8).contains(&mean), "spread over 0..1: {draws:?}");
    }

    #[test]
    fn cursors_only_come_back_for_their_partition() {
        let key: Item = [
            ("pk", "ADVISOR#a"),
            ("sk", "PROFILE"),
            ("gsi1pk", "ADVISORS"),
            ("gsi1sk", "a"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), s(v)))
        .collect();
        let cursor = encode_cursor(Some(&key)).expect("encodable");
        assert_eq!(
            decode_cursor(Some(&cursor), "ADVISORS").ok().flatten(),
            Some(key)
        );
        assert!(matches!(
            decode_cursor(Some(&cursor), "CARDS"),
            Err(StoreError::BadCursor)
        ));
        assert!(matches!(
            decode_cursor(Some("!!"), "ADVISORS"),
            Err(StoreError::BadCursor)
        ));
        let extra = b64url(br#"{"pk":"a","sk":"b","gsi1pk":"ADVISORS","gsi1sk":"c","x":"d"}"#);
        assert!(matches!(
            decode_cursor(Some(&extra), "ADVISORS"),
            Err(StoreError::BadCursor)
        ));
        let long = "A".repeat(MAX_CURSOR_LEN + 1);
        assert!(matches!(
            decode_cursor(Some(&long), "ADVISORS"),
            Err(StoreError::BadCursor)
        ));
    }
}
