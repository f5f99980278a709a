//! Presence per advisor, channel and source, and the rules that combine
//! them into what visitors see.
//!
//! Every source (the console's heartbeat, a manual state, Teams, XMPP, the
//! phone system's presence and its calls, the signed webhook, livecard's own
//! calls) keeps its own entry per channel, with its own version and expiry:
//! sources' clocks differ, so one source's version never makes another's
//! update stale. [`Presence::decide`] combines them by the rules written in
//! `docs/presence.md`; it is pure, so the store, the hosts and the tests all
//! compute the same answer for the same instant.

use crate::UnixMillis;
use crate::advisor::Advisor;
use crate::channel::{Channel, ChannelSet};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::str::FromStr;

pub mod mapping;
pub mod teams;
pub mod teams_push;
#[cfg(test)]
mod tests;

/// What visitors see for a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PresenceState {
    Available,
    Busy,
    Away,
    Offline,
}

impl PresenceState {
    pub const ALL: [PresenceState; 4] = [
        PresenceState::Available,
        PresenceState::Busy,
        PresenceState::Away,
        PresenceState::Offline,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PresenceState::Available => "available",
            PresenceState::Busy => "busy",
            PresenceState::Away => "away",
            PresenceState::Offline => "offline",
        }
    }
}

impl FromStr for PresenceState {
    type Err = ();
    fn from_str(text: &str) -> Result<Self, ()> {
        Self::ALL
            .into_iter()
            .find(|state| state.as_str() == text)
            .ok_or(())
    }
}

/// What one source says about one channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Signal {
    Available,
    Away,
    Busy,
    /// Do not disturb: shown as busy, and the busiest of all.
    #[serde(rename = "dnd")]
    DoNotDisturb,
    Offline,
    /// On a call (livecard's, the phone's, a Teams call): audio and video
    /// are busy even over a manual "available".
    OnCall,
    /// The source has nothing to say (Teams `PresenceUnknown`, a phone call
    /// that ended): it drops out, but its version still orders its updates.
    None,
}

impl Signal {
    pub const ALL: [Signal; 7] = [
        Signal::Available,
        Signal::Away,
        Signal::Busy,
        Signal::DoNotDisturb,
        Signal::Offline,
        Signal::OnCall,
        Signal::None,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Signal::Available => "available",
            Signal::Away => "away",
            Signal::Busy => "busy",
            Signal::DoNotDisturb => "dnd",
            Signal::Offline => "offline",
            Signal::OnCall => "on_call",
            Signal::None => "none",
        }
    }

    /// "Busiest wins" among automatic sources: do not disturb > busy (a
    /// call counts as busy) > available > away > offline.
    pub(crate) fn rank(self) -> u8 {
        match self {
            Signal::DoNotDisturb => 5,
            Signal::Busy | Signal::OnCall => 4,
            Signal::Available => 3,
            Signal::Away => 2,
            Signal::Offline => 1,
            Signal::None => 0,
        }
    }

    /// What a visitor sees for this signal alone.
    pub fn shown(self) -> PresenceState {
        match self {
            Signal::Available => PresenceState::Available,
            Signal::Away => PresenceState::Away,
            Signal::Busy | Signal::DoNotDisturb | Signal::OnCall => PresenceState::Busy,
            Signal::Offline | Signal::None => PresenceState::Offline,
        }
    }
}

impl From<PresenceState> for Signal {
    fn from(state: PresenceState) -> Self {
        match state {
            PresenceState::Available => Signal::Available,
            PresenceState::Busy => Signal::Busy,
            PresenceState::Away => Signal::Away,
            PresenceState::Offline => Signal::Offline,
        }
    }
}

impl FromStr for Signal {
    type Err = ();
    fn from_str(text: &str) -> Result<Self, ()> {
        Self::ALL
            .into_iter()
            .find(|signal| signal.as_str() == text)
            .ok_or(())
    }
}

/// Where a presence entry came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PresenceSource {
    /// The advisor's browser console is open (its heartbeat): without it
    /// nobody can answer audio or video.
    Console,
    /// Set by hand, by the advisor in the console or by an admin; always
    /// with an expiry.
    Manual,
    /// Microsoft Teams (Graph presence).
    Teams,
    /// The company's XMPP server.
    Xmpp,
    /// The phone system's presence (SIP PIDF/RPID).
    SipPresence,
    /// A phone call on the advisor's extension (SIP dialog package).
    SipDialog,
    /// The signed presence webhook (or the admin API with a version).
    #[serde(alias = "sync")]
    Webhook,
    /// A livecard audio or video call.
    Call,
}

impl PresenceSource {
    pub const ALL: [PresenceSource; 8] = [
        PresenceSource::Console,
        PresenceSource::Manual,
        PresenceSource::Teams,
        PresenceSource::Xmpp,
        PresenceSource::SipPresence,
        PresenceSource::SipDialog,
        PresenceSource::Webhook,
        PresenceSource::Call,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PresenceSource::Console => "console",
            PresenceSource::Manual => "manual",
            PresenceSource::Teams => "teams",
            PresenceSource::Xmpp => "xmpp",
            PresenceSource::SipPresence => "sip_presence",
            PresenceSource::SipDialog => "sip_dialog",
            PresenceSource::Webhook => "webhook",
            PresenceSource::Call => "call",
        }
    }
}

impl std::fmt::Display for PresenceSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PresenceSource {
    type Err = ();
    fn from_str(text: &str) -> Result<Self, ()> {
        if text == "sync" {
            // The name before sources were told apart.
            return Ok(PresenceSource::Webhook);
        }
        Self::ALL
            .into_iter()
            .find(|source| source.as_str() == text)
            .ok_or(())
    }
}

/// One source's word on one channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub signal: Signal,
    /// Milliseconds at the source; per source and channel, newer wins.
    pub version: u64,
    /// When the entry stops counting; `None` for sources that say when
    /// they change (the webhook without an expiry).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<UnixMillis>,
}

impl Entry {
    /// Does the entry count at `now`?
    pub fn live(&self, now: UnixMillis) -> bool {
        self.signal != Signal::None && self.expires_at.is_none_or(|x| now < x)
    }
}

/// One source's entries, per channel.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceEntries {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chat: Option<Entry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio: Option<Entry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video: Option<Entry>,
}

impl SourceEntries {
    pub fn get(&self, channel: Channel) -> Option<&Entry> {
        match channel {
            Channel::Chat => self.chat.as_ref(),
            Channel::Audio => self.audio.as_ref(),
            Channel::Video => self.video.as_ref(),
        }
    }

    fn slot(&mut self, channel: Channel) -> &mut Option<Entry> {
        match channel {
            Channel::Chat => &mut self.chat,
            Channel::Audio => &mut self.audio,
            Channel::Video => &mut self.video,
        }
    }
}

/// The stored presence of one advisor: every source's entries and the
/// console's heartbeat deadline.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Presence {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sources: BTreeMap<PresenceSource, SourceEntries>,
    /// Until when the console counts as open; `None` means never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heartbeat_until: Option<UnixMillis>,
}

/// Why a channel shows what it shows (the rule that decided).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// The advisor does not offer the channel.
    NotOffered,
    /// No console heartbeat: nobody can answer in the browser.
    NoConsole,
    /// A manual "offline" (appear offline) wins.
    ManualOffline,
    /// On a call: audio and video are busy whatever else is said.
    OnCall,
    /// A manual state overrides the automatic sources.
    Manual,
    /// The busiest automatic source.
    Automatic,
    /// No source says anything that counts.
    NoSource,
}

/// The decision for one channel: the state and the rule (and source) that
/// made it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Decision {
    pub state: PresenceState,
    pub rule: Rule,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<PresenceSource>,
}

impl Presence {
    pub fn entry(&self, source: PresenceSource, channel: Channel) -> Option<&Entry> {
        self.sources.get(&source).and_then(|e| e.get(channel))
    }

    /// The highest version of any entry (0 when none was ever set).
    pub fn version(&self) -> u64 {
        self.sources
            .values()
            .flat_map(|e| Channel::ALL.into_iter().filter_map(|c| e.get(c)))
            .map(|e| e.version)
            .max()
            .unwrap_or(0)
    }

    /// Is the console open at `now` (a heartbeat not yet run out)?
    pub fn console_live(&self, now: UnixMillis) -> bool {
        self.heartbeat_until.is_some_and(|h| now < h)
    }

    /// Would `update` be applied? Per source and channel, only a newer
    /// version counts (a tie is stale), for every channel the update names.
    pub fn accepts(&self, update: &PresenceUpdate) -> bool {
        update.states.iter().all(|(c, _)| {
            self.entry(update.source, *c)
                .is_none_or(|e| e.version < update.version)
        })
    }

    /// The presence after `update`; false (and unchanged) when it is stale.
    pub fn apply(&mut self, update: &PresenceUpdate) -> bool {
        if !self.accepts(update) {
            return false;
        }
        let entries = self.sources.entry(update.source).or_default();
        for (channel, signal) in &update.states {
            *entries.slot(*channel) = Some(Entry {
                signal: *signal,
                version: update.version,
                expires_at: update.expires_at,
            });
        }
        if let Some(until) = update.heartbeat_until {
            self.extend_heartbeat(until);
        }
        true
    }

    /// A heartbeat: the console deadline moves to `until`, never backwards.
    pub fn extend_heartbeat(&mut self, until: UnixMillis) {
        self.heartbeat_until = Some(self.heartbeat_until.map_or(until, |h| h.max(until)));
    }

    /// The entries that count for `channel` at `now`, with their sources.
    pub fn live_entries(&self, channel: Channel, now: UnixMillis) -> Vec<(PresenceSource, Entry)> {
        self.sources
            .iter()
            .filter_map(|(s, e)| e.get(channel).map(|e| (*s, *e)))
            .filter(|(_, e)| e.live(now))
            .collect()
    }

    /// What a visitor sees for `channel` at `now`, and which rule decided.
    /// The rules, in order (`docs/presence.md`):
    /// 1. a channel the advisor does not offer is offline;
    /// 2. expired entries drop out;
    /// 3. without a console heartbeat audio and video are offline (chat too,
    ///    unless the deployment lets chat stay available without one);
    /// 4. a manual "offline" wins;
    /// 5. on a call, audio and video are busy, even over a manual state;
    /// 6. a manual state overrides the automatic sources;
    /// 7. otherwise the busiest automatic source wins (dnd > busy >
    ///    available > away > offline); no source at all is offline.
    pub fn decide(
        &self,
        channel: Channel,
        offered: ChannelSet,
        policy: &PresencePolicy,
        now: UnixMillis,
    ) -> Decision {
        let decided = |state, rule, source| Decision {
            state,
            rule,
            source,
        };
        if !offered.contains(channel) {
            return decided(PresenceState::Offline, Rule::NotOffered, None);
        }
        let needs_console = channel != Channel::Chat || !policy.chat_without_console;
        if needs_console && !self.console_live(now) {
            return decided(
                PresenceState::Offline,
                Rule::NoConsole,
                Some(PresenceSource::Console),
            );
        }
        let live = self.live_entries(channel, now);
        let manual = live
            .iter()
            .find(|(s, _)| *s == PresenceSource::Manual)
            .map(|(_, e)| e.signal);
        if manual == Some(Signal::Offline) {
            return decided(
                PresenceState::Offline,
                Rule::ManualOffline,
                Some(PresenceSource::Manual),
            );
        }
        if channel != Channel::Chat
            && let Some((source, _)) = live.iter().find(|(_, e)| e.signal == Signal::OnCall)
        {
            return decided(PresenceState::Busy, Rule::OnCall, Some(*source));
        }
        if let Some(signal) = manual {
            return decided(signal.shown(), Rule::Manual, Some(PresenceSource::Manual));
        }
        // Busiest wins; among equals the first source in the fixed order,
        // so the answer never depends on the order updates came in.
        let busiest = live
            .iter()
            .filter(|(s, _)| *s != PresenceSource::Manual)
            .fold(
                None::<(PresenceSource, Signal)>,
                |best, (s, e)| match best {
                    Some((_, b)) if b.rank() >= e.signal.rank() => best,
                    _ => Some((*s, e.signal)),
                },
            );
        match busiest {
            Some((source, signal)) => decided(signal.shown(), Rule::Automatic, Some(source)),
            None => decided(PresenceState::Offline, Rule::NoSource, None),
        }
    }

    /// What a visitor sees for `channel` at `now`.
    pub fn effective(
        &self,
        channel: Channel,
        offered: ChannelSet,
        policy: &PresencePolicy,
        now: UnixMillis,
    ) -> PresenceState {
        self.decide(channel, offered, policy, now).state
    }

    /// Until when the manual state set for `channel` lasts, while it does.
    pub fn manual_until(&self, channel: Channel, now: UnixMillis) -> Option<UnixMillis> {
        self.entry(PresenceSource::Manual, channel)
            .filter(|e| e.live(now))
            .and_then(|e| e.expires_at)
    }

    /// The next instant after `now` at which an entry or the heartbeat runs
    /// out (the effective presence may change then without any update).
    pub fn next_expiry(&self, now: UnixMillis) -> Option<UnixMillis> {
        self.sources
            .values()
            .flat_map(|e| Channel::ALL.into_iter().filter_map(|c| e.get(c)))
            .filter_map(|e| e.expires_at)
            .chain(self.heartbeat_until)
            .filter(|x| *x > now)
            .min()
    }
}

/// A change of one source's presence for one or more channels, applied
/// whole or not at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresenceUpdate {
    pub source: PresenceSource,
    pub states: Vec<(Channel, Signal)>,
    pub version: u64,
    /// When the entries stop counting.
    pub expires_at: Option<UnixMillis>,
    /// Updates from the console also prove it is open.
    pub heartbeat_until: Option<UnixMillis>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidPresence {
    #[error("a presence update must name at least one channel")]
    Empty,
    #[error("channel {0} is named twice")]
    Duplicate(Channel),
    #[error("version must be greater than 0")]
    Version,
    /// A version far ahead of the server's clock would freeze the channel
    /// (every later update of the source would be stale) until the clock
    /// caught up: milliseconds are expected, not microseconds.
    #[error(
        "version {version} is more than {max_skew_s} s ahead of the server's clock ({now}): send milliseconds since 1970"
    )]
    Future {
        version: u64,
        now: UnixMillis,
        max_skew_s: u64,
    },
    #[error(
        "until must be later than now and at most {max_days} days ahead (milliseconds since 1970)"
    )]
    Until { max_days: u64 },
    #[error("expires_at must be later than now (milliseconds since 1970)")]
    Expired,
    #[error("the {0} source is set through its own path")]
    Source(PresenceSource),
}

/// How far a synced version may be ahead of the server's clock (clock skew
/// between the company's system and ours).
pub const MAX_VERSION_SKEW_MS: u64 = 5 * 60_000;

/// The longest a manual state lasts.
pub const MAX_MANUAL_MS: u64 = 7 * 86_400_000;

/// The presence rules a deployment runs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PresencePolicy {
    /// How long a console heartbeat keeps the console counted as open.
    pub heartbeat_ttl_ms: u64,
    /// Whether chat may show available without an open console (a team
    /// that answers chats from elsewhere); audio and video never do.
    pub chat_without_console: bool,
    /// Where a manual state ends by default: minutes after local midnight.
    pub working_day_end_min: u16,
}

impl Default for PresencePolicy {
    fn default() -> Self {
        Self {
            heartbeat_ttl_ms: 60_000,
            chat_without_console: false,
            working_day_end_min: 18 * 60,
        }
    }
}

fn checked<T>(states: Vec<(Channel, T)>) -> Result<Vec<(Channel, T)>, InvalidPresence> {
    if states.is_empty() {
        return Err(InvalidPresence::Empty);
    }
    let mut seen = ChannelSet::NONE;
    for (channel, _) in &states {
        if seen.contains(*channel) {
            return Err(InvalidPresence::Duplicate(*channel));
        }
        seen = seen.with(*channel);
    }
    Ok(states)
}

impl PresencePolicy {
    /// A manual state, set by the advisor or an admin: versioned by the
    /// server's clock, lasting until `until` (at most [`MAX_MANUAL_MS`]).
    pub fn manual_update(
        &self,
        states: Vec<(Channel, PresenceState)>,
        now: UnixMillis,
        until: UnixMillis,
    ) -> Result<PresenceUpdate, InvalidPresence> {
        if until <= now || until > now.saturating_add(MAX_MANUAL_MS) {
            return Err(InvalidPresence::Until {
                max_days: MAX_MANUAL_MS / 86_400_000,
            });
        }
        Ok(PresenceUpdate {
            source: PresenceSource::Manual,
            states: checked(states)?
                .into_iter()
                .map(|(c, s)| (c, s.into()))
                .collect(),
            version: now,
            expires_at: Some(until),
            heartbeat_until: None,
        })
    }

    /// The advisor sets a manual state in the console, which is open.
    pub fn console_update(
        &self,
        states: Vec<(Channel, PresenceState)>,
        now: UnixMillis,
        until: UnixMillis,
    ) -> Result<PresenceUpdate, InvalidPresence> {
        Ok(PresenceUpdate {
            heartbeat_until: Some(self.heartbeat_deadline(now)),
            ..self.manual_update(states, now, until)?
        })
    }

    /// An update from a connected system (Teams, XMPP, SIP, the webhook,
    /// livecard's calls) with its own version, at most
    /// [`MAX_VERSION_SKEW_MS`] ahead of `now`.
    pub fn source_update(
        &self,
        source: PresenceSource,
        states: Vec<(Channel, Signal)>,
        version: u64,
        expires_at: Option<UnixMillis>,
        now: UnixMillis,
    ) -> Result<PresenceUpdate, InvalidPresence> {
        if matches!(source, PresenceSource::Console | PresenceSource::Manual) {
            return Err(InvalidPresence::Source(source));
        }
        if version == 0 {
            return Err(InvalidPresence::Version);
        }
        if version > now.saturating_add(MAX_VERSION_SKEW_MS) {
            return Err(InvalidPresence::Future {
                version,
                now,
                max_skew_s: MAX_VERSION_SKEW_MS / 1000,
            });
        }
        if expires_at.is_some_and(|x| x <= now) {
            return Err(InvalidPresence::Expired);
        }
        Ok(PresenceUpdate {
            source,
            states: checked(states)?,
            version,
            expires_at,
            heartbeat_until: None,
        })
    }

    /// The deadline a heartbeat at `now` buys.
    pub fn heartbeat_deadline(&self, now: UnixMillis) -> UnixMillis {
        now.saturating_add(self.heartbeat_ttl_ms)
    }

    /// The default end of a manual state set at `now`: the end of the
    /// working day in the deployment's time zone, or of the next one when
    /// today's has passed.
    pub fn end_of_working_day(
        &self,
        now: UnixMillis,
        time_zone: &jiff::tz::TimeZone,
    ) -> UnixMillis {
        let fallback = now.saturating_add(MAX_MANUAL_MS);
        let Some(at) = i64::try_from(now)
            .ok()
            .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
        else {
            return fallback;
        };
        let local = at.to_zoned(time_zone.clone());
        let minutes = i64::from(self.working_day_end_min.min(24 * 60 - 1));
        let end = |date: jiff::civil::Date| {
            date.at(
                i8::try_from(minutes / 60).unwrap_or(0),
                i8::try_from(minutes % 60).unwrap_or(0),
                0,
                0,
            )
            .to_zoned(time_zone.clone())
            .ok()
            .map(|z| z.timestamp().as_millisecond())
        };
        let today = local.date();
        let candidate = end(today)
            .filter(|t| *t > at.as_millisecond())
            .or_else(|| today.tomorrow().ok().and_then(end));
        candidate
            .and_then(|t| u64::try_from(t).ok())
            .map_or(fallback, |t| t.min(fallback))
    }
}

/// A time as an advisor reads it in the console: `18:00` today, else
/// `2026-12-08 18:00`, in the deployment's time zone.
pub fn clock_label(time_zone: &jiff::tz::TimeZone, at: UnixMillis, now: UnixMillis) -> String {
    let zoned = |ms: UnixMillis| {
        i64::try_from(ms)
            .ok()
            .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
            .map(|t| t.to_zoned(time_zone.clone()))
    };
    match (zoned(at), zoned(now)) {
        (Some(a), Some(n)) if a.date() == n.date() => a.strftime("%H:%M").to_string(),
        (Some(a), _) => a.strftime("%Y-%m-%d %H:%M").to_string(),
        _ => String::new(),
    }
}

/// A span as the console shows it: `5 h 12 min`, `40 min`, `2 d 3 h`.
pub fn span_label(ms: u64) -> String {
    let minutes = ms.div_ceil(60_000);
    let (days, hours, mins) = (minutes / 1440, minutes / 60 % 24, minutes % 60);
    match (days, hours) {
        (0, 0) => format!("{mins} min"),
        (0, h) if mins == 0 => format!("{h} h"),
        (0, h) => format!("{h} h {mins} min"),
        (d, 0) => format!("{d} d"),
        (d, h) => format!("{d} d {h} h"),
    }
}

/// What the portal and card pages show for an advisor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresenceView {
    pub chat: PresenceState,
    pub audio: PresenceState,
    pub video: PresenceState,
}

impl PresenceView {
    pub fn of(
        advisor: &Advisor,
        presence: &Presence,
        policy: &PresencePolicy,
        now: UnixMillis,
    ) -> Self {
        let eff = |c| presence.effective(c, advisor.channels, policy, now);
        Self {
            chat: eff(Channel::Chat),
            audio: eff(Channel::Audio),
            video: eff(Channel::Video),
        }
    }

    pub fn get(&self, channel: Channel) -> PresenceState {
        match channel {
            Channel::Chat => self.chat,
            Channel::Audio => self.audio,
            Channel::Video => self.video,
        }
    }

    /// The single word for the whole advisor: available on any channel wins.
    pub fn overall(&self) -> PresenceState {
        let all = [self.chat, self.audio, self.video];
        for state in [
            PresenceState::Available,
            PresenceState::Busy,
            PresenceState::Away,
        ] {
            if all.contains(&state) {
                return state;
            }
        }
        PresenceState::Offline
    }
}
