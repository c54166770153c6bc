//! The example site: a small CRM built with djambda, laid out like a Django project with one app
//! (`crm`). Copy it to start your own site.

pub mod crm;
pub mod urls;

use djambda::{ConfigError, Settings, Site};

/// Assembles the site: settings, root URL conf and apps. Both front doors (and the tests) use it.
pub fn site() -> Result<Site, ConfigError> {
    Site::builder()
        .settings(Settings::load(Some(include_str!("../settings.toml")))?)
        .urls(urls::urlpatterns())
        .templates(djambda::assets!("../templates"))
        .static_files(djambda::assets!("static"))
        .app(crm::app())
        .context_processor(|req, ctx| {
            let name = req.settings().get("COMPANY_NAME").and_then(|v| v.as_str()).unwrap_or("djambda CRM");
            ctx.insert("site_name", name);
            // Display preferences live in cookies (see `crm::views::preferences`).
            let theme = req.cookie("theme").filter(|t| t == "dark").unwrap_or_else(|| "light".into());
            let density = req.cookie("density").filter(|d| d == "compact").unwrap_or_else(|| "comfortable".into());
            ctx.insert("theme", &theme);
            ctx.insert("density", &density);
        })
        .build()
}
