//! Model forms (Django's `ModelForm`): a form built from a sea-orm entity's columns that creates
//! or updates a row. Each column's type gives its input and its checks; a nullable column is
//! optional; a foreign key is a select of the related rows; an enum is a select of its values.
//! Unique values already taken and database refusals come back as form errors, not 500s.
//!
//! ```
//! use djambda::auth::models::group;
//! use djambda::forms::ModelForm;
//! use djambda::prelude::*;
//!
//! async fn new_group(req: Request) -> Result<Response> {
//!     let form = ModelForm::<group::Entity>::new([group::Column::Name]);
//!     let mut bound = form.bind(&req, None).await?;
//!     if bound.is_valid() && let Some(group) = bound.save(&req.db().await?).await? {
//!         return Ok(Response::text(format!("made {}", group.name)));
//!     }
//!     // Invalid, or the name is taken: the form again, with its errors.
//!     render(&req, "group_form.html", context! { form: bound })
//! }
//! # let _ = UrlConf::new().path("groups/new/", new_group, "group-create");
//! ```

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use rust_decimal::Decimal;
use sea_orm::sea_query::{Alias, Asterisk, ColumnType, Expr, ExprTrait, Query};
use sea_orm::{
    ActiveModelBehavior, ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, FromQueryResult,
    IdenStatic, IntoActiveModel, Iterable, JsonValue, ModelTrait, PaginatorTrait, PrimaryKeyToColumn, QueryFilter,
    QuerySelect, RelationTrait, SqlErr, TransactionTrait, Value,
};
use serde::Serialize;

use super::fields::REQUIRED;
use super::{FieldSpec, FormData, FormErrors, FormField, TextKind, Widget, render};
use crate::error::{Error, ErrorKind, Result};
use crate::request::Request;
use crate::routing::BoxFuture;

type Convert = Arc<dyn Fn(&str) -> Option<Value> + Send + Sync>;
type Loader =
    Arc<dyn Fn(sea_orm::DatabaseConnection, Lookup) -> BoxFuture<Result<Vec<(String, String)>>> + Send + Sync>;

/// Which related rows a foreign key's choices are read from.
#[derive(Clone)]
enum Lookup {
    /// Any rows, at most this many.
    First(u64),
    /// The rows with these keys.
    Keys(Vec<Value>),
}

/// Past this many related rows a foreign key is an id input instead of a select (Django's
/// `raw_id_fields`), so a form's page does not grow with the related table.
pub const SELECT_LIMIT: u64 = 500;

/// Where a foreign key points.
#[derive(Clone)]
struct ForeignKey {
    table: sea_orm::sea_query::TableRef,
    column: String,
}

type Validator = Arc<dyn Fn(&str) -> std::result::Result<(), String> + Send + Sync>;

struct ColumnField<E: EntityTrait> {
    column: E::Column,
    /// Checks of the submitted text beyond the column type's (Django's field validators).
    validators: Vec<Validator>,
    spec: FieldSpec,
    ty: ColumnType,
    unique: bool,
    foreign_key: Option<ForeignKey>,
    /// For enums: the submitted value to the column's value.
    convert: Option<Convert>,
    /// For foreign keys: the related rows as choices.
    loader: Option<Loader>,
    /// A foreign key always entered by its id (Django's `raw_id_fields`), however few rows.
    raw_id: bool,
}

impl<E: EntityTrait> Clone for ColumnField<E> {
    fn clone(&self) -> Self {
        ColumnField {
            column: self.column,
            validators: self.validators.clone(),
            spec: self.spec.clone(),
            ty: self.ty.clone(),
            unique: self.unique,
            foreign_key: self.foreign_key.clone(),
            convert: self.convert.clone(),
            loader: self.loader.clone(),
            raw_id: self.raw_id,
        }
    }
}

/// A form for the entity `E`, built once (in a view factory or a `static`) and bound per
/// request with [`bind`](Self::bind).
pub struct ModelForm<E: EntityTrait> {
    fields: Vec<ColumnField<E>>,
    problems: Vec<String>,
    clean: Option<CleanFn>,
    select_limit: u64,
}

type CleanFn = Arc<dyn Fn(&FormData, &mut FormErrors) + Send + Sync>;

impl<E: EntityTrait> Clone for ModelForm<E> {
    fn clone(&self) -> Self {
        ModelForm {
            fields: self.fields.clone(),
            problems: self.problems.clone(),
            clean: self.clean.clone(),
            select_limit: self.select_limit,
        }
    }
}

fn supported(ty: &ColumnType) -> bool {
    use ColumnType::*;
    matches!(
        ty,
        Char(_)
            | String(_)
            | Text
            | TinyInteger
            | SmallInteger
            | Integer
            | BigInteger
            | TinyUnsigned
            | SmallUnsigned
            | Unsigned
            | BigUnsigned
            | Float
            | Double
            | Decimal(_)
            | Money(_)
            | DateTime
            | Timestamp
            | TimestampWithTimeZone
            | Time
            | Date
            | Boolean
            | Enum { .. }
    )
}

/// The model's name for messages: its registered label's model part (`auth.permission` →
/// `permission`), else its table's name, in words (`deal_stage` → `deal stage`).
fn model_name<E: EntityTrait>(site: &crate::Site) -> String {
    let table = E::default().table_name();
    let name = site
        .models()
        .iter()
        .find(|m| m.table() == table)
        .and_then(|m| m.label().split_once('.').map(|(_, model)| model.to_owned()))
        .unwrap_or_else(|| table.to_owned());
    name.replace('_', " ")
}

impl<E> ModelForm<E>
where
    E: EntityTrait + Sync,
    E::Model: IntoActiveModel<E::ActiveModel> + Send + Sync,
    E::ActiveModel: ActiveModelTrait<Entity = E> + ActiveModelBehavior + Send + Sync,
    E::Column: Send + Sync,
{
    /// A form of these columns, in this order (Django's `Meta.fields`).
    pub fn new(columns: impl IntoIterator<Item = E::Column>) -> Self {
        // Every relation of E starts at E; the ones starting at a column that is not E's own key
        // are its foreign keys (a has_many starts at the key).
        let keys: Vec<String> = E::PrimaryKey::iter().map(|k| k.into_column().as_str().to_owned()).collect();
        let relations: Vec<sea_orm::RelationDef> = E::Relation::iter().map(|r| r.def()).collect();
        let mut form = ModelForm { fields: Vec::new(), problems: Vec::new(), clean: None, select_limit: SELECT_LIMIT };
        for column in columns {
            let def = column.def();
            let name = column.as_str().to_owned();
            let ty = def.get_column_type().clone();
            if !supported(&ty) {
                form.problems.push(format!("the column `{name}` ({ty:?}) has no form input; leave it out of the form"));
                continue;
            }
            let foreign_key = relations.iter().find_map(|rel| match (&rel.from_col, &rel.to_col) {
                (sea_orm::Identity::Unary(from), sea_orm::Identity::Unary(to))
                    if from.inner() == name && !keys.contains(&name) =>
                {
                    Some(ForeignKey { table: rel.to_tbl.clone(), column: to.inner().into_owned() })
                }
                _ => None,
            });
            let mut spec = FieldSpec::new(&name, &FieldSpec::label_for(&name));
            configure(&mut spec, &ty);
            spec.required = !def.is_null() && ty != ColumnType::Boolean;
            if foreign_key.is_some() {
                spec.widget = Widget::Select;
                spec.step = None;
            }
            form.fields.push(ColumnField {
                column,
                validators: Vec::new(),
                spec,
                ty,
                unique: def.is_unique(),
                foreign_key,
                convert: None,
                loader: None,
                raw_id: false,
            });
        }
        form
    }

    fn field(&mut self, column: E::Column) -> Option<&mut ColumnField<E>> {
        let name = column.as_str();
        let found = self.fields.iter_mut().find(|f| f.spec.name == name);
        if found.is_none() {
            self.problems.push(format!("`{name}` is not one of the form's columns"));
        }
        found
    }

    /// The label of a column's input.
    pub fn label(mut self, column: E::Column, label: &str) -> Self {
        if let Some(f) = self.field(column) {
            f.spec.label = label.to_owned();
        }
        self
    }

    /// Help text under a column's input.
    pub fn help_text(mut self, column: E::Column, text: &str) -> Self {
        if let Some(f) = self.field(column) {
            f.spec.help_text = text.to_owned();
        }
        self
    }

    /// Another widget for a column (`Widget::Textarea` for a long string, say).
    pub fn widget(mut self, column: E::Column, widget: Widget) -> Self {
        if let Some(f) = self.field(column) {
            f.spec.widget = widget;
        }
        self
    }

    /// Whether a column must be filled in (by default: unless it is nullable).
    pub fn required(mut self, column: E::Column, required: bool) -> Self {
        if let Some(f) = self.field(column) {
            f.spec.required = required;
        }
        self
    }

    /// A string column that holds an email address.
    pub fn email(mut self, column: E::Column) -> Self {
        if let Some(f) = self.field(column) {
            f.spec.kind = TextKind::Email;
            f.spec.widget = Widget::Email;
        }
        self
    }

    /// A string column that holds a URL.
    pub fn url(mut self, column: E::Column) -> Self {
        if let Some(f) = self.field(column) {
            f.spec.kind = TextKind::Url;
            f.spec.widget = Widget::Url;
        }
        self
    }

    /// Shortest value accepted for a string column.
    pub fn min_length(mut self, column: E::Column, min: usize) -> Self {
        if let Some(f) = self.field(column) {
            f.spec.min_length = Some(min);
        }
        self
    }

    /// A column holding one of an enum's values (a sea-orm `ActiveEnum` stored as a string,
    /// deriving [`Choices`](super::Choices)): a select of its variants.
    pub fn choices<T>(mut self, column: E::Column) -> Self
    where
        T: super::Choices + Into<Value> + 'static,
    {
        if let Some(f) = self.field(column) {
            f.spec.widget = Widget::Select;
            f.spec.choices = T::choices();
            f.spec.max_length = None;
            f.convert = Some(Arc::new(|raw: &str| T::from_choice(raw).map(Into::into)));
        }
        self
    }

    /// A foreign key's choices from the related entity `R`, labelled by `label` (by default
    /// the related rows are labelled by their `name`, `title` or `username` column).
    pub fn related<R>(mut self, column: E::Column, label: impl Fn(&R::Model) -> String + Send + Sync + 'static) -> Self
    where
        R: EntityTrait + Sync,
        R::Model: Send + Sync,
    {
        let label = Arc::new(label);
        if let Some(f) = self.field(column) {
            f.spec.widget = Widget::Select;
            let loader: Loader = Arc::new(move |db, lookup| {
                let label = label.clone();
                Box::pin(async move {
                    let key = R::PrimaryKey::iter().next().map(|k| k.into_column());
                    let rows = match (lookup, key) {
                        (Lookup::First(n), _) => R::find().limit(n).all(&db).await?,
                        (Lookup::Keys(keys), Some(key)) => R::find().filter(key.is_in(keys)).all(&db).await?,
                        (Lookup::Keys(_), None) => Vec::new(),
                    };
                    let mut out: Vec<(String, String)> = rows
                        .iter()
                        .map(|row| (key.map(|k| value_text(&row.get(k))).unwrap_or_default(), label(row)))
                        .collect();
                    out.sort_by_cached_key(|(_, label)| label.to_lowercase());
                    Ok(out)
                })
            });
            f.loader = Some(loader);
        }
        self
    }

    /// How many related rows a foreign key lists in its select (by default [`SELECT_LIMIT`]);
    /// past that it is an id input checked against the related table, so a form's page and
    /// its query stay the same size however big the related table grows.
    pub fn select_limit(mut self, limit: u64) -> Self {
        self.select_limit = limit;
        self
    }

    /// A foreign key entered by the related row's id, whatever the size of the related table
    /// (Django's `raw_id_fields`): the form reads only the row it names, never the list. The
    /// admin's autocomplete fields are this input with a search box in front.
    pub fn raw_id(mut self, column: E::Column) -> Self {
        if let Some(f) = self.field(column) {
            f.raw_id = true;
        }
        self
    }

    /// The columns of the form, in order.
    pub fn columns(&self) -> impl Iterator<Item = E::Column> + '_ {
        self.fields.iter().map(|f| f.column)
    }

    /// A check of one column's submitted value (trimmed), run once it has the column's type
    /// (Django's field `validators`): `Err` is the message shown under the field.
    pub fn validator(
        mut self,
        column: E::Column,
        check: impl Fn(&str) -> std::result::Result<(), String> + Send + Sync + 'static,
    ) -> Self {
        if let Some(f) = self.field(column) {
            f.validators.push(Arc::new(check));
        }
        self
    }

    /// A check of the whole form, run once every field is valid (Django's `Form.clean`): it
    /// reads the submitted values and adds errors.
    pub fn clean(mut self, f: impl Fn(&FormData, &mut FormErrors) + Send + Sync + 'static) -> Self {
        self.clean = Some(Arc::new(f));
        self
    }

    /// What is wrong with how the form was built (unknown or unsupported columns); binding such
    /// a form is an error naming them.
    pub fn problems(&self) -> &[String] {
        &self.problems
    }

    /// The fields as shown for this request: foreign keys read their choices here, or, past
    /// the select limit, only the rows that `instance` and `data` name.
    async fn specs(
        &self,
        req: &Request,
        instance: Option<&E::Model>,
        data: Option<&FormData>,
    ) -> Result<(Vec<FieldSpec>, Vec<Option<Vec<String>>>)> {
        if !self.problems.is_empty() {
            return Err(Error::internal(format!(
                "the {} form is built wrongly: {}",
                model_name::<E>(req.site()),
                self.problems.join("; ")
            )));
        }
        let mut specs = Vec::with_capacity(self.fields.len());
        let mut known = Vec::with_capacity(self.fields.len());
        for field in &self.fields {
            let mut spec = field.spec.clone();
            let mut keys = None;
            let related = field.loader.is_some() || field.foreign_key.is_some();
            if related {
                let db = req.db().await?;
                let first = if field.raw_id {
                    Vec::new()
                } else {
                    self.related_rows(field, &db, Lookup::First(self.select_limit.saturating_add(1))).await?
                };
                if !field.raw_id && first.len() as u64 <= self.select_limit {
                    spec.choices = first;
                    spec.choices.sort_by_cached_key(|(_, label)| label.to_lowercase());
                } else {
                    // Too many to list: the key itself, checked against the rows it names.
                    let named: Vec<String> = [
                        instance.map(|m| value_text(&m.get(field.column))),
                        data.and_then(|d| d.get(&spec.name)).map(|t| t.trim().to_owned()),
                    ]
                    .into_iter()
                    .flatten()
                    .filter(|t| !t.is_empty())
                    .collect();
                    let values: Vec<Value> =
                        named.iter().filter_map(|t| parse(&field.ty, Some(t), &spec).ok()).collect();
                    let found = if values.is_empty() {
                        Vec::new()
                    } else {
                        self.related_rows(field, &db, Lookup::Keys(values)).await?
                    };
                    spec.widget = Widget::Text;
                    if field.raw_id {
                        keys = Some(found.into_iter().map(|(k, _)| k).collect());
                        specs.push(spec);
                        known.push(keys);
                        continue;
                    }
                    let current = instance
                        .map(|m| value_text(&m.get(field.column)))
                        .and_then(|key| found.iter().find(|(k, _)| *k == key))
                        .map(|(key, label)| format!("Now: {label} (id {key}). "))
                        .unwrap_or_default();
                    let hint = format!(
                        "{current}Enter the id of the {}: there are too many to list.",
                        spec.label.to_lowercase()
                    );
                    spec.help_text =
                        if spec.help_text.is_empty() { hint } else { format!("{} {hint}", spec.help_text) };
                    keys = Some(found.into_iter().map(|(k, _)| k).collect());
                }
            } else if let ColumnType::Enum { variants, .. } = &field.ty
                && spec.choices.is_empty()
            {
                spec.widget = Widget::Select;
                spec.choices = variants.iter().map(|v| (v.to_string(), FieldSpec::label_for(&v.to_string()))).collect();
            }
            specs.push(spec);
            known.push(keys);
        }
        Ok((specs, known))
    }

    async fn related_rows(
        &self,
        field: &ColumnField<E>,
        db: &sea_orm::DatabaseConnection,
        lookup: Lookup,
    ) -> Result<Vec<(String, String)>> {
        match (&field.loader, &field.foreign_key) {
            (Some(loader), _) => loader(db.clone(), lookup).await,
            (None, Some(fk)) => related_choices(db, fk, lookup).await,
            (None, None) => Ok(Vec::new()),
        }
    }

    /// The form bound to the request's body, editing `instance` (an update) or a new row
    /// (`None`). Foreign keys' choices are read from the database here.
    pub async fn bind(&self, req: &Request, instance: Option<E::Model>) -> Result<BoundModelForm<E>> {
        let data = req.form_data()?.clone();
        self.build(req, instance, Some(data)).await
    }

    /// The form bound to `data` rather than the request's body (one form of several posted
    /// together, its fields' names without their prefix), editing `instance` or a new row.
    pub async fn bind_data(
        &self,
        req: &Request,
        instance: Option<E::Model>,
        data: FormData,
    ) -> Result<BoundModelForm<E>> {
        self.build(req, instance, Some(data)).await
    }

    /// The form to show: empty, or with `instance`'s values.
    pub async fn unbound(&self, req: &Request, instance: Option<E::Model>) -> Result<BoundModelForm<E>> {
        self.build(req, instance, None).await
    }

    async fn build(
        &self,
        req: &Request,
        instance: Option<E::Model>,
        data: Option<FormData>,
    ) -> Result<BoundModelForm<E>> {
        let (specs, known_keys) = self.specs(req, instance.as_ref(), data.as_ref()).await?;
        let mut initial = FormData::default();
        if let Some(model) = &instance {
            for field in &self.fields {
                initial.set(&field.spec.name, value_text(&model.get(field.column)));
            }
        }
        Ok(BoundModelForm {
            form: self.clone(),
            model_name: model_name::<E>(req.site()),
            specs,
            known_keys,
            data,
            initial,
            instance,
            errors: FormErrors::default(),
            values: None,
        })
    }
}

/// The rows a foreign key may point to, labelled by their first `name`-like column.
async fn related_choices(
    db: &sea_orm::DatabaseConnection,
    fk: &ForeignKey,
    lookup: Lookup,
) -> Result<Vec<(String, String)>> {
    let mut query = Query::select().column(Asterisk).from(fk.table.clone()).to_owned();
    match lookup {
        Lookup::First(n) => query.limit(n),
        Lookup::Keys(keys) => query.and_where(ExprTrait::is_in(Expr::col(Alias::new(&fk.column)), keys)),
    };
    let stmt = db.get_database_backend().build(&query);
    let rows = JsonValue::find_by_statement(stmt).all(db).await?;
    Ok(rows
        .iter()
        .map(|row| {
            let text = |v: &serde_json::Value| match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let key = row.get(&fk.column).map(text).unwrap_or_default();
            let label = ["name", "title", "username", "label", "slug"]
                .iter()
                .find_map(|c| row.get(*c).filter(|v| !v.is_null()).map(text))
                .unwrap_or_else(|| format!("#{key}"));
            (key, label)
        })
        .collect())
}

/// The widget and numeric step a column type implies.
fn configure(spec: &mut FieldSpec, ty: &ColumnType) {
    use ColumnType::*;
    match ty {
        Char(n) => {
            spec.max_length = n.map(|n| n as usize);
        }
        String(sea_orm::sea_query::StringLen::N(n)) => spec.max_length = Some(*n as usize),
        String(_) => {}
        Text => spec.widget = Widget::Textarea,
        TinyInteger | SmallInteger | Integer | BigInteger | TinyUnsigned | SmallUnsigned | Unsigned | BigUnsigned => {
            i64::configure(spec)
        }
        Float | Double => f64::configure(spec),
        Decimal(p) | Money(p) => {
            <rust_decimal::Decimal as FormField>::configure(spec);
            if let Some((precision, scale)) = p {
                spec.max_digits = Some(*precision);
                spec.decimal_places = Some(*scale);
                spec.step = Some(super::decimal_step(*scale));
            }
        }
        DateTime | Timestamp | TimestampWithTimeZone => spec.widget = Widget::DateTime,
        Date => spec.widget = Widget::Date,
        Time => spec.widget = Widget::Time,
        Boolean => spec.widget = Widget::Checkbox,
        Enum { .. } => spec.widget = Widget::Select,
        _ => {}
    }
}

/// A column's value as an input shows it.
fn value_text(v: &Value) -> String {
    match v {
        Value::String(Some(s)) => s.clone(),
        Value::Char(Some(c)) => c.to_string(),
        Value::Bool(Some(b)) => {
            if *b {
                "on".into()
            } else {
                String::new()
            }
        }
        Value::TinyInt(Some(n)) => n.to_string(),
        Value::SmallInt(Some(n)) => n.to_string(),
        Value::Int(Some(n)) => n.to_string(),
        Value::BigInt(Some(n)) => n.to_string(),
        Value::TinyUnsigned(Some(n)) => n.to_string(),
        Value::SmallUnsigned(Some(n)) => n.to_string(),
        Value::Unsigned(Some(n)) => n.to_string(),
        Value::BigUnsigned(Some(n)) => n.to_string(),
        Value::Float(Some(n)) => n.to_string(),
        Value::Double(Some(n)) => n.to_string(),
        Value::Decimal(Some(d)) => d.to_string(),
        Value::ChronoDate(Some(d)) => d.format("%Y-%m-%d").to_string(),
        Value::ChronoTime(Some(t)) => t.format("%H:%M").to_string(),
        Value::ChronoDateTime(Some(t)) => t.format("%Y-%m-%dT%H:%M").to_string(),
        Value::ChronoDateTimeUtc(Some(t)) => t.format("%Y-%m-%dT%H:%M").to_string(),
        Value::ChronoDateTimeLocal(Some(t)) => t.format("%Y-%m-%dT%H:%M").to_string(),
        Value::ChronoDateTimeWithTimeZone(Some(t)) => t.format("%Y-%m-%dT%H:%M").to_string(),
        _ => String::new(),
    }
}

/// The SQL NULL of a column type.
fn null_of(ty: &ColumnType) -> Value {
    use ColumnType as C;
    match ty {
        C::TinyInteger => Value::TinyInt(None),
        C::SmallInteger => Value::SmallInt(None),
        C::Integer => Value::Int(None),
        C::BigInteger => Value::BigInt(None),
        C::TinyUnsigned => Value::TinyUnsigned(None),
        C::SmallUnsigned => Value::SmallUnsigned(None),
        C::Unsigned => Value::Unsigned(None),
        C::BigUnsigned => Value::BigUnsigned(None),
        C::Float => Value::Float(None),
        C::Double => Value::Double(None),
        C::Decimal(_) | C::Money(_) => Value::Decimal(None),
        C::Boolean => Value::Bool(None),
        C::Date => Value::ChronoDate(None),
        C::Time => Value::ChronoTime(None),
        C::DateTime | C::Timestamp => Value::ChronoDateTime(None),
        C::TimestampWithTimeZone => Value::ChronoDateTimeUtc(None),
        _ => Value::String(None),
    }
}

/// Reads one submitted value as the column's type, with the form field's checks and messages.
fn parse(ty: &ColumnType, text: Option<&str>, spec: &FieldSpec) -> std::result::Result<Value, String> {
    use ColumnType as C;
    let empty = text.is_none_or(str::is_empty);
    if empty && *ty != C::Boolean {
        if spec.required {
            return Err(REQUIRED.into());
        }
        // Django keeps "" for a blank string column that is not nullable.
        return Ok(match ty {
            C::Char(_) | C::String(_) | C::Text if !spec.required => Value::String(Some(String::new())),
            _ => null_of(ty),
        });
    }
    Ok(match ty {
        C::TinyInteger => Value::TinyInt(Some(i8::clean(text, None, spec)?)),
        C::SmallInteger => Value::SmallInt(Some(i16::clean(text, None, spec)?)),
        C::Integer => Value::Int(Some(i32::clean(text, None, spec)?)),
        C::BigInteger => Value::BigInt(Some(i64::clean(text, None, spec)?)),
        C::TinyUnsigned => Value::TinyUnsigned(Some(u8::clean(text, None, spec)?)),
        C::SmallUnsigned => Value::SmallUnsigned(Some(u16::clean(text, None, spec)?)),
        C::Unsigned => Value::Unsigned(Some(u32::clean(text, None, spec)?)),
        C::BigUnsigned => Value::BigUnsigned(Some(u64::clean(text, None, spec)?)),
        C::Float => Value::Float(Some(f64::clean(text, None, spec)? as f32)),
        C::Double => Value::Double(Some(f64::clean(text, None, spec)?)),
        C::Decimal(_) | C::Money(_) => Value::Decimal(Some(Decimal::clean(text, None, spec)?)),
        C::Boolean => Value::Bool(Some(bool::clean(text, None, spec)?)),
        C::Date => Value::ChronoDate(Some(NaiveDate::clean(text, None, spec)?)),
        C::Time => Value::ChronoTime(Some(NaiveTime::clean(text, None, spec)?)),
        C::DateTime | C::Timestamp => Value::ChronoDateTime(Some(NaiveDateTime::clean(text, None, spec)?)),
        C::TimestampWithTimeZone => Value::ChronoDateTimeUtc(Some(DateTime::<Utc>::clean(text, None, spec)?)),
        _ => Value::String(Some(String::clean(text, None, spec)?)),
    })
}

/// Other spellings of the same value, for a column whose Rust type differs from what its SQL
/// type suggests (a `DateTimeWithTimeZone` field, an `i64` on an INTEGER column).
fn alternatives(v: &Value) -> Vec<Value> {
    match v {
        Value::ChronoDateTimeUtc(t) => vec![
            Value::ChronoDateTimeWithTimeZone(t.map(|t| t.fixed_offset())),
            Value::ChronoDateTime(t.map(|t| t.naive_utc())),
        ],
        Value::ChronoDateTime(t) => vec![Value::ChronoDateTimeUtc(t.map(|t| t.and_utc()))],
        Value::Int(n) => vec![Value::BigInt(n.map(i64::from))],
        Value::BigInt(n) => vec![Value::Int(n.and_then(|n| i32::try_from(n).ok()))],
        Value::Float(n) => vec![Value::Double(n.map(f64::from))],
        Value::Double(n) => vec![Value::Float(n.map(|n| n as f32))],
        _ => Vec::new(),
    }
}

/// A [`ModelForm`] with its data: validate with [`is_valid`](Self::is_valid), then
/// [`save`](Self::save); serialise it into a template's context to show it.
pub struct BoundModelForm<E: EntityTrait> {
    form: ModelForm<E>,
    /// For messages: `company`.
    model_name: String,
    specs: Vec<FieldSpec>,
    /// Per field: for a foreign key too big to list, the keys named by the instance and the
    /// data that exist.
    known_keys: Vec<Option<Vec<String>>>,
    data: Option<FormData>,
    initial: FormData,
    instance: Option<E::Model>,
    errors: FormErrors,
    /// The values read from the data, once valid.
    values: Option<Vec<Value>>,
}

impl<E> BoundModelForm<E>
where
    E: EntityTrait + Sync,
    E::Model: IntoActiveModel<E::ActiveModel> + Send + Sync,
    E::ActiveModel: ActiveModelTrait<Entity = E> + ActiveModelBehavior + Send + Sync,
    E::Column: Send + Sync,
{
    /// Whether the form was submitted and every field is valid.
    pub fn is_valid(&mut self) -> bool {
        if self.data.is_none() {
            return false;
        }
        if self.values.is_none() && self.errors.is_empty() {
            self.clean();
        }
        self.values.is_some() && self.errors.is_empty()
    }

    fn clean(&mut self) {
        let Some(data) = &self.data else { return };
        let mut values = Vec::with_capacity(self.specs.len());
        for (i, (field, spec)) in self.form.fields.iter().zip(&self.specs).enumerate() {
            let raw = data.get(&spec.name).map(str::trim);
            let value = if let Some(known) = &self.known_keys[i] {
                // Compared as the column's value: `07` names the row whose key is 7.
                match parse(&field.ty, raw, spec) {
                    Ok(v) if raw.is_some_and(|r| !r.is_empty()) && !known.contains(&value_text(&v)) => Err(format!(
                        "Select a valid choice. No {} has the id {}.",
                        spec.label.to_lowercase(),
                        raw.unwrap_or("")
                    )),
                    other => other,
                }
            } else if spec.widget == Widget::Select && !spec.choices.is_empty() {
                match raw.filter(|r| !r.is_empty()) {
                    Some(r) if !spec.choices.iter().any(|(v, _)| v == r) => {
                        Err(format!("Select a valid choice. {r} is not one of the available choices."))
                    }
                    Some(r) => match &field.convert {
                        Some(convert) => convert(r).ok_or_else(|| "Select a valid choice.".to_owned()),
                        None => parse(&field.ty, Some(r), spec),
                    },
                    None => parse(&field.ty, None, spec),
                }
            } else {
                parse(&field.ty, raw, spec)
            };
            let value = value.and_then(|v| {
                let text = raw.unwrap_or("");
                match field.validators.iter().find_map(|check| check(text).err()) {
                    Some(message) if !text.is_empty() => Err(message),
                    _ => Ok(v),
                }
            });
            match value {
                Ok(v) => values.push(v),
                Err(message) => self.errors.add(Some(&spec.name), message),
            }
        }
        if self.errors.is_empty()
            && let Some(clean) = &self.form.clean
        {
            clean(data, &mut self.errors);
        }
        if self.errors.is_empty() {
            self.values = Some(values);
        }
    }

    /// The errors found.
    pub fn errors(&self) -> &FormErrors {
        &self.errors
    }

    /// The fields as shown for this request (foreign keys with their choices).
    pub fn fields(&self) -> &[FieldSpec] {
        &self.specs
    }

    /// Adds an error (the form is then invalid).
    pub fn add_error(&mut self, field: Option<&str>, message: impl Into<String>) {
        self.errors.add(field, message);
        self.values = None;
    }

    /// Shows `value` in the field `name` of a form not yet submitted (Django's `initial`);
    /// names the form does not have are ignored.
    pub fn set_initial(&mut self, name: &str, value: &str) {
        if self.specs.iter().any(|s| s.name == name) {
            self.initial.set(name, value);
        }
    }

    /// The row being edited, if this is an update.
    pub fn instance(&self) -> Option<&E::Model> {
        self.instance.as_ref()
    }

    /// The submitted value of a field, as typed.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.data.as_ref().and_then(|d| d.get(name))
    }

    /// Saves a valid form: inserts a new row or updates the instance, and returns the row once
    /// the write is committed (in a transaction of its own, or a savepoint inside the caller's).
    /// A unique value taken by another row, or a change the database refuses, becomes a form
    /// error and the result is `None` (show the form again). An unreachable or busy database
    /// is a 503: nothing was written, and nothing may say it was.
    pub async fn save<C: ConnectionTrait + TransactionTrait<Transaction = sea_orm::DatabaseTransaction>>(
        &mut self,
        db: &C,
    ) -> Result<Option<E::Model>> {
        self.save_with(db, |_| {}).await
    }

    /// [`save`](Self::save), letting `fill` set columns the form does not have (an owner, a
    /// timestamp) on the row before it is written.
    pub async fn save_with<C: ConnectionTrait + TransactionTrait<Transaction = sea_orm::DatabaseTransaction>>(
        &mut self,
        db: &C,
        fill: impl FnOnce(&mut E::ActiveModel),
    ) -> Result<Option<E::Model>> {
        if !self.is_valid() {
            return Ok(None);
        }
        let values = self.values.clone().unwrap_or_default();
        self.check_unique(db, &values).await?;
        if !self.errors.is_empty() {
            self.values = None;
            return Ok(None);
        }
        let mut active = match &self.instance {
            Some(model) => model.clone().into_active_model(),
            None => E::ActiveModel::default(),
        };
        for (field, value) in self.form.fields.iter().zip(values) {
            let mut set = active.try_set(field.column, value.clone());
            for alt in alternatives(&value) {
                if set.is_ok() {
                    break;
                }
                set = active.try_set(field.column, alt);
            }
            if let Err(e) = set {
                return Err(Error::with_source(
                    ErrorKind::Internal,
                    format!("the form's value for `{}` does not fit the model's field", field.spec.name),
                    e,
                ));
            }
        }
        fill(&mut active);
        match self.write(db, active).await {
            Ok(model) => {
                self.instance = Some(model.clone());
                Ok(Some(model))
            }
            Err(e) if crate::db::is_unavailable(&e) => Err(e.into()),
            Err(e) => {
                self.refused(&e);
                Ok(None)
            }
        }
    }

    /// The insert or update, committed. Not on the bare connection: on SQLite sea-orm writes
    /// with `RETURNING` and stops reading after the row, so a commit that then fails (a
    /// reader holding the file) would go unreported and the row would be lost; an explicit
    /// COMMIT reports it.
    async fn write<C: TransactionTrait<Transaction = sea_orm::DatabaseTransaction>>(
        &self,
        db: &C,
        active: E::ActiveModel,
    ) -> Result<E::Model, DbErr> {
        let txn = db.begin().await?;
        let written = if self.instance.is_some() { active.update(&txn).await } else { active.insert(&txn).await };
        match written {
            Ok(model) => {
                txn.commit().await?;
                Ok(model)
            }
            Err(e) => {
                if let Err(rollback) = txn.rollback().await {
                    eprintln!("rolling back a refused {} save also failed: {rollback}", self.model_name);
                }
                Err(e)
            }
        }
    }

    /// Django's `validate_unique`: a unique column's value held by another row.
    async fn check_unique<C: ConnectionTrait>(&mut self, db: &C, values: &[Value]) -> Result<()> {
        let pk = E::PrimaryKey::iter().next().map(|k| k.into_column());
        let mut taken = Vec::new();
        for (field, value) in self.form.fields.iter().zip(values) {
            if !field.unique || value_text(value).is_empty() {
                continue;
            }
            let mut query = E::find().filter(field.column.eq(value.clone()));
            if let (Some(pk), Some(model)) = (pk, &self.instance) {
                query = query.filter(pk.ne(model.get(pk)));
            }
            if query.count(db).await? > 0 {
                taken.push((field.spec.name.clone(), field.spec.label.clone()));
            }
        }
        for (name, label) in taken {
            self.errors.add(
                Some(&name),
                format!("{} with this {label} already exists.", FieldSpec::label_for(&self.model_name)),
            );
        }
        Ok(())
    }

    fn refused(&mut self, e: &DbErr) {
        eprintln!("the database refused to save a {}: {e}", self.model_name);
        let message = match e.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(_)) => {
                format!("A {} with these values already exists.", self.model_name)
            }
            Some(SqlErr::ForeignKeyConstraintViolation(_)) => {
                "A related record chosen here no longer exists; choose another.".to_owned()
            }
            _ => "The database refused this change; check the values and try again.".to_owned(),
        };
        self.add_error(None, message);
    }
}

impl<E: EntityTrait> Serialize for BoundModelForm<E> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        render::FormContext::new(&self.specs, self.data.as_ref(), &self.initial, &self.errors).serialize(s)
    }
}
