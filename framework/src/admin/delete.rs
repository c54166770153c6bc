//! Deleting (Django's `delete_view` and the `delete_selected` action): a confirmation page that
//! lists what goes too (the rows whose foreign keys cascade from the deleted ones, to any
//! depth), what stops the delete (rows whose foreign keys do not cascade), and the delete
//! itself in one transaction with its history entries.

use std::sync::Arc;

use sea_orm::sea_query::{Alias, Asterisk, Expr, ExprTrait, ForeignKeyAction, Query, SelectStatement};
use sea_orm::{ConnectionTrait, DatabaseConnection, FromQueryResult, JsonValue, TransactionTrait, Value};
use serde::Serialize;

use super::display;
use super::filters::Params;
use super::history;
use super::meta::Row;
use super::query::Tables;
use super::registry::{Entry, Registry};
use super::site::{self, Crumb, Perms, page};
use crate::auth::User;
use crate::error::Result;
use crate::http::Response;
use crate::messages;
use crate::request::Request;
use crate::templates::Context;

/// Related rows named per relation on the confirmation page.
const NAMED_PER_RELATION: u64 = 50;
/// How deep the cascade is followed.
const MAX_DEPTH: usize = 5;

/// The rows of one relation a delete takes with it, listed after the relation they hang
/// from (`depth` 1 under the rows of depth 0).
#[derive(Serialize, Debug)]
pub(crate) struct Cascade {
    /// `Contacts`.
    pub(crate) name: String,
    pub(crate) depth: usize,
    pub(crate) count: u64,
    /// The first rows' names (at most 50).
    pub(crate) items: Vec<String>,
    pub(crate) more: u64,
}

/// What deleting some rows involves.
#[derive(Serialize, Debug, Default)]
pub(crate) struct Collected {
    pub(crate) cascades: Vec<Cascade>,
    /// `(model, count)` for every model, the deleted one first (Django's summary).
    pub(crate) summary: Vec<(String, u64)>,
    /// Rows that would block the delete: `Deal: “Big order”`.
    pub(crate) protected: Vec<String>,
    /// Models the user may not delete rows of, that the delete would take.
    pub(crate) perms_needed: Vec<String>,
}

/// The names of a table's rows, in the admin's words.
fn plural_of(registry: &Registry, table: &str) -> String {
    match registry.by_table(table) {
        Some(e) => display::capfirst(&e.meta().verbose_name_plural),
        None => display::capfirst(&display::words(table)),
    }
}

/// The first rows `SELECT * FROM table WHERE column IN (keys)` finds, named.
async fn name_rows(
    db: &DatabaseConnection,
    registry: &Registry,
    table: &str,
    cond: Expr,
    limit: u64,
) -> Result<Vec<String>> {
    if let Some(entry) = registry.by_table(table) {
        let rows = entry.model.fetch(db, sea_orm::Condition::all().add(cond), Vec::new(), 0, limit).await?;
        return Ok(rows.iter().map(|r| entry.model.str_of(r)).collect());
    }
    let query = Query::select().column(Asterisk).from(Alias::new(table)).and_where(cond).limit(limit).to_owned();
    let rows = JsonValue::find_by_statement(db.get_database_backend().build(&query)).all(db).await?;
    let name_col = registry.tables.get(table).and_then(|i| i.name_column());
    let pk = registry.tables.get(table).and_then(|i| i.pk.clone()).unwrap_or_else(|| "id".into());
    let text = |v: &serde_json::Value| v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string());
    Ok(rows
        .iter()
        .map(|r| match name_col.as_ref().and_then(|c| r.get(c)) {
            Some(v) => text(v),
            None => format!("#{}", r.get(&pk).map(text).unwrap_or_default()),
        })
        .collect())
}

/// `SELECT key FROM table WHERE cond`: the set of rows at one level, as a subquery.
fn keys_of(table: &str, key: &str, cond: Expr) -> SelectStatement {
    Query::select().column((Alias::new(table), Alias::new(key))).from(Alias::new(table)).and_where(cond).to_owned()
}

/// What deleting the rows of `entry` whose keys are `keys` takes with it, and what blocks it.
pub(crate) async fn collect(
    db: &DatabaseConnection,
    registry: &Registry,
    entry: &Entry,
    user: &User,
    keys: Vec<Value>,
) -> Result<Collected> {
    let meta = entry.meta();
    let mut out = Collected::default();
    out.summary.push((display::capfirst(&meta.verbose_name_plural), keys.len() as u64));
    let top = Expr::col((Alias::new(&meta.table), Alias::new(&meta.pk))).is_in(keys);
    let mut path = vec![meta.table.clone()];
    let mut found = Found {
        summary: &mut out.summary,
        protected: &mut out.protected,
        perms_needed: &mut out.perms_needed,
        cascades: &mut out.cascades,
    };
    walk(db, registry, user, &meta.table, &meta.pk, top, &mut path, &mut found).await?;
    Ok(out)
}

/// What the walk finds, gathered as it goes.
struct Found<'c> {
    summary: &'c mut Vec<(String, u64)>,
    protected: &'c mut Vec<String>,
    perms_needed: &'c mut Vec<String>,
    cascades: &'c mut Vec<Cascade>,
}

/// Follows the foreign keys pointing at the rows `cond` selects in `table`, depth first.
#[allow(clippy::too_many_arguments)]
fn walk<'a, 'c: 'a>(
    db: &'a DatabaseConnection,
    registry: &'a Registry,
    user: &'a User,
    table: &'a str,
    key: &'a str,
    cond: Expr,
    path: &'a mut Vec<String>,
    found: &'a mut Found<'c>,
) -> futures_util::future::BoxFuture<'a, Result<()>> {
    Box::pin(async move {
        let tables: &Tables = &registry.tables;
        if path.len() > MAX_DEPTH {
            return Ok(());
        }
        let parents = keys_of(table, key, cond);
        let edges: Vec<(String, String, String, Option<ForeignKeyAction>)> = tables
            .referencing(table)
            .map(|(child, info, col, action)| {
                (child.to_owned(), col.to_owned(), info.pk.clone().unwrap_or_else(|| "id".into()), action)
            })
            .collect();
        for (child, column, child_key, action) in edges {
            let child_cond = Expr::col((Alias::new(&child), Alias::new(&column))).in_subquery(parents.clone());
            match action {
                Some(ForeignKeyAction::SetNull) | Some(ForeignKeyAction::SetDefault) => continue,
                Some(ForeignKeyAction::Cascade) => {}
                // NO ACTION, RESTRICT, or none given (the database's default, NO ACTION).
                _ => {
                    let names = name_rows(db, registry, &child, child_cond, NAMED_PER_RELATION).await?;
                    let what = registry
                        .by_table(&child)
                        .map(|e| display::capfirst(&e.meta().verbose_name))
                        .unwrap_or_else(|| display::capfirst(&display::words(&child)));
                    found.protected.extend(names.into_iter().map(|n| format!("{what}: {n}")));
                    continue;
                }
            }
            let count = count_rows(db, &child, child_cond.clone()).await?;
            if count == 0 {
                continue;
            }
            let name = plural_of(registry, &child);
            match found.summary.iter_mut().find(|(n, _)| *n == name) {
                Some((_, n)) => *n += count,
                None => found.summary.push((name.clone(), count)),
            }
            if let Some(e) = registry.by_table(&child)
                && !user.has_perm(&e.meta().perm("delete"))
            {
                let what = e.meta().verbose_name.clone();
                if !found.perms_needed.contains(&what) {
                    found.perms_needed.push(what);
                }
            }
            let items = name_rows(db, registry, &child, child_cond.clone(), NAMED_PER_RELATION).await?;
            let more = count.saturating_sub(items.len() as u64);
            found.cascades.push(Cascade { name, depth: path.len() - 1, count, items, more });
            if !path.contains(&child) {
                path.push(child.clone());
                walk(db, registry, user, &child, &child_key, child_cond, path, found).await?;
                path.pop();
            }
        }
        Ok(())
    })
}

async fn count_rows(db: &DatabaseConnection, table: &str, cond: Expr) -> Result<u64> {
    let query = Query::select()
        .expr_as(Expr::col(Asterisk).count(), Alias::new("n"))
        .from(Alias::new(table))
        .and_where(cond)
        .to_owned();
    let row = db.query_one(&query).await?;
    let n: i64 = match row {
        Some(r) => r.try_get("", "n")?,
        None => 0,
    };
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Whether `rows` of `entry` hold the user's own account.
fn includes_self(entry: &Entry, user: &User, rows: &[Row]) -> bool {
    entry.meta().table == "auth_user" && rows.iter().any(|r| r.pk == user.id.to_string())
}

/// Where a staff user goes who deleted their own account: logged out (their session belongs
/// to no one now), to the admin's login page, as Django's next request would.
fn after_deleting_self(req: &Request) -> Result<Response> {
    crate::auth::logout(req);
    Ok(Response::redirect(&req.reverse("admin:login", &[])?))
}

/// Deletes `rows` of `entry` in one transaction, with a history entry for each (written
/// first, as Django's: the user's own account may be among the rows, and an entry must
/// not name a user who is gone); the database takes the cascading rows with them.
pub(crate) async fn delete_rows(req: &Request, entry: &Entry, user: &User, rows: &[Row]) -> Result<()> {
    let meta = entry.meta();
    let db = req.db().await?;
    let keys: Vec<Value> = rows.iter().filter_map(|r| meta.parse_key(&r.pk)).collect();
    let names: Vec<(String, String)> = rows.iter().map(|r| (r.pk.clone(), entry.model.str_of(r))).collect();
    let txn = db.begin().await?;
    let work = async {
        for (pk, name) in &names {
            history::log(&txn, user.id, &meta.app_label, &meta.model_name, pk, name, history::DELETION, &[]).await?;
        }
        entry.model.delete(&txn, keys).await?;
        Ok::<_, crate::Error>(())
    }
    .await;
    match work {
        Ok(()) => {
            txn.commit().await?;
            Ok(())
        }
        Err(e) => {
            if let Err(rollback) = txn.rollback().await {
                eprintln!("rolling back a failed admin delete also failed: {rollback}");
            }
            Err(e)
        }
    }
}

/// One object's delete page (Django's `delete_view`): GET asks, POST deletes.
pub(crate) async fn delete_view(req: Request, entry: Arc<Entry>) -> Result<Response> {
    let (user, _) = site::require(&req, &entry, "delete")?;
    let registry = site::registry(&req)?;
    let meta = entry.meta();
    let object_id = req.param("object_id").unwrap_or_default().to_owned();
    let key = meta.parse_key(&object_id).ok_or_else(|| super::listing::not_found(&entry, &object_id))?;
    let db = req.db().await?;
    let row = entry.model.get(&db, key.clone()).await?.ok_or_else(|| super::listing::not_found(&entry, &object_id))?;
    let name = entry.model.str_of(&row);
    let collected = collect(&db, registry, &entry, &user, vec![key]).await?;
    let blocked = !collected.protected.is_empty() || !collected.perms_needed.is_empty();
    if req.method() == http::Method::POST && !blocked {
        delete_rows(&req, &entry, &user, std::slice::from_ref(&row)).await?;
        if includes_self(&entry, &user, std::slice::from_ref(&row)) {
            return after_deleting_self(&req);
        }
        messages::success(&req, format!("The {} “{name}” was deleted successfully.", meta.verbose_name));
        let perms = Perms::of(&user, &entry);
        let to =
            if perms.view { req.reverse(&meta.url_name("changelist"), &[])? } else { req.reverse("admin:index", &[])? };
        return Ok(Response::redirect(&format!("{to}{}", super::listing::preserved_filters(&req))));
    }
    let mut crumbs = site::model_crumbs(&req, registry, &entry, true);
    crumbs.push(Crumb::new(name.clone(), req.reverse(&meta.url_name("change"), &[&row.pk]).ok()));
    crumbs.push(Crumb::new("Delete", None));
    let mut ctx = Context::new();
    ctx.insert("opts", &super::listing::opts_context(meta));
    ctx.insert("object_name", &name);
    ctx.insert("collected", &collected);
    ctx.insert("blocked", &blocked);
    ctx.insert("preserved_filters", &super::listing::preserved_filters(&req));
    ctx.insert("cancel_url", &req.reverse(&meta.url_name("change"), &[&row.pk]).ok());
    page(&req, "admin/delete_confirmation.html", "Are you sure?", crumbs, ctx)
}

/// The "delete selected" action: the confirmation page, then (with `post=yes`) the delete.
pub(crate) async fn delete_selected(
    req: Request,
    entry: Arc<Entry>,
    params: Params,
    rows: Vec<Row>,
) -> Result<Response> {
    let (user, _) = site::require(&req, &entry, "delete")?;
    let registry = site::registry(&req)?;
    let meta = entry.meta();
    let db = req.db().await?;
    let keys: Vec<Value> = rows.iter().filter_map(|r| meta.parse_key(&r.pk)).collect();
    let collected = collect(&db, registry, &entry, &user, keys).await?;
    let blocked = !collected.protected.is_empty() || !collected.perms_needed.is_empty();
    let back = format!("{}{}", req.reverse(&meta.url_name("changelist"), &[])?, params.suffix());
    if req.form().get("post") == Some("yes") && !blocked {
        delete_rows(&req, &entry, &user, &rows).await?;
        if includes_self(&entry, &user, &rows) {
            return after_deleting_self(&req);
        }
        let what = if rows.len() == 1 { &meta.verbose_name } else { &meta.verbose_name_plural };
        messages::success(&req, format!("Successfully deleted {} {what}.", rows.len()));
        return Ok(Response::redirect(&back));
    }
    let objects: Vec<(String, String)> = rows.iter().map(|r| (r.pk.clone(), entry.model.str_of(r))).collect();
    let mut crumbs = site::model_crumbs(&req, registry, &entry, true);
    crumbs.push(Crumb::new("Delete multiple objects", None));
    let mut ctx = Context::new();
    ctx.insert("opts", &super::listing::opts_context(meta));
    ctx.insert("objects", &objects);
    ctx.insert("collected", &collected);
    ctx.insert("blocked", &blocked);
    ctx.insert("select_across", &(req.form().get("select_across") == Some("1")));
    ctx.insert("cancel_url", &back);
    ctx.insert("kept", &params.pairs());
    page(&req, "admin/delete_selected_confirmation.html", "Are you sure?", crumbs, ctx)
}
