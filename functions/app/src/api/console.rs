//! What the advisor console reads besides the signaling socket: a
//! conversation's context (where the visitor came from, their earlier
//! contacts and those transcripts), the queues the advisor serves, and
//! saved replies. Signed-in advisors only (session cookie), and only for
//! conversations rung to them or taken by them; anything else is
//! answered like a conversation that does not exist.

use super::me::signed_in;
use crate::Push;
use crate::http_util::{ApiError, json, no_content, parse_json};
use crate::{App, Request, Response};
use http::StatusCode;
use livecard_core::UnixMillis;
use livecard_core::ids::AdvisorId;
use livecard_core::replies::{ReplyScope, SavedReply};
use livecard_core::session::{Phase, QueueKey};
use livecard_store::{Store, StoredSession};
use serde::Deserialize;
use serde_json::{Value, json};

/// Earlier contacts shown at most, newest first.
const MAX_EARLIER: usize = 10;
/// Of a visitor's sessions, at most this many (the newest ids the index
/// gives) are read to find the earlier contacts.
const MAX_LOOKUPS: usize = 40;
/// Messages of an earlier transcript shown at most (the first ones).
const MAX_TRANSCRIPT: u16 = 500;
/// Waiting visitors listed at most.
const MAX_QUEUED: usize = 20;

fn no_such() -> ApiError {
    ApiError::not_found("no such conversation")
}

/// A conversation the advisor may look at: rung to them now, taken by them
/// (also after it ended), or, with `guests`, theirs as a guest in the chat.
pub(crate) async fn conversation<S: Store, P: Push>(
    app: &App<S, P>,
    me: &AdvisorId,
    id: &str,
    guests: bool,
) -> Result<StoredSession, ApiError> {
    if !livecard_core::signaling::valid_session(id) {
        return Err(no_such());
    }
    let stored = app.store.get_session(id).await?.ok_or_else(no_such)?;
    let session = &stored.session;
    if session.current_advisor() == Some(me)
        || session.advisor.as_ref() == Some(me)
        || (guests && session.is_guest(me))
    {
        Ok(stored)
    } else {
        Err(no_such())
    }
}

/// Is `earlier` one of the visitor's contacts inside the affinity window?
fn within_window(earlier: &StoredSession, now: UnixMillis, window_ms: u64) -> bool {
    earlier.session.created_at.saturating_add(window_ms) >= now
}

fn state_name(phase: &Phase) -> &'static str {
    match phase {
        Phase::Routing => "routing",
        Phase::Ringing { .. } => "ringing",
        Phase::Queued { .. } => "queued",
        Phase::Connected { .. } => "connected",
        Phase::Ended { .. } => "ended",
    }
}

async fn advisor_name<S: Store, P: Push>(app: &App<S, P>, id: &AdvisorId) -> Value {
    let name = match app.advisor_for_visitor(id).await {
        Ok(Some(record)) => record.advisor.display_name,
        _ => id.to_string(),
    };
    json!({ "id": id, "display_name": name })
}

/// `GET /api/v1/me/conversations/{id}`: the context of a conversation.
pub async fn context<S: Store, P: Push>(
    app: &App<S, P>,
    request: &Request,
    id: &str,
) -> Result<Response, ApiError> {
    let me = signed_in(app, request, false).await?.advisor.id;
    let stored = conversation(app, &me, id, true).await?;
    let now = app.now();
    let window = app.config.affinity_ms;
    let mut ids = app.store.visitor_sessions(&stored.visitor).await?;
    ids.retain(|other| other != id);
    // Session ids are random: read the most recent index entries we can
    // afford and order what comes back by time.
    ids.truncate(MAX_LOOKUPS);
    let sessions = futures_util::future::join_all(ids.iter().map(|s| app.store.get_session(s)))
        .await
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?;
    let mut earlier: Vec<StoredSession> = sessions
        .into_iter()
        .flatten()
        .filter(|s| s.visitor == stored.visitor && within_window(s, now, window))
        .filter(|s| s.session.advisor.is_some() || s.session.messages > 0)
        .collect();
    earlier.sort_by_key(|s| std::cmp::Reverse(s.session.created_at));
    earlier.truncate(MAX_EARLIER);
    let mut listed = Vec::with_capacity(earlier.len());
    for s in &earlier {
        let advisor = match &s.session.advisor {
            Some(a) => advisor_name(app, a).await,
            None => Value::Null,
        };
        let reason = match &s.session.phase {
            Phase::Ended { reason, .. } => Some(reason.as_str()),
            _ => None,
        };
        listed.push(json!({
            "session": s.id,
            "at": s.session.created_at,
            "state": state_name(&s.session.phase),
            "reason": reason,
            "channel": s.session.channel,
            "origin": s.session.request.origin,
            "topic": s.session.request.topic,
            "advisor": advisor,
            "messages": s.session.messages,
        }));
    }
    let handover = match &stored.session.handover {
        Some(h) => json!({
            "from": advisor_name(app, &h.from).await,
            "note": h.note,
            "at": h.at,
        }),
        None => Value::Null,
    };
    let wanted = &stored.session.request;
    Ok(json(
        StatusCode::OK,
        &json!({
            "session": stored.id,
            "state": state_name(&stored.session.phase),
            "channel": stored.session.channel,
            "origin": wanted.origin,
            "topic": wanted.topic,
            "language": wanted.language,
            "card": wanted.card,
            "campaign": wanted.campaign,
            "page": wanted.page,
            "started_at": stored.session.created_at,
            "messages": stored.session.messages,
            "earlier": listed,
            "handover": handover,
        }),
    ))
}

/// `GET /api/v1/me/conversations/{id}/earlier/{earlier}`: the transcript
/// of one of the visitor's earlier contacts (inside the affinity window).
pub async fn earlier<S: Store, P: Push>(
    app: &App<S, P>,
    request: &Request,
    id: &str,
    earlier: &str,
) -> Result<Response, ApiError> {
    let me = signed_in(app, request, false).await?.advisor.id;
    let stored = conversation(app, &me, id, true).await?;
    if !livecard_core::signaling::valid_session(earlier) || earlier == id {
        return Err(no_such());
    }
    let other = app.store.get_session(earlier).await?.ok_or_else(no_such)?;
    if other.visitor != stored.visitor || !within_window(&other, app.now(), app.config.affinity_ms)
    {
        return Err(no_such());
    }
    let messages = app
        .store
        .messages_after(earlier, None, MAX_TRANSCRIPT)
        .await?;
    let items: Vec<Value> = messages
        .iter()
        .map(|m| json!({ "side": m.side, "text": m.text, "at": m.at }))
        .collect();
    Ok(json(
        StatusCode::OK,
        &json!({ "session": earlier, "at": other.session.created_at, "messages": items }),
    ))
}

/// `GET /api/v1/me/queue`: visitors waiting for this advisor (their card
/// links), for one of their topics, or for anyone; oldest first.
pub async fn queue<S: Store, P: Push>(
    app: &App<S, P>,
    request: &Request,
) -> Result<Response, ApiError> {
    let record = signed_in(app, request, false).await?;
    let now = app.now();
    let mut keys = vec![QueueKey::Advisor(record.advisor.id.clone())];
    keys.extend(record.advisor.topics.iter().cloned().map(QueueKey::Topic));
    keys.push(QueueKey::Any);
    let lists = futures_util::future::try_join_all(
        keys.iter()
            .map(|key| app.store.list_queue(key, now, MAX_QUEUED as u16)),
    )
    .await?;
    let mut waiting: Vec<(UnixMillis, String, usize, &QueueKey)> = Vec::new();
    for (key, list) in keys.iter().zip(lists) {
        for (position, (session, since)) in list.into_iter().enumerate() {
            waiting.push((since, session, position + 1, key));
        }
    }
    waiting.sort();
    waiting.truncate(MAX_QUEUED);
    let mut items = Vec::with_capacity(waiting.len());
    for (since, session, position, key) in waiting {
        let Some(stored) = app.store.get_session(&session).await? else {
            continue;
        };
        let wanted = &stored.session.request;
        items.push(json!({
            "session": session,
            "since": since,
            "position": position,
            "queue": key.to_string(),
            "channel": stored.session.channel,
            "origin": wanted.origin,
            "topic": wanted.topic,
            "language": wanted.language,
        }));
    }
    Ok(json(StatusCode::OK, &json!({ "items": items })))
}

/// `GET /api/v1/me/replies`: the advisor's own saved replies and the
/// shared ones.
pub async fn replies<S: Store, P: Push>(
    app: &App<S, P>,
    request: &Request,
) -> Result<Response, ApiError> {
    let me = signed_in(app, request, false).await?.advisor.id;
    let (mine, shared) = futures_util::future::try_join(
        app.store.list_replies(&ReplyScope::Advisor(me)),
        app.store.list_replies(&ReplyScope::Shared),
    )
    .await?;
    Ok(json(
        StatusCode::OK,
        &json!({ "mine": mine, "shared": shared }),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplyBody {
    text: String,
}

fn reply_scope(scope: &str, me: &AdvisorId) -> Result<ReplyScope, ApiError> {
    ReplyScope::parse(scope, me).ok_or_else(|| ApiError::not_found("scope is mine or shared"))
}

/// `PUT /api/v1/me/replies/{mine|shared}/{shortcut}` with `{"text": …}`:
/// saves a reply (replacing one with that shortcut).
pub async fn put_reply<S: Store, P: Push>(
    app: &App<S, P>,
    request: &Request,
    scope: &str,
    shortcut: &str,
) -> Result<Response, ApiError> {
    let me = signed_in(app, request, true).await?.advisor.id;
    let scope = reply_scope(scope, &me)?;
    let body: ReplyBody = parse_json(request)?;
    let reply = SavedReply::new(shortcut, &body.text, &me, app.now())
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    if !app.store.put_reply(&scope, &reply).await? {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "too_many",
            format!(
                "at most {} replies; delete one first",
                livecard_core::replies::MAX_REPLIES
            ),
        ));
    }
    Ok(json(StatusCode::OK, &reply))
}

/// `DELETE /api/v1/me/replies/{mine|shared}/{shortcut}`.
pub async fn delete_reply<S: Store, P: Push>(
    app: &App<S, P>,
    request: &Request,
    scope: &str,
    shortcut: &str,
) -> Result<Response, ApiError> {
    let me = signed_in(app, request, true).await?.advisor.id;
    let scope = reply_scope(scope, &me)?;
    if !livecard_core::replies::valid_shortcut(shortcut)
        || !app.store.delete_reply(&scope, shortcut).await?
    {
        return Err(ApiError::not_found("no such reply"));
    }
    Ok(no_content())
}
