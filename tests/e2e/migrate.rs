//! `manage migrate`, `migrate --target` and `showmigrations` through the built binary, on a
//! fresh SQLite file (always) and on PostgreSQL and MariaDB when their URLs are set.

use std::process::{Command, Output};

use crate::manage_bin;

fn manage(database_url: &str, args: &[&str]) -> Output {
    Command::new(manage_bin()).args(args).env("DATABASE_URL", database_url).output().expect("run manage")
}

fn stdout(out: &Output) -> String {
    assert!(out.status.success(), "manage failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The whole cycle: nothing applied, migrate, up to date, back to zero, forward to a target.
fn migrate_cycle(url: &str) {
    // Start from nothing, whatever an earlier run left.
    let _ = manage(url, &["migrate", "--target", "zero"]);
    assert_eq!(stdout(&manage(url, &["showmigrations"])), "crm\n [ ] 0001_initial\n");

    let first = stdout(&manage(url, &["migrate"]));
    assert_eq!(
        first,
        "Operations to perform:\n  Apply all migrations: crm\nRunning migrations:\n  Applying crm.0001_initial... OK\n"
    );
    assert_eq!(stdout(&manage(url, &["showmigrations"])), "crm\n [X] 0001_initial\n");
    let again = stdout(&manage(url, &["migrate"]));
    assert!(again.ends_with("Running migrations:\n  No migrations to apply.\n"), "{again}");

    let back = stdout(&manage(url, &["migrate", "--target", "zero"]));
    assert!(
        back.contains("Target specific migration: zero, from crm")
            && back.contains("Unapplying crm.0001_initial... OK"),
        "{back}"
    );
    assert_eq!(stdout(&manage(url, &["showmigrations"])), "crm\n [ ] 0001_initial\n");
    let forward = stdout(&manage(url, &["migrate", "--target", "0001_initial"]));
    assert!(forward.contains("Applying crm.0001_initial... OK"), "{forward}");

    let unknown = manage(url, &["migrate", "--target", "0099_nope"]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("Cannot find a migration matching '0099_nope'"));
    let _ = manage(url, &["migrate", "--target", "zero"]);
}

#[test]
fn migrate_and_showmigrations_on_sqlite() {
    let dir = std::env::temp_dir().join(format!("djambda-migrate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    migrate_cycle(&format!("sqlite://{}?mode=rwc", dir.join("db.sqlite3").display()));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn migrate_with_the_database_down_is_a_clear_error() {
    let out = Command::new(manage_bin())
        .arg("migrate")
        .env("DATABASE_URL", "postgres://app:hunter2@127.0.0.1:1/crm")
        .env("DATABASE_CONNECT_TIMEOUT", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("CommandError") && err.contains("unavailable") && !err.contains("hunter2"), "{err}");
}

#[test]
#[ignore = "needs DJAMBDA_TEST_POSTGRES_URL (a PostgreSQL database; .ci/run sets it)"]
fn migrate_on_postgres() {
    migrate_cycle(&std::env::var("DJAMBDA_TEST_POSTGRES_URL").expect("DJAMBDA_TEST_POSTGRES_URL"));
}

#[test]
#[ignore = "needs DJAMBDA_TEST_MYSQL_URL (a MySQL or MariaDB database; .ci/run sets it)"]
fn migrate_on_mysql() {
    migrate_cycle(&std::env::var("DJAMBDA_TEST_MYSQL_URL").expect("DJAMBDA_TEST_MYSQL_URL"));
}
