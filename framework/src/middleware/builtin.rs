//! The built-in middleware, in the order a site runs them.

use std::time::{Instant, SystemTime};

use http::header::{self, HeaderValue};
use http::{Method, StatusCode};

use super::{Middleware, Next};
use crate::error::{Error, ErrorKind, Result};
use crate::http::{BodyTooLarge, Request, Response};
use crate::views::BoxFuture;

/// Logs one line per request to stderr, as runserver does: time, method, path, status, size and
/// how long it took.
pub struct RequestLog;

impl Middleware for RequestLog {
    fn call(&self, req: Request, next: Next) -> BoxFuture<Result<Response>> {
        Box::pin(async move {
            let started = Instant::now();
            let method = req.method().clone();
            let path = req.full_path();
            let resp = next.run(req).await;
            let elapsed = started.elapsed();
            let line = format!(
                "[{}] \"{method} {path}\" {} {} {:.1}ms\n",
                httpdate::fmt_http_date(SystemTime::now()),
                resp.status().as_u16(),
                resp.body().len(),
                elapsed.as_secs_f64() * 1000.0
            );
            // Formatted first, then written whole, so lines from concurrent requests never
            // interleave (and `eprint!` lets the test harness capture them).
            eprint!("{line}");
            Ok(resp)
        })
    }
}

/// Refuses requests whose `Host` is not in ALLOWED_HOSTS with 400, as Django's `get_host()`
/// does; this is what stops host-header poisoning of absolute URLs.
pub struct AllowedHosts;

impl Middleware for AllowedHosts {
    fn call(&self, req: Request, next: Next) -> BoxFuture<Result<Response>> {
        Box::pin(async move {
            let host = req.host().unwrap_or("").to_owned();
            if !req.settings().host_allowed(&host) {
                let hint = if req.settings().debug {
                    format!(
                        " You may need to add {:?} to ALLOWED_HOSTS.",
                        host.rsplit_once(':').map_or(host.as_str(), |(h, _)| h)
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
            let limit = req.settings().data_upload_max_memory_size;
            let declared = req.header(header::CONTENT_LENGTH).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
            if req.extensions().get::<BodyTooLarge>().is_some() || declared > limit as u64 || req.body().len() > limit {
                return Err(Error::new(
                    ErrorKind::PayloadTooLarge,
                    format!("the request body is larger than DATA_UPLOAD_MAX_MEMORY_SIZE ({limit} bytes)"),
                ));
            }
            Ok(next.run(req).await)
        })
    }
}

/// Django's `CommonMiddleware`: APPEND_SLASH redirects, and the headers every response should
/// carry (`Date`, `Content-Length`, a default `Content-Type`), identical through both doors.
pub struct CommonMiddleware;

impl Middleware for CommonMiddleware {
    fn call(&self, req: Request, next: Next) -> BoxFuture<Result<Response>> {
        Box::pin(async move {
            let site = req.site().clone();
            let path_info = req.path_info().to_owned();
            let method = req.method().clone();
            let redirect_base = req.path();
            let query = req.query_string().to_owned();
            let mut resp = next.run(req).await;

            if resp.status() == StatusCode::NOT_FOUND
                && site.settings().append_slash
                && !path_info.ends_with('/')
                && site.resolves(&format!("{}/", percent_encoding::percent_decode_str(&path_info).decode_utf8_lossy()))
            {
                let mut location = format!("{redirect_base}/");
                if !query.is_empty() {
                    location = format!("{location}?{query}");
                }
                // 301 is what Django sends; other methods get 308 so the body is not dropped.
                let status = if method == Method::GET || method == Method::HEAD {
                    StatusCode::MOVED_PERMANENTLY
                } else {
                    StatusCode::PERMANENT_REDIRECT
                };
                resp = Response::redirect_with(status, &location);
            }

            let headers = resp.headers_mut();
            if !headers.contains_key(header::DATE)
                && let Ok(v) = HeaderValue::from_str(&httpdate::fmt_http_date(SystemTime::now()))
            {
                headers.insert(header::DATE, v);
            }
            let len = resp.body().len();
            let headers = resp.headers_mut();
            if !headers.contains_key(header::CONTENT_TYPE) && len > 0 {
                headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
            }
            if resp.status() != StatusCode::NOT_MODIFIED && resp.status() != StatusCode::NO_CONTENT {
                resp.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from(len));
            }
            Ok(resp)
        })
    }
}
