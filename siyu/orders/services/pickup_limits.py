"""Limits on pickup-code attempts at the counter (ADR 0011).

An attempt that finds no open code of the clerk's stores is a *miss*. Misses are counted per staff member
and per store (each store the clerk serves) in one-minute windows: ``SIYU_PICKUP_MISSES_PER_STAFF``
(default 10) and ``SIYU_PICKUP_MISSES_PER_STORE`` (default 30) a minute.

Counting is atomic and happens **before** the code is looked up: ``reserve`` claims a slot in every counter
with a conditional ``UPDATE … SET misses = misses + 1 WHERE misses < limit`` (or inserts the window's row),
so parallel attempts can never look up more codes than the limits allow. An attempt that then finds an
open code gives its slots back (``release``); a miss keeps them. A refused attempt raises ``RateLimited``
with ``retry_after`` (seconds until the window ends); the API answers 429 with a ``Retry-After`` header.
Rows are kept for an hour.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.common.errors import RateLimited
from siyu.orders.models import PickupAttemptCount
from siyu.org.models import Staff

Scope = PickupAttemptCount.Scope
WINDOW = timedelta(minutes=1)
KEEP = timedelta(hours=1)


class PickupRateLimited(RateLimited):
    """Too many pickup attempts that found nothing; ``retry_after`` seconds until the next window."""

    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message, field="code")
        self.retry_after = retry_after


@dataclass(frozen=True)
class Reservation:
    window_start: datetime
    counters: tuple[tuple[str, int], ...]  # (scope, subject id) whose slot this attempt holds


def limits() -> dict[str, int]:
    return {
        Scope.STAFF: int(getattr(settings, "SIYU_PICKUP_MISSES_PER_STAFF", 10)),
        Scope.STORE: int(getattr(settings, "SIYU_PICKUP_MISSES_PER_STORE", 30)),
    }


def _window_start(now: datetime) -> datetime:
    return now.replace(second=0, microsecond=0)


def _claim(scope: str, subject_id: int, window_start: datetime, limit: int) -> bool:
    rows = PickupAttemptCount.objects.filter(scope=scope, subject_id=subject_id, window_start=window_start)
    if rows.filter(misses__lt=limit).update(misses=F("misses") + 1):
        return True
    if limit <= 0:
        return False
    # No row could be incremented: either none exists yet, or it is full. Insert; the unique constraint
    # tells the two apart (asking "does it exist?" here would race: a parallel first attempt may insert the
    # row between our UPDATE and that question, and this attempt would be refused below the limit).
    try:
        with transaction.atomic():
            PickupAttemptCount.objects.create(
                scope=scope, subject_id=subject_id, window_start=window_start, misses=1
            )
        return True
    except IntegrityError:  # the row exists (full, or a parallel attempt inserted it first)
        return bool(rows.filter(misses__lt=limit).update(misses=F("misses") + 1))


def _give_back(window_start: datetime, counters: tuple[tuple[str, int], ...]) -> None:
    for scope, subject_id in counters:
        PickupAttemptCount.objects.filter(
            scope=scope, subject_id=subject_id, window_start=window_start, misses__gt=0
        ).update(misses=F("misses") - 1)


def reserve(staff: Staff, store_ids: list[int], *, now: datetime | None = None) -> Reservation:
    """Claim one attempt for ``staff`` and each of ``store_ids`` in the current window; PickupRateLimited
    (nothing claimed) when any counter is full."""
    now = now or timezone.now()
    start = _window_start(now)
    caps = limits()
    wanted = [(Scope.STAFF.value, staff.pk)] + [(Scope.STORE.value, sid) for sid in sorted(store_ids)]
    held: list[tuple[str, int]] = []
    for scope, subject_id in wanted:
        if not _claim(scope, subject_id, start, caps[scope]):
            _give_back(start, tuple(held))
            wait = max(1, math.ceil((start + WINDOW - now).total_seconds()))
            message = (
                _("Too many codes that matched nothing at this store. Try again in %(n)s seconds.")
                if scope == Scope.STORE
                else _("Too many codes that matched nothing. Try again in %(n)s seconds.")
            )
            raise PickupRateLimited(message % {"n": wait}, retry_after=wait)
        held.append((scope, subject_id))
    PickupAttemptCount.objects.filter(window_start__lt=now - KEEP).delete()
    return Reservation(window_start=start, counters=tuple(held))


def release(reservation: Reservation) -> None:
    """The attempt found an open code: it does not count."""
    _give_back(reservation.window_start, reservation.counters)
