//! Guarding views (Django's `login_required`, `permission_required` and
//! `LoginRequiredMiddleware`).

use crate::error::{Error, Result};
use crate::http::Response;
use crate::middleware::{Middleware, Next};
use crate::request::Request;
use crate::routing::{BoxFuture, IntoRoute, MethodRouter};

/// Route metadata: the route is open to anonymous visitors under [`LoginRequiredMiddleware`]
/// (see [`login_not_required`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginNotRequired;

/// Route metadata: the route's views are behind [`permission_required`], with these
/// permissions (every one of them needed). What the admin and a test walking the URL conf read
/// to know a route's guard without calling it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RequiredPermissions(Vec<String>);

impl RequiredPermissions {
    /// The permissions, in the order they were required (`"crm.add_company"`).
    pub fn perms(&self) -> &[String] {
        &self.0
    }
}

/// Route metadata: the route's views are behind [`login_required`] (or a permission, which
/// needs a login as well).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginRequired;

/// Where a setting such as LOGIN_URL points: a path (given the request's script prefix) or a
/// route name.
pub(crate) fn resolve_url(req: &Request, target: &str) -> Result<String> {
    if target.starts_with('/') {
        Ok(format!("{}{target}", req.script_name()))
    } else if target.contains('/') {
        Ok(target.to_owned())
    } else {
        req.reverse(target, &[])
    }
}

/// A redirect to LOGIN_URL that comes back here after login (`?next=/the/page/`).
pub fn redirect_to_login(req: &Request) -> Result<Response> {
    let login = resolve_url(req, &req.settings().auth.login_url)?;
    let next: String = form_urlencoded::byte_serialize(req.full_path().as_bytes()).collect();
    let sep = if login.contains('?') { '&' } else { '?' };
    Ok(Response::redirect(&format!("{login}{sep}next={next}")))
}

/// Lets only logged-in users through; others are sent to log in and come back (Django's
/// `@login_required`).
pub fn login_required<M>(view: impl IntoRoute<M>) -> MethodRouter {
    view.into_route().login_required()
}

/// Lets through only users with `perm` (`"crm.add_company"`): anonymous visitors are sent to
/// log in; logged-in users without it get 403 (Django's `@permission_required` with
/// `raise_exception` for users who are logged in).
pub fn permission_required<M>(perm: &str, view: impl IntoRoute<M>) -> MethodRouter {
    view.into_route().permission_required(perm)
}

/// Opens a route to anonymous visitors under [`LoginRequiredMiddleware`] (Django's
/// `@login_not_required`).
pub fn login_not_required<M>(view: impl IntoRoute<M>) -> MethodRouter {
    view.into_route().login_not_required()
}

impl MethodRouter {
    /// Opens the route to anonymous visitors when the site requires login everywhere (see
    /// [`LoginRequiredMiddleware`]).
    pub fn login_not_required(self) -> Self {
        self.with_meta(LoginNotRequired)
    }

    /// [`login_required`] for every view of this route.
    pub fn login_required(self) -> Self {
        self.with_meta(LoginRequired).wrap(|req: Request, view| async move {
            if req.is_authenticated() { view(req).await } else { redirect_to_login(&req) }
        })
    }

    /// [`permission_required`] for every view of this route.
    pub fn permission_required(self, perm: &str) -> Self {
        let perm = perm.to_owned();
        let mut required = self.meta::<RequiredPermissions>().cloned().unwrap_or_default();
        required.0.push(perm.clone());
        self.with_meta(required).with_meta(LoginRequired).wrap(move |req: Request, view| {
            let perm = perm.clone();
            async move {
                match req.user() {
                    None => redirect_to_login(&req),
                    Some(user) if user.has_perm(&perm) => view(req).await,
                    Some(user) => {
                        Err(Error::permission_denied(format!("{} does not have the permission {perm}", user.username)))
                    }
                }
            }
        })
    }
}

/// Requires login for every page but those marked [`login_not_required`] (the login page
/// itself is) and static files (Django 5.1's `LoginRequiredMiddleware`). Add it with
/// [`SiteBuilder::middleware`](crate::SiteBuilder::middleware), after the auth app's.
pub struct LoginRequiredMiddleware;

impl Middleware for LoginRequiredMiddleware {
    fn call(&self, req: Request, next: Next) -> BoxFuture<Result<Response>> {
        Box::pin(async move {
            if req.is_authenticated() {
                return Ok(next.run(req).await);
            }
            match req.resolver_match() {
                // No view (a static file, a 404, an APPEND_SLASH redirect): as it would come.
                None => Ok(next.run(req).await),
                Some(found) if found.route().meta::<LoginNotRequired>().is_some() => Ok(next.run(req).await),
                Some(_) => redirect_to_login(&req),
            }
        })
    }
}
