//! Random interleavings of everything that happens to contacts, thrown at
//! the simulated deployment (`sim`), in the manner of quinn-proto's
//! `proptest.rs`. After every step the world checks its invariants (no
//! advisor over capacity, claims and rings accounted for, queues in step
//! with the sessions, every session with a deadline, each transition's
//! event once); at the end the clock runs to every session's end and
//! nothing may be left held, queued or ringing.
//!
//! The README's test command runs 1,024 cases; `PROPTEST_CASES=20000 cargo
//! test -p livecard-core --test proptest` runs more. A failing case is
//! shrunk and kept in `proptest-regressions/`; add it to
//! `tests/simulation.rs` as a named case.

mod sim;

use livecard_core::channel::Channel;
use livecard_core::session::Side;
use proptest::prelude::*;
use sim::World;

#[derive(Debug, Clone)]
enum Action {
    Request {
        channel: Channel,
        topic: Option<&'static str>,
        card: Option<usize>,
    },
    Join(usize),
    Accept(usize, usize),
    AcceptRinging(usize),
    Decline(usize, usize),
    DeclineRinging(usize),
    Wait(usize),
    Colleague(usize),
    Chat(usize, u32),
    Upgrade(usize, Channel),
    Hangup(usize, Side),
    Presence(usize, bool),
    Capacity(usize, u8),
    /// Time passes: to the next deadline, or by some seconds.
    Advance,
    Pass(u64),
}

fn channel() -> impl Strategy<Value = Channel> {
    prop_oneof![
        Just(Channel::Chat),
        Just(Channel::Audio),
        Just(Channel::Video)
    ]
}

fn action() -> impl Strategy<Value = Action> {
    let index = 0usize..8;
    prop_oneof![
        3 => (channel(), prop::option::of(prop_oneof![Just("sales"), Just("support")]), prop::option::weighted(0.3, 0usize..3))
            .prop_map(|(channel, topic, card)| Action::Request { channel, topic, card }),
        3 => index.clone().prop_map(Action::Join),
        1 => (index.clone(), 0usize..3).prop_map(|(s, a)| Action::Accept(s, a)),
        3 => index.clone().prop_map(Action::AcceptRinging),
        1 => (index.clone(), 0usize..3).prop_map(|(s, a)| Action::Decline(s, a)),
        2 => index.clone().prop_map(Action::DeclineRinging),
        2 => index.clone().prop_map(Action::Wait),
        1 => index.clone().prop_map(Action::Colleague),
        2 => (index.clone(), 1u32..4).prop_map(|(s, n)| Action::Chat(s, n)),
        1 => (index.clone(), channel()).prop_map(|(s, c)| Action::Upgrade(s, c)),
        2 => (index.clone(), prop_oneof![Just(Side::Visitor), Just(Side::Advisor)]).prop_map(|(s, side)| Action::Hangup(s, side)),
        1 => (0usize..3, any::<bool>()).prop_map(|(a, on)| Action::Presence(a, on)),
        1 => (0usize..3, 0u8..4).prop_map(|(a, c)| Action::Capacity(a, c)),
        2 => Just(Action::Advance),
        2 => (0u64..120).prop_map(|s| Action::Pass(s * 1000)),
    ]
}

fn run(capacities: &[u8], actions: &[Action]) {
    let mut world = World::new(capacities);
    for action in actions {
        let sessions = world.sessions.len();
        let pick = |i: usize| (sessions > 0).then(|| i % sessions);
        // Refusals (a wrong advisor, a session in the wrong phase) are part
        // of the game: they must change nothing, which `check` sees.
        match action.clone() {
            Action::Request {
                channel,
                topic,
                card,
            } => {
                world.request(channel, topic, card);
            }
            Action::Join(i) => {
                if let Some(s) = pick(i) {
                    world.join(s);
                }
            }
            Action::Accept(i, a) => {
                if let Some(s) = pick(i) {
                    let _ = world.accept(s, a);
                }
            }
            Action::AcceptRinging(i) => {
                if let Some((s, a)) = pick(i).and_then(|s| world.rung(s)) {
                    world
                        .accept(s, a)
                        .expect("the rung advisor accepts in time");
                }
            }
            Action::Decline(i, a) => {
                if let Some(s) = pick(i) {
                    let _ = world.decline(s, a);
                }
            }
            Action::DeclineRinging(i) => {
                if let Some((s, a)) = pick(i).and_then(|s| world.rung(s)) {
                    world.decline(s, a).expect("the rung advisor declines");
                }
            }
            Action::Wait(i) => {
                if let Some(s) = pick(i) {
                    let _ = world.wait(s);
                }
            }
            Action::Colleague(i) => {
                if let Some(s) = pick(i) {
                    let _ = world.colleague(s);
                }
            }
            Action::Chat(i, n) => {
                if let Some(s) = pick(i) {
                    let _ = world.chat(s, n);
                }
            }
            Action::Upgrade(i, channel) => {
                if let Some(s) = pick(i) {
                    let _ = world.upgrade(s, channel);
                }
            }
            Action::Hangup(i, side) => {
                if let Some(s) = pick(i) {
                    let _ = world.hangup(s, side);
                }
            }
            Action::Presence(a, on) => world.set_presence(a, on),
            Action::Capacity(a, c) => world.set_capacity(a, c),
            Action::Advance => {
                world.advance();
            }
            Action::Pass(ms) => world.pass(ms),
        }
        world.check();
    }
    world.drain();
    world.check_drained();
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn contacts_keep_their_invariants(
        capacities in prop::collection::vec(1u8..3, 1..4),
        actions in prop::collection::vec(action(), 0..80),
    ) {
        run(&capacities, &actions);
    }
}
