//! Calls inside a connected session: audio or video, changing medium, and
//! the path the media takes.

use super::{Effect, Session, SessionError};
use crate::UnixMillis;
use crate::channel::Channel;
use crate::event::EventName;
use serde::{Deserialize, Serialize};

/// host or server-reflexive path it goes peer to peer, on a relay path
/// through a media node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IcePath {
    Host,
    Srflx,
    Prflx,
    Relay,
}

impl IcePath {
    pub fn as_str(self) -> &'static str {
        match self {
            IcePath::Host => "host",
            IcePath::Srflx => "srflx",
            IcePath::Prflx => "prflx",
            IcePath::Relay => "relay",
        }
    }
}

/// Why a side restarted ICE on a live call (`ice_restart` events, the
/// `restart` field of a restart offer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RestartReason {
    /// ICE said the connection failed.
    Failed,
    /// ICE said it was disconnected and it did not come back.
    Disconnected,
    /// No media arrived on the selected path for a while (a media node
    /// that died: faster than ICE's own timeouts).
    Stalled,
    /// The signaling server said the media node drains.
    Drain,
    /// The signaling server said the media node stopped its heartbeat.
    NodeLost,
}

impl RestartReason {
    pub fn as_str(self) -> &'static str {
        match self {
            RestartReason::Failed => "failed",
            RestartReason::Disconnected => "disconnected",
            RestartReason::Stalled => "stalled",
            RestartReason::Drain => "drain",
            RestartReason::NodeLost => "node_lost",
        }
    }
}

/// The most `ice_restart` events one call records (a client that restarts
/// in a loop does not flood the event log).
pub const MAX_RESTART_EVENTS: u32 = 20;

/// An audio or video call in a connected session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Call {
    /// Audio or video.
    pub channel: Channel,
    pub since: UnixMillis,
    /// The path last reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<IcePath>,
    /// ICE restarts so far.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub restarts: u32,
    /// A screen being shared in this call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share: Option<super::share::Share>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// The end of a call: its screen share's end first, if one was on, then
/// `call_ended`.
pub(super) fn call_over(call: &Call, now: UnixMillis) -> Vec<Effect> {
    let mut effects = Vec::with_capacity(2);
    if let Some(share) = &call.share {
        effects.push(super::share::share_ended(share, None, now));
    }
    effects.push(call_ended(call, now));
    effects
}

/// `call_ended`, with the path its media took last (none: the media never
/// connected, a failed call in the reports).
pub(super) fn call_ended(call: &Call, now: UnixMillis) -> Effect {
    let mut props = vec![
        ("media", call.channel.as_str().into()),
        ("duration_ms", now.saturating_sub(call.since).into()),
    ];
    if let Some(path) = call.path {
        props.push(("path", path.as_str().into()));
    }
    Effect::event(EventName::CallEnded, props)
}

impl Session {
    /// Changes the medium of a connected session (chat, audio, video).
    pub(super) fn upgrade(
        &mut self,
        channel: Channel,
        now: UnixMillis,
    ) -> Result<Vec<Effect>, SessionError> {
        self.require_connected()?;
        if !self.request.offers(channel) {
            return Err(SessionError::ChannelNotOffered);
        }
        self.channel = channel;
        self.last_activity = now;
        let effects = match (self.call.take(), channel) {
            (None, Channel::Chat) => Vec::new(),
            (None, media) => self.start_call(media, now),
            (Some(call), Channel::Chat) => call_over(&call, now),
            (Some(mut call), media) => {
                let from = call.channel;
                call.channel = media;
                self.call = Some(call);
                if from == media {
                    Vec::new()
                } else {
                    vec![Effect::event(
                        EventName::CallUpgraded,
                        vec![
                            ("from", from.as_str().into()),
                            ("to", media.as_str().into()),
                        ],
                    )]
                }
            }
        };
        Ok(effects)
    }

    pub(super) fn start_call(&mut self, channel: Channel, now: UnixMillis) -> Vec<Effect> {
        if channel == Channel::Chat {
            return Vec::new();
        }
        self.call = Some(Call {
            channel,
            since: now,
            path: None,
            restarts: 0,
            share: None,
        });
        vec![Effect::event(
            EventName::CallStarted,
            vec![("media", channel.as_str().into())],
        )]
    }

    /// A side reports its call is up (periodically while it lasts, which
    /// also keeps the session from ending as inactive), with the path its
    /// media takes. A new path is an `ice_path` event.
    pub(super) fn call_report(
        &mut self,
        path: Option<IcePath>,
        now: UnixMillis,
    ) -> Result<Vec<Effect>, SessionError> {
        self.require_connected()?;
        let call = self.call.as_mut().ok_or(SessionError::NoCall)?;
        self.last_activity = now;
        match path {
            Some(path) if call.path != Some(path) => {
                call.path = Some(path);
                Ok(vec![Effect::event(
                    EventName::IcePath,
                    vec![("path", path.as_str().into())],
                )])
            }
            _ => Ok(Vec::new()),
        }
    }

    /// A side restarted ICE on the live call: an `ice_restart` event with
    /// the reason (the first [`MAX_RESTART_EVENTS`] of a call).
    pub(super) fn ice_restart(
        &mut self,
        reason: RestartReason,
        now: UnixMillis,
    ) -> Result<Vec<Effect>, SessionError> {
        self.require_connected()?;
        let call = self.call.as_mut().ok_or(SessionError::NoCall)?;
        self.last_activity = now;
        call.restarts = call.restarts.saturating_add(1);
        if call.restarts > MAX_RESTART_EVENTS {
            return Ok(Vec::new());
        }
        Ok(vec![Effect::event(
            EventName::IceRestart,
            vec![
                ("reason", reason.as_str().into()),
                ("media", call.channel.as_str().into()),
                ("count", u64::from(call.restarts).into()),
            ],
        )])
    }
}
