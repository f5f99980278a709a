//! A visitor's rights of access and to erasure (`docs/privacy.md`): an
//! admin exports or erases everything stored about one contact session,
//! or about one visitor (every session of their signed visitor id).

use crate::Push;
use crate::auth::require_admin;
use crate::http_util::{ApiError, json, query, query_param};
use crate::{App, Request, Response};
use http::{HeaderValue, StatusCode, header};
use livecard_core::event::utc_day;
use livecard_core::ids::{EventId, RandomId};
use livecard_store::{PageRequest, Store, StoredSession};
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashSet};

/// Whom a request is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataSubject {
    /// One contact session, by its id.
    Session(String),
    /// Every session of one visitor, by their visitor id (`vis_…`).
    Visitor(String),
}

impl DataSubject {
    /// From a request's `session=` or `visitor=` (exactly one of them).
    pub fn from_query(params: &[(String, String)]) -> Result<Self, ApiError> {
        match (
            query_param(params, "session"),
            query_param(params, "visitor"),
        ) {
            (Some(id), None) => RandomId::parse(id)
                .map(|_| Self::Session(id.to_owned()))
                .map_err(|_| ApiError::bad_request("session must be a session id")),
            (None, Some(id)) => id
                .strip_prefix("vis_")
                .and_then(|rest| RandomId::parse(rest).ok())
                .map(|_| Self::Visitor(id.to_owned()))
                .ok_or_else(|| ApiError::bad_request("visitor must be a visitor id (vis_…)")),
            _ => Err(ApiError::bad_request(
                "give session or visitor, one of them",
            )),
        }
    }
}

/// What an erasure removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Erased {
    pub sessions: u64,
    /// Chat messages, their markers and the session records.
    pub transcript_items: u64,
    pub offline_messages: u64,
    pub events: u64,
    pub deliveries: u64,
}

/// The UTC days a session's events can be on: its start and the day after
/// (a session ends within hours; the sweep ends stale ones).
fn days_of(session: &StoredSession) -> [String; 2] {
    let start = session.session.created_at;
    [utc_day(start), utc_day(start + 86_400_000)]
}

impl<S: Store, P: Push> App<S, P> {
    async fn subject_sessions(&self, who: &DataSubject) -> Result<Vec<StoredSession>, ApiError> {
        let ids = match who {
            DataSubject::Session(id) => vec![id.clone()],
            DataSubject::Visitor(visitor) => self.store.visitor_sessions(visitor).await?,
        };
        let mut sessions = Vec::new();
        for id in ids {
            if let Some(session) = self.store.get_session(&id).await? {
                sessions.push(session);
            }
        }
        Ok(sessions)
    }

    async fn session_events(
        &self,
        session: &StoredSession,
    ) -> Result<Vec<livecard_core::event::Event>, ApiError> {
        let mut events = Vec::new();
        for day in days_of(session) {
            let mut page = PageRequest::first(livecard_store::MAX_PAGE);
            loop {
                let listed = self.store.list_events(&day, &page).await?;
                events.extend(
                    listed
                        .items
                        .into_iter()
                        .filter(|e| e.session.as_deref() == Some(session.id.as_str())),
                );
                match listed.next {
                    Some(next) => page.cursor = Some(next),
                    None => break,
                }
            }
        }
        Ok(events)
    }

    /// Everything stored about `who`, as one JSON document.
    pub async fn privacy_export(&self, who: &DataSubject) -> Result<Value, ApiError> {
        let sessions = self.subject_sessions(who).await?;
        if sessions.is_empty() {
            return Err(ApiError::not_found("nothing is stored about them"));
        }
        let destinations = self.store.list_destinations().await?;
        let mut out = Vec::new();
        let mut visitors = BTreeSet::new();
        for stored in &sessions {
            visitors.insert(stored.visitor.clone());
            let mut messages = Vec::new();
            let mut after: Option<String> = None;
            loop {
                let page = self
                    .store
                    .messages_after(&stored.id, after.as_deref(), livecard_store::MAX_PAGE)
                    .await?;
                let Some(last) = page.last() else { break };
                after = Some(last.key.clone());
                messages.extend(
                    page.iter()
                        .map(|m| json!({ "side": m.side.as_str(), "text": m.text, "at": m.at })),
                );
            }
            let offline = self.store.get_offline_message(&stored.id).await?;
            // Identity images a deployment keeps: what each is (the images
            // themselves open for the advisor who took the conversation).
            let identity_images = self.store.identity_images(&stored.id, self.now()).await?;
            let events = self.session_events(stored).await?;
            let mut deliveries = Vec::new();
            for destination in &destinations {
                for event in &events {
                    if let Some(d) = self.store.get_delivery(&destination.id, &event.id).await? {
                        deliveries.push(json!({
                            "destination": destination.id.as_str(),
                            "event": event.id.as_str(),
                            "state": d.state,
                            "attempts": d.attempts,
                            "last_status": d.last_status,
                        }));
                    }
                }
            }
            out.push(json!({
                "id": stored.id,
                "visitor": stored.visitor,
                "session": stored.session,
                "messages": messages,
                "offline_message": offline,
                "identity_images": identity_images,
                "events": events,
                "deliveries": deliveries,
            }));
        }
        let mut affinity = Vec::new();
        for visitor in &visitors {
            if let Some((advisor, at)) = self.store.last_advisor(visitor, self.now()).await? {
                affinity.push(json!({ "visitor": visitor, "advisor": advisor, "at": at }));
            }
        }
        Ok(json!({
            "exported_at": self.now(),
            "sessions": out,
            "last_advisor": affinity,
        }))
    }

    /// Erases everything stored about `who`: their sessions, chat,
    /// offline messages, events and forwarding records. Deliveries still in
    /// the outbox are never sent (the forwarder drops them).
    pub async fn privacy_erase(&self, who: &DataSubject) -> Result<Erased, ApiError> {
        let sessions = self.subject_sessions(who).await?;
        if sessions.is_empty() {
            return Err(ApiError::not_found("nothing is stored about them"));
        }
        let now = self.now();
        let ids: Vec<String> = sessions.iter().map(|s| s.id.clone()).collect();
        // First the mark: from now on the forwarder sends nothing of theirs.
        self.store
            .mark_erased(&ids, now.saturating_add(self.config.delivery_retention_ms))
            .await?;
        let gone: HashSet<String> = ids.iter().cloned().collect();
        let days: BTreeSet<String> = sessions.iter().flat_map(days_of).collect();
        let mut events: Vec<EventId> = Vec::new();
        for day in &days {
            events.extend(self.store.erase_events(day, &gone).await?);
        }
        let mut erased = Erased {
            sessions: sessions.len() as u64,
            events: events.len() as u64,
            ..Erased::default()
        };
        for destination in self.store.list_destinations().await? {
            erased.deliveries += self
                .store
                .erase_deliveries(&destination.id, &events)
                .await?;
        }
        let mut visitors = BTreeSet::new();
        for stored in &sessions {
            erased.offline_messages +=
                u64::from(self.store.get_offline_message(&stored.id).await?.is_some());
            erased.transcript_items += self
                .store
                .erase_session(&stored.id, &stored.visitor)
                .await?;
            visitors.insert(stored.visitor.clone());
        }
        for visitor in &visitors {
            self.store.forget_visitor(visitor).await?;
        }
        for id in &ids {
            self.sessions.invalidate(id);
        }
        tracing::info!(
            sessions = erased.sessions,
            events = erased.events,
            deliveries = erased.deliveries,
            "personal data erased on request"
        );
        Ok(erased)
    }
}

/// `GET /api/v1/privacy?session=|visitor=` (admin): the export, as a file.
pub async fn export<S: Store, P: Push>(
    app: &App<S, P>,
    request: &Request,
) -> Result<Response, ApiError> {
    require_admin(app, request).await?;
    let who = DataSubject::from_query(&query(request))?;
    let document = app.privacy_export(&who).await?;
    let mut response = json(StatusCode::OK, &document);
    response.headers_mut().insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"livecard-export.json\""),
    );
    Ok(response)
}

/// `DELETE /api/v1/privacy?session=|visitor=` (admin): the erasure.
pub async fn erase<S: Store, P: Push>(
    app: &App<S, P>,
    request: &Request,
) -> Result<Response, ApiError> {
    require_admin(app, request).await?;
    let who = DataSubject::from_query(&query(request))?;
    let erased = app.privacy_erase(&who).await?;
    Ok(json(StatusCode::OK, &json!({ "erased": erased })))
}
