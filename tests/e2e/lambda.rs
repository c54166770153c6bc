//! The built `manage` binary as an AWS Lambda function: started with no arguments under the
//! Runtime API emulator, as the Lambda service starts a `bootstrap`, and fed the sample events
//! AWS's own event crate (`aws_lambda_events`) ships, rewritten to the example site's paths.
//!
//! The main check is parity: for every payload shape (API Gateway REST v1, HTTP API v2, ALB
//! with and without multi-value headers, Function URLs) the function's answer must be the one
//! `manage runserver` gives over real TCP for the same request. Then the parts doors get wrong:
//! binary bodies, several `Set-Cookie` headers, the stage prefix, bad events, the cold start.
//!
//! The fixtures are read from the `aws_lambda_events` crate's sources in Cargo's registry (the
//! version in Cargo.lock), not copied here, so they stay AWS's samples.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value, json};
use tests::emulator::{Outcome, RuntimeApi, Streamed};
use tests::process::{Running, spawn_lambda, spawn_runserver};

use crate::manage_bin;

/// How the function and the dev server run in these tests: production settings (DEBUG off, so
/// error pages do not show the client address, which legitimately differs between the doors).
/// The function and runserver share the tests' SECRET_KEY, so the demo user's session cookie
/// is good through both doors.
const PRODUCTION: [(&str, &str); 3] = [("DEBUG", "false"), ("SECRET_KEY", crate::SECRET_KEY), ("ALLOWED_HOSTS", "*")];

/// A CSV of contacts in Latin-1, as a spreadsheet exported on Windows would send it: `é`, `í`
/// and `ø` are single bytes that are not UTF-8, so only a binary-safe door keeps them.
const LATIN1_CSV: &[u8] =
    b"first_name,last_name,email\nJos\xe9,Garc\xeda,jose@example.com\nS\xf8ren,Holm,soren@example.com\n\xff\xfe\x00,x,not an email\n";

// ---------------------------------------------------------------------------------------------
// AWS's sample events
// ---------------------------------------------------------------------------------------------

/// The `src/fixtures` folder of the `aws_lambda_events` version locked in Cargo.lock, found in
/// Cargo's registry sources (`$CARGO_HOME`, default `~/.cargo`).
fn fixtures_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let lock_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.lock");
        let lock = std::fs::read_to_string(&lock_path).unwrap_or_else(|e| {
            panic!("cannot read {} to find the aws_lambda_events version: {e}", lock_path.display())
        });
        let version = lock
            .split("[[package]]")
            .find_map(|pkg| {
                let field = |name: &str| {
                    pkg.lines().find_map(|l| l.strip_prefix(name).map(|v| v.trim().trim_matches('"').to_owned()))
                };
                (field("name = ").as_deref() == Some("aws_lambda_events")).then(|| field("version = ")).flatten()
            })
            .unwrap_or_else(|| panic!("no aws_lambda_events package in {}", lock_path.display()));
        let cargo_home = std::env::var_os("CARGO_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
            .expect("neither CARGO_HOME nor HOME is set: cannot find Cargo's registry");
        let registry = cargo_home.join("registry").join("src");
        let wanted = format!("aws_lambda_events-{version}");
        std::fs::read_dir(&registry)
            .into_iter()
            .flatten()
            .flatten()
            .map(|index| index.path().join(&wanted).join("src").join("fixtures"))
            .find(|dir| dir.is_dir())
            .unwrap_or_else(|| {
                panic!(
                    "the sample events of {wanted} are not under {}/*/{wanted}/src/fixtures; \
                     run `cargo fetch` (the tests read AWS's own fixtures from the crate's sources)",
                    registry.display()
                )
            })
    })
}

/// The path of one of AWS's sample events.
pub(crate) fn fixture_path(name: &str) -> PathBuf {
    fixtures_dir().join(name)
}

/// One of AWS's sample events, parsed.
pub(crate) fn fixture(name: &str) -> Value {
    let path = fixture_path(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

// ---------------------------------------------------------------------------------------------
// Requests, and what came back
// ---------------------------------------------------------------------------------------------

/// One HTTP request, as a client sends it (the same bytes go to runserver and, reshaped by each
/// payload shape, to the function).
#[derive(Clone, Debug)]
pub(crate) struct Req {
    method: &'static str,
    /// The path as the client sent it, percent-encoded.
    path: String,
    /// The query string as the client sent it (without `?`), percent-encoded.
    query: String,
    /// Header lines in order; a name may repeat.
    pub(crate) headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// The status runserver must give, so two doors failing alike cannot pass as parity.
    expect: u16,
    /// Needs several values under one name (a repeated query key, or several `Set-Cookie`
    /// headers back), which an ALB without multi-value headers cannot carry: it keeps one.
    multi_value: bool,
    /// Sent by the logged-in demo user (its cookies, and the CSRF header when unsafe): the
    /// CRM needs a login for nearly every page.
    login: bool,
}

impl Req {
    pub(crate) fn new(method: &'static str, target: &str, expect: u16) -> Req {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        Req {
            method,
            path: path.into(),
            query: query.into(),
            headers: Vec::new(),
            body: Vec::new(),
            expect,
            multi_value: false,
            login: true,
        }
    }

    /// Sent by an anonymous visitor.
    pub(crate) fn anonymous(mut self) -> Req {
        self.login = false;
        self
    }

    /// The headers with the demo user's cookies joined to the last `Cookie` line (one line, as
    /// a browser on HTTP/1.1 sends them) and the CSRF header on an unsafe request.
    fn login_headers(&self) -> Vec<(String, String)> {
        let mut headers = self.headers.clone();
        if !self.login {
            return headers;
        }
        let login = crate::demo_login();
        match headers.iter_mut().rev().find(|(k, _)| k.eq_ignore_ascii_case("cookie")) {
            Some((_, line)) => *line = format!("{line}; {}", login.cookie),
            None => headers.push(("Cookie".into(), login.cookie.clone())),
        }
        if !matches!(self.method, "GET" | "HEAD") {
            headers.push(("X-CSRFToken".into(), login.csrf.clone()));
        }
        headers
    }

    fn get(target: &str, expect: u16) -> Req {
        Req::new("GET", target, expect)
    }

    fn post(target: &str, content_type: &str, body: &[u8], expect: u16) -> Req {
        Req::new("POST", target, expect).header("Content-Type", content_type).body(body)
    }

    pub(crate) fn header(mut self, name: &str, value: &str) -> Req {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub(crate) fn body(mut self, body: &[u8]) -> Req {
        self.body = body.to_vec();
        self
    }

    fn multi_value(mut self) -> Req {
        self.multi_value = true;
        self
    }

    fn target(&self) -> String {
        if self.query.is_empty() { self.path.clone() } else { format!("{}?{}", self.path, self.query) }
    }

    /// The query as (name, value) pairs still percent-encoded, in order.
    fn raw_pairs(&self) -> Vec<(String, String)> {
        self.query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (k.to_owned(), v.to_owned())
            })
            .collect()
    }

    /// The query as decoded (name, value) pairs, as API Gateway REST APIs hand them over.
    fn decoded_pairs(&self) -> Vec<(String, String)> {
        self.raw_pairs().into_iter().map(|(k, v)| (form_decode(&k), form_decode(&v))).collect()
    }

    /// Header values under `name` (case-insensitive), in order.
    fn header_values(&self, name: &str) -> Vec<&str> {
        self.headers.iter().filter(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str()).collect()
    }
}

impl fmt::Display for Req {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.method, self.target())?;
        let cookies = self.header_values("cookie");
        if !cookies.is_empty() {
            write!(f, " (Cookie: {})", cookies.join(" | "))?;
        }
        if !self.body.is_empty() {
            write!(f, " with a {}-byte body", self.body.len())?;
        }
        Ok(())
    }
}

/// Decodes `application/x-www-form-urlencoded` text (`+` is a space).
fn form_decode(s: &str) -> String {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match (bytes[i], bytes.get(i + 1).copied().and_then(hex), bytes.get(i + 2).copied().and_then(hex)) {
            (b'%', Some(hi), Some(lo)) => {
                out.push(hi << 4 | lo);
                i += 3;
            }
            (b'+', _, _) => {
                out.push(b' ');
                i += 1;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A response reduced to what a client sees: status, headers (names lower-cased, every value
/// kept, `Date` left out as it changes by the second) and the body's bytes.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Seen {
    pub(crate) status: u16,
    pub(crate) headers: BTreeMap<String, Vec<String>>,
    pub(crate) body: Vec<u8>,
}

impl Seen {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.first()).map(String::as_str)
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn from_pairs(status: u16, pairs: impl IntoIterator<Item = (String, String)>, body: Vec<u8>) -> Seen {
        let mut headers: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (k, v) in pairs {
            let k = k.to_ascii_lowercase();
            if k != "date" {
                headers.entry(k).or_default().push(v);
            }
        }
        // Decoded as a browser decodes it, whichever door it came through; the
        // Content-Encoding header stays, for tests to check.
        let body = match headers.get("content-encoding").and_then(|v| v.first()).map(String::as_str) {
            _ if body.is_empty() => body,
            Some("gzip") => gunzip(&body),
            Some("br") => unbrotli(&body),
            _ => body,
        };
        Seen { status, headers, body }
    }

    /// The answer without what is random by design: CSRF secrets differ per visitor and each
    /// page masks its token afresh, each response has its own CSP nonce, and how well a page
    /// compresses depends on those (the decoded bodies compare).
    fn normalized(&self) -> Seen {
        let mut seen = self.clone();
        for cookie in seen.headers.get_mut("set-cookie").into_iter().flatten() {
            if let Some(rest) = cookie.strip_prefix("csrftoken=") {
                let attributes = rest.find(';').map_or("", |i| &rest[i..]);
                *cookie = format!("csrftoken=…{attributes}");
            }
        }
        // Each response's Content-Security-Policy nonce, in the policy and on the page.
        for name in ["content-security-policy", "content-security-policy-report-only"] {
            for policy in seen.headers.get_mut(name).into_iter().flatten() {
                *policy = String::from_utf8(mask_after(policy.as_bytes().to_vec(), b"'nonce-", b'\'')).unwrap();
            }
        }
        seen.body = mask_after(mask_csrf_tokens(seen.body), b" nonce=\"", b'"');
        if seen.headers.contains_key("content-encoding") {
            seen.headers.remove("content-length");
        }
        seen
    }

    /// What differs from `other`, for a person: status, each differing header, and where the
    /// bodies part.
    fn differences(&self, other: &Seen) -> Vec<String> {
        let (this, other) = (&self.normalized(), &other.normalized());
        let mut out = Vec::new();
        if this.status != other.status {
            out.push(format!("status {} vs {}", this.status, other.status));
        }
        let names: std::collections::BTreeSet<&String> = this.headers.keys().chain(other.headers.keys()).collect();
        // A streamed body goes chunked over TCP and whole in a Lambda event: the framing differs,
        // the bytes (compared below) must not.
        let chunked = |seen: &Seen| seen.headers.get("transfer-encoding").is_some_and(|v| v == &["chunked"]);
        let streamed = chunked(this) || chunked(other);
        for name in names {
            if streamed && (name == "transfer-encoding" || name == "content-length") {
                continue;
            }
            let (a, b) = (this.headers.get(name), other.headers.get(name));
            if a != b {
                out.push(format!("header {name}: {a:?} vs {b:?}"));
            }
        }
        if this.body != other.body {
            let at = this
                .body
                .iter()
                .zip(&other.body)
                .position(|(a, b)| a != b)
                .unwrap_or(this.body.len().min(other.body.len()));
            let around =
                |b: &[u8]| String::from_utf8_lossy(&b[at.saturating_sub(40)..(at + 60).min(b.len())]).into_owned();
            out.push(format!(
                "bodies of {} and {} bytes part at byte {at}: {:?} vs {:?}",
                this.body.len(),
                other.body.len(),
                around(&this.body),
                around(&other.body)
            ));
        }
        out
    }
}

/// `body` with the value of every `csrfmiddlewaretoken` input replaced by `…`.
pub(crate) fn mask_csrf_tokens(body: Vec<u8>) -> Vec<u8> {
    mask_after(body, b"name=\"csrfmiddlewaretoken\" value=\"", b'"')
}

/// `bytes` with whatever follows each `marker`, up to `end`, replaced by `…`.
fn mask_after(bytes: Vec<u8>, marker: &[u8], end: u8) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut rest = &bytes[..];
    while let Some(at) = rest.windows(marker.len()).position(|w| w == marker) {
        out.extend_from_slice(&rest[..at + marker.len()]);
        rest = &rest[at + marker.len()..];
        let stop = rest.iter().position(|&b| b == end).unwrap_or(rest.len());
        out.extend_from_slice("…".as_bytes());
        rest = &rest[stop..];
    }
    out.extend_from_slice(rest);
    out
}

/// Sends `req` to runserver over a fresh TCP connection.
pub(crate) async fn over_tcp(addr: &str, req: &Req) -> Seen {
    let (addr, req) = (addr.to_owned(), req.clone());
    tokio::task::spawn_blocking(move || {
        let all = req.login_headers();
        let headers: Vec<(&str, &str)> = all.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let resp = tests::http1::request(&addr, req.method, &req.target(), &headers, &req.body)
            .unwrap_or_else(|e| panic!("runserver at {addr} did not answer {req}: {e}"));
        Seen::from_pairs(resp.status, resp.headers, resp.body)
    })
    .await
    .expect("the TCP client thread")
}

// ---------------------------------------------------------------------------------------------
// Payload shapes
// ---------------------------------------------------------------------------------------------

/// The HTTP payload shapes a Lambda function receives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Shape {
    /// API Gateway REST API (payload 1.0): example-apigw-request.json.
    Rest,
    /// The same with repeated headers (`headerName` twice) in `multiValueHeaders`.
    RestMultiValue,
    /// API Gateway HTTP API (payload 2.0): example-apigw-v2-request-no-authorizer.json.
    Http,
    /// example-apigw-v2-request-multi-value-parameters.json: a `cookies` array, a header with
    /// comma-joined values, and no `Host` header.
    HttpMultiValue,
    /// ALB target group with multi-value headers off: single `headers`.
    Alb,
    /// ALB target group with multi-value headers on: `multiValueHeaders`.
    AlbMultiValue,
    /// Lambda Function URL (payload 2.0 from `<url-id>.lambda-url.<region>.on.aws`).
    FunctionUrl,
}

pub(crate) const SHAPES: [Shape; 7] = [
    Shape::Rest,
    Shape::RestMultiValue,
    Shape::Http,
    Shape::HttpMultiValue,
    Shape::Alb,
    Shape::AlbMultiValue,
    Shape::FunctionUrl,
];

/// The Function URL host the derived Function URL events come from.
const FUNCTION_URL_ID: &str = "abcdefghijklmnopqrstuvwxyz234567";

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

impl Shape {
    fn is_rest(self) -> bool {
        matches!(self, Shape::Rest | Shape::RestMultiValue)
    }

    fn is_http_api(self) -> bool {
        matches!(self, Shape::Http | Shape::HttpMultiValue | Shape::FunctionUrl)
    }

    /// AWS's sample event this shape starts from. Function URLs have no sample in the crate:
    /// their events are payload 2.0 like an HTTP API's, so one is derived from the HTTP API
    /// sample (see [`function_url_event`]).
    fn base_event(self) -> Value {
        match self {
            Shape::Rest => fixture("example-apigw-request.json"),
            Shape::RestMultiValue => fixture("example-apigw-request-multi-value-parameters.json"),
            Shape::Http => fixture("example-apigw-v2-request-no-authorizer.json"),
            Shape::HttpMultiValue => fixture("example-apigw-v2-request-multi-value-parameters.json"),
            Shape::Alb => fixture("example-alb-lambda-target-request-headers-only.json"),
            Shape::AlbMultiValue => fixture("example-alb-lambda-target-request-multivalue-headers.json"),
            Shape::FunctionUrl => function_url_event(),
        }
    }

    /// The request as a client of this deployment sends it: the sample event's own headers
    /// (those that do not describe the sample's body), then the request's, which replace any
    /// sample header of the same name. Runserver gets exactly these header lines.
    pub(crate) fn request(self, req: &Req) -> Req {
        let base = self.base_event();
        let mut headers: Vec<(String, String)> = Vec::new();
        if let Some(multi) = base.get("multiValueHeaders").and_then(Value::as_object) {
            for (k, values) in multi {
                for v in values.as_array().into_iter().flatten().filter_map(Value::as_str) {
                    headers.push((k.clone(), v.to_owned()));
                }
            }
        }
        if let Some(single) = base.get("headers").and_then(Value::as_object) {
            for (k, v) in single {
                if !headers.iter().any(|(h, _)| h.eq_ignore_ascii_case(k))
                    && let Some(v) = v.as_str()
                {
                    headers.push((k.clone(), v.to_owned()));
                }
            }
        }
        if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
            // The HTTP API sample with cookies has no Host header; the request went to the
            // API's domain all the same (and HTTP/1.1 needs the header).
            let domain = base["requestContext"]["domainName"].as_str().expect("the sample names its domain");
            headers.push(("Host".into(), domain.into()));
        }
        let own = req.login_headers();
        headers.retain(|(k, _)| {
            !["content-type", "content-length", "cookie"].contains(&k.to_ascii_lowercase().as_str())
                && !own.iter().any(|(r, _)| r.eq_ignore_ascii_case(k))
        });
        headers.extend(own);
        let mut full = req.clone();
        full.headers = headers;
        // The login is in the headers now; a second `request` must not add it again.
        full.login = false;
        if self == Shape::HttpMultiValue {
            // The sample's own cookies (`cookie1`, `cookie2`: not even name=value pairs) come
            // first, in one Cookie line, as a browser sends them over HTTP/1.1.
            let mut cookies: Vec<String> =
                base["cookies"].as_array().into_iter().flatten().filter_map(Value::as_str).map(str::to_owned).collect();
            assert!(!cookies.is_empty(), "the sample carries cookies of its own");
            cookies.extend(full.header_values("cookie").iter().map(|c| c.to_string()));
            full.headers.retain(|(k, _)| !k.eq_ignore_ascii_case("cookie"));
            full.headers.push(("Cookie".into(), cookies.join("; ")));
        }
        full
    }

    /// The event this shape's service sends for `req` (a request from [`Shape::request`]).
    /// `stage` names the API stage (REST and HTTP APIs); REST samples keep their own
    /// (`testStage`) when it is `None`, HTTP APIs their `$default`.
    pub(crate) fn event(self, req: &Req, stage: Option<&str>) -> Value {
        let mut ev = self.base_event();
        let (body, base64) = event_body(req);
        ev["body"] = body;
        ev["isBase64Encoded"] = json!(base64);
        if self.is_rest() {
            rest_event(&mut ev, req, stage);
        } else if self.is_http_api() {
            http_api_event(&mut ev, req, stage, self == Shape::HttpMultiValue);
        } else {
            alb_event(&mut ev, req, self == Shape::AlbMultiValue);
        }
        ev
    }

    /// Reads the function's answer as this shape's service does.
    pub(crate) fn seen(self, resp: &Value) -> Seen {
        let status = resp["statusCode"].as_u64().unwrap_or_else(|| panic!("{self}: no statusCode in {resp}")) as u16;
        let body = match (&resp["body"], resp["isBase64Encoded"].as_bool().unwrap_or(false)) {
            (Value::Null, _) => Vec::new(),
            (Value::String(b), true) => {
                BASE64.decode(b).unwrap_or_else(|e| panic!("{self}: isBase64Encoded but the body is not base64: {e}"))
            }
            (Value::String(b), false) => b.clone().into_bytes(),
            (other, _) => panic!("{self}: the body is not a string: {other}"),
        };
        let single = || -> Vec<(String, String)> {
            resp["headers"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_else(|| panic!("{self}: header {k} is {v}")).to_owned()))
                .collect()
        };
        let multi = || -> Vec<(String, String)> {
            let mut out = Vec::new();
            for (k, values) in resp["multiValueHeaders"].as_object().into_iter().flatten() {
                for v in values.as_array().unwrap_or_else(|| panic!("{self}: multiValueHeaders.{k} is {values}")) {
                    out.push((k.clone(), v.as_str().unwrap_or_default().to_owned()));
                }
            }
            out
        };
        let headers = match self {
            // API Gateway merges `headers` into `multiValueHeaders`.
            Shape::Rest | Shape::RestMultiValue => {
                let mut all = multi();
                for (k, v) in single() {
                    if !all.iter().any(|(m, _)| m.eq_ignore_ascii_case(&k)) {
                        all.push((k, v));
                    }
                }
                assert!(resp.get("cookies").is_none(), "{self}: a REST API response has no `cookies` field: {resp}");
                all
            }
            // HTTP APIs and Function URLs read `headers` and take Set-Cookie from `cookies`.
            Shape::Http | Shape::HttpMultiValue | Shape::FunctionUrl => {
                let mut all = single();
                assert!(
                    !all.iter().any(|(k, _)| k.eq_ignore_ascii_case("set-cookie")),
                    "{self}: Set-Cookie belongs in `cookies` for payload 2.0: {resp}"
                );
                let cookies =
                    resp["cookies"].as_array().unwrap_or_else(|| panic!("{self}: no `cookies` array: {resp}"));
                all.extend(
                    cookies.iter().map(|c| ("set-cookie".to_owned(), c.as_str().unwrap_or_default().to_owned())),
                );
                all
            }
            // An ALB reads one field or the other, by the target group's multi-value setting.
            Shape::Alb | Shape::AlbMultiValue => {
                let description = resp["statusDescription"].as_str().unwrap_or_else(|| {
                    panic!("{self}: no statusDescription, so the event was not taken for an ALB one: {resp}")
                });
                assert!(description.starts_with(&status.to_string()), "{self}: statusDescription {description:?}");
                if self == Shape::Alb { single() } else { multi() }
            }
        };
        Seen::from_pairs(status, headers, body)
    }
}

/// The body as events carry it: text as is, anything that is not UTF-8 base64-encoded.
fn event_body(req: &Req) -> (Value, bool) {
    if req.body.is_empty() {
        return (Value::Null, false);
    }
    match std::str::from_utf8(&req.body) {
        Ok(text) => (json!(text), false),
        Err(_) => (json!(BASE64.encode(&req.body)), true),
    }
}

/// Header lines grouped by name (the first spelling kept), values in order.
fn grouped_headers(req: &Req, lower_case: bool) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for (k, v) in &req.headers {
        match out.iter_mut().find(|(n, _)| n.eq_ignore_ascii_case(k)) {
            Some((_, values)) => values.push(v.clone()),
            None => out.push((if lower_case { k.to_ascii_lowercase() } else { k.clone() }, vec![v.clone()])),
        }
    }
    out
}

/// Query pairs grouped by name, values in order.
fn grouped(pairs: Vec<(String, String)>) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for (k, v) in pairs {
        match out.iter_mut().find(|(n, _)| *n == k) {
            Some((_, values)) => values.push(v),
            None => out.push((k, vec![v])),
        }
    }
    out
}

/// `{name: last value}` and `{name: [values]}`, or `null` when empty, as REST APIs and ALBs
/// send them.
fn single_and_multi(groups: &[(String, Vec<String>)]) -> (Value, Value) {
    if groups.is_empty() {
        return (Value::Null, Value::Null);
    }
    let single: Map<String, Value> = groups.iter().map(|(k, v)| (k.clone(), json!(v.last()))).collect();
    let multi: Map<String, Value> = groups.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
    (Value::Object(single), Value::Object(multi))
}

/// REST API (payload 1.0): the path without the stage (as API Gateway sends it for the
/// execute-api domain), decoded query parameters, and headers both single and multi-valued.
fn rest_event(ev: &mut Value, req: &Req, stage: Option<&str>) {
    let stage = stage.map(str::to_owned).unwrap_or_else(|| ev["requestContext"]["stage"].as_str().unwrap().to_owned());
    ev["httpMethod"] = json!(req.method);
    ev["path"] = json!(req.path);
    // The usual proxy setup: a `/` resource for the root, `/{proxy+}` for the rest.
    let (resource, proxy) = match req.path.trim_start_matches('/') {
        "" => ("/", Value::Null),
        rest => ("/{proxy+}", json!({ "proxy": rest })),
    };
    ev["resource"] = json!(resource);
    ev["pathParameters"] = proxy;
    let (headers, multi_headers) = single_and_multi(&grouped_headers(req, false));
    ev["headers"] = headers;
    ev["multiValueHeaders"] = multi_headers;
    let (query, multi_query) = single_and_multi(&grouped(req.decoded_pairs()));
    ev["queryStringParameters"] = query;
    ev["multiValueQueryStringParameters"] = multi_query;
    let ctx = &mut ev["requestContext"];
    ctx["httpMethod"] = json!(req.method);
    ctx["stage"] = json!(stage);
    let with_stage =
        if req.path.starts_with(&format!("/{stage}/")) { req.path.clone() } else { format!("/{stage}{}", req.path) };
    ctx["path"] = json!(with_stage);
    ctx["resourcePath"] = json!(resource);
}

/// HTTP API / Function URL (payload 2.0): `rawPath` (with a named stage in it, as HTTP APIs
/// send it), the raw query string, lower-case headers with repeats joined by commas, and the
/// cookies in their own array.
fn http_api_event(ev: &mut Value, req: &Req, stage: Option<&str>, keep_hostless: bool) {
    ev["rawPath"] = json!(req.path);
    ev["rawQueryString"] = json!(req.query);
    let queries = grouped(req.decoded_pairs());
    ev["queryStringParameters"] = if queries.is_empty() {
        Value::Null
    } else {
        Value::Object(queries.iter().map(|(k, v)| (k.clone(), json!(v.join(",")))).collect())
    };
    let mut headers = Map::new();
    let mut cookies = Vec::new();
    for (k, values) in grouped_headers(req, true) {
        if k == "cookie" {
            cookies.extend(
                values.iter().flat_map(|v| v.split(';')).map(|c| c.trim().to_owned()).filter(|c| !c.is_empty()),
            );
        } else if !(keep_hostless && k == "host") {
            headers.insert(k, json!(values.join(",")));
        }
    }
    ev["headers"] = Value::Object(headers);
    match ev.as_object_mut() {
        Some(obj) if cookies.is_empty() => {
            obj.remove("cookies");
        }
        Some(obj) => {
            obj.insert("cookies".into(), json!(cookies));
        }
        None => unreachable!("events are objects"),
    }
    let ctx = &mut ev["requestContext"];
    ctx["stage"] = json!(stage.unwrap_or("$default"));
    ctx["http"]["method"] = json!(req.method);
    ctx["http"]["path"] = json!(req.path);
}

/// ALB: the path, the query as the client sent it (ALBs do not decode it), and either single or
/// multi-value headers and query parameters, by the target group's setting.
fn alb_event(ev: &mut Value, req: &Req, multi_value: bool) {
    ev["httpMethod"] = json!(req.method);
    ev["path"] = json!(req.path);
    let (headers, multi_headers) = single_and_multi(&grouped_headers(req, true));
    let (query, multi_query) = single_and_multi(&grouped(req.raw_pairs()));
    let obj = ev.as_object_mut().expect("events are objects");
    for key in ["headers", "multiValueHeaders", "queryStringParameters", "multiValueQueryStringParameters"] {
        obj.remove(key);
    }
    if multi_value {
        obj.insert("multiValueHeaders".into(), multi_headers);
        obj.insert(
            "multiValueQueryStringParameters".into(),
            if multi_query.is_null() { json!({}) } else { multi_query },
        );
    } else {
        obj.insert("headers".into(), headers);
        obj.insert("queryStringParameters".into(), if query.is_null() { json!({}) } else { query });
    }
}

/// A Lambda Function URL event. `aws_lambda_events` ships no sample for it, so it is derived
/// here from the HTTP API sample: Function URLs send payload 2.0 with `requestContext.domainName`
/// `<url-id>.lambda-url.<region>.on.aws`, `domainPrefix` and `apiId` the URL id, route key and
/// stage `$default`, `authentication` null, and null path parameters and stage variables (as in
/// the AWS Lambda developer guide's "Request payload" example for Function URLs).
fn function_url_event() -> Value {
    let mut ev = fixture("example-apigw-v2-request-no-authorizer.json");
    let domain = format!("{FUNCTION_URL_ID}.lambda-url.us-east-1.on.aws");
    ev["routeKey"] = json!("$default");
    ev["pathParameters"] = Value::Null;
    ev["stageVariables"] = Value::Null;
    ev["headers"]["host"] = json!(domain);
    let ctx = &mut ev["requestContext"];
    ctx["domainName"] = json!(domain);
    ctx["domainPrefix"] = json!(FUNCTION_URL_ID);
    ctx["apiId"] = json!(FUNCTION_URL_ID);
    ctx["routeKey"] = json!("$default");
    ctx["stage"] = json!("$default");
    ctx["authentication"] = Value::Null;
    ev
}

// ---------------------------------------------------------------------------------------------
// Running the function
// ---------------------------------------------------------------------------------------------

/// The built binary running as a Lambda function under its own emulator.
pub(crate) struct Function {
    api: RuntimeApi,
    process: Running,
}

impl Function {
    pub(crate) async fn start(extra_env: &[(&str, &str)]) -> Function {
        Self::start_with(&crate::with_demo_db(extra_env)).await
    }

    /// The function with exactly this environment (on the database it names).
    pub(crate) async fn start_with(env: &[(&str, &str)]) -> Function {
        let api = RuntimeApi::start().await;
        let process = spawn_lambda(manage_bin(), &api.address(), env);
        Function { api, process }
    }

    /// Invokes the function with `event`; a crash or an invocation error fails the test with
    /// what the process printed.
    async fn call(&mut self, event: &Value, what: &str) -> Value {
        let outcome = self.api.invoke_with_timeout(event.to_string(), Duration::from_secs(30)).await;
        match outcome {
            Ok(Outcome::Response(v)) => v,
            Ok(Outcome::Error(e)) => {
                panic!("{what}: the function reported an invocation error: {e}\n{}", self.stderr())
            }
            Ok(Outcome::Streamed(s)) => panic!("{what}: the function streamed its answer: {}", s.prelude),
            Err(e) => panic!("{what}: {e}; the process {}\n{}", self.status(), self.stderr()),
        }
    }

    /// Sends `req` as a Function URL would to a function in streaming mode; returns what it
    /// streamed and the answer as a client reads it.
    async fn stream(&mut self, req: &Req) -> (Streamed, Seen) {
        let event = Shape::FunctionUrl.event(req, None).to_string();
        let streamed = match self.api.invoke_with_timeout(event, Duration::from_secs(60)).await {
            Ok(Outcome::Streamed(s)) => s,
            Ok(other) => panic!("{req}: not streamed: {other:?}\n{}", self.stderr()),
            Err(e) => panic!("{req}: {e}; the process {}\n{}", self.status(), self.stderr()),
        };
        let prelude = &streamed.prelude;
        let status = prelude["statusCode"].as_u64().unwrap_or_else(|| panic!("{req}: no statusCode in {prelude}"));
        let mut pairs = Vec::new();
        for (name, value) in prelude["headers"].as_object().into_iter().flatten() {
            // A Function URL takes one string per header.
            let value = value.as_str().unwrap_or_else(|| panic!("{req}: header {name} is not one string: {prelude}"));
            pairs.push((name.clone(), value.to_owned()));
        }
        assert!(!pairs.iter().any(|(k, _)| k.eq_ignore_ascii_case("set-cookie")), "{req}: cookies apart: {prelude}");
        let cookies = prelude["cookies"].as_array().unwrap_or_else(|| panic!("{req}: no cookies array: {prelude}"));
        pairs.extend(cookies.iter().map(|c| ("set-cookie".to_owned(), c.as_str().unwrap_or_default().to_owned())));
        let seen = Seen::from_pairs(status as u16, pairs, streamed.body.clone());
        (streamed, seen)
    }

    /// Sends `req` as `shape` would (stage as in [`Shape::event`]) and reads the answer.
    pub(crate) async fn send(&mut self, shape: Shape, req: &Req, stage: Option<&str>) -> (Value, Seen) {
        let resp = self.call(&shape.event(req, stage), &format!("{shape} {req}")).await;
        let seen = shape.seen(&resp);
        (resp, seen)
    }

    fn status(&mut self) -> String {
        match self.process.child.try_wait() {
            Ok(Some(status)) => format!("exited ({status})"),
            Ok(None) => "is still running".into(),
            Err(e) => format!("cannot be waited for: {e}"),
        }
    }

    /// What the process printed on stderr so far.
    fn stderr(&self) -> String {
        let lines: Vec<String> = self.process.stderr.try_iter().collect();
        format!("stderr:\n{}", lines.join("\n"))
    }
}

/// Every `href`, `src` and `action` value in an HTML page.
fn links(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    for attr in ["href=\"", "src=\"", "action=\""] {
        let mut rest = html;
        while let Some(at) = rest.find(attr) {
            let after = &rest[at + attr.len()..];
            let end = after.find('"').unwrap_or(after.len());
            // Only whole attribute names: `data-src="` or `xhref="` are not links.
            let before = rest[..at].chars().last();
            if before.is_none_or(|c| c.is_whitespace()) {
                out.push(after[..end].to_owned());
            }
            rest = &after[end..];
        }
    }
    out
}

/// The hashed URL of the site stylesheet, as the dashboard links it.
fn hashed_css(dashboard: &str) -> String {
    links(dashboard)
        .into_iter()
        .find(|l| {
            l.strip_prefix("/static/site.")
                .and_then(|r| r.strip_suffix(".css"))
                .is_some_and(|h| h.len() == 12 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        })
        .unwrap_or_else(|| panic!("the dashboard links no /static/site.<12 hex>.css:\n{dashboard}"))
}

fn logo_png() -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("static/img/logo.png");
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

const FORM: &str = "application/x-www-form-urlencoded";

/// The requests every door must answer alike.
fn parity_requests(css: &str) -> Vec<Req> {
    vec![
        Req::get("/", 302).anonymous(),
        Req::get("/accounts/login/?next=%2Fdeals%2F", 200).anonymous(),
        Req::post("/accounts/login/", FORM, b"username=demo&password=demo", 403).anonymous(),
        Req::get("/", 200),
        Req::get("/companies/new/", 200),
        Req::get("/contacts/3/edit/", 200),
        Req::get("/deals/2/", 200),
        Req::post("/companies/new/", FORM, b"name=&slug=Not+A+Slug", 200),
        Req::post("/forecast/", FORM, b"amount=1", 403).anonymous(),
        Req::get("/contacts/?q=an&page=1", 200),
        Req::get("/contacts/?page=2", 200),
        Req::get("/contacts/?page=99", 404),
        Req::get("/companies/?q=blue+harbor", 200),
        Req::get("/companies/?q=Everly%20%26%20Sons", 200),
        Req::get("/companies/blue-harbor-foods/", 200),
        Req::get("/contacts/3/", 200),
        Req::get("/contacts/999/", 404),
        Req::get("/no/such/page/", 404),
        Req::get("/contacts", 301),
        Req::get("/contacts?q=an", 301),
        Req::new("HEAD", "/contacts/", 200),
        Req::post("/contacts/", FORM, b"q=an", 405),
        Req::get("/contacts/export.csv", 200),
        Req::get("/deals/?stage=proposal&sort=-amount", 200),
        Req::get("/deals/?stage=nope", 400),
        Req::get("/forecast/", 200),
        Req::post("/forecast/", FORM, b"amount=12%2C500.50&probability=40", 200),
        Req::post("/forecast/", FORM, b"amount=&probability=250", 422),
        Req::get("/api/contacts/", 200),
        Req::get("/api/contacts/3/", 200),
        Req::post("/api/contacts/import/", "text/csv; charset=latin-1", LATIN1_CSV, 422),
        Req::post("/api/contacts/import/", "text/csv", b"Ana,Lima,ana@example.com\n", 200),
        Req::get("/static/img/logo.png", 200),
        Req::get(css, 200),
        Req::get("/static/no-such-file.css", 404),
        Req::get("/", 200).header("Cookie", "theme=dark; density=compact"),
        Req::get("/preferences/?theme=dark&density=compact", 302).multi_value(),
        // Django's QueryDict: the last of repeated values wins, so their order must survive.
        Req::get("/preferences/?theme=light&theme=dark", 302).multi_value(),
        // HTTP/2 clients may send each cookie in a field of its own.
        Req::get("/", 200).header("cookie", "theme=dark").header("cookie", "density=compact").multi_value(),
    ]
}

// ---------------------------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------------------------

/// Every payload shape, fed AWS's sample events rewritten to each request, answers exactly as
/// runserver does over TCP: status, every header but Date (Set-Cookie included), body bytes.
#[tokio::test]
async fn every_payload_shape_answers_as_runserver_does() {
    // REST APIs always name a stage; behind a custom domain the stage is not in the URL, which
    // is what FORCE_SCRIPT_NAME="" says. The door still strips the stage lambda_http puts into
    // the path, so pages match runserver's at the root. (Stage prefixes: see below.)
    let env = [PRODUCTION[0], PRODUCTION[1], PRODUCTION[2], ("FORCE_SCRIPT_NAME", "")];
    let mut function = Function::start(&env).await;
    let (_server, addr) = spawn_runserver(manage_bin(), &crate::with_demo_db(&env));

    let dashboard = over_tcp(&addr, &Req::get("/", 200)).await;
    assert_eq!(dashboard.status, 200, "runserver's dashboard: {}", dashboard.text());
    let css = hashed_css(&dashboard.text());

    let mut compared = 0;
    let mut mismatches = Vec::new();
    for shape in SHAPES {
        for req in parity_requests(&css) {
            if shape == Shape::Alb && req.multi_value {
                // An ALB without multi-value headers passes one value per query key and per
                // response header (AWS documents it keeps only one): not comparable.
                continue;
            }
            let req = shape.request(&req);
            let tcp = over_tcp(&addr, &req).await;
            assert_eq!(tcp.status, req.expect, "runserver answered {req} with {}: {}", tcp.status, tcp.text());
            let (_, lambda) = function.send(shape, &req, None).await;
            compared += 1;
            let diffs = lambda.differences(&tcp);
            if !diffs.is_empty() {
                mismatches.push(format!("{shape} {req} (Lambda vs runserver):\n    {}", diffs.join("\n    ")));
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {compared} requests answered differently through Lambda than through runserver:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
    assert!(compared >= SHAPES.len() * 25, "only {compared} requests compared");
}

/// Binary responses come back base64 through every door and decode to the file on disk; text
/// ones do not; a base64-encoded binary request body arrives byte for byte.
#[tokio::test]
async fn binary_bodies_cross_every_door_intact() {
    let mut function = Function::start(&PRODUCTION).await;
    let logo = logo_png();
    assert!(std::str::from_utf8(&logo).is_err(), "the logo must not be valid UTF-8 for this test to mean anything");
    let (_, page) = function.send(Shape::Http, &Shape::Http.request(&Req::get("/", 200)), None).await;
    let css = hashed_css(&page.text());

    for shape in SHAPES {
        let (resp, seen) = function.send(shape, &shape.request(&Req::get("/static/img/logo.png", 200)), None).await;
        assert_eq!(seen.status, 200, "{shape}: logo.png");
        assert_eq!(resp["isBase64Encoded"], json!(true), "{shape}: a PNG must come back base64-encoded: {resp}");
        assert_eq!(seen.header("content-type"), Some("image/png"), "{shape}: logo.png content type");
        assert!(
            seen.body == logo,
            "{shape}: logo.png decodes to {} bytes that differ from the file's {}",
            seen.body.len(),
            logo.len()
        );

        let identity = Req::get(&css, 200).header("Accept-Encoding", "identity");
        let (resp, seen) = function.send(shape, &shape.request(&identity), None).await;
        assert_eq!(seen.status, 200, "{shape}: {css}");
        assert_eq!(
            resp["isBase64Encoded"],
            json!(false),
            "{shape}: CSS is text and must not be base64-encoded: {resp}"
        );
        assert_eq!(seen.header("cache-control"), Some("public, max-age=31536000, immutable"), "{shape}: {css}");

        let import = Req::post("/api/contacts/import/", "text/csv; charset=latin-1", LATIN1_CSV, 422);
        let event = shape.event(&shape.request(&import), None);
        assert_eq!(event["isBase64Encoded"], json!(true), "the import event carries its body base64-encoded");
        let resp = function.call(&event, &format!("{shape} {import}")).await;
        let seen = shape.seen(&resp);
        let report: Value = serde_json::from_slice(&seen.body)
            .unwrap_or_else(|e| panic!("{shape}: the import answer is not JSON ({e}): {}", seen.text()));
        assert_eq!(report["bytes"], json!(LATIN1_CSV.len()), "{shape}: the body must arrive byte for byte: {report}");
        assert_eq!(seen.status, 422, "{shape}: a file that is not UTF-8 is refused: {report}");
        let rows = report["rows"].as_array().unwrap_or_else(|| panic!("{shape}: no rows in {report}"));
        assert!(rows.is_empty(), "{shape}: nothing is read with its letters changed: {report}");
        assert_eq!(report["errors"][0]["line"], json!(2), "{shape}: the first line that is not UTF-8: {report}");
        let message = report["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(message.contains("not UTF-8"), "{shape}: {report}");
    }
}

/// Several Set-Cookie headers survive each shape's own way of carrying them, and cookies sent
/// through each shape reach the view.
#[tokio::test]
async fn several_cookies_survive_both_ways() {
    let mut function = Function::start(&PRODUCTION).await;
    let preferences = Req::get("/preferences/?theme=dark&density=compact", 302);
    for shape in SHAPES {
        let (resp, seen) = function.send(shape, &shape.request(&preferences), None).await;
        assert_eq!(seen.status, 302, "{shape}: {resp}");
        // REST samples keep their own stage (`testStage`), which the redirect keeps too.
        let dashboard = if shape.is_rest() { "/testStage/" } else { "/" };
        assert_eq!(seen.header("location"), Some(dashboard), "{shape}: back to the dashboard: {resp}");
        let carried: Vec<&str> = match shape {
            Shape::Rest | Shape::RestMultiValue | Shape::AlbMultiValue => resp["multiValueHeaders"]["set-cookie"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect(),
            Shape::Http | Shape::HttpMultiValue | Shape::FunctionUrl => {
                resp["cookies"].as_array().into_iter().flatten().filter_map(Value::as_str).collect()
            }
            // One value per header name is all an ALB without multi-value headers takes.
            Shape::Alb => continue,
        };
        assert_eq!(carried.len(), 2, "{shape}: both cookies must be in the response: {resp}");
        assert!(carried[0].starts_with("theme=dark;"), "{shape}: {carried:?}");
        assert!(carried[1].starts_with("density=compact;"), "{shape}: {carried:?}");
        for cookie in &carried {
            assert!(cookie.contains("Path=/") && cookie.contains("HttpOnly"), "{shape}: cookie attributes: {cookie}");
        }
    }

    // An HTTP API hands cookies over in their own array; the view must see them.
    let mut event = Shape::Http.event(&Shape::Http.request(&Req::get("/", 200)), None);
    let mut cookies = event["cookies"].as_array().cloned().unwrap_or_default();
    assert!(!cookies.is_empty(), "the logged-in user's cookies travel in the array too: {event}");
    cookies.push(json!("theme=dark"));
    event["cookies"] = json!(cookies);
    let page = Shape::Http.seen(&function.call(&event, "HTTP API with cookies [theme=dark]").await);
    assert_eq!(page.status, 200);
    assert!(page.text().contains("class=\"theme-dark density-comfortable"), "the theme cookie must reach the view");

    // Both cookies, through every shape: in one Cookie header (v1, ALB), or the array (v2).
    for shape in SHAPES {
        let req = shape.request(&Req::get("/", 200).header("Cookie", "theme=dark; density=compact"));
        let (_, page) = function.send(shape, &req, None).await;
        assert!(
            page.text().contains("class=\"theme-dark density-compact"),
            "{shape}: {req}: both cookies must reach the view"
        );
    }

    // A client on HTTP/2 may send each cookie in its own `cookie` field; a REST API passes
    // them as repeated values in multiValueHeaders (and the last one alone in `headers`).
    for shape in [Shape::Rest, Shape::AlbMultiValue] {
        let req = shape.request(&Req::get("/", 200).header("cookie", "theme=dark").header("cookie", "density=compact"));
        let (_, page) = function.send(shape, &req, None).await;
        assert!(
            page.text().contains("class=\"theme-dark density-compact"),
            "{shape}: two Cookie headers in multiValueHeaders must both reach the view"
        );
    }
}

/// Under a named stage the door strips the stage once and keeps it as the script prefix, so
/// every link, form, static URL and redirect on the page points back under the stage.
#[tokio::test]
async fn stage_prefix_is_stripped_once_and_put_back_everywhere() {
    let mut function = Function::start(&PRODUCTION).await;
    // A REST API stage as API Gateway sends it (path without the stage, which lambda_http then
    // puts in front) and as the path already carrying it; an HTTP API's named stage is in
    // `rawPath`.
    let cases: [(Shape, &str, &str); 3] =
        [(Shape::Rest, "Prod", ""), (Shape::Rest, "Prod", "/Prod"), (Shape::Http, "staging", "/staging")];
    for (shape, stage, in_path) in cases {
        let prefix = format!("/{stage}");
        let get = |path: &str, expect: u16| shape.request(&Req::get(&format!("{in_path}{path}"), expect));
        let label = |what: &str| format!("{shape} stage {stage:?} (path {:?}): {what}", format!("{in_path}/…"));

        for page in ["/contacts/", "/forecast/", "/"] {
            let (_, seen) = function.send(shape, &get(page, 200), Some(stage)).await;
            assert_eq!(seen.status, 200, "{}: {}", label(page), seen.text());
            let html = seen.text();
            let all = links(&html);
            let internal: Vec<&String> = all.iter().filter(|l| l.starts_with('/')).collect();
            assert!(internal.len() >= 8, "{}: too few links to mean anything: {all:?}", label(page));
            let outside: Vec<&&String> = internal.iter().filter(|l| !l.starts_with(&format!("{prefix}/"))).collect();
            assert!(outside.is_empty(), "{}: links that leave the stage {prefix}: {outside:?}", label(page));
            assert!(
                internal.iter().any(|l| l.starts_with(&format!("{prefix}/static/"))),
                "{}: static() URLs carry the stage: {internal:?}",
                label(page)
            );
            if page == "/forecast/" {
                assert!(
                    html.contains(&format!("action=\"{prefix}/forecast/\"")),
                    "{}: the form posts under the stage",
                    label(page)
                );
            }
            if page == "/contacts/" {
                assert!(
                    internal.iter().any(|l| *l == &format!("{prefix}/contacts/3/")),
                    "{}: url() with args",
                    label(page)
                );
                // The static URL on the page works through the same door.
                let css = internal.iter().find(|l| l.ends_with(".css")).expect("a stylesheet link");
                let css_path = css.strip_prefix(&prefix).unwrap();
                let (_, sheet) = function.send(shape, &get(css_path, 200), Some(stage)).await;
                assert_eq!(sheet.status, 200, "{}", label(css));
                assert!(sheet.header("content-type").is_some_and(|c| c.starts_with("text/css")), "{}", label(css));
            }
        }

        let (_, redirect) = function.send(shape, &get("/preferences/?theme=dark", 302), Some(stage)).await;
        assert_eq!(redirect.status, 302, "{}", label("preferences"));
        assert_eq!(
            redirect.header("location"),
            Some(format!("{prefix}/").as_str()),
            "{}",
            label("preferences redirect")
        );

        let (_, slash) = function.send(shape, &get("/contacts", 301), Some(stage)).await;
        assert_eq!(slash.status, 301, "{}", label("APPEND_SLASH"));
        assert_eq!(slash.header("location"), Some(format!("{prefix}/contacts/").as_str()), "{}", label("APPEND_SLASH"));
        let (_, slash) = function.send(shape, &get("/contacts?q=an", 301), Some(stage)).await;
        assert_eq!(
            slash.header("location"),
            Some(format!("{prefix}/contacts/?q=an").as_str()),
            "{}",
            label("APPEND_SLASH")
        );

        let (_, missing) = function.send(shape, &get("/no/such/page/", 404), Some(stage)).await;
        assert_eq!(missing.status, 404, "{}", label("404"));
        assert!(
            missing.text().contains(&format!("<code>{prefix}/no/such/page/</code>")),
            "{}: the 404 page names the path the client asked for",
            label("404")
        );

        let (_, logo) = function.send(shape, &get("/static/img/logo.png", 200), Some(stage)).await;
        assert!(logo.body == logo_png(), "{}", label("logo.png under the stage"));
    }

    // The root of an HTTP API's named stage without the slash: rawPath is the stage alone. As
    // Django does for an empty PATH_INFO under a SCRIPT_NAME, that is the site's root.
    let root = Shape::Http.request(&Req::get("/staging", 200));
    let (_, seen) = function.send(Shape::Http, &root, Some("staging")).await;
    assert_eq!(seen.status, 200, "HTTP API stage root {root}: {}", seen.text());
    assert!(seen.text().contains("Open pipeline"), "HTTP API stage root {root}: the dashboard");
    let outside: Vec<String> =
        links(&seen.text()).into_iter().filter(|l| l.starts_with('/') && !l.starts_with("/staging/")).collect();
    assert!(outside.is_empty(), "HTTP API stage root {root}: links that leave the stage: {outside:?}");
}

/// An event that is no HTTP event at all, or no JSON, is an invocation error, and the same
/// process serves the next good event.
#[tokio::test]
async fn bad_events_are_invocation_errors_and_the_process_keeps_serving() {
    let mut function = Function::start(&PRODUCTION).await;
    let good = Shape::Http.event(&Shape::Http.request(&Req::get("/contacts/3/", 200)), None);
    let bad: [(&str, Vec<u8>); 4] = [
        ("JSON that is no HTTP event", br#"{"hello": "world"}"#.to_vec()),
        ("bytes that are not JSON", b"\xff\xfenot json at all {".to_vec()),
        ("an empty event", Vec::new()),
        ("a REST event without a method", {
            let mut ev = Shape::Rest.event(&Shape::Rest.request(&Req::get("/", 200)), None);
            ev.as_object_mut().unwrap().remove("httpMethod");
            ev["requestContext"].as_object_mut().unwrap().remove("httpMethod");
            ev.to_string().into_bytes()
        }),
    ];
    let mut invocations = 0;
    for (what, event) in bad {
        let outcome = function.api.invoke_with_timeout(event, Duration::from_secs(30)).await;
        invocations += 1;
        match outcome {
            Ok(Outcome::Error(e)) => {
                let message = e["errorMessage"].as_str().unwrap_or_default();
                assert!(!message.is_empty(), "{what}: the error names the problem: {e}");
            }
            Ok(Outcome::Response(r)) => panic!("{what}: answered as if it were a request: {r}"),
            Ok(Outcome::Streamed(s)) => panic!("{what}: streamed as if it were a request: {}", s.prelude),
            Err(e) => panic!("{what}: {e}; the process {}\n{}", function.status(), function.stderr()),
        }
        let resp = function.call(&good, &format!("the good event after {what}")).await;
        invocations += 1;
        let seen = Shape::Http.seen(&resp);
        assert_eq!(seen.status, 200, "after {what}: {}", seen.text());
        assert!(seen.text().contains("Carvalho"), "after {what}: the contact page");
    }
    assert!(
        function.api.wait_for_polls(invocations + 1, Duration::from_secs(10)).await,
        "the same process asks for the next event after all {invocations} invocations ({})",
        function.status()
    );
    assert_eq!(function.status(), "is still running", "{}", function.stderr());
}

/// Client input lambda_http cannot turn into a request (it would panic in its conversion):
/// each is a 400 in the event's own response shape, logged in one line, and the process goes on.
#[tokio::test]
async fn malformed_http_events_are_400_answers_not_panics() {
    let mut function = Function::start(&PRODUCTION).await;
    let mut refusals = 0;
    for shape in SHAPES {
        let good = shape.event(&shape.request(&Req::get("/contacts/3/", 200)), None);
        let mut bad: Vec<(String, Value)> = Vec::new();
        let mut not_base64 = good.clone();
        not_base64["body"] = json!("this is %%% not base64 {}");
        not_base64["isBase64Encoded"] = json!(true);
        bad.push(("a body marked isBase64Encoded that is not base64".into(), not_base64));
        // The host the API Gateway console's "Test" button sends.
        let mut braces = good.clone();
        let mut set = false;
        for field in ["headers", "multiValueHeaders"] {
            if let Some(map) = braces[field].as_object_mut() {
                let host = map.keys().find(|k| k.eq_ignore_ascii_case("host")).cloned();
                if let Some(key) = host {
                    map[&key] = if field == "headers" { json!("{host}") } else { json!(["{host}"]) };
                    set = true;
                }
            }
        }
        // The console's event has the placeholder in the context's domain name too (REST
        // APIs build the URL from it), where it has a context.
        if braces["requestContext"].is_object() || !set {
            braces["requestContext"]["domainName"] = json!("{host}");
        }
        bad.push(("the Host `{host}`".into(), braces));
        if shape.is_http_api() {
            for raw in ["q=a b", "q=\"quoted\"", "q=<b>", "q=a\tb"] {
                let mut query = good.clone();
                query["rawQueryString"] = json!(raw);
                bad.push((format!("the raw query string {raw:?}"), query));
            }
        }
        for (what, event) in bad {
            let what = format!("{shape}: {what}");
            let resp = function.call(&event, &what).await;
            refusals += 1;
            let seen = shape.seen(&resp);
            assert_eq!(seen.status, 400, "{what}: {}", seen.text());
            assert!(seen.text().contains("Bad Request"), "{what}: {}", seen.text());
            let after = function.call(&good, &format!("the good event after {what}")).await;
            let seen = shape.seen(&after);
            assert_eq!(seen.status, 200, "after {what}: {}", seen.text());
        }
    }
    assert_eq!(function.status(), "is still running");
    let stderr = function.stderr();
    assert!(!stderr.contains("panicked"), "no panic reached the log:\n{stderr}");
    let logged = stderr.lines().filter(|l| l.contains("Bad Request (Lambda event):")).count();
    assert_eq!(logged, refusals, "one log line per refused event:\n{stderr}");
}

/// A response too big for a Lambda response event (the contacts export of 40,000 contacts,
/// some 8 MB) is a 500 that says why in the log, not an answer the service drops.
#[tokio::test]
async fn a_response_past_the_payload_limit_is_a_clear_500() {
    let url = crate::reliability::many_contacts_db("lambda-too-big", 40_000).await;
    let env = [PRODUCTION[0], PRODUCTION[1], PRODUCTION[2], ("DATABASE_URL", url.as_str())];
    let mut function = Function::start_with(&env).await;
    for shape in [Shape::FunctionUrl, Shape::Rest] {
        let export = Req::get("/contacts/export.csv", 500).header("Accept-Encoding", "identity");
        let (resp, seen) = function.send(shape, &shape.request(&export), None).await;
        assert_eq!(seen.status, 500, "{shape}");
        assert!(seen.text().contains("Server Error (500)"), "{shape}: {}", seen.text());
        assert!(resp.to_string().len() < 10_000, "{shape}: the answer is small");
        let (_, small) = function.send(shape, &shape.request(&Req::get("/api/contacts/", 200)), None).await;
        assert_eq!(small.status, 200, "{shape}: a page of the same data is served");
        // Compressed, the same export fits: what counts is what the event carries.
        let gzip = Req::get("/contacts/export.csv", 200).header("Accept-Encoding", "gzip");
        let (_, packed) = function.send(shape, &shape.request(&gzip), None).await;
        assert_eq!(packed.status, 200, "{shape}: the gzipped export fits");
        assert_eq!(packed.header("content-encoding"), Some("gzip"), "{shape}");
    }
    let stderr = function.stderr();
    assert!(
        stderr.contains("/contacts/export.csv") && stderr.contains("payload limit"),
        "the log says which page and why:\n{stderr}"
    );
}

/// A Function URL in streaming mode (LAMBDA_INVOKE_MODE=RESPONSE_STREAM): every page answers as
/// runserver's does, and the export of 60,000 contacts (10 MB), past the 6 MB a buffered answer may carry,
/// arrives in pieces while it is written, byte for byte runserver's. Events that are not HTTP
/// requests are still answered whole.
#[tokio::test]
async fn a_function_url_in_streaming_mode_streams_as_runserver_sends() {
    let url = crate::reliability::many_contacts_db("lambda-streaming", 60_000).await;
    let env = [PRODUCTION[0], PRODUCTION[1], PRODUCTION[2], ("FORCE_SCRIPT_NAME", "")];
    let streaming = [&env[..], &[("LAMBDA_INVOKE_MODE", "RESPONSE_STREAM")]].concat();
    let big = [&streaming[..], &[("DATABASE_URL", url.as_str())]].concat();
    let mut function = Function::start_with(&big).await;
    let (server, addr) = spawn_runserver(manage_bin(), &[&env[..], &[("DATABASE_URL", url.as_str())]].concat());

    let export =
        Shape::FunctionUrl.request(&Req::get("/contacts/export.csv", 200).header("Accept-Encoding", "identity"));
    let (streamed, seen) = function.stream(&export).await;
    assert_eq!(seen.status, 200, "{}", String::from_utf8_lossy(&seen.body[..seen.body.len().min(500)]));
    assert_eq!(seen.header("content-type"), Some("text/csv; charset=utf-8"));
    assert!(seen.body.len() > 10_000_000, "a 10 MB export: {} bytes", seen.body.len());
    assert!(
        streamed.pieces > 10 && streamed.first_piece < seen.body.len() / 10,
        "the body came in {} pieces, the first of {} bytes",
        streamed.pieces,
        streamed.first_piece
    );
    let tcp = over_tcp(&addr, &export).await;
    assert_eq!(tcp.header("transfer-encoding"), Some("chunked"));
    assert!(tcp.body == seen.body, "the streamed export is byte for byte runserver's");
    println!("streamed export: {} bytes in {} pieces", seen.body.len(), streamed.pieces);

    // Every page as runserver answers it, on the demo data the requests expect: redirects,
    // cookies, errors, forms, compression.
    drop((function, server));
    let mut function = Function::start(&streaming).await;
    let (_server, addr) = spawn_runserver(manage_bin(), &crate::with_demo_db(&env));
    let dashboard = over_tcp(&addr, &Req::get("/", 200)).await;
    let css = hashed_css(&dashboard.text());
    let mut mismatches = Vec::new();
    let requests = parity_requests(&css);
    for req in &requests {
        let req = Shape::FunctionUrl.request(req);
        let tcp = over_tcp(&addr, &req).await;
        assert_eq!(tcp.status, req.expect, "runserver answered {req} with {}: {}", tcp.status, tcp.text());
        let (_, mut lambda) = function.stream(&req).await;
        // lambda_runtime gives a prelude without a type its default: only a page with no body
        // (a redirect) has none.
        if tcp.header("content-type").is_none() {
            assert!(tcp.body.is_empty() && lambda.body.is_empty(), "{req}");
            assert_eq!(
                lambda.headers.remove("content-type"),
                Some(vec!["application/octet-stream".to_owned()]),
                "{req}"
            );
        }
        let diffs = lambda.differences(&tcp);
        if !diffs.is_empty() {
            mismatches.push(format!("{req} (streamed vs runserver):\n    {}", diffs.join("\n    ")));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} answered differently:\n{}",
        mismatches.len(),
        requests.len(),
        mismatches.join("\n")
    );

    // Only a Function URL reads a stream: an HTTP API's event is answered whole.
    let (_, api) = function.send(Shape::Http, &Shape::Http.request(&Req::get("/", 200)), None).await;
    assert_eq!(api.status, 200, "{}", api.text());

    // An event the door cannot read is a 400, streamed too.
    let mut bad = Shape::FunctionUrl.event(&Shape::FunctionUrl.request(&Req::get("/", 200)), None);
    bad["isBase64Encoded"] = json!(true);
    bad["body"] = json!("%%% not base64");
    match function.api.invoke_with_timeout(bad.to_string(), Duration::from_secs(30)).await {
        Ok(Outcome::Streamed(s)) => {
            assert_eq!(s.prelude["statusCode"], 400, "{}", s.prelude);
            assert!(String::from_utf8_lossy(&s.body).contains("Bad Request (400)"));
        }
        other => panic!("a bad event: {other:?}\n{}", function.stderr()),
    }

    // A remote `manage` command is not an HTTP request: its JSON comes back whole, as before.
    let command = json!({"manage": "showmigrations"}).to_string();
    match function.api.invoke_with_timeout(command, Duration::from_secs(30)).await {
        Ok(Outcome::Response(shown)) => assert!(shown.to_string().contains("0001_initial"), "{shown}"),
        other => panic!("showmigrations: {other:?}\n{}", function.stderr()),
    }
    assert_eq!(function.status(), "is still running");
}

/// Init does nothing slow or request-driven: the process asks for its first event on its own,
/// reports no init error, and serves it, logging the request as JSON.
#[tokio::test]
async fn cold_start_polls_for_work_before_any_request() {
    let started = Instant::now();
    let mut function = Function::start(&PRODUCTION).await;
    assert!(
        function.api.wait_for_polls(1, Duration::from_secs(30)).await,
        "the function never polled /invocation/next; it {}\n{}",
        function.status(),
        function.stderr()
    );
    let first = function.api.first_poll().expect("the emulator recorded the first poll");
    println!("cold start: first poll {:?} after spawning the process", first.saturating_duration_since(started));
    assert_eq!(function.api.init_error(), None, "no init error");
    let (_, seen) = function.send(Shape::FunctionUrl, &Shape::FunctionUrl.request(&Req::get("/", 200)), None).await;
    assert_eq!(seen.status, 200, "{}", seen.text());
    // On Lambda the request log is JSON, one object per line, with the invocation's id. The
    // line may reach the reader thread after the response does: wait for it a little.
    let is_the_line = |l: &Value| {
        l["path"] == "/"
            && l["status"] == 200
            && l["method"] == "GET"
            && l["requestId"].as_str().is_some_and(|id| !id.is_empty())
            && l["durationMs"].is_number()
    };
    let mut lines = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !lines.iter().filter_map(|l: &String| serde_json::from_str::<Value>(l).ok()).any(|l| is_the_line(&l)) {
        let left = deadline.saturating_duration_since(Instant::now());
        match function.process.stderr.recv_timeout(left) {
            Ok(line) => lines.push(line),
            Err(_) => panic!("no JSON request log line in {lines:?}"),
        }
    }
}

/// With DEBUG off and no SECRET_KEY the function refuses to start: it reports why to the
/// Runtime API's init-error endpoint, exits non-zero naming SECRET_KEY, and never asks for an
/// event it could not serve safely.
#[tokio::test]
async fn debug_off_without_secret_key_refuses_to_serve() {
    let mut function = Function::start(&[("DEBUG", "false"), ("ALLOWED_HOSTS", "*"), ("SECRET_KEY", "")]).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        match function.process.child.try_wait().expect("wait for the process") {
            Some(status) => break status,
            None if Instant::now() > deadline => panic!("the function kept running without a SECRET_KEY"),
            None => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    };
    assert!(!status.success(), "it must exit with a failure status, not {status}");
    // The stderr reader ends at EOF, which follows the exit: read until then.
    let mut stderr = Vec::new();
    while let Ok(line) = function.process.stderr.recv_timeout(Duration::from_secs(10)) {
        stderr.push(line);
    }
    let stderr = stderr.join("\n");
    assert!(stderr.contains("SECRET_KEY"), "stderr must name SECRET_KEY:\n{stderr}");
    assert_eq!(function.api.first_poll(), None, "it must not ask for events it cannot serve");
    // The Lambda service hears why, with what to do about it.
    let reported = function.api.init_error().expect("an init error reported to /runtime/init/error");
    assert_eq!(reported["errorType"], "Runtime.ConfigError");
    let message = reported["errorMessage"].as_str().unwrap_or_default();
    assert!(message.contains("SECRET_KEY is not set") && message.contains("environment"), "{reported}");
}

fn gunzip(data: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(data).read_to_end(&mut out).expect("a gzip body");
    out
}

fn unbrotli(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    brotli::BrotliDecompress(&mut &data[..], &mut out).expect("a brotli body");
    out
}

/// Compressed pages through both doors: brotli for a client that prefers it, gzip for one that
/// only takes gzip (base64-encoded through the Lambda door, as any binary body), nothing for one
/// that asks for neither, and the bytes always decompress to the very same page.
#[tokio::test]
async fn compressed_pages_are_binary_safe_through_both_doors() {
    let (_server, addr) = spawn_runserver(manage_bin(), &crate::with_demo_db(&[("ALLOWED_HOSTS", "*")]));
    let [cookie, _] = crate::logged_in();
    let plain = tests::http1::request(&addr, "GET", "/companies/", &[cookie], b"").unwrap();
    assert_eq!(plain.status, 200);
    assert_eq!(plain.header("content-encoding"), None);
    assert_eq!(plain.header("vary"), Some("Accept-Encoding, Cookie"), "the page shows who is logged in");
    // Each page masks its CSRF token afresh; the rest of the page is the same every time.
    let page = mask_csrf_tokens(plain.body.clone());

    let br =
        tests::http1::request(&addr, "GET", "/companies/", &[("Accept-Encoding", "gzip, deflate, br"), cookie], b"")
            .unwrap();
    assert_eq!(br.header("content-encoding"), Some("br"));
    assert!(br.body.len() < page.len() / 2, "{} of {} bytes", br.body.len(), page.len());
    assert!(mask_csrf_tokens(unbrotli(&br.body)) == page, "brotli changed the page");
    let gz = tests::http1::request(&addr, "GET", "/companies/", &[("Accept-Encoding", "gzip"), cookie], b"").unwrap();
    assert_eq!(gz.header("content-encoding"), Some("gzip"));
    assert!(mask_csrf_tokens(gunzip(&gz.body)) == page, "gzip changed the page");
    // A PNG is already compressed: left alone.
    let logo =
        tests::http1::request(&addr, "GET", "/static/img/logo.png", &[("Accept-Encoding", "gzip, br")], b"").unwrap();
    assert_eq!(logo.status, 200);
    assert_eq!(logo.header("content-encoding"), None);

    let mut function = Function::start(&PRODUCTION).await;
    for shape in [Shape::Rest, Shape::Http, Shape::FunctionUrl, Shape::Alb] {
        // The sample events carry a browser's Accept-Encoding: ask for the page as it is first.
        let identity = shape.request(&Req::get("/companies/", 200).header("Accept-Encoding", "identity"));
        let (raw, plain) = function.send(shape, &identity, None).await;
        assert_eq!(plain.status, 200, "{shape}: {}", plain.text());
        assert_eq!(plain.header("content-encoding"), None, "{shape}");
        assert_eq!(raw["isBase64Encoded"], false, "{shape}: an HTML page travels as text");
        let gzip = shape.request(&Req::get("/companies/", 200).header("Accept-Encoding", "gzip"));
        let (raw, seen) = function.send(shape, &gzip, None).await;
        assert_eq!(seen.status, 200, "{shape}");
        assert_eq!(seen.header("content-encoding"), Some("gzip"), "{shape}");
        assert_ne!(raw["body"].as_str().unwrap_or_default().len(), 0);
        assert_eq!(raw["isBase64Encoded"], true, "{shape}: a gzip body must travel base64-encoded");
        assert!(seen.normalized().body == plain.normalized().body, "{shape}: gzip changed the page");
        let br = shape.request(&Req::get("/companies/", 200).header("Accept-Encoding", "br"));
        let (_, seen) = function.send(shape, &br, None).await;
        assert_eq!(seen.header("content-encoding"), Some("br"), "{shape}");
        assert!(seen.normalized().body == plain.normalized().body, "{shape}: brotli changed the page");
    }
}

/// Behind API Gateway the request came over HTTPS, which the function believes from
/// X-Forwarded-Proto only once SECURE_PROXY_SSL_HEADER says the proxy is trusted: then HSTS.
#[tokio::test]
async fn hsts_behind_api_gateway_needs_the_trusted_proxy_setting() {
    let mut trusting = Function::start(&[
        PRODUCTION[0],
        PRODUCTION[1],
        PRODUCTION[2],
        ("SECURE_PROXY_SSL_HEADER", "X-Forwarded-Proto: https"),
        ("SECURE_HSTS_SECONDS", "600"),
    ])
    .await;
    let mut wary =
        Function::start(&[PRODUCTION[0], PRODUCTION[1], PRODUCTION[2], ("SECURE_HSTS_SECONDS", "600")]).await;
    for shape in [Shape::Rest, Shape::Http, Shape::FunctionUrl] {
        let req = shape.request(&Req::get("/", 200).header("X-Forwarded-Proto", "https"));
        let (_, seen) = trusting.send(shape, &req, None).await;
        assert_eq!(seen.header("strict-transport-security"), Some("max-age=600"), "{shape}");
        assert_eq!(seen.header("x-frame-options"), Some("DENY"), "{shape}");
        let (_, seen) = wary.send(shape, &req, None).await;
        assert_eq!(seen.header("strict-transport-security"), None, "{shape}: X-Forwarded-Proto alone is not trusted");
    }
}

/// A load balancer's probes through both doors: `/healthz` and `/readyz` answer an anonymous
/// client that names the target by its address (not in ALLOWED_HOSTS), over plain HTTP, while
/// every other page still refuses that host or redirects to HTTPS. With the database gone,
/// readiness fails and its body says which check did; the process is alive all the same.
#[tokio::test]
async fn health_probes_answer_through_both_doors() {
    let db = crate::fresh_demo_db("health-probes");
    let probe = |path: &str| {
        Req::new("GET", path, 200)
            .anonymous()
            .header("Host", "10.0.3.17:8000")
            .header("User-Agent", "ELB-HealthChecker/2.0")
    };
    let ready_body = json!({ "status": "ok", "checks": { "database": "ok", "cache": "ok", "sessions": "ok" } });
    let env = [("ALLOWED_HOSTS", "crm.example.com"), ("DATABASE_URL", db.as_str()), ("SECRET_KEY", crate::SECRET_KEY)];
    let (_server, addr) = tests::process::spawn_runserver(crate::manage_bin(), &env);
    let alive = over_tcp(&addr, &probe("/healthz")).await;
    assert_eq!((alive.status, alive.text()), (200, r#"{"status":"ok"}"#.to_owned()));
    assert_eq!(alive.header("cache-control"), Some("no-store"));
    let ready = over_tcp(&addr, &probe("/readyz")).await;
    assert_eq!(ready.status, 200, "{}", ready.text());
    assert_eq!(serde_json::from_slice::<Value>(&ready.body).unwrap(), ready_body);
    let page = over_tcp(&addr, &Req::new("GET", "/", 400).anonymous().header("Host", "10.0.3.17:8000")).await;
    assert_eq!(page.status, 400, "{}", page.text());

    // Behind an ALB on Lambda, as deployed: DEBUG off and HTTPS required.
    let env = [
        ("DEBUG", "false"),
        ("ALLOWED_HOSTS", "crm.example.com"),
        ("DATABASE_URL", db.as_str()),
        ("SECRET_KEY", crate::SECRET_KEY),
        ("SECURE_SSL_REDIRECT", "true"),
    ];
    let mut function = Function::start_with(&env).await;
    let (_, ready) = function.send(Shape::Alb, &probe("/readyz"), None).await;
    assert_eq!(ready.status, 200, "{}", ready.text());
    assert_eq!(serde_json::from_slice::<Value>(&ready.body).unwrap(), ready_body);
    let home = Req::new("GET", "/", 301).anonymous().header("Host", "crm.example.com");
    let (_, home) = function.send(Shape::Alb, &home, None).await;
    assert_eq!((home.status, home.header("location")), (301, Some("https://crm.example.com/")));

    // No database: not ready, and the body says why.
    let env = [
        ("ALLOWED_HOSTS", "crm.example.com"),
        ("DATABASE_URL", "postgres://djambda@127.0.0.1:1/crm"),
        ("DATABASE_CONNECT_TIMEOUT", "1"),
        ("SECRET_KEY", crate::SECRET_KEY),
    ];
    let (down, addr) = tests::process::spawn_runserver(crate::manage_bin(), &env);
    let ready = over_tcp(&addr, &probe("/readyz")).await;
    assert_eq!(ready.status, 503, "{}", ready.text());
    let logged = std::iter::from_fn(|| down.stderr.recv_timeout(Duration::from_secs(5)).ok())
        .find(|line| line.starts_with("readiness check \"database\" failed: "));
    assert!(logged.is_some(), "the failed check is logged with its error");
    let body: Value = serde_json::from_slice(&ready.body).unwrap();
    assert_eq!((&body["status"], &body["checks"]["sessions"]), (&json!("unavailable"), &json!("ok")), "{body}");
    assert!(body["checks"]["database"].as_str().is_some_and(|d| d.starts_with("error: ")), "{body}");
    assert_eq!(over_tcp(&addr, &probe("/healthz")).await.status, 200);
}

/// Where the runtime hands an instance several invocations at once (Lambda Managed Instances
/// set AWS_LAMBDA_MAX_CONCURRENCY), the function polls for that many and serves them side by
/// side: a write waiting on a locked database holds only itself and its connection, and a page
/// asked for after it, reading the database on a connection of its own, answers first. Once
/// the lock goes, the write is done and its row is there.
#[tokio::test]
async fn concurrent_invocations_do_not_wait_for_a_slow_one() {
    use djambda::db::sea_orm::{ConnectionTrait, Database, TransactionTrait};

    let url = crate::fresh_demo_db("lambda-concurrent");
    let env = [
        PRODUCTION[0],
        PRODUCTION[1],
        PRODUCTION[2],
        ("DATABASE_URL", url.as_str()),
        ("AWS_LAMBDA_MAX_CONCURRENCY", "4"),
        // Longer than the lock is held: the write waits rather than failing.
        ("SQLITE_BUSY_TIMEOUT", "30"),
    ];
    let function = Function::start_with(&env).await;
    assert!(
        function.api.wait_for_polls(4, Duration::from_secs(30)).await,
        "four invocations asked for at once: {}",
        function.stderr()
    );
    // The process lives as long as `_process`; the emulator is shared with the writer's task.
    let Function { api, process: _process } = function;

    // Another writer holds the database's write lock.
    let db = Database::connect(url.as_str()).await.unwrap();
    let lock = db.begin().await.unwrap();
    lock.execute_unprepared("UPDATE company SET name = name WHERE id = 1").await.unwrap();

    let shape = Shape::FunctionUrl;
    let create = Req::post(
        "/companies/new/",
        "application/x-www-form-urlencoded",
        b"name=Side+by+Side&slug=side-by-side&industry=Retail&city=Oslo&website=",
        302,
    );
    let write_event = shape.event(&shape.request(&create), None).to_string();
    let api = std::sync::Arc::new(api);
    let writer = {
        let api = api.clone();
        tokio::spawn(async move { api.invoke_with_timeout(write_event, Duration::from_secs(60)).await })
    };
    // The write has been taken by one poll loop and is waiting on the lock.
    assert!(api.wait_for_taken(1, Duration::from_secs(30)).await, "the write was not taken");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!writer.is_finished(), "the write did not wait for the lock");

    // A page that reads the database: it needs a connection of its own from the pool, which
    // is sized to the invocations served at once.
    let list = Req::get("/companies/", 200);
    let began = Instant::now();
    let page = api
        .invoke_with_timeout(shape.event(&shape.request(&list), None).to_string(), Duration::from_secs(20))
        .await
        .unwrap_or_else(|e| panic!("the company list waited behind the write: {e}"))
        .response();
    let waited = began.elapsed();
    let seen = shape.seen(&page);
    assert_eq!(seen.status, 200, "{page}");
    assert!(seen.text().contains("Acme Logistics"), "{page}");
    assert!(!writer.is_finished(), "the write finished before the lock was released");

    lock.rollback().await.unwrap();
    let written = writer.await.unwrap().unwrap().response();
    let seen = shape.seen(&written);
    assert_eq!(seen.status, 302, "{written}");
    assert_eq!(seen.header("location"), Some("/companies/side-by-side/"), "{written}");
    let found = db
        .query_one_raw(djambda::db::sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT name FROM company WHERE slug = 'side-by-side'".to_owned(),
        ))
        .await
        .unwrap();
    assert!(found.is_some(), "the acknowledged write is in the database");
    eprintln!("the company list answered in {waited:?} while the write waited");
}
