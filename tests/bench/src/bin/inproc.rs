//! Where a request's time goes inside djambda, without sockets: the example site's page through
//! `Site::handle` (the whole request path: middleware, resolver, view, context processors,
//! template), beside the same template rendered straight from the engine with the context the
//! view builds. Their difference is the framework's own cost per request.
//!
//!   inproc [PATH] [ITERATIONS]

use std::time::Instant;

use bytes::Bytes;

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().unwrap_or_else(|| "/".into());
    let iterations: u32 = args.next().and_then(|n| n.parse().ok()).unwrap_or(20_000);
    let env = |name: &str| match name {
        "DEBUG" => Some("false".into()),
        "SECRET_KEY" => Some("inproc-bench-secret-0123456789abcdefghijklmnop".into()),
        "ALLOWED_HOSTS" => Some("127.0.0.1".into()),
        "DATABASE_URL" => std::env::var("DATABASE_URL").ok(),
        _ => None,
    };
    let settings = djambda::Settings::from_sources(Some(example_site::SETTINGS_TOML), env).expect("settings");
    let site = example_site::site_with_settings(settings).expect("site");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let request = || http::Request::get(path.as_str()).header("host", "127.0.0.1").body(Bytes::new()).expect("request");

    let first = rt.block_on(site.handle(request()));
    assert_eq!(first.status(), 200, "{path} must answer 200 for a meaningful figure: {:?}", first.body());

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
    println!("Site::handle {path}: {per_request:.1} µs/request over {iterations} requests (one thread, no sockets)");
}
