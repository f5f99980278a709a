//! The pages' handlers that are not a card or sign-in: the portal and the
//! console.

use crate::Push;
use crate::api::advisors::{Filter, PublicAdvisor, all_matching};
use crate::auth::session;
use crate::http_util::{ApiError, query};
use crate::pages::{self, PageCtx};
use crate::{App, Request, Response};
use http::StatusCode;
use livecard_core::event::EventName;
use livecard_store::Store;

/// `GET /`: the contact portal.
pub(crate) async fn portal<S: Store, P: Push>(
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
        .map(|r| PublicAdvisor::of(r, &app.config.presence, now))
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
    let event = event.with_prop("shown", shown.len());
    let view = if app.consent_wanted().await {
        app.view_token(&event)
    } else {
        None
    };
    app.record(event).await;
    Ok(pages::portal::render(ctx, &shown, &everyone, &filter, view))
}

/// `GET /console` (and `/me`): the advisor console, or the signed-out page.
pub(crate) async fn console<S: Store, P: Push>(
    app: &App<S, P>,
    request: &Request,
    ctx: &PageCtx,
) -> Result<Response, ApiError> {
    let Some(record) = session(app, request).await? else {
        return Ok(pages::advisor::signed_out(ctx, StatusCode::UNAUTHORIZED));
    };
    let now = app.now();
    let presence = &record.presence;
    let states = livecard_core::channel::Channel::ALL
        .into_iter()
        .filter_map(|c| {
            presence.manual_until(c, now)?;
            let entry = presence.entry(livecard_core::presence::PresenceSource::Manual, c)?;
            Some((c, entry.signal.shown()))
        })
        .collect();
    let until = livecard_core::channel::Channel::ALL
        .into_iter()
        .filter_map(|c| presence.manual_until(c, now))
        .min()
        .map(|ms| {
            use livecard_core::presence::{clock_label, span_label};
            let local = clock_label(&app.config.time_zone, ms, now);
            (ms, local, span_label(ms.saturating_sub(now)))
        });
    // The console keeps a check's photos only when the deployment does.
    let keep_days = app
        .identity_images_kept()
        .map(|(_, retention)| retention.div_ceil(86_400_000));
    Ok(pages::advisor::me(
        ctx,
        &PublicAdvisor::of(&record, &app.config.presence, now),
        &pages::advisor::ManualState { states, until },
        keep_days,
    ))
}
