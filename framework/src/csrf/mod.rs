//! Cross-site request forgery protection (Django's `django.middleware.csrf`).
//!
//! Every request with an unsafe method (POST, PUT, PATCH, DELETE) must carry a token that
//! matches the secret in the `csrftoken` cookie: in the form field `csrfmiddlewaretoken` (which
//! `{{ csrf_input() }}` writes into a form) or in the `X-CSRFToken` header (for JavaScript,
//! which reads the cookie). A browser also sends `Origin`, which must be this site or one of
//! CSRF_TRUSTED_ORIGINS; over HTTPS without `Origin`, `Referer` must be. Nothing is kept on
//! the server, so it works the same on every Lambda instance.
//!
//! The token in a page is the cookie's secret masked with fresh random bytes each time, so a
//! compressed page never repeats a secret an attacker could guess byte by byte (BREACH).
//!
//! Install the app (`.app(djambda::csrf::app())`): it adds [`CsrfViewMiddleware`] to the
//! middleware list, `csrf_token` to every page's context and the `csrf_input()` template
//! function.
//!
//! ```
//! use djambda::prelude::*;
//! use djambda::csrf::csrf_exempt;
//!
//! // A webhook that other servers post to, with no browser and no cookie:
//! async fn webhook(_req: Request) -> Result<Response> { Ok(Response::text("ok")) }
//! let urls = UrlConf::new().path("hooks/payment/", csrf_exempt(webhook), "payment-hook");
//! # let _ = urls;
//! ```

use std::sync::{Arc, Mutex};

use cookie::Cookie;
use http::{Method, header};

use crate::error::{Error, Result};
use crate::http::Response;
use crate::middleware::{Middleware, Next};
use crate::request::Request;
use crate::routing::{BoxFuture, IntoRoute, MethodRouter};
use crate::shortcuts::ContextProcessor;
use crate::signing::{ALPHANUMERIC, constant_time_eq, random_string};
use crate::site::app::App;
use crate::templates::{Context, Kwargs, State, TeraResult, Value};

/// The form field forms carry the token in.
pub const FORM_FIELD: &str = "csrfmiddlewaretoken";
/// The template variable carrying this page's token, read by `csrf_input()`.
const TOKEN_VAR: &str = "csrf_token";
const SECRET_LEN: usize = 32;
const TOKEN_LEN: usize = 2 * SECRET_LEN;

/// The CSRF app (Django's `CsrfViewMiddleware` in MIDDLEWARE and its `csrf` context
/// processor): the middleware, `csrf_token` in every page's context, and `{{ csrf_input() }}`,
/// the hidden field a form carries.
pub fn app() -> App {
    App::new("csrf")
        .templates(crate::assets!("src/csrf/templates"))
        .middleware(CsrfViewMiddleware)
        .context_processor(TokenProcessor)
        .template_function("csrf_input", |_kwargs: Kwargs, state: &State| -> TeraResult<Value> {
            // The token is letters and digits only; nothing in it needs escaping.
            let token: String = state.get::<String>(TOKEN_VAR)?.unwrap_or_default();
            Ok(Value::safe_string(&format!("<input type=\"hidden\" name=\"{FORM_FIELD}\" value=\"{token}\">")))
        })
}

/// Route metadata: the route takes unsafe requests without a token (see [`csrf_exempt`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CsrfExempt;

/// Marks a route as exempt from CSRF checks (Django's `@csrf_exempt`): for endpoints other
/// servers call (webhooks) or that authenticate each request by other means.
pub fn csrf_exempt<M>(view: impl IntoRoute<M>) -> MethodRouter {
    view.into_route().csrf_exempt()
}

impl MethodRouter {
    /// Exempts the route from CSRF checks (see [`csrf_exempt`]).
    pub fn csrf_exempt(self) -> Self {
        self.with_meta(CsrfExempt)
    }
}

#[derive(Default)]
struct TokenState {
    /// The secret from the request's cookie, if it had a well-formed one.
    cookie_secret: Option<String>,
    /// A new secret: made for a visitor without one, or after `rotate_token`.
    new_secret: Option<String>,
    /// Whether a token went into the response, so the cookie must exist.
    used: bool,
}

impl TokenState {
    fn secret(&mut self) -> String {
        if let Some(s) = self.new_secret.as_ref().or(self.cookie_secret.as_ref()) {
            return s.clone();
        }
        let s = random_string(SECRET_LEN, ALPHANUMERIC);
        self.new_secret = Some(s.clone());
        s
    }
}

/// The CSRF state of one request.
#[derive(Clone, Default)]
pub(crate) struct Csrf(Arc<Mutex<TokenState>>);

impl Csrf {
    fn lock(&self) -> std::sync::MutexGuard<'_, TokenState> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A fresh masked token for the current secret, without marking it used.
    pub(crate) fn token(&self) -> String {
        mask(&self.lock().secret())
    }

    pub(crate) fn mark_used(&self) {
        self.lock().used = true;
    }
}

/// The CSRF token for a form or a JavaScript client (Django's `get_token`); the response then
/// sets the `csrftoken` cookie if the visitor has none. Empty without the CSRF app.
pub fn get_token(req: &Request) -> String {
    match req.local::<Csrf>() {
        Some(csrf) => {
            csrf.mark_used();
            csrf.token()
        }
        None => String::new(),
    }
}

/// Gives the visitor a new CSRF secret (Django's `rotate_token`): login does this, so a token
/// seen before login is worthless after it.
pub fn rotate_token(req: &Request) {
    if let Some(csrf) = req.local::<Csrf>() {
        let mut state = csrf.lock();
        state.new_secret = Some(random_string(SECRET_LEN, ALPHANUMERIC));
        state.used = true;
    }
}

fn index(c: u8) -> Option<usize> {
    ALPHANUMERIC.iter().position(|&a| a == c)
}

/// `secret` masked: 32 random characters, then each secret character shifted by the mask's.
fn mask(secret: &str) -> String {
    let n = ALPHANUMERIC.len();
    let mask = random_string(SECRET_LEN, ALPHANUMERIC);
    let mut out = String::with_capacity(TOKEN_LEN);
    out.push_str(&mask);
    for (s, m) in secret.bytes().zip(mask.bytes()) {
        let (si, mi) = (index(s).unwrap_or(0), index(m).unwrap_or(0));
        out.push(ALPHANUMERIC[(si + mi) % n] as char);
    }
    out
}

fn unmask(token: &str) -> String {
    let n = ALPHANUMERIC.len();
    let (mask, cipher) = token.split_at(SECRET_LEN);
    cipher
        .bytes()
        .zip(mask.bytes())
        .map(|(c, m)| ALPHANUMERIC[(index(c).unwrap_or(0) + n - index(m).unwrap_or(0)) % n] as char)
        .collect()
}

fn well_formed(secret: &str) -> bool {
    secret.len() == SECRET_LEN && secret.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Why a request was refused, in Django's words.
fn check_token(token: Option<&str>, secret: &str, source: &str) -> std::result::Result<(), String> {
    let Some(token) = token.map(str::trim).filter(|t| !t.is_empty()) else {
        return Err("CSRF token missing.".into());
    };
    if token.len() != TOKEN_LEN && token.len() != SECRET_LEN {
        return Err(format!("CSRF token from {source} has incorrect length."));
    }
    if !token.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(format!("CSRF token from {source} has invalid characters."));
    }
    let candidate = if token.len() == TOKEN_LEN { unmask(token) } else { token.to_owned() };
    if constant_time_eq(candidate.as_bytes(), secret.as_bytes()) {
        Ok(())
    } else {
        Err(format!("CSRF token from {source} incorrect."))
    }
}

/// `scheme://host[:port]` of a URL, lower-cased; `None` when it has none.
fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let host = rest.split(['/', '?', '#']).next()?;
    if scheme.is_empty() || host.is_empty() || host.contains('@') {
        return None;
    }
    Some(format!("{}://{}", scheme.to_ascii_lowercase(), host.to_ascii_lowercase()))
}

/// Whether `origin` is one of the trusted ones; `https://*.example.com` covers subdomains.
fn trusted(origin: &str, trusted: &[String]) -> bool {
    trusted.iter().any(|t| {
        if t == origin {
            return true;
        }
        match t.split_once("://*.") {
            Some((scheme, domain)) => origin
                .strip_prefix(scheme)
                .and_then(|r| r.strip_prefix("://"))
                .is_some_and(|host| host.ends_with(&format!(".{domain}")) || host == domain),
            None => false,
        }
    })
}

/// The checks of an unsafe request, in Django's order; `Err` carries the reason.
fn verify(req: &Request, cookie_secret: Option<&str>) -> std::result::Result<(), String> {
    let settings = req.settings();
    let scheme = if req.is_secure() { "https" } else { "http" };
    let host = req.host().unwrap_or("").to_ascii_lowercase();
    let own = format!("{scheme}://{host}");
    if let Some(origin) = req.header(header::ORIGIN) {
        let origin = origin.trim().to_ascii_lowercase();
        if origin != own && !trusted(&origin, &settings.csrf.trusted_origins) {
            return Err(format!("Origin checking failed - {origin} does not match any trusted origins."));
        }
    } else if req.is_secure() {
        // Without Origin, an HTTPS request must say where it came from: a man in the middle
        // on plain HTTP could otherwise post with a cookie it planted.
        let Some(referer) = req.header(header::REFERER) else {
            return Err("Referer checking failed - no Referer.".into());
        };
        let Some(from) = origin_of(referer) else {
            return Err("Referer checking failed - Referer is malformed.".into());
        };
        if !from.starts_with("https://") {
            return Err("Referer checking failed - Referer is insecure while host is secure.".into());
        }
        if from != own && !trusted(&from, &settings.csrf.trusted_origins) {
            return Err(format!("Referer checking failed - {referer} does not match any trusted origins."));
        }
    }
    let Some(secret) = cookie_secret else {
        return Err("CSRF cookie not set.".into());
    };
    let header_name = settings.csrf.header_name.as_str();
    if let Some(token) = req.header(header_name) {
        return check_token(Some(token), secret, &format!("the '{header_name}' HTTP header"));
    }
    check_token(req.form().get(FORM_FIELD), secret, "POST")
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE)
}

/// The refusal of a request, saying why (Django's `csrf_failure`): a 403 with the CSRF page.
fn failure(req: &Request, reason: String) -> Error {
    eprintln!("Forbidden (CSRF): {reason}: {}", req.path());
    let no_referer = reason.contains("no Referer");
    let no_cookie = reason == "CSRF cookie not set.";
    Error::permission_denied(reason).with_page("403_csrf.html", crate::context! { no_referer, no_cookie })
}

/// `csrf_token` for every page; a page that carries it gets the cookie that backs it, so a
/// visitor gets one exactly when a page needs it (Django's lazy token).
struct TokenProcessor;

impl ContextProcessor for TokenProcessor {
    fn process(&self, req: &Request, ctx: &mut Context) {
        if let Some(csrf) = req.local::<Csrf>() {
            ctx.insert(TOKEN_VAR, &csrf.token());
        }
    }

    fn rendered(&self, req: &Request, ctx: &Context, html: &str) {
        if let (Some(csrf), Some(token)) = (req.local::<Csrf>(), ctx.get(TOKEN_VAR).and_then(|v| v.as_str()))
            && html.contains(token)
        {
            csrf.mark_used();
        }
    }
}

/// Django's `CsrfViewMiddleware` (the [`app`] adds it): refuses unsafe requests without a
/// matching token with a 403 page naming what is missing, and sets the `csrftoken` cookie
/// whenever a page carried a token the visitor's cookie does not back yet.
pub struct CsrfViewMiddleware;

impl Middleware for CsrfViewMiddleware {
    fn call(&self, req: Request, next: Next) -> BoxFuture<Result<Response>> {
        Box::pin(async move {
            let site = req.site().clone();
            let settings = &site.settings().csrf;
            let cookie_secret = req.cookie(&settings.cookie_name).filter(|s| well_formed(s));
            // As Django's check runs only for a request that reached a view: static files and
            // paths no route matches get their 405 or 404, not a 403.
            let checked =
                !is_safe(req.method()) && req.resolver_match().is_some() && req.route_meta::<CsrfExempt>().is_none();
            if checked && let Err(reason) = verify(&req, cookie_secret.as_deref()) {
                return Err(failure(&req, reason));
            }
            let csrf = Csrf(Arc::new(Mutex::new(TokenState { cookie_secret, ..TokenState::default() })));
            let secure = settings.cookie_secure || req.is_secure();
            req.set_local(csrf.clone());
            let mut resp = next.run(req).await;
            let state = csrf.lock();
            if state.used {
                resp.patch_vary("Cookie");
                if let Some(secret) = &state.new_secret {
                    let mut c = Cookie::build((settings.cookie_name.clone(), secret.clone()))
                        .path("/")
                        .http_only(settings.cookie_httponly)
                        .secure(secure)
                        .max_age(cookie::time::Duration::seconds(
                            settings.cookie_age.as_secs().min(i64::MAX as u64) as i64
                        ))
                        .build();
                    if let Some(same_site) = settings.cookie_samesite {
                        c.set_same_site(same_site);
                    }
                    resp.set_cookie(c);
                }
            }
            Ok(resp)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masked_tokens_differ_but_unmask_to_the_secret() {
        let secret = random_string(SECRET_LEN, ALPHANUMERIC);
        let (a, b) = (mask(&secret), mask(&secret));
        assert_ne!(a, b, "each page gets a fresh mask");
        assert_eq!(unmask(&a), secret);
        assert!(check_token(Some(&a), &secret, "POST").is_ok());
        assert!(check_token(Some(&secret), &secret, "POST").is_ok(), "the bare secret, as JS reads it from the cookie");
        let other = random_string(SECRET_LEN, ALPHANUMERIC);
        assert_eq!(check_token(Some(&mask(&other)), &secret, "POST").unwrap_err(), "CSRF token from POST incorrect.");
        assert_eq!(check_token(None, &secret, "POST").unwrap_err(), "CSRF token missing.");
        assert!(check_token(Some("short"), &secret, "POST").unwrap_err().contains("incorrect length"));
        assert!(check_token(Some(&"!".repeat(64)), &secret, "POST").unwrap_err().contains("invalid characters"));
    }

    #[test]
    fn trusted_origins_match_exactly_or_by_subdomain() {
        let list = vec!["https://*.example.com".to_owned(), "https://partner.test".to_owned()];
        assert!(trusted("https://crm.example.com", &list));
        assert!(trusted("https://partner.test", &list));
        assert!(!trusted("http://crm.example.com", &list), "the scheme counts");
        assert!(!trusted("https://example.com.evil.test", &list));
        assert_eq!(origin_of("https://Crm.Example.com:8443/path?q"), Some("https://crm.example.com:8443".into()));
        assert_eq!(origin_of("not a url"), None);
    }
}
