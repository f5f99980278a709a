//! The Microsoft Teams connector: reads advisors' Teams presence from
//! Microsoft Graph every poll (application permission `Presence.Read.All`,
//! `getPresencesByUserId`, 650 users per request, honouring 429 and
//! `Retry-After`) into the `teams` presence source, and while an advisor is
//! in a livecard audio or video call, shows them Busy / In a call in Teams
//! under livecard's own presence session (`Presence.ReadWrite.All`,
//! `setPresence`), cleared at hang-up. What the answers mean and when to
//! call is the core's (`livecard_core::presence::teams`); this is the I/O.
//!
//! Configured from the environment (`docs/presence.md`): without
//! `LIVECARD_TEAMS_TENANT` it does not run.

use anyhow::{Context, anyhow};

use livecard_core::UnixMillis;
use livecard_core::ids::AdvisorId;
use livecard_core::presence::mapping::Signals;
use livecard_core::presence::teams::{self, CallSessions, SessionCall};
use livecard_core::presence::teams_push;
use livecard_core::presence::{PresenceSource, PresenceUpdate};
use livecard_store::AdvisorRecord;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

const NAME: &str = "teams";

/// How the connector reaches the tenant.
#[derive(Clone)]
pub struct TeamsConfig {
    /// The Entra tenant (id or domain).
    pub tenant: String,
    /// The app registration's client id; also the `sessionId` of
    /// livecard's presence sessions.
    pub client_id: String,
    client_secret: String,
    /// `https://login.microsoftonline.com` unless told otherwise.
    pub login_url: String,
    /// `https://graph.microsoft.com/v1.0` unless told otherwise.
    pub graph_url: String,
    pub poll_ms: u64,
    /// Show livecard calls in Teams (needs `Presence.ReadWrite.All`).
    pub write_back: bool,
    /// Push: where Graph posts presence notifications (the functions'
    /// `/api/v1/connectors/teams/notifications`), with the delegated sync
    /// user's refresh token to subscribe with.
    pub push: Option<PushConfig>,
}

/// Teams push: the notification URL and the sync user's refresh token.
#[derive(Clone)]
pub struct PushConfig {
    pub notify_url: String,
    refresh_token: String,
}

impl PushConfig {
    pub fn new(notify_url: &str, refresh_token: &str) -> Self {
        Self {
            notify_url: notify_url.to_owned(),
            refresh_token: refresh_token.to_owned(),
        }
    }
}

impl std::fmt::Debug for TeamsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TeamsConfig")
            .field("tenant", &self.tenant)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<secret>")
            .field("login_url", &self.login_url)
            .field("graph_url", &self.graph_url)
            .field("poll_ms", &self.poll_ms)
            .field("write_back", &self.write_back)
            .field("push", &self.push.as_ref().map(|p| &p.notify_url))
            .finish()
    }
}

impl TeamsConfig {
    pub fn new(tenant: &str, client_id: &str, client_secret: &str) -> Self {
        Self {
            tenant: tenant.to_owned(),
            client_id: client_id.to_owned(),
            client_secret: client_secret.to_owned(),
            login_url: "https://login.microsoftonline.com".into(),
            graph_url: "https://graph.microsoft.com/v1.0".into(),
            poll_ms: teams::DEFAULT_POLL_MS,
            write_back: true,
            push: None,
        }
    }

    /// From `LIVECARD_TEAMS_TENANT`, `_CLIENT_ID`, `_CLIENT_SECRET` (or
    /// `_CLIENT_SECRET_FILE`), `_POLL`, `_WRITE_BACK`, `_LOGIN_URL`,
    /// `_GRAPH_URL`, and for push `_NOTIFY_URL` with
    /// `_SYNC_REFRESH_TOKEN` (or `_SYNC_REFRESH_TOKEN_FILE`); `None` when no
    /// tenant is set.
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> anyhow::Result<Option<Self>> {
        let Some(tenant) = get("LIVECARD_TEAMS_TENANT").filter(|t| !t.trim().is_empty()) else {
            return Ok(None);
        };
        let client_id = get("LIVECARD_TEAMS_CLIENT_ID")
            .context("LIVECARD_TEAMS_CLIENT_ID is needed with LIVECARD_TEAMS_TENANT")?;
        let secret = crate::secret(
            &get,
            "LIVECARD_TEAMS_CLIENT_SECRET",
            "LIVECARD_TEAMS_TENANT",
        )?;
        let mut config = Self::new(tenant.trim(), client_id.trim(), &secret);
        if let Some(poll) = get("LIVECARD_TEAMS_POLL") {
            config.poll_ms = livecard_core::duration::parse_duration_ms(&poll)
                .ok()
                .filter(|ms| (5_000..=300_000).contains(ms))
                .context("LIVECARD_TEAMS_POLL is not valid: a duration from 5s to 5m (15s)")?;
        }
        if let Some(v) = get("LIVECARD_TEAMS_WRITE_BACK") {
            config.write_back = match v.trim() {
                "true" | "1" | "yes" | "on" => true,
                "false" | "0" | "no" | "off" => false,
                _ => {
                    return Err(anyhow!(
                        "LIVECARD_TEAMS_WRITE_BACK is not valid: true or false"
                    ));
                }
            };
        }
        for (key, into) in [
            ("LIVECARD_TEAMS_LOGIN_URL", &mut config.login_url),
            ("LIVECARD_TEAMS_GRAPH_URL", &mut config.graph_url),
        ] {
            if let Some(url) = get(key) {
                *into = livecard_app::settings::checked_url(&url, &["https://", "http://"])
                    .with_context(|| format!("{key} is not valid: an http(s) URL"))?
                    .trim_end_matches('/')
                    .to_owned();
            }
        }
        if let Some(url) = get("LIVECARD_TEAMS_NOTIFY_URL").filter(|u| !u.trim().is_empty()) {
            let url = livecard_app::settings::checked_url(&url, &["https://", "http://"])
                .filter(|u| u.ends_with("/api/v1/connectors/teams/notifications"))
                .context("LIVECARD_TEAMS_NOTIFY_URL is not valid: the deployment's https://…/api/v1/connectors/teams/notifications")?;
            let token = crate::secret(
                &get,
                "LIVECARD_TEAMS_SYNC_REFRESH_TOKEN",
                "LIVECARD_TEAMS_NOTIFY_URL",
            )?;
            config.push = Some(PushConfig::new(&url, token.trim()));
        }
        Ok(Some(config))
    }
}

/// One Graph subscription the connector holds.
struct Subscription {
    id: String,
    users: BTreeMap<String, AdvisorId>,
    renew_at: UnixMillis,
}

/// The push side: the sync user's token and the subscriptions.
#[derive(Default)]
struct Push {
    token: Option<(String, Instant)>,
    /// The sync user's refresh token as Entra last rotated it.
    refresh_token: Option<String>,
    subscriptions: Vec<Subscription>,
}

/// Why a round stopped.
enum RoundError {
    /// Graph asked to slow down (429, 503): wait this long.
    Wait(u64, String),
    Failed(String),
}

impl From<reqwest::Error> for RoundError {
    fn from(err: reqwest::Error) -> Self {
        // Without the URL: it can carry a user's name.
        RoundError::Failed(format!("Graph unreachable: {}", err.without_url()))
    }
}

struct Connector {
    http: reqwest::Client,
    config: TeamsConfig,
    token: Option<(String, Instant)>,
    /// What was last written per advisor, and until when it counts.
    written: HashMap<AdvisorId, (Signals, UnixMillis)>,
    /// User principal names resolved to user ids.
    resolved: HashMap<String, String>,
    sessions: CallSessions,
    push: Push,
}

/// Runs the connector until the task is aborted.
pub fn spawn<H: crate::PresenceHost>(
    app: Arc<H>,
    config: TeamsConfig,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let http = match reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .redirect(reqwest::redirect::Policy::none())
            .build()
        {
            Ok(http) => http,
            Err(err) => {
                tracing::error!(error = %err, "no HTTP client: Teams presence is not read");
                return;
            }
        };
        let poll = Duration::from_millis(config.poll_ms);
        let mut connector = Connector {
            http,
            config,
            token: None,
            written: HashMap::new(),
            resolved: HashMap::new(),
            sessions: CallSessions::default(),
            push: Push::default(),
        };
        loop {
            let wait = match connector.round(&*app).await {
                Ok(linked) => {
                    app.health().success(NAME, app.now(), linked);
                    poll
                }
                Err(RoundError::Wait(ms, why)) => {
                    tracing::warn!(reason = %why, wait_ms = ms, "Teams: Graph asked to wait");
                    app.health().error(NAME, why);
                    Duration::from_millis(ms.max(connector.config.poll_ms))
                }
                Err(RoundError::Failed(why)) => {
                    tracing::warn!(reason = %why, "Teams presence not read");
                    app.health().error(NAME, why);
                    poll
                }
            };
            // A subscription due for renewal before the next poll brings
            // the next round forward.
            let wait = connector
                .push
                .subscriptions
                .iter()
                .map(|s| Duration::from_millis(s.renew_at.saturating_sub(app.now())))
                .fold(wait, Duration::min)
                .max(Duration::from_millis(500));
            tokio::time::sleep(wait).await;
        }
    })
}

/// Reads at most `max` bytes of an answer.
async fn body(mut response: reqwest::Response, max: usize) -> Result<Vec<u8>, RoundError> {
    let mut out = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if out.len() + chunk.len() > max {
            return Err(RoundError::Failed(format!(
                "a Graph answer over {max} bytes"
            )));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// A refusal from Graph as a round error: 429 and 503 wait as told.
async fn refused(what: &str, response: reqwest::Response) -> RoundError {
    let status = response.status();
    let retry = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let detail = body(response, 4096)
        .await
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| {
            v["error"]["code"]
                .as_str()
                .or(v["error"].as_str())
                .map(str::to_owned)
        })
        .unwrap_or_default();
    let why = format!("{what}: HTTP {} {detail}", status.as_u16());
    if status.as_u16() == 429 || status.as_u16() == 503 {
        RoundError::Wait(teams::retry_after_ms(retry.as_deref()), why)
    } else {
        RoundError::Failed(why)
    }
}

impl Connector {
    /// A token from Entra's token endpoint with the app's credentials and
    /// `form`: the access token, when to fetch a new one, and a rotated
    /// refresh token if Entra gave one.
    async fn grant(
        &self,
        what: &str,
        form: &[(&str, &str)],
    ) -> Result<(String, Instant, Option<String>), RoundError> {
        let url = format!(
            "{}/{}/oauth2/v2.0/token",
            self.config.login_url, self.config.tenant
        );
        let mut fields = vec![
            ("client_id", self.config.client_id.as_str()),
            ("client_secret", self.config.client_secret.as_str()),
        ];
        fields.extend_from_slice(form);
        let response = self.http.post(url).form(&fields).send().await?;
        if !response.status().is_success() {
            return Err(refused(what, response).await);
        }
        let answer: serde_json::Value =
            serde_json::from_slice(&body(response, 64 * 1024).await?)
                .map_err(|_| RoundError::Failed(format!("{what}: not JSON")))?;
        let token = answer["access_token"]
            .as_str()
            .ok_or_else(|| RoundError::Failed(format!("{what}: no access_token")))?
            .to_owned();
        let lifetime = answer["expires_in"].as_u64().unwrap_or(3600);
        let until = Instant::now() + Duration::from_secs(lifetime.saturating_sub(120).max(30));
        Ok((
            token,
            until,
            answer["refresh_token"].as_str().map(str::to_owned),
        ))
    }

    async fn token(&mut self) -> Result<String, RoundError> {
        if let Some((token, until)) = &self.token
            && Instant::now() < *until
        {
            return Ok(token.clone());
        }
        let (token, until, _) = self
            .grant(
                "token",
                &[
                    ("scope", "https://graph.microsoft.com/.default"),
                    ("grant_type", "client_credentials"),
                ],
            )
            .await?;
        self.token = Some((token.clone(), until));
        Ok(token)
    }

    /// The Teams user id of an advisor's identity: a GUID as it is, a user
    /// principal name resolved once.
    async fn user_id(&mut self, token: &str, identity: &str) -> Result<Option<String>, RoundError> {
        if !identity.contains('@') {
            return Ok(Some(identity.to_owned()));
        }
        if let Some(id) = self.resolved.get(identity) {
            return Ok(Some(id.clone()));
        }
        let name: String = form_urlencoded::byte_serialize(identity.as_bytes()).collect();
        let response = self
            .http
            .get(format!("{}/users/{name}?$select=id", self.config.graph_url))
            .bearer_auth(token)
            .send()
            .await?;
        if response.status().as_u16() == 404 {
            tracing::warn!("Teams: an advisor's user principal name is not in the tenant");
            return Ok(None);
        }
        if !response.status().is_success() {
            return Err(refused("user", response).await);
        }
        let user: serde_json::Value = serde_json::from_slice(&body(response, 64 * 1024).await?)
            .map_err(|_| RoundError::Failed("user: not JSON".into()))?;
        let Some(id) = user["id"].as_str().map(str::to_ascii_lowercase) else {
            return Ok(None);
        };
        self.resolved.insert(identity.to_owned(), id.clone());
        Ok(Some(id))
    }

    /// One poll: every linked advisor's presence read and written where it
    /// changed (or is about to run out), then livecard's call sessions.
    async fn round<H: crate::PresenceHost>(&mut self, app: &H) -> Result<usize, RoundError> {
        let token = match self.token().await {
            Ok(token) => token,
            Err(err) => return Err(err),
        };
        let records = app.advisors().await.map_err(RoundError::Failed)?;
        let mut linked: Vec<(String, &AdvisorRecord)> = Vec::new();
        for record in &records {
            let Some(identity) = record.advisor.identities.teams.as_deref() else {
                continue;
            };
            if let Some(user) = self.user_id(&token, identity).await? {
                linked.push((user, record));
            }
        }
        let by_user: HashMap<&str, &AdvisorRecord> =
            linked.iter().map(|(u, r)| (u.as_str(), *r)).collect();
        for batch in linked.chunks(teams::MAX_IDS_PER_REQUEST) {
            let ids: Vec<&str> = batch.iter().map(|(u, _)| u.as_str()).collect();
            let response = self
                .http
                .post(format!(
                    "{}/communications/getPresencesByUserId",
                    self.config.graph_url
                ))
                .bearer_auth(&token)
                .json(&teams::presences_request(&ids))
                .send()
                .await?;
            if response.status().as_u16() == 401 {
                self.token = None;
            }
            if !response.status().is_success() {
                return Err(refused("getPresencesByUserId", response).await);
            }
            let answer = body(response, teams::MAX_ANSWER_BYTES).await?;
            let presences = teams::parse_presences(&answer)
                .map_err(|e| RoundError::Failed(format!("getPresencesByUserId: {e}")))?;
            let now = app.now();
            for presence in presences {
                let Some(record) = by_user.get(presence.id.to_ascii_lowercase().as_str()) else {
                    continue; // not asked for: ignored
                };
                let id = &record.advisor.id;
                let signals = presence.signals();
                if !teams::worth_writing(
                    self.written.get(id).copied(),
                    signals,
                    now,
                    self.config.poll_ms,
                ) {
                    continue;
                }
                let expires_at = teams::poll_expiry(now, self.config.poll_ms);
                let update = PresenceUpdate {
                    source: PresenceSource::Teams,
                    states: signals.states(),
                    version: now,
                    expires_at: Some(expires_at),
                    heartbeat_until: None,
                };
                match app.set_presence(id, &update).await {
                    Ok(_) => {
                        self.written.insert(id.clone(), (signals, expires_at));
                    }
                    Err(err) => {
                        return Err(RoundError::Failed(format!("presence not stored: {}", err)));
                    }
                }
            }
        }
        if self.config.write_back {
            let now = app.now();
            let in_call: Vec<&str> = linked
                .iter()
                .filter(|(_, r)| teams::in_livecard_call(&r.presence, now))
                .map(|(u, _)| u.as_str())
                .collect();
            for call in self.sessions.plan(in_call, now) {
                let (user, action, payload) = match &call {
                    SessionCall::Set { user } => (
                        user,
                        "setPresence",
                        teams::set_presence_body(&self.config.client_id),
                    ),
                    SessionCall::Clear { user } => (
                        user,
                        "clearPresence",
                        teams::clear_presence_body(&self.config.client_id),
                    ),
                };
                let sent = self
                    .http
                    .post(format!(
                        "{}/users/{user}/presence/{action}",
                        self.config.graph_url
                    ))
                    .bearer_auth(&token)
                    .json(&payload)
                    .send()
                    .await;
                let ok = matches!(&sent, Ok(r) if r.status().is_success());
                if !ok {
                    self.sessions.failed(&call);
                    let why = match sent {
                        Ok(r) => refused(action, r).await,
                        Err(e) => e.into(),
                    };
                    let (RoundError::Wait(_, reason) | RoundError::Failed(reason)) = &why;
                    tracing::warn!(reason = %reason, "Teams: livecard call not shown");
                    return Err(why);
                }
            }
        }
        if self.config.push.is_some() {
            let users: BTreeMap<String, AdvisorId> = linked
                .iter()
                .map(|(u, r)| (u.clone(), r.advisor.id.clone()))
                .collect();
            self.subscribe(app, users).await?;
        }
        Ok(linked.len())
    }

    /// The sync user's delegated token (refresh-token grant; Entra may
    /// rotate the refresh token, the newest is kept).
    async fn sync_token(&mut self) -> Result<String, RoundError> {
        if let Some((token, until)) = &self.push.token
            && Instant::now() < *until
        {
            return Ok(token.clone());
        }
        let Some(push) = &self.config.push else {
            return Err(RoundError::Failed("no push configured".into()));
        };
        let refresh = self
            .push
            .refresh_token
            .clone()
            .unwrap_or_else(|| push.refresh_token.clone());
        let (token, until, rotated) = self
            .grant(
                "sync user token",
                &[
                    (
                        "scope",
                        "https://graph.microsoft.com/Presence.Read.All offline_access",
                    ),
                    ("grant_type", "refresh_token"),
                    ("refresh_token", refresh.as_str()),
                ],
            )
            .await?;
        if let Some(rotated) = rotated {
            self.push.refresh_token = Some(rotated);
        }
        self.push.token = Some((token.clone(), until));
        Ok(token)
    }

    /// Keeps Graph subscriptions for `users` (650 per subscription): made
    /// anew when the linked users change, renewed before they end, made
    /// again when Graph no longer knows them. Each is recorded in the store
    /// for the notification endpoint.
    async fn subscribe<H: crate::PresenceHost>(
        &mut self,
        app: &H,
        users: BTreeMap<String, AdvisorId>,
    ) -> Result<(), RoundError> {
        let Some(keys) = app.teams_push_keys() else {
            return Err(RoundError::Failed(
                "LIVECARD_TEAMS_NOTIFY_URL is set but the secrets document has no teams_notifications".into(),
            ));
        };
        let held: BTreeMap<String, AdvisorId> = self
            .push
            .subscriptions
            .iter()
            .flat_map(|s| s.users.clone())
            .collect();
        let now = app.now();
        if held != users {
            let token = self.sync_token().await?;
            for old in std::mem::take(&mut self.push.subscriptions) {
                // Best effort: Graph ends it by itself within the hour.
                let _ = self
                    .http
                    .delete(format!(
                        "{}/subscriptions/{}",
                        self.config.graph_url, old.id
                    ))
                    .bearer_auth(&token)
                    .send()
                    .await;
            }
            let all: Vec<(String, AdvisorId)> = users.into_iter().collect();
            for chunk in all.chunks(teams::MAX_IDS_PER_REQUEST) {
                let chunk: BTreeMap<String, AdvisorId> = chunk.iter().cloned().collect();
                let subscription = self.create(app, &token, keys, chunk).await?;
                self.push.subscriptions.push(subscription);
            }
            return Ok(());
        }
        for i in 0..self.push.subscriptions.len() {
            if self.push.subscriptions[i].renew_at > now {
                continue;
            }
            let token = self.sync_token().await?;
            let id = self.push.subscriptions[i].id.clone();
            let response = self
                .http
                .patch(format!("{}/subscriptions/{id}", self.config.graph_url))
                .bearer_auth(&token)
                .json(&teams_push::renewal_request(
                    now + teams_push::MAX_SUBSCRIPTION_MS,
                ))
                .send()
                .await?;
            if response.status().as_u16() == 404 {
                // Graph dropped it: subscribe afresh.
                let users = self.push.subscriptions[i].users.clone();
                self.push.subscriptions[i] = self.create(app, &token, keys, users).await?;
                continue;
            }
            if !response.status().is_success() {
                return Err(refused("subscription renewal", response).await);
            }
            let granted = teams_push::parse_granted(&body(response, 64 * 1024).await?)
                .map_err(|e| RoundError::Failed(format!("subscription renewal: {e}")))?;
            let s = &mut self.push.subscriptions[i];
            app.put_graph_subscription(&s.id, &s.users, granted.expires)
                .await
                .map_err(RoundError::Failed)?;
            s.renew_at = teams_push::renew_at(now, granted.expires);
            tracing::debug!(id = %s.id, "Teams: subscription renewed");
        }
        Ok(())
    }

    /// Creates one subscription (Graph checks the URL first) and records it.
    async fn create<H: crate::PresenceHost>(
        &mut self,
        app: &H,
        token: &str,
        keys: &livecard_app::TeamsPushKeys,
        users: BTreeMap<String, AdvisorId>,
    ) -> Result<Subscription, RoundError> {
        use base64::Engine;
        let Some(push) = &self.config.push else {
            return Err(RoundError::Failed("no push configured".into()));
        };
        let now = app.now();
        let ids: Vec<&str> = users.keys().map(String::as_str).collect();
        let request = teams_push::subscription_request(
            &push.notify_url,
            &ids,
            &base64::engine::general_purpose::STANDARD.encode(&keys.certificate),
            &keys.certificate_id,
            &keys.client_state,
            now + teams_push::MAX_SUBSCRIPTION_MS,
        );
        let response = self
            .http
            .post(format!("{}/subscriptions", self.config.graph_url))
            .bearer_auth(token)
            .json(&request)
            .send()
            .await?;
        if !response.status().is_success() {
            return Err(refused("subscription", response).await);
        }
        let granted = teams_push::parse_granted(&body(response, 64 * 1024).await?)
            .map_err(|e| RoundError::Failed(format!("subscription: {e}")))?;
        app.put_graph_subscription(&granted.id, &users, granted.expires)
            .await
            .map_err(RoundError::Failed)?;
        tracing::info!(id = %granted.id, users = users.len(), "Teams: presence subscription made");
        Ok(Subscription {
            id: granted.id,
            users,
            renew_at: teams_push::renew_at(now, granted.expires),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configured_from_the_environment_with_clear_refusals() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(key, _)| *key == k)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        assert!(TeamsConfig::from_env(env(&[])).expect("none").is_none());
        let config = TeamsConfig::from_env(env(&[
            ("LIVECARD_TEAMS_TENANT", "contoso.example"),
            ("LIVECARD_TEAMS_CLIENT_ID", "app"),
            ("LIVECARD_TEAMS_CLIENT_SECRET", "s3cret"),
            ("LIVECARD_TEAMS_POLL", "10s"),
        ]))
        .expect("valid")
        .expect("configured");
        assert_eq!(config.poll_ms, 10_000);
        assert!(
            !format!("{config:?}").contains("s3cret"),
            "the secret is never printed"
        );
        for bad in [
            &[("LIVECARD_TEAMS_TENANT", "t")][..],
            &[
                ("LIVECARD_TEAMS_TENANT", "t"),
                ("LIVECARD_TEAMS_CLIENT_ID", "app"),
                ("LIVECARD_TEAMS_CLIENT_SECRET", "x"),
                ("LIVECARD_TEAMS_POLL", "1s"),
            ][..],
            &[
                ("LIVECARD_TEAMS_TENANT", "t"),
                ("LIVECARD_TEAMS_CLIENT_ID", "app"),
                ("LIVECARD_TEAMS_CLIENT_SECRET", "x"),
                ("LIVECARD_TEAMS_GRAPH_URL", "ftp://graph"),
            ][..],
        ] {
            let pairs: Vec<(String, String)> = bad
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
            let get = |k: &str| {
                pairs
                    .iter()
                    .find(|(key, _)| key == k)
                    .map(|(_, v)| v.clone())
            };
            let err = TeamsConfig::from_env(get).expect_err("refused");
            assert!(err.to_string().contains("LIVECARD_TEAMS_"), "{err}");
        }
    }
}
