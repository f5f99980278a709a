//! Loopback stand-ins for what surrounds a function on AWS, for the tests
//! and the bench (feature `emulator`; never in a deployed function):
//!
//! - [`runtime::RuntimeApi`]: the Lambda runtime API (`/2018-06-01/runtime/…`)
//!   that a function process polls for invocations. Any number of processes
//!   may poll one server: each invocation goes to one of them, as on Lambda.
//! - [`aws::AwsEndpoints`]: the API Gateway Management API (records every
//!   `PostToConnection` and `DeleteConnection`, answers 410 for connections
//!   marked gone) and Secrets Manager's `GetSecretValue`.
//! - [`events`]: API Gateway event payloads (HTTP API 2.0 and WebSocket).

pub mod aws;
pub mod events;
pub mod runtime;

/// Serves `router` on a free loopback port, in the background.
pub(crate) async fn serve_loopback(router: axum::Router) -> std::io::Result<std::net::SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Ok(addr)
}
