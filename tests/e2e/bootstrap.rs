//! The `bootstrap` that `cargo lambda build --release` produces, run as AWS runs it.
//!
//! .ci/run builds it (cargo-lambda from PyPI) and points DJAMBDA_BOOTSTRAP at it; without that
//! variable the test is skipped, as a fresh `cargo test` has no release build to check.

use std::path::PathBuf;

use tests::emulator::RuntimeApi;
use tests::process::spawn_lambda;

fn bootstrap() -> Option<PathBuf> {
    std::env::var_os("DJAMBDA_BOOTSTRAP").map(PathBuf::from)
}

#[tokio::test]
#[ignore = "needs DJAMBDA_BOOTSTRAP: the path of a `cargo lambda build --release` bootstrap (.ci/run sets it)"]
async fn cargo_lambda_bootstrap_serves_the_site_from_embedded_files() {
    let bin = bootstrap().expect("set DJAMBDA_BOOTSTRAP to the cargo lambda bootstrap");
    assert!(bin.ends_with("bootstrap"), "cargo lambda names the binary bootstrap: {}", bin.display());
    let api = RuntimeApi::start().await;
    // A release build: DEBUG is off, so a secret (the tests' one, which signed the demo user's
    // session cookie) and the API's host are required, as on AWS.
    let cmd_env = [("ALLOWED_HOSTS", "abc123.execute-api.us-east-1.amazonaws.com")];
    let _function = spawn_lambda(&bin, &api.address(), &crate::with_demo_db(&cmd_env));
    // The CRM needs a login: the demo user's cookies, in payload 2.0's `cookies` list.
    let cookies: Vec<&str> = crate::demo_login().cookie.split("; ").collect();

    let event = serde_json::json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/contacts/3/",
        "rawQueryString": "",
        "headers": {"host": "abc123.execute-api.us-east-1.amazonaws.com", "accept": "text/html"},
        "cookies": cookies,
        "requestContext": {
            "accountId": "123456789012", "apiId": "abc123", "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "abc123", "http": {"method": "GET", "path": "/contacts/3/", "protocol": "HTTP/1.1",
            "sourceIp": "203.0.113.9", "userAgent": "test"}, "requestId": "r1", "routeKey": "$default", "stage": "$default",
            "time": "23/Nov/2026:04:00:00 +0000", "timeEpoch": 1795406400000u64
        },
        "isBase64Encoded": false
    });
    let resp = api.invoke(serde_json::to_vec(&event).unwrap()).await.response();
    assert_eq!(resp["statusCode"], 200, "{resp}");
    let body = resp["body"].as_str().unwrap();
    assert!(body.contains("Carvalho"), "the contact page rendered from embedded templates: {body}");
    assert!(!body.contains("DEBUG is on"), "a release bootstrap runs with DEBUG off");

    let css_path = body
        .split("href=\"")
        .find(|s| s.starts_with("/static/site."))
        .map(|s| &s[..s.find('"').unwrap()])
        .expect("a hashed stylesheet link");
    let mut css_event = event.clone();
    css_event["rawPath"] = css_path.into();
    css_event["requestContext"]["http"]["path"] = css_path.into();
    let css = api.invoke(serde_json::to_vec(&css_event).unwrap()).await.response();
    assert_eq!(css["statusCode"], 200, "{css}");
    assert!(css["headers"]["cache-control"].as_str().unwrap().contains("immutable"));
}
