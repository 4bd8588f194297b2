"""Referral campaigns: set up by head office, one store's live code each (docs/referrals.md).

Guarantees: only ``referrals.manage`` (head office) creates or changes a campaign; every other staff member
reads the campaigns of the stores they serve, and a campaign of another store looks like it does not exist
(NotFound, ADR 0002). Input is validated whole before anything is written (tiers ascending from 1, points
and coupons of the brand, days and thresholds in range); every change is audited; a change of the poster's
look bumps ``art_version`` so cached posters are drawn again.
"""

from __future__ import annotations

import re
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils.translation import gettext as _

from siyu.common.errors import NotFound, ValidationFailed
from siyu.common.validators import clean_int, clean_text, parse_id
from siyu.communities.models import LiveCode
from siyu.loyalty.models import CouponTemplate
from siyu.org.models import Staff
from siyu.org.services.access import check_capability, require_staff, store_scope
from siyu.org.services.audit import record_audit
from siyu.org.services.brand import current_brand_id
from siyu.referrals.models import CountWhen, ReferralCampaign

MAX_TIERS = 10
MAX_TIER_POINTS = 100_000
_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
# name: (low, high) — the numeric settings a campaign accepts.
NUMBERS: dict[str, tuple[int, int]] = {
    "stay_days": (0, 365),
    "reversal_days": (0, 365),
    "velocity_per_hour": (1, 10_000),
    "device_cluster": (2, 10_000),
    "ip_cluster": (2, 10_000),
    "sequential_cluster": (2, 10_000),
    "burst_per_10_minutes": (2, 10_000),
}
_LOOK = ("headline", "art_color", "name")


def campaigns_for(staff: Staff) -> QuerySet[ReferralCampaign]:
    """The campaigns ``staff`` may see: every one of the brand for head office, their stores' otherwise."""
    require_staff(staff)
    qs = ReferralCampaign.objects.select_related("store", "live_code").filter(
        brand_id=current_brand_id(staff)
    )
    scope = store_scope(staff)
    if scope is not None:
        qs = qs.filter(store_id__in=scope)
    return qs


def get_campaign(staff: Staff, campaign_id: Any) -> ReferralCampaign:
    """One campaign in ``staff``'s scope, else NotFound."""
    pk = parse_id(campaign_id, "campaign", _("No such referral campaign."))
    found = campaigns_for(staff).filter(pk=pk).first()
    if found is None:
        raise NotFound(_("No such referral campaign."), field="campaign")
    return found


def clean_tiers(brand_id: int, raw: Any) -> list[dict[str, Any]]:
    """``[{"from": 1, "points": 50}, {"from": 6, "points": 80, "coupon_template_id": 3}]``: the first tier
    starts at 1, ``from`` strictly ascending, each tier gives points or a coupon (or both)."""
    if not isinstance(raw, list) or not raw:
        raise ValidationFailed(_("Give at least one reward tier."), field="tiers")
    if len(raw) > MAX_TIERS:
        raise ValidationFailed(_("At most %(n)s tiers.") % {"n": MAX_TIERS}, field="tiers")
    tiers: list[dict[str, Any]] = []
    previous = 0
    for item in raw:
        if not isinstance(item, dict):
            raise ValidationFailed(_("Each tier needs from, points and an optional coupon."), field="tiers")
        start = clean_int(item.get("from"), "tiers", 1, 100_000, from_text=True)
        if (not tiers and start != 1) or start <= previous:
            raise ValidationFailed(_("Tiers start at the 1st invite and go up (1, 6, 11…)."), field="tiers")
        points = clean_int(item.get("points", 0), "tiers", 0, MAX_TIER_POINTS, from_text=True)
        coupon_raw = item.get("coupon_template_id")
        coupon_id = None
        if coupon_raw not in (None, "", 0):
            coupon_id = parse_id(coupon_raw, "tiers", _("No such coupon."))
            if not CouponTemplate.objects.filter(pk=coupon_id, brand_id=brand_id).exists():
                raise ValidationFailed(_("No such coupon."), field="tiers")
        if not points and coupon_id is None:
            raise ValidationFailed(_("Each tier gives points, a coupon or both."), field="tiers")
        tiers.append({"from": start, "points": points, "coupon_template_id": coupon_id})
        previous = start
    return tiers


def tier_for(campaign: ReferralCampaign, ordinal: int) -> dict[str, Any] | None:
    """The tier that rewards the inviter's ``ordinal``-th counted invite (None: no tier)."""
    chosen = None
    for tier in campaign.tiers or []:
        if int(tier.get("from", 1)) <= ordinal:
            chosen = tier
    return chosen


def _live_code(staff: Staff, raw: Any) -> LiveCode:
    pk = parse_id(raw, "live_code", _("No such live code."))
    code = (
        LiveCode.objects.select_related("store")
        .filter(pk=pk, brand_id=current_brand_id(staff), active=True)
        .first()
    )
    if code is None:
        raise ValidationFailed(_("No such live code."), field="live_code")
    return code


def _clean(staff: Staff, data: dict[str, Any], *, partial: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "name" in data or not partial:
        out["name"] = clean_text(data.get("name"), "name", 60, required=True)
    if "headline" in data:
        out["headline"] = clean_text(data.get("headline"), "headline", 40)
    if "art_color" in data:
        colour = clean_text(data.get("art_color"), "art_color", 7) or "#c0392b"
        if not _COLOUR.match(colour):
            raise ValidationFailed(_("A colour like #c0392b."), field="art_color")
        out["art_color"] = colour
    if "live_code_id" in data or not partial:
        out["live_code"] = _live_code(staff, data.get("live_code_id"))
    if "tiers" in data or not partial:
        out["tiers"] = clean_tiers(current_brand_id(staff), data.get("tiers"))
    if "count_when" in data:
        if data.get("count_when") not in CountWhen.values:
            raise ValidationFailed(_("Choose when an invite counts."), field="count_when")
        out["count_when"] = data["count_when"]
    for name, (low, high) in NUMBERS.items():
        if name in data and data[name] is not None:
            out[name] = clean_int(data[name], name, low, high, from_text=True)
    for flag in ("fraud_checks", "active"):
        if flag in data and data[flag] is not None:
            if not isinstance(data[flag], bool):
                raise ValidationFailed(_("Expected true or false."), field=flag)
            out[flag] = data[flag]
    return out


def create_campaign(staff: Staff, data: dict[str, Any]) -> ReferralCampaign:
    """A new campaign for the store of the live code ``live_code_id`` (see module guarantees)."""
    check_capability(staff, "referrals.manage")
    clean = _clean(staff, data, partial=False)
    code = clean["live_code"]
    with transaction.atomic():
        campaign = ReferralCampaign.objects.create(
            brand_id=code.brand_id, store_id=code.store_id, created_by=staff, **clean
        )
        record_audit(
            staff,
            "referral_campaign.create",
            target_type="referral_campaign",
            target_id=campaign.pk,
            store_id=campaign.store_id,
            detail={"name": campaign.name, "tiers": campaign.tiers},
        )
    return campaign


def update_campaign(staff: Staff, campaign_id: Any, data: dict[str, Any]) -> ReferralCampaign:
    """Change the fields given; the live code (and so the store) may change too."""
    check_capability(staff, "referrals.manage")
    campaign = get_campaign(staff, campaign_id)
    clean = _clean(staff, data, partial=True)
    with transaction.atomic():
        locked = ReferralCampaign.objects.select_for_update().get(pk=campaign.pk)
        look_changed = any(k in clean and clean[k] != getattr(locked, k) for k in _LOOK)
        if "live_code" in clean:
            clean["store_id"] = clean["live_code"].store_id
        for key, value in clean.items():
            setattr(locked, key, value)
        if look_changed or "live_code" in clean:
            locked.art_version += 1
        locked.save()
        record_audit(
            staff,
            "referral_campaign.update",
            target_type="referral_campaign",
            target_id=locked.pk,
            store_id=locked.store_id,
            detail={"fields": sorted(k for k in clean if k != "live_code")},
        )
    return get_campaign(staff, locked.pk)


def active_campaigns(brand_id: int, store_id: int | None = None) -> QuerySet[ReferralCampaign]:
    """The brand's running campaigns (of one store when given), for members."""
    qs = ReferralCampaign.objects.select_related("store", "live_code").filter(brand_id=brand_id, active=True)
    if store_id is not None:
        qs = qs.filter(store_id=store_id)
    return qs


def active_campaigns_by_id(campaign_id: int) -> ReferralCampaign | None:
    """A running campaign by id (for invite links and posters), or None."""
    return (
        ReferralCampaign.objects.select_related("store", "live_code")
        .filter(pk=campaign_id, active=True)
        .first()
    )
