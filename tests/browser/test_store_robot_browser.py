"""A store manager sets the robot of the store's internal staff group on a phone."""

from __future__ import annotations

import pytest

from siyu.channels.models import StoreRobot
from tests.browser.support import screenshot
from tests.factories import TEST_PASSWORD, StaffFactory, StoreFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

KEY = "5f1c2a9e-0b7d-4c1e-9a55-3d2f6e8b7a10"


def test_manager_sets_the_staff_group_robot(live_server, browser_page, tmp_path):
    from playwright.sync_api import expect

    store = StoreFactory(code="A001", name="朝阳大悦城店")
    StaffFactory(brand=store.brand, username="managera", role="store_manager", stores=[store])
    page = browser_page
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(live_server.url + "/")
    page.fill("input[name=username]", "managera")
    page.fill("input[name=password]", TEST_PASSWORD)
    page.click("main form button[type=submit]")
    page.goto(live_server.url + "/stores/")
    screenshot(page, tmp_path, "stores-phone")
    page.click("text=Staff group robot")
    expect(page.locator("h1")).to_contain_text("Staff group robot of 朝阳大悦城店")
    expect(page.locator("main")).to_contain_text("never to a customer group")
    page.fill("input[name=webhook_key]", f"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={KEY}")
    page.fill("input[name=summary_at]", "20:30")
    page.click("main form button[type=submit] >> nth=0")
    expect(page.locator("main")).to_contain_text("Staff group robot saved.")
    expect(page.locator("main")).to_contain_text("7a10")
    assert KEY not in page.content()
    screenshot(page, tmp_path, "store-robot-phone")
    robot = StoreRobot.objects.get(store=store)
    assert robot.webhook_key == KEY and robot.summary_at.strftime("%H:%M") == "20:30"
