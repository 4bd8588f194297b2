"""A flash sale in a real browser: the member opens the sale page, presses "Buy now", waits while the order
is written, lands on the order with its pickup QR; pressing again is refused by the per-member limit."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from siyu.campaigns.models import Campaign, FlashSaleItem
from siyu.campaigns.services import flash_admission, flash_config
from siyu.catalog.services import publication
from siyu.orders.models import Order
from tests.browser.support import screenshot, sign_in_member
from tests.factories import MemberFactory, StaffFactory, StoreFactory, make_product

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_member_buys_in_a_flash_sale(live_server, browser_page, settings, tmp_path):
    from playwright.sync_api import expect

    settings.REDIS_URL = ""  # the database backend: the order is written by the purchase itself
    flash_config.clear_caches()
    store = StoreFactory(code="A001", name="朝阳大悦城店")
    hq = StaffFactory(brand=store.brand, username="hqadmin", role="hq_admin")
    product = make_product(hq, "北欧陶瓷杯", codes=("CUP-W",))
    publication.publish(hq, product.pk, scope="all")
    now = timezone.now()
    campaign = Campaign.objects.create(
        brand=store.brand,
        kind="flash_sale",
        title="周五秒杀",
        status="published",
        starts_at=now - timedelta(minutes=5),
        ends_at=now + timedelta(hours=1),
        pickup_until=now + timedelta(days=2),
    )
    item = FlashSaleItem.objects.create(
        campaign=campaign, sku=product.skus.get(), price_fen=990, stock=3, per_member_limit=1
    )
    flash_admission.open_sale(campaign)
    member = MemberFactory(brand=store.brand, home_store=store, name="王小明", mobile="13812341234")

    page = browser_page
    sign_in_member(page, live_server, member)
    page.goto(f"{live_server.url}/h5/flash/{campaign.pk}/")
    expect(page.locator("main")).to_contain_text("北欧陶瓷杯")
    buy = page.locator("button[data-buy]")
    expect(buy).to_be_enabled()
    screenshot(page, tmp_path, "flash-sale")
    buy.click()

    page.wait_for_url(re.compile(r"/h5/orders/\d+/$"))
    order = Order.objects.get(member=member)
    assert (order.source, order.campaign_id, order.total_fen) == ("flash_sale", campaign.pk, 990)
    expect(page.locator("img.h5-qr")).to_be_visible()
    item.refresh_from_db()
    assert item.sold == 1
    screenshot(page, tmp_path, "flash-order")

    # Back on the sale page, a second purchase is over the limit: a clear message, nothing bought.
    page.goto(f"{live_server.url}/h5/flash/{campaign.pk}/")
    page.locator("button[data-buy]").click()
    expect(page.locator("main")).to_contain_text("limit")
    assert Order.objects.filter(member=member).count() == 1
    flash_config.clear_caches()
