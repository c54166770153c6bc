//! Views: how async view functions take their arguments ([`Handler`], [`FromRequest`] and the
//! extractors), and the developer error pages.

pub(crate) mod debug;
mod extract;
pub(crate) mod handler;

pub use extract::{ClientIp, Form, FromPathParams, Json, Path, Query};
pub use handler::{BoxFuture, FromRequest, Handler};
