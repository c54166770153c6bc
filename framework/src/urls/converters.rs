//! Path converters (Django's `django.urls.converters`): each decides which text a `<kind:name>`
//! parameter accepts and how a `reverse()` argument is written back into a URL.

use std::collections::HashMap;
use std::sync::Arc;

/// A path converter. Implement it to add your own `<kind:name>` parameters, then register it with
/// [`SiteBuilder::converter`](crate::SiteBuilder::converter).
///
/// ```
/// use djambda::urls::Converter;
///
/// /// `<year:y>`: exactly four digits, like Django's documentation example.
/// struct FourDigitYear;
///
/// impl Converter for FourDigitYear {
///     fn matches(&self, value: &str) -> bool {
///         value.len() == 4 && value.bytes().all(|b| b.is_ascii_digit())
///     }
/// }
/// assert!(FourDigitYear.matches("2026"));
/// assert_eq!(FourDigitYear.to_url("26"), None);
/// ```
pub trait Converter: Send + Sync + 'static {
    /// Whether `value` (the decoded text captured for the parameter) belongs to this converter.
    fn matches(&self, value: &str) -> bool;

    /// The URL text for a `reverse()` argument, or `None` when the argument does not fit (which
    /// makes `reverse()` fail instead of producing a link that would not resolve).
    fn to_url(&self, value: &str) -> Option<String> {
        self.matches(value).then(|| value.to_owned())
    }

    /// Whether values may contain `/` (Django's `path`). Such a parameter must end its pattern.
    fn spans_segments(&self) -> bool {
        false
    }
}

/// `<int:…>`: one or more ASCII digits.
pub struct IntConverter;
impl Converter for IntConverter {
    fn matches(&self, v: &str) -> bool {
        !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit())
    }
}

/// `<str:…>` (the default): any non-empty text without `/`.
pub struct StrConverter;
impl Converter for StrConverter {
    fn matches(&self, v: &str) -> bool {
        !v.is_empty() && !v.contains('/')
    }
}

/// `<slug:…>`: ASCII letters, digits, hyphens and underscores.
pub struct SlugConverter;
impl Converter for SlugConverter {
    fn matches(&self, v: &str) -> bool {
        !v.is_empty() && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    }
}

/// `<uuid:…>`: a lower-case, hyphenated UUID, as Django's converter accepts.
pub struct UuidConverter;
impl Converter for UuidConverter {
    fn matches(&self, v: &str) -> bool {
        let b = v.as_bytes();
        b.len() == 36
            && b.iter().enumerate().all(|(i, c)| match i {
                8 | 13 | 18 | 23 => *c == b'-',
                _ => c.is_ascii_digit() || (b'a'..=b'f').contains(c),
            })
    }
}

/// `<path:…>`: any non-empty text, `/` included.
pub struct PathConverter;
impl Converter for PathConverter {
    fn matches(&self, v: &str) -> bool {
        !v.is_empty()
    }
    fn spans_segments(&self) -> bool {
        true
    }
}

/// The converters a site knows by name: Django's five built-ins plus any the site registers.
#[derive(Clone)]
pub struct Converters {
    by_name: HashMap<String, Arc<dyn Converter>>,
}

impl Default for Converters {
    fn default() -> Self {
        let mut by_name: HashMap<String, Arc<dyn Converter>> = HashMap::new();
        by_name.insert("int".into(), Arc::new(IntConverter));
        by_name.insert("str".into(), Arc::new(StrConverter));
        by_name.insert("slug".into(), Arc::new(SlugConverter));
        by_name.insert("uuid".into(), Arc::new(UuidConverter));
        by_name.insert("path".into(), Arc::new(PathConverter));
        Converters { by_name }
    }
}

impl Converters {
    /// Registers (or replaces) a converter under `name`.
    pub fn register(&mut self, name: impl Into<String>, converter: impl Converter) {
        self.by_name.insert(name.into(), Arc::new(converter));
    }

    /// The converter called `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<dyn Converter>> {
        self.by_name.get(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_converters_accept_what_django_accepts() {
        assert!(IntConverter.matches("0042"));
        assert!(!IntConverter.matches("-1") && !IntConverter.matches("") && !IntConverter.matches("1a"));
        assert!(StrConverter.matches("hello world") && !StrConverter.matches("a/b"));
        assert!(SlugConverter.matches("acme-corp_2") && !SlugConverter.matches("acme corp"));
        assert!(UuidConverter.matches("123e4567-e89b-12d3-a456-426614174000"));
        assert!(!UuidConverter.matches("123E4567-E89B-12D3-A456-426614174000"));
        assert!(!UuidConverter.matches("123e4567e89b12d3a456426614174000"));
        assert!(PathConverter.matches("a/b/c.txt") && PathConverter.spans_segments());
        assert_eq!(IntConverter.to_url("x"), None);
    }
}
