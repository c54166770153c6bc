//! `manage`: the example site's command line, and its Lambda `bootstrap`.

fn main() -> std::process::ExitCode {
    djambda::management::execute(example_site::site)
}
