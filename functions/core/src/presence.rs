//! Presence per advisor and channel.
//!
//! Every update carries a version; an update is applied only when its version
//! is greater than the stored version of every channel it names (ties are
//! stale), so an older update never overwrites a newer one whatever order they
//! arrive in. Versions are milliseconds at the source: the server's clock for
//! console and manual updates, the company system's clock for synced ones.
//! Console presence also needs a heartbeat: when the console stops sending,
//! its channels read as offline once the heartbeat deadline passes.

use crate::UnixMillis;
use crate::advisor::Advisor;
use crate::channel::{Channel, ChannelSet};
use serde::{Deserialize, Serialize};
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PresenceState {
    Available,
    Busy,
    Away,
    Offline,
}

impl PresenceState {
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
        [Self::Available, Self::Busy, Self::Away, Self::Offline]
            .into_iter()
            .find(|state| state.as_str() == text)
            .ok_or(())
    }
}

/// Where an update came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PresenceSource {
    /// The advisor's browser; kept alive by heartbeats.
    Console,
    /// Set by hand (an admin, or the advisor without a console); no expiry.
    Manual,
    /// Pushed by the company's presence system; no expiry.
    Sync,
}

impl PresenceSource {
    pub fn as_str(self) -> &'static str {
        match self {
            PresenceSource::Console => "console",
            PresenceSource::Manual => "manual",
            PresenceSource::Sync => "sync",
        }
    }
}

impl FromStr for PresenceSource {
    type Err = ();
    fn from_str(text: &str) -> Result<Self, ()> {
        [Self::Console, Self::Manual, Self::Sync]
            .into_iter()
            .find(|source| source.as_str() == text)
            .ok_or(())
    }
}

/// The stored presence of one channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelPresence {
    pub state: PresenceState,
    pub version: u64,
    pub source: PresenceSource,
}

/// The stored presence of one advisor.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Presence {
    pub chat: Option<ChannelPresence>,
    pub audio: Option<ChannelPresence>,
    pub video: Option<ChannelPresence>,
    /// Until when console-sourced channels count; `None` means never sent.
    pub heartbeat_until: Option<UnixMillis>,
}

impl Presence {
    pub fn get(&self, channel: Channel) -> Option<&ChannelPresence> {
        match channel {
            Channel::Chat => self.chat.as_ref(),
            Channel::Audio => self.audio.as_ref(),
            Channel::Video => self.video.as_ref(),
        }
    }

    pub fn slot(&mut self, channel: Channel) -> &mut Option<ChannelPresence> {
        match channel {
            Channel::Chat => &mut self.chat,
            Channel::Audio => &mut self.audio,
            Channel::Video => &mut self.video,
        }
    }

    /// What a visitor sees for `channel` at `now`.
    pub fn effective(
        &self,
        channel: Channel,
        offered: ChannelSet,
        now: UnixMillis,
    ) -> PresenceState {
        if !offered.contains(channel) {
            return PresenceState::Offline;
        }
        match self.get(channel) {
            None => PresenceState::Offline,
            Some(p)
                if p.source == PresenceSource::Console
                    && self.heartbeat_until.is_none_or(|h| now >= h) =>
            {
                PresenceState::Offline
            }
            Some(p) => p.state,
        }
    }

    /// The highest version of any channel (0 when none was ever set).
    pub fn version(&self) -> u64 {
        Channel::ALL
            .iter()
            .filter_map(|c| self.get(*c).map(|p| p.version))
            .max()
            .unwrap_or(0)
    }

    /// Would `update` be applied? The store enforces the same rule with a
    /// conditional write; this is its reference.
    pub fn accepts(&self, update: &PresenceUpdate) -> bool {
        update
            .states
            .iter()
            .all(|(c, _)| self.get(*c).is_none_or(|p| p.version < update.version))
    }

    /// The presence after `update` (used by in-memory stores and tests).
    pub fn apply(&mut self, update: &PresenceUpdate) -> bool {
        if !self.accepts(update) {
            return false;
        }
        for (channel, state) in &update.states {
            *self.slot(*channel) = Some(ChannelPresence {
                state: *state,
                version: update.version,
                source: update.source,
            });
        }
        if let Some(until) = update.heartbeat_until {
            self.heartbeat_until = Some(self.heartbeat_until.map_or(until, |h| h.max(until)));
        }
        true
    }
}

/// A change of presence for one or more channels, applied whole or not at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresenceUpdate {
    pub states: Vec<(Channel, PresenceState)>,
    pub version: u64,
    pub source: PresenceSource,
    /// Console updates also extend the heartbeat.
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
    /// (every later update, console and manual ones too, would be stale)
    /// until the clock caught up: milliseconds are expected, not
    /// microseconds or nanoseconds.
    #[error(
        "version {version} is more than {max_skew_s} s ahead of the server's clock ({now}): send milliseconds since 1970"
    )]
    Future {
        version: u64,
        now: UnixMillis,
        max_skew_s: u64,
    },
}

/// How far a synced version may be ahead of the server's clock (clock skew
/// between the company's system and ours).
pub const MAX_VERSION_SKEW_MS: u64 = 5 * 60_000;

/// The presence rules a deployment runs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PresencePolicy {
    /// How long a console heartbeat keeps console presence alive.
    pub heartbeat_ttl_ms: u64,
}

impl Default for PresencePolicy {
    fn default() -> Self {
        Self {
            heartbeat_ttl_ms: 60_000,
        }
    }
}

fn checked_states(
    states: Vec<(Channel, PresenceState)>,
) -> Result<Vec<(Channel, PresenceState)>, InvalidPresence> {
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
    /// An update from an advisor's console: versioned by the server clock and
    /// kept alive by heartbeats.
    pub fn console_update(
        &self,
        states: Vec<(Channel, PresenceState)>,
        now: UnixMillis,
    ) -> Result<PresenceUpdate, InvalidPresence> {
        Ok(PresenceUpdate {
            states: checked_states(states)?,
            version: now,
            source: PresenceSource::Console,
            heartbeat_until: Some(self.heartbeat_deadline(now)),
        })
    }

    /// A manual update (admin API): versioned by the server clock, no expiry.
    pub fn manual_update(
        &self,
        states: Vec<(Channel, PresenceState)>,
        now: UnixMillis,
    ) -> Result<PresenceUpdate, InvalidPresence> {
        Ok(PresenceUpdate {
            states: checked_states(states)?,
            version: now,
            source: PresenceSource::Manual,
            heartbeat_until: None,
        })
    }

    /// An update pushed by the company's presence system with its own
    /// version (its clock, in milliseconds), at most
    /// [`MAX_VERSION_SKEW_MS`] ahead of `now`.
    pub fn sync_update(
        &self,
        states: Vec<(Channel, PresenceState)>,
        version: u64,
        now: UnixMillis,
    ) -> Result<PresenceUpdate, InvalidPresence> {
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
        Ok(PresenceUpdate {
            states: checked_states(states)?,
            version,
            source: PresenceSource::Sync,
            heartbeat_until: None,
        })
    }

    /// The deadline a heartbeat at `now` buys.
    pub fn heartbeat_deadline(&self, now: UnixMillis) -> UnixMillis {
        now.saturating_add(self.heartbeat_ttl_ms)
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
    pub fn of(advisor: &Advisor, presence: &Presence, now: UnixMillis) -> Self {
        let eff = |c| presence.effective(c, advisor.channels, now);
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

#[cfg(test)]
mod tests {
    use super::*;
    use PresenceState::*;

    const T0: UnixMillis = 1_700_000_000_000;

    #[test]
    fn older_update_never_overwrites_newer() {
        let policy = PresencePolicy::default();
        let mut p = Presence::default();
        let newer = policy
            .sync_update(vec![(Channel::Chat, Busy)], 20, T0)
            .expect("valid");
        let older = policy
            .sync_update(vec![(Channel::Chat, Available)], 10, T0)
            .expect("valid");
        let tie = policy
            .sync_update(vec![(Channel::Chat, Away)], 20, T0)
            .expect("valid");
        assert!(p.apply(&newer));
        assert!(!p.apply(&older));
        assert!(!p.apply(&tie));
        assert_eq!(p.effective(Channel::Chat, ChannelSet::ALL, T0), Busy);
    }

    #[test]
    fn update_is_all_or_nothing_across_channels() {
        let policy = PresencePolicy::default();
        let mut p = Presence::default();
        assert!(
            p.apply(
                &policy
                    .sync_update(vec![(Channel::Chat, Busy)], 50, T0)
                    .expect("valid")
            )
        );
        let mixed = policy
            .sync_update(
                vec![(Channel::Chat, Available), (Channel::Audio, Available)],
                40,
                T0,
            )
            .expect("valid");
        assert!(!p.apply(&mixed));
        assert_eq!(p.audio, None);
    }

    #[test]
    fn console_presence_expires_without_heartbeat() {
        let policy = PresencePolicy {
            heartbeat_ttl_ms: 60_000,
        };
        let mut p = Presence::default();
        let update = policy
            .console_update(vec![(Channel::Chat, Available)], T0)
            .expect("valid");
        assert!(p.apply(&update));
        assert_eq!(
            p.effective(Channel::Chat, ChannelSet::ALL, T0 + 59_999),
            Available
        );
        assert_eq!(
            p.effective(Channel::Chat, ChannelSet::ALL, T0 + 60_000),
            Offline
        );
        // A heartbeat later extends it; an earlier heartbeat never shortens it.
        p.heartbeat_until = Some(policy.heartbeat_deadline(T0 + 50_000));
        assert_eq!(
            p.effective(Channel::Chat, ChannelSet::ALL, T0 + 100_000),
            Available
        );
    }

    #[test]
    fn manual_and_sync_presence_do_not_expire_and_unoffered_channels_are_offline() {
        let policy = PresencePolicy::default();
        let mut p = Presence::default();
        assert!(
            p.apply(
                &policy
                    .manual_update(vec![(Channel::Video, Available)], T0)
                    .expect("valid")
            )
        );
        assert_eq!(
            p.effective(Channel::Video, ChannelSet::ALL, T0 + 86_400_000),
            Available
        );
        assert_eq!(
            p.effective(Channel::Video, ChannelSet::NONE.with(Channel::Chat), T0),
            Offline
        );
        assert_eq!(p.effective(Channel::Audio, ChannelSet::ALL, T0), Offline);
    }

    #[test]
    fn refuses_empty_duplicate_and_zero_version() {
        let policy = PresencePolicy::default();
        assert_eq!(
            policy.manual_update(vec![], T0),
            Err(InvalidPresence::Empty)
        );
        assert_eq!(
            policy.manual_update(vec![(Channel::Chat, Busy), (Channel::Chat, Away)], T0),
            Err(InvalidPresence::Duplicate(Channel::Chat))
        );
        assert_eq!(
            policy.sync_update(vec![(Channel::Chat, Busy)], 0, T0),
            Err(InvalidPresence::Version)
        );
    }

    #[test]
    fn refuses_versions_far_ahead_of_the_clock() {
        let policy = PresencePolicy::default();
        let ok = policy.sync_update(vec![(Channel::Chat, Busy)], T0 + MAX_VERSION_SKEW_MS, T0);
        assert!(ok.is_ok(), "clock skew within the bound is fine");
        // Microseconds sent as milliseconds: refused, with the reason.
        let err = policy
            .sync_update(vec![(Channel::Chat, Busy)], T0 * 1000, T0)
            .expect_err("far future");
        assert!(matches!(err, InvalidPresence::Future { .. }), "{err:?}");
        assert!(err.to_string().contains("milliseconds"), "{err}");
        assert!(
            policy
                .sync_update(vec![(Channel::Chat, Busy)], u64::MAX, T0)
                .is_err()
        );
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
}
