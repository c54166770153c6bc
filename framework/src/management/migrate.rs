//! `manage migrate [--target NAME]` and `manage showmigrations`, printing what Django prints.

use std::io::Write;
use std::process::ExitCode;

use sea_orm::DatabaseConnection;

use crate::db::{MigrationSet, MigrationState};
use crate::site::Site;

async fn connect(site: &Site) -> Result<DatabaseConnection, String> {
    site.database().connection().await.map_err(|e| e.to_string())
}

fn fail(message: String) -> ExitCode {
    eprintln!("CommandError: {message}");
    ExitCode::FAILURE
}

/// `showmigrations`: each app, then ` [X] name` or ` [ ] name`.
pub(crate) fn showmigrations(site: &Site) -> ExitCode {
    let result = super::block_on(async {
        let db = connect(site).await?;
        let mut out = String::new();
        for set in site.migrations() {
            out.push_str(set.app_label());
            out.push('\n');
            let states = set.status(&db).await.map_err(|e| e.to_string())?;
            if states.is_empty() {
                out.push_str(" (no migrations)\n");
            }
            for m in states {
                out.push_str(&format!(" [{}] {}\n", if m.applied { "X" } else { " " }, m.name));
            }
        }
        Ok(out)
    });
    match result {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

/// `migrate [APP]`: applies every pending migration (of every app, or of `APP`), or with
/// `--target` moves an app forward or back to a migration (`zero`: everything unapplied; with no
/// app, every app's, the last installed first).
pub(crate) fn migrate(site: &Site, app: Option<&str>, target: Option<&str>) -> ExitCode {
    let result = super::block_on(async {
        let db = connect(site).await?;
        let sets: Vec<&dyn MigrationSet> = match app {
            None => site.migrations().iter().map(|s| s.as_ref()).collect(),
            Some(label) => match site.migrations().iter().find(|s| s.app_label() == label) {
                Some(set) => vec![set.as_ref()],
                None => {
                    let known: Vec<&str> = site.migrations().iter().map(|s| s.app_label()).collect();
                    return Err(format!(
                        "App '{label}' does not have migrations (apps with migrations: {}).",
                        known.join(", ")
                    ));
                }
            },
        };
        println!("Operations to perform:");
        let labels = |sets: &[&dyn MigrationSet]| {
            let l: Vec<&str> = sets.iter().map(|s| s.app_label()).collect();
            if l.is_empty() { "(none)".to_owned() } else { l.join(", ") }
        };
        let plan: Vec<(&dyn MigrationSet, Option<&str>)> = match target {
            None => {
                println!("  Apply all migrations: {}", labels(&sets));
                sets.iter().map(|s| (*s, None)).collect()
            }
            Some("zero") => {
                // Later apps may refer to earlier apps' tables: unapply them first.
                let reversed: Vec<&dyn MigrationSet> = sets.iter().rev().copied().collect();
                println!("  Unapply all migrations: {}", labels(&reversed));
                reversed.into_iter().map(|s| (s, Some("zero"))).collect()
            }
            Some(name) => {
                let mut owners = Vec::new();
                for set in &sets {
                    let states = set.status(&db).await.map_err(|e| e.to_string())?;
                    if states.iter().any(|m| m.name == name) {
                        owners.push(*set);
                    }
                }
                let set = match owners[..] {
                    [one] => one,
                    [] => {
                        return Err(format!(
                            "Cannot find a migration matching '{name}' (run `manage showmigrations` to list them)."
                        ));
                    }
                    _ => {
                        let apps: Vec<&str> = owners.iter().map(|s| s.app_label()).collect();
                        return Err(format!(
                            "More than one app has a migration '{name}' ({}): name the app, as in `manage migrate {} --target {name}`.",
                            apps.join(", "),
                            apps[apps.len() - 1]
                        ));
                    }
                };
                println!("  Target specific migration: {name}, from {}", set.app_label());
                vec![(set, Some(name))]
            }
        };
        println!("Running migrations:");
        let mut changed = false;
        for (set, target) in plan {
            changed |= run_plan(set, &db, target).await?;
        }
        if !changed {
            println!("  No migrations to apply.");
        }
        for line in site.post_migrate(&db).await? {
            println!("{line}");
        }
        Ok(())
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}

/// Moves one app to `target` (or to its latest migration); says whether anything ran.
async fn run_plan(set: &dyn MigrationSet, db: &DatabaseConnection, target: Option<&str>) -> Result<bool, String> {
    let states: Vec<MigrationState> = set.status(db).await.map_err(|e| e.to_string())?;
    let keep = match target {
        None => states.len(),
        Some("zero") => 0,
        Some(name) => states.iter().position(|m| m.name == name).map(|i| i + 1).unwrap_or(states.len()),
    };
    let mut changed = false;
    for m in states.iter().take(keep).filter(|m| !m.applied) {
        print!("  Applying {}.{}...", set.app_label(), m.name);
        let _ = std::io::stdout().flush();
        set.apply_next(db.clone()).await.map_err(|e| format!("applying {}.{} failed: {e}", set.app_label(), m.name))?;
        println!(" OK");
        changed = true;
    }
    for m in states.iter().skip(keep).rev().filter(|m| m.applied) {
        print!("  Unapplying {}.{}...", set.app_label(), m.name);
        let _ = std::io::stdout().flush();
        set.unapply_last(db.clone())
            .await
            .map_err(|e| format!("unapplying {}.{} failed: {e}", set.app_label(), m.name))?;
        println!(" OK");
        changed = true;
    }
    Ok(changed)
}
