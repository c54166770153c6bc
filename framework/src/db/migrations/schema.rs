//! Schema descriptions `makemigrations` compares: what a site's entities declare, and what its
//! migrations have built (replayed on a scratch SQLite database and read back with its PRAGMAs;
//! Django's `ProjectState` rendered from the migration files).

use sea_orm::sea_query::{ColumnDef, ForeignKeyAction, Query, SqliteQueryBuilder, TableRef};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait, Schema, Statement};

/// One table: its columns, indexes and foreign keys.
#[derive(Debug, Clone)]
pub struct TableSchema {
    /// The table's name.
    pub name: String,
    /// Its columns in order.
    pub columns: Vec<ColumnSchema>,
    /// Indexes other than the primary key (unique single-column constraints included).
    pub indexes: Vec<IndexSchema>,
    /// Foreign keys.
    pub foreign_keys: Vec<ForeignKeySchema>,
}

/// One column.
#[derive(Debug, Clone)]
pub struct ColumnSchema {
    /// The column's name.
    pub name: String,
    /// Whether NULL is allowed.
    pub nullable: bool,
    /// Whether it is (part of) the primary key.
    pub primary_key: bool,
    /// The full definition, as the entity declares it (absent for a column read back from a
    /// database, where only presence matters).
    pub def: Option<ColumnDef>,
}

/// One index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexSchema {
    /// The index's name.
    pub name: String,
    /// Its columns in order.
    pub columns: Vec<String>,
    /// Whether it enforces uniqueness.
    pub unique: bool,
}

/// One foreign key.
#[derive(Debug, Clone)]
pub struct ForeignKeySchema {
    /// The constraint's name (SQLite does not keep it).
    pub name: Option<String>,
    /// The referencing columns.
    pub columns: Vec<String>,
    /// The referenced table.
    pub to_table: String,
    /// The referenced columns.
    pub to_columns: Vec<String>,
    /// ON DELETE.
    pub on_delete: Option<ForeignKeyAction>,
    /// ON UPDATE.
    pub on_update: Option<ForeignKeyAction>,
}

impl TableSchema {
    /// The column named `name`.
    pub fn column(&self, name: &str) -> Option<&ColumnSchema> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// Whether an index over exactly `columns` exists (a unique one when `unique`).
    pub fn has_index(&self, columns: &[String], unique: bool) -> bool {
        self.indexes.iter().any(|i| i.columns == columns && (i.unique || !unique))
    }

    /// Whether a foreign key from `fk.columns` to the same table and columns exists.
    pub fn has_foreign_key(&self, fk: &ForeignKeySchema) -> bool {
        self.foreign_keys
            .iter()
            .any(|k| k.columns == fk.columns && k.to_table == fk.to_table && k.to_columns == fk.to_columns)
    }
}

fn table_name(table: Option<&TableRef>) -> String {
    match table {
        Some(TableRef::Table(name, _)) => name.1.to_string(),
        _ => String::new(),
    }
}

/// The table an entity declares: sea-orm's own `CREATE TABLE` for it, plus the indexes its
/// columns ask for (`indexed`, `unique_key`) and, as Django does, one on each foreign key.
pub fn entity_table<E: EntityTrait>(entity: E) -> TableSchema {
    let schema = Schema::new(DbBackend::Sqlite);
    let create = schema.create_table_from_entity(entity);
    let name = entity.table_name().to_owned();
    let columns: Vec<ColumnSchema> = create
        .get_columns()
        .iter()
        .map(|def| {
            let spec = def.get_column_spec();
            ColumnSchema {
                name: def.get_column_name(),
                nullable: spec.nullable != Some(false) && !spec.primary_key,
                primary_key: spec.primary_key,
                def: Some(def.clone()),
            }
        })
        .collect();
    let mut indexes = Vec::new();
    for def in create.get_columns() {
        if def.get_column_spec().unique {
            let column = def.get_column_name();
            indexes.push(IndexSchema { name: format!("uniq_{name}_{column}"), columns: vec![column], unique: true });
        }
    }
    for index in schema.create_index_from_entity(entity) {
        let spec = index.get_index_spec();
        let columns = spec.get_column_names();
        let index_name = format!("{}_{name}_{}", if index.is_unique_key() { "uniq" } else { "idx" }, columns.join("_"));
        indexes.push(IndexSchema { name: index_name, columns, unique: index.is_unique_key() });
    }
    let foreign_keys: Vec<ForeignKeySchema> = create
        .get_foreign_key_create_stmts()
        .iter()
        .map(|stmt| {
            let fk = stmt.get_foreign_key();
            let to_table = table_name(fk.get_ref_table());
            let columns = fk.get_columns();
            ForeignKeySchema {
                name: Some(format!("fk_{name}_{}", columns.join("_"))),
                columns,
                to_table,
                to_columns: fk.get_ref_columns(),
                on_delete: fk.get_on_delete(),
                on_update: fk.get_on_update(),
            }
        })
        .collect();
    for fk in &foreign_keys {
        if !indexes.iter().any(|i| i.columns.starts_with(&fk.columns)) {
            let index_name = format!("idx_{name}_{}", fk.columns.join("_"));
            indexes.push(IndexSchema { name: index_name, columns: fk.columns.clone(), unique: false });
        }
    }
    TableSchema { name, columns, indexes, foreign_keys }
}

/// A default value as the SQL literal it renders to (`''`, `0`, `CURRENT_TIMESTAMP`).
pub fn default_sql(def: &ColumnDef) -> Option<String> {
    let default = def.get_column_spec().default.clone()?;
    let sql = Query::select().expr(default).to_string(SqliteQueryBuilder);
    Some(sql.strip_prefix("SELECT ").unwrap_or(&sql).to_owned())
}

async fn rows(db: &DatabaseConnection, sql: String) -> Result<Vec<sea_orm::QueryResult>, DbErr> {
    db.query_all_raw(Statement::from_string(DbBackend::Sqlite, sql)).await
}

fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn action(rule: &str) -> Option<ForeignKeyAction> {
    match rule {
        "CASCADE" => Some(ForeignKeyAction::Cascade),
        "SET NULL" => Some(ForeignKeyAction::SetNull),
        "SET DEFAULT" => Some(ForeignKeyAction::SetDefault),
        "RESTRICT" => Some(ForeignKeyAction::Restrict),
        _ => None,
    }
}

/// Every table of an SQLite database (its own and the migrations' bookkeeping excepted), read
/// back through `sqlite_master` and the `table_info`, `index_list`, `index_info` and
/// `foreign_key_list` PRAGMAs.
pub async fn read_sqlite(db: &DatabaseConnection) -> Result<Vec<TableSchema>, DbErr> {
    let names = rows(
        db,
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
         AND name <> 'seaql_migrations' ORDER BY name"
            .into(),
    )
    .await?;
    let mut tables = Vec::new();
    for row in names {
        let name: String = row.try_get("", "name")?;
        let mut columns = Vec::new();
        for c in rows(db, format!("PRAGMA table_info({})", quoted(&name))).await? {
            let pk: i32 = c.try_get("", "pk")?;
            let notnull: i32 = c.try_get("", "notnull")?;
            columns.push(ColumnSchema {
                name: c.try_get("", "name")?,
                nullable: notnull == 0 && pk == 0,
                primary_key: pk > 0,
                def: None,
            });
        }
        let mut indexes = Vec::new();
        for i in rows(db, format!("PRAGMA index_list({})", quoted(&name))).await? {
            let origin: String = i.try_get("", "origin")?;
            if origin == "pk" {
                continue;
            }
            let index_name: String = i.try_get("", "name")?;
            let unique: i32 = i.try_get("", "unique")?;
            let mut cols = Vec::new();
            for col in rows(db, format!("PRAGMA index_info({})", quoted(&index_name))).await? {
                // An expression index has no column name; it can match no declared index.
                cols.push(col.try_get::<Option<String>>("", "name")?.unwrap_or_default());
            }
            indexes.push(IndexSchema { name: index_name, columns: cols, unique: unique != 0 });
        }
        let mut foreign_keys: Vec<(i32, ForeignKeySchema)> = Vec::new();
        for f in rows(db, format!("PRAGMA foreign_key_list({})", quoted(&name))).await? {
            let id: i32 = f.try_get("", "id")?;
            let from: String = f.try_get("", "from")?;
            let to: Option<String> = f.try_get("", "to")?;
            let to_table: String = f.try_get("", "table")?;
            match foreign_keys.iter_mut().find(|(i, _)| *i == id) {
                Some((_, fk)) => {
                    fk.columns.push(from);
                    fk.to_columns.extend(to);
                }
                None => {
                    let on_delete: String = f.try_get("", "on_delete")?;
                    let on_update: String = f.try_get("", "on_update")?;
                    foreign_keys.push((
                        id,
                        ForeignKeySchema {
                            name: None,
                            columns: vec![from],
                            to_columns: to.into_iter().collect(),
                            to_table,
                            on_delete: action(&on_delete),
                            on_update: action(&on_update),
                        },
                    ));
                }
            }
        }
        // `REFERENCES parent` with no column names the parent's primary key.
        let mut foreign_keys: Vec<ForeignKeySchema> = foreign_keys.into_iter().map(|(_, fk)| fk).collect();
        for fk in &mut foreign_keys {
            if fk.to_columns.is_empty() {
                for c in rows(db, format!("PRAGMA table_info({})", quoted(&fk.to_table))).await? {
                    if c.try_get::<i32>("", "pk")? > 0 {
                        fk.to_columns.push(c.try_get("", "name")?);
                    }
                }
            }
        }
        tables.push(TableSchema { name, columns, indexes, foreign_keys });
    }
    Ok(tables)
}
