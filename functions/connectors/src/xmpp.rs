//! The XMPP connector: an XMPP component (XEP-0114) that learns advisors'
//! presence from the company's XMPP server into the `xmpp` presence
//! source. With the privileged-entity extension (XEP-0356, Prosody's
//! `mod_privilege`, ejabberd's built-in) the server forwards every user's
//! presence to the component without per-user approval; without it, the
//! component asks each linked account for a presence subscription (granted
//! by a shared roster group, or by the user). Each account's resources are
//! combined by the core's mapping (`<show/>`, busiest wins, XEP-0108 on the
//! phone). While disconnected the connector withdraws what it said, and it
//! reconnects with backoff.
//!
//! Configured from the environment (`docs/presence.md`): without
//! `LIVECARD_XMPP_COMPONENT` it does not run.

use anyhow::Context;
use futures_util::{SinkExt, StreamExt};
use livecard_core::UnixMillis;
use livecard_core::ids::AdvisorId;
use livecard_core::presence::mapping::{self, Signals, XmppResource};
use livecard_core::presence::{PresenceSource, PresenceUpdate, Signal};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tokio_xmpp::parsers::jid::{BareJid, Jid};
use tokio_xmpp::parsers::presence::{Presence, Show, Type};
use tokio_xmpp::{Component, Stanza};

const NAME: &str = "xmpp";
/// What the connector writes counts this long; it rewrites every
/// [`REFRESH`], so a connector that dies drops out by itself.
const LIFETIME_MS: u64 = 5 * 60_000;
const REFRESH: Duration = Duration::from_secs(120);
/// After connecting, how long to wait for the server's presences before
/// saying "offline" of accounts that sent none.
const SETTLE: Duration = Duration::from_secs(2);
const ACTIVITY_NS: &str = "http://jabber.org/protocol/activity";
const PRIVILEGE_NS: &str = "urn:xmpp:privilege:2";

#[derive(Clone)]
pub struct XmppConfig {
    /// The component's address (`presence.example.com`).
    pub component: String,
    secret: String,
    /// The server's component port, `host:port` (`127.0.0.1:5347`).
    pub server: String,
}

impl std::fmt::Debug for XmppConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XmppConfig")
            .field("component", &self.component)
            .field("secret", &"<secret>")
            .field("server", &self.server)
            .finish()
    }
}

impl XmppConfig {
    pub fn new(component: &str, secret: &str, server: &str) -> Self {
        Self {
            component: component.to_owned(),
            secret: secret.to_owned(),
            server: server.to_owned(),
        }
    }

    /// From `LIVECARD_XMPP_COMPONENT`, `LIVECARD_XMPP_SECRET` (or
    /// `_SECRET_FILE`) and `LIVECARD_XMPP_SERVER`; `None` without a
    /// component.
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> anyhow::Result<Option<Self>> {
        let Some(component) = get("LIVECARD_XMPP_COMPONENT").filter(|c| !c.trim().is_empty())
        else {
            return Ok(None);
        };
        BareJid::new(component.trim())
            .ok()
            .filter(|j| j.node().is_none())
            .context("LIVECARD_XMPP_COMPONENT is not valid: a domain (presence.example.com)")?;
        let secret = crate::secret(&get, "LIVECARD_XMPP_SECRET", "LIVECARD_XMPP_COMPONENT")?;
        let server = get("LIVECARD_XMPP_SERVER").unwrap_or_else(|| "127.0.0.1:5347".into());
        server
            .rsplit_once(':')
            .and_then(|(host, port)| (!host.is_empty()).then_some(port))
            .and_then(|p| p.parse::<u16>().ok())
            .context("LIVECARD_XMPP_SERVER is not valid: host:port of the component port")?;
        Ok(Some(Self::new(component.trim(), &secret, server.trim())))
    }
}

/// One resource's last word.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Resource {
    show: Option<&'static str>,
    on_the_phone: bool,
}

/// What the connector knows and has said.
#[derive(Default)]
struct Accounts {
    /// Bare JID → resource → its presence.
    online: HashMap<BareJid, BTreeMap<String, Resource>>,
    /// What was last written per advisor.
    written: HashMap<AdvisorId, Signals>,
    /// The last version used (versions must grow, also within a millisecond).
    version: u64,
}

impl Accounts {
    fn signals(&self, jid: &BareJid) -> Signals {
        let resources: Vec<XmppResource<'_>> = self
            .online
            .get(jid)
            .map(|r| {
                r.values()
                    .map(|r| XmppResource {
                        show: r.show,
                        on_the_phone: r.on_the_phone,
                    })
                    .collect()
            })
            .unwrap_or_default();
        mapping::xmpp(&resources)
    }

    fn next_version(&mut self, now: UnixMillis) -> u64 {
        self.version = now.max(self.version + 1);
        self.version
    }
}

/// Runs the connector until the task is aborted.
pub fn spawn<H: crate::PresenceHost>(
    app: Arc<H>,
    config: XmppConfig,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut accounts = Accounts::default();
        let mut backoff = Duration::from_millis(500);
        loop {
            match session(&*app, &config, &mut accounts).await {
                Ok(()) => {
                    app.health().error(NAME, "the server closed the stream");
                    backoff = Duration::from_millis(500);
                }
                Err(why) => {
                    tracing::warn!(reason = %why, "XMPP: not connected");
                    app.health().error(NAME, why);
                }
            }
            // Disconnected: what the server said no longer holds.
            withdraw(&*app, &mut accounts).await;
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(30));
        }
    })
}

/// The advisors linked to an XMPP account.
async fn linked<H: crate::PresenceHost>(app: &H) -> Result<HashMap<BareJid, AdvisorId>, String> {
    Ok(app
        .advisors()
        .await?
        .into_iter()
        .filter_map(|r| {
            let jid = BareJid::new(r.advisor.identities.xmpp.as_deref()?).ok()?;
            Some((jid, r.advisor.id))
        })
        .collect())
}

/// Writes an account's presence for its advisor when it changed (or
/// always, to keep it alive).
async fn write<H: crate::PresenceHost>(
    app: &H,
    accounts: &mut Accounts,
    advisor: &AdvisorId,
    signals: Signals,
    always: bool,
) {
    if !always && accounts.written.get(advisor) == Some(&signals) {
        return;
    }
    let now = app.now();
    let update = PresenceUpdate {
        source: PresenceSource::Xmpp,
        states: signals.states(),
        version: accounts.next_version(now),
        expires_at: Some(now + LIFETIME_MS),
        heartbeat_until: None,
    };
    match app.set_presence(advisor, &update).await {
        Ok(_) => {
            accounts.written.insert(advisor.clone(), signals);
        }
        Err(err) => {
            tracing::warn!(error = %err, "XMPP presence not stored");
            app.health()
                .error(NAME, format!("presence not stored: {}", err));
        }
    }
}

/// Withdraws everything the connector said (it is disconnected).
async fn withdraw<H: crate::PresenceHost>(app: &H, accounts: &mut Accounts) {
    accounts.online.clear();
    let advisors: Vec<AdvisorId> = accounts.written.keys().cloned().collect();
    for advisor in advisors {
        write(app, accounts, &advisor, Signals::all(Signal::None), false).await;
    }
}

/// A resource's presence from a stanza; `None` when it says the resource
/// went away.
fn resource_of(presence: &Presence) -> Option<Resource> {
    if presence.type_ != Type::None {
        return None;
    }
    let show = presence.show.as_ref().map(|s| match s {
        Show::Away => "away",
        Show::Chat => "chat",
        Show::Dnd => "dnd",
        Show::Xa => "xa",
    });
    // XEP-0108 user activity carried in presence: talking/on_the_phone.
    let on_the_phone = presence.payloads.iter().any(|p| {
        p.is("activity", ACTIVITY_NS)
            && p.children().any(|general| {
                general.name() == "talking"
                    && general
                        .children()
                        .any(|specific| specific.name() == "on_the_phone")
            })
    });
    Some(Resource { show, on_the_phone })
}

/// One connection: log in, then follow presence until the stream ends.
async fn session<H: crate::PresenceHost>(
    app: &H,
    config: &XmppConfig,
    accounts: &mut Accounts,
) -> Result<(), String> {
    let mut component = Component::new_plaintext(
        &config.component,
        &config.secret,
        tokio_xmpp::connect::DnsConfig::addr(&config.server),
        tokio_xmpp::xmlstream::Timeouts::tight(),
    )
    .await
    .map_err(|e| format!("component login to {} failed: {e}", config.server))?;
    tracing::info!(server = %config.server, "XMPP component connected");
    let mut links_seen = app.health().links_version();
    let mut links = linked(app).await?;
    app.health().success(NAME, app.now(), links.len());
    // A link saved on this host is followed within a second.
    let mut look = tokio::time::interval(Duration::from_secs(1));
    let mut privileged = false;
    let mut settle = Box::pin(tokio::time::sleep(SETTLE));
    let mut settled = false;
    let mut refresh = tokio::time::interval(REFRESH);
    refresh.tick().await;
    loop {
        tokio::select! {
            stanza = component.next() => {
                let Some(stanza) = stanza else { return Ok(()) };
                match stanza {
                    Stanza::Message(message) => {
                        if message.payloads.iter().any(|p| p.is("privilege", PRIVILEGE_NS)) {
                            privileged = true;
                            tracing::info!("XMPP: the server forwards presence (XEP-0356)");
                        }
                    }
                    Stanza::Presence(presence) => {
                        let Some(from) = presence.from.clone().and_then(|j| j.try_into_full().ok()) else {
                            continue;
                        };
                        let bare = from.to_bare();
                        let Some(advisor) = links.get(&bare).cloned() else {
                            continue; // not an advisor's account
                        };
                        let resources = accounts.online.entry(bare.clone()).or_default();
                        match resource_of(&presence) {
                            Some(resource) => {
                                resources.insert(from.resource().to_string(), resource);
                            }
                            None if presence.type_ == Type::Unavailable => {
                                resources.remove(from.resource().as_str());
                            }
                            None => continue, // subscriptions, probes, errors
                        }
                        let signals = accounts.signals(&bare);
                        write(app, accounts, &advisor, signals, false).await;
                        app.health().success(NAME, app.now(), links.len());
                    }
                    Stanza::Iq(_) => {}
                }
            }
            () = &mut settle, if !settled => {
                settled = true;
                if !privileged {
                    // No XEP-0356: ask each account for its presence (a
                    // shared roster group or the user grants it).
                    for jid in links.keys() {
                        ask_presence(&mut component, jid).await?;
                    }
                }
                // Accounts that said nothing are offline here.
                for (jid, advisor) in links.clone() {
                    let signals = accounts.signals(&jid);
                    write(app, accounts, &advisor, signals, false).await;
                }
            }
            _ = look.tick() => {
                // (A guard on the select would be read only when the loop
                // wakes for something else.)
                if !settled || app.health().links_version() == links_seen {
                    continue;
                }
                links_seen = app.health().links_version();
                let before = links.clone();
                links = linked(app).await?;
                for (jid, advisor) in links.clone() {
                    if before.get(&jid) == Some(&advisor) {
                        continue;
                    }
                    if !privileged {
                        ask_presence(&mut component, &jid).await?;
                    }
                    let signals = accounts.signals(&jid);
                    write(app, accounts, &advisor, signals, true).await;
                }
                app.health().success(NAME, app.now(), links.len());
            }
            _ = refresh.tick() => {
                links_seen = app.health().links_version();
                links = linked(app).await?;
                for (jid, advisor) in links.clone() {
                    let signals = accounts.signals(&jid);
                    write(app, accounts, &advisor, signals, true).await;
                }
                app.health().success(NAME, app.now(), links.len());
            }
        }
    }
}

/// Without XEP-0356: asks an account for a presence subscription (a shared
/// roster group or the user grants it) and probes its current presence.
async fn ask_presence<C: tokio_xmpp::connect::ServerConnector>(
    component: &mut Component<C>,
    jid: &BareJid,
) -> Result<(), String> {
    let mut ask = Presence::new(Type::Subscribe);
    ask.to = Some(Jid::from(jid.clone()));
    ask.from = Some(Jid::from(component.jid.clone()));
    let mut probe = Presence::new(Type::Probe);
    probe.to = Some(Jid::from(jid.clone()));
    probe.from = Some(Jid::from(component.jid.clone()));
    for stanza in [ask, probe] {
        component
            .send(Stanza::Presence(stanza))
            .await
            .map_err(|e| format!("XMPP send: {e}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configured_from_the_environment_with_clear_refusals() {
        let get = crate::env;
        assert!(XmppConfig::from_env(get(vec![])).expect("none").is_none());
        let config = XmppConfig::from_env(get(vec![
            ("LIVECARD_XMPP_COMPONENT", "presence.example.com"),
            ("LIVECARD_XMPP_SECRET", "s3cret"),
        ]))
        .expect("valid")
        .expect("configured");
        assert_eq!(config.server, "127.0.0.1:5347");
        assert!(!format!("{config:?}").contains("s3cret"));
        for bad in [
            vec![("LIVECARD_XMPP_COMPONENT", "presence.example.com")],
            vec![
                ("LIVECARD_XMPP_COMPONENT", "anna@example.com"),
                ("LIVECARD_XMPP_SECRET", "x"),
            ],
            vec![
                ("LIVECARD_XMPP_COMPONENT", "presence.example.com"),
                ("LIVECARD_XMPP_SECRET", "x"),
                ("LIVECARD_XMPP_SERVER", "nohost"),
            ],
        ] {
            let err = XmppConfig::from_env(get(bad)).expect_err("refused");
            assert!(err.to_string().contains("LIVECARD_XMPP_"), "{err}");
        }
    }

    #[test]
    fn resources_from_presence_stanzas() {
        let parse = |xml: &str| -> Presence {
            let element: tokio_xmpp::minidom::Element = xml.parse().expect("xml");
            Presence::try_from(element).expect("presence")
        };
        let dnd = parse(
            "<presence xmlns='jabber:component:accept' from='a@x/desk'><show>dnd</show></presence>",
        );
        assert_eq!(
            resource_of(&dnd),
            Some(Resource {
                show: Some("dnd"),
                on_the_phone: false
            })
        );
        let phone = parse(
            "<presence xmlns='jabber:component:accept' from='a@x/desk'><activity xmlns='http://jabber.org/protocol/activity'><talking><on_the_phone/></talking></activity></presence>",
        );
        assert_eq!(resource_of(&phone).map(|r| r.on_the_phone), Some(true));
        let gone =
            parse("<presence xmlns='jabber:component:accept' from='a@x/desk' type='unavailable'/>");
        assert_eq!(resource_of(&gone), None);
    }
}
