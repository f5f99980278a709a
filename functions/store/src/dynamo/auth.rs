//! Admin API keys, sign-in tokens and ids claimed once.

use super::*;
use crate::AuthStore;

impl AuthStore for DynamoStore {
    async fn claim_once(&self, key: &str, expires_at: UnixMillis) -> Result<bool, StoreError> {
        let item = Item::from([
            ("pk".to_owned(), s(keys::seen(key))),
            ("sk".to_owned(), s(keys::SEEN)),
            (TTL_ATTRIBUTE.to_owned(), n(ttl_seconds(expires_at))),
        ]);
        self.put_if_absent(item).await
    }

    async fn put_api_key(
        &self,
        hash: &str,
        name: &str,
        now: UnixMillis,
    ) -> Result<Created, StoreError> {
        let item = Item::from([
            ("pk".to_owned(), s(keys::api_key(hash))),
            ("sk".to_owned(), s(keys::APIKEY)),
            ("name".to_owned(), s(name)),
            ("created_at".to_owned(), n(now)),
        ]);
        Ok(if self.put_if_absent(item).await? {
            Created::Created
        } else {
            Created::AlreadyExists
        })
    }

    async fn api_key_exists(&self, hash: &str) -> Result<bool, StoreError> {
        Ok(self
            .get_item(keys::api_key(hash), keys::APIKEY)
            .await?
            .is_some())
    }

    async fn put_signin(
        &self,
        hash: &str,
        advisor: &AdvisorId,
        expires_at: UnixMillis,
    ) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(keys::signin(hash)))
            .item("sk", s(keys::SIGNIN))
            .item("advisor", s(advisor.as_str()))
            .item("expires_at", n(expires_at))
            .item(TTL_ATTRIBUTE, n(ttl_seconds(expires_at)))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn take_signin(
        &self,
        hash: &str,
        now: UnixMillis,
    ) -> Result<Option<AdvisorId>, StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(keys::signin(hash)))
            .key("sk", s(keys::SIGNIN))
            .condition_expression("attribute_exists(#pk) AND #e > :now")
            .expression_attribute_names("#pk", "pk")
            .expression_attribute_names("#e", "expires_at")
            .expression_attribute_values(":now", n(now))
            .return_values(ReturnValue::AllOld)
            .send()
            .await;
        match result {
            Ok(out) => {
                let item = out
                    .attributes
                    .ok_or_else(|| StoreError::Corrupt("no attributes returned".into()))?;
                let advisor = AdvisorId::parse(get_s(&item, "advisor")?)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                Ok(Some(advisor))
            }
            Err(err) if is_condition_failure(&err) => Ok(None),
            Err(err) => Err(unavailable(err)),
        }
    }
}
