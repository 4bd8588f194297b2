"""The demo chain's loyalty seed: rules, tiers, points-mall items and the demo member's points history."""

from __future__ import annotations

from django.utils import timezone

from siyu.loyalty.models import CheckIn, EarnRule, MallItem, Tier
from siyu.loyalty.services import points, tiers
from siyu.tooling.demo.loyalty import demo_member, seed_demo_loyalty
from tests.factories import two_cups_at


def test_seed_demo_loyalty_once(brand, store_a, hq_admin, member_a):
    two_cups_at(hq_admin, store_a)
    assert seed_demo_loyalty(brand, timezone.now())
    assert not seed_demo_loyalty(brand, timezone.now())
    checkin_rule = EarnRule.objects.get(brand=brand, kind=EarnRule.Kind.CHECKIN)
    assert checkin_rule.points == 5 and checkin_rule.config["makeup_cost"] == 20
    assert checkin_rule.config["streak_bonus"] == {"7": 20, "30": 100}
    assert EarnRule.objects.filter(brand=brand, kind=EarnRule.Kind.PURCHASE).count() == 1
    assert list(Tier.objects.filter(brand=brand).values_list("name", flat=True)) == ["银卡", "金卡", "钻石"]
    kinds = set(MallItem.objects.filter(brand=brand).values_list("kind", flat=True))
    assert kinds == {"coupon", "product"}
    member = demo_member(brand)
    assert member == member_a
    assert points.balance_of(member).shown == 1280 - 200 + 30
    assert CheckIn.objects.filter(member=member).count() == 6
    assert tiers.current_tier(member).name == "金卡"
