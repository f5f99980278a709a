//! The advisor directory: saving advisors, and reading them for visitor
//! pages through the read cache.

use crate::App;
use crate::Push;
use crate::http_util::ApiError;
use livecard_core::advisor::Advisor;
use livecard_core::ids::AdvisorId;
use livecard_store::{AdvisorRecord, Store};

impl<S: Store, P: Push> App<S, P> {
    /// Creates or replaces an advisor.
    pub async fn save_advisor(&self, advisor: &Advisor) -> Result<(), ApiError> {
        self.store.put_advisor(advisor).await?;
        self.advisors.invalidate(&advisor.id);
        Ok(())
    }

    /// An advisor for a visitor page, through the read cache.
    pub async fn advisor_for_visitor(
        &self,
        id: &AdvisorId,
    ) -> Result<Option<AdvisorRecord>, livecard_store::StoreError> {
        let now = self.now();
        if let Some(record) = self.advisors.get(id, now) {
            return Ok(record);
        }
        let record = self.store.get_advisor(id).await?;
        self.advisors.put(id.clone(), record.clone(), now);
        Ok(record)
    }
}
