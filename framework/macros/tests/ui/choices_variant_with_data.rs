use djambda::forms::Choices;

#[derive(Choices)]
enum Plan {
    Free,
    Team { seats: u32 },
}

fn main() {}
