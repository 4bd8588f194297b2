"""What loyalty plugs into orders (``siyu.orders.hooks``, ``siyu.orders.pricing``), registered in
``LoyaltyConfig.ready()``; orders knows nothing of loyalty.

- Purchase points: credited when any order is picked up (``picked_up``), taken back when it is refunded
  (``refunded``) — invariant handlers, inside the order's transition, so points and order move together.
- Member prices by tier: loyalty answers orders' ``member_price_eligible`` question
  (``tiers.member_price_allowed``), so the built-in member-price adjuster applies only to members whose level
  grants it (or everyone, when the brand has no levels).
- The points mall places orders of its own source ``points_mall``; their price is paid with points (an
  adjuster after the member price brings the total to zero); when such an order ends without pickup the
  ``released`` hook returns the exchange (points and stock) in the same transaction.
- Online recharge places orders of its own source ``recharge``: the ``paid`` hook credits the stored value
  once (``recharge_online.credit_paid_order``), the ``refunded`` hook takes the principal back.
- Stored value pays orders: the ``balance`` tender (``siyu.orders.tenders``,
  ``services.balance_orders``) takes an order's total from the member's balance at checkout and puts it back
  (principal to principal, bonus to bonus) when orders refunds the order.
"""

from __future__ import annotations

from siyu.loyalty.services import balance_orders, mall, purchase, recharge_online, tiers
from siyu.orders import hooks, pricing, tenders
from siyu.orders.models import Order

# After the member price (100), before coupons (300): a points-mall order leaves nothing for a coupon.
PAID_WITH_POINTS_POSITION = 150


def on_picked_up(order: Order) -> None:
    purchase.credit_order(order)


def on_refunded(order: Order) -> None:
    purchase.claw_back_order(order)


def register() -> None:
    hooks.register_source(mall.SOURCE)
    hooks.register("picked_up", on_picked_up, source=None, name="loyalty.purchase_points")
    hooks.register("refunded", on_refunded, source=None, name="loyalty.purchase_clawback")
    hooks.register_member_price_rule(tiers.member_price_allowed, name="loyalty.tier_member_price")
    hooks.register("released", mall.return_for_order, source=mall.SOURCE, name="loyalty.mall_return")
    hooks.register_source(recharge_online.SOURCE)
    hooks.register(
        "paid",
        recharge_online.credit_paid_order,
        source=recharge_online.SOURCE,
        name="loyalty.recharge_credit",
    )
    hooks.register(
        "refunded",
        recharge_online.take_back_refunded_order,
        source=recharge_online.SOURCE,
        name="loyalty.recharge_refund",
    )
    pricing.register_adjuster("paid_with_points", mall.paid_with_points, position=PAID_WITH_POINTS_POSITION)
    tenders.register_tender(
        balance_orders.METHOD, settle=balance_orders.settle_order, refund=balance_orders.refund_order
    )
