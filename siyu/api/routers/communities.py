"""Communities: groups, their members and messages, moderation, join requests, group templates and the
planner, staff tasks and failed channel calls.

Store scope as for members: a group (or store, task, request, action) outside the caller's stores answers
404 like a missing one. Mobile numbers are always masked.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import Field, Header, Path, Query, Router, Schema
from ninja.responses import Status

from siyu.api import idempotency
from siyu.api.auth import current_staff
from siyu.api.presenters import (
    community_detail_out,
    community_member_out,
    community_out,
    group_template_out,
    join_request_out,
    message_out,
    moderation_action_out,
    outbox_out,
    scheduled_post_out,
    store_ref,
    task_out,
)
from siyu.api.schemas import (
    ChannelName,
    CommunityDetailOut,
    CommunityMemberPage,
    CommunityPage,
    GroupPlanAcceptIn,
    GroupPlanAcceptOut,
    GroupPlanOut,
    GroupTemplateCreateIn,
    GroupTemplateOut,
    GroupTemplatePage,
    Id,
    JoinRequestOut,
    JoinRequestPage,
    JoinRequestReviewIn,
    MessageIn,
    MessageOut,
    MessagePage,
    ModerationActionOut,
    ModerationActionPage,
    OutboxPage,
    OverrideIn,
    PageParams,
    ScheduledPostIn,
    ScheduledPostOut,
    TaskOut,
    TaskPage,
    paginate,
)
from siyu.channels.services import outbox
from siyu.common.errors import ValidationFailed
from siyu.communities.models import JoinRequest
from siyu.communities.services import activity as group_activity
from siyu.communities.services import livecodes, matrix, moderation_log, posting, queries, robot, staff_todos
from siyu.org.services import stores as store_services
from siyu.org.services.login import client_ip

router = Router()


class CommunityFilterParams(Schema):
    store: Id | None = Field(None, description="Store id.")
    template: Id | None = Field(None, description="Group template id.")
    channel: str | None = Field(None, max_length=16, description="web, wecom or telegram.")
    status: str | None = Field(None, max_length=10, description="pending, open or archived.")
    q: str | None = Field(None, max_length=80, description="Part of the group name.")

    def to_filter(self) -> queries.CommunityFilter:
        return queries.CommunityFilter(
            store_id=self.store, template_id=self.template, channel=self.channel, status=self.status, q=self.q
        )


class StoreParams(Schema):
    store: Id | None = Field(None, description="Store id.")


class PlanParams(Schema):
    channel: ChannelName = Field(
        "web", description="Plan for groups on this channel: web, wecom or telegram."
    )


def _page(items: list[Any], page: PageParams) -> tuple[int, list[Any]]:
    return len(items), items[page.offset : page.offset + page.limit]


def _scoped_store_id(request: HttpRequest, store_id: int | None) -> int | None:
    # Outside the caller's stores a store is absent (404), as everywhere in the API.
    if store_id is None:
        return None
    return store_services.get_store(current_staff(request), store_id).pk


# --- groups -----------------------------------------------------------------------------------


@router.get("/communities", response=CommunityPage)
def list_communities(
    request: HttpRequest, filters: Query[CommunityFilterParams], page: Query[PageParams]
) -> dict[str, Any]:
    """Groups of the caller's stores (all for HQ), by store, template and number."""
    qs = queries.filter_communities(current_staff(request), filters.to_filter())
    count, items = paginate(qs, page)
    return {"count": count, "items": [community_out(c) for c in items]}


@router.get("/communities/{int:community_id}", response=CommunityDetailOut)
def get_community(request: HttpRequest, community_id: Path[Id]) -> dict[str, Any]:
    """One group with its rules, welcome and announcement, and its activity per day over 14 days (which
    signals it counts depends on the channel: ``activity_signals``)."""
    community = queries.get_community(current_staff(request), community_id)
    activity = queries.community_activity([community.pk]).get(community.pk, [])
    signals = [s.key for s in group_activity.signals_for(community)]
    return community_detail_out(community, activity, signals)


@router.get("/communities/{int:community_id}/members", response=CommunityMemberPage)
def community_members(
    request: HttpRequest, community_id: Path[Id], page: Query[PageParams]
) -> dict[str, Any]:
    """Who is in the group now (owners and admins first), mobiles masked."""
    rows = queries.community_members(current_staff(request), community_id)
    count, items = _page(rows, page)
    return {"count": count, "items": [community_member_out(r) for r in items]}


@router.get("/communities/{int:community_id}/messages", response=MessagePage)
def community_messages(
    request: HttpRequest, community_id: Path[Id], page: Query[PageParams]
) -> dict[str, Any]:
    """The group's messages, newest first, including those moderation hid (``hidden``: true)."""
    qs = queries.community_messages(current_staff(request), community_id)
    count, items = paginate(qs, page)
    return {"count": count, "items": [message_out(m) for m in items]}


@router.post("/communities/{int:community_id}/messages", response={200: MessageOut, 201: MessageOut})
def post_message(
    request: HttpRequest,
    community_id: Path[Id],
    payload: MessageIn,
    idempotency_key: str | None = Header(
        None,
        alias="Idempotency-Key",
        description="Retry-safe posting: the same key from the same staff posts once and answers the same.",
    ),
) -> Status:
    """Post in the group as yourself (201), or with ``announce`` set as the group's announcement by the
    robot. With an Idempotency-Key a retry answers 200 with the same message and posts nothing."""
    staff = current_staff(request)
    community = queries.get_community(staff, community_id)

    def post() -> tuple[int, Any]:
        if payload.announce:
            message = robot.announce(community, payload.text, by=staff)
        else:
            message = posting.staff_post(staff, community.pk, payload.text)
        return 201, message_out(message)

    status, body = idempotency.run_idempotent(
        request,
        idempotency_key,
        body=payload.model_dump(mode="json"),
        action=post,
    )
    return Status(status, body)


@router.post("/communities/{int:community_id}/scheduled-posts", response={201: ScheduledPostOut})
def schedule_post(request: HttpRequest, community_id: Path[Id], payload: ScheduledPostIn) -> Status:
    """Have the robot post ``text`` at ``run_at`` (future, at most 90 days ahead). A time without an offset
    is read in the chain's time zone (Asia/Shanghai)."""
    staff = current_staff(request)
    community = queries.get_community(staff, community_id)
    run_at: datetime = payload.run_at
    if timezone.is_naive(run_at):
        run_at = timezone.make_aware(run_at)
    post = robot.schedule_post(staff, community.pk, payload.text, run_at)
    return Status(201, scheduled_post_out(post))


# --- moderation -------------------------------------------------------------------------------


@router.get("/communities/{int:community_id}/moderation", response=ModerationActionPage)
def community_moderation(
    request: HttpRequest, community_id: Path[Id], page: Query[PageParams]
) -> dict[str, Any]:
    """The group's moderation log, newest first (robot actions have ``actor`` null)."""
    qs = moderation_log.moderation_log(current_staff(request), community_id=community_id)
    count, items = paginate(qs, page)
    return {"count": count, "items": [moderation_action_out(a) for a in items]}


@router.post("/moderation/{int:action_id}/override", response=ModerationActionOut)
def override_moderation(request: HttpRequest, action_id: Path[Id], payload: OverrideIn) -> dict[str, Any]:
    """Undo a moderation action (a ``note`` saying why is required): the hidden message shows again, a mute
    is lifted, a removal no longer bars re-joining. Overriding twice is 409."""
    action = moderation_log.override_action(
        current_staff(request), action_id, payload.note, ip=client_ip(request)
    )
    return moderation_action_out(action)


# --- join requests ----------------------------------------------------------------------------


@router.get("/join-requests", response=JoinRequestPage)
def list_join_requests(
    request: HttpRequest, params: Query[StoreParams], page: Query[PageParams]
) -> dict[str, Any]:
    """Join requests waiting for review at the caller's stores, oldest first."""
    store_id = _scoped_store_id(request, params.store)
    qs = queries.pending_join_requests(current_staff(request), store_id)
    count, items = paginate(qs.select_related("reviewed_by"), page)
    return {"count": count, "items": [join_request_out(r) for r in items]}


@router.post("/join-requests/{int:request_id}/review", response=JoinRequestOut)
def review_join_request(
    request: HttpRequest, request_id: Path[Id], payload: JoinRequestReviewIn
) -> dict[str, Any]:
    """Approve (the member is seated like any join; ``community_id`` says where) or reject a request.
    When no group has room yet on a WeCom/Telegram set the request stays ``pending``; 409 once reviewed."""
    if payload.decision not in ("approve", "reject"):
        raise ValidationFailed(_("Decision must be approve or reject."), field="decision")
    reviewed = livecodes.review_join_request(
        current_staff(request), request_id, payload.decision == "approve", payload.reason
    )
    reviewed = JoinRequest.objects.select_related(
        "live_code__store", "live_code__template", "member", "reviewed_by"
    ).get(pk=reviewed.pk)
    return join_request_out(reviewed)


# --- group templates and the planner -------------------------------------------------------------


@router.get("/group-templates", response=GroupTemplatePage)
def list_group_templates(request: HttpRequest, page: Query[PageParams]) -> dict[str, Any]:
    """The chain's group templates (everyone may read them)."""
    current_staff(request)
    count, items = paginate(queries.group_templates(), page)
    return {"count": count, "items": [group_template_out(t) for t in items]}


@router.post("/group-templates", response={201: GroupTemplateOut})
def create_group_template(request: HttpRequest, payload: GroupTemplateCreateIn) -> Status:
    """Create a group template (head office only). ``audience`` is a tag rule, e.g. ``{"gender": "f"}``."""
    template = matrix.create_group_template(current_staff(request), payload.model_dump())
    return Status(201, group_template_out(template))


@router.get("/stores/{int:store_id}/group-plan", response=GroupPlanOut)
def group_plan(request: HttpRequest, store_id: Path[Id], params: Query[PlanParams]) -> dict[str, Any]:
    """Per active template: the store's members fitting its audience and not in its groups yet, and the
    number of groups the planner proposes to open for them. Reads only."""
    staff = current_staff(request)
    store = store_services.get_store(staff, store_id)
    items = matrix.plan_store_groups(staff, store.pk, channel=params.channel)
    return {"store": store_ref(store), "channel": params.channel, "items": [asdict(i) for i in items]}


@router.post("/stores/{int:store_id}/group-plan/accept", response=GroupPlanAcceptOut)
def accept_group_plan(request: HttpRequest, store_id: Path[Id], payload: GroupPlanAcceptIn) -> dict[str, Any]:
    """Open the groups the planner proposes for one template (recomputed now, so accepting twice does not
    open twice). WeCom/Telegram groups start ``pending`` with a staff task to create them."""
    staff = current_staff(request)
    store = store_services.get_store(staff, store_id)
    opened = matrix.accept_plan(
        staff, store.pk, payload.template_id, channel=payload.channel, connector_id=payload.connector_id
    )
    return {"opened": [community_out(c) for c in opened]}


# --- staff tasks ------------------------------------------------------------------------------


@router.get("/tasks", response=TaskPage)
def list_tasks(request: HttpRequest, params: Query[StoreParams], page: Query[PageParams]) -> dict[str, Any]:
    """Open staff tasks of the caller's stores, oldest first."""
    qs = staff_todos.open_tasks(current_staff(request), params.store)
    count, items = paginate(qs, page)
    return {"count": count, "items": [task_out(t) for t in items]}


@router.post("/tasks/{int:task_id}/done", response=TaskOut)
def complete_task(request: HttpRequest, task_id: Path[Id]) -> dict[str, Any]:
    """Mark a task done (audited). Done already: answered unchanged; cancelled: 409."""
    task = staff_todos.complete_task(current_staff(request), task_id, ip=client_ip(request))
    return task_out(task)


# --- failed channel calls ---------------------------------------------------------------------


@router.get("/outbox/failed", response=OutboxPage)
def failed_outbox(request: HttpRequest, page: Query[PageParams]) -> dict[str, Any]:
    """Calls to WeCom/Telegram that failed after every retry, newest first, with the error text: all for HQ,
    those about the caller's stores' groups for store roles."""
    count, items = paginate(outbox.failed_messages(current_staff(request)), page)
    groups = queries.communities_by_id({m.community_id for m in items if m.community_id})
    return {"count": count, "items": [outbox_out(m, groups.get(m.community_id or 0)) for m in items]}
