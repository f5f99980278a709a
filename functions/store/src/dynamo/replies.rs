//! Saved replies: one partition per scope, one item per shortcut.

use super::*;
use crate::ReplyStore;
use livecard_core::replies::{MAX_REPLIES, ReplyScope, SavedReply};

impl ReplyStore for DynamoStore {
    async fn list_replies(&self, scope: &ReplyScope) -> Result<Vec<SavedReply>, StoreError> {
        self.partition_items(&keys::replies(&scope.key()), keys::REPLY_PREFIX, false)
            .await?
            .iter()
            .map(|item| json::<SavedReply>(item, "reply"))
            .collect()
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
