//! Values as the admin shows them: in list cells, on read-only fields and in the history, and
//! the text of a primary key in URLs.

use sea_orm::Value;
use sea_orm::sea_query::ColumnType;

/// What Django's admin shows for an empty value (`empty_value_display`).
pub(crate) const EMPTY: &str = "-";

/// A value as a person reads it: dates spelled out, booleans as yes or no, an enum column as
/// its choice's label, nothing as `-`.
pub(crate) fn text(v: &Value, choices: Option<&[(String, String)]>) -> String {
    let plain = raw(v);
    if plain.is_none() {
        return EMPTY.to_owned();
    }
    let plain = plain.unwrap_or_default();
    if let Some(choices) = choices
        && let Some((_, label)) = choices.iter().find(|(value, _)| *value == plain)
    {
        return label.clone();
    }
    match v {
        Value::Bool(Some(b)) => if *b { "Yes" } else { "No" }.to_owned(),
        Value::ChronoDate(Some(d)) => d.format("%b %-d, %Y").to_string(),
        Value::ChronoDateTime(Some(t)) => t.format("%b %-d, %Y, %H:%M").to_string(),
        Value::ChronoDateTimeUtc(Some(t)) => t.format("%b %-d, %Y, %H:%M UTC").to_string(),
        Value::ChronoDateTimeWithTimeZone(Some(t)) => t.format("%b %-d, %Y, %H:%M %:z").to_string(),
        _ => plain,
    }
}

/// A value as plain text (what a CSV cell, a URL or a comparison needs); `None` for NULL.
pub(crate) fn raw(v: &Value) -> Option<String> {
    Some(match v {
        Value::String(Some(s)) => s.clone(),
        Value::Char(Some(c)) => c.to_string(),
        Value::Bool(Some(b)) => b.to_string(),
        Value::TinyInt(Some(n)) => n.to_string(),
        Value::SmallInt(Some(n)) => n.to_string(),
        Value::Int(Some(n)) => n.to_string(),
        Value::BigInt(Some(n)) => n.to_string(),
        Value::TinyUnsigned(Some(n)) => n.to_string(),
        Value::SmallUnsigned(Some(n)) => n.to_string(),
        Value::Unsigned(Some(n)) => n.to_string(),
        Value::BigUnsigned(Some(n)) => n.to_string(),
        Value::Float(Some(n)) => n.to_string(),
        Value::Double(Some(n)) => n.to_string(),
        Value::Decimal(Some(d)) => d.to_string(),
        Value::ChronoDate(Some(d)) => d.format("%Y-%m-%d").to_string(),
        Value::ChronoTime(Some(t)) => t.format("%H:%M:%S").to_string(),
        Value::ChronoDateTime(Some(t)) => t.format("%Y-%m-%d %H:%M:%S").to_string(),
        Value::ChronoDateTimeUtc(Some(t)) => t.format("%Y-%m-%d %H:%M:%S").to_string(),
        Value::ChronoDateTimeLocal(Some(t)) => t.format("%Y-%m-%d %H:%M:%S").to_string(),
        Value::ChronoDateTimeWithTimeZone(Some(t)) => t.format("%Y-%m-%d %H:%M:%S%:z").to_string(),
        Value::Enum(e) if e.is_some() => format!("{e:?}"),
        Value::Json(Some(j)) => j.to_string(),
        _ => return None,
    })
}

/// [`text`] for a column of type `ty`: a decimal with its column's places (`12000.00`).
pub(crate) fn column_text(ty: &ColumnType, v: &Value, choices: Option<&[(String, String)]>) -> String {
    match (ty, v) {
        (ColumnType::Decimal(Some((_, scale))) | ColumnType::Money(Some((_, scale))), Value::Decimal(Some(d))) => {
            let mut d = d.round_dp(*scale);
            d.rescale(*scale);
            d.to_string()
        }
        _ => text(v, choices),
    }
}

/// Reads a primary key from a URL as the key column's type; `None` when it cannot be one (a
/// 404, not an SQL error).
pub(crate) fn parse_key(ty: &ColumnType, text: &str) -> Option<Value> {
    use ColumnType as C;
    let text = text.trim();
    if text.is_empty() || text.len() > 255 {
        return None;
    }
    Some(match ty {
        C::TinyInteger => Value::TinyInt(Some(text.parse().ok()?)),
        C::SmallInteger => Value::SmallInt(Some(text.parse().ok()?)),
        C::Integer => Value::Int(Some(text.parse().ok()?)),
        C::BigInteger => Value::BigInt(Some(text.parse().ok()?)),
        C::TinyUnsigned => Value::TinyUnsigned(Some(text.parse().ok()?)),
        C::SmallUnsigned => Value::SmallUnsigned(Some(text.parse().ok()?)),
        C::Unsigned => Value::Unsigned(Some(text.parse().ok()?)),
        C::BigUnsigned => Value::BigUnsigned(Some(text.parse().ok()?)),
        C::Char(_) | C::String(_) | C::Text => Value::String(Some(text.to_owned())),
        _ => return None,
    })
}

/// Whether values of this column type are dates or timestamps (date filters, the hierarchy).
pub(crate) fn is_date(ty: &ColumnType) -> bool {
    matches!(ty, ColumnType::Date | ColumnType::DateTime | ColumnType::Timestamp | ColumnType::TimestampWithTimeZone)
}

/// `first_name` → `first name` (a column's words, for headings and messages).
pub(crate) fn words(name: &str) -> String {
    name.trim_end_matches("_id").replace('_', " ")
}

/// `first name` → `First name`.
pub(crate) fn capfirst(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_read_as_words() {
        assert_eq!(text(&Value::Bool(Some(true)), None), "Yes");
        assert_eq!(text(&Value::Int(None), None), "-");
        let choices = vec![("won".to_owned(), "Won".to_owned())];
        assert_eq!(text(&Value::String(Some("won".into())), Some(&choices)), "Won");
        let d = chrono::NaiveDate::from_ymd_opt(2026, 3, 4).unwrap();
        assert_eq!(text(&Value::ChronoDate(Some(d)), None), "Mar 4, 2026");
        assert_eq!(raw(&Value::ChronoDate(Some(d))).as_deref(), Some("2026-03-04"));
        let amount = Value::Decimal(Some(rust_decimal::Decimal::from(12000)));
        assert_eq!(column_text(&ColumnType::Decimal(Some((12, 2))), &amount, None), "12000.00");
    }

    #[test]
    fn keys_from_urls() {
        assert_eq!(parse_key(&ColumnType::Integer, "7"), Some(Value::Int(Some(7))));
        assert_eq!(parse_key(&ColumnType::Integer, "7; DROP TABLE x"), None);
        assert_eq!(parse_key(&ColumnType::Integer, "99999999999"), None);
        assert_eq!(parse_key(&ColumnType::Integer, ""), None);
        assert_eq!(words("company_id"), "company");
        assert_eq!(capfirst("first name"), "First name");
    }
}
