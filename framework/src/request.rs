//! The request a view receives, and the one value every middleware and view of a request
//! shares with the error page that may answer it (its head).

use std::borrow::Cow;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use http::{HeaderMap, Method, Uri, header};

use crate::conf::Settings;
use crate::error::{Error, ErrorKind, Result};
use crate::http::{ClientAddr, FormData, QueryDict, ScriptName, UploadedFile};
use crate::site::Site;
use crate::site::state::SharedTypeMap;
use crate::urls::{ResolverMatch, UrlArg};

/// The request a view receives (Django's `HttpRequest`): method, path, headers, the buffered
/// body, what the URL resolver found (the route, its metadata and its path parameters), and
/// the values the middleware attached (the session, the user).
///
/// The same `Request` arrives whichever front door the request came through; what only a door
/// knows (the stage prefix, the client address, the Lambda context) is recorded on it.
pub struct Request {
    head: Arc<Head>,
    body: Bytes,
    query: OnceLock<QueryDict>,
    form: OnceLock<std::result::Result<FormData, (ErrorKind, String)>>,
}

/// Everything of a request but its body, shared (one `Arc`) by the middleware and the view
/// that handle it and the error page that may answer it: Django's request object, whose
/// attributes every step sees. Changing the method, URI, headers or extensions after the
/// handler has started copies it (they are the client's; middleware rarely rewrites them).
#[derive(Clone)]
struct Head {
    parts: http::request::Parts,
    site: Site,
    script_name: String,
    resolution: Resolution,
    /// What middleware and views attach as the request goes (`request.session`, `request.user`).
    locals: Arc<SharedTypeMap>,
}

/// What the handler made of a request's path, once, before any middleware ran.
#[derive(Clone, Debug)]
pub(crate) enum Resolution {
    /// A route matched (its view may still refuse the method).
    Route(ResolverMatch),
    /// A file under STATIC_URL: static files come before any route.
    Static,
    /// No route matches as it is; with a slash appended one does (APPEND_SLASH).
    AppendSlash,
    /// No route matches.
    NotFound,
}

/// A request without its body, kept to answer it when whatever took the request failed: the
/// error page then knows the path, the route, the session and the user as they were.
#[derive(Clone)]
pub(crate) struct RequestHead(Arc<Head>);

impl RequestHead {
    /// A request for the error page: this head with an empty body.
    pub(crate) fn into_request(self) -> Request {
        Request { head: self.0, body: Bytes::new(), query: OnceLock::new(), form: OnceLock::new() }
    }
}

/// The (name, value) pairs of one `Cookie` header line, values percent-decoded; malformed pairs
/// are skipped. Names are taken as sent: a browser keeps `%73essionid` apart from `sessionid`
/// (and applies the `__Host-` rules to the name as sent), so a decoded name could pose as
/// another cookie.
pub(crate) fn cookie_pairs(line: &str) -> impl Iterator<Item = (String, String)> + '_ {
    raw_cookie_pairs(line).map(|(name, value)| (name.to_owned(), decode_cookie_value(value)))
}

/// The (name, value) pairs of one `Cookie` header line as sent, borrowed: `;`-separated,
/// whitespace around names and values dropped, pieces without `=` or with an empty name
/// skipped (as the `cookie` crate splits them). Borrowing matters: a page reads several
/// cookies, and the session's is long.
fn raw_cookie_pairs(line: &str) -> impl Iterator<Item = (&str, &str)> {
    line.split(';').filter_map(|piece| {
        let (name, value) = piece.split_once('=')?;
        let name = name.trim();
        (!name.is_empty()).then(|| (name, value.trim()))
    })
}

fn decode_cookie_value(value: &str) -> String {
    percent_encoding::percent_decode_str(value).decode_utf8_lossy().into_owned()
}

impl Request {
    /// The site's request for what a front door received; `resolution` is the handler's.
    pub(crate) fn new(req: http::Request<Bytes>, site: Site, resolution: Resolution) -> Self {
        let (parts, body) = req.into_parts();
        let script_name = match site.settings().force_script_name.as_deref() {
            Some(forced) => forced.to_owned(),
            None => parts.extensions.get::<ScriptName>().map(|s| s.0.clone()).unwrap_or_default(),
        };
        let head = Head { parts, site, script_name, resolution, locals: Arc::default() };
        Request { head: Arc::new(head), body, query: OnceLock::new(), form: OnceLock::new() }
    }

    /// The head, shared: what answers this request if the step it goes to fails.
    pub(crate) fn head(&self) -> RequestHead {
        RequestHead(self.head.clone())
    }

    /// What the handler made of the path.
    pub(crate) fn resolution(&self) -> &Resolution {
        &self.head.resolution
    }

    fn parts(&self) -> &http::request::Parts {
        &self.head.parts
    }

    fn parts_mut(&mut self) -> &mut http::request::Parts {
        &mut Arc::make_mut(&mut self.head).parts
    }

    /// The HTTP method.
    pub fn method(&self) -> &Method {
        &self.parts().method
    }

    /// The request URI as routed (without the script prefix).
    pub fn uri(&self) -> &Uri {
        &self.parts().uri
    }

    /// The path the URL conf matched, without the script prefix (Django's `path_info`).
    pub fn path_info(&self) -> &str {
        self.parts().uri.path()
    }

    /// The full path the client asked for, script prefix included (Django's `request.path`).
    pub fn path(&self) -> Cow<'_, str> {
        if self.head.script_name.is_empty() {
            Cow::Borrowed(self.path_info())
        } else {
            Cow::Owned(format!("{}{}", self.head.script_name, self.path_info()))
        }
    }

    /// The full path with the query string, as Django's `get_full_path()`.
    pub fn full_path(&self) -> Cow<'_, str> {
        match self.parts().uri.query() {
            Some(q) if !q.is_empty() => Cow::Owned(format!("{}?{q}", self.path())),
            _ => self.path(),
        }
    }

    /// The prefix the site is mounted under (`""` at the root, `/Prod` under a REST API stage).
    pub fn script_name(&self) -> &str {
        &self.head.script_name
    }

    /// The raw query string (without `?`), empty when there is none.
    pub fn query_string(&self) -> &str {
        self.parts().uri.query().unwrap_or("")
    }

    /// The query string as a [`QueryDict`] (Django's `request.GET`).
    pub fn query(&self) -> &QueryDict {
        self.query.get_or_init(|| QueryDict::parse(self.query_string()))
    }

    /// The request headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.parts().headers
    }

    /// The request headers, for middleware that rewrites them.
    pub fn headers_mut(&mut self) -> &mut HeaderMap {
        &mut self.parts_mut().headers
    }

    /// One header as text; `None` when absent or not visible ASCII.
    pub fn header(&self, name: impl header::AsHeaderName) -> Option<&str> {
        self.parts().headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Typed values the front door attached to the request ([`ScriptName`], [`ClientAddr`],
    /// [`LambdaInvocation`](crate::http::LambdaInvocation)…).
    pub fn extensions(&self) -> &http::Extensions {
        &self.parts().extensions
    }

    /// Mutable access to the request's extensions. Values that middleware attach for the view
    /// belong in [`set_local`](Self::set_local), which every later step and the error page see.
    pub fn extensions_mut(&mut self) -> &mut http::Extensions {
        &mut self.parts_mut().extensions
    }

    /// A value of type `T` attached to this request by [`set_local`](Self::set_local): the
    /// session, the user and the messages are kept this way by their apps (Django's request
    /// attributes). Values are handles, cloned out.
    pub fn local<T: Clone + Send + Sync + 'static>(&self) -> Option<T> {
        self.head.locals.get::<T>()
    }

    /// Attaches `value` to this request for every step after this one: the middleware inside
    /// this one, the view, and the error page if one of them fails. One value per type.
    pub fn set_local<T: Clone + Send + Sync + 'static>(&self, value: T) {
        self.head.locals.insert(value);
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
    fn parsed_form(&self) -> &std::result::Result<FormData, (ErrorKind, String)> {
        self.form.get_or_init(|| {
            crate::http::parse_body(self.header(header::CONTENT_TYPE), &self.body, &self.settings().upload_dir())
        })
    }

    /// The body as form data: urlencoded or multipart fields and uploaded files (Django's
    /// `request.POST` and `request.FILES`); empty without a body. A body of another type is a
    /// 415, a malformed multipart body a 400.
    pub fn form_data(&self) -> Result<&FormData> {
        let form_type =
            matches!(self.content_type().as_deref(), Some("application/x-www-form-urlencoded" | "multipart/form-data"));
        if !form_type && !self.body().is_empty() {
            return Err(Error::new(
                ErrorKind::UnsupportedMediaType,
                format!(
                    "expected a form body (Content-Type: application/x-www-form-urlencoded or multipart/form-data), got {}",
                    self.content_type().unwrap_or_else(|| "no Content-Type".into())
                ),
            ));
        }
        self.parsed_form().as_ref().map_err(|(kind, why)| Error::new(kind.clone(), why.clone()))
    }

    /// The files uploaded with a multipart body.
    pub fn files(&self) -> &[(String, UploadedFile)] {
        match self.parsed_form() {
            Ok(data) => &data.files,
            Err(_) => &[],
        }
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
        self.cookie_lines().flat_map(raw_cookie_pairs).find(|(k, _)| *k == name).map(|(_, v)| decode_cookie_value(v))
    }

    /// Every cookie the client sent, as (name, value), the values percent-decoded. Malformed
    /// pairs are skipped.
    pub fn cookies(&self) -> impl Iterator<Item = (String, String)> + '_ {
        self.cookie_lines().flat_map(cookie_pairs)
    }

    fn cookie_lines(&self) -> impl Iterator<Item = &str> {
        self.parts().headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok())
    }

    /// The client's address, when the front door knows it.
    pub fn client_addr(&self) -> Option<SocketAddr> {
        self.parts().extensions.get::<ClientAddr>().map(|a| a.0)
    }

    /// The host the client asked for (`Host` header, or the URI authority), without validation;
    /// the ALLOWED_HOSTS middleware has already refused hosts the site does not serve.
    pub fn host(&self) -> Option<&str> {
        self.header(header::HOST).or_else(|| self.parts().uri.authority().map(|a| a.as_str()))
    }

    /// Whether the request came over HTTPS (Django's `is_secure()`). runserver speaks plain
    /// HTTP; behind a proxy or on Lambda it is known only from the header
    /// SECURE_PROXY_SSL_HEADER names, which counts only when that setting says the proxy is
    /// trusted: otherwise a client could claim HTTPS by sending the header itself.
    pub fn is_secure(&self) -> bool {
        // Not the URI's scheme: lambda_http builds it from X-Forwarded-Proto, which is exactly
        // the header that must not count unless the setting says so.
        match &self.settings().security.proxy_ssl_header {
            Some((name, value)) => self
                .header(name.as_str())
                .and_then(|v| v.split(',').next())
                .is_some_and(|first| first.trim().eq_ignore_ascii_case(value)),
            None => false,
        }
    }

    /// What the URL resolver matched (Django's `request.resolver_match`), resolved once before
    /// any middleware ran; `None` for a static file or a path no route matches.
    pub fn resolver_match(&self) -> Option<&ResolverMatch> {
        match &self.head.resolution {
            Resolution::Route(m) => Some(m),
            _ => None,
        }
    }

    /// The matched route's metadata of type `T` (see
    /// [`MethodRouter::with_meta`](crate::routing::MethodRouter::with_meta)).
    pub fn route_meta<T: Send + Sync + 'static>(&self) -> Option<&T> {
        self.resolver_match().and_then(|m| m.route().meta::<T>())
    }

    /// The name of the route that matched (`"crm:contact-detail"`), if it has one.
    pub fn route_name(&self) -> Option<&str> {
        self.resolver_match().and_then(|m| m.route().name())
    }

    /// A path parameter as text, already checked by its converter.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params().iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
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
        self.resolver_match().map(|m| m.params()).unwrap_or(&[])
    }

    /// The site serving this request.
    pub fn site(&self) -> &Site {
        &self.head.site
    }

    /// The value of type `T` an app keeps on the site (see [`Site::state`]).
    pub fn state<T: Send + Sync + 'static>(&self) -> Option<&T> {
        self.head.site.state::<T>()
    }

    /// The database connection, opened on the first query of the process and reused after;
    /// an unreachable database is a 503 for this request (Django's `connection`).
    pub async fn db(&self) -> Result<sea_orm::DatabaseConnection> {
        self.head.site.database().connection().await
    }

    /// The site's settings.
    pub fn settings(&self) -> &Settings {
        self.head.site.settings()
    }

    /// Reverses a route name with positional arguments into a path that carries this request's
    /// script prefix (Django's `reverse()`); a wrong name or argument is an error, never a broken
    /// link.
    pub fn reverse(&self, name: &str, args: &[&dyn UrlArg]) -> Result<String> {
        let path = self.site().resolver().reverse(name, args)?;
        Ok(format!("{}{path}", self.script_name()))
    }

    /// Like [`reverse`](Self::reverse) with named arguments.
    pub fn reverse_kwargs(&self, name: &str, kwargs: &[(&str, &dyn UrlArg)]) -> Result<String> {
        let path = self.site().resolver().reverse_kwargs(name, kwargs)?;
        Ok(format!("{}{path}", self.script_name()))
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
            .field("route", &self.route_name())
            .field("params", &self.params())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::cookie_pairs;

    #[test]
    fn cookie_names_are_taken_as_sent_and_values_decoded() {
        // A browser keeps `%73essionid` and `sessionid` apart (and applies the `__Host-` rules
        // to the name as sent), so decoding names would let one cookie pose as another.
        let pairs: Vec<(String, String)> =
            cookie_pairs("%73essionid=forged; sessionid=real; theme=dark%20blue").collect();
        assert_eq!(
            pairs,
            [
                ("%73essionid".into(), "forged".into()),
                ("sessionid".into(), "real".into()),
                ("theme".into(), "dark blue".into())
            ]
        );
        assert!(cookie_pairs("%3due=1").all(|(name, _)| !name.contains('=')));
    }

    #[test]
    fn cookie_lines_split_as_the_cookie_crate_splits_them() {
        for line in [
            "a=1; b=2",
            " a = 1 ;;  ; b=  two words ; =nameless; novalue; c=; d==x=; e=\"quoted\"",
            "sessionid=abc:def; csrftoken=tok%3Den; \tf=g\t",
            "",
            ";",
            "x",
        ] {
            let ours: Vec<(String, String)> = cookie_pairs(line).collect();
            let theirs: Vec<(String, String)> = cookie::Cookie::split_parse(line)
                .filter_map(|c| c.ok())
                .map(|c| (c.name().to_owned(), super::decode_cookie_value(c.value())))
                .collect();
            assert_eq!(ours, theirs, "{line:?}");
        }
    }
}
