//! Signaling on Durable Objects: one object per WebSocket connection.
//!
//! Why this partition: a visitor's socket opens before it says which
//! sessions it joins (and may join several), an advisor's console listens
//! to the advisor and to every session they take. Who listens to whom is
//! therefore kept where every host keeps it, as subscriptions in DynamoDB
//! ([`livecard_app::contact::push::StoredPush`]); each connection's object
//! holds only its socket and its [`Connection`] state. No object sees more
//! than one client's traffic, so none is ever a hot spot, and any object
//! reaches any other by its id (the connection id is the object's id).
//!
//! The object uses the hibernation API: the socket is accepted by the
//! runtime, pings are answered by the runtime's auto-response without
//! waking the object, and the connection state lives in the object's
//! storage, so an evicted object resumes where it was. An alarm wakes it at
//! the next deadline of the sessions it joined (a ring or queue timeout)
//! to run the sweep, and renews its subscriptions before they run out.
//!
//! Every deploy restarts all objects and drops every socket: clients
//! reconnect and resume with `join` and `after` (`docs/protocol.md`).

use crate::host::{self, EdgeApp, SUBSCRIPTION_MS};
use crate::platform::now_ms;
use livecard_app::contact::Connection;
use livecard_app::contact::push::{Connections, Posted};
use livecard_core::signaling::{CloseReason, ProtocolError, ServerMessage, error_message};
use serde::{Deserialize, Serialize};
use worker::{
    DurableObject, Env, HttpRequest, Method, ObjectNamespace, Request, RequestInit, Response,
    State, WebSocket, WebSocketIncomingMessage, WebSocketPair, durable_object,
};

/// The largest message a client may send (as on the local host).
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// What an object keeps of its connection.
#[derive(Debug, Serialize, Deserialize)]
struct Saved {
    connection: Connection,
    /// When its subscriptions were last renewed.
    renewed_at: u64,
}

const SAVED: &str = "connection";

/// Reaching one connection: its object, by id.
#[derive(Clone)]
pub struct DurableConnections {
    namespace: ObjectNamespace,
}

impl DurableConnections {
    pub fn new(namespace: ObjectNamespace) -> Self {
        Self { namespace }
    }

    async fn call(&self, connection: &str, action: &str, body: &str) -> Option<u16> {
        let id = self.namespace.id_from_string(connection).ok()?;
        let stub = id.get_stub().ok()?;
        let mut init = RequestInit::new();
        init.with_method(Method::Post)
            .with_body(Some(wasm_bindgen::JsValue::from_str(body)));
        let request = Request::new_with_init(&format!("https://socket/{action}"), &init).ok()?;
        match stub.fetch_with_request(request).await {
            Ok(response) => Some(response.status_code()),
            Err(err) => {
                worker::console_warn!("could not reach a connection: {err}");
                None
            }
        }
    }
}

impl Connections for DurableConnections {
    async fn post(&self, connection: &str, message: &str) -> Posted {
        match self.call(connection, "post", message).await {
            Some(200) => Posted::Delivered,
            Some(410) => Posted::Gone,
            // Not an object id of ours: nothing can ever reach it.
            None if self.namespace.id_from_string(connection).is_err() => Posted::Gone,
            _ => Posted::Failed,
        }
    }

    async fn close(&self, connection: &str) {
        let _ = self.call(connection, "close", "").await;
    }
}

/// `GET /ws`: a new object takes the connection.
pub async fn upgrade(request: HttpRequest, env: &Env) -> worker::Result<crate::Out> {
    let is_upgrade = request
        .headers()
        .get(http::header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if !is_upgrade {
        return Ok(crate::error(
            http::StatusCode::UPGRADE_REQUIRED,
            "upgrade_required",
            "this is the signaling WebSocket: connect with a WebSocket client",
        ));
    }
    if request
        .uri()
        .path_and_query()
        .is_some_and(|pq| pq.as_str().len() > livecard_app::MAX_URI_BYTES)
    {
        return Ok(crate::error(
            http::StatusCode::URI_TOO_LONG,
            "uri_too_long",
            "the URL is too long",
        ));
    }
    let namespace = env.durable_object(host::SOCKETS)?;
    let stub = namespace.unique_id()?.get_stub()?;
    let request = Request::try_from(request)?;
    let response = stub.fetch_with_request(request).await?;
    // The 101 passes through with its socket (an extension of the
    // response); anything else with its body.
    let response: http::Response<worker::Body> = response.try_into()?;
    let (parts, body) = response.into_parts();
    let body = http_body_util::BodyExt::collect(body)
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    Ok(http::Response::from_parts(
        parts,
        http_body_util::Full::new(body),
    ))
}

#[durable_object]
pub struct Socket {
    state: State,
    env: Env,
    /// The connection, kept in memory between messages and in storage for
    /// when the object hibernates. The runtime may deliver the next message
    /// while one waits for the store: the lock takes them one at a time,
    /// in order, so each sees the state the one before left (the rate
    /// limiter, the joined sessions).
    saved: tokio::sync::Mutex<Option<Saved>>,
}

impl Socket {
    fn app(&self) -> worker::Result<std::rc::Rc<EdgeApp>> {
        host::app(&self.env).map_err(|e| worker::Error::RustError(e.to_string()))
    }

    fn id(&self) -> String {
        self.state.id().to_string()
    }

    /// The connection, from memory, or from storage after hibernation.
    async fn load(&self, held: &mut Option<Saved>) -> bool {
        if held.is_none() {
            *held = self
                .state
                .storage()
                .get::<Saved>(SAVED)
                .await
                .ok()
                .flatten();
        }
        held.is_some()
    }

    async fn save(&self, saved: &Saved) {
        if let Err(err) = self.state.storage().put(SAVED, saved).await {
            worker::console_error!("could not save a connection: {err}");
        }
    }

    fn sockets(&self) -> Vec<WebSocket> {
        self.state.get_websockets()
    }

    /// Forgets the connection: its state here and its subscriptions.
    async fn forget(&self, app: &EdgeApp) {
        app.push.forget(&self.id()).await;
        let _ = self.state.storage().delete_all().await;
        let _ = self.state.storage().delete_alarm().await;
    }

    /// Wakes at the next deadline of the joined sessions, and in time to
    /// renew the subscriptions.
    async fn schedule(&self, app: &EdgeApp, saved: &Saved) {
        let renew = saved.renewed_at + SUBSCRIPTION_MS / 2;
        let next = match app.ws_next_deadline(&saved.connection).await {
            Some(at) => at.min(renew),
            None => renew,
        };
        // Never sooner than a second: a session the sweep could not move on
        // must not wake the object in a loop.
        let at = next.max(now_ms() + 1_000);
        // An absolute time (an `i64` would be taken as an offset from now).
        let at = worker::ScheduledTime::new(js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(
            at as f64,
        )));
        if let Err(err) = self.state.storage().set_alarm(at).await {
            worker::console_error!("could not set an alarm: {err}");
        }
    }

    async fn open(&self, request: Request) -> worker::Result<Response> {
        let app = self.app()?;
        let id = self.id();
        let mut headers = http::HeaderMap::new();
        for (name, value) in request.headers().entries() {
            if let (Ok(name), Ok(value)) = (
                http::HeaderName::from_bytes(name.as_bytes()),
                http::HeaderValue::from_str(&value),
            ) {
                headers.append(name, value);
            }
        }
        let url = request.url()?;
        let uri = match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_owned(),
        };
        let mut upgrade = http::Request::builder()
            .uri(uri)
            .body(bytes::Bytes::new())
            .map_err(|e| worker::Error::RustError(e.to_string()))?;
        *upgrade.headers_mut() = headers;
        let (connection, greeting) = app.ws_open(&id, &upgrade).await;
        let pair = WebSocketPair::new()?;
        self.state.accept_web_socket(&pair.server);
        let ping = worker::WebSocketRequestResponsePair::new(
            r#"{"v":1,"type":"ping"}"#,
            &ServerMessage::Pong {}.to_json(),
        )?;
        self.state.set_websocket_auto_response(&ping);
        for message in greeting {
            let _ = pair.server.send_with_str(message);
        }
        let saved = Saved {
            connection,
            renewed_at: now_ms(),
        };
        let mut held = self.saved.lock().await;
        self.save(&saved).await;
        self.schedule(&app, &saved).await;
        *held = Some(saved);
        Response::from_websocket(pair.client)
    }
}

impl DurableObject for Socket {
    fn new(state: State, env: Env) -> Self {
        Self {
            state,
            env,
            saved: tokio::sync::Mutex::new(None),
        }
    }

    async fn fetch(&self, mut request: Request) -> worker::Result<Response> {
        match request.path().as_str() {
            "/post" => {
                let message = request.text().await?;
                let sockets = self.sockets();
                if sockets.is_empty() {
                    return Response::error("gone", 410);
                }
                for socket in sockets {
                    let _ = socket.send_with_str(&message);
                }
                Response::ok("")
            }
            "/close" => {
                *self.saved.lock().await = None;
                for socket in self.sockets() {
                    let _ = socket.close(Some(1000), Some("closed by the server"));
                }
                let _ = self.state.storage().delete_all().await;
                let _ = self.state.storage().delete_alarm().await;
                Response::ok("")
            }
            _ => self.open(request).await,
        }
    }

    async fn websocket_message(
        &self,
        ws: WebSocket,
        message: WebSocketIncomingMessage,
    ) -> worker::Result<()> {
        let text = match message {
            WebSocketIncomingMessage::String(text) if text.len() > MAX_MESSAGE_BYTES => {
                // As the other hosts: a frame over the limit closes (1009).
                let reason = CloseReason::TooLarge;
                let _ = ws.close(Some(reason.code()), Some(reason.text()));
                let app = self.app()?;
                *self.saved.lock().await = None;
                self.forget(&app).await;
                return Ok(());
            }
            WebSocketIncomingMessage::String(text) => text,
            WebSocketIncomingMessage::Binary(_) => {
                let _ = ws.send_with_str(error_message(ProtocolError::Malformed));
                return Ok(());
            }
        };
        let app = self.app()?;
        let mut held = self.saved.lock().await;
        if !self.load(&mut held).await {
            // Its state is gone (closed by the server): the client
            // reconnects and resumes on a fresh connection.
            let _ = ws.close(Some(1012), Some("reconnect"));
            return Ok(());
        }
        let Some(saved) = held.as_mut() else {
            return Ok(());
        };
        let sessions = saved.connection.sessions.len();
        let replies = app.ws_message(&mut saved.connection, &text).await;
        for reply in &replies.messages {
            let _ = ws.send_with_str(reply);
        }
        if let Some(reason) = replies.close {
            let _ = ws.close(Some(reason.code()), Some(reason.text()));
            *held = None;
            self.forget(&app).await;
            return Ok(());
        }
        self.save(saved).await;
        // Deadlines move with what the sessions do; a connection with no
        // session has only its renewal, set when it opened.
        if sessions > 0 || !saved.connection.sessions.is_empty() {
            self.schedule(&app, saved).await;
        }
        Ok(())
    }

    async fn websocket_close(
        &self,
        ws: WebSocket,
        _code: usize,
        _reason: String,
        _was_clean: bool,
    ) -> worker::Result<()> {
        let _ = ws.close(Some(1000), Some("closed"));
        let app = self.app()?;
        *self.saved.lock().await = None;
        self.forget(&app).await;
        Ok(())
    }

    async fn websocket_error(&self, _ws: WebSocket, _error: worker::Error) -> worker::Result<()> {
        let app = self.app()?;
        *self.saved.lock().await = None;
        self.forget(&app).await;
        Ok(())
    }

    async fn alarm(&self) -> worker::Result<Response> {
        let app = self.app()?;
        let mut held = self.saved.lock().await;
        if !self.load(&mut held).await {
            return Response::ok("");
        }
        let Some(saved) = held.as_mut() else {
            return Response::ok("");
        };
        if self.sockets().is_empty() {
            self.forget(&app).await;
            return Response::ok("");
        }
        if let Err(err) = app.sweep().await {
            worker::console_error!("the sweep failed: {err}");
        }
        let now = now_ms();
        if now >= saved.renewed_at + SUBSCRIPTION_MS / 2 {
            app.ws_renew(&saved.connection).await;
            saved.renewed_at = now;
            self.save(saved).await;
        }
        self.schedule(&app, saved).await;
        Response::ok("")
    }
}
