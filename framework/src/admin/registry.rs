//! The admin's registry (Django's `AdminSite._registry`): the registered models, their
//! options resolved and checked when the site is built (Django's admin system checks), and the
//! site's headings.

use std::sync::Arc;

use sea_orm::sea_query::ColumnType;

use super::display;
use super::filters::Filter;
use super::meta::{AdminModel, Meta};
use super::query::{self, Field, Lookup, Tables};
use crate::db::FixtureModel;

/// A list column, resolved.
#[derive(Debug, Clone)]
pub(crate) struct ListColumn {
    pub(crate) name: String,
    pub(crate) heading: String,
    pub(crate) field: Field,
    /// What the column sorts by, when it sorts.
    pub(crate) sort: Option<Field>,
}

/// A model's options resolved against its columns and the site's tables.
#[derive(Debug, Clone, Default)]
pub(crate) struct Resolved {
    pub(crate) list_display: Vec<ListColumn>,
    /// Indexes of the columns that link to the change form.
    pub(crate) links: Vec<usize>,
    pub(crate) search: Vec<(Field, Lookup)>,
    pub(crate) filters: Vec<(String, Filter)>,
    /// The date hierarchy's column and its type.
    pub(crate) date_hierarchy: Option<(String, ColumnType)>,
    /// The default order: (field, descending).
    pub(crate) ordering: Vec<(Field, bool)>,
    /// Foreign keys with a search box: (column, the related model's label).
    pub(crate) autocomplete: Vec<(String, String)>,
    pub(crate) readonly: Vec<(String, Field)>,
}

/// One registered model.
pub(crate) struct Entry {
    pub(crate) model: Arc<dyn AdminModel>,
    pub(crate) resolved: Resolved,
}

impl Entry {
    pub(crate) fn meta(&self) -> &Meta {
        self.model.meta()
    }
}

/// The admin site's headings (Django's `AdminSite.site_header` and friends).
#[derive(Debug, Clone)]
pub(crate) struct Headings {
    pub(crate) site_header: String,
    pub(crate) site_title: String,
    pub(crate) index_title: String,
    pub(crate) site_url: Option<String>,
    pub(crate) app_names: Vec<(String, String)>,
}

impl Default for Headings {
    fn default() -> Self {
        Headings {
            site_header: "djambda administration".into(),
            site_title: "djambda site admin".into(),
            index_title: "Site administration".into(),
            site_url: Some("/".into()),
            app_names: vec![("auth".into(), "Authentication and Authorization".into())],
        }
    }
}

/// Every registered model, in registration order, and the site's tables.
pub(crate) struct Registry {
    pub(crate) entries: Vec<Arc<Entry>>,
    pub(crate) tables: Tables,
    pub(crate) headings: Headings,
}

impl Registry {
    /// Prepares and checks every model; every problem found, each naming its model.
    /// `models` and `unregistered` come with the index of the registrations that gave them: a
    /// label unregistered by one set leaves the others' registrations of it out.
    pub(crate) fn build(
        models: Vec<(usize, Arc<dyn AdminModel>)>,
        unregistered: Vec<(usize, String)>,
        site_models: &[Arc<dyn FixtureModel>],
        headings: Headings,
    ) -> Result<Registry, String> {
        let tables = Tables::new(site_models);
        let mut problems = Vec::new();
        let mut prepared: Vec<Arc<dyn AdminModel>> = Vec::new();
        for (set, model) in models {
            if let Err(p) = model.prepare(site_models) {
                problems.extend(p);
                continue;
            }
            let label = &model.meta().label;
            if unregistered.iter().any(|(other, l)| *other != set && l == label) {
                continue;
            }
            for inline in model.inlines() {
                if let Err(p) = inline.model().prepare(site_models) {
                    problems.extend(p);
                }
            }
            prepared.push(model);
        }
        let mut entries: Vec<Arc<Entry>> = Vec::new();
        for model in &prepared {
            if entries.iter().any(|e| e.meta().label == model.meta().label) {
                problems.push(format!(
                    "{} is registered with the admin twice; take one out with Registrations::unregister(\"{}\")",
                    model.meta().label,
                    model.meta().label
                ));
                continue;
            }
            match resolve(model.as_ref(), &tables) {
                Ok(resolved) => entries.push(Arc::new(Entry { model: model.clone(), resolved })),
                Err(p) => problems.extend(p),
            }
        }
        // Checks that need every model: inlines' foreign keys, autocomplete targets; and the
        // actions' permissions, which must read (a misspelt one would refuse everyone).
        for entry in &entries {
            let meta = entry.meta();
            for action in entry.model.actions() {
                if !super::meta::is_known_permission(&action.permission) {
                    problems.push(format!(
                        "{}: the action `{}` needs the permission `{}`, which is none of add, change, delete, view or a full permission name (`app.codename`)",
                        meta.label, action.name, action.permission
                    ));
                }
                if ["delete_selected", "export_csv"].contains(&action.name.as_str()) {
                    problems.push(format!(
                        "{}: the action `{}` has the name of one of the admin's own",
                        meta.label, action.name
                    ));
                }
            }
            for inline in entry.model.inlines() {
                let child = inline.model().meta();
                match child.column(inline.fk()).and_then(|c| c.fk.as_ref()) {
                    Some((table, _)) if *table == meta.table => {}
                    _ => problems.push(format!(
                        "{}: the inline of {} needs `{}` to be a foreign key to {}",
                        meta.label,
                        child.label,
                        inline.fk(),
                        meta.table
                    )),
                }
            }
            for (column, target) in &entry.resolved.autocomplete {
                match entries.iter().find(|e| e.meta().label == *target) {
                    Some(t) if !t.resolved.search.is_empty() => {}
                    Some(_) => problems.push(format!(
                        "{}: autocomplete_fields names `{column}`, but the admin of {target} has no search_fields to search with",
                        meta.label
                    )),
                    None => problems.push(format!(
                        "{}: autocomplete_fields names `{column}`, but {target} is not registered with the admin",
                        meta.label
                    )),
                }
            }
        }
        if problems.is_empty() { Ok(Registry { entries, tables, headings }) } else { Err(problems.join("; ")) }
    }

    pub(crate) fn by_label(&self, label: &str) -> Option<&Arc<Entry>> {
        self.entries.iter().find(|e| e.meta().label == label)
    }

    pub(crate) fn by_table(&self, table: &str) -> Option<&Arc<Entry>> {
        self.entries.iter().find(|e| e.meta().table == table)
    }

    /// An app's name in words (`Authentication and Authorization`, or `Crm`).
    pub(crate) fn app_name(&self, app_label: &str) -> String {
        self.headings
            .app_names
            .iter()
            .find(|(label, _)| label == app_label)
            .map(|(_, name)| name.clone())
            .unwrap_or_else(|| display::capfirst(&display::words(app_label)))
    }
}

/// Resolves and checks one model's options.
fn resolve(model: &dyn AdminModel, tables: &Tables) -> Result<Resolved, Vec<String>> {
    let meta = model.meta();
    let opts = model.opts();
    let displays: Vec<(String, String, Option<String>)> = model.displays();
    let display_names: Vec<String> = displays.iter().map(|d| d.0.clone()).collect();
    let mut problems = Vec::new();
    let mut out = Resolved::default();
    let mut problem = |what: &str, e: String| problems.push(format!("{}: {what}: {e}", meta.label));

    let names = if opts.list_display.is_empty() { vec!["__str__".to_owned()] } else { opts.list_display.clone() };
    for name in &names {
        if name == "__str__" {
            out.list_display.push(ListColumn {
                name: name.clone(),
                heading: display::capfirst(&meta.verbose_name),
                field: Field::Display("__str__".into()),
                sort: None,
            });
            continue;
        }
        match query::resolve(meta, tables, &display_names, name) {
            Ok(field) => {
                let (heading, sort) = match &field {
                    Field::Column(i) => {
                        (display::capfirst(&display::words(&meta.columns[*i].name)), Some(field.clone()))
                    }
                    Field::Related(r) => (
                        display::capfirst(&format!("{} {}", display::words(&r.fk), display::words(&r.column))),
                        Some(field.clone()),
                    ),
                    Field::Display(d) => {
                        let (_, label, ordering) = displays.iter().find(|x| x.0 == *d).cloned().unwrap_or_default();
                        let sort = match ordering {
                            Some(o) => match query::resolve(meta, tables, &[], &o) {
                                Ok(f) => Some(f),
                                Err(e) => {
                                    problem("a display's ordering", e);
                                    None
                                }
                            },
                            None => None,
                        };
                        (label, sort)
                    }
                };
                out.list_display.push(ListColumn { name: name.clone(), heading, field, sort });
            }
            Err(e) => problem("list_display", e),
        }
    }
    let links = opts.list_display_links.clone().unwrap_or_else(|| names.iter().take(1).cloned().collect());
    for link in &links {
        match out.list_display.iter().position(|c| c.name == *link) {
            Some(i) => out.links.push(i),
            None => problem("list_display_links", format!("`{link}` is not in list_display")),
        }
    }

    for name in &opts.search_fields {
        let (bare, lookup) = query::search_lookup(name);
        match query::resolve(meta, tables, &[], bare) {
            Ok(field) => {
                let ty = match &field {
                    Field::Column(i) => Some(&meta.columns[*i].ty),
                    Field::Related(r) => r.ty.as_ref(),
                    Field::Display(_) => None,
                };
                if query::is_text(ty) {
                    out.search.push((field, lookup));
                } else {
                    problem("search_fields", format!("`{bare}` is not a text column"));
                }
            }
            Err(e) => problem("search_fields", e),
        }
    }

    for name in &opts.list_filter {
        let Some(column) = meta.column(name) else {
            problem("list_filter", format!("`{name}` is not a column of {}", meta.label));
            continue;
        };
        let title = display::words(&column.name);
        let choice = opts.choices.iter().find(|c| c.column == *name);
        let filter = if column.ty == ColumnType::Boolean {
            Filter::Bool { column: name.clone(), nullable: column.nullable }
        } else if let Some(choice) = choice {
            Filter::Choices { column: name.clone(), choices: choice.choices.clone() }
        } else if let ColumnType::Enum { variants, .. } = &column.ty {
            let choices = variants.iter().map(|v| (v.to_string(), display::capfirst(&v.to_string()))).collect();
            Filter::Choices { column: name.clone(), choices }
        } else if column.fk.is_some() {
            Filter::Related { column: name.clone(), nullable: column.nullable }
        } else if display::is_date(&column.ty) {
            Filter::Date { column: name.clone(), ty: column.ty.clone(), nullable: column.nullable }
        } else {
            problem(
                "list_filter",
                format!("`{name}` is not a boolean, a foreign key, a date, or an enum given with .choices::<T>()"),
            );
            continue;
        };
        out.filters.push((title, filter));
    }

    if let Some(name) = &opts.date_hierarchy {
        match meta.column(name) {
            Some(c) if display::is_date(&c.ty) => out.date_hierarchy = Some((name.clone(), c.ty.clone())),
            _ => problem("date_hierarchy", format!("`{name}` is not a date or timestamp column")),
        }
    }

    let ordering = if opts.ordering.is_empty() { vec![format!("-{}", meta.pk)] } else { opts.ordering.clone() };
    for name in &ordering {
        let (bare, desc) = match name.strip_prefix('-') {
            Some(rest) => (rest, true),
            None => (name.as_str(), false),
        };
        match query::resolve(meta, tables, &[], bare) {
            Ok(field) => out.ordering.push((field, desc)),
            Err(e) => problem("ordering", e),
        }
    }

    for name in &opts.autocomplete_fields {
        match meta.column(name).and_then(|c| c.fk.as_ref()) {
            Some((table, _)) => match tables.get(table) {
                Some(info) => out.autocomplete.push((name.clone(), info.label.clone())),
                None => problem("autocomplete_fields", format!("`{table}` is not a model of any installed app")),
            },
            None => problem("autocomplete_fields", format!("`{name}` is not a foreign key")),
        }
    }

    for name in &opts.readonly_fields {
        match query::resolve(meta, tables, &display_names, name) {
            Ok(field) => out.readonly.push((name.clone(), field)),
            Err(e) => problem("readonly_fields", e),
        }
    }
    let form_names: Vec<String> = model.form_columns();
    let m2m: Vec<String> = model.many_to_many().iter().map(|m| m.name().to_owned()).collect();
    let fieldset_fields = opts.fieldsets.iter().flat_map(|f| f.fields.iter()).chain(opts.fields.iter().flatten());
    for name in fieldset_fields {
        let known = form_names.contains(name)
            || m2m.contains(name)
            || out.readonly.iter().any(|(n, _)| n == name)
            || (model.has_password_field() && name == "password");
        if !known {
            problem("fields", format!("`{name}` is not an editable column, a read-only field or a many-to-many field"));
        }
    }
    if problems.is_empty() { Ok(out) } else { Err(problems) }
}

#[cfg(test)]
mod tests {
    use crate::admin::{ModelAdmin, Registrations};
    use crate::auth::models::{group, user};
    use crate::prelude::*;

    fn build(registrations: Registrations) -> std::result::Result<Site, String> {
        Site::builder()
            .settings(Settings::from_sources(Some("DEBUG = true"), |_| None).unwrap())
            .app(crate::auth::app())
            .app(crate::sessions::app())
            .app(crate::csrf::app())
            .app(crate::messages::app())
            .app(crate::admin::app())
            .app(App::new("site").contribute(registrations))
            .build()
            .map_err(|e| e.to_string())
    }

    #[test]
    fn bad_option_names_stop_the_site_with_what_to_fix() {
        let bad = Registrations::new().unregister("auth.group").register(
            ModelAdmin::<group::Entity>::new()
                .list_display(["nmae"])
                .search_fields(["id"])
                .list_filter(["name"])
                .ordering(["-nope"])
                .autocomplete_fields(["name"]),
        );
        let message = build(bad).unwrap_err();
        for part in [
            "auth.group: list_display: `nmae` is not a column of auth.group",
            "search_fields: `id` is not a text column",
            "list_filter: `name` is not a boolean, a foreign key, a date, or an enum",
            "ordering: `nope` is not a column",
            "autocomplete_fields: `name` is not a foreign key",
        ] {
            assert!(message.contains(part), "{part} in: {message}");
        }
        let twice = Registrations::new().register(ModelAdmin::<user::Entity>::new());
        let message = build(twice).unwrap_err();
        assert!(message.contains("auth.user is registered with the admin twice"), "{message}");
        let related = Registrations::new()
            .unregister("auth.group")
            .register(ModelAdmin::<group::Entity>::new().list_display(["name__x"]));
        assert!(build(related).unwrap_err().contains("auth.group has no foreign key `name`"));
        let fine = Registrations::new()
            .unregister("auth.group")
            .register(ModelAdmin::<group::Entity>::new().list_display(["name"]).search_fields(["^name"]));
        let site = build(fine).unwrap();
        assert_eq!(site.reverse("admin:auth_group_history", &[&3]).unwrap(), "/admin/auth/group/3/history/");
    }
}
