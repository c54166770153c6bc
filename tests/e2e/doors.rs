//! A logged-in visit through both front doors, as a browser makes it: cookies kept from each
//! `Set-Cookie`, CSRF tokens read from each page's form and posted back with `Origin`, and
//! redirects followed by their `Location`. The same visit (log in, create a company, edit it,
//! delete it, import contacts from an uploaded CSV, log out) runs against the built binary as runserver over TCP, and as a Lambda
//! function under the Runtime API emulator through a Function URL and through a REST API
//! stage, where every link and redirect carries the stage.

use tests::http1;
use tests::process::spawn_runserver;

use crate::lambda::{Function, Req, Shape};
use crate::manage_bin;

/// `application/x-www-form-urlencoded` encoding of one name or value, as a browser does it.
pub(crate) fn encode(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => out.push(b as char),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// What came back, as a browser sees it.
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) location: Option<String>,
    pub(crate) body: String,
}

impl Answer {
    /// The token of the first form on the page.
    pub(crate) fn csrf_token(&self) -> String {
        let at = self.body.find("name=\"csrfmiddlewaretoken\" value=\"").unwrap_or_else(|| {
            panic!("the page has no CSRF token:\n{}", self.body);
        });
        let rest = &self.body[at + 34..];
        rest[..rest.find('"').unwrap()].to_owned()
    }
}

pub(crate) enum Door {
    /// runserver; `prefix` is what a proxy in front of it strips (FORCE_SCRIPT_NAME's case).
    Tcp {
        addr: String,
        prefix: &'static str,
    },
    Lambda {
        function: Function,
        shape: Shape,
        host: String,
        prefix: &'static str,
    },
}

/// A browser: a door, a cookie jar, and the page it is on.
pub(crate) struct Browser {
    door: Door,
    cookies: Vec<(String, String)>,
}

impl Browser {
    pub(crate) fn new(door: Door) -> Browser {
        Browser { door, cookies: Vec::new() }
    }

    /// The origin pages are served from, as the browser would send it in `Origin`.
    fn origin(&self) -> String {
        match &self.door {
            Door::Tcp { addr, .. } => format!("http://{addr}"),
            Door::Lambda { host, .. } => format!("https://{host}"),
        }
    }

    /// A path as the site links it (with any stage prefix) to the path the door takes.
    fn target(&self, link: &str) -> String {
        let link = link.strip_prefix(&self.origin()).unwrap_or(link);
        let (Door::Lambda { prefix, .. } | Door::Tcp { prefix, .. }) = &self.door;
        link.strip_prefix(prefix).unwrap_or(link).to_owned()
    }

    fn keep_cookies<'a>(&mut self, set_cookies: impl Iterator<Item = &'a str>) {
        for line in set_cookies {
            let pair = line.split(';').next().unwrap_or("");
            let Some((name, value)) = pair.split_once('=') else { continue };
            self.cookies.retain(|(n, _)| n != name);
            let removed = line.contains("Max-Age=0") || value.is_empty();
            if !removed {
                self.cookies.push((name.to_owned(), value.to_owned()));
            }
        }
    }

    fn cookie_line(&self) -> String {
        self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    async fn send(&mut self, method: &'static str, link: &str, form: Option<&[(&str, &str)]>) -> Answer {
        let body =
            form.map(|f| f.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect::<Vec<_>>().join("&"));
        let content_type = body.as_ref().map(|_| "application/x-www-form-urlencoded".to_owned());
        self.send_body(method, link, content_type, body.unwrap_or_default().into_bytes()).await
    }

    /// POSTs `form` with `headers` and without the `Origin` a browser adds: what an older
    /// browser, a privacy extension or a native client sends.
    async fn post_without_origin(&mut self, link: &str, form: &[(&str, &str)], headers: &[(&str, &str)]) -> Answer {
        let body = form.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect::<Vec<_>>().join("&");
        let mut all = vec![("Content-Type".to_owned(), "application/x-www-form-urlencoded".to_owned())];
        all.extend(headers.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        self.exchange("POST", link, all, body.into_bytes()).await
    }

    /// Submits the form at `link` as `multipart/form-data`, with `file` (field, name, bytes).
    async fn upload(&mut self, link: &str, fields: &[(&str, &str)], file: (&str, &str, &[u8])) -> Answer {
        let page = self.get(link).await;
        assert_eq!(page.status, 200, "GET {link}: {}", page.body);
        assert!(page.body.contains("enctype=\"multipart/form-data\""), "{link} is a multipart form");
        let token = page.csrf_token();
        let boundary = "----WebKitFormBoundaryx7PcZ1KdJ3vQ9mRt";
        let mut body = Vec::new();
        for (name, value) in [("csrfmiddlewaretoken", token.as_str())].iter().chain(fields) {
            body.extend_from_slice(
                format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
                    .as_bytes(),
            );
        }
        let (field, filename, bytes) = file;
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{filename}\"\r\nContent-Type: text/csv\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        self.send_body("POST", link, Some(format!("multipart/form-data; boundary={boundary}")), body).await
    }

    async fn send_body(
        &mut self,
        method: &'static str,
        link: &str,
        content_type: Option<String>,
        body: Vec<u8>,
    ) -> Answer {
        let mut headers: Vec<(String, String)> = Vec::new();
        if let Some(ct) = content_type {
            headers.push(("Content-Type".into(), ct));
            // Browsers send Origin with every POST.
            headers.push(("Origin".into(), self.origin()));
        }
        self.exchange(method, link, headers, body).await
    }

    /// Sends exactly `headers` (and the cookies held) through the door.
    async fn exchange(
        &mut self,
        method: &'static str,
        link: &str,
        mut headers: Vec<(String, String)>,
        body: Vec<u8>,
    ) -> Answer {
        let target = self.target(link);
        if !self.cookies.is_empty() {
            headers.push(("Cookie".into(), self.cookie_line()));
        }
        let (status, set_cookies, location, text) = match &mut self.door {
            Door::Tcp { addr, .. } => {
                // A browser names the port it connected to.
                headers.push(("Host".into(), addr.clone()));
                let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                let resp = http1::request(addr, method, &target, &h, &body).unwrap();
                let cookies: Vec<String> = resp.header_all("set-cookie").into_iter().map(str::to_owned).collect();
                (resp.status, cookies, resp.header("location").map(str::to_owned), resp.text())
            }
            Door::Lambda { function, shape, .. } => {
                let mut req = Req::new(method, &target, 0).anonymous().body(&body);
                for (k, v) in &headers {
                    req = req.header(k, v);
                }
                let (_, seen) = function.send(*shape, &shape.request(&req), None).await;
                let cookies = seen.headers.get("set-cookie").cloned().unwrap_or_default();
                let location = seen.headers.get("location").and_then(|l| l.first()).cloned();
                (seen.status, cookies, location, String::from_utf8_lossy(&seen.body).into_owned())
            }
        };
        self.keep_cookies(set_cookies.iter().map(String::as_str));
        Answer { status, location, body: text }
    }

    pub(crate) async fn get(&mut self, link: &str) -> Answer {
        self.send("GET", link, None).await
    }

    /// Opens the page at `link` and submits its form with `fields` and the page's token.
    pub(crate) async fn submit(&mut self, link: &str, fields: &[(&str, &str)]) -> Answer {
        let page = self.get(link).await;
        assert_eq!(page.status, 200, "GET {link}: {}", page.body);
        let token = page.csrf_token();
        let mut all = vec![("csrfmiddlewaretoken", token.as_str())];
        all.extend_from_slice(fields);
        self.send("POST", link, Some(&all)).await
    }
}

/// Log in, create, edit and delete a company, log out; `prefix` is what every link and
/// redirect starts with (a stage, or nothing).
async fn visit(browser: &mut Browser, prefix: &str, door: &str) {
    let home = browser.get("/").await;
    assert_eq!(home.status, 302, "{door}: anonymous home");
    let login_url = home.location.clone().unwrap();
    let next = format!("{prefix}/").replace('/', "%2F");
    assert_eq!(login_url, format!("{prefix}/accounts/login/?next={next}"), "{door}");

    let logged_in = browser.submit(&login_url, &[("username", "demo"), ("password", "demo")]).await;
    assert_eq!(logged_in.status, 302, "{door}: login: {}", logged_in.body);
    assert_eq!(logged_in.location.as_deref(), Some(format!("{prefix}/").as_str()), "{door}: back to next");
    let dashboard = browser.get(&format!("{prefix}/")).await;
    assert!(dashboard.body.contains("Dana Morgan") && dashboard.body.contains("Open pipeline"), "{door}");

    let name = "Door & <Window> Ltd; DROP TABLE company;--";
    let created = browser
        .submit(
            &format!("{prefix}/companies/new/"),
            &[("name", name), ("slug", "door-window"), ("industry", "Glazing"), ("city", "Leeds"), ("website", "")],
        )
        .await;
    assert_eq!(created.status, 302, "{door}: create: {}", created.body);
    let detail = created.location.unwrap();
    assert_eq!(detail, format!("{prefix}/companies/door-window/"), "{door}");
    let page = browser.get(&detail).await;
    assert!(
        page.body.contains("The company “Door &amp; &lt;Window&gt; Ltd; DROP TABLE company;--” was added."),
        "{door}: the message, escaped: {}",
        page.body
    );
    let again = browser.get(&detail).await;
    assert!(!again.body.contains("was added"), "{door}: shown once");

    let edited = browser
        .submit(
            &format!("{prefix}/companies/door-window/edit/"),
            &[("name", "Door & Window Ltd"), ("slug", "door-window"), ("industry", "Glazing"), ("city", "York")],
        )
        .await;
    assert_eq!(edited.status, 302, "{door}: edit: {}", edited.body);
    let page = browser.get(&detail).await;
    assert!(page.body.contains("was changed") && page.body.contains("York"), "{door}: {}", page.body);

    let bad =
        browser.submit(&format!("{prefix}/companies/door-window/edit/"), &[("name", ""), ("slug", "NO SLUG")]).await;
    assert_eq!(bad.status, 200, "{door}: an invalid edit is shown again");
    assert!(bad.body.contains("This field is required.") && bad.body.contains("Enter a valid slug"), "{door}");

    let deleted = browser.submit(&format!("{prefix}/companies/door-window/delete/"), &[]).await;
    assert_eq!(deleted.status, 302, "{door}: delete: {}", deleted.body);
    assert_eq!(deleted.location.as_deref(), Some(format!("{prefix}/companies/").as_str()), "{door}");
    let list = browser.get(&format!("{prefix}/companies/")).await;
    assert!(list.body.contains("The company “Door &amp; Window Ltd” was deleted."), "{door}");
    assert_eq!(browser.get(&detail).await.status, 404, "{door}: gone");

    // Contacts from a spreadsheet: a multipart upload, through the door byte for byte.
    let csv = "first_name,last_name,email\nZoë,Ångström,zoe@example.com\nBo,Ng,bo@example.com\n";
    let imported = browser
        .upload(&format!("{prefix}/contacts/import/"), &[("company_id", "1")], ("file", "contacts.csv", csv.as_bytes()))
        .await;
    assert_eq!(imported.status, 302, "{door}: import: {}", imported.body);
    assert_eq!(imported.location.as_deref(), Some(format!("{prefix}/companies/acme-logistics/").as_str()), "{door}");
    let company = browser.get(&format!("{prefix}/companies/acme-logistics/")).await;
    assert!(company.body.contains("Imported 2 contact(s).") && company.body.contains("Zoë Ångström"), "{door}");
    let bad = browser
        .upload(
            &format!("{prefix}/contacts/import/"),
            &[("company_id", "1")],
            ("file", "bad.csv", b"Ann,Lee,not-an-email\n"),
        )
        .await;
    assert_eq!(bad.status, 200, "{door}");
    assert!(
        bad.body.contains("Line 1: expected first_name,last_name,email with a valid email."),
        "{door}: {}",
        bad.body
    );
    let huge = vec![b'x'; 70_000];
    let refused = browser
        .upload(&format!("{prefix}/contacts/import/"), &[("company_id", "1")], ("file", "huge.csv", &huge))
        .await;
    assert_eq!(refused.status, 413, "{door}: past FILE_UPLOAD_MAX_SIZE");

    // A form posted without its token, as another site's page would: refused.
    let forged = browser.send("POST", &format!("{prefix}/companies/new/"), Some(&[("name", "X"), ("slug", "x")])).await;
    assert_eq!(forged.status, 403, "{door}");
    assert!(forged.body.contains("CSRF token missing."), "{door}");

    // The log-out button is a form on every page.
    let page = browser.get(&format!("{prefix}/")).await;
    assert!(page.body.contains(&format!("action=\"{prefix}/accounts/logout/\"")), "{door}");
    let token = page.csrf_token();
    let logged_out =
        browser.send("POST", &format!("{prefix}/accounts/logout/"), Some(&[("csrfmiddlewaretoken", &token)])).await;
    assert_eq!(logged_out.status, 200, "{door}: {}", logged_out.body);
    assert!(logged_out.body.contains("Logged out"), "{door}");
    assert!(!browser.cookies.iter().any(|(n, _)| n == "sessionid"), "{door}: the session cookie is removed");
    assert_eq!(browser.get(&format!("{prefix}/")).await.status, 302, "{door}: anonymous again");
}

#[tokio::test]
async fn a_visit_through_runserver() {
    let db = crate::fresh_demo_db("doors-runserver");
    let env = [
        ("ALLOWED_HOSTS", "127.0.0.1"),
        ("DATABASE_URL", db.as_str()),
        ("SECRET_KEY", crate::SECRET_KEY),
        ("FILE_UPLOAD_MAX_SIZE", "65536"),
    ];
    let (_server, addr) = spawn_runserver(manage_bin(), &env);
    let mut browser = Browser::new(Door::Tcp { addr, prefix: "" });
    visit(&mut browser, "", "runserver").await;
}

#[tokio::test]
async fn a_visit_through_lambda_function_urls_and_rest_stages() {
    for (shape, prefix, tag) in
        [(Shape::FunctionUrl, "", "doors-function-url"), (Shape::Rest, "/testStage", "doors-rest")]
    {
        let db = crate::fresh_demo_db(tag);
        // As the SAM template deploys it: API Gateway and Function URLs speak HTTPS and say
        // so in X-Forwarded-Proto, which counts because the setting says the proxy is trusted.
        let env = [
            ("DEBUG", "false"),
            ("ALLOWED_HOSTS", "*"),
            ("DATABASE_URL", db.as_str()),
            ("SECRET_KEY", crate::SECRET_KEY),
            ("SECURE_PROXY_SSL_HEADER", "X-Forwarded-Proto: https"),
            ("FILE_UPLOAD_MAX_SIZE", "65536"),
        ];
        let function = Function::start_with(&env).await;
        let probe = shape.request(&Req::new("GET", "/", 0).anonymous());
        let host = probe.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case("host")).unwrap().1.clone();
        let mut browser = Browser::new(Door::Lambda { function, shape, host, prefix });
        visit(&mut browser, prefix, &format!("{shape:?}")).await;
    }
}

/// What a refusal case sends and the reason it must get: (what, form, headers, reason).
type Refusal = (&'static str, Vec<(&'static str, String)>, Vec<(&'static str, String)>, String);

/// Every reason CSRF protection refuses a POST, through a door: the token (missing, the wrong
/// length, a character out of its alphabet, wrong, in the form or the header), the cookie it
/// must match, `Origin` from another site, and over HTTPS without `Origin` the four ways
/// `Referer` can fail to say the request came from this site. Each refusal is a 403 that gives
/// its reason; the same request put right is served. Over plain HTTP (runserver without the
/// proxy header) Referer is not asked for.
async fn csrf_refusals(browser: &mut Browser, prefix: &str, door: &str, https: &[(&'static str, &str)]) {
    let logged_in =
        browser.submit(&format!("{prefix}/accounts/login/"), &[("username", "demo"), ("password", "demo")]).await;
    assert_eq!(logged_in.status, 302, "{door}: login: {}", logged_in.body);
    let token = browser.get(&format!("{prefix}/forecast/")).await.csrf_token();
    let link = format!("{prefix}/forecast/");
    let own = browser.origin().replace("http://", "https://");
    let host = own.trim_start_matches("https://").to_owned();
    let same_site = format!("{own}{prefix}/forecast/");
    let fields = |token: &str| {
        let mut f = vec![("amount", "1000".to_owned()), ("probability", "50".to_owned())];
        if !token.is_empty() {
            f.push(("csrfmiddlewaretoken", token.to_owned()));
        }
        f
    };
    let with = |extra: &[(&'static str, String)]| {
        let mut h: Vec<(&str, String)> = https.iter().map(|(k, v)| (*k, v.to_string())).collect();
        h.extend(extra.iter().cloned());
        h
    };
    let origin = || ("Origin", own.clone());
    let bad_chars = format!("{}!", &token[..token.len() - 1]);
    let cases: Vec<Refusal> = vec![
        ("no token", fields(""), with(&[origin()]), "CSRF token missing.".into()),
        ("short token", fields("abc"), with(&[origin()]), "CSRF token from POST has incorrect length.".into()),
        (
            "bad characters",
            fields(&bad_chars),
            with(&[origin()]),
            "CSRF token from POST has invalid characters.".into(),
        ),
        ("wrong token", fields(&"a".repeat(64)), with(&[origin()]), "CSRF token from POST incorrect.".into()),
        (
            "wrong header",
            fields(""),
            with(&[origin(), ("X-CSRFToken", "b".repeat(64))]),
            "HTTP header incorrect.".into(),
        ),
        (
            "other Origin",
            fields(&token),
            with(&[("Origin", "https://evil.example".into())]),
            "Origin checking failed - https://evil.example does not match any trusted origins.".into(),
        ),
    ];
    let mut cases = cases;
    if !https.is_empty() || matches!(browser.door, Door::Lambda { .. }) {
        cases.extend([
            ("no Referer", fields(&token), with(&[]), "Referer checking failed - no Referer.".into()),
            (
                "malformed Referer",
                fields(&token),
                with(&[("Referer", "not a url".into())]),
                "Referer checking failed - Referer is malformed.".into(),
            ),
            (
                "insecure Referer",
                fields(&token),
                with(&[("Referer", format!("http://{host}{prefix}/forecast/"))]),
                "Referer checking failed - Referer is insecure while host is secure.".into(),
            ),
            (
                "cross-site Referer",
                fields(&token),
                with(&[("Referer", "https://evil.example/forecast/".into())]),
                "Referer checking failed - https://evil.example/forecast/ does not match any trusted origins.".into(),
            ),
        ]);
    }
    for (what, form, headers, reason) in &cases {
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let refused = browser.post_without_origin(&link, &form, &headers).await;
        assert_eq!(refused.status, 403, "{door}: {what}: {}", refused.body);
        assert!(crate::auth::shows(&refused.body, reason), "{door}: {what}: `{reason}` in {}", refused.body);
    }

    let form = fields(&token);
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    // Without the cookie the token has nothing to match.
    let cookie = browser.cookies.iter().position(|(n, _)| n == "csrftoken").expect("the CSRF cookie");
    let kept = browser.cookies.remove(cookie);
    let headers = with(&[origin()]);
    let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let refused = browser.post_without_origin(&link, &form, &headers).await;
    assert_eq!(refused.status, 403, "{door}: no cookie");
    assert!(refused.body.contains("CSRF cookie not set."), "{door}: no cookie: {}", refused.body);
    browser.cookies.push(kept);

    // Put right, each is served: Origin of this site, or over HTTPS a Referer from it.
    for headers in [with(&[origin()]), with(&[("Referer", same_site.clone())])] {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let served = browser.post_without_origin(&link, &form, &headers).await;
        assert_eq!(served.status, 200, "{door}: {headers:?}: {}", served.body);
        assert!(served.body.contains("$500.00"), "{door}");
    }
    if !https.is_empty() {
        // The same request over plain HTTP needs no Referer.
        let plain = browser.post_without_origin(&link, &form, &[]).await;
        assert_eq!(plain.status, 200, "{door}: plain HTTP without Referer: {}", plain.body);
    }
}

#[tokio::test]
async fn every_csrf_refusal_through_both_doors_https_included() {
    let db = crate::fresh_demo_db("doors-referer-runserver");
    let env = [
        ("ALLOWED_HOSTS", "127.0.0.1"),
        ("DATABASE_URL", db.as_str()),
        ("SECRET_KEY", crate::SECRET_KEY),
        ("SECURE_PROXY_SSL_HEADER", "X-Forwarded-Proto: https"),
    ];
    let (_server, addr) = spawn_runserver(manage_bin(), &env);
    let mut browser = Browser::new(Door::Tcp { addr, prefix: "" });
    // runserver behind a TLS-terminating proxy that says so.
    csrf_refusals(&mut browser, "", "runserver", &[("X-Forwarded-Proto", "https")]).await;

    for (shape, prefix, tag) in
        [(Shape::FunctionUrl, "", "doors-referer-url"), (Shape::Rest, "/testStage", "doors-referer-rest")]
    {
        let db = crate::fresh_demo_db(tag);
        let env = [
            ("DEBUG", "false"),
            ("ALLOWED_HOSTS", "*"),
            ("DATABASE_URL", db.as_str()),
            ("SECRET_KEY", crate::SECRET_KEY),
            ("SECURE_PROXY_SSL_HEADER", "X-Forwarded-Proto: https"),
        ];
        let function = Function::start_with(&env).await;
        let probe = shape.request(&Req::new("GET", "/", 0).anonymous());
        let host = probe.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case("host")).unwrap().1.clone();
        let mut browser = Browser::new(Door::Lambda { function, shape, host, prefix });
        // API Gateway and Function URLs put X-Forwarded-Proto: https on every event themselves.
        csrf_refusals(&mut browser, prefix, &format!("{shape:?}"), &[]).await;
    }
}

/// A copy of the demo database where deal 1's stage is a value the model cannot read: its page
/// fails inside the view, as a bad row or a broken query would.
async fn demo_db_with_a_bad_row(tag: &str) -> String {
    use djambda::db::sea_orm::{ConnectionTrait, Database};
    let url = crate::fresh_demo_db(tag);
    let db = Database::connect(&url).await.unwrap();
    db.execute_unprepared("UPDATE deal SET stage = 'bogus-stage' WHERE id = 1").await.unwrap();
    db.close().await.unwrap();
    url
}

/// With DEBUG off a failing view gets the site's own 500.html with nothing of the error on it,
/// and the next request is served.
async fn server_error_page(browser: &mut Browser, prefix: &str, door: &str) {
    let logged_in =
        browser.submit(&format!("{prefix}/accounts/login/"), &[("username", "demo"), ("password", "demo")]).await;
    assert_eq!(logged_in.status, 302, "{door}: login: {}", logged_in.body);
    let failed = browser.get(&format!("{prefix}/deals/1/")).await;
    assert_eq!(failed.status, 500, "{door}: {}", failed.body);
    assert!(failed.body.contains("Something went wrong"), "{door}: the site's 500.html: {}", failed.body);
    assert!(failed.body.contains(">Dashboard<"), "{door}: in the site's layout, logged in");
    for internal in ["bogus-stage", "SELECT", "sqlx", "DbErr", "Traceback", "caused by"] {
        assert!(!failed.body.contains(internal), "{door}: `{internal}` on the page: {}", failed.body);
    }
    let next = browser.get(&format!("{prefix}/deals/2/")).await;
    assert_eq!(next.status, 200, "{door}: the next request: {}", next.body);
    assert!(next.body.contains("Warehouse scanners"), "{door}");
}

#[tokio::test]
async fn a_500_is_the_sites_own_page_through_both_doors() {
    let db = demo_db_with_a_bad_row("doors-500-runserver").await;
    let env = [
        ("DEBUG", "false"),
        ("ALLOWED_HOSTS", "127.0.0.1"),
        ("DATABASE_URL", db.as_str()),
        ("SECRET_KEY", crate::SECRET_KEY),
    ];
    let (_server, addr) = spawn_runserver(manage_bin(), &env);
    server_error_page(&mut Browser::new(Door::Tcp { addr, prefix: "" }), "", "runserver").await;

    let db = demo_db_with_a_bad_row("doors-500-lambda").await;
    let env = [
        ("DEBUG", "false"),
        ("ALLOWED_HOSTS", "*"),
        ("DATABASE_URL", db.as_str()),
        ("SECRET_KEY", crate::SECRET_KEY),
        ("SECURE_PROXY_SSL_HEADER", "X-Forwarded-Proto: https"),
    ];
    let function = Function::start_with(&env).await;
    let shape = Shape::FunctionUrl;
    let probe = shape.request(&Req::new("GET", "/", 0).anonymous());
    let host = probe.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case("host")).unwrap().1.clone();
    server_error_page(&mut Browser::new(Door::Lambda { function, shape, host, prefix: "" }), "", "Function URL").await;
}

/// Behind a proxy or a custom domain that mounts the site under `/portal` and strips it before
/// the site sees the path, FORCE_SCRIPT_NAME says where the site is: every link, redirect and
/// form action carries it, through both doors.
#[tokio::test]
async fn a_visit_under_force_script_name_through_both_doors() {
    let db = crate::fresh_demo_db("doors-script-name-runserver");
    let env = [
        ("ALLOWED_HOSTS", "127.0.0.1"),
        ("DATABASE_URL", db.as_str()),
        ("SECRET_KEY", crate::SECRET_KEY),
        ("FILE_UPLOAD_MAX_SIZE", "65536"),
        ("FORCE_SCRIPT_NAME", "/portal"),
    ];
    let (_server, addr) = spawn_runserver(manage_bin(), &env);
    visit(&mut Browser::new(Door::Tcp { addr, prefix: "/portal" }), "/portal", "runserver under /portal").await;

    let db = crate::fresh_demo_db("doors-script-name-lambda");
    let env = [
        ("DEBUG", "false"),
        ("ALLOWED_HOSTS", "*"),
        ("DATABASE_URL", db.as_str()),
        ("SECRET_KEY", crate::SECRET_KEY),
        ("SECURE_PROXY_SSL_HEADER", "X-Forwarded-Proto: https"),
        ("FILE_UPLOAD_MAX_SIZE", "65536"),
        ("FORCE_SCRIPT_NAME", "/portal"),
    ];
    let function = Function::start_with(&env).await;
    // A REST stage under a custom domain: FORCE_SCRIPT_NAME wins over the stage.
    let shape = Shape::Rest;
    let probe = shape.request(&Req::new("GET", "/", 0).anonymous());
    let host = probe.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case("host")).unwrap().1.clone();
    let door = Door::Lambda { function, shape, host, prefix: "/portal" };
    visit(&mut Browser::new(door), "/portal", "REST API under /portal").await;
}
