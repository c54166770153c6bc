//! End-to-end tests: the example site through the in-process test client, the built `manage`
//! binary as a dev server over real TCP, and the same binary as a Lambda function under the
//! Runtime API emulator fed AWS's own sample events.

mod admin;
mod auth;
mod bootstrap;
mod browser;
mod cache;
mod client;
mod db;
mod doors;
mod events;
mod forms;
mod lambda;
mod mail;
mod makemigrations;
mod migrate;
mod password_reset;
pub(crate) mod reliability;
mod routes;
mod runserver;
mod security;
mod startproject;
mod staticfiles;
mod tasks;
mod template;
mod users;
mod watch;

/// The debug `manage` binary Cargo built for this test run.
pub fn manage_bin() -> &'static std::path::Path {
    std::path::Path::new(env!("CARGO_BIN_EXE_manage"))
}

/// The URL of an SQLite database with the CRM's schema and demo data, made once per test run
/// with the built binary (`manage migrate`, `manage loaddata demo`). Tests only read it.
pub fn demo_db() -> &'static str {
    static URL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    URL.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("djambda-demo-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a temporary folder");
        let url = format!("sqlite://{}?mode=rwc", dir.join("demo.sqlite3").display());
        for args in [&["migrate"][..], &["loaddata", "demo"][..]] {
            let out = std::process::Command::new(manage_bin())
                .args(args)
                .env("DATABASE_URL", &url)
                .output()
                .expect("run manage");
            assert!(out.status.success(), "manage {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        }
        // The copies writing tests get are made from a file no one opens: the demo database is
        // in WAL mode, and while the in-process sites read it part of it is in its `-wal` log.
        // `manage` closes its connections on the way out, which folds the log into the file:
        // one left behind would hold rows a copy of the file lacks.
        let file = dir.join("demo.sqlite3");
        let log = dir.join("demo.sqlite3-wal");
        assert!(!log.exists(), "{} was left behind by manage: the database is not one file", log.display());
        std::fs::copy(&file, dir.join("pristine.sqlite3")).expect("keep a pristine copy");
        url
    })
}

/// The SECRET_KEY of every site and process the tests start: a session cookie signed by one
/// is good in all of them, as it is across the Lambda instances of one deployment.
pub const SECRET_KEY: &str = "e2e-tests-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz";

/// A copy of the demo database for a test that writes (`tag` names it): the shared one stays
/// as the fixture made it.
pub fn fresh_demo_db(tag: &str) -> String {
    demo_db();
    let dir = std::env::temp_dir().join(format!("djambda-demo-{}", std::process::id()));
    let source = dir.join("pristine.sqlite3").display().to_string();
    let copy = dir.join(format!("{tag}.sqlite3"));
    for stale in ["-wal", "-shm", "-journal"] {
        let _ = std::fs::remove_file(format!("{}{stale}", copy.display()));
    }
    std::fs::copy(&source, &copy).unwrap_or_else(|e| panic!("copy the demo database to {}: {e}", copy.display()));
    format!("sqlite://{}?mode=rwc", copy.display())
}

/// `env` plus DATABASE_URL pointing at [`demo_db`] and the tests' SECRET_KEY (unless `env`
/// sets its own; `("SECRET_KEY", "")` for none).
pub fn with_demo_db<'a>(env: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut all = env.to_vec();
    all.push(("DATABASE_URL", demo_db()));
    if !env.iter().any(|(k, _)| *k == "SECRET_KEY") {
        all.push(("SECRET_KEY", SECRET_KEY));
    }
    all
}

/// A logged-in visitor of the demo site: the cookies the login page gave the demo user (a
/// superuser), and the CSRF secret to send with unsafe requests.
pub struct DemoLogin {
    /// The `Cookie` header value: the session and the CSRF cookie.
    pub cookie: String,
    /// The CSRF secret (for the X-CSRFToken header).
    pub csrf: String,
}

/// The example site's settings for in-process tests, on the demo database.
pub fn example_settings(debug: bool) -> djambda::Settings {
    let debug = debug.to_string();
    example_settings_with(&[("DEBUG", &debug), ("DATABASE_URL", demo_db())])
}

/// The example site's settings for in-process tests with `env` on top of production-like
/// defaults (DEBUG off, the tests' SECRET_KEY, the demo database).
pub fn example_settings_with(env: &[(&str, &str)]) -> djambda::Settings {
    let env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let lookup = move |name: &str| {
        env.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.clone()).or_else(|| match name {
            "DEBUG" => Some("false".into()),
            "SECRET_KEY" => Some(SECRET_KEY.into()),
            "ALLOWED_HOSTS" => Some("localhost,testserver".into()),
            "DATABASE_URL" => Some(demo_db().to_owned()),
            _ => None,
        })
    };
    djambda::Settings::from_sources(Some(example_site::SETTINGS_TOML), lookup).expect("the example settings")
}

/// Logs in as `username` through the example site's login page, in-process; the cookies that
/// gives work in every process started with [`with_demo_db`].
pub fn login_as(username: &str, password: &str) -> DemoLogin {
    let (username, password) = (username.to_owned(), password.to_owned());
    // Tests run on their own runtimes; this one is made and dropped on a thread of its own.
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
        rt.block_on(async {
            let site = example_site::site_with_settings(example_settings(false)).expect("the example site");
            let mut client = djambda::test::Client::new(site);
            assert!(client.login(&username, &password).await, "{username} could not log in to the demo site");
            let csrf = client.cookie("csrftoken").expect("a CSRF cookie after login").to_owned();
            DemoLogin { cookie: client.cookie_header(), csrf }
        })
    })
    .join()
    .expect("the login thread")
}

/// The header lines of the logged-in demo superuser: its cookies, and the CSRF token header an
/// unsafe request needs (harmless on the others).
pub fn logged_in() -> [(&'static str, &'static str); 2] {
    let login = demo_login();
    [("Cookie", login.cookie.as_str()), ("X-CSRFToken", login.csrf.as_str())]
}

/// The demo superuser, logged in once per test run.
pub fn demo_login() -> &'static DemoLogin {
    static LOGIN: std::sync::OnceLock<DemoLogin> = std::sync::OnceLock::new();
    LOGIN.get_or_init(|| login_as("demo", "demo"))
}
