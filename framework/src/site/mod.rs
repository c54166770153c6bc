//! The site: settings, URL conf, apps, templates, static files and middleware assembled once,
//! and [`Site::handle`], the one request path both front doors call.

mod builder;
mod snapshot;

pub use builder::{App, ConfigError, SiteBuilder};
pub(crate) use snapshot::ErrorSnapshot;
use snapshot::PageState;

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::FutureExt;
use http::{Method, header};

use builder::SiteInner;
use snapshot::panic_error;

use crate::conf::Settings;
use crate::db::{Database, FixtureModel, MigrationSet};
use crate::error::{Error, ErrorKind, Result};
use crate::http::{Request, Response};
use crate::middleware::{Middleware, Next};
use crate::staticfiles::StaticFiles;
use crate::templates::{ContextProcessor, Templates};
use crate::urls::Resolver;
use crate::views::debug;

/// A whole site, assembled once at start and shared by every request (cheap to clone).
#[derive(Clone)]
pub struct Site {
    inner: Arc<SiteInner>,
}

impl Site {
    /// Starts assembling a site.
    pub fn builder() -> SiteBuilder {
        SiteBuilder::new()
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
        // The error page of a view (a 403, a 404) is a page of the site like any other: it shows
        // who is logged in, and the messages.
        let state = PageState::of(&req);
        let result = match AssertUnwindSafe(resolved(req)).catch_unwind().await {
            Ok(result) => result,
            Err(panic) => Err(panic_error(panic)),
        };
        result.unwrap_or_else(|err| {
            let taken = routed_snapshot.as_ref().unwrap_or(snapshot);
            self.error_response(&taken.with_state(state), &err)
        })
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

    /// The flags of the route `req` will be dispatched to, for middleware that acts before the
    /// view (CSRF, login): `None` when no view will answer it (a static file, which comes
    /// first, or a path no route matches).
    pub fn route_flags(&self, req: &Request) -> Option<crate::urls::RouteFlags> {
        if self.inner.statics.match_path(req.path_info()).is_some() {
            return None;
        }
        let decoded = percent_encoding::percent_decode_str(req.path_info()).decode_utf8_lossy();
        self.inner.resolver.resolve(&decoded).map(|r| r.route.view.flags)
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

    /// Where sessions are kept (SESSION_ENGINE).
    pub fn session_store(&self) -> &Arc<dyn crate::sessions::SessionStore> {
        &self.inner.session_store
    }

    /// The registered models' permissions, and the `perms` values shared by requests.
    pub(crate) fn perm_table(&self) -> &crate::auth::PermTable {
        &self.inner.perm_table
    }

    /// The signer of the messages cookie.
    pub(crate) fn message_signer(&self) -> &crate::signing::Signer {
        &self.inner.message_signer
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

    /// The folder `makemigrations` writes an app's new migrations to, if the site named one.
    pub fn migrations_dir(&self, app_label: &str) -> Option<&std::path::Path> {
        self.inner.migration_dirs.iter().find(|(label, _)| label == app_label).map(|(_, dir)| dir.as_path())
    }

    /// The handlers of non-HTTP Lambda events (schedules, SQS, S3, SNS).
    pub fn events(&self) -> &crate::lambda::EventHandlers {
        &self.inner.events
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

enum Routed {
    View(crate::views::handler::BoxedView),
    Done(Response),
}
