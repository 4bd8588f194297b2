"""How a pickup window reads (one home for every page that shows one).

The window is stored as two aware datetimes (``Order.pickup_window_start`` / ``_end``). Shown in the current
time zone (Asia/Shanghai): ``2026-12-05 19:14–21:00`` when both ends fall on the same local day, else both
dates — ``2026-12-05 19:14 – 2026-12-08 19:04`` — so a multi-day window (flash sales and group buys run until
the campaign's pickup deadline) never reads as ending before it starts. ``short=True`` drops the year
(``12-05 19:14 – 12-08 19:04``) for lists.
"""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone

_FULL = "%Y-%m-%d %H:%M"
_SHORT = "%m-%d %H:%M"


def format_window(start: datetime, end: datetime, *, short: bool = False) -> str:
    local_start = timezone.localtime(start)
    local_end = timezone.localtime(end)
    first = local_start.strftime(_SHORT if short else _FULL)
    if local_start.date() == local_end.date():
        return f"{first}–{local_end:%H:%M}"
    if short and local_start.year != local_end.year:
        return f"{first} – {local_end.strftime(_FULL)}"
    return f"{first} – {local_end.strftime(_SHORT if short else _FULL)}"
