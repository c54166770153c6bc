//! `redis`: a Redis server (Django's `RedisCache`), with djambda's `redis` feature. The
//! connection is opened on first use, so a cold start touches no network, and opened again
//! after it broke (Redis restarted, the connection killed or timed out): the operation that
//! found it broken is tried once more on the new one when doing it twice is harmless (get,
//! set, delete, clear), and fails with a 503 otherwise (add, incr), and the ones after it
//! go through the new connection.

use std::time::Duration;

use futures_util::future::BoxFuture;

use super::backends::CacheBackend;
#[cfg(feature = "redis")]
use crate::error::ErrorKind;
use crate::error::{Error, Result};

/// The `redis` backend.
pub struct RedisCache {
    #[cfg(feature = "redis")]
    client: redis::Client,
    /// The open connection and how many were opened before it (so that of two operations that
    /// find it broken, only the first replaces it).
    #[cfg(feature = "redis")]
    connection: tokio::sync::Mutex<Option<(u64, redis::aio::MultiplexedConnection)>>,
    #[cfg(feature = "redis")]
    opened: std::sync::atomic::AtomicU64,
}

/// Adds to `key` only when it exists, in one step: Django's `incr` fails on a missing key.
#[cfg(feature = "redis")]
const INCR_IF_PRESENT: &str =
    "if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('INCRBY', KEYS[1], ARGV[1]) else return nil end";

#[cfg(not(feature = "redis"))]
impl RedisCache {
    /// Without the `redis` feature there is no Redis client to use.
    pub fn new(_url: &str) -> std::result::Result<Self, String> {
        Err("CACHE_BACKEND = \"redis\" needs djambda built with its `redis` feature \
             (djambda = { features = [\"redis\"] } in Cargo.toml)"
            .into())
    }
}

#[cfg(not(feature = "redis"))]
impl CacheBackend for RedisCache {
    fn get_many<'a>(&'a self, _keys: &'a [String]) -> BoxFuture<'a, Result<Vec<Option<Vec<u8>>>>> {
        Box::pin(async { Err(Error::internal("the redis cache is not built in")) })
    }
    fn set_many(&self, _items: Vec<(String, Vec<u8>)>, _ttl: Option<Duration>) -> BoxFuture<'_, Result<()>> {
        Box::pin(async { Err(Error::internal("the redis cache is not built in")) })
    }
    fn add(&self, _key: String, _value: Vec<u8>, _ttl: Option<Duration>) -> BoxFuture<'_, Result<bool>> {
        Box::pin(async { Err(Error::internal("the redis cache is not built in")) })
    }
    fn delete_many<'a>(&'a self, _keys: &'a [String]) -> BoxFuture<'a, Result<usize>> {
        Box::pin(async { Err(Error::internal("the redis cache is not built in")) })
    }
    fn incr<'a>(&'a self, _key: &'a str, _delta: i64) -> BoxFuture<'a, Result<Option<i64>>> {
        Box::pin(async { Err(Error::internal("the redis cache is not built in")) })
    }
    fn clear<'a>(&'a self, _prefix: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async { Err(Error::internal("the redis cache is not built in")) })
    }
}

#[cfg(feature = "redis")]
impl RedisCache {
    /// A cache on the Redis server at `url` (nothing is opened yet).
    pub fn new(url: &str) -> std::result::Result<Self, String> {
        let client =
            redis::Client::open(url).map_err(|e| format!("the cache's Redis URL {url:?} is not usable: {e}"))?;
        Ok(RedisCache {
            client,
            connection: tokio::sync::Mutex::new(None),
            opened: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// The open connection, or a new one; with its number.
    async fn connection(&self) -> Result<(u64, redis::aio::MultiplexedConnection)> {
        let mut held = self.connection.lock().await;
        if let Some(open) = held.as_ref() {
            return Ok(open.clone());
        }
        let conn =
            self.client.get_multiplexed_async_connection().await.map_err(|e| {
                Error::with_source(ErrorKind::ServiceUnavailable, "the cache (Redis) is unavailable", e)
            })?;
        let number = self.opened.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        *held = Some((number, conn.clone()));
        Ok((number, conn))
    }

    /// Forgets connection `number` if it is still the open one: the next operation opens another.
    async fn forget(&self, number: u64) {
        let mut held = self.connection.lock().await;
        if held.as_ref().is_some_and(|(n, _)| *n == number) {
            *held = None;
        }
    }

    /// Runs `op` on the connection; when the connection turns out broken it is forgotten, and
    /// `op` is run once more on a new one if `repeatable` (doing it twice does no harm). The
    /// outer error: no connection could be opened; the inner one: what the command got.
    async fn run<T, F, Fut>(&self, repeatable: bool, op: F) -> Result<redis::RedisResult<T>>
    where
        F: Fn(redis::aio::MultiplexedConnection) -> Fut,
        Fut: std::future::Future<Output = redis::RedisResult<T>>,
    {
        let mut tries = if repeatable { 2 } else { 1 };
        loop {
            tries -= 1;
            let (number, conn) = self.connection().await?;
            match op(conn).await {
                Err(e) if broken(&e) => {
                    self.forget(number).await;
                    if tries == 0 {
                        return Ok(Err(e));
                    }
                }
                done => return Ok(done),
            }
        }
    }
}

/// Whether an error says the connection is no good any more (rather than that Redis refused
/// the command, which a new connection would not change).
#[cfg(feature = "redis")]
fn broken(e: &redis::RedisError) -> bool {
    !matches!(e.kind(), redis::ErrorKind::Server(_) | redis::ErrorKind::Extension)
}

#[cfg(feature = "redis")]
fn redis_error(e: redis::RedisError) -> Error {
    Error::with_source(ErrorKind::ServiceUnavailable, "the cache (Redis) did not answer as expected", e)
}

#[cfg(feature = "redis")]
fn set_command(key: &str, value: &[u8], ttl: Option<Duration>) -> redis::Cmd {
    let mut cmd = redis::cmd("SET");
    cmd.arg(key).arg(value);
    if let Some(ttl) = ttl {
        cmd.arg("PX").arg(ttl.as_millis().max(1) as u64);
    }
    cmd
}

#[cfg(feature = "redis")]
impl CacheBackend for RedisCache {
    fn get_many<'a>(&'a self, keys: &'a [String]) -> BoxFuture<'a, Result<Vec<Option<Vec<u8>>>>> {
        Box::pin(async move {
            if keys.is_empty() {
                return Ok(Vec::new());
            }
            self.run(true, |mut conn| async move { redis::cmd("MGET").arg(keys).query_async(&mut conn).await })
                .await?
                .map_err(redis_error)
        })
    }

    fn set_many(&self, items: Vec<(String, Vec<u8>)>, ttl: Option<Duration>) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            // One round trip, applied as a whole (MULTI/EXEC).
            let mut pipe = redis::pipe();
            pipe.atomic();
            for (key, value) in &items {
                pipe.add_command(set_command(key, value, ttl)).ignore();
            }
            let pipe = &pipe;
            self.run(true, |mut conn| async move { pipe.query_async::<()>(&mut conn).await })
                .await?
                .map_err(redis_error)
        })
    }

    fn add(&self, key: String, value: Vec<u8>, ttl: Option<Duration>) -> BoxFuture<'_, Result<bool>> {
        Box::pin(async move {
            let mut cmd = set_command(&key, &value, ttl);
            cmd.arg("NX");
            let cmd = &cmd;
            // Not repeated: had the first SET NX reached Redis, the second would answer "taken".
            let stored: Option<String> = self
                .run(false, |mut conn| async move { cmd.query_async(&mut conn).await })
                .await?
                .map_err(redis_error)?;
            Ok(stored.is_some())
        })
    }

    fn delete_many<'a>(&'a self, keys: &'a [String]) -> BoxFuture<'a, Result<usize>> {
        Box::pin(async move {
            if keys.is_empty() {
                return Ok(0);
            }
            self.run(true, |mut conn| async move { redis::cmd("DEL").arg(keys).query_async(&mut conn).await })
                .await?
                .map_err(redis_error)
        })
    }

    fn incr<'a>(&'a self, key: &'a str, delta: i64) -> BoxFuture<'a, Result<Option<i64>>> {
        Box::pin(async move {
            // Not repeated: an increment that reached Redis would be counted twice.
            self.run(false, |mut conn| async move {
                redis::cmd("EVAL").arg(INCR_IF_PRESENT).arg(1).arg(key).arg(delta).query_async(&mut conn).await
            })
            .await?
            .map_err(|e| match e.kind() {
                // INCRBY on a value that is not an integer.
                redis::ErrorKind::Server(_) | redis::ErrorKind::Extension => Error::with_source(
                    ErrorKind::BadRequest,
                    "incr and decr work on integers: the cached value is not one",
                    e,
                ),
                _ => redis_error(e),
            })
        })
    }

    fn clear<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            // Only this cache's keys (unlike Django's FLUSHDB): the server may hold sessions and
            // other sites' caches. SCAN walks it in steps without blocking the server.
            let mut pattern = String::new();
            for c in prefix.chars() {
                if matches!(c, '*' | '?' | '[' | ']' | '\\') {
                    pattern.push('\\');
                }
                pattern.push(c);
            }
            pattern.push('*');
            let pattern = &pattern;
            let mut cursor: u64 = 0;
            loop {
                let (next, keys): (u64, Vec<String>) = self
                    .run(true, |mut conn| async move {
                        redis::cmd("SCAN")
                            .arg(cursor)
                            .arg("MATCH")
                            .arg(pattern)
                            .arg("COUNT")
                            .arg(500)
                            .query_async(&mut conn)
                            .await
                    })
                    .await?
                    .map_err(redis_error)?;
                if !keys.is_empty() {
                    let keys = &keys;
                    let _: usize = self
                        .run(true, |mut conn| async move { redis::cmd("DEL").arg(keys).query_async(&mut conn).await })
                        .await?
                        .map_err(redis_error)?;
                }
                if next == 0 {
                    return Ok(());
                }
                cursor = next;
            }
        })
    }

    fn ping(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let _: String = self
                .run(true, |mut conn| async move { redis::cmd("PING").query_async(&mut conn).await })
                .await?
                .map_err(redis_error)?;
            Ok(())
        })
    }
}
