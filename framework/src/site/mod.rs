//! The site as assembled: what every request, command and event handler reads (settings,
//! database, URLs, templates, static files, the installed apps and the typed state they keep),
//! and [`Site::handle`], the seam both front doors call.
//!
//! This file sits low in the core: [`Request`](crate::Request) holds a `Site`, so nothing here
//! names a request. The handler that answers requests is given to the site as a function of
//! plain `http` types; what apps register for the layers above (event handlers,
//! commands, context processors) lives in the typed state, read by those layers.
//! Assembling a site is [`SiteBuilder`](crate::SiteBuilder)'s work (`builder.rs`), from
//! [`App`](crate::App)s (`app.rs`).

pub(crate) mod app;
pub(crate) mod builder;
pub(crate) mod commands;
pub(crate) mod events;
pub(crate) mod state;

use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::future::BoxFuture;
use sea_orm::DatabaseConnection;

use crate::assets::AssetDir;
use crate::conf::Settings;
use crate::db::{Database, FixtureModel, MigrationSet};
use crate::staticfiles::StaticFiles;
use crate::templates::Templates;
use crate::urls::{Resolver, UrlArg};
use state::TypeMap;

pub use events::invocation_deadline;

/// A whole site, assembled once at start and shared by every request (cheap to clone).
#[derive(Clone)]
pub struct Site {
    inner: Arc<SiteInner>,
}

pub(crate) struct SiteInner {
    pub(crate) settings: Settings,
    pub(crate) database: Arc<Database>,
    pub(crate) resolver: Arc<Resolver>,
    pub(crate) templates: Templates,
    pub(crate) statics: Arc<StaticFiles>,
    pub(crate) apps: Vec<InstalledApp>,
    pub(crate) migrations: Vec<Arc<dyn MigrationSet>>,
    pub(crate) models: Vec<Arc<dyn FixtureModel>>,
    pub(crate) initial_data: Option<String>,
    pub(crate) base_dir: std::path::PathBuf,
    pub(crate) post_migrate: Vec<PostMigrate>,
    pub(crate) readiness: Vec<(String, ReadinessCheck)>,
    pub(crate) middleware_names: Vec<&'static str>,
    pub(crate) state: TypeMap,
    pub(crate) entry: Entry,
}

/// How the site answers a request: the handler, with the site's tower layers around it, built
/// once by the builder. It takes the site as an argument rather than holding it, so the site
/// and its handler do not own each other.
pub(crate) type Entry =
    Arc<dyn Fn(Site, http::Request<Bytes>) -> BoxFuture<'static, http::Response<Bytes>> + Send + Sync>;

/// What an app runs after `manage migrate` has applied migrations (Django's `post_migrate`
/// signal): auth creates the models' permissions this way. It returns a line to print, if any.
pub type PostMigrate =
    Arc<dyn Fn(Site, DatabaseConnection) -> BoxFuture<'static, Result<Option<String>, String>> + Send + Sync>;

/// A readiness check an app adds with [`App::readiness_check`](crate::App::readiness_check):
/// `Ok` when what it needs answers, or what failed.
pub type ReadinessCheck = Arc<dyn Fn(Site) -> BoxFuture<'static, Result<(), String>> + Send + Sync>;

/// How long one readiness check may take before it counts as failed: a load balancer's probe
/// gives up after a few seconds, and a hung dependency must not hold it longer.
const READINESS_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

/// What [`Site::readiness`] found: each check by name, in order, with its error if it failed.
#[derive(Debug, Clone)]
pub struct Readiness {
    /// `database` first, then the apps' checks in install order.
    pub checks: Vec<(String, Result<(), String>)>,
}

impl Readiness {
    /// Whether every check passed.
    pub fn is_ready(&self) -> bool {
        self.checks.iter().all(|(_, r)| r.is_ok())
    }
}

impl Site {
    pub(crate) fn from_inner(inner: SiteInner) -> Self {
        Site { inner: Arc::new(inner) }
    }

    /// Answers one request: the seam both front doors (and the test client) call. Never fails:
    /// errors and panics become error pages, and the process keeps serving.
    pub async fn handle(&self, req: http::Request<Bytes>) -> http::Response<Bytes> {
        (self.inner.entry)(self.clone(), req).await
    }

    /// The site's settings.
    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    /// The database (opened on first use).
    pub fn database(&self) -> &Database {
        &self.inner.database
    }

    /// The compiled URL conf: matching, reversing, and each route's metadata.
    pub fn resolver(&self) -> &Resolver {
        &self.inner.resolver
    }

    /// Reverses a route name into a path, without any script prefix (prefer
    /// [`Request::reverse`](crate::Request::reverse) inside a view, which adds it).
    pub fn reverse(&self, name: &str, args: &[&dyn UrlArg]) -> crate::Result<String> {
        Ok(self.inner.resolver.reverse(name, args)?)
    }

    /// The template engine.
    pub fn templates(&self) -> &Templates {
        &self.inner.templates
    }

    /// The static files.
    pub fn static_files(&self) -> &StaticFiles {
        &self.inner.statics
    }

    /// The site's own folder (Django's `BASE_DIR`, set with [`SiteBuilder::base_dir`]): where
    /// the default SQLite database lives and where `startapp` writes a new app (under `src/`).
    ///
    /// [`SiteBuilder::base_dir`]: crate::SiteBuilder::base_dir
    pub fn base_dir(&self) -> &Path {
        &self.inner.base_dir
    }

    /// Runs the readiness checks, all at once, each within 3 seconds: the database
    /// ([`Database::ping`]), then every app's
    /// ([`App::readiness_check`](crate::App::readiness_check)).
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// use djambda::prelude::*;
    ///
    /// let site = Site::builder()
    ///     .settings(Settings::from_sources(Some("DEBUG = true"), |_| None).unwrap())
    ///     .app(App::new("mail").readiness_check("smtp", |_site| async { Err("connection refused".to_owned()) }))
    ///     .build()
    ///     .unwrap();
    /// let found = site.readiness().await;
    /// assert!(!found.is_ready());
    /// assert_eq!(found.checks[1], ("smtp".to_owned(), Err("connection refused".to_owned())));
    /// # });
    /// ```
    pub async fn readiness(&self) -> Readiness {
        let database = {
            let db = self.inner.database.clone();
            Box::pin(async move { db.ping().await.map_err(|e| e.to_string()) })
                as BoxFuture<'static, Result<(), String>>
        };
        let mut named = vec![("database".to_owned(), database)];
        for (name, check) in &self.inner.readiness {
            named.push((name.clone(), check(self.clone())));
        }
        let results = futures_util::future::join_all(named.into_iter().map(|(name, check)| async move {
            let result = match tokio::time::timeout(READINESS_TIMEOUT, check).await {
                Ok(r) => r,
                Err(_) => Err(format!("no answer within {} s", READINESS_TIMEOUT.as_secs())),
            };
            (name, result)
        }))
        .await;
        Readiness { checks: results }
    }

    /// The installed apps, in the order they were installed (Django's `INSTALLED_APPS`).
    pub fn apps(&self) -> &[InstalledApp] {
        &self.inner.apps
    }

    /// The installed app called `name`.
    pub fn app(&self, name: &str) -> Option<&InstalledApp> {
        self.inner.apps.iter().find(|a| a.name == name)
    }

    /// Every app's migrations, in the order the apps were installed.
    pub fn migrations(&self) -> &[Arc<dyn MigrationSet>] {
        &self.inner.migrations
    }

    /// Every app's models, in the order the apps were installed: what fixtures can hold and
    /// what gets permissions.
    pub fn models(&self) -> &[Arc<dyn FixtureModel>] {
        &self.inner.models
    }

    /// The folder `makemigrations` writes an app's new migrations to, if the app named one.
    pub fn migrations_dir(&self, app_label: &str) -> Option<&Path> {
        self.app(app_label).and_then(|a| a.migrations_dir.as_deref())
    }

    /// Every app's fixtures folder, in install order.
    pub fn fixture_dirs(&self) -> impl Iterator<Item = &AssetDir> + Clone {
        self.inner.apps.iter().filter_map(|a| a.fixtures.as_ref())
    }

    /// The fixture loaded when runserver creates the default database.
    pub fn initial_data(&self) -> Option<&str> {
        self.inner.initial_data.as_deref()
    }

    /// The type names of the middleware the site runs, outermost first (Django's `MIDDLEWARE`).
    pub fn middleware_names(&self) -> &[&'static str] {
        &self.inner.middleware_names
    }

    /// The value of type `T` an app keeps on the site (a session store, a signer), set when the
    /// site was assembled.
    pub fn state<T: Send + Sync + 'static>(&self) -> Option<&T> {
        self.inner.state.get::<T>()
    }

    /// Applies every pending migration of every app, in order, then runs the apps' post-migrate
    /// steps (auth creates the models' permissions); returns the `app.name`s applied and the
    /// lines those steps report.
    pub async fn apply_migrations(&self) -> Result<(Vec<String>, Vec<String>), String> {
        let db = self.database().connection().await.map_err(|e| e.to_string())?;
        let applied = crate::db::apply_all(self.migrations(), &db).await?;
        let notes = self.post_migrate(&db).await?;
        Ok((applied, notes))
    }

    /// Runs the apps' post-migrate steps (after any `migrate`, as Django's signal).
    pub async fn post_migrate(&self, db: &DatabaseConnection) -> Result<Vec<String>, String> {
        let mut notes = Vec::new();
        for step in &self.inner.post_migrate {
            if let Some(line) = step(self.clone(), db.clone()).await? {
                notes.push(line);
            }
        }
        Ok(notes)
    }
}

impl std::fmt::Debug for Site {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Site")
            .field("debug", &self.settings().debug)
            .field("apps", &self.inner.apps.iter().map(|a| a.name.as_str()).collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// The ecosystem's middleware plugs in around a site: it is a `tower::Service` for
/// `http::Request<Bytes>`, and never fails (errors are error pages).
impl tower_service::Service<http::Request<Bytes>> for Site {
    type Response = http::Response<Bytes>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<http::Response<Bytes>, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<Bytes>) -> Self::Future {
        let site = self.clone();
        Box::pin(async move { Ok(site.handle(req).await) })
    }
}

/// What remains of an installed app once the site is assembled: what the commands read.
#[derive(Clone)]
pub struct InstalledApp {
    pub(crate) name: String,
    pub(crate) fixtures: Option<AssetDir>,
    pub(crate) migrations: Option<Arc<dyn MigrationSet>>,
    pub(crate) migrations_dir: Option<PathBuf>,
}

impl InstalledApp {
    /// The app's name (its label: `auth`, `crm`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The app's migrations, if it has any.
    pub fn migrations(&self) -> Option<&Arc<dyn MigrationSet>> {
        self.migrations.as_ref()
    }

    /// The fixture file `name` (`demo` or `demo.json`) from the app's fixtures folder.
    pub fn fixture(&self, name: &str) -> Option<Vec<u8>> {
        let file = if name.ends_with(".json") { name.to_owned() } else { format!("{name}.json") };
        self.fixtures.as_ref()?.get(&file).map(|a| a.data.into_owned())
    }
}

impl std::fmt::Debug for InstalledApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InstalledApp")
            .field("name", &self.name)
            .field("migrations", &self.migrations.is_some())
            .finish_non_exhaustive()
    }
}
