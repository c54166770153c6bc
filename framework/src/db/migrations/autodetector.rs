//! What `makemigrations` writes (Django's `django.db.migrations.autodetector`): the operations
//! that take the migrated schema to what the entities declare.
//!
//! It adds; it never drops. A table, column or index the entities no longer have is reported
//! for the developer to remove by hand, since dropping it loses data Django would also ask
//! about. Column type and nullability changes are not detected.

use std::collections::HashSet;

use super::schema::{ColumnSchema, ForeignKeySchema, IndexSchema, TableSchema};

/// One schema change.
#[derive(Debug, Clone)]
pub enum Operation {
    /// A new table, with its foreign keys (its indexes follow as [`Operation::CreateIndex`]).
    CreateTable(TableSchema),
    /// A new column on an existing table, with the foreign key it carries, if any.
    AddColumn {
        /// The table.
        table: String,
        /// The column, as the entity declares it.
        column: Box<ColumnSchema>,
        /// Its foreign key.
        foreign_key: Option<ForeignKeySchema>,
    },
    /// A new index.
    CreateIndex {
        /// The table.
        table: String,
        /// The index.
        index: IndexSchema,
    },
}

impl Operation {
    /// How `makemigrations` lists it ("Create table task").
    pub fn describe(&self) -> String {
        match self {
            Operation::CreateTable(t) => format!("Create table {}", t.name),
            Operation::AddColumn { table, column, .. } => format!("Add column {} to {table}", column.name),
            Operation::CreateIndex { table, index } => {
                let kind = if index.unique { "unique index" } else { "index" };
                format!("Create {kind} {} on {table} ({})", index.name, index.columns.join(", "))
            }
        }
    }

    /// The name part Django would give a migration holding only this operation.
    pub fn suggested_name(&self) -> String {
        match self {
            Operation::CreateTable(t) => t.name.clone(),
            Operation::AddColumn { table, column, .. } => format!("{table}_{}", column.name),
            Operation::CreateIndex { index, .. } => index.name.clone(),
        }
    }
}

/// The autodetector's findings.
#[derive(Debug, Default)]
pub struct Changes {
    /// What the new migration does, in order (parents before the tables that reference them).
    pub operations: Vec<Operation>,
    /// Differences it does not write a migration for, each with what to do about it.
    pub notes: Vec<String>,
}

/// Compares the `wanted` tables (an app's entities) with the `current` schema.
pub fn detect(wanted: &[TableSchema], current: &[TableSchema]) -> Result<Changes, String> {
    let mut changes = Changes::default();
    let existing: HashSet<&str> = current.iter().map(|t| t.name.as_str()).collect();
    for table in order_by_dependency(wanted.iter().filter(|t| !existing.contains(t.name.as_str())).collect())? {
        changes.operations.push(Operation::CreateTable(table.clone()));
        for index in &table.indexes {
            // A unique column is created UNIQUE with the table; its index comes with it.
            let inline =
                index.unique && index.columns.len() == 1 && table.column(&index.columns[0]).is_some_and(is_unique);
            if !inline {
                changes.operations.push(Operation::CreateIndex { table: table.name.clone(), index: index.clone() });
            }
        }
    }
    for table in wanted {
        let Some(have) = current.iter().find(|t| t.name == table.name) else { continue };
        for column in &table.columns {
            if have.column(&column.name).is_some() {
                continue;
            }
            if column.primary_key {
                return Err(format!(
                    "{}.{} is a new primary key column; a table's primary key cannot be added by a migration \
                     (create a new table and copy the rows instead)",
                    table.name, column.name
                ));
            }
            let foreign_key = table.foreign_keys.iter().find(|fk| fk.columns == [column.name.clone()]).cloned();
            if foreign_key.is_some() && !column.nullable {
                return Err(format!(
                    "{}.{} is a new NOT NULL foreign key on an existing table: SQLite cannot add one, and the \
                     rows already there would have nothing to point at. Declare it nullable (Option<…>) for \
                     this migration, fill it in, then make it required by hand.",
                    table.name, column.name
                ));
            }
            changes.operations.push(Operation::AddColumn {
                table: table.name.clone(),
                column: Box::new(column.clone()),
                foreign_key,
            });
        }
        for index in &table.indexes {
            if !have.has_index(&index.columns, index.unique) {
                changes.operations.push(Operation::CreateIndex { table: table.name.clone(), index: index.clone() });
            }
        }
        for fk in &table.foreign_keys {
            let on_new_column = fk.columns.iter().any(|c| have.column(c).is_none());
            if !on_new_column && !have.has_foreign_key(fk) {
                changes.notes.push(format!(
                    "{}.{} now references {}: a foreign key cannot be added to an existing column on SQLite \
                     without rebuilding the table, so write this migration by hand \
                     (manager.create_foreign_key on PostgreSQL and MySQL).",
                    table.name,
                    fk.columns.join(", "),
                    fk.to_table
                ));
            }
        }
        for column in &have.columns {
            if table.column(&column.name).is_none() {
                changes.notes.push(format!(
                    "{}.{} is in the schema but not in the entity; makemigrations does not drop data: \
                     write a migration with drop_column if you mean to lose it.",
                    table.name, column.name
                ));
            }
        }
    }
    Ok(changes)
}

fn is_unique(column: &ColumnSchema) -> bool {
    column.def.as_ref().is_some_and(|d| d.get_column_spec().unique)
}

/// New tables with every table they reference created first.
fn order_by_dependency(mut pending: Vec<&TableSchema>) -> Result<Vec<&TableSchema>, String> {
    let mut ordered: Vec<&TableSchema> = Vec::new();
    while !pending.is_empty() {
        let ready = pending.iter().position(|t| {
            t.foreign_keys.iter().all(|fk| fk.to_table == t.name || !pending.iter().any(|p| p.name == fk.to_table))
        });
        match ready {
            Some(i) => ordered.push(pending.remove(i)),
            None => {
                let names: Vec<&str> = pending.iter().map(|t| t.name.as_str()).collect();
                return Err(format!(
                    "the new tables {} reference each other in a cycle; make one of the foreign keys nullable \
                     and add it in a second migration",
                    names.join(", ")
                ));
            }
        }
    }
    Ok(ordered)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(name: &str, nullable: bool) -> ColumnSchema {
        ColumnSchema { name: name.into(), nullable, primary_key: name == "id", def: None }
    }

    fn table(name: &str, columns: &[(&str, bool)], references: &[(&str, &str)]) -> TableSchema {
        TableSchema {
            name: name.into(),
            columns: columns.iter().map(|(c, null)| column(c, *null)).collect(),
            indexes: Vec::new(),
            foreign_keys: references
                .iter()
                .map(|(col, to)| ForeignKeySchema {
                    name: None,
                    columns: vec![(*col).into()],
                    to_table: (*to).into(),
                    to_columns: vec!["id".into()],
                    on_delete: None,
                    on_update: None,
                })
                .collect(),
        }
    }

    #[test]
    fn new_tables_come_after_the_tables_they_reference() {
        let wanted = [
            table("line", &[("id", false), ("order_id", false)], &[("order_id", "order")]),
            table("order", &[("id", false), ("customer_id", false)], &[("customer_id", "customer")]),
            table("customer", &[("id", false)], &[]),
        ];
        let changes = detect(&wanted, &[]).unwrap();
        let names: Vec<String> = changes.operations.iter().map(Operation::suggested_name).collect();
        assert_eq!(names, ["customer", "order", "line"]);
        let cycle = [
            table("a", &[("id", false), ("b_id", false)], &[("b_id", "b")]),
            table("b", &[("id", false), ("a_id", false)], &[("a_id", "a")]),
        ];
        assert!(detect(&cycle, &[]).unwrap_err().contains("cycle"));
    }

    #[test]
    fn what_cannot_be_added_safely_is_refused_or_noted() {
        let current = [table("parent", &[("id", false)], &[]), table("child", &[("id", false), ("fax", true)], &[])];
        let required_fk = [table("child", &[("id", false), ("parent_id", false)], &[("parent_id", "parent")])];
        assert!(detect(&required_fk, &current).unwrap_err().contains("NOT NULL foreign key"));
        let optional_fk = [table("child", &[("id", false), ("parent_id", true)], &[("parent_id", "parent")])];
        let changes = detect(&optional_fk, &current).unwrap();
        assert!(matches!(&changes.operations[..], [Operation::AddColumn { foreign_key: Some(_), .. }]));
        assert!(changes.notes.iter().any(|n| n.contains("child.fax is in the schema but not in the entity")));
        let fk_on_old_column = [table("child", &[("id", false), ("fax", true)], &[("fax", "parent")])];
        let changes = detect(&fk_on_old_column, &current).unwrap();
        assert!(changes.operations.is_empty());
        assert!(changes.notes[0].contains("write this migration by hand"), "{:?}", changes.notes);
    }
}
