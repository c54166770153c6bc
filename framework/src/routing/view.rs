//! How async view functions with extractor arguments become views.

use std::future::Future;
use std::sync::Arc;

use crate::error::Result;
use crate::http::Response;
use crate::request::Request;

/// A boxed, sendable future, as views and middleware return.
pub type BoxFuture<T> = futures_util::future::BoxFuture<'static, T>;

/// A view with its extractors erased, as the URL conf stores it (and as
/// [`MethodRouter::wrap`](crate::routing::MethodRouter::wrap) hands it to a wrapper).
pub type BoxedView = Arc<dyn Fn(Request) -> BoxFuture<Result<Response>> + Send + Sync>;

/// Something a view can take as an argument after the [`Request`], read from the request before
/// the view runs (path parameters, the query string, a form body…). A failure is returned as the
/// view's error, so a malformed query string becomes a 400 page without the view running.
pub trait FromRequest: Sized {
    /// Reads the value from the request.
    fn from_request(req: &Request) -> Result<Self>;
}

/// An async function usable as a view: `async fn(Request, A, B, …) -> Result<Response>` where
/// each extra argument implements [`FromRequest`]. You never implement this yourself.
///
/// ```
/// use djambda::prelude::*;
///
/// async fn contact_detail(req: Request, Path(pk): Path<i32>) -> Result<Response> {
///     Ok(Response::text(format!("contact {pk} at {}", req.path())))
/// }
///
/// let urls = UrlConf::new().path("contacts/<int:pk>/", contact_detail, "contact-detail");
/// # let _ = urls;
/// ```
pub trait Handler<T>: Clone + Send + Sync + 'static {
    /// Runs the view.
    fn call(&self, req: Request) -> BoxFuture<Result<Response>>;
}

macro_rules! impl_handler {
    ($(($ty:ident, $var:ident)),*) => {
        impl<F, Fut, $($ty,)*> Handler<($($ty,)*)> for F
        where
            F: Fn(Request, $($ty),*) -> Fut + Clone + Send + Sync + 'static,
            Fut: Future<Output = Result<Response>> + Send + 'static,
            $($ty: FromRequest + Send + 'static,)*
        {
            fn call(&self, req: Request) -> BoxFuture<Result<Response>> {
                $(
                    let $var = match $ty::from_request(&req) {
                        Ok(v) => v,
                        Err(e) => return Box::pin(async move { Err(e) }),
                    };
                )*
                Box::pin((self)(req, $($var),*))
            }
        }
    };
}

impl_handler!();
impl_handler!((A1, a1));
impl_handler!((A1, a1), (A2, a2));
impl_handler!((A1, a1), (A2, a2), (A3, a3));
impl_handler!((A1, a1), (A2, a2), (A3, a3), (A4, a4));
impl_handler!((A1, a1), (A2, a2), (A3, a3), (A4, a4), (A5, a5));

pub(crate) fn boxed<H: Handler<T>, T>(handler: H) -> BoxedView {
    Arc::new(move |req| handler.call(req))
}
