//! Settings (Django's `django.conf.settings`): loaded once at start from defaults, the site's
//! optional `settings.toml`, then environment variables on top.

mod cache;
mod database;
mod email;
mod lambda;
mod security;
mod server;
mod sessions;

use std::fmt;

pub use cache::{Cache, CacheBackendName};
pub use database::{JournalMode, Pooler, Sqlite};
pub use email::{Email, EmailBackendName};
pub use lambda::InvokeMode;
pub use security::{CSP_NONCE, Security};
pub use server::Server;
pub use sessions::{Auth, Csrf, SessionEngine, Sessions};

/// A group of related settings (`SECURE_*`, `SESSION_*`, …) that parses its own keys.
pub(crate) trait Group {
    /// The setting names the group owns.
    const KEYS: &'static [&'static str];
    /// Sets `key` from its text (an environment variable, or a TOML value written out).
    fn apply(&mut self, key: &str, raw: &str) -> Result<(), String>;
}

/// A true/false setting.
pub(crate) fn flag(key: &str, raw: &str) -> Result<bool, String> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" | "" => Ok(false),
        _ => Err(format!("{key} must be true or false (got {raw:?})")),
    }
}

/// A numeric setting; `what` says what the number counts, for the message.
pub(crate) fn number<T: std::str::FromStr>(key: &str, raw: &str, what: &str) -> Result<T, String> {
    raw.trim().parse().map_err(|_| format!("{key} must be {what} (got {raw:?})"))
}

/// The secret used when DEBUG is on and none is set. Refused with DEBUG off.
pub const DEV_SECRET_KEY: &str = "djambda-insecure-development-key-do-not-use-in-production";

/// The site's settings. Field names follow Django's setting names in lower case; in
/// `settings.toml` and the environment they are written in Django's upper case (`DEBUG`,
/// `ALLOWED_HOSTS`, …).
///
/// ```
/// use djambda::Settings;
///
/// let toml = "DEBUG = true\nALLOWED_HOSTS = ['crm.example.com']\nCOMPANY_NAME = 'Acme'";
/// let env = |name: &str| (name == "DEBUG").then(|| "false".to_string());
/// let err = Settings::from_sources(Some(toml), env).unwrap_err();
/// assert!(err.to_string().contains("SECRET_KEY"), "DEBUG off needs a real secret");
///
/// let env = |name: &str| match name {
///     "SECRET_KEY" => Some("k".repeat(50)),
///     _ => None,
/// };
/// let s = Settings::from_sources(Some(toml), env).unwrap();
/// assert!(s.debug);
/// assert_eq!(s.extra["COMPANY_NAME"].as_str(), Some("Acme"));
/// ```
#[derive(Debug, Clone)]
pub struct Settings {
    /// DEBUG: developer error pages and template reloading. Defaults to on in a debug build and
    /// off in a release build.
    pub debug: bool,
    /// SECRET_KEY: signs cookies and tokens. Must be set (and not the development default) when
    /// DEBUG is off.
    pub secret_key: String,
    /// ALLOWED_HOSTS: host names this site answers; `.example.com` also matches subdomains and
    /// `*` matches every host. Empty with DEBUG on means the local names.
    pub allowed_hosts: Vec<String>,
    /// DATABASE_URL: where the database is (`sqlite://…`, `postgres://…`, `mysql://…`); by
    /// default an SQLite file `db.sqlite3` in the site's base directory.
    pub database_url: Option<String>,
    /// DATABASE_POOL_SIZE: connections kept open. By default one per invocation the instance
    /// serves at once: 1 on classic Lambda and in one-shot commands, AWS_LAMBDA_MAX_CONCURRENCY
    /// where the runtime sets it (Lambda Managed Instances). `manage runserver` serves many
    /// requests at once: give it more.
    pub database_pool_size: u32,
    /// DATABASE_POOLER: `transaction` when DATABASE_URL is a PostgreSQL pooler in transaction
    /// mode (PgBouncer's `pool_mode = transaction`); see [`Pooler`].
    pub database_pooler: Pooler,
    /// DATABASE_CONNECT_TIMEOUT (seconds): how long a request waits for a connection before
    /// the database counts as unavailable (503).
    pub database_connect_timeout: std::time::Duration,
    /// How an SQLite database is opened (`SQLITE_*`): its journal mode and busy timeout.
    pub sqlite: Sqlite,
    /// How `manage runserver` treats its clients (`SERVER_*`): timeouts and a connection cap.
    pub server: Server,
    /// LAMBDA_INVOKE_MODE: `RESPONSE_STREAM` when the function sits behind a Function URL in
    /// streaming mode; see [`InvokeMode`].
    pub lambda_invoke_mode: InvokeMode,
    /// STATIC_URL: where static files are served (`/static/` by default).
    pub static_url: String,
    /// APPEND_SLASH: redirect `/contacts` to `/contacts/` when only the latter exists.
    pub append_slash: bool,
    /// DATA_UPLOAD_MAX_MEMORY_SIZE: the largest request body accepted, in bytes (413 past it).
    pub data_upload_max_memory_size: usize,
    /// FORCE_SCRIPT_NAME: the prefix the site is served under when the front door cannot tell
    /// (a custom domain with a base-path mapping); overrides the stage prefix.
    pub force_script_name: Option<String>,
    /// FILE_UPLOAD_MAX_SIZE: the largest multipart (file upload) body accepted, in bytes, files
    /// and fields together (413 past it; DATA_UPLOAD_MAX_MEMORY_SIZE bounds the other bodies). 4 MiB by default: a Lambda event carries at most 6 MB, and a binary body
    /// arrives base64-encoded, a third larger.
    pub file_upload_max_size: usize,
    /// FILE_UPLOAD_TEMP_DIR: where uploaded files are written (the system's temporary folder,
    /// `/tmp` on Lambda, by default).
    pub file_upload_temp_dir: Option<std::path::PathBuf>,
    /// The security headers and HTTPS policy (Django's `SECURE_*` and `X_FRAME_OPTIONS`).
    pub security: Security,
    /// Sessions (Django's `SESSION_*`).
    pub sessions: Sessions,
    /// CSRF protection (Django's `CSRF_*`).
    pub csrf: Csrf,
    /// Login and passwords (Django's `LOGIN_URL` and friends).
    pub auth: Auth,
    /// Sending email (Django's `EMAIL_*`, `DEFAULT_FROM_EMAIL`, `SERVER_EMAIL`).
    pub email: Email,
    /// The cache (Django's `CACHES["default"]`, as `CACHE_*` or a `[CACHES.default]` table).
    pub cache: Cache,
    /// Every other upper-case key of `settings.toml`: the site's own settings.
    pub extra: toml::Table,
    /// Where the settings' environment variables came from, for the settings an app reads
    /// itself ([`Settings::setting`]).
    env: EnvLookup,
}

/// A lookup of environment variables by name.
type EnvFn = dyn Fn(&str) -> Option<String> + Send + Sync;

/// The environment the settings were loaded from (the process's, or the one a test gave).
#[derive(Clone, Default)]
struct EnvLookup(Option<std::sync::Arc<EnvFn>>);

impl fmt::Debug for EnvLookup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() { "EnvLookup(..)" } else { "EnvLookup(none)" })
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            debug: cfg!(debug_assertions),
            secret_key: String::new(),
            allowed_hosts: Vec::new(),
            database_url: None,
            database_pool_size: 1,
            database_connect_timeout: std::time::Duration::from_secs(5),
            database_pooler: Pooler::None,
            lambda_invoke_mode: InvokeMode::Buffered,
            sqlite: Sqlite::default(),
            server: Server::default(),
            static_url: "/static/".into(),
            append_slash: true,
            data_upload_max_memory_size: 2_621_440,
            force_script_name: None,
            file_upload_max_size: 4 * 1024 * 1024,
            file_upload_temp_dir: None,
            security: Security::default(),
            sessions: Sessions::default(),
            csrf: Csrf::default(),
            auth: Auth::default(),
            email: Email::default(),
            cache: Cache::default(),
            extra: toml::Table::new(),
            env: EnvLookup::default(),
        }
    }
}

/// Settings that cannot be used; lists every problem found, each with how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingsError {
    /// One line per problem.
    pub problems: Vec<String>,
}

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid settings: {}", self.problems.join("; "))
    }
}

impl std::error::Error for SettingsError {}

/// How many invocations the Lambda runtime hands this instance at once, when it is more than
/// one (AWS_LAMBDA_MAX_CONCURRENCY, set by Lambda Managed Instances). Unset, unreadable or 1:
/// one at a time, as on classic Lambda.
pub(crate) fn lambda_concurrency(env: &dyn Fn(&str) -> Option<String>) -> Option<u32> {
    env("AWS_LAMBDA_MAX_CONCURRENCY")?.parse::<u32>().ok().filter(|n| *n > 1)
}

impl Settings {
    /// Loads settings from `settings_toml` (the site's file, usually embedded with
    /// `include_str!`) and the process environment.
    pub fn load(settings_toml: Option<&str>) -> Result<Settings, SettingsError> {
        Self::from_sources(settings_toml, |name| std::env::var(name).ok())
    }

    /// Loads settings from a TOML text and an environment lookup (tests pass their own).
    pub fn from_sources(
        settings_toml: Option<&str>,
        env: impl Fn(&str) -> Option<String> + Send + Sync + 'static,
    ) -> Result<Settings, SettingsError> {
        let mut s = Settings::default();
        let mut problems = Vec::new();
        let mut secret_from_file = false;
        if let Some(concurrency) = lambda_concurrency(&env) {
            s.database_pool_size = concurrency;
        }

        if let Some(text) = settings_toml {
            match text.parse::<toml::Table>() {
                Err(e) => problems.push(format!("settings.toml is not valid TOML: {}", e.to_string().trim())),
                Ok(table) => {
                    for (key, value) in table {
                        if let Err(p) = s.apply_toml(&key, value, &mut secret_from_file) {
                            problems.push(p);
                        }
                    }
                }
            }
        }

        for key in [
            "DEBUG",
            "SECRET_KEY",
            "ALLOWED_HOSTS",
            "DATABASE_URL",
            "STATIC_URL",
            "APPEND_SLASH",
            "DATA_UPLOAD_MAX_MEMORY_SIZE",
            "FORCE_SCRIPT_NAME",
            "DATABASE_POOL_SIZE",
            "DATABASE_POOLER",
            "DATABASE_CONNECT_TIMEOUT",
            "LAMBDA_INVOKE_MODE",
            "FILE_UPLOAD_MAX_SIZE",
            "FILE_UPLOAD_TEMP_DIR",
        ]
        .iter()
        .chain(Security::KEYS)
        .chain(Sessions::KEYS)
        .chain(Csrf::KEYS)
        .chain(Auth::KEYS)
        .chain(Email::KEYS)
        .chain(Cache::KEYS)
        .chain(Sqlite::KEYS)
        .chain(Server::KEYS)
        {
            if let Some(raw) = env(key)
                && let Err(p) = s.apply_env(key, &raw)
            {
                problems.push(p);
            }
        }

        if !s.static_url.ends_with('/') {
            problems.push(format!("STATIC_URL must end with `/` (got {:?})", s.static_url));
        }
        if let Some(prefix) = &s.force_script_name
            && !prefix.is_empty()
            && (!prefix.starts_with('/') || prefix.ends_with('/'))
        {
            problems.push(format!(
                "FORCE_SCRIPT_NAME must start with `/` and not end with one, like `/app` (got {prefix:?})"
            ));
        }
        if s.database_pooler == Pooler::Transaction
            && !s
                .database_url
                .as_deref()
                .is_some_and(|u| u.starts_with("postgres://") || u.starts_with("postgresql://"))
        {
            problems.push(
                "DATABASE_POOLER = \"transaction\" is for PostgreSQL behind a pooler in transaction mode: set DATABASE_URL \
                 to the pooler (postgres://user@pgbouncer:6432/db), or leave DATABASE_POOLER unset"
                    .into(),
            );
        }
        problems.extend(s.email.problems());
        if s.secret_key.is_empty() && s.debug {
            s.secret_key = DEV_SECRET_KEY.into();
        }
        if !s.debug
            && (s.secret_key.is_empty()
                || s.secret_key == DEV_SECRET_KEY
                || s.secret_key.starts_with("django-insecure-")
                || s.secret_key.starts_with("djambda-insecure-"))
        {
            problems.push(
                "SECRET_KEY is not set: with DEBUG off the site needs a secret of its own. Set the SECRET_KEY environment \
                 variable to a long random string, e.g. `export SECRET_KEY=$(python3 -c 'import secrets; print(secrets.token_urlsafe(50))')`, \
                 or set DEBUG=true for local development"
                    .into(),
            );
        } else if secret_from_file && !s.debug {
            tracing::warn!("SECRET_KEY comes from settings.toml; keep production secrets in the environment instead");
        }
        if s.allowed_hosts.is_empty() && s.debug {
            s.allowed_hosts = vec![".localhost".into(), "localhost".into(), "127.0.0.1".into(), "[::1]".into()];
        }

        s.env = EnvLookup(Some(std::sync::Arc::new(env)));
        if problems.is_empty() { Ok(s) } else { Err(SettingsError { problems }) }
    }

    /// A setting an app reads itself (`TASKS_BACKEND`), the way the framework reads its own:
    /// the environment variable `key` when it is set, else the key of `settings.toml` written
    /// out (a string as it is; a number or true/false as text). `None` when neither has it.
    ///
    /// ```
    /// use djambda::Settings;
    ///
    /// let env = |name: &str| (name == "TASKS_BACKEND").then(|| "database".to_string());
    /// let s = Settings::from_sources(Some("DEBUG = true\nTASKS_BACKEND = 'immediate'\nRETRIES = 3"), env).unwrap();
    /// assert_eq!(s.setting("TASKS_BACKEND").as_deref(), Some("database"));
    /// assert_eq!(s.setting("RETRIES").as_deref(), Some("3"));
    /// assert_eq!(s.setting("EMAIL_HOST"), None);
    /// ```
    pub fn setting(&self, key: &str) -> Option<String> {
        if let Some(value) = self.env.0.as_ref().and_then(|env| env(key)) {
            return Some(value);
        }
        match self.extra.get(key)? {
            toml::Value::String(text) => Some(text.clone()),
            toml::Value::Integer(n) => Some(n.to_string()),
            toml::Value::Float(n) => Some(n.to_string()),
            toml::Value::Boolean(b) => Some(b.to_string()),
            _ => None,
        }
    }

    fn apply_toml(&mut self, key: &str, value: toml::Value, secret_from_file: &mut bool) -> Result<(), String> {
        let shown = format!("{value:?}");
        let want = |what: &str| format!("{key} in settings.toml must be {what} (got {shown})");
        match key {
            "DEBUG" => self.debug = value.as_bool().ok_or_else(|| want("true or false"))?,
            "APPEND_SLASH" => self.append_slash = value.as_bool().ok_or_else(|| want("true or false"))?,
            "SECRET_KEY" => {
                self.secret_key = value.as_str().ok_or_else(|| want("a string"))?.to_owned();
                *secret_from_file = true;
            }
            "DATABASE_URL" => self.database_url = Some(value.as_str().ok_or_else(|| want("a string"))?.to_owned()),
            "STATIC_URL" => self.static_url = value.as_str().ok_or_else(|| want("a string"))?.to_owned(),
            "FORCE_SCRIPT_NAME" => {
                self.force_script_name = Some(value.as_str().ok_or_else(|| want("a string"))?.to_owned())
            }
            "DATABASE_POOL_SIZE" => {
                self.database_pool_size = value
                    .as_integer()
                    .and_then(|n| u32::try_from(n).ok())
                    .filter(|n| *n > 0)
                    .ok_or_else(|| want("a number of connections, at least 1"))?
            }
            "DATABASE_POOLER" => self.database_pooler = Pooler::parse(value.as_str().ok_or_else(|| want("a string"))?)?,
            "LAMBDA_INVOKE_MODE" => {
                self.lambda_invoke_mode = InvokeMode::parse(value.as_str().ok_or_else(|| want("a string"))?)?
            }
            "DATABASE_CONNECT_TIMEOUT" => {
                let secs = value.as_float().or_else(|| value.as_integer().map(|n| n as f64));
                self.database_connect_timeout = secs
                    .filter(|s| *s > 0.0 && *s < 3600.0)
                    .map(std::time::Duration::from_secs_f64)
                    .ok_or_else(|| want("a number of seconds"))?
            }
            "DATA_UPLOAD_MAX_MEMORY_SIZE" => {
                self.data_upload_max_memory_size = value
                    .as_integer()
                    .and_then(|n| usize::try_from(n).ok())
                    .ok_or_else(|| want("a non-negative number of bytes"))?
            }
            "ALLOWED_HOSTS" => {
                let list = value.as_array().ok_or_else(|| want("a list of host names"))?;
                self.allowed_hosts = list
                    .iter()
                    .map(|v| v.as_str().map(str::to_owned))
                    .collect::<Option<_>>()
                    .ok_or_else(|| want("a list of host names"))?;
            }
            "FILE_UPLOAD_MAX_SIZE" => {
                self.file_upload_max_size = value
                    .as_integer()
                    .and_then(|n| usize::try_from(n).ok())
                    .ok_or_else(|| want("a non-negative number of bytes"))?
            }
            "FILE_UPLOAD_TEMP_DIR" => {
                self.file_upload_temp_dir = Some(value.as_str().ok_or_else(|| want("a folder"))?.into())
            }
            "CACHES" => self.cache.apply_table(&value)?,
            _ if self.group_owns(key) => {
                let raw = match &value {
                    toml::Value::String(text) => text.clone(),
                    toml::Value::Boolean(b) => b.to_string(),
                    toml::Value::Integer(n) => n.to_string(),
                    // Lists (CSRF_TRUSTED_ORIGINS) are written as the environment has them.
                    toml::Value::Array(items) if items.iter().all(|v| v.is_str()) => {
                        items.iter().filter_map(|v| v.as_str()).collect::<Vec<_>>().join(",")
                    }
                    // A policy in Django's shape, `{ "script-src" = ["'self'", "'nonce'"] }`,
                    // as the header writes it.
                    toml::Value::Table(directives) if key.starts_with("SECURE_CSP") => {
                        let mut parts = Vec::new();
                        for (directive, sources) in directives {
                            let sources = match sources {
                                toml::Value::Array(items) if items.iter().all(|v| v.is_str()) => {
                                    items.iter().filter_map(|v| v.as_str()).collect::<Vec<_>>().join(" ")
                                }
                                toml::Value::String(one) => one.clone(),
                                _ => return Err(want("a table of directives, each a list of sources")),
                            };
                            parts.push(format!("{directive} {sources}"));
                        }
                        parts.join("; ")
                    }
                    _ => return Err(want("a string, a number or true/false")),
                };
                self.apply_group(key, &raw).map_err(|e| format!("settings.toml: {e}"))?;
            }
            _ if key.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_') => {
                self.extra.insert(key.to_owned(), value);
            }
            _ => {
                return Err(format!(
                    "settings.toml key `{key}` is not a setting: setting names are upper case, like Django's"
                ));
            }
        }
        Ok(())
    }

    fn apply_env(&mut self, key: &str, raw: &str) -> Result<(), String> {
        match key {
            "DEBUG" => self.debug = parse_bool(key, raw)?,
            "APPEND_SLASH" => self.append_slash = parse_bool(key, raw)?,
            "SECRET_KEY" => self.secret_key = raw.to_owned(),
            "DATABASE_URL" => self.database_url = Some(raw.to_owned()),
            "STATIC_URL" => self.static_url = raw.to_owned(),
            "FORCE_SCRIPT_NAME" => self.force_script_name = Some(raw.to_owned()),
            "DATA_UPLOAD_MAX_MEMORY_SIZE" => {
                self.data_upload_max_memory_size = raw
                    .trim()
                    .parse()
                    .map_err(|_| format!("the environment variable {key} must be a number of bytes (got {raw:?})"))?
            }
            "DATABASE_POOL_SIZE" => {
                self.database_pool_size = raw.trim().parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                    format!("the environment variable {key} must be a number of connections, at least 1 (got {raw:?})")
                })?
            }
            "DATABASE_POOLER" => self.database_pooler = Pooler::parse(raw)?,
            "LAMBDA_INVOKE_MODE" => self.lambda_invoke_mode = InvokeMode::parse(raw)?,
            "DATABASE_CONNECT_TIMEOUT" => {
                self.database_connect_timeout = raw
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|s| *s > 0.0 && *s < 3600.0)
                    .map(std::time::Duration::from_secs_f64)
                    .ok_or_else(|| {
                        format!("the environment variable {key} must be a number of seconds (got {raw:?})")
                    })?
            }
            "ALLOWED_HOSTS" => {
                self.allowed_hosts =
                    raw.split(',').map(str::trim).filter(|h| !h.is_empty()).map(str::to_owned).collect()
            }
            "FILE_UPLOAD_MAX_SIZE" => {
                self.file_upload_max_size =
                    number(key, raw, "a number of bytes").map_err(|e| format!("the environment variable {e}"))?
            }
            "FILE_UPLOAD_TEMP_DIR" => {
                self.file_upload_temp_dir = Some(raw.into()).filter(|p: &std::path::PathBuf| !p.as_os_str().is_empty())
            }
            _ if self.group_owns(key) => {
                self.apply_group(key, raw).map_err(|e| format!("the environment variable {e}"))?
            }
            _ => {}
        }
        Ok(())
    }

    fn group_owns(&self, key: &str) -> bool {
        [Security::KEYS, Sessions::KEYS, Csrf::KEYS, Auth::KEYS, Email::KEYS, Cache::KEYS, Sqlite::KEYS, Server::KEYS]
            .iter()
            .any(|keys| keys.contains(&key))
    }

    fn apply_group(&mut self, key: &str, raw: &str) -> Result<(), String> {
        if Security::KEYS.contains(&key) {
            self.security.apply(key, raw)
        } else if Sessions::KEYS.contains(&key) {
            self.sessions.apply(key, raw)
        } else if Csrf::KEYS.contains(&key) {
            self.csrf.apply(key, raw)
        } else if Sqlite::KEYS.contains(&key) {
            self.sqlite.apply(key, raw)
        } else if Server::KEYS.contains(&key) {
            self.server.apply(key, raw)
        } else if Email::KEYS.contains(&key) {
            self.email.apply(key, raw)
        } else if Cache::KEYS.contains(&key) {
            self.cache.apply(key, raw)
        } else {
            self.auth.apply(key, raw)
        }
    }

    /// The largest body accepted for a request of this content type: FILE_UPLOAD_MAX_SIZE for
    /// multipart bodies (file uploads), DATA_UPLOAD_MAX_MEMORY_SIZE for the others.
    pub fn max_body_size(&self, content_type: Option<&str>) -> usize {
        let multipart = content_type
            .is_some_and(|ct| ct.trim_start().get(..19).is_some_and(|p| p.eq_ignore_ascii_case("multipart/form-data")));
        if multipart { self.file_upload_max_size } else { self.data_upload_max_memory_size }
    }

    /// The folder uploaded files are written to.
    pub fn upload_dir(&self) -> std::path::PathBuf {
        self.file_upload_temp_dir.clone().unwrap_or_else(std::env::temp_dir)
    }

    /// Whether `host` (a `Host` header, port included or not) is one this site serves,
    /// with Django's rules for ALLOWED_HOSTS.
    pub fn host_allowed(&self, host: &str) -> bool {
        // Runs on every request: compares without allocating.
        let host = host.trim_end_matches('.');
        let name = if host.starts_with('[') {
            host.find(']').map_or(host, |end| &host[..=end])
        } else {
            match host.rsplit_once(':') {
                Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
                _ => host,
            }
        };
        // Django's host_validation_re: a name of letters, digits, dots and hyphens, or a
        // bracketed IPv6 address. Anything else (`{host}`, `a_b`, `x y`) is refused even where
        // ALLOWED_HOSTS is `*`.
        let well_formed = match name.strip_prefix('[').and_then(|n| n.strip_suffix(']')) {
            Some(v6) => v6.contains(':') && v6.bytes().all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.'),
            None => name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-'),
        };
        if name.is_empty() || !well_formed {
            return false;
        }
        let name = name.as_bytes();
        self.allowed_hosts.iter().any(|pattern| {
            let p = pattern.as_bytes();
            p == b"*"
                || p.eq_ignore_ascii_case(name)
                || (p.first() == Some(&b'.')
                    && ((name.len() > p.len() && name[name.len() - p.len()..].eq_ignore_ascii_case(p))
                        || p[1..].eq_ignore_ascii_case(name)))
        })
    }

    /// A site-defined setting from `settings.toml`.
    pub fn get(&self, key: &str) -> Option<&toml::Value> {
        self.extra.get(key)
    }
}

fn parse_bool(key: &str, raw: &str) -> Result<bool, String> {
    flag(key, raw).map_err(|e| format!("the environment variable {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
    }

    #[test]
    fn environment_overrides_the_file() {
        let s = Settings::from_sources(
            Some("DEBUG = false\nSECRET_KEY = 'from-file-0123456789012345678901234567'"),
            with_env(&[("DEBUG", "on")]),
        )
        .unwrap();
        assert!(s.debug);
        assert!(s.secret_key.starts_with("from-file"));
    }

    #[test]
    fn the_pool_matches_the_invocations_served_at_once() {
        let pool = |env: &'static [(&'static str, &'static str)], file: Option<&str>| {
            Settings::from_sources(file, with_env(env)).unwrap().database_pool_size
        };
        assert_eq!(pool(&[("DEBUG", "1")], None), 1, "classic Lambda and one-shot commands");
        assert_eq!(pool(&[("DEBUG", "1"), ("AWS_LAMBDA_MAX_CONCURRENCY", "8")], None), 8);
        assert_eq!(pool(&[("DEBUG", "1"), ("AWS_LAMBDA_MAX_CONCURRENCY", "1")], None), 1);
        // Not the runtime's to refuse: an unreadable value is one at a time, as lambda_runtime reads it.
        assert_eq!(pool(&[("DEBUG", "1"), ("AWS_LAMBDA_MAX_CONCURRENCY", "many")], None), 1);
        let chosen = &[("DEBUG", "1"), ("AWS_LAMBDA_MAX_CONCURRENCY", "8"), ("DATABASE_POOL_SIZE", "3")];
        assert_eq!(pool(chosen, None), 3, "a pool size of the site's own wins");
        assert_eq!(pool(&[("DEBUG", "1"), ("AWS_LAMBDA_MAX_CONCURRENCY", "8")], Some("DATABASE_POOL_SIZE = 2")), 2);
    }

    #[test]
    fn a_transaction_pooler_is_for_postgresql() {
        let read = |env: &'static [(&'static str, &'static str)]| Settings::from_sources(None, with_env(env));
        let pooled = read(&[
            ("DEBUG", "1"),
            ("DATABASE_URL", "postgres://app@pgbouncer:6432/crm"),
            ("DATABASE_POOLER", "transaction"),
        ]);
        assert_eq!(pooled.unwrap().database_pooler, Pooler::Transaction);
        assert_eq!(read(&[("DEBUG", "1")]).unwrap().database_pooler, Pooler::None);
        let sqlite = read(&[("DEBUG", "1"), ("DATABASE_POOLER", "transaction")]).unwrap_err().to_string();
        assert!(sqlite.contains("is for PostgreSQL behind a pooler"), "{sqlite}");
        let mysql =
            read(&[("DEBUG", "1"), ("DATABASE_URL", "mysql://root@db/crm"), ("DATABASE_POOLER", "transaction")]);
        assert!(mysql.is_err());
        let typo = read(&[("DEBUG", "1"), ("DATABASE_POOLER", "transactions")]).unwrap_err().to_string();
        assert!(typo.contains("DATABASE_POOLER must be \"transaction\""), "{typo}");
    }

    #[test]
    fn the_invoke_mode_takes_aws_names() {
        let read = |env: &'static [(&'static str, &'static str)], toml: Option<&str>| {
            Settings::from_sources(toml, with_env(env)).map(|s| s.lambda_invoke_mode)
        };
        assert_eq!(read(&[("DEBUG", "1")], None).unwrap(), InvokeMode::Buffered);
        let streaming = &[("DEBUG", "1"), ("LAMBDA_INVOKE_MODE", "RESPONSE_STREAM")];
        assert_eq!(read(streaming, None).unwrap(), InvokeMode::ResponseStream);
        let lower = Some("LAMBDA_INVOKE_MODE = \"response_stream\"");
        assert_eq!(read(&[("DEBUG", "1")], lower).unwrap(), InvokeMode::ResponseStream);
        let typo = read(&[("DEBUG", "1"), ("LAMBDA_INVOKE_MODE", "STREAM")], None).unwrap_err().to_string();
        assert!(typo.contains("must be \"BUFFERED\" or \"RESPONSE_STREAM\""), "{typo}");
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let err = Settings::from_sources(
            Some("STATIC_URL = '/s'\nlower = 1"),
            with_env(&[("DEBUG", "maybe"), ("DATA_UPLOAD_MAX_MEMORY_SIZE", "lots")]),
        )
        .unwrap_err();
        let text = err.to_string();
        for needle in ["DEBUG", "DATA_UPLOAD_MAX_MEMORY_SIZE", "STATIC_URL", "`lower`"] {
            assert!(text.contains(needle), "{needle} missing from: {text}");
        }
    }

    #[test]
    fn debug_off_refuses_missing_or_development_secret() {
        assert!(Settings::from_sources(None, with_env(&[("DEBUG", "0")])).is_err());
        let dev = Settings::from_sources(None, with_env(&[("DEBUG", "0"), ("SECRET_KEY", DEV_SECRET_KEY)]));
        assert!(dev.unwrap_err().to_string().contains("SECRET_KEY"));
        // What `djambda startproject` writes into a new site's settings.toml.
        const GENERATED: &str = "djambda-insecure-k7#x0!m2zq(9-w_c=+r3b%t8h^y6v1s&d4e5f)a";
        let dev = Settings::from_sources(None, with_env(&[("DEBUG", "0"), ("SECRET_KEY", GENERATED)]));
        assert!(dev.unwrap_err().to_string().contains("SECRET_KEY"));
        assert!(
            Settings::from_sources(
                None,
                with_env(&[("DEBUG", "0"), ("SECRET_KEY", "a-real-secret-of-enough-length-0123456789")])
            )
            .is_ok()
        );
    }

    #[test]
    fn allowed_hosts_follow_django_rules() {
        let s = Settings::from_sources(None, with_env(&[("DEBUG", "1"), ("ALLOWED_HOSTS", ".example.com, api.test")]))
            .unwrap();
        assert!(s.host_allowed("example.com") && s.host_allowed("crm.example.com:8443") && s.host_allowed("API.test"));
        assert!(!s.host_allowed("evil.com") && !s.host_allowed("notexample.com") && !s.host_allowed(""));
        let local = Settings::from_sources(None, with_env(&[("DEBUG", "1")])).unwrap();
        assert!(
            local.host_allowed("127.0.0.1:8000") && local.host_allowed("localhost") && local.host_allowed("[::1]:8000")
        );
        assert!(!local.host_allowed("example.com"));
        let any = Settings::from_sources(None, with_env(&[("DEBUG", "1"), ("ALLOWED_HOSTS", "*")])).unwrap();
        assert!(any.host_allowed("anything.example:80") && any.host_allowed("[2001:db8::1]:8443"));
        for malformed in ["{host}", "a_b.example", "x y", "a:b", "[::1", "[zz]", "evil.com/x", "\u{e9}t\u{e9}.fr"] {
            assert!(!any.host_allowed(malformed), "{malformed:?} is no host name, even for `*`");
        }
    }
}
