//! What a destination's answer means, and when to try again.
//!
//! - GA4 and Matomo: exponential backoff with jitter (2 s doubling up to
//!   an hour, `backon`), at least what `Retry-After` asks, until the event
//!   is too old for the destination: then it counts as expired.
//! - Webhooks: the Standard Webhooks schedule cut to about a day (5 s,
//!   5 min, 30 min, 2 h, 5 h, 8 h, 8 h, each ±10 %); then the delivery is
//!   dead-lettered for an admin to replay.
//!
//! The jitter is drawn from a seed the host derives from the delivery, so
//! the schedule is a pure function of (delivery, attempt).

use super::Target;
use crate::UnixMillis;
use backon::BackoffBuilder;
use std::time::Duration;

/// An attempt holds its deliveries this long: a forwarder that dies
/// mid-batch leaves them to the next run after it.
pub const LEASE_MS: u64 = 60_000;
/// The longest wait a `Retry-After` may impose.
pub const MAX_RETRY_AFTER_MS: u64 = 6 * 3_600_000;
/// How long Matomo's "tracking disabled" (503) pauses a destination
/// before it is tried again.
pub const DISABLED_PAUSE_MS: u64 = 15 * 60_000;
/// Webhook retry delays after each failed attempt.
pub const WEBHOOK_SCHEDULE_MS: [u64; 7] = [
    5_000,
    5 * 60_000,
    30 * 60_000,
    2 * 3_600_000,
    5 * 3_600_000,
    8 * 3_600_000,
    8 * 3_600_000,
];

/// A destination's answer to one request.
#[derive(Debug, Clone, Copy)]
pub struct Answer<'a> {
    /// `None`: no answer (timeout, connection refused or reset).
    pub status: Option<u16>,
    pub retry_after: Option<&'a str>,
    pub body: &'a [u8],
}

/// What to do with the deliveries of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// All acknowledged.
    Acknowledged,
    /// Acknowledged except these (positions in the request), refused for good.
    Partly { refused: Vec<usize>, reason: String },
    /// Try again later (no sooner than `after_ms`, if given).
    Retry {
        status: String,
        after_ms: Option<u64>,
    },
    /// Refused for good: dead-letter them all.
    Refused { reason: String },
    /// The destination cannot take events now: pause it (until `for_ms`
    /// has passed, or until an admin resumes it); the deliveries wait.
    Pause { reason: String, for_ms: Option<u64> },
    /// The endpoint asked to be disabled (webhook 410).
    Disable { reason: String },
}

fn status_text(answer: &Answer<'_>) -> String {
    match answer.status {
        Some(code) => format!("HTTP {code}"),
        None => "no answer (timeout or connection failure)".to_owned(),
    }
}

/// `Retry-After` in milliseconds: delay-seconds, or an HTTP date.
pub fn retry_after_ms(value: &str, now: UnixMillis) -> Option<u64> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(seconds.saturating_mul(1000).min(MAX_RETRY_AFTER_MS));
    }
    let at = http_date(value)?;
    Some(at.saturating_sub(now).min(MAX_RETRY_AFTER_MS))
}

/// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) as Unix milliseconds.
fn http_date(value: &str) -> Option<UnixMillis> {
    let parts: Vec<&str> = value.split_whitespace().collect();
    let [_, day, month, year, time, "GMT"] = parts.as_slice() else {
        return None;
    };
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let m = months.iter().position(|m| m == month)? as i64 + 1;
    let d: i64 = day.parse().ok()?;
    let y: i64 = year.parse().ok()?;
    let hms: Vec<i64> = time
        .split(':')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let [h, min, s] = hms.as_slice() else {
        return None;
    };
    // Days from civil (Howard Hinnant's algorithm).
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + h * 3600 + min * 60 + s;
    u64::try_from(secs).ok().map(|s| s * 1000)
}

/// Reads one answer of `target` to a request that carried `sent` deliveries.
pub fn verdict(target: &Target, sent: usize, answer: Answer<'_>, now: UnixMillis) -> Verdict {
    let after_ms = answer.retry_after.and_then(|v| retry_after_ms(v, now));
    let retry = || Verdict::Retry {
        status: status_text(&answer),
        after_ms,
    };
    let Some(code) = answer.status else {
        return retry();
    };
    match target {
        Target::Ga4(_) => match code {
            200..=299 => Verdict::Acknowledged,
            408 | 429 | 500..=599 => retry(),
            // GA4 only refuses a request that cannot be collected at all
            // (a wrong endpoint or stream): fix the configuration.
            _ => Verdict::Pause {
                reason: format!("GA4 answered HTTP {code}: check measurement_id and endpoint"),
                for_ms: None,
            },
        },
        Target::Matomo(_) => match code {
            200..=299 => match super::matomo::bulk_answer(answer.body, sent) {
                Some(bulk) if bulk.invalid == 0 => Verdict::Acknowledged,
                Some(bulk) => {
                    let reason = format!(
                        "Matomo tracked {} and found {} invalid",
                        bulk.tracked, bulk.invalid
                    );
                    match bulk.invalid_indices {
                        Some(refused) if refused.iter().all(|i| *i < sent) => {
                            Verdict::Partly { refused, reason }
                        }
                        // Which ones Matomo does not say (the token is not a
                        // super user's): an admin looks at the whole batch.
                        _ => Verdict::Refused {
                            reason: format!("{reason} (which ones: not told)"),
                        },
                    }
                }
                None => Verdict::Retry {
                    status: format!("HTTP {code} without a bulk answer"),
                    after_ms,
                },
            },
            400 => Verdict::Refused {
                reason: "Matomo refused the hits (HTTP 400: unknown site or invalid parameters)"
                    .into(),
            },
            401 | 403 => Verdict::Pause {
                reason: format!("Matomo answered HTTP {code}: check token_auth"),
                for_ms: None,
            },
            404 => Verdict::Pause {
                reason: "Matomo answered HTTP 404: check url".into(),
                for_ms: None,
            },
            503 => Verdict::Pause {
                reason: "Matomo's tracking is disabled (HTTP 503)".into(),
                for_ms: Some(after_ms.unwrap_or(DISABLED_PAUSE_MS).max(DISABLED_PAUSE_MS)),
            },
            _ => retry(),
        },
        Target::Webhook(_) => match code {
            200..=299 => Verdict::Acknowledged,
            410 => Verdict::Disable {
                reason: "the endpoint answered HTTP 410 Gone".into(),
            },
            // Redirects are not followed: a failure, like every other answer.
            _ => retry(),
        },
    }
}

/// When a failed delivery is tried next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    At(UnixMillis),
    /// Too old for the destination: stop and count it as expired.
    Expired,
    /// Out of attempts (webhooks): dead-letter it.
    Exhausted,
}

/// The next attempt after `attempts` failed ones of an event from
/// `event_at`, with jitter from `seed`.
pub fn next_attempt(
    target: &Target,
    event_at: UnixMillis,
    attempts: u32,
    seed: u64,
    after_ms: Option<u64>,
    now: UnixMillis,
) -> Next {
    let n = attempts.max(1) as usize - 1;
    let delay = match target {
        Target::Webhook(_) => match WEBHOOK_SCHEDULE_MS.get(n) {
            // ±10 % from the seed.
            Some(ms) => {
                let spread = ms / 5;
                ms - ms / 10 + if spread > 0 { seed % spread } else { 0 }
            }
            None => return Next::Exhausted,
        },
        Target::Ga4(_) | Target::Matomo(_) => backon::ExponentialBuilder::default()
            .with_min_delay(Duration::from_secs(2))
            .with_max_delay(Duration::from_secs(3600))
            .with_factor(2.0)
            .with_jitter()
            .with_jitter_seed(seed)
            .without_max_times()
            .build()
            .nth(n)
            .map_or(3_600_000, |d| d.as_millis() as u64),
    };
    let at = now + delay.max(after_ms.unwrap_or(0));
    if at >= event_at.saturating_add(target.max_age_ms()) {
        return match target {
            Target::Webhook(_) => Next::Exhausted,
            _ => Next::Expired,
        };
    }
    Next::At(at)
}
