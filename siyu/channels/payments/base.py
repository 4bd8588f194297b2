"""The payment provider interface the order services call, and the values it returns.

Providers never touch the database: order services own persistence and idempotency (WeChat Pay
delivers notifications more than once, so callers must apply each one once, keyed by ``out_trade_no``
and the trade state / ``out_refund_no``).
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from django.core.exceptions import ImproperlyConfigured

PaymentKind = Literal["jsapi", "h5"]

# WeChat Pay trade states (spec "Query"); the other providers use the same vocabulary.
TRADE_STATES = ("SUCCESS", "REFUND", "NOTPAY", "CLOSED", "REVOKED", "USERPAYING", "PAYERROR", "ACCEPT")
REFUND_STATUSES = ("SUCCESS", "CLOSED", "PROCESSING", "ABNORMAL")


class PaymentNotConfigured(ImproperlyConfigured):
    """The chosen provider cannot work with the current settings (unknown name, missing credentials,
    or the sandbox outside DEBUG/TESTING)."""


class PaymentError(Exception):
    """A payment call failed. ``retryable`` is True when trying the same call again later may succeed
    (network trouble, provider 5xx / rate limit); False when the request itself was refused."""

    def __init__(self, message: str, *, retryable: bool, code: str = "", status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.code = code
        self.status = status

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, code={self.code!r}, retryable={self.retryable})"


class InvalidNotification(PaymentError):
    """A notification that must not be trusted: bad or missing signature, stale timestamp, unknown key
    serial, malformed body or a resource that does not decrypt. Answer it with 4xx and change nothing."""

    def __init__(self, message: str, *, code: str = "invalid_notification") -> None:
        super().__init__(message, retryable=False, code=code)


class InvalidResponseSignature(PaymentError):
    """A provider response whose signature does not verify: its content must not be used."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=False, code="bad_response_signature")


@dataclass(frozen=True)
class PaymentRequest:
    """What the member's H5 page needs to start paying.

    - ``kind="jsapi"``: pass ``jsapi_params`` (appId, timeStamp, nonceStr, package, signType, paySign)
      unchanged to ``WeixinJSBridge.invoke('getBrandWCPayRequest', …)`` / ``wx.chooseWXPay``.
    - ``kind="h5"``: redirect the browser to ``h5_url`` (WeChat's cashier, or the sandbox's fake page).
    - ``kind="pay_at_pickup"``: nothing to do online; ``requires_online_payment`` is False.
    """

    provider: str
    kind: str
    out_trade_no: str
    amount_fen: int
    requires_online_payment: bool
    prepay_id: str = ""
    jsapi_params: dict[str, str] | None = None
    h5_url: str = ""
    sandbox: bool = False


@dataclass(frozen=True)
class PaymentStatus:
    """A trade as the provider sees it now. ``state`` is one of TRADE_STATES."""

    provider: str
    out_trade_no: str
    state: str
    transaction_id: str = ""
    amount_fen: int | None = None
    payer_total_fen: int | None = None
    success_time: datetime | None = None
    payer_openid: str = ""
    state_desc: str = ""
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def paid(self) -> bool:
        return self.state == "SUCCESS"


@dataclass(frozen=True)
class PaymentNotice:
    """A verified (and, for WeChat Pay, decrypted) payment notification.

    ``notification_id`` is the provider's id of this delivery; duplicates carry the same id and trade.
    Callers must check ``amount_fen`` against the order before marking it paid."""

    provider: str
    notification_id: str
    event_type: str
    out_trade_no: str
    state: str
    transaction_id: str = ""
    amount_fen: int | None = None
    payer_total_fen: int | None = None
    success_time: datetime | None = None
    payer_openid: str = ""
    sandbox: bool = False
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def paid(self) -> bool:
        return self.state == "SUCCESS"


@dataclass(frozen=True)
class RefundResult:
    """A refund as accepted (or reported) by the provider. ``status`` is one of REFUND_STATUSES;
    PROCESSING means the final outcome arrives by refund notification (or ``query_refund``)."""

    provider: str
    out_trade_no: str
    out_refund_no: str
    status: str
    refund_id: str = ""
    transaction_id: str = ""
    refund_fen: int | None = None
    total_fen: int | None = None
    success_time: datetime | None = None
    user_received_account: str = ""
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RefundNotice:
    """A verified, decrypted refund notification (REFUND.SUCCESS / REFUND.ABNORMAL / REFUND.CLOSED)."""

    provider: str
    notification_id: str
    event_type: str
    out_trade_no: str
    out_refund_no: str
    status: str
    refund_id: str = ""
    transaction_id: str = ""
    refund_fen: int | None = None
    total_fen: int | None = None
    success_time: datetime | None = None
    user_received_account: str = ""
    raw: dict[str, Any] = field(default_factory=dict)


class PaymentProvider(abc.ABC):
    """One way members pay for orders. Implementations: WeChat Pay v3, pay at pickup, SANDBOX (demo)."""

    name: str = ""
    requires_online_payment: bool = True

    @abc.abstractmethod
    def create_payment(
        self,
        *,
        out_trade_no: str,
        amount_fen: int,
        description: str,
        payer_openid: str | None,
        client_ip: str | None,
        notify_url: str,
        expires_at: datetime | None,
        kind: PaymentKind,
    ) -> PaymentRequest:
        """Open a payment for ``out_trade_no`` (unique per order, reused on retry) and return what the
        member's page needs. Raises PaymentError (``retryable`` says whether trying again may help)."""

    @abc.abstractmethod
    def query_payment(self, out_trade_no: str) -> PaymentStatus:
        """The provider's current view of the trade. Raises PaymentError (code RESOURCE_NOT_EXISTS and
        ``retryable=False`` for WeChat Pay when the trade is unknown)."""

    def close_payment(self, out_trade_no: str) -> None:  # noqa: B027 - optional, default is a no-op
        """Close an unpaid trade so it can no longer be paid. No-op for providers without online trades."""

    @abc.abstractmethod
    def parse_notification(self, headers: Mapping[str, str], body: bytes) -> PaymentNotice:
        """Verify and decode a payment notification. Raises InvalidNotification for anything that is not
        a genuine, fresh notification from the provider."""

    @abc.abstractmethod
    def refund(
        self,
        *,
        out_trade_no: str,
        out_refund_no: str,
        amount_fen: int,
        total_fen: int,
        reason: str,
        notify_url: str,
    ) -> RefundResult:
        """Ask for a refund of ``amount_fen`` of the ``total_fen`` paid. ``out_refund_no`` is unique per
        refund and reused on retry. Raises PaymentError."""

    @abc.abstractmethod
    def parse_refund_notification(self, headers: Mapping[str, str], body: bytes) -> RefundNotice:
        """Verify and decode a refund notification. Raises InvalidNotification."""


def header(headers: Mapping[str, str], name: str) -> str:
    """A header value by case-insensitive name ('' when absent): WSGI and test clients disagree on case."""
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return ""
