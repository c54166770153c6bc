use djambda::forms::Form;

#[derive(Form)]
struct Contact {
    #[form(max_lenght = 100)]
    name: String,
}

fn main() {}
