//! The local host's connection registry: the push port in memory.
//!
//! Every WebSocket has a bounded outgoing queue. A participant's messages go
//! to every connection subscribed to them. A connection whose queue is full
//! (a client that stopped reading) is cut off; its client reconnects and
//! resumes from the store, so nothing is lost by cutting it.

use livecard_app::contact::{Participant, Push};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::mpsc;

/// Messages one connection may have waiting to be written.
pub const QUEUE: usize = 1024;

#[derive(Default)]
struct Inner {
    connections: HashMap<String, Entry>,
    subscribers: HashMap<Participant, Vec<String>>,
}

struct Entry {
    sender: mpsc::Sender<Arc<str>>,
    subscriptions: Vec<Participant>,
}

/// Cheap to clone; all clones share one registry.
#[derive(Clone, Default)]
pub struct Registry {
    inner: Arc<Mutex<Inner>>,
}

impl Registry {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The maps stay consistent even if a holder panicked.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new connection; what is pushed to it arrives on the receiver.
    pub fn register(&self, id: &str) -> mpsc::Receiver<Arc<str>> {
        let (sender, receiver) = mpsc::channel(QUEUE);
        self.lock().connections.insert(
            id.to_owned(),
            Entry {
                sender,
                subscriptions: Vec::new(),
            },
        );
        receiver
    }

    /// The connection closed (or was cut off).
    pub fn unregister(&self, id: &str) {
        let mut inner = self.lock();
        remove(&mut inner, id);
    }

    pub fn connections(&self) -> usize {
        self.lock().connections.len()
    }
}

fn remove(inner: &mut Inner, id: &str) {
    let Some(entry) = inner.connections.remove(id) else {
        return;
    };
    for participant in entry.subscriptions {
        if let Some(list) = inner.subscribers.get_mut(&participant) {
            list.retain(|c| c != id);
            if list.is_empty() {
                inner.subscribers.remove(&participant);
            }
        }
    }
}

impl Push for Registry {
    async fn send(&self, to: &Participant, message: &str) {
        let mut inner = self.lock();
        let Some(ids) = inner.subscribers.get(to) else {
            return;
        };
        let message: Arc<str> = Arc::from(message);
        let mut slow = Vec::new();
        for id in ids {
            if let Some(entry) = inner.connections.get(id)
                && entry.sender.try_send(message.clone()).is_err()
            {
                slow.push(id.clone());
            }
        }
        for id in slow {
            tracing::warn!("a connection stopped reading; cut off (it resumes on reconnect)");
            remove(&mut inner, &id);
        }
    }

    async fn disconnect(&self, to: &Participant) {
        // Dropping a connection's sender ends its task, which closes the
        // socket.
        let mut inner = self.lock();
        let ids = inner.subscribers.get(to).cloned().unwrap_or_default();
        for id in ids {
            remove(&mut inner, &id);
        }
    }

    async fn subscribe(&self, connection: &str, to: &Participant) {
        let mut inner = self.lock();
        let Some(entry) = inner.connections.get_mut(connection) else {
            return;
        };
        if entry.subscriptions.contains(to) {
            return;
        }
        entry.subscriptions.push(to.clone());
        inner
            .subscribers
            .entry(to.clone())
            .or_default()
            .push(connection.to_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn delivers_to_subscribers_and_cuts_off_slow_readers() {
        let registry = Registry::default();
        let mut a = registry.register("a");
        let mut b = registry.register("b");
        let who = Participant::Visitor("s1".into());
        registry.subscribe("a", &who).await;
        registry.subscribe("a", &who).await;
        registry.send(&who, "one").await;
        assert_eq!(a.recv().await.as_deref(), Some("one"));
        assert!(b.try_recv().is_err(), "b is not subscribed");
        registry.subscribe("b", &who).await;
        for _ in 0..QUEUE {
            registry.send(&who, "x").await;
            let _ = a.try_recv();
        }
        assert_eq!(registry.connections(), 2);
        registry.send(&who, "overflow").await;
        assert_eq!(registry.connections(), 1, "b never read: cut off");
        registry.unregister("a");
        assert_eq!(registry.connections(), 0);
        registry.send(&who, "nobody").await;
    }

    #[tokio::test]
    async fn disconnect_closes_every_connection_of_a_participant() {
        let registry = Registry::default();
        let mut laptop = registry.register("laptop");
        let mut phone = registry.register("phone");
        let mut visitor = registry.register("visitor");
        let anna = Participant::Advisor(livecard_core::ids::AdvisorId::parse("anna").expect("id"));
        registry.subscribe("laptop", &anna).await;
        registry.subscribe("phone", &anna).await;
        registry
            .subscribe("visitor", &Participant::Visitor("s1".into()))
            .await;
        registry.disconnect(&anna).await;
        assert_eq!(laptop.recv().await, None, "the laptop's socket task ends");
        assert_eq!(phone.recv().await, None);
        assert!(
            matches!(visitor.try_recv(), Err(mpsc::error::TryRecvError::Empty)),
            "others stay open"
        );
        assert_eq!(registry.connections(), 1);
    }
}
