//! Setting an advisor's presence: one path for every source (the console,
//! an admin, the company's presence system), and what follows a change.

use crate::App;
use crate::Push;
use crate::contact::Participant;
use crate::http_util::ApiError;
use livecard_core::event::EventName;
use livecard_core::ids::AdvisorId;
use livecard_core::presence::{PresenceState, PresenceUpdate};
use livecard_core::signaling::ServerMessage;
use livecard_store::{PresenceWrite, Store};

impl<S: Store, P: Push> App<S, P> {
    /// Sets an advisor's presence, whoever asks (the console, an admin, the
    /// company's presence system, `livecard up` seeding): the one path.
    /// When the update took (it is newer than what is stored), a
    /// `presence_changed` event is recorded per channel, the advisor's
    /// consoles are told, and someone waiting in line may be served.
    pub async fn set_presence(
        &self,
        advisor: &AdvisorId,
        update: &PresenceUpdate,
    ) -> Result<PresenceWrite, ApiError> {
        let write = self.store.update_presence(advisor, update).await?;
        self.advisors.invalidate(advisor);
        if write == PresenceWrite::Applied {
            for (channel, state) in &update.states {
                let mut event = self.new_event(EventName::PresenceChanged);
                event.advisor = Some(advisor.clone());
                event.channel = Some(*channel);
                event = event
                    .with_prop("state", state.as_str())
                    .with_prop("source", update.source.as_str());
                self.record(event).await;
            }
            self.presence_changed(advisor).await;
        }
        Ok(write)
    }

    /// Forgets an advisor's presence (every source's state and version),
    /// so that the next update applies; false for an unknown advisor.
    pub async fn reset_presence(&self, advisor: &AdvisorId) -> Result<bool, ApiError> {
        let found = self.store.reset_presence(advisor).await?;
        self.advisors.invalidate(advisor);
        if found {
            let mut event = self.new_event(EventName::PresenceChanged);
            event.advisor = Some(advisor.clone());
            event = event
                .with_prop("state", PresenceState::Offline.as_str())
                .with_prop("source", "reset");
            self.record(event).await;
            self.presence_changed(advisor).await;
        }
        Ok(found)
    }

    /// The `presence` message of an advisor: what visitors see now.
    pub async fn presence_message(&self, advisor: &AdvisorId) -> Option<ServerMessage> {
        let record = self.store.get_advisor(advisor).await.ok()??;
        let view = crate::api::advisors::PublicAdvisor::of(&record, self.now());
        Some(ServerMessage::Presence {
            advisor: advisor.clone(),
            presence: view.presence,
            status: view.status,
        })
    }

    /// An advisor's presence changed: their consoles hear it, and coming
    /// online may serve someone waiting in line.
    async fn presence_changed(&self, advisor: &AdvisorId) {
        if let Some(message) = self.presence_message(advisor).await {
            self.push
                .send(&Participant::Advisor(advisor.clone()), &message.to_json())
                .await;
        }
        self.serve_queues(advisor).await;
    }
}
