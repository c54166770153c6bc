//! The site's error pages (Django's `django.views.defaults` and `response_for_exception`): the
//! one place an error becomes a response.

use http::{StatusCode, header};

use super::debug;
use crate::error::{Error, ErrorKind};
use crate::http::Response;
use crate::request::{Request, RequestHead};
use crate::shortcuts::render_to_string;
use crate::templates::Context;

/// The error pages: the site's `400.html`, `403.html`, `404.html` and `500.html` (or the
/// framework's), a page an error names for itself (CSRF's `403_csrf.html`), and with DEBUG
/// the developer pages. They render from the head of the request that failed, so they show
/// who is logged in and the messages, like any page of the site.
pub(crate) struct ErrorPages;

/// The log line of a server error, as Django's `log_response` writes it: the status's reason
/// (a 503 is "Service Unavailable", not an internal error), the path, then each cause.
pub(crate) fn log_line(status: StatusCode, path: &str, chain: &[String]) -> String {
    format!("{}: {path}\n  {}", status.canonical_reason().unwrap_or("Server Error"), chain.join("\n  caused by: "))
}

/// The Retry-After of a 503: long enough for a held lock or a restarting server to clear.
const RETRY_AFTER_SECONDS: &str = "5";

impl ErrorPages {
    /// The response for `err`, raised while answering the request `head` describes.
    pub(crate) fn response(head: RequestHead, err: &Error) -> Response {
        let req = head.into_request();
        let status = err.status();
        if status.is_server_error() {
            eprintln!("{}", log_line(status, &req.path(), &err.chain()));
        }
        let debug = req.settings().debug;
        // With DEBUG on every error but 404 and 405 gets the developer page (Django shows its
        // technical page for a refused Host too); 404 gets the list of patterns tried.
        let mut resp = if let Some((template, extra)) = err.page() {
            Self::page(&req, err, template, extra.clone())
        } else if debug && status == StatusCode::NOT_FOUND {
            debug::technical_404(&req, err)
        } else if debug && status != StatusCode::METHOD_NOT_ALLOWED {
            debug::technical_500(&req, err)
        } else {
            let own = format!("{}.html", status.as_u16());
            let template = if req.site().templates().exists(&own) { own.as_str() } else { "djambda/error.html" };
            Self::page(&req, err, template, Context::new())
        };
        resp.set_status(status);
        if status == StatusCode::SERVICE_UNAVAILABLE {
            // A busy or unreachable database: nothing was done, and the same request can be
            // sent again shortly.
            resp.set_header(header::RETRY_AFTER, RETRY_AFTER_SECONDS);
        }
        if let ErrorKind::MethodNotAllowed(allowed) = err.kind() {
            let list: Vec<&str> = allowed.iter().map(|m| m.as_str()).collect();
            resp.set_header(header::ALLOW, &list.join(", "));
        }
        resp
    }

    /// `template` with the values every error page gets: the status, its reason, and for a
    /// 4xx the error's message as `exception` (as Django passes it; a 500 shows nothing
    /// internal). A page that cannot be rendered falls back to a plain one.
    fn page(req: &Request, err: &Error, template: &str, mut ctx: Context) -> Response {
        let status = err.status();
        let reason = status.canonical_reason().unwrap_or("Error");
        ctx.insert("status", &status.as_u16());
        ctx.insert("reason", reason);
        if status.is_client_error() {
            ctx.insert("exception", err.message());
        }
        match render_to_string(req, template, ctx) {
            Ok(html) => Response::html(html),
            Err(render_err) => {
                eprintln!("could not render the error page `{template}`: {render_err}");
                let code = status.as_u16();
                Response::html(format!("<!doctype html><title>{code} {reason}</title><h1>{code} {reason}</h1>"))
            }
        }
    }
}

/// A panic as an error: a 500 whose message says what the panic said.
pub(crate) fn panic_error(panic: Box<dyn std::any::Any + Send>) -> Error {
    let msg = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into());
    Error::internal(format!("the view panicked: {msg}"))
}
