"""H5 group-buy pages: the offer with its teams, opening and joining (idempotent double submit, then to the
order or the SANDBOX cashier), the team page (progress, masked members, countdown, share to my group),
refusals as messages, CSRF, sign-in required."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from siyu.campaigns.models import GroupBuyTeam
from siyu.campaigns.services import group_buys
from siyu.communities.models import Message
from siyu.orders.models import Order
from tests.factories import MemberFactory, in_group, offer_data
from tests.h5_support import member_client

pytestmark = pytest.mark.django_db


def _html(response, status: int = 200) -> str:
    assert response.status_code == status, (response.status_code, response.content[:300])
    return response.content.decode()


def test_urls(offer):
    assert reverse("h5:group_buy", args=[offer.pk]) == f"/h5/tuan/{offer.pk}/"
    assert reverse("h5:group_buy_team", args=[7]) == "/h5/tuan/team/7/"
    assert reverse("h5:group_buy_open", args=[offer.pk]) == f"/h5/tuan/{offer.pk}/open/"
    assert reverse("h5:group_buy_join", args=[7]) == "/h5/tuan/team/7/join/"
    assert reverse("h5:group_buy_share", args=[7]) == "/h5/tuan/team/7/share/"


def test_offer_page(offer, people, hq_admin, candle):
    client = member_client(people[0])
    html = _html(client.get(f"/h5/tuan/{offer.pk}/"))
    assert offer.title in html and "¥49.00" in html and "¥65.00" in html
    assert f'action="/h5/tuan/{offer.pk}/open/"' in html
    assert "No open teams at your store yet" in html
    draft = group_buys.create_group_buy(hq_admin, offer_data(candle))
    assert client.get(f"/h5/tuan/{draft.pk}/").status_code == 404
    assert client.get("/h5/tuan/99999999/").status_code == 404


def test_not_signed_in_redirects_to_login(offer):
    response = Client().get(f"/h5/tuan/{offer.pk}/")
    assert response.status_code == 302 and response.url.startswith("/h5/login/")
    response = Client().post(f"/h5/tuan/{offer.pk}/open/")
    assert response.status_code == 302 and response.url.startswith("/h5/login/")


def test_open_twice_one_team_then_order_page(offer, people, group_a):
    client = member_client(people[0])
    first = client.post(f"/h5/tuan/{offer.pk}/open/")
    second = client.post(f"/h5/tuan/{offer.pk}/open/")
    order = Order.objects.get()
    assert first.url == second.url == f"/h5/orders/{order.pk}/"
    team = GroupBuyTeam.objects.get()
    assert team.joined_count == 1
    # The offer page now points to my team; the team page shows progress and the share button.
    assert f"/h5/tuan/team/{team.pk}/" in _html(client.get(f"/h5/tuan/{offer.pk}/"))
    html = _html(client.get(f"/h5/tuan/team/{team.pk}/"))
    assert "2 more needed to form the team" in html and "王**" in html and "王小明" not in html
    assert 'id="h5-countdown"' in html and f"/h5/orders/{order.pk}/" in html
    assert f'action="/h5/tuan/team/{team.pk}/share/"' in html
    shared = client.post(f"/h5/tuan/team/{team.pk}/share/", follow=True)
    assert "Shared in your group." in _html(shared)
    client.post(f"/h5/tuan/team/{team.pk}/share/")
    cards = Message.objects.filter(community=group_a, kind="card")
    assert cards.count() == 1 and cards.get().card["url"] == f"/h5/tuan/team/{team.pk}/"


def test_join_from_the_offer_and_team_pages(offer, people):
    leader, second, third = people[:3]
    member_client(leader).post(f"/h5/tuan/{offer.pk}/open/")
    team = GroupBuyTeam.objects.get()
    client = member_client(second)
    offer_html = _html(client.get(f"/h5/tuan/{offer.pk}/"))
    assert f'action="/h5/tuan/team/{team.pk}/join/"' in offer_html and "王**" in offer_html
    response = client.post(f"/h5/tuan/team/{team.pk}/join/")
    order = Order.objects.get(member=second)
    assert response.url == f"/h5/orders/{order.pk}/"
    assert client.post(f"/h5/tuan/team/{team.pk}/join/").url == response.url  # double tap: same order
    # Already in: no join button for me; a third member sees it.
    assert f'action="/h5/tuan/team/{team.pk}/join/"' not in _html(client.get(f"/h5/tuan/team/{team.pk}/"))
    third_client = member_client(third)
    assert f'action="/h5/tuan/team/{team.pk}/join/"' in _html(third_client.get(f"/h5/tuan/team/{team.pk}/"))
    third_client.post(f"/h5/tuan/team/{team.pk}/join/")
    team.refresh_from_db()
    assert team.status == "formed"
    assert "The team formed!" in _html(third_client.get(f"/h5/tuan/team/{team.pk}/"))


def test_sandbox_join_goes_to_the_cashier(sandbox, offer, people):
    client = member_client(people[0])
    response = client.post(f"/h5/tuan/{offer.pk}/open/")
    order = Order.objects.get()
    assert response.url == f"/h5/pay/sandbox/{order.out_trade_no}/"
    paid = client.post(response.url)
    assert paid.url == f"/h5/orders/{order.pk}/"
    team = GroupBuyTeam.objects.get()
    assert team.paid_count == 1
    html = _html(client.get(f"/h5/tuan/team/{team.pk}/"))
    assert "Counted" in html


def test_refusals_are_messages(offer, people, brand, store_a, group_a):
    leader, *rest = people
    member_client(leader).post(f"/h5/tuan/{offer.pk}/open/")
    team = GroupBuyTeam.objects.get()
    for member in rest[:4]:
        group_buys.join_team(member, team.pk)
    late = in_group(MemberFactory(brand=brand, home_store=store_a), group_a)
    client = member_client(late)
    response = client.post(f"/h5/tuan/team/{team.pk}/join/", follow=True)
    assert "This team is full." in _html(response)
    assert Order.objects.filter(member=late).count() == 0
    # Sharing without being in a group of the store is refused politely.
    loner = MemberFactory(brand=brand, home_store=store_a)
    response = member_client(loner).post(f"/h5/tuan/team/{team.pk}/share/", follow=True)
    assert "Join your store&#x27;s group first." in _html(response)
    assert client.get("/h5/tuan/team/99999999/").status_code == 404
    assert client.post("/h5/tuan/team/99999999/join/").status_code == 404


def test_csrf_and_methods(offer, people):
    client = member_client(people[0], enforce_csrf_checks=True)
    assert client.post(f"/h5/tuan/{offer.pk}/open/").status_code == 403
    assert not GroupBuyTeam.objects.exists()
    assert member_client(people[0]).get(f"/h5/tuan/{offer.pk}/open/").status_code == 405


@pytest.mark.parametrize("group", ["junk", "-5", "0", "9" * 5000, "1.5", "", "\x00"])
def test_junk_posts_never_500(offer, people, group_a, group):
    """Junk in the open form or the URL answers a page or 404, never a 500, and opens at most one team."""
    client = member_client(people[0])
    response = client.post(f"/h5/tuan/{offer.pk}/open/", {"group": group})
    assert response.status_code == 302, response.content[:300]
    team = GroupBuyTeam.objects.get()
    assert team.joined_count == 1 and team.community_id == group_a.pk
    big = "9" * 30
    assert client.post(f"/h5/tuan/{big}/open/").status_code == 404
    for action in ("join", "share"):
        assert client.post(f"/h5/tuan/team/{big}/{action}/").status_code == 404
    assert client.get(f"/h5/tuan/team/{big}/").status_code == 404
