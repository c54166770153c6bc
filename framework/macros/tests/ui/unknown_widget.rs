use djambda::forms::Form;

#[derive(Form)]
struct Contact {
    #[form(widget = "text_area")]
    message: String,
}

fn main() {}
