//! The developer error pages shown with DEBUG on (Django's `django.views.debug`). They are built
//! without the site's templates, so a broken template cannot hide its own error.

use std::fmt::Write;

use crate::error::Error;
use crate::http::Response;
use crate::middleware::CspNonce;
use crate::request::Request;
use crate::templates;

/// HTML-escapes text for the page.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            _ => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font:14px/1.5 system-ui,sans-serif;margin:0;color:#222}header{background:#ffc;padding:16px 24px;border-bottom:1px solid #ddd}\
header.nf{background:#eef4ff}h1{margin:0 0 4px;font-size:22px}h2{font-size:16px;margin:24px 0 8px}main{padding:0 24px 24px}\
pre{background:#f6f6f6;padding:12px;overflow:auto;border-radius:4px}table{border-collapse:collapse}td,th{text-align:left;padding:2px 12px 2px 0;vertical-align:top;font-family:monospace}\
.loc{background:#fee;border:1px solid #f99;padding:8px 12px;border-radius:4px}ol li{font-family:monospace}.muted{color:#666}";

fn page(req: &Request, class: &str, title: &str, summary: &str, body: &str) -> String {
    // Under a Content-Security-Policy the style needs the response's nonce to apply.
    let nonce = req.local::<CspNonce>().map(|n| format!(" nonce=\"{}\"", esc(&n.0))).unwrap_or_default();
    format!(
        "<!doctype html><html lang=en><head><meta charset=utf-8><meta name=robots content=noindex><title>{t}</title><style{nonce}>{STYLE}</style></head>\
         <body><header class={class}><h1>{t}</h1><div>{summary}</div></header><main>{body}\
         <p class=muted>You're seeing this error because you have <code>DEBUG = true</code> in your settings. Change that to false, and djambda will display a standard page.</p></main></body></html>",
        t = esc(title),
    )
}

fn request_table(req: &Request) -> String {
    let mut out = String::from("<h2>Request</h2><table>");
    let _ = write!(out, "<tr><th>Method</th><td>{}</td></tr>", esc(req.method().as_str()));
    let _ = write!(out, "<tr><th>Path</th><td>{}</td></tr>", esc(&req.full_path()));
    if !req.script_name().is_empty() {
        let _ = write!(out, "<tr><th>Script name</th><td>{}</td></tr>", esc(req.script_name()));
    }
    if let Some(name) = req.route_name() {
        let _ = write!(out, "<tr><th>Route</th><td>{}</td></tr>", esc(name));
    }
    for (k, v) in req.params() {
        let _ = write!(out, "<tr><th>Path parameter</th><td>{} = {}</td></tr>", esc(k), esc(v));
    }
    if let Some(addr) = req.client_addr() {
        let _ = write!(out, "<tr><th>Client</th><td>{addr}</td></tr>");
    }
    out.push_str("</table>");
    if !req.query().is_empty() {
        out.push_str("<h2>GET</h2><table>");
        for (k, v) in req.query().iter() {
            let _ = write!(out, "<tr><th>{}</th><td>{}</td></tr>", esc(k), esc(v));
        }
        out.push_str("</table>");
    }
    out.push_str("<h2>Headers</h2><table>");
    for (k, v) in req.headers() {
        let shown = if k == http::header::COOKIE || k == http::header::AUTHORIZATION {
            "********".into()
        } else {
            String::from_utf8_lossy(v.as_bytes()).into_owned()
        };
        let _ = write!(out, "<tr><th>{}</th><td>{}</td></tr>", esc(k.as_str()), esc(&shown));
    }
    out.push_str("</table>");
    out
}

/// The developer error page (500, and 4xx other than 404): the error chain, the template and
/// line for template errors, and the request.
pub(crate) fn technical_500(req: &Request, err: &Error) -> Response {
    let mut body = String::new();
    if let Some(tera_err) = err.find_source::<tera::Error>() {
        if let Some(loc) = templates::location(tera_err) {
            let _ = write!(
                body,
                "<h2>Template error</h2><div class=loc>In template <strong>{}</strong>, line <strong>{}</strong>: {}</div>",
                esc(&loc.name),
                loc.line,
                esc(&loc.message)
            );
        }
        let _ = write!(body, "<pre>{}</pre>", esc(&tera_err.to_string()));
    }
    body.push_str("<h2>Error chain</h2><ol>");
    for (i, msg) in err.chain().iter().enumerate() {
        let label = if i == 0 { "" } else { "caused by: " };
        let _ = write!(body, "<li>{label}{}</li>", esc(msg));
    }
    body.push_str("</ol>");
    body.push_str(&request_table(req));
    let reason = err.status().canonical_reason().unwrap_or("Error");
    let title = format!("{reason} at {}", req.path());
    Response::html(page(req, "", &title, &esc(err.message()), &body))
}

/// The developer 404 page: what was asked, and the patterns tried in order.
pub(crate) fn technical_404(req: &Request, err: &Error) -> Response {
    let mut body = String::new();
    if req.route_name().is_some() {
        let _ = write!(
            body,
            "<p>Raised by the view of <code>{}</code>: {}</p>",
            esc(req.route_name().unwrap_or("")),
            esc(err.message())
        );
    } else {
        body.push_str("<p>djambda tried these URL patterns, in this order:</p><ol>");
        for (pattern, name) in req.site().resolver().patterns() {
            let named = name.map(|n| format!(" <span class=muted>[name='{}']</span>", esc(n))).unwrap_or_default();
            let _ = write!(body, "<li>{}{named}</li>", esc(pattern));
        }
        let _ = write!(
            body,
            "</ol><p>The current path, <code>{}</code>, didn't match any of these.</p>",
            esc(req.path_info())
        );
        let _ = write!(
            body,
            "<p class=muted>Static files are served under <code>{}</code>.</p>",
            esc(&req.settings().static_url)
        );
    }
    body.push_str(&request_table(req));
    Response::html(page(req, "nf", "Page not found (404)", &esc(err.message()), &body))
}
