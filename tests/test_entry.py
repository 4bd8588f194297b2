"""Entering a WeCom or Telegram group Siyu seated a member in: the join-way QR, a personal Telegram invite
link, "pending" while the group or its QR is being prepared, and the H5 page ``/h5/g/<id>/``."""

from __future__ import annotations

import time

import pytest
from django.core.cache import cache
from django.urls import reverse

from siyu.channels.models import ChannelKind, Connector, OutboxMessage, WeComJoinWay
from siyu.channels.services.connectors import add_telegram_connector
from siyu.common.errors import ChannelUnavailable, NotFound
from siyu.communities.models import Community, CommunityMembership, GroupTemplate
from siyu.communities.services import entry, livecodes
from siyu.members.services.signin import SESSION_KEY
from tests.fakes.telegram import BOT_TOKEN, FakeTelegram

pytestmark = pytest.mark.django_db

QR = "https://wework.qpic.cn/wwpic/fake_join_way_qr/0"


@pytest.fixture(autouse=True)
def _quiet(settings):
    settings.SIYU_OUTBOX_DISPATCH = "off"
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def template(brand):
    return GroupTemplate.objects.create(brand=brand, name="宝妈群", base_name="宝妈群")


@pytest.fixture
def wecom(brand):
    return Connector.objects.create(brand=brand, kind=ChannelKind.WECOM, name="企微", config={})


@pytest.fixture
def wecom_code(hq_admin, store_a, template, wecom):
    return livecodes.create_live_code(
        hq_admin, store_id=store_a.pk, template_id=template.pk, channel="wecom", connector_id=wecom.pk
    )


@pytest.fixture
def wecom_group(store_a, template, wecom):
    return Community.objects.create(
        brand=store_a.brand,
        store=store_a,
        template=template,
        channel=ChannelKind.WECOM,
        connector=wecom,
        external_id="wrOgQhDgAAcwMTB7YmDkbeBsgT_AAAA",
        name="朝阳大悦城店·宝妈群1",
        hard_cap=500,
    )


@pytest.fixture
def web_group(store_a, template):
    return Community.objects.create(brand=store_a.brand, store=store_a, template=template, name="Web group")


@pytest.fixture
def tg():
    with FakeTelegram() as server:
        yield server


@pytest.fixture
def tg_group(brand, store_a, tg):
    connector = add_telegram_connector(bot_token=BOT_TOKEN, webhook_secret="s3cret", api_base=tg.url)
    return Community.objects.create(
        brand=store_a.brand,
        store=store_a,
        channel=ChannelKind.TELEGRAM,
        connector=connector,
        external_id="-1001234567",
        name="TG group",
        hard_cap=200_000,
    )


def _seat(community, member, live_code_id=None) -> CommunityMembership:
    return CommunityMembership.objects.create(community=community, member=member, live_code_id=live_code_id)


def _sign_in(client, member) -> None:
    session = client.session
    session[SESSION_KEY] = member.pk
    session.save()


def _page(community) -> str:
    return reverse("h5:entry", args=[community.pk])


# --- the service ----------------------------------------------------------------------------------


def test_web_group_enters_the_chat(web_group, member_a, client):
    _seat(web_group, member_a)
    way = entry.channel_entry(web_group, member_a)
    assert way.kind == "web" and way.url == f"/h5/c/{web_group.pk}/"
    _sign_in(client, member_a)
    response = client.get(_page(web_group))
    assert response.status_code == 302 and response["Location"] == f"/h5/c/{web_group.pk}/"


def test_wecom_with_join_way_answers_its_qr(wecom_group, wecom_code, wecom, member_a, client):
    WeComJoinWay.objects.create(
        connector=wecom, live_code_id=wecom_code.pk, config_id="cfg1", chat_ids=["x"], qr_code=QR
    )
    _seat(wecom_group, member_a, wecom_code.pk)
    way = entry.channel_entry(wecom_group, member_a)
    assert way.kind == "wecom_qr" and way.qr_image_url == QR and way.url == QR
    assert "Long-press" in way.instructions
    _sign_in(client, member_a)
    response = client.get(_page(wecom_group))
    html = response.content.decode()
    assert response.status_code == 200
    assert f'src="{QR}"' in html and "Long-press to recognise the QR code" in html
    assert wecom_group.name in html


def test_wecom_membership_without_live_code_uses_the_sets_code(wecom_group, wecom_code, wecom, member_a):
    WeComJoinWay.objects.create(connector=wecom, live_code_id=wecom_code.pk, config_id="c", qr_code=QR)
    _seat(wecom_group, member_a)  # added by staff, no live code on the membership
    assert entry.channel_entry(wecom_group, member_a).qr_image_url == QR


def test_wecom_without_join_way_is_pending_and_requests_one_sync(
    wecom_group, wecom_code, wecom, member_a, client
):
    OutboxMessage.objects.all().delete()
    _seat(wecom_group, member_a, wecom_code.pk)
    way = entry.channel_entry(wecom_group, member_a)
    assert way.kind == "pending" and "preparing the group QR" in way.instructions
    rows = OutboxMessage.objects.filter(connector=wecom, action="join_way_sync")
    assert rows.count() == 1 and rows.get().payload == {"live_code_id": wecom_code.pk}
    # Coming back while the sync waits does not queue another.
    _sign_in(client, member_a)
    response = client.get(_page(wecom_group))
    assert response.status_code == 200 and "preparing the group QR" in response.content.decode()
    assert "Try again" in response.content.decode()
    assert rows.count() == 1


def test_group_still_being_created_is_pending(wecom_group, member_a):
    _seat(wecom_group, member_a)
    Community.objects.filter(pk=wecom_group.pk).update(status=Community.Status.PENDING)
    wecom_group.refresh_from_db()
    way = entry.channel_entry(wecom_group, member_a)
    assert way.kind == "pending" and "still creating" in way.instructions
    assert not OutboxMessage.objects.exists()


def test_creating_a_wecom_live_code_requests_its_join_way(
    hq_admin, store_a, template, wecom, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        code = livecodes.create_live_code(
            hq_admin, store_id=store_a.pk, template_id=template.pk, channel="wecom", connector_id=wecom.pk
        )
    row = OutboxMessage.objects.get(action="join_way_sync")
    assert row.connector == wecom and row.payload == {"live_code_id": code.pk}
    # The same code again (idempotent) queues nothing more; web codes never do.
    with django_capture_on_commit_callbacks(execute=True):
        livecodes.create_live_code(
            hq_admin, store_id=store_a.pk, template_id=template.pk, channel="wecom", connector_id=wecom.pk
        )
        livecodes.create_live_code(
            hq_admin, store_id=store_a.pk, template_id=template.pk, staff_id=hq_admin.pk
        )
    assert OutboxMessage.objects.filter(action="join_way_sync").count() == 1


def test_telegram_single_use_link_created_once_and_cached(tg_group, tg, member_a, client):
    membership = _seat(tg_group, member_a)
    first = entry.channel_entry(tg_group, member_a)
    second = entry.channel_entry(tg_group, member_a)
    assert first.kind == "telegram_link" and first.url.startswith("https://t.me/+")
    assert second.url == first.url
    calls = tg.calls("createChatInviteLink")
    assert len(calls) == 1
    params = calls[0].json()
    assert params["member_limit"] == 1 and params["chat_id"] == -1001234567
    assert params["name"] == f"siyu-m{member_a.pk}" and len(params["name"]) <= 32
    assert 23 * 3600 < params["expire_date"] - time.time() <= 24 * 3600
    assert "creates_join_request" not in params
    assert first.expires_at is not None
    assert cache.get(entry.invite_cache_key(membership.pk))["url"] == first.url

    _sign_in(client, member_a)
    html = client.get(_page(tg_group)).content.decode()
    assert "Open in Telegram" in html and f'href="{first.url}"' in html
    assert len(tg.calls("createChatInviteLink")) == 1


def test_telegram_error_is_a_friendly_page(tg_group, tg, member_a, client):
    _seat(tg_group, member_a)
    tg.throttle.append(30)  # the next call gets a 429
    with pytest.raises(ChannelUnavailable):
        entry.channel_entry(tg_group, member_a)
    tg.throttle.append(30)
    _sign_in(client, member_a)
    response = client.get(_page(tg_group))
    html = response.content.decode()
    assert response.status_code == 502 and response["Retry-After"]
    assert "Please try again in a minute" in html and "Try again" in html and tg_group.name in html
    # Nothing was cached: once Telegram answers, the member gets a link.
    assert entry.channel_entry(tg_group, member_a).kind == "telegram_link"


def test_only_members_get_in(tg_group, wecom_group, member_a, member_b, client, tg):
    _seat(tg_group, member_a)
    with pytest.raises(NotFound):
        entry.channel_entry(tg_group, member_b)
    with pytest.raises(NotFound):
        entry.member_group(wecom_group.pk, member_a)
    _sign_in(client, member_b)
    assert client.get(_page(tg_group)).status_code == 404
    assert client.get(reverse("h5:entry", args=[999999])).status_code == 404
    assert not tg.calls("createChatInviteLink")
    # A member who left is not a member any more.
    CommunityMembership.objects.filter(member=member_a).update(status=CommunityMembership.Status.LEFT)
    _sign_in(client, member_a)
    assert client.get(_page(tg_group)).status_code == 404


def test_signed_out_goes_to_sign_in(client, tg_group):
    response = client.get(_page(tg_group))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("h5:login")) and "next=" in response["Location"]


# --- the join flow and "my groups" ----------------------------------------------------------------


def test_join_page_lands_on_the_entry_page_for_wecom(client, wecom_code, wecom_group, wecom, member_a):
    WeComJoinWay.objects.create(connector=wecom, live_code_id=wecom_code.pk, config_id="c", qr_code=QR)
    _sign_in(client, member_a)
    url = reverse("h5:join", kwargs={"token": wecom_code.token})
    response = client.post(url)
    membership = CommunityMembership.objects.get(member=member_a)
    assert membership.community == wecom_group and membership.live_code_id == wecom_code.pk
    assert response.status_code == 302 and response["Location"] == _page(wecom_group)
    # Coming back (already a member) lands there too, and the page shows the QR.
    assert client.get(url)["Location"] == _page(wecom_group)
    assert f'src="{QR}"' in client.get(_page(wecom_group)).content.decode()


def test_my_groups_links_channel_groups_to_the_entry_page(client, tg_group, web_group, member_a):
    _seat(tg_group, member_a)
    _seat(web_group, member_a)
    _sign_in(client, member_a)
    html = client.get(reverse("h5:my_groups")).content.decode()
    assert f'href="{_page(tg_group)}"' in html and f'href="/h5/c/{web_group.pk}/"' in html
