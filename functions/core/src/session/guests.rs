//! A colleague in the chat: the advisor of a connected session invites a
//! colleague, who joins the conversation as a guest (three people, or four
//! with a second guest) and can leave again. The host has claimed the
//! guest's capacity before [`Input::Invite`](super::Input::Invite) runs, and
//! every way a guest goes (leaving, the session ending) gives it back, so
//! routing's capacity rules hold throughout.
//!
//! A guest writes in the chat and reads it all; the call, the screen, files,
//! the identity check, ending and handing over stay with the advisor who has
//! the conversation. Handing it over to a guest makes them that advisor (their
//! slot is already held).

use super::{Effect, Phase, Session, SessionError};
use crate::UnixMillis;
use crate::event::EventName;
use crate::ids::AdvisorId;
use serde::{Deserialize, Serialize};

/// The most colleagues one conversation has as guests at a time.
pub const MAX_GUESTS: usize = 2;

/// A colleague taking part in the chat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Guest {
    pub advisor: AdvisorId,
    /// Who invited them.
    pub by: AdvisorId,
    pub since: UnixMillis,
}

impl Session {
    /// Is `advisor` a guest of this session now?
    pub fn is_guest(&self, advisor: &AdvisorId) -> bool {
        self.guests.iter().any(|g| &g.advisor == advisor)
    }

    /// The connected advisor `by` invites `guest` (whose capacity the host
    /// claimed).
    pub(super) fn invite(
        &mut self,
        by: &AdvisorId,
        guest: &AdvisorId,
        now: UnixMillis,
    ) -> Result<Vec<Effect>, SessionError> {
        match &self.phase {
            Phase::Connected { advisor, .. } if advisor == by => {}
            Phase::Connected { .. } => return Err(SessionError::NotYours),
            Phase::Ended { .. } => return Err(SessionError::Ended),
            _ => return Err(SessionError::NotConnected),
        }
        if guest == by || self.is_guest(guest) || self.guests.len() >= MAX_GUESTS {
            return Err(SessionError::NotOffered);
        }
        self.guests.push(Guest {
            advisor: guest.clone(),
            by: by.clone(),
            since: now,
        });
        self.last_activity = now;
        Ok(vec![Effect::Event {
            name: EventName::GuestJoined,
            advisor: Some(guest.clone()),
            props: vec![("guests", (self.guests.len() as u64).into())],
        }])
    }

    /// The guest `advisor` leaves the conversation.
    pub(super) fn leave(
        &mut self,
        advisor: &AdvisorId,
        now: UnixMillis,
    ) -> Result<Vec<Effect>, SessionError> {
        if self.is_ended() {
            return Err(SessionError::Ended);
        }
        let Some(index) = self.guests.iter().position(|g| &g.advisor == advisor) else {
            return Err(SessionError::NotAllowed);
        };
        let guest = self.guests.remove(index);
        self.last_activity = now;
        Ok(guest_left(guest, "left", now))
    }

    /// Every guest goes (the session ended): their slots are given back.
    pub(super) fn guests_leave(&mut self, now: UnixMillis) -> Vec<Effect> {
        std::mem::take(&mut self.guests)
            .into_iter()
            .flat_map(|guest| guest_left(guest, "ended", now))
            .collect()
    }

    /// `to` takes the conversation over: a guest stops being one (their
    /// slot now holds the conversation). True when `to` was a guest.
    pub(super) fn guest_takes_over(&mut self, to: &AdvisorId) -> bool {
        let before = self.guests.len();
        self.guests.retain(|g| &g.advisor != to);
        self.guests.len() != before
    }
}

fn guest_left(guest: Guest, reason: &'static str, now: UnixMillis) -> Vec<Effect> {
    vec![
        Effect::Release {
            advisor: guest.advisor.clone(),
        },
        Effect::Event {
            name: EventName::GuestLeft,
            advisor: Some(guest.advisor),
            props: vec![
                ("duration_ms", now.saturating_sub(guest.since).into()),
                ("reason", reason.into()),
            ],
        },
    ]
}
