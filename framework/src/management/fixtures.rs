//! `manage dumpdata` and `manage loaddata`.

use std::path::Path;
use std::process::ExitCode;

use crate::db::{dump_records, load_records};
use crate::site::Site;

fn run<T>(f: impl std::future::Future<Output = Result<T, String>>) -> Result<T, String> {
    tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?.block_on(f)
}

/// `dumpdata [labels] [--indent N] [--output FILE]`.
pub(crate) fn dumpdata(site: &Site, labels: &[String], indent: Option<usize>, output: Option<&Path>) -> ExitCode {
    let result = run(async {
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
    let mut records = Vec::new();
    for name in names {
        let bytes = if Path::new(name).is_file() {
            match std::fs::read(name) {
                Ok(b) => b,
                Err(e) => {
                    eprintln!("CommandError: could not read {name}: {e}");
                    return ExitCode::FAILURE;
                }
            }
        } else {
            match site.apps().iter().find_map(|app| app.fixture(name)) {
                Some(b) => b,
                None => {
                    eprintln!("CommandError: No fixture named '{name}' found.");
                    return ExitCode::FAILURE;
                }
            }
        };
        match serde_json::from_slice::<serde_json::Value>(&bytes) {
            Ok(serde_json::Value::Array(items)) => {
                records.extend(items.into_iter().map(|r| (format!("fixture '{name}'"), r)))
            }
            Ok(_) => {
                eprintln!("CommandError: Problem installing fixture '{name}': a fixture is a JSON list of records.");
                return ExitCode::FAILURE;
            }
            Err(e) => {
                eprintln!("CommandError: Problem installing fixture '{name}': not valid JSON: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    let result = run(async {
        let db = site.database().connection().await.map_err(|e| e.to_string())?;
        load_records(&db, site.models(), records).await
    });
    match result {
        Ok(loaded) => {
            println!("Installed {} object(s) from {} fixture(s)", loaded.objects, names.len());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("CommandError: Problem installing fixtures (nothing was loaded): {e}");
            ExitCode::FAILURE
        }
    }
}
