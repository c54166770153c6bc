//! The email settings (Django's `EMAIL_*`, `DEFAULT_FROM_EMAIL`, `SERVER_EMAIL`), with
//! Django's names and defaults.

use std::path::PathBuf;
use std::time::Duration;

use super::{Group, flag, number};

/// Where sent messages go (EMAIL_BACKEND).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailBackendName {
    /// `smtp`: an SMTP server (EMAIL_HOST); needs djambda's `smtp` feature.
    Smtp,
    /// `console`: written to standard output (the default when DEBUG is on).
    Console,
    /// `file`: one `.eml` file per message in EMAIL_FILE_PATH.
    File,
    /// `locmem`: kept in memory, in the site's outbox (for tests).
    Locmem,
    /// `dummy`: dropped, counted as sent.
    Dummy,
}

/// The email settings. The password is never shown by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Email {
    /// EMAIL_BACKEND: `smtp`, `console`, `file`, `locmem` or `dummy` (Django's dotted names,
    /// `django.core.mail.backends.smtp.EmailBackend`, work too). Unset: `console` when DEBUG
    /// is on, `smtp` when it is off, as Django's is.
    pub backend: Option<EmailBackendName>,
    /// EMAIL_HOST (`localhost`): the SMTP server.
    pub host: String,
    /// EMAIL_PORT (25; 587 is the usual port for STARTTLS, 465 for implicit TLS).
    pub port: u16,
    /// EMAIL_HOST_USER: the login name on the SMTP server; no login when empty.
    pub host_user: String,
    /// EMAIL_HOST_PASSWORD: the login's password (keep it in the environment).
    pub host_password: String,
    /// EMAIL_USE_TLS (off): upgrade the connection with STARTTLS, and refuse to go on without it.
    pub use_tls: bool,
    /// EMAIL_USE_SSL (off): implicit TLS from the first byte (port 465). Not with EMAIL_USE_TLS.
    pub use_ssl: bool,
    /// EMAIL_TIMEOUT in seconds (30): how long sending one message may take, connecting
    /// included; a server that stops answering is an error after it.
    pub timeout: Duration,
    /// EMAIL_SSL_CAFILE (djambda's own): a PEM file of certificate authorities trusted besides
    /// the public ones, for a relay with a private certificate.
    pub ssl_cafile: Option<PathBuf>,
    /// EMAIL_FILE_PATH: the folder the `file` backend writes to.
    pub file_path: Option<PathBuf>,
    /// DEFAULT_FROM_EMAIL (`webmaster@localhost`): the sender of messages that name none.
    pub default_from_email: String,
    /// SERVER_EMAIL (`root@localhost`): the sender of messages to the site's administrators.
    pub server_email: String,
}

impl Default for Email {
    fn default() -> Self {
        Email {
            backend: None,
            host: "localhost".into(),
            port: 25,
            host_user: String::new(),
            host_password: String::new(),
            use_tls: false,
            use_ssl: false,
            timeout: Duration::from_secs(30),
            ssl_cafile: None,
            file_path: None,
            default_from_email: "webmaster@localhost".into(),
            server_email: "root@localhost".into(),
        }
    }
}

impl std::fmt::Debug for Email {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Email")
            .field("backend", &self.backend)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("host_user", &self.host_user)
            .field("host_password", &if self.host_password.is_empty() { "" } else { "********" })
            .field("use_tls", &self.use_tls)
            .field("use_ssl", &self.use_ssl)
            .field("timeout", &self.timeout)
            .field("ssl_cafile", &self.ssl_cafile)
            .field("file_path", &self.file_path)
            .field("default_from_email", &self.default_from_email)
            .field("server_email", &self.server_email)
            .finish()
    }
}

impl Email {
    /// The backend in use: EMAIL_BACKEND, or the default for `debug`.
    pub fn backend_or_default(&self, debug: bool) -> EmailBackendName {
        self.backend.unwrap_or(if debug { EmailBackendName::Console } else { EmailBackendName::Smtp })
    }

    /// What is wrong with the combination of settings, if anything.
    pub(crate) fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.use_tls && self.use_ssl {
            problems.push(
                "EMAIL_USE_TLS and EMAIL_USE_SSL are both on: use one (STARTTLS on port 587 is EMAIL_USE_TLS, \
                 implicit TLS on port 465 is EMAIL_USE_SSL)"
                    .to_owned(),
            );
        }
        if self.backend == Some(EmailBackendName::File) && self.file_path.is_none() {
            problems.push("EMAIL_BACKEND = \"file\" writes to a folder: set EMAIL_FILE_PATH".to_owned());
        }
        problems
    }
}

/// An address setting: refused when it could carry a header of its own.
fn address(key: &str, raw: &str) -> Result<String, String> {
    let value = raw.trim();
    if value.is_empty() || value.contains(['\r', '\n']) || !value.contains('@') {
        return Err(format!("{key} must be an email address like `CRM <crm@example.com>` (got {raw:?})"));
    }
    Ok(value.to_owned())
}

impl Group for Email {
    const KEYS: &'static [&'static str] = &[
        "EMAIL_BACKEND",
        "EMAIL_HOST",
        "EMAIL_PORT",
        "EMAIL_HOST_USER",
        "EMAIL_HOST_PASSWORD",
        "EMAIL_USE_TLS",
        "EMAIL_USE_SSL",
        "EMAIL_TIMEOUT",
        "EMAIL_SSL_CAFILE",
        "EMAIL_FILE_PATH",
        "DEFAULT_FROM_EMAIL",
        "SERVER_EMAIL",
    ];

    fn apply(&mut self, key: &str, raw: &str) -> Result<(), String> {
        match key {
            "EMAIL_BACKEND" => {
                // Django's dotted names: `django.core.mail.backends.smtp.EmailBackend`.
                let name = raw.trim().trim_end_matches(".EmailBackend");
                let short = name.rsplit('.').next().unwrap_or("");
                self.backend = Some(match short {
                    "smtp" => EmailBackendName::Smtp,
                    "console" => EmailBackendName::Console,
                    "file" | "filebased" => EmailBackendName::File,
                    "locmem" => EmailBackendName::Locmem,
                    "dummy" => EmailBackendName::Dummy,
                    _ => return Err(format!("{key} must be smtp, console, file, locmem or dummy (got {raw:?})")),
                })
            }
            "EMAIL_HOST" => {
                let host = raw.trim();
                if host.is_empty() || host.contains(['/', ' ', '@']) {
                    return Err(format!("{key} must be a host name like smtp.example.com (got {raw:?})"));
                }
                self.host = host.to_owned();
            }
            "EMAIL_PORT" => self.port = number::<u16>(key, raw, "a port number")?,
            "EMAIL_HOST_USER" => self.host_user = raw.trim().to_owned(),
            // Passwords may start or end with spaces.
            "EMAIL_HOST_PASSWORD" => self.host_password = raw.to_owned(),
            "EMAIL_USE_TLS" => self.use_tls = flag(key, raw)?,
            "EMAIL_USE_SSL" => self.use_ssl = flag(key, raw)?,
            "EMAIL_TIMEOUT" => {
                let secs = number::<f64>(key, raw, "a number of seconds")?;
                if !(secs > 0.0 && secs < 3600.0) {
                    return Err(format!("{key} must be a number of seconds between 0 and 3600 (got {raw:?})"));
                }
                self.timeout = Duration::from_secs_f64(secs);
            }
            "EMAIL_SSL_CAFILE" => {
                self.ssl_cafile = Some(PathBuf::from(raw.trim())).filter(|p| !p.as_os_str().is_empty())
            }
            "EMAIL_FILE_PATH" => self.file_path = Some(PathBuf::from(raw.trim())).filter(|p| !p.as_os_str().is_empty()),
            "DEFAULT_FROM_EMAIL" => self.default_from_email = address(key, raw)?,
            "SERVER_EMAIL" => self.server_email = address(key, raw)?,
            _ => return Err(format!("{key} is not an email setting")),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::conf::{EmailBackendName, Settings};

    fn load(toml: &str, env: &'static [(&'static str, &'static str)]) -> Result<Settings, String> {
        Settings::from_sources(Some(toml), |k| env.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string()))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn email_settings_from_the_file_and_the_environment() {
        let s = load(
            "DEBUG = true\nEMAIL_BACKEND = 'django.core.mail.backends.smtp.EmailBackend'\nEMAIL_PORT = 587\n\
             EMAIL_USE_TLS = true",
            &[("EMAIL_HOST", "email-smtp.eu-west-1.amazonaws.com"), ("EMAIL_HOST_PASSWORD", " s3cret ")],
        )
        .unwrap();
        assert_eq!(s.email.backend_or_default(true), EmailBackendName::Smtp);
        assert_eq!(
            (s.email.host.as_str(), s.email.port, s.email.use_tls),
            ("email-smtp.eu-west-1.amazonaws.com", 587, true)
        );
        assert_eq!(s.email.host_password, " s3cret ", "a password keeps its spaces");
        assert!(!format!("{s:?}").contains("s3cret"), "the password is not in the settings' Debug");
        // The defaults: console with DEBUG on, SMTP with it off.
        let dev = load("DEBUG = true", &[]).unwrap();
        assert_eq!(dev.email.backend_or_default(dev.debug), EmailBackendName::Console);
        assert_eq!(dev.email.backend_or_default(false), EmailBackendName::Smtp);
        assert_eq!(dev.email.default_from_email, "webmaster@localhost");
    }

    #[test]
    fn bad_email_settings_are_refused_with_what_to_do() {
        for (toml, says) in [
            ("EMAIL_USE_TLS = true\nEMAIL_USE_SSL = true", "use one"),
            ("EMAIL_BACKEND = 'file'", "EMAIL_FILE_PATH"),
            ("EMAIL_BACKEND = 'pigeon'", "smtp, console, file, locmem or dummy"),
            ("EMAIL_PORT = 99999", "EMAIL_PORT"),
            ("EMAIL_TIMEOUT = 0", "EMAIL_TIMEOUT"),
            ("DEFAULT_FROM_EMAIL = 'nobody'", "DEFAULT_FROM_EMAIL"),
        ] {
            let err = load(&format!("DEBUG = true\n{toml}"), &[]).unwrap_err();
            assert!(err.contains(says), "{toml}: {err}");
        }
        let err = load("DEBUG = true", &[("DEFAULT_FROM_EMAIL", "a@example.com\r\nBcc: x@example.com")]).unwrap_err();
        assert!(err.contains("DEFAULT_FROM_EMAIL"), "{err}");
    }
}
