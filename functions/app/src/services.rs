//! Operations shared by the API, the pages and the hosts' bootstrap (so that
//! `livecard up` seeding and an admin's API call do exactly the same thing).

use crate::App;
use crate::Push;
use crate::http_util::ApiError;
use http::StatusCode;
use livecard_core::advisor::Advisor;
use livecard_core::card::{Card, CardRequest};
use livecard_core::event::{Event, EventName};
use livecard_core::ids::{AdvisorId, CardId, EventId};
use livecard_core::presence::{PresenceState, PresenceUpdate};
use livecard_store::{Created, PresenceWrite, Revocation, Store};
use serde::Serialize;

/// A card as the API shows it: the record, plus its link and e-mail snippet.
#[derive(Debug, Clone, Serialize)]
pub struct CardView {
    pub id: CardId,
    pub advisor: AdvisorId,
    pub campaign: Option<String>,
    pub channels: livecard_core::channel::ChannelSet,
    pub url: String,
    pub html_snippet: String,
    pub created_at: u64,
    pub expires_at: u64,
    pub revoked_at: Option<u64>,
}

fn escape_html(text: &str) -> String {
    maud::html!((text)).into_string()
}

impl<S: Store, P: Push> App<S, P> {
    pub fn card_url(&self, card: &Card) -> String {
        format!("{}/c/{}", self.config.public_url, card.token)
    }

    pub fn card_view(&self, card: &Card) -> CardView {
        let url = self.card_url(card);
        let name = card
            .advisor_name
            .as_deref()
            .unwrap_or(card.claims.advisor.as_str());
        let html_snippet = format!(
            "<a href=\"{}\" style=\"display:inline-block;padding:8px 14px;border-radius:6px;\
background:#0b57a4;color:#ffffff;font-family:Arial,sans-serif;font-size:14px;text-decoration:none\">\
Talk to {} live</a>",
            escape_html(&url),
            escape_html(name)
        );
        CardView {
            id: card.claims.card_id.clone(),
            advisor: card.claims.advisor.clone(),
            campaign: card.claims.campaign.clone(),
            channels: card.claims.channels,
            url,
            html_snippet,
            created_at: card.created_at,
            expires_at: card.expires_at_ms(),
            revoked_at: card.revoked_at,
        }
    }

    /// Stores an analytics event. A failure is logged, never shown to the
    /// visitor: analytics must not break a contact.
    pub async fn record(&self, event: Event) {
        if let Err(err) = event.validate() {
            tracing::error!(error = %err, name = event.name.as_str(), "invalid event dropped");
            return;
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

    /// Creates or replaces an advisor.
    pub async fn save_advisor(&self, advisor: &Advisor) -> Result<(), ApiError> {
        self.store.put_advisor(advisor).await?;
        self.advisors.invalidate(&advisor.id);
        Ok(())
    }

    /// Issues a card for an existing advisor.
    pub async fn create_card(&self, request: CardRequest) -> Result<CardView, ApiError> {
        let record = self
            .store
            .get_advisor(&request.advisor)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("no advisor {}", request.advisor)))?;
        let mut card = Card::issue(
            &self.secrets.cards,
            request,
            record.advisor.channels,
            self.random_bytes(),
            self.now(),
        )
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
        card.advisor_name = Some(record.advisor.display_name.clone());
        match self.store.put_card(&card).await? {
            Created::Created => {}
            // 128 random bits collided: refuse rather than overwrite.
            Created::AlreadyExists => {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "conflict",
                    "card id collision; retry",
                ));
            }
        }
        let mut event = self.new_event(EventName::CardCreated);
        event.advisor = Some(card.claims.advisor.clone());
        event.card = Some(card.claims.card_id.clone());
        event.campaign = card.claims.campaign.clone();
        self.record(event).await;
        Ok(self.card_view(&card))
    }

    pub async fn revoke_card(&self, id: &CardId) -> Result<CardView, ApiError> {
        let revocation = self.store.revoke_card(id, self.now()).await?;
        self.cards.invalidate(id);
        match revocation {
            Revocation::Revoked(card) => {
                let mut event = self.new_event(EventName::CardRevoked);
                event.advisor = Some(card.claims.advisor.clone());
                event.card = Some(card.claims.card_id.clone());
                event.campaign = card.claims.campaign.clone();
                self.record(event).await;
                Ok(self.card_view(&card))
            }
            Revocation::AlreadyRevoked(card) => Ok(self.card_view(&card)),
            Revocation::NotFound => Err(ApiError::not_found(format!("no card {id}"))),
        }
    }

    /// A one-time sign-in link for an advisor.
    pub async fn create_signin_link(&self, advisor: &AdvisorId) -> Result<(String, u64), ApiError> {
        if self.store.get_advisor(advisor).await?.is_none() {
            return Err(ApiError::not_found(format!("no advisor {advisor}")));
        }
        let token = livecard_core::auth::new_signin_token(self.random_bytes());
        let hash = livecard_core::auth::signin_token_hash(&token).ok_or_else(|| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "sign-in token",
            )
        })?;
        let expires_at = self.now() + livecard_core::auth::SIGNIN_TTL_MS;
        self.store.put_signin(&hash, advisor, expires_at).await?;
        Ok((
            format!("{}/signin/{token}", self.config.public_url),
            expires_at,
        ))
    }

    /// Applies a presence update and records `presence_changed` when it took.
    pub async fn apply_presence(
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
        }
        Ok(found)
    }

    /// The advisor of a verified session cookie or ticket, with their
    /// record, unless their sessions were ended since it was signed (or
    /// the advisor is gone). One read of the advisor: revocation holds at
    /// once on every host.
    pub async fn current_session(
        &self,
        claims: &livecard_core::auth::AdvisorSession,
    ) -> Result<Option<livecard_store::AdvisorRecord>, ApiError> {
        Ok(self
            .store
            .get_advisor(&claims.advisor)
            .await?
            .filter(|record| record.session_epoch == claims.epoch))
    }

    /// Ends every session of `advisor` (consoles must sign in again);
    /// false for an unknown advisor.
    pub async fn end_advisor_sessions(&self, advisor: &AdvisorId) -> Result<bool, ApiError> {
        let ended = self.store.end_sessions(advisor).await?.is_some();
        if ended {
            tracing::info!(advisor = %advisor, "advisor sessions ended");
            // Open consoles go too (a new socket needs a current session).
            self.push
                .disconnect(&crate::contact::Participant::Advisor(advisor.clone()))
                .await;
        }
        Ok(ended)
    }

    /// Is `authorization` (`Bearer lck_…`) a known admin key?
    pub async fn is_admin(&self, authorization: Option<&str>) -> Result<bool, ApiError> {
        let Some(key) = authorization.and_then(|v| v.strip_prefix("Bearer ")) else {
            return Ok(false);
        };
        let key = key.trim();
        if let Some(expected) = &self.secrets.admin_key_sha256
            && key.len() <= 256
        {
            let given = livecard_core::encoding::sha256_hex(key.as_bytes());
            // Compared in constant time: the hash of a guess says nothing.
            if livecard_core::encoding::constant_time_eq(given.as_bytes(), expected.as_bytes()) {
                return Ok(true);
            }
        }
        let Some(hash) = livecard_core::auth::api_key_hash(key) else {
            return Ok(false);
        };
        Ok(self.store.api_key_exists(&hash).await?)
    }

    /// Creates a new admin API key and returns it (the only time it is seen).
    pub async fn create_api_key(&self, name: &str) -> Result<String, ApiError> {
        let key = livecard_core::auth::new_api_key(self.random_bytes());
        let hash = livecard_core::auth::api_key_hash(&key).ok_or_else(|| {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "api key")
        })?;
        self.store.put_api_key(&hash, name, self.now()).await?;
        Ok(key)
    }
}
