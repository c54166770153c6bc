use djambda::forms::{Form, FormErrors};

fn check(_: &Contact, _: &mut FormErrors) {}

#[derive(Form)]
#[form(cleam = check)]
struct Contact {
    name: String,
}

fn main() {}
