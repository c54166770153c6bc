//! Background tasks through the example site: its "Recalculate pipeline" view enqueues
//! `crm.recalculate_pipeline`, and the built `manage runworker` runs it; retries wait their
//! backoff and the last failure keeps its error; two workers at once never run one task twice;
//! the Lambda function drains the table on its schedule. On SQLite always, on PostgreSQL and
//! MySQL when DJAMBDA_TEST_POSTGRES_URL / DJAMBDA_TEST_MYSQL_URL are set, each in a database of
//! its own.

use std::collections::BTreeSet;
use std::process::{Command, Output};
use std::time::Duration;

use djambda::Site;
use djambda::db::sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use djambda::tasks::{TaskResult, TaskStatus, get_result};
use example_site::crm::models::{company, note};
use example_site::crm::tasks::{RecalculatePipeline, recalculate_pipeline};
use serde_json::json;
use tests::emulator::RuntimeApi;
use tests::process::spawn_lambda;

use crate::{SECRET_KEY, manage_bin};

/// The example site in-process on `url`, with the database backend.
fn site_on(url: &str, backend: &str) -> Site {
    example_site::site_with_settings(crate::example_settings_with(&[
        ("DATABASE_URL", url),
        ("TASKS_BACKEND", backend),
        ("DATABASE_POOL_SIZE", "2"),
    ]))
    .expect("the example site")
}

/// `manage ARGS` on `url` with the database backend.
fn manage(url: &str, args: &[&str]) -> Output {
    Command::new(manage_bin())
        .args(args)
        .env("DATABASE_URL", url)
        .env("TASKS_BACKEND", "database")
        .env("DATABASE_POOL_SIZE", "4")
        .output()
        .expect("run manage")
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

fn runworker_batch(url: &str) -> String {
    let out = manage(url, &["runworker", "--batch"]);
    assert!(out.status.success(), "runworker: {}", text(&out));
    text(&out)
}

async fn result(site: &Site, id: &str) -> TaskResult {
    get_result(site, id).await.unwrap().unwrap_or_else(|| panic!("no task {id}"))
}

/// Makes `id` due now (a test does not wait out a 20 s backoff).
async fn due_now(site: &Site, id: &str) {
    let db = site.database().connection().await.unwrap();
    let due = chrono::Utc::now() - chrono::Duration::seconds(1);
    djambda::tasks::models::task::Entity::update_many()
        .col_expr(djambda::tasks::models::task::Column::RunAfter, djambda::db::sea_orm::sea_query::Expr::value(due))
        .filter(djambda::tasks::models::task::Column::Id.eq(id))
        .exec(&db)
        .await
        .unwrap();
}

async fn pipeline_notes(site: &Site) -> Vec<String> {
    let db = site.database().connection().await.unwrap();
    note::Entity::find()
        .filter(note::Column::Body.contains("recalculated by task"))
        .all(&db)
        .await
        .unwrap()
        .into_iter()
        .map(|n| n.body)
        .collect()
}

#[tokio::test]
async fn the_company_page_enqueues_and_runworker_runs_it() {
    let url = crate::fresh_demo_db("tasks-view");
    let site = site_on(&url, "database");
    let mut c = djambda::test::Client::new(site.clone());
    assert!(c.login("demo", "demo").await);
    let page = c.get("/companies/acme-logistics/").await;
    assert!(page.text().contains("Recalculate pipeline"), "{}", page.text());
    let token = page.csrf_token().unwrap();
    let posted = c.post_form("/companies/acme-logistics/recalculate/", &[("csrfmiddlewaretoken", &token)]).await;
    assert_eq!(posted.status(), 302, "{}", posted.text());
    assert_eq!(posted.location(), Some("/companies/acme-logistics/"));
    let shown = c.get("/companies/acme-logistics/").await.text();
    let said = shown.split("(task ").nth(1).unwrap_or_else(|| panic!("the page says which task: {shown}"));
    let id = &said[..32];
    assert!(said[32..].starts_with(", queued)"), "{said}");
    assert_eq!(result(&site, id).await.status, TaskStatus::Queued);
    assert!(pipeline_notes(&site).await.is_empty(), "nothing ran inside the request");

    let out = runworker_batch(&url);
    assert!(out.contains(&format!("task crm.recalculate_pipeline ({id}) succeeded, attempt 1")), "{out}");
    assert!(out.contains("runworker: 1 tasks run: 1 succeeded, 0 to be retried, 0 failed"), "{out}");
    let done = result(&site, id).await;
    assert_eq!((done.status, done.attempts, done.error), (TaskStatus::Succeeded, 1, None));
    let notes = pipeline_notes(&site).await;
    assert_eq!(notes.len(), 1);
    assert!(notes[0].starts_with("Pipeline of Acme Logistics: "), "{notes:?}");
    assert!(notes[0].contains(&format!("recalculated by task {id}, attempt 1")), "{notes:?}");

    // A viewer may not (the note it writes needs crm.add_note).
    let mut viewer = djambda::test::Client::new(site.clone());
    assert!(viewer.login("viewer", "viewer").await);
    let page = viewer.get("/companies/acme-logistics/").await;
    assert!(!page.text().contains("Recalculate pipeline"));
    let token = page.csrf_token().unwrap();
    let refused = viewer.post_form("/companies/acme-logistics/recalculate/", &[("csrfmiddlewaretoken", &token)]).await;
    assert_eq!(refused.status(), 403);

    // The immediate backend: done before the response.
    let inline = site_on(&url, "immediate");
    let mut c = djambda::test::Client::new(inline);
    assert!(c.login("demo", "demo").await);
    let token = c.get("/companies/acme-logistics/").await.csrf_token().unwrap();
    c.post_form("/companies/acme-logistics/recalculate/", &[("csrfmiddlewaretoken", &token)]).await;
    assert!(c.get("/companies/acme-logistics/").await.text().contains(", succeeded)."));
    assert_eq!(pipeline_notes(&site).await.len(), 2);

    // runworker refuses a backend it cannot drain, saying what to set.
    let out = Command::new(manage_bin())
        .args(["runworker", "--batch"])
        .env("DATABASE_URL", &url)
        .env("TASKS_BACKEND", "immediate")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("TASKS_BACKEND is \"immediate\""), "{}", text(&out));
}

/// A task for a company that is not there yet: retried after 5 s (runworker waits for it),
/// done once the company exists; another keeps failing, each wait twice the last, and ends
/// failed with its error.
async fn retries_wait_their_backoff_and_the_last_failure_keeps_its_error(url: &str) {
    let site = site_on(url, "database");
    let late = recalculate_pipeline().enqueue(&site, &RecalculatePipeline { company_id: 424_242 }).await.unwrap();
    let out = runworker_batch(url);
    assert!(out.contains("attempt 1 of 4 will be retried: no company has the id 424242"), "{out}");
    let waiting = result(&site, &late.id).await;
    assert_eq!((waiting.status, waiting.attempts), (TaskStatus::Queued, 1));
    assert_eq!(waiting.error.as_deref(), Some("no company has the id 424242"));
    let wait = (waiting.run_after - waiting.started_at.unwrap()).num_milliseconds();
    assert!((4_000..=6_000).contains(&wait), "the first backoff is 5 s, not {wait} ms");
    assert!(runworker_batch(url).contains("runworker: 0 tasks run"), "not due before its backoff");

    let db = site.database().connection().await.unwrap();
    company::ActiveModel {
        id: Set(424_242),
        slug: Set("late-arrivals".into()),
        name: Set("Late Arrivals".into()),
        industry: Set("Logistics".into()),
        city: Set("Lyon".into()),
        website: Set(String::new()),
    }
    .insert(&db)
    .await
    .unwrap();
    // A worker that waits: it picks the task up once its backoff is over.
    let began = std::time::Instant::now();
    let out = manage(url, &["runworker", "--max-tasks", "1", "--interval", "0.2"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(began.elapsed() < Duration::from_secs(30));
    let done = result(&site, &late.id).await;
    assert_eq!((done.status, done.attempts), (TaskStatus::Succeeded, 2), "{}", text(&out));
    assert_eq!(done.error.as_deref(), Some("no company has the id 424242"), "the failed attempt's error stays");
    assert!(
        pipeline_notes(&site).await.iter().any(|n| n.starts_with("Pipeline of Late Arrivals: 0 open deals")),
        "{:?}",
        pipeline_notes(&site).await
    );

    let doomed = recalculate_pipeline().enqueue(&site, &RecalculatePipeline { company_id: 434_343 }).await.unwrap();
    let mut waits = Vec::new();
    for attempt in 1..=4 {
        let out = runworker_batch(url);
        let r = result(&site, &doomed.id).await;
        assert_eq!(r.attempts, attempt, "{out}");
        if attempt < 4 {
            assert_eq!(r.status, TaskStatus::Queued, "{out}");
            waits.push(((r.run_after - r.started_at.unwrap()).num_milliseconds() + 500) / 1000);
            due_now(&site, &doomed.id).await;
        } else {
            assert!(out.contains("attempt 4 of 4 failed for good: no company has the id 434343"), "{out}");
        }
    }
    // MySQL keeps whole seconds: a second either way.
    for (wait, expected) in waits.iter().zip([5, 10, 20]) {
        assert!((wait - expected).abs() <= 1, "exponential backoff: {waits:?}");
    }
    let failed = result(&site, &doomed.id).await;
    assert_eq!((failed.status, failed.attempts, failed.max_attempts), (TaskStatus::Failed, 4, 4));
    assert_eq!(failed.error.as_deref(), Some("no company has the id 434343"));
    assert!(failed.finished_at.is_some());
    assert!(runworker_batch(url).contains("runworker: 0 tasks run"), "a failed task is not run again");
}

/// A `runworker --batch` whose claim finds every due task locked by another worker's claim in
/// flight waits for that claim rather than stopping as if the queue were empty: on MySQL a
/// claim locks every row it scans, so a second worker starting beside a first saw nothing and
/// left all the work to it.
async fn a_batch_worker_waits_out_another_workers_claim(url: &str) {
    use djambda::db::sea_orm::{Statement, TransactionTrait};
    use std::io::{BufRead, BufReader, Read};

    let site = site_on(url, "database");
    let mut ids = BTreeSet::new();
    for company_id in [1, 2, 3] {
        ids.insert(recalculate_pipeline().enqueue(&site, &RecalculatePipeline { company_id }).await.unwrap().id);
    }
    // Another worker's claim, held open: its rows are locked until it ends.
    let db = site.database().connection().await.unwrap();
    let claim = db.begin().await.unwrap();
    let backend = claim.get_database_backend();
    let locked = claim
        .query_all_raw(Statement::from_string(
            backend,
            "SELECT id FROM djambda_task WHERE status = 'queued' FOR UPDATE".to_owned(),
        ))
        .await
        .unwrap();
    assert_eq!(locked.len(), ids.len());
    let mut worker = Command::new(manage_bin())
        .args(["runworker", "--batch", "--interval", "0.1"])
        .env("DATABASE_URL", url)
        .env("TASKS_BACKEND", "database")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(worker.stdout.take().unwrap());
    let mut banner = String::new();
    stdout.read_line(&mut banner).unwrap();
    assert!(banner.starts_with("runworker: running the tasks"), "{banner}");
    // Long enough for several claims that find nothing they can take.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let early = worker.try_wait().unwrap();
    claim.rollback().await.unwrap();
    let status = worker.wait().unwrap();
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    let mut errors = String::new();
    worker.stderr.take().unwrap().read_to_string(&mut errors).unwrap();
    assert!(early.is_none(), "the worker stopped while the tasks were only locked: {rest}{errors}");
    assert!(status.success(), "{rest}{errors}");
    assert!(rest.contains("runworker: 3 tasks run: 3 succeeded"), "{rest}{errors}");
    for id in &ids {
        assert_eq!(result(&site, id).await.status, TaskStatus::Succeeded);
    }
}

/// Two `runworker` processes at once on one queue: every task runs, and once.
async fn two_workers_never_run_one_task_twice(url: &str, tasks: usize, concurrency: &str) {
    let site = site_on(url, "database");
    let db = site.database().connection().await.unwrap();
    let companies: Vec<i32> = company::Entity::find().all(&db).await.unwrap().iter().map(|c| c.id).collect();
    let mut ids = BTreeSet::new();
    for i in 0..tasks {
        let job = RecalculatePipeline { company_id: companies[i % companies.len()] };
        ids.insert(recalculate_pipeline().enqueue(&site, &job).await.unwrap().id);
    }
    let start = || {
        Command::new(manage_bin())
            .args(["runworker", "--batch", "--concurrency", concurrency])
            .env("DATABASE_URL", url)
            .env("TASKS_BACKEND", "database")
            .env("DATABASE_POOL_SIZE", concurrency)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (start(), start());
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert!(a.status.success() && b.status.success(), "{}\n{}", text(&a), text(&b));
    let ran = |out: &Output| -> Vec<String> {
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.strip_prefix("task crm.recalculate_pipeline (")?.split_once(") succeeded"))
            .map(|(id, _)| id.to_owned())
            .collect()
    };
    let (ran_a, ran_b) = (ran(&a), ran(&b));
    assert_eq!(ran_a.len() + ran_b.len(), tasks, "{}\n{}", text(&a), text(&b));
    let all: BTreeSet<String> = ran_a.iter().chain(&ran_b).cloned().collect();
    assert_eq!(all, ids, "each task ran, and once");
    assert!(!ran_a.is_empty() && !ran_b.is_empty(), "both workers took tasks: {} and {}", ran_a.len(), ran_b.len());
    // What the tasks did: one note per task, naming it.
    let notes = pipeline_notes(&site).await;
    for id in &ids {
        let count = notes.iter().filter(|n| n.contains(&format!("task {id}, attempt 1)"))).count();
        assert_eq!(count, 1, "task {id} wrote {count} notes");
        assert_eq!(result(&site, id).await.attempts, 1);
    }
}

#[tokio::test]
async fn retries_and_backoff_on_sqlite() {
    retries_wait_their_backoff_and_the_last_failure_keeps_its_error(&crate::fresh_demo_db("tasks-retries")).await;
}

/// A batch run that cannot read its queue has not drained it: it fails, and says how to fix it.
#[test]
fn a_batch_worker_that_cannot_read_the_queue_fails() {
    let dir = std::env::temp_dir().join(format!("djambda-tasks-unmigrated-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("unmigrated.sqlite3");
    let _ = std::fs::remove_file(&path);
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let out = manage(&url, &["runworker", "--batch"]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("the task table could not be read or written"), "{}", text(&out));
    assert!(text(&out).contains("manage migrate"), "{}", text(&out));
}

#[tokio::test]
async fn two_workers_on_sqlite() {
    two_workers_never_run_one_task_twice(&crate::fresh_demo_db("tasks-workers"), 200, "1").await;
}

/// A database of its own on the server at `base`, migrated with the demo data.
async fn scratch_database(base: &str, tag: &str) -> (String, String) {
    let name = format!("djambda_tasks_{tag}_{}", std::process::id());
    let admin =
        djambda::db::sea_orm::Database::connect(base).await.unwrap_or_else(|e| panic!("connect to {base}: {e}"));
    admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name}")).await.unwrap();
    admin.execute_unprepared(&format!("CREATE DATABASE {name}")).await.unwrap();
    let _ = admin.close().await;
    let (server, _) = base.rsplit_once('/').expect("a database URL ends with /name");
    let url = format!("{server}/{name}");
    for args in [&["migrate"][..], &["loaddata", "demo"][..]] {
        let out = manage(&url, args);
        assert!(out.status.success(), "manage {args:?}: {}", text(&out));
    }
    (url, name)
}

async fn drop_database(base: &str, name: &str) {
    let admin = djambda::db::sea_orm::Database::connect(base).await.unwrap();
    let _ = admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name}")).await;
}

async fn on_server(base: &str, tag: &str) {
    let (url, name) = scratch_database(base, tag).await;
    retries_wait_their_backoff_and_the_last_failure_keeps_its_error(&url).await;
    a_batch_worker_waits_out_another_workers_claim(&url).await;
    two_workers_never_run_one_task_twice(&url, 300, "4").await;
    drop_database(base, &name).await;
}

#[tokio::test]
#[ignore = "needs DJAMBDA_TEST_POSTGRES_URL (a PostgreSQL database; .ci/run sets it)"]
async fn tasks_on_postgres() {
    on_server(&std::env::var("DJAMBDA_TEST_POSTGRES_URL").expect("DJAMBDA_TEST_POSTGRES_URL"), "pg").await;
}

#[tokio::test]
#[ignore = "needs DJAMBDA_TEST_MYSQL_URL (a MySQL or MariaDB database; .ci/run sets it)"]
async fn tasks_on_mysql() {
    on_server(&std::env::var("DJAMBDA_TEST_MYSQL_URL").expect("DJAMBDA_TEST_MYSQL_URL"), "mysql").await;
}

#[tokio::test]
async fn the_lambda_function_drains_the_table_on_its_schedule() {
    let url = crate::fresh_demo_db("tasks-lambda");
    let site = site_on(&url, "database");
    let queued = recalculate_pipeline().enqueue(&site, &RecalculatePipeline { company_id: 1 }).await.unwrap();
    let api = RuntimeApi::start().await;
    let env = [
        ("DEBUG", "false"),
        ("SECRET_KEY", SECRET_KEY),
        ("ALLOWED_HOSTS", "*"),
        ("DATABASE_URL", url.as_str()),
        ("TASKS_BACKEND", "database"),
    ];
    let function = spawn_lambda(manage_bin(), &api.address(), &env);
    // What the SAM template's schedule sends.
    let answer = api.invoke_with_timeout(json!({"task": "tasks-drain"}).to_string(), Duration::from_secs(30)).await;
    let answer =
        answer.unwrap_or_else(|e| panic!("{e}\n{}", function.stderr.try_iter().collect::<Vec<_>>().join("\n")));
    assert_eq!(answer.response(), json!({"task": "tasks-drain", "status": "done"}));
    let done = result(&site, &queued.id).await;
    assert_eq!((done.status, done.attempts), (TaskStatus::Succeeded, 1));
    let mut logged = false;
    while let Ok(line) = function.stderr.recv_timeout(Duration::from_secs(5)) {
        if line.contains("tasks drained: 1 succeeded, 0 retried later, 0 failed") {
            logged = true;
            break;
        }
    }
    assert!(logged, "the drain says what it did");

    // The SAM template has the schedule.
    let out = manage(&url, &["lambda", "template"]);
    let template = text(&out);
    assert!(out.status.success(), "{template}");
    assert!(template.contains("TasksDrainSchedule:"), "{template}");
    assert!(
        template.contains("Schedule: \"rate(1 minute)\"")
            && template.contains(r#"Input: "{\"task\":\"tasks-drain\"}""#)
    );
}

/// The SQS backend against moto's SQS in server mode (`moto[server]` from PyPI, run by the
/// python DJAMBDA_MOTO_PYTHON names): the built function enqueues from the company page through
/// the AWS SDK, the messages are received from the queue and handed back to the same function
/// as an SQS event, as Lambda's event source mapping does. Needs the `sqs` feature
/// (`cargo test -p example_site --features sqs`), which brings the SDK.
#[tokio::test]
#[ignore = "needs DJAMBDA_MOTO_PYTHON (a python with moto[server]) and --features sqs; .ci/run sets both"]
async fn the_sqs_backend_through_the_function() {
    #[cfg(not(feature = "sqs"))]
    panic!("build the test with `cargo test -p example_site --features sqs`: the SQS backend needs the AWS SDK");
    #[cfg(feature = "sqs")]
    sqs::through_the_function().await;
}

#[cfg(feature = "sqs")]
mod sqs {
    use std::process::{Child, Command};
    use std::time::Duration;

    use djambda::db::sea_orm::{ActiveModelTrait, EntityTrait, ModelTrait, Set};
    use djambda::tasks::TaskStatus;
    use djambda::tasks::models::task;
    use example_site::crm::models::company;
    use serde_json::{Value, json};
    use tests::emulator::RuntimeApi;
    use tests::process::spawn_lambda;

    use super::{pipeline_notes, result, site_on};
    use crate::lambda::{Req, Shape, fixture};
    use crate::{SECRET_KEY, manage_bin};

    /// boto3 (moto's dependency) as the queue's other end: creates the queue, receives and
    /// deletes messages, as the Lambda service's event source mapping would.
    const SQS_CLIENT: &str = r#"
import json, sys, boto3
endpoint, action = sys.argv[1], sys.argv[2]
sqs = boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1",
                   aws_access_key_id="testing", aws_secret_access_key="testing")
if action == "create":
    print(sqs.create_queue(QueueName="djambda-tasks")["QueueUrl"])
elif action == "receive":
    url, wait = sys.argv[3], int(sys.argv[4])
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=wait,
                              MessageSystemAttributeNames=["All"], VisibilityTimeout=30)
    print(json.dumps(got.get("Messages", [])))
elif action == "delete":
    sqs.delete_message(QueueUrl=sys.argv[3], ReceiptHandle=sys.argv[4])
"#;

    struct Moto {
        python: String,
        endpoint: String,
        server: Child,
    }

    impl Moto {
        fn start() -> Moto {
            let python = std::env::var("DJAMBDA_MOTO_PYTHON").expect("DJAMBDA_MOTO_PYTHON");
            let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            let server = Command::new(&python)
                .args(["-m", "moto.server", "-H", "127.0.0.1", "-p", &port.to_string()])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("start moto's server with {python}: {e}"));
            let endpoint = format!("http://127.0.0.1:{port}");
            let began = std::time::Instant::now();
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                assert!(began.elapsed() < Duration::from_secs(30), "moto's server did not start on port {port}");
                std::thread::sleep(Duration::from_millis(100));
            }
            Moto { python, endpoint, server }
        }

        fn client(&self, args: &[&str]) -> String {
            let out = Command::new(&self.python)
                .args(["-c", SQS_CLIENT, &self.endpoint])
                .args(args)
                .output()
                .expect("run the SQS client");
            assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
            String::from_utf8_lossy(&out.stdout).trim().to_owned()
        }

        fn receive(&self, url: &str, wait: u32) -> Vec<Value> {
            serde_json::from_str::<Vec<Value>>(&self.client(&["receive", url, &wait.to_string()])).unwrap()
        }

        /// Receives until `n` messages came or `within` passed.
        fn receive_n(&self, url: &str, n: usize, within: Duration) -> Vec<Value> {
            let began = std::time::Instant::now();
            let mut got = Vec::new();
            while got.len() < n && began.elapsed() < within {
                got.extend(self.receive(url, 1));
            }
            got
        }
    }

    impl Drop for Moto {
        fn drop(&mut self) {
            let _ = self.server.kill();
            let _ = self.server.wait();
        }
    }

    /// Lambda's SQS event for received messages (AWS's sample record, with theirs).
    fn sqs_event(messages: &[Value], receive_count: Option<&str>) -> Value {
        let sample = fixture("example-sqs-event.json");
        let records: Vec<Value> = messages
            .iter()
            .map(|m| {
                let mut record = sample["Records"][0].clone();
                record["messageId"] = m["MessageId"].clone();
                record["receiptHandle"] = m["ReceiptHandle"].clone();
                record["body"] = m["Body"].clone();
                record["md5OfBody"] = m["MD5OfBody"].clone();
                record["attributes"] = m["Attributes"].clone();
                if let Some(count) = receive_count {
                    record["attributes"]["ApproximateReceiveCount"] = json!(count);
                }
                record["eventSourceARN"] = json!("arn:aws:sqs:us-east-1:123456789012:djambda-tasks");
                record["awsRegion"] = json!("us-east-1");
                record
            })
            .collect();
        json!({ "Records": records })
    }

    fn task_id(message: &Value) -> String {
        let body: Value = serde_json::from_str(message["Body"].as_str().unwrap()).unwrap();
        body["id"].as_str().unwrap().to_owned()
    }

    pub(super) async fn through_the_function() {
        let moto = Moto::start();
        let queue = moto.client(&["create"]);
        let url = crate::fresh_demo_db("tasks-sqs");
        // In-process, to read the results the SQS backend keeps in djambda_task.
        let site = site_on(&url, "database");
        let db = site.database().connection().await.unwrap();
        let doomed = company::ActiveModel {
            slug: Set("gone-soon".into()),
            name: Set("Gone Soon".into()),
            industry: Set("Retail".into()),
            city: Set("Ghent".into()),
            website: Set(String::new()),
            ..Default::default()
        }
        .insert(&db)
        .await
        .unwrap();

        let api = RuntimeApi::start().await;
        let env = [
            ("DEBUG", "false"),
            ("SECRET_KEY", SECRET_KEY),
            ("ALLOWED_HOSTS", "*"),
            ("DATABASE_URL", url.as_str()),
            ("TASKS_BACKEND", "sqs"),
            ("TASKS_QUEUE_URL", queue.as_str()),
            ("AWS_ENDPOINT_URL_SQS", moto.endpoint.as_str()),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
        ];
        let function = spawn_lambda(manage_bin(), &api.address(), &env);
        let invoke = |event: Value| {
            let api = &api;
            let function = &function;
            async move {
                api.invoke_with_timeout(event.to_string(), Duration::from_secs(30))
                    .await
                    .unwrap_or_else(|e| panic!("{e}\n{}", function.stderr.try_iter().collect::<Vec<_>>().join("\n")))
            }
        };

        // Enqueued from the company page, in the function: a row and a message each.
        for slug in ["acme-logistics", "gone-soon"] {
            let req = Shape::FunctionUrl
                .request(&Req::new("POST", &format!("/companies/{slug}/recalculate/"), 302).body(b""));
            let seen = Shape::FunctionUrl.seen(&invoke(Shape::FunctionUrl.event(&req, None)).await.response());
            assert_eq!(seen.status, 302, "{slug}: {}", String::from_utf8_lossy(&seen.body));
        }
        let rows = task::Entity::find().all(&db).await.unwrap();
        assert_eq!(rows.len(), 2);
        assert!(rows.iter().all(|r| r.status == "queued"));
        let messages = moto.receive_n(&queue, 2, Duration::from_secs(20));
        assert_eq!(messages.len(), 2, "both messages are on the queue");
        let ids: Vec<String> = messages.iter().map(task_id).collect();
        let gone_payload = json!({"company_id": doomed.id}).to_string();
        let gone_id = rows.iter().find(|r| r.payload == gone_payload).unwrap().id.clone();
        let acme_id = ids.iter().find(|id| **id != gone_id).unwrap().clone();
        let gone_message = messages.iter().find(|m| task_id(m) == gone_id).unwrap().clone();
        let acme_message = messages.iter().find(|m| task_id(m) == acme_id).unwrap().clone();
        doomed.clone().delete(&db).await.unwrap();

        // The batch: one task runs, the other fails and is reported for SQS to redeliver.
        let answer = invoke(sqs_event(&messages, None)).await.response();
        assert_eq!(answer, json!({"batchItemFailures": [{"itemIdentifier": gone_message["MessageId"]}]}));
        let done = result(&site, &acme_id).await;
        assert_eq!((done.status, done.attempts), (TaskStatus::Succeeded, 1));
        assert_eq!(pipeline_notes(&site).await.len(), 1);
        let waiting = result(&site, &gone_id).await;
        assert_eq!((waiting.status, waiting.attempts), (TaskStatus::Queued, 1));
        assert_eq!(waiting.error.as_deref(), Some(format!("no company has the id {}", doomed.id).as_str()));
        // What the event source mapping does with the answer: deletes the others.
        moto.client(&["delete", &queue, acme_message["ReceiptHandle"].as_str().unwrap()]);

        // The failed message was put off for the task's backoff (5 s; it was received for 30 s).
        std::thread::sleep(Duration::from_secs(2));
        assert!(moto.receive(&queue, 1).is_empty(), "not before its backoff");
        let again = moto.receive_n(&queue, 1, Duration::from_secs(15));
        assert_eq!(again.len(), 1, "delivered again after its backoff");
        assert_eq!(again[0]["Attributes"]["ApproximateReceiveCount"], "2");
        let answer = invoke(sqs_event(&again, None)).await.response();
        assert_eq!(answer["batchItemFailures"].as_array().unwrap().len(), 1, "{answer}");
        assert_eq!(result(&site, &gone_id).await.attempts, 2);

        // Its fourth delivery (SQS's count says so) is its last attempt: failed for good, the
        // error kept, and the message let go.
        let last = moto.receive_n(&queue, 1, Duration::from_secs(20));
        assert_eq!(last.len(), 1);
        let answer = invoke(sqs_event(&last, Some("4"))).await.response();
        assert_eq!(answer, json!({"batchItemFailures": []}));
        let failed = result(&site, &gone_id).await;
        assert_eq!((failed.status, failed.attempts), (TaskStatus::Failed, 4));
        assert_eq!(failed.error.as_deref(), Some(format!("no company has the id {}", doomed.id).as_str()));

        // Delivered again after it succeeded (SQS delivers at least once): not run twice.
        let answer = invoke(sqs_event(&[acme_message], None)).await.response();
        assert_eq!(answer, json!({"batchItemFailures": []}));
        assert_eq!(pipeline_notes(&site).await.len(), 1);

        // A task that always fails, whose message's count says 1 at every delivery (a count
        // restarted: the message moved back from a dead-letter queue, or sent again): its own
        // count of attempts still brings it to its last one, and the message is let go.
        let stuck = company::ActiveModel {
            slug: Set("stuck".into()),
            name: Set("Stuck".into()),
            industry: Set("Retail".into()),
            city: Set("Ghent".into()),
            website: Set(String::new()),
            ..Default::default()
        }
        .insert(&db)
        .await
        .unwrap();
        let req = Shape::FunctionUrl.request(&Req::new("POST", "/companies/stuck/recalculate/", 302).body(b""));
        let seen = Shape::FunctionUrl.seen(&invoke(Shape::FunctionUrl.event(&req, None)).await.response());
        assert_eq!(seen.status, 302, "{}", String::from_utf8_lossy(&seen.body));
        let sent = moto.receive_n(&queue, 1, Duration::from_secs(20));
        assert_eq!(sent.len(), 1);
        let stuck_id = task_id(&sent[0]);
        stuck.delete(&db).await.unwrap();
        for attempt in 1..=4u32 {
            let answer = invoke(sqs_event(&sent, Some("1"))).await.response();
            let reported = answer["batchItemFailures"].as_array().unwrap().len();
            let row = result(&site, &stuck_id).await;
            assert_eq!(row.attempts, attempt, "{answer}");
            if attempt < 4 {
                assert_eq!((reported, row.status), (1, TaskStatus::Queued), "attempt {attempt}: {answer}");
            } else {
                assert_eq!((reported, row.status), (0, TaskStatus::Failed), "the last attempt lets it go: {answer}");
            }
        }
        moto.client(&["delete", &queue, sent[0]["ReceiptHandle"].as_str().unwrap()]);

        // A message that is not a task fails alone, with a clear line in the log.
        let mut junk = gone_message.clone();
        junk["MessageId"] = json!("junk-1");
        junk["Body"] = json!("{\"hello\": 1}");
        let answer = invoke(sqs_event(&[junk], None)).await.response();
        assert_eq!(answer, json!({"batchItemFailures": [{"itemIdentifier": "junk-1"}]}));

        // The queue unreachable: the page says so (503), and nothing is acknowledged.
        drop(moto);
        let req =
            Shape::FunctionUrl.request(&Req::new("POST", "/companies/acme-logistics/recalculate/", 503).body(b""));
        let seen = Shape::FunctionUrl.seen(&invoke(Shape::FunctionUrl.event(&req, None)).await.response());
        assert_eq!(seen.status, 503, "{}", String::from_utf8_lossy(&seen.body));
        let unsent = task::Entity::find().all(&db).await.unwrap();
        let unsent = unsent.iter().find(|r| ![&acme_id, &gone_id, &stuck_id].contains(&&r.id)).unwrap();
        assert_eq!(unsent.status, "failed");
        assert!(unsent.error.as_deref().unwrap().starts_with("the task could not be sent to the queue"), "{unsent:?}");

        // The SAM template has the queue, its URL in the environment and the right to send.
        let out = Command::new(manage_bin())
            .args(["lambda", "template"])
            .env("DATABASE_URL", &url)
            .env("TASKS_BACKEND", "sqs")
            .output()
            .unwrap();
        let template = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        for line in [
            "TASKS_QUEUE_URL: !Ref DjambdaTasksQueue",
            "DjambdaTasksMessages:",
            "Queue: !GetAtt DjambdaTasksQueue.Arn",
            "FunctionResponseTypes: [ReportBatchItemFailures]",
            "QueueName: \"djambda-tasks\"",
            "- SQSSendMessagePolicy:",
            "- SQSPollerPolicy:",
            // What keeps failing without being a task's last attempt goes to a dead-letter
            // queue, after more deliveries than the task's 4 attempts.
            "RedrivePolicy:\n        deadLetterTargetArn: !GetAtt DjambdaTasksDeadLetterQueue.Arn\n        maxReceiveCount: 6",
            "QueueName: \"djambda-tasks-dead-letters\"",
        ] {
            assert!(template.contains(line), "{line}\n{template}");
        }
    }
}
