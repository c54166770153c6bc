//! The change list (Django's `ChangeList` and `changelist_view`): search, filters, the date
//! hierarchy, sorting by the columns, pagination, the counts, and the bulk actions. Its
//! queries do not grow with the rows on the page: the rows, one count (two when filtered),
//! one query per related table shown, one per foreign-key filter, and one for the hierarchy.

use std::sync::Arc;

use sea_orm::DatabaseConnection;
use sea_orm::sea_query::{Condition, ExprTrait};
use serde::Serialize;

use super::display;
use super::filters::{self, FilterView, Params};
use super::listing::{self, Cell, cells, conditions, opts_context, order_exprs, read_order, write_order};
use super::query::{self, DatePart};
use super::registry::{Entry, Registry};
use super::site::{self, Crumb, page};
use crate::error::{Error, Result};
use crate::http::Response;
use crate::request::Request;
use crate::templates::Context;

/// Related rows a foreign-key filter lists.
const FILTER_CHOICES: u64 = 200;

/// A column heading.
#[derive(Serialize)]
struct Header {
    text: String,
    sortable: bool,
    /// `ascending`, `descending`, or empty.
    sorted: &'static str,
    priority: usize,
    /// Sort by this column first (toggling its direction when it already is).
    url_primary: String,
    /// Stop sorting by this column.
    url_remove: String,
}

#[derive(Serialize)]
struct ResultRow {
    pk: String,
    cells: Vec<Cell>,
}

/// The pages to link: the first and last two, two on each side of this one, `…` between.
pub(crate) fn page_range(number: u64, num_pages: u64) -> Vec<Option<u64>> {
    if num_pages <= 10 {
        return (1..=num_pages).map(Some).collect();
    }
    let mut out = Vec::new();
    let mut last = 0;
    for n in 1..=num_pages {
        let near = n <= 2 || n + 2 > num_pages || n.abs_diff(number) <= 2;
        if near {
            if n > last + 1 {
                out.push(None);
            }
            out.push(Some(n));
            last = n;
        }
    }
    out
}

#[derive(Serialize)]
struct PageLink {
    number: Option<u64>,
    query: String,
    current: bool,
}

/// The date hierarchy's links.
#[derive(Serialize)]
struct Hierarchy {
    back: Option<(String, String)>,
    choices: Vec<(String, String)>,
}

async fn hierarchy(db: &DatabaseConnection, entry: &Entry, params: &Params) -> Result<Option<Hierarchy>> {
    let Some((column, _)) = &entry.resolved.date_hierarchy else { return Ok(None) };
    let meta = entry.meta();
    let (y, m, d) = filters::hierarchy_selection(column, params);
    let (yk, mk, dk) = (format!("{column}__year"), format!("{column}__month"), format!("{column}__day"));
    let base = params.with(&[("p", ""), (&yk, ""), (&mk, ""), (&dk, "")]);
    let backend = db.get_database_backend();
    let mut cond = conditions(entry, &params.with(&[(&yk, ""), (&mk, ""), (&dk, "")]), false);
    let (part, back) = match (y, m, d) {
        (None, _, _) => (DatePart::Year, None),
        (Some(_), None, _) => (DatePart::Month, Some(("‹ All dates".to_owned(), base.query_string()))),
        (Some(y), Some(_), _) => {
            (DatePart::Day, Some((format!("‹ {y}"), base.with(&[(&yk, &y.to_string())]).query_string())))
        }
    };
    if let Some((from, to)) = filters::hierarchy_range(y, m, None) {
        let c = query::col(&meta.table, column);
        let ty = &entry
            .resolved
            .date_hierarchy
            .as_ref()
            .map(|h| h.1.clone())
            .unwrap_or(sea_orm::sea_query::ColumnType::Date);
        cond = cond.add(c.clone().gte(query::date_value(ty, from))).add(c.lt(query::date_value(ty, to)));
    }
    let expr = query::date_part(backend, &meta.table, column, part);
    let parts = entry.model.date_parts(db, cond, expr).await?;
    let months = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    let choices = parts
        .into_iter()
        .filter_map(|n| {
            Some(match (part, y, m) {
                (DatePart::Year, _, _) => (n.to_string(), base.with(&[(&yk, &n.to_string())]).query_string()),
                (DatePart::Month, Some(y), _) => (
                    format!("{} {y}", months.get(usize::try_from(n).ok()?.checked_sub(1)?)?),
                    base.with(&[(&yk, &y.to_string()), (&mk, &n.to_string())]).query_string(),
                ),
                (DatePart::Day, Some(y), Some(m)) => (
                    format!("{} {n}", &months.get(m as usize - 1)?[..3]),
                    base.with(&[(&yk, &y.to_string()), (&mk, &m.to_string()), (&dk, &n.to_string())]).query_string(),
                ),
                _ => return None,
            })
        })
        .collect();
    let _ = d;
    Ok(Some(Hierarchy { back, choices }))
}

/// The related rows a foreign-key filter lists: (key, name), by name.
async fn filter_choices(
    db: &DatabaseConnection,
    registry: &Registry,
    entry: &Entry,
    column: &str,
) -> Result<Vec<(String, String)>> {
    let Some((table, key)) = entry.meta().column(column).and_then(|c| c.fk.clone()) else { return Ok(Vec::new()) };
    let mut out: Vec<(String, String)> = if let Some(target) = registry.by_table(&table) {
        let order = order_exprs(&registry.tables, target, &[]);
        let tmeta = target.meta();
        target
            .model
            .fetch(db, Condition::all(), order, 0, FILTER_CHOICES)
            .await?
            .iter()
            .map(|r| {
                let k = tmeta.index(&key).and_then(|i| display::raw(&r.values[i])).unwrap_or_default();
                (k, target.model.str_of(r))
            })
            .collect()
    } else {
        use sea_orm::sea_query::{Alias, Asterisk, Query};
        use sea_orm::{FromQueryResult, JsonValue};
        let query = Query::select().column(Asterisk).from(Alias::new(&table)).limit(FILTER_CHOICES).to_owned();
        let rows = JsonValue::find_by_statement(db.get_database_backend().build(&query)).all(db).await?;
        let name_col = registry.tables.get(&table).and_then(|i| i.name_column());
        let text = |v: &serde_json::Value| v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string());
        rows.iter()
            .map(|r| {
                let k = r.get(&key).map(text).unwrap_or_default();
                let name = name_col.as_ref().and_then(|c| r.get(c)).map(text).unwrap_or_else(|| format!("#{k}"));
                (k, name)
            })
            .collect()
    };
    out.sort_by_cached_key(|(_, name)| name.to_lowercase());
    Ok(out)
}

/// The change list page, and its bulk actions (a POST).
pub(crate) async fn changelist_view(req: Request, entry: Arc<Entry>) -> Result<Response> {
    let (user, perms) = site::require(&req, &entry, "view")?;
    let registry = site::registry(&req)?;
    let params = listing::read_params(&req, &entry);
    if req.method() == http::Method::POST {
        return super::actions::run(req, entry, params, perms).await;
    }
    let meta = entry.meta();
    let db = req.db().await?;
    let order = read_order(&entry, &params);
    let cond = conditions(&entry, &params, true);
    let filtered = !params.with(&[("o", ""), ("p", "")]).is_empty();
    let count = entry.model.count(&db, cond.clone()).await?;
    let full_count = if filtered { Some(entry.model.count(&db, Condition::all()).await?) } else { None };
    let per_page = entry.model.opts().list_per_page;
    let num_pages = Ord::max(count.div_ceil(per_page), 1);
    let number = match params.get("p") {
        None => 1,
        Some(p) => match p.parse::<u64>() {
            Ok(n) if n >= 1 => Ord::min(n, num_pages),
            _ => return Err(Error::bad_request(format!("Invalid page ({p}): not a page number"))),
        },
    };
    let rows = entry
        .model
        .fetch(&db, cond, order_exprs(&registry.tables, &entry, &order), (number - 1) * per_page, per_page)
        .await?;
    let mut cells = cells(&req, &db, registry, &entry, &rows).await?;
    // The change form's links carry the list's state, so saving comes back to it.
    let listed = params.query_string();
    if listed.len() > 1 {
        let kept: String = form_urlencoded::byte_serialize(&listed.as_bytes()[1..]).collect();
        for cell in cells.iter_mut().flatten() {
            if let Some(url) = &mut cell.url {
                url.push_str(&format!("?_changelist_filters={kept}"));
            }
        }
    }
    let results: Vec<ResultRow> =
        rows.iter().zip(cells).map(|(r, cells)| ResultRow { pk: r.pk.clone(), cells }).collect();

    let headers: Vec<Header> = entry
        .resolved
        .list_display
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let position = order.iter().position(|(j, _)| *j == i);
            let sorted = match position.map(|p| order[p].1) {
                Some(true) => "descending",
                Some(false) => "ascending",
                None => "",
            };
            let mut primary: Vec<(usize, bool)> = vec![(i, position == Some(0) && !order[0].1)];
            primary.extend(order.iter().filter(|(j, _)| *j != i));
            let removed: Vec<(usize, bool)> = order.iter().filter(|(j, _)| *j != i).cloned().collect();
            Header {
                text: c.heading.clone(),
                sortable: c.sort.is_some(),
                sorted,
                priority: position.map_or(0, |p| p + 1),
                url_primary: params.with(&[("o", &write_order(&primary)), ("p", "")]).query_string(),
                url_remove: params.with(&[("o", &write_order(&removed)), ("p", "")]).query_string(),
            }
        })
        .collect();

    let today = chrono::Utc::now().date_naive();
    let mut filter_views: Vec<FilterView> = Vec::new();
    for (title, filter) in &entry.resolved.filters {
        let related = match filter {
            filters::Filter::Related { column, .. } => filter_choices(&db, registry, &entry, column).await?,
            _ => Vec::new(),
        };
        filter_views.push(filter.view(title, &params, &related, today));
    }
    let pages: Vec<PageLink> = page_range(number, num_pages)
        .into_iter()
        .map(|n| PageLink {
            number: n,
            query: n.map(|n| params.with(&[("p", &n.to_string())]).query_string()).unwrap_or_default(),
            current: n == Some(number),
        })
        .collect();
    let hierarchy = hierarchy(&db, &entry, &params).await?;
    let actions = super::actions::available(&entry, &user, &perms);
    let mut ctx = Context::new();
    ctx.insert("opts", &opts_context(meta));
    ctx.insert("perms", &perms);
    ctx.insert("headers", &headers);
    ctx.insert("results", &results);
    ctx.insert("result_count", &count);
    ctx.insert("full_count", &full_count);
    ctx.insert("filters", &filter_views);
    ctx.insert("has_filters", &!filter_views.is_empty());
    ctx.insert("search", &!entry.resolved.search.is_empty());
    ctx.insert("search_help_text", &entry.model.opts().search_help_text);
    ctx.insert("q", params.get("q").unwrap_or(""));
    ctx.insert("clear_query", &params.with(&[("q", ""), ("p", "")]).query_string());
    ctx.insert("is_filtered", &filtered);
    ctx.insert("kept", &params.with(&[("q", ""), ("p", "")]).pairs());
    ctx.insert("pages", &pages);
    ctx.insert("page_number", &number);
    ctx.insert("num_pages", &num_pages);
    ctx.insert("hierarchy", &hierarchy);
    ctx.insert("actions", &actions);
    ctx.insert("action_limit", &listing::ACTION_LIMIT);
    ctx.insert("add_url", &perms.add.then(|| req.reverse(&meta.url_name("add"), &[]).ok()).flatten());
    let crumbs = {
        let mut c = site::model_crumbs(&req, registry, &entry, false);
        c.truncate(2);
        c.push(Crumb::new(display::capfirst(&meta.verbose_name_plural), None));
        c
    };
    let title = format!("Select {} to {}", meta.verbose_name, if perms.change { "change" } else { "view" });
    page(&req, "admin/change_list.html", &title, crumbs, ctx)
}

#[cfg(test)]
mod tests {
    use super::page_range;

    #[test]
    fn long_page_ranges_elide_the_middle() {
        let shown: Vec<String> =
            page_range(50, 100).into_iter().map(|n| n.map_or("…".into(), |n| n.to_string())).collect();
        assert_eq!(shown.join(" "), "1 2 … 48 49 50 51 52 … 99 100");
        assert_eq!(page_range(1, 3), [Some(1), Some(2), Some(3)]);
    }
}
