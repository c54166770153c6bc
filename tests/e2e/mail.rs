//! Email against a real SMTP server on loopback: aiosmtpd from PyPI, started by each test with
//! the Python that DJAMBDA_SMTP_PYTHON names (.ci/run installs it into .ci/venv). What
//! arrives is read back as Python's email package parses it: the envelope, the headers, both
//! versions of the body and the attachment. Then STARTTLS with a certificate authority the
//! test makes (trusted through EMAIL_SSL_CAFILE, refused without it), implicit TLS, a login
//! and a refused login; and the built `manage` binary sending through the same server.
//!
//! These need djambda's `smtp` feature: `cargo test -p example_site --features smtp --test e2e
//! -- --ignored mail::`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use djambda::mail::EmailMessage;
use serde_json::Value;

/// A running aiosmtpd, stopped when dropped.
pub(crate) struct SmtpServer {
    child: Child,
    pub(crate) port: u16,
    /// The certificate authority of the server's certificate (with TLS).
    pub(crate) cafile: Option<PathBuf>,
    dir: PathBuf,
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl SmtpServer {
    /// Starts the server with `args` (`--starttls`, `--implicit-tls`, `--auth USER:PASSWORD`),
    /// keeping what arrives in a folder named after `tag`.
    pub(crate) fn start(tag: &str, args: &[&str]) -> SmtpServer {
        let python = std::env::var("DJAMBDA_SMTP_PYTHON")
            .expect("DJAMBDA_SMTP_PYTHON: a python with aiosmtpd and cryptography (.ci/run makes one in .ci/venv)");
        let dir = std::env::temp_dir().join(format!("djambda-smtp-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/smtpd.py");
        let mut child = Command::new(python)
            .arg(&script)
            .arg(&dir)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the SMTP server");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).expect("the server's first line");
        let said: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("smtpd.py said {line:?}: {e}"));
        let port = said["port"].as_u64().expect("a port") as u16;
        let cafile = said["cafile"].as_str().map(PathBuf::from);
        SmtpServer { child, port, cafile, dir }
    }

    /// The messages that arrived, oldest first.
    pub(crate) fn messages(&self) -> Vec<Value> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        names.retain(|p| p.extension().is_some_and(|e| e == "json"));
        names.sort();
        names.iter().map(|p| serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()).collect()
    }

    /// Waits (up to 10 s) until `n` messages arrived, and returns them.
    pub(crate) fn wait_for(&self, n: usize) -> Vec<Value> {
        let start = Instant::now();
        loop {
            let got = self.messages();
            if got.len() >= n || start.elapsed() > Duration::from_secs(10) {
                assert_eq!(got.len(), n, "messages that arrived: {got:#?}");
                return got;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The EMAIL_* settings that send to this server.
    pub(crate) fn settings(&self) -> Vec<(String, String)> {
        let mut env = vec![
            ("EMAIL_BACKEND".to_owned(), "smtp".to_owned()),
            ("EMAIL_HOST".to_owned(), "127.0.0.1".to_owned()),
            ("EMAIL_PORT".to_owned(), self.port.to_string()),
            ("EMAIL_TIMEOUT".to_owned(), "10".to_owned()),
            ("DEFAULT_FROM_EMAIL".to_owned(), "Northwind CRM <crm@northwind.example>".to_owned()),
        ];
        if let Some(ca) = &self.cafile {
            env.push(("EMAIL_SSL_CAFILE".to_owned(), ca.display().to_string()));
        }
        env
    }
}

/// The example site on the demo database with `env` on top.
fn site_with(env: &[(String, String)]) -> Result<djambda::Site, djambda::ConfigError> {
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    example_site::site_with_settings(crate::example_settings_with(&pairs))
}

fn with(base: &[(String, String)], extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut all = base.to_vec();
    all.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    all
}

/// Every byte value, so the attachment cannot pass as text.
fn binary() -> Vec<u8> {
    (0..=255u8).cycle().take(1000).collect()
}

fn report() -> EmailMessage {
    EmailMessage::new("Quarterly report: Zoë’s pipeline", "Hello,\nthe report is attached.\n")
        .to(["Zoë Ångström <zoe@example.com>", "bo@example.com"])
        .cc(["finance@example.com"])
        .bcc(["archive@example.com"])
        .reply_to(["Sales desk <sales@northwind.example>"])
        .header("X-CRM-Report", "2026-Q4")
        .html("<p>Hello,</p><p>the report is <b>attached</b>.</p>")
        .attach("pipeline.bin", binary(), "application/octet-stream")
}

/// A text part as a mail client shows it: lines end in CRLF on the wire.
fn lf(part: &Value) -> String {
    part.as_str().unwrap_or_default().replace("\r\n", "\n")
}

/// What arrived says what was sent: the envelope (bcc included), the headers (bcc not), the
/// text and HTML versions and the attachment byte for byte.
fn check_report(got: &Value) {
    assert_eq!(got["mail_from"], "crm@northwind.example");
    let rcpt: Vec<&str> = got["rcpt_tos"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(rcpt, ["zoe@example.com", "bo@example.com", "finance@example.com", "archive@example.com"]);
    let header = |name: &str| got["headers"][name][0].as_str().unwrap_or_default().to_owned();
    assert_eq!(header("subject"), "Quarterly report: Zoë’s pipeline");
    assert_eq!(header("from"), "Northwind CRM <crm@northwind.example>");
    assert_eq!(header("to"), "Zoë Ångström <zoe@example.com>, bo@example.com");
    assert_eq!(header("cc"), "finance@example.com");
    assert_eq!(header("reply-to"), "Sales desk <sales@northwind.example>");
    assert_eq!(header("x-crm-report"), "2026-Q4");
    assert!(got["headers"].get("bcc").is_none(), "no Bcc header: {}", got["raw"]);
    assert!(!got["raw"].as_str().unwrap().contains("archive@example.com"), "the hidden address is in no header");
    assert!(header("message-id").ends_with("@northwind.example>") && !header("date").is_empty());
    let parts = got["parts"].as_array().unwrap();
    assert_eq!(parts.len(), 3, "{parts:#?}");
    assert_eq!(parts[0]["content_type"], "text/plain");
    assert_eq!(lf(&parts[0]["text"]), "Hello,\nthe report is attached.\n");
    assert_eq!(parts[1]["content_type"], "text/html");
    assert_eq!(lf(&parts[1]["text"]).trim_end(), "<p>Hello,</p><p>the report is <b>attached</b>.</p>");
    assert_eq!(parts[2]["content_type"], "application/octet-stream");
    assert_eq!(parts[2]["filename"], "pipeline.bin");
    assert_eq!(parts[2]["disposition"], "attachment");
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD.decode(parts[2]["base64"].as_str().unwrap()).unwrap();
    assert_eq!(bytes, binary(), "the attachment arrived byte for byte");
}

#[tokio::test]
#[ignore = "needs DJAMBDA_SMTP_PYTHON (a python with aiosmtpd) and the smtp feature (.ci/run sets both)"]
async fn smtp_delivers_headers_both_versions_and_an_attachment() {
    let server = SmtpServer::start("plain", &[]);
    let site = site_with(&server.settings()).expect("the site with SMTP settings");
    assert_eq!(report().send(&site).await.expect("sent"), 1);
    let got = server.wait_for(1);
    check_report(&got[0]);
    assert_eq!(got[0]["tls"], false);

    // Header injection is refused before anything is sent.
    let forged = EmailMessage::new("Hi", "x").to(["zoe@example.com\r\nBcc: everyone@example.com"]);
    let err = forged.send(&site).await.unwrap_err();
    assert!(err.to_string().contains("header injection"), "{err}");
    assert_eq!(server.messages().len(), 1, "nothing more arrived");

    // A server that is not there: an error naming it, not a success.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let down = site_with(&with(&server.settings(), &[("EMAIL_PORT", &closed.to_string())])).unwrap();
    let err = report().send(&down).await.unwrap_err();
    assert!(err.to_string().contains(&format!("127.0.0.1:{closed}")), "{err}");
    assert_eq!(err.status(), 503, "{err}");
}

#[tokio::test]
#[ignore = "needs DJAMBDA_SMTP_PYTHON (a python with aiosmtpd) and the smtp feature (.ci/run sets both)"]
async fn starttls_with_a_login_and_a_refused_login() {
    let server = SmtpServer::start("starttls", &["--starttls", "--auth", "crm-mailer:s3cret pass"]);
    let settings = with(
        &server.settings(),
        &[("EMAIL_USE_TLS", "true"), ("EMAIL_HOST_USER", "crm-mailer"), ("EMAIL_HOST_PASSWORD", "s3cret pass")],
    );
    let site = site_with(&settings).unwrap();
    assert_eq!(report().send(&site).await.expect("sent over STARTTLS"), 1);
    let got = server.wait_for(1);
    check_report(&got[0]);
    assert_eq!((got[0]["tls"].as_bool(), got[0]["authenticated"].as_bool()), (Some(true), Some(true)));

    // The wrong password: the server refuses the login, and sending fails saying so.
    let refused = site_with(&with(&settings, &[("EMAIL_HOST_PASSWORD", "guess")])).unwrap();
    let err = report().send(&refused).await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains("through SMTP at 127.0.0.1") && text.contains("STARTTLS"), "{text}");
    assert!(text.contains("535") || text.to_lowercase().contains("authentication"), "{text}");
    assert_ne!(err.status(), 200);

    // Without the test's certificate authority the server's certificate is not trusted.
    let untrusted: Vec<(String, String)> = settings.iter().filter(|(k, _)| k != "EMAIL_SSL_CAFILE").cloned().collect();
    let err = report().send(&site_with(&untrusted).unwrap()).await.unwrap_err();
    assert!(err.to_string().to_lowercase().contains("certificate"), "{err}");

    // STARTTLS asked for and the server offers none: refused, not sent in the clear.
    let plain = SmtpServer::start("no-starttls", &[]);
    let err = report().send(&site_with(&with(&plain.settings(), &[("EMAIL_USE_TLS", "true")])).unwrap()).await;
    assert!(err.is_err(), "sent without the TLS it was told to require");
    assert!(plain.messages().is_empty());
    assert_eq!(server.messages().len(), 1, "neither refused attempt delivered anything");
}

#[tokio::test]
#[ignore = "needs DJAMBDA_SMTP_PYTHON (a python with aiosmtpd) and the smtp feature (.ci/run sets both)"]
async fn a_server_that_stops_answering_is_an_error_within_email_timeout() {
    // This server answers a refused login with nothing at all.
    let server = SmtpServer::start("hang", &["--starttls", "--auth", "crm:pw", "--hang-on-refusal"]);
    let settings = with(
        &server.settings(),
        &[
            ("EMAIL_USE_TLS", "true"),
            ("EMAIL_HOST_USER", "crm"),
            ("EMAIL_HOST_PASSWORD", "wrong"),
            ("EMAIL_TIMEOUT", "2"),
        ],
    );
    let began = Instant::now();
    let err = report().send(&site_with(&settings).unwrap()).await.unwrap_err();
    assert!(began.elapsed() < Duration::from_secs(8), "waited {:?}", began.elapsed());
    assert!(err.to_string().contains("no answer within EMAIL_TIMEOUT (2 s)"), "{err}");
    assert_eq!(err.status(), 503);
    assert!(server.messages().is_empty());
}

#[tokio::test]
#[ignore = "needs DJAMBDA_SMTP_PYTHON (a python with aiosmtpd) and the smtp feature (.ci/run sets both)"]
async fn implicit_tls_with_a_login() {
    let server = SmtpServer::start("implicit", &["--implicit-tls", "--auth", "crm-mailer:pw"]);
    let settings = with(
        &server.settings(),
        &[("EMAIL_USE_SSL", "true"), ("EMAIL_HOST_USER", "crm-mailer"), ("EMAIL_HOST_PASSWORD", "pw")],
    );
    assert_eq!(report().send(&site_with(&settings).unwrap()).await.expect("sent over implicit TLS"), 1);
    let got = server.wait_for(1);
    check_report(&got[0]);
    assert_eq!(got[0]["authenticated"], true);
}

#[test]
#[ignore = "needs DJAMBDA_SMTP_PYTHON (a python with aiosmtpd) and the smtp feature (.ci/run sets both)"]
fn the_manage_binary_sends_a_test_email() {
    let server = SmtpServer::start("sendtestemail", &["--starttls", "--auth", "ops:pw"]);
    let mut cmd = Command::new(crate::manage_bin());
    cmd.args(["sendtestemail", "ops@northwind.example", "Ada <ada@example.com>"]);
    for (k, v) in
        with(&server.settings(), &[("EMAIL_USE_TLS", "1"), ("EMAIL_HOST_USER", "ops"), ("EMAIL_HOST_PASSWORD", "pw")])
    {
        cmd.env(k, v);
    }
    let out = cmd.env("DATABASE_URL", crate::demo_db()).env("SECRET_KEY", crate::SECRET_KEY).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Sent a test email to ops@northwind.example"));
    let got = server.wait_for(1);
    assert_eq!(got[0]["rcpt_tos"], serde_json::json!(["ops@northwind.example", "ada@example.com"]));
    assert!(got[0]["headers"]["subject"][0].as_str().unwrap().starts_with("Test email from djambda on "));
    assert_eq!(lf(&got[0]["parts"][0]["text"]).trim_end(), "If you're reading this, it was successful.");

    // A refused login is a failed command with the server's answer, and nothing arrives.
    let out = Command::new(crate::manage_bin())
        .args(["sendtestemail", "ops@northwind.example"])
        .envs(with(
            &server.settings(),
            &[("EMAIL_USE_TLS", "1"), ("EMAIL_HOST_USER", "ops"), ("EMAIL_HOST_PASSWORD", "no")],
        ))
        .env("DATABASE_URL", crate::demo_db())
        .env("SECRET_KEY", crate::SECRET_KEY)
        .output()
        .unwrap();
    assert!(!out.status.success(), "a refused login reported as sent");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("through SMTP at 127.0.0.1"), "{err}");
    assert_eq!(server.messages().len(), 1);
}
