"""The WeCom chat-toolbar sidebar in a plain browser on a phone: a clerk signs in, picks a WeCom group, sees
its ready items (the relay lines batched into one), copies one and marks it sent."""

from __future__ import annotations

import pytest

from siyu.communities.models import GroupDelivery
from tests.browser.support import screenshot
from tests.factories import TEST_PASSWORD
from tests.sidebar_support import wait_for_staff

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

Kind = GroupDelivery.Kind


def test_sidebar_lists_a_groups_items_and_copy_then_sent_marks_one_done(
    live_server, browser_page, tmp_path, wecom_group_a, wecom_group_b, clerk_a
):
    from playwright.sync_api import expect

    relays = [
        wait_for_staff(
            wecom_group_a,
            {
                "text": "\n".join(
                    ["【秒杀接龙】北欧陶瓷杯限时秒杀", *(f"{i}. 王** 北欧陶瓷杯 ×1" for i in seq)]
                )
            },
            kind=Kind.RELAY,
            key=f"relay-{seq[0]}",
        )
        for seq in ((1, 2), (3, 4), (5,))
    ]
    card = {
        "title": "北欧陶瓷杯 今日特价",
        "description": "门店自提，限量 200 只",
        "url": "https://shop.example/h5/p/1",
        "image_url": "",
    }
    card_delivery = wait_for_staff(wecom_group_a, {"card": card}, kind=Kind.CARD, key="card-1")
    wait_for_staff(wecom_group_b, {"text": "别的门店的接龙"}, kind=Kind.RELAY, key="relay-b")

    page = browser_page
    errors: list[str] = []
    page.on("console", lambda m: errors.append(f"{m.type}: {m.text}"))
    page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
    page.set_viewport_size({"width": 390, "height": 844})
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    page.goto(live_server.url + "/sidebar/")
    # Signed out in a plain browser: the console sign-in, then back to the sidebar.
    page.fill("input[name=username]", clerk_a.username)
    page.fill("input[name=password]", TEST_PASSWORD)
    page.click("main form button[type=submit]")
    expect(page.locator(".sidebar-groups a")).to_have_count(1)  # only store A's group
    expect(page.locator(".sidebar-groups")).to_contain_text("宝妈群1")
    expect(page.locator(".sidebar-groups")).not_to_contain_text("宝妈群B1")
    page.wait_for_load_state("load")
    assert page.evaluate("typeof ww") == "object", errors  # the WeCom JS-SDK is served locally
    assert page.evaluate("document.body.classList.contains('in-wecom')") is False
    screenshot(page, tmp_path, "sidebar-groups-phone")

    page.click(".sidebar-groups a")
    items = page.locator("[data-testid=sidebar-item]")
    expect(items).to_have_count(2)  # the three relay messages as one, and the card
    relay = items.nth(0)
    expect(relay).to_have_attribute("data-kind", "relay")
    relay_text = relay.locator(".sidebar-text").inner_text()
    assert relay_text.count("【秒杀接龙】") == 1
    assert [line for line in relay_text.splitlines() if "王**" in line] == [
        f"{i}. 王** 北欧陶瓷杯 ×1" for i in range(1, 6)
    ]
    expect(items.nth(1)).to_contain_text("北欧陶瓷杯 今日特价")
    # Outside WeCom there is no "send": copy, then "sent".
    expect(relay.locator("[data-sidebar-send]")).to_be_hidden()
    expect(relay.locator("[data-sidebar-copy]")).to_be_visible()
    screenshot(page, tmp_path, "sidebar-items-phone")

    relay.locator("[data-sidebar-copy]").click()
    expect(relay.locator(".sidebar-feedback")).not_to_be_empty()
    assert page.evaluate("navigator.clipboard.readText()") == relay_text
    relay.locator("[data-sidebar-done]").click()
    done = page.locator("[data-testid=sidebar-item-done]")
    expect(done).to_have_count(1)
    expect(done).to_contain_text(str(clerk_a))
    expect(items).to_have_count(1)  # the card is still waiting
    screenshot(page, tmp_path, "sidebar-done-phone")
    assert not [e for e in errors if e.startswith(("error", "pageerror"))], errors

    rows = GroupDelivery.objects.filter(pk__in=[d.pk for d in relays])
    assert {(r.status, r.done_by_id) for r in rows} == {(GroupDelivery.Status.CONFIRMED, clerk_a.pk)}
    card_delivery.refresh_from_db()
    assert card_delivery.status == GroupDelivery.Status.WAITING_STAFF

    # Reloading the group shows only what is still waiting.
    page.reload()
    expect(page.locator("[data-testid=sidebar-item]")).to_have_count(1)
    expect(page.locator("[data-testid=sidebar-item]")).to_have_attribute("data-kind", "card")
