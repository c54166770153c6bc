//! What `enqueue` costs per task: the example site's `crm.recalculate_pipeline`, enqueued COUNT
//! times one after the other on one thread, on the backend TASKS_BACKEND names (DATABASE_URL,
//! and for SQS TASKS_QUEUE_URL and the AWS_* variables, come from the environment). Prints the
//! mean and the p50/p99 per enqueue, and the ids' count; checks each result is what the backend
//! promises (queued, or succeeded for the immediate backend, which runs the task inside).
//!
//!   tasks_enqueue [COUNT]

use std::time::Instant;

use djambda::db::sea_orm::EntityTrait;
use djambda::tasks::TaskStatus;
use example_site::crm::models::company;
use example_site::crm::tasks::{RecalculatePipeline, recalculate_pipeline};

fn main() {
    let count: usize = std::env::args().nth(1).and_then(|n| n.parse().ok()).unwrap_or(2000);
    let env = |name: &str| match name {
        "DEBUG" => Some("false".into()),
        "SECRET_KEY" => Some("tasks-bench-secret-0123456789abcdefghijklmnop".into()),
        _ => std::env::var(name).ok(),
    };
    let settings = djambda::Settings::from_sources(Some(example_site::SETTINGS_TOML), env).expect("settings");
    let site = example_site::site_with_settings(settings).expect("site");
    let backend = djambda::tasks::backend_kind(&site).expect("the tasks app");
    let expected =
        if backend == djambda::tasks::BackendKind::Immediate { TaskStatus::Succeeded } else { TaskStatus::Queued };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        let task = recalculate_pipeline();
        let db = site.database().connection().await.expect("the database");
        let companies: Vec<i32> = company::Entity::find().all(&db).await.expect("companies").iter().map(|c| c.id).collect();
        assert!(!companies.is_empty(), "no company: is DATABASE_URL the demo database (manage loaddata demo)?");
        // A first one outside the figures: the connection, the SDK's client.
        task.enqueue(&site, &RecalculatePipeline { company_id: companies[0] }).await.expect("enqueue");
        let mut each = Vec::with_capacity(count);
        let began = Instant::now();
        for i in 0..count {
            let job = RecalculatePipeline { company_id: companies[i % companies.len()] };
            let t = Instant::now();
            let result = task.enqueue(&site, &job).await.expect("enqueue");
            each.push(t.elapsed());
            assert_eq!(result.status, expected, "{result:?}");
        }
        let total = began.elapsed();
        each.sort();
        let us = |d: std::time::Duration| d.as_secs_f64() * 1e6;
        println!(
            "enqueue {backend:?}: {count} tasks in {:.2} s: mean {:.0} µs, p50 {:.0} µs, p99 {:.0} µs per task ({:.0} tasks/s)",
            total.as_secs_f64(),
            us(total) / count as f64,
            us(each[count / 2]),
            us(each[count * 99 / 100]),
            count as f64 / total.as_secs_f64()
        );
    });
}
