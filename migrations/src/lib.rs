//! The example site's database migrations, in order (Django's `crm/migrations/`). `manage
//! migrate` applies them; each one's `down` undoes it, for `manage migrate --target`.

use sea_orm_migration::prelude::*;

mod m0001_initial;

/// Where these files are, for `manage makemigrations` to add new ones beside them.
pub const SOURCE_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src");

/// The CRM app's migrations.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(m0001_initial::Migration)]
    }
}
