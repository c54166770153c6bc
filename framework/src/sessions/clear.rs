//! `manage clearsessions` (Django's): deletes expired sessions from the database engine's table.

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use super::models::session;
use crate::conf::SessionEngine;
use crate::site::commands::SiteCommand;

/// The command, as the sessions app brings it.
pub(super) fn command() -> SiteCommand {
    let cli = clap::Command::new("clearsessions")
        .about("Deletes expired sessions from the database (SESSION_ENGINE = \"db\").");
    SiteCommand::new(cli, |site, _args| {
        Box::pin(async move {
            if site.settings().sessions.engine != SessionEngine::Database {
                println!("Nothing to clear: with SESSION_ENGINE other than \"db\", sessions expire by themselves.");
                return Ok(());
            }
            let db = site.database().connection().await?;
            let gone = session::Entity::delete_many()
                .filter(session::Column::ExpireDate.lte(chrono::Utc::now()))
                .exec(&db)
                .await?;
            println!("Deleted {} expired session(s).", gone.rows_affected);
            Ok(())
        })
    })
}
