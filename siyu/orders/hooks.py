"""Order lifecycle hooks: how apps above orders hear about an order's life without orders importing them.

orders publishes named points; other apps register handlers in their ``AppConfig.ready()``. Handlers are
keyed by ``order.source`` (the kind of sale that placed the order, e.g. ``"mall"``); a handler registered
with ``source=None`` receives every order and filters itself (benefits such as points will want that).

Two kinds of handler, chosen when registering:

- **invariant** (default): runs inside the transaction of the change (the order's status UPDATE, its stock
  release…), so what it keeps in step (units of a sale, places of a team, quotas) commits or rolls back with
  the order. It must be quick, touch only its own app's rows and raise only to refuse the whole change.
- **side effect** (``after_commit=True``): runs through ``transaction.on_commit`` once the change is
  committed (robot posts, notifications, points later); a failure there is logged, never undoes the order.

Points (``HookPoint``):

============== =================================================================================
``created``    an order was placed (inside the constructor's transaction; batch form: each order)
``paid``       pending_payment → paid (online notice or at the counter)
``picked_up``  every line handed over (→ picked_up)
``released``   what the order still held goes back (cancelled, expired, refunded); orders gives the
               store listing's stock back itself when the order reserved it (``Order.holds_listing_stock``)
``closed``     pending_payment → cancelled or expired (``order.status`` tells which)
``refunded``   → refunded (by staff or automatically)
``late_payment`` money arrived for an order already cancelled/expired (before its automatic refund)
============== =================================================================================

and one guard: ``pickup_guard`` handlers return a ``PickupRefusal`` to refuse handing an order over (the
counter shows the reason), or None to allow it.

And one question: ``member_price_eligible(member_id)`` — may this member buy at SKUs' member prices? Apps
above orders answer through ``register_member_price_rule`` (loyalty: by the member's tier); a rule returns
True/False, or None when it has no opinion. Nobody answering means yes; any False means no.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Literal

from django.db import transaction

from siyu.orders.models import Order

logger = logging.getLogger("siyu.orders.hooks")

HookPoint = Literal["created", "paid", "picked_up", "released", "closed", "refunded", "late_payment"]
POINTS: tuple[HookPoint, ...] = (
    "created",
    "paid",
    "picked_up",
    "released",
    "closed",
    "refunded",
    "late_payment",
)

Handler = Callable[[Order], None]


@dataclass(frozen=True)
class PickupRefusal:
    """Why an order may not be handed over now: ``code`` for clients, ``message`` for the counter."""

    code: str
    message: str


PickupGuard = Callable[[Order], PickupRefusal | None]
MemberPriceRule = Callable[[int], bool | None]


@dataclass(frozen=True)
class _Registration:
    name: str
    source: str | None
    handler: Handler
    after_commit: bool


_handlers: dict[HookPoint, dict[str, _Registration]] = {point: {} for point in POINTS}
_guards: dict[str, tuple[str | None, PickupGuard]] = {}
_member_price_rules: dict[str, MemberPriceRule] = {}
_sources: set[str] = {"mall"}
MAX_SOURCE_LENGTH = 16  # Order.source


def register_source(source: str) -> None:
    """Declare a kind of sale that places orders (``Order.source``); the order constructor refuses others."""
    if not source or len(source) > MAX_SOURCE_LENGTH or not source.replace("_", "").isalnum():
        raise ValueError(f"an order source is a short word: {source!r}")
    _sources.add(source)


def known_sources() -> frozenset[str]:
    return frozenset(_sources)


def _name(func: Callable[..., object]) -> str:
    return f"{getattr(func, '__module__', '?')}.{getattr(func, '__qualname__', repr(func))}"


def register(
    point: HookPoint,
    handler: Handler,
    *,
    source: str | None,
    after_commit: bool = False,
    name: str | None = None,
) -> Callable[[], None]:
    """Register ``handler`` for ``point`` on orders of ``source`` (None: every order). Registering the same
    name again replaces it (``ready()`` may run twice in tests). Returns a function that unregisters it."""
    if point not in _handlers:
        raise ValueError(f"unknown order hook point {point!r}")
    key = name or _name(handler)
    _handlers[point][key] = _Registration(key, source, handler, after_commit)
    return partial(_unregister, point, key)


def _unregister(point: HookPoint, key: str) -> None:
    _handlers[point].pop(key, None)


def register_pickup_guard(
    guard: PickupGuard, *, source: str | None, name: str | None = None
) -> Callable[[], None]:
    """Register a pickup guard for orders of ``source`` (None: every order). Returns its unregister."""
    key = name or _name(guard)
    _guards[key] = (source, guard)

    def unregister() -> None:
        _guards.pop(key, None)

    return unregister


def _wanted(registration_source: str | None, order: Order) -> bool:
    return registration_source is None or registration_source == order.source


def _side_effect(registration: _Registration, order: Order) -> None:
    try:
        registration.handler(order)
    except Exception:
        logger.exception("order hook %s failed for order %s", registration.name, order.pk)


def fire(point: HookPoint, order: Order) -> None:
    """Run ``point``'s handlers for ``order``: invariant ones now (call inside the change's transaction),
    side-effect ones after commit."""
    for registration in list(_handlers[point].values()):
        if not _wanted(registration.source, order):
            continue
        if registration.after_commit:
            transaction.on_commit(partial(_side_effect, registration, order))
        else:
            registration.handler(order)


def has_handlers(point: HookPoint, source: str) -> bool:
    """Whether any handler listens to ``point`` for orders of ``source`` (lets batch writers skip work)."""
    return any(r.source is None or r.source == source for r in _handlers[point].values())


def pickup_refusal(order: Order) -> PickupRefusal | None:
    """The first refusal of a registered pickup guard for ``order``, or None when it may be handed over."""
    for source, guard in list(_guards.values()):
        if source is not None and source != order.source:
            continue
        refusal = guard(order)
        if refusal is not None:
            return refusal
    return None


def register_member_price_rule(rule: MemberPriceRule, *, name: str | None = None) -> Callable[[], None]:
    """Register a rule answering "may member X buy at member prices?" (True, False, or None: no opinion).
    Registering the same name again replaces it. Returns its unregister."""
    key = name or _name(rule)
    _member_price_rules[key] = rule

    def unregister() -> None:
        _member_price_rules.pop(key, None)

    return unregister


def member_price_eligible(member_id: int) -> bool:
    """Whether the member may buy at member prices: yes unless a registered rule says no."""
    return all(rule(member_id) is not False for rule in list(_member_price_rules.values()))
