//! What the admin's views know of a registered model, whatever its entity type: its shape
//! ([`Meta`]), its rows as values ([`Row`]), the options that do not depend on the entity,
//! and the object-safe traits the entity-typed code in `model.rs` implements. The views above
//! work on `dyn AdminModel`, so each entity adds only `model.rs`'s code to a build.

use std::any::Any;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use sea_orm::sea_query::{ColumnType, Condition, Expr, Order};
use sea_orm::{DatabaseConnection, DatabaseTransaction, Value};

use super::display;
use super::m2m::ManyToManyField;
use crate::db::FixtureModel;
use crate::error::Result;
use crate::forms::{FieldSpec, FormData, FormErrors, Widget};
use crate::http::Response;
use crate::request::Request;

/// A view of the admin's own, as [`ModelAdmin::add_view`](super::ModelAdmin::add_view) and
/// [`ModelAdmin::extra_view`](super::ModelAdmin::extra_view) take.
pub type AdminView = Arc<dyn Fn(Request) -> crate::routing::BoxFuture<Result<Response>> + Send + Sync>;

/// A group of fields on the change form, with an optional heading (Django's `fieldsets`).
#[derive(Debug, Clone, Default)]
pub struct Fieldset {
    pub(crate) name: Option<String>,
    pub(crate) fields: Vec<String>,
    pub(crate) description: String,
    pub(crate) collapsed: bool,
}

impl Fieldset {
    /// A fieldset headed `name` (`None`: no heading) holding `fields`.
    pub fn new<S: Into<String>>(name: Option<&str>, fields: impl IntoIterator<Item = S>) -> Self {
        Fieldset {
            name: name.map(str::to_owned),
            fields: fields.into_iter().map(Into::into).collect(),
            ..Fieldset::default()
        }
    }

    /// A sentence under the heading.
    pub fn description(mut self, text: &str) -> Self {
        self.description = text.to_owned();
        self
    }

    /// Shown closed until opened (Django's `classes = ["collapse"]`).
    pub fn collapsed(mut self) -> Self {
        self.collapsed = true;
        self
    }
}

/// Reads a choice's value as the column's SQL value.
pub(crate) type ToValue = Arc<dyn Fn(&str) -> Option<Value> + Send + Sync>;

/// An enum column's choices, for the list's cells and filters.
#[derive(Clone)]
pub(crate) struct ChoiceColumn {
    pub(crate) column: String,
    pub(crate) choices: Vec<(String, String)>,
    pub(crate) to_value: ToValue,
}

/// The options of every model admin that do not depend on the entity's type.
#[derive(Clone)]
pub(crate) struct Options {
    pub(crate) list_display: Vec<String>,
    pub(crate) list_display_links: Option<Vec<String>>,
    pub(crate) search_fields: Vec<String>,
    pub(crate) search_help_text: String,
    pub(crate) list_filter: Vec<String>,
    pub(crate) date_hierarchy: Option<String>,
    pub(crate) ordering: Vec<String>,
    pub(crate) list_per_page: u64,
    pub(crate) readonly_fields: Vec<String>,
    pub(crate) fields: Option<Vec<String>>,
    pub(crate) fieldsets: Vec<Fieldset>,
    pub(crate) autocomplete_fields: Vec<String>,
    pub(crate) verbose_name: Option<String>,
    pub(crate) verbose_name_plural: Option<String>,
    pub(crate) choices: Vec<ChoiceColumn>,
    pub(crate) exclude: Vec<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            list_display: Vec::new(),
            list_display_links: None,
            search_fields: Vec::new(),
            search_help_text: String::new(),
            list_filter: Vec::new(),
            date_hierarchy: None,
            ordering: Vec::new(),
            list_per_page: 100,
            readonly_fields: Vec::new(),
            fields: None,
            fieldsets: Vec::new(),
            autocomplete_fields: Vec::new(),
            verbose_name: None,
            verbose_name_plural: None,
            choices: Vec::new(),
            exclude: Vec::new(),
        }
    }
}

pub(crate) fn strings<S: Into<String>>(items: impl IntoIterator<Item = S>) -> Vec<String> {
    items.into_iter().map(Into::into).collect()
}

/// One column of a registered model.
#[derive(Debug, Clone)]
pub(crate) struct ColumnMeta {
    pub(crate) name: String,
    pub(crate) ty: ColumnType,
    pub(crate) nullable: bool,
    /// The table and column a foreign key points at.
    pub(crate) fk: Option<(String, String)>,
}

/// What the admin knows of a registered model's shape.
#[derive(Debug, Clone, Default)]
pub(crate) struct Meta {
    /// `crm.contact`.
    pub(crate) label: String,
    pub(crate) app_label: String,
    pub(crate) model_name: String,
    pub(crate) verbose_name: String,
    pub(crate) verbose_name_plural: String,
    pub(crate) table: String,
    pub(crate) pk: String,
    pub(crate) pk_type: Option<ColumnType>,
    pub(crate) columns: Vec<ColumnMeta>,
}

impl Meta {
    pub(crate) fn column(&self, name: &str) -> Option<&ColumnMeta> {
        self.columns.iter().find(|c| c.name == name)
    }

    pub(crate) fn index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    /// The foreign key column a relation name means: `company` (or `company_id`) → `company_id`.
    pub(crate) fn relation(&self, name: &str) -> Option<&ColumnMeta> {
        self.columns.iter().filter(|c| c.fk.is_some()).find(|c| c.name == name || c.name == format!("{name}_id"))
    }

    /// The URL name of one of the model's admin pages: `admin:crm_contact_change`.
    pub(crate) fn url_name(&self, page: &str) -> String {
        format!("admin:{}_{}_{page}", self.app_label, self.model_name)
    }

    /// `crm.view_contact`.
    pub(crate) fn perm(&self, action: &str) -> String {
        format!("{}.{action}_{}", self.app_label, self.model_name)
    }

    /// A primary key from a URL, as the key column's type.
    pub(crate) fn parse_key(&self, text: &str) -> Option<Value> {
        self.pk_type.as_ref().and_then(|ty| display::parse_key(ty, text))
    }
}

/// One row: its key as text, its values in column order, and the model itself for the site's
/// closures.
#[derive(Clone)]
pub(crate) struct Row {
    pub(crate) pk: String,
    pub(crate) values: Vec<Value>,
    pub(crate) model: Arc<dyn Any + Send + Sync>,
}

/// A bulk action as the change list offers it.
pub(crate) struct ActionInfo {
    pub(crate) name: String,
    pub(crate) description: String,
    pub(crate) permission: String,
}

/// Whether a permission an action names reads: one of the model's own (`add`, `change`,
/// `delete`, `view`) or a full permission name (`crm.publish_contact`, Django's
/// `allowed_permissions` with a permission of the site's own).
pub(crate) fn is_known_permission(needed: &str) -> bool {
    matches!(needed, "add" | "change" | "delete" | "view")
        || needed.split_once('.').is_some_and(|(app, codename)| !app.is_empty() && !codename.is_empty())
}

/// A model form bound for one request, whatever its entity.
pub(crate) trait AdminForm: Send + Sync {
    fn is_valid(&mut self) -> bool;
    fn errors(&self) -> &FormErrors;
    fn fields(&self) -> &[FieldSpec];
    /// The form as templates see it (`fields`, each field under its name, the errors).
    fn context(&self) -> serde_json::Value;
    /// Saves a valid form inside `txn`, with `set` (column, value) written too and the admin's
    /// `before_save`; `None` when the database refused it (the form then has the error).
    fn save<'a>(
        &'a mut self,
        req: &'a Request,
        txn: &'a DatabaseTransaction,
        set: Vec<(String, Value)>,
    ) -> BoxFuture<'a, Result<Option<Row>>>;
}

/// A registered model, whatever its entity: what the admin's views call.
pub(crate) trait AdminModel: Send + Sync + 'static {
    fn meta(&self) -> &Meta;
    fn opts(&self) -> &Options;
    /// Fills in what needs the site: the model's label (from its app's `App::model`), and
    /// checks the options' names; every problem found.
    fn prepare(&self, models: &[Arc<dyn FixtureModel>]) -> std::result::Result<(), Vec<String>>;
    /// Computed columns: (name, heading, what it sorts by).
    fn displays(&self) -> Vec<(String, String, Option<String>)>;
    fn display(&self, name: &str, row: &Row) -> Option<String>;
    fn str_of(&self, row: &Row) -> String;
    fn site_url(&self, req: &Request, row: &Row) -> Option<String>;
    fn actions(&self) -> Vec<ActionInfo>;
    fn run_action(&self, name: &str, req: Request, rows: Vec<Row>) -> BoxFuture<'static, Result<Option<Response>>>;
    fn inlines(&self) -> &[Arc<dyn InlineModel>];
    fn many_to_many(&self) -> &[Arc<dyn ManyToManyField>];
    fn add_view(&self) -> Option<AdminView>;
    fn extra_views(&self) -> Vec<(String, String, AdminView)>;
    fn has_password_field(&self) -> bool;
    /// The form's column names (editable columns, in order).
    fn form_columns(&self) -> Vec<String>;
    fn count<'a>(&'a self, db: &'a DatabaseConnection, cond: Condition) -> BoxFuture<'a, Result<u64>>;
    fn fetch<'a>(
        &'a self,
        db: &'a DatabaseConnection,
        cond: Condition,
        order: Vec<(Expr, Order)>,
        offset: u64,
        limit: u64,
    ) -> BoxFuture<'a, Result<Vec<Row>>>;
    fn get<'a>(&'a self, db: &'a DatabaseConnection, key: Value) -> BoxFuture<'a, Result<Option<Row>>>;
    /// The name of the row with this key, read inside a transaction.
    fn label_in<'a>(&'a self, txn: &'a DatabaseTransaction, key: Value) -> BoxFuture<'a, Result<Option<String>>>;
    /// The distinct values of `expr` (a year, month or day) over the rows `cond` matches, in order.
    fn date_parts<'a>(
        &'a self,
        db: &'a DatabaseConnection,
        cond: Condition,
        expr: Expr,
    ) -> BoxFuture<'a, Result<Vec<i64>>>;
    /// The model form for `instance` (or a new row), bound to `data` when given.
    fn form<'a>(
        &'a self,
        req: &'a Request,
        instance: Option<&Row>,
        data: Option<FormData>,
    ) -> BoxFuture<'a, Result<Box<dyn AdminForm + 'a>>>;
    fn delete<'a>(&'a self, txn: &'a DatabaseTransaction, keys: Vec<Value>) -> BoxFuture<'a, Result<u64>>;
}

/// A one-to-many inline, whatever its entity.
pub(crate) trait InlineModel: Send + Sync + 'static {
    fn model(&self) -> &dyn AdminModel;
    fn fk(&self) -> &str;
    fn is_tabular(&self) -> bool;
    fn extra(&self) -> usize;
    fn max_num(&self) -> usize;
    fn can_delete(&self) -> bool;
}

/// Whether a field of a form is a select: its current choice's label, for read-only views.
pub(crate) fn choice_label(spec: &FieldSpec, value: &str) -> Option<String> {
    (spec.widget == Widget::Select).then(|| spec.choices.iter().find(|(v, _)| v == value).map(|(_, l)| l.clone()))?
}
