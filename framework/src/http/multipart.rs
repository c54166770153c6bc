//! Request bodies as form data: urlencoded, or multipart with file uploads written to
//! FILE_UPLOAD_TEMP_DIR (Django's `request.POST`, `request.FILES`, `MultiPartParser` and
//! `TemporaryUploadedFile`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use futures_util::FutureExt;

use super::QueryDict;
use crate::error::ErrorKind;
use crate::signing::{ALPHANUMERIC, random_string};

/// The data a form is bound to: text values by name and uploaded files (Django's
/// `request.POST` and `request.FILES`).
#[derive(Debug, Clone, Default)]
pub struct FormData {
    /// The text values.
    pub fields: QueryDict,
    /// The uploaded files, by field name.
    pub files: Vec<(String, UploadedFile)>,
}

impl FormData {
    /// Data from `(name, value)` pairs (tests, and forms filled from code).
    pub fn from_pairs<K: Into<String>, V: Into<String>>(pairs: impl IntoIterator<Item = (K, V)>) -> Self {
        FormData { fields: pairs.into_iter().collect(), files: Vec::new() }
    }

    /// The last value under `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields.get(name)
    }

    /// The file uploaded under `name`.
    pub fn file(&self, name: &str) -> Option<&UploadedFile> {
        self.files.iter().rev().find(|(n, _)| n == name).map(|(_, f)| f)
    }

    /// Sets the value of `name`.
    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        self.fields.set(name, value);
    }
}

/// A file uploaded with a form, written to a temporary file (under FILE_UPLOAD_TEMP_DIR,
/// `/tmp` on Lambda) that is deleted when the last handle to it is dropped: copy or
/// [`persist`](Self::persist) it to keep it.
#[derive(Clone)]
pub struct UploadedFile {
    inner: Arc<Stored>,
}

struct Stored {
    name: String,
    content_type: String,
    size: u64,
    path: PathBuf,
    /// Whether the file was moved away by `persist` (then it is not ours to delete).
    kept: std::sync::atomic::AtomicBool,
}

impl Drop for Stored {
    fn drop(&mut self) {
        if !self.kept.load(std::sync::atomic::Ordering::Relaxed) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

impl std::fmt::Debug for UploadedFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UploadedFile")
            .field("name", &self.inner.name)
            .field("content_type", &self.inner.content_type)
            .field("size", &self.inner.size)
            .finish()
    }
}

impl UploadedFile {
    /// The file's name as the client gave it, without any folder part.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The content type the client declared (not checked against the bytes).
    pub fn content_type(&self) -> &str {
        &self.inner.content_type
    }

    /// The size in bytes.
    pub fn size(&self) -> u64 {
        self.inner.size
    }

    /// Where the temporary file is.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The whole file.
    pub fn read(&self) -> std::io::Result<Vec<u8>> {
        std::fs::read(&self.inner.path)
    }

    /// Moves the file to `to` (on the same file system) and keeps it there; the handle no longer
    /// deletes it.
    pub fn persist(&self, to: &Path) -> std::io::Result<()> {
        std::fs::rename(&self.inner.path, to)?;
        self.inner.kept.store(true, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    /// A file written from `bytes` (tests, and files made by code).
    pub fn from_bytes(dir: &Path, name: &str, content_type: &str, bytes: &[u8]) -> std::io::Result<UploadedFile> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(format!("djambda-upload-{}", random_string(20, ALPHANUMERIC)));
        let mut file = std::fs::OpenOptions::new().write(true).create_new(true).open(&path)?;
        let stored = Stored {
            name: base_name(name),
            content_type: content_type.to_owned(),
            size: bytes.len() as u64,
            path,
            kept: false.into(),
        };
        // From here on a failure deletes the partial file (Stored's Drop).
        let upload = UploadedFile { inner: Arc::new(stored) };
        file.write_all(bytes)?;
        Ok(upload)
    }
}

/// The last component of a client's file name: `C:\Users\x\report.pdf` and `../../etc/passwd`
/// both lose their folders.
fn base_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or("").trim();
    let cleaned: String = base.chars().filter(|c| !c.is_control()).take(255).collect();
    if cleaned.is_empty() || cleaned == "." || cleaned == ".." { "upload".into() } else { cleaned }
}

/// A body as form data (what `Request::form_data` caches), by its `Content-Type` header: a
/// malformed body is the client's error (400), an upload that cannot be written to `upload_dir`
/// the server's (500). Other content types are no form data.
pub(crate) fn parse_body(
    content_type: Option<&str>,
    body: &Bytes,
    upload_dir: &Path,
) -> Result<FormData, (ErrorKind, String)> {
    let header = content_type.unwrap_or("");
    let media = header.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    match media.as_str() {
        "application/x-www-form-urlencoded" => Ok(FormData { fields: QueryDict::from_bytes(body), files: Vec::new() }),
        "multipart/form-data" => {
            let boundary = multer::parse_boundary(header).map_err(|e| {
                (ErrorKind::BadRequest, format!("the multipart body's Content-Type has no usable boundary: {e}"))
            })?;
            parse_multipart(body.clone(), boundary, upload_dir)
        }
        _ => Ok(FormData::default()),
    }
}

fn parse_multipart(body: Bytes, boundary: String, dir: &Path) -> Result<FormData, (ErrorKind, String)> {
    let stream = futures_util::stream::once(async move { Ok::<Bytes, std::io::Error>(body) });
    let mut multipart = multer::Multipart::new(stream, boundary);
    let mut data = FormData::default();
    // The whole body is already in memory, so every step completes at once: no runtime is
    // needed to drive the parser, and a step that would wait means the body is cut short.
    let cut_short = || (ErrorKind::BadRequest, "the multipart body ended early".to_owned());
    let malformed = |e: String| (ErrorKind::BadRequest, e);
    loop {
        let next = multipart.next_field().now_or_never().ok_or_else(cut_short)?;
        let field = match next {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(e) => return Err(malformed(format!("the multipart body is malformed: {e}"))),
        };
        let name = field.name().unwrap_or("").to_owned();
        let file_name = field.file_name().map(str::to_owned);
        let content_type =
            field.content_type().map(|m| m.to_string()).unwrap_or_else(|| "application/octet-stream".into());
        let bytes = match field.bytes().now_or_never().ok_or_else(cut_short)? {
            Ok(b) => b,
            Err(e) => return Err(malformed(format!("the multipart field {name:?} is malformed: {e}"))),
        };
        match file_name {
            // A file input left empty still sends a part, with no name and no bytes.
            Some(f) if f.is_empty() && bytes.is_empty() => {}
            Some(f) => {
                let upload = UploadedFile::from_bytes(dir, &f, &content_type, &bytes).map_err(|e| {
                    let why =
                        format!("could not write the upload {f:?} under {} (FILE_UPLOAD_TEMP_DIR): {e}", dir.display());
                    (ErrorKind::Internal, why)
                })?;
                data.files.push((name, upload));
            }
            None => data.fields.append(name, String::from_utf8_lossy(&bytes).into_owned()),
        }
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(parts: &[(&str, Option<&str>, &[u8])]) -> Bytes {
        let mut out = Vec::new();
        for (name, file, content) in parts {
            out.extend_from_slice(b"--XyZ\r\n");
            match file {
                Some(f) => out.extend_from_slice(
                    format!("Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\nContent-Type: text/plain\r\n\r\n")
                        .as_bytes(),
                ),
                None => out.extend_from_slice(format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes()),
            }
            out.extend_from_slice(content);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"--XyZ--\r\n");
        out.into()
    }

    #[test]
    fn fields_and_files_are_read_and_files_removed_when_dropped() {
        let dir = std::env::temp_dir().join(format!("djambda-mp-{}", std::process::id()));
        let b = body(&[("title", None, b"Q3 report"), ("doc", Some("..\\..\\C:\\evil/report.txt"), b"hello\0bytes")]);
        let data = parse_multipart(b, "XyZ".into(), &dir).unwrap();
        assert_eq!(data.get("title"), Some("Q3 report"));
        let file = data.file("doc").unwrap().clone();
        assert_eq!((file.name(), file.size()), ("report.txt", 11));
        assert_eq!(file.read().unwrap(), b"hello\0bytes");
        let path = file.path().to_owned();
        drop(data);
        assert!(path.exists(), "a clone keeps the file");
        drop(file);
        assert!(!path.exists(), "the last handle deletes it");
    }

    #[test]
    fn a_truncated_body_is_an_error_not_a_hang() {
        let full = body(&[("a", None, b"1")]);
        let cut = full.slice(..full.len() - 10);
        assert!(parse_multipart(cut, "XyZ".into(), &std::env::temp_dir()).is_err());
    }
}
