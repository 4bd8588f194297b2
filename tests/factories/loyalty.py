"""Loyalty builders (issue 11). Each loyalty helper keeps their builders in their own block below."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from django.utils import timezone

from siyu.catalog.models import Sku

# --- coupons (helper "coupons") ------------------------------------------------------------------------
from siyu.loyalty.models import Coupon, CouponSource, CouponTemplate, EarnRule, MallItem, PointsEntry, Tier
from siyu.loyalty.services import coupons as coupon_service
from siyu.loyalty.services import points
from siyu.members.models import Member
from siyu.org.models import Brand


def make_coupon_template(brand: Any, **fields: Any) -> CouponTemplate:
    """A coupon template: by default 10 yuan off, valid for 30 days after issue, one per member."""
    stores = fields.pop("stores", ())
    products = fields.pop("products", ())
    categories = fields.pop("categories", ())
    values: dict[str, Any] = {
        "name": "满减券",
        "kind": CouponTemplate.Kind.FIXED,
        "amount_fen": 1000,
        "valid_days": 30,
    }
    values.update(fields)
    if values.get("valid_until") is not None and "valid_days" not in fields:
        values["valid_days"] = None
    template = CouponTemplate.objects.create(brand=brand, **values)
    template.stores.set(stores)
    template.products.set(products)
    template.categories.set(categories)
    return template


def give_coupon(template: CouponTemplate, member: Any, *, key: str | None = None, **kwargs: Any) -> Coupon:
    """Issue one coupon of ``template`` to ``member`` through the service (source: manual)."""
    kwargs.setdefault("source", CouponSource.MANUAL)
    return coupon_service.issue(template, member, key=key or f"sys:test:{uuid.uuid4().hex}", **kwargs)


def window_days(days: int) -> dict[str, Any]:
    """``valid_from``/``valid_until`` for a window from now for ``days`` days."""
    now = timezone.now()
    return {"valid_from": now - timedelta(minutes=1), "valid_until": now + timedelta(days=days)}


# --- end coupons ---------------------------------------------------------------------------------------


# --- mall helper: purchase rules, tiers, points-mall items, points ----------------------------------------


def credit_points(member: Member, amount: int, **kwargs: object) -> PointsEntry:
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
# --- redpack: red packets, budgets, rules (helper "redpack") ------------------------------------------
from siyu.communities.models import Community, CommunityMembership, MemberRole  # noqa: E402
from siyu.loyalty.models import PointsBudget, RedPacket  # noqa: E402
from siyu.loyalty.services import red_packets  # noqa: E402
from siyu.org.models import Staff  # noqa: E402


def give_budget(brand: Brand, remaining: int) -> PointsBudget:
    """The brand's red-packet budget set to ``remaining`` points (a plain row)."""
    budget, _created = PointsBudget.objects.update_or_create(brand=brand, defaults={"remaining": remaining})
    return budget


def give_points(member: Member, amount: int, key: str = "seed") -> None:
    """Credit ``amount`` points to ``member`` through the ledger."""
    points.earn(member, amount, key=f"sys:test:{key}:{member.pk}", reason="test")


def make_kol(member: Member, group: Community) -> Member:
    """An active KOL membership of ``member`` in ``group`` (a plain row)."""
    CommunityMembership.objects.create(community=group, member=member, role=MemberRole.KOL)
    return member


def drop_packet(
    staff: Staff, group: Community, total: int = 100, shares: int = 10, **extra: Any
) -> RedPacket:
    """A red packet dropped by ``staff`` in ``group`` (the brand needs budget: ``give_budget``)."""
    return red_packets.drop_by_staff(
        staff,
        group.pk,
        total=total,
        shares=shares,
        key=extra.pop("key", f"rp-{group.pk}-{total}-{shares}"),
        **extra,
    )


def make_rule(brand: Brand, kind: str = EarnRule.Kind.CHECKIN, **fields: Any) -> EarnRule:
    """A plain earn rule row (check-in, 5 points unless given)."""
    return EarnRule.objects.create(
        brand=brand, kind=kind, name=fields.pop("name", "签到"), points=fields.pop("points", 5), **fields
    )


# --- end redpack --------------------------------------------------------------------------------------


# --- svcore: stored value (储值) ----------------------------------------------------------------------------
from siyu.loyalty.models import RechargeRule, StoredValuePolicy  # noqa: E402
from siyu.loyalty.services import stored_value as sv_service  # noqa: E402


def recharge_rule(
    brand: Brand, threshold_fen: int, bonus_fen: int = 0, gift: str = "", **fields: Any
) -> RechargeRule:
    """A recharge tier: recharging at least ``threshold_fen`` gives ``bonus_fen`` and/or ``gift``."""
    stores = fields.pop("stores", ())
    rule = RechargeRule.objects.create(
        brand=brand,
        name=fields.pop("name", f"充{threshold_fen // 100}"),
        threshold_fen=threshold_fen,
        bonus_fen=bonus_fen,
        gift=gift,
        **fields,
    )
    rule.stores.set(stores)
    return rule


def sv_policy(brand: Brand, **fields: Any) -> StoredValuePolicy:
    """The brand's stored-value settings, created or changed."""
    policy, _ = StoredValuePolicy.objects.update_or_create(brand=brand, defaults=fields)
    return policy


def sv_recharge(
    member: Member, amount_fen: int, *, key: str | None = None, **kwargs: Any
) -> sv_service.RechargeResult:
    """A counter recharge by the system (key ``sys:test:…`` unless given)."""
    kwargs.setdefault("store", member.home_store)
    return sv_service.recharge(
        member,
        amount_fen,
        key=key or f"sys:test:{uuid.uuid4().hex}",
        actor_ref=kwargs.pop("actor_ref", "system:0"),
        **kwargs,
    )


# --- end svcore -----------------------------------------------------------------------------------------
