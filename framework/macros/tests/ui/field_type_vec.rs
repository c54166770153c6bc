use djambda::forms::Form;

#[derive(Form)]
struct Contact {
    tags: Vec<String>,
}

fn main() {}
