//! The auth app's migrations: Django's `auth_*` tables, and the failed-login counter.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

/// The auth app's migrations, kept in their own bookkeeping table so they sit beside the
/// site's own.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(Initial)]
    }

    fn migration_table_name() -> DynIden {
        "djambda_migrations_auth".into_iden()
    }
}

struct Initial;

impl MigrationName for Initial {
    fn name(&self) -> &str {
        "0001_initial"
    }
}

fn link(
    table: &'static str,
    left: (&'static str, &'static str),
    right: (&'static str, &'static str),
) -> TableCreateStatement {
    Table::create()
        .table(table)
        .col(pk_auto("id"))
        .col(integer(left.0))
        .col(integer(right.0))
        .foreign_key(
            ForeignKey::create()
                .name(format!("fk_{table}_{}", left.0))
                .from(table, left.0)
                .to(left.1, "id")
                .on_delete(ForeignKeyAction::Cascade),
        )
        .foreign_key(
            ForeignKey::create()
                .name(format!("fk_{table}_{}", right.0))
                .from(table, right.0)
                .to(right.1, "id")
                .on_delete(ForeignKeyAction::Cascade),
        )
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Initial {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("auth_user")
                    .col(pk_auto("id"))
                    .col(string_len("password", 255))
                    .col(timestamp_with_time_zone_null("last_login"))
                    .col(boolean("is_superuser"))
                    .col(string_len_uniq("username", 150))
                    .col(string_len("first_name", 150))
                    .col(string_len("last_name", 150))
                    .col(string_len("email", 254))
                    .col(boolean("is_staff"))
                    .col(boolean("is_active"))
                    .col(timestamp_with_time_zone("date_joined"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create().table("auth_group").col(pk_auto("id")).col(string_len_uniq("name", 150)).to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("auth_permission")
                    .col(pk_auto("id"))
                    .col(string_len("app_label", 100))
                    .col(string_len("codename", 100))
                    .col(string_len("name", 255))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uniq_auth_permission_app_label_codename")
                    .table("auth_permission")
                    .col("app_label")
                    .col("codename")
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager.create_table(link("auth_user_groups", ("user_id", "auth_user"), ("group_id", "auth_group"))).await?;
        manager
            .create_table(link(
                "auth_group_permissions",
                ("group_id", "auth_group"),
                ("permission_id", "auth_permission"),
            ))
            .await?;
        manager
            .create_table(link(
                "auth_user_user_permissions",
                ("user_id", "auth_user"),
                ("permission_id", "auth_permission"),
            ))
            .await?;
        for (table, column) in [
            ("auth_user_groups", "user_id"),
            ("auth_user_groups", "group_id"),
            ("auth_group_permissions", "group_id"),
            ("auth_group_permissions", "permission_id"),
            ("auth_user_user_permissions", "user_id"),
            ("auth_user_user_permissions", "permission_id"),
        ] {
            manager
                .create_index(Index::create().name(format!("idx_{table}_{column}")).table(table).col(column).to_owned())
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table("auth_login_failure")
                    .col(pk_auto("id"))
                    .col(string_len_uniq("username", 150))
                    .col(integer("failures"))
                    .col(timestamp_with_time_zone("last_failure"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            "auth_login_failure",
            "auth_user_user_permissions",
            "auth_group_permissions",
            "auth_user_groups",
            "auth_permission",
            "auth_group",
            "auth_user",
        ] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
