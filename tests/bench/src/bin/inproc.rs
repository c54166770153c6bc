//! Where a request's time goes inside djambda, without sockets: the example site's page through
//! `Site::handle` (the whole request path: middleware, resolver, view, context processors,
//! template), one thread, no sockets.
//!
//! The example CRM requires login for every page, so the test client logs in first as the demo
//! user (`demo`/`demo`, from `manage loaddata demo`; DATABASE_URL names the database) and every
//! timed request carries its cookies (session and CSRF), as a logged-in browser's would: the
//! figure includes the session check and the user and permission queries.
//!
//!   inproc [PATH] [ITERATIONS]

use std::time::Instant;

use bytes::Bytes;
use djambda::test::Client;

/// Text only the page a logged-in user sees has (not the login page a redirect leads to).
const EXPECTED: &str = "Open pipeline";

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().unwrap_or_else(|| "/".into());
    let iterations: u32 = args.next().and_then(|n| n.parse().ok()).unwrap_or(20_000);
    let env = |name: &str| match name {
        "DEBUG" => Some("false".into()),
        "SECRET_KEY" => Some("inproc-bench-secret-0123456789abcdefghijklmnop".into()),
        "ALLOWED_HOSTS" => Some("127.0.0.1".into()),
        "DATABASE_URL" => std::env::var("DATABASE_URL").ok(),
        // `SECURE_CSP=` (empty) measures the page without its Content-Security-Policy.
        "SECURE_CSP" => std::env::var("SECURE_CSP").ok(),
        _ => None,
    };
    let settings = djambda::Settings::from_sources(Some(example_site::SETTINGS_TOML), env).expect("settings");
    let site = example_site::site_with_settings(settings).expect("site");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");

    let mut client = Client::new(site.clone()).with_host("127.0.0.1");
    assert!(
        rt.block_on(client.login("demo", "demo")),
        "could not log in as demo/demo: is DATABASE_URL the demo database?"
    );
    let cookie = client.cookie_header();
    assert!(cookie.contains("sessionid="), "no session cookie after logging in: `{cookie}`");

    let request = || {
        http::Request::get(path.as_str())
            .header("host", "127.0.0.1")
            .header("cookie", cookie.as_str())
            .body(Bytes::new())
            .expect("request")
    };

    let first = rt.block_on(site.handle(request()));
    let body = String::from_utf8_lossy(first.body());
    assert_eq!(first.status(), 200, "{path} must answer 200 for a meaningful figure: {body}");
    if path == "/" {
        assert!(body.contains(EXPECTED), "GET / is not the logged-in dashboard (no `{EXPECTED}`): {body}");
    }
    assert!(!body.contains("name=\"password\""), "GET {path} shows a login form, not the logged-in page: {body}");

    // Silence the per-request log line for this measurement: stderr to /dev/null is still a
    // write per request, which is part of what is measured (runserver logs every request).
    let started = Instant::now();
    rt.block_on(async {
        for _ in 0..iterations {
            let resp = site.handle(request()).await;
            std::hint::black_box(resp);
        }
    });
    let per_request = started.elapsed().as_secs_f64() * 1e6 / f64::from(iterations);
    println!(
        "Site::handle {path} (logged in): {per_request:.1} µs/request over {iterations} requests (one thread, no sockets)"
    );
}
