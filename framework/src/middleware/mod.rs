//! Middleware (Django's `django.middleware`): an ordered chain around every view. Each one gets
//! the request and a [`Next`] for the rest of the chain; it may answer by itself
//! (short-circuit), change the request before passing it on, or change the response after.
//!
//! The first middleware in the list is the outermost, as in Django's `MIDDLEWARE`. An error a
//! middleware returns becomes the site's error page right there, so the middleware outside it
//! (logging, say) still sees a response with a status.

mod builtin;
pub mod csrf;
mod gzip;

pub use builtin::{AllowedHosts, BodySizeLimit, CommonMiddleware, RequestLog, SecurityMiddleware};
pub use csrf::CsrfViewMiddleware;
pub use gzip::Compression;

use std::future::Future;
use std::sync::Arc;

use crate::error::Result;
use crate::http::{Request, Response};
use crate::site::{ErrorSnapshot, Site};
use crate::views::BoxFuture;

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

/// The rest of the middleware chain, ending in the view.
pub struct Next {
    pub(crate) site: Site,
    pub(crate) index: usize,
    /// What an error page needs to know of the request, taken once when it arrived.
    pub(crate) snapshot: Arc<ErrorSnapshot>,
}

impl Next {
    /// Runs the rest of the chain and the view; errors have become error pages by then.
    pub async fn run(self, req: Request) -> Response {
        let Next { site, index, snapshot } = self;
        let result = match site.middleware().get(index).cloned() {
            Some(mw) => mw.call(req, Next { site: site.clone(), index: index + 1, snapshot: snapshot.clone() }).await,
            None => return site.dispatch(req, &snapshot).await,
        };
        result.unwrap_or_else(|err| site.error_response(&snapshot, &err))
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
/// # let _ = timing;
/// ```
pub fn from_fn<F, Fut>(f: F) -> Arc<dyn Middleware>
where
    F: Fn(Request, Next) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Response>> + Send + 'static,
{
    Arc::new(FnMiddleware(f))
}
