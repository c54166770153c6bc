//! The request-path error type: what a view, an extractor or a middleware returns when it cannot
//! produce its response, and which the site turns into the matching error page.

use std::borrow::Cow;
use std::error::Error as StdError;
use std::fmt;

use http::StatusCode;

/// `Result` with djambda's [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What kind of failure an [`Error`] is; it decides the status code and the error page.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Django's `Http404`: the page or object does not exist.
    NotFound,
    /// Django's `PermissionDenied`: 403.
    PermissionDenied,
    /// Django's `BadRequest` / `SuspiciousOperation`: 400.
    BadRequest,
    /// The route exists but not for this method; carries the methods it takes (for `Allow`).
    MethodNotAllowed(Vec<http::Method>),
    /// The request body is larger than `DATA_UPLOAD_MAX_MEMORY_SIZE` allows: 413.
    PayloadTooLarge,
    /// The request body has a content type the view cannot read: 415.
    UnsupportedMediaType,
    /// A dependency (such as the database) is unavailable right now: 503.
    ServiceUnavailable,
    /// Anything else: a bug or a failure the client cannot fix. 500, with the error chain shown
    /// on the developer page when DEBUG is on.
    Internal,
}

impl ErrorKind {
    /// The HTTP status this kind of error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::PermissionDenied => StatusCode::FORBIDDEN,
            ErrorKind::BadRequest => StatusCode::BAD_REQUEST,
            ErrorKind::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ErrorKind::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorKind::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorKind::ServiceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// The error a view returns. Any `std::error::Error` converts into an internal (500) error with
/// its source chain kept, so `?` works on whatever a view calls; the constructors make the
/// client-facing kinds.
///
/// ```
/// use djambda::{Error, Result};
///
/// fn find(pk: i32) -> Result<&'static str> {
///     match pk {
///         1 => Ok("Ada"),
///         _ => Err(Error::not_found(format!("no contact with id {pk}"))),
///     }
/// }
/// assert_eq!(find(2).unwrap_err().status(), http::StatusCode::NOT_FOUND);
/// ```
pub struct Error {
    kind: ErrorKind,
    message: Cow<'static, str>,
    source: Option<Box<dyn StdError + Send + Sync + 'static>>,
    page: Option<Box<(Cow<'static, str>, tera::Context)>>,
}

impl Error {
    /// An error of the given kind with a message for the developer (and, for 4xx, the user).
    pub fn new(kind: ErrorKind, message: impl Into<Cow<'static, str>>) -> Self {
        Error { kind, message: message.into(), source: None, page: None }
    }

    /// Answers this error with a page of its own, with or without DEBUG: `template` rendered
    /// with `context` besides the values every error page gets (`status`, `reason`,
    /// `exception`). CSRF's failure page is one.
    ///
    /// ```
    /// use djambda::Error;
    ///
    /// let refused = Error::permission_denied("CSRF cookie not set.")
    ///     .with_page("403_csrf.html", djambda::context! { no_cookie: true });
    /// assert_eq!(refused.page().map(|(template, _)| template), Some("403_csrf.html"));
    /// ```
    pub fn with_page(mut self, template: impl Into<Cow<'static, str>>, context: tera::Context) -> Self {
        self.page = Some(Box::new((template.into(), context)));
        self
    }

    /// The page of its own this error is answered with, if it has one.
    pub fn page(&self) -> Option<(&str, &tera::Context)> {
        self.page.as_deref().map(|(t, c)| (t.as_ref(), c))
    }

    /// Django's `raise Http404(message)`.
    pub fn not_found(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }

    /// Django's `raise PermissionDenied(message)`.
    pub fn permission_denied(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorKind::PermissionDenied, message)
    }

    /// Django's `raise BadRequest(message)`.
    pub fn bad_request(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorKind::BadRequest, message)
    }

    /// A 500 with a message; prefer `?` on the underlying error, which keeps its chain.
    pub fn internal(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }

    /// Wraps `source` with a message that says what was being done, keeping the chain.
    pub fn with_source(
        kind: ErrorKind,
        message: impl Into<Cow<'static, str>>,
        source: impl Into<Box<dyn StdError + Send + Sync + 'static>>,
    ) -> Self {
        Error { kind, message: message.into(), source: Some(source.into()), page: None }
    }

    /// The kind of failure.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// The status code the error page is sent with.
    pub fn status(&self) -> StatusCode {
        self.kind.status()
    }

    /// The top-level message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The underlying error, if any.
    pub fn source(&self) -> Option<&(dyn StdError + Send + Sync + 'static)> {
        self.source.as_deref()
    }

    /// The messages from this error down its source chain, outermost first.
    pub fn chain(&self) -> Vec<String> {
        let mut out = vec![self.message.to_string()];
        let mut next: Option<&(dyn StdError + 'static)> = match &self.source {
            Some(s) => Some(s.as_ref()),
            None => None,
        };
        while let Some(err) = next {
            let text = err.to_string();
            if out.last() != Some(&text) {
                out.push(text);
            }
            next = err.source();
        }
        out
    }

    /// Finds an error of type `E` in the source chain (say, a template error for its line).
    pub fn find_source<E: StdError + 'static>(&self) -> Option<&E> {
        let mut next: Option<&(dyn StdError + 'static)> = match &self.source {
            Some(s) => Some(s.as_ref()),
            None => None,
        };
        while let Some(err) = next {
            if let Some(found) = err.downcast_ref::<E>() {
                return Some(found);
            }
            next = err.source();
        }
        None
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.chain().join(": "))
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Error({:?}: {})", self.kind, self)
    }
}

impl<E: StdError + Send + Sync + 'static> From<E> for Error {
    fn from(err: E) -> Self {
        // The chain de-duplicates the repeated top message, so keeping `err` as the source loses
        // nothing and lets the debug page reach typed errors (a template's line, say).
        // A database that cannot be reached is the server's trouble but not a bug: 503.
        // A busy one (a lock held past the timeout) is the same for the client: retry later.
        let any: &dyn std::any::Any = &err;
        let (kind, message) = match any.downcast_ref::<sea_orm::DbErr>() {
            Some(db_err) if is_busy_error(db_err) => (
                ErrorKind::ServiceUnavailable,
                Cow::Borrowed(
                    "the database is busy: another connection held a lock past the busy timeout \
                     (SQLITE_BUSY_TIMEOUT on SQLite), or a conflicting transaction won; nothing was saved",
                ),
            ),
            Some(db_err) if is_connection_error(db_err) => (ErrorKind::ServiceUnavailable, err.to_string().into()),
            _ => (ErrorKind::Internal, err.to_string().into()),
        };
        Error { kind, message, source: Some(Box::new(err)), page: None }
    }
}

/// Adds a "what was being done" message to any failure, like anyhow's `context`.
///
/// ```
/// use djambda::{Result, ResultExt};
///
/// fn port(s: &str) -> Result<u16> {
///     s.parse::<u16>().context("reading the port number")
/// }
/// assert!(port("x").unwrap_err().to_string().starts_with("reading the port number"));
/// ```
pub trait ResultExt<T> {
    /// Wraps the error as an internal error whose message is `message`.
    fn context(self, message: impl Into<Cow<'static, str>>) -> Result<T>;
}

impl<T, E: StdError + Send + Sync + 'static> ResultExt<T> for std::result::Result<T, E> {
    fn context(self, message: impl Into<Cow<'static, str>>) -> Result<T> {
        self.map_err(|e| Error::with_source(ErrorKind::Internal, message, e))
    }
}

/// Whether a sea-orm error means the database cannot be reached (503) rather than a bad query.
pub fn is_connection_error(err: &sea_orm::DbErr) -> bool {
    use sea_orm::RuntimeErr;
    match err {
        sea_orm::DbErr::Conn(_) | sea_orm::DbErr::ConnectionAcquire(_) => true,
        sea_orm::DbErr::Exec(RuntimeErr::SqlxError(e)) | sea_orm::DbErr::Query(RuntimeErr::SqlxError(e)) => {
            match &**e {
                sea_orm::sqlx::Error::Io(_)
                | sea_orm::sqlx::Error::Tls(_)
                | sea_orm::sqlx::Error::PoolTimedOut
                | sea_orm::sqlx::Error::PoolClosed
                | sea_orm::sqlx::Error::WorkerCrashed => true,
                // The server ended the session under the query: an administrator's
                // pg_terminate_backend, a shutdown or a crash (SQLSTATE 57P01-57P03), or the
                // connection failed (class 08). The pool drops that connection; a retry gets another.
                sea_orm::sqlx::Error::Database(db)
                    if db.try_downcast_ref::<sea_orm::sqlx::sqlite::SqliteError>().is_none() =>
                {
                    db.code().is_some_and(|c| matches!(c.as_ref(), "57P01" | "57P02" | "57P03") || c.starts_with("08"))
                }
                _ => false,
            }
        }
        _ => false,
    }
}

/// Whether a sea-orm error means the database was busy: SQLite's `SQLITE_BUSY`/`SQLITE_LOCKED`
/// (another connection held its lock past the busy timeout), or a serialization failure, a
/// deadlock or a lock timeout on PostgreSQL and MySQL. Nothing was written; the same request
/// can succeed a moment later (503 with Retry-After).
pub fn is_busy_error(err: &sea_orm::DbErr) -> bool {
    use sea_orm::RuntimeErr;
    let sqlx = match err {
        sea_orm::DbErr::Exec(RuntimeErr::SqlxError(e)) | sea_orm::DbErr::Query(RuntimeErr::SqlxError(e)) => e,
        sea_orm::DbErr::Conn(RuntimeErr::SqlxError(e)) => e,
        _ => return false,
    };
    let sea_orm::sqlx::Error::Database(db) = &**sqlx else { return false };
    let Some(code) = db.code() else { return false };
    if db.try_downcast_ref::<sea_orm::sqlx::sqlite::SqliteError>().is_some() {
        // The extended result code: its low byte is the primary code (5 BUSY, 6 LOCKED).
        return code.parse::<i32>().is_ok_and(|c| matches!(c & 0xff, 5 | 6));
    }
    // SQLSTATE: serialization failure (MySQL reports deadlocks so), PostgreSQL's deadlock and
    // lock timeout.
    matches!(code.as_ref(), "40001" | "40P01" | "55P03")
}

/// Whether a sea-orm error is the database's momentary unavailability (unreachable or busy)
/// rather than a refused change: a 503 the client may retry, never a form error.
pub fn is_unavailable(err: &sea_orm::DbErr) -> bool {
    is_connection_error(err) || is_busy_error(err)
}
