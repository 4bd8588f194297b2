"""The seams below communities: channels' hooks (a WeCom / Telegram join reaches any registered handler, in
the callback's transaction) and members' erasure hook (communities erases its own rows through it)."""

from __future__ import annotations

import json

import pytest
from django.core.cache import cache
from django.db import transaction

from siyu.channels import hooks
from siyu.channels.connectors.base import ChannelError
from siyu.channels.connectors.web import WebConnector
from siyu.channels.models import Connector, InboundEvent, OutboxMessage, WeComContact
from siyu.channels.services import outbox
from siyu.channels.services.connectors import add_telegram_connector
from siyu.communities.models import Community, CommunityMembership, Message
from siyu.members import hooks as member_hooks
from siyu.members.models import ChannelIdentity
from siyu.members.services import privacy
from tests.fakes.telegram import BOT_TOKEN, FakeTelegram
from tests.fakes.wecom import (
    CallbackBuilder,
    chat_event_xml,
)
from tests.wecom_support import connect_wecom

pytestmark = pytest.mark.django_db
SECRET = "hook-secret_0123456789"


@pytest.fixture(autouse=True)
def _quiet_outbox(settings):
    settings.SIYU_OUTBOX_DISPATCH = "off"
    cache.clear()


@pytest.fixture
def wecom(fake_wecom, store_a):
    return fake_wecom, connect_wecom(fake_wecom, store_a)


@pytest.fixture
def telegram(brand):
    with FakeTelegram() as server:
        yield add_telegram_connector(bot_token=BOT_TOKEN, webhook_secret=SECRET, api_base=server.url)


def _group(connector: Connector, store, chat_id: str, channel: str) -> Community:
    return Community.objects.create(
        brand=store.brand,
        store=store,
        channel=channel,
        connector=connector,
        external_id=chat_id,
        name=f"group {chat_id}",
        hard_cap=500,
    )


def _wecom_post(client, connector: Connector, xml: str):
    query, body = CallbackBuilder().post(xml)
    return client.post(f"/hooks/wecom/{connector.pk}/?{query}", data=body, content_type="text/xml")


def _telegram_post(client, connector: Connector, update: dict):
    return client.post(
        f"/hooks/telegram/{connector.pk}/",
        data=json.dumps(update),
        content_type="application/json",
        HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN=SECRET,
    )


def _tg_join(update_id: int, chat_id: int, user_id: int) -> dict:
    user = {"id": user_id, "is_bot": False, "first_name": "U"}
    message = {
        "message_id": update_id,
        "date": 1700000000,
        "chat": {"id": chat_id, "type": "supergroup"},
        "from": user,
        "new_chat_members": [user],
    }
    return {"update_id": update_id, "message": message}


# --- the registry --------------------------------------------------------------------------------


def test_hook_runs_handlers_in_order_and_asks_for_the_first_answer():
    hook: hooks.Hook[int, int | None] = hooks.Hook("test.numbers")
    seen: list[str] = []

    def silent(n: int) -> None:
        seen.append("silent")
        return None

    def double(n: int) -> int:
        seen.append("double")
        return n * 2

    hook.register(silent)
    hook.register(double)
    hook.register(double)  # once only
    assert hook.send(3) == [None, 6] and seen == ["silent", "double"]
    assert hook.ask(4) == 8
    hook.unregister(silent)
    with hook.connected(lambda n: n + 100):
        assert hook.send(1) == [2, 101]
    assert hook.handlers == (double,)


@pytest.mark.django_db(transaction=True)
def test_send_on_commit_waits_for_the_commit(brand):
    hook: hooks.Hook[str, None] = hooks.Hook("test.later")
    got: list[str] = []
    hook.register(got.append)
    with transaction.atomic():
        hook.send_on_commit("kept")
        assert got == []
    assert got == ["kept"]
    try:
        with transaction.atomic():
            hook.send_on_commit("dropped")
            raise RuntimeError
    except RuntimeError:
        pass
    assert got == ["kept"]


def test_apps_register_their_handlers_at_startup():
    from siyu.communities.services import channel_events, joinways, messages
    from siyu.members.services import identities

    assert identities.on_identity_seen in hooks.identity_seen.handlers
    assert channel_events.on_member_joined in hooks.member_joined.handlers
    assert channel_events.on_group_seen in hooks.group_seen.handlers
    assert joinways.join_way_spec in hooks.join_way_spec.handlers
    assert messages.erase_member_messages in member_hooks.member_erased.handlers


# --- joins reach a registered handler ------------------------------------------------------------


def test_wecom_join_reaches_a_registered_handler(client, wecom, member_a):
    fake, connector = wecom
    ChannelIdentity.objects.create(member=member_a, channel="wecom", external_id="wm_a")
    group = _group(connector, member_a.home_store, "wrchat1", "wecom")
    fake.add_group("wrchat1", group.name)
    fake.add_member("wrchat1", "wm_a")
    fake.add_member("wrchat1", "wm_x", unionid="union_x")  # a stranger: no handler hears of them
    got: list[hooks.MemberJoined] = []
    with hooks.member_joined.connected(got.append):
        xml = chat_event_xml("wrchat1", "update", update_detail="add_member", members=["wm_a", "wm_x"])
        assert _wecom_post(client, connector, xml).status_code == 200
    assert [(e.chat_id, e.member_id, e.connector.pk) for e in got] == [("wrchat1", member_a.pk, connector.pk)]
    # communities' own handler ran beside it: the member is seated.
    assert CommunityMembership.objects.filter(community=group, member=member_a, status="active").exists()
    assert WeComContact.objects.filter(external_userid="wm_x", member__isnull=True).exists()


def test_telegram_join_reaches_a_registered_handler(client, telegram, member_a):
    ChannelIdentity.objects.create(member=member_a, channel="telegram", external_id="5550001")
    group = _group(telegram, member_a.home_store, "-1001234", "telegram")
    got: list[hooks.MemberJoined] = []
    with hooks.member_joined.connected(got.append):
        assert _telegram_post(client, telegram, _tg_join(1, -1001234, 5550001)).status_code == 200
        # A chat no app knows still reaches the hook; communities ignores it.
        assert _telegram_post(client, telegram, _tg_join(2, -999, 5550001)).status_code == 200
    assert [(e.chat_id, e.member_id) for e in got] == [("-1001234", member_a.pk), ("-999", member_a.pk)]
    assert CommunityMembership.objects.filter(community=group, member=member_a, status="active").count() == 1


def test_a_failing_handler_rolls_the_event_back_and_leaves_it_to_retry(client, telegram, member_a):
    ChannelIdentity.objects.create(member=member_a, channel="telegram", external_id="5550001")
    group = _group(telegram, member_a.home_store, "-1001234", "telegram")

    def broken(event: hooks.MemberJoined) -> None:
        raise RuntimeError("handler down")

    with hooks.member_joined.connected(broken):
        assert _telegram_post(client, telegram, _tg_join(7, -1001234, 5550001)).status_code == 200
    # communities seated the member first, in the same transaction: rolled back with the failure.
    assert not CommunityMembership.objects.filter(community=group).exists()
    row = InboundEvent.objects.get(connector=telegram)
    assert row.processed_at is None and "handler down" in row.error


def test_message_received_carries_the_member_and_the_channel_message_id(client, telegram, member_a):
    ChannelIdentity.objects.create(member=member_a, channel="telegram", external_id="5550001")
    _group(telegram, member_a.home_store, "-1001234", "telegram")
    got: list[hooks.MessageReceived] = []
    update = {
        "update_id": 9,
        "message": {
            "message_id": 31,
            "date": 1700000000,
            "chat": {"id": -1001234, "type": "supergroup"},
            "from": {"id": 5550001, "is_bot": False, "first_name": "U"},
            "text": "你好",
        },
    }
    with hooks.message_received.connected(got.append):
        _telegram_post(client, telegram, update)
    assert [(e.member_id, e.text, e.external_id) for e in got] == [(member_a.pk, "你好", "-1001234:31")]


# --- outbox deliveries -------------------------------------------------------------------------


def test_delivery_outcomes_are_told(brand, monkeypatch):
    web = Connector.objects.create(brand=brand, kind="web", name="web")
    confirmed: list[hooks.Delivery] = []
    failed: list[hooks.Delivery] = []
    monkeypatch.setattr(WebConnector, "perform", lambda self, action, payload: {"ok": 1})
    with hooks.delivery_confirmed.connected(confirmed.append), hooks.delivery_failed.connected(failed.append):
        row = outbox.enqueue(web, "post", {"text": "a"}, bucket="b", idempotency_key="d1", community_id=5)
        outbox.dispatch_due()

        def refuse(self, action, payload):
            raise ChannelError("nope", retryable=False)

        monkeypatch.setattr(WebConnector, "perform", refuse)
        bad = outbox.enqueue(web, "post", {"text": "b"}, bucket="b", idempotency_key="d2")
        outbox.dispatch_due()
    assert [(d.outbox_id, d.ok, d.community_id, d.result) for d in confirmed] == [
        (row.pk, True, 5, {"ok": 1})
    ]
    assert [(d.outbox_id, d.ok, d.error) for d in failed] == [(bad.pk, False, "nope")]
    assert OutboxMessage.objects.get(pk=bad.pk).status == "failed"


# --- erasure through members' hook ----------------------------------------------------------------


def _web_group_with_messages(member, other):
    group = Community.objects.create(
        brand=member.brand, store=member.home_store, channel="web", name="web group", hard_cap=500
    )
    mine = Message.objects.create(
        community=group, member=member, sender_kind="member", kind="text", text="我的电话 138…"
    )
    card = Message.objects.create(
        community=group, member=member, sender_kind="member", kind="text", card={"title": "x"}
    )
    theirs = Message.objects.create(
        community=group, member=other, sender_kind="member", kind="text", text="hi"
    )
    return mine, card, theirs


def test_erasure_removes_the_members_messages_through_the_hook(hq_admin, member_a, member_b):
    mine, card, theirs = _web_group_with_messages(member_a, member_b)
    heard: list[member_hooks.MemberErased] = []
    with member_hooks.member_erased.connected(heard.append):
        privacy.erase_member(hq_admin, member_a.pk)
    assert heard == [member_hooks.MemberErased(member_id=member_a.pk, brand_id=member_a.brand_id)]
    for message in (mine, card):
        message.refresh_from_db()
        assert message.text == "" and message.card == {} and message.member_id == member_a.pk  # row kept
    theirs.refresh_from_db()
    assert theirs.text == "hi"


def test_erasure_is_all_or_nothing_with_its_handlers(hq_admin, member_a, member_b):
    mine, _card, _theirs = _web_group_with_messages(member_a, member_b)

    def broken(event: member_hooks.MemberErased) -> None:
        raise RuntimeError("cannot erase")

    with member_hooks.member_erased.connected(broken), pytest.raises(RuntimeError):
        privacy.erase_member(hq_admin, member_a.pk)
    member_a.refresh_from_db()
    mine.refresh_from_db()
    assert member_a.erased_at is None and mine.text.startswith("我的电话")
