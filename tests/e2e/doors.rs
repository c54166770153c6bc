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
fn encode(text: &str) -> String {
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
struct Answer {
    status: u16,
    location: Option<String>,
    body: String,
}

impl Answer {
    /// The token of the first form on the page.
    fn csrf_token(&self) -> String {
        let at = self.body.find("name=\"csrfmiddlewaretoken\" value=\"").unwrap_or_else(|| {
            panic!("the page has no CSRF token:\n{}", self.body);
        });
        let rest = &self.body[at + 34..];
        rest[..rest.find('"').unwrap()].to_owned()
    }
}

enum Door {
    Tcp { addr: String },
    Lambda { function: Function, shape: Shape, host: String, prefix: &'static str },
}

/// A browser: a door, a cookie jar, and the page it is on.
struct Browser {
    door: Door,
    cookies: Vec<(String, String)>,
}

impl Browser {
    fn new(door: Door) -> Browser {
        Browser { door, cookies: Vec::new() }
    }

    /// The origin pages are served from, as the browser would send it in `Origin`.
    fn origin(&self) -> String {
        match &self.door {
            Door::Tcp { addr } => format!("http://{addr}"),
            Door::Lambda { host, .. } => format!("https://{host}"),
        }
    }

    /// A path as the site links it (with any stage prefix) to the path the door takes.
    fn target(&self, link: &str) -> String {
        let link = link.strip_prefix(&self.origin()).unwrap_or(link);
        match &self.door {
            Door::Lambda { prefix, .. } => link.strip_prefix(prefix).unwrap_or(link).to_owned(),
            Door::Tcp { .. } => link.to_owned(),
        }
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
        let target = self.target(link);
        let mut headers: Vec<(String, String)> = Vec::new();
        if !self.cookies.is_empty() {
            headers.push(("Cookie".into(), self.cookie_line()));
        }
        if let Some(ct) = content_type {
            headers.push(("Content-Type".into(), ct));
            // Browsers send Origin with every POST.
            headers.push(("Origin".into(), self.origin()));
        }
        let (status, set_cookies, location, text) = match &mut self.door {
            Door::Tcp { addr } => {
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

    async fn get(&mut self, link: &str) -> Answer {
        self.send("GET", link, None).await
    }

    /// Opens the page at `link` and submits its form with `fields` and the page's token.
    async fn submit(&mut self, link: &str, fields: &[(&str, &str)]) -> Answer {
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
    let mut browser = Browser::new(Door::Tcp { addr });
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
