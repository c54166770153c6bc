//! Where cached values live: the backend trait, this process's memory (bounded, least
//! recently used evicted first) and nowhere. The database and Redis backends have files of
//! their own.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;

use crate::error::Result;

/// A cache backend (Django's `BaseCache`), on whole keys (prefix and version already added)
/// and bytes. `ttl` is how long a value is kept; `None` keeps it until deleted or evicted.
pub trait CacheBackend: Send + Sync + 'static {
    /// The values of `keys`, in order (`None` for a missing or expired one).
    fn get_many<'a>(&'a self, keys: &'a [String]) -> BoxFuture<'a, Result<Vec<Option<Vec<u8>>>>>;
    /// Stores every pair.
    fn set_many(&self, items: Vec<(String, Vec<u8>)>, ttl: Option<Duration>) -> BoxFuture<'_, Result<()>>;
    /// Stores the value unless the key holds one already; whether it stored it.
    fn add(&self, key: String, value: Vec<u8>, ttl: Option<Duration>) -> BoxFuture<'_, Result<bool>>;
    /// Deletes the keys; how many there were.
    fn delete_many<'a>(&'a self, keys: &'a [String]) -> BoxFuture<'a, Result<usize>>;
    /// Adds `delta` to the integer under `key`, keeping its expiry; the new value, or `None`
    /// when the key holds nothing.
    fn incr<'a>(&'a self, key: &'a str, delta: i64) -> BoxFuture<'a, Result<Option<i64>>>;
    /// Deletes every key that starts with `prefix` (this cache's own).
    fn clear<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<()>>;
    /// Whether the backend answers (for the readiness check).
    fn ping(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async { Ok(()) })
    }
}

/// The integer a cached value holds, for `incr`.
pub(crate) fn as_integer(value: &[u8]) -> Result<i64> {
    std::str::from_utf8(value)
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .ok_or_else(|| crate::Error::bad_request("incr and decr work on integers: the cached value is not one"))
}

struct Slot {
    value: Vec<u8>,
    expires: Option<Instant>,
    used: u64,
}

#[derive(Default)]
struct Lru {
    slots: HashMap<String, Slot>,
    /// Keys by when they were last used, oldest first.
    order: BTreeMap<u64, String>,
    clock: u64,
}

impl Lru {
    fn touch(&mut self, key: &str) {
        self.clock += 1;
        let now = self.clock;
        if let Some(slot) = self.slots.get_mut(key) {
            self.order.remove(&slot.used);
            slot.used = now;
            self.order.insert(now, key.to_owned());
        }
    }

    fn remove(&mut self, key: &str) -> bool {
        match self.slots.remove(key) {
            Some(slot) => {
                self.order.remove(&slot.used);
                true
            }
            None => false,
        }
    }

    /// The live value under `key`; an expired one is dropped on the way.
    fn live(&mut self, key: &str, now: Instant) -> Option<&mut Slot> {
        if self.slots.get(key).is_some_and(|s| s.expires.is_some_and(|e| e <= now)) {
            self.remove(key);
        }
        self.slots.get_mut(key)
    }

    fn put(&mut self, key: String, value: Vec<u8>, expires: Option<Instant>, max: usize) {
        self.remove(&key);
        self.clock += 1;
        self.order.insert(self.clock, key.clone());
        self.slots.insert(key, Slot { value, expires, used: self.clock });
        if self.slots.len() > max {
            // Expired values go first; then the least recently used.
            let now = Instant::now();
            let expired: Vec<String> = self
                .slots
                .iter()
                .filter(|(_, s)| s.expires.is_some_and(|e| e <= now))
                .map(|(k, _)| k.clone())
                .collect();
            for k in expired {
                self.remove(&k);
            }
            while self.slots.len() > max {
                let Some((_, oldest)) = self.order.pop_first() else { break };
                self.slots.remove(&oldest);
            }
        }
    }
}

/// `locmem`: this process's memory, at most `max_entries` values (CACHE_MAX_ENTRIES); past
/// that the least recently used go. Each Lambda instance has its own.
pub struct LocMemCache {
    lru: Mutex<Lru>,
    max_entries: usize,
}

impl LocMemCache {
    /// An empty cache keeping at most `max_entries` values.
    pub fn new(max_entries: usize) -> Self {
        LocMemCache { lru: Mutex::new(Lru::default()), max_entries: max_entries.max(1) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Lru> {
        // Every change to the map is whole before the lock is let go.
        self.lru.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How many values are kept now (expired ones included until they are found).
    pub fn len(&self) -> usize {
        self.lock().slots.len()
    }

    /// Whether nothing is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn deadline(ttl: Option<Duration>) -> Option<Instant> {
    ttl.map(|t| Instant::now() + t)
}

impl CacheBackend for LocMemCache {
    fn get_many<'a>(&'a self, keys: &'a [String]) -> BoxFuture<'a, Result<Vec<Option<Vec<u8>>>>> {
        let now = Instant::now();
        let mut lru = self.lock();
        let found = keys
            .iter()
            .map(|k| {
                let value = lru.live(k, now).map(|s| s.value.clone());
                if value.is_some() {
                    lru.touch(k);
                }
                value
            })
            .collect();
        Box::pin(async move { Ok(found) })
    }

    fn set_many(&self, items: Vec<(String, Vec<u8>)>, ttl: Option<Duration>) -> BoxFuture<'_, Result<()>> {
        let mut lru = self.lock();
        for (key, value) in items {
            lru.put(key, value, deadline(ttl), self.max_entries);
        }
        Box::pin(async { Ok(()) })
    }

    fn add(&self, key: String, value: Vec<u8>, ttl: Option<Duration>) -> BoxFuture<'_, Result<bool>> {
        let mut lru = self.lock();
        let added = lru.live(&key, Instant::now()).is_none();
        if added {
            lru.put(key, value, deadline(ttl), self.max_entries);
        }
        Box::pin(async move { Ok(added) })
    }

    fn delete_many<'a>(&'a self, keys: &'a [String]) -> BoxFuture<'a, Result<usize>> {
        let mut lru = self.lock();
        let now = Instant::now();
        let gone = keys.iter().filter(|k| lru.live(k, now).is_some() && lru.remove(k)).count();
        Box::pin(async move { Ok(gone) })
    }

    fn incr<'a>(&'a self, key: &'a str, delta: i64) -> BoxFuture<'a, Result<Option<i64>>> {
        let mut lru = self.lock();
        let result = match lru.live(key, Instant::now()) {
            None => Ok(None),
            Some(slot) => as_integer(&slot.value).and_then(|n| {
                let sum = n.checked_add(delta).ok_or_else(|| crate::Error::bad_request("incr overflowed"))?;
                slot.value = sum.to_string().into_bytes();
                Ok(Some(sum))
            }),
        };
        if matches!(result, Ok(Some(_))) {
            lru.touch(key);
        }
        Box::pin(async move { result })
    }

    fn clear<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<()>> {
        let mut lru = self.lock();
        let mine: Vec<String> = lru.slots.keys().filter(|k| k.starts_with(prefix)).cloned().collect();
        for k in mine {
            lru.remove(&k);
        }
        Box::pin(async { Ok(()) })
    }
}

/// `dummy`: keeps nothing (every get misses), for turning caching off.
pub struct DummyCache;

impl CacheBackend for DummyCache {
    fn get_many<'a>(&'a self, keys: &'a [String]) -> BoxFuture<'a, Result<Vec<Option<Vec<u8>>>>> {
        Box::pin(async move { Ok(vec![None; keys.len()]) })
    }
    fn set_many(&self, _items: Vec<(String, Vec<u8>)>, _ttl: Option<Duration>) -> BoxFuture<'_, Result<()>> {
        Box::pin(async { Ok(()) })
    }
    fn add(&self, _key: String, _value: Vec<u8>, _ttl: Option<Duration>) -> BoxFuture<'_, Result<bool>> {
        Box::pin(async { Ok(true) })
    }
    fn delete_many<'a>(&'a self, _keys: &'a [String]) -> BoxFuture<'a, Result<usize>> {
        Box::pin(async { Ok(0) })
    }
    fn incr<'a>(&'a self, _key: &'a str, _delta: i64) -> BoxFuture<'a, Result<Option<i64>>> {
        Box::pin(async { Ok(None) })
    }
    fn clear<'a>(&'a self, _prefix: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async { Ok(()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn get(c: &LocMemCache, key: &str) -> Option<Vec<u8>> {
        c.get_many(&[key.to_owned()]).await.unwrap().pop().flatten()
    }

    #[tokio::test]
    async fn local_memory_evicts_the_least_recently_used_and_the_expired_first() {
        let c = LocMemCache::new(3);
        c.set_many(vec![("a".into(), b"1".to_vec()), ("b".into(), b"2".to_vec()), ("c".into(), b"3".to_vec())], None)
            .await
            .unwrap();
        assert!(get(&c, "a").await.is_some(), "a is used: b is now the oldest");
        c.set_many(vec![("d".into(), b"4".to_vec())], None).await.unwrap();
        assert_eq!(c.len(), 3);
        assert!(get(&c, "b").await.is_none(), "the least recently used went");
        for k in ["a", "c", "d"] {
            assert!(get(&c, k).await.is_some(), "{k}");
        }
        // An expired value goes before any live one, however recently it was used.
        c.set_many(vec![("e".into(), b"5".to_vec())], Some(Duration::from_millis(1))).await.unwrap();
        std::thread::sleep(Duration::from_millis(5));
        c.set_many(vec![("f".into(), b"6".to_vec())], None).await.unwrap();
        assert_eq!(c.len(), 3);
        assert!(get(&c, "e").await.is_none());
        assert!(get(&c, "f").await.is_some() && get(&c, "d").await.is_some());
        assert_eq!(c.incr("f", 4).await.unwrap(), Some(10));
        assert_eq!(c.incr("zz", 1).await.unwrap(), None);
    }
}
