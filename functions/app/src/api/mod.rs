//! The JSON API (`/api/v1/…`). Errors are `{"error":{"code","message"}}`.

pub mod advisors;
pub mod cards;
pub mod console;
pub mod destinations;
pub mod events;
pub mod ice_servers;
pub mod identity;
pub mod me;

use crate::http_util::{ApiError, query_param};
use livecard_core::channel::Channel;
use livecard_core::presence::{PresenceState, Signal};
use livecard_store::PageRequest;
use serde::Deserialize;
use std::collections::BTreeMap;

/// `limit` and `cursor` from the query string.
pub fn page_request(
    params: &[(String, String)],
    default_limit: u16,
) -> Result<PageRequest, ApiError> {
    let limit = match query_param(params, "limit") {
        None => default_limit,
        Some(text) => text
            .parse::<u16>()
            .ok()
            .filter(|l| (1..=livecard_store::MAX_PAGE).contains(l))
            .ok_or_else(|| {
                ApiError::bad_request(format!("limit must be 1 to {}", livecard_store::MAX_PAGE))
            })?,
    };
    let cursor = query_param(params, "cursor").map(str::to_owned);
    if cursor
        .as_ref()
        .is_some_and(|c| c.len() > livecard_store::MAX_CURSOR_LEN)
    {
        return Err(ApiError::bad_request("the cursor is not valid"));
    }
    Ok(PageRequest { limit, cursor })
}

/// A presence change as clients send it: `{"states":{"chat":"busy"}}`
/// with an optional `"until"` for a manual state, or `"version"` (and an
/// optional `"expires_at"`) for a push from a company presence system.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PresenceBody {
    pub states: BTreeMap<Channel, Signal>,
    #[serde(default)]
    pub version: Option<u64>,
    #[serde(default)]
    pub until: Option<u64>,
    #[serde(default)]
    pub expires_at: Option<u64>,
}

impl PresenceBody {
    /// The states of a manual update: the four a visitor can see.
    pub fn manual_states(&self) -> Result<Vec<(Channel, PresenceState)>, ApiError> {
        if self.version.is_some() || self.expires_at.is_some() {
            return Err(ApiError::bad_request(
                "version and expires_at belong to a synced update; a manual one takes until",
            ));
        }
        self.states
            .iter()
            .map(|(c, s)| match s {
                Signal::Available => Ok((*c, PresenceState::Available)),
                Signal::Busy => Ok((*c, PresenceState::Busy)),
                Signal::Away => Ok((*c, PresenceState::Away)),
                Signal::Offline => Ok((*c, PresenceState::Offline)),
                other => Err(ApiError::bad_request(format!(
                    "a manual state is available, busy, away or offline, not {}",
                    other.as_str()
                ))),
            })
            .collect()
    }

    pub fn signals(&self) -> Vec<(Channel, Signal)> {
        self.states.iter().map(|(c, s)| (*c, *s)).collect()
    }
}
