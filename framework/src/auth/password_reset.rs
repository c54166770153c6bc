//! "Forgot your password?" (Django's `PasswordResetView` and the three views after it) and
//! invitations: staff invite someone by email to set their first password, through the same
//! one-time link.
//!
//! The flow, at the auth app's URLs: `password_reset/` takes an address and answers the same
//! way whether or not an account has it; the account's owner gets an email with a link
//! `reset/<uidb64>/<token>/`, which moves the token into the session and redirects to
//! `reset/<uidb64>/set-password/` (so the token leaks through no `Referer`); that page sets the
//! new password, which spends the token, and leads to `reset/done/`.

use http::StatusCode;
use sea_orm::sea_query::{Expr, ExprTrait, Func};
use sea_orm::{ActiveModelTrait, ActiveValue, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, SqlErr};
use serde::Serialize;

use super::hashers::{is_password_usable, unusable_password};
use super::models::user;
use super::password_validation::validate_password;
use super::set_password;
use super::tokens::{PasswordResetTokenGenerator, b64_to_uid, uid_to_b64};
use crate::error::{Error, ErrorKind, Result};
use crate::forms::{BoundForm, Form};
use crate::http::Response;
use crate::mail::EmailMessage;
use crate::request::Request;
use crate::shortcuts::render;
use crate::templates::Context;

/// The session key holding a reset token between the emailed link and the form (Django's
/// `INTERNAL_RESET_SESSION_TOKEN`).
pub const INTERNAL_RESET_SESSION_TOKEN: &str = "_password_reset_token";
/// What stands for the token in the form's URL.
const RESET_URL_TOKEN: &str = "set-password";

/// The "forgot password" form (Django's `PasswordResetForm`).
#[derive(Form, Debug)]
pub struct PasswordResetForm {
    /// The address the account has.
    #[form(email = true, max_length = 254)]
    pub email: String,
}

/// A new password, twice (Django's `SetPasswordForm`).
#[derive(Form, Debug)]
pub struct SetPasswordForm {
    /// The new password.
    #[form(label = "New password", widget = "password")]
    pub new_password1: String,
    /// The new password again.
    #[form(label = "New password confirmation", widget = "password")]
    pub new_password2: String,
}

/// Whom to invite (the staff-facing form of [`invite_user_view`]).
#[derive(Form, Debug)]
pub struct InviteUserForm {
    /// Where the invitation goes; also the username unless one is given.
    #[form(email = true, max_length = 254)]
    pub email: String,
    /// The name to log in with (the address when left empty).
    #[form(max_length = 150)]
    pub username: Option<String>,
    /// Given name.
    #[form(max_length = 150)]
    pub first_name: Option<String>,
    /// Family name.
    #[form(max_length = 150)]
    pub last_name: Option<String>,
}

/// The site's token generator (SECRET_KEY, PASSWORD_RESET_TIMEOUT).
pub fn default_token_generator(req: &Request) -> PasswordResetTokenGenerator {
    let settings = req.settings();
    PasswordResetTokenGenerator::new(&settings.secret_key, settings.auth.password_reset_timeout)
}

/// What the email templates see of the user (never the password hash).
#[derive(Serialize)]
struct Shown<'a> {
    id: i32,
    username: &'a str,
    email: &'a str,
    first_name: &'a str,
    last_name: &'a str,
}

/// Renders `<prefix>_subject.txt` and `<prefix>_email.txt` (and `<prefix>_email.html` when the
/// site has one) with the link for `user`, addressed to the user's address.
fn link_message(req: &Request, user: &user::Model, prefix: &str, extra: Context) -> Result<EmailMessage> {
    let token = default_token_generator(req).make_token(user);
    let uid = uid_to_b64(user.id);
    let path = req.reverse_kwargs("password_reset_confirm", &[("uidb64", &uid), ("token", &token)])?;
    let mut ctx = Context::new();
    ctx.insert("email", &user.email);
    ctx.insert("domain", req.host().unwrap_or("localhost"));
    ctx.insert("protocol", if req.is_secure() { "https" } else { "http" });
    ctx.insert("uid", &uid);
    ctx.insert("token", &token);
    ctx.insert("reset_url", &req.build_absolute_uri(&path));
    ctx.insert(
        "user",
        &Shown {
            id: user.id,
            username: &user.username,
            email: &user.email,
            first_name: &user.first_name,
            last_name: &user.last_name,
        },
    );
    // `url()` in the templates adds the stage prefix the request came with.
    ctx.insert(crate::templates::SCRIPT_NAME_VAR, req.script_name());
    ctx.extend(extra);
    let html = format!("registration/{prefix}_email.html");
    let html = req.site().templates().exists(&html).then_some(html.as_str());
    Ok(EmailMessage::from_templates(
        req.site(),
        &format!("registration/{prefix}_subject.txt"),
        &format!("registration/{prefix}_email.txt"),
        html,
        &ctx,
    )?
    .to([user.email.clone()]))
}

/// Sends `user` the link (see [`link_message`]).
async fn send_link(req: &Request, user: &user::Model, prefix: &str, extra: Context) -> Result<()> {
    link_message(req, user, prefix, extra)?.send(req.site()).await.map(|_| ())
}

/// An account that does not exist, for the work an unknown address is given: the same as a
/// known one's up to the send.
fn stand_in(email: &str) -> user::Model {
    user::Model {
        id: 0,
        password: unusable_password("stand-in"),
        last_login: None,
        is_superuser: false,
        username: email.to_owned(),
        first_name: String::new(),
        last_name: String::new(),
        email: email.to_owned(),
        is_staff: false,
        is_active: true,
        date_joined: chrono::Utc::now(),
    }
}

/// The accounts a reset may be asked for by `email`: active, with a usable password, and that
/// address (compared without case).
async fn users_for(req: &Request, email: &str) -> Result<Vec<user::Model>> {
    let db = req.db().await?;
    let wanted = email.trim().to_lowercase();
    // Compared here rather than with the database's LIKE or collation, which differ between
    // SQLite, PostgreSQL and MySQL.
    let found = user::Entity::find()
        .filter(user::Column::IsActive.eq(true))
        .filter(Expr::expr(Func::lower(Expr::col(user::Column::Email))).eq(wanted.clone()));
    Ok(found
        .all(&db)
        .await?
        .into_iter()
        .filter(|u| u.email.to_lowercase() == wanted && is_password_usable(&u.password))
        .collect())
}

/// The "forgot password" page (Django's `PasswordResetView`): GET shows the form; POST emails
/// a reset link to every active account with that address and a usable password, then
/// redirects to `password_reset_done` whether or not there was one, so the page tells nobody
/// which addresses have accounts.
///
/// Nothing a visitor sees differs between a known address and an unknown one: the same
/// redirect, headers and pages, and an email that cannot be sent is written in the log and
/// answered like the rest (a 503 for known addresses only would say which they are). An
/// unknown address has its email made as well (token, link, templates) and not sent. What is
/// left is the time the backend takes to send: with SMTP, a known address's answer comes that
/// much later. As Django does, the framework leaves that to the site: a site that minds sends
/// through a backend that only hands the message on (a local relay, a queue).
pub async fn password_reset_view(req: Request) -> Result<Response> {
    if req.method() != http::Method::POST {
        return show(&req, "registration/password_reset_form.html", &PasswordResetForm::unbound(), StatusCode::OK);
    }
    let form = PasswordResetForm::bind(&req)?;
    let Some(email) = form.cleaned_data().map(|d| d.email.clone()) else {
        return show(&req, "registration/password_reset_form.html", &form, StatusCode::OK);
    };
    let users = users_for(&req, &email).await?;
    if users.is_empty() {
        // The work of a known address, short of the send, so that rendering the email does not
        // tell the two apart by time either.
        if let Err(e) = link_message(&req, &stand_in(email.trim()), "password_reset", Context::new()) {
            eprintln!("the password reset email could not be made: {e}");
        }
    }
    for user in users {
        if let Err(e) = send_link(&req, &user, "password_reset", Context::new()).await {
            eprintln!("the password reset email to user {} could not be sent: {e}", user.id);
        }
    }
    Ok(Response::redirect(&req.reverse("password_reset_done", &[])?))
}

fn show<F: Form>(req: &Request, template: &str, form: &BoundForm<F>, status: StatusCode) -> Result<Response> {
    Ok(render(req, template, crate::context! { form })?.with_status(status))
}

/// After the form (Django's `PasswordResetDoneView`): "if an account exists, an email is on
/// its way".
pub async fn password_reset_done_view(req: Request) -> Result<Response> {
    render(&req, "registration/password_reset_done.html", Context::new())
}

/// The user a link names, if the id is well formed and the user exists.
async fn user_from_link(req: &Request, uidb64: &str) -> Result<Option<user::Model>> {
    let Some(id) = b64_to_uid(uidb64) else { return Ok(None) };
    Ok(user::Entity::find_by_id(id).one(&req.db().await?).await?)
}

/// The link from the email (Django's `PasswordResetConfirmView`). A good token is moved into
/// the session and the browser redirected to the `set-password` form; that form checks the
/// token again, sets the password (which spends the token) and redirects to
/// `password_reset_complete`. An expired, used or tampered link shows the page with
/// `validlink` false.
pub async fn password_reset_confirm_view(req: Request) -> Result<Response> {
    let uidb64 = req.param("uidb64").unwrap_or_default().to_owned();
    let token = req.param("token").unwrap_or_default().to_owned();
    let tokens = default_token_generator(&req);
    let user = user_from_link(&req, &uidb64).await?;
    let invalid =
        |req: &Request| render(req, "registration/password_reset_confirm.html", crate::context! { validlink: false });
    let Some(user) = user else { return invalid(&req) };
    let session = req.session();
    if token != RESET_URL_TOKEN {
        if !tokens.check_token(&user, &token) {
            return invalid(&req);
        }
        session.insert(INTERNAL_RESET_SESSION_TOKEN, &token);
        let form_url =
            req.reverse_kwargs("password_reset_confirm", &[("uidb64", &uidb64), ("token", &RESET_URL_TOKEN)])?;
        return Ok(Response::redirect(&form_url));
    }
    let kept = session.get::<String>(INTERNAL_RESET_SESSION_TOKEN).unwrap_or_default();
    if !tokens.check_token(&user, &kept) {
        return invalid(&req);
    }
    let show_form = |req: &Request, form: &BoundForm<SetPasswordForm>| {
        render(req, "registration/password_reset_confirm.html", crate::context! { form, validlink: true })
    };
    if req.method() != http::Method::POST {
        return show_form(&req, &SetPasswordForm::unbound());
    }
    let mut form = SetPasswordForm::bind(&req)?;
    let Some((new1, new2)) = form.cleaned_data().map(|d| (d.new_password1.clone(), d.new_password2.clone())) else {
        return show_form(&req, &form);
    };
    if new1 != new2 {
        form.add_error(Some("new_password2"), "The two password fields didn’t match.");
    } else {
        let similar = [user.username.as_str(), user.email.as_str(), user.first_name.as_str(), user.last_name.as_str()];
        for problem in validate_password(&new2, req.settings().auth.password_min_length, &similar) {
            form.add_error(Some("new_password2"), problem);
        }
    }
    if !form.is_valid() {
        return show_form(&req, &form);
    }
    set_password(&req.db().await?, &user, &new2).await?;
    session.remove(INTERNAL_RESET_SESSION_TOKEN);
    Ok(Response::redirect(&req.reverse("password_reset_complete", &[])?))
}

/// The last page (Django's `PasswordResetCompleteView`): the password is set, log in.
pub async fn password_reset_complete_view(req: Request) -> Result<Response> {
    render(&req, "registration/password_reset_complete.html", Context::new())
}

/// Whom to invite, for [`invite_user`].
#[derive(Debug, Clone, Default)]
pub struct Invitation {
    /// Where the invitation goes.
    pub email: String,
    /// The name to log in with (the address when `None`).
    pub username: Option<String>,
    /// Given name.
    pub first_name: String,
    /// Family name.
    pub last_name: String,
}

/// What [`invite_user`] did.
#[derive(Debug, Clone)]
pub enum Invited {
    /// A new account, with no usable password until its owner sets one through the link.
    Created(user::Model),
    /// The account was invited before and has not set a password yet: a new link was sent
    /// (the old one still works until it expires or a password is set).
    Resent(user::Model),
}

impl Invited {
    /// The invited account.
    pub fn user(&self) -> &user::Model {
        match self {
            Invited::Created(u) | Invited::Resent(u) => u,
        }
    }
}

/// Invites someone to the site (for staff views and the admin): makes an account with no
/// usable password for `invitation.email` (or finds the one invited before) and emails it a
/// link to set a first password: `registration/invitation_subject.txt` and
/// `registration/invitation_email.txt` (and `…_email.html` if the site has one), which see
/// `invited_by`, the user sending it. An address whose account already has a password is
/// refused (a 400 naming it: it should use "forgot password"), and so is a username another
/// account has. The link is the password reset link, good for PASSWORD_RESET_TIMEOUT.
pub async fn invite_user(req: &Request, invitation: &Invitation) -> Result<Invited> {
    let email = invitation.email.trim().to_owned();
    if !crate::forms::is_valid_email(&email) {
        return Err(Error::bad_request(format!("{email:?} is not an email address")));
    }
    let username = invitation.username.clone().filter(|u| !u.trim().is_empty()).unwrap_or_else(|| email.clone());
    let username = username.trim().to_owned();
    let db = req.db().await?;
    let row = user::ActiveModel {
        password: ActiveValue::Set(unusable_password("invited")),
        last_login: ActiveValue::Set(None),
        is_superuser: ActiveValue::Set(false),
        username: ActiveValue::Set(username.clone()),
        first_name: ActiveValue::Set(invitation.first_name.trim().to_owned()),
        last_name: ActiveValue::Set(invitation.last_name.trim().to_owned()),
        email: ActiveValue::Set(email.clone()),
        is_staff: ActiveValue::Set(false),
        is_active: ActiveValue::Set(true),
        date_joined: ActiveValue::Set(chrono::Utc::now()),
        ..Default::default()
    };
    // One invitation at a time, from the look-up to the insert: two at once for one address
    // would each find no account and make one (no column makes an address unique). The first
    // account's row is the lock: updated to itself, it is held to the commit on PostgreSQL and
    // MySQL, and the write takes SQLite's one writer's lock.
    let first = user::Entity::find().order_by_asc(user::Column::Id).one(&db).await?.map(|u| u.id);
    let wanted = email.to_lowercase();
    let decided = crate::db::atomic(&db, |txn| {
        Box::pin(async move {
            if let Some(first) = first {
                user::Entity::update_many()
                    .col_expr(user::Column::IsActive, Expr::col(user::Column::IsActive))
                    .filter(user::Column::Id.eq(first))
                    .exec(txn)
                    .await?;
            }
            // The account the address already has, if any (compared without case), then the
            // username.
            let by_email = user::Entity::find()
                .filter(Expr::expr(Func::lower(Expr::col(user::Column::Email))).eq(wanted))
                .order_by_asc(user::Column::Id)
                .one(txn)
                .await?;
            match by_email {
                Some(user) if is_password_usable(&user.password) => Err(Error::bad_request(format!(
                    "{} already has an account with a password: they can use \"forgot password\"",
                    user.email
                ))),
                Some(user) => Ok(Invited::Resent(user)),
                None => {
                    if user::Entity::find().filter(user::Column::Username.eq(&username)).one(txn).await?.is_some() {
                        return Err(Error::bad_request(format!(
                            "the username {username:?} belongs to another account"
                        )));
                    }
                    match row.insert(txn).await {
                        Ok(user) => Ok(Invited::Created(user)),
                        // Taken between the look-up and the insert (a site without a first
                        // account to lock on): a refusal, not a 500.
                        Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
                            Err(Error::bad_request(format!("the username {username:?} belongs to another account")))
                        }
                        Err(e) => Err(e.into()),
                    }
                }
            }
        })
    })
    .await;
    let invited = decided?;
    let by = req.user().map(|u| u.full_name()).unwrap_or_default();
    send_link(req, invited.user(), "invitation", crate::context! { invited_by: by }).await?;
    Ok(invited)
}

/// The staff page that invites a user by email (needs `auth.add_user`): GET shows the form,
/// POST calls [`invite_user`] and redirects to `invite_user_done`; a refusal (an account that
/// already has a password) is shown on the form.
pub async fn invite_user_view(req: Request) -> Result<Response> {
    const PAGE: &str = "registration/invite_user_form.html";
    if req.method() != http::Method::POST {
        return show(&req, PAGE, &InviteUserForm::unbound(), StatusCode::OK);
    }
    let mut form = InviteUserForm::bind(&req)?;
    let Some(invitation) = form.cleaned_data().map(|d| Invitation {
        email: d.email.clone(),
        username: d.username.clone(),
        first_name: d.first_name.clone().unwrap_or_default(),
        last_name: d.last_name.clone().unwrap_or_default(),
    }) else {
        return show(&req, PAGE, &form, StatusCode::OK);
    };
    match invite_user(&req, &invitation).await {
        Ok(invited) => {
            let done = req.reverse("invite_user_done", &[])?;
            let to: String = form_urlencoded::byte_serialize(invited.user().email.as_bytes()).collect();
            Ok(Response::redirect(&format!("{done}?to={to}")))
        }
        Err(e) if e.kind() == &ErrorKind::BadRequest => {
            form.add_error(None, e.to_string());
            show(&req, PAGE, &form, StatusCode::OK)
        }
        Err(e) => Err(e),
    }
}

/// After an invitation: says where it went.
pub async fn invite_user_done_view(req: Request) -> Result<Response> {
    let to = req.query().get("to").unwrap_or("").to_owned();
    render(&req, "registration/invite_user_done.html", crate::context! { to })
}
