//! The URL conf builder (Django's `urlpatterns`, `path()` and `include()`), and flattening
//! it into the resolver's routes and the handler's views.

use super::method::{IntoRoute, MethodRouter};
use crate::urls::RouteSpec;

pub(crate) enum Entry {
    Route { pattern: String, view: MethodRouter, name: Option<String> },
    Include { prefix: String, conf: UrlConf },
}

/// A list of URL patterns, Django's `urlpatterns`, optionally with an app namespace.
///
/// ```
/// use djambda::prelude::*;
///
/// async fn dashboard(_r: Request) -> Result<Response> { Ok(Response::text("hi")) }
///
/// fn crm_urls() -> UrlConf {
///     UrlConf::app("crm").path("", dashboard, "dashboard")
/// }
/// let root = UrlConf::new().include("crm/", crm_urls());
/// // `crm:dashboard` now reverses to `/crm/`.
/// # let _ = root;
/// ```
#[derive(Default)]
pub struct UrlConf {
    pub(crate) app_name: Option<String>,
    pub(crate) entries: Vec<Entry>,
}

impl UrlConf {
    /// An empty URL conf without a namespace (a project's root URL conf).
    pub fn new() -> Self {
        Self::default()
    }

    /// An app's URL conf: its route names are reached as `app_name:route` (Django's `app_name`).
    pub fn app(app_name: &str) -> Self {
        UrlConf { app_name: Some(app_name.to_owned()), entries: Vec::new() }
    }

    /// Adds a named route. `pattern` is relative, like Django's (`"contacts/<int:pk>/"`, `""` for
    /// the prefix itself); `view` is an async view function or a [`MethodRouter`].
    pub fn path<M>(mut self, pattern: &str, view: impl IntoRoute<M>, name: &str) -> Self {
        self.entries.push(Entry::Route {
            pattern: pattern.to_owned(),
            view: view.into_route(),
            name: Some(name.to_owned()),
        });
        self
    }

    /// Adds a route without a name (it cannot be reversed).
    pub fn unnamed<M>(mut self, pattern: &str, view: impl IntoRoute<M>) -> Self {
        self.entries.push(Entry::Route { pattern: pattern.to_owned(), view: view.into_route(), name: None });
        self
    }

    /// Mounts another URL conf under `prefix` (Django's `include()`); its app name, if any,
    /// becomes a namespace for its route names.
    pub fn include(mut self, prefix: &str, conf: UrlConf) -> Self {
        self.entries.push(Entry::Include { prefix: prefix.to_owned(), conf });
        self
    }
}

/// A URL conf flattened in order: the resolver's routes and, at the same indexes, their views.
pub(crate) struct Flattened {
    pub(crate) routes: Vec<RouteSpec>,
    pub(crate) views: Vec<MethodRouter>,
}

impl UrlConf {
    /// Flattens the conf under `prefix` (`/` for the root), joining patterns and namespaces.
    pub(crate) fn flatten_into(self, prefix: &str, namespace: Option<&str>, out: &mut Flattened) {
        let ns = match (namespace, self.app_name.as_deref()) {
            (Some(outer), Some(app)) => Some(format!("{outer}:{app}")),
            (None, Some(app)) => Some(app.to_owned()),
            (outer, None) => outer.map(str::to_owned),
        };
        for entry in self.entries {
            match entry {
                Entry::Route { pattern, mut view, name } => {
                    let full = format!("{prefix}{}", pattern.trim_start_matches('/'));
                    let name = name.map(|n| match &ns {
                        Some(ns) => format!("{ns}:{n}"),
                        None => n,
                    });
                    let meta = std::mem::take(&mut view.meta);
                    let methods = view.allowed();
                    out.routes.push(RouteSpec { pattern: full, name, meta, methods });
                    out.views.push(view);
                }
                Entry::Include { prefix: sub, conf } => {
                    let joined = format!("{prefix}{}", sub.trim_start_matches('/'));
                    conf.flatten_into(&joined, ns.as_deref(), out);
                }
            }
        }
    }
}
