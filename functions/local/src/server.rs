//! `livecard up`: the axum host around the shared handlers.

use crate::bootstrap;
use crate::datadir::DataDir;
use crate::listener::{ConnectionLimits, IdleLimit};
use crate::ports::OsRandom;
use crate::{LocalApp, TABLE};
use anyhow::Context;
use axum::Router;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::routing::get;
use livecard_app::{ClientAddr, route_name};
use livecard_store::dynamo::{DynamoStore, local_client};
use livecard_store::embedded::EmbeddedDynamo;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What `livecard up` needs.
#[derive(Debug, Clone)]
pub struct UpOptions {
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
    /// The functions' settings (the public URL defaults to the bound
    /// address).
    pub settings: livecard_app::Settings,
    pub demo_addr: SocketAddr,
    /// The in-process media node's address; none runs without one.
    pub turn_addr: Option<SocketAddr>,
    pub limits: ConnectionLimits,
}

type SharedApp = Arc<LocalApp>;

/// Frames larger than this close the connection; messages between the
/// protocol limit (16 KiB) and this get a protocol error instead.
const MAX_FRAME: usize = 64 * 1024;

/// The axum router: `/ws` is the signaling socket, every other request goes
/// to the shared handlers.
pub fn router(app: SharedApp) -> Router {
    Router::new()
        .route("/ws", get(websocket))
        .fallback(handle)
        .with_state(app)
}

async fn websocket(
    State(app): State<SharedApp>,
    upgrade: WebSocketUpgrade,
    request: axum::extract::Request,
) -> axum::response::Response {
    let (parts, _) = request.into_parts();
    // A signaling socket is quiet between messages (clients ping every five
    // minutes): it gets the longer idle limit.
    if let (Some(idle), Some(limits)) = (
        parts.extensions.get::<IdleLimit>(),
        parts.extensions.get::<ConnectionLimits>(),
    ) {
        idle.set(limits.idle_websocket);
    }
    let request = http::Request::from_parts(parts, bytes::Bytes::new());
    upgrade
        .max_message_size(MAX_FRAME)
        .max_frame_size(MAX_FRAME)
        // Small buffers: most connections are idle most of the time (the
        // default read buffer alone is 128 KiB per connection; 4 KiB was
        // a third of an idle socket's memory). A larger message (an SDP
        // offer) is read in more steps.
        .read_buffer_size(1024)
        .write_buffer_size(0)
        .max_write_buffer_size(MAX_FRAME * 4)
        .on_upgrade(move |socket| serve_socket(app, socket, request))
}

/// One signaling connection: frames in go to the shared handlers, replies
/// and pushed messages go out.
async fn serve_socket(app: SharedApp, mut socket: WebSocket, request: livecard_app::Request) {
    let mut id_bytes = [0u8; 12];
    livecard_app::Random::fill(&OsRandom, &mut id_bytes);
    let id = livecard_core::encoding::b64url(&id_bytes);
    let mut pushed = app.push.register(&id);
    // The handler futures are large (store calls inline); boxed, they take
    // memory only while a message is handled, not in every idle connection.
    let (mut connection, hello) = Box::pin(app.ws_open(&id, &request)).await;
    // The upgrade request (its headers) is not needed again: not kept for
    // the connection's life.
    drop(request);
    for message in hello {
        if socket.send(Message::text(message)).await.is_err() {
            app.push.unregister(&id);
            return;
        }
    }
    let mut close = None;
    loop {
        tokio::select! {
            frame = socket.recv() => {
                let text = match frame {
                    Some(Ok(Message::Text(text))) => text,
                    Some(Ok(Message::Binary(_))) => {
                        let refusal = livecard_core::signaling::error_message(
                            livecard_core::signaling::ProtocolError::Malformed,
                        );
                        if socket.send(Message::text(refusal)).await.is_err() {
                            break;
                        }
                        continue;
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    Some(Ok(Message::Close(_))) | None => break,
                    Some(Err(err)) => {
                        close = close_reason(err);
                        break;
                    }
                };
                let replies = Box::pin(app.ws_message(&mut connection, text.as_str())).await;
                let mut failed = false;
                for reply in replies.messages {
                    if socket.send(Message::text(reply)).await.is_err() {
                        failed = true;
                        break;
                    }
                }
                if failed || replies.close.is_some() {
                    close = replies.close;
                    break;
                }
            }
            message = pushed.recv() => {
                let Some(message) = message else { break };
                if socket.send(Message::text(message.as_ref())).await.is_err() {
                    break;
                }
            }
        }
    }
    app.push.unregister(&id);
    let frame = close.map(|reason| axum::extract::ws::CloseFrame {
        code: reason.code(),
        reason: reason.text().into(),
    });
    if socket.send(Message::Close(frame)).await.is_ok() {
        // The closing handshake: read (and drop) what the client still
        // sends until its Close, for a moment at most. Closing with unread
        // data would reset the connection, and the client might never see
        // the close frame and its code.
        let drain = async {
            while let Some(Ok(message)) = socket.recv().await {
                if matches!(message, Message::Close(_)) {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(CLOSE_HANDSHAKE, drain).await;
        // After a frame the socket could not read, nothing more can be read
        // from it: give the close frame a moment to reach the client before
        // the connection goes (and the unread rest resets it).
        if matches!(close, Some(reason) if reason != livecard_core::signaling::CloseReason::Flooding)
        {
            tokio::time::sleep(CLOSE_LINGER).await;
        }
    }
}

/// How long a socket that broke on a frame stays open after its close frame.
const CLOSE_LINGER: Duration = Duration::from_millis(250);

/// How long a closing socket waits for the client's Close.
const CLOSE_HANDSHAKE: Duration = Duration::from_secs(2);

/// The close code for a frame the socket could not take: too big (1009)
/// or not WebSocket (1002); other errors are a lost connection.
fn close_reason(err: axum::Error) -> Option<livecard_core::signaling::CloseReason> {
    use livecard_core::signaling::CloseReason;
    match err.into_inner().downcast_ref::<tungstenite::Error>() {
        Some(tungstenite::Error::Capacity(_)) => Some(CloseReason::TooLarge),
        Some(tungstenite::Error::Protocol(_)) => Some(CloseReason::ProtocolViolation),
        _ => None,
    }
}

/// Runs the contact sweep (ring and queue deadlines, inactivity, queues)
/// every `every`.
pub fn spawn_sweeper(app: SharedApp, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(err) = app.sweep().await {
                tracing::warn!(error = %err, "sweep failed");
            }
        }
    })
}

/// Forwards analytics events from the outbox (`docs/analytics.md`) every
/// `every`: what is due is sent, and what failed waits for its retry time.
pub fn spawn_forwarder(app: SharedApp, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let fetch = match livecard_app::forward_native::NativeFetch::new(app.forward_policy()) {
            Ok(fetch) => fetch,
            Err(err) => {
                tracing::error!(error = %err, "no HTTP client: analytics events are not forwarded");
                return;
            }
        };
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match app.forward(&fetch).await {
                Ok(report) if report.requests > 0 => {
                    tracing::debug!(?report, "forwarded");
                }
                Ok(_) => {}
                Err(err) => tracing::warn!(error = %err, "forwarding failed; trying again"),
            }
        }
    })
}

async fn handle(
    State(app): State<SharedApp>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: axum::extract::Request,
) -> axum::response::Response {
    let started = Instant::now();
    let (parts, body) = request.into_parts();
    let method = parts.method.clone();
    let route = route_name(parts.uri.path());
    let body_read = parts
        .extensions
        .get::<ConnectionLimits>()
        .map_or(ConnectionLimits::default().body_read, |l| l.body_read);
    let client = ClientAddr::resolve(peer.ip(), &parts.headers, &app.config.trusted_proxies);
    let body = tokio::time::timeout(
        body_read,
        axum::body::to_bytes(body, livecard_app::body_limit(parts.uri.path())),
    )
    .await;
    let response = match body {
        Ok(Ok(bytes)) => {
            let mut request = http::Request::from_parts(parts, bytes);
            request.extensions_mut().insert(client);
            app.handle(request).await
        }
        Ok(Err(_)) => livecard_app::http_util::too_large().into_response(),
        Err(_) => {
            let mut response = livecard_app::http_util::ApiError::new(
                http::StatusCode::REQUEST_TIMEOUT,
                "timeout",
                "the request body did not arrive in time",
            )
            .into_response();
            response.headers_mut().insert(
                http::header::CONNECTION,
                http::HeaderValue::from_static("close"),
            );
            response
        }
    };
    livecard_app::http_util::log_request(&method, route, response.status(), started.elapsed());
    response.map(axum::body::Body::from)
}

/// Runs everything until Ctrl-C or SIGTERM.
pub async fn up(options: UpOptions) -> anyhow::Result<()> {
    let data = DataDir::open(&options.data_dir)?;
    let (secrets, first_start) = data.secrets()?;
    let embedded = EmbeddedDynamo::start(Some(&data.prepare_store()?))
        .await
        .with_context(|| {
            format!(
                "cannot open the store in {} (restore {} from a backup, or move the data directory away to start afresh)",
                data.path.display(),
                crate::datadir::STORE_FILE
            )
        })?;
    embedded.spawn_ttl_sweeper(Duration::from_secs(60));
    let store = DynamoStore::new(local_client(embedded.endpoint()), TABLE).with_group_commit();
    store
        .ensure_table()
        .await
        .with_context(|| format!("the store in {} cannot be used", data.path.display()))?;

    let listener = tokio::net::TcpListener::bind(options.addr)
        .await
        .with_context(|| format!("cannot listen on {}", options.addr))?;
    let bound = listener.local_addr()?;
    let mut config = options.settings.config(&format!("http://{bound}"));
    let public_url = config.public_url.clone();
    // This process is the only writer of its sessions: reads may be reused
    // (every change refreshes the cached copy).
    config.session_cache_ms = 60_000;
    let media = match options.turn_addr {
        Some(addr) => {
            Some(crate::media::start(&secrets, &embedded, addr, &format!("http://{bound}")).await?)
        }
        None => {
            println!("no media node in this process (--no-media-node)");
            None
        }
    };
    data.write_running(&crate::datadir::Running {
        url: public_url.clone(),
        store_endpoint: embedded.endpoint().to_owned(),
    })?;
    let (outbox, writer) = crate::outbox::spawn(store.clone(), 50_000);
    let app = Arc::new(crate::local_app(store, config, secrets).with_outbox(outbox));
    let sweeper = spawn_sweeper(app.clone(), Duration::from_secs(1));
    let forwarder = spawn_forwarder(app.clone(), Duration::from_secs(1));
    // Presence from Microsoft Teams, the company's XMPP server and the
    // phone system, for those configured.
    let connectors = livecard_connectors::Config::from_env(|k| std::env::var(k).ok())?
        .spawn(Arc::new(crate::LocalPresence(app.clone())));

    let to_a_person = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let summary = bootstrap::prepare(&app, &data, first_start, first_start || to_a_person).await?;
    serve_demo_site(options.demo_addr, &public_url).await;
    println!("livecard is running on {public_url}");
    print!("{}", summary.render(&public_url, &data));

    let limits = options.limits;
    let router = router(app).layer(axum::Extension(limits));
    crate::listener::serve(
        listener,
        router,
        limits,
        options.settings.trusted_proxies,
        shutdown_signal(),
        Duration::from_secs(10),
    )
    .await;
    sweeper.abort();
    forwarder.abort();
    for connector in connectors {
        connector.abort();
    }
    if let Some(media) = media {
        media.drain(Duration::from_secs(2)).await;
    }
    data.remove_running();
    writer.shutdown(Duration::from_secs(10)).await;
    drop(embedded);
    tracing::info!("stopped");
    Ok(())
}

/// The widget demo site (another origin that embeds the widget), when its
/// address (or another port on its host) can be had.
pub(crate) async fn serve_demo_site(addr: SocketAddr, public_url: &str) {
    let demo = match tokio::net::TcpListener::bind(addr).await {
        Ok(listener) => Ok(listener),
        Err(_) => tokio::net::TcpListener::bind(SocketAddr::new(addr.ip(), 0)).await,
    };
    match demo.and_then(|listener| Ok((listener.local_addr()?, listener))) {
        Ok((bound, listener)) => {
            println!("widget demo on another origin: http://{bound}/");
            let site = crate::demo_site::router(public_url);
            tokio::spawn(async move {
                if let Err(err) = axum::serve(listener, site).await {
                    tracing::warn!(error = %err, "the widget demo site stopped");
                }
            });
        }
        Err(err) => tracing::warn!(error = %err, "the widget demo site is not served"),
    }
}

pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
