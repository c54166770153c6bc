//! Starting a site of one's own: `djambda startproject` into a folder outside this workspace,
//! depending on this checkout by path; the new site built with cargo, migrated and served;
//! `manage startapp` and the one line it prints; and the reloading `runserver`, which rebuilds
//! on a saved change while the last good server keeps answering.
//!
//! The new site shares this workspace's compiled dependencies (cargo's build directory) but
//! has a target folder of its own, so its `manage` never replaces the one other tests run.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn text(out: &Output) -> (String, String) {
    (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// This test binary's target folder (`target/debug/deps/e2e-…`).
fn target_dir() -> PathBuf {
    std::env::current_exe().unwrap().ancestors().nth(3).unwrap().to_path_buf()
}

/// The `djambda` command, built from this checkout (it is not this test's package, so cargo
/// gives no CARGO_BIN_EXE path for it).
fn djambda_cli() -> PathBuf {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = tests::process::nested_cargo(cargo)
        .args(["build", "--quiet", "-p", "djambda-cli", "--bin", "djambda"])
        .current_dir(workspace())
        .env("CARGO_TARGET_DIR", target_dir())
        .output()
        .unwrap();
    assert!(out.status.success(), "building the djambda command failed:\n{}", text(&out).1);
    target_dir().join("debug").join("djambda")
}

/// A site `djambda startproject` wrote.
struct NewSite {
    root: PathBuf,
    name: &'static str,
}

impl NewSite {
    fn start(name: &'static str) -> (NewSite, String) {
        let root = target_dir().join("djambda-scratch").join("startproject");
        let _ = std::fs::remove_dir_all(&root);
        let out = Command::new(djambda_cli())
            .args(["startproject", name])
            .arg(&root)
            .arg("--djambda-path")
            .arg(workspace())
            .output()
            .unwrap();
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "startproject failed:\n{stdout}\n{stderr}");
        let site = NewSite { root, name };
        // The versions this workspace was built with (cargo keeps what the site uses of them),
        // and the framework compiled as here, where it is a workspace member: the build then
        // reuses this workspace's artifacts instead of compiling everything again.
        std::fs::copy(workspace().join("Cargo.lock"), site.root.join("Cargo.lock")).unwrap();
        site.append(
            "Cargo.toml",
            "\n[profile.dev.package.djambda]\nopt-level = 0\n\n[profile.dev.package.djambda-macros]\nopt-level = 0\n",
        );
        (site, stdout)
    }

    fn path(&self, file: &str) -> PathBuf {
        self.root.join(file.replace("{name}", self.name))
    }

    fn read(&self, file: &str) -> String {
        std::fs::read_to_string(self.path(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
    }

    fn edit(&self, file: &str, find: &str, replace: &str) {
        let before = self.read(file);
        assert!(before.contains(find), "{file} has no {find:?}:\n{before}");
        std::fs::write(self.path(file), before.replacen(find, replace, 1)).unwrap();
    }

    fn append(&self, file: &str, more: &str) {
        let before = self.read(file);
        std::fs::write(self.path(file), before + more).unwrap();
    }

    /// The environment cargo and the site's processes get: this workspace's build directory,
    /// the site's own target folder.
    fn cargo_env(&self, cmd: &mut Command) {
        cmd.env("CARGO_BUILD_BUILD_DIR", target_dir()).env("CARGO_TARGET_DIR", self.root.join("target"));
    }

    fn build(&self) {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = tests::process::nested_cargo(cargo);
        cmd.args(["build", "--quiet", "--bin", "manage"]).current_dir(&self.root);
        self.cargo_env(&mut cmd);
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "building the new site failed:\n{}", text(&out).1);
    }

    fn manage_bin(&self) -> PathBuf {
        self.root.join("target/debug/manage")
    }

    fn manage(&self, args: &[&str]) -> Output {
        Command::new(self.manage_bin()).args(args).current_dir(&self.root).output().unwrap()
    }

    /// `manage runserver` on a free port; its output lines are collected as they come. It
    /// gets this test's environment as it is, with the `CARGO_PKG_*` and like variables cargo
    /// sets for what it runs, as `cargo manage runserver` would give it them.
    fn runserver(&self, args: &[&str]) -> Server {
        let mut cmd = Command::new(self.manage_bin());
        cmd.arg("runserver").arg("127.0.0.1:0").args(args).current_dir(&self.root);
        self.cargo_env(&mut cmd);
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let lines = lines.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    lines.lock().unwrap().push(line);
                }
            });
        }
        let mut server = Server { child, lines, addr: String::new() };
        let line = server.wait_for_line("Starting development server at http://", Duration::from_secs(60));
        server.addr = line["Starting development server at http://".len()..].trim_end_matches('/').to_owned();
        server
    }
}

struct Server {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    addr: String,
}

impl Server {
    fn output(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    fn wait_for_line(&self, start: &str, timeout: Duration) -> String {
        let began = Instant::now();
        loop {
            if let Some(line) = self.lines.lock().unwrap().iter().find(|l| l.starts_with(start)) {
                return line.clone();
            }
            assert!(began.elapsed() < timeout, "no line starting {start:?} in {timeout:?}:\n{}", self.output());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// GET `path`: its status and body.
    fn get(&self, path: &str) -> std::io::Result<(u16, String)> {
        let response = tests::http1::request(&self.addr, "GET", path, &[("Host", "127.0.0.1")], b"")?;
        Ok((response.status, response.text()))
    }

    /// Polls `path` until its body contains `wanted`; every answer on the way must be a 200 with
    /// `wanted` or `meanwhile` in it. Returns how long it took.
    fn until_serving(&self, path: &str, wanted: &str, meanwhile: &str, timeout: Duration) -> Duration {
        let began = Instant::now();
        loop {
            let (status, body) =
                self.get(path).unwrap_or_else(|e| panic!("the server stopped answering ({e}):\n{}", self.output()));
            assert_eq!(status, 200, "{body}\n{}", self.output());
            if body.contains(wanted) {
                return began.elapsed();
            }
            assert!(body.contains(meanwhile), "neither {wanted:?} nor {meanwhile:?} in:\n{body}");
            assert!(began.elapsed() < timeout, "{wanted:?} not served within {timeout:?}:\n{}", self.output());
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_new_site_is_built_served_given_an_app_and_reloaded_on_a_change() {
    let began = Instant::now();
    let (site, said) = NewSite::start("mysite");
    assert!(said.contains("cargo manage runserver"), "{said}");
    let readme = site.read("README.md");
    assert!(readme.starts_with("# mysite\n\n```sh\ncargo manage runserver "), "{readme}");
    assert!(readme.contains("\ncargo test "), "{readme}");
    assert!(site.read(".gitignore").contains("/target"));
    assert!(site.read("migrations/src/lib.rs").contains("vec![]"), "the site's own, empty migration set");
    assert!(site.read(".cargo/config.toml").contains("manage = \"run --quiet -p mysite --bin manage --\""));
    let settings = site.read("{name}/settings.toml");
    assert!(settings.contains("SECRET_KEY = \"djambda-insecure-"), "{settings}");
    let framework = workspace().join("framework").canonicalize().unwrap();
    assert!(site.read("{name}/Cargo.toml").contains(&format!("djambda = {{ path = {:?} }}", framework)));

    // Django's errors: the folder is taken, the name is not one.
    let again = Command::new(djambda_cli()).args(["startproject", "mysite"]).arg(&site.root).output().unwrap();
    assert_eq!(again.status.code(), Some(1));
    assert!(text(&again).1.contains("already exists and is not empty"), "{:?}", text(&again));
    let bad = Command::new(djambda_cli()).args(["startproject", "my-site"]).current_dir(target_dir()).output().unwrap();
    assert_eq!(bad.status.code(), Some(1));
    assert!(text(&bad).1.contains("'my-site' is not a valid site name"), "{:?}", text(&bad));

    site.build();
    // The site's own tests, as `cargo test` runs them there.
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut tested = tests::process::nested_cargo(cargo);
    tested.args(["test", "--quiet"]).current_dir(&site.root);
    site.cargo_env(&mut tested);
    let tested = tested.output().unwrap();
    assert!(tested.status.success(), "the new site's tests failed:\n{}\n{}", text(&tested).0, text(&tested).1);
    assert!(text(&tested).0.contains("2 passed"), "{}", text(&tested).0);
    let migrated = site.manage(&["migrate"]);
    assert!(migrated.status.success(), "{:?}", text(&migrated));
    assert!(text(&migrated).0.contains("Applying auth.0001_initial... OK"), "{:?}", text(&migrated));
    assert!(site.path("{name}/db.sqlite3").is_file(), "the database is the site's BASE_DIR/db.sqlite3");
    let nothing = site.manage(&["makemigrations"]);
    assert_eq!(text(&nothing).0, "No changes detected\n", "{:?}", text(&nothing));
    {
        let server = site.runserver(&["--noreload"]);
        let (status, body) = server.get("/").unwrap();
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("The install worked successfully! Congratulations!"), "{body}");
        assert!(body.contains("a djambda 0.1.0 site, with DEBUG on"), "{body}");
        let first = tests::http1::request(&server.addr, "GET", "/", &[], b"").unwrap();
        let policy = first.header("content-security-policy").unwrap_or_default();
        assert!(policy.contains("default-src 'self'") && policy.contains("'nonce-"), "{policy}");
        assert_eq!(server.get("/readyz").unwrap().0, 200);
        let (status, login) = server.get("/accounts/login/").unwrap();
        assert_eq!((status, login.contains("name=\"password\"")), (200, true), "{login}");
    }
    eprintln!("startproject to the first page: {:.1} s (a warm cache)", began.elapsed().as_secs_f64());

    // startapp writes the app and declares its module; the user adds the line it prints.
    let made = site.manage(&["startapp", "shop"]);
    let (stdout, stderr) = text(&made);
    assert!(made.status.success(), "{stdout}\n{stderr}");
    let line = stdout.lines().map(str::trim).find(|l| l.starts_with(".app(")).unwrap_or_else(|| panic!("{stdout}"));
    assert_eq!(line, ".app(shop::app())");
    for file in
        ["mod.rs", "models.rs", "views.rs", "urls.rs", "forms.rs", "migrations/mod.rs", "templates/shop/index.html"]
    {
        assert!(site.path(&format!("{{name}}/src/shop/{file}")).is_file(), "startapp wrote {file}");
    }
    assert!(site.read("{name}/src/lib.rs").contains("pub mod urls;\npub mod views;\npub mod shop;\n"));
    let twice = site.manage(&["startapp", "shop"]);
    assert_eq!(twice.status.code(), Some(1));
    assert!(text(&twice).1.contains("already declares a module 'shop'"), "{:?}", text(&twice));
    let invalid = site.manage(&["startapp", "Shop-Front"]);
    assert_eq!(invalid.status.code(), Some(1));
    assert!(text(&invalid).1.contains("'Shop-Front' is not a valid app name"), "{:?}", text(&invalid));
    let installed = site.manage(&["startapp", "auth"]);
    assert_eq!(installed.status.code(), Some(1));
    assert!(text(&installed).1.contains("an app named 'auth' is already installed"), "{:?}", text(&installed));

    site.edit(
        "{name}/src/lib.rs",
        "        .app(djambda::messages::app())\n",
        &format!("        .app(djambda::messages::app())\n        {line}\n"),
    );
    site.build();
    // The new app's empty migration set is known, and makemigrations has nothing to write yet.
    let shown = site.manage(&["showmigrations"]);
    assert!(text(&shown).0.contains("shop"), "{:?}", text(&shown));
    let nothing = site.manage(&["makemigrations", "--app", "shop"]);
    assert_eq!(text(&nothing).0, "No changes detected in app 'shop'\n", "{:?}", text(&nothing));

    // The model models.rs shows in a comment, uncommented and listed: its first migration goes
    // into the app's empty set, and applies.
    let models: String = site
        .read("{name}/src/shop/models.rs")
        .lines()
        .map(|l| if l == "//" { "" } else { l.strip_prefix("// ").unwrap_or(l) })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(site.path("{name}/src/shop/models.rs"), models + "\n").unwrap();
    site.edit(
        "{name}/src/shop/mod.rs",
        "\"/src/shop/migrations\"))\n",
        "\"/src/shop/migrations\"))\n        .model::<models::item::Entity>(\"shop.item\")\n",
    );
    site.build();
    let written = site.manage(&["makemigrations", "--app", "shop"]);
    assert!(written.status.success(), "{:?}", text(&written));
    assert!(text(&written).0.contains("src/shop/migrations/m0001_"), "{:?}", text(&written));
    assert!(site.read("{name}/src/shop/migrations/mod.rs").contains("vec![Box::new(m0001_"));
    site.build();
    let applied = site.manage(&["migrate"]);
    assert!(text(&applied).0.contains("Applying shop.0001_"), "{:?}", text(&applied));

    // The reloading runserver (the default in a debug build).
    let server = site.runserver(&[]);
    assert!(server.output().contains("Watching for file changes"), "{}", server.output());
    let (status, body) = server.get("/shop/").unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("The shop app works"), "{body}");

    // A template edit shows on the next request, with no rebuild.
    site.edit("{name}/src/shop/templates/shop/index.html", "The {{ app }} app works", "The {{ app }} app is open");
    let (_, body) = server.get("/shop/").unwrap();
    assert!(body.contains("The shop app is open"), "{body}");
    // So does a static file's, under its new hashed name.
    site.append("{name}/static/site.css", ".shop-banner { color: teal; }\n");
    let (_, page) = server.get("/shop/").unwrap();
    let start = page.find("/static/site.").unwrap_or_else(|| panic!("{page}"));
    let href = &page[start..start + page[start..].find('"').unwrap()];
    let (status, css) = server.get(href).unwrap();
    assert_eq!(status, 200, "{href}");
    assert!(css.contains(".shop-banner { color: teal; }"), "{href}: {css}");
    assert!(!server.output().contains("changed, rebuilding"), "{}", server.output());

    // A view edit: rebuilt and restarted, the old server answering until then.
    site.edit("{name}/src/shop/views.rs", "let app = \"shop\";", "let app = \"gift shop\";");
    let took =
        server.until_serving("/shop/", "The gift shop app is open", "The shop app is open", Duration::from_secs(300));
    eprintln!("saved view change to the new page served: {:.1} s (debug build)", took.as_secs_f64());
    assert!(server.output().contains("shop/views.rs changed, rebuilding..."), "{}", server.output());
    // Only the site is rebuilt: cargo's variables for the running binary are not passed on to
    // the build, where build scripts that watch them would rebuild shared dependencies.
    let compiled: Vec<String> =
        server.output().lines().filter(|l| l.trim_start().starts_with("Compiling ")).map(String::from).collect();
    assert!(compiled.iter().all(|l| l.contains("Compiling mysite ")), "{compiled:#?}");
    assert!(!compiled.is_empty(), "{}", server.output());

    // A change that does not compile: the compiler's error is printed, the last good server answers.
    site.edit("{name}/src/shop/views.rs", "let app = \"gift shop\";", "let app = \"gift shop\" +;");
    server.wait_for_line("The build failed (above); the last good server keeps answering.", Duration::from_secs(300));
    assert!(server.output().contains("error: expected expression"), "{}", server.output());
    let (status, body) = server.get("/shop/").unwrap();
    assert_eq!(status, 200);
    assert!(body.contains("The gift shop app is open"), "{body}");
    site.edit("{name}/src/shop/views.rs", "let app = \"gift shop\" +;", "let app = \"toy shop\";");
    server.until_serving("/shop/", "The toy shop app is open", "The gift shop app is open", Duration::from_secs(300));

    // Stopping the reloader stops its server: nothing is left holding the port.
    let pid = server.child.id();
    let stopped = Command::new("kill").args(["-TERM", &pid.to_string()]).status().unwrap();
    assert!(stopped.success());
    let began = Instant::now();
    let mut server = server;
    loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            assert!(status.success(), "the reloader exits as the server would on SIGTERM: {status}");
            break;
        }
        assert!(began.elapsed() < Duration::from_secs(30), "the reloader did not stop");
        std::thread::sleep(Duration::from_millis(50));
    }
    let gone = Instant::now();
    while std::net::TcpStream::connect(&server.addr).is_ok() {
        assert!(gone.elapsed() < Duration::from_secs(10), "a server outlived the reloader on {}", server.addr);
        std::thread::sleep(Duration::from_millis(50));
    }
}
