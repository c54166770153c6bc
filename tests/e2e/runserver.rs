//! The built `manage` binary as a dev server over real TCP, and its command line.

use std::process::Command;
use std::time::Duration;

use tests::http1::{Connection, request};
use tests::process::spawn_runserver;

use crate::manage_bin;

const HOSTS: (&str, &str) = ("ALLOWED_HOSTS", "127.0.0.1,localhost");

#[test]
fn serves_pages_errors_and_redirects_then_stops_cleanly_on_ctrl_c() {
    let (mut server, addr) =
        spawn_runserver(manage_bin(), &crate::with_demo_db(&[HOSTS, ("DATA_UPLOAD_MAX_MEMORY_SIZE", "1000")]));

    // Keep-alive: several requests on one connection, as the logged-in demo user.
    let auth = crate::logged_in();
    let mut conn = Connection::open(&addr).unwrap();
    let anonymous = conn.send("GET", "/", &[], b"").unwrap();
    assert_eq!(anonymous.status, 302, "the CRM needs a login");
    assert_eq!(anonymous.header("location"), Some("/accounts/login/?next=%2F"));
    let home = conn.send("GET", "/", &auth, b"").unwrap();
    assert_eq!(home.status, 200);
    assert!(home.header("content-type").unwrap().starts_with("text/html"));
    assert!(home.header("date").is_some(), "every response carries Date");
    assert_eq!(home.header("content-length").unwrap(), home.body.len().to_string());
    assert!(home.text().contains("Open pipeline"));
    let contact = conn.send("GET", "/contacts/3/", &auth, b"").unwrap();
    assert_eq!(contact.status, 200, "second request on the same connection");
    assert!(contact.text().contains("Carvalho"));

    let head = conn.send("HEAD", "/contacts/3/", &auth, b"").unwrap();
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert_eq!(head.header("content-length"), contact.header("content-length"), "HEAD announces GET's length");

    let missing = conn.send("GET", "/no/such/page/", &[], b"").unwrap();
    assert_eq!(missing.status, 404);
    assert!(
        missing.text().contains("didn&#x27;t match any of these") || missing.text().contains("didn't match"),
        "DEBUG 404 lists the patterns tried"
    );

    let wrong_method = conn.send("DELETE", "/contacts/", &auth, b"").unwrap();
    assert_eq!(wrong_method.status, 405);
    assert_eq!(wrong_method.header("allow"), Some("GET, HEAD"));

    let slash = conn.send("GET", "/contacts?q=an", &[], b"").unwrap();
    assert_eq!(slash.status, 301);
    assert_eq!(slash.header("location"), Some("/contacts/?q=an"));

    let bad_host = request(&addr, "GET", "/", &[("Host", "evil.example")], b"").unwrap();
    assert_eq!(bad_host.status, 400);
    assert!(bad_host.text().contains("evil.example"), "the DEBUG page names the refused host");

    let big = vec![b'x'; 5000];
    let too_large =
        request(&addr, "POST", "/forecast/", &[("Content-Type", "application/x-www-form-urlencoded")], &big).unwrap();
    assert_eq!(too_large.status, 413);
    let declared = request(&addr, "POST", "/forecast/", &[("Content-Length", "99999999")], b"").unwrap();
    assert_eq!(declared.status, 413, "refused from Content-Length alone, without reading the body");

    let form = request(
        &addr,
        "POST",
        "/forecast/",
        &[("Content-Type", "application/x-www-form-urlencoded"), auth[0], auth[1]],
        b"amount=1000&probability=50",
    )
    .unwrap();
    assert_eq!(form.status, 200);
    assert!(form.text().contains("$500.00"));

    // One log line per request: method, path, status and time.
    let mut logged = Vec::new();
    while let Ok(line) = server.stderr.recv_timeout(Duration::from_secs(5)) {
        logged.push(line);
        if logged.iter().any(|l| l.contains("\"POST /forecast/\" 200")) {
            break;
        }
    }
    let log = logged.join("\n");
    for needle in [
        "\"GET /contacts/3/\" 200",
        "\"DELETE /contacts/\" 405",
        "\"GET /no/such/page/\" 404",
        "\"GET /contacts?q=an\" 301",
    ] {
        assert!(log.contains(needle), "missing log line {needle:?} in:\n{log}");
    }
    assert!(
        logged.iter().all(|l| !l.starts_with('[') || l.trim_end().ends_with("ms")),
        "each line ends with the time taken:\n{log}"
    );

    let pid = server.child.id().to_string();
    let kill = Command::new("kill").args(["-INT", &pid]).status().unwrap();
    assert!(kill.success());
    let status = wait_exit(&mut server.child, Duration::from_secs(10));
    assert_eq!(status.code(), Some(0), "Ctrl-C stops runserver with exit 0");
}

fn wait_exit(child: &mut std::process::Child, timeout: Duration) -> std::process::ExitStatus {
    let started = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(started.elapsed() < timeout, "the process did not exit within {timeout:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_port_in_use_gets_a_one_line_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let out = Command::new(manage_bin()).args(["runserver", &format!("127.0.0.1:{port}")]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "one line, no panic: {stderr}");
    assert!(stderr.contains("That port is already in use"), "{stderr}");
}

#[test]
fn help_lists_commands_and_unknown_commands_exit_2() {
    let help = Command::new(manage_bin()).arg("--help").output().unwrap();
    assert!(help.status.success());
    let text = String::from_utf8_lossy(&help.stdout);
    for cmd in ["runserver", "check", "lambda"] {
        assert!(text.contains(cmd), "--help lists {cmd}: {text}");
    }
    let unknown = Command::new(manage_bin()).arg("frobnicate").output().unwrap();
    assert_eq!(unknown.status.code(), Some(2));
    let err = String::from_utf8_lossy(&unknown.stderr);
    assert!(err.contains("frobnicate"), "the error names the command: {err}");

    let bad_addr = Command::new(manage_bin()).args(["runserver", "not-an-address"]).output().unwrap();
    assert_eq!(bad_addr.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad_addr.stderr).contains("is not a valid port number or address:port pair"));
}

#[test]
fn check_passes_and_missing_secret_key_stops_the_start() {
    let check = Command::new(manage_bin()).arg("check").output().unwrap();
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stderr));
    assert!(String::from_utf8_lossy(&check.stdout).contains("no issues"));

    let out = Command::new(manage_bin())
        .args(["runserver", "127.0.0.1:0"])
        .env("DEBUG", "false")
        .env_remove("SECRET_KEY")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("SECRET_KEY is not set") && err.contains("export SECRET_KEY"), "says how to set one: {err}");

    let invalid = Command::new(manage_bin()).arg("check").env("DEBUG", "perhaps").output().unwrap();
    assert_eq!(invalid.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&invalid.stderr).contains("DEBUG must be true or false"));
}

#[test]
fn check_database_reports_an_unreachable_database() {
    let bad = Command::new(manage_bin())
        .args(["check", "--database"])
        .env("DATABASE_URL", "postgres://app:hunter2@127.0.0.1:1/crm")
        .env("DATABASE_CONNECT_TIMEOUT", "1")
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("is not reachable") && err.contains("postgres://app:***@127.0.0.1:1/crm"), "{err}");
    assert!(!err.contains("hunter2"), "the password never reaches the output");

    let dir = std::env::temp_dir().join(format!("djambda-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.join("db.sqlite3").display());
    let good = Command::new(manage_bin()).args(["check", "--database"]).env("DATABASE_URL", &url).output().unwrap();
    assert!(good.status.success(), "{}", String::from_utf8_lossy(&good.stderr));
    assert!(String::from_utf8_lossy(&good.stdout).contains("is reachable"));
    let _ = std::fs::remove_dir_all(&dir);
}
