//! The security middleware through runserver: Django's default headers, the HTTPS redirect,
//! and X-Forwarded-Proto believed only when SECURE_PROXY_SSL_HEADER says the proxy is trusted.

use std::process::Command;

use tests::http1::request;
use tests::process::spawn_runserver;

use crate::manage_bin;

const HOSTS: (&str, &str) = ("ALLOWED_HOSTS", "127.0.0.1,localhost");

#[test]
fn every_response_carries_the_default_security_headers() {
    // HSTS is configured, so its absence over plain HTTP is the middleware's choice, not a
    // default (browsers ignore it there, and a plain-HTTP proxy could forge it).
    let (_server, addr) = spawn_runserver(manage_bin(), &crate::with_demo_db(&[HOSTS, ("SECURE_HSTS_SECONDS", "600")]));
    for path in ["/", "/no-such-page/", "/static/site.css"] {
        let resp = request(&addr, "GET", path, &[], b"").unwrap();
        assert_eq!(resp.header("x-content-type-options"), Some("nosniff"), "{path}");
        assert_eq!(resp.header("referrer-policy"), Some("same-origin"), "{path}");
        assert_eq!(resp.header("x-frame-options"), Some("DENY"), "{path}");
        assert_eq!(resp.header("strict-transport-security"), None, "{path}: no HSTS over plain HTTP");
    }
}

#[test]
fn ssl_redirect_trusts_the_proxy_header_only_when_told() {
    let secure = [HOSTS, ("SECURE_SSL_REDIRECT", "true"), ("SECURE_HSTS_SECONDS", "31536000")];
    let (_plain, addr) = spawn_runserver(manage_bin(), &crate::with_demo_db(&secure));
    let redirected = request(&addr, "GET", "/companies/?q=acme", &[("Host", "localhost")], b"").unwrap();
    assert_eq!(redirected.status, 301);
    assert_eq!(redirected.header("location"), Some("https://localhost/companies/?q=acme"));
    // A client claiming HTTPS is not believed without SECURE_PROXY_SSL_HEADER.
    let spoofed = request(&addr, "GET", "/companies/", &[("X-Forwarded-Proto", "https")], b"").unwrap();
    assert_eq!(spoofed.status, 301);

    let behind_proxy = [
        HOSTS,
        ("SECURE_SSL_REDIRECT", "true"),
        ("SECURE_HSTS_SECONDS", "31536000"),
        ("SECURE_HSTS_INCLUDE_SUBDOMAINS", "true"),
        ("SECURE_PROXY_SSL_HEADER", "X-Forwarded-Proto: https"),
    ];
    let (_proxied, addr) = spawn_runserver(manage_bin(), &crate::with_demo_db(&behind_proxy));
    let auth = crate::logged_in();
    let https = request(&addr, "GET", "/companies/", &[("X-Forwarded-Proto", "https"), auth[0]], b"").unwrap();
    assert_eq!(https.status, 200);
    assert_eq!(https.header("strict-transport-security"), Some("max-age=31536000; includeSubDomains"));
    let http = request(&addr, "GET", "/companies/", &[("X-Forwarded-Proto", "http")], b"").unwrap();
    assert_eq!(http.status, 301);
    // A host the site does not serve gets ALLOWED_HOSTS' 400, never a redirect to it.
    let evil = request(&addr, "GET", "/", &[("Host", "evil.example")], b"").unwrap();
    assert_eq!(evil.status, 400);
}

#[test]
fn bad_security_settings_are_named() {
    let out = Command::new(manage_bin())
        .arg("check")
        .env("X_FRAME_OPTIONS", "ALLOWALL")
        .env("SECURE_PROXY_SSL_HEADER", "https")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("X_FRAME_OPTIONS must be DENY, SAMEORIGIN or empty"), "{err}");
    assert!(err.contains("SECURE_PROXY_SSL_HEADER is written `Header-Name: value`"), "{err}");
}
