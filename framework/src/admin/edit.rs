//! The add and change forms (Django's `add_view` and `change_view`): the model form laid out in
//! fieldsets, read-only fields, many-to-many pickers, autocomplete fields, inlines of related
//! rows, the three save buttons, and a history entry naming each changed field with its old
//! and new value. Everything one save writes commits together or not at all.

use std::sync::Arc;

use sea_orm::sea_query::{Condition, ExprTrait};
use sea_orm::{DatabaseConnection, DatabaseTransaction, TransactionTrait, Value};
use serde_json::{Value as Json, json};

use super::display;
use super::history::{self, Change, FieldChange, Part};
use super::listing::{not_found, preserved_filters};
use super::meta::{AdminForm, AdminModel, InlineModel, Row};
use super::query::{self, Field};
use super::registry::{Entry, Registry};
use super::site::{self, Crumb, Perms, page};
use crate::auth::User;
use crate::error::{Error, Result};
use crate::forms::FormData;
use crate::http::Response;
use crate::messages;
use crate::request::Request;
use crate::templates::Context;

/// The value of a column as the form and the history compare it, with a foreign key's or a
/// choice's name where the form knows it.
fn shown(model: &dyn AdminModel, row: &Row, column: &str, form: Option<&dyn AdminForm>) -> String {
    let meta = model.meta();
    let Some(i) = meta.index(column) else { return String::new() };
    let value = &row.values[i];
    let raw = display::raw(value).unwrap_or_default();
    if let Some(form) = form
        && let Some(spec) = form.fields().iter().find(|f| f.name == column)
        && let Some(label) = super::meta::choice_label(spec, &raw)
    {
        return label;
    }
    let choices = model.opts().choices.iter().find(|c| c.column == column).map(|c| c.choices.as_slice());
    display::column_text(&meta.columns[i].ty, value, choices)
}

/// The fields whose values differ between `before` and `after`, each value as people read
/// it: a choice's label, and a foreign key's related row by its name (read inside `txn`).
async fn changed_fields(
    registry: &Registry,
    txn: &DatabaseTransaction,
    model: &dyn AdminModel,
    before: &Row,
    after: &Row,
    form: &dyn AdminForm,
) -> Result<Vec<FieldChange>> {
    let mut out = Vec::new();
    for spec in form.fields() {
        let Some(i) = model.meta().index(&spec.name) else { continue };
        if display::raw(&before.values[i]) == display::raw(&after.values[i]) {
            continue;
        }
        let mut from = shown(model, before, &spec.name, Some(form));
        let mut to = shown(model, after, &spec.name, Some(form));
        let listed = spec.choices.iter().any(|(v, _)| display::raw(&after.values[i]).as_deref() == Some(v.as_str()));
        if !listed
            && let Some((table, _)) = &model.meta().columns[i].fk
            && let Some(target) = registry.by_table(table)
        {
            for (text, value) in [(&mut from, &before.values[i]), (&mut to, &after.values[i])] {
                if let Some(key) = display::raw(value).and_then(|k| target.meta().parse_key(&k))
                    && let Some(name) = target.model.label_in(txn, key).await?
                {
                    *text = name;
                }
            }
        }
        out.push(FieldChange { name: spec.name.clone(), label: spec.label.clone(), from: Some(from), to: Some(to) });
    }
    Ok(out)
}

/// One form of an inline on the page.
struct InlineForm<'a> {
    /// The row it edits (`None`: a new row).
    row: Option<Row>,
    form: Option<Box<dyn AdminForm + 'a>>,
    /// Whether the row is to be deleted.
    delete: bool,
    /// A new row left blank: nothing to save.
    blank: bool,
}

/// An inline's forms, with what the user may do with its rows.
struct InlineSet<'a> {
    inline: &'a Arc<dyn InlineModel>,
    prefix: String,
    forms: Vec<InlineForm<'a>>,
    perms: Perms,
    /// Errors of the whole set (a row that is not this parent's).
    errors: Vec<String>,
    /// An unbound form for the "Add another" button to copy.
    empty: Option<Box<dyn AdminForm + 'a>>,
}

fn prefix_of(inline: &dyn InlineModel) -> String {
    format!("{}_set", inline.model().meta().model_name)
}

/// The submitted values of one inline form, without their prefix.
fn inline_data(data: &FormData, prefix: &str) -> FormData {
    let start = format!("{prefix}-");
    FormData::from_pairs(
        data.fields.iter().filter_map(|(k, v)| k.strip_prefix(&start).map(|rest| (rest.to_owned(), v.to_owned()))),
    )
}

/// Whether a new inline form was left as it came: every value empty.
fn is_blank(data: &FormData, form: &dyn AdminForm) -> bool {
    form.fields().iter().all(|f| data.get(&f.name).is_none_or(|v| v.trim().is_empty()))
}

/// The rows of an inline's model pointing at `parent`.
async fn inline_rows(
    db: &DatabaseConnection,
    registry: &Registry,
    inline: &dyn InlineModel,
    parent: &Value,
) -> Result<Vec<Row>> {
    let child = inline.model();
    let meta = child.meta();
    let cond = Condition::all().add(query::col(&meta.table, inline.fk()).eq(parent.clone()));
    let mut order = Vec::new();
    for name in &child.opts().ordering {
        let (bare, desc) = name.strip_prefix('-').map_or((name.as_str(), false), |r| (r, true));
        if let Ok(field) = query::resolve(meta, &registry.tables, &[], bare)
            && let Some(e) = query::sort_expr(meta, &registry.tables, &field)
        {
            order.push((e, if desc { sea_orm::Order::Desc } else { sea_orm::Order::Asc }));
        }
    }
    order.push((query::col(&meta.table, &meta.pk), sea_orm::Order::Asc));
    child.fetch(db, cond, order, 0, inline.max_num() as u64).await
}

/// Builds an inline's forms: for a GET the rows and the empty extra forms, for a POST the
/// forms the management fields announce, bound to their data.
async fn inline_set<'a>(
    req: &'a Request,
    registry: &Registry,
    user: &User,
    inline: &'a Arc<dyn InlineModel>,
    parent: Option<&Value>,
    data: Option<&FormData>,
    editable: bool,
) -> Result<InlineSet<'a>> {
    let child = inline.model();
    let perms = match registry.by_label(&child.meta().label) {
        Some(e) => Perms::of(user, e),
        None => {
            let meta = child.meta();
            let change = user.has_perm(&meta.perm("change"));
            Perms {
                add: user.has_perm(&meta.perm("add")),
                change,
                delete: user.has_perm(&meta.perm("delete")),
                view: change || user.has_perm(&meta.perm("view")),
            }
        }
    };
    let prefix = prefix_of(inline.as_ref());
    let db = req.db().await?;
    let existing = match parent {
        Some(key) => inline_rows(&db, registry, inline.as_ref(), key).await?,
        None => Vec::new(),
    };
    let empty = if editable && perms.add { Some(child.form(req, None, None).await?) } else { None };
    let mut set = InlineSet { inline, prefix: prefix.clone(), forms: Vec::new(), perms, errors: Vec::new(), empty };
    match data {
        None => {
            for row in existing {
                let form = if editable && perms.change { Some(child.form(req, Some(&row), None).await?) } else { None };
                set.forms.push(InlineForm { row: Some(row), form, delete: false, blank: false });
            }
            if editable && perms.add {
                let room = inline.max_num().saturating_sub(set.forms.len());
                for _ in 0..inline.extra().min(room) {
                    let form = child.form(req, None, None).await?;
                    set.forms.push(InlineForm { row: None, form: Some(form), delete: false, blank: true });
                }
            }
        }
        Some(data) => {
            // No management form: the post is about the parent only (a client that knows no
            // inlines); the related rows stay as they are. One that does not read: tampered.
            let total: usize = match data.get(&format!("{prefix}-TOTAL_FORMS")) {
                None => 0,
                Some(t) => t.trim().parse().map_err(|_| {
                    Error::bad_request(format!("the {prefix} inline's management form is tampered with"))
                })?,
            };
            if total > inline.max_num() {
                return Err(Error::bad_request(format!("at most {} {prefix} forms", inline.max_num())));
            }
            for i in 0..total {
                let fp = format!("{prefix}-{i}");
                let own = inline_data(data, &fp);
                let id = own.get("id").map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned);
                let delete = own.get("DELETE").is_some_and(|v| !v.is_empty() && v != "0" && v != "false");
                match id {
                    Some(id) => {
                        let Some(row) = existing.iter().find(|r| r.pk == id).cloned() else {
                            set.errors.push(format!(
                                "A {} in the form is not one of this record's; reload the page.",
                                child.meta().verbose_name
                            ));
                            continue;
                        };
                        let wants_delete = delete && inline.can_delete() && perms.delete;
                        let form = if perms.change && !wants_delete {
                            Some(child.form(req, Some(&row), Some(own.clone())).await?)
                        } else {
                            None
                        };
                        set.forms.push(InlineForm { row: Some(row), form, delete: wants_delete, blank: false });
                    }
                    None if perms.add => {
                        let form = child.form(req, None, Some(own.clone())).await?;
                        let blank = is_blank(&own, form.as_ref()) || delete;
                        set.forms.push(InlineForm { row: None, form: Some(form), delete: false, blank });
                    }
                    None => {}
                }
            }
            // Rows the form did not mention stay as they are; shown again below the others.
            for row in existing {
                if !set.forms.iter().any(|f| f.row.as_ref().is_some_and(|r| r.pk == row.pk)) {
                    set.forms.push(InlineForm { row: Some(row), form: None, delete: false, blank: false });
                }
            }
        }
    }
    Ok(set)
}

impl InlineSet<'_> {
    fn is_valid(&mut self) -> bool {
        let mut ok = self.errors.is_empty();
        for f in &mut self.forms {
            if f.blank || f.delete {
                continue;
            }
            if let Some(form) = &mut f.form {
                ok &= form.is_valid();
            }
        }
        ok
    }

    /// The set as the template shows it.
    fn context(&self, registry: &Registry) -> Json {
        let child = self.inline.model();
        let meta = child.meta();
        let mut forms = Vec::new();
        let mut headings: Vec<String> = Vec::new();
        let mut initial = 0;
        for (i, f) in self.forms.iter().enumerate() {
            let fp = format!("{}-{i}", self.prefix);
            let fields: Vec<Json> = match &f.form {
                Some(form) => {
                    let ctx = form.context();
                    let list = ctx.get("fields").and_then(Json::as_array).cloned().unwrap_or_default();
                    if headings.is_empty() {
                        headings = list.iter().map(|x| x["label"].as_str().unwrap_or("").to_owned()).collect();
                    }
                    list.into_iter()
                        .map(|mut x| {
                            let name = x["name"].as_str().unwrap_or("").to_owned();
                            x["name"] = json!(format!("{fp}-{name}"));
                            x["id"] = json!(format!("id_{fp}-{name}"));
                            x["kind"] = json!("input");
                            x
                        })
                        .collect()
                }
                None => match &f.row {
                    Some(row) => {
                        let names = child.form_columns();
                        if headings.is_empty() {
                            headings = names.iter().map(|n| display::capfirst(&display::words(n))).collect();
                        }
                        names
                            .iter()
                            .map(|n| json!({"kind": "readonly", "label": display::capfirst(&display::words(n)), "value": shown(child, row, n, None)}))
                            .collect()
                    }
                    None => Vec::new(),
                },
            };
            if f.row.is_some() {
                initial += 1;
            }
            forms.push(json!({
                "prefix": fp,
                "pk": f.row.as_ref().map(|r| r.pk.clone()),
                "name": f.row.as_ref().map(|r| child.str_of(r)),
                "fields": fields,
                "editable": f.form.is_some(),
                "can_delete": f.row.is_some() && self.inline.can_delete() && self.perms.delete,
                "delete": f.delete,
                "errors": f.form.as_ref().map(|form| form.errors().non_field().to_vec()).unwrap_or_default(),
                "is_new": f.row.is_none(),
            }));
        }
        let _ = registry;
        let empty_form: Option<Vec<Json>> = self.empty.as_ref().map(|form| {
            let fp = format!("{}-__prefix__", self.prefix);
            form.context()
                .get("fields")
                .and_then(Json::as_array)
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(|mut x| {
                    let name = x["name"].as_str().unwrap_or("").to_owned();
                    x["name"] = json!(format!("{fp}-{name}"));
                    x["id"] = json!(format!("id_{fp}-{name}"));
                    x
                })
                .collect()
        });
        json!({
            "empty_form": empty_form,
            "prefix": self.prefix,
            "title": display::capfirst(&meta.verbose_name_plural),
            "verbose_name": meta.verbose_name,
            "tabular": self.inline.is_tabular(),
            "headings": headings,
            "forms": forms,
            "total": self.forms.len(),
            "initial": initial,
            "errors": self.errors,
            "can_add": self.perms.add,
            "max_num": self.inline.max_num(),
        })
    }
}

/// A many-to-many field on the page: its choices and which are picked.
struct M2mState {
    index: usize,
    choices: Vec<(String, String)>,
    selected: Vec<String>,
    errors: Vec<String>,
}

/// The page's values shared by GET and a POST shown again.
#[allow(clippy::too_many_arguments)]
async fn render_form(
    req: &Request,
    registry: &Registry,
    entry: &Entry,
    perms: Perms,
    row: Option<&Row>,
    form: Option<&dyn AdminForm>,
    m2m: &[M2mState],
    inlines: &[InlineSet<'_>],
    editable: bool,
) -> Result<Response> {
    let meta = entry.meta();
    let model = entry.model.as_ref();
    let db = req.db().await?;
    let adding = row.is_none();
    let form_ctx = form.map(|f| f.context()).unwrap_or(Json::Null);
    let opts = model.opts();

    // Every field, by name, as its kind of entry.
    let mut entries: Vec<(String, Json)> = Vec::new();
    if let Some(fields) = form_ctx.get("fields").and_then(Json::as_array) {
        for f in fields {
            let name = f["name"].as_str().unwrap_or("").to_owned();
            let mut f = f.clone();
            f["kind"] = json!("input");
            if let Some((_, target)) = entry.resolved.autocomplete.iter().find(|(c, _)| *c == name) {
                f["kind"] = json!("autocomplete");
                f["autocomplete_url"] = json!(format!(
                    "{}?app_label={}&model_name={}&field_name={}",
                    req.reverse("admin:autocomplete", &[])?,
                    meta.app_label,
                    meta.model_name,
                    name
                ));
                let current = f["value"].as_str().unwrap_or("").to_owned();
                let label = match (registry.by_label(target), current.is_empty()) {
                    (Some(t), false) => match t.meta().parse_key(&current) {
                        Some(k) => t.model.get(&db, k).await?.map(|r| t.model.str_of(&r)),
                        None => None,
                    },
                    _ => None,
                };
                f["current_label"] = json!(label.unwrap_or_default());
            }
            entries.push((name, f));
        }
    }
    if !editable && let Some(row) = row {
        // View only: the form's columns as text.
        for name in model.form_columns() {
            let label = display::capfirst(&display::words(&name));
            let value = readonly_value(&db, registry, entry, row, &name).await?;
            entries.push((name, json!({"kind": "readonly", "label": label, "value": value})));
        }
    }
    for (name, field) in &entry.resolved.readonly {
        let label = match field {
            Field::Display(d) => model.displays().into_iter().find(|x| x.0 == *d).map(|x| x.1).unwrap_or_default(),
            _ => display::capfirst(&display::words(name)),
        };
        let value = match row {
            Some(row) => readonly_value(&db, registry, entry, row, name).await?,
            None => display::EMPTY.to_owned(),
        };
        entries.push((name.clone(), json!({"kind": "readonly", "label": label, "value": value})));
    }
    for state in m2m {
        let field = &model.many_to_many()[state.index];
        let choices: Vec<Json> = state
            .choices
            .iter()
            .map(|(v, l)| json!({"value": v, "label": l, "selected": state.selected.contains(v)}))
            .collect();
        let entry_json = if editable {
            json!({"kind": "m2m", "name": field.name(), "id": format!("id_{}", field.name()), "label": field.label(), "help_text": field.help_text(), "choices": choices, "errors": state.errors})
        } else {
            let picked: Vec<String> =
                state.choices.iter().filter(|(v, _)| state.selected.contains(v)).map(|(_, l)| l.clone()).collect();
            json!({"kind": "readonly", "label": field.label(), "value": if picked.is_empty() { display::EMPTY.to_owned() } else { picked.join(", ") }})
        };
        entries.push((field.name().to_owned(), entry_json));
    }
    if model.has_password_field()
        && let Some(row) = row
    {
        let url = req.reverse(&meta.url_name("password_change"), &[&row.pk]).ok();
        entries.push((
            "password".into(),
            json!({"kind": "password", "label": "Password", "url": url, "editable": editable && perms.change}),
        ));
    }

    // Laid out in the fieldsets, or all in one.
    let sets: Vec<(Option<String>, String, bool, Vec<String>)> = if opts.fieldsets.is_empty() {
        let mut names: Vec<String> = match &opts.fields {
            Some(fields) => fields.clone(),
            None => entries.iter().map(|(n, _)| n.clone()).collect(),
        };
        names.dedup();
        vec![(None, String::new(), false, names)]
    } else {
        opts.fieldsets.iter().map(|f| (f.name.clone(), f.description.clone(), f.collapsed, f.fields.clone())).collect()
    };
    let fieldsets: Vec<Json> = sets
        .into_iter()
        .map(|(name, description, collapsed, names)| {
            let fields: Vec<Json> =
                names.iter().filter_map(|n| entries.iter().find(|(e, _)| e == n).map(|(_, f)| f.clone())).collect();
            json!({"name": name, "description": description, "collapsed": collapsed, "fields": fields})
        })
        .filter(|f| f["fields"].as_array().is_some_and(|a| !a.is_empty()))
        .collect();

    let name = row.map(|r| model.str_of(r));
    let mut crumbs = site::model_crumbs(req, registry, entry, perms.view);
    crumbs.push(Crumb::new(name.clone().unwrap_or_else(|| format!("Add {}", meta.verbose_name)), None));
    let title = match (&name, editable) {
        (None, _) => format!("Add {}", meta.verbose_name),
        (Some(_), true) => format!("Change {}", meta.verbose_name),
        (Some(_), false) => format!("View {}", meta.verbose_name),
    };
    let inline_ctx: Vec<Json> = inlines.iter().map(|s| s.context(registry)).collect();
    let has_errors = form.is_some_and(|f| !f.errors().is_empty())
        || m2m.iter().any(|m| !m.errors.is_empty())
        || inline_ctx.iter().any(|i| {
            i["errors"].as_array().is_some_and(|e| !e.is_empty())
                || i["forms"].as_array().is_some_and(|fs| {
                    fs.iter().any(|f| {
                        f["fields"]
                            .as_array()
                            .is_some_and(|x| x.iter().any(|x| x["errors"].as_array().is_some_and(|e| !e.is_empty())))
                            || f["errors"].as_array().is_some_and(|e| !e.is_empty())
                    })
                })
        });
    let mut ctx = Context::new();
    ctx.insert("opts", &super::listing::opts_context(meta));
    ctx.insert("perms", &perms);
    ctx.insert("adding", &adding);
    ctx.insert("editable", &editable);
    ctx.insert("object_name", &name);
    ctx.insert("object_id", &row.map(|r| r.pk.clone()));
    ctx.insert("fieldsets", &fieldsets);
    ctx.insert("non_field_errors", &form_ctx.get("non_field_errors").cloned().unwrap_or(json!([])));
    ctx.insert("has_errors", &has_errors);
    ctx.insert("inlines", &inline_ctx);
    ctx.insert("is_multipart", &false);
    ctx.insert("preserved_filters", &preserved_filters(req).trim_start_matches('?'));
    if let Some(row) = row {
        ctx.insert("history_url", &req.reverse(&meta.url_name("history"), &[&row.pk]).ok());
        ctx.insert(
            "delete_url",
            &perms.delete.then(|| req.reverse(&meta.url_name("delete"), &[&row.pk]).ok()).flatten(),
        );
        ctx.insert("view_on_site_url", &model.site_url(req, row));
    }
    ctx.insert("can_add_another", &perms.add);
    page(req, "admin/change_form.html", &title, crumbs, ctx)
}

/// A field of `row` shown as text: a column (a foreign key as the related row's name), a
/// related row's column, or a display.
async fn readonly_value(
    db: &DatabaseConnection,
    registry: &Registry,
    entry: &Entry,
    row: &Row,
    name: &str,
) -> Result<String> {
    let model = entry.model.as_ref();
    let meta = model.meta();
    let names: Vec<String> = model.displays().into_iter().map(|d| d.0).collect();
    let field = query::resolve(meta, &registry.tables, &names, name).map_err(Error::internal)?;
    Ok(match field {
        Field::Display(d) => model.display(&d, row).unwrap_or_default(),
        Field::Column(i) => {
            let column = &meta.columns[i];
            match &column.fk {
                Some((table, _)) => match (registry.by_table(table), display::raw(&row.values[i])) {
                    (Some(t), Some(k)) => match t.meta().parse_key(&k) {
                        Some(key) => t.model.get(db, key).await?.map(|r| t.model.str_of(&r)).unwrap_or(k),
                        None => k,
                    },
                    (_, raw) => raw.unwrap_or_else(|| display::EMPTY.to_owned()),
                },
                None => shown(model, row, name, None),
            }
        }
        Field::Related(r) => {
            let fk = meta.index(&r.fk).and_then(|i| display::raw(&row.values[i]));
            match (registry.by_table(&r.table), fk) {
                (Some(t), Some(k)) => match t.meta().parse_key(&k) {
                    Some(key) => match t.model.get(db, key).await? {
                        Some(rr) => {
                            t.meta().index(&r.column).map(|i| display::text(&rr.values[i], None)).unwrap_or_default()
                        }
                        None => display::EMPTY.to_owned(),
                    },
                    None => display::EMPTY.to_owned(),
                },
                _ => display::EMPTY.to_owned(),
            }
        }
    })
}

/// The add page (the model's own, when its admin has one).
pub(crate) async fn add_view(req: Request, entry: Arc<Entry>) -> Result<Response> {
    if let Some(view) = entry.model.add_view() {
        site::require(&req, &entry, "add")?;
        return view(req).await;
    }
    form_view(req, entry, None).await
}

/// The change page, or the view page for a user who may only look.
pub(crate) async fn change_view(req: Request, entry: Arc<Entry>) -> Result<Response> {
    let object_id = req.param("object_id").unwrap_or_default().to_owned();
    form_view(req, entry, Some(object_id)).await
}

/// `…/<pk>/`: Django sends it on to the change page.
pub(crate) async fn object_redirect(req: Request, entry: Arc<Entry>) -> Result<Response> {
    site::require(&req, &entry, "view")?;
    let object_id = req.param("object_id").unwrap_or_default().to_owned();
    let meta = entry.meta();
    meta.parse_key(&object_id).ok_or_else(|| not_found(&entry, &object_id))?;
    Ok(Response::redirect(&req.reverse(&meta.url_name("change"), &[&object_id])?))
}

async fn form_view(req: Request, entry: Arc<Entry>, object_id: Option<String>) -> Result<Response> {
    let (user, perms) = site::require(&req, &entry, if object_id.is_some() { "view" } else { "add" })?;
    let registry = site::registry(&req)?;
    let meta = entry.meta();
    let model = entry.model.as_ref();
    let db = req.db().await?;
    let row = match &object_id {
        Some(id) => {
            let key = meta.parse_key(id).ok_or_else(|| not_found(&entry, id))?;
            Some(model.get(&db, key).await?.ok_or_else(|| not_found(&entry, id))?)
        }
        None => None,
    };
    let editable = if row.is_some() { perms.change } else { perms.add };
    let key = row.as_ref().and_then(|r| meta.parse_key(&r.pk));
    let posted = req.method() == http::Method::POST;
    if posted && !editable {
        return Err(Error::permission_denied(format!("{} may not change {}", user.username, meta.verbose_name_plural)));
    }
    let data = if posted { Some(req.form_data()?.clone()) } else { None };

    let mut form = if editable { Some(model.form(&req, row.as_ref(), data.clone()).await?) } else { None };
    let mut m2m = Vec::new();
    for (index, field) in model.many_to_many().iter().enumerate() {
        let choices = field.choices(&db).await?;
        let selected = match (&data, &key) {
            (Some(d), _) => d.fields.get_list(field.name()).into_iter().map(str::to_owned).collect(),
            (None, Some(k)) => field.selected(&db, k.clone()).await?,
            (None, None) => Vec::new(),
        };
        let mut errors = Vec::new();
        if let Some(bad) = selected.iter().find(|s| !choices.iter().any(|(v, _)| v == *s)) {
            errors.push(format!("Select a valid choice. {bad} is not one of the available choices."));
        }
        m2m.push(M2mState { index, choices, selected, errors });
    }
    let mut inlines = Vec::new();
    for inline in model.inlines() {
        let set = inline_set(&req, registry, &user, inline, key.as_ref(), data.as_ref(), editable).await?;
        if set.perms.any() {
            inlines.push(set);
        }
    }

    if let (true, Some(form_box)) = (posted, form.as_mut()) {
        let mut valid = form_box.is_valid();
        valid &= m2m.iter().all(|m| m.errors.is_empty());
        for set in &mut inlines {
            valid &= set.is_valid();
        }
        if valid {
            let txn = db.begin().await?;
            let outcome =
                save_all(&req, &txn, &entry, &user, row.as_ref(), form_box.as_mut(), &m2m, &mut inlines).await;
            match outcome {
                Ok(Some(saved)) => {
                    txn.commit().await?;
                    return after_save(&req, &entry, &saved, row.is_none(), perms);
                }
                Ok(None) => {
                    if let Err(e) = txn.rollback().await {
                        eprintln!("rolling back a refused admin save also failed: {e}");
                    }
                }
                Err(e) => {
                    if let Err(rollback) = txn.rollback().await {
                        eprintln!("rolling back a failed admin save also failed: {rollback}");
                    }
                    return Err(e);
                }
            }
        }
    }
    render_form(&req, registry, &entry, perms, row.as_ref(), form.as_deref(), &m2m, &inlines, editable).await
}

/// Writes the form, its many-to-many fields and its inlines, and the history entry, inside
/// `txn`; `None` when the database refused part of it (the forms then carry the errors).
#[allow(clippy::too_many_arguments)]
async fn save_all(
    req: &Request,
    txn: &DatabaseTransaction,
    entry: &Entry,
    user: &User,
    before: Option<&Row>,
    form: &mut (dyn AdminForm + '_),
    m2m: &[M2mState],
    inlines: &mut [InlineSet<'_>],
) -> Result<Option<Row>> {
    let model = entry.model.as_ref();
    let meta = model.meta();
    let registry = site::registry(req)?;
    let Some(saved) = form.save(req, txn, Vec::new()).await? else { return Ok(None) };
    let mut changes: Vec<Change> = Vec::new();
    if let Some(before) = before {
        let fields = changed_fields(registry, txn, model, before, &saved, form).await?;
        if !fields.is_empty() {
            changes.push(Change::Changed(Part { fields, ..Part::default() }));
        }
    } else {
        changes.push(Change::Added(Part::default()));
    }
    let key = meta.parse_key(&saved.pk).ok_or_else(|| Error::internal("the saved row's key does not read back"))?;
    let mut m2m_fields = Vec::new();
    for state in m2m {
        let field = &model.many_to_many()[state.index];
        let (added, removed) = field.set(txn, key.clone(), state.selected.clone(), &state.choices).await?;
        if before.is_some() && (!added.is_empty() || !removed.is_empty()) {
            let name_of = |keys: &[String]| {
                let names: Vec<String> =
                    state.choices.iter().filter(|(v, _)| keys.contains(v)).map(|(_, l)| l.clone()).collect();
                names.join(", ")
            };
            let old: Vec<String> = state
                .choices
                .iter()
                .filter(|(v, _)| (state.selected.contains(v) && !added.contains(v)) || removed.contains(v))
                .map(|(v, _)| v.clone())
                .collect();
            m2m_fields.push(FieldChange {
                name: field.name().to_owned(),
                label: field.label().to_owned(),
                from: Some(name_of(&old)),
                to: Some(name_of(&state.selected)),
            });
        }
    }
    if !m2m_fields.is_empty() {
        match changes.iter_mut().find_map(|c| if let Change::Changed(p) = c { Some(p) } else { None }) {
            Some(part) => part.fields.extend(m2m_fields),
            None => changes.push(Change::Changed(Part { fields: m2m_fields, ..Part::default() })),
        }
    }
    for set in inlines.iter_mut() {
        let child = set.inline.model();
        let cmeta = child.meta();
        let fk = set.inline.fk().to_owned();
        let mut deleted = Vec::new();
        for f in set.forms.iter_mut() {
            if f.delete
                && let Some(row) = &f.row
            {
                deleted.push(row.clone());
                continue;
            }
            if f.blank {
                continue;
            }
            let Some(form) = f.form.as_mut() else { continue };
            let Some(child_saved) = form.save(req, txn, vec![(fk.clone(), key.clone())]).await? else {
                return Ok(None);
            };
            let object = Some(child.str_of(&child_saved));
            let name = Some(cmeta.verbose_name.clone());
            match &f.row {
                None => changes.push(Change::Added(Part { name, object, fields: Vec::new() })),
                Some(old) => {
                    let fields = changed_fields(registry, txn, child, old, &child_saved, form.as_ref()).await?;
                    if !fields.is_empty() {
                        changes.push(Change::Changed(Part { name, object, fields }));
                    }
                }
            }
        }
        if !deleted.is_empty() {
            let keys: Vec<Value> = deleted.iter().filter_map(|r| cmeta.parse_key(&r.pk)).collect();
            child.delete(txn, keys).await?;
            for row in &deleted {
                changes.push(Change::Deleted(Part {
                    name: Some(cmeta.verbose_name.clone()),
                    object: Some(child.str_of(row)),
                    fields: Vec::new(),
                }));
            }
        }
    }
    let flag = if before.is_some() { history::CHANGE } else { history::ADDITION };
    history::log(txn, user.id, &meta.app_label, &meta.model_name, &saved.pk, &model.str_of(&saved), flag, &changes)
        .await?;
    Ok(Some(saved))
}

/// Where a save goes, by its button, with Django's messages.
fn after_save(req: &Request, entry: &Entry, saved: &Row, added: bool, perms: Perms) -> Result<Response> {
    let meta = entry.meta();
    let name = entry.model.str_of(saved);
    let verb = if added { "added" } else { "changed" };
    let done = format!("The {} “{name}” was {verb} successfully.", meta.verbose_name);
    let form = req.form();
    let filters = preserved_filters(req);
    let keep = |url: String| {
        if filters.is_empty() {
            url
        } else {
            let encoded: String = form_urlencoded::byte_serialize(filters.trim_start_matches('?').as_bytes()).collect();
            format!("{url}?_changelist_filters={encoded}")
        }
    };
    if form.contains_key("_continue") {
        messages::success(req, format!("{done} You may edit it again below."));
        return Ok(Response::redirect(&keep(req.reverse(&meta.url_name("change"), &[&saved.pk])?)));
    }
    if form.contains_key("_addanother") {
        messages::success(req, format!("{done} You may add another {} below.", meta.verbose_name));
        return Ok(Response::redirect(&keep(req.reverse(&meta.url_name("add"), &[])?)));
    }
    messages::success(req, done);
    let to = if perms.view {
        format!("{}{filters}", req.reverse(&meta.url_name("changelist"), &[])?)
    } else {
        req.reverse("admin:index", &[])?
    };
    Ok(Response::redirect(&to))
}
