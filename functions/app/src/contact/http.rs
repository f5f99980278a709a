//! JSON endpoints of contact sessions (`docs/api.md`).
//!
//! The visitor endpoints are called from our pages and, through the widget,
//! from any site: they answer with `Access-Control-Allow-Origin: *`, take no
//! cookies they depend on (the visitor id also travels in the body), and
//! authorise by the session token the start answer hands out.

use super::Push;
use super::engine::ContactError;
use crate::http_util::{
    ApiError, cookie, json, parse_json, query, query_param, same_origin, set_cookie,
};
use crate::{App, Request, Response};
use http::{HeaderValue, StatusCode, header};
use livecard_core::advisor::{valid_language, valid_topic};
use livecard_core::card::CardError;
use livecard_core::channel::Channel;
use livecard_core::ids::{AdvisorId, RandomId};
use livecard_core::offline::{Inbox, InboxPosition, OfflineMessage};
use livecard_core::routing::{DEFAULT_AFFINITY_MS, RouteRequest};
use livecard_core::session::{EndReason, Origin, Phase, Session, Wanted};
use livecard_core::session::{session_token, verify_session_token};
use livecard_core::visitor::{new_visitor_id, sign_visitor_cookie, verify_visitor_cookie};
use livecard_store::{Created, Store, StoredSession};
use serde::Deserialize;
use serde_json::json;

pub const VISITOR_COOKIE: &str = "lc_visitor";
/// Contact requests one client (daily address pseudonym) may make per
/// window.
pub const CONTACTS_PER_WINDOW: u32 = 30;
pub const CONTACT_WINDOW_MS: u64 = 10 * 60_000;
/// Offline messages one client may leave per window (one per contact
/// session in any case).
pub const OFFLINE_PER_WINDOW: u32 = 5;
pub const OFFLINE_WINDOW_MS: u64 = 60 * 60_000;
/// Inbox messages per page, at most.
pub const INBOX_PAGE: u16 = 50;

fn with_headers<const N: usize>(
    response: &mut Response,
    headers: [(header::HeaderName, &'static str); N],
) {
    for (name, value) in headers {
        response
            .headers_mut()
            .insert(name, HeaderValue::from_static(value));
    }
}

/// Adds the headers that let any site call a visitor endpoint.
pub fn cors(mut response: Response) -> Response {
    with_headers(
        &mut response,
        [
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
            (header::ACCESS_CONTROL_EXPOSE_HEADERS, "etag"),
        ],
    );
    response
}

/// The answer to a CORS preflight of a visitor endpoint.
pub fn preflight() -> Response {
    let mut response = http::Response::new(bytes::Bytes::new());
    *response.status_mut() = StatusCode::NO_CONTENT;
    with_headers(
        &mut response,
        [
            (header::ACCESS_CONTROL_ALLOW_METHODS, "GET, POST"),
            (header::ACCESS_CONTROL_ALLOW_HEADERS, "content-type"),
            (header::ACCESS_CONTROL_MAX_AGE, "600"),
        ],
    );
    cors(response)
}

/// The longest `page` a contact request may send (what is kept is at
/// most `MAX_PAGE_URL` without the query).
const MAX_PAGE_FIELD: usize = 2048;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StartBody {
    /// A card link's token: its advisor is asked first.
    #[serde(default)]
    card: Option<String>,
    /// An advisor picked on the portal: asked first, like a card's.
    #[serde(default)]
    advisor: Option<String>,
    #[serde(default)]
    topic: Option<String>,
    #[serde(default)]
    language: Option<String>,
    #[serde(default)]
    channel: Option<Channel>,
    #[serde(default)]
    origin: Option<Origin>,
    /// The signed visitor id from an earlier answer (the widget keeps it in
    /// the host page's storage; our pages also have it as a cookie).
    #[serde(default)]
    visitor: Option<String>,
    /// The address of the page the widget is on (at most 2 KiB; kept
    /// without its query and fragment).
    #[serde(default)]
    page: Option<String>,
    /// The page's analytics consent (`docs/analytics.md`).
    #[serde(default)]
    consent: Option<livecard_core::forward::Consent>,
}

impl StartBody {
    /// What the request asks for, when its fields are valid (a card token
    /// and an advisor are checked against the store by the handler).
    pub(crate) fn check(&self) -> Result<(Channel, Wanted), ApiError> {
        let channel = self.channel.unwrap_or(Channel::Chat);
        let mut wanted = Wanted {
            origin: self.origin.unwrap_or(Origin::Portal),
            ..Wanted::default()
        };
        if wanted.origin == Origin::Card {
            return Err(ApiError::bad_request(
                "origin \"card\" is implied by a card token",
            ));
        }
        if let Some(topic) = &self.topic {
            if !valid_topic(topic) {
                return Err(ApiError::bad_request(
                    "topic must be a slug of 1 to 32 characters (a-z, 0-9, '-')",
                ));
            }
            wanted.topic = Some(topic.clone());
        }
        if let Some(language) = &self.language {
            if !valid_language(language) {
                return Err(ApiError::bad_request(
                    "language must be a language code of 2 or 3 lower-case letters",
                ));
            }
            wanted.language = Some(language.clone());
        }
        if let Some(page) = &self.page {
            if page.len() > MAX_PAGE_FIELD {
                return Err(ApiError::bad_request("page must be at most 2048 bytes"));
            }
            wanted.page = Some(livecard_core::session::page_url(page).ok_or_else(|| {
                ApiError::bad_request("page must be an http or https address of printable ASCII")
            })?);
        }
        if let Some(consent) = &self.consent {
            wanted.consent = consent
                .clone()
                .checked()
                .map_err(|e| ApiError::bad_request(e.to_string()))?;
        }
        if self.card.is_some() && self.advisor.is_some() {
            return Err(ApiError::bad_request("give a card or an advisor, not both"));
        }
        if let Some(id) = &self.advisor {
            AdvisorId::parse(id).map_err(|_| ApiError::bad_request("advisor is not a valid id"))?;
        }
        Ok((channel, wanted))
    }
}

impl From<ContactError> for ApiError {
    fn from(err: ContactError) -> Self {
        match err {
            ContactError::Store(store) => store.into(),
            ContactError::NotFound => ApiError::not_found("no such session"),
            ContactError::Busy => ApiError::unavailable(),
            ContactError::Refused(code) => {
                ApiError::new(StatusCode::CONFLICT, code, err.to_string())
            }
            ContactError::Session(session) => {
                ApiError::new(StatusCode::CONFLICT, "conflict", session.to_string())
            }
        }
    }
}

/// `POST /api/v1/contacts`: a visitor asks for contact.
pub async fn start<S: Store, P: Push>(
    app: &App<S, P>,
    request: &Request,
) -> Result<Response, ApiError> {
    let now = app.now();
    let body: StartBody = parse_json(request)?;
    let (channel, mut wanted) = body.check()?;
    let asked = match (body.card, body.advisor) {
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request("give a card or an advisor, not both"));
        }
        (Some(token), None) => {
            let claims = app
                .secrets
                .cards
                .verify(&token, now)
                .map_err(card_refused)?;
            match app.card_for_visitor(&claims.card_id).await? {
                Some(card) if card.revoked_at.is_none() => {}
                _ => return Err(card_refused(CardError::Revoked)),
            }
            if !claims.channels.contains(channel) {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "channel_not_offered",
                    format!("this card does not offer {}", channel.as_str()),
                ));
            }
            wanted.origin = Origin::Card;
            wanted.channels = Some(claims.channels);
            wanted.card = Some(claims.card_id.clone());
            wanted.campaign = claims.campaign.clone();
            Some(claims.advisor)
        }
        (None, Some(id)) => Some(
            AdvisorId::parse(&id)
                .map_err(|_| ApiError::bad_request("advisor is not a valid id"))?,
        ),
        (None, None) => None,
    };
    if let Some(advisor) = asked {
        let record = app
            .advisor_for_visitor(&advisor)
            .await?
            .ok_or_else(|| ApiError::not_found("no such advisor"))?;
        if wanted.topic.is_none() {
            wanted.topic = record.advisor.topics.first().cloned();
        }
        wanted.advisor = Some(advisor);
    }
    // Only valid requests count: junk from many addresses fills nobody's
    // window (and a full table evicts rather than refusing newcomers).
    if let Some(key) = app.client_key(request)
        && let Err(wait_ms) = app.contact_limiter.allow(&key, now)
    {
        return Err(ApiError::rate_limited(
            "too many contact requests; try again in a few minutes",
            wait_ms,
        ));
    }
    let signed = body
        .visitor
        .as_deref()
        .or_else(|| cookie(request, VISITOR_COOKIE));
    let visitor = signed
        .and_then(|value| verify_visitor_cookie(&app.secrets.visitor_key, value))
        .unwrap_or_else(|| new_visitor_id(app.random_bytes()));
    if wanted.advisor.is_none()
        && let Some((advisor, _)) = app.store.last_advisor(&visitor, now).await?
    {
        wanted.preferred = Some(advisor);
    }
    let id = RandomId::from_bytes(app.random_bytes()).to_string();
    let mut session = Session::new(channel, now);
    session.request = wanted;
    let stored = StoredSession {
        id: id.clone(),
        visitor: visitor.clone(),
        session,
        version: 1,
    };
    app.create_session(&stored).await?;
    let current = app
        .store
        .get_session(&id)
        .await?
        .ok_or_else(ApiError::unavailable)?;
    let signed_visitor = sign_visitor_cookie(&app.secrets.visitor_key, &visitor);
    let mut response = json(
        StatusCode::CREATED,
        &json!({
            "session": id,
            "token": session_token(&app.secrets.session_key, &id),
            "visitor": signed_visitor,
            "ws": app.config.websocket_url(),
            "state": app.state_message(&current).await.to_value(),
        }),
    );
    if same_origin(request)
        && let Some(value) = set_cookie(
            VISITOR_COOKIE,
            &signed_visitor,
            DEFAULT_AFFINITY_MS / 1000,
            true,
            app.config.secure_cookies(),
        )
    {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    Ok(response)
}

fn card_refused(err: CardError) -> ApiError {
    tracing::info!(reason = err.reason(), "card link refused");
    ApiError::new(
        StatusCode::NOT_FOUND,
        "invalid_card",
        "this card link is not valid (any more)",
    )
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct OfflineBody {
    pub(crate) token: String,
    pub(crate) name: String,
    pub(crate) email: String,
    pub(crate) text: String,
}

/// `POST /api/v1/contacts/{id}/offline`: the visitor leaves a message
/// instead of waiting; it lands in the advisor's or the topic's inbox.
pub async fn offline<S: Store, P: Push>(
    app: &App<S, P>,
    request: &Request,
    id: &str,
) -> Result<Response, ApiError> {
    let now = app.now();
    let body: OfflineBody = parse_json(request)?;
    if !verify_session_token(&app.secrets.session_key, id, &body.token) {
        return Err(ApiError::not_found("no such session"));
    }
    let stored = app
        .store
        .get_session(id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such session"))?;
    match stored.session.phase {
        Phase::Connected { .. } => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "connected",
                "an advisor has taken this contact; write in the chat",
            ));
        }
        Phase::Ended { .. } => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "ended",
                "this contact has ended; start a new one to leave a message",
            ));
        }
        _ => {}
    }
    let inbox = stored.session.request.inbox();
    // The message takes the session's id: one per contact session, however
    // many requests race (the store writes it only if absent).
    let message_id = RandomId::parse(id).map_err(|_| ApiError::not_found("no such session"))?;
    let message = OfflineMessage::new(message_id, inbox, &body.name, &body.email, &body.text, now)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    if let Some(key) = app.client_key(request)
        && let Err(wait_ms) = app.offline_limiter.allow(&key, now)
    {
        return Err(ApiError::rate_limited(
            "too many offline messages; try again later",
            wait_ms,
        ));
    }
    let expires = now.saturating_add(app.config.offline_retention_ms);
    if app.store.put_offline_message(&message, expires).await? == Created::AlreadyExists {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "already_sent",
            "a message was already left for this contact",
        ));
    }
    let updated = app.end_session(id, EndReason::OfflineMessage).await;
    match updated {
        Ok(updated) => app.after_release(&updated.released).await,
        Err(err) => tracing::info!(error = %err, "session not ended by offline message"),
    }
    Ok(json(
        StatusCode::CREATED,
        &json!({ "id": message.id.to_string(), "inbox": message.inbox.key() }),
    ))
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct IceBody {
    /// The visitor's session token; an advisor sends none (cookie).
    #[serde(default)]
    token: Option<String>,
    /// Media nodes to leave out (`host:port` of their TURN URLs): the one a
    /// call lost, before an ICE restart.
    #[serde(default)]
    exclude: Vec<String>,
}

/// The most nodes one request may leave out, and the longest name of one.
const MAX_EXCLUDED: usize = 4;
const MAX_EXCLUDED_LEN: usize = 300;

/// `POST /api/v1/contacts/{id}/ice-servers`: the ICE servers for a call in
/// this session, for one of its two participants: the visitor (session
/// token) or the advisor it is rung to or taken by (session cookie, same
/// origin). TURN credentials are short-lived and name the participant;
/// nodes are the healthy, least-loaded ones. Anyone else gets 404; a
/// session no advisor has taken yet, or one that ended, gets 409.
pub async fn ice_servers<S: Store, P: Push>(
    app: &App<S, P>,
    request: &Request,
    id: &str,
) -> Result<Response, ApiError> {
    let now = app.now();
    let body: IceBody = if request.body().is_empty() {
        IceBody::default()
    } else {
        parse_json(request)?
    };
    if body.exclude.len() > MAX_EXCLUDED || body.exclude.iter().any(|e| e.len() > MAX_EXCLUDED_LEN)
    {
        return Err(ApiError::bad_request(
            "exclude names at most 4 nodes as host:port",
        ));
    }
    let not_found = || ApiError::not_found("no such session");
    let (stored, participant) = match &body.token {
        Some(token) => {
            if !verify_session_token(&app.secrets.session_key, id, token) {
                return Err(not_found());
            }
            let stored = app.store.get_session(id).await?.ok_or_else(not_found)?;
            (stored, format!("{id}-visitor"))
        }
        None => {
            if !same_origin(request) {
                return Err(not_found());
            }
            let advisor = crate::auth::session(app, request)
                .await?
                .ok_or_else(not_found)?
                .advisor
                .id;
            let stored = app.store.get_session(id).await?.ok_or_else(not_found)?;
            if stored.session.current_advisor() != Some(&advisor) {
                return Err(not_found());
            }
            (stored, format!("{id}-{advisor}"))
        }
    };
    // Relay credentials only for a contact that an advisor took: a bare
    // contact request (or one still ringing) cannot borrow the relay, and
    // an ended one gets nothing new (credentials handed out before allocate
    // for their short lifetime at most, docs/turn.md).
    match stored.session.phase {
        Phase::Connected { .. } => {}
        Phase::Ended { .. } => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "ended",
                "the session has ended",
            ));
        }
        _ => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "not_connected",
                "calls start once an advisor has taken the contact",
            ));
        }
    }
    let mut nodes = app.store.live_media_nodes(now, 100).await?;
    nodes.retain(|node| !body.exclude.iter().any(|relay| node.is_at(relay)));
    let picked = livecard_core::media::pick(&nodes, now, livecard_core::media::NODES_PER_CALL);
    // One credential for livecard's nodes and the TURN servers that share
    // the secret (coturn), when there is a secret and somewhere to use it.
    let others = app.other_servers().await;
    let credential = match &app.secrets.turn_secret {
        Some(secret) if !picked.is_empty() || !others.turn.is_empty() => Some(
            livecard_core::turn::issue(secret, &participant, now, app.config.turn_ttl_ms)
                .map_err(|_| not_found())?,
        ),
        _ => None,
    };
    let relay_only = app.config.relay_only;
    let mut servers = match &credential {
        Some(credential) => livecard_core::media::ice_servers(&picked, credential, relay_only),
        None => Vec::new(),
    };
    servers.extend(others.ice_servers(credential.as_ref(), relay_only));
    let mut expires_at = credential.as_ref().map(|c| c.expires_at);
    if let Some((provided, until)) = super::provider::servers(app).await {
        servers.extend(provided);
        expires_at = Some(expires_at.map_or(until, |e| e.min(until)));
    }
    if servers.is_empty() && app.config.relay_only {
        tracing::warn!("relay-only policy, but no media node is available");
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "no_relay",
            "no media relay is available; try again shortly",
        ));
    }
    Ok(json(
        StatusCode::OK,
        &json!({
            "ice_servers": servers,
            "ice_transport_policy": if app.config.relay_only { "relay" } else { "all" },
            "expires_at": expires_at,
            "files": app.config.files,
        }),
    ))
}

/// `GET /api/v1/contacts/best?topic=&language=&channel=`: the advisor a
/// contact request would ring first now (for the widget), or `null`.
pub async fn best<S: Store, P: Push>(
    app: &App<S, P>,
    request: &Request,
) -> Result<Response, ApiError> {
    let params = query(request);
    let filter = crate::api::advisors::Filter::from_query(&params)?;
    let channel = match query_param(&params, "channel") {
        None => Channel::Chat,
        Some(text) => serde_json::from_value(json!(text))
            .map_err(|_| ApiError::bad_request("channel must be chat, audio or video"))?,
    };
    let mut route = RouteRequest::new(channel);
    route.topic = filter.topic;
    route.language = filter.language;
    let best = app.best_advisor(&route).await?;
    Ok(json(StatusCode::OK, &json!({ "advisor": best })))
}

/// `GET /api/v1/me/inbox?cursor=&limit=`: offline messages for the
/// signed-in advisor and their topics, newest first, a page at a time
/// (`next` is the cursor of the following page, `null` after the last).
pub async fn inbox<S: Store, P: Push>(
    app: &App<S, P>,
    request: &Request,
) -> Result<Response, ApiError> {
    let record = crate::auth::session(app, request)
        .await?
        .ok_or_else(ApiError::not_signed_in)?;
    let params = query(request);
    let after = match query_param(&params, "cursor") {
        None => None,
        Some(text) => Some(
            InboxPosition::parse_cursor(text)
                .ok_or_else(|| ApiError::bad_request("the cursor is not valid"))?,
        ),
    };
    let limit = match query_param(&params, "limit") {
        None => INBOX_PAGE,
        Some(text) => text
            .parse::<u16>()
            .ok()
            .filter(|n| (1..=INBOX_PAGE).contains(n))
            .ok_or_else(|| ApiError::bad_request("limit must be 1 to 50"))?,
    };
    let mut inboxes = vec![Inbox::Advisor(record.advisor.id.clone())];
    inboxes.extend(record.advisor.topics.iter().cloned().map(Inbox::Topic));
    // One more than a page from each inbox: whatever is left after the page
    // is taken says whether another page follows.
    let keys: Vec<String> = inboxes.iter().map(Inbox::key).collect();
    let pages = futures_util::future::try_join_all(
        keys.iter()
            .map(|key| app.store.list_inbox(key, after.as_ref(), limit + 1)),
    )
    .await?;
    let mut messages: Vec<OfflineMessage> = pages.into_iter().flatten().collect();
    messages.sort_by_cached_key(|m| std::cmp::Reverse(InboxPosition::of(m).sort_key()));
    let more = messages.len() > usize::from(limit);
    messages.truncate(usize::from(limit));
    let next = more
        .then(|| messages.last().map(|m| InboxPosition::of(m).cursor()))
        .flatten();
    Ok(json(
        StatusCode::OK,
        &json!({ "items": messages, "next": next }),
    ))
}
