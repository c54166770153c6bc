//! The entity-typed side of a registered model ([`Registered`]): its queries, its model form
//! and the site's closures, behind the object-safe traits of `meta.rs`.

use std::sync::{Arc, OnceLock};

use futures_util::future::BoxFuture;
use sea_orm::sea_query::{Condition, Expr, Order};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, DatabaseTransaction, EntityTrait, IdenStatic, Iterable,
    ModelTrait, PaginatorTrait, PrimaryKeyToColumn, QueryFilter, QueryOrder, QuerySelect, RelationTrait, Value,
};

use super::display;
use super::m2m::{ManyToMany, ManyToManyField};
use super::meta::{ActionInfo, AdminForm, AdminModel, AdminView, ColumnMeta, InlineModel, Meta, Options, Row};
use super::options::{AdminEntity, Inline, InlineStyle, ModelAdmin};
use super::query::NAME_COLUMNS;
use crate::db::FixtureModel;
use crate::error::{Error, Result};
use crate::forms::{BoundModelForm, FieldSpec, FormData, FormErrors, ModelForm};
use crate::http::Response;
use crate::request::Request;

/// A model registered with its [`ModelAdmin`].
pub(crate) struct Registered<E: EntityTrait> {
    admin: ModelAdmin<E>,
    ready: OnceLock<Ready<E>>,
    base: Meta,
}

struct Ready<E: EntityTrait> {
    meta: Meta,
    form: ModelForm<E>,
}

/// The model's columns and key, read from the entity.
fn base_meta<E: EntityTrait>() -> Meta {
    let keys: Vec<String> = E::PrimaryKey::iter().map(|k| k.into_column().as_str().to_owned()).collect();
    let relations: Vec<sea_orm::RelationDef> = E::Relation::iter().map(|r| r.def()).collect();
    let table = E::default().table_name().to_owned();
    let mut meta = Meta { table, ..Meta::default() };
    for column in E::Column::iter() {
        let name = column.as_str().to_owned();
        let def = column.def();
        let fk = relations.iter().find_map(|rel| match (&rel.from_col, &rel.to_col, &rel.to_tbl) {
            (
                sea_orm::Identity::Unary(from),
                sea_orm::Identity::Unary(to),
                sea_orm::sea_query::TableRef::Table(sea_orm::sea_query::TableName(_, t), _),
            ) if from.inner() == name && !keys.contains(&name) => {
                Some((t.inner().into_owned(), to.inner().into_owned()))
            }
            _ => None,
        });
        if keys.first() == Some(&name) {
            meta.pk = name.clone();
            meta.pk_type = Some(def.get_column_type().clone());
        }
        meta.columns.push(ColumnMeta { name, ty: def.get_column_type().clone(), nullable: def.is_null(), fk });
    }
    meta
}

impl<E: AdminEntity> Registered<E> {
    pub(crate) fn new(admin: ModelAdmin<E>) -> Self {
        Registered { admin, ready: OnceLock::new(), base: base_meta::<E>() }
    }

    fn ready(&self) -> &Ready<E> {
        // `prepare` runs when the site is built, before any request.
        self.ready.get().expect("the admin's models are prepared when the site is built")
    }

    fn column(name: &str) -> Option<E::Column> {
        E::Column::iter().find(|c| c.as_str() == name)
    }

    fn row(&self, model: E::Model) -> Row {
        let values: Vec<Value> = E::Column::iter().map(|c| model.get(c)).collect();
        let pk = E::PrimaryKey::iter()
            .next()
            .map(|k| display::raw(&model.get(k.into_column())).unwrap_or_default())
            .unwrap_or_default();
        Row { pk, values, model: Arc::new(model) }
    }

    fn model_of(row: &Row) -> Option<&E::Model> {
        row.model.downcast_ref::<E::Model>()
    }

    /// The columns the form edits: `fields` (or the fieldsets'), else every column but the
    /// key; less the read-only ones, the excluded, the password and the many-to-many names.
    fn editable(&self, meta: &Meta) -> Vec<String> {
        let opts = &self.admin.opts;
        let listed: Vec<String> = if !opts.fieldsets.is_empty() {
            opts.fieldsets.iter().flat_map(|f| f.fields.iter().cloned()).collect()
        } else if let Some(fields) = &opts.fields {
            fields.clone()
        } else {
            meta.columns.iter().filter(|c| c.name != meta.pk).map(|c| c.name.clone()).collect()
        };
        listed
            .into_iter()
            .filter(|n| meta.column(n).is_some() && *n != meta.pk)
            .filter(|n| !opts.readonly_fields.contains(n) && !opts.exclude.contains(n))
            .filter(|n| !(self.admin.password_field && n == "password"))
            .collect()
    }
}

impl<E: AdminEntity> AdminModel for Registered<E> {
    fn meta(&self) -> &Meta {
        self.ready.get().map_or(&self.base, |r| &r.meta)
    }

    fn opts(&self) -> &Options {
        &self.admin.opts
    }

    fn prepare(&self, models: &[Arc<dyn FixtureModel>]) -> std::result::Result<(), Vec<String>> {
        let mut meta = self.base.clone();
        let Some(model) = models.iter().find(|m| m.table() == meta.table) else {
            return Err(vec![format!(
                "the table `{}` is not a model of any installed app; register it with App::model before the admin",
                meta.table
            )]);
        };
        meta.label = model.label().to_owned();
        let (app, name) = meta.label.split_once('.').unwrap_or(("", &meta.label));
        meta.app_label = app.to_owned();
        meta.model_name = name.to_owned();
        let opts = &self.admin.opts;
        meta.verbose_name = opts.verbose_name.clone().unwrap_or_else(|| display::words(name));
        meta.verbose_name_plural = opts.verbose_name_plural.clone().unwrap_or_else(|| plural(&meta.verbose_name));
        if meta.pk.is_empty() {
            return Err(vec![format!("`{}` has no primary key", meta.label)]);
        }
        let editable = self.editable(&meta);
        let columns: Vec<E::Column> = editable.iter().filter_map(|n| Self::column(n)).collect();
        let mut form = ModelForm::<E>::new(columns);
        for name in &opts.autocomplete_fields {
            if let Some(col) = Self::column(name) {
                form = form.raw_id(col);
            }
        }
        for tweak in &self.admin.form_tweaks {
            form = tweak(form);
        }
        let mut problems: Vec<String> = form.problems().iter().map(|p| format!("{}: {p}", meta.label)).collect();
        if self.admin.password_field && meta.column("password").is_none() {
            problems.push(format!("{}: no `password` column", meta.label));
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        let _ = self.ready.set(Ready { meta, form });
        Ok(())
    }

    fn displays(&self) -> Vec<(String, String, Option<String>)> {
        self.admin.displays.iter().map(|d| (d.name.clone(), d.label.clone(), d.ordering.clone())).collect()
    }

    fn display(&self, name: &str, row: &Row) -> Option<String> {
        let model = Self::model_of(row)?;
        self.admin.displays.iter().find(|d| d.name == name).map(|d| (d.value)(model))
    }

    fn str_of(&self, row: &Row) -> String {
        if let (Some(f), Some(model)) = (&self.admin.str_fn, Self::model_of(row)) {
            return f(model);
        }
        let meta = self.meta();
        for candidate in NAME_COLUMNS {
            if let Some(i) = meta.index(candidate)
                && let Some(text) = display::raw(&row.values[i]).filter(|t| !t.is_empty())
            {
                return text;
            }
        }
        format!("{} object ({})", display::capfirst(&meta.verbose_name), row.pk)
    }

    fn site_url(&self, req: &Request, row: &Row) -> Option<String> {
        let f = self.admin.site_url.as_ref()?;
        f(req, Self::model_of(row)?).ok()
    }

    fn actions(&self) -> Vec<ActionInfo> {
        self.admin
            .actions
            .iter()
            .map(|a| ActionInfo {
                name: a.name.clone(),
                description: a.description.clone(),
                permission: a.permission.clone(),
            })
            .collect()
    }

    fn run_action(&self, name: &str, req: Request, rows: Vec<Row>) -> BoxFuture<'static, Result<Option<Response>>> {
        let Some(action) = self.admin.actions.iter().find(|a| a.name == name) else {
            let name = name.to_owned();
            return Box::pin(async move { Err(Error::bad_request(format!("no action `{name}`"))) });
        };
        let models: Vec<E::Model> = rows.iter().filter_map(|r| Self::model_of(r).cloned()).collect();
        (action.run)(req, models)
    }

    fn inlines(&self) -> &[Arc<dyn InlineModel>] {
        &self.admin.inlines
    }

    fn many_to_many(&self) -> &[Arc<dyn ManyToManyField>] {
        &self.admin.many_to_many
    }

    fn add_view(&self) -> Option<AdminView> {
        self.admin.add_view.clone()
    }

    fn extra_views(&self) -> Vec<(String, String, AdminView)> {
        self.admin.extra_views.clone()
    }

    fn has_password_field(&self) -> bool {
        self.admin.password_field
    }

    fn form_columns(&self) -> Vec<String> {
        self.ready().form.columns().map(|c| c.as_str().to_owned()).collect()
    }

    fn count<'a>(&'a self, db: &'a DatabaseConnection, cond: Condition) -> BoxFuture<'a, Result<u64>> {
        Box::pin(async move { Ok(E::find().filter(cond).count(db).await?) })
    }

    fn fetch<'a>(
        &'a self,
        db: &'a DatabaseConnection,
        cond: Condition,
        order: Vec<(Expr, Order)>,
        offset: u64,
        limit: u64,
    ) -> BoxFuture<'a, Result<Vec<Row>>> {
        Box::pin(async move {
            let mut query = E::find().filter(cond);
            for (expr, dir) in order {
                query = query.order_by(expr, dir);
            }
            let rows = query.offset(offset).limit(limit).all(db).await?;
            Ok(rows.into_iter().map(|m| self.row(m)).collect())
        })
    }

    fn get<'a>(&'a self, db: &'a DatabaseConnection, key: Value) -> BoxFuture<'a, Result<Option<Row>>> {
        Box::pin(async move {
            let Some(pk) = E::PrimaryKey::iter().next().map(|k| k.into_column()) else { return Ok(None) };
            let found = E::find().filter(pk.eq(key)).one(db).await?;
            Ok(found.map(|m| self.row(m)))
        })
    }

    fn label_in<'a>(&'a self, txn: &'a DatabaseTransaction, key: Value) -> BoxFuture<'a, Result<Option<String>>> {
        Box::pin(async move {
            let Some(pk) = E::PrimaryKey::iter().next().map(|k| k.into_column()) else { return Ok(None) };
            let found = E::find().filter(pk.eq(key)).one(txn).await?;
            Ok(found.map(|m| self.str_of(&self.row(m))))
        })
    }

    fn date_parts<'a>(
        &'a self,
        db: &'a DatabaseConnection,
        cond: Condition,
        expr: Expr,
    ) -> BoxFuture<'a, Result<Vec<i64>>> {
        Box::pin(async move {
            let parts: Vec<Option<i64>> = E::find()
                .select_only()
                .expr_as(expr, "part")
                .filter(cond)
                .distinct()
                .order_by_asc(Expr::col(sea_orm::sea_query::Alias::new("part")))
                .limit(1000)
                .into_tuple()
                .all(db)
                .await?;
            Ok(parts.into_iter().flatten().collect())
        })
    }

    fn form<'a>(
        &'a self,
        req: &'a Request,
        instance: Option<&Row>,
        data: Option<FormData>,
    ) -> BoxFuture<'a, Result<Box<dyn AdminForm + 'a>>> {
        let instance = instance.and_then(Self::model_of).cloned();
        Box::pin(async move {
            let adding = instance.is_none();
            let form = &self.ready().form;
            let bound = match data {
                Some(data) => form.bind_data(req, instance, data).await?,
                None => form.unbound(req, instance).await?,
            };
            Ok(Box::new(TypedForm { bound, registered: self, adding }) as Box<dyn AdminForm + 'a>)
        })
    }

    fn delete<'a>(&'a self, txn: &'a DatabaseTransaction, keys: Vec<Value>) -> BoxFuture<'a, Result<u64>> {
        Box::pin(async move {
            let Some(pk) = E::PrimaryKey::iter().next().map(|k| k.into_column()) else { return Ok(0) };
            let mut deleted = 0;
            // A batch at a time: one bound variable per row would pass SQLite's limit.
            for batch in keys.chunks(500) {
                deleted += E::delete_many().filter(pk.is_in(batch.to_vec())).exec(txn).await?.rows_affected;
            }
            Ok(deleted)
        })
    }
}

/// The plural of a model's name in words (Django's default `verbose_name_plural` adds an `s`).
fn plural(name: &str) -> String {
    if name.ends_with('s') || name.ends_with('x') || name.ends_with("ch") || name.ends_with("sh") {
        format!("{name}es")
    } else if name.ends_with('y') && !name.ends_with("ay") && !name.ends_with("ey") && !name.ends_with("oy") {
        format!("{}ies", &name[..name.len() - 1])
    } else {
        format!("{name}s")
    }
}

struct TypedForm<'r, E: EntityTrait> {
    bound: BoundModelForm<E>,
    registered: &'r Registered<E>,
    adding: bool,
}

impl<E: AdminEntity> AdminForm for TypedForm<'_, E> {
    fn is_valid(&mut self) -> bool {
        self.bound.is_valid()
    }

    fn errors(&self) -> &FormErrors {
        self.bound.errors()
    }

    fn fields(&self) -> &[FieldSpec] {
        self.bound.fields()
    }

    fn context(&self) -> serde_json::Value {
        serde_json::to_value(&self.bound).unwrap_or_default()
    }

    fn save<'a>(
        &'a mut self,
        req: &'a Request,
        txn: &'a DatabaseTransaction,
        set: Vec<(String, Value)>,
    ) -> BoxFuture<'a, Result<Option<Row>>> {
        Box::pin(async move {
            let before = self.registered.admin.before_save.clone();
            let adding = self.adding;
            let saved = self
                .bound
                .save_with(txn, move |active: &mut E::ActiveModel| {
                    for (name, value) in set {
                        if let Some(col) = Registered::<E>::column(&name) {
                            active.set(col, value);
                        }
                    }
                    if let Some(before) = &before {
                        before(req, active, adding);
                    }
                })
                .await?;
            Ok(saved.map(|m| self.registered.row(m)))
        })
    }
}

// Here rather than in options.rs, as they build this file's types.
impl<E: AdminEntity> ModelAdmin<E> {
    /// Adds a one-to-many inline: the rows of another model pointing at this one, edited on
    /// this model's form ([`TabularInline`], [`StackedInline`]).
    pub fn inline<C: AdminEntity>(mut self, inline: Inline<C>) -> Self {
        self.inlines.push(Arc::new(RegisteredInline::new(inline)));
        self
    }

    /// Adds a many-to-many field to the form: a picker of the related rows
    /// ([`ManyToMany`](super::ManyToMany)).
    pub fn many_to_many<T, R>(mut self, field: ManyToMany<T, R>) -> Self
    where
        T: AdminEntity,
        R: EntityTrait + Sync + 'static,
        R::Model: Send + Sync,
    {
        self.many_to_many.push(Arc::new(field));
        self
    }
}

/// An inline as registered, with its child model's admin.
pub(crate) struct RegisteredInline<E: EntityTrait> {
    model: Registered<E>,
    fk: String,
    style: InlineStyle,
    extra: usize,
    max_num: usize,
    can_delete: bool,
}

impl<E: AdminEntity> RegisteredInline<E> {
    pub(crate) fn new(inline: Inline<E>) -> Self {
        let Inline { mut admin, fk, style, extra, max_num, can_delete } = inline;
        // The foreign key is set from the parent, never typed.
        admin.opts.exclude.push(fk.clone());
        RegisteredInline { model: Registered::new(admin), fk, style, extra, max_num, can_delete }
    }
}

impl<E: AdminEntity> InlineModel for RegisteredInline<E> {
    fn model(&self) -> &dyn AdminModel {
        &self.model
    }

    fn fk(&self) -> &str {
        &self.fk
    }

    fn is_tabular(&self) -> bool {
        self.style == InlineStyle::Tabular
    }

    fn extra(&self) -> usize {
        self.extra
    }

    fn max_num(&self) -> usize {
        self.max_num
    }

    fn can_delete(&self) -> bool {
        self.can_delete
    }
}
