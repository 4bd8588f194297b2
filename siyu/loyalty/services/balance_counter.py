"""Paying with stored value at the counter: the clerk scans or types the member's payment code and the amount.

Guarantees of ``counter_pay``:
- **Where.** Staff serving the store (``store_id``; a clerk serving one store may omit it). HQ roles are
  not at a counter and another store's staff get NotFound, like pickup (ADR 0002). A code of another brand's
  member is NotFound too. The payment is recorded at that store, with the clerk.
- **Once.** The code is claimed by one conditional UPDATE (``used_at IS NULL AND expires_at > now``) in the
  transaction that draws the balance (``stored_value.pay``, key ``sys:paycode:<id>:pay``): the same code at
  two counters at once gives one payment, the other Conflict ``already_used``. Not enough balance (Conflict
  ``insufficient_balance``) rolls the claim back: the code stays usable and nothing changed. The clerk's own
  retry with the same idempotency key (``client_key``: that staff member and store) answers the first
  payment; the same key for another code or amount is Conflict ``idempotency_mismatch``.
- **Guessing is limited** like pickup codes (``siyu.orders.services.pickup_limits``, ADR 0011: the same
  per-clerk and per-store counters of misses a minute, counted before the lookup): a code that matches no
  issued code is a miss; a real code (even used or expired) gives its slot back. An expired code is Conflict
  ``code_expired``.
- **Audited.** Audit ``stored_value.counter_pay``; the ledger records the event ``stored_value.paid``.

``refund_counter_payment``: a manager (capability ``stored_value.refund``; HQ too) gives a counter payment
back to the balance in whole — principal to principal, bonus to bonus (``stored_value.refund_payment``) —
once (one conditional UPDATE on ``refunded_at IS NULL``; the manager's retry with the same key answers the
refund). Audit ``stored_value.counter_refund`` (the ledger records ``stored_value.refunded``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.common.errors import Conflict, NotFound, ValidationFailed
from siyu.common.idempotency import actor_ref, client_key, mismatch, request_hash, system_key
from siyu.common.validators import clean_fen, clean_idempotency_key, clean_int, clean_text
from siyu.loyalty.models import BalancePayCode
from siyu.loyalty.services import stored_value
from siyu.loyalty.services.balance_codes import code_hash, normalise_code
from siyu.orders.services import pickup_limits
from siyu.org.models import Staff, Store
from siyu.org.services.access import check_capability, has_capability, require_staff, store_scope
from siyu.org.services.audit import record_audit

MAX_PAY_FEN = stored_value.MAX_AMOUNT_FEN
MAX_REASON = 200


@dataclass(frozen=True)
class CounterPayment:
    payment: BalancePayCode
    principal_fen: int
    bonus_fen: int
    balance: stored_value.SvBalance
    created: bool


def counter_stores(staff: Staff) -> QuerySet[Store]:
    """The stores whose counter ``staff`` works at (store roles only; HQ is not at a counter)."""
    require_staff(staff)
    return staff.stores.order_by("code")


def _counter_store(staff: Staff, store_id: Any) -> Store:
    stores = list(counter_stores(staff))
    if store_id in (None, ""):
        if len(stores) == 1:
            return stores[0]
        if not stores:
            raise NotFound(_("You do not work at a store counter."), field="store")
        raise ValidationFailed(_("Choose the store."), field="store")
    pk = clean_int(store_id, "store", 1, 2**62, from_text=True)
    for store in stores:
        if store.pk == pk:
            return store
    raise NotFound(_("No such store."), field="store")


def _result(row: BalancePayCode, *, created: bool) -> CounterPayment:
    entry = row.pay_entry
    assert entry is not None
    member = row.member
    return CounterPayment(
        payment=row,
        principal_fen=-entry.principal_delta_fen,
        bonus_fen=-entry.bonus_delta_fen,
        balance=stored_value.balance_of(member),
        created=created,
    )


def _used_or_expired(row: BalancePayCode, now: datetime) -> Conflict:
    if row.used_at is not None:
        return Conflict(_("This payment code was already used."), field="code", code="already_used")
    return Conflict(
        _("This payment code has expired: ask the member to show a fresh one."),
        field="code",
        code="code_expired",
    )


def counter_pay(
    staff: Staff, *, code: Any, amount_fen: Any, key: Any, store_id: Any = None, ip: str | None = None
) -> CounterPayment:
    """Take ``amount_fen`` from the balance of the member whose payment ``code`` the clerk scanned, at the
    clerk's store (see module guarantees)."""
    store = _counter_store(staff, store_id)
    amount = clean_fen(amount_fen, "amount_fen", minimum=1, maximum=MAX_PAY_FEN)
    clean_key = clean_idempotency_key(key)
    stored_key = client_key(actor_ref("staff", staff.pk), "stored_value.counter_pay", store.pk, clean_key)
    digits = normalise_code(code)
    digest = request_hash("counter_pay", code_hash(digits) if digits else repr(code)[:80], amount)
    replay = BalancePayCode.objects.filter(idempotency_key=stored_key).select_related("pay_entry").first()
    if replay is not None:
        if replay.request_hash != digest:
            raise mismatch()
        return _result(replay, created=False)
    not_found = NotFound(_("No such payment code."), field="code")
    # Counted before the lookup (parallel guesses cannot outrun the limit); a real code gives its slot back.
    reservation = pickup_limits.reserve(staff, [store.pk])
    row = (
        BalancePayCode.objects.filter(code_hash=code_hash(digits), brand_id=store.brand_id).first()
        if digits
        else None
    )
    if row is None:
        raise not_found
    pickup_limits.release(reservation)
    now = timezone.now()
    if row.used_at is not None or row.expires_at <= now:
        raise _used_or_expired(row, now)
    try:
        with transaction.atomic():
            claimed = BalancePayCode.objects.filter(
                pk=row.pk, used_at__isnull=True, expires_at__gt=now
            ).update(
                used_at=now,
                store=store,
                staff=staff,
                amount_fen=amount,
                idempotency_key=stored_key,
                request_hash=digest,
            )
            if not claimed:
                row.refresh_from_db()
                raise _used_or_expired(row, now)
            paid = stored_value.pay(
                row.member,
                amount,
                key=system_key("paycode", row.pk, "pay"),
                store=store,
                source="counter_code",
                source_ref=str(row.pk),
                staff=staff,
                now=now,
            )
            BalancePayCode.objects.filter(pk=row.pk).update(pay_entry_id=paid.entry_id)
            detail = {
                "amount_fen": amount,
                "principal_fen": paid.principal_fen,
                "bonus_fen": paid.bonus_fen,
                "payment_id": row.pk,
            }
            record_audit(
                staff,
                "stored_value.counter_pay",
                target_type="member",
                target_id=row.member_id,
                store_id=store.pk,
                detail=detail,
                ip=ip,
            )
    except IntegrityError:
        # The same clerk's same key committed first (a double tap): answer that payment.
        replay = BalancePayCode.objects.filter(idempotency_key=stored_key).first()
        if replay is None:
            raise
        if replay.request_hash != digest:
            raise mismatch() from None
        return _result(replay, created=False)
    row.refresh_from_db()
    return CounterPayment(
        payment=row,
        principal_fen=paid.principal_fen,
        bonus_fen=paid.bonus_fen,
        balance=paid.balance,
        created=True,
    )


# --- reading ---------------------------------------------------------------------------------------------


def store_payments(staff: Staff, *, store_id: Any = None) -> QuerySet[BalancePayCode]:
    """Counter payments with stored value at the stores ``staff`` may see (one store with ``store_id``;
    another store's: NotFound), newest first."""
    scope = store_scope(staff)
    qs = BalancePayCode.objects.filter(used_at__isnull=False).select_related(
        "member", "store", "staff", "pay_entry", "refunded_by"
    )
    if scope is not None:
        qs = qs.filter(store_id__in=scope)
    if store_id not in (None, ""):
        pk = clean_int(store_id, "store", 1, 2**62, from_text=True)
        if scope is not None and pk not in scope:
            raise NotFound(_("No such store."), field="store")
        qs = qs.filter(store_id=pk)
    return qs.order_by("-used_at", "-id")


def get_payment(staff: Staff, payment_id: Any) -> BalancePayCode:
    """One counter payment in ``staff``'s stores; NotFound otherwise (ADR 0002)."""
    pk = clean_int(payment_id, "payment", 1, 2**62, from_text=True)
    found = store_payments(staff).filter(pk=pk).first()
    if found is None:
        raise NotFound(_("No such payment."), field="payment")
    return found


def can_refund(staff: Staff, payment: BalancePayCode) -> bool:
    return has_capability(staff, "stored_value.refund") and payment.refunded_at is None


# --- refunds ---------------------------------------------------------------------------------------------


def refund_counter_payment(
    staff: Staff, payment_id: Any, *, reason: Any, key: Any, ip: str | None = None
) -> BalancePayCode:
    """Give a counter payment back to the member's balance in whole (see module guarantees)."""
    check_capability(staff, "stored_value.refund")
    text = clean_text(reason, "reason", MAX_REASON, required=True)
    clean_key = clean_idempotency_key(key)
    row = get_payment(staff, payment_id)
    stored_key = client_key(actor_ref("staff", staff.pk), "stored_value.counter_refund", row.pk, clean_key)
    with transaction.atomic():
        if row.refund_key == stored_key:
            if row.refund_reason != text:
                raise mismatch()
            return row
        if row.refunded_at is not None:
            raise Conflict(_("This payment was already refunded."), field="payment", code="already_refunded")
        if BalancePayCode.objects.filter(refund_key=stored_key).exists():
            raise mismatch()
        now = timezone.now()
        claimed = BalancePayCode.objects.filter(
            pk=row.pk, refunded_at__isnull=True, used_at__isnull=False
        ).update(refunded_at=now, refunded_by=staff, refund_reason=text, refund_key=stored_key)
        if not claimed:
            row.refresh_from_db()
            if row.refund_key == stored_key and row.refund_reason == text:
                return row  # the same manager's concurrent retry got there first
            raise Conflict(_("This payment was already refunded."), field="payment", code="already_refunded")
        assert row.pay_entry_id is not None and row.amount_fen is not None
        back = stored_value.refund_payment(
            row.pay_entry_id,
            int(row.amount_fen),
            key=system_key("paycode", row.pk, "refund"),
            staff=staff,
            reason=text,
            now=now,
        )
        if back.entry_id:
            BalancePayCode.objects.filter(pk=row.pk).update(refund_entry_id=back.entry_id)
        detail = {
            "amount_fen": int(row.amount_fen),
            "principal_fen": back.principal_fen,
            "bonus_fen": back.bonus_fen,
            "expired_bonus_fen": back.forfeited_bonus_fen,
            "payment_id": row.pk,
            "reason": text,
        }
        record_audit(
            staff,
            "stored_value.counter_refund",
            target_type="member",
            target_id=row.member_id,
            store_id=row.store_id,
            detail=detail,
            ip=ip,
        )
    row.refresh_from_db()
    return row
