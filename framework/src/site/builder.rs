//! Assembling a site: apps, settings, URL conf, templates, static files, middleware, database.

use std::sync::Arc;

use super::Site;
use crate::assets::AssetDir;
use crate::conf::{Settings, SettingsError};
use crate::db::{Database, EntityFixture, FixtureModel, MigrationSet, SeaMigrations};
use crate::http::Request;
use crate::middleware::{self, Middleware};
use crate::staticfiles::StaticFiles;
use crate::templates::{ContextProcessor, Templates};
use crate::urls::{Converter, Converters, Resolver, UrlConf, UrlConfError};

/// An installed app (Django's `INSTALLED_APPS` entry): its own templates and static files.
/// Its URLs are included from the root URL conf, as in Django.
///
/// ```ignore
/// pub fn app() -> App {
///     App::new("crm").templates(djambda::assets!("src/crm/templates")).static_files(djambda::assets!("src/crm/static"))
/// }
/// ```
#[derive(Clone)]
pub struct App {
    name: String,
    templates: Option<AssetDir>,
    static_files: Option<AssetDir>,
    fixtures: Option<AssetDir>,
    migrations: Option<Arc<dyn MigrationSet>>,
    models: Vec<Arc<dyn FixtureModel>>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("name", &self.name)
            .field("migrations", &self.migrations.is_some())
            .field("models", &self.models.iter().map(|m| m.label().to_owned()).collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl App {
    /// An app called `name` (its URL namespace, by convention).
    pub fn new(name: &str) -> Self {
        App {
            name: name.to_owned(),
            templates: None,
            static_files: None,
            fixtures: None,
            migrations: None,
            models: Vec::new(),
        }
    }

    /// The app's migrations (a sea-orm-migration `Migrator`), applied by `manage migrate` under
    /// the app's name. Give the migrator its own `migration_table_name` when it is not the
    /// site's only one.
    pub fn migrations<M: sea_orm_migration::MigratorTrait + 'static>(mut self) -> Self {
        self.migrations = Some(Arc::new(SeaMigrations::<M>::new(&self.name)));
        self
    }

    /// One of the app's models (a sea-orm entity with an `id` primary key), as `app.model`
    /// for fixtures and permissions.
    pub fn model<E>(mut self, label: &str) -> Self
    where
        EntityFixture<E>: FixtureModel + 'static,
        E: sea_orm::EntityTrait,
    {
        self.models.push(Arc::new(EntityFixture::<E>::new(label)));
        self
    }

    /// The app's template folder.
    pub fn templates(mut self, dir: AssetDir) -> Self {
        self.templates = Some(dir);
        self
    }

    /// The app's static folder.
    pub fn static_files(mut self, dir: AssetDir) -> Self {
        self.static_files = Some(dir);
        self
    }

    /// The app's fixtures folder: `manage loaddata demo` finds `demo.json` there.
    pub fn fixtures(mut self, dir: AssetDir) -> Self {
        self.fixtures = Some(dir);
        self
    }

    /// The fixture file `name` (`demo` or `demo.json`) from the app's fixtures folder.
    pub fn fixture(&self, name: &str) -> Option<Vec<u8>> {
        let file = if name.ends_with(".json") { name.to_owned() } else { format!("{name}.json") };
        self.fixtures.as_ref()?.get(&file).map(|a| a.data.into_owned())
    }

    /// The app's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// Why a site could not be assembled: every problem found, each saying how to fix it.
#[derive(Debug)]
pub enum ConfigError {
    /// The settings are invalid.
    Settings(SettingsError),
    /// The URL conf has problems.
    Urls(Vec<UrlConfError>),
    /// A template does not parse.
    Template(String),
    /// The migrations are registered wrongly.
    Migrations(String),
    /// A schedule or queue is registered wrongly.
    Events(String),
    /// The session engine cannot be used as configured.
    Sessions(String),
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConfigError::Settings(e) => e.fmt(f),
            ConfigError::Urls(errors) => {
                let list: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
                write!(f, "the URL conf has {} problem(s): {}", errors.len(), list.join("; "))
            }
            ConfigError::Template(e) => write!(f, "a template does not parse: {e}"),
            ConfigError::Migrations(e) => e.fmt(f),
            ConfigError::Events(e) => e.fmt(f),
            ConfigError::Sessions(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for ConfigError {}

impl From<SettingsError> for ConfigError {
    fn from(e: SettingsError) -> Self {
        ConfigError::Settings(e)
    }
}

/// Assembles a [`Site`].
///
/// ```
/// use djambda::prelude::*;
///
/// async fn home(_req: Request) -> Result<Response> { Ok(Response::text("hello")) }
///
/// let site = Site::builder()
///     .settings(Settings::from_sources(Some("DEBUG = true"), |_| None).unwrap())
///     .urls(UrlConf::new().path("", home, "home"))
///     .build()
///     .unwrap();
/// assert_eq!(site.reverse("home", &[]).unwrap(), "/");
/// ```
#[must_use]
pub struct SiteBuilder {
    settings: Option<Settings>,
    urls: UrlConf,
    apps: Vec<App>,
    templates: Vec<AssetDir>,
    static_files: Vec<AssetDir>,
    converters: Converters,
    middleware: Vec<Arc<dyn Middleware>>,
    processors: Vec<ContextProcessor>,
    globals: tera::Context,
    base_dir: std::path::PathBuf,
    migrations: Vec<Arc<dyn MigrationSet>>,
    migration_dirs: Vec<(String, std::path::PathBuf)>,
    models: Vec<Arc<dyn FixtureModel>>,
    initial_data: Option<String>,
    events: crate::lambda::EventHandlers,
}

impl SiteBuilder {
    pub(super) fn new() -> Self {
        SiteBuilder {
            settings: None,
            urls: UrlConf::new(),
            apps: Vec::new(),
            templates: Vec::new(),
            static_files: Vec::new(),
            converters: Converters::default(),
            middleware: Vec::new(),
            processors: Vec::new(),
            globals: tera::Context::new(),
            base_dir: std::path::PathBuf::from("."),
            migrations: Vec::new(),
            migration_dirs: Vec::new(),
            models: Vec::new(),
            initial_data: None,
            events: Default::default(),
        }
    }

    /// A fixture `runserver` loads, after migrating, when it creates the default SQLite
    /// database on a first run: a fresh checkout starts with something to look at.
    pub fn initial_data(mut self, fixture: &str) -> Self {
        self.initial_data = Some(fixture.to_owned());
        self
    }

    /// Registers a model (a sea-orm entity with an `id` primary key) as `app.model` for
    /// `dumpdata` and `loaddata`. Register parents before children, as fixtures load in order.
    pub fn model<E>(mut self, label: &str) -> Self
    where
        EntityFixture<E>: FixtureModel + 'static,
        E: sea_orm::EntityTrait,
    {
        self.models.push(Arc::new(EntityFixture::<E>::new(label)));
        self
    }

    /// Registers an app's migrations (a sea-orm-migration `Migrator`) for `manage migrate`.
    pub fn migrations<M: sea_orm_migration::MigratorTrait + 'static>(mut self, app_label: &str) -> Self {
        self.migrations.push(Arc::new(SeaMigrations::<M>::new(app_label)));
        self
    }

    /// Where the source of an app's migrations lives (the folder with the migrator's `lib.rs`),
    /// so that `manage makemigrations` can write new ones there. A migrations crate can name
    /// its own with `concat!(env!("CARGO_MANIFEST_DIR"), "/src")`.
    pub fn migrations_dir(mut self, app_label: &str, dir: impl Into<std::path::PathBuf>) -> Self {
        self.migration_dirs.push((app_label.to_owned(), dir.into()));
        self
    }

    /// Registers a scheduled task (`purge-sessions`) and when it runs, as an EventBridge
    /// schedule expression (`rate(1 hour)`, `cron(0 3 * * ? *)`): `manage lambda template`
    /// writes that schedule. The function runs the task when invoked with
    /// `{"task": "purge-sessions"}` (what the schedule's input says) or by an EventBridge
    /// scheduled event whose rule has that name. The handler gets the event.
    ///
    /// ```
    /// use djambda::prelude::*;
    ///
    /// let site = Site::builder()
    ///     .settings(Settings::from_sources(Some("DEBUG = true"), |_| None).unwrap())
    ///     .schedule("nightly-report", "cron(0 3 * * ? *)", |site, _event| async move {
    ///         let _db = site.database().connection().await?;
    ///         Ok(())
    ///     })
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(site.events().task_names().collect::<Vec<_>>(), ["nightly-report"]);
    /// ```
    pub fn schedule<F, Fut>(mut self, name: &str, when: &str, task: F) -> Self
    where
        F: Fn(Site, serde_json::Value) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = crate::Result<()>> + Send + 'static,
    {
        self.events.add_task(name, when, task);
        self
    }

    /// Registers the consumer of an SQS queue (by its name, or `"*"` for any queue). Each
    /// message is handled on its own; the ones whose handler fails are reported back as
    /// `batchItemFailures`, so only they are retried.
    pub fn sqs<F, Fut>(mut self, queue: &str, consumer: F) -> Self
    where
        F: Fn(Site, aws_lambda_events::event::sqs::SqsMessage) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = crate::Result<()>> + Send + 'static,
    {
        self.events.add_queue(queue, consumer);
        self
    }

    /// Registers the handler of S3 object notifications.
    pub fn s3<F, Fut>(mut self, handler: F) -> Self
    where
        F: Fn(Site, aws_lambda_events::event::s3::S3Event) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = crate::Result<()>> + Send + 'static,
    {
        self.events.set_s3(handler);
        self
    }

    /// Registers the handler of SNS notifications.
    pub fn sns<F, Fut>(mut self, handler: F) -> Self
    where
        F: Fn(Site, aws_lambda_events::event::sns::SnsEvent) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = crate::Result<()>> + Send + 'static,
    {
        self.events.set_sns(handler);
        self
    }

    /// The site's own folder (Django's `BASE_DIR`): where the default SQLite database
    /// `db.sqlite3` lives. Defaults to the current directory.
    pub fn base_dir(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.base_dir = dir.into();
        self
    }

    /// The settings (default: [`Settings::load`] with no `settings.toml`).
    pub fn settings(mut self, settings: Settings) -> Self {
        self.settings = Some(settings);
        self
    }

    /// The root URL conf.
    pub fn urls(mut self, urls: UrlConf) -> Self {
        self.urls = urls;
        self
    }

    /// Installs an app: its templates, static files, fixtures, and its migrations and models
    /// (registered in the order apps are installed, so install an app before the apps whose
    /// tables refer to its own).
    pub fn app(mut self, app: App) -> Self {
        if let Some(m) = &app.migrations {
            self.migrations.push(m.clone());
        }
        self.models.extend(app.models.iter().cloned());
        self.apps.push(app);
        self
    }

    /// Adds a site-level template folder; these come before apps' folders, so the site can
    /// override any app or framework template.
    pub fn templates(mut self, dir: AssetDir) -> Self {
        self.templates.push(dir);
        self
    }

    /// Adds a site-level static folder.
    pub fn static_files(mut self, dir: AssetDir) -> Self {
        self.static_files.push(dir);
        self
    }

    /// Registers a path converter for `<name:…>` (Django's `register_converter`).
    pub fn converter(mut self, name: &str, converter: impl Converter) -> Self {
        self.converters.register(name, converter);
        self
    }

    /// Appends a middleware after the built-in ones (request logging, security headers and
    /// HTTPS redirect, common headers, ALLOWED_HOSTS, body size limit, sessions, CSRF,
    /// authentication, messages), so it sees the session and the user.
    pub fn middleware(mut self, middleware: Arc<dyn Middleware>) -> Self {
        self.middleware.push(middleware);
        self
    }

    /// Adds a context processor, run for every [`render`](crate::shortcuts::render).
    pub fn context_processor(mut self, f: impl Fn(&Request, &mut tera::Context) + Send + Sync + 'static) -> Self {
        self.processors.push(Arc::new(f));
        self
    }

    /// A value every template sees, set once (a company name from the settings, say): cheaper
    /// than a context processor for what does not depend on the request.
    pub fn template_global<T: serde::Serialize + ?Sized>(mut self, name: &'static str, value: &T) -> Self {
        self.globals.insert(name, value);
        self
    }

    /// Checks everything and assembles the site; nothing here touches the network.
    pub fn build(self) -> Result<Site, ConfigError> {
        let settings = match self.settings {
            Some(s) => s,
            None => Settings::load(None)?,
        };
        let resolver = Arc::new(Resolver::build(self.urls, &self.converters).map_err(ConfigError::Urls)?);

        let mut static_dirs = self.static_files;
        static_dirs.extend(self.apps.iter().filter_map(|a| a.static_files));
        static_dirs.push(AssetDir::of::<FrameworkStatic>());
        let statics = Arc::new(StaticFiles::new(static_dirs, &settings.static_url, !cfg!(debug_assertions)));

        let mut template_dirs = self.templates;
        template_dirs.extend(self.apps.iter().filter_map(|a| a.templates));
        template_dirs.push(AssetDir::of::<FrameworkTemplates>());
        let mut globals = self.globals;
        globals.insert("debug", &settings.debug);
        globals.insert("STATIC_URL", &settings.static_url);
        let templates =
            Templates::new(globals, template_dirs, resolver.clone(), statics.clone(), cfg!(debug_assertions))
                .map_err(|e| ConfigError::Template(e.to_string()))?;

        let mut chain: Vec<Arc<dyn Middleware>> = vec![
            Arc::new(middleware::RequestLog),
            Arc::new(middleware::SecurityMiddleware),
            Arc::new(middleware::CommonMiddleware),
            Arc::new(middleware::AllowedHosts),
            Arc::new(middleware::BodySizeLimit),
            Arc::new(crate::sessions::SessionMiddleware),
            Arc::new(crate::middleware::csrf::CsrfViewMiddleware),
            Arc::new(crate::auth::AuthenticationMiddleware),
            Arc::new(crate::messages::MessageMiddleware),
        ];
        chain.extend(self.middleware);

        if let Some((label, _)) =
            self.migration_dirs.iter().find(|(label, _)| !self.migrations.iter().any(|m| m.app_label() == label))
        {
            return Err(ConfigError::Migrations(format!(
                "migrations_dir names the app {label:?}, which has no migrations registered (call \
                 .migrations::<Migrator>({label:?}) first)"
            )));
        }
        let problems = self.events.problems();
        if !problems.is_empty() {
            return Err(ConfigError::Events(problems.join("; ")));
        }
        let database = Arc::new(Database::from_settings(&settings, &self.base_dir));
        let session_store = crate::sessions::store_for(&settings, &database).map_err(ConfigError::Sessions)?;
        let perm_table = crate::auth::PermTable::new(&self.models);
        let message_signer = crate::messages::signer(&settings.secret_key);
        Ok(Site {
            inner: Arc::new(SiteInner {
                database,
                session_store,
                perm_table,
                message_signer,
                migrations: self.migrations,
                migration_dirs: self.migration_dirs,
                models: self.models,
                events: self.events,
                initial_data: self.initial_data,
                settings,
                resolver,
                statics,
                templates,
                middleware: chain,
                processors: self.processors,
                apps: self.apps,
            }),
        })
    }
}

#[derive(rust_embed::RustEmbed)]
#[folder = "templates"]
struct FrameworkTemplates;

#[derive(rust_embed::RustEmbed)]
#[folder = "static"]
struct FrameworkStatic;

pub(super) struct SiteInner {
    pub(super) database: Arc<Database>,
    pub(super) session_store: Arc<dyn crate::sessions::SessionStore>,
    pub(super) perm_table: crate::auth::PermTable,
    pub(super) message_signer: crate::signing::Signer,
    pub(super) migrations: Vec<Arc<dyn MigrationSet>>,
    pub(super) migration_dirs: Vec<(String, std::path::PathBuf)>,
    pub(super) events: crate::lambda::EventHandlers,
    pub(super) models: Vec<Arc<dyn FixtureModel>>,
    pub(super) initial_data: Option<String>,
    pub(super) settings: Settings,
    pub(super) resolver: Arc<Resolver>,
    pub(super) statics: Arc<StaticFiles>,
    pub(super) templates: Templates,
    pub(super) middleware: Vec<Arc<dyn Middleware>>,
    pub(super) processors: Vec<ContextProcessor>,
    pub(super) apps: Vec<App>,
}
