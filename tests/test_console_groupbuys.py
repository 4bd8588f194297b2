"""Console group-buy pages and the staff API: store scope (another store's team is 404), head office's setup
form, publish / cancel, filters that never 500, and junk input at the API."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from siyu.campaigns.models import Campaign, GroupBuyTeam
from siyu.campaigns.services import group_buys
from tests.api_support import ApiClient, assert_error
from tests.factories import MemberFactory, in_group


def _html(response, status: int = 200) -> str:
    assert response.status_code == status, (response.status_code, response.content[:400])
    return response.content.decode()


@pytest.fixture
def teams(offer, people, store_a, store_b, brand, group_b):
    team_a = group_buys.open_team(people[0], offer.pk, store_id=store_a.pk).team
    member_b = in_group(MemberFactory(brand=brand, home_store=store_b), group_b)
    team_b = group_buys.open_team(member_b, offer.pk, store_id=store_b.pk).team
    return team_a, team_b


def test_urls():
    assert reverse("console:group_buys") == "/group-buys/"
    assert reverse("console:group_buy_new") == "/group-buys/new/"
    assert reverse("console:group_buy_detail", args=[3]) == "/group-buys/3/"
    assert reverse("console:group_buy_publish", args=[3]) == "/group-buys/3/publish/"
    assert reverse("console:group_buy_cancel", args=[3]) == "/group-buys/3/cancel/"


def test_store_staff_see_only_their_teams(client, clerk_a, hq_admin, teams, offer):
    team_a, team_b = teams
    client.force_login(clerk_a)
    html = _html(client.get("/group-buys/"))
    assert f"/group-buys/teams/{team_a.pk}/" in html and f"/group-buys/teams/{team_b.pk}/" not in html
    assert offer.title in html and "/group-buys/new/" not in html
    assert "王**" in _html(client.get(f"/group-buys/teams/{team_a.pk}/"))
    _html(client.get(f"/group-buys/teams/{team_b.pk}/"), 404)
    detail = _html(client.get(f"/group-buys/{offer.pk}/"))
    assert f"/group-buys/teams/{team_b.pk}/" not in detail and "/publish/" not in detail
    client.force_login(hq_admin)
    html = _html(client.get("/group-buys/"))
    assert f"/group-buys/teams/{team_a.pk}/" in html and f"/group-buys/teams/{team_b.pk}/" in html
    assert "/group-buys/new/" in html
    _html(client.get(f"/group-buys/teams/{team_b.pk}/"))


def test_filters(client, hq_admin, teams, store_b):
    team_a, team_b = teams
    client.force_login(hq_admin)
    html = _html(client.get("/group-buys/", {"store": store_b.pk}))
    assert f"/group-buys/teams/{team_b.pk}/" in html and f"/group-buys/teams/{team_a.pk}/" not in html
    html = _html(client.get("/group-buys/", {"status": "formed"}))
    assert "No teams match." in html
    for junk in ({"status": "ancient"}, {"store": "abc"}, {"store": "9" * 40}, {"campaign": "-1"}):
        _html(client.get("/group-buys/", junk), 400)
    _html(client.get("/group-buys/", {"page": "junk"}))


def _form(the_sku, **overrides):
    now = timezone.localtime()
    data = {
        "title": "五人团 · 蜡烛",
        "sku": the_sku.pk,
        "price": "49.00",
        "min_size": 3,
        "max_size": 6,
        "team_hours": 24,
        "starts_at": now.strftime("%Y-%m-%dT%H:%M"),
        "ends_at": (now + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M"),
        "pickup_until": (now + timedelta(days=5)).strftime("%Y-%m-%dT%H:%M"),
    }
    data.update(overrides)
    return data


def test_hq_creates_publishes_and_cancels(client, hq_admin, candle, store_a, group_a):
    client.force_login(hq_admin)
    assert 'name="price"' in _html(client.get("/group-buys/new/"))
    refused = _html(client.post("/group-buys/new/", _form(candle, price="70.00")))
    assert "Must be between" in refused and not Campaign.objects.exists()
    _html(client.post("/group-buys/new/", _form(candle, sku="junk")))
    _html(client.post("/group-buys/new/", _form(candle, ends_at="yesterday")))
    assert not Campaign.objects.exists()
    response = client.post(
        "/group-buys/new/", _form(candle, stores=[store_a.pk], communities=[group_a.pk], description="x")
    )
    campaign = Campaign.objects.get()
    assert response.url == f"/group-buys/{campaign.pk}/"
    assert campaign.status == "draft" and campaign.group_buy.price_fen == 4900
    assert list(campaign.stores.all()) == [store_a] and list(campaign.communities.all()) == [group_a]
    detail = _html(client.get(response.url))
    assert f"/group-buys/{campaign.pk}/publish/" in detail and f"/h5/tuan/{campaign.pk}/" in detail
    client.post(f"/group-buys/{campaign.pk}/publish/")
    campaign.refresh_from_db()
    assert campaign.status == "published"
    again = client.post(f"/group-buys/{campaign.pk}/publish/", follow=True)
    assert "Only a draft can be published." in _html(again)
    client.post(f"/group-buys/{campaign.pk}/cancel/")
    campaign.refresh_from_db()
    assert campaign.status == "cancelled"
    _html(client.post("/group-buys/99999999/cancel/"), 404)


def test_store_roles_cannot_set_up(client, manager_a, offer):
    client.force_login(manager_a)
    _html(client.get("/group-buys/new/"), 403)
    _html(client.post(f"/group-buys/{offer.pk}/cancel/"), 403)
    offer.refresh_from_db()
    assert offer.status == "published"


def test_sign_in_required(client, offer):
    response = client.get("/group-buys/")
    assert response.status_code == 302 and "login" in response.url


# --- API -------------------------------------------------------------------------------------------------


def _api_body(the_sku, **overrides):
    now = timezone.now()
    body = {
        "title": "API 拼团",
        "sku": the_sku.pk,
        "price_fen": 4900,
        "min_size": 3,
        "max_size": 5,
        "team_hours": 12,
        "starts_at": now.isoformat(),
        "ends_at": (now + timedelta(days=2)).isoformat(),
        "pickup_until": (now + timedelta(days=3)).isoformat(),
    }
    body.update(overrides)
    return body


def test_api_create_publish_cancel(hq_admin, manager_a, candle, group_a):
    api = ApiClient(hq_admin)
    created = api.post("/campaigns/group-buys", _api_body(candle, communities=[group_a.pk]))
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["status"] == "draft" and body["price_fen"] == 4900 and body["communities"] == [group_a.pk]
    assert body["teams"] == {"open": 0, "formed": 0, "failed": 0} and body["normal_price_fen"] == 6900
    cid = body["id"]
    assert api.get(f"/campaigns/group-buys/{cid}").json()["title"] == "API 拼团"
    assert api.post(f"/campaigns/group-buys/{cid}/publish").json()["status"] == "published"
    assert_error(api.post(f"/campaigns/group-buys/{cid}/publish"), 409, "not_draft")
    assert api.get("/campaigns/group-buys", {"status": "published"}).json()["count"] == 1
    store_role = ApiClient(manager_a)
    assert_error(store_role.post("/campaigns/group-buys", _api_body(candle)), 403)
    assert_error(store_role.post(f"/campaigns/group-buys/{cid}/cancel"), 403)
    assert store_role.get(f"/campaigns/group-buys/{cid}").status_code == 200
    assert api.post(f"/campaigns/group-buys/{cid}/cancel").json()["status"] == "cancelled"
    assert_error(api.post(f"/campaigns/group-buys/{cid}/cancel"), 409, "already_cancelled")


def test_api_create_is_idempotent_with_a_key(hq_admin, candle):
    api = ApiClient(hq_admin)
    body = _api_body(candle)
    first = api.post("/campaigns/group-buys", body, headers={"Idempotency-Key": "gb-1"})
    second = api.post("/campaigns/group-buys", body, headers={"Idempotency-Key": "gb-1"})
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["id"] == second.json()["id"] and Campaign.objects.count() == 1


def test_api_teams_scope(clerk_a, hq_admin, teams, store_a):
    team_a, team_b = teams
    clerk = ApiClient(clerk_a)
    listed = clerk.get("/group-buy-teams").json()
    assert [t["id"] for t in listed["items"]] == [team_a.pk]
    assert listed["items"][0]["leader_name"] == "王**" and listed["items"][0]["store"]["id"] == store_a.pk
    assert_error(clerk.get(f"/group-buy-teams/{team_b.pk}"), 404)
    detail = clerk.get(f"/group-buy-teams/{team_a.pk}").json()
    assert [m["name"] for m in detail["members"]] == ["王**"] and detail["members"][0]["order_id"]
    hq = ApiClient(hq_admin)
    assert hq.get("/group-buy-teams").json()["count"] == 2
    assert hq.get("/group-buy-teams", {"status": "open", "store": store_a.pk}).json()["count"] == 1


@pytest.mark.parametrize(
    "overrides",
    [
        {"price_fen": 0},
        {"price_fen": 6901},
        {"price_fen": "abc"},
        {"price_fen": 10**30},
        {"sku": -1},
        {"sku": 10**30},
        {"min_size": 1},
        {"max_size": 10**6},
        {"team_hours": 0},
        {"starts_at": "2024-99-99"},
        {"ends_at": 1.5e308},
        {"pickup_until": None},
        {"stores": "1"},
        {"stores": [0]},
        {"communities": [10**30]},
        {"title": ""},
        {"title": "x" * 5000},
        {"unknown": 1},
    ],
)
def test_api_junk_create(hq_admin, candle, overrides):
    response = ApiClient(hq_admin).post("/campaigns/group-buys", _api_body(candle, **overrides))
    assert response.status_code in (400, 404), (response.status_code, response.content[:300])
    assert_error(response, response.status_code)
    assert not Campaign.objects.exists()


@pytest.mark.parametrize(
    "query",
    [{"status": "ancient"}, {"store": "abc"}, {"store": "9" * 40}, {"limit": "-1"}, {"campaign": "x"}],
)
def test_api_junk_team_queries(hq_admin, query, db):
    assert_error(ApiClient(hq_admin).get("/group-buy-teams", query), 400)


def test_api_junk_ids(hq_admin, db):
    api = ApiClient(hq_admin)
    assert api.get("/campaigns/group-buys/99999999").status_code == 404
    assert api.get("/campaigns/group-buys/abc").status_code == 404
    assert_error(api.post("/campaigns/group-buys/99999999/publish"), 404)
    assert_error(api.post("/campaigns/group-buys", raw=b"{"), 400)
    assert api.get("/group-buy-teams/0").status_code in (400, 404)
    assert not GroupBuyTeam.objects.exists()


def test_team_counts_are_scoped(client, clerk_a, hq_admin, teams, offer):
    """A store role's counts cover only its stores' teams (console page and API), HQ's every team."""
    client.force_login(clerk_a)
    html = _html(client.get(f"/group-buys/{offer.pk}/"))
    assert "<dt>Open</dt><dd>1</dd>" in html
    assert ApiClient(clerk_a).get(f"/campaigns/group-buys/{offer.pk}").json()["teams"]["open"] == 1
    assert ApiClient(clerk_a).get("/campaigns/group-buys").json()["items"][0]["teams"]["open"] == 1
    assert ApiClient(hq_admin).get(f"/campaigns/group-buys/{offer.pk}").json()["teams"]["open"] == 2
    client.force_login(hq_admin)
    assert "<dt>Open</dt><dd>2</dd>" in _html(client.get(f"/group-buys/{offer.pk}/"))
