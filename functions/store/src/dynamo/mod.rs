//! The store contract on DynamoDB (one table, one global secondary index).
//!
//! The key schema, the index, the TTL attribute and every access pattern are
//! written down in `docs/store.md`; keep the two in step.

use crate::{
    AdvisorRecord, Appended, ChatMessage, Claim, Created, EventWrite, IdentityImage, Load,
    MAX_CURSOR_LEN, NewMessage, Page, PageRequest, PresenceChange, PresenceWrite, Revocation,
    StoreError, StoredSession, keys,
};
pub use aws_sdk_dynamodb::Client;
pub use events::EVENTS_PER_ITEM;
use group_commit::GroupWriters;

mod advisors;
mod auth;
mod cards;
mod connections;
mod events;
mod forward;
mod group_commit;
mod media;
mod privacy;
mod replies;
mod sessions;
use aws_sdk_dynamodb::config::AsyncSleep as _;
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
use livecard_core::presence::{
    MAX_MANUAL_MS, Presence, PresencePolicy, PresenceSource, PresenceState, PresenceUpdate,
    PresenceView,
};
use livecard_core::session::{QueueKey, Session, Side};
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
#[cfg(feature = "native")]
pub fn local_client(endpoint: &str) -> Client {
    use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
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
        .retry_config(crate::aws::retry_config())
        // The embedded server shares the host's two cores with everything
        // else: an attempt may take longer than on DynamoDB.
        .timeout_config(crate::aws::timeout_config_with(Duration::from_secs(10)))
        .build();
    Client::from_conf(config)
}

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

/// A conditional write's outcome: `Some` with the answer when it was made,
/// `None` when its condition failed; any other failure is an error.
fn conditional<T, E: ProvideErrorMetadata + std::fmt::Debug, R: std::fmt::Debug>(
    result: Result<T, SdkError<E, R>>,
) -> Result<Option<T>, StoreError> {
    match result {
        Ok(out) => Ok(Some(out)),
        Err(err) if is_condition_failure(&err) => Ok(None),
        Err(err) => Err(unavailable(err)),
    }
}

/// Which writes of a cancelled transaction failed their condition, in
/// order (empty: it failed for another reason, such as a conflict).
fn failed_conditions<R>(
    err: &SdkError<aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError, R>,
) -> Vec<bool> {
    use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
    match err.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(e)) => e
            .cancellation_reasons()
            .iter()
            .map(|r| r.code() == Some("ConditionalCheckFailed"))
            .collect(),
        _ => Vec::new(),
    }
}

/// The attributes a write returned (`ReturnValues`).
fn returned(attributes: Option<Item>) -> Result<Item, StoreError> {
    attributes.ok_or_else(|| StoreError::Corrupt("no attributes returned".into()))
}

/// An item: its keys, then its attributes.
fn item<'a>(
    pk: String,
    sk: impl Into<String>,
    attributes: impl IntoIterator<Item = (&'a str, AttributeValue)>,
) -> Item {
    let mut item = Item::from([("pk".to_owned(), s(pk)), ("sk".to_owned(), s(sk))]);
    item.extend(attributes.into_iter().map(|(k, v)| (k.to_owned(), v)));
    item
}

/// The item, removed by DynamoDB's TTL after `at` (Unix ms).
fn expiring(mut item: Item, at: UnixMillis) -> Item {
    item.insert(TTL_ATTRIBUTE.to_owned(), n(ttl_seconds(at)));
    item
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
            self.sleep(Duration::from_millis(100)).await;
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
        self.sleep(resend_backoff(attempt, jitter())).await;
        Ok(())
    }

    /// Waits `duration` with the sleep the client was configured with (Tokio
    /// natively, the platform's timer in a Worker); without one, not at all.
    async fn sleep(&self, duration: Duration) {
        if let Some(sleep) = self.client.config().sleep_impl() {
            sleep.sleep(duration).await;
        }
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
            .key("pk", s(keys::subscribers(topic)))
            .key("sk", s(connection))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn advisor_exists(&self, id: &AdvisorId) -> Result<bool, StoreError> {
        Ok(self
            .get_item(keys::advisor(id), keys::PROFILE)
            .await?
            .is_some())
    }

    /// Every item of a partition whose sort key begins with `prefix` (empty:
    /// every item), all pages, consistent; keys only with `keys_only`.
    async fn partition_items(
        &self,
        pk: &str,
        prefix: &str,
        keys_only: bool,
    ) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let mut query = self
                .client
                .query()
                .table_name(&self.table)
                .expression_attribute_names("#pk", "pk")
                .expression_attribute_names("#sk", "sk")
                .expression_attribute_values(":pk", s(pk));
            // DynamoDB refuses an empty string in a key condition.
            query = if prefix.is_empty() {
                query.key_condition_expression("#pk = :pk")
            } else {
                query
                    .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
                    .expression_attribute_values(":prefix", s(prefix))
            };
            if keys_only {
                query = query.projection_expression("#pk, #sk");
            }
            let out = query
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(unavailable)?;
            items.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(items),
            }
        }
    }

    /// [`DynamoStore::partition_items`], keys only.
    async fn partition_keys(&self, pk: &str, prefix: &str) -> Result<Vec<Item>, StoreError> {
        self.partition_items(pk, prefix, true).await
    }

    /// Puts an item, replacing one with its key.
    async fn put(&self, item: Item) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
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
        Ok(conditional(result)?.is_some())
    }

    /// [`DynamoStore::put_if_absent`] as [`Created`].
    async fn create(&self, item: Item) -> Result<Created, StoreError> {
        Ok(if self.put_if_absent(item).await? {
            Created::Created
        } else {
            Created::AlreadyExists
        })
    }

    /// A query of one partition of the index (`#p` names `gsi1pk`, `:p`
    /// is `partition`); the caller adds the key condition.
    fn index_query(
        &self,
        partition: impl Into<String>,
    ) -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder {
        self.client
            .query()
            .table_name(&self.table)
            .index_name(GSI1)
            .expression_attribute_names("#p", "gsi1pk")
            .expression_attribute_values(":p", s(partition))
    }

    async fn query_gsi(
        &self,
        partition: &str,
        page: &PageRequest,
        forward: bool,
    ) -> Result<(Vec<Item>, Option<String>), StoreError> {
        let start = decode_cursor(page.cursor.as_deref(), partition)?;
        let out = self
            .index_query(partition)
            .key_condition_expression("#p = :p")
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
