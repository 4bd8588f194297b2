"""The WeCom chat-toolbar sidebar: JS-SDK signature and tickets, staff OAuth, ready items, marking done,
store scoping (docs/channels.md, "Sidebar (聊天工具栏)")."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse
from django.utils import timezone

from siyu.channels.connectors.wecom import WeComConnector
from siyu.channels.connectors.wecom_jssdk import jsapi_signature, oauth_authorize_url
from siyu.channels.models import WeComTicket
from siyu.channels.services import wecom_sidebar_auth as auth
from siyu.common.errors import ChannelUnavailable, NotFound
from siyu.communities.models import CommunityMembership, GroupDelivery
from siyu.communities.services import sidebar
from siyu.org.models import AuditEntry
from tests.factories import BrandFactory, MemberFactory, StaffFactory
from tests.fakes.wecom import CORP_ID
from tests.race_support import is_postgres, run_threads
from tests.sidebar_support import SIDEBAR_AGENT_ID, wait_for_staff

pytestmark = pytest.mark.django_db

WECOM_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Mobile/15E148 wxwork/4.1.22 MicroMessenger/7.0.1 Language/zh ColorScheme/Light"
)
Status = GroupDelivery.Status
Kind = GroupDelivery.Kind


# --- signature --------------------------------------------------------------------------------------------


def test_signature_matches_wecoms_official_example():
    ticket = "sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nbSlYy3-Sl-HhTdfl2fzFy1AOcHKP7qg"
    got = jsapi_signature(ticket, "Wm3WZYTPz0wzccnW", 1414587457, "http://mp.weixin.qq.com?params=value")
    assert got == "0f9de62fce790f9a083d5c99e95740ceb90c27ed"


def test_signature_signs_the_url_without_its_fragment_and_unencoded():
    url = "https://siyu.example/console/sidebar/?connector=1&x=a b"
    plain = f"jsapi_ticket=T&noncestr=N&timestamp=1&url={url}"
    expected = hashlib.sha1(plain.encode()).hexdigest()  # noqa: S324 - the protocol's own signature
    assert jsapi_signature("T", "N", 1, url + "#/group") == expected
    assert jsapi_signature("T", "N", "1", url) == expected


# --- tickets ----------------------------------------------------------------------------------------------


def test_tickets_are_cached_until_shortly_before_expiry(sidebar_fake, sidebar_connector):
    first = auth.jsapi_ticket(sidebar_connector, "agent")
    assert auth.jsapi_ticket(sidebar_connector, "agent") == first
    assert sidebar_fake.ticket_fetches == {"corp": 0, "agent": 1}
    # The enterprise ticket is a different ticket, cached on its own.
    corp = auth.jsapi_ticket(sidebar_connector, "corp")
    assert corp != first and auth.jsapi_ticket(sidebar_connector, "corp") == corp
    assert sidebar_fake.ticket_fetches == {"corp": 1, "agent": 1}
    row = WeComTicket.objects.get(connector=sidebar_connector, kind="agent")
    assert row.expires_at - row.fetched_at == timedelta(seconds=7200) and row.fetches == 1
    # Within the refresh margin before expiry it is fetched again, once.
    later = row.expires_at - auth.TICKET_REFRESH_MARGIN + timedelta(seconds=1)
    second = auth.jsapi_ticket(sidebar_connector, "agent", now=later)
    assert second != first and sidebar_fake.ticket_fetches["agent"] == 2
    assert auth.jsapi_ticket(sidebar_connector, "agent") == second
    assert sidebar_fake.ticket_fetches["agent"] == 2
    ticket_calls = sidebar_fake.calls("/cgi-bin/ticket/get")
    assert all(r.method == "GET" and r.query["type"] == "agent_config" for r in ticket_calls)


def test_a_refused_ticket_is_not_stored(sidebar_fake, sidebar_connector):
    sidebar_fake.fail_next.append(48002)
    with pytest.raises(ChannelUnavailable):
        auth.jsapi_ticket(sidebar_connector, "corp")
    assert not WeComTicket.objects.filter(connector=sidebar_connector).exclude(ticket="").exists()
    assert auth.jsapi_ticket(sidebar_connector, "corp")
    assert sidebar_fake.ticket_fetches["corp"] == 1


@pytest.mark.django_db(transaction=True)
def test_tickets_are_fetched_once_per_expiry_across_connections(sidebar_fake, sidebar_connector):
    if not is_postgres():
        pytest.skip("needs PostgreSQL (real parallel connections)")
    results = run_threads(8, lambda i: auth.jsapi_ticket(sidebar_connector, "agent"))
    assert all(isinstance(r, str) for r in results), results
    assert len(set(results)) == 1
    assert sidebar_fake.ticket_fetches["agent"] == 1
    # Expired: the next crowd fetches exactly one new ticket and all of them use it.
    WeComTicket.objects.filter(connector=sidebar_connector).update(expires_at=timezone.now())
    again = run_threads(8, lambda i: auth.jsapi_ticket(sidebar_connector, "agent"))
    assert all(isinstance(r, str) for r in again), again
    assert len(set(again)) == 1 and again[0] != results[0]
    assert sidebar_fake.ticket_fetches["agent"] == 2


def test_signature_endpoint_signs_this_sites_pages_with_the_app_ticket(
    client, sidebar_fake, sidebar_connector, clerk_a
):
    client.force_login(clerk_a)
    url = f"http://testserver/sidebar/?connector={sidebar_connector.pk}"
    response = client.get(reverse("console:sidebar_signature"), {"url": url, "kind": "agent"})
    assert response.status_code == 200
    body = response.json()
    expected = jsapi_signature(sidebar_fake.tickets["agent"], body["nonceStr"], body["timestamp"], url)
    assert body["signature"] == expected
    refused = client.get(
        reverse("console:sidebar_signature"), {"url": "https://evil.example/x", "kind": "agent"}
    )
    assert refused.status_code == 400
    client.logout()
    assert client.get(reverse("console:sidebar_signature"), {"url": url}).status_code == 401


# --- OAuth ------------------------------------------------------------------------------------------------


def test_oauth_link_has_wecoms_documented_form(sidebar_connector):
    url = oauth_authorize_url(
        WeComConnector(sidebar_connector), "https://siyu.example/console/sidebar/oauth/", "abc123"
    )
    assert url == (
        f"https://open.weixin.qq.com/connect/oauth2/authorize?appid={CORP_ID}"
        "&redirect_uri=https%3A%2F%2Fsiyu.example%2Fconsole%2Fsidebar%2Foauth%2F"
        f"&response_type=code&scope=snsapi_base&state=abc123&agentid={SIDEBAR_AGENT_ID}#wechat_redirect"
    )


def _start_oauth(client, connector) -> str:
    response = client.get(reverse("console:sidebar"), {"connector": connector.pk}, HTTP_USER_AGENT=WECOM_UA)
    assert response.status_code == 302
    location = response["Location"]
    assert location.startswith("https://open.weixin.qq.com/connect/oauth2/authorize?")
    assert location.endswith("#wechat_redirect")
    query = parse_qs(urlsplit(location.split("#")[0]).query)
    assert query["appid"] == [CORP_ID] and query["scope"] == ["snsapi_base"]
    assert query["redirect_uri"] == ["http://testserver/sidebar/oauth/"]
    return query["state"][0]


def test_inside_wecom_oauth_signs_the_staff_member_in(client, sidebar_fake, sidebar_connector, clerk_a):
    clerk_a.wecom_userid = "zhangsan"
    clerk_a.save(update_fields=["wecom_userid"])
    state = _start_oauth(client, sidebar_connector)
    code = sidebar_fake.issue_oauth_code("zhangsan")
    response = client.get(reverse("console:sidebar_oauth"), {"code": code, "state": state})
    assert response.status_code == 302
    assert response["Location"] == f"/sidebar/?connector={sidebar_connector.pk}"
    assert int(client.session["_auth_user_id"]) == clerk_a.pk
    assert AuditEntry.objects.filter(action="staff.login_wecom", actor=clerk_a).exists()
    (call,) = sidebar_fake.calls("/cgi-bin/auth/getuserinfo")
    assert call.method == "GET" and call.query["code"] == code
    page = client.get(response["Location"], HTTP_USER_AGENT=WECOM_UA)
    assert page.status_code == 200 and b'data-corp-id="' + CORP_ID.encode() in page.content


def test_oauth_refuses_a_wrong_or_reused_state(client, sidebar_fake, sidebar_connector, clerk_a):
    clerk_a.wecom_userid = "zhangsan"
    clerk_a.save(update_fields=["wecom_userid"])
    state = _start_oauth(client, sidebar_connector)
    code = sidebar_fake.issue_oauth_code("zhangsan")
    forged = client.get(reverse("console:sidebar_oauth"), {"code": code, "state": state[:-1] + "x"})
    assert forged.status_code == 400 and "_auth_user_id" not in client.session
    # The state was used up by that attempt: the right one no longer works either.
    again = client.get(reverse("console:sidebar_oauth"), {"code": code, "state": state})
    assert again.status_code == 400 and "_auth_user_id" not in client.session
    assert not sidebar_fake.calls("/cgi-bin/auth/getuserinfo")


@pytest.mark.parametrize("userid", ["lisi", ""])
def test_oauth_for_someone_who_is_no_staff_member_says_so(client, sidebar_fake, sidebar_connector, userid):
    state = _start_oauth(client, sidebar_connector)
    code = sidebar_fake.issue_oauth_code(userid)
    response = client.get(reverse("console:sidebar_oauth"), {"code": code, "state": state})
    assert response.status_code == 403
    assert "not linked to a staff account" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_oauth_ignores_staff_of_another_brand_and_inactive_staff(
    client, sidebar_fake, sidebar_connector, clerk_a
):
    StaffFactory(brand=BrandFactory(code="other-brand"), username="other-brand", wecom_userid="wangwu")
    clerk_a.wecom_userid = "wangwu"
    clerk_a.is_active = False
    clerk_a.save(update_fields=["wecom_userid", "is_active"])
    state = _start_oauth(client, sidebar_connector)
    response = client.get(
        reverse("console:sidebar_oauth"), {"code": sidebar_fake.issue_oauth_code("wangwu"), "state": state}
    )
    assert response.status_code == 403 and "_auth_user_id" not in client.session


def test_an_expired_code_is_a_clear_page(client, sidebar_fake, sidebar_connector):
    state = _start_oauth(client, sidebar_connector)
    response = client.get(reverse("console:sidebar_oauth"), {"code": "used-or-expired", "state": state})
    assert response.status_code == 400
    assert "could not confirm who you are" in response.content.decode()


def test_in_a_plain_browser_signed_out_goes_to_the_console_sign_in(client, sidebar_connector):
    response = client.get(reverse("console:sidebar"))
    assert response.status_code == 302 and response["Location"].startswith("/login/?next=")


# --- ready items ------------------------------------------------------------------------------------------


def _relay(group, n: int):
    lines = [f"{i}. 王** 北欧陶瓷杯 ×1" for i in range(3 * n - 2, 3 * n + 1)]
    text = "\n".join(["【秒杀接龙】北欧陶瓷杯限时秒杀", *lines])
    return wait_for_staff(group, {"text": text}, kind=Kind.RELAY, key=f"relay-{n}")


def test_relay_lines_come_as_one_message_and_one_tap_marks_them_all(client, wecom_group_a, clerk_a):
    relays = [_relay(wecom_group_a, n) for n in (1, 2, 3)]
    _, items = sidebar.ready_items(clerk_a, wecom_group_a.pk)
    (relay,) = [i for i in items if i.kind == Kind.RELAY]
    assert relay.delivery_ids == [d.pk for d in relays]
    assert relay.text.count("【秒杀接龙】") == 1
    assert relay.text.splitlines()[1:] == [f"{i}. 王** 北欧陶瓷杯 ×1" for i in range(1, 10)]
    assert relay.chat_message() == {"msgtype": "text", "enterChat": False, "text": {"content": relay.text}}

    client.force_login(clerk_a)
    url = reverse("console:sidebar_done", args=[wecom_group_a.pk])
    response = client.post(
        url, {"delivery": relay.delivery_ids, "title": relay.title}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200 and "Marked sent by" in response.content.decode()
    rows = GroupDelivery.objects.filter(pk__in=relay.delivery_ids)
    assert {(r.status, r.done_by_id) for r in rows} == {(Status.CONFIRMED, clerk_a.pk)}
    assert all(r.delivered_at is not None for r in rows)
    assert not [i for i in sidebar.items_for(wecom_group_a) if i.kind == Kind.RELAY]
    # A second tap (or a second staff member) changes nothing: the first sender is kept.
    manager = StaffFactory(brand=clerk_a.brand, role="store_manager", stores=[wecom_group_a.store])
    client.force_login(manager)
    assert client.post(url, {"delivery": relay.delivery_ids}).status_code == 200
    assert set(GroupDelivery.objects.filter(pk__in=relay.delivery_ids).values_list("done_by", flat=True)) == {
        clerk_a.pk
    }


def test_items_come_in_sending_order_cards_as_news(wecom_group_a, clerk_a):
    card = {
        "title": "北欧陶瓷杯",
        "description": "今日特价",
        "url": "https://shop.example/p/1",
        "image_url": "",
    }
    wait_for_staff(wecom_group_a, {"card": card}, kind=Kind.CARD, key="card-1")
    wait_for_staff(wecom_group_a, {"text": "今晚八点直播"}, kind=Kind.ANNOUNCEMENT, key="ann-1")
    first = wait_for_staff(wecom_group_a, {"text": "12:00 午间推荐"}, kind=Kind.PROGRAMME, key="prog-1")
    wait_for_staff(wecom_group_a, {"text": "18:00 晚间推荐"}, kind=Kind.PROGRAMME, key="prog-2")
    _relay(wecom_group_a, 1)
    _, items = sidebar.ready_items(clerk_a, wecom_group_a.pk)
    assert [i.kind for i in items] == [Kind.PROGRAMME, Kind.RELAY, Kind.CARD, Kind.ANNOUNCEMENT]
    assert items[0].delivery_ids == [first.pk]  # only the next programme item
    assert items[2].chat_message() == {
        "msgtype": "news",
        "enterChat": False,
        "news": {"link": card["url"], "title": "北欧陶瓷杯", "desc": "今日特价", "imgUrl": ""},
    }
    assert items[2].copy_text() == "北欧陶瓷杯\n今日特价\nhttps://shop.example/p/1"


def test_nothing_ready_says_nothing_about_a_programme(client, wecom_group_a, clerk_a):
    _, items = sidebar.ready_items(clerk_a, wecom_group_a.pk)
    assert items == []
    client.force_login(clerk_a)
    response = client.get(reverse("console:sidebar_group", args=[wecom_group_a.pk]), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert "Nothing waiting for this group right now." in response.content.decode()
    assert "programme" not in response.content.decode().lower()


def test_expired_items_are_not_offered(wecom_group_a, clerk_a):
    from siyu.communities.services.dispatch import dispatch

    dispatch(
        wecom_group_a,
        {"text": "过期"},
        kind=Kind.ANNOUNCEMENT,
        key="old",
        can_wait=False,
        expires_at=timezone.now() - timedelta(minutes=1),
    )
    assert sidebar.ready_items(clerk_a, wecom_group_a.pk)[1] == []


def test_new_joiners_get_one_welcome_that_is_offered_once(client, brand, store_a, wecom_group_a, clerk_a):
    members = [MemberFactory(brand=brand, home_store=store_a, nickname=n) for n in ("小雨", "阿青")]
    old = MemberFactory(brand=brand, home_store=store_a, nickname="老会员")
    rows = [CommunityMembership.objects.create(community=wecom_group_a, member=m) for m in members]
    CommunityMembership.objects.create(
        community=wecom_group_a, member=old, joined_at=timezone.now() - timedelta(hours=30)
    )
    robot_welcome = wait_for_staff(wecom_group_a, {"text": "欢迎 小雨"}, kind=Kind.WELCOME, key="message:1")
    _, items = sidebar.ready_items(clerk_a, wecom_group_a.pk)
    (welcome,) = items
    assert welcome.kind == Kind.WELCOME and welcome.membership_ids == [r.pk for r in rows]
    assert welcome.delivery_ids == [robot_welcome.pk]
    assert "小雨、阿青" in welcome.text and "老会员" not in welcome.text

    client.force_login(clerk_a)
    response = client.post(
        reverse("console:sidebar_done", args=[wecom_group_a.pk]),
        {"delivery": welcome.delivery_ids, "membership": welcome.membership_ids},
    )
    assert response.status_code == 200
    robot_welcome.refresh_from_db()
    assert robot_welcome.status == Status.CONFIRMED and robot_welcome.done_by == clerk_a
    staff_welcomes = GroupDelivery.objects.filter(
        community=wecom_group_a, idempotency_key__startswith="staff-welcome:"
    )
    assert {(d.status, d.done_by_id, d.path) for d in staff_welcomes} == {
        (Status.CONFIRMED, clerk_a.pk, "staff")
    }
    assert staff_welcomes.count() == 2
    assert sidebar.items_for(wecom_group_a) == []
    # Someone joining later gets a welcome of their own.
    newcomer = MemberFactory(brand=brand, home_store=store_a, nickname="新人")
    later = CommunityMembership.objects.create(community=wecom_group_a, member=newcomer)
    (again,) = sidebar.items_for(wecom_group_a)
    assert again.membership_ids == [later.pk] and "新人" in again.text


# --- the group the sidebar is open in, and store scoping --------------------------------------------------


def test_the_current_chat_resolves_to_the_staff_members_group(
    client, sidebar_connector, wecom_group_a, wecom_group_b, clerk_a
):
    _relay(wecom_group_a, 1)
    client.force_login(clerk_a)
    url = reverse("console:sidebar_chat")
    mine = client.get(url, {"connector": sidebar_connector.pk, "chat_id": "wrChatA"}, HTTP_HX_REQUEST="true")
    assert mine.status_code == 200 and "宝妈群1" in mine.content.decode()
    assert "【秒杀接龙】" in mine.content.decode()
    other = client.get(url, {"connector": sidebar_connector.pk, "chat_id": "wrChatB"}, HTTP_HX_REQUEST="true")
    assert other.status_code == 404 and "Not your group" in other.content.decode()
    unknown = client.get(url, {"chat_id": "wrNobody"}, HTTP_HX_REQUEST="true")
    assert unknown.status_code == 404
    with pytest.raises(NotFound):
        sidebar.group_for_chat(clerk_a, sidebar_connector, "wrChatB")


def test_staff_of_store_a_cannot_list_or_mark_store_bs_items(client, wecom_group_a, wecom_group_b, clerk_a):
    theirs = _relay(wecom_group_b, 1)
    with pytest.raises(NotFound):
        sidebar.ready_items(clerk_a, wecom_group_b.pk)
    with pytest.raises(NotFound):
        sidebar.mark_done(clerk_a, wecom_group_b.pk, delivery_ids=[theirs.pk])
    # Nor through their own group's URL with the other group's delivery.
    with pytest.raises(NotFound):
        sidebar.mark_done(clerk_a, wecom_group_a.pk, delivery_ids=[theirs.pk])
    client.force_login(clerk_a)
    assert client.get(reverse("console:sidebar_group", args=[wecom_group_b.pk])).status_code == 404
    for group in (wecom_group_a, wecom_group_b):
        response = client.post(reverse("console:sidebar_done", args=[group.pk]), {"delivery": [theirs.pk]})
        assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == Status.WAITING_STAFF and theirs.done_by is None
    page = client.get(reverse("console:sidebar"))
    assert page.status_code == 200
    assert "宝妈群1" in page.content.decode() and "宝妈群B1" not in page.content.decode()


def test_hq_sees_every_stores_groups_busiest_first(wecom_group_a, wecom_group_b, hq_admin):
    _relay(wecom_group_b, 1)
    groups = sidebar.sidebar_groups(hq_admin)
    assert [(g.community.pk, g.waiting) for g in groups] == [(wecom_group_b.pk, 1), (wecom_group_a.pk, 0)]


def test_the_page_outside_wecom_lists_groups_and_shows_a_groups_items(client, wecom_group_a, clerk_a):
    _relay(wecom_group_a, 1)
    client.force_login(clerk_a)
    page = client.get(reverse("console:sidebar_group", args=[wecom_group_a.pk]))
    html = page.content.decode()
    assert page.status_code == 200
    assert (
        "data-sidebar-copy" in html
        and "data-sidebar-send" in html
        and "vendor/wecom/wecom.global.prod.js" in html
    )
    assert 'data-corp-id=""' in html  # outside WeCom: nothing to register


# --- zh-Hans and the demo ---------------------------------------------------------------------------------


def test_the_page_speaks_chinese_by_default(client, settings, wecom_group_a, clerk_a):
    settings.LANGUAGE_CODE = "zh-hans"
    _relay(wecom_group_a, 1)
    client.force_login(clerk_a)
    html = client.get(reverse("console:sidebar_group", args=[wecom_group_a.pk]), HTTP_ACCEPT_LANGUAGE="zh-CN")
    text = html.content.decode()
    assert "待发送" in text and "复制" in text and "已发送" in text and "接龙：1 条消息合成一条" in text


def test_the_demo_has_a_wecom_group_with_items_for_the_sidebar(brand, store_a, clerk_a):
    from siyu.tooling.demo.sidebar import seed_demo_sidebar

    now = timezone.now()
    MemberFactory(brand=brand, home_store=store_a, nickname="小雨")
    group = seed_demo_sidebar(brand, now)
    assert group is not None and group.store == store_a
    assert seed_demo_sidebar(brand, now) == group  # once
    (listed,) = sidebar.sidebar_groups(clerk_a)
    assert listed.community == group
    kinds = [i.kind for i in sidebar.items_for(group)]
    assert kinds == [Kind.PROGRAMME, Kind.RELAY, Kind.WELCOME, Kind.CARD]
    assert not GroupDelivery.objects.filter(community=group).exclude(status=Status.WAITING_STAFF).exists()


# --- the WeCom user ID on the staff page ------------------------------------------------------------------


def test_hq_sets_a_staff_members_wecom_user_id_unique_within_the_brand(client, hq_admin, clerk_a, manager_a):
    from siyu.common.errors import Conflict, ValidationFailed
    from siyu.org.services import staff_admin

    client.force_login(hq_admin)
    url = reverse("console:staff_edit", args=[clerk_a.pk])
    data = {
        "display_name": clerk_a.display_name,
        "role": "clerk",
        "store_ids": [s.pk for s in clerk_a.stores.all()],
    }
    response = client.post(url, {**data, "wecom_userid": "ZhangSan"})
    assert response.status_code == 302
    clerk_a.refresh_from_db()
    assert clerk_a.wecom_userid == "ZhangSan"
    assert AuditEntry.objects.filter(action="staff.update", target_id=str(clerk_a.pk)).exists()
    assert 'value="ZhangSan"' in client.get(url).content.decode()
    with pytest.raises(Conflict):
        staff_admin.update_staff(hq_admin, manager_a.pk, {"wecom_userid": "ZhangSan"})
    with pytest.raises(ValidationFailed):
        staff_admin.update_staff(hq_admin, manager_a.pk, {"wecom_userid": "张三 <x>"})
    with pytest.raises(Conflict):
        staff_admin.create_staff(
            hq_admin,
            {
                "username": "new1",
                "role": "hq_operator",
                "password": "a-Long-pass-2026",
                "wecom_userid": "ZhangSan",
            },
        )
    # Clearing it frees the ID.
    staff_admin.update_staff(hq_admin, clerk_a.pk, {"wecom_userid": ""})
    assert (
        staff_admin.update_staff(hq_admin, manager_a.pk, {"wecom_userid": "ZhangSan"}).wecom_userid
        == "ZhangSan"
    )
