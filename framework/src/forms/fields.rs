//! The types a form field can hold, and how each reads submitted text (Django's `CharField`,
//! `EmailField`, `URLField`, `IntegerField`, `DecimalField`, `BooleanField`, `DateField`,
//! `DateTimeField`, `FileField`).

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use rust_decimal::Decimal;

use super::{FieldSpec, FormField, TextKind, UploadedFile, Widget};

pub(crate) const REQUIRED: &str = "This field is required.";

fn present(text: Option<&str>) -> Option<&str> {
    text.filter(|t| !t.is_empty())
}

/// Whether `s` looks like an email address Django's `EmailValidator` would take: one `@`, a
/// local part without spaces, and a domain of dot-separated labels (or a bracketed address).
pub fn is_valid_email(s: &str) -> bool {
    let Some((local, domain)) = s.rsplit_once('@') else { return false };
    if local.is_empty() || local.len() > 64 || s.len() > 320 {
        return false;
    }
    let local_ok = local
        .split('.')
        .all(|atom| !atom.is_empty() && atom.chars().all(|c| c.is_alphanumeric() || "!#$%&'*+/=?^_`{|}~-".contains(c)))
        || (local.len() >= 2
            && local.starts_with('"')
            && local.ends_with('"')
            && !local[1..local.len() - 1].contains('"'));
    if !local_ok {
        return false;
    }
    if domain.starts_with('[') && domain.ends_with(']') {
        return domain[1..domain.len() - 1].parse::<std::net::IpAddr>().is_ok();
    }
    let labels: Vec<&str> = domain.split('.').collect();
    labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_alphanumeric() || c == '-')
        })
        && labels.last().is_some_and(|tld| tld.len() >= 2 && !tld.chars().all(|c| c.is_ascii_digit()))
}

/// Whether `s` is an absolute http(s) URL with a host (Django's `URLValidator`).
pub fn is_valid_url(s: &str) -> bool {
    match url::Url::parse(s) {
        Ok(u) => {
            matches!(u.scheme(), "http" | "https")
                && u.host_str().is_some_and(|h| !h.is_empty())
                && !s.chars().any(char::is_whitespace)
        }
        Err(_) => false,
    }
}

impl FormField for String {
    fn configure(spec: &mut FieldSpec) {
        spec.widget = Widget::Text;
    }

    fn clean(text: Option<&str>, _file: Option<&UploadedFile>, spec: &FieldSpec) -> Result<Self, String> {
        let Some(text) = present(text) else {
            return if spec.required { Err(REQUIRED.into()) } else { Ok(String::new()) };
        };
        // A NUL byte in text is never what a person typed, and some databases refuse it.
        if text.contains('\0') {
            return Err("Null characters are not allowed.".into());
        }
        let len = text.chars().count();
        if let Some(max) = spec.max_length
            && len > max
        {
            return Err(format!("Ensure this value has at most {max} characters (it has {len})."));
        }
        if let Some(min) = spec.min_length
            && len < min
        {
            return Err(format!("Ensure this value has at least {min} characters (it has {len})."));
        }
        match spec.kind {
            TextKind::Plain => Ok(text.to_owned()),
            TextKind::Email if is_valid_email(text) => Ok(text.to_owned()),
            TextKind::Email => Err("Enter a valid email address.".into()),
            TextKind::Url => {
                // Django assumes a scheme for `example.com`.
                let url = if text.contains("://") { text.to_owned() } else { format!("https://{text}") };
                if is_valid_url(&url) { Ok(url) } else { Err("Enter a valid URL.".into()) }
            }
        }
    }

    fn to_form_value(&self) -> String {
        self.clone()
    }
}

impl<T: FormField> FormField for Option<T> {
    fn configure(spec: &mut FieldSpec) {
        T::configure(spec);
        spec.required = false;
    }

    fn clean(text: Option<&str>, file: Option<&UploadedFile>, spec: &FieldSpec) -> Result<Self, String> {
        if present(text).is_none() && file.is_none() {
            return if spec.required { Err(REQUIRED.into()) } else { Ok(None) };
        }
        T::clean(text, file, spec).map(Some)
    }

    fn to_form_value(&self) -> String {
        self.as_ref().map(T::to_form_value).unwrap_or_default()
    }
}

fn bounded<T: PartialOrd + std::str::FromStr + std::fmt::Display>(value: T, spec: &FieldSpec) -> Result<T, String> {
    if let Some(min) = spec.min.as_deref().and_then(|m| m.parse::<T>().ok())
        && value < min
    {
        return Err(format!("Ensure this value is greater than or equal to {min}."));
    }
    if let Some(max) = spec.max.as_deref().and_then(|m| m.parse::<T>().ok())
        && value > max
    {
        return Err(format!("Ensure this value is less than or equal to {max}."));
    }
    Ok(value)
}

macro_rules! integers {
    ($($t:ty),*) => {$(
        impl FormField for $t {
            fn configure(spec: &mut FieldSpec) {
                spec.widget = Widget::Number;
                spec.step = Some("1".into());
            }

            fn clean(text: Option<&str>, _file: Option<&UploadedFile>, spec: &FieldSpec) -> Result<Self, String> {
                let text = present(text).ok_or(REQUIRED)?;
                // `1,000` is how people write numbers; Django's localized input takes it too.
                let digits = text.replace(',', "");
                match digits.parse::<$t>() {
                    Ok(n) => bounded(n, spec),
                    Err(_) if digits.parse::<i128>().is_ok() => Err(format!(
                        "Ensure this value is between {} and {}.", <$t>::MIN, <$t>::MAX
                    )),
                    Err(_) => Err("Enter a whole number.".into()),
                }
            }

            fn to_form_value(&self) -> String {
                self.to_string()
            }
        }
    )*};
}
integers!(i8, i16, i32, i64, u8, u16, u32, u64);

impl FormField for f64 {
    fn configure(spec: &mut FieldSpec) {
        spec.widget = Widget::Number;
        spec.step = Some("any".into());
    }

    fn clean(text: Option<&str>, _file: Option<&UploadedFile>, spec: &FieldSpec) -> Result<Self, String> {
        let text = present(text).ok_or(REQUIRED)?;
        match text.replace(',', "").parse::<f64>() {
            Ok(n) if n.is_finite() => bounded(n, spec),
            _ => Err("Enter a number.".into()),
        }
    }

    fn to_form_value(&self) -> String {
        self.to_string()
    }
}

impl FormField for Decimal {
    fn configure(spec: &mut FieldSpec) {
        spec.widget = Widget::Number;
        spec.step = Some("any".into());
    }

    fn clean(text: Option<&str>, _file: Option<&UploadedFile>, spec: &FieldSpec) -> Result<Self, String> {
        let text = present(text).ok_or(REQUIRED)?;
        let value: Decimal = text.replace(',', "").parse().map_err(|_| "Enter a number.".to_owned())?;
        // As Django's DecimalValidator, with trailing fractional zeros not counted (0.50 has
        // one place) and a zero before the point not counted (0.05 has no whole digits).
        let normal = value.normalize();
        let places = normal.scale();
        let int = normal.abs().trunc();
        let whole = if int.is_zero() { 0 } else { int.to_string().len() as u32 };
        let digits = whole + places;
        if let Some(max) = spec.max_digits
            && digits > max
        {
            return Err(format!("Ensure that there are no more than {max} digits in total."));
        }
        if let Some(max) = spec.decimal_places
            && places > max
        {
            return Err(format!("Ensure that there are no more than {max} decimal places."));
        }
        if let (Some(max_digits), Some(max_places)) = (spec.max_digits, spec.decimal_places)
            && whole > max_digits.saturating_sub(max_places)
        {
            return Err(format!(
                "Ensure that there are no more than {} digits before the decimal point.",
                max_digits.saturating_sub(max_places)
            ));
        }
        bounded(value, spec)
    }

    fn to_form_value(&self) -> String {
        self.to_string()
    }
}

impl FormField for bool {
    fn configure(spec: &mut FieldSpec) {
        spec.widget = Widget::Checkbox;
        // Unlike Django's BooleanField, unchecked is a valid answer unless `required` says so.
        spec.required = false;
    }

    fn clean(text: Option<&str>, _file: Option<&UploadedFile>, spec: &FieldSpec) -> Result<Self, String> {
        let checked = text.is_some_and(|t| !matches!(t.to_ascii_lowercase().as_str(), "" | "false" | "0" | "off"));
        if spec.required && !checked { Err(REQUIRED.into()) } else { Ok(checked) }
    }

    fn to_form_value(&self) -> String {
        if *self { "on".into() } else { String::new() }
    }
}

fn bounded_text<T: PartialOrd + std::fmt::Display>(
    value: T,
    spec: &FieldSpec,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<T, String> {
    if let Some(min) = spec.min.as_deref().and_then(&parse)
        && value < min
    {
        return Err(format!("Ensure this value is on or after {min}."));
    }
    if let Some(max) = spec.max.as_deref().and_then(&parse)
        && value > max
    {
        return Err(format!("Ensure this value is on or before {max}."));
    }
    Ok(value)
}

const DATE_FORMATS: [&str; 4] = ["%Y-%m-%d", "%m/%d/%Y", "%m/%d/%y", "%d.%m.%Y"];

fn parse_date(text: &str) -> Option<NaiveDate> {
    DATE_FORMATS.iter().find_map(|f| NaiveDate::parse_from_str(text, f).ok())
}

fn parse_datetime(text: &str) -> Option<NaiveDateTime> {
    const FORMATS: [&str; 5] =
        ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S%.f"];
    FORMATS
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
        .or_else(|| parse_date(text).and_then(|d| d.and_hms_opt(0, 0, 0)))
}

impl FormField for NaiveDate {
    fn configure(spec: &mut FieldSpec) {
        spec.widget = Widget::Date;
    }

    fn clean(text: Option<&str>, _file: Option<&UploadedFile>, spec: &FieldSpec) -> Result<Self, String> {
        let text = present(text).ok_or(REQUIRED)?;
        let date = parse_date(text).ok_or("Enter a valid date.")?;
        bounded_text(date, spec, parse_date)
    }

    fn to_form_value(&self) -> String {
        self.format("%Y-%m-%d").to_string()
    }
}

impl FormField for NaiveDateTime {
    fn configure(spec: &mut FieldSpec) {
        spec.widget = Widget::DateTime;
    }

    fn clean(text: Option<&str>, _file: Option<&UploadedFile>, spec: &FieldSpec) -> Result<Self, String> {
        let text = present(text).ok_or(REQUIRED)?;
        let at = parse_datetime(text).ok_or("Enter a valid date/time.")?;
        bounded_text(at, spec, parse_datetime)
    }

    fn to_form_value(&self) -> String {
        self.format("%Y-%m-%dT%H:%M").to_string()
    }
}

impl FormField for DateTime<Utc> {
    fn configure(spec: &mut FieldSpec) {
        spec.widget = Widget::DateTime;
    }

    /// Read as UTC (a `datetime-local` input carries no zone), or as RFC 3339 with its own.
    fn clean(text: Option<&str>, _file: Option<&UploadedFile>, spec: &FieldSpec) -> Result<Self, String> {
        let text = present(text).ok_or(REQUIRED)?;
        let parse = |t: &str| {
            DateTime::parse_from_rfc3339(t)
                .map(|d| d.with_timezone(&Utc))
                .ok()
                .or_else(|| parse_datetime(t).map(|n| n.and_utc()))
        };
        let at = parse(text).ok_or("Enter a valid date/time.")?;
        bounded_text(at, spec, parse)
    }

    fn to_form_value(&self) -> String {
        self.format("%Y-%m-%dT%H:%M").to_string()
    }
}

impl FormField for NaiveTime {
    fn configure(spec: &mut FieldSpec) {
        spec.widget = Widget::Time;
    }

    fn clean(text: Option<&str>, _file: Option<&UploadedFile>, spec: &FieldSpec) -> Result<Self, String> {
        let text = present(text).ok_or(REQUIRED)?;
        let parse =
            |t: &str| NaiveTime::parse_from_str(t, "%H:%M").or_else(|_| NaiveTime::parse_from_str(t, "%H:%M:%S")).ok();
        let time = parse(text).ok_or("Enter a valid time.")?;
        bounded_text(time, spec, parse)
    }

    fn to_form_value(&self) -> String {
        self.format("%H:%M").to_string()
    }
}

impl FormField for UploadedFile {
    fn configure(spec: &mut FieldSpec) {
        spec.widget = Widget::File;
    }

    fn clean(_text: Option<&str>, file: Option<&UploadedFile>, spec: &FieldSpec) -> Result<Self, String> {
        let Some(file) = file else {
            return Err(if spec.required { REQUIRED } else { "No file was submitted." }.into());
        };
        if file.size() == 0 {
            return Err("The submitted file is empty.".into());
        }
        if let Some(max) = spec.max_size
            && file.size() > max
        {
            return Err(format!("Ensure this file is no larger than {max} bytes (it is {} bytes).", file.size()));
        }
        Ok(file.clone())
    }

    /// Files are never filled back into an input.
    fn to_form_value(&self) -> String {
        String::new()
    }
}

/// The [`FormField`] of a [`Choices`](super::Choices) enum (what `#[derive(Choices)]` uses).
pub fn clean_choice<T: super::Choices>(text: Option<&str>, _spec: &FieldSpec) -> Result<T, String> {
    let text = present(text).ok_or(REQUIRED)?;
    T::from_choice(text).ok_or_else(|| format!("Select a valid choice. {text} is not one of the available choices."))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> FieldSpec {
        FieldSpec::new("f", "F")
    }

    #[test]
    fn decimals_fit_their_column_as_djangos_validator_says() {
        let column = |digits, places| {
            let mut s = spec();
            s.max_digits = Some(digits);
            s.decimal_places = Some(places);
            s
        };
        let cents = column(2, 2);
        for fits in ["0", "0.00", "-0.0", "0.99", "0.5"] {
            assert!(Decimal::clean(Some(fits), None, &cents).is_ok(), "{fits} fits numeric(2, 2)");
        }
        assert_eq!(
            Decimal::clean(Some("1.00"), None, &cents).unwrap_err(),
            "Ensure that there are no more than 0 digits before the decimal point."
        );
        let money = column(12, 2);
        for fits in ["-9999999999.99", "1.50", "100", "0.01"] {
            assert!(Decimal::clean(Some(fits), None, &money).is_ok(), "{fits} fits numeric(12, 2)");
        }
        assert_eq!(
            Decimal::clean(Some("99999999999999999999"), None, &money).unwrap_err(),
            "Ensure that there are no more than 12 digits in total."
        );
    }

    #[test]
    fn emails_and_urls() {
        for good in ["ada@example.com", "a.b+tag@mail.example.co.uk", "x@[127.0.0.1]", "josé@exämple.de"] {
            assert!(is_valid_email(good), "{good}");
        }
        for bad in
            ["", "ada", "@example.com", "ada@", "ada@localhost", "a b@example.com", "ada@-x.com", "ada@example.123"]
        {
            assert!(!is_valid_email(bad), "{bad}");
        }
        let mut s = spec();
        s.kind = TextKind::Url;
        assert_eq!(String::clean(Some("example.com/x"), None, &s).unwrap(), "https://example.com/x");
        assert!(String::clean(Some("javascript:alert(1)"), None, &s).is_err());
    }

    #[test]
    fn numbers_check_their_range_and_say_so() {
        let mut s = spec();
        s.min = Some("0".into());
        s.max = Some("100".into());
        assert_eq!(i32::clean(Some("1,000"), None, &s).unwrap_err(), "Ensure this value is less than or equal to 100.");
        assert_eq!(i32::clean(Some("-1"), None, &s).unwrap_err(), "Ensure this value is greater than or equal to 0.");
        assert_eq!(i32::clean(Some("4.5"), None, &s).unwrap_err(), "Enter a whole number.");
        assert_eq!(
            u8::clean(Some("99999999999"), None, &spec()).unwrap_err(),
            "Ensure this value is between 0 and 255."
        );
        let mut d = spec();
        d.decimal_places = Some(2);
        assert_eq!(
            Decimal::clean(Some("12.345"), None, &d).unwrap_err(),
            "Ensure that there are no more than 2 decimal places."
        );
        assert_eq!(Decimal::clean(Some("12,500.50"), None, &d).unwrap().to_string(), "12500.50");
        assert_eq!(f64::clean(Some("NaN"), None, &spec()).unwrap_err(), "Enter a number.");
    }

    #[test]
    fn dates_in_several_formats() {
        assert_eq!(NaiveDate::clean(Some("2026-03-01"), None, &spec()).unwrap().to_string(), "2026-03-01");
        assert_eq!(NaiveDate::clean(Some("03/01/2026"), None, &spec()).unwrap().to_string(), "2026-03-01");
        assert_eq!(NaiveDate::clean(Some("2026-02-30"), None, &spec()).unwrap_err(), "Enter a valid date.");
        let at = NaiveDateTime::clean(Some("2026-03-01T09:30"), None, &spec()).unwrap();
        assert_eq!(at.to_form_value(), "2026-03-01T09:30");
    }

    #[test]
    fn optional_and_required_text() {
        let mut s = spec();
        assert_eq!(String::clean(None, None, &s).unwrap_err(), REQUIRED);
        s.required = false;
        assert_eq!(String::clean(Some(""), None, &s).unwrap(), "");
        s.max_length = Some(3);
        assert_eq!(
            String::clean(Some("abcd"), None, &s).unwrap_err(),
            "Ensure this value has at most 3 characters (it has 4)."
        );
        assert_eq!(Option::<i32>::clean(Some(""), None, &s).unwrap(), None);
        assert!(bool::clean(None, None, &s).is_ok_and(|b| !b));
        assert!(String::clean(Some("a\0b"), None, &spec()).is_err());
    }
}
