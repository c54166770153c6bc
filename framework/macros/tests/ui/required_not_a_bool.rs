use djambda::forms::Form;

#[derive(Form)]
struct Contact {
    #[form(required = "yes")]
    name: String,
}

fn main() {}
