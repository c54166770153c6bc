//! The example site in a real browser: headless Chromium, driven by Playwright for Python
//! (`tests/browser/login_and_submit.py`), logs in through runserver's login page, adds a
//! company whose name is full of HTML and SQL metacharacters, sees it shown verbatim, and logs
//! out. The company is then looked up in the database, and the page's screenshot is kept in
//! `target/test-artifacts/` for a person to look at.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use tests::process::spawn_runserver;

use crate::manage_bin;

/// What the script types into the form's name field.
const NAME: &str = "Chromium & <Sons>; DROP TABLE company;--";

/// `target/`, from this test binary's path (`target/debug/deps/e2e-…`).
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.ancestors().nth(3).unwrap().to_path_buf()
}

#[test]
#[ignore = "needs Chromium and Playwright for Python (DJAMBDA_BROWSER_PYTHON); .ci/run installs them"]
fn chromium_logs_in_and_submits_a_form() {
    let python = std::env::var("DJAMBDA_BROWSER_PYTHON").expect("DJAMBDA_BROWSER_PYTHON");
    let chromium = std::env::var("DJAMBDA_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().join("tests/browser/login_and_submit.py");

    // The browser adds a company: a database of its own, not the one other tests read.
    let url = crate::fresh_demo_db("browser");
    let env = [("ALLOWED_HOSTS", "127.0.0.1,localhost"), ("DATABASE_URL", &url), ("SECRET_KEY", crate::SECRET_KEY)];
    let (server, addr) = spawn_runserver(manage_bin(), &env);

    let dir = std::env::temp_dir().join(format!("djambda-browser-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let shot = dir.join("company-created.png");
    // Every wait in the script has a Playwright timeout (30 s), so this returns.
    let out =
        Command::new(&python).arg(&script).arg(format!("http://{addr}")).arg(&shot).arg(&chromium).output().unwrap();
    let log =
        format!("stdout:\n{}\nstderr:\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the browser script failed ({}):\n{log}", out.status);
    println!("{log}");
    drop(server);

    let png = std::fs::read(&shot).unwrap_or_else(|e| panic!("no screenshot at {}: {e}\n{log}", shot.display()));
    assert!(png.starts_with(b"\x89PNG"), "the screenshot is not a PNG");
    // A blank page compresses to a few KB; the company page is about 55 KB.
    assert!(png.len() > 10_000, "the screenshot is only {} bytes", png.len());
    let kept = target_dir().join("test-artifacts/browser-company-created.png");
    std::fs::create_dir_all(kept.parent().unwrap()).unwrap();
    std::fs::write(&kept, &png).unwrap();
    println!("screenshot: {}", kept.display());

    let dump = Command::new(manage_bin()).args(["dumpdata", "crm.company"]).env("DATABASE_URL", &url).output().unwrap();
    assert!(dump.status.success(), "manage dumpdata: {}", String::from_utf8_lossy(&dump.stderr));
    let rows: Vec<Value> = serde_json::from_slice(&dump.stdout).expect("dumpdata writes JSON");
    let added =
        rows.iter().find(|row| row["fields"]["slug"] == "chromium-sons").expect("the company the browser added");
    assert_eq!(added["fields"]["name"], NAME, "the name is stored as typed");
}
