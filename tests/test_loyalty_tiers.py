"""Member tiers: decided by points earned in a rolling 12 months, never the balance; a downgrade rule."""

from __future__ import annotations

from datetime import date, timedelta

from django.utils import timezone

from siyu.analytics.models import Event
from siyu.analytics.services.descriptions import describe_event
from siyu.common.periodic import get_job
from siyu.loyalty.models import Coupon, MemberTier
from siyu.loyalty.services import birthdays, points, tiers
from tests.factories import credit_points, make_coupon_template, three_tiers


def test_a_tier_is_decided_by_points_earned_not_balance(brand, member_a, hq_admin):
    three_tiers(brand)
    now = timezone.now()
    assert tiers.evaluate(member_a, now=now).name == "银卡"
    credit_points(member_a, 1200, now=now)
    assert tiers.evaluate(member_a, now=now).name == "金卡"
    # Spend everything: the level stays.
    points.spend(member_a, 1200, key="sys:test:all", now=now)
    assert points.balance_of(member_a).shown == 0
    assert tiers.evaluate(member_a, now=now).name == "金卡"
    # Points a staff member adds are not earned: no promotion from them.
    points.adjust(hq_admin, member_a.pk, 9000, reason="补偿", key="k1")
    assert tiers.evaluate(member_a).name == "金卡"
    # Earn → promoted.
    credit_points(member_a, 3800, now=now)
    assert tiers.earned_in_window(member_a, now=now) == 5000
    assert tiers.evaluate(member_a, now=now).name == "钻石"
    ups = Event.objects.filter(type="loyalty.tier_up").order_by("id")
    assert [e.payload.get("tier") for e in ups] == ["银卡", "金卡", "钻石"]
    assert describe_event("loyalty.tier_up", ups.last().payload) == "Reached the 钻石 tier"


def test_time_passes_and_the_member_moves_down(brand, member_a):
    three_tiers(brand)
    start = timezone.now()
    credit_points(member_a, 1500, now=start, expires_at=start + timedelta(days=800))
    assert tiers.evaluate(member_a, now=start).name == "金卡"
    later = start + timedelta(days=200)
    credit_points(member_a, 200, now=later, expires_at=later + timedelta(days=800))
    assert tiers.evaluate(member_a, now=later).name == "金卡"
    # A year after the big earning only 200 count: down to 银卡, though the balance is 1,700.
    year_on = start + timedelta(days=366)
    assert points.balance_of(member_a, now=year_on).shown == 1700
    assert tiers.evaluate(member_a, now=year_on).name == "银卡"
    down = Event.objects.get(type="loyalty.tier_down")
    assert down.payload == {"tier": "银卡", "from_tier": "金卡"}


def test_grace_days_before_moving_down(brand, member_a):
    three_tiers(brand, grace_days=30)
    start = timezone.now()
    credit_points(member_a, 1000, now=start, expires_at=start + timedelta(days=800))
    assert tiers.evaluate(member_a, now=start).name == "金卡"
    below = start + timedelta(days=370)
    assert tiers.evaluate(member_a, now=below).name == "金卡"  # grace starts
    assert MemberTier.objects.get(member=member_a).below_since == below
    card = tiers.card(member_a, now=below + timedelta(days=1))
    assert card.grace_until == below + timedelta(days=30)
    assert tiers.evaluate(member_a, now=below + timedelta(days=29)).name == "金卡"
    assert tiers.evaluate(member_a, now=below + timedelta(days=30)).name == "银卡"


def test_earning_back_during_grace_keeps_the_level(brand, member_a):
    three_tiers(brand, grace_days=30)
    start = timezone.now()
    credit_points(member_a, 1000, now=start, expires_at=start + timedelta(days=800))
    tiers.evaluate(member_a, now=start)
    below = start + timedelta(days=370)
    tiers.evaluate(member_a, now=below)
    credit_points(member_a, 1000, now=below + timedelta(days=5), expires_at=below + timedelta(days=800))
    assert tiers.evaluate(member_a, now=below + timedelta(days=40)).name == "金卡"
    assert MemberTier.objects.get(member=member_a).below_since is None


def test_refunds_reduce_the_earned_total(brand, member_a):
    three_tiers(brand)
    credit_points(member_a, 1000, source=("order", "5"))
    assert tiers.evaluate(member_a).name == "金卡"
    points.reverse_earning(member_a, source=("order", "5"), key="sys:test:refund")
    assert tiers.earned_in_window(member_a) == 0
    assert tiers.evaluate(member_a).name == "银卡"


def test_tier_card_progress(brand, member_a):
    three_tiers(brand)
    credit_points(member_a, 1300)
    tiers.evaluate(member_a)
    card = tiers.card(member_a)
    assert card.tier.name == "金卡" and card.next_tier.name == "钻石"
    assert card.to_next == 3700 and card.progress_percent == 7


def test_the_periodic_job_evaluates_holders_and_recent_earners(brand, member_a, member_b):
    three_tiers(brand)
    start = timezone.now()
    credit_points(member_a, 1000, now=start, expires_at=start + timedelta(days=800))
    tiers.evaluate(member_a, now=start)
    credit_points(member_b, 1000)  # earned now, not evaluated yet
    assert get_job("loyalty-tiers").resolve() is tiers.evaluate_due
    assert tiers.evaluate_due() == 1  # member_b promoted
    assert tiers.current_tier(member_b).name == "金卡"
    assert tiers.evaluate_due(now=start + timedelta(days=366)) >= 1  # member_a dropped
    assert tiers.current_tier(member_a).name == "银卡"


def test_birthday_coupons_once_a_year_for_tiers_that_give_one(brand, member_a, member_b):
    template = make_coupon_template(brand, name="生日券", member_limit=5)
    gold = three_tiers(brand)[1]
    gold.birthday_template = template
    gold.save()
    today = timezone.localdate()
    for member in (member_a, member_b):
        member.birthday = date(1990, today.month, min(today.day, 28))
        member.save()
        tiers.evaluate(member)  # both 银卡 (no coupon)
    credit_points(member_a, 1000)
    tiers.evaluate(member_a)  # 金卡
    assert get_job("loyalty-birthdays").resolve() is birthdays.issue_due
    if today.day > 28:
        return  # the members' birthdays were set to the 28th: not today
    assert birthdays.issue_due() == 1
    assert birthdays.issue_due() == 0  # once a year
    assert list(Coupon.objects.values_list("member_id", flat=True)) == [member_a.pk]


def test_29_february_birthdays_are_celebrated_on_the_28th_in_other_years():
    plain = birthdays.birthday_filter(date(2027, 2, 28))
    assert "29" in str(plain) and "29" not in str(birthdays.birthday_filter(date(2028, 2, 28)))
