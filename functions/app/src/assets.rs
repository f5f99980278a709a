//! The static assets (one stylesheet, one script), served with a content
//! hash in their URL so browsers may cache them for a year.

use crate::Response;
use crate::http_util::response;
use http::StatusCode;
use http::header::{CACHE_CONTROL, HeaderValue};
use std::sync::OnceLock;

pub const CSS: &str = include_str!("../assets/app.css");
pub const JS: &str = include_str!("../assets/app.js");

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

pub fn serve(name: &str) -> Option<Response> {
    let (body, content_type) = match name {
        "app.css" => (CSS, "text/css; charset=utf-8"),
        "app.js" => (JS, "text/javascript; charset=utf-8"),
        _ => return None,
    };
    let mut response = response(StatusCode::OK, content_type, body);
    response.headers_mut().insert(
        CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    Some(response)
}
