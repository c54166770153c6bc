//! `manage collectstatic DIR`: every static file of the site (framework, site and apps, the
//! first folder holding a name winning, as the site serves them) written to `DIR` under its
//! plain and its content-hashed name, plus Django's `staticfiles.json` manifest, ready to upload
//! to S3 behind CloudFront. With STATIC_URL set to that CDN's URL, `static()` points there and
//! the function serves no static file.

use std::path::Path;
use std::process::ExitCode;

use crate::site::Site;

pub(crate) fn collectstatic(site: &Site, dir: &Path) -> ExitCode {
    match collect(site, dir) {
        Ok(count) => {
            println!("\n{count} static files copied to '{}', with hashed names and staticfiles.json.", dir.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("CommandError: {e}");
            ExitCode::FAILURE
        }
    }
}

fn write(path: &Path, data: &[u8]) -> Result<(), String> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| format!("could not create {}: {e}", parent.display()))?;
    }
    std::fs::write(path, data).map_err(|e| format!("could not write {}: {e}", path.display()))
}

fn collect(site: &Site, dir: &Path) -> Result<usize, String> {
    let statics = site.static_files();
    let mut paths = serde_json::Map::new();
    let mut names = statics.names();
    names.sort();
    for name in &names {
        let asset = statics.find(name).ok_or_else(|| format!("the static file {name} vanished while collecting"))?;
        let hashed = statics.hashed_name(name).map_err(|e| e.to_string())?;
        write(&dir.join(name), &asset.data)?;
        write(&dir.join(&hashed), &asset.data)?;
        paths.insert(name.clone(), hashed.into());
    }
    // Django's ManifestStaticFilesStorage format, so tools that read it work unchanged.
    let manifest = serde_json::json!({ "paths": paths, "version": "1.1" });
    let text = serde_json::to_string_pretty(&manifest).map_err(|e| e.to_string())?;
    write(&dir.join("staticfiles.json"), text.as_bytes())?;
    Ok(names.len())
}
