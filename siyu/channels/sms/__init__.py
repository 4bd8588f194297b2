"""SMS delivery of one-time sign-in codes.

``get_sms_sender()`` returns the sender chosen by ``settings.SIYU_SMS_PROVIDER``:
``tencent`` (Tencent Cloud SMS), ``aliyun`` (Aliyun dysmsapi) or ``console`` (debug only: the code is logged).
Configuration lives in ``settings.SIYU_SMS``; see docs/sign-in.md for the environment variables.
"""

from __future__ import annotations

from django.conf import settings

from siyu.channels.sms.aliyun import AliyunSmsSender
from siyu.channels.sms.base import SendResult, SmsNotConfigured, SmsSender
from siyu.channels.sms.console import ConsoleSmsSender
from siyu.channels.sms.tencent import TencentSmsSender

__all__ = ["PROVIDERS", "SendResult", "SmsNotConfigured", "SmsSender", "get_sms_sender"]

PROVIDERS = ("tencent", "aliyun", "console")


def get_sms_sender() -> SmsSender:
    """The configured sender, built from the current settings. Raises SmsNotConfigured when the provider
    is unknown or unset, credentials are missing, or ``console`` is chosen outside DEBUG/TESTING."""
    provider = (getattr(settings, "SIYU_SMS_PROVIDER", "") or "").strip().lower()
    if provider == "tencent":
        return TencentSmsSender()
    if provider == "aliyun":
        return AliyunSmsSender()
    if provider == "console":
        return ConsoleSmsSender()
    if not provider:
        raise SmsNotConfigured("No SMS provider: set SIYU_SMS_PROVIDER to 'tencent' or 'aliyun'.")
    raise SmsNotConfigured(f"Unknown SMS provider {provider!r}; choose one of {', '.join(PROVIDERS)}.")
