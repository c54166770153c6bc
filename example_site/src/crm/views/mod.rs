//! The CRM's views (Django's `crm/views.py`): the pages that show records here, the ones
//! that change them in [`edit`].

pub mod edit;

use djambda::http::{StatusCode, csv};
use djambda::prelude::*;
use djambda::views::{ListView, Paginator};
use serde::{Deserialize, Serialize};

use std::collections::HashMap;

use djambda::db::get_object_or_404;
use djambda::db::sea_orm::prelude::Decimal;
use djambda::db::sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, EntityTrait, ModelTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
};

use super::forms::ForecastForm;
use super::models::{Stage, company, contact, deal, note};

/// Contacts per page on the contact list.
const CONTACTS_PER_PAGE: u64 = 5;
/// Deals per page on the deal list.
const DEALS_PER_PAGE: u64 = 25;
/// Notes per page on a contact's or a deal's page.
const NOTES_PER_PAGE: u64 = 20;
/// Contacts and deals a company's page shows before linking to the full lists.
const COMPANY_PAGE_ROWS: u64 = 10;
/// Contacts per page of the JSON API (`?page=`).
const API_PAGE_SIZE: u64 = 100;
/// Rows the CSV export reads per query.
const EXPORT_BATCH: u64 = 1000;
/// Ids bound per `IN (…)` query.
const ID_BATCH: usize = 500;

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

/// Formats a decimal amount as money: `48500.5` → `$48,500.50`.
pub fn money_decimal(amount: Decimal) -> String {
    let cents = (amount * Decimal::from(100)).round();
    money(cents.to_string().parse::<i64>().unwrap_or(0))
}

/// A company as the templates link to it.
#[derive(Serialize)]
struct CompanyRef {
    slug: String,
    name: String,
}

impl From<&company::Model> for CompanyRef {
    fn from(c: &company::Model) -> Self {
        CompanyRef { slug: c.slug.clone(), name: c.name.clone() }
    }
}

/// A deal as the templates show it: its fields, formatted, and its company.
#[derive(Serialize)]
struct DealRow {
    id: i32,
    title: String,
    stage: Stage,
    stage_label: &'static str,
    amount: String,
    expected_close: String,
    company: Option<CompanyRef>,
}

fn deal_row(deal: &deal::Model, company: Option<&company::Model>) -> DealRow {
    DealRow {
        id: deal.id,
        title: deal.title.clone(),
        stage: deal.stage,
        stage_label: deal.stage.label(),
        amount: money_decimal(deal.amount),
        expected_close: deal.expected_close.to_string(),
        company: company.map(CompanyRef::from),
    }
}

/// A contact with its company, as the templates and the JSON API show it.
#[derive(Serialize)]
struct ContactRow {
    #[serde(flatten)]
    contact: contact::Model,
    company: Option<CompanyRef>,
}

/// The companies with these ids, by id.
async fn companies_by_id(
    db: &DatabaseConnection,
    ids: impl Iterator<Item = i32>,
) -> Result<HashMap<i32, company::Model>> {
    // Each id once, a batch at a time: one SQL variable per contact would pass SQLite's limit
    // (32,766) on a big page and make the query grow with the table.
    let mut ids: Vec<i32> = ids.collect();
    ids.sort_unstable();
    ids.dedup();
    let mut found = HashMap::with_capacity(ids.len());
    for batch in ids.chunks(ID_BATCH) {
        let rows = company::Entity::find().filter(company::Column::Id.is_in(batch.to_vec())).all(db).await?;
        found.extend(rows.into_iter().map(|c| (c.id, c)));
    }
    Ok(found)
}

async fn contact_rows(db: &DatabaseConnection, contacts: Vec<contact::Model>) -> Result<Vec<ContactRow>> {
    let companies = companies_by_id(db, contacts.iter().map(|c| c.company_id)).await?;
    Ok(contacts
        .into_iter()
        .map(|contact| {
            let company = companies.get(&contact.company_id).map(CompanyRef::from);
            ContactRow { contact, company }
        })
        .collect())
}

/// The dashboard: counts, deals by stage and the open pipeline.
pub async fn dashboard(req: Request) -> Result<Response> {
    #[derive(Serialize)]
    struct StageSummary {
        slug: &'static str,
        label: &'static str,
        count: i64,
        amount: String,
    }
    let db = req.db().await?;
    let company_count = company::Entity::find().count(&db).await?;
    let contact_count = contact::Entity::find().count(&db).await?;
    let per_stage: Vec<(Stage, i64, Option<Decimal>)> = deal::Entity::find()
        .select_only()
        .column(deal::Column::Stage)
        .column_as(deal::Column::Id.count(), "n")
        .column_as(deal::Column::Amount.sum(), "total")
        .group_by(deal::Column::Stage)
        .into_tuple()
        .all(&db)
        .await?;
    let deal_count: i64 = per_stage.iter().map(|(_, n, _)| n).sum();
    let by_stage: Vec<StageSummary> = Stage::ALL
        .into_iter()
        .map(|stage| {
            let (count, total) = per_stage
                .iter()
                .find(|(s, _, _)| *s == stage)
                .map_or((0, Decimal::ZERO), |(_, n, t)| (*n, t.unwrap_or_default()));
            StageSummary { slug: stage.slug(), label: stage.label(), count, amount: money_decimal(total) }
        })
        .collect();
    let open_total =
        money_decimal(per_stage.iter().filter(|(s, _, _)| s.is_open()).map(|(_, _, t)| t.unwrap_or_default()).sum());
    let open: Vec<Stage> = Stage::ALL.into_iter().filter(|s| s.is_open()).collect();
    let soon = deal::Entity::find()
        .filter(deal::Column::Stage.is_in(open))
        .order_by_asc(deal::Column::ExpectedClose)
        .limit(4)
        .find_also_related(company::Entity)
        .all(&db)
        .await?;
    let closing_soon: Vec<DealRow> = soon.iter().map(|(d, c)| deal_row(d, c.as_ref())).collect();
    render(
        &req,
        "crm/dashboard.html",
        context! { company_count, contact_count, deal_count, by_stage, open_total, closing_soon },
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
    /// The slug of the company to narrow the list to.
    pub company: Option<String>,
}

/// Companies, searchable by name, industry and city (`?q=`), 20 to a page: Django's ListView.
pub fn company_list() -> ListView<company::Entity> {
    ListView::new("crm")
        .paginate_by(20)
        .queryset(|req| {
            let q = req.query().get("q").unwrap_or("").trim().to_owned();
            let mut query = company::Entity::find().order_by_asc(company::Column::Name);
            if !q.is_empty() {
                query = query.filter(
                    Condition::any()
                        .add(company::Column::Name.contains(&q))
                        .add(company::Column::Industry.contains(&q))
                        .add(company::Column::City.contains(&q)),
                );
            }
            Ok(query)
        })
        .extra_context(|req, ctx| {
            let q = req.query().get("q").unwrap_or("").trim();
            ctx.insert("filters", &filters([("q", Some(q))]));
            ctx.insert("q", q);
        })
}

/// One company with its first contacts and deals, each list with its count and a link to
/// all of them: a company with thousands of contacts is still a page of a few kilobytes.
pub async fn company_detail(req: Request, Path(slug): Path<String>) -> Result<Response> {
    let db = req.db().await?;
    let company = get_object_or_404(company::Entity::find().filter(company::Column::Slug.eq(&slug)), &db).await?;
    let contacts = company.find_related(contact::Entity);
    let contact_count = contacts.clone().count(&db).await?;
    let contacts = contacts
        .order_by_asc(contact::Column::LastName)
        .order_by_asc(contact::Column::FirstName)
        .limit(COMPANY_PAGE_ROWS)
        .all(&db)
        .await?;
    let deals = company.find_related(deal::Entity);
    let deal_count = deals.clone().count(&db).await?;
    let deals = deals.order_by_asc(deal::Column::ExpectedClose).limit(COMPANY_PAGE_ROWS).all(&db).await?;
    let deals: Vec<DealRow> = deals.iter().map(|d| deal_row(d, Some(&company))).collect();
    render(&req, "crm/company_detail.html", context! { company, contacts, contact_count, deals, deal_count })
}

/// "Recalculate pipeline" (POST): hands the work to a background task (see
/// `crm::tasks::recalculate_pipeline`) and says so; the note it writes shows on the page once
/// it has run.
pub async fn company_recalculate(req: Request, Path(slug): Path<String>) -> Result<Response> {
    let db = req.db().await?;
    let company = get_object_or_404(company::Entity::find().filter(company::Column::Slug.eq(&slug)), &db).await?;
    let job = super::tasks::RecalculatePipeline { company_id: company.id };
    let task = super::tasks::recalculate_pipeline().enqueue(req.site(), &job).await?;
    djambda::messages::info(
        &req,
        format!("Recalculating the pipeline of {} (task {}, {}).", company.name, task.id, task.status),
    );
    redirect_to(&req, "crm:company-detail", &[&slug])
}

/// The company a list is narrowed to (`?company=<slug>`), or a 404 naming the slug.
async fn company_filter(db: &DatabaseConnection, slug: Option<&str>) -> Result<Option<company::Model>> {
    let Some(slug) = slug.map(str::trim).filter(|s| !s.is_empty()) else { return Ok(None) };
    company::Entity::find()
        .filter(company::Column::Slug.eq(slug))
        .one(db)
        .await?
        .map(Some)
        .ok_or_else(|| Error::not_found(format!("No company has the slug “{slug}”.")))
}

/// The list's filters as a query string, for the pager's links to keep them.
fn filters<'a>(pairs: impl IntoIterator<Item = (&'a str, Option<&'a str>)>) -> String {
    pairs
        .into_iter()
        .filter_map(|(k, v)| v.filter(|v| !v.is_empty()).map(|v| (k, v)))
        .collect::<djambda::http::QueryDict>()
        .urlencode()
}

/// Contacts, searchable, narrowed to a company and paginated (`?q=`, `?company=`, `?page=`).
pub async fn contact_list(req: Request, Query(params): Query<ListQuery>) -> Result<Response> {
    let db = req.db().await?;
    let q = params.q.trim().to_owned();
    let company = company_filter(&db, params.company.as_deref()).await?;
    let mut query =
        contact::Entity::find().order_by_asc(contact::Column::LastName).order_by_asc(contact::Column::FirstName);
    if let Some(company) = &company {
        query = query.filter(contact::Column::CompanyId.eq(company.id));
    }
    if !q.is_empty() {
        query = query.filter(
            Condition::any()
                .add(contact::Column::FirstName.contains(&q))
                .add(contact::Column::LastName.contains(&q))
                .add(contact::Column::Email.contains(&q))
                .add(contact::Column::Title.contains(&q)),
        );
    }
    let pages = query.paginate(&db, CONTACTS_PER_PAGE);
    let page_obj = Paginator::new(pages.num_items().await?, CONTACTS_PER_PAGE).page(params.page.as_deref())?;
    let contacts = contact_rows(&db, pages.fetch_page(page_obj.number - 1).await?).await?;
    let filters = filters([("q", Some(q.as_str())), ("company", company.as_ref().map(|c| c.slug.as_str()))]);
    let company = company.as_ref().map(CompanyRef::from);
    render(&req, "crm/contact_list.html", context! { contacts, q, company, page_obj, filters })
}

/// One contact, with its notes a page at a time (`?page=`).
pub async fn contact_detail(req: Request, Path(pk): Path<i32>, Query(params): Query<ListQuery>) -> Result<Response> {
    let db = req.db().await?;
    let contact = get_object_or_404(contact::Entity::find_by_id(pk), &db).await?;
    let company = contact.find_related(company::Entity).one(&db).await?;
    let (notes, page_obj) = notes_about(&db, note::Column::ContactId, pk, params.page.as_deref()).await?;
    render(&req, "crm/contact_detail.html", context! { contact, company, notes, page_obj, filters: "" })
}

/// A page of the notes whose `about` column (contact or deal) is `id`, newest first.
async fn notes_about(
    db: &DatabaseConnection,
    about: note::Column,
    id: i32,
    page: Option<&str>,
) -> Result<(Vec<note::Model>, djambda::views::Page)> {
    let query = note::Entity::find().filter(about.eq(id));
    let page = Paginator::new(query.clone().count(db).await?, NOTES_PER_PAGE).page(page)?;
    let notes = query
        .order_by_desc(note::Column::CreatedAt)
        .order_by_desc(note::Column::Id)
        .offset(page.offset(NOTES_PER_PAGE))
        .limit(NOTES_PER_PAGE)
        .all(db)
        .await?;
    Ok((notes, page))
}

/// One deal, with its company and its notes a page at a time (`?page=`).
pub async fn deal_detail(req: Request, Path(pk): Path<i32>, Query(params): Query<ListQuery>) -> Result<Response> {
    let db = req.db().await?;
    let deal = get_object_or_404(deal::Entity::find_by_id(pk), &db).await?;
    let company = deal.find_related(company::Entity).one(&db).await?;
    let (notes, page_obj) = notes_about(&db, note::Column::DealId, pk, params.page.as_deref()).await?;
    let row = deal_row(&deal, company.as_ref());
    render(&req, "crm/deal_detail.html", context! { deal: row, notes, page_obj, filters: "" })
}

/// Every contact as a CSV download, streamed: a batch is read, written and sent at a time, so
/// the export holds one batch in memory however many contacts there are.
pub async fn contact_export(req: Request) -> Result<Response> {
    let db = req.db().await?;
    // The writer neutralises cells a spreadsheet would run as formulas (`=HYPERLINK(…)`).
    let mut first = csv::Writer::new();
    first.row(["id", "first_name", "last_name", "title", "email", "phone", "company"]);
    let mut first = first.take().to_vec();
    // The first batch is read before the response starts, so a database that is down or busy
    // is the usual 503 page, not a 200 cut off after its header line.
    let mut after = None;
    if let Some((chunk, last)) = export_batch(&db, None).await? {
        first.extend_from_slice(&chunk);
        after = Some(Some(last));
    }
    // Keyset pagination in the export's order (last name, then id): each query starts after
    // the last row sent, so none grows with the table or rereads what was skipped.
    let rest = futures_util::stream::unfold(after, move |after: Option<Option<(String, i32)>>| {
        let db = db.clone();
        async move {
            let after = after?;
            match export_batch(&db, after).await {
                Ok(None) => None,
                Ok(Some((chunk, last))) => Some((Ok(chunk), Some(Some(last)))),
                // Ends the download early: the client sees it cut off, and the error is logged.
                Err(e) => Some((Err(e), None)),
            }
        }
    });
    let chunks = futures_util::StreamExt::chain(futures_util::stream::iter([Ok(first.into())]), rest);
    Ok(csv::streaming_response("contacts.csv", chunks))
}

/// The export's next batch after `after` (last name and id of the last row sent), as CSV, with
/// the key of its own last row; `None` once every contact has been sent.
async fn export_batch(
    db: &DatabaseConnection,
    after: Option<(String, i32)>,
) -> Result<Option<(djambda::http::Bytes, (String, i32))>> {
    let mut query = contact::Entity::find();
    if let Some((last_name, id)) = after {
        query = query.filter(
            Condition::any()
                .add(contact::Column::LastName.gt(last_name.clone()))
                .add(Condition::all().add(contact::Column::LastName.eq(last_name)).add(contact::Column::Id.gt(id))),
        );
    }
    let contacts = query
        .order_by_asc(contact::Column::LastName)
        .order_by_asc(contact::Column::Id)
        .limit(EXPORT_BATCH)
        .all(db)
        .await?;
    let Some(last) = contacts.last().map(|c| (c.last_name.clone(), c.id)) else { return Ok(None) };
    let mut csv = csv::Writer::new();
    for row in contact_rows(db, contacts).await? {
        let c = &row.contact;
        let company = row.company.as_ref().map_or("", |co| co.name.as_str());
        csv.row([&c.id.to_string(), &c.first_name, &c.last_name, &c.title, &c.email, &c.phone, company]);
    }
    Ok(Some((csv.take(), last)))
}

/// Deals, filtered by stage and company, ordered and paginated
/// (`?stage=proposal&company=acme&sort=-amount&page=2`).
pub async fn deal_list(req: Request, Query(params): Query<ListQuery>) -> Result<Response> {
    let db = req.db().await?;
    let stage = match params.stage.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(Stage::from_slug(s).ok_or_else(|| Error::bad_request(format!("unknown deal stage `{s}`")))?),
    };
    let company = company_filter(&db, params.company.as_deref()).await?;
    let sort = params.sort.unwrap_or_else(|| "close".into());
    let mut query = deal::Entity::find();
    if let Some(stage) = stage {
        query = query.filter(deal::Column::Stage.eq(stage));
    }
    if let Some(company) = &company {
        query = query.filter(deal::Column::CompanyId.eq(company.id));
    }
    query = match sort.as_str() {
        "amount" => query.order_by_asc(deal::Column::Amount),
        "-amount" => query.order_by_desc(deal::Column::Amount),
        "close" => query.order_by_asc(deal::Column::ExpectedClose),
        other => return Err(Error::bad_request(format!("unknown ordering `{other}` (use amount, -amount or close)"))),
    };
    let query = query.order_by_asc(deal::Column::Id);
    let page_obj = Paginator::new(query.clone().count(&db).await?, DEALS_PER_PAGE).page(params.page.as_deref())?;
    let rows = query
        .offset(page_obj.offset(DEALS_PER_PAGE))
        .limit(DEALS_PER_PAGE)
        .find_also_related(company::Entity)
        .all(&db)
        .await?;
    let deals: Vec<DealRow> = rows.iter().map(|(d, c)| deal_row(d, c.as_ref())).collect();
    #[derive(Serialize)]
    struct StageOption {
        slug: &'static str,
        label: &'static str,
    }
    let stages: Vec<StageOption> =
        Stage::ALL.into_iter().map(|s| StageOption { slug: s.slug(), label: s.label() }).collect();
    let filters = filters([
        ("stage", stage.map(Stage::slug)),
        ("company", company.as_ref().map(|c| c.slug.as_str())),
        ("sort", Some(sort.as_str())),
    ]);
    let company = company.as_ref().map(CompanyRef::from);
    render(
        &req,
        "crm/deal_list.html",
        context! { deals, stages, stage: stage.map(Stage::slug), sort, company, page_obj, filters },
    )
}

/// The forecast form.
pub async fn forecast(req: Request) -> Result<Response> {
    render(&req, "crm/forecast.html", context! { form: ForecastForm::unbound() })
}

/// Checks the forecast form and shows the weighted amount, or the form again with its errors
/// (422, so scripts posting to it see the refusal).
pub async fn forecast_submit(req: Request) -> Result<Response> {
    #[derive(Serialize)]
    struct ForecastResult {
        amount: String,
        probability: u8,
        weighted: String,
    }
    let form = ForecastForm::bind(&req)?;
    let result = form.cleaned_data().map(|f| ForecastResult {
        amount: money_decimal(f.amount),
        probability: f.probability,
        weighted: money_decimal(f.weighted()),
    });
    let status = if result.is_some() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    Ok(render(&req, "crm/forecast.html", context! { form, result })?.with_status(status))
}

/// The contacts as JSON, 100 a page (`?page=`), in Django REST framework's shape: `count`,
/// `next`, `previous` and `results`.
pub async fn api_contacts(req: Request) -> Result<Response> {
    #[derive(Serialize)]
    struct Item {
        #[serde(flatten)]
        contact: ContactRow,
        url: String,
    }
    #[derive(Serialize)]
    struct Page {
        count: u64,
        next: Option<String>,
        previous: Option<String>,
        results: Vec<Item>,
    }
    let db = req.db().await?;
    let pages = contact::Entity::find()
        .order_by_asc(contact::Column::LastName)
        .order_by_asc(contact::Column::Id)
        .paginate(&db, API_PAGE_SIZE);
    let count = pages.num_items().await?;
    let num_pages = count.div_ceil(API_PAGE_SIZE).max(1);
    let page = match req.query().get("page").filter(|p| !p.is_empty()) {
        None => 1,
        Some(p) => p
            .parse::<u64>()
            .ok()
            .filter(|n| (1..=num_pages).contains(n))
            .ok_or_else(|| Error::not_found(format!("Invalid page ({p}): that page contains no results")))?,
    };
    let mut results = Vec::new();
    for row in contact_rows(&db, pages.fetch_page(page - 1).await?).await? {
        let url = req.reverse("crm:contact-detail", &[&row.contact.id])?;
        results.push(Item { contact: row, url });
    }
    let here = req.reverse("crm:api-contacts", &[])?;
    let link = |n: u64| format!("{here}?page={n}");
    Response::json(&Page {
        count,
        next: (page < num_pages).then(|| link(page + 1)),
        previous: (page > 1).then(|| link(page - 1)),
        results,
    })
}

/// One contact as JSON.
pub async fn api_contact(req: Request, Path(pk): Path<i32>) -> Result<Response> {
    let db = req.db().await?;
    let contact = get_object_or_404(contact::Entity::find_by_id(pk), &db).await?;
    let mut rows = contact_rows(&db, vec![contact]).await?;
    Response::json(&rows.pop())
}

/// One contact read from a CSV line.
#[derive(Debug, Clone, Serialize)]
pub struct CsvContact {
    /// The line it came from (1-based).
    pub line: usize,
    /// Given name.
    pub first_name: String,
    /// Family name.
    pub last_name: String,
    /// Email address.
    pub email: String,
}

/// A CSV line that is not a contact.
#[derive(Debug, Clone, Serialize)]
pub struct CsvError {
    /// The line (1-based).
    pub line: usize,
    /// What is wrong with it.
    pub message: String,
}

/// Reads `first_name,last_name,email` rows (a header row is skipped; cells may be quoted). A
/// file that is not UTF-8 (a spreadsheet's Latin-1 export) is one error naming the line where
/// it stops being UTF-8: nothing of it is imported with its letters changed.
pub fn parse_contacts_csv(bytes: &[u8]) -> (Vec<CsvContact>, Vec<CsvError>) {
    let records = match csv::read(bytes) {
        Ok(records) => records,
        Err(e) => return (Vec::new(), vec![CsvError { line: e.line, message: e.message }]),
    };
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    for (i, record) in records.into_iter().enumerate() {
        let cells = &record.cells;
        if i == 0 && cells.first().is_some_and(|c| c.eq_ignore_ascii_case("first_name")) {
            continue;
        }
        match cells.as_slice() {
            [first, last, email] if !first.is_empty() && djambda::forms::is_valid_email(email) => {
                rows.push(CsvContact {
                    line: record.line,
                    first_name: first.clone(),
                    last_name: last.clone(),
                    email: email.clone(),
                })
            }
            _ => errors.push(CsvError {
                line: record.line,
                message: "expected first_name,last_name,email with a valid email".into(),
            }),
        }
    }
    (rows, errors)
}

/// Checks a CSV of contacts (`first_name,last_name,email` per line, header optional) and says
/// what an import would create: a dry run, answered as JSON (422 with the errors, a file that
/// is not UTF-8 among them).
pub async fn api_contact_import(req: Request) -> Result<Response> {
    #[derive(Serialize)]
    struct Report {
        bytes: usize,
        rows: Vec<CsvContact>,
        errors: Vec<CsvError>,
    }
    let (rows, errors) = parse_contacts_csv(req.body());
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
