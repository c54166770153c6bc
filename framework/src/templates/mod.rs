//! Templates (Django's `django.template`): Tera 2 with the site's, each app's and the framework's
//! template folders, the `url()` and `static()` functions and those apps add. The context
//! processors that fill a page's context from its request are [`render`](crate::shortcuts::render)'s.
//!
//! Release builds parse an embedded template the first time it is rendered, with the templates
//! it extends, includes and imports, and keep it: a Lambda cold start parses the few templates
//! its first page needs, not every one the site and its apps ship. Debug builds read the folders
//! again on each render and re-parse only when a file changed, so an edit shows on refresh.

mod functions;

use std::borrow::Cow;
use std::collections::HashMap;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, OnceLock, RwLock};

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
    /// Release builds: the templates parsed so far, grown on demand. `manage check` parses
    /// them all and reports one that does not parse.
    fixed: Option<OnceLock<Lazy>>,
    /// Debug builds: the last parse, with the fingerprint of the sources it came from.
    cache: Mutex<Option<(u64, Arc<tera::Tera>)>>,
}

/// The embedded templates of a release build, parsed as they are first needed.
struct Lazy {
    /// Every template's source (the first folder that has a name wins), read once: borrowed
    /// from the binary in release builds.
    sources: HashMap<String, Cow<'static, str>>,
    /// The engine with the templates parsed so far; rendering takes a clone of the `Arc`.
    engine: RwLock<Arc<tera::Tera>>,
    /// How often the engine has grown: past [`Lazy::GROWTHS`] the rest is parsed at once, so a
    /// server warming up does not copy the engine once per page.
    growths: Mutex<usize>,
}

impl Lazy {
    const GROWTHS: usize = 4;
}

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
    /// Unless `reload` (debug builds, which re-read the folders on each render), each embedded
    /// template is parsed the first time it is needed, and kept.
    pub(crate) fn new(
        globals: Context,
        dirs: Vec<AssetDir>,
        resolver: Arc<Resolver>,
        statics: Arc<StaticFiles>,
        functions: Vec<(String, TemplateFunction)>,
        reload: bool,
    ) -> Self {
        let loader = Loader { dirs, resolver, statics, functions, globals };
        // Nothing is read or parsed until the first render: a cold start that does not render
        // pays nothing for templates.
        let fixed = (!reload).then(OnceLock::new);
        Templates { loader, fixed, cache: Mutex::new(None) }
    }

    /// Parses every template, reporting the first problem (for `manage check`).
    pub fn check(&self) -> Result<usize, tera::Error> {
        let tera = self.loader.parse()?;
        Ok(tera.get_template_names().count())
    }

    /// An engine that has `name` parsed (when it exists), re-read from disk first when reloading.
    fn engine(&self, name: &str) -> Result<Arc<tera::Tera>> {
        if let Some(lazy) = &self.fixed {
            return self.engine_with(self.lazy(lazy), name);
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

    /// The release build's sources and engine, made on first use.
    fn lazy<'a>(&self, cell: &'a OnceLock<Lazy>) -> &'a Lazy {
        cell.get_or_init(|| Lazy {
            sources: self.loader.static_sources(),
            engine: RwLock::new(Arc::new(self.loader.engine())),
            growths: Mutex::new(0),
        })
    }

    /// The release engine, grown by `name` and what it depends on when it lacks them.
    fn engine_with(&self, lazy: &Lazy, name: &str) -> Result<Arc<tera::Tera>> {
        let current = lazy.engine.read().unwrap_or_else(|e| e.into_inner()).clone();
        if current.contains_template(name) || !lazy.sources.contains_key(name) {
            // Parsed already, or no such template: Tera's own error names it.
            return Ok(current);
        }
        let mut growths = lazy.growths.lock().unwrap_or_else(|e| e.into_inner());
        let current = lazy.engine.read().unwrap_or_else(|e| e.into_inner()).clone();
        if current.contains_template(name) {
            return Ok(current);
        }
        let closure: Vec<&str> =
            needed(&lazy.sources, name).into_iter().filter(|n| !current.contains_template(n)).collect();
        let grow = |names: &[&str]| {
            let mut grown = (*current).clone();
            grown.add_raw_templates(names.iter().map(|n| (*n, lazy.sources[*n].as_ref()))).map(|()| grown)
        };
        let mut grown = Err(None);
        if *growths >= Lazy::GROWTHS {
            let rest: Vec<&str> =
                lazy.sources.keys().map(String::as_str).filter(|n| !current.contains_template(n)).collect();
            // One template that does not parse must not keep the others from being served.
            grown = grow(&rest).map_err(|_| None);
        }
        if grown.is_err() {
            grown = grow(&closure).map_err(Some);
        }
        let grown = match grown {
            Ok(grown) => grown,
            Err(first) => {
                // Perhaps a dependency the scan could not see (an include whose name is not a
                // plain string): every template, as a site that parses them all would have.
                let mut all = self.loader.engine();
                match all.add_raw_templates(lazy.sources.iter().map(|(n, s)| (n.as_str(), s.as_ref()))) {
                    Ok(()) => all,
                    Err(e) => return Err(template_error(first.unwrap_or(e))),
                }
            }
        };
        let grown = Arc::new(grown);
        *lazy.engine.write().unwrap_or_else(|e| e.into_inner()) = grown.clone();
        *growths += 1;
        Ok(grown)
    }

    /// Renders `name` with `context` as it is (no context processors).
    pub fn render_plain(&self, name: &str, context: &Context) -> Result<String> {
        self.engine(name)?.render(name, context).map_err(template_error)
    }

    /// Whether a template called `name` exists.
    pub fn exists(&self, name: &str) -> bool {
        match &self.fixed {
            Some(lazy) => self.lazy(lazy).sources.contains_key(name),
            None => self.engine(name).map(|t| t.contains_template(name)).unwrap_or(false),
        }
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

    /// Every template's source by name (the first folder that has a name wins), borrowed where
    /// the file is embedded in the binary.
    fn static_sources(&self) -> HashMap<String, Cow<'static, str>> {
        let mut out: HashMap<String, Cow<'static, str>> = HashMap::new();
        for dir in &self.dirs {
            for name in dir.names() {
                if out.contains_key(name.as_ref()) {
                    continue;
                }
                if let Some(asset) = dir.get(&name) {
                    let text = match asset.data {
                        Cow::Borrowed(bytes) => String::from_utf8_lossy(bytes),
                        Cow::Owned(bytes) => Cow::Owned(String::from_utf8_lossy(&bytes).into_owned()),
                    };
                    out.insert(name.into_owned(), text);
                }
            }
        }
        out
    }

    /// An engine with the functions and globals and no template yet.
    fn engine(&self) -> tera::Tera {
        let mut tera = tera::Tera::new();
        functions::register(&mut tera, self.resolver.clone(), self.statics.clone());
        for (name, f) in &self.functions {
            let f = f.clone();
            tera.register_function(name.clone(), move |kwargs: Kwargs, state: &State| f(kwargs, state));
        }
        tera.global_context().extend(self.globals.clone());
        tera
    }

    fn parse_sources(&self, sources: &[(String, String)]) -> Result<tera::Tera, tera::Error> {
        let mut tera = self.engine();
        tera.add_raw_templates(sources.iter().map(|(n, s)| (n.as_str(), s.as_str())))?;
        Ok(tera)
    }

    fn parse(&self) -> Result<tera::Tera, tera::Error> {
        self.parse_sources(&self.sources())
    }
}

/// `name` and every template it extends, includes or imports, transitively, as far as a scan
/// of the sources for `{% extends "…" %}`, `{% include "…" %}` and `{% import "…" %}` sees.
fn needed<'a>(sources: &'a HashMap<String, Cow<'static, str>>, name: &str) -> Vec<&'a str> {
    let mut found: Vec<&'a str> = Vec::new();
    let mut todo: Vec<&str> = vec![name];
    while let Some(next) = todo.pop() {
        let Some((key, source)) = sources.get_key_value(next) else { continue };
        if found.contains(&key.as_str()) {
            continue;
        }
        found.push(key.as_str());
        todo.extend(referenced(source));
    }
    found
}

/// The template names in the `extends`, `include` and `import` tags of `source`.
fn referenced(source: &str) -> impl Iterator<Item = &str> {
    source.split("{%").skip(1).filter_map(|tag| {
        let tag = tag.trim_start_matches('-').trim_start();
        let rest = ["extends", "include", "import"].iter().find_map(|kw| tag.strip_prefix(kw))?;
        let rest = rest.trim_start();
        let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'')?;
        let rest = &rest[1..];
        rest.find(quote).map(|end| &rest[..end])
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Release-build templates (parsed on demand) from `test_templates/`.
    fn lazy_templates() -> Templates {
        let resolver = Arc::new(Resolver::build(Vec::new(), &crate::urls::Converters::default()).unwrap());
        let statics = Arc::new(StaticFiles::new(Vec::new(), "/static/", false));
        let dirs = vec![crate::assets!("src/templates/test_templates")];
        Templates::new(Context::new(), dirs, resolver, statics, Vec::new(), false)
    }

    fn parsed(t: &Templates) -> Vec<String> {
        let Some(lazy) = t.fixed.as_ref().unwrap().get() else { return Vec::new() };
        let engine = lazy.engine.read().unwrap();
        let mut names: Vec<String> = engine.get_template_names().map(str::to_owned).collect();
        names.sort();
        names
    }

    #[test]
    fn the_tags_that_name_other_templates_are_found() {
        let source = r#"{%- extends 'a.html' -%}{% include "b.html" %}{%import "m.html" as m %}{% if x %}{{ y }}"#;
        assert_eq!(referenced(source).collect::<Vec<_>>(), ["a.html", "b.html", "m.html"]);
        assert_eq!(referenced("{% include var %}{% block x %}").count(), 0);
    }

    #[test]
    fn a_release_build_parses_a_template_and_what_it_needs_on_first_render() {
        let t = lazy_templates();
        assert!(parsed(&t).is_empty(), "nothing is parsed before the first render");
        let mut ctx = Context::new();
        ctx.insert("n", &7);
        assert_eq!(t.render_plain("lazy/page.html", &ctx).unwrap(), "<html>page 7 [partial 7]</html>\n");
        assert_eq!(parsed(&t), ["lazy/base.html", "lazy/page.html", "lazy/partial.html"]);
        // A template not needed yet is known without being parsed.
        assert!(t.exists("lazy/other.html"));
        assert_eq!(t.render_plain("lazy/other.html", &ctx).unwrap(), "other 7");
        assert!(parsed(&t).contains(&"lazy/other.html".to_owned()));
        assert!(!parsed(&t).contains(&"lazy/broken.html".to_owned()));
    }

    #[test]
    fn unknown_and_broken_templates_are_errors_not_panics() {
        let t = lazy_templates();
        let ctx = Context::new();
        assert!(t.render_plain("lazy/nope.html", &ctx).is_err());
        assert!(!t.exists("lazy/nope.html"));
        let err = t.render_plain("lazy/broken.html", &ctx).unwrap_err();
        assert!(err.to_string().contains("lazy/missing.html"), "{err}");
        // The engine still renders the others, however often it has grown.
        let mut ctx = Context::new();
        ctx.insert("n", &1);
        for name in ["lazy/partial.html", "lazy/other.html", "lazy/base.html", "lazy/page.html"] {
            assert!(t.render_plain(name, &ctx).is_ok(), "{name}");
            assert!(t.render_plain("lazy/broken.html", &ctx).is_err());
        }
        // Past its growths the engine takes every template left, and one that does not parse
        // is left out rather than failing the page asked for.
        assert_eq!(*t.fixed.as_ref().unwrap().get().unwrap().growths.lock().unwrap(), Lazy::GROWTHS);
        assert_eq!(t.render_plain("lazy/extra.html", &ctx).unwrap(), "extra 1");
    }
}
