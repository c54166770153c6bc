//! Content Security Policy (Django 6.0's `ContentSecurityPolicyMiddleware` and its `csp`
//! context processor): `SECURE_CSP` is sent as `Content-Security-Policy`, and
//! `SECURE_CSP_REPORT_ONLY` as `Content-Security-Policy-Report-Only`, on every response that
//! does not set its own.
//!
//! A policy's source `'nonce'` becomes a fresh nonce for each response, which templates put on
//! the inline scripts and styles they mean: `<script nonce="{{ csp_nonce }}">`. Without the
//! nonce a browser runs no inline script or style that the policy does not allow.
//!
//! ```toml
//! # settings.toml
//! SECURE_CSP = { default-src = ["'self'"], script-src = ["'self'", "'nonce'"], frame-ancestors = ["'none'"] }
//! ```
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use djambda::prelude::*;
//!
//! let settings = "DEBUG = true\nSECURE_CSP = \"default-src 'self'; script-src 'self' 'nonce'\"";
//! let site = Site::builder()
//!     .settings(Settings::from_sources(Some(settings), |_| None).unwrap())
//!     .app(djambda::csp::app())
//!     .build()
//!     .unwrap();
//! let page = djambda::test::Client::new(site).get("/no-such-page/").await;
//! let policy = page.header("content-security-policy").unwrap();
//! assert!(policy.starts_with("default-src 'self'; script-src 'self' 'nonce-"), "{policy}");
//! # });
//! ```

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use http::{HeaderValue, header};

use crate::conf::CSP_NONCE;
use crate::middleware::{Middleware, Next};
use crate::request::Request;
use crate::routing::BoxFuture;
use crate::site::app::App;
use crate::templates::Context;
use crate::{Response, Result};

pub use crate::middleware::CspNonce;

/// The app: its middleware joins the default list, and templates get `csp_nonce`: this
/// response's nonce, or an empty string when the policy has none (so a template that uses it
/// renders under any setting).
pub fn app() -> App {
    App::new("csp")
        .middleware(ContentSecurityPolicy)
        .context_processor(|req: &Request, ctx: &mut Context| {
            let nonce = req.local::<CspNonce>().map(|n| n.0).unwrap_or_default();
            ctx.insert("csp_nonce", &nonce);
        })
        // The headers are written out once per site; a response only fills in its nonce.
        .on_ready(|setup| {
            let security = &setup.settings().security;
            let policies = Policies {
                enforce: Policy::written(&security.csp),
                report_only: Policy::written(&security.csp_report_only),
            };
            setup.insert_state(policies);
            Ok(())
        })
}

/// SECURE_CSP and SECURE_CSP_REPORT_ONLY as their headers say them.
struct Policies {
    enforce: Option<Policy>,
    report_only: Option<Policy>,
}

/// A policy's header text, in the pieces between which a response's nonce goes.
struct Policy {
    pieces: Vec<String>,
}

impl Policy {
    fn written(directives: &[(String, Vec<String>)]) -> Option<Policy> {
        if directives.is_empty() {
            return None;
        }
        let (mut pieces, mut current) = (Vec::new(), String::new());
        for (i, (directive, sources)) in directives.iter().enumerate() {
            if i > 0 {
                current.push_str("; ");
            }
            current.push_str(directive);
            for source in sources {
                current.push(' ');
                if source == CSP_NONCE {
                    pieces.push(std::mem::take(&mut current));
                } else {
                    current.push_str(source);
                }
            }
        }
        pieces.push(current);
        Some(Policy { pieces })
    }

    fn uses_nonce(&self) -> bool {
        self.pieces.len() > 1
    }

    fn value(&self, nonce: Option<&str>) -> Option<HeaderValue> {
        let text = match nonce {
            Some(nonce) => self.pieces.join(&format!("'nonce-{nonce}'")),
            None => self.pieces.concat(),
        };
        // Settings admit only visible ASCII in a policy, which a header can always carry.
        HeaderValue::from_str(&text).ok()
    }
}

/// Sends SECURE_CSP and SECURE_CSP_REPORT_ONLY (see the [module](self)).
pub struct ContentSecurityPolicy;

impl Middleware for ContentSecurityPolicy {
    fn call(&self, req: Request, next: Next) -> BoxFuture<Result<Response>> {
        Box::pin(async move {
            let site = req.site().clone();
            let Some(policies) = site.state::<Policies>() else { return Ok(next.run(req).await) };
            let all = [
                (header::CONTENT_SECURITY_POLICY, &policies.enforce),
                (header::CONTENT_SECURITY_POLICY_REPORT_ONLY, &policies.report_only),
            ];
            if all.iter().all(|(_, p)| p.is_none()) {
                return Ok(next.run(req).await);
            }
            let nonce = all.iter().any(|(_, p)| p.as_ref().is_some_and(Policy::uses_nonce)).then(|| {
                let mut bytes = [0u8; 16];
                crate::signing::fill_random(&mut bytes);
                BASE64.encode(bytes)
            });
            if let Some(nonce) = &nonce {
                req.set_local(CspNonce(nonce.clone()));
            }
            let mut resp = next.run(req).await;
            let headers = resp.headers_mut();
            for (name, policy) in all {
                // A response that set its own policy keeps it.
                if let Some(policy) = policy
                    && !headers.contains_key(&name)
                    && let Some(value) = policy.value(nonce.as_deref())
                {
                    headers.insert(name, value);
                }
            }
            Ok(resp)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Settings;
    use crate::routing::{UrlConf, get};
    use crate::site::Site;
    use crate::test::Client;

    async fn page(req: Request) -> Result<Response> {
        crate::shortcuts::render(&req, "csp_page.html", Context::new())
    }

    async fn broken(_req: Request) -> Result<Response> {
        Err(crate::Error::new(crate::ErrorKind::Internal, "the view broke"))
    }

    async fn own_policy(_req: Request) -> Result<Response> {
        Ok(Response::text("embedded").with_header("content-security-policy", "frame-ancestors https://partner.example"))
    }

    fn site(settings: &str) -> Site {
        let settings = Settings::from_sources(Some(&format!("DEBUG = true\n{settings}")), |_| None).unwrap();
        Site::builder()
            .settings(settings)
            .templates(crate::assets!("src/handler/test_templates"))
            .app(app())
            .app(App::new("pages").urls(
                "",
                UrlConf::app("pages").path("nonce/", get(page), "page").path("own/", get(own_policy), "own").path(
                    "broken/",
                    get(broken),
                    "broken",
                ),
            ))
            .build()
            .unwrap()
    }

    #[tokio::test]
    async fn the_nonce_is_fresh_per_response_and_the_same_in_header_and_page() {
        let policy = "SECURE_CSP = { default-src = [\"'self'\"], script-src = [\"'self'\", \"'nonce'\"] }\n\
                      SECURE_CSP_REPORT_ONLY = \"style-src 'self' 'nonce'; report-uri /csp/\"";
        let mut c = Client::new(site(policy));
        let mut seen = Vec::new();
        for _ in 0..2 {
            let resp = c.get("/nonce/").await;
            assert_eq!(resp.status(), 200, "{}", resp.text());
            let header = resp.header("content-security-policy").unwrap().to_owned();
            let nonce = header.split("'nonce-").nth(1).and_then(|n| n.split('\'').next()).unwrap().to_owned();
            assert_eq!(header, format!("default-src 'self'; script-src 'self' 'nonce-{nonce}'"));
            assert_eq!(
                resp.header("content-security-policy-report-only"),
                Some(format!("style-src 'self' 'nonce-{nonce}'; report-uri /csp/").as_str())
            );
            assert!(resp.text().contains(&format!("<script nonce=\"{nonce}\">")), "{}", resp.text());
            assert_eq!(BASE64.decode(&nonce).unwrap().len(), 16);
            seen.push(nonce);
        }
        assert_ne!(seen[0], seen[1]);
        // The DEBUG error page's own style carries the nonce too.
        let broken = c.get("/broken/").await;
        assert_eq!(broken.status(), 500);
        let header = broken.header("content-security-policy").unwrap();
        let nonce = header.split("'nonce-").nth(1).and_then(|n| n.split('\'').next()).unwrap();
        assert!(broken.text().contains(&format!("<style nonce=\"{nonce}\">")), "{}", broken.text());
        // A view's own policy stands.
        let own = c.get("/own/").await;
        assert_eq!(own.header("content-security-policy"), Some("frame-ancestors https://partner.example"));
    }

    #[tokio::test]
    async fn no_policy_no_header_and_bad_policies_are_refused() {
        let resp = Client::new(site("")).get("/nonce/").await;
        assert!(resp.header("content-security-policy").is_none());
        assert!(resp.text().contains("<script nonce=\"\">"), "{}", resp.text());
        for (bad, says) in [
            ("SECURE_CSP = \"default_src 'self'\"", "is not a CSP directive"),
            ("SECURE_CSP = \"img-src a; img-src b\"", "twice"),
            ("SECURE_CSP = \"img-src a,b\"", "is not a CSP source"),
            // A header cannot carry it: the policy would be dropped without a word.
            ("SECURE_CSP = \"img-src https://bücher.example\"", "xn-- form"),
            ("SECURE_CSP = { img-src = 3 }", "a table of directives"),
        ] {
            let err = Settings::from_sources(Some(bad), |_| None).unwrap_err().to_string();
            assert!(err.contains(says), "{bad}: {err}");
        }
        let from_env = Settings::from_sources(None, |k| (k == "SECURE_CSP").then(|| "default-src 'none'".to_owned()));
        assert_eq!(from_env.unwrap().security.csp, vec![("default-src".to_owned(), vec!["'none'".to_owned()])]);
    }
}
