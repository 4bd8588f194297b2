"""The flash-sale purchase endpoints: buy, reservation status, sale status.

Transport, not a service: the admission rules are ``siyu.campaigns.services.flash_admission``.

``POST /h5/flash/<campaign>/buy/`` is the hottest path in Siyu: thousands of members press "buy" in the
same second. It is served twice over from one function, ``handle_buy``:

- by ``fast_path`` — a thin WSGI layer in front of Django (``siyu.wsgi``) that answers this one URL without
  the middleware stack, session lookup or URL resolution. The member is identified by the signed ticket
  the sale page embedded (``siyu.campaigns.tickets``; one HMAC, no storage), admission is one Redis Lua call
  (or one conditional UPDATE on the database backend), and orders are written behind (``flash_writer``);
- by ``buy_view`` — the same function as an ordinary Django view, for ``runserver`` and the test client.

The ticket travels in a custom header (``X-Siyu-Ticket``) that a cross-site form cannot send, which is
also this endpoint's CSRF protection. Errors are JSON ``{"code", "message", "field"}`` with a 4xx status.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable
from http.cookies import SimpleCookie
from typing import Any

from django.conf import settings
from django.db import close_old_connections
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from siyu.campaigns import tickets
from siyu.campaigns.services import flash_admission
from siyu.common.errors import NotAuthenticated, NotFound, ServiceError, ValidationFailed
from siyu.common.validators import MAX_DB_ID, MAX_KEY_LENGTH, clean_idempotency_key, clean_int
from siyu.members.services import signin

logger = logging.getLogger("siyu.h5.flash_buy")

MAX_BODY = 1024

BUY_PATH = re.compile(r"^/h5/flash/([1-9][0-9]{0,17})/buy/$")

Payload = dict[str, Any]


def _order_url(order_id: int | None) -> str | None:
    return reverse("h5:order", args=[order_id]) if order_id else None


def handle_buy(campaign_id: int, ticket: str | None, body: bytes) -> tuple[int, Payload]:
    """Admit one purchase attempt; returns (HTTP status, JSON payload). Never raises for bad input."""
    try:
        claims = tickets.read_ticket(ticket, campaign_id)
        if claims is None:
            raise NotAuthenticated(_("Open the sale page again to buy."), field="ticket")
        if len(body) > MAX_BODY:
            raise ValidationFailed(_("The request is too large."), field="body")
        try:
            data = json.loads(body or b"null")
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise ValidationFailed(_("Send a JSON object."), field="body")
        key = clean_idempotency_key(data.get("key"), "key")
        assert key is not None
        admission = flash_admission.admit(
            campaign_id,
            item_id=clean_int(data.get("item"), "item", 1, MAX_DB_ID, _("Give a whole number.")),
            member_id=claims.member_id,
            store_id=clean_int(data.get("store"), "store", 1, MAX_DB_ID, _("Give a whole number.")),
            quantity=clean_int(data.get("quantity"), "quantity", 1, MAX_DB_ID, _("Give a whole number.")),
            key=key,
            ticket_checked=True,
        )
    except ServiceError as exc:
        return exc.status, exc.as_dict()
    return 200, {
        "status": "reserved",
        "key": admission.key,
        "item": admission.item_id,
        "quantity": admission.quantity,
        "remaining": admission.remaining,
        "order_id": admission.order_id,
        "order_url": _order_url(admission.order_id),
    }


def _json(status: int, payload: Payload) -> HttpResponse:
    return JsonResponse(payload, status=status, json_dumps_params={"ensure_ascii": False})


@csrf_exempt  # the X-Siyu-Ticket header is the CSRF protection (see module docstring)
@never_cache
@require_POST
def buy_view(request: HttpRequest, campaign_id: int) -> HttpResponse:
    status, payload = handle_buy(campaign_id, request.META.get(tickets.HEADER), request.body[: MAX_BODY + 1])
    return _json(status, payload)


@never_cache
@require_GET
def reservation_view(request: HttpRequest, campaign_id: int, key: str) -> HttpResponse:
    """Whether the member's admitted purchase ``key`` has its order yet (the page polls this)."""
    member = signin.member_from_session(request)
    if member is None:
        return _json(401, NotAuthenticated(_("Sign in first."), field="member").as_dict())
    if len(key) > MAX_KEY_LENGTH:
        return _json(404, NotFound(_("No such purchase."), field="key").as_dict())
    order_id = flash_admission.written_order_id(campaign_id, member.pk, key)
    if order_id is None:
        return _json(200, {"status": "pending"})
    return _json(200, {"status": "written", "order_id": order_id, "order_url": _order_url(order_id)})


@never_cache
@require_GET
def status_view(request: HttpRequest, campaign_id: int) -> HttpResponse:
    try:
        return _json(200, flash_admission.sale_status(campaign_id))
    except ServiceError as exc:
        return _json(exc.status, exc.as_dict())


# --- the WSGI fast path ----------------------------------------------------------------------------

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def _language(environ: dict[str, Any]) -> str:
    raw = environ.get("HTTP_COOKIE", "")
    if settings.LANGUAGE_COOKIE_NAME in raw:
        morsel = SimpleCookie(raw).get(settings.LANGUAGE_COOKIE_NAME)
        if morsel is not None and translation.check_for_language(morsel.value):
            return translation.get_supported_language_variant(morsel.value)
    return settings.LANGUAGE_CODE


def fast_path(django_app: WSGIApp) -> WSGIApp:
    """Wrap the Django WSGI app: answer ``POST /h5/flash/<id>/buy/`` directly, pass everything else on."""

    def application(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        match = BUY_PATH.match(environ.get("PATH_INFO", ""))
        if match is None or environ.get("REQUEST_METHOD") != "POST":
            return django_app(environ, start_response)
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        body = environ["wsgi.input"].read(min(max(length, 0), MAX_BODY + 1))
        try:
            with translation.override(_language(environ)):
                status, payload = handle_buy(int(match.group(1)), environ.get(tickets.HEADER), body)
        except Exception:
            logger.exception("flash-sale purchase failed")
            status, payload = 500, {"code": "server_error", "message": "Server error", "field": None}
        finally:
            # What Django's request_finished does: give back database connections past their age.
            close_old_connections()
        out = json.dumps(payload, ensure_ascii=False).encode()
        reason = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 409: "Conflict"}
        start_response(
            f"{status} {reason.get(status, 'Error')}",
            [
                ("Content-Type", "application/json"),
                ("Content-Length", str(len(out))),
                ("Cache-Control", "no-store"),
                ("X-Content-Type-Options", "nosniff"),
            ],
        )
        return [out]

    return application
