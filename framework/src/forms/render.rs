//! What a form looks like to its templates: each field with its label, widget, current value,
//! errors and constraint attributes.

use serde::Serialize;
use serde::ser::SerializeMap;

use super::{FieldSpec, FormData, FormErrors, Widget};

/// One `<option>`.
#[derive(Serialize)]
struct ChoiceContext<'a> {
    value: &'a str,
    label: &'a str,
    selected: bool,
}

/// One field as `djambda/forms/field.html` sees it.
#[derive(Serialize)]
pub(crate) struct FieldContext<'a> {
    name: &'a str,
    id: String,
    label: &'a str,
    widget: Widget,
    input_type: &'static str,
    value: String,
    checked: bool,
    required: bool,
    is_hidden: bool,
    help_text: &'a str,
    errors: &'a [String],
    max_length: Option<usize>,
    min_length: Option<usize>,
    min: Option<&'a str>,
    max: Option<&'a str>,
    step: Option<&'a str>,
    choices: Vec<ChoiceContext<'a>>,
}

/// A whole form as templates see it: `fields` in order, each field also under its own name
/// (`form.email`), `non_field_errors`, `errors` by field, and whether it needs a multipart
/// encoding.
pub(crate) struct FormContext<'a> {
    fields: Vec<FieldContext<'a>>,
    errors: &'a FormErrors,
    is_bound: bool,
}

impl<'a> FormContext<'a> {
    pub(crate) fn new(
        specs: &'a [FieldSpec],
        data: Option<&'a FormData>,
        initial: &'a FormData,
        errors: &'a FormErrors,
    ) -> Self {
        let fields = specs
            .iter()
            .map(|spec| {
                // A bound form shows what was typed; an unbound one its initial values.
                let source = data.unwrap_or(initial);
                let raw = source.get(&spec.name).unwrap_or("");
                let value = match spec.widget {
                    Widget::Password | Widget::File => String::new(),
                    _ => raw.to_owned(),
                };
                let checked = spec.widget == Widget::Checkbox
                    && !raw.is_empty()
                    && !matches!(raw.to_ascii_lowercase().as_str(), "false" | "0" | "off");
                let mut choices: Vec<ChoiceContext<'_>> = Vec::with_capacity(spec.choices.len() + 1);
                if spec.widget == Widget::Select && (!spec.required || raw.is_empty()) {
                    choices.push(ChoiceContext { value: "", label: "---------", selected: raw.is_empty() });
                }
                choices.extend(spec.choices.iter().map(|(v, l)| ChoiceContext {
                    value: v,
                    label: l,
                    selected: v == raw,
                }));
                FieldContext {
                    name: &spec.name,
                    id: format!("id_{}", spec.name),
                    label: &spec.label,
                    widget: spec.widget,
                    input_type: spec.widget.input_type(),
                    value,
                    checked,
                    // A checkbox that may stay unchecked must not carry `required`, which would
                    // make the browser insist on a tick.
                    required: spec.required,
                    is_hidden: spec.widget == Widget::Hidden,
                    help_text: &spec.help_text,
                    errors: errors.field(&spec.name),
                    max_length: spec.max_length,
                    min_length: spec.min_length,
                    min: spec.min.as_deref(),
                    max: spec.max.as_deref(),
                    step: spec.step.as_deref(),
                    choices,
                }
            })
            .collect();
        FormContext { fields, errors, is_bound: data.is_some() }
    }
}

const RESERVED: [&str; 6] = ["fields", "non_field_errors", "errors", "is_bound", "is_multipart", "has_errors"];

impl Serialize for FormContext<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("fields", &self.fields)?;
        map.serialize_entry("non_field_errors", self.errors.non_field())?;
        let by_field: std::collections::BTreeMap<&str, &[String]> =
            self.errors.fields().map(|f| (f, self.errors.field(f))).collect();
        map.serialize_entry("errors", &by_field)?;
        map.serialize_entry("has_errors", &!self.errors.is_empty())?;
        map.serialize_entry("is_bound", &self.is_bound)?;
        map.serialize_entry("is_multipart", &self.fields.iter().any(|f| f.widget == Widget::File))?;
        for field in self.fields.iter().filter(|f| !RESERVED.contains(&f.name)) {
            map.serialize_entry(field.name, field)?;
        }
        map.end()
    }
}
