//! `/api/v1/advisors`: the public directory with live presence, and the
//! admin operations on advisors.

use super::{PresenceBody, page_request};
use crate::Push;
use crate::auth::require_admin;
use crate::http_util::{ApiError, json, parse_json, query, query_param};
use crate::{App, Request, Response};
use http::StatusCode;
use http::header::{ETAG, HeaderValue};
use livecard_core::UnixMillis;
use livecard_core::advisor::{AdvisorInput, valid_language, valid_topic};
use livecard_core::channel::ChannelSet;
use livecard_core::ids::AdvisorId;
use livecard_core::presence::{
    PresencePolicy, PresenceSource, PresenceState, PresenceView, Signal,
};
use livecard_store::{AdvisorRecord, PageRequest, PresenceWrite, Store};
use serde::Serialize;

/// An advisor as visitors may see them.
#[derive(Debug, Clone, Serialize)]
pub struct PublicAdvisor {
    pub id: AdvisorId,
    pub display_name: String,
    pub title: String,
    pub photo_url: Option<String>,
    pub languages: Vec<String>,
    pub topics: Vec<String>,
    pub channels: ChannelSet,
    pub presence: PresenceView,
    pub status: PresenceState,
}

impl PublicAdvisor {
    pub fn of(record: &AdvisorRecord, policy: &PresencePolicy, now: UnixMillis) -> Self {
        let presence = PresenceView::of(&record.advisor, &record.presence, policy, now);
        let a = &record.advisor;
        Self {
            id: a.id.clone(),
            display_name: a.display_name.clone(),
            title: a.title.clone(),
            photo_url: a.photo_url.clone(),
            languages: a.languages.clone(),
            topics: a.topics.clone(),
            channels: a.channels,
            presence,
            status: presence.overall(),
        }
    }
}

/// Topic and language filters, validated.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub topic: Option<String>,
    pub language: Option<String>,
}

impl Filter {
    pub fn from_query(params: &[(String, String)]) -> Result<Self, ApiError> {
        let topic = query_param(params, "topic").map(str::to_owned);
        if topic.as_deref().is_some_and(|t| !valid_topic(t)) {
            return Err(ApiError::bad_request(
                "topic must be a slug of 1 to 32 characters (a-z, 0-9, '-')",
            ));
        }
        let language = query_param(params, "language").map(str::to_owned);
        if language.as_deref().is_some_and(|l| !valid_language(l)) {
            return Err(ApiError::bad_request(
                "language must be a language code of 2 or 3 lower-case letters",
            ));
        }
        Ok(Self { topic, language })
    }

    pub fn matches(&self, record: &AdvisorRecord) -> bool {
        record
            .advisor
            .matches(self.topic.as_deref(), self.language.as_deref())
    }
}

/// Every advisor matching `filter`, reading the whole directory page by page
/// (bounded, so a huge directory cannot make a request run forever).
pub async fn all_matching<S: Store, P: Push>(
    app: &App<S, P>,
    filter: &Filter,
) -> Result<Vec<AdvisorRecord>, ApiError> {
    const MAX_PAGES: usize = 50;
    let mut request = PageRequest::first(livecard_store::MAX_PAGE);
    let mut out = Vec::new();
    for _ in 0..MAX_PAGES {
        let page = app.store.list_advisors(&request).await?;
        out.extend(page.items.into_iter().filter(|r| filter.matches(r)));
        match page.next {
            Some(next) => request.cursor = Some(next),
            None => break,
        }
    }
    Ok(out)
}

/// A JSON response with a strong ETag, answered with 304 when it matches.
fn json_with_etag<T: Serialize>(request: &Request, value: &T) -> Response {
    let mut response = json(StatusCode::OK, value);
    let etag = format!(
        "\"{}\"",
        &livecard_core::encoding::sha256_hex(response.body())[..32]
    );
    if let Ok(value) = HeaderValue::from_str(&etag) {
        response.headers_mut().insert(ETAG, value);
    }
    response.headers_mut().insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache"),
    );
    crate::http_util::not_modified_if_current(request.headers(), response)
}

/// `GET /api/v1/advisors?topic=&language=&limit=&cursor=`: a page of the
/// directory; filters apply within the page, so a page may hold fewer than
/// `limit` items while `next` is set.
pub async fn list<S: Store, P: Push>(
    app: &App<S, P>,
    request: &Request,
) -> Result<Response, ApiError> {
    let params = query(request);
    let filter = Filter::from_query(&params)?;
    let page = app
        .store
        .list_advisors(&page_request(&params, 100)?)
        .await?;
    let now = app.now();
    let advisors: Vec<PublicAdvisor> = page
        .items
        .iter()
        .filter(|r| filter.matches(r))
        .map(|r| PublicAdvisor::of(r, &app.config.presence, now))
        .collect();
    #[derive(Serialize)]
    struct Body {
        advisors: Vec<PublicAdvisor>,
        next: Option<String>,
    }
    Ok(json_with_etag(
        request,
        &Body {
            advisors,
            next: page.next,
        },
    ))
}

pub fn parse_id(text: &str) -> Result<AdvisorId, ApiError> {
    AdvisorId::parse(text).map_err(|e| ApiError::bad_request(e.to_string()))
}

/// `GET /api/v1/advisors/{id}`
pub async fn get<S: Store, P: Push>(
    app: &App<S, P>,
    request: &Request,
    id: &str,
) -> Result<Response, ApiError> {
    let id = parse_id(id)?;
    let record = app
        .store
        .get_advisor(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no advisor {id}")))?;
    Ok(json_with_etag(
        request,
        &PublicAdvisor::of(&record, &app.config.presence, app.now()),
    ))
}

/// `POST /api/v1/advisors` (admin): creates or replaces an advisor.
pub async fn upsert<S: Store, P: Push>(
    app: &App<S, P>,
    request: &Request,
) -> Result<Response, ApiError> {
    require_admin(app, request).await?;
    let input: AdvisorInput = parse_json(request)?;
    let advisor = input
        .validate()
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let existed = app.store.get_advisor(&advisor.id).await?.is_some();
    app.save_advisor(&advisor).await?;
    let status = if existed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok(json(status, &advisor))
}

/// `POST /api/v1/advisors/{id}/signin-links` (admin).
pub async fn signin_link<S: Store, P: Push>(
    app: &App<S, P>,
    request: &Request,
    id: &str,
) -> Result<Response, ApiError> {
    require_admin(app, request).await?;
    let id = parse_id(id)?;
    let (url, expires_at) = app.create_signin_link(&id).await?;
    #[derive(Serialize)]
    struct Body {
        url: String,
        expires_at: u64,
    }
    Ok(json(StatusCode::CREATED, &Body { url, expires_at }))
}

/// `PUT /api/v1/advisors/{id}/presence` (admin or the company presence
/// system): without `version` a manual update, with it a synced one.
pub async fn put_presence<S: Store, P: Push>(
    app: &App<S, P>,
    request: &Request,
    id: &str,
) -> Result<Response, ApiError> {
    require_admin(app, request).await?;
    let id = parse_id(id)?;
    let body: PresenceBody = parse_json(request)?;
    let policy = app.config.presence;
    let update = match body.version {
        Some(version) => {
            if body.until.is_some() {
                return Err(ApiError::bad_request(
                    "until belongs to a manual update; a synced one takes expires_at",
                ));
            }
            policy.source_update(
                PresenceSource::Webhook,
                body.signals(),
                version,
                body.expires_at,
                app.now(),
            )
        }
        None => {
            let states = body.manual_states()?;
            let now = app.now();
            policy.manual_update(states, now, app.manual_until(body.until, now))
        }
    }
    .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let result = presence_result(app.set_presence(&id, &update).await?, &id)?;
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({ "result": result }),
    ))
}

/// `GET /api/v1/advisors/{id}/presence` (admin): every source's entries,
/// the console's heartbeat, and per channel the state with the rule and
/// source that decided it now.
pub async fn get_presence<S: Store, P: Push>(
    app: &App<S, P>,
    request: &Request,
    id: &str,
) -> Result<Response, ApiError> {
    require_admin(app, request).await?;
    let id = parse_id(id)?;
    let record = app
        .store
        .get_advisor(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no advisor {id}")))?;
    let now = app.now();
    let policy = &app.config.presence;
    let decisions: std::collections::BTreeMap<&str, _> = livecard_core::channel::Channel::ALL
        .into_iter()
        .map(|c| {
            (
                c.as_str(),
                record
                    .presence
                    .decide(c, record.advisor.channels, policy, now),
            )
        })
        .collect();
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({
            "advisor": id,
            "now": now,
            "console": {
                "live": record.presence.console_live(now),
                "heartbeat_until": record.presence.heartbeat_until,
            },
            "sources": record.presence.sources,
            "decisions": decisions,
            "stored_effective": record.effective,
        }),
    ))
}

/// `DELETE /api/v1/advisors/{id}/presence` (admin): forgets the advisor's
/// presence and its versions (a source that sent a version far ahead of
/// the clock before it was refused, or a system that was replaced); the
/// advisor reads as offline until the next update of any source.
pub async fn reset_presence<S: Store, P: Push>(
    app: &App<S, P>,
    request: &Request,
    id: &str,
) -> Result<Response, ApiError> {
    advisor_action(app, request, id, "reset", |id| async move {
        app.reset_presence(&id).await
    })
    .await
}

/// `DELETE /api/v1/advisors/{id}/sessions` (admin): ends every session
/// of the advisor (a lost laptop, someone who left); their consoles must
/// sign in again with a new link.
pub async fn end_sessions<S: Store, P: Push>(
    app: &App<S, P>,
    request: &Request,
    id: &str,
) -> Result<Response, ApiError> {
    advisor_action(app, request, id, "ended", |id| async move {
        app.end_advisor_sessions(&id).await
    })
    .await
}

/// An admin's action on one advisor: `{"result": done}`, or 404 when
/// `action` found no such advisor.
async fn advisor_action<S, P, F, Fut>(
    app: &App<S, P>,
    request: &Request,
    id: &str,
    done: &'static str,
    action: F,
) -> Result<Response, ApiError>
where
    S: Store,
    P: Push,
    F: FnOnce(AdvisorId) -> Fut,
    Fut: std::future::Future<Output = Result<bool, ApiError>>,
{
    require_admin(app, request).await?;
    let id = parse_id(id)?;
    if !action(id.clone()).await? {
        return Err(ApiError::not_found(format!("no advisor {id}")));
    }
    Ok(json(StatusCode::OK, &serde_json::json!({ "result": done })))
}

/// The answer's word for a presence write; 404 for an unknown advisor.
pub fn presence_result(write: PresenceWrite, id: &AdvisorId) -> Result<&'static str, ApiError> {
    match write {
        PresenceWrite::Applied(_) => Ok("applied"),
        PresenceWrite::Stale => Ok("stale"),
        PresenceWrite::UnknownAdvisor => Err(ApiError::not_found(format!("no advisor {id}"))),
    }
}

/// `GET /api/v1/advisors` page for admins, with presence versions (for
/// the CLI's `advisor list`).
pub async fn list_admin<S: Store, P: Push>(
    app: &App<S, P>,
    request: &Request,
) -> Result<Response, ApiError> {
    require_admin(app, request).await?;
    let params = query(request);
    let page = app
        .store
        .list_advisors(&page_request(&params, 100)?)
        .await?;
    let now = app.now();
    let advisors: Vec<serde_json::Value> = page
        .items
        .iter()
        .map(|r| {
            serde_json::json!({
                "advisor": r.advisor,
                "presence": PresenceView::of(&r.advisor, &r.presence, &app.config.presence, now),
                "presence_version": r.presence.version(),
            })
        })
        .collect();
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({ "advisors": advisors, "next": page.next }),
    ))
}

/// A presence push from the company's presence system.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookBody {
    pub advisor: String,
    pub states: std::collections::BTreeMap<livecard_core::channel::Channel, Signal>,
    /// The sender's clock in milliseconds: newer wins.
    pub version: u64,
    /// When the pushed state stops counting (optional).
    #[serde(default)]
    pub expires_at: Option<u64>,
}

/// `POST /api/v1/presence/webhook`: presence pushed by the company presence
/// system, signed with the shared secret (Standard Webhooks). A replayed
/// message changes nothing: it is answered `duplicate`.
pub async fn presence_webhook<S: Store, P: Push>(
    app: &App<S, P>,
    request: &Request,
) -> Result<Response, ApiError> {
    use livecard_core::webhook;
    let header = |name| request.headers().get(name).and_then(|v| v.to_str().ok());
    let id = header("webhook-id");
    webhook::verify(
        &app.secrets.presence_webhook_key,
        id,
        header("webhook-timestamp"),
        header("webhook-signature"),
        request.body(),
        app.now(),
    )
    .map_err(|e| ApiError::new(StatusCode::UNAUTHORIZED, "bad_signature", e.to_string()))?;
    let body: WebhookBody = parse_json(request)?;
    let advisor = parse_id(&body.advisor)?;
    let update = app
        .config
        .presence
        .source_update(
            PresenceSource::Webhook,
            body.states.into_iter().collect(),
            body.version,
            body.expires_at,
            app.now(),
        )
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    // Versions make applying idempotent; the id record answers replays.
    let write = app.set_presence(&advisor, &update).await?;
    let first = app
        .store
        .claim_once(
            &format!("presence-webhook:{}", id.unwrap_or_default()),
            app.now() + 2 * webhook::TOLERANCE_S * 1000,
        )
        .await?;
    if !first {
        return Ok(json(
            StatusCode::OK,
            &serde_json::json!({ "result": "duplicate" }),
        ));
    }
    let result = presence_result(write, &advisor)?;
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({ "result": result }),
    ))
}
