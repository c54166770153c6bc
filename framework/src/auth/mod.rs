//! Users, logging in and permissions (Django's `django.contrib.auth`).
//!
//! Install the app (`.app(djambda::auth::app())`, after the sessions app): it brings Django's
//! `auth_*` tables, its URLs at `/accounts/` (log in and out, password change, password reset
//! by email and invitations: see [`urls`]; the emails need [`mail::app`](crate::mail::app)),
//! and [`AuthenticationMiddleware`]. Each request then knows its user ([`Request::user`]); templates get
//! `user` and `perms` (`{% if perms.crm.add_company %}`); views are guarded with
//! [`login_required`] and [`permission_required`], or a whole site with
//! [`LoginRequiredMiddleware`]. Logged-in users are remembered in the session, so this works
//! the same through every front door.
//!
//! ```
//! use djambda::auth::{login_required, permission_required};
//! use djambda::prelude::*;
//!
//! async fn dashboard(req: Request) -> Result<Response> {
//!     let user = req.user().expect("login_required let only users in");
//!     Ok(Response::text(format!("hello {}", user.username)))
//! }
//! async fn new_company(_req: Request) -> Result<Response> { Ok(Response::text("form")) }
//!
//! let urls = UrlConf::new()
//!     .path("", login_required(dashboard), "dashboard")
//!     .path("companies/new/", permission_required("crm.add_company", new_company), "company-create");
//! # let _ = urls;
//! ```

mod decorators;
pub mod hashers;
pub mod migrations;
pub mod models;
mod password_reset;
pub mod password_validation;
mod permissions;
pub(crate) mod throttle;
mod tokens;
mod views;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use sea_orm::{
    ActiveModelTrait, ActiveValue, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter,
    TransactionTrait,
};
use serde::Serialize;

pub use decorators::{
    LoginNotRequired, LoginRequired, LoginRequiredMiddleware, RequiredPermissions, login_not_required, login_required,
    permission_required, redirect_to_login,
};
use models::user;
pub use password_reset::{
    INTERNAL_RESET_SESSION_TOKEN, Invitation, InviteUserForm, Invited, PasswordResetForm, SetPasswordForm,
    default_token_generator, invite_user, invite_user_done_view, invite_user_view, password_reset_complete_view,
    password_reset_confirm_view, password_reset_done_view, password_reset_view,
};
use permissions::PermTable;
pub use permissions::{model_permissions, sync_permissions};
pub use tokens::{PasswordResetTokenGenerator, b64_to_uid, uid_to_b64};
pub use views::{
    AuthenticationForm, PasswordChangeForm, login_view, logout_view, password_change_done_view, password_change_view,
    url_has_allowed_host_and_scheme, urls,
};

use crate::error::Result;
use crate::http::Response;
use crate::middleware::{Middleware, Next};
use crate::request::Request;
use crate::routing::BoxFuture;
use crate::signing::salted_hmac;
use crate::site::app::App;

/// The session key holding the logged-in user's id (Django's `_auth_user_id`).
pub const SESSION_KEY: &str = "_auth_user_id";
/// The session key holding a digest of the user's password hash: changing the password ends
/// every other session of that user.
pub const HASH_SESSION_KEY: &str = "_auth_user_hash";

/// The auth app (Django's `django.contrib.auth` in INSTALLED_APPS): its tables' migration,
/// its models for fixtures and permissions, the login and logout views at `accounts/`
/// ([`urls`]; move them with [`App::mount`]), [`AuthenticationMiddleware`] in the middleware
/// list (it needs the sessions app's, before it), `user` and `perms` in every page's context,
/// and after `migrate` the permissions of every installed model. Install it before the apps
/// whose models need permissions, so `manage migrate` can create them.
pub fn app() -> App {
    App::new("auth")
        .requires("sessions", "djambda::sessions::app()")
        .requires("csrf", "djambda::csrf::app()")
        .urls("accounts/", urls())
        .templates(crate::assets!("src/auth/templates"))
        .middleware_after::<crate::sessions::SessionMiddleware>(AuthenticationMiddleware)
        .context_processor(context_values)
        .on_ready(|setup| {
            setup.insert_state(PermTable::new(setup.models()));
            Ok(())
        })
        // Quiet, as Django's: `migrate` lists migrations, not the rows it adds for them.
        .post_migrate(|site, db| async move {
            permissions::sync_if_migrated(&site, &db).await?;
            Ok(None)
        })
        .command(throttle::command())
        .schedule("prune-login-failures", "rate(1 day)", |site, _event| async move {
            throttle::prune(&site.database().connection().await?).await?;
            Ok(())
        })
        .migrations::<migrations::Migrator>()
        .model::<models::user::Entity>("auth.user")
        .model::<models::group::Entity>("auth.group")
        .model::<models::permission::Entity>("auth.permission")
        .model::<models::user_group::Entity>("auth.user_groups")
        .model::<models::group_permission::Entity>("auth.group_permissions")
        .model::<models::user_permission::Entity>("auth.user_permissions")
}

/// The logged-in user of a request, with their permissions.
#[derive(Debug, Clone, Serialize)]
pub struct User {
    /// The user's id.
    pub id: i32,
    /// The name they log in with.
    pub username: String,
    /// Email address.
    pub email: String,
    /// Given name.
    pub first_name: String,
    /// Family name.
    pub last_name: String,
    /// May use the admin.
    pub is_staff: bool,
    /// Has every permission.
    pub is_superuser: bool,
    /// May log in.
    pub is_active: bool,
    #[serde(skip)]
    permissions: BTreeSet<String>,
}

impl User {
    fn from_model(model: &user::Model, permissions: BTreeSet<String>) -> Self {
        User {
            id: model.id,
            username: model.username.clone(),
            email: model.email.clone(),
            first_name: model.first_name.clone(),
            last_name: model.last_name.clone(),
            is_staff: model.is_staff,
            is_superuser: model.is_superuser,
            is_active: model.is_active,
            permissions,
        }
    }

    /// Whether the user may do `perm` (`"crm.add_company"`): active superusers may do
    /// anything; others need the permission themselves or through a group.
    pub fn has_perm(&self, perm: &str) -> bool {
        self.is_active && (self.is_superuser || self.permissions.contains(perm))
    }

    /// Whether the user has every one of `perms`.
    pub fn has_perms(&self, perms: &[&str]) -> bool {
        perms.iter().all(|p| self.has_perm(p))
    }

    /// First and last name, or the username when both are empty.
    pub fn full_name(&self) -> String {
        let full = format!("{} {}", self.first_name, self.last_name).trim().to_owned();
        if full.is_empty() { self.username.clone() } else { full }
    }

    /// The permissions given to the user directly or through groups (`app.codename`); a
    /// superuser has every permission whatever this lists.
    pub fn permissions(&self) -> impl Iterator<Item = &str> {
        self.permissions.iter().map(String::as_str)
    }
}

/// Who is logged in on this request (changed by [`login`] and [`logout`] mid-request).
#[derive(Clone, Default)]
pub(crate) struct CurrentUser(Arc<Mutex<Option<Arc<User>>>>);

impl CurrentUser {
    fn get(&self) -> Option<Arc<User>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn set(&self, user: Option<Arc<User>>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = user;
    }
}

impl Request {
    /// The logged-in user, or `None` for an anonymous visitor (Django's `request.user`).
    /// Asking counts as a use of the session, as in Django: the answer depends on the session
    /// cookie, so the response gets `Vary: Cookie` and no cache shares it between visitors.
    pub fn user(&self) -> Option<Arc<User>> {
        let current = self.local::<CurrentUser>()?;
        if let Some(session) = self.local::<crate::sessions::Session>() {
            session.mark_accessed();
        }
        current.get()
    }

    /// Whether someone is logged in.
    pub fn is_authenticated(&self) -> bool {
        self.user().is_some()
    }
}

/// The digest of a password hash kept in the session.
fn session_auth_hash(password_hash: &str, secret: &str) -> String {
    let mac = salted_hmac("djambda.contrib.auth.session_auth_hash", password_hash.as_bytes(), secret);
    mac.iter().map(|b| format!("{b:02x}")).collect()
}

async fn load_user(req: &Request, id: i32, password_digest: Option<String>) -> Result<Option<Arc<User>>> {
    let db = req.db().await?;
    let Some(model) = user::Entity::find_by_id(id).one(&db).await? else { return Ok(None) };
    if !model.is_active {
        return Ok(None);
    }
    let expected = session_auth_hash(&model.password, &req.settings().secret_key);
    let matches = password_digest.is_some_and(|d| crate::signing::constant_time_eq(d.as_bytes(), expected.as_bytes()));
    if !matches {
        // The password changed since this session logged in (or the session was forged by
        // someone without the secret): it no longer counts.
        req.session().flush();
        return Ok(None);
    }
    let permissions = permissions_of(&db, &model).await?;
    Ok(Some(Arc::new(User::from_model(&model, permissions))))
}

/// The permissions given to `user`; none are read for a superuser, who has them all.
async fn permissions_of<C: ConnectionTrait>(db: &C, user: &user::Model) -> Result<BTreeSet<String>> {
    if user.is_superuser {
        return Ok(BTreeSet::new());
    }
    Ok(permissions::user_permissions(db, user.id).await?)
}

/// Django's `AuthenticationMiddleware`: finds the user the session names (one query for the
/// user, and one for the permissions of a user who is not a superuser; none for anonymous
/// visitors).
pub struct AuthenticationMiddleware;

impl Middleware for AuthenticationMiddleware {
    fn call(&self, req: Request, next: Next) -> BoxFuture<Result<Response>> {
        Box::pin(async move {
            let session = req.session();
            let id = session.peek::<String>(SESSION_KEY).and_then(|id| id.parse::<i32>().ok());
            let user = match id {
                Some(id) => load_user(&req, id, session.peek::<String>(HASH_SESSION_KEY)).await?,
                None => None,
            };
            req.set_local(CurrentUser(Arc::new(Mutex::new(user))));
            Ok(next.run(req).await)
        })
    }
}

/// Checks a username and password (Django's `authenticate`): the active user they belong to,
/// or `None`. A hash in an older format or with weaker parameters is replaced on success.
/// Takes as long for an unknown username as for a wrong password.
pub async fn authenticate<C: ConnectionTrait + TransactionTrait<Transaction = sea_orm::DatabaseTransaction>>(
    db: &C,
    username: &str,
    password: &str,
) -> Result<Option<user::Model>> {
    let Some(model) = user::Entity::find().filter(user::Column::Username.eq(username)).one(db).await? else {
        hashers::burn_time(password);
        return Ok(None);
    };
    if !hashers::check_password(password, &model.password) || !model.is_active {
        return Ok(None);
    }
    if hashers::needs_rehash(&model.password) {
        return Ok(Some(set_password(db, &model, password).await?));
    }
    Ok(Some(model))
}

/// Logs `user` in on this request (Django's `login`): a new session key (or a fresh session if
/// someone else was logged in), a new CSRF token, and `last_login` updated.
pub async fn login(req: &Request, user: &user::Model) -> Result<()> {
    let session = req.session();
    let same_user = session.peek::<String>(SESSION_KEY).is_some_and(|id| id == user.id.to_string());
    if same_user {
        session.cycle_key();
    } else {
        session.flush();
    }
    session.insert(SESSION_KEY, &user.id.to_string());
    session.insert(HASH_SESSION_KEY, &session_auth_hash(&user.password, &req.settings().secret_key));
    crate::csrf::rotate_token(req);
    let db = req.db().await?;
    let mut active = user.clone().into_active_model();
    active.last_login = ActiveValue::Set(Some(chrono::Utc::now()));
    let updated = crate::db::atomic(&db, |txn| Box::pin(async move { Ok(active.update(txn).await?) })).await?;
    if let Some(current) = req.local::<CurrentUser>() {
        let permissions = permissions_of(&db, &updated).await?;
        current.set(Some(Arc::new(User::from_model(&updated, permissions))));
    }
    Ok(())
}

/// Logs the request's user out (Django's `logout`): the session is emptied and its key given up.
pub fn logout(req: &Request) {
    req.session().flush();
    if let Some(current) = req.local::<CurrentUser>() {
        current.set(None);
    }
}

/// Stores a new password for `user` (hashed). Every session that logged in with the old
/// password ends, since its digest no longer matches; log the user in again to keep one.
pub async fn set_password<C: TransactionTrait<Transaction = sea_orm::DatabaseTransaction>>(
    db: &C,
    user: &user::Model,
    password: &str,
) -> Result<user::Model> {
    let mut active = user.clone().into_active_model();
    active.password = ActiveValue::Set(hashers::make_password(password));
    crate::db::atomic(db, |txn| Box::pin(async move { Ok(active.update(txn).await?) })).await
}

/// The template values `user` and `perms` (Django's `auth` context processor). `perms` has
/// every permission of the site's models, true or false (`{% if perms.crm.add_company %}`),
/// so a template may test any of them, logged in or not.
fn context_values(req: &Request, ctx: &mut tera::Context) {
    #[derive(Serialize)]
    struct Shown<'a> {
        #[serde(flatten)]
        user: &'a User,
        is_authenticated: bool,
        is_anonymous: bool,
        full_name: String,
    }
    let Some(table) = req.state::<PermTable>() else { return };
    match req.user() {
        Some(user) => {
            let perms = if user.is_superuser && user.is_active {
                table.all()
            } else {
                let active = user.is_active;
                table.value(|perm| user.has_perm(perm), user.permissions().filter(|_| active))
            };
            ctx.insert(
                "user",
                &Shown { user: &user, is_authenticated: true, is_anonymous: false, full_name: user.full_name() },
            );
            ctx.insert_value("perms", perms);
        }
        None => {
            static ANONYMOUS: std::sync::LazyLock<tera::Value> = std::sync::LazyLock::new(|| {
                tera::Value::from_serializable(&serde_json::json!({
                    "is_authenticated": false, "is_anonymous": true, "username": ""
                }))
            });
            ctx.insert_value("user", ANONYMOUS.clone());
            ctx.insert_value("perms", table.none());
        }
    }
}
