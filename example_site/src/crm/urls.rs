//! The CRM's URLs (Django's `crm/urls.py`), reversed as `crm:<name>`.

use djambda::UrlConf;
use djambda::routing::{get, post};

use super::views;
use super::views::edit;

/// The app's URL patterns. Everything needs a logged-in user (the site's
/// `LoginRequiredMiddleware`); changing records needs the model's permission as well.
pub fn urlpatterns() -> UrlConf {
    UrlConf::app("crm")
        .path("", get(views::dashboard), "dashboard")
        .path("companies/", views::company_list().as_view(), "company-list")
        .path("companies/new/", edit::company_create(), "company-create")
        .path("companies/<slug:slug>/", get(views::company_detail), "company-detail")
        .path("companies/<slug:slug>/edit/", edit::company_update(), "company-update")
        .path("companies/<slug:slug>/delete/", edit::company_delete(), "company-delete")
        .path(
            "companies/<slug:slug>/recalculate/",
            post(views::company_recalculate).permission_required("crm.add_note"),
            "company-recalculate",
        )
        .path("contacts/", get(views::contact_list), "contact-list")
        .path("contacts/new/", edit::contact_create(), "contact-create")
        .path("contacts/export.csv", get(views::contact_export), "contact-export")
        .path("contacts/import/", edit::contact_import(), "contact-import")
        .path("contacts/<int:pk>/", get(views::contact_detail), "contact-detail")
        .path("contacts/<int:pk>/edit/", edit::contact_update(), "contact-update")
        .path("contacts/<int:pk>/delete/", edit::contact_delete(), "contact-delete")
        .path("deals/", get(views::deal_list), "deal-list")
        .path("deals/new/", edit::deal_create(), "deal-create")
        .path("deals/<int:pk>/", get(views::deal_detail), "deal-detail")
        .path("deals/<int:pk>/edit/", edit::deal_update(), "deal-update")
        .path("deals/<int:pk>/delete/", edit::deal_delete(), "deal-delete")
        .path("notes/new/", edit::note_create(), "note-create")
        .path("notes/<int:pk>/edit/", edit::note_update(), "note-update")
        .path("notes/<int:pk>/delete/", edit::note_delete(), "note-delete")
        .path("forecast/", get(views::forecast).post(views::forecast_submit), "forecast")
        .path("api/contacts/", get(views::api_contacts), "api-contacts")
        .path("api/contacts/<int:pk>/", get(views::api_contact), "api-contact")
        .path("api/contacts/import/", post(views::api_contact_import), "api-contact-import")
        .path("preferences/", get(views::preferences), "preferences")
}
