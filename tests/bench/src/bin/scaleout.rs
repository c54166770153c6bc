//! Scale out on one PostgreSQL: many function processes of the built `manage`, each under a
//! Runtime API emulator of its own with a pool of one connection (as classic Lambda instances
//! are), all on one database, driven together for a while with logged-in reads and writes.
//!
//! ```text
//! scaleout --manage target/release/manage --database-url URL --server-url URL [--pooler]
//!          [--functions 40] [--seconds 60] [--write-every 4] [--allow-errors] [--label NAME]
//! ```
//!
//! `--database-url` is what the functions connect to: the server, or a pooler in front of it
//! (with `--pooler`, the functions run with DATABASE_POOLER=transaction). `--server-url` is the
//! PostgreSQL server itself, in the same database: the meter counts the server connections to
//! that database every 100 ms and, at the end, checks that every write a function acknowledged
//! (a contact created, answered with its redirect) is in the table.
//!
//! Each function has one driver, which sends its next invocation as soon as the last one is
//! answered: a read (the dashboard, a page of contacts, the company list) and every
//! `--write-every`th a write (a new contact through the CRM's form, with its CSRF token). The demo
//! superuser is logged in once, in this process, and every driver uses that session.
//!
//! Printed: invocations answered as expected per second, their median and p99 latency, errors
//! (any answer other than the 200 or the redirect expected, or an invocation that failed; their
//! quick refusals are not in the latencies), acknowledged and missing writes,
//! and the most server connections seen. It exits 1 on a missing write, and on any error unless
//! `--allow-errors` (a run past the server's connection limit, where refusals are the point).
//! The last line, `SUMMARY …`, is for scripts.

use std::collections::HashSet;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, Database, DbBackend, Statement};
use tests::emulator::{Outcome, RuntimeApi};
use tests::process::{Running, spawn_lambda};

const USAGE: &str = "usage: scaleout --manage PATH --database-url URL --server-url URL [--pooler] [--functions N] \
     [--seconds N] [--write-every N] [--allow-errors] [--label NAME]";

/// What a function's secret key is: the session made in this process must be valid there.
const SECRET_KEY: &str = "bench-scaleout-secret-key-0123456789abcdefghijklmnopqrstuvwxyz";

struct Options {
    manage: PathBuf,
    database_url: String,
    server_url: String,
    pooler: bool,
    functions: usize,
    seconds: u64,
    write_every: u64,
    allow_errors: bool,
    label: String,
}

fn parse_args() -> Result<Options, String> {
    let mut o = Options {
        manage: PathBuf::new(),
        database_url: String::new(),
        server_url: String::new(),
        pooler: false,
        functions: 40,
        seconds: 60,
        write_every: 4,
        allow_errors: false,
        label: "run".into(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value\n{USAGE}"));
        let number = |name: &str, v: String| v.parse::<u64>().map_err(|_| format!("{name} takes a number, not {v:?}"));
        match arg.as_str() {
            "--manage" => o.manage = value("--manage")?.into(),
            "--database-url" => o.database_url = value("--database-url")?,
            "--server-url" => o.server_url = value("--server-url")?,
            "--pooler" => o.pooler = true,
            "--functions" => o.functions = number("--functions", value("--functions")?)? as usize,
            "--seconds" => o.seconds = number("--seconds", value("--seconds")?)?,
            "--write-every" => o.write_every = number("--write-every", value("--write-every")?)?.max(1),
            "--allow-errors" => o.allow_errors = true,
            "--label" => o.label = value("--label")?,
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    if o.manage.as_os_str().is_empty() || o.database_url.is_empty() || o.server_url.is_empty() {
        return Err(USAGE.into());
    }
    if o.functions == 0 || o.seconds == 0 {
        return Err("--functions and --seconds must be at least 1".into());
    }
    Ok(o)
}

/// The functions' environment, beside what the Lambda service sets.
fn function_env(o: &Options) -> Vec<(String, String)> {
    let mut env = vec![
        ("DEBUG".into(), "false".into()),
        ("SECRET_KEY".into(), SECRET_KEY.into()),
        ("ALLOWED_HOSTS".into(), "*".into()),
        ("DATABASE_URL".into(), o.database_url.clone()),
        ("DATABASE_POOL_SIZE".into(), "1".into()),
        ("DATABASE_CONNECT_TIMEOUT".into(), "10".into()),
    ];
    if o.pooler {
        env.push(("DATABASE_POOLER".into(), "transaction".into()));
    }
    env
}

/// A Function URL (payload 2.0) event: `cookie` goes in `cookies`, one per entry.
fn event(method: &str, path: &str, cookie: &str, csrf: &str, form: Option<&str>, id: u64) -> String {
    let (raw_path, query) = path.split_once('?').unwrap_or((path, ""));
    let host = "abcdefghijklmnopqrstuvwxyz012345.lambda-url.us-east-1.on.aws";
    let mut headers = serde_json::json!({
        "accept": "text/html",
        "host": host,
        "user-agent": "scaleout",
        "x-forwarded-for": "192.0.2.10",
        "x-forwarded-port": "443",
        "x-forwarded-proto": "https",
    });
    if form.is_some() {
        headers["content-type"] = "application/x-www-form-urlencoded".into();
        headers["x-csrftoken"] = csrf.into();
    }
    let cookies: Vec<&str> = cookie.split(';').map(str::trim).filter(|c| !c.is_empty()).collect();
    serde_json::json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": raw_path,
        "rawQueryString": query,
        "cookies": cookies,
        "headers": headers,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "abcdefghijklmnopqrstuvwxyz012345",
            "domainName": host,
            "domainPrefix": "abcdefghijklmnopqrstuvwxyz012345",
            "http": { "method": method, "path": raw_path, "protocol": "HTTP/1.1", "sourceIp": "192.0.2.10", "userAgent": "scaleout" },
            "requestId": format!("scaleout-{id}"),
            "routeKey": "$default",
            "stage": "$default",
            "time": "07/Dec/2026:21:00:00 +0000",
            "timeEpoch": 1_796_677_200_000_u64
        },
        "body": form,
        "isBase64Encoded": false
    })
    .to_string()
}

/// The demo superuser's session: its cookies and CSRF token, made by logging in through the
/// example site in this process, on the database the functions use.
async fn log_in(o: &Options) -> Result<(String, String), String> {
    let env = function_env(o);
    let lookup = move |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let settings = djambda::Settings::from_sources(Some(example_site::SETTINGS_TOML), lookup)
        .map_err(|e| format!("the functions' settings: {e}"))?;
    let site = example_site::site_with_settings(settings).map_err(|e| format!("the example site: {e}"))?;
    let mut client = djambda::test::Client::new(site);
    if !client.login("demo", "demo").await {
        return Err("demo/demo could not log in: run `manage migrate` and `manage loaddata demo` first".into());
    }
    let csrf = client.cookie("csrftoken").ok_or("no CSRF cookie after logging in")?.to_owned();
    Ok((client.cookie_header(), csrf))
}

/// What one driver saw.
#[derive(Default)]
struct Tally {
    /// Of the answers that were what was expected and came before the stop.
    latencies_ms: Vec<f64>,
    /// Answers that came after the stop (counted for their writes only).
    late: u64,
    errors: u64,
    first_errors: Vec<String>,
    acknowledged: Vec<String>,
}

impl Tally {
    fn error(&mut self, what: String) {
        self.errors += 1;
        if self.first_errors.len() < 3 {
            self.first_errors.push(what);
        }
    }
}

/// Drives one function until `stop`: reads, and every `write_every`th invocation a write.
#[allow(clippy::too_many_arguments)]
async fn drive(
    api: Arc<RuntimeApi>,
    n: usize,
    run: String,
    cookie: Arc<String>,
    csrf: Arc<String>,
    write_every: u64,
    stop: Arc<AtomicBool>,
    ids: Arc<AtomicU64>,
) -> Tally {
    const READS: [&str; 4] = ["/", "/contacts/", "/contacts/?page=2", "/companies/"];
    let mut tally = Tally::default();
    let mut k: u64 = 0;
    while !stop.load(Ordering::Relaxed) {
        k += 1;
        let id = ids.fetch_add(1, Ordering::Relaxed);
        let write = k.is_multiple_of(write_every);
        let (event, marker, expect) = if write {
            let last_name = format!("Scale {run} {n}-{k}");
            let form = format!(
                "csrfmiddlewaretoken={csrf}&first_name=Load&last_name={}&company_id={}&title=&email=load{n}x{k}%40example.com&phone=",
                last_name.replace(' ', "+"),
                1 + (k % 5),
            );
            (event("POST", "/contacts/new/", &cookie, &csrf, Some(&form), id), Some(last_name), 302)
        } else {
            let path = READS[(k as usize + n) % READS.len()];
            (event("GET", path, &cookie, &csrf, None, id), None, 200)
        };
        let began = Instant::now();
        let outcome = api.invoke_with_timeout(event, Duration::from_secs(30)).await;
        let took_ms = began.elapsed().as_secs_f64() * 1000.0;
        let late = stop.load(Ordering::Relaxed);
        if late {
            tally.late += 1;
        }
        match outcome {
            Ok(Outcome::Response(v)) => {
                let status = v["statusCode"].as_u64().unwrap_or(0);
                let location = v["headers"]["location"].as_str().unwrap_or("");
                let ok = status == expect && (!write || location.starts_with("/contacts/"));
                if !ok {
                    let body = v["body"].as_str().unwrap_or("");
                    // A page's title says what it is; otherwise the start of the body.
                    let what = match (body.find("<title>"), body.find("</title>")) {
                        (Some(a), Some(b)) if a < b => body[a + 7..b].trim().to_owned(),
                        _ => body.split_whitespace().collect::<Vec<_>>().join(" ").chars().take(120).collect(),
                    };
                    tally.error(format!("function {n}: {status} {location} {what}"));
                } else {
                    if !late {
                        tally.latencies_ms.push(took_ms);
                    }
                    tally.acknowledged.extend(marker);
                }
            }
            Ok(other) => tally.error(format!("function {n}: {other:?}")),
            Err(e) => tally.error(format!("function {n}: {e}")),
        }
    }
    tally
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

async fn scalar(db: &impl ConnectionTrait, sql: &str) -> Result<i64, String> {
    let row = db
        .query_one_raw(Statement::from_string(DbBackend::Postgres, sql.to_owned()))
        .await
        .map_err(|e| format!("{sql}: {e}"))?
        .ok_or_else(|| format!("{sql}: no row"))?;
    row.try_get::<i64>("", "n").map_err(|e| format!("{sql}: {e}"))
}

async fn run(o: Options) -> Result<bool, String> {
    let server = Database::connect(o.server_url.as_str()).await.map_err(|e| format!("connect to --server-url: {e}"))?;
    let max_connections = scalar(&server, "SELECT current_setting('max_connections')::bigint AS n").await?;
    let before = scalar(
        &server,
        "SELECT count(*)::bigint AS n FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .await?;
    let (cookie, csrf) = log_in(&o).await?;
    let (cookie, csrf) = (Arc::new(cookie), Arc::new(csrf));

    let env = function_env(&o);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut apis = Vec::with_capacity(o.functions);
    let mut processes: Vec<Running> = Vec::with_capacity(o.functions);
    for _ in 0..o.functions {
        let api = Arc::new(RuntimeApi::start().await);
        processes.push(spawn_lambda(&o.manage, &api.address(), &env));
        apis.push(api);
    }
    for (n, api) in apis.iter().enumerate() {
        if !api.wait_for_polls(1, Duration::from_secs(60)).await {
            let said: Vec<String> = processes[n].stderr.try_iter().collect();
            return Err(format!("function {n} never asked for work:\n{}", said.join("\n")));
        }
    }

    // The server's connections to the database, sampled while the drivers run.
    let stop = Arc::new(AtomicBool::new(false));
    let sampling = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut most = 0;
            while !stop.load(Ordering::Relaxed) {
                let sql = "SELECT count(*)::bigint AS n FROM pg_stat_activity \
                           WHERE datname = current_database() AND pid <> pg_backend_pid()";
                if let Ok(n) = scalar(&server, sql).await {
                    most = most.max(n);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            (most, server)
        })
    };

    let tag = format!("{}{}", o.label, std::process::id());
    let ids = Arc::new(AtomicU64::new(0));
    let began = Instant::now();
    let drivers: Vec<_> = apis
        .iter()
        .enumerate()
        .map(|(n, api)| {
            tokio::spawn(drive(
                api.clone(),
                n,
                tag.clone(),
                cookie.clone(),
                csrf.clone(),
                o.write_every,
                stop.clone(),
                ids.clone(),
            ))
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(o.seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let elapsed = began.elapsed().as_secs_f64();
    let mut all = Tally::default();
    for driver in drivers {
        let tally = driver.await.map_err(|e| format!("a driver panicked: {e}"))?;
        all.latencies_ms.extend(tally.latencies_ms);
        all.errors += tally.errors;
        all.late += tally.late;
        for e in tally.first_errors {
            if all.first_errors.len() < 5 {
                all.first_errors.push(e);
            }
        }
        all.acknowledged.extend(tally.acknowledged);
    }
    let (most, server) = sampling.await.map_err(|e| format!("the sampler panicked: {e}"))?;
    drop(processes);

    // Every acknowledged write is in the table.
    let rows = server
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            format!("SELECT last_name FROM contact WHERE last_name LIKE 'Scale {tag} %'"),
        ))
        .await
        .map_err(|e| format!("reading the written contacts: {e}"))?;
    let stored: HashSet<String> = rows.iter().filter_map(|r| r.try_get::<String>("", "last_name").ok()).collect();
    let missing = all.acknowledged.iter().filter(|m| !stored.contains(*m)).count();

    let mut sorted = all.latencies_ms.clone();
    sorted.sort_by(f64::total_cmp);
    // Answered as expected within the run; errors are apart (a refusal is quick, and would
    // flatter the latency).
    let invocations = sorted.len();
    let rate = invocations as f64 / elapsed;
    let (p50, p99) = (percentile(&sorted, 50.0), percentile(&sorted, 99.0));
    println!(
        "{}: {} functions (pool 1 each){} for {elapsed:.0} s",
        o.label,
        o.functions,
        if o.pooler { ", DATABASE_POOLER=transaction" } else { "" }
    );
    println!("  answered as expected: {invocations} ({rate:.0}/s), median {p50:.1} ms, p99 {p99:.1} ms");
    println!("  errors: {} (and {} answers after the stop, not counted)", all.errors, all.late);
    for e in &all.first_errors {
        println!("    e.g. {e}");
    }
    println!("  writes acknowledged: {}, missing from the table: {missing}", all.acknowledged.len());
    println!(
        "  server connections to the database: at most {most} while driven ({before} before; max_connections {max_connections})"
    );
    println!(
        "SUMMARY label={} functions={} pooler={} invocations={invocations} per_s={rate:.1} p50_ms={p50:.2} p99_ms={p99:.2} \
         errors={} acknowledged={} missing={missing} server_connections={most} max_connections={max_connections}",
        o.label,
        o.functions,
        o.pooler,
        all.errors,
        all.acknowledged.len()
    );
    Ok(missing == 0 && (o.allow_errors || all.errors == 0))
}

#[tokio::main]
async fn main() -> ExitCode {
    let o = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    match run(o).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("scaleout: {e}");
            ExitCode::FAILURE
        }
    }
}
