//! The dashboard's computations, as a hand-written app would have them. The rows themselves are
//! the example CRM's own data (`example_site::crm::models`, plain serde structs with no djambda
//! in them), so both servers render the same page from the same data.

use example_site::crm::models::{self, Company, Stage};
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

#[derive(Serialize)]
pub struct StageSummary {
    slug: &'static str,
    label: &'static str,
    count: usize,
    amount: String,
}

#[derive(Serialize)]
pub struct DealRow {
    title: &'static str,
    amount: String,
    expected_close: &'static str,
    company: Option<&'static Company>,
}

/// What the dashboard shows.
#[derive(Serialize)]
pub struct Dashboard {
    company_count: usize,
    contact_count: usize,
    deal_count: usize,
    by_stage: Vec<StageSummary>,
    open_total: String,
    closing_soon: Vec<DealRow>,
}

pub fn dashboard() -> Dashboard {
    let deals = models::deals();
    let (company_count, contact_count, deal_count) = models::counts();
    let by_stage = Stage::ALL
        .into_iter()
        .map(|stage| {
            let (count, total) =
                deals.iter().filter(|d| d.stage == stage).fold((0, 0), |(n, sum), d| (n + 1, sum + d.amount_cents));
            StageSummary { slug: stage.slug(), label: stage.label(), count, amount: money(total) }
        })
        .collect();
    let open = || deals.iter().filter(|d| d.stage.is_open());
    Dashboard {
        company_count,
        contact_count,
        deal_count,
        by_stage,
        open_total: money(open().map(|d| d.amount_cents).sum()),
        closing_soon: open()
            .take(4)
            .map(|d| DealRow {
                title: d.title,
                amount: money(d.amount_cents),
                expected_close: d.expected_close,
                company: models::company(d.company_id),
            })
            .collect(),
    }
}
