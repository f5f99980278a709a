//! A demo host page on another origin: an example site that embeds the
//! widget with one script tag, under its own strict Content-Security-Policy
//! that allows only livecard's origin. `livecard up` serves it on a second
//! port so cross-origin embedding is what you see.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::sync::Arc;

/// The page, embedding the widget from `public_url`.
pub fn page(public_url: &str) -> String {
    let escaped = public_url
        .replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;");
    format!(
        r#"<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Example Shop · widget demo</title></head>
<body>
<main>
<h1>Example Shop</h1>
<p>This page stands for any company website. It is served from another origin than livecard and embeds the contact widget with one tag:</p>
<pre>&lt;script src="{escaped}/widget.js" data-topic="sales" data-lang="en"&gt;&lt;/script&gt;</pre>
<p>Add <code>?livecard-topic=billing&amp;livecard-lang=de</code> to this page's address to override the tag's settings.</p>
</main>
<script src="{escaped}/widget.js" data-topic="sales" data-lang="en"></script>
</body>
</html>
"#
    )
}

struct Site {
    html: String,
    csp: HeaderValue,
}

async fn index(State(site): State<Arc<Site>>) -> Response {
    let mut response = site.html.clone().into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CONTENT_SECURITY_POLICY, site.csp.clone());
    response
}

/// The router of the demo site.
pub fn router(public_url: &str) -> Router {
    let ws = public_url.replacen("http", "ws", 1);
    let csp = format!(
        "default-src 'none'; script-src {public_url}; style-src {public_url}; connect-src {public_url} {ws}; img-src {public_url} https: data:"
    );
    let site = Site {
        html: page(public_url),
        csp: HeaderValue::from_str(&csp).unwrap_or(HeaderValue::from_static("default-src 'none'")),
    };
    Router::new()
        .route("/", get(index))
        .with_state(Arc::new(site))
}
