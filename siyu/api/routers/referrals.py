"""Referral fission for staff: campaigns (head office changes them; staff read their stores'), the invite
tree, the review queue of invites held by the fraud rules (release or reject in bulk), KOLs and seed users
of groups, and the KOL reach report. Same error shape as every router; another store's campaign or group
is a 404."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from django.http import HttpRequest
from ninja import Field, Path, Query, Router, Schema
from ninja.responses import Status

from siyu.api.auth import current_staff
from siyu.api.schemas import Id, In, PageParams, paginate
from siyu.common.mobile import mask_mobile
from siyu.communities.models import CommunityMembership
from siyu.communities.services import roles
from siyu.referrals.models import Invite, ReferralCampaign
from siyu.referrals.services import campaigns, reports, review

router = Router()

# --- campaigns -----------------------------------------------------------------------------------------


class TierIO(In):
    from_: int = Field(alias="from", ge=1, le=100_000, description="The inviter's n-th counted invite.")
    points: int = Field(0, ge=0, le=100_000)
    coupon_template_id: Id | None = None


class CampaignOut(Schema):
    id: int
    name: str
    store_id: int
    live_code_id: int
    headline: str
    art_color: str
    art_version: int
    tiers: list[dict[str, Any]]
    count_when: str
    stay_days: int
    reversal_days: int
    fraud_checks: bool
    velocity_per_hour: int
    device_cluster: int
    ip_cluster: int
    sequential_cluster: int
    burst_per_10_minutes: int
    active: bool
    created_at: datetime


class CampaignIn(In):
    name: str = Field(max_length=60)
    live_code_id: Id = Field(description="The store's live code invitees join through.")
    tiers: list[TierIO] = Field(min_length=1, max_length=10)
    headline: str = Field("", max_length=40)
    art_color: str = Field("#c0392b", max_length=7)
    count_when: Literal["stayed", "purchase"] = "stayed"
    stay_days: int = Field(3, ge=0, le=365)
    reversal_days: int = Field(7, ge=0, le=365)
    fraud_checks: bool = True
    velocity_per_hour: int = Field(20, ge=1, le=10_000)
    device_cluster: int = Field(3, ge=2, le=10_000)
    ip_cluster: int = Field(8, ge=2, le=10_000)
    sequential_cluster: int = Field(3, ge=2, le=10_000)
    burst_per_10_minutes: int = Field(60, ge=2, le=10_000)
    active: bool = True


class CampaignUpdateIn(In):
    name: str | None = Field(None, max_length=60)
    live_code_id: Id | None = None
    tiers: list[TierIO] | None = Field(None, min_length=1, max_length=10)
    headline: str | None = Field(None, max_length=40)
    art_color: str | None = Field(None, max_length=7)
    count_when: Literal["stayed", "purchase"] | None = None
    stay_days: int | None = Field(None, ge=0, le=365)
    reversal_days: int | None = Field(None, ge=0, le=365)
    fraud_checks: bool | None = None
    velocity_per_hour: int | None = Field(None, ge=1, le=10_000)
    device_cluster: int | None = Field(None, ge=2, le=10_000)
    ip_cluster: int | None = Field(None, ge=2, le=10_000)
    sequential_cluster: int | None = Field(None, ge=2, le=10_000)
    burst_per_10_minutes: int | None = Field(None, ge=2, le=10_000)
    active: bool | None = None


def campaign_out(c: ReferralCampaign) -> dict[str, Any]:
    return {
        "id": c.pk,
        "name": c.name,
        "store_id": c.store_id,
        "live_code_id": c.live_code_id,
        "headline": c.headline,
        "art_color": c.art_color,
        "art_version": c.art_version,
        "tiers": c.tiers,
        "count_when": c.count_when,
        "stay_days": c.stay_days,
        "reversal_days": c.reversal_days,
        "fraud_checks": c.fraud_checks,
        "velocity_per_hour": c.velocity_per_hour,
        "device_cluster": c.device_cluster,
        "ip_cluster": c.ip_cluster,
        "sequential_cluster": c.sequential_cluster,
        "burst_per_10_minutes": c.burst_per_10_minutes,
        "active": c.active,
        "created_at": c.created_at,
    }


def _data(payload: Schema) -> dict[str, Any]:
    data = {k: v for k, v in payload.model_dump(exclude_unset=True).items() if v is not None}
    if "tiers" in data:
        data["tiers"] = [
            {
                "from": t["from_"],
                "points": t.get("points", 0),
                "coupon_template_id": t.get("coupon_template_id"),
            }
            for t in data["tiers"]
        ]
    return data


@router.get("/referrals/campaigns", response=list[CampaignOut])
def list_referral_campaigns(request: HttpRequest) -> list[dict[str, Any]]:
    """The referral campaigns of the stores the caller serves (all of them for head office)."""
    return [campaign_out(c) for c in campaigns.campaigns_for(current_staff(request))]


@router.post("/referrals/campaigns", response={201: CampaignOut})
def create_referral_campaign(request: HttpRequest, payload: CampaignIn) -> Status:
    """A new campaign on a store's live code (head office). Tiers: ``[{"from": 1, "points": 50},
    {"from": 6, "points": 80, "coupon_template_id": 3}]``."""
    data = _data(payload)
    data.setdefault("tiers", [])
    return Status(201, campaign_out(campaigns.create_campaign(current_staff(request), data)))


@router.get("/referrals/campaigns/{int:campaign_id}", response=CampaignOut)
def get_referral_campaign(request: HttpRequest, campaign_id: Path[Id]) -> dict[str, Any]:
    """One campaign (404 for a store the caller does not serve)."""
    return campaign_out(campaigns.get_campaign(current_staff(request), campaign_id))


@router.patch("/referrals/campaigns/{int:campaign_id}", response=CampaignOut)
def update_referral_campaign(
    request: HttpRequest, campaign_id: Path[Id], payload: CampaignUpdateIn
) -> dict[str, Any]:
    """Change the fields given (head office); ``active: false`` ends the campaign (its links stop working,
    invites already made still count and reverse)."""
    return campaign_out(campaigns.update_campaign(current_staff(request), campaign_id, _data(payload)))


# --- invites and the review queue ----------------------------------------------------------------------


class InviteOut(Schema):
    id: int
    campaign_id: int
    inviter_id: int
    invitee_id: int
    invitee_mobile: str = Field(description="Masked.")
    store_id: int
    community_id: int
    staff_id: int | None
    scene: str
    ip_prefix: str
    device: str = Field(description="The first 12 characters of the device fingerprint.")
    status: str
    evidence: list[str] = Field(description="Why it was held, one sentence per rule.")
    note: str
    created_at: datetime
    counted_at: datetime | None
    reward_points: int
    reward_coupon_id: int | None


class InvitePage(Schema):
    count: int
    items: list[InviteOut]


class InviteFilter(PageParams):
    campaign_id: Id | None = None
    status: Literal["pending", "counted", "held", "rejected", "reversed"] | None = None


class ReviewIn(In):
    invite_ids: list[Id] = Field(min_length=1, max_length=200)
    action: Literal["release", "reject"]
    reason: str = Field("", max_length=200)


class ReviewOut(Schema):
    changed: list[int]
    skipped: list[int] = Field(description="Not held any more (already reviewed) or not visible.")


def invite_out(i: Invite) -> dict[str, Any]:
    return {
        "id": i.pk,
        "campaign_id": i.campaign_id,
        "inviter_id": i.inviter_id,
        "invitee_id": i.invitee_id,
        "invitee_mobile": mask_mobile(i.invitee_mobile),
        "store_id": i.store_id,
        "community_id": i.community_id,
        "staff_id": i.staff_id,
        "scene": i.scene,
        "ip_prefix": i.ip_prefix,
        "device": i.device_hash[:12],
        "status": i.status,
        "evidence": review.evidence_sentences(i),
        "note": i.note,
        "created_at": i.created_at,
        "counted_at": i.counted_at,
        "reward_points": i.reward_points,
        "reward_coupon_id": i.reward_coupon_id,
    }


@router.get("/referrals/invites", response=InvitePage)
def list_referral_invites(request: HttpRequest, params: Query[InviteFilter]) -> dict[str, Any]:
    """The invite tree of the caller's stores, newest first (filter by campaign and status)."""
    qs = review.scoped_invites(current_staff(request))
    if params.campaign_id is not None:
        qs = qs.filter(campaign_id=params.campaign_id)
    if params.status is not None:
        qs = qs.filter(status=params.status)
    count, items = paginate(qs.order_by("-created_at", "-id"), params)
    return {"count": count, "items": [invite_out(i) for i in items]}


@router.get("/referrals/holds", response=InvitePage)
def list_referral_holds(request: HttpRequest, params: Query[PageParams]) -> dict[str, Any]:
    """Invites held by the fraud rules, oldest first, with their evidence (head office)."""
    count, items = paginate(review.held_invites(current_staff(request)), params)
    return {"count": count, "items": [invite_out(i) for i in items]}


@router.post("/referrals/holds/review", response=ReviewOut)
def review_referral_holds(request: HttpRequest, payload: ReviewIn) -> dict[str, Any]:
    """Release (they may count) or reject (never rewarded) up to 200 held invites; safe to retry."""
    result = review.review(current_staff(request), payload.invite_ids, payload.action, payload.reason)
    return {"changed": result.changed, "skipped": result.skipped}


# --- KOLs and seed users -------------------------------------------------------------------------------


class RoleIn(In):
    member_id: Id
    role: Literal["kol", "seed", "member"] = Field(description="member: remove the KOL or seed role.")


class RoleOut(Schema):
    community_id: int
    member_id: int
    role: str


class KolOut(Schema):
    member_id: int
    name: str
    role: str
    community_id: int
    community: str
    store: str
    invites: int
    counted: int
    orders: int
    gmv_fen: int


class KolFilter(Schema):
    store_id: Id | None = None


def role_out(m: CommunityMembership) -> dict[str, Any]:
    return {"community_id": m.community_id, "member_id": m.member_id, "role": m.role}


@router.post("/communities/{int:community_id}/roles", response=RoleOut)
def set_member_role(request: HttpRequest, community_id: Path[Id], payload: RoleIn) -> dict[str, Any]:
    """Appoint a member of the group KOL or seed user, or make them a plain member again (head office and
    the store's managers)."""
    return role_out(roles.set_role(current_staff(request), community_id, payload.member_id, payload.role))


@router.get("/referrals/kols", response=list[KolOut])
def kol_reach_report(request: HttpRequest, params: Query[KolFilter]) -> list[dict[str, Any]]:
    """Per KOL and seed user of the caller's groups: invites (all, counted), invitees' paid orders and GMV
    (fen) since they were invited."""
    rows = reports.kol_reach(current_staff(request), store_id=params.store_id)
    return [row.__dict__ for row in rows]
