//! The identity check: the advisor asks, the visitor sees what will happen
//! and consents or declines; the visitor's browser sends a still of their
//! ID document (and, if asked, of their face) to the advisor only, over the
//! data link; the advisor records the outcome with a note. The images
//! never pass livecard's servers; the session keeps the steps, the outcome
//! and the advisor's note (with the transcript, erased with it).

use super::{Effect, Session, SessionError, Side};
use crate::UnixMillis;
use crate::event::EventName;
use serde::{Deserialize, Serialize};

/// The longest note an advisor records, in characters.
pub const MAX_NOTE_CHARS: usize = 500;
/// The most identity checks one session holds.
pub const MAX_CHECKS: usize = 10;

/// What a side does about an identity check (`identity` messages).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentityAction {
    /// The advisor asks for a check (`face`: a photo of the face too).
    Ask,
    /// The visitor agrees.
    Consent,
    /// The visitor declines.
    Decline,
    /// The advisor records the outcome (with a note).
    Result,
}

/// How a check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentityOutcome {
    Verified,
    NotVerified,
    Aborted,
    /// The visitor said no.
    Declined,
}

impl IdentityOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            IdentityOutcome::Verified => "verified",
            IdentityOutcome::NotVerified => "not_verified",
            IdentityOutcome::Aborted => "aborted",
            IdentityOutcome::Declined => "declined",
        }
    }
}

/// Where a check stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentityState {
    Asked,
    Consented,
    Done,
}

/// An identity check of this session (the last one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityCheck {
    pub state: IdentityState,
    /// A photo of the face is asked for too.
    #[serde(default)]
    pub face: bool,
    pub asked_at: UnixMillis,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<IdentityOutcome>,
    /// The advisor's note (never shown to the visitor).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub done_at: Option<UnixMillis>,
}

/// A note as the advisor may record it: at most 500 characters, without
/// control characters but line breaks.
pub fn valid_note(note: &str) -> bool {
    note.chars().count() <= MAX_NOTE_CHARS && !note.chars().any(|c| c.is_control() && c != '\n')
}

fn identity_event(check: &IdentityCheck, outcome: IdentityOutcome, now: UnixMillis) -> Effect {
    Effect::event(
        EventName::IdentityCheck,
        vec![
            ("outcome", outcome.as_str().into()),
            ("face", if check.face { "yes" } else { "no" }.into()),
            ("duration_ms", now.saturating_sub(check.asked_at).into()),
        ],
    )
}

impl Session {
    /// A side's identity-check action at `now`.
    pub(super) fn identity(
        &mut self,
        side: Side,
        action: IdentityAction,
        face: bool,
        outcome: Option<IdentityOutcome>,
        note: Option<String>,
        now: UnixMillis,
    ) -> Result<Vec<Effect>, SessionError> {
        self.require_connected()?;
        let in_progress = self
            .identity
            .as_ref()
            .is_some_and(|c| c.state != IdentityState::Done);
        let by_advisor = side == Side::Advisor;
        match action {
            IdentityAction::Ask => {
                if !by_advisor {
                    return Err(SessionError::NotAllowed);
                }
                if in_progress || self.identity_history.len() + 1 >= MAX_CHECKS {
                    return Err(SessionError::NotOffered);
                }
                // The decided check is kept, with its outcome and note.
                if let Some(done) = self.identity.take() {
                    self.identity_history.push(done);
                }
                self.identity = Some(IdentityCheck {
                    state: IdentityState::Asked,
                    face,
                    asked_at: now,
                    outcome: None,
                    note: None,
                    done_at: None,
                });
                self.last_activity = now;
                Ok(Vec::new())
            }
            IdentityAction::Consent | IdentityAction::Decline => {
                if by_advisor {
                    return Err(SessionError::NotAllowed);
                }
                let check = self.identity.as_mut().ok_or(SessionError::NotOffered)?;
                if check.state != IdentityState::Asked {
                    return Err(SessionError::NotOffered);
                }
                self.last_activity = now;
                if action == IdentityAction::Consent {
                    check.state = IdentityState::Consented;
                    return Ok(Vec::new());
                }
                check.state = IdentityState::Done;
                check.outcome = Some(IdentityOutcome::Declined);
                check.done_at = Some(now);
                Ok(vec![identity_event(check, IdentityOutcome::Declined, now)])
            }
            IdentityAction::Result => {
                if !by_advisor {
                    return Err(SessionError::NotAllowed);
                }
                let outcome = outcome.ok_or(SessionError::NotOffered)?;
                let check = self.identity.as_mut().ok_or(SessionError::NotOffered)?;
                let allowed = matches!(
                    (check.state, outcome),
                    (
                        IdentityState::Consented,
                        IdentityOutcome::Verified | IdentityOutcome::NotVerified
                    ) | (
                        IdentityState::Asked | IdentityState::Consented,
                        IdentityOutcome::Aborted
                    )
                );
                if !allowed || note.as_deref().is_some_and(|n| !valid_note(n)) {
                    return Err(SessionError::NotOffered);
                }
                check.state = IdentityState::Done;
                check.outcome = Some(outcome);
                check.note = note.filter(|n| !n.trim().is_empty());
                check.done_at = Some(now);
                self.last_activity = now;
                Ok(vec![identity_event(check, outcome, now)])
            }
        }
    }

    /// A check still under way when the session ends is aborted.
    pub(super) fn abort_identity(&mut self, now: UnixMillis) -> Option<Effect> {
        let check = self.identity.as_mut()?;
        if check.state == IdentityState::Done {
            return None;
        }
        check.state = IdentityState::Done;
        check.outcome = Some(IdentityOutcome::Aborted);
        check.done_at = Some(now);
        Some(identity_event(check, IdentityOutcome::Aborted, now))
    }
}
