//! What the presence connectors of `livecard up` share: their secrets from
//! the environment, and the advisors they follow.

use anyhow::{Context, anyhow};
use livecard_app::{App, Push};
use livecard_store::{AdvisorRecord, PageRequest, Store};

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

/// Every advisor, page by page.
pub async fn all_advisors<S: Store, P: Push>(
    app: &App<S, P>,
) -> Result<Vec<AdvisorRecord>, String> {
    let mut all = Vec::new();
    let mut cursor = None;
    loop {
        let page = app
            .store
            .list_advisors(&PageRequest {
                limit: livecard_store::MAX_PAGE,
                cursor,
            })
            .await
            .map_err(|e| format!("advisors not read: {e}"))?;
        all.extend(page.items);
        match page.next {
            Some(next) => cursor = Some(next),
            None => return Ok(all),
        }
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
