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
        self.connectors.links_changed();
        Ok(())
    }

    /// An advisor for a visitor page, through the read cache.
    pub async fn advisor_for_visitor(
        &self,
        id: &AdvisorId,
    ) -> Result<Option<AdvisorRecord>, livecard_store::StoreError> {
        self.advisors
            .get_or_load(id, self.now(), self.store.get_advisor(id))
            .await
    }
}
