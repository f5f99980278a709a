//! Setting an advisor's presence: one path for every source (the console,
//! an admin, the company's presence system), and what follows a change.

use crate::App;
use crate::Push;
use crate::contact::Participant;
use crate::http_util::ApiError;
use livecard_core::UnixMillis;
use livecard_core::channel::Channel;
use livecard_core::event::EventName;
use livecard_core::ids::AdvisorId;
use livecard_core::presence::{PresenceSource, PresenceState, PresenceUpdate, Signal};

/// The longest a livecard call keeps an advisor busy without its end.
pub const CALL_PRESENCE_MS: u64 = 4 * 3_600_000;
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
        let write = self
            .store
            .update_presence(advisor, update, &self.config.presence, self.now())
            .await?;
        self.advisors.invalidate(advisor);
        if let PresenceWrite::Applied(change) = write {
            // One event per channel whose effective presence changed.
            for channel in Channel::ALL {
                let state = change.after.get(channel);
                if state == change.before.get(channel) {
                    continue;
                }
                let mut event = self.new_event(EventName::PresenceChanged);
                event.advisor = Some(advisor.clone());
                event.channel = Some(channel);
                event = event
                    .with_prop("state", state.as_str())
                    .with_prop("source", update.source.as_str());
                self.record(event).await;
            }
            // Nothing visible changed (a connector keeping its entry alive,
            // a source under a manual state): no push, no queue to serve.
            if change.before != change.after {
                self.presence_changed(advisor).await;
            }
        }
        Ok(write)
    }

    /// The advisor is in a livecard audio or video call (or no longer):
    /// the `call` source makes their audio and video busy while it lasts,
    /// and connectors tell the company's systems (Teams' "in a call").
    /// A call that never ends cleanly (a host gone) stops counting after
    /// [`CALL_PRESENCE_MS`].
    pub async fn call_presence(&self, advisor: &AdvisorId, in_call: bool, now: UnixMillis) {
        let signal = if in_call {
            Signal::OnCall
        } else {
            Signal::None
        };
        let update = PresenceUpdate {
            source: PresenceSource::Call,
            states: vec![(Channel::Audio, signal), (Channel::Video, signal)],
            version: now,
            expires_at: Some(now.saturating_add(CALL_PRESENCE_MS)),
            heartbeat_until: None,
        };
        // Boxed: setting presence may serve a queue, whose session may
        // start a call, which comes back here.
        if let Err(err) = Box::pin(self.set_presence(advisor, &update)).await {
            tracing::warn!(error = %err.message, "call presence not stored");
        }
    }

    /// Until when a manual state set at `now` lasts: as asked, or to the
    /// end of the working day in the deployment's time zone. The caller
    /// passes the same `now` to the update (two clock reads could differ).
    pub fn manual_until(&self, requested: Option<UnixMillis>, now: UnixMillis) -> UnixMillis {
        requested.unwrap_or_else(|| {
            self.config
                .presence
                .end_of_working_day(now, &self.config.time_zone)
        })
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
        let view =
            crate::api::advisors::PublicAdvisor::of(&record, &self.config.presence, self.now());
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
