use djambda::forms::Form;

#[derive(Form)]
struct Contact;

fn main() {}
