//! The CRM's demo data and the per-page computations, as a hand-written app would have them.
//! Same rows as the example site's `crm::models`, so both servers render the same page.

use serde::Serialize;

#[derive(Serialize)]
pub struct Company {
    pub id: i32,
    pub slug: &'static str,
    pub name: &'static str,
}

#[derive(Serialize)]
pub struct Contact {
    pub id: i32,
    pub company_id: i32,
    pub first_name: &'static str,
    pub last_name: &'static str,
    pub title: &'static str,
    pub email: &'static str,
    pub phone: &'static str,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Lead,
    Qualified,
    Proposal,
    Negotiation,
    Won,
    Lost,
}

impl Stage {
    pub const ALL: [Stage; 6] =
        [Stage::Lead, Stage::Qualified, Stage::Proposal, Stage::Negotiation, Stage::Won, Stage::Lost];

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

    pub fn is_open(self) -> bool {
        !matches!(self, Stage::Won | Stage::Lost)
    }
}

pub struct Deal {
    pub company_id: i32,
    pub title: &'static str,
    pub stage: Stage,
    pub amount_cents: i64,
    pub expected_close: &'static str,
}

pub const COMPANIES: &[Company] = &[
    Company { id: 1, slug: "acme-logistics", name: "Acme Logistics" },
    Company { id: 2, slug: "blue-harbor-foods", name: "Blue Harbor Foods" },
    Company { id: 3, slug: "cedar-health", name: "Cedar Health Clinics" },
    Company { id: 4, slug: "delta-renewables", name: "Delta Renewables" },
    Company { id: 5, slug: "everly-books", name: "Everly & Sons Books" },
];

const fn contact(
    id: i32,
    company_id: i32,
    first_name: &'static str,
    last_name: &'static str,
    title: &'static str,
    email: &'static str,
    phone: &'static str,
) -> Contact {
    Contact { id, company_id, first_name, last_name, title, email, phone }
}

pub const CONTACTS: &[Contact] = &[
    contact(1, 1, "Maarten", "de Vries", "Head of Operations", "maarten@acme-logistics.example", "+31 10 555 0101"),
    contact(2, 1, "Sanne", "Bakker", "Procurement Lead", "sanne@acme-logistics.example", "+31 10 555 0102"),
    contact(3, 2, "Inês", "Carvalho", "CFO", "ines@blueharbor.example", "+351 21 555 0103"),
    contact(4, 2, "Rui", "Almeida", "IT Manager", "rui@blueharbor.example", "+351 21 555 0104"),
    contact(5, 3, "Aoife", "O'Brien", "Practice Director", "aoife@cedarhealth.example", "+353 1 555 0105"),
    contact(6, 3, "Ciarán", "Murphy", "Office Manager", "ciaran@cedarhealth.example", "+353 1 555 0106"),
    contact(7, 4, "Freja", "Nielsen", "Project Engineer", "freja@delta-renewables.example", "+45 86 555 0107"),
    contact(8, 4, "Mads", "Jensen", "CEO", "mads@delta-renewables.example", "+45 86 555 0108"),
    contact(9, 5, "Eilidh", "Everly", "Owner", "eilidh@everly.example", "+44 131 555 0109"),
    contact(10, 5, "Tom", "Reid", "Store Manager", "tom@everly.example", "+44 131 555 0110"),
    contact(11, 1, "Lotte", "Visser", "Finance Controller", "lotte@acme-logistics.example", "+31 10 555 0111"),
    contact(12, 4, "Søren", "Holm", "Site Manager", "soren@delta-renewables.example", "+45 86 555 0112"),
];

const fn deal(
    company_id: i32,
    title: &'static str,
    stage: Stage,
    amount_cents: i64,
    expected_close: &'static str,
) -> Deal {
    Deal { company_id, title, stage, amount_cents, expected_close }
}

pub const DEALS: &[Deal] = &[
    deal(1, "Fleet tracking rollout", Stage::Negotiation, 4_850_000, "2026-12-18"),
    deal(1, "Warehouse scanners", Stage::Won, 1_200_000, "2026-10-02"),
    deal(2, "Cold-chain monitoring", Stage::Proposal, 2_375_000, "2027-01-20"),
    deal(3, "Patient portal", Stage::Qualified, 3_100_000, "2027-02-14"),
    deal(3, "Front-desk tablets", Stage::Lost, 640_000, "2026-09-30"),
    deal(4, "Turbine maintenance CRM", Stage::Lead, 5_900_000, "2027-03-31"),
    deal(5, "Point-of-sale upgrade", Stage::Proposal, 415_000, "2026-12-05"),
    deal(2, "Route planning pilot", Stage::Lead, 980_000, "2027-01-08"),
];

pub fn company(id: i32) -> Option<&'static Company> {
    COMPANIES.iter().find(|c| c.id == id)
}

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
    let mut deals: Vec<&Deal> = DEALS.iter().collect();
    deals.sort_by_key(|d| d.expected_close);
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
        company_count: COMPANIES.len(),
        contact_count: CONTACTS.len(),
        deal_count: deals.len(),
        by_stage,
        open_total: money(open().map(|d| d.amount_cents).sum()),
        closing_soon: open()
            .take(4)
            .map(|d| DealRow {
                title: d.title,
                amount: money(d.amount_cents),
                expected_close: d.expected_close,
                company: company(d.company_id),
            })
            .collect(),
    }
}
