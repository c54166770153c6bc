//! Parsing `path()` patterns such as `contacts/<int:pk>/` and matching or rebuilding paths.

use std::sync::Arc;

use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};

use super::UrlConfError;
use super::converters::{Converter, Converters};

/// Characters escaped in a path segment built by `reverse()`.
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'/');
/// The same for a `path` parameter, which keeps its slashes.
const MULTI_SEGMENT: &AsciiSet =
    &CONTROLS.add(b' ').add(b'"').add(b'#').add(b'%').add(b'<').add(b'>').add(b'?').add(b'`').add(b'{').add(b'}');

#[derive(Clone)]
pub(crate) enum Part {
    Literal(String),
    Param { name: String, kind: String, converter: Arc<dyn Converter> },
}

/// A parsed, absolute pattern (`/crm/contacts/<int:pk>/`).
#[derive(Clone)]
pub(crate) struct Pattern {
    pub(crate) text: String,
    pub(crate) parts: Vec<Part>,
}

impl Pattern {
    /// Parses `text` (already joined with its include prefixes, starting with `/`).
    pub(crate) fn parse(text: &str, converters: &Converters) -> Result<Pattern, UrlConfError> {
        let bad = |why: String| UrlConfError::BadPattern { pattern: text.to_owned(), why };
        let mut parts = Vec::new();
        let mut rest = text;
        let mut names: Vec<String> = Vec::new();
        while !rest.is_empty() {
            match rest.find('<') {
                None => {
                    parts.push(Part::Literal(rest.to_owned()));
                    rest = "";
                }
                Some(start) => {
                    if start > 0 {
                        parts.push(Part::Literal(rest[..start].to_owned()));
                    }
                    let end = rest[start..].find('>').ok_or_else(|| bad("a `<` has no closing `>`".into()))? + start;
                    let inner = &rest[start + 1..end];
                    let (kind, name) = match inner.split_once(':') {
                        Some((k, n)) => (k.trim(), n.trim()),
                        None => ("str", inner.trim()),
                    };
                    if name.is_empty()
                        || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                        || name.starts_with(|c: char| c.is_ascii_digit())
                    {
                        return Err(bad(format!("`{name}` is not a valid parameter name (use letters, digits and _)")));
                    }
                    if names.iter().any(|n| n == name) {
                        return Err(bad(format!("the parameter `{name}` appears twice")));
                    }
                    let converter = converters.get(kind).ok_or_else(|| {
                        bad(format!("no converter called `{kind}` (built in: int, str, slug, uuid, path; register others with SiteBuilder::converter)"))
                    })?;
                    names.push(name.to_owned());
                    parts.push(Part::Param {
                        name: name.to_owned(),
                        kind: kind.to_owned(),
                        converter: converter.clone(),
                    });
                    rest = &rest[end + 1..];
                }
            }
        }
        let pattern = Pattern { text: text.to_owned(), parts };
        pattern.check_shape()?;
        Ok(pattern)
    }

    /// matchit captures whole segments (or a trailing catch-all), so a parameter must fill its
    /// segment, and a `path` parameter may only be followed by literal text.
    fn check_shape(&self) -> Result<(), UrlConfError> {
        let bad = |why: &str| UrlConfError::BadPattern { pattern: self.text.clone(), why: why.to_owned() };
        for (i, part) in self.parts.iter().enumerate() {
            if let Part::Param { converter, .. } = part {
                let after_slash =
                    matches!(self.parts.get(i.wrapping_sub(1)), Some(Part::Literal(l)) if l.ends_with('/'));
                if !after_slash {
                    return Err(bad("a parameter must start a path segment (put it right after a `/`)"));
                }
                let rest = &self.parts[i + 1..];
                if converter.spans_segments() {
                    if rest.iter().any(|p| matches!(p, Part::Param { .. })) {
                        return Err(bad("a `path` parameter must be the last parameter of the pattern"));
                    }
                } else {
                    match rest.first() {
                        None => {}
                        Some(Part::Literal(l)) if l.starts_with('/') => {}
                        _ => {
                            return Err(bad(
                                "a parameter must fill its whole path segment (end it with `/` or end the pattern)",
                            ));
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// The route as matchit writes it, with parameters renamed by position so that patterns of
    /// the same shape share one matchit route.
    pub(crate) fn shape(&self) -> String {
        let mut out = String::new();
        let mut n = 0;
        for part in &self.parts {
            match part {
                Part::Literal(l) => {
                    out.push_str(&l.replace('{', "{{").replace('}', "}}"));
                }
                Part::Param { converter, .. } => {
                    if converter.spans_segments() {
                        out.push_str(&format!("{{*p{n}}}"));
                        // The literal tail after a catch-all is checked by `match_path`.
                        return out;
                    }
                    out.push_str(&format!("{{p{n}}}"));
                    n += 1;
                }
            }
        }
        out
    }

    /// Matches a decoded path against the pattern, converters included.
    pub(crate) fn match_path(&self, path: &str) -> Option<Vec<(String, String)>> {
        let mut params = Vec::new();
        let mut rest = path;
        for (i, part) in self.parts.iter().enumerate() {
            match part {
                Part::Literal(l) => rest = rest.strip_prefix(l.as_str())?,
                Part::Param { name, converter, .. } => {
                    let value = if converter.spans_segments() {
                        let tail: String = self.parts[i + 1..]
                            .iter()
                            .map(|p| match p {
                                Part::Literal(l) => l.as_str(),
                                Part::Param { .. } => "",
                            })
                            .collect();
                        let v = rest.strip_suffix(tail.as_str())?;
                        rest = &rest[v.len()..];
                        v
                    } else {
                        let end = rest.find('/').unwrap_or(rest.len());
                        let v = &rest[..end];
                        rest = &rest[end..];
                        v
                    };
                    if !converter.matches(value) {
                        return None;
                    }
                    params.push((name.clone(), value.to_owned()));
                }
            }
        }
        rest.is_empty().then_some(params)
    }

    /// The parameter names in order.
    pub(crate) fn param_names(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Param { name, .. } => Some(name.as_str()),
            Part::Literal(_) => None,
        })
    }

    /// A description of the parameters for error messages: `<int:pk>, <slug:s>`.
    pub(crate) fn describe_params(&self) -> String {
        let list: Vec<String> = self
            .parts
            .iter()
            .filter_map(|p| match p {
                Part::Param { name, kind, .. } => Some(format!("<{kind}:{name}>")),
                Part::Literal(_) => None,
            })
            .collect();
        if list.is_empty() { "no arguments".into() } else { list.join(", ") }
    }

    /// Builds the path from one value per parameter, in order; `Err(i)` names the value its
    /// converter refused.
    pub(crate) fn build(&self, values: &[String]) -> Result<String, usize> {
        let mut out = String::new();
        let mut i = 0;
        for part in &self.parts {
            match part {
                Part::Literal(l) => out.push_str(l),
                Part::Param { converter, .. } => {
                    let text = converter.to_url(&values[i]).ok_or(i)?;
                    if !converter.matches(&text) {
                        return Err(i);
                    }
                    let set = if converter.spans_segments() { MULTI_SEGMENT } else { SEGMENT };
                    out.extend(utf8_percent_encode(&text, set));
                    i += 1;
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Pattern {
        Pattern::parse(text, &Converters::default()).unwrap()
    }

    #[test]
    fn shapes_rename_parameters_by_position() {
        assert_eq!(p("/items/<int:id>/").shape(), "/items/{p0}/");
        assert_eq!(p("/items/<slug:s>/").shape(), "/items/{p0}/");
        assert_eq!(p("/files/<path:rest>").shape(), "/files/{*p0}");
        assert_eq!(p("/a/<x>/b/<int:y>/").shape(), "/a/{p0}/b/{p1}/");
    }

    #[test]
    fn match_runs_converters_and_extracts_in_order() {
        let pat = p("/a/<int:x>/b/<slug:y>/");
        assert_eq!(
            pat.match_path("/a/12/b/hi-there/"),
            Some(vec![("x".into(), "12".into()), ("y".into(), "hi-there".into())])
        );
        assert_eq!(pat.match_path("/a/x/b/hi/"), None);
        assert_eq!(pat.match_path("/a/12/b/hi"), None);
        let path = p("/docs/<path:rest>/");
        assert_eq!(path.match_path("/docs/a/b/c/"), Some(vec![("rest".into(), "a/b/c".into())]));
        assert_eq!(path.match_path("/docs//"), None);
    }

    #[test]
    fn bad_patterns_are_refused_with_a_reason() {
        let convs = Converters::default();
        for bad in
            ["/a/<int:x", "/a/<nope:x>/", "/a/<int:x>-<int:y>/", "/a/<path:p>/<int:x>/", "/a/<x>/<x>/", "/a/<1x>/"]
        {
            assert!(Pattern::parse(bad, &convs).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn build_checks_and_escapes_values() {
        let pat = p("/c/<str:name>/<path:rest>");
        assert_eq!(pat.build(&["a b".into(), "x/y z".into()]).unwrap(), "/c/a%20b/x/y%20z");
        assert_eq!(p("/n/<int:pk>/").build(&["abc".into()]), Err(0));
    }
}
