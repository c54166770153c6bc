//! The CRM app: companies, contacts and deals.

pub mod commands;
pub mod forms;
pub mod models;
pub mod tasks;
pub mod urls;
pub mod views;

use djambda::App;

/// The app as installed in the site (Django's `crm/apps.py`): its URLs at the root, its models
/// and migrations, static files (`crm/…`), fixtures (`demo`), the `pipeline_report` command,
/// and the work the same function does outside HTTP requests (see [`tasks`]).
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
        .command(commands::pipeline_report())
        .schedule("pipeline-snapshot", "cron(0 7 ? * MON-FRI *)", tasks::pipeline_snapshot)
        .sqs("leads", tasks::new_lead)
        .s3(tasks::file_received)
        .sns(tasks::notification)
}
