//! Django's `django.shortcuts`: `render` and `redirect`, and the context processors that
//! `render` runs.

use std::sync::Arc;

use http::StatusCode;

use crate::error::{Error, ErrorKind, Result};
use crate::http::Response;
use crate::request::Request;
use crate::templates::Context;
use crate::urls::UrlArg;

/// Adds values to every template's context from the request (Django's context processors):
/// an app registers one with [`App::context_processor`](crate::App::context_processor), a
/// site with [`SiteBuilder::context_processor`](crate::SiteBuilder::context_processor). Any
/// `Fn(&Request, &mut Context)` is one.
pub trait ContextProcessor: Send + Sync + 'static {
    /// Adds this processor's values for `req`.
    fn process(&self, req: &Request, ctx: &mut Context);

    /// Called with what was rendered: CSRF sets its cookie only for a page that carries the
    /// token, say. Does nothing unless overridden.
    fn rendered(&self, _req: &Request, _ctx: &Context, _html: &str) {}
}

impl<F: Fn(&Request, &mut Context) + Send + Sync + 'static> ContextProcessor for F {
    fn process(&self, req: &Request, ctx: &mut Context) {
        self(req, ctx)
    }
}

/// The processors of the installed apps and the site, in that order, kept in the site's state.
#[derive(Default)]
pub(crate) struct ContextProcessors(pub(crate) Vec<Arc<dyn ContextProcessor>>);

/// The values every page gets whatever is installed: `request` (path, method, GET, script
/// name, route name) and the script prefix that `url()` and `static()` add. Settings-derived
/// values that never change (`debug`, `STATIC_URL`, and the site's own
/// [`SiteBuilder::template_global`](crate::SiteBuilder::template_global)s) are in the engine's
/// global context, set once.
fn request_values(req: &Request, ctx: &mut Context) {
    #[derive(serde::Serialize)]
    struct RequestInfo<'a> {
        method: &'a str,
        path: std::borrow::Cow<'a, str>,
        path_info: &'a str,
        full_path: std::borrow::Cow<'a, str>,
        script_name: &'a str,
        route_name: Option<&'a str>,
        #[serde(rename = "GET")]
        get: &'a crate::http::QueryDict,
    }
    ctx.insert(
        "request",
        &RequestInfo {
            method: req.method().as_str(),
            path: req.path(),
            path_info: req.path_info(),
            full_path: req.full_path(),
            script_name: req.script_name(),
            route_name: req.route_name(),
            get: req.query(),
        },
    );
    ctx.insert(crate::templates::SCRIPT_NAME_VAR, req.script_name());
}

/// Renders a template with `context` plus the context processors' values into an HTML response.
///
/// ```ignore
/// pub async fn contact_detail(req: Request, Path(pk): Path<i32>) -> Result<Response> {
///     let contact = find_contact(pk)?;
///     render(&req, "crm/contact_detail.html", context! { contact })
/// }
/// ```
pub fn render(req: &Request, template: &str, context: Context) -> Result<Response> {
    Ok(Response::html(render_to_string(req, template, context)?))
}

/// Renders a template to a string with the context processors' values.
pub fn render_to_string(req: &Request, template: &str, context: Context) -> Result<String> {
    let mut ctx = Context::new();
    request_values(req, &mut ctx);
    let processors = req.state::<ContextProcessors>().map(|p| p.0.as_slice()).unwrap_or(&[]);
    for p in processors {
        p.process(req, &mut ctx);
    }
    ctx.extend(context);
    let html = req.site().templates().render_plain(template, &ctx)?;
    for p in processors {
        p.rendered(req, &ctx, &html);
    }
    Ok(html)
}

/// Redirects (302) to a route name (`"crm:contact-list"`) or, when `to` contains a `/`, to that
/// URL as given. An unknown route name is an error, not a broken redirect.
pub fn redirect(req: &Request, to: &str) -> Result<Response> {
    if to.contains('/') {
        return Ok(Response::redirect(to));
    }
    Ok(Response::redirect(&req.reverse(to, &[])?))
}

/// Redirects (302) to a route name with arguments: `redirect_to(&req, "crm:contact-detail", &[&pk])`.
pub fn redirect_to(req: &Request, name: &str, args: &[&dyn UrlArg]) -> Result<Response> {
    Ok(Response::redirect(&req.reverse(name, args)?))
}

/// Django's `get_list_or_404` for any list: 404 when it is empty.
pub fn get_list_or_404<T>(items: Vec<T>, what: &str) -> Result<Vec<T>> {
    if items.is_empty() { Err(Error::not_found(format!("no {what} found"))) } else { Ok(items) }
}

/// Django's `get_object_or_404` for an `Option`: 404 when it is `None`.
pub fn get_or_404<T>(item: Option<T>, what: &str) -> Result<T> {
    item.ok_or_else(|| Error::new(ErrorKind::NotFound, format!("no {what} matches the given query")))
}

/// 204 No Content, for views that answer with nothing.
pub fn no_content() -> Response {
    Response::empty(StatusCode::NO_CONTENT)
}
