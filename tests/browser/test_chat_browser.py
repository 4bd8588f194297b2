"""The web group chat in real browsers: join through a live code, see the robot's welcome, and chat live
with a second member on another phone (an independent browser context) without reloading."""

from __future__ import annotations

import io
import time

import pytest
from PIL import Image

from siyu.communities.models import Community, GroupTemplate, LiveCode, Message
from siyu.communities.services import live
from siyu.communities.services.joining import join_community
from tests.browser.support import screenshot, sign_in_member
from tests.factories import MemberFactory, StoreFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_join_by_live_code_and_chat_live(live_server, browser_two_pages, settings, tmp_path):
    from playwright.sync_api import expect

    # Short streams and keepalives so the live server's threads end soon after the browsers close.
    settings.SIYU_CHAT_STREAM_SECONDS = 30
    settings.SIYU_CHAT_KEEPALIVE_SECONDS = 1
    store = StoreFactory(code="A001", name="朝阳大悦城店")
    template = GroupTemplate.objects.create(
        brand=store.brand, name="宝妈群", base_name="宝妈群", rules_text="不发广告", welcome_template=""
    )
    group = Community.objects.create(
        brand=store.brand, store=store, template=template, name="朝阳大悦城店·宝妈群1", sequence=1
    )
    code = LiveCode.objects.create(brand=store.brand, store=store, template=template, name="朝阳·宝妈群")
    newcomer = MemberFactory(
        brand=store.brand, home_store=store, name="王小明", nickname="小王爱喝咖啡", mobile="13812341234"
    )
    regular = MemberFactory(brand=store.brand, home_store=store, name="李小红", mobile="13900001111")
    join_community(group, regular, scene="store_qr")

    page_a, page_b = browser_two_pages
    sign_in_member(page_b, live_server, regular)
    page_b.goto(f"{live_server.url}/h5/c/{group.pk}/")
    expect(page_b.locator("h1.chat-title")).to_have_text(group.name)
    expect(page_b.locator("#chat-status.chat-live")).to_be_visible()  # the event stream is open
    page_b.evaluate("window.__noReload = true")

    # The newcomer scans the store's live code, joins, and lands in the group chat.
    sign_in_member(page_a, live_server, newcomer)
    page_a.goto(f"{live_server.url}/h5/j/{code.token}/")
    page_a.click("main form button[type=submit]")
    page_a.wait_for_url(f"**/h5/c/{group.pk}/")
    welcome = page_a.locator(".chat-msg.chat-robot").filter(has_text="小王爱喝咖啡")
    expect(welcome).to_be_visible()
    expect(welcome.locator(".chat-badge-robot")).to_be_visible()
    # The regular member saw the robot welcome the newcomer, live.
    expect(page_b.locator(".chat-msg.chat-robot").filter(has_text="小王爱喝咖啡")).to_be_visible()

    page_a.fill("#chat-text", "大家好，我是新来的！")
    page_a.click("#chat-send")
    expect(page_a.locator(".chat-msg.chat-mine").filter(has_text="大家好，我是新来的！")).to_be_visible()
    expect(page_a.locator(".chat-pending")).to_have_count(0)

    arrived = page_b.locator(".chat-msg").filter(has_text="大家好，我是新来的！")
    expect(arrived).to_be_visible()
    expect(arrived.locator(".chat-name")).to_have_text("小王爱喝咖啡")  # the nickname, not the name
    expect(arrived.locator(".chat-avatar")).to_have_text("小")  # no avatar uploaded: the first character
    assert "chat-mine" not in (arrived.get_attribute("class") or "")
    assert page_b.evaluate("window.__noReload") is True  # arrived without reloading the page
    screenshot(page_b, tmp_path, "chat-phone")

    # And back: the regular member answers with Enter; the newcomer sees it live.
    page_b.fill("#chat-text", "欢迎欢迎")
    page_b.press("#chat-text", "Enter")
    expect(page_a.locator(".chat-msg").filter(has_text="欢迎欢迎")).to_be_visible()

    # A picture: uploaded by one, shown to the other through the members-only image URL.
    png = io.BytesIO()
    Image.new("RGB", (60, 40), (220, 80, 40)).save(png, format="PNG")
    page_a.set_input_files(
        "#chat-image", files=[{"name": "p.png", "mimeType": "image/png", "buffer": png.getvalue()}]
    )
    page_a.click("#chat-send")
    picture = page_b.locator(".chat-msg img.chat-image")
    expect(picture).to_have_count(1)
    page_b.wait_for_function(
        "() => { const i = document.querySelector('img.chat-image'); return i && i.naturalWidth === 60; }"
    )
    screenshot(page_b, tmp_path, "chat-phone-picture")
    assert Message.objects.filter(community=group, sender_kind="member").count() == 3
    assert Message.objects.filter(community=group, sender_kind="robot").count() == 2  # one welcome each

    # Leave the page: the server notices at its next keepalive and ends the streams (freeing their threads).
    page_a.goto("about:blank")
    page_b.goto("about:blank")
    deadline = time.monotonic() + 10
    while live._local.subscriber_count(group.pk) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert live._local.subscriber_count(group.pk) == 0
