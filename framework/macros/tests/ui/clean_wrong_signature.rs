use djambda::forms::Form;

fn check(_: &Contact) -> bool {
    true
}

#[derive(Form)]
#[form(clean = check)]
struct Contact {
    name: String,
}

fn main() {}
