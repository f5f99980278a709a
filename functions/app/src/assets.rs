//! The static assets (one stylesheet, one script), served with a content
//! hash in their URL so browsers may cache them for a year.

use crate::Response;
use crate::http_util::response;
use http::StatusCode;
use http::header::{CACHE_CONTROL, HeaderValue};
use std::sync::OnceLock;

pub const CSS: &str = include_str!("../assets/app.css");
pub const JS: &str = include_str!("../assets/app.js");
/// The visitor chat (website widget, card page, portal).
pub const WIDGET_JS: &str = include_str!("../assets/widget.js");
pub const WIDGET_CSS: &str = include_str!("../assets/widget.css");
pub const CONSOLE_JS: &str = include_str!("../assets/console.js");
/// Calls (WebRTC), loaded by the widget and the console.
pub const CALL_JS: &str = include_str!("../assets/call.js");

fn version_of(text: &str) -> String {
    livecard_core::encoding::sha256_hex(text.as_bytes())[..12].to_owned()
}

/// `/assets/app.css?v=<hash>`
pub fn css_url() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| format!("/assets/app.css?v={}", version_of(CSS)))
}

/// `/assets/app.js?v=<hash>`
pub fn js_url() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| format!("/assets/app.js?v={}", version_of(JS)))
}

/// `/assets/console.js?v=<hash>`
pub fn console_js_url() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| format!("/assets/console.js?v={}", version_of(CONSOLE_JS)))
}

/// `/widget.js` and `/widget.css`: stable URLs that other sites embed, so
/// they are cached briefly (and revalidated by ETag), and may be loaded
/// from any origin.
pub fn serve_widget(name: &str, if_none_match: Option<&str>) -> Option<Response> {
    let (body, content_type) = match name {
        "widget.js" => (WIDGET_JS, "text/javascript; charset=utf-8"),
        "widget.css" => (WIDGET_CSS, "text/css; charset=utf-8"),
        "call.js" => (CALL_JS, "text/javascript; charset=utf-8"),
        _ => return None,
    };
    let etag = format!("\"{}\"", version_of(body));
    let mut response = if if_none_match == Some(etag.as_str()) {
        response(StatusCode::NOT_MODIFIED, content_type, "")
    } else {
        response(StatusCode::OK, content_type, body)
    };
    let headers = response.headers_mut();
    headers.insert(
        CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    if let Ok(value) = HeaderValue::from_str(&etag) {
        headers.insert(http::header::ETAG, value);
    }
    headers.insert(
        http::header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    headers.insert(
        http::header::HeaderName::from_static("cross-origin-resource-policy"),
        HeaderValue::from_static("cross-origin"),
    );
    Some(response)
}

pub fn serve(name: &str) -> Option<Response> {
    let (body, content_type) = match name {
        "app.css" => (CSS, "text/css; charset=utf-8"),
        "app.js" => (JS, "text/javascript; charset=utf-8"),
        "console.js" => (CONSOLE_JS, "text/javascript; charset=utf-8"),
        _ => return None,
    };
    let mut response = response(StatusCode::OK, content_type, body);
    response.headers_mut().insert(
        CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    Some(response)
}
