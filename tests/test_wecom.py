"""WeCom connector: callback crypto and receiver, event handling, outbound requests to the fake server."""

from __future__ import annotations

import base64
import hashlib
import io
import struct
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.utils import timezone

from siyu.analytics.models import Event
from siyu.channels.connectors.base import Capability, ChannelError, Unsupported
from siyu.channels.connectors.wecom import ROBOT_TEXT_MAX, WeComConnector, truncate_utf8
from siyu.channels.models import InboundEvent, OutboxMessage, WeComContact, WeComJoinWay, WeComMassTask
from siyu.channels.services import outbox
from siyu.channels.services.connectors import add_wecom_connector
from siyu.channels.services.wecom_joinway import join_way_state, sync_join_way
from siyu.channels.wecom_crypto import WeComCrypto, WeComCryptoError, decode_aes_key, signature
from siyu.common.errors import ValidationFailed
from siyu.communities.models import Community, CommunityMembership, GroupTemplate, LiveCode, StaffTask
from siyu.members.models import ChannelIdentity
from siyu.members.services.identities import link_channel_contacts
from tests.fakes.wecom import (
    AES_KEY,
    CALLBACK_TOKEN,
    CORP_ID,
    CORP_SECRET,
    ROBOT_KEY,
    CallbackBuilder,
    chat_event_xml,
)
from tests.wecom_support import AGENT_ID, connect_wecom

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _quiet_outbox(settings):
    # Dispatch is driven explicitly by the tests (no background threads against the test database).
    settings.SIYU_OUTBOX_DISPATCH = "off"
    cache.clear()


@pytest.fixture
def fake(fake_wecom):
    return fake_wecom


@pytest.fixture
def connector(fake, store_a):
    return connect_wecom(fake, store_a, agent_id=AGENT_ID)


@pytest.fixture
def builder():
    return CallbackBuilder()


def _url(connector) -> str:
    return f"/hooks/wecom/{connector.pk}/"


def _post(client, connector, builder, xml: str, **kw):
    query, body = builder.post(xml, **kw)
    return client.post(f"{_url(connector)}?{query}", data=body, content_type="text/xml")


@pytest.fixture
def template(brand):
    return GroupTemplate.objects.create(brand=brand, name="Mums", base_name="宝妈群", recommended_size=200)


def _wecom_group(connector, store, chat_id, *, template=None, sequence=1, count=0, name=""):
    return Community.objects.create(
        brand=store.brand,
        store=store,
        template=template,
        channel="wecom",
        connector=connector,
        external_id=chat_id,
        name=name or f"{store.name}·宝妈群{sequence}",
        sequence=sequence,
        hard_cap=500,
        recommended_size=200,
        member_count=count,
    )


# --- crypto ------------------------------------------------------------------------------------


def test_crypto_interoperates_with_independent_implementation(builder):
    ours = WeComCrypto(CALLBACK_TOKEN, AES_KEY, CORP_ID)
    for size in (0, 1, 11, 12, 31, 32, 33, 500):
        msg = ("消" * size).encode()
        assert ours.decrypt(builder.encrypt(msg)) == msg
        assert builder.decrypt(ours.encrypt(msg)) == msg


def test_crypto_layout_and_padding_block_32(builder):
    ours = WeComCrypto(CALLBACK_TOKEN, AES_KEY, CORP_ID)
    key = decode_aes_key(AES_KEY)
    assert len(key) == 32 and ours.iv == key[:16]
    encrypted = base64.b64decode(ours.encrypt(b"hi", random16=b"R" * 16))
    # 16 + 4 + 2 + len(corp id) = 39 bytes, padded to the next multiple of 32 → 64.
    assert len(encrypted) == 64
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    dec = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
    plain = dec.update(encrypted) + dec.finalize()
    assert plain[:16] == b"R" * 16
    assert struct.unpack(">I", plain[16:20])[0] == 2
    assert plain[20:22] == b"hi" and plain[22:39] == CORP_ID.encode()
    assert plain[39:] == bytes([25]) * 25


def test_signature_is_sha1_of_sorted_strings():
    expected = hashlib.sha1("".join(sorted(["tok", "123", "nonce", "ENC"])).encode()).hexdigest()  # noqa: S324 - the protocol's own checksum/signature
    assert signature("tok", "123", "nonce", "ENC") == expected


def test_wrong_corp_id_is_refused(builder):
    ours = WeComCrypto(CALLBACK_TOKEN, AES_KEY, CORP_ID)
    with pytest.raises(WeComCryptoError) as err:
        ours.decrypt(builder.encrypt(b"<xml/>", receive_id="wwsomeoneelse"))
    assert err.value.code == -40005


# --- receiver ----------------------------------------------------------------------------------


def test_url_verification_answers_decrypted_echostr(client, connector, builder):
    response = client.get(f"{_url(connector)}?{builder.verify_query('echo-12345')}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    assert response.content == b"echo-12345"


def test_url_verification_keeps_plus_in_unencoded_echostr(client, connector, builder):
    # Some proxies pass echostr without percent-encoding; "+" is base64, not a space.
    for i in range(200):
        echostr = builder.encrypt(f"echo-{i}")
        if "+" in echostr:
            break
    ts, nonce = "1700000000", "abc"
    sig = builder.sign(ts, nonce, echostr)
    response = client.get(
        f"{_url(connector)}?msg_signature={sig}&timestamp={ts}&nonce={nonce}&echostr={echostr}"
    )
    assert response.status_code == 200
    assert response.content == f"echo-{i}".encode()


def test_url_verification_wrong_signature_403(client, connector, builder):
    query = builder.verify_query("x").replace("msg_signature=", "msg_signature=0")
    assert client.get(f"{_url(connector)}?{query}").status_code == 403


def test_signed_callback_is_accepted_and_registers_group(client, connector, builder, fake, store_a):
    fake.add_group("wrchat1", "新群")
    response = _post(client, connector, builder, chat_event_xml("wrchat1", "create"))
    assert response.status_code == 200
    assert response.content == b"success"
    community = Community.objects.get(connector=connector, external_id="wrchat1")
    assert community.store == store_a and community.status == "open" and community.hard_cap == 500
    assert community.channel_owner == fake.groups["wrchat1"]["owner"]  # the sender of its mass messages
    event = InboundEvent.objects.get(connector=connector)
    assert event.processed_at is not None
    assert event.payload["ChatId"] == "wrchat1" and event.kind == "change_external_chat:create"


def test_wrong_signature_is_rejected_and_changes_nothing(client, connector, builder, fake):
    fake.add_group("wrchat1", "新群")
    response = _post(client, connector, builder, chat_event_xml("wrchat1", "create"), bad_signature=True)
    assert response.status_code == 403
    assert not InboundEvent.objects.exists()
    assert not Community.objects.filter(external_id="wrchat1").exists()
    assert not fake.requests  # not even a token fetch


def test_bad_xml_400_and_unknown_connector_404(client, connector, builder):
    assert (
        client.post(
            f"{_url(connector)}?msg_signature=a&timestamp=1&nonce=n",
            data=b"<xml><Enc",
            content_type="text/xml",
        ).status_code
        == 400
    )
    xxe = b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><xml><Encrypt>&e;</Encrypt></xml>'
    assert (
        client.post(
            f"{_url(connector)}?msg_signature=a&timestamp=1&nonce=n", data=xxe, content_type="text/xml"
        ).status_code
        == 400
    )
    assert client.get(f"/hooks/wecom/{connector.pk + 999}/?{builder.verify_query('x')}").status_code == 404


def test_same_callback_twice_changes_state_once(client, connector, builder, fake, member_a):
    ChannelIdentity.objects.create(member=member_a, channel="wecom", external_id="wm_a")
    group = _wecom_group(connector, member_a.home_store, "wrchat1")
    fake.add_group("wrchat1", group.name)
    fake.add_member("wrchat1", "wm_a")
    xml = chat_event_xml("wrchat1", "update", update_detail="add_member", members=["wm_a"], cur_mem_ver="v2")
    query, body = builder.post(xml)
    first = client.post(f"{_url(connector)}?{query}", data=body, content_type="text/xml")
    second = client.post(f"{_url(connector)}?{query}", data=body, content_type="text/xml")
    # A redelivery encrypted afresh (new random prefix, new nonce) is the same event.
    third = _post(client, connector, builder, xml)
    assert first.content == second.content == third.content == b"success"
    assert InboundEvent.objects.count() == 1
    assert CommunityMembership.objects.filter(community=group, member=member_a).count() == 1
    assert Event.objects.filter(type="community.joined", member_id=member_a.pk).count() == 1
    group.refresh_from_db()
    assert group.member_count == 1


def test_members_join_leave_and_unknown_contacts(client, connector, builder, fake, member_a, member_b):
    ChannelIdentity.objects.create(member=member_a, channel="wecom", external_id="wm_a")
    ChannelIdentity.objects.create(
        member=member_b, channel="wechat", external_id="openid_b", unionid="union_b"
    )
    group = _wecom_group(connector, member_a.home_store, "wrchat1")
    fake.add_group("wrchat1", group.name)
    fake.add_member("wrchat1", "wm_a")
    fake.add_member("wrchat1", "wm_b", unionid="union_b")  # known through WeChat sign-in
    fake.add_member("wrchat1", "wm_x", unionid="union_x", name="路人")
    xml = chat_event_xml("wrchat1", "update", update_detail="add_member", members=["wm_a", "wm_b", "wm_x"])
    assert _post(client, connector, builder, xml).status_code == 200
    active = set(
        CommunityMembership.objects.filter(community=group, status="active").values_list(
            "member_id", flat=True
        )
    )
    assert active == {member_a.pk, member_b.pk}
    assert ChannelIdentity.objects.filter(member=member_b, channel="wecom", external_id="wm_b").exists()
    contact = WeComContact.objects.get(external_userid="wm_x")
    assert contact.unionid == "union_x" and contact.chat_ids == ["wrchat1"] and contact.member is None

    fake.remove_member("wrchat1", "wm_a")
    xml = chat_event_xml("wrchat1", "update", update_detail="del_member", members=["wm_a"], quit_scene=1)
    assert _post(client, connector, builder, xml).status_code == 200
    membership = CommunityMembership.objects.get(community=group, member=member_a)
    assert membership.status == "removed" and membership.left_at is not None
    group.refresh_from_db()
    assert group.member_count == 1


def test_unknown_contact_links_when_member_signs_in(connector, fake, member_a):
    group = _wecom_group(connector, member_a.home_store, "wrchat1")
    WeComContact.objects.create(
        connector=connector, external_userid="wm_x", unionid="union_x", chat_ids=["wrchat1"]
    )
    ChannelIdentity.objects.create(
        member=member_a, channel="wechat", external_id="openid_a", unionid="union_x"
    )
    assert link_channel_contacts(member_a) == 1
    assert CommunityMembership.objects.filter(community=group, member=member_a, status="active").exists()
    assert ChannelIdentity.objects.filter(member=member_a, channel="wecom", external_id="wm_x").exists()
    assert link_channel_contacts(member_a) == 0


def test_create_attaches_waiting_group_and_closes_task(client, connector, builder, fake, store_a, template):
    from siyu.communities.services.matrix import open_group

    pending = open_group(store_a, template, "wecom", connector)
    assert pending.status == "pending"
    task = StaffTask.objects.get(community=pending, kind="create_group")
    fake.add_group("wrnew", pending.name)
    assert _post(client, connector, builder, chat_event_xml("wrnew", "create")).status_code == 200
    pending.refresh_from_db()
    task.refresh_from_db()
    assert pending.external_id == "wrnew" and pending.status == "open"
    assert task.status == "done"
    assert Community.objects.filter(connector=connector).count() == 1


def test_dismiss_archives_group(client, connector, builder, fake, member_a):
    ChannelIdentity.objects.create(member=member_a, channel="wecom", external_id="wm_a")
    group = _wecom_group(connector, member_a.home_store, "wrchat1")
    fake.add_group("wrchat1", group.name)
    fake.add_member("wrchat1", "wm_a")
    _post(
        client,
        connector,
        builder,
        chat_event_xml("wrchat1", "update", update_detail="add_member", members=["wm_a"]),
    )
    assert _post(client, connector, builder, chat_event_xml("wrchat1", "dismiss")).status_code == 200
    group.refresh_from_db()
    assert group.status == "archived" and group.member_count == 0
    assert CommunityMembership.objects.get(community=group, member=member_a).status == "left"


# --- outbound requests -------------------------------------------------------------------------


def test_token_cached_and_refreshed_on_42001(connector, fake):
    fake.add_group("wrchat1", "g")
    impl = WeComConnector(connector)
    impl.groupchat_get("wrchat1")
    impl.groupchat_get("wrchat1")
    assert len(fake.calls("/gettoken")) == 1
    fake.expire_tokens()
    assert impl.groupchat_get("wrchat1")["chat_id"] == "wrchat1"
    assert len(fake.calls("/gettoken")) == 2
    gets = fake.calls("/groupchat/get")
    assert len(gets) == 4
    assert gets[-1].query["access_token"] != gets[-2].query["access_token"]
    assert gets[-1].json() == {"chat_id": "wrchat1", "need_name": 1}


def test_groupchat_list_follows_cursor(connector, fake):
    for i in range(5):
        fake.add_group(f"wr{i}", f"g{i}")
    chats = WeComConnector(connector).groupchat_list(limit=2)
    assert [c["chat_id"] for c in chats] == [f"wr{i}" for i in range(5)]
    bodies = [r.json() for r in fake.calls("/groupchat/list")]
    assert bodies[0] == {"status_filter": 0, "limit": 2}
    assert bodies[1]["cursor"] == "2"


def test_join_way_sync_sends_spec_fields(connector, fake, store_a, template):
    code = LiveCode.objects.create(
        brand=store_a.brand,
        store=store_a,
        template=template,
        name="朝阳大悦城店 宝妈群活码",
        channel="wecom",
        connector=connector,
    )
    groups = []
    for i, count in enumerate([10, 150, 199, 200, 80, 30, 5], start=1):
        groups.append(_wecom_group(connector, store_a, f"wr{i}", template=template, sequence=i, count=count))
        fake.add_group(f"wr{i}", groups[-1].name)
    way = sync_join_way(code.pk)
    assert isinstance(way, WeComJoinWay)
    body = fake.calls("/add_join_way")[0].json()
    # Fullest first among those with room (200 is full), at most 5.
    assert body["chat_id_list"] == ["wr3", "wr2", "wr5", "wr6", "wr1"]
    assert body["scene"] == 2 and body["auto_create_room"] == 1
    assert body["state"] == join_way_state(code.pk) and len(body["state"]) <= 30
    assert body["room_base_name"] == f"{store_a.name}·宝妈群" and body["room_base_id"] == 8
    assert len(body["remark"]) <= 30
    assert way.qr_code.startswith("https://") and fake.calls("/get_join_way")[0].json() == {
        "config_id": way.config_id
    }

    # Nothing changed: no update call. Then a group fills up: the list is updated in place.
    sync_join_way(code.pk)
    assert not fake.calls("/update_join_way")
    Community.objects.filter(pk=groups[2].pk).update(member_count=200)
    sync_join_way(code.pk)
    update = fake.calls("/update_join_way")[0].json()
    assert update["config_id"] == way.config_id and update["chat_id_list"] == [
        "wr2",
        "wr5",
        "wr6",
        "wr1",
        "wr7",
    ]
    assert fake.join_ways[way.config_id]["chat_id_list"] == update["chat_id_list"]


def test_robot_messages_match_spec_and_truncate_safely(connector, fake):
    """The robot webhook is for a store's internal staff group, always with that group's key."""
    impl = WeComConnector(connector)
    impl.robot_send(ROBOT_KEY, {"text": "群" * 1000})  # 3000 bytes
    impl.robot_send(ROBOT_KEY, {"markdown": "**公告**\n" + "字" * 2000})
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100
    impl.robot_send(ROBOT_KEY, {"image_b64": base64.b64encode(png).decode()})
    impl.robot_send(
        ROBOT_KEY,
        {
            "card": {
                "title": "标" * 60,
                "description": "d",
                "url": "https://x.example/a",
                "image_url": "https://x.example/p.png",
            },
        },
    )
    bodies = [r.json() for r in fake.calls("/webhook/send")]
    assert all(r.query == {"key": ROBOT_KEY} for r in fake.calls("/webhook/send"))
    assert bodies[0]["msgtype"] == "text" and len(bodies[0]["text"]["content"].encode()) <= ROBOT_TEXT_MAX
    assert bodies[0]["text"]["content"].endswith("…")
    assert bodies[1]["msgtype"] == "markdown" and len(bodies[1]["markdown"]["content"].encode()) <= 4096
    assert bodies[2]["image"] == {
        "base64": base64.b64encode(png).decode(),
        "md5": hashlib.md5(png).hexdigest(),  # noqa: S324 - the protocol's own checksum/signature
    }
    article = bodies[3]["news"]["articles"][0]
    assert len(article["title"].encode()) <= 128 and article["picurl"] == "https://x.example/p.png"
    assert len(fake.robot_messages) == 4  # the fake accepted every one
    assert fake.violations == []


def test_no_post_into_a_customer_group_by_robot(connector, fake):
    impl = WeComConnector(connector)
    for action in ("post", "announce"):
        with pytest.raises(Unsupported):
            impl.perform(action, {"chat_id": "wr1", "text": "hi"})
    with pytest.raises(ChannelError):
        impl.robot_send("", {"text": "hi"})  # no connector-level robot to fall back on
    assert fake.calls("/webhook/send") == []


def test_truncate_utf8_never_splits_a_character():
    for limit in range(1, 20):
        out = truncate_utf8("a中文字符😀b" * 3, limit)
        assert len(out.encode()) <= limit
        out.encode().decode("utf-8")  # valid


def test_mass_message_fields_fail_list_and_task(connector, fake):
    fake.add_group("wr1", "群1", owner="owner01")
    fake.add_group("wr2", "群2", owner="someone-else")
    impl = WeComConnector(connector)
    payload = {"sender": "owner01", "chat_id_list": ["wr1", "wr2"], "text": "本月活动", "key": "mass:b1"}
    result = impl.perform("mass_message", payload)
    body = fake.calls("/add_msg_template")[0].json()
    assert body == {
        "chat_type": "group",
        "sender": "owner01",
        "chat_id_list": ["wr1", "wr2"],
        "text": {"content": "本月活动"},
    }
    assert result["fail_list"] == ["wr2"]  # WeCom sends only to the sender's own groups
    task = WeComMassTask.objects.get(batch_key="mass:b1")
    assert task.msgid == result["msgid"] and task.chat_ids == ["wr1"] and task.sender == "owner01"
    # The outbox retrying the same batch does not make a second mass message.
    assert impl.perform("mass_message", payload)["msgid"] == result["msgid"]
    assert len(fake.calls("/add_msg_template")) == 1
    with pytest.raises(ChannelError) as err:
        impl.perform("mass_message", {"chat_id_list": ["wr1"], "text": "无发送人"})
    assert not err.value.retryable
    assert len(fake.calls("/add_msg_template")) == 1  # refused before calling


def test_capabilities_and_unsupported_actions(connector):
    impl = outbox.get_connector(connector)
    assert not impl.can(Capability.CREATE_GROUP) and not impl.can(Capability.REMOVE_MEMBER)
    assert impl.can(Capability.JOIN_LINK) and impl.can(Capability.RECEIVE_MEMBER_EVENTS)
    for missing in (Capability.POST_TEXT, Capability.ANNOUNCE, Capability.MUTE, Capability.RECEIVE_MESSAGES):
        assert not impl.can(missing)
    with pytest.raises(Unsupported):
        impl.perform("remove", {"chat_id": "wr1", "user_id": "wm_a"})


def test_internal_robot_is_limited_per_key(connector):
    impl = WeComConnector(connector)
    assert impl.rate_limits["robot"].count == 20 and impl.rate_limits["robot"].seconds == 60
    bucket = outbox.bucket_for(connector, "robot", {"robot_key": ROBOT_KEY})
    assert bucket.startswith("robot:") and ROBOT_KEY not in bucket  # the key never appears in a bucket
    assert outbox.bucket_for(connector, "mass_message", {}) == f"api:{connector.pk}"


def test_robot_45009_is_retryable_after_a_minute(connector, fake):
    fake.robot_log[ROBOT_KEY] = [fake.clock()] * 20  # someone else used the robot
    with pytest.raises(ChannelError) as err:
        WeComConnector(connector).robot_send(ROBOT_KEY, {"text": "hi"})
    assert err.value.retryable and err.value.retry_after == 60.0 and "45009" in str(err.value)


def test_robot_key_of_no_internal_group_fails_at_once_and_is_a_violation(connector, fake):
    with pytest.raises(ChannelError) as err:
        WeComConnector(connector).robot_send("customer-group-robot", {"text": "hi"})
    assert not err.value.retryable and "93000" in str(err.value)
    assert len(fake.violations) == 1  # the fake records it: no robot can be in a customer group


# --- configuration command ---------------------------------------------------------------------


def test_add_wecom_command_prints_id_and_callback_url(fake, store_a):
    out = io.StringIO()
    call_command(
        "channels",
        "add-wecom",
        "--corp-id",
        CORP_ID,
        "--corp-secret",
        CORP_SECRET,
        "--token",
        CALLBACK_TOKEN,
        "--aes-key",
        AES_KEY,
        "--api-base",
        fake.url,
        "--store",
        store_a.code,
        "--mass-quota",
        "1_per_day",
        "--base-url",
        "https://siyu.example.com",
        stdout=out,
    )
    from siyu.channels.models import Connector

    connector = Connector.objects.get(kind="wecom")
    text = out.getvalue()
    assert f"connector id: {connector.pk}" in text
    assert f"callback URL: https://siyu.example.com/hooks/wecom/{connector.pk}/" in text
    assert connector.config["api_base"] == fake.url and connector.config["store_code"] == store_a.code
    assert connector.config["mass_quota"] == "1_per_day" and "robot_key" not in connector.config
    listing = io.StringIO()
    call_command("channels", "list", stdout=listing)
    assert f"http://127.0.0.1:8000/hooks/wecom/{connector.pk}/" in listing.getvalue()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("aes_key", "short"),
        ("aes_key", "!" * 43),
        ("token", "has space"),
        ("corp_id", ""),
        ("api_base", "ftp://x"),
        ("mass_quota", "weekly"),
    ],
)
def test_add_wecom_validates(brand, field, value):
    args = {"corp_id": CORP_ID, "corp_secret": CORP_SECRET, "token": CALLBACK_TOKEN, "aes_key": AES_KEY}
    args[field] = value
    with pytest.raises(ValidationFailed) as err:
        add_wecom_connector(**args)
    assert err.value.field == field


def test_add_wecom_command_rejects_bad_key(brand):
    with pytest.raises(CommandError):
        call_command(
            "channels",
            "add-wecom",
            "--corp-id",
            CORP_ID,
            "--corp-secret",
            "s",
            "--token",
            "tok",
            "--aes-key",
            "x" * 42,
        )


def test_auto_created_room_joins_the_set_and_join_way_follows(
    client, connector, builder, fake, store_a, template
):
    code = LiveCode.objects.create(
        brand=store_a.brand,
        store=store_a,
        template=template,
        name="code",
        channel="wecom",
        connector=connector,
    )
    first = _wecom_group(connector, store_a, "wr1", template=template, sequence=1, count=10)
    fake.add_group("wr1", first.name)
    sync_join_way(code.pk)
    # WeCom created the next room itself (auto_create_room), named room_base_name + n.
    fake.add_group("wr2", f"{store_a.name}·宝妈群2")
    assert _post(client, connector, builder, chat_event_xml("wr2", "create")).status_code == 200
    new = Community.objects.get(external_id="wr2")
    assert new.template == template and new.store == store_a and new.sequence == 2
    jobs = OutboxMessage.objects.filter(action="join_way_sync", status="pending")
    assert [j.payload for j in jobs] == [{"live_code_id": code.pk}]
    assert jobs[0].bucket == f"api:{connector.pk}"
    outbox.dispatch_due(now=timezone.now() + timedelta(seconds=1))
    assert WeComJoinWay.objects.get(live_code_id=code.pk).chat_ids == ["wr1", "wr2"]


def test_failed_event_is_retried_later(client, connector, builder, fake, store_a):
    from siyu.channels.services.wecom_events import process_pending_events

    # groupchat/get fails (WeCom busy): the event is stored with its error, and applied on retry.
    fake.add_group("wrchat1", "g")
    fake.fail_next = [-1]
    assert _post(client, connector, builder, chat_event_xml("wrchat1", "create")).content == b"success"
    event = InboundEvent.objects.get()
    assert event.processed_at is None and "-1" in event.error
    assert not Community.objects.filter(external_id="wrchat1").exists()
    assert process_pending_events(min_age=timedelta(0)) == 1
    assert Community.objects.filter(external_id="wrchat1").exists()
