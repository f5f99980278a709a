//! A visitor's right of access and to erasure: their sessions by the index
//! entry each gets at creation, and deleting what hangs off a session.

use super::*;
use crate::PrivacyStore;
use livecard_core::ids::{DestinationId, EventId};
use std::collections::HashSet;

impl DynamoStore {
    /// Deletes items by key, 25 a request, until none is left unprocessed.
    async fn delete_keys(&self, keys: Vec<Item>) -> Result<u64, StoreError> {
        use aws_sdk_dynamodb::types::{DeleteRequest, WriteRequest};
        let count = keys.len() as u64;
        for chunk in keys.chunks(25) {
            let mut requests: Vec<WriteRequest> = chunk
                .iter()
                .map(|key| {
                    DeleteRequest::builder()
                        .set_key(Some(key.clone()))
                        .build()
                        .map(|d| WriteRequest::builder().delete_request(d).build())
                        .map_err(|e| StoreError::Unavailable(e.to_string()))
                })
                .collect::<Result<_, _>>()?;
            for attempt in 0..8u32 {
                if requests.is_empty() {
                    break;
                }
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(self.table.clone(), requests)
                    .send()
                    .await
                    .map_err(unavailable)?;
                requests = out
                    .unprocessed_items
                    .and_then(|mut u| u.remove(&self.table))
                    .unwrap_or_default();
                if !requests.is_empty() {
                    self.sleep(resend_backoff(attempt + 1, jitter())).await;
                }
            }
            if !requests.is_empty() {
                return Err(StoreError::Unavailable("deletes left unprocessed".into()));
            }
        }
        Ok(count)
    }
}

fn key(pk: String, sk: impl Into<String>) -> Item {
    Item::from([("pk".to_owned(), s(pk)), ("sk".to_owned(), s(sk))])
}

impl PrivacyStore for DynamoStore {
    async fn visitor_sessions(&self, visitor: &str) -> Result<Vec<String>, StoreError> {
        let items = self
            .partition_keys(&keys::visitor(visitor), keys::VISITOR_SESSION_PREFIX)
            .await?;
        Ok(items
            .iter()
            .filter_map(|item| {
                get_s(item, "sk")
                    .ok()?
                    .strip_prefix(keys::VISITOR_SESSION_PREFIX)
                    .map(str::to_owned)
            })
            .collect())
    }

    async fn get_offline_message(
        &self,
        session: &str,
    ) -> Result<Option<livecard_core::offline::OfflineMessage>, StoreError> {
        match self
            .get_item(keys::offline(&session), keys::OFFLINE)
            .await?
        {
            Some(item) => Ok(Some(json(&item, "message")?)),
            None => Ok(None),
        }
    }

    async fn erase_session(&self, session: &str, visitor: &str) -> Result<u64, StoreError> {
        let mut keys = self.partition_keys(&keys::session(session), "").await?;
        keys.push(key(keys::offline(&session), keys::OFFLINE));
        keys.push(key(keys::visitor(visitor), keys::visitor_session(session)));
        let partition = keys.len() as u64 - 2;
        self.delete_keys(keys).await?;
        Ok(partition)
    }

    async fn erase_events(
        &self,
        day: &str,
        sessions: &HashSet<String>,
    ) -> Result<Vec<EventId>, StoreError> {
        let mut erased = Vec::new();
        let mut page = PageRequest::first(crate::MAX_PAGE);
        loop {
            let (items, next) = self.query_gsi(&keys::events_of(day), &page, true).await?;
            for item in items {
                let of_session =
                    |e: &Event| e.session.as_ref().is_some_and(|s| sessions.contains(s));
                let pk = get_s(&item, "pk")?.to_owned();
                let sk = get_s(&item, "sk")?.to_owned();
                if item.contains_key("events") {
                    let events: Vec<Event> = json(&item, "events")?;
                    let (gone, kept): (Vec<Event>, Vec<Event>) =
                        events.into_iter().partition(of_session);
                    if gone.is_empty() {
                        continue;
                    }
                    erased.extend(gone.into_iter().map(|e| e.id));
                    if kept.is_empty() {
                        self.delete_keys(vec![key(pk, sk)]).await?;
                    } else {
                        let mut rewritten = item.clone();
                        rewritten.insert("events".into(), s(to_json(&kept)?));
                        rewritten.insert("count".into(), n(kept.len() as u64));
                        self.put(rewritten).await?;
                    }
                } else {
                    let event: Event = json(&item, "body")?;
                    if of_session(&event) {
                        erased.push(event.id);
                        self.delete_keys(vec![key(pk, sk)]).await?;
                    }
                }
            }
            match next {
                Some(cursor) => page.cursor = Some(cursor),
                None => return Ok(erased),
            }
        }
    }

    async fn erase_deliveries(
        &self,
        destination: &DestinationId,
        events: &[EventId],
    ) -> Result<u64, StoreError> {
        let mut found = Vec::new();
        for event in events {
            let pk = keys::delivery(destination, event);
            if self.get_item(pk.clone(), keys::DELIVERY).await?.is_some() {
                found.push(key(pk, keys::DELIVERY));
            }
        }
        self.delete_keys(found).await
    }

    async fn mark_erased(
        &self,
        sessions: &[String],
        expires_at: UnixMillis,
    ) -> Result<(), StoreError> {
        for session in sessions {
            let mark = item(keys::erased(session), keys::META, [("at", n(expires_at))]);
            self.put(expiring(mark, expires_at)).await?;
        }
        Ok(())
    }

    async fn erased_sessions(&self, sessions: &[String]) -> Result<HashSet<String>, StoreError> {
        let unique: HashSet<&String> = sessions.iter().collect();
        let mut erased = HashSet::new();
        let unique: Vec<&String> = unique.into_iter().collect();
        for chunk in unique.chunks(100) {
            let mut wanted = aws_sdk_dynamodb::types::KeysAndAttributes::builder();
            for session in chunk {
                wanted = wanted.keys(key(keys::erased(session), keys::META));
            }
            let mut request = Some(
                wanted
                    .projection_expression("pk")
                    .build()
                    .map_err(|e| StoreError::Unavailable(e.to_string()))?,
            );
            let mut attempt = 0u32;
            while let Some(keys_and_attributes) = request.take() {
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(self.table.clone(), keys_and_attributes)
                    .send()
                    .await
                    .map_err(unavailable)?;
                for item in out
                    .responses
                    .and_then(|mut r| r.remove(&self.table))
                    .unwrap_or_default()
                {
                    if let Some(session) = get_s(&item, "pk")?.strip_prefix("ERASED#") {
                        erased.insert(session.to_owned());
                    }
                }
                request = out
                    .unprocessed_keys
                    .and_then(|mut u| u.remove(&self.table))
                    .filter(|k| !k.keys().is_empty());
                attempt += 1;
                if request.is_some() {
                    if attempt > 8 {
                        return Err(StoreError::Unavailable("reads left unprocessed".into()));
                    }
                    self.sleep(resend_backoff(attempt + 1, jitter())).await;
                }
            }
        }
        Ok(erased)
    }

    async fn forget_visitor(&self, visitor: &str) -> Result<(), StoreError> {
        self.delete_keys(vec![key(keys::visitor(visitor), keys::LAST)])
            .await
            .map(|_| ())
    }
}
