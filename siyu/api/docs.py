"""Swagger UI assets for ``/api/v1/docs``, served from the copy inside the installed django-ninja
package so that nothing is fetched from a CDN."""

from __future__ import annotations

import mimetypes
from pathlib import Path

import ninja
from django.http import FileResponse, HttpRequest, HttpResponseBase
from django.views.decorators.http import require_safe

from siyu.api.errors import error_response

NINJA_STATIC = Path(ninja.__file__).resolve().parent / "static" / "ninja"
# A fixed list: the view never turns a request path into a file path.
DOCS_ASSETS = ("swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-init.js", "favicon.png")


@require_safe
def docs_asset(request: HttpRequest, name: str) -> HttpResponseBase:
    if name not in DOCS_ASSETS or not (NINJA_STATIC / name).is_file():
        return error_response(404, "not_found", "Not found.")
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    response = FileResponse((NINJA_STATIC / name).open("rb"), content_type=content_type)
    response["Cache-Control"] = "public, max-age=86400"
    return response
