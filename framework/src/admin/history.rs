//! The admin's log (Django's `django_admin_log` and `LogEntry`): every add, change and
//! delete made through the admin, with who made it, when, and which fields changed from what
//! to what. Its table comes with the admin app's own migrations.

use sea_orm::{ActiveValue, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};

use crate::error::Result;

/// One logged action (table `djambda_admin_log`, Django's `LogEntry`).
pub mod log_entry {
    use sea_orm::entity::prelude::*;
    use serde::{Deserialize, Serialize};

    /// One entry.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
    #[sea_orm(table_name = "djambda_admin_log")]
    pub struct Model {
        /// Primary key.
        #[sea_orm(primary_key)]
        pub id: i32,
        /// When it happened.
        #[sea_orm(indexed)]
        pub action_time: DateTimeUtc,
        /// Who did it.
        pub user_id: i32,
        /// The model's app (`crm`): Django's content type, as the model's label.
        #[sea_orm(column_type = "String(StringLen::N(100))")]
        pub app_label: String,
        /// The model (`contact`).
        #[sea_orm(column_type = "String(StringLen::N(100))")]
        pub model_name: String,
        /// The row's primary key, as text.
        #[sea_orm(column_type = "Text")]
        pub object_id: String,
        /// How the row was named at the time (at most 200 characters).
        #[sea_orm(column_type = "String(StringLen::N(200))")]
        pub object_repr: String,
        /// 1 added, 2 changed, 3 deleted (Django's `ADDITION`, `CHANGE`, `DELETION`).
        pub action_flag: i16,
        /// What changed, as JSON: a list of `{"added": …}`, `{"changed": {"fields": [{"name",
        /// "label", "from", "to"}]}}` and `{"deleted": …}` (inline rows carry `name` and
        /// `object`).
        #[sea_orm(column_type = "Text")]
        pub change_message: String,
    }

    /// Who made the entry.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {
        /// The user.
        #[sea_orm(
            belongs_to = "crate::auth::models::user::Entity",
            from = "Column::UserId",
            to = "crate::auth::models::user::Column::Id",
            on_delete = "Cascade"
        )]
        User,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

/// Django's `ADDITION`.
pub const ADDITION: i16 = 1;
/// Django's `CHANGE`.
pub const CHANGE: i16 = 2;
/// Django's `DELETION`.
pub const DELETION: i16 = 3;

/// One changed field: its name, its label, and its value before and after as shown to people
/// (a password's values are never kept).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldChange {
    /// The column or field name.
    pub name: String,
    /// Its label.
    pub label: String,
    /// The value before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// The value after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
}

/// One part of an entry's change message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// A row was added: the object itself (no name), or an inline row (`name`, `object`).
    Added(Part),
    /// Fields changed.
    Changed(Part),
    /// An inline row was deleted.
    Deleted(Part),
}

/// What a [`Change`] is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Part {
    /// The inline's model name (`contact`), for a related row.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// How the related row is named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
    /// The fields that changed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldChange>,
}

/// The most characters of a field's value an entry keeps, before and after: a long text
/// changed keeps the entry readable and its size bounded (the rest is cut, marked with `…`).
pub const MAX_VALUE_CHARS: usize = 10_000;

/// `value` cut to [`MAX_VALUE_CHARS`].
fn bounded(value: &mut Option<String>) {
    if let Some(v) = value
        && v.chars().count() > MAX_VALUE_CHARS
    {
        let mut cut: String = v.chars().take(MAX_VALUE_CHARS).collect();
        cut.push('…');
        *v = cut;
    }
}

/// Writes one entry (inside the transaction of the change it records, so the two commit or
/// fail together), each field's values bounded.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn log<C: ConnectionTrait>(
    db: &C,
    user_id: i32,
    app_label: &str,
    model_name: &str,
    object_id: &str,
    object_repr: &str,
    action_flag: i16,
    changes: &[Change],
) -> Result<()> {
    let mut changes = changes.to_vec();
    for change in &mut changes {
        let (Change::Added(part) | Change::Changed(part) | Change::Deleted(part)) = change;
        for field in &mut part.fields {
            bounded(&mut field.from);
            bounded(&mut field.to);
        }
    }
    let entry = log_entry::ActiveModel {
        action_time: ActiveValue::Set(chrono::Utc::now()),
        user_id: ActiveValue::Set(user_id),
        app_label: ActiveValue::Set(app_label.to_owned()),
        model_name: ActiveValue::Set(model_name.to_owned()),
        object_id: ActiveValue::Set(object_id.to_owned()),
        object_repr: ActiveValue::Set(object_repr.chars().take(200).collect()),
        action_flag: ActiveValue::Set(action_flag),
        change_message: ActiveValue::Set(serde_json::to_string(&changes).unwrap_or_else(|_| "[]".into())),
        ..Default::default()
    };
    log_entry::Entity::insert(entry).exec_without_returning(db).await?;
    Ok(())
}

/// The entries of one object, oldest first: `limit` of them from the `offset`th.
pub(crate) async fn of_object<C: ConnectionTrait>(
    db: &C,
    app_label: &str,
    model_name: &str,
    object_id: &str,
    offset: u64,
    limit: u64,
) -> Result<Vec<log_entry::Model>> {
    Ok(log_entry::Entity::find()
        .filter(log_entry::Column::AppLabel.eq(app_label))
        .filter(log_entry::Column::ModelName.eq(model_name))
        .filter(log_entry::Column::ObjectId.eq(object_id))
        .order_by_asc(log_entry::Column::ActionTime)
        .order_by_asc(log_entry::Column::Id)
        .offset(offset)
        .limit(limit)
        .all(db)
        .await?)
}

/// How many entries one object has (one `COUNT`).
pub(crate) async fn count_of_object<C: ConnectionTrait>(
    db: &C,
    app_label: &str,
    model_name: &str,
    object_id: &str,
) -> Result<u64> {
    use sea_orm::PaginatorTrait;
    Ok(log_entry::Entity::find()
        .filter(log_entry::Column::AppLabel.eq(app_label))
        .filter(log_entry::Column::ModelName.eq(model_name))
        .filter(log_entry::Column::ObjectId.eq(object_id))
        .count(db)
        .await?)
}

/// A user's latest entries (the index page's "Recent actions").
pub(crate) async fn recent<C: ConnectionTrait>(db: &C, user_id: i32, limit: u64) -> Result<Vec<log_entry::Model>> {
    Ok(log_entry::Entity::find()
        .filter(log_entry::Column::UserId.eq(user_id))
        .order_by_desc(log_entry::Column::ActionTime)
        .order_by_desc(log_entry::Column::Id)
        .limit(limit)
        .all(db)
        .await?)
}

/// An entry's change message in words, as the history page and the index show it: "Added.",
/// "Changed Email and Phone.", "Added contact “Ada Lovelace”." (Django's
/// `get_change_message`).
pub(crate) fn describe(entry: &log_entry::Model) -> String {
    let changes: Vec<Change> = serde_json::from_str(&entry.change_message).unwrap_or_default();
    let mut parts = Vec::new();
    for change in &changes {
        let (verb, part) = match change {
            Change::Added(p) => ("Added", p),
            Change::Changed(p) => ("Changed", p),
            Change::Deleted(p) => ("Deleted", p),
        };
        let fields: Vec<&str> = part.fields.iter().map(|f| f.label.as_str()).collect();
        let mut text = verb.to_owned();
        if !fields.is_empty() {
            text.push(' ');
            text.push_str(&and_list(&fields));
        }
        if let (Some(name), Some(object)) = (&part.name, &part.object) {
            if fields.is_empty() {
                text.push_str(&format!(" {name} “{object}”"));
            } else {
                text.push_str(&format!(" for {name} “{object}”"));
            }
        }
        parts.push(format!("{text}."));
    }
    if parts.is_empty() {
        return match entry.action_flag {
            ADDITION => "Added.".into(),
            DELETION => "Deleted.".into(),
            _ => "No fields changed.".into(),
        };
    }
    parts.join(" ")
}

/// The changed fields of an entry, for the history page's from/to table.
pub(crate) fn changes(entry: &log_entry::Model) -> Vec<(Option<String>, FieldChange)> {
    let changes: Vec<Change> = serde_json::from_str(&entry.change_message).unwrap_or_default();
    let mut out = Vec::new();
    for change in changes {
        if let Change::Changed(part) = change {
            let about = part.object.map(|o| format!("{} “{o}”", part.name.unwrap_or_default()));
            out.extend(part.fields.into_iter().map(|f| (about.clone(), f)));
        }
    }
    out
}

fn and_list(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// The admin app's migrations: the log table, in its own bookkeeping table.
pub mod migrations {
    use sea_orm_migration::prelude::*;
    use sea_orm_migration::schema::*;

    /// The admin app's migrations.
    pub struct Migrator;

    #[async_trait::async_trait]
    impl MigratorTrait for Migrator {
        fn migrations() -> Vec<Box<dyn MigrationTrait>> {
            vec![Box::new(Initial)]
        }

        fn migration_table_name() -> DynIden {
            "djambda_migrations_admin".into_iden()
        }
    }

    struct Initial;

    impl MigrationName for Initial {
        fn name(&self) -> &str {
            "0001_initial"
        }
    }

    #[async_trait::async_trait]
    impl MigrationTrait for Initial {
        async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            // A change message names each changed field's old and new value: on MySQL a TEXT
            // (64 KiB) would refuse a long one, a LONGTEXT does not.
            let message = match manager.get_database_backend() {
                sea_orm::DatabaseBackend::MySql => {
                    ColumnDef::new("change_message").custom("LONGTEXT").not_null().to_owned()
                }
                _ => text("change_message"),
            };
            manager
                .create_table(
                    Table::create()
                        .table("djambda_admin_log")
                        .col(pk_auto("id"))
                        .col(timestamp_with_time_zone("action_time"))
                        .col(integer("user_id"))
                        .col(string_len("app_label", 100))
                        .col(string_len("model_name", 100))
                        .col(text("object_id"))
                        .col(string_len("object_repr", 200))
                        .col(small_integer("action_flag"))
                        .col(message)
                        .foreign_key(
                            ForeignKey::create()
                                .name("fk_djambda_admin_log_user_id")
                                .from("djambda_admin_log", "user_id")
                                .to("auth_user", "id")
                                .on_delete(ForeignKeyAction::Cascade),
                        )
                        .to_owned(),
                )
                .await?;
            manager
                .create_index(
                    Index::create()
                        .name("idx_djambda_admin_log_action_time")
                        .table("djambda_admin_log")
                        .col("action_time")
                        .to_owned(),
                )
                .await?;
            // What the entity's foreign key implies (sea-orm indexes a belongs_to column).
            manager
                .create_index(
                    Index::create()
                        .name("idx_djambda_admin_log_user_id")
                        .table("djambda_admin_log")
                        .col("user_id")
                        .to_owned(),
                )
                .await?;
            // An object's history is read by its model and key (the key is TEXT, which MySQL
            // cannot index whole, as Django's `object_id`).
            manager
                .create_index(
                    Index::create()
                        .name("idx_djambda_admin_log_model")
                        .table("djambda_admin_log")
                        .col("app_label")
                        .col("model_name")
                        .to_owned(),
                )
                .await
        }

        async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            manager.drop_table(Table::drop().table("djambda_admin_log").to_owned()).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(flag: i16, changes: &[Change]) -> log_entry::Model {
        log_entry::Model {
            id: 1,
            action_time: chrono::Utc::now(),
            user_id: 1,
            app_label: "crm".into(),
            model_name: "contact".into(),
            object_id: "1".into(),
            object_repr: "Ada".into(),
            action_flag: flag,
            change_message: serde_json::to_string(changes).unwrap(),
        }
    }

    #[test]
    fn change_messages_read_as_sentences() {
        let field = |n: &str| FieldChange { name: n.into(), label: n.into(), from: Some("a".into()), to: None };
        let e =
            entry(CHANGE, &[Change::Changed(Part { fields: vec![field("Email"), field("Phone")], ..Part::default() })]);
        assert_eq!(describe(&e), "Changed Email and Phone.");
        let e = entry(
            CHANGE,
            &[Change::Added(Part { name: Some("contact".into()), object: Some("Bo".into()), fields: vec![] })],
        );
        assert_eq!(describe(&e), "Added contact “Bo”.");
        assert_eq!(describe(&entry(ADDITION, &[])), "Added.");
        assert_eq!(changes(&entry(ADDITION, &[])).len(), 0);
        // A message that is not ours (hand-edited) is read as none, not a panic.
        let mut odd = entry(CHANGE, &[]);
        odd.change_message = "{not json".into();
        assert_eq!(describe(&odd), "No fields changed.");
    }
}
