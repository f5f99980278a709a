//! `POST /api/v1/connectors/teams/notifications`: Microsoft Teams presence
//! pushed by Microsoft Graph (change notifications with encrypted resource
//! data, `docs/presence.md`). The Teams connector subscribes this URL; this
//! answers Graph's validation handshake and applies each notification that
//! passes every check of `livecard_core::presence::teams_push`, in this
//! order: the client state (before anything is decrypted), the subscription
//! (one the connector recorded in the store, still current; it also maps
//! Graph user ids to advisors), the certificate, replays, then the data
//! key's unwrap (RSA-OAEP with the deployment's private key, on hosts with
//! native crypto) and the content's signature. A notification that fails
//! is counted in the health of `teams_push` and logged with its reason;
//! it changes nothing. Graph is answered 202 either way once the body is a
//! notification list, so it does not retry what will never be believed.

use crate::http_util::{ApiError, query, query_param, response};
use crate::{App, Push, Request, Response, TeamsPushKeys};
use http::StatusCode;
use livecard_core::presence::teams_push::{self, Notification, PushError};
use livecard_core::presence::{PresenceSource, PresenceUpdate};
use livecard_store::Store;

const NAME: &str = "teams_push";

/// What became of a body of notifications.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PushReport {
    pub applied: usize,
    pub refused: usize,
    pub lifecycle: usize,
}

impl<S: Store, P: Push> App<S, P> {
    /// The endpoint: the validation handshake, or a body of notifications
    /// (data keys unwrapped with the host's native RSA).
    pub async fn teams_notifications(&self, request: &Request) -> Result<Response, ApiError> {
        self.teams_notifications_with(request, |keys, wrapped| {
            std::future::ready(unwrap_key(keys, &wrapped))
        })
        .await
    }

    /// The same with the host's own RSA-OAEP unwrap (the Worker's
    /// WebCrypto).
    pub async fn teams_notifications_with<F, Fut>(
        &self,
        request: &Request,
        unwrap: F,
    ) -> Result<Response, ApiError>
    where
        F: Fn(&TeamsPushKeys, Vec<u8>) -> Fut,
        Fut: std::future::Future<Output = Result<Vec<u8>, PushError>>,
    {
        let params = query(request);
        if let Some(token) = query_param(&params, "validationToken") {
            // Graph checks the URL: the token back, as plain text, at once.
            if token.is_empty() || token.len() > teams_push::MAX_VALIDATION_TOKEN {
                return Err(ApiError::bad_request(
                    "validationToken must be 1 to 1024 characters",
                ));
            }
            return Ok(response(
                StatusCode::OK,
                "text/plain; charset=utf-8",
                token.to_owned(),
            ));
        }
        let Some(keys) = self.secrets.teams_push.as_ref() else {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "not_configured",
                "Teams notifications are not configured here (teams_notifications in the secrets document)",
            ));
        };
        let notifications = teams_push::parse_notifications(request.body())
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        let report = self
            .apply_teams_notifications(keys, &notifications, &unwrap)
            .await;
        Ok(crate::http_util::json(StatusCode::ACCEPTED, &report))
    }

    /// Applies what passes the checks; the rest is counted and logged.
    pub async fn apply_teams_notifications<F, Fut>(
        &self,
        keys: &TeamsPushKeys,
        notifications: &[Notification],
        unwrap: &F,
    ) -> PushReport
    where
        F: Fn(&TeamsPushKeys, Vec<u8>) -> Fut,
        Fut: std::future::Future<Output = Result<Vec<u8>, PushError>>,
    {
        let mut report = PushReport::default();
        for n in notifications {
            match self.teams_notification(keys, n, unwrap).await {
                Ok(true) => report.applied += 1,
                Ok(false) => report.lifecycle += 1,
                Err(err) => {
                    report.refused += 1;
                    tracing::warn!(
                        reason = err.kind(),
                        error = %err,
                        subscription = %crate::http_util::clipped(&n.subscription_id, 64),
                        "Teams notification refused"
                    );
                    self.connectors
                        .error(NAME, format!("notification refused: {err}"));
                }
            }
        }
        if report.applied > 0 {
            self.connectors.success(NAME, self.now(), report.applied);
        }
        report
    }

    /// One notification: `Ok(true)` applied, `Ok(false)` a lifecycle
    /// notification (the connector renews or recreates on its own).
    async fn teams_notification<F, Fut>(
        &self,
        keys: &TeamsPushKeys,
        n: &Notification,
        unwrap: &F,
    ) -> Result<bool, PushError>
    where
        F: Fn(&TeamsPushKeys, Vec<u8>) -> Fut,
        Fut: std::future::Future<Output = Result<Vec<u8>, PushError>>,
    {
        if !teams_push::client_state_matches(&keys.client_state, n.client_state.as_deref()) {
            return Err(PushError::ClientState);
        }
        let now = self.now();
        let users = self
            .store
            .get_graph_subscription(&n.subscription_id, now)
            .await
            .map_err(|e| PushError::Shape(format!("the store: {e}")))?
            .ok_or(PushError::Subscription)?;
        if let Some(event) = &n.lifecycle_event {
            tracing::info!(event = %crate::http_util::clipped(event, 64), "Teams lifecycle notification");
            return Ok(false);
        }
        let content = n.encrypted_content.as_ref().ok_or(PushError::NoData)?;
        if content.encryption_certificate_id != keys.certificate_id {
            return Err(PushError::Certificate);
        }
        let key = unwrap(keys, content.wrapped_key()?).await?;
        let plain = content.open(&key)?;
        // Only a content that checked is remembered: a forged copy cannot
        // shadow the real one.
        let first = self
            .connectors
            .teams_seen
            .lock()
            .map(|mut seen| seen.first_time(content.fingerprint()))
            .unwrap_or(true);
        if !first {
            return Err(PushError::Replay);
        }
        let (user, signals) = teams_push::presence_of(&plain)?;
        let advisor = users.get(&user).ok_or(PushError::Subscription)?;
        let update = PresenceUpdate {
            source: PresenceSource::Teams,
            states: signals.states(),
            version: now,
            expires_at: Some(now + teams_push::PUSH_LIFETIME_MS),
            heartbeat_until: None,
        };
        self.set_presence(advisor, &update)
            .await
            .map_err(|e| PushError::Shape(format!("presence not stored: {}", e.message)))?;
        Ok(true)
    }
}

/// RSA-OAEP (SHA-1, as Graph encrypts) with the certificate's private key.
#[cfg(feature = "native")]
fn unwrap_key(keys: &TeamsPushKeys, wrapped: &[u8]) -> Result<Vec<u8>, PushError> {
    use aws_lc_rs::rsa::{OAEP_SHA1_MGF1SHA1, OaepPrivateDecryptingKey, PrivateDecryptingKey};
    let key = PrivateDecryptingKey::from_pkcs8(&keys.private_key)
        .map_err(|_| PushError::Decrypt)
        .and_then(|k| OaepPrivateDecryptingKey::new(k).map_err(|_| PushError::Decrypt))?;
    let mut out = vec![0u8; key.min_output_size()];
    let plain = key
        .decrypt(&OAEP_SHA1_MGF1SHA1, wrapped, &mut out, None)
        .map_err(|_| PushError::Decrypt)?;
    Ok(plain.to_vec())
}

/// Without native crypto the host passes its own unwrap
/// ([`App::teams_notifications_with`]; the Worker uses WebCrypto).
#[cfg(not(feature = "native"))]
fn unwrap_key(_keys: &TeamsPushKeys, _wrapped: &[u8]) -> Result<Vec<u8>, PushError> {
    Err(PushError::Decrypt)
}
