"""Paying with stored value at the counter, for staff: take a payment with the member's payment code, list a
store's balance payments, refund one back to the balance (managers and HQ). Amounts are fen; times ISO 8601.

Writes take a required ``Idempotency-Key`` scoped to the caller (ADR 0009): the same key again answers the
first result and changes nothing; the same key with another request is 409 ``idempotency_mismatch``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from ninja import Field, Header, Path, Query, Router, Schema
from ninja.responses import Status

from siyu.api import idempotency
from siyu.api.auth import current_staff
from siyu.api.schemas import Id, In, PageParams, paginate
from siyu.common.mobile import mask_mobile
from siyu.common.validators import clean_idempotency_key
from siyu.loyalty.models import BalancePayCode
from siyu.loyalty.services import balance_counter
from siyu.org.services.login import client_ip

router = Router()

KEY_DOC = "Required. The same key again answers the first result and changes nothing."


class PayIn(In):
    code: str = Field(max_length=80, description="The member's payment code: 18 digits (spaces ignored).")
    amount_fen: int = Field(ge=1, le=balance_counter.MAX_PAY_FEN)
    store_id: Id | None = Field(None, description="The store whose counter takes it (omit if you serve one).")


class BalanceRefundIn(In):
    reason: str = Field(max_length=200)


class PaymentOut(Schema):
    id: int
    store_id: int | None
    member_id: int
    member_mobile: str
    staff_id: int | None
    amount_fen: int
    principal_fen: int
    bonus_fen: int
    paid_at: datetime | None
    refunded_at: datetime | None
    refund_reason: str


class PayOut(Schema):
    payment: PaymentOut
    balance_principal_fen: int
    balance_bonus_fen: int


class PaymentPage(Schema):
    count: int
    items: list[PaymentOut]


class PaymentFilter(PageParams):
    store: Id | None = Field(None, description="One store you serve.")


def payment_out(row: BalancePayCode) -> dict[str, Any]:
    entry = row.pay_entry
    return {
        "id": row.pk,
        "store_id": row.store_id,
        "member_id": row.member_id,
        "member_mobile": mask_mobile(row.member.mobile),
        "staff_id": row.staff_id,
        "amount_fen": int(row.amount_fen or 0),
        "principal_fen": -entry.principal_delta_fen if entry else 0,
        "bonus_fen": -entry.bonus_delta_fen if entry else 0,
        "paid_at": row.used_at,
        "refunded_at": row.refunded_at,
        "refund_reason": row.refund_reason,
    }


@router.post("/stored-value/payments", response={200: PayOut, 201: PayOut})
def pay_with_balance(
    request: HttpRequest,
    payload: PayIn,
    idempotency_key: str = Header(..., alias="Idempotency-Key", description=KEY_DOC),
) -> Status:
    """Take ``amount_fen`` from the balance of the member whose payment code you scanned, at a store you
    serve (others, and HQ: 404). Principal first, then bonus (or in proportion, per the brand). Used already,
    or lost to a simultaneous use: 409 ``already_used``; expired: 409 ``code_expired``; not enough balance:
    409 ``insufficient_balance`` (the code stays usable). Too many codes that matched nothing: 429 with
    ``Retry-After``. 201, or 200 for a retried key."""
    staff = current_staff(request)
    key = clean_idempotency_key(idempotency_key, idempotency.HEADER)
    done = balance_counter.counter_pay(
        staff,
        code=payload.code,
        amount_fen=payload.amount_fen,
        key=key,
        store_id=payload.store_id,
        ip=client_ip(request),
    )
    row = BalancePayCode.objects.select_related("member", "pay_entry").get(pk=done.payment.pk)
    body = {
        "payment": payment_out(row),
        "balance_principal_fen": done.balance.principal_fen,
        "balance_bonus_fen": done.balance.bonus_fen,
    }
    return Status(201 if done.created else 200, body)


@router.get("/stored-value/payments", response=PaymentPage)
def balance_payments(request: HttpRequest, filters: Query[PaymentFilter]) -> dict[str, Any]:
    """Balance payments at the counters of the stores you serve (HQ: all), newest first."""
    staff = current_staff(request)
    total, rows = paginate(balance_counter.store_payments(staff, store_id=filters.store), filters)
    return {"count": total, "items": [payment_out(r) for r in rows]}


@router.post("/stored-value/payments/{int:payment_id}/refund", response=PaymentOut)
def refund_balance_payment(
    request: HttpRequest,
    payment_id: Path[Id],
    payload: BalanceRefundIn,
    idempotency_key: str = Header(..., alias="Idempotency-Key", description=KEY_DOC),
) -> dict[str, Any]:
    """Give a counter payment back to the member's balance in whole — principal to principal, bonus to bonus
    (managers and HQ; clerks 403; another store's payment 404). Refunded already: 409 ``already_refunded``."""
    staff = current_staff(request)
    key = clean_idempotency_key(idempotency_key, idempotency.HEADER)
    row = balance_counter.refund_counter_payment(
        staff, payment_id, reason=payload.reason, key=key, ip=client_ip(request)
    )
    return payment_out(BalancePayCode.objects.select_related("member", "pay_entry").get(pk=row.pk))
