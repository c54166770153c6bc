//! Forms (Django's `django.forms`): declare the fields a POST may carry and how each is checked,
//! bind the request's data, and get typed values or per-field errors with human messages. A
//! form renders as labelled inputs of the right type, with what the user typed and the errors,
//! through templates a site can override (`djambda/forms/form.html`, `djambda/forms/field.html`).
//!
//! ```
//! use djambda::forms::{Form, FormData};
//! use djambda::prelude::*;
//!
//! #[derive(Form, Debug)]
//! struct ContactForm {
//!     #[form(max_length = 100)]
//!     name: String,
//!     #[form(email)]
//!     email: String,
//!     #[form(min = 0, max = 120)]
//!     age: Option<u8>,
//!     #[form(widget = "textarea", required = false)]
//!     message: String,
//! }
//!
//! let data = FormData::from_pairs([("name", "Ada"), ("email", "not-an-email"), ("age", "200")]);
//! let mut form = ContactForm::bind_data(data);
//! assert!(!form.is_valid());
//! assert_eq!(form.errors().field("email"), ["Enter a valid email address."]);
//! assert_eq!(form.errors().field("age"), ["Ensure this value is less than or equal to 120."]);
//!
//! let mut form = ContactForm::bind_data(FormData::from_pairs([("name", "Ada"), ("email", "ada@example.com")]));
//! assert!(form.is_valid());
//! assert_eq!(form.cleaned_data().unwrap().age, None);
//! ```
//!
//! In a view, `ContactForm::bind(&req)?` reads the request's urlencoded or multipart body;
//! `render(&req, "contact.html", context! { form })` and `{% include "djambda/forms/form.html" %}`
//! in the template show it.

mod fields;
mod model;
mod render;

use std::collections::BTreeMap;
use std::sync::OnceLock;

pub use crate::http::{FormData, UploadedFile};
pub use djambda_macros::{Choices, Form};
pub use fields::{clean_choice, is_valid_email, is_valid_url};
pub use model::{BoundModelForm, ModelForm, SELECT_LIMIT};
use serde::Serialize;

use crate::error::Result;
use crate::request::Request;

/// How a field is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Widget {
    /// `<input type="text">`.
    Text,
    /// `<input type="email">`.
    Email,
    /// `<input type="url">`.
    Url,
    /// `<input type="number">`.
    Number,
    /// `<input type="password">`, never filled back in.
    Password,
    /// `<input type="hidden">`.
    Hidden,
    /// `<textarea>`.
    Textarea,
    /// `<input type="checkbox">`.
    Checkbox,
    /// `<select>` with the field's choices.
    Select,
    /// `<input type="date">`.
    Date,
    /// `<input type="datetime-local">`.
    DateTime,
    /// `<input type="time">`.
    Time,
    /// `<input type="file">`; the form then needs `enctype="multipart/form-data"`.
    File,
}

impl Widget {
    /// The `type` attribute of the `<input>` (or the element for the others).
    pub fn input_type(self) -> &'static str {
        match self {
            Widget::Text => "text",
            Widget::Email => "email",
            Widget::Url => "url",
            Widget::Number => "number",
            Widget::Password => "password",
            Widget::Hidden => "hidden",
            Widget::Textarea => "textarea",
            Widget::Checkbox => "checkbox",
            Widget::Select => "select",
            Widget::Date => "date",
            Widget::DateTime => "datetime-local",
            Widget::Time => "time",
            Widget::File => "file",
        }
    }

    /// The widget for a name used in `#[form(widget = "…")]`.
    pub fn from_name(name: &str) -> Option<Widget> {
        Some(match name {
            "text" => Widget::Text,
            "email" => Widget::Email,
            "url" => Widget::Url,
            "number" => Widget::Number,
            "password" => Widget::Password,
            "hidden" => Widget::Hidden,
            "textarea" => Widget::Textarea,
            "checkbox" => Widget::Checkbox,
            "select" => Widget::Select,
            "date" => Widget::Date,
            "datetime" | "datetime-local" => Widget::DateTime,
            "time" => Widget::Time,
            "file" => Widget::File,
            _ => return None,
        })
    }
}

/// What a text value must look like beyond its length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TextKind {
    /// Any text.
    #[default]
    Plain,
    /// An email address (Django's `EmailField`).
    Email,
    /// An http(s) URL (Django's `URLField`).
    Url,
}

/// One field of a form: its name, label, widget and constraints. The derive builds these
/// from the struct; [`BoundForm::field_mut`] adjusts them at run time.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldSpec {
    /// The input's `name`.
    pub name: String,
    /// The label shown.
    pub label: String,
    /// How it is shown.
    pub widget: Widget,
    /// Whether an empty value is an error.
    pub required: bool,
    /// Help shown under the input.
    pub help_text: String,
    /// What a text value must look like.
    pub kind: TextKind,
    /// Shortest text accepted, in characters.
    pub min_length: Option<usize>,
    /// Longest text accepted, in characters.
    pub max_length: Option<usize>,
    /// Smallest number (or earliest date) accepted, as written.
    pub min: Option<String>,
    /// Largest number (or latest date) accepted, as written.
    pub max: Option<String>,
    /// The `step` of a number input (`1` for integers, `0.01` for two decimals, `any`).
    pub step: Option<String>,
    /// Most decimal places accepted.
    pub decimal_places: Option<u32>,
    /// Most digits accepted in all (a `numeric(12, 2)` column's 12), Django's `max_digits`.
    pub max_digits: Option<u32>,
    /// The choices of a select: `(value, label)`.
    pub choices: Vec<(String, String)>,
    /// Largest upload accepted, in bytes.
    pub max_size: Option<u64>,
}

impl FieldSpec {
    /// A required text field called `name` with `label`.
    pub fn new(name: &str, label: &str) -> Self {
        FieldSpec {
            name: name.to_owned(),
            label: label.to_owned(),
            widget: Widget::Text,
            required: true,
            help_text: String::new(),
            kind: TextKind::Plain,
            min_length: None,
            max_length: None,
            min: None,
            max: None,
            step: None,
            decimal_places: None,
            max_digits: None,
            choices: Vec::new(),
            max_size: None,
        }
    }

    /// `first_name` → `First name`, Django's default label.
    pub fn label_for(name: &str) -> String {
        let text = name.trim_end_matches("_id").replace('_', " ");
        let mut chars = text.chars();
        match chars.next() {
            Some(c) => c.to_uppercase().chain(chars).collect(),
            None => String::new(),
        }
    }
}

/// The errors of a form: per field, and for the whole form (Django's `NON_FIELD_ERRORS`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FormErrors {
    by_field: BTreeMap<String, Vec<String>>,
    non_field: Vec<String>,
}

impl FormErrors {
    /// No errors.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an error to `field`, or to the whole form when `None`.
    pub fn add(&mut self, field: Option<&str>, message: impl Into<String>) {
        match field {
            Some(f) => self.by_field.entry(f.to_owned()).or_default().push(message.into()),
            None => self.non_field.push(message.into()),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.by_field.is_empty() && self.non_field.is_empty()
    }

    /// The errors of one field.
    pub fn field(&self, name: &str) -> &[String] {
        self.by_field.get(name).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The errors of the whole form.
    pub fn non_field(&self) -> &[String] {
        &self.non_field
    }

    /// The names of the fields with errors.
    pub fn fields(&self) -> impl Iterator<Item = &str> {
        self.by_field.keys().map(String::as_str)
    }
}

impl std::fmt::Display for FormErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts: Vec<String> = self.non_field.clone();
        for (field, errors) in &self.by_field {
            parts.push(format!("{field}: {}", errors.join(" ")));
        }
        f.write_str(&parts.join("; "))
    }
}

/// A type a form field can hold: how it reads the submitted text, and how it shows itself.
/// Implemented for strings, integers, floats, decimals, `bool`, dates and times, uploaded
/// files, `Option` of any of them (which makes the field optional), and enums deriving
/// [`Choices`].
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a form field",
    label = "not a form field type",
    note = "a form field holds a `String`, an integer, `f64`, `Decimal`, `bool`, a chrono date or time, an \
            `UploadedFile`, an enum deriving `Choices`, or an `Option` of one; `#[form(skip)]` leaves a field out"
)]
pub trait FormField: Sized {
    /// Sets the defaults this type implies: widget, required, step, choices.
    fn configure(_spec: &mut FieldSpec) {}
    /// Reads the value: `text` is the submitted value (trimmed, `None` when absent), `file`
    /// the uploaded file. `Err` is the message shown under the field.
    fn clean(text: Option<&str>, file: Option<&UploadedFile>, spec: &FieldSpec) -> std::result::Result<Self, String>;
    /// The value as the input shows it.
    fn to_form_value(&self) -> String;
}

/// An enum whose variants are a field's choices (`#[derive(Choices)]` writes this, and its
/// [`FormField`], with values in snake case and labels in words unless
/// `#[choice(value = "…", label = "…")]` says otherwise).
pub trait Choices: Sized {
    /// Every `(value, label)` in order.
    fn choices() -> Vec<(String, String)>;
    /// The variant with this value.
    fn from_choice(value: &str) -> Option<Self>;
    /// This variant's value.
    fn choice_value(&self) -> String;
    /// This variant's label.
    fn choice_label(&self) -> String {
        let value = self.choice_value();
        Self::choices().into_iter().find(|(v, _)| *v == value).map(|(_, l)| l).unwrap_or(value)
    }
}

/// The `step` of a number input with `places` decimals: `0.01` for two.
pub fn decimal_step(places: u32) -> String {
    if places == 0 { "1".into() } else { format!("0.{}1", "0".repeat(places as usize - 1)) }
}

/// Reads one field from `data` as `T` (what the derived `clean_data` calls).
pub fn clean_field<T: FormField>(data: &FormData, spec: &FieldSpec) -> std::result::Result<T, String> {
    let raw = data.get(&spec.name);
    // Django strips surrounding whitespace, except from passwords.
    let text = if spec.widget == Widget::Password { raw } else { raw.map(str::trim) };
    T::clean(text, data.file(&spec.name), spec)
}

/// A form type (`#[derive(Form)]` writes this): its fields, and how submitted data becomes a
/// value of it.
pub trait Form: Sized + Send + 'static {
    /// The fields in declaration order.
    fn fields() -> Vec<FieldSpec>;
    /// Reads and validates `data` against `fields` (the form's fields, possibly adjusted at run
    /// time): the value, or every error found.
    fn clean_data(data: &FormData, fields: &[FieldSpec]) -> std::result::Result<Self, FormErrors>;
    /// This value's fields as the inputs show them (an edit form's initial values).
    fn initial_data(&self) -> FormData;

    /// The form bound to the request's body (urlencoded or multipart). A malformed multipart
    /// body is a 400.
    fn bind(req: &Request) -> Result<BoundForm<Self>> {
        Ok(Self::bind_data(req.form_data()?.clone()))
    }

    /// The form bound to `data`.
    fn bind_data(data: FormData) -> BoundForm<Self> {
        BoundForm::new(Self::fields(), Some(data), FormData::default())
    }

    /// An empty form, to show.
    fn unbound() -> BoundForm<Self> {
        BoundForm::new(Self::fields(), None, FormData::default())
    }

    /// A form showing `initial`'s values (an edit page before it is submitted).
    fn with_initial(initial: &Self) -> BoundForm<Self> {
        BoundForm::new(Self::fields(), None, initial.initial_data())
    }
}

struct Cleaned<F> {
    value: Option<F>,
    errors: FormErrors,
}

/// A form with its data (or none yet): validated on first ask, rendered by its templates
/// (serialise it into the context). Django's form instance.
pub struct BoundForm<F> {
    fields: Vec<FieldSpec>,
    data: Option<FormData>,
    initial: FormData,
    cleaned: OnceLock<Cleaned<F>>,
    prefix_errors: FormErrors,
}

impl<F: Form> BoundForm<F> {
    fn new(fields: Vec<FieldSpec>, data: Option<FormData>, initial: FormData) -> Self {
        BoundForm { fields, data, initial, cleaned: OnceLock::new(), prefix_errors: FormErrors::default() }
    }

    fn cleaned(&self) -> &Cleaned<F> {
        self.cleaned.get_or_init(|| match &self.data {
            None => Cleaned { value: None, errors: FormErrors::default() },
            Some(data) => {
                let mut errors = self.prefix_errors.clone();
                let value = match F::clean_data(data, &self.fields) {
                    Ok(v) => Some(v),
                    Err(e) => {
                        merge(&mut errors, e);
                        None
                    }
                };
                // Choices set at run time (rows from the database) are checked here, since
                // the field's type only knows it holds a key.
                for spec in self.fields.iter().filter(|s| s.widget == Widget::Select && !s.choices.is_empty()) {
                    if let Some(raw) = data.get(&spec.name).map(str::trim).filter(|v| !v.is_empty())
                        && !spec.choices.iter().any(|(v, _)| v == raw)
                        && errors.field(&spec.name).is_empty()
                    {
                        errors.add(
                            Some(&spec.name),
                            "Select a valid choice. That choice is not one of the available choices.",
                        );
                    }
                }
                Cleaned { value: if errors.is_empty() { value } else { None }, errors }
            }
        })
    }

    /// Whether the form has data (was submitted).
    pub fn is_bound(&self) -> bool {
        self.data.is_some()
    }

    /// Whether the form was submitted and every field is valid (validates on first call).
    pub fn is_valid(&self) -> bool {
        self.is_bound() && self.cleaned().errors.is_empty()
    }

    /// The valid data, once the form is valid (Django's `cleaned_data`).
    pub fn cleaned_data(&self) -> Option<&F> {
        self.cleaned().value.as_ref()
    }

    /// Takes the valid data out of the form.
    pub fn into_cleaned(mut self) -> Option<F> {
        self.cleaned();
        self.cleaned.take().and_then(|c| c.value)
    }

    /// The errors found (validating first if needed).
    pub fn errors(&self) -> &FormErrors {
        &self.cleaned().errors
    }

    /// Adds an error found after validation (a unique value taken, a failed save): the form is
    /// then invalid and shows it.
    pub fn add_error(&mut self, field: Option<&str>, message: impl Into<String>) {
        let message = message.into();
        match self.cleaned.get_mut() {
            Some(c) => {
                c.errors.add(field, message);
                c.value = None;
            }
            None => self.prefix_errors.add(field, message),
        }
    }

    /// A field's description, to change its label, help, choices… before validation.
    pub fn field_mut(&mut self, name: &str) -> Option<&mut FieldSpec> {
        // Changing a field after validation would show what was not checked.
        self.cleaned = OnceLock::new();
        self.fields.iter_mut().find(|f| f.name == name)
    }

    /// Sets the choices of a select field (rows from the database, say); a submitted value
    /// outside them is refused.
    pub fn set_choices(&mut self, name: &str, choices: Vec<(String, String)>) {
        if let Some(spec) = self.field_mut(name) {
            spec.widget = Widget::Select;
            spec.choices = choices;
        }
    }

    /// The fields.
    pub fn fields(&self) -> &[FieldSpec] {
        &self.fields
    }

    /// The submitted data, if any.
    pub fn data(&self) -> Option<&FormData> {
        self.data.as_ref()
    }
}

fn merge(into: &mut FormErrors, from: FormErrors) {
    for (field, errors) in from.by_field {
        into.by_field.entry(field).or_default().extend(errors);
    }
    into.non_field.extend(from.non_field);
}

impl<F: Form> Serialize for BoundForm<F> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let errors = if self.is_bound() { self.errors().clone() } else { FormErrors::default() };
        render::FormContext::new(&self.fields, self.data.as_ref(), &self.initial, &errors).serialize(s)
    }
}
