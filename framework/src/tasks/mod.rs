//! Background tasks (Django 6's `django.tasks`, with a worker included): work a view hands off
//! to run after its response, retried with backoff when it fails.
//!
//! A task is a name and an async function taking a [`TaskContext`] (the site: its settings
//! and database; the attempt) and a serde payload. An app declares its tasks
//! ([`AppTasks::task`]); a view enqueues one and gets its id back at once; the result
//! ([`TaskResult`]: queued, running, succeeded or failed, with the attempts and the last error)
//! is read by that id with [`get_result`]. Where tasks run is the setting `TASKS_BACKEND`
//! (Django's `TASKS = {"default": {"BACKEND": …}}`):
//!
//! - `immediate` (the default): the task runs inside `enqueue`, every attempt at once, before
//!   the view goes on. For tests and small sites.
//! - `database`: a row of the `djambda_task` table (`manage migrate` creates it).
//!   `manage runworker` runs them on a server; on Lambda a schedule (`TASKS_DRAIN_SCHEDULE`,
//!   `rate(1 minute)` by default, written into the SAM template) drains the table.
//! - `sqs`: a message on the SQS queue `TASKS_QUEUE_URL` (djambda's `sqs` feature); the same
//!   Lambda function consumes the queue, and reports the messages whose task failed so that SQS
//!   delivers them again after the task's backoff. Results are kept in `djambda_task`.
//!
//! Each setting is read from the environment first, then from `settings.toml`.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use djambda::prelude::*;
//! use djambda::tasks::{AppTasks, Task, TaskContext, TaskStatus};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize)]
//! struct Welcome {
//!     email: String,
//! }
//!
//! async fn send_welcome(ctx: TaskContext, w: Welcome) -> Result<()> {
//!     let _db = ctx.site().database(); // the site's database and settings, as a view has them
//!     println!("welcome, {} (attempt {})", w.email, ctx.attempt());
//!     Ok(())
//! }
//!
//! fn welcome() -> Task<Welcome> {
//!     Task::new("accounts.send_welcome", send_welcome).max_attempts(5)
//! }
//!
//! let site = Site::builder()
//!     .settings(Settings::from_sources(Some("DEBUG = true\nTASKS_BACKEND = 'immediate'"), |_| None).unwrap())
//!     .app(djambda::tasks::app())
//!     .app(App::new("accounts").task(welcome()))
//!     .build()
//!     .unwrap();
//! // In a view: `welcome().enqueue(req.site(), &…)`.
//! let result = welcome().enqueue(&site, &Welcome { email: "ada@example.com".into() }).await.unwrap();
//! assert_eq!(result.status, TaskStatus::Succeeded);
//! let again = djambda::tasks::get_result(&site, &result.id).await.unwrap().unwrap();
//! assert_eq!(again.attempts, 1);
//! # });
//! ```

mod backends;
mod database;
pub mod migrations;
pub mod models;
mod runworker;
#[cfg(feature = "sqs")]
mod sqs;
mod worker;

use std::collections::BTreeMap;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::site::Site;
use crate::site::app::{App, AppSetup};
pub use backends::BackendKind;
use backends::{Backend, TasksConfig};

/// The tasks app: the `djambda_task` table's migration, the backend `TASKS_BACKEND` names,
/// `manage runworker`, and, by the backend, the Lambda schedule that drains the table or the
/// consumer of the SQS queue.
pub fn app() -> App {
    App::new("tasks").migrations::<migrations::Migrator>().command(runworker::command()).on_ready(|setup| {
        let config = TasksConfig::from_settings(setup.settings())?;
        if setup.state::<Registry>().is_none() {
            setup.insert_state(Registry::default());
        }
        let backend = Backend::new(&config)?;
        backend.register_events(setup, &config);
        setup.insert_state(TasksState { backend, config });
        Ok(())
    })
}

/// Declares tasks on an app (`App::new("crm").task(…)`): the worker finds a task by the name it
/// was declared with, so only declared tasks can be enqueued and run.
pub trait AppTasks {
    /// Declares `task` (its name, function and options). Two tasks of one name are refused
    /// when the site is built.
    fn task<P: Serialize + DeserializeOwned + Send + 'static>(self, task: Task<P>) -> App;
}

impl AppTasks for App {
    fn task<P: Serialize + DeserializeOwned + Send + 'static>(self, task: Task<P>) -> App {
        let entry = task.entry.clone();
        self.requires("tasks", "djambda::tasks::app()").on_ready(move |setup| declare(setup, entry))
    }
}

fn declare(setup: &mut AppSetup<'_>, entry: Arc<Registered>) -> std::result::Result<(), String> {
    if setup.state::<Registry>().is_none() {
        setup.insert_state(Registry::default());
    }
    let registry = setup.state_mut::<Registry>().ok_or("the task registry is missing")?;
    let name = entry.name.clone();
    let valid = !name.is_empty()
        && name.len() <= 200
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    if !valid {
        return Err(format!("the task name {name:?} may only hold letters, digits, `.`, `-` and `_`"));
    }
    if registry.0.insert(name.clone(), entry).is_some() {
        return Err(format!("two tasks are named {name:?}; a task's name must be unique in the site"));
    }
    Ok(())
}

/// How long to wait before each retry: `initial` after the first failed attempt, then
/// `factor` times longer after each next one, never more than `max`.
///
/// ```
/// use std::time::Duration;
/// use djambda::tasks::Backoff;
///
/// let b = Backoff::exponential(Duration::from_secs(10)).max(Duration::from_secs(60));
/// assert_eq!(b.delay(1), Duration::from_secs(10));
/// assert_eq!(b.delay(2), Duration::from_secs(20));
/// assert_eq!(b.delay(4), Duration::from_secs(60));
/// assert_eq!(Backoff::fixed(Duration::from_secs(5)).delay(3), Duration::from_secs(5));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    initial: Duration,
    factor: u32,
    max: Duration,
}

impl Backoff {
    /// Doubles from `initial`, up to an hour.
    pub fn exponential(initial: Duration) -> Self {
        Backoff { initial, factor: 2, max: Duration::from_secs(3600) }
    }

    /// The same wait before every retry.
    pub fn fixed(delay: Duration) -> Self {
        Backoff { initial: delay, factor: 1, max: delay }
    }

    /// Multiplies the wait by `factor` after each failed attempt (1 keeps it fixed).
    pub fn factor(mut self, factor: u32) -> Self {
        self.factor = factor.max(1);
        self
    }

    /// The longest wait.
    pub fn max(mut self, max: Duration) -> Self {
        self.max = max;
        self
    }

    /// The wait after failed attempt number `attempt` (1 for the first).
    pub fn delay(&self, attempt: u32) -> Duration {
        let mut delay = self.initial;
        for _ in 1..attempt {
            delay = delay.saturating_mul(self.factor);
            if delay >= self.max {
                break;
            }
        }
        delay.min(self.max)
    }
}

impl Default for Backoff {
    /// 10 seconds, then 20, 40… up to an hour.
    fn default() -> Self {
        Backoff::exponential(Duration::from_secs(10))
    }
}

/// How a task is retried and how long one attempt may take.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Options {
    pub(crate) max_attempts: u32,
    pub(crate) backoff: Backoff,
    pub(crate) timeout: Duration,
}

/// What a task's function gets besides its payload (Django's `TaskContext`).
#[derive(Clone)]
pub struct TaskContext {
    site: Site,
    id: String,
    attempt: u32,
}

impl TaskContext {
    /// The site: its settings, its database, its state, as a view sees them.
    pub fn site(&self) -> &Site {
        &self.site
    }

    /// The task's id, as `enqueue` returned it.
    pub fn task_id(&self) -> &str {
        &self.id
    }

    /// Which attempt this is: 1 the first time, 2 on the first retry.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }
}

type Runner =
    Arc<dyn Fn(TaskContext, Value) -> std::result::Result<BoxFuture<'static, Result<()>>, String> + Send + Sync>;

/// A declared task, without its payload's type: what the worker runs by name.
pub(crate) struct Registered {
    pub(crate) name: String,
    pub(crate) options: Options,
    pub(crate) run: Runner,
}

/// Every task the site's apps declared, by name.
#[derive(Default)]
pub(crate) struct Registry(pub(crate) BTreeMap<String, Arc<Registered>>);

impl Registry {
    /// The names, for a message about a name that is not among them.
    pub(crate) fn names(&self) -> String {
        if self.0.is_empty() { "none".to_owned() } else { self.0.keys().cloned().collect::<Vec<_>>().join(", ") }
    }
}

/// A task: its name, the async function that runs it, and how it is retried. Declare it on
/// its app with [`AppTasks::task`], enqueue it with [`Task::enqueue`].
pub struct Task<P> {
    entry: Arc<Registered>,
    payload: PhantomData<fn(P)>,
}

impl<P> Clone for Task<P> {
    fn clone(&self) -> Self {
        Task { entry: self.entry.clone(), payload: PhantomData }
    }
}

impl<P> std::fmt::Debug for Task<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Task").field("name", &self.entry.name).field("options", &self.entry.options).finish()
    }
}

impl<P: Serialize + DeserializeOwned + Send + 'static> Task<P> {
    /// A task called `name` (`app.what_it_does`; letters, digits, `.`, `-` and `_`) that runs
    /// `f`. By default it gets 3 attempts, [`Backoff::default`] between them, and 5 minutes
    /// for each.
    pub fn new<F, Fut>(name: &str, f: F) -> Self
    where
        F: Fn(TaskContext, P) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<()>> + Send + 'static,
    {
        let task_name = name.to_owned();
        let run: Runner = Arc::new(move |ctx, payload| {
            let payload =
                P::deserialize(payload).map_err(|e| format!("the payload does not fit the task {task_name:?}: {e}"))?;
            Ok(Box::pin(f(ctx, payload)))
        });
        let options = Options { max_attempts: 3, backoff: Backoff::default(), timeout: Duration::from_secs(300) };
        Task { entry: Arc::new(Registered { name: name.to_owned(), options, run }), payload: PhantomData }
    }

    fn with_options(self, edit: impl FnOnce(&mut Options)) -> Self {
        let mut options = self.entry.options;
        edit(&mut options);
        let entry = Registered { name: self.entry.name.clone(), options, run: self.entry.run.clone() };
        Task { entry: Arc::new(entry), payload: PhantomData }
    }

    /// How many attempts the task gets (at least 1) before it ends as failed.
    pub fn max_attempts(self, n: u32) -> Self {
        self.with_options(|o| o.max_attempts = n.max(1))
    }

    /// How long to wait before each retry.
    pub fn backoff(self, backoff: Backoff) -> Self {
        self.with_options(|o| o.backoff = backoff)
    }

    /// How long one attempt may run before it is stopped and counted as failed.
    pub fn timeout(self, timeout: Duration) -> Self {
        self.with_options(|o| o.timeout = timeout)
    }

    /// The task's name.
    pub fn name(&self) -> &str {
        &self.entry.name
    }

    /// Hands the task to the site's backend with `payload` and returns its result so far:
    /// queued (database, SQS), or already finished (immediate). An error means the task was
    /// not enqueued (the backend could not be reached, the task is not declared on the site,
    /// the payload is not JSON).
    pub async fn enqueue(&self, site: &Site, payload: &P) -> Result<TaskResult> {
        let state = tasks_state(site)?;
        let registry = site.state::<Registry>().ok_or_else(not_installed)?;
        let Some(entry) = registry.0.get(&self.entry.name) else {
            return Err(Error::internal(format!(
                "the task {:?} is not declared on this site (it declares: {}); add it to its app with \
                 `.task(…)` (djambda::tasks::AppTasks)",
                self.entry.name,
                registry.names()
            )));
        };
        let payload = serde_json::to_value(payload).map_err(|e| {
            Error::internal(format!("the payload of the task {:?} cannot be written as JSON: {e}", self.entry.name))
        })?;
        state.backend.enqueue(site, entry, payload).await
    }
}

/// Where a task stands (Django's `TaskResultStatus`: READY, RUNNING, SUCCESSFUL, FAILED).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskStatus {
    /// Waiting for a worker (a retry waiting its backoff too).
    Queued,
    /// An attempt is running.
    Running,
    /// An attempt succeeded.
    Succeeded,
    /// Every attempt failed (or the task cannot run at all: an unknown name, a bad payload).
    Failed,
}

impl TaskStatus {
    /// The word stored and shown: `queued`, `running`, `succeeded`, `failed`.
    pub fn as_str(&self) -> &'static str {
        match self {
            TaskStatus::Queued => "queued",
            TaskStatus::Running => "running",
            TaskStatus::Succeeded => "succeeded",
            TaskStatus::Failed => "failed",
        }
    }

    fn parse(word: &str) -> Option<TaskStatus> {
        Some(match word {
            "queued" => TaskStatus::Queued,
            "running" => TaskStatus::Running,
            "succeeded" => TaskStatus::Succeeded,
            "failed" => TaskStatus::Failed,
            _ => return None,
        })
    }

    /// Whether the task is done, one way or the other.
    pub fn is_finished(&self) -> bool {
        matches!(self, TaskStatus::Succeeded | TaskStatus::Failed)
    }
}

impl std::fmt::Display for TaskStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A task as it stands (Django's `TaskResult`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskResult {
    /// The id `enqueue` gave it.
    pub id: String,
    /// The task's name.
    pub task: String,
    /// Where it stands.
    pub status: TaskStatus,
    /// Attempts started so far.
    pub attempts: u32,
    /// Attempts it gets.
    pub max_attempts: u32,
    /// The last failed attempt's error (kept when a later attempt succeeds too).
    pub error: Option<String>,
    /// When it was enqueued.
    pub enqueued_at: DateTime<Utc>,
    /// When it may run next (a retry waits its backoff).
    pub run_after: DateTime<Utc>,
    /// When its last attempt started.
    pub started_at: Option<DateTime<Utc>>,
    /// When it succeeded or finally failed.
    pub finished_at: Option<DateTime<Utc>>,
}

impl TaskResult {
    fn from_row(row: models::task::Model) -> TaskResult {
        TaskResult {
            status: TaskStatus::parse(&row.status).unwrap_or(TaskStatus::Failed),
            id: row.id,
            task: row.task_name,
            attempts: u32::try_from(row.attempts).unwrap_or(0),
            max_attempts: u32::try_from(row.max_attempts).unwrap_or(1),
            error: row.error,
            enqueued_at: row.enqueued_at,
            run_after: row.run_after,
            started_at: row.started_at,
            finished_at: row.finished_at,
        }
    }
}

/// The result of the task `id`, or `None` when the backend knows no such task. The immediate
/// backend remembers the last 1000 tasks of this process; the database and SQS backends read
/// `djambda_task`.
pub async fn get_result(site: &Site, id: &str) -> Result<Option<TaskResult>> {
    tasks_state(site)?.backend.get_result(site, id).await
}

/// Which backend the site's tasks go to (`TASKS_BACKEND`); `None` without the tasks app.
pub fn backend_kind(site: &Site) -> Option<BackendKind> {
    site.state::<TasksState>().map(|s| s.config.kind)
}

/// What the app keeps on the site.
pub(crate) struct TasksState {
    pub(crate) backend: Backend,
    pub(crate) config: TasksConfig,
}

fn not_installed() -> Error {
    Error::internal("background tasks need the tasks app: install it with .app(djambda::tasks::app())")
}

pub(crate) fn tasks_state(site: &Site) -> Result<&TasksState> {
    site.state::<TasksState>().ok_or_else(not_installed)
}

/// A new task id: 32 hex digits from the CSPRNG (as unguessable as a UUID4).
pub(crate) fn new_id() -> String {
    crate::signing::random_string(32, b"0123456789abcdef")
}

#[cfg(test)]
mod tests;
