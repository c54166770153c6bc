//! The built-in middleware, in the order a site runs them.

use std::time::Instant;

use http::StatusCode;
use http::header::{self, HeaderValue};

use super::{Middleware, Next};
use crate::error::{Error, ErrorKind, Result};
use crate::http::{BodyTooLarge, Response};
use crate::request::Request;
use crate::routing::BoxFuture;

/// Logs one line per request to stderr: time, method, path, status, size and how long it took,
/// as runserver prints them, or, for a request that came through the Lambda door, as a JSON
/// object with the invocation's request id (structured logs CloudWatch can query).
pub struct RequestLog;

impl Middleware for RequestLog {
    fn call(&self, req: Request, next: Next) -> BoxFuture<Result<Response>> {
        Box::pin(async move {
            let started = Instant::now();
            // The head is shared, not copied: the line is written from it once the response is
            // there (method, path and the Lambda request id are read only then).
            let head = req.head().into_request();
            let resp = next.run(req).await;
            let line = log_line(&head, &resp, started.elapsed());
            // Formatted first, then written whole, so lines from concurrent requests never
            // interleave (and `eprint!` lets the test harness capture them).
            eprint!("{line}");
            Ok(resp)
        })
    }
}

/// One request's log line: runserver's human line, or through the Lambda door a JSON object
/// with the invocation's request id (structured logs CloudWatch Logs Insights reads as fields).
/// Written by hand rather than through `format!` or `serde_json`: it runs on every request.
fn log_line(req: &Request, resp: &Response, elapsed: std::time::Duration) -> String {
    let mut line = String::with_capacity(128);
    let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
    let status = u64::from(resp.status().as_u16());
    // A streamed body's size is known only once it is sent.
    let bytes = (!resp.is_streaming()).then(|| resp.body().len() as u64);
    match req.extensions().get::<crate::http::LambdaInvocation>() {
        Some(invocation) => {
            line.push_str("{\"level\":\"INFO\",\"requestId\":");
            push_json_str(&mut line, &invocation.request_id);
            line.push_str(",\"method\":");
            push_json_str(&mut line, req.method().as_str());
            line.push_str(",\"path\":");
            push_json_str(&mut line, &req.full_path());
            line.push_str(",\"status\":");
            push_u64(&mut line, status);
            line.push_str(",\"bytes\":");
            match bytes {
                Some(n) => push_u64(&mut line, n),
                None => line.push_str("null"),
            }
            // Milliseconds with three decimals.
            line.push_str(",\"durationMs\":");
            push_u64(&mut line, micros / 1000);
            line.push('.');
            push_padded(&mut line, micros % 1000, 3);
            line.push_str("}\n");
        }
        None => {
            line.push('[');
            line.push_str(crate::http::date::now().to_str().unwrap_or_default());
            line.push_str("] \"");
            line.push_str(req.method().as_str());
            line.push(' ');
            line.push_str(&req.full_path());
            line.push_str("\" ");
            push_u64(&mut line, status);
            line.push(' ');
            match bytes {
                Some(n) => push_u64(&mut line, n),
                None => line.push_str("streamed"),
            }
            // Milliseconds with one decimal.
            line.push(' ');
            push_u64(&mut line, micros / 1000);
            line.push('.');
            push_u64(&mut line, micros % 1000 / 100);
            line.push_str("ms\n");
        }
    }
    line
}

fn push_u64(out: &mut String, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    // Only ASCII digits were written.
    out.push_str(std::str::from_utf8(&digits[i..]).unwrap_or_default());
}

/// `n` with leading zeros to `width` digits (the fraction of a decimal).
fn push_padded(out: &mut String, n: u64, width: usize) {
    let mut digits = String::with_capacity(width);
    push_u64(&mut digits, n);
    for _ in digits.len()..width {
        out.push('0');
    }
    out.push_str(&digits);
}

/// `s` as a JSON string: quotes, backslashes and control characters escaped.
fn push_json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                out.push_str("\\u00");
                let n = c as u32;
                out.push(char::from_digit(n >> 4, 16).unwrap_or('0'));
                out.push(char::from_digit(n & 0xf, 16).unwrap_or('0'));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// The nonce this response's inline scripts and styles carry, kept on the request by a
/// Content-Security-Policy middleware ([`csp`](crate::csp)) for the pages rendered for it,
/// the framework's own DEBUG pages among them.
#[derive(Debug, Clone)]
pub struct CspNonce(pub String);

/// Route metadata for a load balancer's or an orchestrator's probe (the health app's `/healthz`
/// and `/readyz`): [`AllowedHosts`] lets it through under any `Host`, and
/// [`SecurityMiddleware`] does not redirect it to HTTPS. Probes come by the instance's address
/// and over plain HTTP; a probe's answer holds no URL for a forged host to poison, which is
/// what ALLOWED_HOSTS guards against.
#[derive(Debug, Clone, Copy)]
pub struct Probe;

fn is_probe(req: &Request) -> bool {
    req.resolver_match().is_some_and(|m| m.route().meta::<Probe>().is_some())
}

/// Refuses requests whose `Host` is not in ALLOWED_HOSTS with 400, as Django's `get_host()`
/// does; this is what stops host-header poisoning of absolute URLs. Routes marked [`Probe`]
/// answer under any host.
pub struct AllowedHosts;

impl Middleware for AllowedHosts {
    fn call(&self, req: Request, next: Next) -> BoxFuture<Result<Response>> {
        Box::pin(async move {
            if is_probe(&req) {
                return Ok(next.run(req).await);
            }
            let host = req.host().unwrap_or("");
            if !req.settings().host_allowed(host) {
                let hint = if req.settings().debug {
                    format!(
                        " You may need to add {:?} to ALLOWED_HOSTS.",
                        host.rsplit_once(':').map_or(host, |(h, _)| h)
                    )
                } else {
                    String::new()
                };
                return Err(Error::bad_request(format!("Invalid HTTP_HOST header: {host:?}.{hint}")));
            }
            Ok(next.run(req).await)
        })
    }
}

/// Answers 413 when the body is larger than DATA_UPLOAD_MAX_MEMORY_SIZE (by its declared
/// `Content-Length`, by what arrived, or because the front door stopped reading it).
pub struct BodySizeLimit;

impl Middleware for BodySizeLimit {
    fn call(&self, req: Request, next: Next) -> BoxFuture<Result<Response>> {
        Box::pin(async move {
            let content_type = req.header(header::CONTENT_TYPE);
            let limit = req.settings().max_body_size(content_type);
            let declared = req.header(header::CONTENT_LENGTH).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
            if req.extensions().get::<BodyTooLarge>().is_some() || declared > limit as u64 || req.body().len() > limit {
                let setting = if limit == req.settings().data_upload_max_memory_size {
                    "DATA_UPLOAD_MAX_MEMORY_SIZE"
                } else {
                    "FILE_UPLOAD_MAX_SIZE"
                };
                return Err(Error::new(
                    ErrorKind::PayloadTooLarge,
                    format!("the request body is larger than {setting} ({limit} bytes)"),
                ));
            }
            Ok(next.run(req).await)
        })
    }
}

/// The headers every response should carry (`Date`, `Content-Length`, a default
/// `Content-Type`), identical through both doors. (Django's `CommonMiddleware` also does
/// APPEND_SLASH; here the resolver does that, when no pattern matches.)
pub struct CommonMiddleware;

impl Middleware for CommonMiddleware {
    fn call(&self, req: Request, next: Next) -> BoxFuture<Result<Response>> {
        Box::pin(async move {
            let mut resp = next.run(req).await;
            let len = resp.body().len();
            let streaming = resp.is_streaming();
            let status = resp.status();
            let headers = resp.headers_mut();
            if !headers.contains_key(header::DATE) {
                headers.insert(header::DATE, crate::http::date::now());
            }
            if !headers.contains_key(header::CONTENT_TYPE) && (len > 0 || streaming) {
                headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
            }
            // A streamed body's length is not known until it has been sent: it goes chunked.
            if streaming {
                headers.remove(header::CONTENT_LENGTH);
            } else if status != StatusCode::NOT_MODIFIED && status != StatusCode::NO_CONTENT {
                headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
            }
            Ok(resp)
        })
    }
}

/// Django's `SecurityMiddleware` and `XFrameOptionsMiddleware` in one: redirects plain HTTP to
/// HTTPS when SECURE_SSL_REDIRECT is on, and adds `X-Content-Type-Options: nosniff`,
/// `Referrer-Policy`, `X-Frame-Options` and, on HTTPS responses, `Strict-Transport-Security`,
/// as the settings say (see [`Security`](crate::conf::Security)). A view that sets one of these
/// headers itself keeps its own value (how a page allows framing, say).
pub struct SecurityMiddleware;

impl Middleware for SecurityMiddleware {
    fn call(&self, req: Request, next: Next) -> BoxFuture<Result<Response>> {
        Box::pin(async move {
            let security = &req.settings().security;
            let secure = req.is_secure();
            if security.ssl_redirect && !secure && !is_probe(&req) {
                // Only to a host this site serves: ALLOWED_HOSTS answers the others with 400.
                let host = req.host().unwrap_or("").to_owned();
                if req.settings().host_allowed(&host) {
                    let to = format!("https://{host}{}", req.full_path());
                    return Ok(Response::redirect_with(StatusCode::MOVED_PERMANENTLY, &to));
                }
            }
            // The site (an Arc) outlives the request, which the rest of the chain consumes.
            let site = req.site().clone();
            let mut resp = next.run(req).await;
            if let Some(values) = site.state::<SecurityHeaders>() {
                let headers = resp.headers_mut();
                let hsts = values.hsts.as_ref().filter(|_| secure);
                for (name, value) in values.always.iter().chain(hsts) {
                    if !headers.contains_key(name) {
                        headers.insert(name.clone(), value.clone());
                    }
                }
            }
            Ok(resp)
        })
    }
}

/// The headers [`SecurityMiddleware`] adds, made from the settings once per site (the site
/// builder keeps them in its state): a response only copies them.
pub(crate) struct SecurityHeaders {
    /// On every response.
    always: Vec<(http::HeaderName, HeaderValue)>,
    /// `Strict-Transport-Security`, on HTTPS responses.
    hsts: Option<(http::HeaderName, HeaderValue)>,
}

impl SecurityHeaders {
    pub(crate) fn new(security: &crate::conf::Security) -> Self {
        let mut always = Vec::new();
        let mut add = |name: http::HeaderName, value: &str| {
            // Settings are checked when they are read; a value a header cannot carry is left out.
            if !value.is_empty()
                && let Ok(v) = HeaderValue::from_str(value)
            {
                always.push((name, v));
            }
        };
        if security.content_type_nosniff {
            add(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
        }
        add(header::REFERRER_POLICY, &security.referrer_policy);
        add(header::X_FRAME_OPTIONS, &security.x_frame_options);
        let hsts = (security.hsts_seconds > 0).then(|| {
            let mut hsts = format!("max-age={}", security.hsts_seconds);
            if security.hsts_include_subdomains {
                hsts.push_str("; includeSubDomains");
            }
            if security.hsts_preload {
                hsts.push_str("; preload");
            }
            (header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_str(&hsts).unwrap_or(HeaderValue::from_static("")))
        });
        SecurityHeaders { always, hsts }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_numbers_and_json_strings_are_written_by_hand_correctly() {
        let mut s = String::new();
        for n in [0, 7, 10, 1234, u64::MAX] {
            s.clear();
            push_u64(&mut s, n);
            assert_eq!(s, n.to_string());
        }
        for (n, text) in [(0, "000"), (5, "005"), (42, "042"), (999, "999")] {
            s.clear();
            push_padded(&mut s, n, 3);
            assert_eq!(s, text);
        }
        for raw in ["/plain/", "/q\"uote\\back", "/ctl\u{1}\t\n", "/ünï/€"] {
            s.clear();
            push_json_str(&mut s, raw);
            assert_eq!(serde_json::from_str::<String>(&s).unwrap(), raw, "{s}");
        }
    }
}
