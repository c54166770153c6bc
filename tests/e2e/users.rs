//! `manage createsuperuser` and `manage changepassword` through the built binary: with
//! `--noinput` and DJAMBDA_SUPERUSER_PASSWORD, and at a terminal, where the answers are typed at
//! the prompts (util-linux `script` gives the binary a pseudo-terminal) and the passwords must
//! not be echoed. The users made can then log in to the site.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use djambda::test::Client;

use crate::manage_bin;

fn manage(db: &str, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = Command::new(manage_bin());
    cmd.args(args).env("DATABASE_URL", db).env_remove(djambda::management::PASSWORD_ENV).stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

async fn can_log_in(db: &str, username: &str, password: &str) -> bool {
    let site = example_site::site_with_settings(crate::example_settings_with(&[("DATABASE_URL", db)])).unwrap();
    Client::new(site).login(username, password).await
}

#[tokio::test]
async fn createsuperuser_without_input_takes_the_password_from_the_environment() {
    let db = crate::fresh_demo_db("users-noinput");
    let password = [(djambda::management::PASSWORD_ENV, "plum-orbit-cascade")];
    let made =
        manage(&db, &["createsuperuser", "--noinput", "--username", "ops", "--email", "ops@example.com"], &password);
    assert!(made.status.success(), "{}", stderr(&made));
    assert_eq!(String::from_utf8_lossy(&made.stdout), "Superuser created successfully.\n");
    assert!(can_log_in(&db, "ops", "plum-orbit-cascade").await);

    for (args, env, message) in [
        (&["createsuperuser", "--noinput"][..], &password[..], "You must use --username with --noinput."),
        (
            &["createsuperuser", "--noinput", "--username", "ops"][..],
            &password[..],
            "Error: That username is already taken.",
        ),
        (&["createsuperuser", "--noinput", "--username", "bad name!"][..], &password[..], "Enter a valid username."),
        (
            &["createsuperuser", "--noinput", "--username", "x", "--email", "nope"][..],
            &password[..],
            "Enter a valid email address.",
        ),
        (
            &["createsuperuser", "--noinput", "--username", "weak"][..],
            &[(djambda::management::PASSWORD_ENV, "12345678")][..],
            "This password is entirely numeric.",
        ),
        (
            &["createsuperuser", "--noinput", "--username", "weak"][..],
            &[(djambda::management::PASSWORD_ENV, "password")][..],
            "This password is too common.",
        ),
        (&["createsuperuser", "--username", "tty"][..], &password[..], "not running in a TTY"),
    ] {
        let out = manage(&db, args, env);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(stderr(&out).contains(message), "{args:?}: {}", stderr(&out));
    }
    // Without a password the account exists but cannot log in until one is set.
    let unusable = manage(&db, &["createsuperuser", "--noinput", "--username", "later"], &[]);
    assert!(unusable.status.success(), "{}", stderr(&unusable));
    assert!(!can_log_in(&db, "later", "").await && !can_log_in(&db, "later", "!").await);

    let no_tables =
        format!("sqlite://{}/djambda-empty-{}.sqlite3?mode=rwc", std::env::temp_dir().display(), std::process::id());
    let out = manage(&no_tables, &["createsuperuser", "--noinput", "--username", "a"], &password);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("run `manage migrate`"), "{}", stderr(&out));
}

/// The binary at a pseudo-terminal: what it printed, and a way to answer its prompts.
struct Terminal {
    child: std::process::Child,
    input: std::process::ChildStdin,
    output: Arc<Mutex<String>>,
    /// How much of the output the prompts waited for have used.
    seen: usize,
}

impl Terminal {
    fn start(db: &str, args: &str) -> Terminal {
        let command = format!("{} {args}", manage_bin().display());
        let mut child = Command::new("script")
            .args(["--quiet", "--return", "--command", &command, "/dev/null"])
            .env("DATABASE_URL", db)
            .env("USER", "tester")
            .env_remove(djambda::management::PASSWORD_ENV)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("util-linux `script`, to give the command a terminal");
        let input = child.stdin.take().unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let output = Arc::new(Mutex::new(String::new()));
        let sink = output.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Terminal { child, input, output, seen: 0 }
    }

    /// Waits for `prompt` to be printed, then types `answer` and Enter.
    fn answer(&mut self, prompt: &str, answer: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let out = self.output.lock().unwrap().clone();
            if let Some(at) = out[self.seen..].find(prompt) {
                self.seen += at + prompt.len();
                break;
            }
            assert!(Instant::now() < deadline, "no prompt {prompt:?} in:\n{out}");
            std::thread::sleep(Duration::from_millis(20));
        }
        // The terminal must have turned echo off before a password is typed; a short pause
        // lets the prompt's own write and the mode change land first.
        std::thread::sleep(Duration::from_millis(50));
        self.input.write_all(format!("{answer}\r").as_bytes()).unwrap();
        self.input.flush().unwrap();
    }

    fn finish(mut self) -> (Option<i32>, String) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "the command did not finish:\n{}", self.output.lock().unwrap());
            std::thread::sleep(Duration::from_millis(20));
        };
        std::thread::sleep(Duration::from_millis(100));
        let out = self.output.lock().unwrap().clone();
        (status.code(), out)
    }
}

#[tokio::test]
async fn createsuperuser_and_changepassword_at_a_terminal_hide_the_password() {
    let db = crate::fresh_demo_db("users-tty");
    let mut t = Terminal::start(&db, "createsuperuser");
    t.answer("Username (leave blank to use 'tester'): ", "demo");
    t.answer("Username (leave blank to use 'tester'): ", "alice");
    t.answer("Email address: ", "not-an-email");
    t.answer("Email address: ", "alice@example.com");
    t.answer("Password: ", "abc");
    t.answer("Password (again): ", "abc");
    t.answer("Bypass password validation and create user anyway? [y/N]: ", "n");
    t.answer("Password: ", "quiet-harbour-lights");
    t.answer("Password (again): ", "quiet-harbour-light");
    t.answer("Password: ", "quiet-harbour-lights");
    t.answer("Password (again): ", "quiet-harbour-lights");
    let (code, out) = t.finish();
    assert_eq!(code, Some(0), "{out}");
    for line in [
        "Error: That username is already taken.",
        "Error: Enter a valid email address.",
        "This password is too short. It must contain at least 8 characters.",
        "Error: Your passwords didn't match.",
        "Superuser created successfully.",
    ] {
        assert!(out.contains(line), "missing {line:?} in:\n{out}");
    }
    assert!(out.contains("alice@example.com"), "what is typed at a visible prompt is echoed:\n{out}");
    assert!(!out.contains("quiet-harbour") && !out.contains("abc\r"), "a password is never echoed:\n{out}");
    assert!(can_log_in(&db, "alice", "quiet-harbour-lights").await);

    let mut t = Terminal::start(&db, "changepassword alice");
    for attempt in ["one", "two", "three"] {
        t.answer("Password: ", &format!("first-{attempt}-password"));
        t.answer("Password (again): ", &format!("second-{attempt}-password"));
    }
    let (code, out) = t.finish();
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("Passwords do not match. Please try again."), "{out}");
    assert!(out.contains("Aborting password change for user 'alice' after 3 attempts"), "{out}");
    assert!(can_log_in(&db, "alice", "quiet-harbour-lights").await, "unchanged");

    let mut t = Terminal::start(&db, "changepassword alice");
    t.answer("Password: ", "new-harbour-lights");
    t.answer("Password (again): ", "new-harbour-lights");
    let (code, out) = t.finish();
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("Password changed successfully for user 'alice'") && !out.contains("new-harbour"), "{out}");
    assert!(can_log_in(&db, "alice", "new-harbour-lights").await);
    assert!(!can_log_in(&db, "alice", "quiet-harbour-lights").await);

    let missing = manage(&db, &["changepassword", "nobody"], &[]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(stderr(&missing).contains("user 'nobody' does not exist"));
}
