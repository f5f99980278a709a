//! Saved replies: one partition per scope, one item per shortcut.

use super::*;
use crate::ReplyStore;
use livecard_core::replies::{MAX_REPLIES, ReplyScope, SavedReply};

impl ReplyStore for DynamoStore {
    async fn list_replies(&self, scope: &ReplyScope) -> Result<Vec<SavedReply>, StoreError> {
        let mut replies = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
                .expression_attribute_names("#pk", "pk")
                .expression_attribute_names("#sk", "sk")
                .expression_attribute_values(":pk", s(keys::replies(&scope.key())))
                .expression_attribute_values(":prefix", s(keys::REPLY_PREFIX))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(unavailable)?;
            for item in out.items.unwrap_or_default() {
                replies.push(json::<SavedReply>(&item, "reply")?);
            }
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(replies),
            }
        }
    }

    async fn put_reply(&self, scope: &ReplyScope, reply: &SavedReply) -> Result<bool, StoreError> {
        let pk = keys::replies(&scope.key());
        let sk = keys::reply(&reply.shortcut);
        if self.get_item(pk.clone(), &sk).await?.is_none() {
            let held = self.list_replies(scope).await?.len();
            if held >= MAX_REPLIES {
                return Ok(false);
            }
        }
        self.put(item(pk, &sk, [("reply", s(to_json(reply)?))]))
            .await?;
        Ok(true)
    }

    async fn delete_reply(&self, scope: &ReplyScope, shortcut: &str) -> Result<bool, StoreError> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(keys::replies(&scope.key())))
            .key("sk", s(keys::reply(shortcut)))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(out.attributes.is_some_and(|a| !a.is_empty()))
    }
}
