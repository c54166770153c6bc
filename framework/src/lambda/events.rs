//! The events a site's function receives besides HTTP requests: scheduled tasks, SQS
//! messages, S3 object events, SNS notifications, and remote `manage` commands. Each is
//! recognised by its shape and handed to what the site registered
//! ([`EventHandlers`](crate::lambda::EventHandlers)); none reaches the URL resolver.

use aws_lambda_events::event::sqs::SqsEvent;
/// The typed events handlers receive, from the `aws_lambda_events` crate.
pub use aws_lambda_events::event::{s3::S3Event, sns::SnsEvent, sqs::SqsMessage};
use serde_json::Value;

use crate::site::Site;

/// An S3 event's object key as the object is named: S3 sends keys form-encoded (`Happy+Face.jpg`,
/// `caf%C3%A9.csv`).
///
/// ```
/// assert_eq!(djambda::lambda::events::s3_key("reports/Q3+draft%C3%A9.csv"), "reports/Q3 drafté.csv");
/// ```
pub fn s3_key(raw: &str) -> String {
    let spaced = raw.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced).decode_utf8_lossy().into_owned()
}

/// What kind of invocation a payload is.
pub(crate) enum Kind {
    /// `{"manage": "migrate"}`: a management command, run remotely.
    Manage,
    /// `{"task": "name"}`, or an EventBridge scheduled event.
    Task(String),
    /// An SQS batch.
    Sqs,
    /// S3 object notifications.
    S3,
    /// SNS notifications.
    Sns,
    /// Anything else: an HTTP request, or nothing the site knows.
    Http,
}

/// Recognises an invocation by its shape, without deserialising it.
pub(crate) fn classify(event: &Value) -> Kind {
    let Some(obj) = event.as_object() else { return Kind::Http };
    if obj.contains_key("manage") {
        return Kind::Manage;
    }
    if let Some(task) = obj.get("task").and_then(Value::as_str) {
        return Kind::Task(task.to_owned());
    }
    if obj.get("source").and_then(Value::as_str) == Some("aws.events")
        && obj.get("detail-type").and_then(Value::as_str) == Some("Scheduled Event")
    {
        // A schedule with no input of its own runs the task named like its rule.
        let rule = obj
            .get("resources")
            .and_then(|r| r.get(0))
            .and_then(Value::as_str)
            .and_then(|arn| arn.rsplit_once("rule/"))
            .map(|(_, name)| name.to_owned())
            .unwrap_or_default();
        return Kind::Task(rule);
    }
    let first = obj.get("Records").and_then(|r| r.get(0));
    let source = first.and_then(|r| r.get("eventSource").or_else(|| r.get("EventSource"))).and_then(Value::as_str);
    match source {
        Some("aws:sqs") => Kind::Sqs,
        Some("aws:s3") => Kind::S3,
        Some("aws:sns") => Kind::Sns,
        _ => Kind::Http,
    }
}

/// An invocation error: the Lambda service records it as the invocation's failure.
pub(crate) type EventError = Box<dyn std::error::Error + Send + Sync>;

pub(crate) async fn run_task(site: &Site, name: &str, event: Value) -> Result<Value, EventError> {
    let handlers = site.events();
    let Some((_, task)) = handlers.tasks.get(name) else {
        let known: Vec<&str> = handlers.task_names().collect();
        return Err(format!(
            "no scheduled task named {name:?} (this site registers: {}); register it with App::schedule",
            if known.is_empty() { "none".to_owned() } else { known.join(", ") }
        )
        .into());
    };
    task(site.clone(), event).await.map_err(|e| format!("scheduled task {name:?} failed: {e}"))?;
    Ok(serde_json::json!({ "task": name, "status": "done" }))
}

/// Each record goes to its queue's consumer; the ones that fail are listed in the
/// partial-batch response, so SQS retries those and deletes the rest (the event source mapping
/// needs `ReportBatchItemFailures`).
pub(crate) async fn run_sqs(site: &Site, event: Value) -> Result<Value, EventError> {
    let batch: SqsEvent =
        serde_json::from_value(event).map_err(|e| format!("an SQS event that does not parse: {e}"))?;
    let handlers = site.events();
    let mut failures = Vec::new();
    for message in batch.records {
        let id = message.message_id.clone().unwrap_or_default();
        let queue = message.event_source_arn.as_deref().and_then(|arn| arn.rsplit(':').next()).unwrap_or("").to_owned();
        let consumer = handlers.queues.get(&queue).or_else(|| handlers.queues.get("*"));
        let outcome = match consumer {
            Some(consume) => consume(site.clone(), message).await.map_err(|e| e.to_string()),
            None => {
                Err(format!("no consumer for queue {queue:?} (register one with App::sqs, or \"*\" for every queue)"))
            }
        };
        if let Err(e) = outcome {
            eprintln!("SQS message {id} from queue {queue} failed and goes back to the queue: {e}");
            failures.push(serde_json::json!({ "itemIdentifier": id }));
        }
    }
    Ok(serde_json::json!({ "batchItemFailures": failures }))
}

pub(crate) async fn run_s3(site: &Site, event: Value) -> Result<Value, EventError> {
    let Some(handler) = site.events().s3.clone() else {
        return Err("an S3 event arrived but the site registers no S3 handler (App::s3)".into());
    };
    let event: S3Event = serde_json::from_value(event).map_err(|e| format!("an S3 event that does not parse: {e}"))?;
    handler(site.clone(), event).await.map_err(|e| format!("the S3 handler failed: {e}"))?;
    Ok(serde_json::json!({ "status": "done" }))
}

pub(crate) async fn run_sns(site: &Site, event: Value) -> Result<Value, EventError> {
    let Some(handler) = site.events().sns.clone() else {
        return Err("an SNS notification arrived but the site registers no SNS handler (App::sns)".into());
    };
    let event: SnsEvent =
        serde_json::from_value(event).map_err(|e| format!("an SNS event that does not parse: {e}"))?;
    handler(site.clone(), event).await.map_err(|e| format!("the SNS handler failed: {e}"))?;
    Ok(serde_json::json!({ "status": "done" }))
}

/// Commands that make no sense in a function: they serve forever, wait for a person, or
/// write source files.
const NOT_REMOTE: [&str; 5] = ["runserver", "dbshell", "lambda", "makemigrations", "changepassword"];

/// Runs `manage …` in the function, as `zappa manage` does: the same binary, started again
/// with the command's arguments, its exit code and output returned. Only a direct invocation
/// carries a `manage` key; no HTTP request can.
pub(crate) async fn run_manage(event: Value) -> Result<Value, EventError> {
    let args: Vec<String> = match event.get("manage") {
        Some(Value::String(line)) => line.split_whitespace().map(str::to_owned).collect(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect::<Option<_>>()
            .ok_or("\"manage\" must be a command line string or a list of strings")?,
        _ => return Err("\"manage\" must be a command line string or a list of strings".into()),
    };
    let Some(command) = args.first() else {
        return Err("\"manage\" names no command (try {\"manage\": \"showmigrations\"})".into());
    };
    if NOT_REMOTE.contains(&command.as_str()) {
        return Err(format!("`manage {command}` cannot run inside the function; run it on your machine").into());
    }
    let exe = std::env::current_exe().map_err(|e| format!("could not find this function's binary: {e}"))?;
    let child_args = args.clone();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(exe).args(&child_args).stdin(std::process::Stdio::null()).output()
    })
    .await
    .map_err(|e| format!("`manage {}` did not finish: {e}", args.join(" ")))?
    .map_err(|e| format!("could not run `manage {}`: {e}", args.join(" ")))?;
    Ok(serde_json::json!({
        "command": args,
        "exit_code": output.status.code(),
        "stdout": String::from_utf8_lossy(&output.stdout),
        "stderr": String::from_utf8_lossy(&output.stderr),
    }))
}
