//! The database layer against real SQLite, PostgreSQL and MariaDB/MySQL: lazy connection, a
//! 503 while the database is down and recovery once it is up, `atomic` rollback, and
//! `get_object_or_404`.
//!
//! SQLite always runs. PostgreSQL and MySQL run when DJAMBDA_TEST_POSTGRES_URL and
//! DJAMBDA_TEST_MYSQL_URL are set (.ci/run sets them for the servers of its machine).

use djambda::Site;
use djambda::db::sea_orm::{ConnectionTrait, Statement};
use djambda::db::{TxFuture, atomic};
use djambda::prelude::*;
use djambda::test::Client;

/// A table name per test run, so concurrent runs on one server do not meet.
fn table() -> String {
    format!("djambda_visit_{}", std::process::id())
}

async fn count(db: &impl ConnectionTrait, table: &str) -> Result<i64> {
    let sql = format!("SELECT COUNT(*) AS c FROM {table}");
    let row = db.query_one_raw(Statement::from_string(db.get_database_backend(), sql)).await?;
    let row = row.ok_or_else(|| Error::internal("COUNT(*) returned no row"))?;
    Ok(row.try_get::<i64>("", "c")?)
}

async fn visit(req: Request) -> Result<Response> {
    let db = req.db().await?;
    let table = table();
    db.execute_unprepared(&format!("CREATE TABLE IF NOT EXISTS {table} (n INTEGER NOT NULL)")).await?;
    db.execute_unprepared(&format!("INSERT INTO {table} (n) VALUES (1)")).await?;
    Ok(Response::text(count(&db, &table).await?.to_string()))
}

async fn failing_write(req: Request) -> Result<Response> {
    let db = req.db().await?;
    let table = table();
    let result: Result<()> = atomic(&db, |txn| -> TxFuture<'_, ()> {
        Box::pin(async move {
            txn.execute_unprepared(&format!("INSERT INTO {table} (n) VALUES (2)")).await?;
            Err(Error::bad_request("the second half of the form was invalid"))
        })
    })
    .await;
    result?;
    Ok(Response::text("unreachable"))
}

/// The name the kill test's queries carry, so that it terminates its own backends only (the
/// other database tests run beside it on the same server).
fn marker() -> String {
    format!("djambda_kill_{}", std::process::id())
}

/// A query that touches no table, marked as the kill test's.
async fn ping(req: Request) -> Result<Response> {
    let db = req.db().await?;
    db.execute_unprepared(&format!("SELECT 1 AS {}", marker())).await?;
    Ok(Response::text("pong"))
}

/// The same, holding its connection a while (PostgreSQL only), to be cut off mid-query.
async fn slow_ping(req: Request) -> Result<Response> {
    let db = req.db().await?;
    db.execute_unprepared(&format!("SELECT pg_sleep(0.3) AS {}", marker())).await?;
    Ok(Response::text("slept"))
}

async fn count_view(req: Request) -> Result<Response> {
    let db = req.db().await?;
    Ok(Response::text(count(&db, &table()).await?.to_string()))
}

/// Production-like settings (DEBUG off) on the database at `url`, with a short connect timeout
/// so the "database down" cases answer quickly.
fn settings_for(url: &str) -> Settings {
    settings_with(url, false)
}

/// The same, with DATABASE_POOLER=transaction when `pooled`.
fn settings_with(url: &str, pooled: bool) -> Settings {
    let url = url.to_owned();
    let env = move |name: &str| match name {
        "DATABASE_POOLER" if pooled => Some("transaction".into()),
        "DEBUG" => Some("false".into()),
        "SECRET_KEY" => Some("db-test-secret-key-0123456789-abcdefghijklmnop".into()),
        "ALLOWED_HOSTS" => Some("localhost".into()),
        "DATABASE_URL" => Some(url.clone()),
        "DATABASE_CONNECT_TIMEOUT" => Some("1.5".into()),
        _ => None,
    };
    Settings::from_sources(None, env).unwrap()
}

fn site(database_url: &str) -> Site {
    site_with(database_url, false)
}

fn site_with(database_url: &str, pooled: bool) -> Site {
    let urls = UrlConf::new()
        .path("visit/", visit, "visit")
        .path("fail/", failing_write, "fail")
        .path("count/", count_view, "count")
        .path("ping/", ping, "ping")
        .path("slow/", slow_ping, "slow");
    Site::builder().settings(settings_with(database_url, pooled)).urls(urls).build().unwrap()
}

/// Writes, reads and rolls back through views on the database at `url`.
async fn exercise(url: &str) {
    exercise_with(url, false).await;
}

/// [`exercise`], through a transaction-mode pooler when `pooled`. A second site (another
/// instance, with a pool of its own) writes too: behind such a pooler its connection may be
/// lent the server connection the first one prepared its statements on.
async fn exercise_with(url: &str, pooled: bool) {
    let mut c = Client::new(site_with(url, pooled));
    let first: i64 = c.get("/visit/").await.text().parse().expect("a count");
    let second: i64 = c.get("/visit/").await.text().parse().expect("a count");
    assert_eq!(second, first + 1, "the connection opened on first use is reused and writes persist");
    let mut other = Client::new(site_with(url, pooled));
    let visited = other.get("/visit/").await;
    assert_eq!(visited.text(), (second + 1).to_string(), "another instance sees the writes and adds its own");
    let second = second + 1;
    let failed = c.get("/fail/").await;
    assert_eq!(failed.status(), 400, "the view's own error comes through");
    assert_eq!(c.get("/count/").await.text(), second.to_string(), "atomic rolled the insert back");
    let drop = format!("DROP TABLE {}", table());
    let db = site_with(url, pooled).database().connection().await.unwrap();
    db.execute_unprepared(&drop).await.unwrap();
}

#[tokio::test]
async fn sqlite_file_database() {
    let dir = std::env::temp_dir().join(format!("djambda-db-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    exercise(&format!("sqlite://{}?mode=rwc", dir.join("test.sqlite3").display())).await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn sqlite_unavailable_is_a_503_until_it_is_there() {
    // A database file in a folder that does not exist yet cannot be opened: 503, not a panic,
    // and not remembered: once the folder exists the next request works.
    let dir = std::env::temp_dir().join(format!("djambda-db-later-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut c = Client::new(site(&format!("sqlite://{}?mode=rwc", dir.join("db.sqlite3").display())));
    let down = c.get("/visit/").await;
    assert_eq!(down.status(), 503, "{}", down.text());
    assert!(!down.text().contains("sqlite://"), "nothing internal on the page with DEBUG off");
    std::fs::create_dir_all(&dir).unwrap();
    assert_eq!(c.get("/visit/").await.text(), "1");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
#[ignore = "needs DJAMBDA_TEST_POSTGRES_URL (a PostgreSQL database; .ci/run sets it)"]
async fn postgres_database() {
    exercise(&std::env::var("DJAMBDA_TEST_POSTGRES_URL").expect("DJAMBDA_TEST_POSTGRES_URL")).await;
}

#[tokio::test]
#[ignore = "needs DJAMBDA_TEST_MYSQL_URL (a MySQL or MariaDB database; .ci/run sets it)"]
async fn mysql_database() {
    exercise(&std::env::var("DJAMBDA_TEST_MYSQL_URL").expect("DJAMBDA_TEST_MYSQL_URL")).await;
}

/// The same through PgBouncer in transaction mode, DATABASE_POOLER set: writes, a rolled-back
/// one and reads from two instances, each on whichever server connection the pooler lends.
#[tokio::test]
#[ignore = "needs DJAMBDA_TEST_PGBOUNCER_URL (PgBouncer in transaction mode in front of DJAMBDA_TEST_POSTGRES_URL; .ci/run starts one)"]
async fn postgres_database_through_pgbouncer() {
    let pooled = crate::auth::PooledDatabase::create("db_pgbouncer").await;
    exercise_with(&pooled.url, true).await;
    pooled.drop().await;
}

#[tokio::test]
#[ignore = "needs DJAMBDA_TEST_POSTGRES_URL (a PostgreSQL database; .ci/run sets it)"]
async fn postgres_down_is_a_503_then_serves_once_it_is_up() {
    down_then_up(&std::env::var("DJAMBDA_TEST_POSTGRES_URL").expect("DJAMBDA_TEST_POSTGRES_URL")).await;
}

#[tokio::test]
#[ignore = "needs DJAMBDA_TEST_MYSQL_URL (a MySQL or MariaDB database; .ci/run sets it)"]
async fn mysql_down_is_a_503_then_serves_once_it_is_up() {
    down_then_up(&std::env::var("DJAMBDA_TEST_MYSQL_URL").expect("DJAMBDA_TEST_MYSQL_URL")).await;
}

/// Points the site at a closed port standing in for the server: 503; then opens the port,
/// forwarding to the real server ("the database is back"): the next request works.
async fn down_then_up(real: &str) {
    let (real_addr, via) = route_through_proxy_port(real);
    let mut c = Client::new(site(&via.url));
    let down = c.get("/visit/").await;
    assert_eq!(down.status(), 503, "nothing listens on the port yet: {}", down.text());
    let _proxy = via.start_forwarding_to(&real_addr).await;
    assert_eq!(c.get("/visit/").await.status(), 200, "the next request connects once the database is up");
    let db = site(real).database().connection().await.unwrap();
    db.execute_unprepared(&format!("DROP TABLE {}", table())).await.unwrap();
}

/// A free loopback port standing in for the database's address, and the URL through it.
struct ProxyPort {
    port: u16,
    url: String,
}

/// Rewrites `url`'s host:port to a free loopback port; returns the real host:port too.
fn route_through_proxy_port(url: &str) -> (String, ProxyPort) {
    let after_scheme = url.find("://").unwrap() + 3;
    let at = url[after_scheme..].find('@').map_or(after_scheme, |i| after_scheme + i + 1);
    let end = url[at..].find('/').map_or(url.len(), |i| at + i);
    let real = url[at..end].to_owned();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let via = format!("{}127.0.0.1:{port}{}", &url[..at], &url[end..]);
    (real, ProxyPort { port, url: via })
}

impl ProxyPort {
    /// Starts forwarding the port to `target` ("the database comes up").
    async fn start_forwarding_to(&self, target: &str) -> tokio::task::JoinHandle<()> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", self.port)).await.unwrap();
        let target = target.to_owned();
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let target = target.clone();
                tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        })
    }
}

mod note {
    use djambda::db::sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
    #[sea_orm(table_name = "djambda_test_note")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub body: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

async fn note_detail(req: Request, Path(pk): Path<i32>) -> Result<Response> {
    use djambda::db::get_object_or_404;
    use djambda::db::sea_orm::EntityTrait;
    let note = get_object_or_404(note::Entity::find_by_id(pk), &req.db().await?).await?;
    Ok(Response::text(note.body))
}

async fn note_list(req: Request) -> Result<Response> {
    use djambda::db::get_list_or_404;
    use djambda::db::sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let q = req.query().get("q").unwrap_or("").to_owned();
    let notes = get_list_or_404(note::Entity::find().filter(note::Column::Body.contains(&q)), &req.db().await?).await?;
    Ok(Response::text(notes.len().to_string()))
}

#[tokio::test]
async fn get_object_or_404_and_get_list_or_404_on_sqlite() {
    use djambda::db::sea_orm::{ActiveModelTrait, Schema, Set};
    let dir = std::env::temp_dir().join(format!("djambda-db-notes-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.join("notes.sqlite3").display());
    let urls = UrlConf::new().path("notes/", note_list, "notes").path("notes/<int:pk>/", note_detail, "note");
    let site = Site::builder().settings(settings_for(&url)).urls(urls).build().unwrap();
    let db = site.database().connection().await.unwrap();
    let schema = Schema::new(db.get_database_backend());
    db.execute(&schema.create_table_from_entity(note::Entity).if_not_exists().to_owned()).await.unwrap();
    note::ActiveModel { body: Set("Call Inês about the cold-chain pilot".into()), ..Default::default() }
        .insert(&db)
        .await
        .unwrap();

    let mut c = Client::new(site);
    assert_eq!(c.get("/notes/1/").await.text(), "Call Inês about the cold-chain pilot");
    let missing = c.get("/notes/2/").await;
    assert_eq!(missing.status(), 404);
    assert_eq!(c.get("/notes/?q=pilot").await.text(), "1");
    assert_eq!(c.get("/notes/?q=invoice").await.status(), 404, "an empty list is a 404");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn list_and_detail_views_paginate_and_404_like_django() {
    use djambda::db::sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Schema, Set};
    use djambda::views::{DetailView, ListView};
    let dir = std::env::temp_dir().join(format!("djambda-generic-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.join("generic.sqlite3").display());
    let list = ListView::<note::Entity>::new("notes").paginate_by(5).queryset(|req| {
        let q = req.query().get("q").unwrap_or("").to_owned();
        Ok(note::Entity::find().filter(note::Column::Body.contains(&q)).order_by_asc(note::Column::Id))
    });
    let urls = UrlConf::new()
        .path("notes/", list.as_view(), "note-list")
        .path("all/", ListView::<note::Entity>::new("notes").as_view(), "all-notes")
        .path("notes/<int:pk>/", DetailView::<note::Entity>::new("notes").as_view(), "note-detail")
        .path(
            "by-body/<slug:slug>/",
            DetailView::<note::Entity>::new("notes").slug_field(note::Column::Body).as_view(),
            "by-body",
        );
    let site = Site::builder()
        .settings(settings_for(&url))
        .urls(urls)
        .templates(djambda::assets!("../tests/e2e/fixtures/generic"))
        .build()
        .unwrap();
    let db = site.database().connection().await.unwrap();
    let schema = Schema::new(db.get_database_backend());
    db.execute(&schema.create_table_from_entity(note::Entity).if_not_exists().to_owned()).await.unwrap();
    for i in 1..=12 {
        note::ActiveModel { body: Set(format!("n{i}")), ..Default::default() }.insert(&db).await.unwrap();
    }

    let mut c = Client::new(site);
    assert_eq!(c.get("/notes/").await.text().trim(), "[n1][n2][n3][n4][n5]|5|1/3/12/next=2");
    assert_eq!(c.get("/notes/?page=3").await.text().trim(), "[n11][n12]|2|3/3/12");
    assert_eq!(c.get("/notes/?page=last").await.text().trim(), "[n11][n12]|2|3/3/12");
    assert_eq!(c.get("/notes/?page=4").await.status(), 404, "past the last page");
    assert_eq!(c.get("/notes/?page=two").await.status(), 404, "not a number");
    assert_eq!(
        c.get("/notes/?q=n1").await.text().trim(),
        "[n1][n10][n11][n12]|4|all",
        "the queryset hook filters; one page is not paginated"
    );
    assert_eq!(c.get("/all/").await.text().trim().split('|').nth(1), Some("12"));
    assert_eq!(c.get("/notes/7/").await.text().trim(), "7:n7");
    assert_eq!(c.get("/notes/99/").await.status(), 404);
    assert_eq!(c.get("/by-body/n12/").await.text().trim(), "12:n12");
    assert_eq!(c.get("/by-body/nope/").await.status(), 404);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
#[ignore = "needs DJAMBDA_TEST_POSTGRES_URL (a PostgreSQL database; .ci/run sets it)"]
async fn postgres_backends_killed_mid_load_cost_a_request_or_two_at_most() {
    let real = std::env::var("DJAMBDA_TEST_POSTGRES_URL").expect("DJAMBDA_TEST_POSTGRES_URL");
    let mut c = Client::new(site(&real));
    let admin = site(&real).database().connection().await.unwrap();
    // The backends this test's site uses: their last statement carried its marker.
    let kill = format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE pid <> pg_backend_pid() AND query LIKE '%{}%' AND query NOT LIKE '%pg_terminate_backend%'",
        marker()
    );
    let mut failures = Vec::new();
    let mut killed = 0;
    let terminate = || async {
        let rows = admin.query_all_raw(Statement::from_string(admin.get_database_backend(), kill.clone())).await;
        rows.expect("pg_terminate_backend").len()
    };
    for i in 0..60 {
        if i % 15 == 5 {
            // Between requests: the pool's idle connection is gone.
            killed += terminate().await;
        }
        if i % 15 == 10 {
            // During one: the query in flight loses its backend.
            let (resp, n) = tokio::join!(c.get("/slow/"), async {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                terminate().await
            });
            killed += n;
            if resp.status() != 200 {
                failures.push((i, resp.status()));
            }
            continue;
        }
        let resp = c.get("/ping/").await;
        if resp.status() != 200 {
            failures.push((i, resp.status()));
        }
    }
    assert!(killed >= 3, "the site's backends were there to kill ({killed})");
    assert!(failures.len() <= 4, "a request or so per kill at most: {failures:?}");
    assert!(failures.iter().all(|(_, s)| *s == 503), "a lost connection is a 503, not a 500: {failures:?}");
    println!("{killed} backends killed during 60 requests: {} failed ({failures:?})", failures.len());
}

/// A PostgreSQL server of the test's own: a cluster made with initdb in a temporary folder, on
/// a free port, so it can be restarted and stopped without touching the shared server the
/// other tests use. Stopped and removed on drop.
struct OwnPostgres {
    dir: std::path::PathBuf,
    port: u16,
    bin: std::path::PathBuf,
}

impl OwnPostgres {
    fn start() -> OwnPostgres {
        // Debian keeps the server's programs out of PATH, one folder per major version.
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path().join("bin"))
            .filter(|p| p.join("pg_ctl").exists())
            .max()
            .expect("PostgreSQL's server programs (initdb, pg_ctl) under /usr/lib/postgresql/*/bin");
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let dir = std::env::temp_dir().join(format!("djambda-own-pg-{}-{port}", std::process::id()));
        let pg = OwnPostgres { dir, port, bin };
        pg.run("initdb", &["-D", &pg.dir.display().to_string(), "-A", "trust", "-U", "postgres", "--no-sync"]);
        pg.ctl("start");
        pg
    }

    fn run(&self, program: &str, args: &[&str]) {
        let out = server_program(&self.bin.join(program))
            .args(args)
            .current_dir(std::env::temp_dir())
            .output()
            .expect(program);
        assert!(out.status.success(), "{program} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }

    fn ctl(&self, action: &str) {
        let options = format!("-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off", self.port, self.dir.display());
        let dir = self.dir.display().to_string();
        self.run("pg_ctl", &["-D", &dir, "-o", &options, "-m", "fast", "-w", "-l", &format!("{dir}.log"), action]);
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

/// A command for one of the server's programs: as the postgres user when this is root, since
/// the server refuses to run as root.
fn server_program(path: &std::path::Path) -> std::process::Command {
    let root = std::process::Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"));
    if root {
        let mut c = std::process::Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(path);
        c
    } else {
        std::process::Command::new(path)
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        let dir = self.dir.display().to_string();
        let _ = server_program(&self.bin.join("pg_ctl")).args(["-D", &dir, "-m", "immediate", "stop"]).output();
        let _ = std::fs::remove_dir_all(&self.dir);
        let _ = std::fs::remove_file(format!("{dir}.log"));
    }
}

/// Requests `/visit/` until one succeeds (at most 40, 100 ms apart): the statuses of the ones
/// that failed, and the count the good one gave.
async fn visits_until_served(c: &mut Client) -> (Vec<u16>, i64) {
    let mut failed = Vec::new();
    for _ in 0..40 {
        let resp = c.get("/visit/").await;
        if resp.status() == 200 {
            return (failed, resp.text().parse().expect("a count"));
        }
        failed.push(resp.status().as_u16());
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("not served again after 40 tries: {failed:?}");
}

#[tokio::test]
#[ignore = "needs DJAMBDA_TEST_POSTGRES_URL (PostgreSQL installed; .ci/run sets it) and runs a server of its own"]
async fn a_postgres_server_restart_costs_a_few_requests_then_service_resumes() {
    let pg = OwnPostgres::start();
    let mut c = Client::new(site(&pg.url()));
    let (failed, before) = visits_until_served(&mut c).await;
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(c.get("/visit/").await.status(), 200, "the pool now holds an open connection");

    // A restart: every pooled connection is cut; the pool notices and opens new ones.
    pg.ctl("restart");
    let (restart_failed, after_restart) = visits_until_served(&mut c).await;
    assert!(restart_failed.len() <= 2, "a request or two at most: {restart_failed:?}");
    assert!(restart_failed.iter().all(|s| *s == 503), "a lost server is a 503: {restart_failed:?}");
    assert_eq!(after_restart, before + 2, "the writes before the restart are there");

    // Down for a while: each request is a quick 503 with Retry-After, none hangs.
    pg.ctl("stop");
    for _ in 0..3 {
        let started = std::time::Instant::now();
        let down = c.get("/visit/").await;
        assert_eq!(down.status(), 503, "{}", down.text());
        assert!(down.header("retry-after").is_some(), "with Retry-After");
        assert!(started.elapsed() < std::time::Duration::from_secs(5), "answered in {:?}", started.elapsed());
    }
    pg.ctl("start");
    let (failed, back) = visits_until_served(&mut c).await;
    assert!(failed.iter().all(|s| *s == 503), "{failed:?}");
    assert_eq!(back, after_restart + 1, "nothing written while it was down, nothing lost");
    println!(
        "restart: {} request(s) failed ({restart_failed:?}); stopped: 503 each; started again: {} failed",
        restart_failed.len(),
        failed.len()
    );
}
