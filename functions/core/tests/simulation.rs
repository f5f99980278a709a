//! Whole contacts run through the simulated deployment (`sim`): the clock
//! moves only to the sessions' own deadlines, and the world checks its
//! invariants after every step. Seeds the property test found failing are
//! kept here as named cases.

mod sim;

use livecard_core::channel::Channel;
use livecard_core::event::EventName;
use livecard_core::session::{EndReason, Phase, Side};
use sim::World;

fn events(world: &World, index: usize) -> Vec<EventName> {
    world.sessions[index]
        .events
        .iter()
        .map(|(n, ..)| *n)
        .collect()
}

#[test]
fn a_ring_nobody_answers_moves_to_the_next_advisor_then_the_queue() {
    let mut world = World::new(&[1, 1]);
    let s = world.request(Channel::Chat, None, None);
    world.join(s);
    let first = world.sessions[s].session.ringing_advisor().cloned();
    assert!(first.is_some(), "rung at once");
    world.check();
    // Nobody answers: at the ring's own deadline the next advisor rings.
    world.advance();
    world.check();
    let second = world.sessions[s].session.ringing_advisor().cloned();
    assert!(
        second.is_some() && second != first,
        "the other advisor rings"
    );
    // Nobody answers again: nobody is left, the visitor is offered choices.
    world.advance();
    world.check();
    assert_eq!(world.sessions[s].session.phase, Phase::Routing);
    assert_eq!(world.sessions[s].session.options(), vec!["wait", "offline"]);
    assert_eq!(
        events(&world, s)
            .iter()
            .filter(|n| **n == EventName::Missed)
            .count(),
        2
    );
    world.drain();
    world.check_drained();
}

#[test]
fn a_full_advisor_serves_the_queue_when_a_contact_ends() {
    let mut world = World::new(&[1]);
    let first = world.request(Channel::Chat, Some("sales"), None);
    world.join(first);
    world.accept(first, 0).expect("accept");
    let second = world.request(Channel::Chat, Some("sales"), None);
    world.join(second);
    world.wait(second).expect("wait");
    assert!(matches!(
        world.sessions[second].session.phase,
        Phase::Queued { .. }
    ));
    world.check();
    world.chat(first, 3).expect("chat");
    world.hangup(first, Side::Visitor).expect("hang up");
    world.check();
    // The released slot rings the first in line at once.
    assert!(world.sessions[second].session.ringing_advisor().is_some());
    world.accept(second, 0).expect("accept");
    world.drain();
    world.check_drained();
    assert!(matches!(
        world.sessions[second].session.phase,
        Phase::Ended {
            reason: EndReason::Inactivity,
            ..
        }
    ));
}

#[test]
fn a_card_visitor_whose_advisor_is_busy_takes_a_colleague() {
    let mut world = World::new(&[1, 1, 1]);
    // a0 is busy with someone else.
    let busy = world.request(Channel::Chat, None, Some(0));
    world.join(busy);
    world.accept(busy, 0).expect("accept");
    let card = world.request(Channel::Chat, Some("sales"), Some(0));
    world.join(card);
    world.check();
    assert_eq!(
        world.sessions[card].session.options(),
        vec!["wait", "colleague", "offline"]
    );
    world.colleague(card).expect("a colleague instead");
    world.check();
    let rung = world.sessions[card].session.ringing_advisor().cloned();
    assert_eq!(rung, Some(world.advisor_id(2)), "a2 serves sales too");
    world.drain();
    world.check_drained();
}

#[test]
fn an_advisor_who_comes_online_serves_those_waiting() {
    let mut world = World::new(&[2]);
    world.set_presence(0, false);
    let s = world.request(Channel::Audio, None, None);
    world.join(s);
    world.wait(s).expect("wait");
    world.check();
    world.set_presence(0, true);
    world.check();
    assert!(world.sessions[s].session.ringing_advisor().is_some());
    world.accept(s, 0).expect("accept");
    world.upgrade(s, Channel::Video).expect("video");
    world.upgrade(s, Channel::Chat).expect("back to chat");
    world.drain();
    world.check_drained();
}

#[test]
fn a_request_whose_visitor_never_joins_ends_and_rings_nobody() {
    let mut world = World::new(&[1]);
    let s = world.request(Channel::Chat, None, None);
    world.pass(30_000);
    assert!(world.ringing.values().all(|r| r.is_empty()));
    world.drain();
    world.check_drained();
    assert_eq!(events(&world, s), vec![EventName::SessionEnded]);
}
