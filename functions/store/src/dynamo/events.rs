//! Analytics events, one by one and in batches.

use super::*;
use crate::EventStore;

pub(super) fn event_item(event: &Event, expires_at: UnixMillis) -> Result<Item, StoreError> {
    let attributes = [
        ("gsi1pk", s(keys::events_of(&event.day()))),
        ("gsi1sk", s(format!("{:013}#{}", event.at, event.id))),
        ("name", s(event.name.as_str())),
        ("body", s(to_json(event)?)),
    ];
    let one = item(keys::event(&event.id), keys::EVENT, attributes);
    Ok(expiring(one, expires_at))
}

/// Events packed into one batch item: well under DynamoDB's 400 KB item
/// limit, as an event's props are at most 2 KB.
pub const EVENTS_PER_ITEM: usize = 100;

pub(super) fn event_batch_item(
    day: &str,
    events: &[&(Event, UnixMillis)],
) -> Result<Item, StoreError> {
    let first = events
        .first()
        .ok_or_else(|| StoreError::Corrupt("empty event batch".into()))?;
    let at = events.iter().map(|(e, _)| e.at).min().unwrap_or(first.0.at);
    let expires = events.iter().map(|(_, x)| *x).max().unwrap_or(first.1);
    let list: Vec<&Event> = events.iter().map(|(e, _)| e).collect();
    let attributes = [
        ("gsi1pk", s(keys::events_of(day))),
        ("gsi1sk", s(format!("{at:013}#{}", first.0.id))),
        ("count", n(list.len() as u64)),
        ("events", s(to_json(&list)?)),
    ];
    let batch = item(keys::event_batch(&first.0.id), keys::BATCH, attributes);
    Ok(expiring(batch, expires))
}

impl EventStore for DynamoStore {
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

    async fn put_events(
        &self,
        events: &[(Event, UnixMillis)],
    ) -> Result<Vec<(Event, UnixMillis)>, StoreError> {
        use aws_sdk_dynamodb::config::retry::RetryConfig;
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
        // Each request, with the events its item holds.
        let mut requests = Vec::new();
        for (day, entries) in &by_day {
            for chunk in entries.chunks(EVENTS_PER_ITEM) {
                let put = PutRequest::builder()
                    .set_item(Some(event_batch_item(day, chunk)?))
                    .build()
                    .map_err(|e| StoreError::Unavailable(e.to_string()))?;
                let pk = keys::event_batch(&chunk[0].0.id);
                requests.push((pk, WriteRequest::builder().put_request(put).build(), chunk));
            }
        }
        // One pass, no retries here: the caller's loop is the only one
        // (`EventStore::put_events`), so the SDK's own retries are off too.
        let mut unwritten = Vec::new();
        for (n, group) in requests.chunks(25).enumerate() {
            let items: Vec<WriteRequest> = group.iter().map(|(_, r, _)| r.clone()).collect();
            let result = self
                .client
                .batch_write_item()
                .request_items(self.table.clone(), items)
                .customize()
                .config_override(
                    aws_sdk_dynamodb::config::Builder::default()
                        .retry_config(RetryConfig::disabled()),
                )
                .send()
                .await;
            let out = match result {
                Ok(out) => out,
                Err(err) if n == 0 => return Err(unavailable(err)),
                Err(err) => {
                    // Earlier groups were written: hand back this one and
                    // the rest, for the caller's next attempt.
                    tracing::debug!(error = ?err, "event batch write failed part-way");
                    for (_, _, chunk) in &requests[n * 25..] {
                        unwritten.extend(chunk.iter().map(|e| (*e).clone()));
                    }
                    return Ok(unwritten);
                }
            };
            let left: Vec<String> = out
                .unprocessed_items
                .unwrap_or_default()
                .into_values()
                .flatten()
                .filter_map(|r| {
                    r.put_request
                        .and_then(|p| p.item.get("pk").and_then(|v| v.as_s().ok()).cloned())
                })
                .collect();
            for (pk, _, chunk) in group {
                if left.contains(pk) {
                    unwritten.extend(chunk.iter().map(|e| (*e).clone()));
                }
            }
        }
        Ok(unwritten)
    }

    async fn list_event_json(
        &self,
        day: &str,
        page: &PageRequest,
    ) -> Result<Page<String>, StoreError> {
        let (items, next) = self.query_gsi(&keys::events_of(day), page, true).await?;
        let mut arrays = Vec::with_capacity(items.len());
        for mut item in items {
            let text = |value: Option<AttributeValue>, name: &str| match value {
                Some(AttributeValue::S(text)) => Ok(text),
                _ => Err(StoreError::Corrupt(format!("event item without {name}"))),
            };
            if item.contains_key("events") {
                arrays.push(text(item.remove("events"), "events")?);
            } else {
                arrays.push(format!("[{}]", text(item.remove("body"), "body")?));
            }
        }
        Ok(Page {
            items: arrays,
            next,
        })
    }

    async fn list_events(&self, day: &str, page: &PageRequest) -> Result<Page<Event>, StoreError> {
        let (items, next) = self.query_gsi(&keys::events_of(day), page, true).await?;
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
}
