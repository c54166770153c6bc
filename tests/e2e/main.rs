//! End-to-end tests: the example site through the in-process test client, the built `manage`
//! binary as a dev server over real TCP, and the same binary as a Lambda function under the
//! Runtime API emulator fed AWS's own sample events.

mod bootstrap;
mod client;
mod db;
mod events;
mod lambda;
mod makemigrations;
mod migrate;
mod runserver;
mod security;
mod staticfiles;
mod template;
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
        url
    })
}

/// `env` plus DATABASE_URL pointing at [`demo_db`].
pub fn with_demo_db<'a>(env: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut all = env.to_vec();
    all.push(("DATABASE_URL", demo_db()));
    all
}
