"""Points for purchases: credited when an order is picked up, clawed back when it is refunded.

Guarantees:
- **What was paid earns.** Each order line is matched to the purchase rules active at the order's store when
  it is picked up (window, stores, the rule's products/categories — none = all — and its campaign — none =
  any sale); a line earns under its best-paying rule. The line amounts are scaled to what the order really
  cost (``total_fen``, after coupons and points), so an order paid with points earns nothing. Points = yuan ×
  the rule's points per yuan × the member's tier multiplier (``rules.tier_points``), rounded down once.
- **Once.** One earning per (order, rule), keyed ``sys:purchase:<order>:rule:<rule>``, within the rule's caps
  (a rule past its cap is skipped, the others still pay); the source is ``("order", id)``.
- **Refunds take it back**, through ``points.reverse_earning``: points already spent become debt, shown to
  the member. Once per earning.
- Both run inside the order's own transition (invariant order hooks, ``siyu.loyalty.order_hooks``): an order
  is picked up with its points or not at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.common.idempotency import system_key
from siyu.loyalty.models import EarnRule, PointsEntry
from siyu.loyalty.services import points, rules, tiers
from siyu.orders.models import Order, OrderLine


@dataclass(frozen=True)
class RulePoints:
    rule: EarnRule
    paid_fen: int
    points: int
    # fen paid × the rule's points per yuan: ``points`` is ``rules.tier_points(member, base, scale=100)``.
    base: int


def _matches(rule: EarnRule, line: OrderLine, order: Order) -> bool:
    if rule.campaign_id is not None and rule.campaign_id != order.campaign_id:
        return False
    product_ids = {p.pk for p in rule.products.all()}
    category_ids = {c.pk for c in rule.categories.all()}
    if not product_ids and not category_ids:
        return True
    product = line.sku.product
    return product.pk in product_ids or (
        product.category_id is not None and product.category_id in category_ids
    )


def points_for_order(order: Order, *, now: datetime | None = None) -> list[RulePoints]:
    """What the order earns, per rule (see module guarantees); empty when nothing applies."""
    now = now or timezone.now()
    if order.total_fen <= 0:
        return []
    candidates = list(
        rules.active_rules(order.brand_id, EarnRule.Kind.PURCHASE, store_id=order.store_id, now=now)
        .filter(points__gt=0)
        .prefetch_related("products", "categories")
    )
    if not candidates:
        return []
    lines = list(order.lines.select_related("sku__product"))
    gross = sum(line.unit_price_fen * line.quantity for line in lines)
    if gross <= 0:
        return []
    per_rule: dict[int, int] = {}
    by_id = {rule.pk: rule for rule in candidates}
    for line in lines:
        matching = [rule for rule in candidates if _matches(rule, line, order)]
        if not matching:
            continue
        best = max(matching, key=lambda r: (r.points, r.pk))
        per_rule[best.pk] = per_rule.get(best.pk, 0) + line.unit_price_fen * line.quantity
    out = []
    for rule_id, fen in sorted(per_rule.items()):
        rule = by_id[rule_id]
        paid = fen * order.total_fen // gross
        amount = rules.tier_points(order.member, paid * rule.points, scale=100)
        if amount > 0:
            out.append(RulePoints(rule, paid, amount, paid * rule.points))
    return out


def credit_order(order: Order, *, now: datetime | None = None) -> list[PointsEntry]:
    """Credit the points ``order`` earns (the ``picked_up`` hook); a rule past its cap is skipped."""
    now = now or timezone.now()
    member = order.member
    credited = []
    for item in points_for_order(order, now=now):
        try:
            credited.append(
                rules.award(
                    member,
                    item.rule,
                    item.base,
                    key=system_key("purchase", order.pk, "rule", item.rule.pk),
                    now=now,
                    reason=_("Points for order #%(id)s") % {"id": order.pk},
                    source=("order", str(order.pk)),
                    scale=100,
                )
            )
        except rules.CapReached:
            continue
    if credited:
        tiers.evaluate(member, now=now)
    return credited


def claw_back_order(order: Order, *, now: datetime | None = None) -> list[PointsEntry]:
    """Take back what ``order`` earned (the ``refunded`` hook), spent points becoming debt."""
    if not PointsEntry.objects.filter(
        account__member_id=order.member_id, source_type="order", source_id=str(order.pk), points__gt=0
    ).exists():
        return []
    return points.reverse_earning(
        order.member,
        source=("order", str(order.pk)),
        key=system_key("refund", "order", order.pk),
        reason=_("Order #%(id)s refunded") % {"id": order.pk},
        now=now,
    )
