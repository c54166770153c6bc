//! The slow-down after repeated failed logins for one username: after LOGIN_FAILURE_LIMIT
//! failures in a row, each further attempt must wait, twice as long each time (1 s, 2 s, 4 s…,
//! at most 15 minutes). Counted in the database, so every Lambda instance agrees.

use chrono::Utc;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use super::models::login_failure;
use crate::error::Result;

const MAX_WAIT_SECS: i64 = 15 * 60;

fn key(username: &str) -> String {
    username.trim().to_lowercase().chars().take(150).collect()
}

/// How many seconds the next attempt for `username` must still wait, if any.
pub(crate) async fn wait<C: ConnectionTrait>(db: &C, username: &str, limit: u32) -> Result<Option<i64>> {
    let row = login_failure::Entity::find().filter(login_failure::Column::Username.eq(key(username))).one(db).await?;
    let Some(row) = row else { return Ok(None) };
    let over = row.failures - limit as i32;
    if over < 0 {
        return Ok(None);
    }
    let delay = 1i64.checked_shl(over.min(20) as u32).unwrap_or(MAX_WAIT_SECS).min(MAX_WAIT_SECS);
    let ready = row.last_failure + chrono::Duration::seconds(delay);
    let left = (ready - Utc::now()).num_milliseconds();
    Ok((left > 0).then(|| (left + 999) / 1000))
}

/// Counts a failed login for `username`.
pub(crate) async fn record_failure<
    C: ConnectionTrait + sea_orm::TransactionTrait<Transaction = sea_orm::DatabaseTransaction>,
>(
    db: &C,
    username: &str,
) -> Result<()> {
    let key = key(username);
    let existing = login_failure::Entity::find().filter(login_failure::Column::Username.eq(&key)).one(db).await?;
    let failures = existing.map_or(1, |r| r.failures.saturating_add(1));
    let row = login_failure::ActiveModel {
        username: ActiveValue::Set(key),
        failures: ActiveValue::Set(failures),
        last_failure: ActiveValue::Set(Utc::now()),
        ..Default::default()
    };
    // Committed explicitly: on SQLite the insert reads its key back, and an implicit commit's
    // failure after that would go unreported.
    crate::db::atomic(db, |txn| {
        Box::pin(async move {
            login_failure::Entity::insert(row)
                .on_conflict(
                    OnConflict::column(login_failure::Column::Username)
                        .update_columns([login_failure::Column::Failures, login_failure::Column::LastFailure])
                        .to_owned(),
                )
                .exec(txn)
                .await?;
            Ok(())
        })
    })
    .await
}

/// Forgets the failures of `username` (after a successful login).
pub(crate) async fn clear<C: ConnectionTrait>(db: &C, username: &str) -> Result<()> {
    login_failure::Entity::delete_many().filter(login_failure::Column::Username.eq(key(username))).exec(db).await?;
    Ok(())
}
