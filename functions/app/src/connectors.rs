//! The health of the presence connectors a host runs (Teams, XMPP, SIP):
//! when each last succeeded, how many errors it met and the last one. The
//! public `/healthz` says whether each is well; admins read the details.

use livecard_core::UnixMillis;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// One connector's health.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ConnectorHealth {
    /// The last round that reached the system and wrote what it learnt.
    pub last_success: Option<UnixMillis>,
    /// Errors since the host started.
    pub errors: u64,
    /// The last error, as a log line says it (never a secret).
    pub last_error: Option<String>,
    /// Whether the last round succeeded.
    pub ok: bool,
    /// Advisors linked to this system in the last round.
    pub advisors: usize,
}

/// Every connector of this host.
#[derive(Debug, Default)]
pub struct Connectors {
    health: Mutex<BTreeMap<&'static str, ConnectorHealth>>,
    /// Raised whenever an advisor is saved on this host, so connectors in
    /// the same process follow a new link at once (not at their next
    /// periodic look).
    links: AtomicU64,
    /// Teams notifications this instance applied (a replay changes nothing).
    pub(crate) teams_seen: Mutex<livecard_core::presence::teams_push::SeenNotifications>,
}

impl Connectors {
    /// An advisor (and so perhaps a link to a system) changed.
    pub fn links_changed(&self) {
        self.links.fetch_add(1, Ordering::Relaxed);
    }

    /// Changes with every [`Connectors::links_changed`].
    pub fn links_version(&self) -> u64 {
        self.links.load(Ordering::Relaxed)
    }

    fn with(&self, name: &'static str, change: impl FnOnce(&mut ConnectorHealth)) {
        if let Ok(mut all) = self.health.lock() {
            change(all.entry(name).or_default());
        }
    }

    /// A round of `name` succeeded at `at`.
    pub fn success(&self, name: &'static str, at: UnixMillis, advisors: usize) {
        self.with(name, |h| {
            h.last_success = Some(at);
            h.ok = true;
            h.advisors = advisors;
        });
    }

    /// A round of `name` failed.
    pub fn error(&self, name: &'static str, message: impl Into<String>) {
        let message: String = message.into();
        self.with(name, |h| {
            h.errors += 1;
            h.ok = false;
            h.last_error = Some(message.chars().take(300).collect());
        });
    }

    pub fn snapshot(&self) -> BTreeMap<&'static str, ConnectorHealth> {
        self.health.lock().map(|h| h.clone()).unwrap_or_default()
    }

    /// What `/healthz` says of them: each one's state and last success.
    pub fn public(&self) -> serde_json::Value {
        let all = self.snapshot();
        serde_json::Value::Object(
            all.into_iter()
                .map(|(name, h)| {
                    (
                        name.to_owned(),
                        serde_json::json!({
                            "ok": h.ok,
                            "last_success": h.last_success,
                        }),
                    )
                })
                .collect(),
        )
    }
}
