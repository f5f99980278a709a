//! The SIP watcher: subscribes to the dialog event package (RFC 4235) of
//! each advisor's extension at the phone system and turns its ringing and
//! talking dialogs into the `sip_dialog` presence source (audio and video
//! busy while on the phone); and, where the PBX offers it, to the presence
//! package (RFC 3856, PIDF/RPID documents) for the `sip_presence` source.
//! A PBX that refuses the presence package is asked again after a while;
//! the dialog package goes on alone. Subscriptions are renewed before they expire;
//! NOTIFY bodies are parsed with an XML parser (minidom) and checked; a
//! bad message is answered or dropped, counted, and changes nothing.
//!
//! SIP over UDP (RFC 3261) with the few headers a subscriber needs; the
//! meaning of dialog states and presence documents is the core's
//! (`mapping::sip_dialogs`, `mapping::sip_presence`).
//! Configured from the environment (`docs/presence.md`): without
//! `LIVECARD_SIP_SERVER` it does not run.

use anyhow::{Context, anyhow};
use livecard_core::UnixMillis;
use livecard_core::ids::AdvisorId;
use livecard_core::presence::mapping::{self, Signals};
use livecard_core::presence::{PresenceSource, PresenceUpdate};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;

const NAME: &str = "sip";
/// The largest SIP message read (a UDP datagram).
const MAX_MESSAGE: usize = 65_507;
const DIALOG_INFO_NS: &str = "urn:ietf:params:xml:ns:dialog-info";
const PIDF_NS: &str = "urn:ietf:params:xml:ns:pidf";
const RPID_NS: &str = "urn:ietf:params:xml:ns:pidf:rpid";
/// How often subscriptions and links are looked at.
const TICK: Duration = Duration::from_millis(500);
/// An unanswered or refused SUBSCRIBE is tried again after this long.
const RETRY: Duration = Duration::from_secs(10);
/// At most this many SUBSCRIBEs are sent per tick (400 a second).
const SUBSCRIBES_PER_TICK: usize = 200;
/// A presence subscription the PBX refused (it may not offer the package)
/// is asked again after this long.
const PRESENCE_RETRY: Duration = Duration::from_secs(300);

/// The event packages watched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Package {
    /// RFC 4235: the extension's calls.
    Dialog,
    /// RFC 3856: the user's presence document (PIDF, RFC 3863).
    Presence,
}

impl Package {
    fn event(self) -> &'static str {
        match self {
            Package::Dialog => "dialog",
            Package::Presence => "presence",
        }
    }

    fn accept(self) -> &'static str {
        match self {
            Package::Dialog => "application/dialog-info+xml",
            Package::Presence => "application/pidf+xml",
        }
    }

    fn source(self) -> PresenceSource {
        match self {
            Package::Dialog => PresenceSource::SipDialog,
            Package::Presence => PresenceSource::SipPresence,
        }
    }
}

#[derive(Debug, Clone)]
pub struct SipConfig {
    /// The phone system's SIP address (UDP), `host:port`.
    pub server: SocketAddr,
    /// The domain of extensions given as numbers (`2041` becomes
    /// `sip:2041@<domain>`); the server's address unless told.
    pub domain: String,
    /// Where the watcher listens (`0.0.0.0:5070` in a container).
    pub bind: SocketAddr,
    /// The subscription length asked for, in seconds.
    pub expires_s: u32,
    /// Whether the presence package is asked for besides the dialog one.
    pub presence: bool,
}

impl SipConfig {
    pub fn new(server: SocketAddr) -> Self {
        Self {
            server,
            domain: server.to_string(),
            bind: if server.ip().is_loopback() {
                SocketAddr::from(([127, 0, 0, 1], 0))
            } else {
                SocketAddr::from(([0, 0, 0, 0], 0))
            },
            expires_s: 600,
            presence: true,
        }
    }

    /// From `LIVECARD_SIP_SERVER`, `LIVECARD_SIP_DOMAIN`, `LIVECARD_SIP_BIND`
    /// and `LIVECARD_SIP_EXPIRES`; `None` without a server.
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> anyhow::Result<Option<Self>> {
        let Some(server) = get("LIVECARD_SIP_SERVER").filter(|s| !s.trim().is_empty()) else {
            return Ok(None);
        };
        let server: SocketAddr = server.trim().parse().context(
            "LIVECARD_SIP_SERVER is not valid: an IP address and UDP port (10.0.0.5:5060)",
        )?;
        let mut config = Self::new(server);
        if let Some(domain) = get("LIVECARD_SIP_DOMAIN") {
            let domain = domain.trim();
            if domain.is_empty()
                || domain.len() > 253
                || !domain
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
            {
                return Err(anyhow!(
                    "LIVECARD_SIP_DOMAIN is not valid: a host name (pbx.example.com)"
                ));
            }
            config.domain = domain.to_owned();
        }
        if let Some(bind) = get("LIVECARD_SIP_BIND") {
            config.bind = bind
                .trim()
                .parse()
                .context("LIVECARD_SIP_BIND is not valid: an IP address and port")?;
        }
        if let Some(expires) = get("LIVECARD_SIP_EXPIRES") {
            config.expires_s = expires
                .trim()
                .parse()
                .ok()
                .filter(|s| (60..=86_400).contains(s))
                .context("LIVECARD_SIP_EXPIRES is not valid: seconds, 60 to 86400 (600)")?;
        }
        if let Some(presence) = get("LIVECARD_SIP_PRESENCE") {
            config.presence = match presence.trim() {
                "true" | "1" | "on" => true,
                "false" | "0" | "off" => false,
                _ => {
                    return Err(anyhow!("LIVECARD_SIP_PRESENCE is not valid: true or false"));
                }
            };
        }
        Ok(Some(config))
    }

    /// The SIP URI watched for an advisor's `sip` identity.
    pub fn uri_of(&self, identity: &str) -> String {
        if identity.starts_with("sip:") || identity.starts_with("sips:") {
            identity.to_owned()
        } else {
            format!("sip:{identity}@{}", self.domain)
        }
    }
}

/// A SIP message as far as the watcher reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// `SIP/2.0 200 OK` or `NOTIFY sip:… SIP/2.0`.
    pub start: String,
    /// Header names in lower case (compact forms expanded), in order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Message {
    /// Parses a datagram; `None` for what is not a SIP message.
    pub fn parse(data: &[u8]) -> Option<Self> {
        if data.len() > MAX_MESSAGE {
            return None;
        }
        let split = data.windows(4).position(|w| w == b"\r\n\r\n")?;
        let head = std::str::from_utf8(&data[..split]).ok()?;
        let mut lines = head.split("\r\n");
        let start = lines.next()?.to_owned();
        if !(start.starts_with("SIP/2.0 ") || start.ends_with(" SIP/2.0")) {
            return None;
        }
        let mut headers: Vec<(String, String)> = Vec::new();
        for line in lines {
            if line.starts_with([' ', '\t']) {
                // A folded line continues the previous header.
                let (_, value) = headers.last_mut()?;
                value.push(' ');
                value.push_str(line.trim());
                continue;
            }
            let (name, value) = line.split_once(':')?;
            let name = match name.trim().to_ascii_lowercase().as_str() {
                "i" => "call-id".to_owned(),
                "f" => "from".to_owned(),
                "t" => "to".to_owned(),
                "v" => "via".to_owned(),
                "o" => "event".to_owned(),
                "c" => "content-type".to_owned(),
                "l" => "content-length".to_owned(),
                "m" => "contact".to_owned(),
                other => other.to_owned(),
            };
            headers.push((name, value.trim().to_owned()));
            if headers.len() > 100 {
                return None;
            }
        }
        let body = data[split + 4..].to_vec();
        let message = Self {
            start,
            headers,
            body,
        };
        if let Some(length) = message.header("content-length") {
            let length: usize = length.parse().ok()?;
            if length > message.body.len() {
                return None;
            }
            let mut message = message;
            message.body.truncate(length);
            return Some(message);
        }
        Some(message)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// A response's status code.
    pub fn status(&self) -> Option<u16> {
        self.start
            .strip_prefix("SIP/2.0 ")
            .and_then(|r| r.get(..3))
            .and_then(|c| c.parse().ok())
    }

    pub fn method(&self) -> Option<&str> {
        (self.status().is_none())
            .then(|| self.start.split(' ').next())
            .flatten()
    }
}

/// A header parameter (`tag` of `To`, `expires` of `Subscription-State`).
pub fn param<'a>(value: &'a str, name: &str) -> Option<&'a str> {
    value.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        (k.trim().eq_ignore_ascii_case(name)).then(|| v.trim().trim_matches('"'))
    })
}

/// The dialog states of a `dialog-info` document (RFC 4235), with whether
/// it is the full state or a partial update, and each dialog's id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialogInfo {
    /// The document's version: a subscriber ignores one not newer than
    /// the last it applied (RFC 4235 4.1).
    pub version: Option<u64>,
    pub full: bool,
    pub dialogs: Vec<(String, String)>,
}

/// Parses a NOTIFY body of `application/dialog-info+xml`; an empty body
/// (no dialog information yet) is no dialogs.
pub fn dialog_info(body: &[u8]) -> Result<DialogInfo, String> {
    let Some(root) = xml_root(body)? else {
        return Ok(DialogInfo {
            version: None,
            full: true,
            dialogs: Vec::new(),
        });
    };
    if !root.is("dialog-info", DIALOG_INFO_NS) {
        return Err("the body is not a dialog-info document".into());
    }
    let full = root.attr("state") != Some("partial");
    let version = root.attr("version").and_then(|v| v.parse().ok());
    let dialogs = root
        .children()
        .filter(|c| c.is("dialog", DIALOG_INFO_NS))
        .take(64)
        .map(|d| {
            let state = d
                .get_child("state", DIALOG_INFO_NS)
                .map(|s| s.text().trim().to_owned())
                .unwrap_or_default();
            (d.attr("id").unwrap_or_default().to_owned(), state)
        })
        .collect();
    Ok(DialogInfo {
        version,
        full,
        dialogs,
    })
}

/// What a PIDF document (RFC 3863) says, as far as livecard reads it:
/// each tuple's `basic` status and the RPID activities (RFC 4480) of its
/// persons, tuples and devices.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pidf {
    pub basic: Vec<String>,
    pub activities: Vec<String>,
}

impl Pidf {
    pub fn signals(&self) -> Signals {
        mapping::sip_presence(
            self.basic.iter().map(String::as_str),
            self.activities.iter().map(String::as_str),
        )
    }
}

/// Parses a NOTIFY body of `application/pidf+xml`; an empty body (no
/// presence information, or the subscription still pending) says nothing.
pub fn pidf(body: &[u8]) -> Result<Pidf, String> {
    let Some(root) = xml_root(body)? else {
        return Ok(Pidf::default());
    };
    if !root.is("presence", PIDF_NS) {
        return Err("the body is not a PIDF presence document".into());
    }
    let mut doc = Pidf::default();
    for tuple in root.children().filter(|c| c.is("tuple", PIDF_NS)).take(64) {
        if let Some(basic) = tuple
            .get_child("status", PIDF_NS)
            .and_then(|s| s.get_child("basic", PIDF_NS))
        {
            doc.basic.push(basic.text().trim().to_owned());
        }
    }
    // Activities may sit in a person (the data model, RFC 4479), a tuple's
    // status or a device: look two levels down from each child.
    fn activities(element: &tokio_xmpp::minidom::Element, depth: u8, out: &mut Vec<String>) {
        for child in element.children() {
            if out.len() >= 32 {
                return;
            }
            if child.is("activities", RPID_NS) {
                out.extend(
                    child
                        .children()
                        .filter(|a| a.ns() == RPID_NS || a.ns().is_empty())
                        .map(|a| a.name().to_owned())
                        .take(16),
                );
            } else if depth > 0 {
                activities(child, depth - 1, out);
            }
        }
    }
    activities(&root, 3, &mut doc.activities);
    Ok(doc)
}

/// The root element of an XML body, without its declaration; `None` for
/// an empty body.
fn xml_root(body: &[u8]) -> Result<Option<tokio_xmpp::minidom::Element>, String> {
    let text = std::str::from_utf8(body).map_err(|_| "the body is not UTF-8".to_owned())?;
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let text = match text.strip_prefix("<?xml") {
        Some(rest) => rest
            .split_once("?>")
            .map(|(_, r)| r.trim_start())
            .ok_or("a broken XML declaration")?,
        None => text,
    };
    text.parse()
        .map(Some)
        .map_err(|e| format!("the body is not XML: {e}"))
}

/// One advisor's subscription to one package.
struct Subscription {
    package: Package,
    advisor: AdvisorId,
    uri: String,
    call_id: String,
    from_tag: String,
    to_tag: Option<String>,
    cseq: u32,
    /// When to (re)subscribe.
    next: Instant,
    /// Dialog id → state, as the notifications said.
    dialogs: BTreeMap<String, String>,
    written: Option<Signals>,
    expires_at: UnixMillis,
    /// The last dialog-info version applied.
    info_version: Option<u64>,
    /// The CSeq of the last NOTIFY applied in this subscription dialog
    /// (presence documents carry no version of their own).
    notify_cseq: Option<u32>,
}

struct Watcher {
    config: SipConfig,
    socket: UdpSocket,
    local: SocketAddr,
    /// By Call-ID.
    subscriptions: HashMap<String, Subscription>,
    version: u64,
    counter: u64,
}

/// Runs the watcher until the task is aborted.
pub fn spawn<H: crate::PresenceHost>(
    app: Arc<H>,
    config: SipConfig,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let socket = match UdpSocket::bind(config.bind).await {
            Ok(socket) => socket,
            Err(err) => {
                tracing::error!(error = %err, bind = %config.bind, "SIP: cannot listen");
                app.health()
                    .error(NAME, format!("cannot listen on {}: {err}", config.bind));
                return;
            }
        };
        let local = socket.local_addr().unwrap_or(config.bind);
        let mut watcher = Watcher {
            config,
            socket,
            local,
            subscriptions: HashMap::new(),
            version: 0,
            counter: 0,
        };
        watcher.run(&*app).await;
    })
}

impl Watcher {
    /// The advisors watched: dialog subscriptions the server accepted and
    /// that have not run out.
    fn linked(&self, now: UnixMillis) -> usize {
        self.subscriptions
            .values()
            .filter(|s| s.package == Package::Dialog && s.expires_at > now)
            .count()
    }

    fn next_id(&mut self) -> String {
        self.counter += 1;
        format!("lc{}x{}", std::process::id(), self.counter)
    }

    async fn run<H: crate::PresenceHost>(&mut self, app: &H) {
        let mut tick = tokio::time::interval(TICK);
        let mut links_at = Instant::now();
        let mut links_seen = app.health().links_version();
        let mut buf = vec![0u8; MAX_MESSAGE + 1];
        loop {
            tokio::select! {
                received = self.socket.recv_from(&mut buf) => {
                    match received {
                        Ok((n, from)) => {
                            let data = buf[..n].to_vec();
                            self.received(app, &data, from).await;
                        }
                        Err(err) => tracing::debug!(error = %err, "SIP: receive failed"),
                    }
                }
                _ = tick.tick() => {
                    let links_now = app.health().links_version();
                    if Instant::now() >= links_at || links_now != links_seen {
                        links_seen = links_now;
                        if let Err(why) = self.link(app).await {
                            app.health().error(NAME, why);
                        }
                        links_at = Instant::now() + Duration::from_secs(30);
                    }
                    self.subscribe_due(app).await;
                }
            }
        }
    }

    /// Follows the advisors' `sip` identities: new ones are subscribed,
    /// removed ones dropped.
    async fn link<H: crate::PresenceHost>(&mut self, app: &H) -> Result<(), String> {
        let mut packages = vec![Package::Dialog];
        if self.config.presence {
            packages.push(Package::Presence);
        }
        let wanted: HashMap<(AdvisorId, Package), String> = app
            .advisors()
            .await?
            .into_iter()
            .filter_map(|r| {
                let uri = self.config.uri_of(r.advisor.identities.sip.as_deref()?);
                Some((r.advisor.id, uri))
            })
            .flat_map(|(advisor, uri)| {
                packages
                    .iter()
                    .map(move |p| ((advisor.clone(), *p), uri.clone()))
            })
            .collect();
        self.subscriptions
            .retain(|_, s| wanted.get(&(s.advisor.clone(), s.package)) == Some(&s.uri));
        let known: Vec<(AdvisorId, Package)> = self
            .subscriptions
            .values()
            .map(|s| (s.advisor.clone(), s.package))
            .collect();
        for ((advisor, package), uri) in wanted {
            if known.contains(&(advisor.clone(), package)) {
                continue;
            }
            let call_id = self.next_id();
            let from_tag = self.next_id();
            self.subscriptions.insert(
                call_id.clone(),
                Subscription {
                    package,
                    advisor,
                    uri,
                    call_id,
                    from_tag,
                    to_tag: None,
                    cseq: 0,
                    next: Instant::now(),
                    dialogs: BTreeMap::new(),
                    written: None,
                    expires_at: 0,
                    info_version: None,
                    notify_cseq: None,
                },
            );
        }
        Ok(())
    }

    async fn subscribe_due<H: crate::PresenceHost>(&mut self, app: &H) {
        let now = Instant::now();
        // Paced: a PBX is not sent thousands of SUBSCRIBEs in one burst (its
        // receive buffer would drop most); the rest go in the next ticks.
        let due: Vec<String> = self
            .subscriptions
            .values()
            .filter(|s| s.next <= now)
            .map(|s| s.call_id.clone())
            .take(SUBSCRIBES_PER_TICK)
            .collect();
        for call_id in due {
            let branch = self.next_id();
            let (local, expires) = (self.local, self.config.expires_s);
            let Some(s) = self.subscriptions.get_mut(&call_id) else {
                continue;
            };
            s.cseq += 1;
            // Tried again unless an answer comes.
            s.next = now + RETRY;
            let to = match &s.to_tag {
                Some(tag) => format!("<{}>;tag={tag}", s.uri),
                None => format!("<{}>", s.uri),
            };
            let request = format!(
                "SUBSCRIBE {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK{branch};rport\r\nMax-Forwards: 70\r\nFrom: <sip:livecard@{local}>;tag={from_tag}\r\nTo: {to}\r\nCall-ID: {call_id}\r\nCSeq: {cseq} SUBSCRIBE\r\nContact: <sip:livecard@{local}>\r\nEvent: {event}\r\nAccept: {accept}\r\nExpires: {expires}\r\nUser-Agent: livecard\r\nContent-Length: 0\r\n\r\n",
                uri = s.uri,
                from_tag = s.from_tag,
                cseq = s.cseq,
                event = s.package.event(),
                accept = s.package.accept(),
            );
            if let Err(err) = self
                .socket
                .send_to(request.as_bytes(), self.config.server)
                .await
            {
                app.health()
                    .error(NAME, format!("SUBSCRIBE not sent: {err}"));
            }
        }
    }

    async fn received<H: crate::PresenceHost>(&mut self, app: &H, data: &[u8], from: SocketAddr) {
        tracing::debug!(
            %from,
            start = %String::from_utf8_lossy(&data[..data.len().min(80)]).lines().next().unwrap_or(""),
            "SIP: received"
        );
        let Some(message) = Message::parse(data) else {
            tracing::warn!(%from, "SIP: a datagram that is not a SIP message");
            app.health()
                .error(NAME, "a datagram that is not a SIP message");
            return;
        };
        let Some(call_id) = message.header("call-id").map(str::to_owned) else {
            return;
        };
        if let Some(status) = message.status() {
            self.answer(app, &message, &call_id, status);
            return;
        }
        if message.method() == Some("NOTIFY") {
            self.notify(app, &message, &call_id, from).await;
        } else if let Some(method) = message.method() {
            // Nothing else is served here.
            self.reply(&message, from, "405 Method Not Allowed", method != "ACK")
                .await;
        }
    }

    /// A response to our SUBSCRIBE.
    fn answer<H: crate::PresenceHost>(
        &mut self,
        app: &H,
        message: &Message,
        call_id: &str,
        status: u16,
    ) {
        let Some(s) = self.subscriptions.get_mut(call_id) else {
            return;
        };
        match status {
            100..=199 => {}
            200..=299 => {
                if s.to_tag.is_none() {
                    s.to_tag = message
                        .header("to")
                        .and_then(|t| param(t, "tag"))
                        .map(str::to_owned);
                }
                let granted = message
                    .header("expires")
                    .and_then(|e| e.parse::<u64>().ok())
                    .unwrap_or(u64::from(self.config.expires_s))
                    .max(10);
                // Renewed at four fifths of its time.
                s.next = Instant::now() + Duration::from_millis(granted * 800);
                s.expires_at = app.now() + granted * 1000;
                app.health()
                    .success(NAME, app.now(), self.linked(app.now()));
            }
            _ if s.package == Package::Presence => {
                // Many PBXs offer only the dialog package (489 Bad Event):
                // not an error of the watcher; asked again now and then.
                tracing::info!(uri = %s.uri, answer = %message.start, "SIP: no presence subscription");
                s.to_tag = None;
                s.notify_cseq = None;
                s.next = Instant::now() + PRESENCE_RETRY;
            }
            _ => {
                let why = format!("SUBSCRIBE {} refused: {}", s.uri, message.start);
                tracing::warn!(reason = %why, "SIP");
                app.health().error(NAME, why);
                // A fresh subscription next time.
                s.to_tag = None;
                s.next = Instant::now() + RETRY;
            }
        }
    }

    async fn reply(&self, request: &Message, to: SocketAddr, status: &str, send: bool) {
        if !send {
            return;
        }
        let mut response = format!("SIP/2.0 {status}\r\n");
        for (name, value) in &request.headers {
            if matches!(name.as_str(), "via" | "from" | "to" | "call-id" | "cseq") {
                response.push_str(&format!("{name}: {value}\r\n"));
            }
        }
        response.push_str("Content-Length: 0\r\n\r\n");
        let _ = self.socket.send_to(response.as_bytes(), to).await;
    }

    async fn notify<H: crate::PresenceHost>(
        &mut self,
        app: &H,
        message: &Message,
        call_id: &str,
        from: SocketAddr,
    ) {
        if !self.subscriptions.contains_key(call_id) {
            self.reply(message, from, "481 Subscription does not exist", true)
                .await;
            return;
        }
        let package = self.subscriptions.get(call_id).map(|s| s.package);
        let event = message
            .header("event")
            .and_then(|e| e.split(';').next())
            .map(str::trim);
        let body = match (package, event) {
            (Some(Package::Dialog), Some("dialog")) => {
                dialog_info(&message.body).map(Body::Dialogs)
            }
            (Some(Package::Presence), Some("presence")) => pidf(&message.body).map(Body::Presence),
            _ => Err("a NOTIFY for another event package".into()),
        };
        let body = match body {
            Ok(body) => body,
            Err(why) => {
                tracing::warn!(reason = %why, "SIP: a NOTIFY not understood");
                app.health()
                    .error(NAME, format!("NOTIFY not understood: {why}"));
                self.reply(message, from, "400 Bad Request", true).await;
                return;
            }
        };
        self.reply(message, from, "200 OK", true).await;
        let state = message
            .header("subscription-state")
            .unwrap_or("active")
            .to_owned();
        let cseq = message
            .header("cseq")
            .and_then(|c| c.split_whitespace().next())
            .and_then(|n| n.parse::<u32>().ok());
        let now = app.now();
        self.version = now.max(self.version + 1);
        let version = self.version;
        let Some(s) = self.subscriptions.get_mut(call_id) else {
            return;
        };
        if s.to_tag.is_none() {
            s.to_tag = message
                .header("from")
                .and_then(|f| param(f, "tag"))
                .map(str::to_owned);
        }
        let signals = match body {
            Body::Dialogs(info) => 'dialogs: {
                let stale =
                    matches!((info.version, s.info_version), (Some(v), Some(last)) if v <= last);
                if stale {
                    tracing::debug!(version = ?info.version, "SIP: an older dialog-info, ignored");
                    break 'dialogs None;
                }
                if info.version.is_some() {
                    s.info_version = info.version;
                }
                if info.full {
                    s.dialogs.clear();
                }
                for (id, dialog_state) in info.dialogs {
                    if dialog_state.eq_ignore_ascii_case("terminated") {
                        s.dialogs.remove(&id);
                    } else {
                        s.dialogs.insert(id, dialog_state);
                    }
                }
                Some(mapping::sip_dialogs(s.dialogs.values().map(String::as_str)))
            }
            Body::Presence(doc) => 'presence: {
                // A NOTIFY overtaken by a later one (UDP) is not applied.
                if matches!((cseq, s.notify_cseq), (Some(c), Some(last)) if c <= last) {
                    tracing::debug!(?cseq, "SIP: an older presence NOTIFY, ignored");
                    break 'presence None;
                }
                if cseq.is_some() {
                    s.notify_cseq = cseq;
                }
                Some(if state.starts_with("pending") {
                    // Not authorised yet: the document says nothing.
                    Signals::all(livecard_core::presence::Signal::None)
                } else {
                    doc.signals()
                })
            }
        };
        if state.starts_with("terminated") {
            // The server ended the subscription: subscribe afresh.
            s.to_tag = None;
            s.info_version = None;
            s.notify_cseq = None;
            s.next = Instant::now();
        } else if let Some(expires) = param(&state, "expires").and_then(|e| e.parse::<u64>().ok()) {
            s.expires_at = now + expires.max(10) * 1000;
        }
        let Some(signals) = signals else {
            return;
        };
        tracing::debug!(package = ?s.package, dialogs = ?s.dialogs, ?signals, "SIP: state");
        if s.written == Some(signals) {
            return;
        }
        let update = PresenceUpdate {
            source: s.package.source(),
            states: signals.states(),
            version,
            // Counts as long as the subscription, and a little longer.
            expires_at: Some(s.expires_at.max(now) + 30_000),
            heartbeat_until: None,
        };
        let advisor = s.advisor.clone();
        match app.set_presence(&advisor, &update).await {
            Ok(_) => {
                if let Some(s) = self.subscriptions.get_mut(call_id) {
                    s.written = Some(signals);
                }
                app.health().success(NAME, now, self.linked(now));
            }
            Err(err) => app
                .health()
                .error(NAME, format!("presence not stored: {}", err)),
        }
    }
}

/// A NOTIFY body, by package.
enum Body {
    Dialogs(DialogInfo),
    Presence(Pidf),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sip_messages_and_refuses_what_is_not_one() {
        let notify = b"NOTIFY sip:livecard@127.0.0.1:5070 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKx\r\ni: abc\r\nf: <sip:200@pbx>;tag=s1\r\nt: <sip:livecard@x>;tag=w1\r\nCSeq: 2 NOTIFY\r\nEvent: dialog\r\nSubscription-State: active;expires=590\r\nContent-Length: 5\r\n\r\nhello, and more";
        let m = Message::parse(notify).expect("a message");
        assert_eq!(m.method(), Some("NOTIFY"));
        assert_eq!(m.header("call-id"), Some("abc"));
        assert_eq!(m.header("from").and_then(|f| param(f, "tag")), Some("s1"));
        assert_eq!(m.body, b"hello", "cut at Content-Length");
        assert_eq!(
            param(m.header("subscription-state").expect("state"), "expires"),
            Some("590")
        );
        let ok = Message::parse(b"SIP/2.0 202 Accepted\r\nCall-ID: x\r\nExpires: 600\r\n\r\n")
            .expect("a response");
        assert_eq!(ok.status(), Some(202));
        for bad in [
            &b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"[..],
            b"NOTIFY sip:x SIP/2.0\r\nno colon here\r\n\r\n",
            b"NOTIFY sip:x SIP/2.0\r\nContent-Length: 99\r\n\r\nshort",
            b"\xff\xfe",
        ] {
            assert_eq!(Message::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn reads_dialog_info_documents() {
        let body = br#"<?xml version="1.0"?>
<dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" version="3" state="full" entity="sip:200@127.0.0.1">
  <dialog id="d1" call-id="c" direction="recipient"><state>confirmed</state></dialog>
  <dialog id="d2"><state>terminated</state></dialog>
</dialog-info>"#;
        let info = dialog_info(body).expect("dialog-info");
        assert!(info.full);
        assert_eq!(info.version, Some(3));
        assert_eq!(
            info.dialogs,
            vec![
                ("d1".into(), "confirmed".into()),
                ("d2".into(), "terminated".into())
            ]
        );
        assert_eq!(dialog_info(b"").expect("empty").dialogs, vec![]);
        assert!(dialog_info(b"<dialog-info><dialog").is_err(), "not XML");
        assert!(
            dialog_info(b"<presence xmlns='urn:ietf:params:xml:ns:pidf'/>").is_err(),
            "another document"
        );
    }

    #[test]
    fn reads_pidf_documents_with_rpid_activities() {
        let body = br#"<?xml version="1.0" encoding="UTF-8"?>
<presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model"
  xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid" entity="sip:200@127.0.0.1">
  <tuple id="t1"><status><basic>open</basic></status></tuple>
  <tuple id="t2"><status><basic>closed</basic></status></tuple>
  <dm:person id="p1"><rpid:activities><rpid:on-the-phone/><rpid:busy/></rpid:activities></dm:person>
  <note>In a call</note>
</presence>"#;
        let doc = pidf(body).expect("pidf");
        assert_eq!(doc.basic, vec!["open", "closed"]);
        assert_eq!(doc.activities, vec!["on-the-phone", "busy"]);
        assert_eq!(
            doc.signals(),
            Signals::on_call(livecard_core::presence::Signal::Busy)
        );
        assert_eq!(pidf(b"").expect("empty"), Pidf::default());
        assert_eq!(
            pidf(b"<presence xmlns='urn:ietf:params:xml:ns:pidf' entity='sip:a@b'/>")
                .expect("no tuple")
                .signals(),
            Signals::all(livecard_core::presence::Signal::None)
        );
        assert!(pidf(b"<presence><tuple").is_err(), "not XML");
        assert!(
            pidf(b"<dialog-info xmlns='urn:ietf:params:xml:ns:dialog-info'/>").is_err(),
            "another document"
        );
    }

    #[test]
    fn configured_from_the_environment() {
        let get = crate::env;
        assert!(SipConfig::from_env(get(vec![])).expect("none").is_none());
        let config = SipConfig::from_env(get(vec![
            ("LIVECARD_SIP_SERVER", "127.0.0.1:5060"),
            ("LIVECARD_SIP_DOMAIN", "pbx.example.com"),
        ]))
        .expect("valid")
        .expect("configured");
        assert_eq!(config.uri_of("2041"), "sip:2041@pbx.example.com");
        assert_eq!(config.uri_of("sip:anna@pbx"), "sip:anna@pbx");
        assert!(config.presence, "presence is asked for by default");
        for bad in [
            vec![("LIVECARD_SIP_SERVER", "pbx.example.com")],
            vec![
                ("LIVECARD_SIP_SERVER", "127.0.0.1:5060"),
                ("LIVECARD_SIP_EXPIRES", "5"),
            ],
            vec![
                ("LIVECARD_SIP_SERVER", "127.0.0.1:5060"),
                ("LIVECARD_SIP_DOMAIN", "a b"),
            ],
            vec![
                ("LIVECARD_SIP_SERVER", "127.0.0.1:5060"),
                ("LIVECARD_SIP_PRESENCE", "maybe"),
            ],
        ] {
            let err = SipConfig::from_env(get(bad)).expect_err("refused");
            assert!(err.to_string().contains("LIVECARD_SIP_"), "{err}");
        }
    }
}
