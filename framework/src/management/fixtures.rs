//! `manage dumpdata` and `manage loaddata`.

use std::path::Path;
use std::process::ExitCode;

use crate::db::{Loaded, dump_records, load_fixtures};
use crate::site::Site;

/// Loads fixtures by name (from the apps' fixtures folders) or path into the site's models.
pub(crate) async fn load(site: &Site, names: &[String]) -> Result<Loaded, String> {
    load_fixtures(site.database(), site.models(), site.fixture_dirs(), names).await
}

/// `dumpdata [labels] [--indent N] [--output FILE]`.
pub(crate) fn dumpdata(site: &Site, labels: &[String], indent: Option<usize>, output: Option<&Path>) -> ExitCode {
    let result = super::block_on(async {
        let db = site.database().connection().await.map_err(|e| e.to_string())?;
        dump_records(&db, site.models(), labels).await
    });
    let records = match result {
        Ok(r) => r,
        Err(e) => {
            eprintln!("CommandError: {e}");
            return ExitCode::FAILURE;
        }
    };
    let text = match indent {
        Some(n) => {
            let pad = vec![b' '; n];
            let mut buf = Vec::new();
            let mut ser =
                serde_json::Serializer::with_formatter(&mut buf, serde_json::ser::PrettyFormatter::with_indent(&pad));
            match serde::Serialize::serialize(&records, &mut ser) {
                Ok(()) => String::from_utf8_lossy(&buf).into_owned(),
                Err(e) => {
                    eprintln!("CommandError: {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
        None => serde_json::Value::Array(records).to_string(),
    };
    match output {
        Some(path) => match std::fs::write(path, text + "\n") {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("CommandError: could not write {}: {e}", path.display());
                ExitCode::FAILURE
            }
        },
        None => {
            println!("{text}");
            ExitCode::SUCCESS
        }
    }
}

/// `loaddata FIXTURE...`: files by path, or names looked up in the apps' fixtures folders.
pub(crate) fn loaddata(site: &Site, names: &[String]) -> ExitCode {
    match super::block_on(load(site, names)) {
        Ok(loaded) => {
            println!("Installed {} object(s) from {} fixture(s)", loaded.objects, names.len());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("CommandError: {e}");
            ExitCode::FAILURE
        }
    }
}
