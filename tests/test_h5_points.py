"""The member's H5 points pages: 我的积分 (owed points, expiry dates), check-in with calendar and make-up,
the points mall with confirmation, the tier card; linked from home and 我的."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from siyu.loyalty.models import CheckIn, EarnRule, Exchange
from siyu.loyalty.services import points
from tests.factories import credit_points, mall_product_item, three_tiers, two_cups_at
from tests.h5_support import member_client


@pytest.fixture
def checkin_rule(brand):
    return EarnRule.objects.create(
        brand=brand,
        kind=EarnRule.Kind.CHECKIN,
        name="每日签到",
        points=5,
        config={"streak_bonus": {"7": 20}, "makeup_cost": 20, "makeup_days": 7},
    )


def test_home_and_me_link_to_the_points_pages(member_a):
    client = member_client(member_a)
    assert 'href="/h5/points/"' in client.get("/h5/").content.decode()
    me = client.get("/h5/me/").content.decode()
    assert 'href="/h5/points/"' in me and 'href="/h5/points/tier/"' in me


def test_pages_need_a_signed_in_member(db):
    for url in ("/h5/points/", "/h5/points/checkin/", "/h5/points/mall/", "/h5/points/tier/"):
        response = Client().get(url)
        assert response.status_code == 302 and "/h5/login/" in response["Location"]


def test_points_page_shows_balance_owed_history_and_expiry(member_a):
    soon = timezone.now() + timedelta(days=10)
    credit_points(member_a, 100, source=("order", "9"), reason="订单积分", expires_at=soon)
    points.spend(member_a, 80, key="sys:test:s", reason="兑换")
    points.reverse_earning(member_a, source=("order", "9"), key="sys:test:r", reason="订单退款")
    page = member_client(member_a).get("/h5/points/").content.decode()
    assert 'data-testid="points-owed"' in page and "You owe 80 points" in page
    assert "订单积分" in page and "兑换" in page and "订单退款" in page
    assert f"expires {timezone.localdate(soon):%Y-%m-%d}" in page


def test_soon_to_expire_notice(member_a):
    credit_points(member_a, 30, expires_at=timezone.now() + timedelta(days=5))
    page = member_client(member_a).get("/h5/points/").content.decode()
    assert 'data-testid="points-expiring"' in page and "30 points expire soon" in page


def test_check_in_and_make_up_from_the_calendar(member_a, checkin_rule):
    client = member_client(member_a)
    page = client.get("/h5/points/checkin/").content.decode()
    assert 'data-testid="checkin-button"' in page
    response = client.post("/h5/points/checkin/", {"action": "checkin"}, follow=True)
    assert "Checked in: +5 points" in response.content.decode()
    assert client.post("/h5/points/checkin/", {"action": "checkin"}, follow=True).status_code == 200
    assert CheckIn.objects.filter(member=member_a).count() == 1
    credit_points(member_a, 20)
    yesterday = timezone.localdate() - timedelta(days=1)
    page = client.get("/h5/points/checkin/").content.decode()
    assert f'value="{yesterday:%Y-%m-%d}"' in page  # a make-up button on the missed day
    response = client.post(
        "/h5/points/checkin/", {"action": "makeup", "day": yesterday.isoformat()}, follow=True
    )
    assert "Made up" in response.content.decode()
    assert CheckIn.objects.get(member=member_a, day=yesterday).makeup
    junk = client.post("/h5/points/checkin/", {"action": "makeup", "day": "not-a-day"}, follow=True)
    assert junk.status_code == 200 and "Choose a day." in junk.content.decode()


def test_mall_exchange_with_confirmation_and_a_double_tap_exchanges_once(brand, store_a, hq_admin, member_a):
    cups = two_cups_at(hq_admin, store_a)
    item = mall_product_item(brand, cups[0].sku, points_price=100, stock=5)
    credit_points(member_a, 250)
    client = member_client(member_a)
    listing = client.get("/h5/points/mall/").content.decode()
    assert item.name in listing and "100 points" in listing and "5 left" in listing
    confirm = client.get(f"/h5/points/mall/{item.pk}/?confirm=1").content.decode()
    key = re.search(r'name="key" value="([^"]+)"', confirm).group(1)
    first = client.post(f"/h5/points/mall/{item.pk}/", {"key": key})
    second = client.post(f"/h5/points/mall/{item.pk}/", {"key": key})
    assert Exchange.objects.count() == 1
    order_id = Exchange.objects.get().order_id
    assert first["Location"] == second["Location"] == f"/h5/orders/{order_id}/"
    assert points.balance_of(member_a).shown == 150


def test_mall_refusals_are_messages_and_unknown_items_404(brand, store_a, hq_admin, member_a):
    cups = two_cups_at(hq_admin, store_a)
    item = mall_product_item(brand, cups[0].sku, points_price=100, stock=5)
    client = member_client(member_a)
    page = client.get(f"/h5/points/mall/{item.pk}/").content.decode()
    assert "You need 100 points; you have 0." in page
    response = client.post(f"/h5/points/mall/{item.pk}/", {"key": "k"}, follow=True)
    assert "Not enough points" in response.content.decode()
    assert client.post(f"/h5/points/mall/{item.pk}/", {"key": ""}, follow=True).status_code == 200
    assert client.get("/h5/points/mall/999999/").status_code == 404


def test_tier_card(brand, member_a):
    three_tiers(brand)
    credit_points(member_a, 1300)
    page = member_client(member_a).get("/h5/points/tier/").content.decode()
    assert "金卡" in page and "3700 more points to 钻石" in page
    assert "1300 points earned in the last 12 months" in page
