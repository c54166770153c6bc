use djambda::forms::Form;

#[derive(Form)]
struct Contact {
    #[form(email)]
    age: u32,
}

fn main() {}
