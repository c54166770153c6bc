use djambda::forms::Form;

#[derive(Form)]
struct Contact {
    #[form(label)]
    name: String,
}

fn main() {}
