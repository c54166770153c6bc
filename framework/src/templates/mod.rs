//! Templates (Django's `django.template`): Tera 2 with the site's, each app's and the framework's
//! template folders, the `url()` and `static()` functions and those apps add. The context
//! processors that fill a page's context from its request are [`render`](crate::shortcuts::render)'s.
//!
//! Release builds parse the embedded templates once, when the site is assembled. Debug builds
//! read the folders again on each render and re-parse only when a file changed, so an edit shows
//! on refresh.

mod functions;

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, OnceLock};

pub use tera::{Context, Value};

use crate::assets::AssetDir;
use crate::error::{Error, ErrorKind, Result};
use crate::staticfiles::StaticFiles;
use crate::urls::Resolver;

pub use tera::{Kwargs, State, TeraResult};

/// The template variable carrying the script prefix, read by `url()` and `static()`.
pub(crate) const SCRIPT_NAME_VAR: &str = "script_name";

/// A function templates call (`{{ csrf_input() }}`), as an app registers it with
/// [`App::template_function`](crate::App::template_function): it gets the call's keyword
/// arguments and the render state (the context's values).
pub type TemplateFunction = Arc<dyn Fn(Kwargs, &State) -> TeraResult<Value> + Send + Sync>;

/// The site's template engine.
pub struct Templates {
    loader: Loader,
    /// Release builds: the templates parsed once, in a thread of their own started when the
    /// site is assembled, so a cold start does not wait for them (the first render waits for
    /// what is left). `manage check` reports a template that does not parse.
    fixed: Option<Arc<Parsed>>,
    /// Debug builds: the last parse, with the fingerprint of the sources it came from.
    cache: Mutex<Option<(u64, Arc<tera::Tera>)>>,
}

/// The outcome of parsing the embedded templates, once (the message of a template that does
/// not parse).
type Parsed = OnceLock<Result<Arc<tera::Tera>, String>>;

/// Where templates come from and what they can call: enough to parse them anywhere.
#[derive(Clone)]
struct Loader {
    dirs: Vec<AssetDir>,
    resolver: Arc<Resolver>,
    statics: Arc<StaticFiles>,
    functions: Vec<(String, TemplateFunction)>,
    /// Values every template sees (Tera's global context).
    globals: Context,
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
    /// Unless `reload` (debug builds, which re-read the folders on each render), the embedded
    /// templates are parsed once, in the background.
    pub(crate) fn new(
        globals: Context,
        dirs: Vec<AssetDir>,
        resolver: Arc<Resolver>,
        statics: Arc<StaticFiles>,
        functions: Vec<(String, TemplateFunction)>,
        reload: bool,
    ) -> Self {
        let loader = Loader { dirs, resolver, statics, functions, globals };
        let fixed = (!reload).then(|| {
            let cell: Arc<Parsed> = Arc::default();
            let (parsed, background) = (cell.clone(), loader.clone());
            let spawned = std::thread::Builder::new().name("djambda-templates".into()).spawn(move || {
                let _ = parsed.set(background.parse().map(Arc::new).map_err(|e| template_error(e).to_string()));
            });
            if spawned.is_err() {
                // No thread to be had: parse now instead.
                let _ = cell.set(loader.parse().map(Arc::new).map_err(|e| template_error(e).to_string()));
            }
            cell
        });
        Templates { loader, fixed, cache: Mutex::new(None) }
    }

    /// Parses every template, reporting the first problem (for `manage check`).
    pub fn check(&self) -> Result<usize, tera::Error> {
        let tera = self.loader.parse()?;
        Ok(tera.get_template_names().count())
    }

    /// The parsed templates, re-read from disk first when reloading.
    fn engine(&self) -> Result<Arc<tera::Tera>> {
        if let Some(parsed) = &self.fixed {
            return match parsed.wait() {
                Ok(tera) => Ok(tera.clone()),
                Err(e) => Err(Error::internal(e.clone())),
            };
        }
        let sources = self.loader.sources();
        let mut h = DefaultHasher::new();
        sources.hash(&mut h);
        let fingerprint = h.finish();
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        match cache.as_ref() {
            Some((f, tera)) if *f == fingerprint => Ok(tera.clone()),
            _ => {
                let tera = Arc::new(self.loader.parse_sources(&sources).map_err(template_error)?);
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
}

impl Loader {
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
        for (name, f) in &self.functions {
            let f = f.clone();
            tera.register_function(name.clone(), move |kwargs: Kwargs, state: &State| f(kwargs, state));
        }
        tera.global_context().extend(self.globals.clone());
        tera.add_raw_templates(sources.iter().map(|(n, s)| (n.as_str(), s.as_str())))?;
        Ok(tera)
    }

    fn parse(&self) -> Result<tera::Tera, tera::Error> {
        self.parse_sources(&self.sources())
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
