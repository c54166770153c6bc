//! The login, logout and password change views at Django's URLs, and the check that keeps
//! `next=` on this site.

use http::StatusCode;

use sea_orm::EntityTrait;

use super::decorators::{login_required, permission_required, resolve_url};
use super::hashers::check_password;
use super::models::user;
use super::password_reset::{
    invite_user_done_view, invite_user_view, password_reset_complete_view, password_reset_confirm_view,
    password_reset_done_view, password_reset_view,
};
use super::password_validation::validate_password;
use super::{authenticate, login, logout, set_password, throttle};
use crate::error::Result;
use crate::forms::{BoundForm, Form};
use crate::http::Response;
use crate::request::Request;
use crate::routing::{UrlConf, get};
use crate::shortcuts::render;

/// The login form (Django's `AuthenticationForm`).
#[derive(Form, Debug)]
pub struct AuthenticationForm {
    /// The username.
    #[form(max_length = 150)]
    pub username: String,
    /// The password, never shown again.
    #[form(widget = "password")]
    pub password: String,
}

/// The password change form (Django's `PasswordChangeForm`): the old password, and the new
/// one twice.
#[derive(Form, Debug)]
pub struct PasswordChangeForm {
    /// The password the user has now.
    #[form(label = "Old password", widget = "password")]
    pub old_password: String,
    /// The new password.
    #[form(label = "New password", widget = "password")]
    pub new_password1: String,
    /// The new password again.
    #[form(label = "New password confirmation", widget = "password")]
    pub new_password2: String,
}

/// Django's `django.contrib.auth.urls` for djambda: `login/` (`login`), `logout/` (`logout`,
/// POST only), `password_change/` (`password_change`) and `password_change/done/`
/// (`password_change_done`); the password reset pages `password_reset/`
/// (`password_reset`), `password_reset/done/` (`password_reset_done`),
/// `reset/<uidb64>/<token>/` (`password_reset_confirm`) and `reset/done/`
/// (`password_reset_complete`), open to anonymous visitors; and the staff page `invite/`
/// (`invite_user`, needs `auth.add_user`) with `invite/done/` (`invite_user_done`). The auth
/// app mounts them under `accounts/`.
///
/// ```
/// use djambda::prelude::*;
///
/// let site = Site::builder()
///     .settings(Settings::from_sources(Some("DEBUG = true"), |_| None).unwrap())
///     .app(djambda::sessions::app())
///     .app(djambda::csrf::app())
///     .app(djambda::auth::app().mount("users/"))
///     .build()
///     .unwrap();
/// assert_eq!(site.reverse("login", &[]).unwrap(), "/users/login/");
/// ```
pub fn urls() -> UrlConf {
    UrlConf::new()
        .path("login/", get(login_view).post(login_view).login_not_required(), "login")
        .path("logout/", crate::routing::post(logout_view).login_not_required(), "logout")
        .path(
            "password_change/",
            login_required(get(password_change_view).post(password_change_view)),
            "password_change",
        )
        .path("password_change/done/", login_required(get(password_change_done_view)), "password_change_done")
        .path(
            "password_reset/",
            get(password_reset_view).post(password_reset_view).login_not_required(),
            "password_reset",
        )
        .path("password_reset/done/", get(password_reset_done_view).login_not_required(), "password_reset_done")
        .path(
            "reset/<uidb64>/<token>/",
            get(password_reset_confirm_view).post(password_reset_confirm_view).login_not_required(),
            "password_reset_confirm",
        )
        .path("reset/done/", get(password_reset_complete_view).login_not_required(), "password_reset_complete")
        .path(
            "invite/",
            permission_required("auth.add_user", get(invite_user_view).post(invite_user_view)),
            "invite_user",
        )
        .path("invite/done/", permission_required("auth.add_user", get(invite_user_done_view)), "invite_user_done")
}

/// Whether `url` is safe to redirect to after login: a path on this site, or an absolute URL
/// whose host is one of `allowed_hosts` (with https when `require_https`). Refuses other hosts,
/// scheme-relative tricks (`//evil.example`, `/\evil.example`), `javascript:` and control
/// characters (Django's `url_has_allowed_host_and_scheme`).
///
/// ```
/// use djambda::auth::url_has_allowed_host_and_scheme as safe;
///
/// assert!(safe("/contacts/?page=2", &["crm.example.com"], false));
/// assert!(safe("https://crm.example.com/deals/", &["crm.example.com"], true));
/// assert!(!safe("https://evil.example/", &["crm.example.com"], false));
/// assert!(!safe("//evil.example/", &["crm.example.com"], false));
/// assert!(!safe("/\\evil.example", &["crm.example.com"], false));
/// assert!(!safe("javascript:alert(1)", &["crm.example.com"], false));
/// ```
pub fn url_has_allowed_host_and_scheme(url: &str, allowed_hosts: &[&str], require_https: bool) -> bool {
    let url = url.trim();
    if url.is_empty() || url.chars().any(|c| c.is_control()) {
        return false;
    }
    // Browsers read a backslash as a slash: `/\evil.example` is `//evil.example`.
    let url = url.replace('\\', "/");
    if url.starts_with("///") {
        return false;
    }
    let host_ok = |host: &str| allowed_hosts.iter().any(|h| h.eq_ignore_ascii_case(host));
    let authority = |rest: &str| -> Option<String> {
        let auth = rest.split(['/', '?', '#']).next()?;
        // `user@host`: the host is what the browser goes to.
        let host = auth.rsplit('@').next()?;
        (!host.is_empty()).then(|| host.to_ascii_lowercase())
    };
    if let Some(rest) = url.strip_prefix("//") {
        return authority(rest).is_some_and(|h| host_ok(&h)) && !require_https;
    }
    let scheme_end = url.find(':');
    let first_sep = url.find(['/', '?', '#']);
    match scheme_end {
        Some(colon) if first_sep.is_none_or(|s| colon < s) => {
            let scheme = url[..colon].to_ascii_lowercase();
            let valid_scheme = scheme == "https" || (scheme == "http" && !require_https);
            match url[colon + 1..].strip_prefix("//") {
                Some(rest) => valid_scheme && authority(rest).is_some_and(|h| host_ok(&h)),
                // `http:evil.example` and `javascript:…` have a scheme but no host.
                None => false,
            }
        }
        _ => true,
    }
}

/// Where to go after logging in: a safe `next`, else LOGIN_REDIRECT_URL.
fn success_url(req: &Request, next: &str) -> Result<String> {
    let host = req.host().unwrap_or("");
    if !next.is_empty() && url_has_allowed_host_and_scheme(next, &[host], req.is_secure()) {
        return Ok(next.to_owned());
    }
    resolve_url(req, &req.settings().auth.login_redirect_url)
}

fn show(req: &Request, form: &BoundForm<AuthenticationForm>, next: &str, status: StatusCode) -> Result<Response> {
    let next = next.to_owned();
    Ok(render(req, "registration/login.html", crate::context! { form, next })?.with_status(status))
}

/// The login page (Django's `LoginView`): GET shows the form, POST checks it, logs the user in
/// and redirects to `next` (only within this site) or LOGIN_REDIRECT_URL. After
/// LOGIN_FAILURE_LIMIT failures in a row for one username, further attempts are refused with
/// 429 until a wait, doubling each time, has passed.
pub async fn login_view(req: Request) -> Result<Response> {
    let next = req.form().get("next").or_else(|| req.query().get("next")).unwrap_or("").to_owned();
    if req.method() != http::Method::POST {
        return show(&req, &AuthenticationForm::unbound(), &next, StatusCode::OK);
    }
    let mut form = AuthenticationForm::bind(&req)?;
    let Some(credentials) = form.cleaned_data().map(|c| (c.username.clone(), c.password.clone())) else {
        return show(&req, &form, &next, StatusCode::OK);
    };
    let (username, password) = credentials;
    let db = req.db().await?;
    let client = req.client_addr().map(|a| a.ip());
    if let Some(seconds) = throttle::wait(&db, &username, client, req.settings().auth.login_failure_limit).await? {
        form.add_error(
            None,
            format!("Too many failed login attempts for this account. Try again in {seconds} seconds."),
        );
        return Ok(
            show(&req, &form, &next, StatusCode::TOO_MANY_REQUESTS)?.with_header("retry-after", &seconds.to_string())
        );
    }
    match authenticate(&db, &username, &password).await? {
        Some(user) => {
            throttle::clear(&db, &username, client).await?;
            login(&req, &user).await?;
            Ok(Response::redirect(&success_url(&req, &next)?))
        }
        None => {
            throttle::record_failure(&db, &username, client).await?;
            form.add_error(
                None,
                "Please enter a correct username and password. Note that both fields may be case-sensitive.",
            );
            show(&req, &form, &next, StatusCode::OK)
        }
    }
}

/// Logs out (Django's `LogoutView`, POST only so a link on another site cannot log anyone
/// out) and redirects to a safe `next`, LOGOUT_REDIRECT_URL, or shows the logged-out page.
pub async fn logout_view(req: Request) -> Result<Response> {
    logout(&req);
    let next = req.form().get("next").or_else(|| req.query().get("next")).unwrap_or("").to_owned();
    let host = req.host().unwrap_or("").to_owned();
    if !next.is_empty() && url_has_allowed_host_and_scheme(&next, &[&host], req.is_secure()) {
        return Ok(Response::redirect(&next));
    }
    match &req.settings().auth.logout_redirect_url {
        Some(to) => Ok(Response::redirect(&resolve_url(&req, to)?)),
        None => render(&req, "registration/logged_out.html", crate::context! {}),
    }
}

/// The logged-in user's password change (Django's `PasswordChangeView`): the old password must
/// be right and the new one must pass the password validators (AUTH_PASSWORD_MIN_LENGTH, not
/// too like the username or email, not a common one, not all digits). Every other session of
/// the user ends, as the old password's digest no longer matches; this one goes on under a
/// new key.
pub async fn password_change_view(req: Request) -> Result<Response> {
    let Some(current) = req.user() else { return super::decorators::redirect_to_login(&req) };
    if req.method() != http::Method::POST {
        return show_password_change(&req, &PasswordChangeForm::unbound());
    }
    let mut form = PasswordChangeForm::bind(&req)?;
    let Some(data) =
        form.cleaned_data().map(|d| (d.old_password.clone(), d.new_password1.clone(), d.new_password2.clone()))
    else {
        return show_password_change(&req, &form);
    };
    let (old, new1, new2) = data;
    let db = req.db().await?;
    let model = user::Entity::find_by_id(current.id)
        .one(&db)
        .await?
        .ok_or_else(|| crate::error::Error::not_found("the user is gone"))?;
    if !check_password(&old, &model.password) {
        form.add_error(Some("old_password"), "Your old password was entered incorrectly. Please enter it again.");
    }
    if new1 != new2 {
        form.add_error(Some("new_password2"), "The two password fields didn’t match.");
    } else {
        let min_length = req.settings().auth.password_min_length;
        let similar =
            [model.username.as_str(), model.email.as_str(), model.first_name.as_str(), model.last_name.as_str()];
        for problem in validate_password(&new2, min_length, &similar) {
            form.add_error(Some("new_password2"), problem);
        }
    }
    if !form.is_valid() {
        return show_password_change(&req, &form);
    }
    let updated = set_password(&db, &model, &new2).await?;
    // Django's update_session_auth_hash: this session, under a new key, knows the new digest.
    login(&req, &updated).await?;
    Ok(Response::redirect(&req.reverse("password_change_done", &[])?))
}

fn show_password_change(req: &Request, form: &BoundForm<PasswordChangeForm>) -> Result<Response> {
    render(req, "registration/password_change_form.html", crate::context! { form })
}

/// The page after a password change (Django's `PasswordChangeDoneView`).
pub async fn password_change_done_view(req: Request) -> Result<Response> {
    render(&req, "registration/password_change_done.html", crate::context! {})
}
