//! The example site: a small CRM built with djambda, laid out like a Django project with one app
//! (`crm`). Copy it to start your own site.
//!
//! This file is the project's settings module: the installed apps, then the middleware list.

pub mod crm;

use djambda::auth::LoginRequiredMiddleware;
use djambda::middleware::Compression;
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
    builder(settings).build()
}

/// The site, not yet built: what the benchmarks add a route or an app to.
pub fn builder(settings: Settings) -> djambda::SiteBuilder {
    let site_name = settings.get("COMPANY_NAME").and_then(|v| v.as_str()).unwrap_or("djambda CRM").to_owned();
    Site::builder()
        .settings(settings)
        // Django's BASE_DIR: the default SQLite database is example_site/db.sqlite3.
        .base_dir(env!("CARGO_MANIFEST_DIR"))
        .templates(djambda::assets!("../templates"))
        .static_files(djambda::assets!("static"))
        // INSTALLED_APPS. Each brings its tables, URLs, middleware and context processors;
        // install an app before the apps whose tables refer to its own.
        .app(djambda::cache::app()) // the cache (CACHE_BACKEND); first, so cached pages see every cookie and Vary
        .app(djambda::csp::app()) // Content-Security-Policy (SECURE_CSP in settings.toml), csp_nonce
        .app(djambda::auth::app()) // users, groups, permissions; /accounts/login/, /accounts/logout/
        .app(djambda::sessions::app()) // the session store (SESSION_ENGINE)
        .app(djambda::csrf::app())
        .app(djambda::messages::app())
        .app(djambda::mail::app()) // sending email (EMAIL_BACKEND): password resets, invitations
        .app(djambda::health::app()) // /healthz and /readyz for load balancers (any host, no login)
        .app(djambda::tasks::app()) // background tasks (TASKS_BACKEND in settings.toml), `manage runworker`
        .app(crm::app()) // companies, contacts, deals and notes, at the root
        // The back office at /admin/, for staff: every model registered by the apps above.
        .app(
            djambda::admin::AdminSite::new()
                .site_header(&format!("{site_name} administration"))
                .app_name("crm", "CRM")
                .app(),
        )
        // MIDDLEWARE: the framework's (request log, security, common headers, allowed hosts,
        // body size) and the apps' (sessions, authentication, CSRF, messages), then these.
        // Every page needs a logged-in user, except the login page and static files.
        .middleware(LoginRequiredMiddleware)
        // gzip or brotli for the browsers that take them; less to send out of Lambda. The CSRF
        // token in each page is masked afresh every time, so compression cannot leak it.
        .middleware(Compression::default())
        .initial_data("demo")
        .template_global("site_name", &site_name)
        .context_processor(|req: &djambda::Request, ctx: &mut djambda::templates::Context| {
            // Display preferences live in cookies (see `crm::views::preferences`).
            let dark = req.cookie("theme").is_some_and(|t| t == "dark");
            let compact = req.cookie("density").is_some_and(|d| d == "compact");
            ctx.insert("theme", if dark { "dark" } else { "light" });
            ctx.insert("density", if compact { "compact" } else { "comfortable" });
        })
}
