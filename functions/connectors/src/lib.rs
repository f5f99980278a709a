//! The presence connectors: Microsoft Teams ([`teams`]), an XMPP component
//! ([`xmpp`]) and the phone system's SIP watcher ([`sip`]). Each is a
//! long-running task that learns advisors' presence from a company system
//! and writes it through the handlers (`App::set_presence`), so the core's
//! rules, the store's conditional writes, the events and the pushes to
//! consoles are the same as for every other source (`docs/presence.md`).
//!
//! They run wherever a host can keep a task alive: `livecard up` spawns
//! them beside its server; on AWS the connectors service (an ECS task,
//! `livecard-connectors`) runs them against DynamoDB with the functions'
//! push. A host hands them its handlers through [`PresenceHost`]
//! ([`presence_host!`] writes the impl); what they share is here: their
//! secrets from the environment, the advisors they follow, and
//! [`Config`], every connector's configuration at once.

use anyhow::{Context, anyhow};
use livecard_app::connectors::Connectors;
use livecard_core::UnixMillis;
use livecard_core::ids::AdvisorId;
use livecard_core::presence::PresenceUpdate;
use livecard_store::AdvisorRecord;
use std::future::Future;
use std::sync::Arc;

pub mod sip;
pub mod teams;
pub mod xmpp;

/// What a connector needs of the host's handlers. The futures are `Send`,
/// so connectors run on any tokio worker; a host implements this for its
/// concrete handlers with [`presence_host!`].
pub trait PresenceHost: Send + Sync + 'static {
    /// The host's clock.
    fn now(&self) -> UnixMillis;
    /// Where connectors report their health (`/healthz`, the admin API).
    fn health(&self) -> &Connectors;
    /// Applies a source's presence update (`App::set_presence`).
    fn set_presence(
        &self,
        advisor: &AdvisorId,
        update: &PresenceUpdate,
    ) -> impl Future<Output = Result<(), String>> + Send;
    /// Every advisor, with their links and presence.
    fn advisors(&self) -> impl Future<Output = Result<Vec<AdvisorRecord>, String>> + Send;
    /// The deployment's keys for Teams push (`teams_notifications` in the
    /// secrets document), when configured.
    fn teams_push_keys(&self) -> Option<&livecard_app::TeamsPushKeys>;
    /// Records a Graph subscription for the notification endpoint.
    fn put_graph_subscription(
        &self,
        id: &str,
        users: &std::collections::BTreeMap<String, AdvisorId>,
        expires_at: UnixMillis,
    ) -> impl Future<Output = Result<(), String>> + Send;
}

/// Implements [`PresenceHost`] for a host's handlers: `$host` is a newtype
/// of the host's (`struct LocalPresence(Arc<LocalApp>)`), whose `.0` is an
/// `Arc` of a concrete `livecard_app::App` (concrete, so that its futures
/// are known to be `Send`).
#[macro_export]
macro_rules! presence_host {
    ($host:ty) => {
        impl $crate::PresenceHost for $host {
            fn now(&self) -> livecard_core::UnixMillis {
                self.0.now()
            }

            fn health(&self) -> &livecard_app::connectors::Connectors {
                &self.0.connectors
            }

            async fn set_presence(
                &self,
                advisor: &livecard_core::ids::AdvisorId,
                update: &livecard_core::presence::PresenceUpdate,
            ) -> Result<(), String> {
                self.0
                    .set_presence(advisor, update)
                    .await
                    .map(|_| ())
                    .map_err(|err| err.message)
            }

            fn teams_push_keys(&self) -> Option<&livecard_app::TeamsPushKeys> {
                self.0.secrets.teams_push.as_ref()
            }

            async fn put_graph_subscription(
                &self,
                id: &str,
                users: &std::collections::BTreeMap<String, livecard_core::ids::AdvisorId>,
                expires_at: livecard_core::UnixMillis,
            ) -> Result<(), String> {
                livecard_store::GraphSubscriptionStore::put_graph_subscription(
                    &self.0.store,
                    id,
                    users,
                    expires_at,
                )
                .await
                .map_err(|e| format!("subscription not recorded: {e}"))
            }

            async fn advisors(&self) -> Result<Vec<livecard_store::AdvisorRecord>, String> {
                let mut all = Vec::new();
                let mut cursor = None;
                loop {
                    let page = livecard_store::AdvisorStore::list_advisors(
                        &self.0.store,
                        &livecard_store::PageRequest {
                            limit: livecard_store::MAX_PAGE,
                            cursor,
                        },
                    )
                    .await
                    .map_err(|e| format!("advisors not read: {e}"))?;
                    all.extend(page.items);
                    match page.next {
                        Some(next) => cursor = Some(next),
                        None => return Ok(all),
                    }
                }
            }
        }
    };
}

/// Every connector's configuration, from the environment (`docs/presence.md`):
/// each is `None` when its system is not configured.
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub teams: Option<teams::TeamsConfig>,
    pub xmpp: Option<xmpp::XmppConfig>,
    pub sip: Option<sip::SipConfig>,
}

impl Config {
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        Ok(Self {
            teams: teams::TeamsConfig::from_env(&get)?,
            xmpp: xmpp::XmppConfig::from_env(&get)?,
            sip: sip::SipConfig::from_env(&get)?,
        })
    }

    /// Whether any connector is configured.
    pub fn any(&self) -> bool {
        self.teams.is_some() || self.xmpp.is_some() || self.sip.is_some()
    }

    /// Starts the configured connectors; they run until their tasks are
    /// aborted.
    pub fn spawn<H: PresenceHost>(self, host: Arc<H>) -> Vec<tokio::task::JoinHandle<()>> {
        let mut tasks = Vec::new();
        if let Some(config) = self.teams {
            tasks.push(teams::spawn(host.clone(), config));
        }
        if let Some(config) = self.xmpp {
            tasks.push(xmpp::spawn(host.clone(), config));
        }
        if let Some(config) = self.sip {
            tasks.push(sip::spawn(host, config));
        }
        tasks
    }
}

/// A secret from `KEY` or from the file `KEY_FILE` names (trimmed); `why`
/// says what it is needed with.
pub fn secret(
    get: &impl Fn(&str) -> Option<String>,
    key: &str,
    why: &str,
) -> anyhow::Result<String> {
    match (get(key), get(&format!("{key}_FILE"))) {
        (Some(secret), _) => Ok(secret),
        (None, Some(path)) => Ok(std::fs::read_to_string(&path)
            .with_context(|| format!("{key}_FILE {path}"))?
            .trim()
            .to_owned()),
        (None, None) => Err(anyhow!("{key} (or {key}_FILE) is needed with {why}")),
    }
}

/// The environment of a configuration test: these pairs and nothing else.
#[cfg(test)]
pub(crate) fn env(pairs: Vec<(&'static str, &'static str)>) -> impl Fn(&str) -> Option<String> {
    move |k: &str| {
        pairs
            .iter()
            .find(|(key, _)| *key == k)
            .map(|(_, v)| (*v).to_owned())
    }
}
