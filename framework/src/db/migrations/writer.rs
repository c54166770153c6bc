//! Writes a migration file (Django's `django.db.migrations.writer`): sea-orm-migration code
//! whose `up` performs the autodetector's operations and whose `down` undoes them, and
//! registers it in the migrations crate's `lib.rs`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use sea_orm::sea_query::{ColumnDef, ColumnType, ForeignKeyAction, SqliteQueryBuilder, StringLen, Table};

use super::autodetector::Operation;
use super::schema::{ColumnSchema, ForeignKeySchema, TableSchema, default_sql};

/// A migration ready to be written.
#[derive(Debug)]
pub struct MigrationFile {
    /// The module it lives in (`m0002_task`).
    pub module: String,
    /// The Rust source.
    pub source: String,
}

/// Checks a migration name given on the command line (it becomes part of a module name).
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(format!(
            "The migration name {name:?} is not valid: use lower-case letters, digits and underscores, \
             starting with a letter (it becomes a Rust module name)."
        ))
    }
}

/// The number the next migration takes: one past the highest of the applied-or-known names and
/// the files already in `dir`.
pub fn next_number<'a>(known: impl Iterator<Item = &'a str>, dir: &Path) -> u32 {
    let leading = |s: &str| s.split('_').next().and_then(|n| n.parse::<u32>().ok());
    let mut highest = known.filter_map(leading).max().unwrap_or(0);
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let file = entry.file_name();
            let file = file.to_string_lossy();
            if let Some(n) = file.strip_prefix('m').filter(|f| f.ends_with(".rs")).and_then(leading) {
                highest = highest.max(n);
            }
        }
    }
    highest + 1
}

/// Migration files in `dir` that are not among the `known` (compiled-in) migrations: written
/// since this binary was built.
pub fn unbuilt(known: &[String], dir: &Path) -> Vec<String> {
    let mut found: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let file = entry.file_name().to_string_lossy().into_owned();
            let name = file.strip_prefix('m')?.strip_suffix(".rs")?.to_owned();
            let numbered = name.split('_').next().is_some_and(|n| n.len() == 4 && n.parse::<u32>().is_ok());
            (numbered && !known.contains(&name)).then_some(file)
        })
        .collect();
    found.sort();
    found
}

fn lit(s: &str) -> String {
    format!("{s:?}")
}

/// A foreign key action as sea-query code and as SQL (`None` for one this writer does not know).
fn action(a: ForeignKeyAction) -> Option<(&'static str, &'static str)> {
    Some(match a {
        ForeignKeyAction::Restrict => ("ForeignKeyAction::Restrict", "RESTRICT"),
        ForeignKeyAction::Cascade => ("ForeignKeyAction::Cascade", "CASCADE"),
        ForeignKeyAction::SetNull => ("ForeignKeyAction::SetNull", "SET NULL"),
        ForeignKeyAction::NoAction => ("ForeignKeyAction::NoAction", "NO ACTION"),
        ForeignKeyAction::SetDefault => ("ForeignKeyAction::SetDefault", "SET DEFAULT"),
        _ => return None,
    })
}

/// The `ColumnDef` builder call for a column type (`.string_len(80)`).
fn type_call(ty: &ColumnType) -> Result<String, String> {
    let len = |l: &StringLen, with: &str, without: &str| match l {
        StringLen::N(n) => format!(".{with}({n})"),
        _ => format!(".{without}()"),
    };
    Ok(match ty {
        ColumnType::Char(Some(n)) => format!(".char_len({n})"),
        ColumnType::Char(None) => ".char()".into(),
        ColumnType::String(l) => len(l, "string_len", "string"),
        ColumnType::Text => ".text()".into(),
        ColumnType::Blob => ".blob()".into(),
        ColumnType::TinyInteger => ".tiny_integer()".into(),
        ColumnType::SmallInteger => ".small_integer()".into(),
        ColumnType::Integer => ".integer()".into(),
        ColumnType::BigInteger => ".big_integer()".into(),
        ColumnType::TinyUnsigned => ".tiny_unsigned()".into(),
        ColumnType::SmallUnsigned => ".small_unsigned()".into(),
        ColumnType::Unsigned => ".unsigned()".into(),
        ColumnType::BigUnsigned => ".big_unsigned()".into(),
        ColumnType::Float => ".float()".into(),
        ColumnType::Double => ".double()".into(),
        ColumnType::Decimal(Some((p, s))) => format!(".decimal_len({p}, {s})"),
        ColumnType::Decimal(None) => ".decimal()".into(),
        ColumnType::Money(Some((p, s))) => format!(".money_len({p}, {s})"),
        ColumnType::Money(None) => ".money()".into(),
        ColumnType::DateTime => ".date_time()".into(),
        ColumnType::Timestamp => ".timestamp()".into(),
        ColumnType::TimestampWithTimeZone => ".timestamp_with_time_zone()".into(),
        ColumnType::Time => ".time()".into(),
        ColumnType::Date => ".date()".into(),
        ColumnType::Year => ".year()".into(),
        ColumnType::Binary(n) => format!(".binary_len({n})"),
        ColumnType::VarBinary(l) => len(l, "var_binary", "binary"),
        ColumnType::Boolean => ".boolean()".into(),
        ColumnType::Json => ".json()".into(),
        ColumnType::JsonBinary => ".json_binary()".into(),
        ColumnType::Uuid => ".uuid()".into(),
        ColumnType::Custom(name) => format!(".custom({})", lit(&name.to_string())),
        other => {
            return Err(format!(
                "the column type {other:?} has no portable migration form; write this migration by hand"
            ));
        }
    })
}

/// A default for a new NOT NULL column, for the rows already in the table (Django asks for a
/// one-off default; the type's zero is the answer it suggests most).
fn zero_default(table: &str, column: &ColumnSchema, ty: &ColumnType) -> Result<String, String> {
    Ok(match ty {
        ColumnType::Char(_) | ColumnType::String(_) | ColumnType::Text => "''".into(),
        ColumnType::TinyInteger
        | ColumnType::SmallInteger
        | ColumnType::Integer
        | ColumnType::BigInteger
        | ColumnType::TinyUnsigned
        | ColumnType::SmallUnsigned
        | ColumnType::Unsigned
        | ColumnType::BigUnsigned
        | ColumnType::Float
        | ColumnType::Double
        | ColumnType::Decimal(_)
        | ColumnType::Money(_) => "0".into(),
        ColumnType::Boolean => "FALSE".into(),
        _ => {
            return Err(format!(
                "{table}.{} is a new NOT NULL column with no default, and the rows already in {table} need a \
                 value: give it one in the entity (#[sea_orm(default_value = …)]) or make it nullable \
                 (Option<…>).",
                column.name
            ));
        }
    })
}

/// The `ColumnDef::new(…)…` expression for a column. `alter` drops what `ALTER TABLE ADD
/// COLUMN` cannot do inline (a UNIQUE column gets a separate unique index instead) and gives a
/// NOT NULL column a default for the existing rows.
fn column_expr(table: &str, column: &ColumnSchema, alter: bool) -> Result<(String, Option<String>), String> {
    let def = column.def.as_ref().ok_or_else(|| format!("{table}.{} has no definition", column.name))?;
    let ty = def.get_column_type().ok_or_else(|| format!("{table}.{} has no type", column.name))?;
    let spec = def.get_column_spec();
    let mut out = format!("ColumnDef::new({}){}", lit(&column.name), type_call(ty)?);
    out.push_str(if column.nullable { ".null()" } else { ".not_null()" });
    if spec.auto_increment {
        out.push_str(".auto_increment()");
    }
    if spec.primary_key {
        out.push_str(".primary_key()");
    }
    if spec.unique && !alter {
        out.push_str(".unique_key()");
    }
    let mut one_off = None;
    match default_sql(def) {
        Some(sql) => write!(out, ".default(Expr::cust({}))", lit(&sql)).unwrap(),
        None if alter && !column.nullable => {
            let sql = zero_default(table, column, ty)?;
            write!(out, ".default(Expr::cust({}))", lit(&sql)).unwrap();
            one_off = Some(sql);
        }
        None => {}
    }
    if let Some(extra) = &spec.extra {
        write!(out, ".extra({})", lit(extra)).unwrap();
    }
    Ok((out, one_off))
}

fn foreign_key_expr(table: &str, fk: &ForeignKeySchema) -> String {
    let mut out = String::from("ForeignKey::create()");
    if let Some(name) = &fk.name {
        write!(out, ".name({})", lit(name)).unwrap();
    }
    for (from, to) in fk.columns.iter().zip(&fk.to_columns) {
        write!(out, ".from({}, {}).to({}, {})", lit(table), lit(from), lit(&fk.to_table), lit(to)).unwrap();
    }
    if let Some((code, _)) = fk.on_delete.and_then(action) {
        write!(out, ".on_delete({code})").unwrap();
    }
    if let Some((code, _)) = fk.on_update.and_then(action) {
        write!(out, ".on_update({code})").unwrap();
    }
    out
}

/// SQLite's `ALTER TABLE … ADD COLUMN … REFERENCES …`: the only way it adds a foreign key to
/// an existing table.
fn sqlite_add_reference(table: &str, column: &ColumnSchema, fk: &ForeignKeySchema) -> Result<String, String> {
    let mut def: ColumnDef = column.def.clone().ok_or_else(|| format!("{table}.{} has no definition", column.name))?;
    def.null();
    let mut sql = Table::alter().table(table.to_owned()).add_column(&mut def).to_string(SqliteQueryBuilder);
    let to: Vec<String> = fk.to_columns.iter().map(|c| format!("\"{c}\"")).collect();
    write!(sql, " REFERENCES \"{}\" ({})", fk.to_table, to.join(", ")).unwrap();
    if let Some((_, rule)) = fk.on_delete.and_then(action) {
        write!(sql, " ON DELETE {rule}").unwrap();
    }
    if let Some((_, rule)) = fk.on_update.and_then(action) {
        write!(sql, " ON UPDATE {rule}").unwrap();
    }
    Ok(sql)
}

fn create_table(out: &mut String, table: &TableSchema) -> Result<(), String> {
    out.push_str("        manager\n            .create_table(\n                Table::create()\n");
    writeln!(out, "                    .table({})", lit(&table.name)).unwrap();
    let primary: Vec<&ColumnSchema> = table.columns.iter().filter(|c| c.primary_key).collect();
    for column in &table.columns {
        writeln!(out, "                    .col({})", column_expr(&table.name, column, false)?.0).unwrap();
    }
    if primary.len() > 1 {
        let cols: Vec<String> = primary.iter().map(|c| format!(".col({})", lit(&c.name))).collect();
        writeln!(out, "                    .primary_key(Index::create(){})", cols.concat()).unwrap();
    }
    for fk in &table.foreign_keys {
        writeln!(out, "                    .foreign_key({})", foreign_key_expr(&table.name, fk)).unwrap();
    }
    out.push_str("                    .to_owned(),\n            )\n            .await?;\n");
    Ok(())
}

/// The migration file for `operations`.
pub fn write_migration(number: u32, name: &str, operations: &[Operation]) -> Result<MigrationFile, String> {
    let full = format!("{number:04}_{name}");
    let module = format!("m{full}");
    let mut up = String::new();
    let mut down = String::new();
    let mut one_offs = Vec::new();
    let mut sqlite_references = Vec::new();
    let created: Vec<&str> = operations
        .iter()
        .filter_map(|op| match op {
            Operation::CreateTable(t) => Some(t.name.as_str()),
            _ => None,
        })
        .collect();
    for op in operations {
        writeln!(up, "        // {}", op.describe()).unwrap();
        match op {
            Operation::CreateTable(table) => create_table(&mut up, table)?,
            Operation::AddColumn { table, column, foreign_key: None } => {
                let (expr, one_off) = column_expr(table, column, true)?;
                if let Some(sql) = one_off {
                    one_offs.push(format!("{table}.{} = {sql}", column.name));
                }
                writeln!(
                    up,
                    "        manager.alter_table(Table::alter().table({}).add_column({expr}).to_owned()).await?;",
                    lit(table)
                )
                .unwrap();
            }
            Operation::AddColumn { table, column, foreign_key: Some(fk) } => {
                let (expr, _) = column_expr(table, column, true)?;
                let sql = sqlite_add_reference(table, column, fk)?;
                sqlite_references.push(format!("{table}.{}", column.name));
                writeln!(up, "        if manager.get_database_backend() == sea_orm::DbBackend::Sqlite {{").unwrap();
                writeln!(up, "            manager.get_connection().execute_unprepared({}).await?;", lit(&sql)).unwrap();
                writeln!(up, "        }} else {{").unwrap();
                writeln!(
                    up,
                    "            manager.alter_table(Table::alter().table({}).add_column({expr}).to_owned()).await?;",
                    lit(table)
                )
                .unwrap();
                writeln!(
                    up,
                    "            manager.create_foreign_key({}.to_owned()).await?;",
                    foreign_key_expr(table, fk)
                )
                .unwrap();
                writeln!(up, "        }}").unwrap();
            }
            Operation::CreateIndex { table, index } => {
                let cols: Vec<String> = index.columns.iter().map(|c| format!(".col({})", lit(c))).collect();
                writeln!(
                    up,
                    "        manager.create_index(Index::create().name({}).table({}){}{}.to_owned()).await?;",
                    lit(&index.name),
                    lit(table),
                    cols.concat(),
                    if index.unique { ".unique()" } else { "" }
                )
                .unwrap();
            }
        }
    }
    if !sqlite_references.is_empty() {
        // SQLite will not drop a column that carries a foreign key, and rebuilding the table
        // here could cascade deletes: refuse before changing anything.
        writeln!(down, "        if manager.get_database_backend() == sea_orm::DbBackend::Sqlite {{").unwrap();
        writeln!(
            down,
            "            return Err(DbErr::Migration({}.into()));",
            lit(&format!(
                "{full} cannot be unapplied on SQLite: it would drop the foreign key column(s) {}, which SQLite \
                 only allows by rebuilding the table. Rebuild it by hand if you need to.",
                sqlite_references.join(", ")
            ))
        )
        .unwrap();
        writeln!(down, "        }}").unwrap();
        // MySQL refuses to drop a column or index a foreign key still needs.
        for op in operations {
            if let Operation::AddColumn { table, foreign_key: Some(fk), .. } = op {
                writeln!(
                    down,
                    "        manager.drop_foreign_key(ForeignKey::drop().name({}).table({}).to_owned()).await?;",
                    lit(fk.name.as_deref().unwrap_or_default()),
                    lit(table)
                )
                .unwrap();
            }
        }
    }
    for op in operations.iter().rev() {
        match op {
            Operation::CreateTable(table) => {
                writeln!(
                    down,
                    "        manager.drop_table(Table::drop().table({}).to_owned()).await?;",
                    lit(&table.name)
                )
                .unwrap();
            }
            Operation::AddColumn { table, column, .. } => {
                writeln!(
                    down,
                    "        manager.alter_table(Table::alter().table({}).drop_column({}).to_owned()).await?;",
                    lit(table),
                    lit(&column.name)
                )
                .unwrap();
            }
            // Dropped with their table, which a foreign key of theirs may still need until then.
            Operation::CreateIndex { table, .. } if created.contains(&table.as_str()) => {}
            Operation::CreateIndex { table, index } => {
                writeln!(
                    down,
                    "        manager.drop_index(Index::drop().name({}).table({}).to_owned()).await?;",
                    lit(&index.name),
                    lit(table)
                )
                .unwrap();
            }
        }
    }
    let mut header = format!("//! {full}: written by `manage makemigrations`.\n");
    if !one_offs.is_empty() {
        writeln!(
            header,
            "//!\n//! New NOT NULL columns get a default so the rows already there have a value: {}. \
             Change it here if another value suits those rows better.",
            one_offs.join(", ")
        )
        .unwrap();
    }
    let source = format!(
        "{header}
use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {{
    fn name(&self) -> &str {{
        {name_lit}
    }}
}}

#[async_trait::async_trait]
impl MigrationTrait for Migration {{
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {{
{up}        Ok(())
    }}

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {{
{down}        Ok(())
    }}
}}
",
        name_lit = lit(&full),
    );
    Ok(MigrationFile { module, source })
}

/// Writes `file` into `dir` and registers it in `dir/lib.rs`, or `dir/mod.rs` for an app's
/// `migrations` module (a `mod` line and an entry in the migrator's list); returns the file's
/// path.
pub fn save(dir: &Path, file: &MigrationFile) -> Result<PathBuf, String> {
    let lib = ["lib.rs", "mod.rs"].map(|f| dir.join(f)).into_iter().find(|p| p.is_file()).unwrap_or(dir.join("lib.rs"));
    let text = std::fs::read_to_string(&lib).map_err(|e| format!("could not read {}: {e}", lib.display()))?;
    let registered = register(&text, &file.module).ok_or_else(|| {
        format!(
            "could not find where {} lists its migrations (`mod m…;` lines after the `use` lines, and \
             `Box::new(m….::Migration)` entries in a vec!, or an empty `vec![]`); nothing was written",
            lib.display()
        )
    })?;
    let path = dir.join(format!("{}.rs", file.module));
    if path.exists() {
        return Err(format!("{} already exists; nothing was written", path.display()));
    }
    std::fs::write(&path, &file.source).map_err(|e| format!("could not write {}: {e}", path.display()))?;
    std::fs::write(&lib, registered).map_err(|e| format!("could not update {}: {e}", lib.display()))?;
    // Like Django running black on new migrations: formatted when rustfmt is there (it reads the
    // project's rustfmt.toml), left as written when it is not.
    let _ = std::process::Command::new("rustfmt")
        .args(["--edition", "2024"])
        .arg(&path)
        .arg(&lib)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
    Ok(path)
}

/// `lib.rs` with `module` declared after the last migration module (after the `use` lines
/// when there is none yet) and appended to the migrator's list.
fn register(text: &str, module: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len() + 2 * module.len() + 40);
    let lines: Vec<&str> = text.lines().collect();
    let is_mod = |l: &&str| l.trim_start().starts_with("mod m") && l.trim_end().ends_with(';');
    let is_use = |l: &&str| l.starts_with("use ") && l.trim_end().ends_with(';');
    let after_line = lines.iter().rposition(is_mod).or_else(|| lines.iter().rposition(is_use))?;
    let listed = match text.rfind("::Migration)") {
        Some(end) => {
            let (before, after) = text.split_at(end + "::Migration)".len());
            let mut listed = String::from(before);
            if let Some(rest) = after.strip_prefix(',') {
                // One entry per line: repeat the previous entry's indentation.
                let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
                let indent: String = before[line_start..].chars().take_while(|c| c.is_whitespace()).collect();
                write!(listed, ",\n{indent}Box::new({module}::Migration),{rest}").unwrap();
            } else {
                write!(listed, ", Box::new({module}::Migration){after}").unwrap();
            }
            listed
        }
        // A new app's empty list (what `startapp` writes); the first entry keeps it one line.
        None if text.matches("vec![]").count() == 1 => {
            text.replacen("vec![]", &format!("vec![Box::new({module}::Migration)]"), 1)
        }
        None => return None,
    };
    for (i, line) in listed.split_inclusive('\n').enumerate() {
        out.push_str(line);
        if i == after_line {
            if lines.iter().rposition(is_mod).is_none() {
                // The first module gets a blank line between it and the `use` lines.
                out.push('\n');
            }
            writeln!(out, "mod {module};").unwrap();
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn register_adds_the_module_and_the_entry() {
        let one_line = "mod m0001_initial;\n\nfn m() -> V {\n    vec![Box::new(m0001_initial::Migration)]\n}\n";
        let out = register(one_line, "m0002_task").unwrap();
        assert_eq!(
            out,
            "mod m0001_initial;\nmod m0002_task;\n\nfn m() -> V {\n    vec![Box::new(m0001_initial::Migration), Box::new(m0002_task::Migration)]\n}\n"
        );
        let per_line = "mod m0001_a;\nmod m0002_b;\nfn m() {\n    vec![\n        Box::new(m0001_a::Migration),\n        Box::new(m0002_b::Migration),\n    ]\n}\n";
        let out = register(per_line, "m0003_c").unwrap();
        assert!(out.contains("mod m0002_b;\nmod m0003_c;\n"), "{out}");
        assert!(
            out.contains("        Box::new(m0002_b::Migration),\n        Box::new(m0003_c::Migration),\n    ]"),
            "{out}"
        );
        assert!(register("fn main() {}", "m0001_x").is_none());
        // What `startapp` writes: no migration yet.
        let empty = "//! Migrations.\n\nuse sea_orm_migration::prelude::*;\n\npub struct Migrator;\n\nfn migrations() -> V {\n    vec![]\n}\n";
        let out = register(empty, "m0001_initial").unwrap();
        assert_eq!(
            out,
            "//! Migrations.\n\nuse sea_orm_migration::prelude::*;\n\nmod m0001_initial;\n\npub struct Migrator;\n\nfn migrations() -> V {\n    vec![Box::new(m0001_initial::Migration)]\n}\n"
        );
        let again = register(&out, "m0002_more").unwrap();
        assert!(again.contains("mod m0001_initial;\nmod m0002_more;\n"), "{again}");
        assert!(again.contains("vec![Box::new(m0001_initial::Migration), Box::new(m0002_more::Migration)]"), "{again}");
        // No `use` line and no module: nowhere to say `mod`.
        assert!(register("fn m() -> V { vec![] }", "m0001_x").is_none());
    }

    #[test]
    fn names_are_checked_and_numbered() {
        assert!(check_name("contact_linkedin").is_ok());
        for bad in ["", "Upper", "with-dash", "1st", "a b"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        let dir = std::env::temp_dir().join(format!("djambda-writer-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("m0007_x.rs"), "").unwrap();
        assert_eq!(next_number(["0001_initial", "0002_b"].into_iter(), &dir), 8);
        assert_eq!(next_number(["0001_initial", "0012_b"].into_iter(), &dir), 13);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
