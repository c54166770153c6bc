//! `startproject`: the project template, filled in and written out.
//!
//! The template's files live in `project_template/`, named `…-tpl` so that cargo does not take
//! the site's `Cargo.toml` in there for a crate of this package. Placeholders are `%%name%%`
//! rather than `{{ name }}`, because the site's Tera templates use braces themselves.

use std::path::{Path, PathBuf};

/// Which djambda the new site depends on.
pub enum Source {
    /// The release this command came with, from crates.io.
    Release,
    /// A checkout: its root (with `framework/`) or the framework crate's own folder.
    Path(PathBuf),
    /// A git repository.
    Git(String),
}

/// The sea-orm release djambda is built against: the site's models must use the same one.
const SEA_ORM_VERSION: &str = "2.0.4";

/// (where the file goes, with `{name}` for the site's crate folder; its template).
const FILES: &[(&str, &str)] = &[
    ("Cargo.toml", include_str!("../project_template/Cargo.toml-tpl")),
    (".cargo/config.toml", include_str!("../project_template/cargo-config.toml-tpl")),
    (".gitignore", include_str!("../project_template/gitignore-tpl")),
    ("README.md", include_str!("../project_template/README.md-tpl")),
    ("{name}/Cargo.toml", include_str!("../project_template/site/Cargo.toml-tpl")),
    ("{name}/settings.toml", include_str!("../project_template/site/settings.toml-tpl")),
    ("{name}/src/main.rs", include_str!("../project_template/site/src/main.rs-tpl")),
    ("{name}/src/lib.rs", include_str!("../project_template/site/src/lib.rs-tpl")),
    ("{name}/src/urls.rs", include_str!("../project_template/site/src/urls.rs-tpl")),
    ("{name}/src/views.rs", include_str!("../project_template/site/src/views.rs-tpl")),
    ("{name}/static/site.css", include_str!("../project_template/site/static/site.css-tpl")),
    ("{name}/tests/pages.rs", include_str!("../project_template/site/tests/pages.rs-tpl")),
    ("migrations/Cargo.toml", include_str!("../project_template/migrations/Cargo.toml-tpl")),
    ("migrations/src/lib.rs", include_str!("../project_template/migrations/src/lib.rs-tpl")),
    ("templates/base.html", include_str!("../project_template/templates/base.html-tpl")),
    ("templates/index.html", include_str!("../project_template/templates/index.html-tpl")),
];

/// Names a site cannot take: Rust's keywords, crates every site links, and the apps djambda
/// installs (the site's own app and URL namespace take the site's name).
const RESERVED: &[&str] = &[
    "as",
    "async",
    "await",
    "break",
    "const",
    "continue",
    "crate",
    "dyn",
    "else",
    "enum",
    "extern",
    "false",
    "fn",
    "for",
    "if",
    "impl",
    "in",
    "let",
    "loop",
    "match",
    "mod",
    "move",
    "mut",
    "pub",
    "ref",
    "return",
    "self",
    "static",
    "struct",
    "super",
    "trait",
    "true",
    "type",
    "unsafe",
    "use",
    "where",
    "while",
    "abstract",
    "become",
    "box",
    "do",
    "final",
    "gen",
    "macro",
    "override",
    "priv",
    "try",
    "typeof",
    "unsized",
    "virtual",
    "yield",
    "std",
    "core",
    "alloc",
    "proc_macro",
    "test",
    "djambda",
    "djambda_macros",
    "sea_orm",
    "sea_orm_migration",
    "serde",
    "tokio",
    "auth",
    "sessions",
    "csrf",
    "messages",
    "manage",
    "migrations",
    "build",
    "deps",
    "examples",
    "incremental",
];

/// Writes the site `name` into `dir` (created; if it exists it must be empty). Returns the
/// folder written to.
pub fn startproject(name: &str, dir: &Path, source: &Source) -> Result<PathBuf, String> {
    check_name(name)?;
    let dependency = dependency_line(source)?;
    if dir.exists() {
        let mut entries = std::fs::read_dir(dir).map_err(|e| format!("could not read {}: {e}", dir.display()))?;
        if entries.next().is_some() {
            return Err(format!("{} already exists and is not empty; choose another folder", dir.display()));
        }
    }
    let files = render(name, &dependency, &secret_key()?);
    for (path, text) in &files {
        let path = dir.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("could not create {}: {e}", parent.display()))?;
        }
        std::fs::write(&path, text).map_err(|e| format!("could not write {}: {e}", path.display()))?;
    }
    Ok(dir.to_path_buf())
}

/// Django's rule for project names, in Rust's terms: the name is the site crate's name, its
/// library's and its URL namespace.
pub fn check_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let starts_well = chars.next().is_some_and(|c| c.is_ascii_lowercase());
    if !starts_well || !chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
        return Err(format!(
            "'{name}' is not a valid site name: use lower-case letters, digits and underscores, starting with a \
             letter (it names the site's crate, like `mysite`)"
        ));
    }
    if RESERVED.contains(&name) {
        return Err(format!(
            "'{name}' conflicts with the name of a Rust keyword, a crate the site uses or an app djambda installs; \
             choose another name"
        ));
    }
    Ok(())
}

/// The site crate's `djambda = …` line.
fn dependency_line(source: &Source) -> Result<String, String> {
    Ok(match source {
        Source::Release => format!("djambda = \"{}\"", env!("CARGO_PKG_VERSION")),
        Source::Path(path) => {
            let root = path.canonicalize().map_err(|e| format!("--djambda-path {}: {e}", path.display()))?;
            let framework = if root.join("framework/Cargo.toml").is_file() { root.join("framework") } else { root };
            let manifest = std::fs::read_to_string(framework.join("Cargo.toml")).unwrap_or_default();
            if !manifest.lines().any(|l| l.trim() == "name = \"djambda\"") {
                return Err(format!(
                    "--djambda-path {}: no djambda crate there (give the checkout's root or its framework/ folder)",
                    path.display()
                ));
            }
            format!("djambda = {{ path = {} }}", toml_string(&framework.to_string_lossy()))
        }
        Source::Git(url) => format!("djambda = {{ git = {} }}", toml_string(url)),
    })
}

/// A TOML basic string.
fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Every file of the new site, by its path inside the project folder.
fn render(name: &str, dependency: &str, secret: &str) -> Vec<(String, String)> {
    FILES
        .iter()
        .map(|(path, template)| {
            let text = template
                .replace("%%project_name%%", name)
                .replace("%%djambda_dependency%%", dependency)
                .replace("%%sea_orm_version%%", SEA_ORM_VERSION)
                .replace("%%secret_key%%", secret);
            (path.replace("{name}", name), text)
        })
        .collect()
}

/// A development SECRET_KEY like Django's `django-insecure-…`: 50 random characters, with a
/// prefix djambda refuses when DEBUG is off.
fn secret_key() -> Result<String, String> {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789!@#%^&*(-_=+)";
    let mut out = String::from("djambda-insecure-");
    // Rejection sampling keeps every character equally likely.
    let limit = 256 - 256 % ALPHABET.len();
    while out.len() < "djambda-insecure-".len() + 50 {
        let mut buf = [0u8; 64];
        getrandom::fill(&mut buf).map_err(|e| format!("the operating system gave no random bytes: {e}"))?;
        for b in buf.into_iter().filter(|&b| usize::from(b) < limit) {
            if out.len() == "djambda-insecure-".len() + 50 {
                break;
            }
            out.push(char::from(ALPHABET[usize::from(b) % ALPHABET.len()]));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        for good in ["mysite", "shop2", "my_site"] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in ["", "MySite", "my-site", "2site", "_site", "my site", "ünï"] {
            assert!(check_name(bad).unwrap_err().contains("not a valid site name"), "{bad:?}");
        }
        for taken in ["auth", "djambda", "test", "fn", "migrations"] {
            assert!(check_name(taken).unwrap_err().contains("conflicts"), "{taken}");
        }
    }

    #[test]
    fn every_placeholder_is_filled_and_the_name_goes_everywhere() {
        let files = render("mysite", "djambda = \"9.9.9\"", "djambda-insecure-xyz");
        for (path, text) in &files {
            assert!(!text.contains("%%") && !path.contains('{'), "{path} still has a placeholder:\n{text}");
        }
        let find = |p: &str| files.iter().find(|(path, _)| path == p).map(|(_, t)| t.as_str()).unwrap();
        assert!(find("mysite/Cargo.toml").contains("name = \"mysite\"\n"));
        assert!(find("mysite/Cargo.toml").contains("djambda = \"9.9.9\"\n"));
        assert!(find(".cargo/config.toml").contains("-p mysite --bin manage"));
        assert!(find("mysite/settings.toml").contains("SECRET_KEY = \"djambda-insecure-xyz\""));
        assert!(find("mysite/src/main.rs").contains("mysite::site"));
        assert!(find("README.md").starts_with("# mysite\n\n```sh\ncargo manage runserver"));
    }

    #[test]
    fn keys_are_fresh_and_long() {
        let (a, b) = (secret_key().unwrap(), secret_key().unwrap());
        assert_ne!(a, b);
        assert_eq!(a.len(), "djambda-insecure-".len() + 50);
        // The key goes into a TOML basic string as it is.
        assert!(!a.contains(['"', '\\']));
    }

    #[test]
    fn dependencies_name_a_path_a_repository_or_this_release() {
        let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let line = dependency_line(&Source::Path(here.clone())).unwrap();
        let framework = here.join("framework").canonicalize().unwrap();
        assert_eq!(line, format!("djambda = {{ path = \"{}\" }}", framework.display()));
        assert_eq!(dependency_line(&Source::Path(framework.clone())).unwrap(), line);
        let not = dependency_line(&Source::Path(framework.join("src"))).unwrap_err();
        assert!(not.contains("no djambda crate there"), "{not}");
        assert_eq!(
            dependency_line(&Source::Git("https://x/\"y".into())).unwrap(),
            r#"djambda = { git = "https://x/\"y" }"#
        );
        assert_eq!(dependency_line(&Source::Release).unwrap(), format!("djambda = \"{}\"", env!("CARGO_PKG_VERSION")));
    }

    #[test]
    fn the_site_uses_the_sea_orm_djambda_is_built_with() {
        // The workspace's own manifest pins it; a new site with another release would not compile
        // against djambda's entities.
        let workspace = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../Cargo.toml")).unwrap();
        let line = workspace.lines().find(|l| l.starts_with("sea-orm = ")).unwrap();
        assert!(line.contains(&format!("version = \"{SEA_ORM_VERSION}\"")), "{line}");
        let site = FILES.iter().find(|(p, _)| *p == "{name}/Cargo.toml").unwrap().1;
        let site_line = site.lines().find(|l| l.starts_with("sea-orm = ")).unwrap();
        assert_eq!(site_line.replace("%%sea_orm_version%%", SEA_ORM_VERSION), line);
    }
}
