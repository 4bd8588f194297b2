"""What a store's staff group robot reports about the store's groups: open tasks, live codes without room.

Read-only helpers for the daily summary and alerts (``siyu.orders.services.store_report``)."""

from __future__ import annotations

from django.db.models import Exists, F, OuterRef

from siyu.communities.models import Community, LiveCode, StaffTask


def open_task_count(store_id: int) -> int:
    """Open staff tasks of the store."""
    return StaffTask.objects.filter(store_id=store_id, status=StaffTask.Status.OPEN).count()


def community_ids(store_id: int) -> list[int]:
    return list(Community.objects.filter(store_id=store_id).values_list("pk", flat=True))


def live_codes_without_room(store_id: int) -> list[LiveCode]:
    """Active live codes of the store whose set has no open group below its recommended size (new members
    overflow towards the hard cap, or wait for staff to open a group)."""
    with_room = Community.objects.filter(
        store_id=OuterRef("store_id"),
        template_id=OuterRef("template_id"),
        channel=OuterRef("channel"),
        status=Community.Status.OPEN,
        member_count__lt=F("recommended_size"),
    )
    return list(
        LiveCode.objects.filter(store_id=store_id, active=True).exclude(Exists(with_room)).order_by("id")
    )
