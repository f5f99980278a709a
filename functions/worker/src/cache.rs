//! The public presence reads (the portal's directory, a card's advisor)
//! answered from the data centre's cache (the Cache API) for as long as the
//! handlers say they may be shared ([`livecard_app::App::shared_read_ttl_ms`]):
//! one store read per data centre and second, however many visitors poll.
//! Visitors still revalidate with their ETag (`no-cache`), answered 304 here.
//!
//! The Cache API works on a custom domain, not on `*.workers.dev` (there
//! every read goes to the handlers, which is correct, only dearer).

use crate::host::EdgeApp;
use bytes::Bytes;
use http::HeaderValue;
use http::header::{CACHE_CONTROL, IF_NONE_MATCH};
use livecard_app::http_util::not_modified_if_current;

const STATUS: &str = "x-livecard-cache";

pub async fn shared_read(
    app: &EdgeApp,
    mut request: livecard_app::Request,
    ttl_ms: u64,
) -> livecard_app::Response {
    let key = format!(
        "{}{}",
        app.config.public_url,
        request.uri().path_and_query().map_or("/", |p| p.as_str())
    );
    let cache = worker::Cache::default();
    if let Ok(Some(mut hit)) = cache.get(key.as_str(), false).await
        && let Ok(body) = hit.bytes().await
    {
        let mut response = http::Response::new(Bytes::from(body));
        if let Ok(status) = http::StatusCode::from_u16(hit.status_code()) {
            *response.status_mut() = status;
        }
        for (name, value) in hit.headers().entries() {
            if let (Ok(name), Ok(value)) = (
                http::HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(&value),
            ) {
                response.headers_mut().append(name, value);
            }
        }
        let headers = response.headers_mut();
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        headers.insert(STATUS, HeaderValue::from_static("hit"));
        return not_modified_if_current(request.headers(), response);
    }
    let asked = request.headers().clone();
    request.headers_mut().remove(IF_NONE_MATCH);
    let mut response = app.handle(request).await;
    if response.status() == http::StatusCode::OK
        && let Ok(mut stored) = worker::Response::from_bytes(response.body().to_vec())
    {
        let headers = stored.headers_mut();
        for (name, value) in response.headers() {
            if name != CACHE_CONTROL
                && let Ok(value) = value.to_str()
            {
                let _ = headers.set(name.as_str(), value);
            }
        }
        let seconds = ttl_ms.div_ceil(1000).max(1);
        let _ = headers.set("cache-control", &format!("public, max-age={seconds}"));
        if let Err(err) = cache.put(key.as_str(), stored).await {
            worker::console_warn!("could not cache a presence read: {err}");
        }
    }
    response
        .headers_mut()
        .insert(STATUS, HeaderValue::from_static("miss"));
    not_modified_if_current(&asked, response)
}
