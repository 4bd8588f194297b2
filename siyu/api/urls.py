"""URLs under ``/api/v1/``, all in the ``api`` namespace (``reverse("api:openapi-json")``).

Every answer from here is JSON — 404 for unknown paths, 405 for wrong methods, CSRF refusals as 403 — except
the pages a browser reads (``GET docs`` and its assets).
"""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, include, path, re_path
from django.views.decorators.http import require_safe

from siyu.api.api import api
from siyu.api.docs import docs_asset
from siyu.api.errors import json_errors, not_found_view

# The HTML pages under /api/v1 (Swagger UI and the OpenAPI document): GET and HEAD only, other methods 405.
_DOCS_VIEWS = {"openapi-json", "openapi-view"}


def _json_errors(patterns: list[URLPattern | URLResolver]) -> list[URLPattern | URLResolver]:
    for pattern in patterns:
        if isinstance(pattern, URLPattern):
            callback = pattern.callback
            if pattern.name in _DOCS_VIEWS:
                callback = require_safe(callback)
            pattern.callback = json_errors(callback)
    return patterns


_ninja_patterns, _app, _namespace = api.urls
api_patterns = [
    *_json_errors([path("docs/assets/<str:name>", docs_asset, name="docs-asset"), *_ninja_patterns]),
    re_path(r"^.*$", not_found_view, name="not-found"),
]

urlpatterns = [path("", include((api_patterns, "api"), namespace=_namespace))]
