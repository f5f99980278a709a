//! Hand-over: the advisor of a connected session gives it to a colleague
//! (named, or found by routing within a topic) with a note for them. The
//! visitor stays in the same session and sees who took over; the
//! transcript stays with the session, so the colleague reads it all; a
//! call goes on with the colleague (the visitor's page offers it anew).
//! The host has claimed the colleague's capacity before this runs, so
//! capacity holds throughout.

use super::identity::valid_note;
use super::{Effect, Phase, Session, SessionError};
use crate::UnixMillis;
use crate::event::EventName;
use crate::ids::AdvisorId;
use serde::{Deserialize, Serialize};

/// The last hand-over of a session: who gave it, with what note.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Handover {
    pub from: AdvisorId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub at: UnixMillis,
}

impl Session {
    /// `from` gives the session to `to` (whose capacity the host claimed).
    pub(super) fn transfer(
        &mut self,
        from: &AdvisorId,
        to: &AdvisorId,
        by_topic: bool,
        note: Option<String>,
        now: UnixMillis,
    ) -> Result<Vec<Effect>, SessionError> {
        let since = match &self.phase {
            Phase::Connected { advisor, since } if advisor == from => *since,
            Phase::Connected { .. } => return Err(SessionError::NotYours),
            Phase::Ended { .. } => return Err(SessionError::Ended),
            _ => return Err(SessionError::NotConnected),
        };
        if from == to || note.as_deref().is_some_and(|n| !valid_note(n)) {
            return Err(SessionError::NotOffered);
        }
        let mut effects = vec![Effect::Release {
            advisor: from.clone(),
        }];
        // What belonged to the old advisor's side ends with it.
        if let Some(share) = self.call.as_mut().and_then(|c| c.share.take()) {
            effects.push(super::share::share_ended(&share, None, now));
        }
        self.share_asked = false;
        effects.extend(self.abort_identity(now));
        // A guest who takes over holds a slot already (the host claimed
        // none for them).
        self.guest_takes_over(to);
        self.phase = Phase::Connected {
            advisor: to.clone(),
            since,
        };
        self.advisor = Some(to.clone());
        self.handover = Some(Handover {
            from: from.clone(),
            note: note.filter(|n| !n.trim().is_empty()),
            at: now,
        });
        self.last_activity = now;
        effects.push(Effect::event(
            EventName::Transferred,
            vec![("by", if by_topic { "topic" } else { "advisor" }.into())],
        ));
        effects.push(Effect::Remember {
            advisor: to.clone(),
        });
        Ok(effects)
    }
}
