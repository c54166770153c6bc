//! `manage startapp NAME`: a new app's folder in the site crate (Django's `startapp`), declared
//! in `src/lib.rs`; the user adds the one `.app(…)` line it prints.
//!
//! The files come from `app_template/`, named `…-tpl`, with `%%app_name%%` filled in (not
//! `{{ … }}`: the app's Tera template uses braces itself).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::site::Site;

/// (the file's path inside the app folder, with `{name}` for the app's name; its template).
const FILES: &[(&str, &str)] = &[
    ("mod.rs", include_str!("app_template/mod.rs-tpl")),
    ("models.rs", include_str!("app_template/models.rs-tpl")),
    ("views.rs", include_str!("app_template/views.rs-tpl")),
    ("urls.rs", include_str!("app_template/urls.rs-tpl")),
    ("forms.rs", include_str!("app_template/forms.rs-tpl")),
    ("migrations/mod.rs", include_str!("app_template/migrations/mod.rs-tpl")),
    ("templates/{name}/index.html", include_str!("app_template/templates/index.html-tpl")),
];

/// Names an app cannot take: Rust's keywords and the modules every site crate has.
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
    "sea_orm",
    "sea_orm_migration",
    "serde",
    "main",
    "lib",
    "urls",
    "views",
];

pub(crate) fn startapp(site: &Site, name: &str) -> ExitCode {
    match write_app(site, name) {
        Ok(created) => {
            println!(
                "Created the app '{name}' in {}, and declared it in {}.",
                created.dir.display(),
                created.lib.display()
            );
            println!("Install it: add this line to the `.app(…)` list (INSTALLED_APPS) in src/lib.rs:\n");
            println!("        .app({name}::app())\n");
            println!("Its pages are then at /{name}/ (`cargo manage runserver` rebuilds by itself).");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("CommandError: {e}");
            ExitCode::FAILURE
        }
    }
}

struct Created {
    dir: PathBuf,
    lib: PathBuf,
}

fn write_app(site: &Site, name: &str) -> Result<Created, String> {
    check_name(name)?;
    if site.app(name).is_some() {
        return Err(format!("an app named '{name}' is already installed; choose another name"));
    }
    let src = site.base_dir().join("src");
    let lib = src.join("lib.rs");
    let text = std::fs::read_to_string(&lib).map_err(|e| {
        format!(
            "could not read {} ({e}): startapp writes into the site crate that `SiteBuilder::base_dir` names \
             (`.base_dir(env!(\"CARGO_MANIFEST_DIR\"))`)",
            lib.display()
        )
    })?;
    let declared = declare(&text, name)?;
    let dir = src.join(name);
    if dir.exists() || src.join(format!("{name}.rs")).exists() {
        return Err(format!("{} already exists; choose another name", dir.display()));
    }
    for (path, text) in render(name) {
        let path = dir.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("could not create {}: {e}", parent.display()))?;
        }
        std::fs::write(&path, text).map_err(|e| format!("could not write {}: {e}", path.display()))?;
    }
    std::fs::write(&lib, declared).map_err(|e| format!("could not update {}: {e}", lib.display()))?;
    Ok(Created { dir, lib })
}

fn check_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let starts_well = chars.next().is_some_and(|c| c.is_ascii_lowercase());
    if !starts_well || !chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
        return Err(format!(
            "'{name}' is not a valid app name: use lower-case letters, digits and underscores, starting with a \
             letter (it names the app's module, label and URL namespace, like `shop`)"
        ));
    }
    if RESERVED.contains(&name) {
        return Err(format!(
            "'{name}' conflicts with a Rust keyword or a name the site crate uses; choose another name"
        ));
    }
    Ok(())
}

/// `lib.rs` with `pub mod NAME;` after its last top-level `mod` line (or before its first
/// `use` line when it has none).
fn declare(lib: &str, name: &str) -> Result<String, String> {
    let declares = |l: &str, n: &str| {
        let l = l.trim();
        l == format!("mod {n};") || l == format!("pub mod {n};") || l.ends_with(&format!(" mod {n};"))
    };
    if lib.lines().any(|l| declares(l, name)) {
        return Err(format!("src/lib.rs already declares a module '{name}'; choose another name"));
    }
    let top_level_mod = |l: &str| (l.starts_with("mod ") || l.starts_with("pub mod ")) && l.trim_end().ends_with(';');
    let lines: Vec<&str> = lib.lines().collect();
    let (at, before) = match lines.iter().rposition(|l| top_level_mod(l)) {
        Some(i) => (i + 1, false),
        None => (
            lines.iter().position(|l| l.starts_with("use ")).ok_or_else(|| {
                "src/lib.rs has no `mod` or `use` line to put the app's `pub mod` line beside; add `pub mod NAME;` \
                 yourself"
                    .to_owned()
            })?,
            true,
        ),
    };
    let mut out = String::with_capacity(lib.len() + name.len() + 16);
    for (i, line) in lines.iter().enumerate() {
        if i == at {
            out.push_str(&format!("pub mod {name};\n"));
            if before {
                out.push('\n');
            }
        }
        out.push_str(line);
        out.push('\n');
    }
    if at == lines.len() {
        out.push_str(&format!("pub mod {name};\n"));
    }
    Ok(out)
}

fn render(name: &str) -> Vec<(PathBuf, String)> {
    FILES
        .iter()
        .map(|(path, template)| {
            (Path::new(&path.replace("{name}", name)).to_path_buf(), template.replace("%%app_name%%", name))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert!(check_name("shop").is_ok());
        assert!(check_name("shop_2").is_ok());
        for bad in ["", "Shop", "my-shop", "1shop", "_shop", "shop app"] {
            assert!(check_name(bad).unwrap_err().contains("not a valid app name"), "{bad:?}");
        }
        for taken in ["fn", "views", "djambda", "test"] {
            assert!(check_name(taken).unwrap_err().contains("conflicts"), "{taken}");
        }
    }

    #[test]
    fn the_module_is_declared_beside_the_others() {
        let lib = "//! Settings.\n\npub mod crm;\nmod util;\n\nuse djambda::Site;\n";
        assert_eq!(
            declare(lib, "shop").unwrap(),
            "//! Settings.\n\npub mod crm;\nmod util;\npub mod shop;\n\nuse djambda::Site;\n"
        );
        let none = "//! Settings.\n\nuse djambda::Site;\n\nfn f() {\n    mod inner;\n}\n";
        assert_eq!(
            declare(none, "shop").unwrap(),
            "//! Settings.\n\npub mod shop;\n\nuse djambda::Site;\n\nfn f() {\n    mod inner;\n}\n"
        );
        assert!(declare("pub mod crm;\n", "crm").unwrap_err().contains("already declares"));
        assert!(declare("fn main() {}\n", "shop").unwrap_err().contains("no `mod` or `use` line"));
        assert_eq!(declare("pub mod crm;", "shop").unwrap(), "pub mod crm;\npub mod shop;\n");
    }

    #[test]
    fn every_file_gets_the_name() {
        let files = render("shop");
        assert_eq!(files.len(), FILES.len());
        for (path, text) in &files {
            assert!(!text.contains("%%") && !path.to_string_lossy().contains('{'), "{}: {text}", path.display());
        }
        let find = |p: &str| &files.iter().find(|(path, _)| path == Path::new(p)).unwrap().1;
        assert!(find("mod.rs").contains("App::new(\"shop\")"));
        assert!(find("mod.rs").contains("\"/src/shop/migrations\""));
        assert!(find("views.rs").contains("\"shop/index.html\""));
        assert!(find("migrations/mod.rs").contains("vec![]"));
        assert!(find("templates/shop/index.html").contains("src/shop/templates/shop/index.html"));
    }
}
