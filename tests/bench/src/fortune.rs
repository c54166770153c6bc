//! The TechEmpower "fortunes" test, shared by its djambda site and its hand-written axum
//! reference: the table, its twelve rows, and the work each request does (read all rows, add
//! one, sort by message; the template escapes them).

use sea_orm::entity::prelude::*;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, Schema};
use serde::Serialize;

/// The `fortune` table.
pub mod table {
    use sea_orm::entity::prelude::*;
    use serde::Serialize;

    /// One fortune.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize)]
    #[sea_orm(table_name = "fortune")]
    pub struct Model {
        /// Primary key.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: i32,
        /// The message, stored as given (markup included: the template escapes it).
        pub message: String,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The benchmark's rows, as the TechEmpower specification lists them.
pub const ROWS: [(i32, &str); 12] = [
    (1, "fortune: No such file or directory"),
    (2, "A computer scientist is someone who fixes things that aren't broken."),
    (3, "After enough decimal places, nobody gives a damn."),
    (4, "A bad random number generator: 1, 1, 1, 1, 1, 4.33e+67, 1, 1, 1"),
    (5, "A computer program does what you tell it to do, not what you want it to do."),
    (6, "Emacs is a nice operating system, but I prefer UNIX. — Tom Christaensen"),
    (7, "Any program that runs right is obsolete."),
    (8, "A list is only as strong as its weakest link. — Donald Knuth"),
    (9, "Feature: A bug with seniority."),
    (10, "Computers make very fast, very accurate mistakes."),
    (11, "<script>alert(\"This should not be displayed in a browser alert box.\");</script>"),
    (12, "フレームワークのベンチマーク"),
];

/// A fortune as the template shows it.
#[derive(Serialize)]
pub struct Row {
    /// Its id (0 for the one added per request).
    pub id: i32,
    /// Its message.
    pub message: String,
}

/// Creates and fills the table if it is not there yet.
pub async fn create(db: &DatabaseConnection) -> Result<(), DbErr> {
    let schema = Schema::new(db.get_database_backend());
    db.execute(&schema.create_table_from_entity(table::Entity).if_not_exists().to_owned()).await?;
    if table::Entity::find().one(db).await?.is_none() {
        let rows = ROWS.iter().map(|(id, message)| table::ActiveModel {
            id: sea_orm::Set(*id),
            message: sea_orm::Set((*message).to_owned()),
        });
        table::Entity::insert_many(rows).exec(db).await?;
    }
    Ok(())
}

/// Every fortune plus the one added at request time, sorted by message.
pub async fn rows(db: &DatabaseConnection) -> Result<Vec<Row>, DbErr> {
    let mut rows: Vec<Row> =
        table::Entity::find().all(db).await?.into_iter().map(|f| Row { id: f.id, message: f.message }).collect();
    rows.push(Row { id: 0, message: "Additional fortune added at request time.".into() });
    rows.sort_by(|a, b| a.message.cmp(&b.message));
    Ok(rows)
}

/// The template, for both servers.
pub const TEMPLATE: &str = include_str!("../fortunes/templates/fortunes.html");
