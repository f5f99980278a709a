//! Calls that must move off a media node: a draining node tells the
//! signaling server which calls it relays, and both sides of each are told
//! (`media_move`) so they restart ICE on another node before its drain
//! deadline; a node whose heartbeat lapsed while it relayed calls (its
//! record names their sessions) has them told the same by the sweep
//! (`node_lost`). `docs/media-node.md`, "Failover".

use super::{Participant, Push};
use crate::http_util::{ApiError, json, parse_json};
use crate::{App, Request, Response};
use http::StatusCode;
use livecard_core::ids::RandomId;
use livecard_core::session::{Phase, RestartReason};
use livecard_core::signaling::ServerMessage;
use livecard_store::{Store, StoreError};
use serde::Deserialize;
use serde_json::json;
use std::collections::BTreeSet;

/// The most participants one notice names (a node chunks larger drains).
pub const MAX_PARTICIPANTS: usize = 1_000;
/// Headers of a node's notice: when it was signed (Unix ms), and the
/// signature (`livecard_core::turn::notice_signature`).
pub const TIMESTAMP_HEADER: &str = "x-livecard-timestamp";
pub const SIGNATURE_HEADER: &str = "x-livecard-signature";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Notice {
    /// Why the calls must move: `drain` (or `node_lost`).
    reason: RestartReason,
    /// Its TURN address as in the ICE servers (`host:port`).
    relay: String,
    /// When the node stops relaying.
    #[serde(default)]
    deadline: Option<u64>,
    /// The participants of its allocations (the part of each TURN
    /// username after the expiry: `<session>-visitor`, `<session>-<advisor>`).
    participants: Vec<String>,
}

/// `POST /api/v1/media-nodes/{id}/moves`: a media node's signed notice.
/// Anyone without the TURN secret gets 401; the answer says how many live
/// calls were told.
pub async fn notice<S: Store, P: Push>(
    app: &App<S, P>,
    request: &Request,
    node: &str,
) -> Result<Response, ApiError> {
    let unauthorized = || {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a media node's notice is signed with the TURN secret",
        )
    };
    let secret = app.secrets.turn_secret.as_ref().ok_or_else(unauthorized)?;
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let at: u64 = header(TIMESTAMP_HEADER)
        .and_then(|t| t.parse().ok())
        .ok_or_else(unauthorized)?;
    let signature = header(SIGNATURE_HEADER).ok_or_else(unauthorized)?;
    if node.len() > 64
        || !livecard_core::turn::check_notice(
            secret,
            node,
            at,
            request.body(),
            &signature,
            app.now(),
        )
    {
        return Err(unauthorized());
    }
    let notice: Notice = parse_json(request)?;
    if notice.participants.len() > MAX_PARTICIPANTS || notice.relay.len() > 300 {
        return Err(ApiError::bad_request(
            "a notice names at most 1000 participants and one relay",
        ));
    }
    // The session is the participant's first 22 characters (a random id).
    let sessions: BTreeSet<&str> = notice
        .participants
        .iter()
        .filter_map(|p| p.get(..RandomId::LEN))
        .filter(|id| RandomId::parse(id).is_ok())
        .collect();
    let told = tell(
        app,
        node,
        &notice.relay,
        notice.reason,
        notice.deadline,
        sessions,
    )
    .await;
    tracing::info!(
        node,
        reason = notice.reason.as_str(),
        calls = told,
        "calls told to move"
    );
    Ok(json(StatusCode::OK, &json!({ "calls": told })))
}

/// Media nodes whose heartbeat lapsed while they relayed calls: both sides
/// of each live call are told to move (`node_lost`), then the node's record
/// is put again without its sessions, so they are told once. Run by the
/// sweep; returns how many calls were told.
pub async fn lost_nodes<S: Store, P: Push>(app: &App<S, P>) -> Result<usize, StoreError> {
    let mut told = 0;
    for mut node in app.store.lost_media_nodes(app.now(), 100).await? {
        let sessions = std::mem::take(&mut node.sessions);
        let calls = tell(
            app,
            &node.id,
            &node.relay(),
            RestartReason::NodeLost,
            None,
            sessions.iter().map(String::as_str),
        )
        .await;
        app.store.put_media_node(&node).await?;
        tracing::warn!(node = node.id, calls, "media node lost: calls told to move");
        told += calls;
    }
    Ok(told)
}

/// Tells both sides of each live call among `sessions` to move off `node`;
/// returns how many were told.
async fn tell<'a, S: Store, P: Push>(
    app: &App<S, P>,
    node: &str,
    relay: &str,
    reason: RestartReason,
    deadline: Option<u64>,
    sessions: impl IntoIterator<Item = &'a str>,
) -> usize {
    let mut told = 0;
    for id in sessions {
        let Ok(Some(stored)) = app.store.get_session(id).await else {
            continue;
        };
        let Phase::Connected { .. } = &stored.session.phase else {
            continue;
        };
        if stored.session.call.is_none() {
            continue;
        }
        let message = ServerMessage::MediaMove {
            session: id.to_owned(),
            node: node.to_owned(),
            relay: relay.to_owned(),
            reason,
            deadline,
        }
        .to_json();
        let mut to = vec![Participant::Visitor(id.to_owned())];
        if let Some(advisor) = stored.session.current_advisor() {
            to.push(Participant::Advisor(advisor.clone()));
        }
        futures_util::future::join_all(to.iter().map(|p| app.push.send(p, &message))).await;
        told += 1;
    }
    told
}
