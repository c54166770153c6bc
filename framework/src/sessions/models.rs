//! The session table of the `db` engine (Django's `django_session`).

/// One stored session (table `djambda_session`).
pub mod session {
    use sea_orm::entity::prelude::*;

    /// A session row: its key, its data as JSON, and when it stops being valid.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "djambda_session")]
    pub struct Model {
        /// The key the cookie carries.
        #[sea_orm(primary_key, auto_increment = false, column_type = "String(StringLen::N(40))")]
        pub session_key: String,
        /// The session's data, a JSON object.
        #[sea_orm(column_type = "Text")]
        pub session_data: String,
        /// When the session expires.
        #[sea_orm(indexed)]
        pub expire_date: DateTimeUtc,
    }

    /// Sessions relate to nothing.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
