//! The site: settings, URL conf, apps, templates, static files and middleware assembled once,
//! and [`Site::handle`], the one request path both front doors call.

use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::FutureExt;
use http::{HeaderMap, Method, Uri, header};

use crate::assets::AssetDir;
use crate::conf::{Settings, SettingsError};
use crate::db::{Database, EntityFixture, FixtureModel, MigrationSet, SeaMigrations};
use crate::error::{Error, ErrorKind, Result};
use crate::http::{ClientAddr, Request, Response, ScriptName};
use crate::middleware::{self, Middleware, Next};
use crate::staticfiles::StaticFiles;
use crate::templates::{ContextProcessor, Templates};
use crate::urls::{Converter, Converters, Resolver, UrlConf, UrlConfError};
use crate::views::debug;

/// An installed app (Django's `INSTALLED_APPS` entry): its own templates and static files.
/// Its URLs are included from the root URL conf, as in Django.
///
/// ```ignore
/// pub fn app() -> App {
///     App::new("crm").templates(djambda::assets!("src/crm/templates")).static_files(djambda::assets!("src/crm/static"))
/// }
/// ```
#[derive(Debug, Clone)]
pub struct App {
    name: String,
    templates: Option<AssetDir>,
    static_files: Option<AssetDir>,
    fixtures: Option<AssetDir>,
}

impl App {
    /// An app called `name` (its URL namespace, by convention).
    pub fn new(name: &str) -> Self {
        App { name: name.to_owned(), templates: None, static_files: None, fixtures: None }
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
    models: Vec<Arc<dyn FixtureModel>>,
    initial_data: Option<String>,
}

impl SiteBuilder {
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

    /// Installs an app (its templates and static files).
    pub fn app(mut self, app: App) -> Self {
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

    /// Appends a middleware after the built-in ones (request logging, common headers and
    /// APPEND_SLASH, ALLOWED_HOSTS, body size limit).
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
            Arc::new(middleware::CommonMiddleware),
            Arc::new(middleware::AllowedHosts),
            Arc::new(middleware::BodySizeLimit),
        ];
        chain.extend(self.middleware);

        let database = Database::from_settings(&settings, &self.base_dir);
        Ok(Site {
            inner: Arc::new(SiteInner {
                database,
                migrations: self.migrations,
                models: self.models,
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

struct SiteInner {
    database: Database,
    migrations: Vec<Arc<dyn MigrationSet>>,
    models: Vec<Arc<dyn FixtureModel>>,
    initial_data: Option<String>,
    settings: Settings,
    resolver: Arc<Resolver>,
    statics: Arc<StaticFiles>,
    templates: Templates,
    middleware: Vec<Arc<dyn Middleware>>,
    processors: Vec<ContextProcessor>,
    apps: Vec<App>,
}

/// A whole site, assembled once at start and shared by every request (cheap to clone).
#[derive(Clone)]
pub struct Site {
    inner: Arc<SiteInner>,
}

impl Site {
    /// Starts assembling a site.
    pub fn builder() -> SiteBuilder {
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
            models: Vec::new(),
            initial_data: None,
        }
    }

    /// Answers one request: the seam both front doors (and the test client) call. Never fails:
    /// errors and panics become error pages, and the process keeps serving.
    pub async fn handle(&self, req: http::Request<Bytes>) -> http::Response<Bytes> {
        let is_head = req.method() == Method::HEAD;
        let request = Request::new(req, self.clone());
        let snapshot = Arc::new(ErrorSnapshot::of(&request));
        let run = Next { site: self.clone(), index: 0, snapshot: snapshot.clone() }.run(request);
        let resp = match AssertUnwindSafe(run).catch_unwind().await {
            Ok(resp) => resp,
            Err(panic) => self.error_response(&snapshot, &panic_error(panic)),
        };
        let mut resp = resp.into_http();
        if is_head {
            *resp.body_mut() = Bytes::new();
        }
        resp
    }

    /// The innermost step of the chain: static files, or the URL resolver and the view. Errors
    /// become error pages here, so every middleware sees a response.
    pub(crate) async fn dispatch(&self, mut req: Request, snapshot: &Arc<ErrorSnapshot>) -> Response {
        let resolved = match self.route(&mut req) {
            Ok(Routed::View(view)) => view,
            Ok(Routed::Done(resp)) => return resp,
            Err(err) => return self.error_response(snapshot, &err),
        };
        // With DEBUG on the error page names the route whose view failed.
        let routed_snapshot = self.settings().debug.then(|| ErrorSnapshot::of(&req));
        let result = match AssertUnwindSafe(resolved(req)).catch_unwind().await {
            Ok(result) => result,
            Err(panic) => Err(panic_error(panic)),
        };
        result.unwrap_or_else(|err| self.error_response(routed_snapshot.as_ref().unwrap_or(snapshot), &err))
    }

    /// Finds what answers `req`: a static file, an APPEND_SLASH redirect, or a route's view
    /// (with the route recorded on the request).
    fn route(&self, req: &mut Request) -> Result<Routed> {
        if let Some(rel) = self.inner.statics.match_path(req.path_info()) {
            return self.inner.statics.serve(req, rel).map(Routed::Done);
        }
        let decoded = percent_encoding::percent_decode_str(req.path_info()).decode_utf8_lossy();
        let Some(resolved) = self.inner.resolver.resolve(&decoded) else {
            // Django's CommonMiddleware: `/contacts` → `/contacts/` when only the latter exists.
            if self.settings().append_slash && !decoded.ends_with('/') && self.resolves(&format!("{decoded}/")) {
                let mut location = format!("{}/", req.path());
                if !req.query_string().is_empty() {
                    location = format!("{location}?{}", req.query_string());
                }
                // 301 as Django sends; other methods get 308 so their body is not dropped.
                let status = if req.method() == Method::GET || req.method() == Method::HEAD {
                    http::StatusCode::MOVED_PERMANENTLY
                } else {
                    http::StatusCode::PERMANENT_REDIRECT
                };
                return Ok(Routed::Done(Response::redirect_with(status, &location)));
            }
            return Err(Error::not_found(format!("no URL pattern matches `{decoded}`")));
        };
        let view = resolved
            .route
            .view
            .view_for(req.method())
            .map_err(|allowed| {
                Error::new(ErrorKind::MethodNotAllowed(allowed), format!("`{decoded}` does not take {}", req.method()))
            })?
            .clone();
        req.set_route(resolved.route.name.clone(), resolved.params);
        Ok(Routed::View(view))
    }

    /// Whether `path` (decoded, without script prefix) matches a route: for APPEND_SLASH.
    pub fn resolves(&self, path: &str) -> bool {
        self.inner.resolver.resolve(path).is_some()
    }

    /// Reverses a route name into a path, without any script prefix (prefer
    /// [`Request::reverse`] inside a view, which adds it).
    pub fn reverse(&self, name: &str, args: &[&dyn crate::urls::UrlArg]) -> Result<String> {
        Ok(self.inner.resolver.reverse(name, args)?)
    }

    /// The site's settings.
    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    /// The database (opened on first use).
    pub fn database(&self) -> &Database {
        &self.inner.database
    }

    /// The models fixtures can hold, in registration order.
    pub fn models(&self) -> &[Arc<dyn FixtureModel>] {
        &self.inner.models
    }

    /// The fixture loaded when runserver creates the default database.
    pub fn initial_data(&self) -> Option<&str> {
        self.inner.initial_data.as_deref()
    }

    /// The apps' migrations, in the order they were registered.
    pub fn migrations(&self) -> &[Arc<dyn MigrationSet>] {
        &self.inner.migrations
    }

    /// The compiled URL conf.
    pub fn resolver(&self) -> &Resolver {
        &self.inner.resolver
    }

    /// The template engine.
    pub fn templates(&self) -> &Templates {
        &self.inner.templates
    }

    /// The static files.
    pub fn static_files(&self) -> &StaticFiles {
        &self.inner.statics
    }

    /// The installed apps.
    pub fn apps(&self) -> &[App] {
        &self.inner.apps
    }

    pub(crate) fn middleware(&self) -> &[Arc<dyn Middleware>] {
        &self.inner.middleware
    }

    pub(crate) fn context_processors(&self) -> &[ContextProcessor] {
        &self.inner.processors
    }

    /// Turns an error into the site's error page for the request described by `snapshot`.
    pub(crate) fn error_response(&self, snapshot: &ErrorSnapshot, err: &Error) -> Response {
        let status = err.status();
        let req = snapshot.to_request(self.clone());
        if status.is_server_error() {
            eprintln!("Internal Server Error: {}\n  {}", req.path(), err.chain().join("\n  caused by: "));
        }
        let debug = self.settings().debug;
        // With DEBUG on every error but 404 and 405 gets the developer page (Django shows its
        // technical page for a refused Host too); 404 gets the list of patterns tried.
        let mut resp =
            if debug && status != http::StatusCode::NOT_FOUND && status != http::StatusCode::METHOD_NOT_ALLOWED {
                debug::technical_500(&req, err)
            } else if debug && status == http::StatusCode::NOT_FOUND {
                debug::technical_404(&req, err)
            } else {
                crate::shortcuts::error_page(&req, err)
            };
        resp.set_status(status);
        if let ErrorKind::MethodNotAllowed(allowed) = err.kind() {
            let list: Vec<&str> = allowed.iter().map(|m| m.as_str()).collect();
            resp.set_header(header::ALLOW, &list.join(", "));
        }
        resp
    }
}

impl std::fmt::Debug for Site {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Site").field("debug", &self.settings().debug).finish_non_exhaustive()
    }
}

fn panic_error(panic: Box<dyn std::any::Any + Send>) -> Error {
    let msg = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into());
    Error::internal(format!("the view panicked: {msg}"))
}

enum Routed {
    View(crate::views::handler::BoxedView),
    Done(Response),
}

/// What an error page needs to know of a request that a view or middleware consumed.
pub(crate) struct ErrorSnapshot {
    method: Method,
    uri: Uri,
    script_name: String,
    client: Option<SocketAddr>,
    /// Only kept with DEBUG on, for the developer page.
    headers: Option<HeaderMap>,
    route_name: Option<String>,
    params: Vec<(String, String)>,
}

impl ErrorSnapshot {
    pub(crate) fn of(req: &Request) -> Self {
        let debug = req.settings().debug;
        ErrorSnapshot {
            method: req.method().clone(),
            uri: req.uri().clone(),
            script_name: req.script_name().to_owned(),
            client: req.client_addr(),
            headers: debug.then(|| req.headers().clone()),
            route_name: if debug { req.route_name().map(str::to_owned) } else { None },
            params: if debug { req.params().to_vec() } else { Vec::new() },
        }
    }

    fn to_request(&self, site: Site) -> Request {
        let mut builder = http::Request::builder().method(self.method.clone()).uri(self.uri.clone());
        if let Some(h) = self.headers.clone()
            && let Some(map) = builder.headers_mut()
        {
            *map = h;
        }
        let mut req = builder.body(Bytes::new()).unwrap_or_default();
        req.extensions_mut().insert(ScriptName(self.script_name.clone()));
        if let Some(addr) = self.client {
            req.extensions_mut().insert(ClientAddr(addr));
        }
        let mut out = Request::new(req, site);
        out.set_route(self.route_name.clone(), self.params.clone());
        out
    }
}
