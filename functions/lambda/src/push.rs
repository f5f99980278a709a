//! How the Lambda host reaches one WebSocket connection: API Gateway's
//! Management API (`PostToConnection`, `DeleteConnection`). Subscriptions
//! and fan-out are the handler layer's
//! ([`livecard_app::contact::push::StoredPush`]).

use aws_sdk_apigatewaymanagement::primitives::Blob;
use livecard_app::contact::push::{Connections, Posted, StoredPush};
use livecard_store::dynamo::DynamoStore;
use std::sync::{Arc, LazyLock};

/// The push port of the Lambda host.
pub type ApiGatewayPush = StoredPush<DynamoStore, ApiGatewayConnections>;

/// API Gateway closes a WebSocket after 2 hours; subscriptions outlive that
/// a little, and `$disconnect` removes them sooner.
pub const CONNECTION_TTL_MS: u64 = 2 * 3_600_000 + 10 * 60_000;
type ManagementClient = aws_sdk_apigatewaymanagement::Client;
type MakeClient = Box<dyn FnOnce() -> ManagementClient + Send>;

/// API Gateway's Management API of one WebSocket stage.
#[derive(Clone)]
pub struct ApiGatewayConnections {
    /// Built on the first push: an instance that never pushes (a page, a
    /// `$connect`) does not set it up at its cold start.
    client: Arc<LazyLock<ManagementClient, MakeClient>>,
}

impl ApiGatewayConnections {
    pub fn new(client: impl FnOnce() -> ManagementClient + Send + 'static) -> Self {
        Self {
            client: Arc::new(LazyLock::new(Box::new(client))),
        }
    }
}

impl Connections for ApiGatewayConnections {
    async fn post(&self, connection: &str, message: &str) -> Posted {
        let result = self
            .client
            .post_to_connection()
            .connection_id(connection)
            .data(Blob::new(message.as_bytes().to_vec()))
            .send()
            .await;
        match result {
            Ok(_) => Posted::Delivered,
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_gone_exception()) =>
            {
                Posted::Gone
            }
            Err(err) => {
                use aws_sdk_apigatewaymanagement::error::ProvideErrorMetadata;
                tracing::warn!(
                    code = err.code().unwrap_or("unknown"),
                    message = err.message().unwrap_or("request failed"),
                    "PostToConnection failed"
                );
                Posted::Failed
            }
        }
    }

    async fn close(&self, connection: &str) {
        if let Err(err) = self
            .client
            .delete_connection()
            .connection_id(connection)
            .send()
            .await
            && !err
                .as_service_error()
                .is_some_and(|e| e.is_gone_exception())
        {
            tracing::warn!("DeleteConnection failed");
        }
    }
}
