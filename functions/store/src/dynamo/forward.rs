//! The forwarding outbox: destinations and deliveries.

use super::*;
use crate::{ForwardStore, StoredDestination};
use livecard_core::forward::{Delivery, DeliveryState, DestinationState, Job};
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

impl ForwardStore for DynamoStore {
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
        let mut items = Vec::with_capacity(deliveries.len());
        for delivery in deliveries {
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
            let key = keys::delivery(&delivery.destination, delivery.event_id());
            items.push(expiring(item(key, keys::DELIVERY, attributes), expires_at));
        }
        let results =
            futures_util::future::join_all(items.into_iter().map(|i| self.put_if_absent(i))).await;
        results.into_iter().try_for_each(|r| r.map(|_| ()))
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
        let out = self
            .index_query(partition)
            .key_condition_expression("#p = :p AND #s <= :due")
            .expression_attribute_names("#s", "gsi1sk")
            .expression_attribute_values(":due", s(format!("{now:013}#~")))
            .limit(i32::from(limit.clamp(1, crate::MAX_PAGE)))
            .send()
            .await
            .map_err(unavailable)?;
        out.items
            .unwrap_or_default()
            .iter()
            .map(delivery_of)
            .collect()
    }

    async fn update_delivery(
        &self,
        delivery: &Delivery,
        read_attempts: u32,
    ) -> Result<bool, StoreError> {
        let key = keys::delivery(&delivery.destination, delivery.event_id());
        let mut set = vec!["#st = :st", "#at = :at", "#nx = :nx"];
        let mut remove = Vec::new();
        let mut update = self
            .update_item(key, keys::DELIVERY)
            .condition_expression("#at = :read")
            .expression_attribute_names("#st", "state")
            .expression_attribute_names("#at", "attempts")
            .expression_attribute_names("#nx", "next_at")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#gp", "gsi1pk")
            .expression_attribute_names("#gs", "gsi1sk")
            .expression_attribute_values(":st", s(delivery.state.as_str()))
            .expression_attribute_values(":at", n(u64::from(delivery.attempts)))
            .expression_attribute_values(":nx", n(delivery.next_at))
            .expression_attribute_values(":read", n(u64::from(read_attempts)));
        match &delivery.last_status {
            Some(status) => {
                set.push("#status = :status");
                let status: String = status
                    .chars()
                    .take(livecard_core::forward::MAX_STATUS_LEN)
                    .collect();
                update = update.expression_attribute_values(":status", s(status));
            }
            None => remove.push("#status"),
        }
        match keys::deliveries(delivery.state, &delivery.destination) {
            Some(partition) => {
                set.push("#gp = :gp");
                set.push("#gs = :gs");
                update = update
                    .expression_attribute_values(":gp", s(partition))
                    .expression_attribute_values(":gs", s(index_sort(delivery)));
            }
            None => remove.extend(["#gp", "#gs"]),
        }
        let mut expression = format!("SET {}", set.join(", "));
        if !remove.is_empty() {
            expression.push_str(&format!(" REMOVE {}", remove.join(", ")));
        }
        let result = update.update_expression(expression).send().await;
        Ok(conditional(result)?.is_some())
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
