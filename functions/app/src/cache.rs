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
