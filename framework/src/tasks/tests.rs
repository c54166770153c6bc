//! The tasks app on the immediate and database backends, on SQLite: what runs, how often, and
//! what each result says.

use std::sync::Mutex;
use std::time::Duration;

use sea_orm::{ConnectionTrait, Statement};
use serde::{Deserialize, Serialize};

use super::*;
use crate::Settings;

/// What the test tasks did, kept on the site.
#[derive(Default)]
struct Log(Mutex<Vec<String>>);

fn log(site: &Site) -> Vec<String> {
    site.state::<Log>().unwrap().0.lock().unwrap().clone()
}

#[derive(Serialize, Deserialize)]
struct Note {
    text: String,
}

#[derive(Serialize, Deserialize)]
struct Flaky {
    fail_times: u32,
}

fn record() -> Task<Note> {
    Task::new("jobs.record", |ctx: TaskContext, note: Note| async move {
        ctx.site().state::<Log>().unwrap().0.lock().unwrap().push(note.text);
        Ok(())
    })
}

fn flaky() -> Task<Flaky> {
    Task::new("jobs.flaky", |ctx: TaskContext, f: Flaky| async move {
        if ctx.attempt() <= f.fail_times {
            return Err(Error::internal(format!("flaky attempt {}", ctx.attempt())));
        }
        ctx.site().state::<Log>().unwrap().0.lock().unwrap().push(format!("flaky done on {}", ctx.attempt()));
        Ok(())
    })
    .max_attempts(3)
    .backoff(Backoff::fixed(Duration::from_secs(3600)))
}

fn always_fails() -> Task<()> {
    Task::new(
        "jobs.always_fails",
        |_ctx: TaskContext, _: ()| async move { Err(Error::internal("the mail server said no")) },
    )
    .max_attempts(2)
    .backoff(Backoff::fixed(Duration::ZERO))
}

fn panics() -> Task<()> {
    Task::new("jobs.panics", |_ctx: TaskContext, _: ()| async move {
        if true {
            panic!("boom");
        }
        Ok(())
    })
    .max_attempts(1)
}

fn slow() -> Task<()> {
    Task::new("jobs.slow", |_ctx: TaskContext, _: ()| async move {
        tokio::time::sleep(Duration::from_secs(30)).await;
        Ok(())
    })
    .max_attempts(1)
    .timeout(Duration::from_millis(200))
}

fn jobs() -> App {
    App::new("jobs").state(Log::default()).task(record()).task(flaky()).task(always_fails()).task(panics()).task(slow())
}

fn temp_db(tag: &str) -> String {
    let dir = std::env::temp_dir().join(format!("djambda-tasks-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    format!("sqlite://{}?mode=rwc", dir.join("db.sqlite3").display())
}

fn build(settings: &str, apps: Vec<App>) -> std::result::Result<Site, crate::ConfigError> {
    let settings = Settings::from_sources(Some(&format!("DEBUG = true\n{settings}")), |_| None).unwrap();
    let mut builder = Site::builder().settings(settings);
    for app in apps {
        builder = builder.app(app);
    }
    builder.build()
}

async fn database_site(tag: &str) -> Site {
    let url = temp_db(tag);
    let site = build(&format!("TASKS_BACKEND = 'database'\nDATABASE_URL = '{url}'"), vec![app(), jobs()]).unwrap();
    site.apply_migrations().await.unwrap();
    site
}

async fn sql(site: &Site, statement: &str) {
    let db = site.database().connection().await.unwrap();
    db.execute_raw(Statement::from_string(db.get_database_backend(), statement)).await.unwrap();
}

#[tokio::test]
async fn immediate_runs_each_attempt_inside_enqueue() {
    let site = build("", vec![app(), jobs()]).unwrap();
    assert_eq!(backend_kind(&site), Some(BackendKind::Immediate));

    let done = record().enqueue(&site, &Note { text: "hello".into() }).await.unwrap();
    assert_eq!((done.status, done.attempts, done.error.as_deref()), (TaskStatus::Succeeded, 1, None));
    assert_eq!(log(&site), ["hello"]);
    assert_eq!(get_result(&site, &done.id).await.unwrap().unwrap(), done);

    // Retried at once (no backoff wait inside a request), and the last error kept.
    let flaked = flaky().enqueue(&site, &Flaky { fail_times: 2 }).await.unwrap();
    assert_eq!((flaked.status, flaked.attempts), (TaskStatus::Succeeded, 3));
    assert_eq!(flaked.error.as_deref(), Some("flaky attempt 2"));
    let gave_up = flaky().enqueue(&site, &Flaky { fail_times: 5 }).await.unwrap();
    assert_eq!((gave_up.status, gave_up.attempts), (TaskStatus::Failed, 3));
    assert_eq!(gave_up.error.as_deref(), Some("flaky attempt 3"));

    let failed = always_fails().enqueue(&site, &()).await.unwrap();
    assert_eq!((failed.status, failed.attempts), (TaskStatus::Failed, 2));
    assert_eq!(failed.error.as_deref(), Some("the mail server said no"));

    // A panic is a failed attempt; the process goes on.
    let panicked = panics().enqueue(&site, &()).await.unwrap();
    assert_eq!(panicked.status, TaskStatus::Failed);
    assert_eq!(panicked.error.as_deref(), Some("the task panicked: boom"));

    let began = std::time::Instant::now();
    let stopped = slow().enqueue(&site, &()).await.unwrap();
    assert!(began.elapsed() < Duration::from_secs(5));
    assert_eq!(stopped.status, TaskStatus::Failed);
    assert!(stopped.error.as_deref().unwrap().contains("took longer than 0.2 s"), "{stopped:?}");

    assert_eq!(get_result(&site, "0123456789abcdef0123456789abcdef").await.unwrap(), None);
    assert_eq!(log(&site), ["hello", "flaky done on 3"]);
}

#[tokio::test]
async fn only_declared_tasks_are_enqueued_and_names_are_unique() {
    let site = build("", vec![app(), App::new("jobs").state(Log::default()).task(record())]).unwrap();
    let err = flaky().enqueue(&site, &Flaky { fail_times: 0 }).await.unwrap_err();
    assert!(
        err.to_string().contains("the task \"jobs.flaky\" is not declared on this site (it declares: jobs.record)"),
        "{err}"
    );

    let err = build("", vec![jobs()]).unwrap_err().to_string();
    assert!(err.contains("it needs the \"tasks\" app: install it with .app(djambda::tasks::app())"), "{err}");

    let twice = App::new("jobs").task(record()).task(record());
    let err = build("", vec![app(), twice]).unwrap_err().to_string();
    assert!(err.contains("two tasks are named \"jobs.record\""), "{err}");

    let bad_name = App::new("jobs").task(Task::new("send mail", |_c: TaskContext, _: ()| async { Ok(()) }));
    let err = build("", vec![app(), bad_name]).unwrap_err().to_string();
    assert!(err.contains("the task name \"send mail\""), "{err}");
}

#[tokio::test]
async fn settings_choose_the_backend_and_its_events() {
    let err = build("TASKS_BACKEND = 'rabbitmq'", vec![app()]).unwrap_err().to_string();
    assert!(err.contains("TASKS_BACKEND must be \"immediate\", \"database\" or \"sqs\" (got \"rabbitmq\")"), "{err}");
    #[cfg(not(feature = "sqs"))]
    {
        let err = build("TASKS_BACKEND = 'sqs'", vec![app()]).unwrap_err().to_string();
        assert!(err.contains("needs djambda built with its `sqs` feature"), "{err}");
    }
    let err = build("TASKS_BACKEND = 'database'\nTASKS_DRAIN_SCHEDULE = 'every minute'", vec![app()])
        .unwrap_err()
        .to_string();
    assert!(err.contains("the schedule of task \"tasks-drain\" is \"every minute\""), "{err}");

    // The database backend drains on a schedule (the SAM template writes it); the others don't.
    let drained = build("TASKS_BACKEND = 'database'", vec![app()]).unwrap();
    assert_eq!(drained.events().schedules().collect::<Vec<_>>(), [("tasks-drain", "rate(1 minute)")]);
    let custom = build("TASKS_BACKEND = 'database'\nTASKS_DRAIN_SCHEDULE = 'rate(5 minutes)'", vec![app()]).unwrap();
    assert_eq!(custom.events().schedules().collect::<Vec<_>>(), [("tasks-drain", "rate(5 minutes)")]);
    let off = build("TASKS_BACKEND = 'database'\nTASKS_DRAIN_SCHEDULE = 'off'", vec![app()]).unwrap();
    assert_eq!(off.events().schedules().count(), 0);
    let immediate = build("", vec![app()]).unwrap();
    assert_eq!(immediate.events().schedules().count(), 0);

    // The environment wins over settings.toml, as for every setting.
    let settings = Settings::from_sources(Some("DEBUG = true\nTASKS_BACKEND = 'database'"), |k| {
        (k == "TASKS_BACKEND").then(|| "immediate".to_owned())
    })
    .unwrap();
    let site = Site::builder().settings(settings).app(app()).build().unwrap();
    assert_eq!(backend_kind(&site), Some(BackendKind::Immediate));
}

#[tokio::test]
async fn the_database_backend_queues_and_a_drain_runs_them() {
    let site = database_site("queue").await;
    let queued = record().enqueue(&site, &Note { text: "later".into() }).await.unwrap();
    assert_eq!((queued.status, queued.attempts, queued.max_attempts), (TaskStatus::Queued, 0, 3));
    assert!(log(&site).is_empty(), "nothing runs inside enqueue");
    assert_eq!(get_result(&site, &queued.id).await.unwrap().unwrap().status, TaskStatus::Queued);

    let drained = database::drain(&site).await.unwrap();
    assert_eq!((drained.succeeded, drained.retried, drained.failed), (1, 0, 0));
    assert_eq!(log(&site), ["later"]);
    let done = get_result(&site, &queued.id).await.unwrap().unwrap();
    assert_eq!((done.status, done.attempts, done.error), (TaskStatus::Succeeded, 1, None));
    assert!(done.started_at.is_some() && done.finished_at.is_some());
    assert_eq!(database::drain(&site).await.unwrap().total(), 0, "a task runs once");
    assert_eq!(get_result(&site, "not-an-id").await.unwrap(), None);
}

#[tokio::test]
async fn a_failed_attempt_waits_its_backoff_and_the_last_one_keeps_its_error() {
    let site = database_site("retry").await;
    let flaked = flaky().enqueue(&site, &Flaky { fail_times: 1 }).await.unwrap();
    let drained = database::drain(&site).await.unwrap();
    assert_eq!((drained.succeeded, drained.retried), (0, 1));
    let waiting = get_result(&site, &flaked.id).await.unwrap().unwrap();
    assert_eq!((waiting.status, waiting.attempts), (TaskStatus::Queued, 1));
    assert_eq!(waiting.error.as_deref(), Some("flaky attempt 1"));
    let wait = waiting.run_after - chrono::Utc::now();
    assert!(wait > chrono::Duration::minutes(59) && wait <= chrono::Duration::hours(1), "{wait}");
    assert_eq!(database::drain(&site).await.unwrap().total(), 0, "not before its backoff");

    sql(&site, &format!("UPDATE djambda_task SET run_after = '2001-01-01 00:00:00+00:00' WHERE id = '{}'", flaked.id))
        .await;
    assert_eq!(database::drain(&site).await.unwrap().succeeded, 1);
    let done = get_result(&site, &flaked.id).await.unwrap().unwrap();
    assert_eq!((done.status, done.attempts), (TaskStatus::Succeeded, 2));
    assert_eq!(log(&site), ["flaky done on 2"]);

    // No backoff: both attempts in one drain, then failed for good with the error kept.
    let failing = always_fails().enqueue(&site, &()).await.unwrap();
    let drained = database::drain(&site).await.unwrap();
    assert_eq!((drained.retried, drained.failed), (1, 1));
    let failed = get_result(&site, &failing.id).await.unwrap().unwrap();
    assert_eq!((failed.status, failed.attempts, failed.max_attempts), (TaskStatus::Failed, 2, 2));
    assert_eq!(failed.error.as_deref(), Some("the mail server said no"));
    assert!(failed.finished_at.is_some());

    let panicked = panics().enqueue(&site, &()).await.unwrap();
    database::drain(&site).await.unwrap();
    let after = get_result(&site, &panicked.id).await.unwrap().unwrap();
    assert_eq!((after.status, after.error.as_deref()), (TaskStatus::Failed, Some("the task panicked: boom")));
}

#[tokio::test]
async fn unknown_tasks_and_bad_payloads_fail_without_retries() {
    let site = database_site("bad").await;
    let gone = record().enqueue(&site, &Note { text: "x".into() }).await.unwrap();
    let misfit = record().enqueue(&site, &Note { text: "y".into() }).await.unwrap();
    sql(&site, &format!("UPDATE djambda_task SET task_name = 'jobs.gone' WHERE id = '{}'", gone.id)).await;
    sql(&site, &format!("UPDATE djambda_task SET payload = '{{\"title\": 3}}' WHERE id = '{}'", misfit.id)).await;
    let drained = database::drain(&site).await.unwrap();
    assert_eq!((drained.failed, drained.retried), (2, 0));
    let gone = get_result(&site, &gone.id).await.unwrap().unwrap();
    assert_eq!((gone.status, gone.attempts), (TaskStatus::Failed, 1));
    assert!(
        gone.error
            .as_deref()
            .unwrap()
            .starts_with("no task named \"jobs.gone\" is declared on this site (it declares: "),
        "{gone:?}"
    );
    let misfit = get_result(&site, &misfit.id).await.unwrap().unwrap();
    assert_eq!(misfit.status, TaskStatus::Failed);
    assert!(
        misfit
            .error
            .as_deref()
            .unwrap()
            .starts_with("the payload does not fit the task \"jobs.record\": missing field `text`"),
        "{misfit:?}"
    );
    assert!(log(&site).is_empty());
}

#[tokio::test]
async fn a_task_whose_worker_stopped_is_taken_over_when_its_lease_ends() {
    let site = database_site("lease").await;
    let task = record().enqueue(&site, &Note { text: "again".into() }).await.unwrap();
    // A worker claims it and dies.
    let claimed = database::claim(&site, 5).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(get_result(&site, &task.id).await.unwrap().unwrap().status, TaskStatus::Running);
    assert_eq!(database::drain(&site).await.unwrap().total(), 0, "held while its lease lasts");
    sql(&site, "UPDATE djambda_task SET lease_expires_at = '2001-01-01 00:00:00+00:00'").await;
    assert_eq!(database::drain(&site).await.unwrap().succeeded, 1);
    let done = get_result(&site, &task.id).await.unwrap().unwrap();
    assert_eq!((done.status, done.attempts), (TaskStatus::Succeeded, 2));
    // The dead worker's late outcome does not overwrite the new one.
    assert_eq!(database::process(&site, claimed.into_iter().next().unwrap()).await, database::Finished::Lost);

    // Taken over after its last attempt: failed, saying why.
    let last = panics().enqueue(&site, &()).await.unwrap();
    database::claim(&site, 1).await.unwrap();
    sql(&site, "UPDATE djambda_task SET lease_expires_at = '2001-01-01 00:00:00+00:00' WHERE status = 'running'").await;
    database::drain(&site).await.unwrap();
    let failed = get_result(&site, &last.id).await.unwrap().unwrap();
    assert_eq!((failed.status, failed.attempts), (TaskStatus::Failed, 1));
    assert_eq!(
        failed.error.as_deref(),
        Some("the worker running attempt 1 stopped before it finished (its lease ran out)")
    );
}

#[tokio::test]
async fn the_lambda_drain_stops_before_the_invocation_deadline() {
    let site = database_site("deadline").await;
    let task = record().enqueue(&site, &Note { text: "scheduled".into() }).await.unwrap();
    let soon = std::time::Instant::now() + Duration::from_secs(1);
    crate::site::events::with_deadline(soon, crate::lambda::events::run_task(&site, "tasks-drain", Value::Null))
        .await
        .unwrap();
    assert_eq!(get_result(&site, &task.id).await.unwrap().unwrap().status, TaskStatus::Queued);
    let later = std::time::Instant::now() + Duration::from_secs(60);
    let answer =
        crate::site::events::with_deadline(later, crate::lambda::events::run_task(&site, "tasks-drain", Value::Null))
            .await
            .unwrap();
    assert_eq!(answer, serde_json::json!({"task": "tasks-drain", "status": "done"}));
    assert_eq!(get_result(&site, &task.id).await.unwrap().unwrap().status, TaskStatus::Succeeded);
    assert_eq!(log(&site), ["scheduled"]);
}

/// Payloads and errors of several hundred KiB: stored whole, run, and kept (MySQL's TEXT held
/// 64 KiB, so such a payload was refused at enqueue).
async fn large_payloads_and_errors_are_kept(url: &str) {
    let big_error = Task::new("big.fails", |_ctx: TaskContext, size: usize| async move {
        Err(Error::internal(format!("{}!", "e".repeat(size))))
    })
    .max_attempts(1);
    let site = build(
        &format!("TASKS_BACKEND = 'database'\nDATABASE_URL = '{url}'"),
        vec![app(), jobs(), App::new("big").task(big_error.clone())],
    )
    .unwrap();
    site.apply_migrations().await.unwrap();
    let text = format!("{}é🙂", "x".repeat(300_000));
    let queued = record().enqueue(&site, &Note { text: text.clone() }).await.unwrap();
    let failing = big_error.enqueue(&site, &200_000).await.unwrap();
    let drained = database::drain(&site).await.unwrap();
    assert_eq!((drained.succeeded, drained.failed), (1, 1));
    assert_eq!(get_result(&site, &queued.id).await.unwrap().unwrap().status, TaskStatus::Succeeded);
    assert_eq!(log(&site), [text], "the task saw the whole payload");
    let failed = get_result(&site, &failing.id).await.unwrap().unwrap();
    assert_eq!(failed.status, TaskStatus::Failed);
    assert_eq!(failed.error, Some(format!("{}!", "e".repeat(200_000))), "the whole error is kept");
}

#[tokio::test]
async fn large_payloads_and_errors_on_sqlite() {
    large_payloads_and_errors_are_kept(&temp_db("large")).await;
}

#[tokio::test]
#[ignore = "needs DJAMBDA_TEST_MYSQL_URL (a MySQL or MariaDB database; .ci/run sets it)"]
async fn large_payloads_and_errors_on_mysql() {
    let base = std::env::var("DJAMBDA_TEST_MYSQL_URL").expect("DJAMBDA_TEST_MYSQL_URL");
    let name = format!("djambda_tasks_large_{}", std::process::id());
    let admin = sea_orm::Database::connect(&base).await.unwrap();
    admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name}")).await.unwrap();
    admin.execute_unprepared(&format!("CREATE DATABASE {name}")).await.unwrap();
    let (server, _) = base.rsplit_once('/').unwrap();
    large_payloads_and_errors_are_kept(&format!("{server}/{name}")).await;
    admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name}")).await.unwrap();
}
