"""WSGI entry point: Django, with the flash-sale purchase URL answered by a thin fast path in front of it
(``siyu.h5.flash_buy.fast_path``; see docs/flash-sales.md)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "siyu.settings")
_django = get_wsgi_application()

from siyu.h5.flash_buy import fast_path  # noqa: E402 -- needs the apps loaded above

application = fast_path(_django)
