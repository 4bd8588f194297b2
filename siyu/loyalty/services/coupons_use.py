"""Using a coupon and giving it back: the shared steps of online checkout and the counter (ADR 0014).

Guarantees:

- **Used at most once.** ``consume`` is one conditional UPDATE ``available → used`` (still inside its valid
  window); of two counters (or a counter and a checkout) at the same instant, exactly one updates the row, the
  other gets Conflict ``coupon_already_used`` and changes nothing.
- **Budget in SQL.** The discount's cost is charged to the store's budget for the template
  (``CouponBudget``) by one conditional UPDATE (``spent_fen + cost <= budget_fen``, CHECK behind it); a spent
  budget refuses the use (Conflict ``coupon_budget_spent``) and, in the same transaction, nothing is used.
- **Given back whole.** ``give_back`` turns a used coupon available again (or expired, when its window has
  passed) and returns its cost to the budget, once (the UPDATE is conditional on ``status = 'used'``).

Call inside the caller's transaction (the order's, or the counter's).
"""

from __future__ import annotations

from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.common.errors import Conflict
from siyu.loyalty.models import Coupon, CouponBudget, CouponStatus, CouponTemplate


class CouponAlreadyUsed(Conflict):
    code = "coupon_already_used"


class CouponBudgetSpent(Conflict):
    code = "coupon_budget_spent"


def budget_left(template: CouponTemplate, store_id: int) -> int | None:
    """What the store may still give with ``template`` (None: no budget)."""
    if template.store_budget_fen is None:
        return None
    row = CouponBudget.objects.filter(template=template, store_id=store_id).values_list(
        "budget_fen", "spent_fen"
    )
    found = row.first()
    if found is None:
        return template.store_budget_fen
    return max(0, found[0] - found[1])


def charge_budget(template: CouponTemplate, store_id: int, cost_fen: int) -> None:
    """Add ``cost_fen`` to the store's spending on ``template``; CouponBudgetSpent when it would pass the
    budget (nothing charged)."""
    if template.store_budget_fen is None or cost_fen <= 0:
        return
    rows = CouponBudget.objects.filter(template=template, store_id=store_id)
    if not rows.exists():
        try:
            with transaction.atomic():
                CouponBudget.objects.create(
                    template=template, store_id=store_id, budget_fen=template.store_budget_fen
                )
        except IntegrityError:
            pass  # a parallel first use created it
    if not rows.filter(spent_fen__lte=F("budget_fen") - cost_fen).update(spent_fen=F("spent_fen") + cost_fen):
        raise CouponBudgetSpent(
            _("This store has given all the discount this coupon may give."), field="coupon"
        )


def consume(
    coupon: Coupon,
    *,
    store_id: int,
    discount_fen: int,
    cost_fen: int,
    now: datetime,
    order_id: int | None = None,
    staff_id: int | None = None,
    sale_fen: int | None = None,
    use_key: str = "",
) -> None:
    """Mark ``coupon`` used (see module guarantees) and charge the budget."""
    done = Coupon.objects.filter(
        pk=coupon.pk, status=CouponStatus.AVAILABLE, valid_from__lte=now, valid_until__gt=now
    ).update(
        status=CouponStatus.USED,
        used_at=now,
        used_store_id=store_id,
        used_by_id=staff_id,
        order_id=order_id,
        sale_fen=sale_fen,
        discount_fen=discount_fen,
        cost_fen=cost_fen,
        use_key=use_key,
    )
    if not done:
        raise CouponAlreadyUsed(_("This coupon has already been used or is no longer valid."), field="coupon")
    charge_budget(coupon.template, store_id, cost_fen)
    coupon.refresh_from_db()


def give_back(coupon: Coupon, *, now: datetime | None = None) -> bool:
    """Return a used coupon to the member's wallet (expired when its window has passed) and its cost to the
    budget. False when it was not used (nothing to give back)."""
    now = now or timezone.now()
    status = CouponStatus.AVAILABLE if coupon.valid_until > now else CouponStatus.EXPIRED
    done = Coupon.objects.filter(pk=coupon.pk, status=CouponStatus.USED).update(
        status=status,
        used_at=None,
        used_store=None,
        used_by=None,
        order_id=None,
        sale_fen=None,
        discount_fen=0,
        cost_fen=0,
        use_key="",
        returned_count=F("returned_count") + 1,
    )
    if not done:
        return False
    if coupon.cost_fen and coupon.used_store_id is not None:
        CouponBudget.objects.filter(
            template_id=coupon.template_id, store_id=coupon.used_store_id, spent_fen__gte=coupon.cost_fen
        ).update(spent_fen=F("spent_fen") - coupon.cost_fen)
    return True
