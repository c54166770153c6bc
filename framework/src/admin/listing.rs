//! What the change list, its actions and the other admin pages share about listing a model's
//! rows: the query parameters the list understands, its WHERE and ORDER BY, the cells of its
//! columns (related rows read once per page), and the 404 of an unknown object.

use std::collections::HashMap;

use sea_orm::sea_query::{Condition, Expr, ExprTrait, Order};
use sea_orm::{DatabaseConnection, Value};
use serde::Serialize;

use super::display;
use super::filters::{self, Params};
use super::meta::{Meta, Row};
use super::query::{self, Field};
use super::registry::{Entry, Registry};
use super::site;
use crate::error::{Error, Result};
use crate::request::Request;

/// The most rows one action may act on, selected one by one or "all".
pub(crate) const ACTION_LIMIT: usize = 1000;

/// Django's message for an action posted with no rows selected.
pub(crate) const NOTHING_SELECTED: &str =
    "Items must be selected in order to perform actions on them. No items have been changed.";

/// The model's names for templates.
#[derive(Serialize)]
pub(crate) struct OptsContext {
    app_label: String,
    model_name: String,
    verbose_name: String,
    verbose_name_plural: String,
}

pub(crate) fn opts_context(meta: &Meta) -> OptsContext {
    OptsContext {
        app_label: meta.app_label.clone(),
        model_name: meta.model_name.clone(),
        verbose_name: meta.verbose_name.clone(),
        verbose_name_plural: meta.verbose_name_plural.clone(),
    }
}

/// The parameters of the request the change list understands; the rest is dropped.
pub(crate) fn read_params(req: &Request, entry: &Entry) -> Params {
    let mut keys: Vec<String> = vec!["q".into(), "o".into(), "p".into()];
    for (_, filter) in &entry.resolved.filters {
        keys.extend(filter.keys());
    }
    if let Some((c, _)) = &entry.resolved.date_hierarchy {
        keys.extend([format!("{c}__year"), format!("{c}__month"), format!("{c}__day")]);
    }
    let mut params = Params::default();
    for key in keys {
        if let Some(value) = req.query().get(&key).map(str::trim).filter(|v| !v.is_empty() && v.len() <= 500) {
            params.set(&key, value);
        }
    }
    params
}

/// The list's order from `o` (`2.-1`: the second column, then the first descending), each
/// part checked against the sortable columns; what cannot be read is left out.
pub(crate) fn read_order(entry: &Entry, params: &Params) -> Vec<(usize, bool)> {
    let mut out: Vec<(usize, bool)> = Vec::new();
    for part in params.get("o").unwrap_or("").split('.').take(entry.resolved.list_display.len()) {
        let (digits, desc) = match part.strip_prefix('-') {
            Some(rest) => (rest, true),
            None => (part, false),
        };
        let Ok(n) = digits.parse::<usize>() else { continue };
        let Some(i) = n.checked_sub(1) else { continue };
        let sortable = entry.resolved.list_display.get(i).is_some_and(|c| c.sort.is_some());
        if sortable && !out.iter().any(|(j, _)| *j == i) {
            out.push((i, desc));
        }
    }
    out
}

pub(crate) fn write_order(order: &[(usize, bool)]) -> String {
    order.iter().map(|(i, desc)| format!("{}{}", if *desc { "-" } else { "" }, i + 1)).collect::<Vec<_>>().join(".")
}

/// The ORDER BY of the list: the chosen columns, else the admin's ordering, and the primary
/// key last so that pages never overlap.
pub(crate) fn order_exprs(tables: &query::Tables, entry: &Entry, chosen: &[(usize, bool)]) -> Vec<(Expr, Order)> {
    let meta = entry.meta();
    let mut out = Vec::new();
    let dir = |desc: bool| if desc { Order::Desc } else { Order::Asc };
    if chosen.is_empty() {
        for (field, desc) in &entry.resolved.ordering {
            if let Some(e) = query::sort_expr(meta, tables, field) {
                out.push((e, dir(*desc)));
            }
        }
    } else {
        for (i, desc) in chosen {
            if let Some(field) = &entry.resolved.list_display[*i].sort
                && let Some(e) = query::sort_expr(meta, tables, field)
            {
                out.push((e, dir(*desc)));
            }
        }
    }
    out.push((query::col(&meta.table, &meta.pk), Order::Asc));
    out
}

/// The WHERE of the list: the search, the filters and the date hierarchy; `with_hierarchy`
/// false leaves the hierarchy's own selection out (to list the dates it offers).
pub(crate) fn conditions(entry: &Entry, params: &Params, with_hierarchy: bool) -> Condition {
    let meta = entry.meta();
    let mut cond = Condition::all();
    if let Some(q) = params.get("q")
        && let Some(search) = query::search(meta, &entry.resolved.search, q)
    {
        cond = cond.add(search);
    }
    let opts = entry.model.opts();
    for (_, filter) in &entry.resolved.filters {
        let to_value = |raw: &str| -> Option<Value> {
            opts.choices.iter().find(|c| c.column == filter.column()).and_then(|c| (c.to_value)(raw))
        };
        if let Some(c) = filter.condition(meta, params, &to_value) {
            cond = cond.add(c);
        }
    }
    if with_hierarchy && let Some((column, ty)) = &entry.resolved.date_hierarchy {
        let (y, m, d) = filters::hierarchy_selection(column, params);
        if let Some((from, to)) = filters::hierarchy_range(y, m, d) {
            let c = query::col(&meta.table, column);
            cond = cond.add(c.clone().gte(query::date_value(ty, from))).add(c.lt(query::date_value(ty, to)));
        }
    }
    cond
}

/// One cell of the list.
#[derive(Serialize, Clone)]
pub(crate) struct Cell {
    pub(crate) text: String,
    /// For a boolean column: its value (shown as an icon with a text alternative).
    pub(crate) boolean: Option<bool>,
    pub(crate) url: Option<String>,
}

/// The rows related to `rows` through a foreign key, by table then key: one query per table,
/// whatever the number of rows. Each related row is its name and its columns' values.
pub(crate) async fn related_rows(
    db: &DatabaseConnection,
    registry: &Registry,
    entry: &Entry,
    rows: &[Row],
    columns: &[&Field],
) -> Result<HashMap<String, HashMap<String, (String, HashMap<String, Value>)>>> {
    let meta = entry.meta();
    // table → (key column, foreign key columns of ours pointing there, related columns wanted)
    let mut wanted: HashMap<String, (String, Vec<String>, Vec<String>)> = HashMap::new();
    for field in columns {
        match field {
            Field::Column(i) => {
                if let Some((table, key)) = &meta.columns[*i].fk {
                    let w = wanted.entry(table.clone()).or_insert_with(|| (key.clone(), Vec::new(), Vec::new()));
                    w.1.push(meta.columns[*i].name.clone());
                }
            }
            Field::Related(r) => {
                let w = wanted.entry(r.table.clone()).or_insert_with(|| (r.key.clone(), Vec::new(), Vec::new()));
                w.1.push(r.fk.clone());
                w.2.push(r.column.clone());
            }
            Field::Display(_) => {}
        }
    }
    let mut out = HashMap::new();
    for (table, (key, fks, cols)) in wanted {
        let mut keys: Vec<Value> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for fk in &fks {
            let Some(i) = meta.index(fk) else { continue };
            for row in rows {
                let v = &row.values[i];
                if let Some(text) = display::raw(v)
                    && seen.insert(text)
                {
                    keys.push(v.clone());
                }
            }
        }
        if keys.is_empty() {
            continue;
        }
        let mut by_key: HashMap<String, (String, HashMap<String, Value>)> = HashMap::new();
        if let Some(target) = registry.by_table(&table) {
            let tmeta = target.meta();
            let cond = Condition::all().add(query::col(&tmeta.table, &key).is_in(keys));
            for r in target.model.fetch(db, cond, Vec::new(), 0, ACTION_LIMIT as u64).await? {
                let values =
                    cols.iter().filter_map(|c| tmeta.index(c).map(|i| (c.clone(), r.values[i].clone()))).collect();
                let kv = tmeta.index(&key).and_then(|i| display::raw(&r.values[i])).unwrap_or_default();
                by_key.insert(kv, (target.model.str_of(&r), values));
            }
        } else {
            for (k, name, values) in unregistered_rows(db, registry, &table, &key, &cols, keys).await? {
                by_key.insert(k, (name, values));
            }
        }
        out.insert(table, by_key);
    }
    Ok(out)
}

/// Rows of a table the admin does not register, read as JSON: (key, name, columns).
pub(crate) async fn unregistered_rows(
    db: &DatabaseConnection,
    registry: &Registry,
    table: &str,
    key: &str,
    cols: &[String],
    keys: Vec<Value>,
) -> Result<Vec<(String, String, HashMap<String, Value>)>> {
    use sea_orm::sea_query::{Alias, Asterisk, Query};
    use sea_orm::{FromQueryResult, JsonValue};
    let info = registry.tables.get(table);
    let name_col = info.and_then(|i| i.name_column());
    let query = Query::select()
        .column(Asterisk)
        .from(Alias::new(table))
        .and_where(Expr::col(Alias::new(key)).is_in(keys))
        .to_owned();
    let stmt = db.get_database_backend().build(&query);
    let rows = JsonValue::find_by_statement(stmt).all(db).await?;
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    };
    Ok(rows
        .iter()
        .map(|row| {
            let k = row.get(key).map(text).unwrap_or_default();
            let name = name_col.as_ref().and_then(|c| row.get(c)).map(text).unwrap_or_else(|| format!("#{k}"));
            let values = cols.iter().map(|c| (c.clone(), Value::String(row.get(c).map(text)))).collect();
            (k, name, values)
        })
        .collect())
}

/// The cells of `rows` for the list's columns (also the CSV export's).
pub(crate) async fn cells(
    req: &Request,
    db: &DatabaseConnection,
    registry: &Registry,
    entry: &Entry,
    rows: &[Row],
) -> Result<Vec<Vec<Cell>>> {
    let meta = entry.meta();
    let columns: Vec<&Field> = entry.resolved.list_display.iter().map(|c| &c.field).collect();
    let related = related_rows(db, registry, entry, rows, &columns).await?;
    let choices =
        |column: &str| entry.model.opts().choices.iter().find(|c| c.column == column).map(|c| c.choices.as_slice());
    let change = meta.url_name("change");
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let mut line = Vec::with_capacity(columns.len());
        for (i, column) in entry.resolved.list_display.iter().enumerate() {
            let mut cell = Cell { text: String::new(), boolean: None, url: None };
            match &column.field {
                Field::Display(name) if name == "__str__" => cell.text = entry.model.str_of(row),
                Field::Display(name) => cell.text = entry.model.display(name, row).unwrap_or_default(),
                Field::Column(c) => {
                    let col = &meta.columns[*c];
                    let value = &row.values[*c];
                    if let Some((table, _)) = &col.fk {
                        cell.text = display::raw(value)
                            .and_then(|k| related.get(table).and_then(|m| m.get(&k)).map(|(name, _)| name.clone()))
                            .unwrap_or_else(|| display::text(value, None));
                    } else {
                        if let Value::Bool(b) = value {
                            cell.boolean = *b;
                        }
                        cell.text = display::column_text(&col.ty, value, choices(&col.name));
                    }
                }
                Field::Related(r) => {
                    let fk = meta.index(&r.fk).map(|i| &row.values[i]);
                    let found = fk
                        .and_then(display::raw)
                        .and_then(|k| related.get(&r.table).and_then(|m| m.get(&k)))
                        .and_then(|(_, values)| values.get(&r.column));
                    if let Some(Value::Bool(b)) = found {
                        cell.boolean = *b;
                    }
                    cell.text = found.map(|v| display::text(v, None)).unwrap_or_else(|| display::EMPTY.to_owned());
                }
            }
            if entry.resolved.links.contains(&i) {
                cell.url = req.reverse(&change, &[&row.pk]).ok();
                if cell.text.trim().is_empty() {
                    cell.text = display::EMPTY.to_owned();
                }
            }
            line.push(cell);
        }
        out.push(line);
    }
    Ok(out)
}

/// The rows an action acts on: the selected keys, or with `select_across` every row the
/// list's search and filters match; at most [`ACTION_LIMIT`].
pub(crate) async fn selected_rows(
    req: &Request,
    db: &DatabaseConnection,
    entry: &Entry,
    params: &Params,
) -> Result<std::result::Result<Vec<Row>, String>> {
    let meta = entry.meta();
    let across = req.form().get("select_across") == Some("1");
    let cond = if across {
        conditions(entry, params, true)
    } else {
        let keys: Vec<Value> =
            req.form().get_list("_selected_action").iter().filter_map(|k| meta.parse_key(k)).collect();
        if keys.is_empty() {
            return Ok(Err(NOTHING_SELECTED.into()));
        }
        if keys.len() > ACTION_LIMIT {
            return Ok(Err(format!("At most {ACTION_LIMIT} rows can be acted on at once.")));
        }
        Condition::all().add(query::col(&meta.table, &meta.pk).is_in(keys))
    };
    let registry = site::registry(req)?;
    let order = order_exprs(&registry.tables, entry, &read_order(entry, params));
    let rows = entry.model.fetch(db, cond, order, 0, ACTION_LIMIT as u64 + 1).await?;
    if rows.len() > ACTION_LIMIT {
        return Ok(Err(format!(
            "At most {ACTION_LIMIT} rows can be acted on at once; narrow the list with a search or a filter."
        )));
    }
    Ok(Ok(rows))
}

/// The 404 of an object id that names no row (Django's "… with ID “x” doesn’t exist").
pub(crate) fn not_found(entry: &Entry, object_id: &str) -> Error {
    Error::not_found(format!(
        "{} with ID “{object_id}” doesn’t exist. Perhaps it was deleted?",
        display::capfirst(&entry.meta().verbose_name)
    ))
}

/// The change list's query string an admin page carries along (`_changelist_filters`), so
/// that saving or deleting goes back to the list as it was: `?q=ada&p=2`, or nothing.
pub(crate) fn preserved_filters(req: &Request) -> String {
    let kept = req.form().get("_changelist_filters").or_else(|| req.query().get("_changelist_filters")).unwrap_or("");
    // Only a query string: nothing that could make the redirect leave the list.
    if kept.is_empty() || kept.len() > 2000 || kept.contains(['/', '\\', '#', '\r', '\n']) {
        return String::new();
    }
    format!("?{}", kept.trim_start_matches('?'))
}
