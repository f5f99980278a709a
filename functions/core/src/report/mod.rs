//! Reports from the stored analytics events (`docs/reports.md`): exact
//! and de-duplicated, in the deployment's time zone.
//!
//! The host reads the events of the UTC days [`ReportRequest::utc_days`]
//! names, hands each to a [`ReportBuilder`] (in any order, duplicates
//! allowed: events are counted once per id), and turns the finished
//! [`Report`] into tables ([`Report::tables`]) for CSV, HTML and charts.
//! Nothing here reads a clock or the store.
//!
//! A contact session belongs to the report whose range holds its
//! `contact_requested`; what happens to it later (up to a day after the
//! range) still counts, so a contact asked for at 23:59 is answered in the
//! report of its day.

mod facts;
mod tables;
#[cfg(test)]
mod tests;
mod view;

use crate::UnixMillis;
use crate::event::{Event, EventName};
use facts::Facts;
pub use facts::Outcome;
use jiff::civil::Date;
pub use jiff::tz::TimeZone;
use std::collections::{BTreeMap, HashMap, HashSet};
use view::EventView;

pub use tables::{TABLES, Table, WEEKDAYS, format_rate, format_seconds};

/// The longest range one report covers.
pub const MAX_DAYS: i64 = 366;
/// Accepted within this many seconds counts toward the service level,
/// unless the deployment or the request says otherwise.
pub const DEFAULT_SERVICE_LEVEL_S: u64 = 20;
/// How long after its range a session's later events are read.
pub const FOLLOW_UP_MS: UnixMillis = 86_400_000;

/// How rows over time are grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Day,
    /// ISO weeks, Monday to Sunday, labelled `2026-W49`.
    Week,
}

impl Period {
    pub fn as_str(self) -> &'static str {
        match self {
            Period::Day => "day",
            Period::Week => "week",
        }
    }
}

/// What a report covers: local dates `from` to `to`, both included.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportRequest {
    pub from: Date,
    pub to: Date,
    pub time_zone: TimeZone,
    pub period: Period,
    /// Accepted within this many milliseconds counts toward the service level.
    pub service_level_ms: u64,
}

/// Why a report cannot be made; the message names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReportError {
    #[error("{0} must be a date YYYY-MM-DD")]
    Date(&'static str),
    #[error("to must not be before from")]
    Backwards,
    #[error("a report covers at most {MAX_DAYS} days")]
    TooLong,
    #[error("time_zone must be an IANA time zone name such as Europe/Berlin")]
    TimeZone,
    #[error("by must be day or week")]
    Period,
    #[error("service_level must be 1 to 3600 seconds")]
    ServiceLevel,
}

/// A date as the API and CLI take it: exactly `YYYY-MM-DD`.
pub fn parse_date(field: &'static str, value: &str) -> Result<Date, ReportError> {
    let b = value.as_bytes();
    let shaped = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    if !shaped {
        return Err(ReportError::Date(field));
    }
    value.parse().map_err(|_| ReportError::Date(field))
}

/// The deployment's time zone by its IANA name (from the compiled-in
/// database).
pub fn time_zone(name: &str) -> Result<TimeZone, ReportError> {
    if name.is_empty() || name.len() > 64 {
        return Err(ReportError::TimeZone);
    }
    TimeZone::get(name).map_err(|_| ReportError::TimeZone)
}

/// The default range: the last `days` local days up to and including
/// today, as `(from, to)` dates.
pub fn last_days(now: UnixMillis, time_zone: &TimeZone, days: i64) -> (String, String) {
    let ts = i64::try_from(now)
        .ok()
        .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    let today = ts.to_zoned(time_zone.clone()).date();
    let from = today
        .checked_sub(jiff::Span::new().days(days.saturating_sub(1)))
        .unwrap_or(today);
    (from.to_string(), today.to_string())
}

impl ReportRequest {
    /// A request from its textual fields, as the API and CLI take them.
    pub fn parse(
        from: &str,
        to: &str,
        time_zone: TimeZone,
        by: Option<&str>,
        service_level_s: Option<&str>,
        default_service_level_s: u64,
    ) -> Result<Self, ReportError> {
        let from = parse_date("from", from)?;
        let to = parse_date("to", to)?;
        let period = match by {
            None | Some("day") => Period::Day,
            Some("week") => Period::Week,
            Some(_) => return Err(ReportError::Period),
        };
        let seconds = match service_level_s {
            None => default_service_level_s,
            Some(s) => s.parse().map_err(|_| ReportError::ServiceLevel)?,
        };
        if !(1..=3600).contains(&seconds) {
            return Err(ReportError::ServiceLevel);
        }
        let request = Self {
            from,
            to,
            time_zone,
            period,
            service_level_ms: seconds * 1000,
        };
        request.check()?;
        Ok(request)
    }

    fn check(&self) -> Result<(), ReportError> {
        if self.to < self.from {
            return Err(ReportError::Backwards);
        }
        let days = self
            .from
            .until(self.to)
            .map_err(|_| ReportError::TooLong)?
            .get_days();
        if i64::from(days) >= MAX_DAYS {
            return Err(ReportError::TooLong);
        }
        Ok(())
    }

    /// The range as Unix milliseconds: from the start of `from` to the
    /// start of the day after `to`, in the time zone.
    pub fn window(&self) -> Result<(UnixMillis, UnixMillis), ReportError> {
        let start = self.start_of(self.from)?;
        let after = self.to.tomorrow().map_err(|_| ReportError::Date("to"))?;
        Ok((start, self.start_of(after)?))
    }

    fn start_of(&self, date: Date) -> Result<UnixMillis, ReportError> {
        let zoned = date
            .to_zoned(self.time_zone.clone())
            .map_err(|_| ReportError::Date("from"))?;
        u64::try_from(zoned.timestamp().as_millisecond()).map_err(|_| ReportError::Date("from"))
    }

    /// The UTC days (`YYYY-MM-DD`, the events' partitions) to read: the
    /// range and a day after it, for what happens to its last sessions.
    pub fn utc_days(&self) -> Result<Vec<String>, ReportError> {
        let (start, end) = self.window()?;
        let mut days = Vec::new();
        let mut at = start - start % 86_400_000;
        while at < end + FOLLOW_UP_MS {
            days.push(crate::event::utc_day(at));
            at += 86_400_000;
        }
        Ok(days)
    }

    /// The period (`2026-12-07`, `2026-W49`) a moment falls in.
    fn period_of(&self, at: UnixMillis) -> String {
        let date = self.local(at).date();
        self.label(date)
    }

    fn label(&self, date: Date) -> String {
        match self.period {
            Period::Day => date.to_string(),
            Period::Week => {
                let week = date.iso_week_date();
                format!("{:04}-W{:02}", week.year(), week.week())
            }
        }
    }

    /// Every period of the range, in order, so charts have no gaps.
    fn periods(&self) -> Vec<String> {
        let mut labels: Vec<String> = Vec::new();
        let mut date = self.from;
        while date <= self.to {
            let label = self.label(date);
            if labels.last() != Some(&label) {
                labels.push(label);
            }
            match date.tomorrow() {
                Ok(next) => date = next,
                Err(_) => break,
            }
        }
        labels
    }

    fn local(&self, at: UnixMillis) -> jiff::Zoned {
        let ts = i64::try_from(at)
            .ok()
            .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
            .unwrap_or(jiff::Timestamp::UNIX_EPOCH);
        ts.to_zoned(self.time_zone.clone())
    }

    /// `2026-12-07T14:03:09+01:00`: a moment in the deployment's zone.
    pub fn local_time(&self, at: UnixMillis) -> String {
        let z = self.local(at);
        let offset = z.offset().seconds();
        let sign = if offset < 0 { '-' } else { '+' };
        let offset = offset.unsigned_abs();
        format!(
            "{}T{:02}:{:02}:{:02}{sign}{:02}:{:02}",
            z.date(),
            z.hour(),
            z.minute(),
            z.second(),
            offset / 3600,
            offset / 60 % 60
        )
    }
}

/// Reads events one by one and makes the report.
#[derive(Debug)]
pub struct ReportBuilder {
    request: ReportRequest,
    start: UnixMillis,
    end: UnixMillis,
    seen: HashSet<[u8; 16], IdHash>,
    /// Cards opened in range, by campaign (`None`: a card without one).
    opened: HashMap<Option<String>, u64>,
    portal_views: u64,
    sessions: HashMap<String, Facts>,
    events: u64,
}

/// A fast hash for event ids (FxHash's word step, then a finalizer that
/// spreads every bit): ids are made by the server, never chosen by a
/// client, so SipHash's protection is not needed for the millions a
/// report reads.
#[derive(Debug, Clone, Copy, Default)]
struct IdHash;

impl std::hash::BuildHasher for IdHash {
    type Hasher = IdHasher;
    fn build_hasher(&self) -> IdHasher {
        IdHasher(0)
    }
}

#[derive(Debug)]
struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        // murmur3's fmix64.
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(word))
                .wrapping_mul(0x517c_c1b7_2722_0a95);
        }
    }
}

impl ReportBuilder {
    pub fn new(request: ReportRequest) -> Result<Self, ReportError> {
        request.check()?;
        let (start, end) = request.window()?;
        Ok(Self {
            request,
            start,
            end,
            seen: HashSet::with_hasher(IdHash),
            opened: HashMap::new(),
            portal_views: 0,
            sessions: HashMap::new(),
            events: 0,
        })
    }

    pub fn request(&self) -> &ReportRequest {
        &self.request
    }

    /// Counts one event (a second event with the same id changes nothing).
    pub fn add(&mut self, event: Event) {
        self.add_view(EventView::of(&event));
    }

    /// Counts the events of a stored JSON array of events, as the store
    /// keeps them (`EventStore::list_event_json`), without making owned
    /// events of them. Events of another schema are skipped.
    pub fn add_json(&mut self, json: &str) -> Result<(), serde_json::Error> {
        let events: Vec<EventView<'_>> = serde_json::from_str(json)?;
        for event in events {
            self.add_view(event);
        }
        Ok(())
    }

    fn add_view(&mut self, event: EventView<'_>) {
        if !event.supported() {
            return;
        }
        let in_range = (self.start..self.end).contains(&event.at);
        if !in_range && (event.at < self.start || event.at >= self.end + FOLLOW_UP_MS) {
            return;
        }
        // An id that is not one (a damaged item) is counted, not matched.
        if let Some(id) = crate::encoding::b64url_decode_16(&event.id)
            && !self.seen.insert(id)
        {
            return;
        }
        self.events += 1;
        match event.name {
            EventName::CardOpened if in_range => {
                let campaign = event.campaign.map(|c| c.into_owned());
                *self.opened.entry(campaign).or_default() += 1;
            }
            EventName::PortalViewed if in_range => self.portal_views += 1,
            _ => {
                if let Some(session) = &event.session {
                    match self.sessions.get_mut(session.as_ref()) {
                        Some(facts) => facts.add(&event),
                        None => self
                            .sessions
                            .entry(session.to_string())
                            .or_default()
                            .add(&event),
                    }
                }
            }
        }
    }

    /// The report: only sessions asked for within the range count.
    pub fn finish(self) -> Report {
        let request = self.request;
        let periods = request.periods();
        let mut by_period: BTreeMap<String, Tally> = periods
            .iter()
            .map(|p| (p.clone(), Tally::default()))
            .collect();
        let mut breakdown: BTreeMap<(&'static str, String), Tally> = BTreeMap::new();
        let mut funnel: BTreeMap<Option<String>, FunnelRow> = BTreeMap::new();
        for (campaign, opened) in self.opened {
            funnel
                .entry(campaign.clone())
                .or_insert_with(|| FunnelRow::new(campaign))
                .opened = opened;
        }
        let mut hours = [[0u64; 24]; 7];
        let mut total = Tally::default();
        let mut sessions: Vec<SessionRow> = Vec::new();
        for (id, facts) in self.sessions {
            let Some(requested_at) = facts.requested_at else {
                continue;
            };
            if !(self.start..self.end).contains(&requested_at) {
                continue;
            }
            let row = facts.row(id, requested_at);
            let local = request.local(requested_at);
            let weekday = usize::try_from(local.weekday().to_monday_zero_offset()).unwrap_or(0);
            let hour = usize::try_from(local.hour()).unwrap_or(0);
            hours[weekday % 7][hour % 24] += 1;
            if row.entry == "card" {
                let f = funnel
                    .entry(row.campaign.clone())
                    .or_insert_with(|| FunnelRow::new(row.campaign.clone()));
                f.requested += 1;
                f.accepted += u64::from(row.outcome == Outcome::Accepted);
            }
            by_period
                .entry(request.period_of(requested_at))
                .or_default()
                .count(&row, request.service_level_ms);
            total.count(&row, request.service_level_ms);
            let dims: [(&'static str, String); 5] = [
                ("advisor", row.advisor.clone().unwrap_or_default()),
                ("topic", row.topic.clone().unwrap_or_default()),
                ("campaign", row.campaign.clone().unwrap_or_default()),
                ("entry", row.entry.clone()),
                ("channel", row.channel.clone()),
            ];
            for key in dims {
                breakdown
                    .entry(key)
                    .or_default()
                    .count(&row, request.service_level_ms);
            }
            sessions.push(row);
        }
        sessions.sort_by(|a, b| (a.requested_at, &a.id).cmp(&(b.requested_at, &b.id)));
        Report {
            request,
            events: self.events,
            portal_views: self.portal_views,
            funnel: funnel.into_values().collect(),
            periods: by_period.into_iter().map(|(k, t)| t.finish(k)).collect(),
            breakdown: breakdown
                .into_iter()
                .map(|((dimension, value), t)| (dimension, t.finish(value)))
                .collect(),
            total: total.finish("total".into()),
            hours,
            sessions,
        }
    }
}

/// One card campaign's funnel: cards opened, contacts asked for through
/// them, and accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunnelRow {
    /// `None`: cards without a campaign.
    pub campaign: Option<String>,
    pub opened: u64,
    pub requested: u64,
    pub accepted: u64,
}

impl FunnelRow {
    fn new(campaign: Option<String>) -> Self {
        Self {
            campaign,
            opened: 0,
            requested: 0,
            accepted: 0,
        }
    }
}

/// One contact session as the report sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    pub id: String,
    pub requested_at: UnixMillis,
    /// `card`, `portal`, `widget`.
    pub entry: String,
    pub campaign: Option<String>,
    pub card: Option<String>,
    pub topic: Option<String>,
    /// The channel asked for.
    pub channel: String,
    /// Who accepted (or, when nobody did, the advisor asked for first).
    pub advisor: Option<String>,
    pub outcome: Outcome,
    /// Request to accept (accepted), or to the end (not accepted).
    pub wait_ms: Option<u64>,
    /// Connected time (accepted and ended).
    pub talk_ms: Option<u64>,
    pub messages: u64,
    /// The richest medium used: chat, audio, video.
    pub media: String,
    pub calls: u32,
    /// Time in audio and video calls.
    pub call_ms: u64,
    pub relayed_calls: u32,
    pub direct_calls: u32,
    pub failed_calls: u32,
    pub end_reason: Option<String>,
    pub missed_rings: u32,
    /// The visitor's rating after the contact (1 to 5), if they gave one.
    pub rating: Option<u8>,
}

/// The numbers of a group of sessions (a period, an advisor, a topic …).
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub group: String,
    pub requested: u64,
    pub accepted: u64,
    pub missed: u64,
    pub abandoned: u64,
    pub offline: u64,
    /// Not ended yet when the report was made.
    pub open: u64,
    /// How many accepted waits the speed of answer is based on.
    pub answered: u64,
    pub answer_median_ms: Option<u64>,
    pub answer_p90_ms: Option<u64>,
    /// Accepted within the service level, of those offered (see the docs).
    pub service_level: Option<f64>,
    pub missed_rate: Option<f64>,
    pub abandoned_rate: Option<f64>,
    pub conversion: Option<f64>,
    /// Accepted sessions that ended (talk time is known).
    pub connected: u64,
    pub duration_median_ms: Option<u64>,
    pub call_ms: u64,
    pub messages_per_session: Option<f64>,
    /// Of connected sessions asked for as chat: how many went on to a call
    /// (audio or video), and to video.
    pub chat_started: u64,
    pub to_audio: u64,
    pub to_video: u64,
    pub calls: u64,
    pub relayed_calls: u64,
    pub direct_calls: u64,
    pub failed_calls: u64,
    pub missed_rings: u64,
    /// Contacts the visitor rated, and their mean rating (1 to 5).
    pub rated: u64,
    pub rating_mean: Option<f64>,
}

#[derive(Debug, Default)]
struct Tally {
    requested: u64,
    accepted: u64,
    missed: u64,
    abandoned: u64,
    offline: u64,
    open: u64,
    waits: Vec<u64>,
    within: u64,
    short_abandons: u64,
    durations: Vec<u64>,
    call_ms: u64,
    messages: u64,
    chat_started: u64,
    to_audio: u64,
    to_video: u64,
    calls: u64,
    relayed: u64,
    direct: u64,
    failed: u64,
    missed_rings: u64,
    rated: u64,
    rating_sum: u64,
}

impl Tally {
    fn count(&mut self, row: &SessionRow, service_level_ms: u64) {
        self.requested += 1;
        self.missed_rings += u64::from(row.missed_rings);
        match row.outcome {
            Outcome::Accepted => {
                self.accepted += 1;
                let wait = row.wait_ms.unwrap_or(0);
                self.waits.push(wait);
                self.within += u64::from(wait <= service_level_ms);
                if let Some(talk) = row.talk_ms {
                    self.durations.push(talk);
                    self.messages += row.messages;
                    if row.channel == "chat" {
                        self.chat_started += 1;
                        self.to_audio += u64::from(row.media != "chat");
                        self.to_video += u64::from(row.media == "video");
                    }
                }
            }
            Outcome::Missed => self.missed += 1,
            Outcome::Abandoned => {
                self.abandoned += 1;
                self.short_abandons += u64::from(row.wait_ms.unwrap_or(0) < service_level_ms);
            }
            Outcome::Offline => self.offline += 1,
            Outcome::Open => self.open += 1,
        }
        self.call_ms += row.call_ms;
        self.calls += u64::from(row.calls);
        self.relayed += u64::from(row.relayed_calls);
        self.direct += u64::from(row.direct_calls);
        self.failed += u64::from(row.failed_calls);
        if let Some(rating) = row.rating {
            self.rated += 1;
            self.rating_sum += u64::from(rating);
        }
    }

    fn finish(mut self, group: String) -> Row {
        self.waits.sort_unstable();
        self.durations.sort_unstable();
        let decided = self.requested - self.open;
        let offered = decided.saturating_sub(self.short_abandons);
        let connected = self.durations.len() as u64;
        Row {
            group,
            requested: self.requested,
            accepted: self.accepted,
            missed: self.missed,
            abandoned: self.abandoned,
            offline: self.offline,
            open: self.open,
            answered: self.waits.len() as u64,
            answer_median_ms: percentile(&self.waits, 50),
            answer_p90_ms: percentile(&self.waits, 90),
            service_level: ratio(self.within, offered),
            missed_rate: ratio(self.missed, decided),
            abandoned_rate: ratio(self.abandoned, decided),
            conversion: ratio(self.accepted, self.requested),
            connected,
            duration_median_ms: percentile(&self.durations, 50),
            call_ms: self.call_ms,
            messages_per_session: ratio(self.messages, connected),
            chat_started: self.chat_started,
            to_audio: self.to_audio,
            to_video: self.to_video,
            calls: self.calls,
            relayed_calls: self.relayed,
            direct_calls: self.direct,
            failed_calls: self.failed,
            missed_rings: self.missed_rings,
            rated: self.rated,
            rating_mean: ratio(self.rating_sum, self.rated),
        }
    }
}

/// Nearest-rank percentile of sorted values (`None` when there are none).
pub fn percentile(sorted: &[u64], p: u64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let n = sorted.len() as u64;
    let rank = (p * n).div_ceil(100).max(1);
    sorted.get(usize::try_from(rank - 1).ok()?).copied()
}

fn ratio(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// A finished report.
#[derive(Debug, Clone)]
pub struct Report {
    pub request: ReportRequest,
    /// Distinct events read.
    pub events: u64,
    pub portal_views: u64,
    /// By campaign, cards without a campaign first.
    pub funnel: Vec<FunnelRow>,
    /// Every period of the range, in order.
    pub periods: Vec<Row>,
    /// By dimension (`advisor`, `campaign`, `channel`, `entry`, `topic`)
    /// and value (empty: none).
    pub breakdown: Vec<(&'static str, Row)>,
    pub total: Row,
    /// Contacts asked for, by weekday (Monday first) and hour, local time.
    pub hours: [[u64; 24]; 7],
    /// In the order they were asked for.
    pub sessions: Vec<SessionRow>,
}
