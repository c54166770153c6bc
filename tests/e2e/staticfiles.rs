//! `manage collectstatic DIR` through the built binary, and the site with STATIC_URL on a CDN:
//! pages link the collected files by their hashed names and the site serves none itself.

use std::process::Command;

use serde_json::Value;
use tests::http1::request;
use tests::process::spawn_runserver;

use crate::manage_bin;

const HOSTS: (&str, &str) = ("ALLOWED_HOSTS", "127.0.0.1,localhost");

#[test]
fn collectstatic_writes_hashed_files_and_a_manifest_for_a_cdn() {
    let dir = std::env::temp_dir().join(format!("djambda-collectstatic-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = Command::new(manage_bin()).arg("collectstatic").arg(&dir).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let manifest: Value = serde_json::from_slice(&std::fs::read(dir.join("staticfiles.json")).unwrap()).unwrap();
    let paths = manifest["paths"].as_object().unwrap();
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(said.contains(&format!("{} static files copied to", paths.len())), "{said}");
    assert!(paths.contains_key("site.css") && paths.contains_key("img/logo.png"), "{manifest}");

    // Every file is there under both names, with the bytes runserver serves for the hashed one.
    let (_server, addr) = spawn_runserver(manage_bin(), &crate::with_demo_db(&[HOSTS]));
    for (name, hashed) in paths {
        let hashed = hashed.as_str().unwrap();
        assert_ne!(name, hashed);
        let plain = std::fs::read(dir.join(name)).unwrap();
        assert_eq!(std::fs::read(dir.join(hashed)).unwrap(), plain, "{name}");
        let served = request(&addr, "GET", &format!("/static/{hashed}"), &[], b"").unwrap();
        assert_eq!(served.status, 200, "{hashed}");
        assert_eq!(served.body, plain, "{hashed} as served");
    }

    // STATIC_URL on a CDN: pages point there, by the manifest's names, and the site serves none.
    let cdn = "https://d111111abcdef8.cloudfront.net/static/";
    let (_cdn_site, cdn_addr) = spawn_runserver(manage_bin(), &crate::with_demo_db(&[HOSTS, ("STATIC_URL", cdn)]));
    let page = request(&cdn_addr, "GET", "/accounts/login/", &[], b"").unwrap();
    assert_eq!(page.status, 200);
    let css = format!("{cdn}{}", paths["site.css"].as_str().unwrap());
    assert!(page.text().contains(&css), "the page links {css}");
    let local =
        request(&cdn_addr, "GET", &format!("/static/{}", paths["site.css"].as_str().unwrap()), &[], b"").unwrap();
    assert_eq!(local.status, 404, "the function serves no static file when they live on a CDN");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn collectstatic_into_an_unwritable_place_is_a_clear_error() {
    let out = Command::new(manage_bin()).args(["collectstatic", "/proc/djambda-cannot-write-here"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("CommandError: could not create") || err.starts_with("CommandError: could not write"),
        "{err}"
    );
}
