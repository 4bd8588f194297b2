"""What the member's points pages read: the balance (and what is owed), points expiring soon, and the
history with reasons and expiry dates. Read-only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db.models import Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from siyu.loyalty.models import PointsBatch, PointsEntry
from siyu.loyalty.services import points
from siyu.members.models import Member

SOON = timedelta(days=30)
HISTORY = 50


@dataclass(frozen=True)
class HistoryRow:
    entry: PointsEntry
    expires_on: date | None  # earnings: the day their batch expires (Asia/Shanghai)


@dataclass(frozen=True)
class Overview:
    balance: int  # what can be spent
    debt: int  # owed after a refund took back points already spent
    shown: int  # balance - debt
    expiring: int  # points expiring within SOON
    expiring_on: date | None  # the first of those days
    history: list[HistoryRow]


def overview(member: Member, *, now: datetime | None = None, limit: int = HISTORY) -> Overview:
    now = now or timezone.now()
    bal = points.balance_of(member, now=now)
    soon = PointsBatch.objects.filter(
        account__member=member, remaining__gt=0, expires_at__gt=now, expires_at__lte=now + SOON
    )
    expiring = int(soon.aggregate(n=Coalesce(Sum("remaining"), 0))["n"])
    first = soon.order_by("expires_at").values_list("expires_at", flat=True).first()
    entries = list(
        PointsEntry.objects.filter(account__member=member)
        .select_related("batch")
        .order_by("-created_at", "-id")[:limit]
    )
    rows = []
    for entry in entries:
        batch = getattr(entry, "batch", None) if entry.points > 0 else None
        rows.append(HistoryRow(entry, timezone.localdate(batch.expires_at) if batch is not None else None))
    return Overview(
        balance=bal.balance,
        debt=bal.debt,
        shown=bal.shown,
        expiring=expiring,
        expiring_on=timezone.localdate(first) if first is not None else None,
        history=rows,
    )
