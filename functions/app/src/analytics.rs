//! Recording analytics events (`docs/events.md`): every event goes through
//! [`App::record`], and visitors are counted only by daily pseudonyms.

use crate::App;
use crate::Push;
use livecard_core::event::{Event, EventName};
use livecard_core::ids::EventId;
use livecard_store::{Store, StoredSession};

impl<S: Store, P: Push> App<S, P> {
    /// Stores an analytics event. A failure is logged, never shown to the
    /// visitor: analytics must not break a contact.
    pub async fn record(&self, event: Event) {
        self.record_with(event, None).await
    }

    /// Stores an event and, when `context` says where it came from and what
    /// the visitor consented to, puts its deliveries in the forwarding
    /// outbox (`docs/analytics.md`).
    pub async fn record_with(
        &self,
        event: Event,
        context: Option<&crate::forward::ForwardContext>,
    ) {
        if let Err(err) = event.validate() {
            tracing::error!(error = %err, name = event.name.as_str(), "invalid event dropped");
            return;
        }
        // Boxed: the outbox's reads and writes would otherwise grow every
        // handler's future (debug builds run out of stack).
        if let Some(context) = context {
            Box::pin(self.deliver(&event, context)).await;
        } else if livecard_core::forward::forwarded(event.name) {
            // Events without a visitor context still reach the company's
            // webhooks (no consent needed for ids to its own systems).
            let context = crate::forward::ForwardContext::default();
            Box::pin(self.deliver(&event, &context)).await;
        }
        let expires = event.expires_at(self.config.event_retention_ms);
        let event = match &self.outbox {
            Some(outbox) => match outbox.offer(event, expires) {
                None => return,
                Some(event) => event,
            },
            None => event,
        };
        if let Err(err) = self.store.put_event(&event, expires).await {
            tracing::warn!(error = %err, name = event.name.as_str(), "event not stored");
        }
    }

    /// The request's daily visitor pseudonym (never the raw address), when
    /// the host told us the address.
    /// The key per-client limits count under: a pseudonym of the client's
    /// network (IPv6: its /64), so a limit holds across one host's
    /// addresses and no address is kept raw.
    pub fn client_key(&self, request: &crate::Request) -> Option<String> {
        let addr = request.extensions().get::<crate::ClientAddr>()?;
        Some(livecard_core::visitor::pseudonym(
            &self.secrets.visitor_key,
            &addr.network(),
            self.now(),
        ))
    }

    pub fn visitor_pseudonym(&self, request: &crate::Request) -> Option<String> {
        let addr = request.extensions().get::<crate::ClientAddr>()?;
        Some(livecard_core::visitor::pseudonym(
            &self.secrets.visitor_key,
            &addr.0,
            self.now(),
        ))
    }

    pub fn new_event(&self, name: EventName) -> Event {
        Event::new(EventId::from_bytes(self.random_bytes()), name, self.now())
    }

    /// Where a session's events come from and what its visitor consented to.
    pub(crate) fn session_context(&self, stored: &StoredSession) -> crate::forward::ForwardContext {
        let request = &stored.session.request;
        crate::forward::ForwardContext {
            consent: request.consent.clone(),
            entry: Some(request.origin),
            topic: request.topic.clone(),
            session: Some(stored.id.clone()),
            visitor: Some(stored.visitor.clone()),
        }
    }

    pub(crate) fn session_event(
        &self,
        name: EventName,
        stored: &StoredSession,
    ) -> livecard_core::event::Event {
        let mut event = self.new_event(name);
        event.session = Some(stored.id.clone());
        event.channel = Some(stored.session.channel);
        event.advisor = stored.session.current_advisor().cloned();
        event.card = stored.session.request.card.clone();
        event.campaign = stored.session.request.campaign.clone();
        event.visitor = Some(livecard_core::visitor::pseudonym(
            &self.secrets.visitor_key,
            &stored.visitor,
            event.at,
        ));
        event
    }
}
