"""The demo chain's loyalty: a check-in rule (5 points, bonuses on day 7 and 30, make-up for 20 points), a
purchase rule (1 point a yuan), three tiers, points-mall items (coupons and products for pickup) and a points
history for the demo member (the first member of the first store); stored value: recharge tiers, the policy,
an unlisted recharge product for online recharge and the demo member's recharge. Created once per brand;
points and stored value go through the loyalty services."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction

from siyu.catalog.models import Product, Sku, StoreListing
from siyu.catalog.services import bulk as catalog_bulk
from siyu.loyalty.models import CouponTemplate, EarnRule, MallItem, RechargeRule, Tier
from siyu.loyalty.services import bulk as loyalty_bulk
from siyu.loyalty.services import checkin, points, tiers
from siyu.loyalty.services import stored_value as sv
from siyu.members.models import Member
from siyu.org.models import Brand, Store

MALL_PRODUCTS = ((300, 3), (600, 2), (900, 1))  # (points, per member) of the first hot products


def demo_member(brand: Brand) -> Member | None:
    store = Store.objects.filter(brand=brand).order_by("code", "id").first()
    members = Member.objects.filter(brand=brand, erased_at__isnull=True)
    if store is not None:
        members = members.filter(home_store=store)
    return members.order_by("id").first()


def _tiers(brand: Brand) -> None:
    loyalty_bulk.add_tiers(
        brand,
        [
            Tier(
                name=name,
                threshold=threshold,
                multiplier_percent=multiplier,
                member_price=member_price,
                grace_days=grace,
            )
            for name, threshold, multiplier, member_price, grace in (
                ("银卡", 0, 100, False, 0),
                ("金卡", 1000, 150, True, 30),
                ("钻石", 5000, 200, True, 30),
            )
        ],
    )


def _mall(brand: Brand) -> int:
    [coupon] = loyalty_bulk.add_coupon_templates(
        brand,
        [
            CouponTemplate(
                name="10元无门槛券",
                kind=CouponTemplate.Kind.FIXED,
                amount_fen=1000,
                valid_days=30,
                member_limit=3,
            )
        ],
    )
    items = [
        MallItem(
            kind=MallItem.Kind.COUPON,
            name="10元无门槛券",
            description="全场通用，兑换后30天内有效",
            points=200,
            stock=500,
            member_limit=3,
            coupon_template=coupon,
            position=1,
        )
    ]
    skus = list(
        Sku.objects.filter(product__brand=brand, active=True, product__active=True)
        .order_by("-product__is_hot", "product_id", "id")
        .select_related("product")
    )
    seen: set[int] = set()
    made = 1
    for sku in skus:
        if made > len(MALL_PRODUCTS) or sku.product_id in seen:
            continue
        seen.add(sku.product_id)
        price, limit = MALL_PRODUCTS[made - 1]
        items.append(
            MallItem(
                kind=MallItem.Kind.PRODUCT,
                name=sku.product.name[:60],
                description="到店自提",
                points=price,
                stock=50,
                member_limit=limit,
                sku=sku,
                position=made + 1,
            )
        )
        made += 1
    loyalty_bulk.add_mall_items(brand, items)
    return made


def _history(member: Member, now: datetime) -> None:
    points.earn(
        member,
        1280,
        key=f"sys:demo:purchase:{member.pk}",
        reason="订单积分（演示）",
        source=("demo", "purchase"),
        now=now - timedelta(days=40),
    )
    points.spend(
        member,
        200,
        key=f"sys:demo:spend:{member.pk}",
        reason="积分商城：10元无门槛券（演示）",
        now=now - timedelta(days=20),
    )
    for back in range(6, 0, -1):
        checkin.check_in(member, now=now - timedelta(days=back))
    tiers.evaluate(member, now=now)


RECHARGE_SKU = "SV-RECHARGE"


def _stored_value(brand: Brand, member: Member | None, now: datetime) -> None:
    """Recharge tiers (¥500 → ¥30, ¥1,000 → ¥100, ¥3,000 → an air purifier), the policy (cap ¥5,000, 40 %
    custody), an unlisted recharge product at every store for online recharge (the SANDBOX cashier), and the
    demo member's ¥1,000 counter recharge with one balance payment."""
    loyalty_bulk.add_recharge_rules(
        brand,
        [
            RechargeRule(name="充500送30", threshold_fen=50_000, bonus_fen=3_000),
            RechargeRule(name="充1000送100", threshold_fen=100_000, bonus_fen=10_000),
            RechargeRule(name="充3000送空气净化器", threshold_fen=300_000, gift="空气净化器一台"),
        ],
    )
    sku = Sku.objects.filter(code=f"{brand.code[:20]}-{RECHARGE_SKU}").first()
    if sku is None:
        product = Product(
            name="储值充值", subtitle="会员储值（线上充值用，不在商城展示）", description="储值充值"
        )
        [sku] = catalog_bulk.add_products(
            brand, [(product, [Sku(code=f"{brand.code[:20]}-{RECHARGE_SKU}", spec="", price_fen=1)])]
        )
        stores = Store.objects.filter(brand=brand).exclude(status=Store.Status.CLOSED)
        catalog_bulk.open_listings([StoreListing(store=s, sku=sku, stock=0, listed=False) for s in stores])
    loyalty_bulk.set_stored_value_policy(brand, recharge_sku=sku, custody_fen=40_000, custody_percent=40)
    if member is None or member.home_store is None:
        return
    sv.recharge(
        member,
        100_000,
        store=member.home_store,
        key=f"sys:demo:recharge:{member.pk}",
        actor_ref="system:0",
        source="counter",
        now=now - timedelta(days=10),
    )
    sv.pay(
        member,
        5_800,
        key=f"sys:demo:sv-pay:{member.pk}",
        store=member.home_store,
        source="demo",
        source_ref="counter",
        now=now - timedelta(days=3),
    )


@transaction.atomic
def seed_demo_loyalty(brand: Brand, now: datetime) -> bool:
    """Seed the brand's loyalty once; False when it already has earn rules."""
    if EarnRule.objects.filter(brand=brand).exists():
        return False
    loyalty_bulk.add_earn_rules(
        brand,
        [
            EarnRule(
                kind=EarnRule.Kind.CHECKIN,
                name="每日签到",
                points=5,
                config={"streak_bonus": {"7": 20, "30": 100}, "makeup_cost": 20, "makeup_days": 7},
            ),
            EarnRule(kind=EarnRule.Kind.PURCHASE, name="消费积分（每元1分）", points=1),
        ],
    )
    _tiers(brand)
    _mall(brand)
    member = demo_member(brand)
    if member is not None:
        _history(member, now)
    _stored_value(brand, member, now)
    return True
