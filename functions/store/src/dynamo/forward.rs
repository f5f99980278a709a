//! The forwarding outbox: destinations and deliveries.

use super::*;
use crate::{ForwardStore, StoredDestination};
use livecard_core::forward::{Delivery, DeliveryState, DestinationState, Job, Parcel};
use livecard_core::ids::{DestinationId, EventId};

fn state_json(state: &DestinationState) -> Result<String, StoreError> {
    to_json(state)
}

fn destination_of(item: &Item) -> Result<StoredDestination, StoreError> {
    Ok(StoredDestination {
        id: DestinationId::parse(get_s(item, "id")?)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
        kind: get_s(item, "kind")?.to_owned(),
        sealed: get_s(item, "sealed")?.to_owned(),
        state: json(item, "state")?,
    })
}

fn state_of(text: &str) -> Result<DeliveryState, StoreError> {
    Ok(match text {
        "pending" => DeliveryState::Pending,
        "done" => DeliveryState::Done,
        "dead" => DeliveryState::Dead,
        "expired" => DeliveryState::Expired,
        other => return Err(StoreError::Corrupt(format!("delivery state {other}"))),
    })
}

fn delivery_of(item: &Item) -> Result<Delivery, StoreError> {
    let job: Job = json(item, "job")?;
    Ok(Delivery {
        destination: DestinationId::parse(get_s(item, "destination")?)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
        job,
        state: state_of(get_s(item, "state")?)?,
        attempts: get_n(item, "attempts")?.unwrap_or(0) as u32,
        next_at: get_n(item, "next_at")?.unwrap_or(0),
        last_status: item.get("status").and_then(|v| v.as_s().ok()).cloned(),
    })
}

/// The index position of a delivery: its due time (pending) or when it was
/// settled, then the event id.
fn index_sort(delivery: &Delivery) -> String {
    format!("{:013}#{}", delivery.next_at, delivery.event_id())
}

/// The update of a delivery read with `read` attempts to `delivery`'s
/// state: expression, names and values (the condition is `#at = :read`).
fn delivery_update(
    delivery: &Delivery,
    read: u32,
) -> (
    String,
    HashMap<String, String>,
    HashMap<String, AttributeValue>,
) {
    let mut names = HashMap::from([
        ("#st".to_owned(), "state".to_owned()),
        ("#at".to_owned(), "attempts".to_owned()),
        ("#nx".to_owned(), "next_at".to_owned()),
        ("#status".to_owned(), "status".to_owned()),
    ]);
    let mut values = HashMap::from([
        (":st".to_owned(), s(delivery.state.as_str())),
        (":at".to_owned(), n(u64::from(delivery.attempts))),
        (":nx".to_owned(), n(delivery.next_at)),
        (":read".to_owned(), n(u64::from(read))),
    ]);
    let mut set = vec!["#st = :st", "#at = :at", "#nx = :nx"];
    let mut remove = Vec::new();
    match &delivery.last_status {
        Some(status) => {
            set.push("#status = :status");
            let status: String = status
                .chars()
                .take(livecard_core::forward::MAX_STATUS_LEN)
                .collect();
            values.insert(":status".to_owned(), s(status));
        }
        None => remove.push("#status"),
    }
    names.insert("#gp".to_owned(), "gsi1pk".to_owned());
    names.insert("#gs".to_owned(), "gsi1sk".to_owned());
    match keys::deliveries(delivery.state, &delivery.destination) {
        Some(partition) => {
            set.push("#gp = :gp");
            set.push("#gs = :gs");
            values.insert(":gp".to_owned(), s(partition));
            values.insert(":gs".to_owned(), s(index_sort(delivery)));
        }
        None => remove.extend(["#gp", "#gs"]),
    }
    let mut expression = format!("SET {}", set.join(", "));
    if !remove.is_empty() {
        expression.push_str(&format!(" REMOVE {}", remove.join(", ")));
    }
    (expression, names, values)
}

impl DynamoStore {
    /// The items of an index partition sorted by due time whose time has
    /// come by `now`, the earliest first.
    async fn due_in(
        &self,
        partition: String,
        now: UnixMillis,
        limit: u16,
    ) -> Result<Vec<Item>, StoreError> {
        let out = self
            .index_query(partition)
            .key_condition_expression("#p = :p AND #s <= :due")
            .expression_attribute_names("#s", "gsi1sk")
            .expression_attribute_values(":due", s(format!("{now:013}#~")))
            .limit(i32::from(limit.clamp(1, crate::MAX_PAGE)))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(out.items.unwrap_or_default())
    }

    /// A transaction's write of `item` unless one with its key exists.
    fn create_write(
        &self,
        item: Item,
    ) -> Result<aws_sdk_dynamodb::types::TransactWriteItem, StoreError> {
        let put = aws_sdk_dynamodb::types::Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", "pk")
            .build()
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        Ok(aws_sdk_dynamodb::types::TransactWriteItem::builder()
            .put(put)
            .build())
    }

    /// Writes each item whose condition holds, 100 to a transaction: a
    /// transaction that fails on some conditions is tried again without
    /// them (and after a conflict with another writer, again after a
    /// backoff). True for each write that was made.
    async fn transact_each(
        &self,
        writes: Vec<aws_sdk_dynamodb::types::TransactWriteItem>,
    ) -> Result<Vec<bool>, StoreError> {
        let mut made = vec![false; writes.len()];
        let indexed: Vec<(usize, aws_sdk_dynamodb::types::TransactWriteItem)> =
            writes.into_iter().enumerate().collect();
        for chunk in indexed.chunks(100) {
            let mut pending: Vec<(usize, aws_sdk_dynamodb::types::TransactWriteItem)> =
                chunk.to_vec();
            let mut attempts = 0;
            while !pending.is_empty() {
                attempts += 1;
                let result = self
                    .client
                    .transact_write_items()
                    .set_transact_items(Some(pending.iter().map(|(_, w)| w.clone()).collect()))
                    .send()
                    .await;
                match result {
                    Ok(_) => {
                        for (i, _) in pending.drain(..) {
                            made[i] = true;
                        }
                    }
                    Err(err) => {
                        let failed = failed_conditions(&err);
                        if failed.iter().any(|f| *f) {
                            pending = pending
                                .into_iter()
                                .enumerate()
                                .filter(|(pos, _)| !failed.get(*pos).copied().unwrap_or(false))
                                .map(|(_, w)| w)
                                .collect();
                        } else if attempts >= crate::aws::MAX_ATTEMPTS {
                            return Err(unavailable(err));
                        } else {
                            self.sleep(resend_backoff(attempts, jitter())).await;
                        }
                    }
                }
            }
        }
        Ok(made)
    }
}

fn parcel_of(item: &Item) -> Result<Parcel, StoreError> {
    let jobs: Vec<Job> = match item.get("jobs") {
        Some(_) => json(item, "jobs")?,
        None => Vec::new(),
    };
    Ok(Parcel {
        destination: DestinationId::parse(get_s(item, "destination")?)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
        id: EventId::parse(get_s(item, "first")?)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
        jobs,
        attempts: get_n(item, "attempts")?.unwrap_or(0) as u32,
        next_at: get_n(item, "next_at")?.unwrap_or(0),
        done: item.get("done").is_some(),
    })
}

impl ForwardStore for DynamoStore {
    async fn put_parcels(
        &self,
        deliveries: &[Delivery],
        expires_at: UnixMillis,
    ) -> Result<(), StoreError> {
        let now = deliveries.iter().map(|d| d.next_at).min().unwrap_or(0);
        let mut writes = Vec::new();
        for parcel in livecard_core::forward::parcels(deliveries, now) {
            let attributes = vec![
                ("destination", s(parcel.destination.as_str())),
                ("first", s(parcel.id.as_str())),
                ("jobs", s(to_json(&parcel.jobs)?)),
                ("count", n(parcel.jobs.len() as u64)),
                ("attempts", n(0)),
                ("next_at", n(parcel.next_at)),
                ("gsi1pk", s(keys::parcels(&parcel.destination))),
                ("gsi1sk", s(format!("{:013}#{}", parcel.next_at, parcel.id))),
            ];
            let key = keys::parcel(&parcel.destination, &parcel.id);
            writes.push(
                self.create_write(expiring(item(key, keys::PARCEL, attributes), expires_at))?,
            );
        }
        self.transact_each(writes).await.map(|_| ())
    }

    async fn due_parcels(
        &self,
        destination: &DestinationId,
        now: UnixMillis,
        limit: u16,
    ) -> Result<Vec<Parcel>, StoreError> {
        self.due_in(keys::parcels(destination), now, limit)
            .await?
            .iter()
            .map(parcel_of)
            .collect()
    }

    async fn update_parcels(&self, updates: &[(Parcel, u32)]) -> Result<Vec<bool>, StoreError> {
        use aws_sdk_dynamodb::types::{TransactWriteItem, Update};
        let mut writes = Vec::with_capacity(updates.len());
        for (parcel, read) in updates {
            let mut update = Update::builder()
                .table_name(&self.table)
                .key("pk", s(keys::parcel(&parcel.destination, &parcel.id)))
                .key("sk", s(keys::PARCEL))
                .condition_expression("#at = :read")
                .expression_attribute_names("#at", "attempts")
                .expression_attribute_names("#nx", "next_at")
                .expression_attribute_names("#gs", "gsi1sk")
                .expression_attribute_values(":at", n(u64::from(parcel.attempts)))
                .expression_attribute_values(":nx", n(parcel.next_at))
                .expression_attribute_values(":read", n(u64::from(*read)));
            update = if parcel.done {
                // Done: out of the index, its jobs dropped (they live on as
                // single deliveries where they need to).
                update
                    .update_expression(
                        "SET #at = :at, #nx = :nx, #done = :t REMOVE #gp, #gs, #jobs",
                    )
                    .expression_attribute_names("#done", "done")
                    .expression_attribute_names("#gp", "gsi1pk")
                    .expression_attribute_names("#jobs", "jobs")
                    .expression_attribute_values(":t", AttributeValue::Bool(true))
            } else {
                update
                    .update_expression("SET #at = :at, #nx = :nx, #gs = :gs")
                    .expression_attribute_values(
                        ":gs",
                        s(format!("{:013}#{}", parcel.next_at, parcel.id)),
                    )
            };
            let update = update
                .build()
                .map_err(|e| StoreError::Unavailable(e.to_string()))?;
            writes.push(TransactWriteItem::builder().update(update).build());
        }
        self.transact_each(writes).await
    }

    async fn put_destination(&self, destination: &StoredDestination) -> Result<(), StoreError> {
        let attributes = [
            ("gsi1pk", s(keys::DESTINATIONS)),
            ("gsi1sk", s(destination.id.as_str())),
            ("id", s(destination.id.as_str())),
            ("kind", s(&destination.kind)),
            ("sealed", s(&destination.sealed)),
            ("state", s(state_json(&destination.state)?)),
        ];
        self.put(item(
            keys::destination(&destination.id),
            keys::DEST,
            attributes,
        ))
        .await
    }

    async fn set_destination_state(
        &self,
        id: &DestinationId,
        state: &DestinationState,
    ) -> Result<bool, StoreError> {
        let result = self
            .update_item(keys::destination(id), keys::DEST)
            .update_expression("SET #st = :st")
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#pk", "pk")
            .expression_attribute_names("#st", "state")
            .expression_attribute_values(":st", s(state_json(state)?))
            .send()
            .await;
        Ok(conditional(result)?.is_some())
    }

    async fn delete_destination(&self, id: &DestinationId) -> Result<bool, StoreError> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(keys::destination(id)))
            .key("sk", s(keys::DEST))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(out.attributes.is_some_and(|a| !a.is_empty()))
    }

    async fn list_destinations(&self) -> Result<Vec<StoredDestination>, StoreError> {
        let out = self
            .index_query(keys::DESTINATIONS)
            .key_condition_expression("#p = :p")
            .limit(i32::from(crate::MAX_PAGE))
            .send()
            .await
            .map_err(unavailable)?;
        out.items
            .unwrap_or_default()
            .iter()
            .map(destination_of)
            .collect()
    }

    async fn put_deliveries(
        &self,
        deliveries: &[Delivery],
        expires_at: UnixMillis,
    ) -> Result<(), StoreError> {
        let mut writes = Vec::with_capacity(deliveries.len());
        let mut seen = std::collections::HashSet::new();
        for delivery in deliveries {
            // One transaction may not touch an item twice: the first wins.
            if !seen.insert((delivery.destination.clone(), delivery.event_id().clone())) {
                continue;
            }
            let mut attributes = vec![
                ("destination", s(delivery.destination.as_str())),
                ("job", s(to_json(&delivery.job)?)),
                ("state", s(delivery.state.as_str())),
                ("attempts", n(u64::from(delivery.attempts))),
                ("next_at", n(delivery.next_at)),
                ("event_at", n(delivery.job.event.at)),
            ];
            if let Some(partition) = keys::deliveries(delivery.state, &delivery.destination) {
                attributes.push(("gsi1pk", s(partition)));
                attributes.push(("gsi1sk", s(index_sort(delivery))));
            }
            if let Some(status) = &delivery.last_status {
                let status: String = status
                    .chars()
                    .take(livecard_core::forward::MAX_STATUS_LEN)
                    .collect();
                attributes.push(("status", s(status)));
            }
            let key = keys::delivery(&delivery.destination, delivery.event_id());
            writes.push(
                self.create_write(expiring(item(key, keys::DELIVERY, attributes), expires_at))?,
            );
        }
        // A delivery that exists already is left as it is (made once).
        self.transact_each(writes).await.map(|_| ())
    }

    async fn due_deliveries(
        &self,
        destination: &DestinationId,
        now: UnixMillis,
        limit: u16,
    ) -> Result<Vec<Delivery>, StoreError> {
        let Some(partition) = keys::deliveries(DeliveryState::Pending, destination) else {
            return Ok(Vec::new());
        };
        self.due_in(partition, now, limit)
            .await?
            .iter()
            .map(delivery_of)
            .collect()
    }

    async fn update_delivery(
        &self,
        delivery: &Delivery,
        read_attempts: u32,
    ) -> Result<bool, StoreError> {
        let (expression, names, values) = delivery_update(delivery, read_attempts);
        let result = self
            .update_item(
                keys::delivery(&delivery.destination, delivery.event_id()),
                keys::DELIVERY,
            )
            .update_expression(expression)
            .condition_expression("#at = :read")
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .send()
            .await;
        Ok(conditional(result)?.is_some())
    }

    async fn update_deliveries(
        &self,
        updates: &[(Delivery, u32)],
    ) -> Result<Vec<bool>, StoreError> {
        use aws_sdk_dynamodb::types::{TransactWriteItem, Update};
        let mut writes = Vec::with_capacity(updates.len());
        for (delivery, read) in updates {
            let (expression, names, values) = delivery_update(delivery, *read);
            let update = Update::builder()
                .table_name(&self.table)
                .key(
                    "pk",
                    s(keys::delivery(&delivery.destination, delivery.event_id())),
                )
                .key("sk", s(keys::DELIVERY))
                .update_expression(expression)
                .condition_expression("#at = :read")
                .set_expression_attribute_names(Some(names))
                .set_expression_attribute_values(Some(values))
                .build()
                .map_err(|e| StoreError::Unavailable(e.to_string()))?;
            writes.push(TransactWriteItem::builder().update(update).build());
        }
        self.transact_each(writes).await
    }

    async fn get_delivery(
        &self,
        destination: &DestinationId,
        event: &EventId,
    ) -> Result<Option<Delivery>, StoreError> {
        self.get_item(keys::delivery(destination, event), keys::DELIVERY)
            .await?
            .as_ref()
            .map(delivery_of)
            .transpose()
    }

    async fn list_deliveries(
        &self,
        destination: &DestinationId,
        state: DeliveryState,
        page: &PageRequest,
    ) -> Result<Page<Delivery>, StoreError> {
        let Some(partition) = keys::deliveries(state, destination) else {
            return Ok(Page {
                items: Vec::new(),
                next: None,
            });
        };
        let forward = state == DeliveryState::Pending;
        let (items, next) = self.query_gsi(&partition, page, forward).await?;
        Ok(Page {
            items: items.iter().map(delivery_of).collect::<Result<_, _>>()?,
            next,
        })
    }

    async fn count_deliveries(
        &self,
        destination: &DestinationId,
        state: DeliveryState,
    ) -> Result<u64, StoreError> {
        use aws_sdk_dynamodb::types::Select;
        let Some(partition) = keys::deliveries(state, destination) else {
            return Ok(0);
        };
        let mut count = 0u64;
        if state == DeliveryState::Pending {
            // The deliveries in pending parcels.
            let mut start = None;
            loop {
                let out = self
                    .index_query(keys::parcels(destination))
                    .key_condition_expression("#p = :p")
                    .projection_expression("#c")
                    .expression_attribute_names("#c", "count")
                    .set_exclusive_start_key(start)
                    .send()
                    .await
                    .map_err(unavailable)?;
                for item in out.items.unwrap_or_default() {
                    count += get_n(&item, "count")?.unwrap_or(0);
                }
                match out.last_evaluated_key {
                    Some(key) if !key.is_empty() => start = Some(key),
                    _ => break,
                }
            }
        }
        let mut start = None;
        loop {
            let out = self
                .index_query(partition.clone())
                .key_condition_expression("#p = :p")
                .select(Select::Count)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(unavailable)?;
            count += out.count.max(0) as u64;
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(count),
            }
        }
    }
}
