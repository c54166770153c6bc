//! Compression of text responses (Django's `django.middleware.gzip.GZipMiddleware`, with
//! brotli as well): for clients that accept it, and only where it pays.

use std::io::Write;

use bytes::Bytes;
use futures_util::StreamExt;
use http::{HeaderValue, header};

use super::{Middleware, Next};
use crate::error::{Error, Result};
use crate::http::{BodyStream, Response};
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

    /// An encoder for a streamed body: each chunk in, whatever compressed bytes are ready out.
    fn encoder(&self, coding: Coding) -> StreamEncoder {
        match coding {
            Coding::Gzip => StreamEncoder::Gzip(flate2::write::GzEncoder::new(
                Vec::new(),
                flate2::Compression::new(self.gzip_level.min(9)),
            )),
            Coding::Brotli => StreamEncoder::Brotli(Box::new(brotli::CompressorWriter::new(
                Vec::new(),
                4096,
                self.brotli_quality.min(11),
                22,
            ))),
        }
    }

    fn apply(&self, accept: Option<Coding>, mut resp: Response) -> Response {
        let headers = resp.headers();
        let streaming = resp.is_streaming();
        // A streamed body's size is unknown: it is taken to be worth it.
        let worth_it = (streaming || resp.body().len() >= self.min_size)
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
        let compressed = if streaming {
            let encoder = self.encoder(coding);
            resp.map_stream(|stream| compress_stream(stream, encoder));
            None
        } else {
            let Some(compressed) = self.compress(coding, resp.body()) else { return resp };
            if compressed.len() >= resp.body().len() {
                return resp;
            }
            Some(compressed)
        };
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
        if let Some(compressed) = compressed {
            resp.set_body(compressed);
        }
        resp
    }
}

/// A compressor fed a streamed body chunk by chunk.
enum StreamEncoder {
    Gzip(flate2::write::GzEncoder<Vec<u8>>),
    Brotli(Box<brotli::CompressorWriter<Vec<u8>>>),
}

impl StreamEncoder {
    /// Compresses `chunk`, giving what output is ready (often nothing until a block fills).
    fn write(&mut self, chunk: &[u8]) -> std::io::Result<Bytes> {
        let out = match self {
            StreamEncoder::Gzip(e) => {
                e.write_all(chunk)?;
                e.get_mut()
            }
            StreamEncoder::Brotli(e) => {
                e.write_all(chunk)?;
                e.get_mut()
            }
        };
        Ok(Bytes::from(std::mem::take(out)))
    }

    /// The rest of the output and the stream's trailer.
    fn finish(self) -> std::io::Result<Bytes> {
        Ok(Bytes::from(match self {
            StreamEncoder::Gzip(e) => e.finish()?,
            StreamEncoder::Brotli(e) => e.into_inner(),
        }))
    }
}

fn compress_stream(stream: BodyStream, encoder: StreamEncoder) -> BodyStream {
    let failed = |e: std::io::Error| Error::internal(format!("compressing the streamed body failed: {e}"));
    Box::pin(futures_util::stream::unfold(Some((stream, encoder)), move |state| async move {
        let (mut stream, mut encoder) = state?;
        loop {
            match stream.next().await {
                Some(Ok(chunk)) => match encoder.write(&chunk) {
                    Ok(out) if out.is_empty() => continue,
                    Ok(out) => return Some((Ok(out), Some((stream, encoder)))),
                    Err(e) => return Some((Err(failed(e)), None)),
                },
                Some(Err(e)) => return Some((Err(e), None)),
                None => return Some((encoder.finish().map_err(failed), None)),
            }
        }
    }))
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
