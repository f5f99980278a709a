//! The local host's outbox: analytics events and their forwarding
//! deliveries are handed to a background writer and stored in batches, so a
//! page view does not wait for its writes and many share one store round
//! trip.
//!
//! Nothing is dropped quietly: when the queue is full or closed the event is
//! handed back and the handler stores it itself; on shutdown the writer
//! drains the queue before the process ends. Only a hard crash can lose what
//! is queued (at most the last moments of events).

use livecard_app::Outbox;
use livecard_core::UnixMillis;
use livecard_core::event::Event;
use livecard_core::forward::Delivery;
use livecard_store::dynamo::DynamoStore;
use livecard_store::prelude::*;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// Events taken per store call (written as batches of 25).
const MAX_BATCH: usize = 2500;

/// One thing to write.
enum Item {
    Event(Event, UnixMillis),
    Deliveries(Vec<Delivery>, UnixMillis),
}

pub struct BatchingOutbox {
    tx: mpsc::Sender<Item>,
}

impl Outbox for BatchingOutbox {
    fn offer(&self, event: Event, expires_at: UnixMillis) -> Option<Event> {
        match self.tx.try_send(Item::Event(event, expires_at)) {
            Ok(()) => None,
            Err(
                mpsc::error::TrySendError::Full(Item::Event(event, _))
                | mpsc::error::TrySendError::Closed(Item::Event(event, _)),
            ) => Some(event),
            Err(_) => None,
        }
    }

    fn offer_deliveries(
        &self,
        deliveries: Vec<Delivery>,
        expires_at: UnixMillis,
    ) -> Option<Vec<Delivery>> {
        match self.tx.try_send(Item::Deliveries(deliveries, expires_at)) {
            Ok(()) => None,
            Err(
                mpsc::error::TrySendError::Full(Item::Deliveries(back, _))
                | mpsc::error::TrySendError::Closed(Item::Deliveries(back, _)),
            ) => Some(back),
            Err(_) => None,
        }
    }
}

/// The background writer; [`Writer::shutdown`] drains it.
pub struct Writer {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl Writer {
    /// Stops taking events, writes what is queued, and waits up to `limit`.
    pub async fn shutdown(self, limit: Duration) {
        let _ = self.stop.send(());
        if tokio::time::timeout(limit, self.task).await.is_err() {
            tracing::error!("the event writer did not finish in time; queued events may be lost");
        }
    }
}

pub fn spawn(store: DynamoStore, capacity: usize) -> (Arc<BatchingOutbox>, Writer) {
    let (tx, rx) = mpsc::channel(capacity);
    let (stop, stopped) = oneshot::channel();
    let task = tokio::spawn(run(rx, stopped, store));
    (Arc::new(BatchingOutbox { tx }), Writer { stop, task })
}

async fn run(mut rx: mpsc::Receiver<Item>, mut stopped: oneshot::Receiver<()>, store: DynamoStore) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    loop {
        let first = tokio::select! {
            item = rx.recv() => item,
            _ = &mut stopped, if !rx.is_closed() => {
                // No new events from now on; what is queued is still drained.
                rx.close();
                continue;
            }
        };
        let Some(first) = first else { break };
        batch.push(first);
        // Take whatever else is waiting: under load batches fill up while
        // the previous one is written; when idle, an event goes at once.
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(item) => batch.push(item),
                Err(_) => break,
            }
        }
        let mut events = Vec::with_capacity(batch.len());
        let mut deliveries: Vec<(Vec<Delivery>, UnixMillis)> = Vec::new();
        for item in batch.drain(..) {
            match item {
                Item::Event(event, expires) => events.push((event, expires)),
                Item::Deliveries(list, expires) => deliveries.push((list, expires)),
            }
        }
        // Deliveries first: the forwarder may send them before the event
        // itself is listed, never the other way round.
        write_deliveries(&store, deliveries).await;
        if !events.is_empty() {
            write(&store, &events).await;
        }
    }
}

/// Writes deliveries (transactions of 100, made once), kept until the
/// latest expiry among them (the expiries of one batch are moments apart);
/// retried like events, then counted as lost.
async fn write_deliveries(store: &DynamoStore, groups: Vec<(Vec<Delivery>, UnixMillis)>) {
    let expires = groups.iter().map(|(_, e)| *e).max();
    let list: Vec<Delivery> = groups.into_iter().flat_map(|(l, _)| l).collect();
    if let Some(expires) = expires.filter(|_| !list.is_empty()) {
        let mut ceiling = Duration::from_millis(100);
        let mut written = false;
        for attempt in 1..=8 {
            match store.put_parcels(&list, expires).await {
                Ok(()) => {
                    written = true;
                    break;
                }
                Err(err) => {
                    tracing::warn!(error = %err, attempt, deliveries = list.len(), "deliveries not stored; retrying");
                }
            }
            tokio::time::sleep(Duration::from_millis(rand_jitter(
                ceiling.as_millis() as u64
            )))
            .await;
            ceiling = (ceiling * 2).min(Duration::from_secs(5));
        }
        if !written {
            tracing::error!(
                deliveries = list.len(),
                "deliveries dropped after repeated store failures: those events are not forwarded"
            );
        }
    }
}

/// Writes a batch: the one retry loop of the event path. The store makes
/// one attempt per call (no SDK retries, no resends of its own) and hands
/// back what it could not write; this loop tries again with exponential
/// backoff and full jitter (100 ms doubling to 5 s, 8 attempts), then
/// counts what is lost.
async fn write(store: &DynamoStore, batch: &[(Event, UnixMillis)]) {
    let mut pending = batch.to_vec();
    let mut ceiling = Duration::from_millis(100);
    for attempt in 1..=8 {
        match store.put_events(&pending).await {
            Ok(unwritten) if unwritten.is_empty() => return,
            Ok(unwritten) => {
                tracing::debug!(
                    attempt,
                    left = unwritten.len(),
                    "events left unwritten; retrying"
                );
                pending = unwritten;
            }
            Err(err) => {
                tracing::warn!(error = %err, attempt, events = pending.len(), "event batch not stored; retrying");
            }
        }
        let jitter: u64 = rand_jitter(ceiling.as_millis() as u64);
        tokio::time::sleep(Duration::from_millis(jitter)).await;
        ceiling = (ceiling * 2).min(Duration::from_secs(5));
    }
    tracing::error!(
        events = pending.len(),
        "event batch dropped after repeated store failures"
    );
}

/// A wait in `0..=ceiling_ms` (full jitter).
fn rand_jitter(ceiling_ms: u64) -> u64 {
    let mut bytes = [0u8; 8];
    if getrandom::fill(&mut bytes).is_err() {
        return ceiling_ms;
    }
    u64::from_le_bytes(bytes) % ceiling_ms.saturating_add(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use livecard_core::event::EventName;
    use livecard_core::ids::EventId;
    use livecard_store::PageRequest;
    use livecard_store::dynamo::local_client;
    use livecard_store::embedded::EmbeddedDynamo;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn queued_events_are_all_stored_by_shutdown() {
        let server = EmbeddedDynamo::start(None).await.expect("store");
        let store = DynamoStore::new(local_client(server.endpoint()), "outbox");
        store.ensure_table().await.expect("table");
        let (outbox, writer) = spawn(store.clone(), 1000);
        let at = 1_795_392_000_000u64;
        let mut handed_back = 0;
        for i in 0..600u32 {
            let mut id = [0u8; 16];
            id[..4].copy_from_slice(&i.to_be_bytes());
            let event = Event::new(
                EventId::from_bytes(id),
                EventName::CardOpened,
                at + u64::from(i),
            );
            if outbox.offer(event, at + 60_000).is_some() {
                handed_back += 1;
            }
        }
        assert_eq!(handed_back, 0, "a queue of 1000 took 600 events");
        writer.shutdown(Duration::from_secs(30)).await;
        let after = Event::new(EventId::from_bytes([9; 16]), EventName::CardOpened, at);
        assert!(
            outbox.offer(after, at).is_some(),
            "a closed outbox hands events back"
        );
        let mut count = 0;
        let mut request = PageRequest::first(100);
        loop {
            let page = store
                .list_events("2026-11-23", &request)
                .await
                .expect("list");
            count += page.items.len();
            match page.next {
                Some(next) => request.cursor = Some(next),
                None => break,
            }
        }
        assert_eq!(count, 600, "every queued event was stored");
    }
}
