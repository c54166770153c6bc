//! The cache settings: Django's `CACHES["default"]` as flat `CACHE_*` settings (which the
//! environment can set one by one), or as Django's table in settings.toml:
//!
//! ```toml
//! [CACHES.default]
//! BACKEND = "redis"            # or django.core.cache.backends.redis.RedisCache
//! LOCATION = "redis://127.0.0.1:6379/1"
//! TIMEOUT = 300
//! KEY_PREFIX = "crm"
//! OPTIONS = { MAX_ENTRIES = 1000 }
//! ```

use std::time::Duration;

use super::{Group, number};

/// Where cached values live (CACHE_BACKEND).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheBackendName {
    /// `locmem` (the default): this process's memory, bounded by CACHE_MAX_ENTRIES.
    Locmem,
    /// `db`: the `djambda_cache` table (the cache app's migration), shared by every process.
    Database,
    /// `redis`: a Redis server (CACHE_LOCATION, else REDIS_URL); needs djambda's `redis` feature.
    Redis,
    /// `dummy`: nothing is kept.
    Dummy,
}

/// The cache settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cache {
    /// CACHE_BACKEND: `locmem` (default), `db`, `redis` or `dummy` (Django's dotted names work too).
    pub backend: CacheBackendName,
    /// CACHE_LOCATION: the Redis URL of the `redis` backend (REDIS_URL when unset).
    pub location: Option<String>,
    /// CACHE_TIMEOUT in seconds (300): how long a value is kept unless `set` says otherwise;
    /// `none` keeps values until they are deleted or evicted.
    pub timeout: Option<Duration>,
    /// CACHE_KEY_PREFIX (empty): put before every key, so sites sharing a server keep apart.
    pub key_prefix: String,
    /// CACHE_VERSION (1): part of every key; raising it retires every value at once.
    pub version: u32,
    /// CACHE_MAX_ENTRIES (300): how many values the `locmem` backend keeps before it evicts
    /// the least recently used.
    pub max_entries: usize,
    /// CACHE_MIDDLEWARE_SECONDS (600): how long `cache_page` keeps a page unless told.
    pub middleware_seconds: u64,
    /// CACHE_MIDDLEWARE_KEY_PREFIX (empty): put in the keys of cached pages.
    pub middleware_key_prefix: String,
}

impl Default for Cache {
    fn default() -> Self {
        Cache {
            backend: CacheBackendName::Locmem,
            location: None,
            timeout: Some(Duration::from_secs(300)),
            key_prefix: String::new(),
            version: 1,
            max_entries: 300,
            middleware_seconds: 600,
            middleware_key_prefix: String::new(),
        }
    }
}

impl Cache {
    /// Sets the cache from Django's `CACHES` table in settings.toml (only its `default` entry).
    pub(crate) fn apply_table(&mut self, table: &toml::Value) -> Result<(), String> {
        let want = "CACHES in settings.toml must be a table like [CACHES.default] with BACKEND, LOCATION, TIMEOUT, \
                    KEY_PREFIX, VERSION and OPTIONS";
        let default = table.get("default").and_then(|d| d.as_table()).ok_or(want)?;
        for (key, value) in default {
            let text = |v: &toml::Value| match v {
                toml::Value::String(s) => Ok(s.clone()),
                toml::Value::Integer(n) => Ok(n.to_string()),
                _ => Err(format!("CACHES.default.{key} must be a string or a number")),
            };
            match key.as_str() {
                "BACKEND" => self.apply("CACHE_BACKEND", &text(value)?)?,
                "LOCATION" => self.apply("CACHE_LOCATION", &text(value)?)?,
                "TIMEOUT" => self.apply("CACHE_TIMEOUT", &text(value)?)?,
                "KEY_PREFIX" => self.apply("CACHE_KEY_PREFIX", &text(value)?)?,
                "VERSION" => self.apply("CACHE_VERSION", &text(value)?)?,
                "OPTIONS" => {
                    let options = value.as_table().ok_or("CACHES.default.OPTIONS must be a table")?;
                    for (option, v) in options {
                        match option.as_str() {
                            "MAX_ENTRIES" => self.apply("CACHE_MAX_ENTRIES", &text(v)?)?,
                            other => {
                                return Err(format!(
                                    "CACHES.default.OPTIONS.{other} is not an option djambda knows (MAX_ENTRIES)"
                                ));
                            }
                        }
                    }
                }
                other => return Err(format!("CACHES.default.{other} is not a cache setting ({want})")),
            }
        }
        Ok(())
    }
}

impl Group for Cache {
    const KEYS: &'static [&'static str] = &[
        "CACHE_BACKEND",
        "CACHE_LOCATION",
        "CACHE_TIMEOUT",
        "CACHE_KEY_PREFIX",
        "CACHE_VERSION",
        "CACHE_MAX_ENTRIES",
        "CACHE_MIDDLEWARE_SECONDS",
        "CACHE_MIDDLEWARE_KEY_PREFIX",
    ];

    fn apply(&mut self, key: &str, raw: &str) -> Result<(), String> {
        match key {
            "CACHE_BACKEND" => {
                // Django's dotted names: django.core.cache.backends.redis.RedisCache.
                let name = raw.trim();
                let module = name.rsplit('.').nth(1).filter(|_| name.contains('.')).unwrap_or(name);
                self.backend = match module {
                    "locmem" => CacheBackendName::Locmem,
                    "db" => CacheBackendName::Database,
                    "redis" => CacheBackendName::Redis,
                    "dummy" => CacheBackendName::Dummy,
                    _ => return Err(format!("{key} must be locmem, db, redis or dummy (got {raw:?})")),
                }
            }
            "CACHE_LOCATION" => {
                let url = raw.trim();
                if !url.is_empty() && !url.starts_with("redis://") && !url.starts_with("rediss://") {
                    return Err(format!("{key} must be a redis:// URL, like redis://127.0.0.1:6379/1 (got {raw:?})"));
                }
                self.location = Some(url.to_owned()).filter(|u| !u.is_empty());
            }
            "CACHE_TIMEOUT" => {
                self.timeout = if raw.trim().eq_ignore_ascii_case("none") {
                    None
                } else {
                    Some(Duration::from_secs(number::<u64>(key, raw, "a number of seconds, or none")?))
                }
            }
            "CACHE_KEY_PREFIX" => {
                if raw.contains(|c: char| c.is_control() || c == ' ') {
                    return Err(format!("{key} must have no spaces or control characters (got {raw:?})"));
                }
                self.key_prefix = raw.trim().to_owned();
            }
            "CACHE_VERSION" => self.version = number::<u32>(key, raw, "a version number")?,
            "CACHE_MAX_ENTRIES" => {
                self.max_entries = number::<usize>(key, raw, "a number of entries, at least 1")?.max(1)
            }
            "CACHE_MIDDLEWARE_SECONDS" => self.middleware_seconds = number::<u64>(key, raw, "a number of seconds")?,
            "CACHE_MIDDLEWARE_KEY_PREFIX" => self.middleware_key_prefix = raw.trim().to_owned(),
            _ => return Err(format!("{key} is not a cache setting")),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::CacheBackendName;
    use crate::conf::Settings;
    use std::time::Duration;

    #[test]
    fn the_cache_from_flat_settings_or_django_s_table() {
        let flat = Settings::from_sources(Some("DEBUG = true\nCACHE_BACKEND = 'db'\nCACHE_TIMEOUT = 'none'"), |k| {
            (k == "CACHE_KEY_PREFIX").then(|| "crm".to_owned())
        })
        .unwrap();
        assert_eq!((flat.cache.backend, flat.cache.timeout), (CacheBackendName::Database, None));
        assert_eq!(flat.cache.key_prefix, "crm");
        let table = "DEBUG = true\n[CACHES.default]\nBACKEND = 'django.core.cache.backends.redis.RedisCache'\n\
                     LOCATION = 'redis://127.0.0.1:6379/1'\nTIMEOUT = 60\nKEY_PREFIX = 'crm'\nVERSION = 3\n\
                     OPTIONS = { MAX_ENTRIES = 1000 }";
        let s = Settings::from_sources(Some(table), |_| None).unwrap();
        assert_eq!(s.cache.backend, CacheBackendName::Redis);
        assert_eq!(s.cache.location.as_deref(), Some("redis://127.0.0.1:6379/1"));
        assert_eq!((s.cache.timeout, s.cache.version, s.cache.max_entries), (Some(Duration::from_secs(60)), 3, 1000));
        let defaults = Settings::from_sources(Some("DEBUG = true"), |_| None).unwrap();
        assert_eq!(
            (defaults.cache.backend, defaults.cache.timeout),
            (CacheBackendName::Locmem, Some(Duration::from_secs(300)))
        );
        for (bad, says) in [
            ("CACHE_BACKEND = 'memcached'", "locmem, db, redis or dummy"),
            ("CACHE_LOCATION = 'http://x'", "redis:// URL"),
            ("CACHE_TIMEOUT = 'soon'", "CACHE_TIMEOUT"),
            ("[CACHES.default]\nOPTIONS = { CULL_FREQUENCY = 3 }", "CULL_FREQUENCY"),
            ("[CACHES.other]\nBACKEND = 'locmem'", "[CACHES.default]"),
        ] {
            let err = Settings::from_sources(Some(&format!("DEBUG = true\n{bad}")), |_| None).unwrap_err().to_string();
            assert!(err.contains(says), "{bad}: {err}");
        }
    }
}
