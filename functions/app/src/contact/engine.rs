//! Carrying out contact sessions against the store and the push port.
//!
//! Every change to a session is read → core call → conditional replace
//! (retried from a fresh read when another request got there first). Only
//! after the replace succeeded are its effects carried out: rings pushed,
//! capacity released, events recorded, both sides told the new state.
//! Capacity is claimed with the store's atomic claim before a ring is
//! committed, and given back when the commit loses a race.

use super::{Participant, Push};
use crate::App;
use crate::api::advisors::PublicAdvisor;
use livecard_core::UnixMillis;
use livecard_core::channel::Channel;
use livecard_core::event::EventName;
use livecard_core::ids::AdvisorId;
use livecard_core::presence::{PresencePolicy, PresenceState, PresenceView};
use livecard_core::routing::{Candidate, queue_estimate, rank};
use livecard_core::session::{Effect, Input, Phase, QueueKey, Session, SessionError, Side};
use livecard_core::signaling::{AdvisorCard, ServerMessage};
use livecard_store::{AdvisorRecord, ChatMessage, Claim, PageRequest, Store, StoredSession};

/// How often a session update is retried when other requests keep
/// changing the session between read and write.
const MAX_ATTEMPTS: usize = 8;
/// The session length queue estimates assume.
pub const AVERAGE_SESSION_MS: u64 = 5 * 60_000;
/// The most advisors routing reads (pages of 100).
const MAX_ADVISORS: usize = 5_000;

#[derive(Debug, thiserror::Error)]
pub enum ContactError {
    #[error("no such session")]
    NotFound,
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error("the session is busy; try again")]
    Busy,
    /// A hand-over that cannot happen now, and why (`offline`,
    /// `at_capacity`, `nobody_free`, `unknown_advisor`).
    #[error("the colleague cannot take it: {0}")]
    Refused(&'static str),
    #[error(transparent)]
    Store(#[from] livecard_store::StoreError),
}

impl ContactError {
    pub fn code(&self) -> &'static str {
        match self {
            ContactError::NotFound => "not_found",
            ContactError::Session(SessionError::NotRinging) => "not_ringing",
            ContactError::Session(SessionError::NotYours) => "not_yours",
            ContactError::Session(SessionError::NotConnected) => "not_connected",
            ContactError::Session(SessionError::Ended) => "ended",
            ContactError::Session(SessionError::NotRoutable) => "not_routable",
            ContactError::Session(SessionError::NotOffered) => "not_offered",
            ContactError::Session(SessionError::NoCall) => "no_call",
            ContactError::Session(SessionError::ChannelNotOffered) => "channel_not_offered",
            ContactError::Session(SessionError::NotAllowed) => "not_allowed",
            ContactError::Busy => "busy",
            ContactError::Refused(code) => code,
            ContactError::Store(livecard_store::StoreError::BadCursor) => "bad_cursor",
            ContactError::Store(_) => "unavailable",
        }
    }
}

/// A committed change.
#[derive(Debug)]
pub struct Updated {
    pub session: StoredSession,
    /// Advisors whose capacity was given back: their queues can move.
    pub released: Vec<AdvisorId>,
}

/// What one routing attempt did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Routed {
    Ringing(AdvisorId),
    /// Nobody could take it: the visitor was offered choices, or keeps
    /// waiting in the queue.
    NobodyFree,
    /// The session is not waiting for routing (ringing, connected, ended).
    NotRoutable,
}

/// What a sweep did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SweepReport {
    pub due: usize,
    pub changed: usize,
    pub routed: usize,
    /// Calls told to move off a media node whose heartbeat lapsed.
    pub moved: usize,
}

impl<S: Store, P: Push> App<S, P> {
    /// Applies `change` to a session and commits it; see the module docs.
    pub async fn update_session<F>(&self, id: &str, mut change: F) -> Result<Updated, ContactError>
    where
        F: FnMut(&mut Session) -> Result<Vec<Effect>, SessionError>,
    {
        for _ in 0..MAX_ATTEMPTS {
            let Some(stored) = self.store.get_session(id).await? else {
                return Err(ContactError::NotFound);
            };
            let mut next = stored.clone();
            let effects = change(&mut next.session)?;
            if next.session == stored.session {
                return Ok(Updated {
                    session: next,
                    released: Vec::new(),
                });
            }
            next.version += 1;
            let deadline = next.session.next_deadline(&self.config.session);
            if self.store.replace_session(&next, deadline).await? {
                self.sessions.put(
                    next.id.clone(),
                    std::sync::Arc::new(next.clone()),
                    self.now(),
                );
                // Boxed: the effects' future is large (states, rings, events), and
                // it sits inside every caller's.
                let released = Box::pin(self.after_commit(&next, effects)).await;
                return Ok(Updated {
                    session: next,
                    released,
                });
            }
        }
        Err(ContactError::Busy)
    }

    /// A session for the chat path: from this instance's recent writes and
    /// reads when fresh (within `read_cache_ms`), else from the store.
    pub async fn session_cached(
        &self,
        id: &str,
    ) -> Result<std::sync::Arc<StoredSession>, ContactError> {
        let now = self.now();
        if let Some(stored) = self.sessions.get(&id.to_owned(), now) {
            return Ok(stored);
        }
        let stored = std::sync::Arc::new(
            self.store
                .get_session(id)
                .await?
                .ok_or(ContactError::NotFound)?,
        );
        self.sessions.put(id.to_owned(), stored.clone(), now);
        Ok(stored)
    }

    /// Ends a session (counting its chat messages first, for the events).
    pub async fn end_session(
        &self,
        id: &str,
        reason: livecard_core::session::EndReason,
    ) -> Result<Updated, ContactError> {
        let (total, last) = self.store.message_stats(id).await?;
        let now = self.now();
        let policy = self.config.session;
        self.update_session(id, |s| {
            let seen = Input::MessagesSeen {
                total,
                last_at: last,
            };
            s.handle_all([seen, Input::End(reason)], &policy, now)
        })
        .await
    }

    /// Stores a new session and routes it.
    /// Stores a new contact request. It is routed once the visitor's
    /// socket joins ([`App::visitor_joined`]): a bare request rings nobody.
    pub async fn create_session(&self, stored: &StoredSession) -> Result<(), ContactError> {
        let deadline = stored.session.next_deadline(&self.config.session);
        let keep = stored
            .session
            .created_at
            .saturating_add(self.config.transcript_retention_ms);
        self.store.create_session(stored, deadline, keep).await?;
        let mut event = self.session_event(EventName::ContactRequested, stored);
        event = event.with_prop("origin", stored.session.request.origin.as_str());
        if let Some(topic) = &stored.session.request.topic {
            event = event.with_prop("topic", topic.as_str());
        }
        self.record_with(event, Some(&self.session_context(stored)))
            .await;
        Ok(())
    }

    /// The visitor's socket joined the session: the first time, it is
    /// routed (rung, queued or offered choices). Returns the session as it
    /// is afterwards.
    pub async fn visitor_joined(
        &self,
        stored: StoredSession,
    ) -> Result<StoredSession, ContactError> {
        if stored.session.visitor_joined || stored.session.is_ended() {
            return Ok(stored);
        }
        let now = self.now();
        let policy = self.config.session;
        let updated = self
            .update_session(&stored.id, |s| s.handle(Input::VisitorJoins, &policy, now))
            .await?;
        if !matches!(updated.session.session.phase, Phase::Routing) {
            return Ok(updated.session);
        }
        self.route(&stored.id).await?;
        self.store
            .get_session(&stored.id)
            .await?
            .ok_or(ContactError::NotFound)
    }

    /// The advisors routing chooses from, with their presence and load.
    pub async fn routing_candidates(&self) -> Result<Vec<AdvisorRecord>, ContactError> {
        let mut all = Vec::new();
        let mut page = PageRequest::first(100);
        loop {
            let batch = self.store.list_advisors(&page).await?;
            all.extend(batch.items);
            match batch.next {
                Some(next) if all.len() < MAX_ADVISORS => page.cursor = Some(next),
                _ => return Ok(all),
            }
        }
    }

    /// Routes a session waiting for it: ranks the candidates, claims the
    /// first that has room (atomically) and rings them; when nobody has
    /// room, the visitor is offered choices or keeps their place in line.
    pub async fn route(&self, id: &str) -> Result<Routed, ContactError> {
        let now = self.now();
        let first = self
            .store
            .get_session(id)
            .await?
            .ok_or(ContactError::NotFound)?;
        // A request for one advisor (card link) reads only them.
        let records = match first.session.route_request().only {
            Some(only) => self.store.get_advisor(&only).await?.into_iter().collect(),
            None => self.routing_candidates().await?,
        };
        let mut read = Some(first);
        for _ in 0..MAX_ATTEMPTS {
            // The first attempt uses the read above; a retry reads again.
            let stored = match read.take() {
                Some(stored) => stored,
                None => self
                    .store
                    .get_session(id)
                    .await?
                    .ok_or(ContactError::NotFound)?,
            };
            if !matches!(stored.session.phase, Phase::Routing | Phase::Queued { .. })
                || !stored.session.visitor_joined
            {
                return Ok(Routed::NotRoutable);
            }
            let request = stored.session.route_request();
            let candidates = candidates(&records, &self.config.presence, now);
            let mut claimed = None;
            for advisor in rank(&candidates, &request) {
                if self.store.claim_capacity(&advisor).await? == Claim::Claimed {
                    claimed = Some(advisor);
                    break;
                }
            }
            let Some(advisor) = claimed else {
                let queue = stored.session.request.waiting_since.is_some();
                let policy = self.config.session;
                match self
                    .commit_from(&stored, |s| {
                        s.handle(Input::NobodyFree { queue }, &policy, now)
                    })
                    .await?
                {
                    Some(_) => return Ok(Routed::NobodyFree),
                    None => continue,
                }
            };
            let policy = self.config.session;
            match self
                .commit_from(&stored, |s| {
                    s.handle(Input::Ring(advisor.clone()), &policy, now)
                })
                .await
            {
                Ok(Some(_)) => return Ok(Routed::Ringing(advisor)),
                Ok(None) => {
                    // Lost a race on the session: give the slot back, retry.
                    self.store.release_capacity(&advisor, now).await?;
                }
                Err(err) => {
                    self.store.release_capacity(&advisor, now).await?;
                    return Err(err);
                }
            }
        }
        Err(ContactError::Busy)
    }

    /// One commit attempt from a given read; `None` when the session
    /// changed since (the caller reads again).
    async fn commit_from<F>(
        &self,
        stored: &StoredSession,
        change: F,
    ) -> Result<Option<StoredSession>, ContactError>
    where
        F: FnOnce(&mut Session) -> Result<Vec<Effect>, SessionError>,
    {
        let mut next = stored.clone();
        let effects = change(&mut next.session)?;
        if next.session == stored.session {
            return Ok(Some(next));
        }
        next.version += 1;
        let deadline = next.session.next_deadline(&self.config.session);
        if !self.store.replace_session(&next, deadline).await? {
            return Ok(None);
        }
        self.sessions.put(
            next.id.clone(),
            std::sync::Arc::new(next.clone()),
            self.now(),
        );
        // Routing never releases (it only acts on unrung sessions).
        let _ = Box::pin(self.after_commit(&next, effects)).await;
        Ok(Some(next))
    }

    /// Carries out a committed change's effects, in order; returns the
    /// advisors released.
    async fn after_commit(&self, after: &StoredSession, effects: Vec<Effect>) -> Vec<AdvisorId> {
        let now = self.now();
        let mut released = Vec::new();
        let mut queue_moved = None;
        for effect in effects {
            match effect {
                Effect::Ring { advisor, until } => {
                    let message = after.session.ring_message(&after.id, until).to_json();
                    self.push
                        .send(&Participant::Advisor(advisor), &message)
                        .await;
                }
                Effect::StopRinging { advisor } => {
                    let message = ServerMessage::RingStop {
                        session: after.id.clone(),
                    };
                    self.push
                        .send(&Participant::Advisor(advisor), &message.to_json())
                        .await;
                }
                Effect::Release { advisor } => {
                    match self.store.release_capacity(&advisor, now).await {
                        Ok(_) => released.push(advisor),
                        Err(err) => tracing::error!(error = %err, "capacity not released"),
                    }
                }
                Effect::Enqueue {
                    queue,
                    since,
                    until,
                } => {
                    if let Err(err) = self.store.enqueue(&queue, &after.id, since, until).await {
                        tracing::warn!(error = %err, "queue entry not stored");
                    }
                    queue_moved = Some(queue);
                }
                Effect::Dequeue { queue, since } => {
                    if let Err(err) = self.store.dequeue(&queue, &after.id, since).await {
                        tracing::warn!(error = %err, "queue entry not removed");
                    }
                    queue_moved = Some(queue);
                }
                Effect::Remember { advisor } => {
                    let expires = now.saturating_add(self.config.affinity_ms);
                    if let Err(err) = self
                        .store
                        .remember_advisor(&after.visitor, &advisor, now, expires)
                        .await
                    {
                        tracing::warn!(error = %err, "affinity not stored");
                    }
                }
                Effect::Attend { advisor } => {
                    let keep = after
                        .session
                        .created_at
                        .saturating_add(self.config.transcript_retention_ms);
                    if let Err(err) = self.store.attend(&advisor, &after.id, keep).await {
                        tracing::warn!(error = %err, "attendance not stored");
                    }
                }
                Effect::Unattend { advisor } => {
                    if let Err(err) = self.store.unattend(&advisor, &after.id).await {
                        tracing::warn!(error = %err, "attendance not removed");
                    }
                }
                Effect::Announce { advisors } => {
                    let state = self.state_message(after).await.to_json();
                    let to: Vec<Participant> =
                        std::iter::once(Participant::Visitor(after.id.clone()))
                            .chain(advisors.into_iter().map(Participant::Advisor))
                            .collect();
                    // Everyone at once (one message each, so no order among them).
                    futures_util::future::join_all(to.iter().map(|p| self.push.send(p, &state)))
                        .await;
                }
                Effect::Event {
                    name,
                    advisor,
                    props,
                } => {
                    if let (EventName::CallStarted | EventName::CallEnded, Some(taker)) =
                        (name, after.session.advisor.as_ref())
                    {
                        self.call_presence(taker, name == EventName::CallStarted, now)
                            .await;
                    }
                    let mut event = self.session_event(name, after);
                    event.advisor = advisor;
                    for (key, value) in props {
                        event = event.with_prop(key, value);
                    }
                    self.record_with(event, Some(&self.session_context(after)))
                        .await;
                }
            }
        }
        if let Some(queue) = queue_moved {
            self.announce_queue(&queue).await;
        }
        released
    }

    /// Hands the session `me` is connected to over to a colleague: `to`, or
    /// the best free one for `topic`. The colleague's capacity is claimed
    /// first (atomically, as routing does), and given back when the session
    /// changed meanwhile.
    pub async fn transfer(
        &self,
        me: &AdvisorId,
        id: &str,
        to: Option<AdvisorId>,
        topic: Option<String>,
        note: Option<String>,
    ) -> Result<Updated, ContactError> {
        let now = self.now();
        let stored = self.connected_to(me, id).await?;
        let channel = stored.session.channel;
        let by_topic = to.is_none();
        // A guest in the chat takes it over with the slot they hold.
        let guest = to.as_ref().is_some_and(|to| stored.session.is_guest(to));
        let claimed = match to {
            Some(to) if guest => to,
            Some(to) => {
                if &to == me {
                    return Err(ContactError::Refused("unknown_advisor"));
                }
                self.claim_colleague(&to, channel, now).await?;
                to
            }
            None => {
                let records = self.routing_candidates().await?;
                let mut request = livecard_core::routing::RouteRequest::new(channel);
                request.topic = topic;
                // Guests hold a slot already: routing finds someone else.
                request.exclude = std::iter::once(me)
                    .chain(stored.session.guests.iter().map(|g| &g.advisor))
                    .cloned()
                    .collect();
                let candidates = candidates(&records, &self.config.presence, now);
                let mut claimed = None;
                for advisor in rank(&candidates, &request) {
                    if self.store.claim_capacity(&advisor).await? == Claim::Claimed {
                        claimed = Some(advisor);
                        break;
                    }
                }
                claimed.ok_or(ContactError::Refused("nobody_free"))?
            }
        };
        let policy = self.config.session;
        let input = Input::Transfer {
            from: me.clone(),
            to: claimed.clone(),
            by_topic,
            note,
        };
        match self
            .update_session(id, |s| s.handle(input.clone(), &policy, now))
            .await
        {
            Ok(updated) => Ok(updated),
            Err(err) => {
                if !guest {
                    self.store.release_capacity(&claimed, now).await?;
                }
                Err(err)
            }
        }
    }

    /// The session `id` when `me` is its connected advisor (anyone else's
    /// answers like a missing one).
    async fn connected_to(&self, me: &AdvisorId, id: &str) -> Result<StoredSession, ContactError> {
        let stored = self
            .store
            .get_session(id)
            .await?
            .ok_or(ContactError::NotFound)?;
        if stored.session.connected_advisor() != Some(me) {
            return Err(ContactError::NotFound);
        }
        Ok(stored)
    }

    /// The `session` message: where a session stands, for both sides, with
    /// the shown advisor's name and title from the directory.
    pub async fn state_message(&self, stored: &StoredSession) -> ServerMessage {
        let card = match stored.session.shown_advisor() {
            Some(id) => self.advisor_card(id).await,
            None => None,
        };
        let mut state = stored.session.state(&stored.id, card);
        if let ServerMessage::Session(state) = &mut state {
            for guest in &mut state.guests {
                guest.card = self.advisor_card(&guest.id).await;
            }
            // The visitor is told before consenting whether photos are kept.
            if let Some(identity) = &mut state.identity {
                identity.keep_days = self
                    .identity_images_kept()
                    .map(|(_, retention)| retention.div_ceil(86_400_000));
            }
        }
        state
    }

    /// An advisor's name and title from the directory.
    async fn advisor_card(&self, id: &AdvisorId) -> Option<AdvisorCard> {
        match self.advisor_for_visitor(id).await {
            Ok(Some(record)) => Some(AdvisorCard {
                display_name: record.advisor.display_name,
                title: record.advisor.title,
            }),
            _ => None,
        }
    }

    /// The advisor `me`, connected to session `id`, invites the colleague
    /// `to` into the chat. Their capacity is claimed first (atomically, as
    /// routing does) and given back when the invitation does not hold.
    pub async fn invite(
        &self,
        me: &AdvisorId,
        id: &str,
        to: &AdvisorId,
    ) -> Result<Updated, ContactError> {
        let now = self.now();
        let stored = self.connected_to(me, id).await?;
        if to == me || stored.session.is_guest(to) {
            return Err(ContactError::Session(SessionError::NotOffered));
        }
        self.claim_colleague(to, Channel::Chat, now).await?;
        let policy = self.config.session;
        let input = Input::Invite {
            by: me.clone(),
            guest: to.clone(),
        };
        match self
            .update_session(id, |s| s.handle(input.clone(), &policy, now))
            .await
        {
            Ok(updated) => Ok(updated),
            Err(err) => {
                self.store.release_capacity(to, now).await?;
                Err(err)
            }
        }
    }

    /// Claims a named colleague's capacity for `channel`, or says why not
    /// (`unknown_advisor`, `offline`, `at_capacity`).
    async fn claim_colleague(
        &self,
        to: &AdvisorId,
        channel: Channel,
        now: UnixMillis,
    ) -> Result<(), ContactError> {
        let record = self
            .store
            .get_advisor(to)
            .await?
            .ok_or(ContactError::Refused("unknown_advisor"))?;
        let one = std::slice::from_ref(&record);
        let candidate = candidates(one, &self.config.presence, now);
        if let Some(reason) = candidate
            .first()
            .and_then(|c| livecard_core::routing::handover_refusal(c, channel))
        {
            return Err(ContactError::Refused(reason));
        }
        match self.store.claim_capacity(to).await? {
            Claim::Claimed => Ok(()),
            Claim::Full => Err(ContactError::Refused("at_capacity")),
            _ => Err(ContactError::Refused("unknown_advisor")),
        }
    }

    /// A chat message as pushed and replayed.
    pub fn chat_message(session: &str, message: &ChatMessage) -> ServerMessage {
        ServerMessage::Chat {
            session: session.to_owned(),
            key: message.key.clone(),
            id: message.client_id.clone(),
            side: message.side,
            author: message.author.clone(),
            text: message.text.clone(),
            at: message.at,
        }
    }

    /// Tells everyone in a queue their place and a rough wait.
    pub async fn announce_queue(&self, key: &QueueKey) {
        let now = self.now();
        let entries = match self.store.list_queue(key, now, 100).await {
            Ok(entries) => entries,
            Err(err) => {
                tracing::warn!(error = %err, "queue not read");
                return;
            }
        };
        if entries.is_empty() {
            return;
        }
        let serving = self.serving_slots(key).await;
        for (index, (session, _)) in entries.iter().enumerate() {
            let estimate = queue_estimate(index as u32 + 1, serving, AVERAGE_SESSION_MS);
            let message = ServerMessage::Queue {
                session: session.clone(),
                position: estimate.position,
                wait_ms: estimate.estimated_wait_ms,
            };
            self.push
                .send(&Participant::Visitor(session.clone()), &message.to_json())
                .await;
        }
    }

    /// The queue position of one waiting session, as a `queue` message.
    pub async fn queue_message(&self, stored: &StoredSession) -> Option<ServerMessage> {
        let Phase::Queued { .. } = stored.session.phase else {
            return None;
        };
        let key = stored.session.request.queue_key();
        let entries = self.store.list_queue(&key, self.now(), 100).await.ok()?;
        let position = entries.iter().position(|(s, _)| *s == stored.id)? as u32 + 1;
        let estimate = queue_estimate(position, self.serving_slots(&key).await, AVERAGE_SESSION_MS);
        Some(ServerMessage::Queue {
            session: stored.id.clone(),
            position: estimate.position,
            wait_ms: estimate.estimated_wait_ms,
        })
    }

    /// Session slots of available advisors that can serve a queue.
    async fn serving_slots(&self, key: &QueueKey) -> u32 {
        let now = self.now();
        let Ok(records) = self.routing_candidates().await else {
            return 1;
        };
        records
            .iter()
            .filter(|r| {
                let online = PresenceView::of(&r.advisor, &r.presence, &self.config.presence, now)
                    .overall()
                    == PresenceState::Available;
                online && key.served_by(&r.advisor)
            })
            .map(|r| u32::from(r.advisor.capacity))
            .sum::<u32>()
            .max(1)
    }

    /// Capacity came free (or an advisor came online): serve the queues
    /// this advisor can take, oldest first.
    pub async fn serve_queues(&self, advisor: &AdvisorId) -> usize {
        let Ok(Some(record)) = self.store.get_advisor(advisor).await else {
            return 0;
        };
        let mut routed = 0;
        for key in QueueKey::served_by_advisor(&record.advisor) {
            routed += self.serve_queue(&key).await;
        }
        routed
    }

    /// Rings whoever can be served in one queue, in order; stops at the
    /// first nobody can take.
    pub async fn serve_queue(&self, key: &QueueKey) -> usize {
        let entries = match self.store.list_queue(key, self.now(), 10).await {
            Ok(entries) => entries,
            Err(err) => {
                tracing::warn!(error = %err, "queue not read");
                return 0;
            }
        };
        let mut routed = 0;
        for (session, _) in entries {
            match self.route(&session).await {
                Ok(Routed::Ringing(_)) => routed += 1,
                Ok(Routed::NobodyFree) => break,
                Ok(Routed::NotRoutable) | Err(ContactError::NotFound) => {}
                Err(err) => {
                    tracing::warn!(error = %err, "queued session not routed");
                    break;
                }
            }
        }
        routed
    }

    /// Serves the queues of advisors whose capacity was released.
    pub async fn after_release(&self, released: &[AdvisorId]) {
        for advisor in released {
            self.serve_queues(advisor).await;
        }
    }

    /// The periodic sweep: ring timeouts (the next candidate is rung),
    /// queue timeouts, inactivity, unanswered offers; then queues of
    /// advisors with free capacity (someone came online).
    pub async fn sweep(&self) -> Result<SweepReport, ContactError> {
        let now = self.now();
        let mut report = SweepReport::default();
        let due = self.store.due_sessions(now, 100).await?;
        report.due = due.len();
        let policy = self.config.session;
        for id in due {
            let stats = match self.store.get_session(&id).await {
                Ok(Some(stored)) if matches!(stored.session.phase, Phase::Connected { .. }) => {
                    self.store.message_stats(&id).await.ok()
                }
                _ => None,
            };
            let updated = match self
                .update_session(&id, |s| {
                    let seen = match stats {
                        Some((total, last_at)) if matches!(s.phase, Phase::Connected { .. }) => {
                            Some(Input::MessagesSeen { total, last_at })
                        }
                        _ => None,
                    };
                    s.handle_all(seen.into_iter().chain([Input::Tick]), &policy, now)
                })
                .await
            {
                Ok(updated) => updated,
                Err(ContactError::NotFound) => continue,
                Err(err) => {
                    tracing::warn!(error = %err, "sweep could not update a session");
                    continue;
                }
            };
            report.changed += 1;
            if matches!(updated.session.session.phase, Phase::Routing)
                && matches!(self.route(&id).await, Ok(Routed::Ringing(_)))
            {
                report.routed += 1;
            }
            self.after_release(&updated.released).await;
        }
        // Someone may have come online (presence pushed by a company system
        // or an admin): serve every queue with someone waiting.
        for key in self.store.waiting_queues(100).await? {
            report.routed += self.serve_queue(&key).await;
        }
        // Calls on a media node that stopped without a word (killed, its
        // host gone).
        match super::moves::lost_nodes(self).await {
            Ok(moved) => report.moved = moved,
            Err(err) => tracing::warn!(error = %err, "sweep could not check the media nodes"),
        }
        Ok(report)
    }

    /// [`App::side_of`], or a guest in the chat (an advisor, who only chats).
    pub fn member_of(
        &self,
        connection: &super::Connection,
        stored: &StoredSession,
    ) -> Option<Side> {
        match &connection.advisor {
            Some(advisor) if stored.session.is_guest(advisor) => Some(Side::Advisor),
            _ => self.side_of(connection, stored),
        }
    }

    /// Which side of `stored` this connection speaks for, if any.
    pub fn side_of(&self, connection: &super::Connection, stored: &StoredSession) -> Option<Side> {
        if let Some(advisor) = &connection.advisor {
            let session = &stored.session;
            if session.current_advisor() == Some(advisor)
                || session.advisor.as_ref() == Some(advisor)
            {
                return Some(Side::Advisor);
            }
        }
        connection
            .sessions
            .contains(&stored.id)
            .then_some(Side::Visitor)
    }

    /// The best advisor for a widget: the first routing would ring.
    pub async fn best_advisor(
        &self,
        request: &livecard_core::routing::RouteRequest,
    ) -> Result<Option<PublicAdvisor>, ContactError> {
        let now = self.now();
        let records = self.routing_candidates().await?;
        let candidates = candidates(&records, &self.config.presence, now);
        let best = rank(&candidates, request).into_iter().next();
        Ok(best.and_then(|id| {
            records
                .iter()
                .find(|r| r.advisor.id == id)
                .map(|r| PublicAdvisor::of(r, &self.config.presence, now))
        }))
    }
}

/// Routing's view of advisors as stored, at `now`.
fn candidates<'a>(
    records: &'a [AdvisorRecord],
    policy: &PresencePolicy,
    now: UnixMillis,
) -> Vec<Candidate<'a>> {
    records
        .iter()
        .map(|r| Candidate {
            advisor: &r.advisor,
            presence: PresenceView::of(&r.advisor, &r.presence, policy, now),
            active: r.load.active,
            idle_since: r.load.idle_since,
        })
        .collect()
}
