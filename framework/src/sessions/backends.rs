//! Where sessions are kept: signed cookies (the default), the database, or Redis.

use std::sync::Arc;
use std::time::Duration;

use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue, ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Map, Value};

use super::models::session;
use crate::conf::{SessionEngine, Settings};
use crate::db::Database;
use crate::error::{Error, ErrorKind, Result};
use crate::signing::{ALPHANUMERIC, Signer, random_string};
/// What a session is loaded as: its data and the key the store knows it by.
pub type Loaded = Option<(Map<String, Value>, Option<String>)>;

/// The future of a [`SessionStore`] call, borrowing the store.
pub type StoreFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<T>> + Send + 'a>>;

/// A session engine (Django's `SessionStore`).
pub trait SessionStore: Send + Sync {
    /// The session a cookie value names, or `None` when it is unknown, tampered with or
    /// expired. An error means the store itself is unreachable.
    fn load<'a>(&'a self, cookie: &'a str) -> StoreFuture<'a, Loaded>;
    /// Saves `data` for `age` under `key` (a new key when `None`); returns the cookie value
    /// and the key it is now known by.
    fn save<'a>(
        &'a self,
        key: Option<String>,
        data: &Map<String, Value>,
        age: Duration,
    ) -> StoreFuture<'a, (String, Option<String>)>;
    /// Forgets the session with this key.
    fn delete<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()>;
    /// Whether the store answers, for the readiness check: a store of its own (Redis) is
    /// asked; the cookie and database stores have nothing beyond the site's database to ask.
    fn ping(&self) -> StoreFuture<'_, ()> {
        Box::pin(async { Ok(()) })
    }
}

/// The store SESSION_ENGINE names.
pub fn store_for(settings: &Settings, database: &Arc<Database>) -> std::result::Result<Arc<dyn SessionStore>, String> {
    Ok(match settings.sessions.engine {
        SessionEngine::SignedCookies => {
            Arc::new(SignedCookieStore::new(&settings.secret_key, settings.sessions.cookie_age))
        }
        SessionEngine::Database => Arc::new(DatabaseStore { database: database.clone() }),
        SessionEngine::Cache => {
            let url = settings.sessions.redis_url.clone().ok_or(
                "SESSION_ENGINE = \"cache\" keeps sessions in Redis: set REDIS_URL (redis://host:6379/0)".to_owned(),
            )?;
            Arc::new(CacheStore::new(&url)?)
        }
    })
}

/// A new session key: 32 letters and digits (190 bits).
fn new_key() -> String {
    random_string(32, ALPHANUMERIC)
}

/// Keys a client sends are checked before they reach a store.
fn plausible_key(key: &str) -> bool {
    (8..=64).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Sessions in the cookie itself, signed with SECRET_KEY (Django's `signed_cookies`). The
/// client can read what is stored, so keep secrets out of the session.
pub struct SignedCookieStore {
    signer: Signer,
    max_age: Duration,
}

impl SignedCookieStore {
    /// A store signing with `secret`, whose cookies are good for `max_age`
    /// (SESSION_COOKIE_AGE) after they were last saved.
    pub fn new(secret: &str, max_age: Duration) -> Self {
        SignedCookieStore { signer: Signer::new(secret, "djambda.contrib.sessions.backends.signed_cookies"), max_age }
    }
}

impl SessionStore for SignedCookieStore {
    fn load<'a>(&'a self, cookie: &'a str) -> StoreFuture<'a, Loaded> {
        let loaded =
            self.signer.unsign_object::<Map<String, Value>>(cookie, Some(self.max_age)).ok().map(|d| (d, None));
        Box::pin(async move { Ok(loaded) })
    }

    fn save<'a>(
        &'a self,
        _key: Option<String>,
        data: &Map<String, Value>,
        _age: Duration,
    ) -> StoreFuture<'a, (String, Option<String>)> {
        let value = self.signer.sign_object(data);
        Box::pin(async move { Ok((value, None)) })
    }

    fn delete<'a>(&'a self, _key: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async { Ok(()) })
    }
}

/// Sessions as rows of `djambda_session` (Django's `db` engine); register
/// [`sessions::app`](super::app) for its migration. Expired rows are ignored;
/// `manage clearsessions` deletes them.
pub struct DatabaseStore {
    database: Arc<Database>,
}

impl SessionStore for DatabaseStore {
    fn load<'a>(&'a self, cookie: &'a str) -> StoreFuture<'a, Loaded> {
        Box::pin(async move {
            if !plausible_key(cookie) {
                return Ok(None);
            }
            let db = self.database.connection().await?;
            let row = session::Entity::find_by_id(cookie.to_owned())
                .filter(session::Column::ExpireDate.gt(chrono::Utc::now()))
                .one(&db)
                .await
                .map_err(session_error)?;
            Ok(row.and_then(|r| {
                serde_json::from_str::<Map<String, Value>>(&r.session_data).ok().map(|d| (d, Some(r.session_key)))
            }))
        })
    }

    fn save<'a>(
        &'a self,
        key: Option<String>,
        data: &Map<String, Value>,
        age: Duration,
    ) -> StoreFuture<'a, (String, Option<String>)> {
        let data = Value::Object(data.clone()).to_string();
        Box::pin(async move {
            let db = self.database.connection().await?;
            let key = key.unwrap_or_else(new_key);
            let expire =
                chrono::Utc::now() + chrono::Duration::seconds(age.as_secs().min(i64::MAX as u64 / 1000) as i64);
            let row = session::ActiveModel {
                session_key: ActiveValue::Set(key.clone()),
                session_data: ActiveValue::Set(data),
                expire_date: ActiveValue::Set(expire),
            };
            session::Entity::insert(row)
                .on_conflict(
                    OnConflict::column(session::Column::SessionKey)
                        .update_columns([session::Column::SessionData, session::Column::ExpireDate])
                        .to_owned(),
                )
                .exec(&db)
                .await
                .map_err(session_error)?;
            Ok((key.clone(), Some(key)))
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let db = self.database.connection().await?;
            session::Entity::delete_by_id(key.to_owned()).exec(&db).await.map_err(session_error)?;
            Ok(())
        })
    }
}

fn session_error(e: sea_orm::DbErr) -> Error {
    let kind = if crate::db::is_unavailable(&e) { ErrorKind::ServiceUnavailable } else { ErrorKind::Internal };
    Error::with_source(
        kind,
        "the session table could not be read or written (SESSION_ENGINE = \"db\" needs `manage migrate` with the \
         sessions app installed)",
        e,
    )
}

/// Sessions as Redis keys `djambda:session:<key>` with the session age as their expiry
/// (Django's `cache` engine). Needs djambda's `redis` feature and REDIS_URL. The connection is
/// opened on first use, so a cold start touches no network.
pub struct CacheStore {
    #[cfg(feature = "redis")]
    client: redis::Client,
    #[cfg(feature = "redis")]
    connection: tokio::sync::OnceCell<redis::aio::MultiplexedConnection>,
}

#[cfg(not(feature = "redis"))]
impl CacheStore {
    /// Without the `redis` feature there is no Redis client to use.
    pub fn new(_url: &str) -> std::result::Result<Self, String> {
        Err("SESSION_ENGINE = \"cache\" needs djambda built with its `redis` feature \
             (djambda = { features = [\"redis\"] } in Cargo.toml)"
            .into())
    }
}

#[cfg(not(feature = "redis"))]
impl SessionStore for CacheStore {
    fn load<'a>(&'a self, _cookie: &'a str) -> StoreFuture<'a, Loaded> {
        Box::pin(async { Ok(None) })
    }
    fn save<'a>(
        &'a self,
        _: Option<String>,
        _: &Map<String, Value>,
        _: Duration,
    ) -> StoreFuture<'a, (String, Option<String>)> {
        Box::pin(async { Err(Error::internal("the cache session engine is not built in")) })
    }
    fn delete<'a>(&'a self, _key: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async { Ok(()) })
    }
}

#[cfg(feature = "redis")]
impl CacheStore {
    /// A store on the Redis server at `url` (nothing is opened yet).
    pub fn new(url: &str) -> std::result::Result<Self, String> {
        let client = redis::Client::open(url).map_err(|e| format!("REDIS_URL {url:?} is not usable: {e}"))?;
        Ok(CacheStore { client, connection: tokio::sync::OnceCell::new() })
    }

    async fn connection(&self) -> Result<redis::aio::MultiplexedConnection> {
        self.connection
            .get_or_try_init(|| async {
                self.client.get_multiplexed_async_connection().await.map_err(|e| {
                    Error::with_source(ErrorKind::ServiceUnavailable, "the session cache (Redis) is unavailable", e)
                })
            })
            .await
            .cloned()
    }

    fn redis_key(key: &str) -> String {
        format!("djambda:session:{key}")
    }
}

#[cfg(feature = "redis")]
fn redis_error(e: redis::RedisError) -> Error {
    Error::with_source(ErrorKind::ServiceUnavailable, "the session cache (Redis) did not answer", e)
}

#[cfg(feature = "redis")]
impl SessionStore for CacheStore {
    fn load<'a>(&'a self, cookie: &'a str) -> StoreFuture<'a, Loaded> {
        let this = self;
        Box::pin(async move {
            if !plausible_key(cookie) {
                return Ok(None);
            }
            let mut conn = this.connection().await?;
            let stored: Option<String> =
                redis::cmd("GET").arg(Self::redis_key(cookie)).query_async(&mut conn).await.map_err(redis_error)?;
            Ok(stored
                .and_then(|s| serde_json::from_str::<Map<String, Value>>(&s).ok())
                .map(|d| (d, Some(cookie.to_owned()))))
        })
    }

    fn save<'a>(
        &'a self,
        key: Option<String>,
        data: &Map<String, Value>,
        age: Duration,
    ) -> StoreFuture<'a, (String, Option<String>)> {
        let data = Value::Object(data.clone()).to_string();
        let this = self;
        Box::pin(async move {
            let mut conn = this.connection().await?;
            let key = key.unwrap_or_else(new_key);
            let () = redis::cmd("SET")
                .arg(Self::redis_key(&key))
                .arg(data)
                .arg("EX")
                .arg(age.as_secs().max(1))
                .query_async(&mut conn)
                .await
                .map_err(redis_error)?;
            Ok((key.clone(), Some(key)))
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()> {
        let this = self;
        Box::pin(async move {
            let mut conn = this.connection().await?;
            let _: i64 =
                redis::cmd("DEL").arg(Self::redis_key(key)).query_async(&mut conn).await.map_err(redis_error)?;
            Ok(())
        })
    }

    fn ping(&self) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let mut conn = self.connection().await?;
            let _: String = redis::cmd("PING").query_async(&mut conn).await.map_err(redis_error)?;
            Ok(())
        })
    }
}
