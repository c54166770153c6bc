use djambda::forms::Form;

#[derive(Form)]
struct Contact {
    #[form(validate = 42)]
    handle: String,
}

fn main() {}
