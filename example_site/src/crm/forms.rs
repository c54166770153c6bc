//! The CRM's forms: what a POST may carry and how it is checked.

use serde::{Deserialize, Serialize};

/// The deal forecast form: an amount and a win probability.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct ForecastForm {
    /// The deal amount, as typed (`12,500.50` is fine).
    #[serde(default)]
    pub amount: String,
    /// The win probability in percent, as typed.
    #[serde(default)]
    pub probability: String,
}

/// A valid forecast.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Forecast {
    /// Amount in cents.
    pub amount_cents: i64,
    /// Probability in percent (0–100).
    pub probability: u8,
    /// Amount × probability, in cents.
    pub weighted_cents: i64,
}

/// A field's error, for re-rendering the form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// The field name.
    pub field: &'static str,
    /// What is wrong, for a person.
    pub message: String,
}

impl ForecastForm {
    /// Validates the form as Django's `is_valid()` + `cleaned_data` would.
    pub fn clean(&self) -> Result<Forecast, Vec<FieldError>> {
        let mut errors = Vec::new();
        let amount = self.amount.trim().replace(',', "");
        let amount_cents = if amount.is_empty() {
            errors.push(FieldError { field: "amount", message: "This field is required.".into() });
            None
        } else {
            match parse_cents(&amount) {
                Some(c) if c > 0 && c <= 100_000_000_000 => Some(c),
                Some(_) => {
                    errors.push(FieldError {
                        field: "amount",
                        message: "Enter an amount between 0.01 and 1,000,000,000.".into(),
                    });
                    None
                }
                None => {
                    errors.push(FieldError {
                        field: "amount",
                        message: "Enter a number, like 12500 or 12,500.50.".into(),
                    });
                    None
                }
            }
        };
        let probability = match self.probability.trim().parse::<u8>() {
            Ok(p) if p <= 100 => Some(p),
            _ if self.probability.trim().is_empty() => {
                errors.push(FieldError { field: "probability", message: "This field is required.".into() });
                None
            }
            _ => {
                errors.push(FieldError { field: "probability", message: "Enter a whole number from 0 to 100.".into() });
                None
            }
        };
        match (amount_cents, probability) {
            (Some(amount_cents), Some(probability)) if errors.is_empty() => {
                Ok(Forecast { amount_cents, probability, weighted_cents: amount_cents * i64::from(probability) / 100 })
            }
            _ => Err(errors),
        }
    }
}

/// `12500.5` → 1250050 cents; `None` for anything else.
fn parse_cents(s: &str) -> Option<i64> {
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    if whole.is_empty()
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || frac.len() > 2
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let whole: i64 = whole.parse().ok()?;
    let frac: i64 = if frac.is_empty() { 0 } else { format!("{frac:0<2}").parse().ok()? };
    whole.checked_mul(100)?.checked_add(frac)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_forecast_weights_the_amount() {
        let f = ForecastForm { amount: "12,500.50".into(), probability: "40".into() };
        assert_eq!(f.clean().unwrap(), Forecast { amount_cents: 1_250_050, probability: 40, weighted_cents: 500_020 });
    }

    #[test]
    fn every_bad_field_is_reported() {
        let errors = ForecastForm { amount: "12.345".into(), probability: "140".into() }.clean().unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field).collect();
        assert_eq!(fields, vec!["amount", "probability"]);
        let missing = ForecastForm::default().clean().unwrap_err();
        assert!(missing.iter().all(|e| e.message == "This field is required."));
    }
}
