//! The `manage` command line (Django's `django.core.management`): `runserver`, `check`, and,
//! with no command inside AWS Lambda, serving Lambda invocations.
//!
//! A site's `main` is one line:
//!
//! ```no_run
//! # fn site() -> Result<djambda::Site, djambda::ConfigError> { djambda::Site::builder().build() }
//! fn main() -> std::process::ExitCode {
//!     djambda::management::execute(site)
//! }
//! ```

#[cfg(unix)]
mod autoreload;
mod collectstatic;
mod dbshell;
mod fixtures;
mod makemigrations;
mod migrate;
mod runserver;
mod startapp;
mod template;
mod users;

pub use users::PASSWORD_ENV;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::site::Site;
use crate::site::builder::ConfigError;
pub use crate::site::commands::{CommandFn, SiteCommand};

#[derive(Parser)]
#[command(
    name = "manage",
    about = "Manage this djambda site: run it locally, check it, and (with no command, inside AWS Lambda) serve it.",
    version,
    disable_help_subcommand = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Starts the development server (default 127.0.0.1:8000). In a debug build it rebuilds
    /// and restarts itself when a source file changes.
    Runserver {
        /// Port, or address and port to listen on: `8000`, `0.0.0.0:8000`, `[::1]:8000`.
        addrport: Option<String>,
        /// Serve in this process, without watching for changes.
        #[arg(long, visible_alias = "no-reload")]
        noreload: bool,
    },
    /// Writes a new app into the site crate (src/NAME/: models, views, urls, forms, templates
    /// and an empty migration set) and declares its module in src/lib.rs.
    Startapp {
        /// The app's name: its module, label and URL namespace (lower-case letters, digits, `_`).
        name: String,
    },
    /// Checks the site for problems: settings, URL conf, templates (and the database with
    /// --database).
    Check {
        /// Also connect to the database and run a query.
        #[arg(long)]
        database: bool,
    },
    /// Applies pending migrations, or moves to a given migration.
    Migrate {
        /// Only this app's migrations (`crm`, `auth`…).
        app: Option<String>,
        /// Roll forward or back to this migration (`0001_initial`), or `zero` to unapply all.
        #[arg(long)]
        target: Option<String>,
    },
    /// Lists every migration, applied [X] or pending [ ].
    Showmigrations,
    /// Writes a new migration for what the site's entities have and its migrations lack (new
    /// tables, columns, indexes and foreign keys), and registers it in the migrations crate.
    Makemigrations {
        /// The migration's name (`0002_NAME`); by default one is made from the changes.
        name: Option<String>,
        /// Only this app's migrations.
        #[arg(long)]
        app: Option<String>,
        /// Show what would be written without writing it.
        #[arg(long)]
        dry_run: bool,
        /// Exit with status 1 if a migration is missing, writing nothing (for CI).
        #[arg(long)]
        check: bool,
    },
    /// Writes the database's rows as a JSON fixture (all models, or the apps/models named).
    Dumpdata {
        /// `app` or `app.model` labels to dump.
        labels: Vec<String>,
        /// Indent the JSON by this many spaces.
        #[arg(long)]
        indent: Option<usize>,
        /// Write to this file instead of standard output.
        #[arg(long, short)]
        output: Option<std::path::PathBuf>,
    },
    /// Loads JSON fixtures (a file, or a name such as `demo` from an app's fixtures folder) in
    /// one transaction: everything, or nothing and the record that failed.
    Loaddata {
        /// Fixture files or names.
        #[arg(required = true)]
        fixtures: Vec<String>,
    },
    /// Opens the database's own shell (sqlite3, psql or mysql) with the settings' connection.
    Dbshell,
    /// Creates a user who can do everything: asks for the username, email and password (typed
    /// hidden, twice), or with --noinput takes them from the options and DJAMBDA_SUPERUSER_PASSWORD.
    Createsuperuser {
        /// The username.
        #[arg(long)]
        username: Option<String>,
        /// The email address.
        #[arg(long)]
        email: Option<String>,
        /// Ask nothing: --username is required, the password comes from DJAMBDA_SUPERUSER_PASSWORD
        /// (without it the user cannot log in until `changepassword`).
        #[arg(long, visible_alias = "no-input")]
        noinput: bool,
    },
    /// Sets a user's password (typed hidden, twice; three tries).
    Changepassword {
        /// The username (default: the current system user's name).
        username: Option<String>,
    },
    /// Writes every static file, under its plain and content-hashed names, plus a
    /// staticfiles.json manifest, to DIR (for S3/CloudFront; then set STATIC_URL to its URL).
    Collectstatic {
        /// The folder to write to (created if missing).
        dir: std::path::PathBuf,
    },
    /// Serves Lambda invocations (what the binary does with no command where
    /// AWS_LAMBDA_RUNTIME_API is set), or `lambda template` writes an AWS SAM template.
    Lambda {
        #[command(subcommand)]
        action: Option<LambdaAction>,
    },
}

#[derive(Subcommand)]
enum LambdaAction {
    /// Serves Lambda invocations (the default).
    Serve,
    /// Writes an AWS SAM template for the site as one function: Function URL (or HTTP API),
    /// the schedules, queues, bucket and topic its handlers need, and its environment.
    Template {
        /// Write to this file instead of standard output.
        #[arg(long, short)]
        output: Option<std::path::PathBuf>,
        /// Memory in MB.
        #[arg(long, default_value_t = 512)]
        memory: u32,
        /// Timeout in seconds.
        #[arg(long, default_value_t = 30)]
        timeout: u32,
        /// For Graviton (build with `cargo lambda build --release --arm64`).
        #[arg(long)]
        arm64: bool,
        /// Serve through an API Gateway HTTP API instead of a Function URL.
        #[arg(long)]
        http_api: bool,
        /// Reach the database through an RDS Proxy the template makes (PostgreSQL or MySQL on
        /// RDS): the function joins the database's VPC, and DATABASE_URL names the proxy.
        #[arg(long)]
        rds_proxy: bool,
        /// Stream responses through the Function URL (InvokeMode RESPONSE_STREAM, and
        /// LAMBDA_INVOKE_MODE to match): large exports pass the 6 MB a buffered answer may carry.
        #[arg(long, conflicts_with = "http_api")]
        stream: bool,
        /// Where `cargo lambda build` put the bootstrap, relative to where `sam` runs.
        #[arg(long, default_value = "target/lambda/manage/")]
        code_uri: String,
    },
}

/// Runs the command line for the site `site` builds. With no command and
/// `AWS_LAMBDA_RUNTIME_API` set, serves Lambda invocations instead.
pub fn execute(site: fn() -> Result<Site, ConfigError>) -> ExitCode {
    Manage::new(site).run()
}

/// The `manage` program: djambda's commands plus the site's own.
pub struct Manage {
    site: fn() -> Result<Site, ConfigError>,
    commands: Vec<SiteCommand>,
}

impl Manage {
    /// The command line for the site `site` builds.
    pub fn new(site: fn() -> Result<Site, ConfigError>) -> Self {
        Manage { site, commands: Vec::new() }
    }

    /// Adds a site command; `--help` lists it with the built-in ones.
    pub fn command(mut self, command: SiteCommand) -> Self {
        self.commands.push(command);
        self
    }

    /// Parses the arguments and runs the command (or serves Lambda invocations when run with
    /// no command where `AWS_LAMBDA_RUNTIME_API` is set).
    pub fn run(self) -> ExitCode {
        let no_args = std::env::args_os().len() <= 1;
        if no_args && std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() {
            return serve_lambda(self.site);
        }
        // Built once, before parsing: the installed apps bring commands of their own. A site
        // that cannot be built still gets its help; its commands say why they cannot run.
        let built = (self.site)();
        let mut commands = self.commands;
        if let Ok(site) = &built {
            commands.extend(site.commands().iter().cloned());
        }
        let mut cli = <Cli as clap::CommandFactory>::command();
        for c in &commands {
            cli = cli.subcommand(c.cli.clone());
        }
        let matches = match cli.clone().try_get_matches() {
            Ok(m) => m,
            Err(e) => {
                // clap prints help and version to stdout with exit 0, and usage errors with exit 2.
                let _ = e.print();
                return ExitCode::from(e.exit_code().clamp(0, 255) as u8);
            }
        };
        if let Some((name, args)) = matches.subcommand()
            && let Some(custom) = commands.iter().find(|c| c.cli.get_name() == name)
        {
            return run_site_command(&built, &custom.run, args.clone());
        }
        let code = Self::run_builtin(&built, self.site, &cli, &matches);
        if let Ok(site) = &built {
            // Closed before the process ends, so that SQLite folds its WAL log into the file.
            let _ = block_on(async {
                site.database().close().await;
                Ok(())
            });
        }
        code
    }

    fn run_builtin(
        built: &Result<Site, ConfigError>,
        make_site: fn() -> Result<Site, ConfigError>,
        cli: &clap::Command,
        matches: &clap::ArgMatches,
    ) -> ExitCode {
        let site = built;
        let parsed = match <Cli as clap::FromArgMatches>::from_arg_matches(matches) {
            Ok(p) => p,
            Err(e) => {
                let _ = e.print();
                return ExitCode::from(2);
            }
        };
        match parsed.command {
            None => {
                let _ = cli.clone().print_help();
                ExitCode::SUCCESS
            }
            Some(Command::Runserver { addrport, noreload }) => runserver::run(built, addrport.as_deref(), noreload),
            Some(Command::Startapp { name }) => with_site(site, |s| startapp::startapp(s, &name)),
            Some(Command::Check { database }) => check(site, database),
            Some(Command::Migrate { app, target }) => {
                with_site(site, |s| migrate::migrate(s, app.as_deref(), target.as_deref()))
            }
            Some(Command::Showmigrations) => with_site(site, migrate::showmigrations),
            Some(Command::Makemigrations { name, app, dry_run, check }) => with_site(site, |s| {
                makemigrations::makemigrations(s, makemigrations::Options { name, app, dry_run, check })
            }),
            Some(Command::Dumpdata { labels, indent, output }) => {
                with_site(site, |s| fixtures::dumpdata(s, &labels, indent, output.as_deref()))
            }
            Some(Command::Loaddata { fixtures: names }) => with_site(site, |s| fixtures::loaddata(s, &names)),
            Some(Command::Dbshell) => with_site(site, dbshell::dbshell),
            Some(Command::Createsuperuser { username, email, noinput }) => {
                with_site(site, |s| users::createsuperuser(s, noinput, username, email))
            }
            Some(Command::Changepassword { username }) => with_site(site, |s| users::changepassword(s, username)),
            Some(Command::Collectstatic { dir }) => with_site(site, |s| collectstatic::collectstatic(s, &dir)),
            Some(Command::Lambda { action: None | Some(LambdaAction::Serve) }) => serve_lambda(make_site),
            Some(Command::Lambda {
                action:
                    Some(LambdaAction::Template { output, memory, timeout, arm64, http_api, rds_proxy, stream, code_uri }),
            }) => with_site(site, |s| {
                template::template(
                    s,
                    &template::Options { output, memory, timeout, arm64, http_api, rds_proxy, stream, code_uri },
                )
            }),
        }
    }
}

fn run_site_command(site: &Result<Site, ConfigError>, run: &CommandFn, args: clap::ArgMatches) -> ExitCode {
    let site = match load(site) {
        Ok(s) => s.clone(),
        Err(code) => return code,
    };
    match block_on(async move { run(site, args).await.map_err(|e| e.to_string()) }) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("CommandError: {e}");
            ExitCode::FAILURE
        }
    }
}

fn load(site: &Result<Site, ConfigError>) -> Result<&Site, ExitCode> {
    site.as_ref().map_err(|e| {
        eprintln!("CommandError: {e}");
        ExitCode::FAILURE
    })
}

fn with_site(site: &Result<Site, ConfigError>, run: impl FnOnce(&Site) -> ExitCode) -> ExitCode {
    match load(site) {
        Ok(s) => run(s),
        Err(code) => code,
    }
}

fn check(site: &Result<Site, ConfigError>, database: bool) -> ExitCode {
    let site = match load(site) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let mut problems = Vec::new();
    let templates = match site.templates().check() {
        Ok(count) => count,
        Err(e) => {
            problems.push(format!("a template does not parse:\n{e}"));
            0
        }
    };
    if database {
        match check_database(site) {
            Ok(()) => println!("Database {} is reachable.", site.database().display_url()),
            Err(e) => problems.push(format!("the database {} is not reachable: {e}", site.database().display_url())),
        }
    }
    if problems.is_empty() {
        let routes = site.resolver().patterns().count();
        println!("System check identified no issues ({routes} URL patterns, {templates} templates).");
        ExitCode::SUCCESS
    } else {
        eprintln!("SystemCheckError: System check identified some issues:");
        for p in &problems {
            eprintln!("  - {p}");
        }
        ExitCode::FAILURE
    }
}

/// The single-threaded runtime the one-shot commands (and the Lambda door) run on.
fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("could not start the async runtime: {e}"))
}

/// Runs one command's async work to completion.
pub(crate) fn block_on<T>(work: impl std::future::Future<Output = Result<T, String>>) -> Result<T, String> {
    // One runtime for the whole command: the database pool opened on it stays usable, and
    // closing it at the end reaches connections the runtime still drives.
    static SHARED: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    let rt = match SHARED.get() {
        Some(rt) => rt,
        None => {
            let made = runtime()?;
            SHARED.get_or_init(|| made)
        }
    };
    rt.block_on(work)
}

fn check_database(site: &Site) -> Result<(), String> {
    block_on(async { site.database().ping().await.map_err(|e| e.to_string()) })
}

fn serve_lambda(site: fn() -> Result<Site, ConfigError>) -> ExitCode {
    // One invocation at a time per classic instance: a single-threaded runtime starts faster and
    // is all it can use. An instance that takes several at once (Lambda Managed Instances) has
    // the cores to run them side by side.
    let concurrent = crate::conf::lambda_concurrency(&|name: &str| std::env::var(name).ok()).is_some();
    let built = if concurrent {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("could not start the async runtime: {e}"))
    } else {
        runtime()
    };
    let rt = match built {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let site = match site() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("CommandError: {e}");
            if let Err(report) = crate::lambda::report_init_error("Runtime.ConfigError", &e.to_string()) {
                eprintln!("(the init error could not be reported to the Lambda Runtime API: {report})");
            }
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(crate::lambda::run(site)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Lambda runtime error: {e}");
            ExitCode::FAILURE
        }
    }
}
