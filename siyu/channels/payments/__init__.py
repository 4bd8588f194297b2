"""Payment providers for member orders.

``get_payment_provider()`` returns the provider chosen by ``settings.SIYU_PAYMENT_PROVIDER``:
``pay_at_pickup`` (default: no online payment), ``wechatpay`` (WeChat Pay API v3, configured by
``settings.SIYU_WECHATPAY``) or ``sandbox`` (demo only; refused unless DEBUG/TESTING). See docs/payments.md.
"""

from __future__ import annotations

from django.conf import settings

from siyu.channels.payments.base import (
    InvalidNotification,
    InvalidResponseSignature,
    PaymentError,
    PaymentKind,
    PaymentNotConfigured,
    PaymentNotice,
    PaymentProvider,
    PaymentRequest,
    PaymentStatus,
    RefundNotice,
    RefundResult,
)
from siyu.channels.payments.pay_at_pickup import PayAtPickupProvider
from siyu.channels.payments.sandbox import SandboxPaymentProvider
from siyu.channels.payments.wechatpay import WechatPayProvider

__all__ = [
    "PROVIDERS",
    "InvalidNotification",
    "InvalidResponseSignature",
    "PaymentError",
    "PaymentKind",
    "PaymentNotConfigured",
    "PaymentNotice",
    "PaymentProvider",
    "PaymentRequest",
    "PaymentStatus",
    "RefundNotice",
    "RefundResult",
    "get_payment_provider",
]

PROVIDERS = ("pay_at_pickup", "wechatpay", "sandbox")


def get_payment_provider() -> PaymentProvider:
    """The configured provider, built from the current settings. Raises PaymentNotConfigured when the name
    is unknown, WeChat Pay credentials are missing, or ``sandbox`` is chosen outside DEBUG/TESTING."""
    name = (getattr(settings, "SIYU_PAYMENT_PROVIDER", "") or "pay_at_pickup").strip().lower()
    if name == "pay_at_pickup":
        return PayAtPickupProvider()
    if name == "wechatpay":
        return WechatPayProvider()
    if name == "sandbox":
        return SandboxPaymentProvider()
    raise PaymentNotConfigured(f"Unknown payment provider {name!r}; choose one of {', '.join(PROVIDERS)}.")
