"""Communities API: store scope (404 across stores), reads, posting, moderation overrides, join requests,
live codes with QR downloads, templates and the planner, staff tasks, failed channel calls, junk input."""

from __future__ import annotations

from datetime import timedelta

import pytest
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
from siyu.org.models import AuditEntry
from tests.api_support import assert_error
from tests.factories import MemberFactory

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def approval_template(hq_admin):
    return create_group_template(
        hq_admin,
        {
            "name": "会员专享",
            "base_name": "专享群",
            "threshold": "questionnaire",
            "questionnaire": ["孩子几岁？"],
        },
    )


@pytest.fixture
def seated(group_a, member_a):
    return join_community(group_a, member_a, scene="direct")


# --- scope ------------------------------------------------------------------------------------


def test_clerk_lists_only_own_store_groups(as_clerk, as_operator, group_a, group_b):
    body = as_clerk.get("/communities").json()
    assert body["count"] == 1 and body["items"][0]["id"] == group_a.pk
    assert body["items"][0]["store"]["id"] == group_a.store_id
    assert as_clerk.get("/communities", {"store": group_b.store_id}).json()["count"] == 0
    assert as_operator.get("/communities").json()["count"] == 2


def test_clerk_gets_404_for_other_store_group(as_clerk, group_b, member_b, store_b):
    pk = group_b.pk
    for path in ("", "/members", "/messages", "/moderation"):
        assert_error(as_clerk.get(f"/communities/{pk}{path}"), 404, "not_found")
    assert_error(as_clerk.post(f"/communities/{pk}/messages", {"text": "hi"}), 404, "not_found")
    future = (timezone.now() + timedelta(hours=2)).isoformat()
    assert_error(
        as_clerk.post(f"/communities/{pk}/scheduled-posts", {"text": "hi", "run_at": future}),
        404,
        "not_found",
    )
    assert_error(as_clerk.get(f"/stores/{store_b.pk}/group-plan"), 404, "not_found")
    assert_error(as_clerk.get("/live-codes", {"store": store_b.pk}), 404, "not_found")
    assert_error(as_clerk.get("/tasks", {"store": store_b.pk}), 404, "not_found")
    assert not Message.objects.filter(community=group_b).exists()
    assert not ScheduledPost.objects.exists()


def test_filters_and_detail(as_operator, group_a, group_b, seated, member_a):
    assert as_operator.get("/communities", {"store": group_a.store_id}).json()["count"] == 1
    assert as_operator.get("/communities", {"channel": "wecom"}).json()["count"] == 0
    assert as_operator.get("/communities", {"status": "open"}).json()["count"] == 2
    assert as_operator.get("/communities", {"template": group_a.template_id}).json()["count"] == 2
    record_event(
        "community.message", member_id=member_a.pk, store_id=group_a.store_id, community_id=group_a.pk
    )
    body = as_operator.get(f"/communities/{group_a.pk}").json()
    assert body["member_count"] == 1 and body["hard_cap"] == 2000
    assert len(body["activity"]) == 14 and body["activity"][-1] == 1 and sum(body["activity"]) == 1
    members = as_operator.get(f"/communities/{group_a.pk}/members").json()
    assert members["count"] == 1
    assert members["items"][0]["member_id"] == member_a.pk
    assert members["items"][0]["mobile"] == "138****1234"


# --- messages ---------------------------------------------------------------------------------


def test_staff_post_and_idempotent_announcement(as_clerk, group_a, clerk_a):
    response = as_clerk.post(f"/communities/{group_a.pk}/messages", {"text": "今天到货"})
    assert response.status_code == 201, response.content
    assert response.json()["sender_kind"] == "staff" and response.json()["text"] == "今天到货"
    headers = {"Idempotency-Key": "ann-1"}
    first = as_clerk.post(
        f"/communities/{group_a.pk}/messages", {"text": "周末活动", "announce": True}, headers=headers
    )
    assert first.status_code == 201, first.content
    again = as_clerk.post(
        f"/communities/{group_a.pk}/messages", {"text": "周末活动", "announce": True}, headers=headers
    )
    assert again.status_code == 200 and again.json() == first.json()
    assert Message.objects.filter(community=group_a, sender_kind="robot").count() == 1
    group_a.refresh_from_db()
    assert group_a.announcement == "周末活动"
    listed = as_clerk.get(f"/communities/{group_a.pk}/messages").json()
    assert listed["count"] == 2 and listed["items"][0]["sender_kind"] == "robot"
    assert AuditEntry.objects.filter(actor=clerk_a, action="community.announce").count() == 1


def test_schedule_post(as_clerk, group_a):
    run_at = (timezone.now() + timedelta(hours=3)).isoformat()
    response = as_clerk.post(
        f"/communities/{group_a.pk}/scheduled-posts", {"text": "明早开团", "run_at": run_at}
    )
    assert response.status_code == 201, response.content
    assert ScheduledPost.objects.get().text == "明早开团"
    past = (timezone.now() - timedelta(hours=1)).isoformat()
    assert_error(
        as_clerk.post(f"/communities/{group_a.pk}/scheduled-posts", {"text": "x", "run_at": past}),
        400,
        "invalid",
        "run_at",
    )


# --- moderation -------------------------------------------------------------------------------


def test_override_moderation_action(as_clerk, group_a, seated, member_a, clerk_a):
    message = Message.objects.create(community=group_a, member=member_a, text="加我微信 abc123", hidden=True)
    action = ModerationAction.objects.create(
        community=group_a, member=member_a, rule="contact", message=message, action="warn", reason="微信号"
    )
    log = as_clerk.get(f"/communities/{group_a.pk}/moderation").json()
    assert log["count"] == 1 and log["items"][0]["actor"] is None and not log["items"][0]["overridden"]
    assert_error(as_clerk.post(f"/moderation/{action.pk}/override", {}), 400, "invalid", "note")
    response = as_clerk.post(f"/moderation/{action.pk}/override", {"note": "误判：是店员微信"})
    assert response.status_code == 200, response.content
    assert response.json()["overridden"] and response.json()["overridden_by"] == str(clerk_a)
    message.refresh_from_db()
    assert not message.hidden
    assert_error(as_clerk.post(f"/moderation/{action.pk}/override", {"note": "again"}), 409, "conflict")


def test_override_other_store_action_is_404(as_clerk, group_b, member_b):
    join_community(group_b, member_b, scene="direct")
    action = ModerationAction.objects.create(community=group_b, member=member_b, rule="link", action="warn")
    assert_error(as_clerk.post(f"/moderation/{action.pk}/override", {"note": "x"}), 404, "not_found")
    action.refresh_from_db()
    assert action.overridden_at is None


# --- join requests ----------------------------------------------------------------------------


def _pending_request(store, template, member):
    code = LiveCode.objects.create(brand=store.brand, store=store, template=template, name="码")
    return JoinRequest.objects.create(live_code=code, member=member, answers={"q1": "3岁"})


def test_approve_join_request(as_clerk, store_a, approval_template, member_a, hq_admin):
    group = instantiate_template(hq_admin, store_id=store_a.pk, template_id=approval_template.pk)[0]
    request = _pending_request(store_a, approval_template, member_a)
    listed = as_clerk.get("/join-requests").json()
    assert listed["count"] == 1 and listed["items"][0]["member"]["mobile"] == "138****1234"
    response = as_clerk.post(f"/join-requests/{request.pk}/review", {"decision": "approve"})
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "approved" and response.json()["community_id"] == group.pk
    assert CommunityMembership.objects.filter(community=group, member=member_a, status="active").exists()
    assert_error(as_clerk.post(f"/join-requests/{request.pk}/review", {"decision": "reject"}), 409)


def test_reject_and_scope_of_join_requests(as_clerk, store_a, store_b, approval_template, member_a, member_b):
    other = _pending_request(store_b, approval_template, member_b)
    assert as_clerk.get("/join-requests").json()["count"] == 0
    assert_error(
        as_clerk.post(f"/join-requests/{other.pk}/review", {"decision": "approve"}), 404, "not_found"
    )
    mine = _pending_request(store_a, approval_template, member_a)
    assert_error(
        as_clerk.post(f"/join-requests/{mine.pk}/review", {"decision": "maybe"}), 400, "invalid", "decision"
    )
    response = as_clerk.post(f"/join-requests/{mine.pk}/review", {"decision": "reject", "reason": "不符合"})
    assert response.json()["status"] == "rejected"
    other.refresh_from_db()
    assert other.status == "pending"


# --- live codes -------------------------------------------------------------------------------


def test_live_code_create_list_and_png(as_clerk, store_a, template, clerk_a):
    response = as_clerk.post("/live-codes", {"store_id": store_a.pk, "template_id": template.pk})
    assert response.status_code == 201, response.content
    body = response.json()
    code = LiveCode.objects.get()
    assert body["id"] == code.pk and body["join_url"].endswith(f"/h5/j/{code.token}/")
    assert body["join_url"].startswith("http")
    again = as_clerk.post("/live-codes", {"store_id": store_a.pk, "template_id": template.pk})
    assert again.json()["id"] == code.pk and LiveCode.objects.count() == 1
    assert as_clerk.get("/live-codes").json()["count"] == 1
    qr = as_clerk.get(f"/live-codes/{code.pk}/qr.png")
    assert qr.status_code == 200 and qr["Content-Type"] == "image/png" and qr.content.startswith(PNG_MAGIC)
    poster = as_clerk.get(f"/live-codes/{code.pk}/poster.png")
    assert poster.status_code == 200 and poster.content.startswith(PNG_MAGIC)


def test_live_code_other_store_is_404(as_clerk, store_b, template):
    assert_error(as_clerk.post("/live-codes", {"store_id": store_b.pk, "template_id": template.pk}), 404)
    code = LiveCode.objects.create(brand=store_b.brand, store=store_b, template=template, name="B")
    for path in ("", "/qr.png", "/poster.png"):
        assert_error(as_clerk.get(f"/live-codes/{code.pk}{path}"), 404, "not_found")
    assert LiveCode.objects.count() == 1


# --- templates and the planner ----------------------------------------------------------------


def test_group_templates_hq_only(as_admin, as_clerk, template):
    assert as_clerk.get("/group-templates").json()["count"] == 1
    assert_error(as_clerk.post("/group-templates", {"name": "x", "base_name": "x"}), 403)
    response = as_admin.post(
        "/group-templates",
        {"name": "健康群", "base_name": "健康", "theme": "health", "audience": {"gender": "f"}},
    )
    assert response.status_code == 201, response.content
    assert response.json()["audience"] == {"gender": "f"}
    assert_error(as_admin.post("/group-templates", {"name": "健康群", "base_name": "y"}), 409)
    assert_error(as_admin.post("/group-templates", {"name": "z", "base_name": "z", "theme": "nope"}), 400)
    assert GroupTemplate.objects.count() == 2


def test_group_plan_and_accept(as_manager, store_a, template, brand):
    for _i in range(3):
        MemberFactory(brand=brand, home_store=store_a)
    plan = as_manager.get(f"/stores/{store_a.pk}/group-plan").json()
    item = next(i for i in plan["items"] if i["template_id"] == template.pk)
    assert item["fit_count"] == 3 and item["proposed"] == 1
    response = as_manager.post(f"/stores/{store_a.pk}/group-plan/accept", {"template_id": template.pk})
    assert response.status_code == 200, response.content
    assert len(response.json()["opened"]) == 1
    again = as_manager.post(f"/stores/{store_a.pk}/group-plan/accept", {"template_id": template.pk})
    assert again.json()["opened"] == []
    assert Community.objects.filter(store=store_a).count() == 1


# --- tasks ------------------------------------------------------------------------------------


def test_complete_task(as_clerk, store_a, store_b, clerk_a):
    mine = StaffTask.objects.create(store=store_a, kind="create_group", title="建群")
    other = StaffTask.objects.create(store=store_b, kind="create_group", title="别店")
    listed = as_clerk.get("/tasks").json()
    assert [t["id"] for t in listed["items"]] == [mine.pk]
    assert_error(as_clerk.post(f"/tasks/{other.pk}/done"), 404, "not_found")
    response = as_clerk.post(f"/tasks/{mine.pk}/done")
    assert response.status_code == 200 and response.json()["status"] == "done"
    assert response.json()["done_by"] == str(clerk_a)
    assert as_clerk.post(f"/tasks/{mine.pk}/done").status_code == 200  # a double tap is harmless
    assert AuditEntry.objects.filter(action="task.done", target_id=str(mine.pk)).count() == 1
    other.refresh_from_db()
    assert other.status == "open"
    assert as_clerk.get("/tasks").json()["count"] == 0


# --- failed outbox ----------------------------------------------------------------------------


def test_failed_outbox_scoped(as_clerk, as_operator, brand, group_a, group_b):
    connector = Connector.objects.create(brand=brand, kind=ChannelKind.TELEGRAM, name="bot")
    for n, group in enumerate((group_a, group_b, None)):
        OutboxMessage.objects.create(
            connector=connector,
            community_id=group.pk if group else None,
            bucket=f"chat:{n}",
            action="post",
            idempotency_key=f"k{n}",
            status="failed",
            last_error="403 Forbidden: bot was kicked",
        )
    mine = as_clerk.get("/outbox/failed").json()
    assert mine["count"] == 1 and mine["items"][0]["community"]["id"] == group_a.pk
    assert "kicked" in mine["items"][0]["last_error"]
    assert as_operator.get("/outbox/failed").json()["count"] == 3


# --- junk input -------------------------------------------------------------------------------


def test_junk_input_is_4xx_json(as_clerk, group_a):
    assert_error(as_clerk.get("/communities", {"channel": "fax"}), 400, "invalid", "channel")
    assert_error(as_clerk.get("/communities", {"status": "zzz"}), 400, "invalid", "status")
    assert_error(as_clerk.get("/communities", {"store": "abc"}), 400, "invalid", "store")
    assert_error(as_clerk.get("/communities/99999999999999999999"), 400)
    assert_error(as_clerk.get("/communities/987654"), 404, "not_found")
    assert_error(as_clerk.post(f"/communities/{group_a.pk}/messages", {"text": ""}), 400, "invalid", "text")
    assert_error(as_clerk.post(f"/communities/{group_a.pk}/messages", {"text": "x", "extra": 1}), 400)
    assert_error(as_clerk.post(f"/communities/{group_a.pk}/messages", raw=b"{nope"), 400, "malformed_json")
    assert_error(
        as_clerk.post(f"/communities/{group_a.pk}/messages", {"text": "x"}, headers={"Idempotency-Key": " "}),
        400,
    )
    assert_error(
        as_clerk.post("/live-codes", {"store_id": "x", "template_id": 1}), 400, "invalid", "store_id"
    )
    assert_error(as_clerk.post("/tasks/0/done"), 400)
    assert_error(as_clerk.post("/moderation/5/override", [1, 2]), 400)
    assert not Message.objects.exists()


def test_anonymous_is_401(anonymous, group_a):
    assert_error(anonymous.get("/communities"), 401)
    assert_error(anonymous.get(f"/live-codes/{group_a.pk}/qr.png"), 401)
