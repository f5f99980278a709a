//! livecard's edge host: the shared handlers as a Cloudflare Worker.
//!
//! - Every HTTP route goes to [`livecard_app::App::handle`], exactly as on
//!   the local and Lambda hosts; this file only converts the request (body
//!   read up to the handlers' limit, the client address from
//!   `CF-Connecting-IP`) and the response.
//! - `GET /ws` (the signaling WebSocket) is handed to a Durable Object of
//!   its own ([`socket::Socket`]), which serves the connection with the
//!   hibernation API; pushes reach it through its stub.
//! - Teams push notifications go to the same handler, which is handed
//!   WebCrypto for the RSA unwrap ([`teams`]).
//! - The cron trigger runs the sweep every minute; connection objects set
//!   alarms for their sessions' deadlines in between.
//! - The store is `livecard-store`'s DynamoDB code on `aws-sdk-dynamodb`,
//!   over `fetch` ([`platform`]).

mod cache;
mod host;
mod logs;
mod platform;
mod socket;
mod teams;

#[cfg(feature = "conformance")]
mod conformance;

use bytes::Bytes;
use http::StatusCode;
use http_body_util::{BodyExt, Full, Limited};
use livecard_app::ClientAddr;
use livecard_app::http_util::{ApiError, too_large};
pub use socket::Socket;
use worker::{Context, Env, HttpRequest, ScheduleContext, ScheduledEvent, event};

type Out = http::Response<Full<Bytes>>;

fn out(response: livecard_app::Response) -> Out {
    response.map(Full::new)
}

fn error(status: StatusCode, code: &'static str, message: &str) -> Out {
    out(ApiError::new(status, code, message.to_owned()).into_response())
}

#[event(start)]
fn start() {
    console_error_panic_hook::set_once();
    logs::init();
}

#[event(fetch)]
async fn fetch(request: HttpRequest, env: Env, _ctx: Context) -> worker::Result<Out> {
    let app = match host::app(&env) {
        Ok(app) => app,
        Err(err) => {
            worker::console_error!("the Worker is not configured: {err}");
            return Ok(error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "not_configured",
                "the service is not configured; see its logs",
            ));
        }
    };
    let path = request.uri().path();
    if path == "/ws" {
        return socket::upgrade(request, &env).await;
    }
    // The test build proves that a panic does not poison the Worker.
    #[cfg(feature = "conformance")]
    if path == "/__panic" {
        panic!("a panic the tests asked for");
    }
    #[cfg(feature = "conformance")]
    if let Some(check) = path.strip_prefix("/__conformance/") {
        let check = check.to_owned();
        return Ok(conformance::run(&app, &check).await);
    }
    let request = match read(request).await {
        Ok(request) => request,
        Err(refused) => return Ok(refused),
    };
    // Teams push: the shared handler, with WebCrypto for the RSA unwrap.
    if request.method() == http::Method::POST && request.uri().path() == teams::PATH {
        let mut response = app
            .teams_notifications_with(&request, |keys, wrapped| {
                teams::unwrap(keys.private_key.clone(), wrapped)
            })
            .await
            .unwrap_or_else(ApiError::into_response);
        livecard_app::http_util::security_headers(&mut response);
        return Ok(out(response));
    }
    let shared = app.shared_read_ttl_ms(&request);
    if shared > 0 {
        return Ok(out(cache::shared_read(&app, request, shared).await));
    }
    Ok(out(app.handle(request).await))
}

/// The cron trigger (`wrangler.toml`): ring and queue deadlines, inactivity,
/// and waiting queues, as the other hosts' sweep; then the forwarder
/// (analytics destinations, `docs/analytics.md`) sends what is due.
#[event(scheduled)]
async fn scheduled(_event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    match host::app(&env) {
        Ok(app) => {
            match app.sweep().await {
                Ok(report) => tracing::debug!(?report, "swept"),
                Err(err) => worker::console_error!("the sweep failed: {err}"),
            }
            match app.forward(&platform::WorkerFetch).await {
                Ok(report) => tracing::debug!(?report, "forwarded"),
                Err(err) => worker::console_error!("forwarding failed: {err}"),
            }
        }
        Err(err) => worker::console_error!("the Worker is not configured: {err}"),
    }
}

/// The request as the handlers take it: the body read whole only while it
/// stays within [`livecard_app::body_limit`] for its path, and the client's address.
async fn read(request: HttpRequest) -> Result<livecard_app::Request, Out> {
    let (mut parts, body) = request.into_parts();
    let declared = parts
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let limit = livecard_app::body_limit(parts.uri.path());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(out(too_large().into_response()));
    }
    let bytes = match Limited::new(body, limit).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(err) if err.is::<http_body_util::LengthLimitError>() => {
            return Err(out(too_large().into_response()));
        }
        Err(_) => {
            return Err(error(
                StatusCode::BAD_REQUEST,
                "bad_request",
                "the request body could not be read",
            ));
        }
    };
    // Cloudflare sets it from the connection (a client cannot): the visitor.
    if let Some(ip) = parts
        .headers
        .get("cf-connecting-ip")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<std::net::IpAddr>().ok())
    {
        parts.extensions.insert(ClientAddr(ip.to_string()));
    }
    Ok(http::Request::from_parts(parts, bytes))
}
