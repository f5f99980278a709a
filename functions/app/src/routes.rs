//! The route table: which handler serves which method and path.

use crate::Push;
use crate::api;
use crate::api::advisors::{Filter, PublicAdvisor, all_matching};
use crate::api::me::{SESSION_COOKIE, session};
use crate::http_util::{ApiError, form, json, query, redirect, same_origin, set_cookie, too_large};
use crate::pages::{self, PageCtx};
use crate::{App, MAX_BODY_BYTES, MAX_URI_BYTES, Request, Response};
use http::{Method, StatusCode};
use livecard_core::card::CardError;
use livecard_core::event::EventName;
use livecard_store::Store;

/// A name for the route a path belongs to, for logs and metrics. Paths are
/// never logged raw: card and sign-in links carry secrets.
pub fn route_name(path: &str) -> &'static str {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match segments.as_slice() {
        [""] => "portal",
        ["c", _] => "card",
        ["widget.css"] => "widget",
        ["signin", _] => "signin",
        ["signin"] => "signin_submit",
        ["signout"] => "signout",
        ["me"] => "me",
        ["healthz"] => "healthz",
        ["assets", _] => "assets",
        ["api", "v1", "advisors"] => "api_advisors",
        ["api", "v1", "advisors", _] => "api_advisor",
        ["api", "v1", "advisors", _, "presence"] => "api_advisor_presence",
        ["api", "v1", "advisors", _, "signin-links"] => "api_advisor_signin_links",
        ["api", "v1", "advisors", _, "sessions"] => "api_advisor_sessions",
        ["api", "v1", "admin", "advisors"] => "api_admin_advisors",
        ["api", "v1", "presence", "webhook"] => "api_presence_webhook",
        ["api", "v1", "cards"] => "api_cards",
        ["api", "v1", "cards", _] => "api_card",
        ["api", "v1", "events"] => "api_events",
        ["api", "v1", "me"] => "api_me",
        ["api", "v1", "me", "presence"] => "api_me_presence",
        ["api", "v1", "me", "heartbeat"] => "api_me_heartbeat",
        ["api", "v1", "me", "inbox"] => "api_me_inbox",
        ["api", "v1", "me", "ws-ticket"] => "api_me_ws_ticket",
        ["api", "v1", "contacts"] => "api_contacts",
        ["api", "v1", "contacts", "best"] => "api_contacts_best",
        ["api", "v1", "contacts", _, "offline"] => "api_contact_offline",
        ["api", "v1", "contacts", _, "ice-servers"] => "api_contact_ice_servers",
        ["ws"] => "ws",
        ["console"] => "console",
        ["widget.js"] | ["call.js"] => "widget",
        ["demo", "widget"] => "demo_widget",
        _ => "not_found",
    }
}

pub async fn dispatch<S: Store, P: Push>(app: &App<S, P>, request: Request) -> Response {
    let path = request.uri().path().to_owned();
    let is_api = path.starts_with("/api/");
    let uri_len = path.len() + request.uri().query().map_or(0, str::len);
    if uri_len > MAX_URI_BYTES {
        return ApiError::new(
            StatusCode::URI_TOO_LONG,
            "uri_too_long",
            "the address is too long",
        )
        .into_response();
    }
    if request.body().len() > MAX_BODY_BYTES {
        return too_large().into_response();
    }
    if is_api {
        return match api_route(app, &request, &path).await {
            Ok(response) => response,
            Err(err) => err.into_response(),
        };
    }
    let ctx = PageCtx::new(
        &request,
        app.config.secure_cookies(),
        app.config.presence_poll_ms,
    );
    match page_route(app, &request, &path, &ctx).await {
        Ok(response) => response,
        Err(err) if err.status == StatusCode::METHOD_NOT_ALLOWED => err.into_response(),
        Err(err) if err.status == StatusCode::FORBIDDEN => err.into_response(),
        Err(err) if err.status == StatusCode::PAYLOAD_TOO_LARGE => err.into_response(),
        Err(err) if err.status.is_server_error() => pages::errors::unavailable(&ctx),
        Err(_) => pages::errors::not_found(&ctx),
    }
}

async fn api_route<S: Store, P: Push>(
    app: &App<S, P>,
    request: &Request,
    path: &str,
) -> Result<Response, ApiError> {
    let segments: Vec<&str> = path.trim_start_matches("/api/v1/").split('/').collect();
    if !path.starts_with("/api/v1/") {
        return Err(ApiError::not_found(
            "unknown API version; this server speaks /api/v1/",
        ));
    }
    let method = request.method();
    if let ["contacts", rest @ ..] = segments.as_slice() {
        use crate::contact::http as contact;
        if method == Method::OPTIONS {
            return Ok(contact::preflight());
        }
        let result = match (method, rest) {
            (&Method::POST, []) => contact::start(app, request).await,
            (&Method::GET, ["best"]) => contact::best(app, request).await,
            (&Method::POST, [id, "offline"]) => contact::offline(app, request, id).await,
            (&Method::POST, [id, "ice-servers"]) => contact::ice_servers(app, request, id).await,
            (_, [] | ["best"] | [_, "offline" | "ice-servers"]) => {
                Err(ApiError::method_not_allowed())
            }
            _ => Err(ApiError::not_found("no such API endpoint")),
        };
        return Ok(contact::cors(
            result.unwrap_or_else(ApiError::into_response),
        ));
    }
    match (method, segments.as_slice()) {
        (&Method::GET, ["me", "inbox"]) => crate::contact::http::inbox(app, request).await,
        (&Method::GET, ["advisors"]) => api::advisors::list(app, request).await,
        (&Method::POST, ["advisors"]) => api::advisors::upsert(app, request).await,
        (&Method::GET, ["advisors", id]) => api::advisors::get(app, request, id).await,
        (&Method::PUT, ["advisors", id, "presence"]) => {
            api::advisors::put_presence(app, request, id).await
        }
        (&Method::DELETE, ["advisors", id, "presence"]) => {
            api::advisors::reset_presence(app, request, id).await
        }
        (&Method::DELETE, ["advisors", id, "sessions"]) => {
            api::advisors::end_sessions(app, request, id).await
        }
        (&Method::POST, ["advisors", id, "signin-links"]) => {
            api::advisors::signin_link(app, request, id).await
        }
        (&Method::GET, ["admin", "advisors"]) => api::advisors::list_admin(app, request).await,
        (&Method::POST, ["presence", "webhook"]) => {
            api::advisors::presence_webhook(app, request).await
        }
        (&Method::GET, ["cards"]) => api::cards::list(app, request).await,
        (&Method::POST, ["cards"]) => api::cards::create(app, request).await,
        (&Method::GET, ["cards", id]) => api::cards::get(app, request, id).await,
        (&Method::DELETE, ["cards", id]) => api::cards::revoke(app, request, id).await,
        (&Method::GET, ["events"]) => api::events::list(app, request).await,
        (&Method::GET, ["me"]) => api::me::get(app, request).await,
        (&Method::PUT, ["me", "presence"]) => api::me::put_presence(app, request).await,
        (&Method::POST, ["me", "heartbeat"]) => api::me::heartbeat(app, request).await,
        (&Method::POST, ["me", "ws-ticket"]) => api::me::ws_ticket(app, request).await,
        (
            _,
            ["advisors"]
            | ["advisors", _]
            | ["advisors", _, "presence" | "signin-links" | "sessions"],
        )
        | (_, ["admin", "advisors"] | ["cards"] | ["cards", _] | ["events"] | ["me"])
        | (_, ["me", "presence" | "heartbeat" | "inbox" | "ws-ticket"] | ["presence", "webhook"]) => {
            Err(ApiError::method_not_allowed())
        }
        _ => Err(ApiError::not_found("no such API endpoint")),
    }
}

async fn page_route<S: Store, P: Push>(
    app: &App<S, P>,
    request: &Request,
    path: &str,
    ctx: &PageCtx,
) -> Result<Response, ApiError> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let method = request.method();
    let read = method == Method::GET || method == Method::HEAD;
    match segments.as_slice() {
        [""] if read => portal(app, request, ctx).await,
        ["healthz"] if read => Ok(json(StatusCode::OK, &serde_json::json!({ "status": "ok" }))),
        ["assets", name] if read => {
            crate::assets::serve(name).ok_or_else(|| ApiError::not_found("no such asset"))
        }
        ["c", token] if read => card(app, request, ctx, token).await,
        [name @ ("widget.js" | "widget.css" | "call.js")] if read => {
            let tag = request
                .headers()
                .get(http::header::IF_NONE_MATCH)
                .and_then(|v| v.to_str().ok());
            crate::assets::serve_widget(name, tag)
                .ok_or_else(|| ApiError::not_found("no such asset"))
        }
        ["console"] if read => me(app, request, ctx).await,
        ["signin", token] if read => Ok(pages::advisor::signin(ctx, token)),
        ["signin"] if method == Method::POST => signin(app, request, ctx).await,
        ["signout"] if method == Method::POST => signout(app, request, ctx).await,
        ["me"] if read => me(app, request, ctx).await,
        [""]
        | ["healthz"]
        | ["assets", _]
        | ["c", _]
        | ["signin", _]
        | ["signin"]
        | ["signout"]
        | ["widget.js" | "widget.css" | "call.js" | "console"]
        | ["me"] => Err(ApiError::method_not_allowed()),
        _ => Err(ApiError::not_found("no such page")),
    }
}

async fn portal<S: Store, P: Push>(
    app: &App<S, P>,
    request: &Request,
    ctx: &PageCtx,
) -> Result<Response, ApiError> {
    let params = query(request);
    // A bad filter on the page just shows everyone.
    let filter = Filter::from_query(&params).unwrap_or_default();
    let now = app.now();
    let everyone: Vec<PublicAdvisor> = all_matching(app, &Filter::default())
        .await?
        .iter()
        .map(|r| PublicAdvisor::of(r, now))
        .collect();
    let shown: Vec<PublicAdvisor> = everyone
        .iter()
        .filter(|a| {
            filter.topic.as_ref().is_none_or(|t| a.topics.contains(t))
                && filter
                    .language
                    .as_ref()
                    .is_none_or(|l| a.languages.contains(l))
        })
        .cloned()
        .collect();
    let mut event = app.new_event(EventName::PortalViewed);
    event.visitor = app.visitor_pseudonym(request);
    if let Some(topic) = &filter.topic {
        event = event.with_prop("topic", topic.as_str());
    }
    if let Some(language) = &filter.language {
        event = event.with_prop("language", language.as_str());
    }
    app.record(event.with_prop("shown", shown.len())).await;
    Ok(pages::portal::render(ctx, &shown, &everyone, &filter))
}

async fn card<S: Store, P: Push>(
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
    let mut event = app.new_event(EventName::CardOpened);
    event.advisor = Some(claims.advisor.clone());
    event.card = Some(claims.card_id.clone());
    event.campaign = claims.campaign.clone();
    event.visitor = app.visitor_pseudonym(request);
    app.record(event).await;
    Ok(pages::card::render(
        ctx,
        &PublicAdvisor::of(&record, now),
        &claims,
        token,
    ))
}

async fn signin<S: Store, P: Push>(
    app: &App<S, P>,
    request: &Request,
    ctx: &PageCtx,
) -> Result<Response, ApiError> {
    if !same_origin(request) {
        return Ok(pages::advisor::signin_failed(ctx));
    }
    let fields = form(request);
    let token = fields
        .iter()
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.as_str())
        .unwrap_or("");
    let Some(hash) = livecard_core::auth::signin_token_hash(token) else {
        return Ok(pages::advisor::signin_failed(ctx));
    };
    let Some(advisor) = app.store.take_signin(&hash, app.now()).await? else {
        return Ok(pages::advisor::signin_failed(ctx));
    };
    let Some(record) = app.store.get_advisor(&advisor).await? else {
        return Ok(pages::advisor::signin_failed(ctx));
    };
    let ttl = livecard_core::auth::SESSION_TTL_MS;
    let session = livecard_core::auth::AdvisorSession {
        advisor: advisor.clone(),
        epoch: record.session_epoch,
    };
    let value =
        livecard_core::auth::sign_session(&app.secrets.session_key, &session, app.now(), ttl);
    let mut response = redirect(&format!("/me?lang={}", ctx.lang.code()));
    if let Some(cookie) = set_cookie(
        SESSION_COOKIE,
        &value,
        ttl / 1000,
        true,
        app.config.secure_cookies(),
    ) {
        response
            .headers_mut()
            .append(http::header::SET_COOKIE, cookie);
    }
    tracing::info!(advisor = %advisor, "advisor signed in");
    Ok(response)
}

/// `POST /signout`: ends the advisor's sessions on the server (every
/// console they have open must sign in again) and clears the cookie. Only
/// from our own pages: another site cannot sign an advisor out.
async fn signout<S: Store, P: Push>(
    app: &App<S, P>,
    request: &Request,
    ctx: &PageCtx,
) -> Result<Response, ApiError> {
    if !same_origin(request) {
        return Err(ApiError::forbidden("cross-origin requests are not allowed"));
    }
    if let Some(record) = session(app, request).await? {
        app.end_advisor_sessions(&record.advisor.id).await?;
    }
    let mut response = pages::advisor::signed_out(ctx, StatusCode::OK);
    if let Some(cookie) = set_cookie(SESSION_COOKIE, "", 0, true, app.config.secure_cookies()) {
        response
            .headers_mut()
            .append(http::header::SET_COOKIE, cookie);
    }
    Ok(response)
}

async fn me<S: Store, P: Push>(
    app: &App<S, P>,
    request: &Request,
    ctx: &PageCtx,
) -> Result<Response, ApiError> {
    let Some(record) = session(app, request).await? else {
        return Ok(pages::advisor::signed_out(ctx, StatusCode::UNAUTHORIZED));
    };
    Ok(pages::advisor::me(
        ctx,
        &PublicAdvisor::of(&record, app.now()),
    ))
}

#[cfg(test)]
mod tests {
    use super::route_name;

    #[test]
    fn route_names_hide_secrets() {
        assert_eq!(route_name("/c/1.k1.secret.mac"), "card");
        assert_eq!(route_name("/signin/abc"), "signin");
        assert_eq!(route_name("/api/v1/cards/x"), "api_card");
        assert_eq!(route_name("/nope/nope"), "not_found");
    }
}
