"""Daily check-in (签到), streak bonuses and make-up check-ins (补签).

Guarantees: a day is a calendar day in Asia/Shanghai; a member checks in at most once a day (a unique
constraint, and the account lock serialises parallel taps — the second gets the first check-in back); the
streak counts consecutive days ending today; a streak bonus (rule config ``streak_bonus``, e.g. {"7": 20})
is paid on the day the streak reaches it; a make-up check-in fills one missed day within the last
``makeup_days`` days (default 7) and costs ``makeup_cost`` points (refused when the rule sets no cost, or when
the member has too few points), paid and credited in one transaction, never twice for a day. What a day
earns (points and bonus) is multiplied by the member's tier multiplier (``rules.tier_points``).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.analytics.services.events import record_event
from siyu.common.errors import Conflict, NotFound, ValidationFailed
from siyu.common.idempotency import system_key
from siyu.loyalty.models import CheckIn, EarnRule
from siyu.loyalty.services import points, rules
from siyu.members.models import Member

DEFAULT_MAKEUP_DAYS = 7


@dataclass(frozen=True)
class CheckInOutcome:
    checkin: CheckIn
    created: bool
    bonus: int


@dataclass(frozen=True)
class CalendarDay:
    day: date
    checked: bool
    makeup: bool
    today: bool
    can_make_up: bool


def _rule(member: Member, now: datetime) -> EarnRule:
    rule = rules.rule_for(member, EarnRule.Kind.CHECKIN, now=now)
    if rule is None:
        raise NotFound(_("Check-in is not open yet."), field="checkin")
    return rule


def streak_bonus(rule: EarnRule, streak: int) -> int:
    table: Any = (rule.config or {}).get("streak_bonus") or {}
    try:
        return max(0, int(table.get(str(streak), 0)))
    except (TypeError, ValueError, AttributeError):
        return 0


def check_in(member: Member, *, now: datetime | None = None) -> CheckInOutcome:
    """Check ``member`` in for today; the existing check-in (``created`` False) when already done today."""
    now = now or timezone.now()
    rule = _rule(member, now)
    day = timezone.localdate(now)
    with transaction.atomic():
        account = points.lock_account(member)
        # Today's and yesterday's check-ins in one query (the hot path: every member, every day).
        near = {
            c.day: c for c in CheckIn.objects.filter(member=member, day__in=[day, day - timedelta(days=1)])
        }
        existing = near.get(day)
        if existing is not None:
            return CheckInOutcome(existing, False, 0)
        previous = near.get(day - timedelta(days=1))
        streak = previous.streak + 1 if previous else 1
        bonus = streak_bonus(rule, streak)  # as the rule sets it; what is credited is multiplied
        amount = rules.tier_points(member, rule.points + bonus)
        entry = None
        if amount > 0:
            entry, _new = points.earn_locked(
                account,
                amount,
                key=system_key("checkin", member.pk, day.isoformat()),
                reason=_("Daily check-in")
                if not bonus
                else _("Daily check-in, %(n)s days in a row") % {"n": streak},
                source=("checkin", day.isoformat()),
                now=now,
                rule_id=rule.pk,
            )
        checkin = CheckIn.objects.create(
            member=member, day=day, streak=streak, points=amount, entry=entry, created_at=now
        )
        # Check-ins count as activity (communities' hygiene and charts read this event).
        record_event(
            "loyalty.checked_in",
            member_id=member.pk,
            store_id=member.home_store_id,
            occurred_at=now,
            payload={"streak": streak, "points": amount},
        )
    return CheckInOutcome(checkin, True, bonus)


def make_up(member: Member, day: Any, *, now: datetime | None = None) -> CheckIn:
    """Fill the missed ``day`` (a ``date`` or ``YYYY-MM-DD``) for the rule's make-up cost."""
    now = now or timezone.now()
    rule = _rule(member, now)
    today = timezone.localdate(now)
    if isinstance(day, str):
        try:
            day = date.fromisoformat(day.strip())
        except ValueError as exc:
            raise ValidationFailed(_("Choose a day."), field="day") from exc
    if not isinstance(day, date):
        raise ValidationFailed(_("Choose a day."), field="day")
    config = rule.config or {}
    cost = int(config.get("makeup_cost") or 0)
    window = int(config.get("makeup_days") or DEFAULT_MAKEUP_DAYS)
    if cost <= 0:
        raise Conflict(_("Make-up check-ins are not offered."), field="day")
    if not today - timedelta(days=window) <= day < today:
        raise ValidationFailed(
            _("You can make up a day within the last %(n)s days.") % {"n": window}, field="day"
        )
    with transaction.atomic():
        points.lock_account(member)
        existing = CheckIn.objects.filter(member=member, day=day).first()
        if existing is not None:
            return existing
        points.spend(
            member,
            cost,
            key=system_key("makeup", member.pk, day.isoformat()),
            reason=_("Make-up check-in for %(day)s") % {"day": day.isoformat()},
            source=("makeup", day.isoformat()),
            now=now,
        )
        entry = None
        amount = rules.tier_points(member, rule.points)
        if amount > 0:
            entry = points.earn(
                member,
                amount,
                key=system_key("checkin", member.pk, day.isoformat()),
                reason=_("Make-up check-in"),
                source=("checkin", day.isoformat()),
                now=now,
                rule_id=rule.pk,
            )
        previous = CheckIn.objects.filter(member=member, day=day - timedelta(days=1)).first()
        return CheckIn.objects.create(
            member=member,
            day=day,
            streak=previous.streak + 1 if previous else 1,
            makeup=True,
            points=amount,
            entry=entry,
            created_at=now,
        )


def current_streak(member: Member, *, now: datetime | None = None) -> int:
    """Consecutive checked-in days ending today (or yesterday, when today is not done yet)."""
    today = timezone.localdate(now or timezone.now())
    days = set(
        CheckIn.objects.filter(member=member, day__gte=today - timedelta(days=400)).values_list(
            "day", flat=True
        )
    )
    cursor = today if today in days else today - timedelta(days=1)
    streak = 0
    while cursor in days:
        streak += 1
        cursor -= timedelta(days=1)
    return streak


def month_calendar(
    member: Member, *, year: int, month: int, now: datetime | None = None
) -> list[CalendarDay]:
    now = now or timezone.now()
    today = timezone.localdate(now)
    rule = rules.rule_for(member, EarnRule.Kind.CHECKIN, now=now)
    config = (rule.config or {}) if rule else {}
    makeup_ok = bool(int(config.get("makeup_cost") or 0) > 0)
    window = int(config.get("makeup_days") or DEFAULT_MAKEUP_DAYS)
    first = date(year, month, 1)
    last = date(year, month, calendar.monthrange(year, month)[1])
    rows = {c.day: c for c in CheckIn.objects.filter(member=member, day__gte=first, day__lte=last)}
    out = []
    for n in range(last.day):
        d = first + timedelta(days=n)
        c = rows.get(d)
        out.append(
            CalendarDay(
                day=d,
                checked=c is not None,
                makeup=bool(c and c.makeup),
                today=d == today,
                can_make_up=makeup_ok and c is None and today - timedelta(days=window) <= d < today,
            )
        )
    return out
