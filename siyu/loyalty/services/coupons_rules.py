"""What a coupon is worth on a basket, and its rules in a sentence (pure functions over loaded rows).

Guarantees:

- **Scope.** A coupon applies at a store in its template's stores (none: every store) and to the lines whose
  product is one of its products or lies in one of its categories or their subcategories (neither: every
  line). At the counter there are no lines: the whole sale amount is in scope (the clerk checks the goods).
- **Worth.** fixed: the amount, at most what is in scope; percent: that percentage of what is in scope,
  rounded down to the fen, at most the cap (when set); threshold (满X减Y): the amount once what is in scope
  reaches X; gift: nothing off — the gift SKU is handed over — and its price is what it costs the budget.
  A minimum spend (``threshold_fen``) applies to every kind. None when it does not apply.
- **Stacking.** Coupons that are not stackable are used alone; stackable ones combine with each other.
- **Best.** ``best_choice`` picks the combination worth the most: the best single coupon, or every usable
  stackable coupon (each on what the previous ones left), whichever takes more off.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.catalog.models import Category
from siyu.common.validators import fen_to_yuan
from siyu.loyalty.models import Coupon, CouponTemplate

Kind = CouponTemplate.Kind
MAX_STACK = 5  # coupons combined in one choice; the checkout takes at most this many


@dataclass(frozen=True)
class Scope:
    store_ids: frozenset[int]
    product_ids: frozenset[int]
    category_ids: frozenset[int]  # with every subcategory

    def at_store(self, store_id: int) -> bool:
        return not self.store_ids or store_id in self.store_ids

    @property
    def every_line(self) -> bool:
        return not self.product_ids and not self.category_ids

    def covers(self, product_id: int | None, category_id: int | None) -> bool:
        return (
            self.every_line
            or (product_id is not None and product_id in self.product_ids)
            or (category_id is not None and category_id in self.category_ids)
        )


@dataclass(frozen=True)
class BasketLine:
    product_id: int | None
    category_id: int | None
    amount_fen: int  # what the line costs so far (quantity × unit, after line adjustments)


@dataclass(frozen=True)
class Worth:
    discount_fen: int  # taken off the price
    cost_fen: int  # charged to the store's budget (the discount, or the gift's price)


def _with_children(brand_id: int, ids: set[int]) -> frozenset[int]:
    if not ids:
        return frozenset()
    parents = dict(Category.objects.filter(brand_id=brand_id).values_list("pk", "parent_id"))
    out = set(ids)
    changed = True
    while changed:
        changed = False
        for pk, parent in parents.items():
            if parent in out and pk not in out:
                out.add(pk)
                changed = True
    return frozenset(out)


def scopes_of(templates: Iterable[CouponTemplate]) -> dict[int, Scope]:
    """Each template's scope, in three queries for all of them."""
    items = list(templates)
    ids = [t.pk for t in items]
    stores: dict[int, set[int]] = {pk: set() for pk in ids}
    products: dict[int, set[int]] = {pk: set() for pk in ids}
    categories: dict[int, set[int]] = {pk: set() for pk in ids}
    for tid, sid in CouponTemplate.stores.through.objects.filter(coupontemplate_id__in=ids).values_list(
        "coupontemplate_id", "store_id"
    ):
        stores[tid].add(sid)
    for tid, pid in CouponTemplate.products.through.objects.filter(coupontemplate_id__in=ids).values_list(
        "coupontemplate_id", "product_id"
    ):
        products[tid].add(pid)
    for tid, cid in CouponTemplate.categories.through.objects.filter(coupontemplate_id__in=ids).values_list(
        "coupontemplate_id", "category_id"
    ):
        categories[tid].add(cid)
    return {
        t.pk: Scope(
            frozenset(stores[t.pk]),
            frozenset(products[t.pk]),
            _with_children(t.brand_id, categories[t.pk]),
        )
        for t in items
    }


def scope_of(template: CouponTemplate) -> Scope:
    return scopes_of([template])[template.pk]


def in_scope_fen(scope: Scope, lines: Sequence[BasketLine]) -> int:
    return sum(line.amount_fen for line in lines if scope.covers(line.product_id, line.category_id))


def worth(template: CouponTemplate, eligible_fen: int, *, gift_price_fen: int = 0) -> Worth | None:
    """What ``template`` takes off ``eligible_fen`` (the amount in its scope), or None when it does not
    apply (nothing in scope, the minimum spend not reached)."""
    if eligible_fen <= 0 or eligible_fen < template.threshold_fen:
        return None
    if template.kind == Kind.GIFT:
        return Worth(0, gift_price_fen)
    if template.kind == Kind.PERCENT:
        off = eligible_fen * template.percent_off // 100
        if template.cap_fen:
            off = min(off, template.cap_fen)
    else:  # fixed, threshold
        off = min(template.amount_fen, eligible_fen)
    if off <= 0:
        return None
    return Worth(off, off)


def gift_price(template: CouponTemplate) -> int:
    sku = template.gift_sku
    return int(sku.member_price_fen or sku.price_fen) if sku is not None else 0


@dataclass(frozen=True)
class Choice:
    coupons: tuple[Coupon, ...]
    discounts: tuple[int, ...]

    @property
    def total_fen(self) -> int:
        return sum(self.discounts)


def apply_in_order(
    chosen: Sequence[Coupon], scopes: dict[int, Scope], lines: Sequence[BasketLine], total_fen: int
) -> tuple[int, ...] | None:
    """The discount of each chosen coupon in turn (each at most what the earlier ones left of the total),
    or None when one of them does not apply."""
    left = total_fen
    out = []
    for coupon in chosen:
        template = coupon.template
        value = worth(template, in_scope_fen(scopes[template.pk], lines), gift_price_fen=gift_price(template))
        if value is None:
            return None
        off = min(value.discount_fen, left)
        left -= off
        out.append(off)
    return tuple(out)


def stacking_ok(chosen: Sequence[Coupon]) -> bool:
    """Non-stackable coupons are used alone; stackable ones may combine; one coupon per use."""
    if len({c.pk for c in chosen}) != len(chosen):
        return False
    return len(chosen) <= 1 or all(c.template.stackable for c in chosen)


def best_choice(
    wallet: Sequence[Coupon], store_id: int, lines: Sequence[BasketLine], total_fen: int
) -> Choice | None:
    """The most valuable choice among ``wallet`` (coupons with templates loaded) for this basket."""
    scopes = scopes_of({c.template_id: c.template for c in wallet}.values())
    usable: list[tuple[Coupon, int]] = []
    for coupon in wallet:
        if not scopes[coupon.template_id].at_store(store_id):
            continue
        got = apply_in_order([coupon], scopes, lines, total_fen)
        if got is not None:
            usable.append((coupon, got[0]))
    if not usable:
        return None
    # Prefer more off, then the coupon that expires first.
    usable.sort(key=lambda cd: (-cd[1], cd[0].valid_until, cd[0].pk))
    single = Choice((usable[0][0],), (usable[0][1],))
    # At most MAX_STACK coupons: the checkout refuses a longer choice (coupons_checkout.MAX_CHOSEN).
    stack = [c for c, _off in usable if c.template.stackable][:MAX_STACK]
    if len(stack) > 1:
        got = apply_in_order(stack, scopes, lines, total_fen)
        if got is not None and sum(got) > single.total_fen:
            kept = [(c, d) for c, d in zip(stack, got, strict=True) if d > 0 or c.template.kind == Kind.GIFT]
            return Choice(tuple(c for c, _ in kept), tuple(d for _, d in kept))
    return single


def describe(template: CouponTemplate, *, store_names: Sequence[str] = ()) -> str:
    """The coupon's rules in one sentence, e.g. "满100元减10元；限朝阳店使用；可与其他券同时使用。"."""
    if template.kind == Kind.PERCENT:
        what = _("%(pct)s%% off") % {"pct": template.percent_off}
        if template.cap_fen:
            what += _(", at most ¥%(cap)s") % {"cap": fen_to_yuan(template.cap_fen)}
    elif template.kind == Kind.GIFT:
        sku = template.gift_sku
        name = f"{sku.product.name} {sku.spec}".strip() if sku is not None else ""
        what = _("A free %(gift)s") % {"gift": name}
    else:
        what = _("¥%(amount)s off") % {"amount": fen_to_yuan(template.amount_fen)}
    parts = [what]
    if template.threshold_fen:
        parts.insert(0, _("When you spend ¥%(min)s or more") % {"min": fen_to_yuan(template.threshold_fen)})
    if store_names:
        parts.append(_("only at %(stores)s") % {"stores": "、".join(store_names)})
    parts.append(
        _("can be combined with other coupons")
        if template.stackable
        else _("cannot be combined with other coupons")
    )
    return _("; ").join(parts) + _(".")


def valid_text(coupon: Coupon) -> str:
    """ "Valid until 12月31日 23:59" in Asia/Shanghai."""
    until = timezone.localtime(coupon.valid_until)
    return _("Valid until %(date)s") % {"date": until.strftime("%Y-%m-%d %H:%M")}
