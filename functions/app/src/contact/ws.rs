//! The WebSocket side of the signaling protocol (`docs/protocol.md`).
//!
//! A host calls [`App::ws_open`] when a connection opens,
//! [`App::ws_message`] for every text frame, and sends the returned
//! replies back on the same connection. Messages for the other side of a
//! session go out through the push port.

use super::engine::{ContactError, Updated};
use super::{Connection, MAX_JOINED, Participant, Push, RateLimit};
use crate::App;
use crate::auth::SESSION_COOKIE;
use crate::http_util::{cookie, same_origin};
use livecard_core::UnixMillis;
use livecard_core::session::{EndReason, Input, Phase, SessionError, Side, verify_session_token};
use livecard_core::signaling::{
    ClientMessage, ProtocolError, ServerMessage, SignalKind, parse_client, refusal,
};
use livecard_store::{Appended, NewMessage, Store};

/// How far before a client's last key a join replays (`docs/protocol.md`).
pub const REPLAY_MARGIN_MS: u64 = 30_000;

/// The most chat messages one join replays (older ones stay in the store).
const MAX_REPLAY: usize = 2_000;

/// The most conversations a console is told of when it opens (an advisor's
/// largest capacity is 50, and guests hold slots too).
const MAX_CONVERSATIONS: u16 = 100;

/// What to send back on the connection, and whether to close it.
#[derive(Debug, Default)]
pub struct Replies {
    pub messages: Vec<String>,
    /// The host closes the connection, with this reason (the client kept
    /// flooding).
    pub close: Option<livecard_core::signaling::CloseReason>,
}

impl Replies {
    fn one(message: ServerMessage) -> Self {
        Self {
            messages: vec![message.to_json()],
            close: None,
        }
    }

    fn push(&mut self, message: &ServerMessage) {
        self.messages.push(message.to_json());
    }
}

impl<S: Store, P: Push> App<S, P> {
    /// A connection opens: [`App::ws_connect`], then [`App::ws_greeting`]
    /// on the same connection (the local host sends both at once).
    pub async fn ws_open(&self, id: &str, request: &crate::Request) -> (Connection, Vec<String>) {
        let connection = self.ws_connect(id, request).await;
        let greeting = self.ws_greeting(&connection).await;
        (connection, greeting)
    }

    /// Who is connecting. An advisor is recognised by a single-use ticket
    /// in the URL (`?ticket=`, from `POST /api/v1/me/ws-ticket`; works when
    /// the socket is on another origin, as API Gateway's is), or by their
    /// session cookie when the upgrade comes from our own pages (so another
    /// site cannot open a socket with their cookie). Visitors need neither:
    /// they prove each session with its token.
    pub async fn ws_connect(&self, id: &str, request: &crate::Request) -> Connection {
        let now = self.now();
        let query = crate::http_util::query(request);
        let advisor = match crate::http_util::query_param(&query, "ticket") {
            Some(ticket) => self.redeem_ws_ticket(ticket, now).await,
            None if same_origin(request) => cookie(request, SESSION_COOKIE).and_then(|value| {
                livecard_core::auth::verify_session(&self.secrets.session_key, value, now)
            }),
            None => None,
        };
        // A session that was ended (sign-out, an admin) opens no console.
        let advisor = match advisor {
            Some(claims) => match self.current_session(&claims).await {
                Ok(record) => record.map(|r| r.advisor.id),
                Err(err) => {
                    tracing::error!(error = %err.message, "store error checking a session");
                    None
                }
            },
            None => None,
        };
        if let Some(advisor) = &advisor {
            self.push
                .subscribe(id, &Participant::Advisor(advisor.clone()))
                .await;
        }
        Connection::new(id, advisor, now)
    }

    /// What a connection is told first: `hello`, and for an advisor their
    /// presence and the rings in progress.
    pub async fn ws_greeting(&self, connection: &Connection) -> Vec<String> {
        let hello = ServerMessage::Hello {
            advisor: connection.advisor.clone(),
        };
        let mut replies = vec![hello.to_json()];
        if let Some(advisor) = &connection.advisor {
            if let Some(presence) = self.presence_message(advisor).await {
                replies.push(presence.to_json());
            }
            replies.extend(
                self.rings_in_progress(advisor)
                    .await
                    .iter()
                    .map(ServerMessage::to_json),
            );
            // Boxed: a large future (a state message per conversation).
            replies.extend(Box::pin(self.conversations_of(advisor)).await);
        }
        replies
    }

    /// The `session` states of the conversations an advisor is in, so that
    /// a console opened anywhere (another browser, after a crash) lists
    /// them and joins each.
    async fn conversations_of(&self, advisor: &livecard_core::ids::AdvisorId) -> Vec<String> {
        let ids = match self
            .store
            .attending(advisor, self.now(), MAX_CONVERSATIONS)
            .await
        {
            Ok(ids) => ids,
            Err(err) => {
                tracing::warn!(error = %err, "conversations not listed");
                return Vec::new();
            }
        };
        let mut states = Vec::new();
        for id in ids {
            if let Ok(Some(stored)) = self.store.get_session(&id).await
                && stored.session.attendees().contains(&advisor)
            {
                states.push(self.state_message(&stored).await.to_json());
            }
        }
        states
    }

    /// One text frame from a client.
    pub async fn ws_message(&self, connection: &mut Connection, text: &str) -> Replies {
        let now = self.now();
        if !connection
            .limiter
            .take_with(self.config.signaling_rate, now)
        {
            return Replies {
                messages: vec![refusal(
                    "rate_limited",
                    "too many messages; slow down",
                    None,
                )],
                close: (connection.limiter.refused_in_a_row >= RateLimit::MAX_REFUSED)
                    .then_some(livecard_core::signaling::CloseReason::Flooding),
            };
        }
        let message = match parse_client(text) {
            Ok(message) => message,
            Err(err) => {
                if err != ProtocolError::TooLarge {
                    tracing::debug!(code = err.code(), "client message refused");
                }
                return Replies::one(ServerMessage::refusal(err.code(), &err.to_string(), None));
            }
        };
        let session = message.session().map(str::to_owned);
        // Boxed: the handlers' future is large; a host that awaits this
        // inline (a test's block_on) would carry all of it on its stack.
        match Box::pin(self.dispatch(connection, message)).await {
            Ok(replies) => replies,
            Err(err) => {
                if let ContactError::Store(store) = &err {
                    tracing::error!(error = %store, "store error in signaling");
                }
                Replies::one(ServerMessage::refusal(
                    err.code(),
                    &err.to_string(),
                    session.as_deref(),
                ))
            }
        }
    }

    async fn dispatch(
        &self,
        connection: &mut Connection,
        message: ClientMessage,
    ) -> Result<Replies, ContactError> {
        let now = self.now();
        let policy = self.config.session;
        match message {
            ClientMessage::Presence { states, .. } => {
                let advisor = connection.advisor.clone().ok_or(NOT_ALLOWED)?;
                let states: Vec<_> = states.into_iter().collect();
                let update = self
                    .config
                    .presence
                    .console_update(states, now, self.manual_until(None, now))
                    .map_err(|_| ContactError::Session(SessionError::NotOffered))?;
                self.set_presence(&advisor, &update)
                    .await
                    .map_err(|_| ContactError::Busy)?;
                Ok(Replies::default())
            }
            ClientMessage::Ping { .. } => Ok(Replies::one(ServerMessage::Pong {})),
            ClientMessage::Join {
                session,
                token,
                after,
                ..
            } => {
                self.join(connection, &session, token.as_deref(), after)
                    .await
            }
            ClientMessage::Rejoin { sessions, .. } => {
                // An advisor's console only: visitors prove each session
                // with its token in a `join` of its own.
                if connection.advisor.is_none() {
                    return Err(ContactError::Session(SessionError::NotAllowed));
                }
                let mut replies = Replies::default();
                for one in sessions {
                    match Box::pin(self.join(connection, &one.session, None, one.after)).await {
                        Ok(joined) => replies.messages.extend(joined.messages),
                        Err(err) => replies.push(&ServerMessage::refusal(
                            err.code(),
                            &err.to_string(),
                            Some(&one.session),
                        )),
                    }
                }
                Ok(replies)
            }
            ClientMessage::Accept { session, .. } => {
                let advisor = connection.advisor.clone().ok_or(NOT_ALLOWED)?;
                let accept = Input::Accept(advisor.clone());
                let updated = self
                    .update_session(&session, |s| s.handle(accept.clone(), &policy, now))
                    .await?;
                self.push
                    .subscribe(&connection.id, &Participant::Advisor(advisor))
                    .await;
                Ok(Replies::one(self.state_message(&updated.session).await))
            }
            ClientMessage::Decline { session, .. } => {
                let advisor = connection.advisor.clone().ok_or(NOT_ALLOWED)?;
                let decline = Input::Decline(advisor);
                let updated = self
                    .update_session(&session, |s| s.handle(decline.clone(), &policy, now))
                    .await?;
                self.route(&session).await?;
                self.after_release(&updated.released).await;
                Ok(Replies::default())
            }
            ClientMessage::Chat {
                session, id, text, ..
            } => self.chat(connection, &session, &id, &text).await,
            ClientMessage::Typing { session, .. } => {
                let (side, others) = self.chatter(connection, &session).await?;
                let message = ServerMessage::Typing { session, side }.to_json();
                futures_util::future::join_all(others.iter().map(|p| self.push.send(p, &message)))
                    .await;
                Ok(Replies::default())
            }
            ClientMessage::Read { session, key, .. } => {
                let (side, others) = self.chatter(connection, &session).await?;
                let message = ServerMessage::Read { session, side, key }.to_json();
                futures_util::future::join_all(others.iter().map(|p| self.push.send(p, &message)))
                    .await;
                Ok(Replies::default())
            }
            ClientMessage::Upgrade {
                session, channel, ..
            } => {
                self.speaker(connection, &session).await?;
                self.update_session(&session, |s| {
                    s.handle(Input::Upgrade(channel), &policy, now)
                })
                .await?;
                Ok(Replies::default())
            }
            ClientMessage::Wait { session, .. } => {
                self.visitor_only(connection, &session)?;
                self.update_session(&session, |s| s.handle(Input::ChooseWait, &policy, now))
                    .await?;
                self.route(&session).await?;
                Ok(Replies::default())
            }
            ClientMessage::Colleague { session, .. } => {
                self.visitor_only(connection, &session)?;
                self.update_session(&session, |s| s.handle(Input::ChooseColleague, &policy, now))
                    .await?;
                self.route(&session).await?;
                Ok(Replies::default())
            }
            signal @ ClientMessage::Signal { .. } => {
                let session = signal.session().unwrap_or_default().to_owned();
                let data_link = matches!(&signal, ClientMessage::Signal { call, .. }
                    if call.starts_with(livecard_core::signaling::DATA_LINK_PREFIX));
                let (side, other) = self.call_peer(connection, &session, data_link).await?;
                let restart = match &signal {
                    ClientMessage::Signal {
                        kind: SignalKind::Offer,
                        restart,
                        ..
                    } if !data_link => *restart,
                    _ => None,
                };
                if let (Some(message), Some(other)) =
                    (ServerMessage::relayed_signal(signal, side), other)
                {
                    self.push.send(&other, &message.to_json()).await;
                }
                // An offer that restarts ICE is recorded (why, for the
                // reports), after it went on its way.
                if let Some(reason) = restart
                    && let Err(err) = self
                        .update_session(&session, |s| {
                            s.handle(Input::IceRestart(reason), &policy, now)
                        })
                        .await
                {
                    tracing::debug!(error = %err, "ice restart not recorded");
                }
                Ok(Replies::default())
            }
            ClientMessage::Share {
                session,
                action,
                stream,
                ..
            } => {
                let (side, _) = self.speaker(connection, &session).await?;
                self.update_session(&session, |s| {
                    s.handle(
                        Input::Share {
                            side,
                            action,
                            stream: stream.clone(),
                        },
                        &policy,
                        now,
                    )
                })
                .await?;
                Ok(Replies::default())
            }
            ClientMessage::Transfer {
                session,
                to,
                topic,
                note,
                ..
            } => {
                let Some(me) = connection.advisor.clone() else {
                    // A visitor cannot hand a conversation over.
                    self.side_in(connection, &session).await?;
                    return Err(ContactError::Session(SessionError::NotAllowed));
                };
                let updated = self.transfer(&me, &session, to, topic, note).await?;
                self.after_release(&updated.released).await;
                Ok(Replies::default())
            }
            ClientMessage::Invite { session, to, .. } => {
                let Some(me) = connection.advisor.clone() else {
                    // A visitor cannot bring anyone in.
                    self.side_in(connection, &session).await?;
                    return Err(ContactError::Session(SessionError::NotAllowed));
                };
                self.invite(&me, &session, &to).await?;
                Ok(Replies::default())
            }
            ClientMessage::Leave { session, .. } => {
                let stored = self.session_cached(&session).await?;
                let me = match &connection.advisor {
                    Some(me) if stored.session.is_guest(me) => me.clone(),
                    // Not a guest: the others end the chat with `hangup`.
                    _ => {
                        self.member_of(connection, &stored).ok_or(NOT_ALLOWED)?;
                        return Err(ContactError::Session(SessionError::NotAllowed));
                    }
                };
                let leave = Input::Leave(me);
                let updated = self
                    .update_session(&session, |s| s.handle(leave.clone(), &policy, now))
                    .await?;
                self.after_release(&updated.released).await;
                Ok(Replies::default())
            }
            ClientMessage::Identity {
                session,
                action,
                face,
                outcome,
                note,
                ..
            } => {
                let (side, _) = self.speaker(connection, &session).await?;
                self.update_session(&session, |s| {
                    s.handle(
                        Input::Identity {
                            side,
                            action,
                            face,
                            outcome,
                            note: note.clone(),
                        },
                        &policy,
                        now,
                    )
                })
                .await?;
                Ok(Replies::default())
            }
            ClientMessage::File { session, bytes, .. } => {
                let (side, _) = self.call_peer(connection, &session, true).await?;
                if !self.config.files.counts(bytes) {
                    return Err(ContactError::Session(SessionError::NotOffered));
                }
                let stored = self.session_cached(&session).await?;
                let event = self
                    .session_event(livecard_core::event::EventName::FileSent, &stored)
                    .with_prop("by", side.as_str())
                    .with_prop("bytes", bytes);
                self.record_with(event, Some(&self.session_context(&stored)))
                    .await;
                Ok(Replies::default())
            }
            ClientMessage::CallReport { session, path, .. } => {
                self.speaker(connection, &session).await?;
                self.update_session(&session, |s| {
                    s.handle(Input::CallReport(path), &policy, now)
                })
                .await?;
                Ok(Replies::default())
            }
            ClientMessage::Hangup { session, .. } => {
                let (side, _) = self.speaker(connection, &session).await?;
                let reason = match side {
                    Side::Visitor => EndReason::VisitorLeft,
                    Side::Advisor => EndReason::AdvisorLeft,
                };
                let Updated { released, .. } = self.end_session(&session, reason).await?;
                self.after_release(&released).await;
                Ok(Replies::default())
            }
        }
    }

    /// `ring` messages for contacts ringing this advisor now, so that a
    /// console opened (or reloaded) mid-ring shows them.
    async fn rings_in_progress(
        &self,
        advisor: &livecard_core::ids::AdvisorId,
    ) -> Vec<ServerMessage> {
        let now = self.now();
        let until = now.saturating_add(self.config.session.ring_ms);
        let Ok(ids) = self.store.sessions_due_between(now, until, 100).await else {
            return Vec::new();
        };
        let mut rings = Vec::new();
        for id in ids {
            if let Ok(Some(stored)) = self.store.get_session(&id).await
                && let Phase::Ringing {
                    advisor: rung,
                    until,
                } = &stored.session.phase
                && rung == advisor
                && *until > now
            {
                rings.push(stored.session.ring_message(&stored.id, *until));
            }
        }
        rings
    }

    /// (Re)joins a session: the state, every chat message after `after`,
    /// and the queue position or the ring, as they apply.
    async fn join(
        &self,
        connection: &mut Connection,
        session: &str,
        token: Option<&str>,
        after: Option<String>,
    ) -> Result<Replies, ContactError> {
        let stored = self
            .store
            .get_session(session)
            .await?
            .ok_or(ContactError::NotFound)?;
        let side = match token {
            Some(token) if verify_session_token(&self.secrets.session_key, session, token) => {
                if !connection.sessions.iter().any(|s| s == session) {
                    if connection.sessions.len() >= MAX_JOINED {
                        connection.sessions.remove(0);
                    }
                    connection.sessions.push(session.to_owned());
                }
                Side::Visitor
            }
            Some(_) => return Err(NOT_ALLOWED),
            None => self
                .member_of(connection, &stored)
                .filter(|side| *side == Side::Advisor)
                .ok_or(NOT_ALLOWED)?,
        };
        let participant = match side {
            Side::Visitor => Participant::Visitor(session.to_owned()),
            Side::Advisor => match &connection.advisor {
                Some(advisor) => Participant::Advisor(advisor.clone()),
                None => return Err(NOT_ALLOWED),
            },
        };
        self.push.subscribe(&connection.id, &participant).await;
        // Routing waits for the visitor's socket (so a bare contact request
        // holds nobody's slot): their first join starts it.
        let stored = match side {
            Side::Visitor => self.visitor_joined(stored).await?,
            Side::Advisor => stored,
        };
        let mut replies = Replies::default();
        replies.push(&self.state_message(&stored).await);
        if side == Side::Advisor
            && let Phase::Ringing { until, .. } = stored.session.phase
        {
            replies.push(&stored.session.ring_message(&stored.id, until));
        }
        if let Some(queue) = self.queue_message(&stored).await {
            replies.push(&queue);
        }
        // Messages can be stored out of key order (two in the same
        // millisecond, a write that took a moment): replay from a margin
        // before the client's last key; clients show each key once.
        let mut cursor = after
            .as_deref()
            .map(|key| livecard_store::keys::rewound(key, REPLAY_MARGIN_MS).unwrap_or(key.into()));
        loop {
            let page = self
                .store
                .messages_after(session, cursor.as_deref(), 100)
                .await?;
            let full = page.len() == 100;
            // The client has the message it names.
            for message in page.iter().filter(|m| after.as_ref() != Some(&m.key)) {
                replies.push(&Self::chat_message(session, message));
            }
            cursor = page.last().map(|m| m.key.clone()).or(cursor);
            if !full || replies.messages.len() >= MAX_REPLAY {
                break;
            }
        }
        replies.push(&ServerMessage::Joined {
            session: session.to_owned(),
            side,
        });
        Ok(replies)
    }

    async fn chat(
        &self,
        connection: &Connection,
        session: &str,
        id: &str,
        text: &str,
    ) -> Result<Replies, ContactError> {
        let now = self.now();
        let stored = self.session_cached(session).await?;
        let side = self.member_of(connection, &stored).ok_or(NOT_ALLOWED)?;
        stored.session.can_chat()?;
        let advisor = stored
            .session
            .connected_advisor()
            .ok_or(ContactError::Session(SessionError::NotConnected))?;
        // The advisor who has the conversation, or a guest in it.
        let author = match side {
            Side::Advisor => match &connection.advisor {
                Some(me) if me == advisor || stored.session.is_guest(me) => Some(me),
                _ => return Err(NOT_ALLOWED),
            },
            Side::Visitor => None,
        };
        let ack = |key: Option<String>| ServerMessage::Ack {
            session: session.to_owned(),
            id: id.to_owned(),
            key,
        };
        match self
            .store
            .append_message(
                session,
                NewMessage {
                    side,
                    author,
                    client_id: id,
                    text,
                    at: now,
                },
                stored
                    .session
                    .created_at
                    .saturating_add(self.config.transcript_retention_ms),
            )
            .await?
        {
            Appended::Duplicate => Ok(Replies::one(ack(None))),
            Appended::New(message) => {
                let value = Self::chat_message(session, &message).to_json();
                // Everyone at once: on AWS each is a lookup of the
                // participant's connections and a post to each.
                let to = self.members(session, &stored.session);
                futures_util::future::join_all(to.iter().map(|p| self.push.send(p, &value))).await;
                // No session write per message: activity and the count are
                // read from the message store when the session is judged
                // idle or ends (`Session::messages_seen`).
                Ok(Replies::one(ack(Some(message.key))))
            }
        }
    }

    /// Everyone in a session: its visitor, the advisor rung or connected,
    /// and the guests.
    fn members(&self, id: &str, session: &livecard_core::session::Session) -> Vec<Participant> {
        std::iter::once(Participant::Visitor(id.to_owned()))
            .chain(
                session
                    .current_advisor()
                    .into_iter()
                    .chain(session.guests.iter().map(|g| &g.advisor))
                    .map(|a| Participant::Advisor(a.clone())),
            )
            .collect()
    }

    /// Typing and read marks: from the visitor to the advisors in the chat,
    /// from an advisor (or a guest) to the visitor.
    async fn chatter(
        &self,
        connection: &Connection,
        session: &str,
    ) -> Result<(Side, Vec<Participant>), ContactError> {
        let stored = self.session_cached(session).await?;
        let side = self.member_of(connection, &stored).ok_or(NOT_ALLOWED)?;
        let others = match side {
            Side::Visitor => self
                .members(session, &stored.session)
                .into_iter()
                .skip(1)
                .collect(),
            Side::Advisor => vec![Participant::Visitor(session.to_owned())],
        };
        Ok((side, others))
    }

    /// The speaker's side and the other side, for relayed messages.
    async fn speaker(
        &self,
        connection: &Connection,
        session: &str,
    ) -> Result<(Side, Option<Participant>), ContactError> {
        let (stored, side) = self.side_in(connection, session).await?;
        let other = match side {
            Side::Visitor => stored
                .session
                .current_advisor()
                .map(|a| Participant::Advisor(a.clone())),
            Side::Advisor => Some(Participant::Visitor(session.to_owned())),
        };
        Ok((side, other))
    }

    /// The session and which side of it this connection is (sessions that
    /// are not its own answer like missing ones).
    async fn side_in(
        &self,
        connection: &Connection,
        session: &str,
    ) -> Result<(std::sync::Arc<livecard_store::StoredSession>, Side), ContactError> {
        let stored = self.session_cached(session).await?;
        let side = self.side_of(connection, &stored).ok_or(NOT_ALLOWED)?;
        Ok((stored, side))
    }

    /// The other side of a call: signals pass only in a connected session
    /// with a call on.
    async fn call_peer(
        &self,
        connection: &Connection,
        session: &str,
        data_link: bool,
    ) -> Result<(Side, Option<Participant>), ContactError> {
        let (stored, side) = self.side_in(connection, session).await?;
        let s = &stored.session;
        s.can_chat()?;
        let advisor = s
            .connected_advisor()
            .ok_or(ContactError::Session(SessionError::NotConnected))?;
        if s.call.is_none() && !data_link {
            return Err(ContactError::Session(SessionError::NoCall));
        }
        let other = match side {
            Side::Visitor => Participant::Advisor(advisor.clone()),
            Side::Advisor => Participant::Visitor(session.to_owned()),
        };
        Ok((side, Some(other)))
    }

    fn visitor_only(&self, connection: &Connection, session: &str) -> Result<(), ContactError> {
        if connection.sessions.iter().any(|s| s == session) {
            Ok(())
        } else {
            Err(NOT_ALLOWED)
        }
    }
}

/// Not this connection's session (or not its ring): the same answer as for
/// a session that does not exist, so ids cannot be probed.
const NOT_ALLOWED: ContactError = ContactError::NotFound;

/// For hosts whose connections outlive a subscription or sleep between
/// messages (Durable Objects): what a connection must renew, and when its
/// sessions next need the sweep.
impl<S: Store, P: Push> App<S, P> {
    /// Subscribes the connection again to everyone it listens for (its
    /// advisor, the sessions it joined), so its subscriptions do not run out.
    pub async fn ws_renew(&self, connection: &Connection) {
        if let Some(advisor) = &connection.advisor {
            self.push
                .subscribe(&connection.id, &Participant::Advisor(advisor.clone()))
                .await;
        }
        for session in &connection.sessions {
            self.push
                .subscribe(&connection.id, &Participant::Visitor(session.clone()))
                .await;
        }
    }

    /// The earliest deadline (ring, queue, inactivity) of the sessions this
    /// connection joined: when a sweep has something to do for them.
    pub async fn ws_next_deadline(&self, connection: &Connection) -> Option<UnixMillis> {
        let policy = self.config.session;
        let mut next: Option<UnixMillis> = None;
        for id in &connection.sessions {
            if let Ok(Some(stored)) = self.store.get_session(id).await
                && let Some(at) = stored.session.next_deadline(&policy)
            {
                next = Some(next.map_or(at, |n| n.min(at)));
            }
        }
        next
    }
}
