"""The WeCom chat-toolbar sidebar in a plain browser on a phone: a clerk signs in, picks a WeCom group, sees
its ready items (the relay lines batched into one), copies one and marks it sent."""

from __future__ import annotations

import pytest
from django.urls import reverse

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
    expect(page.locator(f"#waiting-{wecom_group_a.pk}")).to_have_text("1 waiting")
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

    # The console's group page shows the relay lines delivered by that clerk, from the sidebar.
    page.goto(live_server.url + reverse("console:group_detail", args=[wecom_group_a.pk]) + "#deliveries")
    delivered = page.locator("#deliveries tr.delivery-confirmed")
    expect(delivered.first).to_contain_text(f"Sent by {clerk_a} from the sidebar")
    screenshot(page, tmp_path, "sidebar-console-deliveries-phone")


# A stand-in for the WeCom client's JS bridge: what the real @wecom/jssdk talks to inside WeCom.
WECOM_BRIDGE = """
window.__wecom = {calls: [], sent: []};
window.WeixinJSBridge = {
  on: function () {},
  invoke: function (name, params, callback) {
    window.__wecom.calls.push([name, params]);
    var result = {err_msg: name + ":ok"};
    if (name === "getCurExternalChat") result.chatId = "wrChatA";
    if (name === "sendChatMessage") window.__wecom.sent.push(params);
    setTimeout(function () { callback(result); }, 0);
  }
};
"""
WECOM_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Mobile/15E148 wxwork/4.1.22 MicroMessenger/7.0.1 Language/zh ColorScheme/Light"
)


def test_inside_wecom_oauth_register_find_the_group_and_send_with_one_tap(
    live_server, browser_page, tmp_path, sidebar_fake, sidebar_connector, wecom_group_a, clerk_a
):
    from urllib.parse import parse_qs, urlsplit

    from playwright.sync_api import expect

    from siyu.channels.connectors.wecom_jssdk import jsapi_signature

    clerk_a.wecom_userid = "zhangsan"
    clerk_a.save(update_fields=["wecom_userid"])
    card = {
        "title": "北欧陶瓷杯 今日特价",
        "description": "门店自提",
        "url": "https://shop.example/p/1",
        "image_url": "",
    }
    delivery = wait_for_staff(wecom_group_a, {"card": card}, kind=Kind.CARD, key="card-1")

    browser = browser_page.context.browser
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN", user_agent=WECOM_UA)
    try:
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.add_init_script(WECOM_BRIDGE)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))

        # Signed out inside WeCom: the sidebar sends the browser to WeCom's OAuth page. That page is played by
        # the test (the browser cannot reach WeCom): it sends the browser back with a code for zhangsan.
        first = page.request.get(
            f"{live_server.url}/sidebar/?connector={sidebar_connector.pk}",
            max_redirects=0,
            headers={"User-Agent": WECOM_UA},
        )
        assert first.status == 302
        oauth_url = first.headers["location"]
        assert oauth_url.startswith("https://open.weixin.qq.com/connect/oauth2/authorize?")
        query = parse_qs(urlsplit(oauth_url.split("#")[0]).query)
        assert query["scope"] == ["snsapi_base"] and query["agentid"] == ["1000002"]
        code = sidebar_fake.issue_oauth_code("zhangsan")
        page.goto(f"{query['redirect_uri'][0]}?code={code}&state={query['state'][0]}")
        assert page.url == f"{live_server.url}/sidebar/?connector={sidebar_connector.pk}"
        item = page.locator("[data-testid=sidebar-item]")
        expect(item).to_have_count(1)  # the current group's card, found through getCurExternalChat
        assert page.evaluate("document.body.classList.contains('in-wecom')") is True
        expect(item.locator("[data-sidebar-copy]")).to_be_hidden()
        expect(page.locator(".sidebar-groups")).to_be_hidden()
        screenshot(page, tmp_path, "sidebar-in-wecom-phone")

        calls = page.evaluate("window.__wecom.calls")
        (agent_config,) = [params for name, params in calls if name == "agentConfig"]
        assert agent_config["corpid"] == sidebar_connector.config["corp_id"]
        assert agent_config["agentid"] == "1000002"
        assert "getCurExternalChat" in agent_config["jsApiList"]
        page_url = page.url.split("#")[0]
        expected = jsapi_signature(
            sidebar_fake.tickets["agent"], agent_config["nonceStr"], agent_config["timestamp"], page_url
        )
        assert agent_config["signature"] == expected

        item.locator("[data-sidebar-send]").click()
        expect(page.locator("[data-testid=sidebar-item-done]")).to_have_count(1)
        (sent,) = page.evaluate("window.__wecom.sent")
        assert {k: sent[k] for k in ("msgtype", "enterChat", "news")} == {
            "msgtype": "news",
            "enterChat": False,
            "news": {"link": card["url"], "title": card["title"], "desc": "门店自提", "imgUrl": ""},
        }
        assert sent["verifySignature"] == agent_config["signature"]  # the SDK signs each call with it
        screenshot(page, tmp_path, "sidebar-in-wecom-sent-phone")
        assert not errors, errors
    finally:
        context.close()
    delivery.refresh_from_db()
    assert delivery.status == GroupDelivery.Status.CONFIRMED and delivery.done_by == clerk_a
