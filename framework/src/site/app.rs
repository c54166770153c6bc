//! An installed app (Django's `INSTALLED_APPS` entry and its `AppConfig`): everything an app
//! brings to a site, declared in one value.

use std::path::PathBuf;
use std::sync::Arc;

use super::commands::SiteCommand;
use super::events::EventHandlers;
use super::state::{Contributions, TypeMap};
use super::{PostMigrate, ReadinessCheck, Site};
use crate::assets::AssetDir;
use crate::conf::Settings;
use crate::db::{Database, EntityFixture, FixtureModel, MigrationSet, SeaMigrations};
use crate::middleware::{Middleware, MiddlewareList};
use crate::routing::{BoxFuture, UrlConf};
use crate::shortcuts::ContextProcessor;
use crate::templates::{Kwargs, State, TemplateFunction, TeraResult, Value};

/// An app: its URL conf and where it is mounted, its models and migrations, templates, static
/// files and fixtures, the middleware it adds to the default list, context processors and
/// template functions, the typed state it keeps on the site, its management commands, its
/// Lambda event handlers, and what it does after `migrate`. djambda's own sessions, CSRF,
/// auth and messages are apps made only with these methods, as a third-party crate's would be.
///
/// ```
/// use djambda::prelude::*;
/// use djambda::middleware::{Middleware, Next};
/// use djambda::views::BoxFuture;
///
/// /// What the app keeps on the site, read by its views and middleware.
/// struct Greeting(String);
///
/// struct PoweredBy;
/// impl Middleware for PoweredBy {
///     fn call(&self, req: Request, next: Next) -> BoxFuture<Result<Response>> {
///         Box::pin(async move { Ok(next.run(req).await.with_header("x-powered-by", "hello-app")) })
///     }
/// }
///
/// async fn hello(req: Request) -> Result<Response> {
///     let greeting = req.state::<Greeting>().map_or("hi", |g| g.0.as_str());
///     Ok(Response::text(greeting.to_owned()))
/// }
///
/// pub fn app() -> App {
///     App::new("hello")
///         .urls("hello/", UrlConf::app("hello").path("", hello, "index"))
///         .middleware(PoweredBy)
///         .on_ready(|setup| {
///             let name = setup.settings().get("GREETING").and_then(|v| v.as_str()).unwrap_or("hello");
///             setup.insert_state(Greeting(name.to_owned()));
///             Ok(())
///         })
/// }
///
/// let site = Site::builder()
///     .settings(Settings::from_sources(Some("DEBUG = true\nGREETING = \"ahoy\""), |_| None).unwrap())
///     .app(app())
///     .build()
///     .unwrap();
/// assert_eq!(site.reverse("hello:index", &[]).unwrap(), "/hello/");
/// assert_eq!(site.state::<Greeting>().unwrap().0, "ahoy");
/// ```
#[must_use]
pub struct App {
    pub(crate) name: String,
    pub(crate) urls: Option<(String, AppUrls)>,
    pub(crate) templates: Option<AssetDir>,
    pub(crate) static_files: Option<AssetDir>,
    pub(crate) fixtures: Option<AssetDir>,
    pub(crate) migrations: Option<Arc<dyn MigrationSet>>,
    pub(crate) migrations_dir: Option<PathBuf>,
    pub(crate) models: Vec<Arc<dyn FixtureModel>>,
    pub(crate) middleware: MiddlewareList,
    pub(crate) processors: Vec<Arc<dyn ContextProcessor>>,
    pub(crate) template_functions: Vec<(String, TemplateFunction)>,
    pub(crate) state: TypeMap,
    pub(crate) ready: Vec<ReadyFn>,
    pub(crate) commands: Vec<SiteCommand>,
    pub(crate) events: EventHandlers,
    pub(crate) post_migrate: Vec<PostMigrate>,
    pub(crate) readiness: Vec<(String, ReadinessCheck)>,
    pub(crate) requires: Vec<(String, String)>,
    pub(crate) contributions: Contributions,
}

/// An app's URL conf: given as it is, or made once every app is ready.
pub(crate) enum AppUrls {
    Conf(UrlConf),
    Deferred(Box<dyn FnOnce(&AppSetup<'_>) -> UrlConf + Send>),
}

pub(crate) type ReadyFn = Box<dyn FnOnce(&mut AppSetup<'_>) -> Result<(), String> + Send>;

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("name", &self.name)
            .field("urls", &self.urls.as_ref().map(|(prefix, _)| prefix))
            .field("migrations", &self.migrations.is_some())
            .field("models", &self.models.iter().map(|m| m.label().to_owned()).collect::<Vec<_>>())
            .field("middleware", &self.middleware)
            .finish_non_exhaustive()
    }
}

impl App {
    /// An app called `name`: its label, the prefix of its models (`name.model`) and, by
    /// convention, its URL namespace.
    pub fn new(name: &str) -> Self {
        App {
            name: name.to_owned(),
            urls: None,
            templates: None,
            static_files: None,
            fixtures: None,
            migrations: None,
            migrations_dir: None,
            models: Vec::new(),
            middleware: MiddlewareList::default(),
            processors: Vec::new(),
            template_functions: Vec::new(),
            state: TypeMap::default(),
            ready: Vec::new(),
            commands: Vec::new(),
            events: EventHandlers::default(),
            post_migrate: Vec::new(),
            readiness: Vec::new(),
            requires: Vec::new(),
            contributions: Contributions::default(),
        }
    }

    /// Says the app needs the app called `other` installed too (auth's login page carries a
    /// CSRF token); `how` tells the user how to install it. A site without it is not built.
    pub fn requires(mut self, other: &str, how: &str) -> Self {
        self.requires.push((other.to_owned(), how.to_owned()));
        self
    }

    /// The app's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The app's URL conf, mounted under `prefix` (`"accounts/"`, `""` for the root) after the
    /// site's own root URL conf. Give it a namespace with [`UrlConf::app`].
    pub fn urls(mut self, prefix: &str, conf: UrlConf) -> Self {
        self.urls = Some((prefix.to_owned(), AppUrls::Conf(conf)));
        self
    }

    /// The app's URL conf, made by `make` once every app's [`on_ready`](Self::on_ready) step
    /// has run, from what they set up (the state, the [contributions](Self::contribute)), and
    /// mounted under `prefix` like [`urls`](Self::urls). For an app whose routes depend on what
    /// the other apps bring: the admin has a change list per registered model, each with its
    /// own route name.
    ///
    /// ```
    /// use djambda::prelude::*;
    ///
    /// /// A page a reporting app shows for each report the other apps contribute.
    /// struct Report(&'static str);
    ///
    /// async fn show(_req: Request) -> Result<Response> { Ok(Response::text("report")) }
    ///
    /// let reports = App::new("reports").urls_with("reports/", |setup| {
    ///     let mut conf = UrlConf::app("reports");
    ///     for Report(name) in setup.contributions::<Report>() {
    ///         conf = conf.path(&format!("{name}/"), show, name);
    ///     }
    ///     conf
    /// });
    /// let site = Site::builder()
    ///     .settings(Settings::from_sources(Some("DEBUG = true"), |_| None).unwrap())
    ///     .app(reports)
    ///     .app(App::new("sales").contribute(Report("pipeline")))
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(site.reverse("reports:pipeline", &[]).unwrap(), "/reports/pipeline/");
    /// ```
    pub fn urls_with(mut self, prefix: &str, make: impl FnOnce(&AppSetup<'_>) -> UrlConf + Send + 'static) -> Self {
        self.urls = Some((prefix.to_owned(), AppUrls::Deferred(Box::new(make))));
        self
    }

    /// Gives `value` to whichever installed app reads values of its type (Django's admin
    /// finding each app's `admin.py`): any number of apps, and the site, may contribute values
    /// of one type; the app that collects them reads them all, in install order, with
    /// [`AppSetup::contributions`] in its `on_ready` step or its
    /// [`urls_with`](Self::urls_with) conf. The type is the collecting app's, so the core
    /// knows nothing of what is exchanged. A value no installed app reads is dropped.
    pub fn contribute<T: Send + Sync + 'static>(mut self, value: T) -> Self {
        self.contributions.push(value);
        self
    }

    /// Mounts the app's URL conf under another prefix than the one the app chose (Django's
    /// `path("backoffice/", include(...))`).
    pub fn mount(mut self, prefix: &str) -> Self {
        if let Some((p, _)) = &mut self.urls {
            *p = prefix.to_owned();
        }
        self
    }

    /// The app's migrations (a sea-orm-migration `Migrator`), applied by `manage migrate` under
    /// the app's name. Give the migrator its own `migration_table_name` when it is not the
    /// site's only one.
    pub fn migrations<M: sea_orm_migration::MigratorTrait + 'static>(mut self) -> Self {
        self.migrations = Some(Arc::new(SeaMigrations::<M>::new(&self.name)));
        self
    }

    /// Where the source of the app's migrations lives (the folder with the migrator's
    /// `lib.rs`), so that `manage makemigrations` can write new ones there. A migrations crate
    /// can name its own with `concat!(env!("CARGO_MANIFEST_DIR"), "/src")`.
    pub fn migrations_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.migrations_dir = Some(dir.into());
        self
    }

    /// One of the app's models (a sea-orm entity with an `id` primary key), as `app.model`
    /// for fixtures and permissions. Give parents before children, as fixtures load in order.
    pub fn model<E>(mut self, label: &str) -> Self
    where
        EntityFixture<E>: FixtureModel + 'static,
        E: sea_orm::EntityTrait,
    {
        self.models.push(Arc::new(EntityFixture::<E>::new(label)));
        self
    }

    /// The app's template folder (after the site's, so a site can override any of them).
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

    /// Adds a middleware to the site's default list, after the framework's own and those of
    /// the apps installed before this one. The site may move or remove it
    /// ([`SiteBuilder::middleware_list`](crate::SiteBuilder::middleware_list)).
    pub fn middleware(mut self, middleware: impl Middleware) -> Self {
        self.middleware.append(middleware);
        self
    }

    /// Adds a middleware to the default list that needs the middleware of type `T` before it
    /// (auth's needs the session's): it goes after `T` whatever order the apps were installed
    /// in, and a site without `T` is not built.
    pub fn middleware_after<T: Middleware>(mut self, middleware: impl Middleware) -> Self {
        self.middleware.append_after::<T>(middleware);
        self
    }

    /// Adds a context processor: values for every page [`render`](crate::shortcuts::render)
    /// makes (`user`, `messages`…).
    pub fn context_processor(mut self, processor: impl ContextProcessor) -> Self {
        self.processors.push(Arc::new(processor));
        self
    }

    /// Adds a function templates can call (`{{ csrf_input() }}`).
    pub fn template_function(
        mut self,
        name: &str,
        f: impl Fn(Kwargs, &State) -> TeraResult<Value> + Send + Sync + 'static,
    ) -> Self {
        self.template_functions.push((name.to_owned(), Arc::new(f)));
        self
    }

    /// Keeps `value` on the site, where views and middleware read it
    /// ([`Request::state`](crate::Request::state)); for state that needs the settings or the
    /// database, use [`on_ready`](Self::on_ready).
    pub fn state<T: Send + Sync + 'static>(mut self, value: T) -> Self {
        self.state.insert(value);
        self
    }

    /// Runs `f` when the site is assembled, after every app is installed and before the first
    /// request: it sees the settings, the database (not yet connected) and every app's models,
    /// and keeps what it builds with [`AppSetup::insert_state`]. An error stops the site from
    /// being built, with the app's name and the message.
    pub fn on_ready(mut self, f: impl FnOnce(&mut AppSetup<'_>) -> Result<(), String> + Send + 'static) -> Self {
        self.ready.push(Box::new(f));
        self
    }

    /// Adds a management command (`manage <name>`, Django's `app/management/commands/`).
    pub fn command(mut self, command: SiteCommand) -> Self {
        self.commands.push(command);
        self
    }

    /// Runs `f` after `manage migrate` (Django's `post_migrate` signal); the line it returns,
    /// if any, is printed.
    pub fn post_migrate<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(Site, sea_orm::DatabaseConnection) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<Option<String>, String>> + Send + 'static,
    {
        self.post_migrate.push(Arc::new(move |site, db| -> BoxFuture<_> { Box::pin(f(site, db)) }));
        self
    }

    /// Adds a readiness check named `name` (Django's health-check plugins): what the app needs
    /// besides the site's database, which is always checked (a cache, a queue, an API). The
    /// site is ready to take traffic when every check returns `Ok`; see [`Site::readiness`],
    /// which `/readyz` of [`health::app`](crate::health::app) answers with.
    pub fn readiness_check<F, Fut>(mut self, name: &str, f: F) -> Self
    where
        F: Fn(Site) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<(), String>> + Send + 'static,
    {
        self.readiness.push((name.to_owned(), Arc::new(move |site| -> BoxFuture<_> { Box::pin(f(site)) })));
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
    ///     .app(App::new("reports").schedule("nightly-report", "cron(0 3 * * ? *)", |site, _event| async move {
    ///         let _db = site.database().connection().await?;
    ///         Ok(())
    ///     }))
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

    /// Says the function also sends messages to `queue`, a queue it consumes (a task queue
    /// whose producer and consumer are the same site): `manage lambda template` puts the
    /// queue's URL in the environment variable `url_env` and lets the function send to the
    /// queue and change its messages' visibility (to retry one later).
    pub fn sends_to_queue(mut self, queue: &str, url_env: &str) -> Self {
        self.events.add_queue_url_env(queue, url_env);
        self
    }

    /// Registers the app's handler of S3 object notifications (one per site).
    pub fn s3<F, Fut>(mut self, handler: F) -> Self
    where
        F: Fn(Site, aws_lambda_events::event::s3::S3Event) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = crate::Result<()>> + Send + 'static,
    {
        self.events.set_s3(handler);
        self
    }

    /// Registers the app's handler of SNS notifications (one per site).
    pub fn sns<F, Fut>(mut self, handler: F) -> Self
    where
        F: Fn(Site, aws_lambda_events::event::sns::SnsEvent) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = crate::Result<()>> + Send + 'static,
    {
        self.events.set_sns(handler);
        self
    }
}

/// What an app's [`on_ready`](App::on_ready) step (and its [`urls_with`](App::urls_with)
/// conf) sees of the site being assembled.
pub struct AppSetup<'a> {
    pub(crate) settings: &'a Settings,
    pub(crate) database: &'a Arc<Database>,
    pub(crate) models: &'a [Arc<dyn FixtureModel>],
    pub(crate) state: StateAccess<'a>,
    pub(crate) contributions: &'a Contributions,
}

/// The site's state as a setup step has it: in `on_ready`, writable, with the event handlers
/// an app may add by its settings; read-only after, in a [`urls_with`](App::urls_with) conf.
pub(crate) enum StateAccess<'a> {
    Write { state: &'a mut TypeMap, events: &'a mut EventHandlers, problems: &'a mut Vec<String> },
    Read(&'a TypeMap),
}

impl AppSetup<'_> {
    /// The site's settings.
    pub fn settings(&self) -> &Settings {
        self.settings
    }

    /// The site's database (not connected yet: nothing here touches the network).
    pub fn database(&self) -> &Arc<Database> {
        self.database
    }

    /// Every installed app's models, in install order.
    pub fn models(&self) -> &[Arc<dyn FixtureModel>] {
        self.models
    }

    /// Keeps `value` on the site (one per type; a second replaces the first). Only in an
    /// `on_ready` step: a [`urls_with`](App::urls_with) conf, made after them all, reads the
    /// state and cannot add to it (the value is dropped, with a log line).
    pub fn insert_state<T: Send + Sync + 'static>(&mut self, value: T) {
        match &mut self.state {
            StateAccess::Write { state, .. } => state.insert(value),
            StateAccess::Read(_) => eprintln!(
                "a URL conf made with urls_with tried to keep state of type {}; keep it in on_ready",
                std::any::type_name::<T>()
            ),
        }
    }

    /// The state of type `T` an app keeps, if any: in `on_ready`, of the apps that got ready
    /// before (and any app's [`App::state`]); in a `urls_with` conf, of every app.
    pub fn state<T: Send + Sync + 'static>(&self) -> Option<&T> {
        match &self.state {
            StateAccess::Write { state, .. } => state.get::<T>(),
            StateAccess::Read(state) => state.get::<T>(),
        }
    }

    /// Every value of type `T` the installed apps (and the site) gave with
    /// [`App::contribute`], in install order.
    pub fn contributions<T: Send + Sync + 'static>(&self) -> impl Iterator<Item = &T> {
        self.contributions.of::<T>()
    }

    /// The state of type `T`, to change: how an app adds to what another app keeps (a task
    /// to the tasks app's registry), whichever of the two gets ready first. Only in `on_ready`
    /// (a `urls_with` conf gets `None`).
    pub fn state_mut<T: Send + Sync + 'static>(&mut self) -> Option<&mut T> {
        match &mut self.state {
            StateAccess::Write { state, .. } => state.get_mut::<T>(),
            StateAccess::Read(_) => None,
        }
    }

    fn add_events(&mut self, f: impl FnOnce(&mut EventHandlers)) {
        let mut one = EventHandlers::default();
        f(&mut one);
        match &mut self.state {
            StateAccess::Write { events, problems, .. } => events.merge(one, problems),
            StateAccess::Read(_) => {
                eprintln!("a URL conf made with urls_with tried to add an event handler; add it in on_ready")
            }
        }
    }

    /// [`App::schedule`], for a schedule that depends on the settings (registered only when a
    /// setting asks for it).
    pub fn schedule<F, Fut>(&mut self, name: &str, when: &str, task: F)
    where
        F: Fn(Site, serde_json::Value) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = crate::Result<()>> + Send + 'static,
    {
        self.add_events(|e| e.add_task(name, when, task));
    }

    /// [`App::sqs`], for a consumer that depends on the settings (the queue a setting names).
    pub fn sqs<F, Fut>(&mut self, queue: &str, consumer: F)
    where
        F: Fn(Site, aws_lambda_events::event::sqs::SqsMessage) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = crate::Result<()>> + Send + 'static,
    {
        self.add_events(|e| e.add_queue(queue, consumer));
    }

    /// [`App::sends_to_queue`], for a queue that depends on the settings.
    pub fn sends_to_queue(&mut self, queue: &str, url_env: &str) {
        self.add_events(|e| e.add_queue_url_env(queue, url_env));
    }
}
