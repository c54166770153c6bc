//! 0001_initial: companies, their contacts and deals, and notes on either.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "0001_initial"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("company")
                    .col(pk_auto("id"))
                    .col(string_len_uniq("slug", 80))
                    .col(string_len("name", 200))
                    .col(string_len("industry", 100))
                    .col(string_len("city", 100))
                    .col(string_len("website", 200))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("contact")
                    .col(pk_auto("id"))
                    .col(integer("company_id"))
                    .col(string_len("first_name", 100))
                    .col(string_len("last_name", 100))
                    .col(string_len("title", 100))
                    .col(string_len("email", 254))
                    .col(string_len("phone", 40))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_contact_company")
                            .from("contact", "company_id")
                            .to("company", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("deal")
                    .col(pk_auto("id"))
                    .col(integer("company_id"))
                    .col(string_len("title", 200))
                    .col(string_len("stage", 16))
                    .col(decimal_len("amount", 12, 2))
                    .col(date("expected_close"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_deal_company")
                            .from("deal", "company_id")
                            .to("company", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("note")
                    .col(pk_auto("id"))
                    .col(integer_null("contact_id"))
                    .col(integer_null("deal_id"))
                    .col(text("body"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_note_contact")
                            .from("note", "contact_id")
                            .to("contact", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_note_deal")
                            .from("note", "deal_id")
                            .to("deal", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, table, column) in [
            ("idx_contact_company", "contact", "company_id"),
            ("idx_deal_company", "deal", "company_id"),
            ("idx_deal_stage", "deal", "stage"),
            ("idx_note_contact", "note", "contact_id"),
            ("idx_note_deal", "note", "deal_id"),
        ] {
            manager.create_index(Index::create().name(name).table(table).col(column).to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["note", "deal", "contact", "company"] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
