"""Robots where they belong: a store's internal staff group gets its daily summary and alerts, only."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from siyu.channels.models import OutboxMessage, StoreRobot
from siyu.channels.services import outbox, staff_messages
from siyu.common.errors import NotFound, PermissionDenied, ValidationFailed
from siyu.communities.models import Community, GroupTemplate, LiveCode
from siyu.orders.models import Order, OrderTransition
from siyu.orders.services import store_report
from tests.factories import MemberFactory
from tests.fakes.wecom import ROBOT_KEY
from tests.wecom_support import AGENT_ID, connect_wecom

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
STORE_KEY = "5f1c2a9e-0b7d-4c1e-9a55-3d2f6e8b7a10"


@pytest.fixture(autouse=True)
def _quiet_outbox(settings):
    settings.SIYU_OUTBOX_DISPATCH = "off"
    cache.clear()


@pytest.fixture
def fake(fake_wecom):
    fake_wecom.internal_robot_keys.add(STORE_KEY)
    return fake_wecom


@pytest.fixture
def connector(fake, store_a):
    return connect_wecom(fake, store_a, agent_id=AGENT_ID)


def _drain(now=None):
    while outbox.dispatch_due(now=now):
        pass


def _at(hour, minute=0, day=None):
    day = day or timezone.localtime(timezone.now(), SHANGHAI).date()
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=SHANGHAI)


# --- configuration and scoping ---------------------------------------------------------------------------


def test_robot_key_format():
    url = f"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={STORE_KEY}"
    assert staff_messages.parse_robot_key(url) == STORE_KEY
    assert staff_messages.parse_robot_key(f"  {STORE_KEY} ") == STORE_KEY
    for bad in ("short", "https://example.com/hook?key=" + STORE_KEY, "key with spaces 123", "ab/cd" * 5):
        with pytest.raises(ValidationFailed):
            staff_messages.parse_robot_key(bad)


def test_store_scoping_of_the_robot(manager_a, clerk_a, hq_admin, store_a, store_b):
    robot = staff_messages.set_store_robot(manager_a, store_a.pk, webhook_key=STORE_KEY)
    assert robot is not None and robot.summary_at == dt.time(21, 0)
    with pytest.raises(NotFound):
        staff_messages.set_store_robot(manager_a, store_b.pk, webhook_key=STORE_KEY)
    with pytest.raises(PermissionDenied):
        staff_messages.set_store_robot(clerk_a, store_a.pk, webhook_key=STORE_KEY)
    assert staff_messages.set_store_robot(hq_admin, store_b.pk, webhook_key=STORE_KEY) is not None
    assert staff_messages.set_store_robot(manager_a, store_a.pk, webhook_key="") is None
    assert list(StoreRobot.objects.values_list("store_id", flat=True)) == [store_b.pk]


def test_console_robot_page_is_scoped(client, manager_a, store_a, store_b):
    client.force_login(manager_a)
    page = client.get(reverse("console:store_robot", args=[store_a.pk]))
    assert page.status_code == 200 and "never to a customer group" in page.content.decode()
    response = client.post(
        reverse("console:store_robot", args=[store_a.pk]),
        {
            "webhook_key": f"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={STORE_KEY}",
            "summary_at": "20:30",
            "alerts": "on",
        },
    )
    assert response.status_code == 302
    robot = StoreRobot.objects.get(store=store_a)
    assert robot.webhook_key == STORE_KEY and robot.summary_at == dt.time(20, 30)
    assert STORE_KEY not in client.get(reverse("console:store_robot", args=[store_a.pk])).content.decode()
    other = client.post(
        reverse("console:store_robot", args=[store_b.pk]), {"webhook_key": STORE_KEY, "summary_at": "21:00"}
    )
    assert other.status_code == 404
    assert not StoreRobot.objects.filter(store=store_b).exists()
    bad = client.post(
        reverse("console:store_robot", args=[store_a.pk]), {"webhook_key": "nope", "summary_at": "21:00"}
    )
    assert bad.status_code == 200 and StoreRobot.objects.get(store=store_a).webhook_key == STORE_KEY


# --- daily summary -----------------------------------------------------------------------------------------


def _paid_order(member, store, fen, *, at):
    order = Order.objects.create(
        brand=store.brand,
        member=member,
        store=store,
        status="picked_up",
        payment_method="pay_at_pickup",
        total_fen=fen,
        pickup_window_start=at,
        pickup_window_end=at + dt.timedelta(hours=2),
        idempotency_key=f"k{fen}",
        out_trade_no=f"T{fen}",
        paid_at=at,
    )
    moved = OrderTransition.objects.create(order=order, from_status="ready", to_status="picked_up")
    OrderTransition.objects.filter(pk=moved.pk).update(created_at=at)
    return order


def test_daily_summary_once_at_the_store_time_into_its_robot_only(fake, connector, manager_a, store_a, brand):
    staff_messages.set_store_robot(manager_a, store_a.pk, webhook_key=STORE_KEY)
    day = timezone.localtime(timezone.now(), SHANGHAI).date()
    member = MemberFactory(brand=brand, home_store=store_a, mobile="13800000001", joined_at=_at(10, 0, day))
    _paid_order(member, store_a, 12345, at=_at(11, 0, day))
    _paid_order(member, store_a, 100, at=_at(11, 0, day - dt.timedelta(days=1)))  # yesterday: not counted
    assert store_report.post_daily_summaries(_at(20, 59, day)) == 0
    assert store_report.post_daily_summaries(_at(21, 0, day)) == 1
    assert store_report.post_daily_summaries(_at(21, 1, day)) == 0  # once a day
    _drain()
    [message] = fake.robot_messages
    assert message["key"] == STORE_KEY and message["msgtype"] == "markdown"
    content = message["markdown"]["content"]
    assert store_a.name in content and "New members: 1" in content
    assert "Paid orders: 1, takings ¥123.45" in content and "Picked up: 1" in content
    assert "Open tasks: 0" in content
    assert all(m["key"] != ROBOT_KEY for m in fake.robot_messages)
    row = OutboxMessage.objects.get(action="staff_robot_post")
    assert row.bucket.startswith("robot:")  # the robot's 20-a-minute bucket


def test_no_wecom_app_no_summary(manager_a, store_a):
    staff_messages.set_store_robot(manager_a, store_a.pk, webhook_key=STORE_KEY)
    assert store_report.post_daily_summaries(_at(22, 0)) == 0
    assert not OutboxMessage.objects.exists()


# --- alerts --------------------------------------------------------------------------------


def test_alerts_tell_each_failure_once_and_full_live_codes(fake, connector, manager_a, hq_admin, store_a):
    staff_messages.set_store_robot(manager_a, store_a.pk, webhook_key=STORE_KEY)
    template = GroupTemplate.objects.create(brand=store_a.brand, name="T", base_name="T群")
    group = Community.objects.create(
        brand=store_a.brand,
        store=store_a,
        template=template,
        channel="wecom",
        connector=connector,
        external_id="wrfull",
        name="T群1",
        hard_cap=500,
        recommended_size=2,
        member_count=2,
    )
    LiveCode.objects.create(
        brand=store_a.brand, store=store_a, template=template, name="门店活码", channel="wecom"
    )
    OutboxMessage.objects.create(
        connector=connector,
        action="post",
        bucket="x",
        idempotency_key="failed-1",
        community_id=group.pk,
        status="failed",
        last_error="boom",
    )
    assert store_report.post_alerts() == 1
    assert store_report.post_alerts() == 0
    _drain()
    [message] = fake.robot_messages
    assert message["key"] == STORE_KEY
    assert "1 message(s) to your groups could not be delivered" in message["text"]["content"]
    assert "门店活码" in message["text"]["content"]
    # A new failure is told; the old one is not repeated.
    OutboxMessage.objects.create(
        connector=connector,
        action="post",
        bucket="x",
        idempotency_key="failed-2",
        community_id=group.pk,
        status="failed",
    )
    assert store_report.post_alerts() == 1
    _drain()
    assert "1 message(s)" in fake.robot_messages[-1]["text"]["content"]
    assert {m["key"] for m in fake.robot_messages} == {STORE_KEY}
