//! The push port over DynamoDB and API Gateway's Management API.
//!
//! `subscribe` records (topic, connection) in the store; `send` looks up a
//! participant's connections and posts to each with `PostToConnection`. A
//! connection API Gateway no longer knows (410 Gone) is forgotten at once,
//! with every subscription it had.

use aws_sdk_apigatewaymanagement::primitives::Blob;
use livecard_app::contact::Participant;
use livecard_app::{Clock, Push};
use livecard_store::ConnectionStore;
use livecard_store::dynamo::DynamoStore;
use std::sync::{Arc, LazyLock};

/// API Gateway closes a WebSocket after 2 hours; subscriptions outlive that
/// a little, and `$disconnect` removes them sooner.
pub const CONNECTION_TTL_MS: u64 = 2 * 3_600_000 + 10 * 60_000;
/// The most connections one participant is pushed to.
const MAX_FANOUT: u16 = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Posted {
    Delivered,
    /// API Gateway does not know the connection (410): it was forgotten.
    Gone,
    /// Failed after retries; logged.
    Failed,
}

type ManagementClient = aws_sdk_apigatewaymanagement::Client;
type MakeClient = Box<dyn FnOnce() -> ManagementClient + Send>;

#[derive(Clone)]
pub struct ApiGatewayPush {
    store: DynamoStore,
    /// Built on the first push: an instance that never pushes (a page, a
    /// `$connect`) does not set it up at its cold start.
    client: Arc<LazyLock<ManagementClient, MakeClient>>,
    clock: Arc<dyn Clock>,
}

impl ApiGatewayPush {
    pub fn new(
        store: DynamoStore,
        client: impl FnOnce() -> ManagementClient + Send + 'static,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            store,
            client: Arc::new(LazyLock::new(Box::new(client))),
            clock,
        }
    }

    /// Sends one message to one connection.
    pub async fn post(&self, connection: &str, message: &str) -> Posted {
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
                tracing::info!(connection, "connection gone (410); forgetting it");
                if let Err(err) = self.store.delete_connection(connection).await {
                    tracing::warn!(error = %err, "could not forget a gone connection");
                }
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

    /// Closes a connection (the client reconnects and resumes).
    pub async fn close(&self, connection: &str) {
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
        if let Err(err) = self.store.delete_connection(connection).await {
            tracing::warn!(error = %err, "could not forget a closed connection");
        }
    }
}

impl Push for ApiGatewayPush {
    async fn send(&self, to: &Participant, message: &str) {
        let now = self.clock.now_ms();
        let connections = match self
            .store
            .subscribers(&to.to_string(), now, MAX_FANOUT)
            .await
        {
            Ok(connections) => connections,
            Err(err) => {
                // What matters is stored; the participant gets it on (re)join.
                tracing::warn!(error = %err, "could not look up connections to push to");
                return;
            }
        };
        futures_util::future::join_all(connections.iter().map(|c| self.post(c, message))).await;
    }

    async fn disconnect(&self, to: &Participant) {
        let now = self.clock.now_ms();
        match self
            .store
            .subscribers(&to.to_string(), now, MAX_FANOUT)
            .await
        {
            Ok(connections) => {
                futures_util::future::join_all(connections.iter().map(|c| self.close(c))).await;
            }
            Err(err) => tracing::warn!(error = %err, "could not look up connections to close"),
        }
    }

    async fn subscribe(&self, connection: &str, to: &Participant) {
        let until = self.clock.now_ms() + CONNECTION_TTL_MS;
        if let Err(err) = self
            .store
            .subscribe(connection, &to.to_string(), until)
            .await
        {
            tracing::warn!(error = %err, "could not record a subscription");
        }
    }
}
