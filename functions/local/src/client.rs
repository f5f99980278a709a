//! The CLI's client of the JSON API.

use anyhow::{Context, bail};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::time::Duration;

pub struct ApiClient {
    base: String,
    key: Option<String>,
    http: reqwest::Client,
}

impl ApiClient {
    pub fn new(base: &str, key: Option<String>) -> anyhow::Result<Self> {
        let base = base.trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            bail!("--api must be an http:// or https:// URL, not {base:?}");
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .context("cannot build the HTTP client")?;
        Ok(Self { base, key, http })
    }

    pub async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<T> {
        let text = self.send(method, path, body).await?;
        serde_json::from_str(&text)
            .with_context(|| format!("unexpected answer from {}{path}", self.base))
    }

    /// A call whose answer has no body (204).
    pub async fn call_empty(&self, method: Method, path: &str) -> anyhow::Result<()> {
        self.send(method, path, None).await.map(|_| ())
    }

    /// A GET whose answer is not JSON (CSV, HTML).
    pub async fn get_text(&self, path: &str) -> anyhow::Result<String> {
        self.send(Method::GET, path, None).await
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<String> {
        let url = format!("{}{path}", self.base);
        let mut request = self.http.request(method, &url);
        if let Some(key) = &self.key {
            request = request.bearer_auth(key);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.with_context(|| {
            format!(
                "cannot reach livecard at {}: is `livecard up` running, or is --api right?",
                self.base
            )
        })?;
        let status = response.status();
        let text = response
            .text()
            .await
            .context("the response could not be read")?;
        if !status.is_success() {
            let message = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
                .unwrap_or_else(|| text.chars().take(200).collect());
            if status == reqwest::StatusCode::UNAUTHORIZED {
                bail!("{message} (pass --admin-key or set LIVECARD_ADMIN_KEY)");
            }
            bail!("{status}: {message}");
        }
        Ok(text)
    }

    /// Every item of a paginated listing: follows `next` until the end.
    pub async fn list_all(&self, path: &str, field: &str) -> anyhow::Result<Vec<Value>> {
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let join = if path.contains('?') { '&' } else { '?' };
            let url = match &cursor {
                Some(c) => format!("{path}{join}limit=100&cursor={c}"),
                None => format!("{path}{join}limit=100"),
            };
            let page: Value = self.call(Method::GET, &url, None).await?;
            all.extend(page[field].as_array().cloned().unwrap_or_default());
            match page["next"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => return Ok(all),
            }
        }
    }
}
