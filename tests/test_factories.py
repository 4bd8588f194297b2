"""The shared builders in tests/factories build valid objects through the apps' services."""

from __future__ import annotations

import pytest

from siyu.analytics.models import DailyEventCount
from siyu.campaigns.models import FlashReservation
from siyu.communities.models import CommunityMembership
from tests import factories as f

pytestmark = pytest.mark.django_db


def test_catalog_and_orders(hq_admin, store_a, store_b, member_a):
    cup_w, cup_b = f.two_cups_at(hq_admin, store_a)
    assert (f.stock_of(cup_w), f.stock_of(cup_b)) == (10, 10)
    assert f.listing_for(store_b, cup_w.sku).stock == 0
    order = f.place_order(member_a, store_a, [(cup_w.pk, 2)])
    assert order.status == "pending_payment" and order.total_fen == 2 * 3500
    assert f.stock_of(cup_w) == 8


def test_mall_listings(hq_admin, store_a, store_b):
    rows = f.mall_listings(hq_admin, store_a, store_b)
    assert {code: f.stock_of(row) for code, row in rows.items()} == {"CUP-W": 5, "CUP-B": 5}


def test_flash_sale_builders(database_admission, hq_admin, store_a, store_b, member_a):
    skus = f.sale_skus(hq_admin)
    campaign = f.running_sale(hq_admin, skus)
    assert campaign.status == "published"
    assert f.buy(campaign, member_a, store_a).quantity == 1
    sale, item = f.make_sale(f.flash_cup_sku(hq_admin), stock=3)
    f.admit(sale, item, member_a, store_a, quantity=2)
    assert f.settle() == 0  # nothing to write behind on the database backend
    assert FlashReservation.objects.filter(campaign=sale).get().quantity == 2


def test_group_buy_and_communities(hq_admin, store_a, member_a, member_b):
    group = f.open_web_group(hq_admin, store_a, f.make_template(hq_admin))
    offer = f.published_group_buy(hq_admin, f.candle_sku(hq_admin), communities=[group.pk])
    assert offer.status == "published" and offer.group_buy.price_fen == f.GROUP_BUY_PRICE
    membership = f.join(group, member_a)
    assert membership.community_id == group.pk
    assert f.post(group, member_a, "你好").text == "你好"
    plain = f.make_group(store_a, name="手工群")
    f.in_group(member_b, plain)
    assert CommunityMembership.objects.filter(community=plain, member=member_b).exists()


def test_channels_and_analytics(brand, store_a, member_a):
    connector = f.ConnectorFactory(brand=brand, kind="telegram", config={"bot_token": "t"})
    assert (connector.kind, connector.name, connector.active) == ("telegram", "telegram", True)
    event = f.make_event("community.joined", member_id=member_a.pk, store_id=store_a.pk)
    assert event.type == "community.joined"
    assert DailyEventCount.objects.get(type="community.joined", store_key=store_a.pk).count == 1


def test_event_builders(hq_admin, store_a, member_a):
    free = f.make_event_with_sessions(hq_admin, [store_a], capacity=5)
    assert free.status == "published" and free.ticket_price_fen == 0
    ticket = f.take_ticket(member_a, f.session_at(free, store_a))
    assert ticket.status == "valid" and f.session_at(free, store_a).taken == 1
    paid = f.make_event_with_sessions(hq_admin, [store_a], ticket_price_fen=f.TICKET_PRICE, publish=False)
    assert paid.status == "draft" and paid.ticket_sku is not None
    assert f.event_data()["title"] and f.ticket_sku(hq_admin).price_fen == f.TICKET_PRICE


def test_referral_builders(hq_admin, store_a, member_a, brand):
    campaign = f.make_referral_campaign(hq_admin, store_a, f.make_template(hq_admin))
    assert campaign.store == store_a and campaign.tiers[0]["points"] == f.DEFAULT_TIERS[0]["points"]
    invite = f.invite_join(campaign, member_a, f.MemberFactory(brand=brand))
    assert invite is not None and invite.inviter == member_a
