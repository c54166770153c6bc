"""The Lambda handler: Django's WSGI application behind apig-wsgi, as a Django site on Lambda
is usually deployed (Zappa-style, without Zappa)."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fortunes_site.settings")

from apig_wsgi import make_lambda_handler  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402

handler = make_lambda_handler(get_wsgi_application())
