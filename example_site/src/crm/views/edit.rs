//! The views that change records: create, edit and delete companies, contacts, deals and
//! notes, each behind its permission (`crm.add_company`, `crm.change_company`, …). They are
//! Django's generic editing views on the model forms of [`crate::crm::forms`].

use djambda::db::sea_orm::{ActiveModelTrait, ActiveValue, EntityTrait, QueryOrder, QuerySelect};
use djambda::db::{TxFuture, atomic};
use djambda::forms::{BoundForm, SELECT_LIMIT, Widget};
use djambda::prelude::*;
use djambda::routing::{MethodRouter, get};
use djambda::views::{CreateView, DeleteView, UpdateView};

use crate::crm::forms::{self, ContactImportForm};
use crate::crm::models::{company, contact, deal, note};

/// New company.
pub fn company_create() -> MethodRouter {
    CreateView::new("crm", forms::company_form())
        .success_url_with(|req, c| req.reverse("crm:company-detail", &[&c.slug]))
        .success_message(|c| format!("The company “{}” was added.", c.name))
        .as_view()
        .permission_required("crm.add_company")
}

/// Edit a company (found by its slug).
pub fn company_update() -> MethodRouter {
    UpdateView::new("crm", forms::company_form())
        .slug_field(company::Column::Slug)
        .success_url_with(|req, c| req.reverse("crm:company-detail", &[&c.slug]))
        .success_message(|c| format!("The company “{}” was changed.", c.name))
        .as_view()
        .permission_required("crm.change_company")
}

/// Delete a company, with its contacts, deals and their notes.
pub fn company_delete() -> MethodRouter {
    DeleteView::<company::Entity>::new("crm")
        .slug_field(company::Column::Slug)
        .success_url("crm:company-list")
        .success_message(|c| format!("The company “{}” was deleted.", c.name))
        .as_view()
        .permission_required("crm.delete_company")
}

/// New contact (`?company_id=3` picks the company).
pub fn contact_create() -> MethodRouter {
    CreateView::new("crm", forms::contact_form())
        .success_url_with(|req, c| req.reverse("crm:contact-detail", &[&c.id]))
        .success_message(|c| format!("The contact “{} {}” was added.", c.first_name, c.last_name))
        .as_view()
        .permission_required("crm.add_contact")
}

/// Edit a contact.
pub fn contact_update() -> MethodRouter {
    UpdateView::new("crm", forms::contact_form())
        .success_url_with(|req, c| req.reverse("crm:contact-detail", &[&c.id]))
        .success_message(|c| format!("The contact “{} {}” was changed.", c.first_name, c.last_name))
        .as_view()
        .permission_required("crm.change_contact")
}

/// Delete a contact and the notes about them.
pub fn contact_delete() -> MethodRouter {
    DeleteView::<contact::Entity>::new("crm")
        .success_url("crm:contact-list")
        .success_message(|c| format!("The contact “{} {}” was deleted.", c.first_name, c.last_name))
        .as_view()
        .permission_required("crm.delete_contact")
}

/// New deal (`?company_id=3` picks the company).
pub fn deal_create() -> MethodRouter {
    CreateView::new("crm", forms::deal_form())
        .success_url_with(|req, d| req.reverse("crm:deal-detail", &[&d.id]))
        .success_message(|d| format!("The deal “{}” was added.", d.title))
        .as_view()
        .permission_required("crm.add_deal")
}

/// Edit a deal.
pub fn deal_update() -> MethodRouter {
    UpdateView::new("crm", forms::deal_form())
        .success_url_with(|req, d| req.reverse("crm:deal-detail", &[&d.id]))
        .success_message(|d| format!("The deal “{}” was changed.", d.title))
        .as_view()
        .permission_required("crm.change_deal")
}

/// Delete a deal and its notes.
pub fn deal_delete() -> MethodRouter {
    DeleteView::<deal::Entity>::new("crm")
        .success_url("crm:deal-list")
        .success_message(|d| format!("The deal “{}” was deleted.", d.title))
        .as_view()
        .permission_required("crm.delete_deal")
}

/// Where a note's pages lead back to: the contact or deal it is about.
fn note_owner(req: &Request, n: &note::Model) -> Result<String> {
    match (n.contact_id, n.deal_id) {
        (Some(contact), _) => req.reverse("crm:contact-detail", &[&contact]),
        (None, Some(deal)) => req.reverse("crm:deal-detail", &[&deal]),
        (None, None) => req.reverse("crm:dashboard", &[]),
    }
}

/// New note (`?contact_id=3` or `?deal_id=7` says what about).
pub fn note_create() -> MethodRouter {
    CreateView::new("crm", forms::note_form())
        .before_save(|_req, n| {
            let now = djambda::db::sea_orm::prelude::ChronoUtc::now();
            n.created_at = djambda::db::sea_orm::ActiveValue::Set(now);
            n.updated_at = djambda::db::sea_orm::ActiveValue::Set(now);
        })
        .success_url_with(note_owner)
        .success_message(|_| "The note was added.".to_owned())
        .as_view()
        .permission_required("crm.add_note")
}

/// Edit a note.
pub fn note_update() -> MethodRouter {
    UpdateView::new("crm", forms::note_form())
        .before_save(|_req, n| {
            n.updated_at = djambda::db::sea_orm::ActiveValue::Set(djambda::db::sea_orm::prelude::ChronoUtc::now())
        })
        .success_url_with(note_owner)
        .success_message(|_| "The note was changed.".to_owned())
        .as_view()
        .permission_required("crm.change_note")
}

/// Delete a note.
pub fn note_delete() -> MethodRouter {
    DeleteView::<note::Entity>::new("crm")
        .success_url_with(note_owner)
        .success_message(|_| "The note was deleted.".to_owned())
        .as_view()
        .permission_required("crm.delete_note")
}

/// Contacts from a CSV file (a multipart upload): every line checked first, then all of them
/// written in one transaction, or none and the lines that are wrong.
pub fn contact_import() -> MethodRouter {
    get(import_contacts).post(import_contacts).permission_required("crm.add_contact")
}

/// The company select of the import form: every company while they fit in a select, else an
/// id input (as model forms do past their select limit), so the page stays small.
fn company_choices(form: &mut BoundForm<ContactImportForm>, companies: &[company::Model]) {
    if companies.len() as u64 > SELECT_LIMIT {
        if let Some(field) = form.field_mut("company_id") {
            field.widget = Widget::Text;
            field.help_text = "Enter the company's id: there are too many to list.".into();
        }
    } else {
        form.set_choices("company_id", companies.iter().map(|c| (c.id.to_string(), c.name.clone())).collect());
    }
}

async fn import_contacts(req: Request) -> Result<Response> {
    let db = req.db().await?;
    let companies =
        company::Entity::find().order_by_asc(company::Column::Name).limit(SELECT_LIMIT + 1).all(&db).await?;
    let show = |form: BoundForm<ContactImportForm>| render(&req, "crm/contact_import.html", context! { form });
    if req.method() != djambda::http::Method::POST {
        let mut form = ContactImportForm::unbound();
        company_choices(&mut form, &companies);
        return show(form);
    }
    let mut form = ContactImportForm::bind(&req)?;
    company_choices(&mut form, &companies);
    let Some((company_id, bytes)) = form.cleaned_data().map(|f| (f.company_id, f.file.read())) else {
        return show(form);
    };
    let Some(company) = company::Entity::find_by_id(company_id).one(&db).await? else {
        form.add_error(Some("company_id"), format!("Select a valid choice. No company has the id {company_id}."));
        return show(form);
    };
    let (rows, errors) = super::parse_contacts_csv(&bytes?);
    if !errors.is_empty() || rows.is_empty() {
        if rows.is_empty() && errors.is_empty() {
            form.add_error(Some("file"), "The file has no contacts in it.");
        }
        for e in errors.iter().take(5) {
            form.add_error(Some("file"), format!("Line {}: {}.", e.line, e.message));
        }
        return show(form);
    }
    let count = rows.len();
    atomic(&db, |txn| -> TxFuture<'_, ()> {
        Box::pin(async move {
            for row in rows {
                contact::ActiveModel {
                    company_id: ActiveValue::Set(company_id),
                    first_name: ActiveValue::Set(row.first_name),
                    last_name: ActiveValue::Set(row.last_name),
                    title: ActiveValue::Set(String::new()),
                    email: ActiveValue::Set(row.email),
                    phone: ActiveValue::Set(String::new()),
                    ..Default::default()
                }
                .insert(txn)
                .await?;
            }
            Ok(())
        })
    })
    .await?;
    djambda::messages::success(&req, format!("Imported {count} contact(s)."));
    redirect_to(&req, "crm:company-detail", &[&company.slug])
}
