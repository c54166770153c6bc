use std::fmt;

/// An ordered multi-map of form or query-string values, like Django's `QueryDict`: a key may
/// repeat (`?tag=a&tag=b`), [`get`](Self::get) gives the last value and
/// [`get_list`](Self::get_list) all of them.
///
/// ```
/// use djambda::http::QueryDict;
///
/// let q = QueryDict::parse("tag=a&tag=b&q=caf%C3%A9+noir");
/// assert_eq!(q.get("tag"), Some("b"));
/// assert_eq!(q.get_list("tag"), vec!["a", "b"]);
/// assert_eq!(q.get("q"), Some("café noir"));
/// assert_eq!(q.urlencode(), "tag=a&tag=b&q=caf%C3%A9+noir");
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct QueryDict {
    pairs: Vec<(String, String)>,
}

impl QueryDict {
    /// An empty dictionary.
    pub const fn new() -> Self {
        QueryDict { pairs: Vec::new() }
    }

    /// Parses `application/x-www-form-urlencoded` text (a query string or a form body).
    /// Invalid percent-escapes and invalid UTF-8 decode lossily, as browsers' own parsers do.
    pub fn parse(input: &str) -> Self {
        Self::from_bytes(input.as_bytes())
    }

    /// Parses a urlencoded body given as bytes.
    pub fn from_bytes(input: &[u8]) -> Self {
        QueryDict { pairs: form_urlencoded::parse(input).map(|(k, v)| (k.into_owned(), v.into_owned())).collect() }
    }

    /// The last value for `key`, as Django's `QueryDict.__getitem__` gives.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// Every value for `key`, in order.
    pub fn get_list(&self, key: &str) -> Vec<&str> {
        self.pairs.iter().filter(|(k, _)| k == key).map(|(_, v)| v.as_str()).collect()
    }

    /// Whether `key` is present.
    pub fn contains_key(&self, key: &str) -> bool {
        self.pairs.iter().any(|(k, _)| k == key)
    }

    /// Appends a value for `key`.
    pub fn append(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.pairs.push((key.into(), value.into()));
    }

    /// Replaces every value of `key` with one value.
    pub fn set(&mut self, key: impl Into<String>, value: impl Into<String>) {
        let key = key.into();
        self.pairs.retain(|(k, _)| *k != key);
        self.pairs.push((key, value.into()));
    }

    /// All pairs in order, keys repeated as they came.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Whether there are no pairs.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// Number of pairs (a repeated key counts each time).
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// Encodes back to a query string, keeping order and repeats.
    pub fn urlencode(&self) -> String {
        form_urlencoded::Serializer::new(String::new()).extend_pairs(self.iter()).finish()
    }
}

impl fmt::Debug for QueryDict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for QueryDict {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        QueryDict { pairs: iter.into_iter().map(|(k, v)| (k.into(), v.into())).collect() }
    }
}

impl serde::Serialize for QueryDict {
    /// Serialises as a map of key to its last value, which is what templates want to show.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut keys: Vec<&str> = Vec::new();
        for (k, _) in &self.pairs {
            if !keys.contains(&k.as_str()) {
                keys.push(k);
            }
        }
        let mut map = s.serialize_map(Some(keys.len()))?;
        for k in keys {
            map.serialize_entry(k, self.get(k).unwrap_or_default())?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_keys_keep_order_and_last_wins() {
        let q = QueryDict::parse("a=1&b=2&a=3&empty=&flag");
        assert_eq!(q.get("a"), Some("3"));
        assert_eq!(q.get_list("a"), vec!["1", "3"]);
        assert_eq!(q.get("empty"), Some(""));
        assert_eq!(q.get("flag"), Some(""));
        assert_eq!(q.get("missing"), None);
        assert_eq!(q.len(), 5);
    }

    #[test]
    fn bad_escapes_and_bytes_decode_lossily_without_error() {
        let q = QueryDict::from_bytes(b"x=%ZZ&y=%FF&z=a%2Bb+c");
        assert_eq!(q.get("x"), Some("%ZZ"));
        assert_eq!(q.get("y"), Some("\u{FFFD}"));
        assert_eq!(q.get("z"), Some("a+b c"));
    }

    #[test]
    fn set_replaces_all_values_and_urlencode_round_trips() {
        let mut q = QueryDict::parse("page=2&q=x&page=3");
        q.set("page", "4");
        assert_eq!(q.get_list("page"), vec!["4"]);
        assert_eq!(QueryDict::parse(&q.urlencode()), q);
    }
}
