"""The tier's points multiplier applies to every earning under a rule: check-in (with its streak bonus and
make-up days), purchases, taking part — and to nothing else (red packets, returns, staff adjustments)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from siyu.loyalty.models import EarnRule, PointsEntry
from siyu.loyalty.services import checkin, participation, points, rules, tiers
from tests.factories import credit_points, make_rule, three_tiers

SH = ZoneInfo("Asia/Shanghai")


def gold(member, brand):
    three_tiers(brand)
    credit_points(member, 1000)
    assert tiers.evaluate(member).name == "金卡"  # 1.5×


def test_tier_points_rounds_down_once(brand, member_a):
    assert rules.tier_points(member_a, 7) == 7
    gold(member_a, brand)
    assert rules.tier_points(member_a, 7) == 10
    assert rules.tier_points(member_a, 1999, scale=100) == 29  # 19.99 yuan × 1 point × 1.5


def test_check_in_is_multiplied(brand, member_a):
    make_rule(brand, points=10, config={"streak_bonus": {"2": 4}, "makeup_cost": 5})
    gold(member_a, brand)
    day1 = datetime(2026, 12, 1, 9, tzinfo=SH)
    first = checkin.check_in(member_a, now=day1)
    assert first.checkin.points == 15
    second = checkin.check_in(member_a, now=day1 + timedelta(days=1))
    assert second.checkin.points == 21  # (10 + 4) × 1.5
    made_up = checkin.make_up(member_a, "2026-12-04", now=day1 + timedelta(days=4))
    assert made_up.points == 15
    assert points.balance_of(member_a, now=day1 + timedelta(days=4)).shown == 1000 + 15 + 21 - 5 + 15


def test_taking_part_is_multiplied_and_once_per_occasion(brand, member_a):
    make_rule(brand, kind=EarnRule.Kind.PARTICIPATION, name="答题", points=10)
    gold(member_a, brand)
    entry = participation.take_part(member_a, "poll", "42")
    assert entry is not None and entry.points == 15
    again = participation.take_part(member_a, "poll", "42")
    assert again is not None and again.pk == entry.pk
    assert participation.take_part(member_a, "campaign", "7").points == 15
    assert points.balance_of(member_a).shown == 1030


def test_no_participation_rule_credits_nothing(brand, member_a):
    assert participation.take_part(member_a, "poll", "1") is None
    assert not PointsEntry.objects.exists()


def test_points_not_earned_under_a_rule_are_not_multiplied(brand, member_a):
    gold(member_a, brand)
    credit_points(member_a, 10)
    assert points.balance_of(member_a).shown == 1010
