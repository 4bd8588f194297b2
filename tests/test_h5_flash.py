"""The H5 flash-sale page: sign-in required, items with flash and normal prices and units left, the
member's home store preselected, a valid purchase ticket embedded for the script, and the script's
purchase round trip (buy → reservation → order) through the purchase endpoints."""

from __future__ import annotations

import json
import re
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.utils import timezone

from siyu.campaigns import tickets
from siyu.campaigns.services import flash_sales
from siyu.orders.models import Order
from tests.factories import BrandFactory, MemberFactory, StoreFactory, buy, running_sale, sale_data
from tests.h5_support import member_client

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("database_admission")]


def page_config(html: str) -> dict:
    found = re.search(r'<script id="flash-config" type="application/json">(.*?)</script>', html, re.S)
    assert found, "the page embeds its configuration"
    return json.loads(found.group(1))


def _page(client: Client, campaign) -> str:
    response = client.get(f"/h5/flash/{campaign.pk}/")
    assert response.status_code == 200, response.content[:500]
    return response.content.decode()


def test_sign_in_required(hq_admin, skus):
    campaign = running_sale(hq_admin, skus)
    response = Client().get(f"/h5/flash/{campaign.pk}/")
    assert response.status_code == 302
    assert response.url.startswith("/h5/login/") and f"%2Fh5%2Fflash%2F{campaign.pk}%2F" in response.url


def test_page_shows_items_ticket_and_home_store(hq_admin, skus, member_a, store_a, store_b):
    campaign = running_sale(hq_admin, skus)
    html = _page(member_client(member_a), campaign)
    assert "周五秒杀" in html and "北欧陶瓷杯" in html
    assert "¥9.90" in html and "¥39.00" in html and "¥19.90" in html
    assert "Buy now" in html and "Ends in" in html
    assert f'<option value="{store_a.pk}" selected>' in html
    assert f'<option value="{store_b.pk}">' in html
    assert "/static/h5/flash.js" in html
    config = page_config(html)
    claims = tickets.read_ticket(config["ticket"], campaign.pk)
    assert claims is not None and claims.member_id == member_a.pk
    assert config["buyUrl"] == f"/h5/flash/{campaign.pk}/buy/"
    assert config["statusUrl"] == f"/h5/flash/{campaign.pk}/status/"
    assert config["resultUrl"] == f"/h5/flash/{campaign.pk}/r/__KEY__/"
    assert config["phase"] == "running" and config["messages"]["sold_out"]
    # Quantity 1..limit: the cup allows 2.
    assert html.count('<option value="2">2</option>') == 1


def _store_select(html: str) -> str:
    return html.split('id="flash-store"')[1].split("</select>")[0]


def test_home_store_outside_the_sale_is_not_preselected(hq_admin, skus, member_b, store_a, brand):
    # A sale in one store only: that store is the pickup store, whatever the member's home store.
    campaign = running_sale(hq_admin, skus, store_ids=[store_a.pk])
    html = _page(member_client(member_b), campaign)  # member B's home store is store B
    assert f'<option value="{store_a.pk}" selected>' in _store_select(html)
    assert "西单" not in _store_select(html)
    # Two stores, neither the member's: the member chooses.
    store_c = StoreFactory(brand=brand, code="C001", name="三里屯店")
    two = running_sale(hq_admin, skus, store_ids=[store_a.pk, store_c.pk], title="两店秒杀")
    select = _store_select(_page(member_client(member_b), two))
    assert "Choose a store" in select and "selected" not in select and "三里屯店" in select


def test_units_left_follow_purchases(hq_admin, skus, member_a, member_b, store_a):
    campaign = running_sale(hq_admin, skus)
    buy(campaign, member_b, store_a, quantity=2)
    html = _page(member_client(member_a), campaign)
    assert "<span data-remaining>98</span>/100" in html


def test_scheduled_and_cancelled_sales(hq_admin, skus, member_a):
    scheduled = flash_sales.create_flash_sale(hq_admin, sale_data(skus))
    flash_sales.publish_flash_sale(hq_admin, scheduled.pk)
    html = _page(member_client(member_a), scheduled)
    assert "Starts in" in html and "disabled" in html
    assert page_config(html)["phase"] == "scheduled"
    flash_sales.cancel_flash_sale(hq_admin, scheduled.pk)
    html = _page(member_client(member_a), scheduled)
    assert "This flash sale was cancelled." in html


def test_drafts_and_other_brands_are_not_found(hq_admin, skus, member_a):
    draft = flash_sales.create_flash_sale(hq_admin, sale_data(skus))
    assert member_client(member_a).get(f"/h5/flash/{draft.pk}/").status_code == 404
    outsider = MemberFactory(brand=BrandFactory(code="other-brand"), home_store=None)
    sale = running_sale(hq_admin, skus)
    assert member_client(outsider).get(f"/h5/flash/{sale.pk}/").status_code == 404
    assert member_client(member_a).get("/h5/flash/999999/").status_code == 404


def test_purchase_round_trip_like_the_script(hq_admin, skus, member_a, store_a):
    campaign = running_sale(hq_admin, skus)
    client = member_client(member_a)
    config = page_config(_page(client, campaign))
    item = campaign.flash_items.order_by("position").first()
    key = uuid.uuid4().hex
    body = {"item": item.pk, "quantity": 2, "store": store_a.pk, "key": key}
    first = client.post(
        config["buyUrl"],
        json.dumps(body),
        content_type="application/json",
        HTTP_X_SIYU_TICKET=config["ticket"],
    )
    assert first.status_code == 200, first.content
    assert first.json()["status"] == "reserved" and first.json()["remaining"] == 98
    # The same tap retried: the same key answers the same purchase.
    again = client.post(
        config["buyUrl"],
        json.dumps(body),
        content_type="application/json",
        HTTP_X_SIYU_TICKET=config["ticket"],
    )
    assert again.status_code == 200 and Order.objects.filter(member=member_a).count() == 1
    result = client.get(config["resultUrl"].replace("__KEY__", key)).json()
    order = Order.objects.get(member=member_a)
    assert result == {"status": "written", "order_id": order.pk, "order_url": f"/h5/orders/{order.pk}/"}
    # A new intent (new key) beyond the limit is refused with a clear code.
    over = client.post(
        config["buyUrl"],
        json.dumps({**body, "key": uuid.uuid4().hex, "quantity": 1}),
        content_type="application/json",
        HTTP_X_SIYU_TICKET=config["ticket"],
    )
    assert over.status_code == 409 and over.json()["code"] == "limit_reached"
    assert over.json()["code"] in page_config(_page(client, campaign))["messages"]


def test_home_lists_running_sales(hq_admin, skus, member_a):
    client = member_client(member_a)
    assert "Flash sales now" not in client.get("/h5/").content.decode()
    campaign = running_sale(hq_admin, skus)
    flash_sales.create_flash_sale(hq_admin, sale_data(skus, title="还没开始"))
    html = client.get("/h5/").content.decode()
    assert "Flash sales now" in html and f'href="/h5/flash/{campaign.pk}/"' in html
    assert "还没开始" not in html
    ended = timezone.now() - timedelta(seconds=1)
    type(campaign).objects.filter(pk=campaign.pk).update(ends_at=ended, pickup_until=ended)
    assert "Flash sales now" not in client.get("/h5/").content.decode()


def test_script_is_served_locally():
    path = Path(django_settings.BASE_DIR) / "siyu" / "h5" / "static" / "h5" / "flash.js"
    if not path.exists():  # BASE_DIR may be the package directory
        path = Path(__file__).resolve().parents[1] / "siyu" / "h5" / "static" / "h5" / "flash.js"
    source = path.read_text()
    assert "X-Siyu-Ticket" in source and "crypto.getRandomValues" in source
    assert "http://" not in source and "https://" not in source  # nothing from the internet
