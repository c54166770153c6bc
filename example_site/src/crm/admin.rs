//! The CRM in the admin (Django's `crm/admin.py`): companies with their contacts and deals inline,
//! contacts searchable by their company's name, deals filtered by stage, company and close
//! date, notes by when they were written. The app contributes these to the admin app
//! (see `crm::app`).

use djambda::admin::{Fieldset, ModelAdmin, Registrations, StackedInline, TabularInline};
use djambda::db::sea_orm::{ActiveValue, ColumnTrait, EntityTrait, QueryFilter};
use djambda::messages;
use djambda::prelude::*;

use super::models::{Stage, company, contact, deal, note};

/// Every CRM model, with its admin options.
pub fn registrations() -> Registrations {
    Registrations::new().register(companies()).register(contacts()).register(deals()).register(notes())
}

/// Companies: searchable by name, industry and city, their contacts edited inline.
fn companies() -> ModelAdmin<company::Entity> {
    use company::Column as C;
    ModelAdmin::<company::Entity>::new()
        .list_display(["name", "industry", "city", "website"])
        .search_fields(["name", "industry", "city"])
        .search_help_text("Search by name, industry or city.")
        .ordering(["name"])
        .list_per_page(25)
        .fieldsets([
            Fieldset::new(None, ["name", "slug"]),
            Fieldset::new(Some("Details"), ["industry", "city", "website"]),
        ])
        .form(|form| {
            form.url(C::Website)
                .required(C::Website, false)
                .required(C::City, false)
                .required(C::Industry, false)
                .help_text(C::Slug, "Used in the company's address: lower-case letters, digits and hyphens.")
                .validator(C::Slug, |slug| {
                    if slug.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') && slug != "new"
                    {
                        Ok(())
                    } else {
                        Err("Enter a valid slug: lower-case letters, digits and hyphens only (not “new”).".into())
                    }
                })
        })
        .inline(
            TabularInline::of::<contact::Entity>("company_id")
                .fields(["first_name", "last_name", "title", "email", "phone"])
                .ordering(["last_name", "first_name"])
                .extra(1)
                .str(|c| format!("{} {}", c.first_name, c.last_name))
                .form(|form| {
                    form.email(contact::Column::Email)
                        .required(contact::Column::Title, false)
                        .required(contact::Column::Phone, false)
                }),
        )
        .inline(
            StackedInline::of::<deal::Entity>("company_id")
                .fields(["title", "stage", "amount", "expected_close"])
                .ordering(["expected_close"])
                .extra(0)
                .choices::<Stage>("stage")
                .form(|form| form.label(deal::Column::ExpectedClose, "Expected close date")),
        )
        .view_on_site(|req, c| req.reverse("crm:company-detail", &[&c.slug]))
}

/// Contacts: the company's name in the list and the search, a filter by company, the company
/// picked with a search box, and an action that tidies email addresses.
fn contacts() -> ModelAdmin<contact::Entity> {
    use contact::Column as C;
    ModelAdmin::<contact::Entity>::new()
        .display_ordered("full_name", "Name", "last_name", |c| format!("{} {}", c.first_name, c.last_name))
        .list_display(["full_name", "company__name", "title", "email", "phone"])
        .search_fields(["first_name", "last_name", "email", "company__name"])
        .search_help_text("Search by name, email or company.")
        .list_filter(["company_id"])
        .ordering(["last_name", "first_name"])
        .list_per_page(50)
        .autocomplete_fields(["company_id"])
        .fields(["first_name", "last_name", "company_id", "title", "email", "phone"])
        .str(|c| format!("{} {}", c.first_name, c.last_name))
        .form(|form| {
            form.label(C::CompanyId, "Company").email(C::Email).required(C::Title, false).required(C::Phone, false)
        })
        .action("lowercase_emails", "Lower-case the selected contacts' email addresses", "change", lowercase_emails)
        .view_on_site(|req, c| req.reverse("crm:contact-detail", &[&c.id]))
}

/// The "lower-case email addresses" action: one update per contact whose address changes,
/// all in one transaction.
async fn lowercase_emails(req: Request, rows: Vec<contact::Model>) -> Result<Option<Response>> {
    let db = req.db().await?;
    let changed: Vec<(i32, String)> =
        rows.iter().filter(|c| c.email != c.email.to_lowercase()).map(|c| (c.id, c.email.to_lowercase())).collect();
    let n = changed.len();
    djambda::db::atomic(&db, |txn| {
        Box::pin(async move {
            for (id, email) in changed {
                contact::Entity::update_many()
                    .col_expr(contact::Column::Email, djambda::db::sea_orm::sea_query::Expr::value(email))
                    .filter(contact::Column::Id.eq(id))
                    .exec(txn)
                    .await?;
            }
            Ok(())
        })
    })
    .await?;
    messages::success(&req, format!("{n} email address(es) were lower-cased."));
    Ok(None)
}

/// Deals: by stage, company and close date, with the date hierarchy on the close date.
fn deals() -> ModelAdmin<deal::Entity> {
    use deal::Column as C;
    ModelAdmin::<deal::Entity>::new()
        .list_display(["title", "company_id", "stage", "amount", "expected_close"])
        .list_filter(["stage", "company_id", "expected_close"])
        .date_hierarchy("expected_close")
        .search_fields(["title", "company__name"])
        .ordering(["expected_close"])
        .autocomplete_fields(["company_id"])
        .choices::<Stage>("stage")
        .form(|form| form.label(C::CompanyId, "Company").label(C::ExpectedClose, "Expected close date"))
        .action(
            "mark_won",
            "Mark the selected deals as won",
            "change",
            |req: Request, rows: Vec<deal::Model>| async move {
                let db = req.db().await?;
                let ids: Vec<i32> = rows.iter().map(|d| d.id).collect();
                let n = ids.len();
                djambda::db::atomic(&db, |txn| {
                    Box::pin(async move {
                        deal::Entity::update_many()
                            .col_expr(C::Stage, djambda::db::sea_orm::sea_query::Expr::value(Stage::Won))
                            .filter(C::Id.is_in(ids))
                            .exec(txn)
                            .await?;
                        Ok(())
                    })
                })
                .await?;
                messages::success(&req, format!("{n} deal(s) were marked as won."));
                Ok(None)
            },
        )
        .view_on_site(|req, d| req.reverse("crm:deal-detail", &[&d.id]))
}

/// Notes: by when they were written; their times are set on save, not typed.
fn notes() -> ModelAdmin<note::Entity> {
    ModelAdmin::<note::Entity>::new()
        .display("preview", "Note", |n| {
            let line = n.body.lines().next().unwrap_or("");
            if line.chars().count() > 60 {
                format!("{}…", line.chars().take(60).collect::<String>())
            } else {
                line.to_owned()
            }
        })
        .list_display(["preview", "contact_id", "deal_id", "created_at"])
        .list_filter(["created_at"])
        .date_hierarchy("created_at")
        .search_fields(["body", "contact__last_name", "deal__title"])
        .ordering(["-created_at"])
        .autocomplete_fields(["contact_id", "deal_id"])
        .readonly_fields(["created_at", "updated_at"])
        .fields(["body", "contact_id", "deal_id", "created_at", "updated_at"])
        .str(|n| n.body.chars().take(40).collect())
        .form(|form| {
            form.label(note::Column::ContactId, "About contact").label(note::Column::DealId, "About deal").clean(
                |data, errors| {
                    let empty = |name| data.get(name).is_none_or(|v| v.trim().is_empty());
                    if empty("contact_id") && empty("deal_id") {
                        errors.add(None, "Choose the contact or the deal this note is about.");
                    }
                },
            )
        })
        .before_save(|_req, row, adding| {
            let now = djambda::db::sea_orm::prelude::ChronoUtc::now();
            if adding {
                row.created_at = ActiveValue::Set(now);
            }
            row.updated_at = ActiveValue::Set(now);
        })
}
