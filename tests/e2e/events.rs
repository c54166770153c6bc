//! The invocations a site's one function gets besides HTTP requests, sent to the built binary
//! under the Runtime API emulator as AWS's own sample events (from `aws_lambda_events`): an
//! EventBridge schedule, an SQS batch with a failing record, an S3 put, an SNS notification,
//! and direct `{"manage": …}` invocations.

use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};
use tests::emulator::{Outcome, RuntimeApi};
use tests::process::{Running, spawn_lambda};

use crate::lambda::fixture;
use crate::manage_bin;

const SECRET_KEY: &str = "e2e-events-tests-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz";

/// The function, on a database of its own (the demo data) since these events write.
struct Function {
    api: RuntimeApi,
    process: Running,
    db: String,
    dir: std::path::PathBuf,
}

impl Function {
    async fn start(name: &str) -> Function {
        let dir = std::env::temp_dir().join(format!("djambda-events-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let db = format!("sqlite://{}?mode=rwc", dir.join("db.sqlite3").display());
        for args in [&["migrate"][..], &["loaddata", "demo"][..]] {
            let out = Command::new(manage_bin()).args(args).env("DATABASE_URL", &db).output().unwrap();
            assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        }
        let api = RuntimeApi::start().await;
        let env =
            [("DEBUG", "false"), ("SECRET_KEY", SECRET_KEY), ("ALLOWED_HOSTS", "*"), ("DATABASE_URL", db.as_str())];
        let process = spawn_lambda(manage_bin(), &api.address(), &env);
        Function { api, process, db, dir }
    }

    async fn invoke(&self, event: &Value) -> Outcome {
        self.api
            .invoke_with_timeout(event.to_string(), Duration::from_secs(30))
            .await
            .unwrap_or_else(|e| panic!("{e}\n{}", self.process.stderr.try_iter().collect::<Vec<_>>().join("\n")))
    }

    /// The next line the function logs that `wanted` accepts (lines reach the test through a
    /// reader thread, so one printed before an answer may arrive after it).
    fn wait_for_log(&self, wanted: impl Fn(&str) -> bool) -> Option<String> {
        while let Ok(line) = self.process.stderr.recv_timeout(Duration::from_secs(5)) {
            if wanted(&line) {
                return Some(line);
            }
        }
        None
    }

    /// `manage dumpdata LABEL` on the function's database.
    fn rows(&self, label: &str) -> Vec<Value> {
        let out = Command::new(manage_bin()).args(["dumpdata", label]).env("DATABASE_URL", &self.db).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice::<Value>(&out.stdout).unwrap().as_array().unwrap().clone()
    }
}

impl Drop for Function {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn error_message(outcome: Outcome) -> String {
    match outcome {
        Outcome::Error(e) => e["errorMessage"].as_str().unwrap_or_default().to_owned(),
        Outcome::Response(r) => panic!("expected an invocation error, got {r}"),
        Outcome::Streamed(s) => panic!("expected an invocation error, got a stream: {}", s.prelude),
    }
}

#[tokio::test]
async fn schedules_run_the_task_they_name() {
    let f = Function::start("schedule").await;
    // AWS's sample schedule comes from a rule called my-scheduled-rule: no such task here.
    let sample = fixture("example-eventbridge-schedule.json");
    let message = error_message(f.invoke(&sample).await);
    assert!(
        message.contains("no scheduled task named \"my-scheduled-rule\"") && message.contains("pipeline-snapshot"),
        "{message}"
    );
    let mut named = sample.clone();
    named["resources"][0] = json!("arn:aws:events:us-east-1:123456789012:rule/pipeline-snapshot");
    assert_eq!(f.invoke(&named).await.response(), json!({"task": "pipeline-snapshot", "status": "done"}));
    // A schedule whose input names the task, as the SAM template writes them.
    assert_eq!(f.invoke(&json!({"task": "pipeline-snapshot"})).await.response()["status"], "done");
    let first = f.wait_for_log(|l| l.contains("pipeline snapshot: ") && l.contains("open deals"));
    let second = f.wait_for_log(|l| l.contains("pipeline snapshot: ") && l.contains("open deals"));
    assert!(first.is_some() && second.is_some(), "two snapshots logged");
}

#[tokio::test]
async fn sqs_batches_report_only_the_records_that_failed() {
    let f = Function::start("sqs").await;
    let sample = fixture("example-sqs-event.json");
    let mut good = sample["Records"][0].clone();
    good["messageId"] = json!("lead-1");
    good["body"] = json!(
        r#"{"company": "acme-logistics", "title": "Cold-chain pilot, phase 2", "amount": "48000.00", "expected_close": "2027-02-26"}"#
    );
    let mut unknown_company = good.clone();
    unknown_company["messageId"] = json!("lead-2");
    unknown_company["body"] =
        json!(r#"{"company": "nobody", "title": "x", "amount": "1.00", "expected_close": "2027-01-01"}"#);
    // The sample record as AWS ships it: its body is not a lead.
    let mut sample_record = sample["Records"][0].clone();
    let mut batch = sample.clone();
    for record in [&mut good, &mut unknown_company, &mut sample_record] {
        record["eventSourceARN"] = json!("arn:aws:sqs:eu-west-1:123456789012:leads");
    }
    batch["Records"] = json!([good, unknown_company, sample_record]);
    let deals_before = f.rows("crm.deal").len();
    let answer = f.invoke(&batch).await.response();
    assert_eq!(answer, json!({"batchItemFailures": [{"itemIdentifier": "lead-2"}, {"itemIdentifier": "MessageID_1"}]}));
    let deals = f.rows("crm.deal");
    assert_eq!(deals.len(), deals_before + 1, "only the good record wrote");
    assert!(
        deals.iter().any(|d| d["fields"]["title"] == "Cold-chain pilot, phase 2" && d["fields"]["stage"] == "lead")
    );

    // A queue nobody consumes: every record fails, and says why in the log.
    let answer = f.invoke(&sample).await.response();
    assert_eq!(answer, json!({"batchItemFailures": [{"itemIdentifier": "MessageID_1"}]}));
    let line = f.wait_for_log(|l| l.contains("MessageID_1") && l.contains("no consumer for queue \"SQSQueue\""));
    assert!(line.is_some(), "the failure is logged with its reason");
}

#[tokio::test]
async fn s3_and_sns_events_reach_their_handlers() {
    let f = Function::start("s3-sns").await;
    assert_eq!(f.invoke(&fixture("example-s3-event.json")).await.response(), json!({"status": "done"}));
    assert_eq!(f.invoke(&fixture("example-sns-event.json")).await.response(), json!({"status": "done"}));
    let notes: Vec<String> =
        f.rows("crm.note").iter().map(|n| n["fields"]["body"].as_str().unwrap_or_default().to_owned()).collect();
    assert!(notes.contains(&"File received: s3://sourcebucket/Happy Face.jpg (1024 bytes)".to_owned()), "{notes:?}");
    assert!(notes.contains(&"Notification: Greetings: Hello\r\nworld!".to_owned()), "{notes:?}");
}

#[tokio::test]
async fn manage_commands_run_in_the_function() {
    let f = Function::start("manage").await;
    let shown = f.invoke(&json!({"manage": "showmigrations"})).await.response();
    assert_eq!(shown["exit_code"], 0, "{shown}");
    assert_eq!(
        shown["stdout"],
        "cache\n [X] 0001_initial\n [X] 0002_exact_keys\nauth\n [X] 0001_initial\nsessions\n [X] 0001_initial\ntasks\n [X] 0001_initial\n [X] 0002_long_text\ncrm\n [X] 0001_initial\nadmin\n [X] 0001_initial\n"
    );
    let dumped = f.invoke(&json!({"manage": ["dumpdata", "crm.company"]})).await.response();
    let companies: Value = serde_json::from_str(dumped["stdout"].as_str().unwrap()).unwrap();
    assert_eq!(companies.as_array().unwrap().len(), 5, "{dumped}");
    let unknown = f.invoke(&json!({"manage": "frobnicate"})).await.response();
    assert_eq!(unknown["exit_code"], 2);
    assert!(unknown["stderr"].as_str().unwrap().contains("frobnicate"), "{unknown}");
    let refused = error_message(f.invoke(&json!({"manage": "runserver"})).await);
    assert!(refused.contains("`manage runserver` cannot run inside the function"), "{refused}");
    let malformed = error_message(f.invoke(&json!({"manage": 42})).await);
    assert!(malformed.contains("must be a command line string or a list of strings"), "{malformed}");
    // An HTTP request cannot ask for a command, whatever its body or query say.
    let mut http = fixture("example-apigw-v2-request-no-authorizer.json");
    http["body"] = json!(r#"{"manage": "showmigrations"}"#);
    http["rawQueryString"] = json!("manage=showmigrations");
    let answer = f.invoke(&http).await.response();
    assert!(answer.get("statusCode").is_some() && answer.get("exit_code").is_none(), "{answer}");
    let nonsense = error_message(f.invoke(&json!({"hello": "world"})).await);
    assert!(nonsense.contains("is not an HTTP request"), "{nonsense}");
}
