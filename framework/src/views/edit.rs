//! Generic editing views (Django's `CreateView`, `UpdateView` and `DeleteView`) on a
//! [`ModelForm`]: show the form, save a valid one with a success message and redirect, or show
//! it again with its errors; a delete asks for confirmation first.
//!
//! ```
//! use djambda::auth::models::group;
//! use djambda::forms::ModelForm;
//! use djambda::prelude::*;
//! use djambda::views::{CreateView, DeleteView, UpdateView};
//!
//! let form = ModelForm::<group::Entity>::new([group::Column::Name]);
//! let urls = UrlConf::app("people")
//!     .path("groups/new/", CreateView::new("people", form.clone()).success_url("people:groups").as_view()
//!         .permission_required("auth.add_group"), "group-create")
//!     .path("groups/<int:pk>/", UpdateView::new("people", form).success_url("people:groups").as_view()
//!         .permission_required("auth.change_group"), "group-update")
//!     .path("groups/<int:pk>/delete/", DeleteView::<group::Entity>::new("people").success_url("people:groups")
//!         .as_view().permission_required("auth.delete_group"), "group-delete");
//! # let _ = urls;
//! ```

use std::sync::Arc;

use http::StatusCode;
use sea_orm::{ActiveModelBehavior, ActiveModelTrait, EntityTrait, IntoActiveModel, ModelTrait};
use serde::Serialize;

use super::generic::get_object;
use crate::error::Result;
use crate::forms::{BoundModelForm, ModelForm};
use crate::http::Response;
use crate::request::Request;
use crate::routing::{MethodRouter, get};
use crate::shortcuts::render;
use crate::templates::Context;

type SuccessFn<E> = Arc<dyn Fn(&Request, &<E as EntityTrait>::Model) -> Result<String> + Send + Sync>;
type MessageFn<E> = Arc<dyn Fn(&<E as EntityTrait>::Model) -> String + Send + Sync>;
type FillFn<E> = Arc<dyn Fn(&Request, &mut <E as EntityTrait>::ActiveModel) + Send + Sync>;
type ExtraFn = Arc<dyn Fn(&Request, &mut Context) + Send + Sync>;

/// What the editing views share: the app, template, where to go after, the message to show.
struct Common<E: EntityTrait> {
    app: String,
    template_name: Option<String>,
    success: Option<SuccessFn<E>>,
    message: Option<MessageFn<E>>,
    extra_context: Option<ExtraFn>,
}

impl<E: EntityTrait> Clone for Common<E> {
    fn clone(&self) -> Self {
        Common {
            app: self.app.clone(),
            template_name: self.template_name.clone(),
            success: self.success.clone(),
            message: self.message.clone(),
            extra_context: self.extra_context.clone(),
        }
    }
}

impl<E: EntityTrait> Common<E> {
    fn new(app: &str) -> Self {
        Common { app: app.to_owned(), template_name: None, success: None, message: None, extra_context: None }
    }

    fn template(&self, suffix: &str) -> String {
        self.template_name.clone().unwrap_or_else(|| format!("{}/{}{suffix}", self.app, E::default().table_name()))
    }

    fn redirect(&self, req: &Request, object: &E::Model) -> Result<Response> {
        if let Some(message) = &self.message {
            crate::messages::success(req, message(object));
        }
        let Some(success) = &self.success else {
            return Err(crate::Error::internal(
                "the view has no success_url: say where to go after saving with .success_url(\"app:route\")",
            ));
        };
        Ok(Response::redirect(&success(req, object)?))
    }

    fn context(&self, req: &Request, object: Option<&E::Model>) -> Context
    where
        E::Model: Serialize,
    {
        let mut ctx = Context::new();
        if let Some(object) = object {
            ctx.insert("object", object);
            ctx.insert(E::default().table_name(), object);
        }
        if let Some(extra) = &self.extra_context {
            extra(req, &mut ctx);
        }
        ctx
    }
}

/// The routes of an editing view: GET to its `get`, POST to its `post`, sharing one view.
macro_rules! get_and_post {
    ($view:expr) => {{
        let view = Arc::new($view);
        let post_view = view.clone();
        get(move |req: Request| {
            let view = view.clone();
            async move { view.get(req).await }
        })
        .post(move |req: Request| {
            let view = post_view.clone();
            async move { view.post(req).await }
        })
    }};
}

impl<E> Common<E>
where
    E: EntityTrait + Sync,
    E::Model: IntoActiveModel<E::ActiveModel> + Serialize + Send + Sync,
    E::ActiveModel: ActiveModelTrait<Entity = E> + ActiveModelBehavior + Send + Sync,
    E::Column: Send + Sync,
{
    /// What a create or update POST does: save a valid form (with `fill` setting the columns it
    /// lacks) and redirect, or show the form again with `ctx`.
    async fn save_or_show(
        &self,
        req: &Request,
        mut form: BoundModelForm<E>,
        fill: Option<&FillFn<E>>,
        ctx: Context,
    ) -> Result<Response> {
        if form.is_valid() {
            let db = req.db().await?;
            let saved = form
                .save_with(&db, |am| {
                    if let Some(f) = fill {
                        f(req, am)
                    }
                })
                .await?;
            if let Some(object) = saved {
                return self.redirect(req, &object);
            }
        }
        show(req, &self.template("_form.html"), ctx, &form)
    }
}

macro_rules! common_setters {
    () => {
        /// Another template than the default one.
        pub fn template_name(mut self, name: &str) -> Self {
            self.common.template_name = Some(name.to_owned());
            self
        }

        /// Where to go afterwards: a route name without parameters (`"crm:company-list"`).
        pub fn success_url(mut self, route: &str) -> Self {
            let route = route.to_owned();
            self.common.success = Some(Arc::new(move |req: &Request, _obj: &E::Model| req.reverse(&route, &[])));
            self
        }

        /// Where to go afterwards, from the saved (or deleted) row: `|req, c| req.reverse("crm:company-detail", &[&c.slug])`.
        pub fn success_url_with(
            mut self,
            f: impl Fn(&Request, &E::Model) -> Result<String> + Send + Sync + 'static,
        ) -> Self {
            self.common.success = Some(Arc::new(f));
            self
        }

        /// The success message shown on the next page (Django's `SuccessMessageMixin`).
        pub fn success_message(mut self, f: impl Fn(&E::Model) -> String + Send + Sync + 'static) -> Self {
            self.common.message = Some(Arc::new(f));
            self
        }

        /// Adds values to the context.
        pub fn extra_context(mut self, f: impl Fn(&Request, &mut Context) + Send + Sync + 'static) -> Self {
            self.common.extra_context = Some(Arc::new(f));
            self
        }
    };
}

/// Django's `CreateView`: GET shows an empty form (`app/<table>_form.html`, with `form`); a
/// valid POST inserts the row, adds the success message and redirects; an invalid one shows
/// the form again with what was typed and the errors, and writes nothing.
pub struct CreateView<E: EntityTrait> {
    common: Common<E>,
    form: ModelForm<E>,
    fill: Option<FillFn<E>>,
}

impl<E: EntityTrait> Clone for CreateView<E> {
    fn clone(&self) -> Self {
        CreateView { common: self.common.clone(), form: self.form.clone(), fill: self.fill.clone() }
    }
}

/// Django's `UpdateView`: like [`CreateView`] for an existing row, found by the route's `pk`
/// (or `slug`) parameter; the context also has `object` and `<table>`.
pub struct UpdateView<E: EntityTrait> {
    common: Common<E>,
    form: ModelForm<E>,
    slug_column: Option<E::Column>,
    fill: Option<FillFn<E>>,
}

impl<E: EntityTrait> Clone for UpdateView<E> {
    fn clone(&self) -> Self {
        UpdateView {
            common: self.common.clone(),
            form: self.form.clone(),
            slug_column: self.slug_column,
            fill: self.fill.clone(),
        }
    }
}

/// Django's `DeleteView`: GET asks for confirmation (`app/<table>_confirm_delete.html`, with
/// `object`); POST deletes the row, adds the success message and redirects. A row the database
/// will not delete (other rows still refer to it) shows the confirmation again with `error`.
pub struct DeleteView<E: EntityTrait> {
    common: Common<E>,
    slug_column: Option<E::Column>,
}

impl<E: EntityTrait> Clone for DeleteView<E> {
    fn clone(&self) -> Self {
        DeleteView { common: self.common.clone(), slug_column: self.slug_column }
    }
}

fn show<F: Serialize>(req: &Request, template: &str, mut ctx: Context, form: &F) -> Result<Response> {
    ctx.insert("form", form);
    render(req, template, ctx)
}

impl<E> CreateView<E>
where
    E: EntityTrait + Sync,
    E::Model: IntoActiveModel<E::ActiveModel> + Serialize + Send + Sync,
    E::ActiveModel: ActiveModelTrait<Entity = E> + ActiveModelBehavior + Send + Sync,
    E::Column: Send + Sync,
{
    /// A create view for the app `app` with `form`.
    pub fn new(app: &str, form: ModelForm<E>) -> Self {
        CreateView { common: Common::new(app), form, fill: None }
    }

    common_setters!();

    /// Sets columns the form does not have before the row is inserted (the author, a
    /// timestamp): Django's `form_valid` override.
    pub fn before_save(mut self, f: impl Fn(&Request, &mut E::ActiveModel) + Send + Sync + 'static) -> Self {
        self.fill = Some(Arc::new(f));
        self
    }

    /// The view for a URL conf: GET and POST.
    pub fn as_view(self) -> MethodRouter {
        get_and_post!(self)
    }

    /// The empty form; values in the query string fill the fields of the same name, as in
    /// Django's admin (`?company_id=3` on a "new contact" link from a company's page).
    async fn get(&self, req: Request) -> Result<Response> {
        let mut form = self.form.unbound(&req, None).await?;
        for (name, value) in req.query().iter() {
            form.set_initial(name, value);
        }
        show(&req, &self.common.template("_form.html"), self.common.context(&req, None), &form)
    }

    async fn post(&self, req: Request) -> Result<Response> {
        let form = self.form.bind(&req, None).await?;
        let ctx = self.common.context(&req, None);
        self.common.save_or_show(&req, form, self.fill.as_ref(), ctx).await
    }
}

impl<E> UpdateView<E>
where
    E: EntityTrait + Sync,
    E::Model: IntoActiveModel<E::ActiveModel> + Serialize + Send + Sync,
    E::ActiveModel: ActiveModelTrait<Entity = E> + ActiveModelBehavior + Send + Sync,
    E::Column: Send + Sync,
{
    /// An update view for the app `app` with `form`.
    pub fn new(app: &str, form: ModelForm<E>) -> Self {
        UpdateView { common: Common::new(app), form, slug_column: None, fill: None }
    }

    common_setters!();

    /// Finds the row by this column and the `slug` path parameter instead of `pk`.
    pub fn slug_field(mut self, column: E::Column) -> Self {
        self.slug_column = Some(column);
        self
    }

    /// Sets columns the form does not have before the row is saved (an `updated_at`).
    pub fn before_save(mut self, f: impl Fn(&Request, &mut E::ActiveModel) + Send + Sync + 'static) -> Self {
        self.fill = Some(Arc::new(f));
        self
    }

    /// The view for a URL conf: GET and POST.
    pub fn as_view(self) -> MethodRouter {
        get_and_post!(self)
    }

    async fn get(&self, req: Request) -> Result<Response> {
        let object = get_object::<E>(&req, self.slug_column).await?;
        let ctx = self.common.context(&req, Some(&object));
        let form = self.form.unbound(&req, Some(object)).await?;
        show(&req, &self.common.template("_form.html"), ctx, &form)
    }

    async fn post(&self, req: Request) -> Result<Response> {
        let object = get_object::<E>(&req, self.slug_column).await?;
        let ctx = self.common.context(&req, Some(&object));
        let form = self.form.bind(&req, Some(object)).await?;
        self.common.save_or_show(&req, form, self.fill.as_ref(), ctx).await
    }
}

impl<E> DeleteView<E>
where
    E: EntityTrait + Sync,
    E::Model: IntoActiveModel<E::ActiveModel> + Serialize + Send + Sync,
    E::ActiveModel: ActiveModelTrait<Entity = E> + ActiveModelBehavior + Send + Sync,
    E::Column: Send + Sync,
{
    /// A delete view for the app `app`.
    pub fn new(app: &str) -> Self {
        DeleteView { common: Common::new(app), slug_column: None }
    }

    common_setters!();

    /// Finds the row by this column and the `slug` path parameter instead of `pk`.
    pub fn slug_field(mut self, column: E::Column) -> Self {
        self.slug_column = Some(column);
        self
    }

    /// The view for a URL conf: GET (the confirmation) and POST (the delete).
    pub fn as_view(self) -> MethodRouter {
        get_and_post!(self)
    }

    async fn get(&self, req: Request) -> Result<Response> {
        let object = get_object::<E>(&req, self.slug_column).await?;
        let ctx = self.common.context(&req, Some(&object));
        render(&req, &self.common.template("_confirm_delete.html"), ctx)
    }

    async fn post(&self, req: Request) -> Result<Response> {
        let object = get_object::<E>(&req, self.slug_column).await?;
        let db = req.db().await?;
        match object.clone().delete(&db).await {
            Ok(_) => self.common.redirect(&req, &object),
            Err(e) if crate::db::is_unavailable(&e) => Err(e.into()),
            Err(e) => {
                eprintln!("the database refused to delete a {}: {e}", E::default().table_name());
                let mut ctx = self.common.context(&req, Some(&object));
                ctx.insert("error", "This record cannot be deleted while other records refer to it.");
                Ok(render(&req, &self.common.template("_confirm_delete.html"), ctx)?.with_status(StatusCode::CONFLICT))
            }
        }
    }
}
