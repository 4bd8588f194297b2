"""Console pages for communities: groups, one group's room, live codes, templates and the planner, staff
tasks, failed channel calls — for HQ and a clerk, with another store's group answering 404."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from siyu.analytics.services.events import record_event
from siyu.channels.models import ChannelKind, Connector, OutboxMessage
from siyu.communities.models import (
    Community,
    CommunityMembership,
    GroupTemplate,
    JoinRequest,
    LiveCode,
    Message,
    ModerationAction,
    ScheduledPost,
    StaffTask,
)
from siyu.communities.services.joining import join_community
from siyu.communities.services.matrix import create_group_template, instantiate_template
from siyu.console.views_communities import sparkline_svg
from tests.factories import MemberFactory

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def hq_client(client, hq_admin):
    client.force_login(hq_admin)
    return client


@pytest.fixture
def clerk_client(client, clerk_a):
    client.force_login(clerk_a)
    return client


def _html(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


# --- pages render ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["groups", "live_codes", "group_templates", "group_plan", "staff_tasks", "failed_outbox"]
)
def test_pages_render_for_hq_and_clerk(client, hq_admin, clerk_a, group_a, group_b, name):
    for staff in (hq_admin, clerk_a):
        client.force_login(staff)
        html = _html(client.get(reverse(f"console:{name}")))
        assert 'name="viewport"' in html
        assert reverse("console:groups") in html  # the nav item


def test_groups_list_scoped_with_sparkline(hq_client, clerk_client, group_a, group_b, member_a):
    record_event(
        "community.message", member_id=member_a.pk, store_id=group_a.store_id, community_id=group_a.pk
    )
    html = _html(clerk_client.get(reverse("console:groups")))
    assert group_a.name in html and group_b.name not in html
    assert "<svg" in html and "polyline" in html
    assert "0 / 200 / 2000" in html


def test_groups_list_hq_filters(hq_client, group_a, group_b):
    html = _html(hq_client.get(reverse("console:groups")))
    assert group_a.name in html and group_b.name in html
    html = _html(hq_client.get(reverse("console:groups"), {"store": group_b.store_id}))
    assert group_b.name in html and group_a.name not in html
    # A filter that does not parse is ignored, not a crash.
    assert hq_client.get(reverse("console:groups"), {"store": "abc", "status": "zzz"}).status_code == 200


def test_group_detail_renders(clerk_client, group_a, member_a):
    join_community(group_a, member_a, scene="direct")
    Message.objects.create(community=group_a, member=member_a, text="大家好")
    html = _html(clerk_client.get(reverse("console:group_detail", args=[group_a.pk])))
    assert "大家好" in html and "138****1234" in html and "13812341234" not in html
    assert reverse("console:group_hygiene", args=[group_a.pk]) in html
    assert _html(clerk_client.get(reverse("console:group_hygiene", args=[group_a.pk])))


def test_cross_store_group_is_404(clerk_client, group_b):
    for name in ("group_detail", "group_hygiene"):
        assert clerk_client.get(reverse(f"console:{name}", args=[group_b.pk])).status_code == 404
    response = clerk_client.post(reverse("console:group_post", args=[group_b.pk]), {"text": "hi"})
    assert response.status_code == 404
    assert not Message.objects.filter(community=group_b).exists()


def test_sparkline_is_plain_svg():
    svg = str(sparkline_svg([0, 3, 1, 0]))
    assert svg.startswith("<svg") and "<polyline" in svg and "<script" not in svg
    assert str(sparkline_svg([])) != ""


# --- posting -------------------------------------------------------------------------------------


def test_post_announcement_and_staff_message(clerk_client, group_a):
    url = reverse("console:group_post", args=[group_a.pk])
    response = clerk_client.post(url, {"text": "周末活动", "as": "announcement"})
    assert response.status_code == 302
    group_a.refresh_from_db()
    assert group_a.announcement == "周末活动"
    assert Message.objects.filter(community=group_a, sender_kind="robot").exists()
    clerk_client.post(url, {"text": "我是店长", "as": "staff"})
    assert Message.objects.filter(community=group_a, sender_kind="staff", text="我是店长").exists()
    # Empty text: an error message, nothing posted.
    response = clerk_client.post(url, {"text": "", "as": "staff"}, follow=True)
    assert "2000" in response.content.decode()
    assert Message.objects.filter(community=group_a).count() == 2


def test_schedule_post(clerk_client, group_a):
    when = timezone.localtime() + timedelta(hours=2)
    response = clerk_client.post(
        reverse("console:group_schedule", args=[group_a.pk]),
        {"text": "明早开团", "run_at": when.strftime("%Y-%m-%dT%H:%M")},
    )
    assert response.status_code == 302
    assert ScheduledPost.objects.get().text == "明早开团"
    html = _html(clerk_client.get(reverse("console:group_detail", args=[group_a.pk])))
    assert "明早开团" in html


# --- moderation and join requests -------------------------------------------------------------


def test_override_moderation_action(clerk_client, group_a, member_a):
    join_community(group_a, member_a, scene="direct")
    message = Message.objects.create(
        community=group_a, member=member_a, text="http://spam.example", hidden=True
    )
    action = ModerationAction.objects.create(
        community=group_a, member=member_a, rule="link", message=message, action="warn"
    )
    html = _html(clerk_client.get(reverse("console:group_detail", args=[group_a.pk])))
    assert reverse("console:moderation_override", args=[action.pk]) in html
    response = clerk_client.post(
        reverse("console:moderation_override", args=[action.pk]), {"note": "店员链接"}
    )
    assert response.status_code == 302
    action.refresh_from_db()
    message.refresh_from_db()
    assert action.overridden_at is not None and not message.hidden


def test_approve_join_request(clerk_client, hq_admin, store_a, member_a):
    template = create_group_template(
        hq_admin,
        {"name": "专享", "base_name": "专享", "threshold": "questionnaire", "questionnaire": ["几岁？"]},
    )
    group = instantiate_template(hq_admin, store_id=store_a.pk, template_id=template.pk)[0]
    code = LiveCode.objects.create(brand=store_a.brand, store=store_a, template=template, name="码")
    request = JoinRequest.objects.create(live_code=code, member=member_a, answers={"q1": "3岁"})
    html = _html(clerk_client.get(reverse("console:group_detail", args=[group.pk])))
    assert reverse("console:join_request_review", args=[request.pk]) in html and "3岁" in html
    response = clerk_client.post(
        reverse("console:join_request_review", args=[request.pk]),
        {"decision": "approve", "community": group.pk},
    )
    assert response.status_code == 302
    request.refresh_from_db()
    assert request.status == "approved"
    assert CommunityMembership.objects.filter(community=group, member=member_a, status="active").exists()


# --- live codes -------------------------------------------------------------------------------


def test_live_code_create_and_download(clerk_client, store_a, template):
    response = clerk_client.post(
        reverse("console:live_codes"), {"store": store_a.pk, "template": template.pk}
    )
    assert response.status_code == 302
    code = LiveCode.objects.get()
    html = _html(clerk_client.get(reverse("console:live_codes")))
    assert f"/h5/j/{code.token}/" in html
    qr = clerk_client.get(reverse("console:live_code_qr", args=[code.pk]))
    assert qr.status_code == 200 and qr["Content-Type"] == "image/png" and qr.content.startswith(PNG_MAGIC)
    poster = clerk_client.get(reverse("console:live_code_poster", args=[code.pk]))
    assert poster.status_code == 200 and poster.content.startswith(PNG_MAGIC)


def test_live_code_other_store_is_404(clerk_client, store_b, template):
    code = LiveCode.objects.create(brand=store_b.brand, store=store_b, template=template, name="B")
    assert clerk_client.get(reverse("console:live_code_qr", args=[code.pk])).status_code == 404
    assert clerk_client.get(reverse("console:live_code_poster", args=[code.pk])).status_code == 404
    assert clerk_client.get(reverse("console:live_codes"), {"store": store_b.pk}).status_code == 404


# --- templates and planner ----------------------------------------------------------------------


def test_hq_creates_template_clerk_cannot(hq_client, client, clerk_a):
    response = hq_client.post(
        reverse("console:group_templates"),
        {
            "name": "健康群",
            "base_name": "健康",
            "theme": "health",
            "recommended_size": 150,
            "threshold": "none",
        },
    )
    assert response.status_code == 302
    assert _html(hq_client.get(reverse("console:group_templates"))).count("健康群") >= 1
    bad = hq_client.post(
        reverse("console:group_templates"),
        {"name": "坏", "theme": "general", "recommended_size": 150, "threshold": "none", "aud_gender": "x"},
    )
    # The audience is a form now (issue 9): a bad choice is a field error and nothing is created.
    assert bad.status_code == 400 and "field-error" in bad.content.decode()
    assert not GroupTemplate.objects.filter(name="坏").exists()
    client.force_login(clerk_a)
    assert client.post(reverse("console:group_templates"), {"name": "x"}).status_code == 403


def test_planner_accept(client, manager_a, store_a, template, brand):
    client.force_login(manager_a)
    for _i in range(2):
        MemberFactory(brand=brand, home_store=store_a)
    html = _html(client.get(reverse("console:group_plan"), {"store": store_a.pk}))
    assert reverse("console:group_plan_accept") in html
    response = client.post(
        reverse("console:group_plan_accept"), {"store": store_a.pk, "template": template.pk}
    )
    assert response.status_code == 302
    assert Community.objects.filter(store=store_a, template=template).count() == 1


def test_planner_other_store_is_404(clerk_client, store_b):
    assert clerk_client.get(reverse("console:group_plan"), {"store": store_b.pk}).status_code == 404


# --- tasks and outbox ---------------------------------------------------------------------------


def test_complete_task(clerk_client, store_a, store_b):
    mine = StaffTask.objects.create(store=store_a, kind="create_group", title="在企业微信建群")
    other = StaffTask.objects.create(store=store_b, kind="create_group", title="别的店")
    html = _html(clerk_client.get(reverse("console:staff_tasks")))
    assert "在企业微信建群" in html and "别的店" not in html
    assert clerk_client.post(reverse("console:task_done", args=[other.pk])).status_code == 404
    assert clerk_client.post(reverse("console:task_done", args=[mine.pk])).status_code == 302
    mine.refresh_from_db()
    other.refresh_from_db()
    assert mine.status == "done" and other.status == "open"


def test_failed_outbox_page(clerk_client, brand, group_a, group_b):
    connector = Connector.objects.create(brand=brand, kind=ChannelKind.WECOM, name="企微")
    for n, group in enumerate((group_a, group_b)):
        OutboxMessage.objects.create(
            connector=connector,
            community_id=group.pk,
            bucket=f"chat:{n}",
            action="post",
            idempotency_key=f"k{n}",
            status="failed",
            last_error=f"errcode 4000{n}",
        )
    html = _html(clerk_client.get(reverse("console:failed_outbox")))
    assert "errcode 40000" in html and "errcode 40001" not in html


def test_hygiene_one_click_removal(clerk_client, group_a, member_a):
    membership = join_community(group_a, member_a, scene="direct")
    CommunityMembership.objects.filter(pk=membership.pk).update(joined_at=timezone.now() - timedelta(days=60))
    html = _html(clerk_client.get(reverse("console:group_hygiene", args=[group_a.pk])))
    assert f'value="{member_a.pk}" checked' in html
    response = clerk_client.post(
        reverse("console:group_hygiene_action", args=[group_a.pk]),
        {"action": "remove", "days": 30, "member": [member_a.pk]},
    )
    assert response.status_code == 302
    membership.refresh_from_db()
    assert membership.status == "removed"
    bad = clerk_client.post(reverse("console:group_hygiene_action", args=[group_a.pk]), {"action": "explode"})
    assert bad.status_code == 302  # refused with a message, nothing done
