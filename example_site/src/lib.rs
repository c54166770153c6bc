//! The example site: a small CRM built with djambda, laid out like a Django project with one app
//! (`crm`). Copy it to start your own site.

pub mod crm;
pub mod urls;

use djambda::{ConfigError, Settings, Site};

/// The site's settings file, embedded at build time (no filesystem at start).
pub const SETTINGS_TOML: &str = include_str!("../settings.toml");

/// Assembles the site with settings from `settings.toml` and the environment. Both front doors
/// use it.
pub fn site() -> Result<Site, ConfigError> {
    site_with_settings(Settings::load(Some(SETTINGS_TOML))?)
}

/// Assembles the site with the given settings (tests choose DEBUG and hosts this way).
pub fn site_with_settings(settings: Settings) -> Result<Site, ConfigError> {
    let site_name = settings.get("COMPANY_NAME").and_then(|v| v.as_str()).unwrap_or("djambda CRM").to_owned();
    Site::builder()
        .settings(settings)
        // Django's BASE_DIR: the default SQLite database is example_site/db.sqlite3.
        .base_dir(env!("CARGO_MANIFEST_DIR"))
        .urls(urls::urlpatterns())
        .templates(djambda::assets!("../templates"))
        .static_files(djambda::assets!("static"))
        // Django's INSTALLED_APPS: users and permissions, the session table (for
        // SESSION_ENGINE = "db"), then the CRM, whose models get permissions.
        .app(djambda::auth::app())
        .app(djambda::sessions::migrations::app())
        .app(crm::app())
        .migrations::<migrations::Migrator>("crm")
        .migrations_dir("crm", migrations::SOURCE_DIR)
        .model::<crm::models::company::Entity>("crm.company")
        .model::<crm::models::contact::Entity>("crm.contact")
        .model::<crm::models::deal::Entity>("crm.deal")
        .model::<crm::models::note::Entity>("crm.note")
        .initial_data("demo")
        // Every page needs a logged-in user, except the login page and static files.
        .middleware(std::sync::Arc::new(djambda::auth::LoginRequiredMiddleware))
        // gzip or brotli for the browsers that take them; less to send out of Lambda. The CSRF
        // token in each page is masked afresh every time, so compression cannot leak it.
        .middleware(std::sync::Arc::new(djambda::middleware::Compression::default()))
        // Work the same function does outside HTTP requests (see crm::tasks).
        .schedule("pipeline-snapshot", "cron(0 7 ? * MON-FRI *)", crm::tasks::pipeline_snapshot)
        .sqs("leads", crm::tasks::new_lead)
        .s3(crm::tasks::file_received)
        .sns(crm::tasks::notification)
        .template_global("site_name", &site_name)
        .context_processor(|req, ctx| {
            // Display preferences live in cookies (see `crm::views::preferences`).
            let dark = req.cookie("theme").is_some_and(|t| t == "dark");
            let compact = req.cookie("density").is_some_and(|d| d == "compact");
            ctx.insert("theme", if dark { "dark" } else { "light" });
            ctx.insert("density", if compact { "compact" } else { "comfortable" });
        })
        .build()
}
