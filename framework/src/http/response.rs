use bytes::Bytes;
use http::header::{self, HeaderName, HeaderValue};
use http::{HeaderMap, StatusCode};

use super::streaming::{BodyStream, StreamingBody};
use crate::error::{Error, Result};

/// The response a view returns (Django's `HttpResponse`): a status, headers and a whole body,
/// or, made with [`streaming`](Self::streaming), a body sent as it is produced (Django's
/// `StreamingHttpResponse`).
///
/// Bodies are buffered unless a view streams them: a Lambda response is one payload anyway,
/// and a whole body lets the common-headers middleware set an exact `Content-Length`.
///
/// ```
/// use djambda::http::Response;
/// use http::StatusCode;
///
/// let r = Response::html("<h1>Hi</h1>").with_status(StatusCode::CREATED).with_header("x-demo", "1");
/// assert_eq!(r.status(), StatusCode::CREATED);
/// assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
/// ```
#[derive(Debug, Clone)]
pub struct Response {
    inner: http::Response<Bytes>,
}

/// What a cookie value may not hold as it is (RFC 6265's cookie-octet leaves out controls,
/// space, `"`, `,`, `;` and `\\`), plus `%`, so that decoding gives back what was set.
const COOKIE_VALUE: &percent_encoding::AsciiSet =
    &percent_encoding::CONTROLS.add(b' ').add(b'"').add(b',').add(b';').add(b'\\').add(b'%');

impl Response {
    /// Adds `value` to the `Vary` header unless it is there already (Django's
    /// `patch_vary_headers`): a response that read the session varies by `Cookie`.
    pub fn patch_vary(&mut self, value: &str) {
        let current = self.header(header::VARY).unwrap_or("").to_owned();
        if current.split(',').any(|v| v.trim().eq_ignore_ascii_case(value) || v.trim() == "*") {
            return;
        }
        let joined = if current.trim().is_empty() { value.to_owned() } else { format!("{current}, {value}") };
        self.set_header(header::VARY, &joined);
    }

    /// A response with a status and a body, and no headers yet.
    pub fn new(status: StatusCode, body: impl Into<Bytes>) -> Self {
        let mut inner = http::Response::new(body.into());
        *inner.status_mut() = status;
        Response { inner }
    }

    /// 200 with a body of the given content type (files, images, CSV…).
    pub fn bytes(content_type: &str, body: impl Into<Bytes>) -> Self {
        let mut r = Self::new(StatusCode::OK, body);
        r.set_header(header::CONTENT_TYPE, content_type);
        r
    }

    /// 200 with a body produced chunk by chunk while it is sent (Django's
    /// `StreamingHttpResponse`), for downloads that grow with the data: runserver sends each
    /// chunk as it comes (chunked, no `Content-Length`); the Lambda door, whose response is one
    /// payload, reads it whole up to the integration's limit. A chunk that fails (or panics)
    /// ends the body early, so the client sees a cut-off download rather than a
    /// complete-looking one; an HTTP/1.0 client, which has no chunks, gets it whole (up to the
    /// Lambda door's 6 MB) or a 500.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use djambda::http::Response;
    ///
    /// let rows = futures_util::stream::iter((1..=3).map(|n| Ok(Bytes::from(format!("{n}\r\n")))));
    /// let resp = Response::streaming("text/csv; charset=utf-8", rows);
    /// assert!(resp.is_streaming() && resp.body().is_empty());
    /// ```
    pub fn streaming(
        content_type: &str,
        stream: impl futures_util::Stream<Item = Result<Bytes>> + Send + 'static,
    ) -> Self {
        let mut r = Self::bytes(content_type, Bytes::new());
        r.inner.extensions_mut().insert(StreamingBody::guarded(Box::pin(stream)));
        r
    }

    /// Whether the body is streamed (then [`body`](Self::body) is empty).
    pub fn is_streaming(&self) -> bool {
        self.inner.extensions().get::<StreamingBody>().is_some()
    }

    /// Replaces a streamed body with `f` of it (compression wraps the stream this way).
    pub(crate) fn map_stream(&mut self, f: impl FnOnce(BodyStream) -> BodyStream) {
        if let Some(stream) = self.inner.extensions_mut().remove::<StreamingBody>().and_then(|s| s.take()) {
            self.inner.extensions_mut().insert(StreamingBody::new(f(stream)));
        }
    }

    /// 200 `text/html; charset=utf-8`.
    pub fn html(body: impl Into<Bytes>) -> Self {
        Self::bytes("text/html; charset=utf-8", body)
    }

    /// 200 `text/plain; charset=utf-8`.
    pub fn text(body: impl Into<Bytes>) -> Self {
        Self::bytes("text/plain; charset=utf-8", body)
    }

    /// 200 `application/json` with `value` serialised (Django's `JsonResponse`).
    pub fn json<T: serde::Serialize + ?Sized>(value: &T) -> Result<Self> {
        let body = serde_json::to_vec(value)
            .map_err(|e| Error::with_source(crate::ErrorKind::Internal, "could not serialise the JSON response", e))?;
        Ok(Self::bytes("application/json", body))
    }

    /// 302 to `location`, a URL or path taken as given (see [`crate::shortcuts::redirect`] to
    /// redirect by route name).
    pub fn redirect(location: &str) -> Self {
        Self::redirect_with(StatusCode::FOUND, location)
    }

    /// 301 to `location`.
    pub fn permanent_redirect(location: &str) -> Self {
        Self::redirect_with(StatusCode::MOVED_PERMANENTLY, location)
    }

    /// A redirect with a chosen 3xx status.
    pub fn redirect_with(status: StatusCode, location: &str) -> Self {
        let mut r = Self::new(status, Bytes::new());
        match HeaderValue::from_str(location) {
            Ok(v) => {
                r.inner.headers_mut().insert(header::LOCATION, v);
            }
            // A location with bytes a header cannot carry is percent-encoded rather than dropped.
            Err(_) => {
                let enc = percent_encoding::utf8_percent_encode(location, percent_encoding::CONTROLS).to_string();
                if let Ok(v) = HeaderValue::from_str(&enc) {
                    r.inner.headers_mut().insert(header::LOCATION, v);
                }
            }
        }
        r
    }

    /// An empty response with a status (204, 304…).
    pub fn empty(status: StatusCode) -> Self {
        Self::new(status, Bytes::new())
    }

    /// The status code.
    pub fn status(&self) -> StatusCode {
        self.inner.status()
    }

    /// Changes the status code.
    pub fn set_status(&mut self, status: StatusCode) {
        *self.inner.status_mut() = status;
    }

    /// Builder form of [`set_status`](Self::set_status).
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.set_status(status);
        self
    }

    /// The headers.
    pub fn headers(&self) -> &HeaderMap {
        self.inner.headers()
    }

    /// Mutable headers.
    pub fn headers_mut(&mut self) -> &mut HeaderMap {
        self.inner.headers_mut()
    }

    /// One header as text.
    pub fn header(&self, name: impl header::AsHeaderName) -> Option<&str> {
        self.inner.headers().get(name).and_then(|v| v.to_str().ok())
    }

    /// Sets a header, replacing earlier values. A name or value that is not valid in HTTP is a
    /// programming error in the view, logged and skipped rather than sent broken.
    pub fn set_header(&mut self, name: impl TryInto<HeaderName>, value: &str) {
        match (name.try_into(), HeaderValue::from_str(value)) {
            (Ok(n), Ok(v)) => {
                self.inner.headers_mut().insert(n, v);
            }
            _ => tracing::warn!("skipped a response header that is not valid HTTP: {value:?}"),
        }
    }

    /// Builder form of [`set_header`](Self::set_header).
    pub fn with_header(mut self, name: impl TryInto<HeaderName>, value: &str) -> Self {
        self.set_header(name, value);
        self
    }

    /// Adds a `Set-Cookie` header; several cookies each get their own header. The value is
    /// percent-encoded (it may hold `;`, spaces or any text); the name goes as it is, since
    /// requests read cookie names as sent.
    pub fn set_cookie(&mut self, cookie: cookie::Cookie<'_>) {
        let mut wire = cookie.into_owned();
        let value = percent_encoding::utf8_percent_encode(wire.value(), COOKIE_VALUE).to_string();
        wire.set_value(value);
        if let Ok(v) = HeaderValue::from_str(&wire.to_string()) {
            self.inner.headers_mut().append(header::SET_COOKIE, v);
        }
    }

    /// Builder form of [`set_cookie`](Self::set_cookie).
    pub fn with_cookie(mut self, cookie: cookie::Cookie<'_>) -> Self {
        self.set_cookie(cookie);
        self
    }

    /// Tells the client to drop a cookie (Django's `delete_cookie`).
    pub fn delete_cookie(&mut self, name: &str) {
        let mut c = cookie::Cookie::build((name.to_owned(), "")).path("/").build();
        c.make_removal();
        self.set_cookie(c);
    }

    /// The body (empty for a [streamed](Self::streaming) one).
    pub fn body(&self) -> &Bytes {
        self.inner.body()
    }

    /// Replaces the body.
    pub fn set_body(&mut self, body: impl Into<Bytes>) {
        *self.inner.body_mut() = body.into();
    }

    /// The body as text (lossy), handy in tests.
    pub fn text_body(&self) -> String {
        String::from_utf8_lossy(self.inner.body()).into_owned()
    }

    /// The `http` crate response, for a front door.
    pub fn into_http(self) -> http::Response<Bytes> {
        self.inner
    }
}

impl From<http::Response<Bytes>> for Response {
    fn from(inner: http::Response<Bytes>) -> Self {
        Response { inner }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_keep_their_name_and_encode_their_value() {
        let mut r = Response::text("");
        r.set_cookie(cookie::Cookie::build(("sid|v2", "a b;c%d é")).path("/").build());
        let sent = r.header(header::SET_COOKIE).unwrap().to_owned();
        assert!(sent.starts_with("sid|v2=a%20b%3Bc%25d%20%C3%A9"), "{sent}");
        let line = sent.split(';').next().unwrap();
        let read: Vec<(String, String)> = crate::request::cookie_pairs(line).collect();
        assert_eq!(read, [("sid|v2".to_owned(), "a b;c%d é".to_owned())], "what is set is read back");
    }
}
