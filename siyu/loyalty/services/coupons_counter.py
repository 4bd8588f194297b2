"""Coupons at the counter: the clerk scans the member's coupon QR or types its short code, types the sale
amount, sees the discount and confirms (ADR 0014).

Guarantees:

- **Store scoping.** A coupon is found only among the open coupons of the clerk's brand that are valid at one
  of the stores the clerk serves (serving the store is required even of head office: it is a counter action);
  anything else is NotFound, revealing nothing.
- **Attempt limits.** Typed codes are counted before the lookup with the pickup scanner's counters
  (``orders.services.pickup_limits``: per clerk and per store, per minute; RateLimited with ``retry_after``);
  a code that finds an open coupon gives its slot back. A signed QR is not a guess and is not counted.
- **Used at most once.** ``redeem`` uses the coupon with one conditional UPDATE (``available → used``); of two
  counters confirming at the same instant exactly one succeeds, the other gets Conflict
  ``coupon_already_used``. The store's budget is charged in the same transaction (Conflict
  ``coupon_budget_spent``, nothing used).
- **Once per key.** The clerk's idempotency key is scoped to the clerk and the coupon: a retried confirmation
  answers the first result; the same key for another sale amount is ``idempotency_mismatch``.
- **Audited.** Every redemption is an audit entry (``coupons.redeem``) and an event (``coupon.used``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.analytics.services.events import record_event
from siyu.common.errors import Conflict, NotFound, ValidationFailed
from siyu.common.idempotency import actor_ref, client_key, mismatch
from siyu.common.validators import clean_fen, clean_idempotency_key
from siyu.loyalty.models import Coupon, CouponStatus, CouponTemplate
from siyu.loyalty.services import coupons_rules as rules
from siyu.loyalty.services.coupons import QR_PREFIX, code_from_scan
from siyu.loyalty.services.coupons_use import budget_left, consume
from siyu.orders.services import pickup_limits
from siyu.org.models import Staff, Store
from siyu.org.services.access import require_staff
from siyu.org.services.audit import record_audit

MAX_SALE_FEN = 10_000_000  # ¥100,000 at one counter sale


@dataclass(frozen=True)
class CounterCoupon:
    """A coupon found at the counter: the coupon, its rules in a sentence, and the clerk's stores where it
    may be used now."""

    coupon: Coupon
    text: str
    stores: tuple[Store, ...]


@dataclass(frozen=True)
class Quote:
    sale_fen: int
    discount_fen: int
    cost_fen: int

    @property
    def pay_fen(self) -> int:
        return self.sale_fen - self.discount_fen


def _not_found() -> NotFound:
    return NotFound(_("No usable coupon with this code at your stores."), field="code")


def _clerk_stores(staff: Staff) -> list[Store]:
    return list(staff.stores.filter(brand_id=staff.brand_id).order_by("code"))


def find(staff: Staff, text: Any, *, now: datetime | None = None) -> CounterCoupon:
    """The open coupon ``text`` (scanned QR or typed short code) names, valid now at a store ``staff``
    serves (see module guarantees)."""
    staff = require_staff(staff)
    now = now or timezone.now()
    if not isinstance(text, str) or not text.strip() or len(text) > 200:
        raise _not_found()
    stores = _clerk_stores(staff)
    signed = text.strip().startswith(QR_PREFIX + ":")
    reservation = None if signed else pickup_limits.reserve(staff, [s.pk for s in stores])
    code = code_from_scan(text)
    coupon = None
    if code is not None and stores:
        coupon = (
            Coupon.objects.filter(
                code=code,
                brand_id=staff.brand_id,
                status=CouponStatus.AVAILABLE,
                valid_from__lte=now,
                valid_until__gt=now,
            )
            .select_related("template", "template__gift_sku", "template__gift_sku__product", "member")
            .first()
        )
    if coupon is None:
        raise _not_found()
    scope = rules.scope_of(coupon.template)
    usable = tuple(s for s in stores if scope.at_store(s.pk))
    if not usable:
        raise _not_found()
    if reservation is not None:
        pickup_limits.release(reservation)
    return CounterCoupon(coupon, rules.describe(coupon.template), usable)


def quote(template: CouponTemplate, sale_fen: Any, *, store_id: int | None = None) -> Quote:
    """What ``template`` takes off a counter sale of ``sale_fen`` (the whole sale is in scope); Conflict
    ``coupon_unusable`` when it does not apply (below the minimum spend) or the store's budget cannot pay."""
    sale = clean_fen(sale_fen, "sale_fen", minimum=1, maximum=MAX_SALE_FEN)
    value = rules.worth(template, sale, gift_price_fen=rules.gift_price(template))
    if value is None:
        raise Conflict(
            _("This sale does not meet the coupon's conditions."), field="sale_fen", code="coupon_unusable"
        )
    if store_id is not None:
        left = budget_left(template, store_id)
        if left is not None and value.cost_fen > left:
            raise Conflict(
                _("This store has given all the discount this coupon may give."),
                field="coupon",
                code="coupon_budget_spent",
            )
    return Quote(sale, value.discount_fen, value.cost_fen)


def _pick_store(found: CounterCoupon, store_id: Any) -> Store:
    if store_id in (None, ""):
        if len(found.stores) == 1:
            return found.stores[0]
        raise ValidationFailed(_("Choose the store of this sale."), field="store")
    for store in found.stores:
        if str(store.pk) == str(store_id):
            return store
    raise NotFound(_("No usable coupon with this code at your stores."), field="store")


@dataclass(frozen=True)
class Redemption:
    coupon: Coupon
    quote: Quote
    replayed: bool = False


def redeem(
    staff: Staff,
    text: Any,
    *,
    sale_fen: Any,
    key: Any,
    store_id: Any = None,
    ip: str | None = None,
    now: datetime | None = None,
) -> Redemption:
    """Use the coupon ``text`` names on a counter sale of ``sale_fen`` at ``store_id`` (may be left out when
    the clerk serves one store where it is valid). See module guarantees."""
    staff = require_staff(staff)
    clean = clean_idempotency_key(key)
    now = now or timezone.now()
    code = code_from_scan(text) if isinstance(text, str) else None
    if code is not None:
        # A retried confirmation: the coupon is used already, by this clerk with this key.
        done = Coupon.objects.filter(code=code, brand_id=staff.brand_id, status=CouponStatus.USED).first()
        if done is not None and done.use_key == client_key(
            actor_ref("staff", staff.pk), "coupons.redeem", done.pk, clean
        ):
            if done.sale_fen != clean_fen(sale_fen, "sale_fen", minimum=1, maximum=MAX_SALE_FEN):
                raise mismatch()
            return Redemption(done, Quote(done.sale_fen, done.discount_fen, done.cost_fen), replayed=True)
    found = find(staff, text, now=now)
    store = _pick_store(found, store_id)
    coupon = found.coupon
    priced = quote(coupon.template, sale_fen, store_id=store.pk)
    use_key = client_key(actor_ref("staff", staff.pk), "coupons.redeem", coupon.pk, clean)
    with transaction.atomic():
        consume(
            coupon,
            store_id=store.pk,
            discount_fen=priced.discount_fen,
            cost_fen=priced.cost_fen,
            now=now,
            staff_id=staff.pk,
            sale_fen=priced.sale_fen,
            use_key=use_key,
        )
        record_audit(
            staff,
            "coupons.redeem",
            target_type="coupon",
            target_id=coupon.pk,
            store_id=store.pk,
            detail={
                "member_id": coupon.member_id,
                "template_id": coupon.template_id,
                "sale_fen": priced.sale_fen,
                "discount_fen": priced.discount_fen,
            },
            ip=ip,
        )
        record_event(
            "coupon.used",
            member_id=coupon.member_id,
            store_id=store.pk,
            occurred_at=now,
            payload={
                "coupon_id": coupon.pk,
                "template_id": coupon.template_id,
                "discount_fen": priced.discount_fen,
                "at": "counter",
            },
        )
    return Redemption(coupon, priced)
