//! Chat messages committed in groups (the local host): concurrent appends
//! wait for one transaction that stores them all.

use super::*;

/// A chat message waiting for the group commit, with its caller.
#[derive(Debug)]
pub(super) struct PendingMessage {
    pub(super) session: String,
    pub(super) side: Side,
    pub(super) author: Option<AdvisorId>,
    pub(super) client_id: String,
    pub(super) text: String,
    pub(super) at: UnixMillis,
    /// Kept until then (the transcript retention).
    pub(super) expires_at: UnixMillis,
    pub(super) reply: tokio::sync::oneshot::Sender<Result<Appended, StoreError>>,
}

/// Messages per group commit: a transaction holds at most 100 items, and a
/// message takes two (the message and its sender-id marker).
#[cfg(feature = "native")]
const GROUP_COMMIT: usize = 50;

/// Group-commit writers, each with its own queue; a session's messages
/// always go to the same one.
#[cfg(feature = "native")]
const GROUP_WRITERS: usize = 4;

/// The queues of the group-commit writers. A session is served by one
/// writer, so its messages commit in the order they were taken (a later
/// message never becomes readable before an earlier one), while different
/// sessions' groups are in flight at once: the store works on one group
/// while the next is being encoded, sent and answered.
#[derive(Clone, Debug)]
pub(super) struct GroupWriters(std::sync::Arc<[tokio::sync::mpsc::Sender<PendingMessage>]>);

impl GroupWriters {
    pub(super) fn for_session(
        &self,
        session: &str,
    ) -> Option<&tokio::sync::mpsc::Sender<PendingMessage>> {
        // FNV-1a: stable and cheap; the spread only needs to be even.
        let hash = session.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        let index = usize::try_from(hash % self.0.len().max(1) as u64).unwrap_or(0);
        self.0.get(index)
    }
}

impl DynamoStore {
    /// Commits chat messages in groups: concurrent appends wait for one
    /// transaction that stores them all (each still only once per sender
    /// id, and each caller learns its own result after the write), with a
    /// few groups (of different sessions) in flight at once. Needs a Tokio
    /// runtime; for long-running hosts with many chats at once.
    #[cfg(feature = "native")]
    pub fn with_group_commit(mut self) -> Self {
        let writer = Self {
            batcher: None,
            ..self.clone()
        };
        let writers: Vec<_> = (0..GROUP_WRITERS)
            .map(|_| {
                let (sender, receiver) = tokio::sync::mpsc::channel(GROUP_COMMIT * 64);
                tokio::spawn(writer.clone().group_commit(receiver));
                sender
            })
            .collect();
        self.batcher = Some(GroupWriters(writers.into()));
        self
    }

    #[cfg(feature = "native")]
    async fn group_commit(self, mut receiver: tokio::sync::mpsc::Receiver<PendingMessage>) {
        while let Some(first) = receiver.recv().await {
            let mut batch = vec![first];
            while batch.len() < GROUP_COMMIT {
                match receiver.try_recv() {
                    Ok(next) => batch.push(next),
                    Err(_) => break,
                }
            }
            self.commit_messages(batch).await;
        }
    }

    /// One group: duplicates inside it are answered at once; the rest go in
    /// one transaction. When markers already exist (resends), those are
    /// answered `Duplicate` and the others are committed again.
    pub(super) async fn commit_messages(&self, batch: Vec<PendingMessage>) {
        let mut pending: Vec<PendingMessage> = Vec::with_capacity(batch.len());
        for message in batch {
            let twin = pending.iter().any(|p| {
                p.session == message.session
                    && p.side == message.side
                    && p.author == message.author
                    && p.client_id == message.client_id
            });
            if twin {
                let _ = message.reply.send(Ok(Appended::Duplicate));
            } else {
                pending.push(message);
            }
        }
        let mut attempts = 0;
        while !pending.is_empty() {
            attempts += 1;
            let mut request = self.client.transact_write_items();
            for message in &pending {
                match self.message_items(message) {
                    Ok((marker, item)) => {
                        request = request.transact_items(marker).transact_items(item);
                    }
                    Err(err) => {
                        for message in pending.drain(..) {
                            let _ = message
                                .reply
                                .send(Err(StoreError::Unavailable(err.to_string())));
                        }
                        return;
                    }
                }
            }
            match request.send().await {
                Ok(_) => {
                    for message in pending.drain(..) {
                        let stored = ChatMessage {
                            key: keys::message(
                                message.at,
                                message.side,
                                message.author.as_ref(),
                                &message.client_id,
                            ),
                            side: message.side,
                            author: message.author,
                            client_id: message.client_id,
                            text: message.text,
                            at: message.at,
                        };
                        let _ = message.reply.send(Ok(Appended::New(stored)));
                    }
                }
                Err(err) => {
                    let reasons = super::failed_conditions(&err);
                    if reasons.iter().any(|failed| *failed) {
                        // Markers come first in each pair.
                        let mut kept = Vec::with_capacity(pending.len());
                        for (index, message) in pending.drain(..).enumerate() {
                            if reasons.get(index * 2).copied().unwrap_or(false) {
                                let _ = message.reply.send(Ok(Appended::Duplicate));
                            } else {
                                kept.push(message);
                            }
                        }
                        pending = kept;
                    } else if attempts >= crate::aws::MAX_ATTEMPTS {
                        let error = unavailable(err);
                        for message in pending.drain(..) {
                            let _ = message
                                .reply
                                .send(Err(StoreError::Unavailable(error.to_string())));
                        }
                    } else {
                        // A conflict with another transaction, or throttling
                        // the SDK's own retries did not outlast: wait before
                        // the next try, apart from other writers.
                        self.sleep(resend_backoff(attempts, jitter())).await;
                    }
                }
            }
        }
    }

    /// The two items of one message: its sender-id marker (written only if
    /// absent) and the message.
    fn message_items(
        &self,
        pending: &PendingMessage,
    ) -> Result<
        (
            aws_sdk_dynamodb::types::TransactWriteItem,
            aws_sdk_dynamodb::types::TransactWriteItem,
        ),
        StoreError,
    > {
        use aws_sdk_dynamodb::types::{Put, TransactWriteItem};
        let built = |e: aws_sdk_dynamodb::error::BuildError| StoreError::Unavailable(e.to_string());
        let PendingMessage {
            session,
            side,
            author,
            client_id,
            text,
            at,
            expires_at,
            ..
        } = pending;
        let author = author.as_ref();
        let (side, at) = (*side, *at);
        let ttl = n(ttl_seconds(*expires_at));
        let marker = Put::builder()
            .table_name(&self.table)
            .item("pk", s(keys::session(session)))
            .item("sk", s(keys::client_id(side, author, client_id)))
            .item(TTL_ATTRIBUTE, ttl.clone())
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", "pk")
            .build()
            .map_err(built)?;
        let mut message = Put::builder()
            .table_name(&self.table)
            .item("pk", s(keys::session(session)))
            .item("sk", s(keys::message(at, side, author, client_id)))
            .item("side", s(side.as_str()))
            .item("client_id", s(client_id))
            .item("text", s(text))
            .item("at", n(at))
            .item(TTL_ATTRIBUTE, ttl);
        if let Some(author) = author {
            message = message.item("author", s(author.as_str()));
        }
        let message = message.build().map_err(built)?;
        Ok((
            TransactWriteItem::builder().put(marker).build(),
            TransactWriteItem::builder().put(message).build(),
        ))
    }
}
