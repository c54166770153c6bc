use djambda::forms::Form;

#[derive(Form)]
struct Contact(String, String);

fn main() {}
