//! The CRM app: companies, contacts and deals.

pub mod commands;
pub mod forms;
pub mod models;
pub mod tasks;
pub mod urls;
pub mod views;

use djambda::App;

/// The app as installed in the site: its static files (`crm/…`) and fixtures (`demo`).
pub fn app() -> App {
    App::new("crm").static_files(djambda::assets!("src/crm/static")).fixtures(djambda::assets!("src/crm/fixtures"))
}
