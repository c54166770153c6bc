use djambda::forms::Form;

fn no_spaces(s: String) -> bool {
    !s.contains(' ')
}

#[derive(Form)]
struct Contact {
    #[form(validate = no_spaces)]
    handle: String,
}

fn main() {}
