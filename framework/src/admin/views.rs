//! The admin's pages that are not about one model's rows: the index, an app's index, logging
//! in and out, the autocomplete endpoint, and an object's history.

use std::sync::Arc;

use http::StatusCode;
use serde::Serialize;

use super::display;
use super::history;
use super::registry::Entry;
use super::site::{self, Crumb, Perms, page, registry, staff};
use crate::auth::{AuthenticationForm, authenticate, login, logout, url_has_allowed_host_and_scheme};
use crate::error::{Error, Result};
use crate::forms::{BoundForm, Form};
use crate::http::Response;
use crate::request::Request;
use crate::routing::{BoxFuture, BoxedView, MethodRouter};
use crate::templates::Context;

/// Guards an admin view (Django's `AdminSite.admin_view`): an active staff user goes in;
/// anyone else is sent to the admin's login page, which comes back here. The route is open
/// to the site's `LoginRequiredMiddleware`, since the admin has its own login.
pub(crate) fn admin_view(route: MethodRouter) -> MethodRouter {
    route.login_not_required().wrap(|req: Request, view: BoxedView| async move {
        match req.user() {
            Some(user) if user.is_active && user.is_staff => view(req).await,
            _ => to_login(&req),
        }
    })
}

fn to_login(req: &Request) -> Result<Response> {
    let login = req.reverse("admin:login", &[])?;
    let next: String = form_urlencoded::byte_serialize(req.full_path().as_bytes()).collect();
    Ok(Response::redirect(&format!("{login}?next={next}")))
}

/// A view the admin calls with the registered model it is about.
pub(crate) fn with_entry<F, Fut>(
    entry: Arc<Entry>,
    f: F,
) -> impl Fn(Request) -> BoxFuture<Result<Response>> + Clone + Send + Sync + 'static
where
    F: Fn(Request, Arc<Entry>) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<Response>> + Send + 'static,
{
    move |req: Request| -> BoxFuture<Result<Response>> { Box::pin(f(req, entry.clone())) }
}

/// The admin's index: the apps and models the user may see, and their recent actions.
pub(crate) async fn index(req: Request) -> Result<Response> {
    let user = staff(&req)?;
    let registry = registry(&req)?;
    let apps = site::app_list(&req, registry, &user, None);
    let recent = recent_actions(&req, user.id).await?;
    let mut ctx = Context::new();
    ctx.insert("app_list", &apps);
    ctx.insert("recent_actions", &recent);
    let title = registry.headings.index_title.clone();
    page(&req, "admin/index.html", &title, vec![], ctx)
}

/// One app's models (Django's `app_index`); 404 for an app with none the user may see.
pub(crate) async fn app_index(req: Request) -> Result<Response> {
    let user = staff(&req)?;
    let registry = registry(&req)?;
    let label = req.param("app_label").unwrap_or_default().to_owned();
    let apps = site::app_list(&req, registry, &user, Some(&label));
    if apps.is_empty() {
        return Err(Error::not_found(format!("no app `{label}` in the admin")));
    }
    let name = registry.app_name(&label);
    let mut ctx = Context::new();
    ctx.insert("app_list", &apps);
    ctx.insert("app_label", &label);
    let crumbs = vec![Crumb::new("Home", req.reverse("admin:index", &[]).ok()), Crumb::new(name.clone(), None)];
    page(&req, "admin/app_index.html", &format!("{name} administration"), crumbs, ctx)
}

/// An entry of "Recent actions".
#[derive(Serialize)]
struct RecentAction {
    repr: String,
    url: Option<String>,
    model: String,
    is_addition: bool,
    is_change: bool,
    is_deletion: bool,
}

async fn recent_actions(req: &Request, user_id: i32) -> Result<Vec<RecentAction>> {
    let registry = registry(req)?;
    let db = req.db().await?;
    let entries = history::recent(&db, user_id, 10).await?;
    Ok(entries
        .into_iter()
        .map(|e| {
            let entry = registry.by_label(&format!("{}.{}", e.app_label, e.model_name));
            let url = (e.action_flag != history::DELETION)
                .then(|| entry.and_then(|en| req.reverse(&en.meta().url_name("change"), &[&e.object_id]).ok()))
                .flatten();
            RecentAction {
                repr: e.object_repr.clone(),
                url,
                model: entry
                    .map(|en| display::capfirst(&en.meta().verbose_name))
                    .unwrap_or_else(|| display::capfirst(&display::words(&e.model_name))),
                is_addition: e.action_flag == history::ADDITION,
                is_change: e.action_flag == history::CHANGE,
                is_deletion: e.action_flag == history::DELETION,
            }
        })
        .collect())
}

/// Where to go after logging in: a `next` on this site, else the index.
fn next_url(req: &Request, next: &str) -> Result<String> {
    let host = req.host().unwrap_or("");
    if !next.is_empty() && url_has_allowed_host_and_scheme(next, &[host], req.is_secure()) {
        return Ok(next.to_owned());
    }
    req.reverse("admin:index", &[])
}

fn login_page(req: &Request, form: &BoundForm<AuthenticationForm>, next: &str, status: StatusCode) -> Result<Response> {
    let mut ctx = Context::new();
    ctx.insert("form", form);
    ctx.insert("next", next);
    // Someone logged in who is not staff came here from an admin page.
    if let Some(user) = req.user().filter(|u| !(u.is_staff && u.is_active)) {
        ctx.insert("not_staff", &user.username);
    }
    Ok(page(req, "admin/login.html", "Log in", vec![], ctx)?.with_status(status))
}

/// The admin's login page (Django's `AdminSite.login`): auth's checks and its slow-down
/// after repeated failures, for staff accounts only.
pub(crate) async fn login_view(req: Request) -> Result<Response> {
    let next = req.form().get("next").or_else(|| req.query().get("next")).unwrap_or("").to_owned();
    if req.method() != http::Method::POST {
        if req.user().is_some_and(|u| u.is_staff && u.is_active) {
            return Ok(Response::redirect(&next_url(&req, &next)?));
        }
        return login_page(&req, &AuthenticationForm::unbound(), &next, StatusCode::OK);
    }
    let mut form = AuthenticationForm::bind(&req)?;
    let Some((username, password)) = form.cleaned_data().map(|c| (c.username.clone(), c.password.clone())) else {
        return login_page(&req, &form, &next, StatusCode::OK);
    };
    let db = req.db().await?;
    let client = req.client_addr().map(|a| a.ip());
    let limit = req.settings().auth.login_failure_limit;
    if let Some(seconds) = crate::auth::throttle::wait(&db, &username, client, limit).await? {
        form.add_error(
            None,
            format!("Too many failed login attempts for this account. Try again in {seconds} seconds."),
        );
        return Ok(login_page(&req, &form, &next, StatusCode::TOO_MANY_REQUESTS)?
            .with_header("retry-after", &seconds.to_string()));
    }
    match authenticate(&db, &username, &password).await? {
        Some(user) if user.is_staff => {
            crate::auth::throttle::clear(&db, &username, client).await?;
            login(&req, &user).await?;
            Ok(Response::redirect(&next_url(&req, &next)?))
        }
        _ => {
            crate::auth::throttle::record_failure(&db, &username, client).await?;
            form.add_error(
                None,
                "Please enter the correct username and password for a staff account. Note that both fields may be case-sensitive.",
            );
            login_page(&req, &form, &next, StatusCode::OK)
        }
    }
}

/// Logs out (POST only) and shows the admin's logged-out page.
pub(crate) async fn logout_view(req: Request) -> Result<Response> {
    logout(&req);
    page(&req, "admin/logged_out.html", "Logged out", vec![], Context::new())
}

/// One result of the autocomplete endpoint.
#[derive(Serialize)]
struct Choice {
    id: String,
    text: String,
}

/// Results per autocomplete page.
const AUTOCOMPLETE_PAGE: u64 = 20;

/// The search behind an autocomplete field (Django's `AutocompleteJsonView`):
/// `?app_label=crm&model_name=contact&field_name=company_id&term=acme&page=1` answers the
/// related rows whose search fields match, 20 at a time, as `{"results": [{"id", "text"}],
/// "pagination": {"more"}}`. The user needs to see (or add to) the model the field is on and to
/// see the related model; the field must be one of the model's autocomplete fields.
pub(crate) async fn autocomplete(req: Request) -> Result<Response> {
    let user = staff(&req)?;
    let registry = registry(&req)?;
    let q = req.query();
    let label = format!("{}.{}", q.get("app_label").unwrap_or(""), q.get("model_name").unwrap_or(""));
    let source = registry.by_label(&label).ok_or_else(|| Error::permission_denied("no such model in the admin"))?;
    let source_perms = Perms::of(&user, source);
    if !(source_perms.view || source_perms.add) {
        return Err(Error::permission_denied("you may not see this model"));
    }
    let field = q.get("field_name").unwrap_or("");
    let (_, target_label) = source
        .resolved
        .autocomplete
        .iter()
        .find(|(c, _)| c == field)
        .ok_or_else(|| Error::permission_denied("not an autocomplete field"))?;
    let target = registry.by_label(target_label).ok_or_else(|| Error::permission_denied("no such model"))?;
    // As Django's: the names listed are the related model's rows, which the user must be
    // allowed to see.
    if !Perms::of(&user, target).view {
        return Err(Error::permission_denied(format!("you may not see {}", target.meta().verbose_name_plural)));
    }
    let term = q.get("term").unwrap_or("");
    let page_number: u64 = q.get("page").and_then(|p| p.parse().ok()).filter(|p| (1..=1000).contains(p)).unwrap_or(1);
    let cond =
        super::query::search(target.meta(), &target.resolved.search, term).unwrap_or_else(sea_orm::Condition::all);
    let order = super::listing::order_exprs(&registry.tables, target, &[]);
    let db = req.db().await?;
    let rows =
        target.model.fetch(&db, cond, order, (page_number - 1) * AUTOCOMPLETE_PAGE, AUTOCOMPLETE_PAGE + 1).await?;
    let more = rows.len() as u64 > AUTOCOMPLETE_PAGE;
    let results: Vec<Choice> = rows
        .iter()
        .take(AUTOCOMPLETE_PAGE as usize)
        .map(|r| Choice { id: r.pk.clone(), text: target.model.str_of(r) })
        .collect();
    Response::json(&serde_json::json!({ "results": results, "pagination": { "more": more } }))
}

/// One entry on a history page.
#[derive(Serialize)]
struct HistoryEntry {
    time: String,
    user: String,
    action: String,
    changes: Vec<HistoryChange>,
}

#[derive(Serialize)]
struct HistoryChange {
    about: Option<String>,
    label: String,
    from: Option<String>,
    to: Option<String>,
}

/// Entries a history page shows (the oldest first, 100 a page, as Django's).
const HISTORY_PER_PAGE: u64 = 100;

/// A link to a page of a history.
#[derive(Serialize)]
struct HistoryPage {
    number: Option<u64>,
    query: String,
    current: bool,
}

/// An object's history (Django's `history_view`): every logged add, change and delete, with
/// who, when, and each changed field's value before and after, a page at a time (`?p=2`; a
/// page past the end is the last, one that is not a number a 400).
pub(crate) async fn history_view(req: Request, entry: Arc<Entry>) -> Result<Response> {
    site::require(&req, &entry, "view")?;
    let registry = registry(&req)?;
    let meta = entry.meta();
    let object_id = req.param("object_id").unwrap_or_default().to_owned();
    let key = meta.parse_key(&object_id).ok_or_else(|| super::listing::not_found(&entry, &object_id))?;
    let db = req.db().await?;
    let row = entry.model.get(&db, key).await?.ok_or_else(|| super::listing::not_found(&entry, &object_id))?;
    let count = history::count_of_object(&db, &meta.app_label, &meta.model_name, &row.pk).await?;
    let num_pages = Ord::max(count.div_ceil(HISTORY_PER_PAGE), 1);
    let number = match req.query().get("p").map(str::trim) {
        None | Some("") => 1,
        Some(p) => match p.parse::<u64>() {
            Ok(n) if n >= 1 => Ord::min(n, num_pages),
            _ => return Err(Error::bad_request(format!("Invalid page ({p}): not a page number"))),
        },
    };
    let offset = (number - 1) * HISTORY_PER_PAGE;
    let entries = history::of_object(&db, &meta.app_label, &meta.model_name, &row.pk, offset, HISTORY_PER_PAGE).await?;
    let pages: Vec<HistoryPage> = super::changelist::page_range(number, num_pages)
        .into_iter()
        .map(|n| HistoryPage {
            number: n,
            query: n.map(|n| format!("?p={n}")).unwrap_or_default(),
            current: n == Some(number),
        })
        .collect();
    let ids: Vec<i32> = entries.iter().map(|e| e.user_id).collect();
    let users = usernames(&db, ids).await?;
    let shown: Vec<HistoryEntry> = entries
        .iter()
        .map(|e| HistoryEntry {
            time: e.action_time.format("%b %-d, %Y, %H:%M:%S UTC").to_string(),
            user: users.iter().find(|(id, _)| *id == e.user_id).map(|(_, n)| n.clone()).unwrap_or_default(),
            action: history::describe(e),
            changes: history::changes(e)
                .into_iter()
                .map(|(about, f)| HistoryChange { about, label: f.label, from: f.from, to: f.to })
                .collect(),
        })
        .collect();
    let name = entry.model.str_of(&row);
    let mut crumbs = site::model_crumbs(&req, registry, &entry, true);
    crumbs.push(Crumb::new(name.clone(), req.reverse(&meta.url_name("change"), &[&row.pk]).ok()));
    crumbs.push(Crumb::new("History", None));
    let mut ctx = Context::new();
    ctx.insert("entries", &shown);
    ctx.insert("result_count", &count);
    ctx.insert("pages", &pages);
    ctx.insert("page_number", &number);
    ctx.insert("num_pages", &num_pages);
    ctx.insert("object_name", &name);
    ctx.insert("opts", &super::listing::opts_context(meta));
    page(&req, "admin/object_history.html", &format!("Change history: {name}"), crumbs, ctx)
}

/// The usernames of these users, one query.
pub(crate) async fn usernames(db: &sea_orm::DatabaseConnection, mut ids: Vec<i32>) -> Result<Vec<(i32, String)>> {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    use crate::auth::models::user;
    Ok(user::Entity::find()
        .select_only()
        .column(user::Column::Id)
        .column(user::Column::Username)
        .filter(user::Column::Id.is_in(ids))
        .into_tuple()
        .all(db)
        .await?)
}
