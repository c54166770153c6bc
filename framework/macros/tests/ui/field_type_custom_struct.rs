use djambda::forms::Form;

struct Address {
    street: String,
}

#[derive(Form)]
struct Contact {
    address: Address,
}

fn main() {}
