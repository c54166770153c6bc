//! The logged-in CRM through the in-process test client, as a browser uses it: log in with the
//! login page's CSRF token, create, edit and delete records through their forms, see the
//! success messages once, log out. Then what a hostile or clumsy client sends: missing and
//! wrong CSRF tokens, tampered cookies, invalid and duplicate values, HTML and SQL
//! metacharacters, `next` to other hosts, password guessing, and pages a user may not use.
//!
//! Each test that writes gets its own copy of the demo database.

use djambda::Site;
use djambda::db::sea_orm::{ActiveModelTrait, ActiveValue, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use djambda::http::StatusCode;
use djambda::test::{Client, TestResponse};
use example_site::crm::models::{company, contact, deal, note};

/// A hash made by Django 5.2's `make_password("carried-over-2026")` with its default
/// PBKDF2PasswordHasher (1,000,000 iterations): a user row carried over from a Django site.
const DJANGO_HASH: &str = "pbkdf2_sha256$1000000$PEktSoLjfPw5lP2zj9tsgZ$Y2iBifU0Uly9ip3ge4ngc/jfvuhF78gxrrwotRXG+tU=";

/// HTML and SQL metacharacters a text field must store and show back verbatim.
const NASTY: &str = "O'Brien & <b>Sons</b> \"quoted\"; DROP TABLE company;-- %s \\x00";

/// The example site on a private copy of the demo database, with `env` on top.
pub(crate) fn crm_site(tag: &str, env: &[(&str, &str)]) -> Site {
    let url = crate::fresh_demo_db(tag);
    let mut all: Vec<(&str, &str)> = vec![("DATABASE_URL", url.as_str())];
    all.extend_from_slice(env);
    example_site::site_with_settings(crate::example_settings_with(&all)).expect("the example site")
}

/// A browser-like client: it sends CSRF tokens only where a page gave it one.
pub(crate) fn browser(site: &Site) -> Client {
    Client::new(site.clone()).enforce_csrf_checks()
}

/// Logs in as a browser does: the login page, then the form with the page's token.
pub(crate) async fn log_in(c: &mut Client, username: &str, password: &str, next: &str) -> TestResponse {
    let page = c.get("/accounts/login/").await;
    assert_eq!(page.status(), 200);
    let token = page.csrf_token().expect("the login page carries a CSRF token");
    c.post_form(
        "/accounts/login/",
        &[("csrfmiddlewaretoken", &token), ("username", username), ("password", password), ("next", next)],
    )
    .await
}

/// Opens the form at `url` and submits `fields` with the page's token.
pub(crate) async fn submit(c: &mut Client, url: &str, fields: &[(&str, &str)]) -> TestResponse {
    let page = c.get(url).await;
    assert_eq!(page.status(), 200, "{url}: {}", page.text());
    let token = page.csrf_token().unwrap_or_else(|| panic!("{url} has no CSRF token: {}", page.text()));
    let mut all = vec![("csrfmiddlewaretoken", token.as_str())];
    all.extend_from_slice(fields);
    c.post_form(url, &all).await
}

/// `text` as the templates show it (Tera's HTML escaping).
pub(crate) fn escaped(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
        .replace('/', "&#x2F;")
}

pub(crate) fn shows(html: &str, text: &str) -> bool {
    // Tera escapes `/` in some versions and not others; either is the text, escaped.
    html.contains(&escaped(text)) || html.contains(&escaped(text).replace("&#x2F;", "/"))
}

#[tokio::test]
async fn a_browser_logs_in_creates_edits_deletes_and_logs_out() {
    let site = crm_site("auth-flow", &[]);
    let mut c = browser(&site);
    let anonymous = c.get("/companies/").await;
    assert_eq!(anonymous.location(), Some("/accounts/login/?next=%2Fcompanies%2F"));

    let before = c.get("/accounts/login/").await;
    let csrf_before = c.cookie("csrftoken").expect("the login page sets the CSRF cookie").to_owned();
    assert!(before.text().contains("name=\"username\"") && before.text().contains("type=\"password\""));
    let login = log_in(&mut c, "demo", "demo", "/companies/").await;
    assert_eq!(login.status(), 302, "{}", login.text());
    assert_eq!(login.location(), Some("/companies/"));
    assert!(c.cookie("sessionid").is_some(), "the session cookie");
    assert_ne!(c.cookie("csrftoken"), Some(csrf_before.as_str()), "login rotates the CSRF secret");

    // Create, with metacharacters in every text field.
    let created = submit(
        &mut c,
        "/companies/new/",
        &[("name", NASTY), ("slug", "obrien-sons"), ("industry", NASTY), ("city", NASTY), ("website", "example.com")],
    )
    .await;
    assert_eq!(created.status(), 302, "{}", created.text());
    assert_eq!(created.location(), Some("/companies/obrien-sons/"));
    let page = c.get("/companies/obrien-sons/").await;
    let html = page.text();
    assert!(shows(&html, &format!("The company “{NASTY}” was added.")), "the success message: {html}");
    assert!(shows(&html, NASTY) && !html.contains("<b>Sons</b>"), "shown verbatim, escaped");
    assert!(html.contains("href=\"https://example.com\""), "a URL field assumes https, as Django's");
    let again = c.get("/companies/obrien-sons/").await;
    assert!(!again.text().contains("was added"), "a message shows once");
    assert!(c.cookie("messages").is_none(), "and its cookie goes");
    let db = site.database().connection().await.unwrap();
    let row = company::Entity::find().filter(company::Column::Slug.eq("obrien-sons")).one(&db).await.unwrap().unwrap();
    assert_eq!((row.name.as_str(), row.industry.as_str(), row.city.as_str()), (NASTY, NASTY, NASTY), "stored verbatim");

    // A contact at it, from the company page's link (which picks the company).
    let new_contact = format!("/contacts/new/?company_id={}", row.id);
    let form = c.get(&new_contact).await.text();
    assert!(form.contains(&format!("<option value=\"{}\" selected>", row.id)), "the company is chosen: {form}");
    let contact = submit(
        &mut c,
        &new_contact,
        &[
            ("first_name", NASTY),
            ("last_name", "Zoë"),
            ("company_id", &row.id.to_string()),
            ("title", NASTY),
            ("email", "zoe@example.com"),
            ("phone", "+44 (0)20 7946 0000"),
        ],
    )
    .await;
    assert_eq!(contact.status(), 302, "{}", contact.text());
    let contact_url = contact.location().unwrap().to_owned();
    let contact_page = c.get(&contact_url).await.text();
    assert!(shows(&contact_page, NASTY) && contact_page.contains("Zoë"), "{contact_page}");

    // A note about the contact, and a deal.
    let contact_id = contact_url.trim_matches('/').rsplit('/').next().unwrap().to_owned();
    let noted = submit(
        &mut c,
        &format!("/notes/new/?contact_id={contact_id}"),
        &[("body", NASTY), ("contact_id", &contact_id)],
    )
    .await;
    assert_eq!(noted.location(), Some(contact_url.as_str()), "back to the contact: {}", noted.text());
    assert!(shows(&c.get(&contact_url).await.text(), NASTY), "the note on the contact's page");
    let dealt = submit(
        &mut c,
        "/deals/new/",
        &[
            ("title", NASTY),
            ("company_id", &row.id.to_string()),
            ("stage", "proposal"),
            ("amount", "12,500.50"),
            ("expected_close", "2027-01-31"),
        ],
    )
    .await;
    assert_eq!(dealt.status(), 302, "{}", dealt.text());
    let deal_page = c.get(dealt.location().unwrap()).await.text();
    assert!(
        shows(&deal_page, NASTY) && deal_page.contains("$12,500.50") && deal_page.contains("Proposal"),
        "{deal_page}"
    );

    // Edit: the form shows the stored values, escaped, and saves the change.
    let edit = c.get("/companies/obrien-sons/edit/").await.text();
    assert!(edit.contains(&format!("value=\"{}\"", escaped(NASTY))) || shows(&edit, NASTY), "{edit}");
    let changed = submit(
        &mut c,
        "/companies/obrien-sons/edit/",
        &[
            ("name", "O'Brien & Daughters"),
            ("slug", "obrien-sons"),
            ("industry", "Retail"),
            ("city", ""),
            ("website", ""),
        ],
    )
    .await;
    assert_eq!(changed.location(), Some("/companies/obrien-sons/"), "{}", changed.text());
    assert!(shows(&c.get("/companies/obrien-sons/").await.text(), "The company “O'Brien & Daughters” was changed."));

    // Delete: a confirmation page, then the POST.
    let confirm = c.get("/companies/obrien-sons/delete/").await;
    assert!(confirm.text().contains("Yes, delete"), "{}", confirm.text());
    let deleted = submit(&mut c, "/companies/obrien-sons/delete/", &[]).await;
    assert_eq!(deleted.location(), Some("/companies/"));
    assert!(shows(&c.get("/companies/").await.text(), "The company “O'Brien & Daughters” was deleted."));
    assert_eq!(c.get("/companies/obrien-sons/").await.status(), 404);
    assert_eq!(
        contact::Entity::find().filter(contact::Column::LastName.eq("Zoë")).count(&db).await.unwrap(),
        0,
        "cascaded"
    );
    assert_eq!(note::Entity::find().filter(note::Column::Body.eq(NASTY)).count(&db).await.unwrap(), 0, "cascaded");

    // Log out: POST only, and the session is gone.
    let page = c.get("/").await;
    let token = page.csrf_token().expect("the log-out form's token");
    assert_eq!(c.get("/accounts/logout/").await.status(), 405, "logging out takes a POST");
    let out = c.post_form("/accounts/logout/", &[("csrfmiddlewaretoken", &token)]).await;
    assert_eq!(out.status(), 200);
    assert!(out.text().contains("Logged out"));
    assert!(c.cookie("sessionid").is_none(), "the session cookie is removed");
    assert_eq!(c.get("/").await.status(), 302, "anonymous again");
}

#[tokio::test]
async fn csrf_failures_are_403_pages_that_say_what_is_missing() {
    let site = crm_site("auth-csrf", &[("CSRF_TRUSTED_ORIGINS", "https://*.partner.example")]);
    let mut c = browser(&site);
    assert_eq!(log_in(&mut c, "demo", "demo", "/").await.status(), 302);
    let form = [("amount", "1000"), ("probability", "50")];

    let missing = c.post_form("/forecast/", &form).await;
    assert_eq!(missing.status(), 403);
    assert!(missing.text().contains("CSRF verification failed") && missing.text().contains("CSRF token missing."));

    let wrong = c.post_form("/forecast/", &[("csrfmiddlewaretoken", &"a".repeat(64)), form[0], form[1]]).await;
    assert_eq!(wrong.status(), 403);
    assert!(wrong.text().contains("CSRF token from POST incorrect."), "{}", wrong.text());
    let short = c.post_form("/forecast/", &[("csrfmiddlewaretoken", "abc"), form[0], form[1]]).await;
    assert!(short.text().contains("has incorrect length"));

    let token = c.get("/forecast/").await.csrf_token().unwrap();
    let good = c.post_form("/forecast/", &[("csrfmiddlewaretoken", &token), form[0], form[1]]).await;
    assert_eq!(good.status(), 200);
    assert!(good.text().contains("$500.00"));

    // JavaScript sends the cookie's value in a header instead.
    let secret = c.cookie("csrftoken").unwrap().to_owned();
    let body = bytes::Bytes::from("amount=1000&probability=50");
    let ajax = http::Request::post("/forecast/")
        .header("host", "localhost")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-csrftoken", &secret)
        .header("cookie", c.cookie_header())
        .body(body.clone())
        .unwrap();
    assert_eq!(c.request(ajax).await.status(), 200);

    // A page of another site posting with the victim's cookies: its Origin gives it away.
    for (origin, allowed) in [
        ("https://evil.example", false),
        ("http://localhost.evil.example", false),
        ("https://crm.partner.example", true),
        ("http://localhost", true),
    ] {
        let req = http::Request::post("/forecast/")
            .header("host", "localhost")
            .header("origin", origin)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-csrftoken", &secret)
            .header("cookie", c.cookie_header())
            .body(body.clone())
            .unwrap();
        let resp = c.request(req).await;
        if allowed {
            assert_eq!(resp.status(), 200, "{origin}");
        } else {
            assert_eq!(resp.status(), 403, "{origin}");
            assert!(resp.text().contains(&format!("Origin checking failed - {origin} does not match")), "{origin}");
        }
    }

    // Without the cookie the token has nothing to match.
    let mut cookieless = browser(&site);
    cookieless.set_cookie("sessionid", c.cookie("sessionid").unwrap());
    let no_cookie = cookieless.post_form("/forecast/", &[("csrfmiddlewaretoken", &token), form[0], form[1]]).await;
    assert_eq!(no_cookie.status(), 403);
    assert!(no_cookie.text().contains("CSRF cookie not set."));
}

#[tokio::test]
async fn tampered_session_and_message_cookies_are_ignored() {
    let site = crm_site("auth-tamper", &[]);
    let mut c = browser(&site);
    assert_eq!(log_in(&mut c, "demo", "demo", "/").await.status(), 302);
    let created = submit(&mut c, "/companies/new/", &[("name", "Tamper Ltd"), ("slug", "tamper")]).await;
    assert_eq!(created.status(), 302);
    let messages = c.cookie("messages").expect("a message waits in its cookie").to_owned();
    let session = c.cookie("sessionid").unwrap().to_owned();

    // A message rewritten by the client is not shown; the page is served as ever.
    let forged = messages.replacen('a', "b", 1);
    c.set_cookie("messages", &forged);
    let page = c.get("/companies/tamper/").await;
    assert_eq!(page.status(), 200);
    assert!(!page.text().contains("was added"), "a forged message cookie is ignored");

    // A session rewritten by the client is no session: the visitor is anonymous.
    for bad in [session.replacen('e', "f", 1), format!("{session}x"), "garbage".into(), String::new()] {
        c.set_cookie("sessionid", &bad);
        let resp = c.get("/companies/").await;
        assert_eq!(resp.status(), 302, "session {bad:?}");
        assert!(resp.location().unwrap().starts_with("/accounts/login/"));
    }
    c.set_cookie("sessionid", &session);
    assert_eq!(c.get("/companies/").await.status(), 200, "the real cookie still works");
}

#[tokio::test]
async fn invalid_forms_come_back_with_errors_and_write_nothing() {
    let site = crm_site("auth-invalid", &[]);
    let mut c = browser(&site);
    assert_eq!(log_in(&mut c, "demo", "demo", "/").await.status(), 302);
    let db = site.database().connection().await.unwrap();
    let contacts = contact::Entity::find().count(&db).await.unwrap();
    let deals = deal::Entity::find().count(&db).await.unwrap();

    let long = "x".repeat(101);
    let bad = submit(
        &mut c,
        "/contacts/new/",
        &[("first_name", ""), ("last_name", &long), ("company_id", "999"), ("email", "not-an-email"), ("title", NASTY)],
    )
    .await;
    assert_eq!(bad.status(), 200);
    let html = bad.text();
    for error in [
        "This field is required.",
        "Ensure this value has at most 100 characters (it has 101).",
        "Select a valid choice. 999 is not one of the available choices.",
        "Enter a valid email address.",
    ] {
        assert!(html.contains(error), "{error} in {html}");
    }
    assert!(html.contains(&format!("value=\"{}\"", "not-an-email")), "what was typed is shown again");
    assert!(shows(&html, NASTY), "escaped when shown again");

    let bad_deal = submit(
        &mut c,
        "/deals/new/",
        &[
            ("title", "Big"),
            ("company_id", "1"),
            ("stage", "bogus"),
            ("amount", "12.345"),
            ("expected_close", "2026-02-30"),
        ],
    )
    .await;
    let html = bad_deal.text();
    for error in [
        "Select a valid choice. bogus is not one of the available choices.",
        "Ensure that there are no more than 2 decimal places.",
        "Enter a valid date.",
    ] {
        assert!(html.contains(error), "{error} in {html}");
    }
    let note = submit(&mut c, "/notes/new/", &[("body", "About nobody")]).await;
    assert!(note.text().contains("Choose the contact or the deal this note is about."), "{}", note.text());

    // A slug another company has: a form error, as Django's validate_unique.
    let taken = submit(&mut c, "/companies/new/", &[("name", "Acme again"), ("slug", "acme-logistics")]).await;
    assert_eq!(taken.status(), 200);
    assert!(taken.text().contains("Company with this Slug already exists."), "{}", taken.text());

    assert_eq!(contact::Entity::find().count(&db).await.unwrap(), contacts, "no contact written");
    assert_eq!(deal::Entity::find().count(&db).await.unwrap(), deals, "no deal written");
    assert_eq!(company::Entity::find().filter(company::Column::Name.eq("Acme again")).count(&db).await.unwrap(), 0);
}

#[tokio::test]
async fn users_without_a_permission_see_no_button_and_get_403() {
    use djambda::auth::models::{group, group_permission, permission, user, user_group};
    let site = crm_site("auth-perms", &[]);
    let mut c = browser(&site);
    assert_eq!(log_in(&mut c, "viewer", "viewer", "/").await.status(), 302);
    let list = c.get("/companies/").await.text();
    assert!(list.contains("Victor Lang") && !list.contains("New company"), "{list}");
    let detail = c.get("/companies/acme-logistics/").await.text();
    for button in ["/edit/", "/delete/", "Add a contact", "Add a deal"] {
        assert!(!detail.contains(button), "no {button} for a viewer");
    }
    for url in ["/companies/new/", "/companies/acme-logistics/edit/", "/contacts/3/delete/", "/notes/new/"] {
        let resp = c.get(url).await;
        assert_eq!(resp.status(), 403, "{url}");
        assert!(resp.text().contains("does not have permission"), "the site's 403 page");
    }
    let token = c.get("/companies/").await.csrf_token().unwrap();
    let post = c.post_form("/companies/new/", &[("csrfmiddlewaretoken", &token), ("name", "X"), ("slug", "x")]).await;
    assert_eq!(post.status(), 403);

    // A group that may add companies, and the viewer in it.
    let db = site.database().connection().await.unwrap();
    let sales =
        group::ActiveModel { name: ActiveValue::Set("Sales".into()), ..Default::default() }.insert(&db).await.unwrap();
    let add_company = permission::Entity::find()
        .filter(permission::Column::AppLabel.eq("crm"))
        .filter(permission::Column::Codename.eq("add_company"))
        .one(&db)
        .await
        .unwrap()
        .expect("migrate made the crm permissions");
    group_permission::ActiveModel {
        group_id: ActiveValue::Set(sales.id),
        permission_id: ActiveValue::Set(add_company.id),
        ..Default::default()
    }
    .insert(&db)
    .await
    .unwrap();
    let viewer = user::Entity::find().filter(user::Column::Username.eq("viewer")).one(&db).await.unwrap().unwrap();
    user_group::ActiveModel {
        user_id: ActiveValue::Set(viewer.id),
        group_id: ActiveValue::Set(sales.id),
        ..Default::default()
    }
    .insert(&db)
    .await
    .unwrap();
    assert!(c.get("/companies/").await.text().contains("New company"), "the button appears with the permission");
    let created = submit(&mut c, "/companies/new/", &[("name", "Viewer Co"), ("slug", "viewer-co")]).await;
    assert_eq!(created.status(), 302, "{}", created.text());
    assert_eq!(c.get("/companies/viewer-co/edit/").await.status(), 403, "adding is not changing");
}

#[tokio::test]
async fn next_redirects_never_leave_the_site() {
    let site = crm_site("auth-next", &[]);
    for (next, expected) in [
        ("/deals/?stage=won", "/deals/?stage=won"),
        ("https://evil.example/", "/"),
        ("//evil.example/path", "/"),
        ("/\\evil.example", "/"),
        ("https:evil.example", "/"),
        ("javascript:alert(1)", "/"),
        ("http://localhost/contacts/", "http://localhost/contacts/"),
    ] {
        let mut c = browser(&site);
        let resp = log_in(&mut c, "demo", "demo", next).await;
        assert_eq!(resp.status(), 302, "{next}");
        assert_eq!(resp.location(), Some(expected), "next={next}");
    }
}

#[tokio::test]
async fn repeated_failed_logins_slow_down_that_username() {
    let site = crm_site("auth-throttle", &[("LOGIN_FAILURE_LIMIT", "3")]);
    let mut c = browser(&site);
    for attempt in 1..=3 {
        let resp = log_in(&mut c, "demo", "wrong", "/").await;
        assert_eq!(resp.status(), 200, "attempt {attempt}");
        assert!(resp.text().contains("Please enter a correct username and password."), "attempt {attempt}");
    }
    // Over the limit: refused without checking, even with the right password.
    let refused = log_in(&mut c, "DEMO", "demo", "/").await;
    assert_eq!(refused.status(), 429);
    assert!(refused.text().contains("Too many failed login attempts for this account. Try again in 1 seconds."));
    assert_eq!(refused.header("retry-after"), Some("1"));
    // Another username is not held up (nor is the guessing counted against the real user's
    // other usernames): the counter is per username.
    assert_eq!(log_in(&mut c, "viewer", "viewer", "/").await.status(), 302);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let late = log_in(&mut c, "demo", "demo", "/").await;
    assert_eq!(late.status(), 302, "after the wait the right password works: {}", late.text());
    let after = log_in(&mut c, "demo", "wrong", "/").await;
    assert_eq!(after.status(), 200, "a success clears the count");
}

#[tokio::test]
async fn a_django_pbkdf2_hash_logs_in_and_is_upgraded_to_argon2() {
    use djambda::auth::models::user;
    let site = crm_site("auth-django-hash", &[]);
    let db = site.database().connection().await.unwrap();
    user::ActiveModel {
        password: ActiveValue::Set(DJANGO_HASH.into()),
        last_login: ActiveValue::Set(None),
        is_superuser: ActiveValue::Set(false),
        username: ActiveValue::Set("carried".into()),
        first_name: ActiveValue::Set("Carrie".into()),
        last_name: ActiveValue::Set("Over".into()),
        email: ActiveValue::Set("carrie@example.com".into()),
        is_staff: ActiveValue::Set(false),
        is_active: ActiveValue::Set(true),
        date_joined: ActiveValue::Set(djambda::db::sea_orm::prelude::ChronoUtc::now()),
        ..Default::default()
    }
    .insert(&db)
    .await
    .unwrap();
    let mut c = browser(&site);
    assert_eq!(log_in(&mut c, "carried", "carried-over-2027", "/").await.status(), 200, "a wrong password fails");
    let resp = log_in(&mut c, "carried", "carried-over-2026", "/").await;
    assert_eq!(resp.status(), 302, "{}", resp.text());
    assert!(c.get("/").await.text().contains("Carrie Over"));
    let stored = user::Entity::find().filter(user::Column::Username.eq("carried")).one(&db).await.unwrap().unwrap();
    assert!(stored.password.starts_with("argon2$argon2id$"), "upgraded on login: {}", stored.password);
    assert!(stored.last_login.is_some());
    // The upgraded hash still takes the same password.
    let mut again = browser(&site);
    assert_eq!(log_in(&mut again, "carried", "carried-over-2026", "/").await.status(), 302);
}

#[tokio::test]
async fn login_rotates_the_session_key_and_logout_ends_it() {
    use djambda::sessions::models::session;
    let site = crm_site("auth-db-sessions", &[("SESSION_ENGINE", "db")]);
    let db = site.database().connection().await.unwrap();
    let mut c = browser(&site);
    assert_eq!(log_in(&mut c, "demo", "demo", "/").await.status(), 302);
    let first = c.cookie("sessionid").unwrap().to_owned();
    assert_eq!(first.len(), 32, "the cookie holds a key: {first}");
    assert!(session::Entity::find_by_id(first.clone()).one(&db).await.unwrap().is_some(), "a row per session");
    assert_eq!(c.get("/").await.status(), 200);

    // Logging in again (as after a password prompt) gives a new key; the old one is dead.
    assert_eq!(log_in(&mut c, "demo", "demo", "/").await.status(), 302);
    let second = c.cookie("sessionid").unwrap().to_owned();
    assert_ne!(first, second, "a new session key at login");
    assert!(session::Entity::find_by_id(first.clone()).one(&db).await.unwrap().is_none(), "the old row is gone");
    let mut thief = browser(&site);
    thief.set_cookie("sessionid", &first);
    assert_eq!(thief.get("/").await.status(), 302, "the old key logs no one in");

    let token = c.get("/").await.csrf_token().unwrap();
    c.post_form("/accounts/logout/", &[("csrfmiddlewaretoken", &token)]).await;
    assert!(session::Entity::find_by_id(second.clone()).one(&db).await.unwrap().is_none(), "logout deletes the row");
    let mut replay = browser(&site);
    replay.set_cookie("sessionid", &second);
    assert_eq!(replay.get("/").await.status(), 302);
}

/// `manage clearsessions` deletes the expired rows of the database engine and only those: the
/// live session keeps its user logged in.
#[tokio::test]
async fn clearsessions_deletes_expired_database_sessions_only() {
    use djambda::db::sea_orm::sea_query::Expr;
    use djambda::sessions::models::session;
    let url = crate::fresh_demo_db("auth-clearsessions");
    let env = [("DATABASE_URL", url.as_str()), ("SESSION_ENGINE", "db")];
    let site = example_site::site_with_settings(crate::example_settings_with(&env)).unwrap();
    let db = site.database().connection().await.unwrap();
    let (mut stale, mut live) = (browser(&site), browser(&site));
    assert_eq!(log_in(&mut stale, "demo", "demo", "/").await.status(), 302);
    assert_eq!(log_in(&mut live, "viewer", "viewer", "/").await.status(), 302);
    let stale_key = stale.cookie("sessionid").unwrap().to_owned();
    let live_key = live.cookie("sessionid").unwrap().to_owned();
    let yesterday = chrono_now() - std::time::Duration::from_secs(86_400);
    session::Entity::update_many()
        .col_expr(session::Column::ExpireDate, Expr::value(yesterday))
        .filter(session::Column::SessionKey.eq(stale_key.clone()))
        .exec(&db)
        .await
        .unwrap();

    let clear = |engine: &str| {
        let out = std::process::Command::new(crate::manage_bin())
            .arg("clearsessions")
            .env("DATABASE_URL", &url)
            .env("SECRET_KEY", crate::SECRET_KEY)
            .env("SESSION_ENGINE", engine)
            .output()
            .unwrap();
        assert!(out.status.success(), "clearsessions: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(clear("db").contains("Deleted 1 expired session(s)."));
    assert!(session::Entity::find_by_id(stale_key).one(&db).await.unwrap().is_none(), "the expired row is gone");
    assert!(session::Entity::find_by_id(live_key).one(&db).await.unwrap().is_some(), "the live row stays");
    assert_eq!(live.get("/").await.status(), 200, "still logged in");
    assert_eq!(stale.get("/").await.status(), 302, "the expired session logs no one in");
    assert!(clear("db").contains("Deleted 0 expired session(s)."), "nothing left to delete");
    assert!(clear("signed_cookies").contains("Nothing to clear"), "cookie sessions expire by themselves");
}

fn chrono_now() -> djambda::db::sea_orm::prelude::ChronoDateTimeUtc {
    djambda::db::sea_orm::prelude::ChronoUtc::now()
}

#[tokio::test]
async fn a_password_change_ends_the_other_sessions() {
    use djambda::auth::models::user;
    let site = crm_site("auth-password-change", &[]);
    let mut c = browser(&site);
    assert_eq!(log_in(&mut c, "viewer", "viewer", "/").await.status(), 302);
    assert_eq!(c.get("/").await.status(), 200);
    let db = site.database().connection().await.unwrap();
    let viewer = user::Entity::find().filter(user::Column::Username.eq("viewer")).one(&db).await.unwrap().unwrap();
    djambda::auth::set_password(&db, &viewer, "a-new-long-password").await.unwrap();
    assert_eq!(c.get("/").await.status(), 302, "the session made with the old password ends");
    assert_eq!(log_in(&mut c, "viewer", "a-new-long-password", "/").await.status(), 302);
}

#[tokio::test]
async fn sessions_expire_and_cookies_carry_the_configured_flags() {
    let site = crm_site("auth-expiry", &[("SESSION_COOKIE_AGE", "1")]);
    let mut c = browser(&site);
    assert_eq!(log_in(&mut c, "demo", "demo", "/").await.status(), 302);
    assert_eq!(c.get("/").await.status(), 200);
    std::thread::sleep(std::time::Duration::from_millis(2100));
    assert_eq!(c.get("/").await.status(), 302, "an expired session is an empty one");

    let cookies_of = |resp: &TestResponse| -> Vec<String> {
        resp.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_owned()).collect()
    };
    let plain = crm_site("auth-flags", &[]);
    let resp = log_in(&mut browser(&plain), "demo", "demo", "/").await;
    let session = cookies_of(&resp).into_iter().find(|c| c.starts_with("sessionid=")).unwrap();
    assert!(session.contains("HttpOnly") && session.contains("SameSite=Lax") && session.contains("Max-Age=1209600"));
    assert!(!session.contains("Secure"), "plain HTTP: {session}");

    let strict = crm_site(
        "auth-flags-strict",
        &[
            ("SESSION_COOKIE_SAMESITE", "Strict"),
            ("SESSION_EXPIRE_AT_BROWSER_CLOSE", "true"),
            ("SESSION_COOKIE_SECURE", "true"),
        ],
    );
    let resp = log_in(&mut browser(&strict), "demo", "demo", "/").await;
    let session = cookies_of(&resp).into_iter().find(|c| c.starts_with("sessionid=")).unwrap();
    assert!(
        session.contains("SameSite=Strict") && session.contains("Secure") && !session.contains("Max-Age"),
        "{session}"
    );

    // Behind a trusted proxy that says HTTPS, every cookie is Secure without being told.
    let proxied = crm_site("auth-flags-https", &[("SECURE_PROXY_SSL_HEADER", "X-Forwarded-Proto: https")]);
    let mut c = browser(&proxied);
    let https = |req: http::request::Builder| req.header("x-forwarded-proto", "https").header("host", "localhost");
    let page = c.request(https(http::Request::get("/accounts/login/")).body(Default::default()).unwrap()).await;
    let csrf = cookies_of(&page).into_iter().find(|c| c.starts_with("csrftoken=")).unwrap();
    assert!(csrf.contains("Secure"), "{csrf}");
    let token = page.csrf_token().unwrap();
    let body = format!("csrfmiddlewaretoken={token}&username=demo&password=demo&next=%2F");
    let login = c
        .request(
            https(http::Request::post("/accounts/login/"))
                .header("content-type", "application/x-www-form-urlencoded")
                .header("referer", "https://localhost/accounts/login/")
                .header("cookie", c.cookie_header())
                .body(body.into())
                .unwrap(),
        )
        .await;
    assert_eq!(login.status(), StatusCode::FOUND, "{}", login.text());
    for cookie in cookies_of(&login) {
        assert!(cookie.contains("; Secure"), "{cookie}");
    }
}

/// A database of its own on the server at `base` (whose user may create databases), made
/// empty: the other server-backed tests migrate and drop tables in the database `base` names.
pub(crate) async fn scratch_database(base: &str, name: &str) -> String {
    use djambda::db::sea_orm::{ConnectionTrait, Database};
    let db = Database::connect(base).await.unwrap_or_else(|e| panic!("connect to {base}: {e}"));
    db.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name}")).await.unwrap();
    db.execute_unprepared(&format!("CREATE DATABASE {name}")).await.unwrap();
    let _ = db.close().await;
    let (server, _) = base.rsplit_once('/').expect("a database URL ends with /name");
    format!("{server}/{name}")
}

/// A database of its own on DJAMBDA_TEST_POSTGRES_URL's server, reached through the PgBouncer
/// in transaction mode at DJAMBDA_TEST_PGBOUNCER_URL (whose `*` entry serves every database).
pub(crate) struct PooledDatabase {
    /// The database through the pooler.
    pub(crate) url: String,
    base: String,
    name: String,
}

impl PooledDatabase {
    pub(crate) async fn create(tag: &str) -> PooledDatabase {
        let base = std::env::var("DJAMBDA_TEST_POSTGRES_URL").expect("DJAMBDA_TEST_POSTGRES_URL");
        let pooler = std::env::var("DJAMBDA_TEST_PGBOUNCER_URL").expect("DJAMBDA_TEST_PGBOUNCER_URL");
        let name = format!("djambda_{tag}_{}", std::process::id());
        scratch_database(&base, &name).await;
        let url = format!("{}/{name}", pooler.rsplit_once('/').expect("a database URL ends with /name").0);
        PooledDatabase { url, base, name }
    }

    /// Drops the database, ending the connections the pooler keeps to it.
    pub(crate) async fn drop(self) {
        use djambda::db::sea_orm::{ConnectionTrait, Database};
        let admin = Database::connect(&self.base).await.unwrap();
        let _ = admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)).await;
    }
}

pub(crate) fn manage_ok(url: &str, args: &[&str]) {
    manage_ok_with(url, args, &[]);
}

fn manage_ok_with(url: &str, args: &[&str], env: &[(&str, &str)]) {
    let out = std::process::Command::new(crate::manage_bin())
        .args(args)
        .env("DATABASE_URL", url)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert!(out.status.success(), "manage {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// The logged-in CRM with sessions in the database (or in Redis, when `redis` is given) on
/// the server at `base`: log in, a row per session, create with metacharacters, a duplicate,
/// the throttle, a viewer's 403, log out.
async fn crm_on_server(base: &str, tag: &str, redis: Option<&str>) {
    crm_through(base, None, tag, redis).await;
}

/// [`crm_on_server`], with every connection of the site and of `manage` made through the
/// transaction-mode pooler at `pooler` when it is given (`DATABASE_POOLER = "transaction"`),
/// and pages read by several clients at once, so that consecutive statements of one client
/// meet different server connections.
async fn crm_through(base: &str, pooler: Option<&str>, tag: &str, redis: Option<&str>) {
    let name = format!("djambda_{tag}_{}", std::process::id());
    let direct = scratch_database(base, &name).await;
    let url = match pooler {
        Some(pooler) => format!("{}/{name}", pooler.rsplit_once('/').expect("a database URL ends with /name").0),
        None => direct,
    };
    let pooled: &[(&str, &str)] = if pooler.is_some() { &[("DATABASE_POOLER", "transaction")] } else { &[] };
    manage_ok_with(&url, &["migrate"], pooled);
    manage_ok_with(&url, &["loaddata", "demo"], pooled);
    manage_ok_with(&url, &["showmigrations"], pooled);
    let engine = if redis.is_some() { "cache" } else { "db" };
    let mut env = vec![("DATABASE_URL", url.as_str()), ("SESSION_ENGINE", engine), ("LOGIN_FAILURE_LIMIT", "2")];
    if let Some(redis) = redis {
        env.push(("REDIS_URL", redis));
    }
    env.extend_from_slice(pooled);
    if pooler.is_some() {
        env.push(("DATABASE_POOL_SIZE", "4"));
    }
    let site = example_site::site_with_settings(crate::example_settings_with(&env)).unwrap();
    let db = site.database().connection().await.unwrap();

    let mut c = browser(&site);
    assert_eq!(log_in(&mut c, "demo", "demo", "/").await.status(), 302, "{tag}");
    let key = c.cookie("sessionid").unwrap().to_owned();
    assert_eq!(key.len(), 32, "{tag}: the cookie names a stored session");
    if redis.is_none() {
        use djambda::sessions::models::session;
        assert!(session::Entity::find_by_id(key.clone()).one(&db).await.unwrap().is_some(), "{tag}: the session row");
    }
    let created = submit(&mut c, "/companies/new/", &[("name", NASTY), ("slug", "nasty"), ("industry", NASTY)]).await;
    assert_eq!(created.status(), 302, "{tag}: {}", created.text());
    let row = company::Entity::find().filter(company::Column::Slug.eq("nasty")).one(&db).await.unwrap().unwrap();
    assert_eq!((row.name.as_str(), row.industry.as_str()), (NASTY, NASTY), "{tag}: stored verbatim");
    assert!(shows(&c.get("/companies/nasty/").await.text(), NASTY), "{tag}");
    let taken = submit(&mut c, "/companies/new/", &[("name", "Again"), ("slug", "nasty")]).await;
    assert!(taken.text().contains("Company with this Slug already exists."), "{tag}");

    let mut viewer = browser(&site);
    assert_eq!(log_in(&mut viewer, "viewer", "viewer", "/").await.status(), 302, "{tag}");
    assert_eq!(viewer.get("/companies/nasty/edit/").await.status(), 403, "{tag}");
    let mut guesser = browser(&site);
    for _ in 0..2 {
        assert_eq!(log_in(&mut guesser, "viewer", "guess", "/").await.status(), 200, "{tag}");
    }
    assert_eq!(log_in(&mut guesser, "viewer", "viewer", "/").await.status(), 429, "{tag}: slowed down");

    if pooler.is_some() {
        // Many clients at once on the site's four connections, which the pooler lends from
        // fewer server connections: each page's statements land wherever the pooler puts them.
        let reads = (0..24).map(|i| {
            let mut reader = browser(&site);
            reader.set_cookie("sessionid", &key);
            async move {
                let target = if i % 2 == 0 { "/companies/nasty/" } else { "/companies/" };
                let page = reader.get(target).await;
                (target, page.status(), page.text())
            }
        });
        for (target, status, text) in futures_util::future::join_all(reads).await {
            assert_eq!(status, 200, "{tag} {target}: {text}");
            if target == "/companies/nasty/" {
                assert!(shows(&text, NASTY), "{tag} {target}");
            }
        }
        let edited = submit(
            &mut c,
            "/companies/nasty/edit/",
            &[("name", "Renamed"), ("slug", "nasty"), ("industry", "Retail"), ("city", "Oslo"), ("website", "")],
        )
        .await;
        assert_eq!(edited.status(), 302, "{tag}: {}", edited.text());
        let row = company::Entity::find().filter(company::Column::Slug.eq("nasty")).one(&db).await.unwrap().unwrap();
        assert_eq!(row.name, "Renamed", "{tag}: the edit is stored");
        let gone = submit(&mut c, "/companies/nasty/delete/", &[]).await;
        assert_eq!(gone.status(), 302, "{tag}: {}", gone.text());
        let row = company::Entity::find().filter(company::Column::Slug.eq("nasty")).one(&db).await.unwrap();
        assert!(row.is_none(), "{tag}: the delete is stored");
    }

    let token = c.get("/").await.csrf_token().unwrap();
    c.post_form("/accounts/logout/", &[("csrfmiddlewaretoken", &token)]).await;
    let mut replay = browser(&site);
    replay.set_cookie("sessionid", &key);
    assert_eq!(replay.get("/").await.status(), 302, "{tag}: the logged-out session is gone from the store");
    drop(db);
    let _ = site;
    let admin = djambda::db::sea_orm::Database::connect(base).await.unwrap();
    use djambda::db::sea_orm::ConnectionTrait;
    // The pooler keeps its server connections to the database open: end them too.
    let force = if pooler.is_some() { " WITH (FORCE)" } else { "" };
    let _ = admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name}{force}")).await;
}

#[tokio::test]
#[ignore = "needs DJAMBDA_TEST_POSTGRES_URL (a PostgreSQL database; .ci/run sets it)"]
async fn the_logged_in_crm_on_postgres() {
    let base = std::env::var("DJAMBDA_TEST_POSTGRES_URL").expect("DJAMBDA_TEST_POSTGRES_URL");
    crm_on_server(&base, "auth_pg", None).await;
}

/// The logged-in CRM through PgBouncer in transaction mode, with DATABASE_POOLER set: without
/// it, the second client to meet a server connection finds the first one's `sqlx_s_1` there.
#[tokio::test]
#[ignore = "needs DJAMBDA_TEST_PGBOUNCER_URL (PgBouncer in transaction mode in front of DJAMBDA_TEST_POSTGRES_URL; .ci/run starts one)"]
async fn the_logged_in_crm_through_pgbouncer() {
    let base = std::env::var("DJAMBDA_TEST_POSTGRES_URL").expect("DJAMBDA_TEST_POSTGRES_URL");
    let pooler = std::env::var("DJAMBDA_TEST_PGBOUNCER_URL").expect("DJAMBDA_TEST_PGBOUNCER_URL");
    crm_through(&base, Some(&pooler), "auth_pgbouncer", None).await;
}

#[tokio::test]
#[ignore = "needs DJAMBDA_TEST_MYSQL_URL (a MySQL or MariaDB database; .ci/run sets it)"]
async fn the_logged_in_crm_on_mysql() {
    let base = std::env::var("DJAMBDA_TEST_MYSQL_URL").expect("DJAMBDA_TEST_MYSQL_URL");
    crm_on_server(&base, "auth_mysql", None).await;
}

#[tokio::test]
#[ignore = "needs DJAMBDA_TEST_REDIS_URL and DJAMBDA_TEST_POSTGRES_URL (.ci/run sets them)"]
async fn sessions_in_redis() {
    let redis = std::env::var("DJAMBDA_TEST_REDIS_URL").expect("DJAMBDA_TEST_REDIS_URL");
    let base = std::env::var("DJAMBDA_TEST_POSTGRES_URL").expect("DJAMBDA_TEST_POSTGRES_URL");
    crm_on_server(&base, "auth_redis", Some(&redis)).await;
    // Redis forgets a session when its age is up.
    let site = crm_site(
        "auth-redis-expiry",
        &[("SESSION_ENGINE", "cache"), ("REDIS_URL", &redis), ("SESSION_COOKIE_AGE", "1")],
    );
    let mut c = browser(&site);
    assert_eq!(log_in(&mut c, "demo", "demo", "/").await.status(), 302);
    assert_eq!(c.get("/").await.status(), 200);
    std::thread::sleep(std::time::Duration::from_millis(2200));
    assert_eq!(c.get("/").await.status(), 302, "expired in Redis");
    // The readiness probe asks Redis too.
    let ready = c.get("/readyz").await;
    assert_eq!(ready.status(), 200, "{}", ready.text());
    assert_eq!(ready.json::<serde_json::Value>().unwrap()["checks"]["sessions"], "ok");
    // An unreachable Redis is a 503 for the request that needs it, not a crash.
    let down = crm_site("auth-redis-down", &[("SESSION_ENGINE", "cache"), ("REDIS_URL", "redis://127.0.0.1:1/0")]);
    let mut c = browser(&down);
    c.set_cookie("sessionid", &"k".repeat(32));
    assert_eq!(c.get("/").await.status(), 503);
    // And the probe (a load balancer's carries no session cookie) says which part is down.
    let ready = browser(&down).get("/readyz").await;
    assert_eq!(ready.status(), 503, "{}", ready.text());
    let body = ready.json::<serde_json::Value>().unwrap();
    assert_eq!(body["checks"]["database"], "ok", "{body}");
    // DEBUG is off: the failed check is named, its details are in the log only.
    assert_eq!(body["checks"]["sessions"], "error", "{body}");
}

/// Django's password change, logged in: the old password must be right, the new one typed
/// twice and good enough; after it, this session goes on, the user's other sessions end, and
/// only the new password logs in.
#[tokio::test]
async fn a_logged_in_user_changes_their_password() {
    const FORM: &str = "/accounts/password_change/";
    let site = crm_site("auth-password-change", &[]);
    let mut anonymous = browser(&site);
    let refused = anonymous.get(FORM).await;
    assert_eq!(refused.status(), 302);
    assert_eq!(refused.location(), Some("/accounts/login/?next=%2Faccounts%2Fpassword_change%2F"));

    let mut c = browser(&site);
    let mut elsewhere = browser(&site);
    assert_eq!(log_in(&mut c, "demo", "demo", "/").await.status(), 302);
    assert_eq!(log_in(&mut elsewhere, "demo", "demo", "/").await.status(), 302);
    let page = c.get(FORM).await;
    assert_eq!(page.status(), 200);
    for field in ["old_password", "new_password1", "new_password2"] {
        assert!(
            page.text().contains(&format!("name=\"{field}\" type=\"password\""))
                || page.text().contains(&format!("type=\"password\" name=\"{field}\"")),
            "{field}: {}",
            page.text()
        );
    }
    for (fields, says) in [
        (
            [("old_password", "wrong"), ("new_password1", "Kr3stel-Bay-41"), ("new_password2", "Kr3stel-Bay-41")],
            "Your old password was entered incorrectly.",
        ),
        (
            [("old_password", "demo"), ("new_password1", "Kr3stel-Bay-41"), ("new_password2", "Kr3stel-Bay-42")],
            "The two password fields didn’t match.",
        ),
        (
            [("old_password", "demo"), ("new_password1", "12345678901"), ("new_password2", "12345678901")],
            "This password is entirely numeric.",
        ),
    ] {
        let answer = submit(&mut c, FORM, &fields).await;
        assert_eq!(answer.status(), 200, "{says}");
        assert!(answer.text().contains(&escaped(says)), "{says}: {}", answer.text());
    }
    let changed = submit(
        &mut c,
        FORM,
        &[("old_password", "demo"), ("new_password1", "Kr3stel-Bay-41"), ("new_password2", "Kr3stel-Bay-41")],
    )
    .await;
    assert_eq!(changed.status(), 302, "{}", changed.text());
    assert_eq!(changed.location(), Some("/accounts/password_change/done/"));
    let done = c.get("/accounts/password_change/done/").await;
    assert!(done.text().contains("Password change successful"), "{}", done.text());
    assert_eq!(c.get("/").await.status(), 200, "this session goes on");
    assert_eq!(elsewhere.get("/").await.status(), 302, "the other session ended");
    let mut again = browser(&site);
    assert_eq!(log_in(&mut again, "demo", "demo", "/").await.status(), 200, "the old password no longer logs in");
    assert_eq!(log_in(&mut again, "demo", "Kr3stel-Bay-41", "/").await.status(), 302);
}
