//! The admin (issue 13) through the in-process test client, as a browser uses it (CSRF tokens
//! read from each page), on private copies of the demo database: the change list's search,
//! filters, sorting, pagination and counts, and its queries, which do not grow with the rows;
//! add, change and delete with valid and invalid data, inlines and many-to-many fields;
//! actions; history with each field's old and new value; who may see and do what (hidden
//! buttons, 403s); users and passwords; tampered parameters and HTML in every field. Then the
//! same admin as a Lambda function behind a REST API stage, where every link and redirect
//! carries the stage.

use djambda::Site;
use djambda::admin::log_entry;
use djambda::auth::models::{permission, user, user_permission};
use djambda::db::sea_orm::{
    ActiveModelTrait, ActiveValue, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
};
use djambda::test::{Client, TestResponse};
use example_site::crm::models::{company, contact, deal, note};

use crate::auth::{crm_site, shows};

/// A browser-like client: CSRF tokens only where a page gave one.
fn browser(site: &Site) -> Client {
    Client::new(site.clone()).enforce_csrf_checks()
}

/// Logs in through the admin's own login page.
async fn admin_login(c: &mut Client, username: &str, password: &str) -> TestResponse {
    let page = c.get("/admin/login/?next=/admin/").await;
    assert_eq!(page.status(), 200, "{}", page.text());
    let token = page.csrf_token().expect("the admin login page has a CSRF token");
    c.post_form(
        "/admin/login/",
        &[("csrfmiddlewaretoken", &token), ("username", username), ("password", password), ("next", "/admin/")],
    )
    .await
}

/// The demo superuser, logged in to the admin.
async fn superuser(site: &Site) -> Client {
    let mut c = browser(site);
    let resp = admin_login(&mut c, "demo", "demo").await;
    assert_eq!(resp.status(), 302, "{}", resp.text());
    assert_eq!(resp.location(), Some("/admin/"));
    c
}

/// Opens `url` and posts `fields` with the page's CSRF token.
async fn submit(c: &mut Client, url: &str, fields: &[(&str, &str)]) -> TestResponse {
    let page = c.get(url).await;
    assert_eq!(page.status(), 200, "{url}: {}", page.text());
    let token = page.csrf_token().unwrap_or_else(|| panic!("{url} has no CSRF token"));
    let mut all = vec![("csrfmiddlewaretoken", token.as_str())];
    all.extend_from_slice(fields);
    c.post_form(url, &all).await
}

/// A page's text, checked to be a 200.
async fn page(c: &mut Client, url: &str) -> String {
    let resp = c.get(url).await;
    assert_eq!(resp.status(), 200, "{url}: {}", resp.text());
    resp.text()
}

/// The rows' links of a change list, in order: the objects' names.
fn listed(html: &str) -> Vec<String> {
    let body = &html[html.find("<tbody>").unwrap_or(0)..];
    body.split("<th scope=\"row\"><a href=\"")
        .skip(1)
        .map(|s| {
            let text = &s[s.find('>').unwrap() + 1..];
            text[..text.find("</a>").unwrap()].to_owned()
        })
        .collect()
}

/// A staff user with exactly these permissions (`crm.view_contact`…).
async fn staff_with(site: &Site, username: &str, perms: &[&str]) -> i32 {
    let db = site.database().connection().await.unwrap();
    let row = user::ActiveModel {
        username: ActiveValue::Set(username.into()),
        password: ActiveValue::Set(djambda::auth::hashers::make_password("s3cret-pass-word")),
        is_staff: ActiveValue::Set(true),
        is_superuser: ActiveValue::Set(false),
        is_active: ActiveValue::Set(true),
        first_name: ActiveValue::Set(String::new()),
        last_name: ActiveValue::Set(String::new()),
        email: ActiveValue::Set(String::new()),
        last_login: ActiveValue::Set(None),
        date_joined: ActiveValue::Set(chrono::Utc::now()),
        ..Default::default()
    }
    .insert(&db)
    .await
    .unwrap();
    for perm in perms {
        let (app, codename) = perm.split_once('.').unwrap();
        let p = permission::Entity::find()
            .filter(permission::Column::AppLabel.eq(app))
            .filter(permission::Column::Codename.eq(codename))
            .one(&db)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("no permission {perm}"));
        user_permission::ActiveModel {
            user_id: ActiveValue::Set(row.id),
            permission_id: ActiveValue::Set(p.id),
            ..Default::default()
        }
        .insert(&db)
        .await
        .unwrap();
    }
    row.id
}

/// Adds `n` contacts, spread over the five demo companies (one INSERT).
async fn add_contacts(site: &Site, n: usize) {
    let db = site.database().connection().await.unwrap();
    let values: Vec<String> = (0..n)
        .map(|i| format!("({}, 'Bulk{i:05}', 'Person{i:05}', 'Tester', 'bulk{i}@example.com', '')", 1 + i % 5))
        .collect();
    db.execute_unprepared(&format!(
        "INSERT INTO contact (company_id, first_name, last_name, title, email, phone) VALUES {}",
        values.join(", ")
    ))
    .await
    .unwrap();
}

#[tokio::test]
async fn the_change_list_searches_filters_sorts_and_pages() {
    let site = crm_site("admin-list", &[]);
    let mut c = superuser(&site).await;
    let index = page(&mut c, "/admin/").await;
    for model in ["Companies", "Contacts", "Deals", "Notes", "Users", "Groups"] {
        assert!(index.contains(&format!(">{model}</a>")), "the index lists {model}");
    }
    assert!(index.contains("CRM") && index.contains("Authentication and Authorization"));

    let list = page(&mut c, "/admin/crm/contact/").await;
    assert!(list.contains("12 contacts"), "the count");
    // The related column: each contact's company, read once for the page.
    assert!(list.contains("<td>Blue Harbor Foods</td>"), "{list}");
    let names = listed(&list);
    assert_eq!(names.first().map(String::as_str), Some("Rui Almeida"), "ordered by last name: {names:?}");

    // Search across the company's name, and the contact's own fields; words must all match.
    let acme = page(&mut c, "/admin/crm/contact/?q=acme").await;
    assert!(acme.contains("3 contacts") && acme.contains("(12 total)"), "{acme}");
    assert!(listed(&acme).iter().all(|n| ["Sanne Bakker", "Lotte Visser", "Maarten de Vries"].contains(&n.as_str())));
    let two_words = page(&mut c, "/admin/crm/contact/?q=acme+lotte").await;
    assert_eq!(listed(&two_words), ["Lotte Visser"]);
    let quoted = page(&mut c, "/admin/crm/contact/?q=%22blue+harbor%22").await;
    assert!(quoted.contains("2 contacts"), "a quoted phrase is one word");

    // The filter by company, with its links keeping the search.
    let filtered = page(&mut c, "/admin/crm/contact/?company_id__exact=2").await;
    assert!(filtered.contains("2 contacts"), "{filtered}");
    assert!(filtered.contains("aria-current=\"true\">Blue Harbor Foods</a>"), "the chosen filter is marked");
    let both = page(&mut c, "/admin/crm/contact/?company_id__exact=1&q=lotte").await;
    assert_eq!(listed(&both), ["Lotte Visser"]);

    // Sorting by a column, both ways, by the related column, and the sort links.
    let by_email = listed(&page(&mut c, "/admin/crm/contact/?o=4").await);
    let mut sorted = by_email.clone();
    let by_email_desc = listed(&page(&mut c, "/admin/crm/contact/?o=-4").await);
    sorted.reverse();
    assert_eq!(by_email_desc, sorted, "descending is ascending reversed");
    let by_company = page(&mut c, "/admin/crm/contact/?o=2.1").await;
    let first_rows = listed(&by_company);
    assert!(
        ["Sanne Bakker", "Lotte Visser", "Maarten de Vries"].contains(&first_rows[0].as_str()),
        "Acme's contacts first: {first_rows:?}"
    );
    assert!(by_company.contains("aria-sort=\"ascending\""));

    // Deals: the stage filter (an enum), the date filters, the date hierarchy.
    let won = page(&mut c, "/admin/crm/deal/?stage__exact=won").await;
    assert!(won.contains("1 deal ") && won.contains("Warehouse scanners"), "{won}");
    assert!(won.contains(">Won</td>"), "the stage's label");
    let deals = page(&mut c, "/admin/crm/deal/").await;
    assert!(deals.contains("expected_close__year=2026"), "the hierarchy offers the years that have deals");
    let year = page(&mut c, "/admin/crm/deal/?expected_close__year=2026").await;
    assert!(year.contains("expected_close__month="), "then the months");
    let months: Vec<&str> = year.split("expected_close__month=").skip(1).map(|s| &s[..s.find('"').unwrap()]).collect();
    let month =
        page(&mut c, &format!("/admin/crm/deal/?expected_close__year=2026&expected_close__month={}", months[0])).await;
    assert!(month.contains("expected_close__day="), "then the days");
    let range = page(&mut c, "/admin/crm/deal/?expected_close__gte=2026-01-01&expected_close__lt=2027-01-01").await;
    let in_2026 = deal::Entity::find()
        .filter(deal::Column::ExpectedClose.gte(chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap()))
        .filter(deal::Column::ExpectedClose.lt(chrono::NaiveDate::from_ymd_opt(2027, 1, 1).unwrap()))
        .count(&site.database().connection().await.unwrap())
        .await
        .unwrap();
    let all_deals = deal::Entity::find().count(&site.database().connection().await.unwrap()).await.unwrap();
    assert!(in_2026 > 0 && in_2026 < all_deals, "the demo data has deals in and out of 2026");
    assert_eq!(listed(&range).len() as u64, in_2026, "only 2026's deals: {range}");

    // Pagination: 50 contacts a page, the count of all of them, the page links.
    add_contacts(&site, 140).await;
    let first = page(&mut c, "/admin/crm/contact/").await;
    assert!(first.contains("152 contacts"), "the count counts every row, not the page");
    assert_eq!(listed(&first).len(), 50);
    assert!(first.contains("aria-label=\"Page 4\"") && !first.contains("aria-label=\"Page 5\""));
    let last = page(&mut c, "/admin/crm/contact/?p=4").await;
    assert_eq!(listed(&last).len(), 2);
    assert!(last.contains("aria-current=\"page\">4</span>"));
    let past = page(&mut c, "/admin/crm/contact/?p=99").await;
    assert_eq!(listed(&past), listed(&last), "past the end is the last page");
    let mut seen: Vec<String> = Vec::new();
    for p in 1..=4 {
        seen.extend(listed(&page(&mut c, &format!("/admin/crm/contact/?p={p}")).await));
    }
    let total = seen.len();
    seen.sort();
    seen.dedup();
    assert_eq!((total, seen.len()), (152, 152), "the pages neither overlap nor skip a row");
    for bad in ["0", "-1", "abc", "99999999999999999999999"] {
        assert_eq!(c.get(&format!("/admin/crm/contact/?p={bad}")).await.status(), 400, "p={bad}");
    }
    // A count that fills its pages exactly: no empty page after them.
    let db = site.database().connection().await.unwrap();
    contact::Entity::delete_many().filter(contact::Column::FirstName.eq("Bulk00000")).exec(&db).await.unwrap();
    contact::Entity::delete_many().filter(contact::Column::FirstName.eq("Bulk00001")).exec(&db).await.unwrap();
    let exact = page(&mut c, "/admin/crm/contact/").await;
    assert!(exact.contains("150 contacts") && exact.contains("aria-label=\"Page 3\""));
    assert!(!exact.contains("aria-label=\"Page 4\""), "150 rows are three pages");
    assert_eq!(listed(&page(&mut c, "/admin/crm/contact/?p=3").await).len(), 50);
}

#[tokio::test]
async fn a_page_costs_the_same_queries_whatever_its_rows() {
    let site = crm_site("admin-queries", &[]);
    let mut c = superuser(&site).await;
    add_contacts(&site, 300).await;
    let count = |site: &Site| site.database().queries_executed();
    // Warm: the first request opens the pool.
    page(&mut c, "/admin/crm/contact/").await;
    let mut costs = Vec::new();
    for url in [
        "/admin/crm/contact/?q=bulk0000",                 // 10 rows
        "/admin/crm/contact/?q=bulk",                     // 50 rows, a full page
        "/admin/crm/contact/?q=bulk&company_id__exact=1", // 50 rows, filtered
    ] {
        let before = count(&site);
        let html = page(&mut c, url).await;
        costs.push((url, listed(&html).len(), count(&site) - before));
    }
    assert_eq!(costs[0].1, 10);
    assert_eq!(costs[1].1, 50);
    assert_eq!(costs[2].1, 50);
    // Five companies on the first two pages, one on the third: the same cost.
    assert_eq!(costs[0].2, costs[1].2, "a related column costs one query per page, not per row: {costs:?}");
    assert_eq!(costs[1].2, costs[2].2, "nor one per related row: {costs:?}");
    // The user and their permissions, the two counts, the rows, the companies, the filter.
    assert!(costs[1].2 <= 7, "{costs:?}");
}

#[tokio::test]
async fn add_change_and_delete_with_history() {
    let site = crm_site("admin-edit", &[]);
    let db = site.database().connection().await.unwrap();
    let mut c = superuser(&site).await;

    // Invalid: every error shown, nothing written.
    let before = contact::Entity::find().count(&db).await.unwrap();
    let bad = submit(
        &mut c,
        "/admin/crm/contact/add/",
        &[
            ("first_name", ""),
            ("last_name", "Lovelace"),
            ("company_id", "999"),
            ("email", "not-an-email"),
            ("_save", ""),
        ],
    )
    .await;
    assert_eq!(bad.status(), 200);
    let html = bad.text();
    assert!(html.contains("Please correct the errors below."), "{html}");
    assert!(html.contains("This field is required."));
    assert!(html.contains("Enter a valid email address."));
    assert!(html.contains("No company has the id 999."), "{html}");
    assert_eq!(contact::Entity::find().count(&db).await.unwrap(), before, "nothing written");

    // Valid, "Save and continue editing": the change page, with the message.
    let added = submit(
        &mut c,
        "/admin/crm/contact/add/",
        &[
            ("first_name", "Ada"),
            ("last_name", "Lovelace"),
            ("company_id", "3"),
            ("title", "Analyst"),
            ("email", "ada@example.com"),
            ("phone", ""),
            ("_continue", ""),
        ],
    )
    .await;
    assert_eq!(added.status(), 302, "{}", added.text());
    let ada =
        contact::Entity::find().filter(contact::Column::Email.eq("ada@example.com")).one(&db).await.unwrap().unwrap();
    assert_eq!(ada.company_id, 3);
    let change_url = format!("/admin/crm/contact/{}/change/", ada.id);
    assert_eq!(added.location(), Some(change_url.as_str()));
    let form = page(&mut c, &change_url).await;
    assert!(form.contains("The contact “Ada Lovelace” was added successfully. You may edit it again below."));
    assert!(form.contains("Cedar Health Clinics"), "the autocomplete field names the current company");
    assert!(form.contains(&format!("href=\"/contacts/{}/\"", ada.id)), "View on site");

    // Change two fields, "Save": back to the list; the history names both with old and new.
    let changed = submit(
        &mut c,
        &change_url,
        &[
            ("first_name", "Ada"),
            ("last_name", "Lovelace"),
            ("company_id", "2"),
            ("title", "Chief Analyst"),
            ("email", "ada@example.com"),
            ("phone", ""),
            ("_save", ""),
        ],
    )
    .await;
    assert_eq!(changed.status(), 302, "{}", changed.text());
    assert_eq!(changed.location(), Some("/admin/crm/contact/"));
    let list = page(&mut c, "/admin/crm/contact/").await;
    assert!(list.contains("The contact “Ada Lovelace” was changed successfully."));
    let history = page(&mut c, &format!("/admin/crm/contact/{}/history/", ada.id)).await;
    assert!(history.contains("Added."), "{history}");
    assert!(history.contains("Changed Company and Title."), "{history}");
    for value in ["Cedar Health Clinics", "Blue Harbor Foods", "Analyst", "Chief Analyst"] {
        assert!(history.contains(value), "the history shows {value}: {history}");
    }
    assert!(history.contains("<td>demo</td>"), "who");
    let entries = log_entry::Entity::find()
        .filter(log_entry::Column::ObjectId.eq(ada.id.to_string()))
        .order_by_asc(log_entry::Column::Id)
        .all(&db)
        .await
        .unwrap();
    assert_eq!(entries.iter().map(|e| e.action_flag).collect::<Vec<_>>(), [1, 2]);
    let message: serde_json::Value = serde_json::from_str(&entries[1].change_message).unwrap();
    assert_eq!(message[0]["changed"]["fields"][1]["from"], "Analyst");
    assert_eq!(message[0]["changed"]["fields"][1]["to"], "Chief Analyst");

    // "Save and add another".
    let another = submit(
        &mut c,
        "/admin/crm/company/add/",
        &[("name", "Zeta"), ("slug", "zeta"), ("industry", ""), ("city", ""), ("website", ""), ("_addanother", "")],
    )
    .await;
    assert_eq!(another.location(), Some("/admin/crm/company/add/"));
    // A unique value taken: an error on the form, not a 500.
    let taken = submit(
        &mut c,
        "/admin/crm/company/add/",
        &[("name", "Zeta again"), ("slug", "zeta"), ("industry", ""), ("city", ""), ("website", ""), ("_save", "")],
    )
    .await;
    assert_eq!(taken.status(), 200);
    assert!(taken.text().contains("Company with this Slug already exists."), "{}", taken.text());

    // Delete a contact: the confirmation lists the notes that go too; then it is gone.
    let ines = 3;
    let confirm = page(&mut c, &format!("/admin/crm/contact/{ines}/delete/")).await;
    assert!(confirm.contains("Are you sure you want to delete the contact “Inês Carvalho”?"), "{confirm}");
    assert!(confirm.contains("Notes: "), "the summary counts the notes: {confirm}");
    let notes_before = note::Entity::find().filter(note::Column::ContactId.eq(ines)).count(&db).await.unwrap();
    assert!(notes_before > 0);
    let deleted = submit(&mut c, &format!("/admin/crm/contact/{ines}/delete/"), &[("post", "yes")]).await;
    assert_eq!(deleted.status(), 302);
    assert!(contact::Entity::find_by_id(ines).one(&db).await.unwrap().is_none());
    assert_eq!(note::Entity::find().filter(note::Column::ContactId.eq(ines)).count(&db).await.unwrap(), 0);
    assert!(
        page(&mut c, "/admin/crm/contact/").await.contains("The contact “Inês Carvalho” was deleted successfully.")
    );
    let logged = log_entry::Entity::find()
        .filter(log_entry::Column::ObjectId.eq("3"))
        .filter(log_entry::Column::ModelName.eq("contact"))
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((logged.action_flag, logged.object_repr.as_str()), (3, "Inês Carvalho"));
    assert_eq!(c.get(&format!("/admin/crm/contact/{ines}/change/")).await.status(), 404);
    let recent = page(&mut c, "/admin/").await;
    assert!(recent.contains("Inês Carvalho") && recent.contains("Ada Lovelace"), "recent actions");

    // A company's delete page lists its contacts, deals and their notes.
    let company_delete = page(&mut c, "/admin/crm/company/1/delete/").await;
    for part in ["Contacts</strong> (3)", "Deals</strong>", "Notes</strong>", "Lotte Visser"] {
        assert!(company_delete.contains(part), "{part}: {company_delete}");
    }
}

#[tokio::test]
async fn a_company_is_edited_with_its_contacts_inline() {
    let site = crm_site("admin-inline", &[]);
    let db = site.database().connection().await.unwrap();
    let mut c = superuser(&site).await;
    let url = "/admin/crm/company/2/change/";
    let form = page(&mut c, url).await;
    assert!(form.contains("name=\"contact_set-TOTAL_FORMS\" value=\"3\""), "two contacts and one empty row");
    assert!(form.contains("value=\"Inês\""));
    // Its deals, stacked: a form each, the stage a select of the enum's labels.
    assert!(form.contains("name=\"deal_set-TOTAL_FORMS\""), "the deals' inline");
    assert!(form.contains("name=\"deal_set-0-title\"") && form.contains(">Negotiation</option>"), "{form}");
    // Keep Rui (with a new title), delete Inês, add Bea in the empty row.
    let (rui, ines) = (4, 3);
    let fields = [
        ("name", "Blue Harbor Foods"),
        ("slug", "blue-harbor-foods"),
        ("industry", "Food distribution"),
        ("city", "Lisbon"),
        ("website", ""),
        ("contact_set-TOTAL_FORMS", "3"),
        ("contact_set-INITIAL_FORMS", "2"),
        ("contact_set-0-id", "4"),
        ("contact_set-0-first_name", "Rui"),
        ("contact_set-0-last_name", "Almeida"),
        ("contact_set-0-title", "CTO"),
        ("contact_set-0-email", "rui@blueharbor.example"),
        ("contact_set-0-phone", ""),
        ("contact_set-1-id", "3"),
        ("contact_set-1-first_name", "Inês"),
        ("contact_set-1-last_name", "Carvalho"),
        ("contact_set-1-title", "CFO"),
        ("contact_set-1-email", "ines@blueharbor.example"),
        ("contact_set-1-phone", ""),
        ("contact_set-1-DELETE", "on"),
        ("contact_set-2-first_name", "Bea"),
        ("contact_set-2-last_name", "Silva"),
        ("contact_set-2-title", ""),
        ("contact_set-2-email", "bad email"),
        ("contact_set-2-phone", ""),
        ("deal_set-TOTAL_FORMS", "1"),
        ("deal_set-INITIAL_FORMS", "1"),
        ("deal_set-0-id", "3"),
        ("deal_set-0-title", "Cold-chain monitoring"),
        ("deal_set-0-stage", "won"),
        ("deal_set-0-amount", "23750.00"),
        ("deal_set-0-expected_close", "2027-01-20"),
        ("_continue", ""),
    ];
    // A bad email in the new row: the whole form comes back, nothing is written.
    let bad = submit(&mut c, url, &fields).await;
    assert_eq!(bad.status(), 200);
    assert!(bad.text().contains("Enter a valid email address."), "{}", bad.text());
    assert!(contact::Entity::find_by_id(ines).one(&db).await.unwrap().is_some(), "not deleted");
    assert_eq!(contact::Entity::find_by_id(rui).one(&db).await.unwrap().unwrap().title, "IT Manager");

    let mut good = fields.to_vec();
    good.retain(|(k, _)| *k != "contact_set-2-email");
    good.push(("contact_set-2-email", "bea@blueharbor.example"));
    let saved = submit(&mut c, url, &good).await;
    assert_eq!(saved.status(), 302, "{}", saved.text());
    assert_eq!(contact::Entity::find_by_id(rui).one(&db).await.unwrap().unwrap().title, "CTO");
    assert!(contact::Entity::find_by_id(ines).one(&db).await.unwrap().is_none());
    let bea = contact::Entity::find().filter(contact::Column::FirstName.eq("Bea")).one(&db).await.unwrap().unwrap();
    assert_eq!(bea.company_id, 2, "the new row points at the company");
    let history = page(&mut c, "/admin/crm/company/2/history/").await;
    assert!(history.contains("Added contact “Bea Silva”."), "{history}");
    assert!(history.contains("Changed Title and Phone for contact “Rui Almeida”."), "{history}");
    assert!(history.contains("Deleted contact “Inês Carvalho”."), "{history}");
    assert!(history.contains("IT Manager") && history.contains("CTO"), "the inline field's from and to");
    assert!(history.contains("Changed Stage for deal “Cold-chain monitoring”."), "{history}");
    assert!(history.contains("<td>Proposal</td><td>Won</td>"), "the choice's labels: {history}");
    assert_eq!(
        deal::Entity::find_by_id(3).one(&db).await.unwrap().unwrap().stage,
        example_site::crm::models::Stage::Won
    );

    // A row id that is not this company's: refused, nothing changed.
    let mut foreign = good.clone();
    foreign.retain(|(k, _)| !k.starts_with("contact_set"));
    foreign.extend([
        ("contact_set-TOTAL_FORMS", "1"),
        ("contact_set-INITIAL_FORMS", "1"),
        ("contact_set-0-id", "1"),
        ("contact_set-0-first_name", "Hijacked"),
        ("contact_set-0-last_name", "X"),
        ("contact_set-0-email", "x@example.com"),
    ]);
    let refused = submit(&mut c, url, &foreign).await;
    assert_eq!(refused.status(), 200);
    assert!(refused.text().contains("is not one of this record"), "{}", refused.text());
    assert_eq!(contact::Entity::find_by_id(1).one(&db).await.unwrap().unwrap().first_name, "Maarten");
    // A tampered management form is a 400, not a 500.
    let mut tampered = good.clone();
    tampered.retain(|(k, _)| *k != "contact_set-TOTAL_FORMS");
    tampered.push(("contact_set-TOTAL_FORMS", "lots"));
    assert_eq!(submit(&mut c, url, &tampered).await.status(), 400);
}

#[tokio::test]
async fn bulk_actions_delete_export_and_the_sites_own() {
    let site = crm_site("admin-actions", &[]);
    let db = site.database().connection().await.unwrap();
    let mut c = superuser(&site).await;
    let list = page(&mut c, "/admin/crm/contact/").await;
    for action in ["delete_selected", "export_csv", "lowercase_emails"] {
        assert!(list.contains(&format!("value=\"{action}\"")), "{action} is offered");
    }
    // Delete selected: a confirmation listing them, then the delete.
    let token = c.get("/admin/crm/contact/").await.csrf_token().unwrap();
    let confirm = c
        .post_form(
            "/admin/crm/contact/?q=acme",
            &[
                ("csrfmiddlewaretoken", &token),
                ("action", "delete_selected"),
                ("_selected_action", "1"),
                ("_selected_action", "2"),
            ],
        )
        .await;
    assert_eq!(confirm.status(), 200, "{}", confirm.text());
    let html = confirm.text();
    assert!(html.contains("Are you sure you want to delete the selected contacts?"));
    assert!(html.contains("Maarten de Vries") && html.contains("Sanne Bakker"));
    assert_eq!(contact::Entity::find().count(&db).await.unwrap(), 12, "nothing deleted yet");
    let token = confirm.csrf_token().unwrap();
    let done = c
        .post_form(
            "/admin/crm/contact/?q=acme",
            &[
                ("csrfmiddlewaretoken", &token),
                ("action", "delete_selected"),
                ("post", "yes"),
                ("_selected_action", "1"),
                ("_selected_action", "2"),
            ],
        )
        .await;
    assert_eq!(done.status(), 302);
    assert_eq!(done.location(), Some("/admin/crm/contact/?q=acme"), "back to the list as it was");
    assert_eq!(contact::Entity::find().count(&db).await.unwrap(), 10);
    assert!(page(&mut c, "/admin/crm/contact/").await.contains("Successfully deleted 2 contacts."));

    // Export selected as CSV: the list's columns, the company's name, cells neutralised.
    contact::Entity::update_many()
        .col_expr(contact::Column::Title, djambda::db::sea_orm::sea_query::Expr::value("=HYPERLINK(\"x\")"))
        .filter(contact::Column::Id.eq(3))
        .exec(&db)
        .await
        .unwrap();
    let token = c.get("/admin/crm/contact/").await.csrf_token().unwrap();
    let csv = c
        .post_form(
            "/admin/crm/contact/",
            &[
                ("csrfmiddlewaretoken", &token),
                ("action", "export_csv"),
                ("_selected_action", "3"),
                ("_selected_action", "4"),
            ],
        )
        .await;
    assert_eq!(csv.status(), 200);
    assert_eq!(csv.header("content-type"), Some("text/csv; charset=utf-8"));
    assert!(csv.is_streaming());
    let text = csv.text();
    assert!(text.starts_with("\"Name\",\"Company name\",\"Title\",\"Email\",\"Phone\"\r\n"), "{text}");
    assert!(text.contains("\"Inês Carvalho\",\"Blue Harbor Foods\",\"'=HYPERLINK(\"\"x\"\")\""), "{text}");
    assert_eq!(text.lines().count(), 3);
    // All the rows the search matches, across pages.
    add_contacts(&site, 120).await;
    let all = c
        .post_form(
            "/admin/crm/contact/?q=bulk",
            &[("csrfmiddlewaretoken", &token), ("action", "export_csv"), ("select_across", "1")],
        )
        .await;
    assert_eq!(all.text().lines().count(), 121, "the header and every matching row");

    // The site's own action.
    contact::Entity::update_many()
        .col_expr(contact::Column::Email, djambda::db::sea_orm::sea_query::Expr::value("Rui@BlueHarbor.Example"))
        .filter(contact::Column::Id.eq(4))
        .exec(&db)
        .await
        .unwrap();
    let ran = c
        .post_form(
            "/admin/crm/contact/",
            &[("csrfmiddlewaretoken", &token), ("action", "lowercase_emails"), ("_selected_action", "4")],
        )
        .await;
    assert_eq!(ran.status(), 302);
    assert_eq!(contact::Entity::find_by_id(4).one(&db).await.unwrap().unwrap().email, "rui@blueharbor.example");
    assert!(page(&mut c, "/admin/crm/contact/").await.contains("1 email address(es) were lower-cased."));
    let marked = c
        .post_form(
            "/admin/crm/deal/",
            &[("csrfmiddlewaretoken", &token), ("action", "mark_won"), ("_selected_action", "1")],
        )
        .await;
    assert_eq!(marked.status(), 302);
    let won = deal::Entity::find_by_id(1).one(&db).await.unwrap().unwrap();
    assert_eq!(won.stage, example_site::crm::models::Stage::Won);

    // Nothing selected: a message, nothing done (an export of nothing too). An unknown action: 400.
    let nothing =
        c.post_form("/admin/crm/contact/", &[("csrfmiddlewaretoken", &token), ("action", "export_csv")]).await;
    assert_eq!(nothing.status(), 302);
    assert!(page(&mut c, "/admin/crm/contact/").await.contains("Items must be selected"));
    let none =
        c.post_form("/admin/crm/contact/", &[("csrfmiddlewaretoken", &token), ("action", "delete_selected")]).await;
    assert_eq!(none.status(), 302);
    assert!(page(&mut c, "/admin/crm/contact/").await.contains("Items must be selected"));
    let unknown = c
        .post_form(
            "/admin/crm/contact/",
            &[("csrfmiddlewaretoken", &token), ("action", "drop_table"), ("_selected_action", "3")],
        )
        .await;
    assert_eq!(unknown.status(), 400);
}

#[tokio::test]
async fn permissions_decide_what_each_user_sees_and_does() {
    let site = crm_site("admin-perms", &[]);
    let db = site.database().connection().await.unwrap();
    staff_with(&site, "looker", &["crm.view_contact"]).await;
    staff_with(&site, "editor", &["crm.view_contact", "crm.change_contact", "crm.add_contact", "crm.view_company"])
        .await;

    // Anonymous visitors and non-staff users are sent to the admin's login.
    let mut anonymous = browser(&site);
    let resp = anonymous.get("/admin/crm/contact/").await;
    assert_eq!(resp.location(), Some("/admin/login/?next=%2Fadmin%2Fcrm%2Fcontact%2F"));
    let mut viewer = browser(&site);
    let refused = admin_login(&mut viewer, "viewer", "viewer").await;
    assert_eq!(refused.status(), 200, "a user who is not staff cannot log in to the admin");
    assert!(refused.text().contains("Please enter the correct username and password for a staff account."));
    let mut site_login = Client::new(site.clone());
    assert!(site_login.login("viewer", "viewer").await);
    let redirected = site_login.get("/admin/").await;
    assert_eq!(redirected.status(), 302, "logged in to the site, still not staff");
    let login_page = site_login.get(redirected.location().unwrap()).await.text();
    assert!(login_page.contains("You are authenticated as viewer, but are not authorized to access this page."));

    // View only: the list, no add button, no actions but export, a read-only page, 403s.
    let mut looker = browser(&site);
    assert_eq!(admin_login(&mut looker, "looker", "s3cret-pass-word").await.status(), 302);
    let index = page(&mut looker, "/admin/").await;
    assert!(index.contains(">Contacts</a>") && !index.contains(">Companies</a>") && !index.contains(">Users</a>"));
    let list = page(&mut looker, "/admin/crm/contact/").await;
    assert!(list.contains("Select contact to view"));
    assert!(!list.contains("Add contact") && !list.contains("/admin/crm/contact/add/"), "no add button");
    assert!(!list.contains("value=\"delete_selected\"") && !list.contains("value=\"lowercase_emails\""));
    assert!(list.contains("value=\"export_csv\""));
    let view = page(&mut looker, "/admin/crm/contact/3/change/").await;
    assert!(view.contains("View contact") && view.contains("Inês"));
    assert!(!view.contains("name=\"first_name\""), "no inputs");
    assert!(!view.contains("name=\"_save\"") && !view.contains("/delete/"), "no save or delete button");
    for url in ["/admin/crm/contact/add/", "/admin/crm/contact/3/delete/", "/admin/crm/company/", "/admin/auth/user/"] {
        assert_eq!(looker.get(url).await.status(), 403, "{url}");
    }
    let token = looker.get("/admin/crm/contact/").await.csrf_token().unwrap();
    let post = looker
        .post_form("/admin/crm/contact/3/change/", &[("csrfmiddlewaretoken", &token), ("first_name", "Hacked")])
        .await;
    assert_eq!(post.status(), 403);
    let action = looker
        .post_form(
            "/admin/crm/contact/",
            &[
                ("csrfmiddlewaretoken", &token),
                ("action", "delete_selected"),
                ("_selected_action", "3"),
                ("post", "yes"),
            ],
        )
        .await;
    assert_eq!(action.status(), 403, "an action posted without its permission");
    assert_eq!(contact::Entity::find_by_id(3).one(&db).await.unwrap().unwrap().first_name, "Inês");
    let auto = looker.get("/admin/autocomplete/?app_label=crm&model_name=deal&field_name=company_id&term=a").await;
    assert_eq!(auto.status(), 403, "autocomplete for a model the user may not see");
    let auto = looker.get("/admin/autocomplete/?app_label=crm&model_name=contact&field_name=company_id&term=a").await;
    assert_eq!(auto.status(), 403, "the companies' names, which the user may not see");

    // Add and change, no delete: the form, but no delete button or action.
    let mut editor = browser(&site);
    assert_eq!(admin_login(&mut editor, "editor", "s3cret-pass-word").await.status(), 302);
    let form = page(&mut editor, "/admin/crm/contact/3/change/").await;
    assert!(form.contains("name=\"first_name\"") && !form.contains("/delete/"));
    assert!(!page(&mut editor, "/admin/crm/contact/").await.contains("value=\"delete_selected\""));
    // The company search works: it may see contacts, whose company field searches companies.
    let auto =
        editor.get("/admin/autocomplete/?app_label=crm&model_name=contact&field_name=company_id&term=blue").await;
    assert_eq!(auto.status(), 200);
    let found: serde_json::Value = auto.json().unwrap();
    assert_eq!(found["results"][0]["text"], "Blue Harbor Foods");
    assert_eq!(found["results"][0]["id"], "2");
    assert_eq!(found["pagination"]["more"], false);
    assert_eq!(editor.get("/admin/crm/contact/3/delete/").await.status(), 403);

    // CSRF on every form: a post without the token is refused.
    let forged = editor.post_form("/admin/crm/contact/3/change/", &[("first_name", "Forged")]).await;
    assert_eq!(forged.status(), 403);
    assert!(forged.text().contains("CSRF"));
    for url in ["/admin/crm/contact/add/", "/admin/crm/contact/3/change/", "/admin/crm/contact/"] {
        assert!(page(&mut editor, url).await.contains("name=\"csrfmiddlewaretoken\""), "{url}");
    }
}

#[tokio::test]
async fn users_are_added_given_passwords_groups_and_flags() {
    let site = crm_site("admin-users", &[]);
    let db = site.database().connection().await.unwrap();
    let mut c = superuser(&site).await;
    let mismatch = submit(
        &mut c,
        "/admin/auth/user/add/",
        &[("username", "newbie"), ("password1", "correct horse battery"), ("password2", "correct horse staple")],
    )
    .await;
    assert_eq!(mismatch.status(), 200);
    assert!(mismatch.text().contains("The two password fields didn’t match."));
    let weak =
        submit(&mut c, "/admin/auth/user/add/", &[("username", "newbie"), ("password1", "123"), ("password2", "123")])
            .await;
    assert!(weak.text().contains("This password is too short."), "{}", weak.text());
    let taken = submit(
        &mut c,
        "/admin/auth/user/add/",
        &[("username", "viewer"), ("password1", "correct horse battery"), ("password2", "correct horse battery")],
    )
    .await;
    assert_eq!(taken.status(), 200);
    assert!(taken.text().contains("A user with that username already exists."));
    assert_eq!(user::Entity::find().filter(user::Column::Username.eq("viewer")).count(&db).await.unwrap(), 1);
    let added = submit(
        &mut c,
        "/admin/auth/user/add/",
        &[("username", "newbie"), ("password1", "correct horse battery"), ("password2", "correct horse battery")],
    )
    .await;
    assert_eq!(added.status(), 302, "{}", added.text());
    let newbie = user::Entity::find().filter(user::Column::Username.eq("newbie")).one(&db).await.unwrap().unwrap();
    assert!(newbie.password.starts_with("argon2$"), "hashed as everywhere else");
    assert!(!newbie.is_staff);
    let change_url = format!("/admin/auth/user/{}/change/", newbie.id);
    assert_eq!(added.location(), Some(change_url.as_str()));

    let sales =
        djambda::auth::models::group::ActiveModel { name: ActiveValue::Set("Sales".into()), ..Default::default() }
            .insert(&db)
            .await
            .unwrap();
    let add_contact = permission::Entity::find()
        .filter(permission::Column::Codename.eq("add_contact"))
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    // The change form never shows the hash; groups and permissions are pickers.
    let form = page(&mut c, &change_url).await;
    assert!(!form.contains("argon2"), "no hash on the page");
    assert!(form.contains("Raw passwords are not stored"));
    assert!(form.contains("name=\"groups\"") && form.contains("name=\"user_permissions\""));
    assert!(form.contains("crm | contact | Can add contact"));
    let group_id = sales.id.to_string();
    let perm_id = add_contact.id.to_string();
    let saved = submit(
        &mut c,
        &change_url,
        &[
            ("username", "newbie"),
            ("first_name", "New"),
            ("last_name", "Bie"),
            ("email", "newbie@example.com"),
            ("is_active", "on"),
            ("is_staff", "on"),
            ("groups", &group_id),
            ("user_permissions", &perm_id),
            ("_continue", ""),
        ],
    )
    .await;
    assert_eq!(saved.status(), 302, "{}", saved.text());
    let newbie = user::Entity::find_by_id(newbie.id).one(&db).await.unwrap().unwrap();
    assert!(newbie.is_staff && !newbie.is_superuser && newbie.is_active);
    let groups = djambda::auth::models::user_group::Entity::find()
        .filter(djambda::auth::models::user_group::Column::UserId.eq(newbie.id))
        .all(&db)
        .await
        .unwrap();
    assert_eq!(groups.iter().map(|g| g.group_id).collect::<Vec<_>>(), [sales.id]);
    let history = page(&mut c, &format!("/admin/auth/user/{}/history/", newbie.id)).await;
    assert!(history.contains("Groups") && history.contains("Sales"), "{history}");
    assert!(history.contains("Staff status"));

    // The password page: typed twice, hashed, logged without a value.
    let password_url = format!("/admin/auth/user/{}/password/", newbie.id);
    let bad = submit(&mut c, &password_url, &[("password1", "another long one"), ("password2", "different")]).await;
    assert!(bad.text().contains("didn’t match"));
    let set =
        submit(&mut c, &password_url, &[("password1", "another long one"), ("password2", "another long one")]).await;
    assert_eq!(set.status(), 302);
    let mut newbie_client = browser(&site);
    assert_eq!(
        admin_login(&mut newbie_client, "newbie", "another long one").await.status(),
        302,
        "the new password works"
    );
    let history = page(&mut c, &format!("/admin/auth/user/{}/history/", newbie.id)).await;
    assert!(history.contains("Changed Password."));
    assert!(!history.contains("argon2"));
    // Superuser flag.
    let sup = submit(
        &mut c,
        &change_url,
        &[
            ("username", "newbie"),
            ("first_name", ""),
            ("last_name", ""),
            ("email", ""),
            ("is_active", "on"),
            ("is_staff", "on"),
            ("is_superuser", "on"),
            ("_save", ""),
        ],
    )
    .await;
    assert_eq!(sup.status(), 302);
    assert!(user::Entity::find_by_id(newbie.id).one(&db).await.unwrap().unwrap().is_superuser);
    assert!(page(&mut newbie_client, "/admin/").await.contains(">Users</a>"), "a superuser sees everything");
}

#[tokio::test]
async fn tampered_urls_and_parameters_are_404s_400s_or_ignored() {
    let site = crm_site("admin-tamper", &[]);
    let mut c = superuser(&site).await;
    for url in [
        "/admin/nope/",
        "/admin/crm/nope/",
        "/admin/crm/contact/999/change/",
        "/admin/crm/contact/abc/change/",
        "/admin/crm/contact/1%20OR%201=1/change/",
        "/admin/crm/contact/99999999999999999999/change/",
        "/admin/crm/contact/999/delete/",
        "/admin/crm/contact/999/history/",
        "/admin/auth/user/999/password/",
    ] {
        assert_eq!(c.get(url).await.status(), 404, "{url}");
    }
    let odd = c.get_follow("/admin/crm/contact/-1/").await;
    assert_eq!(odd.status(), 404, "…/<pk>/ goes on to the change page, which does not find it");
    let plain = listed(&page(&mut c, "/admin/crm/contact/").await);
    for query in [
        "o=99",
        "o=abc.-.--1.0",
        "o=1.1.1.1.1.1.1.1.1.1.1.1.1.1",
        "company_id__exact=abc",
        "company_id__exact=1%27%20OR%201=1--",
        "company_id__isnull=maybe",
        "nonsense=1",
        "q=",
    ] {
        let resp = c.get(&format!("/admin/crm/contact/?{query}")).await;
        assert_eq!(resp.status(), 200, "{query}");
        if !query.starts_with('o') {
            assert_eq!(listed(&resp.text()), plain, "{query} is ignored");
        }
    }
    for query in [
        "q=%25",
        "q=_",
        "q=%27%3B%20DROP%20TABLE%20contact%3B--",
        "q=%5C",
        "expected_close__year=99999",
        "expected_close__year=2026&expected_close__month=13",
        "expected_close__year=2026&expected_close__month=2&expected_close__day=30",
        "expected_close__gte=2026-02-30",
        "expected_close__gte=yesterday",
        "stage__exact=bogus",
    ] {
        let resp = c.get(&format!("/admin/crm/deal/?{query}")).await;
        assert_eq!(resp.status(), 200, "{query}: {}", resp.text());
    }
    let percent = page(&mut c, "/admin/crm/contact/?q=%25").await;
    assert!(percent.contains("0 contacts"), "% is a character to find, not a wildcard");
    for query in ["p=abc", "p=0", "p=-1"] {
        assert_eq!(c.get(&format!("/admin/crm/contact/?{query}")).await.status(), 400, "{query}");
    }
    let auto = c.get("/admin/autocomplete/?app_label=crm&model_name=contact&field_name=title&term=x").await;
    assert_eq!(auto.status(), 403, "not an autocomplete field");
    let auto = c.get("/admin/autocomplete/?app_label=crm&model_name=contact&field_name=company_id&page=zz").await;
    assert_eq!(auto.status(), 200, "a bad page number is the first page");
    let first = c.get("/admin/autocomplete/?app_label=crm&model_name=contact&field_name=company_id&page=1").await;
    let (bad, first): (serde_json::Value, serde_json::Value) = (auto.json().unwrap(), first.json().unwrap());
    assert!(first["results"].as_array().is_some_and(|r| !r.is_empty()));
    assert_eq!(bad, first, "the same results as page 1");
    let token = c.get("/admin/crm/contact/").await.csrf_token().unwrap();
    let garbage = c
        .post_form(
            "/admin/crm/contact/",
            &[
                ("csrfmiddlewaretoken", &token),
                ("action", "delete_selected"),
                ("_selected_action", "x'; DROP TABLE contact;--"),
            ],
        )
        .await;
    assert_eq!(garbage.status(), 302, "keys that are not keys select nothing");
    let db = site.database().connection().await.unwrap();
    assert_eq!(contact::Entity::find().count(&db).await.unwrap(), 12, "nothing deleted");
    let list = page(&mut c, "/admin/crm/contact/").await;
    assert!(list.contains("12 contacts"), "{list}");
}

#[tokio::test]
async fn html_in_every_field_is_escaped_on_every_admin_page() {
    let site = crm_site("admin-escape", &[]);
    let db = site.database().connection().await.unwrap();
    let mut c = superuser(&site).await;
    let nasty = "<script>alert(1)</script>&\"'";
    let created = submit(
        &mut c,
        "/admin/crm/company/add/",
        &[("name", nasty), ("slug", "nasty"), ("industry", nasty), ("city", nasty), ("website", ""), ("_save", "")],
    )
    .await;
    assert_eq!(created.status(), 302, "{}", created.text());
    let co = company::Entity::find().filter(company::Column::Slug.eq("nasty")).one(&db).await.unwrap().unwrap();
    assert_eq!(co.name, nasty, "stored as typed");
    let added = submit(
        &mut c,
        "/admin/crm/contact/add/",
        &[
            ("first_name", nasty),
            ("last_name", "<img src=x onerror=alert(2)>"),
            ("company_id", &co.id.to_string()),
            ("title", nasty),
            ("email", "x@example.com"),
            ("phone", nasty),
            ("_save", ""),
        ],
    )
    .await;
    assert_eq!(added.status(), 302, "{}", added.text());
    let person =
        contact::Entity::find().filter(contact::Column::Email.eq("x@example.com")).one(&db).await.unwrap().unwrap();
    // Change it once so the history has from and to values holding the markup.
    let changed = submit(
        &mut c,
        &format!("/admin/crm/contact/{}/change/", person.id),
        &[
            ("first_name", nasty),
            ("last_name", "<img src=x onerror=alert(2)>"),
            ("company_id", &co.id.to_string()),
            ("title", "<b>boss</b>"),
            ("email", "x@example.com"),
            ("phone", nasty),
            ("_save", ""),
        ],
    )
    .await;
    assert_eq!(changed.status(), 302);
    for url in [
        "/admin/".to_owned(),
        "/admin/crm/company/".to_owned(),
        format!("/admin/crm/company/{}/change/", co.id),
        format!("/admin/crm/company/{}/delete/", co.id),
        format!("/admin/crm/company/{}/history/", co.id),
        "/admin/crm/contact/".to_owned(),
        format!("/admin/crm/contact/?q={}", "%3Cscript%3E"),
        format!("/admin/crm/contact/{}/change/", person.id),
        format!("/admin/crm/contact/{}/delete/", person.id),
        format!("/admin/crm/contact/{}/history/", person.id),
        "/admin/crm/deal/".to_owned(),
    ] {
        let html = page(&mut c, &url).await;
        assert!(!html.contains("<script>alert(1)"), "{url} shows markup as markup");
        assert!(!html.contains("<img src=x"), "{url}");
        assert!(!html.contains("<b>boss"), "{url}");
        assert!(shows(&html, "<script>alert(1)</script>") || url.contains("deal"), "{url} shows the text: {html}");
    }
    let auto = c.get("/admin/autocomplete/?app_label=crm&model_name=contact&field_name=company_id&term=script").await;
    let json: serde_json::Value = auto.json().unwrap();
    assert_eq!(json["results"][0]["text"], nasty, "JSON carries the text; the script inserts it as text");
    let token = c.get("/admin/crm/contact/").await.csrf_token().unwrap();
    let confirm = c
        .post_form(
            "/admin/crm/contact/",
            &[
                ("csrfmiddlewaretoken", &token),
                ("action", "delete_selected"),
                ("_selected_action", &person.id.to_string()),
            ],
        )
        .await;
    assert!(!confirm.text().contains("<script>alert(1)") && !confirm.text().contains("<img src=x"));
}

#[tokio::test]
async fn the_admin_through_a_lambda_rest_stage() {
    use crate::lambda::{Function, Req, Shape};
    let db = crate::fresh_demo_db("admin-lambda");
    let env = [
        ("DEBUG", "false"),
        ("ALLOWED_HOSTS", "*"),
        ("DATABASE_URL", db.as_str()),
        ("SECRET_KEY", crate::SECRET_KEY),
        ("SECURE_PROXY_SSL_HEADER", "X-Forwarded-Proto: https"),
    ];
    let mut function = Function::start_with(&env).await;
    let shape = Shape::Rest;
    let host = {
        let probe = shape.request(&Req::new("GET", "/", 0).anonymous());
        probe.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case("host")).unwrap().1.clone()
    };
    let origin = format!("https://{host}");
    let mut cookies: Vec<(String, String)> = Vec::new();
    // One request through the door as a browser on the stage's pages sends it.
    async fn send(
        function: &mut Function,
        cookies: &mut Vec<(String, String)>,
        origin: &str,
        method: &'static str,
        path: &str,
        form: Option<&[(&str, &str)]>,
    ) -> (u16, Option<String>, String) {
        let path = path.strip_prefix("/testStage").unwrap_or(path);
        let mut req = Req::new(method, path, 0).anonymous();
        if !cookies.is_empty() {
            let line = cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ");
            req = req.header("Cookie", &line);
        }
        if let Some(form) = form {
            let body = form
                .iter()
                .map(|(k, v)| format!("{}={}", crate::doors::encode(k), crate::doors::encode(v)))
                .collect::<Vec<_>>()
                .join("&");
            req = req
                .header("Content-Type", "application/x-www-form-urlencoded")
                .header("Origin", origin)
                .body(body.as_bytes());
        }
        let (_, seen) = function.send(Shape::Rest, &Shape::Rest.request(&req), None).await;
        for line in seen.headers.get("set-cookie").cloned().unwrap_or_default() {
            let pair = line.split(';').next().unwrap_or("");
            if let Some((k, v)) = pair.split_once('=') {
                cookies.retain(|(n, _)| n != k);
                if !line.contains("Max-Age=0") && !v.is_empty() {
                    cookies.push((k.to_owned(), v.to_owned()));
                }
            }
        }
        let location = seen.headers.get("location").and_then(|l| l.first()).cloned();
        (seen.status, location, String::from_utf8_lossy(&seen.body).into_owned())
    }
    fn token(html: &str) -> String {
        let at = html.find("name=\"csrfmiddlewaretoken\" value=\"").expect("a CSRF token") + 34;
        html[at..at + html[at..].find('"').unwrap()].to_owned()
    }
    let (status, location, _) = send(&mut function, &mut cookies, &origin, "GET", "/admin/", None).await;
    assert_eq!(status, 302);
    assert_eq!(location.as_deref(), Some("/testStage/admin/login/?next=%2FtestStage%2Fadmin%2F"));
    let (_, _, login) = send(&mut function, &mut cookies, &origin, "GET", &location.unwrap(), None).await;
    assert!(login.contains("action=\"/testStage/admin/login/\""), "the form posts to the stage");
    let t = token(&login);
    let form = [
        ("csrfmiddlewaretoken", t.as_str()),
        ("username", "demo"),
        ("password", "demo"),
        ("next", "/testStage/admin/"),
    ];
    let (status, location, body) =
        send(&mut function, &mut cookies, &origin, "POST", "/admin/login/", Some(&form)).await;
    assert_eq!(status, 302, "{body}");
    assert_eq!(location.as_deref(), Some("/testStage/admin/"));
    let (_, _, index) = send(&mut function, &mut cookies, &origin, "GET", "/admin/", None).await;
    assert!(index.contains("href=\"/testStage/admin/crm/contact/\""), "links carry the stage: {index}");
    assert!(index.contains("/testStage/static/admin/admin."), "and the static files");
    let (_, _, list) = send(&mut function, &mut cookies, &origin, "GET", "/admin/crm/contact/?q=carvalho", None).await;
    assert!(list.contains("1 contact") && list.contains("href=\"/testStage/admin/crm/contact/3/change/"), "{list}");
    // Add a contact, with a validation error first.
    let (_, _, add) = send(&mut function, &mut cookies, &origin, "GET", "/admin/crm/contact/add/", None).await;
    assert!(add.contains("/testStage/admin/autocomplete/"), "the autocomplete URL carries the stage");
    let t = token(&add);
    let mut fields = vec![
        ("csrfmiddlewaretoken", t.as_str()),
        ("first_name", "Lambda"),
        ("last_name", "Door"),
        ("company_id", "2"),
        ("title", ""),
        ("email", "nope"),
        ("phone", ""),
        ("_save", ""),
    ];
    let (status, _, bad) =
        send(&mut function, &mut cookies, &origin, "POST", "/admin/crm/contact/add/", Some(&fields)).await;
    assert_eq!(status, 200);
    assert!(bad.contains("Enter a valid email address."));
    fields.retain(|(k, _)| *k != "email");
    fields.push(("email", "lambda@example.com"));
    let (status, location, _) =
        send(&mut function, &mut cookies, &origin, "POST", "/admin/crm/contact/add/", Some(&fields)).await;
    assert_eq!(status, 302);
    assert_eq!(location.as_deref(), Some("/testStage/admin/crm/contact/"));
    let (_, _, list) = send(&mut function, &mut cookies, &origin, "GET", "/admin/crm/contact/", None).await;
    assert!(list.contains("The contact “Lambda Door” was added successfully.") && list.contains("13 contacts"));
    let (_, _, history) =
        send(&mut function, &mut cookies, &origin, "GET", "/admin/crm/contact/13/history/", None).await;
    assert!(history.contains("Added."), "{history}");
    let (status, _, _) =
        send(&mut function, &mut cookies, &origin, "GET", "/admin/crm/contact/999/change/", None).await;
    assert_eq!(status, 404, "an unknown object");

    // Filter, sort and page: the links keep the stage and the list's state.
    let (_, _, filtered) =
        send(&mut function, &mut cookies, &origin, "GET", "/admin/crm/contact/?company_id__exact=2&o=-1", None).await;
    assert!(filtered.contains("3 contacts"), "Blue Harbor's two and Lambda Door: {filtered}");
    let order: Vec<usize> = ["Lambda Door", "Inês Carvalho", "Rui Almeida"]
        .iter()
        .map(|n| filtered.find(&format!(">{n}</a>")).unwrap_or_else(|| panic!("{n} listed")))
        .collect();
    assert!(order[0] < order[1] && order[1] < order[2], "by last name, descending");
    assert!(filtered.contains("href=\"/testStage/admin/crm/contact/13/change/?_changelist_filters="), "{filtered}");
    let (status, _, _) = send(&mut function, &mut cookies, &origin, "GET", "/admin/crm/contact/?p=abc", None).await;
    assert_eq!(status, 400, "a page that is not a number");

    // Change it, back to the filtered list it came from; the history names the field.
    let (_, _, form) = send(
        &mut function,
        &mut cookies,
        &origin,
        "GET",
        "/admin/crm/contact/13/change/?_changelist_filters=company_id__exact%3D2",
        None,
    )
    .await;
    assert!(form.contains("name=\"_changelist_filters\" value=\"company_id__exact=2\""), "{form}");
    let t = token(&form);
    let change = [
        ("csrfmiddlewaretoken", t.as_str()),
        ("_changelist_filters", "company_id__exact=2"),
        ("first_name", "Lambda"),
        ("last_name", "Door"),
        ("company_id", "2"),
        ("title", "Serverless lead"),
        ("email", "lambda@example.com"),
        ("phone", ""),
        ("_save", ""),
    ];
    let (status, location, _) =
        send(&mut function, &mut cookies, &origin, "POST", "/admin/crm/contact/13/change/", Some(&change)).await;
    assert_eq!(status, 302);
    assert_eq!(location.as_deref(), Some("/testStage/admin/crm/contact/?company_id__exact=2"));
    let (_, _, history) =
        send(&mut function, &mut cookies, &origin, "GET", "/admin/crm/contact/13/history/", None).await;
    assert!(history.contains("Changed Title.") && history.contains("Serverless lead"), "{history}");

    // An inline: a contact added on its company's form.
    let (_, _, company) = send(&mut function, &mut cookies, &origin, "GET", "/admin/crm/company/5/change/", None).await;
    let t = token(&company);
    let inline = [
        ("csrfmiddlewaretoken", t.as_str()),
        ("name", "Everly & Sons Books"),
        ("slug", "everly-books"),
        ("industry", "Retail"),
        ("city", "Edinburgh"),
        ("website", ""),
        ("contact_set-TOTAL_FORMS", "1"),
        ("contact_set-INITIAL_FORMS", "0"),
        ("contact_set-0-first_name", "Ina"),
        ("contact_set-0-last_name", "Line"),
        ("contact_set-0-title", ""),
        ("contact_set-0-email", "ina@everly.example"),
        ("contact_set-0-phone", ""),
        ("_continue", ""),
    ];
    let (status, location, body) =
        send(&mut function, &mut cookies, &origin, "POST", "/admin/crm/company/5/change/", Some(&inline)).await;
    assert_eq!(status, 302, "{body}");
    assert_eq!(location.as_deref(), Some("/testStage/admin/crm/company/5/change/"));
    let (_, _, company) = send(&mut function, &mut cookies, &origin, "GET", "/admin/crm/company/5/change/", None).await;
    assert!(company.contains("value=\"Ina\""), "the inline row is there");

    // Actions: export two contacts as CSV, then delete them after the confirmation.
    let (_, _, list) = send(&mut function, &mut cookies, &origin, "GET", "/admin/crm/contact/", None).await;
    let t = token(&list);
    let export = [
        ("csrfmiddlewaretoken", t.as_str()),
        ("action", "export_csv"),
        ("_selected_action", "4"),
        ("_selected_action", "13"),
    ];
    let (status, _, csv) =
        send(&mut function, &mut cookies, &origin, "POST", "/admin/crm/contact/", Some(&export)).await;
    assert_eq!(status, 200);
    assert!(
        csv.starts_with("\"Name\",\"Company name\"") && csv.contains("\"Lambda Door\",\"Blue Harbor Foods\""),
        "{csv}"
    );
    let delete = [("csrfmiddlewaretoken", t.as_str()), ("action", "delete_selected"), ("_selected_action", "13")];
    let (status, _, confirm) =
        send(&mut function, &mut cookies, &origin, "POST", "/admin/crm/contact/", Some(&delete)).await;
    assert_eq!(status, 200);
    assert!(
        confirm.contains("Are you sure you want to delete the selected contacts?") && confirm.contains("Lambda Door")
    );
    assert!(confirm.contains("action=\"/testStage/admin/crm/contact/\""), "the confirmation posts to the stage");
    let t = token(&confirm);
    let sure = [
        ("csrfmiddlewaretoken", t.as_str()),
        ("action", "delete_selected"),
        ("_selected_action", "13"),
        ("post", "yes"),
    ];
    let (status, location, _) =
        send(&mut function, &mut cookies, &origin, "POST", "/admin/crm/contact/", Some(&sure)).await;
    assert_eq!((status, location.as_deref()), (302, Some("/testStage/admin/crm/contact/")));
    let (status, _, _) = send(&mut function, &mut cookies, &origin, "GET", "/admin/crm/contact/13/change/", None).await;
    assert_eq!(status, 404, "deleted");
    // One object's delete page, then the delete.
    let (_, _, confirm) =
        send(&mut function, &mut cookies, &origin, "GET", "/admin/crm/contact/10/delete/", None).await;
    let t = token(&confirm);
    let (status, _, _) = send(
        &mut function,
        &mut cookies,
        &origin,
        "POST",
        "/admin/crm/contact/10/delete/",
        Some(&[("csrfmiddlewaretoken", t.as_str()), ("post", "yes")]),
    )
    .await;
    assert_eq!(status, 302);

    // A staff user who may only look: no buttons, and 403 for what they try anyway.
    {
        let site =
            example_site::site_with_settings(crate::example_settings_with(&[("DATABASE_URL", db.as_str())])).unwrap();
        staff_with(&site, "looker", &["crm.view_contact"]).await;
    }
    let mut looker: Vec<(String, String)> = Vec::new();
    let (_, _, login) = send(&mut function, &mut looker, &origin, "GET", "/admin/login/", None).await;
    let t = token(&login);
    let form =
        [("csrfmiddlewaretoken", t.as_str()), ("username", "looker"), ("password", "s3cret-pass-word"), ("next", "")];
    let (status, _, _) = send(&mut function, &mut looker, &origin, "POST", "/admin/login/", Some(&form)).await;
    assert_eq!(status, 302);
    let (_, _, list) = send(&mut function, &mut looker, &origin, "GET", "/admin/crm/contact/", None).await;
    assert!(list.contains("Select contact to view") && !list.contains("/admin/crm/contact/add/"), "{list}");
    assert!(!list.contains("value=\"delete_selected\""));
    let (status, _, _) = send(&mut function, &mut looker, &origin, "GET", "/admin/crm/contact/add/", None).await;
    assert_eq!(status, 403);
    let t = token(&list);
    let post = [("csrfmiddlewaretoken", t.as_str()), ("first_name", "Nope")];
    let (status, _, _) =
        send(&mut function, &mut looker, &origin, "POST", "/admin/crm/contact/3/change/", Some(&post)).await;
    assert_eq!(status, 403);
    let (status, _, _) = send(&mut function, &mut looker, &origin, "GET", "/admin/crm/company/", None).await;
    assert_eq!(status, 403);
}

/// How many times the custom site's `touch_groups` action ran.
static TOUCHED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// The example site with groups registered anew, with an action needing `permission`.
fn site_with_group_action(tag: &str, permission: &str) -> Result<Site, djambda::ConfigError> {
    use djambda::admin::{ModelAdmin, Registrations};
    use djambda::auth::models::group;
    let url = crate::fresh_demo_db(tag);
    let admin = ModelAdmin::<group::Entity>::new().list_display(["name"]).search_fields(["name"]).action(
        "touch_groups",
        "Touch the selected groups",
        permission,
        |_req: djambda::Request, rows: Vec<group::Model>| async move {
            TOUCHED.fetch_add(rows.len(), std::sync::atomic::Ordering::SeqCst);
            Ok(None)
        },
    );
    example_site::builder(crate::example_settings_with(&[("DATABASE_URL", url.as_str())]))
        .app(djambda::App::new("teams").contribute(Registrations::new().unregister("auth.group").register(admin)))
        .build()
}

/// Posts the change list's action form of `list_url` for the rows `ids`.
async fn post_action(c: &mut Client, list_url: &str, action: &str, ids: &[&str]) -> TestResponse {
    let token = c.get(list_url).await.csrf_token().expect("a CSRF token on the list");
    let mut form = vec![("csrfmiddlewaretoken", token.as_str()), ("action", action)];
    form.extend(ids.iter().map(|id| ("_selected_action", *id)));
    c.post_form(list_url, &form).await
}

#[tokio::test]
async fn actions_are_offered_and_run_only_with_their_permissions() {
    // A permission that is none of the model's four nor a full name stops the site: it would
    // otherwise fall back to whoever may look.
    let misspelt = site_with_group_action("admin-action-misspelt", "chnage");
    let Err(problem) = misspelt.map(|_| ()) else { panic!("a misspelt permission is refused") };
    let problem = problem.to_string();
    assert!(problem.contains("touch_groups") && problem.contains("chnage"), "{problem}");

    // A permission of another model (Django's allowed_permissions): the view permission on
    // groups is not enough to see or run it.
    let site = site_with_group_action("admin-action-perms", "auth.change_user").unwrap();
    let db = site.database().connection().await.unwrap();
    djambda::auth::models::group::ActiveModel { name: ActiveValue::Set("Sales".into()), ..Default::default() }
        .insert(&db)
        .await
        .unwrap();
    let sales = djambda::auth::models::group::Entity::find().one(&db).await.unwrap().unwrap().id.to_string();
    staff_with(&site, "group_looker", &["auth.view_group"]).await;
    staff_with(&site, "group_toucher", &["auth.view_group", "auth.change_user"]).await;
    let mut looker = browser(&site);
    assert_eq!(admin_login(&mut looker, "group_looker", "s3cret-pass-word").await.status(), 302);
    let list = page(&mut looker, "/admin/auth/group/").await;
    assert!(list.contains(">Sales</a>"), "{list}");
    assert!(!list.contains("value=\"touch_groups\""), "not offered: {list}");
    assert!(list.contains("value=\"export_csv\"") && !list.contains("value=\"delete_selected\""));
    let before = TOUCHED.load(std::sync::atomic::Ordering::SeqCst);
    let refused = post_action(&mut looker, "/admin/auth/group/", "touch_groups", &[&sales]).await;
    assert_eq!(refused.status(), 403, "{}", refused.text());
    assert_eq!(TOUCHED.load(std::sync::atomic::Ordering::SeqCst), before, "not run");
    let mut toucher = browser(&site);
    assert_eq!(admin_login(&mut toucher, "group_toucher", "s3cret-pass-word").await.status(), 302);
    assert!(page(&mut toucher, "/admin/auth/group/").await.contains("value=\"touch_groups\""));
    let ran = post_action(&mut toucher, "/admin/auth/group/", "touch_groups", &[&sales]).await;
    assert_eq!(ran.status(), 302, "{}", ran.text());
    assert_eq!(TOUCHED.load(std::sync::atomic::Ordering::SeqCst), before + 1, "run once, on the one group");

    // The crm's own: the change permission for "lower-case emails", delete for "delete".
    let site = crm_site("admin-action-crm", &[]);
    let db = site.database().connection().await.unwrap();
    contact::Entity::update_many()
        .col_expr(contact::Column::Email, djambda::db::sea_orm::sea_query::Expr::value("Rui@BlueHarbor.Example"))
        .filter(contact::Column::Id.eq(4))
        .exec(&db)
        .await
        .unwrap();
    staff_with(&site, "looker", &["crm.view_contact"]).await;
    let mut looker = browser(&site);
    assert_eq!(admin_login(&mut looker, "looker", "s3cret-pass-word").await.status(), 302);
    let refused = post_action(&mut looker, "/admin/crm/contact/", "lowercase_emails", &["4"]).await;
    assert_eq!(refused.status(), 403);
    assert_eq!(contact::Entity::find_by_id(4).one(&db).await.unwrap().unwrap().email, "Rui@BlueHarbor.Example");
    let confirm = post_action(&mut looker, "/admin/crm/contact/", "delete_selected", &["4"]).await;
    assert_eq!(confirm.status(), 403, "not even the confirmation page");
    assert!(contact::Entity::find_by_id(4).one(&db).await.unwrap().is_some());
    let csv = post_action(&mut looker, "/admin/crm/contact/", "export_csv", &["4"]).await;
    assert_eq!(csv.status(), 200, "the view permission is enough to export");
    assert!(csv.text().contains("Rui Almeida"), "{}", csv.text());
}

#[tokio::test]
async fn a_long_change_keeps_its_history_bounded() {
    let site = crm_site("admin-long-history", &[]);
    let db = site.database().connection().await.unwrap();
    let mut c = superuser(&site).await;
    let body = "b".repeat(djambda::admin::history::MAX_VALUE_CHARS + 5000);
    note_edit_with_long_bodies(&mut c, &db, "sqlite", &body).await;
    let entry = log_entry::Entity::find()
        .filter(log_entry::Column::ModelName.eq("note"))
        .order_by_desc(log_entry::Column::Id)
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    let message: serde_json::Value = serde_json::from_str(&entry.change_message).unwrap();
    let to = message[0]["changed"]["fields"][0]["to"].as_str().unwrap();
    assert_eq!(to.chars().count(), djambda::admin::history::MAX_VALUE_CHARS + 1, "cut, with its mark");
    assert!(to.ends_with('…'));
}

/// Gives note 1 a long body, then changes it through the admin to `body`: the change and its
/// history entry are saved, and the history page shows the entry.
async fn note_edit_with_long_bodies(
    c: &mut Client,
    db: &djambda::db::sea_orm::DatabaseConnection,
    tag: &str,
    body: &str,
) {
    let before = "a".repeat(body.len());
    note::Entity::update_many()
        .col_expr(note::Column::Body, djambda::db::sea_orm::sea_query::Expr::value(before))
        .filter(note::Column::Id.eq(1))
        .exec(db)
        .await
        .unwrap();
    let current = note::Entity::find_by_id(1).one(db).await.unwrap().unwrap();
    let contact = current.contact_id.map(|i| i.to_string()).unwrap_or_default();
    let deal = current.deal_id.map(|i| i.to_string()).unwrap_or_default();
    let saved = submit(
        c,
        "/admin/crm/note/1/change/",
        &[("body", body), ("contact_id", &contact), ("deal_id", &deal), ("_save", "")],
    )
    .await;
    assert_eq!(saved.status(), 302, "{tag}: {}", saved.text());
    assert_eq!(note::Entity::find_by_id(1).one(db).await.unwrap().unwrap().body, body, "{tag}");
    let history = page(c, "/admin/crm/note/1/history/").await;
    assert!(history.contains("Changed Body."), "{tag}: {history}");
}

#[tokio::test]
async fn the_picker_keeps_the_links_it_did_not_offer() {
    let site = crm_site("admin-m2m-unlisted", &[]);
    let db = site.database().connection().await.unwrap();
    let mut c = superuser(&site).await;
    // More groups than a picker lists; the user is in the last one, which it cannot show.
    let names: Vec<String> = (0..2100).map(|i| format!("('Team {i:04}')")).collect();
    db.execute_unprepared(&format!("INSERT INTO auth_group (name) VALUES {}", names.join(", "))).await.unwrap();
    let viewer = user::Entity::find().filter(user::Column::Username.eq("viewer")).one(&db).await.unwrap().unwrap();
    let last = djambda::auth::models::group::Entity::find()
        .filter(djambda::auth::models::group::Column::Name.eq("Team 2099"))
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    let first = djambda::auth::models::group::Entity::find()
        .filter(djambda::auth::models::group::Column::Name.eq("Team 0000"))
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    for g in [first.id, last.id] {
        djambda::auth::models::user_group::ActiveModel {
            user_id: ActiveValue::Set(viewer.id),
            group_id: ActiveValue::Set(g),
            ..Default::default()
        }
        .insert(&db)
        .await
        .unwrap();
    }
    let url = format!("/admin/auth/user/{}/change/", viewer.id);
    let form = page(&mut c, &url).await;
    assert!(form.contains("> Team 0000</label>"), "the picker lists the first groups");
    assert!(!form.contains("> Team 2099</label>"), "not all of them");
    // The form as a browser sends it: the one group it showed unselected, the rest as they were.
    let saved = submit(
        &mut c,
        &url,
        &[
            ("username", "viewer"),
            ("first_name", &viewer.first_name),
            ("last_name", &viewer.last_name),
            ("email", &viewer.email),
            ("is_active", "on"),
            ("_save", ""),
        ],
    )
    .await;
    assert_eq!(saved.status(), 302, "{}", saved.text());
    let mut kept: Vec<i32> = djambda::auth::models::user_group::Entity::find()
        .filter(djambda::auth::models::user_group::Column::UserId.eq(viewer.id))
        .all(&db)
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.group_id)
        .collect();
    kept.sort_unstable();
    assert_eq!(kept, [last.id], "the shown group is removed, the one not shown is kept");
}

#[tokio::test]
async fn a_staff_user_who_deletes_their_own_account_is_logged_out() {
    let site = crm_site("admin-delete-self", &[]);
    let db = site.database().connection().await.unwrap();
    let perms = ["auth.view_user", "auth.delete_user"];
    let alone = staff_with(&site, "leaver", &perms).await;
    let mut c = browser(&site);
    assert_eq!(admin_login(&mut c, "leaver", "s3cret-pass-word").await.status(), 302);
    let gone = submit(&mut c, &format!("/admin/auth/user/{alone}/delete/"), &[("post", "yes")]).await;
    assert_eq!(gone.status(), 302, "{}", gone.text());
    assert_eq!(gone.location(), Some("/admin/login/"));
    assert!(user::Entity::find_by_id(alone).one(&db).await.unwrap().is_none(), "deleted");
    let after = c.get("/admin/").await;
    assert_eq!(after.status(), 302, "logged out");
    assert!(after.location().unwrap_or("").starts_with("/admin/login/"));
    let login = c.get("/admin/login/").await;
    assert_eq!(login.status(), 200, "{}", login.text());

    // The same through "delete selected", with another user in the selection.
    let me = staff_with(&site, "leaver2", &perms).await;
    let other = staff_with(&site, "other", &[]).await;
    let mut c = browser(&site);
    assert_eq!(admin_login(&mut c, "leaver2", "s3cret-pass-word").await.status(), 302);
    let (me_s, other_s) = (me.to_string(), other.to_string());
    let token = c.get("/admin/auth/user/").await.csrf_token().unwrap();
    let done = c
        .post_form(
            "/admin/auth/user/",
            &[
                ("csrfmiddlewaretoken", &token),
                ("action", "delete_selected"),
                ("_selected_action", &me_s),
                ("_selected_action", &other_s),
                ("post", "yes"),
            ],
        )
        .await;
    assert_eq!(done.status(), 302, "{}", done.text());
    assert_eq!(done.location(), Some("/admin/login/"));
    for id in [me, other] {
        assert!(user::Entity::find_by_id(id).one(&db).await.unwrap().is_none());
    }
    assert_eq!(c.get("/admin/").await.status(), 302);
    // The demo superuser's list is whole, and no entry names a user who is gone.
    let mut demo = superuser(&site).await;
    let list = page(&mut demo, "/admin/auth/user/").await;
    assert!(!list.contains(">leaver<") && !list.contains(">leaver2<") && list.contains(">demo<"), "{list}");
    let orphans = log_entry::Entity::find().filter(log_entry::Column::UserId.is_in([alone, me])).count(&db).await;
    assert_eq!(orphans.unwrap(), 0);
}

/// The company form with its two contacts' rows posted as `rows` (Rui's title changed, Inês
/// marked for deletion, a new contact), by a user with `contact_perms` on contacts.
async fn inline_post_as(site: &Site, username: &str, contact_perms: &[&str]) -> TestResponse {
    let mut perms = vec!["crm.view_company", "crm.change_company"];
    perms.extend_from_slice(contact_perms);
    staff_with(site, username, &perms).await;
    let mut c = browser(site);
    assert_eq!(admin_login(&mut c, username, "s3cret-pass-word").await.status(), 302);
    submit(
        &mut c,
        "/admin/crm/company/2/change/",
        &[
            ("name", "Blue Harbor Foods"),
            ("slug", "blue-harbor-foods"),
            ("industry", "Food distribution"),
            ("city", "Lisbon"),
            ("website", ""),
            ("contact_set-TOTAL_FORMS", "3"),
            ("contact_set-INITIAL_FORMS", "2"),
            ("contact_set-0-id", "4"),
            ("contact_set-0-first_name", "Rui"),
            ("contact_set-0-last_name", "Almeida"),
            ("contact_set-0-title", "Tampered"),
            ("contact_set-0-email", "rui@blueharbor.example"),
            ("contact_set-0-phone", ""),
            ("contact_set-1-id", "3"),
            ("contact_set-1-first_name", "Inês"),
            ("contact_set-1-last_name", "Carvalho"),
            ("contact_set-1-title", "CFO"),
            ("contact_set-1-email", "ines@blueharbor.example"),
            ("contact_set-1-phone", ""),
            ("contact_set-1-DELETE", "on"),
            ("contact_set-2-first_name", "Smuggled"),
            ("contact_set-2-last_name", "In"),
            ("contact_set-2-title", ""),
            ("contact_set-2-email", "smuggled@example.com"),
            ("contact_set-2-phone", ""),
            ("deal_set-TOTAL_FORMS", "1"),
            ("deal_set-INITIAL_FORMS", "1"),
            ("deal_set-0-id", "3"),
            ("deal_set-0-title", "Tampered deal"),
            ("deal_set-0-stage", "won"),
            ("deal_set-0-amount", "1.00"),
            ("deal_set-0-expected_close", "2027-01-20"),
            ("_save", ""),
        ],
    )
    .await
}

#[tokio::test]
async fn inlines_follow_the_permissions_on_their_rows() {
    async fn state(db: &djambda::db::sea_orm::DatabaseConnection) -> (String, bool, bool, String) {
        let rui = contact::Entity::find_by_id(4).one(db).await.unwrap().unwrap().title;
        let ines = contact::Entity::find_by_id(3).one(db).await.unwrap().is_some();
        let smuggled =
            contact::Entity::find().filter(contact::Column::FirstName.eq("Smuggled")).one(db).await.unwrap().is_some();
        let deal = deal::Entity::find_by_id(3).one(db).await.unwrap().unwrap().title;
        (rui, ines, smuggled, deal)
    }
    let untouched = |rui: &str| (rui.to_owned(), true, false, "Cold-chain monitoring".to_owned());

    // Seeing contacts only: the rows are read-only, and a post changes none of them; the
    // deals, which the user may not even see, are left alone too.
    let site = crm_site("admin-inline-view", &[]);
    let db = site.database().connection().await.unwrap();
    let title = contact::Entity::find_by_id(4).one(&db).await.unwrap().unwrap().title;
    let resp = inline_post_as(&site, "inline_viewer", &["crm.view_contact"]).await;
    assert_eq!(resp.status(), 302, "{}", resp.text());
    assert_eq!(state(&db).await, untouched(&title));
    let mut c = browser(&site);
    assert_eq!(admin_login(&mut c, "inline_viewer", "s3cret-pass-word").await.status(), 302);
    let form = page(&mut c, "/admin/crm/company/2/change/").await;
    assert!(form.contains("Rui") && !form.contains("name=\"contact_set-0-title\""), "read-only rows: {form}");
    assert!(!form.contains("contact_set-0-DELETE") && !form.contains("contact_set-__prefix__"), "no delete, no add");

    // Adding only: the new row is saved, the others are not changed or deleted.
    let site = crm_site("admin-inline-add", &[]);
    let db = site.database().connection().await.unwrap();
    let resp = inline_post_as(&site, "inline_adder", &["crm.view_contact", "crm.add_contact"]).await;
    assert_eq!(resp.status(), 302, "{}", resp.text());
    assert_eq!(state(&db).await, (title.clone(), true, true, "Cold-chain monitoring".to_owned()));

    // Changing, no add or delete: the change only.
    let site = crm_site("admin-inline-change", &[]);
    let db = site.database().connection().await.unwrap();
    let resp = inline_post_as(&site, "inline_changer", &["crm.view_contact", "crm.change_contact"]).await;
    assert_eq!(resp.status(), 302, "{}", resp.text());
    assert_eq!(state(&db).await, ("Tampered".to_owned(), true, false, "Cold-chain monitoring".to_owned()));

    // Deleting only: the delete only.
    let site = crm_site("admin-inline-delete", &[]);
    let db = site.database().connection().await.unwrap();
    let resp = inline_post_as(&site, "inline_deleter", &["crm.view_contact", "crm.delete_contact"]).await;
    assert_eq!(resp.status(), 302, "{}", resp.text());
    assert_eq!(state(&db).await, (title.clone(), false, false, "Cold-chain monitoring".to_owned()));
}

#[tokio::test]
async fn the_history_comes_a_page_at_a_time() {
    let site = crm_site("admin-history-pages", &[]);
    let db = site.database().connection().await.unwrap();
    let mut c = superuser(&site).await;
    let demo = user::Entity::find().filter(user::Column::Username.eq("demo")).one(&db).await.unwrap().unwrap().id;
    let start = chrono::Utc::now() - chrono::Duration::days(1);
    let entries = (0..250).map(|i| log_entry::ActiveModel {
        action_time: ActiveValue::Set(start + chrono::Duration::seconds(i)),
        user_id: ActiveValue::Set(demo),
        app_label: ActiveValue::Set("crm".into()),
        model_name: ActiveValue::Set("contact".into()),
        object_id: ActiveValue::Set("1".into()),
        object_repr: ActiveValue::Set("Maarten de Vries".into()),
        action_flag: ActiveValue::Set(2),
        change_message: ActiveValue::Set(format!(
            "[{{\"changed\":{{\"fields\":[{{\"name\":\"title\",\"label\":\"Step{i:03}\"}}]}}}}]"
        )),
        ..Default::default()
    });
    log_entry::Entity::insert_many(entries).exec_without_returning(&db).await.unwrap();
    let steps = |html: &str| -> Vec<String> {
        html.split("Changed Step").skip(1).map(|s| s[..3].to_owned()).collect::<Vec<_>>()
    };
    let first = page(&mut c, "/admin/crm/contact/1/history/").await;
    assert_eq!(steps(&first).len(), 100, "a page of 100");
    assert!(first.contains("250 entries") && first.contains("aria-label=\"Page 3\""), "{first}");
    assert!(!first.contains("aria-label=\"Page 4\""));
    let last = page(&mut c, "/admin/crm/contact/1/history/?p=3").await;
    assert_eq!(steps(&last).len(), 50, "the last page holds the rest");
    assert!(last.contains("aria-current=\"page\">3</span>"));
    let mut all: Vec<String> = Vec::new();
    for p in 1..=3 {
        all.extend(steps(&page(&mut c, &format!("/admin/crm/contact/1/history/?p={p}")).await));
    }
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 250, "the pages neither overlap nor skip an entry");
    assert_eq!(steps(&page(&mut c, "/admin/crm/contact/1/history/?p=99").await), steps(&last), "past the end");
    for bad in ["0", "abc", "-1", "99999999999999999999999"] {
        let resp = c.get(&format!("/admin/crm/contact/1/history/?p={bad}")).await;
        assert_eq!(resp.status(), 400, "p={bad}");
    }
    // A short history has no page links.
    let short = page(&mut c, "/admin/crm/contact/2/history/").await;
    assert!(!short.contains("aria-label=\"Page"), "{short}");
}

#[tokio::test]
async fn a_username_taken_meanwhile_is_a_form_error() {
    let site = crm_site("admin-user-race", &[]);
    let db = site.database().connection().await.unwrap();
    let mut c = superuser(&site).await;
    // Another add of the same name commits between this add's check and its insert: a
    // trigger plays the other request.
    db.execute_unprepared(
        "CREATE TRIGGER racer BEFORE INSERT ON auth_user WHEN NEW.username = 'racer' \
         AND NOT EXISTS (SELECT 1 FROM auth_user WHERE username = 'racer') BEGIN \
         INSERT INTO auth_user (password, last_login, is_superuser, username, first_name, last_name, email, \
         is_staff, is_active, date_joined) VALUES ('!', NULL, 0, 'racer', '', '', '', 0, 1, '2026-01-01 00:00:00'); END",
    )
    .await
    .unwrap();
    let resp = submit(
        &mut c,
        "/admin/auth/user/add/",
        &[("username", "racer"), ("password1", "correct horse battery"), ("password2", "correct horse battery")],
    )
    .await;
    assert_eq!(resp.status(), 200, "{}", resp.text());
    assert!(resp.text().contains("A user with that username already exists."), "{}", resp.text());
    // (SQLite undoes the trigger's row with the statement that failed.) No account of this add.
    let added = user::Entity::find()
        .filter(user::Column::Username.eq("racer"))
        .filter(user::Column::Password.starts_with("argon2"))
        .count(&db)
        .await
        .unwrap();
    assert_eq!(added, 0);
    let logged = log_entry::Entity::find().filter(log_entry::Column::ObjectRepr.eq("racer")).count(&db).await;
    assert_eq!(logged.unwrap(), 0, "no history for an add that did not happen");
}

/// The admin on a real server: the change list with its search (LIKE on lower-cased text),
/// filters, the date hierarchy (its SQL differs by backend), sorting by a related column, and
/// a save with history, on a scratch database of the server at `base`.
async fn admin_on_server(base: &str, tag: &str) {
    let name = format!("djambda_{tag}_{}", std::process::id());
    let url = crate::auth::scratch_database(base, &name).await;
    crate::auth::manage_ok(&url, &["migrate"]);
    crate::auth::manage_ok(&url, &["loaddata", "demo"]);
    let site =
        example_site::site_with_settings(crate::example_settings_with(&[("DATABASE_URL", url.as_str())])).unwrap();
    let mut c = superuser(&site).await;
    let list = page(&mut c, "/admin/crm/contact/?q=ACME&o=-2.1").await;
    assert!(list.contains("3 contacts"), "{tag}: case aside: {list}");
    let deals = page(&mut c, "/admin/crm/deal/").await;
    assert!(deals.contains("expected_close__year=2026"), "{tag}: the hierarchy's years");
    let months = page(&mut c, "/admin/crm/deal/?expected_close__year=2026").await;
    let month: &str = months.split("expected_close__month=").nth(1).map(|s| &s[..s.find('"').unwrap()]).unwrap();
    let days = page(&mut c, &format!("/admin/crm/deal/?expected_close__year=2026&expected_close__month={month}")).await;
    assert!(days.contains("expected_close__day="), "{tag}: the hierarchy's days");
    let notes = page(&mut c, "/admin/crm/note/?created_at__year=2026").await;
    assert!(notes.contains("created_at__month="), "{tag}: a timestamp's hierarchy: {notes}");
    let won = page(&mut c, "/admin/crm/deal/?stage__exact=won&company_id__exact=1&o=2").await;
    assert!(won.contains("Warehouse scanners"), "{tag}");
    let changed = submit(
        &mut c,
        "/admin/crm/contact/3/change/",
        &[
            ("first_name", "Inês"),
            ("last_name", "Carvalho"),
            ("company_id", "1"),
            ("title", "CFO"),
            ("email", "ines@blueharbor.example"),
            ("phone", ""),
            ("_save", ""),
        ],
    )
    .await;
    assert_eq!(changed.status(), 302, "{tag}: {}", changed.text());
    let history = page(&mut c, "/admin/crm/contact/3/history/").await;
    assert!(history.contains("Blue Harbor Foods") && history.contains("Acme Logistics"), "{tag}: {history}");
    let deleted = submit(&mut c, "/admin/crm/company/2/delete/", &[("post", "yes")]).await;
    assert_eq!(deleted.status(), 302, "{tag}: the cascade on the server");
    // A long text changed: its old and new values (bounded) fit the history's column, which
    // on MySQL is a LONGTEXT.
    let db = site.database().connection().await.unwrap();
    note_edit_with_long_bodies(&mut c, &db, tag, &"b".repeat(40_000)).await;
    if db.get_database_backend() == djambda::db::sea_orm::DatabaseBackend::MySql {
        let row = db
            .query_one_raw(djambda::db::sea_orm::Statement::from_string(
                djambda::db::sea_orm::DatabaseBackend::MySql,
                "SELECT CAST(DATA_TYPE AS CHAR) AS t FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() \
                 AND TABLE_NAME = 'djambda_admin_log' AND COLUMN_NAME = 'change_message'",
            ))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.try_get::<String>("", "t").unwrap().to_lowercase(), "longtext", "{tag}");
    }
    drop(db);
    drop(c);
    drop(site);
    let admin = djambda::db::sea_orm::Database::connect(base).await.unwrap();
    let _ = admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name}")).await;
}

#[tokio::test]
#[ignore = "needs DJAMBDA_TEST_POSTGRES_URL (a PostgreSQL database; .ci/run sets it)"]
async fn the_admin_on_postgres() {
    let base = std::env::var("DJAMBDA_TEST_POSTGRES_URL").expect("DJAMBDA_TEST_POSTGRES_URL");
    admin_on_server(&base, "admin_pg").await;
}

#[tokio::test]
#[ignore = "needs DJAMBDA_TEST_MYSQL_URL (a MySQL or MariaDB database; .ci/run sets it)"]
async fn the_admin_on_mysql() {
    let base = std::env::var("DJAMBDA_TEST_MYSQL_URL").expect("DJAMBDA_TEST_MYSQL_URL");
    admin_on_server(&base, "admin_my").await;
}
