//! `manage makemigrations [NAME]`: compares what the site's entities declare with what its
//! migrations build, and writes the migration that closes the gap.
//!
//! Like Django it never looks at the configured database: the migrations are replayed on a
//! scratch SQLite file and the result read back, so the answer is the same on every machine.

use std::path::PathBuf;
use std::process::ExitCode;

use sea_orm::DatabaseConnection;

use crate::db::autodetector::{self, Changes, Operation};
use crate::db::{TableSchema, apply_all, schema, writer};
use crate::site::Site;

/// What the command line asked for.
pub(crate) struct Options {
    pub(crate) name: Option<String>,
    pub(crate) app: Option<String>,
    pub(crate) dry_run: bool,
    pub(crate) check: bool,
}

/// A scratch SQLite file, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Scratch {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        Scratch(std::env::temp_dir().join(format!("djambda-makemigrations-{}-{nanos}.sqlite3", std::process::id())))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.0.display()));
        }
    }
}

/// The schema the site's migrations build, replayed on a scratch SQLite database.
async fn migrated_schema(site: &Site) -> Result<Vec<TableSchema>, String> {
    let scratch = Scratch::new();
    let url = format!("sqlite://{}?mode=rwc", scratch.0.display());
    let mut options = sea_orm::ConnectOptions::new(url);
    options.max_connections(1).sqlx_logging(false);
    let db: DatabaseConnection = sea_orm::Database::connect(options)
        .await
        .map_err(|e| format!("could not open a scratch SQLite database in {}: {e}", std::env::temp_dir().display()))?;
    let result = async {
        apply_all(site.migrations(), &db).await.map_err(|e| {
            format!("{e}\n(makemigrations replays the migrations on a scratch SQLite database to see what they build)")
        })?;
        schema::read_sqlite(&db).await.map_err(|e| format!("could not read the migrated schema back: {e}"))
    }
    .await;
    let _ = db.close().await;
    result
}

/// The name Django would pick: from the tables and columns added (or the indexes, when that is
/// all), else a timestamp.
fn auto_name(changes: &Changes) -> String {
    let is_index = |op: &&Operation| matches!(op, Operation::CreateIndex { .. });
    let mut parts: Vec<String> =
        changes.operations.iter().filter(|op| !is_index(op)).map(|op| op.suggested_name()).collect();
    if parts.is_empty() {
        parts = changes.operations.iter().map(|op| op.suggested_name()).collect();
    }
    let joined = parts.join("_");
    let clean: String =
        joined.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).collect();
    if clean.len() <= 40 && clean.starts_with(|c: char| c.is_ascii_lowercase()) {
        clean
    } else {
        format!("auto_{}", sea_orm::prelude::ChronoUtc::now().format("%Y%m%d_%H%M"))
    }
}

pub(crate) fn makemigrations(site: &Site, options: Options) -> ExitCode {
    match super::block_on(run(site, &options)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("CommandError: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(site: &Site, options: &Options) -> Result<ExitCode, String> {
    if let Some(name) = &options.name {
        writer::check_name(name)?;
    }
    let sets: Vec<_> = site
        .migrations()
        .iter()
        .filter(|s| options.app.as_deref().is_none_or(|a| a == s.app_label()))
        .cloned()
        .collect();
    if sets.is_empty() {
        return Err(match &options.app {
            Some(app) => format!("App '{app}' has no migrations registered (App::migrations)."),
            None => "No installed app registers migrations (App::migrations), so there is nothing to compare \
                     its entities with."
                .into(),
        });
    }
    for set in &sets {
        if let Some(dir) = site.migrations_dir(set.app_label()) {
            let unbuilt = writer::unbuilt(&set.names(), dir);
            if !unbuilt.is_empty() {
                return Err(format!(
                    "{} in {} {} not built into this binary yet, so its changes would be written twice: \
                     run `cargo manage makemigrations`, which builds first",
                    unbuilt.join(", "),
                    dir.display(),
                    if unbuilt.len() == 1 { "is" } else { "are" }
                ));
            }
        }
    }
    let current = migrated_schema(site).await?;
    let mut plans = Vec::new();
    for set in &sets {
        let prefix = format!("{}.", set.app_label());
        let wanted: Vec<TableSchema> =
            site.models().iter().filter(|m| m.label().starts_with(&prefix)).map(|m| m.schema()).collect();
        let changes =
            autodetector::detect(&wanted, &current).map_err(|e| format!("in app '{}': {e}", set.app_label()))?;
        for note in &changes.notes {
            eprintln!("Note: {note}");
        }
        if !changes.operations.is_empty() {
            plans.push((set, changes));
        }
    }
    if plans.is_empty() {
        match &options.app {
            Some(app) => println!("No changes detected in app '{app}'"),
            None => println!("No changes detected"),
        }
        return Ok(ExitCode::SUCCESS);
    }
    for (set, changes) in &plans {
        let app = set.app_label();
        let dir = site.migrations_dir(app).ok_or_else(|| {
            format!(
                "app '{app}' has changes but does not say where its migrations' source is: add \
                 .migrations_dir(concat!(env!(\"CARGO_MANIFEST_DIR\"), \"/src\")) from the migrations crate (or the \
                 path of its src folder) to the app"
            )
        })?;
        let known = set.names();
        let number = writer::next_number(known.iter().map(String::as_str), dir);
        let name = options.name.clone().unwrap_or_else(|| auto_name(changes));
        let file =
            writer::write_migration(number, &name, &changes.operations).map_err(|e| format!("in app '{app}': {e}"))?;
        println!("Migrations for '{app}':");
        let path = dir.join(format!("{}.rs", file.module));
        println!("  {}", path.display());
        for op in &changes.operations {
            println!("    + {}", op.describe());
        }
        if options.dry_run || options.check {
            continue;
        }
        writer::save(dir, &file)?;
    }
    if options.check {
        // Django's --check: CI fails when a model change has no migration yet.
        return Ok(ExitCode::FAILURE);
    }
    if !options.dry_run {
        println!("Build the site again (`cargo manage migrate`) to apply it.");
    }
    Ok(ExitCode::SUCCESS)
}
