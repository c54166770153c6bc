//! The URL conf builder: `path()`, `include()`, app namespaces and per-method views.

use http::Method;

use crate::views::handler::{BoxedView, Handler, boxed};

/// Which view answers which HTTP method on one route. A bare view function given to
/// [`UrlConf::path`] takes every method, as a Django function view does; build one of these with
/// [`get`], [`post`] and friends to restrict it, so other methods get 405 with an `Allow` header.
///
/// ```
/// use djambda::prelude::*;
/// use djambda::urls::get;
///
/// async fn list(_r: Request) -> Result<Response> { Ok(Response::text("list")) }
/// async fn create(_r: Request) -> Result<Response> { Ok(Response::text("created")) }
///
/// let urls = UrlConf::new().path("contacts/", get(list).post(create), "contact-list");
/// # let _ = urls;
/// ```
#[derive(Clone, Default)]
pub struct MethodRouter {
    pub(crate) by_method: Vec<(Method, BoxedView)>,
    pub(crate) any: Option<BoxedView>,
    pub(crate) flags: RouteFlags,
}

/// What a route asks of the middleware that runs before it is resolved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RouteFlags {
    /// Skip the CSRF check (Django's `@csrf_exempt`).
    pub csrf_exempt: bool,
    /// Open to anonymous visitors under `LoginRequiredMiddleware` (Django's
    /// `@login_not_required`).
    pub login_not_required: bool,
}

macro_rules! method_fns {
    ($($name:ident => $method:ident),*) => {
        $(
            #[doc = concat!("A route answering `", stringify!($method), "` with `handler`.")]
            pub fn $name<H: Handler<T>, T>(handler: H) -> MethodRouter {
                MethodRouter::default().$name(handler)
            }
        )*
        impl MethodRouter {
            $(
                #[doc = concat!("Also answer `", stringify!($method), "` with `handler`.")]
                pub fn $name<H: Handler<T>, T>(mut self, handler: H) -> Self {
                    self.by_method.retain(|(m, _)| *m != Method::$method);
                    self.by_method.push((Method::$method, boxed(handler)));
                    self
                }
            )*
        }
    };
}
method_fns!(get => GET, post => POST, put => PUT, patch => PATCH, delete => DELETE, options => OPTIONS);

/// A route answering every method with `handler`.
pub fn any<H: Handler<T>, T>(handler: H) -> MethodRouter {
    MethodRouter { by_method: Vec::new(), any: Some(boxed(handler)), flags: RouteFlags::default() }
}

impl MethodRouter {
    /// Exempts the route from CSRF checks (see [`csrf_exempt`](crate::middleware::csrf::csrf_exempt)).
    pub fn csrf_exempt(mut self) -> Self {
        self.flags.csrf_exempt = true;
        self
    }

    /// Opens the route to anonymous visitors when the site requires login everywhere
    /// (see [`LoginRequiredMiddleware`](crate::auth::LoginRequiredMiddleware)).
    pub fn login_not_required(mut self) -> Self {
        self.flags.login_not_required = true;
        self
    }

    /// Wraps every view of the route: the wrapper gets the request and the view to call
    /// (how `login_required` and `permission_required` apply to a whole route).
    pub fn wrap<F, Fut>(mut self, wrapper: F) -> Self
    where
        F: Fn(crate::http::Request, BoxedView) -> Fut + Clone + Send + Sync + 'static,
        Fut: std::future::Future<Output = crate::error::Result<crate::http::Response>> + Send + 'static,
    {
        let wrap_one = |view: BoxedView| -> BoxedView {
            let wrapper = wrapper.clone();
            std::sync::Arc::new(move |req| Box::pin(wrapper(req, view.clone())))
        };
        self.by_method = self.by_method.into_iter().map(|(m, v)| (m, wrap_one(v))).collect();
        self.any = self.any.map(wrap_one);
        self
    }

    /// The view for `method`; HEAD falls back to GET. `Err` carries the methods allowed.
    pub(crate) fn view_for(&self, method: &Method) -> Result<&BoxedView, Vec<Method>> {
        if let Some((_, v)) = self.by_method.iter().find(|(m, _)| m == method) {
            return Ok(v);
        }
        if *method == Method::HEAD
            && let Some((_, v)) = self.by_method.iter().find(|(m, _)| *m == Method::GET)
        {
            return Ok(v);
        }
        if let Some(v) = &self.any {
            return Ok(v);
        }
        Err(self.allowed())
    }

    /// The methods this route takes, HEAD included wherever GET is.
    pub(crate) fn allowed(&self) -> Vec<Method> {
        let mut out: Vec<Method> = self.by_method.iter().map(|(m, _)| m.clone()).collect();
        if out.contains(&Method::GET) && !out.contains(&Method::HEAD) {
            out.insert(out.iter().position(|m| *m == Method::GET).unwrap_or(0) + 1, Method::HEAD);
        }
        out
    }
}

/// Converts what `UrlConf::path` accepts (a view function or a [`MethodRouter`]) into a route.
/// The type parameter only tells the two apart; you never name it.
pub trait IntoRoute<Marker> {
    /// The route's views by method.
    fn into_route(self) -> MethodRouter;
}

impl IntoRoute<()> for MethodRouter {
    fn into_route(self) -> MethodRouter {
        self
    }
}

#[doc(hidden)]
pub struct ViewMarker<T>(std::marker::PhantomData<T>);

impl<H: Handler<T>, T> IntoRoute<ViewMarker<T>> for H {
    fn into_route(self) -> MethodRouter {
        any(self)
    }
}

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
