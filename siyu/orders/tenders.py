"""Tenders: ways to pay an order that apps above orders provide (stored value: ``"balance"``).

orders imports nothing above it. An app that can take an order's money itself — not through the payment
provider — registers a *tender* in its ``AppConfig.ready()``:

- ``method``: the ``Order.payment_method`` a settled order gets (a ``PaymentMethod`` value, e.g.
  ``"balance"``);
- ``settle(order, key)``: take ``order.total_fen`` from ``order.member`` for ``order`` — or raise (a
  ``ServiceError`` such as Conflict ``insufficient_balance``) to refuse. Called by
  ``siyu.orders.services.tender_pay.pay_with_tender`` inside the transaction that marks the order paid, so the
  money and the order's status commit together or not at all. ``key`` is a system key fixed per order
  (``sys:order:<id>:tender:pay``): applying it twice must take the money once;
- ``refund(order, key)``: give ``order.total_fen`` back the way it was taken. Called wherever orders refunds
  an order through its payment (staff refund, return, automatic refund:
  ``refund_provider.refund_through_provider``), inside that change's transaction; ``key`` is fixed per order
  (``sys:order:<id>:tender:refund``), so a repeated call gives the money back once. Raising refuses the
  refund (nothing changes).

A tender's callables must touch only their own app's rows and stay quick (they run under the order's row
lock).
Registering the same method again replaces it (``ready()`` may run twice in tests); ``register_tender``
returns a function that unregisters it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from siyu.orders.models import Order

Settle = Callable[[Order, str], None]
Refund = Callable[[Order, str], None]


@dataclass(frozen=True)
class Tender:
    method: str
    settle: Settle
    refund: Refund


_tenders: dict[str, Tender] = {}
MAX_METHOD_LENGTH = 16  # Order.payment_method


def register_tender(method: str, *, settle: Settle, refund: Refund) -> Callable[[], None]:
    """Register the tender ``method`` (see the module). Returns a function that unregisters it."""
    if not method or len(method) > MAX_METHOD_LENGTH or not method.replace("_", "").isalnum():
        raise ValueError(f"a tender's method is a short word: {method!r}")
    _tenders[method] = Tender(method=method, settle=settle, refund=refund)
    return partial(_unregister, method)


def _unregister(method: str) -> None:
    _tenders.pop(method, None)


def tender_for(method: str) -> Tender | None:
    """The registered tender of ``method`` (an order's ``payment_method``), or None (the provider's, or
    paying at pickup)."""
    return _tenders.get(method)


def known_tenders() -> frozenset[str]:
    return frozenset(_tenders)
