//! WebSocket connections of a serverless host and their subscriptions.

use super::*;
use crate::{ConnectionStore, GraphSubscriptionStore};
use livecard_core::ids::AdvisorId;
use std::collections::BTreeMap;

impl ConnectionStore for DynamoStore {
    async fn put_connection(
        &self,
        id: &str,
        state: &str,
        expires_at: UnixMillis,
    ) -> Result<(), StoreError> {
        // An update, not a put: subscriptions recorded before keep their list.
        self.update_item(keys::connection(id), keys::CONN)
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
        let Some(item) = self.get_item(keys::connection(id), keys::CONN).await? else {
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
            .key("pk", s(keys::connection(id)))
            .key("sk", s(keys::CONN))
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
        self.update_item(keys::connection(connection), keys::CONN)
            .update_expression("ADD #topics :topic SET #ttl = if_not_exists(#ttl, :ttl)")
            .expression_attribute_names("#topics", "topics")
            .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
            .expression_attribute_values(":topic", AttributeValue::Ss(vec![topic.to_owned()]))
            .expression_attribute_values(":ttl", n(ttl_seconds(expires_at)))
            .send()
            .await
            .map_err(unavailable)?;
        let subscription = item(
            keys::subscribers(topic),
            connection,
            [("expires_at", n(expires_at))],
        );
        self.put(expiring(subscription, expires_at)).await
    }

    async fn unsubscribe(&self, connection: &str, topic: &str) -> Result<(), StoreError> {
        self.unsubscribe_item(connection, topic).await?;
        let result = self
            .update_item(keys::connection(connection), keys::CONN)
            .update_expression("DELETE #topics :topic")
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#topics", "topics")
            .expression_attribute_names("#pk", "pk")
            .expression_attribute_values(":topic", AttributeValue::Ss(vec![topic.to_owned()]))
            .send()
            .await;
        // A connection already gone has nothing to delete.
        conditional(result).map(|_| ())
    }

    async fn subscribers(
        &self,
        topic: &str,
        now: UnixMillis,
        limit: u16,
    ) -> Result<Vec<String>, StoreError> {
        self.query_unexpired(keys::subscribers(topic), now, limit)
            .await?
            .iter()
            .map(|item| Ok(get_s(item, "sk")?.to_owned()))
            .collect()
    }
}

impl GraphSubscriptionStore for DynamoStore {
    async fn put_graph_subscription(
        &self,
        id: &str,
        users: &BTreeMap<String, AdvisorId>,
        expires_at: UnixMillis,
    ) -> Result<(), StoreError> {
        let users = serde_json::to_string(users)
            .map_err(|e| StoreError::Corrupt(format!("graph subscription users: {e}")))?;
        let subscription = item(
            keys::graph_subscription(id),
            keys::META,
            [("users", s(&users)), ("expires_at", n(expires_at))],
        );
        self.put(expiring(subscription, expires_at)).await
    }

    async fn get_graph_subscription(
        &self,
        id: &str,
        now: UnixMillis,
    ) -> Result<Option<BTreeMap<String, AdvisorId>>, StoreError> {
        let Some(item) = self
            .get_item(keys::graph_subscription(id), keys::META)
            .await?
        else {
            return Ok(None);
        };
        if get_n(&item, "expires_at")?.unwrap_or(0) <= now {
            return Ok(None);
        }
        serde_json::from_str(get_s(&item, "users")?)
            .map(Some)
            .map_err(|e| StoreError::Corrupt(format!("graph subscription users: {e}")))
    }
}
