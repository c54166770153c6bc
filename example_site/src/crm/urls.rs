//! The CRM's URLs (Django's `crm/urls.py`), reversed as `crm:<name>`.

use djambda::UrlConf;
use djambda::urls::{get, post};

use super::views;

/// The app's URL patterns.
pub fn urlpatterns() -> UrlConf {
    UrlConf::app("crm")
        .path("", get(views::dashboard), "dashboard")
        .path("companies/", views::company_list().as_view(), "company-list")
        .path("companies/<slug:slug>/", get(views::company_detail), "company-detail")
        .path("contacts/", get(views::contact_list), "contact-list")
        .path("contacts/export.csv", get(views::contact_export), "contact-export")
        .path("contacts/<int:pk>/", get(views::contact_detail), "contact-detail")
        .path("deals/", get(views::deal_list), "deal-list")
        .path("forecast/", get(views::forecast).post(views::forecast_submit), "forecast")
        .path("api/contacts/", get(views::api_contacts), "api-contacts")
        .path("api/contacts/<int:pk>/", get(views::api_contact), "api-contact")
        .path("api/contacts/import/", post(views::api_contact_import), "api-contact-import")
        .path("preferences/", get(views::preferences), "preferences")
}
