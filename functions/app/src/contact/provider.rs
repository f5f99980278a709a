//! The ICE-servers endpoint's TURN provider (`docs/turn.md`, "Providers
//! that mint credentials"): asked through the host's outgoing HTTP when its
//! cached answer is due for a refresh, within its timeout; a provider that
//! fails, is slow or answers garbage never fails the endpoint, which
//! answers with what it has.

use crate::{App, Push};
use livecard_core::UnixMillis;
use livecard_core::ice_provider::parse_answer;
use livecard_core::media::IceServer;
use livecard_store::Store;

/// The provider's servers for a call now and when their credentials
/// expire, or `None` (no provider, none cached and none fetched).
pub async fn servers<S: Store, P: Push>(app: &App<S, P>) -> Option<(Vec<IceServer>, UnixMillis)> {
    let settings = app.secrets.turn_provider.as_ref()?;
    let Some(fetch) = app.fetch.as_ref() else {
        tracing::warn!("a TURN provider is configured, but this host makes no outgoing requests");
        return None;
    };
    let now = app.now();
    let ask = lock(app).start(now, settings.timeout_ms);
    if ask {
        let request = settings.request();
        let answer = fetch.post_boxed(&request, settings.timeout_ms).await;
        let now = app.now();
        let parsed = match answer {
            Ok(answer) => parse_answer(answer.status, &answer.body, app.config.relay_only)
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        let mut cache = lock(app);
        match parsed {
            Ok(servers) => cache.answered(now, servers, settings.ttl_s),
            Err(why) => {
                cache.failed(now);
                // The host only: the URL's path may name a key.
                tracing::warn!(
                    provider = settings.host(),
                    failures = cache.failures(),
                    "the TURN provider gave no credentials: {why}"
                );
            }
        }
    }
    let cache = lock(app);
    let servers = cache.servers(now);
    let expires_at = cache.expires_at(now)?;
    Some((servers.to_vec(), expires_at))
}

fn lock<S, P>(
    app: &App<S, P>,
) -> std::sync::MutexGuard<'_, livecard_core::ice_provider::ProviderCache> {
    // The cache is plain data: a panic elsewhere cannot leave it half
    // written, so a poisoned lock is taken as it is.
    app.ice_provider
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
