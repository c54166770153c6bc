//! URL patterns (Django's `django.urls`): patterns with converters, the resolver that matches
//! a path to a route, and `reverse()`. The URL conf that lists routes with their views is
//! [`routing`](crate::routing)'s; this engine knows routes by pattern, name and metadata.
//!
//! Matching goes through matchit with one matchit route per pattern *shape* holding the patterns
//! of that shape in order, so Django's semantics hold: `items/<int:id>/` and `items/<slug:s>/`
//! can both exist and the first whose converter accepts the path wins.

mod converters;
mod pattern;
mod resolver;

pub use converters::{Converter, Converters, IntConverter, PathConverter, SlugConverter, StrConverter, UuidConverter};
pub use resolver::{Resolver, ResolverMatch, Route, RouteSpec};

use std::fmt;

/// A problem in the URL conf, found when the site is assembled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UrlConfError {
    /// A pattern that cannot be parsed or matched.
    BadPattern {
        /// The full pattern.
        pattern: String,
        /// What is wrong with it.
        why: String,
    },
    /// Two routes share a name, so `reverse()` could not tell them apart.
    DuplicateName {
        /// The name.
        name: String,
        /// The first route's pattern.
        first: String,
        /// The second route's pattern.
        second: String,
    },
    /// A pattern that conflicts with an earlier one.
    Conflict {
        /// The later pattern.
        pattern: String,
        /// Why it conflicts.
        why: String,
    },
}

impl fmt::Display for UrlConfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UrlConfError::BadPattern { pattern, why } => write!(f, "URL pattern `{pattern}`: {why}"),
            UrlConfError::DuplicateName { name, first, second } => write!(
                f,
                "the route name `{name}` is used twice (`{first}` and `{second}`); give each route its own name"
            ),
            UrlConfError::Conflict { pattern, why } => write!(f, "URL pattern `{pattern}` conflicts: {why}"),
        }
    }
}

impl std::error::Error for UrlConfError {}

/// `reverse()` could not build a path: an unknown name or arguments that do not fit the pattern
/// (Django's `NoReverseMatch`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoReverseMatch(pub String);

impl fmt::Display for NoReverseMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NoReverseMatch {}

/// A value usable as a `reverse()` argument: anything that displays as text.
pub trait UrlArg {
    /// The argument as text, before the converter checks it.
    fn to_url_arg(&self) -> String;
}

impl<T: fmt::Display + ?Sized> UrlArg for T {
    fn to_url_arg(&self) -> String {
        self.to_string()
    }
}
