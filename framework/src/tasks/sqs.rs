//! The SQS backend (djambda's `sqs` feature): `enqueue` writes the task's row (its result) and
//! sends a message to `TASKS_QUEUE_URL` with the official AWS SDK; the site's Lambda function
//! consumes the queue through its SQS event handler.
//!
//! A message whose attempt failed and may be retried is reported in `batchItemFailures`, after
//! its visibility is set to the task's backoff, so SQS delivers it again then. SQS counts the
//! deliveries (`ApproximateReceiveCount`): that is the attempt, unless the task's row counted
//! more (a count that was lost or restarted). After the last attempt the task is written down
//! as failed and the message is let go (not reported), so a task that always fails ends. A
//! message that is no task at all is reported every time: the queue's redrive policy (the SAM
//! template gives each queue a dead-letter queue) moves it aside after `maxReceiveCount`
//! deliveries, which is above every task's attempts. A message delivered again after its
//! task finished (SQS delivers at least once) is let go without running the task twice.
//!
//! The SDK finds its region, credentials and endpoint as the AWS CLI does (on Lambda, the
//! function's role; locally `AWS_REGION`, `AWS_ACCESS_KEY_ID`…, and `AWS_ENDPOINT_URL_SQS` for
//! a local SQS-compatible server). The client is made on first use: a cold start touches no
//! network.

use std::sync::Arc;

use aws_lambda_events::event::sqs::SqsMessage;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::database::{self, Update};
use super::worker::{Outcome, execute};
use super::{Registered, Registry, TaskContext, TaskResult, TaskStatus};
use crate::error::{Error, ErrorKind, Result};
use crate::site::Site;

/// The message body: which task, with what, and the id its result is kept under.
#[derive(Serialize, Deserialize)]
struct Envelope {
    id: String,
    task: String,
    payload: Value,
}

/// The queue and the SDK's client, made on first use.
pub(crate) struct SqsBackend {
    queue_url: Option<String>,
    client: tokio::sync::OnceCell<aws_sdk_sqs::Client>,
}

impl SqsBackend {
    pub(crate) fn new(queue_url: Option<String>) -> SqsBackend {
        SqsBackend { queue_url, client: tokio::sync::OnceCell::new() }
    }

    fn queue_url(&self) -> Result<&str> {
        self.queue_url.as_deref().ok_or_else(|| {
            Error::internal(
                "TASKS_BACKEND = \"sqs\" sends tasks to the queue TASKS_QUEUE_URL, which is not set (the SAM template \
                 of `manage lambda template` sets it to its queue's URL)",
            )
        })
    }

    async fn client(&self) -> &aws_sdk_sqs::Client {
        self.client
            .get_or_init(|| async {
                use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
                let https = aws_smithy_http_client::Builder::new()
                    .tls_provider(Provider::Rustls(CryptoMode::Ring))
                    .build_https();
                let config =
                    aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(https).load().await;
                aws_sdk_sqs::Client::new(&config)
            })
            .await
    }

    pub(crate) async fn enqueue(&self, site: &Site, task: &Arc<Registered>, payload: Value) -> Result<TaskResult> {
        let url = self.queue_url()?.to_owned();
        // The row first: the consumer may run the task before send_message returns.
        let result = database::insert(site, task, payload.clone(), TaskStatus::Queued).await?;
        let body = serde_json::to_string(&Envelope { id: result.id.clone(), task: task.name.clone(), payload })
            .map_err(|e| Error::internal(format!("the task's message cannot be written: {e}")))?;
        let sent = self.client().await.send_message().queue_url(&url).message_body(body).send().await;
        if let Err(e) = sent {
            let error = format!("the task could not be sent to the queue {url}: {}", sdk_error(&e));
            if let Err(also) =
                database::record(site, &result.id, None, 0, Update::Failed { error: error.clone() }).await
            {
                eprintln!("task {} ({}): could not record that it was not sent: {also}", task.name, result.id);
            }
            return Err(Error::new(ErrorKind::ServiceUnavailable, error));
        }
        Ok(result)
    }

    /// Puts the message off for `delay`: SQS delivers it again then (a retry's backoff).
    async fn postpone(&self, message: &SqsMessage, delay: std::time::Duration) -> std::result::Result<(), String> {
        let (Ok(url), Some(handle)) = (self.queue_url(), message.receipt_handle.as_deref()) else {
            return Err("no queue URL or receipt handle to put the message off with".into());
        };
        // SQS takes at most 12 hours.
        let seconds = i32::try_from(delay.as_secs().min(43_200)).unwrap_or(43_200);
        self.client()
            .await
            .change_message_visibility()
            .queue_url(url)
            .receipt_handle(handle)
            .visibility_timeout(seconds)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| sdk_error(&e))
    }
}

/// The SDK's error with what the service said, not only "service error".
fn sdk_error<E: std::error::Error + 'static>(e: &E) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        next = cause.source();
    }
    out
}

/// The consumer of the tasks queue: one message, one attempt. `Err` puts the message back.
pub(crate) async fn consume(sqs: Arc<SqsBackend>, site: Site, message: SqsMessage) -> Result<()> {
    let body = message.body.clone().unwrap_or_default();
    let envelope: Envelope = serde_json::from_str(&body).map_err(|e| {
        Error::bad_request(format!("not a task message ({e}): {}", body.chars().take(80).collect::<String>()))
    })?;
    let received: u32 =
        message.attributes.get("ApproximateReceiveCount").and_then(|n| n.parse().ok()).unwrap_or(1).max(1);
    let row = super::get_result(&site, &envelope.id).await?;
    // The attempt is the later of SQS's count and the task's own: a message whose count is
    // missing, or restarted (the message sent again, or moved back from a dead-letter queue),
    // still comes to its last attempt and ends, rather than failing and coming back forever.
    let attempt = received.max(row.as_ref().map_or(0, |r| r.attempts.saturating_add(1)));
    if let Some(done) = row.as_ref().filter(|r| r.status.is_finished()) {
        eprintln!("task {} ({}) was delivered again after it {}: not run twice", done.task, done.id, done.status);
        return Ok(());
    }
    let declared = site.state::<Registry>().and_then(|r| r.0.get(&envelope.task).cloned());
    let max_attempts =
        row.as_ref().map(|r| r.max_attempts).or_else(|| declared.as_ref().map(|t| t.options.max_attempts)).unwrap_or(1);
    let attempts = i32::try_from(attempt.min(max_attempts)).unwrap_or(i32::MAX);
    if row.is_some() {
        database::record(&site, &envelope.id, None, attempts, Update::Running).await?;
    }
    let outcome = if attempt > max_attempts {
        // SQS delivered it past the last attempt (a consumer that stopped before writing down
        // the outcome): it has had its attempts.
        Outcome::Failed { error: format!("delivered {attempt} times, past its {max_attempts} attempts"), retry: false }
    } else {
        let ctx = TaskContext { site: site.clone(), id: envelope.id.clone(), attempt };
        execute(ctx, &envelope.task, envelope.payload).await
    };
    let (update, again) = match outcome {
        Outcome::Succeeded => {
            println!("task {} ({}) succeeded, attempt {attempt}", envelope.task, envelope.id);
            (Update::Succeeded, None)
        }
        Outcome::Failed { error, retry } if retry && attempt < max_attempts => {
            let delay = declared.as_ref().map(|t| t.options.backoff).unwrap_or_default().delay(attempt);
            eprintln!(
                "task {} ({}) attempt {attempt} of {max_attempts} will be retried in {} s: {error}",
                envelope.task,
                envelope.id,
                delay.as_secs()
            );
            (Update::Retry { error: error.clone(), delay }, Some((error, delay)))
        }
        Outcome::Failed { error, .. } => {
            eprintln!(
                "task {} ({}) attempt {attempt} of {max_attempts} failed for good: {error}",
                envelope.task, envelope.id
            );
            (Update::Failed { error }, None)
        }
    };
    if row.is_some() {
        database::record(&site, &envelope.id, None, attempts, update).await?;
    }
    match again {
        None => Ok(()),
        Some((error, delay)) => {
            if let Err(e) = sqs.postpone(&message, delay).await {
                eprintln!(
                    "task {} ({}): could not put its message off for the backoff ({e}); SQS retries it after the \
                     queue's visibility timeout",
                    envelope.task, envelope.id
                );
            }
            Err(Error::internal(format!("task {} attempt {attempt} failed: {error}", envelope.task)))
        }
    }
}
