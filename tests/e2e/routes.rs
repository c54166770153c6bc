//! The route table: every route of the example site, found by walking its URL conf (not a hand
//! list), tried with every method it takes as an anonymous visitor, as the viewer (logged in,
//! no permission) and as a user holding exactly the one permission the route needs. Anonymous
//! visitors are sent to log in; the viewer gets 403 and the database stays as it was; the
//! permitted user gets the page and, for a POST, the write, checked row by row.
//!
//! What a route needs is derived from its name, as the CRM names them (`<model>-create` needs
//! `crm.add_<model>`, `-update` `crm.change_…`, `-delete` `crm.delete_…`), not read from the
//! guard it carries: a guard that is missing, names the wrong permission or leaves a method
//! out fails here. A route this table cannot classify fails too, so a new route is looked at.
//!
//! The admin's routes have a guard of their own (staff only, with the admin's login page; what
//! each staff user may do is tests/e2e/admin.rs's): anonymous visitors and the viewer, who is
//! not staff, are sent to the admin's login, and write nothing.

use std::collections::BTreeMap;

use djambda::Site;
use djambda::auth::models::{permission, user, user_permission};
use djambda::auth::{LoginNotRequired, RequiredPermissions};
use djambda::db::sea_orm::{ActiveModelTrait, ActiveValue, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use djambda::http::Method;
use djambda::test::{Client, TestResponse};

use crate::doors::encode;
use example_site::crm::models::{company, contact, deal, note};

const PASSWORD: &str = "route-table-password";

/// The routes an anonymous visitor may use.
const OPEN: [&str; 10] = [
    "login",
    "logout",
    "health:alive",
    "health:ready",
    "password_reset",
    "password_reset_done",
    "password_reset_confirm",
    "password_reset_complete",
    "admin:login",
    "admin:logout",
];

/// Routes without a permission that take POST and must write nothing (a calculator, a
/// dry-run import, and a password change whose old password is wrong): the viewer may use
/// them, and the database is checked to stay as it was. (auth.rs changes a password.)
const WRITES_NOTHING: [&str; 3] = ["crm:forecast", "crm:api-contact-import", "password_change"];

/// The permission a route needs, from its name; `None` for the pages every logged-in user may
/// read.
fn needed_permission(name: &str) -> Option<String> {
    if name == "invite_user" || name == "invite_user_done" {
        return Some("auth.add_user".into());
    }
    let local = name.strip_prefix("crm:")?;
    if local == "contact-import" {
        return Some("crm.add_contact".into());
    }
    // It enqueues a task whose work is writing a note.
    if local == "company-recalculate" {
        return Some("crm.add_note".into());
    }
    let (model, action) = local.rsplit_once('-')?;
    let verb = match action {
        "create" => "add",
        "update" => "change",
        "delete" => "delete",
        _ => return None,
    };
    Some(format!("crm.{verb}_{model}"))
}

/// The value of a path parameter for a route: rows of the demo data, chosen so that no route
/// deletes what another one reads (Everly Books, contact 8, deal 3 and note 2 are the ones
/// deleted; nothing else uses them).
fn param(route: &str, key: &str) -> String {
    let value = match (route.trim_start_matches("crm:"), key) {
        ("company-delete", "slug") => "everly-books",
        (_, "slug") => "acme-logistics",
        ("contact-delete", "pk") => "8",
        ("deal-delete", "pk") => "3",
        ("note-update", "pk") => "1",
        ("note-delete", "pk") => "2",
        (_, "object_id") => "1",
        (_, "app_label") => "crm",
        (r, "pk") if r.starts_with("deal") => "1",
        (r, "pk") if r.starts_with("contact") || r.starts_with("api-contact") => "3",
        // A link that is not one: the page that says so.
        ("password_reset_confirm", "uidb64") => "MQ",
        ("password_reset_confirm", "token") => "d2k1xs-00000000000000000000",
        _ => panic!("the route table has no value for <{key}> of {route}: add one"),
    };
    value.to_owned()
}

/// The route's pattern with its parameters filled in.
fn url_of(name: &str, pattern: &str) -> String {
    let mut out = String::new();
    let mut rest = pattern;
    while let Some(start) = rest.find('<') {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('>').expect("a closed parameter") + start;
        let key = rest[start + 1..end].rsplit(':').next().unwrap();
        out.push_str(&param(name, key));
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// What a request sends: a urlencoded form, or a body with its content type.
enum Body {
    Form(Vec<(&'static str, &'static str)>),
    Raw(String, Vec<u8>),
}

/// What the permitted user posts to a write route, and what the viewer posts too (so a missing
/// guard would let the viewer's write through, and the database check would see it).
fn payload(name: &str) -> Body {
    let form = |fields: &[(&'static str, &'static str)]| Body::Form(fields.to_vec());
    match name.trim_start_matches("crm:") {
        "company-create" => form(&[("name", "Route Table Co"), ("slug", "route-table-co"), ("city", "Oslo")]),
        "company-update" => {
            form(&[("name", "Acme Logistics (edited)"), ("slug", "acme-logistics"), ("industry", "Freight")])
        }
        "contact-create" => {
            form(&[("first_name", "Rhea"), ("last_name", "Table"), ("company_id", "1"), ("email", "rhea@example.com")])
        }
        "contact-update" => {
            form(&[("first_name", "Inês"), ("last_name", "Edited"), ("company_id", "2"), ("email", "ines@example.com")])
        }
        "contact-import" => {
            let boundary = "route-table-boundary";
            let body = format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"company_id\"\r\n\r\n2\r\n\
                 --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"c.csv\"\r\n\
                 Content-Type: text/csv\r\n\r\nfirst_name,last_name,email\nIngrid,Import,ingrid@example.com\n\r\n\
                 --{boundary}--\r\n"
            );
            Body::Raw(format!("multipart/form-data; boundary={boundary}"), body.into_bytes())
        }
        "deal-create" => form(&[
            ("title", "Route table deal"),
            ("company_id", "1"),
            ("stage", "lead"),
            ("amount", "1234.50"),
            ("expected_close", "2027-05-01"),
        ]),
        "deal-update" => form(&[
            ("title", "Fleet tracking (edited)"),
            ("company_id", "1"),
            ("stage", "won"),
            ("amount", "48500.00"),
            ("expected_close", "2026-12-18"),
        ]),
        "note-create" => form(&[("body", "Route table note"), ("contact_id", "3")]),
        "note-update" => form(&[("body", "Edited by the route table"), ("contact_id", "3")]),
        "forecast" => form(&[("amount", "1000"), ("probability", "50")]),
        "api-contact-import" => {
            Body::Raw("text/csv".into(), b"first_name,last_name,email\nDry,Run,dry@example.com\n".to_vec())
        }
        "password_change" => form(&[
            ("old_password", "not-the-password"),
            ("new_password1", "Route-Table-77"),
            ("new_password2", "Route-Table-77"),
        ]),
        "invite_user" => form(&[("email", "route-table-invite@example.com"), ("first_name", "Rita")]),
        local if local.ends_with("-delete") || local == "company-recalculate" => form(&[]),
        _ => panic!("the route table has no POST payload for {name}: add one"),
    }
}

async fn send(c: &mut Client, method: &Method, url: &str, body: Option<&Body>) -> TestResponse {
    match body {
        None => c.send(method.clone(), url, None, bytes::Bytes::new()).await,
        Some(Body::Form(fields)) => {
            let encoded: Vec<String> = fields.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect();
            let encoded = encoded.join("&");
            c.send(method.clone(), url, Some("application/x-www-form-urlencoded"), encoded.into()).await
        }
        Some(Body::Raw(content_type, bytes)) => {
            c.send(method.clone(), url, Some(content_type), bytes.clone().into()).await
        }
    }
}

/// Every row of the CRM's tables: equal before and after means nothing was written.
async fn snapshot(db: &DatabaseConnection) -> String {
    let companies = company::Entity::find().all(db).await.unwrap();
    let contacts = contact::Entity::find().all(db).await.unwrap();
    let deals = deal::Entity::find().all(db).await.unwrap();
    let notes = note::Entity::find().all(db).await.unwrap();
    let tasks = djambda::tasks::models::task::Entity::find().all(db).await.unwrap();
    let tasks: Vec<(String, String)> = tasks.into_iter().map(|t| (t.id, t.status)).collect();
    serde_json::to_string(&(companies, contacts, deals, notes, tasks)).unwrap()
}

/// A user holding exactly `perm` (directly, no group), logged in.
async fn user_with(site: &Site, db: &DatabaseConnection, perm: &str) -> Client {
    let (app_label, codename) = perm.split_once('.').unwrap();
    let username = format!("only-{codename}");
    let now = djambda::db::sea_orm::prelude::ChronoUtc::now();
    let created = user::ActiveModel {
        username: ActiveValue::Set(username.clone()),
        password: ActiveValue::Set(djambda::auth::hashers::make_password(PASSWORD)),
        is_active: ActiveValue::Set(true),
        is_staff: ActiveValue::Set(false),
        is_superuser: ActiveValue::Set(false),
        first_name: ActiveValue::Set(String::new()),
        last_name: ActiveValue::Set(String::new()),
        email: ActiveValue::Set(String::new()),
        date_joined: ActiveValue::Set(now),
        last_login: ActiveValue::Set(None),
        ..Default::default()
    }
    .insert(db)
    .await
    .unwrap();
    let permission = permission::Entity::find()
        .filter(permission::Column::AppLabel.eq(app_label))
        .filter(permission::Column::Codename.eq(codename))
        .one(db)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("migrate made no permission {perm}"));
    user_permission::ActiveModel {
        user_id: ActiveValue::Set(created.id),
        permission_id: ActiveValue::Set(permission.id),
        ..Default::default()
    }
    .insert(db)
    .await
    .unwrap();
    let mut c = Client::new(site.clone());
    assert!(c.login(&username, PASSWORD).await, "{username} logs in");
    c
}

/// Where a successful write leads, and whether the database shows it.
async fn check_write(db: &DatabaseConnection, name: &str, location: Option<&str>) {
    let local = name.trim_start_matches("crm:");
    let (expected, written) = match local {
        "company-create" => (
            "/companies/route-table-co/",
            company_by_slug(db, "route-table-co").await.is_some_and(|c| c.city == "Oslo"),
        ),
        "company-update" => (
            "/companies/acme-logistics/",
            company_by_slug(db, "acme-logistics").await.is_some_and(|c| c.name == "Acme Logistics (edited)"),
        ),
        "company-delete" => ("/companies/", company_by_slug(db, "everly-books").await.is_none()),
        "contact-create" => {
            let rhea = contact::Entity::find().filter(contact::Column::Email.eq("rhea@example.com")).one(db).await;
            let rhea = rhea.unwrap().expect("the contact was written");
            return assert_eq!(location, Some(format!("/contacts/{}/", rhea.id).as_str()), "{name}");
        }
        "contact-update" => ("/contacts/3/", contact_row(db, 3).await.is_some_and(|c| c.last_name == "Edited")),
        "contact-delete" => ("/contacts/", contact_row(db, 8).await.is_none()),
        "contact-import" => {
            let found = contact::Entity::find().filter(contact::Column::Email.eq("ingrid@example.com")).one(db).await;
            ("/companies/blue-harbor-foods/", found.unwrap().is_some_and(|c| c.company_id == 2))
        }
        "deal-create" => {
            let found = deal::Entity::find().filter(deal::Column::Title.eq("Route table deal")).one(db).await;
            let found = found.unwrap().expect("the deal was written");
            assert_eq!(found.amount, "1234.50".parse().unwrap(), "{name}: the amount");
            return assert_eq!(location, Some(format!("/deals/{}/", found.id).as_str()), "{name}");
        }
        "deal-update" => {
            let found = deal::Entity::find_by_id(1).one(db).await.unwrap();
            ("/deals/1/", found.is_some_and(|d| d.title == "Fleet tracking (edited)"))
        }
        "deal-delete" => ("/deals/", deal::Entity::find_by_id(3).one(db).await.unwrap().is_none()),
        // A note leads back to what it is about: contact 3 for notes 1 and the new one, deal 1
        // for note 2.
        "note-create" => {
            let found = note::Entity::find().filter(note::Column::Body.eq("Route table note")).one(db).await;
            ("/contacts/3/", found.unwrap().is_some_and(|n| n.contact_id == Some(3)))
        }
        "note-update" => {
            let found = note::Entity::find_by_id(1).one(db).await.unwrap();
            ("/contacts/3/", found.is_some_and(|n| n.body == "Edited by the route table"))
        }
        "note-delete" => ("/deals/1/", note::Entity::find_by_id(2).one(db).await.unwrap().is_none()),
        // The note is the task's to write: the request queues the task (TASKS_BACKEND = database).
        "company-recalculate" => {
            use djambda::tasks::models::task;
            let queued = task::Entity::find().filter(task::Column::TaskName.eq("crm.recalculate_pipeline")).all(db);
            ("/companies/acme-logistics/", queued.await.unwrap().iter().any(|t| t.status == "queued"))
        }
        "invite_user" => {
            let found =
                user::Entity::find().filter(user::Column::Email.eq("route-table-invite@example.com")).one(db).await;
            (
                "/accounts/invite/done/?to=route-table-invite%40example.com",
                found.unwrap().is_some_and(|u| u.first_name == "Rita" && u.password.starts_with('!')),
            )
        }
        _ => panic!("the route table does not know what {name} writes: add it"),
    };
    assert_eq!(location, Some(expected), "{name}: where the write leads");
    assert!(written, "{name}: the database shows the write");
}

async fn company_by_slug(db: &DatabaseConnection, slug: &str) -> Option<company::Model> {
    company::Entity::find().filter(company::Column::Slug.eq(slug)).one(db).await.unwrap()
}

async fn contact_row(db: &DatabaseConnection, pk: i32) -> Option<contact::Model> {
    contact::Entity::find_by_id(pk).one(db).await.unwrap()
}

/// The methods to try on a route: those it takes (HEAD rides on GET), or GET and POST for a
/// view that takes every method.
fn methods_of(route: &djambda::urls::Route) -> Vec<Method> {
    let listed: Vec<Method> = route.methods().iter().filter(|m| **m != Method::HEAD).cloned().collect();
    if listed.is_empty() { vec![Method::GET, Method::POST] } else { listed }
}

fn login_redirect(url: &str) -> String {
    format!("/accounts/login/?next={}", encode(url))
}

fn admin_login_redirect(url: &str) -> String {
    format!("/admin/login/?next={}", encode(url))
}

#[tokio::test]
async fn every_route_every_method_anonymous_viewer_and_the_one_permission() {
    // An invitation is sent as it is made: to the outbox.
    let site = crate::auth::crm_site("routes", &[("EMAIL_BACKEND", "locmem")]);
    let db = site.database().connection().await.unwrap();
    let routes: Vec<_> = site.resolver().routes().filter_map(|r| r.name().map(|n| (n.to_owned(), r))).collect();
    assert!(routes.len() >= 25, "the example site's routes: {}", routes.len());

    let mut anonymous = Client::new(site.clone());
    let mut viewer = Client::new(site.clone());
    assert!(viewer.login("viewer", "viewer").await);
    let mut permitted: BTreeMap<String, Client> = BTreeMap::new();
    for (name, _) in &routes {
        if let Some(perm) = needed_permission(name)
            && !permitted.contains_key(&perm)
        {
            permitted.insert(perm.clone(), user_with(&site, &db, &perm).await);
        }
    }
    let mut tried = 0;

    for (name, route) in &routes {
        let url = url_of(name, route.pattern());
        let methods = methods_of(route);
        let perm = needed_permission(name);

        if name.starts_with("admin:") && !OPEN.contains(&name.as_str()) {
            assert!(route.meta::<LoginNotRequired>().is_some(), "{name}: the admin has its own login");
            for method in &methods {
                let body = (*method != Method::GET).then(|| Body::Form(vec![]));
                let before = snapshot(&db).await;
                for (who, client) in [("anonymous", &mut anonymous), ("the viewer", &mut viewer)] {
                    let resp = send(client, method, &url, body.as_ref()).await;
                    assert_eq!(resp.status(), 302, "{method} {url} as {who}: {}", resp.text());
                    assert_eq!(resp.location(), Some(admin_login_redirect(&url).as_str()), "{method} {url} as {who}");
                    tried += 1;
                }
                assert_eq!(snapshot(&db).await, before, "{method} {url} wrote for someone who is not staff");
            }
            continue;
        }

        // The guard the route carries says what the name says, and nothing more.
        assert_eq!(
            route.meta::<RequiredPermissions>().map(|r| r.perms().to_vec()),
            perm.clone().map(|p| vec![p]),
            "{name}: the permission its guard names"
        );
        assert_eq!(route.meta::<LoginNotRequired>().is_some(), OPEN.contains(&name.as_str()), "{name}: open to all");

        if OPEN.contains(&name.as_str()) {
            for method in &methods {
                let body = (*method != Method::GET).then(|| Body::Form(vec![]));
                let resp = send(&mut anonymous, method, &url, body.as_ref()).await;
                assert!(resp.status().is_success(), "{method} {url} anonymous: {}", resp.status());
                tried += 1;
            }
            continue;
        }

        for method in &methods {
            let body = (*method != Method::GET).then(|| payload(name));
            let before = snapshot(&db).await;

            let resp = send(&mut anonymous, method, &url, body.as_ref()).await;
            assert_eq!(resp.status(), 302, "{method} {url} anonymous");
            assert_eq!(resp.location(), Some(login_redirect(&url).as_str()), "{method} {url} anonymous");
            assert_eq!(snapshot(&db).await, before, "{method} {url} anonymous wrote");

            let resp = send(&mut viewer, method, &url, body.as_ref()).await;
            match &perm {
                Some(_) => {
                    assert_eq!(resp.status(), 403, "{method} {url} as the viewer: {}", resp.text());
                    assert!(resp.text().contains("does not have permission"), "{method} {url}: the site's 403 page");
                }
                None if *method == Method::GET => {
                    let expected = if name == "crm:preferences" { 302 } else { 200 };
                    assert_eq!(resp.status(), expected, "{method} {url} as the viewer: {}", resp.text());
                }
                None => {
                    assert!(WRITES_NOTHING.contains(&name.as_str()), "{method} {url} takes a write with no permission");
                    assert_eq!(resp.status(), 200, "{method} {url} as the viewer: {}", resp.text());
                }
            }
            assert_eq!(snapshot(&db).await, before, "{method} {url} as the viewer wrote");
            tried += 2;

            let Some(perm) = &perm else { continue };
            // Every other permission is refused here: the guard names this one.
            for (other, client) in permitted.iter_mut().filter(|(p, _)| *p != perm) {
                let resp = send(client, method, &url, body.as_ref()).await;
                assert_eq!(resp.status(), 403, "{method} {url} with only {other}");
                tried += 1;
            }
            assert_eq!(snapshot(&db).await, before, "{method} {url} with another permission wrote");

            let client = permitted.get_mut(perm).unwrap();
            let resp = send(client, method, &url, body.as_ref()).await;
            tried += 1;
            if *method == Method::GET {
                assert_eq!(resp.status(), 200, "{method} {url} with {perm}: {}", resp.text());
                if name != "invite_user_done" {
                    assert!(resp.csrf_token().is_some(), "{url}: the form or the confirmation");
                }
                assert_eq!(snapshot(&db).await, before, "GET {url} wrote");
            } else {
                assert_eq!(resp.status(), 302, "{method} {url} with {perm}: {}", resp.text());
                check_write(&db, name, resp.location()).await;
            }
        }
    }
    assert!(tried > 150, "requests tried: {tried}");
}
