//! The JSON API (`/api/v1/…`). Errors are `{"error":{"code","message"}}`.

pub mod advisors;
pub mod cards;
pub mod destinations;
pub mod events;
pub mod me;

use crate::http_util::{ApiError, query_param};
use livecard_core::channel::Channel;
use livecard_core::presence::PresenceState;
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

/// A presence change as clients send it: `{"states":{"chat":"busy"}}`,
/// plus `"version"` for pushes from a company presence system.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PresenceBody {
    pub states: BTreeMap<Channel, PresenceState>,
    #[serde(default)]
    pub version: Option<u64>,
}

impl PresenceBody {
    pub fn states(&self) -> Vec<(Channel, PresenceState)> {
        self.states.iter().map(|(c, s)| (*c, *s)).collect()
    }
}
