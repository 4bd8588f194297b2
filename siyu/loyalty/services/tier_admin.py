"""Member tiers as head office sets them up (console and API): list, create, edit, and a preview of how many
members each level would hold.

Guarantees:
- Changing tiers needs ``loyalty.manage``; reading is open to every staff member of the brand. Tiers of
  another brand are NotFound.
- Values are checked here (``ValidationFailed`` naming the field): a name (unique in the brand), a threshold
  of points earned in 12 months 0–10,000,000 (unique in the brand: levels are ordered by it), a multiplier
  1×–10× given in percent (100–1000), a member-price flag, a birthday coupon template of the brand or none,
  grace days 0–365. The database CHECKs and unique constraints stand behind the same rules.
- A change of thresholds moves nobody at once: members move at their next earning or at the ``loyalty-tiers``
  job (``tiers.evaluate``), with the grace days of the level they hold.
- ``preview`` counts, per level, the members whose points earned in the last 12 months (earnings less their
  refund reversals — the same sum ``tiers.earned_in_window`` uses) reach it, in one grouped query, for the
  thresholds given (the form's, before saving) or the saved ones.
- ``member_tier`` is store-scoped: store staff only see members of their visible stores (else NotFound).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.common.errors import NotFound, ValidationFailed
from siyu.common.validators import MAX_DB_ID, clean_int, clean_text
from siyu.loyalty.models import CouponTemplate, PointsEntry, Tier
from siyu.loyalty.services import tiers
from siyu.members.models import Member
from siyu.members.services.profiles import get_member
from siyu.org.models import Staff
from siyu.org.services.access import check_capability, require_staff
from siyu.org.services.audit import record_audit
from siyu.org.services.brand import current_brand_id

MAX_THRESHOLD = 10_000_000
FIELDS = ("name", "threshold", "multiplier_percent", "member_price", "birthday_template_id", "grace_days")


def list_tiers(staff: Staff) -> QuerySet[Tier]:
    require_staff(staff)
    return (
        Tier.objects.filter(brand_id=current_brand_id(staff))
        .select_related("birthday_template")
        .order_by("threshold")
    )


def get_tier(staff: Staff, tier_id: Any) -> Tier:
    pk = clean_int(tier_id, "tier", 1, MAX_DB_ID, _("No such tier."), from_text=True)
    tier = list_tiers(staff).filter(pk=pk).first()
    if tier is None:
        raise NotFound(_("No such tier."), field="tier")
    return tier


def _clean(staff: Staff, data: dict[str, Any], tier: Tier | None) -> dict[str, Any]:
    unknown = set(data) - set(FIELDS)
    if unknown:
        raise ValidationFailed(_("Unknown field."), field=sorted(unknown)[0])
    brand_id = current_brand_id(staff)
    values: dict[str, Any] = {}
    others = Tier.objects.filter(brand_id=brand_id)
    if tier is not None:
        others = others.exclude(pk=tier.pk)
    if tier is None or "name" in data:
        values["name"] = clean_text(data.get("name"), "name", 30, required=True)
        if others.filter(name=values["name"]).exists():
            raise ValidationFailed(_("Another tier has this name."), field="name")
    if tier is None or "threshold" in data:
        values["threshold"] = clean_int(
            data.get("threshold"),
            "threshold",
            0,
            MAX_THRESHOLD,
            _("Points earned: a whole number from 0 to 10,000,000."),
            from_text=True,
        )
        if others.filter(threshold=values["threshold"]).exists():
            raise ValidationFailed(_("Another tier starts at these points."), field="threshold")
    if tier is None or "multiplier_percent" in data:
        values["multiplier_percent"] = clean_int(
            data.get("multiplier_percent", 100),
            "multiplier_percent",
            100,
            1000,
            _("The multiplier is 100% (1×) to 1000% (10×)."),
            from_text=True,
        )
    if "member_price" in data:
        if not isinstance(data["member_price"], bool):
            raise ValidationFailed(_("Give true or false."), field="member_price")
        values["member_price"] = data["member_price"]
    if tier is None or "birthday_template_id" in data:
        raw = data.get("birthday_template_id")
        template = None
        if raw not in (None, ""):
            pk = clean_int(raw, "birthday_template_id", 1, MAX_DB_ID, _("Choose a coupon."), from_text=True)
            template = CouponTemplate.objects.filter(brand_id=brand_id, pk=pk).first()
            if template is None:
                raise ValidationFailed(_("Choose a coupon."), field="birthday_template_id")
        values["birthday_template"] = template
    if tier is None or "grace_days" in data:
        values["grace_days"] = clean_int(
            data.get("grace_days") or 0, "grace_days", 0, 365, _("Grace days: 0 to 365."), from_text=True
        )
    return values


def _save(staff: Staff, tier: Tier | None, values: dict[str, Any], detail: dict[str, Any]) -> Tier:
    try:
        with transaction.atomic():
            if tier is None:
                tier = Tier.objects.create(brand_id=current_brand_id(staff), **values)
            else:
                Tier.objects.filter(pk=tier.pk).update(**values)
            record_audit(staff, "loyalty.tier", target_type="tier", target_id=tier.pk, detail=detail)
    except IntegrityError as exc:  # a parallel save took the name or threshold
        raise ValidationFailed(_("Another tier has this name or threshold."), field="threshold") from exc
    return get_tier(staff, tier.pk)


def create_tier(staff: Staff, data: dict[str, Any]) -> Tier:
    check_capability(staff, "loyalty.manage")
    return _save(staff, None, _clean(staff, data, None), {"created": True})


def update_tier(staff: Staff, tier_id: Any, data: dict[str, Any]) -> Tier:
    check_capability(staff, "loyalty.manage")
    tier = get_tier(staff, tier_id)
    return _save(staff, tier, _clean(staff, data, tier), {"changed": sorted(data)})


@dataclass(frozen=True)
class PreviewRow:
    name: str
    threshold: int
    members: int


def earned_by_member(brand_id: int, *, now: datetime | None = None) -> dict[int, int]:
    """Points earned in the last 12 months per member of the brand (earnings less their reversals)."""
    now = now or timezone.now()
    since = now - tiers.WINDOW
    earned = Q(kind=PointsEntry.Kind.EARN, created_at__gt=since, created_at__lte=now)
    reversed_ = Q(
        kind=PointsEntry.Kind.REVERSE,
        reverses__kind=PointsEntry.Kind.EARN,
        reverses__created_at__gt=since,
        reverses__created_at__lte=now,
    )
    rows = (
        PointsEntry.objects.filter(account__brand_id=brand_id, account__member__erased_at__isnull=True)
        .filter(earned | reversed_)
        .values("account__member_id")
        .annotate(total=Sum("points"))
    )
    return {r["account__member_id"]: max(0, int(r["total"] or 0)) for r in rows}


def preview(
    staff: Staff, levels: list[tuple[str, int]] | None = None, *, now: datetime | None = None
) -> list[PreviewRow]:
    """How many members each level would hold by points earned now (``levels``: (name, threshold) pairs;
    default the saved tiers). Members below every level are counted under an empty name first."""
    require_staff(staff)
    brand_id = current_brand_id(staff)
    if levels is None:
        levels = [(t.name, t.threshold) for t in list_tiers(staff)]
    ordered = sorted(levels, key=lambda lv: lv[1])
    counts = [0] * len(ordered)
    below = Member.objects.filter(brand_id=brand_id, erased_at__isnull=True).count()
    for total in earned_by_member(brand_id, now=now).values():
        reached = None
        for i, (_name, threshold) in enumerate(ordered):
            if total >= threshold:
                reached = i
        if reached is not None:
            counts[reached] += 1
    below -= sum(counts)
    rows = [PreviewRow("", 0, max(0, below))] if ordered and ordered[0][1] > 0 else []
    if ordered and ordered[0][1] == 0:
        counts[0] += max(0, below)  # everyone reaches a level from 0
    return rows + [
        PreviewRow(name, threshold, n) for (name, threshold), n in zip(ordered, counts, strict=True)
    ]


def member_tier(staff: Staff, member_id: Any, *, now: datetime | None = None) -> tiers.TierCard:
    """A member's tier card (level, earned in 12 months, next level); store-scoped."""
    require_staff(staff)
    member = get_member(staff, member_id)
    if member.brand_id != current_brand_id(staff) or member.erased_at is not None:
        raise NotFound(_("No such member."), field="member")
    return tiers.card(member, now=now)
