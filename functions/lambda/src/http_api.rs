//! API Gateway HTTP API (payload format 2.0) in front of the shared
//! handlers: the event becomes an `http::Request`, the `http::Response`
//! becomes the proxy result.

use crate::host::Host;
use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::{HeaderValue, StatusCode, header};
use livecard_app::{ClientAddr, MAX_URI_BYTES, route_name};
use serde_json::{Value, json};
use std::time::Instant;

/// Why an event cannot be handled: answered with a 4xx, never a panic.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EventError {
    #[error("the event is not an API Gateway HTTP API (2.0) request: {0}")]
    Shape(String),
    #[error("the event has no {0}")]
    Missing(&'static str),
    #[error("the request body is not valid base64")]
    Base64,
    #[error("the request body is larger than this route takes")]
    TooLarge,
    #[error("the path and query are longer than {MAX_URI_BYTES} bytes")]
    UriTooLong,
    #[error("the request line or a header is not valid")]
    Invalid,
}

impl EventError {
    fn status(&self) -> StatusCode {
        match self {
            EventError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            EventError::UriTooLong => StatusCode::URI_TOO_LONG,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

/// The request an HTTP API event carries.
pub fn to_request(event: Value) -> Result<livecard_app::Request, EventError> {
    if event
        .get("requestContext")
        .and_then(|c| c.get("http"))
        .is_none()
    {
        return Err(EventError::Missing("requestContext.http"));
    }
    let event: ApiGatewayV2httpRequest =
        serde_json::from_value(event).map_err(|err| EventError::Shape(shape_error(&err)))?;
    let path = event
        .raw_path
        .as_deref()
        .or(event.request_context.http.path.as_deref())
        .ok_or(EventError::Missing("rawPath"))?;
    let query = event.raw_query_string.as_deref().unwrap_or("");
    let uri = if query.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{query}")
    };
    if uri.len() > MAX_URI_BYTES {
        return Err(EventError::UriTooLong);
    }
    let limit = livecard_app::body_limit(path);
    let body = match event.body {
        None => bytes::Bytes::new(),
        Some(body) if event.is_base64_encoded => {
            if body.len() > limit.div_ceil(3) * 4 + 4 {
                return Err(EventError::TooLarge);
            }
            bytes::Bytes::from(STANDARD.decode(body).map_err(|_| EventError::Base64)?)
        }
        Some(body) => bytes::Bytes::from(body),
    };
    if body.len() > limit {
        return Err(EventError::TooLarge);
    }
    let mut request = http::Request::builder()
        .method(event.request_context.http.method.clone())
        .uri(uri)
        .body(body)
        .map_err(|_| EventError::Invalid)?;
    *request.headers_mut() = event.headers;
    // Payload 2.0 moves cookies out of the headers.
    if let Some(cookies) = event.cookies.filter(|c| !c.is_empty()) {
        let joined = cookies.join("; ");
        request.headers_mut().insert(
            header::COOKIE,
            HeaderValue::from_str(&joined).map_err(|_| EventError::Invalid)?,
        );
    }
    if let Some(ip) = event.request_context.http.source_ip {
        request.extensions_mut().insert(ClientAddr(ip));
    }
    Ok(request)
}

/// serde's message, without the input it quotes (it may hold user data).
pub(crate) fn shape_error(err: &serde_json::Error) -> String {
    let text = err.to_string();
    let text = text.split(" at line ").next().unwrap_or(&text);
    text.chars().take(200).collect()
}

/// The proxy result for a response: text bodies as text, others as base64;
/// `Set-Cookie` headers in `cookies`, as payload 2.0 wants them.
pub fn from_response(response: livecard_app::Response) -> Value {
    let (parts, body) = response.into_parts();
    let mut headers = serde_json::Map::new();
    let mut cookies = Vec::new();
    for (name, value) in &parts.headers {
        let Ok(value) = value.to_str() else { continue };
        if name == header::SET_COOKIE {
            cookies.push(Value::from(value));
        } else if let Some(Value::String(existing)) = headers.get_mut(name.as_str()) {
            existing.push_str(", ");
            existing.push_str(value);
        } else {
            headers.insert(name.as_str().to_owned(), Value::from(value));
        }
    }
    let textual = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|ct| {
            ct.starts_with("text/")
                || ct.contains("json")
                || ct.contains("javascript")
                || ct.contains("xml")
        });
    let (body, base64) = match std::str::from_utf8(&body) {
        Ok(text) if textual => (text.to_owned(), false),
        _ => (STANDARD.encode(&body), true),
    };
    json!({
        "statusCode": parts.status.as_u16(),
        "headers": headers,
        "cookies": cookies,
        "body": body,
        "isBase64Encoded": base64,
    })
}

/// A refusal in the API's error format.
pub fn refusal(status: StatusCode, code: &str, message: &str) -> Value {
    json!({
        "statusCode": status.as_u16(),
        "headers": {"content-type": "application/json", "cache-control": "no-store"},
        "body": json!({"error": {"code": code, "message": message}}).to_string(),
        "isBase64Encoded": false,
    })
}

/// One HTTP API invocation.
pub async fn handle(host: &Host, event: Value) -> Value {
    let started = Instant::now();
    let request = match to_request(event) {
        Ok(request) => request,
        Err(err) => {
            tracing::warn!(error = %err, "event refused");
            let code = match err {
                EventError::TooLarge => "too_large",
                EventError::UriTooLong => "uri_too_long",
                _ => "bad_event",
            };
            return refusal(err.status(), code, &err.to_string());
        }
    };
    let method = request.method().clone();
    let route = route_name(request.uri().path());
    let response = host.app.handle(request).await;
    livecard_app::http_util::log_request(&method, route, response.status(), started.elapsed());
    from_response(response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use livecard_app::MAX_BODY_BYTES;

    fn event() -> Value {
        json!({
            "version": "2.0",
            "routeKey": "$default",
            "rawPath": "/api/v1/contacts",
            "rawQueryString": "a=1&b=2",
            "cookies": ["lc_visitor=abc", "lc_session=def"],
            "headers": {"content-type": "application/json", "host": "contact.example.com"},
            "requestContext": {
                "http": {"method": "POST", "path": "/api/v1/contacts", "protocol": "HTTP/1.1",
                         "sourceIp": "203.0.113.9", "userAgent": "test"},
                "requestId": "r1", "stage": "$default", "timeEpoch": 1
            },
            "body": "eyJvcmlnaW4iOiJwb3J0YWwifQ==",
            "isBase64Encoded": true
        })
    }

    #[test]
    fn an_http_api_event_becomes_a_request() {
        let request = to_request(event()).expect("valid");
        assert_eq!(request.method(), http::Method::POST);
        assert_eq!(request.uri().to_string(), "/api/v1/contacts?a=1&b=2");
        assert_eq!(request.body().as_ref(), br#"{"origin":"portal"}"#);
        assert_eq!(
            request
                .headers()
                .get("cookie")
                .and_then(|v| v.to_str().ok()),
            Some("lc_visitor=abc; lc_session=def")
        );
        assert_eq!(
            request
                .extensions()
                .get::<ClientAddr>()
                .map(|a| a.0.as_str()),
            Some("203.0.113.9")
        );
    }

    #[test]
    fn bad_events_are_refused_with_a_reason() {
        let mut missing = event();
        missing["requestContext"] = json!({});
        assert_eq!(
            to_request(missing).err(),
            Some(EventError::Missing("requestContext.http"))
        );
        let mut wrong = event();
        wrong["requestContext"]["http"]["method"] = json!(42);
        assert!(matches!(to_request(wrong), Err(EventError::Shape(_))));
        let mut bad64 = event();
        bad64["body"] = json!("***");
        assert_eq!(to_request(bad64).err(), Some(EventError::Base64));
        let mut large = event();
        large["isBase64Encoded"] = json!(false);
        large["body"] = json!("x".repeat(MAX_BODY_BYTES + 1));
        assert_eq!(to_request(large).err(), Some(EventError::TooLarge));
        // The identity image route takes up to its own limit, in base64.
        let mut image = event();
        image["rawPath"] = json!("/api/v1/me/conversations/s1/identity-images");
        image["isBase64Encoded"] = json!(true);
        image["body"] = json!(STANDARD.encode(vec![0xFF; 3_000_000]));
        assert_eq!(
            to_request(image.clone()).map(|r| r.body().len()).ok(),
            Some(3_000_000)
        );
        image["body"] = json!(STANDARD.encode(vec![
            0xFF;
            livecard_core::identity_images::MAX_IMAGE_BYTES
                + 1
        ]));
        assert_eq!(to_request(image).err(), Some(EventError::TooLarge));
        let mut long = event();
        long["rawQueryString"] = json!("q=".to_owned() + &"x".repeat(MAX_URI_BYTES));
        assert_eq!(to_request(long).err(), Some(EventError::UriTooLong));
    }

    #[test]
    fn responses_carry_cookies_apart_and_binary_as_base64() {
        let response = http::Response::builder()
            .status(201)
            .header("content-type", "application/json")
            .header("set-cookie", "a=1; HttpOnly")
            .header("set-cookie", "b=2")
            .body(bytes::Bytes::from_static(b"{\"ok\":true}"))
            .expect("response");
        let out = from_response(response);
        assert_eq!(out["statusCode"], 201);
        assert_eq!(out["cookies"], json!(["a=1; HttpOnly", "b=2"]));
        assert_eq!(out["body"], "{\"ok\":true}");
        assert_eq!(out["isBase64Encoded"], false);
        assert!(out["headers"].get("set-cookie").is_none());
        let png = http::Response::builder()
            .header("content-type", "image/png")
            .body(bytes::Bytes::from_static(&[0x89, 0x50, 0xff]))
            .expect("response");
        let out = from_response(png);
        assert_eq!(out["isBase64Encoded"], true);
        assert_eq!(out["body"], STANDARD.encode([0x89, 0x50, 0xff]));
    }
}
