//! The security settings (Django's `SECURE_*` and `X_FRAME_OPTIONS`).

use super::{Group, flag};

/// What `SecurityMiddleware` does, with Django's setting names and defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Security {
    /// SECURE_CONTENT_TYPE_NOSNIFF (on): `X-Content-Type-Options: nosniff`.
    pub content_type_nosniff: bool,
    /// SECURE_REFERRER_POLICY (`same-origin`; empty for none).
    pub referrer_policy: String,
    /// X_FRAME_OPTIONS (`DENY`; `SAMEORIGIN`, or empty for none): refuses framing
    /// (clickjacking).
    pub x_frame_options: String,
    /// SECURE_HSTS_SECONDS (0: off): `Strict-Transport-Security` on HTTPS responses.
    pub hsts_seconds: u64,
    /// SECURE_HSTS_INCLUDE_SUBDOMAINS (off).
    pub hsts_include_subdomains: bool,
    /// SECURE_HSTS_PRELOAD (off).
    pub hsts_preload: bool,
    /// SECURE_SSL_REDIRECT (off): redirects plain-HTTP requests to HTTPS.
    pub ssl_redirect: bool,
    /// SECURE_PROXY_SSL_HEADER (unset), written `X-Forwarded-Proto: https`: the header and value
    /// a trusted proxy (API Gateway, an ALB, CloudFront) sets on requests that came over HTTPS.
    /// Only with it set does a request count as secure behind a proxy: a client could send
    /// the header itself.
    pub proxy_ssl_header: Option<(String, String)>,
}

impl Default for Security {
    fn default() -> Self {
        Security {
            content_type_nosniff: true,
            referrer_policy: "same-origin".into(),
            x_frame_options: "DENY".into(),
            hsts_seconds: 0,
            hsts_include_subdomains: false,
            hsts_preload: false,
            ssl_redirect: false,
            proxy_ssl_header: None,
        }
    }
}

impl Group for Security {
    const KEYS: &'static [&'static str] = &[
        "SECURE_CONTENT_TYPE_NOSNIFF",
        "SECURE_REFERRER_POLICY",
        "X_FRAME_OPTIONS",
        "SECURE_HSTS_SECONDS",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS",
        "SECURE_HSTS_PRELOAD",
        "SECURE_SSL_REDIRECT",
        "SECURE_PROXY_SSL_HEADER",
    ];

    fn apply(&mut self, key: &str, raw: &str) -> Result<(), String> {
        match key {
            "SECURE_CONTENT_TYPE_NOSNIFF" => self.content_type_nosniff = flag(key, raw)?,
            "SECURE_HSTS_INCLUDE_SUBDOMAINS" => self.hsts_include_subdomains = flag(key, raw)?,
            "SECURE_HSTS_PRELOAD" => self.hsts_preload = flag(key, raw)?,
            "SECURE_SSL_REDIRECT" => self.ssl_redirect = flag(key, raw)?,
            "SECURE_REFERRER_POLICY" => self.referrer_policy = raw.trim().to_owned(),
            "X_FRAME_OPTIONS" => {
                let value = raw.trim().to_ascii_uppercase();
                if !["", "DENY", "SAMEORIGIN"].contains(&value.as_str()) {
                    return Err(format!("{key} must be DENY, SAMEORIGIN or empty (got {raw:?})"));
                }
                self.x_frame_options = value;
            }
            "SECURE_HSTS_SECONDS" => {
                self.hsts_seconds =
                    raw.trim().parse().map_err(|_| format!("{key} must be a number of seconds (got {raw:?})"))?
            }
            "SECURE_PROXY_SSL_HEADER" => {
                self.proxy_ssl_header = match raw.split_once(':') {
                    _ if raw.trim().is_empty() => None,
                    Some((name, value)) if !name.trim().is_empty() && !value.trim().is_empty() => {
                        Some((name.trim().to_ascii_lowercase(), value.trim().to_owned()))
                    }
                    _ => {
                        return Err(format!(
                            "{key} is written `Header-Name: value`, e.g. `X-Forwarded-Proto: https` (got {raw:?})"
                        ));
                    }
                }
            }
            _ => return Err(format!("{key} is not a security setting")),
        }
        Ok(())
    }
}
