//! Middleware (Django's `django.middleware`): an ordered chain around every view. Each one gets
//! the request and a [`Next`] for the rest of the chain; it may answer by itself
//! (short-circuit), change the request before passing it on, or change the response after.
//!
//! The site's list of middleware is Django's `MIDDLEWARE` ([`MiddlewareList`]): the first is
//! the outermost. The handler builds the chain from it once, when the site is built; [`Next`]
//! wraps only what comes after, never the site. An error a middleware returns becomes the
//! site's error page right there, so the middleware outside it (logging, say) still sees a
//! response with a status.

mod builtin;
mod gzip;
mod list;

pub(crate) use builtin::SecurityHeaders;
pub use builtin::{AllowedHosts, BodySizeLimit, CommonMiddleware, CspNonce, Probe, RequestLog, SecurityMiddleware};
pub use gzip::Compression;
pub use list::MiddlewareList;

use std::future::Future;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::http::Response;
use crate::request::{Request, RequestHead};
use crate::routing::BoxFuture;

/// One middleware of the chain.
///
/// ```
/// use djambda::prelude::*;
/// use djambda::middleware::{Middleware, Next};
/// use djambda::views::BoxFuture;
///
/// /// Adds `X-Robots-Tag: noindex` to every response.
/// struct NoIndex;
///
/// impl Middleware for NoIndex {
///     fn call(&self, req: Request, next: Next) -> BoxFuture<Result<Response>> {
///         Box::pin(async move {
///             let resp = next.run(req).await;
///             Ok(resp.with_header("x-robots-tag", "noindex"))
///         })
///     }
/// }
/// ```
pub trait Middleware: Send + Sync + 'static {
    /// Handles `req`, usually by calling `next.run(req)` and adjusting what comes back.
    fn call(&self, req: Request, next: Next) -> BoxFuture<Result<Response>>;
}

/// What a [`Next`] runs: the rest of the chain, built by the handler.
pub(crate) trait Endpoint: Send + Sync + 'static {
    fn call(&self, req: Request) -> BoxFuture<Result<Response>>;
}

/// How an error becomes a response: the handler's error pages, the one place that does it.
pub(crate) type ErrorResponse = fn(RequestHead, &Error) -> Response;

/// The rest of the middleware chain, ending in the view.
pub struct Next {
    inner: Arc<dyn Endpoint>,
    error_response: ErrorResponse,
}

impl Next {
    pub(crate) fn new(inner: Arc<dyn Endpoint>, error_response: ErrorResponse) -> Self {
        Next { inner, error_response }
    }

    /// Runs the rest of the chain and the view; errors have become error pages by then.
    pub async fn run(self, req: Request) -> Response {
        let head = req.head();
        match self.inner.call(req).await {
            Ok(resp) => resp,
            Err(err) => (self.error_response)(head, &err),
        }
    }
}

struct FnMiddleware<F>(F);

impl<F, Fut> Middleware for FnMiddleware<F>
where
    F: Fn(Request, Next) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Response>> + Send + 'static,
{
    fn call(&self, req: Request, next: Next) -> BoxFuture<Result<Response>> {
        Box::pin((self.0)(req, next))
    }
}

/// A middleware from an async function or closure.
///
/// ```
/// use djambda::prelude::*;
/// use djambda::middleware::{from_fn, Next};
///
/// let timing = from_fn(|req: Request, next: Next| async move {
///     let started = std::time::Instant::now();
///     let resp = next.run(req).await;
///     Ok(resp.with_header("server-timing", &format!("view;dur={}", started.elapsed().as_millis())))
/// });
/// # let _ = Site::builder().middleware(timing);
/// ```
pub fn from_fn<F, Fut>(f: F) -> impl Middleware
where
    F: Fn(Request, Next) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Response>> + Send + 'static,
{
    FnMiddleware(f)
}
