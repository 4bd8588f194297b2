"""loyalty: earn rules, tiers, points-mall items and points, built through the loyalty services where they
have rules. Each helper of issue 11 adds its builders in its own block below."""

from __future__ import annotations

import uuid

from siyu.catalog.models import Sku
from siyu.loyalty.models import EarnRule, MallItem, PointsEntry, Tier
from siyu.loyalty.services import points
from siyu.members.models import Member
from siyu.org.models import Brand

# --- mall helper: purchase rules, tiers, points-mall items, points ----------------------------------------


def give_points(member: Member, amount: int, **kwargs: object) -> PointsEntry:
    """Credit ``amount`` points to ``member`` (a fresh system key)."""
    return points.earn(member, amount, key="sys:test:" + uuid.uuid4().hex, **kwargs)  # type: ignore[arg-type]


def purchase_rule(brand: Brand, points_per_yuan: int = 1, **fields: object) -> EarnRule:
    """A purchase earn rule for the whole chain (``products``/``categories``/``stores`` lists set after)."""
    m2m = {name: fields.pop(name) for name in ("products", "categories", "stores") if name in fields}
    rule = EarnRule.objects.create(
        brand=brand,
        kind=EarnRule.Kind.PURCHASE,
        name=str(fields.pop("name", "消费积分")),
        points=points_per_yuan,
        **fields,  # type: ignore[arg-type]
    )
    for name, values in m2m.items():
        getattr(rule, name).set(values)
    return rule


def three_tiers(brand: Brand, *, grace_days: int = 0) -> list[Tier]:
    """银卡 (0), 金卡 (1,000 earned, 1.5×), 钻石 (5,000 earned, 2×)."""
    return [
        Tier.objects.create(
            brand=brand, name="银卡", threshold=0, multiplier_percent=100, member_price=False
        ),
        Tier.objects.create(
            brand=brand, name="金卡", threshold=1000, multiplier_percent=150, grace_days=grace_days
        ),
        Tier.objects.create(
            brand=brand, name="钻石", threshold=5000, multiplier_percent=200, grace_days=grace_days
        ),
    ]


def mall_product_item(
    brand: Brand, sku: Sku, *, points_price: int = 100, stock: int = 10, member_limit: int | None = None
) -> MallItem:
    return MallItem.objects.create(
        brand=brand,
        kind=MallItem.Kind.PRODUCT,
        name=sku.product.name,
        points=points_price,
        stock=stock,
        member_limit=member_limit,
        sku=sku,
    )


# --- end of the mall helper's block -------------------------------------------------------------------------
