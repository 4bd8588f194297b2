"""Small shared rules of events: cleaning times, who may manage, the robot's masked wording."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.common.errors import ValidationFailed
from siyu.org.models import Staff
from siyu.org.services.access import check_capability

MANAGE = "events.manage"
MAX_CAPACITY = 100_000
MAX_MEMBER_LIMIT = 20
MAX_PRICE_FEN = 1_000_000  # ¥10,000
MAX_COUPONS = 10
MAX_STORES_PER_CALL = 2000


def require_manager(staff: Staff) -> Staff:
    return check_capability(staff, MANAGE, message=_("Only head office sets up events."))


def clean_when(value: Any, field: str) -> datetime:
    """An aware datetime (a naive one is read in the chain's time zone), or ValidationFailed."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValidationFailed(_("Give a date and time."), field=field) from None
    if not isinstance(value, datetime):
        raise ValidationFailed(_("Give a date and time."), field=field)
    if timezone.is_naive(value):
        value = timezone.make_aware(value)
    if not 2000 <= value.year <= 2100:
        raise ValidationFailed(_("Give a date and time."), field=field)
    return value


def local(moment: datetime, fmt: str = "%m-%d %H:%M") -> str:
    return timezone.localtime(moment).strftime(fmt)
