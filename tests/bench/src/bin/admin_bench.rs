//! The admin's change list over many contacts: queries per page and page time, in process
//! (`Site::handle`: middleware, the admin's views, the template; no sockets), on the database
//! DATABASE_URL names (SQLite or PostgreSQL).
//!
//!   admin_bench [CONTACTS] [RUNS]
//!
//! It migrates the database, adds 50 companies and CONTACTS contacts (10,000 by default) and a
//! staff superuser, logs in through the admin's login page, then times each page RUNS times
//! (after 3 warm-up requests) and counts the statements each request ran
//! (`Database::queries_executed`). Every timed page must answer 200 with the rows it should
//! show, so a redirect or an empty page is never what gets measured. The database should be a
//! scratch one: the contacts stay in it.

use std::time::Instant;

use bytes::Bytes;
use djambda::db::sea_orm::ConnectionTrait;
use djambda::test::Client;

/// The pages measured: (what, path, rows the page must list).
const PAGES: [(&str, &str, usize); 6] = [
    ("list, 50 rows, related column", "/admin/crm/contact/", 50),
    ("list, 10 rows (a search)", "/admin/crm/contact/?q=person0000", 10),
    ("search across the company name", "/admin/crm/contact/?q=northwind+07", 50),
    ("filter + search", "/admin/crm/contact/?company_id__exact=7&q=person", 50),
    ("sorted by the company's name", "/admin/crm/contact/?o=2.-1", 50),
    ("page 150 of 200", "/admin/crm/contact/?p=150", 50),
];

fn main() {
    let mut args = std::env::args().skip(1);
    let contacts: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(10_000);
    let runs: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(30);
    let url = std::env::var("DATABASE_URL").expect("DATABASE_URL: the scratch database to fill and measure");
    let env_url = url.clone();
    let env = move |name: &str| match name {
        "DEBUG" => Some("false".into()),
        "SECRET_KEY" => Some("admin-bench-secret-0123456789abcdefghijklmnop".into()),
        "ALLOWED_HOSTS" => Some("127.0.0.1".into()),
        "DATABASE_URL" => Some(env_url.clone()),
        _ => None,
    };
    let settings = djambda::Settings::from_sources(Some(example_site::SETTINGS_TOML), env).expect("settings");
    let site = example_site::site_with_settings(settings).expect("site");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        site.apply_migrations().await.expect("migrate");
        let db = site.database().connection().await.expect("connect");
        site.post_migrate(&db).await.expect("post_migrate");
        fill(&db, contacts).await;
    });

    let mut client = Client::new(site.clone()).with_host("127.0.0.1");
    rt.block_on(async {
        let page = client.get("/admin/login/").await;
        let token = page.csrf_token().expect("the admin's login page");
        let resp = client
            .post_form(
                "/admin/login/",
                &[("csrfmiddlewaretoken", &token), ("username", "bench"), ("password", "bench-password-1")],
            )
            .await;
        assert_eq!(resp.status(), 302, "could not log in to the admin: {}", resp.text());
    });
    let cookie = client.cookie_header();
    let backend = url.split(':').next().unwrap_or("?");
    println!(
        "admin change list, {contacts} contacts in 50 companies, {backend}, {runs} runs per page (after 3 warm-up)"
    );
    println!("{:<34} {:>8} {:>10} {:>10} {:>10}", "page", "queries", "median ms", "p90 ms", "rows");
    for (what, path, rows) in PAGES {
        let request = || {
            http::Request::get(path)
                .header("host", "127.0.0.1")
                .header("cookie", cookie.as_str())
                .body(Bytes::new())
                .expect("request")
        };
        let mut times = Vec::with_capacity(runs);
        let mut queries = Vec::with_capacity(runs);
        let mut shown = 0;
        rt.block_on(async {
            for i in 0..runs + 3 {
                let before = site.database().queries_executed();
                let started = Instant::now();
                let resp = site.handle(request()).await;
                let elapsed = started.elapsed();
                let spent = site.database().queries_executed() - before;
                let body = String::from_utf8_lossy(resp.body());
                assert_eq!(resp.status(), 200, "{path}: {body}");
                shown = body.matches("class=\"action-select\"").count();
                assert_eq!(shown, rows, "{path} lists {shown} rows, not {rows}");
                if i >= 3 {
                    times.push(elapsed.as_secs_f64() * 1000.0);
                    queries.push(spent);
                }
            }
        });
        times.sort_by(f64::total_cmp);
        queries.sort_unstable();
        let median = times[times.len() / 2];
        let p90 = times[(times.len() * 9 / 10).min(times.len() - 1)];
        let q = if queries.first() == queries.last() {
            queries[0].to_string()
        } else {
            format!("{}-{}", queries[0], queries[queries.len() - 1])
        };
        println!("{what:<34} {q:>8} {median:>10.2} {p90:>10.2} {shown:>10}");
    }
}

/// 50 companies, `contacts` contacts spread over them, and the `bench` superuser.
async fn fill(db: &djambda::db::sea_orm::DatabaseConnection, contacts: usize) {
    let password = djambda::auth::hashers::make_password("bench-password-1");
    let now = "2026-12-01 09:00:00+00:00";
    db.execute_unprepared(&format!(
        "INSERT INTO auth_user (password, last_login, is_superuser, username, first_name, last_name, email, is_staff, \
         is_active, date_joined) VALUES ('{password}', NULL, TRUE, 'bench', 'Bench', 'Mark', 'bench@example.com', TRUE, \
         TRUE, '{now}')"
    ))
    .await
    .expect("the bench user");
    let companies: Vec<String> = (0..50)
        .map(|i| format!("('northwind-{i:02}', 'Northwind {i:02}', 'Freight', 'City {i}', 'https://n{i}.example')"))
        .collect();
    db.execute_unprepared(&format!(
        "INSERT INTO company (slug, name, industry, city, website) VALUES {}",
        companies.join(", ")
    ))
    .await
    .expect("companies");
    for start in (0..contacts).step_by(500) {
        let rows: Vec<String> = (start..(start + 500).min(contacts))
            .map(|i| {
                format!(
                    "({}, 'First{i:05}', 'Person{i:05}', 'Tester', 'person{i:05}@example.com', '+44 20 {i:05}')",
                    1 + i % 50
                )
            })
            .collect();
        db.execute_unprepared(&format!(
            "INSERT INTO contact (company_id, first_name, last_name, title, email, phone) VALUES {}",
            rows.join(", ")
        ))
        .await
        .expect("contacts");
    }
}
