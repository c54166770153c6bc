//! The root URL conf (Django's `ROOT_URLCONF`).

use djambda::UrlConf;

use crate::crm;

/// Every URL of the site; the CRM app lives at the root.
pub fn urlpatterns() -> UrlConf {
    UrlConf::new().include("", crm::urls::urlpatterns())
}
