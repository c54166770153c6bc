//! Templates (Django's `django.template`): Tera 2 with the site's, each app's and the framework's
//! template folders, `url()` and `static()` functions, and context processors.
//!
//! Release builds parse the embedded templates once, when the site is assembled. Debug builds
//! read the folders again on each render and re-parse only when a file changed, so an edit shows
//! on refresh.

mod functions;

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};

pub use tera::{Context, Value};

use crate::assets::AssetDir;
use crate::error::{Error, ErrorKind, Result};
use crate::http::Request;
use crate::staticfiles::StaticFiles;
use crate::urls::Resolver;

/// The template variable carrying the script prefix, read by `url()` and `static()`.
pub(crate) const SCRIPT_NAME_VAR: &str = "script_name";

/// The template variable carrying this page's CSRF token, read by `csrf_input()`.
pub(crate) const CSRF_TOKEN_VAR: &str = "csrf_token";

/// Adds values to every template's context from the request (Django's context processors).
pub type ContextProcessor = Arc<dyn Fn(&Request, &mut Context) + Send + Sync>;

/// The site's template engine.
pub struct Templates {
    dirs: Vec<AssetDir>,
    resolver: Arc<Resolver>,
    statics: Arc<StaticFiles>,
    /// Values every template sees (Tera's global context).
    globals: Context,
    /// Release builds: the templates parsed once at start, read without a lock.
    fixed: Option<Arc<tera::Tera>>,
    /// Debug builds: the last parse, with the fingerprint of the sources it came from.
    cache: Mutex<Option<(u64, Arc<tera::Tera>)>>,
}

/// Where a template problem is: for the developer error page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateLocation {
    /// The template's name.
    pub name: String,
    /// The 1-based line.
    pub line: usize,
    /// Tera's message.
    pub message: String,
}

impl Templates {
    /// Builds the engine; `dirs` are searched in order (the first that has a name wins).
    /// Parses everything now unless `reload` (debug builds), so broken templates stop a release
    /// build's start rather than its first request.
    pub(crate) fn new(
        globals: Context,
        dirs: Vec<AssetDir>,
        resolver: Arc<Resolver>,
        statics: Arc<StaticFiles>,
        reload: bool,
    ) -> Result<Self, tera::Error> {
        let mut t = Templates { globals, dirs, resolver, statics, fixed: None, cache: Mutex::new(None) };
        if !reload {
            t.fixed = Some(Arc::new(t.parse()?));
        }
        Ok(t)
    }

    fn sources(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        for dir in &self.dirs {
            for name in dir.names() {
                if out.iter().any(|(n, _)| *n == name) {
                    continue;
                }
                if let Some(asset) = dir.get(&name) {
                    out.push((name.into_owned(), String::from_utf8_lossy(&asset.data).into_owned()));
                }
            }
        }
        out
    }

    fn parse_sources(&self, sources: &[(String, String)]) -> Result<tera::Tera, tera::Error> {
        let mut tera = tera::Tera::new();
        functions::register(&mut tera, self.resolver.clone(), self.statics.clone());
        tera.global_context().extend(self.globals.clone());
        tera.add_raw_templates(sources.iter().map(|(n, s)| (n.as_str(), s.as_str())))?;
        Ok(tera)
    }

    fn parse(&self) -> Result<tera::Tera, tera::Error> {
        self.parse_sources(&self.sources())
    }

    /// The parsed templates, re-read from disk first when reloading.
    fn engine(&self) -> Result<Arc<tera::Tera>> {
        if let Some(tera) = &self.fixed {
            return Ok(tera.clone());
        }
        let sources = self.sources();
        let mut h = DefaultHasher::new();
        sources.hash(&mut h);
        let fingerprint = h.finish();
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        match cache.as_ref() {
            Some((f, tera)) if *f == fingerprint => Ok(tera.clone()),
            _ => {
                let tera = Arc::new(self.parse_sources(&sources).map_err(template_error)?);
                *cache = Some((fingerprint, tera.clone()));
                Ok(tera)
            }
        }
    }

    /// Renders `name` with `context` as it is (no context processors).
    pub fn render_plain(&self, name: &str, context: &Context) -> Result<String> {
        self.engine()?.render(name, context).map_err(template_error)
    }

    /// Whether a template called `name` exists.
    pub fn exists(&self, name: &str) -> bool {
        self.engine().map(|t| t.contains_template(name)).unwrap_or(false)
    }

    /// Parses every template, reporting the first problem (for `manage check`).
    pub fn check(&self) -> Result<usize, tera::Error> {
        let tera = self.parse()?;
        Ok(tera.get_template_names().count())
    }
}

fn template_error(e: tera::Error) -> Error {
    let message = match location(&e) {
        Some(loc) => format!("template error in `{}` line {}: {}", loc.name, loc.line, loc.message),
        None => format!("template error: {}", first_line(&e.to_string())),
    };
    Error::with_source(ErrorKind::Internal, message, e)
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s)
}

/// The template name and line of a Tera error, when it has them.
pub fn location(e: &tera::Error) -> Option<TemplateLocation> {
    match e.kind() {
        tera::ErrorKind::SyntaxError(r) | tera::ErrorKind::RenderingError(r) => Some(TemplateLocation {
            name: r.filename().to_owned(),
            line: r.span().start_line,
            message: r.message().to_owned(),
        }),
        _ => None,
    }
}

/// Builds a [`Context`] from variables or `key: value` pairs, for [`render`](crate::shortcuts::render).
///
/// ```
/// let contact = "Ada";
/// let ctx = djambda::context! { contact, count: 3 };
/// assert_eq!(ctx.get("count").map(|v| v.to_string()), Some("3".into()));
/// ```
#[macro_export]
macro_rules! context {
    (@insert $ctx:ident, $key:ident) => { $ctx.insert(stringify!($key), &$key); };
    (@insert $ctx:ident, $key:ident, $value:expr) => { $ctx.insert(stringify!($key), &$value); };
    ($($key:ident $(: $value:expr)?),* $(,)?) => {{
        #[allow(unused_mut)]
        let mut ctx = $crate::templates::Context::new();
        $( $crate::context!(@insert ctx, $key $(, $value)?); )*
        ctx
    }};
}

/// The built-in context processors: `request` (path, method, GET, script name, route name),
/// the script prefix, `user` and `perms`, `messages`, and `csrf_token`. Settings-derived values that never change (`debug`, `STATIC_URL`, and the
/// site's own [`SiteBuilder::template_global`](crate::SiteBuilder::template_global)s) are in the
/// engine's global context, set once.
pub(crate) fn builtin_processors(req: &Request, ctx: &mut Context) {
    #[derive(serde::Serialize)]
    struct RequestInfo<'a> {
        method: &'a str,
        path: std::borrow::Cow<'a, str>,
        path_info: &'a str,
        full_path: std::borrow::Cow<'a, str>,
        script_name: &'a str,
        route_name: Option<&'a str>,
        #[serde(rename = "GET")]
        get: &'a crate::http::QueryDict,
    }
    ctx.insert(
        "request",
        &RequestInfo {
            method: req.method().as_str(),
            path: req.path(),
            path_info: req.path_info(),
            full_path: req.full_path(),
            script_name: req.script_name(),
            route_name: req.route_name(),
            get: req.query(),
        },
    );
    ctx.insert(SCRIPT_NAME_VAR, req.script_name());
    // The page shows who is logged in, so it depends on the session cookie (Vary: Cookie).
    if let Some(session) = req.extensions().get::<crate::sessions::Session>() {
        session.mark_accessed();
    }
    crate::auth::context_values(req, ctx);
    ctx.insert("messages", &crate::messages::context_value(req));
    if let Some(csrf) = req.extensions().get::<crate::middleware::csrf::Csrf>() {
        ctx.insert(CSRF_TOKEN_VAR, &csrf.token());
    }
}

/// After a page is rendered: if it carries the CSRF token, the response must set the cookie
/// that backs it (so a visitor gets one exactly when a page needs it, as Django's lazy token).
pub(crate) fn after_render(req: &Request, ctx: &Context, html: &str) {
    if let (Some(csrf), Some(token)) =
        (req.extensions().get::<crate::middleware::csrf::Csrf>(), ctx.get(CSRF_TOKEN_VAR).and_then(|v| v.as_str()))
        && html.contains(token)
    {
        csrf.mark_used();
    }
}
