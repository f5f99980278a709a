//! `/api/v1/events` (admin): the stored analytics events of one day.

use super::page_request;
use crate::Push;
use crate::auth::require_admin;
use crate::http_util::{ApiError, json, query, query_param};
use crate::{App, Request, Response};
use http::StatusCode;
use livecard_core::event::utc_day;
use livecard_store::Store;

fn valid_day(day: &str) -> bool {
    let b = day.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
}

/// `GET /api/v1/events?day=YYYY-MM-DD&limit=&cursor=` (today by default).
pub async fn list<S: Store, P: Push>(
    app: &App<S, P>,
    request: &Request,
) -> Result<Response, ApiError> {
    require_admin(app, request).await?;
    let params = query(request);
    let day = match query_param(&params, "day") {
        Some(day) if valid_day(day) => day.to_owned(),
        Some(_) => return Err(ApiError::bad_request("day must be YYYY-MM-DD")),
        None => utc_day(app.now()),
    };
    let page = app
        .store
        .list_events(&day, &page_request(&params, 100)?)
        .await?;
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({ "day": day, "events": page.items, "next": page.next }),
    ))
}
