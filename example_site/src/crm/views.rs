//! The CRM's views (Django's `crm/views.py`).

use djambda::http::StatusCode;
use djambda::prelude::*;
use serde::{Deserialize, Serialize};

use super::forms::ForecastForm;
use super::models::{self, Company, Contact, Deal, Stage};

/// Contacts per page on the contact list.
const CONTACTS_PER_PAGE: usize = 5;

/// Formats cents as money: `1234567` → `$12,345.67`.
pub fn money(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let cents = cents.unsigned_abs();
    let whole = (cents / 100).to_string();
    let mut grouped = String::new();
    for (i, ch) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(ch);
    }
    format!("{sign}${grouped}.{:02}", cents % 100)
}

/// A deal as the templates show it: its fields, formatted, and its company.
#[derive(Serialize)]
struct DealRow {
    id: i32,
    title: &'static str,
    stage: Stage,
    stage_label: &'static str,
    amount: String,
    expected_close: &'static str,
    company: Option<&'static Company>,
}

fn deal_row(deal: &'static Deal) -> DealRow {
    DealRow {
        id: deal.id,
        title: deal.title,
        stage: deal.stage,
        stage_label: deal.stage.label(),
        amount: money(deal.amount_cents),
        expected_close: deal.expected_close,
        company: models::company(deal.company_id),
    }
}

/// A contact with its company, as the templates and the JSON API show it.
#[derive(Serialize)]
struct ContactRow {
    id: i32,
    first_name: &'static str,
    last_name: &'static str,
    title: &'static str,
    email: &'static str,
    phone: &'static str,
    company_id: i32,
    company: Option<&'static Company>,
}

fn contact_row(c: &'static Contact) -> ContactRow {
    ContactRow {
        id: c.id,
        first_name: c.first_name,
        last_name: c.last_name,
        title: c.title,
        email: c.email,
        phone: c.phone,
        company_id: c.company_id,
        company: models::company(c.company_id),
    }
}

fn matches(q: &str, fields: &[&str]) -> bool {
    let q = q.to_lowercase();
    fields.iter().any(|f| f.to_lowercase().contains(&q))
}

/// The dashboard: counts, deals by stage and the open pipeline.
pub async fn dashboard(req: Request) -> Result<Response> {
    #[derive(Serialize)]
    struct StageSummary {
        slug: &'static str,
        label: &'static str,
        count: usize,
        amount: String,
    }
    let deals = models::deals();
    let (company_count, contact_count, deal_count) = models::counts();
    let by_stage: Vec<StageSummary> = Stage::ALL
        .into_iter()
        .map(|stage| {
            let in_stage: Vec<_> = deals.iter().filter(|d| d.stage == stage).collect();
            StageSummary {
                slug: stage.slug(),
                label: stage.label(),
                count: in_stage.len(),
                amount: money(in_stage.iter().map(|d| d.amount_cents).sum()),
            }
        })
        .collect();
    let open_total = money(deals.iter().filter(|d| d.stage.is_open()).map(|d| d.amount_cents).sum());
    let closing_soon: Vec<DealRow> = deals.iter().filter(|d| d.stage.is_open()).take(4).map(|d| deal_row(d)).collect();
    render(
        &req,
        "crm/dashboard.html",
        context! {
            company_count,
            contact_count,
            deal_count,
            by_stage,
            open_total,
            closing_soon,
        },
    )
}

/// Search parameters shared by the lists.
#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    /// Free-text search.
    #[serde(default)]
    pub q: String,
    /// Page number, or `last`.
    pub page: Option<String>,
    /// Stage filter (deals).
    pub stage: Option<String>,
    /// Ordering (deals): `amount`, `-amount`, `close`.
    pub sort: Option<String>,
}

/// Companies, searchable by name, industry and city.
pub async fn company_list(req: Request, Query(params): Query<ListQuery>) -> Result<Response> {
    let q = params.q.trim().to_owned();
    let companies: Vec<_> = models::companies()
        .into_iter()
        .filter(|c| q.is_empty() || matches(&q, &[c.name, c.industry, c.city]))
        .collect();
    render(&req, "crm/company_list.html", context! { companies, q })
}

/// One company with its contacts and deals.
pub async fn company_detail(req: Request, Path(slug): Path<String>) -> Result<Response> {
    let company =
        models::company_by_slug(&slug).ok_or_else(|| Error::not_found(format!("no company with slug `{slug}`")))?;
    let contacts: Vec<_> = models::contacts().into_iter().filter(|c| c.company_id == company.id).collect();
    let deals: Vec<DealRow> =
        models::deals().into_iter().filter(|d| d.company_id == company.id).map(deal_row).collect();
    render(&req, "crm/company_detail.html", context! { company, contacts, deals })
}

/// Contacts, searchable and paginated (`?q=`, `?page=`).
pub async fn contact_list(req: Request, Query(params): Query<ListQuery>) -> Result<Response> {
    let q = params.q.trim().to_owned();
    let all: Vec<ContactRow> = models::contacts()
        .into_iter()
        .filter(|c| q.is_empty() || matches(&q, &[c.first_name, c.last_name, c.email, c.title]))
        .map(contact_row)
        .collect();
    let num_pages = all.len().div_ceil(CONTACTS_PER_PAGE).max(1);
    let page = match params.page.as_deref() {
        None | Some("") => 1,
        Some("last") => num_pages,
        Some(p) => p
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=num_pages).contains(n))
            .ok_or_else(|| Error::not_found(format!("Invalid page ({p}): that page contains no results")))?,
    };
    let contacts: Vec<&ContactRow> = all.iter().skip((page - 1) * CONTACTS_PER_PAGE).take(CONTACTS_PER_PAGE).collect();
    render(&req, "crm/contact_list.html", context! { contacts, q, page, num_pages, total: all.len() })
}

/// One contact.
pub async fn contact_detail(req: Request, Path(pk): Path<i32>) -> Result<Response> {
    let contact = models::contact(pk).ok_or_else(|| Error::not_found(format!("no contact with id {pk}")))?;
    let company = models::company(contact.company_id);
    render(&req, "crm/contact_detail.html", context! { contact, company })
}

/// Every contact as a CSV download.
pub async fn contact_export(_req: Request) -> Result<Response> {
    let mut csv = String::from("id,first_name,last_name,title,email,phone,company\n");
    for c in models::contacts() {
        let company = models::company(c.company_id).map_or("", |co| co.name);
        let fields = [
            c.id.to_string(),
            c.first_name.into(),
            c.last_name.into(),
            c.title.into(),
            c.email.into(),
            c.phone.into(),
            company.into(),
        ];
        let quoted: Vec<String> = fields.iter().map(|f| format!("\"{}\"", f.replace('"', "\"\""))).collect();
        csv.push_str(&quoted.join(","));
        csv.push('\n');
    }
    Ok(Response::bytes("text/csv; charset=utf-8", csv)
        .with_header("content-disposition", "attachment; filename=\"contacts.csv\""))
}

/// Deals, filtered by stage and ordered (`?stage=proposal&sort=-amount`).
pub async fn deal_list(req: Request, Query(params): Query<ListQuery>) -> Result<Response> {
    let stage = match params.stage.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(Stage::from_slug(s).ok_or_else(|| Error::bad_request(format!("unknown deal stage `{s}`")))?),
    };
    let mut deals: Vec<&'static Deal> =
        models::deals().into_iter().filter(|d| stage.is_none_or(|s| d.stage == s)).collect();
    let sort = params.sort.unwrap_or_else(|| "close".into());
    match sort.as_str() {
        "amount" => deals.sort_by_key(|d| d.amount_cents),
        "-amount" => deals.sort_by_key(|d| std::cmp::Reverse(d.amount_cents)),
        "close" => {}
        other => return Err(Error::bad_request(format!("unknown ordering `{other}` (use amount, -amount or close)"))),
    }
    let deals: Vec<DealRow> = deals.into_iter().map(deal_row).collect();
    #[derive(Serialize)]
    struct StageOption {
        slug: &'static str,
        label: &'static str,
    }
    let stages: Vec<StageOption> =
        Stage::ALL.into_iter().map(|s| StageOption { slug: s.slug(), label: s.label() }).collect();
    render(&req, "crm/deal_list.html", context! { deals, stages, stage: stage.map(Stage::slug), sort })
}

/// The forecast form.
pub async fn forecast(req: Request) -> Result<Response> {
    render(&req, "crm/forecast.html", context! { form: ForecastForm::default() })
}

/// Checks the forecast form and shows the weighted amount, or the form again with its errors.
pub async fn forecast_submit(req: Request, Form(form): Form<ForecastForm>) -> Result<Response> {
    match form.clean() {
        Ok(f) => {
            #[derive(Serialize)]
            struct ForecastResult {
                amount: String,
                probability: u8,
                weighted: String,
            }
            let result = ForecastResult {
                amount: money(f.amount_cents),
                probability: f.probability,
                weighted: money(f.weighted_cents),
            };
            render(&req, "crm/forecast.html", context! { form, result })
        }
        Err(errors) => {
            Ok(render(&req, "crm/forecast.html", context! { form, errors })?
                .with_status(StatusCode::UNPROCESSABLE_ENTITY))
        }
    }
}

/// Every contact as JSON.
pub async fn api_contacts(req: Request) -> Result<Response> {
    #[derive(Serialize)]
    struct Item {
        #[serde(flatten)]
        contact: &'static Contact,
        url: String,
    }
    let items: Result<Vec<Item>> = models::contacts()
        .into_iter()
        .map(|contact| Ok(Item { contact, url: req.reverse("crm:contact-detail", &[&contact.id])? }))
        .collect();
    Response::json(&items?)
}

/// One contact as JSON.
pub async fn api_contact(_req: Request, Path(pk): Path<i32>) -> Result<Response> {
    let contact = models::contact(pk).ok_or_else(|| Error::not_found(format!("no contact with id {pk}")))?;
    Response::json(&contact_row(contact))
}

/// Checks a CSV of contacts (`first_name,last_name,email` per line, header optional) and says
/// what an import would create: a dry run, answered as JSON. The body is read as bytes, so a
/// file in another encoding arrives intact (undecodable bytes are shown as U+FFFD).
pub async fn api_contact_import(req: Request) -> Result<Response> {
    #[derive(Serialize)]
    struct Row {
        line: usize,
        first_name: String,
        last_name: String,
        email: String,
    }
    #[derive(Serialize)]
    struct RowError {
        line: usize,
        message: String,
    }
    let text = String::from_utf8_lossy(req.body());
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let cells: Vec<&str> = line.split(',').map(str::trim).collect();
        if line.trim().is_empty() || (i == 0 && cells.first().is_some_and(|c| c.eq_ignore_ascii_case("first_name"))) {
            continue;
        }
        match cells.as_slice() {
            [first, last, email] if !first.is_empty() && email.contains('@') => rows.push(Row {
                line: i + 1,
                first_name: (*first).into(),
                last_name: (*last).into(),
                email: (*email).into(),
            }),
            _ => errors.push(RowError {
                line: i + 1,
                message: "expected first_name,last_name,email with a valid email".into(),
            }),
        }
    }
    #[derive(Serialize)]
    struct Report {
        bytes: usize,
        rows: Vec<Row>,
        errors: Vec<RowError>,
    }
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    Ok(Response::json(&Report { bytes: req.body().len(), rows, errors })?.with_status(status))
}

/// Display preferences (`?theme=dark&density=compact`), kept in cookies so no server state is
/// needed; then back to where the user came from.
pub async fn preferences(req: Request) -> Result<Response> {
    use djambda::http::{Cookie, SameSite};
    let theme = match req.query().get("theme") {
        Some(t @ ("light" | "dark")) => t.to_owned(),
        Some(other) => return Err(Error::bad_request(format!("unknown theme `{other}` (use light or dark)"))),
        None => req.cookie("theme").unwrap_or_else(|| "light".into()),
    };
    let density = match req.query().get("density") {
        Some(d @ ("comfortable" | "compact")) => d.to_owned(),
        Some(other) => {
            return Err(Error::bad_request(format!("unknown density `{other}` (use comfortable or compact)")));
        }
        None => req.cookie("density").unwrap_or_else(|| "comfortable".into()),
    };
    let back = req.reverse("crm:dashboard", &[])?;
    let year = djambda::http::CookieDuration::days(365);
    let mut resp = Response::redirect(&back);
    for (name, value) in [("theme", theme), ("density", density)] {
        resp.set_cookie(
            Cookie::build((name, value)).path("/").same_site(SameSite::Lax).http_only(true).max_age(year).build(),
        );
    }
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::money;

    #[test]
    fn money_groups_thousands() {
        assert_eq!(money(0), "$0.00");
        assert_eq!(money(123_456_789), "$1,234,567.89");
        assert_eq!(money(-100_000), "-$1,000.00");
    }
}
