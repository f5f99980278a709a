//! `/api/v1/cards` (admin): create, list, read and revoke card links.

use super::page_request;
use crate::Push;
use crate::auth::require_admin;
use crate::http_util::{ApiError, json, parse_json, query};
use crate::{App, Request, Response};
use http::StatusCode;
use livecard_core::card::CardRequest;
use livecard_core::ids::CardId;
use livecard_store::Store;
use serde::Serialize;

fn parse_card_id(text: &str) -> Result<CardId, ApiError> {
    CardId::parse(text).map_err(|_| ApiError::not_found("no such card"))
}

/// `POST /api/v1/cards`
pub async fn create<S: Store, P: Push>(
    app: &App<S, P>,
    request: &Request,
) -> Result<Response, ApiError> {
    require_admin(app, request).await?;
    let body: CardRequest = parse_json(request)?;
    let view = app.create_card(body).await?;
    Ok(json(StatusCode::CREATED, &view))
}

/// `GET /api/v1/cards?limit=&cursor=`, newest first.
pub async fn list<S: Store, P: Push>(
    app: &App<S, P>,
    request: &Request,
) -> Result<Response, ApiError> {
    require_admin(app, request).await?;
    let page = app
        .store
        .list_cards(&page_request(&query(request), 50)?)
        .await?;
    #[derive(Serialize)]
    struct Body {
        cards: Vec<crate::cards::CardView>,
        next: Option<String>,
    }
    let cards = page.items.iter().map(|c| app.card_view(c)).collect();
    Ok(json(
        StatusCode::OK,
        &Body {
            cards,
            next: page.next,
        },
    ))
}

/// `GET /api/v1/cards/{id}`
pub async fn get<S: Store, P: Push>(
    app: &App<S, P>,
    request: &Request,
    id: &str,
) -> Result<Response, ApiError> {
    require_admin(app, request).await?;
    let id = parse_card_id(id)?;
    let card = app
        .store
        .get_card(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such card"))?;
    Ok(json(StatusCode::OK, &app.card_view(&card)))
}

/// `DELETE /api/v1/cards/{id}`: revokes; revoking twice is not an error.
pub async fn revoke<S: Store, P: Push>(
    app: &App<S, P>,
    request: &Request,
    id: &str,
) -> Result<Response, ApiError> {
    require_admin(app, request).await?;
    let id = parse_card_id(id)?;
    Ok(json(StatusCode::OK, &app.revoke_card(&id).await?))
}
