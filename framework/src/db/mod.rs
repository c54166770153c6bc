//! The database (Django's `django.db`): connection settings, a connection opened lazily on the
//! first query of the process and reused after, `get_object_or_404`, and `atomic` transactions.
//!
//! The ORM is sea-orm (re-exported as [`sea_orm`]); SQLite, PostgreSQL and MySQL/MariaDB URLs
//! work the same way. A database that is down or refuses the connection makes the request a 503
//! (with a log line saying why), never a panic; the next request tries again.

use std::future::Future;
use std::pin::Pin;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use std::time::Instant;

mod fixtures;
mod migrations;
mod pooler;

pub use fixtures::{EntityFixture, FixtureModel, Loaded, Record, dump_records, find_fixture, load_fixtures};
pub use migrations::{
    ColumnSchema, ForeignKeySchema, IndexSchema, MigrationSet, MigrationState, SeaMigrations, TableSchema, entity_table,
};
pub(crate) use migrations::{apply_all, autodetector, schema, writer};
pub use sea_orm;
use sea_orm::TransactionTrait;
use sea_orm::{ConnectOptions, ConnectionTrait, DatabaseConnection, DatabaseTransaction, EntityTrait, Select};
pub use sea_orm_migration;

use crate::conf::Settings;
use crate::error::{Error, ErrorKind, Result};

/// The site's database: where it is and, once a request has needed it, the open pool.
pub struct Database {
    url: String,
    /// The SQLite file used when DATABASE_URL is not set.
    default_file: Option<std::path::PathBuf>,
    pool_size: u32,
    pooler: crate::conf::Pooler,
    /// The pooler relay's address, once started: one relay for every pool this opens.
    relay: tokio::sync::OnceCell<std::net::SocketAddr>,
    timeout: Duration,
    sqlite: crate::conf::Sqlite,
    /// The SQLite file of the URL, watched so that a file replaced underneath the process (a
    /// restore, a copy over it) is reopened rather than served stale.
    sqlite_file: Option<std::path::PathBuf>,
    pool: RwLock<Option<Open>>,
    opening: tokio::sync::Mutex<()>,
    /// When the file was last looked at, in milliseconds since `born`.
    checked_at: AtomicU64,
    /// Statements run so far, on every connection of every pool this process opened.
    queries: std::sync::Arc<AtomicU64>,
    born: Instant,
}

/// An open pool, and which file it has open.
#[derive(Clone)]
struct Open {
    conn: DatabaseConnection,
    file: Option<FileId>,
}

/// A file's identity (device and inode): a file copied or renamed over the path has another.
type FileId = (u64, u64);

/// How often the SQLite file's identity is checked: a stat per second, not per request.
const FILE_CHECK_MS: u64 = 1000;

fn file_id(path: &std::path::Path) -> Option<FileId> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
    }
    #[cfg(not(unix))]
    {
        std::fs::metadata(path).ok().map(|_| (0, 0))
    }
}

/// The file an `sqlite:` URL names, if it names one (not `:memory:`).
fn sqlite_path(url: &str) -> Option<std::path::PathBuf> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && !path.contains(":memory:")).then(|| std::path::PathBuf::from(path))
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
            sqlite_file: sqlite_path(&url),
            url,
            default_file,
            pool_size: settings.database_pool_size,
            pooler: settings.database_pooler,
            relay: tokio::sync::OnceCell::new(),
            timeout: settings.database_connect_timeout,
            sqlite: settings.sqlite.clone(),
            pool: RwLock::new(None),
            opening: tokio::sync::Mutex::new(()),
            checked_at: AtomicU64::new(0),
            queries: std::sync::Arc::default(),
            born: Instant::now(),
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

    /// How many SQL statements the site has run since it started, through every connection
    /// and transaction (Django's `len(connection.queries)`, counted whatever DEBUG says). The
    /// difference across a request is what it cost, which is how a test asserts that a page's
    /// queries do not grow with its rows (Django's `assertNumQueries`) and how a benchmark
    /// reports them; it counts every request of the process, so read it around one request at
    /// a time.
    pub fn queries_executed(&self) -> u64 {
        self.queries.load(Ordering::Relaxed)
    }

    /// Whether the database answers: a connection from the pool, and sea-orm's ping on it
    /// (`manage check --database` and the readiness check both ask this).
    pub async fn ping(&self) -> Result<()> {
        Ok(self.connection().await?.ping().await?)
    }

    /// The connection pool, opened on first use. A failure is a 503 for this request and is not
    /// remembered: the next call tries again. An SQLite file replaced since it was opened is
    /// reopened (noticed within a second); a file that is gone is a 503 until it is back.
    pub async fn connection(&self) -> Result<DatabaseConnection> {
        // The open pool, without the connect future: that future is some 20 KB, and held inline
        // it would make every view's future that big, copied and allocated per request.
        let current = self.pool.read().unwrap_or_else(|e| e.into_inner()).clone();
        if let Some(open) = current {
            if !self.replaced(&open)? {
                return Ok(open.conn);
            }
            return self.reopen(open).await;
        }
        self.connect().await
    }

    /// Closes the pool on a replaced file, then opens the new one. Closed first, so that the
    /// old file's WAL log is folded back into the old file (through the connections still
    /// open on it) rather than read as the new file's. "Replaced" means another file moved
    /// into place (a restore with `mv`); copying over a live SQLite file keeps its inode and
    /// is not safe with any journal mode.
    fn reopen(&self, stale: Open) -> std::pin::Pin<Box<dyn Future<Output = Result<DatabaseConnection>> + Send + '_>> {
        Box::pin(async move {
            // Under the opening lock: a request arriving meanwhile waits for the new pool
            // instead of opening the new file beside the old pool's log.
            let opening = self.opening.lock().await;
            self.forget(&stale);
            // Bounded: a connection checked out of the old pool and never returned (a request
            // that holds a transaction and asks for the database again) must not hang this.
            match tokio::time::timeout(self.timeout, stale.conn.close()).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => eprintln!("closing the replaced SQLite file's connections failed: {e}"),
                Err(_) => eprintln!("the replaced SQLite file still had connections in use; reopening anyway"),
            }
            self.open_locked(opening).await
        })
    }

    /// Whether the SQLite file under `open` was replaced; an error when it is gone.
    fn replaced(&self, open: &Open) -> Result<bool> {
        let (Some(path), Some(had)) = (&self.sqlite_file, open.file) else { return Ok(false) };
        let now = self.born.elapsed().as_millis() as u64;
        let last = self.checked_at.load(Ordering::Relaxed);
        if now.saturating_sub(last) < FILE_CHECK_MS {
            return Ok(false);
        }
        self.checked_at.store(now, Ordering::Relaxed);
        match file_id(path) {
            Some(id) if id == had => Ok(false),
            Some(_) => {
                eprintln!("The SQLite file {} was replaced: reopening it.", path.display());
                Ok(true)
            }
            None => {
                // Let the next look be immediate, so service resumes as soon as it is back.
                self.checked_at.store(0, Ordering::Relaxed);
                eprintln!("Database unavailable: the SQLite file {} is gone.", path.display());
                Err(Error::new(
                    ErrorKind::ServiceUnavailable,
                    format!("the SQLite file {} is gone; restore it, or run `manage migrate`", path.display()),
                ))
            }
        }
    }

    /// Drops `open` as the pool, unless another request already put a newer one in its place.
    fn forget(&self, open: &Open) {
        let mut slot = self.pool.write().unwrap_or_else(|e| e.into_inner());
        if slot.as_ref().is_some_and(|o| o.file == open.file) {
            *slot = None;
        }
    }

    /// Closes the pool, if it was opened, waiting for each connection to close. On SQLite in
    /// WAL mode the last close checkpoints the log into the file and removes `-wal`, so a
    /// command that wrote (migrate, loaddata) leaves one self-contained file behind, safe to
    /// copy. The pool cannot be used after this; a process calls it on its way out.
    pub async fn close(&self) {
        let open = self.pool.write().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(open) = open
            && let Err(e) = open.conn.close().await
        {
            eprintln!("closing the database connection failed: {e}");
        }
    }

    /// Opens the pool (first use, or after a failure), boxed for the reason above.
    fn connect(&self) -> std::pin::Pin<Box<dyn Future<Output = Result<DatabaseConnection>> + Send + '_>> {
        Box::pin(self.open())
    }

    async fn open(&self) -> Result<DatabaseConnection> {
        let opening = self.opening.lock().await;
        self.open_locked(opening).await
    }

    /// Opens the pool, holding the opening lock (`_one_at_a_time`) until it is in place.
    async fn open_locked(&self, _one_at_a_time: tokio::sync::MutexGuard<'_, ()>) -> Result<DatabaseConnection> {
        if let Some(open) = self.pool.read().unwrap_or_else(|e| e.into_inner()).as_ref() {
            return Ok(open.conn.clone());
        }
        let mut options = ConnectOptions::new(self.url.clone());
        options
            .max_connections(self.pool_size)
            .min_connections(0)
            .connect_timeout(self.timeout)
            .acquire_timeout(self.timeout)
            .sqlx_logging(false);
        let (journal, busy) = (sqlite_journal_mode(self.sqlite.journal_mode), self.sqlite.busy_timeout);
        options.map_sqlx_sqlite_opts(move |opts| opts.journal_mode(journal).busy_timeout(busy));
        if self.pooler == crate::conf::Pooler::Transaction {
            let relay = *self.relay.get_or_try_init(|| self.start_pooler_relay()).await?;
            options.map_sqlx_postgres_opts(move |opts| {
                opts.host(&relay.ip().to_string())
                    .port(relay.port())
                    .ssl_mode(sea_orm::sqlx::postgres::PgSslMode::Disable)
            });
        }
        let mut conn = sea_orm::Database::connect(options).await.map_err(|e| {
            eprintln!("Database unavailable: could not connect to {}: {e}", redact(&self.url));
            Error::with_source(
                ErrorKind::ServiceUnavailable,
                format!("the database at {} is unavailable", redact(&self.url)),
                e,
            )
        })?;
        let queries = self.queries.clone();
        conn.set_metric_callback(move |_| {
            queries.fetch_add(1, Ordering::Relaxed);
        });
        // The pool opens its connections lazily; one now makes the file exist to be watched.
        if self.sqlite_file.is_some() {
            conn.execute_unprepared("SELECT 1").await?;
        }
        let file = self.sqlite_file.as_deref().and_then(file_id);
        self.checked_at.store(self.born.elapsed().as_millis() as u64, Ordering::Relaxed);
        *self.pool.write().unwrap_or_else(|e| e.into_inner()) = Some(Open { conn: conn.clone(), file });
        Ok(conn)
    }
}

impl Database {
    /// Starts the relay that keeps named statements off a transaction-mode pooler (see
    /// [`pooler`]), in front of the pooler DATABASE_URL names.
    async fn start_pooler_relay(&self) -> Result<std::net::SocketAddr> {
        use sea_orm::sqlx::postgres::{PgConnectOptions, PgSslMode};
        let refuse = |why: String| Error::new(ErrorKind::Internal, why);
        let target: PgConnectOptions = self.url.parse().map_err(|e| {
            refuse(format!("DATABASE_URL ({}) is not a PostgreSQL URL DATABASE_POOLER can use: {e}", redact(&self.url)))
        })?;
        if target.get_socket().is_some() || target.get_host().starts_with('/') {
            return Err(refuse(
                "DATABASE_POOLER = \"transaction\" reaches the pooler over TCP: give DATABASE_URL its host and port, \
                 not a Unix socket"
                    .into(),
            ));
        }
        if matches!(target.get_ssl_mode(), PgSslMode::Require | PgSslMode::VerifyCa | PgSslMode::VerifyFull) {
            return Err(refuse(
                "DATABASE_POOLER = \"transaction\" speaks to the pooler without TLS: drop sslmode from DATABASE_URL and \
                 keep the pooler on a private network (beside the site, or in its VPC)"
                    .into(),
            ));
        }
        let upstream = format!("{}:{}", target.get_host(), target.get_port());
        pooler::start(upstream, self.timeout).await.map_err(|e| {
            Error::with_source(ErrorKind::ServiceUnavailable, "the database pooler relay could not start", e)
        })
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

    /// The relay speaks plain TCP to the pooler: a URL asking for TLS, or a Unix socket, is
    /// refused with the reason rather than quietly downgraded.
    #[tokio::test]
    async fn the_pooler_relay_refuses_what_it_cannot_carry() {
        for (url, says) in [
            ("postgres://app@pgbouncer.internal:6432/crm?sslmode=require", "without TLS"),
            ("postgres://app@%2Fvar%2Frun%2Fpgbouncer/crm", "not a Unix socket"),
        ] {
            let env = move |k: &str| match k {
                "DEBUG" => Some("1".to_owned()),
                "DATABASE_URL" => Some(url.to_owned()),
                "DATABASE_POOLER" => Some("transaction".to_owned()),
                _ => None,
            };
            let settings = crate::conf::Settings::from_sources(None, env).unwrap();
            let db = super::Database::from_settings(&settings, std::path::Path::new("."));
            let err = db.connection().await.unwrap_err().to_string();
            assert!(err.contains(says), "{url}: {err}");
        }
    }

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(redact("postgres://app:s3cret@db:5432/crm"), "postgres://app:***@db:5432/crm");
        assert_eq!(redact("mysql://root@127.0.0.1/test"), "mysql://root@127.0.0.1/test");
        assert_eq!(redact("sqlite://db.sqlite3?mode=rwc"), "sqlite://db.sqlite3?mode=rwc");
    }
}
