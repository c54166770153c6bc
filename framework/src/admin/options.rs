//! How a model shows in the admin (Django's `ModelAdmin`, `TabularInline` and
//! `StackedInline`): the options a site sets when it registers a model. Field names are
//! Django's strings (`"first_name"`, `"company__name"` for a related row's field), checked when
//! the site is built, so a typo stops the site with a message rather than a broken page.

use std::sync::Arc;

use sea_orm::{ActiveModelBehavior, ActiveModelTrait, EntityTrait, IntoActiveModel, Value};

use super::m2m::ManyToManyField;
use super::meta::{AdminView, ChoiceColumn, Fieldset, InlineModel, Options, strings};
use crate::error::Result;
use crate::forms::{Choices, ModelForm};
use crate::http::Response;
use crate::request::Request;
use crate::routing::BoxFuture;

/// What every entity the admin shows must allow (the same as a [`ModelForm`]'s): any sea-orm
/// entity made with `DeriveEntityModel` is one.
pub trait AdminEntity:
    EntityTrait<
        Model: IntoActiveModel<<Self as EntityTrait>::ActiveModel> + Clone + Send + Sync,
        ActiveModel: ActiveModelTrait<Entity = Self> + ActiveModelBehavior + Send + Sync,
        Column: Send + Sync,
    > + Sync
    + 'static
{
}

impl<E> AdminEntity for E
where
    E: EntityTrait + Sync + 'static,
    E::Model: IntoActiveModel<E::ActiveModel> + Clone + Send + Sync,
    E::ActiveModel: ActiveModelTrait<Entity = E> + ActiveModelBehavior + Send + Sync,
    E::Column: Send + Sync,
{
}

pub(crate) type DisplayFn<E> = Arc<dyn Fn(&<E as EntityTrait>::Model) -> String + Send + Sync>;
pub(crate) type FormTweak<E> = Arc<dyn Fn(ModelForm<E>) -> ModelForm<E> + Send + Sync>;
pub(crate) type SiteUrlFn<E> = Arc<dyn Fn(&Request, &<E as EntityTrait>::Model) -> Result<String> + Send + Sync>;
pub(crate) type BeforeSave<E> = Arc<dyn Fn(&Request, &mut <E as EntityTrait>::ActiveModel, bool) + Send + Sync>;
pub(crate) type ActionFn<E> =
    Arc<dyn Fn(Request, Vec<<E as EntityTrait>::Model>) -> BoxFuture<Result<Option<Response>>> + Send + Sync>;

/// A computed column: a name `list_display` and `readonly_fields` can use, its heading, and
/// the column (or `related__column`) it sorts by, if any (Django's `@admin.display`).
pub(crate) struct Display<E: EntityTrait> {
    pub(crate) name: String,
    pub(crate) label: String,
    pub(crate) value: DisplayFn<E>,
    pub(crate) ordering: Option<String>,
}

impl<E: EntityTrait> Clone for Display<E> {
    fn clone(&self) -> Self {
        Display {
            name: self.name.clone(),
            label: self.label.clone(),
            value: self.value.clone(),
            ordering: self.ordering.clone(),
        }
    }
}

/// A bulk action of the change list (Django's admin actions).
pub(crate) struct Action<E: EntityTrait> {
    pub(crate) name: String,
    pub(crate) description: String,
    /// `add`, `change`, `delete` or `view` on the model, or a full permission name
    /// (`crm.publish_contact`): what the user needs, besides seeing the model, to run it.
    pub(crate) permission: String,
    pub(crate) run: ActionFn<E>,
}

/// How one model shows in the admin (Django's `ModelAdmin`): its change list's columns,
/// search, filters and ordering, its form's fields, inlines and actions. Register it by
/// contributing it to the admin app from the model's app (see the [module](super)).
///
/// ```
/// use djambda::admin::{Fieldset, ModelAdmin};
/// use djambda::auth::models::group;
///
/// let groups = ModelAdmin::<group::Entity>::new()
///     .list_display(["name"])
///     .search_fields(["name"])
///     .ordering(["name"])
///     .fieldsets([Fieldset::new(None, ["name"])]);
/// # let _ = groups;
/// ```
pub struct ModelAdmin<E: EntityTrait> {
    pub(crate) opts: Options,
    pub(crate) displays: Vec<Display<E>>,
    pub(crate) str_fn: Option<DisplayFn<E>>,
    pub(crate) site_url: Option<SiteUrlFn<E>>,
    pub(crate) before_save: Option<BeforeSave<E>>,
    pub(crate) form_tweaks: Vec<FormTweak<E>>,
    pub(crate) actions: Vec<Action<E>>,
    pub(crate) inlines: Vec<Arc<dyn InlineModel>>,
    pub(crate) many_to_many: Vec<Arc<dyn ManyToManyField>>,
    pub(crate) add_view: Option<AdminView>,
    pub(crate) extra_views: Vec<(String, String, AdminView)>,
    pub(crate) password_field: bool,
}

impl<E: EntityTrait> Default for ModelAdmin<E> {
    fn default() -> Self {
        ModelAdmin {
            opts: Options::default(),
            displays: Vec::new(),
            str_fn: None,
            site_url: None,
            before_save: None,
            form_tweaks: Vec::new(),
            actions: Vec::new(),
            inlines: Vec::new(),
            many_to_many: Vec::new(),
            add_view: None,
            extra_views: Vec::new(),
            password_field: false,
        }
    }
}

impl<E: EntityTrait> ModelAdmin<E> {
    /// The admin of `E` with Django's defaults: one column (the row's name), every column
    /// but the primary key on the form, 100 rows a page, newest first.
    pub fn new() -> Self {
        Self::default()
    }

    /// The change list's columns (Django's `list_display`): column names, a related row's
    /// column as `company__name`, or the name of a [`display`](Self::display). A foreign key
    /// column shows the related row's name.
    pub fn list_display<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> Self {
        self.opts.list_display = strings(names);
        self
    }

    /// The columns that link to the change form (Django's `list_display_links`); by default
    /// the first.
    pub fn list_display_links<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> Self {
        self.opts.list_display_links = Some(strings(names));
        self
    }

    /// The columns the search box looks in (Django's `search_fields`), a related row's too
    /// (`company__name`): every word typed must be in one of them, case aside. A leading `=`
    /// asks for the whole value (`=email`), `^` for its start.
    pub fn search_fields<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> Self {
        self.opts.search_fields = strings(names);
        self
    }

    /// A line under the search box saying what it searches.
    pub fn search_help_text(mut self, text: &str) -> Self {
        self.opts.search_help_text = text.to_owned();
        self
    }

    /// The sidebar's filters (Django's `list_filter`): boolean columns (yes, no), enum columns
    /// given [`choices`](Self::choices) (one link each), foreign keys (the related rows), dates
    /// and timestamps (today, past 7 days, this month, this year).
    pub fn list_filter<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> Self {
        self.opts.list_filter = strings(names);
        self
    }

    /// A date or timestamp column to drill into by year, month and day above the list
    /// (Django's `date_hierarchy`).
    pub fn date_hierarchy(mut self, name: &str) -> Self {
        self.opts.date_hierarchy = Some(name.to_owned());
        self
    }

    /// The list's default order (Django's `ordering`): column names, `-` in front for
    /// descending. The primary key breaks ties, so pages never overlap.
    pub fn ordering<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> Self {
        self.opts.ordering = strings(names);
        self
    }

    /// Rows per page of the change list (Django's `list_per_page`, 100 by default).
    pub fn list_per_page(mut self, n: u64) -> Self {
        self.opts.list_per_page = n.clamp(1, 1000);
        self
    }

    /// Columns (or displays) shown on the change form as text, not inputs (Django's
    /// `readonly_fields`).
    pub fn readonly_fields<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> Self {
        self.opts.readonly_fields = strings(names);
        self
    }

    /// The change form's fields, in order (Django's `fields`); by default every column but
    /// the primary key.
    pub fn fields<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> Self {
        self.opts.fields = Some(strings(names));
        self
    }

    /// Columns left off the form (Django's `exclude`).
    pub fn exclude<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> Self {
        self.opts.exclude = strings(names);
        self
    }

    /// The change form's fields in groups (Django's `fieldsets`); replaces
    /// [`fields`](Self::fields).
    pub fn fieldsets(mut self, sets: impl IntoIterator<Item = Fieldset>) -> Self {
        self.opts.fieldsets = sets.into_iter().collect();
        self
    }

    /// Foreign keys entered with a search box that asks the related model's admin as you type
    /// (Django's `autocomplete_fields`): for a related table too big for a select. The related
    /// model must be registered with [`search_fields`](Self::search_fields).
    pub fn autocomplete_fields<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> Self {
        self.opts.autocomplete_fields = strings(names);
        self
    }

    /// The model's name in words (`contact`; by default its label's).
    pub fn verbose_name(mut self, name: &str) -> Self {
        self.opts.verbose_name = Some(name.to_owned());
        self
    }

    /// The plural (by default the name with an `s`).
    pub fn verbose_name_plural(mut self, name: &str) -> Self {
        self.opts.verbose_name_plural = Some(name.to_owned());
        self
    }

    /// How a row is named in titles, messages, history and related columns (Django's
    /// `__str__`); by default its `name`, `title` or `username` column.
    pub fn str(mut self, f: impl Fn(&E::Model) -> String + Send + Sync + 'static) -> Self {
        self.str_fn = Some(Arc::new(f));
        self
    }

    /// A computed column (Django's `@admin.display`): `name` for `list_display` and
    /// `readonly_fields`, its heading, and what it shows for a row.
    pub fn display(
        mut self,
        name: &str,
        label: &str,
        value: impl Fn(&E::Model) -> String + Send + Sync + 'static,
    ) -> Self {
        self.displays.push(Display {
            name: name.to_owned(),
            label: label.to_owned(),
            value: Arc::new(value),
            ordering: None,
        });
        self
    }

    /// [`display`](Self::display), sortable by a column (`last_name`, `company__name`).
    pub fn display_ordered(
        mut self,
        name: &str,
        label: &str,
        ordering: &str,
        value: impl Fn(&E::Model) -> String + Send + Sync + 'static,
    ) -> Self {
        self.displays.push(Display {
            name: name.to_owned(),
            label: label.to_owned(),
            value: Arc::new(value),
            ordering: Some(ordering.to_owned()),
        });
        self
    }

    /// The page of a row on the site, for the form's "View on site" link (Django's
    /// `get_absolute_url`).
    pub fn view_on_site(mut self, f: impl Fn(&Request, &E::Model) -> Result<String> + Send + Sync + 'static) -> Self {
        self.site_url = Some(Arc::new(f));
        self
    }

    /// Sets columns the form does not have before a row is written (Django's `save_model`):
    /// gets the request, the row, and whether it is being added.
    pub fn before_save(mut self, f: impl Fn(&Request, &mut E::ActiveModel, bool) + Send + Sync + 'static) -> Self {
        self.before_save = Some(Arc::new(f));
        self
    }

    /// Adjusts the model form the admin builds (an email column, a help text, a validator:
    /// anything [`ModelForm`] takes). Called once, when the site is built.
    pub fn form(mut self, f: impl Fn(ModelForm<E>) -> ModelForm<E> + Send + Sync + 'static) -> Self {
        self.form_tweaks.push(Arc::new(f));
        self
    }

    /// Adds a bulk action to the change list (Django's admin actions): `name` is its value in
    /// the form, `description` what the menu says, `permission` what the user needs besides
    /// seeing the model (Django's `allowed_permissions`): `"add"`, `"change"`, `"delete"` or
    /// `"view"` on the model, or a full permission name (`"crm.publish_contact"`); any other
    /// stops the site from being built. Users without it neither see the action nor may post
    /// it (403). It gets the selected rows; it adds its own
    /// message, and returns a response to send (a download, a page) or `None` to go back to
    /// the list.
    pub fn action<F, Fut>(mut self, name: &str, description: &str, permission: &str, run: F) -> Self
    where
        F: Fn(Request, Vec<E::Model>) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<Option<Response>>> + Send + 'static,
    {
        self.actions.push(Action {
            name: name.to_owned(),
            description: description.to_owned(),
            permission: permission.to_owned(),
            run: Arc::new(move |req, rows| Box::pin(run(req, rows))),
        });
        self
    }

    /// An add page of the model's own instead of the change form (Django's `add_form`):
    /// auth's users are added with a username and a password typed twice.
    pub fn add_view(mut self, view: AdminView) -> Self {
        self.add_view = Some(view);
        self
    }

    /// A page of the model's own under `<pk>/<path>`, reversed as
    /// `admin:<app>_<model>_<name>` (the user's `password/`).
    pub fn extra_view(mut self, path: &str, name: &str, view: AdminView) -> Self {
        self.extra_views.push((path.to_owned(), name.to_owned(), view));
        self
    }

    /// The model has a `password` column shown as a link to its own change page (users).
    pub(crate) fn password_field(mut self) -> Self {
        self.password_field = true;
        self
    }
}

impl<E: AdminEntity> ModelAdmin<E> {
    /// An enum column (a sea-orm `ActiveEnum` deriving [`Choices`]): its choices' labels in
    /// the list, a filter link per choice, and a select on the form.
    pub fn choices<T>(mut self, column: &str) -> Self
    where
        T: Choices + Into<Value> + 'static,
    {
        let name = column.to_owned();
        self.opts.choices.push(ChoiceColumn {
            column: name.clone(),
            choices: T::choices(),
            to_value: Arc::new(|raw: &str| T::from_choice(raw).map(Into::into)),
        });
        self.form_tweaks.push(Arc::new(move |form: ModelForm<E>| {
            let found = form.columns().find(|c| sea_orm::IdenStatic::as_str(c) == name);
            match found {
                Some(col) => form.choices::<T>(col),
                None => form,
            }
        }));
        self
    }
}

/// How an inline shows its rows: a table (one row per record) or a form per record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InlineStyle {
    Tabular,
    Stacked,
}

/// The options of an inline (Django's `InlineModelAdmin`).
pub struct Inline<E: EntityTrait> {
    pub(crate) admin: ModelAdmin<E>,
    pub(crate) fk: String,
    pub(crate) style: InlineStyle,
    pub(crate) extra: usize,
    pub(crate) max_num: usize,
    pub(crate) can_delete: bool,
}

/// Rows of a child model edited as a table on the parent's form (Django's `TabularInline`).
pub struct TabularInline;

/// Rows of a child model edited as one form each on the parent's form (Django's
/// `StackedInline`).
pub struct StackedInline;

impl TabularInline {
    /// The rows of `E` whose foreign key column `fk` points at the parent, as a table.
    ///
    /// ```
    /// use djambda::admin::TabularInline;
    /// use djambda::auth::models::user_group;
    ///
    /// let memberships = TabularInline::of::<user_group::Entity>("user_id").fields(["group_id"]).extra(1);
    /// # let _ = memberships;
    /// ```
    pub fn of<E: EntityTrait>(fk: &str) -> Inline<E> {
        Inline::new(fk, InlineStyle::Tabular)
    }
}

impl StackedInline {
    /// The rows of `E` whose foreign key column `fk` points at the parent, a form each.
    pub fn of<E: EntityTrait>(fk: &str) -> Inline<E> {
        Inline::new(fk, InlineStyle::Stacked)
    }
}

impl<E: EntityTrait> Inline<E> {
    fn new(fk: &str, style: InlineStyle) -> Self {
        Inline { admin: ModelAdmin::new(), fk: fk.to_owned(), style, extra: 3, max_num: 1000, can_delete: true }
    }

    /// The fields of each row (by default every column but the key and the foreign key).
    pub fn fields<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> Self {
        self.admin = self.admin.fields(names);
        self
    }

    /// Fields shown as text.
    pub fn readonly_fields<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> Self {
        self.admin = self.admin.readonly_fields(names);
        self
    }

    /// How many empty rows the form offers for new records (Django's `extra`, 3 by default).
    pub fn extra(mut self, n: usize) -> Self {
        self.extra = n;
        self
    }

    /// At most this many rows, old and new, on one form (Django's `max_num`, 1000 by
    /// default): bounds the work of one save.
    pub fn max_num(mut self, n: usize) -> Self {
        self.max_num = n.max(1);
        self
    }

    /// Whether rows can be deleted from the parent's form (Django's `can_delete`, true by
    /// default).
    pub fn can_delete(mut self, yes: bool) -> Self {
        self.can_delete = yes;
        self
    }

    /// The order of the rows (column names, `-` for descending).
    pub fn ordering<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> Self {
        self.admin = self.admin.ordering(names);
        self
    }

    /// The row's name in words.
    pub fn verbose_name(mut self, name: &str) -> Self {
        self.admin = self.admin.verbose_name(name);
        self
    }

    /// The plural, the inline's heading.
    pub fn verbose_name_plural(mut self, name: &str) -> Self {
        self.admin = self.admin.verbose_name_plural(name);
        self
    }

    /// How a row is named (in history and messages).
    pub fn str(mut self, f: impl Fn(&E::Model) -> String + Send + Sync + 'static) -> Self {
        self.admin = self.admin.str(f);
        self
    }

    /// Adjusts each row's model form.
    pub fn form(mut self, f: impl Fn(ModelForm<E>) -> ModelForm<E> + Send + Sync + 'static) -> Self {
        self.admin = self.admin.form(f);
        self
    }
}

impl<E: AdminEntity> Inline<E> {
    /// An enum column's choices on each row's form.
    pub fn choices<T>(mut self, column: &str) -> Self
    where
        T: Choices + Into<Value> + 'static,
    {
        self.admin = self.admin.choices::<T>(column);
        self
    }
}
