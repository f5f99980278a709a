//! Small HTTP helpers shared by the handlers: errors, JSON, cookies, query
//! strings and the security headers every response carries.

use crate::{MAX_BODY_BYTES, Request, Response};
use bytes::Bytes;
use http::StatusCode;
use http::header::{self, HeaderValue};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The Content-Security-Policy of every response: our own scripts and styles
/// only, no inline code, no framing.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' https: data: blob:; \
connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// An API error: a status and a JSON body `{"error":{"code","message"}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Seconds to wait before trying again (`Retry-After`).
    pub retry_after_s: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after_s: None,
        }
    }

    /// 429 with `Retry-After`, rounded up to whole seconds.
    pub fn rate_limited(message: impl Into<String>, retry_after_ms: u64) -> Self {
        Self {
            retry_after_s: Some(retry_after_ms.div_ceil(1000).max(1)),
            ..Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message)
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid admin API key is required (Authorization: Bearer lck_...)",
        )
    }

    pub fn not_signed_in() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "not_signed_in",
            "sign in with your sign-in link first",
        )
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "this method is not allowed here",
        )
    }

    pub fn unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the service is unavailable; try again shortly",
        )
    }

    pub fn into_response(self) -> Response {
        #[derive(Serialize)]
        struct Body<'a> {
            error: Inner<'a>,
        }
        #[derive(Serialize)]
        struct Inner<'a> {
            code: &'a str,
            message: &'a str,
        }
        let mut response = json(
            self.status,
            &Body {
                error: Inner {
                    code: self.code,
                    message: &self.message,
                },
            },
        );
        if let Some(seconds) = self.retry_after_s {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

impl From<livecard_store::StoreError> for ApiError {
    fn from(err: livecard_store::StoreError) -> Self {
        match err {
            livecard_store::StoreError::BadCursor => {
                ApiError::bad_request("the cursor is not valid")
            }
            other => {
                tracing::error!(error = %other, "store error");
                ApiError::unavailable()
            }
        }
    }
}

pub fn response(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response {
    let mut response = Response::new(body.into());
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

pub fn json<T: Serialize>(status: StatusCode, value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => response(status, "application/json", body),
        Err(_) => response(
            StatusCode::INTERNAL_SERVER_ERROR,
            "application/json",
            &b"{}"[..],
        ),
    }
}

pub fn html(status: StatusCode, markup: maud::Markup) -> Response {
    response(status, "text/html; charset=utf-8", markup.into_string())
}

pub fn redirect(location: &str) -> Response {
    let mut response = response(
        StatusCode::SEE_OTHER,
        "text/plain; charset=utf-8",
        Bytes::new(),
    );
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

pub fn no_content() -> Response {
    let mut response = Response::new(Bytes::new());
    *response.status_mut() = StatusCode::NO_CONTENT;
    response
}

/// Reads a JSON body into `T`, with a clear error for each way it can fail.
pub fn parse_json<T: DeserializeOwned>(request: &Request) -> Result<T, ApiError> {
    let is_json = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
        });
    if !is_json {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as Content-Type: application/json",
        ));
    }
    if request.body().len() > MAX_BODY_BYTES {
        return Err(too_large());
    }
    serde_json::from_slice(request.body()).map_err(|e| {
        ApiError::bad_request(format!(
            "invalid JSON body: {}",
            clipped(&e.to_string(), 200)
        ))
    })
}

/// At most `max` bytes of `text`, cut at a character boundary (a parser's
/// message quotes the input, which may be any UTF-8).
pub fn clipped(text: &str, max: usize) -> &str {
    &text[..text.floor_char_boundary(max)]
}

pub fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!(
            "the body is too large for this request (at most {MAX_BODY_BYTES} bytes of JSON; an identity image at most {} bytes)",
            livecard_core::identity_images::MAX_IMAGE_BYTES
        ),
    )
}

/// Query parameters, decoded.
pub fn query(request: &Request) -> Vec<(String, String)> {
    request
        .uri()
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default()
}

pub fn query_param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

/// A form body (`application/x-www-form-urlencoded`), decoded.
pub fn form(request: &Request) -> Vec<(String, String)> {
    form_urlencoded::parse(request.body())
        .into_owned()
        .collect()
}

/// The value of cookie `name`.
pub fn cookie<'a>(request: &'a Request, name: &str) -> Option<&'a str> {
    request
        .headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value with the attributes we always want.
pub fn set_cookie(
    name: &str,
    value: &str,
    max_age_s: u64,
    http_only: bool,
    secure: bool,
) -> Option<HeaderValue> {
    let mut text = format!("{name}={value}; Path=/; Max-Age={max_age_s}; SameSite=Lax");
    if http_only {
        text.push_str("; HttpOnly");
    }
    if secure {
        text.push_str("; Secure");
    }
    HeaderValue::from_str(&text).ok()
}

/// Is a state-changing request from our own pages? Browsers say where a
/// request comes from in `Sec-Fetch-Site` (modern ones) and `Origin`; when
/// they do, it must be this site. Clients that send neither (the CLI, curl)
/// are not browsers and carry no ambient cookies to abuse.
pub fn same_origin(request: &Request) -> bool {
    let header = |name| request.headers().get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = header("sec-fetch-site") {
        return site == "same-origin" || site == "none";
    }
    let Some(origin) = header(header::ORIGIN.as_str()) else {
        return true;
    };
    let origin_host = origin.split_once("://").map(|(_, rest)| rest);
    matches!((origin_host, header(header::HOST.as_str())), (Some(o), Some(h)) if o.eq_ignore_ascii_case(h))
}

/// `response` as a 304 when the request already holds its ETag.
pub fn not_modified_if_current(
    request_headers: &http::HeaderMap,
    mut response: Response,
) -> Response {
    let Some(etag) = response.headers().get(header::ETAG).cloned() else {
        return response;
    };
    let current = request_headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim().as_bytes() == etag.as_bytes()));
    if current && response.status() == StatusCode::OK {
        *response.status_mut() = StatusCode::NOT_MODIFIED;
        *response.body_mut() = Bytes::new();
    }
    response
}

/// Adds the headers every response carries, unless a handler set its own.
pub fn security_headers(response: &mut Response) {
    let headers = response.headers_mut();
    let defaults = [
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "same-origin"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::CACHE_CONTROL, "no-store"),
    ];
    for (name, value) in defaults {
        if !headers.contains_key(&name) {
            headers.insert(name, HeaderValue::from_static(value));
        }
    }
    headers
        .entry("cross-origin-opener-policy")
        .or_insert(HeaderValue::from_static("same-origin"));
    headers
        .entry("permissions-policy")
        .or_insert(HeaderValue::from_static(
            "camera=(self), microphone=(self), geolocation=()",
        ));
}

/// The one log line per request every host writes: the route's name,
/// never the path (card and sign-in links carry secrets).
pub fn log_request(
    method: &http::Method,
    route: &'static str,
    status: StatusCode,
    elapsed: std::time::Duration,
) {
    tracing::info!(
        method = %method,
        route,
        status = status.as_u16(),
        ms = elapsed.as_millis() as u64,
        "request"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(headers: &[(&str, &str)]) -> Request {
        let mut builder = http::Request::builder().uri("/x?a=1&b=%20two&a=3");
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        builder.body(Bytes::new()).expect("valid request")
    }

    /// A parser's message quotes the body: cutting it must not split a
    /// character (the fuzzer found a body that did).
    #[test]
    fn bad_json_messages_are_cut_on_a_character_boundary() {
        #[derive(Debug, serde::Deserialize)]
        enum Kind {
            A,
        }
        for pad in 0..4 {
            let body = format!("\"{}{}\"", "x".repeat(pad), "é".repeat(150));
            let request: Request = http::Request::builder()
                .header("content-type", "application/json")
                .body(Bytes::from(body))
                .expect("request");
            let err = parse_json::<Kind>(&request).expect_err("not a variant");
            assert!(
                err.message
                    .starts_with("invalid JSON body: unknown variant")
            );
            assert!(err.message.len() <= 220, "{}", err.message.len());
        }
        assert_eq!(clipped("aé", 2), "a");
        assert_eq!(clipped("ab", 5), "ab");
    }

    #[test]
    fn cookies_queries_and_origins() {
        let r = request(&[
            ("cookie", "a=1; lc_session=abc.def"),
            ("host", "127.0.0.1:8080"),
        ]);
        assert_eq!(cookie(&r, "lc_session"), Some("abc.def"));
        assert_eq!(cookie(&r, "missing"), None);
        let q = query(&r);
        assert_eq!(query_param(&q, "a"), Some("1"));
        assert_eq!(query_param(&q, "b"), Some(" two"));
        assert!(same_origin(&r));
        let cross = request(&[
            ("origin", "https://evil.example"),
            ("host", "127.0.0.1:8080"),
        ]);
        assert!(!same_origin(&cross));
        let same = request(&[
            ("origin", "http://127.0.0.1:8080"),
            ("host", "127.0.0.1:8080"),
        ]);
        assert!(same_origin(&same));
    }

    #[test]
    fn json_bodies_need_the_right_type() {
        let r = http::Request::builder()
            .header("content-type", "text/plain")
            .body(Bytes::from_static(b"{}"))
            .expect("valid");
        let err = parse_json::<serde_json::Value>(&r).expect_err("wrong type");
        assert_eq!(err.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        let r = http::Request::builder()
            .header("content-type", "application/json; charset=utf-8")
            .body(Bytes::from_static(b"{\"a\":"))
            .expect("valid");
        let err = parse_json::<serde_json::Value>(&r).expect_err("bad json");
        assert_eq!(err.status, StatusCode::BAD_REQUEST);
        assert!(err.message.starts_with("invalid JSON body"));
    }
}
