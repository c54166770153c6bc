//! Django's `django.shortcuts`: `render` and `redirect`.

use http::StatusCode;

use crate::error::{Error, ErrorKind, Result};
use crate::http::{Request, Response};
use crate::templates::Context;
use crate::urls::UrlArg;

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
    crate::templates::builtin_processors(req, &mut ctx);
    for p in req.site().context_processors() {
        p(req, &mut ctx);
    }
    ctx.extend(context);
    let html = req.site().templates().render_plain(template, &ctx)?;
    crate::templates::after_render(req, &ctx, &html);
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

/// The page for an error when DEBUG is off: the site's `404.html` (and 400, 403, 500), or
/// the framework's generic page for other statuses. 4xx pages get the error's message as
/// `exception`, as Django passes it; 500 pages get nothing internal.
pub(crate) fn error_page(req: &Request, err: &Error) -> Response {
    let status = err.status();
    let reason = status.canonical_reason().unwrap_or("Error");
    let mut ctx = Context::new();
    ctx.insert("status", &status.as_u16());
    ctx.insert("reason", reason);
    if status.is_client_error() {
        ctx.insert("exception", err.message());
    }
    let own = format!("{}.html", status.as_u16());
    let name = if req.site().templates().exists(&own) { own } else { "djambda/error.html".to_owned() };
    match render_to_string(req, &name, ctx) {
        Ok(html) => Response::html(html).with_status(status),
        Err(render_err) => {
            eprintln!("could not render the error page `{name}`: {render_err}");
            let text = format!(
                "<!doctype html><title>{code} {reason}</title><h1>{code} {reason}</h1>",
                code = status.as_u16()
            );
            Response::html(text).with_status(status)
        }
    }
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
