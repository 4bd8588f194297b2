"""Birthday coupons of member tiers: the ``loyalty-birthdays`` job.

Guarantees: on a member's birthday (the calendar day in Asia/Shanghai; 29 February is celebrated on 28
February in other years), a member whose tier names a birthday coupon template gets one coupon, once a year
(keyed ``sys:birthday:<member>:<year>`` in the coupons' own idempotency), through the coupons app's
``issue_once`` (source ``campaign``, ref ``birthday:<year>``); a refusal (template sold out or
ended) is logged and the other members still get theirs. Erased members get nothing.
"""

from __future__ import annotations

import calendar
import logging
from datetime import date, datetime

from django.db.models import Q
from django.utils import timezone

from siyu.common.errors import ServiceError
from siyu.common.idempotency import system_key
from siyu.loyalty.models import MemberTier
from siyu.loyalty.services import coupon_link

logger = logging.getLogger("siyu.loyalty")


def birthday_filter(today: date) -> Q:
    q = Q(member__birthday__month=today.month, member__birthday__day=today.day)
    if today.month == 2 and today.day == 28 and not calendar.isleap(today.year):
        q |= Q(member__birthday__month=2, member__birthday__day=29)
    return q


def issue_due(*, now: datetime | None = None) -> int:
    """Issue today's birthday coupons; returns how many were issued now (a second run issues none)."""
    today = timezone.localdate(now or timezone.now())
    rows = (
        MemberTier.objects.filter(birthday_filter(today), tier__birthday_template__isnull=False)
        .filter(member__erased_at__isnull=True)
        .select_related("member", "tier__birthday_template")
        .order_by("member_id")
    )
    issued = 0
    for row in rows:
        assert row.tier is not None and row.tier.birthday_template is not None
        try:
            new = coupon_link.issue_birthday(
                row.tier.birthday_template,
                row.member,
                source_ref=f"birthday:{today.year}",
                key=system_key("birthday", row.member.pk, today.year),
            )
        except ServiceError as exc:  # the template ran out or ended: the others still get theirs
            logger.warning("birthday coupon for member %s not issued: %s", row.member.pk, exc.code)
            continue
        if new:
            issued += 1
    return issued
