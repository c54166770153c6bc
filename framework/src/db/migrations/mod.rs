//! Migrations (Django's `django.db.migrations`): a site registers its apps' sea-orm-migration
//! migrators, and `manage migrate` / `showmigrations` apply, roll back and list them;
//! `manage makemigrations` writes new ones from what the entities declare.

pub(crate) mod autodetector;
pub(crate) mod schema;
pub(crate) mod writer;

use std::marker::PhantomData;

use sea_orm::{DatabaseConnection, DbErr};
use sea_orm_migration::{MigrationStatus, MigratorTrait};

use futures_util::future::BoxFuture;

pub use schema::{ColumnSchema, ForeignKeySchema, IndexSchema, TableSchema, entity_table};

/// One migration's name and whether the database has it applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationState {
    /// The migration's name (`0001_initial`).
    pub name: String,
    /// Whether it is applied.
    pub applied: bool,
}

/// An app's migrations, as the `migrate` commands drive them.
pub trait MigrationSet: Send + Sync {
    /// The app the migrations belong to (`crm`).
    fn app_label(&self) -> &str;
    /// Every migration's name, in order.
    fn names(&self) -> Vec<String>;
    /// Every migration in order, with whether it is applied (creates the bookkeeping table the
    /// first time).
    fn status<'a>(&'a self, db: &'a DatabaseConnection) -> BoxFuture<'static, Result<Vec<MigrationState>, DbErr>>
    where
        Self: 'a;
    /// Applies the first pending migration.
    fn apply_next(&self, db: DatabaseConnection) -> BoxFuture<'static, Result<(), DbErr>>;
    /// Rolls back the last applied migration.
    fn unapply_last(&self, db: DatabaseConnection) -> BoxFuture<'static, Result<(), DbErr>>;
}

/// A sea-orm-migration `Migrator` as an app's [`MigrationSet`].
pub struct SeaMigrations<M> {
    app_label: String,
    migrator: PhantomData<fn() -> M>,
}

impl<M> SeaMigrations<M> {
    /// The migrations of `M` for the app `app_label`.
    pub fn new(app_label: &str) -> Self {
        SeaMigrations { app_label: app_label.to_owned(), migrator: PhantomData }
    }
}

impl<M: MigratorTrait + 'static> MigrationSet for SeaMigrations<M> {
    fn app_label(&self) -> &str {
        &self.app_label
    }

    fn names(&self) -> Vec<String> {
        M::migrations().iter().map(|m| m.name().to_owned()).collect()
    }

    fn status<'a>(&'a self, db: &'a DatabaseConnection) -> BoxFuture<'static, Result<Vec<MigrationState>, DbErr>>
    where
        Self: 'a,
    {
        let db = db.clone();
        Box::pin(async move {
            let all = M::get_migration_with_status(&db).await?;
            Ok(all
                .iter()
                .map(|m| MigrationState { name: m.name().to_owned(), applied: m.status() == MigrationStatus::Applied })
                .collect())
        })
    }

    fn apply_next(&self, db: DatabaseConnection) -> BoxFuture<'static, Result<(), DbErr>> {
        Box::pin(async move { M::up(&db, Some(1)).await })
    }

    fn unapply_last(&self, db: DatabaseConnection) -> BoxFuture<'static, Result<(), DbErr>> {
        Box::pin(async move { M::down(&db, Some(1)).await })
    }
}

/// Applies every pending migration of `sets` on `db`, in order.
pub(crate) async fn apply_all(
    sets: &[std::sync::Arc<dyn MigrationSet>],
    db: &DatabaseConnection,
) -> Result<Vec<String>, String> {
    let db = db.clone();
    let mut applied = Vec::new();
    for set in sets {
        for m in set.status(&db).await.map_err(|e| e.to_string())?.into_iter().filter(|m| !m.applied) {
            let label = format!("{}.{}", set.app_label(), m.name);
            set.apply_next(db.clone()).await.map_err(|e| format!("applying {label} failed: {e}"))?;
            applied.push(label);
        }
    }
    Ok(applied)
}
