//! The database (Django's `django.db`): connection settings, a connection opened lazily on the
//! first query of the process and reused after, `get_object_or_404`, and `atomic` transactions.
//!
//! The ORM is sea-orm (re-exported as [`sea_orm`]); SQLite, PostgreSQL and MySQL/MariaDB URLs
//! work the same way. A database that is down or refuses the connection makes the request a 503
//! (with a log line saying why), never a panic; the next request tries again.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

mod fixtures;
mod migrations;

pub use fixtures::{EntityFixture, FixtureModel, Loaded, Record, dump_records, find_fixture, load_fixtures};
pub use migrations::{
    ColumnSchema, ForeignKeySchema, IndexSchema, MigrationSet, MigrationState, SeaMigrations, TableSchema, entity_table,
};
pub(crate) use migrations::{apply_all, autodetector, schema, writer};
pub use sea_orm;
use sea_orm::TransactionTrait;
use sea_orm::{ConnectOptions, ConnectionTrait, DatabaseConnection, DatabaseTransaction, EntityTrait, Select};
pub use sea_orm_migration;
use tokio::sync::OnceCell;

use crate::conf::Settings;
use crate::error::{Error, ErrorKind, Result};

/// The site's database: where it is and, once a request has needed it, the open pool.
pub struct Database {
    url: String,
    /// The SQLite file used when DATABASE_URL is not set.
    default_file: Option<std::path::PathBuf>,
    pool_size: u32,
    timeout: Duration,
    sqlite: crate::conf::Sqlite,
    pool: OnceCell<DatabaseConnection>,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database").field("url", &redact(&self.url)).field("pool_size", &self.pool_size).finish()
    }
}

impl Database {
    /// The database the settings describe (DATABASE_URL, or `db.sqlite3` in `base_dir`).
    /// Nothing is opened here: cold start touches no network.
    pub fn from_settings(settings: &Settings, base_dir: &std::path::Path) -> Self {
        let (url, default_file) = match &settings.database_url {
            Some(url) => (url.clone(), None),
            None => {
                let file = base_dir.join("db.sqlite3");
                (format!("sqlite://{}?mode=rwc", file.display()), Some(file))
            }
        };
        Database {
            url,
            default_file,
            pool_size: settings.database_pool_size,
            timeout: settings.database_connect_timeout,
            sqlite: settings.sqlite.clone(),
            pool: OnceCell::new(),
        }
    }

    /// The URL, with any password replaced by `***` (for messages and logs).
    pub fn display_url(&self) -> String {
        redact(&self.url)
    }

    /// The default SQLite file, when DATABASE_URL is not set.
    pub fn default_file(&self) -> Option<&std::path::Path> {
        self.default_file.as_deref()
    }

    /// The raw URL (for `dbshell` and the like).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The connection pool, opened on first use. A failure is a 503 for this request and is not
    /// remembered: the next call tries again.
    pub async fn connection(&self) -> Result<DatabaseConnection> {
        // The open pool, without the connect future: that future is some 20 KB, and held inline
        // it would make every view's future that big, copied and allocated per request.
        if let Some(pool) = self.pool.get() {
            return Ok(pool.clone());
        }
        self.connect().await
    }

    /// Closes the pool, if it was opened, waiting for each connection to close. On SQLite in
    /// WAL mode the last close checkpoints the log into the file and removes `-wal`, so a
    /// command that wrote (migrate, loaddata) leaves one self-contained file behind, safe to
    /// copy. The pool cannot be used after this; a process calls it on its way out.
    pub async fn close(&self) {
        if let Some(pool) = self.pool.get()
            && let Err(e) = pool.clone().close().await
        {
            eprintln!("closing the database connection failed: {e}");
        }
    }

    /// Opens the pool (first use, or after a failure), boxed for the reason above.
    fn connect(&self) -> std::pin::Pin<Box<dyn Future<Output = Result<DatabaseConnection>> + Send + '_>> {
        Box::pin(self.open())
    }

    async fn open(&self) -> Result<DatabaseConnection> {
        self.pool
            .get_or_try_init(|| async {
                let mut options = ConnectOptions::new(self.url.clone());
                options
                    .max_connections(self.pool_size)
                    .min_connections(0)
                    .connect_timeout(self.timeout)
                    .acquire_timeout(self.timeout)
                    .sqlx_logging(false);
                let (journal, busy) = (sqlite_journal_mode(self.sqlite.journal_mode), self.sqlite.busy_timeout);
                options.map_sqlx_sqlite_opts(move |opts| opts.journal_mode(journal).busy_timeout(busy));
                sea_orm::Database::connect(options).await.map_err(|e| {
                    eprintln!("Database unavailable: could not connect to {}: {e}", redact(&self.url));
                    Error::with_source(
                        ErrorKind::ServiceUnavailable,
                        format!("the database at {} is unavailable", redact(&self.url)),
                        e,
                    )
                })
            })
            .await
            .cloned()
    }
}

fn sqlite_journal_mode(mode: crate::conf::JournalMode) -> sea_orm::sqlx::sqlite::SqliteJournalMode {
    use crate::conf::JournalMode;
    use sea_orm::sqlx::sqlite::SqliteJournalMode as Sqlx;
    match mode {
        JournalMode::Wal => Sqlx::Wal,
        JournalMode::Delete => Sqlx::Delete,
        JournalMode::Truncate => Sqlx::Truncate,
        JournalMode::Persist => Sqlx::Persist,
        JournalMode::Memory => Sqlx::Memory,
        JournalMode::Off => Sqlx::Off,
    }
}

/// Hides the password of a database URL.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

pub use crate::error::{is_busy_error, is_connection_error, is_unavailable};

/// Django's `get_object_or_404`: the one row `query` finds, or a 404.
///
/// ```ignore
/// let contact = get_object_or_404(contact::Entity::find_by_id(pk), &req.db().await?).await?;
/// ```
pub async fn get_object_or_404<E: EntityTrait, C: ConnectionTrait>(query: Select<E>, db: &C) -> Result<E::Model> {
    query
        .one(db)
        .await?
        .ok_or_else(|| Error::not_found(format!("No {} matches the given query.", E::default().table_name())))
}

/// Django's `get_list_or_404`: the rows `query` finds, or a 404 when there are none.
pub async fn get_list_or_404<E: EntityTrait, C: ConnectionTrait>(query: Select<E>, db: &C) -> Result<Vec<E::Model>> {
    let rows = query.all(db).await?;
    if rows.is_empty() {
        return Err(Error::not_found(format!("No {} matches the given query.", E::default().table_name())));
    }
    Ok(rows)
}

/// A future borrowing the transaction, as [`atomic`] takes.
pub type TxFuture<'t, T> = Pin<Box<dyn Future<Output = Result<T>> + Send + 't>>;

/// Django's `transaction.atomic`: runs `work` in one transaction, committed when it returns
/// `Ok` and rolled back when it returns an error (a view's writes all happen, or none do).
/// Inside another transaction it is a savepoint. A commit that fails is this call's error (a
/// busy database: a 503), so a view that says "saved" after it is telling the truth.
///
/// On SQLite, write through `atomic` (or a model form's `save`) rather than on the bare
/// connection: sea-orm's `insert` and `update` read their row back with `RETURNING`, and the
/// automatic commit that follows is not reported when it fails (a reader holding the file in
/// a rollback-journal mode, a full disk). An explicit commit is.
///
/// ```ignore
/// let id = atomic(&db, |txn| Box::pin(async move {
///     let company = company::ActiveModel { name: Set(name), ..Default::default() }.insert(txn).await?;
///     contact::ActiveModel { company_id: Set(company.id), ..Default::default() }.insert(txn).await?;
///     Ok(company.id)
/// })).await?;
/// ```
pub async fn atomic<T, C, F>(db: &C, work: F) -> Result<T>
where
    C: TransactionTrait<Transaction = DatabaseTransaction>,
    F: for<'t> FnOnce(&'t DatabaseTransaction) -> TxFuture<'t, T>,
{
    let txn = db.begin().await?;
    match work(&txn).await {
        Ok(value) => {
            txn.commit().await?;
            Ok(value)
        }
        Err(err) => {
            if let Err(rollback) = txn.rollback().await {
                eprintln!("rolling back a failed transaction also failed: {rollback}");
            }
            Err(err)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(redact("postgres://app:s3cret@db:5432/crm"), "postgres://app:***@db:5432/crm");
        assert_eq!(redact("mysql://root@127.0.0.1/test"), "mysql://root@127.0.0.1/test");
        assert_eq!(redact("sqlite://db.sqlite3?mode=rwc"), "sqlite://db.sqlite3?mode=rwc");
    }
}
