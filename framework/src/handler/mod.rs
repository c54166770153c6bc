//! The handler (Django's `BaseHandler`): the middleware chain, built once when the site is
//! built, around the view the URL resolver picked; what every request goes through.
//!
//! For each request it resolves the path once, before any middleware runs, and keeps the
//! match on the request (Django's `resolver_match`); middleware then reads the route and its
//! metadata without resolving again. Errors from a middleware or a view, and panics, become
//! responses in [`ErrorPages`], rendered from the request's head.

pub(crate) mod debug;
mod errors;

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::FutureExt;
use http::{Method, StatusCode};

pub(crate) use errors::ErrorPages;
use errors::panic_error;

use crate::error::{Error, ErrorKind, Result};
use crate::http::Response;
use crate::middleware::{Endpoint, Middleware, Next};
use crate::request::{Request, Resolution};
use crate::routing::{BoxFuture, MethodRouter};
use crate::site::Site;

/// The chain of middleware around the view dispatcher.
pub(crate) struct Handler {
    chain: Arc<dyn Endpoint>,
}

impl Handler {
    /// Builds the chain once: `middleware` outermost first, around the views of the routes,
    /// kept by route index.
    pub(crate) fn new(middleware: Vec<Arc<dyn Middleware>>, views: Vec<MethodRouter>) -> Self {
        let mut chain: Arc<dyn Endpoint> = Arc::new(Dispatch { views });
        for middleware in middleware.into_iter().rev() {
            chain = Arc::new(Layer { middleware, next: chain });
        }
        Handler { chain }
    }

    /// Answers one request for `site`.
    pub(crate) async fn handle(&self, site: Site, req: http::Request<Bytes>) -> http::Response<Bytes> {
        let is_head = req.method() == Method::HEAD;
        let resolution = resolve(&site, req.uri().path());
        let request = Request::new(req, site, resolution);
        let head = request.head();
        let run = Next::new(self.chain.clone(), ErrorPages::response).run(request);
        let resp = match AssertUnwindSafe(run).catch_unwind().await {
            Ok(resp) => resp,
            Err(panic) => ErrorPages::response(head, &panic_error(panic)),
        };
        let mut resp = resp.into_http();
        if is_head {
            *resp.body_mut() = Bytes::new();
            resp.extensions_mut().remove::<crate::http::StreamingBody>();
        }
        resp
    }
}

/// What the request for `path` goes to: a static file, a route, an APPEND_SLASH redirect, or
/// nothing.
fn resolve(site: &Site, path: &str) -> Resolution {
    if site.static_files().match_path(path).is_some() {
        return Resolution::Static;
    }
    let decoded = percent_encoding::percent_decode_str(path).decode_utf8_lossy();
    if let Some(found) = site.resolver().resolve(&decoded) {
        return Resolution::Route(found);
    }
    // Django's CommonMiddleware: `/contacts` → `/contacts/` when only the latter exists.
    if site.settings().append_slash
        && !decoded.ends_with('/')
        && site.resolver().resolve(&format!("{decoded}/")).is_some()
    {
        return Resolution::AppendSlash;
    }
    Resolution::NotFound
}

/// One middleware, with the rest of the chain after it.
struct Layer {
    middleware: Arc<dyn Middleware>,
    next: Arc<dyn Endpoint>,
}

impl Endpoint for Layer {
    fn call(&self, req: Request) -> BoxFuture<Result<Response>> {
        self.middleware.call(req, Next::new(self.next.clone(), ErrorPages::response))
    }
}

/// The innermost step: the static file, the redirect, or the route's view for the method.
struct Dispatch {
    views: Vec<MethodRouter>,
}

impl Endpoint for Dispatch {
    fn call(&self, req: Request) -> BoxFuture<Result<Response>> {
        let view = match req.resolution() {
            Resolution::Route(found) => {
                let route = found.route();
                let Some(views) = self.views.get(route.index()) else {
                    let err = Error::internal(format!("no views for the route `{}`", route.pattern()));
                    return Box::pin(async move { Err(err) });
                };
                match views.view_for(req.method()) {
                    Ok(view) => view.clone(),
                    Err(allowed) => {
                        let err = Error::new(
                            ErrorKind::MethodNotAllowed(allowed),
                            format!("`{}` does not take {}", req.path_info(), req.method()),
                        );
                        return Box::pin(async move { Err(err) });
                    }
                }
            }
            Resolution::Static => {
                let served = serve_static(&req);
                return Box::pin(async move { served });
            }
            Resolution::AppendSlash => {
                let resp = append_slash(&req);
                return Box::pin(async move { Ok(resp) });
            }
            Resolution::NotFound => {
                let decoded = percent_encoding::percent_decode_str(req.path_info()).decode_utf8_lossy().into_owned();
                return Box::pin(async move { Err(Error::not_found(format!("no URL pattern matches `{decoded}`"))) });
            }
        };
        Box::pin(async move {
            match AssertUnwindSafe(view(req)).catch_unwind().await {
                Ok(result) => result,
                Err(panic) => Err(panic_error(panic)),
            }
        })
    }
}

fn serve_static(req: &Request) -> Result<Response> {
    let statics = req.site().static_files();
    match statics.match_path(req.path_info()) {
        Some(rel) => statics.serve(req.method(), req.headers(), rel),
        None => Err(Error::not_found("no static file")),
    }
}

/// The redirect to the path with a slash: 301 as Django sends, 308 for other methods than
/// GET and HEAD so their body is not dropped.
fn append_slash(req: &Request) -> Response {
    let mut location = format!("{}/", req.path());
    if !req.query_string().is_empty() {
        location = format!("{location}?{}", req.query_string());
    }
    let status = if req.method() == Method::GET || req.method() == Method::HEAD {
        StatusCode::MOVED_PERMANENTLY
    } else {
        StatusCode::PERMANENT_REDIRECT
    };
    Response::redirect_with(status, &location)
}

#[cfg(test)]
mod tests;
