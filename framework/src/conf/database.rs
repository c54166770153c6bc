//! How an SQLite database is opened (Django's `DATABASES["default"]["OPTIONS"]` for SQLite:
//! `timeout`, and the journal mode its `init_command` is usually asked to set).

use std::time::Duration;

use super::Group;

/// What stands between the site and its PostgreSQL server (DATABASE_POOLER).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Pooler {
    /// Nothing, or a pooler in session mode (the default): each connection of the pool is one
    /// server session.
    #[default]
    None,
    /// `transaction`: DATABASE_URL is a pooler that lends a server connection one transaction
    /// at a time (PgBouncer's `pool_mode = transaction`). The site then keeps no prepared
    /// statement on the server between messages: see the README's "Scaling out".
    Transaction,
}

impl Pooler {
    /// Reads the setting's value: `transaction`, or empty, `none` or `session` (a pooler in
    /// session mode needs nothing).
    pub(crate) fn parse(raw: &str) -> Result<Pooler, String> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "" | "none" | "session" => Ok(Pooler::None),
            "transaction" => Ok(Pooler::Transaction),
            other => Err(format!(
                "DATABASE_POOLER must be \"transaction\" (PgBouncer in transaction mode) or \"none\" (got {other:?})"
            )),
        }
    }
}

/// SQLite's journal mode (SQLITE_JOURNAL_MODE).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JournalMode {
    /// `wal` (the default): readers never block the writer and the writer never blocks readers,
    /// so a backup or an open `sqlite3` shell does not stall the site's saves.
    Wal,
    /// `delete`: SQLite's own default, a rollback journal. A reader holds off every commit.
    Delete,
    /// `truncate`: a rollback journal emptied rather than deleted.
    Truncate,
    /// `persist`: a rollback journal whose header is zeroed.
    Persist,
    /// `memory`: the rollback journal kept in memory (a crash mid-commit can corrupt the file).
    Memory,
    /// `off`: no journal; no rollback and no atomic commit. For throwaway databases only.
    Off,
}

impl JournalMode {
    /// The name SQLite's `PRAGMA journal_mode` takes.
    pub fn as_str(self) -> &'static str {
        match self {
            JournalMode::Wal => "wal",
            JournalMode::Delete => "delete",
            JournalMode::Truncate => "truncate",
            JournalMode::Persist => "persist",
            JournalMode::Memory => "memory",
            JournalMode::Off => "off",
        }
    }
}

/// The SQLite settings; ignored for PostgreSQL and MySQL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sqlite {
    /// SQLITE_JOURNAL_MODE (`wal`): see [`JournalMode`].
    pub journal_mode: JournalMode,
    /// SQLITE_BUSY_TIMEOUT in seconds (5, Django's `timeout`): how long a statement waits for
    /// another connection's lock before the database counts as busy (a 503 with Retry-After).
    pub busy_timeout: Duration,
}

impl Default for Sqlite {
    fn default() -> Self {
        Sqlite { journal_mode: JournalMode::Wal, busy_timeout: Duration::from_secs(5) }
    }
}

impl Group for Sqlite {
    const KEYS: &'static [&'static str] = &["SQLITE_JOURNAL_MODE", "SQLITE_BUSY_TIMEOUT"];

    fn apply(&mut self, key: &str, raw: &str) -> Result<(), String> {
        match key {
            "SQLITE_JOURNAL_MODE" => {
                self.journal_mode = match raw.trim().to_ascii_lowercase().as_str() {
                    "wal" => JournalMode::Wal,
                    "delete" => JournalMode::Delete,
                    "truncate" => JournalMode::Truncate,
                    "persist" => JournalMode::Persist,
                    "memory" => JournalMode::Memory,
                    "off" => JournalMode::Off,
                    _ => {
                        return Err(format!(
                            "{key} must be one of wal, delete, truncate, persist, memory, off (got {raw:?})"
                        ));
                    }
                }
            }
            "SQLITE_BUSY_TIMEOUT" => {
                self.busy_timeout = raw
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|s| *s >= 0.0 && *s < 3600.0)
                    .map(Duration::from_secs_f64)
                    .ok_or_else(|| format!("{key} must be a number of seconds (got {raw:?})"))?
            }
            _ => return Err(format!("{key} is not an SQLite setting")),
        }
        Ok(())
    }
}
