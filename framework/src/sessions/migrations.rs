//! The sessions app: the `djambda_session` table the `db` session engine keeps sessions in.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

/// The sessions app's migrations, kept in their own bookkeeping table.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(Initial)]
    }

    fn migration_table_name() -> DynIden {
        "djambda_migrations_sessions".into_iden()
    }
}

struct Initial;

impl MigrationName for Initial {
    fn name(&self) -> &str {
        "0001_initial"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Initial {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("djambda_session")
                    .col(string_len("session_key", 40).primary_key())
                    .col(text("session_data"))
                    .col(timestamp_with_time_zone("expire_date"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_djambda_session_expire_date")
                    .table("djambda_session")
                    .col("expire_date")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table("djambda_session").to_owned()).await
    }
}
