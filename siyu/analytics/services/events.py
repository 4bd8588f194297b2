"""Recording and counting member events."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, QuerySet, Sum
from django.utils import timezone

from siyu.analytics.models import DailyEventCount, Event


def record_event(
    type: str,
    *,
    member_id: int | None = None,
    store_id: int | None = None,
    community_id: int | None = None,
    occurred_at: datetime | None = None,
    payload: dict[str, Any] | None = None,
) -> Event:
    """Append one event and bump its daily count, atomically together.

    Call inside the transaction of the change the event describes, so a rolled-back change
    leaves no event behind.
    """
    occurred_at = occurred_at or timezone.now()
    with transaction.atomic():
        event = Event.objects.create(
            type=type,
            member_id=member_id,
            store_id=store_id,
            community_id=community_id,
            occurred_at=occurred_at,
            payload=payload or {},
        )
        _bump_daily(timezone.localdate(occurred_at), type, store_id or 0, 1)
    return event


def _bump_daily(day: date, type: str, store_key: int, by: int) -> None:
    # One atomic increment; the row is created on first use (a savepoint absorbs the race).
    key = {"day": day, "type": type, "store_key": store_key}
    if DailyEventCount.objects.filter(**key).update(count=F("count") + by):
        return
    try:
        with transaction.atomic():
            DailyEventCount.objects.create(count=by, **key)
    except IntegrityError:
        DailyEventCount.objects.filter(**key).update(count=F("count") + by)


def bulk_record_events(events: list[Event]) -> None:
    """Insert many events at once (imports, demo data) and add them to the daily counts, together."""
    if not events:
        return
    with transaction.atomic():
        Event.objects.bulk_create(events, batch_size=2000)
        totals: dict[tuple[date, str, int], int] = {}
        for e in events:
            k = (timezone.localdate(e.occurred_at), e.type, e.store_id or 0)
            totals[k] = totals.get(k, 0) + 1
        # Existing counter rows are incremented in place; missing ones are created in one bulk insert.
        existing = {
            (row.day, row.type, row.store_key): row.pk
            for row in DailyEventCount.objects.filter(
                day__gte=min(k[0] for k in totals),
                day__lte=max(k[0] for k in totals),
                type__in={k[1] for k in totals},
            ).only("pk", "day", "type", "store_key")
        }
        for key, n in totals.items():
            if key in existing:
                DailyEventCount.objects.filter(pk=existing[key]).update(count=F("count") + n)
        new = [(k, n) for k, n in totals.items() if k not in existing]
        try:
            with transaction.atomic():
                DailyEventCount.objects.bulk_create(
                    [DailyEventCount(day=d, type=t, store_key=s, count=n) for (d, t, s), n in new],
                    batch_size=2000,
                )
        except IntegrityError:
            # Another writer created some of these rows meanwhile: fall back to one increment per row.
            for (d, t, s), n in new:
                _bump_daily(d, t, s, n)


def count_events(
    type: str | None = None,
    *,
    since: date | None = None,
    until: date | None = None,
    store_ids: set[int] | None = None,
) -> int:
    """Events of ``type`` from day ``since`` to ``until`` inclusive (local dates), read from daily counts."""
    qs: QuerySet[DailyEventCount] = DailyEventCount.objects.all()
    if type:
        qs = qs.filter(type=type)
    if since:
        qs = qs.filter(day__gte=since)
    if until:
        qs = qs.filter(day__lte=until)
    if store_ids is not None:
        qs = qs.filter(store_key__in=store_ids)
    return int(qs.aggregate(n=Sum("count"))["n"] or 0)


def member_timeline(member_id: int, limit: int = 50) -> QuerySet[Event]:
    """A member's most recent events, newest first."""
    return Event.objects.filter(member_id=member_id).order_by("-occurred_at", "-id")[:limit]
