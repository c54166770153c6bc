//! What a site registered for the events its function receives besides HTTP requests:
//! scheduled tasks, SQS consumers, and S3 and SNS handlers. Apps and the site register them
//! while it is assembled; the Lambda door dispatches to them.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use aws_lambda_events::event::{s3::S3Event, sns::SnsEvent, sqs::SqsMessage};
use futures_util::future::BoxFuture;
use serde_json::Value;

use super::Site;

pub(crate) type Handler<T> = Arc<dyn Fn(Site, T) -> BoxFuture<'static, crate::Result<()>> + Send + Sync>;

fn boxed<T, F, Fut>(f: F) -> Handler<T>
where
    F: Fn(Site, T) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = crate::Result<()>> + Send + 'static,
{
    Arc::new(move |site, event| Box::pin(f(site, event)))
}

/// What the site registered for non-HTTP events (built by the `App` methods
/// [`schedule`](crate::App::schedule), [`sqs`](crate::App::sqs),
/// [`s3`](crate::App::s3) and [`sns`](crate::App::sns)).
#[derive(Default, Clone)]
pub struct EventHandlers {
    pub(crate) tasks: BTreeMap<String, (String, Handler<Value>)>,
    pub(crate) queues: BTreeMap<String, Handler<SqsMessage>>,
    /// Queues the function also sends to, each with the environment variable that carries
    /// its URL (see [`App::sends_to_queue`](crate::App::sends_to_queue)).
    pub(crate) queue_urls: BTreeMap<String, String>,
    pub(crate) s3: Option<Handler<S3Event>>,
    pub(crate) sns: Option<Handler<SnsEvent>>,
}

impl EventHandlers {
    pub(crate) fn add_task<F, Fut>(&mut self, name: &str, when: &str, f: F)
    where
        F: Fn(Site, Value) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = crate::Result<()>> + Send + 'static,
    {
        self.tasks.insert(name.to_owned(), (when.to_owned(), boxed(f)));
    }

    /// Each scheduled task's name and EventBridge schedule expression (`rate(1 day)`).
    pub fn schedules(&self) -> impl Iterator<Item = (&str, &str)> {
        self.tasks.iter().map(|(name, (when, _))| (name.as_str(), when.as_str()))
    }

    /// The queues the function also sends to, each with the environment variable that
    /// carries its URL, in order.
    pub fn queue_url_envs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.queue_urls.iter().map(|(queue, env)| (queue.as_str(), env.as_str()))
    }

    pub(crate) fn add_queue_url_env(&mut self, queue: &str, env: &str) {
        self.queue_urls.insert(queue.to_owned(), env.to_owned());
    }

    /// Whether an S3 handler is registered.
    pub fn has_s3(&self) -> bool {
        self.s3.is_some()
    }

    /// Whether an SNS handler is registered.
    pub fn has_sns(&self) -> bool {
        self.sns.is_some()
    }

    /// Problems with what was registered (a schedule expression EventBridge would refuse).
    pub(crate) fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (name, when) in self.schedules() {
            let shaped = (when.starts_with("rate(") || when.starts_with("cron(")) && when.ends_with(')');
            if !shaped {
                out.push(format!(
                    "the schedule of task {name:?} is {when:?}; EventBridge takes `rate(5 minutes)` or \
                     `cron(0 3 * * ? *)`"
                ));
            }
            let valid_name =
                !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !valid_name {
                out.push(format!("the task name {name:?} may only hold letters, digits, `-` and `_`"));
            }
        }
        for (queue, env) in self.queue_url_envs() {
            if !self.queues.contains_key(queue) {
                out.push(format!(
                    "the function sends to the queue {queue:?} but consumes no such queue (register its consumer with \
                     App::sqs)"
                ));
            }
            if env.is_empty() || !env.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_') {
                out.push(format!(
                    "the URL of queue {queue:?} goes in {env:?}, which is not an environment variable name"
                ));
            }
        }
        for queue in self.queue_names().filter(|q| *q != "*") {
            if !queue.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') || queue.len() > 80 {
                out.push(format!("the queue name {queue:?} is not an SQS queue name (letters, digits, `-`, `_`)"));
            }
        }
        out
    }

    pub(crate) fn add_queue<F, Fut>(&mut self, queue: &str, f: F)
    where
        F: Fn(Site, SqsMessage) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = crate::Result<()>> + Send + 'static,
    {
        self.queues.insert(queue.to_owned(), boxed(f));
    }

    pub(crate) fn set_s3<F, Fut>(&mut self, f: F)
    where
        F: Fn(Site, S3Event) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = crate::Result<()>> + Send + 'static,
    {
        self.s3 = Some(boxed(f));
    }

    pub(crate) fn set_sns<F, Fut>(&mut self, f: F)
    where
        F: Fn(Site, SnsEvent) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = crate::Result<()>> + Send + 'static,
    {
        self.sns = Some(boxed(f));
    }

    /// The names of the scheduled tasks, in order.
    pub fn task_names(&self) -> impl Iterator<Item = &str> {
        self.tasks.keys().map(String::as_str)
    }

    /// The queues with a consumer, in order.
    pub fn queue_names(&self) -> impl Iterator<Item = &str> {
        self.queues.keys().map(String::as_str)
    }

    /// Takes in what `other` registered (another app's handlers); a second S3 or SNS handler,
    /// or a task or queue registered twice, is a problem reported when the site is built.
    pub(crate) fn merge(&mut self, other: EventHandlers, duplicates: &mut Vec<String>) {
        for (name, task) in other.tasks {
            if self.tasks.insert(name.clone(), task).is_some() {
                duplicates.push(format!("the scheduled task {name:?} is registered twice"));
            }
        }
        for (queue, consumer) in other.queues {
            if self.queues.insert(queue.clone(), consumer).is_some() {
                duplicates.push(format!("the SQS queue {queue:?} has two consumers"));
            }
        }
        self.queue_urls.extend(other.queue_urls);
        if let Some(h) = other.s3 {
            if self.s3.is_some() {
                duplicates.push("two S3 handlers are registered; a function has one".into());
            }
            self.s3 = Some(h);
        }
        if let Some(h) = other.sns {
            if self.sns.is_some() {
                duplicates.push("two SNS handlers are registered; a function has one".into());
            }
            self.sns = Some(h);
        }
    }
}

impl Site {
    /// The handlers of non-HTTP Lambda events (schedules, SQS, S3, SNS) that the site and its
    /// apps registered.
    pub fn events(&self) -> &EventHandlers {
        static NONE: std::sync::LazyLock<EventHandlers> = std::sync::LazyLock::new(EventHandlers::default);
        self.state::<EventHandlers>().unwrap_or(&NONE)
    }
}

tokio::task_local! {
    static DEADLINE: std::time::Instant;
}

/// When the event being handled must be finished by: the Lambda invocation's deadline inside an
/// event handler the Lambda door runs, `None` elsewhere (a command, a test, the dev server). A
/// handler that works through a backlog (draining a task queue) stops starting new work before it.
///
/// ```
/// assert!(djambda::site::invocation_deadline().is_none());
/// ```
pub fn invocation_deadline() -> Option<std::time::Instant> {
    DEADLINE.try_with(|d| *d).ok()
}

/// Runs `fut` with `deadline` as its [`invocation_deadline`].
pub(crate) async fn with_deadline<F: Future>(deadline: std::time::Instant, fut: F) -> F::Output {
    DEADLINE.scope(deadline, fut).await
}
