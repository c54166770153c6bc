//! The database backend: tasks are rows of `djambda_task`, claimed by workers (`manage
//! runworker`, the Lambda drain) so that no task runs twice at once, however many workers run.
//!
//! A claim marks rows `running` with a token of its own and a lease. On PostgreSQL and MySQL
//! the rows are chosen with `SELECT … FOR UPDATE SKIP LOCKED`, so concurrent workers pass over
//! each other's rows instead of waiting; SQLite takes one writer at a time, and the claim is a
//! single `UPDATE … RETURNING`, so two workers cannot take one row. Only the holder of the
//! token may finish the task. A worker that stops mid-task (killed, or its Lambda invocation
//! timed out) leaves the row `running` until its lease runs out; then another worker takes it
//! over as a new attempt.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseBackend, EntityTrait, FromQueryResult, QueryFilter,
    QuerySelect, Statement,
};
use serde_json::Value;

use super::models::task;
use super::worker::{Outcome, SAFETY, execute};
use super::{Registered, Registry, TaskContext, TaskResult, TaskStatus, new_id};
use crate::db::atomic;
use crate::error::{Error, Result};
use crate::site::Site;

pub(crate) async fn enqueue(site: &Site, task: &Arc<Registered>, payload: Value) -> Result<TaskResult> {
    insert(site, task, payload, TaskStatus::Queued).await
}

/// Writes the task's row (the database backend's queue entry, or the SQS backend's result).
pub(crate) async fn insert(
    site: &Site,
    task: &Arc<Registered>,
    payload: Value,
    status: TaskStatus,
) -> Result<TaskResult> {
    let now = Utc::now();
    let row = task::Model {
        id: new_id(),
        task_name: task.name.clone(),
        payload: payload.to_string(),
        status: status.as_str().to_owned(),
        attempts: 0,
        max_attempts: i32::try_from(task.options.max_attempts).unwrap_or(i32::MAX),
        run_after: now,
        enqueued_at: now,
        started_at: None,
        finished_at: None,
        lease_expires_at: None,
        claim: None,
        error: None,
    };
    let db = site.database().connection().await?;
    let active = task::ActiveModel {
        id: Set(row.id.clone()),
        task_name: Set(row.task_name.clone()),
        payload: Set(row.payload.clone()),
        status: Set(row.status.clone()),
        attempts: Set(row.attempts),
        max_attempts: Set(row.max_attempts),
        run_after: Set(row.run_after),
        enqueued_at: Set(row.enqueued_at),
        started_at: Set(None),
        finished_at: Set(None),
        lease_expires_at: Set(None),
        claim: Set(None),
        error: Set(None),
    };
    // Acknowledged once committed: an explicit commit reports its failure.
    atomic(&db, |txn| {
        Box::pin(async move {
            task::Entity::insert(active).exec_without_returning(txn).await.map_err(table_error)?;
            Ok(())
        })
    })
    .await?;
    Ok(TaskResult::from_row(row))
}

pub(crate) async fn get_result(site: &Site, id: &str) -> Result<Option<TaskResult>> {
    // Ids are 32 hex digits: anything else names no task, and never reaches the database.
    if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(None);
    }
    let db = site.database().connection().await?;
    let row = task::Entity::find_by_id(id.to_owned()).one(&db).await.map_err(table_error)?;
    Ok(row.map(TaskResult::from_row))
}

/// How long a claim holds its rows: the longest declared timeout, and a minute to write the
/// outcome down.
fn lease(site: &Site) -> Duration {
    let longest = site
        .state::<Registry>()
        .and_then(|r| r.0.values().map(|t| t.options.timeout).max())
        .unwrap_or(Duration::from_secs(300));
    longest + Duration::from_secs(60)
}

/// Claims up to `n` due tasks for this worker: they are `running`, with one more attempt, a
/// lease, and this claim's token. A claim that lost a deadlock to another worker's (InnoDB
/// reports one when two claims lock overlapping rows) was rolled back whole, and is made again.
pub(crate) async fn claim(site: &Site, n: u32) -> Result<Vec<task::Model>> {
    again_when_busy(|| claim_once(site, n)).await
}

/// Runs `work` again (up to 5 more times, a little later each time) while the database says it
/// was busy: what a deadlock or a lock timeout rolled back can be done again as it was.
async fn again_when_busy<T, F, Fut>(mut work: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let mut tries = 0u32;
    loop {
        match work().await {
            Err(e) if tries < 5 && is_busy(&e) => {
                tries += 1;
                tokio::time::sleep(LOCKED_RETRY * tries).await;
            }
            done => return done,
        }
    }
}

/// Whether `e` is the database's deadlock, serialization failure or lock timeout: nothing was
/// written, and the same statements may be run again.
fn is_busy(e: &Error) -> bool {
    e.source().and_then(|s| s.downcast_ref::<sea_orm::DbErr>()).is_some_and(crate::error::is_busy_error)
}

async fn claim_once(site: &Site, n: u32) -> Result<Vec<task::Model>> {
    let db = site.database().connection().await?;
    let backend = db.get_database_backend();
    let token = new_id();
    let now = Utc::now();
    let lease_ends = now + chrono::Duration::from_std(lease(site)).unwrap_or(chrono::Duration::hours(1));
    let limit = i64::from(n.max(1));
    let set = "status = 'running', attempts = attempts + 1, claim = {token}, started_at = {now}, \
               lease_expires_at = {lease}";
    // Due: queued and past its backoff, or running on a worker whose lease ran out.
    let due = "(status = 'queued' AND run_after <= {now}) OR (status = 'running' AND lease_expires_at < {now})";
    let rows = match backend {
        DatabaseBackend::Postgres => {
            let sql = format!(
                "UPDATE djambda_task SET {set} WHERE id IN (SELECT id FROM djambda_task WHERE {due} \
                 ORDER BY run_after, enqueued_at LIMIT $4 FOR UPDATE SKIP LOCKED) RETURNING *"
            )
            .replace("{token}", "$1")
            .replace("{now}", "$2")
            .replace("{lease}", "$3");
            let stmt = Statement::from_sql_and_values(
                backend,
                sql,
                [token.clone().into(), now.into(), lease_ends.into(), limit.into()],
            );
            atomic(&db, |txn| {
                Box::pin(async move { task::Model::find_by_statement(stmt).all(txn).await.map_err(table_error) })
            })
            .await?
        }
        DatabaseBackend::Sqlite => {
            // One statement, and SQLite runs one writer at a time: the rows it picks are still
            // due when it marks them.
            let sql = format!(
                "UPDATE djambda_task SET {set} WHERE id IN (SELECT id FROM djambda_task WHERE {due} \
                 ORDER BY run_after, enqueued_at LIMIT ?4) RETURNING *"
            )
            .replace("{token}", "?1")
            .replace("{now}", "?2")
            .replace("{lease}", "?3");
            let stmt = Statement::from_sql_and_values(
                backend,
                sql,
                [token.clone().into(), now.into(), lease_ends.into(), limit.into()],
            );
            atomic(&db, |txn| {
                Box::pin(async move { task::Model::find_by_statement(stmt).all(txn).await.map_err(table_error) })
            })
            .await?
        }
        DatabaseBackend::MySql => {
            // MySQL has no UPDATE … RETURNING: lock the rows (skipping those another worker
            // holds), mark them, then read them back by id.
            let pick = Statement::from_sql_and_values(
                backend,
                format!(
                    "SELECT id FROM djambda_task WHERE {} ORDER BY run_after, enqueued_at LIMIT ? FOR UPDATE SKIP LOCKED",
                    due.replace("{now}", "?")
                ),
                [now.into(), now.into(), limit.into()],
            );
            let token_for_update = token.clone();
            atomic(&db, |txn| {
                Box::pin(async move {
                    let ids: Vec<String> = txn
                        .query_all_raw(pick)
                        .await
                        .map_err(table_error)?
                        .iter()
                        .filter_map(|r| r.try_get::<String>("", "id").ok())
                        .collect();
                    if ids.is_empty() {
                        return Ok(Vec::new());
                    }
                    let marks = vec!["?"; ids.len()].join(", ");
                    let mut values: Vec<sea_orm::Value> = vec![token_for_update.into(), now.into(), lease_ends.into()];
                    values.extend(ids.iter().cloned().map(Into::into));
                    let sql = format!("UPDATE djambda_task SET {set} WHERE id IN ({marks})")
                        .replacen("{token}", "?", 1)
                        .replacen("{now}", "?", 1)
                        .replacen("{lease}", "?", 1);
                    txn.execute_raw(Statement::from_sql_and_values(backend, sql, values)).await.map_err(table_error)?;
                    task::Entity::find().filter(task::Column::Id.is_in(ids)).all(txn).await.map_err(table_error)
                })
            })
            .await?
        }
        other => {
            return Err(Error::internal(format!("the database backend of tasks does not know {other:?}")));
        }
    };
    Ok(rows)
}

/// Whether any task is due, read without locking: a claim that came back empty while this is
/// true found the due rows locked by another worker's claim still in flight (on MySQL a claim
/// locks every row it scans, not only those it takes), not an empty queue.
pub(crate) async fn any_due(site: &Site) -> Result<bool> {
    let db = site.database().connection().await?;
    let now = Utc::now();
    let due = sea_orm::Condition::any()
        .add(
            sea_orm::Condition::all()
                .add(task::Column::Status.eq(TaskStatus::Queued.as_str()))
                .add(task::Column::RunAfter.lte(now)),
        )
        .add(
            sea_orm::Condition::all()
                .add(task::Column::Status.eq(TaskStatus::Running.as_str()))
                .add(task::Column::LeaseExpiresAt.lt(now)),
        );
    let first = task::Entity::find()
        .select_only()
        .column(task::Column::Id)
        .filter(due)
        .into_tuple::<String>()
        .one(&db)
        .await
        .map_err(table_error)?;
    Ok(first.is_some())
}

/// How long a worker waits before claiming again when the due tasks were all locked by another
/// claim: such a claim is three short statements.
pub(crate) const LOCKED_RETRY: Duration = Duration::from_millis(20);

/// What a worker did with the tasks it claimed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Drained {
    pub(crate) succeeded: u64,
    pub(crate) retried: u64,
    pub(crate) failed: u64,
    /// Finished by another worker after this one's lease ran out: not written down here.
    pub(crate) lost: u64,
    /// Run, but how it went could not be written down (the database failed): each runs again
    /// once its lease is over.
    pub(crate) unrecorded: u64,
}

impl Drained {
    pub(crate) fn total(&self) -> u64 {
        self.succeeded + self.retried + self.failed + self.lost + self.unrecorded
    }

    pub(crate) fn add(&mut self, other: Finished) {
        match other {
            Finished::Succeeded => self.succeeded += 1,
            Finished::Retried => self.retried += 1,
            Finished::Failed => self.failed += 1,
            Finished::Lost => self.lost += 1,
            Finished::Unrecorded => self.unrecorded += 1,
        }
    }

    /// An error when some outcome could not be written down: a run that ends with one has not
    /// done what it says.
    pub(crate) fn check(&self) -> Result<()> {
        if self.unrecorded == 0 {
            return Ok(());
        }
        Err(Error::new(
            crate::error::ErrorKind::ServiceUnavailable,
            format!(
                "{} task(s) ran but how they went could not be written to the task table (see the errors above); \
                 they run again once their lease is over",
                self.unrecorded
            ),
        ))
    }
}

/// How one claimed task ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Finished {
    Succeeded,
    Retried,
    Failed,
    Lost,
    Unrecorded,
}

/// Runs one claimed task and writes down how it went. Never fails: a database error on the
/// way out is logged, and the lease hands the task to another worker later.
pub(crate) async fn process(site: &Site, row: task::Model) -> Finished {
    let attempt = u32::try_from(row.attempts).unwrap_or(1);
    let max_attempts = u32::try_from(row.max_attempts).unwrap_or(1);
    let token = row.claim.clone().unwrap_or_default();
    let outcome = if attempt > max_attempts {
        // Taken over from a worker that stopped during the last attempt.
        Outcome::Failed {
            error: format!("the worker running attempt {max_attempts} stopped before it finished (its lease ran out)"),
            retry: false,
        }
    } else {
        match serde_json::from_str::<Value>(&row.payload) {
            Ok(payload) => {
                let ctx = TaskContext { site: site.clone(), id: row.id.clone(), attempt };
                execute(ctx, &row.task_name, payload).await
            }
            Err(e) => Outcome::Failed { error: format!("the stored payload is not JSON: {e}"), retry: false },
        }
    };
    let backoff =
        site.state::<Registry>().and_then(|r| r.0.get(&row.task_name)).map(|t| t.options.backoff).unwrap_or_default();
    let (finished, update) = match &outcome {
        Outcome::Succeeded => (Finished::Succeeded, Update::Succeeded),
        Outcome::Failed { error, retry } if *retry && attempt < max_attempts => {
            (Finished::Retried, Update::Retry { error: error.clone(), delay: backoff.delay(attempt) })
        }
        Outcome::Failed { error, .. } => (Finished::Failed, Update::Failed { error: error.clone() }),
    };
    match &outcome {
        Outcome::Succeeded => println!("task {} ({}) succeeded, attempt {attempt}", row.task_name, row.id),
        Outcome::Failed { error, .. } => {
            let next = if finished == Finished::Retried { "will be retried" } else { "failed for good" };
            eprintln!("task {} ({}) attempt {attempt} of {max_attempts} {next}: {error}", row.task_name, row.id);
        }
    }
    let attempts = i32::try_from(attempt.min(max_attempts)).unwrap_or(i32::MAX);
    match record(site, &row.id, Some(&token), attempts, update).await {
        Ok(true) => finished,
        Ok(false) => {
            eprintln!("task {} ({}): another worker took it over meanwhile (its lease ran out)", row.task_name, row.id);
            Finished::Lost
        }
        Err(e) => {
            eprintln!("task {} ({}): could not record how it went: {e}", row.task_name, row.id);
            Finished::Unrecorded
        }
    }
}

/// What becomes of a task's row after an attempt.
pub(crate) enum Update {
    /// An attempt started (the SQS consumer's; a claim marks database rows itself).
    #[cfg_attr(not(feature = "sqs"), allow(dead_code))]
    Running,
    Succeeded,
    Retry {
        error: String,
        delay: Duration,
    },
    Failed {
        error: String,
    },
}

/// Writes an attempt's outcome on the task's row, if `claim` still holds it (any holder when
/// `None`). Returns whether the row was written.
pub(crate) async fn record(site: &Site, id: &str, claim: Option<&str>, attempts: i32, update: Update) -> Result<bool> {
    let db = site.database().connection().await?;
    let now = Utc::now();
    let mut query = task::Entity::update_many()
        .col_expr(task::Column::Attempts, Expr::value(attempts))
        .filter(task::Column::Id.eq(id));
    query = match update {
        Update::Running => query
            .col_expr(task::Column::Status, Expr::value(TaskStatus::Running.as_str()))
            .col_expr(task::Column::StartedAt, Expr::value(now)),
        Update::Succeeded => query
            .col_expr(task::Column::Status, Expr::value(TaskStatus::Succeeded.as_str()))
            .col_expr(task::Column::FinishedAt, Expr::value(now)),
        Update::Retry { error, delay } => query
            .col_expr(task::Column::Status, Expr::value(TaskStatus::Queued.as_str()))
            .col_expr(
                task::Column::RunAfter,
                Expr::value(now + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::hours(1))),
            )
            .col_expr(task::Column::Error, Expr::value(error)),
        Update::Failed { error } => query
            .col_expr(task::Column::Status, Expr::value(TaskStatus::Failed.as_str()))
            .col_expr(task::Column::FinishedAt, Expr::value(now))
            .col_expr(task::Column::Error, Expr::value(error)),
    };
    if let Some(claim) = claim {
        query = query
            .filter(task::Column::Claim.eq(claim))
            .col_expr(task::Column::Claim, Expr::value(Option::<String>::None))
            .col_expr(task::Column::LeaseExpiresAt, Expr::value(Option::<chrono::DateTime<Utc>>::None));
    }
    // One row by its key, written alike however often: a deadlock lost to a claim is retried
    // here rather than leaving the task to its lease (and to a second run).
    let written = again_when_busy(|| {
        let attempt = query.clone();
        atomic(&db, |txn| Box::pin(async move { attempt.exec(txn).await.map_err(table_error) }))
    })
    .await?;
    Ok(written.rows_affected > 0)
}

/// The Lambda drain: runs due tasks one by one until none is due or the invocation's deadline
/// nears.
pub(crate) async fn drain(site: &Site) -> Result<Drained> {
    let mut drained = Drained::default();
    loop {
        if let Some(deadline) = crate::site::invocation_deadline()
            && deadline.saturating_duration_since(std::time::Instant::now()) < SAFETY * 3
        {
            break;
        }
        match claim(site, 1).await?.pop() {
            Some(row) => drained.add(process(site, row).await),
            None if any_due(site).await? => tokio::time::sleep(LOCKED_RETRY).await,
            None => break,
        }
    }
    drained.check()?;
    Ok(drained)
}

/// An error of the tasks table, sorted like every database error: unreachable or busy is a 503.
pub(crate) fn table_error(e: sea_orm::DbErr) -> Error {
    if crate::error::is_busy_error(&e) {
        return Error::with_source(
            crate::error::ErrorKind::ServiceUnavailable,
            "the task table was busy (a deadlock or a lock held too long by another worker); nothing was written, try again",
            e,
        );
    }
    let kind = if crate::db::is_unavailable(&e) {
        crate::error::ErrorKind::ServiceUnavailable
    } else {
        crate::error::ErrorKind::Internal
    };
    Error::with_source(
        kind,
        "the task table could not be read or written (the tasks app's table needs `manage migrate`)",
        e,
    )
}
