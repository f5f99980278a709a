//! Contact sessions, their chat, queues, visitor affinity and offline messages.

use super::group_commit::PendingMessage;
use super::*;
use crate::SessionStore;

/// An identity image's sealed bytes go in pieces of this size (an item
/// holds at most 400 KB).
const IMAGE_PIECE_BYTES: usize = 350 * 1024;

impl SessionStore for DynamoStore {
    async fn create_session(
        &self,
        session: &StoredSession,
        deadline: Option<UnixMillis>,
        expires_at: UnixMillis,
    ) -> Result<Created, StoreError> {
        let attributes = [
            ("visitor", s(session.visitor.as_str())),
            ("session", s(to_json(&session.session)?)),
            ("version", n(session.version)),
        ];
        let mut item = item(keys::session(&session.id), keys::META, attributes);
        if let Some(at) = deadline {
            item.insert("gsi1pk".to_owned(), s(keys::due(at)));
            item.insert("gsi1sk".to_owned(), s(format!("{at:013}#{}", session.id)));
        }
        // With its entry in the visitor's index (for their right of access
        // and erasure), in one transaction: no session the index misses.
        use aws_sdk_dynamodb::types::{Put, TransactWriteItem};
        let built = |e: aws_sdk_dynamodb::error::BuildError| StoreError::Unavailable(e.to_string());
        let session_put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(expiring(item, expires_at)))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", "pk")
            .build()
            .map_err(built)?;
        let entry = self::item(
            keys::visitor(&session.visitor),
            keys::visitor_session(&session.id),
            [("at", n(session.session.created_at))],
        );
        let index_put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(expiring(entry, expires_at)))
            .build()
            .map_err(built)?;
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(session_put).build())
            .transact_items(TransactWriteItem::builder().put(index_put).build())
            .send()
            .await;
        match result {
            Ok(_) => Ok(Created::Created),
            Err(err) if failed_conditions(&err).first() == Some(&true) => {
                Ok(Created::AlreadyExists)
            }
            Err(err) => Err(unavailable(err)),
        }
    }

    async fn get_session(&self, id: &str) -> Result<Option<StoredSession>, StoreError> {
        let Some(item) = self.get_item(keys::session(id), keys::META).await? else {
            return Ok(None);
        };
        Ok(Some(StoredSession {
            id: id.to_owned(),
            visitor: get_s(&item, "visitor")?.to_owned(),
            session: json::<Session>(&item, "session")?,
            version: get_n(&item, "version")?.unwrap_or(0),
        }))
    }

    async fn replace_session(
        &self,
        session: &StoredSession,
        deadline: Option<UnixMillis>,
    ) -> Result<bool, StoreError> {
        let expected = session
            .version
            .checked_sub(1)
            .ok_or_else(|| StoreError::Corrupt("version 0 cannot replace".into()))?;
        let mut request = self
            .update_item(keys::session(&session.id), keys::META)
            .condition_expression("#version = :expected")
            .expression_attribute_names("#version", "version")
            .expression_attribute_names("#session", "session")
            .expression_attribute_names("#g", "gsi1pk")
            .expression_attribute_names("#gs", "gsi1sk")
            .expression_attribute_values(":expected", n(expected))
            .expression_attribute_values(":version", n(session.version))
            .expression_attribute_values(":session", s(to_json(&session.session)?));
        request = match deadline {
            Some(at) => request
                .update_expression(
                    "SET #session = :session, #version = :version, #g = :g, #gs = :gs",
                )
                .expression_attribute_values(":g", s(keys::due(at)))
                .expression_attribute_values(":gs", s(format!("{at:013}#{}", session.id))),
            None => request
                .update_expression("SET #session = :session, #version = :version REMOVE #g, #gs"),
        };
        Ok(conditional(request.send().await)?.is_some())
    }

    async fn due_sessions(&self, now: UnixMillis, limit: u16) -> Result<Vec<String>, StoreError> {
        // Yesterday's partition and today's: up to a day overdue.
        self.sessions_due_between(now.saturating_sub(86_400_000), now, limit)
            .await
    }

    async fn sessions_due_between(
        &self,
        from: UnixMillis,
        until: UnixMillis,
        limit: u16,
    ) -> Result<Vec<String>, StoreError> {
        let mut ids = Vec::new();
        let mut days = vec![from];
        if livecard_core::event::utc_day(from) != livecard_core::event::utc_day(until) {
            days.push(until);
        }
        for day in days {
            let out = self
                .index_query(keys::due(day))
                .key_condition_expression("#p = :p AND #s BETWEEN :from AND :until")
                .expression_attribute_names("#s", "gsi1sk")
                // '~' sorts after every id character.
                .expression_attribute_values(":from", s(format!("{from:013}#~")))
                .expression_attribute_values(":until", s(format!("{until:013}#~")))
                .limit(i32::from(limit.clamp(1, crate::MAX_PAGE)))
                .send()
                .await
                .map_err(unavailable)?;
            for item in out.items.unwrap_or_default() {
                if let Some(id) = keys::session_id(get_s(&item, "pk")?) {
                    ids.push(id.to_owned());
                }
            }
        }
        ids.truncate(usize::from(limit));
        Ok(ids)
    }

    async fn append_message(
        &self,
        session: &str,
        message: NewMessage<'_>,
        expires_at: UnixMillis,
    ) -> Result<Appended, StoreError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let pending = PendingMessage {
            session: session.to_owned(),
            side: message.side,
            author: message.author.cloned(),
            client_id: message.client_id.to_owned(),
            text: message.text.to_owned(),
            at: message.at,
            expires_at,
            reply,
        };
        // With group commit the writer task takes it; otherwise (or when
        // the writer is gone) it is a group of one, committed here.
        match self.batcher.as_ref().and_then(|w| w.for_session(session)) {
            Some(batcher) => {
                if let Err(refused) = batcher.send(pending).await {
                    self.commit_messages(vec![refused.0]).await;
                }
            }
            None => self.commit_messages(vec![pending]).await,
        }
        answer
            .await
            .unwrap_or_else(|_| Err(StoreError::Unavailable("the message writer stopped".into())))
    }

    async fn message_stats(&self, session: &str) -> Result<(u32, Option<UnixMillis>), StoreError> {
        use aws_sdk_dynamodb::types::Select;
        let messages = || {
            self.client
                .query()
                .table_name(&self.table)
                .key_condition_expression("#pk = :pk AND begins_with(#sk, :msg)")
                .expression_attribute_names("#pk", "pk")
                .expression_attribute_names("#sk", "sk")
                .expression_attribute_values(":pk", s(keys::session(session)))
                .expression_attribute_values(":msg", s(keys::MESSAGE_PREFIX))
                .consistent_read(true)
        };
        let mut count = 0u32;
        let mut start = None;
        loop {
            let out = messages()
                .select(Select::Count)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(unavailable)?;
            count = count.saturating_add(u32::try_from(out.count).unwrap_or(0));
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => break,
            }
        }
        let last = messages()
            .scan_index_forward(false)
            .limit(1)
            .send()
            .await
            .map_err(unavailable)?;
        let last_at = match last.items.unwrap_or_default().first() {
            Some(item) => get_n(item, "at")?,
            None => None,
        };
        Ok((count, last_at))
    }

    async fn messages_after(
        &self,
        session: &str,
        after: Option<&str>,
        limit: u16,
    ) -> Result<Vec<ChatMessage>, StoreError> {
        let from = match after {
            Some(key) if key.starts_with(keys::MESSAGE_PREFIX) && key.len() <= 200 => {
                key.to_owned()
            }
            Some(_) => return Err(StoreError::BadCursor),
            None => keys::MESSAGE_PREFIX.to_owned(),
        };
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk AND #sk > :from")
            .expression_attribute_names("#pk", "pk")
            .expression_attribute_names("#sk", "sk")
            .expression_attribute_values(":pk", s(keys::session(session)))
            .expression_attribute_values(":from", s(from))
            .consistent_read(true)
            .limit(i32::from(limit.clamp(1, crate::MAX_PAGE)))
            .send()
            .await
            .map_err(unavailable)?;
        let mut messages = Vec::new();
        for item in out.items.unwrap_or_default() {
            let key = get_s(&item, "sk")?;
            if !key.starts_with(keys::MESSAGE_PREFIX) {
                continue;
            }
            messages.push(ChatMessage {
                key: key.to_owned(),
                side: Side::parse(get_s(&item, "side")?)
                    .ok_or_else(|| StoreError::Corrupt("message side".into()))?,
                author: match item.get("author") {
                    Some(_) => Some(
                        AdvisorId::parse(get_s(&item, "author")?)
                            .map_err(|_| StoreError::Corrupt("message author".into()))?,
                    ),
                    None => None,
                },
                client_id: get_s(&item, "client_id")?.to_owned(),
                text: get_s(&item, "text")?.to_owned(),
                at: get_n(&item, "at")?.unwrap_or(0),
            });
        }
        Ok(messages)
    }

    async fn put_identity_image(
        &self,
        session: &str,
        image: &IdentityImage,
        sealed: &[u8],
    ) -> Result<(), StoreError> {
        // The pieces first, the record last: a record is only read once
        // all its pieces are there (pieces left by a failed write go with
        // their TTL).
        let pieces: Vec<&[u8]> = sealed.chunks(IMAGE_PIECE_BYTES).collect();
        for (index, piece) in pieces.iter().enumerate() {
            let attributes = [(
                "data",
                AttributeValue::B(aws_sdk_dynamodb::primitives::Blob::new(piece.to_vec())),
            )];
            let item = item(
                keys::session(session),
                keys::identity_image_piece(&image.id, index),
                attributes,
            );
            self.put(expiring(item, image.expires_at)).await?;
        }
        let attributes = [
            ("image", s(to_json(image)?)),
            ("pieces", n(pieces.len() as u64)),
            ("expires_at", n(image.expires_at)),
        ];
        let record = item(
            keys::session(session),
            keys::identity_image(&image.id),
            attributes,
        );
        if self
            .put_if_absent(expiring(record, image.expires_at))
            .await?
        {
            Ok(())
        } else {
            Err(StoreError::Corrupt(
                "an identity image id was used twice".into(),
            ))
        }
    }

    async fn identity_images(
        &self,
        session: &str,
        now: UnixMillis,
    ) -> Result<Vec<IdentityImage>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
            .filter_expression("#exp > :now")
            .expression_attribute_names("#pk", "pk")
            .expression_attribute_names("#sk", "sk")
            .expression_attribute_names("#exp", "expires_at")
            .expression_attribute_values(":pk", s(keys::session(session)))
            .expression_attribute_values(":prefix", s(keys::IDENTITY_IMAGE_PREFIX))
            .expression_attribute_values(":now", n(now))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        let mut images: Vec<IdentityImage> = out
            .items
            .unwrap_or_default()
            .iter()
            .map(|item| json(item, "image"))
            .collect::<Result<_, _>>()?;
        images.sort_by(|a, b| (a.at, &a.id).cmp(&(b.at, &b.id)));
        Ok(images)
    }

    async fn identity_image(
        &self,
        session: &str,
        id: &str,
        now: UnixMillis,
    ) -> Result<Option<(IdentityImage, Vec<u8>)>, StoreError> {
        let Some(record) = self
            .get_item(keys::session(session), &keys::identity_image(id))
            .await?
        else {
            return Ok(None);
        };
        let image: IdentityImage = json(&record, "image")?;
        if image.expires_at <= now {
            return Ok(None);
        }
        let pieces = get_n(&record, "pieces")?.unwrap_or(0);
        let items = self
            .partition_items(
                &keys::session(session),
                &keys::identity_image_pieces(id),
                false,
            )
            .await?;
        let mut sealed = Vec::new();
        for item in &items {
            match item.get("data") {
                Some(AttributeValue::B(blob)) => sealed.extend_from_slice(blob.as_ref()),
                _ => return Err(StoreError::Corrupt("an identity image piece".into())),
            }
        }
        let read = items.len() as u64;
        if read != pieces {
            return Err(StoreError::Corrupt("an identity image lacks pieces".into()));
        }
        Ok(Some((image, sealed)))
    }

    async fn attend(
        &self,
        advisor: &AdvisorId,
        session: &str,
        expires_at: UnixMillis,
    ) -> Result<(), StoreError> {
        let attributes = [("session", s(session)), ("expires_at", n(expires_at))];
        let entry = item(keys::attending(advisor), session, attributes);
        self.put(expiring(entry, expires_at)).await
    }

    async fn unattend(&self, advisor: &AdvisorId, session: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(keys::attending(advisor)))
            .key("sk", s(session))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn attending(
        &self,
        advisor: &AdvisorId,
        now: UnixMillis,
        limit: u16,
    ) -> Result<Vec<String>, StoreError> {
        self.query_unexpired(keys::attending(advisor), now, limit)
            .await?
            .iter()
            .map(|item| Ok(get_s(item, "session")?.to_owned()))
            .collect()
    }

    async fn enqueue(
        &self,
        queue: &QueueKey,
        session: &str,
        since: UnixMillis,
        expires_at: UnixMillis,
    ) -> Result<(), StoreError> {
        let attributes = [
            ("session", s(session)),
            ("queue", s(queue.to_string())),
            ("since", n(since)),
            ("expires_at", n(expires_at)),
            ("gsi1pk", s(keys::WAITING)),
            ("gsi1sk", s(format!("{since:013}#{queue}#{session}"))),
        ];
        let entry = item(
            keys::queue(queue),
            keys::queue_entry(since, session),
            attributes,
        );
        self.put(expiring(entry, expires_at)).await
    }

    async fn dequeue(
        &self,
        queue: &QueueKey,
        session: &str,
        since: UnixMillis,
    ) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(keys::queue(queue)))
            .key("sk", s(keys::queue_entry(since, session)))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn list_queue(
        &self,
        queue: &QueueKey,
        now: UnixMillis,
        limit: u16,
    ) -> Result<Vec<(String, UnixMillis)>, StoreError> {
        self.query_unexpired(keys::queue(queue), now, limit)
            .await?
            .iter()
            .map(|item| {
                Ok((
                    get_s(item, "session")?.to_owned(),
                    get_n(item, "since")?.unwrap_or(0),
                ))
            })
            .collect()
    }

    async fn waiting_queues(&self, limit: u16) -> Result<Vec<QueueKey>, StoreError> {
        let out = self
            .index_query(keys::WAITING)
            .key_condition_expression("#p = :p")
            .limit(i32::from(limit.clamp(1, crate::MAX_PAGE)))
            .send()
            .await
            .map_err(unavailable)?;
        let mut queues: Vec<QueueKey> = Vec::new();
        for item in out.items.unwrap_or_default() {
            let text = get_s(&item, "queue")?;
            let queue = QueueKey::parse(text)
                .ok_or_else(|| StoreError::Corrupt(format!("queue key {text:?}")))?;
            if !queues.contains(&queue) {
                queues.push(queue);
            }
        }
        Ok(queues)
    }

    async fn remember_advisor(
        &self,
        visitor: &str,
        advisor: &AdvisorId,
        at: UnixMillis,
        expires_at: UnixMillis,
    ) -> Result<(), StoreError> {
        let attributes = [
            ("advisor", s(advisor.as_str())),
            ("at", n(at)),
            ("expires_at", n(expires_at)),
        ];
        let last = item(keys::visitor(visitor), keys::LAST, attributes);
        self.put(expiring(last, expires_at)).await
    }

    async fn last_advisor(
        &self,
        visitor: &str,
        now: UnixMillis,
    ) -> Result<Option<(AdvisorId, UnixMillis)>, StoreError> {
        let Some(item) = self.get_item(keys::visitor(visitor), keys::LAST).await? else {
            return Ok(None);
        };
        if get_n(&item, "expires_at")?.unwrap_or(0) <= now {
            return Ok(None);
        }
        let advisor = AdvisorId::parse(get_s(&item, "advisor")?)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        Ok(Some((advisor, get_n(&item, "at")?.unwrap_or(0))))
    }

    async fn put_offline_message(
        &self,
        message: &OfflineMessage,
        expires_at: UnixMillis,
    ) -> Result<Created, StoreError> {
        let attributes = [
            ("gsi1pk", s(keys::inbox(&message.inbox.key()))),
            ("gsi1sk", s(InboxPosition::of(message).sort_key())),
            ("message", s(to_json(message)?)),
        ];
        let offline = item(keys::offline(&message.id), keys::OFFLINE, attributes);
        self.create(expiring(offline, expires_at)).await
    }

    async fn list_inbox(
        &self,
        inbox: &str,
        after: Option<&InboxPosition>,
        limit: u16,
    ) -> Result<Vec<OfflineMessage>, StoreError> {
        let limit = limit.clamp(1, crate::MAX_PAGE);
        let mut query = self
            .index_query(keys::inbox(inbox))
            .scan_index_forward(false)
            .limit(i32::from(limit));
        query = match after {
            Some(position) => query
                .key_condition_expression("#p = :p AND #s < :s")
                .expression_attribute_names("#s", "gsi1sk")
                .expression_attribute_values(":s", s(position.sort_key())),
            None => query.key_condition_expression("#p = :p"),
        };
        let out = query.send().await.map_err(unavailable)?;
        out.items
            .unwrap_or_default()
            .iter()
            .map(|item| json(item, "message"))
            .collect()
    }
}
