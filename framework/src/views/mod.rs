//! Views: how async view functions take their arguments ([`Handler`], [`FromRequest`] and the
//! extractors), the generic [`ListView`], [`DetailView`], [`CreateView`], [`UpdateView`] and
//! [`DeleteView`], pagination, and the developer error pages.

pub(crate) mod debug;
mod edit;
mod extract;
mod generic;
pub(crate) mod handler;
mod paginator;

pub use edit::{CreateView, DeleteView, UpdateView};
pub use extract::{ClientIp, Form, FromPathParams, Json, Path, Query};
pub use generic::{DetailView, ListView};
pub use handler::{BoxFuture, BoxedView, FromRequest, Handler};
pub use paginator::{Page, Paginator};
