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
    /// SECURE_CSP (none): the Content-Security-Policy the `csp` app sends, as directives and
    /// their sources. The source `'nonce'` becomes the response's nonce (`csp_nonce` in
    /// templates).
    pub csp: Vec<(String, Vec<String>)>,
    /// SECURE_CSP_REPORT_ONLY (none): a policy the browser reports on without enforcing it
    /// (Content-Security-Policy-Report-Only), to try one out first.
    pub csp_report_only: Vec<(String, Vec<String>)>,
}

/// The source that stands for the response's nonce in a policy (Django's `CSP.NONCE`).
pub const CSP_NONCE: &str = "'nonce'";

/// `default-src 'self'; script-src 'self' 'nonce'` as directives and their sources.
fn parse_csp(key: &str, raw: &str) -> Result<Vec<(String, Vec<String>)>, String> {
    let mut policy: Vec<(String, Vec<String>)> = Vec::new();
    for part in raw.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let mut words = part.split_ascii_whitespace();
        let directive = words.next().unwrap_or_default().to_ascii_lowercase();
        if !directive.chars().all(|c| c.is_ascii_lowercase() || c == '-') {
            return Err(format!("{key}: {directive:?} is not a CSP directive (like `default-src` or `script-src`)"));
        }
        if policy.iter().any(|(d, _)| *d == directive) {
            return Err(format!("{key} names the directive `{directive}` twice"));
        }
        let sources: Vec<String> = words.map(str::to_owned).collect();
        if let Some(bad) = sources.iter().find(|s| s.contains(',') || !s.chars().all(|c| c.is_ascii_graphic())) {
            return Err(format!(
                "{key}: {bad:?} is not a CSP source (sources are separated by spaces, and a host outside ASCII is \
                 written in its xn-- form)"
            ));
        }
        policy.push((directive, sources));
    }
    Ok(policy)
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
            csp: Vec::new(),
            csp_report_only: Vec::new(),
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
        "SECURE_CSP",
        "SECURE_CSP_REPORT_ONLY",
    ];

    fn apply(&mut self, key: &str, raw: &str) -> Result<(), String> {
        match key {
            "SECURE_CONTENT_TYPE_NOSNIFF" => self.content_type_nosniff = flag(key, raw)?,
            "SECURE_HSTS_INCLUDE_SUBDOMAINS" => self.hsts_include_subdomains = flag(key, raw)?,
            "SECURE_HSTS_PRELOAD" => self.hsts_preload = flag(key, raw)?,
            "SECURE_SSL_REDIRECT" => self.ssl_redirect = flag(key, raw)?,
            "SECURE_REFERRER_POLICY" => self.referrer_policy = raw.trim().to_owned(),
            "SECURE_CSP" => self.csp = parse_csp(key, raw)?,
            "SECURE_CSP_REPORT_ONLY" => self.csp_report_only = parse_csp(key, raw)?,
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
