//! The CRM app: companies, contacts and deals.

pub mod admin;
pub mod commands;
pub mod forms;
pub mod models;
pub mod tasks;
pub mod urls;
pub mod views;

use djambda::App;
use djambda::tasks::AppTasks;

/// The app as installed in the site (Django's `crm/apps.py`): its URLs at the root, its models
/// and migrations, static files (`crm/…`), fixtures (`demo`), its models' admin, the
/// `pipeline_report` command, its background task, and the work the same function does outside
/// HTTP requests (see [`tasks`]).
pub fn app() -> App {
    App::new("crm")
        .urls("", urls::urlpatterns())
        .migrations::<migrations::Migrator>()
        .migrations_dir(migrations::SOURCE_DIR)
        // Parents before children: fixtures load in this order.
        .model::<models::company::Entity>("crm.company")
        .model::<models::contact::Entity>("crm.contact")
        .model::<models::deal::Entity>("crm.deal")
        .model::<models::note::Entity>("crm.note")
        .static_files(djambda::assets!("src/crm/static"))
        .fixtures(djambda::assets!("src/crm/fixtures"))
        // Its models in the admin (crm/admin.rs).
        .contribute(admin::registrations())
        .command(commands::pipeline_report())
        // Background work a view hands off (TASKS_BACKEND chooses where it runs).
        .task(tasks::recalculate_pipeline())
        .schedule("pipeline-snapshot", "cron(0 7 ? * MON-FRI *)", tasks::pipeline_snapshot)
        .sqs("leads", tasks::new_lead)
        .s3(tasks::file_received)
        .sns(tasks::notification)
}
