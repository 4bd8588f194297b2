"""Group rules enforcement: rules, the warn → mute → remove ladder, overrides, appeals, blocklist, scope."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
import qrcode
from django.db import connection
from django.utils import timezone
from PIL import Image, ImageDraw

from siyu.channels.models import ChannelKind, Connector, OutboxMessage
from siyu.common.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from siyu.communities.models import (
    Appeal,
    BlocklistEntry,
    CommunityMembership,
    ModerationAction,
    ModerationPolicy,
    StaffTask,
)
from siyu.communities.models.messages import Message
from siyu.communities.services import (
    appeals,
    blocklist,
    join_checks,
    moderation_ladder,
    moderation_log,
    moderation_policy,
    moderation_review,
    moderation_text,
    qr_codes,
)
from siyu.communities.services.joining import active_membership, join_community
from siyu.communities.services.posting import post_member_message, record_channel_message, staff_post
from siyu.members.models import ChannelIdentity
from siyu.org.models import AuditEntry
from tests.factories import MemberFactory, StaffFactory, make_group


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    settings.SIYU_OUTBOX_DISPATCH = "off"


@pytest.fixture
def group(store_a):
    return make_group(store_a)


@pytest.fixture
def joined(group, member_a):
    join_community(group, member_a, scene="direct")
    return member_a


def post(group, member, text="", **kw):
    return post_member_message(group, member, text=text, **kw)


def png(img: Image.Image) -> bytes:
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


def robot_texts(group) -> list[str]:
    return list(
        Message.objects.filter(community=group, sender_kind=Message.SenderKind.ROBOT)
        .order_by("id")
        .values_list("text", flat=True)
    )


# --- the ladder under the default policy -------------------------------------------------------------


def test_external_link_warns_then_mutes_then_removes(group, joined):
    assert not ModerationPolicy.objects.exists()  # built-in defaults
    first = post(group, joined, "快来看 abc.com 超值")
    assert first.hidden
    warn = ModerationAction.objects.get()
    assert (warn.action, warn.rule, warn.message_id, warn.actor_id) == ("warn", "link", first.pk, None)
    assert "abc.com" in warn.reason
    assert any("External link" in t for t in robot_texts(group))

    second = post(group, joined, "https://spam.example.net/x 领券")
    assert second.hidden
    mute = ModerationAction.objects.order_by("-id").first()
    assert (mute.action, mute.rule, mute.message_id) == ("mute", "link", second.pk)
    membership = active_membership(group, joined)
    assert membership.muted_until is not None
    assert timedelta(minutes=59) < membership.muted_until - timezone.now() <= timedelta(minutes=60)
    with pytest.raises(PermissionDenied):
        post(group, joined, "我被禁言了吗")

    # The mute runs out; the third offence removes the member.
    CommunityMembership.objects.filter(pk=membership.pk).update(
        muted_until=timezone.now() - timedelta(seconds=1)
    )
    third = post(group, joined, "t.cn/A6xyz 点开")
    assert third.hidden
    removal = ModerationAction.objects.order_by("-id").first()
    assert (removal.action, removal.rule, removal.message_id) == ("remove", "link", third.pk)
    assert active_membership(group, joined) is None
    membership.refresh_from_db()
    assert membership.status == CommunityMembership.Status.REMOVED
    group.refresh_from_db()
    assert group.member_count == 0
    assert ModerationAction.objects.filter(member=joined, community=group).count() == 3
    assert len(robot_texts(group)) == 3
    assert not join_checks.may_join(group, joined)  # a standing removal keeps them out


def test_clean_message_is_allowed(group, joined):
    message = post(group, joined, "今天的活动几点开始？")
    assert not message.hidden
    assert not ModerationAction.objects.exists()


def test_offences_expire_after_window(group, joined):
    post(group, joined, "abc.com")
    ModerationAction.objects.update(created_at=timezone.now() - timedelta(days=31))
    post(group, joined, "def.com")
    assert ModerationAction.objects.order_by("-id").first().action == "warn"


# --- rules ---------------------------------------------------------------------------------------


def test_forbidden_keywords_are_width_and_case_insensitive(group, joined, hq_admin):
    moderation_policy.set_policy(hq_admin, None, {"forbidden_keywords": ["VIP卡", "代购"]})
    m1 = post(group, joined, "出售ｖｉｐ卡，便宜")
    assert m1.hidden
    action = ModerationAction.objects.get()
    assert action.rule == "keyword" and "VIP卡" in action.reason
    assert moderation_text.match_keyword("专业代 购", ["代购"]) == "代购"
    assert moderation_text.match_keyword("正常聊天", ["代购"]) is None


@pytest.mark.parametrize(
    "text",
    [
        "我电话13812345678",
        "打 138 1234 5678",
        "138-1234-5678 找我",
        "加我微信 abc_12345",
        "vx：wxid12345",
        "V信号 Lily2024",
        "加我aa123456",
        "QQ 12345678",
        "发邮件 sale@qq.com",
        "ＶＸ：ｈｅｌｌｏ１２３",
    ],
)
def test_contact_patterns_found(text):
    assert moderation_text.find_contact(text)


@pytest.mark.parametrize(
    "text", ["我家宝宝3岁了", "订单号 20240501", "价格 199 元", "微信支付可以吗", "加我一个"]
)
def test_contact_patterns_not_found(text):
    assert moderation_text.find_contact(text) is None


def test_contact_rule_in_group(group, joined):
    message = post(group, joined, "有需要的加我微信 lily_8888")
    assert message.hidden
    assert ModerationAction.objects.get().rule == "contact"


@pytest.mark.parametrize(
    ("text", "host"),
    [
        ("看这里 https://evil.example.org/a?b=1", "evil.example.org"),
        ("访问abc.com领取", "abc.com"),
        ("短链 t.cn/A6abc", "t.cn"),
        ("www.taobao.com 下单", "www.taobao.com"),
        ("全角 ａｂｃ．ｃｏｍ", "abc.com"),
        ("句号 abc。com", "abc.com"),
    ],
)
def test_links_found(text, host):
    assert moderation_text.find_external_link(text) == host


@pytest.mark.parametrize("text", ["3.5元一斤", "版本1.2.3", "e.g. 这样", "好的。谢谢", "test@ 没有"])
def test_links_not_found(text):
    assert moderation_text.find_external_link(text) is None


def test_brand_hosts_allowed(group, joined, settings):
    settings.SIYU_ALLOWED_LINK_HOSTS = ["shop.siyu.example"]
    allowed = settings.SIYU_ALLOWED_LINK_HOSTS
    assert moderation_text.find_external_link("https://m.shop.siyu.example/p/1", allowed) is None
    message = post(group, joined, "新品在 https://shop.siyu.example/p/1")
    assert not message.hidden


def test_flood_warns_once_per_burst(group, joined):
    now = timezone.now()
    for i in range(5):
        Message.objects.create(
            community=group, member=joined, text=f"消息{i}", created_at=now - timedelta(seconds=2)
        )
    sixth = post(group, joined, "第六条")
    assert sixth.hidden
    assert ModerationAction.objects.get().rule == "flood"
    seventh = post(group, joined, "第七条")
    assert seventh.hidden
    actions = list(ModerationAction.objects.order_by("id").values_list("action", flat=True))
    assert actions == ["warn", "hide"]  # the rest of the burst is hidden, not escalated
    assert moderation_ladder.offence_count(group, joined, 30) == 1


def test_repeat_rule(group, joined):
    assert not post(group, joined, "全场五折快来抢购").hidden
    assert not post(group, joined, "全场五折 快来抢购！").hidden
    third = post(group, joined, "全场五折，快来抢购")
    assert third.hidden
    assert ModerationAction.objects.get().rule == "repeat"


def test_short_replies_may_repeat(group, joined):
    for _ in range(4):
        assert not post(group, joined, "收到").hidden


def test_qr_detector():
    code = qrcode.make("https://u.wechat.com/EAbcdef", box_size=6).convert("RGB")
    assert qr_codes.contains_qr_code(png(code))
    poster = Image.new("RGB", (1080, 1920), (240, 200, 180))
    poster.paste(code, (600, 1400))
    out = io.BytesIO()
    poster.save(out, "JPEG")
    assert qr_codes.contains_qr_code(out.getvalue())
    assert qr_codes.contains_qr_code(png(code.rotate(30, expand=True, fillcolor="white")))
    plain = Image.new("RGB", (400, 300), "white")
    draw = ImageDraw.Draw(plain)
    draw.rectangle((40, 40, 200, 200), fill="black")
    draw.ellipse((220, 60, 380, 220), outline="red", width=8)
    assert not qr_codes.contains_qr_code(png(plain))
    assert not qr_codes.contains_qr_code(b"not an image")


def test_qr_image_rule(group, joined):
    code = png(qrcode.make("https://u.wechat.com/EAbcdef", box_size=6))
    message = post(group, joined, image=code)
    assert message.hidden
    assert ModerationAction.objects.get().rule == "qr_image"
    photo = Image.new("RGB", (300, 200), (120, 160, 200))
    assert not post(group, joined, image=png(photo)).hidden


def test_qr_check_runs_before_the_write_transaction(group, joined, monkeypatch):
    """Check first, then write: the picture is decoded before the transaction storing the message opens,
    so no database lock is held while it is (the check once took up to a second inside it)."""
    seen: list[tuple[int, bool]] = []
    real = moderation_review.contains_qr_code

    def spy(data: bytes) -> bool:
        seen.append((len(connection.atomic_blocks), Message.objects.filter(community=group).exists()))
        return real(data)

    monkeypatch.setattr(moderation_review, "contains_qr_code", spy)
    outside = len(connection.atomic_blocks)  # the test's own transaction
    message = post(group, joined, image=png(qrcode.make("https://u.wechat.com/EAbcdef", box_size=6)))
    assert seen == [(outside, False)]  # no transaction of the post open yet, nothing written
    assert message.hidden and ModerationAction.objects.get().rule == "qr_image"


def test_qr_in_a_photo_with_a_caption_is_refused_and_a_plain_photo_passes(group, joined):
    photo = Image.new("RGB", (1600, 1200), (90, 140, 90))
    draw = ImageDraw.Draw(photo)
    for x in range(0, 1600, 40):  # some texture, so the code is not alone on a flat background
        draw.line((x, 0, 1600 - x, 1200), fill=(60 + x % 120, 90, 140), width=3)
    assert not post(group, joined, text="今天的花", image=png(photo)).hidden
    code = qrcode.make("https://u.wechat.com/EAbcdef", box_size=5).convert("RGB")
    photo.paste(code.rotate(12, expand=True, fillcolor="white"), (900, 500))
    out = io.BytesIO()
    photo.save(out, "JPEG", quality=80)
    message = post(group, joined, text="扫码进群领券", image=out.getvalue())
    assert message.hidden
    assert ModerationAction.objects.get().rule == "qr_image"


def test_qr_rule_switched_off_lets_codes_through(group, joined, manager_a):
    moderation_policy.set_policy(manager_a, group.pk, {"block_qr_images": False})
    assert not post(group, joined, image=png(qrcode.make("https://u.wechat.com/EAbcdef", box_size=6))).hidden
    assert not ModerationAction.objects.exists()


def test_policy_can_switch_rules_off(group, joined, manager_a):
    moderation_policy.set_policy(manager_a, group.pk, {"block_links": False})
    assert not post(group, joined, "abc.com").hidden
    policy = moderation_policy.effective_policy(group)
    assert policy.source == "community" and policy.block_contact  # other fields inherited


def test_custom_ladder_and_mute_minutes(group, joined, hq_admin):
    moderation_policy.set_policy(hq_admin, None, {"ladder": ["mute", "remove"], "mute_minutes": 5})
    post(group, joined, "abc.com")
    assert ModerationAction.objects.get().action == "mute"
    until = active_membership(group, joined).muted_until
    assert until - timezone.now() <= timedelta(minutes=5)


# --- who is moderated ------------------------------------------------------------------------------


def test_staff_and_robot_messages_are_never_moderated(group, joined, clerk_a):
    message = staff_post(clerk_a, group.pk, "官方链接 abc.com 加我微信 shop_2024")
    assert not message.hidden
    robot = Message.objects.create(community=group, sender_kind=Message.SenderKind.ROBOT, text="abc.com")
    nothing = moderation_review.NOTHING_FOUND
    assert moderation_review.review_message(robot, nothing) == moderation_ladder.ALLOWED
    assert moderation_review.review_message(message, nothing) == moderation_ladder.ALLOWED
    assert not ModerationAction.objects.exists()


def test_blocklisted_member_is_removed(group, joined, hq_admin, clerk_a):
    with pytest.raises(PermissionDenied):
        blocklist.add_to_blocklist(clerk_a, member_id=joined.pk, reason="spam")
    entry = blocklist.add_to_blocklist(hq_admin, member_id=joined.pk, reason="spam")
    assert blocklist.is_blocked(joined)
    assert not join_checks.may_join(group, joined)
    with pytest.raises(Conflict):
        blocklist.add_to_blocklist(hq_admin, member_id=joined.pk)
    message = post(group, joined, "大家好")
    assert message.hidden
    action = ModerationAction.objects.get()
    assert (action.action, action.rule) == ("remove", "blocklist")
    assert active_membership(group, joined) is None
    blocklist.remove_from_blocklist(hq_admin, entry.pk)
    assert not blocklist.is_blocked(joined)
    assert AuditEntry.objects.filter(action__in=["blocklist.add", "blocklist.remove"]).count() == 2


def test_blocklist_by_mobile_and_identity(brand, member_a, member_b, hq_admin, manager_a):
    with pytest.raises(PermissionDenied):
        blocklist.add_to_blocklist(manager_a, mobile=member_b.mobile)
    with pytest.raises(NotFound):
        blocklist.add_to_blocklist(manager_a, member_id=member_b.pk)  # not a member manager_a serves
    blocklist.add_to_blocklist(hq_admin, mobile="+86 139 0000 1111")
    assert blocklist.is_blocked(member_b)
    assert not blocklist.is_blocked(member_a)
    ChannelIdentity.objects.create(member=member_a, channel="telegram", external_id="4242")
    blocklist.add_to_blocklist(hq_admin, channel="telegram", external_id="4242")
    assert blocklist.is_blocked(member_a)
    with pytest.raises(ValidationFailed):
        blocklist.add_to_blocklist(hq_admin)
    assert BlocklistEntry.objects.count() == 2
    assert blocklist.blocklist(manager_a).count() == 0  # entries not naming their members stay HQ's


# --- overrides and appeals -----------------------------------------------------------------------


def test_override_stops_counting_and_unhides(group, joined, clerk_a):
    hidden = post(group, joined, "abc.com")
    warn = ModerationAction.objects.get()
    with pytest.raises(ValidationFailed):
        moderation_log.override_action(clerk_a, warn.pk, "")
    moderation_log.override_action(clerk_a, warn.pk, "a link to our supplier")
    hidden.refresh_from_db()
    assert not hidden.hidden
    assert moderation_ladder.offence_count(group, joined, 30) == 0
    post(group, joined, "def.com")
    assert ModerationAction.objects.order_by("-id").first().action == "warn"  # warned again, not muted
    with pytest.raises(Conflict):
        moderation_log.override_action(clerk_a, warn.pk, "again")
    assert AuditEntry.objects.filter(action="moderation.override", actor=clerk_a).count() == 1


def test_override_lifts_mute(group, joined, manager_a):
    post(group, joined, "abc.com")
    post(group, joined, "abc.com 再来")
    mute = ModerationAction.objects.get(action="mute")
    assert active_membership(group, joined).muted_until
    moderation_log.override_action(manager_a, mute.pk, "misunderstanding")
    assert active_membership(group, joined).muted_until is None
    assert not post(group, joined, "谢谢").hidden


def test_override_of_removal_lets_member_rejoin(group, joined, hq_admin):
    moderation_policy.set_policy(hq_admin, group.pk, {"ladder": ["remove"]})
    post(group, joined, "abc.com")
    removal = ModerationAction.objects.get()
    assert not join_checks.may_join(group, joined)
    moderation_log.override_action(hq_admin, removal.pk, "wrongly removed")
    assert join_checks.may_join(group, joined)
    assert active_membership(group, joined) is None  # not put back automatically


def test_store_scope(group, joined, store_b, brand, clerk_a):
    other = make_group(store_b, name="西单群")
    stranger = MemberFactory(brand=brand, home_store=store_b)
    join_community(other, stranger, scene="direct")
    post(other, stranger, "abc.com")
    action = ModerationAction.objects.get()
    with pytest.raises(NotFound):
        moderation_log.override_action(clerk_a, action.pk, "not mine")
    with pytest.raises(NotFound):
        moderation_log.moderation_log(clerk_a, community_id=other.pk)
    with pytest.raises(NotFound):
        moderation_log.moderation_log(clerk_a, store_id=store_b.pk)
    assert list(moderation_log.moderation_log(clerk_a)) == []
    with pytest.raises(NotFound):
        moderation_policy.set_policy(clerk_a, other.pk, {"block_links": False})
    with pytest.raises(PermissionDenied):
        moderation_policy.set_policy(clerk_a, None, {"block_links": False})
    post(group, joined, "abc.com")
    assert [a.community_id for a in moderation_log.moderation_log(clerk_a)] == [group.pk]


def test_policy_validation(hq_admin):
    for data in (
        {"ladder": ["warn", "ban"]},
        {"ladder": []},
        {"flood_count": 0},
        {"mute_minutes": True},
        {"forbidden_keywords": [1, 2]},
        {"colour": "red"},
    ):
        with pytest.raises(ValidationFailed):
            moderation_policy.set_policy(hq_admin, None, data)
    assert not ModerationPolicy.objects.exists()
    row = moderation_policy.set_policy(hq_admin, None, {"forbidden_keywords": "代购\n刷单, 代购"})
    assert row.forbidden_keywords == ["代购", "刷单"]
    assert moderation_policy.policy_for(hq_admin).forbidden_keywords == ("代购", "刷单")


def test_appeal_once_and_review(group, joined, member_b, hq_admin, clerk_a):
    moderation_policy.set_policy(hq_admin, None, {"ladder": ["warn", "remove"]})
    post(group, joined, "abc.com")
    warn = ModerationAction.objects.get()
    with pytest.raises(ValidationFailed):
        appeals.submit_appeal(joined, warn.pk, "please")
    post(group, joined, "def.com")
    removal = ModerationAction.objects.get(action="remove")
    with pytest.raises(NotFound):
        appeals.submit_appeal(member_b, removal.pk, "not mine")
    with pytest.raises(ValidationFailed):
        appeals.submit_appeal(joined, removal.pk, "  ")
    appeal = appeals.submit_appeal(joined, removal.pk, "那是我们门店的官网")
    assert appeal.status == Appeal.Status.PENDING
    with pytest.raises(Conflict):
        appeals.submit_appeal(joined, removal.pk, "再申诉一次")
    assert [a.pk for a in appeals.appeals(clerk_a)] == [appeal.pk]
    reviewed = appeals.review_appeal(clerk_a, appeal.pk, True)
    assert reviewed.status == Appeal.Status.ACCEPTED
    removal.refresh_from_db()
    assert removal.overridden_by == clerk_a
    assert join_checks.may_join(group, joined)
    with pytest.raises(Conflict):
        appeals.review_appeal(clerk_a, appeal.pk, False)


def test_rejected_appeal_keeps_removal(group, joined, hq_admin, store_b, brand):
    moderation_policy.set_policy(hq_admin, None, {"ladder": ["remove"]})
    post(group, joined, "abc.com")
    removal = ModerationAction.objects.get()
    appeal = appeals.submit_appeal(joined, removal.pk, "对不起")
    clerk_b = StaffFactory(brand=brand, role="clerk", stores=[store_b])
    with pytest.raises(NotFound):
        appeals.review_appeal(clerk_b, appeal.pk, True)
    appeals.review_appeal(hq_admin, appeal.pk, False)
    assert not join_checks.may_join(group, joined)


# --- channels ------------------------------------------------------------------------------------


def test_telegram_mute_and_remove_go_through_the_outbox(store_a, brand, member_a):
    connector = Connector.objects.create(
        brand=brand, kind=ChannelKind.TELEGRAM, name="bot", config={"token": "x"}
    )
    group = make_group(store_a, channel=ChannelKind.TELEGRAM, connector=connector, external_id="-100123")
    ChannelIdentity.objects.create(member=member_a, channel="telegram", external_id="777")
    join_community(group, member_a, scene="channel")
    record_channel_message(group, member_a, text="abc.com", external_id="m1")
    record_channel_message(group, member_a, text="abc.com!", external_id="m2")
    actions = dict(OutboxMessage.objects.values_list("action", "payload").exclude(action="post"))
    assert actions["mute"]["user_id"] == "777"
    assert actions["delete_message"] == {"chat_id": "-100123", "message_id": "m2"}
    CommunityMembership.objects.update(muted_until=None)
    record_channel_message(group, member_a, text="abc.com!!", external_id="m3")
    remove = OutboxMessage.objects.get(action="remove")
    assert remove.payload == {"chat_id": "-100123", "user_id": "777"}


def test_wecom_removal_is_a_staff_task(store_a, brand, member_a, hq_admin):
    connector = Connector.objects.create(brand=brand, kind=ChannelKind.WECOM, name="corp", config={})
    group = make_group(store_a, channel=ChannelKind.WECOM, connector=connector, external_id="wrOgAA")
    ChannelIdentity.objects.create(member=member_a, channel="wecom", external_id="wmEXT1")
    join_community(group, member_a, scene="channel")
    moderation_policy.set_policy(hq_admin, group.pk, {"ladder": ["mute", "remove"]})
    record_channel_message(group, member_a, text="abc.com", external_id="w1")
    assert not OutboxMessage.objects.filter(action="mute").exists()  # WeCom has no mute API
    record_channel_message(group, member_a, text="abc.com 2", external_id="w2")
    task = StaffTask.objects.get(kind=StaffTask.Kind.REMOVE_MEMBER)
    assert task.payload["external_userid"] == "wmEXT1" and task.store_id == store_a.pk
    assert not OutboxMessage.objects.filter(action="remove").exists()
