//! A simulated deployment for the contact core, in the manner of
//! quinn-proto's test harness: visitors, advisors and the sweep drive
//! [`Session`]s through [`Session::handle`] exactly as a host does (rank,
//! claim capacity, ring; carry out every effect), while the clock only
//! moves to the sessions' own next deadline. After every step the world
//! checks what must always hold.

#![allow(dead_code)] // each test binary uses part of the harness

use livecard_core::UnixMillis;
use livecard_core::advisor::{Advisor, AdvisorInput};
use livecard_core::channel::{Channel, ChannelSet};
use livecard_core::event::EventName;
use livecard_core::ids::AdvisorId;
use livecard_core::presence::{Presence, PresencePolicy, PresenceState, PresenceView};
use livecard_core::routing::{Candidate, rank};
use livecard_core::session::{
    Effect, EndReason, Input, Origin, Phase, Prop, QueueKey, Session, SessionError, SessionPolicy,
    Side,
};
use std::collections::{BTreeMap, BTreeSet};

pub const T0: UnixMillis = 1_795_392_000_000;

pub struct SimAdvisor {
    pub advisor: Advisor,
    pub presence: Presence,
    /// Capacity claims held (the store's `active`).
    pub active: u16,
    pub idle_since: UnixMillis,
}

/// An event as recorded: its name, the advisor it names, its props.
pub type Recorded = (EventName, Option<AdvisorId>, Vec<(&'static str, Prop)>);

pub struct SimSession {
    pub id: String,
    pub session: Session,
    /// Chat messages stored for the session (the chat store's count).
    pub messages: u32,
    pub last_message: Option<UnixMillis>,
    /// Events recorded for it, with the advisor each names.
    pub events: Vec<Recorded>,
    /// Times the sides were told the state.
    pub announced: u32,
    /// Times the visitor's advisor was remembered.
    pub remembered: u32,
    /// Rings stopped (accepted, declined, missed, or the visitor left).
    pub rings_stopped: u32,
}

pub struct World {
    pub now: UnixMillis,
    pub policy: SessionPolicy,
    pub advisors: Vec<SimAdvisor>,
    pub sessions: Vec<SimSession>,
    pub queues: BTreeMap<QueueKey, BTreeSet<(UnixMillis, String)>>,
    /// Rings in progress, per advisor (what their consoles show).
    pub ringing: BTreeMap<AdvisorId, BTreeSet<String>>,
    /// The last presence version written (versions must grow).
    presence_version: u64,
    /// Who is in which conversation, as the host records it (the sessions
    /// a console that opens lists).
    pub attending: BTreeSet<(AdvisorId, String)>,
}

fn advisor(id: &str, topics: &[&str], capacity: u8) -> Advisor {
    AdvisorInput {
        id: id.into(),
        display_name: format!("Advisor {id}"),
        title: String::new(),
        photo_url: None,
        languages: vec!["de".into()],
        topics: topics.iter().map(|t| (*t).to_owned()).collect(),
        channels: ChannelSet::ALL,
        capacity: u16::from(capacity),
        identities: Default::default(),
    }
    .validate()
    .unwrap_or_else(|e| panic!("test advisor: {e}"))
}

impl World {
    /// Advisors `a0..` with the given capacities; even ones serve `sales`,
    /// odd ones `support`; all available.
    pub fn new(capacities: &[u8]) -> World {
        let mut world = World {
            now: T0,
            policy: SessionPolicy::default(),
            advisors: Vec::new(),
            sessions: Vec::new(),
            queues: BTreeMap::new(),
            ringing: BTreeMap::new(),
            presence_version: 0,
            attending: BTreeSet::new(),
        };
        for (i, capacity) in capacities.iter().enumerate() {
            let topic = if i % 2 == 0 { "sales" } else { "support" };
            world.advisors.push(SimAdvisor {
                advisor: advisor(&format!("a{i}"), &[topic], *capacity),
                presence: Presence::default(),
                active: 0,
                idle_since: 0,
            });
            world.set_presence(i, true);
        }
        world
    }

    pub fn advisor_id(&self, index: usize) -> AdvisorId {
        self.advisors[index % self.advisors.len()]
            .advisor
            .id
            .clone()
    }

    fn advisor_mut(&mut self, id: &AdvisorId) -> &mut SimAdvisor {
        self.advisors
            .iter_mut()
            .find(|a| a.advisor.id == *id)
            .unwrap_or_else(|| panic!("no advisor {id}"))
    }

    /// A visitor asks (portal with a topic, or a card of one advisor).
    pub fn request(&mut self, channel: Channel, topic: Option<&str>, card: Option<usize>) -> usize {
        let mut session = Session::new(channel, self.now);
        session.request.topic = topic.map(str::to_owned);
        if let Some(card) = card {
            session.request.origin = Origin::Card;
            session.request.advisor = Some(self.advisor_id(card));
        }
        self.sessions.push(SimSession {
            id: format!("s{}", self.sessions.len()),
            session,
            messages: 0,
            last_message: None,
            events: Vec::new(),
            announced: 0,
            remembered: 0,
            rings_stopped: 0,
        });
        self.sessions.len() - 1
    }

    /// Feeds one input to a session and carries out its effects, as the
    /// engine does; a refusal changes nothing.
    pub fn input(&mut self, index: usize, input: Input) -> Result<(), SessionError> {
        let inputs = vec![input];
        self.inputs(index, inputs)
    }

    fn inputs(&mut self, index: usize, inputs: Vec<Input>) -> Result<(), SessionError> {
        let (policy, now) = (self.policy, self.now);
        let sim = &mut self.sessions[index];
        let before = sim.session.clone();
        let effects = sim.session.handle_all(inputs, &policy, now)?;
        assert!(
            sim.session != before || effects.is_empty(),
            "an input that changed nothing implied {effects:?}"
        );
        let mut released = Vec::new();
        for effect in effects {
            self.carry_out(index, effect, &mut released);
        }
        for advisor in released {
            self.serve_queues(&advisor);
        }
        Ok(())
    }

    fn carry_out(&mut self, index: usize, effect: Effect, released: &mut Vec<AdvisorId>) {
        let id = self.sessions[index].id.clone();
        let now = self.now;
        match effect {
            Effect::Ring { advisor, until } => {
                assert!(until > now, "a ring that is over before it starts");
                let fresh = self.ringing.entry(advisor).or_default().insert(id.clone());
                assert!(fresh, "{id} rung twice at once");
            }
            Effect::StopRinging { advisor } => {
                let was = self.ringing.entry(advisor).or_default().remove(&id);
                assert!(was, "{id} stopped a ring that never started");
                self.sessions[index].rings_stopped += 1;
            }
            Effect::Release { advisor } => {
                let a = self.advisor_mut(&advisor);
                assert!(a.active > 0, "{advisor} released more than claimed");
                a.active -= 1;
                a.idle_since = now;
                released.push(advisor);
            }
            Effect::Enqueue {
                queue,
                since,
                until,
            } => {
                assert!(until >= now);
                let fresh = self.queues.entry(queue).or_default().insert((since, id));
                assert!(fresh, "queued twice");
            }
            Effect::Dequeue { queue, since } => {
                let was = self.queues.entry(queue).or_default().remove(&(since, id));
                assert!(was, "left a queue it was not in");
            }
            Effect::Remember { .. } => self.sessions[index].remembered += 1,
            Effect::Attend { advisor } => {
                assert!(self.attending.insert((advisor, id)), "attended twice");
            }
            Effect::Unattend { advisor } => {
                assert!(
                    self.attending.remove(&(advisor, id)),
                    "left without being in"
                );
            }
            Effect::Announce { .. } => self.sessions[index].announced += 1,
            Effect::Event {
                name,
                advisor,
                props,
            } => self.sessions[index].events.push((name, advisor, props)),
        }
    }

    /// Routes a session as the engine does: ranks the available
    /// advisors, claims the first with room (never over capacity), rings
    /// them; when nobody has room the visitor is offered choices or keeps
    /// their place in line.
    pub fn route(&mut self, index: usize) {
        let session = &self.sessions[index].session;
        if !matches!(session.phase, Phase::Routing | Phase::Queued { .. })
            || !session.visitor_joined
        {
            return;
        }
        let request = session.route_request();
        let queue = session.request.waiting_since.is_some();
        let now = self.now;
        let candidates: Vec<Candidate<'_>> = self
            .advisors
            .iter()
            .map(|a| Candidate {
                advisor: &a.advisor,
                presence: PresenceView::of(
                    &a.advisor,
                    &a.presence,
                    &PresencePolicy::default(),
                    now,
                ),
                active: a.active,
                idle_since: a.idle_since,
            })
            .collect();
        let ranked = rank(&candidates, &request);
        // The store's atomic claim.
        let claimed = ranked.into_iter().find(|id| {
            let a = self
                .advisors
                .iter()
                .find(|a| a.advisor.id == *id)
                .unwrap_or_else(|| panic!("ranked an unknown advisor"));
            a.active < a.advisor.capacity
        });
        match claimed {
            Some(advisor) => {
                self.advisor_mut(&advisor).active += 1;
                self.input(index, Input::Ring(advisor))
                    .unwrap_or_else(|e| panic!("ring refused after routing: {e}"));
            }
            None => {
                self.input(index, Input::NobodyFree { queue })
                    .unwrap_or_else(|e| panic!("nobody-free refused: {e}"));
            }
        }
    }

    /// Capacity came free or an advisor came online: serve their queues,
    /// oldest first, stopping at the first nobody can take.
    pub fn serve_queues(&mut self, advisor: &AdvisorId) {
        let record = self
            .advisors
            .iter()
            .find(|a| a.advisor.id == *advisor)
            .map(|a| a.advisor.clone());
        let Some(record) = record else { return };
        for key in QueueKey::served_by_advisor(&record) {
            let waiting: Vec<String> = self
                .queues
                .get(&key)
                .map(|q| q.iter().map(|(_, id)| id.clone()).collect())
                .unwrap_or_default();
            for id in waiting {
                let index = self.index_of(&id);
                self.route(index);
                if matches!(self.sessions[index].session.phase, Phase::Queued { .. }) {
                    break;
                }
            }
        }
    }

    fn index_of(&self, id: &str) -> usize {
        self.sessions
            .iter()
            .position(|s| s.id == id)
            .unwrap_or_else(|| panic!("no session {id}"))
    }

    /// The session and the index of the advisor it rings, if it rings.
    pub fn rung(&self, index: usize) -> Option<(usize, usize)> {
        let rung = self.sessions[index].session.ringing_advisor()?;
        let advisor = self.advisors.iter().position(|a| a.advisor.id == *rung)?;
        Some((index, advisor))
    }

    // What people do.

    pub fn join(&mut self, index: usize) {
        if self.input(index, Input::VisitorJoins).is_ok() {
            self.route(index);
        }
    }

    pub fn accept(&mut self, index: usize, advisor: usize) -> Result<(), SessionError> {
        let advisor = self.advisor_id(advisor);
        self.input(index, Input::Accept(advisor))
    }

    pub fn decline(&mut self, index: usize, advisor: usize) -> Result<(), SessionError> {
        let advisor = self.advisor_id(advisor);
        self.input(index, Input::Decline(advisor))?;
        self.route(index);
        Ok(())
    }

    pub fn wait(&mut self, index: usize) -> Result<(), SessionError> {
        self.input(index, Input::ChooseWait)?;
        self.route(index);
        Ok(())
    }

    pub fn colleague(&mut self, index: usize) -> Result<(), SessionError> {
        self.input(index, Input::ChooseColleague)?;
        self.route(index);
        Ok(())
    }

    /// A side writes `count` chat messages (stored apart from the session,
    /// as the chat store does: no session write per message).
    pub fn chat(&mut self, index: usize, count: u32) -> Result<(), SessionError> {
        let sim = &mut self.sessions[index];
        sim.session.can_chat()?;
        sim.messages += count;
        sim.last_message = Some(self.now);
        Ok(())
    }

    pub fn upgrade(&mut self, index: usize, channel: Channel) -> Result<(), SessionError> {
        self.input(index, Input::Upgrade(channel))
    }

    /// A side hangs up: the engine counts the chat first.
    pub fn hangup(&mut self, index: usize, side: Side) -> Result<(), SessionError> {
        let reason = match side {
            Side::Visitor => EndReason::VisitorLeft,
            Side::Advisor => EndReason::AdvisorLeft,
        };
        let seen = self.seen(index);
        self.inputs(index, vec![seen, Input::End(reason)])
    }

    fn seen(&self, index: usize) -> Input {
        let sim = &self.sessions[index];
        Input::MessagesSeen {
            total: sim.messages,
            last_at: sim.last_message,
        }
    }

    pub fn set_presence(&mut self, advisor: usize, available: bool) {
        let state = if available {
            PresenceState::Available
        } else {
            PresenceState::Offline
        };
        let states = Channel::ALL.iter().map(|c| (*c, state)).collect();
        // Versions must grow, also for changes at the same instant.
        self.presence_version = self.now.max(self.presence_version + 1);
        let version = self.presence_version;
        // The advisor's console is open and their manual state lasts a week.
        let update = PresencePolicy::default()
            .console_update(
                states,
                version,
                version + livecard_core::presence::MAX_MANUAL_MS,
            )
            .unwrap_or_else(|e| panic!("{e}"));
        let index = advisor % self.advisors.len();
        let presence = &mut self.advisors[index].presence;
        presence.apply(&update);
        presence.extend_heartbeat(u64::MAX);
        if available {
            let id = self.advisor_id(index);
            self.serve_queues(&id);
        }
    }

    pub fn set_capacity(&mut self, advisor: usize, capacity: u8) {
        let index = advisor % self.advisors.len();
        self.advisors[index].advisor.capacity = u16::from(capacity);
        let id = self.advisor_id(index);
        self.serve_queues(&id);
    }

    // Time.

    /// The earliest deadline of any session: where the clock goes next.
    pub fn next_deadline(&self) -> Option<UnixMillis> {
        self.sessions
            .iter()
            .filter_map(|s| s.session.next_deadline(&self.policy))
            .min()
    }

    /// Moves the clock to the next deadline (never backwards) and runs the
    /// sweep; false when no session has one.
    pub fn advance(&mut self) -> bool {
        let Some(at) = self.next_deadline() else {
            return false;
        };
        self.now = self.now.max(at);
        self.sweep();
        true
    }

    /// Moves the clock by `ms` without reaching a deadline early.
    pub fn pass(&mut self, ms: u64) {
        let target = self.now.saturating_add(ms);
        while let Some(at) = self.next_deadline() {
            if at > target {
                break;
            }
            self.now = self.now.max(at);
            self.sweep();
        }
        self.now = target;
    }

    /// The host's sweep: every session whose deadline passed gets its tick
    /// (with the chat counted first, when connected), then is routed when
    /// it waits for routing.
    pub fn sweep(&mut self) {
        let now = self.now;
        for index in 0..self.sessions.len() {
            let due = self.sessions[index]
                .session
                .next_deadline(&self.policy)
                .is_some_and(|at| at <= now);
            if !due {
                continue;
            }
            let mut inputs = Vec::new();
            if matches!(self.sessions[index].session.phase, Phase::Connected { .. }) {
                inputs.push(self.seen(index));
            }
            inputs.push(Input::Tick);
            self.inputs(index, inputs)
                .unwrap_or_else(|e| panic!("a tick was refused: {e}"));
            self.route(index);
        }
    }

    /// Runs the clock until every session has ended.
    pub fn drain(&mut self) {
        for _ in 0..10_000 {
            if !self.advance() {
                return;
            }
        }
        panic!("sessions never ended");
    }

    // What must always hold.

    pub fn check(&self) {
        let attendees: BTreeSet<(AdvisorId, String)> = self
            .sessions
            .iter()
            .flat_map(|s| {
                s.session
                    .attendees()
                    .into_iter()
                    .map(|a| (a.clone(), s.id.clone()))
            })
            .collect();
        assert_eq!(
            self.attending, attendees,
            "the host's record of who is in which conversation is exact"
        );
        for a in &self.advisors {
            let id = &a.advisor.id;
            let held = self
                .sessions
                .iter()
                .filter(|s| s.session.current_advisor() == Some(id))
                .count();
            assert_eq!(
                usize::from(a.active),
                held,
                "{id}'s claims match the sessions rung to or connected with them"
            );
            let rung = self.ringing.get(id).map_or(0, BTreeSet::len);
            let ringing = self
                .sessions
                .iter()
                .filter(|s| s.session.ringing_advisor() == Some(id))
                .count();
            assert_eq!(rung, ringing, "{id}'s console shows exactly the rings on");
        }
        for sim in &self.sessions {
            let s = &sim.session;
            let queued_in: Vec<&QueueKey> = self
                .queues
                .iter()
                .filter(|(_, q)| q.iter().any(|(_, id)| *id == sim.id))
                .map(|(k, _)| k)
                .collect();
            match s.phase {
                Phase::Queued { since, .. } => {
                    assert_eq!(
                        queued_in,
                        vec![&s.request.queue_key()],
                        "{} in its queue",
                        sim.id
                    );
                    assert!(self.queues[&s.request.queue_key()].contains(&(since, sim.id.clone())));
                }
                _ => assert!(
                    queued_in.is_empty(),
                    "{} queued while {:?}",
                    sim.id,
                    s.phase
                ),
            }
            if !s.is_ended() {
                let deadline = s.next_deadline(&self.policy);
                assert!(
                    deadline.is_some_and(|at| at >= self.now),
                    "{} has no future deadline ({deadline:?}): it could wait forever",
                    sim.id
                );
            }
            let count = |name| sim.events.iter().filter(|(n, ..)| *n == name).count();
            let rings = count(EventName::Ringing);
            assert_eq!(
                count(EventName::Routed),
                rings,
                "{}: routed once per ring",
                sim.id
            );
            let ringing_now = usize::from(s.ringing_advisor().is_some());
            assert_eq!(
                sim.rings_stopped as usize + ringing_now,
                rings,
                "{}: every ring stops once",
                sim.id
            );
            let answered =
                count(EventName::Accepted) + count(EventName::Declined) + count(EventName::Missed);
            assert!(answered <= rings, "{}: an answer per ring at most", sim.id);
            assert!(count(EventName::Accepted) <= 1, "{}: accepted once", sim.id);
            assert!(
                count(EventName::SessionEnded) <= 1,
                "{}: ended once",
                sim.id
            );
            assert_eq!(
                count(EventName::SessionEnded),
                usize::from(s.is_ended()),
                "{}: an ended session has its event",
                sim.id
            );
            assert_eq!(
                sim.remembered as usize,
                count(EventName::Accepted),
                "{}: the advisor is remembered when reached",
                sim.id
            );
            for (name, advisor, _) in &sim.events {
                if matches!(
                    name,
                    EventName::Ringing
                        | EventName::Accepted
                        | EventName::Declined
                        | EventName::Missed
                ) {
                    assert!(advisor.is_some(), "{}: {name:?} names its advisor", sim.id);
                }
            }
            let calls = count(EventName::CallStarted);
            let ended_calls = count(EventName::CallEnded);
            assert_eq!(
                calls,
                ended_calls + usize::from(s.call.is_some()),
                "{}: every call started ends once",
                sim.id
            );
            if s.is_ended() {
                let counted: u64 = sim
                    .events
                    .iter()
                    .filter(|(n, ..)| *n == EventName::ChatMessage)
                    .filter_map(|(_, _, props)| {
                        props.iter().find_map(|(k, v)| match (k, v) {
                            (&"count", Prop::Num(n)) => Some(*n),
                            _ => None,
                        })
                    })
                    .sum();
                if s.advisor.is_some() {
                    assert_eq!(
                        counted,
                        u64::from(sim.messages),
                        "{}: every chat message counted once",
                        sim.id
                    );
                }
            }
        }
    }

    /// After [`World::drain`]: nothing is held, queued or ringing.
    pub fn check_drained(&self) {
        self.check();
        for sim in &self.sessions {
            assert!(sim.session.is_ended(), "{} ended", sim.id);
        }
        for a in &self.advisors {
            assert_eq!(a.active, 0, "{} holds nothing", a.advisor.id);
        }
        assert!(self.queues.values().all(BTreeSet::is_empty), "queues empty");
        assert!(
            self.ringing.values().all(BTreeSet::is_empty),
            "nobody rings"
        );
    }
}
