"""The TechEmpower fortunes test as a minimal Django site: what djambda's Lambda door is
compared against (Django behind apig-wsgi, run by awslambdaric), reading the same SQLite file."""

import os
from urllib.parse import urlparse

BASE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SECRET_KEY = os.environ.get("SECRET_KEY", "bench-only-django-secret-key-not-for-production-0123456789")
DEBUG = False
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS = ["fortunes_site"]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
]
ROOT_URLCONF = "fortunes_site.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [os.path.join(BASE_DIR, "templates")],
        "APP_DIRS": False,
        "OPTIONS": {},
    }
]

# The benchmark passes DATABASE_URL as djambda reads it: sqlite:///path/to/file?mode=rwc.
_url = urlparse(os.environ.get("DATABASE_URL", "sqlite:///tmp/fortunes.sqlite3"))
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": _url.path}}
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
