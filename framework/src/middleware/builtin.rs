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
            let method = req.method().clone();
            let path = req.full_path().into_owned();
            let invocation = req.extensions().get::<crate::http::LambdaInvocation>().map(|i| i.request_id.clone());
            let resp = next.run(req).await;
            let elapsed = started.elapsed();
            let line = match &invocation {
                // On Lambda: one JSON object per line, which CloudWatch Logs Insights reads as fields.
                Some(id) => {
                    let mut line = serde_json::json!({
                        "level": "INFO",
                        "requestId": id,
                        "method": method.as_str(),
                        "path": path,
                        "status": resp.status().as_u16(),
                        // A streamed body's size is known only once it is sent.
                        "bytes": (!resp.is_streaming()).then(|| resp.body().len()),
                        "durationMs": (elapsed.as_secs_f64() * 1e6).round() / 1000.0,
                    })
                    .to_string();
                    line.push('\n');
                    line
                }
                None => {
                    // Tenths of a millisecond in integers: float formatting costs more than the rest.
                    let tenths = elapsed.as_micros() / 100;
                    let bytes = if resp.is_streaming() { "streamed".to_owned() } else { resp.body().len().to_string() };
                    format!(
                        "[{}] \"{method} {path}\" {} {bytes} {}.{}ms\n",
                        crate::http::date::now().to_str().unwrap_or_default(),
                        resp.status().as_u16(),
                        tenths / 10,
                        tenths % 10
                    )
                }
            };
            // Formatted first, then written whole, so lines from concurrent requests never
            // interleave (and `eprint!` lets the test harness capture them).
            eprint!("{line}");
            Ok(resp)
        })
    }
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
            // The site (an Arc) outlives the request, which the rest of the chain consumes.
            let site = req.site().clone();
            let security = &site.settings().security;
            let secure = req.is_secure();
            if security.ssl_redirect && !secure && !is_probe(&req) {
                // Only to a host this site serves: ALLOWED_HOSTS answers the others with 400.
                let host = req.host().unwrap_or("").to_owned();
                if req.settings().host_allowed(&host) {
                    let to = format!("https://{host}{}", req.full_path());
                    return Ok(Response::redirect_with(StatusCode::MOVED_PERMANENTLY, &to));
                }
            }
            let mut resp = next.run(req).await;
            let headers = resp.headers_mut();
            let mut set = |name: http::HeaderName, value: &str| {
                if !value.is_empty()
                    && !headers.contains_key(&name)
                    && let Ok(v) = http::HeaderValue::from_str(value)
                {
                    headers.insert(name, v);
                }
            };
            if security.content_type_nosniff {
                set(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
            }
            set(header::REFERRER_POLICY, &security.referrer_policy);
            set(header::X_FRAME_OPTIONS, &security.x_frame_options);
            if secure && security.hsts_seconds > 0 {
                let mut hsts = format!("max-age={}", security.hsts_seconds);
                if security.hsts_include_subdomains {
                    hsts.push_str("; includeSubDomains");
                }
                if security.hsts_preload {
                    hsts.push_str("; preload");
                }
                set(header::STRICT_TRANSPORT_SECURITY, &hsts);
            }
            Ok(resp)
        })
    }
}
