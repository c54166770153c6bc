//! The auth app's tables, with Django's names: users, groups, permissions and the links
//! between them, plus the failed-login counter behind the login slow-down.

/// A person who can log in (table `auth_user`, Django's `User`).
pub mod user {
    use sea_orm::entity::prelude::*;
    use serde::{Deserialize, Serialize};

    /// One user.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
    #[sea_orm(table_name = "auth_user")]
    pub struct Model {
        /// Primary key.
        #[sea_orm(primary_key)]
        pub id: i32,
        /// The password hash (`argon2$…`, or `pbkdf2_sha256$…` carried over from Django);
        /// `!…` when the user has no usable password.
        #[serde(default)]
        pub password: String,
        /// When the user last logged in.
        pub last_login: Option<DateTimeUtc>,
        /// Has every permission without being given them.
        pub is_superuser: bool,
        /// The name they log in with, unique.
        #[sea_orm(unique, column_type = "String(StringLen::N(150))")]
        pub username: String,
        /// Given name.
        #[sea_orm(column_type = "String(StringLen::N(150))")]
        pub first_name: String,
        /// Family name.
        #[sea_orm(column_type = "String(StringLen::N(150))")]
        pub last_name: String,
        /// Email address.
        #[sea_orm(column_type = "String(StringLen::N(254))")]
        pub email: String,
        /// May use the admin.
        pub is_staff: bool,
        /// May log in at all (unset it rather than deleting the user).
        pub is_active: bool,
        /// When the account was made.
        pub date_joined: DateTimeUtc,
    }

    /// A user's group memberships and own permissions.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// A named set of permissions users can belong to (table `auth_group`).
pub mod group {
    use sea_orm::entity::prelude::*;
    use serde::{Deserialize, Serialize};

    /// One group.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
    #[sea_orm(table_name = "auth_group")]
    pub struct Model {
        /// Primary key.
        #[sea_orm(primary_key)]
        pub id: i32,
        /// The group's name, unique.
        #[sea_orm(unique, column_type = "String(StringLen::N(150))")]
        pub name: String,
    }

    /// Groups relate through the link tables.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// What may be done to a model (table `auth_permission`): `crm.add_company` is the row with
/// app label `crm` and codename `add_company`. `manage migrate` creates add, change, delete and
/// view for every registered model.
pub mod permission {
    use sea_orm::entity::prelude::*;
    use serde::{Deserialize, Serialize};

    /// One permission.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
    #[sea_orm(table_name = "auth_permission")]
    pub struct Model {
        /// Primary key.
        #[sea_orm(primary_key)]
        pub id: i32,
        /// The app of the model (`crm`).
        #[sea_orm(column_type = "String(StringLen::N(100))")]
        pub app_label: String,
        /// What may be done (`add_company`).
        #[sea_orm(column_type = "String(StringLen::N(100))")]
        pub codename: String,
        /// For people (`Can add company`).
        #[sea_orm(column_type = "String(StringLen::N(255))")]
        pub name: String,
    }

    /// Permissions relate through the link tables.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// A user's membership of a group (table `auth_user_groups`).
pub mod user_group {
    use sea_orm::entity::prelude::*;
    use serde::{Deserialize, Serialize};

    /// One membership.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
    #[sea_orm(table_name = "auth_user_groups")]
    pub struct Model {
        /// Primary key.
        #[sea_orm(primary_key)]
        pub id: i32,
        /// The user.
        pub user_id: i32,
        /// The group.
        pub group_id: i32,
    }

    /// The user and the group.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {
        /// The user.
        #[sea_orm(
            belongs_to = "super::user::Entity",
            from = "Column::UserId",
            to = "super::user::Column::Id",
            on_delete = "Cascade"
        )]
        User,
        /// The group.
        #[sea_orm(
            belongs_to = "super::group::Entity",
            from = "Column::GroupId",
            to = "super::group::Column::Id",
            on_delete = "Cascade"
        )]
        Group,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

/// A permission given to a group (table `auth_group_permissions`).
pub mod group_permission {
    use sea_orm::entity::prelude::*;
    use serde::{Deserialize, Serialize};

    /// One grant.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
    #[sea_orm(table_name = "auth_group_permissions")]
    pub struct Model {
        /// Primary key.
        #[sea_orm(primary_key)]
        pub id: i32,
        /// The group.
        pub group_id: i32,
        /// The permission.
        pub permission_id: i32,
    }

    /// The group and the permission.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {
        /// The group.
        #[sea_orm(
            belongs_to = "super::group::Entity",
            from = "Column::GroupId",
            to = "super::group::Column::Id",
            on_delete = "Cascade"
        )]
        Group,
        /// The permission.
        #[sea_orm(
            belongs_to = "super::permission::Entity",
            from = "Column::PermissionId",
            to = "super::permission::Column::Id",
            on_delete = "Cascade"
        )]
        Permission,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

/// A permission given to one user directly (table `auth_user_user_permissions`).
pub mod user_permission {
    use sea_orm::entity::prelude::*;
    use serde::{Deserialize, Serialize};

    /// One grant.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
    #[sea_orm(table_name = "auth_user_user_permissions")]
    pub struct Model {
        /// Primary key.
        #[sea_orm(primary_key)]
        pub id: i32,
        /// The user.
        pub user_id: i32,
        /// The permission.
        pub permission_id: i32,
    }

    /// The user and the permission.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {
        /// The user.
        #[sea_orm(
            belongs_to = "super::user::Entity",
            from = "Column::UserId",
            to = "super::user::Column::Id",
            on_delete = "Cascade"
        )]
        User,
        /// The permission.
        #[sea_orm(
            belongs_to = "super::permission::Entity",
            from = "Column::PermissionId",
            to = "super::permission::Column::Id",
            on_delete = "Cascade"
        )]
        Permission,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

/// Failed logins in a row for one username (table `auth_login_failure`), kept in the database
/// so every Lambda instance sees the same count.
pub mod login_failure {
    use sea_orm::entity::prelude::*;
    use serde::{Deserialize, Serialize};

    /// The count for one username.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
    #[sea_orm(table_name = "auth_login_failure")]
    pub struct Model {
        /// Primary key.
        #[sea_orm(primary_key)]
        pub id: i32,
        /// The username tried (whether or not such a user exists).
        #[sea_orm(unique, column_type = "String(StringLen::N(150))")]
        pub username: String,
        /// Failures since the last success.
        pub failures: i32,
        /// When the last one was.
        pub last_failure: DateTimeUtc,
    }

    /// Failures relate to nothing: the username may not exist.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
