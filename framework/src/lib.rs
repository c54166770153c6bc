//! # djambda
//!
//! A Django-style MTV web framework in Rust whose one compiled site runs two ways: as a local dev
//! server (`manage runserver`) and as a single AWS Lambda function.
//!
//! A URL conf ([`UrlConf`]) dispatches requests to async view functions, which render Tera
//! templates ([`shortcuts::render`]) and return a [`Response`]. A site is its installed apps
//! ([`App`]: sessions, CSRF, auth, messages, and your own) and its middleware list, assembled
//! by [`SiteBuilder`]. Both front doors (the hyper dev server in [`server`] and the Lambda door
//! in [`lambda`]) turn what they receive into one `http::Request` and call [`Site::handle`];
//! nothing above that seam knows which door a request came through. ARCHITECTURE.md, at the
//! repository's root, maps the layers.
//!
//! ```
//! use djambda::prelude::*;
//!
//! async fn contact_detail(req: Request, Path(pk): Path<i32>) -> Result<Response> {
//!     if pk != 1 {
//!         return Err(Error::not_found("no such contact"));
//!     }
//!     let back = req.reverse("crm:contact-list", &[])?;
//!     Ok(Response::html(format!("<a href=\"{back}\">all contacts</a>")))
//! }
//!
//! async fn contact_list(_req: Request) -> Result<Response> {
//!     Ok(Response::text("contacts"))
//! }
//!
//! fn crm_urls() -> UrlConf {
//!     UrlConf::app("crm")
//!         .path("contacts/", contact_list, "contact-list")
//!         .path("contacts/<int:pk>/", contact_detail, "contact-detail")
//! }
//!
//! let site = Site::builder()
//!     .settings(Settings::from_sources(Some("DEBUG = true"), |_| None).unwrap())
//!     // Django's INSTALLED_APPS
//!     .app(djambda::sessions::app())
//!     .app(djambda::csrf::app())
//!     .app(App::new("crm").urls("", crm_urls()))
//!     .build()
//!     .unwrap();
//! assert_eq!(site.reverse("crm:contact-detail", &[&7]).unwrap(), "/contacts/7/");
//! ```

#![warn(missing_docs)]

/// This djambda's version, as in its `Cargo.toml` (Django's `django.get_version()`).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

// The derive macros name `::djambda::…`, which must resolve inside this crate too.
extern crate self as djambda;

// The layers, lowest first (ARCHITECTURE.md): a module imports only from its own layer's
// lower files and from the layers below.
// Leaves.
pub mod assets;
pub mod conf;
mod error;
pub mod http;
pub mod signing;
// Engines.
pub mod db;
pub mod staticfiles;
pub mod templates;
pub mod urls;
// The core: the assembled site, the request, routing, middleware, rendering, the handler,
// and assembling a site from apps.
mod handler;
pub mod middleware;
pub mod request;
pub mod routing;
pub mod shortcuts;
pub mod site;
// Apps.
pub mod admin;
pub mod auth;
pub mod cache;
pub mod csp;
pub mod csrf;
pub mod forms;
pub mod health;
pub mod mail;
pub mod messages;
pub mod sessions;
pub mod tasks;
pub mod views;
// Doors.
pub mod lambda;
pub mod management;
pub mod server;
pub mod test;

#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;

pub use conf::{Settings, SettingsError};
pub use error::{Error, ErrorKind, Result, ResultExt};
pub use http::Response;
pub use request::Request;
pub use routing::UrlConf;
pub use site::Site;
pub use site::app::{App, AppSetup};
pub use site::builder::{ConfigError, HttpService, SiteBuilder};

/// What a site module usually needs: `use djambda::prelude::*;`.
pub mod prelude {
    pub use crate::context;
    pub use crate::forms::{Choices, Form};
    pub use crate::http::{QueryDict, Response};
    pub use crate::request::Request;
    pub use crate::routing::{UrlConf, get, post};
    pub use crate::shortcuts::{redirect, redirect_to, render};
    pub use crate::templates::Context;
    pub use crate::views::{ClientIp, Json, Path, Query};
    pub use crate::{App, Error, ErrorKind, Result, ResultExt, Settings, Site};
}

#[doc(hidden)]
pub mod __private {
    pub use rust_embed;
    pub use rust_embed::RustEmbed;
}
