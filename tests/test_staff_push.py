"""Staff tasks pushed to WeCom as app messages: once per task, within per-member limits, as a digest."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from siyu.channels.models import OutboxMessage, StaffAppMessage
from siyu.channels.services import outbox, staff_messages
from siyu.communities.models import Community, CommunityMembership, GroupDelivery, StaffTask
from siyu.communities.services import dispatch, staff_push
from siyu.communities.services.staff_todos import complete_task
from tests.factories import StaffFactory
from tests.race_support import needs_postgres, run_threads
from tests.wecom_support import AGENT_ID, connect_wecom

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _quiet_outbox(settings):
    settings.SIYU_OUTBOX_DISPATCH = "off"
    settings.SIYU_PUBLIC_URL = "https://siyu.example.com"
    cache.clear()


@pytest.fixture
def fake(fake_wecom):
    return fake_wecom


@pytest.fixture
def connector(fake, store_a):
    return connect_wecom(fake, store_a, agent_id=AGENT_ID)


@pytest.fixture
def clerk(brand, store_a):
    return StaffFactory(
        brand=brand, username="wecomclerk", role="clerk", stores=[store_a], wecom_userid="clerk01"
    )


def _tasks(store, n, *, assignee=None, kind=StaffTask.Kind.CREATE_GROUP):
    return [
        StaffTask.objects.create(store=store, kind=kind, title=f"Task {i + 1}", assignee=assignee)
        for i in range(n)
    ]


def _drain():
    while outbox.dispatch_due():
        pass


def _wecom_group(connector, store, chat_id="wrchat01", name="宝妈群1"):
    return Community.objects.create(
        brand=store.brand,
        store=store,
        channel="wecom",
        connector=connector,
        external_id=chat_id,
        name=name,
        hard_cap=500,
    )


# --- the must-show: 40 due tasks, one digest, nothing twice ---------------------------------------------


def test_forty_due_tasks_make_one_digest_within_limits_and_none_twice(fake, connector, clerk, store_a):
    tasks = _tasks(store_a, 40, assignee=clerk)
    assert staff_push.push_due_tasks() == 1
    assert staff_push.push_due_tasks() == 0  # run again: every task is already claimed
    _drain()
    sent = fake.app_messages_to("clerk01")
    assert len(sent) == 1
    card = sent[0]["textcard"]
    assert card["title"] == "You have 40 new tasks"
    assert card["url"] == "https://siyu.example.com" + reverse("console:dashboard")
    assert "Task 1" in card["description"] and "37 more" in card["description"]
    assert sent[0]["agentid"] == 1000002 and sent[0]["enable_duplicate_check"] == 1
    assert fake.app_dropped == []  # within WeCom's per-member limits
    assert StaffTask.objects.filter(pk__in=[t.pk for t in tasks], pushed_at__isnull=True).count() == 0
    # A later run, and new tasks: only the new ones, as cards of their own (few: no digest).
    new = _tasks(store_a, 2, assignee=clerk)
    assert staff_push.push_due_tasks() == 2
    _drain()
    titles = [m["textcard"]["title"] for m in fake.app_messages_to("clerk01")]
    assert titles == ["You have 40 new tasks", "Task 1", "Task 2"]
    assert all(t.pushed_at for t in StaffTask.objects.filter(pk__in=[t.pk for t in new]))


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_pushers_push_each_task_once(fake, connector, clerk, store_a):
    needs_postgres()
    _tasks(store_a, 40, assignee=clerk)
    outcomes = run_threads(4, lambda i: staff_push.push_due_tasks())
    assert sorted(outcomes) == [0, 0, 0, 1], outcomes
    _drain()
    assert len(fake.app_messages_to("clerk01")) == 1
    assert StaffAppMessage.objects.filter(userid="clerk01").count() == 1


def test_per_member_limits_are_counted_before_queuing(fake, connector, clerk, store_a):
    connector.config = {**connector.config, "app_messages_per_minute": 2, "app_messages_per_hour": 3}
    connector.save()
    _tasks(store_a, 2, assignee=clerk)
    assert staff_push.push_due_tasks() == 2  # two cards: the minute is full
    _tasks(store_a, 1, assignee=clerk)
    assert staff_push.push_due_tasks() == 0  # waits, unclaimed
    assert StaffTask.objects.filter(pushed_at__isnull=True).count() == 1
    later = timezone.now() + timedelta(minutes=2)
    _tasks(store_a, 2, assignee=clerk)
    # Room for one more this hour: the two waiting tasks go as one digest.
    assert staff_push.push_due_tasks(later) == 1
    digest = StaffAppMessage.objects.get(digest=True)
    assert digest.userid == "clerk01"
    assert staff_messages.app_message_room(connector, ["clerk01"], now=later) == {"clerk01": 0}
    _drain()
    assert [m["textcard"]["title"] for m in fake.app_messages_to("clerk01")][-1] == "You have 3 new tasks"
    assert fake.app_dropped == []


def test_nothing_pushed_without_wecom_userid_or_without_wecom_app(
    fake, connector, clerk_a, store_a, store_b, brand
):
    # clerk_a has no WeCom user id; store_b has no WeCom app (the connector is store A's).
    _tasks(store_a, 2, assignee=clerk_a)
    clerk_b = StaffFactory(
        brand=brand, username="clerkb", role="clerk", stores=[store_b], wecom_userid="clerkb"
    )
    _tasks(store_b, 2, assignee=clerk_b)
    assert staff_push.push_due_tasks() == 0
    assert StaffTask.objects.filter(pushed_at__isnull=False).count() == 0
    assert not OutboxMessage.objects.filter(action="app_message").exists()


def test_store_task_goes_to_the_store_staff_joined_in_one_card(fake, connector, clerk, store_a, brand):
    StaffFactory(brand=brand, username="mgr", role="store_manager", stores=[store_a], wecom_userid="mgr01")
    StaffFactory(brand=brand, username="hq", role="hq_admin", wecom_userid="hq01")
    _tasks(store_a, 1)
    assert staff_push.push_due_tasks() == 1
    _drain()
    [message] = fake.app_messages
    assert message["touser"] == "clerk01|mgr01"
    assert message["textcard"]["url"] == "https://siyu.example.com" + reverse("console:staff_tasks")


# --- SEND_POST: a group's waiting posts, one task per group per hour -----------------------------------


def test_waiting_staff_posts_raise_one_send_post_task_per_group(fake, connector, clerk, store_a):
    group = _wecom_group(connector, store_a)
    CommunityMembership.objects.create(community=group, staff=clerk, role="owner")
    for i in range(5):
        delivery = dispatch.dispatch(
            group, {"text": f"relay {i}"}, kind="relay", key=f"relay:{i}", can_wait=False
        )
        assert delivery is not None and delivery.status == GroupDelivery.Status.WAITING_STAFF
    assert staff_push.raise_send_post_tasks() == 1
    assert staff_push.raise_send_post_tasks() == 0  # coalesced: the open task covers new posts
    task = StaffTask.objects.get(kind=StaffTask.Kind.SEND_POST)
    assert task.community == group and "5 waiting posts" in task.title
    assert staff_push.push_due_tasks() == 1
    _drain()
    assert fake.app_messages_to("clerk01")[0]["textcard"]["title"] == task.title
    # Done, with posts still waiting: no new task within the hour; one after it.
    complete_task(clerk, task.pk)
    assert staff_push.raise_send_post_tasks() == 0
    assert staff_push.raise_send_post_tasks(timezone.now() + timedelta(minutes=61)) == 1
    # Everything sent from the sidebar: the open SEND_POST task closes by itself.
    for d in GroupDelivery.objects.filter(community=group):
        dispatch.mark_sent_by_staff(clerk, d.pk)
    staff_push.raise_send_post_tasks()
    assert not StaffTask.objects.filter(kind=StaffTask.Kind.SEND_POST, status=StaffTask.Status.OPEN).exists()


# --- CONFIRM_MASS: for the mass-message batcher -----------------------------------------------------------


def test_confirm_mass_task_goes_to_the_owner_only_and_once(fake, connector, clerk, store_a, brand):
    owner = StaffFactory(
        brand=brand, username="owner", role="clerk", stores=[store_a], wecom_userid="owner01"
    )
    first = staff_push.ask_owner_to_confirm_mass(
        store_id=store_a.pk, owner_userid="owner01", msgid="msg1", group_count=12
    )
    again = staff_push.ask_owner_to_confirm_mass(
        store_id=store_a.pk, owner_userid="owner01", msgid="msg1", group_count=12
    )
    assert first.pk == again.pk and first.assignee == owner
    assert "12 groups" in first.title
    assert staff_push.push_due_tasks() == 1
    _drain()
    assert [m["touser"] for m in fake.app_messages] == ["owner01"]
    assert staff_push.mass_message_settled("msg1") == 1
    first.refresh_from_db()
    assert first.status == StaffTask.Status.DONE
