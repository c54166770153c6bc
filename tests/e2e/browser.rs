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

/// The admin in the same browser (`tests/browser/admin.py`): log in on the admin's own page,
/// search and filter the contacts, add a contact with the company picked by the autocomplete
/// search and a bad email fixed, edit a company with a contact added inline, delete it; with
/// no CSP violation and visible keyboard focus. The database is then read to check what the
/// browser did, and the change list's and change form's screenshots (light, dark, phone) are
/// kept in `target/test-artifacts/`.
#[test]
#[ignore = "needs Chromium and Playwright for Python (DJAMBDA_BROWSER_PYTHON); .ci/run installs them"]
fn chromium_works_the_admin() {
    let python = std::env::var("DJAMBDA_BROWSER_PYTHON").expect("DJAMBDA_BROWSER_PYTHON");
    let chromium = std::env::var("DJAMBDA_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().join("tests/browser/admin.py");
    let url = crate::fresh_demo_db("browser-admin");
    let env = [("ALLOWED_HOSTS", "127.0.0.1,localhost"), ("DATABASE_URL", &url), ("SECRET_KEY", crate::SECRET_KEY)];
    let (server, addr) = spawn_runserver(manage_bin(), &env);
    let out = target_dir().join("test-artifacts");
    std::fs::create_dir_all(&out).unwrap();
    let run =
        Command::new(&python).arg(&script).arg(format!("http://{addr}")).arg(&out).arg(&chromium).output().unwrap();
    let log =
        format!("stdout:\n{}\nstderr:\n{}", String::from_utf8_lossy(&run.stdout), String::from_utf8_lossy(&run.stderr));
    assert!(run.status.success(), "the admin browser script failed ({}):\n{log}", run.status);
    println!("{log}");
    drop(server);
    for name in ["changelist", "change-form", "change-form-errors", "changelist-dark", "changelist-phone"] {
        let png = std::fs::read(out.join(format!("admin-{name}.png"))).unwrap_or_else(|e| panic!("{name}: {e}\n{log}"));
        assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000, "admin-{name}.png is not a page's screenshot");
    }

    let dump = |model: &str| -> Vec<Value> {
        let out = Command::new(manage_bin()).args(["dumpdata", model]).env("DATABASE_URL", &url).output().unwrap();
        assert!(out.status.success(), "manage dumpdata {model}: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).expect("dumpdata writes JSON")
    };
    let contacts = dump("crm.contact");
    let grace = contacts.iter().find(|c| c["fields"]["first_name"] == "Grace").expect("the contact the browser added");
    assert_eq!(grace["fields"]["last_name"], "Hopper <Navy>", "stored as typed");
    assert_eq!(grace["fields"]["company_id"], 3, "the company chosen in the autocomplete list");
    assert_eq!(grace["fields"]["email"], "grace@example.com");
    assert!(!contacts.iter().any(|c| c["fields"]["company_id"] == 2), "the deleted company's contacts went with it");
    assert!(!dump("crm.company").iter().any(|c| c["pk"] == 2), "the company is deleted");
    let log_entries = dump("admin.logentry");
    for (flag, repr) in [(1, "Grace Hopper <Navy>"), (2, "Blue Harbor Foods"), (3, "Blue Harbor Foods")] {
        assert!(
            log_entries.iter().any(|e| e["fields"]["action_flag"] == flag && e["fields"]["object_repr"] == repr),
            "the history has {flag} {repr}: {log_entries:?}"
        );
    }
}
