//! The dashboard's queries and computations, as a hand-written app would have them, on the
//! example CRM's sea-orm entities (plain sea-orm, no djambda in them) and the same database, so
//! both servers render the same page from the same rows.

use example_site::crm::models::{Stage, company, contact, deal};
use sea_orm::prelude::Decimal;
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde::Serialize;

/// `1234567` cents → `$12,345.67`.
pub fn money(cents: i64) -> String {
    let digits = (cents.unsigned_abs() / 100).to_string();
    let mut out = String::with_capacity(digits.len() + 8);
    if cents < 0 {
        out.push('-');
    }
    out.push('$');
    for (i, d) in digits.bytes().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(d as char);
    }
    out.push_str(&format!(".{:02}", cents.unsigned_abs() % 100));
    out
}

fn money_decimal(amount: Decimal) -> String {
    money((amount * Decimal::from(100)).round().to_string().parse().unwrap_or(0))
}

#[derive(Serialize)]
pub struct StageSummary {
    slug: &'static str,
    label: &'static str,
    count: i64,
    amount: String,
}

#[derive(Serialize)]
pub struct CompanyRef {
    slug: String,
    name: String,
}

#[derive(Serialize)]
pub struct DealRow {
    id: i32,
    title: String,
    amount: String,
    expected_close: String,
    company: Option<CompanyRef>,
}

/// What the dashboard shows.
#[derive(Serialize)]
pub struct Dashboard {
    company_count: u64,
    contact_count: u64,
    deal_count: i64,
    by_stage: Vec<StageSummary>,
    open_total: String,
    closing_soon: Vec<DealRow>,
}

pub async fn dashboard(db: &DatabaseConnection) -> Result<Dashboard, DbErr> {
    let company_count = company::Entity::find().count(db).await?;
    let contact_count = contact::Entity::find().count(db).await?;
    let per_stage: Vec<(Stage, i64, Option<Decimal>)> = deal::Entity::find()
        .select_only()
        .column(deal::Column::Stage)
        .column_as(deal::Column::Id.count(), "n")
        .column_as(deal::Column::Amount.sum(), "total")
        .group_by(deal::Column::Stage)
        .into_tuple()
        .all(db)
        .await?;
    let by_stage = Stage::ALL
        .into_iter()
        .map(|stage| {
            let (count, total) = per_stage
                .iter()
                .find(|(s, _, _)| *s == stage)
                .map_or((0, Decimal::ZERO), |(_, n, t)| (*n, t.unwrap_or_default()));
            StageSummary { slug: stage.slug(), label: stage.label(), count, amount: money_decimal(total) }
        })
        .collect();
    let open: Vec<Stage> = Stage::ALL.into_iter().filter(|s| s.is_open()).collect();
    let soon = deal::Entity::find()
        .filter(deal::Column::Stage.is_in(open))
        .order_by_asc(deal::Column::ExpectedClose)
        .limit(4)
        .find_also_related(company::Entity)
        .all(db)
        .await?;
    Ok(Dashboard {
        company_count,
        contact_count,
        deal_count: per_stage.iter().map(|(_, n, _)| n).sum(),
        by_stage,
        open_total: money_decimal(
            per_stage.iter().filter(|(s, _, _)| s.is_open()).map(|(_, _, t)| t.unwrap_or_default()).sum(),
        ),
        closing_soon: soon
            .into_iter()
            .map(|(d, c)| DealRow {
                id: d.id,
                title: d.title,
                amount: money_decimal(d.amount),
                expected_close: d.expected_close.to_string(),
                company: c.map(|c| CompanyRef { slug: c.slug, name: c.name }),
            })
            .collect(),
    })
}
