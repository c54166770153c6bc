//! Which view answers which method on one route, and the route's metadata.

use http::Method;

use super::view::{BoxedView, Handler, boxed};

/// Which view answers which HTTP method on one route. A bare view function given to
/// [`UrlConf::path`](super::UrlConf::path) takes every method, as a Django function view does; build one of these with
/// [`get`], [`post`] and friends to restrict it, so other methods get 405 with an `Allow` header.
///
/// ```
/// use djambda::prelude::*;
/// use djambda::routing::get;
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
    pub(crate) meta: http::Extensions,
    /// Every [`wrap`](MethodRouter::wrap) so far, innermost first: a view added later gets
    /// them too, so `get(v).login_required().post(w)` guards the POST as well.
    wrappers: Vec<Wrapper>,
}

/// What [`MethodRouter::wrap`] keeps: turns a view into the view wrapped.
type Wrapper = std::sync::Arc<dyn Fn(BoxedView) -> BoxedView + Send + Sync>;

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
                    let view = self.wrapped(boxed(handler));
                    self.by_method.push((Method::$method, view));
                    self
                }
            )*
        }
    };
}
method_fns!(get => GET, post => POST, put => PUT, patch => PATCH, delete => DELETE, options => OPTIONS);

/// A route answering every method with `handler`.
pub fn any<H: Handler<T>, T>(handler: H) -> MethodRouter {
    MethodRouter { any: Some(boxed(handler)), ..MethodRouter::default() }
}

impl MethodRouter {
    /// Attaches `value` to the route for the middleware that runs before its view: the
    /// resolver's match carries it ([`Request::route_meta`](crate::Request::route_meta)). An app
    /// defines its own types, so nothing else can read or forge them: CSRF's
    /// [`csrf_exempt`](crate::csrf::csrf_exempt) and auth's
    /// [`login_not_required`](crate::auth::login_not_required) are made this way. A second
    /// value of the same type replaces the first.
    ///
    /// ```
    /// use djambda::prelude::*;
    /// use djambda::routing::get;
    ///
    /// #[derive(Clone)]
    /// struct CacheFor(u32);
    ///
    /// async fn report(req: Request) -> Result<Response> {
    ///     let secs = req.route_meta::<CacheFor>().map_or(0, |c| c.0);
    ///     Ok(Response::text(format!("cached {secs}s")))
    /// }
    /// let urls = UrlConf::new().path("report/", get(report).with_meta(CacheFor(60)), "report");
    /// # let _ = urls;
    /// ```
    pub fn with_meta<T: Clone + Send + Sync + 'static>(mut self, value: T) -> Self {
        self.meta.insert(value);
        self
    }

    /// The route's metadata of type `T`, if it has one.
    pub fn meta<T: Send + Sync + 'static>(&self) -> Option<&T> {
        self.meta.get::<T>()
    }

    /// Wraps every view of the route, those added afterwards included: the wrapper gets the
    /// request and the view to call (how `login_required` and `permission_required` apply to a
    /// whole route, so a method added after the guard is guarded too).
    ///
    /// ```
    /// use djambda::prelude::*;
    /// use djambda::routing::get;
    ///
    /// async fn page(_r: Request) -> Result<Response> { Ok(Response::text("page")) }
    /// async fn save(_r: Request) -> Result<Response> { Ok(Response::text("saved")) }
    ///
    /// let route = get(page)
    ///     .wrap(|req: Request, view| async move {
    ///         if req.header("x-api-key") == Some("k") { view(req).await } else { Err(Error::permission_denied("no key")) }
    ///     })
    ///     .post(save); // behind the key as well
    /// # let _ = route;
    /// ```
    pub fn wrap<F, Fut>(mut self, wrapper: F) -> Self
    where
        F: Fn(crate::request::Request, BoxedView) -> Fut + Clone + Send + Sync + 'static,
        Fut: std::future::Future<Output = crate::error::Result<crate::http::Response>> + Send + 'static,
    {
        let wrap_one: Wrapper = std::sync::Arc::new(move |view: BoxedView| -> BoxedView {
            let wrapper = wrapper.clone();
            std::sync::Arc::new(move |req| Box::pin(wrapper(req, view.clone())))
        });
        self.by_method = self.by_method.into_iter().map(|(m, v)| (m, wrap_one(v))).collect();
        self.any = self.any.map(|v| wrap_one(v));
        self.wrappers.push(wrap_one);
        self
    }

    /// `view` inside every wrapper so far, in the order they were given.
    fn wrapped(&self, view: BoxedView) -> BoxedView {
        self.wrappers.iter().fold(view, |view, wrap| wrap(view))
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

    /// The methods this route takes, HEAD included wherever GET is; empty when it takes every
    /// method.
    pub fn allowed(&self) -> Vec<Method> {
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
