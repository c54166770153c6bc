//! The cache (Django's `django.core.cache`): a low-level API ([`Cache`]: get, set with a
//! timeout, add, delete, incr and decr, get_many, set_many, clear, get_or_set) on the backend
//! CACHE_BACKEND names, the per-view cache [`cache_page`], and the template fragment cache
//! [`fragment`]. Install the app (`.app(djambda::cache::app())`, first of the apps, so that
//! its middleware sees every cookie and `Vary` the others add).
//!
//! | CACHE_BACKEND | keeps values in |
//! |---|---|
//! | `locmem` (the default) | this process's memory, at most CACHE_MAX_ENTRIES (the least recently used go first); each Lambda instance has its own |
//! | `db` | the `djambda_cache` table (the app's migration), shared by every instance |
//! | `redis` | a Redis server (CACHE_LOCATION, else REDIS_URL); djambda's `redis` feature |
//! | `dummy` | nowhere |
//!
//! Values are stored as JSON, so anything serde can write and read back can be cached.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! use std::time::Duration;
//! use djambda::cache::Timeout;
//! use djambda::prelude::*;
//!
//! let site = Site::builder()
//!     .settings(Settings::from_sources(Some("DEBUG = true"), |_| None).unwrap())
//!     .app(djambda::cache::app())
//!     .build()
//!     .unwrap();
//! let cache = djambda::cache::cache(&site).unwrap();
//! cache.set("greeting", &"hello", Timeout::Default).await.unwrap();
//! assert_eq!(cache.get::<String>("greeting").await.unwrap().as_deref(), Some("hello"));
//! assert!(!cache.add("greeting", &"again", Timeout::Default).await.unwrap(), "add keeps what is there");
//! cache.set("visits", &41, Duration::from_secs(60)).await.unwrap();
//! assert_eq!(cache.incr("visits", 1).await.unwrap(), 42);
//! assert!(cache.incr("nothing-here", 1).await.is_err(), "incr needs a value, as Django's");
//! cache.delete("greeting").await.unwrap();
//! assert_eq!(cache.get::<String>("greeting").await.unwrap(), None);
//! # });
//! ```

mod backends;
pub mod db;
mod page;
mod redis;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

pub use backends::{CacheBackend, DummyCache, LocMemCache};
pub use db::DatabaseCache;
pub use page::{CacheMiddleware, CachePage, cache_page};
pub use redis::RedisCache;

use crate::conf::{CacheBackendName, Settings};
use crate::db::Database;
use crate::error::{Error, ErrorKind, Result};
use crate::request::Request;
use crate::site::Site;
use crate::site::app::App;
use crate::site::commands::SiteCommand;

/// How long a value is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Timeout {
    /// CACHE_TIMEOUT (Django's `DEFAULT_TIMEOUT`).
    #[default]
    Default,
    /// Until it is deleted or evicted (Django's `None`).
    Never,
    /// For this long; zero means not at all (the value is deleted, as Django's `0` does).
    After(Duration),
}

impl From<Duration> for Timeout {
    fn from(d: Duration) -> Self {
        Timeout::After(d)
    }
}

/// A cache: the backend, with the key prefix, version and default timeout of the settings.
/// Get it with [`cache()`] or [`Request::cache`].
#[derive(Clone)]
pub struct Cache {
    backend: Arc<dyn CacheBackend>,
    key_prefix: String,
    version: u32,
    default_timeout: Option<Duration>,
    middleware_seconds: u64,
    middleware_key_prefix: String,
    /// The `db` backend, for deleting expired rows.
    table: Option<Arc<DatabaseCache>>,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache").field("key_prefix", &self.key_prefix).field("version", &self.version).finish()
    }
}

/// Keys longer than this are refused (memcached's limit, which Django warns about).
const MAX_KEY_LENGTH: usize = 250;

fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| Error::with_source(ErrorKind::Internal, "the value cannot be cached", e))
}

fn decode<T: DeserializeOwned>(key: &str, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| {
        Error::with_source(ErrorKind::Internal, format!("the cached value of {key:?} is not of the type asked for"), e)
    })
}

impl Cache {
    /// The cache CACHE_* describe, on `database` for the `db` backend. Opens nothing.
    pub fn from_settings(settings: &Settings, database: Arc<Database>) -> std::result::Result<Cache, String> {
        let c = &settings.cache;
        let mut table = None;
        let backend: Arc<dyn CacheBackend> = match c.backend {
            CacheBackendName::Locmem => Arc::new(LocMemCache::new(c.max_entries)),
            CacheBackendName::Database => {
                let db = Arc::new(DatabaseCache::new(database));
                table = Some(db.clone());
                db
            }
            CacheBackendName::Redis => {
                let url = c.location.clone().or_else(|| settings.sessions.redis_url.clone()).ok_or(
                    "CACHE_BACKEND = \"redis\" needs CACHE_LOCATION (or REDIS_URL), like redis://127.0.0.1:6379/1",
                )?;
                Arc::new(RedisCache::new(&url)?)
            }
            CacheBackendName::Dummy => Arc::new(DummyCache),
        };
        Ok(Cache { table, ..Cache::with_backend(backend, settings) })
    }

    /// A cache on a backend of the site's own, with the CACHE_* prefix, version and timeout.
    pub fn with_backend(backend: Arc<dyn CacheBackend>, settings: &Settings) -> Cache {
        let c = &settings.cache;
        Cache {
            backend,
            key_prefix: c.key_prefix.clone(),
            version: c.version,
            default_timeout: c.timeout,
            middleware_seconds: c.middleware_seconds,
            middleware_key_prefix: c.middleware_key_prefix.clone(),
            table: None,
        }
    }

    /// Deletes the expired rows of the `db` backend (the others expire values themselves);
    /// how many.
    pub async fn delete_expired(&self) -> Result<u64> {
        match &self.table {
            Some(table) => table.delete_expired().await,
            None => Ok(0),
        }
    }

    /// The backend's key for `key` (Django's `make_key`: `prefix:version:key`). Keys with
    /// control characters or spaces, or longer than 250 bytes, are refused.
    pub fn make_key(&self, key: &str) -> Result<String> {
        if key.is_empty() || key.chars().any(|c| c.is_control() || c == ' ') {
            return Err(Error::internal(format!("{key:?} is not a cache key: no spaces or control characters")));
        }
        let whole = format!("{}:{}:{key}", self.key_prefix, self.version);
        if whole.len() > MAX_KEY_LENGTH {
            return Err(Error::internal(format!("the cache key {whole:?} is longer than {MAX_KEY_LENGTH} bytes")));
        }
        Ok(whole)
    }

    /// Everything this cache's keys start with.
    fn own_prefix(&self) -> String {
        format!("{}:", self.key_prefix)
    }

    fn ttl(&self, timeout: Timeout) -> Option<Duration> {
        match timeout {
            Timeout::Default => self.default_timeout,
            Timeout::Never => None,
            Timeout::After(d) => Some(d),
        }
    }

    fn is_zero(&self, timeout: Timeout) -> bool {
        self.ttl(timeout).is_some_and(|d| d.is_zero())
    }

    /// The value under `key`, if there is one and it has not expired.
    pub async fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        let whole = self.make_key(key)?;
        match self.backend.get_many(std::slice::from_ref(&whole)).await?.pop().flatten() {
            Some(bytes) => decode(key, &bytes).map(Some),
            None => Ok(None),
        }
    }

    /// Stores `value` under `key` for `timeout`.
    pub async fn set<T: Serialize + ?Sized>(&self, key: &str, value: &T, timeout: impl Into<Timeout>) -> Result<()> {
        self.set_bytes(key, encode(value)?, timeout.into()).await
    }

    /// Stores bytes as they are (what [`cache_page`] keeps); read them with
    /// [`get_bytes`](Self::get_bytes).
    pub async fn set_bytes(&self, key: &str, value: Vec<u8>, timeout: Timeout) -> Result<()> {
        let whole = self.make_key(key)?;
        if self.is_zero(timeout) {
            self.backend.delete_many(&[whole]).await?;
            return Ok(());
        }
        self.backend.set_many(vec![(whole, value)], self.ttl(timeout)).await
    }

    /// The bytes under `key`, as [`set_bytes`](Self::set_bytes) stored them.
    pub async fn get_bytes(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let whole = self.make_key(key)?;
        Ok(self.backend.get_many(std::slice::from_ref(&whole)).await?.pop().flatten())
    }

    /// Stores `value` unless `key` holds one already; whether it did (Django's `add`).
    pub async fn add<T: Serialize + ?Sized>(&self, key: &str, value: &T, timeout: impl Into<Timeout>) -> Result<bool> {
        let timeout = timeout.into();
        let whole = self.make_key(key)?;
        if self.is_zero(timeout) {
            return Ok(false);
        }
        self.backend.add(whole, encode(value)?, self.ttl(timeout)).await
    }

    /// Deletes `key`; whether it held a value.
    pub async fn delete(&self, key: &str) -> Result<bool> {
        Ok(self.backend.delete_many(&[self.make_key(key)?]).await? > 0)
    }

    /// Adds `delta` to the integer under `key` and returns the sum; the expiry stays. A missing
    /// key is an error (Django's `ValueError`), and so is a value that is not an integer.
    pub async fn incr(&self, key: &str, delta: i64) -> Result<i64> {
        self.backend
            .incr(&self.make_key(key)?, delta)
            .await?
            .ok_or_else(|| Error::bad_request(format!("the cache key {key:?} holds no value to increment")))
    }

    /// [`incr`](Self::incr) by `-delta`.
    pub async fn decr(&self, key: &str, delta: i64) -> Result<i64> {
        self.incr(key, delta.checked_neg().ok_or_else(|| Error::bad_request("decr overflowed"))?).await
    }

    /// The values of those `keys` that have one, in one round trip.
    pub async fn get_many<T: DeserializeOwned>(&self, keys: &[&str]) -> Result<HashMap<String, T>> {
        let whole = keys.iter().map(|k| self.make_key(k)).collect::<Result<Vec<_>>>()?;
        let mut found = HashMap::new();
        for (key, value) in keys.iter().zip(self.backend.get_many(&whole).await?) {
            if let Some(bytes) = value {
                found.insert((*key).to_owned(), decode(key, &bytes)?);
            }
        }
        Ok(found)
    }

    /// Stores every pair for `timeout`, in one round trip.
    pub async fn set_many<T: Serialize>(&self, items: &[(&str, T)], timeout: impl Into<Timeout>) -> Result<()> {
        let timeout = timeout.into();
        let mut pairs = Vec::with_capacity(items.len());
        for (key, value) in items {
            pairs.push((self.make_key(key)?, encode(value)?));
        }
        if self.is_zero(timeout) {
            let keys: Vec<String> = pairs.into_iter().map(|(k, _)| k).collect();
            self.backend.delete_many(&keys).await?;
            return Ok(());
        }
        self.backend.set_many(pairs, self.ttl(timeout)).await
    }

    /// Deletes every one of `keys`.
    pub async fn delete_many(&self, keys: &[&str]) -> Result<()> {
        let whole = keys.iter().map(|k| self.make_key(k)).collect::<Result<Vec<_>>>()?;
        self.backend.delete_many(&whole).await.map(|_| ())
    }

    /// The value under `key`, or what `make` gives, stored for `timeout` (Django's
    /// `get_or_set`).
    pub async fn get_or_set<T, F, Fut>(&self, key: &str, timeout: impl Into<Timeout>, make: F) -> Result<T>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        if let Some(found) = self.get(key).await? {
            return Ok(found);
        }
        let value = make().await?;
        self.set(key, &value, timeout).await?;
        Ok(value)
    }

    /// Deletes every value of this cache: the keys under its CACHE_KEY_PREFIX, whatever their
    /// version (on Redis, not the whole server as Django's `flushdb`: sessions and other
    /// sites may live there).
    pub async fn clear(&self) -> Result<()> {
        self.backend.clear(&self.own_prefix()).await
    }

    /// Whether the backend answers.
    pub async fn ping(&self) -> Result<()> {
        self.backend.ping().await
    }
}

/// The site's cache, or an error saying to install the cache app.
pub fn cache(site: &Site) -> Result<&Cache> {
    site.state::<Cache>()
        .ok_or_else(|| Error::internal("the cache needs the cache app: install it with .app(djambda::cache::app())"))
}

impl Request {
    /// The site's cache (see [`cache()`]).
    pub fn cache(&self) -> Result<&Cache> {
        cache(self.site())
    }
}

/// The key of a template fragment (Django's `make_template_fragment_key`): delete it to
/// refresh what [`fragment`] keeps.
pub fn make_template_fragment_key(name: &str, vary_on: &[&(dyn std::fmt::Display + Sync)]) -> String {
    let mut h = Sha256::new();
    for (i, v) in vary_on.iter().enumerate() {
        if i > 0 {
            h.update(b":");
        }
        h.update(v.to_string().as_bytes());
    }
    let digest: String = h.finalize().iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("template.cache.{name}.{digest}")
}

/// The template fragment cache (what Django's `{% cache %}` tag does): the HTML under `name`
/// and the `vary_on` values (a user's id, a language), or what `render` makes, kept for
/// `timeout`. A view renders the costly part of a page with it and hands the page template
/// the result, which shows it with `{{ sidebar | safe }}`. Unlike the tag, it runs before the
/// page is rendered, so on a hit the queries the fragment needs are skipped too: Tera's
/// functions are synchronous, and the `db` and `redis` caches are not.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use djambda::prelude::*;
/// use djambda::cache::{Timeout, fragment};
///
/// async fn dashboard(req: Request) -> Result<Response> {
///     let user_id = 7;
///     let sidebar = fragment(&req, "sidebar", &[&user_id], Timeout::Default, || async {
///         // The costly queries and their template, done only when the fragment is not cached.
///         Ok(format!("<ul><li>pipeline for {user_id}</li></ul>"))
///     })
///     .await?;
///     Ok(Response::html(format!("<main>{sidebar}</main>")))
/// }
///
/// let site = Site::builder()
///     .settings(Settings::from_sources(Some("DEBUG = true"), |_| None).unwrap())
///     .app(djambda::cache::app())
///     .urls(UrlConf::new().path("", dashboard, "dashboard"))
///     .build()
///     .unwrap();
/// let page = djambda::test::Client::new(site.clone()).get("/").await;
/// assert!(page.text().contains("pipeline for 7"));
/// let key = djambda::cache::make_template_fragment_key("sidebar", &[&7]);
/// assert!(djambda::cache::cache(&site).unwrap().get::<String>(&key).await.unwrap().is_some());
/// # });
/// ```
pub fn fragment<'a, F, Fut>(
    req: &'a Request,
    name: &str,
    vary_on: &[&(dyn std::fmt::Display + Sync)],
    timeout: impl Into<Timeout>,
    render: F,
) -> impl std::future::Future<Output = Result<String>> + 'a
where
    F: FnOnce() -> Fut + 'a,
    Fut: std::future::Future<Output = Result<String>> + 'a,
{
    // The key is made now, so the future holds no borrowed `vary_on` across its awaits.
    let key = make_template_fragment_key(name, vary_on);
    let timeout = timeout.into();
    async move { req.cache()?.get_or_set(&key, timeout, render).await }
}

/// The cache app: reads CACHE_* when the site is assembled, keeps the [`Cache`] on the site,
/// brings the `djambda_cache` table's migration, [`CacheMiddleware`] (which serves and stores
/// the pages of [`cache_page`] routes), a readiness check of the backend, an hourly schedule
/// deleting expired rows of the `db` backend, and `manage clearcache`.
pub fn app() -> App {
    App::new("cache")
        .migrations::<db::migrations::Migrator>()
        .middleware(CacheMiddleware::default())
        .on_ready(|setup| {
            let cache = Cache::from_settings(setup.settings(), setup.database().clone())?;
            setup.insert_state(cache);
            Ok(())
        })
        .readiness_check("cache", |site| async move {
            match cache(&site) {
                Ok(c) => c.ping().await.map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            }
        })
        .schedule("cache-delete-expired", "rate(1 hour)", |site, _event| async move {
            cache(&site)?.delete_expired().await?;
            Ok(())
        })
        .command(clearcache())
}

/// `manage clearcache [--expired]`: deletes every value of the cache, or (`--expired`, the
/// `db` backend) only the expired rows.
fn clearcache() -> SiteCommand {
    let cli = clap::Command::new("clearcache")
        .about("Deletes every value of the site's cache (CACHE_BACKEND), or with --expired the expired rows of the db cache.")
        .arg(clap::Arg::new("expired").long("expired").action(clap::ArgAction::SetTrue).help("Only expired rows (db backend)"));
    SiteCommand::new(cli, |site, args| {
        Box::pin(async move {
            if args.get_flag("expired") {
                if site.settings().cache.backend != CacheBackendName::Database {
                    return Err(Error::bad_request(
                        "--expired is for CACHE_BACKEND = \"db\"; the others expire values themselves",
                    ));
                }
                let gone = cache(&site)?.delete_expired().await?;
                println!("Deleted {gone} expired cache row(s).");
            } else {
                cache(&site)?.clear().await?;
                println!("Cleared the cache.");
            }
            Ok(())
        })
    })
}
