"""Every API error as JSON ``{"code", "message", "field"}``.

Service errors keep their own status and code. Requests that do not match the documented shape
(wrong types, missing or unknown fields, out-of-range numbers, ``limit`` over 200) are **400**
with code ``invalid`` — the same status and code a service uses for a value it refuses — so a
client handles one kind of "fix your input" answer. ``field`` then names the first offending
input: a body field path joined by ``.`` (``rule.age_band``, ``store_ids.0``), a query or path
parameter name, or a header name.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.core.exceptions import RequestDataTooBig, SuspiciousOperation, TooManyFieldsSent
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, AuthorizationError, HttpError, Throttled, ValidationError

from siyu.common.errors import ServiceError

logger = logging.getLogger("siyu.api")

# Where ninja says an input came from; dropped from ``field`` because the name alone is unambiguous.
_SOURCES = {"body", "query", "path", "header", "cookie", "form", "file"}
# Every JSON body parameter in the routers is called ``payload``; clients never see that name.
BODY_PARAM = "payload"


class UnsupportedMediaType(ServiceError):
    status = 415
    code = "unsupported_media_type"


class PayloadTooLarge(ServiceError):
    status = 413
    code = "too_large"


class MalformedJson(ServiceError):
    status = 400
    code = "malformed_json"


def error_body(code: str, message: str, field: str | None = None) -> dict[str, str | None]:
    return {"code": code, "message": message, "field": field}


def error_response(status: int, code: str, message: str, field: str | None = None) -> JsonResponse:
    return JsonResponse(error_body(code, message, field), status=status)


def _field_from_loc(loc: Any) -> str | None:
    parts = [str(p) for p in (loc or ())]
    if parts and parts[0] in _SOURCES:
        source = parts.pop(0)
        if source == "body" and parts and parts[0] == BODY_PARAM:
            parts.pop(0)
    return ".".join(parts) or None


def _validation_message(error: dict[str, Any]) -> str:
    kind = error.get("type", "")
    if kind == "missing":
        return _("This field is required.")
    if kind == "extra_forbidden":
        return _("Unknown field.")
    if kind in ("model_attributes_type", "dict_type", "model_type"):
        return _("Expected a JSON object.")
    # pydantic's own wording is English and specific ("Input should be less than or equal to 200").
    return str(error.get("msg") or _("Invalid value."))


# ninja types a handler's ``exc`` as "the exception or its class"; it always passes an instance.


def _service_error(request: HttpRequest, exc: Any) -> HttpResponse:
    return JsonResponse(exc.as_dict(), status=exc.status)


def _validation_error(request: HttpRequest, exc: Any) -> HttpResponse:
    first = exc.errors[0] if exc.errors else {}
    return error_response(400, "invalid", _validation_message(first), _field_from_loc(first.get("loc")))


def _http_error(request: HttpRequest, exc: Any) -> HttpResponse:
    cause = exc.__cause__
    if isinstance(cause, ServiceError):
        # Raised by our parser inside ninja's body reader, which wraps everything as "cannot parse".
        return _service_error(request, cause)
    if isinstance(exc, AuthenticationError):
        return error_response(401, "not_authenticated", _("Sign in or send a valid API token."))
    if isinstance(exc, AuthorizationError):
        return error_response(403, "forbidden", _("Your role does not allow this."))
    if isinstance(exc, Throttled):
        return error_response(429, "rate_limited", _("Too many requests. Try again later."))
    if exc.status_code == 400:
        return error_response(400, "malformed_json", _("The request body is not valid JSON."))
    if exc.status_code == 403:
        return error_response(403, "forbidden", str(exc.message))
    return error_response(exc.status_code, "error", str(exc.message))


def _not_found(request: HttpRequest, exc: Any) -> HttpResponse:
    return error_response(404, "not_found", _("Not found."))


def _too_big(request: HttpRequest, exc: Any) -> HttpResponse:
    return error_response(413, "too_large", _("The request is too large."))


def _bad_request(request: HttpRequest, exc: Any) -> HttpResponse:
    return error_response(400, "bad_request", _("The request could not be read."))


def _unexpected(request: HttpRequest, exc: Any) -> HttpResponse:
    # A bug, not bad input: log it with the traceback, but still answer in the API's format.
    logger.exception("Unhandled API error on %s %s", request.method, request.path, exc_info=exc)
    return error_response(500, "server_error", _("Something went wrong on our side."))


def install_error_handlers(api: NinjaAPI) -> None:
    """Make every exception an API handler can meet answer as ``{"code", "message", "field"}``."""
    api.add_exception_handler(ServiceError, _service_error)
    api.add_exception_handler(ValidationError, _validation_error)
    api.add_exception_handler(HttpError, _http_error)
    api.add_exception_handler(Http404, _not_found)
    api.add_exception_handler(RequestDataTooBig, _too_big)
    api.add_exception_handler(TooManyFieldsSent, _bad_request)
    api.add_exception_handler(SuspiciousOperation, _bad_request)
    api.add_exception_handler(MultiPartParserError, _bad_request)
    api.add_exception_handler(Exception, _unexpected)


def json_errors(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Wrap a URL view so the answers ninja gives outside its handlers (405, the API root's 404)
    are JSON too.

    The wrapped view is exempt from Django's CSRF middleware, whose refusal is an HTML page: ninja checks
    CSRF itself for session-cookie callers (a JSON 403) and bearer tokens need none; the views that are
    not ninja operations (unknown paths, the docs) change nothing."""

    @csrf_exempt
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            response = view(request, *args, **kwargs)
        except Http404:
            return error_response(404, "not_found", _("Not found."))
        if response.status_code == 405 and not response.get("Content-Type", "").startswith(
            "application/json"
        ):
            allowed = response.get("Allow", "")
            response = error_response(405, "method_not_allowed", _("This method is not allowed here."))
            if allowed:
                response["Allow"] = allowed
        return response

    return wrapper


@csrf_exempt
def not_found_view(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    """Any path under the API that matches no endpoint, whatever the method (JSON 404, never Django's
    HTML CSRF page: a POST to a path that does not exist has nothing to protect)."""
    return error_response(404, "not_found", _("No such API endpoint."))
