//! The settings of sessions, CSRF protection and login (Django's `SESSION_*`, `CSRF_*`,
//! `LOGIN_*`), with Django's names and defaults.

use std::time::Duration;

use cookie::SameSite;

use super::{Group, flag, number};

/// Where session data lives (SESSION_ENGINE).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEngine {
    /// `signed_cookies` (the default): the data itself, signed with SECRET_KEY, in the cookie.
    /// No server state, which is what a Lambda function wants.
    SignedCookies,
    /// `db`: a row of the `djambda_session` table per session; the cookie holds its key.
    Database,
    /// `cache`: a Redis key per session (REDIS_URL); the cookie holds its key.
    Cache,
}

/// The session settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sessions {
    /// SESSION_ENGINE: `signed_cookies` (default), `db` or `cache`.
    pub engine: SessionEngine,
    /// SESSION_COOKIE_NAME (`sessionid`).
    pub cookie_name: String,
    /// SESSION_COOKIE_AGE in seconds (two weeks): how long a session lasts.
    pub cookie_age: Duration,
    /// SESSION_COOKIE_HTTPONLY (on): scripts cannot read the cookie.
    pub cookie_httponly: bool,
    /// SESSION_COOKIE_SECURE (off): send the cookie over HTTPS only. Requests that are known to
    /// be HTTPS (see SECURE_PROXY_SSL_HEADER) get the flag whatever this says.
    pub cookie_secure: bool,
    /// SESSION_COOKIE_SAMESITE (`Lax`; `Strict`, `None`, or empty for no attribute).
    pub cookie_samesite: Option<SameSite>,
    /// SESSION_COOKIE_DOMAIN (unset: the host that set it).
    pub cookie_domain: Option<String>,
    /// SESSION_COOKIE_PATH (`/`).
    pub cookie_path: String,
    /// SESSION_EXPIRE_AT_BROWSER_CLOSE (off): a cookie without Max-Age.
    pub expire_at_browser_close: bool,
    /// SESSION_SAVE_EVERY_REQUEST (off): refresh the expiry on every request, not only on change.
    pub save_every_request: bool,
    /// REDIS_URL (unset): the Redis server of the `cache` engine (`redis://host:6379/0`).
    pub redis_url: Option<String>,
}

impl Default for Sessions {
    fn default() -> Self {
        Sessions {
            engine: SessionEngine::SignedCookies,
            cookie_name: "sessionid".into(),
            cookie_age: Duration::from_secs(60 * 60 * 24 * 7 * 2),
            cookie_httponly: true,
            cookie_secure: false,
            cookie_samesite: Some(SameSite::Lax),
            cookie_domain: None,
            cookie_path: "/".into(),
            expire_at_browser_close: false,
            save_every_request: false,
            redis_url: None,
        }
    }
}

fn same_site(key: &str, raw: &str) -> Result<Option<SameSite>, String> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "lax" => Ok(Some(SameSite::Lax)),
        "strict" => Ok(Some(SameSite::Strict)),
        "none" => Ok(Some(SameSite::None)),
        "" | "false" => Ok(None),
        _ => Err(format!("{key} must be Lax, Strict, None or empty (got {raw:?})")),
    }
}

fn seconds(key: &str, raw: &str) -> Result<Duration, String> {
    number::<u64>(key, raw, "a number of seconds").map(Duration::from_secs)
}

fn name(key: &str, raw: &str) -> Result<String, String> {
    let name = raw.trim();
    let valid = !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if valid { Ok(name.to_owned()) } else { Err(format!("{key} must be a cookie name like `sessionid` (got {raw:?})")) }
}

impl Group for Sessions {
    const KEYS: &'static [&'static str] = &[
        "SESSION_ENGINE",
        "SESSION_COOKIE_NAME",
        "SESSION_COOKIE_AGE",
        "SESSION_COOKIE_HTTPONLY",
        "SESSION_COOKIE_SECURE",
        "SESSION_COOKIE_SAMESITE",
        "SESSION_COOKIE_DOMAIN",
        "SESSION_COOKIE_PATH",
        "SESSION_EXPIRE_AT_BROWSER_CLOSE",
        "SESSION_SAVE_EVERY_REQUEST",
        "REDIS_URL",
    ];

    fn apply(&mut self, key: &str, raw: &str) -> Result<(), String> {
        match key {
            "SESSION_ENGINE" => {
                // Django's dotted names are accepted too, so a settings file carried over works.
                let short = raw.trim().rsplit('.').next().unwrap_or("");
                self.engine = match short {
                    "signed_cookies" | "" => SessionEngine::SignedCookies,
                    "db" => SessionEngine::Database,
                    "cache" => SessionEngine::Cache,
                    _ => return Err(format!("{key} must be signed_cookies, db or cache (got {raw:?})")),
                }
            }
            "SESSION_COOKIE_NAME" => self.cookie_name = name(key, raw)?,
            "SESSION_COOKIE_AGE" => self.cookie_age = seconds(key, raw)?,
            "SESSION_COOKIE_HTTPONLY" => self.cookie_httponly = flag(key, raw)?,
            "SESSION_COOKIE_SECURE" => self.cookie_secure = flag(key, raw)?,
            "SESSION_COOKIE_SAMESITE" => self.cookie_samesite = same_site(key, raw)?,
            "SESSION_COOKIE_DOMAIN" => {
                self.cookie_domain = Some(raw.trim().to_owned()).filter(|d| !d.is_empty());
            }
            "SESSION_COOKIE_PATH" => {
                if !raw.trim().starts_with('/') {
                    return Err(format!("{key} must start with `/` (got {raw:?})"));
                }
                self.cookie_path = raw.trim().to_owned();
            }
            "SESSION_EXPIRE_AT_BROWSER_CLOSE" => self.expire_at_browser_close = flag(key, raw)?,
            "SESSION_SAVE_EVERY_REQUEST" => self.save_every_request = flag(key, raw)?,
            "REDIS_URL" => {
                let url = raw.trim();
                if !url.is_empty() && !url.starts_with("redis://") && !url.starts_with("rediss://") {
                    return Err(format!("{key} must be a redis:// URL, like redis://127.0.0.1:6379/0 (got {raw:?})"));
                }
                self.redis_url = Some(url.to_owned()).filter(|u| !u.is_empty());
            }
            _ => return Err(format!("{key} is not a session setting")),
        }
        Ok(())
    }
}

/// The CSRF protection settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Csrf {
    /// CSRF_COOKIE_NAME (`csrftoken`).
    pub cookie_name: String,
    /// CSRF_COOKIE_AGE in seconds (a year).
    pub cookie_age: Duration,
    /// CSRF_COOKIE_HTTPONLY (off: JavaScript clients read the token from the cookie).
    pub cookie_httponly: bool,
    /// CSRF_COOKIE_SECURE (off; on for requests known to be HTTPS whatever this says).
    pub cookie_secure: bool,
    /// CSRF_COOKIE_SAMESITE (`Lax`).
    pub cookie_samesite: Option<SameSite>,
    /// CSRF_HEADER_NAME (`X-CSRFToken`): where JavaScript clients send the token.
    pub header_name: String,
    /// CSRF_TRUSTED_ORIGINS (none): other origins allowed to post (`https://*.example.com`).
    pub trusted_origins: Vec<String>,
}

impl Default for Csrf {
    fn default() -> Self {
        Csrf {
            cookie_name: "csrftoken".into(),
            cookie_age: Duration::from_secs(60 * 60 * 24 * 7 * 52),
            cookie_httponly: false,
            cookie_secure: false,
            cookie_samesite: Some(SameSite::Lax),
            header_name: "x-csrftoken".into(),
            trusted_origins: Vec::new(),
        }
    }
}

impl Group for Csrf {
    const KEYS: &'static [&'static str] = &[
        "CSRF_COOKIE_NAME",
        "CSRF_COOKIE_AGE",
        "CSRF_COOKIE_HTTPONLY",
        "CSRF_COOKIE_SECURE",
        "CSRF_COOKIE_SAMESITE",
        "CSRF_HEADER_NAME",
        "CSRF_TRUSTED_ORIGINS",
    ];

    fn apply(&mut self, key: &str, raw: &str) -> Result<(), String> {
        match key {
            "CSRF_COOKIE_NAME" => self.cookie_name = name(key, raw)?,
            "CSRF_COOKIE_AGE" => self.cookie_age = seconds(key, raw)?,
            "CSRF_COOKIE_HTTPONLY" => self.cookie_httponly = flag(key, raw)?,
            "CSRF_COOKIE_SECURE" => self.cookie_secure = flag(key, raw)?,
            "CSRF_COOKIE_SAMESITE" => self.cookie_samesite = same_site(key, raw)?,
            "CSRF_HEADER_NAME" => {
                // Django writes it as the WSGI key (HTTP_X_CSRFTOKEN); both spellings work.
                let header = raw.trim().trim_start_matches("HTTP_").replace('_', "-").to_ascii_lowercase();
                if http::HeaderName::from_bytes(header.as_bytes()).is_err() || header.is_empty() {
                    return Err(format!("{key} must be a header name like X-CSRFToken (got {raw:?})"));
                }
                self.header_name = header;
            }
            "CSRF_TRUSTED_ORIGINS" => {
                let mut origins = Vec::new();
                for origin in raw.split(',').map(str::trim).filter(|o| !o.is_empty()) {
                    if !(origin.starts_with("https://") || origin.starts_with("http://")) {
                        return Err(format!(
                            "{key}: origins start with a scheme, like https://crm.example.com (got {origin:?})"
                        ));
                    }
                    origins.push(origin.trim_end_matches('/').to_ascii_lowercase());
                }
                self.trusted_origins = origins;
            }
            _ => return Err(format!("{key} is not a CSRF setting")),
        }
        Ok(())
    }
}

/// The login settings (Django's `LOGIN_URL`, `LOGIN_REDIRECT_URL`, `LOGOUT_REDIRECT_URL`),
/// each a path or a route name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Auth {
    /// LOGIN_URL (`/accounts/login/`): where `login_required` sends anonymous visitors.
    pub login_url: String,
    /// LOGIN_REDIRECT_URL (`/`): where a login without `next` goes.
    pub login_redirect_url: String,
    /// LOGOUT_REDIRECT_URL (unset: the "logged out" page).
    pub logout_redirect_url: Option<String>,
    /// LOGIN_FAILURE_LIMIT (5): failed logins in a row for one username before each further
    /// attempt must wait, twice as long each time.
    pub login_failure_limit: u32,
    /// PASSWORD_MIN_LENGTH (8): the shortest password the validators accept.
    pub password_min_length: usize,
    /// PASSWORD_RESET_TIMEOUT in seconds (three days): how long a password reset or
    /// invitation link stays good.
    pub password_reset_timeout: Duration,
}

impl Default for Auth {
    fn default() -> Self {
        Auth {
            login_url: "/accounts/login/".into(),
            login_redirect_url: "/".into(),
            logout_redirect_url: None,
            login_failure_limit: 5,
            password_min_length: 8,
            password_reset_timeout: Duration::from_secs(60 * 60 * 24 * 3),
        }
    }
}

impl Group for Auth {
    const KEYS: &'static [&'static str] = &[
        "LOGIN_URL",
        "LOGIN_REDIRECT_URL",
        "LOGOUT_REDIRECT_URL",
        "LOGIN_FAILURE_LIMIT",
        "PASSWORD_MIN_LENGTH",
        "PASSWORD_RESET_TIMEOUT",
    ];

    fn apply(&mut self, key: &str, raw: &str) -> Result<(), String> {
        let url = |raw: &str| -> Result<String, String> {
            let v = raw.trim();
            if v.is_empty() {
                return Err(format!("{key} must be a path (`/accounts/login/`) or a route name (got {raw:?})"));
            }
            Ok(v.to_owned())
        };
        match key {
            "LOGIN_URL" => self.login_url = url(raw)?,
            "LOGIN_REDIRECT_URL" => self.login_redirect_url = url(raw)?,
            "LOGOUT_REDIRECT_URL" => self.logout_redirect_url = Some(raw.trim().to_owned()).filter(|v| !v.is_empty()),
            "LOGIN_FAILURE_LIMIT" => {
                self.login_failure_limit = number::<u32>(key, raw, "a number of failed logins, at least 1")?.max(1)
            }
            "PASSWORD_MIN_LENGTH" => self.password_min_length = number::<usize>(key, raw, "a number of characters")?,
            "PASSWORD_RESET_TIMEOUT" => self.password_reset_timeout = seconds(key, raw)?,
            _ => return Err(format!("{key} is not a login setting")),
        }
        Ok(())
    }
}
