//! The push port for serverless hosts: who listens to whom is recorded in
//! the store ([`ConnectionStore`]); a host only says how to reach one
//! connection ([`Connections`]: API Gateway's connection API on AWS, a
//! Durable Object at the edge).
//!
//! `subscribe` records (topic, connection) until the subscription's
//! lifetime ends; `send` looks a participant's connections up and posts to
//! each; a connection the host no longer knows is forgotten at once, with
//! every subscription it had.

use super::{Participant, Push};
use crate::Clock;
use livecard_core::UnixMillis;
use livecard_store::ConnectionStore;
use std::sync::Arc;

/// The most connections one participant is pushed to.
pub const MAX_FANOUT: u16 = 100;

/// What became of one post.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Posted {
    Delivered,
    /// The host does not know the connection (any more).
    Gone,
    /// Failed after the host's retries; logged.
    Failed,
}

/// How a host reaches one open connection.
#[allow(async_fn_in_trait)] // like `Store`: Send-ness follows the concrete type
pub trait Connections {
    /// Sends one message to one connection.
    async fn post(&self, connection: &str, message: &str) -> Posted;
    /// Closes one connection (its client reconnects and resumes).
    async fn close(&self, connection: &str);
}

/// [`Push`] over subscriptions in the store and a host's [`Connections`].
#[derive(Clone)]
pub struct StoredPush<S, C> {
    store: S,
    connections: C,
    clock: Arc<dyn Clock>,
    /// How long a subscription lasts unless renewed (a host's longest
    /// connection, a little more).
    lifetime_ms: u64,
}

impl<S: ConnectionStore, C: Connections> StoredPush<S, C> {
    pub fn new(store: S, connections: C, clock: Arc<dyn Clock>, lifetime_ms: u64) -> Self {
        Self {
            store,
            connections,
            clock,
            lifetime_ms,
        }
    }

    /// The host's way to reach one connection.
    pub fn connections(&self) -> &C {
        &self.connections
    }

    /// Until when a subscription made now lasts.
    pub fn expiry(&self) -> UnixMillis {
        self.clock.now_ms() + self.lifetime_ms
    }

    /// Posts to one connection, and forgets it when it is gone.
    pub async fn post(&self, connection: &str, message: &str) -> Posted {
        let posted = self.connections.post(connection, message).await;
        if posted == Posted::Gone {
            tracing::info!(connection, "connection gone; forgetting it");
            self.forget(connection).await;
        }
        posted
    }

    /// Closes one connection and forgets it.
    pub async fn close(&self, connection: &str) {
        self.connections.close(connection).await;
        self.forget(connection).await;
    }

    /// Forgets a connection and its subscriptions (it closed).
    pub async fn forget(&self, connection: &str) {
        if let Err(err) = self.store.delete_connection(connection).await {
            tracing::warn!(error = %err, "could not forget a closed connection");
        }
    }

    async fn connections_of(&self, to: &Participant) -> Option<Vec<String>> {
        let now = self.clock.now_ms();
        match self
            .store
            .subscribers(&to.to_string(), now, MAX_FANOUT)
            .await
        {
            Ok(connections) => Some(connections),
            Err(err) => {
                // What matters is stored; the participant gets it on (re)join.
                tracing::warn!(error = %err, "could not look up connections");
                None
            }
        }
    }
}

impl<S: ConnectionStore, C: Connections> Push for StoredPush<S, C> {
    async fn send(&self, to: &Participant, message: &str) {
        if let Some(connections) = self.connections_of(to).await {
            futures_util::future::join_all(connections.iter().map(|c| self.post(c, message))).await;
        }
    }

    async fn disconnect(&self, to: &Participant) {
        if let Some(connections) = self.connections_of(to).await {
            futures_util::future::join_all(connections.iter().map(|c| self.close(c))).await;
        }
    }

    async fn subscribe(&self, connection: &str, to: &Participant) {
        if let Err(err) = self
            .store
            .subscribe(connection, &to.to_string(), self.expiry())
            .await
        {
            tracing::warn!(error = %err, "could not record a subscription");
        }
    }
}
