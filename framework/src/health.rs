//! Health checks for load balancers and orchestrators (what django-health-check adds to a
//! Django site): `/healthz` answers while the process serves, and `/readyz` while what it needs
//! answers too: the database, and every app's [readiness checks](crate::App::readiness_check)
//! (the sessions app adds Redis when `SESSION_ENGINE = "cache"`).
//!
//! Both answer JSON, need no login and take any `Host` over plain HTTP (they are
//! [`Probe`] routes): an Application Load Balancer asks by the target's address. A failed
//! readiness check is a 503 whose body names it (with its error when DEBUG is on; the error
//! always goes to the log):
//!
//! ```json
//! {"status": "unavailable", "checks": {"database": "error", "sessions": "ok"}}
//! ```
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use djambda::prelude::*;
//!
//! let site = Site::builder()
//!     .settings(Settings::from_sources(Some("DEBUG = true"), |_| None).unwrap())
//!     .app(djambda::health::app())
//!     .build()
//!     .unwrap();
//! let mut client = djambda::test::Client::new(site);
//! let alive = client.get("/healthz").await;
//! assert_eq!(alive.status(), 200);
//! assert_eq!(alive.json::<serde_json::Value>().unwrap()["status"], "ok");
//! # });
//! ```

use http::StatusCode;
use serde_json::{Map, Value, json};

use crate::auth::LoginNotRequired;
use crate::middleware::Probe;
use crate::request::Request;
use crate::routing::{UrlConf, get};
use crate::site::app::App;
use crate::{Response, Result};

/// The health app: `/healthz` and `/readyz` at the root (reversed as `health:alive` and
/// `health:ready`); `.mount("ops/")` moves them.
pub fn app() -> App {
    App::new("health").urls("", urlpatterns())
}

fn urlpatterns() -> UrlConf {
    UrlConf::app("health").path("healthz", get(alive).with_meta(Probe).with_meta(LoginNotRequired), "alive").path(
        "readyz",
        get(ready).with_meta(Probe).with_meta(LoginNotRequired),
        "ready",
    )
}

/// The process answers: `{"status": "ok"}`. It asks nothing else, so that a slow database
/// does not get a healthy instance replaced.
async fn alive(_req: Request) -> Result<Response> {
    Ok(no_store(Response::json(&json!({ "status": "ok" }))?))
}

/// Every readiness check: 200 when all pass, 503 naming the ones that failed.
async fn ready(req: Request) -> Result<Response> {
    let found = req.site().readiness().await;
    let debug = req.settings().debug;
    let mut checks = Map::new();
    for (name, result) in &found.checks {
        let said = match result {
            Ok(()) => "ok".to_owned(),
            Err(e) => {
                // The details (host names, drivers' messages) go to the log; a public probe's
                // answer names the failed check and says more only with DEBUG on.
                eprintln!("readiness check {name:?} failed: {e}");
                if debug { format!("error: {e}") } else { "error".to_owned() }
            }
        };
        checks.insert(name.clone(), Value::String(said));
    }
    let (status, word) =
        if found.is_ready() { (StatusCode::OK, "ok") } else { (StatusCode::SERVICE_UNAVAILABLE, "unavailable") };
    let body = json!({ "status": word, "checks": checks });
    Ok(no_store(Response::json(&body)?.with_status(status)))
}

/// A probe's answer is about now: no cache in between may keep it.
fn no_store(resp: Response) -> Response {
    resp.with_header(http::header::CACHE_CONTROL, "no-store")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Settings;
    use crate::site::Site;
    use crate::test::Client;

    fn site(settings: &'static str, extra: App) -> Site {
        Site::builder()
            .settings(Settings::from_sources(Some(settings), |_| None).unwrap())
            .app(crate::auth::app())
            .app(crate::sessions::app())
            .app(crate::csrf::app())
            .app(app())
            .app(extra.urls(
                "",
                UrlConf::app("pages").path("", get(|_req: Request| async { Ok(Response::text("home")) }), "home"),
            ))
            .middleware(crate::auth::LoginRequiredMiddleware)
            .build()
            .unwrap()
    }

    const SECURED: &str = "DEBUG = false\nSECRET_KEY = 'health-tests-secret-key-0123456789abcdef'\n\
                           ALLOWED_HOSTS = ['crm.example.com']\nSECURE_SSL_REDIRECT = true\n\
                           DATABASE_URL = 'sqlite::memory:'";

    #[tokio::test]
    async fn probes_answer_any_host_over_http_without_a_login() {
        let site = site(SECURED, App::new("pages"));
        // The target's address, as a load balancer sends it, over plain HTTP.
        let mut probe = Client::new(site.clone()).with_host("10.0.3.17:8000");
        let alive = probe.get("/healthz").await;
        assert_eq!(alive.status(), 200, "{}", alive.text());
        assert_eq!(alive.json::<Value>().unwrap(), json!({ "status": "ok" }));
        assert_eq!(alive.header("cache-control"), Some("no-store"));
        let ready = probe.get("/readyz").await;
        assert_eq!(ready.status(), 200, "{}", ready.text());
        assert_eq!(
            ready.json::<Value>().unwrap(),
            json!({ "status": "ok", "checks": { "database": "ok", "sessions": "ok" } })
        );
        // Every other page still checks the host, redirects to HTTPS and needs a login.
        assert_eq!(probe.get("/").await.status(), 400);
        let mut browser = Client::new(site).with_host("crm.example.com");
        let home = browser.get("/").await;
        assert_eq!(home.status(), 301);
        assert_eq!(home.location(), Some("https://crm.example.com/"));
    }

    #[tokio::test]
    async fn a_failed_check_is_a_503_that_names_it() {
        let failing = App::new("pages")
            .readiness_check("search", |_site| async { Err("connection refused (127.0.0.1:9200)".to_owned()) })
            .readiness_check("mail", |_site| async {
                tokio::time::sleep(std::time::Duration::from_secs(60)).await;
                Ok(())
            });
        let settings = "DEBUG = true\nDATABASE_URL = 'sqlite:///nonexistent-folder/for/health/db.sqlite3'";
        let mut probe = Client::new(site(settings, failing));
        let began = std::time::Instant::now();
        let ready = probe.get("/readyz").await;
        assert!(began.elapsed() < std::time::Duration::from_secs(10), "a hung check is cut off");
        assert_eq!(ready.status(), 503, "{}", ready.text());
        let body = ready.json::<Value>().unwrap();
        assert_eq!(body["status"], "unavailable");
        assert_eq!(body["checks"]["search"], "error: connection refused (127.0.0.1:9200)");
        assert_eq!(body["checks"]["mail"], "error: no answer within 3 s");
        assert!(body["checks"]["database"].as_str().unwrap().starts_with("error: "), "{body}");
        assert_eq!(body["checks"]["sessions"], "ok");
        // Alive all the same: the process answers.
        assert_eq!(probe.get("/healthz").await.status(), 200);
    }
}
