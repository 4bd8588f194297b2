"""Bulk set-up of loyalty (demo chains, benchmarks): earn rules, tiers, coupon templates with their scope, and
points-mall items written in a few inserts.

No person acts here, so there is no capability check or audit per row (the console and API go through
``rule_admin``, ``coupons_admin`` and the mall/tier services); every row must belong to ``brand``
(ValidationFailed otherwise) and everything is all or nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from django.db import transaction
from django.utils.translation import gettext as _

from siyu.common.errors import ValidationFailed
from siyu.loyalty.models import CouponTemplate, EarnRule, MallItem, RechargeRule, StoredValuePolicy, Tier
from siyu.org.models import Brand

BATCH = 2000


def _own(brand: Brand, rows: Sequence[EarnRule | Tier | CouponTemplate | MallItem | RechargeRule]) -> None:
    for row in rows:
        if row.brand_id is None:
            row.brand = brand
        elif row.brand_id != brand.pk:
            raise ValidationFailed(_("Every row must belong to the brand."), field="brand")


@transaction.atomic
def add_earn_rules(brand: Brand, rules: Sequence[EarnRule]) -> list[EarnRule]:
    _own(brand, rules)
    return EarnRule.objects.bulk_create(rules, batch_size=BATCH)


@transaction.atomic
def add_tiers(brand: Brand, tiers: Sequence[Tier]) -> list[Tier]:
    _own(brand, tiers)
    return Tier.objects.bulk_create(tiers, batch_size=BATCH)


@transaction.atomic
def add_coupon_templates(
    brand: Brand,
    templates: Sequence[CouponTemplate],
    *,
    stores: Iterable[tuple[int, int]] = (),
    categories: Iterable[tuple[int, int]] = (),
    products: Iterable[tuple[int, int]] = (),
) -> list[CouponTemplate]:
    """Create ``templates``, then scope them: ``stores``/``categories``/``products`` are (index into
    ``templates``, store/category/product id) pairs."""
    _own(brand, templates)
    made = CouponTemplate.objects.bulk_create(templates, batch_size=BATCH)
    stores_through = CouponTemplate.stores.through
    stores_through.objects.bulk_create(
        [stores_through(coupontemplate_id=made[i].pk, store_id=pk) for i, pk in stores], batch_size=BATCH
    )
    categories_through = CouponTemplate.categories.through
    categories_through.objects.bulk_create(
        [categories_through(coupontemplate_id=made[i].pk, category_id=pk) for i, pk in categories],
        batch_size=BATCH,
    )
    products_through = CouponTemplate.products.through
    products_through.objects.bulk_create(
        [products_through(coupontemplate_id=made[i].pk, product_id=pk) for i, pk in products],
        batch_size=BATCH,
    )
    return made


@transaction.atomic
def add_mall_items(brand: Brand, items: Sequence[MallItem]) -> list[MallItem]:
    _own(brand, items)
    for item in items:
        template = item.coupon_template
        if template is not None and template.brand_id != brand.pk:
            raise ValidationFailed(_("Every row must belong to the brand."), field="coupon_template")
    return MallItem.objects.bulk_create(items, batch_size=BATCH)


@transaction.atomic
def add_recharge_rules(brand: Brand, rules: Sequence[RechargeRule]) -> list[RechargeRule]:
    """Stored-value recharge tiers of ``brand`` (every store)."""
    _own(brand, rules)
    return RechargeRule.objects.bulk_create(rules, batch_size=BATCH)


@transaction.atomic
def set_stored_value_policy(brand: Brand, **fields: object) -> StoredValuePolicy:
    """The brand's stored-value settings (cap, bonus, custody, the online recharge SKU of the brand)."""
    sku = fields.get("recharge_sku")
    if sku is not None and getattr(getattr(sku, "product", None), "brand_id", None) != brand.pk:
        raise ValidationFailed(_("Every row must belong to the brand."), field="recharge_sku")
    policy, _created = StoredValuePolicy.objects.update_or_create(brand=brand, defaults=fields)
    return policy
