//! The change list's bulk actions (Django's admin actions): "Delete selected", "Export
//! selected as CSV", and the site's own, each offered only to users with the permission it
//! needs, and refused (403) to others who post it anyway.

use std::sync::Arc;

use http::StatusCode;
use serde::Serialize;

use bytes::Bytes;
use sea_orm::Value;
use sea_orm::sea_query::{Condition, ExprTrait};

use super::filters::Params;
use super::listing::{self, ACTION_LIMIT, cells, conditions, order_exprs, read_order};
use super::meta::is_known_permission;
use super::query;
use super::registry::Entry;
use super::site::{self, Perms, registry};
use crate::auth::User;
use crate::error::{Error, Result};
use crate::http::{Response, csv};
use crate::messages;
use crate::request::Request;

/// Rows a CSV export reads per query.
const EXPORT_BATCH: u64 = 500;

/// An action in the change list's menu.
#[derive(Serialize)]
pub(crate) struct Offered {
    name: String,
    description: String,
}

/// The actions a user may run on a model: (name, description, permission needed).
fn all(entry: &Entry) -> Vec<(String, String, String)> {
    let meta = entry.meta();
    let mut out = vec![
        ("delete_selected".to_owned(), format!("Delete selected {}", meta.verbose_name_plural), "delete".to_owned()),
        ("export_csv".to_owned(), format!("Export selected {} as CSV", meta.verbose_name_plural), "view".to_owned()),
    ];
    out.extend(entry.model.actions().into_iter().map(|a| (a.name, a.description, a.permission)));
    out
}

/// Whether `user` may run an action needing `needed`: seeing the model always (Django's
/// minimum), and the permission it names.
fn allowed(user: &User, perms: &Perms, needed: &str) -> bool {
    if !perms.view {
        return false;
    }
    match needed {
        "add" | "change" | "delete" | "view" => perms.allows(needed),
        full if is_known_permission(full) => user.has_perm(full),
        _ => false,
    }
}

/// The actions `user` may run, for the menu.
pub(crate) fn available(entry: &Entry, user: &User, perms: &Perms) -> Vec<Offered> {
    all(entry)
        .into_iter()
        .filter(|(_, _, perm)| allowed(user, perms, perm))
        .map(|(name, description, _)| Offered { name, description })
        .collect()
}

/// Runs the posted action on the selected rows.
pub(crate) async fn run(req: Request, entry: Arc<Entry>, params: Params, perms: Perms) -> Result<Response> {
    let meta = entry.meta();
    let back = format!("{}{}", req.reverse(&meta.url_name("changelist"), &[])?, params.suffix());
    let name = req.form().get("action").unwrap_or("").to_owned();
    let Some((_, _, needed)) = all(&entry).into_iter().find(|(n, _, _)| *n == name) else {
        if name.is_empty() {
            messages::warning(&req, "No action selected.");
            return Ok(Response::redirect(&back));
        }
        return Err(Error::bad_request(format!("no action `{name}` on {}", meta.verbose_name_plural)));
    };
    let user = site::staff(&req)?;
    if !allowed(&user, &perms, &needed) {
        return Err(Error::permission_denied(format!("the action `{name}` needs the {needed} permission")));
    }
    if name == "export_csv" {
        let chosen = req.form().contains_key("_selected_action") || req.form().get("select_across") == Some("1");
        if !chosen {
            messages::warning(&req, listing::NOTHING_SELECTED);
            return Ok(Response::redirect(&back));
        }
        return export_csv(req, entry, params).await;
    }
    let db = req.db().await?;
    let rows = match listing::selected_rows(&req, &db, &entry, &params).await? {
        Ok(rows) if !rows.is_empty() => rows,
        Ok(_) => {
            messages::warning(&req, "No items matched; nothing was changed.");
            return Ok(Response::redirect(&back));
        }
        Err(why) => {
            messages::warning(&req, why);
            return Ok(Response::redirect(&back));
        }
    };
    if name == "delete_selected" {
        return super::delete::delete_selected(req, entry, params, rows).await;
    }
    let _ = registry(&req)?;
    match entry.model.run_action(&name, req, rows).await? {
        Some(resp) => Ok(resp),
        None => Ok(Response::redirect(&back).with_status(StatusCode::FOUND)),
    }
}

/// "Export selected as CSV": the list's columns for the selected rows (or all the list's
/// rows), streamed a batch at a time.
pub(crate) async fn export_csv(req: Request, entry: Arc<Entry>, params: Params) -> Result<Response> {
    let db = req.db().await?;
    let meta = entry.meta().clone();
    let across = req.form().get("select_across") == Some("1");
    let cond = if across {
        conditions(&entry, &params, true)
    } else {
        let keys: Vec<Value> =
            req.form().get_list("_selected_action").iter().filter_map(|k| meta.parse_key(k)).collect();
        if keys.len() > ACTION_LIMIT {
            return Err(Error::bad_request(format!("at most {ACTION_LIMIT} rows can be selected; use “select all”")));
        }
        Condition::all().add(query::col(&meta.table, &meta.pk).is_in(keys))
    };
    let order = order_exprs(&site::registry(&req)?.tables, &entry, &read_order(&entry, &params));
    let mut header = csv::Writer::new();
    header.row(entry.resolved.list_display.iter().map(|c| c.heading.clone()));
    let first = header.take();
    // The request goes with the stream: reversing links and reading the registry need it.
    let state = Some((req, db, entry.clone(), cond, order, 0u64));
    let rows = futures_util::stream::unfold(state, |state| async move {
        let (req, db, entry, cond, order, offset) = state?;
        let batch = async {
            let registry = site::registry(&req)?;
            let rows = entry.model.fetch(&db, cond.clone(), order.clone(), offset, EXPORT_BATCH).await?;
            let cells = cells(&req, &db, registry, &entry, &rows).await?;
            let mut out = csv::Writer::new();
            for line in cells {
                out.row(line.into_iter().map(|c| c.text));
            }
            Ok::<_, Error>((rows.len() as u64, out.take()))
        }
        .await;
        match batch {
            Ok((0, _)) => None,
            Ok((n, bytes)) => {
                let next = (n == EXPORT_BATCH).then_some((req, db, entry, cond, order, offset + n));
                Some((Ok(bytes), next))
            }
            Err(e) => Some((Err(e), None)),
        }
    });
    let stream =
        futures_util::StreamExt::chain(futures_util::stream::once(async move { Ok::<Bytes, Error>(first) }), rows);
    let filename = format!("{}.csv", meta.verbose_name_plural.replace(' ', "_"));
    Ok(csv::streaming_response(&filename, stream))
}
