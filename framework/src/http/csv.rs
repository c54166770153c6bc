//! CSV in and out (RFC 4180), for exports and uploads: a [`Writer`] whose cells a spreadsheet
//! will not run as formulas, and [`read`], which takes quoted cells and says on which line a
//! file stops being UTF-8 instead of changing its bytes.

use std::borrow::Cow;

use bytes::Bytes;

use crate::http::Response;

/// `cell` as it is safe to hand a spreadsheet: text that Excel, LibreOffice or Google Sheets
/// would take as a formula (it starts with `=`, `+`, `-`, `@`, a tab or a carriage return) gets
/// a leading `'`, which they show as text (OWASP's advice on CSV injection). A plain signed
/// number (`-12.50`, `+4712345678`) is no formula and is left alone.
///
/// ```
/// use djambda::http::csv::neutralise;
///
/// assert_eq!(neutralise("=HYPERLINK(\"http://evil\")"), "'=HYPERLINK(\"http://evil\")");
/// assert_eq!(neutralise("-12.50"), "-12.50");
/// assert_eq!(neutralise("Ada"), "Ada");
/// ```
pub fn neutralise(cell: &str) -> Cow<'_, str> {
    let risky = cell.starts_with(['=', '+', '-', '@', '\t', '\r']);
    if risky && !is_number(cell) { Cow::Owned(format!("'{cell}")) } else { Cow::Borrowed(cell) }
}

/// A plain signed number (`-12.50`, `+4712345678`): digits and at most one point. Anything more
/// after a sign is computed by a spreadsheet (`+1-202-555-0100` shows as -856, and a space is
/// Excel's intersection operator), so a phone number written with separators keeps its `'`.
fn is_number(cell: &str) -> bool {
    let digits = cell.strip_prefix(['+', '-']).unwrap_or(cell);
    let mut dots = 0;
    !digits.is_empty()
        && digits.bytes().all(|b| {
            dots += usize::from(b == b'.');
            b.is_ascii_digit() || b == b'.'
        })
        && dots <= 1
        && digits != "."
}

/// The 1-based line `text` ends on, counting CRLF, LF and a bare CR each as one line end.
fn line_after(text: &[u8]) -> usize {
    let mut line = 1;
    let mut bytes = text.iter().peekable();
    while let Some(b) = bytes.next() {
        match b {
            b'\r' if bytes.peek() == Some(&&b'\n') => {}
            b'\r' | b'\n' => line += 1,
            _ => {}
        }
    }
    line
}

/// A CSV document written row by row: every cell quoted, quotes doubled, and formulas
/// neutralised (see [`neutralise`]); lines end in CRLF as RFC 4180 has them.
///
/// ```
/// use djambda::http::csv::Writer;
///
/// let mut csv = Writer::new();
/// csv.row(["name", "note"]);
/// csv.row(["Ada", "=1+1"]);
/// assert_eq!(csv.as_str(), "\"name\",\"note\"\r\n\"Ada\",\"'=1+1\"\r\n");
/// ```
#[derive(Debug, Default, Clone)]
pub struct Writer {
    out: String,
}

impl Writer {
    /// An empty document.
    pub fn new() -> Self {
        Writer::default()
    }

    /// Appends one row.
    pub fn row<I, S>(&mut self, cells: I) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        for (i, cell) in cells.into_iter().enumerate() {
            if i > 0 {
                self.out.push(',');
            }
            self.out.push('"');
            self.out.push_str(&neutralise(cell.as_ref()).replace('"', "\"\""));
            self.out.push('"');
        }
        self.out.push_str("\r\n");
        self
    }

    /// The document so far.
    pub fn as_str(&self) -> &str {
        &self.out
    }

    /// The rows written so far, leaving the writer empty: a streamed export sends each batch
    /// this way (see [`streaming_response`]).
    pub fn take(&mut self) -> Bytes {
        Bytes::from(std::mem::take(&mut self.out))
    }

    /// The document as a download named `filename` (`text/csv`, UTF-8, as an attachment).
    pub fn into_response(self, filename: &str) -> Response {
        Response::bytes(CONTENT_TYPE, self.out).with_header("content-disposition", &attachment(filename))
    }
}

const CONTENT_TYPE: &str = "text/csv; charset=utf-8";

fn attachment(filename: &str) -> String {
    let safe: String = filename.chars().filter(|c| !matches!(c, '"' | '\\' | '\r' | '\n')).collect();
    format!("attachment; filename=\"{safe}\"")
}

/// A CSV download named `filename` whose chunks (each some rows, from [`Writer::take`]) are
/// sent as they are produced (Django's advice for large CSV: a `StreamingHttpResponse`), so an
/// export holds one batch in memory however big the table grows.
///
/// ```
/// use djambda::http::csv::{Writer, streaming_response};
///
/// let mut header = Writer::new();
/// header.row(["id", "name"]);
/// let resp = streaming_response("people.csv", futures_util::stream::iter([Ok(header.take())]));
/// assert!(resp.is_streaming());
/// assert_eq!(resp.header("content-disposition"), Some("attachment; filename=\"people.csv\""));
/// ```
pub fn streaming_response(
    filename: &str,
    chunks: impl futures_util::Stream<Item = crate::Result<Bytes>> + Send + 'static,
) -> Response {
    Response::streaming(CONTENT_TYPE, chunks).with_header("content-disposition", &attachment(filename))
}

/// A CSV file that could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadError {
    /// The line (1-based) where reading stopped.
    pub line: usize,
    /// What is wrong there, for the person who sent the file.
    pub message: String,
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for ReadError {}

/// One row of a CSV file: the line it starts on, and its cells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The line (1-based) the row starts on.
    pub line: usize,
    /// The cells, unquoted.
    pub cells: Vec<String>,
}

/// Reads a CSV file: UTF-8 (a leading byte-order mark is skipped), lines ending in CRLF, LF or a
/// bare CR, cells separated by commas,
/// optionally quoted with `"` (a quoted cell may hold commas, doubled quotes and line breaks).
/// Blank lines are skipped. Bytes that are not UTF-8 are an error naming their line (a
/// spreadsheet's Latin-1 export, say), never silently replaced.
///
/// ```
/// let rows = djambda::http::csv::read(b"name,city\n\"O'Brien, Pat\",Oslo\n").unwrap();
/// assert_eq!(rows[1].cells, ["O'Brien, Pat", "Oslo"]);
/// let err = djambda::http::csv::read(b"name\nJos\xe9\n").unwrap_err();
/// assert_eq!(err.line, 2);
/// ```
pub fn read(bytes: &[u8]) -> Result<Vec<Record>, ReadError> {
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    let text = std::str::from_utf8(bytes).map_err(|e| ReadError {
        line: line_after(&bytes[..e.valid_up_to()]),
        message: "the file is not UTF-8 text; save it as \"CSV UTF-8\" and upload it again".into(),
    })?;
    let mut records = Vec::new();
    let mut chars = text.chars().peekable();
    let mut line = 1;
    while chars.peek().is_some() {
        let start = line;
        let mut cells = Vec::new();
        let mut cell = String::new();
        let mut quoted = false;
        let mut was_quoted = false;
        loop {
            let Some(c) = chars.next() else {
                if quoted {
                    return Err(ReadError { line: start, message: "a quoted cell is never closed".into() });
                }
                break;
            };
            match c {
                '"' if quoted && chars.peek() == Some(&'"') => {
                    chars.next();
                    cell.push('"');
                }
                '"' if quoted => quoted = false,
                '"' if cell.trim().is_empty() && !was_quoted => {
                    cell.clear();
                    quoted = true;
                    was_quoted = true;
                }
                '\n' if quoted => {
                    line += 1;
                    cell.push('\n');
                }
                '\r' if quoted => {
                    if chars.peek() != Some(&'\n') {
                        line += 1;
                    }
                    cell.push('\r');
                }
                ',' if !quoted => {
                    cells.push(finish(&mut cell, was_quoted));
                    was_quoted = false;
                }
                '\r' if !quoted && chars.peek() == Some(&'\n') => {}
                // A bare CR ends a line too (classic Mac OS, some Excel exports).
                '\n' | '\r' if !quoted => {
                    line += 1;
                    break;
                }
                c => cell.push(c),
            }
        }
        cells.push(finish(&mut cell, was_quoted));
        if !(cells.len() == 1 && cells[0].is_empty()) {
            records.push(Record { line: start, cells });
        }
    }
    Ok(records)
}

fn finish(cell: &mut String, quoted: bool) -> String {
    let text = std::mem::take(cell);
    if quoted { text } else { text.trim().to_owned() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_neutralised_and_numbers_kept() {
        for risky in ["=1+1", "+SUM(A1)", "-2+3", "@cmd", "\tx", "\r=x", "=", "+", "-"] {
            assert!(neutralise(risky).starts_with('\''), "{risky:?}");
        }
        for kept in ["Ada", "12", "-12.50", "+4712345678", "'quoted", "", "a=b"] {
            assert_eq!(neutralise(kept), kept);
        }
    }

    #[test]
    fn signed_numbers_with_separators_are_computed_so_they_keep_the_quote() {
        // Excel computes `+1-202-555-0100` (-856) and `-10-5`; a space is an operator too.
        for computed in ["+1-202-555-0100", "-10-5", "+47 22 12 34 56", "+1 (555) 010-9999", "+33/1"] {
            assert!(neutralise(computed).starts_with('\''), "{computed:?}");
        }
    }

    #[test]
    fn bare_carriage_returns_end_lines() {
        // Classic Mac OS and some Excel exports end lines with CR alone.
        let rows = read(b"name,city\rAda,Oslo\r\"two\rlines\",x\r").unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[1], Record { line: 2, cells: vec!["Ada".into(), "Oslo".into()] });
        assert_eq!(rows[2].cells, ["two\rlines", "x"]);
        assert_eq!(read(b"a\r\r\xff").unwrap_err().line, 3);
    }

    #[test]
    fn cells_round_trip_through_the_writer_and_reader() {
        let mut w = Writer::new();
        w.row(["a, b", "say \"hi\"", "two\nlines", "=1+1"]);
        w.row(["x", "", "z", "-3"]);
        let rows = read(w.as_str().as_bytes()).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].cells, ["a, b", "say \"hi\"", "two\nlines", "'=1+1"]);
        assert_eq!(rows[1], Record { line: 3, cells: vec!["x".into(), "".into(), "z".into(), "-3".into()] });
    }

    #[test]
    fn bad_files_name_their_line() {
        assert_eq!(read(b"a\nb\n\xff\n").unwrap_err().line, 3);
        assert_eq!(read(b"ok\n\"never closed\n").unwrap_err().line, 2);
        assert_eq!(read(b"\xef\xbb\xbfname\n\nAda\n").unwrap().len(), 2, "a BOM and a blank line are skipped");
    }
}
