//! Admin API keys, sign-in tokens and ids claimed once.

use super::*;
use crate::AuthStore;

impl AuthStore for DynamoStore {
    async fn claim_once(&self, key: &str, expires_at: UnixMillis) -> Result<bool, StoreError> {
        let seen = expiring(item(keys::seen(key), keys::SEEN, []), expires_at);
        self.put_if_absent(seen).await
    }

    async fn put_api_key(
        &self,
        hash: &str,
        name: &str,
        now: UnixMillis,
    ) -> Result<Created, StoreError> {
        let attributes = [("name", s(name)), ("created_at", n(now))];
        self.create(item(keys::api_key(hash), keys::APIKEY, attributes))
            .await
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
        let attributes = [
            ("advisor", s(advisor.as_str())),
            ("expires_at", n(expires_at)),
        ];
        let signin = item(keys::signin(hash), keys::SIGNIN, attributes);
        self.put(expiring(signin, expires_at)).await
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
        let Some(out) = conditional(result)? else {
            return Ok(None);
        };
        let taken = returned(out.attributes)?;
        let advisor = AdvisorId::parse(get_s(&taken, "advisor")?)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        Ok(Some(advisor))
    }
}
