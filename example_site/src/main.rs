//! `manage`: the example site's command line, and its Lambda `bootstrap`.

fn main() -> std::process::ExitCode {
    djambda::management::Manage::new(example_site::site).command(example_site::crm::commands::pipeline_report()).run()
}
