//! The transitions one by one (the simulation in `tests/simulation.rs`
//! drives them together).

use super::*;
use crate::channel::ChannelSet;
use crate::event::EventName;

const T0: UnixMillis = 1_795_392_000_000;

fn id(text: &str) -> AdvisorId {
    AdvisorId::parse(text).expect("valid")
}

/// A new session whose visitor has joined (so it can be routed).
fn joined_session(channel: Channel, now: UnixMillis) -> Session {
    let mut s = Session::new(channel, now);
    s.visitor_joins(now).expect("join");
    s
}

fn names(effects: &[Effect]) -> Vec<EventName> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Event { name, .. } => Some(*name),
            _ => None,
        })
        .collect()
}

#[test]
fn nobody_is_rung_before_the_visitor_joins() {
    let policy = SessionPolicy::default();
    let mut s = Session::new(Channel::Chat, T0);
    assert_eq!(
        s.ring(id("anna"), &policy, T0),
        Err(SessionError::NotRoutable),
        "a bare contact request rings nobody"
    );
    assert_eq!(
        s.nobody_free(false, &policy, T0),
        Err(SessionError::NotRoutable)
    );
    assert!(s.options().is_empty(), "and offers nothing yet");
    assert_eq!(s.next_deadline(&policy), Some(T0 + policy.join_ms));
    // Never joined: it ends when the join time is up.
    let mut lost = s.clone();
    assert!(lost.tick(&policy, T0 + policy.join_ms - 1).is_empty());
    lost.tick(&policy, T0 + policy.join_ms);
    assert!(matches!(
        lost.phase,
        Phase::Ended {
            reason: EndReason::Abandoned,
            ..
        }
    ));
    // Joined: routed as before; joining again changes nothing.
    s.visitor_joins(T0 + 1_000).expect("join");
    let joined = s.clone();
    assert!(s.visitor_joins(T0 + 2_000).expect("again").is_empty());
    assert_eq!(s, joined);
    s.ring(id("anna"), &policy, T0 + 1_000).expect("ring");
    // A session stored before joins existed was routed at once.
    let mut old = serde_json::to_value(&joined).expect("json");
    old.as_object_mut()
        .expect("object")
        .remove("visitor_joined");
    let old: Session = serde_json::from_value(old).expect("read");
    assert!(old.visitor_joined);
}

#[test]
fn ring_timeout_moves_on_then_accept_chat_and_end() {
    let policy = SessionPolicy::default();
    let mut s = joined_session(Channel::Chat, T0);
    s.ring(id("anna"), &policy, T0 + 100).expect("ring");
    assert_eq!(s.next_deadline(&policy), Some(T0 + 100 + 30_000));
    assert!(s.tick(&policy, T0 + 30_099).is_empty(), "still ringing");
    let missed = s.tick(&policy, T0 + 30_100);
    assert!(missed.contains(&Effect::Release {
        advisor: id("anna")
    }));
    assert_eq!(names(&missed), vec![EventName::Missed]);
    assert_eq!(s.phase, Phase::Routing);
    assert_eq!(s.tried, vec![id("anna")]);
    assert_eq!(
        s.accept(&id("anna"), T0 + 30_200),
        Err(SessionError::NotRinging),
        "too late"
    );

    s.ring(id("ben"), &policy, T0 + 31_000).expect("ring");
    assert_eq!(
        s.accept(&id("anna"), T0 + 31_500),
        Err(SessionError::NotYours)
    );
    let accepted = s.accept(&id("ben"), T0 + 32_000).expect("accept");
    assert_eq!(names(&accepted), vec![EventName::Accepted]);
    assert!(
        matches!(accepted.iter().find(|e| matches!(e, Effect::Event { .. })), Some(Effect::Event { props, .. }) if props == &vec![("wait_ms", Prop::Num(32_000))])
    );
    assert_eq!(s.can_chat(), Ok(()));
    let counted = s.messages_seen(2, Some(T0 + 50_000));
    assert_eq!(names(&counted), vec![EventName::ChatMessage]);
    assert!(
        s.messages_seen(2, Some(T0 + 50_000)).is_empty(),
        "counted once"
    );
    s.upgrade(Channel::Video, T0 + 60_000).expect("upgrade");
    assert_eq!(s.channel, Channel::Video);
    let ended = s.end(EndReason::VisitorLeft, T0 + 92_000).expect("end");
    assert!(ended.contains(&Effect::Release { advisor: id("ben") }));
    assert!(ended.contains(&Effect::Event {
        name: EventName::SessionEnded,
        advisor: None,
        props: vec![
            ("wait_ms", Prop::Num(32_000)),
            ("talk_ms", Prop::Num(60_000)),
            ("messages", Prop::Num(2)),
            ("reason", Prop::Label("visitor_left"))
        ]
    }));
    assert_eq!(
        s.end(EndReason::AdvisorLeft, T0 + 93_000),
        Err(SessionError::Ended)
    );
    assert_eq!(s.can_chat(), Err(SessionError::Ended));
}

#[test]
fn decline_queue_timeout_and_inactivity() {
    let policy = SessionPolicy::default();
    let mut s = joined_session(Channel::Chat, T0);
    s.ring(id("anna"), &policy, T0).expect("ring");
    assert_eq!(s.decline(&id("ben")), Err(SessionError::NotYours));
    let declined = s.decline(&id("anna")).expect("decline");
    assert_eq!(names(&declined), vec![EventName::Declined]);
    assert!(declined.contains(&Effect::Release {
        advisor: id("anna")
    }));
    assert_eq!(
        s.nobody_free(false, &policy, T0 + 1000).expect("nobody"),
        Vec::<Effect>::new()
    );
    let queued = s.nobody_free(true, &policy, T0 + 2000).expect("queue");
    assert_eq!(names(&queued), vec![EventName::Queued]);
    assert_eq!(s.next_deadline(&policy), Some(T0 + 2000 + policy.queue_ms));
    let timeout = s.tick(&policy, T0 + 2000 + policy.queue_ms);
    assert!(matches!(
        s.phase,
        Phase::Ended {
            reason: EndReason::QueueTimeout,
            ..
        }
    ));
    assert_eq!(names(&timeout), vec![EventName::SessionEnded]);

    let mut s = joined_session(Channel::Chat, T0);
    s.ring(id("anna"), &policy, T0).expect("ring");
    s.accept(&id("anna"), T0 + 1).expect("accept");
    s.messages_seen(1, Some(T0 + 10_000));
    assert!(
        s.tick(&policy, T0 + 10_000 + policy.inactivity_ms - 1)
            .is_empty()
    );
    let idle = s.tick(&policy, T0 + 10_000 + policy.inactivity_ms);
    assert!(idle.contains(&Effect::Release {
        advisor: id("anna")
    }));
    assert!(matches!(
        s.phase,
        Phase::Ended {
            reason: EndReason::Inactivity,
            ..
        }
    ));
}

#[test]
fn visitor_leaving_while_ringing_releases_and_offline_message_is_recorded() {
    let policy = SessionPolicy::default();
    let mut s = joined_session(Channel::Audio, T0);
    s.ring(id("anna"), &policy, T0).expect("ring");
    let left = s.end(EndReason::VisitorLeft, T0 + 5000).expect("end");
    assert!(left.contains(&Effect::StopRinging {
        advisor: id("anna")
    }));
    assert!(left.contains(&Effect::Release {
        advisor: id("anna")
    }));
    let mut s = joined_session(Channel::Chat, T0);
    let offline = s
        .end(EndReason::OfflineMessage, T0 + 9000)
        .expect("offline");
    assert_eq!(
        names(&offline),
        vec![EventName::OfflineMessage, EventName::SessionEnded]
    );
    assert_eq!(
        s.ring(id("anna"), &policy, T0 + 9001),
        Err(SessionError::NotRoutable)
    );
}

#[test]
fn card_request_asks_its_advisor_then_offers_a_colleague_or_the_queue() {
    let policy = SessionPolicy::default();
    let mut s = joined_session(Channel::Chat, T0);
    s.request = Wanted {
        origin: Origin::Card,
        topic: Some("sales".into()),
        advisor: Some(id("anna")),
        ..Wanted::default()
    };
    let request = s.route_request();
    assert_eq!(request.only, Some(id("anna")));
    assert_eq!(s.request.queue_key().to_string(), "advisor:anna");
    s.ring(id("anna"), &policy, T0).expect("ring");
    s.decline(&id("anna")).expect("decline");
    // Anna said no: waiting for her makes no sense; a colleague does.
    assert_eq!(
        s.nobody_free(true, &policy, T0 + 10).expect("offer"),
        Vec::<Effect>::new()
    );
    assert_eq!(s.options(), vec!["colleague", "offline"]);
    assert_eq!(s.choose_wait(T0 + 20), Err(SessionError::NotOffered));
    s.choose_colleague(T0 + 20).expect("colleague");
    let request = s.route_request();
    assert_eq!(request.only, None);
    assert!(request.exclude.contains(&id("anna")));
    assert_eq!(request.topic.as_deref(), Some("sales"));
    assert_eq!(s.request.queue_key().to_string(), "topic:sales");
    assert_eq!(s.choose_colleague(T0 + 30), Err(SessionError::NotOffered));
    // Nobody else is free either: the visitor waits, keeping their place
    // when a ring from the queue is missed.
    s.choose_wait(T0 + 1_000).expect("wait");
    s.nobody_free(true, &policy, T0 + 1_000).expect("queue");
    s.ring(id("ben"), &policy, T0 + 5_000)
        .expect("ring from queue");
    s.tick(&policy, T0 + 35_000);
    s.nobody_free(true, &policy, T0 + 35_001)
        .expect("back in line");
    assert_eq!(
        s.phase,
        Phase::Queued {
            since: T0 + 1_000,
            until: T0 + 1_000 + policy.queue_ms
        }
    );
    // An unanswered offer ends the session after the queue time.
    let mut s = joined_session(Channel::Chat, T0);
    s.nobody_free(false, &policy, T0).expect("offer");
    assert_eq!(s.next_deadline(&policy), Some(T0 + policy.queue_ms));
    s.tick(&policy, T0 + policy.queue_ms);
    assert!(matches!(
        s.phase,
        Phase::Ended {
            reason: EndReason::Abandoned,
            ..
        }
    ));
}

#[test]
fn serializes_for_the_store() {
    let policy = SessionPolicy::default();
    let mut s = joined_session(Channel::Chat, T0);
    s.ring(id("anna"), &policy, T0).expect("ring");
    let json = serde_json::to_value(&s).expect("json");
    assert_eq!(json["phase"]["phase"], "ringing");
    let back: Session = serde_json::from_value(json).expect("round trip");
    assert_eq!(back, s);
}

fn props_of(effects: &[Effect], wanted: EventName) -> Vec<(&'static str, Prop)> {
    effects
        .iter()
        .find_map(|e| match e {
            Effect::Event { name, props, .. } if *name == wanted => Some(props.clone()),
            _ => None,
        })
        .unwrap_or_default()
}

#[test]
fn calls_start_change_medium_report_their_path_and_end() {
    let policy = SessionPolicy::default();
    let mut s = joined_session(Channel::Chat, T0);
    s.ring(id("anna"), &policy, T0).expect("ring");
    assert!(
        names(&s.accept(&id("anna"), T0 + 1_000).expect("accept"))
            .iter()
            .all(|n| *n != EventName::CallStarted)
    );
    assert_eq!(
        s.call_report(Some(IcePath::Relay), T0 + 2_000),
        Err(SessionError::NoCall)
    );
    // chat -> audio: the call starts.
    let up = s.upgrade(Channel::Audio, T0 + 10_000).expect("audio");
    assert_eq!(
        props_of(&up, EventName::CallStarted),
        vec![("media", Prop::Label("audio"))]
    );
    // audio -> video -> audio: upgraded each way; the same medium is no event.
    let up = s.upgrade(Channel::Video, T0 + 20_000).expect("video");
    assert_eq!(
        props_of(&up, EventName::CallUpgraded),
        vec![("from", Prop::Label("audio")), ("to", Prop::Label("video"))]
    );
    assert!(
        s.upgrade(Channel::Video, T0 + 21_000)
            .expect("same")
            .is_empty()
    );
    assert_eq!(
        names(&s.upgrade(Channel::Audio, T0 + 25_000).expect("down")),
        vec![EventName::CallUpgraded]
    );
    // Reports keep the session alive and name each new path once.
    let report = s
        .call_report(Some(IcePath::Relay), T0 + 30_000)
        .expect("report");
    assert_eq!(
        props_of(&report, EventName::IcePath),
        vec![("path", Prop::Label("relay"))]
    );
    assert!(
        s.call_report(Some(IcePath::Relay), T0 + 14 * 60_000)
            .expect("again")
            .is_empty()
    );
    assert!(
        s.tick(&policy, T0 + 16 * 60_000).is_empty(),
        "a reported call is activity"
    );
    // audio -> chat: the call ends with its duration; the session goes on.
    let down = s.upgrade(Channel::Chat, T0 + 16 * 60_000).expect("chat");
    assert_eq!(
        props_of(&down, EventName::CallEnded),
        vec![
            ("media", Prop::Label("audio")),
            ("duration_ms", Prop::Num(16 * 60_000 - 10_000)),
            ("path", Prop::Label("relay"))
        ]
    );
    assert_eq!(s.call, None);
    assert!(!s.is_ended());

    // A card that offers chat and audio only: no side can start video.
    let mut s = joined_session(Channel::Chat, T0);
    s.request.channels = Some(ChannelSet::NONE.with(Channel::Chat).with(Channel::Audio));
    s.ring(id("anna"), &policy, T0).expect("ring");
    s.accept(&id("anna"), T0 + 1_000).expect("accept");
    assert_eq!(
        s.upgrade(Channel::Video, T0 + 2_000),
        Err(SessionError::ChannelNotOffered)
    );
    assert_eq!(
        (s.channel, s.call.is_none()),
        (Channel::Chat, true),
        "nothing changed"
    );
    s.upgrade(Channel::Audio, T0 + 3_000)
        .expect("audio is offered");
    s.upgrade(Channel::Chat, T0 + 4_000)
        .expect("back to chat, always");

    // A contact asked for as video starts as a call, and hanging up ends both.
    let mut s = joined_session(Channel::Video, T0);
    s.ring(id("ben"), &policy, T0).expect("ring");
    let accepted = s.accept(&id("ben"), T0 + 5_000).expect("accept");
    assert_eq!(
        props_of(&accepted, EventName::CallStarted),
        vec![("media", Prop::Label("video"))]
    );
    let ended = s.end(EndReason::VisitorLeft, T0 + 65_000).expect("end");
    assert_eq!(
        props_of(&ended, EventName::CallEnded),
        vec![
            ("media", Prop::Label("video")),
            ("duration_ms", Prop::Num(60_000))
        ]
    );
    assert!(names(&ended).contains(&EventName::SessionEnded));
    assert_eq!(s.call_report(None, T0 + 70_000), Err(SessionError::Ended));
}

#[test]
fn handle_adds_what_every_transition_implies() {
    let policy = SessionPolicy::default();
    let mut s = Session::new(Channel::Chat, T0);
    s.request.topic = Some("sales".into());
    let joined = s.handle(Input::VisitorJoins, &policy, T0).expect("join");
    assert_eq!(joined, vec![Effect::Announce { advisors: vec![] }]);
    // Waiting enters the topic's queue; a ring from it leaves it.
    let queued = s.handle(Input::ChooseWait, &policy, T0 + 1).expect("wait");
    assert_eq!(
        queued[0],
        Effect::Enqueue {
            queue: QueueKey::Topic("sales".into()),
            since: T0 + 1,
            until: T0 + 1 + policy.queue_ms
        }
    );
    let rung = s
        .handle(Input::Ring(id("anna")), &policy, T0 + 2)
        .expect("ring");
    assert_eq!(
        rung[0],
        Effect::Dequeue {
            queue: QueueKey::Topic("sales".into()),
            since: T0 + 1
        }
    );
    assert!(rung.contains(&Effect::Event {
        name: EventName::Ringing,
        advisor: Some(id("anna")),
        props: vec![]
    }));
    // A decline names the advisor who declined, and tells them and the visitor.
    let declined = s
        .handle(Input::Decline(id("anna")), &policy, T0 + 3)
        .expect("decline");
    assert!(declined.contains(&Effect::Event {
        name: EventName::Declined,
        advisor: Some(id("anna")),
        props: vec![]
    }));
    assert_eq!(
        declined.last(),
        Some(&Effect::Announce {
            advisors: vec![id("anna")]
        })
    );
    // Reaching an advisor is remembered for the visitor's next contact.
    s.handle(Input::Ring(id("ben")), &policy, T0 + 4)
        .expect("ring");
    let accepted = s
        .handle(Input::Accept(id("ben")), &policy, T0 + 5)
        .expect("accept");
    assert!(accepted.contains(&Effect::Remember { advisor: id("ben") }));
    // A refused input changes nothing and implies nothing.
    let before = s.clone();
    assert_eq!(
        s.handle(Input::Accept(id("ben")), &policy, T0 + 6),
        Err(SessionError::NotRinging)
    );
    assert_eq!(s, before);
    // An input that changes nothing tells nobody.
    assert_eq!(
        s.handle(Input::Upgrade(Channel::Chat), &policy, T0 + 5),
        Ok(vec![])
    );
}

#[test]
fn screens_are_shared_by_the_advisor_or_by_an_asked_visitor_one_at_a_time() {
    let policy = SessionPolicy::default();
    let mut s = joined_session(Channel::Chat, T0);
    s.ring(id("anna"), &policy, T0).expect("ring");
    s.accept(&id("anna"), T0 + 1_000).expect("accept");
    let stream = || Some("screen-1".to_owned());
    // No call: nothing to add a screen to.
    assert_eq!(
        s.share(Side::Advisor, ShareAction::Start, stream(), T0 + 2_000),
        Err(SessionError::NoCall)
    );
    s.upgrade(Channel::Audio, T0 + 3_000).expect("audio");
    // The visitor may not share unasked, nor ask; the advisor may share.
    assert_eq!(
        s.share(Side::Visitor, ShareAction::Start, stream(), T0 + 4_000),
        Err(SessionError::NotAllowed)
    );
    assert_eq!(
        s.share(Side::Visitor, ShareAction::Ask, None, T0 + 4_000),
        Err(SessionError::NotAllowed)
    );
    assert_eq!(
        s.share(
            Side::Advisor,
            ShareAction::Start,
            Some("bad id!".into()),
            T0
        ),
        Err(SessionError::NotOffered)
    );
    let started = s
        .share(Side::Advisor, ShareAction::Start, stream(), T0 + 5_000)
        .expect("advisor shares");
    assert_eq!(
        props_of(&started, EventName::ScreenShareStarted),
        vec![("by", Prop::Label("advisor"))]
    );
    let share = s
        .call
        .as_ref()
        .and_then(|c| c.share.clone())
        .expect("share");
    assert_eq!(
        (share.side, share.stream.as_str()),
        (Side::Advisor, "screen-1")
    );
    // Another window of the same share is no new share; the other side
    // cannot start one meanwhile, nor be asked.
    assert!(
        s.share(
            Side::Advisor,
            ShareAction::Start,
            Some("screen-2".into()),
            T0 + 6_000
        )
        .expect("replaced")
        .is_empty()
    );
    assert_eq!(
        s.share(Side::Advisor, ShareAction::Ask, None, T0 + 6_000),
        Err(SessionError::NotOffered)
    );
    // The visitor stops it: ended, with the duration from the start.
    let stopped = s
        .share(Side::Visitor, ShareAction::Stop, None, T0 + 65_000)
        .expect("stop");
    assert_eq!(
        props_of(&stopped, EventName::ScreenShareEnded),
        vec![
            ("by", Prop::Label("advisor")),
            ("duration_ms", Prop::Num(60_000)),
            ("stopped_by", Prop::Label("visitor")),
        ]
    );
    assert_eq!(
        s.share(Side::Visitor, ShareAction::Stop, None, T0 + 66_000),
        Err(SessionError::NotOffered)
    );
    // The advisor asks; the visitor declines, then (asked again) shares.
    s.share(Side::Advisor, ShareAction::Ask, None, T0 + 70_000)
        .expect("ask");
    assert!(s.share_asked);
    s.share(Side::Visitor, ShareAction::Decline, None, T0 + 71_000)
        .expect("decline");
    assert!(!s.share_asked);
    assert_eq!(
        s.share(Side::Visitor, ShareAction::Decline, None, T0 + 72_000),
        Err(SessionError::NotOffered)
    );
    s.share(Side::Advisor, ShareAction::Ask, None, T0 + 73_000)
        .expect("ask again");
    assert_eq!(
        names(
            &s.share(Side::Visitor, ShareAction::Start, stream(), T0 + 74_000)
                .expect("visitor shares")
        ),
        vec![EventName::ScreenShareStarted]
    );
    assert!(!s.share_asked, "the ask is answered");
    // The call ends while the screen is shared: both end.
    let ended = s.upgrade(Channel::Chat, T0 + 84_000).expect("chat");
    assert_eq!(
        names(&ended),
        vec![EventName::ScreenShareEnded, EventName::CallEnded]
    );
    assert_eq!(
        props_of(&ended, EventName::ScreenShareEnded),
        vec![
            ("by", Prop::Label("visitor")),
            ("duration_ms", Prop::Num(10_000))
        ]
    );
}

#[test]
fn identity_checks_are_asked_consented_and_decided_by_the_right_side() {
    let policy = SessionPolicy::default();
    let mut s = joined_session(Channel::Chat, T0);
    s.ring(id("anna"), &policy, T0).expect("ring");
    s.accept(&id("anna"), T0 + 1_000).expect("accept");
    let act = |s: &mut Session, side, action, outcome, note: Option<&str>, at| {
        s.identity(side, action, false, outcome, note.map(str::to_owned), at)
    };
    // Only the advisor asks and decides; only the visitor consents.
    assert_eq!(
        act(&mut s, Side::Visitor, IdentityAction::Ask, None, None, T0),
        Err(SessionError::NotAllowed)
    );
    assert_eq!(
        act(
            &mut s,
            Side::Visitor,
            IdentityAction::Consent,
            None,
            None,
            T0
        ),
        Err(SessionError::NotOffered),
        "nothing to consent to yet"
    );
    s.identity(
        Side::Advisor,
        IdentityAction::Ask,
        true,
        None,
        None,
        T0 + 2_000,
    )
    .expect("ask");
    assert_eq!(
        act(&mut s, Side::Advisor, IdentityAction::Ask, None, None, T0),
        Err(SessionError::NotOffered),
        "one at a time"
    );
    assert_eq!(
        act(
            &mut s,
            Side::Advisor,
            IdentityAction::Consent,
            None,
            None,
            T0
        ),
        Err(SessionError::NotAllowed)
    );
    assert_eq!(
        act(
            &mut s,
            Side::Advisor,
            IdentityAction::Result,
            Some(IdentityOutcome::Verified),
            None,
            T0
        ),
        Err(SessionError::NotOffered),
        "not verified before consent"
    );
    act(
        &mut s,
        Side::Visitor,
        IdentityAction::Consent,
        None,
        None,
        T0 + 3_000,
    )
    .expect("consent");
    assert_eq!(
        act(
            &mut s,
            Side::Visitor,
            IdentityAction::Result,
            Some(IdentityOutcome::Verified),
            None,
            T0
        ),
        Err(SessionError::NotAllowed)
    );
    assert_eq!(
        act(
            &mut s,
            Side::Advisor,
            IdentityAction::Result,
            Some(IdentityOutcome::Verified),
            Some(&"x".repeat(501)),
            T0
        ),
        Err(SessionError::NotOffered),
        "a note of at most 500 characters"
    );
    let done = act(
        &mut s,
        Side::Advisor,
        IdentityAction::Result,
        Some(IdentityOutcome::Verified),
        Some("ID card, valid until 2031"),
        T0 + 33_000,
    )
    .expect("verified");
    assert_eq!(
        props_of(&done, EventName::IdentityCheck),
        vec![
            ("outcome", Prop::Label("verified")),
            ("face", Prop::Label("yes")),
            ("duration_ms", Prop::Num(31_000)),
        ]
    );
    let check = s.identity.clone().expect("check");
    assert_eq!(check.note.as_deref(), Some("ID card, valid until 2031"));
    assert_eq!(check.state, IdentityState::Done);
    // Asked again: declined by the visitor.
    act(
        &mut s,
        Side::Advisor,
        IdentityAction::Ask,
        None,
        None,
        T0 + 40_000,
    )
    .expect("ask");
    let declined = act(
        &mut s,
        Side::Visitor,
        IdentityAction::Decline,
        None,
        None,
        T0 + 41_000,
    )
    .expect("decline");
    assert_eq!(
        props_of(&declined, EventName::IdentityCheck)[0],
        ("outcome", Prop::Label("declined"))
    );
    // Asked again, then the session ends: aborted.
    act(
        &mut s,
        Side::Advisor,
        IdentityAction::Ask,
        None,
        None,
        T0 + 50_000,
    )
    .expect("ask");
    assert_eq!(s.identity_history.len(), 2, "the decided checks are kept");
    assert_eq!(
        s.identity_history[0].note.as_deref(),
        Some("ID card, valid until 2031")
    );
    let ended = s.end(EndReason::VisitorLeft, T0 + 60_000).expect("end");
    assert_eq!(
        props_of(&ended, EventName::IdentityCheck)[0],
        ("outcome", Prop::Label("aborted"))
    );
}

fn released(effects: &[Effect]) -> Vec<AdvisorId> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Release { advisor } => Some(advisor.clone()),
            _ => None,
        })
        .collect()
}

fn announced(effects: &[Effect]) -> Vec<AdvisorId> {
    effects
        .iter()
        .find_map(|e| match e {
            Effect::Announce { advisors } => Some(advisors.clone()),
            _ => None,
        })
        .unwrap_or_default()
}

#[test]
fn colleagues_join_the_chat_as_guests_and_every_way_out_gives_their_slot_back() {
    let policy = SessionPolicy::default();
    let mut s = joined_session(Channel::Chat, T0);
    let invite = |by: &str, guest: &str| Input::Invite {
        by: id(by),
        guest: id(guest),
    };
    // Not before the contact is taken.
    assert_eq!(
        s.handle(invite("anna", "ben"), &policy, T0),
        Err(SessionError::NotConnected)
    );
    s.handle(Input::Ring(id("anna")), &policy, T0)
        .expect("ring");
    s.handle(Input::Accept(id("anna")), &policy, T0 + 1_000)
        .expect("accept");
    // Only the advisor who has it invites; nobody twice, not themselves,
    // at most MAX_GUESTS.
    assert_eq!(
        s.handle(invite("ben", "clara"), &policy, T0 + 2_000),
        Err(SessionError::NotYours)
    );
    assert_eq!(
        s.handle(invite("anna", "anna"), &policy, T0 + 2_000),
        Err(SessionError::NotOffered)
    );
    let effects = s
        .handle(invite("anna", "ben"), &policy, T0 + 2_000)
        .expect("invite");
    assert_eq!(names(&effects), vec![EventName::GuestJoined]);
    assert!(announced(&effects).contains(&id("ben")), "{effects:?}");
    assert!(s.is_guest(&id("ben")));
    assert_eq!(
        s.handle(invite("anna", "ben"), &policy, T0 + 2_500),
        Err(SessionError::NotOffered)
    );
    s.handle(invite("anna", "clara"), &policy, T0 + 2_500)
        .expect("a second guest");
    assert_eq!(
        s.handle(invite("anna", "dora"), &policy, T0 + 2_600),
        Err(SessionError::NotOffered),
        "at most {MAX_GUESTS} guests"
    );
    // A guest leaves: their slot is given back, and they are told too.
    let effects = s
        .handle(Input::Leave(id("clara")), &policy, T0 + 5_000)
        .expect("leave");
    assert_eq!(released(&effects), vec![id("clara")]);
    assert_eq!(
        props_of(&effects, EventName::GuestLeft),
        vec![
            ("duration_ms", Prop::from(2_500u64)),
            ("reason", Prop::from("left"))
        ]
    );
    assert!(announced(&effects).contains(&id("clara")));
    assert_eq!(
        s.handle(Input::Leave(id("clara")), &policy, T0 + 5_100),
        Err(SessionError::NotAllowed),
        "only a guest leaves"
    );
    // Handing over to the guest: they take it with the slot they hold
    // (nothing released for them); the giver's slot goes back.
    let effects = s
        .handle(
            Input::Transfer {
                from: id("anna"),
                to: id("ben"),
                by_topic: false,
                note: None,
            },
            &policy,
            T0 + 6_000,
        )
        .expect("hand over to the guest");
    assert_eq!(released(&effects), vec![id("anna")]);
    assert!(s.guests.is_empty());
    assert_eq!(s.connected_advisor(), Some(&id("ben")));
    // The session ends with a guest in it: both slots come back.
    s.handle(invite("ben", "clara"), &policy, T0 + 7_000)
        .expect("invite again");
    let effects = s
        .handle(Input::End(EndReason::VisitorLeft), &policy, T0 + 9_000)
        .expect("end");
    let mut back = released(&effects);
    back.sort();
    assert_eq!(back, vec![id("ben"), id("clara")]);
    assert_eq!(
        props_of(&effects, EventName::GuestLeft)
            .into_iter()
            .find(|(k, _)| *k == "reason"),
        Some(("reason", Prop::from("ended")))
    );
    assert!(s.guests.is_empty());
    // The session as stored keeps guests across a read.
    let mut t = joined_session(Channel::Chat, T0);
    t.handle(Input::Ring(id("anna")), &policy, T0)
        .expect("ring");
    t.handle(Input::Accept(id("anna")), &policy, T0 + 1)
        .expect("accept");
    t.handle(invite("anna", "ben"), &policy, T0 + 2)
        .expect("invite");
    let json = serde_json::to_string(&t).expect("json");
    let back: Session = serde_json::from_str(&json).expect("read");
    assert_eq!(back, t);
}
