//! Many-to-many fields on an admin form (a user's groups, a group's permissions): the rows of
//! a link table, picked from the related model's rows.

use std::collections::BTreeSet;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use sea_orm::{
    ActiveModelBehavior, ActiveModelTrait, ColumnTrait, DatabaseConnection, DatabaseTransaction, EntityTrait,
    IntoActiveModel, Iterable, ModelTrait, PrimaryKeyToColumn, QueryFilter, QueryOrder, QuerySelect, Value,
};

use super::display;
use crate::error::Result;

/// The most related rows a picker lists: its page, and the work of one save, stay bounded.
pub(crate) const MAX_CHOICES: u64 = 2000;

type LabelFn<R> = Arc<dyn Fn(&<R as EntityTrait>::Model) -> String + Send + Sync>;

/// A many-to-many field through the link entity `T` to the related entity `R` (Django's
/// `ManyToManyField` on the form, with `filter_horizontal`'s picker).
///
/// ```
/// use djambda::admin::ManyToMany;
/// use djambda::auth::models::{group, user_group};
///
/// let groups = ManyToMany::<user_group::Entity, group::Entity>::new(
///     "groups",
///     user_group::Column::UserId,
///     user_group::Column::GroupId,
///     |g: &group::Model| g.name.clone(),
/// )
/// .help_text("The groups this user belongs to.");
/// # let _ = groups;
/// ```
pub struct ManyToMany<T: EntityTrait, R: EntityTrait> {
    name: String,
    label: String,
    help_text: String,
    own: T::Column,
    other: T::Column,
    label_of: LabelFn<R>,
}

impl<T: EntityTrait, R: EntityTrait> ManyToMany<T, R> {
    /// The field `name`: the rows of `T` whose column `own` holds the edited row's key link it
    /// to the rows of `R` their column `other` names; `label` names a row of `R` in the picker.
    pub fn new(
        name: &str,
        own: T::Column,
        other: T::Column,
        label: impl Fn(&R::Model) -> String + Send + Sync + 'static,
    ) -> Self {
        ManyToMany {
            name: name.to_owned(),
            label: display::capfirst(&display::words(name)),
            help_text: String::new(),
            own,
            other,
            label_of: Arc::new(label),
        }
    }

    /// The field's label.
    pub fn label(mut self, label: &str) -> Self {
        self.label = label.to_owned();
        self
    }

    /// Help under the picker.
    pub fn help_text(mut self, text: &str) -> Self {
        self.help_text = text.to_owned();
        self
    }
}

/// A many-to-many field, whatever its entities.
pub(crate) trait ManyToManyField: Send + Sync + 'static {
    fn name(&self) -> &str;
    fn label(&self) -> &str;
    fn help_text(&self) -> &str;
    /// Every related row as (key, label), by label.
    fn choices<'a>(&'a self, db: &'a DatabaseConnection) -> BoxFuture<'a, Result<Vec<(String, String)>>>;
    /// The keys of the related rows linked to `key`.
    fn selected<'a>(&'a self, db: &'a DatabaseConnection, key: Value) -> BoxFuture<'a, Result<Vec<String>>>;
    /// Links `key` to `keys` among the `offered` ones (the picker's choices): the links
    /// added and removed. A link to a row the picker did not offer is kept, since the form
    /// could not show it, let alone unselect it.
    fn set<'a>(
        &'a self,
        txn: &'a DatabaseTransaction,
        key: Value,
        keys: Vec<String>,
        offered: &'a [(String, String)],
    ) -> BoxFuture<'a, Result<(Vec<String>, Vec<String>)>>;
}

impl<T, R> ManyToManyField for ManyToMany<T, R>
where
    T: EntityTrait + Sync + 'static,
    T::Model: IntoActiveModel<T::ActiveModel> + Send + Sync,
    T::ActiveModel: ActiveModelTrait<Entity = T> + ActiveModelBehavior + Send + Sync,
    T::Column: Send + Sync,
    R: EntityTrait + Sync + 'static,
    R::Model: Send + Sync,
{
    fn name(&self) -> &str {
        &self.name
    }

    fn label(&self) -> &str {
        &self.label
    }

    fn help_text(&self) -> &str {
        &self.help_text
    }

    fn choices<'a>(&'a self, db: &'a DatabaseConnection) -> BoxFuture<'a, Result<Vec<(String, String)>>> {
        Box::pin(async move {
            let Some(key) = R::PrimaryKey::iter().next().map(|k| k.into_column()) else { return Ok(Vec::new()) };
            // By key, so that the page and the save that follows offer the same rows.
            let rows = R::find().order_by_asc(key).limit(MAX_CHOICES).all(db).await?;
            let mut out: Vec<(String, String)> = rows
                .iter()
                .map(|row| (display::raw(&row.get(key)).unwrap_or_default(), (self.label_of)(row)))
                .collect();
            out.sort_by_cached_key(|(_, label)| label.to_lowercase());
            Ok(out)
        })
    }

    fn selected<'a>(&'a self, db: &'a DatabaseConnection, key: Value) -> BoxFuture<'a, Result<Vec<String>>> {
        Box::pin(async move {
            let rows = T::find().filter(self.own.eq(key)).limit(MAX_CHOICES).all(db).await?;
            Ok(rows.iter().filter_map(|r| display::raw(&r.get(self.other))).collect())
        })
    }

    fn set<'a>(
        &'a self,
        txn: &'a DatabaseTransaction,
        key: Value,
        keys: Vec<String>,
        offered: &'a [(String, String)],
    ) -> BoxFuture<'a, Result<(Vec<String>, Vec<String>)>> {
        Box::pin(async move {
            let ty = self.other.def().get_column_type().clone();
            let offered: BTreeSet<&str> = offered.iter().map(|(k, _)| k.as_str()).collect();
            let wanted: BTreeSet<String> = keys.into_iter().filter(|k| offered.contains(k.as_str())).collect();
            let rows = T::find().filter(self.own.eq(key.clone())).all(txn).await?;
            let have: BTreeSet<String> = rows.iter().filter_map(|r| display::raw(&r.get(self.other))).collect();
            let removed: Vec<String> =
                have.difference(&wanted).filter(|k| offered.contains(k.as_str())).cloned().collect();
            let added: Vec<String> = wanted.difference(&have).cloned().collect();
            let gone: Vec<Value> = removed.iter().filter_map(|k| display::parse_key(&ty, k)).collect();
            if !gone.is_empty() {
                T::delete_many().filter(self.own.eq(key.clone())).filter(self.other.is_in(gone)).exec(txn).await?;
            }
            for k in &added {
                let Some(value) = display::parse_key(&ty, k) else { continue };
                let mut row = T::ActiveModel::default();
                row.set(self.own, key.clone());
                row.set(self.other, value);
                T::insert(row).exec_without_returning(txn).await?;
            }
            Ok((added, removed))
        })
    }
}
