"""What campaigns plug into orders (``siyu.orders.hooks``), registered in ``CampaignsConfig.ready()``.

- Flash-sale orders hold units of their sale, not the store listing's stock: when such an order ends
  (cancelled, expired, refunded) the ``released`` hook gives the units back to the sale, inside the
  transaction of the order's transition (an invariant: sold and quota counters).
- Group-buy orders: the ``paid`` hook counts the member's place (and may form the team), inside
  ``mark_paid``'s transaction; the pickup guard refuses to hand over an order whose team has not formed.
"""

from __future__ import annotations

from django.utils.translation import gettext as _

from siyu.campaigns.services.flash_release import release_for_order
from siyu.campaigns.services.group_buys.reads import team_formed_for
from siyu.campaigns.services.group_buys.team_forming import on_order_paid
from siyu.campaigns.services.recharge_slots import holding
from siyu.orders import hooks
from siyu.orders.models import Order, OrderSource


def group_buy_pickup_guard(order: Order) -> hooks.PickupRefusal | None:
    """A group-buy order is handed over only once its team formed (the member's order page shows this
    reason instead of the pickup code until then)."""
    if team_formed_for(order):
        return None
    return hooks.PickupRefusal("group_buy_not_formed", _("You can pick up once the group buy team forms."))


def register() -> None:
    hooks.register_source(OrderSource.FLASH_SALE)
    hooks.register_source(OrderSource.GROUP_BUY)
    hooks.register("released", release_for_order, source=OrderSource.FLASH_SALE)
    hooks.register("paid", on_order_paid, source=OrderSource.GROUP_BUY)
    hooks.register_pickup_guard(group_buy_pickup_guard, source=OrderSource.GROUP_BUY)
    # Recharge-slot deposits are flash-sale orders of a slot campaign (holding.py).
    hooks.register("paid", holding.on_deposit_paid, source=OrderSource.FLASH_SALE)
    hooks.register("refunded", holding.on_deposit_refunded, source=OrderSource.FLASH_SALE)
    hooks.register_pickup_guard(holding.deposit_pickup_guard, source=OrderSource.FLASH_SALE)
