//! The route table: which handler serves which method and path, and
//! nothing else (the handlers live with their idea: `api`, `contact`,
//! `cards`, `auth`, `pages`).

use crate::Push;
use crate::api;
use crate::http_util::{ApiError, json, too_large};
use crate::pages::handlers::{console, portal};
use crate::pages::{self, PageCtx};
use crate::{App, MAX_URI_BYTES, Request, Response, auth, cards};
use http::{Method, StatusCode};
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
        ["api", "v1", "connectors"] => "api_connectors",
        ["api", "v1", "ice-servers"] => "api_ice_servers",
        ["api", "v1", "connectors", "teams", "notifications"] => "api_teams_notifications",
        ["api", "v1", "presence", "webhook"] => "api_presence_webhook",
        ["api", "v1", "cards"] => "api_cards",
        ["api", "v1", "cards", _] => "api_card",
        ["api", "v1", "events"] => "api_events",
        ["api", "v1", "reports"] => "api_reports",
        ["api", "v1", "privacy"] => "api_privacy",
        ["reports"] => "reports",
        ["reports", _] => "reports_csv",
        ["api", "v1", "consent"] => "api_consent",
        ["api", "v1", "destinations"] => "api_destinations",
        ["api", "v1", "destinations", _] => "api_destination",
        ["api", "v1", "destinations", _, _] => "api_destination_action",
        ["api", "v1", "me"] => "api_me",
        ["api", "v1", "me", "presence"] => "api_me_presence",
        ["api", "v1", "me", "heartbeat"] => "api_me_heartbeat",
        ["api", "v1", "me", "inbox"] => "api_me_inbox",
        ["api", "v1", "me", "ws-ticket"] => "api_me_ws_ticket",
        ["api", "v1", "me", "queue"] => "api_me_queue",
        ["api", "v1", "me", "conversations", _] => "api_me_conversation",
        ["api", "v1", "me", "conversations", _, "earlier", _] => "api_me_conversation_earlier",
        ["api", "v1", "me", "conversations", _, "identity-images"] => "api_me_identity_images",
        ["api", "v1", "me", "conversations", _, "identity-images", _] => "api_me_identity_image",
        ["api", "v1", "me", "replies"] => "api_me_replies",
        ["api", "v1", "me", "replies", _, _] => "api_me_reply",
        ["api", "v1", "contacts"] => "api_contacts",
        ["api", "v1", "contacts", "best"] => "api_contacts_best",
        ["api", "v1", "contacts", _, "offline"] => "api_contact_offline",
        ["api", "v1", "contacts", _, "ice-servers"] => "api_contact_ice_servers",
        ["api", "v1", "contacts", _, "transcript"] => "api_contact_transcript",
        ["api", "v1", "contacts", _, "rating"] => "api_contact_rating",
        ["api", "v1", "media-nodes", _, "moves"] => "api_media_node_moves",
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
    if request.body().len() > crate::body_limit(&path) {
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
            (&Method::POST, [id, "transcript"]) => {
                crate::contact::after::transcript(app, request, id).await
            }
            (&Method::POST, [id, "rating"]) => {
                crate::contact::after::rating(app, request, id).await
            }
            (_, [] | ["best"] | [_, "offline" | "ice-servers" | "transcript" | "rating"]) => {
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
        (&Method::POST, ["media-nodes", id, "moves"]) => {
            crate::contact::moves::notice(app, request, id).await
        }
        (&Method::GET, ["advisors"]) => api::advisors::list(app, request).await,
        (&Method::POST, ["advisors"]) => api::advisors::upsert(app, request).await,
        (&Method::GET, ["advisors", id]) => api::advisors::get(app, request, id).await,
        (&Method::PUT, ["advisors", id, "presence"]) => {
            api::advisors::put_presence(app, request, id).await
        }
        (&Method::POST, ["connectors", "teams", "notifications"]) => {
            app.teams_notifications(request).await
        }
        (&Method::GET, ["ice-servers"]) => api::ice_servers::get(app, request).await,
        (&Method::PUT, ["ice-servers"]) => api::ice_servers::put(app, request).await,
        (&Method::GET, ["connectors"]) => {
            crate::auth::require_admin(app, request).await?;
            Ok(json(StatusCode::OK, &app.connectors.snapshot()))
        }
        (&Method::GET, ["advisors", id, "presence"]) => {
            api::advisors::get_presence(app, request, id).await
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
        (&Method::GET, ["reports"]) => crate::reports::api(app, request).await,
        (&Method::GET, ["privacy"]) => crate::privacy::export(app, request).await,
        (&Method::DELETE, ["privacy"]) => crate::privacy::erase(app, request).await,
        (&Method::POST, ["consent"]) => api::destinations::consent(app, request).await,
        (&Method::GET, ["destinations"]) => api::destinations::list(app, request).await,
        (&Method::GET, ["destinations", id]) => api::destinations::get(app, request, id).await,
        (&Method::PUT, ["destinations", id]) => api::destinations::put(app, request, id).await,
        (&Method::DELETE, ["destinations", id]) => {
            api::destinations::delete(app, request, id).await
        }
        (&Method::POST, ["destinations", id, "resume"]) => {
            api::destinations::resume(app, request, id).await
        }
        (&Method::POST, ["destinations", id, "pause"]) => {
            api::destinations::pause(app, request, id).await
        }
        (&Method::GET, ["destinations", id, "deliveries"]) => {
            api::destinations::deliveries(app, request, id).await
        }
        (&Method::POST, ["destinations", id, "replay"]) => {
            api::destinations::replay(app, request, id).await
        }
        (&Method::GET, ["me"]) => api::me::get(app, request).await,
        (&Method::PUT, ["me", "presence"]) => api::me::put_presence(app, request).await,
        (&Method::POST, ["me", "heartbeat"]) => api::me::heartbeat(app, request).await,
        (&Method::POST, ["me", "ws-ticket"]) => api::me::ws_ticket(app, request).await,
        (&Method::GET, ["me", "queue"]) => api::console::queue(app, request).await,
        (&Method::GET, ["me", "conversations", id]) => {
            api::console::context(app, request, id).await
        }
        (&Method::GET, ["me", "conversations", id, "earlier", earlier]) => {
            api::console::earlier(app, request, id, earlier).await
        }
        (&Method::POST, ["me", "conversations", id, api::identity::SEGMENT]) => {
            api::identity::keep(app, request, id).await
        }
        (&Method::GET, ["me", "conversations", id, api::identity::SEGMENT]) => {
            api::identity::list(app, request, id).await
        }
        (&Method::GET, ["me", "conversations", id, api::identity::SEGMENT, image]) => {
            api::identity::image(app, request, id, image).await
        }
        (&Method::GET, ["me", "replies"]) => api::console::replies(app, request).await,
        (&Method::PUT, ["me", "replies", scope, shortcut]) => {
            api::console::put_reply(app, request, scope, shortcut).await
        }
        (&Method::DELETE, ["me", "replies", scope, shortcut]) => {
            api::console::delete_reply(app, request, scope, shortcut).await
        }
        (
            _,
            ["advisors"]
            | ["advisors", _]
            | ["advisors", _, "presence" | "signin-links" | "sessions"],
        )
        | (
            _,
            ["admin", "advisors"]
            | ["cards"]
            | ["cards", _]
            | ["events"]
            | ["reports"]
            | ["privacy"]
            | ["connectors"]
            | ["ice-servers"]
            | ["connectors", "teams", "notifications"]
            | ["me"],
        )
        | (
            _,
            ["consent"]
            | ["destinations"]
            | ["destinations", _]
            | [
                "destinations",
                _,
                "resume" | "pause" | "deliveries" | "replay",
            ],
        )
        | (
            _,
            [
                "me",
                "presence" | "heartbeat" | "inbox" | "ws-ticket" | "queue" | "replies",
            ]
            | ["me", "conversations", _]
            | ["me", "conversations", _, "earlier", _]
            | ["me", "conversations", _, "identity-images"]
            | ["me", "conversations", _, "identity-images", _]
            | ["me", "replies", _, _]
            | ["presence", "webhook"],
        ) => Err(ApiError::method_not_allowed()),
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
        ["healthz"] if read => {
            let connectors = app.connectors.public();
            let mut body = serde_json::json!({ "status": "ok" });
            if connectors.as_object().is_some_and(|c| !c.is_empty()) {
                body["connectors"] = connectors;
            }
            Ok(json(StatusCode::OK, &body))
        }
        ["assets", name] if read => {
            crate::assets::serve(name).ok_or_else(|| ApiError::not_found("no such asset"))
        }
        ["c", token] if read => cards::card_page(app, request, ctx, token).await,
        [name @ ("widget.js" | "widget.css" | "call.js")] if read => {
            let tag = request
                .headers()
                .get(http::header::IF_NONE_MATCH)
                .and_then(|v| v.to_str().ok());
            crate::assets::serve_widget(name, tag)
                .ok_or_else(|| ApiError::not_found("no such asset"))
        }
        ["console"] if read => console(app, request, ctx).await,
        ["signin", token] if read => Ok(pages::advisor::signin(ctx, token)),
        ["signin"] if method == Method::POST => auth::signin(app, request, ctx).await,
        ["signout"] if method == Method::POST => auth::signout(app, request, ctx).await,
        ["me"] if read => console(app, request, ctx).await,
        ["reports"] if read => crate::reports::page(app, request, ctx, None).await,
        ["reports"] if method == Method::POST => crate::reports::signin(app, request, ctx).await,
        ["reports", file] if read => crate::reports::page(app, request, ctx, Some(file)).await,
        [""]
        | ["healthz"]
        | ["assets", _]
        | ["c", _]
        | ["signin", _]
        | ["signin"]
        | ["signout"]
        | ["widget.js" | "widget.css" | "call.js" | "console"]
        | ["me"]
        | ["reports"]
        | ["reports", _] => Err(ApiError::method_not_allowed()),
        _ => Err(ApiError::not_found("no such page")),
    }
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
