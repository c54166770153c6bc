//! The site through the in-process test client: the same `Site::handle` both doors call.

use djambda::http::{Method, StatusCode};
use djambda::middleware::{Next, from_fn};
use djambda::prelude::*;
use djambda::routing::get;
use djambda::test::Client;
use djambda::urls::Converter;
use djambda::{ConfigError, Site};

fn settings(debug: bool) -> Settings {
    crate::example_settings(debug)
}

/// The example site with the demo superuser logged in (the whole CRM needs a login).
fn example(debug: bool) -> Client {
    let mut client = Client::new(example_site::site_with_settings(settings(debug)).unwrap());
    client.set_cookie("sessionid", session_of(crate::demo_login()));
    client
}

/// The session cookie's value in a [`crate::DemoLogin`].
fn session_of(login: &crate::DemoLogin) -> &str {
    login.cookie.split("; ").find_map(|c| c.strip_prefix("sessionid=")).expect("a session cookie")
}

#[tokio::test]
async fn example_pages_render_with_links_that_resolve() {
    let mut c = example(false);
    let home = c.get("/").await;
    assert_eq!(home.status(), 200);
    let html = home.text();
    for link in ["href=\"/companies/\"", "href=\"/contacts/\"", "href=\"/deals/\""] {
        assert!(html.contains(link), "dashboard links {link}");
    }
    // Every internal link on the dashboard resolves.
    for href in html.split("href=\"").skip(1).map(|s| &s[..s.find('"').unwrap()]) {
        if href.starts_with('/') {
            let resp = c.get(href).await;
            assert!(resp.status() == 200 || resp.status() == 302, "{href} gave {}", resp.status());
        }
    }
    let company = c.get("/companies/acme-logistics/").await;
    assert!(company.text().contains("Maarten") && company.text().contains("Fleet tracking rollout"));
    let search = c.get("/contacts/?q=carvalho").await;
    assert!(search.text().contains("Inês") && !search.text().contains("Maarten"));
    let page = c.get("/contacts/?page=last").await;
    assert_eq!(page.status(), 200);
    assert_eq!(c.get("/contacts/?page=99").await.status(), 404, "an out-of-range page is a 404");
    assert_eq!(c.get("/deals/?stage=bogus").await.status(), 400);
    let csv = c.get("/contacts/export.csv").await;
    assert_eq!(csv.header("content-type"), Some("text/csv; charset=utf-8"));
    assert!(csv.header("content-disposition").unwrap().contains("contacts.csv"));
    let json: serde_json::Value = c.get("/api/contacts/3/").await.json().unwrap();
    assert_eq!(json["last_name"], "Carvalho");
    assert_eq!(json["company"]["name"], "Blue Harbor Foods");
}

#[tokio::test]
async fn html_is_autoescaped_and_forms_rerender_with_errors() {
    let mut c = example(false);
    let resp = c.post_form("/forecast/", &[("amount", "<script>alert(1)</script>"), ("probability", "50")]).await;
    assert_eq!(resp.status(), 422);
    let html = resp.text();
    assert!(!html.contains("<script>alert(1)"), "user input is escaped");
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;&#x2F;script&gt;") || html.contains("&lt;script&gt;"),
        "and shown back: {html}"
    );
    assert!(html.contains("Enter a number"));
    let ok = c.post_form("/forecast/", &[("amount", "2000"), ("probability", "25")]).await;
    assert!(ok.text().contains("$500.00"));
    let wrong_type = c.post_json("/forecast/", &serde_json::json!({"amount": 1})).await;
    assert_eq!(wrong_type.status(), 415, "a JSON body where a form is expected");
}

#[tokio::test]
async fn cookies_round_trip_and_head_matches_get() {
    let mut c = example(false);
    let resp = c.get("/preferences/?theme=dark&density=compact").await;
    assert_eq!(resp.status(), 302);
    assert_eq!(resp.headers().get_all("set-cookie").iter().count(), 2, "two Set-Cookie headers");
    assert_eq!(c.cookie("theme"), Some("dark"));
    let home = c.get_follow("/preferences/?theme=dark").await;
    assert_eq!(home.redirect_chain, vec!["/".to_string()]);
    assert!(home.text().contains("theme-dark density-compact"));
    let head = c.head("/").await;
    assert!(head.bytes().is_empty());
    assert_eq!(head.header("content-length"), Some(home.bytes().len().to_string().as_str()));
}

#[tokio::test]
async fn error_pages_hide_internals_without_debug() {
    let mut c = example(false);
    let nf = c.get("/contacts/999/").await;
    assert_eq!(nf.status(), 404);
    assert!(nf.text().contains("Page not found"), "the site's own 404.html");
    // What the view said (the table it looked in) is on the debug page only.
    let debug = example(true).get("/contacts/999/").await;
    assert!(debug.text().contains("No contact matches the given query."), "{}", debug.text());
    assert!(!nf.text().contains("matches the given query"), "the view's message kept off: {}", nf.text());
    assert!(!nf.text().contains("contacts/&lt;int:pk&gt;/"), "no URL patterns: {}", nf.text());
    let bad_host = example(false).with_host("evil.example").get("/").await;
    assert_eq!(bad_host.status(), 400);
    assert!(!bad_host.text().contains("ALLOWED_HOSTS"), "no hint with DEBUG off");
}

async fn boom(_req: Request) -> Result<Response> {
    let n: i32 = "not a number".parse()?;
    Ok(Response::text(n.to_string()))
}

async fn panics(_req: Request) -> Result<Response> {
    panic!("the view fell over")
}

async fn item_int(_req: Request, Path(id): Path<u32>) -> Result<Response> {
    Ok(Response::text(format!("int {id}")))
}

async fn item_slug(req: Request) -> Result<Response> {
    Ok(Response::text(format!("slug {}", req.param("s").unwrap_or_default())))
}

async fn echo(req: Request) -> Result<Response> {
    let tags = req.query().get_list("tag").join("+");
    Ok(Response::text(format!("{} {tags} {}", req.method(), req.form().get("name").unwrap_or("-"))))
}

async fn page(req: Request) -> Result<Response> {
    render(&req, "page.html", context! { text: "<b>hi</b>" })
}

async fn year(_req: Request, Path(y): Path<u16>) -> Result<Response> {
    Ok(Response::text(format!("year {y}")))
}

struct FourDigits;
impl Converter for FourDigits {
    fn matches(&self, v: &str) -> bool {
        v.len() == 4 && v.bytes().all(|b| b.is_ascii_digit())
    }
}

fn demo_urls() -> UrlConf {
    UrlConf::new()
        .path("boom/", boom, "boom")
        .path("panic/", panics, "panic")
        .path("items/<int:id>/", item_int, "item-int")
        .path("items/<slug:s>/", item_slug, "item-slug")
        .path("echo/", get(echo).post(echo), "echo")
        .path("page/", page, "page")
        .path("archive/<yyyy:y>/", year, "archive")
}

fn demo_site(debug: bool, templates: djambda::assets::AssetDir) -> Site {
    Site::builder()
        .settings(settings(debug))
        .urls(demo_urls())
        .templates(templates)
        .converter("yyyy", FourDigits)
        .build()
        .unwrap()
}

#[tokio::test]
async fn debug_500_shows_the_error_chain_and_the_request() {
    let mut c = Client::new(demo_site(true, djambda::assets!("../tests/e2e/fixtures/good")));
    let resp = c.get("/boom/?x=1").await;
    assert_eq!(resp.status(), 500);
    let html = resp.text();
    assert!(html.contains("invalid digit found in string"), "the error: {html}");
    assert!(html.contains("/boom/?x=1") && html.contains("boom"), "the request and route");

    let mut quiet = Client::new(demo_site(false, djambda::assets!("../tests/e2e/fixtures/good")));
    let resp = quiet.get("/boom/").await;
    assert_eq!(resp.status(), 500);
    assert!(!resp.text().contains("invalid digit"), "nothing internal with DEBUG off");
}

#[tokio::test]
async fn a_panicking_view_is_a_500_and_the_site_keeps_serving() {
    let mut c = Client::new(demo_site(false, djambda::assets!("../tests/e2e/fixtures/good")));
    let fell = c.get("/panic/").await;
    assert_eq!(fell.status(), 500);
    assert!(!fell.text().contains("fell over"), "the panic's message stays off the page: {}", fell.text());
    assert!(fell.text().contains("Something went wrong on our side."), "the default 500 page: {}", fell.text());
    assert_eq!(c.get("/items/3/").await.text(), "int 3");
    // With DEBUG on the panic's message is what the developer needs.
    let mut dev = Client::new(demo_site(true, djambda::assets!("../tests/e2e/fixtures/good")));
    assert!(dev.get("/panic/").await.text().contains("the view fell over"));
}

#[tokio::test]
async fn template_errors_name_the_template_and_line() {
    let mut render_err = Client::new(demo_site(true, djambda::assets!("../tests/e2e/fixtures/render_error")));
    let html = render_err.get("/page/").await.text();
    assert!(html.contains("In template <strong>page.html</strong>, line <strong>3</strong>"), "{html}");
    let mut syntax_err = Client::new(demo_site(true, djambda::assets!("../tests/e2e/fixtures/syntax_error")));
    let html = syntax_err.get("/page/").await.text();
    assert!(html.contains("In template <strong>page.html</strong>, line <strong>2</strong>"), "{html}");
}

#[tokio::test]
async fn templates_inherit_escape_and_reverse() {
    let mut c = Client::new(demo_site(false, djambda::assets!("../tests/e2e/fixtures/good")));
    let html = c.get("/page/").await.text();
    assert!(
        html.contains("<main><p>&lt;b&gt;hi&lt;&#x2F;b&gt;</p>") || html.contains("<main><p>&lt;b&gt;hi&lt;/b&gt;</p>"),
        "{html}"
    );
    assert!(html.contains("href=\"/items/7/\""));
    assert!(html.contains("src=\"/static/djambda/djambda."), "static() gives a hashed URL: {html}");
    assert!(html.contains("<i>/page/</i>"), "the request context processor");
}

#[tokio::test]
async fn same_shape_routes_converters_and_methods() {
    let mut c = Client::new(demo_site(false, djambda::assets!("../tests/e2e/fixtures/good")));
    assert_eq!(c.get("/items/42/").await.text(), "int 42");
    assert_eq!(c.get("/items/blue-widget/").await.text(), "slug blue-widget");
    assert_eq!(c.get("/items/99999999999/").await.status(), 404, "an int too large for u32 names no item");
    assert_eq!(c.get("/items/no%20spaces/").await.status(), 404);
    assert_eq!(c.get("/archive/2026/").await.text(), "year 2026");
    assert_eq!(c.get("/archive/26/").await.status(), 404, "the custom converter refuses");
    assert_eq!(c.get("/echo/?tag=a&tag=b").await.text(), "GET a+b -");
    assert_eq!(c.post_form("/echo/", &[("name", "Zoë & co")]).await.text(), "POST  Zoë & co");
    let put = c.send(Method::PUT, "/echo/", None, Default::default()).await;
    assert_eq!(put.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(put.header("allow"), Some("GET, HEAD, POST"));
    let post_no_slash = c.post_form("/echo", &[("name", "x")]).await;
    assert_eq!(post_no_slash.status(), 308, "a POST is redirected keeping its body");
    assert_eq!(post_no_slash.location(), Some("/echo/"));
    assert_eq!(c.get("/nothing").await.status(), 404, "no slash redirect to a page that does not exist");
}

#[tokio::test]
async fn static_files_have_hashed_urls_etags_and_cache_headers() {
    let site = demo_site(false, djambda::assets!("../tests/e2e/fixtures/good"));
    let hashed = site.static_files().url("djambda/djambda.css", "").unwrap();
    let mut c = Client::new(site);
    let resp = c.get(&hashed).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.header("content-type"), Some("text/css; charset=utf-8"));
    assert!(resp.header("cache-control").unwrap().contains("immutable"));
    let etag = resp.header("etag").unwrap().to_owned();
    let mut again = http::Request::get(&hashed)
        .header("host", "localhost")
        .header("if-none-match", &etag)
        .body(Default::default())
        .unwrap();
    again.headers_mut();
    let not_modified = c.request(again).await;
    assert_eq!(not_modified.status(), 304);
    assert!(not_modified.bytes().is_empty());
    let plain = c.get("/static/djambda/djambda.css").await;
    assert_eq!(plain.header("cache-control"), Some("no-cache"));
    assert_eq!(plain.bytes(), resp.bytes());
    let stale = c.get("/static/djambda/djambda.000000000000.css").await;
    assert_eq!(stale.status(), 200, "an old hash still gets the file…");
    assert_eq!(stale.header("cache-control"), Some("no-cache"), "…but not the year-long cache");
    assert_eq!(c.get("/static/djambda/nope.css").await.status(), 404);
    assert_eq!(c.get("/static/../Cargo.toml").await.status(), 404);
    assert_eq!(c.post_form("/static/djambda/djambda.css", &[]).await.status(), 405);
}

#[tokio::test]
async fn middleware_runs_in_order_and_can_short_circuit() {
    let outer = from_fn(|req: Request, next: Next| async move {
        let resp = next.run(req).await;
        let seen = resp.header("x-order").unwrap_or("").to_owned();
        Ok(resp.with_header("x-order", &format!("{seen},outer")))
    });
    let inner = from_fn(|req: Request, next: Next| async move {
        if req.query().get("stop").is_some() {
            return Ok(Response::text("stopped").with_status(StatusCode::FORBIDDEN));
        }
        let resp = next.run(req).await;
        Ok(resp.with_header("x-order", "inner"))
    });
    let site = Site::builder()
        .settings(settings(false))
        .urls(demo_urls())
        .converter("yyyy", FourDigits)
        .middleware(outer)
        .middleware(inner)
        .build()
        .unwrap();
    let mut c = Client::new(site);
    let resp = c.get("/items/1/").await;
    assert_eq!(resp.header("x-order"), Some("inner,outer"), "inner sees the response first");
    let stopped = c.get("/items/1/?stop=1").await;
    assert_eq!(stopped.status(), 403);
    assert_eq!(stopped.text(), "stopped");
    assert_eq!(stopped.header("x-order"), Some(",outer"), "the outer one still wraps a short-circuit");
    assert!(
        stopped.header("date").is_some() && stopped.header("content-length") == Some("7"),
        "common headers on every response"
    );
}

#[test]
fn url_conf_problems_are_reported_when_the_site_is_assembled() {
    let dup = UrlConf::new().path("a/", boom, "same").path("b/", boom, "same");
    let conflict = UrlConf::new().path("x/<int:id>/", boom, "x1").path("x/<int:pk>/", boom, "x2");
    let unknown = UrlConf::new().path("y/<money:m>/", boom, "y");
    for (conf, needle) in
        [(dup, "`same` is used twice"), (conflict, "could never match"), (unknown, "no converter called `money`")]
    {
        match Site::builder().settings(settings(false)).urls(conf).build() {
            Err(ConfigError::Urls(errors)) => {
                let text = errors.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n");
                assert!(text.contains(needle), "{needle:?} not in {text}");
            }
            other => panic!("expected a URL conf error for {needle}, got {:?}", other.map(|_| ())),
        }
    }
}

#[test]
fn reverse_is_checked() {
    let site = demo_site(false, djambda::assets!("../tests/e2e/fixtures/good"));
    assert_eq!(site.reverse("item-int", &[&5]).unwrap(), "/items/5/");
    assert!(site.reverse("item-slug", &[&"a b"]).unwrap_err().to_string().contains("does not fit"));
    assert!(site.reverse("item-int", &[]).unwrap_err().to_string().contains("takes <int:id>"));
    assert!(site.reverse("nope", &[]).unwrap_err().to_string().contains("no route has that name"));
    let example = example_site::site_with_settings(settings(false)).unwrap();
    let err = example.reverse("contact-detail", &[&1]).unwrap_err().to_string();
    assert!(err.contains("Did you mean crm:contact-detail?"), "{err}");
    assert_eq!(example.reverse("crm:contact-detail", &[&1]).unwrap(), "/contacts/1/");
}

#[tokio::test]
async fn site_templates_override_app_templates_and_apps_fill_the_rest() {
    let app = djambda::App::new("demo").templates(djambda::assets!("../tests/e2e/fixtures/app_templates"));
    let site = Site::builder()
        .settings(settings(false))
        .urls(demo_urls())
        .converter("yyyy", FourDigits)
        .templates(djambda::assets!("../tests/e2e/fixtures/good"))
        .app(app)
        .build()
        .unwrap();
    let html = Client::new(site).get("/page/").await.text();
    assert!(html.contains("<main><p>"), "the site's page.html and layout.html win: {html}");
    let app_only = Site::builder()
        .settings(settings(false))
        .urls(demo_urls())
        .converter("yyyy", FourDigits)
        .app(djambda::App::new("demo").templates(djambda::assets!("../tests/e2e/fixtures/app_templates")))
        .build()
        .unwrap();
    assert_eq!(Client::new(app_only).get("/page/").await.text().trim(), "<p>from the app</p>");
}

#[tokio::test]
async fn debug_builds_pick_up_template_edits_on_the_next_request() {
    // This fixture folder belongs to this test alone; it is rewritten and restored here.
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/e2e/fixtures/reload/page.html");
    let original = std::fs::read_to_string(&file).unwrap();
    let mut c = Client::new(demo_site(true, djambda::assets!("../tests/e2e/fixtures/reload")));
    std::fs::write(&file, "<p>version one</p>\n").unwrap();
    let first = c.get("/page/").await.text();
    std::fs::write(&file, "<p>version two</p>\n").unwrap();
    let second = c.get("/page/").await.text();
    std::fs::write(&file, original).unwrap();
    assert!(first.contains("version one"), "{first}");
    assert!(second.contains("version two"), "an edit shows on the next request: {second}");
}

/// The CRM under its strict Content-Security-Policy: every page carries it, nothing inline
/// goes without the response's nonce, and the CSRF failure page's own style has that nonce.
#[tokio::test]
async fn pages_carry_the_strict_policy_and_inline_styles_carry_its_nonce() {
    let mut c = example(false);
    for path in ["/", "/companies/", "/contacts/", "/deals/", "/forecast/", "/accounts/login/"] {
        let page = c.get(path).await;
        assert_eq!(page.status(), 200, "{path}");
        let policy = page.header("content-security-policy").unwrap_or_else(|| panic!("{path}: no policy"));
        assert!(policy.contains("default-src 'self'; "), "{path}: {policy}");
        assert!(policy.contains("script-src 'self' 'nonce-") && policy.contains("frame-ancestors 'none'"), "{policy}");
        let html = page.text();
        assert!(
            !html.contains(" style=\"") && !html.contains("<script>") && !html.contains("<style>"),
            "{path}: inline code without a nonce"
        );
    }
    let mut strict = Client::new(example_site::site_with_settings(settings(false)).unwrap()).enforce_csrf_checks();
    let refused = strict.post_form("/accounts/login/", &[("username", "demo"), ("password", "demo")]).await;
    assert_eq!(refused.status(), 403, "{}", refused.text());
    let policy = refused.header("content-security-policy").unwrap().to_owned();
    let nonce = policy.split("style-src 'self' 'nonce-").nth(1).and_then(|n| n.split('\'').next()).unwrap();
    assert!(refused.text().contains(&format!("<style nonce=\"{nonce}\">")), "{}", refused.text());
}
