"""Months as Siyu counts them: calendar months in Asia/Shanghai, stored as the month's first day."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.common.errors import ValidationFailed

SHANGHAI = ZoneInfo("Asia/Shanghai")
_MONTH = re.compile(r"^(\d{4})-(\d{1,2})$")


def month_of(moment: datetime) -> date:
    """The first day of the Shanghai month ``moment`` falls in."""
    local = moment.astimezone(SHANGHAI)
    return date(local.year, local.month, 1)


def current_month() -> date:
    return month_of(timezone.now())


def next_month(month: date) -> date:
    return date(month.year + (month.month == 12), month.month % 12 + 1, 1)


def previous_month(month: date) -> date:
    return (month.replace(day=1) - timedelta(days=1)).replace(day=1)


def month_start(month: date) -> datetime:
    """The aware instant the month starts (Shanghai midnight of its first day)."""
    return datetime.combine(month, time.min, tzinfo=SHANGHAI)


def parse_month(value: object, field: str = "month") -> date:
    """``"2026-11"`` → 2026-11-01; ValidationFailed for anything else (years 2000-2100)."""
    match = _MONTH.match(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise ValidationFailed(_("Give a month as YYYY-MM."), field=field)
    year, month = int(match.group(1)), int(match.group(2))
    if not (2000 <= year <= 2100 and 1 <= month <= 12):
        raise ValidationFailed(_("Give a month as YYYY-MM."), field=field)
    return date(year, month, 1)


def month_label(month: date) -> str:
    return f"{month:%Y-%m}"
