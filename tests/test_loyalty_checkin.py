"""Daily check-in: once a calendar day in Asia/Shanghai, streak bonuses, make-up days that cost points."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from siyu.common.errors import Conflict, NotFound, ValidationFailed
from siyu.loyalty.models import CheckIn, EarnRule, PointsEntry
from siyu.loyalty.services import checkin, points
from siyu.loyalty.services.points import InsufficientPoints
from tests.factories import MemberFactory
from tests.race_support import needs_postgres, run_threads

SH = ZoneInfo("Asia/Shanghai")


def at(y, m, d, h=9, minute=0):
    return datetime(y, m, d, h, minute, tzinfo=SH)


@pytest.fixture
def checkin_rule(brand):
    return EarnRule.objects.create(
        brand=brand,
        kind=EarnRule.Kind.CHECKIN,
        name="每日签到",
        points=5,
        config={"streak_bonus": {"3": 10, "7": 50}, "makeup_cost": 20, "makeup_days": 7},
    )


def test_no_rule_means_check_in_is_not_open(member_a):
    with pytest.raises(NotFound):
        checkin.check_in(member_a, now=at(2026, 12, 1))


def test_once_a_day_in_shanghai_and_streak_bonus(member_a, checkin_rule):
    # 23:30 and 23:59 Shanghai are one day; 00:05 the next is another, though UTC says otherwise.
    first = checkin.check_in(member_a, now=at(2026, 12, 1, 23, 30))
    again = checkin.check_in(member_a, now=at(2026, 12, 1, 23, 59))
    assert first.created and not again.created and again.checkin.pk == first.checkin.pk
    checkin.check_in(member_a, now=at(2026, 12, 2, 0, 5))
    third = checkin.check_in(member_a, now=at(2026, 12, 3, 8))
    assert third.checkin.streak == 3 and third.bonus == 10 and third.checkin.points == 15
    assert points.balance_of(member_a, now=at(2026, 12, 3, 9)).balance == 5 + 5 + 15
    assert checkin.current_streak(member_a, now=at(2026, 12, 4, 7)) == 3  # not yet today: still running
    assert checkin.current_streak(member_a, now=at(2026, 12, 5, 7)) == 0


def test_make_up_costs_points_and_fills_one_missed_day(member_a, checkin_rule):
    points.earn(member_a, 100, key="sys:test:seed", now=at(2026, 12, 1))
    checkin.check_in(member_a, now=at(2026, 12, 1))
    checkin.check_in(member_a, now=at(2026, 12, 3))
    done = checkin.make_up(member_a, "2026-12-02", now=at(2026, 12, 3, 10))
    assert done.makeup
    assert checkin.current_streak(member_a, now=at(2026, 12, 3, 11)) == 3
    assert checkin.make_up(member_a, "2026-12-02", now=at(2026, 12, 3, 12)).pk == done.pk  # not twice
    assert PointsEntry.objects.filter(source_type="makeup").count() == 1
    assert points.balance_of(member_a, now=at(2026, 12, 3, 12)).balance == 100 + 5 + 5 - 20 + 5
    with pytest.raises(ValidationFailed):
        checkin.make_up(member_a, "2026-11-01", now=at(2026, 12, 3))
    with pytest.raises(ValidationFailed):
        checkin.make_up(member_a, "2026-12-03", now=at(2026, 12, 3))  # today is a check-in, not a make-up
    with pytest.raises(ValidationFailed):
        checkin.make_up(member_a, "not a day", now=at(2026, 12, 3))


def test_make_up_refused_without_points_and_changes_nothing(member_a, checkin_rule):
    checkin.check_in(member_a, now=at(2026, 12, 3))
    with pytest.raises(InsufficientPoints):
        checkin.make_up(member_a, "2026-12-02", now=at(2026, 12, 3, 10))
    assert not CheckIn.objects.filter(day="2026-12-02").exists()
    checkin_rule.config = {}
    checkin_rule.save()
    with pytest.raises(Conflict):
        checkin.make_up(member_a, "2026-12-02", now=at(2026, 12, 3, 10))


def test_calendar_marks_checked_and_make_up_days(member_a, checkin_rule):
    checkin.check_in(member_a, now=at(2026, 12, 2))
    days = checkin.month_calendar(member_a, year=2026, month=12, now=at(2026, 12, 4))
    assert len(days) == 31
    assert days[1].checked and not days[0].checked
    assert days[0].can_make_up and days[2].can_make_up and not days[3].can_make_up and days[3].today


@pytest.mark.django_db(transaction=True)
def test_checking_in_twice_in_parallel_is_one_check_in(brand, store_a):
    needs_postgres()
    EarnRule.objects.create(brand=brand, kind=EarnRule.Kind.CHECKIN, name="签到", points=5)
    member = MemberFactory(brand=brand, home_store=store_a)
    now = at(2026, 12, 5)
    outcomes = run_threads(8, lambda i: checkin.check_in(member, now=now))
    assert all(isinstance(o, checkin.CheckInOutcome) for o in outcomes), outcomes
    assert sum(o.created for o in outcomes) == 1
    assert CheckIn.objects.filter(member=member).count() == 1
    assert points.balance_of(member, now=now).balance == 5
