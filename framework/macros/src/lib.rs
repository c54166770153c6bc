//! Derive macros for djambda (re-exported as `djambda::forms::{Form, Choices}`; see there for
//! the attributes).

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as Tokens};
use quote::{quote, quote_spanned};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Expr, ExprLit, Fields, Lit, Meta, Token, parse_macro_input};

/// `#[derive(Form)]` on a struct with named fields: each field becomes a form field whose type
/// says how it is read (`String`, integers, `Decimal`, `bool`, dates, `UploadedFile`, `Option`
/// of those, `Choices` enums) and whose `#[form(…)]` attributes add constraints: `label`,
/// `help_text`, `widget`, `required`, `min_length`, `max_length`, `min`, `max`, `step`,
/// `decimal_places`, `email` and `url` (on a `String` or `Option<String>`), `max_size`,
/// `validate = path` (a `fn(&T) -> Result<(), String>`, or `fn(&str)` for a `String`;
/// repeatable) and `skip`. On the struct, `#[form(clean = path)]` names a
/// `fn(&Self, &mut FormErrors)` run once every field is valid.
#[proc_macro_derive(Form, attributes(form))]
pub fn derive_form(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    form(input).unwrap_or_else(|e| e.to_compile_error()).into()
}

/// `#[derive(Choices)]` on an enum of unit variants: its variants become a select's choices.
/// Values are the variant in snake case (or its `#[sea_orm(string_value = "…")]`), labels the
/// variant in words; `#[choice(value = "…", label = "…")]` overrides either.
#[proc_macro_derive(Choices, attributes(choice))]
pub fn derive_choices(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    choices(input).unwrap_or_else(|e| e.to_compile_error()).into()
}

fn metas(attrs: &[syn::Attribute], name: &str) -> syn::Result<Vec<Meta>> {
    let mut out = Vec::new();
    for attr in attrs.iter().filter(|a| a.path().is_ident(name)) {
        out.extend(attr.parse_args_with(Punctuated::<Meta, Token![,]>::parse_terminated)?);
    }
    Ok(out)
}

fn key(meta: &Meta) -> String {
    meta.path().get_ident().map(|i| i.to_string()).unwrap_or_default()
}

fn value_expr(meta: &Meta) -> syn::Result<&Expr> {
    match meta {
        Meta::NameValue(nv) => Ok(&nv.value),
        _ => Err(syn::Error::new(meta.span(), format!("`{}` takes a value: `{} = …`", key(meta), key(meta)))),
    }
}

fn lit_str(meta: &Meta) -> syn::Result<String> {
    match value_expr(meta)? {
        Expr::Lit(ExprLit { lit: Lit::Str(s), .. }) => Ok(s.value()),
        other => Err(syn::Error::new(other.span(), format!("`{}` takes a string", key(meta)))),
    }
}

fn lit_int(meta: &Meta) -> syn::Result<u64> {
    match value_expr(meta)? {
        Expr::Lit(ExprLit { lit: Lit::Int(i), .. }) => i.base10_parse(),
        other => Err(syn::Error::new(other.span(), format!("`{}` takes a whole number", key(meta)))),
    }
}

fn lit_bool(meta: &Meta) -> syn::Result<bool> {
    match meta {
        Meta::Path(_) => Ok(true),
        _ => match value_expr(meta)? {
            Expr::Lit(ExprLit { lit: Lit::Bool(b), .. }) => Ok(b.value),
            other => Err(syn::Error::new(other.span(), format!("`{}` takes true or false", key(meta)))),
        },
    }
}

/// A number or string literal written as text: `0`, `-5`, `2.5`, `"2026-01-01"`.
fn lit_text(meta: &Meta) -> syn::Result<String> {
    fn text(e: &Expr) -> Option<String> {
        match e {
            Expr::Lit(ExprLit { lit: Lit::Int(i), .. }) => Some(i.base10_digits().to_owned()),
            Expr::Lit(ExprLit { lit: Lit::Float(f), .. }) => Some(f.base10_digits().to_owned()),
            Expr::Lit(ExprLit { lit: Lit::Str(s), .. }) => Some(s.value()),
            Expr::Unary(u) if matches!(u.op, syn::UnOp::Neg(_)) => text(&u.expr).map(|t| format!("-{t}")),
            _ => None,
        }
    }
    let e = value_expr(meta)?;
    text(e).ok_or_else(|| syn::Error::new(e.span(), format!("`{}` takes a number or a string", key(meta))))
}

fn path_expr(meta: &Meta) -> syn::Result<Expr> {
    match value_expr(meta)? {
        Expr::Lit(ExprLit { lit: Lit::Str(s), .. }) => s.parse::<Expr>(),
        e @ Expr::Path(_) => Ok(e.clone()),
        other => Err(syn::Error::new(other.span(), format!("`{}` takes the path of a function", key(meta)))),
    }
}

fn form(input: DeriveInput) -> syn::Result<Tokens> {
    let name = &input.ident;
    let Data::Struct(data) = &input.data else {
        return Err(syn::Error::new(input.span(), "#[derive(Form)] needs a struct with named fields"));
    };
    let Fields::Named(fields) = &data.fields else {
        // At the tuple's fields, which are what has to change (a unit struct has none: its name).
        let message = format!("#[derive(Form)] needs named fields: `struct {name} {{ field: String, … }}`");
        return Err(match &data.fields {
            Fields::Unit => syn::Error::new(name.span(), message),
            fields => syn::Error::new_spanned(fields, message),
        });
    };
    let mut clean_hook = None;
    for meta in metas(&input.attrs, "form")? {
        match key(&meta).as_str() {
            "clean" => clean_hook = Some(path_expr(&meta)?),
            other => {
                return Err(syn::Error::new(
                    meta.span(),
                    format!("unknown form attribute `{other}` (use `clean = path`)"),
                ));
            }
        }
    }

    let mut specs = Vec::new();
    let mut cleans = Vec::new();
    let mut idents = Vec::new();
    let mut binds = Vec::new();
    let mut initial = Vec::new();
    let mut skipped = Vec::new();
    let mut index = 0usize;
    for field in &fields.named {
        let ident = field.ident.as_ref().ok_or_else(|| syn::Error::new(field.span(), "a field needs a name"))?;
        let ty = &field.ty;
        let fname = ident.to_string();
        let mut sets = Vec::new();
        let mut validators = Vec::new();
        let mut skip = false;
        for meta in metas(&field.attrs, "form")? {
            let k = key(&meta);
            match k.as_str() {
                "skip" => skip = lit_bool(&meta)?,
                "label" => {
                    let v = lit_str(&meta)?;
                    sets.push(quote! { spec.label = #v.to_owned(); });
                }
                "help_text" | "help" => {
                    let v = lit_str(&meta)?;
                    sets.push(quote! { spec.help_text = #v.to_owned(); });
                }
                "widget" => {
                    let v = lit_str(&meta)?;
                    let at = value_expr(&meta)?;
                    let known = [
                        "text",
                        "email",
                        "url",
                        "number",
                        "password",
                        "hidden",
                        "textarea",
                        "checkbox",
                        "select",
                        "date",
                        "datetime",
                        "datetime-local",
                        "time",
                        "file",
                    ];
                    if !known.contains(&v.as_str()) {
                        return Err(syn::Error::new_spanned(
                            at,
                            format!("unknown widget {v:?} (one of {})", known.join(", ")),
                        ));
                    }
                    sets.push(quote! {
                        if let Some(w) = ::djambda::forms::Widget::from_name(#v) { spec.widget = w; }
                    });
                }
                "required" => {
                    let v = lit_bool(&meta)?;
                    sets.push(quote! { spec.required = #v; });
                }
                "min_length" | "max_length" => {
                    let v = lit_int(&meta)? as usize;
                    let f = syn::Ident::new(&k, Span::call_site());
                    sets.push(quote! { spec.#f = Some(#v); });
                }
                "min" | "max" | "step" => {
                    let v = lit_text(&meta)?;
                    let f = syn::Ident::new(&k, Span::call_site());
                    sets.push(quote! { spec.#f = Some(#v.to_owned()); });
                }
                "decimal_places" => {
                    let v = lit_int(&meta)? as u32;
                    sets.push(quote! {
                        spec.decimal_places = Some(#v);
                        spec.step = Some(::djambda::forms::decimal_step(#v));
                    });
                }
                "max_size" => {
                    let v = lit_int(&meta)?;
                    sets.push(quote! { spec.max_size = Some(#v); });
                }
                "email" | "url" if lit_bool(&meta)? => {
                    let check = text_only(ty, &k);
                    let kind = if k == "email" { quote!(Email) } else { quote!(Url) };
                    sets.push(quote! {
                        #check
                        spec.kind = ::djambda::forms::TextKind::#kind;
                        spec.widget = ::djambda::forms::Widget::#kind;
                    });
                }
                "email" | "url" => {}
                "validate" => validators.push(path_expr(&meta)?),
                other => {
                    return Err(syn::Error::new(
                        meta.span(),
                        format!(
                            "unknown form field attribute `{other}` (label, help_text, widget, required, min_length, \
                             max_length, min, max, step, decimal_places, email, url, max_size, validate, skip)"
                        ),
                    ));
                }
            }
        }
        if skip {
            skipped.push(quote! { #ident: ::core::default::Default::default(), });
            continue;
        }
        specs.push(quote! {{
            let mut spec = ::djambda::forms::FieldSpec::new(#fname, &::djambda::forms::FieldSpec::label_for(#fname));
            <#ty as ::djambda::forms::FormField>::configure(&mut spec);
            #(#sets)*
            spec
        }});
        let checks = validators.iter().map(|v| {
            // Through a `fn` pointer at the path's span, so a function of the wrong signature is
            // told at `validate = …` with the signature it should have (`&_`: `fn(&str)` is fine
            // for a `String`).
            let check = quote_spanned! {v.span()=>
                let check: fn(&_) -> ::core::result::Result<(), ::std::string::String> = #v;
                let checked = check(&value);
            };
            quote! {
                #check
                if let ::core::result::Result::Err(message) = checked {
                    errors.add(::core::option::Option::Some(#fname), message);
                    valid = false;
                }
            }
        });
        let var = syn::Ident::new(&format!("__field_{fname}"), ident.span());
        cleans.push(quote! {
            let #var: ::core::option::Option<#ty> =
                match ::djambda::forms::clean_field::<#ty>(data, &fields[#index]) {
                    ::core::result::Result::Ok(value) => {
                        let mut valid = true;
                        #(#checks)*
                        if valid { ::core::option::Option::Some(value) } else { ::core::option::Option::None }
                    }
                    ::core::result::Result::Err(message) => {
                        errors.add(::core::option::Option::Some(#fname), message);
                        ::core::option::Option::None
                    }
                };
        });
        idents.push(ident.clone());
        binds.push(var);
        let shown = quote_spanned! {ty.span()=> <#ty as ::djambda::forms::FormField>::to_form_value(&self.#ident) };
        initial.push(quote! {
            data.set(#fname, #shown);
        });
        index += 1;
    }
    // Through a `fn` pointer of the one signature allowed, so a wrong one is told at `clean = …`
    // with the signature it should have.
    let hook = clean_hook.map(|h| {
        let hook = quote_spanned! {h.span()=>
            let hook: fn(&Self, &mut ::djambda::forms::FormErrors) = #h;
        };
        quote! { #hook hook(&value, &mut errors); }
    });
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    Ok(quote! {
        impl #impl_generics ::djambda::forms::Form for #name #ty_generics #where_clause {
            fn fields() -> ::std::vec::Vec<::djambda::forms::FieldSpec> {
                ::std::vec![#(#specs),*]
            }

            fn clean_data(
                data: &::djambda::forms::FormData,
                fields: &[::djambda::forms::FieldSpec],
            ) -> ::core::result::Result<Self, ::djambda::forms::FormErrors> {
                if fields.len() != #index {
                    let mut errors = ::djambda::forms::FormErrors::new();
                    errors.add(::core::option::Option::None, "the form's fields were changed in number; change them with field_mut instead");
                    return ::core::result::Result::Err(errors);
                }
                let mut errors = ::djambda::forms::FormErrors::new();
                #(#cleans)*
                match (#(#binds,)*) {
                    (#(::core::option::Option::Some(#idents),)*) if errors.is_empty() => {
                        let value = Self { #(#idents,)* #(#skipped)* };
                        #hook
                        if errors.is_empty() { ::core::result::Result::Ok(value) } else { ::core::result::Result::Err(errors) }
                    }
                    _ => ::core::result::Result::Err(errors),
                }
            }

            fn initial_data(&self) -> ::djambda::forms::FormData {
                let mut data = ::djambda::forms::FormData::default();
                #(#initial)*
                data
            }
        }
    })
}

/// A check that `email` or `url` (`what`) is on a `String` or `Option<String>` field: they are
/// text checks, and on any other type they would do nothing.
fn text_only(ty: &syn::Type, what: &str) -> Tokens {
    let message = format!("`#[form({what})]` checks text: it needs a `String` or `Option<String>` field");
    let label = format!("not text, so `{what}` would check nothing");
    quote! {{
        #[diagnostic::on_unimplemented(message = #message, label = #label)]
        trait TextField {
            const IS_TEXT: () = ();
        }
        impl TextField for ::std::string::String {}
        impl TextField for ::core::option::Option<::std::string::String> {}
        <#ty as TextField>::IS_TEXT
    }}
}

/// `ClosedWon` → `closed_won`.
fn snake_case(name: &str) -> String {
    let mut snake = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            snake.push('_');
        }
        snake.extend(c.to_lowercase());
    }
    snake
}

fn choices(input: DeriveInput) -> syn::Result<Tokens> {
    let name = &input.ident;
    let Data::Enum(data) = &input.data else {
        return Err(syn::Error::new(input.span(), "#[derive(Choices)] needs an enum of variants without fields"));
    };
    let mut values = Vec::new();
    let mut labels = Vec::new();
    let mut variants = Vec::new();
    for v in &data.variants {
        if !matches!(v.fields, Fields::Unit) {
            return Err(syn::Error::new_spanned(
                &v.fields,
                format!("#[derive(Choices)] needs variants without fields: `{}` carries data", v.ident),
            ));
        }
        let words = snake_case(&v.ident.to_string());
        let mut value = words.clone();
        // By default the label is the variant in words, as Django's default labels are made.
        let mut label = quote! { ::djambda::forms::FieldSpec::label_for(#words) };
        // An enum stored by sea-orm keeps its database value as the form's value.
        for meta in metas(&v.attrs, "sea_orm").unwrap_or_default() {
            if key(&meta) == "string_value"
                && let Ok(s) = lit_str(&meta)
            {
                value = s;
            }
        }
        for meta in metas(&v.attrs, "choice")? {
            match key(&meta).as_str() {
                "value" => value = lit_str(&meta)?,
                "label" => {
                    let text = lit_str(&meta)?;
                    label = quote! { ::std::string::String::from(#text) };
                }
                other => {
                    return Err(syn::Error::new(
                        meta.span(),
                        format!("unknown choice attribute `{other}` (value, label)"),
                    ));
                }
            }
        }
        values.push(value);
        labels.push(label);
        variants.push(v.ident.clone());
    }
    Ok(quote! {
        impl ::djambda::forms::Choices for #name {
            fn choices() -> ::std::vec::Vec<(::std::string::String, ::std::string::String)> {
                ::std::vec![#((#values.to_owned(), #labels)),*]
            }

            fn from_choice(value: &str) -> ::core::option::Option<Self> {
                match value {
                    #(#values => ::core::option::Option::Some(Self::#variants),)*
                    _ => ::core::option::Option::None,
                }
            }

            fn choice_value(&self) -> ::std::string::String {
                match self {
                    #(Self::#variants => #values.to_owned(),)*
                }
            }

            fn choice_label(&self) -> ::std::string::String {
                match self {
                    #(Self::#variants => #labels,)*
                }
            }
        }

        impl ::djambda::forms::FormField for #name {
            fn configure(spec: &mut ::djambda::forms::FieldSpec) {
                spec.widget = ::djambda::forms::Widget::Select;
                spec.choices = <Self as ::djambda::forms::Choices>::choices();
            }

            fn clean(
                text: ::core::option::Option<&str>,
                _file: ::core::option::Option<&::djambda::forms::UploadedFile>,
                spec: &::djambda::forms::FieldSpec,
            ) -> ::core::result::Result<Self, ::std::string::String> {
                ::djambda::forms::clean_choice::<Self>(text, spec)
            }

            fn to_form_value(&self) -> ::std::string::String {
                <Self as ::djambda::forms::Choices>::choice_value(self)
            }
        }
    })
}

// The compile-fail cases are a unit test of this crate rather than an integration test of
// djambda: this crate's test binary exists anyway and is tiny, where a new test binary of djambda
// would link the whole framework once more. djambda is a dev-dependency here (cargo allows that
// cycle), so trybuild checks each case against the real `djambda::forms` re-exports, as a user's
// code is.
#[cfg(test)]
mod tests {
    /// A mistake in `#[derive(Form)]` or `#[derive(Choices)]` must be told at the user's own
    /// code, in words, and not as a type error deep in the generated impl: each file in
    /// `tests/ui` is such a mistake, and its `.stderr` the message it gets (regenerate with
    /// `TRYBUILD=overwrite` and read the diff).
    #[test]
    fn derive_errors() {
        trybuild::TestCases::new().compile_fail("tests/ui/*.rs");
    }
}
