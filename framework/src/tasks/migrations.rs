//! The tasks app: the `djambda_task` table, where the database backend queues tasks and where
//! every backend that keeps results (database, SQS) keeps them.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

/// The tasks app's migrations, kept in their own bookkeeping table.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(Initial), Box::new(LongText)]
    }

    fn migration_table_name() -> DynIden {
        "djambda_migrations_tasks".into_iden()
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
                    .table("djambda_task")
                    .col(string_len("id", 32).primary_key())
                    .col(string_len("task_name", 200))
                    .col(text("payload"))
                    .col(string_len("status", 16))
                    .col(integer("attempts"))
                    .col(integer("max_attempts"))
                    .col(timestamp_with_time_zone("run_after"))
                    .col(timestamp_with_time_zone("enqueued_at"))
                    .col(timestamp_with_time_zone_null("started_at"))
                    .col(timestamp_with_time_zone_null("finished_at"))
                    .col(timestamp_with_time_zone_null("lease_expires_at"))
                    .col(string_len_null("claim", 32))
                    .col(text_null("error"))
                    .to_owned(),
            )
            .await?;
        // What a worker asks for: the queued tasks due now, oldest first.
        manager
            .create_index(
                Index::create()
                    .name("idx_djambda_task_status_run_after")
                    .table("djambda_task")
                    .col("status")
                    .col("run_after")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table("djambda_task").to_owned()).await
    }
}

/// MySQL's TEXT holds 64 KiB: a larger payload (or a long error, a traceback say) was refused
/// at enqueue, or its error lost. LONGTEXT holds what a message or a packet can carry.
/// PostgreSQL's and SQLite's TEXT have no such limit.
struct LongText;

impl MigrationName for LongText {
    fn name(&self) -> &str {
        "0002_long_text"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for LongText {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == sea_orm::DatabaseBackend::MySql {
            manager
                .get_connection()
                .execute_unprepared(
                    "ALTER TABLE djambda_task MODIFY payload LONGTEXT NOT NULL, MODIFY error LONGTEXT NULL",
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == sea_orm::DatabaseBackend::MySql {
            manager
                .get_connection()
                .execute_unprepared("ALTER TABLE djambda_task MODIFY payload TEXT NOT NULL, MODIFY error TEXT NULL")
                .await?;
        }
        Ok(())
    }
}
