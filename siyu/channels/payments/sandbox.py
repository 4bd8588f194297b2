"""SANDBOX payment provider — for demos only, never real money.

It refuses to exist unless ``settings.DEBUG`` or ``settings.TESTING``. ``create_payment`` points the member at
the fake SANDBOX cashier page ``/h5/pay/sandbox/<out_trade_no>/``; that page calls
``confirm_sandbox_payment`` which yields the PaymentNotice a real provider would send. Trades live in the
Django cache (shared between processes when Redis is configured) for a day.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from siyu.channels.payments.base import (
    InvalidNotification,
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

SANDBOX_LABEL = "SANDBOX"
_CACHE_PREFIX = "siyu:payments:sandbox:"
_TTL_SECONDS = 24 * 3600


def check_sandbox_allowed() -> None:
    """Raise PaymentNotConfigured outside DEBUG/TESTING: the sandbox must never face real members."""
    if not (settings.DEBUG or getattr(settings, "TESTING", False)):
        raise PaymentNotConfigured(
            "The SANDBOX payment provider is for demos only and needs SIYU_DEBUG=1 (or tests). "
            "Set SIYU_PAYMENT_PROVIDER to 'wechatpay' or 'pay_at_pickup'."
        )


def sandbox_cashier_path(out_trade_no: str) -> str:
    return f"/h5/pay/sandbox/{out_trade_no}/"


def _load(out_trade_no: str) -> dict[str, Any] | None:
    value = cache.get(_CACHE_PREFIX + out_trade_no)
    return value if isinstance(value, dict) else None


def _save(trade: dict[str, Any]) -> None:
    cache.set(_CACHE_PREFIX + trade["out_trade_no"], trade, _TTL_SECONDS)


class SandboxPaymentProvider(PaymentProvider):
    """SANDBOX: a fake online payment for demos. Every value it returns is marked ``sandbox=True``."""

    name = "sandbox"
    requires_online_payment = True

    def __init__(self) -> None:
        check_sandbox_allowed()

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
        """Open a SANDBOX trade (same number and amount again is accepted, like WeChat Pay's retry rule)."""
        check_sandbox_allowed()
        existing = _load(out_trade_no)
        if existing and existing["amount_fen"] != amount_fen:
            raise PaymentError(
                "SANDBOX: out_trade_no reused with another amount", retryable=False, code="OUT_TRADE_NO_USED"
            )
        if not existing:
            _save(
                {
                    "out_trade_no": out_trade_no,
                    "amount_fen": amount_fen,
                    "description": f"[{SANDBOX_LABEL}] {description}",
                    "payer_openid": payer_openid or "",
                    "state": "NOTPAY",
                    "transaction_id": "",
                    "success_time": None,
                    "refunded_fen": 0,
                    "expires_at": expires_at,
                }
            )
        return PaymentRequest(
            provider=self.name,
            kind="h5",
            out_trade_no=out_trade_no,
            amount_fen=amount_fen,
            requires_online_payment=True,
            h5_url=sandbox_cashier_path(out_trade_no),
            sandbox=True,
        )

    def _trade(self, out_trade_no: str) -> dict[str, Any]:
        check_sandbox_allowed()
        trade = _load(out_trade_no)
        if trade is None:
            raise PaymentError("SANDBOX: unknown trade", retryable=False, code="RESOURCE_NOT_EXISTS")
        return trade

    def query_payment(self, out_trade_no: str) -> PaymentStatus:
        trade = self._trade(out_trade_no)
        return PaymentStatus(
            provider=self.name,
            out_trade_no=out_trade_no,
            state=trade["state"],
            transaction_id=trade["transaction_id"],
            amount_fen=trade["amount_fen"],
            payer_total_fen=trade["amount_fen"] if trade["state"] in {"SUCCESS", "REFUND"} else None,
            success_time=trade["success_time"],
            payer_openid=trade["payer_openid"],
            state_desc=SANDBOX_LABEL,
            raw=dict(trade),
        )

    def close_payment(self, out_trade_no: str) -> None:
        trade = self._trade(out_trade_no)
        if trade["state"] == "NOTPAY":
            trade["state"] = "CLOSED"
            _save(trade)

    def parse_notification(self, headers: Mapping[str, str], body: bytes) -> PaymentNotice:
        raise InvalidNotification(
            "SANDBOX payments are confirmed with confirm_sandbox_payment(), not by HTTP notification",
            code="no_notifications",
        )

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
        """SANDBOX refunds succeed at once (the full amount at most)."""
        trade = self._trade(out_trade_no)
        if trade["state"] not in {"SUCCESS", "REFUND"}:
            raise PaymentError("SANDBOX: trade not paid", retryable=False, code="TRADE_NOT_PAID")
        if (
            total_fen != trade["amount_fen"]
            or amount_fen <= 0
            or trade["refunded_fen"] + amount_fen > total_fen
        ):
            raise PaymentError("SANDBOX: refund amount invalid", retryable=False, code="PARAM_ERROR")
        trade["refunded_fen"] += amount_fen
        trade["state"] = "REFUND"
        _save(trade)
        return RefundResult(
            provider=self.name,
            out_trade_no=out_trade_no,
            out_refund_no=out_refund_no,
            status="SUCCESS",
            refund_id=f"sandbox-refund-{uuid.uuid4().hex[:16]}",
            transaction_id=trade["transaction_id"],
            refund_fen=amount_fen,
            total_fen=total_fen,
            success_time=timezone.now(),
            user_received_account=SANDBOX_LABEL,
        )

    def parse_refund_notification(self, headers: Mapping[str, str], body: bytes) -> RefundNotice:
        raise InvalidNotification(
            "SANDBOX refunds complete immediately; no notifications", code="no_notifications"
        )


def confirm_sandbox_payment(out_trade_no: str) -> PaymentNotice:
    """SANDBOX: mark the trade paid and return the notice a real provider would deliver. Calling it again
    returns the same notice (same ``notification_id``), as duplicate deliveries would."""
    check_sandbox_allowed()
    trade = _load(out_trade_no)
    if trade is None:
        raise PaymentError("SANDBOX: unknown trade", retryable=False, code="RESOURCE_NOT_EXISTS")
    if trade["state"] == "CLOSED":
        raise PaymentError("SANDBOX: trade closed", retryable=False, code="ORDER_CLOSED")
    if trade["state"] == "NOTPAY":
        trade["state"] = "SUCCESS"
        trade["transaction_id"] = f"sandbox-{uuid.uuid4().hex[:24]}"
        trade["success_time"] = timezone.now()
        trade["notification_id"] = str(uuid.uuid4())
        _save(trade)
    return PaymentNotice(
        provider=SandboxPaymentProvider.name,
        notification_id=str(trade.get("notification_id", "")),
        event_type="TRANSACTION.SUCCESS",
        out_trade_no=out_trade_no,
        state="SUCCESS",
        transaction_id=trade["transaction_id"],
        amount_fen=trade["amount_fen"],
        payer_total_fen=trade["amount_fen"],
        success_time=trade["success_time"],
        payer_openid=trade["payer_openid"],
        sandbox=True,
        raw=dict(trade),
    )
