//! The per-view cache (Django's `cache_page`): a route marked with [`cache_page`] has its
//! GET and HEAD answers kept by [`CacheMiddleware`], which runs outside the other apps'
//! middleware so that it sees the response as it leaves, with every cookie and `Vary` they
//! added.
//!
//! As Django's: a page is kept under its absolute URL and the request's values of the headers
//! its `Vary` names (learnt from the first response and kept beside it), so a page that read
//! the session (`Vary: Cookie`) is kept per visitor. Kept only: 200 answers to GET or HEAD,
//! without `Set-Cookie`, not streamed, without `Cache-Control: private`, `no-store`,
//! `no-cache` or `max-age=0`, and without `Vary: *`; for at most the route's timeout or the
//! response's own `max-age`.
//!
//! Nor is a page whose body carries the nonce of its `Content-Security-Policy` (a template's
//! `csp_nonce`): a nonce is good for one response, not for every visitor of a kept page.
//!
//! A hit is answered before the other apps' middleware run (no session load, no user query,
//! no login check): a page kept for a session cookie is served to that cookie until it
//! expires, even after the session ended. Keep per-user pages briefly.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use sha2::{Digest, Sha256};

use super::{Cache, Timeout};
use crate::error::{Error, Result};
use crate::http::Response;
use crate::middleware::{Middleware, Next};
use crate::request::Request;
use crate::routing::{BoxFuture, IntoRoute, MethodRouter};

/// A route's page cache: how long its pages are kept. Route metadata set by [`cache_page`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CachePage {
    /// How long a page is kept (CACHE_MIDDLEWARE_SECONDS when `None`).
    pub timeout: Option<Duration>,
}

/// Marks that the cache middleware saw the request, so a `cache_page` route on a site without
/// it fails loudly rather than never caching.
#[derive(Clone)]
struct Seen;

/// Keeps the pages of `view` for `timeout` (Django's `@cache_page(timeout)`); see the
/// [module](self). Needs the cache app.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::time::Duration;
/// use djambda::cache::cache_page;
/// use djambda::prelude::*;
///
/// static RENDERED: AtomicUsize = AtomicUsize::new(0);
/// async fn report(_req: Request) -> Result<Response> {
///     let n = RENDERED.fetch_add(1, Ordering::SeqCst) + 1;
///     Ok(Response::html(format!("report #{n}")))
/// }
///
/// let site = Site::builder()
///     .settings(Settings::from_sources(Some("DEBUG = true"), |_| None).unwrap())
///     .app(djambda::cache::app())
///     .urls(UrlConf::new().path("report/", cache_page(Duration::from_secs(60), report), "report"))
///     .build()
///     .unwrap();
/// let mut client = djambda::test::Client::new(site);
/// assert_eq!(client.get("/report/").await.text(), "report #1");
/// assert_eq!(client.get("/report/").await.text(), "report #1", "served from the cache");
/// assert_eq!(client.get("/report/?page=2").await.text(), "report #2", "another URL");
/// # });
/// ```
pub fn cache_page<M>(timeout: Duration, view: impl IntoRoute<M>) -> MethodRouter {
    view.into_route().cache_page(timeout)
}

impl MethodRouter {
    /// [`cache_page`] for every view of this route.
    pub fn cache_page(self, timeout: Duration) -> Self {
        self.with_meta(CachePage { timeout: Some(timeout) }).wrap(|req: Request, view| async move {
            if req.local::<Seen>().is_none() {
                return Err(Error::internal(
                    "cache_page needs the cache app's middleware: install djambda::cache::app(), first of the apps",
                ));
            }
            view(req).await
        })
    }
}

/// Serves and stores the pages of [`cache_page`] routes (Django's `UpdateCacheMiddleware`
/// and `FetchFromCacheMiddleware` in one, for the routes that ask). Install the cache app
/// first of the apps: a middleware outside this one could add cookies or `Vary` it never sees.
#[derive(Default)]
pub struct CacheMiddleware {
    /// Whether only the framework's own middleware run outside this one, found on the first
    /// request of a cached route.
    order: Arc<OnceLock<std::result::Result<(), String>>>,
}

fn hash(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p);
    }
    h.finalize().iter().take(16).map(|b| format!("{b:02x}")).collect()
}

/// The key of the list of headers a URL's page varies on.
fn header_key(prefix: &str, url: &str) -> String {
    format!("views.decorators.cache.cache_header.{prefix}.{}", hash(&[url.as_bytes()]))
}

/// The key of a page: method, URL, and the request's values of the headers it varies on.
fn page_key(prefix: &str, method: &Method, url: &str, vary: &[String], headers: &HeaderMap) -> String {
    let mut parts: Vec<Vec<u8>> = vec![url.as_bytes().to_vec()];
    for name in vary {
        let values: Vec<&[u8]> = headers.get_all(name.as_str()).iter().map(HeaderValue::as_bytes).collect();
        parts.push(name.as_bytes().to_vec());
        parts.push(values.join(&b","[..]));
    }
    let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
    format!("views.decorators.cache.cache_page.{prefix}.{method}.{}", hash(&refs))
}

/// The header names a response's `Vary` lists, lower case; `None` for `Vary: *`.
fn vary_of(headers: &HeaderMap) -> Option<Vec<String>> {
    let mut names = Vec::new();
    for value in headers.get_all(header::VARY) {
        for name in value.to_str().unwrap_or("*").split(',') {
            let name = name.trim().to_ascii_lowercase();
            if name == "*" {
                return None;
            }
            if !name.is_empty() && !names.contains(&name) {
                names.push(name);
            }
        }
    }
    names.sort();
    Some(names)
}

/// How long a response may be kept, or `None` when it may not be.
fn keepable(method: &Method, resp: &http::Response<Bytes>, timeout: Duration) -> Option<Duration> {
    if !(method == Method::GET || method == Method::HEAD) || resp.status() != StatusCode::OK {
        return None;
    }
    let headers = resp.headers();
    if headers.contains_key(header::SET_COOKIE) || resp.extensions().get::<crate::http::StreamingBody>().is_some() {
        return None;
    }
    let mut keep = timeout;
    for value in headers.get_all(header::CACHE_CONTROL) {
        for directive in value.to_str().unwrap_or("no-store").split(',') {
            let directive = directive.trim().to_ascii_lowercase();
            if directive == "private" || directive == "no-store" || directive == "no-cache" {
                return None;
            }
            if let Some(age) = directive.strip_prefix("max-age=") {
                keep = keep.min(Duration::from_secs(age.trim().parse().unwrap_or(0)));
            }
        }
    }
    (!keep.is_zero()).then_some(keep)
}

/// Whether the body carries the nonce its Content-Security-Policy allows (a `csp_nonce` in a
/// template). Such a page is not kept: a nonce is for one response, and a kept page would give
/// every visitor the same one, which anyone could read off it. A page that uses no nonce is
/// kept, header and all (the stale nonce in it allows nothing the page has).
fn uses_csp_nonce(resp: &http::Response<Bytes>) -> bool {
    let policies = [header::CONTENT_SECURITY_POLICY, header::CONTENT_SECURITY_POLICY_REPORT_ONLY];
    let body = resp.body().as_ref();
    policies.iter().flat_map(|name| resp.headers().get_all(name)).any(|value| {
        let text = String::from_utf8_lossy(value.as_bytes());
        text.split("'nonce-")
            .skip(1)
            .filter_map(|rest| rest.split('\'').next())
            .any(|nonce| !nonce.is_empty() && body.windows(nonce.len()).any(|w| w == nonce.as_bytes()))
    })
}

/// A response as bytes: status, headers, body.
fn pack(resp: &http::Response<Bytes>) -> Vec<u8> {
    let mut out = Vec::with_capacity(resp.body().len() + 512);
    out.extend_from_slice(&resp.status().as_u16().to_le_bytes());
    out.extend_from_slice(&(resp.headers().len() as u32).to_le_bytes());
    for (name, value) in resp.headers() {
        for part in [name.as_str().as_bytes(), value.as_bytes()] {
            out.extend_from_slice(&(part.len() as u32).to_le_bytes());
            out.extend_from_slice(part);
        }
    }
    out.extend_from_slice(resp.body());
    out
}

/// The response [`pack`] wrote, or `None` for bytes it did not write.
fn unpack(bytes: &[u8]) -> Option<Response> {
    let mut at = 0usize;
    let mut take = |n: usize| -> Option<&[u8]> {
        let piece = bytes.get(at..at.checked_add(n)?)?;
        at += n;
        Some(piece)
    };
    let status = StatusCode::from_u16(u16::from_le_bytes(take(2)?.try_into().ok()?)).ok()?;
    let count = u32::from_le_bytes(take(4)?.try_into().ok()?);
    let mut headers = HeaderMap::new();
    for _ in 0..count {
        let len = u32::from_le_bytes(take(4)?.try_into().ok()?) as usize;
        let name = HeaderName::from_bytes(take(len)?).ok()?;
        let len = u32::from_le_bytes(take(4)?.try_into().ok()?) as usize;
        let value = HeaderValue::from_bytes(take(len)?).ok()?;
        headers.append(name, value);
    }
    let mut resp = http::Response::new(Bytes::copy_from_slice(bytes.get(at..)?));
    *resp.status_mut() = status;
    *resp.headers_mut() = headers;
    Some(Response::from(resp))
}

/// The middleware outside the cache's must be the framework's own (request log, security,
/// common headers, hosts, body size, compression), which add no cookie and no `Vary` a cached
/// page would miss.
fn check_order(order: &OnceLock<std::result::Result<(), String>>, req: &Request) -> Result<()> {
    let found = order.get_or_init(|| {
        let names = req.site().middleware_names();
        let me = std::any::type_name::<CacheMiddleware>();
        let outside: Vec<&str> = names.iter().take_while(|n| **n != me).copied().collect();
        match outside.iter().find(|n| !n.starts_with("djambda::middleware::")) {
            Some(other) => Err(format!(
                "the cache app's middleware runs inside {other}, whose cookies and Vary a cached page would \
                     miss: install djambda::cache::app() before the other apps"
            )),
            None => Ok(()),
        }
    });
    found.clone().map_err(Error::internal)
}

async fn serve(
    order: Arc<OnceLock<std::result::Result<(), String>>>,
    req: Request,
    next: Next,
    cache: Cache,
    page: CachePage,
) -> Result<Response> {
    check_order(&order, &req)?;
    req.set_local(Seen);
    let method = req.method().clone();
    if method != Method::GET && method != Method::HEAD {
        return Ok(next.run(req).await);
    }
    let url = req.build_absolute_uri(&req.full_path());
    let prefix = cache.middleware_key_prefix.clone();
    let headers = req.headers().clone();
    let hkey = header_key(&prefix, &url);
    // A cache that does not answer costs the page its caching, not its answer.
    let vary = cache.get::<Vec<String>>(&hkey).await.unwrap_or_else(|e| {
        tracing::warn!("the page cache could not be read: {e}");
        None
    });
    if let Some(vary) = &vary {
        let methods: &[Method] = if method == Method::HEAD { &[Method::HEAD, Method::GET] } else { &[Method::GET] };
        for m in methods {
            let key = page_key(&prefix, m, &url, vary, &headers);
            if let Ok(Some(bytes)) = cache.get_bytes(&key).await
                && let Some(resp) = unpack(&bytes)
            {
                return Ok(resp);
            }
        }
    }
    let resp = next.run(req).await.into_http();
    let timeout = page.timeout.unwrap_or(Duration::from_secs(cache.middleware_seconds));
    let (Some(keep), Some(vary)) = (keepable(&method, &resp, timeout), vary_of(resp.headers())) else {
        return Ok(Response::from(resp));
    };
    if uses_csp_nonce(&resp) {
        return Ok(Response::from(resp));
    }
    let key = page_key(&prefix, &method, &url, &vary, &headers);
    let stored = async {
        cache.set(&hkey, &vary, Timeout::After(keep)).await?;
        cache.set_bytes(&key, pack(&resp), Timeout::After(keep)).await
    };
    if let Err(e) = stored.await {
        tracing::warn!("the page cache could not be written: {e}");
    }
    let mut resp = Response::from(resp);
    if resp.header(header::CACHE_CONTROL).is_none() {
        resp.set_header(header::CACHE_CONTROL, &format!("max-age={}", keep.as_secs()));
    }
    Ok(resp)
}

impl Middleware for CacheMiddleware {
    fn call(&self, req: Request, next: Next) -> BoxFuture<Result<Response>> {
        let order = self.order.clone();
        Box::pin(async move {
            let Some(page) = req.route_meta::<CachePage>().copied() else { return Ok(next.run(req).await) };
            let Some(cache) = req.state::<Cache>().cloned() else { return Ok(next.run(req).await) };
            serve(order, req, next, cache, page).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_response_packs_and_unpacks_and_garbage_is_refused() {
        let mut resp = http::Response::new(Bytes::from_static(b"<p>hi</p>"));
        resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
        resp.headers_mut().append(header::VARY, HeaderValue::from_static("Cookie"));
        resp.headers_mut().append(header::VARY, HeaderValue::from_static("Accept-Encoding"));
        let back = unpack(&pack(&resp)).unwrap().into_http();
        assert_eq!(back.status(), 200);
        assert_eq!(back.body(), "<p>hi</p>");
        assert_eq!(back.headers(), resp.headers());
        assert!(unpack(b"").is_none() && unpack(&[200, 0, 9, 9, 9, 9]).is_none());
        assert_eq!(vary_of(back.headers()), Some(vec!["accept-encoding".to_owned(), "cookie".to_owned()]));
    }

    #[test]
    fn only_plain_200s_to_get_and_head_are_kept() {
        let ok = || http::Response::new(Bytes::from_static(b"x"));
        let minute = Duration::from_secs(60);
        assert_eq!(keepable(&Method::GET, &ok(), minute), Some(minute));
        assert_eq!(keepable(&Method::HEAD, &ok(), minute), Some(minute));
        assert_eq!(keepable(&Method::POST, &ok(), minute), None);
        let mut not_found = ok();
        *not_found.status_mut() = StatusCode::NOT_FOUND;
        assert_eq!(keepable(&Method::GET, &not_found, minute), None);
        for (name, value, kept) in [
            (header::SET_COOKIE, "a=b", None),
            (header::CACHE_CONTROL, "private, max-age=60", None),
            (header::CACHE_CONTROL, "no-store", None),
            (header::CACHE_CONTROL, "no-cache", None),
            (header::CACHE_CONTROL, "max-age=0", None),
            (header::CACHE_CONTROL, "public, max-age=10", Some(Duration::from_secs(10))),
        ] {
            let mut resp = ok();
            resp.headers_mut().insert(name.clone(), HeaderValue::from_static(value));
            assert_eq!(keepable(&Method::GET, &resp, minute), kept, "{name}: {value}");
        }
        let mut star = ok();
        star.headers_mut().insert(header::VARY, HeaderValue::from_static("*"));
        assert_eq!(vary_of(star.headers()), None);
    }
}
