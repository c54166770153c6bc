//! Routing (Django's `urlpatterns` with their views): the URL conf builder (`path()`,
//! `include()`, app namespaces), which view answers which method on a route, the route's
//! metadata, and how async view functions with extractor arguments become views.
//!
//! The patterns themselves, matching and `reverse()` are the [`urls`](crate::urls) engine's;
//! this module pairs them with views, and the handler keeps those views by route.

mod conf;
mod method;
mod view;

pub(crate) use conf::Flattened;
pub use conf::UrlConf;
pub use method::{IntoRoute, MethodRouter, any, delete, get, options, patch, post, put};
pub use view::{BoxFuture, BoxedView, FromRequest, Handler};

#[cfg(test)]
mod tests;
