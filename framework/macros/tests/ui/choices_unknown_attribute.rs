use djambda::forms::Choices;

#[derive(Choices)]
enum Plan {
    #[choice(lable = "Free plan")]
    Free,
    Team,
}

fn main() {}
