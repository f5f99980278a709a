//! Screen sharing inside a call: one side at a time shows a window, a tab
//! or a screen as an extra video track. The advisor may share at will; the
//! visitor shares only when the advisor asked and the visitor agreed.
//! Either side can stop it. Every change is a session change, so both sides
//! learn it from the `session` message (also after a reconnect).

use super::{Effect, Session, SessionError, Side};
use crate::UnixMillis;
use crate::event::EventName;
use serde::{Deserialize, Serialize};

/// What a side does about screen sharing (`share` messages).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShareAction {
    /// The advisor asks the visitor to share their screen.
    Ask,
    /// The visitor declines the advisor's ask.
    Decline,
    /// This side shares now (`stream`: the id of the `MediaStream` its
    /// screen track is sent in, so the other side tells it from the camera).
    Start,
    /// Either side stops the share.
    Stop,
}

/// A screen being shared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Share {
    /// Who shares.
    pub side: Side,
    pub since: UnixMillis,
    /// The `MediaStream` id the screen track is sent in.
    pub stream: String,
}

/// A `MediaStream` id as browsers make them: 1 to 64 of `A-Za-z0-9-_{}`.
pub fn valid_stream_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_{}".contains(&b))
}

/// `screen_share_ended`: who shared, who stopped it, for how long.
pub(super) fn share_ended(share: &Share, stopped_by: Option<Side>, now: UnixMillis) -> Effect {
    let mut props = vec![
        ("by", share.side.as_str().into()),
        ("duration_ms", now.saturating_sub(share.since).into()),
    ];
    if let Some(side) = stopped_by {
        props.push(("stopped_by", side.as_str().into()));
    }
    Effect::event(EventName::ScreenShareEnded, props)
}

impl Session {
    /// A side's screen-sharing action at `now`.
    pub(super) fn share(
        &mut self,
        side: Side,
        action: ShareAction,
        stream: Option<String>,
        now: UnixMillis,
    ) -> Result<Vec<Effect>, SessionError> {
        self.require_connected()?;
        let sharing = self.call.as_ref().and_then(|c| c.share.as_ref());
        match action {
            ShareAction::Ask => {
                if side != Side::Advisor {
                    return Err(SessionError::NotAllowed);
                }
                if sharing.is_some() {
                    return Err(SessionError::NotOffered);
                }
                self.share_asked = true;
                self.last_activity = now;
                Ok(Vec::new())
            }
            ShareAction::Decline => {
                if side != Side::Visitor {
                    return Err(SessionError::NotAllowed);
                }
                if !self.share_asked {
                    return Err(SessionError::NotOffered);
                }
                self.share_asked = false;
                self.last_activity = now;
                Ok(Vec::new())
            }
            ShareAction::Start => {
                let stream = stream
                    .filter(|s| valid_stream_id(s))
                    .ok_or(SessionError::NotOffered)?;
                if side == Side::Visitor && !self.share_asked {
                    return Err(SessionError::NotAllowed);
                }
                if sharing.is_some_and(|s| s.side != side) {
                    return Err(SessionError::NotOffered);
                }
                let again = sharing.is_some();
                let call = self.call.as_mut().ok_or(SessionError::NoCall)?;
                let since = call.share.as_ref().map_or(now, |s| s.since);
                call.share = Some(Share {
                    side,
                    since,
                    stream,
                });
                self.share_asked = false;
                self.last_activity = now;
                // A new track of the same share (another window) is not a
                // new share.
                if again {
                    return Ok(Vec::new());
                }
                Ok(vec![Effect::event(
                    EventName::ScreenShareStarted,
                    vec![("by", side.as_str().into())],
                )])
            }
            ShareAction::Stop => {
                let call = self.call.as_mut().ok_or(SessionError::NoCall)?;
                let share = call.share.take().ok_or(SessionError::NotOffered)?;
                self.last_activity = now;
                Ok(vec![share_ended(&share, Some(side), now)])
            }
        }
    }
}
