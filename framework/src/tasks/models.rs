//! The task table (`djambda_task`): the database backend's queue, and the results of every
//! backend that keeps them.

/// One enqueued task (table `djambda_task`).
pub mod task {
    use sea_orm::entity::prelude::*;

    /// A task row: what to run, where it stands, and what its last attempt said.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "djambda_task")]
    pub struct Model {
        /// The task's id, as `enqueue` returned it (32 hex digits).
        #[sea_orm(primary_key, auto_increment = false, column_type = "String(StringLen::N(32))")]
        pub id: String,
        /// The name the task was declared with.
        #[sea_orm(column_type = "String(StringLen::N(200))")]
        pub task_name: String,
        /// The payload, as JSON.
        #[sea_orm(column_type = "Text")]
        pub payload: String,
        /// `queued`, `running`, `succeeded` or `failed`.
        #[sea_orm(column_type = "String(StringLen::N(16))")]
        pub status: String,
        /// Attempts started so far.
        pub attempts: i32,
        /// How many attempts the task gets before it counts as failed.
        pub max_attempts: i32,
        /// When a worker may run it (later than `enqueued_at` when a retry waits its backoff).
        pub run_after: DateTimeUtc,
        /// When it was enqueued.
        pub enqueued_at: DateTimeUtc,
        /// When its last attempt started.
        pub started_at: Option<DateTimeUtc>,
        /// When it succeeded or finally failed.
        pub finished_at: Option<DateTimeUtc>,
        /// While running: when another worker may take it over (its worker stopped).
        pub lease_expires_at: Option<DateTimeUtc>,
        /// While running: the token of the worker's claim, so that only it finishes the task.
        #[sea_orm(column_type = "String(StringLen::N(32))", nullable)]
        pub claim: Option<String>,
        /// The last attempt's error.
        #[sea_orm(column_type = "Text", nullable)]
        pub error: Option<String>,
    }

    /// Tasks relate to nothing.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
