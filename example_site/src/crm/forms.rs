//! The CRM's forms (Django's `crm/forms.py`): the forecast calculator, and a model form for
//! each record people edit.

use djambda::db::sea_orm::prelude::Decimal;
use djambda::forms::{Form, ModelForm, UploadedFile, Widget};

use super::models::{Stage, company, contact, deal, note};

/// The deal forecast form: an amount and a win probability.
#[derive(Debug, Clone, Form)]
pub struct ForecastForm {
    /// The deal amount (`12,500.50` is fine).
    #[form(min = "0.01", max = "1000000000", decimal_places = 2)]
    pub amount: Decimal,
    /// The win probability in percent.
    #[form(label = "Win probability (%)", min = 0, max = 100)]
    pub probability: u8,
}

impl ForecastForm {
    /// Amount × probability, rounded to cents.
    pub fn weighted(&self) -> Decimal {
        (self.amount * Decimal::from(self.probability) / Decimal::from(100)).round_dp(2)
    }
}

/// Importing contacts from a spreadsheet: a company and a CSV file (a multipart upload).
#[derive(Debug, Form)]
pub struct ContactImportForm {
    /// The company the contacts work for (its choices are set per request).
    #[form(label = "Company", widget = "select")]
    pub company_id: i32,
    /// The CSV: `first_name,last_name,email` per line.
    #[form(
        label = "CSV file",
        max_size = 1048576,
        help_text = "One contact per line: first_name,last_name,email. A header line is skipped."
    )]
    pub file: UploadedFile,
}

/// Companies: name, a unique slug for their URL, and where they are.
pub fn company_form() -> ModelForm<company::Entity> {
    use company::Column as C;
    ModelForm::new([C::Name, C::Slug, C::Industry, C::City, C::Website])
        .help_text(C::Slug, "Used in the company's address: lower-case letters, digits and hyphens.")
        .url(C::Website)
        .required(C::Website, false)
        .required(C::City, false)
        .required(C::Industry, false)
        .validator(C::Slug, |slug| {
            if !slug.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
                Err("Enter a valid slug: lower-case letters, digits and hyphens only.".into())
            } else if slug == "new" {
                // companies/new/ is the page that adds one.
                Err("“new” is reserved; choose another slug.".into())
            } else {
                Ok(())
            }
        })
}

/// Contacts: a person at a company.
pub fn contact_form() -> ModelForm<contact::Entity> {
    use contact::Column as C;
    ModelForm::new([C::FirstName, C::LastName, C::CompanyId, C::Title, C::Email, C::Phone])
        .label(C::CompanyId, "Company")
        .email(C::Email)
        .required(C::Title, false)
        .required(C::Phone, false)
}

/// Deals: a sale in the pipeline.
pub fn deal_form() -> ModelForm<deal::Entity> {
    use deal::Column as C;
    ModelForm::new([C::Title, C::CompanyId, C::Stage, C::Amount, C::ExpectedClose])
        .label(C::CompanyId, "Company")
        .choices::<Stage>(C::Stage)
        .label(C::ExpectedClose, "Expected close date")
}

/// Notes: about a contact or a deal (at least one).
pub fn note_form() -> ModelForm<note::Entity> {
    use note::Column as C;
    ModelForm::new([C::Body, C::ContactId, C::DealId])
        .label(C::ContactId, "About contact")
        .label(C::DealId, "About deal")
        .widget(C::Body, Widget::Textarea)
        .related::<contact::Entity>(C::ContactId, |c| format!("{} {}", c.first_name, c.last_name))
        .clean(|data, errors| {
            let empty = |name| data.get(name).is_none_or(|v| v.trim().is_empty());
            if empty("contact_id") && empty("deal_id") {
                errors.add(None, "Choose the contact or the deal this note is about.");
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use djambda::forms::FormData;

    #[test]
    fn valid_forecast_weights_the_amount() {
        let form = ForecastForm::bind_data(FormData::from_pairs([("amount", "12,500.50"), ("probability", "40")]));
        assert!(form.is_valid(), "{}", form.errors());
        let f = form.cleaned_data().unwrap();
        assert_eq!(f.weighted().to_string(), "5000.20");
    }

    #[test]
    fn every_bad_field_is_reported() {
        let form = ForecastForm::bind_data(FormData::from_pairs([("amount", "12.345"), ("probability", "140")]));
        assert!(!form.is_valid());
        assert_eq!(form.errors().field("amount"), ["Ensure that there are no more than 2 decimal places."]);
        assert_eq!(form.errors().field("probability"), ["Ensure this value is less than or equal to 100."]);
        let missing = ForecastForm::bind_data(FormData::default());
        assert_eq!(missing.errors().field("amount"), ["This field is required."]);
    }
}
