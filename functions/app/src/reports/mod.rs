//! Reports (`docs/reports.md`): made from the stored events on request,
//! delivered as the admin reports page (`/reports`), CSV per table and
//! JSON (`/api/v1/reports`), and by the CLI (`livecard report`).

mod charts;
mod page;

use crate::Push;
use crate::auth::require_admin;
use crate::http_util::{
    ApiError, cookie, form, json, query, query_param, redirect, response, same_origin, set_cookie,
};
use crate::pages::PageCtx;
use crate::{App, Request, Response};
use futures_util::StreamExt;
use http::{HeaderValue, StatusCode, header};
use livecard_core::report::{Report, ReportBuilder, ReportError, ReportRequest, TABLES};
use livecard_store::{PageRequest, Store};

/// The admin pages' cookie: a signed, expiring proof of an admin key.
pub const ADMIN_COOKIE: &str = "lc_admin";
/// The range when a request names none: the last seven days.
const DEFAULT_DAYS: i64 = 7;
/// How many days of events a report reads at once.
const DAYS_AT_ONCE: usize = 4;

impl From<ReportError> for ApiError {
    fn from(err: ReportError) -> Self {
        ApiError::bad_request(err.to_string())
    }
}

impl<S: Store, P: Push> App<S, P> {
    /// Makes a report from the stored events.
    pub async fn report(&self, request: ReportRequest) -> Result<Report, ApiError> {
        let days = request.utc_days()?;
        let today = livecard_core::event::utc_day(self.now());
        let mut builder = ReportBuilder::new(request)?;
        // Days after today hold nothing yet. A few days are read at once
        // (round trips overlap), and counted in order as they arrive.
        let days = days.into_iter().filter(|d| d.as_str() <= today.as_str());
        let mut reads = futures_util::stream::iter(days)
            .map(|day| self.events_of_day(day))
            .buffered(DAYS_AT_ONCE);
        while let Some(arrays) = reads.next().await {
            for json in arrays? {
                if let Err(err) = builder.add_json(&json) {
                    // A damaged item is left out and said, never fatal.
                    tracing::warn!(error = %err, "an event item could not be read for a report");
                }
            }
        }
        Ok(builder.finish())
    }

    /// Every stored event of one UTC day, as the store's JSON arrays.
    async fn events_of_day(&self, day: String) -> Result<Vec<String>, ApiError> {
        let mut all = Vec::new();
        let mut page = PageRequest::first(livecard_store::MAX_PAGE);
        loop {
            let events = self.store.list_event_json(&day, &page).await?;
            all.extend(events.items);
            match events.next {
                Some(next) => page.cursor = Some(next),
                None => return Ok(all),
            }
        }
    }

    /// The report a request's query asks for (`from`, `to`, `by`,
    /// `service_level`, `time_zone`), the last seven days by default.
    fn report_request(&self, params: &[(String, String)]) -> Result<ReportRequest, ApiError> {
        let zone = match query_param(params, "time_zone") {
            Some(name) => livecard_core::report::time_zone(name)?,
            None => self.config.time_zone.clone(),
        };
        let (default_from, default_to) =
            livecard_core::report::last_days(self.now(), &zone, DEFAULT_DAYS);
        let from = query_param(params, "from").unwrap_or(&default_from);
        let to = query_param(params, "to").unwrap_or(&default_to);
        Ok(ReportRequest::parse(
            from,
            to,
            zone,
            query_param(params, "by"),
            query_param(params, "service_level"),
            self.config.service_level_s,
        )?)
    }

    /// Is this browser signed in to the admin pages?
    async fn admin_page_session(&self, request: &Request) -> Result<bool, ApiError> {
        let Some(value) = cookie(request, ADMIN_COOKIE) else {
            return Ok(false);
        };
        let Some((kind, hash)) =
            livecard_core::auth::verify_admin_session(&self.secrets.session_key, value, self.now())
        else {
            return Ok(false);
        };
        self.admin_key_current(kind, &hash).await
    }
}

fn csv_response(report: &Report, name: &str) -> Result<Response, ApiError> {
    let csv = report.csv(name).ok_or_else(|| {
        ApiError::bad_request(format!("table must be one of {}", TABLES.join(", ")))
    })?;
    let mut response = response(StatusCode::OK, "text/csv; charset=utf-8", csv);
    let file = format!(
        "attachment; filename=\"livecard-{name}-{}-{}.csv\"",
        report.request.from, report.request.to
    );
    if let Ok(value) = HeaderValue::from_str(&file) {
        response
            .headers_mut()
            .insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

/// The page as one file to keep or mail (`livecard report --format html`):
/// its stylesheet inlined and its script (not needed here) left out.
fn standalone(mut page: Response) -> Response {
    let html = String::from_utf8_lossy(page.body()).into_owned();
    let css = crate::assets::CSS.replace("</", "<\\/");
    let html = html
        .replace(
            &format!(
                "<link rel=\"stylesheet\" href=\"{}\">",
                crate::assets::css_url()
            ),
            &format!("<style>{css}</style>"),
        )
        .replace(
            &format!(
                "<script src=\"{}\" defer></script>",
                crate::assets::js_url()
            ),
            "",
        );
    *page.body_mut() = html.into();
    page
}

/// `GET /api/v1/reports?from=&to=&by=&service_level=&time_zone=&format=json|csv|html&table=`
/// (admin).
pub async fn api<S: Store, P: Push>(
    app: &App<S, P>,
    request: &Request,
) -> Result<Response, ApiError> {
    require_admin(app, request).await?;
    let params = query(request);
    let format = query_param(&params, "format").unwrap_or("json");
    if !matches!(format, "json" | "csv" | "html") {
        return Err(ApiError::bad_request("format must be json, csv or html"));
    }
    let table = query_param(&params, "table");
    if format == "csv" && table.is_none() {
        return Err(ApiError::bad_request(format!(
            "format=csv needs table, one of {}",
            TABLES.join(", ")
        )));
    }
    let wanted = app.report_request(&params)?;
    let report = app.report(wanted).await?;
    match format {
        "csv" => csv_response(&report, table.unwrap_or_default()),
        "html" => {
            let ctx = PageCtx::new(
                request,
                app.config.secure_cookies(),
                app.config.presence_poll_ms,
            );
            Ok(standalone(page::report(&ctx, &report, None)))
        }
        _ => Ok(json(StatusCode::OK, &page::as_json(&report))),
    }
}

/// `GET /reports` (the page) and `GET /reports/<table>.csv`, for a browser
/// signed in with an admin key.
pub async fn page<S: Store, P: Push>(
    app: &App<S, P>,
    request: &Request,
    ctx: &PageCtx,
    file: Option<&str>,
) -> Result<Response, ApiError> {
    if !app.admin_page_session(request).await? {
        return match file {
            Some(_) => Err(ApiError::unauthorized()),
            None => Ok(page::signin(ctx, None)),
        };
    }
    let params = query(request);
    let wanted = match app.report_request(&params) {
        Ok(wanted) => wanted,
        Err(err) if file.is_none() => {
            // The form shows what was wrong, over last week's report.
            let report = app.report(app.report_request(&[])?).await?;
            return Ok(page::report(ctx, &report, Some(&err.message)));
        }
        Err(err) => return Err(err),
    };
    let report = app.report(wanted).await?;
    match file {
        Some(file) => {
            let name = file
                .strip_suffix(".csv")
                .ok_or_else(|| ApiError::not_found("no such report file"))?;
            csv_response(&report, name)
        }
        None => Ok(page::report(ctx, &report, None)),
    }
}

/// `POST /reports`: signs in with an admin key (`key`), or out (`signout`).
pub async fn signin<S: Store, P: Push>(
    app: &App<S, P>,
    request: &Request,
    ctx: &PageCtx,
) -> Result<Response, ApiError> {
    if !same_origin(request) {
        return Err(ApiError::forbidden("cross-site form refused"));
    }
    let fields = form(request);
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let secure = app.config.secure_cookies();
    if field("signout").is_some() {
        let mut response = redirect("/reports");
        if let Some(cookie) = set_cookie(ADMIN_COOKIE, "", 0, true, secure) {
            response.headers_mut().append(header::SET_COOKIE, cookie);
        }
        return Ok(response);
    }
    let key = field("key").unwrap_or("").trim();
    let Some((kind, hash)) = app.admin_key(key).await? else {
        let mut refused = page::signin(ctx, Some(()));
        *refused.status_mut() = StatusCode::UNAUTHORIZED;
        return Ok(refused);
    };
    let value =
        livecard_core::auth::sign_admin_session(&app.secrets.session_key, kind, &hash, app.now());
    let mut response = redirect("/reports");
    let max_age = livecard_core::auth::ADMIN_SESSION_TTL_MS / 1000;
    if let Some(cookie) = set_cookie(ADMIN_COOKIE, &value, max_age, true, secure) {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    Ok(response)
}
