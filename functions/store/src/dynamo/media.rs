//! Media nodes and their heartbeats.

use super::*;
use crate::MediaNodeStore;

impl MediaNodeStore for DynamoStore {
    async fn put_media_node(&self, node: &MediaNode) -> Result<(), StoreError> {
        let json = serde_json::to_string(node)
            .map_err(|e| StoreError::Corrupt(format!("media node: {e}")))?;
        // Kept an hour past its heartbeat for operators; never offered then.
        let keep = node.heartbeat_until.saturating_add(3_600_000);
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(keys::media_node(&node.id)))
            .item("sk", s(keys::NODE))
            .item("gsi1pk", s(keys::MEDIANODES))
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
            .expression_attribute_values(":p", s(keys::MEDIANODES))
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
}
