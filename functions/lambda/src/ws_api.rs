//! API Gateway WebSocket API in front of the shared signaling handlers.
//!
//! - `$connect`: [`livecard_app::App::ws_connect`] decides who connects
//!   (an advisor by a single-use ticket in the URL); the connection is saved
//!   in the store.
//! - `$default`: the connection is read back, greeted on its first message
//!   (a serverless host cannot send before `$connect` returns), the message
//!   goes to [`livecard_app::App::ws_message`], the replies are posted back
//!   to the connection, and its state is saved again.
//! - `$disconnect`: the connection and its subscriptions are forgotten.
//!
//! API Gateway's own limits apply in front of this: 32 KB frames, 128 KB
//! messages, 10 minutes idle (clients ping every 5), 2 hours per connection
//! (clients reconnect and resume with `join` and `after`).

use crate::host::Host;
use crate::http_api::shape_error;
use crate::push::CONNECTION_TTL_MS;
use aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest;
use livecard_app::contact::Connection;
use livecard_core::signaling::{ProtocolError, error_message, refusal};
use livecard_store::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// API Gateway's largest WebSocket message.
pub const MAX_MESSAGE_BYTES: usize = 128 * 1024;
/// The longest connection id accepted.
const MAX_CONNECTION_ID: usize = 128;

/// What is saved per connection between invocations.
#[derive(Debug, Serialize, Deserialize)]
struct Saved {
    connection: Connection,
    greeted: bool,
}

fn status(code: u16) -> Value {
    json!({ "statusCode": code })
}

fn bad_event(reason: &str) -> Value {
    tracing::warn!(reason, "websocket event refused");
    json!({ "statusCode": 400, "body": reason })
}

/// One WebSocket API invocation.
pub async fn handle(host: &Host, event: Value) -> Value {
    let Some(context) = event.get("requestContext") else {
        return bad_event("the event has no requestContext");
    };
    if context
        .get("connectionId")
        .and_then(Value::as_str)
        .is_none()
    {
        return bad_event("the event has no requestContext.connectionId");
    }
    let event: ApiGatewayWebsocketProxyRequest = match serde_json::from_value(event) {
        Ok(event) => event,
        Err(err) => {
            return bad_event(&format!(
                "the event is not an API Gateway WebSocket event: {}",
                shape_error(&err)
            ));
        }
    };
    let Some(id) = event.request_context.connection_id.clone() else {
        return bad_event("the event has no requestContext.connectionId");
    };
    if id.is_empty() || id.len() > MAX_CONNECTION_ID {
        return bad_event("the connection id is not valid");
    }
    match event.request_context.event_type.as_deref() {
        Some("CONNECT") => connect(host, &id, &event).await,
        Some("MESSAGE") => message(host, &id, &event).await,
        Some("DISCONNECT") => {
            if let Err(err) = host.app.store.delete_connection(&id).await {
                tracing::warn!(error = %err, "could not forget a closed connection");
            }
            status(200)
        }
        _ => bad_event("requestContext.eventType is not CONNECT, MESSAGE or DISCONNECT"),
    }
}

async fn connect(host: &Host, id: &str, event: &ApiGatewayWebsocketProxyRequest) -> Value {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (name, value) in event.query_string_parameters.iter() {
        query.append_pair(name, value);
    }
    let query = query.finish();
    let uri = if query.is_empty() {
        "/ws".to_owned()
    } else {
        format!("/ws?{query}")
    };
    if uri.len() > livecard_app::MAX_URI_BYTES {
        return bad_event("the connection URL is too long");
    }
    let Ok(mut request) = http::Request::builder().uri(uri).body(bytes::Bytes::new()) else {
        return bad_event("the connection URL is not valid");
    };
    *request.headers_mut() = event.headers.clone();
    let connection = host.app.ws_connect(id, &request).await;
    if save(host, &connection, false).await {
        status(200)
    } else {
        // Refusing the upgrade is better than a socket nobody can reach.
        status(500)
    }
}

async fn save(host: &Host, connection: &Connection, greeted: bool) -> bool {
    let saved = Saved {
        connection: connection.clone(),
        greeted,
    };
    let Ok(state) = serde_json::to_string(&saved) else {
        return false;
    };
    let until = host.app.now() + CONNECTION_TTL_MS;
    match host
        .app
        .store
        .put_connection(&connection.id, &state, until)
        .await
    {
        Ok(()) => true,
        Err(err) => {
            tracing::error!(error = %err, "could not save a connection");
            false
        }
    }
}

async fn message(host: &Host, id: &str, event: &ApiGatewayWebsocketProxyRequest) -> Value {
    let push = &host.app.push;
    let text = match event.body.as_deref() {
        Some(_) if event.is_base64_encoded => {
            push.post(id, &error_message(ProtocolError::Malformed))
                .await;
            return status(200);
        }
        Some(text) if text.len() > MAX_MESSAGE_BYTES => {
            push.post(id, &error_message(ProtocolError::TooLarge)).await;
            return status(200);
        }
        Some(text) => text,
        None => {
            push.post(id, &error_message(ProtocolError::Malformed))
                .await;
            return status(200);
        }
    };
    let saved = match host.app.store.get_connection(id, host.app.now()).await {
        Ok(Some(state)) => serde_json::from_str::<Saved>(&state).ok(),
        Ok(None) => None,
        Err(err) => {
            tracing::error!(error = %err, "could not read a connection");
            push.post(
                id,
                &refusal("unavailable", "the service is unavailable; retry", None),
            )
            .await;
            return status(200);
        }
    };
    let Some(Saved {
        mut connection,
        greeted,
    }) = saved
    else {
        // Not known (expired, or lost): close it; the client reconnects and
        // resumes with a fresh connection.
        tracing::info!("message on an unknown connection; closing it");
        push.close(id).await;
        return status(200);
    };
    let mut out = Vec::new();
    if !greeted {
        out.extend(host.app.ws_greeting(&connection).await);
    }
    let replies = host.app.ws_message(&mut connection, text).await;
    out.extend(replies.messages);
    for reply in &out {
        if push.post(id, reply).await == livecard_app::contact::push::Posted::Gone {
            return status(200);
        }
    }
    // API Gateway's DeleteConnection sends no close code (1006 to the
    // client); the error frame before it says why.
    if replies.close.is_some() {
        push.close(id).await;
        return status(200);
    }
    // The rate limiter changes with every message: save every time.
    save(host, &connection, true).await;
    status(200)
}
