//! Running one attempt of a task, whatever backend it came from.

use std::time::Duration;

use serde_json::Value;

use super::{Registry, TaskContext};

/// How one attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    Succeeded,
    /// `retry` is false when another attempt cannot do better (no such task, a payload that
    /// does not fit it).
    Failed {
        error: String,
        retry: bool,
    },
}

/// Runs one attempt of the task `name` with `payload`, within its timeout (and the Lambda
/// invocation's deadline). An error, a timeout and a panic are each a failed attempt; none
/// stops the worker.
pub(crate) async fn execute(ctx: TaskContext, name: &str, payload: Value) -> Outcome {
    let Some(registry) = ctx.site.state::<Registry>() else {
        return Outcome::Failed { error: "the site declares no tasks".into(), retry: false };
    };
    let Some(task) = registry.0.get(name).cloned() else {
        return Outcome::Failed {
            error: format!(
                "no task named {name:?} is declared on this site (it declares: {}); declare it on its app with \
                 `.task(…)`",
                registry.names()
            ),
            retry: false,
        };
    };
    let future = match (task.run)(ctx, payload) {
        Ok(f) => f,
        Err(error) => return Outcome::Failed { error, retry: false },
    };
    let mut timeout = task.options.timeout;
    if let Some(deadline) = crate::site::invocation_deadline() {
        // Stop in time to record the attempt before the invocation's end.
        timeout = timeout.min(deadline.saturating_duration_since(std::time::Instant::now()).saturating_sub(SAFETY));
    }
    // Its own Tokio task: a panic ends that task only, and comes back here as an error.
    let handle = tokio::spawn(future);
    let abort = handle.abort_handle();
    match tokio::time::timeout(timeout, handle).await {
        Ok(Ok(Ok(()))) => Outcome::Succeeded,
        Ok(Ok(Err(e))) => Outcome::Failed { error: e.to_string(), retry: true },
        Ok(Err(join)) => {
            let error = match join.try_into_panic() {
                Ok(panic) => {
                    let message = panic
                        .downcast_ref::<&str>()
                        .map(|s| (*s).to_owned())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "a value that is not a message".to_owned());
                    format!("the task panicked: {message}")
                }
                Err(e) => format!("the task was cancelled: {e}"),
            };
            Outcome::Failed { error, retry: true }
        }
        Err(_) => {
            abort.abort();
            Outcome::Failed {
                error: format!("the attempt took longer than {} s and was stopped", timeout.as_secs_f64()),
                retry: true,
            }
        }
    }
}

/// What a worker keeps back from the invocation's deadline to write down the last attempt.
pub(crate) const SAFETY: Duration = Duration::from_secs(2);
