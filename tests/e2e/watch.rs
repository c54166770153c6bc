//! The example site under `cargo lambda watch`, the ecosystem's own Lambda emulator: invoked
//! with `cargo lambda invoke` (an HTTP API event from AWS's samples) and over its local
//! Function URL, it serves the same pages runserver does. A check that djambda's Lambda door
//! agrees with more than the emulator in this repository.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;
use tests::http1::request;
use tests::process::{nested_cargo, spawn_runserver};

use crate::manage_bin;

/// `cargo lambda watch`, in a process group of its own so the function it starts goes too.
struct Watch {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Drop for Watch {
    fn drop(&mut self) {
        // The whole group: cargo lambda watch and the function process it started.
        let _ = Command::new("kill").arg("--").arg(format!("-{}", self.child.id())).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
#[ignore = "needs DJAMBDA_CARGO_LAMBDA (the cargo-lambda executable from PyPI; .ci/run installs it)"]
fn cargo_lambda_watch_serves_the_example_site() {
    let cargo_lambda = std::env::var("DJAMBDA_CARGO_LAMBDA").expect("DJAMBDA_CARGO_LAMBDA");
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf();
    let db = crate::demo_db();
    let port = free_port().to_string();

    // cargo lambda watch builds the function with `cargo run` on the first invocation; built
    // here first, so that invocation does not wait on a compile.
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let built = nested_cargo(cargo)
        .args(["build", "--quiet", "-p", "example_site", "--bin", "manage"])
        .current_dir(&root)
        .status()
        .unwrap();
    assert!(built.success(), "cargo build of the function failed");

    let mut cmd = nested_cargo(&cargo_lambda);
    cmd.args(["lambda", "watch", "-p", "example_site", "--bin", "manage", "-A", "127.0.0.1", "-P", &port])
        .args(["--env-var", &format!("DATABASE_URL={db}"), "--env-var", "ALLOWED_HOSTS=*"])
        // The tests' secret, which signed the demo user's session cookie.
        .args(["--env-var", &format!("SECRET_KEY={}", crate::SECRET_KEY)])
        .current_dir(&root)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = cmd.spawn().expect("start cargo lambda watch");
    let (tx, lines) = mpsc::channel();
    for stream in [
        child.stdout.take().map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        child.stderr.take().map(|s| Box::new(s) as _),
    ] {
        let tx = tx.clone();
        let stream = stream.unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
    }
    let watch = Watch { child, lines };
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut log = Vec::new();
    while !log.iter().any(|l: &String| l.contains("starting Runtime server")) {
        assert!(Instant::now() < deadline, "cargo lambda watch did not start: {log:?}");
        if let Ok(line) = watch.lines.recv_timeout(Duration::from_secs(1)) {
            log.push(line);
        }
    }

    // cargo lambda invoke, with AWS's HTTP API sample event (its first invocation also builds
    // the function, hence the long timeout).
    // The sample event, from the logged-in demo user (the CRM needs a login).
    let mut sample = crate::lambda::fixture("example-apigw-v2-request-no-authorizer.json");
    sample["cookies"] = crate::demo_login().cookie.split("; ").collect::<Vec<_>>().into();
    let event = std::env::temp_dir().join(format!("djambda-watch-event-{}.json", std::process::id()));
    std::fs::write(&event, sample.to_string()).unwrap();
    let out = nested_cargo(&cargo_lambda)
        .args(["lambda", "invoke", "manage", "-A", "127.0.0.1", "-P", &port, "--data-file"])
        .arg(&event)
        .current_dir(&root)
        .output()
        .unwrap();
    let said: Vec<String> = watch.lines.try_iter().collect();
    assert!(out.status.success(), "cargo lambda invoke failed: {}\n{said:?}", String::from_utf8_lossy(&out.stderr));
    let answer: Value = serde_json::from_slice(&out.stdout).expect("the invocation answers JSON");
    assert_eq!(answer["statusCode"], 200, "{answer}");
    assert!(answer["body"].as_str().unwrap_or_default().contains("Dashboard"), "{answer}");

    // Its Function URL, against runserver on the same database: the same page, byte for byte.
    let (_server, addr) = spawn_runserver(manage_bin(), &crate::with_demo_db(&[("ALLOWED_HOSTS", "*")]));
    let [cookie, _] = crate::logged_in();
    for path in ["/companies/", "/deals/?stage=proposal", "/static/img/logo.png"] {
        let direct = request(&addr, "GET", path, &[cookie], b"").unwrap();
        let through =
            request(&format!("127.0.0.1:{port}"), "GET", &format!("/lambda-url/manage{path}"), &[cookie], b"").unwrap();
        assert_eq!(through.status, direct.status, "{path}");
        assert_eq!(direct.status, 200, "{path}");
        // Each page masks its CSRF token afresh; the rest must be the same bytes.
        let (through, direct) =
            (crate::lambda::mask_csrf_tokens(through.body), crate::lambda::mask_csrf_tokens(direct.body));
        assert!(through == direct, "{path}: cargo lambda's Function URL gave another page than runserver");
    }
    let _ = std::fs::remove_file(&event);
}
