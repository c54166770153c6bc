//! The CRM's models: companies, their contacts and deals, and notes (sea-orm entities in the
//! submodules). The `migrations` crate creates their tables; after changing an entity,
//! `cargo manage makemigrations` writes the migration that follows it.

use djambda::forms::Choices;
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// Where a deal stands in the pipeline (stored as its lower-case name, which is also its value
/// in forms: `#[derive(Choices)]` reads `string_value`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, EnumIter, DeriveActiveEnum, Choices)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// First contact made.
    #[sea_orm(string_value = "lead")]
    Lead,
    /// Needs understood, fit confirmed.
    #[sea_orm(string_value = "qualified")]
    Qualified,
    /// A quote has been sent.
    #[sea_orm(string_value = "proposal")]
    Proposal,
    /// Terms under discussion.
    #[sea_orm(string_value = "negotiation")]
    Negotiation,
    /// Signed.
    #[sea_orm(string_value = "won")]
    Won,
    /// Gone elsewhere.
    #[sea_orm(string_value = "lost")]
    Lost,
}

impl Stage {
    /// Every stage in pipeline order.
    pub const ALL: [Stage; 6] =
        [Stage::Lead, Stage::Qualified, Stage::Proposal, Stage::Negotiation, Stage::Won, Stage::Lost];

    /// The value used in URLs (`?stage=proposal`).
    pub fn slug(self) -> &'static str {
        match self {
            Stage::Lead => "lead",
            Stage::Qualified => "qualified",
            Stage::Proposal => "proposal",
            Stage::Negotiation => "negotiation",
            Stage::Won => "won",
            Stage::Lost => "lost",
        }
    }

    /// The label shown to people.
    pub fn label(self) -> &'static str {
        match self {
            Stage::Lead => "Lead",
            Stage::Qualified => "Qualified",
            Stage::Proposal => "Proposal",
            Stage::Negotiation => "Negotiation",
            Stage::Won => "Won",
            Stage::Lost => "Lost",
        }
    }

    /// Parses a URL value.
    pub fn from_slug(s: &str) -> Option<Stage> {
        Stage::ALL.into_iter().find(|st| st.slug() == s)
    }

    /// Whether the deal is still in play.
    pub fn is_open(self) -> bool {
        !matches!(self, Stage::Won | Stage::Lost)
    }
}

/// A customer organisation (table `company`).
pub mod company {
    use sea_orm::entity::prelude::*;
    use serde::{Deserialize, Serialize};

    /// One company.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
    #[sea_orm(table_name = "company")]
    pub struct Model {
        /// Primary key.
        #[sea_orm(primary_key)]
        pub id: i32,
        /// URL slug, unique.
        #[sea_orm(unique, column_type = "String(StringLen::N(80))")]
        pub slug: String,
        /// Display name.
        #[sea_orm(column_type = "String(StringLen::N(200))")]
        pub name: String,
        /// Industry.
        #[sea_orm(column_type = "String(StringLen::N(100))")]
        pub industry: String,
        /// Head-office city.
        #[sea_orm(column_type = "String(StringLen::N(100))")]
        pub city: String,
        /// Website.
        #[sea_orm(column_type = "String(StringLen::N(200))")]
        pub website: String,
    }

    /// What a company has.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {
        /// Its contacts.
        #[sea_orm(has_many = "super::contact::Entity")]
        Contact,
        /// Its deals.
        #[sea_orm(has_many = "super::deal::Entity")]
        Deal,
    }

    impl Related<super::contact::Entity> for Entity {
        fn to() -> RelationDef {
            Relation::Contact.def()
        }
    }

    impl Related<super::deal::Entity> for Entity {
        fn to() -> RelationDef {
            Relation::Deal.def()
        }
    }

    impl ActiveModelBehavior for ActiveModel {}
}

/// A person at a company (table `contact`).
pub mod contact {
    use sea_orm::entity::prelude::*;
    use serde::{Deserialize, Serialize};

    /// One contact.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
    #[sea_orm(table_name = "contact")]
    pub struct Model {
        /// Primary key.
        #[sea_orm(primary_key)]
        pub id: i32,
        /// The company they work for.
        pub company_id: i32,
        /// Given name.
        #[sea_orm(column_type = "String(StringLen::N(100))")]
        pub first_name: String,
        /// Family name.
        #[sea_orm(column_type = "String(StringLen::N(100))")]
        pub last_name: String,
        /// Job title.
        #[sea_orm(column_type = "String(StringLen::N(100))")]
        pub title: String,
        /// Email address.
        #[sea_orm(column_type = "String(StringLen::N(254))")]
        pub email: String,
        /// Phone number.
        #[sea_orm(column_type = "String(StringLen::N(40))")]
        pub phone: String,
    }

    /// Who a contact belongs to.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {
        /// Their company.
        #[sea_orm(
            belongs_to = "super::company::Entity",
            from = "Column::CompanyId",
            to = "super::company::Column::Id",
            on_delete = "Cascade"
        )]
        Company,
    }

    impl Related<super::company::Entity> for Entity {
        fn to() -> RelationDef {
            Relation::Company.def()
        }
    }

    impl ActiveModelBehavior for ActiveModel {}
}

/// A sales opportunity with a company (table `deal`).
pub mod deal {
    use sea_orm::entity::prelude::*;
    use serde::{Deserialize, Serialize};

    /// One deal.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
    #[sea_orm(table_name = "deal")]
    pub struct Model {
        /// Primary key.
        #[sea_orm(primary_key)]
        pub id: i32,
        /// The company the deal is with.
        pub company_id: i32,
        /// Short description.
        #[sea_orm(column_type = "String(StringLen::N(200))")]
        pub title: String,
        /// Pipeline stage.
        pub stage: super::Stage,
        /// Amount, two decimals.
        #[sea_orm(column_type = "Decimal(Some((12, 2)))")]
        pub amount: Decimal,
        /// Expected close date.
        pub expected_close: Date,
    }

    /// Who a deal is with.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {
        /// The company.
        #[sea_orm(
            belongs_to = "super::company::Entity",
            from = "Column::CompanyId",
            to = "super::company::Column::Id",
            on_delete = "Cascade"
        )]
        Company,
    }

    impl Related<super::company::Entity> for Entity {
        fn to() -> RelationDef {
            Relation::Company.def()
        }
    }

    impl ActiveModelBehavior for ActiveModel {}
}

/// A note on a contact or a deal (table `note`).
pub mod note {
    use sea_orm::entity::prelude::*;
    use serde::{Deserialize, Serialize};

    /// One note.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
    #[sea_orm(table_name = "note")]
    pub struct Model {
        /// Primary key.
        #[sea_orm(primary_key)]
        pub id: i32,
        /// The contact it is about, if any.
        pub contact_id: Option<i32>,
        /// The deal it is about, if any.
        pub deal_id: Option<i32>,
        /// The text.
        #[sea_orm(column_type = "Text")]
        pub body: String,
        /// When it was written.
        pub created_at: DateTimeUtc,
        /// When it was last changed.
        pub updated_at: DateTimeUtc,
    }

    /// What a note is about.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {
        /// The contact.
        #[sea_orm(
            belongs_to = "super::contact::Entity",
            from = "Column::ContactId",
            to = "super::contact::Column::Id",
            on_delete = "Cascade"
        )]
        Contact,
        /// The deal.
        #[sea_orm(
            belongs_to = "super::deal::Entity",
            from = "Column::DealId",
            to = "super::deal::Column::Id",
            on_delete = "Cascade"
        )]
        Deal,
    }

    impl ActiveModelBehavior for ActiveModel {}
}
