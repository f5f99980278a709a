use super::*;
use PresenceState::*;
use proptest::prelude::*;

const T0: UnixMillis = 1_700_000_000_000;
const HOUR: u64 = 3_600_000;

fn policy() -> PresencePolicy {
    PresencePolicy::default()
}

/// A presence with an open console and the given manual state on every
/// channel.
fn console_with_manual(state: PresenceState) -> Presence {
    let mut p = Presence::default();
    let update = policy()
        .console_update(
            Channel::ALL.iter().map(|c| (*c, state)).collect(),
            T0,
            T0 + HOUR,
        )
        .expect("valid");
    assert!(p.apply(&update));
    p
}

fn source(p: &mut Presence, source: PresenceSource, states: &[(Channel, Signal)], version: u64) {
    let update = policy()
        .source_update(source, states.to_vec(), version, None, T0)
        .expect("valid");
    assert!(p.apply(&update), "{source:?} v{version}");
}

fn eff(p: &Presence, c: Channel, now: UnixMillis) -> PresenceState {
    p.effective(c, ChannelSet::ALL, &policy(), now)
}

#[test]
fn per_source_versions_never_make_another_sources_update_stale() {
    let mut p = console_with_manual(Available);
    // Teams' clock is far behind the server's: its first update still applies.
    source(
        &mut p,
        PresenceSource::Teams,
        &[(Channel::Chat, Signal::Busy)],
        10,
    );
    let older = policy()
        .source_update(
            PresenceSource::Teams,
            vec![(Channel::Chat, Signal::Away)],
            9,
            None,
            T0,
        )
        .expect("valid");
    let tie = policy()
        .source_update(
            PresenceSource::Teams,
            vec![(Channel::Chat, Signal::Away)],
            10,
            None,
            T0,
        )
        .expect("valid");
    assert!(!p.apply(&older), "older is stale");
    assert!(!p.apply(&tie), "a tie is stale");
    assert_eq!(
        p.entry(PresenceSource::Teams, Channel::Chat)
            .map(|e| e.signal),
        Some(Signal::Busy)
    );
}

#[test]
fn an_update_is_all_or_nothing_across_its_channels() {
    let mut p = Presence::default();
    source(
        &mut p,
        PresenceSource::Webhook,
        &[(Channel::Chat, Signal::Busy)],
        50,
    );
    let mixed = policy()
        .source_update(
            PresenceSource::Webhook,
            vec![
                (Channel::Chat, Signal::Available),
                (Channel::Audio, Signal::Available),
            ],
            40,
            None,
            T0,
        )
        .expect("valid");
    assert!(!p.apply(&mixed));
    assert_eq!(p.entry(PresenceSource::Webhook, Channel::Audio), None);
}

#[test]
fn without_a_console_heartbeat_nothing_rings_in_the_browser() {
    let mut p = Presence::default();
    source(
        &mut p,
        PresenceSource::Teams,
        &[
            (Channel::Chat, Signal::Available),
            (Channel::Audio, Signal::Available),
        ],
        1,
    );
    let d = p.decide(Channel::Audio, ChannelSet::ALL, &policy(), T0);
    assert_eq!((d.state, d.rule), (Offline, Rule::NoConsole));
    assert_eq!(eff(&p, Channel::Chat, T0), Offline);
    // A deployment that answers chats elsewhere keeps chat available.
    let lenient = PresencePolicy {
        chat_without_console: true,
        ..policy()
    };
    assert_eq!(
        p.effective(Channel::Chat, ChannelSet::ALL, &lenient, T0),
        Available
    );
    assert_eq!(
        p.effective(Channel::Audio, ChannelSet::ALL, &lenient, T0),
        Offline
    );
    // The console's heartbeat runs out.
    p.extend_heartbeat(T0 + 60_000);
    assert_eq!(eff(&p, Channel::Audio, T0 + 59_999), Available);
    assert_eq!(eff(&p, Channel::Audio, T0 + 60_000), Offline);
}

#[test]
fn a_manual_offline_wins_over_everything() {
    let mut p = console_with_manual(Offline);
    source(
        &mut p,
        PresenceSource::Teams,
        &[(Channel::Audio, Signal::Available)],
        1,
    );
    source(
        &mut p,
        PresenceSource::Call,
        &[(Channel::Audio, Signal::OnCall)],
        2,
    );
    let d = p.decide(Channel::Audio, ChannelSet::ALL, &policy(), T0);
    assert_eq!((d.state, d.rule), (Offline, Rule::ManualOffline));
}

#[test]
fn a_call_makes_audio_and_video_busy_over_a_manual_available_but_not_chat() {
    let mut p = console_with_manual(Available);
    source(
        &mut p,
        PresenceSource::SipDialog,
        &[
            (Channel::Audio, Signal::OnCall),
            (Channel::Video, Signal::OnCall),
        ],
        5,
    );
    let d = p.decide(Channel::Video, ChannelSet::ALL, &policy(), T0);
    assert_eq!(
        (d.state, d.rule, d.source),
        (Busy, Rule::OnCall, Some(PresenceSource::SipDialog))
    );
    assert_eq!(eff(&p, Channel::Chat, T0), Available);
    // The call ends: the source withdraws, manual available shows again.
    source(
        &mut p,
        PresenceSource::SipDialog,
        &[
            (Channel::Audio, Signal::None),
            (Channel::Video, Signal::None),
        ],
        6,
    );
    assert_eq!(eff(&p, Channel::Video, T0), Available);
}

#[test]
fn a_manual_state_overrides_automatic_sources_until_it_expires() {
    let mut p = console_with_manual(Available);
    source(
        &mut p,
        PresenceSource::Teams,
        &[(Channel::Chat, Signal::DoNotDisturb)],
        1,
    );
    let d = p.decide(Channel::Chat, ChannelSet::ALL, &policy(), T0);
    assert_eq!((d.state, d.rule), (Available, Rule::Manual));
    // After the manual state's hour, Teams decides (with a live console).
    p.extend_heartbeat(T0 + 2 * HOUR);
    let d = p.decide(Channel::Chat, ChannelSet::ALL, &policy(), T0 + HOUR);
    assert_eq!(
        (d.state, d.rule, d.source),
        (Busy, Rule::Automatic, Some(PresenceSource::Teams))
    );
    assert_eq!(p.manual_until(Channel::Chat, T0), Some(T0 + HOUR));
    assert_eq!(p.manual_until(Channel::Chat, T0 + HOUR), None);
}

#[test]
fn automatic_sources_combine_busiest_wins() {
    let mut p = Presence::default();
    p.extend_heartbeat(T0 + HOUR);
    source(
        &mut p,
        PresenceSource::Xmpp,
        &[(Channel::Chat, Signal::Away)],
        1,
    );
    assert_eq!(eff(&p, Channel::Chat, T0), Away);
    source(
        &mut p,
        PresenceSource::Teams,
        &[(Channel::Chat, Signal::Available)],
        1,
    );
    assert_eq!(eff(&p, Channel::Chat, T0), Available);
    source(
        &mut p,
        PresenceSource::Webhook,
        &[(Channel::Chat, Signal::Busy)],
        1,
    );
    assert_eq!(eff(&p, Channel::Chat, T0), Busy);
    source(
        &mut p,
        PresenceSource::Xmpp,
        &[(Channel::Chat, Signal::DoNotDisturb)],
        2,
    );
    let d = p.decide(Channel::Chat, ChannelSet::ALL, &policy(), T0);
    assert_eq!((d.state, d.source), (Busy, Some(PresenceSource::Xmpp)));
    // Offline from one system does not hide what another says.
    source(
        &mut p,
        PresenceSource::Xmpp,
        &[(Channel::Chat, Signal::Offline)],
        3,
    );
    source(
        &mut p,
        PresenceSource::Webhook,
        &[(Channel::Chat, Signal::None)],
        2,
    );
    assert_eq!(eff(&p, Channel::Chat, T0), Available);
}

#[test]
fn an_expired_source_drops_out() {
    let mut p = Presence::default();
    p.extend_heartbeat(T0 + 10 * HOUR);
    let teams = policy()
        .source_update(
            PresenceSource::Teams,
            vec![(Channel::Chat, Signal::Busy)],
            1,
            Some(T0 + 30_000),
            T0,
        )
        .expect("valid");
    assert!(p.apply(&teams));
    source(
        &mut p,
        PresenceSource::Webhook,
        &[(Channel::Chat, Signal::Available)],
        1,
    );
    assert_eq!(eff(&p, Channel::Chat, T0 + 29_999), Busy);
    assert_eq!(eff(&p, Channel::Chat, T0 + 30_000), Available);
    assert_eq!(p.next_expiry(T0), Some(T0 + 30_000));
}

#[test]
fn unoffered_channels_are_offline() {
    let p = console_with_manual(Available);
    let chat_only = ChannelSet::NONE.with(Channel::Chat);
    let d = p.decide(Channel::Video, chat_only, &policy(), T0);
    assert_eq!((d.state, d.rule), (Offline, Rule::NotOffered));
}

#[test]
fn refusals_say_what_is_wrong() {
    let p = policy();
    assert_eq!(
        p.manual_update(vec![], T0, T0 + 1),
        Err(InvalidPresence::Empty)
    );
    assert_eq!(
        p.manual_update(
            vec![(Channel::Chat, Busy), (Channel::Chat, Away)],
            T0,
            T0 + 1
        ),
        Err(InvalidPresence::Duplicate(Channel::Chat))
    );
    assert!(matches!(
        p.manual_update(vec![(Channel::Chat, Busy)], T0, T0 + MAX_MANUAL_MS + 1),
        Err(InvalidPresence::Until { max_days: 7 })
    ));
    assert!(
        p.manual_update(vec![(Channel::Chat, Busy)], T0, T0)
            .is_err()
    );
    let sync = |version, expires| {
        p.source_update(
            PresenceSource::Webhook,
            vec![(Channel::Chat, Signal::Busy)],
            version,
            expires,
            T0,
        )
    };
    assert_eq!(sync(0, None), Err(InvalidPresence::Version));
    assert!(
        sync(T0 + MAX_VERSION_SKEW_MS, None).is_ok(),
        "skew within the bound"
    );
    let err = sync(T0 * 1000, None).expect_err("microseconds as milliseconds");
    assert!(err.to_string().contains("milliseconds"), "{err}");
    assert_eq!(sync(1, Some(T0)), Err(InvalidPresence::Expired));
    assert_eq!(
        p.source_update(
            PresenceSource::Manual,
            vec![(Channel::Chat, Signal::Busy)],
            1,
            None,
            T0
        ),
        Err(InvalidPresence::Source(PresenceSource::Manual))
    );
}

#[test]
fn names_round_trip_and_sync_is_the_webhook() {
    for s in PresenceSource::ALL {
        assert_eq!(s.as_str().parse::<PresenceSource>(), Ok(s));
        let json = serde_json::to_string(&s).expect("json");
        assert_eq!(json, format!("\"{}\"", s.as_str()));
    }
    for s in Signal::ALL {
        assert_eq!(s.as_str().parse::<Signal>(), Ok(s));
        assert_eq!(
            serde_json::to_string(&s).expect("json"),
            format!("\"{}\"", s.as_str())
        );
    }
    assert_eq!(
        "sync".parse::<PresenceSource>(),
        Ok(PresenceSource::Webhook)
    );
    let old: PresenceSource = serde_json::from_str("\"sync\"").expect("alias");
    assert_eq!(old, PresenceSource::Webhook);
}

#[test]
fn the_working_day_ends_at_its_local_hour() {
    let berlin = jiff::tz::TimeZone::get("Europe/Berlin").expect("tz");
    let p = policy();
    // 2026-12-07 09:00 in Berlin is 08:00 UTC.
    let morning: UnixMillis = 1_796_630_400_000;
    assert_eq!(p.end_of_working_day(morning, &berlin), morning + 9 * HOUR);
    // At 19:00 local, the next day's 18:00.
    let evening = morning + 10 * HOUR;
    assert_eq!(p.end_of_working_day(evening, &berlin), evening + 23 * HOUR);
}

#[test]
fn console_labels() {
    let berlin = jiff::tz::TimeZone::get("Europe/Berlin").expect("tz");
    let now: UnixMillis = 1_796_630_400_000; // 09:00 in Berlin
    assert_eq!(clock_label(&berlin, now + 9 * HOUR, now), "18:00");
    assert_eq!(
        clock_label(&berlin, now + 33 * HOUR, now),
        "2026-12-08 18:00"
    );
    assert_eq!(span_label(9 * HOUR), "9 h");
    assert_eq!(span_label(5 * HOUR + 12 * 60_000), "5 h 12 min");
    assert_eq!(span_label(30_001), "1 min");
    assert_eq!(span_label(51 * HOUR), "2 d 3 h");
}

#[test]
fn overall_prefers_available() {
    let view = PresenceView {
        chat: Busy,
        audio: Available,
        video: Offline,
    };
    assert_eq!(view.overall(), Available);
    let view = PresenceView {
        chat: Offline,
        audio: Away,
        video: Busy,
    };
    assert_eq!(view.overall(), Busy);
}

// Property tests: random sources, signals, versions and expiries, checked
// against the written rules at random instants.

fn any_source() -> impl Strategy<Value = PresenceSource> {
    prop::sample::select(PresenceSource::ALL[1..].to_vec())
}

fn any_signal() -> impl Strategy<Value = Signal> {
    prop::sample::select(Signal::ALL.to_vec())
}

fn any_channel() -> impl Strategy<Value = Channel> {
    prop::sample::select(Channel::ALL.to_vec())
}

#[derive(Debug, Clone)]
struct Step {
    source: PresenceSource,
    channel: Channel,
    signal: Signal,
    version: u64,
    expires_in: Option<u64>,
}

fn any_step() -> impl Strategy<Value = Step> {
    (
        any_source(),
        any_channel(),
        any_signal(),
        1u64..50,
        prop::option::of(1u64..20),
    )
        .prop_map(|(source, channel, signal, version, expires_in)| Step {
            source,
            channel,
            signal,
            version,
            expires_in,
        })
}

fn update_of(step: &Step) -> PresenceUpdate {
    let signal = if step.source == PresenceSource::Manual {
        // A manual state is one of the four visible ones.
        match step.signal {
            Signal::DoNotDisturb | Signal::OnCall => Signal::Busy,
            Signal::None => Signal::Away,
            s => s,
        }
    } else {
        step.signal
    };
    PresenceUpdate {
        source: step.source,
        states: vec![(step.channel, signal)],
        version: step.version,
        expires_at: Some(step.expires_in.unwrap_or(100)),
        heartbeat_until: None,
    }
}

fn build(steps: &[Step], heartbeat: Option<u64>) -> Presence {
    let mut p = Presence::default();
    for step in steps {
        p.apply(&update_of(step));
    }
    p.heartbeat_until = heartbeat;
    p
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn order_of_arrival_never_matters(
        steps in prop::collection::vec(any_step(), 0..24),
        seed in any::<u64>(),
    ) {
        // Versions differ per (source, channel) so the outcome is defined.
        let mut seen = std::collections::BTreeSet::new();
        let steps: Vec<Step> = steps
            .into_iter()
            .filter(|s| seen.insert((s.source, s.channel, s.version)))
            .collect();
        let mut shuffled = steps.clone();
        let mut state = seed | 1;
        for i in (1..shuffled.len()).rev() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let j = usize::try_from(state % (i as u64 + 1)).unwrap_or(0);
            shuffled.swap(i, j);
        }
        prop_assert_eq!(build(&steps, None), build(&shuffled, None));
    }

    #[test]
    fn a_stale_update_changes_nothing(
        steps in prop::collection::vec(any_step(), 1..16),
        extra in any_step(),
    ) {
        let mut p = build(&steps, None);
        let before = p.clone();
        let stored = p.entry(extra.source, extra.channel).map(|e| e.version);
        let stale = Step { version: stored.unwrap_or(0), ..extra };
        if stored.is_some() {
            prop_assert!(!p.apply(&update_of(&stale)));
            prop_assert_eq!(p, before);
        }
    }

    #[test]
    fn the_rules_hold_at_every_instant(
        steps in prop::collection::vec(any_step(), 0..24),
        heartbeat in prop::option::of(0u64..30),
        now in 0u64..30,
        chat_without_console: bool,
        offered in prop::sample::subsequence(Channel::ALL.to_vec(), 0..=3),
    ) {
        let p = build(&steps, heartbeat);
        let policy = PresencePolicy { chat_without_console, ..PresencePolicy::default() };
        let offered = offered.into_iter().fold(ChannelSet::NONE, ChannelSet::with);
        for channel in Channel::ALL {
            let d = p.decide(channel, offered, &policy, now);
            let live = p.live_entries(channel, now);
            let console = heartbeat.is_some_and(|h| now < h);
            if !offered.contains(channel) {
                prop_assert_eq!(d.state, Offline);
                continue;
            }
            // No console: no audio or video, whatever another system says.
            if !console && (channel != Channel::Chat || !chat_without_console) {
                prop_assert_eq!(d.state, Offline);
                continue;
            }
            let manual = live.iter().find(|(s, _)| *s == PresenceSource::Manual).map(|(_, e)| e.signal);
            if manual == Some(Signal::Offline) {
                prop_assert_eq!(d.state, Offline);
                continue;
            }
            let on_call = live.iter().any(|(_, e)| e.signal == Signal::OnCall);
            if on_call && channel != Channel::Chat {
                prop_assert_eq!(d.state, Busy, "never ring someone on a call");
                continue;
            }
            if let Some(m) = manual {
                prop_assert_eq!(d.state, m.shown());
                continue;
            }
            let best = live.iter().map(|(_, e)| e.signal.rank()).max();
            match best {
                None => prop_assert_eq!(d.state, Offline),
                Some(rank) => {
                    let d_signal = live.iter().find(|(s, _)| Some(*s) == d.source).map(|(_, e)| e.signal);
                    prop_assert_eq!(d_signal.map(Signal::rank), Some(rank), "busiest wins");
                }
            }
            // Expired entries never matter: dropping them changes nothing.
            let mut pruned = p.clone();
            for entries in pruned.sources.values_mut() {
                for c in Channel::ALL {
                    if entries.get(c).is_some_and(|e| !e.live(now)) {
                        *entries.slot(c) = None;
                    }
                }
            }
            prop_assert_eq!(pruned.decide(channel, offered, &policy, now).state, d.state);
        }
    }
}
