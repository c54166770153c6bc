//! The site's list of middleware (Django's `MIDDLEWARE` setting).

use std::any::TypeId;
use std::sync::Arc;

use super::Middleware;

/// The middleware a site runs, outermost first (Django's `MIDDLEWARE`). It starts as the
/// default list: the framework's own (request log, security headers, common headers,
/// ALLOWED_HOSTS, body size limit), then each installed app's in install order (sessions,
/// CSRF, authentication, messages…). A site reorders, removes from or adds to it by type, so
/// a misspelt name cannot pass unnoticed; naming a middleware that is not in the list stops
/// the site from being built, with the list in the message.
///
/// ```
/// use djambda::prelude::*;
/// use djambda::middleware::{Compression, RequestLog, SecurityMiddleware};
///
/// let site = Site::builder()
///     .settings(Settings::from_sources(Some("DEBUG = true"), |_| None).unwrap())
///     .middleware(Compression::default())
///     .middleware_list(|list| {
///         list.remove::<RequestLog>().move_before::<Compression, SecurityMiddleware>();
///     })
///     .build()
///     .unwrap();
/// assert_eq!(
///     site.middleware_names().first().copied(),
///     Some("djambda::middleware::gzip::Compression")
/// );
/// ```
#[derive(Default)]
pub struct MiddlewareList {
    entries: Vec<Entry>,
    problems: Vec<String>,
}

/// A middleware with its type's name.
pub(crate) type Named = (&'static str, Arc<dyn Middleware>);

struct Entry {
    type_id: TypeId,
    name: &'static str,
    middleware: Arc<dyn Middleware>,
    /// The middleware this one needs before it (outside it), as auth's needs the session's.
    after: Option<(TypeId, &'static str)>,
}

impl Entry {
    fn of<M: Middleware>(m: M) -> Self {
        Entry { type_id: TypeId::of::<M>(), name: std::any::type_name::<M>(), middleware: Arc::new(m), after: None }
    }
}

impl MiddlewareList {
    fn position<T: Middleware>(&self) -> Option<usize> {
        self.entries.iter().position(|e| e.type_id == TypeId::of::<T>())
    }

    fn missing<T: Middleware>(&mut self, doing: &str) {
        let names: Vec<&str> = self.names().collect();
        self.problems.push(format!(
            "MIDDLEWARE: cannot {doing} {}: it is not in the list ({}); install the app that brings it, \
             or add it with SiteBuilder::middleware",
            std::any::type_name::<T>(),
            names.join(", ")
        ));
    }

    /// Adds `m` last (innermost: it runs just around the view).
    pub fn append(&mut self, m: impl Middleware) -> &mut Self {
        self.entries.push(Entry::of(m));
        self
    }

    /// Adds `m` first (outermost).
    pub fn prepend(&mut self, m: impl Middleware) -> &mut Self {
        self.entries.insert(0, Entry::of(m));
        self
    }

    /// Adds `m` just before (outside) the middleware of type `T`.
    pub fn insert_before<T: Middleware>(&mut self, m: impl Middleware) -> &mut Self {
        match self.position::<T>() {
            Some(i) => self.entries.insert(i, Entry::of(m)),
            None => self.missing::<T>("insert before"),
        }
        self
    }

    /// Adds `m` just after (inside) the middleware of type `T`.
    pub fn insert_after<T: Middleware>(&mut self, m: impl Middleware) -> &mut Self {
        match self.position::<T>() {
            Some(i) => self.entries.insert(i + 1, Entry::of(m)),
            None => self.missing::<T>("insert after"),
        }
        self
    }

    /// Removes the middleware of type `T`.
    pub fn remove<T: Middleware>(&mut self) -> &mut Self {
        match self.position::<T>() {
            Some(i) => {
                self.entries.remove(i);
            }
            None => self.missing::<T>("remove"),
        }
        self
    }

    /// Moves the middleware of type `T` just before (outside) the one of type `U`.
    pub fn move_before<T: Middleware, U: Middleware>(&mut self) -> &mut Self {
        let Some(from) = self.position::<T>() else {
            self.missing::<T>("move");
            return self;
        };
        let entry = self.entries.remove(from);
        match self.position::<U>() {
            Some(to) => self.entries.insert(to, entry),
            None => {
                self.entries.insert(from, entry);
                self.missing::<U>("move a middleware before");
            }
        }
        self
    }

    /// Whether the middleware of type `T` is in the list.
    pub fn contains<T: Middleware>(&self) -> bool {
        self.position::<T>().is_some()
    }

    /// The type names of the middleware, outermost first.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.entries.iter().map(|e| e.name)
    }

    /// Adds `m` last, saying that it needs the middleware of type `T` before it (outside it):
    /// the default list puts it after `T` whatever the order the apps were installed in, and a
    /// list without `T`, or with `T` after it, stops the site from being built.
    pub fn append_after<T: Middleware>(&mut self, m: impl Middleware) -> &mut Self {
        let mut entry = Entry::of(m);
        entry.after = Some((TypeId::of::<T>(), std::any::type_name::<T>()));
        self.entries.push(entry);
        self
    }

    /// Moves each middleware that needs another before it to just after that one, keeping the
    /// order of the rest (the default list, whatever the apps' install order).
    pub(crate) fn place_after_needs(&mut self) {
        for _ in 0..self.entries.len() {
            let late = self.entries.iter().enumerate().find_map(|(i, e)| {
                let (need, _) = e.after?;
                let at = self.entries.iter().position(|o| o.type_id == need)?;
                (at > i).then_some((i, at))
            });
            let Some((from, to)) = late else { return };
            let entry = self.entries.remove(from);
            self.entries.insert(to, entry);
        }
    }

    /// What is wrong with the order: a middleware whose need is missing or after it.
    fn order_problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (i, e) in self.entries.iter().enumerate() {
            let Some((need, need_name)) = e.after else { continue };
            match self.entries.iter().position(|o| o.type_id == need) {
                None => out.push(format!(
                    "MIDDLEWARE: {} needs {need_name} before it, which is not in the list (install the app that \
                     brings it)",
                    e.name
                )),
                Some(at) if at > i => {
                    out.push(format!("MIDDLEWARE: {} needs {need_name} before it, not after it", e.name))
                }
                Some(_) => {}
            }
        }
        out
    }

    /// Appends every middleware of `other` (an app's), in order.
    pub(crate) fn extend(&mut self, other: MiddlewareList) {
        self.entries.extend(other.entries);
        self.problems.extend(other.problems);
    }

    /// The middleware in order, and what went wrong editing the list.
    pub(crate) fn into_parts(self) -> (Vec<Named>, Vec<String>) {
        let order = self.order_problems();
        let mut problems = self.problems;
        problems.extend(order);
        (self.entries.into_iter().map(|e| (e.name, e.middleware)).collect(), problems)
    }
}

impl std::fmt::Debug for MiddlewareList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}
