//! `/api/v1/ice-servers` (admin): TURN servers that share the TURN secret
//! (coturn with `use-auth-secret`) and plain STUN servers, set at run time
//! besides the ones the deployment's settings name (`docs/turn.md`). The
//! ICE-servers endpoint hands out both, the settings' first.

use crate::auth::require_admin;
use crate::http_util::{ApiError, json, parse_json};
use crate::{App, Push, Request, Response};
use http::StatusCode;
use livecard_core::media::OtherServers;
use livecard_store::Store;
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    #[serde(default)]
    turn: Vec<String>,
    #[serde(default)]
    stun: Vec<String>,
}

fn shown(set: &OtherServers, configured: &OtherServers) -> serde_json::Value {
    json!({
        "turn": set.turn,
        "stun": set.stun,
        "configured": { "turn": configured.turn, "stun": configured.stun },
    })
}

/// `GET`: the servers set here, and (read-only) the settings' ones.
pub async fn get<S: Store, P: Push>(
    app: &App<S, P>,
    request: &Request,
) -> Result<Response, ApiError> {
    require_admin(app, request).await?;
    let set = app.store.ice_servers().await?.unwrap_or_default();
    Ok(json(
        StatusCode::OK,
        &shown(&set, &app.config.other_servers),
    ))
}

/// `PUT {"turn": [...], "stun": [...]}`: replaces the servers set here
/// (`turn:`/`turns:` and `stun:`/`stuns:` URLs, at most 8 of each; empty
/// lists clear them).
pub async fn put<S: Store, P: Push>(
    app: &App<S, P>,
    request: &Request,
) -> Result<Response, ApiError> {
    require_admin(app, request).await?;
    let body: Body = parse_json(request)?;
    let servers = OtherServers::new(body.turn, body.stun)
        .map_err(|err| ApiError::bad_request(err.to_string()))?;
    app.store.put_ice_servers(&servers).await?;
    app.ice_servers.invalidate(&());
    Ok(json(
        StatusCode::OK,
        &shown(&servers, &app.config.other_servers),
    ))
}

impl<S: Store, P: Push> App<S, P> {
    /// The TURN and STUN servers to hand out besides the media nodes: the
    /// settings', then the admin API's (cached for the read cache's time).
    /// A store that fails leaves the settings' alone: calls never fail for
    /// it.
    pub async fn other_servers(&self) -> Arc<OtherServers> {
        let now = self.now();
        if let Some(cached) = self.ice_servers.get(&(), now) {
            return cached;
        }
        let merged = match self.store.ice_servers().await {
            Ok(set) => Arc::new(self.config.other_servers.merged(&set.unwrap_or_default())),
            Err(err) => {
                tracing::warn!(error = %err, "the ICE servers set by an admin could not be read");
                return Arc::new(self.config.other_servers.clone());
            }
        };
        self.ice_servers.put((), merged.clone(), now);
        merged
    }
}
