//! Compression of text responses (Django's `django.middleware.gzip.GZipMiddleware`, with
//! brotli as well): for clients that accept it, and only where it pays.

use std::io::Write;

use http::{HeaderValue, header};

use super::{Middleware, Next};
use crate::error::Result;
use crate::http::Response;
use crate::request::Request;
use crate::routing::BoxFuture;

/// Compresses text responses (HTML, CSS, JavaScript, JSON, XML, SVG) of 200 bytes or more with
/// brotli or gzip, whichever the client's `Accept-Encoding` prefers (brotli on a tie), and adds
/// `Vary: Accept-Encoding`. It leaves alone responses that already have a `Content-Encoding`,
/// and any that would not get smaller. A strong `ETag` becomes weak, since the bytes differ.
///
/// Through the Lambda door a compressed body goes out base64-encoded, as any binary body.
/// Not on by default (as in Django): compressing pages that carry secrets next to what a
/// visitor typed exposes them to BREACH-style attacks.
///
/// ```
/// use djambda::prelude::*;
///
/// let site = Site::builder()
///     .settings(Settings::from_sources(Some("DEBUG = true"), |_| None).unwrap())
///     .middleware(djambda::middleware::Compression::default())
///     .build();
/// assert!(site.is_ok());
/// ```
#[derive(Debug, Clone)]
pub struct Compression {
    /// Smallest body worth compressing, in bytes (Django: 200).
    pub min_size: usize,
    /// gzip level, 0–9.
    pub gzip_level: u32,
    /// brotli quality, 0–11 (4 is quick enough for pages made per request).
    pub brotli_quality: u32,
}

impl Default for Compression {
    fn default() -> Self {
        Compression { min_size: 200, gzip_level: 6, brotli_quality: 4 }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Coding {
    Brotli,
    Gzip,
}

/// The coding `accept` (an `Accept-Encoding` value) prefers among brotli and gzip, if any:
/// the higher q-value wins, brotli on a tie; `q=0` refuses one, and `*` stands for the others.
fn negotiate(accept: &str) -> Option<Coding> {
    let (mut br, mut gzip, mut star) = (None, None, None);
    for item in accept.split(',') {
        let mut parts = item.split(';');
        let name = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q=").and_then(|v| v.trim().parse::<f32>().ok()))
            .next()
            .unwrap_or(1.0);
        match name.as_str() {
            "br" => br = Some(q),
            "gzip" | "x-gzip" => gzip = Some(q),
            "*" => star = Some(q),
            _ => {}
        }
    }
    let br = br.or(star).unwrap_or(0.0);
    let gzip = gzip.or(star).unwrap_or(0.0);
    if br <= 0.0 && gzip <= 0.0 {
        None
    } else if br >= gzip {
        Some(Coding::Brotli)
    } else {
        Some(Coding::Gzip)
    }
}

fn compressible(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    essence.starts_with("text/")
        || essence.ends_with("+json")
        || essence.ends_with("+xml")
        || matches!(
            essence.as_str(),
            "application/json" | "application/javascript" | "application/xml" | "image/svg+xml" | "application/wasm"
        )
}

impl Compression {
    fn compress(&self, coding: Coding, body: &[u8]) -> Option<Vec<u8>> {
        match coding {
            Coding::Gzip => {
                let level = flate2::Compression::new(self.gzip_level.min(9));
                let mut encoder = flate2::write::GzEncoder::new(Vec::with_capacity(body.len() / 3), level);
                encoder.write_all(body).ok()?;
                encoder.finish().ok()
            }
            Coding::Brotli => {
                let mut out = Vec::with_capacity(body.len() / 3);
                let params = brotli::enc::BrotliEncoderParams {
                    quality: self.brotli_quality.min(11) as i32,
                    ..Default::default()
                };
                brotli::BrotliCompress(&mut &body[..], &mut out, &params).ok()?;
                Some(out)
            }
        }
    }

    fn apply(&self, accept: Option<Coding>, mut resp: Response) -> Response {
        let headers = resp.headers();
        let worth_it = resp.body().len() >= self.min_size
            && !headers.contains_key(header::CONTENT_ENCODING)
            && headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(compressible);
        if !worth_it {
            return resp;
        }
        // Caches must key on Accept-Encoding for every compressible response, compressed or not.
        let vary = match headers.get(header::VARY).and_then(|v| v.to_str().ok()) {
            Some(v) if v.to_ascii_lowercase().contains("accept-encoding") => None,
            Some(v) => Some(format!("{v}, Accept-Encoding")),
            None => Some("Accept-Encoding".to_owned()),
        };
        if let Some(v) = vary.and_then(|v| HeaderValue::from_str(&v).ok()) {
            resp.headers_mut().insert(header::VARY, v);
        }
        let Some(coding) = accept else { return resp };
        let Some(compressed) = self.compress(coding, resp.body()) else { return resp };
        if compressed.len() >= resp.body().len() {
            return resp;
        }
        let name = if coding == Coding::Brotli { "br" } else { "gzip" };
        let headers = resp.headers_mut();
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static(name));
        headers.remove(header::CONTENT_LENGTH);
        if let Some(etag) = headers.get(header::ETAG).and_then(|v| v.to_str().ok())
            && !etag.starts_with("W/")
            && let Ok(weak) = HeaderValue::from_str(&format!("W/{etag}"))
        {
            headers.insert(header::ETAG, weak);
        }
        resp.set_body(compressed);
        resp
    }
}

impl Middleware for Compression {
    fn call(&self, req: Request, next: Next) -> BoxFuture<Result<Response>> {
        let accept = req.headers().get(header::ACCEPT_ENCODING).and_then(|v| v.to_str().ok()).and_then(negotiate);
        let this = self.clone();
        Box::pin(async move {
            let resp = next.run(req).await;
            Ok(this.apply(accept, resp))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_encoding_is_negotiated_by_quality() {
        assert_eq!(negotiate("gzip, deflate, br, zstd"), Some(Coding::Brotli));
        assert_eq!(negotiate("gzip"), Some(Coding::Gzip));
        assert_eq!(negotiate("br;q=0.5, gzip;q=0.8"), Some(Coding::Gzip));
        assert_eq!(negotiate("br;q=0, gzip;q=0"), None);
        assert_eq!(negotiate("*;q=0.1, br;q=0"), Some(Coding::Gzip));
        assert_eq!(negotiate("identity"), None);
        assert_eq!(negotiate(""), None);
    }

    #[test]
    fn only_text_types_are_compressed() {
        assert!(compressible("text/html; charset=utf-8"));
        assert!(compressible("application/json"));
        assert!(compressible("application/ld+json"));
        assert!(compressible("image/svg+xml"));
        assert!(!compressible("image/png"));
        assert!(!compressible("application/zip"));
    }
}
