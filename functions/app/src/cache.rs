//! A small read cache with a time limit, for what visitor pages read on
//! every request (cards, advisors).
//!
//! It holds no state anyone depends on: an entry is a copy of a store item
//! that lives `ttl_ms` at most, and writes through the same `App` drop the
//! entry at once. Other instances (other Lambdas) see a change within the
//! time limit: a revoked card stops working within it everywhere.

use livecard_core::UnixMillis;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;

pub struct TtlCache<K, V> {
    ttl_ms: u64,
    max_entries: usize,
    entries: Mutex<HashMap<K, (UnixMillis, V)>>,
}

impl<K: Eq + Hash + Clone, V: Clone> TtlCache<K, V> {
    pub fn new(ttl_ms: u64, max_entries: usize) -> Self {
        Self {
            ttl_ms,
            max_entries,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, (UnixMillis, V)>> {
        // A panic while holding the lock leaves a map that is still valid.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The cached value, if it was put less than `ttl_ms` before `now`.
    pub fn get(&self, key: &K, now: UnixMillis) -> Option<V> {
        if self.ttl_ms == 0 {
            return None;
        }
        let entries = self.lock();
        let (at, value) = entries.get(key)?;
        (now >= *at && now - *at < self.ttl_ms).then(|| value.clone())
    }

    pub fn put(&self, key: K, value: V, now: UnixMillis) {
        if self.ttl_ms == 0 {
            return;
        }
        let mut entries = self.lock();
        if entries.len() >= self.max_entries {
            let ttl = self.ttl_ms;
            entries.retain(|_, (at, _)| now >= *at && now - *at < ttl);
            if entries.len() >= self.max_entries {
                entries.clear();
            }
        }
        entries.insert(key, (now, value));
    }

    pub fn invalidate(&self, key: &K) {
        self.lock().remove(key);
    }

    /// The cached value, or `load`'s (then cached) when there is none.
    pub async fn get_or_load<E>(
        &self,
        key: &K,
        now: UnixMillis,
        load: impl std::future::Future<Output = Result<V, E>>,
    ) -> Result<V, E> {
        if let Some(value) = self.get(key, now) {
            return Ok(value);
        }
        let value = load.await?;
        self.put(key.clone(), value.clone(), now);
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::TtlCache;

    #[test]
    fn entries_expire_and_invalidate() {
        let cache = TtlCache::new(1000, 2);
        cache.put("a", 1, 10);
        assert_eq!(cache.get(&"a", 10), Some(1));
        assert_eq!(cache.get(&"a", 1009), Some(1));
        assert_eq!(cache.get(&"a", 1010), None);
        cache.put("a", 2, 2000);
        cache.invalidate(&"a");
        assert_eq!(cache.get(&"a", 2000), None);
        for (i, key) in ["x", "y", "z"].into_iter().enumerate() {
            cache.put(key, i, 3000);
        }
        assert_eq!(cache.get(&"z", 3000), Some(2), "bounded, newest kept");
        let off = TtlCache::new(0, 10);
        off.put("a", 1, 0);
        assert_eq!(off.get(&"a", 0), None);
    }
}

/// Counts requests per key in fixed windows: at most `limit` per
/// `window_ms`. Per instance (a serverless host has several), so it bounds a
/// flood from one client rather than being an exact quota.
///
/// It fails open: when its table is full of live windows, the oldest
/// quarter of them is forgotten (a flood of new keys can make old keys
/// start afresh, but never locks newcomers out).
pub struct RateWindow {
    limit: u32,
    window_ms: u64,
    max_keys: usize,
    counts: Mutex<HashMap<String, (UnixMillis, u32)>>,
}

impl RateWindow {
    pub fn new(limit: u32, window_ms: u64, max_keys: usize) -> Self {
        Self {
            limit,
            window_ms,
            max_keys: max_keys.max(1),
            counts: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one request of `key` at `now`: `Err(ms)` when over the limit,
    /// with the time until its window ends (for `Retry-After`).
    pub fn allow(&self, key: &str, now: UnixMillis) -> Result<(), u64> {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        if counts.len() >= self.max_keys && !counts.contains_key(key) {
            let window = self.window_ms;
            counts.retain(|_, (start, _)| now.saturating_sub(*start) < window);
            if counts.len() >= self.max_keys {
                // Still full of live windows: evict the oldest quarter, so
                // that this happens once per many newcomers.
                let mut starts: Vec<UnixMillis> = counts.values().map(|(s, _)| *s).collect();
                let cut = starts.len() / 4;
                let (_, oldest_kept, _) = starts.select_nth_unstable(cut);
                let oldest_kept = *oldest_kept;
                counts.retain(|_, (start, _)| *start >= oldest_kept);
                let target = self.max_keys - self.max_keys / 4 - 1;
                if counts.len() > target {
                    // Many started at the same instant: drop any of them.
                    let extra: Vec<String> =
                        counts.keys().take(counts.len() - target).cloned().collect();
                    for key in extra {
                        counts.remove(&key);
                    }
                }
            }
        }
        let entry = counts.entry(key.to_owned()).or_insert((now, 0));
        if now.saturating_sub(entry.0) >= self.window_ms {
            *entry = (now, 0);
        }
        entry.1 = entry.1.saturating_add(1);
        if entry.1 <= self.limit {
            Ok(())
        } else {
            Err((entry.0 + self.window_ms).saturating_sub(now).max(1))
        }
    }
}

#[cfg(test)]
mod rate_tests {
    use super::RateWindow;

    #[test]
    fn limits_per_key_and_window() {
        let rate = RateWindow::new(2, 1000, 8);
        assert!(rate.allow("a", 0).is_ok());
        assert!(rate.allow("a", 10).is_ok());
        assert_eq!(rate.allow("a", 20), Err(980), "until the window ends");
        assert!(
            rate.allow("b", 20).is_ok(),
            "other keys have their own count"
        );
        assert!(rate.allow("a", 1000).is_ok(), "a new window");
    }

    #[test]
    fn a_full_table_evicts_instead_of_refusing_newcomers() {
        let rate = RateWindow::new(1, 600_000, 100);
        // A flood of distinct keys fills the table many times over.
        for i in 0..10_000u64 {
            assert!(rate.allow(&format!("junk{i}"), i).is_ok());
        }
        // A newcomer is still let in; the newest windows are kept.
        assert!(rate.allow("visitor", 10_000).is_ok());
        assert!(rate.allow("visitor", 10_001).is_err(), "and counted");
        assert!(rate.allow("junk9999", 10_002).is_err(), "newest kept");
        let len = rate.counts.lock().map(|c| c.len()).unwrap_or(0);
        assert!(len <= 100, "bounded: {len}");
    }
}
