"""URLs under ``/api/v1/``, all in the ``api`` namespace (``reverse("api:openapi-json")``).

Every answer from here is JSON, including 404 for unknown paths and 405 for wrong methods.
"""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, include, path, re_path

from siyu.api.api import api
from siyu.api.docs import docs_asset
from siyu.api.errors import json_errors, not_found_view


def _json_errors(patterns: list[URLPattern | URLResolver]) -> list[URLPattern | URLResolver]:
    for pattern in patterns:
        if isinstance(pattern, URLPattern):
            pattern.callback = json_errors(pattern.callback)
    return patterns


_ninja_patterns, _app, _namespace = api.urls
api_patterns = [
    path("docs/assets/<str:name>", docs_asset, name="docs-asset"),
    *_json_errors(_ninja_patterns),
    re_path(r"^.*$", not_found_view, name="not-found"),
]

urlpatterns = [path("", include((api_patterns, "api"), namespace=_namespace))]
