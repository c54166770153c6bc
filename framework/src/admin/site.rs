//! What every admin page shares (Django's `AdminSite.each_context` and `admin_view`): who may
//! come in, what each user may do with each model, the navigation, and rendering with the
//! admin's headings.

use std::sync::Arc;

use serde::Serialize;

use super::registry::{Entry, Registry};
use crate::auth::User;
use crate::error::{Error, Result};
use crate::http::Response;
use crate::request::Request;
use crate::shortcuts::render;
use crate::templates::Context;

/// What a user may do with one model (Django's `get_model_perms`).
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub(crate) struct Perms {
    pub(crate) add: bool,
    pub(crate) change: bool,
    pub(crate) delete: bool,
    /// Seeing the list and the rows (a view or a change permission).
    pub(crate) view: bool,
}

impl Perms {
    pub(crate) fn of(user: &User, entry: &Entry) -> Perms {
        let meta = entry.meta();
        let change = user.has_perm(&meta.perm("change"));
        Perms {
            add: user.has_perm(&meta.perm("add")),
            change,
            delete: user.has_perm(&meta.perm("delete")),
            view: change || user.has_perm(&meta.perm("view")),
        }
    }

    pub(crate) fn any(&self) -> bool {
        self.add || self.change || self.delete || self.view
    }

    /// Whether the user may do `action` (`add`, `change`, `delete`, `view`); nothing else is
    /// allowed, so that a misspelt permission refuses rather than falls back to viewing.
    pub(crate) fn allows(&self, action: &str) -> bool {
        match action {
            "add" => self.add,
            "change" => self.change,
            "delete" => self.delete,
            "view" => self.view,
            _ => false,
        }
    }
}

/// The staff user of an admin request (every admin view but the login page has one).
pub(crate) fn staff(req: &Request) -> Result<Arc<User>> {
    match req.user() {
        Some(user) if user.is_active && user.is_staff => Ok(user),
        _ => Err(Error::permission_denied("the admin is for staff only")),
    }
}

/// The registry, which the admin app keeps on the site.
pub(crate) fn registry(req: &Request) -> Result<&Registry> {
    req.state::<Registry>()
        .ok_or_else(|| Error::internal("the admin's registry is missing: install djambda::admin::app()"))
}

/// The user's permissions on `entry`, or 403 when they may do none of `needed`.
pub(crate) fn require(req: &Request, entry: &Entry, needed: &str) -> Result<(Arc<User>, Perms)> {
    let user = staff(req)?;
    let perms = Perms::of(&user, entry);
    if !perms.allows(needed) {
        return Err(Error::permission_denied(format!(
            "{} may not {needed} {}",
            user.username,
            entry.meta().verbose_name_plural
        )));
    }
    Ok((user, perms))
}

/// One model in the navigation and on the index.
#[derive(Serialize)]
struct ModelLink {
    name: String,
    object_name: String,
    admin_url: Option<String>,
    add_url: Option<String>,
    perms: Perms,
}

/// One app in the navigation and on the index.
#[derive(Serialize)]
pub(crate) struct AppLink {
    name: String,
    app_label: String,
    app_url: String,
    models: Vec<ModelLink>,
}

/// The apps and models `user` may see, in registration order (Django's `get_app_list`);
/// only `app_label`'s when given.
pub(crate) fn app_list(req: &Request, registry: &Registry, user: &User, app_label: Option<&str>) -> Vec<AppLink> {
    let mut apps: Vec<AppLink> = Vec::new();
    for entry in &registry.entries {
        let meta = entry.meta();
        if app_label.is_some_and(|a| a != meta.app_label) {
            continue;
        }
        let perms = Perms::of(user, entry);
        if !perms.any() {
            continue;
        }
        let link = ModelLink {
            name: super::display::capfirst(&meta.verbose_name_plural),
            object_name: meta.model_name.clone(),
            admin_url: perms.view.then(|| req.reverse(&meta.url_name("changelist"), &[]).ok()).flatten(),
            add_url: perms.add.then(|| req.reverse(&meta.url_name("add"), &[]).ok()).flatten(),
            perms,
        };
        match apps.iter_mut().find(|a| a.app_label == meta.app_label) {
            Some(app) => app.models.push(link),
            None => apps.push(AppLink {
                name: registry.app_name(&meta.app_label),
                app_label: meta.app_label.clone(),
                app_url: req.reverse_kwargs("admin:app_list", &[("app_label", &meta.app_label)]).unwrap_or_default(),
                models: vec![link],
            }),
        }
    }
    apps
}

/// A step of the breadcrumbs.
#[derive(Serialize, Clone)]
pub(crate) struct Crumb {
    pub(crate) label: String,
    pub(crate) url: Option<String>,
}

impl Crumb {
    pub(crate) fn new(label: impl Into<String>, url: Option<String>) -> Crumb {
        Crumb { label: label.into(), url }
    }
}

/// The breadcrumbs down to a model's change list: Home › App › Models.
pub(crate) fn model_crumbs(req: &Request, registry: &Registry, entry: &Entry, list_link: bool) -> Vec<Crumb> {
    let meta = entry.meta();
    vec![
        Crumb::new("Home", req.reverse("admin:index", &[]).ok()),
        Crumb::new(
            registry.app_name(&meta.app_label),
            req.reverse_kwargs("admin:app_list", &[("app_label", &meta.app_label)]).ok(),
        ),
        Crumb::new(
            super::display::capfirst(&meta.verbose_name_plural),
            if list_link { req.reverse(&meta.url_name("changelist"), &[]).ok() } else { None },
        ),
    ]
}

/// Renders an admin template with the values every admin page has: the headings, the
/// navigation of the apps the user may see, the page's title and breadcrumbs.
pub(crate) fn page(
    req: &Request,
    template: &str,
    title: &str,
    crumbs: Vec<Crumb>,
    mut ctx: Context,
) -> Result<Response> {
    let registry = registry(req)?;
    let h = &registry.headings;
    ctx.insert("site_header", &h.site_header);
    ctx.insert("site_title", &h.site_title);
    ctx.insert("site_url", &h.site_url);
    ctx.insert("title", title);
    ctx.insert("breadcrumbs", &crumbs);
    if let Some(user) = req.user().filter(|u| u.is_staff && u.is_active) {
        ctx.insert("available_apps", &app_list(req, registry, &user, None));
        ctx.insert("has_permission", &true);
    } else {
        ctx.insert("has_permission", &false);
    }
    render(req, template, ctx)
}
