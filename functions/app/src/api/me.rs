//! `/api/v1/me`: the signed-in advisor (session cookie).

use super::PresenceBody;
use super::advisors::{PublicAdvisor, presence_result};
use crate::Push;
use crate::http_util::{ApiError, json, parse_json, same_origin};
use crate::{App, Request, Response};
use http::StatusCode;
use livecard_store::{AdvisorRecord, Store};

pub(crate) async fn signed_in<S: Store, P: Push>(
    app: &App<S, P>,
    request: &Request,
    changes_state: bool,
) -> Result<AdvisorRecord, ApiError> {
    if changes_state && !same_origin(request) {
        return Err(ApiError::forbidden("cross-origin requests are not allowed"));
    }
    crate::auth::session(app, request)
        .await?
        .ok_or_else(ApiError::not_signed_in)
}

/// `GET /api/v1/me`
pub async fn get<S: Store, P: Push>(
    app: &App<S, P>,
    request: &Request,
) -> Result<Response, ApiError> {
    let record = signed_in(app, request, false).await?;
    Ok(json(
        StatusCode::OK,
        &PublicAdvisor::of(&record, &app.config.presence, app.now()),
    ))
}

/// `PUT /api/v1/me/presence`: the console sets presence (kept alive by
/// heartbeats).
pub async fn put_presence<S: Store, P: Push>(
    app: &App<S, P>,
    request: &Request,
) -> Result<Response, ApiError> {
    let id = signed_in(app, request, true).await?.advisor.id;
    let body: PresenceBody = parse_json(request)?;
    let now = app.now();
    let until = app.manual_until(body.until, now);
    let update = app
        .config
        .presence
        .console_update(body.manual_states()?, now, until)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let result = presence_result(app.set_presence(&id, &update).await?, &id)?;
    if result == "applied" {
        return Ok(json(
            StatusCode::OK,
            &serde_json::json!({ "result": result, "until": until }),
        ));
    }
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({ "result": result }),
    ))
}

/// `POST /api/v1/me/heartbeat`: the console is still open.
pub async fn heartbeat<S: Store, P: Push>(
    app: &App<S, P>,
    request: &Request,
) -> Result<Response, ApiError> {
    let id = signed_in(app, request, true).await?.advisor.id;
    let until = app.config.presence.heartbeat_deadline(app.now());
    if !app.store.heartbeat(&id, until).await? {
        return Err(ApiError::not_signed_in());
    }
    app.advisors.invalidate(&id);
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({ "heartbeat_until": until }),
    ))
}

/// `POST /api/v1/me/ws-ticket`: a single-use ticket (one minute) with which
/// the console opens the signaling WebSocket when it lives on another origin
/// (API Gateway's WebSocket API), where the session cookie is not sent.
pub async fn ws_ticket<S: Store, P: Push>(
    app: &App<S, P>,
    request: &Request,
) -> Result<Response, ApiError> {
    let record = signed_in(app, request, true).await?;
    let session = livecard_core::auth::AdvisorSession {
        advisor: record.advisor.id,
        epoch: record.session_epoch,
    };
    let ticket = livecard_core::auth::sign_ws_ticket(
        &app.secrets.session_key,
        &session,
        app.now(),
        app.random_bytes(),
    );
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({ "ticket": ticket, "ws": app.config.websocket_url() }),
    ))
}
