//! A report as tables: one per chart at its grouping, and one row per
//! contact session. The same tables make the CSV exports and the numbers
//! beside every chart on the reports page.

use super::{Report, Row};

/// One table of a report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    /// The CSV's name (`funnel` → `funnel.csv`) and the page's anchor.
    pub name: &'static str,
    pub columns: Vec<&'static str>,
    pub rows: Vec<Vec<String>>,
}

/// The names of the tables, in the order of the page.
pub const TABLES: [&str; 8] = [
    "funnel",
    "contacts",
    "answer",
    "talk",
    "hours",
    "breakdown",
    "calls",
    "sessions",
];

impl Table {
    /// RFC 4180 CSV with a header row.
    pub fn csv(&self) -> Vec<u8> {
        let mut writer = csv::Writer::from_writer(Vec::new());
        // Writing to memory cannot fail; a failure would show as a short file.
        let _ = writer.write_record(&self.columns);
        for row in &self.rows {
            let _ = writer.write_record(row);
        }
        writer.into_inner().unwrap_or_default()
    }
}

/// Seconds with one decimal (`12.5`), empty when unknown.
pub fn format_seconds(ms: Option<u64>) -> String {
    ms.map(|ms| format!("{}.{}", ms / 1000, ms % 1000 / 100))
        .unwrap_or_default()
}

/// A share with three decimals (`0.750`), empty when there is nothing to
/// divide.
pub fn format_rate(rate: Option<f64>) -> String {
    rate.map(|r| format!("{r:.3}")).unwrap_or_default()
}

fn n(value: u64) -> String {
    value.to_string()
}

const CONTACT_COLUMNS: [&str; 10] = [
    "requested",
    "accepted",
    "missed",
    "abandoned",
    "offline",
    "open",
    "conversion",
    "missed_rate",
    "abandoned_rate",
    "missed_rings",
];

fn contact_cells(row: &Row) -> Vec<String> {
    vec![
        n(row.requested),
        n(row.accepted),
        n(row.missed),
        n(row.abandoned),
        n(row.offline),
        n(row.open),
        format_rate(row.conversion),
        format_rate(row.missed_rate),
        format_rate(row.abandoned_rate),
        n(row.missed_rings),
    ]
}

const ANSWER_COLUMNS: [&str; 4] = [
    "answered",
    "answer_median_s",
    "answer_p90_s",
    "service_level",
];

fn answer_cells(row: &Row) -> Vec<String> {
    vec![
        n(row.answered),
        format_seconds(row.answer_median_ms),
        format_seconds(row.answer_p90_ms),
        format_rate(row.service_level),
    ]
}

const SESSION_COLUMNS: [&str; 20] = [
    "session",
    "requested_at",
    "entry",
    "campaign",
    "card",
    "topic",
    "channel",
    "advisor",
    "outcome",
    "wait_s",
    "talk_s",
    "messages",
    "media",
    "calls",
    "call_time_s",
    "relayed_calls",
    "failed_calls",
    "missed_rings",
    "end_reason",
    "rating",
];

impl Report {
    /// One table as CSV. The sessions table (a row per contact, the
    /// largest by far) is written straight from the sessions, without
    /// making its cells first.
    pub fn csv(&self, name: &str) -> Option<Vec<u8>> {
        if name != "sessions" {
            return self.table(name).map(|t| t.csv());
        }
        let mut writer = csv::Writer::from_writer(Vec::with_capacity(self.sessions.len() * 160));
        let _ = writer.write_record(SESSION_COLUMNS);
        for session in &self.sessions {
            self.session_cells(session, |cell| {
                let _ = writer.write_field(cell);
            });
            let _ = writer.write_record(None::<&[u8]>);
        }
        Some(writer.into_inner().unwrap_or_default())
    }

    /// The cells of a session's row, in [`SESSION_COLUMNS`] order.
    fn session_cells(&self, s: &super::SessionRow, mut cell: impl FnMut(&str)) {
        use std::fmt::Write;
        let mut buf = String::with_capacity(32);
        let mut number = |cell: &mut dyn FnMut(&str), value: u64| {
            buf.clear();
            let _ = write!(buf, "{value}");
            cell(&buf);
        };
        cell(&s.id);
        cell(&self.request.local_time(s.requested_at));
        cell(&s.entry);
        cell(s.campaign.as_deref().unwrap_or_default());
        cell(s.card.as_deref().unwrap_or_default());
        cell(s.topic.as_deref().unwrap_or_default());
        cell(&s.channel);
        cell(s.advisor.as_deref().unwrap_or_default());
        cell(s.outcome.as_str());
        cell(&format_seconds(s.wait_ms));
        cell(&format_seconds(s.talk_ms));
        number(&mut cell, s.messages);
        cell(&s.media);
        number(&mut cell, u64::from(s.calls));
        cell(&format_seconds(Some(s.call_ms)));
        number(&mut cell, u64::from(s.relayed_calls));
        number(&mut cell, u64::from(s.failed_calls));
        number(&mut cell, u64::from(s.missed_rings));
        cell(s.end_reason.as_deref().unwrap_or_default());
        match s.rating {
            Some(rating) => number(&mut cell, u64::from(rating)),
            None => cell(""),
        }
    }

    /// Every table, in [`TABLES`] order.
    pub fn tables(&self) -> Vec<Table> {
        TABLES.iter().filter_map(|name| self.table(name)).collect()
    }

    /// One table by its name.
    pub fn table(&self, name: &str) -> Option<Table> {
        let period = self.request.period.as_str();
        Some(match name {
            "funnel" => Table {
                name: "funnel",
                columns: vec![
                    "campaign",
                    "cards_opened",
                    "contact_requests",
                    "accepted",
                    "request_rate",
                    "conversion",
                ],
                rows: self
                    .funnel
                    .iter()
                    .map(|f| {
                        vec![
                            f.campaign.clone().unwrap_or_default(),
                            n(f.opened),
                            n(f.requested),
                            n(f.accepted),
                            format_rate(super::ratio(f.requested, f.opened)),
                            format_rate(super::ratio(f.accepted, f.opened)),
                        ]
                    })
                    .collect(),
            },
            "contacts" => Table {
                name: "contacts",
                columns: std::iter::once(period).chain(CONTACT_COLUMNS).collect(),
                rows: self.by_period(|row| {
                    let mut cells = vec![row.group.clone()];
                    cells.extend(contact_cells(row));
                    cells
                }),
            },
            "answer" => Table {
                name: "answer",
                columns: std::iter::once(period).chain(ANSWER_COLUMNS).collect(),
                rows: self.by_period(|row| {
                    let mut cells = vec![row.group.clone()];
                    cells.extend(answer_cells(row));
                    cells
                }),
            },
            "talk" => Table {
                name: "talk",
                columns: vec![
                    period,
                    "connected",
                    "duration_median_s",
                    "call_time_s",
                    "messages_per_session",
                    "chat_started",
                    "to_audio",
                    "to_video",
                    "upgrade_rate",
                    "video_rate",
                    "rated",
                    "rating_mean",
                ],
                rows: self.by_period(|row| {
                    vec![
                        row.group.clone(),
                        n(row.connected),
                        format_seconds(row.duration_median_ms),
                        format_seconds(Some(row.call_ms)),
                        row.messages_per_session
                            .map(|m| format!("{m:.1}"))
                            .unwrap_or_default(),
                        n(row.chat_started),
                        n(row.to_audio),
                        n(row.to_video),
                        format_rate(super::ratio(row.to_audio, row.chat_started)),
                        format_rate(super::ratio(row.to_video, row.chat_started)),
                        n(row.rated),
                        row.rating_mean
                            .map(|m| format!("{m:.2}"))
                            .unwrap_or_default(),
                    ]
                }),
            },
            "hours" => Table {
                name: "hours",
                columns: std::iter::once("weekday").chain(HOURS).collect(),
                rows: WEEKDAYS
                    .iter()
                    .zip(self.hours.iter())
                    .map(|(day, counts)| {
                        std::iter::once(day.to_string())
                            .chain(counts.iter().map(|c| n(*c)))
                            .collect()
                    })
                    .collect(),
            },
            "breakdown" => Table {
                name: "breakdown",
                columns: ["dimension", "value"]
                    .into_iter()
                    .chain(CONTACT_COLUMNS)
                    .chain(ANSWER_COLUMNS)
                    .collect(),
                rows: self
                    .breakdown
                    .iter()
                    .chain(std::iter::once(&("total", self.total.clone())))
                    .map(|(dimension, row)| {
                        let mut cells = vec![dimension.to_string(), row.group.clone()];
                        cells.extend(contact_cells(row));
                        cells.extend(answer_cells(row));
                        cells
                    })
                    .collect(),
            },
            "calls" => Table {
                name: "calls",
                columns: vec![
                    period,
                    "calls",
                    "peer_to_peer",
                    "relayed",
                    "failed",
                    "relayed_share",
                    "failure_rate",
                ],
                rows: self.by_period(|row| {
                    vec![
                        row.group.clone(),
                        n(row.calls),
                        n(row.direct_calls),
                        n(row.relayed_calls),
                        n(row.failed_calls),
                        format_rate(super::ratio(
                            row.relayed_calls,
                            row.relayed_calls + row.direct_calls,
                        )),
                        format_rate(super::ratio(row.failed_calls, row.calls)),
                    ]
                }),
            },
            "sessions" => Table {
                name: "sessions",
                columns: SESSION_COLUMNS.to_vec(),
                rows: self
                    .sessions
                    .iter()
                    .map(|s| {
                        let mut row = Vec::with_capacity(SESSION_COLUMNS.len());
                        self.session_cells(s, |cell| row.push(cell.to_owned()));
                        row
                    })
                    .collect(),
            },
            _ => return None,
        })
    }

    fn by_period(&self, cells: impl Fn(&Row) -> Vec<String>) -> Vec<Vec<String>> {
        self.periods.iter().map(cells).collect()
    }
}

pub const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

const HOURS: [&str; 24] = [
    "h00", "h01", "h02", "h03", "h04", "h05", "h06", "h07", "h08", "h09", "h10", "h11", "h12",
    "h13", "h14", "h15", "h16", "h17", "h18", "h19", "h20", "h21", "h22", "h23",
];
