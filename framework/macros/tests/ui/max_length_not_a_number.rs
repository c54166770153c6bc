use djambda::forms::Form;

#[derive(Form)]
struct Contact {
    #[form(max_length = "ten")]
    name: String,
}

fn main() {}
