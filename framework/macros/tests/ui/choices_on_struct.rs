use djambda::forms::Choices;

#[derive(Choices)]
struct Plan {
    name: String,
}

fn main() {}
