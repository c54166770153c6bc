//! What two of issue 14's batteries cost and save, in-process (one thread, no sockets):
//!
//! - the page cache: the example CRM's dashboard (queries and template) through `Site::handle`
//!   as a logged-in user, plain and under `cache_page` (local memory, or CACHE_BACKEND from the
//!   environment: `db`, or `redis` with CACHE_LOCATION), and the time saved per request;
//! - email: rendering the password reset email from its templates and sending it to the
//!   `locmem` outbox, per message.
//!
//! Prints figures, asserts nothing about time.
//!
//!   DATABASE_URL=sqlite://…demo.sqlite3 batteries [ITERATIONS]

use std::time::{Duration, Instant};

use bytes::Bytes;
use djambda::cache::cache_page;
use djambda::mail::EmailMessage;
use djambda::test::Client;
use djambda::{App, UrlConf};

fn main() {
    let iterations: u32 = std::env::args().nth(1).and_then(|n| n.parse().ok()).unwrap_or(5_000);
    let env = |name: &str| match name {
        "DEBUG" => Some("false".into()),
        "SECRET_KEY" => Some("batteries-bench-secret-0123456789abcdefghijklmnop".into()),
        "ALLOWED_HOSTS" => Some("127.0.0.1".into()),
        "EMAIL_BACKEND" => Some("locmem".into()),
        "DATABASE_URL" | "CACHE_BACKEND" | "CACHE_LOCATION" => std::env::var(name).ok(),
        "CACHE_KEY_PREFIX" => Some(format!("djambda-bench-{}", std::process::id())),
        _ => None,
    };
    let settings = djambda::Settings::from_sources(Some(example_site::SETTINGS_TOML), env).expect("settings");
    let dashboard = example_site::crm::views::dashboard;
    let bench = App::new("bench").urls(
        "bench/",
        UrlConf::new().path("uncached/", djambda::routing::get(dashboard), "uncached").path(
            "cached/",
            cache_page(Duration::from_secs(600), dashboard),
            "cached",
        ),
    );
    let site = example_site::builder(settings).app(bench).build().expect("site");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        if site.settings().cache.backend == djambda::conf::CacheBackendName::Database {
            site.apply_migrations().await.expect("migrate the cache table");
        }
    });

    let mut client = Client::new(site.clone()).with_host("127.0.0.1");
    assert!(
        rt.block_on(client.login("demo", "demo")),
        "could not log in as demo/demo: is DATABASE_URL the demo database?"
    );
    let cookie = client.cookie_header();
    let request = |path: &str| {
        http::Request::get(path)
            .header("host", "127.0.0.1")
            .header("cookie", cookie.as_str())
            .body(Bytes::new())
            .unwrap()
    };
    let mut per_request = Vec::new();
    for path in ["/bench/uncached/", "/bench/cached/"] {
        let first = rt.block_on(site.handle(request(path)));
        let body = String::from_utf8_lossy(first.body()).into_owned();
        assert_eq!(first.status(), 200, "{path}: {body}");
        assert!(body.contains("Open pipeline"), "{path} is not the dashboard: {body}");
        let started = Instant::now();
        rt.block_on(async {
            for _ in 0..iterations {
                let resp = site.handle(request(path)).await;
                assert_eq!(resp.status(), 200);
                std::hint::black_box(resp);
            }
        });
        let micros = started.elapsed().as_secs_f64() * 1e6 / f64::from(iterations);
        println!("Site::handle {path} (logged in): {micros:.1} µs/request over {iterations} requests");
        per_request.push(micros);
    }
    let backend = std::env::var("CACHE_BACKEND").unwrap_or_else(|_| "locmem".into());
    println!(
        "cache_page ({backend}) saves {:.1} µs/request ({:.1}× faster) on the dashboard",
        per_request[0] - per_request[1],
        per_request[0] / per_request[1]
    );

    // The password reset email: render subject and body, check, write out, keep in the outbox.
    let mut ctx = djambda::templates::Context::new();
    ctx.insert("reset_url", "https://crm.example.com/accounts/reset/MQ/d2k1xs-0123456789abcdef0123/");
    ctx.insert("domain", "crm.example.com");
    ctx.insert("user", &serde_json::json!({"username": "demo", "email": "dana@northwind.example"}));
    let started = Instant::now();
    rt.block_on(async {
        for _ in 0..iterations {
            let message = EmailMessage::from_templates(
                &site,
                "registration/password_reset_subject.txt",
                "registration/password_reset_email.txt",
                None,
                &ctx,
            )
            .expect("render")
            .to(["dana@northwind.example"]);
            message.send(&site).await.expect("send");
        }
    });
    let micros = started.elapsed().as_secs_f64() * 1e6 / f64::from(iterations);
    println!("password reset email, rendered and sent to the locmem outbox: {micros:.1} µs/message");
    assert_eq!(djambda::mail::outbox(&site).map(|o| o.len()), Some(iterations as usize));
}
