//! Media nodes and their heartbeats.

use super::*;
use crate::MediaNodeStore;

impl MediaNodeStore for DynamoStore {
    async fn put_media_node(&self, node: &MediaNode) -> Result<(), StoreError> {
        let json = serde_json::to_string(node)
            .map_err(|e| StoreError::Corrupt(format!("media node: {e}")))?;
        // Kept an hour past its heartbeat for operators; never offered then.
        let keep = node.heartbeat_until.saturating_add(3_600_000);
        let attributes = [
            ("gsi1pk", s(keys::MEDIANODES)),
            ("gsi1sk", s(&node.id)),
            ("node", s(json)),
            ("hb_until", n(node.heartbeat_until)),
        ];
        let mut record = item(keys::media_node(&node.id), keys::NODE, attributes);
        // Whether it relays calls: what a lapsed heartbeat is looked for by.
        if !node.sessions.is_empty() {
            record.insert("calls".into(), n(node.sessions.len() as u64));
        }
        self.put(expiring(record, keep)).await
    }

    async fn live_media_nodes(
        &self,
        now: UnixMillis,
        limit: u16,
    ) -> Result<Vec<MediaNode>, StoreError> {
        self.media_nodes("#hb > :now", now, limit).await
    }

    async fn lost_media_nodes(
        &self,
        now: UnixMillis,
        limit: u16,
    ) -> Result<Vec<MediaNode>, StoreError> {
        self.media_nodes("#hb <= :now AND attribute_exists(calls)", now, limit)
            .await
    }

    async fn ice_servers(&self) -> Result<Option<livecard_core::media::OtherServers>, StoreError> {
        let Some(item) = self
            .get_item(keys::ICE_SERVERS.to_owned(), keys::CONFIG)
            .await?
        else {
            return Ok(None);
        };
        serde_json::from_str(get_s(&item, "servers")?)
            .map(Some)
            .map_err(|e| StoreError::Corrupt(format!("ice servers: {e}")))
    }

    async fn put_ice_servers(
        &self,
        servers: &livecard_core::media::OtherServers,
    ) -> Result<(), StoreError> {
        let json = serde_json::to_string(servers)
            .map_err(|e| StoreError::Corrupt(format!("ice servers: {e}")))?;
        let record = item(
            keys::ICE_SERVERS.to_owned(),
            keys::CONFIG,
            [("servers", s(json))],
        );
        self.put(record).await
    }
}

impl DynamoStore {
    /// The media nodes whose heartbeat (`#hb`) passes `filter` at `now`.
    async fn media_nodes(
        &self,
        filter: &str,
        now: UnixMillis,
        limit: u16,
    ) -> Result<Vec<MediaNode>, StoreError> {
        let out = self
            .index_query(keys::MEDIANODES)
            .key_condition_expression("#p = :p")
            .filter_expression(filter)
            .expression_attribute_names("#hb", "hb_until")
            .expression_attribute_values(":now", n(now))
            .limit(i32::from(limit.clamp(1, crate::MAX_PAGE)))
            .send()
            .await
            .map_err(unavailable)?;
        nodes(out.items)
    }
}

fn nodes(
    items: Option<Vec<std::collections::HashMap<String, AttributeValue>>>,
) -> Result<Vec<MediaNode>, StoreError> {
    items
        .unwrap_or_default()
        .iter()
        .map(|item| {
            serde_json::from_str(get_s(item, "node")?)
                .map_err(|e| StoreError::Corrupt(format!("media node: {e}")))
        })
        .collect()
}
