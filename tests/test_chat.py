"""The built-in web group chat: posting, history, pictures, the robot, scheduled posts, live events, SSE."""

from __future__ import annotations

import io
import json
import os
import re
import threading
from datetime import timedelta

import pytest
import redis
from django.db import connection
from django.utils import timezone
from PIL import Image

from siyu.analytics.models import Event
from siyu.channels.models import ChannelKind, Connector, OutboxMessage
from siyu.common.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from siyu.communities.models import Community, CommunityMembership, GroupDelivery, Message, ScheduledPost
from siyu.communities.services import live, posting, robot
from siyu.communities.services import messages as chat
from siyu.communities.services.joining import join_community
from siyu.members.services.signin import SESSION_KEY
from tests.factories import MemberFactory, StaffFactory, StoreFactory
from tests.race_support import is_postgres

REDIS_TEST_URL = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"


@pytest.fixture(autouse=True)
def _chat_settings(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.REDIS_URL = ""  # the in-process broker unless a test opts into Redis
    settings.SIYU_OUTBOX_DISPATCH = "off"  # queued channel calls stay queued: tests look at the rows


@pytest.fixture
def web_group(brand, store_a):
    return Community.objects.create(brand=brand, store=store_a, name="朝阳大悦城店·宝妈群1")


@pytest.fixture
def joined(web_group, member_a):
    return CommunityMembership.objects.create(community=web_group, member=member_a)


def _png(size=(8, 8), color=(200, 10, 10)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="PNG")
    return out.getvalue()


def _jpeg_with_exif() -> bytes:
    img = Image.new("RGB", (40, 20), (10, 120, 200))
    exif = Image.Exif()
    exif[0x010F] = "SpyCam"  # Make
    exif[0x0112] = 6  # Orientation: rotate 90° when shown
    out = io.BytesIO()
    img.save(out, format="JPEG", exif=exif.tobytes())
    return out.getvalue()


def _sign_in(client, member) -> None:
    session = client.session
    session[SESSION_KEY] = member.pk
    session.save()


# --- posting --------------------------------------------------------------------------------------


def test_member_posts_text_recorded_and_published(
    joined, web_group, member_a, django_capture_on_commit_callbacks
):
    with live.subscribe(web_group.pk) as sub:
        with django_capture_on_commit_callbacks(execute=True):
            message = posting.post_member_message(web_group, member_a, text="  大家好  ")
        event = sub.get(timeout=1)
    assert message.text == "大家好"
    assert message.sender_kind == "member" and message.kind == "text" and not message.hidden
    assert event["type"] == "message" and event["id"] == message.pk
    assert event["message"]["text"] == "大家好"
    # Other members see the nickname, else the surname and ** (never the full name or number).
    assert event["message"]["sender"]["name"] == "王**"
    assert "13812341234" not in str(event)
    recorded = Event.objects.get(type="community.message")
    assert recorded.member_id == member_a.pk and recorded.community_id == web_group.pk
    assert recorded.payload["message_id"] == message.pk


def test_client_msg_id_makes_retries_idempotent(joined, web_group, member_a, member_b):
    first = posting.post_member_message(web_group, member_a, text="只发一次", client_msg_id="abc-123")
    again = posting.post_member_message(web_group, member_a, text="只发一次", client_msg_id="abc-123")
    assert again.pk == first.pk
    assert Message.objects.filter(community=web_group).count() == 1
    assert Event.objects.filter(type="community.message").count() == 1
    CommunityMembership.objects.create(community=web_group, member=member_b)
    with pytest.raises(Conflict):
        posting.post_member_message(web_group, member_b, text="x", client_msg_id="abc-123")
    with pytest.raises(ValidationFailed) as exc:
        posting.post_member_message(web_group, member_a, text="x", client_msg_id="bad id!")
    assert exc.value.field == "client_msg_id"


def test_muted_and_non_members_are_refused(joined, web_group, member_a, member_b):
    with pytest.raises(PermissionDenied) as exc:
        posting.post_member_message(web_group, member_b, text="我不在群里")
    assert exc.value.code == "not_member"
    joined.muted_until = timezone.now() + timedelta(minutes=30)
    joined.save()
    with pytest.raises(PermissionDenied) as exc:
        posting.post_member_message(web_group, member_a, text="被禁言了", image=_png())
    assert exc.value.code == "muted"
    assert "muted" in exc.value.message
    assert not Message.objects.exists()
    assert not Event.objects.filter(type="community.message").exists()
    joined.muted_until = timezone.now() - timedelta(minutes=1)
    joined.save()
    assert posting.post_member_message(web_group, member_a, text="解除了").pk


def test_left_member_and_closed_group_refused(joined, web_group, member_a):
    joined.status = CommunityMembership.Status.LEFT
    joined.save()
    with pytest.raises(PermissionDenied):
        posting.post_member_message(web_group, member_a, text="hi")
    with pytest.raises(NotFound):
        chat.open_chat(web_group.pk, member_a)


def test_text_length_limits(joined, web_group, member_a):
    with pytest.raises(ValidationFailed):
        posting.post_member_message(web_group, member_a, text="   ")
    with pytest.raises(ValidationFailed):
        posting.post_member_message(web_group, member_a, text="字" * 2001)
    assert posting.post_member_message(web_group, member_a, text="字" * 2000).pk


def test_moderation_hides_a_breach(joined, web_group, member_a, django_capture_on_commit_callbacks):
    with live.subscribe(web_group.pk) as sub:
        with django_capture_on_commit_callbacks(execute=True):
            message = posting.post_member_message(
                web_group, member_a, text="加我微信 wxid_abcdefg 13900001111 优惠"
            )
        events = [sub.get(timeout=0.2) for _ in range(3)]
    assert message.hidden
    published_ids = {e["id"] for e in events if e and e["type"] == "message"}
    assert message.pk not in published_ids  # hidden messages are never announced
    assert message.pk not in [m.pk for m in chat.history(web_group)]


# --- history --------------------------------------------------------------------------------------


def test_history_pages_and_excludes_hidden(joined, web_group, member_a):
    Message.objects.bulk_create(
        [
            Message(community=web_group, member=member_a, text=f"m{i}", hidden=(i % 10 == 0))
            for i in range(120)
        ]
    )
    latest = chat.history(web_group)
    assert len(latest) == 50
    assert latest[-1].text == "m119"
    assert [m.pk for m in latest] == sorted(m.pk for m in latest)
    assert all(not m.hidden for m in latest)
    earlier = chat.history(web_group, before_id=latest[0].pk)
    assert len(earlier) == 50 and earlier[-1].pk < latest[0].pk
    rest = chat.history(web_group, before_id=earlier[0].pk)
    assert len(rest) == 108 - 100  # 120 minus 12 hidden
    assert len(chat.history(web_group, limit=1000, include_hidden=True)) == 100


# --- pictures -------------------------------------------------------------------------------------


def test_picture_is_reencoded_without_exif(joined, web_group, member_a):
    message = posting.post_member_message(
        web_group, member_a, image=_jpeg_with_exif(), image_name="../../x.jpg"
    )
    assert message.kind == "image" and message.image
    assert message.image.name.startswith("chat/") and ".." not in message.image.name
    with message.image.open("rb") as fh, Image.open(fh) as stored:
        assert stored.format == "JPEG"
        assert stored.size == (20, 40)  # orientation applied before the EXIF was dropped
        assert not stored.getexif()


def test_picture_validation(joined, web_group, member_a):
    for bad in (b"not a picture", b"GIF89a" + b"\0" * 40):
        with pytest.raises(ValidationFailed) as exc:
            posting.post_member_message(web_group, member_a, image=bad)
        assert exc.value.field == "image"
    gif = io.BytesIO()
    Image.new("RGB", (4, 4)).save(gif, format="GIF")
    with pytest.raises(ValidationFailed):
        posting.post_member_message(web_group, member_a, image=gif.getvalue())
    with pytest.raises(ValidationFailed) as exc:
        posting.post_member_message(web_group, member_a, image=_png() + b"\0" * (5 * 1024 * 1024))
    assert "5 MB" in exc.value.message
    assert not Message.objects.exists()
    with_caption = posting.post_member_message(web_group, member_a, text="看看这个", image=_png())
    assert with_caption.kind == "image" and with_caption.text == "看看这个"


def test_picture_served_only_to_members(client, joined, web_group, member_a, member_b):
    message = posting.post_member_message(web_group, member_a, image=_png())
    url = f"/h5/c/{web_group.pk}/images/{message.pk}/"
    assert client.get(url).status_code == 401
    _sign_in(client, member_b)
    assert client.get(url).status_code == 404
    _sign_in(client, member_a)
    response = client.get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert b"".join(response.streaming_content).startswith(b"\x89PNG")
    Message.objects.filter(pk=message.pk).update(hidden=True)
    assert client.get(url).status_code == 404


# --- the robot ------------------------------------------------------------------------------------


def test_welcome_is_posted_once_per_membership(web_group, member_a, django_capture_on_commit_callbacks):
    web_group.welcome_template = "欢迎{name}加入{group}！我们是{store}。群规：{rules} {unknown}"
    web_group.rules_text = "不发广告"
    web_group.save()
    with django_capture_on_commit_callbacks(execute=True):
        membership = join_community(web_group, member_a, scene="store_qr")
    robot.send_welcome(membership.pk)
    welcomes = Message.objects.filter(community=web_group, sender_kind="robot")
    assert welcomes.count() == 1
    assert (
        welcomes.get().text
        == "欢迎王**加入朝阳大悦城店·宝妈群1！我们是朝阳大悦城店。群规：不发广告 {unknown}"
    )
    assert welcomes.get().client_msg_id == f"robot:welcome:{membership.pk}"


def test_default_welcome_uses_masked_mobile(web_group, brand, store_a):
    nameless = MemberFactory(brand=brand, home_store=store_a, name="", mobile="13700001234")
    membership = CommunityMembership.objects.create(community=web_group, member=nameless)
    robot.send_welcome(membership.pk)
    text = Message.objects.get(sender_kind="robot").text
    assert "137****1234" in text and "13700001234" not in text
    assert web_group.name in text and store_a.name in text


def test_post_to_group_on_wecom_waits_for_the_owners_mass_message_not_a_robot(brand, store_a):
    connector = Connector.objects.create(brand=brand, kind=ChannelKind.WECOM, name="企微")
    group = Community.objects.create(
        brand=brand,
        store=store_a,
        name="企微群",
        channel=ChannelKind.WECOM,
        connector=connector,
        external_id="wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA",
        channel_owner="owner01",
        hard_cap=500,
    )
    first = robot.post_to_group(group, markdown="**今日特价**", idempotency_key="promo:1")
    again = robot.post_to_group(group, markdown="**今日特价**", idempotency_key="promo:1")
    assert again.pk == first.pk
    # No robot can be in a WeCom customer group: nothing is queued for the channel now; the post waits
    # for the owner's next mass message (communities.services.mass batches it).
    assert not OutboxMessage.objects.filter(community_id=group.pk).exists()
    delivery = GroupDelivery.objects.get(community=group)
    assert delivery.message_id == first.pk and delivery.content == {"markdown": "**今日特价**"}
    assert (delivery.path, delivery.status, delivery.owner_userid) == ("owner_confirm", "pending", "owner01")


def test_post_to_group_on_telegram_uses_chat_bucket(brand, store_a):
    connector = Connector.objects.create(brand=brand, kind=ChannelKind.TELEGRAM, name="tg")
    group = Community.objects.create(
        brand=brand,
        store=store_a,
        name="TG",
        channel=ChannelKind.TELEGRAM,
        connector=connector,
        external_id="-100123",
        hard_cap=1000,
    )
    robot.post_to_group(group, card={"title": "新品", "url": "https://example.com/p/1"})
    row = OutboxMessage.objects.get(community_id=group.pk)
    assert row.connector == connector and row.action == "post"
    assert row.payload["card"]["title"] == "新品"
    assert row.bucket == "chat:-100123"


def test_channel_cards_link_to_the_public_address(brand, store_a, settings):
    connector = Connector.objects.create(brand=brand, kind=ChannelKind.TELEGRAM, name="tg")
    group = Community.objects.create(
        brand=brand,
        store=store_a,
        name="TG",
        channel=ChannelKind.TELEGRAM,
        connector=connector,
        external_id="-100124",
        hard_cap=1000,
    )
    settings.SIYU_PUBLIC_URL = "https://shop.example.com"
    message = robot.post_to_group(group, card={"title": "秒杀", "url": "/h5/flash/1/"})
    payload = OutboxMessage.objects.get(community_id=group.pk).payload
    assert payload["card"]["url"] == "https://shop.example.com/h5/flash/1/"
    assert message.card["url"] == "/h5/flash/1/"  # the web chat keeps the link within Siyu


def test_web_group_robot_post_needs_no_outbox(web_group, django_capture_on_commit_callbacks):
    with live.subscribe(web_group.pk) as sub:
        with django_capture_on_commit_callbacks(execute=True):
            message = robot.post_to_group(web_group, card={"title": "新品上市", "url": "/h5/"})
        event = sub.get(timeout=1)
    assert not OutboxMessage.objects.exists()
    assert event["message"]["sender"]["kind"] == "robot"
    assert event["message"]["card"]["url"] == "/h5/"
    assert message.kind == "card"


def test_post_to_group_refuses_bad_content(web_group):
    with pytest.raises(ValidationFailed):
        robot.post_to_group(web_group)
    with pytest.raises(ValidationFailed):
        robot.post_to_group(web_group, text="a", markdown="b")
    with pytest.raises(ValidationFailed):
        robot.post_to_group(web_group, card={"title": "x", "url": "javascript:alert(1)"})
    web_group.status = Community.Status.ARCHIVED
    with pytest.raises(Conflict):
        robot.post_to_group(web_group, text="hi")
    assert not Message.objects.exists()


def test_announce_sets_announcement_and_is_store_scoped(web_group, manager_a, brand, store_b):
    other = StaffFactory(brand=brand, role="clerk", stores=[store_b])
    with pytest.raises(NotFound):
        robot.announce(web_group, "周末闭店", by=other)
    message = robot.announce(web_group, "周末闭店", by=manager_a)
    web_group.refresh_from_db()
    assert web_group.announcement == "周末闭店"
    assert "周末闭店" in message.text and message.sender_kind == "robot"


def test_staff_post_is_scoped_and_audited(web_group, clerk_a, brand, store_b):
    from siyu.org.models import AuditEntry

    outsider = StaffFactory(brand=brand, role="clerk", stores=[store_b])
    with pytest.raises(NotFound):
        posting.staff_post(outsider, web_group.pk, "hello")
    message = posting.staff_post(clerk_a, web_group.pk, "新品到店")
    assert message.sender_kind == "staff" and message.staff == clerk_a
    assert AuditEntry.objects.filter(action="community.staff_post", actor=clerk_a).count() == 1
    assert chat.serialize_message(message)["sender"]["kind"] == "staff"


# --- scheduled posts ------------------------------------------------------------------------------


def test_schedule_post_validation_and_run(web_group, manager_a, store_b, brand):
    outsider = StaffFactory(brand=brand, role="clerk", stores=[store_b])
    soon = timezone.now() + timedelta(minutes=5)
    with pytest.raises(NotFound):
        robot.schedule_post(outsider, web_group.pk, "x", soon)
    with pytest.raises(ValidationFailed):
        robot.schedule_post(manager_a, web_group.pk, "x", timezone.now() - timedelta(minutes=1))
    with pytest.raises(ValidationFailed):
        robot.schedule_post(manager_a, web_group.pk, "x", timezone.now() + timedelta(days=91))
    post = robot.schedule_post(manager_a, web_group.pk, "周五晚上八点直播", soon)
    assert robot.run_due_scheduled_posts() == 0
    later = soon + timedelta(seconds=1)
    assert robot.run_due_scheduled_posts(now=later) == 1
    assert robot.run_due_scheduled_posts(now=later) == 0
    post.refresh_from_db()
    assert post.sent_at and post.message and post.message.text == "周五晚上八点直播"


def test_scheduled_post_for_archived_group_is_marked_not_retried(web_group, manager_a):
    post = robot.schedule_post(manager_a, web_group.pk, "x", timezone.now() + timedelta(minutes=1))
    Community.objects.filter(pk=web_group.pk).update(status=Community.Status.ARCHIVED)
    assert robot.run_due_scheduled_posts(now=timezone.now() + timedelta(minutes=2)) == 0
    post.refresh_from_db()
    assert post.sent_at and post.message is None and post.error
    assert robot.run_due_scheduled_posts(now=timezone.now() + timedelta(minutes=3)) == 0


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_scheduled_posts_run_once_under_concurrent_runners():
    if not is_postgres():
        pytest.skip("needs PostgreSQL for real concurrent transactions")
    store = StoreFactory()
    manager = StaffFactory(brand=store.brand, role="store_manager", stores=[store])
    group = Community.objects.create(brand=store.brand, store=store, name="并发群")
    run_at = timezone.now() + timedelta(minutes=1)
    for i in range(20):
        robot.schedule_post(manager, group.pk, f"定时{i}", run_at)
    barrier = threading.Barrier(2)
    results: list[int] = []
    errors: list[BaseException] = []

    def runner() -> None:
        try:
            barrier.wait()
            results.append(robot.run_due_scheduled_posts(now=run_at + timedelta(seconds=1)))
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=runner) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert sum(results) == 20
    assert Message.objects.filter(community=group, sender_kind="robot").count() == 20
    assert not ScheduledPost.objects.filter(sent_at__isnull=True).exists()


# --- live events ----------------------------------------------------------------------------------


def test_in_process_publish_subscribe():
    with live.subscribe(1) as a, live.subscribe(1) as b, live.subscribe(2) as other:
        live.publish(1, {"type": "message", "id": 7})
        assert a.get(timeout=1) == {"type": "message", "id": 7}
        assert b.get(timeout=1) == {"type": "message", "id": 7}
        assert other.get(timeout=0.05) is None
    assert live._local.subscriber_count(1) == 0


def test_in_process_slow_subscriber_is_cut_off_not_blocking():
    sub = live.subscribe(3)
    for i in range(live._QUEUE_SIZE + 5):
        live.publish(3, {"type": "message", "id": i})
    assert sub.get(timeout=0.1) is None
    assert sub.closed
    assert live._local.subscriber_count(3) == 0


def test_publish_waits_for_commit(db, django_capture_on_commit_callbacks):
    with live.subscribe(4) as sub:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            live.publish_after_commit(4, {"type": "message", "id": 1})
        assert sub.get(timeout=0.05) is None
        for callback in callbacks:
            callback()
        assert sub.get(timeout=1) == {"type": "message", "id": 1}


def _redis_available() -> bool:
    try:
        return bool(redis.Redis.from_url(REDIS_TEST_URL, socket_connect_timeout=1).ping())
    except Exception:
        return False


def test_redis_publish_subscribe_across_connections(settings):
    if not _redis_available():
        pytest.skip("Redis is not reachable")
    settings.REDIS_URL = REDIS_TEST_URL
    community_id = 900_000_000 + os.getpid()
    with live.subscribe(community_id) as sub:
        assert sub.get(timeout=0.2) is None  # nothing yet; the subscription is established
        live.publish(community_id, {"type": "message", "id": 42, "message": {"text": "跨进程"}})
        assert sub.get(timeout=3) == {"type": "message", "id": 42, "message": {"text": "跨进程"}}
        # Another server process publishes over its own connection.
        other = redis.Redis.from_url(REDIS_TEST_URL)
        other.publish(live.channel_name(community_id), json.dumps({"type": "hidden", "id": 42}))
        assert sub.get(timeout=3) == {"type": "hidden", "id": 42}
        other.close()


def test_sse_over_redis(client, settings, joined, web_group, member_a, django_capture_on_commit_callbacks):
    if not _redis_available():
        pytest.skip("Redis is not reachable")
    settings.REDIS_URL = REDIS_TEST_URL
    settings.SIYU_CHAT_STREAM_SECONDS = 1
    _sign_in(client, member_a)
    response = client.get(f"/h5/c/{web_group.pk}/events/")
    with django_capture_on_commit_callbacks(execute=True):
        posting.post_member_message(web_group, member_a, text="经由Redis")
    assert "经由Redis" in _read_stream(response)


# --- pages and the SSE stream -----------------------------------------------------------------------


def test_chat_page_requires_sign_in_and_membership(client, joined, web_group, member_b):
    url = f"/h5/c/{web_group.pk}/"
    response = client.get(url)
    assert (
        response.status_code == 302
        and "/h5/login/" in response["Location"]
        and "next=" in response["Location"]
    )
    _sign_in(client, member_b)
    assert client.get(url).status_code == 404
    assert client.get(f"/h5/c/{web_group.pk}/events/").status_code == 404
    assert client.post(f"/h5/c/{web_group.pk}/messages/", {"text": "x"}).status_code == 404


def test_chat_page_shows_group_and_history(client, joined, web_group, member_a):
    posting.post_member_message(web_group, member_a, text="第一条")
    _sign_in(client, member_a)
    response = client.get(f"/h5/c/{web_group.pk}/")
    assert response.status_code == 200
    body = response.content.decode()
    assert web_group.name in body and "chat.js" in body
    initial = json.loads(re.search(r'id="chat-initial"[^>]*>(.*?)</script>', body, re.S).group(1))
    assert [m["text"] for m in initial["messages"]][-1] == "第一条"
    groups = client.get("/h5/groups/").content.decode()
    assert web_group.name in groups and f"/h5/c/{web_group.pk}/" in groups
    rules = client.get(f"/h5/c/{web_group.pk}/rules/")
    assert rules.status_code == 200


def test_post_endpoint_json_and_form(client, joined, web_group, member_a):
    _sign_in(client, member_a)
    url = f"/h5/c/{web_group.pk}/messages/"
    r1 = client.post(url, {"text": "你好", "client_msg_id": "c1"}, content_type="application/json")
    assert r1.status_code == 201 and r1.json()["message"]["text"] == "你好"
    r2 = client.post(url, {"text": "你好", "client_msg_id": "c1"}, content_type="application/json")
    assert r2.json()["message"]["id"] == r1.json()["message"]["id"]
    upload = io.BytesIO(_png())
    upload.name = "p.png"
    r3 = client.post(url, {"text": "", "client_msg_id": "c2", "image": upload})
    assert r3.status_code == 201 and r3.json()["message"]["image_url"]
    r4 = client.post(url, {"text": ""}, content_type="application/json")
    assert r4.status_code == 400 and r4.json()["error"]["field"] == "text"
    page = client.get(url, {"before": r3.json()["message"]["id"]}).json()
    assert [m["text"] for m in page["messages"]] == ["你好"]
    joined.muted_until = timezone.now() + timedelta(hours=1)
    joined.save()
    r5 = client.post(url, {"text": "x"}, content_type="application/json")
    assert r5.status_code == 403 and r5.json()["error"]["code"] == "muted"


def _read_stream(response) -> str:
    # Read to the end (streams close after SIYU_CHAT_STREAM_SECONDS): the test client's own closing of a
    # streaming response keeps the test's database connection open, closing it by hand would not.
    return "".join(c.decode() if isinstance(c, bytes) else c for c in response.streaming_content)


def test_sse_streams_new_messages_and_honours_last_event_id(
    client, settings, joined, web_group, member_a, django_capture_on_commit_callbacks
):
    settings.SIYU_CHAT_STREAM_SECONDS = 1
    settings.SIYU_CHAT_POLL_SECONDS = 100  # prove the live path, not the database poll
    old = [posting.post_member_message(web_group, member_a, text=f"旧{i}") for i in range(3)]
    _sign_in(client, member_a)
    url = f"/h5/c/{web_group.pk}/events/"

    resumed = client.get(url, HTTP_LAST_EVENT_ID=str(old[0].pk))
    assert resumed["Content-Type"].startswith("text/event-stream")
    body = _read_stream(resumed)
    assert "旧0" not in body and "旧1" in body and "旧2" in body
    assert f"id: {old[2].pk}\n" in body

    live_response = client.get(url, {"after": old[2].pk})
    with django_capture_on_commit_callbacks(execute=True):
        new = posting.post_member_message(web_group, member_a, text="实时消息")
    body = _read_stream(live_response)
    assert "实时消息" in body and f"id: {new.pk}\n" in body
    assert "旧" not in body


def test_sse_keepalive_and_end(client, settings, joined, web_group, member_a):
    settings.SIYU_CHAT_STREAM_SECONDS = 0.6
    settings.SIYU_CHAT_KEEPALIVE_SECONDS = 0.2
    _sign_in(client, member_a)
    response = client.get(f"/h5/c/{web_group.pk}/events/")
    body = _read_stream(response)
    assert body.startswith("retry: 3000\n\n")
    assert ": keepalive\n\n" in body


def test_sse_without_redis_sees_other_processes_by_polling(client, settings, joined, web_group, member_a):
    settings.SIYU_CHAT_STREAM_SECONDS = 1.5
    settings.SIYU_CHAT_KEEPALIVE_SECONDS = 0.3
    settings.SIYU_CHAT_POLL_SECONDS = 0.5
    _sign_in(client, member_a)
    response = client.get(f"/h5/c/{web_group.pk}/events/")
    chunks = iter(response.streaming_content)
    assert next(chunks) == b"retry: 3000\n\n"
    assert next(chunks) == b": keepalive\n\n"  # the stream is now past its backlog, waiting
    # Written without publishing, as another server process's message looks to this one without Redis.
    Message.objects.create(community=web_group, member=member_a, text="别的进程")
    assert "别的进程" in "".join(c.decode() for c in chunks)


def test_sse_tells_a_removed_member_they_are_gone(client, settings, joined, web_group, member_a):
    settings.SIYU_CHAT_STREAM_SECONDS = 1
    settings.SIYU_CHAT_KEEPALIVE_SECONDS = 0.1
    _sign_in(client, member_a)
    response = client.get(f"/h5/c/{web_group.pk}/events/")
    CommunityMembership.objects.filter(pk=joined.pk).update(status=CommunityMembership.Status.REMOVED)
    assert "event: gone" in _read_stream(response)
