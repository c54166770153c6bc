use djambda::forms::Form;

#[derive(Form)]
enum Contact {
    Email(String),
    Phone(String),
}

fn main() {}
