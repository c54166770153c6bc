//! Per-model permissions: which exist (add, change, delete and view for every registered
//! model), creating their rows, and reading a user's.

use std::collections::{BTreeMap, BTreeSet};

use sea_orm::sea_query::{Condition, Expr, ExprTrait, Query};
use sea_orm::{ActiveValue, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect};

use super::models::{group_permission, permission, user_group, user_permission};
use crate::site::Site;

/// Every permission the site's registered models have: `(app_label, codename, name)`, as
/// Django's default permissions (`crm`, `add_company`, `Can add company`).
pub fn model_permissions(site: &Site) -> Vec<(String, String, String)> {
    let Some(table) = site.state::<PermTable>() else { return Vec::new() };
    table.entries.iter().map(|e| (e.app.clone(), e.codename.clone(), e.name.clone())).collect()
}

/// One model permission.
pub(crate) struct PermEntry {
    pub(crate) app: String,
    pub(crate) codename: String,
    /// `Can add company`.
    pub(crate) name: String,
    /// `crm.add_company`.
    pub(crate) full: String,
}

/// The site's model permissions, worked out once when the site is assembled, with the `perms`
/// template values that do not depend on the user (none granted, all granted) ready to share.
pub(crate) struct PermTable {
    pub(crate) entries: Vec<PermEntry>,
    none: tera::Value,
    all: tera::Value,
}

impl PermTable {
    pub(crate) fn new(models: &[std::sync::Arc<dyn crate::db::FixtureModel>]) -> Self {
        let mut entries = Vec::new();
        for model in models {
            let Some((app, name)) = model.label().split_once('.') else { continue };
            for action in ["add", "change", "delete", "view"] {
                let codename = format!("{action}_{name}");
                entries.push(PermEntry {
                    full: format!("{app}.{codename}"),
                    app: app.to_owned(),
                    codename,
                    name: format!("Can {action} {}", name.replace('_', " ")),
                });
            }
        }
        let mut table = PermTable { entries, none: tera::Value::none(), all: tera::Value::none() };
        table.none = table.value(|_| false, std::iter::empty());
        table.all = table.value(|_| true, std::iter::empty());
        table
    }

    /// `{app: {codename: granted}}` for every model permission, and `extra` permissions
    /// (`app.codename`, made by hand for no model) as granted.
    pub(crate) fn value<'a>(
        &'a self,
        granted: impl Fn(&str) -> bool,
        extra: impl Iterator<Item = &'a str>,
    ) -> tera::Value {
        let mut map: BTreeMap<&str, BTreeMap<&str, bool>> = BTreeMap::new();
        for e in &self.entries {
            map.entry(&e.app).or_default().insert(&e.codename, granted(&e.full));
        }
        for perm in extra {
            if let Some((app, codename)) = perm.split_once('.') {
                map.entry(app).or_default().insert(codename, true);
            }
        }
        tera::Value::from_serializable(&map)
    }

    /// The value for an anonymous visitor (nothing granted), shared.
    pub(crate) fn none(&self) -> tera::Value {
        self.none.clone()
    }

    /// The value for an active superuser (everything granted), shared.
    pub(crate) fn all(&self) -> tera::Value {
        self.all.clone()
    }
}

/// Creates the permission rows that are missing (what `manage migrate` does after migrating,
/// as Django's `post_migrate` does); returns how many it created.
pub async fn sync_permissions<C: ConnectionTrait>(site: &Site, db: &C) -> Result<usize, DbErr> {
    let existing: BTreeSet<(String, String)> =
        permission::Entity::find().all(db).await?.into_iter().map(|p| (p.app_label, p.codename)).collect();
    let missing: Vec<permission::ActiveModel> = model_permissions(site)
        .into_iter()
        .filter(|(app, codename, _)| !existing.contains(&(app.clone(), codename.clone())))
        .map(|(app, codename, name)| permission::ActiveModel {
            app_label: ActiveValue::Set(app),
            codename: ActiveValue::Set(codename),
            name: ActiveValue::Set(name),
            ..Default::default()
        })
        .collect();
    let created = missing.len();
    // One row at a time, in order, so a new database numbers them the same way every time.
    for row in missing {
        permission::Entity::insert(row).exec(db).await?;
    }
    Ok(created)
}

/// [`sync_permissions`] once the auth app's tables are migrated (what `migrate` runs last).
pub(crate) async fn sync_if_migrated(site: &Site, db: &sea_orm::DatabaseConnection) -> Result<usize, String> {
    let Some(auth) = site.app("auth").and_then(|a| a.migrations()) else { return Ok(0) };
    let states = auth.status(db).await.map_err(|e| e.to_string())?;
    if states.is_empty() || states.iter().any(|m| !m.applied) {
        return Ok(0);
    }
    sync_permissions(site, db).await.map_err(|e| format!("creating the models' permissions failed: {e}"))
}

/// A user's permissions, their own and their groups', as `app.codename`: one query.
pub(crate) async fn user_permissions<C: ConnectionTrait>(db: &C, user_id: i32) -> Result<BTreeSet<String>, DbErr> {
    let own = Query::select()
        .column(user_permission::Column::PermissionId)
        .from(user_permission::Entity)
        .and_where(Expr::col(user_permission::Column::UserId).eq(user_id))
        .to_owned();
    let groups = Query::select()
        .column(user_group::Column::GroupId)
        .from(user_group::Entity)
        .and_where(Expr::col(user_group::Column::UserId).eq(user_id))
        .to_owned();
    let through_groups = Query::select()
        .column(group_permission::Column::PermissionId)
        .from(group_permission::Entity)
        .and_where(Expr::col(group_permission::Column::GroupId).in_subquery(groups))
        .to_owned();
    let rows: Vec<(String, String)> = permission::Entity::find()
        .select_only()
        .column(permission::Column::AppLabel)
        .column(permission::Column::Codename)
        .filter(
            Condition::any()
                .add(permission::Column::Id.in_subquery(own))
                .add(permission::Column::Id.in_subquery(through_groups)),
        )
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows.into_iter().map(|(app, codename)| format!("{app}.{codename}")).collect())
}
