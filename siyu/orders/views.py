"""Payment notification receivers, mounted under ``/hooks/pay/``."""

from __future__ import annotations

import logging

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from siyu.channels.payments import InvalidNotification, PaymentNotConfigured
from siyu.channels.payments.wechatpay import notification_reply
from siyu.common.errors import ServiceError
from siyu.orders.services.payments import handle_payment_notification

logger = logging.getLogger("siyu.orders")


@csrf_exempt
@require_http_methods(["POST"])
def wechat_notification(request: HttpRequest) -> HttpResponse:
    """WeChat Pay's payment notification: 204 once applied (or already applied); 4xx/5xx so it retries."""
    error: InvalidNotification | None = None
    try:
        handle_payment_notification(dict(request.headers), request.body)
    except InvalidNotification as exc:
        error = exc
    except PaymentNotConfigured:
        error = InvalidNotification("payments are not configured", code="unverifiable")
    except ServiceError as exc:
        logger.warning("payment notification refused: %s", exc.message)
        error = InvalidNotification(str(exc.message), code=exc.code)
    status, body = notification_reply(error)
    return HttpResponse(body, status=status, content_type="application/json" if body else None)
