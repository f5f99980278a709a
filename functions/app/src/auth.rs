//! Who is asking: advisors by their session cookie (signed in with a
//! one-time link, ended by sign-out or an admin), consoles on another origin
//! by a single-use ticket, admins by an API key. Every check of who someone
//! is lives here.

use crate::Push;
use crate::http_util::{ApiError, cookie, form, redirect, same_origin, set_cookie};
use crate::pages::{self, PageCtx};
use crate::{App, Request, Response};
use http::StatusCode;
use livecard_core::ids::AdvisorId;
use livecard_store::{AdvisorRecord, Store};

pub const SESSION_COOKIE: &str = "lc_session";

/// The advisor whose session cookie this request carries, with their
/// record, while the session is current: genuine, unexpired, and signed in
/// the advisor's current session epoch (sign-out and an admin raise it).
pub async fn session<S: Store, P: Push>(
    app: &App<S, P>,
    request: &Request,
) -> Result<Option<AdvisorRecord>, ApiError> {
    let Some(value) = cookie(request, SESSION_COOKIE) else {
        return Ok(None);
    };
    let Some(claims) =
        livecard_core::auth::verify_session(&app.secrets.session_key, value, app.now())
    else {
        return Ok(None);
    };
    app.current_session(&claims).await
}

/// Refuses the request unless it carries a known admin API key.
pub async fn require_admin<S: Store, P: Push>(
    app: &App<S, P>,
    request: &Request,
) -> Result<(), ApiError> {
    let authorization = request
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if app.is_admin(authorization).await? {
        Ok(())
    } else {
        Err(ApiError::unauthorized())
    }
}

pub(crate) async fn signin<S: Store, P: Push>(
    app: &App<S, P>,
    request: &Request,
    ctx: &PageCtx,
) -> Result<Response, ApiError> {
    if !same_origin(request) {
        return Ok(pages::advisor::signin_failed(ctx));
    }
    let fields = form(request);
    let token = fields
        .iter()
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.as_str())
        .unwrap_or("");
    let Some(hash) = livecard_core::auth::signin_token_hash(token) else {
        return Ok(pages::advisor::signin_failed(ctx));
    };
    let Some(advisor) = app.store.take_signin(&hash, app.now()).await? else {
        return Ok(pages::advisor::signin_failed(ctx));
    };
    let Some(record) = app.store.get_advisor(&advisor).await? else {
        return Ok(pages::advisor::signin_failed(ctx));
    };
    let ttl = livecard_core::auth::SESSION_TTL_MS;
    let session = livecard_core::auth::AdvisorSession {
        advisor: advisor.clone(),
        epoch: record.session_epoch,
    };
    let value =
        livecard_core::auth::sign_session(&app.secrets.session_key, &session, app.now(), ttl);
    let mut response = redirect(&format!("/me?lang={}", ctx.lang.code()));
    session_cookie(app, &mut response, &value, ttl / 1000);
    tracing::info!(advisor = %advisor, "advisor signed in");
    Ok(response)
}

/// `POST /signout`: ends the advisor's sessions on the server (every
/// console they have open must sign in again) and clears the cookie. Only
/// from our own pages: another site cannot sign an advisor out.
pub(crate) async fn signout<S: Store, P: Push>(
    app: &App<S, P>,
    request: &Request,
    ctx: &PageCtx,
) -> Result<Response, ApiError> {
    if !same_origin(request) {
        return Err(ApiError::forbidden("cross-origin requests are not allowed"));
    }
    if let Some(record) = session(app, request).await? {
        app.end_advisor_sessions(&record.advisor.id).await?;
    }
    let mut response = pages::advisor::signed_out(ctx, StatusCode::OK);
    session_cookie(app, &mut response, "", 0);
    Ok(response)
}

/// Sets (or, with no value and no age, clears) the session cookie.
fn session_cookie<S: Store, P: Push>(
    app: &App<S, P>,
    response: &mut Response,
    value: &str,
    max_age_s: u64,
) {
    let secure = app.config.secure_cookies();
    if let Some(cookie) = set_cookie(SESSION_COOKIE, value, max_age_s, true, secure) {
        response
            .headers_mut()
            .append(http::header::SET_COOKIE, cookie);
    }
}

impl<S: Store, P: Push> App<S, P> {
    /// A one-time sign-in link for an advisor.
    pub async fn create_signin_link(&self, advisor: &AdvisorId) -> Result<(String, u64), ApiError> {
        if self.store.get_advisor(advisor).await?.is_none() {
            return Err(ApiError::not_found(format!("no advisor {advisor}")));
        }
        let token = livecard_core::auth::new_signin_token(self.random_bytes());
        let hash = livecard_core::auth::signin_token_hash(&token).ok_or_else(|| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "sign-in token",
            )
        })?;
        let expires_at = self.now() + livecard_core::auth::SIGNIN_TTL_MS;
        self.store.put_signin(&hash, advisor, expires_at).await?;
        Ok((
            format!("{}/signin/{token}", self.config.public_url),
            expires_at,
        ))
    }

    /// The advisor of a verified session cookie or ticket, with their
    /// record, unless their sessions were ended since it was signed (or
    /// the advisor is gone). One read of the advisor: revocation holds at
    /// once on every host.
    pub async fn current_session(
        &self,
        claims: &livecard_core::auth::AdvisorSession,
    ) -> Result<Option<livecard_store::AdvisorRecord>, ApiError> {
        Ok(self
            .store
            .get_advisor(&claims.advisor)
            .await?
            .filter(|record| record.session_epoch == claims.epoch))
    }

    /// Ends every session of `advisor` (consoles must sign in again);
    /// false for an unknown advisor.
    pub async fn end_advisor_sessions(&self, advisor: &AdvisorId) -> Result<bool, ApiError> {
        let ended = self.store.end_sessions(advisor).await?.is_some();
        if ended {
            tracing::info!(advisor = %advisor, "advisor sessions ended");
            // Open consoles go too (a new socket needs a current session).
            self.push
                .disconnect(&crate::contact::Participant::Advisor(advisor.clone()))
                .await;
        }
        Ok(ended)
    }

    /// Is `authorization` (`Bearer lck_…`) a known admin key?
    pub async fn is_admin(&self, authorization: Option<&str>) -> Result<bool, ApiError> {
        let Some(key) = authorization.and_then(|v| v.strip_prefix("Bearer ")) else {
            return Ok(false);
        };
        Ok(self.admin_key(key.trim()).await?.is_some())
    }

    /// Which admin key `key` is, by its hash: `('e', …)` the deployment's
    /// own (from its secrets), `('k', …)` one made with the API.
    pub async fn admin_key(&self, key: &str) -> Result<Option<(char, String)>, ApiError> {
        if let Some(expected) = &self.secrets.admin_key_sha256
            && key.len() <= 256
        {
            let given = livecard_core::encoding::sha256_hex(key.as_bytes());
            // Compared in constant time: the hash of a guess says nothing.
            if livecard_core::encoding::constant_time_eq(given.as_bytes(), expected.as_bytes()) {
                return Ok(Some(('e', given)));
            }
        }
        let Some(hash) = livecard_core::auth::api_key_hash(key) else {
            return Ok(None);
        };
        Ok(self
            .store
            .api_key_exists(&hash)
            .await?
            .then_some(('k', hash)))
    }

    /// Is the admin key an admin page cookie names still valid?
    pub async fn admin_key_current(&self, kind: char, hash: &str) -> Result<bool, ApiError> {
        match kind {
            'e' => Ok(self
                .secrets
                .admin_key_sha256
                .as_deref()
                .is_some_and(|expected| {
                    livecard_core::encoding::constant_time_eq(hash.as_bytes(), expected.as_bytes())
                })),
            'k' => Ok(self.store.api_key_exists(hash).await?),
            _ => Ok(false),
        }
    }

    /// Creates a new admin API key and returns it (the only time it is seen).
    pub async fn create_api_key(&self, name: &str) -> Result<String, ApiError> {
        let key = livecard_core::auth::new_api_key(self.random_bytes());
        let hash = livecard_core::auth::api_key_hash(&key).ok_or_else(|| {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "api key")
        })?;
        self.store.put_api_key(&hash, name, self.now()).await?;
        Ok(key)
    }

    pub(crate) async fn redeem_ws_ticket(
        &self,
        ticket: &str,
        now: livecard_core::UnixMillis,
    ) -> Option<livecard_core::auth::AdvisorSession> {
        let advisor =
            livecard_core::auth::verify_ws_ticket(&self.secrets.session_key, ticket, now)?;
        let key = format!(
            "wsticket#{}",
            livecard_core::encoding::sha256_hex(ticket.as_bytes())
        );
        let expires = now + livecard_core::auth::WS_TICKET_TTL_MS;
        match self.store.claim_once(&key, expires).await {
            Ok(true) => Some(advisor),
            Ok(false) => {
                tracing::info!("a websocket ticket was used twice; refused");
                None
            }
            Err(err) => {
                tracing::error!(error = %err, "store error redeeming a websocket ticket");
                None
            }
        }
    }
}
