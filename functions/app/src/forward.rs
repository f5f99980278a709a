//! Forwarding analytics events (`docs/analytics.md`): the outbox side of
//! [`App::record`] (deliveries made when an event is recorded and the
//! visitor's consent allows), the forwarder ([`App::forward`], run by every
//! host: a background task locally, the scheduled function on AWS, the cron
//! trigger on the Worker), and the destinations' settings, sealed before
//! they reach the store because they hold secrets.

use crate::{App, Push};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use livecard_core::UnixMillis;
use livecard_core::encoding::hmac_sha256;
use livecard_core::event::Event;
use livecard_core::forward::retry::{self, Answer, Next, Verdict};
use livecard_core::forward::{
    Consent, Delivery, DeliveryState, Destination, DestinationState, Job, OutRequest, Parcel,
    Subject, Target,
};
use livecard_core::ids::{AdvisorId, DestinationId};
use livecard_core::session::Origin;
use livecard_core::turn::PeerPolicy;
use livecard_store::{Store, StoreError, StoredDestination};
use std::sync::Arc;

/// How long a forwarded request may take.
pub const REQUEST_TIMEOUT_MS: u64 = 15_000;
/// The largest answer body read from a destination.
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;
/// Deliveries read per round, and rounds per destination per run.
const ROUND: u16 = 100;
/// Parcels (up to 100 deliveries each) taken per round.
const PARCELS_PER_ROUND: u16 = 5;
const ROUNDS: usize = 20;

/// A destination's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchAnswer {
    pub status: u16,
    pub retry_after: Option<String>,
    /// At most [`MAX_ANSWER_BYTES`].
    pub body: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// The host refused to connect: the name resolves only to addresses the
    /// forwarding policy denies (private, loopback, metadata…).
    #[error("{0}")]
    Denied(String),
    /// No answer: timeout, refused or reset connection, TLS failure.
    #[error("{0}")]
    Failed(String),
}

/// Outgoing HTTP, from the host: POST `request` and read the answer,
/// following no redirect, within `timeout_ms`, connecting only to
/// addresses the forwarding policy allows (the host resolves names).
#[allow(async_fn_in_trait)] // as the store: Send-ness follows the host's type
pub trait Fetch {
    async fn post(&self, request: &OutRequest, timeout_ms: u64) -> Result<FetchAnswer, FetchError>;
}

/// The answer of a [`SharedFetch`]: `Send` on native hosts (their handlers
/// run on a thread pool), not on the Worker (one thread, JavaScript
/// promises).
#[cfg(not(target_arch = "wasm32"))]
pub type FetchFuture<'a> =
    std::pin::Pin<Box<dyn Future<Output = Result<FetchAnswer, FetchError>> + Send + 'a>>;
#[cfg(target_arch = "wasm32")]
pub type FetchFuture<'a> =
    std::pin::Pin<Box<dyn Future<Output = Result<FetchAnswer, FetchError>> + 'a>>;

/// `Send + Sync` where the host's handlers need it (native), nothing on
/// the Worker.
#[cfg(not(target_arch = "wasm32"))]
pub trait MaybeShared: Send + Sync {}
#[cfg(not(target_arch = "wasm32"))]
impl<T: Send + Sync> MaybeShared for T {}
#[cfg(target_arch = "wasm32")]
pub trait MaybeShared {}
#[cfg(target_arch = "wasm32")]
impl<T> MaybeShared for T {}

/// [`Fetch`] held by the [`App`] for the handlers (the ICE-servers
/// endpoint asks a TURN credentials provider through it): the host's one
/// outgoing HTTP client, behind a pointer.
pub trait SharedFetch: MaybeShared {
    fn post_boxed<'a>(&'a self, request: &'a OutRequest, timeout_ms: u64) -> FetchFuture<'a>;
}

/// What one run of the forwarder did, per destination.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ForwardReport {
    /// Requests sent.
    pub requests: u64,
    pub delivered: u64,
    pub retried: u64,
    pub dead: u64,
    pub expired: u64,
    /// Destinations paused or disabled by an answer in this run.
    pub paused: Vec<String>,
}

impl ForwardReport {
    fn add(&mut self, other: ForwardReport) {
        self.requests += other.requests;
        self.delivered += other.delivered;
        self.retried += other.retried;
        self.dead += other.dead;
        self.expired += other.expired;
        self.paused.extend(other.paused);
    }
}

/// Where the event came from and what the visitor decided: what the
/// deliveries are made from.
#[derive(Debug, Clone, Default)]
pub struct ForwardContext {
    pub consent: Consent,
    pub entry: Option<Origin>,
    pub topic: Option<String>,
    /// The contact session (its id keys cookieless visitor ids).
    pub session: Option<String>,
    /// The visitor's signed id (keys a visitor id across contacts, with consent).
    pub visitor: Option<String>,
}

const SEAL_VERSION: &str = "v1";

/// The key that seals destination settings: derived from the deployment's
/// session key, so the store alone never reveals a destination's secrets.
fn seal_key(session_key: &[u8]) -> [u8; 32] {
    hmac_sha256(session_key, b"livecard destination settings v1")
}

pub(crate) fn seal(session_key: &[u8], nonce: [u8; 12], plain: &[u8]) -> Option<String> {
    let cipher = ChaCha20Poly1305::new(&seal_key(session_key).into());
    let sealed = cipher.encrypt(Nonce::from_slice(&nonce), plain).ok()?;
    Some(format!(
        "{SEAL_VERSION}.{}.{}",
        URL_SAFE_NO_PAD.encode(nonce),
        URL_SAFE_NO_PAD.encode(sealed)
    ))
}

pub(crate) fn unseal(session_key: &[u8], sealed: &str) -> Option<Vec<u8>> {
    let [version, nonce, body] = livecard_core::encoding::split_exact::<3>(sealed, '.')?;
    if version != SEAL_VERSION {
        return None;
    }
    let nonce = URL_SAFE_NO_PAD.decode(nonce).ok()?;
    if nonce.len() != 12 {
        return None;
    }
    let body = URL_SAFE_NO_PAD.decode(body).ok()?;
    let cipher = ChaCha20Poly1305::new(&seal_key(session_key).into());
    cipher
        .decrypt(Nonce::from_slice(&nonce), body.as_ref())
        .ok()
}

/// 16 hex digits keyed by `key` over `what`: Matomo visitor ids.
fn hex16(key: &[u8], what: &str) -> String {
    hmac_sha256(key, what.as_bytes())[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A delivery's jitter seed.
fn seed(delivery: &Delivery) -> u64 {
    let digest = hmac_sha256(
        delivery.destination.as_str().as_bytes(),
        delivery.event_id().as_str().as_bytes(),
    );
    u64::from_le_bytes([
        digest[0], digest[1], digest[2], digest[3], digest[4], digest[5], digest[6], digest[7],
    ])
}

/// Where a delivery being sent came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Single,
    Parcel,
}

/// A parcel job's status says it was sent (not put back untried).
fn outcome_attempted(status: &Option<String>) -> bool {
    status.is_some()
}

fn count(report: &mut ForwardReport, state: DeliveryState, attempted: bool) {
    match state {
        DeliveryState::Done => report.delivered += 1,
        DeliveryState::Pending if attempted => report.retried += 1,
        DeliveryState::Pending => {}
        DeliveryState::Dead => report.dead += 1,
        DeliveryState::Expired => report.expired += 1,
    }
}

/// Does the policy let requests go to `url`'s host when it is an address
/// literal? (Names are checked by the host when it resolves them.)
pub fn literal_allowed(url: &str, policy: &PeerPolicy) -> Result<(), String> {
    let parsed = url::Url::parse(url).map_err(|_| "not a URL".to_owned())?;
    let ip = match parsed.host() {
        Some(url::Host::Ipv4(v4)) => std::net::IpAddr::V4(v4),
        Some(url::Host::Ipv6(v6)) => std::net::IpAddr::V6(v6),
        _ => return Ok(()),
    };
    policy
        .check(ip)
        .map_err(|why| format!("{ip} is a {} address", why.as_str()))
}

impl<S: Store, P: Push> App<S, P> {
    /// The forwarding address policy: the relay's deny rules, and the
    /// deployment's allow-list.
    pub fn forward_policy(&self) -> PeerPolicy {
        PeerPolicy {
            allow: self.config.forward_allow.clone(),
        }
    }

    /// Seals a destination for the store.
    pub fn seal_destination(
        &self,
        destination: &Destination,
    ) -> Result<StoredDestination, StoreError> {
        let plain = serde_json::to_vec(&destination.target)
            .map_err(|e| StoreError::Corrupt(format!("destination: {e}")))?;
        let sealed = seal(&self.secrets.session_key, self.random_bytes(), &plain)
            .ok_or_else(|| StoreError::Corrupt("destination could not be sealed".into()))?;
        Ok(StoredDestination {
            id: destination.id.clone(),
            kind: destination.target.kind().to_owned(),
            sealed,
            state: destination.state.clone(),
        })
    }

    /// Every destination, unsealed. One that cannot be unsealed (the
    /// session key changed) is left out and logged.
    pub async fn load_destinations(&self) -> Result<Vec<Destination>, StoreError> {
        let stored = self.store.list_destinations().await?;
        Ok(stored
            .into_iter()
            .filter_map(|d| {
                let target = unseal(&self.secrets.session_key, &d.sealed)
                    .and_then(|plain| serde_json::from_slice::<Target>(&plain).ok());
                if target.is_none() {
                    tracing::error!(destination = %d.id, "destination settings cannot be unsealed (was the session key changed?): set them again");
                }
                target.map(|target| Destination {
                    id: d.id,
                    target,
                    state: d.state,
                })
            })
            .collect())
    }

    /// The destinations, as recently read (for recording events).
    async fn destinations(&self) -> Arc<Vec<Destination>> {
        let now = self.now();
        match self
            .destinations
            .get_or_load(&(), now, async {
                self.load_destinations().await.map(Arc::new)
            })
            .await
        {
            Ok(list) => list,
            Err(err) => {
                tracing::warn!(error = %err, "destinations not read: events of this moment are not forwarded");
                Arc::new(Vec::new())
            }
        }
    }

    /// Forgets the cached destinations (after an admin changed them).
    pub fn destinations_changed(&self) {
        self.destinations.invalidate(&());
    }

    /// The deliveries of `event` that `context` allows: one per destination
    /// that wants it. Failures are logged: analytics never breaks a contact.
    pub(crate) async fn deliver(&self, event: &Event, context: &ForwardContext) {
        if !livecard_core::forward::forwarded(event.name) {
            return;
        }
        let destinations = self.destinations().await;
        if destinations.is_empty() {
            return;
        }
        let now = self.now();
        let deliveries: Vec<Delivery> = destinations
            .iter()
            .filter(|d| d.target.wants(event.name, &context.consent))
            .map(|d| Delivery::new(d.id.clone(), self.job(&d.target, event, context), now))
            .collect();
        if deliveries.is_empty() {
            return;
        }
        let keep = event.at.saturating_add(self.config.delivery_retention_ms);
        // A host that batches writes takes them (the local host's writer);
        // otherwise they are written now.
        let deliveries = match &self.outbox {
            Some(outbox) => match outbox.offer_deliveries(deliveries, keep) {
                None => return,
                Some(back) => back,
            },
            None => deliveries,
        };
        if let Err(err) = self.store.put_parcels(&deliveries, keep).await {
            tracing::error!(error = %err, name = event.name.as_str(), "deliveries not stored: this event is not forwarded");
        }
    }

    /// The event as it leaves for `target`, with the ids it may know.
    fn job(&self, target: &Target, event: &Event, context: &ForwardContext) -> Job {
        let mut event = event.clone();
        event.visitor = None;
        event.advisor = match (&event.advisor, target) {
            (Some(_), Target::Webhook(_)) => event.advisor.clone(),
            (Some(advisor), _) if target.per_advisor() => Some(self.advisor_pseudonym(advisor)),
            _ => None,
        };
        let consent = &context.consent;
        let mut subject = Subject {
            entry: context.entry,
            topic: context.topic.clone(),
            ..Subject::default()
        };
        let per_contact = context
            .session
            .clone()
            .unwrap_or_else(|| event.id.to_string());
        match target {
            Target::Ga4(_) => {
                subject.ga_client_id = consent.ga_client_id.clone();
                subject.ga_session_id = Some(
                    consent
                        .ga_session_id
                        .clone()
                        .unwrap_or_else(|| (event.at / 1000).to_string()),
                );
            }
            Target::Matomo(m) => {
                let key = &self.secrets.visitor_key;
                subject.matomo_visitor = Some(if consent.analytics {
                    match (&consent.matomo_visitor, &context.visitor) {
                        (Some(id), _) => id.clone(),
                        (None, Some(visitor)) => hex16(key, &format!("matomo:visitor:{visitor}")),
                        (None, None) => hex16(key, &format!("matomo:contact:{per_contact}")),
                    }
                } else if m.cookieless {
                    hex16(key, &format!("matomo:contact:{per_contact}"))
                } else {
                    String::new()
                });
            }
            Target::Webhook(_) => {}
        }
        Job { event, subject }
    }

    /// An advisor as analytics may see them: a keyed pseudonym.
    fn advisor_pseudonym(&self, advisor: &AdvisorId) -> AdvisorId {
        let id = format!(
            "a-{}",
            &hex16(&self.secrets.visitor_key, &format!("advisor:{advisor}"))[..12]
        );
        AdvisorId::parse(&id).unwrap_or_else(|_| advisor.clone())
    }

    /// One run of the forwarder: every active destination's due deliveries,
    /// batched, sent through `fetch`, and settled by the answers.
    pub async fn forward(&self, fetch: &impl Fetch) -> Result<ForwardReport, StoreError> {
        let mut report = ForwardReport::default();
        let destinations = self.load_destinations().await?;
        let runs = destinations
            .iter()
            .filter(|d| d.state.sends_at(self.now()))
            .map(|d| Box::pin(self.forward_destination(d, fetch)));
        for result in futures_util::future::join_all(runs).await {
            report.add(result?);
        }
        Ok(report)
    }

    async fn forward_destination(
        &self,
        destination: &Destination,
        fetch: &impl Fetch,
    ) -> Result<ForwardReport, StoreError> {
        let mut report = ForwardReport::default();
        let target = &destination.target;
        let mut resumed = matches!(destination.state, DestinationState::Active);
        for _ in 0..ROUNDS {
            let now = self.now();
            let due = self
                .store
                .due_deliveries(&destination.id, now, ROUND)
                .await?;
            let parcels = self
                .store
                .due_parcels(&destination.id, now, PARCELS_PER_ROUND)
                .await?;
            if due.is_empty() && parcels.is_empty() {
                break;
            }
            let full =
                due.len() == usize::from(ROUND) || parcels.len() == usize::from(PARCELS_PER_ROUND);
            // Claim them: one forwarder sends each; a crash leaves them to
            // the next run once the lease ends.
            let lease = |attempts: u32| (attempts + 1, now + retry::LEASE_MS);
            let singles: Vec<(Delivery, u32)> = due
                .into_iter()
                .map(|d| {
                    let read = d.attempts;
                    let (attempts, next_at) = lease(read);
                    (
                        Delivery {
                            attempts,
                            next_at,
                            ..d
                        },
                        read,
                    )
                })
                .collect();
            let parcels: Vec<(Parcel, u32)> = parcels
                .into_iter()
                .map(|p| {
                    let read = p.attempts;
                    let (attempts, next_at) = lease(read);
                    (
                        Parcel {
                            attempts,
                            next_at,
                            ..p
                        },
                        read,
                    )
                })
                .collect();
            let (won_singles, won_parcels) = (
                self.store.update_deliveries(&singles).await?,
                self.store.update_parcels(&parcels).await?,
            );
            // Everything to send this round, and where each came from.
            let mut items: Vec<(Delivery, Source)> = Vec::new();
            for ((d, _), won) in singles.into_iter().zip(won_singles) {
                if won {
                    items.push((d, Source::Single));
                }
            }
            let mut claimed_parcels = Vec::new();
            for ((p, _), won) in parcels.into_iter().zip(won_parcels) {
                if !won {
                    continue;
                }
                for job in &p.jobs {
                    let d = Delivery {
                        destination: destination.id.clone(),
                        job: job.clone(),
                        state: DeliveryState::Pending,
                        attempts: p.attempts,
                        next_at: now,
                        last_status: None,
                    };
                    items.push((d, Source::Parcel));
                }
                claimed_parcels.push(p);
            }
            let mut outcomes: Vec<Option<(DeliveryState, UnixMillis, String)>> =
                vec![None; items.len()];
            // Too old for the destination: expired, counted, never sent.
            let max_age = target.max_age_ms();
            let mut sendable = Vec::new();
            for (i, (d, _)) in items.iter().enumerate() {
                if now.saturating_sub(d.job.event.at) >= max_age {
                    outcomes[i] = Some((
                        DeliveryState::Expired,
                        now,
                        "too old for the destination".into(),
                    ));
                } else {
                    sendable.push(i);
                }
            }
            // Erased on request (`docs/privacy.md`): dropped, never sent.
            let sessions: Vec<String> = sendable
                .iter()
                .filter_map(|i| items[*i].0.job.event.session.clone())
                .collect();
            if !sessions.is_empty() {
                let erased = self.store.erased_sessions(&sessions).await?;
                if !erased.is_empty() {
                    sendable.retain(|i| {
                        let session = items[*i].0.job.event.session.as_ref();
                        let gone = session.is_some_and(|s| erased.contains(s));
                        if gone {
                            outcomes[*i] = Some((DeliveryState::Done, now, "erased".into()));
                        }
                        !gone
                    });
                }
            }
            let jobs: Vec<&Job> = sendable.iter().map(|i| &items[*i].0.job).collect();
            let plan = livecard_core::forward::plan(target, &jobs, now, &self.config.public_url);
            for (j, reason) in &plan.unmappable {
                outcomes[sendable[*j]] = Some((
                    DeliveryState::Dead,
                    now,
                    format!("cannot be mapped: {reason}"),
                ));
            }
            let policy = self.forward_policy();
            // Boxed: an HTTP client's future is large, and a debug build's
            // frames would take a worker thread's whole stack.
            let sends = plan.requests.iter().map(|(request, _)| {
                let policy = &policy;
                Box::pin(async move {
                    if let Err(why) = literal_allowed(&request.url, policy) {
                        return Err(FetchError::Denied(why));
                    }
                    fetch.post(request, self.config.forward_timeout_ms).await
                })
            });
            let answers = futures_util::future::join_all(sends).await;
            let mut stop: Option<DestinationState> = None;
            for ((_, members), answer) in plan.requests.iter().zip(answers) {
                report.requests += 1;
                let members: Vec<usize> = members.iter().map(|j| sendable[*j]).collect();
                let verdict = match &answer {
                    Ok(a) => retry::verdict(
                        target,
                        members.len(),
                        Answer {
                            status: Some(a.status),
                            retry_after: a.retry_after.as_deref(),
                            body: &a.body,
                        },
                        now,
                    ),
                    Err(FetchError::Denied(why)) => Verdict::Pause {
                        reason: format!("the destination's address is not allowed: {why}"),
                        for_ms: None,
                    },
                    Err(FetchError::Failed(_)) => retry::verdict(
                        target,
                        members.len(),
                        Answer {
                            status: None,
                            retry_after: None,
                            body: b"",
                        },
                        now,
                    ),
                };
                let status = match &answer {
                    Ok(a) => format!("HTTP {}", a.status),
                    Err(e) => e.to_string(),
                };
                let retry_at = |d: &Delivery, after_ms: Option<u64>| match retry::next_attempt(
                    target,
                    d.job.event.at,
                    d.attempts,
                    seed(d),
                    after_ms,
                    now,
                ) {
                    Next::At(at) => (DeliveryState::Pending, at),
                    Next::Expired => (DeliveryState::Expired, now),
                    Next::Exhausted => (DeliveryState::Dead, now),
                };
                match verdict {
                    Verdict::Acknowledged => {
                        for i in &members {
                            outcomes[*i] = Some((DeliveryState::Done, now, status.clone()));
                        }
                        resumed = true;
                    }
                    Verdict::Partly { refused, reason } => {
                        for (pos, i) in members.iter().enumerate() {
                            outcomes[*i] = Some(if refused.contains(&pos) {
                                (DeliveryState::Dead, now, reason.clone())
                            } else {
                                (DeliveryState::Done, now, status.clone())
                            });
                        }
                        resumed = true;
                    }
                    Verdict::Retry { status, after_ms } => {
                        for i in &members {
                            let (state, at) = retry_at(&items[*i].0, after_ms);
                            outcomes[*i] = Some((state, at, status.clone()));
                        }
                    }
                    Verdict::Refused { reason } => {
                        for i in &members {
                            outcomes[*i] = Some((DeliveryState::Dead, now, reason.clone()));
                        }
                    }
                    Verdict::Pause { reason, for_ms } => {
                        stop = Some(DestinationState::Paused {
                            reason,
                            since: now,
                            until: for_ms.map(|ms| now + ms),
                        });
                    }
                    Verdict::Disable { reason } => {
                        stop = Some(DestinationState::Disabled { reason, since: now });
                    }
                }
            }
            // Settle: singles in place; a parcel's jobs that were not
            // acknowledged become single deliveries, then the parcel is done.
            let mut settles = Vec::new();
            let mut spilled = Vec::new();
            for ((d, from), outcome) in items.into_iter().zip(outcomes) {
                let (state, at, status, attempts) = match outcome {
                    Some((state, at, status)) => (state, at, Some(status), d.attempts),
                    // Not sent (the destination stopped): due again at once,
                    // the attempt not counted.
                    None => (
                        DeliveryState::Pending,
                        now,
                        d.last_status.clone(),
                        d.attempts.saturating_sub(1),
                    ),
                };
                match from {
                    Source::Single => {
                        let read = d.attempts;
                        settles.push((
                            Delivery {
                                state,
                                next_at: at,
                                last_status: status,
                                attempts,
                                ..d
                            },
                            read,
                        ));
                    }
                    Source::Parcel if state == DeliveryState::Done => report.delivered += 1,
                    Source::Parcel => {
                        count(&mut report, state, outcome_attempted(&status));
                        spilled.push(Delivery {
                            state,
                            next_at: at,
                            last_status: status,
                            attempts,
                            ..d
                        });
                    }
                }
            }
            if !spilled.is_empty() {
                let keep = now.saturating_add(self.config.delivery_retention_ms);
                self.store.put_deliveries(&spilled, keep).await?;
            }
            if !claimed_parcels.is_empty() {
                let done: Vec<(Parcel, u32)> = claimed_parcels
                    .into_iter()
                    .map(|p| {
                        let read = p.attempts;
                        (
                            Parcel {
                                done: true,
                                jobs: Vec::new(),
                                next_at: now,
                                ..p
                            },
                            read,
                        )
                    })
                    .collect();
                self.store.update_parcels(&done).await?;
            }
            self.settle_all(settles, &mut report).await?;
            if let Some(state) = stop {
                tracing::warn!(destination = %destination.id, state = ?state, "destination stopped");
                self.store
                    .set_destination_state(&destination.id, &state)
                    .await?;
                report.paused.push(destination.id.to_string());
                return Ok(report);
            }
            if !full {
                break;
            }
        }
        if resumed && !matches!(destination.state, DestinationState::Active) {
            // A pause that ran out, and the destination took events again.
            self.store
                .set_destination_state(&destination.id, &DestinationState::Active)
                .await?;
        }
        Ok(report)
    }

    /// Writes the settled deliveries (few round trips) and counts them.
    async fn settle_all(
        &self,
        settles: Vec<(Delivery, u32)>,
        report: &mut ForwardReport,
    ) -> Result<(), StoreError> {
        if settles.is_empty() {
            return Ok(());
        }
        let made = self.store.update_deliveries(&settles).await?;
        for ((d, read), made) in settles.iter().zip(made) {
            if !made {
                continue;
            }
            match d.state {
                DeliveryState::Done => report.delivered += 1,
                // Put back without an attempt (the destination stopped).
                DeliveryState::Pending if d.attempts < *read => {}
                DeliveryState::Pending => report.retried += 1,
                DeliveryState::Dead => report.dead += 1,
                DeliveryState::Expired => report.expired += 1,
            }
        }
        Ok(())
    }

    /// Whether pages should ask visitors for analytics consent: a
    /// destination needs it (GA4, or Matomo outside its cookieless mode).
    pub async fn consent_wanted(&self) -> bool {
        Box::pin(self.destinations())
            .await
            .iter()
            .any(|d| match &d.target {
                Target::Ga4(_) => true,
                Target::Matomo(m) => !m.cookieless,
                Target::Webhook(_) => false,
            })
    }

    fn view_key(&self) -> [u8; 32] {
        hmac_sha256(&self.secrets.session_key, b"livecard page view v1")
    }

    /// A signed token of a page view's event, for the page to send back
    /// with the visitor's consent decision (`POST /api/v1/consent`).
    pub fn view_token(&self, event: &Event) -> Option<String> {
        let json = serde_json::to_vec(event).ok()?;
        let tag = hmac_sha256(&self.view_key(), &json);
        Some(format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(&json),
            URL_SAFE_NO_PAD.encode(tag)
        ))
    }

    /// The page view event of a token this deployment signed, unless it is
    /// older than a day.
    pub fn verify_view(&self, token: &str) -> Option<Event> {
        if token.len() > 4096 {
            return None;
        }
        let [body, tag] = livecard_core::encoding::split_exact::<2>(token, '.')?;
        let json = URL_SAFE_NO_PAD.decode(body).ok()?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        if !livecard_core::encoding::hmac_sha256_verify(&self.view_key(), &json, &tag) {
            return None;
        }
        let event: Event = serde_json::from_slice(&json).ok()?;
        let fresh = self.now().saturating_sub(event.at) <= 86_400_000;
        let page_view = matches!(
            event.name,
            livecard_core::event::EventName::CardOpened
                | livecard_core::event::EventName::PortalViewed
        );
        (fresh && page_view).then_some(event)
    }

    /// The visitor decided on the page: with consent, the page view goes
    /// to the destinations that needed it.
    pub async fn page_consent(&self, event: &Event, consent: Consent) {
        if !consent.analytics {
            return;
        }
        let entry = match event.name {
            livecard_core::event::EventName::CardOpened => Origin::Card,
            _ => Origin::Portal,
        };
        let context = ForwardContext {
            consent,
            entry: Some(entry),
            topic: event
                .props
                .get("topic")
                .and_then(|t| t.as_str())
                .map(str::to_owned),
            session: None,
            visitor: None,
        };
        self.deliver(event, &context).await;
    }

    /// Puts a dead or expired delivery back in the outbox, due now.
    pub async fn replay_delivery(
        &self,
        destination: &DestinationId,
        delivery: Delivery,
    ) -> Result<bool, StoreError> {
        if delivery.state == DeliveryState::Pending || delivery.state == DeliveryState::Done {
            return Ok(false);
        }
        let read = delivery.attempts;
        let replay = Delivery {
            state: DeliveryState::Pending,
            attempts: 0,
            next_at: self.now(),
            last_status: Some("replayed by an admin".into()),
            destination: destination.clone(),
            ..delivery
        };
        self.store.update_delivery(&replay, read).await
    }
}
