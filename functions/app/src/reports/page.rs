//! The reports page: a chart per table, drawn on the server, with its
//! numbers in a table beside it; and the admin sign-in in front of it.

use super::charts::{self, Bars, Series};
use crate::Response;
use crate::i18n::Lang;
use crate::pages::PageCtx;
use http::StatusCode;
use livecard_core::report::{Report, Row, TABLES, Table};
use maud::{Markup, PreEscaped, html};

struct Words {
    title: &'static str,
    signin_title: &'static str,
    signin_text: &'static str,
    key: &'static str,
    signin: &'static str,
    signout: &'static str,
    refused: &'static str,
    from: &'static str,
    to: &'static str,
    by: &'static str,
    day: &'static str,
    week: &'static str,
    service_level: &'static str,
    service_level_share: &'static str,
    show: &'static str,
    basis: &'static str,
    download: &'static str,
    summary: &'static str,
    contacts: &'static str,
    numbers: &'static str,
    seconds: &'static str,
    calls: &'static str,
    /// Headings of the tables, in [`TABLES`] order.
    headings: [&'static str; 8],
    accepted: &'static str,
    missed: &'static str,
    abandoned: &'static str,
    offline: &'static str,
    opened: &'static str,
    requested: &'static str,
    answer: &'static str,
    median: &'static str,
    p90: &'static str,
    direct: &'static str,
    relayed: &'static str,
    failed: &'static str,
    weekdays: [&'static str; 7],
}

const EN: Words = Words {
    title: "Reports",
    signin_title: "Sign in to the reports",
    signin_text: "Reports are for admins. Sign in with an admin API key (lck_…); you stay signed in for 8 hours on this browser.",
    key: "Admin API key",
    signin: "Sign in",
    signout: "Sign out",
    refused: "That is not an admin key of this deployment.",
    from: "From",
    to: "To",
    by: "Group by",
    day: "Day",
    week: "Week",
    service_level: "Service level (seconds)",
    service_level_share: "Service level",
    show: "Show",
    basis: "distinct events read; times in",
    download: "Download CSV",
    summary: "Summary",
    contacts: "contacts",
    numbers: "The numbers",
    seconds: "seconds",
    calls: "calls",
    headings: [
        "Card campaigns: opened, contact requests, accepted",
        "Contacts and how they ended",
        "Speed of answer and service level",
        "Talk time, messages and upgrades",
        "Busiest hours (contact requests)",
        "By advisor, team, campaign, entry point and channel",
        "Calls: peer to peer, relayed, failed",
        "Contact sessions",
    ],
    accepted: "Accepted",
    missed: "Missed",
    abandoned: "Abandoned",
    offline: "Offline message",
    opened: "Cards opened",
    requested: "Contact requests",
    answer: "Speed of answer (median / p90)",
    median: "Median",
    p90: "90th percentile",
    direct: "Peer to peer",
    relayed: "Relayed",
    failed: "Failed",
    weekdays: ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"],
};

const DE: Words = Words {
    title: "Berichte",
    signin_title: "Anmelden zu den Berichten",
    signin_text: "Berichte sind für Admins. Melden Sie sich mit einem Admin-API-Schlüssel (lck_…) an; Sie bleiben in diesem Browser 8 Stunden angemeldet.",
    key: "Admin-API-Schlüssel",
    signin: "Anmelden",
    signout: "Abmelden",
    refused: "Das ist kein Admin-Schlüssel dieser Installation.",
    from: "Von",
    to: "Bis",
    by: "Gruppieren nach",
    day: "Tag",
    week: "Woche",
    service_level: "Servicelevel (Sekunden)",
    service_level_share: "Servicelevel",
    show: "Anzeigen",
    basis: "verschiedene Ereignisse gelesen; Zeiten in",
    download: "CSV herunterladen",
    summary: "Überblick",
    contacts: "Kontakte",
    numbers: "Die Zahlen",
    seconds: "Sekunden",
    calls: "Anrufe",
    headings: [
        "Kartenkampagnen: geöffnet, Kontaktanfragen, angenommen",
        "Kontakte und wie sie endeten",
        "Annahmezeit und Servicelevel",
        "Gesprächszeit, Nachrichten und Wechsel zu Anruf",
        "Stoßzeiten (Kontaktanfragen)",
        "Nach Berater, Team, Kampagne, Einstieg und Kanal",
        "Anrufe: direkt, über Relay, fehlgeschlagen",
        "Kontaktsitzungen",
    ],
    accepted: "Angenommen",
    missed: "Verpasst",
    abandoned: "Abgebrochen",
    offline: "Offline-Nachricht",
    opened: "Karten geöffnet",
    requested: "Kontaktanfragen",
    answer: "Annahmezeit (Median / p90)",
    median: "Median",
    p90: "90. Perzentil",
    direct: "Direkt",
    relayed: "Über Relay",
    failed: "Fehlgeschlagen",
    weekdays: ["Mo", "Di", "Mi", "Do", "Fr", "Sa", "So"],
};

fn words(lang: Lang) -> &'static Words {
    match lang {
        Lang::En => &EN,
        Lang::De => &DE,
    }
}

/// The sign-in form (`refused`: a key was given and was not an admin's).
pub fn signin(ctx: &PageCtx, refused: Option<()>) -> Response {
    let w = words(ctx.lang);
    let main = html! {
        h1 { (w.signin_title) }
        p { (w.signin_text) }
        @if refused.is_some() {
            p.error role="alert" { (w.refused) }
        }
        form.reports-signin method="post" action="/reports" {
            label { (w.key) input #admin-key type="password" name="key" required autocomplete="off" maxlength="256"; }
            button type="submit" { (w.signin) }
        }
    };
    ctx.page(StatusCode::OK, w.signin_title, "reports", &[], main)
}

fn numbers(value: f64) -> Option<f64> {
    Some(value)
}

fn seconds(ms: Option<u64>) -> Option<f64> {
    ms.map(|ms| ms as f64 / 1000.0)
}

fn chart_for(report: &Report, name: &str, w: &Words, heading: &str) -> String {
    let periods: Vec<String> = report.periods.iter().map(|r| r.group.clone()).collect();
    let per = |f: &dyn Fn(&Row) -> Option<f64>| report.periods.iter().map(f).collect::<Vec<_>>();
    // A count per period, as a series.
    let count = |name, count: fn(&Row) -> u64, color| Series {
        name,
        values: per(&|r| numbers(count(r) as f64)),
        color,
    };
    match name {
        "funnel" => {
            let campaigns: Vec<String> = report
                .funnel
                .iter()
                .map(|f| f.campaign.clone().unwrap_or_else(|| "–".into()))
                .collect();
            let col = |f: &dyn Fn(&livecard_core::report::FunnelRow) -> u64| {
                report
                    .funnel
                    .iter()
                    .map(|row| numbers(f(row) as f64))
                    .collect()
            };
            charts::bars(
                heading,
                &campaigns,
                &[
                    Series {
                        name: w.opened,
                        values: col(&|f| f.opened),
                        color: charts::SKY,
                    },
                    Series {
                        name: w.requested,
                        values: col(&|f| f.requested),
                        color: charts::BLUE,
                    },
                    Series {
                        name: w.accepted,
                        values: col(&|f| f.accepted),
                        color: charts::GREEN,
                    },
                ],
                Bars::Nested,
                w.contacts,
            )
        }
        "contacts" => charts::bars(
            heading,
            &periods,
            &[
                count(w.accepted, |r| r.accepted, charts::GREEN),
                count(w.missed, |r| r.missed, charts::VERMILLION),
                count(w.abandoned, |r| r.abandoned, charts::ORANGE),
                count(w.offline, |r| r.offline, charts::PURPLE),
            ],
            Bars::Stacked,
            w.contacts,
        ),
        "answer" => charts::lines(
            heading,
            &periods,
            &[
                Series {
                    name: w.median,
                    values: per(&|r| seconds(r.answer_median_ms)),
                    color: charts::BLUE,
                },
                Series {
                    name: w.p90,
                    values: per(&|r| seconds(r.answer_p90_ms)),
                    color: charts::ORANGE,
                },
            ],
            w.seconds,
        ),
        "hours" => {
            let days: Vec<String> = w.weekdays.iter().map(|d| d.to_string()).collect();
            charts::heatmap(heading, &days, &report.hours)
        }
        "calls" => charts::bars(
            heading,
            &periods,
            &[
                count(w.direct, |r| r.direct_calls, charts::GREEN),
                count(w.relayed, |r| r.relayed_calls, charts::BLUE),
                count(w.failed, |r| r.failed_calls, charts::VERMILLION),
            ],
            Bars::Stacked,
            w.calls,
        ),
        _ => String::new(),
    }
}

fn table_markup(table: &Table, caption: &str, region: &str) -> Markup {
    html! {
        div.table-scroll role="region" aria-label=(region) tabindex="0" {
            table {
                caption { (caption) }
                thead { tr { @for c in &table.columns { th scope="col" { (c.replace('_', " ")) } } } }
                tbody {
                    @for row in &table.rows {
                        tr {
                            @for (i, cell) in row.iter().enumerate() {
                                @if i == 0 { th scope="row" { (cell) } } @else { td { (cell) } }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The report page. `error`: what was wrong with the asked-for range (the
/// default range is shown).
pub fn report(ctx: &PageCtx, report: &Report, error: Option<&str>) -> Response {
    let w = words(ctx.lang);
    let r = &report.request;
    let query = format!("from={}&to={}&by={}", r.from, r.to, r.period.as_str());
    let t = &report.total;
    let summary: [(&str, String); 6] = [
        (w.requested, t.requested.to_string()),
        (w.accepted, t.accepted.to_string()),
        (
            w.answer,
            match (t.answer_median_ms, t.answer_p90_ms) {
                (Some(median), Some(p90)) => format!(
                    "{} s / {} s",
                    livecard_core::report::format_seconds(Some(median)),
                    livecard_core::report::format_seconds(Some(p90))
                ),
                _ => String::new(),
            },
        ),
        (
            w.service_level_share,
            livecard_core::report::format_rate(t.service_level),
        ),
        (w.missed, t.missed.to_string()),
        (w.abandoned, t.abandoned.to_string()),
    ];
    let main = html! {
        h1 { (w.title) }
        @if let Some(error) = error {
            p.error role="alert" { (error) }
        }
        form.report-filter method="get" action="/reports" {
            label { (w.from) input type="date" name="from" value=(r.from.to_string()) required; }
            label { (w.to) input type="date" name="to" value=(r.to.to_string()) required; }
            label { (w.by)
                select name="by" {
                    option value="day" selected[r.period == livecard_core::report::Period::Day] { (w.day) }
                    option value="week" selected[r.period == livecard_core::report::Period::Week] { (w.week) }
                }
            }
            label { (w.service_level) input type="number" name="service_level" min="1" max="3600" value=(r.service_level_ms / 1000); }
            button type="submit" { (w.show) }
        }
        form.report-signout method="post" action="/reports" {
            button type="submit" name="signout" value="1" { (w.signout) }
        }
        p.report-basis { (report.events) " " (w.basis) " " (r.time_zone.iana_name().unwrap_or("UTC")) }
        section aria-labelledby="summary" {
            h2 #summary { (w.summary) }
            dl.report-summary {
                @for (k, v) in &summary { div { dt { (k) } dd { @if v.is_empty() { "–" } @else { (v) } } } }
            }
        }
        @for (i, name) in TABLES.iter().enumerate() {
            // The sessions' rows are only counted here (their CSV has them).
            @if let Some(table) = if *name == "sessions" { Some(Table { name: "sessions", columns: Vec::new(), rows: Vec::new() }) } else { report.table(name) } {
                @let heading = w.headings[i];
                @let chart = chart_for(report, name, w, heading);
                section.report-section id={ "report-" (name) } aria-labelledby={ "h-" (name) } {
                    h2 id={ "h-" (name) } { (heading) }
                    @if !chart.is_empty() {
                        figure.report-chart { (PreEscaped(chart)) }
                    }
                    @if *name != "sessions" {
                        details open[*name != "breakdown"] {
                            summary { (w.numbers) }
                            (table_markup(&table, heading, &format!("{heading} ({})", w.numbers)))
                        }
                    } @else {
                        p { (report.sessions.len()) " " (w.contacts) }
                    }
                    p { a href={ "/reports/" (name) ".csv?" (query) } download { (w.download) " (" (name) ".csv)" } }
                }
            }
        }
    };
    ctx.page(StatusCode::OK, w.title, "reports", &[], main)
}

/// The report as JSON: every table, with the range it covers.
pub fn as_json(report: &Report) -> serde_json::Value {
    let r = &report.request;
    serde_json::json!({
        "from": r.from.to_string(),
        "to": r.to.to_string(),
        "by": r.period.as_str(),
        "time_zone": r.time_zone.iana_name().unwrap_or("UTC"),
        "service_level_s": r.service_level_ms / 1000,
        "events": report.events,
        "tables": report.tables().iter().map(|t| serde_json::json!({
            "name": t.name,
            "columns": t.columns,
            "rows": t.rows,
        })).collect::<Vec<_>>(),
    })
}
