//! The admin (Django's `django.contrib.admin`): a back office for every registered model, at
//! `/admin/`, for staff users. Each model gets a change list (search, filters, a date
//! hierarchy, sorting by its columns, pagination, bulk actions: delete with a confirmation,
//! export as CSV, the site's own), add and change forms built from its columns (with
//! fieldsets, read-only fields, autocomplete foreign keys, many-to-many pickers and inlines of
//! related rows), a delete page that lists what goes too, and a history of every change made
//! here. What a user sees and may do follows their add, change, delete and view permissions;
//! what they may not do has no button and answers 403.
//!
//! The admin is an app built on the public [`App`] API like any other: install it with
//! `.app(djambda::admin::app())` after auth, sessions, CSRF and messages. An app registers its
//! models by contributing [`Registrations`] to it ([`App::contribute`]), as a Django app
//! registers them in its `admin.py`:
//!
//! ```
//! use djambda::admin::{ModelAdmin, Registrations};
//! use djambda::auth::models::group;
//! use djambda::prelude::*;
//!
//! // crm/admin.rs (django: crm/admin.py)
//! // Groups as this site wants them, in place of the admin's own (Django's `unregister`).
//! fn register() -> Registrations {
//!     Registrations::new()
//!         .unregister("auth.group")
//!         .register(ModelAdmin::<group::Entity>::new().list_display(["name"]).search_fields(["name"]).list_per_page(20))
//! }
//!
//! let site = Site::builder()
//!     .settings(Settings::from_sources(Some("DEBUG = true"), |_| None).unwrap())
//!     .app(djambda::auth::app())
//!     .app(djambda::sessions::app())
//!     .app(djambda::csrf::app())
//!     .app(djambda::messages::app())
//!     .app(djambda::admin::app())
//!     .app(App::new("teams").contribute(register()))
//!     .build()
//!     .unwrap();
//! assert_eq!(site.reverse("admin:auth_group_changelist", &[]).unwrap(), "/admin/auth/group/");
//! assert_eq!(site.reverse("admin:auth_user_change", &[&7]).unwrap(), "/admin/auth/user/7/change/");
//! ```
//!
//! Its pages work the same through runserver and the Lambda door, with no state between
//! requests: the list's search, filters, order and page travel in its links, and the
//! confirmation of a delete in the form that asks for it. Its look (`admin/admin.css`) and
//! its little script (`admin/admin.js`: the select-all box, the autocomplete search, the
//! many-to-many filter, inline rows added without a reload) are static files of the app,
//! served like any other and allowed by a strict Content-Security-Policy.

mod actions;
mod auth_admin;
mod changelist;
mod delete;
mod display;
mod edit;
mod filters;
pub mod history;
mod listing;
mod m2m;
mod meta;
mod model;
mod options;
mod query;
mod registry;
mod site;
mod views;

use std::sync::Arc;

pub use history::{Change, FieldChange, Part, log_entry};
pub use m2m::ManyToMany;
pub use meta::{AdminView, Fieldset};
pub use options::{AdminEntity, Inline, ModelAdmin, StackedInline, TabularInline};

use crate::routing::{MethodRouter, UrlConf, get, post};
use crate::site::app::App;
use meta::AdminModel;
use registry::{Headings, Registry};

/// The models one app registers with the admin (Django's `admin.site.register` calls in an
/// `admin.py`): give them to the admin app with [`App::contribute`]. A model registered twice
/// stops the site from being built, unless one of them is [unregistered](Self::unregister).
#[derive(Default)]
pub struct Registrations {
    models: Vec<Arc<dyn AdminModel>>,
    unregister: Vec<String>,
}

impl Registrations {
    /// None yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers the entity `E` with its admin options.
    pub fn register<E: AdminEntity>(mut self, admin: ModelAdmin<E>) -> Self {
        self.models.push(Arc::new(model::Registered::new(admin)));
        self
    }

    /// Takes the model `label` (`auth.user`) out of the other apps' registrations (Django's
    /// `admin.site.unregister`): to register it here with options of this site's own, or to
    /// leave it out of the admin.
    pub fn unregister(mut self, label: &str) -> Self {
        self.unregister.push(label.to_owned());
        self
    }
}

/// The admin site (Django's `AdminSite`): its headings. [`app`] is the default one.
///
/// ```
/// let admin = djambda::admin::AdminSite::new()
///     .site_header("Northwind CRM administration")
///     .app_name("crm", "CRM")
///     .app();
/// # let _ = admin;
/// ```
#[derive(Debug, Clone, Default)]
pub struct AdminSite {
    headings: Headings,
}

impl AdminSite {
    /// Django's defaults: "djambda administration", "Site administration".
    pub fn new() -> Self {
        Self::default()
    }

    /// The heading at the top of every page (Django's `site_header`).
    pub fn site_header(mut self, text: &str) -> Self {
        self.headings.site_header = text.to_owned();
        self
    }

    /// The end of every page's `<title>` (Django's `site_title`).
    pub fn site_title(mut self, text: &str) -> Self {
        self.headings.site_title = text.to_owned();
        self
    }

    /// The index page's heading (Django's `index_title`).
    pub fn index_title(mut self, text: &str) -> Self {
        self.headings.index_title = text.to_owned();
        self
    }

    /// The "View site" link's target (Django's `site_url`; `None` for no link).
    pub fn site_url(mut self, url: Option<&str>) -> Self {
        self.headings.site_url = url.map(str::to_owned);
        self
    }

    /// An app's name as the admin shows it (Django's `AppConfig.verbose_name`): `crm` → `CRM`.
    pub fn app_name(mut self, app_label: &str, name: &str) -> Self {
        self.headings.app_names.retain(|(label, _)| label != app_label);
        self.headings.app_names.push((app_label.to_owned(), name.to_owned()));
        self
    }

    /// The admin app with these headings, at `admin/` (move it with [`App::mount`]).
    pub fn app(self) -> App {
        let headings = self.headings;
        App::new("admin")
            .requires("auth", "djambda::auth::app()")
            .requires("sessions", "djambda::sessions::app()")
            .requires("csrf", "djambda::csrf::app()")
            .requires("messages", "djambda::messages::app()")
            .templates(crate::assets!("src/admin/templates"))
            .static_files(crate::assets!("src/admin/static"))
            .migrations::<history::migrations::Migrator>()
            .model::<log_entry::Entity>("admin.logentry")
            // auth's users and groups, as Django's auth app registers them.
            .contribute(auth_admin::registrations())
            .on_ready(move |setup| {
                let mut models = Vec::new();
                let mut unregistered = Vec::new();
                for (i, registrations) in setup.contributions::<Registrations>().enumerate() {
                    models.extend(registrations.models.iter().map(|m| (i, m.clone())));
                    unregistered.extend(registrations.unregister.iter().map(|label| (i, label.clone())));
                }
                let registry = Registry::build(models, unregistered, setup.models(), headings)?;
                setup.insert_state(registry);
                Ok(())
            })
            .urls_with("admin/", |setup| match setup.state::<Registry>() {
                Some(registry) => urlpatterns(registry),
                None => UrlConf::app("admin"),
            })
    }
}

/// The admin app with Django's default headings, at `/admin/`.
pub fn app() -> App {
    AdminSite::new().app()
}

/// Django's `AdminSite.get_urls`: the site's pages, then each model's, named
/// `admin:<app>_<model>_<page>`.
fn urlpatterns(registry: &Registry) -> UrlConf {
    let guarded = views::admin_view;
    let mut conf = UrlConf::app("admin")
        .path("", guarded(get(views::index)), "index")
        .path("login/", get(views::login_view).post(views::login_view).login_not_required(), "login")
        .path("logout/", post(views::logout_view).login_not_required(), "logout")
        .path("autocomplete/", guarded(get(views::autocomplete)), "autocomplete");
    for entry in &registry.entries {
        let meta = entry.meta();
        let base = format!("{}/{}/", meta.app_label, meta.model_name);
        let route = |f: MethodRouter| guarded(f);
        conf = conf
            .path(
                &base,
                route(
                    get(views::with_entry(entry.clone(), changelist::changelist_view))
                        .post(views::with_entry(entry.clone(), changelist::changelist_view)),
                ),
                &format!("{}_{}_changelist", meta.app_label, meta.model_name),
            )
            .path(
                &format!("{base}add/"),
                route(
                    get(views::with_entry(entry.clone(), edit::add_view))
                        .post(views::with_entry(entry.clone(), edit::add_view)),
                ),
                &format!("{}_{}_add", meta.app_label, meta.model_name),
            )
            .path(
                &format!("{base}<str:object_id>/history/"),
                route(get(views::with_entry(entry.clone(), views::history_view))),
                &format!("{}_{}_history", meta.app_label, meta.model_name),
            )
            .path(
                &format!("{base}<str:object_id>/delete/"),
                route(
                    get(views::with_entry(entry.clone(), delete::delete_view))
                        .post(views::with_entry(entry.clone(), delete::delete_view)),
                ),
                &format!("{}_{}_delete", meta.app_label, meta.model_name),
            )
            .path(
                &format!("{base}<str:object_id>/change/"),
                route(
                    get(views::with_entry(entry.clone(), edit::change_view))
                        .post(views::with_entry(entry.clone(), edit::change_view)),
                ),
                &format!("{}_{}_change", meta.app_label, meta.model_name),
            );
        for (path, name, view) in entry.model.extra_views() {
            let view = view.clone();
            conf = conf.path(
                &format!("{base}<str:object_id>/{}", path.trim_start_matches('/')),
                route(
                    get({
                        let view = view.clone();
                        move |req| view(req)
                    })
                    .post(move |req| view(req)),
                ),
                &format!("{}_{}_{name}", meta.app_label, meta.model_name),
            );
        }
        conf = conf.path(
            &format!("{base}<str:object_id>/"),
            route(get(views::with_entry(entry.clone(), edit::object_redirect))),
            &format!("{}_{}_object", meta.app_label, meta.model_name),
        );
    }
    // Last: an app's index, so that a model's pages and the site's own come first.
    conf.path("<str:app_label>/", guarded(get(views::app_index)), "app_list")
}
