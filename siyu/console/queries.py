"""Read-only queries the console pages need that no service offers yet.

Each one goes through the access services first, so the store scope and capability rules are
the same as everywhere else; nothing here writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db.models import Count, Q, QuerySet
from django.db.models.functions import TruncDate
from django.utils import timezone

from siyu.communities.models import JoinRequest, StaffTask
from siyu.communities.services.queries import pending_join_requests
from siyu.communities.services.staff_todos import open_tasks
from siyu.members.models import Member, MemberImport, MemberTag, Tag
from siyu.members.services.imports import visible_imports
from siyu.members.services.profiles import scoped_members
from siyu.orders.models import Order, OrderSource, OrderStatus
from siyu.orders.services.queries import scoped_orders
from siyu.org.models import ApiToken, AuditEntry, Staff, Store
from siyu.org.services.access import check_capability, visible_stores


@dataclass
class DashboardStats:
    store_count: int
    member_count: int
    joined_7d: int
    joined_30d: int
    days: list[str]
    joined_per_day: list[int]


def dashboard_stats(staff: Staff, *, days: int = 30) -> DashboardStats:
    """Store and member counts in ``staff``'s scope, and members joined per local day over ``days`` days."""
    today = timezone.localdate()
    first = today - timedelta(days=days - 1)
    members = scoped_members(staff).filter(erased_at__isnull=True)
    start = timezone.make_aware(datetime.combine(first, time.min))
    per_day: dict[date, int] = {
        row["day"]: row["n"]
        for row in members.filter(joined_at__gte=start)
        .annotate(day=TruncDate("joined_at", tzinfo=timezone.get_current_timezone()))
        .values("day")
        .annotate(n=Count("id"))
    }
    series = [first + timedelta(days=i) for i in range(days)]
    counts = [per_day.get(d, 0) for d in series]
    return DashboardStats(
        store_count=visible_stores(staff).count(),
        member_count=members.count(),
        joined_7d=sum(counts[-7:]),
        joined_30d=sum(counts[-30:]),
        days=[d.isoformat() for d in series],
        joined_per_day=counts,
    )


HOME_LIST_LIMIT = 30


@dataclass
class StaffHome:
    pickups: list[Order]
    pickup_count: int
    join_requests: list[JoinRequest]
    join_request_count: int
    tasks: list[StaffTask]
    task_count: int


def staff_home(staff: Staff, *, limit: int = HOME_LIST_LIMIT) -> StaffHome:
    """A store role's day: orders to hand over today (paid or ready, pickup window open by the end of the
    local day and not closed before it started), pending join requests and open staff to-dos — each in
    ``staff``'s store scope, oldest first, at most ``limit`` of each with the full counts."""
    today = timezone.localdate()
    day_start = timezone.make_aware(datetime.combine(today, time.min))
    day_end = day_start + timedelta(days=1)
    pickups = (
        scoped_orders(staff)
        .filter(
            status__in=[OrderStatus.READY, OrderStatus.PAID],
            pickup_window_start__lt=day_end,
            pickup_window_end__gte=day_start,
        )
        .exclude(source=OrderSource.EVENT_TICKET)  # tickets are checked in at the door, not handed over
        .order_by("pickup_window_start", "id")
    )
    requests = pending_join_requests(staff)
    tasks = open_tasks(staff).select_related("store", "community")
    return StaffHome(
        pickups=list(pickups[:limit]),
        pickup_count=pickups.count(),
        join_requests=list(requests[:limit]),
        join_request_count=requests.count(),
        tasks=list(tasks[:limit]),
        task_count=tasks.count(),
    )


def stores_with_member_counts(staff: Staff) -> QuerySet[Store]:
    """Visible stores, each annotated with ``member_count`` (members not erased)."""
    return (
        visible_stores(staff)
        .select_related("region")
        .annotate(member_count=Count("members", filter=Q(members__erased_at__isnull=True)))
    )


def member_tags(member: Member) -> list[MemberTag]:
    return list(member.member_tags.select_related("tag__group").order_by("tag__group__name", "tag__name"))


def addable_manual_tags(member: Member) -> list[Tag]:
    """Manual tags the member does not carry yet (rule-based tags are computed, never set by hand)."""
    present = set(member.member_tags.values_list("tag_id", flat=True))
    tags = Tag.objects.select_related("group").order_by("group__name", "name")
    return [t for t in tags if not t.is_rule_based and t.pk not in present]


def recent_imports(staff: Staff, limit: int = 20) -> QuerySet[MemberImport]:
    """Recent member imports: all of them for HQ, one's own for store roles."""
    return visible_imports(staff)[:limit]


def get_import(staff: Staff, import_id: int) -> MemberImport | None:
    return visible_imports(staff).filter(pk=import_id).first()


def own_tokens(staff: Staff) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(staff=staff).order_by("-created_at", "-id")


def audit_entries(
    staff: Staff, *, action: str | None = None, actor_id: int | None = None
) -> QuerySet[AuditEntry]:
    """The audit log, newest first, for staff allowed to read it (raises PermissionDenied otherwise)."""
    check_capability(staff, "audit.read")
    qs = AuditEntry.objects.select_related("actor", "store").order_by("-created_at", "-id")
    if action:
        qs = qs.filter(action=action)
    if actor_id:
        qs = qs.filter(actor_id=actor_id)
    return qs


def audit_filter_options(staff: Staff) -> tuple[list[str], list[Staff]]:
    """Distinct audit actions and the staff accounts that appear as actors."""
    check_capability(staff, "audit.read")
    actions = sorted(set(AuditEntry.objects.values_list("action", flat=True).distinct()))
    actor_ids = AuditEntry.objects.exclude(actor=None).values("actor_id").distinct()
    actors = list(Staff.objects.filter(pk__in=actor_ids).order_by("username"))
    return actions, actors
