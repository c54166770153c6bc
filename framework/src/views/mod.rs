//! Views: the extractors view functions take ([`Path`], [`Query`], [`Json`], [`Form`]…), the
//! generic [`ListView`], [`DetailView`], [`CreateView`], [`UpdateView`] and [`DeleteView`],
//! and pagination. How a function becomes a view ([`Handler`], [`FromRequest`]) is
//! [`routing`](crate::routing)'s, re-exported here.

mod edit;
mod extract;
mod generic;
mod paginator;

pub use crate::routing::{BoxFuture, BoxedView, FromRequest, Handler};
pub use edit::{CreateView, DeleteView, UpdateView};
pub use extract::{ClientIp, Form, FromPathParams, Json, Path, Query};
pub use generic::{DetailView, ListView};
pub use paginator::{Page, Paginator};
