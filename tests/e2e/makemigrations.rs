//! `manage makemigrations` through built binaries: the example site as it is ("No changes
//! detected"), and a scratch copy of the site and its migrations crate whose entities gain a
//! table, columns, indexes and foreign keys, rebuilt with cargo the way a developer works:
//! edit the models, makemigrations, build, migrate.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::manage_bin;

fn text(out: &Output) -> (String, String) {
    (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn the_example_site_needs_no_migration() {
    let out = Command::new(manage_bin()).arg("makemigrations").output().unwrap();
    assert_eq!(text(&out), ("No changes detected\n".into(), String::new()));
    assert!(out.status.success());
    let check = Command::new(manage_bin()).args(["makemigrations", "--check", "--app", "crm"]).output().unwrap();
    assert_eq!(text(&check).0, "No changes detected in app 'crm'\n");
    assert!(check.status.success());

    let bad = Command::new(manage_bin()).args(["makemigrations", "Add-Things"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(1));
    assert!(text(&bad).1.contains("The migration name \"Add-Things\" is not valid"), "{:?}", text(&bad));
    let unknown = Command::new(manage_bin()).args(["makemigrations", "--app", "shop"]).output().unwrap();
    assert_eq!(unknown.status.code(), Some(1));
    assert!(text(&unknown).1.contains("App 'shop' has no migrations registered"), "{:?}", text(&unknown));
}

/// The workspace this test was built from.
fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// The target folder this test binary lives in (`target/debug/deps/e2e-…`): the scratch build
/// shares its compiled dependencies.
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.ancestors().nth(3).unwrap().to_path_buf()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name == "target" || name.to_string_lossy().starts_with("db.sqlite3") {
            continue;
        }
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &to.join(&name));
        } else {
            std::fs::copy(entry.path(), to.join(&name)).unwrap();
        }
    }
}

/// A copy of the example site and its migrations crate in a workspace of their own, using the
/// real framework; its binary is `scratch-manage` so it never replaces the `manage` other
/// tests run.
struct ScratchSite {
    root: PathBuf,
}

impl ScratchSite {
    fn create() -> ScratchSite {
        let root = target_dir().join("djambda-scratch").join("makemigrations");
        let _ = std::fs::remove_dir_all(&root);
        let ws = workspace();
        // Other folder names than the real ones: cargo names a workspace crate's artifacts
        // after its path in the workspace, and the copies must not overwrite the originals'.
        copy_dir(&ws.join("example_site"), &root.join("site"));
        copy_dir(&ws.join("migrations"), &root.join("crm_migrations"));
        copy_dir(&ws.join("templates"), &root.join("templates"));
        std::fs::copy(ws.join("Cargo.lock"), root.join("Cargo.lock")).unwrap();

        let manifest = std::fs::read_to_string(ws.join("Cargo.toml")).unwrap();
        let deps_start = manifest.find("[workspace.dependencies]").unwrap();
        let profile_start = manifest.find("[profile.release]").unwrap();
        let framework = ws.join("framework");
        let dependencies = manifest[deps_start..profile_start]
            .replace("djambda = { path = \"framework\",", &format!("djambda = {{ path = {:?},", framework))
            .replace("{ path = \"example_site\" }", "{ path = \"site\" }")
            .replace("{ path = \"migrations\" }", "{ path = \"crm_migrations\" }");
        let package = &manifest[manifest.find("[workspace.package]").unwrap()..deps_start];
        // The framework is outside this workspace: keep it compiled as in the real one, so
        // the build reuses it instead of optimising it like a registry crate.
        let root_manifest = format!(
            "[workspace]\nresolver = \"3\"\nmembers = [\"site\", \"crm_migrations\"]\n\n{package}{dependencies}{}\n\
             [profile.dev.package.djambda]\nopt-level = 0\n",
            &manifest[profile_start..]
        );
        std::fs::write(root.join("Cargo.toml"), root_manifest).unwrap();

        let site = std::fs::read_to_string(root.join("site/Cargo.toml")).unwrap();
        let site =
            site[..site.find("[dev-dependencies]").unwrap()].replace("name = \"manage\"", "name = \"scratch-manage\"");
        std::fs::write(root.join("site/Cargo.toml"), site).unwrap();
        ScratchSite { root }
    }

    fn edit(&self, file: &str, find: &str, replace: &str) {
        let path = self.root.join(file);
        let before = std::fs::read_to_string(&path).unwrap();
        assert!(before.contains(find), "{file} has no {find:?}");
        std::fs::write(&path, before.replacen(find, replace, 1)).unwrap();
    }

    fn append(&self, file: &str, more: &str) {
        let path = self.root.join(file);
        let before = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, before + more).unwrap();
    }

    fn read(&self, file: &str) -> String {
        std::fs::read_to_string(self.root.join(file)).unwrap()
    }

    /// Builds the scratch site's binary with cargo, as `cargo manage` would.
    fn build(&self) -> PathBuf {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let out = tests::process::nested_cargo(cargo)
            .args(["build", "--quiet", "-p", "example_site", "--bin", "scratch-manage"])
            .current_dir(&self.root)
            .env("CARGO_TARGET_DIR", target_dir())
            .output()
            .unwrap();
        assert!(out.status.success(), "building the scratch site failed:\n{}", text(&out).1);
        target_dir().join("debug").join("scratch-manage")
    }

    fn manage(&self, bin: &Path, db: &str, args: &[&str]) -> Output {
        Command::new(bin).args(args).env("DATABASE_URL", db).current_dir(&self.root).output().unwrap()
    }
}

fn ok(out: Output) -> String {
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "manage failed:\n{stdout}\n{stderr}");
    stdout
}

const TASK_ENTITY: &str = r#"
/// A to-do on a deal.
pub mod task {
    use sea_orm::entity::prelude::*;
    use serde::{Deserialize, Serialize};

    /// One task.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
    #[sea_orm(table_name = "task")]
    pub struct Model {
        /// Primary key.
        #[sea_orm(primary_key)]
        pub id: i32,
        /// The deal it moves forward.
        pub deal_id: i32,
        /// A reference people quote.
        #[sea_orm(unique)]
        pub code: String,
        /// Done yet?
        pub done: bool,
        /// When it is due.
        pub due: Option<Date>,
    }

    /// What a task is for.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {
        /// The deal.
        #[sea_orm(
            belongs_to = "super::deal::Entity",
            from = "Column::DealId",
            to = "super::deal::Column::Id",
            on_delete = "Cascade"
        )]
        Deal,
    }

    impl ActiveModelBehavior for ActiveModel {}
}
"#;

const COMPANY_AND_DEAL: &str = r#"
  {"model": "crm.company", "pk": 1, "fields": {"slug": "a", "name": "A", "industry": "x", "city": "y", "website": "z"}},
  {"model": "crm.deal", "pk": 1, "fields": {"company_id": 1, "title": "Pilot", "stage": "lead", "amount": "10.00", "expected_close": "2027-01-31"}}"#;

#[test]
fn makemigrations_follows_changed_entities() {
    let scratch = ScratchSite::create();
    let models = "site/src/crm/models.rs";
    let lib = "crm_migrations/src/lib.rs";
    // A new table with a foreign key and a unique column, and a new indexed column on an
    // existing table.
    scratch.append(models, TASK_ENTITY);
    scratch.edit(
        models,
        "        /// Phone number.\n        #[sea_orm(column_type = \"String(StringLen::N(40))\")]\n        pub phone: String,\n",
        "        /// Phone number.\n        #[sea_orm(column_type = \"String(StringLen::N(40))\")]\n        pub phone: String,\n        /// Profile address.\n        #[sea_orm(indexed)]\n        pub linkedin: String,\n",
    );
    scratch.edit(
        "site/src/crm/mod.rs",
        ".model::<models::note::Entity>(\"crm.note\")",
        ".model::<models::note::Entity>(\"crm.note\")\n        .model::<models::task::Entity>(\"crm.task\")",
    );
    let bin = scratch.build();
    let dbfile = scratch.root.join("scratch.sqlite3");
    let db = format!("sqlite://{}?mode=rwc", dbfile.display());

    let expected = "Migrations for 'crm':\n  {dir}/m0002_task_contact_linkedin.rs\n    + Create table task\n    \
                    + Create index idx_task_deal_id on task (deal_id)\n    + Add column linkedin to contact\n    \
                    + Create index idx_contact_linkedin on contact (linkedin)\n"
        .replace("{dir}", &scratch.root.join("crm_migrations/src").display().to_string());
    let lib_before = scratch.read(lib);
    let dry = ok(scratch.manage(&bin, &db, &["makemigrations", "--dry-run"]));
    assert_eq!(dry, expected);
    let check = scratch.manage(&bin, &db, &["makemigrations", "--check"]);
    assert_eq!(check.status.code(), Some(1), "--check fails while a migration is missing");
    assert_eq!(scratch.read(lib), lib_before, "--dry-run and --check write nothing");
    assert!(!scratch.root.join("crm_migrations/src/m0002_task_contact_linkedin.rs").exists());

    let written = ok(scratch.manage(&bin, &db, &["makemigrations"]));
    assert_eq!(written, format!("{expected}Build the site again (`cargo manage migrate`) to apply it.\n"));
    let source = scratch.read("crm_migrations/src/m0002_task_contact_linkedin.rs");
    assert!(source.contains("\"0002_task_contact_linkedin\""), "{source}");
    assert!(
        source.contains("ColumnDef::new(\"linkedin\").string().not_null().default(Expr::cust(\"''\"))"),
        "{source}"
    );
    let registered = scratch.read(lib);
    assert!(registered.contains("mod m0002_task_contact_linkedin;"), "{registered}");
    assert!(registered.contains("Box::new(m0002_task_contact_linkedin::Migration)"), "{registered}");
    // The binary has not been rebuilt with the new file: it must not write the change again.
    let stale = scratch.manage(&bin, &db, &["makemigrations"]);
    assert_eq!(stale.status.code(), Some(1));
    assert!(text(&stale).1.contains("m0002_task_contact_linkedin.rs in"), "{:?}", text(&stale));

    let bin = scratch.build();
    assert_eq!(ok(scratch.manage(&bin, &db, &["makemigrations"])), "No changes detected\n");
    let migrated = ok(scratch.manage(&bin, &db, &["migrate"]));
    assert!(
        migrated.contains("  Applying crm.0001_initial... OK\n  Applying crm.0002_task_contact_linkedin... OK\n"),
        "{migrated}"
    );
    // The new table and column hold data, and the foreign key and unique index hold.
    let fixture = scratch.root.join("rows.json");
    std::fs::write(
        &fixture,
        format!(
            "[{COMPANY_AND_DEAL},
  {{\"model\": \"crm.contact\", \"pk\": 1, \"fields\": {{\"company_id\": 1, \"first_name\": \"Ann\", \"last_name\": \"Lee\", \"title\": \"CEO\", \"email\": \"ann@a.example\", \"phone\": \"1\", \"linkedin\": \"in/ann\"}}}},
  {{\"model\": \"crm.task\", \"pk\": 1, \"fields\": {{\"deal_id\": 1, \"code\": \"T-1\", \"done\": false, \"due\": null}}}}]"
        ),
    )
    .unwrap();
    assert!(
        ok(scratch.manage(&bin, &db, &["loaddata", fixture.to_str().unwrap()])).starts_with("Installed 4 object(s)")
    );
    let tasks: serde_json::Value =
        serde_json::from_str(&ok(scratch.manage(&bin, &db, &["dumpdata", "crm.task"]))).unwrap();
    assert_eq!(tasks[0]["fields"]["code"], "T-1");
    for (bad, why) in [
        (
            r#"{"model": "crm.task", "pk": 2, "fields": {"deal_id": 99, "code": "T-2", "done": false, "due": null}}"#,
            "FOREIGN KEY",
        ),
        (
            r#"{"model": "crm.task", "pk": 2, "fields": {"deal_id": 1, "code": "T-1", "done": false, "due": null}}"#,
            "UNIQUE",
        ),
    ] {
        std::fs::write(&fixture, format!("[{bad}]")).unwrap();
        let out = scratch.manage(&bin, &db, &["loaddata", fixture.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1));
        assert!(text(&out).1.contains(why), "{why}: {:?}", text(&out));
    }
    let back = ok(scratch.manage(&bin, &db, &["migrate", "crm", "--target", "0001_initial"]));
    assert!(back.ends_with("  Unapplying crm.0002_task_contact_linkedin... OK\n"), "{back}");
    assert_eq!(
        ok(scratch.manage(&bin, &db, &["migrate"])).lines().last(),
        Some("  Applying crm.0002_task_contact_linkedin... OK")
    );

    // A nullable foreign key added to an existing table (SQLite adds it with its column).
    scratch.edit(
        models,
        "        /// The deal it is about, if any.\n        pub deal_id: Option<i32>,\n",
        "        /// The deal it is about, if any.\n        pub deal_id: Option<i32>,\n        /// The task it records, if any.\n        pub task_id: Option<i32>,\n",
    );
    scratch.edit(
        models,
        "        Deal,\n    }\n\n    impl ActiveModelBehavior for ActiveModel {}\n}\n\n/// A to-do",
        "        Deal,\n        /// The task.\n        #[sea_orm(\n            belongs_to = \"super::task::Entity\",\n            from = \"Column::TaskId\",\n            to = \"super::task::Column::Id\",\n            on_delete = \"SetNull\"\n        )]\n        Task,\n    }\n\n    impl ActiveModelBehavior for ActiveModel {}\n}\n\n/// A to-do",
    );
    let bin = scratch.build();
    let third = ok(scratch.manage(&bin, &db, &["makemigrations", "note_task"]));
    assert!(third.contains("m0003_note_task.rs\n    + Add column task_id to note\n    + Create index idx_note_task_id on note (task_id)\n"), "{third}");
    let bin = scratch.build();
    assert_eq!(ok(scratch.manage(&bin, &db, &["makemigrations"])), "No changes detected\n");
    assert_eq!(ok(scratch.manage(&bin, &db, &["migrate"])).lines().last(), Some("  Applying crm.0003_note_task... OK"));
    std::fs::write(
        &fixture,
        r#"[{"model": "crm.note", "pk": 1, "fields": {"contact_id": null, "deal_id": null, "task_id": 42, "body": "x", "created_at": "2026-11-23T08:00:00Z", "updated_at": "2026-11-23T08:00:00Z"}}]"#,
    )
    .unwrap();
    let dangling = scratch.manage(&bin, &db, &["loaddata", fixture.to_str().unwrap()]);
    assert!(text(&dangling).1.contains("FOREIGN KEY"), "the new column's foreign key holds: {:?}", text(&dangling));
    let refused = scratch.manage(&bin, &db, &["migrate", "--target", "0002_task_contact_linkedin"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(text(&refused).1.contains("0003_note_task cannot be unapplied on SQLite"), "{:?}", text(&refused));
    assert!(ok(scratch.manage(&bin, &db, &["showmigrations"])).contains("[X] 0003_note_task"));

    // The generated migrations go up and down on the servers too.
    for var in ["DJAMBDA_TEST_POSTGRES_URL", "DJAMBDA_TEST_MYSQL_URL"] {
        let Ok(url) = std::env::var(var) else { continue };
        let _ = scratch.manage(&bin, &url, &["migrate", "--target", "zero"]);
        let up = ok(scratch.manage(&bin, &url, &["migrate"]));
        assert!(
            up.contains("Applying crm.0002_task_contact_linkedin... OK\n  Applying crm.0003_note_task... OK\n"),
            "{var}: {up}"
        );
        let down = ok(scratch.manage(&bin, &url, &["migrate", "crm", "--target", "0001_initial"]));
        assert!(
            down.ends_with("Unapplying crm.0003_note_task... OK\n  Unapplying crm.0002_task_contact_linkedin... OK\n"),
            "{var}: {down}"
        );
        ok(scratch.manage(&bin, &url, &["migrate", "--target", "zero"]));
    }
    let _ = std::fs::remove_dir_all(&scratch.root);
}
