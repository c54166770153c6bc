//! The slow-down after repeated failed logins: after LOGIN_FAILURE_LIMIT failures in a row for
//! one username *from one client address*, each further attempt from there must wait, twice as
//! long each time (1 s, 2 s, 4 s…, at most 15 minutes). Keyed on both, so a stranger guessing
//! a user's password slows only themselves and cannot lock the user out from their own
//! address. Counted in the database, so every Lambda instance agrees; the auth app's
//! `prune-login-failures` schedule (and `manage clearloginfailures`) removes rows a day old.

use std::net::IpAddr;

use chrono::Utc;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ActiveValue, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use super::models::login_failure;
use crate::error::Result;

const MAX_WAIT_SECS: i64 = 15 * 60;

/// How long a failure row is kept after its last failure: longer than the longest wait, so a
/// guesser's count keeps growing through a day, then forgotten.
pub(crate) const KEEP_FOR: chrono::TimeDelta = chrono::TimeDelta::days(1);

/// Who is trying: the client's address (IPv6 by its /64, what one client holds) and the
/// username, in the `username` column (150 characters).
fn key(username: &str, client: Option<IpAddr>) -> String {
    // An IPv4 client of a server listening on `[::]` arrives as `::ffff:a.b.c.d`.
    let from = match client.map(|ip| ip.to_canonical()) {
        Some(IpAddr::V4(v4)) => v4.to_string(),
        Some(IpAddr::V6(v6)) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        None => "-".into(),
    };
    format!("{from} {}", username.trim().to_lowercase()).chars().take(150).collect()
}

/// How many seconds the next attempt for `username` from `client` must still wait, if any.
pub(crate) async fn wait<C: ConnectionTrait>(
    db: &C,
    username: &str,
    client: Option<IpAddr>,
    limit: u32,
) -> Result<Option<i64>> {
    let row =
        login_failure::Entity::find().filter(login_failure::Column::Username.eq(key(username, client))).one(db).await?;
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

/// Counts a failed login for `username` from `client`.
pub(crate) async fn record_failure<
    C: ConnectionTrait + sea_orm::TransactionTrait<Transaction = sea_orm::DatabaseTransaction>,
>(
    db: &C,
    username: &str,
    client: Option<IpAddr>,
) -> Result<()> {
    let key = key(username, client);
    let row = login_failure::ActiveModel {
        username: ActiveValue::Set(key),
        failures: ActiveValue::Set(1),
        last_failure: ActiveValue::Set(Utc::now()),
        ..Default::default()
    };
    // Committed explicitly: on SQLite the insert reads its key back, and an implicit commit's
    // failure after that would go unreported.
    crate::db::atomic(db, |txn| {
        Box::pin(async move {
            login_failure::Entity::insert(row)
                // Counted by the database (`failures = failures + 1`), not read then written
                // back: guesses sent in parallel each count.
                .on_conflict(
                    OnConflict::column(login_failure::Column::Username)
                        .value(
                            login_failure::Column::Failures,
                            // Qualified: in PostgreSQL's DO UPDATE a bare `failures` is ambiguous.
                            sea_orm::sea_query::ExprTrait::add(
                                Expr::col((login_failure::Entity, login_failure::Column::Failures)),
                                1,
                            ),
                        )
                        .update_column(login_failure::Column::LastFailure)
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
pub(crate) async fn clear<C: ConnectionTrait>(db: &C, username: &str, client: Option<IpAddr>) -> Result<()> {
    login_failure::Entity::delete_many()
        .filter(login_failure::Column::Username.eq(key(username, client)))
        .exec(db)
        .await?;
    Ok(())
}

/// Deletes the failure rows whose last failure is older than [`KEEP_FOR`]; how many went.
pub(crate) async fn prune<C: ConnectionTrait>(db: &C) -> Result<u64> {
    let gone = login_failure::Entity::delete_many()
        .filter(login_failure::Column::LastFailure.lt(Utc::now() - KEEP_FOR))
        .exec(db)
        .await?;
    Ok(gone.rows_affected)
}

/// `manage clearloginfailures`: [`prune`] from the command line (a cron job beside runserver).
pub(super) fn command() -> crate::site::commands::SiteCommand {
    let cli = clap::Command::new("clearloginfailures")
        .about("Deletes failed-login counts whose last failure is more than a day old.");
    crate::site::commands::SiteCommand::new(cli, |site, _args| {
        Box::pin(async move {
            let gone = prune(&site.database().connection().await?).await?;
            println!("Deleted {gone} old failed-login count(s).");
            Ok(())
        })
    })
}

#[cfg(test)]
mod tests {
    use super::key;

    #[test]
    fn one_client_one_key_whichever_way_its_address_is_written() {
        let v4 = key("Demo", Some("203.0.113.9".parse().unwrap()));
        assert_eq!(v4, key("demo ", Some("::ffff:203.0.113.9".parse().unwrap())), "IPv4 through a [::] listener");
        assert_ne!(v4, key("demo", Some("203.0.113.10".parse().unwrap())));
        let v6 = key("demo", Some("2001:db8:1:2::5".parse().unwrap()));
        assert_eq!(v6, key("demo", Some("2001:db8:1:2:ffff::9".parse().unwrap())), "one /64, one client");
        assert_ne!(v6, key("demo", Some("2001:db8:1:3::5".parse().unwrap())));
    }
}
