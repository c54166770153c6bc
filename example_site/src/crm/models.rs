//! The CRM's models: companies, their contacts and deals, and notes (sea-orm entities in the
//! submodules, created by the `migrations` crate).
//!
//! Until the data layer lands (sea-orm entities and migrations), the demo data lives here as
//! constant tables, shaped like the entities that will replace them.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A customer organisation.
#[derive(Debug, Clone, Serialize)]
pub struct Company {
    /// Primary key.
    pub id: i32,
    /// URL slug, unique.
    pub slug: &'static str,
    /// Display name.
    pub name: &'static str,
    /// Industry.
    pub industry: &'static str,
    /// Head-office city.
    pub city: &'static str,
    /// Website.
    pub website: &'static str,
}

/// A person at a company.
#[derive(Debug, Clone, Serialize)]
pub struct Contact {
    /// Primary key.
    pub id: i32,
    /// The company they work for.
    pub company_id: i32,
    /// Given name.
    pub first_name: &'static str,
    /// Family name.
    pub last_name: &'static str,
    /// Job title.
    pub title: &'static str,
    /// Email address.
    pub email: &'static str,
    /// Phone number.
    pub phone: &'static str,
}

/// Where a deal stands in the pipeline (stored as its lower-case name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, EnumIter, DeriveActiveEnum)]
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

/// A sales opportunity with a company.
#[derive(Debug, Clone, Serialize)]
pub struct Deal {
    /// Primary key.
    pub id: i32,
    /// The company the deal is with.
    pub company_id: i32,
    /// Short description.
    pub title: &'static str,
    /// Pipeline stage.
    pub stage: Stage,
    /// Amount in cents (the decimal column to come).
    pub amount_cents: i64,
    /// Expected close date, ISO 8601.
    pub expected_close: &'static str,
}

const COMPANIES: &[Company] = &[
    Company {
        id: 1,
        slug: "acme-logistics",
        name: "Acme Logistics",
        industry: "Freight & logistics",
        city: "Rotterdam",
        website: "https://acme-logistics.example",
    },
    Company {
        id: 2,
        slug: "blue-harbor-foods",
        name: "Blue Harbor Foods",
        industry: "Food distribution",
        city: "Lisbon",
        website: "https://blueharbor.example",
    },
    Company {
        id: 3,
        slug: "cedar-health",
        name: "Cedar Health Clinics",
        industry: "Healthcare",
        city: "Dublin",
        website: "https://cedarhealth.example",
    },
    Company {
        id: 4,
        slug: "delta-renewables",
        name: "Delta Renewables",
        industry: "Energy",
        city: "Aarhus",
        website: "https://delta-renewables.example",
    },
    Company {
        id: 5,
        slug: "everly-books",
        name: "Everly & Sons Books",
        industry: "Retail",
        city: "Edinburgh",
        website: "https://everly.example",
    },
];

const CONTACTS: &[Contact] = &[
    Contact {
        id: 1,
        company_id: 1,
        first_name: "Maarten",
        last_name: "de Vries",
        title: "Head of Operations",
        email: "maarten@acme-logistics.example",
        phone: "+31 10 555 0101",
    },
    Contact {
        id: 2,
        company_id: 1,
        first_name: "Sanne",
        last_name: "Bakker",
        title: "Procurement Lead",
        email: "sanne@acme-logistics.example",
        phone: "+31 10 555 0102",
    },
    Contact {
        id: 3,
        company_id: 2,
        first_name: "Inês",
        last_name: "Carvalho",
        title: "CFO",
        email: "ines@blueharbor.example",
        phone: "+351 21 555 0103",
    },
    Contact {
        id: 4,
        company_id: 2,
        first_name: "Rui",
        last_name: "Almeida",
        title: "IT Manager",
        email: "rui@blueharbor.example",
        phone: "+351 21 555 0104",
    },
    Contact {
        id: 5,
        company_id: 3,
        first_name: "Aoife",
        last_name: "O'Brien",
        title: "Practice Director",
        email: "aoife@cedarhealth.example",
        phone: "+353 1 555 0105",
    },
    Contact {
        id: 6,
        company_id: 3,
        first_name: "Ciarán",
        last_name: "Murphy",
        title: "Office Manager",
        email: "ciaran@cedarhealth.example",
        phone: "+353 1 555 0106",
    },
    Contact {
        id: 7,
        company_id: 4,
        first_name: "Freja",
        last_name: "Nielsen",
        title: "Project Engineer",
        email: "freja@delta-renewables.example",
        phone: "+45 86 555 0107",
    },
    Contact {
        id: 8,
        company_id: 4,
        first_name: "Mads",
        last_name: "Jensen",
        title: "CEO",
        email: "mads@delta-renewables.example",
        phone: "+45 86 555 0108",
    },
    Contact {
        id: 9,
        company_id: 5,
        first_name: "Eilidh",
        last_name: "Everly",
        title: "Owner",
        email: "eilidh@everly.example",
        phone: "+44 131 555 0109",
    },
    Contact {
        id: 10,
        company_id: 5,
        first_name: "Tom",
        last_name: "Reid",
        title: "Store Manager",
        email: "tom@everly.example",
        phone: "+44 131 555 0110",
    },
    Contact {
        id: 11,
        company_id: 1,
        first_name: "Lotte",
        last_name: "Visser",
        title: "Finance Controller",
        email: "lotte@acme-logistics.example",
        phone: "+31 10 555 0111",
    },
    Contact {
        id: 12,
        company_id: 4,
        first_name: "Søren",
        last_name: "Holm",
        title: "Site Manager",
        email: "soren@delta-renewables.example",
        phone: "+45 86 555 0112",
    },
];

const DEALS: &[Deal] = &[
    Deal {
        id: 1,
        company_id: 1,
        title: "Fleet tracking rollout",
        stage: Stage::Negotiation,
        amount_cents: 4_850_000,
        expected_close: "2026-12-18",
    },
    Deal {
        id: 2,
        company_id: 1,
        title: "Warehouse scanners",
        stage: Stage::Won,
        amount_cents: 1_200_000,
        expected_close: "2026-10-02",
    },
    Deal {
        id: 3,
        company_id: 2,
        title: "Cold-chain monitoring",
        stage: Stage::Proposal,
        amount_cents: 2_375_000,
        expected_close: "2027-01-20",
    },
    Deal {
        id: 4,
        company_id: 3,
        title: "Patient portal",
        stage: Stage::Qualified,
        amount_cents: 3_100_000,
        expected_close: "2027-02-14",
    },
    Deal {
        id: 5,
        company_id: 3,
        title: "Front-desk tablets",
        stage: Stage::Lost,
        amount_cents: 640_000,
        expected_close: "2026-09-30",
    },
    Deal {
        id: 6,
        company_id: 4,
        title: "Turbine maintenance CRM",
        stage: Stage::Lead,
        amount_cents: 5_900_000,
        expected_close: "2027-03-31",
    },
    Deal {
        id: 7,
        company_id: 5,
        title: "Point-of-sale upgrade",
        stage: Stage::Proposal,
        amount_cents: 415_000,
        expected_close: "2026-12-05",
    },
    Deal {
        id: 8,
        company_id: 2,
        title: "Route planning pilot",
        stage: Stage::Lead,
        amount_cents: 980_000,
        expected_close: "2027-01-08",
    },
];

/// How many companies, contacts and deals there are.
pub fn counts() -> (usize, usize, usize) {
    (COMPANIES.len(), CONTACTS.len(), DEALS.len())
}

/// Every company, by name.
pub fn companies() -> Vec<&'static Company> {
    let mut all: Vec<&Company> = COMPANIES.iter().collect();
    all.sort_by_key(|c| c.name);
    all
}

/// Every contact, by last then first name.
pub fn contacts() -> Vec<&'static Contact> {
    let mut all: Vec<&Contact> = CONTACTS.iter().collect();
    all.sort_by(|a, b| (a.last_name, a.first_name).cmp(&(b.last_name, b.first_name)));
    all
}

/// Every deal, by expected close date.
pub fn deals() -> Vec<&'static Deal> {
    let mut all: Vec<&Deal> = DEALS.iter().collect();
    all.sort_by_key(|d| d.expected_close);
    all
}

/// The company with this id.
pub fn company(id: i32) -> Option<&'static Company> {
    COMPANIES.iter().find(|c| c.id == id)
}

/// The company with this slug.
pub fn company_by_slug(slug: &str) -> Option<&'static Company> {
    COMPANIES.iter().find(|c| c.slug == slug)
}

/// The contact with this id.
pub fn contact(id: i32) -> Option<&'static Contact> {
    CONTACTS.iter().find(|c| c.id == id)
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
        #[sea_orm(unique)]
        pub slug: String,
        /// Display name.
        pub name: String,
        /// Industry.
        pub industry: String,
        /// Head-office city.
        pub city: String,
        /// Website.
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
        pub first_name: String,
        /// Family name.
        pub last_name: String,
        /// Job title.
        pub title: String,
        /// Email address.
        pub email: String,
        /// Phone number.
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
