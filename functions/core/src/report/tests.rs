use super::*;
use crate::channel::Channel;
use crate::ids::{AdvisorId, EventId};

/// 2026-11-30 00:00 UTC, a Monday.
const MONDAY: u64 = 1_795_996_800_000;

fn request(from: &str, to: &str, zone: &str) -> ReportRequest {
    ReportRequest::parse(from, to, time_zone(zone).expect("zone"), None, None, 20)
        .expect("valid request")
}

struct Log {
    events: Vec<Event>,
    next: u8,
}

impl Log {
    fn new() -> Self {
        Self {
            events: Vec::new(),
            next: 0,
        }
    }

    fn event(&mut self, name: EventName, at: u64, session: &str) -> &mut Event {
        self.next = self.next.wrapping_add(1);
        let mut id = [0u8; 16];
        id[0] = self.next;
        id[1] = self.events.len() as u8;
        id[2] = (self.events.len() >> 8) as u8;
        let mut event = Event::new(EventId::from_bytes(id), name, at);
        if !session.is_empty() {
            event.session = Some(session.into());
        }
        self.events.push(event);
        self.events.last_mut().expect("just pushed")
    }

    fn request(&mut self, session: &str, at: u64, origin: &str, campaign: Option<&str>) {
        let e = self.event(EventName::ContactRequested, at, session);
        e.channel = Some(Channel::Chat);
        e.campaign = campaign.map(str::to_owned);
        e.props.insert("origin".into(), origin.into());
        e.props.insert("topic".into(), "sales".into());
    }

    fn accept(&mut self, session: &str, at: u64, wait: u64, advisor: &str) {
        let e = self.event(EventName::Accepted, at, session);
        e.advisor = Some(AdvisorId::parse(advisor).expect("id"));
        e.props.insert("wait_ms".into(), wait.into());
    }

    fn end(&mut self, session: &str, at: u64, reason: &str, wait: u64, talk: u64) {
        let e = self.event(EventName::SessionEnded, at, session);
        e.props.insert("reason".into(), reason.into());
        e.props.insert("wait_ms".into(), wait.into());
        e.props.insert("talk_ms".into(), talk.into());
    }

    fn report(&self, request: ReportRequest) -> Report {
        let mut builder = ReportBuilder::new(request).expect("builder");
        for event in &self.events {
            builder.add(event.clone());
        }
        builder.finish()
    }
}

#[test]
fn bad_requests_name_their_field() {
    let utc = time_zone("UTC").expect("utc");
    let parse = |from: &str, to: &str, by: Option<&str>, sl: Option<&str>| {
        ReportRequest::parse(from, to, utc.clone(), by, sl, 20).map(|_| ())
    };
    assert_eq!(
        parse("2026-13-01", "2026-12-01", None, None),
        Err(ReportError::Date("from"))
    );
    assert_eq!(
        parse("2026-12-01", "1.12.2026", None, None),
        Err(ReportError::Date("to"))
    );
    assert_eq!(
        parse("2026-12-02", "2026-12-01", None, None),
        Err(ReportError::Backwards)
    );
    assert_eq!(
        parse("2025-01-01", "2026-01-02", None, None),
        Err(ReportError::TooLong)
    );
    assert_eq!(
        parse("2026-12-01", "2026-12-01", Some("month"), None),
        Err(ReportError::Period)
    );
    assert_eq!(
        parse("2026-12-01", "2026-12-01", None, Some("0")),
        Err(ReportError::ServiceLevel)
    );
    assert_eq!(
        time_zone("Mars/Olympus").map(|_| ()),
        Err(ReportError::TimeZone)
    );
    assert!(ReportError::Date("from").to_string().starts_with("from "));
}

#[test]
fn days_and_weeks_follow_the_time_zone_across_daylight_saving() {
    // Berlin leaves summer time on 2026-10-25: that local day has 25 hours.
    let r = request("2026-10-25", "2026-10-25", "Europe/Berlin");
    let (start, end) = r.window().expect("window");
    assert_eq!(end - start, 25 * 3_600_000);
    assert_eq!(
        r.utc_days().expect("days"),
        ["2026-10-24", "2026-10-25", "2026-10-26"]
    );
    let mut weekly = request("2026-11-28", "2026-12-07", "Europe/Berlin");
    weekly.period = Period::Week;
    assert_eq!(weekly.periods(), ["2026-W48", "2026-W49", "2026-W50"]);
    assert_eq!(r.local_time(start), "2026-10-25T00:00:00+02:00");
}

#[test]
fn outcomes_rates_and_speed_of_answer() {
    let mut log = Log::new();
    let t = MONDAY + 9 * 3_600_000;
    // Four accepted after 5, 10, 30 and 60 s; one missed, one abandoned
    // after 3 s (short), one abandoned after 40 s, one offline, one open.
    for (i, wait) in [5_000u64, 10_000, 30_000, 60_000].into_iter().enumerate() {
        let s = format!("acc{i}");
        log.request(&s, t, "portal", None);
        log.accept(&s, t + wait, wait, "anna");
        log.end(&s, t + wait + 120_000, "visitor_left", wait, 120_000);
    }
    log.request("miss", t, "portal", None);
    log.event(EventName::Missed, t + 30_000, "miss");
    log.end("miss", t + 300_000, "queue_timeout", 300_000, 0);
    log.request("short", t, "widget", None);
    log.end("short", t + 3_000, "visitor_left", 3_000, 0);
    log.request("long", t, "widget", None);
    log.end("long", t + 40_000, "visitor_left", 40_000, 0);
    log.request("off", t, "portal", None);
    log.event(EventName::OfflineMessage, t + 9_000, "off");
    log.end("off", t + 9_000, "offline_message", 9_000, 0);
    log.request("open", t, "portal", None);
    // A duplicate (same id) counts once.
    let dup = log.events[0].clone();
    log.events.push(dup);

    let report = log.report(request("2026-11-30", "2026-11-30", "UTC"));
    let row = &report.total;
    assert_eq!(
        (
            row.requested,
            row.accepted,
            row.missed,
            row.abandoned,
            row.offline,
            row.open
        ),
        (9, 4, 1, 2, 1, 1)
    );
    assert_eq!(row.answered, 4);
    assert_eq!(row.answer_median_ms, Some(10_000));
    assert_eq!(row.answer_p90_ms, Some(60_000));
    // Offered: 8 decided minus 1 short abandon; within 20 s: 2.
    assert_eq!(row.service_level, Some(2.0 / 7.0));
    assert_eq!(row.missed_rate, Some(1.0 / 8.0));
    assert_eq!(row.abandoned_rate, Some(2.0 / 8.0));
    assert_eq!(row.missed_rings, 1);
    assert_eq!(row.duration_median_ms, Some(120_000));
    assert_eq!(report.hours[0][9], 9);
    assert_eq!(report.sessions.len(), 9);
    let widget = report
        .breakdown
        .iter()
        .find(|(d, r)| *d == "entry" && r.group == "widget")
        .expect("widget row");
    assert_eq!(widget.1.abandoned, 2);
    let csv = String::from_utf8(report.table("answer").expect("table").csv()).expect("utf8");
    assert_eq!(
        csv,
        "day,answered,answer_median_s,answer_p90_s,service_level\n2026-11-30,4,10.0,60.0,0.286\n"
    );
}

#[test]
fn a_session_counts_in_the_range_it_was_asked_for_with_its_later_events() {
    let mut log = Log::new();
    // Asked for at 23:59:50 Berlin on Monday, accepted after midnight.
    let late = MONDAY + 22 * 3_600_000 + 59 * 60_000 + 50_000;
    log.request("late", late, "card", Some("winter"));
    log.accept("late", late + 20_000, 20_000, "anna");
    log.end("late", late + 600_000, "advisor_left", 20_000, 580_000);
    // Asked for the next (Berlin) day: not in Monday's report.
    log.request("next", late + 20_000, "card", Some("winter"));
    log.event(EventName::CardOpened, late - 60_000, "").campaign = Some("winter".into());
    log.event(EventName::CardOpened, late + 60_000, "").campaign = Some("winter".into());
    let report = log.report(request("2026-11-30", "2026-11-30", "Europe/Berlin"));
    assert_eq!(report.sessions.len(), 1);
    assert_eq!(report.total.accepted, 1);
    assert_eq!(report.total.service_level, Some(1.0));
    assert_eq!(
        report.funnel,
        [FunnelRow {
            campaign: Some("winter".into()),
            opened: 1,
            requested: 1,
            accepted: 1
        }]
    );
    // Monday 23:59 in Berlin: the heatmap is in local time.
    assert_eq!(report.hours[0][23], 1);
}

#[test]
fn calls_upgrades_and_paths() {
    let mut log = Log::new();
    let t = MONDAY + 10 * 3_600_000;
    log.request("s", t, "portal", None);
    log.accept("s", t + 1_000, 1_000, "anna");
    log.event(EventName::CallStarted, t + 5_000, "s")
        .props
        .insert("media".into(), "audio".into());
    let e = log.event(EventName::CallUpgraded, t + 6_000, "s");
    e.props.insert("from".into(), "audio".into());
    e.props.insert("to".into(), "video".into());
    let e = log.event(EventName::CallEnded, t + 65_000, "s");
    e.props.insert("duration_ms".into(), 60_000u64.into());
    e.props.insert("path".into(), "relay".into());
    log.event(EventName::CallStarted, t + 70_000, "s")
        .props
        .insert("media".into(), "audio".into());
    log.event(EventName::CallEnded, t + 80_000, "s")
        .props
        .insert("duration_ms".into(), 10_000u64.into());
    log.end("s", t + 90_000, "visitor_left", 1_000, 89_000);
    // Events arrive in any order: the result is the same.
    log.events.reverse();
    let report = log.report(request("2026-11-30", "2026-11-30", "UTC"));
    let row = &report.periods[0];
    assert_eq!((row.calls, row.relayed_calls, row.failed_calls), (2, 1, 1));
    assert_eq!((row.chat_started, row.to_audio, row.to_video), (1, 1, 1));
    assert_eq!(row.call_ms, 70_000);
    assert_eq!(report.sessions[0].media, "video");
}

#[test]
fn ratings_count_per_session_and_average() {
    let mut log = Log::new();
    let t = MONDAY + 10 * 3_600_000;
    for (session, rating) in [
        ("a", Some(5u64)),
        ("b", Some(2)),
        ("c", None),
        ("d", Some(9)),
    ] {
        log.request(session, t, "portal", None);
        log.accept(session, t + 1_000, 1_000, "anna");
        log.end(session, t + 60_000, "visitor_left", 1_000, 59_000);
        if let Some(rating) = rating {
            log.event(EventName::ContactRated, t + 70_000, session)
                .props
                .insert("rating".into(), rating.into());
        }
    }
    let report = log.report(request("2026-11-30", "2026-11-30", "UTC"));
    let row = &report.periods[0];
    // "d" rated 9: not a rating, not counted.
    assert_eq!(row.rated, 2);
    assert_eq!(row.rating_mean, Some(3.5));
    let ratings: Vec<Option<u8>> = report.sessions.iter().map(|s| s.rating).collect();
    assert_eq!(ratings, vec![Some(5), Some(2), None, None]);
    let talk = String::from_utf8(report.csv("talk").expect("talk")).expect("utf-8");
    assert!(
        talk.lines().nth(1).is_some_and(|l| l.ends_with(",2,3.50")),
        "{talk}"
    );
}

#[test]
fn percentiles_are_nearest_rank() {
    assert_eq!(percentile(&[], 50), None);
    assert_eq!(percentile(&[7], 90), Some(7));
    let v: Vec<u64> = (1..=10).collect();
    assert_eq!(percentile(&v, 50), Some(5));
    assert_eq!(percentile(&v, 90), Some(9));
    assert_eq!(percentile(&v[..9], 90), Some(9));
}

#[test]
fn every_table_has_as_many_cells_as_columns() {
    let mut log = Log::new();
    log.request("a", MONDAY, "card", Some("c1"));
    let report = log.report(request("2026-11-29", "2026-12-01", "Europe/Berlin"));
    let tables = report.tables();
    for table in &tables {
        assert_eq!(report.csv(table.name), Some(table.csv()), "{}", table.name);
    }
    assert_eq!(tables.len(), TABLES.len());
    for table in tables {
        for row in &table.rows {
            assert_eq!(row.len(), table.columns.len(), "{}", table.name);
        }
    }
}

#[test]
fn stored_json_counts_as_the_events_it_holds() {
    let mut log = Log::new();
    let t = MONDAY + 9 * 3_600_000;
    log.request("s", t, "card", Some("winter"));
    log.accept("s", t + 4_000, 4_000, "anna");
    log.end("s", t + 60_000, "visitor_left", 4_000, 56_000);
    let from_events = log.report(request("2026-11-30", "2026-11-30", "UTC"));
    let mut builder =
        ReportBuilder::new(request("2026-11-30", "2026-11-30", "UTC")).expect("builder");
    let json = serde_json::to_string(&log.events).expect("json");
    builder.add_json(&json).expect("parsed");
    // The same again (a duplicate batch), and an event of an unknown schema.
    builder.add_json(&json).expect("parsed");
    let mut future = log.events[0].clone();
    future.schema = 2;
    future.id = EventId::from_bytes([9; 16]);
    builder
        .add_json(&serde_json::to_string(&[future]).expect("json"))
        .expect("parsed");
    let from_json = builder.finish();
    assert_eq!(from_json.events, 3);
    assert_eq!(from_json.tables(), from_events.tables());
    assert!(builder_refuses_junk());
}

fn builder_refuses_junk() -> bool {
    let mut builder =
        ReportBuilder::new(request("2026-11-30", "2026-11-30", "UTC")).expect("builder");
    builder.add_json("[{\"schema\":1}]").is_err() && builder.add_json("nope").is_err()
}
