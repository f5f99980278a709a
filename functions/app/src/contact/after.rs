//! What a visitor may do once a contact is over: download its transcript
//! (text or HTML) and rate it (1 to 5, once). Visitor endpoints: any
//! origin, authorised by the session token (`docs/api.md`).

use super::Push;
use crate::http_util::{ApiError, json, parse_json, response};
use crate::{App, Request, Response};
use http::{HeaderValue, StatusCode, header};
use livecard_core::event::EventName;
use livecard_core::ids::AdvisorId;
use livecard_core::session::{Phase, Side, verify_session_token};
use livecard_store::{ChatMessage, Store, StoredSession};
use maud::{DOCTYPE, html};
use serde::Deserialize;
use serde_json::json;

/// Messages a transcript holds at most (the first ones).
const MAX_TRANSCRIPT: u16 = 2000;

#[derive(Debug, Clone, Copy, Deserialize, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum Format {
    #[default]
    Text,
    Html,
}

#[derive(Debug, Clone, Copy, Deserialize, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum Lang {
    #[default]
    En,
    De,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TranscriptBody {
    token: String,
    #[serde(default)]
    format: Format,
    #[serde(default)]
    lang: Lang,
}

async fn visitors_session<S: Store, P: Push>(
    app: &App<S, P>,
    id: &str,
    token: &str,
) -> Result<StoredSession, ApiError> {
    let not_found = || ApiError::not_found("no such session");
    if !verify_session_token(&app.secrets.session_key, id, token) {
        return Err(not_found());
    }
    app.store.get_session(id).await?.ok_or_else(not_found)
}

struct Words {
    title: &'static str,
    with: &'static str,
    started: &'static str,
    you: &'static str,
    advisor: &'static str,
    none: &'static str,
}

const EN: Words = Words {
    title: "Conversation",
    with: "with",
    started: "Started",
    you: "You",
    advisor: "Advisor",
    none: "No messages.",
};
const DE: Words = Words {
    title: "Gespräch",
    with: "mit",
    started: "Begonnen",
    you: "Sie",
    advisor: "Berater",
    none: "Keine Nachrichten.",
};

/// `HH:MM:SS` (UTC) of a time.
fn clock(at: u64) -> String {
    let stamp = livecard_core::event::utc_rfc3339(at);
    stamp.get(11..19).unwrap_or_default().to_owned()
}

/// `YYYY-MM-DD HH:MM UTC`.
fn day_and_time(at: u64) -> String {
    let stamp = livecard_core::event::utc_rfc3339(at);
    format!(
        "{} {} UTC",
        stamp.get(..10).unwrap_or_default(),
        stamp.get(11..16).unwrap_or_default()
    )
}

/// `POST /api/v1/contacts/{id}/transcript` `{"token","format"?: "text"|"html","lang"?}`:
/// the chat as a file to keep. Messages are text, never markup: the HTML
/// form escapes every one.
pub async fn transcript<S: Store, P: Push>(
    app: &App<S, P>,
    request: &Request,
    id: &str,
) -> Result<Response, ApiError> {
    let body: TranscriptBody = parse_json(request)?;
    let stored = visitors_session(app, id, &body.token).await?;
    let messages = app.store.messages_after(id, None, MAX_TRANSCRIPT).await?;
    let words = match body.lang {
        Lang::En => &EN,
        Lang::De => &DE,
    };
    let advisor = match &stored.session.advisor {
        Some(a) => app
            .advisor_for_visitor(a)
            .await?
            .map(|r| r.advisor.display_name)
            .unwrap_or_else(|| words.advisor.to_owned()),
        None => words.advisor.to_owned(),
    };
    // Each advisor who wrote (a colleague may have joined the chat) by name.
    let mut authors: Vec<(AdvisorId, String)> = Vec::new();
    for author in messages.iter().filter_map(|m| m.author.as_ref()) {
        if authors.iter().all(|(a, _)| a != author) {
            let name = app
                .advisor_for_visitor(author)
                .await?
                .map(|r| r.advisor.display_name)
                .unwrap_or_else(|| words.advisor.to_owned());
            authors.push((author.clone(), name));
        }
    }
    let who = |m: &ChatMessage| match (m.side, &m.author) {
        (Side::Visitor, _) => words.you,
        (Side::Advisor, Some(author)) => authors
            .iter()
            .find(|(a, _)| a == author)
            .map_or(advisor.as_str(), |(_, name)| name.as_str()),
        (Side::Advisor, None) => advisor.as_str(),
    };
    let heading = format!("{} {} {}", words.title, words.with, advisor);
    let started = format!(
        "{} {}",
        words.started,
        day_and_time(stored.session.created_at)
    );
    let (content_type, extension, file): (&'static str, &str, String) = match body.format {
        Format::Text => {
            let mut text = format!("{heading}\n{started}\n\n");
            if messages.is_empty() {
                text.push_str(words.none);
                text.push('\n');
            }
            for m in &messages {
                text.push_str(&format!("[{}] {}: {}\n", clock(m.at), who(m), m.text));
            }
            ("text/plain; charset=utf-8", "txt", text)
        }
        Format::Html => {
            let lang = match body.lang {
                Lang::En => "en",
                Lang::De => "de",
            };
            let markup = html! {
                (DOCTYPE)
                html lang=(lang) {
                    head {
                        meta charset="utf-8";
                        title { (heading) }
                        style { "body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem}li{margin:.4rem 0;white-space:pre-wrap}time{color:#555;font-size:.85em}" }
                    }
                    body {
                        h1 { (heading) }
                        p { (started) }
                        @if messages.is_empty() { p { (words.none) } }
                        ol {
                            @for m in &messages {
                                li data-side=(m.side.as_str()) {
                                    time { (clock(m.at)) } " "
                                    strong { (who(m)) } ": "
                                    span { (m.text) }
                                }
                            }
                        }
                    }
                }
            };
            ("text/html; charset=utf-8", "html", markup.into_string())
        }
    };
    let mut answer = response(StatusCode::OK, content_type, file);
    if let Ok(value) = HeaderValue::from_str(&format!(
        "attachment; filename=\"livecard-{id}.{extension}\""
    )) {
        answer
            .headers_mut()
            .insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(answer)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RatingBody {
    token: String,
    rating: u8,
}

/// `POST /api/v1/contacts/{id}/rating` `{"token","rating": 1..5}`: the
/// visitor rates a contact an advisor took, once it has ended; once.
pub async fn rating<S: Store, P: Push>(
    app: &App<S, P>,
    request: &Request,
    id: &str,
) -> Result<Response, ApiError> {
    let body: RatingBody = parse_json(request)?;
    if !(1..=5).contains(&body.rating) {
        return Err(ApiError::bad_request("rating must be 1 to 5"));
    }
    let stored = visitors_session(app, id, &body.token).await?;
    let Some(taker) = stored.session.advisor.clone() else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_connected",
            "nobody took this contact",
        ));
    };
    if !matches!(stored.session.phase, Phase::Ended { .. }) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_ended",
            "rate the contact once it has ended",
        ));
    }
    let now = app.now();
    let key = format!("rating:{id}");
    let until = now.saturating_add(app.config.transcript_retention_ms);
    if !app.store.claim_once(&key, until).await? {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "already_rated",
            "this contact was rated already",
        ));
    }
    let mut event = app
        .session_event(EventName::ContactRated, &stored)
        .with_prop("rating", body.rating);
    event.advisor = Some(taker);
    app.record_with(event, Some(&app.session_context(&stored)))
        .await;
    Ok(json(StatusCode::CREATED, &json!({ "rating": body.rating })))
}
