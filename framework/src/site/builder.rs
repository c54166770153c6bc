//! Assembling a site (Django's settings module and `django.setup()`): the installed apps,
//! the root URL conf, the middleware list, tower layers, templates, static files and the
//! database, checked and put together once.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;

use super::app::{App, AppSetup, AppUrls, StateAccess};
use super::commands::Commands;
use super::events::EventHandlers;
use super::state::{Contributions, TypeMap};
use super::{Entry, InstalledApp, Site, SiteInner};
use crate::assets::AssetDir;
use crate::conf::{Settings, SettingsError};
use crate::db::Database;
use crate::handler::Handler;
use crate::middleware::{self, Middleware, MiddlewareList};
use crate::routing::{BoxFuture, Flattened, UrlConf};
use crate::shortcuts::{ContextProcessor, ContextProcessors};
use crate::staticfiles::StaticFiles;
use crate::templates::Templates;
use crate::urls::{Converter, Converters, Resolver, UrlConfError};

/// Why a site could not be assembled: every problem found, each saying how to fix it.
#[derive(Debug)]
#[non_exhaustive]
pub enum ConfigError {
    /// The settings are invalid.
    Settings(SettingsError),
    /// The URL conf has problems.
    Urls(Vec<UrlConfError>),
    /// The migrations are registered wrongly.
    Migrations(String),
    /// A schedule or queue is registered wrongly.
    Events(String),
    /// The middleware list names a middleware it does not hold.
    Middleware(String),
    /// An app could not get ready (its `on_ready` step failed).
    App {
        /// The app's name.
        app: String,
        /// What went wrong.
        message: String,
    },
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConfigError::Settings(e) => e.fmt(f),
            ConfigError::Urls(errors) => {
                let list: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
                write!(f, "the URL conf has {} problem(s): {}", errors.len(), list.join("; "))
            }
            ConfigError::Migrations(e) | ConfigError::Events(e) | ConfigError::Middleware(e) => e.fmt(f),
            ConfigError::App { app, message } => write!(f, "the app {app:?} could not get ready: {message}"),
        }
    }
}

impl std::error::Error for ConfigError {}

impl From<SettingsError> for ConfigError {
    fn from(e: SettingsError) -> Self {
        ConfigError::Settings(e)
    }
}

type ListEdit = Box<dyn FnOnce(&mut MiddlewareList) + Send>;
type LayerFn = Box<dyn FnOnce(HttpService) -> HttpService + Send>;

/// Assembles a [`Site`]: settings, then the installed apps (Django's `INSTALLED_APPS`), the
/// root URL conf, and edits to the middleware list (Django's `MIDDLEWARE`).
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
    base_dir: std::path::PathBuf,
    urls: UrlConf,
    apps: Vec<App>,
    templates: Vec<AssetDir>,
    static_files: Vec<AssetDir>,
    converters: Converters,
    middleware: Vec<ListEdit>,
    layers: Vec<LayerFn>,
    processors: Vec<Arc<dyn ContextProcessor>>,
    globals: tera::Context,
    initial_data: Option<String>,
    contributions: Contributions,
}

impl Site {
    /// Starts assembling a site.
    pub fn builder() -> SiteBuilder {
        SiteBuilder {
            settings: None,
            base_dir: std::path::PathBuf::from("."),
            urls: UrlConf::new(),
            apps: Vec::new(),
            templates: Vec::new(),
            static_files: Vec::new(),
            converters: Converters::default(),
            middleware: Vec::new(),
            layers: Vec::new(),
            processors: Vec::new(),
            globals: tera::Context::new(),
            initial_data: None,
            contributions: Contributions::default(),
        }
    }
}

impl SiteBuilder {
    /// The settings (default: [`Settings::load`] with no `settings.toml`).
    pub fn settings(mut self, settings: Settings) -> Self {
        self.settings = Some(settings);
        self
    }

    /// The site's own folder (Django's `BASE_DIR`): where the default SQLite database
    /// `db.sqlite3` lives. Defaults to the current directory.
    pub fn base_dir(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.base_dir = dir.into();
        self
    }

    /// Installs an app (Django's `INSTALLED_APPS` entry): its URLs, models, migrations,
    /// templates, static files, middleware, context processors, state, commands and event
    /// handlers. Order matters as in Django: install an app before the apps whose tables refer
    /// to its own; its middleware join the default list in install order.
    pub fn app(mut self, app: App) -> Self {
        self.apps.push(app);
        self
    }

    /// The root URL conf (Django's `ROOT_URLCONF`), tried before the apps' URL confs.
    pub fn urls(mut self, urls: UrlConf) -> Self {
        self.urls = urls;
        self
    }

    /// Gives `value` to the installed app that collects values of its type, after those the
    /// apps gave (see [`App::contribute`]): a site registers a third-party app's models with
    /// the admin this way.
    pub fn contribute<T: Send + Sync + 'static>(mut self, value: T) -> Self {
        self.contributions.push(value);
        self
    }

    /// A fixture `runserver` loads, after migrating, when it creates the default SQLite
    /// database on a first run: a fresh checkout starts with something to look at.
    pub fn initial_data(mut self, fixture: &str) -> Self {
        self.initial_data = Some(fixture.to_owned());
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

    /// Appends a middleware to the list: innermost so far, so it sees what the ones before it
    /// attached (the session, the user).
    pub fn middleware(mut self, middleware: impl Middleware) -> Self {
        self.middleware.push(Box::new(move |list: &mut MiddlewareList| {
            list.append(middleware);
        }));
        self
    }

    /// Edits the middleware list (Django's `MIDDLEWARE`): reorder, remove or insert by type.
    /// Edits apply in order, after the apps have added theirs.
    pub fn middleware_list(mut self, edit: impl FnOnce(&mut MiddlewareList) + Send + 'static) -> Self {
        self.middleware.push(Box::new(edit));
        self
    }

    /// Wraps the site in a `tower::Layer` (CORS, timeouts, request ids from `tower-http`): the
    /// layer sees the `http::Request<Bytes>` a front door sends, before the middleware list,
    /// and the response after it. Layers added later wrap the earlier ones.
    ///
    /// The layer's service must answer with `http::Response<Bytes>`; an error it returns is
    /// answered with a plain 500. A streamed response's body is not in those bytes but in its
    /// [`StreamingBody`](crate::http::StreamingBody) extension, which a layer that rewrites
    /// bodies must leave alone or take.
    pub fn layer<L>(mut self, layer: L) -> Self
    where
        L: tower_layer::Layer<HttpService> + Send + 'static,
        L::Service: tower_service::Service<http::Request<Bytes>, Response = http::Response<Bytes>>
            + Clone
            + Send
            + Sync
            + 'static,
        <L::Service as tower_service::Service<http::Request<Bytes>>>::Error:
            Into<Box<dyn std::error::Error + Send + Sync>>,
        <L::Service as tower_service::Service<http::Request<Bytes>>>::Future: Send + 'static,
    {
        self.layers.push(Box::new(move |inner: HttpService| HttpService::from_service(layer.layer(inner))));
        self
    }

    /// Adds a context processor of the site's own, run for every
    /// [`render`](crate::shortcuts::render) after the apps' processors.
    pub fn context_processor(mut self, processor: impl ContextProcessor) -> Self {
        self.processors.push(Arc::new(processor));
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

        for app in &self.apps {
            if let Some((other, how)) = app.requires.iter().find(|(o, _)| !self.apps.iter().any(|a| a.name == *o)) {
                return Err(ConfigError::App {
                    app: app.name.clone(),
                    message: format!("it needs the {other:?} app: install it with .app({how})"),
                });
            }
        }
        let mut apps = self.apps;
        let models: Vec<_> = apps.iter().flat_map(|a| a.models.iter().cloned()).collect();
        let database = Arc::new(Database::from_settings(&settings, &self.base_dir));
        // What the apps give each other, then the site's, before any app gets ready.
        let mut contributions = Contributions::default();
        for app in &mut apps {
            contributions.append(&mut app.contributions);
        }
        let mut site_contributions = self.contributions;
        contributions.append(&mut site_contributions);
        let mut state = TypeMap::default();
        let mut events = EventHandlers::default();
        let mut problems = Vec::new();
        for app in &mut apps {
            state.extend(std::mem::take(&mut app.state));
            events.merge(std::mem::take(&mut app.events), &mut problems);
        }
        // Staged: every app is installed before any gets ready, so each sees all the models
        // and every contribution; the URL confs made from what they set up come after.
        for app in &mut apps {
            for ready in std::mem::take(&mut app.ready) {
                let mut setup = AppSetup {
                    settings: &settings,
                    database: &database,
                    models: &models,
                    state: StateAccess::Write { state: &mut state, events: &mut events, problems: &mut problems },
                    contributions: &contributions,
                };
                ready(&mut setup).map_err(|message| ConfigError::App { app: app.name.clone(), message })?;
            }
        }
        // Checked once every app is ready: some register their handlers by their settings.
        problems.extend(events.problems());
        if !problems.is_empty() {
            return Err(ConfigError::Events(problems.join("; ")));
        }

        // URLs: the root conf first, then each app's where it is mounted.
        let mut flat = Flattened { routes: Vec::new(), views: Vec::new() };
        self.urls.flatten_into("/", None, &mut flat);
        for app in &mut apps {
            if let Some((prefix, urls)) = app.urls.take() {
                let prefix = format!("/{}", prefix.trim_start_matches('/'));
                let conf = match urls {
                    AppUrls::Conf(conf) => conf,
                    AppUrls::Deferred(make) => make(&AppSetup {
                        settings: &settings,
                        database: &database,
                        models: &models,
                        state: StateAccess::Read(&state),
                        contributions: &contributions,
                    }),
                };
                conf.flatten_into(&prefix, None, &mut flat);
            }
        }
        drop(contributions);
        let resolver = Arc::new(Resolver::build(flat.routes, &self.converters).map_err(ConfigError::Urls)?);

        let mut static_dirs = self.static_files;
        static_dirs.extend(apps.iter().filter_map(|a| a.static_files));
        static_dirs.push(AssetDir::of::<FrameworkStatic>());
        let statics = Arc::new(StaticFiles::new(static_dirs, &settings.static_url, !cfg!(debug_assertions)));

        let mut template_dirs = self.templates;
        template_dirs.extend(apps.iter().filter_map(|a| a.templates));
        template_dirs.push(AssetDir::of::<FrameworkTemplates>());
        let mut globals = self.globals;
        globals.insert("debug", &settings.debug);
        globals.insert("STATIC_URL", &settings.static_url);
        let functions = apps.iter_mut().flat_map(|a| std::mem::take(&mut a.template_functions)).collect();
        let templates = Templates::new(
            globals,
            template_dirs,
            resolver.clone(),
            statics.clone(),
            functions,
            cfg!(debug_assertions),
        );

        // Django's MIDDLEWARE: the framework's own, then the apps', then the site's edits.
        let mut list = MiddlewareList::default();
        list.append(middleware::RequestLog)
            .append(middleware::SecurityMiddleware)
            .append(middleware::CommonMiddleware)
            .append(middleware::AllowedHosts)
            .append(middleware::BodySizeLimit);
        for app in &mut apps {
            list.extend(std::mem::take(&mut app.middleware));
        }
        list.place_after_needs();
        for edit in self.middleware {
            edit(&mut list);
        }
        let (chain, problems) = list.into_parts();
        if !problems.is_empty() {
            return Err(ConfigError::Middleware(problems.join("; ")));
        }
        let middleware_names = chain.iter().map(|(name, _)| *name).collect();

        let migrations: Vec<_> = apps.iter().filter_map(|a| a.migrations.clone()).collect();
        if let Some(app) = apps.iter().find(|a| a.migrations_dir.is_some() && a.migrations.is_none()) {
            return Err(ConfigError::Migrations(format!(
                "the app {:?} names a migrations_dir but has no migrations (call .migrations::<Migrator>() too)",
                app.name
            )));
        }

        let mut processors: Vec<Arc<dyn ContextProcessor>> = Vec::new();
        let mut commands = Vec::new();
        let mut post_migrate = Vec::new();
        let mut readiness = Vec::new();
        for app in &mut apps {
            processors.append(&mut app.processors);
            commands.append(&mut app.commands);
            post_migrate.append(&mut app.post_migrate);
            readiness.append(&mut app.readiness);
        }
        processors.extend(self.processors);
        state.insert(ContextProcessors(processors));
        state.insert(middleware::SecurityHeaders::new(&settings.security));
        state.insert(Commands(commands));
        state.insert(events);

        let handler = Arc::new(Handler::new(chain.into_iter().map(|(_, m)| m).collect(), flat.views));
        let entry = entry(handler, self.layers);
        let installed = apps
            .into_iter()
            .map(|a| InstalledApp {
                name: a.name,
                fixtures: a.fixtures,
                migrations: a.migrations,
                migrations_dir: a.migrations_dir,
            })
            .collect();
        Ok(Site::from_inner(SiteInner {
            settings,
            database,
            resolver,
            templates,
            statics,
            apps: installed,
            migrations,
            models,
            initial_data: self.initial_data,
            base_dir: self.base_dir,
            post_migrate,
            readiness,
            middleware_names,
            state,
            entry,
        }))
    }
}

/// How the site answers: the handler, inside the site's tower layers if it has any.
fn entry(handler: Arc<Handler>, layers: Vec<LayerFn>) -> Entry {
    if layers.is_empty() {
        return Arc::new(move |site, req| {
            let handler = handler.clone();
            Box::pin(async move { handler.handle(site, req).await })
        });
    }
    // Inside the layers the request carries its site, as a tower service has only the request.
    let inner = HttpService::new(move |mut req: http::Request<Bytes>| {
        let handler = handler.clone();
        Box::pin(async move {
            let Some(site) = req.extensions_mut().remove::<Site>() else {
                return Err("the request lost its site inside a tower layer".into());
            };
            Ok(handler.handle(site, req).await)
        })
    });
    let service = layers.into_iter().fold(inner, |service, layer| layer(service));
    Arc::new(move |site, mut req| {
        req.extensions_mut().insert(site);
        let service = service.clone();
        Box::pin(async move {
            match service.call(req).await {
                Ok(resp) => resp,
                Err(e) => {
                    eprintln!("Internal Server Error: a tower layer failed: {e}");
                    let mut resp = http::Response::new(Bytes::from_static(b"Internal Server Error"));
                    *resp.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
                    resp
                }
            }
        })
    })
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type ServiceFn = dyn Fn(http::Request<Bytes>) -> BoxFuture<Result<http::Response<Bytes>, BoxError>> + Send + Sync;

/// The service a site's tower layers wrap: the site's handler, or the layers added before.
#[derive(Clone)]
pub struct HttpService(Arc<ServiceFn>);

impl HttpService {
    fn new(
        f: impl Fn(http::Request<Bytes>) -> BoxFuture<Result<http::Response<Bytes>, BoxError>> + Send + Sync + 'static,
    ) -> Self {
        HttpService(Arc::new(f))
    }

    fn from_service<S>(service: S) -> Self
    where
        S: tower_service::Service<http::Request<Bytes>, Response = http::Response<Bytes>>
            + Clone
            + Send
            + Sync
            + 'static,
        S::Error: Into<BoxError>,
        S::Future: Send + 'static,
    {
        HttpService::new(move |req| {
            let mut service = service.clone();
            Box::pin(async move {
                std::future::poll_fn(|cx| service.poll_ready(cx)).await.map_err(Into::into)?;
                service.call(req).await.map_err(Into::into)
            })
        })
    }

    fn call(&self, req: http::Request<Bytes>) -> BoxFuture<Result<http::Response<Bytes>, BoxError>> {
        (self.0)(req)
    }
}

impl tower_service::Service<http::Request<Bytes>> for HttpService {
    type Response = http::Response<Bytes>;
    type Error = Infallible;
    type Future = BoxFuture<Result<http::Response<Bytes>, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Infallible>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<Bytes>) -> Self::Future {
        let fut = (self.0)(req);
        Box::pin(async move {
            Ok(fut.await.unwrap_or_else(|e| {
                eprintln!("Internal Server Error: {e}");
                let mut resp = http::Response::new(Bytes::from_static(b"Internal Server Error"));
                *resp.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
                resp
            }))
        })
    }
}

#[derive(rust_embed::RustEmbed)]
#[folder = "templates"]
struct FrameworkTemplates;

#[derive(rust_embed::RustEmbed)]
#[folder = "static"]
struct FrameworkStatic;
