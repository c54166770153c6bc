//! auth's users and groups in the admin (Django's `django.contrib.auth.admin`): a user is added
//! with a username and a password typed twice, and later given a new password on a page of
//! its own (the hash is never shown, and is made as everywhere else); staff and superuser
//! flags, groups and permissions are edited on the change form with pickers.

use std::sync::Arc;

use sea_orm::{ActiveValue, EntityTrait};

use super::history;
use super::meta::Fieldset;
use super::options::ModelAdmin;
use super::site::{self, Crumb, page};
use super::{ManyToMany, Registrations};
use crate::auth::hashers::make_password;
use crate::auth::models::{group, group_permission, permission, user, user_group, user_permission};
use crate::auth::password_validation::validate_password;
use crate::error::{Error, Result};
use crate::forms::{BoundForm, Form};
use crate::http::Response;
use crate::messages;
use crate::request::Request;
use crate::templates::Context;

/// A permission as the pickers show it: `crm | contact | Can add contact`.
fn permission_label(p: &permission::Model) -> String {
    let model = p.codename.split_once('_').map_or(p.codename.as_str(), |(_, m)| m);
    format!("{} | {} | {}", p.app_label, model.replace('_', " "), p.name)
}

/// The users' and groups' admins.
pub(crate) fn registrations() -> Registrations {
    let users = ModelAdmin::<user::Entity>::new()
        .list_display(["username", "email", "first_name", "last_name", "is_staff"])
        .list_filter(["is_staff", "is_superuser", "is_active"])
        .search_fields(["username", "first_name", "last_name", "email"])
        .ordering(["username"])
        .readonly_fields(["last_login", "date_joined"])
        .fieldsets([
            Fieldset::new(None, ["username", "password"]),
            Fieldset::new(Some("Personal info"), ["first_name", "last_name", "email"]),
            Fieldset::new(Some("Permissions"), ["is_active", "is_staff", "is_superuser", "groups", "user_permissions"])
                .description("A superuser has every permission without being given them."),
            Fieldset::new(Some("Important dates"), ["last_login", "date_joined"]),
        ])
        .form(|form| {
            use user::Column as C;
            form.email(C::Email)
                .required(C::Email, false)
                .required(C::FirstName, false)
                .required(C::LastName, false)
                .label(C::IsActive, "Active")
                .label(C::IsStaff, "Staff status")
                .label(C::IsSuperuser, "Superuser status")
                .help_text(C::IsActive, "Unselect this instead of deleting accounts.")
                .help_text(C::IsStaff, "Designates whether the user can log into this admin site.")
                .help_text(
                    C::IsSuperuser,
                    "Designates that this user has all permissions without explicitly assigning them.",
                )
                .help_text(C::Username, "Required. 150 characters or fewer. Letters, digits and @/./+/-/_ only.")
                .validator(C::Username, check_username)
        })
        .many_to_many(
            ManyToMany::<user_group::Entity, group::Entity>::new(
                "groups",
                user_group::Column::UserId,
                user_group::Column::GroupId,
                |g: &group::Model| g.name.clone(),
            )
            .help_text("The groups this user belongs to. A user gets all permissions granted to each of their groups."),
        )
        .many_to_many(
            ManyToMany::<user_permission::Entity, permission::Entity>::new(
                "user_permissions",
                user_permission::Column::UserId,
                user_permission::Column::PermissionId,
                permission_label,
            )
            .help_text("Specific permissions for this user."),
        )
        .password_field()
        .add_view(Arc::new(|req| Box::pin(add_user(req))))
        .extra_view("password/", "password_change", Arc::new(|req| Box::pin(change_password(req))));
    let groups = ModelAdmin::<group::Entity>::new()
        .list_display(["name"])
        .search_fields(["name"])
        .ordering(["name"])
        .fields(["name", "permissions"])
        .many_to_many(ManyToMany::<group_permission::Entity, permission::Entity>::new(
            "permissions",
            group_permission::Column::GroupId,
            group_permission::Column::PermissionId,
            permission_label,
        ));
    Registrations::new().register(users).register(groups)
}

/// Django's username validator: letters, digits and `@.+-_`.
fn check_username(name: &str) -> std::result::Result<(), String> {
    if name.chars().all(|c| c.is_alphanumeric() || "@.+-_".contains(c)) {
        Ok(())
    } else {
        Err("Enter a valid username. This value may contain only letters, numbers, and @/./+/-/_ characters.".into())
    }
}

/// Django's `UserCreationForm`.
#[derive(Form, Debug)]
struct UserCreationForm {
    #[form(max_length = 150, help_text = "Required. 150 characters or fewer. Letters, digits and @/./+/-/_ only.")]
    username: String,
    #[form(label = "Password", widget = "password")]
    password1: String,
    #[form(
        label = "Password confirmation",
        widget = "password",
        help_text = "Enter the same password as before, for verification."
    )]
    password2: String,
}

/// Django's `AdminPasswordChangeForm`.
#[derive(Form, Debug)]
struct AdminPasswordChangeForm {
    #[form(label = "Password", widget = "password")]
    password1: String,
    #[form(
        label = "Password (again)",
        widget = "password",
        help_text = "Enter the same password as before, for verification."
    )]
    password2: String,
}

fn form_page<F: Form>(
    req: &Request,
    form: &BoundForm<F>,
    title: &str,
    intro: &str,
    button: &str,
    crumbs: Vec<Crumb>,
) -> Result<Response> {
    let mut ctx = Context::new();
    ctx.insert("form", form);
    ctx.insert("intro", intro);
    ctx.insert("button", button);
    page(req, "admin/simple_form.html", title, crumbs, ctx)
}

fn user_entry(req: &Request) -> Result<Arc<super::registry::Entry>> {
    site::registry(req)?
        .by_label("auth.user")
        .cloned()
        .ok_or_else(|| Error::internal("auth.user is not registered with the admin"))
}

/// Adds a user: a username and a password, checked by the password validators; then on to the
/// change form for the rest.
async fn add_user(req: Request) -> Result<Response> {
    let entry = user_entry(&req)?;
    let (staff, perms) = site::require(&req, &entry, "add")?;
    let registry = site::registry(&req)?;
    let mut crumbs = site::model_crumbs(&req, registry, &entry, perms.view);
    crumbs.push(Crumb::new("Add user", None));
    let intro = "First, enter a username and password. Then, you’ll be able to edit more user options.";
    if req.method() != http::Method::POST {
        return form_page(&req, &UserCreationForm::unbound(), "Add user", intro, "Save", crumbs);
    }
    let mut form = UserCreationForm::bind(&req)?;
    let Some((username, p1, p2)) =
        form.cleaned_data().map(|d| (d.username.clone(), d.password1.clone(), d.password2.clone()))
    else {
        return form_page(&req, &form, "Add user", intro, "Save", crumbs);
    };
    if let Err(e) = check_username(&username) {
        form.add_error(Some("username"), e);
    }
    let db = req.db().await?;
    use sea_orm::{ColumnTrait, PaginatorTrait, QueryFilter};
    if user::Entity::find().filter(user::Column::Username.eq(username.as_str())).count(&db).await? > 0 {
        form.add_error(Some("username"), "A user with that username already exists.");
    }
    if p1 != p2 {
        form.add_error(Some("password2"), "The two password fields didn’t match.");
    } else {
        for problem in validate_password(&p2, req.settings().auth.password_min_length, &[&username]) {
            form.add_error(Some("password2"), problem);
        }
    }
    if !form.is_valid() {
        return form_page(&req, &form, "Add user", intro, "Save", crumbs);
    }
    let row = user::ActiveModel {
        password: ActiveValue::Set(make_password(&p1)),
        username: ActiveValue::Set(username.clone()),
        first_name: ActiveValue::Set(String::new()),
        last_name: ActiveValue::Set(String::new()),
        email: ActiveValue::Set(String::new()),
        is_staff: ActiveValue::Set(false),
        is_superuser: ActiveValue::Set(false),
        is_active: ActiveValue::Set(true),
        last_login: ActiveValue::Set(None),
        date_joined: ActiveValue::Set(chrono::Utc::now()),
        ..Default::default()
    };
    // The check above can pass for two adds of one name at once; the unique index decides,
    // and the one that loses gets the same error on its form, not a 500.
    use sea_orm::{ActiveModelTrait, TransactionTrait};
    let txn = db.begin().await?;
    let created = match row.insert(&txn).await {
        Ok(created) => created,
        Err(e) if matches!(e.sql_err(), Some(sea_orm::SqlErr::UniqueConstraintViolation(_))) => {
            if let Err(rollback) = txn.rollback().await {
                eprintln!("rolling back a refused user add also failed: {rollback}");
            }
            form.add_error(Some("username"), "A user with that username already exists.");
            return form_page(&req, &form, "Add user", intro, "Save", crumbs);
        }
        Err(e) => return Err(e.into()),
    };
    let id = created.id.to_string();
    history::log(&txn, staff.id, "auth", "user", &id, &created.username, history::ADDITION, &[]).await?;
    txn.commit().await?;
    messages::success(
        &req,
        format!("The user “{}” was added successfully. You may edit it again below.", created.username),
    );
    Ok(Response::redirect(&req.reverse("admin:auth_user_change", &[&created.id])?))
}

/// Sets a user's password (Django's `user_change_password`): typed twice, checked by the
/// validators, hashed as everywhere else. Every session of that user ends, except the
/// staff member's own when they change their own password.
async fn change_password(req: Request) -> Result<Response> {
    let entry = user_entry(&req)?;
    let (staff, _) = site::require(&req, &entry, "change")?;
    let registry = site::registry(&req)?;
    let object_id = req.param("object_id").unwrap_or_default().to_owned();
    let id: i32 = object_id.parse().map_err(|_| super::listing::not_found(&entry, &object_id))?;
    let db = req.db().await?;
    let target =
        user::Entity::find_by_id(id).one(&db).await?.ok_or_else(|| super::listing::not_found(&entry, &object_id))?;
    let mut crumbs = site::model_crumbs(&req, registry, &entry, true);
    crumbs.push(Crumb::new(target.username.clone(), req.reverse("admin:auth_user_change", &[&id]).ok()));
    crumbs.push(Crumb::new("Change password", None));
    let title = format!("Change password: {}", target.username);
    let intro = format!("Enter a new password for the user {}.", target.username);
    if req.method() != http::Method::POST {
        return form_page(&req, &AdminPasswordChangeForm::unbound(), &title, &intro, "Change password", crumbs);
    }
    let mut form = AdminPasswordChangeForm::bind(&req)?;
    let Some((p1, p2)) = form.cleaned_data().map(|d| (d.password1.clone(), d.password2.clone())) else {
        return form_page(&req, &form, &title, &intro, "Change password", crumbs);
    };
    if p1 != p2 {
        form.add_error(Some("password2"), "The two password fields didn’t match.");
    } else {
        let similar =
            [target.username.as_str(), target.email.as_str(), target.first_name.as_str(), target.last_name.as_str()];
        for problem in validate_password(&p2, req.settings().auth.password_min_length, &similar) {
            form.add_error(Some("password2"), problem);
        }
    }
    if !form.is_valid() {
        return form_page(&req, &form, &title, &intro, "Change password", crumbs);
    }
    let mut active: user::ActiveModel = target.clone().into();
    active.password = ActiveValue::Set(make_password(&p1));
    let staff_id = staff.id;
    let updated = crate::db::atomic(&db, |txn| {
        Box::pin(async move {
            use sea_orm::ActiveModelTrait;
            let updated = active.update(txn).await?;
            let change = history::Change::Changed(history::Part {
                fields: vec![history::FieldChange {
                    name: "password".into(),
                    label: "Password".into(),
                    from: None,
                    to: None,
                }],
                ..history::Part::default()
            });
            let id = updated.id.to_string();
            history::log(txn, staff_id, "auth", "user", &id, &updated.username, history::CHANGE, &[change]).await?;
            Ok(updated)
        })
    })
    .await?;
    if updated.id == staff.id {
        // Django's update_session_auth_hash: changing one's own password keeps one logged in.
        crate::auth::login(&req, &updated).await?;
    }
    messages::success(&req, "Password changed successfully.");
    Ok(Response::redirect(&req.reverse("admin:auth_user_change", &[&id])?))
}
