//! `manage migrate`, `migrate --target` and `showmigrations` through the built binary, on a
//! fresh SQLite file (always) and on PostgreSQL and MariaDB when their URLs are set.

use std::process::{Command, Output};

use crate::manage_bin;

fn manage(database_url: &str, args: &[&str]) -> Output {
    manage_with(database_url, &[], args)
}

/// `manage` with more of the environment (DATABASE_POOLER, say).
fn manage_with(database_url: &str, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut command = Command::new(manage_bin());
    command.args(args).env("DATABASE_URL", database_url).envs(env.iter().copied());
    command.output().expect("run manage")
}

fn stdout(out: &Output) -> String {
    assert!(out.status.success(), "manage failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

const NONE_APPLIED: &str = "cache\n [ ] 0001_initial\n [ ] 0002_exact_keys\nauth\n [ ] 0001_initial\nsessions\n [ ] 0001_initial\ntasks\n [ ] 0001_initial\n [ ] 0002_long_text\ncrm\n [ ] 0001_initial\nadmin\n [ ] 0001_initial\n";
const ALL_APPLIED: &str = "cache\n [X] 0001_initial\n [X] 0002_exact_keys\nauth\n [X] 0001_initial\nsessions\n [X] 0001_initial\ntasks\n [X] 0001_initial\n [X] 0002_long_text\ncrm\n [X] 0001_initial\nadmin\n [X] 0001_initial\n";

/// The whole cycle: nothing applied, migrate, up to date, back to zero, one app forward and back.
fn migrate_cycle(url: &str, env: &[(&str, &str)]) {
    // Start from nothing, whatever an earlier run left.
    let _ = manage_with(url, env, &["migrate", "--target", "zero"]);
    assert_eq!(stdout(&manage_with(url, env, &["showmigrations"])), NONE_APPLIED);

    let first = stdout(&manage_with(url, env, &["migrate"]));
    assert_eq!(
        first,
        "Operations to perform:\n  Apply all migrations: cache, auth, sessions, tasks, crm, admin\nRunning migrations:\n  \
         Applying cache.0001_initial... OK\n  Applying cache.0002_exact_keys... OK\n  Applying auth.0001_initial... OK\n  \
         Applying sessions.0001_initial... OK\n  Applying tasks.0001_initial... OK\n  Applying tasks.0002_long_text... OK\n  \
         Applying crm.0001_initial... OK\n  \
         Applying admin.0001_initial... OK\n"
    );
    assert_eq!(stdout(&manage_with(url, env, &["showmigrations"])), ALL_APPLIED);
    let again = stdout(&manage_with(url, env, &["migrate"]));
    assert!(again.ends_with("Running migrations:\n  No migrations to apply.\n"), "{again}");

    // Every app back to zero, the last installed first (its tables refer to the earlier ones').
    let back = stdout(&manage_with(url, env, &["migrate", "--target", "zero"]));
    assert!(back.contains("Unapply all migrations: admin, crm, tasks, sessions, auth, cache"), "{back}");
    let crm_at = back.find("Unapplying crm.0001_initial... OK").expect(&back);
    let auth_at = back.find("Unapplying auth.0001_initial... OK").expect(&back);
    assert!(crm_at < auth_at, "{back}");
    assert_eq!(stdout(&manage_with(url, env, &["showmigrations"])), NONE_APPLIED);

    // One app at a time, as Django's `migrate APP NAME`.
    let forward = stdout(&manage_with(url, env, &["migrate", "crm", "--target", "0001_initial"]));
    assert!(forward.contains("Target specific migration: 0001_initial, from crm"), "{forward}");
    assert!(forward.contains("Applying crm.0001_initial... OK") && !forward.contains("auth."), "{forward}");
    assert_eq!(
        stdout(&manage_with(url, env, &["showmigrations"])),
        "cache\n [ ] 0001_initial\n [ ] 0002_exact_keys\nauth\n [ ] 0001_initial\nsessions\n [ ] 0001_initial\ntasks\n [ ] 0001_initial\n [ ] 0002_long_text\ncrm\n [X] 0001_initial\nadmin\n [ ] 0001_initial\n"
    );
    let crm_back = stdout(&manage_with(url, env, &["migrate", "crm", "--target", "zero"]));
    assert!(crm_back.contains("Unapplying crm.0001_initial... OK"), "{crm_back}");

    let unknown = manage_with(url, env, &["migrate", "--target", "0099_nope"]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("Cannot find a migration matching '0099_nope'"));
    let ambiguous = manage_with(url, env, &["migrate", "--target", "0001_initial"]);
    assert_eq!(ambiguous.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&ambiguous.stderr).contains("More than one app has a migration '0001_initial'"));
    let no_app = manage_with(url, env, &["migrate", "billing"]);
    assert_eq!(no_app.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&no_app.stderr).contains("App 'billing' does not have migrations"));
    let _ = manage_with(url, env, &["migrate", "--target", "zero"]);
}

#[test]
fn migrate_and_showmigrations_on_sqlite() {
    let dir = std::env::temp_dir().join(format!("djambda-migrate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    migrate_cycle(&format!("sqlite://{}?mode=rwc", dir.join("db.sqlite3").display()), &[]);
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

// One test per server: the steps share its database, so they run in sequence.
#[test]
#[ignore = "needs DJAMBDA_TEST_POSTGRES_URL (a PostgreSQL database; .ci/run sets it)"]
fn migrate_and_fixtures_on_postgres() {
    let url = std::env::var("DJAMBDA_TEST_POSTGRES_URL").expect("DJAMBDA_TEST_POSTGRES_URL");
    migrate_cycle(&url, &[]);
    fixtures_round_trip(&url, &[]);
    assert!(dbshell_answers(&url, "SELECT 40 + 2;").contains("42"));
}

#[test]
#[ignore = "needs DJAMBDA_TEST_MYSQL_URL (a MySQL or MariaDB database; .ci/run sets it)"]
fn migrate_and_fixtures_on_mysql() {
    let url = std::env::var("DJAMBDA_TEST_MYSQL_URL").expect("DJAMBDA_TEST_MYSQL_URL");
    migrate_cycle(&url, &[]);
    fixtures_round_trip(&url, &[]);
    assert!(dbshell_answers(&url, "SELECT 40 + 2;").contains("42"));
}

/// The same through PgBouncer in transaction mode, DATABASE_POOLER set, in a database of its
/// own: each `manage` run is a client of its own, on whichever server connection the pooler
/// lends (without the setting the second run finds the first one's `sqlx_s_1` there).
#[test]
#[ignore = "needs DJAMBDA_TEST_PGBOUNCER_URL (PgBouncer in transaction mode in front of DJAMBDA_TEST_POSTGRES_URL; .ci/run starts one)"]
fn migrate_and_fixtures_through_pgbouncer() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let pooled = rt.block_on(crate::auth::PooledDatabase::create("migrate_pgbouncer"));
    let env = [("DATABASE_POOLER", "transaction")];
    migrate_cycle(&pooled.url, &env);
    fixtures_round_trip(&pooled.url, &env);
    rt.block_on(pooled.drop());
}

/// loaddata demo, dumpdata, and a reload of the dump giving the same dump; a bad fixture loads
/// nothing and names the record that failed.
fn fixtures_round_trip(url: &str, env: &[(&str, &str)]) {
    let _ = manage_with(url, env, &["migrate", "--target", "zero"]);
    stdout(&manage_with(url, env, &["migrate"]));
    assert_eq!(stdout(&manage_with(url, env, &["loaddata", "demo"])), "Installed 31 object(s) from 1 fixture(s)\n");
    let first = stdout(&manage_with(url, env, &["dumpdata", "--indent", "2"]));
    let records: serde_json::Value = serde_json::from_str(&first).unwrap();
    let records = records.as_array().unwrap();
    let of = |prefix: &str| records.iter().filter(|r| r["model"].as_str().unwrap().starts_with(prefix)).count();
    assert_eq!(of("crm."), 29);
    assert_eq!(of("auth.user"), 2, "the demo users");
    assert_eq!(of("auth.permission"), 44, "add, change, delete and view for the 11 models, made by migrate");
    let company = records.iter().find(|r| r["model"] == "crm.company").unwrap();
    assert_eq!(company["fields"]["name"], "Acme Logistics");
    let deals = stdout(&manage_with(url, env, &["dumpdata", "crm.deal"]));
    assert_eq!(serde_json::from_str::<serde_json::Value>(&deals).unwrap().as_array().unwrap().len(), 8);

    let dir = std::env::temp_dir().join(format!("djambda-fixture-{}-{}", std::process::id(), url.len()));
    std::fs::create_dir_all(&dir).unwrap();
    let dump = dir.join("dump.json");
    std::fs::write(&dump, &first).unwrap();
    stdout(&manage_with(url, env, &["migrate", "--target", "zero"]));
    stdout(&manage_with(url, env, &["migrate"]));
    // The permissions migrate made again are overwritten by the dump's, as Django's loaddata does.
    assert!(
        stdout(&manage_with(url, env, &["loaddata", dump.to_str().unwrap()])).starts_with("Installed 75 object(s)")
    );
    assert_eq!(
        stdout(&manage_with(url, env, &["dumpdata", "--indent", "2"])),
        first,
        "a dump reloads to the same dump"
    );

    // A contact missing its email, after two good records: nothing of the fixture is loaded.
    stdout(&manage_with(url, env, &["migrate", "--target", "zero"]));
    stdout(&manage_with(url, env, &["migrate"]));
    let bad = dir.join("bad.json");
    std::fs::write(
        &bad,
        r#"[{"model": "crm.company", "pk": 1, "fields": {"slug": "a", "name": "A", "industry": "x", "city": "y", "website": "z"}},
            {"model": "crm.contact", "pk": 1, "fields": {"company_id": 1, "first_name": "Ann", "last_name": "Lee", "title": "CEO", "email": "ann@a.example", "phone": "1"}},
            {"model": "crm.contact", "pk": 2, "fields": {"company_id": 1, "first_name": "Bo", "last_name": "Ng", "title": "CTO", "phone": "2"}}]"#,
    )
    .unwrap();
    let failed = manage_with(url, env, &["loaddata", bad.to_str().unwrap()]);
    assert_eq!(failed.status.code(), Some(1));
    let err = String::from_utf8_lossy(&failed.stderr);
    assert!(err.contains("record 3") && err.contains("crm.contact pk=2") && err.contains("email"), "{err}");
    assert_eq!(
        stdout(&manage_with(url, env, &["dumpdata", "crm"])).trim(),
        "[]",
        "a failed load leaves nothing behind"
    );
    let unknown = manage_with(url, env, &["loaddata", "no_such_fixture"]);
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("No fixture named 'no_such_fixture' found."));
    let _ = std::fs::remove_dir_all(&dir);
    let _ = manage_with(url, env, &["migrate", "--target", "zero"]);
}

#[test]
fn loaddata_and_dumpdata_on_sqlite() {
    let dir = std::env::temp_dir().join(format!("djambda-fixtures-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    fixtures_round_trip(&format!("sqlite://{}?mode=rwc", dir.join("db.sqlite3").display()), &[]);
    let _ = std::fs::remove_dir_all(&dir);
}

/// What the database's own client prints for `sql` typed into `manage dbshell`.
fn dbshell_answers(url: &str, sql: &str) -> String {
    use std::io::Write;
    let mut child = Command::new(manage_bin())
        .arg("dbshell")
        .env("DATABASE_URL", url)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(sql.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "dbshell: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn dbshell_opens_the_databases_own_client() {
    use std::io::Write;
    let mut child = Command::new(manage_bin())
        .arg("dbshell")
        .env("DATABASE_URL", crate::demo_db())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"SELECT COUNT(*) FROM company;\n").unwrap();
    let out = child.wait_with_output().unwrap();
    let have_sqlite3 = Command::new("sqlite3").arg("-version").output().is_ok();
    if have_sqlite3 {
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "5", "sqlite3 opened the demo database");
    } else {
        assert_eq!(out.status.code(), Some(1));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("You appear not to have the 'sqlite3' program installed")
        );
    }
}

#[test]
fn site_commands_are_listed_and_run() {
    let help = Command::new(manage_bin()).arg("--help").output().unwrap();
    assert!(String::from_utf8_lossy(&help.stdout).contains("pipeline_report"), "--help lists the site's own command");
    let report = stdout(&manage(crate::demo_db(), &["pipeline_report"]));
    assert!(report.contains("Negotiation") && report.contains("Open pipeline: $176,200.00"), "{report}");
    let won = stdout(&manage(crate::demo_db(), &["pipeline_report", "--stage", "won"]));
    assert!(won.starts_with("Won deals (1):") && won.contains("Warehouse scanners"), "{won}");
    let bad = manage(crate::demo_db(), &["pipeline_report", "--stage", "maybe"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown stage `maybe`"));
}
