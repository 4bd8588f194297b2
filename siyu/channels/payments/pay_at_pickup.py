"""Pay at pickup: the default when no online provider is configured. The member pays at the counter."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from siyu.channels.payments.base import (
    InvalidNotification,
    PaymentError,
    PaymentKind,
    PaymentNotice,
    PaymentProvider,
    PaymentRequest,
    PaymentStatus,
    RefundNotice,
    RefundResult,
)


class PayAtPickupProvider(PaymentProvider):
    """No online payment: orders are settled in the store; nothing is ever paid or refunded online."""

    name = "pay_at_pickup"
    requires_online_payment = False

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
        """A "pay at the counter" request: the page shows the amount and asks the member to pay on pickup."""
        return PaymentRequest(
            provider=self.name,
            kind="pay_at_pickup",
            out_trade_no=out_trade_no,
            amount_fen=amount_fen,
            requires_online_payment=False,
        )

    def query_payment(self, out_trade_no: str) -> PaymentStatus:
        """Always NOTPAY: payment happens at the counter and is recorded by staff, not by this provider."""
        return PaymentStatus(provider=self.name, out_trade_no=out_trade_no, state="NOTPAY")

    def parse_notification(self, headers: Mapping[str, str], body: bytes) -> PaymentNotice:
        raise InvalidNotification(
            "pay at pickup has no online payment notifications", code="no_notifications"
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
        raise PaymentError(
            "Orders paid at pickup are refunded at the counter.", retryable=False, code="refund_at_counter"
        )

    def parse_refund_notification(self, headers: Mapping[str, str], body: bytes) -> RefundNotice:
        raise InvalidNotification("pay at pickup has no refund notifications", code="no_notifications")
