//! What the platform gives the handlers and the DynamoDB client: the clock
//! (`Date.now()`), randomness (`crypto.getRandomValues`, through
//! `getrandom`'s `wasm_js` backend), HTTP (`fetch`) and timers
//! (`setTimeout`).
//!
//! The SDK wants `Send` futures; the platform's are not (there is one
//! thread). This module is the one place that wraps them
//! ([`worker::send::SendFuture`]); the handlers' own ports need no `Send`.

use aws_smithy_async::rt::sleep::{AsyncSleep, Sleep};
use aws_smithy_async::time::TimeSource;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use livecard_core::UnixMillis;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use worker::send::SendFuture;

/// Milliseconds since the epoch, from `Date.now()`.
pub fn now_ms() -> UnixMillis {
    js_sys::Date::now() as UnixMillis
}

/// The handlers' clock.
#[derive(Debug, Clone, Copy)]
pub struct JsClock;

impl livecard_app::Clock for JsClock {
    fn now_ms(&self) -> UnixMillis {
        now_ms()
    }
}

/// The SDK's clock (request signatures, retry tokens).
#[derive(Debug, Clone, Copy)]
pub struct JsTime;

impl TimeSource for JsTime {
    fn now(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(now_ms())
    }
}

/// The SDK's sleep (retry backoff, timeouts): `setTimeout`.
#[derive(Debug, Clone, Copy)]
pub struct JsSleep;

impl AsyncSleep for JsSleep {
    fn sleep(&self, duration: Duration) -> Sleep {
        Sleep::new(SendFuture::new(worker::Delay::from(duration)))
    }
}

/// The SDK's HTTP client: the Worker's `fetch`.
#[derive(Debug, Clone, Copy)]
pub struct FetchClient;

impl HttpClient for FetchClient {
    fn http_connector(
        &self,
        _settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(FetchClient)
    }
}

impl HttpConnector for FetchClient {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        HttpConnectorFuture::new(SendFuture::new(fetch(request)))
    }
}

fn io_error(what: &str, err: impl std::fmt::Display) -> ConnectorError {
    ConnectorError::io(format!("{what}: {err}").into())
}

async fn fetch(request: HttpRequest) -> Result<HttpResponse, ConnectorError> {
    let headers = worker::Headers::new();
    for (name, value) in request.headers() {
        headers
            .append(name, value)
            .map_err(|e| io_error("a request header", e))?;
    }
    let mut init = worker::RequestInit::new();
    init.with_method(worker::Method::from(request.method().to_owned()))
        .with_headers(headers);
    if let Some(bytes) = request.body().bytes()
        && !bytes.is_empty()
    {
        init.with_body(Some(js_sys::Uint8Array::from(bytes).into()));
    }
    let outgoing = worker::Request::new_with_init(request.uri(), &init)
        .map_err(|e| io_error("the request", e))?;
    let mut response = worker::Fetch::Request(outgoing)
        .send()
        .await
        .map_err(|e| io_error("fetch", e))?;
    let status =
        StatusCode::try_from(response.status_code()).map_err(|e| io_error("the status", e))?;
    let body = response
        .bytes()
        .await
        .map_err(|e| io_error("the response body", e))?;
    let mut out = HttpResponse::new(status, SdkBody::from(body));
    for (name, value) in response.headers().entries() {
        out.headers_mut().append(name, value);
    }
    Ok(out)
}

/// The forwarder's outgoing HTTP (analytics destinations): `fetch`, never
/// following a redirect, given up after the timeout. Address literals are
/// checked by the handlers; a name resolves through Cloudflare's public
/// resolver, and the platform does not connect to private networks.
#[derive(Debug, Clone, Copy)]
pub struct WorkerFetch;

impl livecard_app::forward::Fetch for WorkerFetch {
    async fn post(
        &self,
        request: &livecard_core::forward::OutRequest,
        timeout_ms: u64,
    ) -> Result<livecard_app::forward::FetchAnswer, livecard_app::forward::FetchError> {
        use futures_util::future::{Either, select};
        use livecard_app::forward::{FetchAnswer, FetchError, MAX_ANSWER_BYTES};
        let failed = |what: &str| FetchError::Failed(what.to_owned());
        let headers = worker::Headers::new();
        for (name, value) in &request.headers {
            headers
                .append(name, value)
                .map_err(|_| failed("a request header"))?;
        }
        let mut init = worker::RequestInit::new();
        init.with_method(worker::Method::Post)
            .with_headers(headers)
            .with_redirect(worker::RequestRedirect::Manual)
            .with_body(Some(js_sys::Uint8Array::from(&request.body[..]).into()));
        // Never the URL in an error: it may carry a secret (GA4's api_secret).
        let outgoing = worker::Request::new_with_init(&request.url, &init)
            .map_err(|_| failed("the request could not be made"))?;
        let fetch = worker::Fetch::Request(outgoing);
        // The whole exchange, its body too, within the timeout.
        let exchange = Box::pin(async move {
            let mut response = fetch
                .send()
                .await
                .map_err(|_| failed("could not connect"))?;
            let status = response.status_code();
            let retry_after = response.headers().get("retry-after").ok().flatten();
            let mut body = response.bytes().await.unwrap_or_default();
            body.truncate(MAX_ANSWER_BYTES);
            Ok(FetchAnswer {
                status,
                retry_after,
                body,
            })
        });
        let timeout = Box::pin(worker::Delay::from(Duration::from_millis(timeout_ms)));
        match select(exchange, timeout).await {
            Either::Left((answer, _)) => answer,
            Either::Right(_) => Err(failed("no answer in time")),
        }
    }
}

// Only in the Worker (wasm): natively (the crate's checks and tests) the
// handlers' port must be `Send`, which JavaScript's promises are not.
#[cfg(target_arch = "wasm32")]
impl livecard_app::forward::SharedFetch for WorkerFetch {
    fn post_boxed<'a>(
        &'a self,
        request: &'a livecard_core::forward::OutRequest,
        timeout_ms: u64,
    ) -> livecard_app::forward::FetchFuture<'a> {
        use livecard_app::forward::Fetch;
        Box::pin(self.post(request, timeout_ms))
    }
}
