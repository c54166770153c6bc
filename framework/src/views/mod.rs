//! Views: how async view functions take their arguments ([`Handler`], [`FromRequest`] and the
//! extractors), the generic [`ListView`] and [`DetailView`], pagination, and the developer error
//! pages.

pub(crate) mod debug;
mod extract;
mod generic;
pub(crate) mod handler;
mod paginator;

pub use extract::{ClientIp, Form, FromPathParams, Json, Path, Query};
pub use generic::{DetailView, ListView};
pub use handler::{BoxFuture, FromRequest, Handler};
pub use paginator::{Page, Paginator};
