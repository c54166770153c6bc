//! `db`: the `djambda_cache` table (Django's `DatabaseCache`), shared by every process and
//! Lambda instance on the site's database. The cache app's migration makes it; the app's
//! hourly schedule (and `manage clearcache --expired`) deletes what has expired.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use sea_orm::sea_query::{LikeExpr, OnConflict};
use sea_orm::{
    ActiveValue, ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, Statement,
    TransactionTrait,
};

use super::backends::{CacheBackend, as_integer};
use crate::db::Database;
use crate::error::{Error, ErrorKind, Result};

/// One cached value (table `djambda_cache`).
pub mod entry {
    use sea_orm::entity::prelude::*;

    /// A row: the whole key, the value's bytes, and when it expires (milliseconds since
    /// 1970; never when `None`).
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "djambda_cache")]
    pub struct Model {
        /// The key, prefix and version included.
        #[sea_orm(primary_key, auto_increment = false, column_type = "String(StringLen::N(255))")]
        pub cache_key: String,
        /// The value.
        pub value: Vec<u8>,
        /// When it expires.
        #[sea_orm(indexed)]
        pub expires: Option<i64>,
    }

    /// Cached values relate to nothing.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The migrations of the cache app: the `djambda_cache` table.
pub mod migrations {
    use sea_orm_migration::prelude::*;

    /// The cache app's migrations, kept in their own bookkeeping table.
    pub struct Migrator;

    #[async_trait::async_trait]
    impl MigratorTrait for Migrator {
        fn migrations() -> Vec<Box<dyn MigrationTrait>> {
            vec![Box::new(Initial), Box::new(ExactKeys)]
        }

        fn migration_table_name() -> DynIden {
            "djambda_migrations_cache".into_iden()
        }
    }

    struct Initial;

    impl MigrationName for Initial {
        fn name(&self) -> &str {
            "0001_initial"
        }
    }

    #[async_trait::async_trait]
    impl MigrationTrait for Initial {
        async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            // A cached page can be larger than MySQL's BLOB (64 KiB).
            let bytes = match manager.get_database_backend() {
                sea_orm::DatabaseBackend::MySql => "LONGBLOB",
                sea_orm::DatabaseBackend::Postgres => "BYTEA",
                _ => "BLOB",
            };
            manager
                .create_table(
                    Table::create()
                        .table("djambda_cache")
                        .col(ColumnDef::new("cache_key").string_len(255).not_null().primary_key())
                        .col(ColumnDef::new("value").custom(bytes).not_null())
                        .col(ColumnDef::new("expires").big_integer().null())
                        .to_owned(),
                )
                .await?;
            manager
                .create_index(
                    Index::create().name("idx_djambda_cache_expires").table("djambda_cache").col("expires").to_owned(),
                )
                .await
        }

        async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            manager.drop_table(Table::drop().table("djambda_cache").to_owned()).await
        }
    }

    /// MySQL compares text by its column's collation, which is case-insensitive unless told
    /// otherwise: the keys `Key` and `key` were one row. Keys are compared byte for byte in a
    /// binary collation, one that does not pad either where the server has it (MariaDB's
    /// `utf8mb4_nopad_bin`, MySQL 8's `utf8mb4_0900_bin`; `utf8mb4_bin` would take `key` and
    /// `key ` for one, though a cache key has no spaces). PostgreSQL and SQLite compare exactly
    /// already.
    struct ExactKeys;

    impl MigrationName for ExactKeys {
        fn name(&self) -> &str {
            "0002_exact_keys"
        }
    }

    #[async_trait::async_trait]
    impl MigrationTrait for ExactKeys {
        async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            if manager.get_database_backend() != sea_orm::DatabaseBackend::MySql {
                return Ok(());
            }
            let mut last = None;
            for collation in ["utf8mb4_nopad_bin", "utf8mb4_0900_bin", "utf8mb4_bin"] {
                let sql = format!(
                    "ALTER TABLE djambda_cache MODIFY cache_key VARCHAR(255) CHARACTER SET utf8mb4 COLLATE {collation} \
                     NOT NULL"
                );
                match manager.get_connection().execute_unprepared(&sql).await {
                    Ok(_) => return Ok(()),
                    // A collation this server does not have: the next one.
                    Err(e) => last = Some(e),
                }
            }
            Err(last.unwrap_or_else(|| DbErr::Custom("no binary collation for the cache keys".into())))
        }

        async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
            // Back to a collation under which two keys may be one: nothing to undo that is worth it.
            Ok(())
        }
    }
}

/// The `db` backend.
pub struct DatabaseCache {
    database: Arc<Database>,
}

impl DatabaseCache {
    /// A cache in the `djambda_cache` table of `database`.
    pub fn new(database: Arc<Database>) -> Self {
        DatabaseCache { database }
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn expiry(ttl: Option<Duration>) -> Option<i64> {
    ttl.map(|t| now_ms().saturating_add(i64::try_from(t.as_millis()).unwrap_or(i64::MAX / 2)))
}

/// Not expired: no expiry, or one still ahead.
fn live() -> Condition {
    Condition::any().add(entry::Column::Expires.is_null()).add(entry::Column::Expires.gt(now_ms()))
}

fn db_error(e: sea_orm::DbErr) -> Error {
    let kind = if crate::db::is_unavailable(&e) { ErrorKind::ServiceUnavailable } else { ErrorKind::Internal };
    Error::with_source(
        kind,
        "the cache table could not be read or written (CACHE_BACKEND = \"db\" needs `manage migrate` with the cache \
         app installed)",
        e,
    )
}

/// A deadlock (MySQL's 1213, PostgreSQL's 40P01) or a serialization failure (40001): the
/// statement was rolled back and may be run again.
fn is_deadlock(e: &sea_orm::DbErr) -> bool {
    let text = e.to_string();
    ["1213 (40001)", "40001", "40P01", "Deadlock found"].iter().any(|code| text.contains(code))
}

fn upsert(key: String, value: Vec<u8>, expires: Option<i64>) -> sea_orm::Insert<entry::ActiveModel> {
    let row = entry::ActiveModel {
        cache_key: ActiveValue::Set(key),
        value: ActiveValue::Set(value),
        expires: ActiveValue::Set(expires),
    };
    entry::Entity::insert(row).on_conflict(
        OnConflict::column(entry::Column::CacheKey)
            .update_columns([entry::Column::Value, entry::Column::Expires])
            .to_owned(),
    )
}

impl DatabaseCache {
    /// Deletes every expired row; how many.
    pub async fn delete_expired(&self) -> Result<u64> {
        let db = self.database.connection().await?;
        let gone = entry::Entity::delete_many().filter(entry::Column::Expires.lte(now_ms())).exec(&db).await;
        Ok(gone.map_err(db_error)?.rows_affected)
    }
}

impl CacheBackend for DatabaseCache {
    fn get_many<'a>(&'a self, keys: &'a [String]) -> BoxFuture<'a, Result<Vec<Option<Vec<u8>>>>> {
        Box::pin(async move {
            let db = self.database.connection().await?;
            let rows = entry::Entity::find()
                .filter(entry::Column::CacheKey.is_in(keys.iter().cloned()))
                .filter(live())
                .all(&db)
                .await
                .map_err(db_error)?;
            Ok(keys.iter().map(|k| rows.iter().find(|r| &r.cache_key == k).map(|r| r.value.clone())).collect())
        })
    }

    fn set_many(&self, items: Vec<(String, Vec<u8>)>, ttl: Option<Duration>) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let db = self.database.connection().await?;
            let expires = expiry(ttl);
            // One transaction: a write is acknowledged only once it committed.
            crate::db::atomic(&db, |txn| {
                Box::pin(async move {
                    for (key, value) in items {
                        upsert(key, value, expires).exec_without_returning(txn).await?;
                    }
                    Ok(())
                })
            })
            .await
        })
    }

    fn add(&self, key: String, value: Vec<u8>, ttl: Option<Duration>) -> BoxFuture<'_, Result<bool>> {
        Box::pin(async move {
            let db = self.database.connection().await?;
            let backend = db.get_database_backend();
            // An expired row is as good as none: it goes first. Then the insert, which the key's
            // uniqueness makes the one test-and-set: of two adds at once, the database lets one
            // insert and the other finds the row (a read then a write would let both through).
            let expired = entry::Entity::delete_many()
                .filter(entry::Column::CacheKey.eq(key.clone()))
                .filter(entry::Column::Expires.lte(now_ms()));
            // INSERT IGNORE would also cut a key too long for the column down to one that fits,
            // and store it under that: refused instead, as `set` is.
            if backend == DbBackend::MySql && key.chars().count() > 255 {
                return Err(Error::internal(format!(
                    "the cache key {key:?} is longer than the cache table's 255 characters (a shorter KEY_PREFIX?)"
                )));
            }
            let sql = match backend {
                DbBackend::MySql => "INSERT IGNORE INTO djambda_cache (cache_key, value, expires) VALUES (?, ?, ?)",
                DbBackend::Postgres => {
                    "INSERT INTO djambda_cache (cache_key, value, expires) VALUES ($1, $2, $3) ON CONFLICT (cache_key) \
                     DO NOTHING"
                }
                _ => {
                    "INSERT INTO djambda_cache (cache_key, value, expires) VALUES (?, ?, ?) ON CONFLICT (cache_key) DO \
                     NOTHING"
                }
            };
            let insert = Statement::from_sql_and_values(backend, sql, [key.into(), value.into(), expiry(ttl).into()]);
            let inserted = if backend == DbBackend::Sqlite {
                // On SQLite through a transaction, whose commit reports a failure (see
                // `crate::db::atomic`); one writer at a time there anyway.
                crate::db::atomic(&db, |txn| {
                    Box::pin(async move {
                        expired.exec(txn).await?;
                        Ok(txn.execute_raw(insert).await?.rows_affected())
                    })
                })
                .await?
            } else {
                // Adds at once over one expired row can deadlock on MySQL (the delete's and the
                // inserts' locks); the loser's statement changed nothing and is run again.
                let mut tries = 0;
                loop {
                    tries += 1;
                    let done = match expired.clone().exec(&db).await {
                        Ok(_) => db.execute_raw(insert.clone()).await,
                        Err(e) => Err(e),
                    };
                    match done {
                        Ok(result) => break result.rows_affected(),
                        Err(e) if tries < 5 && is_deadlock(&e) => continue,
                        Err(e) => return Err(db_error(e)),
                    }
                }
            };
            Ok(inserted == 1)
        })
    }

    fn delete_many<'a>(&'a self, keys: &'a [String]) -> BoxFuture<'a, Result<usize>> {
        Box::pin(async move {
            let db = self.database.connection().await?;
            let gone = entry::Entity::delete_many()
                .filter(entry::Column::CacheKey.is_in(keys.iter().cloned()))
                .filter(live())
                .exec(&db)
                .await
                .map_err(db_error)?;
            Ok(gone.rows_affected as usize)
        })
    }

    fn incr<'a>(&'a self, key: &'a str, delta: i64) -> BoxFuture<'a, Result<Option<i64>>> {
        Box::pin(async move {
            let db = self.database.connection().await?;
            let txn = db.begin().await.map_err(db_error)?;
            let Some(row) =
                entry::Entity::find_by_id(key.to_owned()).filter(live()).one(&txn).await.map_err(db_error)?
            else {
                return Ok(None);
            };
            let sum =
                as_integer(&row.value)?.checked_add(delta).ok_or_else(|| Error::bad_request("incr overflowed"))?;
            upsert(row.cache_key, sum.to_string().into_bytes(), row.expires)
                .exec_without_returning(&txn)
                .await
                .map_err(db_error)?;
            txn.commit().await.map_err(db_error)?;
            Ok(Some(sum))
        })
    }

    fn clear<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let db = self.database.connection().await?;
            // This cache's keys only: LIKE 'prefix%', the prefix's own wildcards escaped.
            let mut pattern = String::new();
            for c in prefix.chars() {
                if matches!(c, '%' | '_' | '\\') {
                    pattern.push('\\');
                }
                pattern.push(c);
            }
            pattern.push('%');
            entry::Entity::delete_many()
                .filter(entry::Column::CacheKey.like(LikeExpr::new(pattern).escape('\\')))
                .exec(&db)
                .await
                .map_err(db_error)?;
            Ok(())
        })
    }

    fn ping(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let db = self.database.connection().await?;
            entry::Entity::find().filter(entry::Column::CacheKey.eq("")).one(&db).await.map_err(db_error)?;
            Ok(())
        })
    }
}
