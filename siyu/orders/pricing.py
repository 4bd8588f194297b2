"""The checkout pricing step: an ordered list of price adjusters, each returning typed adjustment lines.

Every line starts at its base unit price — the SKU's list price, or the unit price the selling campaign
fixed (a flash-sale or group price). Then the registered adjusters run in order (``position``, then name);
each sees the lines and the adjustments so far and returns ``Adjustment`` lines:

- ``amount_fen`` is signed: negative lowers the price (a discount, points deducted, stored value paid),
  positive raises it (a fee);
- with ``listing_id`` the adjustment belongs to that line and must be a whole number of fen per unit (the
  line's ``unit_price_fen`` is its base price plus its per-unit adjustments); without it, it belongs to the
  whole order (coupons, points deduction, stored-value payment).

The order's total is the base subtotal plus every adjustment; it may never go below zero (Conflict
``negative_total``; the ``order_total_not_negative`` constraint stands behind it). Every adjustment is stored
on the order (``OrderAdjustment``), so an order can say why it cost what it cost.

**Options.** The buyer's choices for adjusters travel as ``options`` (a small ``{str: str}`` map, e.g.
``{"coupons": "12,15"}``), passed through ``checkout.create_order`` and part of its request hash; orders does
not read them — each adjuster reads its own key (ADR 0014). An adjuster that cannot honour a choice raises
(Conflict), and the order is refused.

The member price (``catalog.services.queries.member_unit_fen``) is the first adjuster, built in here; it
applies only to members the ``member_price_eligible`` question (``siyu.orders.hooks``) lets through.
Apps above orders (loyalty: coupons, points, stored value) register theirs in ``AppConfig.ready()``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from django.utils.translation import gettext as _

from siyu.catalog.models import Sku
from siyu.catalog.services.queries import member_unit_fen
from siyu.common.errors import Conflict
from siyu.orders import hooks

MAX_KIND = 32
MAX_LABEL = 100
MAX_REFERENCE = 64


@dataclass(frozen=True)
class PricedLine:
    """One line as priced so far."""

    listing_id: int
    sku: Sku
    quantity: int
    base_unit_fen: int  # list price, or the campaign's unit price
    campaign_priced: bool  # the selling campaign fixed the unit price


@dataclass(frozen=True)
class Adjustment:
    """One reason the price differs from the base: kind (``member_price``, ``coupon``…), a label people
    read, the signed amount in fen for the whole line or order, and what it refers to (coupon id…)."""

    kind: str
    label: str
    amount_fen: int
    reference: str = ""
    listing_id: int | None = None


@dataclass(frozen=True)
class PricingContext:
    """What an adjuster sees: who buys, where, from which sale, the lines and what ran before it."""

    member_id: int
    store_id: int
    source: str
    campaign_id: int | None
    lines: tuple[PricedLine, ...]
    adjustments: tuple[Adjustment, ...] = ()
    options: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def subtotal_fen(self) -> int:
        return sum(line.base_unit_fen * line.quantity for line in self.lines)

    @property
    def total_fen(self) -> int:
        """The price so far: base subtotal plus the adjustments of the adjusters before this one."""
        return self.subtotal_fen + sum(a.amount_fen for a in self.adjustments)


Adjuster = Callable[[PricingContext], Iterable[Adjustment]]


@dataclass(frozen=True)
class Priced:
    """The outcome: per-listing unit prices, every adjustment in order, and the total."""

    unit_fen: dict[int, int]
    adjustments: tuple[Adjustment, ...]
    total_fen: int = field(default=0)


_adjusters: dict[str, tuple[int, Adjuster]] = {}


def register_adjuster(name: str, adjuster: Adjuster, *, position: int) -> Callable[[], None]:
    """Add ``adjuster`` at ``position`` (lower runs first; the member price is at 100). Registering a name
    again replaces it. Returns a function that removes it."""
    _adjusters[name] = (position, adjuster)

    def unregister() -> None:
        _adjusters.pop(name, None)

    return unregister


def adjusters() -> list[tuple[str, Adjuster]]:
    """The adjusters in the order they run."""
    return [(name, fn) for name, (_pos, fn) in sorted(_adjusters.items(), key=lambda kv: (kv[1][0], kv[0]))]


def _check(adjustment: Adjustment, lines: dict[int, PricedLine], by: str) -> None:
    if not isinstance(adjustment, Adjustment):
        raise TypeError(f"price adjuster {by} returned {adjustment!r}")
    amount = adjustment.amount_fen
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise TypeError(f"price adjuster {by}: amounts are whole fen")
    if not adjustment.kind or len(adjustment.kind) > MAX_KIND or len(adjustment.label) > MAX_LABEL:
        raise ValueError(f"price adjuster {by}: kind of 1-{MAX_KIND}, label up to {MAX_LABEL} characters")
    if len(adjustment.reference) > MAX_REFERENCE:
        raise ValueError(f"price adjuster {by}: reference up to {MAX_REFERENCE} characters")
    if adjustment.listing_id is not None:
        line = lines.get(adjustment.listing_id)
        if line is None:
            raise ValueError(f"price adjuster {by}: listing {adjustment.listing_id} is not in the order")
        if amount % line.quantity:
            raise ValueError(f"price adjuster {by}: a line adjustment is a whole number of fen per unit")


def price(
    *,
    member_id: int,
    store_id: int,
    source: str,
    campaign_id: int | None,
    lines: Sequence[PricedLine],
    options: Mapping[str, str] | None = None,
) -> Priced:
    """Run the adjusters over ``lines`` (see module guarantees), giving them the buyer's ``options``.
    Conflict ``negative_total`` when they would take the total, or a line's unit price, below zero."""
    frozen = MappingProxyType(dict(options or {}))
    ctx = PricingContext(member_id, store_id, source, campaign_id, tuple(lines), options=frozen)
    by_listing = {line.listing_id: line for line in lines}
    for name, adjuster in adjusters():
        added = tuple(adjuster(ctx))
        for adjustment in added:
            _check(adjustment, by_listing, name)
        if added:
            ctx = PricingContext(
                member_id, store_id, source, campaign_id, ctx.lines, ctx.adjustments + added, options=frozen
            )
        if ctx.total_fen < 0:
            raise Conflict(_("The price cannot go below zero."), field="items", code="negative_total")
    unit = {line.listing_id: line.base_unit_fen for line in lines}
    for adjustment in ctx.adjustments:
        if adjustment.listing_id is not None:
            unit[adjustment.listing_id] += adjustment.amount_fen // by_listing[adjustment.listing_id].quantity
    if any(fen < 0 for fen in unit.values()):
        raise Conflict(_("The price cannot go below zero."), field="items", code="negative_total")
    return Priced(unit_fen=unit, adjustments=ctx.adjustments, total_fen=ctx.total_fen)


def member_price(ctx: PricingContext) -> list[Adjustment]:
    """The first adjuster: a SKU's member price replaces its list price on lines no campaign priced, for
    members eligible for member prices (``hooks.member_price_eligible``: loyalty decides by tier)."""
    if not any(not line.campaign_priced for line in ctx.lines):
        return []
    if not hooks.member_price_eligible(ctx.member_id):
        return []
    out = []
    for line in ctx.lines:
        if line.campaign_priced:
            continue
        per_unit = member_unit_fen(line.sku) - line.base_unit_fen
        if per_unit:
            out.append(
                Adjustment(
                    kind="member_price",
                    label=_("Member price"),
                    amount_fen=per_unit * line.quantity,
                    reference=f"sku:{line.sku.pk}",
                    listing_id=line.listing_id,
                )
            )
    return out


register_adjuster("member_price", member_price, position=100)
