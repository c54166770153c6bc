//! Requests, responses, query dictionaries and cookies (Django's `django.http`).
//!
//! Both front doors (the dev server and the Lambda door) turn what they receive into one
//! `http::Request<Bytes>`, recording what only they know as request extensions ([`ScriptName`],
//! [`ClientAddr`], [`BodyTooLarge`]); the site wraps it in a [`Request`](crate::Request) for the view.

pub mod csv;
pub(crate) mod date;
mod multipart;
mod querydict;
mod response;
mod streaming;

pub(crate) use multipart::parse_body;
pub use multipart::{FormData, UploadedFile};
pub use querydict::QueryDict;
pub use response::Response;
pub use streaming::{BodyStream, StreamingBody, read_whole};

pub use ::http::{HeaderMap, Method, StatusCode, header};
pub use bytes::Bytes;
pub use cookie::time::Duration as CookieDuration;
pub use cookie::{Cookie, SameSite};

use std::net::SocketAddr;

/// The URL prefix the site is mounted under (Django's `SCRIPT_NAME`): an API Gateway stage such
/// as `/Prod`, or a base path. A front door strips it from the path before routing and records it
/// here; `reverse()`, `url()` and redirects put it back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScriptName(pub String);

/// The address of the client, as the front door saw it (the TCP peer under runserver, the source
/// IP from the request context on Lambda).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub SocketAddr);

/// The Lambda invocation a request came in (its AWS request id), set by the Lambda door: the
/// request log then writes JSON lines CloudWatch can query by field.
#[derive(Debug, Clone)]
pub struct LambdaInvocation {
    /// The invocation's request id (`Lambda-Runtime-Aws-Request-Id`).
    pub request_id: String,
}

/// Set by a front door that stopped reading a body because it passed the size limit; the body
/// size middleware answers such a request with 413.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyTooLarge;
