//! API Gateway event payloads as API Gateway sends them (field for field
//! from the documented examples of HTTP API payload 2.0 and WebSocket APIs),
//! and EventBridge's scheduled event.

use serde_json::{Map, Value, json};

const API_ID: &str = "abc123defg";
const DOMAIN: &str = "abc123defg.execute-api.us-east-1.amazonaws.com";

fn now_epoch_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// An HTTP API request (payload 2.0). `headers` are lower-case names;
/// cookies go in `cookies`, as API Gateway moves them there.
pub fn http(
    method: &str,
    path_and_query: &str,
    headers: &[(&str, &str)],
    cookies: &[&str],
    body: Option<&str>,
) -> Value {
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    let mut header_map = Map::new();
    header_map.insert("host".into(), Value::from("contact.example.com"));
    header_map.insert("user-agent".into(), Value::from("livecard-tests"));
    header_map.insert("x-forwarded-for".into(), Value::from("203.0.113.7"));
    header_map.insert("x-forwarded-proto".into(), Value::from("https"));
    for (name, value) in headers {
        header_map.insert((*name).to_owned(), Value::from(*value));
    }
    let mut event = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": header_map,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": API_ID,
            "domainName": "contact.example.com",
            "domainPrefix": "contact",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": "livecard-tests"
            },
            "requestId": format!("r{}", now_epoch_ms()),
            "routeKey": "$default",
            "stage": "$default",
            "time": "24/Nov/2026:04:00:00 +0000",
            "timeEpoch": now_epoch_ms()
        },
        "isBase64Encoded": false
    });
    if !cookies.is_empty() {
        event["cookies"] = json!(cookies);
    }
    if let Some(body) = body {
        event["body"] = Value::from(body);
    }
    event
}

fn ws_context(connection: &str, event_type: &str, route: &str) -> Value {
    json!({
        "routeKey": route,
        "eventType": event_type,
        "extendedRequestId": format!("x{}", now_epoch_ms()),
        "requestTime": "24/Nov/2026:04:00:00 +0000",
        "messageDirection": "IN",
        "stage": crate::emulator::aws::STAGE,
        "connectedAt": now_epoch_ms(),
        "requestTimeEpoch": now_epoch_ms(),
        "identity": {"sourceIp": "203.0.113.7", "userAgent": "livecard-tests"},
        "requestId": format!("q{}", now_epoch_ms()),
        "domainName": DOMAIN,
        "connectionId": connection,
        "apiId": API_ID
    })
}

/// `$connect`, with the upgrade request's headers and query.
pub fn ws_connect(connection: &str, headers: &[(&str, &str)], query: &[(&str, &str)]) -> Value {
    let mut header_map = Map::new();
    header_map.insert("Host".into(), Value::from(DOMAIN));
    header_map.insert("Sec-WebSocket-Version".into(), Value::from("13"));
    header_map.insert(
        "Sec-WebSocket-Key".into(),
        Value::from("dGhlIHNhbXBsZSBub25jZQ=="),
    );
    for (name, value) in headers {
        header_map.insert((*name).to_owned(), Value::from(*value));
    }
    let mut event = json!({
        "headers": header_map,
        "multiValueHeaders": {},
        "requestContext": ws_context(connection, "CONNECT", "$connect"),
        "isBase64Encoded": false
    });
    if !query.is_empty() {
        let map: Map<String, Value> = query
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Value::from(*v)))
            .collect();
        event["queryStringParameters"] = Value::Object(map);
    }
    event
}

/// A message on `$default`.
pub fn ws_message(connection: &str, body: &str) -> Value {
    let mut context = ws_context(connection, "MESSAGE", "$default");
    context["messageId"] = Value::from(format!("m{}", now_epoch_ms()));
    json!({
        "requestContext": context,
        "body": body,
        "isBase64Encoded": false
    })
}

/// `$disconnect`.
pub fn ws_disconnect(connection: &str) -> Value {
    let mut context = ws_context(connection, "DISCONNECT", "$disconnect");
    context["disconnectStatusCode"] = Value::from(1001);
    context["disconnectReason"] = Value::from("Going away");
    json!({
        "headers": {"Host": DOMAIN},
        "requestContext": context,
        "isBase64Encoded": false
    })
}

/// EventBridge's scheduled event.
pub fn scheduled() -> Value {
    json!({
        "version": "0",
        "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": "2026-11-24T04:00:00Z",
        "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/livecard-sweep"],
        "detail": {}
    })
}

/// A DynamoDB Streams event (keys only): one item inserted, as the stream
/// trigger of `livecard-forward` hands it over.
pub fn dynamodb_insert(pk: &str, sk: &str) -> Value {
    json!({
        "Records": [{
            "eventID": "c4ca4238a0b923820dcc509a6f75849b",
            "eventName": "INSERT",
            "eventVersion": "1.1",
            "eventSource": "aws:dynamodb",
            "awsRegion": "us-east-1",
            "dynamodb": {
                "ApproximateCreationDateTime": 1_795_392_000,
                "Keys": {"pk": {"S": pk}, "sk": {"S": sk}},
                "SequenceNumber": "111",
                "SizeBytes": 26,
                "StreamViewType": "KEYS_ONLY"
            },
            "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/livecard/stream/2026-11-24T00:00:00.000"
        }]
    })
}
