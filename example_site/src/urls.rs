//! The root URL conf (Django's `ROOT_URLCONF`).

use djambda::UrlConf;

use crate::crm;

/// Every URL of the site: login and logout under `accounts/`, the CRM app at the root.
pub fn urlpatterns() -> UrlConf {
    UrlConf::new().include("accounts/", djambda::auth::urls()).include("", crm::urls::urlpatterns())
}
