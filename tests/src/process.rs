//! Running the built `manage` binary as a child process: as a dev server or as a Lambda function.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A child process killed when dropped, so a failing test leaves nothing running.
pub struct Running {
    /// The child.
    pub child: Child,
    /// Lines the child printed on stderr, as they come.
    pub stderr: mpsc::Receiver<String>,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The environment the Lambda service gives a function.
pub fn lambda_env(runtime_api: &str) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_LAMBDA_RUNTIME_API", runtime_api.to_owned()),
        ("AWS_LAMBDA_FUNCTION_NAME", "djambda-test".into()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128".into()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
        ("AWS_LAMBDA_LOG_STREAM_NAME", "2026/11/23/[$LATEST]test".into()),
        ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/djambda-test".into()),
        ("AWS_REGION", "us-east-1".into()),
    ]
}

/// Starts `bin` with no arguments as a Lambda function talking to `runtime_api`.
pub fn spawn_lambda(bin: &Path, runtime_api: &str, extra_env: &[(&str, &str)]) -> Running {
    let mut cmd = Command::new(bin);
    cmd.env_clear();
    if let Some(path) = std::env::var_os("PATH") {
        cmd.env("PATH", path);
    }
    for (k, v) in lambda_env(runtime_api) {
        cmd.env(k, v);
    }
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    spawn(cmd)
}

/// Starts `bin runserver 127.0.0.1:0` and returns it with the address it printed.
pub fn spawn_runserver(bin: &Path, extra_env: &[(&str, &str)]) -> (Running, String) {
    let mut cmd = Command::new(bin);
    // One server process: the reloading parent (the default in debug builds) has a test of its own.
    cmd.args(["runserver", "127.0.0.1:0", "--noreload"]);
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    cmd.stdout(Stdio::piped());
    let mut child = cmd.stderr(Stdio::piped()).spawn().expect("start manage runserver");
    let stdout = child.stdout.take().expect("runserver stdout");
    let stderr = child.stderr.take().expect("runserver stderr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let (addr_tx, addr_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut sent = false;
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if !sent && let Some(rest) = line.strip_prefix("Starting development server at http://") {
                let _ = addr_tx.send(rest.trim_end_matches('/').to_owned());
                sent = true;
            }
        }
    });
    let running = Running { child, stderr: rx };
    let addr = addr_rx.recv_timeout(Duration::from_secs(30)).expect("runserver printed the address it listens on");
    (running, addr)
}

fn spawn(mut cmd: Command) -> Running {
    let mut child = cmd.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("start the binary");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    Running { child, stderr: rx }
}

/// A `cargo` (or `cargo lambda`) command for a test to run, without the variables cargo set
/// for the test process itself (`CARGO_PKG_*`, `CARGO_MANIFEST_*`, …). They describe the test's
/// package; build scripts that watch them would see a change, rebuild shared dependencies, and
/// make the next `cargo test` rebuild them back.
pub fn nested_cargo(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut cmd = Command::new(program);
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        let per_package = ["CARGO_PKG_", "CARGO_MANIFEST_", "CARGO_CRATE_", "CARGO_BIN_", "CARGO_PRIMARY_PACKAGE"]
            .iter()
            .any(|p| key.starts_with(p));
        if per_package || key == "CARGO_TARGET_TMPDIR" || key == "CARGO_RUSTC_CURRENT_DIR" {
            cmd.env_remove(key.as_ref());
        }
    }
    cmd
}
