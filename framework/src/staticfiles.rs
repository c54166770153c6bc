//! Static files (Django's `django.contrib.staticfiles`): found in the framework's, the site's and
//! each app's `static/` folders, served under STATIC_URL by both front doors, with content-hashed
//! URLs that can be cached for a year and ETags for the rest.

use std::collections::HashMap;

use http::{Method, StatusCode, header};

use crate::assets::{Asset, AssetDir};
use crate::error::{Error, ErrorKind, Result};
use crate::http::Response;

/// A year: hashed names never change content, so browsers and CDNs may keep them.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// The site's static files.
pub struct StaticFiles {
    dirs: Vec<AssetDir>,
    static_url: String,
    /// Release builds: every file's hashed name, worked out once (the files cannot change).
    hashed: Option<HashMap<String, String>>,
}

/// A `static()` lookup for a file no static folder has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingStaticFile(pub String);

impl std::fmt::Display for MissingStaticFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "no static file `{}` in any static folder (check the name and that it is under a static/ folder)",
            self.0
        )
    }
}

impl std::error::Error for MissingStaticFile {}

impl StaticFiles {
    /// Static files looked up in `dirs` in order (the first folder holding a name wins).
    /// With `fixed` (release builds, files embedded) hashed names are worked out once.
    pub fn new(dirs: Vec<AssetDir>, static_url: &str, fixed: bool) -> Self {
        let mut files = StaticFiles { dirs, static_url: static_url.to_owned(), hashed: None };
        if fixed {
            let names = files.names();
            let map = names.into_iter().filter_map(|n| files.compute_hashed_name(&n).ok().map(|h| (n, h))).collect();
            files.hashed = Some(map);
        }
        files
    }

    /// The file called `name` in the first folder that has it.
    pub fn find(&self, name: &str) -> Option<Asset> {
        self.dirs.iter().find_map(|d| d.get(name))
    }

    /// Every static file name (first folder wins), for `collectstatic` and checks.
    pub fn names(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for dir in &self.dirs {
            for n in dir.names() {
                if !out.iter().any(|o| *o == n) {
                    out.push(n.into_owned());
                }
            }
        }
        out
    }

    /// The content-hashed name: `css/site.css` → `css/site.3f2a1b9c0d1e.css`.
    pub fn hashed_name(&self, name: &str) -> Result<String, MissingStaticFile> {
        match &self.hashed {
            Some(map) => map.get(name).cloned().ok_or_else(|| MissingStaticFile(name.to_owned())),
            None => self.compute_hashed_name(name),
        }
    }

    fn compute_hashed_name(&self, name: &str) -> Result<String, MissingStaticFile> {
        let asset = self.find(name).ok_or_else(|| MissingStaticFile(name.to_owned()))?;
        let hash = asset.short_hash();
        let (dir, file) = name.rsplit_once('/').map_or(("", name), |(d, f)| (d, f));
        let hashed = match file.rsplit_once('.') {
            Some((stem, ext)) if !stem.is_empty() => format!("{stem}.{hash}.{ext}"),
            _ => format!("{file}.{hash}"),
        };
        Ok(if dir.is_empty() { hashed } else { format!("{dir}/{hashed}") })
    }

    /// The URL of a static file with its content hash, as `{% static %}` gives with Django's
    /// manifest storage; `script_name` is put in front when STATIC_URL is a path on this site.
    pub fn url(&self, name: &str, script_name: &str) -> Result<String, MissingStaticFile> {
        let hashed = self.hashed_name(name.trim_start_matches('/'))?;
        if self.static_url.starts_with('/') {
            Ok(format!("{script_name}{}{hashed}", self.static_url))
        } else {
            Ok(format!("{}{hashed}", self.static_url))
        }
    }

    /// The part of `path` under STATIC_URL when this site serves it.
    pub(crate) fn match_path<'p>(&self, path: &'p str) -> Option<&'p str> {
        if !self.static_url.starts_with('/') {
            return None;
        }
        path.strip_prefix(self.static_url.as_str())
    }

    /// Answers a request (its method and headers) for `rel` (the path under STATIC_URL).
    pub(crate) fn serve(&self, method: &Method, headers: &http::HeaderMap, rel: &str) -> Result<Response> {
        if method != Method::GET && method != Method::HEAD {
            return Err(Error::new(
                ErrorKind::MethodNotAllowed(vec![Method::GET, Method::HEAD]),
                "static files are read-only",
            ));
        }
        let rel = percent_encoding::percent_decode_str(rel).decode_utf8_lossy();
        let not_found = || Error::not_found(format!("no static file `{rel}`"));
        let (asset, name, immutable) = match self.find(&rel) {
            Some(a) => (a, rel.to_string(), false),
            None => {
                let (name, hash) = unhash(&rel).ok_or_else(not_found)?;
                let asset = self.find(&name).ok_or_else(not_found)?;
                // A stale hash (a page from an older deploy) still gets the file, but not the
                // year-long cache that only the current content deserves.
                let current = asset.short_hash() == hash;
                (asset, name, current)
            }
        };
        let etag = format!("\"{}\"", asset.sha256[..16].iter().map(|b| format!("{b:02x}")).collect::<String>());
        let cache = if immutable { IMMUTABLE } else { "no-cache" };
        let fresh = headers
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|t| t.trim().trim_start_matches("W/") == etag || t.trim() == "*"));
        let mut resp = if fresh {
            Response::empty(StatusCode::NOT_MODIFIED)
        } else {
            // Embedded files are served straight from the binary, without a copy.
            let body = match asset.data {
                std::borrow::Cow::Borrowed(b) => bytes::Bytes::from_static(b),
                std::borrow::Cow::Owned(v) => bytes::Bytes::from(v),
            };
            Response::bytes(&content_type(&name), body)
        };
        resp.set_header(header::ETAG, &etag);
        resp.set_header(header::CACHE_CONTROL, cache);
        Ok(resp)
    }
}

/// Splits `css/site.3f2a1b9c0d1e.css` into (`css/site.css`, `3f2a1b9c0d1e`).
fn unhash(name: &str) -> Option<(String, String)> {
    let (dir, file) = name.rsplit_once('/').map_or(("", name), |(d, f)| (d, f));
    let mut pieces: Vec<&str> = file.split('.').collect();
    let pos = pieces.iter().rposition(|p| p.len() == 12 && p.bytes().all(|b| b.is_ascii_hexdigit()))?;
    if pos == 0 {
        return None;
    }
    let hash = pieces.remove(pos).to_owned();
    let file = pieces.join(".");
    Some((if dir.is_empty() { file } else { format!("{dir}/{file}") }, hash))
}

/// The content type for a file name, with `charset=utf-8` for text.
pub(crate) fn content_type(name: &str) -> String {
    let mime = mime_guess::from_path(name).first_or_octet_stream();
    let essence = mime.essence_str();
    if mime.type_() == mime_guess::mime::TEXT
        || essence == "application/javascript"
        || essence == "application/json"
        || essence == "image/svg+xml"
    {
        format!("{essence}; charset=utf-8")
    } else {
        essence.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashed_names_split_back() {
        assert_eq!(unhash("css/site.0123456789ab.css"), Some(("css/site.css".into(), "0123456789ab".into())));
        assert_eq!(unhash("font.0123456789ab"), Some(("font".into(), "0123456789ab".into())));
        assert_eq!(unhash("css/site.css"), None);
        assert_eq!(unhash("0123456789ab.css"), None);
    }

    #[test]
    fn content_types_carry_charset_for_text_only() {
        assert_eq!(content_type("a.css"), "text/css; charset=utf-8");
        assert_eq!(content_type("a.png"), "image/png");
        assert_eq!(content_type("a.woff2"), "font/woff2");
        assert_eq!(content_type("noext"), "application/octet-stream");
    }
}
