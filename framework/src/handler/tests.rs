//! The core request path, through `Site::handle` as both doors call it: the chain's order,
//! short-circuits, errors becoming pages, resolving once, and an app plugged in as a
//! third-party crate would.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use http::{Method, StatusCode};

use crate::middleware::{Middleware, Next, from_fn};
use crate::prelude::*;
use crate::routing::{BoxFuture, get};
use crate::site::commands::SiteCommand;
use crate::test::Client;
use crate::urls::Converter;

fn settings(debug: bool) -> Settings {
    let toml = format!("DEBUG = {debug}\nSECRET_KEY = \"unit-test-secret\"\nALLOWED_HOSTS = [\"localhost\"]");
    Settings::from_sources(Some(&toml), |_| None).unwrap()
}

type Log = Arc<Mutex<Vec<String>>>;

/// Writes `name>` on the way in and `<name` on the way out.
struct Trace(&'static str, Log);

impl Middleware for Trace {
    fn call(&self, req: Request, next: Next) -> BoxFuture<Result<Response>> {
        let (name, log) = (self.0, self.1.clone());
        Box::pin(async move {
            log.lock().unwrap().push(format!("{name}>"));
            let resp = next.run(req).await;
            log.lock().unwrap().push(format!("<{name}:{}", resp.status().as_u16()));
            Ok(resp)
        })
    }
}

/// A second type, so the list can tell the two apart.
struct Trace2(Trace);

impl Middleware for Trace2 {
    fn call(&self, req: Request, next: Next) -> BoxFuture<Result<Response>> {
        self.0.call(req, next)
    }
}

fn logged_view(log: Log) -> impl Fn(Request) -> BoxFuture<Result<Response>> + Clone + Send + Sync + 'static {
    move |_req: Request| {
        let log = log.clone();
        Box::pin(async move {
            log.lock().unwrap().push("view".into());
            Ok(Response::text("ok"))
        })
    }
}

#[tokio::test]
async fn the_chain_runs_in_list_order_around_the_view() {
    let log: Log = Arc::default();
    let site = Site::builder()
        .settings(settings(false))
        .urls(UrlConf::new().path("", logged_view(log.clone()), "home"))
        .middleware(Trace("a", log.clone()))
        .middleware(Trace2(Trace("b", log.clone())))
        .build()
        .unwrap();
    let resp = Client::new(site.clone()).get("/").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(*log.lock().unwrap(), ["a>", "b>", "view", "<b:200", "<a:200"]);

    // Reordered by type, as a site edits Django's MIDDLEWARE.
    log.lock().unwrap().clear();
    let site = Site::builder()
        .settings(settings(false))
        .urls(UrlConf::new().path("", logged_view(log.clone()), "home"))
        .middleware(Trace("a", log.clone()))
        .middleware(Trace2(Trace("b", log.clone())))
        .middleware_list(|list| {
            list.move_before::<Trace2, Trace>();
        })
        .build()
        .unwrap();
    Client::new(site).get("/").await;
    assert_eq!(*log.lock().unwrap(), ["b>", "a>", "view", "<a:200", "<b:200"]);
}

#[tokio::test]
async fn a_middleware_that_answers_stops_the_chain() {
    let log: Log = Arc::default();
    let site = Site::builder()
        .settings(settings(false))
        .urls(UrlConf::new().path("", logged_view(log.clone()), "home"))
        .middleware(Trace("outer", log.clone()))
        .middleware(from_fn(|_req: Request, _next: Next| async move {
            Ok(Response::text("maintenance").with_status(StatusCode::SERVICE_UNAVAILABLE))
        }))
        .middleware(Trace2(Trace("inner", log.clone())))
        .build()
        .unwrap();
    let resp = Client::new(site).get("/").await;
    assert_eq!((resp.status().as_u16(), resp.text().as_str()), (503, "maintenance"));
    assert_eq!(*log.lock().unwrap(), ["outer>", "<outer:503"], "neither the inner middleware nor the view ran");
}

#[tokio::test]
async fn errors_and_panics_become_error_pages_that_outer_middleware_sees() {
    async fn missing(_req: Request) -> Result<Response> {
        Err(Error::not_found("no such contact"))
    }
    async fn broken(_req: Request) -> Result<Response> {
        panic!("the view broke")
    }
    let log: Log = Arc::default();
    let site = Site::builder()
        .settings(settings(false))
        .urls(UrlConf::new().path("missing/", missing, "missing").path("broken/", broken, "broken").path(
            "only-get/",
            get(logged_view(log.clone())),
            "only-get",
        ))
        .middleware(Trace("log", log.clone()))
        .middleware(from_fn(|req: Request, next: Next| async move {
            if req.path_info() == "/refused/" {
                return Err(Error::permission_denied("not for you"));
            }
            Ok(next.run(req).await)
        }))
        .build()
        .unwrap();
    let mut c = Client::new(site);

    let resp = c.get("/missing/").await;
    assert_eq!(resp.status(), 404);
    assert!(resp.text().contains("The requested resource was not found"), "the site's 404 page: {}", resp.text());
    let resp = c.get("/refused/").await;
    assert_eq!(resp.status(), 403, "a middleware's error is a page, even for a path no route matches");
    assert!(resp.text().contains("You do not have permission"), "{}", resp.text());
    let resp = c.get("/broken/").await;
    assert_eq!(resp.status(), 500);
    assert!(!resp.text().contains("the view broke"), "a panic's message stays off the page without DEBUG");
    let resp = c.send(http::Method::DELETE, "/only-get/", None, Default::default()).await;
    assert_eq!(resp.status(), 405);
    assert_eq!(resp.header("allow"), Some("GET, HEAD"));
    assert_eq!(c.get("/nowhere/").await.status(), 404);
    let statuses: Vec<String> = log.lock().unwrap().iter().filter(|l| l.starts_with('<')).cloned().collect();
    assert_eq!(statuses, ["<log:404", "<log:403", "<log:500", "<log:405", "<log:404"]);
}

/// `<counted:…>` counts every time the resolver asks it about a path.
struct Counted(Arc<AtomicUsize>);

impl Converter for Counted {
    fn matches(&self, value: &str) -> bool {
        self.0.fetch_add(1, Ordering::SeqCst);
        value.bytes().all(|b| b.is_ascii_digit())
    }
}

#[tokio::test]
async fn the_path_is_resolved_once_and_middleware_reads_the_match() {
    #[derive(Clone)]
    struct Audited(&'static str);
    let calls = Arc::new(AtomicUsize::new(0));
    let seen: Log = Arc::default();
    let (seen1, seen2) = (seen.clone(), seen.clone());
    let site = Site::builder()
        .settings(settings(false))
        .converter("counted", Counted(calls.clone()))
        .urls(
            UrlConf::new().path(
                "items/<counted:pk>/",
                get(|req: Request| async move { Ok(Response::text(req.param("pk").unwrap_or("").to_owned())) })
                    .with_meta(Audited("items")),
                "item",
            ),
        )
        .middleware(from_fn(move |req: Request, next: Next| {
            let seen = seen1.clone();
            async move {
                let found = req.resolver_match().map(|m| m.route().name().unwrap_or("").to_owned());
                seen.lock().unwrap().push(format!("{found:?} {:?}", req.route_meta::<Audited>().map(|a| a.0)));
                Ok(next.run(req).await)
            }
        }))
        .middleware(from_fn(move |req: Request, next: Next| {
            let seen = seen2.clone();
            async move {
                seen.lock().unwrap().push(format!("params {:?}", req.params()));
                Ok(next.run(req).await)
            }
        }))
        .build()
        .unwrap();
    let resp = Client::new(site).get("/items/42/").await;
    assert_eq!(resp.text(), "42");
    assert_eq!(calls.load(Ordering::SeqCst), 1, "two middleware and the view, one resolve");
    assert_eq!(
        *seen.lock().unwrap(),
        ["Some(\"item\") Some(\"items\")", "params [(\"pk\", \"42\")]"],
        "middleware before the view read the route, its metadata and its parameters"
    );
}

/// What the plugged-in app keeps on the site.
struct Greeting(String);

/// Who the request is for, attached by the app's middleware.
#[derive(Clone)]
struct Who(String);

struct Greeter;

impl Middleware for Greeter {
    fn call(&self, req: Request, next: Next) -> BoxFuture<Result<Response>> {
        Box::pin(async move {
            let who = req.header("x-who").unwrap_or("stranger").to_owned();
            req.set_local(Who(who));
            Ok(next.run(req).await.with_header("x-greeted", "yes"))
        })
    }
}

/// An app as a third-party crate would write it, on the public API only.
fn greeting_app(ran: Arc<AtomicUsize>) -> App {
    async fn hello(req: Request) -> Result<Response> {
        render(&req, "hello.html", crate::context! {})
    }
    async fn nobody(_req: Request) -> Result<Response> {
        Err(Error::not_found("nobody by that name"))
    }
    let command = SiteCommand::new(clap::Command::new("greet"), move |site: Site, _args| {
        let ran = ran.clone();
        Box::pin(async move {
            assert_eq!(site.state::<Greeting>().map(|g| g.0.as_str()), Some("Ahoy"));
            ran.fetch_add(1, Ordering::SeqCst);
            Ok(())
        })
    });
    App::new("greeting")
        .urls("greet/", UrlConf::app("greeting").path("", get(hello), "hello").path("nobody/", nobody, "nobody"))
        .templates(crate::assets!("src/handler/test_templates"))
        .middleware(Greeter)
        .context_processor(|req: &Request, ctx: &mut Context| {
            let greeting = req.state::<Greeting>().map_or("hi", |g| g.0.as_str());
            let who = req.local::<Who>().map(|w| w.0).unwrap_or_default();
            ctx.insert("greeting", &format!("{greeting}, {who},"));
            ctx.insert("who", &who);
        })
        .on_ready(|setup| {
            let word = setup.settings().get("GREETING").and_then(|v| v.as_str()).ok_or("GREETING is not set")?;
            setup.insert_state(Greeting(word.to_owned()));
            Ok(())
        })
        .command(command)
}

#[tokio::test]
async fn an_app_brings_urls_middleware_processors_state_and_a_command() {
    let ran = Arc::new(AtomicUsize::new(0));
    let toml = "DEBUG = false\nSECRET_KEY = \"k\"\nALLOWED_HOSTS = [\"localhost\"]\nGREETING = \"Ahoy\"";
    let site = Site::builder()
        .settings(Settings::from_sources(Some(toml), |_| None).unwrap())
        .app(greeting_app(ran.clone()))
        .build()
        .unwrap();
    assert!(site.middleware_names().contains(&std::any::type_name::<Greeter>()));

    let mut c = Client::new(site.clone());
    let req = http::Request::get("/greet/").header("host", "localhost").header("x-who", "Ada");
    let resp = site.handle(req.body(Default::default()).unwrap()).await;
    assert_eq!(resp.headers()["x-greeted"], "yes", "the app's middleware ran");
    assert_eq!(
        String::from_utf8_lossy(resp.body()).trim(),
        "<p>Ahoy, Ada, from greeting:hello</p>",
        "its processor read its state and what its middleware attached"
    );
    // The 404 page of the app's view still knows what the middleware attached to the request.
    let resp = c.get("/greet/nobody/").await;
    assert_eq!(resp.status(), 404);
    assert!(
        resp.text().contains("Not here, stranger") && resp.text().contains("nobody by that name"),
        "{}",
        resp.text()
    );

    let greet = site.commands().iter().find(|cmd| cmd.name() == "greet").expect("the app's command");
    (greet.run)(site.clone(), clap::Command::new("greet").get_matches_from(["greet"])).await.unwrap();
    assert_eq!(ran.load(Ordering::SeqCst), 1);

    // An app that cannot get ready stops the site from being built, naming the app.
    let err = Site::builder().settings(settings(false)).app(greeting_app(ran)).build().unwrap_err();
    assert_eq!(err.to_string(), "the app \"greeting\" could not get ready: GREETING is not set");
}

#[tokio::test]
async fn the_middleware_list_refuses_what_it_does_not_hold_and_orders_needs() {
    let log: Log = Arc::default();
    let err = Site::builder()
        .settings(settings(false))
        .middleware_list(|list| {
            list.remove::<Trace>();
        })
        .build()
        .unwrap_err();
    assert!(matches!(err, crate::ConfigError::Middleware(_)));
    assert!(err.to_string().contains("cannot remove djambda::handler::tests::Trace: it is not in the list"), "{err}");

    // An app's middleware that needs another goes after it, whatever the install order.
    let needs = App::new("second").middleware_after::<Trace>(Trace2(Trace("b", log.clone())));
    let first = App::new("first").middleware(Trace("a", log.clone()));
    let site = Site::builder().settings(settings(false)).app(needs).app(first).build().unwrap();
    let names = site.middleware_names();
    let at = |n: &str| names.iter().position(|m| *m == n).unwrap();
    assert!(at(std::any::type_name::<Trace>()) < at(std::any::type_name::<Trace2>()), "{names:?}");
    // Without what it needs, the site is not built.
    let alone = App::new("second").middleware_after::<Trace>(Trace2(Trace("b", log)));
    let err = Site::builder().settings(settings(false)).app(alone).build().unwrap_err();
    assert!(err.to_string().contains("needs djambda::handler::tests::Trace before it"), "{err}");
    // Nor without an app another requires.
    let err = Site::builder().settings(settings(false)).app(crate::auth::app()).build().unwrap_err();
    assert!(err.to_string().contains("needs the \"sessions\" app"), "{err}");
}

#[tokio::test]
async fn a_tower_layer_from_the_ecosystem_wraps_the_site() {
    use tower_http::set_header::SetResponseHeaderLayer;
    async fn home(_req: Request) -> Result<Response> {
        Ok(Response::text("home"))
    }
    let site = Site::builder()
        .settings(settings(false))
        .urls(UrlConf::new().path("", home, "home"))
        .layer(SetResponseHeaderLayer::overriding(
            http::header::HeaderName::from_static("x-layer"),
            http::HeaderValue::from_static("tower-http"),
        ))
        .build()
        .unwrap();
    let resp = Client::new(site.clone()).get("/").await;
    assert_eq!((resp.text().as_str(), resp.header("x-layer")), ("home", Some("tower-http")));
    // The site is a tower Service itself.
    let req = http::Request::get("/").header("host", "localhost").body(Default::default()).unwrap();
    let resp = tower_service::Service::call(&mut site.clone(), req).await.unwrap();
    assert_eq!(resp.headers()["x-layer"], "tower-http");
}

async fn ok_view(_req: Request) -> Result<Response> {
    Ok(Response::text("ok"))
}

#[tokio::test]
async fn a_wrapper_guards_the_methods_added_after_it_too() {
    // `get(v).login_required().post(w)` must not leave POST open: a guard applies to the route.
    let guarded = get(ok_view)
        .wrap(|_req: Request, _view| async { Ok(Response::text("guarded").with_status(StatusCode::FORBIDDEN)) })
        .post(ok_view)
        .put(ok_view);
    let site = Site::builder().settings(settings(false)).urls(UrlConf::new().path("g/", guarded, "g")).build().unwrap();
    let route = site.resolver().routes().find(|r| r.name() == Some("g")).unwrap();
    assert_eq!(route.methods(), &[Method::GET, Method::HEAD, Method::POST, Method::PUT]);
    let mut c = Client::new(site.clone());
    for method in [Method::GET, Method::POST, Method::PUT] {
        let req = http::Request::builder().method(method.clone()).uri("/g/").header("host", "localhost");
        let resp = c.request(req.body(bytes::Bytes::new()).unwrap()).await;
        assert_eq!(resp.status(), 403, "{method} went round the guard: {}", resp.text());
    }
    let open = c.request(http::Request::delete("/g/").header("host", "localhost").body(bytes::Bytes::new()).unwrap());
    assert_eq!(open.await.status(), 405, "a method the route does not take");
}

#[tokio::test]
async fn client_login_counts_only_a_redirect_that_starts_a_session() {
    // A login page that redirects without logging anyone in (a wrong LOGIN_URL, a view that
    // bounces every POST) is not a login.
    async fn bounce(_req: Request) -> Result<Response> {
        Ok(Response::redirect("/"))
    }
    let toml =
        "DEBUG = false\nSECRET_KEY = \"unit-test-secret\"\nALLOWED_HOSTS = [\"localhost\"]\nLOGIN_URL = \"/bounce/\"";
    let site = Site::builder()
        .settings(Settings::from_sources(Some(toml), |_| None).unwrap())
        .urls(UrlConf::new().path("bounce/", bounce, "bounce"))
        .build()
        .unwrap();
    let mut c = Client::new(site);
    assert!(!c.login("someone", "secret").await, "a bare redirect counted as a login");
}

#[test]
fn server_errors_are_logged_by_their_reason() {
    let chain = ["Failed to acquire connection from pool".to_owned(), "Connection pool timed out".to_owned()];
    assert_eq!(
        super::errors::log_line(StatusCode::SERVICE_UNAVAILABLE, "/visit/", &chain),
        "Service Unavailable: /visit/\n  Failed to acquire connection from pool\n  caused by: Connection pool timed out"
    );
    assert!(
        super::errors::log_line(StatusCode::INTERNAL_SERVER_ERROR, "/x/", &chain)
            .starts_with("Internal Server Error: /x/")
    );
}

/// Rows `0..n` as CSV lines, streamed one line per chunk.
async fn streamed_rows(req: Request) -> Result<Response> {
    let n: usize = req.query().get("n").and_then(|n| n.parse().ok()).unwrap_or(3);
    let fail = req.query().get("fail").is_some();
    let rows = futures_util::stream::iter((0..n).map(move |i| {
        if fail && i == n / 2 {
            return Err(Error::internal("the database went away mid-export"));
        }
        Ok(bytes::Bytes::from(format!("row {i},{}\r\n", "x".repeat(i % 7))))
    }));
    Ok(Response::streaming("text/csv; charset=utf-8", rows))
}

fn expected_rows(n: usize) -> String {
    (0..n).map(|i| format!("row {i},{}\r\n", "x".repeat(i % 7))).collect()
}

#[tokio::test]
async fn streamed_bodies_are_read_whole_compressed_or_not_and_dropped_for_head() {
    let site = Site::builder()
        .settings(settings(false))
        .middleware(crate::middleware::Compression::default())
        .urls(UrlConf::new().path("rows/", get(streamed_rows), "rows"))
        .build()
        .unwrap();
    let mut c = Client::new(site);
    let plain = c.get("/rows/?n=5000").await;
    assert!(plain.is_streaming());
    assert_eq!(plain.text(), expected_rows(5000));
    assert_eq!(plain.header("content-encoding"), None, "no Accept-Encoding, no compression");

    for (accept, coding) in [("gzip", "gzip"), ("br", "br")] {
        let req = http::Request::get("/rows/?n=5000")
            .header("host", "localhost")
            .header("accept-encoding", accept)
            .body(bytes::Bytes::new())
            .unwrap();
        let packed = c.request(req).await;
        assert_eq!(packed.header("content-encoding"), Some(coding));
        assert_eq!(packed.header("vary"), Some("Accept-Encoding"));
        let mut out = Vec::new();
        if coding == "gzip" {
            std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&packed.bytes()[..]), &mut out).unwrap();
        } else {
            brotli::BrotliDecompress(&mut &packed.bytes()[..], &mut out).unwrap();
        }
        assert_eq!(String::from_utf8(out).unwrap(), expected_rows(5000), "{coding} keeps every byte");
        assert!(packed.bytes().len() < expected_rows(5000).len() / 3, "{coding}: {} bytes", packed.bytes().len());
    }

    let head = c.head("/rows/?n=50").await;
    assert_eq!(head.status(), StatusCode::OK);
    assert!(head.bytes().is_empty() && !head.is_streaming(), "HEAD sends no body, streamed or not");
}

/// One HTTP/1.1 exchange over a real socket, read to the server's close: the head and the
/// chunked body decoded, and whether it ended with its last chunk.
async fn fetch_raw(addr: std::net::SocketAddr, request: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw).await;
    String::from_utf8(raw).unwrap()
}

async fn fetch_chunked(addr: std::net::SocketAddr, path: &str) -> (String, String, bool) {
    let raw = fetch_raw(addr, &format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")).await;
    let (head, mut rest) = raw.split_once("\r\n\r\n").unwrap();
    let mut body = String::new();
    let complete = loop {
        let Some((size, after)) = rest.split_once("\r\n") else { break false };
        let Ok(size) = usize::from_str_radix(size, 16) else { break false };
        if size == 0 {
            break after == "\r\n";
        }
        if after.len() < size + 2 {
            break false;
        }
        body.push_str(&after[..size]);
        rest = &after[size + 2..];
    };
    (head.to_ascii_lowercase(), body, complete)
}

#[tokio::test]
async fn runserver_sends_a_streamed_body_chunked_and_cuts_one_that_fails() {
    let site = Site::builder()
        .settings(settings(false))
        .urls(UrlConf::new().path("rows/", get(streamed_rows), "rows"))
        .build();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(crate::server::serve(site.unwrap(), listener, async {
        let _ = stopped.await;
    }));

    let (head, body, complete) = fetch_chunked(addr, "/rows/?n=20000").await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("transfer-encoding: chunked") && !head.contains("content-length"), "{head}");
    assert!(complete, "the body ends with its last chunk");
    assert_eq!(body, expected_rows(20000));

    let (head, body, complete) = fetch_chunked(addr, "/rows/?n=20000&fail=1").await;
    assert!(head.starts_with("http/1.1 200"), "the status went out before the failure: {head}");
    assert!(!complete, "a body that failed part-way must not look complete");
    assert!(body.len() < expected_rows(20000).len() && expected_rows(20000).starts_with(&body));

    // HTTP/1.0 has no chunks, so a cut body would look whole: such a client gets it whole, or a 500.
    let old = fetch_raw(addr, "GET /rows/?n=2000 HTTP/1.0\r\nHost: localhost\r\n\r\n").await;
    let (head, body) = old.split_once("\r\n\r\n").unwrap();
    let head = head.to_ascii_lowercase();
    assert!(head.starts_with("http/1.0 200") && head.contains(&format!("content-length: {}", body.len())), "{head}");
    assert_eq!(body, expected_rows(2000));
    let failed = fetch_raw(addr, "GET /rows/?n=2000&fail=1 HTTP/1.0\r\nHost: localhost\r\n\r\n").await;
    assert!(failed.starts_with("HTTP/1.0 500"), "{}", &failed[..failed.len().min(200)]);
    // Held whole only up to the Lambda door's 6 MB: a thousand such clients must not take the
    // memory streaming saves.
    assert!(expected_rows(500_000).len() > 6 * 1024 * 1024);
    let too_big = fetch_raw(addr, "GET /rows/?n=500000 HTTP/1.0\r\nHost: localhost\r\n\r\n").await;
    assert!(too_big.starts_with("HTTP/1.0 500"), "{}", &too_big[..too_big.len().min(200)]);
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}
