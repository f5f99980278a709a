//! `/api/v1/destinations` (admin): where analytics events are forwarded
//! (GA4, Matomo, signed webhooks), their dead-letter lists and replays.
//! Secrets are accepted, sealed, and never shown again.

use super::page_request;
use crate::auth::require_admin;
use crate::forward::literal_allowed;
use crate::http_util::{ApiError, clipped, json, no_content, parse_json, query, query_param};
use crate::{App, Push, Request, Response};
use http::StatusCode;
use livecard_core::forward::{
    DeliveryState, Destination, DestinationState, MAX_DESTINATIONS, Target,
};
use livecard_core::ids::{DestinationId, EventId};
use livecard_store::Store;
use serde::Deserialize;
use serde_json::{Value, json};

fn destination_id(id: &str) -> Result<DestinationId, ApiError> {
    DestinationId::parse(id).map_err(|_| {
        ApiError::bad_request("the destination id must be 1 to 32 of a-z, 0-9, '-', '_'")
    })
}

async fn find<S: Store, P: Push>(
    app: &App<S, P>,
    id: &DestinationId,
) -> Result<Destination, ApiError> {
    app.load_destinations()
        .await?
        .into_iter()
        .find(|d| &d.id == id)
        .ok_or_else(|| ApiError::not_found("no such destination"))
}

async fn shown<S: Store, P: Push>(app: &App<S, P>, d: &Destination) -> Result<Value, ApiError> {
    let counts = futures_util::future::join_all(
        [
            DeliveryState::Pending,
            DeliveryState::Dead,
            DeliveryState::Expired,
        ]
        .map(|state| app.store.count_deliveries(&d.id, state)),
    )
    .await;
    let [pending, dead, expired]: [Result<u64, _>; 3] = counts
        .try_into()
        .map_err(|_| ApiError::bad_request("counts"))?;
    Ok(json!({
        "id": d.id,
        "settings": d.target.redacted(),
        "state": d.state,
        "deliveries": {"pending": pending?, "dead": dead?, "expired": expired?},
    }))
}

/// `GET /api/v1/destinations`
pub async fn list<S: Store, P: Push>(
    app: &App<S, P>,
    request: &Request,
) -> Result<Response, ApiError> {
    require_admin(app, request).await?;
    let mut out = Vec::new();
    for d in app.load_destinations().await? {
        out.push(shown(app, &d).await?);
    }
    Ok(json(StatusCode::OK, &json!({ "destinations": out })))
}

/// `GET /api/v1/destinations/{id}`
pub async fn get<S: Store, P: Push>(
    app: &App<S, P>,
    request: &Request,
    id: &str,
) -> Result<Response, ApiError> {
    require_admin(app, request).await?;
    let d = find(app, &destination_id(id)?).await?;
    Ok(json(StatusCode::OK, &shown(app, &d).await?))
}

/// `PUT /api/v1/destinations/{id}`: creates or replaces a destination
/// (`{"kind":"ga4"|"matomo"|"webhook", …}`); it starts active.
pub async fn put<S: Store, P: Push>(
    app: &App<S, P>,
    request: &Request,
    id: &str,
) -> Result<Response, ApiError> {
    require_admin(app, request).await?;
    let id = destination_id(id)?;
    let settings: Value = parse_json(request)?;
    match settings.get("kind").and_then(Value::as_str) {
        Some("ga4" | "matomo" | "webhook") => {}
        _ => {
            return Err(ApiError::bad_request(
                "kind: must be ga4, matomo or webhook",
            ));
        }
    }
    let target: Target = serde_json::from_value(settings).map_err(|e| {
        ApiError::bad_request(format!("settings: {}", clipped(&e.to_string(), 200)))
    })?;
    target
        .check()
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let field = match target {
        Target::Ga4(_) => "endpoint",
        _ => "url",
    };
    literal_allowed(&target.url(), &app.forward_policy())
        .map_err(|why| ApiError::bad_request(format!("{field}: not allowed ({why})")))?;
    let existing = app.load_destinations().await?;
    if existing.len() >= MAX_DESTINATIONS && !existing.iter().any(|d| d.id == id) {
        return Err(ApiError::bad_request(format!(
            "at most {MAX_DESTINATIONS} destinations"
        )));
    }
    let destination = Destination {
        id,
        target,
        state: DestinationState::Active,
    };
    app.store
        .put_destination(&app.seal_destination(&destination)?)
        .await?;
    app.destinations_changed();
    tracing::info!(destination = %destination.id, kind = destination.target.kind(), "destination set");
    Ok(json(StatusCode::OK, &shown(app, &destination).await?))
}

/// `DELETE /api/v1/destinations/{id}`
pub async fn delete<S: Store, P: Push>(
    app: &App<S, P>,
    request: &Request,
    id: &str,
) -> Result<Response, ApiError> {
    require_admin(app, request).await?;
    if !app.store.delete_destination(&destination_id(id)?).await? {
        return Err(ApiError::not_found("no such destination"));
    }
    app.destinations_changed();
    Ok(no_content())
}

/// `POST /api/v1/destinations/{id}/resume`: sends to a paused or disabled
/// destination again.
pub async fn resume<S: Store, P: Push>(
    app: &App<S, P>,
    request: &Request,
    id: &str,
) -> Result<Response, ApiError> {
    set_state(app, request, id, DestinationState::Active).await
}

/// `POST /api/v1/destinations/{id}/pause`: stops sending until resumed
/// (maintenance of the receiving system); deliveries are still made and
/// wait (they may expire meanwhile, and are counted then).
pub async fn pause<S: Store, P: Push>(
    app: &App<S, P>,
    request: &Request,
    id: &str,
) -> Result<Response, ApiError> {
    let state = DestinationState::Paused {
        reason: "paused by an admin".into(),
        since: app.now(),
        until: None,
    };
    set_state(app, request, id, state).await
}

async fn set_state<S: Store, P: Push>(
    app: &App<S, P>,
    request: &Request,
    id: &str,
    state: DestinationState,
) -> Result<Response, ApiError> {
    require_admin(app, request).await?;
    let id = destination_id(id)?;
    if !app.store.set_destination_state(&id, &state).await? {
        return Err(ApiError::not_found("no such destination"));
    }
    app.destinations_changed();
    let d = find(app, &id).await?;
    Ok(json(StatusCode::OK, &shown(app, &d).await?))
}

fn state_param(value: Option<&str>) -> Result<DeliveryState, ApiError> {
    Ok(match value.unwrap_or("dead") {
        "dead" => DeliveryState::Dead,
        "expired" => DeliveryState::Expired,
        "pending" => DeliveryState::Pending,
        _ => {
            return Err(ApiError::bad_request(
                "state must be dead, expired or pending",
            ));
        }
    })
}

/// `GET /api/v1/destinations/{id}/deliveries?state=dead|expired|pending`
pub async fn deliveries<S: Store, P: Push>(
    app: &App<S, P>,
    request: &Request,
    id: &str,
) -> Result<Response, ApiError> {
    require_admin(app, request).await?;
    let id = destination_id(id)?;
    let params = query(request);
    let state = state_param(query_param(&params, "state"))?;
    let page = app
        .store
        .list_deliveries(&id, state, &page_request(&params, 50)?)
        .await?;
    let items: Vec<Value> = page
        .items
        .iter()
        .map(|d| {
            json!({
                "event": d.job.event,
                "state": d.state.as_str(),
                "attempts": d.attempts,
                "at": d.next_at,
                "last_status": d.last_status,
            })
        })
        .collect();
    Ok(json(
        StatusCode::OK,
        &json!({ "state": state.as_str(), "deliveries": items, "next": page.next }),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplayBody {
    /// Event ids to replay; or `all` for the whole dead-letter list.
    #[serde(default)]
    events: Vec<String>,
    #[serde(default)]
    all: bool,
    /// Replay expired deliveries instead of dead ones.
    #[serde(default)]
    expired: bool,
}

/// `POST /api/v1/destinations/{id}/replay`: puts dead (or expired)
/// deliveries back in the outbox, due now.
pub async fn replay<S: Store, P: Push>(
    app: &App<S, P>,
    request: &Request,
    id: &str,
) -> Result<Response, ApiError> {
    require_admin(app, request).await?;
    let id = destination_id(id)?;
    let body: ReplayBody = parse_json(request)?;
    if body.all != body.events.is_empty() {
        return Err(ApiError::bad_request(
            "give events (a list of event ids) or all: true",
        ));
    }
    if body.events.len() > usize::from(livecard_store::MAX_PAGE) {
        return Err(ApiError::bad_request("at most 100 events at once"));
    }
    let state = if body.expired {
        DeliveryState::Expired
    } else {
        DeliveryState::Dead
    };
    let mut replayed = 0u64;
    if body.all {
        loop {
            let page = app
                .store
                .list_deliveries(&id, state, &livecard_store::PageRequest::first(100))
                .await?;
            if page.items.is_empty() {
                break;
            }
            let before = replayed;
            for d in page.items {
                if app.replay_delivery(&id, d).await? {
                    replayed += 1;
                }
            }
            if replayed == before {
                break;
            }
        }
    } else {
        for event in &body.events {
            let event = EventId::parse(event)
                .map_err(|_| ApiError::bad_request("events: not an event id"))?;
            if let Some(d) = app.store.get_delivery(&id, &event).await?
                && app.replay_delivery(&id, d).await?
            {
                replayed += 1;
            }
        }
    }
    Ok(json(StatusCode::OK, &json!({ "replayed": replayed })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConsentBody {
    /// The page's signed view token.
    view: String,
    consent: livecard_core::forward::Consent,
}

/// `POST /api/v1/consent` (public, from livecard's own pages): the
/// visitor's analytics decision for the page view the token names.
pub async fn consent<S: Store, P: Push>(
    app: &App<S, P>,
    request: &Request,
) -> Result<Response, ApiError> {
    let body: ConsentBody = parse_json(request)?;
    let consent = body
        .consent
        .checked()
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let event = app
        .verify_view(&body.view)
        .ok_or_else(|| ApiError::bad_request("view: not a page view of this site, or too old"))?;
    app.page_consent(&event, consent).await;
    Ok(no_content())
}
