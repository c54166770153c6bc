//! Generic views (Django's `django.views.generic`): [`ListView`] and [`DetailView`] driven by a
//! sea-orm entity, with Django's template names and context names.

use std::sync::Arc;

use sea_orm::{
    ColumnTrait, EntityTrait, Iterable, PaginatorTrait, PrimaryKeyToColumn, QueryFilter, QuerySelect, Select,
};
use serde::Serialize;

use super::paginator::Paginator;
use crate::error::{Error, Result};
use crate::http::Response;
use crate::request::Request;
use crate::routing::{MethodRouter, get};
use crate::shortcuts::render;
use crate::templates::Context;

type QuerysetFn<E> = Arc<dyn Fn(&Request) -> Result<Select<E>> + Send + Sync>;
type ExtraContextFn = Arc<dyn Fn(&Request, &mut Context) + Send + Sync>;

/// Django's `ListView`: the rows of an entity (or of a query over it), optionally paginated
/// with `?page=` (a number or `last`; anything else is a 404), rendered with
/// `app/<table>_list.html` and the context `object_list`, `<table>_list`, `page_obj`,
/// `paginator` and `is_paginated`.
///
/// ```ignore
/// .path("companies/", ListView::<company::Entity>::new("crm").paginate_by(20).as_view(), "company-list")
/// ```
pub struct ListView<E: EntityTrait> {
    app: String,
    template_name: Option<String>,
    paginate_by: Option<u64>,
    queryset: QuerysetFn<E>,
    extra_context: Option<ExtraContextFn>,
}

impl<E: EntityTrait> Clone for ListView<E> {
    fn clone(&self) -> Self {
        ListView {
            app: self.app.clone(),
            template_name: self.template_name.clone(),
            paginate_by: self.paginate_by,
            queryset: self.queryset.clone(),
            extra_context: self.extra_context.clone(),
        }
    }
}

impl<E> ListView<E>
where
    E: EntityTrait + Sync,
    E::Model: Serialize + Send + Sync,
{
    /// A list of every row of `E`, for the app `app` (used in the template name).
    pub fn new(app: &str) -> Self {
        ListView {
            app: app.to_owned(),
            template_name: None,
            paginate_by: None,
            queryset: Arc::new(|_| Ok(E::find())),
            extra_context: None,
        }
    }

    /// The query the rows come from, built per request (Django's `get_queryset`): filters,
    /// search and ordering go here.
    pub fn queryset(mut self, f: impl Fn(&Request) -> Result<Select<E>> + Send + Sync + 'static) -> Self {
        self.queryset = Arc::new(f);
        self
    }

    /// Pages of `n` rows.
    pub fn paginate_by(mut self, n: u64) -> Self {
        self.paginate_by = Some(n.max(1));
        self
    }

    /// Another template than `app/<table>_list.html`.
    pub fn template_name(mut self, name: &str) -> Self {
        self.template_name = Some(name.to_owned());
        self
    }

    /// Adds values to the context (Django's `get_context_data`).
    pub fn extra_context(mut self, f: impl Fn(&Request, &mut Context) + Send + Sync + 'static) -> Self {
        self.extra_context = Some(Arc::new(f));
        self
    }

    /// The view for a URL conf: GET (and HEAD).
    pub fn as_view(self) -> MethodRouter {
        get(move |req: Request| {
            let view = self.clone();
            async move { view.get(req).await }
        })
    }

    async fn get(&self, req: Request) -> Result<Response> {
        let table = E::default().table_name().to_owned();
        let query = (self.queryset)(&req)?;
        let db = req.db().await?;
        let mut ctx = Context::new();
        let rows = match self.paginate_by {
            Some(per_page) => {
                let count = query.clone().count(&db).await?;
                let paginator = Paginator::new(count, per_page);
                let page = paginator.page(req.query().get("page"))?;
                let rows = query.offset(page.offset(per_page)).limit(per_page).all(&db).await?;
                ctx.insert("paginator", &paginator);
                ctx.insert("page_obj", &page);
                ctx.insert("is_paginated", &page.has_other_pages);
                rows
            }
            None => {
                ctx.insert("is_paginated", &false);
                query.all(&db).await?
            }
        };
        ctx.insert("object_list", &rows);
        ctx.insert(format!("{table}_list"), &rows);
        if let Some(extra) = &self.extra_context {
            extra(&req, &mut ctx);
        }
        let template = self.template_name.clone().unwrap_or_else(|| format!("{}/{table}_list.html", self.app));
        render(&req, &template, ctx)
    }
}

/// Django's `DetailView`: one row of an entity, found by the route's `pk` parameter (or by a
/// slug column and the `slug` parameter), rendered with `app/<table>_detail.html` and the
/// context `object` and `<table>`; a row that does not exist is a 404.
///
/// ```ignore
/// .path("contacts/<int:pk>/", DetailView::<contact::Entity>::new("crm").as_view(), "contact-detail")
/// ```
pub struct DetailView<E: EntityTrait> {
    app: String,
    template_name: Option<String>,
    slug_column: Option<E::Column>,
    extra_context: Option<ExtraContextFn>,
}

impl<E: EntityTrait> Clone for DetailView<E> {
    fn clone(&self) -> Self {
        DetailView {
            app: self.app.clone(),
            template_name: self.template_name.clone(),
            slug_column: self.slug_column,
            extra_context: self.extra_context.clone(),
        }
    }
}

impl<E> DetailView<E>
where
    E: EntityTrait + Sync,
    E::Model: Serialize + Send + Sync,
    E::Column: Send + Sync,
{
    /// A detail page for `E` in the app `app`, looked up by the `pk` path parameter.
    pub fn new(app: &str) -> Self {
        DetailView { app: app.to_owned(), template_name: None, slug_column: None, extra_context: None }
    }

    /// Look the row up by this column and the `slug` path parameter instead.
    pub fn slug_field(mut self, column: E::Column) -> Self {
        self.slug_column = Some(column);
        self
    }

    /// Another template than `app/<table>_detail.html`.
    pub fn template_name(mut self, name: &str) -> Self {
        self.template_name = Some(name.to_owned());
        self
    }

    /// Adds values to the context.
    pub fn extra_context(mut self, f: impl Fn(&Request, &mut Context) + Send + Sync + 'static) -> Self {
        self.extra_context = Some(Arc::new(f));
        self
    }

    /// The view for a URL conf: GET (and HEAD).
    pub fn as_view(self) -> MethodRouter {
        get(move |req: Request| {
            let view = self.clone();
            async move { view.get(req).await }
        })
    }

    async fn get(&self, req: Request) -> Result<Response> {
        let table = E::default().table_name().to_owned();
        let object = get_object::<E>(&req, self.slug_column).await?;
        let mut ctx = Context::new();
        ctx.insert("object", &object);
        ctx.insert(table.clone(), &object);
        if let Some(extra) = &self.extra_context {
            extra(&req, &mut ctx);
        }
        let template = self.template_name.clone().unwrap_or_else(|| format!("{}/{table}_detail.html", self.app));
        render(&req, &template, ctx)
    }
}

/// The row a detail, update or delete view is about: by the route's `pk` parameter, or by
/// `slug_column` and its `slug` parameter (Django's `SingleObjectMixin.get_object`); 404 when
/// there is none.
pub(crate) async fn get_object<E: EntityTrait>(req: &Request, slug_column: Option<E::Column>) -> Result<E::Model> {
    let table = E::default().table_name();
    let query = match slug_column {
        Some(column) => {
            let slug = req
                .param("slug")
                .ok_or_else(|| Error::internal("a view with a slug field needs a `slug` path parameter"))?;
            E::find().filter(column.eq(slug))
        }
        None => {
            let pk: i64 = req.param_as("pk")?;
            let column = E::PrimaryKey::iter()
                .next()
                .ok_or_else(|| Error::internal(format!("`{table}` has no primary key")))?
                .into_column();
            E::find().filter(column.eq(pk))
        }
    };
    let db = req.db().await?;
    query.one(&db).await?.ok_or_else(|| Error::not_found(format!("No {table} found matching the query")))
}
