use std::borrow::Cow;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::OnceLock;

use bytes::Bytes;
use http::{HeaderMap, Method, Uri, header};

use super::{ClientAddr, QueryDict, ScriptName};
use crate::conf::Settings;
use crate::error::{Error, ErrorKind, Result};
use crate::site::Site;
use crate::urls::UrlArg;

/// The request a view receives (Django's `HttpRequest`): method, path, headers, the buffered
/// body, and what the URL resolver found (the route's name and path parameters).
///
/// The same `Request` arrives whichever front door the request came through; what only a door
/// knows (the stage prefix, the client address, the Lambda context) is recorded on it.
pub struct Request {
    head: http::request::Parts,
    body: Bytes,
    site: Site,
    script_name: String,
    params: Vec<(String, String)>,
    route_name: Option<String>,
    query: OnceLock<QueryDict>,
    form: OnceLock<std::result::Result<crate::forms::FormData, (ErrorKind, String)>>,
}

impl Request {
    pub(crate) fn new(req: http::Request<Bytes>, site: Site) -> Self {
        let (head, body) = req.into_parts();
        let script_name = match site.settings().force_script_name.as_deref() {
            Some(forced) => forced.to_owned(),
            None => head.extensions.get::<ScriptName>().map(|s| s.0.clone()).unwrap_or_default(),
        };
        Request {
            head,
            body,
            site,
            script_name,
            params: Vec::new(),
            route_name: None,
            query: OnceLock::new(),
            form: OnceLock::new(),
        }
    }

    pub(crate) fn set_route(&mut self, name: Option<String>, params: Vec<(String, String)>) {
        self.route_name = name;
        self.params = params;
    }

    /// The HTTP method.
    pub fn method(&self) -> &Method {
        &self.head.method
    }

    /// The request URI as routed (without the script prefix).
    pub fn uri(&self) -> &Uri {
        &self.head.uri
    }

    /// The path the URL conf matched, without the script prefix (Django's `path_info`).
    pub fn path_info(&self) -> &str {
        self.head.uri.path()
    }

    /// The full path the client asked for, script prefix included (Django's `request.path`).
    pub fn path(&self) -> Cow<'_, str> {
        if self.script_name.is_empty() {
            Cow::Borrowed(self.path_info())
        } else {
            Cow::Owned(format!("{}{}", self.script_name, self.path_info()))
        }
    }

    /// The full path with the query string, as Django's `get_full_path()`.
    pub fn full_path(&self) -> Cow<'_, str> {
        match self.head.uri.query() {
            Some(q) if !q.is_empty() => Cow::Owned(format!("{}?{q}", self.path())),
            _ => self.path(),
        }
    }

    /// The prefix the site is mounted under (`""` at the root, `/Prod` under a REST API stage).
    pub fn script_name(&self) -> &str {
        &self.script_name
    }

    /// The raw query string (without `?`), empty when there is none.
    pub fn query_string(&self) -> &str {
        self.head.uri.query().unwrap_or("")
    }

    /// The query string as a [`QueryDict`] (Django's `request.GET`).
    pub fn query(&self) -> &QueryDict {
        self.query.get_or_init(|| QueryDict::parse(self.query_string()))
    }

    /// The request headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.head.headers
    }

    /// The request headers, for middleware that rewrites them.
    pub fn headers_mut(&mut self) -> &mut HeaderMap {
        &mut self.head.headers
    }

    /// One header as text; `None` when absent or not visible ASCII.
    pub fn header(&self, name: impl header::AsHeaderName) -> Option<&str> {
        self.head.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Typed values a front door or middleware attached to the request.
    pub fn extensions(&self) -> &http::Extensions {
        &self.head.extensions
    }

    /// Mutable access to the request's extensions.
    pub fn extensions_mut(&mut self) -> &mut http::Extensions {
        &mut self.head.extensions
    }

    /// The request body, fully read (its size is bounded by `DATA_UPLOAD_MAX_MEMORY_SIZE`).
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// The media type of the body, without parameters, lower-cased.
    pub fn content_type(&self) -> Option<String> {
        self.header(header::CONTENT_TYPE).map(|ct| ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
    }

    /// The form fields of the body (Django's `request.POST`): from an
    /// `application/x-www-form-urlencoded` or `multipart/form-data` body, empty for other
    /// bodies (and for a malformed multipart one, which [`form_data`](Self::form_data) reports).
    pub fn form(&self) -> &QueryDict {
        static EMPTY: QueryDict = QueryDict::new();
        match self.parsed_form() {
            Ok(data) => &data.fields,
            Err(_) => &EMPTY,
        }
    }

    /// The body parsed as form data once, on first use.
    pub(crate) fn parsed_form(&self) -> &std::result::Result<crate::forms::FormData, (ErrorKind, String)> {
        self.form.get_or_init(|| crate::forms::parse_body(self))
    }

    /// Parses a JSON body; a missing or wrong content type is 415, malformed JSON is 400.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T> {
        match self.content_type().as_deref() {
            Some(ct) if ct == "application/json" || ct.ends_with("+json") => {}
            other => {
                return Err(Error::new(
                    ErrorKind::UnsupportedMediaType,
                    format!(
                        "expected a JSON body (Content-Type: application/json), got {}",
                        other.unwrap_or("no Content-Type")
                    ),
                ));
            }
        }
        serde_json::from_slice(&self.body).map_err(|e| {
            Error::with_source(ErrorKind::BadRequest, "the request body is not valid JSON for this view", e)
        })
    }

    /// The value of a cookie the client sent.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.cookies().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    /// Every cookie the client sent, as (name, value), percent-decoded. Malformed pairs are skipped.
    pub fn cookies(&self) -> impl Iterator<Item = (String, String)> + '_ {
        self.head
            .headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|line| cookie::Cookie::split_parse_encoded(line.to_owned()))
            .filter_map(|c| c.ok())
            .map(|c| (c.name().to_owned(), c.value().to_owned()))
    }

    /// The client's address, when the front door knows it.
    pub fn client_addr(&self) -> Option<SocketAddr> {
        self.head.extensions.get::<ClientAddr>().map(|a| a.0)
    }

    /// The host the client asked for (`Host` header, or the URI authority), without validation;
    /// the ALLOWED_HOSTS middleware has already refused hosts the site does not serve.
    pub fn host(&self) -> Option<&str> {
        self.header(header::HOST).or_else(|| self.head.uri.authority().map(|a| a.as_str()))
    }

    /// Whether the request came over HTTPS (Django's `is_secure()`). runserver speaks plain
    /// HTTP; behind a proxy or on Lambda it is known only from the header
    /// SECURE_PROXY_SSL_HEADER names, which counts only when that setting says the proxy is
    /// trusted: otherwise a client could claim HTTPS by sending the header itself.
    pub fn is_secure(&self) -> bool {
        // Not the URI's scheme: lambda_http builds it from X-Forwarded-Proto, which is exactly
        // the header that must not count unless the setting says so.
        match &self.site.settings().security.proxy_ssl_header {
            Some((name, value)) => self
                .header(name.as_str())
                .and_then(|v| v.split(',').next())
                .is_some_and(|first| first.trim().eq_ignore_ascii_case(value)),
            None => false,
        }
    }

    /// The name of the route that matched (`"crm:contact-detail"`), if it has one.
    pub fn route_name(&self) -> Option<&str> {
        self.route_name.as_deref()
    }

    /// A path parameter as text, already checked by its converter.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// A path parameter parsed as `T`; a missing or unparsable one is a 404, as Django's
    /// converters make a URL that does not fit a pattern not found.
    pub fn param_as<T: FromStr>(&self, name: &str) -> Result<T> {
        let raw = self
            .param(name)
            .ok_or_else(|| Error::internal(format!("the route has no path parameter named `{name}`")))?;
        raw.parse().map_err(|_| Error::not_found(format!("`{raw}` is not a valid {name}")))
    }

    /// Every path parameter in pattern order.
    pub fn params(&self) -> &[(String, String)] {
        &self.params
    }

    /// The site serving this request.
    pub fn site(&self) -> &Site {
        &self.site
    }

    /// The database connection, opened on the first query of the process and reused after;
    /// an unreachable database is a 503 for this request (Django's `connection`).
    pub async fn db(&self) -> Result<sea_orm::DatabaseConnection> {
        self.site.database().connection().await
    }

    /// The site's settings.
    pub fn settings(&self) -> &Settings {
        self.site.settings()
    }

    /// Reverses a route name with positional arguments into a path that carries this request's
    /// script prefix (Django's `reverse()`); a wrong name or argument is an error, never a broken
    /// link.
    pub fn reverse(&self, name: &str, args: &[&dyn UrlArg]) -> Result<String> {
        let path = self.site.resolver().reverse(name, args)?;
        Ok(format!("{}{path}", self.script_name))
    }

    /// Like [`reverse`](Self::reverse) with named arguments.
    pub fn reverse_kwargs(&self, name: &str, kwargs: &[(&str, &dyn UrlArg)]) -> Result<String> {
        let path = self.site.resolver().reverse_kwargs(name, kwargs)?;
        Ok(format!("{}{path}", self.script_name))
    }

    /// An absolute URL for `location` (a path on this site), as Django's `build_absolute_uri`.
    pub fn build_absolute_uri(&self, location: &str) -> String {
        let scheme = if self.is_secure() { "https" } else { "http" };
        format!("{scheme}://{}{location}", self.host().unwrap_or("localhost"))
    }
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("method", self.method())
            .field("path", &self.path())
            .field("route", &self.route_name)
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}
