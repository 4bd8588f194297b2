"""Webhook receivers (thin): WeCom callbacks and Telegram updates. The services decide everything."""

from __future__ import annotations

import json
import logging
from urllib.parse import unquote

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseForbidden
from django.shortcuts import get_object_or_404
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from siyu.channels.models import ChannelKind, Connector
from siyu.channels.services import telegram_updates, wecom_events
from siyu.channels.wecom_crypto import ERR_PARSE_XML, ERR_SIGNATURE, WeComCryptoError

logger = logging.getLogger("siyu.channels")


def _raw_query(request: HttpRequest) -> dict[str, str]:
    # WeCom's echostr is base64: a literal "+" must stay "+" (QueryDict would turn it into a space), so the
    # query string is decoded with unquote, as WeCom's own sample does.
    out: dict[str, str] = {}
    for part in request.META.get("QUERY_STRING", "").split("&"):
        key, _sep, value = part.partition("=")
        if key:
            out[unquote(key)] = unquote(value)
    return out


@csrf_exempt
@require_http_methods(["GET", "POST"])
def wecom_callback(request: HttpRequest, connector_id: int) -> HttpResponse:
    connector = get_object_or_404(Connector, pk=connector_id, kind=ChannelKind.WECOM, active=True)
    q = _raw_query(request)
    sig, ts, nonce = q.get("msg_signature", ""), q.get("timestamp", ""), q.get("nonce", "")
    try:
        if request.method == "GET":
            plain = wecom_events.verify_url(
                connector, msg_signature=sig, timestamp=ts, nonce=nonce, echostr=q.get("echostr", "")
            )
            return HttpResponse(plain, content_type="text/plain; charset=utf-8")
        row = wecom_events.receive_callback(
            connector, msg_signature=sig, timestamp=ts, nonce=nonce, body=request.body
        )
    except WeComCryptoError as exc:
        logger.warning("WeCom callback for connector %s refused: %s", connector.pk, exc)
        if exc.code == ERR_SIGNATURE:
            return HttpResponseForbidden("invalid signature", content_type="text/plain")
        if exc.code == ERR_PARSE_XML:
            return HttpResponseBadRequest("invalid XML", content_type="text/plain")
        return HttpResponseBadRequest("cannot decrypt", content_type="text/plain")
    if row is not None:
        wecom_events.process_event(row)
    return HttpResponse("success", content_type="text/plain; charset=utf-8")


@csrf_exempt
@require_http_methods(["POST"])
def telegram_webhook(request: HttpRequest, connector_id: int) -> HttpResponse:
    connector = get_object_or_404(Connector, pk=connector_id, kind=ChannelKind.TELEGRAM, active=True)
    if not telegram_updates.secret_ok(connector, request.headers.get("X-Telegram-Bot-Api-Secret-Token")):
        return HttpResponseForbidden("forbidden", content_type="text/plain")
    try:
        update = json.loads(request.body.decode("utf-8"))
        if not isinstance(update, dict):
            raise ValueError("not an object")
        row = telegram_updates.receive_update(connector, update)
    except (ValueError, UnicodeDecodeError):
        return HttpResponseBadRequest("invalid update", content_type="text/plain")
    if row is not None:
        telegram_updates.process_update(row)
    return HttpResponse("{}", content_type="application/json")
