"""Debug-only delivery: the code goes to the server log (logger ``siyu.sms``), never to a phone."""

from __future__ import annotations

import logging
import threading
import uuid
from collections import OrderedDict

from django.conf import settings

from siyu.channels.sms.base import SendResult, SmsNotConfigured, SmsSender
from siyu.common.mobile import mask_mobile

logger = logging.getLogger("siyu.sms")

_MAX_KEPT = 200
_lock = threading.Lock()
# mobile -> last code, newest last; only this process sees it (demo and tests run in one process).
_last_codes: OrderedDict[str, str] = OrderedDict()


def _check_allowed() -> None:
    if not (settings.DEBUG or getattr(settings, "TESTING", False)):
        raise SmsNotConfigured(
            "The console SMS provider only works with SIYU_DEBUG=1 (or in tests): it writes codes to the "
            "server log instead of sending them. Set SIYU_SMS_PROVIDER to 'tencent' or 'aliyun'."
        )


class ConsoleSmsSender(SmsSender):
    """Writes the code to the log and remembers it in-process; refuses to exist outside DEBUG/TESTING."""

    provider = "console"

    def __init__(self) -> None:
        _check_allowed()

    def send_code(self, mobile: str, code: str) -> SendResult:
        _check_allowed()  # settings may have changed since construction
        with _lock:
            _last_codes.pop(mobile, None)
            _last_codes[mobile] = code
            while len(_last_codes) > _MAX_KEPT:
                _last_codes.popitem(last=False)
        logger.info("Sign-in code for %s: %s (console SMS provider, debug only)", mask_mobile(mobile), code)
        return SendResult(ok=True, provider=self.provider, message_id=f"console-{uuid.uuid4().hex[:12]}")


def last_code(mobile: str) -> str | None:
    """The last code 'sent' to ``mobile`` by the console provider in this process, if any."""
    with _lock:
        return _last_codes.get(mobile)


def clear_codes() -> None:
    """Forget every remembered code (tests)."""
    with _lock:
        _last_codes.clear()
