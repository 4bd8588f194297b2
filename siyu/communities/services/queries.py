"""Scoped reads of communities for the console and the API.

One rule, the same as for members: HQ roles see every store's groups, store roles only their stores'.
A group outside the caller's scope looks like it does not exist (NotFound), whichever id is asked for.
Nothing here writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Q, QuerySet
from django.utils.translation import gettext as _

from siyu.channels.models import ChannelKind
from siyu.common.errors import NotFound, ValidationFailed
from siyu.common.mobile import mask_mobile
from siyu.common.validators import parse_id
from siyu.communities.models import (
    Community,
    CommunityMembership,
    GroupTemplate,
    JoinRequest,
    LiveCode,
    Message,
    ScheduledPost,
    StaffTask,
)
from siyu.communities.services import activity
from siyu.org.models import Staff
from siyu.org.services.access import require_staff, store_scope
from siyu.org.services.stores import get_store

ACTIVITY_DAYS = 14
MAX_ACTIVITY_DAYS = 90


def _in_scope(qs: QuerySet[Any], staff: Staff, store_field: str = "store_id") -> QuerySet[Any]:
    scope = store_scope(staff)
    if scope is not None:
        qs = qs.filter(**{f"{store_field}__in": scope})
    return qs


# --- communities -----------------------------------------------------------------------------


def scoped_communities(staff: Staff) -> QuerySet[Community]:
    """Groups ``staff`` may see: all for HQ roles, their stores' for store roles, in store/template order."""
    require_staff(staff)
    qs = Community.objects.select_related("store", "template", "connector")
    return _in_scope(qs, staff).order_by("store__code", "template_id", "sequence", "id")


@dataclass
class CommunityFilter:
    """Filters shared by the console group list and ``GET /communities``."""

    store_id: int | None = None
    template_id: int | None = None
    channel: str | None = None
    status: str | None = None
    q: str | None = None


def filter_communities(staff: Staff, f: CommunityFilter) -> QuerySet[Community]:
    """Groups in ``staff``'s scope matching ``f``. An unknown channel or status is ValidationFailed;
    a store outside the scope simply matches nothing (it looks absent, as everywhere)."""
    qs = scoped_communities(staff)
    if f.store_id:
        qs = qs.filter(store_id=f.store_id)
    if f.template_id:
        qs = qs.filter(template_id=f.template_id)
    if f.channel:
        if f.channel not in ChannelKind.values:
            raise ValidationFailed(_("Unknown channel."), field="channel")
        qs = qs.filter(channel=f.channel)
    if f.status:
        if f.status not in Community.Status.values:
            raise ValidationFailed(_("Unknown group status."), field="status")
        qs = qs.filter(status=f.status)
    if f.q:
        qs = qs.filter(name__icontains=f.q.strip()[:80])
    return qs


def get_community(staff: Staff, community_id: Any) -> Community:
    """The group ``community_id`` if ``staff`` may see it; NotFound otherwise (out of scope looks missing)."""
    pk = parse_id(community_id, "community", _("No such group."))
    community = scoped_communities(staff).filter(pk=pk).first()
    if community is None:
        raise NotFound(_("No such group."), field="community")
    return community


def community_activity(
    community_ids: list[int] | set[int], days: int = ACTIVITY_DAYS
) -> dict[int, list[int]]:
    """Activity per local day over the last ``days`` days (oldest first, today last) for each group id: the
    events of the signals its channel can produce (``activity.signals_for``: messages and orders where Siyu
    reads messages; joins, orders and link opens where it cannot), counted from the event log. Every id asked
    for that exists gets a full series, zeros included. The caller has already limited ``community_ids`` to
    groups it may see; ``activity.signal_labels`` says what a group's series counts.
    """
    days = max(1, min(int(days), MAX_ACTIVITY_DAYS))
    ids = sorted({int(i) for i in community_ids})
    if not ids:
        return {}
    groups = Community.objects.filter(pk__in=ids).select_related("connector")
    return activity.group_series(groups, days)


@dataclass
class MemberRow:
    """One active member (or staff member) of a group as staff may see it: the mobile is masked."""

    membership: CommunityMembership
    name: str
    masked_mobile: str
    is_staff: bool

    @property
    def role(self) -> str:
        return self.membership.role

    @property
    def member_id(self) -> int | None:
        return self.membership.member_id


def community_members(staff: Staff, community_id: Any) -> list[MemberRow]:
    """Active memberships of a group in ``staff``'s scope (NotFound otherwise): owners and admins first,
    then by join time. Mobile numbers are always masked here."""
    community = get_community(staff, community_id)
    role_order = {"owner": 0, "admin": 1, "kol": 2, "seed": 3, "member": 4}
    memberships = (
        CommunityMembership.objects.filter(community=community, status=CommunityMembership.Status.ACTIVE)
        .select_related("member", "staff")
        .order_by("joined_at", "id")
    )
    rows = []
    for m in memberships:
        if m.member is not None:
            rows.append(MemberRow(m, m.member.name or f"#{m.member_id}", mask_mobile(m.member.mobile), False))
        elif m.staff is not None:
            rows.append(MemberRow(m, str(m.staff), "", True))
    rows.sort(key=lambda r: role_order.get(r.role, 9))
    return rows


def community_messages(staff: Staff, community_id: Any, *, include_hidden: bool = True) -> QuerySet[Message]:
    """A group's messages newest first, for staff of its store (NotFound otherwise). Staff see the
    messages moderation hid too (flagged ``hidden``), so they can judge an override."""
    community = get_community(staff, community_id)
    qs = Message.objects.filter(community=community).select_related("member", "staff")
    if not include_hidden:
        qs = qs.filter(hidden=False)
    return qs.order_by("-id")


def scheduled_posts(staff: Staff, community_id: Any, *, pending_only: bool = True) -> QuerySet[ScheduledPost]:
    """A group's scheduled posts by time, for staff of its store (NotFound otherwise)."""
    community = get_community(staff, community_id)
    qs = ScheduledPost.objects.filter(community=community).select_related("created_by")
    if pending_only:
        qs = qs.filter(sent_at__isnull=True)
    return qs.order_by("run_at", "id")


# --- live codes, templates, join requests ------------------------------------------------------


def live_codes(staff: Staff, store_id: Any = None) -> QuerySet[LiveCode]:
    """Live codes of the stores ``staff`` may see (optionally one store; a store outside the scope is
    NotFound), by store and template."""
    qs = _in_scope(LiveCode.objects.select_related("store", "template", "staff"), staff)
    if store_id not in (None, ""):
        pk = parse_id(store_id, "store", _("No such store."))
        scope = store_scope(staff)
        if scope is not None and pk not in scope:
            raise NotFound(_("No such store."), field="store")
        qs = qs.filter(store_id=pk)
    return qs.order_by("store__code", "template_id", "staff_id", "id")


def get_live_code(staff: Staff, live_code_id: Any) -> LiveCode:
    """One live code of a store ``staff`` may see; NotFound otherwise."""
    pk = parse_id(live_code_id, "live_code", _("No such live code."))
    code = live_codes(staff).filter(pk=pk).first()
    if code is None:
        raise NotFound(_("No such live code."), field="live_code")
    return code


def group_templates(*, active_only: bool = False) -> QuerySet[GroupTemplate]:
    """The chain's group templates (everyone may read them: stores instantiate them)."""
    qs = GroupTemplate.objects.all()
    if active_only:
        qs = qs.filter(active=True)
    return qs.annotate(
        group_count=Count("communities", filter=~Q(communities__status=Community.Status.ARCHIVED))
    ).order_by("id")


def pending_join_requests(staff: Staff, store_id: Any = None) -> QuerySet[JoinRequest]:
    """Pending join requests of the stores ``staff`` serves (of one store when given), oldest first."""
    require_staff(staff)
    qs = JoinRequest.objects.select_related(
        "live_code", "live_code__store", "live_code__template", "member", "inviter", "referrer"
    ).filter(status=JoinRequest.Status.PENDING)
    if store_id not in (None, ""):
        store = get_store(staff, store_id)
        qs = qs.filter(live_code__store=store)
    else:
        scope = store_scope(staff)
        if scope is not None:
            qs = qs.filter(live_code__store_id__in=scope)
    return qs.order_by("created_at", "id")


def group_join_requests(staff: Staff, community_id: Any) -> QuerySet[JoinRequest]:
    """Pending join requests that concern one group, oldest first: those routed to it, and those for its
    store's live codes of its template not yet routed anywhere (NotFound outside the scope)."""
    community = get_community(staff, community_id)
    return pending_join_requests(staff).filter(
        Q(community=community)
        | Q(
            community__isnull=True,
            live_code__store_id=community.store_id,
            live_code__template_id=community.template_id,
        )
    )


def communities_by_id(ids: set[int]) -> dict[int, Community]:
    """Groups by id, for labelling rows (outbox, events) the caller has already scoped."""
    return {c.pk: c for c in Community.objects.filter(pk__in=ids).select_related("store")}


# --- staff to-dos (read side; completing is in ``services.staff_todos``) --------------------------------


def scoped_tasks(staff: Staff) -> QuerySet[StaffTask]:
    """Staff tasks of the stores ``staff`` may see."""
    require_staff(staff)
    qs = StaffTask.objects.select_related("store", "community", "assignee", "done_by")
    return _in_scope(qs, staff)


def member_group_id(member: Any, community_id: Any) -> int | None:
    """``community_id`` if ``member`` is an active member of that group (e.g. the group whose product card
    they opened, to credit the group with the sale); None otherwise — never an error."""
    if isinstance(community_id, str) and community_id.isdigit() and len(community_id) < 19:
        community_id = int(community_id)
    if isinstance(community_id, bool) or not isinstance(community_id, int) or not 0 < community_id < 2**63:
        return None
    active = CommunityMembership.objects.filter(
        community_id=community_id, member=member, status=CommunityMembership.Status.ACTIVE
    ).exists()
    return community_id if active else None
