//! The example site's database migrations.
//!
//! This crate becomes a sea-orm-migration `Migrator` when the data layer lands (models,
//! `manage migrate`, `makemigrations`); until then the example CRM keeps its demo data in
//! `example_site/src/crm/models.rs` and this crate has no migrations.
