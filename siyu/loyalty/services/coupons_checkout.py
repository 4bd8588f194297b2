"""Coupons at online checkout: the price adjuster, the suggestion, and the order hooks (ADR 0014).

Orders knows nothing of coupons. The member's choice travels as the checkout option ``coupons`` (coupon ids
separated by commas; absent or ``none``: no coupon) through ``orders.services.checkout.create_order``;

- the **adjuster** (position 300, after the member price) checks the chosen coupons — the member's own,
  available now, valid at the store, the stacking rule, the minimum spend, the store's budget — and adds one
  ``coupon`` adjustment per coupon (``reference`` ``cpn:<id>``; a gift adds a zero-fen line naming the
  gift). A choice it cannot honour refuses the order (Conflict ``coupon_unusable`` and friends);
- the ``created`` hook (inside the order's transaction) uses each coupon with one conditional UPDATE
  (``available → used``); if another checkout or a counter used it first the order is refused and nothing
  of it remains;
- the ``closed`` hook (cancelled, expired unpaid) gives the coupons back; the ``refunded`` hook gives them
  back only when the template says so (``return_on_refund``) and the coupon's window has not passed.

``suggest`` offers the best choice for a cart (the H5 checkout preselects it; the member may pick another
or none).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.catalog.models import Sku
from siyu.common.errors import Conflict
from siyu.loyalty.models import Coupon, CouponStatus, CouponTemplate
from siyu.loyalty.services import coupons_rules as rules
from siyu.loyalty.services.coupons_use import budget_left, consume, give_back
from siyu.orders import hooks
from siyu.orders.models import Order, OrderAdjustment, OrderStatus
from siyu.orders.pricing import Adjustment, PricingContext, register_adjuster

OPTION = "coupons"
NONE = "none"
KIND = "coupon"
POSITION = 300
MAX_CHOSEN = rules.MAX_STACK
REF_PREFIX = "cpn:"


class CouponUnusable(Conflict):
    code = "coupon_unusable"


def wallet_query(member_id: int, now: datetime | None = None) -> QuerySet[Coupon]:
    """The member's coupons usable now (available, inside their window), soonest to expire first."""
    now = now or timezone.now()
    return (
        Coupon.objects.filter(
            member_id=member_id, status=CouponStatus.AVAILABLE, valid_from__lte=now, valid_until__gt=now
        )
        .filter(template__active=True)
        .select_related("template", "template__gift_sku", "template__gift_sku__product")
        .order_by("valid_until", "id")
    )


def parse_choice(raw: str | None) -> list[int]:
    """Coupon ids from the option value; [] for none. CouponUnusable for anything else."""
    if raw is None or raw.strip() in ("", NONE):
        return []
    ids: list[int] = []
    for part in raw.split(","):
        text = part.strip()
        if not text.isdigit() or len(text) > 18:
            raise CouponUnusable(_("Choose coupons from your wallet."), field="coupons")
        ids.append(int(text))
    if len(ids) > MAX_CHOSEN or len(set(ids)) != len(ids):
        raise CouponUnusable(_("Choose coupons from your wallet."), field="coupons")
    return ids


def _basket(ctx: PricingContext) -> list[rules.BasketLine]:
    per_line: dict[int, int] = {line.listing_id: line.base_unit_fen * line.quantity for line in ctx.lines}
    for adjustment in ctx.adjustments:
        if adjustment.listing_id is not None:
            per_line[adjustment.listing_id] += adjustment.amount_fen
    return [
        rules.BasketLine(line.sku.product_id, line.sku.product.category_id, per_line[line.listing_id])
        for line in ctx.lines
    ]


def _gift_label(template: CouponTemplate) -> str:
    sku = template.gift_sku
    name = f"{sku.product.name} {sku.spec}".strip() if sku is not None else ""
    return (_("Gift: %(name)s") % {"name": name})[:100]


def adjuster(ctx: PricingContext) -> list[Adjustment]:
    """The checkout price adjuster (see module guarantees)."""
    ids = parse_choice(ctx.options.get(OPTION))
    if not ids:
        return []
    found = {c.pk: c for c in wallet_query(ctx.member_id).filter(pk__in=ids)}
    if len(found) != len(ids):
        raise CouponUnusable(_("This coupon is not in your wallet or no longer valid."), field="coupons")
    chosen = [found[pk] for pk in ids]
    if not rules.stacking_ok(chosen):
        raise CouponUnusable(_("These coupons cannot be used together."), field="coupons")
    scopes = rules.scopes_of({c.template_id: c.template for c in chosen}.values())
    if not all(scopes[c.template_id].at_store(ctx.store_id) for c in chosen):
        raise CouponUnusable(_("This coupon cannot be used at this store."), field="coupons")
    lines = _basket(ctx)
    discounts = rules.apply_in_order(chosen, scopes, lines, ctx.total_fen)
    if discounts is None:
        raise CouponUnusable(_("This order does not meet the coupon's conditions."), field="coupons")
    out = []
    for coupon, off in zip(chosen, discounts, strict=True):
        template = coupon.template
        cost = rules.gift_price(template) if template.kind == CouponTemplate.Kind.GIFT else off
        left = budget_left(template, ctx.store_id)
        if left is not None and cost > left:
            raise CouponUnusable(
                _("This store has given all the discount this coupon may give."), field="coupons"
            )
        label = _gift_label(template) if template.kind == CouponTemplate.Kind.GIFT else template.name[:100]
        out.append(Adjustment(kind=KIND, label=label, amount_fen=-off, reference=f"{REF_PREFIX}{coupon.pk}"))
    return out


@dataclass(frozen=True)
class Offer:
    """One usable coupon at checkout and what it would take off alone."""

    coupon: Coupon
    discount_fen: int
    text: str


@dataclass(frozen=True)
class Suggestion:
    offers: tuple[Offer, ...]  # every coupon usable on this cart, best first
    best: tuple[int, ...]  # the suggested choice (coupon ids)
    best_fen: int

    @property
    def best_value(self) -> str:
        return ",".join(str(pk) for pk in self.best) or NONE


def suggest(member_id: int, store_id: int, items: Sequence[tuple[Sku, int, int]]) -> Suggestion:
    """The coupons usable on a cart of (SKU with product, quantity, unit fen) at ``store_id``, and the best
    choice (``coupons_rules.best_choice``)."""
    lines = [
        rules.BasketLine(sku.product_id, sku.product.category_id, unit * qty) for sku, qty, unit in items
    ]
    total = sum(line.amount_fen for line in lines)
    wallet = list(wallet_query(member_id))
    if not wallet or total <= 0:
        return Suggestion((), (), 0)
    scopes = rules.scopes_of({c.template_id: c.template for c in wallet}.values())
    offers = []
    for coupon in wallet:
        if not scopes[coupon.template_id].at_store(store_id):
            continue
        got = rules.apply_in_order([coupon], scopes, lines, total)
        left = budget_left(coupon.template, store_id)
        if got is None or (left is not None and got[0] > left):
            continue
        offers.append(Offer(coupon, got[0], rules.describe(coupon.template)))
    offers.sort(key=lambda o: (-o.discount_fen, o.coupon.valid_until, o.coupon.pk))
    best = rules.best_choice([o.coupon for o in offers], store_id, lines, total)
    if best is None:
        return Suggestion(tuple(offers), (), 0)
    return Suggestion(tuple(offers), tuple(c.pk for c in best.coupons), best.total_fen)


# --- order hooks ---------------------------------------------------------------------------------------


def _order_coupons(order: Order) -> dict[int, OrderAdjustment]:
    out = {}
    for adjustment in OrderAdjustment.objects.filter(
        order=order, kind=KIND, reference__startswith=REF_PREFIX
    ):
        out[int(adjustment.reference.removeprefix(REF_PREFIX))] = adjustment
    return out


def on_created(order: Order) -> None:
    """Use the order's coupons (inside the order's transaction); Conflict refuses the order."""
    chosen = _order_coupons(order)
    if not chosen:
        return
    now = timezone.now()
    rows = (
        Coupon.objects.select_for_update(of=("self",))
        .filter(pk__in=list(chosen), member_id=order.member_id)
        .select_related("template", "template__gift_sku")
        .order_by("pk")
    )
    found = {c.pk: c for c in rows}
    for pk in sorted(chosen):
        coupon = found.get(pk)
        if coupon is None:
            raise CouponUnusable(_("This coupon is not in your wallet or no longer valid."), field="coupons")
        off = -chosen[pk].amount_fen
        template = coupon.template
        cost = rules.gift_price(template) if template.kind == CouponTemplate.Kind.GIFT else off
        consume(coupon, store_id=order.store_id, discount_fen=off, cost_fen=cost, now=now, order_id=order.pk)


def _used_by(order: Order) -> list[Coupon]:
    return list(
        Coupon.objects.select_for_update(of=("self",))
        .filter(order_id=order.pk, status=CouponStatus.USED)
        .select_related("template")
        .order_by("pk")
    )


def on_closed(order: Order) -> None:
    """A cancelled or expired unpaid order gives its coupons back."""
    if order.status not in (OrderStatus.CANCELLED, OrderStatus.EXPIRED):
        return
    for coupon in _used_by(order):
        give_back(coupon)


def on_refunded(order: Order) -> None:
    """A refund gives a coupon back only when its template allows it and its window has not passed."""
    now = timezone.now()
    for coupon in _used_by(order):
        if coupon.template.return_on_refund and coupon.valid_until > now:
            give_back(coupon, now=now)


def register() -> None:
    register_adjuster("loyalty.coupons", adjuster, position=POSITION)
    hooks.register("created", on_created, source=None, name="loyalty.coupons.created")
    hooks.register("closed", on_closed, source=None, name="loyalty.coupons.closed")
    hooks.register("refunded", on_refunded, source=None, name="loyalty.coupons.refunded")
