//! Fixtures (Django's `dumpdata` / `loaddata`): the site's models as JSON records of the form
//! `{"model": "crm.company", "pk": 1, "fields": {…}}`, loaded in one transaction so a bad
//! record loads nothing.

use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveModelBehavior, ActiveModelTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr,
    EntityTrait, IdenStatic, IntoActiveModel, Iterable, PrimaryKeyToColumn, Statement, TryIntoModel,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use futures_util::future::BoxFuture;

use super::Database;
use crate::assets::AssetDir;

/// One row as a fixture has it: the primary key and the other fields.
pub type Record = (Value, Map<String, Value>);

/// The future of [`FixtureModel::load`], borrowing the transaction.
pub type LoadFuture<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send + 'a>>;

/// A model that fixtures can hold, registered with
/// [`App::model`](crate::App::model).
pub trait FixtureModel: Send + Sync {
    /// `app.model`, as fixtures name it (`crm.company`).
    fn label(&self) -> &str;
    /// The database table.
    fn table(&self) -> &str;
    /// The table as the model declares it (what `makemigrations` brings the schema to).
    fn schema(&self) -> super::migrations::TableSchema;
    /// Every row as `(pk, fields)`.
    fn dump<'a>(&'a self, db: &'a DatabaseConnection) -> BoxFuture<'static, Result<Vec<Record>, DbErr>>
    where
        Self: 'a;
    /// Inserts one record (its fields with the primary key among them).
    fn load<'a>(&'a self, txn: &'a DatabaseTransaction, record: Value) -> LoadFuture<'a>;
}

/// A sea-orm entity whose primary key column is `id`, as a [`FixtureModel`].
pub struct EntityFixture<E> {
    label: String,
    entity: E,
}

impl<E: EntityTrait> EntityFixture<E> {
    /// The entity `E` under the fixture label `label`.
    pub fn new(label: &str) -> Self {
        EntityFixture { label: label.to_owned(), entity: E::default() }
    }
}

impl<E> FixtureModel for EntityFixture<E>
where
    E: EntityTrait + Sync,
    E::Model: Serialize + DeserializeOwned + IntoActiveModel<E::ActiveModel> + Send + Sync,
    E::ActiveModel: ActiveModelTrait<Entity = E> + ActiveModelBehavior + TryIntoModel<E::Model> + Send + Sync,
{
    fn label(&self) -> &str {
        &self.label
    }

    fn table(&self) -> &str {
        self.entity.table_name()
    }

    fn schema(&self) -> super::migrations::TableSchema {
        super::migrations::entity_table(self.entity)
    }

    fn dump<'a>(&'a self, db: &'a DatabaseConnection) -> BoxFuture<'static, Result<Vec<Record>, DbErr>>
    where
        Self: 'a,
    {
        let db = db.clone();
        Box::pin(async move {
            let rows = E::find().all(&db).await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                let Value::Object(mut fields) = serde_json::to_value(&row).map_err(|e| DbErr::Json(e.to_string()))?
                else {
                    return Err(DbErr::Json("a model did not serialise to a JSON object".into()));
                };
                let pk = fields.remove("id").unwrap_or(Value::Null);
                out.push((pk, fields));
            }
            Ok(out)
        })
    }

    fn load<'a>(&'a self, txn: &'a DatabaseTransaction, record: Value) -> LoadFuture<'a> {
        // Checked against the model first: sea-orm would quietly fill a missing field with a
        // default, and a fixture with a missing field is a broken fixture.
        let checked = serde_json::from_value::<E::Model>(record.clone()).map_err(|e| e.to_string());
        let active = checked.and_then(|_| E::ActiveModel::from_json(record).map_err(|e| e.to_string()));
        // As Django's loaddata, a record whose primary key exists replaces that row: a fixture
        // loads twice, and a dump reloads over rows `migrate` made (the permissions).
        let keys: Vec<E::Column> = E::PrimaryKey::iter().map(|k| k.into_column()).collect();
        let others: Vec<E::Column> =
            E::Column::iter().filter(|c| !keys.iter().any(|k| k.as_str() == c.as_str())).collect();
        let upsert = active.map(|am| {
            let mut conflict = OnConflict::columns(keys.clone());
            if others.is_empty() {
                conflict.do_nothing();
            } else {
                conflict.update_columns(others);
            }
            E::insert(am).on_conflict(conflict).exec_without_returning(txn)
        });
        Box::pin(async move {
            match upsert {
                Ok(fut) => fut.await.map(|_| ()).map_err(|e| e.to_string()),
                Err(e) => Err(e),
            }
        })
    }
}

/// Records loaded, and from how many fixtures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Loaded {
    /// Records inserted.
    pub objects: usize,
}

/// Loads fixture records (already parsed) into the database in one transaction: all of them,
/// or none and an error naming the record that failed and why.
pub(crate) async fn load_records(
    db: &DatabaseConnection,
    models: &[std::sync::Arc<dyn FixtureModel>],
    records: Vec<(String, Value)>,
) -> Result<Loaded, String> {
    use sea_orm::TransactionTrait;
    let txn = db.begin().await.map_err(|e| e.to_string())?;
    let mut tables: Vec<&str> = Vec::new();
    let count = records.len();
    for (i, (source, record)) in records.into_iter().enumerate() {
        let what = format!("record {} of {source}", i + 1);
        let Value::Object(mut obj) = record else { return Err(format!("{what}: not a JSON object")) };
        let label = obj
            .remove("model")
            .and_then(|m| m.as_str().map(str::to_owned))
            .ok_or_else(|| format!("{what}: no \"model\""))?;
        let model = models
            .iter()
            .find(|m| m.label() == label)
            .ok_or_else(|| format!("{what}: unknown model {label:?} (known: {})", labels(models)))?;
        let mut fields = match obj.remove("fields") {
            Some(Value::Object(f)) => f,
            _ => return Err(format!("{what} ({label}): no \"fields\" object")),
        };
        if let Some(pk) = obj.remove("pk") {
            fields.insert("id".into(), pk.clone());
        }
        let pk = fields.get("id").cloned().unwrap_or(Value::Null);
        model
            .load(&txn, Value::Object(fields))
            .await
            .map_err(|e| format!("{what} ({label} pk={pk}) could not be loaded: {e}"))?;
        if !tables.contains(&model.table()) {
            tables.push(model.table());
        }
    }
    // PostgreSQL keeps identity counters apart from the rows: move them past the loaded keys so
    // the next insert does not collide with a fixture's primary key.
    if txn.get_database_backend() == DbBackend::Postgres {
        for table in &tables {
            let sql = format!(
                "SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), COALESCE((SELECT MAX(id) FROM \"{table}\"), 0) + 1, false)"
            );
            txn.execute_raw(Statement::from_string(DbBackend::Postgres, sql)).await.map_err(|e| e.to_string())?;
        }
    }
    txn.commit().await.map_err(|e| e.to_string())?;
    Ok(Loaded { objects: count })
}

/// Every registered model's rows as fixture records, in registration order (parents first).
pub async fn dump_records(
    db: &DatabaseConnection,
    models: &[std::sync::Arc<dyn FixtureModel>],
    only: &[String],
) -> Result<Vec<Value>, String> {
    for wanted in only {
        let known = models.iter().any(|m| m.label() == wanted || m.label().split('.').next() == Some(wanted.as_str()));
        if !known {
            return Err(format!("Unknown model or app: {wanted} (known: {})", labels(models)));
        }
    }
    let mut out = Vec::new();
    for model in models {
        let app = model.label().split('.').next().unwrap_or("");
        if !only.is_empty() && !only.iter().any(|w| w == model.label() || w == app) {
            continue;
        }
        for (pk, fields) in model.dump(db).await.map_err(|e| e.to_string())? {
            out.push(serde_json::json!({ "model": model.label(), "pk": pk, "fields": fields }));
        }
    }
    Ok(out)
}

fn labels(models: &[std::sync::Arc<dyn FixtureModel>]) -> String {
    models.iter().map(|m| m.label()).collect::<Vec<_>>().join(", ")
}

/// The bytes of a fixture: a file path, or a name (`demo`, `demo.json`) from the apps'
/// fixtures folders (`dirs`, searched in order).
pub fn find_fixture<'a>(dirs: impl IntoIterator<Item = &'a AssetDir>, name: &str) -> Result<Vec<u8>, String> {
    if std::path::Path::new(name).is_file() {
        return std::fs::read(name).map_err(|e| format!("could not read {name}: {e}"));
    }
    let file = if name.ends_with(".json") { name.to_owned() } else { format!("{name}.json") };
    dirs.into_iter()
        .find_map(|dir| dir.get(&file).map(|a| a.data.into_owned()))
        .ok_or_else(|| format!("No fixture named '{name}' found."))
}

/// Loads fixtures by name (from `dirs`) or path into the `models` they name, all in one
/// transaction (Django's `loaddata`).
pub async fn load_fixtures<'a>(
    database: &Database,
    models: &[std::sync::Arc<dyn FixtureModel>],
    dirs: impl IntoIterator<Item = &'a AssetDir> + Clone,
    names: &[String],
) -> Result<Loaded, String> {
    let mut records = Vec::new();
    for name in names {
        let bytes = find_fixture(dirs.clone(), name)?;
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Array(items)) => records.extend(items.into_iter().map(|r| (format!("fixture '{name}'"), r))),
            Ok(_) => return Err(format!("Problem installing fixture '{name}': a fixture is a JSON list of records.")),
            Err(e) => return Err(format!("Problem installing fixture '{name}': not valid JSON: {e}")),
        }
    }
    let db = database.connection().await.map_err(|e| e.to_string())?;
    load_records(&db, models, records)
        .await
        .map_err(|e| format!("Problem installing fixtures (nothing was loaded): {e}"))
}
