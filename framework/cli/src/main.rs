//! `djambda`, Django's `django-admin`: `djambda startproject NAME [DIR]` writes a new site, a
//! cargo workspace of its own shaped like djambda's example site.

mod project;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "djambda", about = "Start a djambda site of your own.", version, disable_help_subcommand = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Writes a new site: a cargo workspace with the site crate (its `manage` binary, settings,
    /// URLs and a first page), its migrations crate, templates, static files,
    /// `.cargo/config.toml` for `cargo manage`, a README and a .gitignore.
    Startproject {
        /// The site's name, which is also its crate's: lower-case letters, digits and `_`.
        name: String,
        /// Where to write it (default: ./NAME). It may exist if it is empty.
        directory: Option<PathBuf>,
        /// Depend on the djambda checkout in this folder (its root or its `framework/`).
        #[arg(long, value_name = "DIR", conflicts_with = "djambda_git")]
        djambda_path: Option<PathBuf>,
        /// Depend on djambda from this git repository.
        #[arg(long, value_name = "URL")]
        djambda_git: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // clap prints help and version to stdout with exit 0, usage errors with exit 2.
            let _ = e.print();
            return ExitCode::from(e.exit_code().clamp(0, 255) as u8);
        }
    };
    match cli.command {
        Command::Startproject { name, directory, djambda_path, djambda_git } => {
            let source = match (djambda_path, djambda_git) {
                (Some(path), _) => project::Source::Path(path),
                (None, Some(url)) => project::Source::Git(url),
                (None, None) => project::Source::Release,
            };
            let dir = directory.unwrap_or_else(|| PathBuf::from(&name));
            match project::startproject(&name, &dir, &source) {
                Ok(written) => {
                    println!("Created the site '{name}' in {}.", written.display());
                    println!("\n    cd {}\n    cargo manage runserver\n", dir.display());
                    println!("and open http://127.0.0.1:8000/ (the first build takes a few minutes).");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("CommandError: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
