//! The test client (Django's `django.test.Client`): requests go in-process through
//! [`Site::handle`], the same path both front doors take, with a cookie jar and redirect
//! following.
//!
//! As Django's, it does not make every test carry CSRF tokens: unless
//! [`enforce_csrf_checks`](Client::enforce_csrf_checks) is called, it keeps a `csrftoken`
//! cookie and sends its value in the CSRF header with unsafe requests, the way a JavaScript
//! client would, through the real CSRF middleware. [`login`](Client::login) logs in through
//! the site's login view.
//!
//! ```
//! use djambda::prelude::*;
//! use djambda::test::Client;
//!
//! async fn hello(req: Request) -> Result<Response> {
//!     Ok(Response::text(format!("hello {}", req.query().get("name").unwrap_or("world"))))
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let site = Site::builder()
//!     .settings(Settings::from_sources(Some("DEBUG = true"), |_| None).unwrap())
//!     .urls(UrlConf::new().path("hello/", hello, "hello"))
//!     .build()
//!     .unwrap();
//! let mut client = Client::new(site);
//! let resp = client.get("/hello/?name=Ada").await;
//! assert_eq!(resp.status(), 200);
//! assert_eq!(resp.text(), "hello Ada");
//! # });
//! ```

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode, header};

use crate::mail::EmailMessage;
use crate::site::Site;

/// The messages the site has sent so far, oldest first (Django's `mail.outbox`). The site must
/// send through the `locmem` backend (`EMAIL_BACKEND = "locmem"`) with the mail app installed;
/// a test that reads the outbox of another is wrong, and panics saying so.
pub fn outbox(site: &Site) -> Vec<EmailMessage> {
    match crate::mail::outbox(site) {
        Some(outbox) => outbox.messages(),
        None => panic!(
            "the site has no outbox: install djambda::mail::app() and set EMAIL_BACKEND = \"locmem\" for the test"
        ),
    }
}

/// An in-process client for a site.
pub struct Client {
    site: Site,
    host: String,
    cookies: Vec<(String, String)>,
    enforce_csrf: bool,
    client_addr: Option<std::net::SocketAddr>,
}

/// A response seen by the test client.
#[derive(Debug)]
pub struct TestResponse {
    inner: http::Response<Bytes>,
    /// The URLs followed to reach this response, when redirects were followed.
    pub redirect_chain: Vec<String>,
    streamed: bool,
}

impl TestResponse {
    /// Whether the view streamed the body (Django's `streaming`); the client has read it whole.
    pub fn is_streaming(&self) -> bool {
        self.streamed
    }

    /// The status code.
    pub fn status(&self) -> StatusCode {
        self.inner.status()
    }

    /// The headers.
    pub fn headers(&self) -> &HeaderMap {
        self.inner.headers()
    }

    /// One header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.inner.headers().get(name).and_then(|v| v.to_str().ok())
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(self.inner.body()).into_owned()
    }

    /// The body as bytes.
    pub fn bytes(&self) -> &Bytes {
        self.inner.body()
    }

    /// The body parsed as JSON.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> serde_json::Result<T> {
        serde_json::from_slice(self.inner.body())
    }

    /// The `Location` header of a redirect.
    pub fn location(&self) -> Option<&str> {
        self.header("location")
    }

    /// The CSRF token of the first form on the page (`csrfmiddlewaretoken`), as a browser would
    /// submit it.
    pub fn csrf_token(&self) -> Option<String> {
        let html = self.text();
        let at = html.find("name=\"csrfmiddlewaretoken\"")?;
        let rest = &html[at..];
        let value = rest.find("value=\"")? + 7;
        let end = rest[value..].find('"')?;
        Some(rest[value..value + end].to_owned())
    }
}

impl Client {
    /// A client for `site`, sending `Host: localhost`.
    pub fn new(site: Site) -> Self {
        Client { site, host: "localhost".into(), cookies: Vec::new(), enforce_csrf: false, client_addr: None }
    }

    /// Sends unsafe requests as they come, without the CSRF token the client otherwise adds
    /// (Django's `Client(enforce_csrf_checks=True)`): for tests of CSRF protection itself.
    pub fn enforce_csrf_checks(mut self) -> Self {
        self.enforce_csrf = true;
        self
    }

    /// Logs in through the site's login view (LOGIN_URL); whether it worked: the view
    /// redirected and set a session cookie (a page shown again with errors, or a redirect that
    /// starts no session, is not a login).
    pub async fn login(&mut self, username: &str, password: &str) -> bool {
        let login = self.site.settings().auth.login_url.clone();
        let url = if login.contains('/') { login } else { self.site.reverse(&login, &[]).unwrap_or(login) };
        let resp = self.post_form(&url, &[("username", username), ("password", password)]).await;
        let session = format!("{}=", self.site.settings().sessions.cookie_name);
        let started = resp.headers().get_all(header::SET_COOKIE).iter().any(|v| {
            v.to_str().is_ok_and(|line| line.starts_with(&session) && !line[session.len()..].starts_with(';'))
        });
        resp.status().is_redirection() && started
    }

    /// Logs out through the site's `logout` route.
    pub async fn logout(&mut self) {
        if let Ok(url) = self.site.reverse("logout", &[]) {
            self.post_form(&url, &[]).await;
        }
    }

    /// The messages the site has sent so far (see [`outbox`]).
    pub fn outbox(&self) -> Vec<EmailMessage> {
        outbox(&self.site)
    }

    /// Every cookie the client holds, as a `Cookie` header value.
    pub fn cookie_header(&self) -> String {
        self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    /// Sends from `addr` from now on, as runserver's peer address or the Lambda event's
    /// source IP would say (Django's `REMOTE_ADDR`); by default the client has none.
    pub fn with_client_addr(mut self, addr: std::net::SocketAddr) -> Self {
        self.client_addr = Some(addr);
        self
    }

    /// Sends another `Host` header from now on.
    pub fn with_host(mut self, host: &str) -> Self {
        self.host = host.to_owned();
        self
    }

    /// The value of a cookie the site has set.
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.cookies.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// Sets a cookie as if the site had set it.
    pub fn set_cookie(&mut self, name: &str, value: &str) {
        self.cookies.retain(|(k, _)| k != name);
        self.cookies.push((name.to_owned(), value.to_owned()));
    }

    /// GET `path` (with any query string).
    pub async fn get(&mut self, path: &str) -> TestResponse {
        self.send(Method::GET, path, None, Bytes::new()).await
    }

    /// GET `path`, following redirects (at most 10) within the site.
    pub async fn get_follow(&mut self, path: &str) -> TestResponse {
        let mut chain = Vec::new();
        let mut resp = self.get(path).await;
        while resp.status().is_redirection() && chain.len() < 10 {
            let Some(next) = resp.location().map(str::to_owned) else { break };
            chain.push(next.clone());
            resp = self.get(&next).await;
        }
        resp.redirect_chain = chain;
        resp
    }

    /// HEAD `path`.
    pub async fn head(&mut self, path: &str) -> TestResponse {
        self.send(Method::HEAD, path, None, Bytes::new()).await
    }

    /// POST a urlencoded form.
    pub async fn post_form(&mut self, path: &str, fields: &[(&str, &str)]) -> TestResponse {
        let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(fields).finish();
        self.send(Method::POST, path, Some("application/x-www-form-urlencoded"), Bytes::from(body)).await
    }

    /// POST a JSON body.
    pub async fn post_json<T: serde::Serialize + ?Sized>(&mut self, path: &str, value: &T) -> TestResponse {
        let body = serde_json::to_vec(value).unwrap_or_default();
        self.send(Method::POST, path, Some("application/json"), Bytes::from(body)).await
    }

    /// Sends any method with an optional content type and body.
    pub async fn send(&mut self, method: Method, path: &str, content_type: Option<&str>, body: Bytes) -> TestResponse {
        let unsafe_method = !matches!(method, Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE);
        let mut builder = http::Request::builder().method(method).uri(path).header(header::HOST, &self.host);
        if unsafe_method && !self.enforce_csrf {
            let name = self.site.settings().csrf.cookie_name.clone();
            let secret = match self.cookie(&name) {
                Some(s) => s.to_owned(),
                None => {
                    let s = crate::signing::random_string(32, crate::signing::ALPHANUMERIC);
                    self.set_cookie(&name, &s);
                    s
                }
            };
            builder = builder.header(self.site.settings().csrf.header_name.as_str(), secret);
        }
        if let Some(ct) = content_type {
            builder = builder.header(header::CONTENT_TYPE, ct);
        }
        if !self.cookies.is_empty() {
            let line: Vec<String> = self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
            builder = builder.header(header::COOKIE, line.join("; "));
        }
        if let Some(addr) = self.client_addr {
            builder = builder.extension(crate::http::ClientAddr(addr));
        }
        let req = match builder.body(body) {
            Ok(r) => r,
            Err(e) => panic!("the test built an invalid request for {path:?}: {e}"),
        };
        self.request(req).await
    }

    /// Sends a request as built by the caller, through [`Site::handle`].
    /// A streamed body is read whole; one that fails part-way panics, naming the error, as
    /// Django's test client raises it.
    pub async fn request(&mut self, req: http::Request<Bytes>) -> TestResponse {
        let resp = self.site.handle(req).await;
        let streamed = resp.extensions().get::<crate::http::StreamingBody>().is_some();
        let resp = match crate::http::read_whole(resp, usize::MAX).await {
            Ok(resp) => resp,
            Err(e) => panic!("the view's streamed body failed: {e}"),
        };
        for value in resp.headers().get_all(header::SET_COOKIE) {
            let Ok(text) = value.to_str() else { continue };
            // Kept as sent and sent back as kept, as a browser does: the site encoded the value.
            let Ok(c) = cookie::Cookie::parse(text.to_owned()) else { continue };
            self.cookies.retain(|(k, _)| k != c.name());
            let expired = c.max_age().is_some_and(|a| a.is_zero() || a.is_negative());
            if !expired {
                self.cookies.push((c.name().to_owned(), c.value().to_owned()));
            }
        }
        TestResponse { inner: resp, redirect_chain: Vec::new(), streamed }
    }
}
