"""Telegram connector: webhook secret, update_id idempotency, member events, outbound calls per spec."""

from __future__ import annotations

import io
import json
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from siyu.channels.connectors.base import Capability, ChannelError
from siyu.channels.connectors.telegram import TelegramConnector, truncate_utf16
from siyu.channels.models import Connector, InboundEvent
from siyu.channels.services import outbox
from siyu.channels.services.connectors import add_telegram_connector
from siyu.common.errors import ValidationFailed
from siyu.communities.models import Community, CommunityMembership, Message
from siyu.members.models import ChannelIdentity
from tests.fakes.telegram import BOT_TOKEN, FakeTelegram

pytestmark = pytest.mark.django_db
SECRET = "hook-secret_0123456789"


@pytest.fixture(autouse=True)
def _quiet_outbox(settings):
    settings.SIYU_OUTBOX_DISPATCH = "off"


@pytest.fixture
def tg():
    with FakeTelegram() as server:
        yield server


@pytest.fixture
def connector(brand, tg):
    return add_telegram_connector(bot_token=BOT_TOKEN, webhook_secret=SECRET, api_base=tg.url)


@pytest.fixture
def group(connector, store_a):
    return Community.objects.create(
        brand=store_a.brand,
        store=store_a,
        channel="telegram",
        connector=connector,
        external_id="-1001234",
        name="TG group",
        hard_cap=200000,
    )


@pytest.fixture
def tg_member(member_a):
    ChannelIdentity.objects.create(member=member_a, channel="telegram", external_id="5550001")
    return member_a


def _hook(client, connector, update, secret=SECRET):
    headers = {} if secret is None else {"HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN": secret}
    return client.post(
        f"/hooks/telegram/{connector.pk}/",
        data=json.dumps(update),
        content_type="application/json",
        **headers,
    )


def _user(uid: int) -> dict:
    return {"id": uid, "is_bot": False, "first_name": "U"}


def _message(update_id: int, *, text: str = "", message_id: int = 1, **extra) -> dict:
    msg = {
        "message_id": message_id,
        "date": 1700000000,
        "chat": {"id": -1001234, "type": "supergroup", "title": "TG group"},
        "from": _user(5550001),
        **extra,
    }
    if text:
        msg["text"] = text
    return {"update_id": update_id, "message": msg}


def test_secret_token_checked(client, connector, group):
    assert _hook(client, connector, _message(1, text="hi"), secret="wrong").status_code == 403
    assert _hook(client, connector, _message(1, text="hi"), secret=None).status_code == 403
    assert not InboundEvent.objects.exists()
    assert _hook(client, connector, _message(1, text="hi")).status_code == 200
    assert _hook(client, connector, [1, 2]).status_code == 400  # type: ignore[arg-type]


def test_update_id_idempotent_and_message_recorded(client, connector, group, tg_member):
    CommunityMembership.objects.create(community=group, member=tg_member)
    for _ in range(3):
        assert _hook(client, connector, _message(42, text="大家好", message_id=7)).status_code == 200
    assert InboundEvent.objects.filter(connector=connector).count() == 1
    message = Message.objects.get(community=group)
    assert message.text == "大家好" and message.member == tg_member and message.external_id == "-1001234:7"


def test_join_and_leave_events(client, connector, group, tg_member):
    _hook(client, connector, _message(1, new_chat_members=[_user(5550001), _user(999)]))
    assert CommunityMembership.objects.filter(community=group, member=tg_member, status="active").count() == 1
    _hook(client, connector, _message(2, left_chat_member=_user(5550001)))
    assert CommunityMembership.objects.get(community=group, member=tg_member).status == "left"
    change = {
        "chat": {"id": -1001234, "type": "supergroup"},
        "from": _user(1),
        "date": 1700000000,
        "old_chat_member": {"user": _user(5550001), "status": "left"},
        "new_chat_member": {"user": _user(5550001), "status": "member"},
    }
    _hook(client, connector, {"update_id": 3, "chat_member": change})
    assert CommunityMembership.objects.filter(community=group, member=tg_member, status="active").count() == 1
    change = {**change, "new_chat_member": {"user": _user(5550001), "status": "kicked", "until_date": 0}}
    _hook(client, connector, {"update_id": 4, "chat_member": change})
    assert (
        CommunityMembership.objects.filter(community=group, member=tg_member, status="removed").count() == 1
    )
    group.refresh_from_db()
    assert group.member_count == 0


def test_outbound_calls_match_spec(connector, tg):
    impl = outbox.get_connector(connector)
    assert isinstance(impl, TelegramConnector)
    assert (
        impl.can(Capability.MUTE)
        and impl.can(Capability.REMOVE_MEMBER)
        and not impl.can(Capability.CREATE_GROUP)
    )
    until = timezone.now() + timedelta(hours=1)
    impl.perform("post", {"chat_id": -1001234, "text": "x" * 5000})
    impl.perform("mute", {"chat_id": -1001234, "user_id": "5550001", "until": until.isoformat()})
    impl.perform("remove", {"chat_id": -1001234, "user_id": 5550001})
    impl.perform("delete_message", {"chat_id": -1001234, "message_id": 9})
    link = impl.create_chat_invite_link(-1001234, name="store A live code", member_limit=150)
    assert link["member_limit"] == 150
    send = tg.calls("sendMessage")[0].json()
    assert send["chat_id"] == -1001234 and len(send["text"]) == 4096
    mute = tg.calls("restrictChatMember")[0].json()
    assert mute["user_id"] == 5550001 and mute["until_date"] == int(until.timestamp())
    assert mute["permissions"]["can_send_messages"] is False
    assert tg.calls("banChatMember")[0].json() == {"chat_id": -1001234, "user_id": 5550001}
    assert tg.calls("deleteMessage")[0].json() == {"chat_id": -1001234, "message_id": 9}
    invite = tg.calls("createChatInviteLink")[0].json()
    assert invite == {"chat_id": -1001234, "name": "store A live code", "member_limit": 150}
    assert all(r.path.startswith(f"/bot{BOT_TOKEN}/") for r in tg.requests)
    with pytest.raises(ChannelError):
        impl.create_chat_invite_link(-1, member_limit=5, creates_join_request=True)


def test_truncate_utf16_counts_surrogates():
    text = "😀" * 3000  # 6000 UTF-16 units
    out = truncate_utf16(text)
    assert len(out.encode("utf-16-le")) // 2 <= 4096


def test_429_raises_retryable_with_retry_after(connector, tg):
    tg.throttle = [12]
    with pytest.raises(ChannelError) as err:
        TelegramConnector(connector).send_message(1, "x")
    assert err.value.retryable and err.value.retry_after == 12 and err.value.code == 429


def test_add_telegram_command_sets_webhook(brand, tg):
    out = io.StringIO()
    call_command(
        "channels",
        "add-telegram",
        "--bot-token",
        BOT_TOKEN,
        "--api-base",
        tg.url,
        "--base-url",
        "https://siyu.example.com",
        "--set-webhook",
        stdout=out,
    )
    connector = Connector.objects.get(kind="telegram")
    url = f"https://siyu.example.com/hooks/telegram/{connector.pk}/"
    assert f"connector id: {connector.pk}" in out.getvalue() and url in out.getvalue()
    assert tg.webhook["url"] == url and tg.webhook["secret_token"] == connector.config["webhook_secret"]
    assert "chat_member" in tg.webhook["allowed_updates"]


def test_add_telegram_validates(brand):
    with pytest.raises(ValidationFailed) as err:
        add_telegram_connector(bot_token="nope")
    assert err.value.field == "bot_token"
    with pytest.raises(ValidationFailed) as err:
        add_telegram_connector(bot_token=BOT_TOKEN, webhook_secret="has space")
    assert err.value.field == "webhook_secret"


def test_personal_invite_link_links_the_telegram_account(client, connector, group, member_a, member_b):
    from siyu.communities.models import CommunityMembership
    from siyu.members.models import ChannelIdentity

    change = {
        "chat": {"id": int(group.external_id), "type": "supergroup"},
        "from": _user(7770001),
        "date": 1,
        "old_chat_member": {"user": _user(7770001), "status": "left"},
        "new_chat_member": {"user": _user(7770001), "status": "member"},
        "invite_link": {"invite_link": "https://t.me/+x", "name": f"siyu-m{member_a.pk}", "member_limit": 1},
    }
    _hook(client, connector, {"update_id": 40, "chat_member": change})
    identity = ChannelIdentity.objects.get(channel="telegram", external_id="7770001")
    assert identity.member == member_a
    assert CommunityMembership.objects.filter(community=group, member=member_a, status="active").exists()
    # A link name cannot take over an account that already belongs to someone else.
    change["invite_link"]["name"] = f"siyu-m{member_b.pk}"
    _hook(client, connector, {"update_id": 41, "chat_member": change})
    assert ChannelIdentity.objects.get(channel="telegram", external_id="7770001").member == member_a
