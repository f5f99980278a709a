//! Live business cards: issuing and revoking them, their link and e-mail
//! snippet, and the card page a visitor opens.

use crate::Push;
use crate::api::advisors::PublicAdvisor;
use crate::http_util::ApiError;
use crate::pages::{self, PageCtx};
use crate::{App, Request, Response};
use http::StatusCode;
use livecard_core::card::{Card, CardError, CardRequest};
use livecard_core::event::EventName;
use livecard_core::ids::{AdvisorId, CardId};
use livecard_store::{AdvisorRecord, Created, Revocation, Store};
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

/// `GET /c/{token}`: the card page.
pub(crate) async fn card_page<S: Store, P: Push>(
    app: &App<S, P>,
    request: &Request,
    ctx: &PageCtx,
    token: &str,
) -> Result<Response, ApiError> {
    let now = app.now();
    let claims = match app.secrets.cards.verify(token, now) {
        Ok(claims) => claims,
        Err(err) => {
            tracing::info!(reason = err.reason(), "card link refused");
            return Ok(pages::errors::invalid_link(ctx));
        }
    };
    // The signed claims name the advisor: read the card (is it revoked?)
    // and the advisor together, one request instead of two.
    let (card, advisor) = app
        .card_and_advisor_for_visitor(&claims.card_id, &claims.advisor)
        .await?;
    match card {
        Some(card) if card.revoked_at.is_none() => {}
        // Unknown to the store (deleted after expiry) counts as revoked.
        _ => {
            tracing::info!(reason = CardError::Revoked.reason(), "card link refused");
            return Ok(pages::errors::invalid_link(ctx));
        }
    }
    let Some(record) = advisor else {
        tracing::info!(reason = "unknown_advisor", "card link refused");
        return Ok(pages::errors::invalid_link(ctx));
    };
    let mut event = app.card_event(EventName::CardOpened, &claims);
    event.visitor = app.visitor_pseudonym(request);
    // The page asks for analytics consent when a destination needs it, and
    // sends the decision back with this view's token.
    let view = if app.consent_wanted().await {
        app.view_token(&event)
    } else {
        None
    };
    app.record(event).await;
    Ok(pages::card::render(
        ctx,
        &PublicAdvisor::of(&record, &app.config.presence, now),
        &claims,
        token,
        view,
    ))
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
        self.record(self.card_event(EventName::CardCreated, &card.claims))
            .await;
        Ok(self.card_view(&card))
    }

    pub async fn revoke_card(&self, id: &CardId) -> Result<CardView, ApiError> {
        let revocation = self.store.revoke_card(id, self.now()).await?;
        self.cards.invalidate(id);
        match revocation {
            Revocation::Revoked(card) => {
                self.record(self.card_event(EventName::CardRevoked, &card.claims))
                    .await;
                Ok(self.card_view(&card))
            }
            Revocation::AlreadyRevoked(card) => Ok(self.card_view(&card)),
            Revocation::NotFound => Err(ApiError::not_found(format!("no card {id}"))),
        }
    }

    /// An event about a card (its advisor, id and campaign).
    fn card_event(
        &self,
        name: EventName,
        claims: &livecard_core::card::CardClaims,
    ) -> livecard_core::event::Event {
        let mut event = self.new_event(name);
        event.advisor = Some(claims.advisor.clone());
        event.card = Some(claims.card_id.clone());
        event.campaign = claims.campaign.clone();
        event
    }

    /// A card for a visitor page, through the read cache.
    pub async fn card_for_visitor(
        &self,
        id: &CardId,
    ) -> Result<Option<Card>, livecard_store::StoreError> {
        self.cards
            .get_or_load(id, self.now(), self.store.get_card(id))
            .await
    }

    /// A card and the advisor its signed link names (a card page), through
    /// the read caches: what they lack is read in one round trip.
    pub async fn card_and_advisor_for_visitor(
        &self,
        card: &CardId,
        advisor: &AdvisorId,
    ) -> Result<(Option<Card>, Option<AdvisorRecord>), livecard_store::StoreError> {
        let now = self.now();
        match (self.cards.get(card, now), self.advisors.get(advisor, now)) {
            (Some(card), Some(record)) => Ok((card, record)),
            (Some(card), None) => Ok((card, self.advisor_for_visitor(advisor).await?)),
            (None, Some(record)) => Ok((self.card_for_visitor(card).await?, record)),
            (None, None) => {
                let (found_card, record) = self.store.get_card_and_advisor(card, advisor).await?;
                self.cards.put(card.clone(), found_card.clone(), now);
                self.advisors.put(advisor.clone(), record.clone(), now);
                Ok((found_card, record))
            }
        }
    }
}
