//! The backends `TASKS_BACKEND` chooses among, and the settings they read.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use serde_json::Value;

use super::worker::{self, Outcome};
use super::{Registered, TaskContext, TaskResult, TaskStatus, database, new_id};
use crate::conf::Settings;
use crate::error::Result;
use crate::site::Site;
use crate::site::app::AppSetup;

/// The backends (`TASKS_BACKEND`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    /// `immediate`: the task runs inside `enqueue`.
    Immediate,
    /// `database`: a row of `djambda_task`, run by `manage runworker` or the Lambda drain.
    Database,
    /// `sqs`: a message on `TASKS_QUEUE_URL`, run by the Lambda function that consumes it.
    Sqs,
}

/// The schedule of the Lambda drain, and the name it is registered under.
pub(crate) const DRAIN_TASK: &str = "tasks-drain";
const DEFAULT_DRAIN_SCHEDULE: &str = "rate(1 minute)";
/// The queue the SQS backend consumes when TASKS_QUEUE_URL names none (the SAM template's).
pub(crate) const DEFAULT_QUEUE: &str = "djambda-tasks";
/// Where the SAM template passes the queue's URL.
pub(crate) const QUEUE_URL_ENV: &str = "TASKS_QUEUE_URL";

/// The tasks settings, read from the environment first, then `settings.toml`.
#[derive(Debug, Clone)]
pub(crate) struct TasksConfig {
    pub(crate) kind: BackendKind,
    /// TASKS_DRAIN_SCHEDULE (database): when the Lambda function drains the table; `None` for
    /// `off`.
    pub(crate) drain_schedule: Option<String>,
    /// TASKS_QUEUE_URL (sqs).
    #[cfg_attr(not(feature = "sqs"), allow(dead_code))]
    pub(crate) queue_url: Option<String>,
    /// The queue's name: the last part of its URL.
    #[cfg_attr(not(feature = "sqs"), allow(dead_code))]
    pub(crate) queue_name: String,
}

/// A setting of the app: the environment variable, else the key of `settings.toml`.
fn setting(settings: &Settings, key: &str) -> std::result::Result<Option<String>, String> {
    match settings.get(key) {
        Some(toml::Value::Table(_) | toml::Value::Array(_)) if settings.setting(key).is_none() => {
            Err(format!("{key} in settings.toml must be a string"))
        }
        _ => Ok(settings.setting(key)),
    }
}

impl TasksConfig {
    pub(crate) fn from_settings(settings: &Settings) -> std::result::Result<TasksConfig, String> {
        let kind = match setting(settings, "TASKS_BACKEND")?.as_deref().map(str::trim) {
            None | Some("" | "immediate") => BackendKind::Immediate,
            Some("database") => BackendKind::Database,
            Some("sqs") => BackendKind::Sqs,
            Some(other) => {
                return Err(format!("TASKS_BACKEND must be \"immediate\", \"database\" or \"sqs\" (got {other:?})"));
            }
        };
        let drain_schedule = match setting(settings, "TASKS_DRAIN_SCHEDULE")?.as_deref().map(str::trim) {
            None | Some("") => Some(DEFAULT_DRAIN_SCHEDULE.to_owned()),
            Some("off") => None,
            Some(when) => Some(when.to_owned()),
        };
        let queue_url = setting(settings, QUEUE_URL_ENV)?.filter(|u| !u.trim().is_empty());
        let queue_name = match &queue_url {
            Some(url) => {
                let name = url.trim_end_matches('/').rsplit('/').next().unwrap_or_default();
                if !url.starts_with("http://") && !url.starts_with("https://") || name.is_empty() {
                    return Err(format!(
                        "{QUEUE_URL_ENV} must be an SQS queue URL like \
                         https://sqs.eu-west-1.amazonaws.com/123456789012/djambda-tasks (got {url:?})"
                    ));
                }
                name.to_owned()
            }
            None => DEFAULT_QUEUE.to_owned(),
        };
        Ok(TasksConfig { kind, drain_schedule, queue_url, queue_name })
    }
}

/// Results of the immediate backend: the last [`IMMEDIATE_KEPT`] tasks of this process.
#[derive(Default)]
pub(crate) struct ImmediateResults {
    results: Mutex<(HashMap<String, TaskResult>, VecDeque<String>)>,
}

const IMMEDIATE_KEPT: usize = 1000;

impl ImmediateResults {
    fn keep(&self, result: &TaskResult) {
        let mut guard = self.results.lock().unwrap_or_else(|e| e.into_inner());
        let (map, order) = &mut *guard;
        map.insert(result.id.clone(), result.clone());
        order.push_back(result.id.clone());
        while order.len() > IMMEDIATE_KEPT {
            if let Some(old) = order.pop_front() {
                map.remove(&old);
            }
        }
    }

    fn get(&self, id: &str) -> Option<TaskResult> {
        self.results.lock().unwrap_or_else(|e| e.into_inner()).0.get(id).cloned()
    }
}

/// The backend the site uses.
pub(crate) enum Backend {
    Immediate(ImmediateResults),
    Database,
    #[cfg(feature = "sqs")]
    Sqs(Arc<super::sqs::SqsBackend>),
}

impl Backend {
    pub(crate) fn new(config: &TasksConfig) -> std::result::Result<Backend, String> {
        Ok(match config.kind {
            BackendKind::Immediate => Backend::Immediate(ImmediateResults::default()),
            BackendKind::Database => Backend::Database,
            #[cfg(feature = "sqs")]
            BackendKind::Sqs => Backend::Sqs(Arc::new(super::sqs::SqsBackend::new(config.queue_url.clone()))),
            #[cfg(not(feature = "sqs"))]
            BackendKind::Sqs => {
                return Err("TASKS_BACKEND = \"sqs\" needs djambda built with its `sqs` feature (djambda = { \
                            features = [\"sqs\"] } in Cargo.toml), which brings the AWS SDK for SQS"
                    .into());
            }
        })
    }

    /// The Lambda events the backend runs tasks from: the drain schedule (database) or the
    /// queue's consumer (SQS).
    pub(crate) fn register_events(&self, setup: &mut AppSetup<'_>, config: &TasksConfig) {
        match self {
            Backend::Immediate(_) => {}
            Backend::Database => {
                if let Some(when) = &config.drain_schedule {
                    setup.schedule(DRAIN_TASK, when, |site, _event| async move {
                        let drained = database::drain(&site).await?;
                        eprintln!(
                            "tasks drained: {} succeeded, {} retried later, {} failed",
                            drained.succeeded, drained.retried, drained.failed
                        );
                        Ok(())
                    });
                }
            }
            #[cfg(feature = "sqs")]
            Backend::Sqs(sqs) => {
                let sqs = sqs.clone();
                setup.sqs(&config.queue_name, move |site, message| super::sqs::consume(sqs.clone(), site, message));
                setup.sends_to_queue(&config.queue_name, QUEUE_URL_ENV);
            }
        }
    }

    pub(crate) async fn enqueue(&self, site: &Site, task: &Arc<Registered>, payload: Value) -> Result<TaskResult> {
        match self {
            Backend::Immediate(results) => {
                let result = run_immediately(site, task, payload).await;
                results.keep(&result);
                Ok(result)
            }
            Backend::Database => database::enqueue(site, task, payload).await,
            #[cfg(feature = "sqs")]
            Backend::Sqs(sqs) => sqs.enqueue(site, task, payload).await,
        }
    }

    pub(crate) async fn get_result(&self, site: &Site, id: &str) -> Result<Option<TaskResult>> {
        match self {
            Backend::Immediate(results) => Ok(results.get(id)),
            Backend::Database => database::get_result(site, id).await,
            #[cfg(feature = "sqs")]
            Backend::Sqs(_) => database::get_result(site, id).await,
        }
    }
}

/// Every attempt at once, without waiting the backoff: a request is waiting.
async fn run_immediately(site: &Site, task: &Arc<Registered>, payload: Value) -> TaskResult {
    let id = new_id();
    let now = chrono::Utc::now();
    let mut result = TaskResult {
        id: id.clone(),
        task: task.name.clone(),
        status: TaskStatus::Running,
        attempts: 0,
        max_attempts: task.options.max_attempts,
        error: None,
        enqueued_at: now,
        run_after: now,
        started_at: None,
        finished_at: None,
    };
    loop {
        result.attempts += 1;
        result.started_at = Some(chrono::Utc::now());
        let ctx = TaskContext { site: site.clone(), id: id.clone(), attempt: result.attempts };
        match worker::execute(ctx, &task.name, payload.clone()).await {
            Outcome::Succeeded => {
                result.status = TaskStatus::Succeeded;
                break;
            }
            Outcome::Failed { error, retry } => {
                eprintln!("task {} ({id}) failed, attempt {}: {error}", task.name, result.attempts);
                result.error = Some(error);
                if !retry || result.attempts >= result.max_attempts {
                    result.status = TaskStatus::Failed;
                    break;
                }
            }
        }
    }
    result.finished_at = Some(chrono::Utc::now());
    result
}
