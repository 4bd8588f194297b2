"""What incentives listens to, registered in ``IncentivesConfig.ready()``: joins (``siyu.communities.hooks``,
after commit) and every order's payment and refund (``siyu.orders.hooks``, side effects after commit: a
failure is logged and never undoes the order or the join)."""

from __future__ import annotations

from siyu.communities import hooks as community_hooks
from siyu.communities.hooks import MemberJoined
from siyu.incentives.services import attribution
from siyu.orders import hooks as order_hooks
from siyu.orders.models import Order


def on_member_joined(joined: MemberJoined) -> None:
    attribution.credit_member_join(joined)


def on_paid(order: Order) -> None:
    attribution.credit_paid_order(order)


def on_refunded(order: Order) -> None:
    attribution.debit_refunded_order(order)


def register() -> None:
    community_hooks.member_joined.register(on_member_joined)
    order_hooks.register("paid", on_paid, source=None, after_commit=True, name="incentives.order_paid")
    order_hooks.register(
        "refunded", on_refunded, source=None, after_commit=True, name="incentives.order_refunded"
    )
