//! [`Fetch`] for native hosts: reqwest over rustls, no redirects, and a
//! resolver that connects only to addresses the forwarding policy allows
//! (the relay's deny rules: no loopback, private, link-local/metadata…
//! unless allow-listed), checked on every resolution so a name cannot be
//! re-pointed at an internal address after it was configured.

use crate::forward::{Fetch, FetchAnswer, FetchError, MAX_ANSWER_BYTES};
use livecard_core::forward::OutRequest;
use livecard_core::turn::PeerPolicy;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug)]
struct DeniedAddress(String);

impl std::fmt::Display for DeniedAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DeniedAddress {}

struct PolicyResolver {
    policy: Arc<PeerPolicy>,
}

impl reqwest::dns::Resolve for PolicyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = found
                .iter()
                .copied()
                .filter(|a| policy.check(a.ip()).is_ok())
                .collect();
            if allowed.is_empty() {
                let why = found
                    .first()
                    .and_then(|a| policy.check(a.ip()).err().map(|d| (a.ip(), d)))
                    .map(|(ip, d)| format!("{host} resolves to {ip}, a {} address", d.as_str()))
                    .unwrap_or_else(|| format!("{host} does not resolve"));
                return Err(
                    Box::new(DeniedAddress(why)) as Box<dyn std::error::Error + Send + Sync>
                );
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Outgoing HTTP for the forwarder.
#[derive(Clone)]
pub struct NativeFetch {
    client: reqwest::Client,
}

impl NativeFetch {
    pub fn new(policy: PeerPolicy) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .dns_resolver(Arc::new(PolicyResolver {
                policy: Arc::new(policy),
            }))
            .user_agent(concat!("livecard/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self { client })
    }
}

fn denied_in(err: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut source = Some(err);
    while let Some(e) = source {
        if let Some(denied) = e.downcast_ref::<DeniedAddress>() {
            return Some(denied.0.clone());
        }
        source = e.source();
    }
    None
}

impl Fetch for NativeFetch {
    async fn post(&self, request: &OutRequest, timeout_ms: u64) -> Result<FetchAnswer, FetchError> {
        let mut builder = self
            .client
            .post(&request.url)
            .timeout(Duration::from_millis(timeout_ms))
            .body(request.body.clone());
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        let failed = |e: reqwest::Error| match denied_in(&e) {
            Some(why) => FetchError::Denied(why),
            // Never the URL: it may carry a secret (GA4's api_secret).
            None => FetchError::Failed(if e.is_timeout() {
                "no answer in time".to_owned()
            } else if e.is_connect() {
                "could not connect".to_owned()
            } else {
                "the request failed".to_owned()
            }),
        };
        let mut response = builder.send().await.map_err(failed)?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(failed)? {
            if body.len() + chunk.len() > MAX_ANSWER_BYTES {
                break;
            }
            body.extend_from_slice(&chunk);
        }
        Ok(FetchAnswer {
            status,
            retry_after,
            body,
        })
    }
}

impl crate::forward::SharedFetch for NativeFetch {
    fn post_boxed<'a>(
        &'a self,
        request: &'a OutRequest,
        timeout_ms: u64,
    ) -> crate::forward::FetchFuture<'a> {
        Box::pin(self.post(request, timeout_ms))
    }
}
