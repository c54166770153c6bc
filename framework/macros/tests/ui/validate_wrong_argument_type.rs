use djambda::forms::Form;

fn positive(n: &i64) -> Result<(), String> {
    if *n > 0 { Ok(()) } else { Err("Must be positive.".into()) }
}

#[derive(Form)]
struct Order {
    #[form(validate = positive)]
    quantity: u32,
}

fn main() {}
